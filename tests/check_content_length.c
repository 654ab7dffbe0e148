/*
 * The Content-Length layer (<wire/framing.h>, the LSP base protocol):
 * sans-I/O over the string transport, every input fed whole, byte by byte,
 * cut at every position and in random pieces (framing.h).  Writes framed to
 * the byte; other header fields ignored and names case-insensitive; every
 * malformed header, a duplicate or missing length, a header over the bound
 * and a length over the limit fail with their code and the stream offset;
 * the end of input inside a header or a payload; empty payloads; a message
 * far larger than one read.  The rest of a large payload is read straight
 * into the layer's buffer, or into the buffer of a BufferedProtocol above
 * (get_buffer), never past the payload's end, with the same outcome as
 * through data_received: cut at every byte, paused, ended early, handed
 * over, over the string transport and over a socket.
 */
#include "framing.h"

#include <wire/fault.h>
#include <wire/pipe.h>

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(test_cl_basic)
{
    fr_rand_reset("cl_basic");
    static const struct split_case cases[] = {
        {IN("Content-Length: 5\r\n\r\nhello"), CLEAN("hello|"), NRANDOM},
        {IN("Content-Length: 5\r\n\r\nhelloContent-Length: 0\r\n\r\n"
            "Content-Length: 3\r\n\r\n{|}"),
         CLEAN("hello||{\\x7c}|"), NRANDOM},
        /* No message at all. */
        {IN(""), CLEAN(""), 0},
        /* A payload that looks like a header. */
        {IN("Content-Length: 21\r\n\r\nContent-Length: 0\r\n\r\n"),
         CLEAN("Content-Length: 0\\x0d\\x0a\\x0d\\x0a|"), NRANDOM},
    };
    struct stack_cfg c = cl_cfg(0);
    RUN_CASES(&c, cases);
}
END_TEST

START_TEST(test_cl_headers)
{
    fr_rand_reset("cl_headers");
    static const struct split_case cases[] = {
        /* Other fields ignored, before and after; any case. */
        {IN("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
            "content-length: 2\r\n\r\nhi"
            "CONTENT-LENGTH:3\r\nX-Other:\r\n\r\nabc"
            "cOnTeNt-LeNgTh: \t 1 \t\r\n\r\nz"),
         CLEAN("hi|abc|z|"), NRANDOM},
        /* Bare "\n" line endings, and leading zeros. */
        {IN("Content-Length: 004\n\nabcd" "Content-Length: 1\r\n\nx"),
         CLEAN("abcd|x|"), NRANDOM},
    };
    struct stack_cfg c = cl_cfg(0);
    RUN_CASES(&c, cases);
}
END_TEST

START_TEST(test_cl_malformed)
{
    fr_rand_reset("cl_malformed");
    static const struct split_case cases[] = {
        {IN("Content-Length: 2\r\n\r\nokContent-Length: 1x\r\n\r\nz"),
         FAILS("ok|", WIRE_EPROTO,
               "content-length: malformed Content-Length '1x' at stream "
               "offset 23",
               true),
         NRANDOM},
        {IN("Content-Length: -1\r\n\r\n"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed Content-Length '-1' at stream "
               "offset 0",
               true),
         NRANDOM},
        {IN("Content-Length: \r\n\r\n"),
         FAILS("", WIRE_EPROTO,
               "content-length: empty Content-Length at stream offset 0", true),
         NRANDOM},
        {IN("Content-Length: 1 2\r\n\r\nab"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed Content-Length '1 2' at stream "
               "offset 0",
               true),
         NRANDOM},
        {IN("Content-Type: x\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nz"),
         FAILS("", WIRE_EPROTO,
               "content-length: a second Content-Length at stream offset 36 "
               "(header of the message at stream offset 0)",
               true),
         NRANDOM},
        {IN("Content-Length: 1\r\n\r\nzContent-Type: x\r\n\r\n"),
         FAILS("z|", WIRE_EPROTO,
               "content-length: the header of the message at stream offset "
               "22 has no Content-Length",
               true),
         NRANDOM},
        /* A blank line where a header should start. */
        {IN("\r\nContent-Length: 1\r\n\r\nz"),
         FAILS("", WIRE_EPROTO,
               "content-length: the header of the message at stream offset "
               "0 has no Content-Length",
               true),
         NRANDOM},
        {IN("Content-Length 5\r\n\r\nhello"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed header line at stream offset 0 "
               "(byte 0x20 in the field name)",
               true),
         NRANDOM},
        {IN("Content-Length: 1\r\nbogus\r\n\r\nz"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed header line at stream offset 19 "
               "(no ':')",
               true),
         NRANDOM},
        {IN("Content-Length: 1\r\n: x\r\n\r\nz"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed header line at stream offset 19 "
               "(no field name)",
               true),
         NRANDOM},
        /* An obsolete folded line. */
        {IN("Content-Length: 1\r\n x\r\n\r\nz"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed header line at stream offset 19 "
               "(byte 0x20 in the field name)",
               true),
         NRANDOM},
        /* JSON where a header should be (a peer speaking lines). */
        {IN("{\"jsonrpc\":\"2.0\"}\n"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed header line at stream offset 0 "
               "(byte 0x7b in the field name)",
               true),
         NRANDOM},
    };
    struct stack_cfg c = cl_cfg(0);
    RUN_CASES(&c, cases);
}
END_TEST

