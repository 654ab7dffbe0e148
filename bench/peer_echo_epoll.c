/*
 * peer_echo_epoll: a hand-written epoll echo server, the baseline peer
 * for the ping-pong and idle-memory benchmarks. It listens on an
 * ephemeral loopback port, prints "port N", and echoes every byte back
 * on each accepted connection (TCP_NODELAY), using non-blocking sockets
 * on one level-triggered epoll: read, then write back at once. When the
 * kernel takes only part of a write, the rest is kept in a per-connection
 * buffer and the connection waits for EPOLLOUT instead of reading more,
 * which bounds that buffer to one read. An idle connection costs one
 * small struct. It raises RLIMIT_NOFILE to the hard limit, runs until
 * SIGTERM or SIGINT (taken through a signalfd, so none is lost) and then
 * exits 0.
 *
 * Usage: peer_echo_epoll
 */
#define _GNU_SOURCE
#include "peer_util.h"

#include <sys/epoll.h>
#include <sys/signalfd.h>

#define RBUF (64 * 1024)

struct conn {
    int fd;
    size_t off;   /* first unsent byte of pend */
    size_t len;   /* end of pending data in pend */
    char *pend;   /* bytes read but not yet written back; NULL if none */
};

static struct conn **table;  /* indexed by fd */
static long table_size;
static int epfd;

static void
conn_close(struct conn *c)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    table[c->fd] = NULL;
    free(c->pend);
    free(c);
}

static void
watch(struct conn *c, unsigned events)
{
    struct epoll_event ev;

    ev.events = events;
    ev.data.fd = c->fd;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        peer_die("epoll_ctl");
}

/*
 * Write DATA[0..LEN) to C; keep the unwritten tail. Returns -1 if the
 * connection failed (and was closed), 0 otherwise.
 */
static int
conn_send(struct conn *c, const char *data, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = write(c->fd, data + off, len - off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(c);
            return -1;
        }
        off += (size_t)n;
    }
    if (off == len)
        return 0;
    /* Keep the rest and stop reading until it is written. */
    c->pend = malloc(len - off);
    if (c->pend == NULL)
        peer_die("malloc");
    memcpy(c->pend, data + off, len - off);
    c->off = 0;
    c->len = len - off;
    watch(c, EPOLLOUT);
    return 0;
}

static void
on_writable(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = write(c->fd, c->pend + c->off, c->len - c->off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            conn_close(c);
            return;
        }
        c->off += (size_t)n;
    }
    free(c->pend);
    c->pend = NULL;
    c->off = c->len = 0;
    watch(c, EPOLLIN);
}

static void
on_readable(struct conn *c)
{
    static char buf[RBUF];
    ssize_t n;

    n = read(c->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    conn_send(c, buf, (size_t)n);
}

static void
on_accept(int lfd)
{
    for (;;) {
        struct epoll_event ev;
        struct conn *c;
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE) {
                fprintf(stderr, "peer_echo_epoll: out of fds\n");
                return;
            }
            peer_die("accept");
        }
        if (fd >= table_size) {
            close(fd);
            continue;
        }
        peer_nodelay(fd);
        c = calloc(1, sizeof(*c));
        if (c == NULL)
            peer_die("calloc");
        c->fd = fd;
        table[fd] = c;
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            peer_die("epoll_ctl");
    }
}

int
main(void)
{
    struct epoll_event evs[256];
    struct epoll_event ev;
    sigset_t mask;
    int lfd, sfd, running = 1;

    peer_set_deadline(120);
    signal(SIGPIPE, SIG_IGN);
    table_size = peer_raise_nofile(20000);
    table = calloc((size_t)table_size, sizeof(*table));
    if (table == NULL)
        peer_die("calloc");

    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        peer_die("signalfd");

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        peer_die("epoll_create1");
    lfd = peer_listen(SOCK_NONBLOCK);
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.fd = sfd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);

    while (running) {
        int n = epoll_wait(epfd, evs, 256, -1);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            peer_die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            struct conn *c;

            if (fd == sfd) {
                running = 0;
                continue;
            }
            if (fd == lfd) {
                on_accept(lfd);
                continue;
            }
            /* An earlier event in this batch may have closed it. */
            c = table[fd];
            if (c == NULL)
                continue;
            /* With data pending we only wait to write (or to fail). */
            if (c->pend != NULL)
                on_writable(c);
            else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c);
        }
    }

    for (long fd = 0; fd < table_size; fd++)
        if (table[fd] != NULL)
            conn_close(table[fd]);
    free(table);
    close(lfd);
    close(sfd);
    close(epfd);
    return 0;
}
