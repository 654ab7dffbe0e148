/*
 * The fault layer (include/wire/fault.h): a layer on the core's layer
 * helper that re-cuts, joins, delays and shortens the byte stream through
 * it, and injects an EOF, a reset or an error at an exact byte, all drawn
 * from a seed.
 *
 * Input.  Bytes from below go into the layer's own input queue (cut at an
 * injected input fault: the rest is dropped) and a pump passes them up
 * with wire_impl_data, one piece at a time, while the protocol above
 * wants input: pieces end at cut offsets drawn from the seed; joining
 * waits (a timer) until enough is held; a delay waits (a timer) before a
 * piece.  The pump runs from the transport below's delivery, from a
 * timer, or from a run-soon node (after a resume): never from inside a
 * call the protocol above made.  The queue is bounded: beyond it the
 * layer pauses reading below, and reading below follows the above's
 * reading otherwise (the upper transport's read_start/read_stop hooks
 * are the layer's own).  EOF, or the injected input fault, follows the
 * last byte held.
 *
 * Output.  The upper transport's write hook is the layer's own: it may
 * take only part of what it is offered (a short write; the core keeps
 * the rest queued above, in the above's write buffer size and
 * watermarks, and the layer offers it again from a run-soon node or a
 * timer), and stops at an injected output fault, which is applied on a
 * later turn.  What it takes goes through the helper's write hook (no
 * more than the transport below has room for) to the send hook, which
 * cuts it at offsets drawn from the seed, one write below per piece.
 *
 * Like the trace layer, the ops live in the layer: once connected they
 * follow the transport below's name and capabilities, and the helper's
 * protocol is wrapped to see the pause_writing / resume_writing of the
 * transport below (the write hook needs to know when to retry) and its
 * connection_lost: a clean end below waits until the input still held
 * has been passed up with its EOF (a transport closes by itself after
 * the peer's EOF once its own write side is shut, and would otherwise
 * take held bytes with it).  A close from above holds the above's
 * connection_lost until the transport below has ended, as the trace
 * layer does.
 */
#include "../lib/internal.h"

#include <wire/fault.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAULT_HOLD_MIN   (64u * 1024u)          /* input held before pausing below */
#define FAULT_MAX_JOIN   ((size_t)64 << 20)     /* coalesce_max limit */
#define FAULT_MAX_DELAY  (3600u * 1000u)        /* an hour, in ms */
#define FAULT_IOV        64                     /* pieces per write below */

/* The random streams, one per kind of decision. */
enum {
    RS_READ_CUT = 1, RS_JOIN, RS_DELAY, RS_WRITE_CUT, RS_SHORT, RS_WDELAY,
    RS_COUNT
};

struct fault_layer {
    struct wire_layer l; /* first: the helper's part */
    struct wire_layer_ops lops;
    struct wire_protocol_ops below_ops;
    const struct wire_protocol_ops *helper_below; /* the helper's own */
    char name[32];
    struct wire_fault_opts o;
    uint64_t rs[RS_COUNT];
    size_t hold_max;      /* input held before reading below pauses */

    /* input: the queue holds bytes [in_off, in_rx) of the input */
    unsigned char *ibuf;
    size_t ihead, ilen, icap;
    unsigned char *iretired; /* the buffer a delivery reads from, moved */
    uint64_t in_rx, in_off;
    uint64_t in_cut;      /* the next cut offset (read_max) */
    size_t join_need;     /* bytes joining waits for */
    bool eof_in;          /* EOF from below, after the queue */
    bool in_armed;        /* the input fault happens after the queue */
    bool in_done;         /* ... and happened: input is dropped */
    bool join_flush;      /* pass up what is held without waiting */
    bool delay_passed;    /* the next piece has had its delay */
    bool rheld;           /* the queue is full: reading below paused */
    bool pumping, delivering;
    bool lost_later;      /* the clean loss below waits for the queue */
    struct wire_timer *join_timer, *delay_timer;
    struct wire_soon pump_node, join_node;

