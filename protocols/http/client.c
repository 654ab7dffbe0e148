/*
 * The HTTP/1.1 client: an engine for one connection (struct
 * wire_http_client; its internal interface is in http_int.h, so the HTTP
 * client layer reuses it) and the thin protocol around it
 * (wire_http_client_new).
 *
 * Writing.  Requests go out in the order they were made, each whole
 * (head, then body) before the next one starts, so a request is
 * pipelined as soon as the one before it ended.  A request's head waits
 * for its first body write or its end, when its framing is known:
 * Content-Length when the application set it, else chunked for a body,
 * else none (or "Content-Length: 0" for methods that carry a body).
 * A request that cannot write yet (not at the front, or made before the
 * connection) keeps its framed body bytes in its own buffer; the head is
 * built when it goes out, once the Host is known.  After a request that
 * changes the connection (Upgrade, CONNECT, Connection: close) nothing is
 * written before its response.
 *
 * Reading.  llhttp (head.c) parses the responses, matched to requests in
 * order.  The parser pauses at the end of each response, so that every
 * response starts with a check that a request is waiting for it.  1xx
 * responses are skipped; HEAD, 204 and 304 responses have no body
 * whatever their headers say; a 101 or a 2xx to CONNECT stops HTTP after
 * the head (take_over hands the transport on).  A paused response body
 * pauses the transport's reading; the rest of the read that was being
 * parsed is held (at most one read) and parsed on resume, on a later
 * turn.
 *
 * Errors end each request once (on_done), in order.  A response that
 * says the connection closes ends the requests behind it with
 * WIRE_ECLOSED: the server did not process them, and a client cannot tell
 * whether retrying is safe for the application, so it does not retry.
 */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bytes a request that waits for its turn buffers before its writes
 * return 1 (the default high watermark of a transport). */
#define CLI_QUEUE_HIGH (64u * 1024u)

enum cli_timer { CLI_TIMER_NONE, CLI_TIMER_HEAD, CLI_TIMER_BODY };

struct cli_buf {
    char *p;
    size_t len, cap;
};

struct wire_http_request {
    struct wire_http_client *c;
    struct wire_http_request *next;
    struct wire_http_response_handler h;
    void *arg;
    unsigned seq;          /* 1 for the connection's first request */
    size_t what_len;       /* "METHOD target" at the start of `head` */
    struct cli_buf head;   /* request line and header lines */
    struct cli_buf out;    /* framed body bytes waiting for their turn */
    int64_t content_length; /* set by the application, or -1 */
    uint64_t body_written;
    bool is_head, is_connect, needs_length;
    bool has_host, te_chunked, conn_close, upgrade;
    bool framed;        /* framing chosen (first write or end) */
    bool chunked;
    bool head_sent;     /* the head went to the transport */
    bool ended;         /* the application called end */
    bool written;       /* all of it, end included, went to the transport */
    bool want_writable; /* a write returned 1 */
    bool got_head;      /* on_response ran */
    bool body_paused;
    bool done;          /* on_done is running */
};

struct wire_http_client {
    struct wire_http_client_opts opts;
    char *host_opt;
    struct wire_protocol *owner;
    unsigned refs;
    /* the transport, from attach until lost or handed over */
    struct wire_transport *t;
    struct wire_timer *timer;
    enum cli_timer timer_kind;
    char host[256];
    struct http_parse ps;
    /* live requests in order; wcur: the first not fully written;
     * barrier: written, and nothing may follow before its response */
    struct wire_http_request *first, *last, *wcur, *barrier;
    unsigned nreq;
    /* reading */
    char *held;
    size_t held_len;
    bool reading_paused; /* the engine wants the transport's reading paused */
    bool hold;           /* the owner holds reading (http_cli_hold_reading) */
    bool t_paused;       /* what we last told the transport */
    bool eof_pending;    /* the peer's EOF came while bytes were held */
    bool interim;        /* parsing a 1xx */
    bool upgrading;      /* parsing a 101 or a 2xx to CONNECT */
    struct wire_http_request *in_response; /* on_response runs for it */
    struct wire_protocol *next_proto;     /* take_over's */
    int perr_code;
    char perr_msg[160];
    /* writing */
    bool write_paused;
    /* state */
    bool attached, closing, dead, detached, closed_reported, freed;
    struct wire_error close_err; /* why the engine ended the connection */
    /* deferred work */
    struct wire_soon soon;
    struct wire_transport *soon_t;
    bool soon_queued, soon_resume, soon_writable;
    struct wire_soon handed; /* destroying the owner after a take-over */
    struct wire_transport *handed_t;
};

static void kick(struct wire_http_client *c);
static void cli_process(struct wire_http_client *c, const char *data,
                        size_t len, bool nudge);

/* ---- small things ---- */

