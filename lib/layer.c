/*
 * The layer helper: a protocol to the transport below and a transport to
 * the protocol above, so a layer (chunk framing, TLS, HTTP bodies, trace,
 * fault) writes only its translation.
 *
 * The upper transport (`above`) is an ordinary transport base: its output
 * queue, watermarks and state machine are the core's.  Its "handle" is the
 * transport below: writing hands bytes to the layer's send hook, which
 * writes them below; when the transport below pauses writing, the
 * handle "would block", so bytes queue above and the protocol above gets
 * pause_writing from its own watermarks.  A write hands below no more
 * than the transport below has room for under its high mark (plus one
 * byte, so that it pauses and later resumes us): the rest waits above,
 * where the protocol above sees it.  Reading pauses cross downwards
 * (pause_reading below).  Bytes a layer produces after the protocol above
 * paused are held, message by message, and delivered in order on resume.
 *
 * Ownership: the transport below owns `below` (and destroys it after its
 * connection_lost); `above` owns the protocol above.  The layer's memory
 * is counted on `above`: one reference from the core (dropped after the
 * above's connection_lost) and one while `below` is alive.
 */
#include "internal.h"
#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define L_STARTED        (1u << 0) /* above started */
#define L_LOWER_PAUSED_W (1u << 1) /* the transport below paused writing */
#define L_BELOW_GONE     (1u << 2) /* below destroyed */
#define L_FAILED         (1u << 3) /* wire_layer_fail: abort below */
#define L_MESSAGES       (1u << 4) /* a message layer: empty messages exist */
#define L_IN_RECV        (1u << 5) /* inside lops->recv (below_data) */
#define L_HOLD_W         (1u << 6) /* wire_layer_hold_writes */

#define WIRE_LAYER_IOV 64 /* pieces handed down per write */

struct held_msg {
    struct held_msg *next;
    size_t len;
    char data[];
};

struct wire__held {
    struct held_msg *head, *tail;
    bool eof;
    /* The connection below ended (cleanly, or by the layer's own failure)
     * while input was held: the end waits for that input to go up. */
    bool end_pending;
    struct wire_error *end_err; /* the end's error (NULL: a clean end) */
    struct wire_soon node;
    struct wire_layer *layer;
};

static struct wire_layer *
layer_of(struct wire_transport *t)
{
    return wire_container_of(t, struct wire_layer, above);
}

struct wire_layer *
wire_layer_from_protocol(struct wire_protocol *p)
{
    return wire_container_of(p, struct wire_layer, below);
}

struct wire_transport *
wire__transport_top(struct wire_transport *t)
{
    for (;;) {
        struct wire_protocol *p = t->protocol;
        if (p == NULL || !(p->contract__ & WIRE_C_LAYER))
            return t;
        struct wire_layer *l = wire_layer_from_protocol(p);
        if (!(l->lflags & L_STARTED) || l->above.protocol == NULL ||
            (l->above.flags & (WIRE_T_CLOSING | WIRE_T_LOST)))
            return t;
        t = &l->above;
    }
}

static bool
held_empty(const struct wire_layer *l)
{
    return l->held == NULL || (l->held->head == NULL && !l->held->eof);
}

static void held_run(struct wire_soon *node);

/* Deliver the end that waited for the held input (held_defer_end). */
static void
held_end(struct wire_layer *l)
{
    struct wire__held *h = l->held;
    struct wire_error *e = h->end_err;
    h->end_pending = false;
    h->end_err = NULL;
    wire_impl_lost(&l->above, e);
    wire__error_free(e);
}

/*
 * The connection below is ending (`err` NULL: cleanly) while input is
 * held for a protocol above that paused reading.  That input came before
 * the end, so it is not dropped: the end waits until the protocol above
 * has taken it (on its resume), then comes as connection_lost with
 * `err` (after the held EOF, if any).  Nothing written from now on can
 * reach the peer, so writing is shut (writes return WIRE_ECLOSED) and
 * what waited to be written is dropped, as a loss would; close or abort
 * from above ends it at once.  Returns false, doing nothing, when no
 * input is held (or the protocol above is ending anyway).
 */
