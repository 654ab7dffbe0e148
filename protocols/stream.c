/*
 * The stream reader/writer (include/wire/stream.h).
 *
 * One linear buffer (start..end, compacted when data arrives) holds what
 * was received and not yet read.  Reads wait in a FIFO; dispatch() answers
 * them in order while it can.  It runs after each of our protocol
 * callbacks, and from a deferred "kick" when a read or drain is asked for
 * outside any callback.  The kick is a small separate object that the
 * stream can disown, because the transport destroys the protocol right
 * after connection_lost, possibly before the kick runs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <wire/stream.h>
#include <wire/transport_impl.h>

#include <stdlib.h>
#include <string.h>

#define SEP_MAX 64
#define STREAM_KEEP_BUFFER ((size_t)64 * 1024) /* kept between reads */

enum req_kind { R_SOME, R_EXACT, R_UNTIL, R_EOF };

struct req {
    struct req *next;
    enum req_kind kind;
    size_t n;
    size_t seplen;
    size_t scanned; /* read_until: bytes already searched */
    wire_stream_read_cb cb;
    void *arg;
    char sep[SEP_MAX];
};

struct waiter {
    struct waiter *next;
    wire_stream_done_cb cb;
    void *arg;
};

struct kick {
    struct wire_soon node;
    struct wire_stream *s; /* NULL once the stream is gone */
    struct wire_transport *t;
};

struct wire_stream {
    struct wire_protocol base;
    struct wire_stream_handler h;
    void *arg;
    struct wire_transport *t;
    size_t limit, eof_limit;
    char *buf;
    size_t start, end, cap;
    bool eof, lost, closing, read_paused, write_paused, dispatching;
    struct wire_error lost_err;
    struct req *head, *tail;
    struct waiter *waiters;
    struct kick *kick;
};

#define STREAM_OF(p) ((struct wire_stream *)(void *)(p))

static size_t
avail(const struct wire_stream *s)
{
    return s->end - s->start;
}

size_t
wire_stream_buffered(const struct wire_stream *s)
{
    return avail(s);
}

bool
wire_stream_at_eof(const struct wire_stream *s)
{
    return s->eof && avail(s) == 0;
}

struct wire_transport *
wire_stream_transport(const struct wire_stream *s)
{
    return s->lost ? NULL : s->t;
}

/* ---- flow control ---- */

static void
update_flow(struct wire_stream *s)
{
    if (s->t == NULL || s->lost || s->eof)
        return;
    /* Pause while *more* than `want` bytes are buffered, as the header
     * says (this used to pause at exactly `limit`, one byte early). */
    size_t want = s->limit;
    if (s->head != NULL && s->head->kind == R_EXACT && s->head->n > want)
        want = s->head->n;
    if (s->head != NULL && s->head->kind == R_UNTIL)
        want = s->limit + s->head->seplen - 1;
    if (s->head != NULL && s->head->kind == R_EOF)
        want = s->eof_limit;
    if (avail(s) > want && !s->read_paused) {
        s->read_paused = true;
        wire_transport_pause_reading(s->t);
    } else if (avail(s) <= want && s->read_paused) {
        s->read_paused = false;
        wire_transport_resume_reading(s->t);
    }
}

/* ---- answering reads ---- */

/* The error a read that cannot complete gets, or NULL (clean EOF). */
static const struct wire_error *
end_error(struct wire_stream *s, struct wire_error *tmp)
{
    if (s->lost && s->lost_err.code != 0)
        return &s->lost_err;
    if (s->eof) {
        tmp->code = WIRE_EINCOMPLETE;
        tmp->message = "input ended before the read completed";
        return tmp;
    }
    tmp->code = WIRE_ECLOSED;
    tmp->message = "the stream was closed before the read completed";
    return tmp;
}

static void
complete(struct wire_stream *s, const char *data, size_t len, bool consume,
         const struct wire_error *err)
{
    struct req *r = s->head;
    s->head = r->next;
    if (s->head == NULL)
        s->tail = NULL;
    if (consume)
        s->start += len; /* `data` stays valid: the buffer only moves when
                            data arrives, never inside a callback */
    r->cb(s, data, len, err, r->arg);
    free(r);
}

