/*
 * The HTTP/1.1 server (<wire/http.h>): the service, the per-connection
 * engine (struct http_srv, see http_int.h) and the thin protocol around
 * it.
 *
 * One engine serves one connection.  It feeds the bytes it reads to the
 * llhttp glue (head.c), makes an exchange per request head, streams the
 * body to the application and writes the response the application builds
 * with the wire_http_response_* calls.  Requests are handled one at a
 * time: the parser stops at the end of each request (and whenever the
 * application pauses the body) and the bytes after that point wait in
 * `in` (reading pauses once they pass the head limit) until the exchange
 * has ended.  The engine answers on its own what the parser rejects, and
 * closes.
 *
 * Re-entrancy: the application's callbacks run from inside the parser
 * (on_request, on_body, on_body_end) or from transport callbacks; the
 * application's calls (response end, body resume, upgrade) never run a
 * callback back: what they unblock runs on a later turn (schedule_run).
 */
#include "http_int.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the service ---- */

struct wire_http_service {
    unsigned refs;
    struct wire_http_handler h;
    void *arg;
    struct wire_http_limits limits;
    char *server_header;
};

struct wire_http_service *
wire_http_service_new(const struct wire_http_service_opts *opts,
                      const struct wire_http_handler *h, void *arg,
                      struct wire_error *err)
{
    if (h == NULL || h->on_request == NULL) {
        wire_error_set(err, WIRE_EINVAL, "http: the handler has no on_request");
        return NULL;
    }
    if (opts != NULL && opts->server_header != NULL &&
        !http_valid_value(opts->server_header)) {
        wire_error_set(err, WIRE_EINVAL, "http: the Server header has CR or LF");
        return NULL;
    }
    struct wire_http_service *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto nomem;
    s->refs = 1;
    s->h = *h;
    s->arg = arg;
    if (opts != NULL) {
        s->limits = opts->limits;
        if (opts->server_header != NULL &&
            (s->server_header = strdup(opts->server_header)) == NULL) {
            free(s);
            goto nomem;
        }
    }
    http_limits_fill(&s->limits);
    return s;
nomem:
    wire_error_set(err, WIRE_ENOMEM, "http: out of memory");
    return NULL;
}

struct wire_http_service *
wire_http_service_ref(struct wire_http_service *s)
{
    if (s != NULL)
        s->refs++;
    return s;
}

void
wire_http_service_unref(struct wire_http_service *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    free(s->server_header);
    free(s);
}

/* ---- the engine's state ---- */

enum resp_state {
    R_NONE,      /* nothing started */
    R_STARTED,   /* status (and headers) set, head not written */
    R_SENT,      /* head written, body going */
    R_ENDED,     /* the response is complete */
    R_UPGRADING  /* the 101/2xx is written; hand-over pending */
};

enum framing { FR_UNSET, FR_LENGTH, FR_CHUNKED, FR_CLOSE, FR_NOBODY };

enum timer_kind { T_NONE, T_HEAD, T_IDLE, T_BODY };

struct wire_http_exchange {
    struct http_srv *e;
    void *data;
    enum resp_state rs;
    enum framing framing;
    int status;
    char *reason;       /* NULL: the standard phrase */
    char *hdrs;         /* the application's header lines */
    size_t hlen, hcap;
    int64_t cl;         /* Content-Length set by the application, or -1 */
    uint64_t written;   /* body bytes written (or dropped) */
    bool head_req;      /* a HEAD request: no response body */
    bool has_date, has_server, app_close;
    bool will_close;    /* the connection closes after this response */
    bool req_done;      /* the request (head and body) is complete */
    bool body_paused, continue_sent, want_writable, done;
    struct wire_protocol *next; /* upgrade */
};

struct http_srv {
    struct wire_http_service *svc;
    struct wire_protocol *owner;
    struct wire_transport *t;
    struct http_parse ps;
    struct wire_http_exchange *x;
    /* read but not parsed yet */
    char *in;
    size_t in_off, in_len, in_cap;
    struct wire_timer *timer;
    enum timer_kind tkind;
    /* Buffers kept from one exchange for the next, so that a keep-alive
     * connection does not allocate them per request: the response head
     * being built (send_body), and an ended exchange's header-line buffer
     * (handed to the next exchange at on_head). */
    char *obuf;
    size_t ocap;
    char *spare_hdrs;
    size_t spare_hcap;
    unsigned refs;
    bool dead;        /* http_srv_free was called */
    bool lost;        /* connection_lost came */
    bool closing;     /* we closed (or handed over) the connection */
    bool handed;      /* the transport belongs to another protocol */
    bool eof;         /* the peer sent EOF */
    bool write_paused, read_paused;
    bool hold;        /* the owner holds reading (http_srv_hold_reading) */
    bool feeding;     /* inside http_parse_feed */
    bool head_bytes;  /* bytes of the next head arrived */
    bool poke;        /* feed the parser even with no bytes (after a body
                       * resume: a message paused on its last bytes, or
                       * right after its head, ends without more input) */
    /* why we closed, for on_done of an exchange cut short */
    int why_code;
    char why[200];
    struct wire_soon kick, bye;
    struct wire_transport *kick_t, *bye_t;
    struct wire_protocol *bye_proto;
};

static void run(struct http_srv *e, const char *data, size_t len);

#define srv_of_node(ptr, member)                                              \
    ((struct http_srv *)(void *)((char *)(ptr) - offsetof(struct http_srv, member)))

