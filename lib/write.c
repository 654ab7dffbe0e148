/*
 * The transport base's writing half: the output queue (outq.h: an
 * evbuffer with file ranges marked in it, allocated on the first write
 * that cannot go through at once, so idle connections carry none),
 * framing by message layers (ops->frame), the write-through path, the
 * cork area (what a read's answers gather in), flushing, the watermarks
 * and pause_writing / resume_writing, and what waits for the queue to
 * drain (write_eof, close).  write_file.c holds the file ranges;
 * transport.c the state machine, reading and the loss.
 */
#include "internal.h"
#include "outq.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

int
wire__write_state(const struct wire_transport *t)
{
    if (!(t->flags & WIRE_T_STARTED))
        return WIRE_ESTATE;
    if (t->flags & (WIRE_T_CLOSING | WIRE_T_LOST | WIRE_T_EOF_PENDING |
                    WIRE_T_WRITE_SHUT | WIRE_T_HANDLE_CLOSED))
        return WIRE_ECLOSED;
    return 0;
}

void
wire__set_want_write(struct wire_transport *t, bool on)
{
    if (on == !!(t->flags & WIRE_T_WANT_WRITE))
        return;
    if (on)
        t->flags |= WIRE_T_WANT_WRITE;
    else
        t->flags &= ~WIRE_T_WANT_WRITE;
    if (t->ops->want_write != NULL && !(t->flags & WIRE_T_HANDLE_CLOSED))
        t->ops->want_write(t, on);
}

/* What a cork may hold: 16 KiB, and never past the high mark. */
size_t
wire__cork_limit(const struct wire_transport *t)
{
    size_t limit = 16u * 1024u;
    return t->high_water < limit ? t->high_water : limit;
}

void
wire__check_high(struct wire_transport *t)
{
    if (!(t->flags & WIRE_T_PROTO_PAUSED) && out_len(t) > t->high_water &&
        !(t->flags & WIRE_T_LOST)) {
        t->flags |= WIRE_T_PROTO_PAUSED;
        wire__proto_pause_writing(t);
    }
}

void
wire__check_low(struct wire_transport *t)
{
    if ((t->flags & WIRE_T_PROTO_PAUSED) && out_len(t) <= t->low_water &&
        !(t->flags & WIRE_T_LOST)) {
        t->flags &= ~WIRE_T_PROTO_PAUSED;
        wire__proto_resume_writing(t);
    }
}

struct ref_ctx {
    wire_free_cb cb;
    void *arg;
    const void *data;
    size_t len;
};

static void
ref_cleanup(const void *data, size_t len, void *extra)
{
    struct ref_ctx *rc = extra;
    WIRE_UNUSED(data);
    WIRE_UNUSED(len);
    rc->cb(rc->arg, rc->data, rc->len);
    free(rc);
}

int
wire__outq_ensure(struct wire_transport *t)
{
    if (t->out != NULL)
        return 0;
    struct wire__outq *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return WIRE_ENOMEM;
    if ((q->buf = evbuffer_new()) == NULL) {
        free(q);
        return WIRE_ENOMEM;
    }
    t->out = q;
    return 0;
}

static struct evbuffer *
outbuf(const struct wire_transport *t)
{
    return t->out->buf;
}

/* ---- the cork area (internal.h) ---- */


struct wire__cork *
wire__cork_claim(struct wire_transport *t)
{
    if (t->loop == NULL)
        return NULL; /* sans-I/O (string): the output queue corks */
    struct wire__cork *a = wire__loop_cork(t->loop);
    if (a->owner != NULL)
        return NULL;
    if (a->buf == NULL && (a->buf = malloc(WIRE_CORK_AREA)) == NULL)
        return NULL; /* the output queue corks instead */
    a->owner = t;
    a->len = 0;
    return a;
}

