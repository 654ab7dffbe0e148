/*
 * The socket stream transport, shared by tcp and unix: one libevent event
 * per connection (read and write interest on the same event, so an idle
 * connection costs one struct event), reads into the loop's shared buffer
 * or the protocol's own (get_buffer), gathered writes with sendmsg and
 * MSG_NOSIGNAL (no SIGPIPE, ever), shutdown(SHUT_WR) for write_eof and
 * SO_LINGER 0 for abort, so the peer sees a reset.
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
#include <sys/un.h>
#include <unistd.h>

/* How many reads one readiness event may do before yielding to others:
 * 16 x 64 KiB, like libuv's 32 x 64 KiB, keeps epoll_wait off the bulk
 * path while bounding what one busy connection takes from the rest. */
#define WIRE_READS_PER_EVENT 16

struct sock_transport {
    struct wire_transport base;
    struct event ev;
    int fd;
    short interest; /* EV_READ | EV_WRITE currently registered */
    uint8_t kind;
};

static void sock_event(evutil_socket_t fd, short what, void *arg);

static struct sock_transport *
sock_of(struct wire_transport *t)
{
    return (struct sock_transport *)t;
}

static void
set_interest(struct sock_transport *s, short want)
{
    if (want == s->interest || s->fd < 0)
        return;
    /* One event carries both directions: changing the interest is a
     * del/assign/add, which libevent turns into one epoll_ctl. */
    if (s->interest != 0)
        event_del(&s->ev);
    s->interest = want;
    if (want != 0) {
        event_assign(&s->ev, event_get_base(&s->ev), s->fd, want | EV_PERSIST,
                     sock_event, s);
        event_add(&s->ev, NULL);
    }
}

static void
sock_read_start(struct wire_transport *t)
{
    struct sock_transport *s = sock_of(t);
    set_interest(s, (short)(s->interest | EV_READ));
}

static void
sock_read_stop(struct wire_transport *t)
{
    struct sock_transport *s = sock_of(t);
    set_interest(s, (short)(s->interest & ~EV_READ));
}

static void
sock_want_write(struct wire_transport *t, bool on)
{
    struct sock_transport *s = sock_of(t);
    set_interest(s, on ? (short)(s->interest | EV_WRITE)
                       : (short)(s->interest & ~EV_WRITE));
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
    if (s->interest != 0)
        event_del(&s->ev);
    s->interest = 0;
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
        if (s->interest != 0)
            event_del(&s->ev);
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

static void
sock_event(evutil_socket_t fd, short what, void *arg)
{
    struct sock_transport *s = arg;
    struct wire_transport *t = &s->base;
    WIRE_UNUSED(fd);
    wire_transport_ref(t);
    if ((what & EV_WRITE) && s->fd >= 0)
        wire_impl_writable(t);
    if ((what & EV_READ) && s->fd >= 0 && (s->interest & EV_READ))
        sock_readable(s);
    wire_transport_unref(t);
}

struct wire_transport *
wire__sock_transport_new(struct wire_loop *loop, int fd,
                         enum wire__sock_kind kind)
{
    struct sock_transport *s = malloc(sizeof(*s));
    if (s == NULL)
        return NULL;
    wire_impl_init(&s->base, kind == WIRE__SOCK_TCP ? &tcp_ops : &unix_ops, loop);
    s->fd = fd;
    s->interest = 0;
    s->kind = (uint8_t)kind;
    event_assign(&s->ev, wire_loop_event_base(loop), fd, EV_PERSIST, sock_event, s);
    return &s->base;
}