static void
srv_unref(struct http_srv *e)
{
    if (--e->refs > 0)
        return;
    wire_timer_free(e->timer);
    http_parse_free(&e->ps);
    free(e->in);
    free(e->obuf);
    free(e->spare_hdrs);
    wire_http_service_unref(e->svc);
    free(e);
}

static const struct wire_http_handler *
hnd(const struct http_srv *e)
{
    return &e->svc->h;
}

/* ---- small helpers ---- */

static void
timer_set(struct http_srv *e, enum timer_kind k, uint64_t ms)
{
    e->tkind = k;
    /* While the owner holds reading, our slowness is not the client's:
     * the timer starts (afresh) when the hold ends. */
    if (e->timer != NULL && !e->hold)
        wire_timer_start(e->timer, ms, 0);
}

static void
timer_stop(struct http_srv *e)
{
    /* T_NONE: not armed (every arming sets a kind; a fired timer is
     * T_NONE), so a second stop costs nothing. */
    if (e->tkind == T_NONE)
        return;
    e->tkind = T_NONE;
    if (e->timer != NULL)
        wire_timer_stop(e->timer);
}

static bool
gone(const struct http_srv *e)
{
    return e->t == NULL || e->lost || e->closing || e->handed ||
           wire_transport_is_closing(e->t);
}

static bool
req_has_body(const struct wire_http_head *h)
{
    return h->chunked || h->content_length > 0;
}

/* Room for `n` more bytes and a NUL in a growing buffer; false on
 * ENOMEM. */
static bool
buf_reserve(char **b, size_t len, size_t *cap, size_t n)
{
    if (len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < len + n + 1)
            c *= 2;
        char *nb = realloc(*b, c);
        if (nb == NULL)
            return false;
        *b = nb;
        *cap = c;
    }
    return true;
}

/* "name: value\r\n" in one step; false on ENOMEM. */
static bool
buf_add_line(char **b, size_t *len, size_t *cap, const char *name, size_t nl,
             const char *value, size_t vl)
{
    if (!buf_reserve(b, *len, cap, nl + vl + 4))
        return false;
    char *p = *b + *len;
    memcpy(p, name, nl);
    p[nl] = ':';
    p[nl + 1] = ' ';
    memcpy(p + nl + 2, value, vl);
    p[nl + 2 + vl] = '\r';
    p[nl + 3 + vl] = '\n';
    p[nl + 4 + vl] = '\0';
    *len += nl + vl + 4;
    return true;
}

/* Write `v` in decimal at `p` (at most 20 bytes); returns the end.  The
 * head's status and lengths: no snprintf on the per-request path. */
static char *
put_u64(char *p, uint64_t v)
{
    char tmp[20], *t = tmp + sizeof(tmp);
    do
        *--t = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    size_t n = (size_t)(tmp + sizeof(tmp) - t);
    memcpy(p, t, n);
    return p + n;
}

/* Remember why we end the connection (the first reason wins). */
static void
set_why(struct http_srv *e, int code, const char *msg)
{
    if (e->why_code != 0)
        return;
    e->why_code = code;
    snprintf(e->why, sizeof(e->why), "http: %s", msg);
}

/* ---- ending exchanges ---- */

/* The exchange is over: on_done once, then it is freed. */
static void
finish(struct wire_http_exchange *x, const struct wire_error *err)
{
    struct http_srv *e = x->e;
    if (x->done)
        return;
    x->done = true;
    if (e->x == x)
        e->x = NULL;
    if (hnd(e)->on_done != NULL)
        hnd(e)->on_done(e->svc->arg, x, err);
    if (x->next != NULL)
        wire_protocol_destroy(x->next);
    free(x->reason);
    /* Keep a small header buffer for the connection's next exchange. */
    if (e->spare_hdrs == NULL && x->hcap <= 1024) {
        e->spare_hdrs = x->hdrs;
        e->spare_hcap = x->hcap;
    } else {
        free(x->hdrs);
    }
    free(x);
}

static void
finish_err(struct wire_http_exchange *x, int code, const char *msg)
{
    struct wire_error err = {0};
    wire_error_set(&err, code, "%s", msg);
    finish(x, &err);
    wire_error_clear(&err);
}

static void
close_conn(struct http_srv *e)
{
    if (e->closing)
        return;
    e->closing = true;
    timer_stop(e);
    if (e->t != NULL)
        wire_transport_close(e->t);
}

static int
status_code_of(int status)
{
    switch (status) {
    case 408: return WIRE_ETIMEDOUT;
    case 413: case 414: case 431: return WIRE_EMSGSIZE;
    case 500: return WIRE_ENOMEM;
    default: return WIRE_EPROTO;
    }
}

/*
 * Fail the connection: answer `status` with a short text body when no
 * response head went out yet (status 0: quietly), then close after the
 * flush; abort when a response was half sent.  The current exchange
 * ends with the error.  Never called from an application's call.
 */
