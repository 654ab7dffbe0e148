/*
 * stack_load: the load generator of the whole-stack benchmark (bench/run,
 * ONLY=stack; bench/run-stack.sh).  It opens CONNS connections to
 * 127.0.0.1:PORT (TCP_NODELAY; over TLS in the tls modes, made before the
 * clock starts) and, with non-blocking sockets on one epoll, keeps WINDOW
 * calls in flight on each, the call
 *     {"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":N}
 * with N counting up from 1 per connection, framed as MODE says:
 *
 *   lines, lines-tls   the call and "\n"; each answer one line
 *   http, https        POST / HTTP/1.1 with Host, Content-Type
 *                      application/json and Content-Length, on keep-alive
 *                      connections; WINDOW > 1 pipelines (HTTP/1.1: the
 *                      answers come in request order)
 *
 * Every answer is checked: an object of "jsonrpc":"2.0", "result":19 and
 * the id of a call in flight (over HTTP, the oldest one), nothing else;
 * over HTTP, a "HTTP/1.1 200" status, a Content-Length (no chunked
 * bodies), no "Connection: close".  Anything else stops the run with the
 * answer on stderr and exit status 1.
 *
 * LIMIT is a duration ("3s": stop calling after 3 seconds) or a number of
 * calls (all connections together; the callgrind pass of run-stack.sh
 * uses it).  At the end it waits for the calls in flight, closes (TLS:
 * close_notify) and prints, timed from the first call to the last answer,
 *     calls=N seconds=S calls/s=X conns=C window=W mode=M
 *
 * TLS as every TLS benchmark client here (peer_tls.h): TLS 1.3,
 * TLS_AES_128_GCM_SHA256, X25519, no certificate verification.  It never
 * links libwire, so the same program loads libwire and the peers.
 *
 * Usage: stack_load MODE PORT CONNS WINDOW LIMIT
 */
#define _GNU_SOURCE
#include "peer_tls.h"
#include "peer_util.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#define RBUF (64 * 1024)

struct conn {
    int fd;
    SSL *ssl;           /* NULL: plain TCP */
    uint64_t next;      /* id of the next call */
    uint64_t low;       /* lowest id not yet answered */
    unsigned char *open;/* open[id % window]: call id is in flight */
    char *wbuf;         /* bytes not yet written */
    size_t wlen, woff, wcap;
    char rbuf[RBUF];    /* answer bytes not yet parsed */
    size_t rlen;
    uint32_t events;    /* epoll interest now */
    bool tls_wants_out; /* SSL_read must write first */
};

static int epfd;
static unsigned window;
static bool http_mode;
static uint64_t issued, answered, limit_calls; /* limit_calls 0: by time */
static bool calling = true;

static void
bad(const char *what, const char *text, size_t len)
{
    fprintf(stderr, "stack_load: %s: '%.*s'\n", what, (int)(len > 300 ? 300 : len),
            text);
    exit(1);
}

static void
want(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};

    if (c->events == events)
        return;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        peer_die("epoll_ctl");
    c->events = events;
}

/* read() or SSL_read(): > 0 bytes, 0 at the end, -1 for "not now"
 * (with *wants_out when TLS must write first). */
static ssize_t
io_read(struct conn *c, void *buf, size_t len, bool *wants_out)
{
    if (c->ssl == NULL) {
        ssize_t n;
        while ((n = read(c->fd, buf, len)) < 0 && errno == EINTR)
            ;
        if (n < 0 && errno != EAGAIN)
            peer_die("read");
        return n;
    }
    int n = SSL_read(c->ssl, buf, (int)len);
    if (n > 0)
        return n;
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ: return -1;
    case SSL_ERROR_WANT_WRITE: *wants_out = true; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    default: peer_tls_die("SSL_read");
    }
    return 0;
}