static bool
held_defer_end(struct wire_layer *l, const struct wire_error *err)
{
    struct wire_transport *above = &l->above;
    if (!(l->lflags & L_STARTED) || held_empty(l) ||
        (above->flags & (WIRE_T_LOST | WIRE_T_CLOSING)))
        return false;
    struct wire__held *h = l->held;
    if (h->end_pending)
        return true; /* the first end wins */
    h->end_pending = true;
    h->end_err = err != NULL && err->code != 0 ? wire__error_dup(err) : NULL;
    above->flags |= WIRE_T_WRITE_SHUT;
    above->flags &= ~WIRE_T_EOF_PENDING;
    wire__set_want_write(above, false);
    wire__outq_drop(above); /* may run write_ref / write_file callbacks */
    return true;
}

static struct wire__held *
held_get(struct wire_layer *l)
{
    if (l->held == NULL) {
        l->held = calloc(1, sizeof(*l->held));
        if (l->held != NULL) {
            l->held->node.fn = held_run;
            l->held->layer = l;
        }
    }
    return l->held;
}

static void
held_schedule(struct wire_layer *l)
{
    if (l->held == NULL || l->held->node.queued || held_empty(l))
        return;
    wire_transport_ref(&l->above); /* released by held_run */
    wire_impl_defer(&l->above, &l->held->node);
}

/* Deliver held input while the protocol above wants it. */
static void
held_run(struct wire_soon *node)
{
    struct wire__held *h = wire_container_of(node, struct wire__held, node);
    struct wire_layer *l = h->layer;
    struct wire_transport *above = &l->above;
    while (h->head != NULL && wire__transport_wants_input(above)) {
        struct held_msg *m = h->head;
        h->head = m->next;
        if (h->head == NULL)
            h->tail = NULL;
        wire_impl_data(above, m->data, m->len);
        free(m);
    }
    if (h->head == NULL && h->eof && wire__transport_wants_input(above)) {
        h->eof = false;
        wire_impl_eof(above);
    }
    /* The input is all up: an end that waited for it comes now (also if
     * the protocol above paused again in the last message). */
    if (h->head == NULL && !h->eof && h->end_pending &&
        !(above->flags & WIRE_T_LOST))
        held_end(l);
    /* Anything left waits for the next resume (read_start). */
    wire_transport_unref(above);
}

/* ---- the upper transport's hooks ---- */

void
wire_layer_hook_read_start(struct wire_transport *t)
{
    struct wire_layer *l = layer_of(t);
    if (!held_empty(l))
        held_schedule(l);
    if (l->lower != NULL)
        wire_transport_resume_reading(l->lower);
}

void
wire_layer_hook_read_stop(struct wire_transport *t)
{
    struct wire_layer *l = layer_of(t);
    if (l->lower != NULL)
        wire_transport_pause_reading(l->lower);
}

ssize_t
wire_layer_hook_write(struct wire_transport *t, const struct iovec *iov,
                      int iovcnt)
{
    struct wire_layer *l = layer_of(t);
    if (l->lower == NULL)
        return -EPIPE;
    if (l->lflags & (L_LOWER_PAUSED_W | L_FAILED | L_HOLD_W))
        return 0; /* held: queued above (and dropped if failed) */
    /* Take no more than the transport below has room for under its high
     * mark (one byte over, so that it does pause and later resume us):
     * the rest stays queued here, where the protocol above sees it in its
     * own watermarks, instead of piling up below unseen. */
    size_t high = 0, queued = wire_transport_get_write_buffer_size(l->lower);
    wire_transport_get_write_buffer_limits(l->lower, &high, NULL);
    if (queued > high)
        return 0;
    size_t room = high - queued + 1, total = 0;
    struct iovec part[WIRE_LAYER_IOV];
    int n = 0;
    for (; n < iovcnt && n < WIRE_LAYER_IOV && total < room; n++) {
        part[n] = iov[n];
        if (part[n].iov_len > room - total)
            part[n].iov_len = room - total;
        total += part[n].iov_len;
    }
    bool cut = n < iovcnt || (n > 0 && part[n - 1].iov_len < iov[n - 1].iov_len);
    ssize_t w;
    if (l->lops->send != NULL) {
        w = l->lops->send(l, part, n);
    } else {
        int rc = wire_layer_send(l, part, n);
        w = rc < 0 ? rc : (ssize_t)total;
    }
    /* The transport below is ending on its own (a reset, a peer gone):
     * its connection_lost is on the way and brings the real error up.
     * Failing the protocol above now with "closed" would hide it, so
     * keep the bytes queued here; the loss drops them. */
    if (w == WIRE_ECLOSED && l->lower != NULL &&
        wire_transport_is_closing(l->lower))
        return 0;
    /* Cut short while the transport below is not paused: nothing will
     * wake the rest (want_write is already on), so try again next turn. */
    if (cut && w >= 0 && !(l->lflags & L_LOWER_PAUSED_W) && !l->write_node.queued) {
        wire_transport_ref(t);
        wire_impl_defer(t, &l->write_node);
    }
    return w;
}

