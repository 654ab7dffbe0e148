/*
 * The socket stream transport, shared by tcp and unix: reads into the
 * loop's shared buffer or the protocol's own (get_buffer), gathered writes
 * with sendmsg and MSG_NOSIGNAL (no SIGPIPE, ever), shutdown(SHUT_WR) for
 * write_eof and SO_LINGER 0 for abort, so the peer sees a reset.
 *
 * Readiness comes from the loop's socket poller: one epoll set per loop
 * holds every socket's interest, and libevent watches that set with one
 * event.  A socket then costs libevent nothing: no struct event (128 B),
 * no evmap entry (32 B with malloc's overhead), no slot in its fd table
 * (8 B), which together were most of an idle connection (issue 10); and
 * an interest change is one epoll_ctl (a libevent del and add were two).
 */
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <unistd.h>

/* How many reads one readiness event may do before yielding to others:
 * 16 x 64 KiB, like libuv's 32 x 64 KiB, keeps epoll_wait off the bulk
 * path while bounding what one busy connection takes from the rest. */
#define WIRE_READS_PER_EVENT 16

/* Most readiness reports one poller event takes from the epoll set; the
 * rest stay ready there (level-triggered) for the next loop iteration. */
#define WIRE_POLLER_BATCH 64

/* A socket the poller reported alone this many wakeups in a row is
 * handed to libevent's own event (see poller_event). */
#define WIRE_HOT_STREAK 16

struct sock_transport {
    struct wire_transport base;
    int fd;
    uint8_t interest; /* EV_READ | EV_WRITE registered in the poller */
    uint8_t kind;
    bool hot;         /* watched by the poller's hot_ev, not its epoll set */
};

/* The loop's socket poller (in its WIRE__SLOT_SOCK slot, made by the
 * first listen or connect on the loop, freed with the loop).  Its event
 * is added only while some socket has interest, so a loop with nothing
 * to wait for still ends. */
struct sock_poller {
    struct event ev; /* EV_READ on epfd */
    int epfd;
    size_t nwatch;   /* sockets registered in epfd */
    /* The lone busy socket: one connection that every wakeup reports by
     * itself (a request-response client, a single ping-pong) pays two
     * epoll_waits per wakeup through the set, libevent's and ours.  After
     * WIRE_HOT_STREAK such wakeups it moves to libevent's own event, one
     * epoll_wait, until its interest changes or it closes; then it goes
     * back to the set.  One per loop, so idle sockets still cost nothing
     * but their place in the set. */
    struct event hot_ev;
    struct sock_transport *hot; /* in hot_ev, or NULL */
    uintptr_t last;             /* the socket of the last lone report */
    unsigned streak;            /* lone reports of `last` in a row */
};

static void sock_dispatch(struct sock_transport *s, uint8_t ready);
static void hot_promote(struct sock_poller *p, struct sock_transport *s);

static struct sock_transport *
sock_of(struct wire_transport *t)
{
    return (struct sock_transport *)t;
}

static uint8_t
ready_of(uint32_t events)
{
    /* As libevent's epoll backend: an error or hangup wakes both
     * directions, and the read or write that follows reports it. */
    if (events & (EPOLLERR | EPOLLHUP))
        return EV_READ | EV_WRITE;
    return (uint8_t)(((events & EPOLLIN) ? EV_READ : 0) |
                     ((events & EPOLLOUT) ? EV_WRITE : 0));
}

static void
poller_event(evutil_socket_t fd, short what, void *arg)
{
    struct sock_poller *p = arg;
    struct epoll_event evs[WIRE_POLLER_BATCH];
    WIRE_UNUSED(what);
    int n;
    do {
        n = epoll_wait(fd, evs, WIRE_POLLER_BATCH, 0);
    } while (n < 0 && errno == EINTR);
    /* Hold every transport of the batch first: a callback may close or
     * release another one of it, whose entry is read after. */
    for (int i = 0; i < n; i++)
        wire_transport_ref(&((struct sock_transport *)evs[i].data.ptr)->base);
    struct event_base *base = event_get_base(&p->ev);
    for (int i = 0; i < n; i++) {
        /* wire_loop_stop: leave the rest ready in the set, as libevent
         * leaves the rest of its active queue. */
        if (!event_base_got_break(base))
            sock_dispatch(evs[i].data.ptr, ready_of(evs[i].events));
    }
    if (n == 1 && (uintptr_t)evs[0].data.ptr == p->last) {
        p->streak++;
    } else {
        p->last = n == 1 ? (uintptr_t)evs[0].data.ptr : 0;
        p->streak = n == 1 ? 1 : 0;
    }
    if (p->streak >= WIRE_HOT_STREAK && p->hot == NULL)
        hot_promote(p, evs[0].data.ptr);
    for (int i = 0; i < n; i++)
        wire_transport_unref(&((struct sock_transport *)evs[i].data.ptr)->base);
}

