/*
 * The transport base's writing half: the output queue (outq.h: an
 * evbuffer with file ranges marked in it, allocated on the first write
 * that cannot go through at once, so idle connections carry none),
 * framing by message layers (ops->frame), the write-through path,
 * flushing (file ranges by the handle's sendfile hook, or read a piece
 * at a time), the watermarks and pause_writing / resume_writing, and what
 * waits for the queue to drain (write_eof, close).  transport.c holds the
 * state machine, reading and the loss.
 */
#include "internal.h"
#include "outq.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define WIRE_FLUSH_IOV 64
/* The most one sendfile hook call is asked for (the kernel takes what
 * the socket has room for, and never more than ~2 GiB). */
#define WIRE_SENDFILE_MAX ((size_t)1 << 30)
/* The fallback reads a file range in pieces of the high mark, between
 * these bounds (so at most 64 KiB of a file is in memory at a time). */
#define WIRE_FILE_PIECE_MIN (4u * 1024u)
#define WIRE_FILE_PIECE_MAX (64u * 1024u)

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
static size_t
cork_limit(const struct wire_transport *t)
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

static int
ensure_out(struct wire_transport *t)
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
    /* Corked (see wire_impl_data): small answers gather for one write;
     * anything that would pass the cork's limit goes out now, so the
     * cork never makes a protocol pause for bytes the handle could take. */
    bool corked = (t->flags & WIRE_T_CORKED) && out_len(t) + total <= cork_limit(t);
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

/* ---- file ranges ---- */

/* Give a range's file back: its done callback (user code: it may write,
 * close or abort; the caller re-checks the state after), or close it. */
static void
file_release(int fd, wire_file_done_cb done, void *arg)
{
    if (done != NULL)
        done(arg, fd);
    else
        close(fd);
}

static void
range_release(struct wire__frange *r)
{
    int fd = r->fd;
    wire_file_done_cb done = r->done;
    void *arg = r->arg;
    free(r);
    file_release(fd, done, arg);
}

/* Unlink the first range (nothing of it is left to read or send); the
 * buffer bytes counted before it now count before the next one.  The
 * caller releases it. */
static struct wire__frange *
range_unlink(struct wire__outq *q)
{
    struct wire__frange *r = q->head;
    q->head = r->next;
    if (q->head != NULL)
        q->head->before += r->before;
    else {
        q->tail = NULL;
        q->ahead -= r->before; /* they are the queue's tail now */
    }
    q->file_left -= r->left;
    return r;
}

