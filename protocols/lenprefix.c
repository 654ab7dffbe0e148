/*
 * lenprefix: messages preceded by their length, as a binary prefix of 1,
 * 2, 4 or 8 bytes (either byte order, optionally counting itself) or as
 * a netstring ("5:hello,").
 *
 * Reading: a message that lies whole inside one read is delivered in place;
 * one that spans reads is gathered in a buffer that grows with the bytes
 * that actually arrived (never to the announced length at once), so a
 * peer announcing a large message and sending nothing costs nothing.  A
 * length over the maximum fails the connection as soon as it is known,
 * before any payload is read.
 *
 * Once the length is known and the rest of the payload is large (a
 * quarter of a read or more), the layer is a BufferedProtocol to the
 * transport below (lp_get_buffer): the rest is read straight into the
 * gather buffer, with no copy, no more than the payload's end, the
 * buffer still growing only with what arrived.  A smaller rest is cheaper
 * to copy than to read apart (a short read costs a syscall), so it comes
 * through recv as before.
 *
 * Writing: ops->frame puts the prefix before each write's payload.
 */
#include "framing_int.h"

#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum lp_state { LP_HEADER, LP_PAYLOAD, LP_COMMA };

struct lenprefix {
    struct wire_layer l; /* first */
    int kind;
    unsigned width;
    bool little_endian, counts_header;
    uint64_t max;
    bool failed;
    enum lp_state state;
    unsigned char hdr[24];
    size_t hlen;
    uint64_t nval;   /* netstring: the length read so far */
    struct wire__gather g; /* the payload of the current message */
    struct wire__later trim; /* lets go of a large g between messages */
    uint64_t in;     /* stream offset of the next byte from below */
    uint64_t start;  /* stream offset where the current message began */
    struct wire_layer_ops *own_ops;
    char *own_name;
};

static int lp_frame(struct wire_transport *t, const struct iovec *iov,
                    int iovcnt, size_t total, struct wire_frame *f);
static int lp_recv(struct wire_layer *l, const void *data, size_t len);
static void *lp_get_buffer(struct wire_layer *l, size_t hint, size_t *len);
static int lp_buffer_updated(struct wire_layer *l, size_t n);
static int lp_recv_eof(struct wire_layer *l);
static void lp_destroy(struct wire_layer *l);

#define LP_LAYER_OPS(lname)                                                   \
    {                                                                         \
        .transport = WIRE_LAYER_FRAMING_OPS(lname, WIRE_CAP_HALF_CLOSE_IF_LOWER, \
                                            lp_frame),                        \
        .recv = lp_recv, .recv_eof = lp_recv_eof, .destroy = lp_destroy,      \
        .get_buffer = lp_get_buffer, .buffer_updated = lp_buffer_updated,     \
    }

static const struct wire_layer_ops lenprefix_ops = LP_LAYER_OPS("lenprefix");
static const struct wire_layer_ops netstring_ops = LP_LAYER_OPS("netstring");

void
wire_lenprefix_opts_init(struct wire_lenprefix_opts *o, unsigned width,
                         bool little_endian)
{
    memset(o, 0, sizeof(*o));
    o->kind = WIRE_LENPREFIX_BINARY;
    o->width = width;
    o->little_endian = little_endian;
    o->max_len = WIRE_LENPREFIX_DEFAULT_MAX;
}

void
wire_netstring_opts_init(struct wire_lenprefix_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->kind = WIRE_LENPREFIX_NETSTRING;
    o->max_len = WIRE_LENPREFIX_DEFAULT_MAX;
}

static const char *
lp_name(const struct lenprefix *p)
{
    return p->l.lops->transport.name;
}

/* ---- writing ---- */