/* write() or SSL_write() (partial writes on): bytes taken, or -1. */
static ssize_t
io_write(struct conn *c, const void *buf, size_t len)
{
    if (c->ssl == NULL) {
        ssize_t n;
        while ((n = write(c->fd, buf, len)) < 0 && errno == EINTR)
            ;
        if (n < 0 && errno != EAGAIN)
            peer_die("write");
        return n;
    }
    int n = SSL_write(c->ssl, buf, (int)len);
    if (n > 0)
        return n;
    int e = SSL_get_error(c->ssl, n);
    if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
        peer_tls_die("SSL_write");
    return -1;
}

static void
flush_out(struct conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = io_write(c, c->wbuf + c->woff, c->wlen - c->woff);
        if (n < 0)
            break;
        c->woff += (size_t)n;
    }
    if (c->woff == c->wlen)
        c->woff = c->wlen = 0;
    want(c, EPOLLIN | (c->wlen > 0 || c->tls_wants_out ? EPOLLOUT : 0));
}

/* Queue calls until WINDOW are in flight (or the run is over), then write
 * what the socket takes. */
static void
fill(struct conn *c)
{
    char body[128];

    while (calling && c->next - c->low < window) {
        if (limit_calls > 0 && issued == limit_calls) {
            calling = false;
            break;
        }
        int blen = snprintf(body, sizeof(body),
                            "{\"jsonrpc\":\"2.0\",\"method\":\"subtract\","
                            "\"params\":[42,23],\"id\":%llu}",
                            (unsigned long long)c->next);
        if (c->wcap - c->wlen < 256) {
            c->wcap *= 2;
            if ((c->wbuf = realloc(c->wbuf, c->wcap)) == NULL)
                peer_die("realloc");
        }
        if (http_mode)
            c->wlen += (size_t)sprintf(c->wbuf + c->wlen,
                                       "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       "Content-Type: application/json\r\n"
                                       "Content-Length: %d\r\n\r\n%s",
                                       blen, body);
        else
            c->wlen += (size_t)sprintf(c->wbuf + c->wlen, "%s\n", body);
        c->open[c->next % window] = 1;
        c->next++;
        issued++;
    }
    flush_out(c);
}

/* ---- checking an answer ---- */


/* Check the JSON text [p, end): a flat object of "jsonrpc":"2.0",
 * "result":19 and "id":N (any order, any blanks) whose id is one of C's
 * calls in flight; returns the id.  Anything else (an error object, a
 * member more) stops the run. */
static uint64_t
check_answer(struct conn *c, const char *p, const char *end)
{
    const char *text = p;
    size_t tlen = (size_t)(end - p);
    bool version = false, result = false, id_seen = false;
    unsigned long long id = 0;

    p = peer_skip_ws(p, end);
    if (p == end || *p++ != '{')
        bad("answer is not an object", text, tlen);
    for (;;) {
        p = peer_skip_ws(p, end);
        if (p == end || *p != '"')
            bad("expected a member name", text, tlen);
        const char *name = ++p;
        while (p < end && *p != '"')
            p++;
        if (p == end)
            bad("unterminated member name", text, tlen);
        size_t nlen = (size_t)(p - name);
        p = peer_skip_ws(p + 1, end);
        if (p >= end || *p != ':')
            bad("expected ':'", text, tlen);
        const char *v = p = peer_skip_ws(p + 1, end);
        while (p < end && *p != ',' && *p != '}' && *p != ' ' && *p != '\r' &&
               *p != '\n' && *p != '\t')
            p++;
        size_t vlen = (size_t)(p - v);
        if (nlen == 7 && memcmp(name, "jsonrpc", 7) == 0 && vlen == 5 &&
            memcmp(v, "\"2.0\"", 5) == 0 && !version) {
            version = true;
        } else if (nlen == 6 && memcmp(name, "result", 6) == 0 && vlen == 2 &&
                   memcmp(v, "19", 2) == 0 && !result) {
            result = true;
        } else if (nlen == 2 && memcmp(name, "id", 2) == 0 && vlen > 0 &&
                   vlen < 20 && !id_seen) {
            char *e;
            id = strtoull(v, &e, 10);
            if (e != p || !isdigit((unsigned char)*v))
                bad("bad id", text, tlen);
            id_seen = true;
        } else {
            bad("not the answer 19 (or a member more)", text, tlen);
        }
        p = peer_skip_ws(p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p == end || *p != '}')
            bad("expected ',' or '}'", text, tlen);
        break;
    }
    if (peer_skip_ws(p + 1, end) != end)
        bad("bytes after the answer", text, tlen);
    if (!version || !result || !id_seen)
        bad("incomplete answer", text, tlen);
    if (id < c->low || id >= c->next || !c->open[id % window])
        bad("answer to no call in flight", text, tlen);
    if (http_mode && id != c->low)
        bad("HTTP answer out of order", text, tlen);
    return id;
}