static const char *
find_sep(const char *p, size_t n, const char *sep, size_t seplen)
{
    if (seplen == 1)
        return memchr(p, sep[0], n);
    return n >= seplen ? memmem(p, n, sep, seplen) : NULL;
}

static void
dispatch(struct wire_stream *s)
{
    if (s->dispatching)
        return; /* the outer dispatch goes on with the new reads */
    s->dispatching = true;
    while (s->head != NULL) {
        struct req *r = s->head;
        /* Never NULL, even before any data came: callbacks get a valid
         * pointer with len 0, and memchr never sees NULL. */
        const char *p = s->buf != NULL ? s->buf + s->start : "";
        size_t n = avail(s);
        bool ended = s->eof || s->lost;
        struct wire_error tmp = {0, NULL, NULL};
        switch (r->kind) {
        case R_SOME:
            if (n > 0)
                complete(s, p, n < r->n ? n : r->n, true, NULL);
            else if (s->eof && !(s->lost && s->lost_err.code != 0))
                complete(s, p, 0, true, NULL);
            else if (ended)
                complete(s, p, 0, true, end_error(s, &tmp));
            else
                goto wait;
            break;
        case R_EXACT:
            if (n >= r->n)
                complete(s, p, r->n, true, NULL);
            else if (ended)
                complete(s, p, n, true, end_error(s, &tmp));
            else
                goto wait;
            break;
        case R_UNTIL: {
            size_t from = r->scanned >= r->seplen - 1 ? r->scanned - (r->seplen - 1) : 0;
            const char *hit = find_sep(p + from, n - from, r->sep, r->seplen);
            size_t idx = hit != NULL ? (size_t)(hit - p) : 0;
            if (hit != NULL && idx <= s->limit) {
                complete(s, p, idx + r->seplen, true, NULL);
            } else if (hit != NULL || n >= s->limit + r->seplen) {
                /* The separator does not start within the limit. */
                tmp.code = WIRE_EMSGSIZE;
                tmp.message = "no separator within the stream's limit; the "
                              "data stays buffered";
                complete(s, p, n, false, &tmp);
            } else if (ended) {
                complete(s, p, n, true, end_error(s, &tmp));
            } else {
                r->scanned = n;
                goto wait;
            }
            break;
        }
        case R_EOF:
            if (n > s->eof_limit) {
                tmp.code = WIRE_EMSGSIZE;
                tmp.message = "more than the stream's eof_limit before the "
                              "end of input; the data stays buffered";
                complete(s, p, n, false, &tmp);
            } else if (s->eof && !(s->lost && s->lost_err.code != 0)) {
                complete(s, p, n, true, NULL);
            } else if (ended) {
                complete(s, p, n, true, end_error(s, &tmp));
            } else {
                goto wait;
            }
            break;
        }
    }
wait:
    s->dispatching = false;
    /* No callback holds a pointer into the buffer now: give back a large
     * one once it is empty (a big read_exactly must not pin its memory
     * for the life of the connection). */
    if (avail(s) == 0 && s->cap > STREAM_KEEP_BUFFER) {
        free(s->buf);
        s->buf = NULL;
        s->cap = s->start = s->end = 0;
    }
    update_flow(s);
}

/* ---- the kick: dispatch and drain from the loop ---- */

static void
fire_waiters(struct wire_stream *s, const struct wire_error *err)
{
    struct waiter *w = s->waiters;
    s->waiters = NULL;
    while (w != NULL) {
        struct waiter *next = w->next;
        w->cb(s, err, w->arg);
        free(w);
        w = next;
    }
}

static void
kick_run(struct wire_soon *node)
{
    struct kick *k = (struct kick *)(void *)node;
    struct wire_stream *s = k->s;
    struct wire_transport *t = k->t;
    free(k);
    if (s != NULL) {
        s->kick = NULL;
        dispatch(s);
        /* Once the connection is closing (a reset, an abort, a close) the
         * queued output may never be written: the waiters then learn the
         * outcome from connection_lost (or from resume_writing if a
         * close's flush drains the queue), not a premature "drained". */
        if (!s->write_paused && !s->lost && !wire_transport_is_closing(s->t))
            fire_waiters(s, NULL);
    }
    wire_transport_unref(t);
}

static int
kick(struct wire_stream *s)
{
    if (s->kick != NULL)
        return 0;
    struct kick *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return WIRE_ENOMEM;
    k->node.fn = kick_run;
    k->s = s;
    k->t = wire_transport_ref(s->t);
    s->kick = k;
    wire_impl_defer(s->t, &k->node);
    return 0;
}

