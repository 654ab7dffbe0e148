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
    uint64_t in;    /* stream offset of the next byte from below */
    uint64_t start; /* stream offset where the current message began */
};

static int cl_frame(struct wire_transport *t, const struct iovec *iov,
                    int iovcnt, size_t total, struct wire_frame *f);
static int cl_recv(struct wire_layer *l, const void *data, size_t len);
static int cl_recv_eof(struct wire_layer *l);
static void cl_destroy(struct wire_layer *l);

static const struct wire_layer_ops content_length_ops = {
    .transport = WIRE_LAYER_FRAMING_OPS(CL_NAME, WIRE_CAP_HALF_CLOSE_IF_LOWER,
                                        cl_frame),
    .recv = cl_recv,
    .recv_eof = cl_recv_eof,
    .destroy = cl_destroy,
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

static int
cl_recv(struct wire_layer *l, const void *data, size_t len)
{
    struct content_length *p = (struct content_length *)(void *)l;
    const char *d = data;
    uint64_t base = p->in;
    p->in += len;
    size_t pos = 0;
    while (pos < len && !p->failed) {
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
    /* Nothing held between messages: release a large buffer. */
    if (p->state == CL_HEADER)
        wire__gather_trim(&p->g);
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
    return wire_layer_init(&p->l, &content_length_ops, upper);
}