static void
fail_conn(struct http_srv *e, int status, const char *msg)
{
    if (e->closing || e->lost)
        return;
    struct wire_http_exchange *x = e->x;
    int code = status_code_of(status);
    set_why(e, code, msg);
    timer_stop(e);
    bool half_sent = x != NULL && x->rs >= R_SENT;
    if (status != 0 && !half_sent && e->t != NULL) {
        char body[300], date[32], head[512];
        int bl = snprintf(body, sizeof(body), "%d %s: %s\n", status,
                          wire_http_status_reason(status), msg);
        if (bl < 0 || (size_t)bl >= sizeof(body))
            bl = (int)strlen(body);
        http_date_now(date);
        const char *srv = e->svc->server_header;
        int hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 %d %s\r\nContent-Type: text/plain; "
                          "charset=utf-8\r\nContent-Length: %d\r\n"
                          "Connection: close\r\nDate: %s\r\n%s%s%s\r\n",
                          status, wire_http_status_reason(status), bl, date,
                          srv ? "Server: " : "", srv ? srv : "",
                          srv ? "\r\n" : "");
        if (hl > 0 && (size_t)hl < sizeof(head)) {
            struct iovec iov[2] = {{head, (size_t)hl}, {body, (size_t)bl}};
            wire_transport_write_sequence(e->t, iov, x != NULL && x->head_req ? 1 : 2);
        }
    }
    e->closing = true;
    if (e->t != NULL) {
        if (half_sent)
            wire_transport_abort(e->t);
        else
            wire_transport_close(e->t);
    }
    if (x != NULL)
        finish_err(x, e->why_code, e->why);
}

/* ---- deferred work ---- */

static void
kick_run(struct wire_soon *node)
{
    struct http_srv *e = srv_of_node(node, kick);
    struct wire_transport *t = e->kick_t;
    e->kick_t = NULL;
    if (!e->dead && !e->lost && !e->handed && e->t != NULL)
        run(e, NULL, 0);
    wire_transport_unref(t);
    srv_unref(e);
}

/* Run the engine on a later turn (after an application's call made
 * progress possible). */
static void
schedule_run(struct http_srv *e)
{
    if (e->kick_t != NULL || e->t == NULL || e->lost || e->dead || e->handed)
        return;
    e->refs++;
    e->kick_t = wire_transport_ref(e->t);
    e->kick.fn = kick_run;
    wire_impl_defer(e->t, &e->kick);
}

/* After an upgrade: destroy the HTTP protocol the transport returned. */
static void
bye_run(struct wire_soon *node)
{
    struct http_srv *e = srv_of_node(node, bye);
    struct wire_transport *t = e->bye_t;
    struct wire_protocol *p = e->bye_proto;
    e->bye_t = NULL;
    e->bye_proto = NULL;
    wire_protocol_destroy(p); /* the owner: frees its engine reference */
    wire_transport_unref(t);
    srv_unref(e);
}

/* ---- reading ---- */

static void
update_reading(struct http_srv *e)
{
    if (gone(e))
        return;
    struct wire_http_exchange *x = e->x;
    bool want = !e->hold && !(x != NULL && x->body_paused && !x->req_done) &&
                e->in_len <= e->svc->limits.max_header_bytes;
    if (want && e->read_paused) {
        e->read_paused = false;
        wire_transport_resume_reading(e->t);
    } else if (!want && !e->read_paused) {
        e->read_paused = true;
        wire_transport_pause_reading(e->t);
    }
}

static bool
in_add(struct http_srv *e, const char *d, size_t n, bool front)
{
    if (e->in_off > 0) {
        memmove(e->in, e->in + e->in_off, e->in_len);
        e->in_off = 0;
    }
    if (e->in_len + n > e->in_cap) {
        size_t c = e->in_cap ? e->in_cap : 1024;
        while (c < e->in_len + n)
            c *= 2;
        char *nb = realloc(e->in, c);
        if (nb == NULL)
            return false;
        e->in = nb;
        e->in_cap = c;
    }
    if (front) {
        memmove(e->in + n, e->in, e->in_len);
        memcpy(e->in, d, n);
    } else {
        memcpy(e->in + e->in_len, d, n);
    }
    e->in_len += n;
    return true;
}

/* The 100 Continue, once the application wants a body it has not
 * answered yet (RFC 9110 10.1.1; never to HTTP/1.0 clients). */
static void
maybe_continue(struct wire_http_exchange *x)
{
    struct http_srv *e = x->e;
    const struct wire_http_head *h = &e->ps.head;
    if (x->continue_sent || !h->expect_continue || h->version_minor == 0 ||
        x->rs >= R_SENT || x->req_done || x->body_paused || gone(e) ||
        !req_has_body(h))
        return;
    x->continue_sent = true;
    wire_transport_write(e->t, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* RFC 9112 3.2: a server answers 400 to an HTTP/1.1 request without a
 * Host header or with more than one. */
static bool
one_host(const struct wire_http_head *h)
{
    size_t n = 0;
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->headers[i].name, "host") == 0)
            n++;
    return n == 1;
}

static int
on_head(struct http_parse *ps)
{
    struct http_srv *e = ps->owner;
    timer_stop(e);
    e->head_bytes = false;
    if (ps->head.version_minor >= 1 && !one_host(&ps->head)) {
        ps->fail_status = 400;
        snprintf(ps->fail_msg, sizeof(ps->fail_msg),
                 "an HTTP/1.1 request needs exactly one Host header");
        return HTTP_CB_ERROR;
    }
    struct wire_http_exchange *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        ps->fail_status = 500;
        snprintf(ps->fail_msg, sizeof(ps->fail_msg), "out of memory");
        return HTTP_CB_ERROR;
    }
    x->e = e;
    x->cl = -1;
    x->hdrs = e->spare_hdrs; /* empty (hlen 0), NULL or not */
    x->hcap = e->spare_hcap;
    e->spare_hdrs = NULL;
    e->spare_hcap = 0;
    x->head_req = strcmp(ps->head.method, "HEAD") == 0;
    e->x = x;
    if (req_has_body(&ps->head))
        timer_set(e, T_BODY, e->svc->limits.body_timeout_ms);
    hnd(e)->on_request(e->svc->arg, x);
    if (x->rs == R_UPGRADING)
        return HTTP_CB_UPGRADE; /* what follows the head is not HTTP */
    if (x->body_paused) {
        timer_stop(e);
        return HTTP_CB_PAUSE;
    }
    maybe_continue(x);
    return HTTP_CB_OK;
}

