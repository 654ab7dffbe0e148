/*
 * HTTP as a transport (<wire/http.h>, "HTTP as a transport"): the client
 * and server layers that carry a message protocol in HTTP bodies, so the
 * same protocol runs over raw bytes or over HTTP (PEP 3153's stack).
 *
 * Each layer is the layer helper (struct wire_layer) around one of the
 * HTTP engines of http_int.h: the client engine (client.c) or the server
 * engine (server.c), attached to the transport below.  The engine does
 * all of HTTP (framing, keep-alive, pipelining in order, limits,
 * timeouts); the layers only map messages to bodies.  This file holds
 * what both layers share (struct hl, see http_int.h): the going up, the
 * marks, the layer hooks and the construction; the server's side is in
 * layer_server.c, the client's in layer_client.c.
 *
 * Messages going down.  A message is one write of the protocol above.
 * ops->frame puts an 8-byte private mark (the payload length) before
 * each write as it is made, so message boundaries survive the above's
 * output queue (where writes wait under its watermarks) and the helper's
 * partial hand-overs; the send hook reads the marks back and never
 * passes them on.  The client makes one POST per message; the server
 * answers the oldest unanswered request with it.  The server holds the
 * above's writes (wire_layer_hold_writes) while no request waits for an
 * answer, so a message written early waits, counted in the above's
 * queue, for the next request.
 *
 * Messages going up.  A body is gathered (bounded by limits.max_body,
 * which the engines enforce) and delivered as one data_received; a body
 * that arrives whole in one piece goes up in place.  While the protocol
 * above has paused reading, the engine's reading of the transport below
 * is held (http_*_hold_reading) and what was parsed already waits here
 * (the server: the one request; the client: the responses of that read),
 * to go up on a later turn after the resume.
 *
 * Re-entrancy: the engines call the handlers below from inside their
 * parsers and from their deferred work, never from inside a wire_http_*
 * call, so the send hook may call the engines directly.  The protocol
 * above may close, abort or write from any data_received we deliver.
 */
#include "http_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hl *
hl_of_t(struct wire_transport *t)
{
    return (struct hl *)(void *)((char *)t - offsetof(struct wire_layer, above));
}

const char *
hl_name(const struct hl *h)
{
    return h->server ? "http server layer" : "http client layer";
}

/* ---- small helpers ---- */

bool
hl_buf_add(struct hl *h, const void *d, size_t n)
{
    if (h->len + n > h->cap) {
        size_t c = h->cap ? h->cap : 1024;
        while (c < h->len + n)
            c *= 2;
        char *nb = realloc(h->buf, c);
        if (nb == NULL)
            return false;
        h->buf = nb;
        h->cap = c;
    }
    if (n > 0)
        memcpy(h->buf + h->len, d, n);
    h->len += n;
    return true;
}

void
hl_buf_reset(struct hl *h)
{
    h->len = 0;
    h->delivered = false;
    if (h->cap > 256 * 1024) { /* do not keep a large body's buffer */
        free(h->buf);
        h->buf = NULL;
        h->cap = 0;
    }
}

static void
hold_engine(struct hl *h, bool hold)
{
    if (!h->attached || h->engine_lost)
        return;
    if (h->server)
        http_srv_hold_reading(h->srv, hold);
    else
        http_cli_hold_reading(h->cli, hold);
}

/*
 * End the protocol above with `err` (the first failure wins) and let the
 * transport below go: closed (flushing what the engine queued, such as a
 * 413 it answered) or aborted.
 */
void
hl_fail(struct hl *h, const struct wire_error *err, bool abort)
{
    if (h->closed || h->dying)
        return;
    h->closed = true;
    hold_engine(h, false); /* nothing goes up any more: read freely */
    wire_impl_lost(&h->l.above, err);
    if (h->l.lower != NULL) {
        if (abort)
            wire_transport_abort(h->l.lower);
        else
            wire_transport_close(h->l.lower);
    }
}

void
hl_failf(struct hl *h, int code, bool abort, const char *fmt, ...)
{
    struct wire_error e = {0};
    va_list ap;
    va_start(ap, fmt);
    wire_error_setv(&e, code, fmt, ap);
    va_end(ap);
    hl_fail(h, &e, abort);
    wire_error_clear(&e);
}

/* ---- going up ---- */

bool
hl_up_ready(struct hl *h)
{
    return wire_transport_is_reading(&h->l.above);
}

