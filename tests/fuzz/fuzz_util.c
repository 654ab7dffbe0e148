/*
 * The fuzz targets' shared helpers (see fuzz.h): reading the input,
 * buffers, and the driver that feeds a string transport following the
 * input's schedule.
 */
#include "fuzz.h"

#include <wire/fault.h>
#include <wire/string_transport.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fuzz invariant violated: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(stderr);
    abort();
}

/* ---- input ---- */

uint8_t
fuzz_in_byte(struct fuzz_in *in)
{
    if (in->n == 0)
        return 0;
    uint8_t b = in->p[0];
    in->p++;
    in->n--;
    return b;
}

struct fuzz_in
fuzz_in_take(struct fuzz_in *in, size_t max)
{
    struct fuzz_in s = {in->p, in->n < max ? in->n : max};
    in->p += s.n;
    in->n -= s.n;
    return s;
}

struct fuzz_in
fuzz_in_section(struct fuzz_in *in)
{
    size_t n = fuzz_in_byte(in);
    return fuzz_in_take(in, n);
}

/* ---- buffers ---- */

static void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        fuzz_fail("out of memory (%zu bytes)", n);
    return q;
}

void
fuzz_buf_add(struct fuzz_buf *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + len)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->p + b->len, data, len);
    b->len += len;
}