void
wire__outq_drop(struct wire_transport *t)
{
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
        range_release(r);
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

/* What one read of the fallback takes: the high mark, within bounds. */
static size_t
file_piece(const struct wire_transport *t)
{
    size_t p = t->high_water;
    if (p < WIRE_FILE_PIECE_MIN)
        p = WIRE_FILE_PIECE_MIN;
    return p < WIRE_FILE_PIECE_MAX ? p : WIRE_FILE_PIECE_MAX;
}

/* The file ended before its range did. */
static void
range_short(struct wire_transport *t, const struct wire__frange *r)
{
    wire_impl_fail(t, WIRE_EINCOMPLETE,
                   "write_file: fd %d ended at offset %lld, %zu bytes before "
                   "the end of the range (the file was truncated?)",
                   r->fd, (long long)r->off, r->left);
}

/* The fallback: read the next piece of the range at the queue's front
 * into the front of the buffer.  Returns 1, or -1 (the connection
 * failed). */
static int
range_read(struct wire_transport *t, struct wire__outq *q, struct wire__frange *r)
{
    size_t want = file_piece(t);
    if (want > r->left)
        want = r->left;
    struct evbuffer *tmp = evbuffer_new();
    struct evbuffer_iovec v[2];
    int nv = tmp != NULL ? evbuffer_reserve_space(tmp, (ev_ssize_t)want, v, 2) : -1;
    if (nv < 0) {
        evbuffer_free(tmp);
        wire_impl_fail(t, WIRE_ENOMEM, "write_file: out of memory");
        return -1;
    }
    struct iovec iov[2];
    size_t room = 0;
    for (int i = 0; i < nv; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len < want - room ? v[i].iov_len : want - room;
        room += iov[i].iov_len;
    }
    ssize_t n;
    do
        n = preadv(r->fd, iov, nv, r->off);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        int e = errno;
        evbuffer_free(tmp);
        if (n == 0)
            range_short(t, r);
        else
            wire_impl_fail(t, -e, "write_file: reading fd %d at offset %lld: %s",
                           r->fd, (long long)r->off, strerror(e));
        return -1;
    }
    /* Commit exactly the bytes read (a short read: the rest next time). */
    size_t got = (size_t)n;
    for (int i = 0; i < nv; i++) {
        v[i].iov_len = got < iov[i].iov_len ? got : iov[i].iov_len;
        got -= v[i].iov_len;
    }
    evbuffer_commit_space(tmp, v, nv);
    /* Moves the chains, without copying. */
    int rc = evbuffer_prepend_buffer(q->buf, tmp);
    evbuffer_free(tmp);
    if (rc != 0) {
        wire_impl_fail(t, WIRE_ENOMEM, "write_file: out of memory");
        return -1;
    }
    r->before += (size_t)n;
    q->ahead += (size_t)n;
    r->off += (off_t)n;
    r->left -= (size_t)n;
    q->file_left -= (size_t)n;
    q->file_read += (uint64_t)n;
    return 1;
}

/* The buffer bytes ahead of the first range, `r->before` of them, as
 * iovecs for the sendfile hook.  Returns how many, or -1 when they do
 * not fit in `max` (then they go by ops->write first). */
static int
head_iov(const struct wire__outq *q, const struct wire__frange *r,
         struct iovec *iov, int max)
{
    if (r->before == 0)
        return 0;
    struct evbuffer_iovec eiov[WIRE_FLUSH_IOV];
    int n = evbuffer_peek(q->buf, (ev_ssize_t)r->before, NULL, eiov,
                          max < WIRE_FLUSH_IOV ? max : WIRE_FLUSH_IOV);
    size_t got = 0;
    int k = 0;
    for (; k < n && k < max && got < r->before; k++) {
        iov[k].iov_base = eiov[k].iov_base;
        iov[k].iov_len = eiov[k].iov_len < r->before - got ? eiov[k].iov_len
                                                           : r->before - got;
        got += iov[k].iov_len;
    }
    return got == r->before ? k : -1;
}

/* Send the first range by the handle's sendfile hook, with the buffer
 * bytes ahead of it (`head`: they go out in the same segments), or, when
 * the handle cannot, read a piece of it into the buffer (nothing of the
 * buffer is ahead of it then).  Releases the range once nothing of it
 * is left to send or read.  Returns 1 (progress: go on), 0 (the handle is
 * full: wait for writable) or -1 (the connection failed). */