void
wire__cork_release(struct wire_transport *t, struct wire__cork *a)
{
    if (t->flags & WIRE_T_CORK_AREA)
        wire__cork_settle(t, false); /* not flushed (cannot happen): keep them */
    a->owner = NULL;
    a->len = 0;
}

/* Take what the cork area holds for `t` out of it: written now when the
 * handle may be written (`write_now`), the rest (or all) into the output
 * queue, in front of anything queued after.  Dropped if `t` is lost. */
void
wire__cork_settle(struct wire_transport *t, bool write_now)
{
    struct wire__cork *a = wire__loop_cork(t->loop);
    size_t len = a->len, done = 0;
    a->len = 0;
    t->flags &= ~WIRE_T_CORK_AREA;
    if (len == 0 || (t->flags & WIRE_T_LOST))
        return;
    if (write_now) {
        struct iovec iov = {a->buf, len};
        ssize_t w = t->ops->write(t, &iov, 1);
        if (w < 0) {
            wire_impl_fail(t, (int)w, "write: %s", wire_strerror((int)w));
            return;
        }
        done = (size_t)w;
        if (done >= len || (t->flags & WIRE_T_LOST))
            return;
    }
    if (wire__outq_ensure(t) < 0 || evbuffer_add(outbuf(t), a->buf + done, len - done) != 0)
        wire_impl_fail(t, WIRE_ENOMEM, "write: %s", wire_strerror(WIRE_ENOMEM));
    else
        t->out->copied += len - done;
}

/* A corked write that fits goes into the cork area: true if it did. */
static bool
cork_take(struct wire_transport *t, const struct iovec *iov, int iovcnt,
          size_t total)
{
    if (t->loop == NULL ||
        (!(t->flags & WIRE_T_CORK_AREA) && out_len(t) != 0))
        return false; /* the area must hold the whole queue */
    struct wire__cork *a = wire__loop_cork(t->loop);
    if (a->owner != t || a->len + total > WIRE_CORK_AREA)
        return false;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len == 0)
            continue; /* its base may be NULL */
        memcpy(a->buf + a->len, iov[i].iov_base, iov[i].iov_len);
        a->len += iov[i].iov_len;
    }
    t->flags |= WIRE_T_CORK_AREA;
    return true;
}

static void
ref_release(struct ref_ctx *rc)
{
    if (rc != NULL) {
        rc->cb(rc->arg, rc->data, rc->len);
        free(rc);
    }
}

#define WIRE_FRAME_IOV 16

/*
 * The common write path.  A message layer frames the write first (ops->
 * frame), so what follows sees bytes only.  Writes through when nothing
 * is queued and the handle is not held by a PEP pause; queues the rest
 * (copied, or the payload by reference when `rc` is given: write_ref
 * passes exactly one payload buffer).
 */
