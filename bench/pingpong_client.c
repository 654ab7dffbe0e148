/*
 * pingpong_client: the client half of the ping-pong latency benchmark.
 * It opens CONNS TCP connections (TCP_NODELAY) to 127.0.0.1:PORT and,
 * with non-blocking sockets on one level-triggered epoll, keeps exactly
 * one 64-byte message outstanding per connection: send 64 bytes, wait
 * until all 64 have been echoed back, check their content, send the
 * next. After ROUNDTRIPS_PER_CONN round trips on every connection it
 * prints, timed from the first send to the last reply,
 *     conns=N roundtrips=M seconds=S rt/s=X
 * where M is the total over all connections. Any echo server will do
 * (peer_echo_epoll, peer_echo_bev, peer_echo_uv, or libwire's).
 *
 * Usage: pingpong_client PORT CONNS ROUNDTRIPS_PER_CONN
 */
#define _GNU_SOURCE
#include "peer_util.h"

#include <fcntl.h>
#include <sys/epoll.h>

#define MSG 64

struct conn {
    int fd;
    unsigned idx;
    unsigned long round;  /* round trips completed */
    size_t sent;          /* bytes of the current message written */
    size_t got;           /* bytes of the current message echoed back */
    int want_out;         /* EPOLLOUT currently requested */
    unsigned char msg[MSG];
    unsigned char rbuf[MSG];
};

static int epfd;

static void
set_events(struct conn *c, int out)
{
    struct epoll_event ev;

    if (c->want_out == out)
        return;
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        peer_die("epoll_ctl");
    c->want_out = out;
}

/* Write what is left of the current message; ask for EPOLLOUT if stuck. */
static void
flush_msg(struct conn *c)
{
    while (c->sent < MSG) {
        ssize_t n = write(c->fd, c->msg + c->sent, MSG - c->sent);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            peer_die("write");
        }
        c->sent += (size_t)n;
    }
    set_events(c, c->sent < MSG);
}

/* Each message is distinct, so a server that mixes up streams is caught. */
static void
start_msg(struct conn *c)
{
    for (size_t i = 0; i < MSG; i++)
        c->msg[i] = (unsigned char)(c->idx * 131u + c->round * 7u + i);
    c->sent = 0;
    c->got = 0;
    flush_msg(c);
}

int
main(int argc, char **argv)
{
    struct epoll_event evs[256];
    struct sockaddr_in sin;
    struct conn *conns;
    unsigned long per_conn;
    long nconns;
    long done = 0;
    double start, secs;

    if (argc != 4) {
        fprintf(stderr,
                "usage: pingpong_client PORT CONNS ROUNDTRIPS_PER_CONN\n");
        return 2;
    }
    peer_set_deadline(120);
    signal(SIGPIPE, SIG_IGN);
    peer_loopback_addr(&sin, argv[1]);
    nconns = strtol(argv[2], NULL, 10);
    per_conn = strtoul(argv[3], NULL, 10);
    if (nconns <= 0 || per_conn == 0) {
        fprintf(stderr, "pingpong_client: CONNS and ROUNDTRIPS must be > 0\n");
        return 2;
    }
    if (peer_raise_nofile(nconns + 16) < nconns + 16) {
        fprintf(stderr, "pingpong_client: too many connections\n");
        return 2;
    }
    conns = calloc((size_t)nconns, sizeof(*conns));
    if (conns == NULL)
        peer_die("calloc");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        peer_die("epoll_create1");

    for (long i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        struct epoll_event ev;

        c->idx = (unsigned)i;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            peer_die("socket");
        if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
            peer_die("connect");
        peer_nodelay(c->fd);
        if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0)
            peer_die("fcntl");
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            peer_die("epoll_ctl");
    }

    start = peer_now();
    for (long i = 0; i < nconns; i++)
        start_msg(&conns[i]);

    while (done < nconns) {
        int n = epoll_wait(epfd, evs, 256, -1);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            peer_die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;

            if (evs[i].events & EPOLLOUT)
                flush_msg(c);
            if (!(evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                continue;
            for (;;) {
                ssize_t r = read(c->fd, c->rbuf + c->got, MSG - c->got);

                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                    break;
                if (r < 0)
                    peer_die("read");
                if (r == 0) {
                    fprintf(stderr, "pingpong_client: server closed "
                            "connection %u\n", c->idx);
                    return 1;
                }
                c->got += (size_t)r;
                if (c->got < MSG)
                    continue;
                if (memcmp(c->rbuf, c->msg, MSG) != 0) {
                    fprintf(stderr, "pingpong_client: bad echo on "
                            "connection %u round %lu\n", c->idx, c->round);
                    return 1;
                }
                c->round++;
                if (c->round == per_conn) {
                    done++;
                    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
                } else {
                    start_msg(c);
                }
                /* At most one message is outstanding, so stop here. */
                break;
            }
        }
    }
    secs = peer_now() - start;

    for (long i = 0; i < nconns; i++)
        close(conns[i].fd);
    close(epfd);
    free(conns);
    printf("conns=%ld roundtrips=%lu seconds=%.6f rt/s=%.0f\n", nconns,
           (unsigned long)nconns * per_conn, secs,
           (double)nconns * (double)per_conn / secs);
    return 0;
}
