/*
 * TCP: endpoints tcp://host:port (IPv4, [IPv6], or a name).  Connecting
 * resolves with evdns (asynchronously; numeric addresses skip it) and
 * tries every address in order; listening binds one address with
 * SO_REUSEADDR (and SO_REUSEPORT on request), IPV6_V6ONLY for IPv6 so the
 * two families never steal each other's port.
 *
 * Parameters: timeout=MS (connect), nodelay=yes|no (default yes),
 * backlog=N and reuseport=yes|no (listen).
 */
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct resolve {
    struct wire_loop *loop;
    struct wire_soon start;
    struct evdns_getaddrinfo_request *req;
    struct wire_timer *timer;
    char *host, *port, *what;
    uint64_t timeout_ms, started;
    bool nodelay;
    bool done;
    bool dns_held;      /* counted as a resolver user */
    struct wire_protocol *p;
    wire_connect_cb cb;
    void *arg;
};

static void
resolve_free(struct resolve *r)
{
    if (r->dns_held)
        wire__loop_dns_release(r->loop);
    wire_timer_free(r->timer);
    free(r->host);
    free(r->port);
    free(r->what);
    free(r);
}

static void
resolve_fail(struct resolve *r, int code, const char *fmt, ...)
{
    /* Format before freeing: the message names r->host. */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct wire_protocol *p = r->p;
    wire_connect_cb cb = r->cb;
    void *arg = r->arg;
    resolve_free(r);
    wire__connect_failed(p, cb, arg, code, "%s", msg);
}

static void
resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    struct resolve *r = arg;
    r->req = NULL;
    if (r->done) {
        /* Canceled by the timeout, which already reported. */
        if (res != NULL)
            evutil_freeaddrinfo(res);
        resolve_free(r);
        return;
    }
    r->done = true;
    if (result != 0) {
        resolve_fail(r, WIRE_ERESOLVE, "resolve %s: %s", r->host,
                     evutil_gai_strerror(result));
        return;
    }
    size_t n = 0;
    for (struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next)
        n++;
    struct wire__addr *addrs = calloc(n ? n : 1, sizeof(*addrs));
    if (addrs == NULL) {
        evutil_freeaddrinfo(res);
        resolve_fail(r, WIRE_ENOMEM, "resolve %s: out of memory", r->host);
        return;
    }
    size_t k = 0;
    for (struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(addrs[k].ss))
            continue;
        memcpy(&addrs[k].ss, ai->ai_addr, ai->ai_addrlen);
        addrs[k].len = (socklen_t)ai->ai_addrlen;
        k++;
    }
    evutil_freeaddrinfo(res);
    uint64_t spent = wire_loop_now(r->loop) - r->started;
    uint64_t left = spent < r->timeout_ms ? r->timeout_ms - spent : 1;
    int rc = wire__connect_addrs(r->loop, r->what, WIRE__SOCK_TCP, addrs, k,
                                 left, r->nodelay, r->p, r->cb, r->arg);
    if (rc < 0) {
        resolve_fail(r, rc, "connect to %s: %s", r->what, wire_strerror(rc));
        return;
    }
    resolve_free(r);
}

static void
resolve_timeout(void *arg)
{
    struct resolve *r = arg;
    if (r->done)
        return;
    r->done = true;
    struct evdns_getaddrinfo_request *req = r->req;
    wire_connect_cb cb = r->cb;
    void *cbarg = r->arg;
    struct wire_protocol *p = r->p;
    char msg[1024];
    snprintf(msg, sizeof(msg), "connect to %s: timed out after %llu ms "
             "resolving %s", r->what, (unsigned long long)r->timeout_ms, r->host);
    r->p = NULL;
    wire_timer_stop(r->timer);
    /* Cancel calls `resolved` (done is set, so it only frees r). */
    if (req != NULL)
        evdns_getaddrinfo_cancel(req);
    else
        resolve_free(r);
    wire__connect_failed(p, cb, cbarg, WIRE_ETIMEDOUT, "%s", msg);
}

static void
resolve_start(struct wire_soon *node)
{
    struct resolve *r = wire_container_of(node, struct resolve, start);
    struct evdns_base *dns = wire__loop_dns(r->loop);
    if (dns == NULL) {
        r->done = true;
        resolve_fail(r, WIRE_ERESOLVE, "resolve %s: no resolver available",
                     r->host);
        return;
    }
    r->dns_held = true;
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    /* The callback may run before this returns (names in /etc/hosts); it
     * only touches `r`, which stays valid until it frees it. */
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(dns, r->host, r->port, &hints, resolved, r);
    if (req != NULL && !r->done)
        r->req = req;
}

static bool
numeric(const char *host, const char *port, struct wire__addr *a)
{
    memset(a, 0, sizeof(*a));
    unsigned p = (unsigned)atoi(port);
    struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)p);
        a->len = sizeof(*in);
        return true;
    }
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
        a->len = sizeof(*in6);
        return true;
    }
    return false;
}

