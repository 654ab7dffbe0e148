/*
 * Hand-over: a live transport changes protocol (STARTTLS, an HTTP
 * Upgrade, a CONNECT tunnel).
 *
 * The old protocol is detached without connection_lost (the connection
 * goes on) and given back to the caller; the new one gets connection_made
 * at once.  Bytes the old protocol had read past the switch point go up
 * first, on a later turn: until they have, the transport reads nothing
 * (WIRE_T_HANDOVER is in the "wants input" mask), so nothing newer can
 * pass them, and a new protocol that paused gets them when it resumes.
 */
#include "internal.h"
#include "outq.h"

#include <stdlib.h>
#include <string.h>

struct wire__handover {
    struct wire_soon node;
    struct wire_transport *t;
    bool queued_ref; /* `node` is queued and holds a reference on `t` */
    size_t len;
    unsigned char data[];
};

static void
handover_run(struct wire_soon *node)
{
    struct wire__handover *h = wire_container_of(node, struct wire__handover, node);
    struct wire_transport *t = h->t;
    h->queued_ref = false;
    if (t->handover == h) {
        /* Deliverable once the protocol wants input, ignoring our own
         * flag; otherwise wire__handover_kick runs us again on resume. */
        t->flags &= ~WIRE_T_HANDOVER;
        bool want = wire__transport_wants_input(t);
        if (!want && !(t->flags & (WIRE_T_LOST | WIRE_T_CLOSING))) {
            t->flags |= WIRE_T_HANDOVER;
        } else {
            t->handover = NULL;
            if (want)
                wire__proto_data(t, h->data, h->len);
            free(h);
            if (!(t->flags & WIRE_T_LOST))
                wire__update_reading(t);
        }
    }
    wire_transport_unref(t);
}

static void
handover_schedule(struct wire__handover *h)
{
    if (h->queued_ref)
        return;
    h->queued_ref = true;
    wire_transport_ref(h->t);
    wire_impl_defer(h->t, &h->node);
}

void
wire__handover_kick(struct wire_transport *t)
{
    struct wire__handover *h = t->handover;
    if (h == NULL || h->queued_ref)
        return;
    t->flags &= ~WIRE_T_HANDOVER;
    bool want = wire__transport_wants_input(t);
    t->flags |= WIRE_T_HANDOVER;
    if (want)
        handover_schedule(h);
}

void
wire__handover_free(struct wire_transport *t)
{
    /* Only reached once no queued run holds a reference. */
    free(t->handover);
    t->handover = NULL;
}

struct wire_protocol *
wire_transport_set_protocol(struct wire_transport *t, struct wire_protocol *p,
                            const void *pending, size_t len,
                            struct wire_error *err)
{
    if (t == NULL || p == NULL || (len > 0 && pending == NULL)) {
        wire_error_set(err, WIRE_EINVAL, "set_protocol: missing transport, "
                                         "protocol or pending bytes");
        return NULL;
    }
    if (!(t->flags & WIRE_T_STARTED) ||
        (t->flags & (WIRE_T_LOST | WIRE_T_CLOSING | WIRE_T_HANDLE_CLOSED))) {
        wire_error_set(err, WIRE_ECLOSED, "set_protocol: the transport is "
                                          "not open");
        return NULL;
    }
    if (t->flags & WIRE_T_EOF_RECEIVED) {
        wire_error_set(err, WIRE_ECLOSED, "set_protocol: the peer already "
                                          "sent EOF");
        return NULL;
    }
    if (t->handover != NULL) {
        wire_error_set(err, WIRE_ESTATE, "set_protocol: the bytes of the "
                                        "previous hand-over are not "
                                        "delivered yet");
        return NULL;
    }
    if (p->contract__ & (WIRE_C_MADE | WIRE_C_LOST | WIRE_C_DESTROYED)) {
        wire_error_set(err, WIRE_EINVAL, "set_protocol: the new protocol "
                                         "already has a transport");
        return NULL;
    }
    struct wire__handover *h = NULL;
    if (len > 0) {
        h = malloc(sizeof(*h) + len);
        if (h == NULL) {
            wire_error_set(err, WIRE_ENOMEM, "out of memory");
            return NULL;
        }
        memset(h, 0, sizeof(*h));
        h->node.fn = handover_run;
        h->t = t;
        h->len = len;
        memcpy(h->data, pending, len);
    }

    /* Detach the old protocol: no more callbacks from `t`; it may be
     * made again by another transport, or destroyed by the caller.  A
     * pause of its writing travels with it (see wire_impl_start). */
    struct wire_protocol *old = t->protocol;
    old->contract__ &= ~WIRE_C_MADE;
    old->transport = NULL;

    wire_transport_ref(t);
    /* The old protocol's read pause and EOF choice were its own. */
    t->flags &= ~(WIRE_T_READ_PAUSED | WIRE_T_KEEP_OPEN | WIRE_T_PROTO_PAUSED);
    if (h != NULL) {
        t->handover = h;
        t->flags |= WIRE_T_HANDOVER;
    }
    t->protocol = p;
    p->transport = t;
    wire__layer_protocol_changed(t);
    wire__proto_made(t);
    /* Start the new protocol's own pause from where the queue stands. */
    if (!(t->flags & WIRE_T_LOST))
        wire__check_high(t);
    if (h != NULL && t->handover == h)
        wire__handover_kick(t);
    if (!(t->flags & WIRE_T_LOST))
        wire__update_reading(t);
    wire_transport_unref(t);
    return old;
}