static int
range_step(struct wire_transport *t, struct wire__outq *q, struct wire__frange *r,
           const struct iovec *head, int headcnt)
{
    int ret = 1;
    if (!r->copy) {
        size_t hl = r->before;
        size_t want = r->left < WIRE_SENDFILE_MAX ? r->left : WIRE_SENDFILE_MAX;
        ssize_t n = t->ops->sendfile(t, head, headcnt, r->fd, r->off, want);
        if (n > 0) {
            size_t fn = (size_t)n > hl ? (size_t)n - hl : 0;
            r->off += (off_t)fn;
            r->left -= fn;
            q->file_left -= fn;
            q->sent_direct += (uint64_t)fn;
            if ((size_t)n < hl + want)
                ret = 0; /* the socket took what it had room for */
            if (hl > 0) {
                size_t hn = (size_t)n < hl ? (size_t)n : hl;
                r->before -= hn;
                q->ahead -= hn;
                /* Draining may run write_ref free callbacks (user code). */
                evbuffer_drain(q->buf, hn);
                if (t->flags & WIRE_T_LOST)
                    return -1;
            }
        } else if (n == 0) {
            range_short(t, r);
            return -1;
        } else if (n == -EAGAIN) {
            return 0;
        } else if (n == WIRE_ENOTSUP) {
            r->copy = true; /* this file or this handle: read it instead */
            return 1;
        } else {
            wire_impl_fail(t, (int)n, "write_file: sendfile from fd %d: %s",
                           r->fd, wire_strerror((int)n));
            return -1;
        }
    } else if (range_read(t, q, r) < 0) {
        return -1;
    }
    if (r->left == 0) {
        range_release(range_unlink(q)); /* may run user code */
        if (t->flags & WIRE_T_LOST)
            return -1;
    }
    return ret;
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
        int hn = r != NULL && !r->copy ? head_iov(q, r, head, WIRE_FLUSH_IOV) : -1;
        if (r != NULL && (r->before == 0 || hn >= 0))
            step = range_step(t, q, r, head, hn > 0 ? hn : 0);
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

/* Is `fd` a file write_file can read?  0, or WIRE_EINVAL. */
static int
file_check(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return WIRE_EINVAL; /* closed, or a pipe, socket, directory... */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY)
        return WIRE_EINVAL;
    return 0;
}

int
wire_transport_write_file(struct wire_transport *t, int fd, off_t offset,
                          size_t len, wire_file_done_cb done, void *arg)
{
    if (fd < 0 || offset < 0 ||
        (uint64_t)len > (uint64_t)(INT64_MAX - (int64_t)offset))
        return WIRE_EINVAL;
    int st = write_state(t);
    if (st < 0)
        return st;
    /* A message transport frames each write as it is made; a file read
     * piece by piece on a later turn has no place in that. */
    if (t->ops->frame != NULL)
        return WIRE_ENOTSUP;
    if ((st = file_check(fd)) < 0)
        return st;
    struct wire__frange *r = NULL;
    if (len > 0 &&
        (ensure_out(t) < 0 || (r = calloc(1, sizeof(*r))) == NULL))
        return WIRE_ENOMEM;
    if (r == NULL) {
        /* Nothing to send: done at once, as an empty write_ref is. */
        file_release(fd, done, arg);
        return 0;
    }
    struct wire__outq *q = t->out;
    bool was_empty = out_len(t) == 0;
    r->fd = fd;
    r->off = offset;
    r->left = len;
    r->done = done;
    r->arg = arg;
    r->before = evbuffer_get_length(q->buf) - q->ahead;
    q->ahead += r->before;
    q->file_left += len;
    if (q->tail != NULL)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    /* As a write: out now when nothing is ahead of it (write-through),
     * unless held by a PEP pause or gathered by the cork (see
     * wire_impl_data) within its limit. */
    bool corked = (t->flags & WIRE_T_CORKED) && out_len(t) <= cork_limit(t);
    if (t->flags & WIRE_T_PAUSED_ALL) {
        /* held until resume */
    } else if (corked) {
        /* flushed when the read returns */
    } else if (was_empty || (t->flags & WIRE_T_CORKED)) {
        wire__flush(t);
    } else {
        wire__set_want_write(t, true);
    }
    if (!(t->flags & WIRE_T_LOST))
        wire__check_high(t);
    return 0;
}

void
wire_transport_get_write_stats(const struct wire_transport *t,
                               struct wire_write_stats *st)
{
    memset(st, 0, sizeof(*st));
    const struct wire__outq *q = t->out;
    if (q == NULL)
        return;
    st->buffered = evbuffer_get_length(q->buf);
    st->file_pending = q->file_left;
    st->file_sent_direct = q->sent_direct;
    st->file_read = q->file_read;
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