static int
write_common(struct wire_transport *t, const struct iovec *iov, int iovcnt,
             struct ref_ctx *rc)
{
    int st = wire__write_state(t);
    if (st < 0) {
        free(rc);
        return st;
    }
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    int ref_idx = rc != NULL ? 0 : -1;
    struct iovec fiov_small[WIRE_FRAME_IOV];
    struct iovec *fiov = NULL;
    struct wire_frame fr;
    if (t->ops->frame != NULL) {
        fr.head_len = 0;
        fr.tail = NULL;
        fr.tail_len = 0;
        int frc = t->ops->frame(t, iov, iovcnt, total, &fr);
        if (frc < 0) {
            free(rc);
            return frc;
        }
        fiov = iovcnt + 2 <= WIRE_FRAME_IOV
                   ? fiov_small
                   : malloc(sizeof(*fiov) * (size_t)(iovcnt + 2));
        if (fiov == NULL) {
            free(rc);
            return WIRE_ENOMEM;
        }
        int n = 0;
        if (fr.head_len > 0)
            fiov[n++] = (struct iovec){fr.head, fr.head_len};
        if (ref_idx >= 0)
            ref_idx = n;
        for (int i = 0; i < iovcnt; i++)
            fiov[n++] = iov[i];
        if (fr.tail_len > 0)
            fiov[n++] = (struct iovec){(void *)(uintptr_t)fr.tail, fr.tail_len};
        iov = fiov;
        iovcnt = n;
        total += fr.head_len + fr.tail_len;
    }
    int ret = 0;
    if (total == 0)
        goto out;
    size_t done = 0;
    /* Corked (see wire_impl_data): small answers gather for one write;
     * anything that would pass the cork's limit goes out now, so the
     * cork never makes a protocol pause for bytes the handle could take. */
    bool corked = (t->flags & WIRE_T_CORKED) && out_len(t) + total <= wire__cork_limit(t);
    if (corked && rc == NULL && cork_take(t, iov, iovcnt, total))
        goto out; /* within the cork's limit: the high mark is not passed */
    if (out_len(t) == 0 && !(t->flags & WIRE_T_PAUSED_ALL) && !corked) {
        ssize_t w = t->ops->write(t, iov, iovcnt);
        if (w < 0) {
            /* The connection failed: the error goes to connection_lost,
             * once; the bytes were accepted as far as the caller knows. */
            wire_impl_fail(t, (int)w, "write: %s", wire_strerror((int)w));
            goto out;
        }
        done = (size_t)w;
        if (done >= total)
            goto out;
    }
    if (t->flags & WIRE_T_CORK_AREA)
        wire__cork_settle(t, false); /* queued ahead of these bytes */
    if (t->flags & WIRE_T_LOST)
        goto out;
    if (wire__outq_ensure(t) < 0) {
        ret = WIRE_ENOMEM;
        goto out;
    }
    /* Queue what is left, skipping the `done` bytes already written. */
    size_t skip = done;
    for (int i = 0; i < iovcnt; i++) {
        const char *base = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        base += skip;
        len -= skip;
        skip = 0;
        int r;
        if (i == ref_idx) {
            r = evbuffer_add_reference(outbuf(t), base, len, ref_cleanup, rc);
            if (r == 0) {
                rc = NULL; /* the queue releases it */
                t->out->referenced += len;
            }
        } else {
            r = evbuffer_add(outbuf(t), base, len);
            if (r == 0)
                t->out->copied += len;
        }
        if (r != 0) {
            ret = WIRE_ENOMEM;
            goto out;
        }
    }
    if (t->flags & WIRE_T_PAUSED_ALL) {
        /* held until resume */
    } else if (!corked) {
        if (t->flags & WIRE_T_CORKED)
            wire__flush(t); /* over the cork's limit: out now, in order */
        else
            wire__set_want_write(t, true);
    }
    if (!(t->flags & WIRE_T_LOST))
        wire__check_high(t);
out:
    if (fiov != NULL && fiov != fiov_small)
        free(fiov);
    /* Not queued by reference: written (release now), or an error return
     * (the buffer stays the caller's). */
    if (ret < 0)
        free(rc);
    else
        ref_release(rc);
    return ret;
}

int
wire_transport_write(struct wire_transport *t, const void *data, size_t len)
{
    struct iovec iov = {(void *)(uintptr_t)data, len};
    return write_common(t, &iov, 1, NULL);
}

int
wire_transport_write_sequence(struct wire_transport *t, const struct iovec *iov,
                              int iovcnt)
{
    if (iovcnt < 0 || (iovcnt > 0 && iov == NULL))
        return WIRE_EINVAL;
    return write_common(t, iov, iovcnt, NULL);
}

int
wire_transport_write_ref(struct wire_transport *t, const void *data, size_t len,
                         wire_free_cb free_cb, void *arg)
{
    if (free_cb == NULL)
        return WIRE_EINVAL;
    int st = wire__write_state(t);
    if (st < 0)
        return st;
    struct ref_ctx *rc = malloc(sizeof(*rc));
    if (rc == NULL)
        return WIRE_ENOMEM;
    rc->cb = free_cb;
    rc->arg = arg;
    rc->data = data;
    rc->len = len;
    struct iovec iov = {(void *)(uintptr_t)data, len};
    return write_common(t, &iov, 1, rc);
}

