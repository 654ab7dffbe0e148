/*
 * content-length: messages framed by header lines, a blank line and the
 * payload ("Content-Length: N\r\n\r\n" + N bytes), the base protocol of
 * the Language Server Protocol and of many JSON-RPC peers over pipes.
 *
 * Reading: the header is parsed a line at a time as its bytes arrive, so
 * a header cut anywhere by the reads gives the same result; only the line
 * being read is kept (the whole block is bounded by
 * WIRE_CONTENT_LENGTH_MAX_HEADER).  Lines end with "\r\n" (a bare "\n" is
 * accepted too, as HTTP recipients may); names are case-insensitive;
 * header fields other than Content-Length are ignored.  A length over the
 * limit fails the connection as soon as its line ends, before any payload.
 * A payload that lies whole inside one read is delivered in place; one
 * that spans reads is gathered in a buffer that grows with the bytes that
 * actually arrived, never to the announced length at once.
 *
 * Zero-copy receive: once the header is read and the rest of the payload
 * is large (a quarter of a read or more), the layer is a BufferedProtocol
 * to the transport below (cl_get_buffer), and the rest is read straight
 * into memory, never past the payload's end (what follows it is the next
 * header, or whatever comes after a hand-over, and stays below):
 *  - into the gather buffer, as lenprefix does, when the protocol above
 *    takes messages (data_received): it still gets the whole message in
 *    one call, from that buffer;
 *  - into the protocol above's own buffer when it is a BufferedProtocol
 *    only (get_buffer and buffer_updated, no data_received).  Such a
 *    protocol sees no message boundaries anyway (a message is copied into
 *    its buffers), so for it a payload goes up in pieces as its bytes
 *    arrive, by either path (`stream`), and the pieces read through its
 *    buffer are not copied at all.
 * A smaller rest is cheaper to copy than to read apart (a short read costs
 * a syscall), so it comes through recv as before.
 *
 * Writing: ops->frame puts "Content-Length: N\r\n\r\n" before each write's
 * payload (no copy of the payload).
 */
#include "framing_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CL_NAME "content-length"

enum cl_state { CL_HEADER, CL_PAYLOAD };

struct content_length {
    struct wire_layer l; /* first */
    uint64_t max;
    bool failed;
    enum cl_state state;
    /* the header line being read, and the header's progress */
    char line[WIRE_CONTENT_LENGTH_MAX_HEADER];
    size_t llen;
    size_t hbytes;       /* bytes of the current header block so far */
    bool have_length;
    uint64_t length;
    uint64_t line_start; /* stream offset of the current line */
    /* the payload */
    struct wire__gather g;
    bool stream;    /* this payload goes up in pieces (see the top) */
    void *upbuf;    /* the buffer above that cl_get_buffer offered last, or
                       NULL when it offered g's (or nothing) */
    struct wire__later trim; /* lets go of a large g between messages */
    uint64_t in;    /* stream offset of the next byte from below */
    uint64_t start; /* stream offset where the current message began */
};

static int cl_frame(struct wire_transport *t, const struct iovec *iov,
                    int iovcnt, size_t total, struct wire_frame *f);
static int cl_recv(struct wire_layer *l, const void *data, size_t len);
static void *cl_get_buffer(struct wire_layer *l, size_t hint, size_t *len);
static int cl_buffer_updated(struct wire_layer *l, size_t n);
static int cl_recv_eof(struct wire_layer *l);
static void cl_destroy(struct wire_layer *l);

static const struct wire_layer_ops content_length_ops = {
    .transport = WIRE_LAYER_FRAMING_OPS(CL_NAME, WIRE_CAP_HALF_CLOSE_IF_LOWER,
                                        cl_frame),
    .recv = cl_recv,
    .recv_eof = cl_recv_eof,
    .destroy = cl_destroy,
    .get_buffer = cl_get_buffer,
    .buffer_updated = cl_buffer_updated,
};

/* ---- writing ---- */