/* ---- asking for reads ---- */

static int
enqueue(struct wire_stream *s, enum req_kind kind, size_t n, const void *sep,
        size_t seplen, wire_stream_read_cb cb, void *arg)
{
    if (s == NULL || cb == NULL)
        return WIRE_EINVAL;
    if (s->t == NULL)
        return WIRE_ESTATE; /* not open yet */
    if (s->lost || s->closing)
        return WIRE_ECLOSED;
    struct req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return WIRE_ENOMEM;
    r->kind = kind;
    r->n = n;
    r->cb = cb;
    r->arg = arg;
    if (seplen > 0)
        memcpy(r->sep, sep, seplen);
    r->seplen = seplen;
    if (s->tail != NULL)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    if (s->dispatching)
        return 0; /* the running dispatch picks it up */
    if (s->head == r) {
        /* Asked for outside dispatch: answer from the loop, and let the
         * transport read what this read needs. */
        int rc = kick(s);
        if (rc < 0) {
            s->head = s->tail = NULL;
            free(r);
            return rc;
        }
        update_flow(s);
    }
    return 0;
}

int
wire_stream_read(struct wire_stream *s, size_t n, wire_stream_read_cb cb,
                 void *arg)
{
    if (n == 0)
        return WIRE_EINVAL;
    return enqueue(s, R_SOME, n, NULL, 0, cb, arg);
}

int
wire_stream_read_exactly(struct wire_stream *s, size_t n,
                         wire_stream_read_cb cb, void *arg)
{
    return enqueue(s, R_EXACT, n, NULL, 0, cb, arg);
}

int
wire_stream_read_until(struct wire_stream *s, const void *sep, size_t seplen,
                       wire_stream_read_cb cb, void *arg)
{
    if (sep == NULL || seplen == 0 || seplen > SEP_MAX)
        return WIRE_EINVAL;
    return enqueue(s, R_UNTIL, 0, sep, seplen, cb, arg);
}

int
wire_stream_read_line(struct wire_stream *s, wire_stream_read_cb cb, void *arg)
{
    return wire_stream_read_until(s, "\n", 1, cb, arg);
}

int
wire_stream_read_to_eof(struct wire_stream *s, wire_stream_read_cb cb,
                        void *arg)
{
    return enqueue(s, R_EOF, 0, NULL, 0, cb, arg);
}

/* ---- writing ---- */

static int
writable(const struct wire_stream *s)
{
    if (s == NULL)
        return WIRE_EINVAL;
    if (s->t == NULL)
        return WIRE_ESTATE;
    if (s->lost || s->closing)
        return WIRE_ECLOSED;
    return 0;
}

int
wire_stream_write(struct wire_stream *s, const void *data, size_t len)
{
    int rc = writable(s);
    return rc < 0 ? rc : wire_transport_write(s->t, data, len);
}

int
wire_stream_write_sequence(struct wire_stream *s, const struct iovec *iov,
                           int iovcnt)
{
    int rc = writable(s);
    return rc < 0 ? rc : wire_transport_write_sequence(s->t, iov, iovcnt);
}

int
wire_stream_drain(struct wire_stream *s, wire_stream_done_cb cb, void *arg)
{
    int rc = writable(s);
    if (rc < 0)
        return rc;
    if (cb == NULL)
        return WIRE_EINVAL;
    struct waiter *w = malloc(sizeof(*w));
    if (w == NULL)
        return WIRE_ENOMEM;
    w->cb = cb;
    w->arg = arg;
    /* Append: waiters are called in the order they asked. */
    struct waiter **pp = &s->waiters;
    while (*pp != NULL)
        pp = &(*pp)->next;
    w->next = NULL;
    *pp = w;
    if (!s->write_paused && (rc = kick(s)) < 0) {
        *pp = NULL;
        free(w);
        return rc;
    }
    return 0;
}

int
wire_stream_write_eof(struct wire_stream *s)
{
    int rc = writable(s);
    return rc < 0 ? rc : wire_transport_write_eof(s->t);
}

void
wire_stream_close(struct wire_stream *s)
{
    if (writable(s) < 0)
        return;
    s->closing = true;
    wire_transport_close(s->t);
}