static int
buf_add(struct cli_buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return WIRE_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

static int
buf_add_line(struct cli_buf *b, const char *name, const char *value)
{
    if (buf_add(b, name, strlen(name)) < 0 || buf_add(b, ": ", 2) < 0 ||
        buf_add(b, value, strlen(value)) < 0 || buf_add(b, "\r\n", 2) < 0)
        return WIRE_ENOMEM;
    return 0;
}

static void
cli_unref(struct wire_http_client *c)
{
    if (--c->refs > 0)
        return;
    http_parse_free(&c->ps);
    free(c->held);
    free(c->host_opt);
    wire_error_clear(&c->close_err);
    free(c);
}

/* Make the transport's reading match what the engine and the owner want:
 * the one place that pauses or resumes it. */
static void
sync_reading(struct wire_http_client *c)
{
    if (c->t == NULL)
        return;
    bool pause = c->reading_paused || c->hold;
    if (pause == c->t_paused)
        return;
    c->t_paused = pause;
    if (pause)
        wire_transport_pause_reading(c->t);
    else
        wire_transport_resume_reading(c->t);
}

static void
report_close(struct wire_http_client *c, const struct wire_error *err)
{
    if (c->closed_reported)
        return;
    c->closed_reported = true;
    if (c->opts.on_close != NULL)
        c->opts.on_close(c->opts.arg, err);
}

/* A response is expected: the first live request's head went out. */
static bool
awaiting(const struct wire_http_client *c)
{
    return c->first != NULL && c->first->head_sent;
}

static bool
body_paused(const struct wire_http_client *c)
{
    return c->first != NULL && c->first->got_head && c->first->body_paused;
}

/* ---- timers ---- */

static void
timer_stop(struct wire_http_client *c)
{
    if (c->timer != NULL)
        wire_timer_stop(c->timer);
    c->timer_kind = CLI_TIMER_NONE;
}

static void
timer_start(struct wire_http_client *c, enum cli_timer kind)
{
    if (c->timer == NULL || c->dead)
        return;
    c->timer_kind = kind;
    /* While the owner holds reading, our slowness is not the server's:
     * the timer starts (afresh) when the hold ends. */
    if (c->hold)
        return;
    wire_timer_start(c->timer,
                     kind == CLI_TIMER_HEAD ? c->opts.limits.head_timeout_ms
                                            : c->opts.limits.body_timeout_ms,
                     0);
}

/* ---- ending requests ---- */

/* End the first request with `err` (NULL: success).  `r` is freed. */
static void
req_finish(struct wire_http_client *c, struct wire_http_request *r,
           const struct wire_error *err)
{
    c->first = r->next;
    if (c->first == NULL)
        c->last = NULL;
    if (c->wcur == r)
        c->wcur = r->next;
    if (c->barrier == r)
        c->barrier = NULL;
    r->done = true;
    if (r->h.on_done != NULL)
        r->h.on_done(r->arg, r, err);
    free(r->head.p);
    free(r->out.p);
    free(r);
}

/* End every live request with `code`: "<why>; request N was not
 * answered".  The caller set c->dead, so none can be added meanwhile. */
static void
fail_rest(struct wire_http_client *c, int code, const char *why)
{
    while (c->first != NULL) {
        struct wire_error e = {0};
        wire_error_set(&e, code, "%s; request %u was not answered", why,
                       c->first->seq);
        req_finish(c, c->first, &e);
        wire_error_clear(&e);
    }
}

/* The connection cannot go on: the request whose response was awaited
 * gets `code`, the others WIRE_ECLOSED, on_close gets `code`, and the
 * transport is aborted. */
static void cli_fail(struct wire_http_client *c, int code, const char *fmt, ...)
    WIRE_PRINTF(3, 4);

static void
cli_fail(struct wire_http_client *c, int code, const char *fmt, ...)
{
    if (c->dead)
        return;
    c->dead = true;
    timer_stop(c);
    va_list ap;
    va_start(ap, fmt);
    wire_error_setv(&c->close_err, code, fmt, ap);
    va_end(ap);
    if (awaiting(c))
        req_finish(c, c->first, &c->close_err);
    char why[256];
    snprintf(why, sizeof(why), "the connection failed (%s)", c->close_err.message);
    fail_rest(c, WIRE_ECLOSED, why);
    if (c->t != NULL)
        wire_transport_abort(c->t);
}

/* The connection is not reused after request `seq`: end the requests
 * behind it and close once what is queued went out. */
static void
no_reuse(struct wire_http_client *c, const char *why)
{
    c->dead = true;
    timer_stop(c);
    fail_rest(c, WIRE_ECLOSED, why);
    if (c->t != NULL)
        wire_transport_close(c->t);
}

static void
maybe_close(struct wire_http_client *c)
{
    if (c->closing && c->first == NULL && c->t != NULL) {
        c->dead = true; /* what still comes has nobody to go to */
        wire_transport_close(c->t);
    }
}

/* ---- deferred work ---- */

static void resume_held(struct wire_http_client *c);

static void
soon_run(struct wire_soon *node)
{
    struct wire_http_client *c =
        (struct wire_http_client *)(void *)((char *)node -
                                            offsetof(struct wire_http_client, soon));
    struct wire_transport *t = c->soon_t;
    c->soon_t = NULL;
    c->soon_queued = false;
    if (!c->freed && !c->dead && !c->detached && c->t != NULL) {
        if (c->soon_resume) {
            c->soon_resume = false;
            resume_held(c);
        }
        struct wire_http_request *r = c->wcur;
        if (c->soon_writable && !c->dead && r != NULL && r->want_writable &&
            !c->write_paused && c->barrier == NULL) {
            c->soon_writable = false;
            r->want_writable = false;
            if (r->h.on_writable != NULL)
                r->h.on_writable(r->arg, r);
        }
    }
    c->soon_writable = false;
    cli_unref(c);
    wire_transport_unref(t);
}

static void
schedule(struct wire_http_client *c)
{
    if (c->soon_queued || c->t == NULL)
        return;
    c->soon_queued = true;
    c->soon.fn = soon_run;
    c->soon_t = wire_transport_ref(c->t);
    c->refs++;
    wire_impl_defer(c->t, &c->soon);
}

/* ---- writing ---- */

static bool
can_write(const struct wire_http_client *c, const struct wire_http_request *r)
{
    return r == c->wcur && c->t != NULL && c->barrier == NULL && !c->dead;
}

/* Send `r`'s pending bytes (its head first, if it has not gone out) and
 * then `body`, or buffer `body` when `r` cannot write yet.  Returns 0, 1
 * (above the watermark: wait for on_writable), or a negative code. */
static int
emit(struct wire_http_client *c, struct wire_http_request *r,
     const struct iovec *body, int nbody)
{
    if (!can_write(c, r)) {
        for (int i = 0; i < nbody; i++)
            if (buf_add(&r->out, body[i].iov_base, body[i].iov_len) < 0)
                return WIRE_ENOMEM;
        if (r->out.len > CLI_QUEUE_HIGH) {
            r->want_writable = true;
            return 1;
        }
        return 0;
    }
    struct iovec iov[8];
    int n = 0;
    char tail[sizeof(c->host) + 16];
    if (!r->head_sent) {
        size_t tl = 0;
        if (!r->has_host)
            tl = (size_t)snprintf(tail, sizeof(tail), "Host: %s\r\n", c->host);
        memcpy(tail + tl, "\r\n", 2);
        iov[n++] = (struct iovec){r->head.p, r->head.len};
        iov[n++] = (struct iovec){tail, tl + 2};
    }
    if (r->out.len > 0)
        iov[n++] = (struct iovec){r->out.p, r->out.len};
    for (int i = 0; i < nbody && n < 8; i++)
        iov[n++] = body[i];
    int rc = n > 0 ? wire_transport_write_sequence(c->t, iov, n) : 0;
    r->head_sent = true;
    r->out.len = 0;
    if (rc < 0)
        return rc;
    if (c->write_paused) {
        r->want_writable = true;
        return 1;
    }
    return 0;
}

/* `r` went out whole: the next request may write. */
static void
req_written(struct wire_http_client *c, struct wire_http_request *r)
{
    r->written = true;
    c->wcur = r->next;
    if (r->upgrade || r->is_connect || r->conn_close)
        c->barrier = r;
    if (r == c->first && !r->got_head)
        timer_start(c, CLI_TIMER_HEAD);
}

/* Write what the requests that may write now have. */
static void
kick(struct wire_http_client *c)
{
    while (c->wcur != NULL && can_write(c, c->wcur) && c->wcur->framed) {
        struct wire_http_request *r = c->wcur;
        if (emit(c, r, NULL, 0) < 0)
            return; /* the transport is going: its loss ends everything */
        if (r->want_writable && !c->write_paused) {
            c->soon_writable = true;
            schedule(c);
        }
        if (!r->ended)
            return;
        req_written(c, r);
    }
}

/* Choose the framing when the head is about to be final. */
static int
frame(struct wire_http_request *r, bool at_end)
{
    r->framed = true;
    if (r->content_length >= 0 || r->te_chunked) {
        r->chunked = r->te_chunked;
        return 0;
    }
    if (!at_end) {
        r->chunked = true;
        return buf_add_line(&r->head, "Transfer-Encoding", "chunked");
    }
    if (r->needs_length) {
        r->content_length = 0;
        return buf_add_line(&r->head, "Content-Length", "0");
    }
    return 0;
}

static int
req_usable(const struct wire_http_request *r)
{
    if (r->ended || r->done)
        return WIRE_ESTATE;
    if (r->c->dead || r->c->detached || r->c->freed)
        return WIRE_ECLOSED;
    return 0;
}

/* ---- the public request calls ---- */

static bool
valid_target(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return false;
    return true;
}

struct wire_http_request *
wire_http_request_new(struct wire_http_client *c, const char *method,
                      const char *target,
                      const struct wire_http_response_handler *h, void *arg,
                      struct wire_error *err)
{
    if (c == NULL || h == NULL || !http_valid_name(method) || !valid_target(target)) {
        wire_error_set(err, WIRE_EINVAL, "http client: a request needs a "
                                         "handler, a method token and a "
                                         "target without blanks");
        return NULL;
    }
    if (c->dead || c->closing || c->detached || c->freed) {
        wire_error_set(err, WIRE_ECLOSED, "http client: the connection is %s",
                       c->closing ? "closing" : "gone");
        return NULL;
    }
    struct wire_http_request *r = calloc(1, sizeof(*r));
    if (r == NULL)
        goto nomem;
    r->c = c;
    r->h = *h;
    r->arg = arg;
    r->content_length = -1;
    r->is_head = strcmp(method, "HEAD") == 0;
    r->is_connect = strcmp(method, "CONNECT") == 0;
    r->needs_length = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                      strcmp(method, "PATCH") == 0;
    if (buf_add(&r->head, method, strlen(method)) < 0 ||
        buf_add(&r->head, " ", 1) < 0 ||
        buf_add(&r->head, target, strlen(target)) < 0) {
        free(r->head.p);
        free(r);
        goto nomem;
    }
    r->what_len = r->head.len;
    if (buf_add(&r->head, " HTTP/1.1\r\n", 11) < 0) {
        free(r->head.p);
        free(r);
        goto nomem;
    }
    r->seq = ++c->nreq;
    if (c->last != NULL)
        c->last->next = r;
    else
        c->first = r;
    c->last = r;
    if (c->wcur == NULL)
        c->wcur = r;
    return r;
nomem:
    wire_error_set(err, WIRE_ENOMEM, "http client: out of memory");
    return NULL;
}

int
wire_http_request_header(struct wire_http_request *r, const char *name,
                         const char *value)
{
    if (r == NULL || !http_valid_name(name) || !http_valid_value(value))
        return WIRE_EINVAL;
    int rc = req_usable(r);
    if (rc < 0)
        return rc;
    if (r->framed)
        return WIRE_ESTATE; /* the head is final */
    if (strcasecmp(name, "Content-Length") == 0) {
        char *end;
        if (r->content_length >= 0 || r->te_chunked || value[0] < '0' ||
            value[0] > '9')
            return WIRE_EINVAL;
        unsigned long long v = strtoull(value, &end, 10);
        if (*end != '\0' || v > INT64_MAX)
            return WIRE_EINVAL;
        r->content_length = (int64_t)v;
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        /* Only chunked: the client frames nothing else. */
        if (r->content_length >= 0 || r->te_chunked || strcasecmp(value, "chunked") != 0)
            return WIRE_EINVAL;
        r->te_chunked = true;
    } else if (strcasecmp(name, "Host") == 0) {
        r->has_host = true;
    } else if (strcasecmp(name, "Connection") == 0) {
        r->conn_close |= http_list_has(value, "close");
    } else if (strcasecmp(name, "Upgrade") == 0) {
        r->upgrade = true;
    }
    return buf_add_line(&r->head, name, value);
}

int
wire_http_request_write(struct wire_http_request *r, const void *data,
                        size_t len)
{
    if (r == NULL || (data == NULL && len > 0))
        return WIRE_EINVAL;
    int rc = req_usable(r);
    if (rc < 0)
        return rc;
    if (len == 0)
        return 0;
    if (r->content_length >= 0 &&
        (uint64_t)r->content_length - r->body_written < len)
        return WIRE_EINVAL; /* longer than the Content-Length given */
    if (!r->framed && (rc = frame(r, false)) < 0)
        return rc;
    r->body_written += len;
    struct iovec iov[3];
    char size[24];
    if (r->chunked) {
        int n = snprintf(size, sizeof(size), "%zx\r\n", len);
        iov[0] = (struct iovec){size, (size_t)n};
        iov[1] = (struct iovec){(void *)(uintptr_t)data, len};
        iov[2] = (struct iovec){"\r\n", 2};
        return emit(r->c, r, iov, 3);
    }
    iov[0] = (struct iovec){(void *)(uintptr_t)data, len};
    return emit(r->c, r, iov, 1);
}

int
wire_http_request_end(struct wire_http_request *r)
{
    if (r == NULL)
        return WIRE_EINVAL;
    int rc = req_usable(r);
    if (rc < 0)
        return rc;
    if (r->content_length >= 0 && r->body_written < (uint64_t)r->content_length)
        return WIRE_EINVAL; /* shorter than the Content-Length given */
    if (!r->framed && (rc = frame(r, true)) < 0)
        return rc;
    struct wire_http_client *c = r->c;
    struct iovec last = {"0\r\n\r\n", 5};
    rc = emit(c, r, &last, r->chunked ? 1 : 0);
    if (rc < 0)
        return rc;
    r->ended = true;
    if (can_write(c, r)) {
        req_written(c, r);
        kick(c);
    }
    return 0;
}

const struct wire_http_head *
wire_http_request_response(const struct wire_http_request *r)
{
    return r != NULL && r->got_head ? &r->c->ps.head : NULL;
}

void
wire_http_request_pause_body(struct wire_http_request *r)
{
    if (r == NULL || r->body_paused)
        return;
    struct wire_http_client *c = r->c;
    r->body_paused = true;
    if (r != c->first || !r->got_head || c->dead || c->t == NULL)
        return;
    /* Our own slowness is not the server's. */
    if (c->timer_kind == CLI_TIMER_BODY)
        timer_stop(c);
    c->reading_paused = true;
    sync_reading(c);
}

void
wire_http_request_resume_body(struct wire_http_request *r)
{
    if (r == NULL || !r->body_paused)
        return;
    struct wire_http_client *c = r->c;
    r->body_paused = false;
    if (r != c->first || !r->got_head || c->dead || c->t == NULL)
        return;
    if (c->timer_kind == CLI_TIMER_NONE && !c->upgrading)
        timer_start(c, CLI_TIMER_BODY);
    /* What was held is parsed on a later turn, never inside this call. */
    c->soon_resume = true;
    schedule(c);
}

int
wire_http_request_take_over(struct wire_http_request *r,
                            struct wire_protocol *next, struct wire_error *err)
{
    if (r == NULL || next == NULL)
        return wire_error_set(err, WIRE_EINVAL, "take_over: no request or "
                                                "no protocol");
    struct wire_http_client *c = r->c;
    if (c->owner == NULL)
        return wire_error_set(err, WIRE_ENOTSUP, "take_over: this HTTP "
                                                 "client cannot hand its "
                                                 "transport over");
    if (c->in_response != r || !c->upgrading || c->next_proto != NULL)
        return wire_error_set(err, WIRE_ESTATE, "take_over: only once, from "
                                                "on_response of a 101 or of "
                                                "a 2xx to CONNECT");
    if (c->t == NULL || wire_transport_is_closing(c->t))
        return wire_error_set(err, WIRE_ECLOSED, "take_over: the connection "
                                                 "is closing");
    c->next_proto = next;
    return 0;
}

/* ---- reading ---- */

static int
perr(struct wire_http_client *c, int code, const char *msg)
{
    c->perr_code = code;
    snprintf(c->perr_msg, sizeof(c->perr_msg), "%s", msg);
    return HTTP_CB_ERROR;
}

/* HTTP/1.x keep-alive from the version and Connection alone: llhttp's
 * answer at the head assumes a body that a HEAD response does not have. */
static bool
version_keep_alive(const llhttp_t *p)
{
    if (p->http_major > 0 && p->http_minor > 0)
        return !(p->flags & F_CONNECTION_CLOSE);
    return (p->flags & F_CONNECTION_KEEP_ALIVE) != 0;
}

static int
on_head(struct http_parse *ps)
{
    struct wire_http_client *c = ps->owner;
    struct wire_http_request *r = c->first; /* awaiting(c) held */
    struct wire_http_head *hd = &ps->head;
    int st = hd->status;
    if (st >= 100 && st < 200 && st != 101) {
        c->interim = true; /* the server is alive: wait for the rest */
        timer_start(c, CLI_TIMER_HEAD);
        return HTTP_CB_SKIP_BODY;
    }
    if (st == 101 && !r->upgrade)
        return perr(c, WIRE_EPROTO, "a 101 Switching Protocols answered a "
                                    "request that asked for no upgrade");
    c->upgrading = st == 101 || (r->is_connect && st >= 200 && st < 300);
    if (c->upgrading)
        hd->upgrade = true;
    bool no_body = r->is_head || st == 204 || st == 304;
    if (r->is_head)
        hd->keep_alive = version_keep_alive(&ps->p);
    timer_stop(c);
    r->got_head = true;
    c->in_response = r;
    if (r->h.on_response != NULL)
        r->h.on_response(r->arg, r, hd);
    c->in_response = NULL;
    if (c->upgrading)
        return HTTP_CB_UPGRADE;
    if (no_body)
        return HTTP_CB_SKIP_BODY;
    if (r->body_paused)
        return HTTP_CB_PAUSE;
    timer_start(c, CLI_TIMER_BODY);
    return HTTP_CB_OK;
}

static int
on_body(struct http_parse *ps, const char *data, size_t len)
{
    struct wire_http_client *c = ps->owner;
    struct wire_http_request *r = c->first;
    if (c->timer_kind == CLI_TIMER_BODY)
        timer_start(c, CLI_TIMER_BODY);
    if (r->h.on_body != NULL)
        r->h.on_body(r->arg, r, data, len);
    return r->body_paused ? HTTP_CB_PAUSE : HTTP_CB_OK;
}

static int
on_complete(struct http_parse *ps)
{
    struct wire_http_client *c = ps->owner;
    if (c->interim) {
        c->interim = false;
        return HTTP_CB_PAUSE;
    }
    if (c->upgrading)
        return HTTP_CB_OK; /* finished once llhttp stopped (cli_upgraded) */
    struct wire_http_request *r = c->first;
    timer_stop(c);
    bool keep = ps->head.keep_alive && !r->conn_close && r->written;
    unsigned seq = r->seq;
    bool early = !r->written;
    if (!keep)
        c->dead = true; /* nothing more goes out, even from on_done */
    req_finish(c, r, NULL);
    if (!keep) {
        char why[160];
        if (early)
            snprintf(why, sizeof(why), "the response to request %u came "
                     "before its body was sent, so the connection is not "
                     "reused", seq);
        else
            snprintf(why, sizeof(why), "the server closed the connection "
                     "after request %u", seq);
        no_reuse(c, why);
        return HTTP_CB_PAUSE;
    }
    kick(c);
    if (c->first != NULL && c->first->written && !c->first->got_head)
        timer_start(c, CLI_TIMER_HEAD);
    /* A pause asked for a response that turned out to have no body (or
     * whose end came with its last bytes) ends with it. */
    if (c->reading_paused && c->held_len == 0 && !body_paused(c) && c->t != NULL) {
        c->reading_paused = false;
        sync_reading(c);
    }
    maybe_close(c);
    return HTTP_CB_PAUSE;
}

static const struct http_parse_ops parse_ops = {
    .on_head = on_head,
    .on_body = on_body,
    .on_complete = on_complete,
};

static void
parse_failed(struct wire_http_client *c)
{
    unsigned seq = c->first != NULL ? c->first->seq : 0;
    if (c->perr_code != 0) {
        cli_fail(c, c->perr_code, "http client: request %u: %s", seq, c->perr_msg);
        return;
    }
    int code;
    switch (c->ps.fail_status) {
    case 413:
    case 414:
    case 431:
        code = WIRE_EMSGSIZE;
        break;
    case 500:
        code = WIRE_ENOMEM;
        break;
    default:
        code = WIRE_EPROTO;
    }
    cli_fail(c, code, "http client: the response to request %u: %s", seq,
             c->ps.fail_msg);
}

/* llhttp stopped after a 101 or a 2xx to CONNECT; `rest` is what came
 * after the head. */
static void
cli_upgraded(struct wire_http_client *c, const char *rest, size_t len)
{
    struct wire_http_request *r = c->first;
    struct wire_protocol *next = c->next_proto;
    struct wire_transport *t = c->t;
    char why[128];
    snprintf(why, sizeof(why), "the connection %s after request %u",
             next != NULL ? "was handed over to another protocol"
                          : "switched protocols", r->seq);
    c->next_proto = NULL;
    c->upgrading = false;
    c->dead = true;
    timer_stop(c);
    if (next == NULL) {
        /* Nobody took it over: the response is whole, the connection
         * is of no further use to HTTP. */
        req_finish(c, r, NULL);
        fail_rest(c, WIRE_ECLOSED, why);
        wire_transport_close(t);
        return;
    }
    struct wire_error e = {0};
    struct wire_protocol *old = wire_transport_set_protocol(t, next, rest, len, &e);
    if (old == NULL) {
        wire_protocol_destroy(next);
        wire_error_copy(&c->close_err, &e);
        req_finish(c, r, &e);
        fail_rest(c, WIRE_ECLOSED, why);
        wire_transport_abort(t);
        wire_error_clear(&e);
        return;
    }
    /* `old` is our owner, whose callback we are inside: it is destroyed
     * on a later turn (which frees the engine), never here. */
    c->detached = true;
    c->t = NULL;
    c->reading_paused = false;
    c->handed_t = wire_transport_ref(t);
    c->refs++;
    wire_impl_defer(t, &c->handed);
    req_finish(c, r, NULL);
    fail_rest(c, WIRE_ECLOSED, why);
    report_close(c, NULL);
}

/* Keep `len` unparsed bytes and stop the transport's reading. */
static void
hold(struct wire_http_client *c, const char *data, size_t len)
{
    if (len > 0) {
        char *b = realloc(c->held, c->held_len + len);
        if (b == NULL) {
            cli_fail(c, WIRE_ENOMEM, "http client: out of memory");
            return;
        }
        memcpy(b + c->held_len, data, len);
        c->held = b;
        c->held_len += len;
    }
    c->reading_paused = true;
    sync_reading(c);
}

/* Parse `len` bytes; `nudge`: feed once even with none (to finish a
 * message whose end was paused). */
static void
cli_process(struct wire_http_client *c, const char *data, size_t len,
            bool nudge)
{
    for (;;) {
        if (c->dead || c->detached)
            return;
        if (body_paused(c)) {
            hold(c, data, len);
            return;
        }
        if (len == 0 && !nudge)
            return;
        if (len > 0 && http_parse_idle(&c->ps) && !awaiting(c)) {
            cli_fail(c, WIRE_EPROTO, "http client: the server sent %zu "
                     "bytes with no request outstanding", len);
            return;
        }
        nudge = false;
        size_t n = http_parse_feed(&c->ps, data, len);
        if (n == HTTP_PARSE_FAILED) {
            parse_failed(c);
            return;
        }
        data += n;
        len -= n;
        if (http_parse_upgraded(&c->ps)) {
            cli_upgraded(c, data, len);
            return;
        }
    }
}

static void do_eof(struct wire_http_client *c);

static void
resume_held(struct wire_http_client *c)
{
    char *buf = c->held;
    size_t len = c->held_len;
    c->held = NULL;
    c->held_len = 0;
    cli_process(c, buf, len, true);
    free(buf);
    if (c->dead || c->detached || body_paused(c) || c->t == NULL)
        return;
    if (c->eof_pending) {
        do_eof(c);
        return;
    }
    if (c->reading_paused) {
        c->reading_paused = false;
        sync_reading(c);
    }
}

static void
do_eof(struct wire_http_client *c)
{
    c->eof_pending = false;
    if (!c->dead && !c->detached) {
        cli_process(c, NULL, 0, true);
        if (!c->dead && !c->detached && !http_parse_idle(&c->ps)) {
            unsigned seq = c->first != NULL ? c->first->seq : 0;
            if (http_parse_eof(&c->ps) < 0 && !c->dead)
                cli_fail(c, WIRE_EINCOMPLETE, "http client: the connection "
                         "ended in the middle of the response to request %u",
                         seq);
        }
        if (!c->dead && !c->detached)
            no_reuse(c, "the server closed the connection");
    }
    if (c->t != NULL && !c->detached)
        wire_transport_close(c->t);
}

/* ---- the engine's interface (http_int.h) ---- */

/* After a take-over: destroy the protocol the transport returned. */
static void
handed_run(struct wire_soon *node)
{
    struct wire_http_client *c =
        (struct wire_http_client *)(void *)((char *)node -
                                            offsetof(struct wire_http_client, handed));
    struct wire_transport *t = c->handed_t;
    c->handed_t = NULL;
    wire_protocol_destroy(c->owner); /* frees our owner's reference */
    cli_unref(c);
    wire_transport_unref(t);
}

struct wire_http_client *
http_cli_new(const struct wire_http_client_opts *opts,
             struct wire_protocol *owner, struct wire_error *err)
{
    struct wire_http_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    if (opts != NULL)
        c->opts = *opts;
    if (c->opts.host != NULL) {
        if (!http_valid_value(c->opts.host) || c->opts.host[0] == '\0' ||
            strlen(c->opts.host) >= sizeof(c->host)) {
            free(c);
            wire_error_set(err, WIRE_EINVAL, "http client: the host is empty, "
                                             "too long or has CR/LF");
            return NULL;
        }
        c->host_opt = strdup(c->opts.host);
        if (c->host_opt == NULL) {
            free(c);
            goto nomem;
        }
        c->opts.host = c->host_opt;
    }
    http_limits_fill(&c->opts.limits);
    http_parse_init(&c->ps, false, &c->opts.limits, &parse_ops, c);
    c->owner = owner;
    c->refs = 1;
    c->handed.fn = handed_run;
    return c;
nomem:
    wire_error_set(err, WIRE_ENOMEM, "http client: out of memory");
    return NULL;
}

static void
timer_fired(void *arg)
{
    struct wire_http_client *c = arg;
    enum cli_timer kind = c->timer_kind;
    c->timer_kind = CLI_TIMER_NONE;
    unsigned seq = c->first != NULL ? c->first->seq : 0;
    if (kind == CLI_TIMER_HEAD)
        cli_fail(c, WIRE_ETIMEDOUT, "http client: no response head to request "
                 "%u within %llu ms", seq,
                 (unsigned long long)c->opts.limits.head_timeout_ms);
    else if (kind == CLI_TIMER_BODY)
        cli_fail(c, WIRE_ETIMEDOUT, "http client: the response body to request "
                 "%u stalled for %llu ms", seq,
                 (unsigned long long)c->opts.limits.body_timeout_ms);
}

void
http_cli_attach(struct wire_http_client *c, struct wire_transport *t)
{
    c->t = t;
    c->attached = true;
    struct wire_loop *loop = wire_transport_loop(t);
    if (loop != NULL && c->timer == NULL)
        c->timer = wire_timer_new(loop, timer_fired, c);
    char peer[300];
    const char *host = "localhost";
    if (c->opts.host != NULL) {
        host = c->opts.host;
    } else if (wire_transport_get_info(t, WIRE_INFO_PEER, peer, sizeof(peer)) > 0) {
        /* Only a network peer names a host ("tcp://example.org:80"). */
        if (strncmp(peer, "tcp://", 6) == 0 || strncmp(peer, "tls://", 6) == 0) {
            const char *h = peer + 6;
            if (*h != '\0' && strlen(h) < sizeof(c->host) && http_valid_value(h))
                host = h;
        }
    }
    snprintf(c->host, sizeof(c->host), "%s", host);
    kick(c);
    maybe_close(c);
}

void
http_cli_data(struct wire_http_client *c, const void *data, size_t len)
{
    if (c->held_len > 0 || body_paused(c)) {
        hold(c, data, len); /* nothing may pass the held bytes */
        return;
    }
    cli_process(c, data, len, false);
}

bool
http_cli_eof(struct wire_http_client *c)
{
    if (c->held_len > 0 || body_paused(c))
        c->eof_pending = true;
    else
        do_eof(c);
    return true;
}

void
http_cli_lost(struct wire_http_client *c, const struct wire_error *err)
{
    timer_stop(c);
    if (!c->dead && !c->detached) {
        c->dead = true;
        while (c->first != NULL) {
            struct wire_http_request *r = c->first;
            struct wire_error e = {0};
            if (err != NULL)
                wire_error_copy(&e, err);
            else if (r->got_head || !http_parse_idle(&c->ps))
                wire_error_set(&e, WIRE_EINCOMPLETE, "http client: the connection "
                               "ended in the middle of the response to request %u",
                               r->seq);
            else
                wire_error_set(&e, WIRE_ECLOSED, "http client: the connection "
                               "closed before request %u was answered", r->seq);
            req_finish(c, r, &e);
            wire_error_clear(&e);
        }
    }
    c->t = NULL;
    report_close(c, c->close_err.code != 0 ? &c->close_err : err);
}

void
http_cli_pause_writing(struct wire_http_client *c)
{
    c->write_paused = true;
}

void
http_cli_resume_writing(struct wire_http_client *c)
{
    c->write_paused = false;
    struct wire_http_request *r = c->wcur;
    if (r != NULL && r->want_writable && can_write(c, r)) {
        r->want_writable = false;
        if (r->h.on_writable != NULL)
            r->h.on_writable(r->arg, r);
    }
}

void
http_cli_hold_reading(struct wire_http_client *c, bool hold)
{
    if (hold == c->hold)
        return;
    c->hold = hold;
    if (c->timer != NULL && c->timer_kind != CLI_TIMER_NONE) {
        if (hold)
            wire_timer_stop(c->timer);
        else
            timer_start(c, c->timer_kind);
    }
    sync_reading(c);
}

void
http_cli_free(struct wire_http_client *c)
{
    if (c == NULL)
        return;
    if (!c->closed_reported) {
        /* Never attached (a failed connect), or an owner that frees
         * the engine without reporting the loss. */
        const char *why = c->attached ? "http client: the connection is gone"
                                      : "http client: the connection was never made";
        c->dead = true;
        fail_rest(c, WIRE_ECLOSED, why);
        struct wire_error e = {0};
        wire_error_set(&e, WIRE_ECLOSED, "%s", why);
        report_close(c, &e);
        wire_error_clear(&e);
    }
    c->freed = true;
    if (c->next_proto != NULL)
        wire_protocol_destroy(c->next_proto);
    c->next_proto = NULL;
    wire_timer_free(c->timer);
    c->timer = NULL;
    cli_unref(c);
}

/* ---- the public client protocol ---- */

struct cli_proto {
    struct wire_protocol base;
    struct wire_http_client *c;
};

static struct wire_http_client *
cli_of(struct wire_protocol *p)
{
    return ((struct cli_proto *)(void *)p)->c;
}

static void
cp_made(struct wire_protocol *p, struct wire_transport *t)
{
    http_cli_attach(cli_of(p), t);
}

static void
cp_data(struct wire_protocol *p, const void *data, size_t len)
{
    http_cli_data(cli_of(p), data, len);
}

static bool
cp_eof(struct wire_protocol *p)
{
    return http_cli_eof(cli_of(p));
}

static void
cp_lost(struct wire_protocol *p, const struct wire_error *err)
{
    http_cli_lost(cli_of(p), err);
}

static void
cp_pause(struct wire_protocol *p)
{
    http_cli_pause_writing(cli_of(p));
}

static void
cp_resume(struct wire_protocol *p)
{
    http_cli_resume_writing(cli_of(p));
}

static void
cp_destroy(struct wire_protocol *p)
{
    http_cli_free(cli_of(p));
    free(p);
}

static const struct wire_protocol_ops cli_proto_ops = {
    .connection_made = cp_made,
    .data_received = cp_data,
    .eof_received = cp_eof,
    .connection_lost = cp_lost,
    .pause_writing = cp_pause,
    .resume_writing = cp_resume,
    .destroy = cp_destroy,
};

struct wire_protocol *
wire_http_client_new(const struct wire_http_client_opts *opts,
                     struct wire_http_client **out, struct wire_error *err)
{
    if (out == NULL) {
        wire_error_set(err, WIRE_EINVAL, "http client: no handle to return");
        return NULL;
    }
    *out = NULL;
    struct cli_proto *cp = calloc(1, sizeof(*cp));
    if (cp == NULL) {
        wire_error_set(err, WIRE_ENOMEM, "http client: out of memory");
        return NULL;
    }
    wire_protocol_init(&cp->base, &cli_proto_ops);
    cp->c = http_cli_new(opts, &cp->base, err);
    if (cp->c == NULL) {
        free(cp);
        return NULL;
    }
    *out = cp->c;
    return &cp->base;
}

void
wire_http_client_close(struct wire_http_client *c)
{
    if (c == NULL || c->closed_reported)
        return;
    c->closing = true;
    maybe_close(c);
}
