/*
 * The HTTP/1.1 server (<wire/http.h>): the per-connection engine (struct
 * http_srv, see http_int.h).  The exchange and response calls are in
 * server_response.c; the service and the thin protocol around the engine
 * in server_proto.c.
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
 * callback back: what they unblock runs on a later turn
 * (http_srv_schedule_run).
 */
#include "http_int.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/*
 * The connection's one timer is lazy: a keep-alive connection stops it
 * at each request's head and sets it again (T_IDLE) after each response,
 * and re-arming a libevent timer twice per request cost about as much as
 * the rest of the loop's work for the request.  So a stop only forgets
 * the kind, and a set that expires no earlier than the armed timer only
 * moves `deadline`; when the timer fires early for its kind, it re-arms
 * for what is left.  A stale timer that fires with no kind does nothing.
 */
static void
timer_arm(struct http_srv *e, uint64_t now, uint64_t ms)
{
    e->armed_for = now + ms;
    wire_timer_start(e->timer, ms, 0);
}

void
http_srv_timer_set(struct http_srv *e, enum timer_kind k, uint64_t ms)
{
    e->tkind = k;
    /* While the owner holds reading, our slowness is not the client's:
     * the timer starts (afresh) when the hold ends. */
    if (e->timer == NULL || e->hold)
        return;
    uint64_t now = wire_loop_now(e->loop);
    e->deadline = now + ms;
    if (e->armed_for != 0 && e->armed_for <= e->deadline &&
        wire_timer_is_active(e->timer))
        return; /* it fires first, and re-arms for the rest */
    timer_arm(e, now, ms);
}

void
http_srv_timer_stop(struct http_srv *e)
{
    /* T_NONE: not armed (every arming sets a kind; a fired timer is
     * T_NONE), so a second stop costs nothing.  The timer itself stays
     * armed (see above) unless reading is held. */
    e->tkind = T_NONE;
}

bool
http_srv_gone(const struct http_srv *e)
{
    return e->t == NULL || e->lost || e->closing || e->handed ||
           wire_transport_is_closing(e->t);
}

bool
http_srv_req_has_body(const struct wire_http_head *h)
{
    return h->chunked || h->content_length > 0;
}

/* Remember why we end the connection (the first reason wins). */
void
http_srv_set_why(struct http_srv *e, int code, const char *msg)
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
    http_srv_timer_stop(e);
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
    http_srv_set_why(e, code, msg);
    http_srv_timer_stop(e);
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
void
http_srv_schedule_run(struct http_srv *e)
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

