/*
 * The transport base's file ranges (wire_transport_write_file): a range
 * queued among the writes around it (outq.h), sent by the handle's
 * sendfile hook, or read a piece at a time into the front of the queue
 * (the fallback), so a file is never read whole; and released exactly
 * once.  write.c holds the queue, the flush loop and the watermarks.
 */
#include "internal.h"
#include "outq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The most one sendfile hook call is asked for (the kernel takes what
 * the socket has room for, and never more than ~2 GiB). */
#define WIRE_SENDFILE_MAX ((size_t)1 << 30)
/* The fallback reads a file range in pieces of the high mark, between
 * these bounds (so at most 64 KiB of a file is in memory at a time). */
#define WIRE_FILE_PIECE_MIN (4u * 1024u)
#define WIRE_FILE_PIECE_MAX (64u * 1024u)

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

void
wire__range_release(struct wire__frange *r)
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
int
wire__head_iov(const struct wire__outq *q, const struct wire__frange *r,
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
int
wire__range_step(struct wire_transport *t, struct wire__outq *q,
                 struct wire__frange *r, const struct iovec *head, int headcnt)
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
        wire__range_release(range_unlink(q)); /* may run user code */
        if (t->flags & WIRE_T_LOST)
            return -1;
    }
    return ret;
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
    int st = wire__write_state(t);
    if (st < 0)
        return st;
    /* A message transport frames each write as it is made; a file read
     * piece by piece on a later turn has no place in that. */
    if (t->ops->frame != NULL)
        return WIRE_ENOTSUP;
    if ((st = file_check(fd)) < 0)
        return st;
    struct wire__frange *r = NULL;
    if (len > 0 && (t->flags & WIRE_T_CORK_AREA)) {
        wire__cork_settle(t, false); /* queued ahead of the range */
        if (t->flags & WIRE_T_LOST)
            return WIRE_ECLOSED;
    }
    if (len > 0 &&
        (wire__outq_ensure(t) < 0 || (r = calloc(1, sizeof(*r))) == NULL))
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
    bool corked = (t->flags & WIRE_T_CORKED) && out_len(t) <= wire__cork_limit(t);
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

