/*
 * chunk and lines: messages split by a delimiter.
 *
 * Reading: chunks that lie whole inside one read are delivered in place
 * (no copy); only the unterminated tail of a read is kept, in a buffer
 * that holds no more than the maximum chunk length plus the delimiter.  A
 * multi-byte delimiter split across reads is found by checking the
 * buffer's tail against the head of the next read.
 *
 * While a long chunk is unterminated (a quarter of a read or more), the
 * layer is a BufferedProtocol to the transport below (chunk_get_buffer):
 * the next read lands right after the chunk's bytes in that buffer, only
 * the new bytes are scanned, and the chunks they end go up from the
 * buffer in place; the new tail is moved to the buffer's start.  So a
 * chunk longer than a read is not copied piece by piece.  For that the
 * buffer grows to a read's size beyond the unterminated bytes (the limit
 * applies to those, checked as before), and is let go when a read leaves
 * nothing unterminated.  Otherwise the transport's shared buffer is
 * used: a short unterminated tail is cheap to copy, and a connection
 * waiting in the middle of a short line keeps a small buffer.
 *
 * Writing: ops->frame adds the delimiter after each write's payload, so a
 * write is one chunk whatever the output queue does later.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "framing_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_DELIM_MAX 64

struct chunk {
    struct wire_layer l; /* first: the layer's memory is the chunk's */
    char delim[CHUNK_DELIM_MAX];
    char wdelim[CHUNK_DELIM_MAX];
    size_t dlen, wdlen;
    size_t max;
    size_t slack; /* unterminated bytes beyond `max` that may still end well */
    bool strip_cr, partial_at_eof, unchecked;
    bool failed;
    char *buf; /* unterminated bytes of the current chunk */
    size_t blen, bcap;
    struct wire__later trim; /* lets go of a buffer grown for reads */
    bool busy;    /* inside chunk_buffer_updated */
    char *nested; /* bytes fed from inside it (string transport), for after */
    size_t nlen, ncap;
    uint64_t in;    /* stream offset of the next byte from below */
    struct wire_layer_ops *own_ops; /* when a custom name was given */
    char *own_name;
};

static int chunk_frame(struct wire_transport *t, const struct iovec *iov,
                       int iovcnt, size_t total, struct wire_frame *f);
static int chunk_recv(struct wire_layer *l, const void *data, size_t len);
static void *chunk_get_buffer(struct wire_layer *l, size_t hint, size_t *len);
static int chunk_buffer_updated(struct wire_layer *l, size_t n);
static int chunk_recv_eof(struct wire_layer *l);
static void chunk_destroy(struct wire_layer *l);

#define CHUNK_LAYER_OPS(lname)                                                \
    {                                                                         \
        .transport = WIRE_LAYER_FRAMING_OPS(lname, WIRE_CAP_HALF_CLOSE_IF_LOWER, \
                                            chunk_frame),                     \
        .recv = chunk_recv, .recv_eof = chunk_recv_eof,                       \
        .destroy = chunk_destroy, .get_buffer = chunk_get_buffer,             \
        .buffer_updated = chunk_buffer_updated,                               \
    }

static const struct wire_layer_ops chunk_ops = CHUNK_LAYER_OPS("chunk");
static const struct wire_layer_ops lines_ops = CHUNK_LAYER_OPS("lines");

static struct chunk *
chunk_of_transport(struct wire_transport *t)
{
    return (struct chunk *)(void *)wire_fr_container_of(t, struct wire_layer,
                                                        above);
}

static bool
is_chunk(const struct wire_transport *t)
{
    return t != NULL && t->ops != NULL && t->ops->frame == chunk_frame;
}

void
wire_chunk_opts_init(struct wire_chunk_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->delim = "\n";
    o->delim_len = 1;
    o->max_len = WIRE_CHUNK_DEFAULT_MAX;
}

void
wire_lines_opts_init(struct wire_chunk_opts *o, bool accept_crlf,
                     bool write_crlf)
{
    wire_chunk_opts_init(o);
    o->strip_cr = accept_crlf;
    if (write_crlf) {
        o->write_delim = "\r\n";
        o->write_delim_len = 2;
    }
    o->name = "lines";
}

/* ---- writing ---- */