START_TEST(test_cl_limits)
{
    fr_rand_reset("cl_limits");
    static const struct split_case cases[] = {
        {IN("Content-Length: 5\r\n\r\n12345"), CLEAN("12345|"), NRANDOM},
        /* Over the limit: fails when the line ends, before the payload
         * and even before the blank line. */
        {IN("Content-Length: 5\r\n\r\n12345Content-Length: 6\r\n"),
         FAILS("12345|", WIRE_EMSGSIZE,
               "content-length: message at stream offset 26 announces 6 "
               "bytes, over the limit of 5 bytes",
               false),
         NRANDOM},
        {IN("Content-Length: 99999999999999999999999999\r\n\r\n"),
         FAILS("", WIRE_EMSGSIZE,
               "content-length: message at stream offset 0 announces "
               "99999999999999999999999999 bytes, over the limit of 5 bytes",
               true),
         NRANDOM},
        {IN("Content-Length: 1234567890123456789012345678901234567890\r\n"),
         FAILS("", WIRE_EMSGSIZE,
               "content-length: message at stream offset 0 announces "
               "123456789012345678901234567890... bytes, over the limit of "
               "5 bytes",
               false),
         NRANDOM},
    };
    struct stack_cfg c = cl_cfg(5);
    RUN_CASES(&c, cases);
}
END_TEST

START_TEST(test_cl_header_bound)
{
    fr_rand_reset("cl_header_bound");
    /* A header of exactly the bound is fine; one byte more fails, at the
     * byte that passes it (also when no line ever ends). */
    size_t max = WIRE_CONTENT_LENGTH_MAX_HEADER;
    char *in = malloc(max + 64);
    ck_assert_ptr_nonnull(in);
    const char *head = "Content-Length: 1\r\nX: ";
    size_t hl = strlen(head);
    size_t fill = max - hl - 4; /* "\r\n\r\n" ends it */
    memcpy(in, head, hl);
    memset(in + hl, 'v', fill);
    memcpy(in + hl + fill, "\r\n\r\nz", 5);
    struct expect ok = CLEAN("z|");
    struct stack_cfg c = cl_cfg(0);
    run_all_splits(&c, in, max + 1, &ok, 8);
    memcpy(in + hl, "vv", 2);
    memset(in + hl, 'v', fill + 1);
    memcpy(in + hl + fill + 1, "\r\n\r\nz", 5);
    char msg[200];
    snprintf(msg, sizeof(msg),
             "content-length: the header of the message at stream offset 0 "
             "is longer than %zu bytes",
             max);
    struct expect bad = FAILS("", WIRE_EPROTO, msg, true);
    bad.msg = msg;
    run_split(&c, in, max + 2, NULL, 0, &bad, "whole");
    size_t cut = max - 1;
    run_split(&c, in, max + 2, &cut, 1, &bad, "cut");
    /* One endless line. */
    memset(in, 'C', max + 10);
    struct expect endless = FAILS("", WIRE_EPROTO, msg, false);
    endless.msg = msg;
    run_split(&c, in, max + 10, NULL, 0, &endless, "endless line");
    free(in);
}
END_TEST

START_TEST(test_cl_eof_inside)
{
    fr_rand_reset("cl_eof_inside");
    static const struct split_case cases[] = {
        {IN("Content-Length: 2\r\n\r\nokContent-Len"),
         FAILS("ok|", WIRE_EINCOMPLETE,
               "content-length: input ended inside the header of the "
               "message at stream offset 23",
               true),
         NRANDOM},
        {IN("Content-Length: 5\r\n\r\n"),
         FAILS("", WIRE_EINCOMPLETE,
               "content-length: input ended inside a message: 0 of 5 bytes "
               "of the message at stream offset 0",
               true),
         NRANDOM},
        {IN("Content-Length: 5\r\n\r\nabc"),
         FAILS("", WIRE_EINCOMPLETE,
               "content-length: input ended inside a message: 3 of 5 bytes "
               "of the message at stream offset 0",
               true),
         NRANDOM},
        {IN("Content-Length: 5\r\n\r"),
         FAILS("", WIRE_EINCOMPLETE,
               "content-length: input ended inside the header of the "
               "message at stream offset 0",
               true),
         NRANDOM},
    };
    struct stack_cfg c = cl_cfg(0);
    RUN_CASES(&c, cases);
}
END_TEST