/* Everything queued was handed to the handle: finish what waited on it. */
void
wire__after_drain(struct wire_transport *t)
{
    if (t->flags & WIRE_T_LOST)
        return;
    if ((t->flags & WIRE_T_EOF_PENDING) && !(t->flags & WIRE_T_WRITE_SHUT)) {
        t->flags &= ~WIRE_T_EOF_PENDING;
        t->flags |= WIRE_T_WRITE_SHUT;
        int rc = t->ops->shutdown_write(t);
        if (rc < 0) {
            wire_impl_fail(t, rc, "shutdown: %s", wire_strerror(rc));
            return;
        }
        if ((t->flags & WIRE_T_EOF_RECEIVED) && !(t->flags & WIRE_T_CLOSING)) {
            wire_transport_close(t);
            return;
        }
    }
    if (t->flags & WIRE_T_CLOSING)
        wire__begin_loss(t, NULL, false);
}

void
wire__outq_drop(struct wire_transport *t)
{
    if (t->flags & WIRE_T_CORK_AREA)
        wire__cork_settle(t, false); /* t is lost: dropped */
    struct wire__outq *q = t->out;
    if (q == NULL)
        return;
    /* Unlink everything first: a callback run by the release may write
     * (refused: the loss began) but never sees a half-dropped queue. */
    struct wire__frange *r = q->head;
    q->head = q->tail = NULL;
    q->ahead = 0;
    q->file_left = 0;
    if (evbuffer_get_length(q->buf) > 0)
        evbuffer_drain(q->buf, evbuffer_get_length(q->buf));
    while (r != NULL) {
        struct wire__frange *next = r->next;
        wire__range_release(r);
        r = next;
    }
}

void
wire__outq_free(struct wire_transport *t)
{
    if (t->out == NULL)
        return;
    wire__outq_drop(t);
    evbuffer_free(t->out->buf);
    free(t->out);
    t->out = NULL;
}

/* Write buffer bytes up to the first range (all of them without one).
 * Returns 1 (all of those went: go on), 0 (the handle is full) or -1
 * (the connection failed). */
static int
bytes_step(struct wire_transport *t, struct wire__outq *q)
{
    size_t limit = q->head != NULL ? q->head->before : SIZE_MAX;
    struct evbuffer_iovec eiov[WIRE_FLUSH_IOV];
    struct iovec iov[WIRE_FLUSH_IOV];
    int n = evbuffer_peek(q->buf, q->head != NULL ? (ev_ssize_t)limit : -1, NULL,
                          eiov, WIRE_FLUSH_IOV);
    if (n > WIRE_FLUSH_IOV)
        n = WIRE_FLUSH_IOV;
    size_t want = 0;
    int k = 0;
    for (; k < n && want < limit; k++) {
        iov[k].iov_base = eiov[k].iov_base;
        iov[k].iov_len = eiov[k].iov_len < limit - want ? eiov[k].iov_len
                                                        : limit - want;
        want += iov[k].iov_len;
    }
    ssize_t w = t->ops->write(t, iov, k);
    if (w < 0) {
        wire_impl_fail(t, (int)w, "write: %s", wire_strerror((int)w));
        return -1;
    }
    if (w == 0)
        return 0;
    if (q->head != NULL) {
        q->head->before -= (size_t)w;
        q->ahead -= (size_t)w;
    }
    /* Draining may run write_ref free callbacks (user code). */
    evbuffer_drain(q->buf, (size_t)w);
    if (t->flags & WIRE_T_LOST)
        return -1;
    return (size_t)w < want ? 0 : 1;
}