    /* output */
    uint64_t out_off;     /* bytes handed to the transport below */
    uint64_t out_cut;     /* the next cut offset (write_max) */
    bool out_armed;       /* the output fault waits for its turn */
    bool out_done;
    bool swallow;         /* after an output EOF: writes are dropped */
    bool zero_short;      /* the last short write took nothing */
    bool lower_paused_w;  /* the transport below paused writing */
    bool holding, aborted;/* the above's loss waits for the one below */
    bool gone;            /* the loss below was passed on: no more timers */
    struct wire_timer *wake_timer;
    struct wire_soon wake_node, outf_node;
};

static struct fault_layer *
fault_of_layer(struct wire_layer *l)
{
    return (struct fault_layer *)(void *)l;
}

static struct fault_layer *
fault_of_above(struct wire_transport *t)
{
    return fault_of_layer(wire_container_of(t, struct wire_layer, above));
}

/* ---- the generator (SplitMix64, see fault.h) ---- */

static uint64_t
mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t
next64(struct fault_layer *f, int stream)
{
    f->rs[stream] += 0x9e3779b97f4a7c15ull;
    return mix64(f->rs[stream]);
}

/* A size from 1 to max, small ones more often (see fault.h). */
static size_t
draw_size(struct fault_layer *f, int stream, size_t max)
{
    uint64_t b = 1 + next64(f, stream) % max;
    return (size_t)(1 + next64(f, stream) % b);
}

/* A delay of 0 to max ms, for one event in `one_in`. */
static unsigned
draw_delay(struct fault_layer *f, int stream, unsigned max, unsigned one_in)
{
    if (max == 0)
        return 0;
    if (one_in > 1 && next64(f, stream) % one_in != 0)
        return 0;
    return (unsigned)(next64(f, stream) % ((uint64_t)max + 1));
}

/* ---- timers and run-soon nodes ---- */

/* A timer on the layer's loop, made on first use; NULL without a loop
 * (the caller then uses a run-soon node), without memory, or once the
 * transport below is gone (timers are freed then, and the loop must be
 * able to end). */
static struct wire_timer *
timer_get(struct fault_layer *f, struct wire_timer **slot, wire_loop_cb cb)
{
    if (*slot == NULL && f->l.above.loop != NULL && !f->gone)
        *slot = wire_timer_new(f->l.above.loop, cb, f);
    return *slot;
}

static void
timers_free(struct fault_layer *f)
{
    wire_timer_free(f->join_timer);
    wire_timer_free(f->delay_timer);
    wire_timer_free(f->wake_timer);
    f->join_timer = f->delay_timer = f->wake_timer = NULL;
}

static void
soon(struct fault_layer *f, struct wire_soon *node)
{
    if (node->queued)
        return;
    wire_transport_ref(&f->l.above); /* released by the node's function */
    wire_impl_defer(&f->l.above, node);
}

/* ---- input ---- */

static bool
above_wants(struct fault_layer *f)
{
    return wire__transport_wants_input(&f->l.above);
}

/* Reading below follows the above's, unless the queue is full. */
static void
sync_lower_reading(struct fault_layer *f)
{
    struct wire_transport *lower = f->l.lower;
    if (f->ilen >= f->hold_max)
        f->rheld = true;
    else if (f->ilen <= f->hold_max / 2)
        f->rheld = false;
    if (lower == NULL)
        return;
    if ((f->l.above.flags & WIRE_T_READING) && !f->rheld)
        wire_transport_resume_reading(lower);
    else
        wire_transport_pause_reading(lower);
}

