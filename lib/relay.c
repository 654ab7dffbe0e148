/*
 * Relay: two protocols that join two transports both ways (what a proxy,
 * or wirecat, needs).  Written against the public API only, like any
 * protocol: it cannot know what carries either side.
 *
 * Backpressure: when side X's transport pauses writing, the other side
 * pauses reading, and resumes with it.  Half-close: an EOF read on one side
 * becomes write_eof on the other (or close, where the other cannot
 * half-close).  When a side is lost with an error the other is aborted;
 * when it is lost cleanly the other is closed, flushing what it holds.
 */
#include "internal.h"

#include <wire/relay.h>

#include <stdlib.h>

struct relay;

struct relay_side {
    struct wire_protocol proto;
    struct relay *r;
    struct wire_transport *t;
    bool made, lost, destroyed;
    uint64_t bytes_in;
    struct wire_error err;
};

struct relay {
    struct relay_side s[2];
    wire_relay_done_cb done;
    void *arg;
    int alive; /* sides not yet destroyed */
};

static struct relay_side *
side_of(struct wire_protocol *p)
{
    return wire_container_of(p, struct relay_side, proto);
}

static struct relay_side *
other(struct relay_side *x)
{
    return x == &x->r->s[0] ? &x->r->s[1] : &x->r->s[0];
}

static bool
usable(const struct relay_side *x)
{
    return x->made && !x->lost && x->t != NULL;
}

static void
r_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct relay_side *x = side_of(p);
    struct relay_side *o = other(x);
    x->t = t;
    x->made = true;
    if (o->lost || o->destroyed) {
        /* The other side is already gone: nothing to relay to. */
        wire_transport_close(t);
        return;
    }
    if (!o->made) {
        /* Hold input until the other side can take it. */
        wire_transport_pause_reading(t);
    } else {
        wire_transport_resume_reading(o->t);
    }
}

static void
r_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct relay_side *x = side_of(p);
    struct relay_side *o = other(x);
    x->bytes_in += len;
    if (!usable(o) || wire_transport_write(o->t, data, len) < 0) {
        /* The other side cannot take bytes any more: they would be lost,
         * so end this side loudly rather than drop them silently. */
        wire_transport_abort(x->t);
    }
}

static bool
r_eof(struct wire_protocol *p)
{
    struct relay_side *x = side_of(p);
    struct relay_side *o = other(x);
    if (usable(o)) {
        if (wire_transport_can_write_eof(o->t))
            wire_transport_write_eof(o->t);
        else
            wire_transport_close(o->t);
    }
    /* Keep this side open for what the other side still sends; both
     * directions done closes it (the core does that). */
    return wire_transport_can_write_eof(x->t) && usable(o);
}

static void
r_pause_writing(struct wire_protocol *p)
{
    struct relay_side *o = other(side_of(p));
    if (usable(o))
        wire_transport_pause_reading(o->t);
}

static void
r_resume_writing(struct wire_protocol *p)
{
    struct relay_side *o = other(side_of(p));
    if (usable(o))
        wire_transport_resume_reading(o->t);
}

static void
finish_other(struct relay_side *x, bool failed)
{
    struct relay_side *o = other(x);
    if (usable(o)) {
        if (failed)
            wire_transport_abort(o->t);
        else
            wire_transport_close(o->t);
    }
}

static void
r_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct relay_side *x = side_of(p);
    x->lost = true;
    x->t = NULL;
    wire_error_copy(&x->err, err);
    finish_other(x, err != NULL && err->code != 0);
}

static void
r_destroy(struct wire_protocol *p)
{
    struct relay_side *x = side_of(p);
    struct relay *r = x->r;
    x->destroyed = true;
    if (!x->made)
        finish_other(x, true); /* this side never connected */
    if (--r->alive > 0)
        return;
    if (r->done != NULL)
        r->done(r->arg, r->s[0].err.code ? &r->s[0].err : NULL,
                r->s[1].err.code ? &r->s[1].err : NULL, r->s[0].bytes_in,
                r->s[1].bytes_in);
    wire_error_clear(&r->s[0].err);
    wire_error_clear(&r->s[1].err);
    free(r);
}

static const struct wire_protocol_ops relay_ops = {
    .connection_made = r_made,
    .data_received = r_data,
    .eof_received = r_eof,
    .connection_lost = r_lost,
    .pause_writing = r_pause_writing,
    .resume_writing = r_resume_writing,
    .destroy = r_destroy,
};

int
wire_relay_new(struct wire_protocol **a, struct wire_protocol **b,
               wire_relay_done_cb done, void *arg)
{
    struct relay *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return WIRE_ENOMEM;
    r->done = done;
    r->arg = arg;
    r->alive = 2;
    for (int i = 0; i < 2; i++) {
        wire_protocol_init(&r->s[i].proto, &relay_ops);
        r->s[i].r = r;
    }
    *a = &r->s[0].proto;
    *b = &r->s[1].proto;
    return 0;
}
