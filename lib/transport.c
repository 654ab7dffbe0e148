/*
 * The transport base: every rule that is the same for all transports.
 *
 * State machine (flags in internal.h): started -> [closing | eof pending ->
 * write shut] -> handle closed -> lost (scheduled) -> lost delivered.  The
 * state machine, reading, the two kinds of pause, close/abort and the
 * deferred connection_lost live here; the output queue and the
 * watermarks in write.c.
 * Concrete transports supply the primitive hooks of struct
 * wire_transport_ops and report what their handle did through wire_impl_*.
 *
 * Re-entrancy: any protocol callback may call close, abort or write.
 * Every path that calls out (dispatch helpers in protocol.c, ops->write
 * and free callbacks) is followed by a re-check of the flags, and the
 * connection is never freed before connection_lost has been delivered
 * from the loop, so a pointer held across a call stays valid.
 */
#include "internal.h"
#include "outq.h"

#include <stdlib.h>
#include <string.h>

static void lost_fn(struct wire_soon *node);

void
wire_impl_init(struct wire_transport *t, const struct wire_transport_ops *ops,
               struct wire_loop *loop)
{
    memset(t, 0, sizeof(*t));
    t->ops = ops;
    t->loop = loop;
    t->refcnt = 1;
    t->high_water = WIRE_DEFAULT_HIGH_WATER;
    t->low_water = WIRE_DEFAULT_HIGH_WATER / 4;
    t->soon.fn = lost_fn;
}

/* ---- references ---- */

struct wire_transport *
wire_transport_ref(struct wire_transport *t)
{
    t->refcnt++;
    return t;
}

void
wire_transport_unref(struct wire_transport *t)
{
    if (t == NULL || --t->refcnt > 0)
        return;
    wire__outq_free(t); /* file ranges still queued are released */
    wire__error_free(t->lost_err);
    t->lost_err = NULL;
    if (t->handover != NULL)
        wire__handover_free(t);
    t->ops->free(t);
}

void
wire_impl_discard(struct wire_transport *t)
{
    if (!(t->flags & WIRE_T_HANDLE_CLOSED)) {
        t->flags |= WIRE_T_HANDLE_CLOSED;
        t->ops->close(t, false);
    }
    wire_transport_unref(t);
}

/* ---- reading ---- */


void
wire__update_reading(struct wire_transport *t)
{
    if (__builtin_expect(t->handover != NULL, 0))
        wire__handover_kick(t);
    bool want = wire__transport_wants_input(t);
    if (want && !(t->flags & WIRE_T_READING)) {
        t->flags |= WIRE_T_READING;
        if (t->ops->read_start != NULL)
            t->ops->read_start(t);
    } else if (!want && (t->flags & WIRE_T_READING)) {
        t->flags &= ~WIRE_T_READING;
        if (t->ops->read_stop != NULL)
            t->ops->read_stop(t);
    }
}

void
wire_impl_start(struct wire_transport *t, struct wire_protocol *p)
{
    t->protocol = p;
    p->transport = t;
    t->flags |= WIRE_T_STARTED;
    /* A protocol handed over while paused for writing (see
     * wire_transport_set_protocol) is still paused: this transport owes
     * it the resume_writing, which it gets at once if there is room. */
    if (p->contract__ & WIRE_C_PAUSED_W)
        t->flags |= WIRE_T_PROTO_PAUSED;
    wire_transport_ref(t);
    wire__proto_made(t);
    if ((t->flags & WIRE_T_PROTO_PAUSED) && !(t->flags & WIRE_T_LOST))
        wire__check_low(t);
    wire__update_reading(t);
    wire_transport_unref(t);
}

bool
wire_impl_is_active(const struct wire_transport *t)
{
    return (t->flags & WIRE_T_STARTED) && !(t->flags & WIRE_T_LOST);
}

void *
wire_impl_read_buffer(struct wire_transport *t, size_t *len)
{
    size_t scratch_len = 0;
    void *scratch = t->loop != NULL ? wire__loop_scratch(t->loop, &scratch_len)
                                    : NULL;
    if (t->protocol->ops->get_buffer != NULL) {
        void *buf = wire__proto_get_buffer(t, scratch_len ? scratch_len : 65536,
                                           len);
        if (buf != NULL)
            return buf;
    }
    *len = scratch_len;
    return scratch;
}