static int
queue_append(struct fault_layer *f, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    if (f->ihead + f->ilen + len > f->icap) {
        if (!f->delivering && f->ilen + len <= f->icap) {
            memmove(f->ibuf, f->ibuf + f->ihead, f->ilen);
        } else {
            /* A delivery may be reading the old buffer (a test feeding
             * the string transport from inside data_received): keep it
             * until that delivery returns. */
            size_t cap = f->icap ? f->icap : 4096;
            while (cap < f->ilen + len)
                cap *= 2;
            unsigned char *nb = malloc(cap);
            if (nb == NULL)
                return WIRE_ENOMEM;
            if (f->ilen > 0)
                memcpy(nb, f->ibuf + f->ihead, f->ilen);
            if (f->delivering && f->iretired == NULL)
                f->iretired = f->ibuf;
            else
                free(f->ibuf);
            f->ibuf = nb;
            f->icap = cap;
        }
        f->ihead = 0;
    }
    memcpy(f->ibuf + f->ihead + f->ilen, data, len);
    f->ilen += len;
    return 0;
}

static void pump(struct fault_layer *f);

static void
in_fault_fire(struct fault_layer *f)
{
    const struct wire_fault_inject *in = &f->o.in;
    f->in_armed = false;
    f->in_done = true;
    if (in->kind == WIRE_FAULT_EOF) {
        wire_layer_deliver_eof(&f->l);
    } else if (in->kind == WIRE_FAULT_RESET) {
        wire_layer_fail(&f->l, -ECONNRESET, "fault: reset injected at byte "
                        "%" PRIu64 " of the input: %s", in->at,
                        wire_strerror(-ECONNRESET));
    } else {
        wire_layer_fail(&f->l, in->code, "fault: error injected at byte "
                        "%" PRIu64 " of the input: %s", in->at,
                        wire_strerror(in->code));
    }
}

/* Joining holds what it has while more may come (the transport below is
 * reading) and nothing asks for a flush. */
static bool
join_waits(struct fault_layer *f)
{
    return f->o.coalesce_max > 0 && !f->join_flush && f->ilen < f->join_need &&
           !f->eof_in && !f->in_armed && f->l.lower != NULL &&
           wire_transport_is_reading(f->l.lower);
}

static void
join_fire(void *arg)
{
    struct fault_layer *f = arg;
    f->join_flush = true;
    pump(f);
}

static void
delay_fire(void *arg)
{
    struct fault_layer *f = arg;
    f->delay_passed = true;
    pump(f);
}

/* Joining without a loop: flush on the next step. */
static void
join_run(struct wire_soon *node)
{
    struct fault_layer *f = wire_container_of(node, struct fault_layer, join_node);
    join_fire(f);
    wire_transport_unref(&f->l.above);
}

static void
pump_run(struct wire_soon *node)
{
    struct fault_layer *f = wire_container_of(node, struct fault_layer, pump_node);
    pump(f);
    wire_transport_unref(&f->l.above);
}

/* The transport below ended cleanly while input was held (it closes by
 * itself after an EOF once its write side is shut): its loss reaches the
 * helper, and so the protocol above, once the queue and the EOF have
 * been passed up, or once the protocol above no longer reads (closing,
 * lost, or past its EOF).  A pause waits. */
static void
finish_lost(struct fault_layer *f)
{
    if (!f->lost_later)
        return;
    const struct wire_transport *above = &f->l.above;
    bool held = f->ilen > 0 || f->eof_in || f->in_armed;
    if (held && !(above->flags & (WIRE_T_LOST | WIRE_T_CLOSING |
                                  WIRE_T_EOF_RECEIVED | WIRE_T_HANDLE_CLOSED)))
        return;
    f->lost_later = false;
    f->helper_below->connection_lost(&f->l.below, NULL);
}

/* Pass one piece of `n` held bytes up. */
static void
deliver_piece(struct fault_layer *f, size_t n)
{
    const unsigned char *p = f->ibuf + f->ihead;
    f->ihead += n;
    f->ilen -= n;
    f->in_off += n;
    if (f->o.read_max > 0 && f->in_off == f->in_cut)
        f->in_cut += draw_size(f, RS_READ_CUT, f->o.read_max);
    if (f->o.coalesce_max > 0)
        f->join_need = 1 + (size_t)(next64(f, RS_JOIN) % f->o.coalesce_max);
    f->delivering = true;
    wire_impl_data(&f->l.above, p, n);
    f->delivering = false;
    free(f->iretired);
    f->iretired = NULL;
    if (f->ilen == 0) {
        f->ihead = 0;
        f->join_flush = false;
    }
}

