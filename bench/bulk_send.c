/*
 * bulk_send: the sending half of the bulk throughput benchmark. It
 * connects to 127.0.0.1:PORT and writes BYTES bytes (default 1 GiB) in
 * 256 KiB blocking write() calls, then closes the connection. The
 * receiver under test (peer_bulk_blocking, peer_bulk_bev, or libwire's
 * receiver) does the timing and prints the result; this program prints
 * nothing on success.
 *
 * Usage: bulk_send PORT [BYTES]
 */
#define _GNU_SOURCE
#include "peer_util.h"

#define BLOCK (256 * 1024)

int
main(int argc, char **argv)
{
    static char buf[BLOCK];
    unsigned long long total = 1ULL << 30;
    struct sockaddr_in sin;
    int fd;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: bulk_send PORT [BYTES]\n");
        return 2;
    }
    if (argc == 3)
        total = strtoull(argv[2], NULL, 10);
    peer_set_deadline(120);
    signal(SIGPIPE, SIG_IGN);
    peer_loopback_addr(&sin, argv[1]);
    memset(buf, 'x', sizeof(buf));

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        peer_die("socket");
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        peer_die("connect");

    while (total > 0) {
        size_t want = total < BLOCK ? (size_t)total : BLOCK;
        ssize_t n = write(fd, buf, want);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            peer_die("write");
        }
        total -= (unsigned long long)n;
    }
    if (close(fd) < 0)
        peer_die("close");
    return 0;
}