static int
on_body(struct http_parse *ps, const char *data, size_t len)
{
    struct http_srv *e = ps->owner;
    struct wire_http_exchange *x = e->x;
    if (e->tkind == T_BODY)
        timer_set(e, T_BODY, e->svc->limits.body_timeout_ms);
    if (hnd(e)->on_body != NULL)
        hnd(e)->on_body(e->svc->arg, x, data, len);
    if (x->body_paused) {
        timer_stop(e);
        return HTTP_CB_PAUSE;
    }
    /* Answered with Connection: close: the rest is of no use. */
    if (x->rs == R_ENDED && x->will_close)
        return HTTP_CB_PAUSE;
    return HTTP_CB_OK;
}

static int
on_complete(struct http_parse *ps)
{
    struct http_srv *e = ps->owner;
    struct wire_http_exchange *x = e->x;
    timer_stop(e);
    x->req_done = true;
    if (hnd(e)->on_body_end != NULL)
        hnd(e)->on_body_end(e->svc->arg, x);
    /* Stop here: the next request waits for this exchange's end. */
    return HTTP_CB_PAUSE;
}

static const struct http_parse_ops srv_parse_ops = {
    .on_head = on_head,
    .on_body = on_body,
    .on_complete = on_complete,
};

/* ---- the upgrade hand-over ---- */

static void
hand_over(struct http_srv *e, const char *pending, size_t plen)
{
    struct wire_http_exchange *x = e->x;
    struct wire_protocol *next = x->next;
    struct wire_transport *t = e->t;
    struct wire_error err = {0};
    x->next = NULL;
    timer_stop(e);
    wire_transport_ref(t);
    struct wire_protocol *old = wire_transport_set_protocol(t, next, pending,
                                                            plen, &err);
    if (old == NULL) {
        wire_protocol_destroy(next);
        set_why(e, err.code, err.message);
        e->closing = true;
        wire_transport_abort(t);
        finish_err(x, e->why_code, e->why);
        wire_error_clear(&err);
        wire_transport_unref(t);
        return;
    }
    e->handed = true;
    e->closing = true;
    e->in_len = e->in_off = 0;
    finish(x, NULL);
    /* `old` is our owner, whose callback we may be inside: destroy it on
     * a later turn (the transport reference moves to that node). */
    e->refs++;
    e->bye_t = t;
    e->bye_proto = old;
    e->bye.fn = bye_run;
    wire_impl_defer(t, &e->bye);
    e->t = NULL;
}

/* ---- the main step ---- */

static bool
can_feed(const struct http_srv *e)
{
    const struct wire_http_exchange *x = e->x;
    if (gone(e))
        return false;
    if (x == NULL)
        return true;
    return !x->req_done && !x->body_paused;
}

/* The exchange's end after the response and the request are both done
 * (or the response ended the connection). */
static bool
finishable(const struct wire_http_exchange *x)
{
    return x != NULL && x->rs == R_ENDED && (x->req_done || x->will_close);
}

/*
 * Parse what is buffered and `data`, as far as the state allows; keep
 * the rest.  Called from data_received and from deferred kicks, never
 * from an application's call.
 */
static void
run(struct http_srv *e, const char *data, size_t len)
{
    if (len > 0 && (e->in_len > 0 || e->feeding)) {
        if (!in_add(e, data, len, false)) {
            fail_conn(e, 500, "out of memory");
            return;
        }
        len = 0;
    }
    if (e->feeding)
        return; /* the running loop will get to it */
    e->refs++;
    for (;;) {
        struct wire_http_exchange *x = e->x;
        bool direct = len > 0;
        const char *src = direct ? data : e->in + e->in_off;
        size_t avail = direct ? len : e->in_len;
        if (finishable(x)) {
            bool close = x->will_close;
            finish(x, NULL);
            if (close || (e->eof && avail == 0)) {
                close_conn(e);
                break;
            }
            if (avail == 0)
                timer_set(e, T_IDLE, e->svc->limits.idle_timeout_ms);
            continue;
        }
        if (x != NULL && x->rs == R_UPGRADING && x->req_done) {
            hand_over(e, src, avail);
            len = 0;
            break;
        }
        if (!can_feed(e) || (avail == 0 && !(e->poke && x != NULL)))
            break;
        e->poke = false;
        if (x == NULL) {
            if (http_parse_upgraded(&e->ps)) /* an upgrade answered plainly */
                http_parse_resume_after_upgrade(&e->ps);
            e->head_bytes = true;
        }
        e->feeding = true;
        size_t n = http_parse_feed(&e->ps, src, avail);
        e->feeding = false;
        if (n == HTTP_PARSE_FAILED) {
            fail_conn(e, e->ps.fail_status, e->ps.fail_msg);
            len = 0;
            break;
        }
        /* A head begun and not complete: its timeout runs from now (the
         * bytes came this turn).  Armed only here, so that a head that
         * arrives whole, the usual case, costs no timer change but
         * on_head's stop. */
        if (x == NULL && e->x == NULL && !gone(e) && e->tkind != T_HEAD)
            timer_set(e, T_HEAD, e->svc->limits.head_timeout_ms);
        if (direct) {
            data += n;
            len -= n;
        } else {
            e->in_off += n;
            e->in_len -= n;
        }
        /* No progress and nothing that changed the state: wait. */
        if (n == 0 && e->x == x && !finishable(x) &&
            !(x != NULL && x->rs == R_UPGRADING && x->req_done) &&
            !(x == NULL && http_parse_upgraded(&e->ps)))
            break;
    }
    if (len > 0 && !gone(e) && !in_add(e, data, len, true))
        fail_conn(e, 500, "out of memory");
    if (e->in_len == 0)
        e->in_off = 0;
    /* After the peer's EOF, nothing more comes: a partial request (or
     * none) left without an exchange means we are done. */
    if (e->eof && e->x == NULL && !gone(e))
        close_conn(e);
    update_reading(e);
    srv_unref(e);
}