bool
wire_impl_read_done(struct wire_transport *t, void *buf, size_t n)
{
    size_t slen = 0;
    void *scratch = t->loop != NULL ? wire__loop_scratch(t->loop, &slen) : NULL;
    if (buf != scratch) {
        wire__proto_buffer_updated(t, n);
        return wire__transport_wants_input(t);
    }
    return wire_impl_data(t, buf, n);
}

bool
wire_impl_data(struct wire_transport *t, const void *data, size_t len)
{
    /* A byte stream has no empty reads; a message transport (one that
     * frames its writes) has empty messages. */
    if (len == 0 && t->ops->frame == NULL)
        return wire__transport_wants_input(t);
    /* Cork: what the protocol writes while it takes this read is queued
     * and goes out in one gathered write when it returns, not one
     * syscall per answer to pipelined requests.  The outermost read
     * being delivered gathers in the loop's cork area (internal.h). */
    bool cork = !(t->flags & WIRE_T_CORKED) && out_len(t) == 0;
    struct wire__cork *area = NULL;
    if (cork) {
        t->flags |= WIRE_T_CORKED;
        area = wire__cork_claim(t);
    }
    uint32_t before = t->flags;
    wire__proto_data(t, data, len);
    if (cork) {
        t->flags &= ~WIRE_T_CORKED;
        before &= ~WIRE_T_CORKED;
        if (out_len(t) > 0)
            wire__flush(t);
        if (area != NULL)
            wire__cork_release(t, area);
    }
    /* The callback may have paused, closed or aborted: keep the handle's
     * reading in step before the transport reads again. */
    if (t->flags != before)
        wire__update_reading(t);
    return wire__transport_wants_input(t);
}

void
wire_impl_eof(struct wire_transport *t)
{
    if (t->flags & (WIRE_T_LOST | WIRE_T_EOF_RECEIVED))
        return;
    t->flags |= WIRE_T_EOF_RECEIVED;
    wire__update_reading(t);
    if (t->flags & WIRE_T_CLOSING)
        return;
    wire_transport_ref(t);
    bool keep = wire__proto_eof(t);
    if (!(t->flags & (WIRE_T_CLOSING | WIRE_T_LOST))) {
        if (!keep || (t->flags & WIRE_T_WRITE_SHUT)) {
            /* Nothing more will be read and the protocol wants no more
             * writing (or writing was already shut): done. */
            wire_transport_close(t);
        } else {
            t->flags |= WIRE_T_KEEP_OPEN;
        }
    }
    wire_transport_unref(t);
}

/* ---- pause / resume ---- */

int
wire_transport_pause_reading(struct wire_transport *t)
{
    if (t->flags & WIRE_T_LOST)
        return WIRE_ECLOSED;
    t->flags |= WIRE_T_READ_PAUSED;
    wire__update_reading(t);
    return 0;
}

int
wire_transport_resume_reading(struct wire_transport *t)
{
    if (t->flags & WIRE_T_LOST)
        return WIRE_ECLOSED;
    t->flags &= ~WIRE_T_READ_PAUSED;
    wire__update_reading(t);
    return 0;
}

bool
wire_transport_is_reading(const struct wire_transport *t)
{
    return wire__transport_wants_input(t);
}

int
wire_transport_pause(struct wire_transport *t)
{
    if (t->flags & WIRE_T_LOST)
        return WIRE_ECLOSED;
    t->flags |= WIRE_T_PAUSED_ALL;
    wire__update_reading(t);
    if (!(t->flags & WIRE_T_CLOSING))
        wire__set_want_write(t, false);
    return 0;
}

int
wire_transport_resume(struct wire_transport *t)
{
    if (t->flags & WIRE_T_LOST)
        return WIRE_ECLOSED;
    if (!(t->flags & WIRE_T_PAUSED_ALL))
        return 0;
    t->flags &= ~WIRE_T_PAUSED_ALL;
    wire__update_reading(t);
    if (out_len(t) > 0 || (t->flags & WIRE_T_EOF_PENDING))
        wire_impl_writable(t);
    return 0;
}