void
http_srv_update_reading(struct http_srv *e)
{
    if (http_srv_gone(e))
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
void
http_srv_maybe_continue(struct wire_http_exchange *x)
{
    struct http_srv *e = x->e;
    const struct wire_http_head *h = &e->ps.head;
    if (x->continue_sent || !h->expect_continue || h->version_minor == 0 ||
        x->rs >= R_SENT || x->req_done || x->body_paused || http_srv_gone(e) ||
        !http_srv_req_has_body(h))
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
    http_srv_timer_stop(e);
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
    if (http_srv_req_has_body(&ps->head))
        http_srv_timer_set(e, T_BODY, e->svc->limits.body_timeout_ms);
    hnd(e)->on_request(e->svc->arg, x);
    /* What follows the head is not HTTP, unless the request has content:
     * that is still HTTP's (RFC 9110 7.8: the client switches after its
     * whole request), delivered by on_body as usual; the hand-over waits
     * for the request's end (run() hands over once req_done). */
    if (x->rs == R_UPGRADING && !http_srv_req_has_body(&ps->head))
        return HTTP_CB_UPGRADE;
    if (x->body_paused) {
        http_srv_timer_stop(e);
        return HTTP_CB_PAUSE;
    }
    http_srv_maybe_continue(x);
    return HTTP_CB_OK;
}

static int
on_body(struct http_parse *ps, const char *data, size_t len)
{
    struct http_srv *e = ps->owner;
    struct wire_http_exchange *x = e->x;
    if (e->tkind == T_BODY)
        http_srv_timer_set(e, T_BODY, e->svc->limits.body_timeout_ms);
    if (hnd(e)->on_body != NULL)
        hnd(e)->on_body(e->svc->arg, x, data, len);
    if (x->body_paused) {
        http_srv_timer_stop(e);
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
    http_srv_timer_stop(e);
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
    http_srv_timer_stop(e);
    wire_transport_ref(t);
    struct wire_protocol *old = wire_transport_set_protocol(t, next, pending,
                                                            plen, &err);
    if (old == NULL) {
        wire_protocol_destroy(next);
        http_srv_set_why(e, err.code, err.message);
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
    if (http_srv_gone(e))
        return false;
    if (x == NULL)
        return true;
    return !x->req_done && !x->body_paused;
}

/* The exchange's end after the response and the request are both done
 * (or the response ended the connection). */
bool
http_srv_finishable(const struct wire_http_exchange *x)
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
        /* Nothing buffered yet leaves `in` NULL, and NULL + 0 is
         * undefined behaviour. */
        const char *src = direct ? data : e->in != NULL ? e->in + e->in_off : "";
        size_t avail = direct ? len : e->in_len;
        if (http_srv_finishable(x)) {
            bool close = x->will_close;
            finish(x, NULL);
            if (close || (e->eof && avail == 0)) {
                close_conn(e);
                break;
            }
            if (avail == 0)
                http_srv_timer_set(e, T_IDLE, e->svc->limits.idle_timeout_ms);
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
        if (x == NULL && e->x == NULL && !http_srv_gone(e) && e->tkind != T_HEAD)
            http_srv_timer_set(e, T_HEAD, e->svc->limits.head_timeout_ms);
        if (direct) {
            data += n;
            len -= n;
        } else {
            e->in_off += n;
            e->in_len -= n;
        }
        /* No progress and nothing that changed the state: wait. */
        if (n == 0 && e->x == x && !http_srv_finishable(x) &&
            !(x != NULL && x->rs == R_UPGRADING && x->req_done) &&
            !(x == NULL && http_parse_upgraded(&e->ps)))
            break;
    }
    if (len > 0 && !http_srv_gone(e) && !in_add(e, data, len, true))
        fail_conn(e, 500, "out of memory");
    if (e->in_len == 0)
        e->in_off = 0;
    /* After the peer's EOF, nothing more comes: a partial request (or
     * none) left without an exchange means we are done. */
    if (e->eof && e->x == NULL && !http_srv_gone(e))
        close_conn(e);
    http_srv_update_reading(e);
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
    e->armed_for = 0;
    if (k == T_NONE)
        return; /* stopped since it was armed */
    uint64_t now = wire_loop_now(e->loop);
    if (now < e->deadline) {
        timer_arm(e, now, e->deadline - now); /* set again since */
        return;
    }
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
    if (loop != NULL && e->timer == NULL) {
        e->timer = wire_timer_new(loop, timer_fired, e);
        e->loop = loop;
    }
    e->head_bytes = false;
    http_srv_timer_set(e, T_HEAD, e->svc->limits.head_timeout_ms);
}

void
http_srv_data(struct http_srv *e, const void *data, size_t len)
{
    if (http_srv_gone(e) || len == 0)
        return;
    run(e, data, len);
}

bool
http_srv_eof(struct http_srv *e)
{
    e->eof = true;
    if (http_srv_gone(e))
        return false;
    struct wire_http_exchange *x = e->x;
    if (x == NULL || x->rs == R_UPGRADING)
        return false; /* nothing owed (a partial head is dropped) */
    if (!x->req_done) {
        http_srv_set_why(e, WIRE_EINCOMPLETE, "the client ended the connection inside "
                                     "the request body");
        e->closing = true;
        http_srv_timer_stop(e);
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
    http_srv_timer_stop(e);
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
            e->armed_for = 0;
        } else {
            const struct wire_http_limits *l = &e->svc->limits;
            http_srv_timer_set(e, e->tkind,
                      e->tkind == T_HEAD   ? l->head_timeout_ms
                      : e->tkind == T_IDLE ? l->idle_timeout_ms
                                           : l->body_timeout_ms);
        }
    }
    http_srv_update_reading(e);
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
        finish_err(e->x, WIRE_ECLOSED, "http: the connection is http_srv_gone");
    http_srv_timer_stop(e);
    srv_unref(e);
}