static int
cl_frame(struct wire_transport *t, const struct iovec *iov, int iovcnt,
         size_t total, struct wire_frame *f)
{
    (void)t;
    (void)iov;
    (void)iovcnt;
    int n = snprintf((char *)f->head, sizeof(f->head),
                     "Content-Length: %zu\r\n\r\n", total);
    if (n < 0 || (size_t)n >= sizeof(f->head))
        return WIRE_EMSGSIZE; /* 13 digits and more: not in this life */
    f->head_len = (size_t)n;
    return 0;
}

/* ---- reading ---- */

static int
cl_fail(struct content_length *p, int code, const char *fmt, ...)
    WIRE_PRINTF(3, 4);

static int
cl_fail(struct content_length *p, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->failed = true;
    wire_layer_fail(&p->l, code, CL_NAME ": %s", msg);
    return -1;
}

/* RFC 9110 token characters: what a field name is made of. */
static bool
is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The Content-Length value (`v`, `n` bytes, whitespace trimmed). */
static int
cl_value(struct content_length *p, const char *v, size_t n)
{
    if (p->have_length)
        return cl_fail(p, WIRE_EPROTO,
                       "a second Content-Length at stream offset %" PRIu64
                       " (header of the message at stream offset %" PRIu64 ")",
                       p->line_start, p->start);
    if (n == 0)
        return cl_fail(p, WIRE_EPROTO,
                       "empty Content-Length at stream offset %" PRIu64,
                       p->line_start);
    uint64_t x = 0;
    bool over = false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return cl_fail(p, WIRE_EPROTO,
                           "malformed Content-Length '%.*s' at stream offset "
                           "%" PRIu64,
                           (int)(n < 40 ? n : 40), v, p->line_start);
        if (!over) {
            if (x > (UINT64_MAX - 9) / 10)
                over = true;
            else
                x = x * 10 + (uint64_t)(v[i] - '0');
        }
    }
    if (over || x > p->max)
        return cl_fail(p, WIRE_EMSGSIZE,
                       "message at stream offset %" PRIu64 " announces %.*s%s "
                       "bytes, over the limit of %" PRIu64 " bytes",
                       p->start, (int)(n < 30 ? n : 30), v, n > 30 ? "..." : "",
                       p->max);
    p->have_length = true;
    p->length = x;
    return 0;
}

/* A whole header line (without its line ending). */
static int
cl_line(struct content_length *p, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != ':') {
        if (!is_tchar((unsigned char)s[i]))
            return cl_fail(p, WIRE_EPROTO,
                           "malformed header line at stream offset %" PRIu64
                           " (byte 0x%02x in the field name)",
                           p->line_start, (unsigned char)s[i]);
        i++;
    }
    if (i == n || i == 0)
        return cl_fail(p, WIRE_EPROTO,
                       "malformed header line at stream offset %" PRIu64 " (%s)",
                       p->line_start, i == 0 ? "no field name" : "no ':'");
    if (i != 14 || strncasecmp(s, "Content-Length", 14) != 0)
        return 0; /* another field (Content-Type...): ignored */
    const char *v = s + i + 1;
    size_t vn = n - i - 1;
    while (vn > 0 && (*v == ' ' || *v == '\t'))
        v++, vn--;
    while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
        vn--;
    return cl_value(p, v, vn);
}

static void
cl_next_header(struct content_length *p)
{
    p->state = CL_HEADER;
    p->llen = 0;
    p->hbytes = 0;
    p->have_length = false;
}

/* One message is complete. */
static int
cl_deliver(struct content_length *p, const void *data, size_t len)
{
    cl_next_header(p);
    return wire_layer_deliver(&p->l, data, len) < 0 ? -1 : 0;
}

/* Is the protocol above a BufferedProtocol only (no data_received)? */
static bool
cl_above_buffered(struct content_length *p)
{
    const struct wire_protocol *up = p->l.above.protocol;
    return up != NULL && up->ops->data_received == NULL &&
           up->ops->get_buffer != NULL && up->ops->buffer_updated != NULL;
}

/* The blank line ended the header. */
static int
cl_header_done(struct content_length *p)
{
    if (!p->have_length)
        return cl_fail(p, WIRE_EPROTO,
                       "the header of the message at stream offset %" PRIu64
                       " has no Content-Length",
                       p->start);
    p->state = CL_PAYLOAD;
    wire__gather_start(&p->g, p->length);
    if (p->g.need == 0)
        return cl_deliver(p, "", 0);
    return 0;
}