/* Does the payload contain the delimiter (also across iovec edges)? */
static bool
payload_has_delim(const struct chunk *c, const struct iovec *iov, int iovcnt)
{
    /* The write delimiter's last byte ends every delimiter we read when
     * they differ only by a '\r' (lines); checking for `delim` is what
     * keeps the peer's framing intact. */
    const char *d = c->delim;
    size_t dl = c->dlen;
    if (dl == 1) {
        for (int i = 0; i < iovcnt; i++)
            if (iov[i].iov_len > 0 && memchr(iov[i].iov_base, d[0], iov[i].iov_len))
                return true;
        return false;
    }
    /* Multi-byte: search each piece, then the seams. */
    char seam[2 * CHUNK_DELIM_MAX];
    size_t keep = 0; /* bytes of the previous pieces' tail in seam */
    for (int i = 0; i < iovcnt; i++) {
        const char *b = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        if (n == 0)
            continue;
        if (n >= dl && memmem(b, n, d, dl) != NULL)
            return true;
        if (keep > 0) {
            size_t take = n < dl - 1 ? n : dl - 1;
            memcpy(seam + keep, b, take);
            if (memmem(seam, keep + take, d, dl) != NULL)
                return true;
        }
        /* New tail: the last dl-1 bytes of everything so far. */
        if (n >= dl - 1) {
            memcpy(seam, b + n - (dl - 1), dl - 1);
            keep = dl - 1;
        } else {
            size_t total = keep + n;
            memmove(seam + keep, b, n); /* seam[0..keep) still holds the old tail */
            if (total > dl - 1) {
                memmove(seam, seam + total - (dl - 1), dl - 1);
                total = dl - 1;
            }
            keep = total;
        }
    }
    /* The payload's tail and the delimiter written after it: a payload
     * ending in a head of a self-overlapping delimiter ("x\r\n" before
     * "\r\n\r\n", "xAB" before "ABAB") would give the peer a
     * delimiter that ends before ours, splitting the chunk early.  The
     * first delimiter in tail + write delimiter must end at its end. */
    if (keep + c->wdlen >= dl) {
        memcpy(seam + keep, c->wdelim, c->wdlen);
        const char *first = memmem(seam, keep + c->wdlen, d, dl);
        if (first != NULL && (size_t)(first - seam) + dl < keep + c->wdlen)
            return true;
    }
    return false;
}

/* The payload's last byte, or -1 when it is empty. */
static int
last_byte(const struct iovec *iov, int iovcnt)
{
    for (int i = iovcnt - 1; i >= 0; i--)
        if (iov[i].iov_len > 0)
            return ((const unsigned char *)iov[i].iov_base)[iov[i].iov_len - 1];
    return -1;
}

static int
chunk_frame(struct wire_transport *t, const struct iovec *iov, int iovcnt,
            size_t total, struct wire_frame *f)
{
    struct chunk *c = chunk_of_transport(t);
    (void)total;
    if (!c->unchecked && payload_has_delim(c, iov, iovcnt))
        return WIRE_EINVAL;
    /* Lines that accept "\r\n" drop one '\r' before the delimiter: a
     * payload ending in '\r' would lose it whenever the delimiter the
     * peer finds comes right after the payload, that is unless the write
     * delimiter is longer and brings its own '\r' ("\r\n" after "\n").
     * A read delimiter that itself starts with '\r' ("\r\n" with
     * strip_cr) is no exception: "x\r" + "\r\n" reads back as "x". */
    if (!c->unchecked && c->strip_cr && c->wdlen <= c->dlen &&
        last_byte(iov, iovcnt) == '\r')
        return WIRE_EINVAL;
    f->tail = c->wdelim;
    f->tail_len = c->wdlen;
    return 0;
}

int
wire_chunk_write(struct wire_transport *t, const void *data, size_t len)
{
    if (!is_chunk(t) || (data == NULL && len > 0))
        return WIRE_EINVAL;
    return wire_transport_write(t, data, len);
}

int
wire_line_write(struct wire_transport *t, const char *line)
{
    if (line == NULL)
        return WIRE_EINVAL;
    return wire_chunk_write(t, line, strlen(line));
}