/* ---- the engine's interface (http_int.h) ---- */

struct http_srv *
http_srv_new(struct wire_http_service *s, struct wire_protocol *owner)
{
    struct http_srv *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->svc = wire_http_service_ref(s);
    e->owner = owner;
    e->refs = 1;
    http_parse_init(&e->ps, true, &s->limits, &srv_parse_ops, e);
    return e;
}

static void
timer_fired(void *arg)
{
    struct http_srv *e = arg;
    enum timer_kind k = e->tkind;
    char msg[120];
    e->tkind = T_NONE;
    e->refs++;
    switch (k) {
    case T_HEAD:
        if (!e->head_bytes) {
            close_conn(e); /* nothing was asked: close quietly */
            break;
        }
        snprintf(msg, sizeof(msg), "the request head did not arrive within %" PRIu64 " ms",
                 e->svc->limits.head_timeout_ms);
        fail_conn(e, 408, msg);
        break;
    case T_BODY:
        snprintf(msg, sizeof(msg), "no request body bytes came for %" PRIu64 " ms",
                 e->svc->limits.body_timeout_ms);
        fail_conn(e, 408, msg);
        break;
    case T_IDLE:
        close_conn(e);
        break;
    case T_NONE:
        break;
    }
    srv_unref(e);
}

void
http_srv_attach(struct http_srv *e, struct wire_transport *t)
{
    e->t = t;
    struct wire_loop *loop = wire_transport_loop(t);
    if (loop != NULL && e->timer == NULL)
        e->timer = wire_timer_new(loop, timer_fired, e);
    e->head_bytes = false;
    timer_set(e, T_HEAD, e->svc->limits.head_timeout_ms);
}

void
http_srv_data(struct http_srv *e, const void *data, size_t len)
{
    if (gone(e) || len == 0)
        return;
    run(e, data, len);
}

bool
http_srv_eof(struct http_srv *e)
{
    e->eof = true;
    if (gone(e))
        return false;
    struct wire_http_exchange *x = e->x;
    if (x == NULL || x->rs == R_UPGRADING)
        return false; /* nothing owed (a partial head is dropped) */
    if (!x->req_done) {
        set_why(e, WIRE_EINCOMPLETE, "the client ended the connection inside "
                                     "the request body");
        e->closing = true;
        timer_stop(e);
        finish_err(x, e->why_code, e->why);
        return false;
    }
    /* The request is complete: answer it (and what is buffered), then
     * close. */
    return true;
}

void
http_srv_lost(struct http_srv *e, const struct wire_error *err)
{
    e->lost = true;
    timer_stop(e);
    struct wire_http_exchange *x = e->x;
    if (x != NULL) {
        if (e->why_code != 0)
            finish_err(x, e->why_code, e->why);
        else if (err != NULL)
            finish(x, err);
        else
            finish_err(x, WIRE_ECLOSED, "http: the connection closed before "
                                        "the exchange was complete");
    }
    e->t = NULL;
}

void
http_srv_pause_writing(struct http_srv *e)
{
    e->write_paused = true;
}

void
http_srv_resume_writing(struct http_srv *e)
{
    e->write_paused = false;
    struct wire_http_exchange *x = e->x;
    if (x != NULL && x->want_writable && !x->done) {
        x->want_writable = false;
        if (hnd(e)->on_writable != NULL)
            hnd(e)->on_writable(e->svc->arg, x);
    }
}

void
http_srv_hold_reading(struct http_srv *e, bool hold)
{
    if (hold == e->hold)
        return;
    e->hold = hold;
    if (e->timer != NULL && e->tkind != T_NONE) {
        if (hold) {
            wire_timer_stop(e->timer);
        } else {
            const struct wire_http_limits *l = &e->svc->limits;
            timer_set(e, e->tkind,
                      e->tkind == T_HEAD   ? l->head_timeout_ms
                      : e->tkind == T_IDLE ? l->idle_timeout_ms
                                           : l->body_timeout_ms);
        }
    }
    update_reading(e);
}

int
http_srv_error(const struct http_srv *e, const char **msg)
{
    *msg = e->why;
    return e->why_code;
}

void
http_srv_free(struct http_srv *e)
{
    if (e == NULL)
        return;
    e->dead = true;
    if (e->x != NULL)
        finish_err(e->x, WIRE_ECLOSED, "http: the connection is gone");
    timer_stop(e);
    srv_unref(e);
}

/* ---- exchanges ---- */

const struct wire_http_head *
wire_http_exchange_request(const struct wire_http_exchange *x)
{
    return x != NULL ? &x->e->ps.head : NULL;
}

struct wire_transport *
wire_http_exchange_transport(const struct wire_http_exchange *x)
{
    return x != NULL ? x->e->t : NULL;
}

void
wire_http_exchange_set_data(struct wire_http_exchange *x, void *data)
{
    if (x != NULL)
        x->data = data;
}

void *
wire_http_exchange_data(const struct wire_http_exchange *x)
{
    return x != NULL ? x->data : NULL;
}