/*
 * Pass up what the queue holds while the protocol above wants it, then
 * the EOF or the injected input fault after the last byte.  Re-entrant
 * calls (a callback above that makes the layer pump) return at once: the
 * running pump sees what they changed.
 */
static void
pump(struct fault_layer *f)
{
    struct wire_transport *above = &f->l.above;
    if (f->pumping)
        return;
    f->pumping = true;
    wire_transport_ref(above);
    while (above_wants(f)) {
        if (f->ilen == 0) {
            if (f->in_armed) {
                in_fault_fire(f);
            } else if (f->eof_in) {
                f->eof_in = false;
                wire_layer_deliver_eof(&f->l);
            }
            break;
        }
        if (join_waits(f)) {
            struct wire_timer *tm = timer_get(f, &f->join_timer, join_fire);
            if (tm == NULL)
                soon(f, &f->join_node);
            else if (!wire_timer_is_active(tm)) {
                wire_timer_start(tm, f->o.coalesce_ms, 0);
            }
            break;
        }
        if (f->o.read_delay_ms > 0 && above->loop != NULL) {
            if (f->delay_timer != NULL && wire_timer_is_active(f->delay_timer))
                break;
            if (!f->delay_passed) {
                unsigned d = draw_delay(f, RS_DELAY, f->o.read_delay_ms,
                                        f->o.read_delay_one_in);
                struct wire_timer *tm =
                    d > 0 ? timer_get(f, &f->delay_timer, delay_fire) : NULL;
                if (tm != NULL) {
                    wire_timer_start(tm, d, 0);
                    break;
                }
            }
        }
        f->delay_passed = false;
        size_t n = f->ilen;
        if (f->o.read_max > 0 && f->in_cut - f->in_off < n)
            n = (size_t)(f->in_cut - f->in_off);
        deliver_piece(f, n);
        sync_lower_reading(f);
    }
    f->pumping = false;
    finish_lost(f);
    wire_transport_unref(above);
}

static int
fault_recv(struct wire_layer *l, const void *data, size_t len)
{
    struct fault_layer *f = fault_of_layer(l);
    if (f->in_armed || f->in_done)
        return 0; /* past the injected input fault: dropped */
    const struct wire_fault_inject *in = &f->o.in;
    if (in->kind != WIRE_FAULT_NONE && len >= in->at - f->in_rx) {
        len = (size_t)(in->at - f->in_rx);
        f->in_armed = true;
    }
    if (queue_append(f, data, len) < 0)
        return WIRE_ENOMEM;
    f->in_rx += len;
    sync_lower_reading(f);
    pump(f);
    return 0;
}

static int
fault_recv_eof(struct wire_layer *l)
{
    struct fault_layer *f = fault_of_layer(l);
    if (f->in_armed || f->in_done)
        return 0; /* the injected fault stands for the end */
    f->eof_in = true;
    pump(f);
    return 0;
}

/* The upper transport's reading hooks.  Resuming delivers what is held
 * on a later turn, at once (a resume flushes joined input). */
static void
fault_read_start(struct wire_transport *t)
{
    struct fault_layer *f = fault_of_above(t);
    if (f->ilen > 0)
        f->join_flush = true;
    if (f->ilen > 0 || f->eof_in || f->in_armed)
        soon(f, &f->pump_node);
    sync_lower_reading(f);
}

static void
fault_read_stop(struct wire_transport *t)
{
    sync_lower_reading(fault_of_above(t));
}

/* ---- output ---- */