START_TEST(test_cl_write)
{
    struct stack_cfg c = cl_cfg(0);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_str_eq(wire_transport_name(log.t), "content-length");
    ck_assert_int_eq(wire_transport_write(log.t, "hello", 5), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
    struct iovec iov[3] = {{"ab", 2}, {NULL, 0}, {"c", 1}};
    ck_assert_int_eq(wire_transport_write_sequence(log.t, iov, 3), 0);
    ref_frees = 0;
    ck_assert_int_eq(wire_transport_write_ref(log.t, "xyz", 3, count_free,
                                              &ref_frees), 0);
    ck_assert_int_eq(ref_frees, 1);
    ck_assert_str_eq(unit_output(st),
                     "Content-Length: 5\r\n\r\nhello"
                     "Content-Length: 0\r\n\r\n"
                     "Content-Length: 3\r\n\r\nabc"
                     "Content-Length: 3\r\n\r\nxyz");
    stack_free(st, &log);
}
END_TEST

/* What is written reads back as the same messages, whatever the split,
 * including a message far larger than one read. */
START_TEST(test_cl_roundtrip)
{
    fr_rand_reset("cl_roundtrip");
    size_t big = 300 * 1000;
    char *b = malloc(big);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < big; i++)
        b[i] = (char)('a' + i % 26);
    struct stack_cfg c = cl_cfg(big);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_transport_write(log.t, "{}", 2), 0);
    ck_assert_int_eq(wire_transport_write(log.t, b, big), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
    /* A large write goes down in pieces, the rest on later turns. */
    while (wire_string_transport_step(st) > 0)
        ;
    size_t olen = 0;
    const void *out = wire_string_transport_output(st, &olen);
    ck_assert_uint_eq(olen, 21 + 2 + 26 + big + 21);
    char *copy = malloc(olen);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, out, olen);
    stack_free(st, &log);

    for (int r = 0; r < 6; r++) {
        struct rec_log l2 = {0};
        struct wire_transport *s2 = stack_new(&c, &l2);
        size_t piece = r == 0 ? olen : (size_t)1 << (2 * r + 2);
        ck_assert_int_eq(wire_string_transport_feed_split(s2, copy, olen, piece),
                         0);
        ck_assert_uint_eq(l2.nlens, 3);
        ck_assert_uint_eq(l2.lens[0], 2);
        ck_assert_uint_eq(l2.lens[1], big);
        ck_assert_uint_eq(l2.lens[2], 0);
        ck_assert_int_eq(memcmp(l2.in + 2, b, big), 0);
        stack_free(s2, &l2);
    }
    /* One byte over the limit: refused as soon as the header says so. */
    struct stack_cfg small = cl_cfg(big - 1);
    struct rec_log l3 = {0};
    struct wire_transport *s3 = stack_new(&small, &l3);
    wire_string_transport_feed(s3, copy, 60);
    wire_string_transport_step(s3);
    ck_assert_int_eq(l3.lost_code, WIRE_EMSGSIZE);
    ck_assert_str_eq(rec_escaped(&l3), "{}|");
    stack_free(s3, &l3);
    free(copy);
    free(b);
}
END_TEST

START_TEST(test_cl_bad_args)
{
    struct wire_error err = {0};
    struct rec_log log = {0};
    struct wire_protocol *up = rec_new(&log);
    struct wire_protocol *p = wire_content_length_layer_new(up, SIZE_MAX, &err);
    assert_einval(p, &err,
                  "content-length: the maximum length does not fit in memory");
    ck_assert_int_eq(log.destroyed, 1); /* owned, also on error */
    rec_log_free(&log);
}
END_TEST

/* ---- zero-copy receive (get_buffer) ---- */

/* Append a message of `len` payload bytes fr_byte(seed + i) to the input
 * and the expected marks; returns the payload's offset in the input. */
static size_t
add_cl_msg(struct fr_bufs *b, size_t len, size_t seed)
{
    b->n += (size_t)sprintf((char *)b->in + b->n, "Content-Length: %zu\r\n\r\n",
                            len);
    size_t at = b->n;
    fr_bufs_add(b, len, seed);
    return at;
}

/* The payloads of the marks `want`, one after the other (malloc'd, their
 * count in `*n`): what a protocol above that sees no message boundaries
 * gets (fr_byte is never '|'). */
static char *
bodies_new(const char *want, size_t *n)
{
    char *out = malloc(strlen(want) + 1);
    ck_assert_ptr_nonnull(out);
    *n = 0;
    for (; *want != '\0'; want++)
        if (*want != '|')
            out[(*n)++] = *want;
    return out;
}

/*
 * A BufferedProtocol only (get_buffer and buffer_updated, no
 * data_received), as asyncio's: it records every byte it gets, and tells
 * the pieces read straight into its buffer by the transport below (the
 * layer's buffer_updated brought them: fr_paths.updates moved since its
 * get_buffer) from those the core copied into it (a message delivered
 * whole).  Made with no buffer size, it takes messages (data_received
 * only) instead, and counts them: a lighter recorder than rec's for the
 * runs that cut a large input at every byte.  The test owns it;
 * `destroyed` counts the layer's destroy.
 */
struct bo {
    struct wire_protocol base;
    struct wire_transport *t;
    char *buf;
    size_t bufsize;
    char *got;
    size_t n, cap;
    unsigned long direct, copied; /* buffer_updated calls of each kind */
    uint64_t direct_bytes;
    unsigned long snap; /* fr_paths.updates at the last get_buffer */
    size_t pause_at;    /* pause once in the first direct piece that brings
                           `n` to at least this (0: never) */
    bool paused;
    size_t nmsgs, lens[8]; /* messages: how many, the first ones' lengths */
    int eof, lost, destroyed;
    bool lost_null;
    int lost_code;
    char lost_msg[300];
};

static void
bo_made(struct wire_protocol *p, struct wire_transport *t)
{
    ((struct bo *)p)->t = t;
}

static void *
bo_get_buffer(struct wire_protocol *p, size_t hint, size_t *len)
{
    struct bo *b = (struct bo *)p;
    /* Checks that pass write nothing (this runs for every piece of the
     * many runs of the split tests). */
    if (hint == 0)
        ck_abort_msg("get_buffer with a hint of 0");
    b->snap = fr_paths.updates;
    /* Poisoned, so that a byte reported but not read shows. */
    memset(b->buf, '#', b->bufsize < 64 ? b->bufsize : 64);
    *len = b->bufsize;
    return b->buf;
}

