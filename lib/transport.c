/*
 * The transport base: every rule that is the same for all transports.
 *
 * State machine (flags in internal.h): started -> [closing | eof pending ->
 * write shut] -> handle closed -> lost (scheduled) -> lost delivered.  The
 * output queue (an evbuffer, allocated on the first write that cannot go
 * through at once, so idle connections carry none), the watermarks, the
 * two kinds of pause, and the deferred connection_lost all live here.
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

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#define WIRE_DEFAULT_HIGH_WATER (64u * 1024u)
#define WIRE_FLUSH_IOV 64

static inline struct evbuffer *
outbuf(const struct wire_transport *t)
{
    return (struct evbuffer *)(void *)t->out;
}

static size_t
out_len(const struct wire_transport *t)
{
    return t->out != NULL ? evbuffer_get_length(outbuf(t)) : 0;
}

static void lost_fn(struct wire_soon *node);
static void flush(struct wire_transport *t);
static void begin_loss(struct wire_transport *t, struct wire_error *err,
                       bool abort);

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
    if (t->out != NULL)
        evbuffer_free(outbuf(t));
    t->out = NULL;
    wire__error_free(t->lost_err);
    t->lost_err = NULL;
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
    wire_transport_ref(t);
    wire__proto_made(t);
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
    uint32_t before = t->flags;
    wire__proto_data(t, data, len);
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

/* ---- writing ---- */

static int
write_state(const struct wire_transport *t)
{
    if (!(t->flags & WIRE_T_STARTED))
        return WIRE_ESTATE;
    if (t->flags & (WIRE_T_CLOSING | WIRE_T_LOST | WIRE_T_EOF_PENDING |
                    WIRE_T_WRITE_SHUT | WIRE_T_HANDLE_CLOSED))
        return WIRE_ECLOSED;
    return 0;
}

static void
set_want_write(struct wire_transport *t, bool on)
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

static void
check_high(struct wire_transport *t)
{
    if (!(t->flags & WIRE_T_PROTO_PAUSED) && out_len(t) > t->high_water &&
        !(t->flags & WIRE_T_LOST)) {
        t->flags |= WIRE_T_PROTO_PAUSED;
        wire__proto_pause_writing(t);
    }
}

static void
check_low(struct wire_transport *t)
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

static int
ensure_out(struct wire_transport *t)
{
    if (t->out != NULL)
        return 0;
    t->out = (struct wire__outq *)(void *)evbuffer_new();
    return t->out != NULL ? 0 : WIRE_ENOMEM;
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
    int st = write_state(t);
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
    if (out_len(t) == 0 && !(t->flags & WIRE_T_PAUSED_ALL)) {
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
    if (ensure_out(t) < 0) {
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
            if (r == 0)
                rc = NULL; /* the queue releases it */
        } else {
            r = evbuffer_add(outbuf(t), base, len);
        }
        if (r != 0) {
            ret = WIRE_ENOMEM;
            goto out;
        }
    }
    if (!(t->flags & WIRE_T_PAUSED_ALL))
        set_want_write(t, true);
    check_high(t);
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
    int st = write_state(t);
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
static void
after_drain(struct wire_transport *t)
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
        begin_loss(t, NULL, false);
}

static void
flush(struct wire_transport *t)
{
    if (t->flags & (WIRE_T_LOST | WIRE_T_HANDLE_CLOSED | WIRE_T_FLUSHING))
        return;
    if ((t->flags & WIRE_T_PAUSED_ALL) && !(t->flags & WIRE_T_CLOSING)) {
        set_want_write(t, false);
        return;
    }
    t->flags |= WIRE_T_FLUSHING;
    wire_transport_ref(t);
    while (out_len(t) > 0) {
        struct evbuffer_iovec eiov[WIRE_FLUSH_IOV];
        struct iovec iov[WIRE_FLUSH_IOV];
        int n = evbuffer_peek(outbuf(t), -1, NULL, eiov, WIRE_FLUSH_IOV);
        if (n > WIRE_FLUSH_IOV)
            n = WIRE_FLUSH_IOV;
        size_t want = 0;
        for (int i = 0; i < n; i++) {
            iov[i].iov_base = eiov[i].iov_base;
            iov[i].iov_len = eiov[i].iov_len;
            want += eiov[i].iov_len;
        }
        ssize_t w = t->ops->write(t, iov, n);
        if (w < 0) {
            t->flags &= ~WIRE_T_FLUSHING;
            wire_impl_fail(t, (int)w, "write: %s", wire_strerror((int)w));
            wire_transport_unref(t);
            return;
        }
        if (w == 0)
            break;
        /* Draining may run write_ref free callbacks (user code). */
        evbuffer_drain(outbuf(t), (size_t)w);
        if (t->flags & WIRE_T_LOST)
            break;
        if ((size_t)w < want)
            break;
    }
    t->flags &= ~WIRE_T_FLUSHING;
    if (!(t->flags & WIRE_T_LOST)) {
        if (out_len(t) == 0) {
            set_want_write(t, false);
            check_low(t);
            /* resume_writing may have queued more (and then asked for
             * write_eof or close): those wait for the new bytes. */
            if (!(t->flags & WIRE_T_LOST) && out_len(t) == 0)
                after_drain(t);
        } else {
            set_want_write(t, true);
            check_low(t);
        }
    }
    wire_transport_unref(t);
}

void
wire_impl_writable(struct wire_transport *t)
{
    if (out_len(t) == 0) {
        set_want_write(t, false);
        if (t->flags & (WIRE_T_CLOSING | WIRE_T_EOF_PENDING))
            after_drain(t);
        return;
    }
    flush(t);
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
        set_want_write(t, false);
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
        after_drain(t);
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
        begin_loss(t, NULL, false);
    else
        flush(t); /* close flushes even while PEP-paused */
}

void
wire_transport_abort(struct wire_transport *t)
{
    if ((t->flags & WIRE_T_LOST) || !(t->flags & WIRE_T_STARTED))
        return;
    t->flags |= WIRE_T_ABORTED;
    struct wire_error e = {0};
    wire_error_set(&e, WIRE_EABORTED, "connection aborted locally");
    begin_loss(t, wire__error_dup(&e), true);
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
    begin_loss(t, e, false);
}

void
wire_impl_lost(struct wire_transport *t, const struct wire_error *err)
{
    if (t->flags & WIRE_T_LOST)
        return;
    begin_loss(t, err != NULL && err->code != 0 ? wire__error_dup(err) : NULL,
               false);
}

/*
 * The connection ends: drop the queue, close the handle now (so the peer
 * sees it at once), and deliver connection_lost on a later turn.  Takes
 * ownership of `err`.
 */
static void
begin_loss(struct wire_transport *t, struct wire_error *err, bool abort)
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
    set_want_write(t, false);
    if (t->out != NULL && evbuffer_get_length(outbuf(t)) > 0)
        evbuffer_drain(outbuf(t), evbuffer_get_length(outbuf(t)));
    if (!(t->flags & WIRE_T_HANDLE_CLOSED)) {
        t->flags |= WIRE_T_HANDLE_CLOSED;
        t->ops->close(t, abort);
    }
    if (t->flags & WIRE_T_STARTED)
        wire_impl_defer(t, &t->soon);
    wire_transport_unref(t);
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

/* ---- limits and information ---- */

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
        check_high(t);
        check_low(t);
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