void
wire_stream_abort(struct wire_stream *s)
{
    if (s == NULL || s->t == NULL || s->lost)
        return;
    s->closing = true;
    wire_transport_abort(s->t);
}

/* ---- the protocol ---- */

static void
st_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct wire_stream *s = STREAM_OF(p);
    s->t = t;
    s->dispatching = true; /* reads asked for in open are answered below */
    if (s->h.open != NULL)
        s->h.open(s, s->arg);
    s->dispatching = false;
    dispatch(s);
}

static int
buf_reserve(struct wire_stream *s, size_t len)
{
    if (s->cap - s->end >= len)
        return 0;
    if (s->start > 0) {
        memmove(s->buf, s->buf + s->start, avail(s));
        s->end -= s->start;
        s->start = 0;
        if (s->cap - s->end >= len)
            return 0;
    }
    size_t cap = s->cap ? s->cap : 4096;
    while (cap - s->end < len)
        cap *= 2;
    char *nb = realloc(s->buf, cap);
    if (nb == NULL)
        return WIRE_ENOMEM;
    s->buf = nb;
    s->cap = cap;
    return 0;
}

static void
st_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct wire_stream *s = STREAM_OF(p);
    if (s->closing)
        return;
    if (buf_reserve(s, len) < 0) {
        wire_impl_fail(s->t, WIRE_ENOMEM, "stream: out of memory buffering input");
        return;
    }
    memcpy(s->buf + s->end, data, len);
    s->end += len;
    dispatch(s);
}

static bool
st_eof(struct wire_protocol *p)
{
    struct wire_stream *s = STREAM_OF(p);
    s->eof = true;
    dispatch(s);
    return true; /* keep writing; the application closes */
}

static void
st_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct wire_stream *s = STREAM_OF(p);
    s->lost = true;
    if (err != NULL && err->code != 0)
        wire_error_copy(&s->lost_err, err);
    if (s->read_paused)
        s->read_paused = false;
    dispatch(s);
    struct wire_error closed = {WIRE_ECLOSED, "the connection closed", NULL};
    fire_waiters(s, s->lost_err.code != 0 ? &s->lost_err : &closed);
    if (s->h.closed != NULL)
        s->h.closed(s, s->lost_err.code != 0 ? &s->lost_err : NULL, s->arg);
    s->t = NULL;
}

static void
st_pause_writing(struct wire_protocol *p)
{
    STREAM_OF(p)->write_paused = true;
}

static void
st_resume_writing(struct wire_protocol *p)
{
    struct wire_stream *s = STREAM_OF(p);
    s->write_paused = false;
    fire_waiters(s, NULL);
}

static void
st_destroy(struct wire_protocol *p)
{
    struct wire_stream *s = STREAM_OF(p);
    if (s->kick != NULL)
        s->kick->s = NULL;
    struct req *r = s->head;
    while (r != NULL) {
        struct req *next = r->next;
        free(r);
        r = next;
    }
    struct waiter *w = s->waiters;
    while (w != NULL) {
        struct waiter *next = w->next;
        free(w);
        w = next;
    }
    wire_error_clear(&s->lost_err);
    free(s->buf);
    if (s->h.destroy != NULL)
        s->h.destroy(s->arg);
    free(s);
}

static const struct wire_protocol_ops stream_ops = {
    .connection_made = st_made,
    .data_received = st_data,
    .eof_received = st_eof,
    .connection_lost = st_lost,
    .pause_writing = st_pause_writing,
    .resume_writing = st_resume_writing,
    .destroy = st_destroy,
};

struct wire_protocol *
wire_stream_new(const struct wire_stream_opts *o,
                const struct wire_stream_handler *h, void *arg)
{
    struct wire_stream *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        if (h != NULL && h->destroy != NULL)
            h->destroy(arg);
        return NULL;
    }
    wire_protocol_init(&s->base, &stream_ops);
    if (h != NULL)
        s->h = *h;
    s->arg = arg;
    s->limit = o != NULL && o->limit ? o->limit : WIRE_STREAM_DEFAULT_LIMIT;
    s->eof_limit = o != NULL && o->eof_limit ? o->eof_limit
                                             : WIRE_STREAM_DEFAULT_EOF_LIMIT;
    return &s->base;
}