static void
bo_updated(struct wire_protocol *p, size_t n)
{
    struct bo *b = (struct bo *)p;
    if (n == 0 || n > b->bufsize || b->eof != 0)
        ck_abort_msg("buffer_updated(%zu) of a buffer of %zu, after %d EOF",
                     n, b->bufsize, b->eof);
    unit_append(&b->got, &b->n, &b->cap, b->buf, n);
    if (fr_paths.updates != b->snap) {
        if (fr_paths.last_buf != b->buf)
            ck_abort_msg("a read into a buffer it did not give");
        b->direct++;
        b->direct_bytes += n;
        if (b->pause_at != 0 && !b->paused && b->n >= b->pause_at) {
            b->paused = true;
            ck_assert_int_eq(wire_transport_pause_reading(b->t), 0);
        }
    } else {
        b->copied++;
    }
}

static void
bo_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct bo *b = (struct bo *)p;
    if (b->eof != 0)
        ck_abort_msg("a message after EOF");
    unit_append(&b->got, &b->n, &b->cap, data, len);
    if (b->nmsgs < sizeof(b->lens) / sizeof(b->lens[0]))
        b->lens[b->nmsgs] = len;
    b->nmsgs++;
}

static bool
bo_eof(struct wire_protocol *p)
{
    ((struct bo *)p)->eof++;
    return false;
}

static void
bo_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct bo *b = (struct bo *)p;
    b->lost++;
    b->lost_null = err == NULL;
    b->lost_code = err != NULL ? err->code : 0;
    snprintf(b->lost_msg, sizeof(b->lost_msg), "%s",
             err != NULL && err->message != NULL ? err->message : "");
    b->t = NULL;
}

static void
bo_destroy(struct wire_protocol *p)
{
    ((struct bo *)p)->destroyed++;
}

static const struct wire_protocol_ops bo_ops = {
    .connection_made = bo_made,
    .eof_received = bo_eof,
    .connection_lost = bo_lost,
    .get_buffer = bo_get_buffer,
    .buffer_updated = bo_updated,
    .destroy = bo_destroy,
};

static const struct wire_protocol_ops bo_msg_ops = {
    .connection_made = bo_made,
    .data_received = bo_data,
    .eof_received = bo_eof,
    .connection_lost = bo_lost,
    .destroy = bo_destroy,
};

/* `bufsize` 0: a protocol that takes messages. */
static void
bo_init(struct bo *b, size_t bufsize)
{
    memset(b, 0, sizeof(*b));
    wire_protocol_init(&b->base, bufsize > 0 ? &bo_ops : &bo_msg_ops);
    b->bufsize = bufsize;
    if (bufsize > 0 && (b->buf = malloc(bufsize)) == NULL)
        ck_abort_msg("out of memory");
}

static void
bo_free(struct bo *b)
{
    if (b->destroyed != 1)
        ck_abort_msg("destroyed %d times", b->destroyed);
    free(b->buf);
    free(b->got);
}

/* `b` got exactly the `n` bytes at `bytes`. */
static void
bo_got(const struct bo *b, const char *bytes, size_t n)
{
    ck_assert_uint_eq(b->n, n);
    ck_assert_int_eq(memcmp(b->got, bytes, n), 0);
}

/* Feed EOF to the string transport `st` under `b`: a clean end; then
 * free both. */
static void
bo_end_clean(struct wire_transport *st, struct bo *b)
{
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert(b->eof == 1 && b->lost_null);
    wire_string_transport_free(st);
    bo_free(b);
}

/* `upper` under a content-length layer (spied on: fr_paths) on a string
 * transport, with a fault layer with every fault off in between for
 * PATH_DATA (reads then come as data_received only). */
static struct wire_transport *
cl_stack(struct wire_protocol *upper, size_t max, int path)
{
    struct wire_error err = {0};
    struct wire_protocol *p = wire_content_length_layer_new(upper, max, &err);
    if (p == NULL)
        ck_abort_msg("%s", err.message);
    fr_spy_on(p);
    if (path == PATH_DATA && (p = wire_fault_layer_new(p, NULL, &err)) == NULL)
        ck_abort_msg("%s", err.message);
    struct wire_transport *st = wire_string_transport_new(p);
    if (st == NULL)
        ck_abort_msg("out of memory");
    return st;
}

/* What a protocol above must get from one input, whatever the split:
 * these bytes (and, taking messages, these `nmsgs` of `lens`), then a
 * clean end after EOF, or the failure `code` with the text `msg`. */
struct bo_expect {
    const char *bytes;
    size_t n;
    int code;
    const char *msg;
    size_t nmsgs;
    const size_t *lens;
};

/* Totals over the runs since they were last cleared. */
static unsigned long bo_direct_total, bo_copied_total;

/* Feed `in` cut at `cuts` (ascending), then EOF, to a BufferedProtocol
 * (buffers of `bufsize` bytes; 0: a protocol that takes messages) over
 * the layer, the way `path` says. */
