/*
 * The HTTP server layer (wire_http_server_layer_new; layer.c has the
 * design and the shared part): the server engine's handler, which
 * gathers each request body and delivers it up as one message, the send
 * hook that answers the current exchange with the message written above,
 * and the reply hint (204 for a message that gets no answer).
 */
#include "http_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

ssize_t
hl_srv_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
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
                if (!hl_take_mark(h, &p, &n, &used))
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
void
hl_srv_deliver(struct hl *h, const void *data, size_t len)
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
        hl_buf_reset(h);
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

void
hl_reply_timer_fired(void *arg)
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
 * allowed (hl_srv_send answers from there too).
 */
int
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
void
hl_srv_eof_check(struct hl *h)
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
    hl_up_eof(h);
}

static void
srv_on_request(void *arg, struct wire_http_exchange *x)
{
    struct hl *h = arg;
    if (h->dying)
        return;
    h->x = x;
    hl_buf_reset(h);
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
    if (h->len == 0 && req->content_length == (int64_t)len && hl_up_ready(h)) {
        hl_srv_deliver(h, data, len); /* whole in one piece: in place */
        return;
    }
    if (!hl_buf_add(h, data, len))
        hl_failf(h, WIRE_ENOMEM, true, "%s: out of memory", hl_name(h));
}

static void
srv_on_body_end(void *arg, struct wire_http_exchange *x)
{
    struct hl *h = arg;
    if (h->dying || x != h->x || h->xs != X_BODY || h->closed)
        return;
    if (hl_up_ready(h))
        hl_srv_deliver(h, h->buf != NULL ? h->buf : "", h->len);
    else
        h->xs = X_PENDING; /* goes up after the resume (hl_pump_run) */
}

void
hl_srv_on_done(void *arg, struct wire_http_exchange *x,
            const struct wire_error *err)
{
    struct hl *h = arg;
    if (h->dying || x != h->x)
        return;
    h->x = NULL;
    h->xs = X_NONE;
    hl_buf_reset(h);
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
        hl_pump_schedule(h); /* EOF up once no request follows */
}

const struct wire_http_handler hl_srv_handler = {
    .on_request = srv_on_request,
    .on_body = srv_on_body,
    .on_body_end = srv_on_body_end,
    .on_done = hl_srv_on_done,
};