int
wire_line_writef(struct wire_transport *t, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return WIRE_EINVAL;
    if ((size_t)n < sizeof(small))
        return wire_chunk_write(t, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (big == NULL)
        return WIRE_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = wire_chunk_write(t, big, (size_t)n);
    free(big);
    return rc;
}

/* ---- reading ---- */

#define CHUNK_STOP 1 /* the layer failed or nobody above wants more */

static int
fail_long(struct chunk *c, uint64_t start)
{
    c->failed = true;
    wire_layer_fail(&c->l, WIRE_EMSGSIZE,
                    "%s: message at stream offset %llu is longer than the "
                    "limit of %zu bytes",
                    c->l.lops->transport.name, (unsigned long long)start,
                    c->max);
    return CHUNK_STOP;
}

/* One chunk found: `n` bytes at `p` (delimiter excluded), which began at
 * stream offset `start`. */
static inline __attribute__((always_inline)) int
emit(struct chunk *c, const char *p, size_t n, uint64_t start)
{
    if (c->strip_cr && n > 0 && p[n - 1] == '\r')
        n--;
    if (n > c->max)
        return fail_long(c, start);
    return wire_layer_deliver(&c->l, p, n) < 0 ? CHUNK_STOP : 0;
}

static inline __attribute__((always_inline)) const char *
find_delim(const struct chunk *c, const char *p, size_t n)
{
    if (c->dlen == 1)
        return memchr(p, c->delim[0], n);
    return n >= c->dlen ? memmem(p, n, c->delim, c->dlen) : NULL;
}

/* Append `n` bytes at `p` to the buffer `*buf` holding `*len` of `*cap`
 * bytes, growing it by doubling up to `limit` (which must leave room).
 * Returns false when out of memory (nothing changed). */
static bool
grow_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n,
            size_t limit)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n)
            c *= 2;
        if (c > limit)
            c = limit;
        char *nb = realloc(*buf, c);
        if (nb == NULL)
            return false;
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return true;
}

static int
buf_append(struct chunk *c, const char *p, size_t n)
{
    if (!grow_append(&c->buf, &c->blen, &c->bcap, p, n, c->max + c->slack)) {
        c->failed = true;
        wire_layer_fail(&c->l, WIRE_ENOMEM, "%s: out of memory",
                        c->l.lops->transport.name);
        return CHUNK_STOP;
    }
    return 0;
}

/* Add `n` bytes at `p` to the unterminated chunk.  `inplace`: they were
 * read into the buffer already (chunk_buffer_updated), so they are only
 * moved, if they are not right after the chunk's bytes. */
static inline __attribute__((always_inline)) int
buf_take(struct chunk *c, const char *p, size_t n, const bool inplace)
{
    if (!inplace)
        return buf_append(c, p, n);
    if (p != c->buf + c->blen)
        memmove(c->buf + c->blen, p, n);
    c->blen += n;
    return 0;
}

/* Finish the buffered chunk with the first `n` bytes of `p` (the delimiter
 * ends right after them, or `cut` bytes of the buffer belong to it). */
static int
emit_buffered(struct chunk *c, const char *p, size_t n, size_t cut,
              uint64_t start, bool inplace)
{
    int rc;
    if (c->blen - cut + n > c->max + (c->strip_cr ? 1 : 0))
        return fail_long(c, start);
    if (n > 0 && (rc = buf_take(c, p, n, inplace)) != 0)
        return rc;
    size_t len = c->blen - cut;
    c->blen = 0;
    return emit(c, c->buf, len, start);
}

/* Take `len` bytes at `d`: from the transport's buffer, or (`inplace`)
 * read into ours right after the unterminated chunk's bytes.  One
 * scanner for both, so the stream means the same whichever way its
 * bytes came; `inplace` is a constant in each caller. */