static void
bo_run_split(const char *in, size_t len, const size_t *cuts, size_t ncuts,
             const struct bo_expect *e, size_t bufsize, const char *what,
             int path)
{
    char ctx[200];
    snprintf(ctx, sizeof(ctx), "%s, %s, buffers of %zu", what,
             path == PATH_DATA ? "data_received" : "get_buffer", bufsize);
    struct bo b;
    bo_init(&b, bufsize);
    unsigned long updates = fr_paths.updates;
    struct wire_transport *st = cl_stack(&b.base, 0, path);
    size_t prev = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (end > prev && wire_string_transport_feed(st, in + prev, end - prev) != 0)
            ck_abort_msg("%s: feed at %zu refused", ctx, prev);
        prev = end;
    }
    if (wire_string_transport_feed_eof(st) != 0)
        ck_abort_msg("%s: EOF refused", ctx);
    wire_string_transport_step(st);
    if (b.n != e->n || memcmp(b.got, e->bytes, e->n) != 0)
        ck_abort_msg("%s: got %zu bytes, expected %zu", ctx, b.n, e->n);
    if (b.lost != 1)
        ck_abort_msg("%s: lost %d times", ctx, b.lost);
    if (bufsize == 0 && (b.nmsgs != e->nmsgs ||
                         memcmp(b.lens, e->lens, e->nmsgs * sizeof(*e->lens)) != 0))
        ck_abort_msg("%s: %zu messages, expected %zu, or of other lengths",
                     ctx, b.nmsgs, e->nmsgs);
    if (e->code == 0 && !(b.eof == 1 && b.lost_null))
        ck_abort_msg("%s: no clean end (%s)", ctx, b.lost_msg);
    if (e->code != 0 && (b.eof != 0 || b.lost_code != e->code ||
                         strcmp(b.lost_msg, e->msg) != 0))
        ck_abort_msg("%s: lost with %s '%s', expected %s '%s'", ctx,
                     wire_err_name(b.lost_code), b.lost_msg,
                     wire_err_name(e->code), e->msg);
    if (path == PATH_DATA && (fr_paths.updates != updates || b.direct != 0))
        ck_abort_msg("%s: a read came through get_buffer", ctx);
    bo_direct_total += b.direct;
    bo_copied_total += b.copied;
    wire_string_transport_free(st);
    bo_free(&b);
}

/* Whole, byte by byte and cut in two at every position, both ways. */
static void
bo_run_all(const char *in, size_t len, const struct bo_expect *e,
           size_t bufsize)
{
    size_t *cuts = malloc(len * sizeof(*cuts));
    ck_assert_ptr_nonnull(cuts);
    for (size_t i = 1; i < len; i++)
        cuts[i - 1] = i;
    for (int path = PATH_BUFFERED; path <= PATH_DATA; path++) {
        bo_run_split(in, len, NULL, 0, e, bufsize, "whole", path);
        bo_run_split(in, len, cuts, len - 1, e, bufsize, "byte by byte", path);
        for (size_t i = 1; i < len; i++) {
            char what[40];
            snprintf(what, sizeof(what), "cut at %zu", i);
            bo_run_split(in, len, &i, 1, e, bufsize, what, path);
        }
    }
    free(cuts);
}

/* A payload larger than a quarter of the string transport's read (64
 * KiB), so that its rest comes through the buffered path, then small and
 * empty messages; cut at every byte, then cut short inside the payload
 * and ended: the same messages and the same error text as through
 * data_received, for a protocol above that takes messages and for one
 * that is a BufferedProtocol only; and the buffers were used (the layer's
 * own, the BufferedProtocol's). */
START_TEST(test_cl_buffered_every_split)
{
    fr_rand_reset("cl_buffered_every_split");
    struct fr_bufs b = fr_bufs_new(18000);
    size_t big = add_cl_msg(&b, 17000, 0);
    add_cl_msg(&b, 3, 1);
    add_cl_msg(&b, 0, 2);
    size_t nbytes;
    char *bytes = bodies_new(b.want, &nbytes);
    static const size_t lens[] = {17000, 3, 0};
    struct bo_expect be = {bytes, nbytes, 0, NULL, 3, lens};
    /* Messages, then a BufferedProtocol. */
    fr_paths_reset();
    bo_run_all((const char *)b.in, b.n, &be, 0);
    ck_assert_uint_gt(fr_paths.offered, 1000);
    ck_assert_uint_gt(fr_paths.bytes, 500 * 16384);
    bo_direct_total = bo_copied_total = 0;
    bo_run_all((const char *)b.in, b.n, &be, 65536);
    ck_assert_uint_gt(bo_direct_total, 1000);
    ck_assert_uint_gt(bo_copied_total, 1000);
    /* The same (and random splits) with rec's every check, cut every
     * byte near where the format changes state and every 97 elsewhere. */
    struct stack_cfg c = cl_cfg(0);
    struct expect e = CLEAN(b.want);
    size_t marks[] = {big, big + 17000, b.n};
    run_long_splits(&c, b.in, b.n, marks, 3, 8, 97, &e, 16);

    /* Cut short 100 bytes before the payload's end, then EOF. */
    const char *msg = "content-length: input ended inside a message: 16900 "
                      "of 17000 bytes of the message at stream offset 0";
    struct expect eof = FAILS("", WIRE_EINCOMPLETE, msg, true);
    fr_paths_reset();
    run_all_splits(&c, b.in, big + 16900, &eof, 8);
    ck_assert_uint_gt(fr_paths.bytes, 500 * 16384);
    /* The BufferedProtocol had the bytes that came, before the error. */
    struct bo_expect beof = {bytes, 16900, WIRE_EINCOMPLETE, msg, 0, NULL};
    bo_direct_total = 0;
    bo_run_all((const char *)b.in, big + 16900, &beof, 4096);
    ck_assert_uint_gt(bo_direct_total, 1000);
    free(bytes);
    fr_bufs_free(&b);
}
END_TEST

/* The rest of a payload is read straight into the layer's buffer and
 * the message goes up from there (a protocol above that takes
 * messages), or straight into the buffer of a BufferedProtocol above:
 * up as soon as its last byte is read, and never reading further than
 * the payload's end: the next messages in the same feed come after it
 * through recv, unchanged. */