static void
write_run(struct wire_soon *node)
{
    struct wire_layer *l = wire_container_of(node, struct wire_layer, write_node);
    if ((l->above.flags & WIRE_T_WANT_WRITE) &&
        !(l->lflags & (L_LOWER_PAUSED_W | L_HOLD_W | L_FAILED)))
        wire_impl_writable(&l->above);
    wire_transport_unref(&l->above);
}

void
wire_layer_hook_want_write(struct wire_transport *t, bool on)
{
    struct wire_layer *l = layer_of(t);
    /* While the transport below takes bytes, a layer that consumed only
     * part of a write is retried on the next turn; otherwise below's
     * resume_writing wakes us. */
    if (on && !(l->lflags & (L_LOWER_PAUSED_W | L_HOLD_W | L_FAILED)) &&
        !l->write_node.queued) {
        wire_transport_ref(t);
        wire_impl_defer(t, &l->write_node);
    }
}

int
wire_layer_hook_shutdown_write(struct wire_transport *t)
{
    struct wire_layer *l = layer_of(t);
    if (l->lops->send_eof != NULL)
        return l->lops->send_eof(l);
    if (l->lower == NULL)
        return WIRE_ECLOSED;
    return wire_transport_write_eof(l->lower);
}

void
wire_layer_hook_close(struct wire_transport *t, bool abort)
{
    struct wire_layer *l = layer_of(t);
    if (l->held != NULL && l->held->end_pending) {
        /* Closed while an end waited (held_defer_end): that end's error
         * is the connection's (the first failure wins); the input held
         * for it goes with the protocol above. */
        struct wire__held *h = l->held;
        h->end_pending = false;
        if (h->end_err != NULL) {
            wire__error_free(t->lost_err);
            t->lost_err = h->end_err;
            h->end_err = NULL;
        }
    }
    if (l->lflags & L_FAILED)
        abort = true;
    if (l->lops->close != NULL) {
        l->lops->close(l, abort);
        return;
    }
    if (l->lower == NULL)
        return;
    if (abort)
        wire_transport_abort(l->lower);
    else
        wire_transport_close(l->lower);
}

int
wire_layer_hook_get_info(struct wire_transport *t, int key, void *out,
                         size_t len)
{
    struct wire_layer *l = layer_of(t);
    if (l->lops->get_info != NULL)
        return l->lops->get_info(l, key, out, len);
    return WIRE_ENOTSUP; /* the core forwards to `lower` */
}

int
wire_layer_hook_hint_reply(struct wire_transport *t, enum wire_reply_hint hint)
{
    struct wire_layer *l = layer_of(t);
    if (l->lower == NULL)
        return WIRE_ECLOSED;
    return wire_transport_hint_reply(l->lower, hint);
}

void
wire_layer_hook_free(struct wire_transport *t)
{
    struct wire_layer *l = layer_of(t);
    if (l->above.lower != NULL) {
        struct wire_transport *lower = l->above.lower;
        l->above.lower = NULL;
        wire_transport_unref(lower);
    }
    if (l->held != NULL) {
        struct held_msg *m = l->held->head;
        while (m != NULL) {
            struct held_msg *next = m->next;
            free(m);
            m = next;
        }
        wire__error_free(l->held->end_err);
        free(l->held);
        l->held = NULL;
    }
    if (l->upper != NULL) {
        wire_protocol_destroy(l->upper);
        l->upper = NULL;
    }
    l->lops->destroy(l);
}

/* ---- the protocol the transport below feeds ---- */