static void
wake_now(struct fault_layer *f)
{
    struct wire_transport *above = &f->l.above;
    if (f->l.lower != NULL && !f->lower_paused_w &&
        (above->flags & WIRE_T_WANT_WRITE) &&
        !(above->flags & (WIRE_T_LOST | WIRE_T_HANDLE_CLOSED)))
        wire_impl_writable(above);
}

static void
wake_fire(void *arg)
{
    struct fault_layer *f = arg;
    wire_transport_ref(&f->l.above);
    wake_now(f);
    wire_transport_unref(&f->l.above);
}

static void
wake_run(struct wire_soon *node)
{
    struct fault_layer *f = wire_container_of(node, struct fault_layer, wake_node);
    wake_now(f);
    wire_transport_unref(&f->l.above);
}

/* Offer the queued rest again on a later turn (after the write delay);
 * the transport below's resume_writing does it while it is paused. */
static void
schedule_wake(struct fault_layer *f)
{
    if (f->lower_paused_w || f->wake_node.queued ||
        (f->wake_timer != NULL && wire_timer_is_active(f->wake_timer)))
        return;
    unsigned d = draw_delay(f, RS_WDELAY, f->o.write_delay_ms, 1);
    struct wire_timer *tm = d > 0 ? timer_get(f, &f->wake_timer, wake_fire) : NULL;
    if (tm != NULL)
        wire_timer_start(tm, d, 0);
    else
        soon(f, &f->wake_node);
}

static size_t
iov_total(const struct iovec *iov, int iovcnt)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    return total;
}

/* The first `n` bytes of `iov`, in at most FAULT_IOV pieces: returns the
 * piece count; `*n` becomes what they hold. */
static int
iov_prefix(const struct iovec *iov, int iovcnt, size_t skip, size_t *n,
           struct iovec *out)
{
    size_t want = *n, got = 0;
    int k = 0;
    for (int i = 0; i < iovcnt && got < want && k < FAULT_IOV; i++) {
        size_t len = iov[i].iov_len;
        const char *base = iov[i].iov_base;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        base += skip;
        len -= skip;
        skip = 0;
        if (len > want - got)
            len = want - got;
        out[k].iov_base = (void *)(uintptr_t)base;
        out[k].iov_len = len;
        got += len;
        k++;
    }
    *n = got;
    return k;
}

static ssize_t
fault_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    struct fault_layer *f = fault_of_above(t);
    struct wire_layer *l = &f->l;
    size_t total = iov_total(iov, iovcnt);
    /* After an injected output EOF, and once the transport below is
     * ending (its loss tells the protocol above why), writes go nowhere:
     * a real handle accepts bytes until it learns the connection broke. */
    if (f->swallow || l->lower == NULL || wire_transport_is_closing(l->lower))
        return (ssize_t)total;
    if (f->out_armed)
        return 0; /* held until the fault applies (which drops them) */
    size_t take = total;
    const struct wire_fault_inject *out = &f->o.out;
    if (out->kind != WIRE_FAULT_NONE && take > out->at - f->out_off)
        take = (size_t)(out->at - f->out_off);
    if (f->o.short_write_one_in > 0 && take > 0 &&
        next64(f, RS_SHORT) % f->o.short_write_one_in == 0) {
        size_t part = (size_t)(next64(f, RS_SHORT) % take);
        if (part == 0 && f->zero_short)
            part = take; /* never nothing twice in a row */
        f->zero_short = part == 0;
        take = part;
    }
    ssize_t w = 0;
    if (take > 0) {
        struct iovec part[FAULT_IOV];
        int n = iov_prefix(iov, iovcnt, 0, &take, part);
        w = wire_layer_hook_write(t, part, n);
        if (w < 0)
            return w;
    }
    if (out->kind != WIRE_FAULT_NONE && !f->out_done && f->out_off >= out->at) {
        f->out_armed = true;
        soon(f, &f->outf_node);
    } else if ((size_t)w < total) {
        schedule_wake(f);
    }
    return w;
}