void
wire_http_body_pause(struct wire_http_exchange *x)
{
    if (x == NULL || x->done || x->req_done || x->body_paused)
        return;
    struct http_srv *e = x->e;
    x->body_paused = true;
    if (e->tkind == T_BODY)
        timer_stop(e);
    update_reading(e);
}

void
wire_http_body_resume(struct wire_http_exchange *x)
{
    if (x == NULL || x->done || !x->body_paused)
        return;
    struct http_srv *e = x->e;
    x->body_paused = false;
    if (x->req_done)
        return;
    maybe_continue(x);
    e->poke = true;
    if (!gone(e) && !e->feeding && e->tkind == T_NONE)
        timer_set(e, T_BODY, e->svc->limits.body_timeout_ms);
    update_reading(e);
    schedule_run(e); /* what is buffered goes up on a later turn */
}

/* ---- responses ---- */

static int
check_live(const struct wire_http_exchange *x)
{
    if (x == NULL)
        return WIRE_EINVAL;
    if (x->rs == R_ENDED || x->rs == R_UPGRADING)
        return WIRE_ESTATE;
    if (x->done || gone(x->e))
        return WIRE_ECLOSED;
    return 0;
}

int
wire_http_response_start(struct wire_http_exchange *x, int status,
                         const char *reason)
{
    int rc = check_live(x);
    if (rc < 0)
        return rc;
    if (x->rs != R_NONE)
        return WIRE_ESTATE;
    if (status < 200 || status > 999 || (reason != NULL && !http_valid_value(reason)))
        return WIRE_EINVAL;
    if (reason != NULL && (x->reason = strdup(reason)) == NULL)
        return WIRE_ENOMEM;
    x->status = status;
    x->rs = R_STARTED;
    return 0;
}

static bool
parse_length(const char *v, int64_t *out)
{
    uint64_t n = 0;
    if (*v == '\0')
        return false;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9' || n > (uint64_t)INT64_MAX / 10)
            return false;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    if (n > (uint64_t)INT64_MAX)
        return false;
    *out = (int64_t)n;
    return true;
}

int
wire_http_response_header(struct wire_http_exchange *x, const char *name,
                          const char *value)
{
    int rc = check_live(x);
    if (rc < 0)
        return rc;
    if (x->rs != R_NONE && x->rs != R_STARTED)
        return WIRE_ESTATE;
    if (!http_valid_name(name) || !http_valid_value(value))
        return WIRE_EINVAL;
    if (strcasecmp(name, "content-length") == 0) {
        int64_t n;
        if (x->cl >= 0 || !parse_length(value, &n))
            return WIRE_EINVAL;
        x->cl = n;
        return 0; /* written with the framing */
    }
    if (strcasecmp(name, "transfer-encoding") == 0)
        return WIRE_EINVAL; /* the framing is the server's */
    if (strcasecmp(name, "connection") == 0) {
        if (http_list_has(value, "close")) {
            x->app_close = true;
            return 0;
        }
        if (strcasecmp(value, "keep-alive") == 0)
            return 0;
    }
    if (strcasecmp(name, "date") == 0)
        x->has_date = true;
    if (strcasecmp(name, "server") == 0)
        x->has_server = true;
    if (!buf_add_line(&x->hdrs, &x->hlen, &x->hcap, name, strlen(name), value,
                      strlen(value)))
        return WIRE_ENOMEM;
    return 0;
}

/* Choose the framing when the head goes out (`at_end`: end came first). */
static void
choose_framing(struct wire_http_exchange *x, bool at_end)
{
    struct http_srv *e = x->e;
    const struct wire_http_head *h = &e->ps.head;
    int st = x->status;
    if (x->head_req || st / 100 == 1 || st == 204 || st == 304 ||
        (st / 100 == 2 && strcmp(h->method, "CONNECT") == 0))
        x->framing = FR_NOBODY;
    else if (x->cl >= 0)
        x->framing = FR_LENGTH;
    else if (at_end) {
        x->framing = FR_LENGTH;
        x->cl = 0;
    } else if (h->version_minor >= 1)
        x->framing = FR_CHUNKED;
    else
        x->framing = FR_CLOSE;
    x->will_close = x->app_close || !h->keep_alive || x->framing == FR_CLOSE ||
                    (e->eof && e->in_len == 0) || gone(e) ||
                    /* the client may or may not send a body it was not
                     * asked for: only closing tells where it ends */
                    (h->expect_continue && !x->continue_sent && !x->req_done &&
                     req_has_body(h));
}