static void
below_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct wire_layer *l = wire_layer_from_protocol(p);
    l->lower = t;
    /* A counted reference, released when the layer is freed: `above`
     * forwards get_info and, in a stack without a loop, defers its work
     * (connection_lost included) through the transport below, also after
     * that transport was lost. */
    l->above.lower = wire_transport_ref(t);
    l->above.loop = t->loop;
    if (l->lops->made != NULL)
        l->lops->made(l);
    else
        wire_layer_start(l);
}

/* A read from below: `len` bytes at `data`, or, when `own`, `len` bytes
 * read into the layer's own buffer (lops->get_buffer). */
static void
below_input(struct wire_layer *l, const void *data, size_t len, bool own)
{
    /* Messages delivered on the fast path leave the reading state to
     * be brought in step here, once per read (see wire_layer_deliver). */
    uint32_t before = l->above.flags;
    unsigned in_recv = l->lflags & L_IN_RECV;
    l->lflags |= L_IN_RECV;
    int rc = own                       ? l->lops->buffer_updated(l, len)
             : l->lops->recv != NULL ? l->lops->recv(l, data, len)
                                     : (wire_layer_deliver(l, data, len), 0);
    l->lflags = (l->lflags & ~L_IN_RECV) | in_recv;
    if (l->above.flags != before && !(l->above.flags & WIRE_T_LOST))
        wire__update_reading(&l->above);
    if (rc < 0 && !(l->above.flags & WIRE_T_LOST))
        wire_layer_fail(l, rc, "%s: %s", l->lops->transport.name,
                        wire_strerror(rc));
}

static void
below_data(struct wire_protocol *p, const void *data, size_t len)
{
    below_input(wire_layer_from_protocol(p), data, len, false);
}

/* Zero-copy receive, for a layer with get_buffer and buffer_updated (the
 * transport below sees these two only then: below_buffered_ops).  Not
 * while the layer is taking a read already: a nested read (a test
 * feeding from inside a callback) then comes through recv, and the
 * layer's buffer is never written under its own feet. */
static void *
below_get_buffer(struct wire_protocol *p, size_t hint, size_t *len)
{
    struct wire_layer *l = wire_layer_from_protocol(p);
    if (l->lflags & L_IN_RECV)
        return NULL;
    return l->lops->get_buffer(l, hint, len);
}

static void
below_buffer_updated(struct wire_protocol *p, size_t n)
{
    below_input(wire_layer_from_protocol(p), NULL, n, true);
}

static bool
below_eof(struct wire_protocol *p)
{
    struct wire_layer *l = wire_layer_from_protocol(p);
    if (l->lops->recv_eof != NULL) {
        int rc = l->lops->recv_eof(l);
        if (rc < 0 && !(l->above.flags & WIRE_T_LOST))
            wire_layer_fail(l, rc, "%s: %s at end of input",
                            l->lops->transport.name, wire_strerror(rc));
    } else {
        wire_layer_deliver_eof(l);
    }
    /* Keep the transport below open: the protocol above decides when the
     * stack closes, through its own close/abort. */
    return true;
}

static void
below_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct wire_layer *l = wire_layer_from_protocol(p);
    l->lower = NULL;
    if (l->lops->lost != NULL && (l->lflags & L_STARTED))
        l->lops->lost(l, err);
    struct wire_error early = {0};
    if (!(l->lflags & L_STARTED) && l->upper != NULL) {
        /* The connection ended before the layer was up (during a
         * handshake): start the protocol above anyway, so that its
         * connection_lost tells it why -- never as a clean end, since
         * it never had a working connection. */
        wire_layer_start(l);
        if (err == NULL) {
            wire_error_set(&early, WIRE_EINCOMPLETE,
                           "%s: the connection ended before the layer was "
                           "up (during its handshake)",
                           l->lops->transport.name != NULL
                               ? l->lops->transport.name : "layer");
            err = &early;
        }
    }
    if ((l->lflags & L_STARTED) && !held_defer_end(l, err))
        wire_impl_lost(&l->above, err);
    wire_error_clear(&early);
}

static void
below_pause_writing(struct wire_protocol *p)
{
    struct wire_layer *l = wire_layer_from_protocol(p);
    l->lflags |= L_LOWER_PAUSED_W;
}

static void
below_resume_writing(struct wire_protocol *p)
{
    struct wire_layer *l = wire_layer_from_protocol(p);
    l->lflags &= ~L_LOWER_PAUSED_W;
    if ((l->above.flags & WIRE_T_WANT_WRITE) && !(l->lflags & L_HOLD_W))
        wire_impl_writable(&l->above);
}

