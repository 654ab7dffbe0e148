/*
 * HTTP as a transport (<wire/http.h>, "HTTP as a transport"): the client
 * and server layers that carry a message protocol in HTTP bodies, so the
 * same protocol runs over raw bytes or over HTTP (PEP 3153's stack).
 *
 * Each layer is the layer helper (struct wire_layer) around one of the
 * HTTP engines of http_int.h: the client engine (client.c) or the server
 * engine (server.c), attached to the transport below.  The engine does
 * all of HTTP (framing, keep-alive, pipelining in order, limits,
 * timeouts); this file only maps messages to bodies.
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

#define HL_MARK 8 /* bytes of the private mark before each message */

/* The server's one exchange at a time (the engine parses the next
 * request only once this one ended). */
enum hl_xstate {
    X_NONE,      /* no exchange */
    X_BODY,      /* gathering the request body */
    X_PENDING,   /* the body is whole; the above has paused reading */
    X_AWAIT,     /* delivered; waiting for the above's answer */
    X_ANSWERING, /* a message is going out as the response */
    X_ANSWERED,  /* answered (or refused); waiting for the engine's end */
    X_IGNORED    /* not a message (405): answered by us */
};

struct hl_msg {
    struct hl_msg *next;
    size_t len;
    char data[];
};

struct hl {
    struct wire_layer l; /* first */
    bool server;
    char *path, *ctype;
    uint64_t reply_timeout_ms;
    struct wire_http_limits limits;
    /* the engine */
    struct http_srv *srv;
    struct wire_http_client *cli;
    bool attached, engine_lost;
    /* writing: the message being passed down */
    unsigned char mark[HL_MARK];
    size_t mark_got;
    bool in_msg;          /* the mark was read; `left` payload bytes follow */
    uint64_t left;
    uint64_t framed;      /* messages written above (frame calls) */
    uint64_t started;     /* messages whose mark the send hook took */
    struct wire_http_request *req; /* client: the request being written */
    /* reading: the body being gathered */
    char *buf;
    size_t len, cap;
    bool delivered;       /* the current body already went up (in place) */
    struct hl_msg *pend_head, *pend_tail; /* client: waiting for a resume */
    bool pend_eof, eof_up;
    struct wire_soon pump;
    /* client */
    unsigned outstanding; /* requests made and not ended */
    bool eof_sent;        /* write_eof from above */
    int status;
    bool bad;             /* not a 2xx: fail with this status */
    char status_line[160];
    /* server */
    struct wire_http_exchange *x;
    enum hl_xstate xs;
    bool peer_eof;        /* the client ended its side */
    bool owed;            /* the above said an answer will come (hint) */
    struct wire_soon reply_soon;
    struct wire_timer *reply_timer;
    /* state */
    bool closed; /* the above closed, aborted or was failed: nothing goes up */
    bool dying;  /* being destroyed: handlers do nothing */
};

static const struct wire_http_response_handler hl_cli_handler;

static struct hl *
hl_of_t(struct wire_transport *t)
{
    return (struct hl *)(void *)((char *)t - offsetof(struct wire_layer, above));
}

static const char *
hl_name(const struct hl *h)
{
    return h->server ? "http server layer" : "http client layer";
}

/* ---- small helpers ---- */

static bool
buf_add(struct hl *h, const void *d, size_t n)
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

static void
buf_reset(struct hl *h)
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
static void
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

static void hl_failf(struct hl *h, int code, bool abort, const char *fmt, ...)
    WIRE_PRINTF(4, 5);

static void
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

static bool
up_ready(struct hl *h)
{
    return wire_transport_is_reading(&h->l.above);
}

static void pump_run(struct wire_soon *node);

static void
pump_schedule(struct hl *h)
{
    if (h->pump.queued || h->dying)
        return;
    wire_transport_ref(&h->l.above); /* released by pump_run */
    h->pump.fn = pump_run;
    wire_impl_defer(&h->l.above, &h->pump);
}