/* The payload's first bytes are here, and not all of it: choose how it
 * goes up, once, so that all its bytes go the same way.  (A payload
 * whole in one read goes up in place either way, without asking.) */
static void
cl_choose(struct content_length *p)
{
    p->stream = cl_above_buffered(p);
}

/* Stream mode: `n` bytes of the payload at `d` go up as they are (the
 * last ones end the message). */
static int
cl_piece(struct content_length *p, const char *d, size_t n)
{
    p->g.got += n;
    if (p->g.got == p->g.need)
        cl_next_header(p);
    return wire_layer_deliver(&p->l, d, n) < 0 ? -1 : 0;
}

/* Between messages: let go of a large gather buffer, on a later turn
 * (see struct wire__later), so a stream of large messages keeps it. */
static void
cl_trim_later(struct content_length *p)
{
    if (p->state == CL_HEADER && p->g.cap > 64 * 1024)
        wire__later_ask(&p->trim);
}

static void
cl_trim(struct wire_layer *l)
{
    struct content_length *p = (struct content_length *)(void *)l;
    if (p->state == CL_HEADER && p->hbytes == 0)
        wire__gather_trim(&p->g);
}

static int
cl_recv(struct wire_layer *l, const void *data, size_t len)
{
    struct content_length *p = (struct content_length *)(void *)l;
    const char *d = data;
    uint64_t base = p->in;
    p->in += len;
    p->upbuf = NULL; /* offered, but the read came here */
    size_t pos = 0;
    while (pos < len && !p->failed) {
        if (p->state == CL_PAYLOAD && p->g.got == 0) {
            size_t need = (size_t)p->g.need;
            if (need <= len - pos) { /* whole here: in place */
                pos += need;
                if (cl_deliver(p, d + pos - need, need) < 0)
                    return 0;
                continue;
            }
            cl_choose(p);
        }
        if (p->state == CL_PAYLOAD && p->stream) {
            size_t take = (size_t)(p->g.need - p->g.got);
            if (take > len - pos)
                take = len - pos;
            pos += take;
            if (cl_piece(p, d + pos - take, take) < 0)
                return 0;
            continue;
        }
        if (p->state == CL_PAYLOAD) {
            const char *msg;
            int rc = wire__gather_take(&p->g, d, len, &pos, &msg);
            if (rc < 0) {
                cl_fail(p, WIRE_ENOMEM, "out of memory");
                return 0;
            }
            if (rc > 0 && cl_deliver(p, msg, (size_t)p->g.need) < 0)
                return 0;
            continue;
        }
        /* The header, up to the end of the current line or of the read. */
        if (p->hbytes == 0)
            p->start = base + pos;
        if (p->llen == 0)
            p->line_start = base + pos;
        const char *nl = memchr(d + pos, '\n', len - pos);
        size_t take = nl != NULL ? (size_t)(nl - (d + pos)) + 1 : len - pos;
        if (take > WIRE_CONTENT_LENGTH_MAX_HEADER - p->hbytes) {
            cl_fail(p, WIRE_EPROTO,
                    "the header of the message at stream offset %" PRIu64
                    " is longer than %u bytes",
                    p->start, WIRE_CONTENT_LENGTH_MAX_HEADER);
            return 0;
        }
        memcpy(p->line + p->llen, d + pos, take);
        p->llen += take;
        p->hbytes += take;
        pos += take;
        if (nl == NULL)
            break; /* the line goes on in the next read */
        size_t n = p->llen - 1; /* without the '\n' */
        if (n > 0 && p->line[n - 1] == '\r')
            n--;
        p->llen = 0;
        if (n == 0) {
            if (cl_header_done(p) < 0)
                return 0;
        } else if (cl_line(p, p->line, n) < 0) {
            return 0;
        }
    }
    cl_trim_later(p);
    return 0;
}

/* The smallest read hint considered: a transport hinting less still
 * gets the rule below as for this. */