/* libevent found the hot socket ready. */
static void
hot_event(evutil_socket_t fd, short what, void *arg)
{
    struct sock_transport *s = arg;
    WIRE_UNUSED(fd);
    wire_transport_ref(&s->base);
    sock_dispatch(s, (uint8_t)(what & (EV_READ | EV_WRITE)));
    wire_transport_unref(&s->base);
}

/* Move `s` (still open, reported alone WIRE_HOT_STREAK times) from the
 * set to hot_ev.  On any failure it simply stays in the set. */
static void
hot_promote(struct sock_poller *p, struct sock_transport *s)
{
    p->streak = 0;
    if (s->fd < 0 || s->interest == 0)
        return;
    event_assign(&p->hot_ev, event_get_base(&p->ev), s->fd,
                 (short)(s->interest | EV_PERSIST), hot_event, s);
    if (event_add(&p->hot_ev, NULL) < 0)
        return;
    /* libevent's epoll set and ours both hold the fd for this moment;
     * once ours lets go, only libevent reports it. */
    if (epoll_ctl(p->epfd, EPOLL_CTL_DEL, s->fd, NULL) < 0) {
        event_del(&p->hot_ev);
        return;
    }
    if (--p->nwatch == 0)
        event_del(&p->ev);
    p->hot = s;
    s->hot = true;
}

/* Back from hot_ev to the set, with no interest registered there yet. */
static void
hot_demote(struct sock_poller *p, struct sock_transport *s)
{
    event_del(&p->hot_ev);
    p->hot = NULL;
    s->hot = false;
    s->interest = 0;
}

static void
poller_free(void *arg)
{
    struct sock_poller *p = arg;
    if (p->hot != NULL)
        hot_demote(p, p->hot);
    event_del(&p->ev);
    close(p->epfd);
    free(p);
}

/* The loop's poller, made unless it exists; NULL with errno set. */
static struct sock_poller *
poller_get(struct wire_loop *loop)
{
    void **slot = wire__loop_slot(loop, WIRE__SLOT_SOCK, NULL);
    if (*slot != NULL)
        return *slot;
    struct sock_poller *p = malloc(sizeof(*p));
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int e = errno;
        free(p);
        errno = e;
        return NULL;
    }
    p->nwatch = 0;
    p->hot = NULL;
    p->last = 0;
    p->streak = 0;
    event_assign(&p->ev, wire_loop_event_base(loop), p->epfd,
                 EV_READ | EV_PERSIST, poller_event, p);
    *wire__loop_slot(loop, WIRE__SLOT_SOCK, poller_free) = p;
    return p;
}

int
wire__sock_poller_ready(struct wire_loop *loop)
{
    if (poller_get(loop) != NULL)
        return 0;
    return errno == ENOMEM ? WIRE_ENOMEM : -errno;
}