void
fuzz_buf_free(struct fuzz_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

void
fuzz_msgs_add(struct fuzz_msgs *m, const void *data, size_t len)
{
    if (m->n + 2 > m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->off = xrealloc(m->off, m->cap * sizeof(*m->off));
    }
    if (m->n == 0)
        m->off[0] = 0;
    fuzz_buf_add(&m->data, data, len);
    m->n++;
    m->off[m->n] = m->data.len;
}

const uint8_t *
fuzz_msgs_get(const struct fuzz_msgs *m, size_t i, size_t *len)
{
    if (i >= m->n)
        fuzz_fail("message %zu of %zu", i, m->n);
    *len = m->off[i + 1] - m->off[i];
    return m->data.p != NULL ? m->data.p + m->off[i] : (const uint8_t *)"";
}

void
fuzz_msgs_free(struct fuzz_msgs *m)
{
    fuzz_buf_free(&m->data);
    free(m->off);
    memset(m, 0, sizeof(*m));
}

struct fuzz_in
fuzz_expand(struct fuzz_in in, struct fuzz_buf *out)
{
    uint8_t run[256];
    for (size_t i = 0; i < in.n; i++) {
        if (in.p[i] != 0xfe || i + 2 >= in.n) {
            fuzz_buf_add(out, in.p + i, 1);
            continue;
        }
        size_t times = (size_t)in.p[i + 1] + 1;
        memset(run, in.p[i + 2], sizeof(run));
        for (size_t k = 0; k < times && out->len < 1024 * 1024; k++)
            fuzz_buf_add(out, run, sizeof(run));
        i += 2;
    }
    static const uint8_t none[1];
    struct fuzz_in r = {out->len > 0 ? out->p : none, out->len};
    return r;
}

struct wire_protocol *
fuzz_read_path(struct wire_protocol *p, unsigned cfg, struct fuzz_in *in,
               struct fuzz_buf *long_stream)
{
    if (cfg & 0x10) {
        struct wire_error err = {0};
        p = wire_fault_layer_new(p, NULL, &err);
        FUZZ_CHECK(p != NULL, "fault layer refused: %s", err.message);
    }
    if (cfg & 0x20)
        *in = fuzz_expand(*in, long_stream);
    return p;
}

size_t
fuzz_read_unit(unsigned cfg)
{
    return cfg & 0x20 ? 1024 : 1;
}

/* ---- the driver ---- */

void
fuzz_drive_init(struct fuzz_drive *d, struct wire_transport *t,
                struct fuzz_in sched, struct fuzz_in data,
                fuzz_action_cb action, void *arg)
{
    memset(d, 0, sizeof(*d));
    d->t = t;
    d->sched = sched;
    d->data = data;
    d->stream = data.p;
    d->unit = 1;
    d->action = action;
    d->arg = arg;
}

static void
feed(struct fuzz_drive *d, size_t len)
{
    if (d->refused || d->data.n == 0)
        return;
    len *= d->unit;
    if (len == 0 || len > d->data.n)
        len = d->data.n;
    /* Counted before the call: the protocol sees the bytes inside it. */
    d->fed += len;
    int rc = wire_string_transport_feed(d->t, d->data.p, len);
    if (rc != 0) {
        /* Only a closing or failed connection refuses input. */
        FUZZ_CHECK(rc == WIRE_ECLOSED, "feed returned %s", wire_err_name(rc));
        d->fed -= len;
        d->refused = true;
        return;
    }
    d->data.p += len;
    d->data.n -= len;
}

void
fuzz_drive_uncap(struct fuzz_drive *d)
{
    if (d->capped) {
        d->capped = false;
        wire_string_transport_set_capacity(d->t, SIZE_MAX);
    }
}

void
fuzz_step_all(struct wire_transport *t)
{
    /* One step runs until quiet (bounded inside); a few more catch work
     * queued by the last item of a bounded run. */
    for (int i = 0; i < 8 && wire_string_transport_step(t) > 0; i++)
        ;
}

bool
fuzz_drive_step(struct fuzz_drive *d)
{
    if (d->sched.n == 0) {
        feed(d, 0);
        return false;
    }
    uint8_t s = fuzz_in_byte(&d->sched);
    unsigned arg = s & 0x3f;
    switch (s >> 6) {
    case 0:
        feed(d, arg);
        break;
    case 1:
        feed(d, arg);
        wire_string_transport_step(d->t);
        break;
    case 2:
        if (d->action != NULL)
            d->action(d->arg, arg);
        break;
    default:
        if (d->capped) {
            fuzz_drive_uncap(d);
        } else {
            d->capped = true;
            wire_string_transport_set_capacity(d->t, arg);
        }
        break;
    }
    return true;
}

void
fuzz_drive_run(struct fuzz_drive *d)
{
    while (fuzz_drive_step(d))
        ;
}

bool
fuzz_drive_end(struct fuzz_drive *d, unsigned how)
{
    bool eof = false;
    wire_string_transport_step(d->t);
    switch (how & 3) {
    case FUZZ_END_OPEN:
        break;
    case FUZZ_END_RESET:
        wire_string_transport_feed_error(d->t, -ECONNRESET,
                                         "connection reset by the fuzzer");
        break;
    default:
        eof = wire_string_transport_feed_eof(d->t) == 0;
        break;
    }
    fuzz_drive_uncap(d);
    fuzz_step_all(d->t);
    return eof;
}

/* ---- small helpers ---- */

char *
fuzz_strndup(const void *p, size_t n, char repl)
{
    char *s = xrealloc(NULL, n + 1);
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    if (repl != 0)
        for (size_t i = 0; i < n; i++)
            if (s[i] == '\0')
                s[i] = repl;
    return s;
}

void
fuzz_hexdump(const char *label, const void *p, size_t n)
{
    const uint8_t *b = p;
    fprintf(stderr, "%s (%zu bytes):", label, n);
    for (size_t i = 0; i < n && i < 4096; i++)
        fprintf(stderr, "%s%02x", i % 32 ? " " : "\n  ", b[i]);
    fprintf(stderr, "\n");
}

bool
fuzz_memeq(const void *a, const void *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

const uint8_t *
fuzz_memmem(const uint8_t *h, size_t hn, const uint8_t *nd, size_t nn)
{
    if (nn == 0)
        return h;
    if (nn > hn)
        return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == nd[0] && memcmp(h + i, nd, nn) == 0)
            return h + i;
    return NULL;
}

/* ---- the recording protocol ---- */

static void
rec_made(struct fuzz_rec *r, struct wire_transport *t)
{
    FUZZ_CHECK(r->made == 0 && r->lost == 0 && r->destroyed == 0,
               "connection_made twice or after connection_lost");
    r->made++;
    r->t = t;
    if (r->on_made != NULL)
        r->on_made(r);
}

static void
rec_message(struct fuzz_rec *r, const void *data, size_t len)
{
    FUZZ_CHECK(r->made == 1, "a message before connection_made");
    FUZZ_CHECK(r->eofs == 0, "a message after eof_received");
    FUZZ_CHECK(r->lost == 0, "a message after connection_lost");
    FUZZ_CHECK(len == 0 || data != NULL, "a message with no data");
    fuzz_msgs_add(&r->msgs, data, len);
    if (r->on_message != NULL)
        r->on_message(r, data, len);
}

static bool
rec_eof(struct fuzz_rec *r)
{
    FUZZ_CHECK(r->made == 1 && r->eofs == 0 && r->lost == 0,
               "eof_received out of order");
    r->eofs++;
    return r->eof_keep_open;
}

static void
rec_lost(struct fuzz_rec *r, const struct wire_error *err)
{
    FUZZ_CHECK(r->made == 1 && r->lost == 0,
               "connection_lost without connection_made, or twice");
    r->lost++;
    r->t = NULL;
    r->lost_code = err != NULL ? err->code : 0;
    if (err != NULL) {
        FUZZ_CHECK(err->code < 0 && err->message != NULL,
                   "connection_lost with error code %d and message %s",
                   err->code, err->message ? err->message : "(null)");
        snprintf(r->lost_msg, sizeof(r->lost_msg), "%s", err->message);
    }
}

static void
rec_destroy(struct fuzz_rec *r)
{
    FUZZ_CHECK(r->destroyed == 0, "destroyed twice");
    FUZZ_CHECK(r->lost == r->made, "destroyed before connection_lost");
    r->destroyed++;
}

static struct fuzz_rec *
rec_of(struct wire_protocol *p)
{
    return (struct fuzz_rec *)(void *)p;
}

static void
rp_made(struct wire_protocol *p, struct wire_transport *t)
{
    rec_made(rec_of(p), t);
}

static void
rp_data(struct wire_protocol *p, const void *data, size_t len)
{
    rec_message(rec_of(p), data, len);
}

static bool
rp_eof(struct wire_protocol *p)
{
    return rec_eof(rec_of(p));
}

static void
rp_lost(struct wire_protocol *p, const struct wire_error *err)
{
    rec_lost(rec_of(p), err);
}

static void
rp_destroy(struct wire_protocol *p)
{
    rec_destroy(rec_of(p));
}

static const struct wire_protocol_ops rec_ops = {
    .connection_made = rp_made,
    .data_received = rp_data,
    .eof_received = rp_eof,
    .connection_lost = rp_lost,
    .destroy = rp_destroy,
};

void
fuzz_rec_init(struct fuzz_rec *r)
{
    memset(r, 0, sizeof(*r));
    wire_protocol_init(&r->base, &rec_ops);
}

void
fuzz_rec_free(struct fuzz_rec *r)
{
    fuzz_msgs_free(&r->msgs);
}

static void
rh_open(void *arg, struct wire_transport *t)
{
    rec_made(arg, t);
}

static void
rh_message(void *arg, struct wire_transport *t, const void *data, size_t len)
{
    struct fuzz_rec *r = arg;
    FUZZ_CHECK(t == r->t, "a message on another transport");
    rec_message(r, data, len);
}

static bool
rh_eof(void *arg, struct wire_transport *t)
{
    struct fuzz_rec *r = arg;
    FUZZ_CHECK(t == r->t, "eof on another transport");
    return rec_eof(r);
}

static void
rh_closed(void *arg, const struct wire_error *err)
{
    rec_lost(arg, err);
}

static void
rh_destroy(void *arg)
{
    rec_destroy(arg);
}

const struct wire_message_handler fuzz_rec_handler = {
    .open = rh_open,
    .message = rh_message,
    .eof = rh_eof,
    .closed = rh_closed,
    .destroy = rh_destroy,
};

/* ---- HTTP responses ---- */

struct hp {
    const uint8_t *d;
    size_t n;
    int (*is_head)(void *, size_t);
    void *arg;
    struct fuzz_http_resps *out;
    int budget; /* ambiguous readings left to try */
};

static bool
is_tchar(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static bool
ieq(const uint8_t *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t x = a[i], y = (uint8_t)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (uint8_t)(x - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

/* Does the comma-separated list [v, v+n) hold the token `tok`? */
static bool
has_token(const uint8_t *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (ieq(v + s, e - s, tok))
            return true;
    }
    return false;
}

/* The end of the line starting at `pos` (the index of its "\r\n"), or
 * SIZE_MAX when the input ends first. */
static size_t
line_end(const struct hp *h, size_t pos)
{
    const uint8_t *e = fuzz_memmem(h->d + pos, h->n - pos,
                                   (const uint8_t *)"\r\n", 2);
    return e != NULL ? (size_t)(e - h->d) : SIZE_MAX;
}

static void
resp_pop(struct fuzz_http_resps *o, size_t n)
{
    while (o->n > n)
        fuzz_buf_free(&o->r[--o->n].body);
}

enum { HP_OK = 0, HP_TRUNC = 1 };

/* Read the body of `r` at *pos; "truncated" when the input ends first. */
static const char *
read_body(struct hp *h, struct fuzz_http_resp *r, size_t *pos, int *state)
{
    size_t p = *pos;
    if (r->chunked) {
        for (;;) {
            size_t le = line_end(h, p);
            if (le == SIZE_MAX) {
                *state = HP_TRUNC;
                return NULL;
            }
            uint64_t size = 0;
            size_t i = p, digits = 0;
            for (; i < le; i++, digits++) {
                uint8_t c = h->d[i];
                int v = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
                if (v < 0)
                    break;
                if (size >> 60)
                    return "chunk size overflows";
                size = size * 16 + (uint64_t)v;
            }
            if (digits == 0 || (i < le && h->d[i] != ';'))
                return "bad chunk size line";
            p = le + 2;
            if (size == 0) {
                /* Trailers, then the empty line. */
                for (;;) {
                    le = line_end(h, p);
                    if (le == SIZE_MAX) {
                        *state = HP_TRUNC;
                        return NULL;
                    }
                    if (le == p)
                        break;
                    p = le + 2;
                }
                *pos = p + 2;
                return NULL;
            }
            if (h->n - p < size + 2) {
                *state = HP_TRUNC;
                return NULL;
            }
            fuzz_buf_add(&r->body, h->d + p, (size_t)size);
            p += (size_t)size;
            if (h->d[p] != '\r' || h->d[p + 1] != '\n')
                return "chunk data not followed by CRLF";
            p += 2;
        }
    }
    if (r->has_len) {
        if (h->n - p < r->clen) {
            *state = HP_TRUNC;
            return NULL;
        }
        fuzz_buf_add(&r->body, h->d + p, (size_t)r->clen);
        *pos = p + (size_t)r->clen;
        return NULL;
    }
    r->to_eof = true;
    fuzz_buf_add(&r->body, h->d + p, h->n - p);
    *pos = h->n;
    return NULL;
}

static const char *parse_from(struct hp *h, size_t pos);

/* Read one response head at `pos` into `r`; *end is past its blank line. */
static const char *
read_head(struct hp *h, size_t pos, struct fuzz_http_resp *r, size_t *end,
          int *state)
{
    size_t le = line_end(h, pos);
    if (le == SIZE_MAX) {
        *state = HP_TRUNC;
        return NULL;
    }
    const uint8_t *l = h->d + pos;
    size_t ll = le - pos;
    if (ll < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '1' ||
        l[8] != ' ' || l[9] < '1' || l[9] > '9' || l[10] < '0' ||
        l[10] > '9' || l[11] < '0' || l[11] > '9' || (ll > 12 && l[12] != ' '))
        return "bad status line";
    for (size_t i = 0; i < ll; i++)
        if (l[i] == '\r' || l[i] == '\n' || l[i] == 0)
            return "CR, LF or NUL in the status line";
    r->minor = l[7] - '0';
    r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    size_t p = le + 2;
    bool has_te = false;
    for (;;) {
        le = line_end(h, p);
        if (le == SIZE_MAX) {
            *state = HP_TRUNC;
            return NULL;
        }
        if (le == p)
            break;
        const uint8_t *hl = h->d + p;
        size_t hn = le - p, c = 0;
        while (c < hn && is_tchar(hl[c]))
            c++;
        if (c == 0 || c == hn || hl[c] != ':')
            return "bad header line";
        for (size_t i = 0; i < hn; i++)
            if (hl[i] == '\r' || hl[i] == '\n' || hl[i] == 0)
                return "CR, LF or NUL in a header line";
        const uint8_t *v = hl + c + 1;
        size_t vn = hn - c - 1;
        while (vn > 0 && (v[0] == ' ' || v[0] == '\t')) {
            v++;
            vn--;
        }
        while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
            vn--;
        if (ieq(hl, c, "content-length")) {
            if (r->has_len || vn == 0 || vn > 18)
                return "bad or repeated Content-Length";
            uint64_t x = 0;
            for (size_t i = 0; i < vn; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return "bad Content-Length";
                x = x * 10 + (uint64_t)(v[i] - '0');
            }
            r->has_len = true;
            r->clen = x;
        } else if (ieq(hl, c, "transfer-encoding")) {
            if (has_te || !ieq(v, vn, "chunked"))
                return "a Transfer-Encoding other than one chunked";
            has_te = true;
        } else if (ieq(hl, c, "connection")) {
            if (has_token(v, vn, "close"))
                r->close = true;
        } else if (ieq(hl, c, "content-type")) {
            size_t k = vn < sizeof(r->ctype) - 1 ? vn : sizeof(r->ctype) - 1;
            memcpy(r->ctype, v, k);
            r->ctype[k] = '\0';
        }
        p = le + 2;
    }
    if (has_te && r->has_len)
        return "both Content-Length and Transfer-Encoding";
    r->chunked = has_te;
    *end = p + 2;
    return NULL;
}

static const char *
parse_from(struct hp *h, size_t pos)
{
    struct fuzz_http_resps *o = h->out;
    while (pos < h->n) {
        if (o->n > 0 && o->r[o->n - 1].close)
            return "bytes after a response with Connection: close";
        struct fuzz_http_resp r;
        memset(&r, 0, sizeof(r));
        size_t p = 0;
        int state = HP_OK;
        const char *why = read_head(h, pos, &r, &p, &state);
        if (why != NULL)
            return why;
        if (state == HP_TRUNC) {
            o->truncated = true;
            return NULL;
        }
        if (r.status == 101) {
            o->upgraded = true;
            o->raw_off = p;
            return NULL;
        }
        if (r.status < 200) {
            if (r.has_len || r.chunked)
                return "a 1xx response with a body";
            o->interim++;
            pos = p;
            continue;
        }
        int head = h->is_head != NULL ? h->is_head(h->arg, o->n) : 0;
        bool bodiless = r.status == 204 || r.status == 304;
        if (o->n == o->cap) {
            o->cap = o->cap ? 2 * o->cap : 8;
            o->r = xrealloc(o->r, o->cap * sizeof(*o->r));
        }
        if (head == 1 || bodiless) {
            o->r[o->n++] = r;
            pos = p;
            continue;
        }
        if (head < 0 && (r.has_len || r.chunked) && h->budget > 0) {
            /* Unknown: try the reading with a body first, and the one
             * without if the rest does not parse then. */
            h->budget--;
            size_t keep = o->n;
            struct fuzz_http_resps saved = *o;
            size_t q = p;
            struct fuzz_http_resp rb = r;
            why = read_body(h, &rb, &q, &state);
            if (why == NULL) {
                o->r[o->n++] = rb;
                if (state == HP_TRUNC) {
                    o->truncated = true;
                    return NULL;
                }
                why = parse_from(h, q);
                if (why == NULL)
                    return NULL;
                resp_pop(o, keep);
            } else {
                fuzz_buf_free(&rb.body);
            }
            o->interim = saved.interim;
            o->truncated = saved.truncated;
            o->upgraded = saved.upgraded;
            o->raw_off = saved.raw_off;
            if (o->n == o->cap) {
                o->cap = 2 * o->cap;
                o->r = xrealloc(o->r, o->cap * sizeof(*o->r));
            }
            memset(&r.body, 0, sizeof(r.body));
            o->r[o->n++] = r;
            pos = p;
            continue;
        }
        if (head < 0 && (r.has_len || r.chunked))
            o->gave_up = true;
        why = read_body(h, &r, &p, &state);
        o->r[o->n++] = r;
        if (why != NULL)
            return why;
        if (state == HP_TRUNC) {
            o->truncated = true;
            return NULL;
        }
        pos = p;
    }
    o->complete = true;
    return NULL;
}

const char *
fuzz_http_parse(const uint8_t *d, size_t n, int (*is_head)(void *, size_t),
                void *arg, struct fuzz_http_resps *out)
{
    memset(out, 0, sizeof(*out));
    struct hp h = {d, n, is_head, arg, out, 64};
    if (n == 0) {
        out->complete = true;
        return NULL;
    }
    return parse_from(&h, 0);
}

void
fuzz_http_resps_free(struct fuzz_http_resps *out)
{
    resp_pop(out, 0);
    free(out->r);
    memset(out, 0, sizeof(*out));
}