/* The upper transport's want_write hook: retry on a later turn. */
static void
fault_want_write(struct wire_transport *t, bool on)
{
    if (on)
        schedule_wake(fault_of_above(t));
}

static ssize_t
fault_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
{
    struct fault_layer *f = fault_of_layer(l);
    size_t total = iov_total(iov, iovcnt), sent = 0;
    while (sent < total) {
        size_t piece = total - sent;
        if (f->o.write_max > 0 && f->out_cut - f->out_off < piece)
            piece = (size_t)(f->out_cut - f->out_off);
        struct iovec part[FAULT_IOV];
        int n = iov_prefix(iov, iovcnt, sent, &piece, part);
        int rc = wire_layer_send(l, part, n);
        if (rc == WIRE_ECLOSED)
            return (ssize_t)total; /* ending below: see fault_write */
        if (rc < 0)
            return sent > 0 ? (ssize_t)sent : rc;
        sent += piece;
        f->out_off += piece;
        if (f->o.write_max > 0 && f->out_off == f->out_cut)
            f->out_cut += draw_size(f, RS_WRITE_CUT, f->o.write_max);
    }
    return (ssize_t)total;
}

static int
fault_send_eof(struct wire_layer *l)
{
    struct fault_layer *f = fault_of_layer(l);
    if (f->swallow)
        return 0; /* the injected EOF went down already */
    if (l->lower == NULL)
        return WIRE_ECLOSED;
    return wire_transport_write_eof(l->lower);
}

/* Apply the output fault, on a later turn than the write that reached
 * its byte. */
static void
outf_run(struct wire_soon *node)
{
    struct fault_layer *f = wire_container_of(node, struct fault_layer, outf_node);
    struct wire_layer *l = &f->l;
    const struct wire_fault_inject *out = &f->o.out;
    if (f->out_armed && l->lower != NULL && !(l->above.flags & WIRE_T_LOST)) {
        f->out_armed = false;
        f->out_done = true;
        if (out->kind == WIRE_FAULT_EOF) {
            f->swallow = true;
            if (wire_transport_can_write_eof(l->lower))
                wire_transport_write_eof(l->lower);
            else
                wire_transport_close(l->lower);
            /* What waits above goes nowhere, and a close or write_eof
             * that waited for it finishes. */
            if (l->above.flags & WIRE_T_WANT_WRITE)
                wire_impl_writable(&l->above);
        } else if (out->kind == WIRE_FAULT_RESET) {
            wire_layer_fail(l, -ECONNRESET, "fault: reset injected at byte "
                            "%" PRIu64 " of the output: %s", out->at,
                            wire_strerror(-ECONNRESET));
        } else {
            wire_layer_fail(l, out->code, "fault: error injected at byte "
                            "%" PRIu64 " of the output: %s", out->at,
                            wire_strerror(out->code));
        }
    }
    wire_transport_unref(&l->above);
}

/* ---- the rest of the layer ---- */

static void
fault_made(struct wire_layer *l)
{
    struct fault_layer *f = fault_of_layer(l);
    struct wire_transport *lower = l->lower;
    if (lower != NULL) {
        /* Transparent: the protocol above sees the name, capabilities
         * and watermarks it would see without the layer. */
        snprintf(f->name, sizeof(f->name), "%s", wire_transport_name(lower));
        f->lops.transport.name = f->name;
        f->lops.transport.caps =
            WIRE_CAP_HALF_CLOSE_IF_LOWER |
            (lower->ops->caps & (WIRE_CAP_RESET | WIRE_CAP_EOF));
        size_t high = 0, low = 0;
        wire_transport_get_write_buffer_limits(lower, &high, &low);
        wire_transport_set_write_buffer_limits(&l->above, high, low);
    }
    wire_layer_start(l);
    if (f->o.in.kind != WIRE_FAULT_NONE && f->o.in.at == 0 && !f->in_done) {
        f->in_armed = true;
        soon(f, &f->pump_node);
    }
    if (f->o.out.kind != WIRE_FAULT_NONE && f->o.out.at == 0 && !f->out_done) {
        f->out_armed = true;
        soon(f, &f->outf_node);
    }
}