static inline __attribute__((always_inline)) void
chunk_input(struct chunk *c, const char *d, size_t len, const bool inplace)
{
    uint64_t base = c->in; /* stream offset of d[0] */
    c->in += len;
    if (c->failed)
        return;
    size_t pos = 0;
    if (c->blen > 0) {
        uint64_t start = base - c->blen;
        /* A delimiter that began in the buffer (multi-byte only): the
         * earliest one to end wins. */
        for (size_t k = c->dlen - 1; k >= 1; k--) {
            if (k > c->blen || c->dlen - k > len)
                continue;
            if (memcmp(c->buf + c->blen - k, c->delim, k) == 0 &&
                memcmp(d, c->delim + k, c->dlen - k) == 0) {
                if (emit_buffered(c, d, 0, k, start, inplace) != 0)
                    return;
                pos = c->dlen - k;
                goto scan;
            }
        }
        const char *hit = find_delim(c, d, len);
        if (hit == NULL) {
            if (c->blen + len > c->max + c->slack)
                fail_long(c, start);
            else
                buf_take(c, d, len, inplace);
            return;
        }
        size_t n = (size_t)(hit - d);
        if (emit_buffered(c, d, n, 0, start, inplace) != 0)
            return;
        pos = n + c->dlen;
    }
scan:
    if (c->dlen == 1) {
        /* The common case (lines), with the settings in locals so that
         * nothing is reloaded around each delivery. */
        const int dc = (unsigned char)c->delim[0];
        const size_t max = c->max;
        const bool strip = c->strip_cr;
        while (pos < len) {
            const char *at = d + pos;
            const char *hit = memchr(at, dc, len - pos);
            if (hit == NULL)
                break;
            size_t n = (size_t)(hit - at);
            size_t m = strip && n > 0 && at[n - 1] == '\r' ? n - 1 : n;
            if (m > max) {
                fail_long(c, base + pos);
                return;
            }
            if (wire_layer_deliver(&c->l, at, m) < 0)
                return;
            pos += n + 1;
        }
    }
    while (pos < len) {
        const char *hit = find_delim(c, d + pos, len - pos);
        if (hit == NULL)
            break;
        size_t n = (size_t)(hit - (d + pos));
        if (emit(c, d + pos, n, base + pos) != 0)
            return;
        pos += n + c->dlen;
    }
    if (pos < len) {
        if (len - pos > c->max + c->slack)
            fail_long(c, base + pos);
        else
            buf_take(c, d + pos, len - pos, inplace);
    }
}

/* Nothing unterminated: let go of a buffer grown past the limit for
 * reads (chunk_get_buffer), so an idle connection holds no more than
 * before; on a later turn, so that a stream of long chunks keeps it
 * (see struct wire__later). */
static void
chunk_trim(struct wire_layer *l)
{
    struct chunk *c = (struct chunk *)(void *)l;
    if (c->blen == 0 && c->bcap > c->max + c->slack) {
        free(c->buf);
        c->buf = NULL;
        c->bcap = 0;
    }
}

static void
buf_trim(struct chunk *c)
{
    if (c->blen == 0 && c->bcap > c->max + c->slack)
        wire__later_ask(&c->trim);
}

static int
chunk_recv(struct wire_layer *l, const void *data, size_t len)
{
    struct chunk *c = (struct chunk *)(void *)l;
    if (c->busy) {
        /* Fed from inside a message chunk_buffer_updated delivered (a
         * test feeding the string transport from a callback): the
         * buffer being scanned must not change, and these bytes come
         * after the rest of it, so they wait for it. */
        return grow_append(&c->nested, &c->nlen, &c->ncap, data, len,
                           SIZE_MAX)
                   ? 0
                   : WIRE_ENOMEM;
    }
    chunk_input(c, data, len, false);
    buf_trim(c);
    return 0;
}

/* Smallest read offered, whatever the transport hints. */
#define CHUNK_READ_MIN 4096

/*
 * Zero-copy receive: while a long chunk is unterminated (a quarter of a
 * read or more), the next read goes right after its bytes.  At least a
 * read's worth of room is offered (a smaller read would cost a syscall
 * more than the copy it saves): the buffer grows to the unterminated
 * bytes plus the hint, at least doubling, so it holds at most the limit
 * plus one read, and a few times what is pending.
 */
static void *
chunk_get_buffer(struct wire_layer *l, size_t hint, size_t *len)
{
    struct chunk *c = (struct chunk *)(void *)l;
    if (hint < CHUNK_READ_MIN)
        hint = CHUNK_READ_MIN;
    if (c->failed || c->blen < hint / 4)
        return NULL; /* the transport's buffer serves (see the top) */
    if (c->bcap - c->blen < hint) {
        size_t cap = c->blen + hint;
        if (cap < 2 * c->bcap)
            cap = 2 * c->bcap;
        if (cap > c->max + c->slack + hint)
            cap = c->max + c->slack + hint;
        char *nb = realloc(c->buf, cap);
        if (nb == NULL)
            return NULL; /* recv copes, or fails cleanly */
        c->buf = nb;
        c->bcap = cap;
    }
    *len = c->bcap - c->blen;
    return c->buf + c->blen;
}

static int
chunk_buffer_updated(struct wire_layer *l, size_t n)
{
    struct chunk *c = (struct chunk *)(void *)l;
    c->busy = true;
    chunk_input(c, c->buf + c->blen, n, true);
    while (c->nlen > 0) {
        char *d = c->nested;
        size_t len = c->nlen;
        c->nested = NULL;
        c->nlen = c->ncap = 0;
        chunk_input(c, d, len, false);
        free(d);
    }
    c->busy = false;
    buf_trim(c);
    return 0;
}