/* The head as it goes out, into *b (NUL-terminated); false on ENOMEM. */
static bool
build_head(struct wire_http_exchange *x, char **b, size_t *len, size_t *cap)
{
    struct http_srv *e = x->e;
    const struct wire_http_head *h = &e->ps.head;
    const char *reason = x->reason ? x->reason : wire_http_status_reason(x->status);
    const char *srv = x->has_server ? NULL : e->svc->server_header;
    size_t rl = strlen(reason), sl = srv != NULL ? strlen(srv) : 0;
    /* Room for the longest head this can be, reserved once; then the
     * pieces are copied in (this runs for every response). */
    size_t most = sizeof("HTTP/1.1 \r\n") + 20 + rl + x->hlen +
                  sizeof("Content-Length: \r\n") + 20 +
                  sizeof("Connection: keep-alive\r\n") +
                  sizeof("Date: \r\n") + 30 + sizeof("Server: \r\n") + sl +
                  sizeof("\r\n");
    if (!buf_reserve(b, *len, cap, most))
        return false;
    char *p = *b + *len;
#define PUT(s, n) (memcpy(p, (s), (n)), p += (n))
#define PUT_LIT(s) PUT(s, sizeof(s) - 1)
    PUT_LIT("HTTP/1.1 ");
    p = put_u64(p, (uint64_t)x->status);
    *p++ = ' ';
    PUT(reason, rl);
    PUT_LIT("\r\n");
    if (x->hlen > 0)
        PUT(x->hdrs, x->hlen);
    if (x->rs != R_UPGRADING) {
        int st = x->status;
        bool length = false;
        uint64_t n = 0;
        if (x->framing == FR_LENGTH) {
            length = true;
            n = (uint64_t)x->cl;
        } else if (x->framing == FR_CHUNKED) {
            PUT_LIT("Transfer-Encoding: chunked\r\n");
        } else if (x->framing == FR_NOBODY && st / 100 != 1 && st != 204 &&
                   !(st / 100 == 2 && strcmp(h->method, "CONNECT") == 0)) {
            /* HEAD (and 304): the length the body would have had */
            length = x->cl >= 0 || x->head_req;
            n = x->cl >= 0 ? (uint64_t)x->cl : x->written;
        }
        if (length) {
            PUT_LIT("Content-Length: ");
            p = put_u64(p, n);
            PUT_LIT("\r\n");
        }
        if (x->will_close)
            PUT_LIT("Connection: close\r\n");
        else if (h->version_minor == 0)
            PUT_LIT("Connection: keep-alive\r\n");
    }
    if (!x->has_date) {
        PUT_LIT("Date: ");
        p += http_date_now(p); /* 29 bytes and a NUL, overwritten */
        PUT_LIT("\r\n");
    }
    if (srv != NULL) {
        PUT_LIT("Server: ");
        PUT(srv, sl);
        PUT_LIT("\r\n");
    }
    PUT_LIT("\r\n");
#undef PUT_LIT
#undef PUT
    *p = '\0';
    *len = (size_t)(p - *b);
    return true;
}

/* Write the head (if due), then `data` framed, with `iov` room for it.
 * `ref`: data goes by write_ref with (free_cb, arg). */
static int
send_body(struct wire_http_exchange *x, const void *data, size_t len,
          wire_free_cb free_cb, void *arg, bool ref)
{
    struct http_srv *e = x->e;
    /* The head goes into the engine's kept buffer (the write copies it). */
    size_t hl = 0;
    if (x->rs == R_STARTED) {
        bool ok = build_head(x, &e->obuf, &hl, &e->ocap);
        if (!ok)
            return WIRE_ENOMEM;
    }
    char *head = e->obuf;
    char chdr[24];
    struct iovec iov[4];
    int n = 0;
    if (hl > 0)
        iov[n++] = (struct iovec){head, hl};
    bool chunk = x->framing == FR_CHUNKED && len > 0;
    if (chunk) {
        int cl = snprintf(chdr, sizeof(chdr), "%zx\r\n", len);
        iov[n++] = (struct iovec){chdr, (size_t)cl};
    }
    int rc = 0;
    if (ref) {
        if (n > 0)
            rc = wire_transport_write_sequence(e->t, iov, n);
        if (rc == 0 && len > 0)
            rc = wire_transport_write_ref(e->t, data, len, free_cb, arg);
        else if (rc == 0 && free_cb != NULL)
            free_cb(arg, data, len);
        if (rc == 0 && chunk)
            rc = wire_transport_write(e->t, "\r\n", 2);
    } else {
        if (len > 0)
            iov[n++] = (struct iovec){(void *)(uintptr_t)data, len};
        if (chunk)
            iov[n++] = (struct iovec){"\r\n", 2};
        if (n > 0)
            rc = wire_transport_write_sequence(e->t, iov, n);
    }
    if (rc < 0)
        return rc;
    x->rs = R_SENT;
    x->written += len;
    return 0;
}

static int
body_write(struct wire_http_exchange *x, const void *data, size_t len,
           wire_free_cb free_cb, void *arg, bool ref)
{
    int rc = check_live(x);
    if (rc < 0)
        return rc;
    if (x->rs == R_NONE)
        return WIRE_ESTATE;
    if (data == NULL && len > 0)
        return WIRE_EINVAL;
    if (x->framing == FR_UNSET)
        choose_framing(x, false);
    if (x->framing == FR_LENGTH && x->written + len > (uint64_t)x->cl)
        return WIRE_EINVAL;
    if (x->framing == FR_NOBODY) {
        /* Dropped (HEAD, 204, 304); the head goes out with end. */
        x->written += len;
        if (ref && free_cb != NULL)
            free_cb(arg, data, len);
        return 0;
    }
    rc = send_body(x, data, len, free_cb, arg, ref);
    if (rc < 0)
        return rc;
    if (x->e->write_paused) {
        x->want_writable = true;
        return 1;
    }
    return 0;
}

int
wire_http_response_write(struct wire_http_exchange *x, const void *data,
                         size_t len)
{
    return body_write(x, data, len, NULL, NULL, false);
}

int
wire_http_response_write_ref(struct wire_http_exchange *x, const void *data,
                             size_t len, wire_free_cb free_cb, void *arg)
{
    return body_write(x, data, len, free_cb, arg, true);
}