static int
lp_frame(struct wire_transport *t, const struct iovec *iov, int iovcnt,
         size_t total, struct wire_frame *f)
{
    struct lenprefix *p =
        (struct lenprefix *)(void *)wire_fr_container_of(t, struct wire_layer,
                                                         above);
    (void)iov;
    (void)iovcnt;
    if (p->kind == WIRE_LENPREFIX_NETSTRING) {
        int n = snprintf((char *)f->head, sizeof(f->head), "%zu:", total);
        f->head_len = (size_t)n;
        f->tail = ",";
        f->tail_len = 1;
        return 0;
    }
    uint64_t v = (uint64_t)total;
    if (p->counts_header) {
        if (v > UINT64_MAX - p->width)
            return WIRE_EMSGSIZE;
        v += p->width;
    }
    if (p->width < 8 && v >> (8 * p->width) != 0)
        return WIRE_EMSGSIZE; /* does not fit the prefix */
    for (unsigned i = 0; i < p->width; i++) {
        unsigned shift = p->little_endian ? 8 * i : 8 * (p->width - 1 - i);
        f->head[i] = (unsigned char)(v >> shift);
    }
    f->head_len = p->width;
    return 0;
}

/* ---- reading ---- */

static inline __attribute__((always_inline)) uint64_t
lp_decode(const unsigned char *h, unsigned width, bool little_endian)
{
    uint16_t v16;
    uint32_t v32;
    uint64_t v64;
    switch (width) {
    case 1:
        return h[0];
    case 2:
        memcpy(&v16, h, 2);
        return little_endian ? le16toh(v16) : be16toh(v16);
    case 4:
        memcpy(&v32, h, 4);
        return little_endian ? le32toh(v32) : be32toh(v32);
    default:
        memcpy(&v64, h, 8);
        return little_endian ? le64toh(v64) : be64toh(v64);
    }
}

static int
lp_fail(struct lenprefix *p, int code, const char *what, uint64_t a)
{
    p->failed = true;
    if (code == WIRE_EMSGSIZE && what != NULL) /* netstring, still reading digits */
        wire_layer_fail(&p->l, code,
                        "%s: message at stream offset %" PRIu64 " announces a "
                        "length of at least %" PRIu64 " bytes, over the limit "
                        "of %" PRIu64 " bytes",
                        lp_name(p), p->start, a, p->max);
    else if (code == WIRE_EMSGSIZE)
        wire_layer_fail(&p->l, code,
                        "%s: message at stream offset %" PRIu64 " announces %" PRIu64
                        " bytes, over the limit of %" PRIu64 " bytes",
                        lp_name(p), p->start, a, p->max);
    else
        wire_layer_fail(&p->l, code, "%s: %s (stream offset %" PRIu64 ")",
                        lp_name(p), what, a);
    return -1;
}

/* The length is known: check it and start the payload. */
static inline int
lp_length(struct lenprefix *p, uint64_t v)
{
    if (p->counts_header) {
        if (v < p->width) {
            p->failed = true;
            wire_layer_fail(&p->l, WIRE_EPROTO,
                            "%s: length %" PRIu64 " at stream offset %" PRIu64
                            " is smaller than its own %u-byte prefix",
                            lp_name(p), v, p->start, p->width);
            return -1;
        }
        v -= p->width;
    }
    if (v > p->max)
        return lp_fail(p, WIRE_EMSGSIZE, NULL, v);
    wire__gather_start(&p->g, v);
    p->hlen = 0;
    p->state = LP_PAYLOAD;
    return 0;
}

static inline int
lp_deliver(struct lenprefix *p, const void *data, size_t len)
{
    p->state = p->kind == WIRE_LENPREFIX_NETSTRING ? LP_COMMA : LP_HEADER;
    return wire_layer_deliver(&p->l, data, len) < 0 ? -1 : 0;
}

/*
 * The common case: whole messages, prefix and payload, inside this read,
 * delivered in place.  Instantiated per width and byte order (constant
 * arguments of an always-inlined function), so the loop holds no switch.
 * Returns where it stopped; anything unusual (a message cut by the read's
 * end, a length over the limit or under the prefix) is left to the state
 * machine.  `*stop`: nobody above wants more.
 */
