/*
 * peer_bulk_blocking: "the limit" for the bulk throughput benchmark. It
 * listens on an ephemeral loopback port, prints "port N", accepts one
 * connection and reads it with blocking read() into a 256 KiB buffer
 * until EOF, counting bytes. It then prints
 *     bytes=N seconds=S MB/s=X
 * (MB = 1e6 bytes), timed on CLOCK_MONOTONIC from accept to EOF. No event
 * loop can beat this, so other receivers are reported relative to it.
 *
 * Usage: peer_bulk_blocking
 */
#define _GNU_SOURCE
#include "peer_util.h"

#define BLOCK (256 * 1024)

int
main(void)
{
    static char buf[BLOCK];
    unsigned long long count = 0;
    double start, secs;
    int lfd, fd;

    peer_set_deadline(120);
    lfd = peer_listen(0);
    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        peer_die("accept");
    start = peer_now();
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            peer_die("read");
        }
        count += (unsigned long long)n;
    }
    secs = peer_now() - start;
    close(fd);
    close(lfd);
    printf("bytes=%llu seconds=%.6f MB/s=%.1f\n", count, secs,
           (double)count / 1e6 / secs);
    return 0;
}