/* Client: one message up now, or queued until the above resumes. */
static void
up_message(struct hl *h, const void *data, size_t len)
{
    if (h->closed || h->dying)
        return;
    if (h->pend_head == NULL && up_ready(h)) {
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

static void srv_eof_check(struct hl *h);

/* The end of the messages: EOF up, after anything waiting. */
static void
up_eof(struct hl *h)
{
    if (h->closed || h->dying || h->eof_up)
        return;
    if (h->pend_head == NULL && up_ready(h)) {
        h->eof_up = true;
        h->pend_eof = false;
        wire_layer_deliver_eof(&h->l);
        return;
    }
    h->pend_eof = true;
}

static void srv_deliver(struct hl *h, const void *data, size_t len);

static void
pump_run(struct wire_soon *node)
{
    struct hl *h = (struct hl *)(void *)((char *)node - offsetof(struct hl, pump));
    struct wire_transport *above = &h->l.above;
    if (!h->dying && !h->closed) {
        while (h->pend_head != NULL && up_ready(h) && !h->closed) {
            struct hl_msg *m = h->pend_head;
            h->pend_head = m->next;
            if (h->pend_head == NULL)
                h->pend_tail = NULL;
            wire_layer_deliver(&h->l, m->data, m->len);
            free(m);
        }
        if (h->server && h->xs == X_PENDING && up_ready(h))
            srv_deliver(h, h->buf != NULL ? h->buf : "", h->len);
        if (h->server)
            srv_eof_check(h);
        if (h->pend_eof && h->pend_head == NULL)
            up_eof(h);
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
        pump_schedule(h);
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
static bool
take_mark(struct hl *h, const char **p, size_t *n, size_t *used)
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

/* ---- the server layer ---- */

static void reply_arm(struct hl *h);

/* The response to the current exchange is whole. */
static void
srv_msg_end(struct hl *h)
{
    h->in_msg = false;
    if (h->x != NULL && h->xs == X_ANSWERING) {
        wire_http_response_end(h->x);
        h->xs = X_ANSWERED;
    }
    wire_layer_hold_writes(&h->l, true);
}

static void
srv_msg_start(struct hl *h)
{
    struct wire_http_exchange *x = h->x;
    if (x == NULL || h->xs != X_AWAIT)
        return; /* gone meanwhile: the payload is dropped with it */
    h->xs = X_ANSWERING;
    if (h->reply_timer != NULL)
        wire_timer_stop(h->reply_timer);
    char cl[24];
    snprintf(cl, sizeof(cl), "%" PRIu64, h->left);
    wire_http_response_start(x, 200, NULL);
    wire_http_response_header(x, "Content-Type", h->ctype);
    wire_http_response_header(x, "Content-Length", cl);
}

static ssize_t
srv_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
{
    struct hl *h = (struct hl *)(void *)l;
    size_t used = 0;
    for (int i = 0; i < iovcnt; i++) {
        const char *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        while (n > 0) {
            if (!h->in_msg) {
                /* A new message answers the request that waits, if any;
                 * else it waits above, held, for the next one. */
                if (h->mark_got == 0 && (h->x == NULL || h->xs != X_AWAIT)) {
                    wire_layer_hold_writes(l, true);
                    return (ssize_t)used;
                }
                if (!take_mark(h, &p, &n, &used))
                    continue;
                srv_msg_start(h);
                if (h->left == 0)
                    srv_msg_end(h);
                continue;
            }
            size_t k = h->left < n ? (size_t)h->left : n;
            if (h->x != NULL && h->xs == X_ANSWERING)
                wire_http_response_write(h->x, p, k);
            p += k;
            n -= k;
            used += k;
            h->left -= k;
            if (h->left == 0)
                srv_msg_end(h);
        }
    }
    return (ssize_t)used;
}

/* The body is whole and the above reads: up it goes, and the request
 * waits for the answer. */
static void
srv_deliver(struct hl *h, const void *data, size_t len)
{
    h->xs = X_AWAIT;
    h->delivered = true;
    h->owed = false;
    /* Writes flow again: a message written earlier answers at once, a
     * message written from data_received goes straight down. */
    wire_layer_hold_writes(&h->l, false);
    if (!h->closed)
        wire_layer_deliver(&h->l, data, len);
    if (h->buf == data)
        buf_reset(h);
    if (h->x != NULL && h->xs == X_AWAIT && !h->closed && !h->owed)
        reply_arm(h);
}

static void
srv_no_reply(struct hl *h)
{
    if (h->x == NULL || h->xs != X_AWAIT || h->closed || h->dying || h->owed)
        return;
    /* Written but waiting above (the transport below is full): that
     * message is the answer. */
    if (h->framed > h->started || h->in_msg)
        return;
    h->xs = X_ANSWERED;
    wire_http_response_start(h->x, 204, NULL);
    wire_http_response_end(h->x);
    wire_layer_hold_writes(&h->l, true);
}

static void
reply_soon_run(struct wire_soon *node)
{
    struct hl *h =
        (struct hl *)(void *)((char *)node - offsetof(struct hl, reply_soon));
    struct wire_transport *above = &h->l.above;
    srv_no_reply(h);
    wire_transport_unref(above);
}

static void
reply_timer_fired(void *arg)
{
    srv_no_reply(arg);
}

/* Start the no-reply deadline of the request just delivered. */
static void
reply_arm(struct hl *h)
{
    if (h->reply_timer != NULL) {
        wire_timer_start(h->reply_timer, h->reply_timeout_ms, 0);
        return;
    }
    if (h->reply_soon.queued || h->dying)
        return;
    wire_transport_ref(&h->l.above);
    h->reply_soon.fn = reply_soon_run;
    wire_impl_defer(&h->l.above, &h->reply_soon);
}

/*
 * wire_transport_hint_reply from above, about the request it was given
 * last.  NONE answers 204 now (unless a message was written for it:
 * srv_no_reply checks); LATER cancels the 204 deadline, and the request
 * waits for its answer however long it takes (the client's own timeouts
 * bound it).  A request already answered, or none waiting: nothing to do.
 * Called from inside the above's data_received as a rule: the engine is
 * then inside its on_body/on_body_end handler, from which answering is
 * allowed (srv_send answers from there too).
 */
static int
hl_hint_reply(struct wire_transport *t, enum wire_reply_hint hint)
{
    struct hl *h = hl_of_t(t);
    if (h->x == NULL || h->xs != X_AWAIT || h->closed || h->dying)
        return 0;
    if (hint == WIRE_REPLY_NONE) {
        h->owed = false;
        srv_no_reply(h);
        return 0;
    }
    h->owed = true;
    if (h->reply_timer != NULL)
        wire_timer_stop(h->reply_timer);
    return 0; /* a reply_soon already queued finds `owed` and stays quiet */
}

/* After the client's EOF: once no exchange is left, EOF goes up. */
static void
srv_eof_check(struct hl *h)
{
    if (!h->peer_eof || h->x != NULL || h->closed || h->dying || h->eof_up)
        return;
    if (h->framed > h->started) {
        hl_failf(h, WIRE_ECLOSED, false,
                 "%s: %" PRIu64 " message(s) written with no request to "
                 "carry them, and the client sent its last request",
                 hl_name(h), h->framed - h->started);
        return;
    }
    up_eof(h);
}

static void
srv_on_request(void *arg, struct wire_http_exchange *x)
{
    struct hl *h = arg;
    if (h->dying)
        return;
    h->x = x;
    buf_reset(h);
    const struct wire_http_head *req = wire_http_exchange_request(x);
    if (strcmp(req->method, "POST") != 0) {
        /* Not a message: say what is. */
        h->xs = X_IGNORED;
        static const char msg[] = "this resource takes messages by POST\n";
        char cl[16];
        snprintf(cl, sizeof(cl), "%zu", sizeof(msg) - 1);
        wire_http_response_start(x, 405, NULL);
        wire_http_response_header(x, "Allow", "POST");
        wire_http_response_header(x, "Content-Type", "text/plain; charset=utf-8");
        wire_http_response_header(x, "Content-Length", cl);
        wire_http_response_write(x, msg, sizeof(msg) - 1);
        wire_http_response_end(x);
        return;
    }
    h->xs = X_BODY;
}

static void
srv_on_body(void *arg, struct wire_http_exchange *x, const void *data,
            size_t len)
{
    struct hl *h = arg;
    if (h->dying || x != h->x || h->xs != X_BODY || h->closed)
        return;
    const struct wire_http_head *req = wire_http_exchange_request(x);
    if (h->len == 0 && req->content_length == (int64_t)len && up_ready(h)) {
        srv_deliver(h, data, len); /* whole in one piece: in place */
        return;
    }
    if (!buf_add(h, data, len))
        hl_failf(h, WIRE_ENOMEM, true, "%s: out of memory", hl_name(h));
}

static void
srv_on_body_end(void *arg, struct wire_http_exchange *x)
{
    struct hl *h = arg;
    if (h->dying || x != h->x || h->xs != X_BODY || h->closed)
        return;
    if (up_ready(h))
        srv_deliver(h, h->buf != NULL ? h->buf : "", h->len);
    else
        h->xs = X_PENDING; /* goes up after the resume (pump_run) */
}

static void
srv_on_done(void *arg, struct wire_http_exchange *x,
            const struct wire_error *err)
{
    struct hl *h = arg;
    if (h->dying || x != h->x)
        return;
    h->x = NULL;
    h->xs = X_NONE;
    buf_reset(h);
    if (h->reply_timer != NULL)
        wire_timer_stop(h->reply_timer);
    if (err != NULL) {
        /* The engine ends the connection (a limit, a timeout, a body cut
         * short): the above hears why; what the engine answered is
         * flushed. */
        hl_fail(h, err, false);
        return;
    }
    if (h->peer_eof)
        pump_schedule(h); /* EOF up once no request follows */
}

static const struct wire_http_handler srv_handler = {
    .on_request = srv_on_request,
    .on_body = srv_on_body,
    .on_body_end = srv_on_body_end,
    .on_done = srv_on_done,
};

/* ---- the client layer ---- */

static void
cli_msg_end(struct hl *h)
{
    h->in_msg = false;
    if (h->req != NULL) {
        struct wire_http_request *r = h->req;
        h->req = NULL;
        wire_http_request_end(r);
    }
}

static int
cli_msg_start(struct hl *h)
{
    struct wire_error err = {0};
    struct wire_http_request *r =
        wire_http_request_new(h->cli, "POST", h->path, &hl_cli_handler, h, &err);
    if (r == NULL) {
        int code = err.code;
        wire_error_clear(&err);
        return code;
    }
    h->outstanding++;
    h->req = r;
    char cl[24];
    snprintf(cl, sizeof(cl), "%" PRIu64, h->left);
    int rc = wire_http_request_header(r, "Content-Type", h->ctype);
    if (rc == 0)
        rc = wire_http_request_header(r, "Content-Length", cl);
    return rc;
}

static ssize_t
cli_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
{
    struct hl *h = (struct hl *)(void *)l;
    size_t used = 0;
    for (int i = 0; i < iovcnt; i++) {
        const char *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        while (n > 0) {
            if (!h->in_msg) {
                if (!take_mark(h, &p, &n, &used))
                    continue;
                int rc = cli_msg_start(h);
                if (rc < 0)
                    return rc;
                if (h->left == 0)
                    cli_msg_end(h);
                continue;
            }
            size_t k = h->left < n ? (size_t)h->left : n;
            if (h->req != NULL) {
                int rc = wire_http_request_write(h->req, p, k);
                if (rc < 0)
                    return rc;
            }
            p += k;
            n -= k;
            used += k;
            h->left -= k;
            if (h->left == 0)
                cli_msg_end(h);
        }
    }
    return (ssize_t)used;
}

/* write_eof from above (its queue is flushed): no more requests.  The
 * answers still due go up, then EOF, and the connection closes. */
static int
cli_send_eof(struct wire_layer *l)
{
    struct hl *h = (struct hl *)(void *)l;
    h->eof_sent = true;
    if (h->outstanding == 0) {
        up_eof(h);
        if (h->attached && !h->engine_lost)
            wire_http_client_close(h->cli);
    }
    return 0;
}

static void
cli_on_response(void *arg, struct wire_http_request *r,
                const struct wire_http_head *head)
{
    struct hl *h = arg;
    (void)r;
    if (h->dying)
        return;
    buf_reset(h);
    h->status = head->status;
    h->bad = head->status / 100 != 2;
    snprintf(h->status_line, sizeof(h->status_line), "HTTP/%d.%d %d %s",
             head->version_major, head->version_minor, head->status,
             head->reason != NULL ? head->reason : "");
}

static void
cli_on_body(void *arg, struct wire_http_request *r, const void *data, size_t len)
{
    struct hl *h = arg;
    if (h->dying || h->closed)
        return;
    if (h->bad) {
        /* Keep the start of the server's explanation for the error. */
        size_t room = h->len < 200 ? 200 - h->len : 0;
        if (!buf_add(h, data, len < room ? len : room))
            hl_failf(h, WIRE_ENOMEM, true, "%s: out of memory", hl_name(h));
        return;
    }
    const struct wire_http_head *head = wire_http_request_response(r);
    if (h->len == 0 && !h->delivered && head != NULL &&
        head->content_length == (int64_t)len) {
        h->delivered = true;
        up_message(h, data, len); /* whole in one piece: in place */
        return;
    }
    if (!buf_add(h, data, len))
        hl_failf(h, WIRE_ENOMEM, true, "%s: out of memory", hl_name(h));
}

static void
cli_on_done(void *arg, struct wire_http_request *r, const struct wire_error *err)
{
    struct hl *h = arg;
    if (h->dying)
        return;
    if (r == h->req)
        h->req = NULL; /* answered early: the rest of its body is dropped */
    h->outstanding--;
    if (err != NULL) {
        hl_fail(h, err, true);
    } else if (h->bad) {
        /* The explanation, printable, on one line. */
        char why[208];
        size_t k = 0;
        for (size_t i = 0; i < h->len && k + 1 < sizeof(why); i++) {
            unsigned char ch = (unsigned char)h->buf[i];
            why[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
        }
        while (k > 0 && why[k - 1] == ' ')
            k--;
        why[k] = '\0';
        hl_failf(h, WIRE_EPROTO, true, "%s: POST %s answered %s%s%s",
                 hl_name(h), h->path, h->status_line, k > 0 ? ": " : "", why);
    } else if (h->status != 204 && !h->delivered) {
        up_message(h, h->buf != NULL ? h->buf : "", h->len);
    }
    buf_reset(h);
    h->status = 0;
    h->bad = false;
    if (h->eof_sent && h->outstanding == 0 && !h->closed) {
        up_eof(h);
        wire_http_client_close(h->cli);
    }
}

static const struct wire_http_response_handler hl_cli_handler = {
    .on_response = cli_on_response,
    .on_body = cli_on_body,
    .on_done = cli_on_done,
};

static void
cli_on_close(void *arg, const struct wire_error *err)
{
    struct hl *h = arg;
    if (!h->dying && err != NULL)
        hl_fail(h, err, true);
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
            h->reply_timer = wire_timer_new(loop, reply_timer_fired, h);
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
            up_eof(h);
        return 0;
    }
    h->peer_eof = true;
    /* A request cut short fails the exchange (srv_on_done: the above
     * hears WIRE_EINCOMPLETE); a whole one is answered first. */
    http_srv_eof(h->srv);
    srv_eof_check(h); /* nothing owed: EOF up now; else after the answers */
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
            up_eof(h);
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
    .send = cli_send,
    .send_eof = cli_send_eof,
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
    .send = srv_send,
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
        struct wire_http_service *s = wire_http_service_new(&so, &srv_handler, h, err);
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
            .on_close = cli_on_close,
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