static inline __attribute__((always_inline)) size_t
lp_fast(struct lenprefix *p, const unsigned char *d, size_t len, size_t pos,
        const unsigned w, const bool le, bool *stop)
{
    const uint64_t adj = p->counts_header ? w : 0;
    const uint64_t max = p->max;
    while (len - pos >= w) {
        uint64_t v = lp_decode(d + pos, w, le);
        if (v < adj)
            break;
        v -= adj;
        if (v > max || v > len - pos - w)
            break;
        pos += w;
        if (wire_layer_deliver(&p->l, d + pos, (size_t)v) < 0) {
            *stop = true;
            break;
        }
        pos += (size_t)v;
    }
    return pos;
}

static int
lp_recv(struct wire_layer *l, const void *data, size_t len)
{
    struct lenprefix *p = (struct lenprefix *)(void *)l;
    const unsigned char *d = data;
    uint64_t base = p->in;
    p->in += len;
    size_t pos = 0;
    while (pos < len && !p->failed) {
        if (p->kind == WIRE_LENPREFIX_BINARY && p->state == LP_HEADER &&
            p->hlen == 0) {
            /* Between messages: take the fast path for what follows
             * (also after the state machine finished a message that
             * began in an earlier read). */
            bool stop = false;
            switch (p->width * 2 + p->little_endian) {
            case 2: pos = lp_fast(p, d, len, pos, 1, false, &stop); break;
            case 3: pos = lp_fast(p, d, len, pos, 1, true, &stop); break;
            case 4: pos = lp_fast(p, d, len, pos, 2, false, &stop); break;
            case 5: pos = lp_fast(p, d, len, pos, 2, true, &stop); break;
            case 8: pos = lp_fast(p, d, len, pos, 4, false, &stop); break;
            case 9: pos = lp_fast(p, d, len, pos, 4, true, &stop); break;
            case 16: pos = lp_fast(p, d, len, pos, 8, false, &stop); break;
            default: pos = lp_fast(p, d, len, pos, 8, true, &stop); break;
            }
            if (stop)
                return 0;
            if (pos >= len)
                break;
        }
        switch (p->state) {
        case LP_HEADER:
            if (p->hlen == 0)
                p->start = base + pos;
            if (p->kind == WIRE_LENPREFIX_BINARY) {
                const unsigned char *h;
                if (p->hlen == 0 && len - pos >= p->width) {
                    h = d + pos; /* the whole prefix is here: read in place */
                    pos += p->width;
                } else {
                    size_t take = p->width - p->hlen;
                    if (take > len - pos)
                        take = len - pos;
                    memcpy(p->hdr + p->hlen, d + pos, take);
                    p->hlen += take;
                    pos += take;
                    if (p->hlen < p->width)
                        break;
                    h = p->hdr;
                }
                if (lp_length(p, lp_decode(h, p->width, p->little_endian)) < 0)
                    return 0;
                if (p->g.need <= len - pos) {
                    /* The whole payload is here too: deliver in place. */
                    size_t n = (size_t)p->g.need;
                    pos += n;
                    if (lp_deliver(p, d + pos - n, n) < 0)
                        return 0;
                }
                break;
            } else {
                unsigned char ch = d[pos];
                if (ch >= '0' && ch <= '9') {
                    if (p->hlen == 1 && p->nval == 0) {
                        lp_fail(p, WIRE_EPROTO,
                                "netstring length with a leading zero",
                                base + pos);
                        return 0;
                    }
                    /* Check before multiplying: with a limit near
                     * SIZE_MAX / 2, nval * 10 can pass 2^64 and wrap
                     * round to a small, accepted length. */
                    if (p->nval > (UINT64_MAX - 9) / 10) {
                        lp_fail(p, WIRE_EMSGSIZE, "digits", UINT64_MAX);
                        return 0;
                    }
                    p->nval = p->nval * 10 + (uint64_t)(ch - '0');
                    p->hlen++;
                    pos++;
                    if (p->nval > p->max) { /* absurd: fail before the ':' */
                        lp_fail(p, WIRE_EMSGSIZE, "digits", p->nval);
                        return 0;
                    }
                } else if (ch == ':' && p->hlen > 0) {
                    pos++;
                    uint64_t v = p->nval;
                    p->nval = 0;
                    if (lp_length(p, v) < 0)
                        return 0;
                } else {
                    char what[64];
                    snprintf(what, sizeof(what),
                             "netstring length expected, got byte 0x%02x", ch);
                    lp_fail(p, WIRE_EPROTO, what, base + pos);
                    return 0;
                }
            }
            if (p->state == LP_PAYLOAD && p->g.need == 0 && lp_deliver(p, "", 0) < 0)
                return 0;
            break;
        case LP_PAYLOAD: {
            const char *msg;
            int rc = wire__gather_take(&p->g, (const char *)d, len, &pos, &msg);
            if (rc < 0) {
                p->failed = true;
                wire_layer_fail(&p->l, WIRE_ENOMEM, "%s: out of memory", lp_name(p));
                return 0;
            }
            if (rc > 0 && lp_deliver(p, msg, (size_t)p->g.need) < 0)
                return 0;
            break;
        }
        case LP_COMMA:
            if (d[pos] != ',') {
                lp_fail(p, WIRE_EPROTO, "netstring payload not followed by ','",
                        base + pos);
                return 0;
            }
            pos++;
            p->state = LP_HEADER;
            break;
        }
    }
    /* Nothing held between messages: release a large buffer (later). */
    if (p->state == LP_HEADER && p->g.cap > 64 * 1024)
        wire__later_ask(&p->trim);
    return 0;
}