START_TEST(test_cl_buffered_in_place_and_tail)
{
    size_t len = 50000;
    struct fr_bufs b = fr_bufs_new(2 * len + 200);
    size_t at1 = add_cl_msg(&b, len, 0), end1 = b.n;
    size_t at2 = add_cl_msg(&b, len, 1), tail = b.n;
    add_cl_msg(&b, 5, 2);
    add_cl_msg(&b, 2, 3);
    size_t cut = b.n - 12; /* inside the last header */
    size_t nbytes;
    char *bytes = bodies_new(b.want, &nbytes);
    /* Feeds: a header and 100 bytes; the rest of that payload alone;
     * the next header and 100 bytes; the rest with what follows it, up
     * to `cut`; the end. */
    const size_t feeds[] = {at1 + 100, end1, at2 + 100, cut, b.n};

    /* A protocol above that takes messages. */
    struct stack_cfg c = cl_cfg(0);
    struct rec_log log = {.on_data = fr_note_data};
    struct wire_transport *st = stack_new(&c, &log);
    fr_paths_reset();
    for (size_t i = 0, prev = 0; i < 5; prev = feeds[i++]) {
        ck_assert_int_eq(wire_string_transport_feed(st, b.in + prev,
                                                    feeds[i] - prev), 0);
        if (i == 0) {
            ck_assert_uint_eq(fr_paths.recv_reads, 1);
            ck_assert_uint_eq(fr_paths.offered, 0);
        } else if (i == 1) {
            ck_assert_uint_eq(log.nlens, 1); /* at once */
            ck_assert_uint_eq(fr_paths.bytes, len - 100);
            ck_assert_uint_eq(fr_paths.recv_reads, 1);
            /* Delivered from the buffer the rest was read into. */
            ck_assert_ptr_eq(fr_first_data + 100, fr_paths.last_buf);
            fr_paths_reset();
        } else if (i == 3) {
            ck_assert_uint_eq(log.nlens, 3);
            ck_assert_uint_eq(fr_paths.bytes, len - 100); /* not a byte more */
            ck_assert_uint_eq(fr_paths.recv_reads, 2);
            ck_assert_uint_eq(fr_paths.recv_bytes, at2 + 100 - end1 + cut - tail);
        }
    }
    ck_assert_str_eq(rec_escaped(&log), b.want);
    fr_end_clean(st, &log);

    /* A BufferedProtocol above: the first 100 bytes of each payload are
     * copied into its buffer, the rest is read into it. */
    struct bo bo;
    bo_init(&bo, 65536);
    st = cl_stack(&bo.base, 0, PATH_BUFFERED);
    fr_paths_reset();
    for (size_t i = 0, prev = 0; i < 5; prev = feeds[i++]) {
        ck_assert_int_eq(wire_string_transport_feed(st, b.in + prev,
                                                    feeds[i] - prev), 0);
        if (i == 0) {
            ck_assert_uint_eq(bo.copied, 1);
            ck_assert_uint_eq(bo.n, 100);
        } else if (i == 1) {
            ck_assert_uint_eq(bo.direct, 1);
            ck_assert_uint_eq(bo.n, len);
        } else if (i == 3) {
            ck_assert_uint_eq(bo.direct, 2);
            ck_assert_uint_eq(bo.direct_bytes, 2 * (len - 100));
            ck_assert_uint_eq(fr_paths.bytes, 2 * (len - 100));
            ck_assert_uint_eq(fr_paths.recv_bytes,
                              at1 + 100 + at2 + 100 - end1 + cut - tail);
            ck_assert_uint_eq(bo.copied, 3); /* and "..|" of 5 bytes */
            ck_assert_uint_eq(bo.n, 2 * len + 5);
        }
    }
    bo_got(&bo, bytes, nbytes);
    bo_end_clean(st, &bo);

    /* The input ends right after a payload read through the buffer: the
     * message is whole, so the end is clean, either way. */
    struct rec_log l2 = {0};
    st = stack_new(&c, &l2);
    ck_assert_int_eq(wire_string_transport_feed(st, b.in, at1 + 100), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, b.in + at1 + 100,
                                                end1 - at1 - 100), 0);
    ck_assert_uint_eq(l2.nlens, 1);
    fr_end_clean(st, &l2);
    bo_init(&bo, 65536);
    st = cl_stack(&bo.base, 0, PATH_BUFFERED);
    ck_assert_int_eq(wire_string_transport_feed(st, b.in, at1 + 100), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, b.in + at1 + 100,
                                                end1 - at1 - 100), 0);
    ck_assert_uint_eq(bo.direct, 1);
    bo_got(&bo, bytes, len);
    bo_end_clean(st, &bo);
    free(bytes);
    fr_bufs_free(&b);
}
END_TEST

/* Reading paused in the middle of a payload: nothing more is read until
 * the resume, then the rest comes through the buffer.  A protocol above
 * that takes messages is paused from outside a callback (it has seen
 * nothing of the payload yet); a BufferedProtocol pauses in the first
 * piece read into its buffer. */