#define CL_HINT_MIN 4096

/*
 * Zero-copy receive (see the top): the rest of a payload, when it is at
 * least a quarter of the read the transport below would make, into the
 * protocol above's buffer (stream mode, while it reads and nothing is
 * held for it: those bytes must go up first) or into the gather buffer;
 * never more than the rest.  A BufferedProtocol above that gives no
 * buffer leaves the transport below its own (the loop's), for a read
 * that still stops at the payload's end and comes through recv.
 */
static void *
cl_get_buffer(struct wire_layer *l, size_t hint, size_t *len)
{
    struct content_length *p = (struct content_length *)(void *)l;
    p->upbuf = NULL;
    if (p->failed || p->state != CL_PAYLOAD)
        return NULL;
    if (hint < CL_HINT_MIN)
        hint = CL_HINT_MIN;
    uint64_t rest = p->g.need - p->g.got;
    if (rest < hint / 4)
        return NULL;
    if (p->g.got == 0)
        cl_choose(p);
    if (!p->stream)
        return wire__gather_room(&p->g, hint, 0, len);
    if (l->held != NULL || !wire_transport_is_reading(&l->above) ||
        !cl_above_buffered(p))
        return NULL; /* recv passes the pieces up (and holds them) */
    size_t room = 0;
    void *buf = wire_impl_read_buffer(&l->above, &room);
    /* Its get_buffer may have paused or closed: then nothing goes up. */
    if (buf == NULL || room == 0 || !wire_transport_is_reading(&l->above))
        return NULL;
    *len = rest < room ? (size_t)rest : room;
    p->upbuf = buf;
    return buf;
}

static int
cl_buffer_updated(struct wire_layer *l, size_t n)
{
    struct content_length *p = (struct content_length *)(void *)l;
    p->in += n;
    void *up = p->upbuf;
    p->upbuf = NULL;
    if (up != NULL) {
        /* Read into the buffer of the protocol above: it is its data. */
        p->g.got += n;
        if (p->g.got == p->g.need)
            cl_next_header(p);
        wire_impl_read_done(&l->above, up, n);
        return 0;
    }
    p->g.got += n;
    if (p->g.got == p->g.need)
        cl_deliver(p, p->g.buf, (size_t)p->g.need);
    cl_trim_later(p);
    return 0;
}

static int
cl_recv_eof(struct wire_layer *l)
{
    struct content_length *p = (struct content_length *)(void *)l;
    if (p->failed)
        return 0;
    if (p->state == CL_PAYLOAD) {
        cl_fail(p, WIRE_EINCOMPLETE,
                "input ended inside a message: %" PRIu64 " of %" PRIu64
                " bytes of the message at stream offset %" PRIu64,
                p->g.got, p->g.need, p->start);
        return 0;
    }
    if (p->hbytes > 0) {
        cl_fail(p, WIRE_EINCOMPLETE,
                "input ended inside the header of the message at stream "
                "offset %" PRIu64,
                p->start);
        return 0;
    }
    wire_layer_deliver_eof(l);
    return 0;
}

static void
cl_destroy(struct wire_layer *l)
{
    struct content_length *p = (struct content_length *)(void *)l;
    wire__gather_free(&p->g);
    free(p);
}

/* ---- construction ---- */

struct wire_protocol *
wire_content_length_layer_new(struct wire_protocol *upper, size_t max_len,
                              struct wire_error *err)
{
    if (max_len > SIZE_MAX / 2) {
        wire_error_set(err, WIRE_EINVAL,
                       CL_NAME ": the maximum length does not fit in memory");
        if (upper != NULL)
            wire_protocol_destroy(upper);
        return NULL;
    }
    struct content_length *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        wire_error_set(err, WIRE_ENOMEM, CL_NAME ": out of memory");
        if (upper != NULL)
            wire_protocol_destroy(upper);
        return NULL;
    }
    p->max = max_len ? max_len : WIRE_CONTENT_LENGTH_DEFAULT_MAX;
    cl_next_header(p);
    wire__later_init(&p->trim, &p->l, cl_trim);
    return wire_layer_init(&p->l, &content_length_ops, upper);
}