static void
lp_trim(struct wire_layer *l)
{
    struct lenprefix *p = (struct lenprefix *)(void *)l;
    if (p->state == LP_HEADER && p->hlen == 0)
        wire__gather_trim(&p->g);
}

/* The smallest read hint considered: a transport hinting less still
 * gets the rule below as for this. */
#define LP_HINT_MIN 4096

/* Zero-copy receive: the rest of a payload of known length, when it is
 * at least a quarter of the read the transport would make. */
static void *
lp_get_buffer(struct wire_layer *l, size_t hint, size_t *len)
{
    struct lenprefix *p = (struct lenprefix *)(void *)l;
    if (p->failed || p->state != LP_PAYLOAD)
        return NULL;
    if (hint < LP_HINT_MIN)
        hint = LP_HINT_MIN;
    if (p->g.need - p->g.got < hint / 4)
        return NULL;
    /* A netstring's ',' is part of the message: read with the payload's
     * end, so a protocol that closes after its last message leaves
     * nothing of it unread (a close with unread bytes is a reset). */
    return wire__gather_room(&p->g, hint,
                             p->kind == WIRE_LENPREFIX_NETSTRING ? 1 : 0, len);
}

static int
lp_buffer_updated(struct wire_layer *l, size_t n)
{
    struct lenprefix *p = (struct lenprefix *)(void *)l;
    p->in += n;
    size_t rest = (size_t)(p->g.need - p->g.got);
    bool comma = n > rest; /* the ',' came with it (lp_get_buffer) */
    p->g.got += comma ? rest : n;
    if (p->g.got < p->g.need)
        return 0;
    char after = comma ? p->g.buf[p->g.need] : 0;
    if (lp_deliver(p, p->g.buf, (size_t)p->g.need) < 0)
        return 0;
    if (comma && !p->failed) {
        if (after != ',') {
            lp_fail(p, WIRE_EPROTO, "netstring payload not followed by ','",
                    p->in - 1);
            return 0;
        }
        p->state = LP_HEADER;
    }
    /* Between messages: as at the end of lp_recv. */
    if (p->state == LP_HEADER && p->g.cap > 64 * 1024)
        wire__later_ask(&p->trim);
    return 0;
}