void
hl_pump_schedule(struct hl *h)
{
    if (h->pump.queued || h->dying)
        return;
    wire_transport_ref(&h->l.above); /* released by hl_pump_run */
    h->pump.fn = hl_pump_run;
    wire_impl_defer(&h->l.above, &h->pump);
}

/* Client: one message up now, or queued until the above resumes. */
void
hl_up_message(struct hl *h, const void *data, size_t len)
{
    if (h->closed || h->dying)
        return;
    if (h->pend_head == NULL && hl_up_ready(h)) {
        wire_layer_deliver(&h->l, data, len);
        return;
    }
    struct hl_msg *m = malloc(sizeof(*m) + len);
    if (m == NULL) {
        hl_failf(h, WIRE_ENOMEM, true, "%s: out of memory", hl_name(h));
        return;
    }
    m->next = NULL;
    m->len = len;
    if (len > 0)
        memcpy(m->data, data, len);
    if (h->pend_tail != NULL)
        h->pend_tail->next = m;
    else
        h->pend_head = m;
    h->pend_tail = m;
}

/* The end of the messages: EOF up, after anything waiting. */
void
hl_up_eof(struct hl *h)
{
    if (h->closed || h->dying || h->eof_up)
        return;
    if (h->pend_head == NULL && hl_up_ready(h)) {
        h->eof_up = true;
        h->pend_eof = false;
        wire_layer_deliver_eof(&h->l);
        return;
    }
    h->pend_eof = true;
}

void
hl_pump_run(struct wire_soon *node)
{
    struct hl *h = (struct hl *)(void *)((char *)node - offsetof(struct hl, pump));
    struct wire_transport *above = &h->l.above;
    if (!h->dying && !h->closed) {
        while (h->pend_head != NULL && hl_up_ready(h) && !h->closed) {
            struct hl_msg *m = h->pend_head;
            h->pend_head = m->next;
            if (h->pend_head == NULL)
                h->pend_tail = NULL;
            wire_layer_deliver(&h->l, m->data, m->len);
            free(m);
        }
        if (h->server && h->xs == X_PENDING && hl_up_ready(h))
            hl_srv_deliver(h, h->buf != NULL ? h->buf : "", h->len);
        if (h->server)
            hl_srv_eof_check(h);
        if (h->pend_eof && h->pend_head == NULL)
            hl_up_eof(h);
    }
    wire_transport_unref(above); /* may free the layer: last */
}

/* ---- the upper transport's reading hooks ---- */

static void
hl_read_start(struct wire_transport *t)
{
    struct hl *h = hl_of_t(t);
    hold_engine(h, false);
    /* What waits goes up on a later turn, never inside resume_reading. */
    if (h->pend_head != NULL || h->pend_eof || (h->server && h->xs == X_PENDING) ||
        (h->server && h->peer_eof))
        hl_pump_schedule(h);
}

static void
hl_read_stop(struct wire_transport *t)
{
    struct hl *h = hl_of_t(t);
    /* While the above is closing the engine keeps reading (the client
     * waits for its answers); else it stops. */
    if (!wire_transport_is_closing(t))
        hold_engine(h, true);
}

/* ---- going down: the marks ---- */

static int
hl_frame(struct wire_transport *t, const struct iovec *iov, int iovcnt,
         size_t total, struct wire_frame *f)
{
    struct hl *h = hl_of_t(t);
    (void)iov;
    (void)iovcnt;
    /* The client sent its last request and every one was answered:
     * nothing can carry a message any more. */
    if (h->server && h->peer_eof && h->x == NULL)
        return WIRE_ECLOSED;
    uint64_t v = (uint64_t)total;
    memcpy(f->head, &v, HL_MARK);
    f->head_len = HL_MARK;
    h->framed++;
    return 0;
}

/* Take the mark's bytes from `*p`; true once the whole mark is read. */
bool
hl_take_mark(struct hl *h, const char **p, size_t *n, size_t *used)
{
    size_t k = HL_MARK - h->mark_got;
    if (k > *n)
        k = *n;
    memcpy(h->mark + h->mark_got, *p, k);
    h->mark_got += k;
    *p += k;
    *n -= k;
    *used += k;
    if (h->mark_got < HL_MARK)
        return false;
    memcpy(&h->left, h->mark, HL_MARK);
    h->mark_got = 0;
    h->in_msg = true;
    h->started++;
    return true;
}

/* ---- the layer hooks ---- */

