/*
 * The connector: try a list of socket addresses in order (every address a
 * name resolved to, IPv4 and IPv6), each with a non-blocking connect,
 * under one overall timeout.  The outcome reaches the caller's callback
 * exactly once, always from the loop; on failure the protocol is
 * destroyed and nothing leaks (fds, events, timers, the state itself).
 */
#include "sock.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct wire__connector {
    struct wire_loop *loop;
    char *what;
    enum wire__sock_kind kind;
    struct wire__addr *addrs;
    size_t naddrs, next;
    bool nodelay;
    int fd;
    struct event *ev;
    struct wire_timer *timer;
    uint64_t timeout_ms;
    struct wire_protocol *p;
    wire_connect_cb cb;
    void *arg;
    struct wire_soon start;
    char tried[512];
    int last_code;
    char last_msg[256];
};

static void try_next(struct wire__connector *c);

static void
conn_free(struct wire__connector *c)
{
    if (c->ev != NULL)
        event_free(c->ev);
    if (c->fd >= 0)
        close(c->fd);
    wire_timer_free(c->timer);
    free(c->addrs);
    free(c->what);
    free(c);
}

void
wire__connect_failedv(struct wire_protocol *p, wire_connect_cb cb, void *arg,
                      int code, const char *fmt, va_list ap)
{
    struct wire_error e = {0};
    wire_error_setv(&e, code, fmt, ap);
    wire_protocol_destroy(p);
    if (cb != NULL)
        cb(arg, NULL, &e);
    wire_error_clear(&e);
}

void
wire__connect_failed(struct wire_protocol *p, wire_connect_cb cb, void *arg,
                     int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wire__connect_failedv(p, cb, arg, code, fmt, ap);
    va_end(ap);
}

static void
conn_fail(struct wire__connector *c, int code, const char *fmt, ...)
{
    /* Format before freeing: the message names c->what. */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    wire_connect_cb cb = c->cb;
    void *arg = c->arg;
    struct wire_protocol *p = c->p;
    conn_free(c);
    wire__connect_failed(p, cb, arg, code, "%s", msg);
}

static void
conn_succeed(struct wire__connector *c)
{
    int fd = c->fd;
    c->fd = -1;
    if (c->kind == WIRE__SOCK_TCP && c->nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    struct wire_transport *t = wire__sock_transport_new(c->loop, fd, c->kind);
    if (t == NULL) {
        close(fd);
        conn_fail(c, WIRE_ENOMEM, "connect to %s: out of memory", c->what);
        return;
    }
    wire_connect_cb cb = c->cb;
    void *arg = c->arg;
    struct wire_protocol *p = c->p;
    conn_free(c);
    wire_transport_ref(t);
    wire_impl_start(t, p);
    if (cb != NULL)
        cb(arg, t, NULL);
    wire_transport_unref(t);
}

static void
note_failure(struct wire__connector *c, int code)
{
    char addr[160];
    const struct wire__addr *a = &c->addrs[c->next - 1];
    wire__sockaddr_format((const struct sockaddr *)&a->ss, a->len, addr,
                          sizeof(addr));
    c->last_code = code;
    size_t used = strlen(c->tried);
    snprintf(c->tried + used, sizeof(c->tried) - used, "%s%s (%s)",
             used ? ", " : "", addr, wire_strerror(code));
}

static void
conn_writable(evutil_socket_t fd, short what, void *arg)
{
    struct wire__connector *c = arg;
    WIRE_UNUSED(what);
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
    event_free(c->ev);
    c->ev = NULL;
    if (soerr == 0) {
        conn_succeed(c);
        return;
    }
    close(c->fd);
    c->fd = -1;
    note_failure(c, -soerr);
    try_next(c);
}

static void
try_next(struct wire__connector *c)
{
    while (c->next < c->naddrs) {
        const struct wire__addr *a = &c->addrs[c->next++];
        int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        0);
        if (fd < 0) {
            note_failure(c, -errno);
            continue;
        }
        if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0) {
            c->fd = fd;
            conn_succeed(c);
            return;
        }
        /* Only EINPROGRESS leaves a connect pending.  EAGAIN (a Unix
         * listener's full backlog, no free local port) means the socket
         * is not connecting at all: it would turn writable with no error
         * and pass for a connection. */
        if (errno == EINPROGRESS) {
            c->fd = fd;
            c->ev = event_new(wire_loop_event_base(c->loop), fd, EV_WRITE,
                              conn_writable, c);
            if (c->ev == NULL || event_add(c->ev, NULL) != 0) {
                conn_fail(c, WIRE_ENOMEM, "connect to %s: out of memory",
                          c->what);
                return;
            }
            return;
        }
        int e = errno;
        close(fd);
        note_failure(c, -e);
    }
    conn_fail(c, c->last_code ? c->last_code : WIRE_EINVAL,
              "connect to %s failed: %s", c->what,
              c->tried[0] ? c->tried : "no address to try");
}

static void
conn_timeout(void *arg)
{
    struct wire__connector *c = arg;
    conn_fail(c, WIRE_ETIMEDOUT, "connect to %s: timed out after %llu ms%s%s",
              c->what, (unsigned long long)c->timeout_ms,
              c->tried[0] ? "; tried " : "", c->tried);
}

static void
conn_start(struct wire_soon *node)
{
    struct wire__connector *c = wire_container_of(node, struct wire__connector,
                                                  start);
    try_next(c);
}

int
wire__connect_addrs(struct wire_loop *loop, const char *what,
                    enum wire__sock_kind kind, struct wire__addr *addrs,
                    size_t naddrs, uint64_t timeout_ms, bool nodelay,
                    struct wire_protocol *p, wire_connect_cb cb, void *arg)
{
    /* The loop's socket poller takes a descriptor: made now, so a full
     * descriptor table fails this call rather than the connection. */
    int rc = wire__sock_poller_ready(loop);
    if (rc < 0) {
        free(addrs);
        return rc;
    }
    struct wire__connector *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        free(addrs);
        return WIRE_ENOMEM;
    }
    c->loop = loop;
    c->what = strdup(what);
    c->kind = kind;
    c->addrs = addrs;
    c->naddrs = naddrs;
    c->nodelay = nodelay;
    c->fd = -1;
    c->p = p;
    c->cb = cb;
    c->arg = arg;
    c->timeout_ms = timeout_ms;
    c->start.fn = conn_start;
    c->timer = wire_timer_new(loop, conn_timeout, c);
    if (c->what == NULL || c->timer == NULL) {
        c->p = NULL;
        conn_free(c);
        return WIRE_ENOMEM;
    }
    wire_timer_start(c->timer, timeout_ms, 0);
    /* Start from the loop: even a connect that fails at once must report
     * through the callback, never inside wire_connect(). */
    wire__loop_soon(loop, &c->start);
    return 0;
}