void
wire_layer_hold_writes(struct wire_layer *l, bool hold)
{
    if (hold) {
        l->lflags |= L_HOLD_W;
        return;
    }
    l->lflags &= ~L_HOLD_W;
    if ((l->above.flags & WIRE_T_WANT_WRITE) &&
        !(l->lflags & (L_LOWER_PAUSED_W | L_FAILED)))
        wire_impl_writable(&l->above);
}

static void
below_destroy(struct wire_protocol *p)
{
    struct wire_layer *l = wire_layer_from_protocol(p);
    l->lflags |= L_BELOW_GONE;
    l->lower = NULL;
    if (!(l->lflags & L_STARTED)) {
        /* Never started: `above` will have no connection_lost to drop the
         * core's reference, so drop it here (the upper protocol is
         * destroyed by hook_free). */
        wire_impl_discard(&l->above);
    }
    wire_transport_unref(&l->above);
}

#define BELOW_OPS                                                             \
    .connection_made = below_made, .data_received = below_data,               \
    .eof_received = below_eof, .connection_lost = below_lost,                 \
    .pause_writing = below_pause_writing,                                     \
    .resume_writing = below_resume_writing, .destroy = below_destroy

static const struct wire_protocol_ops below_ops = {BELOW_OPS};
/* For a layer that reads into its own buffer (lops->get_buffer and
 * lops->buffer_updated): only then does the transport below see them. */
static const struct wire_protocol_ops below_buffered_ops = {
    BELOW_OPS, .get_buffer = below_get_buffer,
    .buffer_updated = below_buffer_updated};

/* ---- the layer's calls ---- */

struct wire_protocol *
wire_layer_init(struct wire_layer *l, const struct wire_layer_ops *lops,
                struct wire_protocol *upper)
{
    memset(l, 0, sizeof(*l));
    wire_protocol_init(&l->below, lops->get_buffer != NULL &&
                                          lops->buffer_updated != NULL
                                      ? &below_buffered_ops
                                      : &below_ops);
    l->below.contract__ |= WIRE_C_LAYER;
    wire_impl_init(&l->above, &lops->transport, NULL);
    wire_transport_ref(&l->above); /* held by `below` until destroyed */
    l->lops = lops;
    l->upper = upper;
    if (lops->transport.frame != NULL)
        l->lflags |= L_MESSAGES;
    l->write_node.fn = write_run;
    return &l->below;
}

void
wire_layer_start(struct wire_layer *l)
{
    if (l->lflags & L_STARTED || l->upper == NULL)
        return;
    l->lflags |= L_STARTED;
    struct wire_protocol *upper = l->upper;
    l->upper = NULL;
    /* The transport below is reading (for a handshake, or since it
     * started): say so, so that a protocol above that pauses in
     * connection_made (or was handed over paused) pauses it too, instead
     * of input piling up held. */
    if (l->lower != NULL && wire_transport_is_reading(l->lower))
        l->above.flags |= WIRE_T_READING;
    l->fast_data = upper->ops->data_received;
    wire_impl_start(&l->above, upper);
}

void
wire__layer_protocol_changed(struct wire_transport *t)
{
    if (t->ops->write != wire_layer_hook_write)
        return;
    struct wire_layer *l = layer_of(t);
    l->fast_data = t->protocol->ops->data_received;
}

static __attribute__((noinline)) int
deliver_slow(struct wire_layer *l, const void *data, size_t len)
{
    struct wire_transport *above = &l->above;
    if (!(l->lflags & L_STARTED) || (l->lflags & L_FAILED) ||
        (above->flags & (WIRE_T_LOST | WIRE_T_CLOSING | WIRE_T_EOF_RECEIVED)))
        return WIRE_ECLOSED; /* nobody above wants it any more */
    if (held_empty(l) && wire__transport_wants_input(above)) {
        /* wire_impl_data, inlined: this runs once per message.  `below`
         * holds `above` for as long as the recv that called us runs. */
        if (len == 0 && above->ops->frame == NULL)
            return 0;
        uint32_t before = above->flags;
        wire__proto_data(above, data, len);
        if (above->flags != before)
            wire__update_reading(above);
        return 0;
    }
    /* The protocol above paused: hold this message for its resume. */
    struct wire__held *h = held_get(l);
    struct held_msg *m = malloc(sizeof(*m) + len);
    if (h == NULL || m == NULL) {
        free(m);
        wire_layer_fail(l, WIRE_ENOMEM, "%s: out of memory holding input",
                        l->lops->transport.name);
        return WIRE_ENOMEM;
    }
    m->next = NULL;
    m->len = len;
    memcpy(m->data, data, len);
    if (h->tail != NULL)
        h->tail->next = m;
    else
        h->head = m;
    h->tail = m;
    if (wire__transport_wants_input(above))
        held_schedule(l);
    return 0;
}