static void
hl_made(struct wire_layer *l)
{
    struct hl *h = (struct hl *)(void *)l;
    h->attached = true;
    struct wire_loop *loop = wire_transport_loop(l->lower);
    if (h->server) {
        if (loop != NULL && h->reply_timeout_ms > 0)
            h->reply_timer = wire_timer_new(loop, hl_reply_timer_fired, h);
        /* No request waits for an answer yet. */
        wire_layer_hold_writes(l, true);
        http_srv_attach(h->srv, l->lower);
    } else {
        http_cli_attach(h->cli, l->lower);
    }
    wire_layer_start(l);
}

static int
hl_recv(struct wire_layer *l, const void *data, size_t len)
{
    struct hl *h = (struct hl *)(void *)l;
    if (h->server)
        http_srv_data(h->srv, data, len);
    else
        http_cli_data(h->cli, data, len);
    return 0;
}

static int
hl_recv_eof(struct wire_layer *l)
{
    struct hl *h = (struct hl *)(void *)l;
    if (!h->server) {
        /* The server ended the connection: the requests still open fail
         * (on_done), and the engine closes the transport. */
        http_cli_eof(h->cli);
        if (h->outstanding == 0)
            hl_up_eof(h);
        return 0;
    }
    h->peer_eof = true;
    /* A request cut short fails the exchange (hl_srv_on_done: the above
     * hears WIRE_EINCOMPLETE); a whole one is answered first. */
    http_srv_eof(h->srv);
    hl_srv_eof_check(h); /* nothing owed: EOF up now; else after the answers */
    return 0;
}

static void
hl_close(struct wire_layer *l, bool abort)
{
    struct hl *h = (struct hl *)(void *)l;
    if (h->closed || l->lower == NULL) {
        h->closed = true;
        return;
    }
    h->closed = true;
    hold_engine(h, false);
    if (abort) {
        wire_transport_abort(l->lower);
        return;
    }
    if (!h->server) {
        /* The requests went out whole (the above's queue was flushed):
         * let their answers come, then close. */
        wire_http_client_close(h->cli);
        return;
    }
    /* A request the above leaves unanswered gets its 204 first (one it
     * never saw gets nothing: the client learns it was not answered). */
    if (h->x != NULL && h->xs == X_AWAIT) {
        h->xs = X_ANSWERED;
        wire_http_response_start(h->x, 204, NULL);
        wire_http_response_header(h->x, "Connection", "close");
        wire_http_response_end(h->x);
    }
    wire_transport_close(l->lower);
}

static void
hl_lost(struct wire_layer *l, const struct wire_error *err)
{
    struct hl *h = (struct hl *)(void *)l;
    h->engine_lost = true;
    if (!h->server) {
        /* The engine's own reason first (on_close: a malformed answer it
         * aborted on), then the requests still open (on_done). */
        http_cli_lost(h->cli, err);
        if (err != NULL)
            hl_fail(h, err, false);
        /* The server closed with nothing owed: the end of the messages. */
        else if (h->outstanding == 0)
            hl_up_eof(h);
        return;
    }
    struct wire_error why = {0};
    if (err == NULL && !h->closed) {
        /* Closed by the engine on its own (a 400 it answered): say so. */
        const char *msg = NULL;
        int code = http_srv_error(h->srv, &msg);
        if (code != 0) {
            wire_error_set(&why, code, "%s", msg);
            err = &why;
        } else if (h->framed > h->started) {
            wire_error_set(&why, WIRE_ECLOSED,
                           "%s: the connection ended with %" PRIu64
                           " message(s) unsent: no request came to carry them",
                           hl_name(h), h->framed - h->started);
            err = &why;
        }
    }
    if (err != NULL)
        hl_fail(h, err, false);
    http_srv_lost(h->srv, err);
    wire_error_clear(&why);
}

static void
hl_destroy(struct wire_layer *l)
{
    struct hl *h = (struct hl *)(void *)l;
    h->dying = true;
    h->closed = true;
    if (h->server)
        http_srv_free(h->srv);
    else
        http_cli_free(h->cli);
    wire_timer_free(h->reply_timer);
    while (h->pend_head != NULL) {
        struct hl_msg *m = h->pend_head;
        h->pend_head = m->next;
        free(m);
    }
    free(h->buf);
    free(h->path);
    free(h->ctype);
    free(h);
}

#define HL_TRANSPORT_OPS(lname, lcaps, hintfn)                                \
    {                                                                         \
        .name = (lname), .caps = (lcaps),                                     \
        .read_start = hl_read_start, .read_stop = hl_read_stop,               \
        .write = wire_layer_hook_write,                                       \
        .want_write = wire_layer_hook_want_write,                             \
        .shutdown_write = wire_layer_hook_shutdown_write,                     \
        .close = wire_layer_hook_close,                                       \
        .get_info = wire_layer_hook_get_info,                                 \
        .free = wire_layer_hook_free,                                         \
        .defer = NULL, .frame = hl_frame, .hint_reply = (hintfn),             \
    }