static const char *const tcp_connect_params[] = {"timeout", "nodelay", NULL};
static const char *const tcp_listen_params[] = {"backlog", "reuseport",
                                                "nodelay", NULL};

int
wire__tcp_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                  const char *str, struct wire_protocol *p, uint64_t timeout_ms,
                  wire_connect_cb cb, void *arg, struct wire_error *err)
{
    bool nodelay = true;
    int rc;
    if ((rc = wire_endpoint_check_params(ep, tcp_connect_params, err)) < 0 ||
        (rc = wire_endpoint_param_u64(ep, "timeout", 1, UINT32_MAX, &timeout_ms,
                                      err)) < 0 ||
        (rc = wire_endpoint_param_bool(ep, "nodelay", &nodelay, err)) < 0)
        return rc;
    if (atoi(ep->port) == 0)
        return wire_error_set(err, WIRE_EENDPOINT,
                              "endpoint '%s': cannot connect to port 0", str);
    char what[300];
    if (strchr(ep->host, ':'))
        snprintf(what, sizeof(what), "tcp://[%s]:%s", ep->host, ep->port);
    else
        snprintf(what, sizeof(what), "tcp://%s:%s", ep->host, ep->port);
    struct wire__addr a;
    if (numeric(ep->host, ep->port, &a)) {
        struct wire__addr *addrs = malloc(sizeof(*addrs));
        if (addrs == NULL)
            return wire_error_set(err, WIRE_ENOMEM, "out of memory");
        *addrs = a;
        rc = wire__connect_addrs(loop, what, WIRE__SOCK_TCP, addrs, 1,
                                 timeout_ms, nodelay, p, cb, arg);
        if (rc < 0)
            return wire_error_set(err, rc, "connect to %s: %s", what,
                                  wire_strerror(rc));
        return 0;
    }
    struct resolve *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    r->loop = loop;
    r->host = strdup(ep->host);
    r->port = strdup(ep->port);
    r->what = strdup(what);
    r->timeout_ms = timeout_ms;
    r->started = wire_loop_now(loop);
    r->nodelay = nodelay;
    r->p = p;
    r->cb = cb;
    r->arg = arg;
    r->start.fn = resolve_start;
    r->timer = wire_timer_new(loop, resolve_timeout, r);
    if (r->host == NULL || r->port == NULL || r->what == NULL || r->timer == NULL) {
        resolve_free(r);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    wire_timer_start(r->timer, timeout_ms, 0);
    wire__loop_soon(loop, &r->start);
    return 0;
}

int
wire__tcp_listen(struct wire_loop *loop, const struct wire_endpoint *ep,
                 wire_protocol_factory factory, void *farg,
                 const struct wire_listen_options *opts,
                 struct wire_server **out, struct wire_error *err)
{
    uint64_t backlog = opts && opts->backlog > 0 ? (uint64_t)opts->backlog : 511;
    bool reuseport = opts ? opts->reuseport : false;
    bool nodelay = true;
    int rc;
    if ((rc = wire_endpoint_check_params(ep, tcp_listen_params, err)) < 0 ||
        (rc = wire_endpoint_param_u64(ep, "backlog", 1, 65535, &backlog, err)) < 0 ||
        (rc = wire_endpoint_param_bool(ep, "reuseport", &reuseport, err)) < 0 ||
        (rc = wire_endpoint_param_bool(ep, "nodelay", &nodelay, err)) < 0)
        return rc;
    struct wire__addr a;
    const char *host = ep->host;
    if (!strcmp(host, "*"))
        host = "0.0.0.0";
    if (!numeric(host, ep->port, &a)) {
        /* Listening is set-up time: a blocking lookup is acceptable here,
         * and it honours nsswitch (files first) like every server does. */
        struct evutil_addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = EVUTIL_AI_PASSIVE;
        int g = evutil_getaddrinfo(host, ep->port, &hints, &res);
        if (g != 0 || res == NULL)
            return wire_error_set(err, WIRE_ERESOLVE, "resolve %s: %s", host,
                                  evutil_gai_strerror(g));
        memset(&a, 0, sizeof(a));
        memcpy(&a.ss, res->ai_addr, res->ai_addrlen);
        a.len = (socklen_t)res->ai_addrlen;
        evutil_freeaddrinfo(res);
    }
    int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wire_error_set(err, -errno, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        int e = errno;
        close(fd);
        return wire_error_set(err, -e, "SO_REUSEPORT: %s", strerror(e));
    }
    if (a.ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a.ss, a.len) < 0) {
        int e = errno;
        char addr[160];
        close(fd);
        wire__sockaddr_format((struct sockaddr *)&a.ss, a.len, addr, sizeof(addr));
        return wire_error_set(err, -e, "cannot listen on %s: %s", addr,
                              strerror(e));
    }
    return wire__listen_fd(loop, fd, WIRE__SOCK_TCP, (int)backlog, NULL, factory,
                           farg, out, err);
}