/* ---- half-close, close, abort ---- */

void
wire_impl_defer(struct wire_transport *t, struct wire_soon *node)
{
    const struct wire_transport *x = t;
    while (x->loop == NULL && x->lower != NULL)
        x = x->lower;
    if (x->loop != NULL)
        wire__loop_soon(x->loop, node);
    else if (x->ops->defer != NULL)
        x->ops->defer((struct wire_transport *)(uintptr_t)x, node);
    else
        node->queued = true; /* nobody can run it: a transport bug */
}

bool
wire_transport_can_write_eof(const struct wire_transport *t)
{
    if (t->ops->shutdown_write == NULL)
        return false;
    if (t->ops->caps & WIRE_CAP_HALF_CLOSE)
        return true;
    if ((t->ops->caps & WIRE_CAP_HALF_CLOSE_IF_LOWER) && t->lower != NULL)
        return wire_transport_can_write_eof(t->lower);
    return false;
}

int
wire_transport_write_eof(struct wire_transport *t)
{
    if (!wire_transport_can_write_eof(t))
        return WIRE_ENOTSUP;
    if (!(t->flags & WIRE_T_STARTED))
        return WIRE_ESTATE;
    if (t->flags & (WIRE_T_CLOSING | WIRE_T_LOST | WIRE_T_HANDLE_CLOSED))
        return WIRE_ECLOSED;
    if (t->flags & (WIRE_T_EOF_PENDING | WIRE_T_WRITE_SHUT))
        return 0;
    t->flags |= WIRE_T_EOF_PENDING;
    if (out_len(t) == 0 && !(t->flags & WIRE_T_PAUSED_ALL))
        wire__after_drain(t);
    return 0;
}

void
wire_transport_close(struct wire_transport *t)
{
    if (t->flags & (WIRE_T_CLOSING | WIRE_T_LOST))
        return;
    if (!(t->flags & WIRE_T_STARTED)) {
        /* Not started: nothing to flush and no protocol to tell. */
        return;
    }
    t->flags |= WIRE_T_CLOSING;
    wire__update_reading(t);
    if (out_len(t) == 0)
        wire__begin_loss(t, NULL, false);
    else
        wire__flush(t); /* close flushes even while PEP-paused */
}

void
wire_transport_abort(struct wire_transport *t)
{
    if ((t->flags & WIRE_T_LOST) || !(t->flags & WIRE_T_STARTED))
        return;
    /* What the cork holds (see wire_impl_data) would have been written
     * through already without it: write it, as it would have been. */
    if ((t->flags & WIRE_T_CORKED) && out_len(t) > 0) {
        wire__flush(t);
        if (t->flags & WIRE_T_LOST)
            return;
    }
    t->flags |= WIRE_T_ABORTED;
    struct wire_error e = {0};
    wire_error_set(&e, WIRE_EABORTED, "connection aborted locally");
    wire__begin_loss(t, wire__error_dup(&e), true);
    wire_error_clear(&e);
}

bool
wire_transport_is_closing(const struct wire_transport *t)
{
    return (t->flags & (WIRE_T_CLOSING | WIRE_T_LOST)) != 0;
}

void
wire_impl_fail(struct wire_transport *t, int code, const char *fmt, ...)
{
    if (t->flags & WIRE_T_LOST)
        return;
    va_list ap;
    va_start(ap, fmt);
    struct wire_error *e = wire__error_new(code, fmt, ap);
    va_end(ap);
    wire__begin_loss(t, e, false);
}

void
wire_impl_lost(struct wire_transport *t, const struct wire_error *err)
{
    if (t->flags & WIRE_T_LOST)
        return;
    wire__begin_loss(t, err != NULL && err->code != 0 ? wire__error_dup(err) : NULL,
               false);
}

/*
 * The connection ends: drop the queue, close the handle now (so the peer
 * sees it at once), and deliver connection_lost on a later turn.  Takes
 * ownership of `err`.
 */