/* The states in which a message goes straight up: started, reading, not
 * closing, nothing held before it. */
#define DELIVER_FLAGS_MASK                                                    \
    (WIRE_T_STARTED | WIRE_T_READ_PAUSED | WIRE_T_PAUSED_ALL |                \
     WIRE_T_EOF_RECEIVED | WIRE_T_CLOSING | WIRE_T_LOST | WIRE_T_HANDLE_CLOSED)

int
wire_layer_deliver(struct wire_layer *l, const void *data, size_t len)
{
    /* The fast path runs once per message of every framing layer, so it
     * is these tests, all on the layer itself, and the call; everything
     * else (holding, empty messages on a byte stream, the checked
     * dispatch) is in deliver_slow.  The above's STARTED, EOF and LOST
     * flags are the state the contract checker tracks, so the checker's
     * own bits are not consulted here.  No reference is taken: `below`
     * holds `above` for as long as the recv that called us runs. */
    struct wire_transport *above = &l->above;
    if (__builtin_expect(l->held == NULL &&
                             (above->flags & DELIVER_FLAGS_MASK) == WIRE_T_STARTED &&
                             l->fast_data != NULL &&
                             (l->lflags & L_IN_RECV) &&
                             (len > 0 || (l->lflags & L_MESSAGES)),
                         1)) {
        /* If the callback pauses or closes, below_data brings the
         * reading state in step when the recv returns; until then every
         * further message sees the new flags and takes the slow path. */
        l->fast_data(above->protocol, data, len);
        return 0;
    }
    return deliver_slow(l, data, len);
}

void
wire_layer_deliver_eof(struct wire_layer *l)
{
    struct wire_transport *above = &l->above;
    if (!(l->lflags & L_STARTED) || (l->lflags & L_FAILED) ||
        (above->flags & WIRE_T_LOST))
        return;
    if (held_empty(l) && wire__transport_wants_input(above)) {
        wire_impl_eof(above);
        return;
    }
    struct wire__held *h = held_get(l);
    if (h == NULL) {
        wire_impl_eof(above);
        return;
    }
    h->eof = true;
    if (wire__transport_wants_input(above))
        held_schedule(l);
}

int
wire_layer_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
{
    if (l->lower == NULL)
        return WIRE_ECLOSED;
    return wire_transport_write_sequence(l->lower, iov, iovcnt);
}

void
wire_layer_fail(struct wire_layer *l, int code, const char *fmt, ...)
{
    l->lflags |= L_FAILED;
    va_list ap;
    va_start(ap, fmt);
    struct wire_error *e = wire__error_new(code, fmt, ap);
    va_end(ap);
    if (!(l->lflags & L_STARTED) && l->upper != NULL && l->lower != NULL) {
        /* Failing before the layer is up (a handshake that failed): the
         * protocol above has heard nothing yet, so start it and let its
         * connection_lost carry the error (what it writes meanwhile is
         * dropped with the queue). */
        wire_layer_start(l);
    }
    if ((l->lflags & L_STARTED) && held_defer_end(l, e)) {
        /* Input held for the protocol above came before the failure: it
         * goes up first, then the error (held_defer_end).  Nothing more
         * is read or written below. */
        if (l->lower != NULL)
            wire_transport_abort(l->lower);
    } else if (l->lflags & L_STARTED) {
        wire_impl_lost(&l->above, e);
    } else {
        if (l->above.loop != NULL && e != NULL)
            wire_loop_log(l->above.loop, WIRE_LOG_WARN, "%s", e->message);
        if (l->lower != NULL)
            wire_transport_abort(l->lower);
    }
    wire__error_free(e);
}