static void
fault_close(struct wire_layer *l, bool abort)
{
    struct fault_layer *f = fault_of_layer(l);
    /* Input is no longer wanted: stop waiting to pass it up. */
    if (f->join_timer != NULL)
        wire_timer_stop(f->join_timer);
    if (f->delay_timer != NULL)
        wire_timer_stop(f->delay_timer);
    if (l->lower == NULL) {
        /* The aftermath of the loss below, or a close while that loss
         * waited for held input, which is no longer wanted. */
        finish_lost(f);
        return;
    }
    /* The protocol above hears of the end once the transport below has
     * ended (its queue flushed), with its error after a clean close. */
    f->holding = true;
    f->aborted = abort;
    wire_impl_hold_loss(&l->above);
    if (abort)
        wire_transport_abort(l->lower);
    else
        wire_transport_close(l->lower);
}

static void
fault_lost(struct wire_layer *l, const struct wire_error *err)
{
    struct fault_layer *f = fault_of_layer(l);
    f->gone = true;
    timers_free(f);
    if (f->holding) {
        /* An abort (or an injected fault) keeps its own error. */
        f->holding = false;
        wire_impl_release_loss(&l->above, f->aborted ? NULL : err);
    }
}

static void
fault_destroy(struct wire_layer *l)
{
    struct fault_layer *f = fault_of_layer(l);
    timers_free(f);
    free(f->ibuf);
    free(f->iretired);
    free(f);
}

/* The transport below's loss, seen on the helper's protocol: a clean end
 * waits for the input held above it (see finish_lost); an error drops it,
 * as a reset drops what is in flight. */
static void
fault_below_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct fault_layer *f = fault_of_layer(wire_layer_from_protocol(p));
    const struct wire_transport *above = &f->l.above;
    if ((err == NULL || err->code == 0) &&
        (f->ilen > 0 || f->eof_in || f->in_armed) &&
        (above->flags & WIRE_T_STARTED) &&
        !(above->flags & (WIRE_T_LOST | WIRE_T_CLOSING | WIRE_T_EOF_RECEIVED |
                          WIRE_T_HANDLE_CLOSED))) {
        f->lost_later = true;
        /* The pump passes up the rest (from here, the loop, or a timer);
         * the transport below is gone: nothing more will come. */
        soon(f, &f->pump_node);
        return;
    }
    f->helper_below->connection_lost(p, err);
}

/* The transport below's flow control, seen on the helper's protocol. */
static void
fault_below_pause_writing(struct wire_protocol *p)
{
    struct fault_layer *f = fault_of_layer(wire_layer_from_protocol(p));
    f->lower_paused_w = true;
    if (f->helper_below->pause_writing != NULL)
        f->helper_below->pause_writing(p);
}

static void
fault_below_resume_writing(struct wire_protocol *p)
{
    struct fault_layer *f = fault_of_layer(wire_layer_from_protocol(p));
    f->lower_paused_w = false;
    if (f->helper_below->resume_writing != NULL)
        f->helper_below->resume_writing(p);
}

static const struct wire_layer_ops fault_ops_template = {
    .transport = WIRE_LAYER_TRANSPORT_OPS("fault", WIRE_CAP_HALF_CLOSE_IF_LOWER),
    .made = fault_made,
    .recv = fault_recv,
    .recv_eof = fault_recv_eof,
    .send = fault_send,
    .send_eof = fault_send_eof,
    .close = fault_close,
    .destroy = fault_destroy,
    .lost = fault_lost,
};