static void
take(struct conn *c, uint64_t id)
{
    c->open[id % window] = 0;
    while (c->low < c->next && !c->open[c->low % window])
        c->low++;
    answered++;
}

/* Case-insensitive: does header line [h, e) name `name` (with ':')? */
static const char *
header_value(const char *h, const char *e, const char *name)
{
    size_t n = strlen(name);

    if ((size_t)(e - h) <= n || h[n] != ':' || strncasecmp(h, name, n) != 0)
        return NULL;
    return peer_skip_ws(h + n + 1, e);
}

/* One HTTP response at BUF: the bytes it took, 0 if incomplete. */
static size_t
take_http(struct conn *c, const char *buf, size_t len)
{
    const char *end = buf + len;
    const char *head_end = memmem(buf, len, "\r\n\r\n", 4);
    long long clen = -1;

    if (head_end == NULL) {
        if (len > 8192)
            bad("response head too long", buf, len);
        return 0;
    }
    if (len < 13 || memcmp(buf, "HTTP/1.1 200 ", 13) != 0)
        bad("not HTTP/1.1 200", buf, (size_t)(head_end - buf));
    for (const char *h = memchr(buf, '\n', len) + 1; h < head_end + 2;) {
        const char *e = memchr(h, '\r', (size_t)(head_end + 2 - h));
        const char *v;
        if (e == NULL || e[1] != '\n')
            bad("a header line without CRLF", buf, (size_t)(head_end - buf));
        if ((v = header_value(h, e, "content-length")) != NULL)
            clen = strtoll(v, NULL, 10);
        else if ((v = header_value(h, e, "transfer-encoding")) != NULL)
            bad("chunked answers are not expected", buf, (size_t)(head_end - buf));
        else if ((v = header_value(h, e, "connection")) != NULL &&
                 strncasecmp(v, "close", 5) == 0)
            bad("the server closes the connection", buf, (size_t)(head_end - buf));
        h = e + 2;
    }
    if (clen < 0 || clen > RBUF / 2)
        bad("no usable Content-Length", buf, (size_t)(head_end - buf));
    const char *body = head_end + 4;
    if ((size_t)(end - body) < (size_t)clen)
        return 0;
    take(c, check_answer(c, body, body + clen));
    return (size_t)(body + clen - buf);
}

/* One line at BUF: the bytes it took, 0 if incomplete. */
static size_t
take_line(struct conn *c, const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);

    if (nl == NULL)
        return 0;
    take(c, check_answer(c, buf, nl));
    return (size_t)(nl + 1 - buf);
}

/* Read what is there and take every complete answer; false at the end. */
static bool
on_readable(struct conn *c)
{
    c->tls_wants_out = false;
    for (;;) {
        ssize_t n = io_read(c, c->rbuf + c->rlen, RBUF - c->rlen, &c->tls_wants_out);
        size_t off = 0, k;

        if (n < 0)
            break;
        if (n == 0)
            return false;
        c->rlen += (size_t)n;
        while (off < c->rlen &&
               (k = http_mode ? take_http(c, c->rbuf + off, c->rlen - off)
                              : take_line(c, c->rbuf + off, c->rlen - off)) > 0)
            off += k;
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
        if (c->rlen == RBUF)
            bad("answer too long", c->rbuf, c->rlen);
    }
    return true;
}

