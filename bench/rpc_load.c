/*
 * rpc_load: the load generator of the JSON-RPC benchmark (bench/run,
 * ONLY=rpc).  It opens CONNS TCP connections (TCP_NODELAY) to
 * 127.0.0.1:PORT and, with non-blocking sockets on one epoll, keeps
 * WINDOW calls in flight on each:
 *     {"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":N}\n
 * with N counting up from 1 per connection.  Every response is parsed
 * and checked: an object with "jsonrpc":"2.0", "result":19, no "error",
 * and an "id" that is one of the connection's calls in flight (answers
 * may come in any order).  After SECONDS it stops calling, waits for the
 * calls in flight, and prints, timed from the first call to the last
 * answer,
 *     calls=N seconds=S calls/s=X conns=C window=W framing=F
 *
 * FRAMING says how responses are delimited: "lines" (each JSON text is
 * followed by a newline, optionally after spaces or "\r": newline-
 * delimited JSON), or "stream" (JSON texts back to back, any whitespace
 * or none between them, as jayson's TCP server writes them).  The same
 * parser finds the end of each text in both modes, so both cost the
 * generator the same; "lines" only adds the check for the newline.
 *
 * It links nothing but libc, so the same program loads every server.
 *
 * Usage: rpc_load PORT CONNS WINDOW SECONDS [lines|stream]
 */
#define _GNU_SOURCE
#include "peer_util.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#define RBUF (256 * 1024)

struct conn {
    int fd;
    uint64_t next;      /* id of the next call */
    uint64_t low;       /* lowest id not yet answered */
    unsigned char *open;/* open[id % window]: call id is in flight */
    char *wbuf;         /* requests not yet written */
    size_t wlen, woff, wcap;
    char *rbuf;         /* response bytes not yet parsed */
    size_t rlen;
    int want_out;
};

static int epfd;
static unsigned window;
static bool lines_mode;
static uint64_t answered;

static void
fail(const char *what, const char *text, size_t len)
{
    fprintf(stderr, "rpc_load: %s: '%.*s'\n", what, (int)(len > 200 ? 200 : len), text);
    exit(1);
}

static void
set_out(struct conn *c, int out)
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

static void
flush_out(struct conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            peer_die("write");
        }
        c->woff += (size_t)n;
    }
    if (c->woff == c->wlen)
        c->woff = c->wlen = 0;
    set_out(c, c->wlen > 0);
}

/* Queue calls until WINDOW are in flight, then write what we can. */
static void
fill(struct conn *c)
{
    while (c->next - c->low < window) {
        if (c->wcap - c->wlen < 128) {
            c->wcap *= 2;
            if ((c->wbuf = realloc(c->wbuf, c->wcap)) == NULL)
                peer_die("realloc");
        }
        c->wlen += (size_t)sprintf(c->wbuf + c->wlen,
                                   "{\"jsonrpc\":\"2.0\",\"method\":\"subtract\","
                                   "\"params\":[42,23],\"id\":%llu}\n",
                                   (unsigned long long)c->next);
        c->open[c->next % window] = 1;
        c->next++;
    }
    flush_out(c);
}

/* ---- a small JSON scanner: enough to find a text's end and read the
 * top-level members a response has ---- */


/* A string starting at P (a '"'): the byte after its closing quote, or
 * NULL if it does not end before END. */
static const char *
skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Any value at P: the byte after it, NULL if incomplete.  Containers are
 * skipped by depth, strings by skip_string; a scalar ends at a byte that
 * cannot be part of it (so a number at END is incomplete). */
static const char *
skip_value(const char *p, const char *end)
{
    int depth = 0;

    do {
        if (p >= end)
            return NULL;
        switch (*p) {
        case '"':
            if ((p = skip_string(p, end)) == NULL)
                return NULL;
            break;
        case '{':
        case '[':
            depth++;
            p++;
            break;
        case '}':
        case ']':
            depth--;
            p++;
            break;
        case ' ': case '\t': case '\r': case '\n': case ',': case ':':
            if (depth == 0)
                fail("unexpected character", p, (size_t)(end - p));
            p++;
            break;
        default:
            while (p < end && strchr("{}[],: \t\r\n\"", *p) == NULL)
                p++;
            if (p == end)
                return NULL;
            break;
        }
    } while (depth > 0);
    return p;
}

static bool
is_key(const char *k, const char *kend, const char *want)
{
    size_t n = strlen(want);

    return (size_t)(kend - k) == n + 2 && memcmp(k + 1, want, n) == 0;
}

/* Parse one response at BUF (LEN bytes of C's input).  Returns the bytes
 * it took, or 0 if BUF holds only part of it.  Exits on anything that is
 * not a correct answer to one of C's calls in flight. */