static int
check_inject(const struct wire_fault_inject *x, const char *dir,
             struct wire_error *err)
{
    if (x->kind != WIRE_FAULT_NONE && x->kind != WIRE_FAULT_EOF &&
        x->kind != WIRE_FAULT_RESET && x->kind != WIRE_FAULT_ERROR)
        return wire_error_set(err, WIRE_EINVAL, "fault: unknown %s fault "
                              "kind %d", dir, (int)x->kind);
    if (x->kind == WIRE_FAULT_ERROR && x->code > 0)
        return wire_error_set(err, WIRE_EINVAL, "fault: %s error code %d is "
                              "not negative", dir, x->code);
    return 0;
}

struct wire_protocol *
wire_fault_layer_new(struct wire_protocol *upper,
                     const struct wire_fault_opts *opts,
                     struct wire_error *err)
{
    struct wire_fault_opts o;
    if (opts != NULL)
        o = *opts;
    else
        memset(&o, 0, sizeof(o));
    int rc = upper == NULL ? wire_error_set(err, WIRE_EINVAL,
                                            "fault: no protocol to run above")
                           : check_inject(&o.in, "input", err);
    if (rc == 0)
        rc = check_inject(&o.out, "output", err);
    if (rc == 0 && o.coalesce_max > FAULT_MAX_JOIN)
        rc = wire_error_set(err, WIRE_EINVAL, "fault: coalesce_max %zu is "
                            "over %zu", o.coalesce_max, FAULT_MAX_JOIN);
    if (rc == 0 && (o.coalesce_ms > FAULT_MAX_DELAY ||
                    o.read_delay_ms > FAULT_MAX_DELAY ||
                    o.write_delay_ms > FAULT_MAX_DELAY))
        rc = wire_error_set(err, WIRE_EINVAL, "fault: a delay is over an hour");
    struct fault_layer *f = rc == 0 ? calloc(1, sizeof(*f)) : NULL;
    if (rc == 0 && f == NULL)
        rc = wire_error_set(err, WIRE_ENOMEM, "fault: out of memory");
    if (rc < 0) {
        wire_protocol_destroy(upper);
        return NULL;
    }
    if (o.in.kind == WIRE_FAULT_ERROR && o.in.code == 0)
        o.in.code = -EIO;
    if (o.out.kind == WIRE_FAULT_ERROR && o.out.code == 0)
        o.out.code = -EIO;
    f->o = o;
    for (int i = 1; i < RS_COUNT; i++)
        f->rs[i] = mix64(o.seed ^ ((uint64_t)i * 0xd1b54a32d192ed03ull));
    f->hold_max = FAULT_HOLD_MIN;
    if (o.coalesce_max > f->hold_max / 2)
        f->hold_max = 2 * o.coalesce_max;
    if (o.read_max > 0)
        f->in_cut = draw_size(f, RS_READ_CUT, o.read_max);
    if (o.write_max > 0)
        f->out_cut = draw_size(f, RS_WRITE_CUT, o.write_max);
    if (o.coalesce_max > 0)
        f->join_need = 1 + (size_t)(next64(f, RS_JOIN) % o.coalesce_max);
    f->pump_node.fn = pump_run;
    f->join_node.fn = join_run;
    f->wake_node.fn = wake_run;
    f->outf_node.fn = outf_run;
    f->lops = fault_ops_template;
    f->lops.transport.read_start = fault_read_start;
    f->lops.transport.read_stop = fault_read_stop;
    f->lops.transport.write = fault_write;
    f->lops.transport.want_write = fault_want_write;
    f->lops.transport.hint_reply = wire_layer_hook_hint_reply;
    struct wire_protocol *below = wire_layer_init(&f->l, &f->lops, upper);
    /* The helper's protocol, with the transport below's pause_writing and
     * resume_writing seen on their way in; the rest is the helper's. */
    f->helper_below = below->ops;
    f->below_ops = *below->ops;
    f->below_ops.pause_writing = fault_below_pause_writing;
    f->below_ops.resume_writing = fault_below_resume_writing;
    f->below_ops.connection_lost = fault_below_lost;
    below->ops = &f->below_ops;
    return below;
}