static int
chunk_recv_eof(struct wire_layer *l)
{
    struct chunk *c = (struct chunk *)(void *)l;
    if (c->failed)
        return 0;
    if (c->blen > 0) {
        uint64_t start = c->in - c->blen;
        if (!c->partial_at_eof) {
            c->failed = true;
            wire_layer_fail(l, WIRE_EINCOMPLETE,
                            "%s: input ended inside a message: %zu bytes "
                            "from stream offset %llu without a delimiter",
                            l->lops->transport.name, c->blen,
                            (unsigned long long)start);
            return 0;
        }
        size_t n = c->blen;
        c->blen = 0;
        if (emit(c, c->buf, n, start) != 0)
            return 0;
    }
    wire_layer_deliver_eof(l);
    return 0;
}

static void
chunk_destroy(struct wire_layer *l)
{
    struct chunk *c = (struct chunk *)(void *)l;
    free(c->buf);
    free(c->nested);
    free(c->own_ops);
    free(c->own_name);
    free(c);
}

/* ---- construction ---- */

struct wire_protocol *
wire_chunk_layer_new(struct wire_protocol *upper,
                     const struct wire_chunk_opts *o, struct wire_error *err)
{
    struct wire_chunk_opts defaults;
    if (o == NULL) {
        wire_chunk_opts_init(&defaults);
        o = &defaults;
    }
    const void *delim = o->delim != NULL ? o->delim : "\n";
    size_t dlen = o->delim != NULL ? o->delim_len : 1;
    const void *wdelim = o->write_delim != NULL ? o->write_delim : delim;
    size_t wdlen = o->write_delim != NULL ? o->write_delim_len : dlen;
    const char *why = NULL;
    if (dlen == 0 || wdlen == 0)
        why = "the delimiter is empty";
    else if (dlen > CHUNK_DELIM_MAX || wdlen > CHUNK_DELIM_MAX)
        why = "the delimiter is longer than 64 bytes";
    else if (o->max_len > SIZE_MAX / 4)
        why = "the maximum length is absurd";
    if (why != NULL) {
        wire_error_set(err, WIRE_EINVAL, "chunk: %s", why);
        if (upper != NULL)
            wire_protocol_destroy(upper);
        return NULL;
    }
    struct chunk *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    memcpy(c->delim, delim, dlen);
    memcpy(c->wdelim, wdelim, wdlen);
    c->dlen = dlen;
    c->wdlen = wdlen;
    c->max = o->max_len ? o->max_len : WIRE_CHUNK_DEFAULT_MAX;
    c->strip_cr = o->strip_cr;
    c->slack = dlen - 1 + (o->strip_cr ? 1 : 0);
    c->partial_at_eof = o->partial_at_eof;
    c->unchecked = o->unchecked_writes;
    wire__later_init(&c->trim, &c->l, chunk_trim);
    const struct wire_layer_ops *ops = &chunk_ops;
    if (o->name != NULL && strcmp(o->name, "lines") == 0) {
        ops = &lines_ops;
    } else if (o->name != NULL && strcmp(o->name, "chunk") != 0) {
        c->own_ops = malloc(sizeof(*c->own_ops));
        if (c->own_ops == NULL) {
            free(c);
            goto nomem;
        }
        c->own_name = strdup(o->name);
        if (c->own_name == NULL) {
            free(c->own_ops);
            free(c);
            goto nomem;
        }
        *c->own_ops = chunk_ops;
        c->own_ops->transport.name = c->own_name;
        ops = c->own_ops;
    }
    return wire_layer_init(&c->l, ops, upper);
nomem:
    wire_error_set(err, WIRE_ENOMEM, "chunk: out of memory");
    if (upper != NULL)
        wire_protocol_destroy(upper);
    return NULL;
}

struct wire_protocol *
wire_chunk_protocol_new(const struct wire_chunk_opts *o,
                        const struct wire_message_handler *h, void *arg,
                        struct wire_error *err)
{
    if (h == NULL || h->message == NULL) {
        wire_error_set(err, WIRE_EINVAL, "chunk: the handler has no message callback");
        if (h != NULL && h->destroy != NULL)
            h->destroy(arg);
        return NULL;
    }
    struct wire_protocol *mp = wire__message_proto_new(h, arg);
    if (mp == NULL) {
        wire_error_set(err, WIRE_ENOMEM, "chunk: out of memory");
        return NULL;
    }
    return wire_chunk_layer_new(mp, o, err);
}