static void
usage(void)
{
    fprintf(stderr, "usage: stack_load lines|lines-tls|http|https PORT CONNS "
                    "WINDOW SECONDSs|CALLS\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sin;
    struct epoll_event evs[64];
    struct conn *conns;
    unsigned nconns, i;
    double t0, t1, stop = 0;
    bool use_tls;
    SSL_CTX *ctx = NULL;
    char *e;

    if (argc != 6)
        usage();
    const char *mode = argv[1];
    if (strcmp(mode, "lines") != 0 && strcmp(mode, "lines-tls") != 0 &&
        strcmp(mode, "http") != 0 && strcmp(mode, "https") != 0)
        usage();
    http_mode = strncmp(mode, "http", 4) == 0;
    use_tls = strcmp(mode, "https") == 0 || strcmp(mode, "lines-tls") == 0;
    peer_loopback_addr(&sin, argv[2]);
    nconns = (unsigned)atoi(argv[3]);
    window = (unsigned)atoi(argv[4]);
    unsigned long long lim = strtoull(argv[5], &e, 10);
    if (nconns < 1 || nconns > 1000 || window < 1 || window > 100000 || lim < 1 ||
        (*e != '\0' && strcmp(e, "s") != 0))
        usage();
    bool by_time = *e == 's';
    limit_calls = by_time ? 0 : lim;
    peer_set_deadline(by_time ? (unsigned)lim + 60 : 600);
    signal(SIGPIPE, SIG_IGN);
    if (use_tls) {
        ctx = peer_tls_client_ctx();
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        peer_die("epoll_create1");
    if ((conns = calloc(nconns, sizeof(*conns))) == NULL)
        peer_die("calloc");
    for (i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            peer_die("socket");
        if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
            peer_die("connect");
        peer_nodelay(c->fd);
        if (use_tls) { /* a blocking handshake, before the clock */
            if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
                SSL_connect(c->ssl) != 1)
                peer_tls_die("TLS handshake");
        }
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->next = c->low = 1;
        c->wcap = 4096;
        c->open = calloc(window, 1);
        c->wbuf = malloc(c->wcap);
        if (c->open == NULL || c->wbuf == NULL)
            peer_die("malloc");
        c->events = EPOLLIN;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            peer_die("epoll_ctl");
    }
    t0 = peer_now();
    if (by_time)
        stop = t0 + (double)lim;
    for (i = 0; i < nconns; i++)
        fill(&conns[i]);
    for (;;) {
        bool busy = false;
        int n = epoll_wait(epfd, evs, 64, 1000);

        if (n < 0 && errno != EINTR)
            peer_die("epoll_wait");
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;

            if ((evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP) || c->tls_wants_out) &&
                !on_readable(c)) {
                if ((calling && (by_time || issued != limit_calls)) || c->low < c->next) {
                    fprintf(stderr, "stack_load: the server closed a connection\n");
                    exit(1);
                }
                /* Done with it anyway: no more events from it. */
                if (epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
                    peer_die("epoll_ctl");
                continue;
            }
            fill(c); /* also flushes what is queued */
        }
        if ((by_time && peer_now() >= stop) || (!by_time && issued == limit_calls))
            calling = false;
        for (i = 0; i < nconns; i++)
            busy = busy || conns[i].low < conns[i].next;
        if (!calling && !busy)
            break;
    }
    t1 = peer_now();
    printf("calls=%llu seconds=%.3f calls/s=%.0f conns=%u window=%u mode=%s\n",
           (unsigned long long)answered, t1 - t0, (double)answered / (t1 - t0),
           nconns, window, mode);
    fflush(stdout);
    for (i = 0; i < nconns; i++) {
        if (conns[i].ssl != NULL) {
            SSL_shutdown(conns[i].ssl); /* our close_notify; not waiting */
            SSL_free(conns[i].ssl);
        }
        close(conns[i].fd);
        free(conns[i].open);
        free(conns[i].wbuf);
    }
    free(conns);
    SSL_CTX_free(ctx);
    return 0;
}