START_TEST(test_cl_buffered_pause)
{
    size_t len = 40000;
    struct fr_bufs b = fr_bufs_new(len + 100);
    size_t at = add_cl_msg(&b, len, 0);
    add_cl_msg(&b, 3, 1);
    size_t nbytes;
    char *bytes = bodies_new(b.want, &nbytes);

    struct stack_cfg c = cl_cfg(0);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_string_transport_feed(st, b.in, at + 100), 0);
    ck_assert_int_eq(wire_transport_pause_reading(log.t), 0);
    fr_paths_reset();
    ck_assert_int_eq(wire_string_transport_feed(st, b.in + at + 100,
                                                b.n - at - 100), 0);
    wire_string_transport_step(st);
    ck_assert_uint_eq(log.nlens, 0);
    ck_assert_uint_eq(fr_paths.asked, 0); /* nothing read while paused */
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_escaped(&log), b.want);
    ck_assert_uint_eq(fr_paths.bytes, len - 100);
    fr_end_clean(st, &log);

    struct bo bo;
    bo_init(&bo, 8192);
    bo.pause_at = 100 + 1;
    st = cl_stack(&bo.base, 0, PATH_BUFFERED);
    fr_paths_reset();
    ck_assert_int_eq(wire_string_transport_feed(st, b.in, at + 100), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, b.in + at + 100,
                                                b.n - at - 100), 0);
    wire_string_transport_step(st);
    ck_assert(bo.paused);
    ck_assert_uint_eq(bo.direct, 1);
    ck_assert_uint_eq(bo.n, 100 + 8192);
    ck_assert_uint_eq(fr_paths.updates, 1);
    ck_assert(!wire_transport_is_reading(bo.t));
    ck_assert_int_eq(wire_transport_resume_reading(bo.t), 0);
    wire_string_transport_step(st);
    bo_got(&bo, bytes, nbytes);
    ck_assert_uint_gt(bo.direct, 1); /* after the resume too */
    ck_assert_uint_eq(fr_paths.bytes, bo.direct_bytes);
    bo_end_clean(st, &bo);
    free(bytes);
    fr_bufs_free(&b);
}
END_TEST

/* The protocol above hands its transport over, in a message, to a
 * BufferedProtocol: the large payload after it goes straight into the
 * new protocol's buffer (the way is chosen per message, by the protocol
 * above when its header ends). */
static struct wire_protocol *cl_next, *cl_returned;

static void
cl_switch_on_go(struct rec_log *log, struct wire_transport *t,
                const void *data, size_t len)
{
    (void)log;
    if (len == 2 && memcmp(data, "go", 2) == 0) {
        struct wire_error err = {0};
        cl_returned = wire_transport_set_protocol(t, cl_next, NULL, 0, &err);
        ck_assert_msg(cl_returned != NULL, "%s", err.message);
    }
}

START_TEST(test_cl_buffered_handover)
{
    struct fr_bufs b = fr_bufs_new(50000);
    add_cl_msg(&b, 2, 0);
    memcpy(b.in + b.n - 2, "go", 2);
    memcpy(b.want, "go", 2);
    add_cl_msg(&b, 40000, 1);
    add_cl_msg(&b, 1, 2);
    size_t nbytes;
    char *bytes = bodies_new(b.want + 3, &nbytes); /* after "go|" */
    struct bo bo;
    bo_init(&bo, 65536);
    cl_next = &bo.base;
    cl_returned = NULL;
    struct rec_log log = {.on_data = cl_switch_on_go};
    struct stack_cfg c = cl_cfg(0);
    struct wire_transport *st = stack_new(&c, &log);
    fr_paths_reset();
    ck_assert_int_eq(wire_string_transport_feed_split(st, b.in, b.n, 1000), 0);
    wire_string_transport_step(st);
    ck_assert_ptr_nonnull(cl_returned);
    ck_assert_str_eq(rec_escaped(&log), "go|");
    bo_got(&bo, bytes, nbytes);
    ck_assert_uint_gt(bo.direct_bytes, 20000);
    ck_assert_uint_eq(fr_paths.bytes, bo.direct_bytes);
    bo_end_clean(st, &bo);
    ck_assert_int_eq(log.lost, 0); /* detached, never lost */
    wire_protocol_destroy(cl_returned);
    ck_assert_int_eq(log.destroyed, 1);
    rec_log_free(&log);
    free(bytes);
    fr_bufs_free(&b);
}
END_TEST

/* ---- over a socket ---- */

static struct wire_loop *cl_loop;

static bool
bo_done(void *arg)
{
    return ((struct bo *)arg)->lost > 0;
}

static bool
bo_paused(void *arg)
{
    return ((struct bo *)arg)->paused || ((struct bo *)arg)->lost > 0;
}

/* A socketpair read by the fd transport (recv(2)-sized reads into the
 * buffer it is offered): the layer (spied on: fr_paths) with `upper`
 * above on one end; on the other a recorder logging into `w`, which
 * writes `in` in one write and closes. */
static void
cl_sock_start(struct wire_protocol *upper, const void *in, size_t len,
              struct rec_log *w)
{
    memset(w, 0, sizeof(*w));
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct wire_error err = {0};
    struct wire_protocol *p = wire_content_length_layer_new(upper, 0, &err);
    ck_assert_msg(p != NULL, "%s", err.message);
    fr_spy_on(p);
    ck_assert_msg(wire_pipe_open(cl_loop, sv[0], sv[0], p, NULL, NULL, &err) == 0,
                  "%s", err.message);
    ck_assert_msg(wire_pipe_open(cl_loop, sv[1], sv[1], rec_new(w), NULL, NULL,
                                 &err) == 0, "%s", err.message);
    ck_assert(unit_run_until(cl_loop, log_made, w, 10000));
    ck_assert_int_eq(wire_transport_write(w->t, in, len), 0);
    wire_transport_close(w->t);
}

/* Both ends are gone and nothing is left on the loop. */
static void
cl_sock_end(struct rec_log *w)
{
    ck_assert(unit_run_until(cl_loop, log_lost, w, 10000));
    static const volatile bool never = false;
    ck_assert_int_eq(wire_loop_run_until(cl_loop, &never, 10000), 1);
    rec_log_free(w);
}