static int
lp_recv_eof(struct wire_layer *l)
{
    struct lenprefix *p = (struct lenprefix *)(void *)l;
    if (p->failed)
        return 0;
    if (p->state != LP_HEADER || p->hlen > 0) {
        p->failed = true;
        if (p->state == LP_PAYLOAD)
            wire_layer_fail(l, WIRE_EINCOMPLETE,
                            "%s: input ended inside a message: %" PRIu64
                            " of %" PRIu64 " bytes of the message at stream "
                            "offset %" PRIu64,
                            lp_name(p), p->g.got, p->g.need, p->start);
        else
            wire_layer_fail(l, WIRE_EINCOMPLETE,
                            "%s: input ended inside the %s of the message at "
                            "stream offset %" PRIu64,
                            lp_name(p),
                            p->state == LP_COMMA ? "trailing ','" : "length",
                            p->start);
        return 0;
    }
    wire_layer_deliver_eof(l);
    return 0;
}

static void
lp_destroy(struct wire_layer *l)
{
    struct lenprefix *p = (struct lenprefix *)(void *)l;
    wire__gather_free(&p->g);
    free(p->own_ops);
    free(p->own_name);
    free(p);
}

/* ---- construction ---- */

struct wire_protocol *
wire_lenprefix_layer_new(struct wire_protocol *upper,
                         const struct wire_lenprefix_opts *o,
                         struct wire_error *err)
{
    const char *why = NULL;
    if (o == NULL)
        why = "no options";
    else if (o->kind != WIRE_LENPREFIX_BINARY && o->kind != WIRE_LENPREFIX_NETSTRING)
        why = "unknown kind";
    else if (o->kind == WIRE_LENPREFIX_BINARY && o->width != 1 && o->width != 2 &&
             o->width != 4 && o->width != 8)
        why = "the prefix width must be 1, 2, 4 or 8 bytes";
    else if (o->max_len > SIZE_MAX / 2)
        why = "the maximum length does not fit in memory";
    if (why != NULL) {
        wire_error_set(err, WIRE_EINVAL, "lenprefix: %s", why);
        if (upper != NULL)
            wire_protocol_destroy(upper);
        return NULL;
    }
    struct lenprefix *p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto nomem;
    p->kind = o->kind;
    p->width = o->kind == WIRE_LENPREFIX_BINARY ? o->width : 0;
    p->little_endian = o->little_endian;
    p->counts_header = o->kind == WIRE_LENPREFIX_BINARY && o->counts_header;
    p->max = o->max_len ? o->max_len : WIRE_LENPREFIX_DEFAULT_MAX;
    const struct wire_layer_ops *ops =
        o->kind == WIRE_LENPREFIX_NETSTRING ? &netstring_ops : &lenprefix_ops;
    if (o->name != NULL && strcmp(o->name, ops->transport.name) != 0) {
        p->own_ops = malloc(sizeof(*p->own_ops));
        p->own_name = strdup(o->name);
        if (p->own_ops == NULL || p->own_name == NULL) {
            free(p->own_ops);
            free(p->own_name);
            free(p);
            goto nomem;
        }
        *p->own_ops = *ops;
        p->own_ops->transport.name = p->own_name;
        ops = p->own_ops;
    }
    wire__later_init(&p->trim, &p->l, lp_trim);
    return wire_layer_init(&p->l, ops, upper);
nomem:
    wire_error_set(err, WIRE_ENOMEM, "lenprefix: out of memory");
    if (upper != NULL)
        wire_protocol_destroy(upper);
    return NULL;
}

struct wire_protocol *
wire_lenprefix_protocol_new(const struct wire_lenprefix_opts *o,
                            const struct wire_message_handler *h, void *arg,
                            struct wire_error *err)
{
    if (h == NULL || h->message == NULL) {
        wire_error_set(err, WIRE_EINVAL,
                       "lenprefix: the handler has no message callback");
        if (h != NULL && h->destroy != NULL)
            h->destroy(arg);
        return NULL;
    }
    struct wire_protocol *mp = wire__message_proto_new(h, arg);
    if (mp == NULL) {
        wire_error_set(err, WIRE_ENOMEM, "lenprefix: out of memory");
        return NULL;
    }
    return wire_lenprefix_layer_new(mp, o, err);
}