int
wire_http_response_end(struct wire_http_exchange *x)
{
    int rc = check_live(x);
    if (rc < 0)
        return rc;
    if (x->rs == R_NONE)
        return WIRE_ESTATE;
    struct http_srv *e = x->e;
    if (x->framing == FR_UNSET)
        choose_framing(x, true);
    if (x->framing == FR_LENGTH && x->written < (uint64_t)x->cl) {
        /* The client waits for bytes that will never come: cut the
         * connection so it knows (on_done gets this error). */
        set_why(e, WIRE_EINVAL, "the response ended before its Content-Length");
        x->rs = R_ENDED;
        e->closing = true;
        timer_stop(e);
        wire_transport_abort(e->t);
        return WIRE_EINVAL;
    }
    if (x->rs == R_STARTED)
        rc = send_body(x, NULL, 0, NULL, NULL, false);
    else if (x->framing == FR_CHUNKED)
        rc = wire_transport_write(e->t, "0\r\n\r\n", 5);
    if (rc < 0)
        return rc;
    x->rs = R_ENDED;
    if (!e->feeding && finishable(x))
        schedule_run(e);
    if (e->write_paused) {
        x->want_writable = true;
        return 1;
    }
    return 0;
}

int
wire_http_respond(struct wire_http_exchange *x, int status,
                  const char *content_type, const void *body, size_t len)
{
    if (x == NULL || (body == NULL && len > 0))
        return WIRE_EINVAL;
    int rc = wire_http_response_start(x, status, NULL);
    if (rc < 0)
        return rc;
    /* What wire_http_response_header would do for this one name, without
     * its checks of the name (the exchange is live: it just started). */
    if (content_type != NULL) {
        if (!http_valid_value(content_type))
            return WIRE_EINVAL;
        if (!buf_add_line(&x->hdrs, &x->hlen, &x->hcap, "Content-Type", 12,
                          content_type, strlen(content_type)))
            return WIRE_ENOMEM;
    }
    if (x->cl < 0)
        x->cl = (int64_t)len;
    if (len > 0 && (rc = wire_http_response_write(x, body, len)) < 0)
        return rc;
    return wire_http_response_end(x);
}

int
wire_http_exchange_upgrade(struct wire_http_exchange *x, int status,
                           struct wire_protocol *next, struct wire_error *err)
{
    if (x == NULL || next == NULL)
        return wire_error_set(err, WIRE_EINVAL, "http upgrade: no exchange or "
                                                "no protocol");
    int rc = check_live(x);
    if (rc < 0)
        return wire_error_set(err, rc, "http upgrade: the exchange is %s",
                              rc == WIRE_ECLOSED ? "gone" : "answered");
    struct http_srv *e = x->e;
    if (!e->ps.head.upgrade || x->rs >= R_SENT)
        return wire_error_set(err, WIRE_ESTATE, "http upgrade: %s",
                              x->rs >= R_SENT ? "a response is under way"
                                              : "the request asks for no upgrade");
    if (e->owner == NULL)
        return wire_error_set(err, WIRE_ENOTSUP, "http upgrade: not over this "
                                                 "transport");
    if (status != 101 && status / 100 != 2)
        return wire_error_set(err, WIRE_EINVAL, "http upgrade: status %d is "
                                                "neither 101 nor 2xx", status);
    x->status = status;
    x->rs = R_UPGRADING;
    char *head = NULL;
    size_t hl = 0, hc = 0;
    if (!build_head(x, &head, &hl, &hc)) {
        free(head);
        x->rs = R_STARTED;
        return wire_error_set(err, WIRE_ENOMEM, "http upgrade: out of memory");
    }
    rc = wire_transport_write(e->t, head, hl);
    free(head);
    if (rc < 0) {
        x->rs = R_STARTED;
        return wire_error_set(err, rc, "http upgrade: %s", wire_strerror(rc));
    }
    x->next = next;
    timer_stop(e);
    if (!e->feeding)
        schedule_run(e);
    return 0;
}

/* ---- the server protocol: a thin wrapper ---- */

struct srv_proto {
    struct wire_protocol base;
    struct http_srv *e;
};

static struct http_srv *
eng(struct wire_protocol *p)
{
    return ((struct srv_proto *)p)->e;
}

static void
sp_made(struct wire_protocol *p, struct wire_transport *t)
{
    http_srv_attach(eng(p), t);
}

static void
sp_data(struct wire_protocol *p, const void *data, size_t len)
{
    http_srv_data(eng(p), data, len);
}

static bool
sp_eof(struct wire_protocol *p)
{
    return http_srv_eof(eng(p));
}

static void
sp_lost(struct wire_protocol *p, const struct wire_error *err)
{
    http_srv_lost(eng(p), err);
}

static void
sp_pause(struct wire_protocol *p)
{
    http_srv_pause_writing(eng(p));
}

static void
sp_resume(struct wire_protocol *p)
{
    http_srv_resume_writing(eng(p));
}

static void
sp_destroy(struct wire_protocol *p)
{
    http_srv_free(eng(p));
    free(p);
}

static const struct wire_protocol_ops srv_proto_ops = {
    .connection_made = sp_made,
    .data_received = sp_data,
    .eof_received = sp_eof,
    .connection_lost = sp_lost,
    .pause_writing = sp_pause,
    .resume_writing = sp_resume,
    .destroy = sp_destroy,
};

struct wire_protocol *
wire_http_server_protocol_new(struct wire_http_service *s)
{
    if (s == NULL)
        return NULL;
    struct srv_proto *sp = calloc(1, sizeof(*sp));
    if (sp == NULL)
        return NULL;
    wire_protocol_init(&sp->base, &srv_proto_ops);
    sp->e = http_srv_new(s, &sp->base);
    if (sp->e == NULL) {
        free(sp);
        return NULL;
    }
    return &sp->base;
}

struct wire_protocol *
wire_http_service_factory(void *arg)
{
    return wire_http_server_protocol_new(arg);
}
