/*
 * idle_client: the client half of the memory-per-idle-connection
 * benchmark. It raises RLIMIT_NOFILE to the hard limit, opens N TCP
 * connections to 127.0.0.1:PORT with non-blocking connect() on one
 * epoll (at most 256 handshakes in flight, so the server's accept queue
 * never overflows), sends nothing, and once all N are established prints
 *     connected N
 * on stdout (flushed). It then waits for a line or EOF on stdin, so the
 * driver can measure the server's memory, and closes every connection
 * with SO_LINGER 0 (a reset, which leaves no TIME_WAIT sockets behind
 * to disturb the next run) before exiting 0.
 *
 * Usage: idle_client PORT N
 */
#define _GNU_SOURCE
#include "peer_util.h"

#include <sys/epoll.h>

#define IN_FLIGHT 256

int
main(int argc, char **argv)
{
    struct epoll_event evs[IN_FLIGHT];
    struct sockaddr_in sin;
    struct linger lg = { 1, 0 };
    long n, started = 0, connected = 0, inflight = 0;
    int *fds;
    int epfd;
    char line[64];

    if (argc != 3) {
        fprintf(stderr, "usage: idle_client PORT N\n");
        return 2;
    }
    peer_set_deadline(120);
    signal(SIGPIPE, SIG_IGN);
    peer_loopback_addr(&sin, argv[1]);
    n = strtol(argv[2], NULL, 10);
    if (n <= 0) {
        fprintf(stderr, "idle_client: N must be > 0\n");
        return 2;
    }
    if (peer_raise_nofile(n + 16) < n + 16) {
        fprintf(stderr, "idle_client: RLIMIT_NOFILE too low for %ld\n", n);
        return 2;
    }
    fds = calloc((size_t)n, sizeof(*fds));
    if (fds == NULL)
        peer_die("calloc");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        peer_die("epoll_create1");

    while (connected < n) {
        int k;

        /* Keep up to IN_FLIGHT handshakes going. */
        while (started < n && inflight < IN_FLIGHT) {
            struct epoll_event ev;
            int fd = socket(AF_INET,
                            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

            if (fd < 0)
                peer_die("socket");
            fds[started] = fd;
            if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
                started++;
                connected++;
                continue;
            }
            if (errno != EINPROGRESS)
                peer_die("connect");
            ev.events = EPOLLOUT;
            ev.data.fd = fd;
            if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                peer_die("epoll_ctl");
            started++;
            inflight++;
        }
        if (inflight == 0)
            continue;
        k = epoll_wait(epfd, evs, IN_FLIGHT, -1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            peer_die("epoll_wait");
        }
        for (int i = 0; i < k; i++) {
            int fd = evs[i].data.fd;
            int err = 0;
            socklen_t len = sizeof(err);

            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                errno = err;
                peer_die("connect");
            }
            epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
            inflight--;
            connected++;
        }
    }

    printf("connected %ld\n", connected);
    fflush(stdout);

    /* Hold the connections until the driver has measured. */
    if (fgets(line, sizeof(line), stdin) == NULL && ferror(stdin))
        peer_die("stdin");

    for (long i = 0; i < n; i++) {
        setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fds[i]);
    }
    close(epfd);
    free(fds);
    return 0;
}