void
wire__begin_loss(struct wire_transport *t, struct wire_error *err, bool abort)
{
    if (t->flags & WIRE_T_LOST) {
        wire__error_free(err);
        return;
    }
    t->flags |= WIRE_T_LOST;
    t->lost_err = err;
    wire_transport_ref(t);
    if (t->flags & WIRE_T_READING) {
        t->flags &= ~WIRE_T_READING;
        if (t->ops->read_stop != NULL)
            t->ops->read_stop(t);
    }
    wire__set_want_write(t, false);
    wire__outq_drop(t); /* may run write_ref / write_file callbacks */
    if (!(t->flags & WIRE_T_HANDLE_CLOSED)) {
        t->flags |= WIRE_T_HANDLE_CLOSED;
        t->ops->close(t, abort);
    }
    /* ops->close may have held the loss (wire_impl_hold_loss): then
     * wire_impl_release_loss schedules it. */
    if ((t->flags & WIRE_T_STARTED) && !(t->flags & WIRE_T_LOSS_HELD))
        wire_impl_defer(t, &t->soon);
    wire_transport_unref(t);
}

void
wire_impl_hold_loss(struct wire_transport *t)
{
    if (!(t->flags & WIRE_T_LOST_DONE))
        t->flags |= WIRE_T_LOSS_HELD;
}

void
wire_impl_release_loss(struct wire_transport *t, const struct wire_error *err)
{
    if (!(t->flags & WIRE_T_LOSS_HELD))
        return;
    t->flags &= ~WIRE_T_LOSS_HELD;
    if (!(t->flags & WIRE_T_LOST))
        return; /* held outside a loss (a discarded transport): nothing */
    if (err != NULL && err->code != 0) {
        if (t->lost_err == NULL) {
            t->lost_err = wire__error_dup(err);
        } else {
            /* The loss has its own cause; `err` is what followed. */
            wire_error_set(t->lost_err, t->lost_err->code, "%s (%s)",
                           t->lost_err->message, err->message);
        }
    }
    if (t->flags & WIRE_T_STARTED)
        wire_impl_defer(t, &t->soon);
}

static void
lost_fn(struct wire_soon *node)
{
    struct wire_transport *t = wire_container_of(node, struct wire_transport, soon);
    struct wire_protocol *p = t->protocol;
    t->flags |= WIRE_T_LOST_DONE;
    wire__proto_lost(t, t->lost_err);
    if (t->server != NULL)
        wire__server_connection_lost(t);
    t->protocol = NULL;
    p->transport = NULL;
    wire__proto_destroy(p);
    /* The reference every transport starts with ends here. */
    wire_transport_unref(t);
}

/* ---- information ---- */
int
wire_impl_info_string(void *out, size_t len, const char *s)
{
    if (out == NULL || len == 0)
        return WIRE_EINVAL;
    size_t n = strlen(s);
    size_t c = n < len - 1 ? n : len - 1;
    memcpy(out, s, c);
    ((char *)out)[c] = '\0';
    return (int)n;
}

int
wire_transport_get_info(struct wire_transport *t, int key, void *out, size_t len)
{
    if (key == WIRE_INFO_NAME)
        return wire_impl_info_string(out, len, t->ops->name);
    for (struct wire_transport *x = t; x != NULL; x = x->lower) {
        if (x->ops->get_info == NULL)
            continue;
        int rc = x->ops->get_info(x, key, out, len);
        if (rc != WIRE_ENOTSUP)
            return rc;
    }
    return WIRE_ENOTSUP;
}

int
wire_transport_hint_reply(struct wire_transport *t, enum wire_reply_hint hint)
{
    if (hint != WIRE_REPLY_NONE && hint != WIRE_REPLY_LATER)
        return WIRE_EINVAL;
    if (t->ops->hint_reply == NULL)
        return WIRE_ENOTSUP; /* not forwarded: the message was this one's */
    if (!(t->flags & WIRE_T_STARTED))
        return WIRE_ESTATE;
    if (t->flags & (WIRE_T_CLOSING | WIRE_T_LOST | WIRE_T_HANDLE_CLOSED))
        return WIRE_ECLOSED;
    return t->ops->hint_reply(t, hint);
}

struct wire_loop *
wire_transport_loop(const struct wire_transport *t)
{
    return t->loop;
}

struct wire_protocol *
wire_transport_protocol(const struct wire_transport *t)
{
    return t->protocol;
}

const char *
wire_transport_name(const struct wire_transport *t)
{
    return t->ops->name;
}