void
wire__flush(struct wire_transport *t)
{
    if (t->flags & WIRE_T_CORK_AREA) {
        /* Straight from the area when the handle may be written: the
         * usual end of a read's cork, with no queue in between. */
        bool now = !(t->flags & (WIRE_T_HANDLE_CLOSED | WIRE_T_FLUSHING)) &&
                   (!(t->flags & WIRE_T_PAUSED_ALL) || (t->flags & WIRE_T_CLOSING));
        wire__cork_settle(t, now);
    }
    if (t->flags & (WIRE_T_LOST | WIRE_T_HANDLE_CLOSED | WIRE_T_FLUSHING))
        return;
    if ((t->flags & WIRE_T_PAUSED_ALL) && !(t->flags & WIRE_T_CLOSING)) {
        wire__set_want_write(t, false);
        return;
    }
    t->flags |= WIRE_T_FLUSHING;
    wire_transport_ref(t);
    int step = 1;
    while (step > 0 && out_len(t) > 0) {
        struct wire__outq *q = t->out;
        struct wire__frange *r = q->head;
        if (r != NULL && t->ops->sendfile == NULL)
            r->copy = true;
        struct iovec head[WIRE_FLUSH_IOV];
        int hn = r != NULL && !r->copy ? wire__head_iov(q, r, head, WIRE_FLUSH_IOV) : -1;
        if (r != NULL && (r->before == 0 || hn >= 0))
            step = wire__range_step(t, q, r, head, hn > 0 ? hn : 0);
        else
            step = bytes_step(t, q);
    }
    t->flags &= ~WIRE_T_FLUSHING;
    if (!(t->flags & WIRE_T_LOST)) {
        if (out_len(t) == 0) {
            wire__set_want_write(t, false);
            wire__check_low(t);
            /* resume_writing may have queued more (and then asked for
             * write_eof or close): those wait for the new bytes. */
            if (!(t->flags & WIRE_T_LOST) && out_len(t) == 0)
                wire__after_drain(t);
        } else {
            wire__set_want_write(t, true);
            wire__check_low(t);
        }
    }
    wire_transport_unref(t);
}

void
wire_transport_get_write_stats(const struct wire_transport *t,
                               struct wire_write_stats *st)
{
    memset(st, 0, sizeof(*st));
    const struct wire__outq *q = t->out;
    if (t->flags & WIRE_T_CORK_AREA)
        st->buffered = out_len(t); /* the whole queue (see cork_take) */
    if (q == NULL)
        return;
    st->buffered += evbuffer_get_length(q->buf);
    st->file_pending = q->file_left;
    st->file_sent_direct = q->sent_direct;
    st->file_read = q->file_read;
    st->copied = q->copied;
    st->referenced = q->referenced;
}

void
wire_impl_writable(struct wire_transport *t)
{
    if (out_len(t) == 0) {
        wire__set_want_write(t, false);
        if (t->flags & (WIRE_T_CLOSING | WIRE_T_EOF_PENDING))
            wire__after_drain(t);
        return;
    }
    wire__flush(t);
}


/* ---- limits ---- */

int
wire_transport_set_write_buffer_limits(struct wire_transport *t, size_t high,
                                       size_t low)
{
    if (high == 0)
        high = WIRE_DEFAULT_HIGH_WATER;
    if (low == SIZE_MAX)
        low = high / 4;
    if (low > high)
        return WIRE_EINVAL;
    t->high_water = high;
    t->low_water = low;
    if (t->flags & WIRE_T_STARTED) {
        wire__check_high(t);
        wire__check_low(t);
    }
    return 0;
}

void
wire_transport_get_write_buffer_limits(const struct wire_transport *t,
                                       size_t *high, size_t *low)
{
    if (high != NULL)
        *high = t->high_water;
    if (low != NULL)
        *low = t->low_water;
}

size_t
wire_transport_get_write_buffer_size(const struct wire_transport *t)
{
    return out_len(t);
}