static const struct wire_layer_ops client_ops = {
    /* write_eof is the layer's own (no more requests), over any
     * transport. */
    .transport = HL_TRANSPORT_OPS("http-client", WIRE_CAP_HALF_CLOSE, NULL),
    .made = hl_made,
    .recv = hl_recv,
    .recv_eof = hl_recv_eof,
    .send = hl_cli_send,
    .send_eof = hl_cli_send_eof,
    .close = hl_close,
    .destroy = hl_destroy,
    .lost = hl_lost,
};

static const struct wire_layer_ops server_ops = {
    /* No write_eof: a server answers requests, it cannot end its side
     * while the client may still ask. */
    .transport = HL_TRANSPORT_OPS("http-server", 0, hl_hint_reply),
    .made = hl_made,
    .recv = hl_recv,
    .recv_eof = hl_recv_eof,
    .send = hl_srv_send,
    .close = hl_close,
    .destroy = hl_destroy,
    .lost = hl_lost,
};

/* ---- construction ---- */

static struct hl *
hl_new(struct wire_protocol *upper, const struct wire_http_layer_opts *o,
       bool server, struct wire_error *err)
{
    const char *what = server ? "http server layer" : "http client layer";
    const char *path = o != NULL && o->path != NULL ? o->path : "/";
    const char *ctype = o != NULL && o->content_type != NULL
                            ? o->content_type : "application/octet-stream";
    if (upper == NULL) {
        wire_error_set(err, WIRE_EINVAL, "%s: no protocol above", what);
        return NULL;
    }
    bool path_ok = path[0] == '/' || strcmp(path, "*") == 0;
    for (const char *s = path; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            path_ok = false;
    if (!path_ok || !http_valid_value(ctype) || ctype[0] == '\0') {
        wire_error_set(err, WIRE_EINVAL, "%s: the path must start with '/' "
                       "and hold no blank or control character, and the "
                       "content type no CR or LF", what);
        wire_protocol_destroy(upper);
        return NULL;
    }
    struct hl *h = calloc(1, sizeof(*h));
    if (h == NULL)
        goto nomem;
    h->server = server;
    h->path = strdup(path);
    h->ctype = strdup(ctype);
    if (h->path == NULL || h->ctype == NULL)
        goto nomem;
    if (o != NULL) {
        h->limits = o->limits;
        h->reply_timeout_ms = o->reply_timeout_ms;
    }
    if (server) {
        struct wire_http_service_opts so = {.limits = h->limits};
        struct wire_http_service *s = wire_http_service_new(&so, &hl_srv_handler, h, err);
        if (s == NULL) {
            free(h->path);
            free(h->ctype);
            free(h);
            wire_protocol_destroy(upper);
            return NULL;
        }
        h->srv = http_srv_new(s, NULL); /* no owner: no upgrades */
        wire_http_service_unref(s);     /* the engine holds it */
        if (h->srv == NULL)
            goto nomem;
    } else {
        struct wire_http_client_opts co = {
            .limits = h->limits,
            .host = o != NULL ? o->host : NULL,
            .on_close = hl_cli_on_close,
            .arg = h,
        };
        h->cli = http_cli_new(&co, NULL, err); /* no owner: no take-over */
        if (h->cli == NULL) {
            free(h->path);
            free(h->ctype);
            free(h);
            wire_protocol_destroy(upper);
            return NULL;
        }
    }
    return h;
nomem:
    if (h != NULL) {
        free(h->path);
        free(h->ctype);
        free(h);
    }
    wire_error_set(err, WIRE_ENOMEM, "%s: out of memory", what);
    wire_protocol_destroy(upper);
    return NULL;
}

struct wire_protocol *
wire_http_client_layer_new(struct wire_protocol *upper,
                           const struct wire_http_layer_opts *opts,
                           struct wire_error *err)
{
    struct hl *h = hl_new(upper, opts, false, err);
    return h != NULL ? wire_layer_init(&h->l, &client_ops, upper) : NULL;
}

struct wire_protocol *
wire_http_server_layer_new(struct wire_protocol *upper,
                           const struct wire_http_layer_opts *opts,
                           struct wire_error *err)
{
    struct hl *h = hl_new(upper, opts, true, err);
    return h != NULL ? wire_layer_init(&h->l, &server_ops, upper) : NULL;
}