static size_t
take_response(struct conn *c, const char *buf, size_t len)
{
    const char *end = buf + len, *p, *v;
    bool version = false, result = false;
    long long id = -1;

    p = peer_skip_ws(buf, end);
    if (p == end)
        return 0;
    if (*p != '{')
        fail("response is not an object", p, (size_t)(end - p));
    for (p = peer_skip_ws(p + 1, end);;) {
        const char *k = p, *kend;

        if (p == end)
            return 0;
        if (*p == '}' && !version && !result && id < 0)
            fail("empty object", buf, len);
        if (*p != '"')
            fail("expected a member name", p, (size_t)(end - p));
        if ((kend = skip_string(p, end)) == NULL)
            return 0;
        p = peer_skip_ws(kend, end);
        if (p == end)
            return 0;
        if (*p != ':')
            fail("expected ':'", p, (size_t)(end - p));
        v = peer_skip_ws(p + 1, end);
        if ((p = skip_value(v, end)) == NULL)
            return 0;
        if (is_key(k, kend, "jsonrpc")) {
            version = p - v == 5 && memcmp(v, "\"2.0\"", 5) == 0;
        } else if (is_key(k, kend, "result")) {
            result = p - v == 2 && memcmp(v, "19", 2) == 0;
            if (!result)
                fail("wrong result", buf, (size_t)(end - buf));
        } else if (is_key(k, kend, "id")) {
            char *e;

            id = strtoll(v, &e, 10);
            if (e != p || id < 0)
                fail("bad id", buf, (size_t)(end - buf));
        } else {
            fail("unexpected member", buf, (size_t)(end - buf));
        }
        p = peer_skip_ws(p, end);
        if (p == end)
            return 0;
        if (*p == '}')
            break;
        if (*p != ',')
            fail("expected ',' or '}'", p, (size_t)(end - p));
        p = peer_skip_ws(p + 1, end);
    }
    p++;
    if (!version || !result || id < 0)
        fail("incomplete response", buf, (size_t)(p - buf));
    if ((uint64_t)id < c->low || (uint64_t)id >= c->next || !c->open[id % window])
        fail("answer to no call in flight", buf, (size_t)(p - buf));
    if (lines_mode) {
        while (p < end && (*p == ' ' || *p == '\r'))
            p++;
        if (p == end)
            return 0;
        if (*p != '\n')
            fail("response not followed by a newline", buf, (size_t)(end - buf));
        p++;
    }
    c->open[id % window] = 0;
    while (c->low < c->next && !c->open[c->low % window])
        c->low++;
    answered++;
    return (size_t)(p - buf);
}

/* Read what is there, take every complete response; false on EOF. */
static bool
on_readable(struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, c->rbuf + c->rlen, RBUF - c->rlen);
        size_t off = 0, k;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return true;
            peer_die("read");
        }
        if (n == 0)
            return false;
        c->rlen += (size_t)n;
        while ((k = take_response(c, c->rbuf + off, c->rlen - off)) > 0)
            off += k;
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
        if (c->rlen == RBUF)
            fail("response too long", c->rbuf, c->rlen);
    }
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sin;
    struct epoll_event evs[64];
    struct conn *conns;
    unsigned nconns, secs, i;
    double t0, t1, stop;
    bool calling = true;

    if (argc < 5 || argc > 6 ||
        (argc == 6 && strcmp(argv[5], "lines") != 0 && strcmp(argv[5], "stream") != 0)) {
        fprintf(stderr, "usage: rpc_load PORT CONNS WINDOW SECONDS [lines|stream]\n");
        return 2;
    }
    peer_loopback_addr(&sin, argv[1]);
    nconns = (unsigned)atoi(argv[2]);
    window = (unsigned)atoi(argv[3]);
    secs = (unsigned)atoi(argv[4]);
    lines_mode = argc < 6 || strcmp(argv[5], "lines") == 0;
    if (nconns < 1 || window < 1 || secs < 1) {
        fprintf(stderr, "rpc_load: CONNS, WINDOW and SECONDS must be positive\n");
        return 2;
    }
    peer_set_deadline(secs + 30);
    signal(SIGPIPE, SIG_IGN);
    if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        peer_die("epoll_create1");
    if ((conns = calloc(nconns, sizeof(*conns))) == NULL)
        peer_die("calloc");
    for (i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        struct epoll_event ev;

        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            peer_die("socket");
        if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
            peer_die("connect");
        peer_nodelay(c->fd);
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->next = c->low = 1;
        c->wcap = 4096;
        c->open = calloc(window, 1);
        c->wbuf = malloc(c->wcap);
        c->rbuf = malloc(RBUF);
        if (c->open == NULL || c->wbuf == NULL || c->rbuf == NULL)
            peer_die("malloc");
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            peer_die("epoll_ctl");
    }
    t0 = peer_now();
    stop = t0 + secs;
    for (i = 0; i < nconns; i++)
        fill(&conns[i]);
    for (;;) {
        bool busy = false;
        int n = epoll_wait(epfd, evs, 64, 1000);

        if (n < 0 && errno != EINTR)
            peer_die("epoll_wait");
        for (int e = 0; e < n; e++) {
            struct conn *c = evs[e].data.ptr;

            if (evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (!on_readable(c)) {
                    fprintf(stderr, "rpc_load: the server closed a connection\n");
                    return 1;
                }
            }
            if (evs[e].events & EPOLLOUT)
                flush_out(c);
            if (calling)
                fill(c);
        }
        if (calling && peer_now() >= stop)
            calling = false;
        for (i = 0; i < nconns; i++)
            busy = busy || conns[i].low < conns[i].next;
        if (!calling && !busy)
            break;
    }
    t1 = peer_now();
    printf("calls=%llu seconds=%.3f calls/s=%.0f conns=%u window=%u framing=%s\n",
           (unsigned long long)answered, t1 - t0, (double)answered / (t1 - t0), nconns,
           window, lines_mode ? "lines" : "stream");
    for (i = 0; i < nconns; i++)
        close(conns[i].fd);
    return 0;
}