static void
set_interest(struct sock_transport *s, uint8_t want)
{
    if (want == s->interest || s->fd < 0)
        return;
    /* The poller was made with the transport (or before), so this only
     * looks it up. */
    struct sock_poller *p = poller_get(s->base.loop);
    if (p == NULL) {
        int e = errno;
        wire_impl_fail(&s->base, -e, "socket poller: %s", strerror(e));
        return;
    }
    if (s->hot) {
        /* Any change (a write backing up, a pause, the close) sends the
         * hot socket back to the set; it can earn hot_ev again. */
        hot_demote(p, s);
        if (want == 0)
            return;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = ((want & EV_READ) ? EPOLLIN : 0u) |
                ((want & EV_WRITE) ? EPOLLOUT : 0u);
    ev.data.ptr = s;
    /* Level-triggered, as libevent's events were.  No interest is a
     * delete: epoll reports errors and hangups even for an empty mask. */
    int op = s->interest == 0 ? EPOLL_CTL_ADD
             : want == 0      ? EPOLL_CTL_DEL
                              : EPOLL_CTL_MOD;
    if (epoll_ctl(p->epfd, op, s->fd, &ev) < 0 && op != EPOLL_CTL_DEL) {
        /* The registration is as it was; the failure ends the
         * connection (which sets the interest to none on its way). */
        int e = errno;
        wire_impl_fail(&s->base, -e, "watching the socket: %s", strerror(e));
        return;
    }
    if (op == EPOLL_CTL_ADD && p->nwatch++ == 0)
        event_add(&p->ev, NULL);
    else if (op == EPOLL_CTL_DEL && --p->nwatch == 0)
        event_del(&p->ev);
    s->interest = want;
}

static void
sock_read_start(struct wire_transport *t)
{
    struct sock_transport *s = sock_of(t);
    set_interest(s, (uint8_t)(s->interest | EV_READ));
}

static void
sock_read_stop(struct wire_transport *t)
{
    struct sock_transport *s = sock_of(t);
    set_interest(s, (uint8_t)(s->interest & ~EV_READ));
}

static void
sock_want_write(struct wire_transport *t, bool on)
{
    struct sock_transport *s = sock_of(t);
    set_interest(s, on ? (uint8_t)(s->interest | EV_WRITE)
                       : (uint8_t)(s->interest & ~EV_WRITE));
}

static ssize_t
sock_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    struct sock_transport *s = sock_of(t);
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = (struct iovec *)(uintptr_t)iov;
    /* sendmsg refuses more than IOV_MAX pieces (EMSGSIZE); a gathered
     * write of more goes out in parts like any short write. */
    msg.msg_iovlen = (size_t)(iovcnt < IOV_MAX ? iovcnt : IOV_MAX);
    for (;;) {
        /* send() for one buffer skips sendmsg's msghdr/iovec import. */
        ssize_t n = iovcnt == 1
                        ? send(s->fd, iov[0].iov_base, iov[0].iov_len,
                               MSG_NOSIGNAL | MSG_DONTWAIT)
                        : sendmsg(s->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
            return 0;
        return -errno;
    }
}

static ssize_t
sock_sendfile(struct wire_transport *t, const struct iovec *head, int headcnt,
              int fd, off_t offset, size_t len)
{
    return wire__sendfile(sock_of(t)->fd, head, headcnt, fd, offset, len);
}

static int
sock_shutdown_write(struct wire_transport *t)
{
    struct sock_transport *s = sock_of(t);
    if (shutdown(s->fd, SHUT_WR) < 0 && errno != ENOTCONN)
        return -errno;
    return 0;
}

static void
sock_close(struct wire_transport *t, bool abort)
{
    struct sock_transport *s = sock_of(t);
    if (s->fd < 0)
        return;
    set_interest(s, 0); /* out of the epoll set before the fd closes */
    if (abort && s->kind == WIRE__SOCK_TCP) {
        /* Linger 0: close sends RST instead of FIN, and drops what the
         * kernel still holds, so the peer sees the abort as a reset. */
        struct linger lg = {1, 0};
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(s->fd);
    s->fd = -1;
}

void
wire__sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf,
                      size_t buflen)
{
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(buf, buflen, "tcp://%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 =
            (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(buf, buflen, "tcp://[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)sa;
        size_t plen = len > offsetof(struct sockaddr_un, sun_path)
                          ? (size_t)len - offsetof(struct sockaddr_un, sun_path)
                          : 0;
        if (plen == 0)
            snprintf(buf, buflen, "unix:");
        else if (un->sun_path[0] == '\0')
            snprintf(buf, buflen, "unix:@%.*s", (int)(plen - 1), un->sun_path + 1);
        else
            snprintf(buf, buflen, "unix:%.*s", (int)strnlen(un->sun_path, plen),
                     un->sun_path);
    } else {
        snprintf(buf, buflen, "unknown:");
    }
}

static int
sock_get_info(struct wire_transport *t, int key, void *out, size_t len)
{
    struct sock_transport *s = sock_of(t);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char buf[256];
    switch (key) {
    case WIRE_INFO_FD:
        if (out == NULL || len < sizeof(int))
            return WIRE_EINVAL;
        if (s->fd < 0)
            return WIRE_ECLOSED;
        *(int *)out = s->fd;
        return (int)sizeof(int);
    case WIRE_INFO_PEER:
    case WIRE_INFO_PEER_SOCKADDR:
    case WIRE_INFO_LOCAL:
    case WIRE_INFO_LOCAL_SOCKADDR: {
        if (s->fd < 0)
            return WIRE_ECLOSED;
        bool peer = key == WIRE_INFO_PEER || key == WIRE_INFO_PEER_SOCKADDR;
        memset(&ss, 0, sizeof(ss));
        int rc = peer ? getpeername(s->fd, (struct sockaddr *)&ss, &sl)
                      : getsockname(s->fd, (struct sockaddr *)&ss, &sl);
        if (rc < 0)
            return -errno;
        if (key == WIRE_INFO_PEER_SOCKADDR || key == WIRE_INFO_LOCAL_SOCKADDR) {
            if (out == NULL || len < sizeof(ss))
                return WIRE_EINVAL;
            memcpy(out, &ss, sizeof(ss));
            return (int)sl;
        }
        wire__sockaddr_format((struct sockaddr *)&ss, sl, buf, sizeof(buf));
        return wire_impl_info_string(out, len, buf);
    }
    default:
        return WIRE_ENOTSUP;
    }
}

static void
sock_free(struct wire_transport *t)
{
    struct sock_transport *s = sock_of(t);
    if (s->fd >= 0) {
        set_interest(s, 0);
        close(s->fd);
    }
    free(s);
}

static const struct wire_transport_ops tcp_ops = {
    .name = "tcp",
    .caps = WIRE_CAP_HALF_CLOSE | WIRE_CAP_RESET | WIRE_CAP_EOF,
    .read_start = sock_read_start,
    .read_stop = sock_read_stop,
    .write = sock_write,
    .want_write = sock_want_write,
    .shutdown_write = sock_shutdown_write,
    .close = sock_close,
    .get_info = sock_get_info,
    .free = sock_free,
    .sendfile = sock_sendfile,
};

/* A Unix stream socket cannot be reset: abort closes it like close. */
static const struct wire_transport_ops unix_ops = {
    .name = "unix",
    .caps = WIRE_CAP_HALF_CLOSE | WIRE_CAP_EOF,
    .read_start = sock_read_start,
    .read_stop = sock_read_stop,
    .write = sock_write,
    .want_write = sock_want_write,
    .shutdown_write = sock_shutdown_write,
    .close = sock_close,
    .get_info = sock_get_info,
    .free = sock_free,
    .sendfile = sock_sendfile,
};

static void
sock_readable(struct sock_transport *s)
{
    struct wire_transport *t = &s->base;
    for (int i = 0; i < WIRE_READS_PER_EVENT; i++) {
        size_t len = 0;
        void *buf = wire_impl_read_buffer(t, &len);
        if (buf == NULL || len == 0) {
            wire_impl_fail(t, WIRE_ENOMEM, "read: no buffer");
            return;
        }
        ssize_t n = recv(s->fd, buf, len, MSG_DONTWAIT);
        if (n > 0) {
            if (!wire_impl_read_done(t, buf, (size_t)n))
                return;
            if ((size_t)n < len)
                return; /* drained the socket */
            continue;
        }
        if (n == 0) {
            wire_impl_eof(t);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        int e = errno;
        wire_impl_fail(t, -e, "read: %s", strerror(e));
        return;
    }
}

/* The poller found `s` ready for `ready` (EV_READ | EV_WRITE); the
 * caller holds a reference.  The interest is checked again at each step:
 * an earlier callback may have paused or closed `s` since the poll. */
static void
sock_dispatch(struct sock_transport *s, uint8_t ready)
{
    if ((ready & EV_WRITE) && s->fd >= 0 && (s->interest & EV_WRITE))
        wire_impl_writable(&s->base);
    if ((ready & EV_READ) && s->fd >= 0 && (s->interest & EV_READ))
        sock_readable(s);
}

struct wire_transport *
wire__sock_transport_new(struct wire_loop *loop, int fd,
                         enum wire__sock_kind kind)
{
    /* The poller holds a descriptor: made by now (wire__listen_fd,
     * wire__connect_addrs), so a full descriptor table fails the listen
     * or the connect call, not a connection that already exists. */
    if (wire__sock_poller_ready(loop) < 0)
        return NULL;
    struct sock_transport *s = malloc(sizeof(*s));
    if (s == NULL)
        return NULL;
    wire_impl_init(&s->base, kind == WIRE__SOCK_TCP ? &tcp_ops : &unix_ops, loop);
    s->fd = fd;
    s->interest = 0;
    s->kind = (uint8_t)kind;
    s->hot = false;
    return &s->base;
}