/* Over a socket: a 256 KiB payload between small ones, to a protocol
 * above that takes messages and to a BufferedProtocol, which also pauses
 * in the middle of the payload once; the same cut short by the end of
 * input.  Each time the buffers were read into, and the messages after
 * the payload arrive unchanged. */
START_TEST(test_cl_buffered_socket)
{
    cl_loop = wire_loop_new();
    ck_assert_ptr_nonnull(cl_loop);
    size_t len = 256 * 1024;
    struct fr_bufs b = fr_bufs_new(len + 200);
    add_cl_msg(&b, 7, 0);
    size_t start = b.n;
    size_t at = add_cl_msg(&b, len, 1);
    add_cl_msg(&b, 0, 2);
    add_cl_msg(&b, 5, 3);
    size_t nbytes;
    char *bytes = bodies_new(b.want, &nbytes);

    struct rec_log log = {.messages = true}, w;
    fr_paths_reset();
    cl_sock_start(rec_new(&log), b.in, b.n, &w);
    ck_assert(unit_run_until(cl_loop, log_lost, &log, 10000));
    cl_sock_end(&w);
    ck_assert_str_eq(rec_escaped(&log), b.want);
    ck_assert(log.eof == 1 && log.lost_null);
    ck_assert_uint_gt(fr_paths.bytes, len / 2);
    rec_log_free(&log);

    for (int pause = 0; pause < 2; pause++) {
        struct bo bo;
        bo_init(&bo, 65536);
        bo.pause_at = pause ? 1 : 0; /* in the first piece read into it */
        fr_paths_reset();
        cl_sock_start(&bo.base, b.in, b.n, &w);
        if (pause) {
            ck_assert(unit_run_until(cl_loop, bo_paused, &bo, 10000));
            ck_assert(bo.paused && bo.lost == 0);
            size_t held = bo.n;
            ck_assert_uint_lt(held, nbytes);
            for (int i = 0; i < 20; i++)
                wire_loop_run_once(cl_loop, false);
            ck_assert_uint_eq(bo.n, held); /* nothing while paused */
            ck_assert_int_eq(wire_transport_resume_reading(bo.t), 0);
        }
        ck_assert(unit_run_until(cl_loop, bo_done, &bo, 10000));
        cl_sock_end(&w);
        bo_got(&bo, bytes, nbytes);
        ck_assert(bo.eof == 1 && bo.lost_null);
        ck_assert_uint_gt(bo.direct_bytes, len / 2);
        ck_assert_uint_eq(fr_paths.bytes, bo.direct_bytes);
        bo_free(&bo);
    }

    /* Cut short: the same error text as in the string transport's runs;
     * the BufferedProtocol had the bytes that came. */
    char msg[200];
    snprintf(msg, sizeof(msg),
             "content-length: input ended inside a message: %zu of %zu bytes "
             "of the message at stream offset %zu",
             len - 1000, len, start);
    char first[16];
    snprintf(first, sizeof(first), "%.8s", b.want);
    struct rec_log l2 = {.messages = true};
    fr_paths_reset();
    cl_sock_start(rec_new(&l2), b.in, at + len - 1000, &w);
    ck_assert(unit_run_until(cl_loop, log_lost, &l2, 10000));
    cl_sock_end(&w);
    ck_assert_str_eq(rec_escaped(&l2), first);
    ck_assert_int_eq(l2.lost_code, WIRE_EINCOMPLETE);
    ck_assert_str_eq(l2.lost_msg, msg);
    ck_assert_uint_gt(fr_paths.bytes, len / 2);
    rec_log_free(&l2);
    struct bo bo;
    bo_init(&bo, 65536);
    fr_paths_reset();
    cl_sock_start(&bo.base, b.in, at + len - 1000, &w);
    ck_assert(unit_run_until(cl_loop, bo_done, &bo, 10000));
    cl_sock_end(&w);
    bo_got(&bo, bytes, 7 + len - 1000);
    ck_assert_int_eq(bo.lost_code, WIRE_EINCOMPLETE);
    ck_assert_str_eq(bo.lost_msg, msg);
    ck_assert_uint_gt(bo.direct_bytes, len / 2);
    bo_free(&bo);

    ck_assert_int_eq(unit_live_protocols, 0);
    wire_loop_free(cl_loop);
    cl_loop = NULL;
    free(bytes);
    fr_bufs_free(&b);
}
END_TEST

Suite *
content_length_suite(void)
{
    Suite *s = suite_create("content_length");
    TCase *tc = fr_tcase(s, "core", 60);
    tcase_add_test(tc, test_cl_basic);
    tcase_add_test(tc, test_cl_headers);
    tcase_add_test(tc, test_cl_write);
    tcase_add_test(tc, test_cl_roundtrip);
    tc = fr_tcase(s, "errors", 60);
    tcase_add_test(tc, test_cl_malformed);
    tcase_add_test(tc, test_cl_limits);
    tcase_add_test(tc, test_cl_header_bound);
    tcase_add_test(tc, test_cl_eof_inside);
    tcase_add_test(tc, test_cl_bad_args);
    tc = fr_tcase(s, "buffered", 300);
    tcase_add_test(tc, test_cl_buffered_every_split);
    tcase_add_test(tc, test_cl_buffered_in_place_and_tail);
    tcase_add_test(tc, test_cl_buffered_pause);
    tcase_add_test(tc, test_cl_buffered_handover);
    tcase_add_test(tc, test_cl_buffered_socket);
    return s;
}
