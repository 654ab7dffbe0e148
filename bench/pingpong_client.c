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
 * With THREADS > 1 the connections are split over that many threads, each
 * with its own epoll, started together; the time runs from the first
 * send to the last thread's last reply. The line then also says
 * threads=T, and cpu=S is the client's own CPU time (user + system, all
 * threads), so a run can tell the load generator's cost from the
 * server's.
 *
 * Usage: pingpong_client PORT CONNS ROUNDTRIPS_PER_CONN [THREADS]
 */
#define _GNU_SOURCE
#include "peer_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>

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

/* One thread's share of the connections, on its own epoll. */
struct slice {
    pthread_t thread;
    int epfd;
    struct conn *conns;
    long n;
    unsigned long per_conn;
    int failed;
};

static pthread_barrier_t go;

static void
set_events(struct conn *c, int epfd, int out)
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
flush_msg(struct conn *c, int epfd)
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
    set_events(c, epfd, c->sent < MSG);
}

/* Each message is distinct, so a server that mixes up streams is caught. */
static void
start_msg(struct conn *c, int epfd)
{
    for (size_t i = 0; i < MSG; i++)
        c->msg[i] = (unsigned char)(c->idx * 131u + c->round * 7u + i);
    c->sent = 0;
    c->got = 0;
    flush_msg(c, epfd);
}

/* Run one slice to the end: 0, or 1 after printing why it failed. */
static int
run_slice(struct slice *sl)
{
    struct epoll_event evs[256];
    int epfd = sl->epfd;
    long done = 0;

    for (long i = 0; i < sl->n; i++)
        start_msg(&sl->conns[i], epfd);

    while (done < sl->n) {
        int n = epoll_wait(epfd, evs, 256, -1);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            peer_die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;

            if (evs[i].events & EPOLLOUT)
                flush_msg(c, epfd);
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
                if (c->round == sl->per_conn) {
                    done++;
                    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
                } else {
                    start_msg(c, epfd);
                }
                /* At most one message is outstanding, so stop here. */
                break;
            }
        }
    }
    return 0;
}

static void *
slice_main(void *arg)
{
    struct slice *sl = arg;

    pthread_barrier_wait(&go);
    sl->failed = run_slice(sl);
    return NULL;
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sin;
    struct slice *slices;
    struct rusage ru;
    unsigned long per_conn;
    long nconns, nthreads = 1;
    int failed = 0;
    double start, secs, cpu;

    if (argc != 4 && argc != 5) {
        fprintf(stderr,
                "usage: pingpong_client PORT CONNS ROUNDTRIPS_PER_CONN "
                "[THREADS]\n");
        return 2;
    }
    peer_set_deadline(120);
    signal(SIGPIPE, SIG_IGN);
    peer_loopback_addr(&sin, argv[1]);
    nconns = strtol(argv[2], NULL, 10);
    per_conn = strtoul(argv[3], NULL, 10);
    if (argc == 5)
        nthreads = strtol(argv[4], NULL, 10);
    if (nconns <= 0 || per_conn == 0) {
        fprintf(stderr, "pingpong_client: CONNS and ROUNDTRIPS must be > 0\n");
        return 2;
    }
    if (nthreads <= 0 || nthreads > nconns) {
        fprintf(stderr, "pingpong_client: THREADS must be 1 to CONNS\n");
        return 2;
    }
    if (peer_raise_nofile(nconns + 16) < nconns + 16) {
        fprintf(stderr, "pingpong_client: too many connections\n");
        return 2;
    }
    slices = calloc((size_t)nthreads, sizeof(*slices));
    if (slices == NULL)
        peer_die("calloc");

    /* Connection i goes to slice i % THREADS, at index i / THREADS. */
    for (long t = 0; t < nthreads; t++) {
        struct slice *sl = &slices[t];

        sl->n = nconns / nthreads + (t < nconns % nthreads);
        sl->conns = calloc((size_t)sl->n, sizeof(*sl->conns));
        sl->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (sl->conns == NULL || sl->epfd < 0)
            peer_die("slice");
        sl->per_conn = per_conn;
    }
    for (long i = 0; i < nconns; i++) {
        struct slice *sl = &slices[i % nthreads];
        struct conn *c = &sl->conns[i / nthreads];
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
        if (epoll_ctl(sl->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            peer_die("epoll_ctl");
    }

    if (pthread_barrier_init(&go, NULL, (unsigned)nthreads) != 0)
        peer_die("pthread_barrier_init");
    start = peer_now();
    for (long t = 1; t < nthreads; t++)
        if (pthread_create(&slices[t].thread, NULL, slice_main, &slices[t]) != 0)
            peer_die("pthread_create");
    slice_main(&slices[0]);
    failed |= slices[0].failed;
    for (long t = 1; t < nthreads; t++) {
        pthread_join(slices[t].thread, NULL);
        failed |= slices[t].failed;
    }
    secs = peer_now() - start;
    if (failed)
        return 1;

    for (long t = 0; t < nthreads; t++) {
        for (long i = 0; i < slices[t].n; i++)
            close(slices[t].conns[i].fd);
        close(slices[t].epfd);
        free(slices[t].conns);
    }
    pthread_barrier_destroy(&go);
    free(slices);
    getrusage(RUSAGE_SELF, &ru);
    cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
          (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("conns=%ld roundtrips=%lu seconds=%.6f rt/s=%.0f", nconns,
           (unsigned long)nconns * per_conn, secs,
           (double)nconns * (double)per_conn / secs);
    if (nthreads > 1)
        printf(" threads=%ld", nthreads);
    printf(" cpu=%.3f\n", cpu);
    return 0;
}
