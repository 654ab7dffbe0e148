/*
 * Framing (<wire/framing.h>): the chunk/lines and lenprefix/netstring
 * layers and their callback forms, sans-I/O over the string transport.
 *
 * Every input is fed whole, one byte at a time, cut in two (and, when
 * short, in three) at every position, and in seeded random pieces; every
 * way must give exactly the same messages, the same error code and the
 * same error text.  The seed comes from WIRE_TEST_SEED when it is set (else
 * from the clock and pid); it is named in the failure messages of the
 * split runs, and check_unit prints it whenever a test failed, so a
 * failing split can be replayed.
 *
 * The protocol above is "mrec", a recorder like unit.h's rec that also
 * takes empty messages (a framing layer delivers an empty chunk as a
 * data_received of length 0, which rec refuses): `marks` holds each
 * message, escaped, followed by '|', so "a||b|" is "a", "", "b".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, mallinfo2 */
#endif
#include "unit.h"

#include <wire/framing.h>
#include <wire/string_transport.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h> /* mallinfo2 */
#endif

/* ---- the seed ---- */

static unsigned fr_seed;
static uint64_t fr_rng_state;

static void
fr_seed_init(void)
{
    fr_seed = unit_seed();
}

/* splitmix64: the test's own generator, so nothing else moves it. */
static uint64_t
fr_rand(void)
{
    uint64_t z = (fr_rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Each test restarts the generator from the seed and its own name, so a
 * test's splits do not depend on which tests ran before it. */
static void
fr_rand_reset(const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    fr_rng_state = h ^ fr_seed;
}

static size_t
fr_rand_below(size_t n)
{
    return n == 0 ? 0 : (size_t)(fr_rand() % n);
}

/* ---- mrec: a recording protocol that takes empty messages ---- */

struct mlog;
typedef void (*mlog_hook)(struct mlog *log, struct wire_transport *t);
typedef void (*mlog_msg_hook)(struct mlog *log, struct wire_transport *t,
                              const void *data, size_t len);

struct mlog {
    int made, msgs, eof, lost, destroyed, paused, resumed;
    struct wire_transport *t;
    char *marks; /* escaped messages, each followed by '|' */
    size_t marks_len, marks_cap;
    char *raw; /* the messages' bytes, back to back */
    size_t raw_len, raw_cap;
    size_t *lens; /* each message's length */
    size_t nlens, lens_cap;
    int lost_code;
    bool lost_null;
    char lost_msg[512];
    bool eof_keep;
    mlog_msg_hook on_msg;
    mlog_hook on_eof, on_pause, on_resume;
    int user_n;
};

struct mrec {
    struct wire_protocol base;
    struct mlog *log;
};

static void
grow_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *len + n + 1)
            c *= 2;
        char *nb = realloc(*buf, c);
        ck_assert_ptr_nonnull(nb);
        *buf = nb;
        *cap = c;
    }
    if (n > 0)
        memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Append `data` escaped (printable ASCII as is, but '|' and '\\' and
 * every other byte as \xNN) followed by '|'. */
static void
marks_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
    const unsigned char *d = data;
    for (size_t i = 0; i < n; i++) {
        if (d[i] >= 0x20 && d[i] < 0x7f && d[i] != '|' && d[i] != '\\') {
            grow_append(buf, len, cap, &d[i], 1);
        } else {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\x%02x", d[i]);
            grow_append(buf, len, cap, esc, 4);
        }
    }
    grow_append(buf, len, cap, "|", 1);
}

static struct mlog *
mlog_of(struct wire_protocol *p)
{
    return ((struct mrec *)p)->log;
}

static void
mrec_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct mlog *log = mlog_of(p);
    ck_assert_int_eq(log->made, 0);
    log->made++;
    log->t = t;
}

static void
mrec_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct mlog *log = mlog_of(p);
    ck_assert_int_eq(log->made, 1);
    ck_assert_int_eq(log->lost, 0);
    ck_assert_int_eq(log->eof, 0);
    log->msgs++;
    marks_append(&log->marks, &log->marks_len, &log->marks_cap, data, len);
    grow_append(&log->raw, &log->raw_len, &log->raw_cap, data, len);
    if (log->nlens == log->lens_cap) {
        log->lens_cap = log->lens_cap ? 2 * log->lens_cap : 16;
        log->lens = realloc(log->lens, log->lens_cap * sizeof(*log->lens));
        ck_assert_ptr_nonnull(log->lens);
    }
    log->lens[log->nlens++] = len;
    if (log->on_msg != NULL)
        log->on_msg(log, p->transport, data, len);
}

static bool
mrec_eof(struct wire_protocol *p)
{
    struct mlog *log = mlog_of(p);
    log->eof++;
    if (log->on_eof != NULL)
        log->on_eof(log, p->transport);
    return log->eof_keep;
}

static void
mrec_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct mlog *log = mlog_of(p);
    log->lost++;
    log->lost_null = err == NULL;
    log->lost_code = err != NULL ? err->code : 0;
    log->lost_msg[0] = '\0';
    if (err != NULL && err->message != NULL)
        snprintf(log->lost_msg, sizeof(log->lost_msg), "%s", err->message);
    log->t = NULL;
}

static void
mrec_pause(struct wire_protocol *p)
{
    struct mlog *log = mlog_of(p);
    log->paused++;
    if (log->on_pause != NULL)
        log->on_pause(log, p->transport);
}

static void
mrec_resume(struct wire_protocol *p)
{
    struct mlog *log = mlog_of(p);
    log->resumed++;
    if (log->on_resume != NULL)
        log->on_resume(log, p->transport);
}

static void
mrec_destroy(struct wire_protocol *p)
{
    mlog_of(p)->destroyed++;
    unit_live_protocols--;
    free(p);
}

static const struct wire_protocol_ops mrec_ops = {
    .connection_made = mrec_made,
    .data_received = mrec_data,
    .eof_received = mrec_eof,
    .connection_lost = mrec_lost,
    .pause_writing = mrec_pause,
    .resume_writing = mrec_resume,
    .destroy = mrec_destroy,
};

static struct wire_protocol *
mrec_new(struct mlog *log)
{
    struct mrec *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    wire_protocol_init(&r->base, &mrec_ops);
    r->log = log;
    unit_live_protocols++;
    return &r->base;
}

static void
mlog_free(struct mlog *log)
{
    free(log->marks);
    free(log->raw);
    free(log->lens);
    log->marks = log->raw = NULL;
    log->lens = NULL;
    log->marks_len = log->marks_cap = log->raw_len = log->raw_cap = 0;
    log->nlens = log->lens_cap = 0;
}

static const char *
mmarks(const struct mlog *log)
{
    return log->marks != NULL ? log->marks : "";
}

/* ---- stacks ---- */

enum { K_CHUNK, K_LENPREFIX };

struct stack_cfg {
    int kind;
    struct wire_chunk_opts co;
    struct wire_lenprefix_opts lo;
};

static struct stack_cfg
chunk_cfg(const char *delim, size_t max)
{
    struct stack_cfg c;
    memset(&c, 0, sizeof(c));
    c.kind = K_CHUNK;
    wire_chunk_opts_init(&c.co);
    if (delim != NULL) {
        c.co.delim = delim;
        c.co.delim_len = strlen(delim);
    }
    if (max != 0)
        c.co.max_len = max;
    return c;
}

static struct stack_cfg
lines_cfg(bool accept_crlf, bool write_crlf)
{
    struct stack_cfg c;
    memset(&c, 0, sizeof(c));
    c.kind = K_CHUNK;
    wire_lines_opts_init(&c.co, accept_crlf, write_crlf);
    return c;
}

static struct stack_cfg
lp_cfg(unsigned width, bool le, uint64_t max)
{
    struct stack_cfg c;
    memset(&c, 0, sizeof(c));
    c.kind = K_LENPREFIX;
    wire_lenprefix_opts_init(&c.lo, width, le);
    if (max != 0)
        c.lo.max_len = max;
    return c;
}

static struct stack_cfg
ns_cfg(uint64_t max)
{
    struct stack_cfg c;
    memset(&c, 0, sizeof(c));
    c.kind = K_LENPREFIX;
    wire_netstring_opts_init(&c.lo);
    if (max != 0)
        c.lo.max_len = max;
    return c;
}

/* The layer `c` over an mrec writing into `log`, on a string transport. */
static struct wire_transport *
stack_new(const struct stack_cfg *c, struct mlog *log)
{
    struct wire_error err = {0};
    struct wire_protocol *p =
        c->kind == K_CHUNK ? wire_chunk_layer_new(mrec_new(log), &c->co, &err)
                           : wire_lenprefix_layer_new(mrec_new(log), &c->lo, &err);
    ck_assert_msg(p != NULL, "layer_new: %s", err.message ? err.message : "?");
    struct wire_transport *st = wire_string_transport_new(p);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(log->made, 1);
    ck_assert_ptr_nonnull(log->t);
    ck_assert_ptr_ne(log->t, st);
    return st;
}

/* Free the string transport and check that everything went away. */
static void
stack_free(struct wire_transport *st, struct mlog *log)
{
    wire_string_transport_free(st);
    ck_assert_int_eq(log->lost, log->made);
    ck_assert_int_eq(log->destroyed, 1);
}

/* ---- feeding every way ---- */

/* What one input must give, whatever the split. */
struct expect {
    const char *marks; /* the messages */
    int code;          /* 0: clean; else the code connection_lost gets */
    const char *msg;   /* the exact error text when code != 0 */
    bool eof;          /* feed EOF after the input */
    int upper_eof;     /* eof_received calls expected (clean runs) */
};

/* Feed `in` cut at the offsets `cuts` (ascending, inside (0, len)), then
 * EOF when asked, step, and check the outcome against `e`.  `ctx` names
 * the split in failure messages. */
static void
run_split(const struct stack_cfg *c, const void *in, size_t len,
          const size_t *cuts, size_t ncuts, const struct expect *e,
          const char *what)
{
    char ctx[300];
    snprintf(ctx, sizeof(ctx), "%s [WIRE_TEST_SEED=%u]", what, fr_seed);
    struct mlog log = {0};
    struct wire_transport *st = stack_new(c, &log);
    const char *d = in;
    size_t prev = 0;
    bool refused = false;
    for (size_t i = 0; i <= ncuts && !refused; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (end == prev)
            continue;
        int rc = wire_string_transport_feed(st, d + prev, end - prev);
        if (rc != 0) {
            /* Only a failed connection refuses input. */
            ck_assert_msg(rc == WIRE_ECLOSED && e->code != 0,
                          "%s: feed at %zu returned %d", ctx, prev, rc);
            refused = true;
        }
        prev = end;
    }
    if (e->eof && !refused) {
        int rc = wire_string_transport_feed_eof(st);
        ck_assert_msg(rc == 0 || e->code != 0, "%s: feed_eof returned %d",
                      ctx, rc);
    }
    wire_string_transport_step(st);
    ck_assert_msg(strcmp(mmarks(&log), e->marks) == 0,
                  "%s: messages '%s', expected '%s'", ctx, mmarks(&log),
                  e->marks);
    if (e->code != 0) {
        ck_assert_msg(log.lost == 1, "%s: lost %d times, expected once", ctx,
                      log.lost);
        ck_assert_msg(log.lost_code == e->code, "%s: lost with %s, expected %s",
                      ctx, wire_err_name(log.lost_code), wire_err_name(e->code));
        ck_assert_msg(strcmp(log.lost_msg, e->msg) == 0,
                      "%s: error text '%s', expected '%s'", ctx, log.lost_msg,
                      e->msg);
        ck_assert_msg(log.eof == 0, "%s: eof_received after an error", ctx);
        ck_assert_msg(wire_string_transport_aborted(st),
                      "%s: the transport below was not aborted", ctx);
    } else if (e->eof) {
        ck_assert_msg(log.eof == e->upper_eof, "%s: eof_received %d times",
                      ctx, log.eof);
        ck_assert_msg(log.lost == 1 && log.lost_null,
                      "%s: no clean close after EOF (lost %d, %s)", ctx,
                      log.lost, log.lost_msg);
    } else {
        ck_assert_msg(log.lost == 0, "%s: lost early: %s", ctx, log.lost_msg);
    }
    stack_free(st, &log);
    ck_assert_int_eq(unit_live_protocols, 0);
    mlog_free(&log);
}

/* Every way: whole, byte by byte, in two at every position, in three at
 * every pair of positions (short inputs), and `nrandom` random splits. */
static void
run_all_splits(const struct stack_cfg *c, const void *in, size_t len,
               const struct expect *e, int nrandom)
{
    char ctx[160];
    size_t *cuts = calloc(len + 1, sizeof(*cuts));
    ck_assert_ptr_nonnull(cuts);

    run_split(c, in, len, NULL, 0, e, "whole");

    for (size_t i = 1; i < len; i++)
        cuts[i - 1] = i;
    run_split(c, in, len, cuts, len > 0 ? len - 1 : 0, e, "byte by byte");

    for (size_t i = 1; i < len; i++) {
        snprintf(ctx, sizeof(ctx), "cut at %zu", i);
        run_split(c, in, len, &i, 1, e, ctx);
    }
    if (len <= 48) {
        for (size_t i = 1; i < len; i++)
            for (size_t j = i + 1; j < len; j++) {
                size_t two[2] = {i, j};
                snprintf(ctx, sizeof(ctx), "cuts at %zu and %zu", i, j);
                run_split(c, in, len, two, 2, e, ctx);
            }
    }
    for (int r = 0; r < nrandom; r++) {
        /* Pieces of 1 to `cap` bytes, cap varying per run so both tiny
         * and large pieces occur. */
        static const size_t caps[] = {1, 2, 3, 5, 8, 64, 4096};
        size_t cap = caps[fr_rand_below(sizeof(caps) / sizeof(caps[0]))];
        size_t n = 0, off = 0;
        int w = snprintf(ctx, sizeof(ctx), "random split %d, cuts:", r);
        while (len > 0) {
            off += 1 + fr_rand_below(cap);
            if (off >= len)
                break;
            cuts[n++] = off;
            if (w > 0 && (size_t)w < sizeof(ctx) - 12)
                w += snprintf(ctx + w, sizeof(ctx) - (size_t)w, " %zu", off);
        }
        run_split(c, in, len, cuts, n, e, ctx);
    }
    free(cuts);
}

#define NRANDOM 64

/* ---- chunk: splitting ---- */

START_TEST(test_chunk_newline)
{
    fr_rand_reset("chunk_newline");
    struct stack_cfg c = chunk_cfg(NULL, 0);
    static const char in[] = "one\ntwo\n\nthree and more\n\n";
    struct expect e = {"one|two||three and more||", 0, NULL, true, 1};
    run_all_splits(&c, in, sizeof(in) - 1, &e, NRANDOM);
    /* Without EOF the messages are the same and nothing is lost yet. */
    e.eof = false;
    run_all_splits(&c, in, sizeof(in) - 1, &e, 8);
}
END_TEST

START_TEST(test_chunk_empty_chunks)
{
    fr_rand_reset("chunk_empty_chunks");
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct expect e = {"||||", 0, NULL, true, 1};
    run_all_splits(&c, "\n\n\n\n", 4, &e, NRANDOM);
    /* Each empty chunk is one data_received of length 0. */
    struct mlog log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_string_transport_feed(st, "\n\nx\n\n", 5), 0);
    ck_assert_int_eq(log.msgs, 4);
    ck_assert_uint_eq(log.nlens, 4);
    ck_assert_uint_eq(log.lens[0], 0);
    ck_assert_uint_eq(log.lens[1], 0);
    ck_assert_uint_eq(log.lens[2], 1);
    ck_assert_uint_eq(log.lens[3], 0);
    stack_free(st, &log);
    mlog_free(&log);
}
END_TEST

START_TEST(test_chunk_crlfcrlf)
{
    fr_rand_reset("chunk_crlfcrlf");
    struct stack_cfg c = chunk_cfg("\r\n\r\n", 0);
    /* Partial delimiters inside messages, an empty message, a message
     * that is all but the delimiter's last byte. */
    static const char in[] = "HEAD\r\n\r\nbody\r\nline\r\n\r\n\r\n\r\n"
                             "\r\n\r\r\n\r\n\n\r\n\r\n";
    struct expect e = {"HEAD|body\\x0d\\x0aline||\\x0d\\x0a\\x0d|\\x0a|", 0,
                       NULL, true, 1};
    run_all_splits(&c, in, sizeof(in) - 1, &e, NRANDOM);
}
END_TEST

START_TEST(test_chunk_self_overlapping)
{
    fr_rand_reset("chunk_self_overlapping");
    /* "ABAB" overlaps itself: after "ABA" a 'B' ends it, an 'A' may still
     * begin it two bytes later.  The leftmost occurrence wins, as when
     * scanning the whole input. */
    struct stack_cfg c = chunk_cfg("ABAB", 0);
    static const char in[] = "xABABABAByABABABABABz ABAABABAB";
    /* x ABAB "" ABAB y ABAB "" ABAB "ABz ABA" ABAB, then "AB" left over
     * at EOF: a delimiter's head is not a delimiter. */
    struct expect e = {"x||y||ABz ABA|", WIRE_EINCOMPLETE,
                       "chunk: input ended inside a message: 2 bytes from "
                       "stream offset 29 without a delimiter",
                       true, 0};
    run_all_splits(&c, in, sizeof(in) - 1, &e, NRANDOM);

    struct stack_cfg c2 = chunk_cfg("AAB", 0);
    static const char in2[] = "AAAABxAABAAAAAB";
    struct expect e2 = {"AA|x|AAA|", 0, NULL, true, 1};
    run_all_splits(&c2, in2, sizeof(in2) - 1, &e2, NRANDOM);
}
END_TEST

/* Split `in` the way a whole-input scanner would (leftmost occurrence,
 * then on after it), into marks.  Returns the unterminated tail length. */
static size_t
ref_split(const char *delim, const char *in, size_t len, char **marks,
          size_t *mlen, size_t *mcap)
{
    size_t dl = strlen(delim), pos = 0;
    for (;;) {
        const char *hit = len - pos >= dl ? memmem(in + pos, len - pos, delim, dl)
                                          : NULL;
        if (hit == NULL)
            break;
        size_t n = (size_t)(hit - (in + pos));
        marks_append(marks, mlen, mcap, in + pos, n);
        pos += n + dl;
    }
    return len - pos;
}

START_TEST(test_chunk_random_inputs_match_reference)
{
    fr_rand_reset("chunk_random_inputs");
    /* Random inputs over a small alphabet, against a whole-input scanner:
     * the delimiters found across reads must be exactly those found in
     * the whole input. */
    static const char *delims[] = {"ABAB", "AAB", "ABA", "AAAA", "\r\n\r\n",
                                   "AB", "ABCABD"};
    static const char alpha[] = "AABBCD";
    char ctx[200];
    for (size_t di = 0; di < sizeof(delims) / sizeof(delims[0]); di++) {
        for (int round = 0; round < 40; round++) {
            char in[96];
            size_t len = 1 + fr_rand_below(sizeof(in));
            for (size_t i = 0; i < len; i++)
                in[i] = strcmp(delims[di], "\r\n\r\n") == 0
                            ? "\r\nx"[fr_rand_below(3)]
                            : alpha[fr_rand_below(sizeof(alpha) - 1)];
            char *marks = NULL;
            size_t ml = 0, mc = 0;
            grow_append(&marks, &ml, &mc, "", 0);
            size_t tail = ref_split(delims[di], in, len, &marks, &ml, &mc);
            struct stack_cfg c = chunk_cfg(delims[di], 0);
            c.co.partial_at_eof = true;
            if (tail > 0)
                marks_append(&marks, &ml, &mc, in + len - tail, tail);
            struct expect e = {marks, 0, NULL, true, 1};
            /* Byte by byte, whole and a few random splits. */
            size_t cuts[96];
            for (size_t i = 1; i < len; i++)
                cuts[i - 1] = i;
            snprintf(ctx, sizeof(ctx), "delim %zu round %d byte by byte",
                     di, round);
            run_split(&c, in, len, cuts, len - 1, &e, ctx);
            snprintf(ctx, sizeof(ctx), "delim %zu round %d whole", di, round);
            run_split(&c, in, len, NULL, 0, &e, ctx);
            for (int r = 0; r < 6; r++) {
                size_t n = 0, off = 0;
                while ((off += 1 + fr_rand_below(7)) < len)
                    cuts[n++] = off;
                snprintf(ctx, sizeof(ctx), "delim %zu round %d split %d",
                         di, round, r);
                run_split(&c, in, len, cuts, n, &e, ctx);
            }
            free(marks);
        }
    }
}
END_TEST

START_TEST(test_lines_crlf)
{
    fr_rand_reset("lines_crlf");
    static const char in[] = "a\r\nb\nc\r\r\n\r\n\n\rd\n";
    /* accept_crlf: one '\r' before the '\n' goes. */
    struct stack_cfg c = lines_cfg(true, false);
    struct expect e = {"a|b|c\\x0d|||\\x0dd|", 0, NULL, true, 1};
    run_all_splits(&c, in, sizeof(in) - 1, &e, NRANDOM);
    /* Without it the '\r' is payload. */
    c = lines_cfg(false, false);
    struct expect e2 = {"a\\x0d|b|c\\x0d\\x0d|\\x0d||\\x0dd|", 0, NULL, true, 1};
    run_all_splits(&c, in, sizeof(in) - 1, &e2, NRANDOM);
}
END_TEST

START_TEST(test_lines_write)
{
    struct mlog log = {0};
    struct stack_cfg c = lines_cfg(true, true);
    struct wire_transport *st = stack_new(&c, &log);
    struct wire_transport *up = log.t;
    ck_assert_str_eq(wire_transport_name(up), "lines");
    ck_assert_int_eq(wire_line_write(up, "hello"), 0);
    ck_assert_int_eq(wire_line_write(up, ""), 0);
    ck_assert_int_eq(wire_line_writef(up, "%d-%s", 42, "x"), 0);
    ck_assert_str_eq(unit_output(st), "hello\r\n\r\n42-x\r\n");
    /* A line containing the delimiter is refused, nothing written. */
    ck_assert_int_eq(wire_line_write(up, "a\nb"), WIRE_EINVAL);
    ck_assert_int_eq(wire_line_writef(up, "%s", "two\nlines"), WIRE_EINVAL);
    ck_assert_int_eq(wire_line_write(up, NULL), WIRE_EINVAL);
    ck_assert_str_eq(unit_output(st), "hello\r\n\r\n42-x\r\n");
    /* A formatted line longer than the 512-byte stack buffer. */
    wire_string_transport_clear_output(st);
    char big[700];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(wire_line_writef(up, "<%s>%d", big, 7), 0);
    char want[720];
    snprintf(want, sizeof(want), "<%s>7\r\n", big);
    ck_assert_str_eq(unit_output(st), want);
    /* Exactly 511 and 512 characters: the edge of the stack buffer. */
    for (size_t n = 510; n <= 513; n++) {
        wire_string_transport_clear_output(st);
        ck_assert_int_eq(wire_line_writef(up, "%.*s", (int)n, big), 0);
        size_t olen = 0;
        const char *out = wire_string_transport_output(st, &olen);
        ck_assert_uint_eq(olen, n + 2);
        ck_assert_int_eq(memcmp(out, big, n), 0);
        ck_assert_int_eq(memcmp(out + n, "\r\n", 2), 0);
    }
    stack_free(st, &log);
    mlog_free(&log);

    /* write_crlf false: "\n". */
    struct mlog log2 = {0};
    c = lines_cfg(true, false);
    st = stack_new(&c, &log2);
    ck_assert_int_eq(wire_line_write(log2.t, "x"), 0);
    ck_assert_str_eq(unit_output(st), "x\n");
    /* Accepting "\r\n" but writing "\n": a line ending in '\r' would lose
     * it at a peer with the same settings, so it is refused. */
    ck_assert_int_eq(wire_line_write(log2.t, "a\r"), WIRE_EINVAL);
    struct iovec cr[2] = {{"b", 1}, {"\r", 1}};
    ck_assert_int_eq(wire_transport_write_sequence(log2.t, cr, 2), WIRE_EINVAL);
    ck_assert_int_eq(wire_line_write(log2.t, "\ra"), 0);
    ck_assert_str_eq(unit_output(st), "x\n\ra\n");
    stack_free(st, &log2);
    mlog_free(&log2);

    /* Writing "\r\n", the '\r' survives: "a\r" goes out as "a\r\r\n". */
    struct mlog log3 = {0};
    c = lines_cfg(true, true);
    st = stack_new(&c, &log3);
    ck_assert_int_eq(wire_line_write(log3.t, "a\r"), 0);
    ck_assert_str_eq(unit_output(st), "a\r\r\n");
    stack_free(st, &log3);
    mlog_free(&log3);
}
END_TEST

/* ---- chunk: limits and errors ---- */

START_TEST(test_chunk_max_len)
{
    fr_rand_reset("chunk_max_len");
    struct stack_cfg c = chunk_cfg(NULL, 5);
    /* Exactly the maximum is fine. */
    struct expect ok = {"12345||abc|", 0, NULL, true, 1};
    run_all_splits(&c, "12345\n\nabc\n", 11, &ok, NRANDOM);
    /* One more fails, naming the limit and the message's stream offset. */
    struct expect bad = {"12345|", WIRE_EMSGSIZE,
                         "chunk: message at stream offset 6 is longer than the "
                         "limit of 5 bytes",
                         true, 0};
    run_all_splits(&c, "12345\n123456\nabc\n", 17, &bad, NRANDOM);
    /* Even when no delimiter ever comes (and without EOF). */
    bad.eof = false;
    run_all_splits(&c, "12345\n123456", 12, &bad, NRANDOM);
    /* A custom name shows in the text. */
    c.co.name = "myframe";
    struct expect named = {"", WIRE_EMSGSIZE,
                           "myframe: message at stream offset 0 is longer than "
                           "the limit of 5 bytes",
                           false, 0};
    run_all_splits(&c, "abcdefgh", 8, &named, 8);
}
END_TEST

START_TEST(test_chunk_max_len_multibyte_and_crlf)
{
    fr_rand_reset("chunk_max_len_multibyte");
    struct stack_cfg c = chunk_cfg("\r\n\r\n", 5);
    struct expect ok = {"12345|1234|", 0, NULL, true, 1};
    run_all_splits(&c, "12345\r\n\r\n1234\r\n\r\n", 17, &ok, NRANDOM);
    struct expect bad = {"", WIRE_EMSGSIZE,
                         "chunk: message at stream offset 0 is longer than the "
                         "limit of 5 bytes",
                         true, 0};
    run_all_splits(&c, "123456\r\n\r\n", 10, &bad, NRANDOM);
    /* "12345\r\n" + "\r" followed by anything but '\n' is too long. */
    run_all_splits(&c, "12345\r\n\rx\r\n\r\n", 13, &bad, NRANDOM);

    /* lines with accept_crlf: max bytes plus the '\r' are fine. */
    c = lines_cfg(true, false);
    c.co.max_len = 3;
    struct expect lok = {"abc|abc|", 0, NULL, true, 1};
    run_all_splits(&c, "abc\r\nabc\n", 9, &lok, NRANDOM);
    struct expect lbad = {"abc|", WIRE_EMSGSIZE,
                          "lines: message at stream offset 5 is longer than "
                          "the limit of 3 bytes",
                          true, 0};
    run_all_splits(&c, "abc\r\nabcd\n", 10, &lbad, NRANDOM);
    run_all_splits(&c, "abc\r\nabc\r\r\n", 11, &lbad, NRANDOM);
}
END_TEST

/* The layer fails as soon as the unterminated bytes cannot be a message
 * any more, not when a delimiter finally comes: its buffer is bounded. */
START_TEST(test_chunk_fails_early)
{
    struct {
        const char *delim;
        bool strip_cr;
        size_t max;
        size_t ok_bytes; /* bytes that may still end well */
    } cases[] = {
        {"\n", false, 5, 5},
        {"\r\n\r\n", false, 5, 8},
        {"\n", true, 5, 6},
        {"ABAB", false, 1, 4},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct stack_cfg c = chunk_cfg(cases[k].delim, cases[k].max);
        c.co.strip_cr = cases[k].strip_cr;
        /* Bytes that are a prefix of "<max payload><delimiter minus its
         * last byte>" are held; the next one fails. */
        char prefix[32];
        memset(prefix, 'x', cases[k].max);
        size_t dl = strlen(cases[k].delim);
        size_t n = cases[k].max;
        if (cases[k].strip_cr)
            prefix[n++] = '\r';
        memcpy(prefix + n, cases[k].delim, dl - 1);
        n += dl - 1;
        ck_assert_uint_eq(n, cases[k].ok_bytes);
        for (int whole = 0; whole < 2; whole++) {
            struct mlog log = {0};
            struct wire_transport *st = stack_new(&c, &log);
            if (whole) {
                ck_assert_int_eq(wire_string_transport_feed(st, prefix, n), 0);
            } else {
                for (size_t i = 0; i < n; i++) {
                    ck_assert_int_eq(wire_string_transport_feed(st, prefix + i, 1), 0);
                    ck_assert(!wire_string_transport_aborted(st));
                }
            }
            ck_assert(!wire_string_transport_aborted(st));
            ck_assert_int_eq(wire_string_transport_feed(st, "y", 1), 0);
            ck_assert_msg(wire_string_transport_aborted(st),
                          "case %zu: byte %zu did not fail", k, n + 1);
            /* More input is refused. */
            ck_assert_int_eq(wire_string_transport_feed(st, "\n", 1), WIRE_ECLOSED);
            ck_assert_int_eq(log.lost, 0); /* delivered from the step */
            wire_string_transport_step(st);
            ck_assert_int_eq(log.lost, 1);
            ck_assert_int_eq(log.lost_code, WIRE_EMSGSIZE);
            ck_assert_contains(log.lost_msg, "stream offset 0 ");
            ck_assert_str_eq(mmarks(&log), "");
            stack_free(st, &log);
            mlog_free(&log);
        }
    }

    /* A megabyte with no delimiter at a 16-byte limit fails at once. */
    struct stack_cfg c = chunk_cfg(NULL, 16);
    struct mlog log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    size_t big = 1 << 20;
    char *junk = malloc(big);
    ck_assert_ptr_nonnull(junk);
    memset(junk, 'j', big);
    ck_assert_int_eq(wire_string_transport_feed(st, "ok\n", 3), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, junk, big), 0);
    ck_assert(wire_string_transport_aborted(st));
    wire_string_transport_step(st);
    ck_assert_str_eq(mmarks(&log), "ok|");
    ck_assert_int_eq(log.lost_code, WIRE_EMSGSIZE);
    ck_assert_str_eq(log.lost_msg, "chunk: message at stream offset 3 is longer "
                                   "than the limit of 16 bytes");
    free(junk);
    stack_free(st, &log);
    mlog_free(&log);
}
END_TEST

START_TEST(test_chunk_eof_mid_chunk)
{
    fr_rand_reset("chunk_eof_mid_chunk");
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct expect e = {"abc|", WIRE_EINCOMPLETE,
                       "chunk: input ended inside a message: 2 bytes from "
                       "stream offset 4 without a delimiter",
                       true, 0};
    run_all_splits(&c, "abc\nde", 6, &e, NRANDOM);
    /* A partial multi-byte delimiter is part of the unfinished chunk. */
    c = chunk_cfg("\r\n\r\n", 0);
    struct expect e2 = {"abc|", WIRE_EINCOMPLETE,
                        "chunk: input ended inside a message: 5 bytes from "
                        "stream offset 7 without a delimiter",
                        true, 0};
    run_all_splits(&c, "abc\r\n\r\nde\r\n\r", 12, &e2, NRANDOM);

    /* partial_at_eof: the rest is a final message, then EOF, then a
     * clean close. */
    c = chunk_cfg(NULL, 0);
    c.co.partial_at_eof = true;
    struct expect p = {"abc|de|", 0, NULL, true, 1};
    run_all_splits(&c, "abc\nde", 6, &p, NRANDOM);
    c = chunk_cfg("\r\n\r\n", 0);
    c.co.partial_at_eof = true;
    struct expect p2 = {"abc|de\\x0d\\x0a\\x0d|", 0, NULL, true, 1};
    run_all_splits(&c, "abc\r\n\r\nde\r\n\r", 12, &p2, NRANDOM);
    /* ... still bounded by the maximum. */
    c = chunk_cfg(NULL, 2);
    c.co.partial_at_eof = true;
    struct expect p3 = {"ab|", WIRE_EMSGSIZE,
                        "chunk: message at stream offset 3 is longer than the "
                        "limit of 2 bytes",
                        true, 0};
    run_all_splits(&c, "ab\nxyz", 6, &p3, 0);
    /* Nothing pending at EOF: just EOF. */
    c = chunk_cfg(NULL, 0);
    struct expect p4 = {"abc|", 0, NULL, true, 1};
    run_all_splits(&c, "abc\n", 4, &p4, 0);
    struct expect p5 = {"", 0, NULL, true, 1};
    run_split(&c, "", 0, NULL, 0, &p5, "empty input");
}
END_TEST

START_TEST(test_chunk_lower_error_mid_chunk)
{
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct mlog log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_string_transport_feed(st, "a\nbc", 4), 0);
    ck_assert_int_eq(wire_string_transport_feed_error(st, -ECONNRESET,
                                                      "reset by peer"), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(mmarks(&log), "a|");
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, -ECONNRESET);
    ck_assert_str_eq(log.lost_msg, "reset by peer");
    stack_free(st, &log);
    mlog_free(&log);
}
END_TEST

/* ---- chunk: writing ---- */

static int ref_frees;
static const void *ref_freed_data;
static size_t ref_freed_len;

static void
count_free(void *arg, const void *data, size_t len)
{
    ck_assert_ptr_eq(arg, &ref_frees);
    ref_frees++;
    ref_freed_data = data;
    ref_freed_len = len;
}

START_TEST(test_chunk_write_framing)
{
    ref_frees = 0;
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct mlog log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    struct wire_transport *up = log.t;
    ck_assert_int_eq(wire_transport_write(up, "one", 3), 0);
    struct iovec iov[3] = {{"tw", 2}, {"", 0}, {"o", 1}};
    ck_assert_int_eq(wire_transport_write_sequence(up, iov, 3), 0);
    static const char three[] = "three";
    ck_assert_int_eq(wire_transport_write_ref(up, three, 5, count_free, &ref_frees), 0);
    ck_assert_int_eq(ref_frees, 1); /* written through: released at once */
    ck_assert_ptr_eq(ref_freed_data, three);
    ck_assert_uint_eq(ref_freed_len, 5);
    ck_assert_int_eq(wire_transport_write(up, "", 0), 0);        /* empty chunk */
    ck_assert_int_eq(wire_transport_write_sequence(up, NULL, 0), 0);
    ck_assert_int_eq(wire_chunk_write(up, "four", 4), 0);
    ck_assert_str_eq(unit_output(st), "one\ntwo\nthree\n\n\nfour\n");

    /* The delimiter inside a write: refused, nothing written. */
    ck_assert_int_eq(wire_transport_write(up, "a\nb", 3), WIRE_EINVAL);
    struct iovec bad[2] = {{"ab", 2}, {"c\n", 2}};
    ck_assert_int_eq(wire_transport_write_sequence(up, bad, 2), WIRE_EINVAL);
    static const char badref[] = "x\n";
    ck_assert_int_eq(wire_transport_write_ref(up, badref, 2, count_free, &ref_frees),
                     WIRE_EINVAL);
    ck_assert_int_eq(ref_frees, 1); /* refused: the buffer stays ours */
    ck_assert_int_eq(wire_chunk_write(up, "\n", 1), WIRE_EINVAL);
    ck_assert_int_eq(wire_chunk_write(up, NULL, 1), WIRE_EINVAL);
    ck_assert_str_eq(unit_output(st), "one\ntwo\nthree\n\n\nfour\n");
    /* The connection is still fine. */
    ck_assert(!wire_transport_is_closing(up));
    ck_assert_int_eq(wire_chunk_write(up, "five", 4), 0);
    ck_assert_str_eq(unit_output(st), "one\ntwo\nthree\n\n\nfour\nfive\n");
    stack_free(st, &log);
    mlog_free(&log);

    /* unchecked_writes: the caller vouches for the payload. */
    c.co.unchecked_writes = true;
    struct mlog log2 = {0};
    st = stack_new(&c, &log2);
    ck_assert_int_eq(wire_transport_write(log2.t, "a\nb", 3), 0);
    ck_assert_str_eq(unit_output(st), "a\nb\n");
    stack_free(st, &log2);
    mlog_free(&log2);
}
END_TEST

START_TEST(test_chunk_write_multibyte)
{
    struct stack_cfg c = chunk_cfg("\r\n\r\n", 0);
    struct mlog log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    struct wire_transport *up = log.t;
    ck_assert_int_eq(wire_transport_write(up, "a\r\nb", 4), 0);
    ck_assert_str_eq(unit_output(st), "a\r\nb\r\n\r\n");
    wire_string_transport_clear_output(st);
    /* The delimiter inside one buffer, and across the seams of a
     * gathered write (two, three and four pieces, with empty ones). */
    ck_assert_int_eq(wire_transport_write(up, "x\r\n\r\ny", 6), WIRE_EINVAL);
    struct iovec s2[2] = {{"ab\r\n", 4}, {"\r\ncd", 4}};
    ck_assert_int_eq(wire_transport_write_sequence(up, s2, 2), WIRE_EINVAL);
    struct iovec s4[5] = {{"x\r", 2}, {"\n", 1}, {"", 0}, {"\r", 1}, {"\ny", 2}};
    ck_assert_int_eq(wire_transport_write_sequence(up, s4, 5), WIRE_EINVAL);
    struct iovec s3[3] = {{"\r", 1}, {"\n\r", 2}, {"\n", 1}};
    ck_assert_int_eq(wire_transport_write_sequence(up, s3, 3), WIRE_EINVAL);
    /* A payload ending in "\r\n" would make "\r\n\r\n\r\n" with the
     * delimiter, which the peer splits two bytes early: refused too. */
    ck_assert_int_eq(wire_transport_write(up, "a\r\nb\r\n", 6), WIRE_EINVAL);
    struct iovec s5[2] = {{"b\r", 2}, {"\n", 1}};
    ck_assert_int_eq(wire_transport_write_sequence(up, s5, 2), WIRE_EINVAL);
    ck_assert_str_eq(unit_output(st), "");
    /* Near misses are fine: "\r\n\r" + "\r\n\r\n" has its first
     * delimiter at the end. */
    struct iovec ok[3] = {{"\r\n", 2}, {"\r", 1}, {"x\r\n\r", 4}};
    ck_assert_int_eq(wire_transport_write_sequence(up, ok, 3), 0);
    ck_assert_str_eq(unit_output(st), "\r\n\rx\r\n\r\r\n\r\n");
    stack_free(st, &log);
    mlog_free(&log);

    /* Self-overlapping "ABAB": "xAB" + "ABAB" = "xABABAB" splits after
     * "x" at the peer. */
    c = chunk_cfg("ABAB", 0);
    struct mlog log2 = {0};
    st = stack_new(&c, &log2);
    ck_assert_int_eq(wire_transport_write(log2.t, "xAB", 3), WIRE_EINVAL);
    ck_assert_int_eq(wire_transport_write(log2.t, "xABA", 4), 0);
    ck_assert_int_eq(wire_transport_write(log2.t, "BA", 2), 0);
    ck_assert_str_eq(unit_output(st), "xABAABABBAABAB");
    stack_free(st, &log2);
    mlog_free(&log2);
}
END_TEST

/* Would the peer read `buf` + `delim` as exactly one chunk? */
static bool
frames_as_one(const char *buf, size_t len, const char *delim)
{
    size_t dl = strlen(delim);
    char *all = malloc(len + dl);
    ck_assert_ptr_nonnull(all);
    if (len > 0)
        memcpy(all, buf, len);
    memcpy(all + len, delim, dl);
    const char *hit = memmem(all, len + dl, delim, dl);
    bool one = hit == all + len;
    free(all);
    return one;
}

/* Random gathered writes over a small alphabet: refused exactly when the
 * peer would not read the payload back as one chunk; otherwise written
 * as payload + delimiter, and read back by a second stack as that
 * payload. */
START_TEST(test_chunk_write_seams_random)
{
    fr_rand_reset("chunk_write_seams");
    static const char *delims[] = {"\r\n\r\n", "\r\n", "\n\n\n", "\r\r\n",
                                   "ABAB", "AAB", "ABA"};
    for (size_t di = 0; di < sizeof(delims) / sizeof(delims[0]); di++) {
        struct stack_cfg c = chunk_cfg(delims[di], 0);
        struct mlog log = {0}, rd = {0};
        struct wire_transport *st = stack_new(&c, &log);
        struct wire_transport *rst = stack_new(&c, &rd);
        struct wire_transport *up = log.t;
        size_t dl = strlen(delims[di]);
        const char *alpha = delims[di][0] == 'A' ? "ABx" : "\r\nx";
        int accepted = 0;
        for (int round = 0; round < 400; round++) {
            char buf[24];
            size_t len = fr_rand_below(sizeof(buf) + 1);
            for (size_t i = 0; i < len; i++)
                buf[i] = alpha[fr_rand_below(3)];
            struct iovec iov[24];
            int n = 0;
            size_t off = 0;
            while (off < len || (n < 2 && fr_rand_below(2))) {
                size_t k = fr_rand_below(len - off + 1);
                if (n == 23)
                    k = len - off;
                iov[n++] = (struct iovec){buf + off, k};
                off += k;
            }
            bool one = frames_as_one(buf, len, delims[di]);
            wire_string_transport_clear_output(st);
            int rc = wire_transport_write_sequence(up, iov, n);
            size_t olen = 0;
            const char *out = wire_string_transport_output(st, &olen);
            ck_assert_msg(rc == (one ? 0 : WIRE_EINVAL),
                          "delim %zu round %d (WIRE_TEST_SEED=%u): rc %d, "
                          "frames as one %d", di, round, fr_seed, rc, one);
            if (!one) {
                ck_assert_uint_eq(olen, 0);
                continue;
            }
            accepted++;
            ck_assert_uint_eq(olen, len + dl);
            ck_assert_int_eq(memcmp(out, buf, len), 0);
            ck_assert_int_eq(memcmp(out + len, delims[di], dl), 0);
            /* The peer reads it back as this one message. */
            int before = rd.msgs;
            ck_assert_int_eq(wire_string_transport_feed(rst, out, olen), 0);
            ck_assert_int_eq(rd.msgs, before + 1);
            ck_assert_uint_eq(rd.lens[rd.nlens - 1], len);
            ck_assert_int_eq(memcmp(rd.raw + rd.raw_len - len, buf, len), 0);
        }
        ck_assert_int_gt(accepted, 20);
        stack_free(rst, &rd);
        mlog_free(&rd);
        stack_free(st, &log);
        mlog_free(&log);
    }
}
END_TEST

START_TEST(test_chunk_write_ref_zero_copy)
{
    ref_frees = 0;
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct mlog log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    struct wire_transport *up = log.t;
    /* The bottom takes nothing and its queue is "full" after one byte, so
     * the layer's own queue holds the next writes: by reference. */
    wire_string_transport_set_capacity(st, 0);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(st, 1, 0), 0);
    ck_assert_int_eq(wire_transport_write(up, "first", 5), 0);
    char payload[8] = "abcdefg";
    ck_assert_int_eq(wire_transport_write_ref(up, payload, 7, count_free, &ref_frees), 0);
    ck_assert_int_eq(ref_frees, 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(up), 8);
    /* Not copied: a change made before the drain shows in the output. */
    payload[0] = 'Z';
    wire_string_transport_set_capacity(st, SIZE_MAX);
    wire_string_transport_step(st);
    ck_assert_str_eq(unit_output(st), "first\nZbcdefg\n");
    ck_assert_int_eq(ref_frees, 1);
    ck_assert_ptr_eq(ref_freed_data, payload);
    ck_assert_uint_eq(ref_freed_len, 7);

    /* Dropped by an abort: released once too. */
    wire_string_transport_clear_output(st);
    wire_string_transport_set_capacity(st, 0);
    ck_assert_int_eq(wire_transport_write(up, "first", 5), 0);
    ck_assert_int_eq(wire_transport_write_ref(up, payload, 3, count_free, &ref_frees), 0);
    ck_assert_int_eq(ref_frees, 1);
    wire_transport_abort(up);
    ck_assert_int_eq(ref_frees, 2);
    wire_string_transport_step(st);
    ck_assert_int_eq(ref_frees, 2);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    ck_assert_str_eq(unit_output(st), "");
    stack_free(st, &log);
    ck_assert_int_eq(ref_frees, 2);
    mlog_free(&log);
}
END_TEST

START_TEST(test_write_eof_after_frames)
{
    struct stack_cfg cfgs[2];
    cfgs[0] = chunk_cfg("\r\n", 0);
    cfgs[1] = ns_cfg(0);
    static const char *const outs[2] = {"a\r\nb\r\n", "1:a,1:b,"};
    for (int k = 0; k < 2; k++) {
        struct mlog log = {0};
        struct wire_transport *st = stack_new(&cfgs[k], &log);
        wire_string_transport_set_capacity(st, 1);
        ck_assert_int_eq(wire_transport_write(log.t, "a", 1), 0);
        ck_assert_int_eq(wire_transport_write(log.t, "b", 1), 0);
        ck_assert(wire_transport_can_write_eof(log.t));
        ck_assert_int_eq(wire_transport_write_eof(log.t), 0);
        ck_assert_int_eq(wire_transport_write(log.t, "c", 1), WIRE_ECLOSED);
        /* EOF goes down only after the queued frames. */
        ck_assert(!wire_string_transport_eof_written(st));
        for (int i = 0; i < 32 && !wire_string_transport_eof_written(st); i++) {
            wire_string_transport_set_capacity(st, 1);
            wire_string_transport_step(st);
        }
        ck_assert(wire_string_transport_eof_written(st));
        ck_assert_str_eq(unit_output(st), outs[k]);
        /* Reading goes on after our EOF. */
        ck_assert_int_eq(wire_string_transport_feed(st, k ? "2:hi," : "hi\r\n",
                                                    k ? 5 : 4), 0);
        ck_assert_str_eq(mmarks(&log), "hi|");
        stack_free(st, &log);
        mlog_free(&log);
    }
}
END_TEST

START_TEST(test_chunk_write_wrong_transport)
{
    /* The string transport itself, a lenprefix layer: not chunk layers. */
    struct stack_cfg c = lp_cfg(2, false, 0);
    struct mlog log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_chunk_write(st, "x", 1), WIRE_EINVAL);
    ck_assert_int_eq(wire_chunk_write(log.t, "x", 1), WIRE_EINVAL);
    ck_assert_int_eq(wire_line_write(log.t, "x"), WIRE_EINVAL);
    ck_assert_int_eq(wire_line_writef(log.t, "%d", 1), WIRE_EINVAL);
    ck_assert_int_eq(wire_chunk_write(NULL, "x", 1), WIRE_EINVAL);
    ck_assert_str_eq(unit_output(st), "");
    stack_free(st, &log);
    mlog_free(&log);
}
END_TEST

/* ---- names and options ---- */

static void
assert_name(struct wire_transport *up, const char *name)
{
    char buf[64];
    ck_assert_int_eq(wire_transport_get_info(up, WIRE_INFO_NAME, buf, sizeof(buf)),
                     (int)strlen(name));
    ck_assert_str_eq(buf, name);
    ck_assert_str_eq(wire_transport_name(up), name);
    /* What the layer does not know is forwarded down. */
    ck_assert_int_gt(wire_transport_get_info(up, WIRE_INFO_PEER, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "string:");
}

START_TEST(test_names)
{
    struct {
        struct stack_cfg c;
        const char *name;
    } cases[8];
    int n = 0;
    cases[n].c = chunk_cfg(NULL, 0), cases[n++].name = "chunk";
    cases[n].c = lines_cfg(false, false), cases[n++].name = "lines";
    cases[n].c = chunk_cfg(NULL, 0), cases[n].c.co.name = "smtp-lines",
    cases[n++].name = "smtp-lines";
    cases[n].c = chunk_cfg(NULL, 0), cases[n].c.co.name = "chunk",
    cases[n++].name = "chunk";
    cases[n].c = lp_cfg(4, false, 0), cases[n++].name = "lenprefix";
    cases[n].c = ns_cfg(0), cases[n++].name = "netstring";
    cases[n].c = lp_cfg(2, true, 0), cases[n].c.lo.name = "frames",
    cases[n++].name = "frames";
    cases[n].c = ns_cfg(0), cases[n].c.lo.name = "lenprefix",
    cases[n++].name = "lenprefix";
    for (int i = 0; i < n; i++) {
        struct mlog log = {0};
        struct wire_transport *st = stack_new(&cases[i].c, &log);
        assert_name(log.t, cases[i].name);
        /* wire_chunk_write knows a chunk layer by what it is, not by
         * its name. */
        int want = cases[i].c.kind == K_CHUNK ? 0 : WIRE_EINVAL;
        ck_assert_int_eq(wire_chunk_write(log.t, "n", 1), want);
        stack_free(st, &log);
        mlog_free(&log);
    }
}
END_TEST

START_TEST(test_invalid_opts)
{
    struct wire_chunk_opts co;
    struct wire_error err = {0};
    struct mlog log = {0};

    wire_chunk_opts_init(&co);
    co.delim = "";
    co.delim_len = 0;
    ck_assert_ptr_null(wire_chunk_layer_new(mrec_new(&log), &co, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_str_eq(err.message, "chunk: the delimiter is empty");
    ck_assert_int_eq(log.destroyed, 1);
    ck_assert_int_eq(log.made, 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    wire_error_clear(&err);

    wire_chunk_opts_init(&co);
    co.write_delim = "";
    co.write_delim_len = 0;
    ck_assert_ptr_null(wire_chunk_layer_new(mrec_new(&log), &co, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_int_eq(log.destroyed, 2);
    wire_error_clear(&err);

    char longd[65];
    memset(longd, '-', sizeof(longd));
    wire_chunk_opts_init(&co);
    co.delim = longd;
    co.delim_len = sizeof(longd);
    ck_assert_ptr_null(wire_chunk_layer_new(mrec_new(&log), &co, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_int_eq(log.destroyed, 3);
    wire_error_clear(&err);
    /* 64 bytes is allowed. */
    co.delim_len = 64;
    struct wire_protocol *p = wire_chunk_layer_new(mrec_new(&log), &co, &err);
    ck_assert_ptr_nonnull(p);
    struct wire_transport *st = wire_string_transport_new(p);
    wire_string_transport_free(st);
    ck_assert_int_eq(log.destroyed, 4);

    /* NULL upper: still just an error. */
    wire_chunk_opts_init(&co);
    co.delim_len = 0;
    co.delim = "";
    ck_assert_ptr_null(wire_chunk_layer_new(NULL, &co, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    wire_error_clear(&err);

    struct wire_lenprefix_opts lo;
    wire_lenprefix_opts_init(&lo, 3, false);
    ck_assert_ptr_null(wire_lenprefix_layer_new(mrec_new(&log), &lo, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_str_eq(err.message,
                     "lenprefix: the prefix width must be 1, 2, 4 or 8 bytes");
    ck_assert_int_eq(log.destroyed, 5);
    wire_error_clear(&err);
    wire_lenprefix_opts_init(&lo, 0, false);
    ck_assert_ptr_null(wire_lenprefix_layer_new(mrec_new(&log), &lo, &err));
    ck_assert_int_eq(log.destroyed, 6);
    wire_error_clear(&err);
    wire_lenprefix_opts_init(&lo, 4, false);
    lo.kind = 7;
    ck_assert_ptr_null(wire_lenprefix_layer_new(mrec_new(&log), &lo, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_int_eq(log.destroyed, 7);
    wire_error_clear(&err);
    ck_assert_ptr_null(wire_lenprefix_layer_new(mrec_new(&log), NULL, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_int_eq(log.destroyed, 8);
    wire_error_clear(&err);
    ck_assert_int_eq(unit_live_protocols, 0);
    mlog_free(&log);
}
END_TEST

/* ---- lenprefix ---- */

/* Encode `len` in `width` bytes. */
static size_t
put_len(unsigned char *out, uint64_t v, unsigned width, bool le)
{
    for (unsigned i = 0; i < width; i++) {
        unsigned shift = le ? 8 * i : 8 * (width - 1 - i);
        out[i] = (unsigned char)(v >> shift);
    }
    return width;
}

START_TEST(test_lenprefix_widths)
{
    fr_rand_reset("lenprefix_widths");
    static const unsigned widths[] = {1, 2, 4, 8};
    for (size_t wi = 0; wi < 4; wi++) {
        for (int le = 0; le < 2; le++) {
            unsigned w = widths[wi];
            unsigned char in[600];
            size_t n = 0;
            n += put_len(in + n, 5, w, le);
            memcpy(in + n, "hello", 5), n += 5;
            n += put_len(in + n, 0, w, le);
            n += put_len(in + n, 1, w, le);
            in[n++] = '|';
            /* 255 bytes fits every width; 300 needs two bytes. */
            size_t big = w == 1 ? 255 : 300;
            n += put_len(in + n, big, w, le);
            for (size_t i = 0; i < big; i++)
                in[n++] = (unsigned char)('a' + i % 26);
            char want[1200];
            size_t k = (size_t)snprintf(want, sizeof(want), "hello||\\x7c|");
            for (size_t i = 0; i < big; i++)
                want[k++] = (char)('a' + i % 26);
            want[k++] = '|';
            want[k] = '\0';
            struct stack_cfg c = lp_cfg(w, le, 0);
            struct expect e = {want, 0, NULL, true, 1};
            run_all_splits(&c, in, n, &e, 16);

            /* The same messages, written, give the same bytes. */
            struct mlog log = {0};
            struct wire_transport *st = stack_new(&c, &log);
            ck_assert_int_eq(wire_transport_write(log.t, "hello", 5), 0);
            ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
            struct iovec iov[2] = {{"", 0}, {"|", 1}};
            ck_assert_int_eq(wire_transport_write_sequence(log.t, iov, 2), 0);
            char *bigp = malloc(big);
            ck_assert_ptr_nonnull(bigp);
            for (size_t i = 0; i < big; i++)
                bigp[i] = (char)('a' + i % 26);
            ck_assert_int_eq(wire_transport_write(log.t, bigp, big), 0);
            size_t olen = 0;
            const void *out = wire_string_transport_output(st, &olen);
            ck_assert_uint_eq(olen, n);
            ck_assert_msg(memcmp(out, in, n) == 0, "width %u le %d", w, le);
            free(bigp);
            stack_free(st, &log);
            mlog_free(&log);
        }
    }
}
END_TEST

START_TEST(test_lenprefix_write_exact)
{
    struct {
        struct stack_cfg c;
        const char *out;
        size_t out_len;
    } cases[] = {
        {lp_cfg(1, false, 0), "\x05hello", 6},
        {lp_cfg(1, true, 0), "\x05hello", 6},
        {lp_cfg(2, false, 0), "\x00\x05hello", 7},
        {lp_cfg(2, true, 0), "\x05\x00hello", 7},
        {lp_cfg(4, false, 0), "\x00\x00\x00\x05hello", 9},
        {lp_cfg(4, true, 0), "\x05\x00\x00\x00hello", 9},
        {lp_cfg(8, false, 0), "\x00\x00\x00\x00\x00\x00\x00\x05hello", 13},
        {lp_cfg(8, true, 0), "\x05\x00\x00\x00\x00\x00\x00\x00hello", 13},
        {ns_cfg(0), "5:hello,", 8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mlog log = {0};
        struct wire_transport *st = stack_new(&cases[i].c, &log);
        ref_frees = 0;
        /* write, write_sequence and write_ref all frame the same way. */
        ck_assert_int_eq(wire_transport_write(log.t, "hello", 5), 0);
        struct iovec iov[3] = {{"he", 2}, {"", 0}, {"llo", 3}};
        ck_assert_int_eq(wire_transport_write_sequence(log.t, iov, 3), 0);
        ck_assert_int_eq(wire_transport_write_ref(log.t, "hello", 5, count_free,
                                                  &ref_frees), 0);
        ck_assert_int_eq(ref_frees, 1);
        size_t olen = 0;
        const char *out = wire_string_transport_output(st, &olen);
        ck_assert_uint_eq(olen, 3 * cases[i].out_len);
        for (int k = 0; k < 3; k++)
            ck_assert_msg(memcmp(out + k * cases[i].out_len, cases[i].out,
                                 cases[i].out_len) == 0,
                          "case %zu write %d", i, k);
        stack_free(st, &log);
        mlog_free(&log);
    }
    /* Empty messages. */
    struct stack_cfg ns = ns_cfg(0);
    struct mlog log = {0};
    struct wire_transport *st = stack_new(&ns, &log);
    ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
    char twelve[12];
    memset(twelve, '.', sizeof(twelve));
    ck_assert_int_eq(wire_transport_write(log.t, twelve, 12), 0);
    ck_assert_str_eq(unit_output(st), "0:,12:............,");
    stack_free(st, &log);
    mlog_free(&log);
}
END_TEST

START_TEST(test_lenprefix_write_too_long)
{
    char buf[70000];
    memset(buf, 'q', sizeof(buf));
    struct {
        struct stack_cfg c;
        bool counts_header;
        size_t fits, too_long;
    } cases[] = {
        {lp_cfg(1, false, 0), false, 255, 256},
        {lp_cfg(1, true, 0), true, 254, 255},
        {lp_cfg(2, false, 0), false, 65535, 65536},
        {lp_cfg(2, true, 0), true, 65533, 65534},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cases[i].c.lo.counts_header = cases[i].counts_header;
        struct mlog log = {0};
        struct wire_transport *st = stack_new(&cases[i].c, &log);
        ref_frees = 0;
        ck_assert_int_eq(wire_transport_write(log.t, buf, cases[i].too_long),
                         WIRE_EMSGSIZE);
        struct iovec iov[2] = {{buf, 1}, {buf, cases[i].too_long - 1}};
        ck_assert_int_eq(wire_transport_write_sequence(log.t, iov, 2), WIRE_EMSGSIZE);
        ck_assert_int_eq(wire_transport_write_ref(log.t, buf, cases[i].too_long,
                                                  count_free, &ref_frees),
                         WIRE_EMSGSIZE);
        ck_assert_int_eq(ref_frees, 0);
        size_t olen = 0;
        wire_string_transport_output(st, &olen);
        ck_assert_uint_eq(olen, 0);
        ck_assert(!wire_transport_is_closing(log.t));
        ck_assert_int_eq(wire_transport_write(log.t, buf, cases[i].fits), 0);
        wire_string_transport_output(st, &olen);
        unsigned w = cases[i].c.lo.width;
        ck_assert_uint_eq(olen, w + cases[i].fits);
        stack_free(st, &log);
        mlog_free(&log);
    }
}
END_TEST

START_TEST(test_lenprefix_counts_header)
{
    fr_rand_reset("lenprefix_counts_header");
    struct stack_cfg c = lp_cfg(2, false, 0);
    c.lo.counts_header = true;
    struct expect e = {"hello||", 0, NULL, true, 1};
    run_all_splits(&c, "\x00\x07hello\x00\x02", 9, &e, NRANDOM);
    /* A length smaller than the prefix itself. */
    struct expect bad = {"hello|", WIRE_EPROTO,
                         "lenprefix: length 1 at stream offset 7 is smaller "
                         "than its own 2-byte prefix",
                         true, 0};
    run_all_splits(&c, "\x00\x07hello\x00\x01zz", 11, &bad, NRANDOM);
    /* Writing counts the prefix too. */
    struct mlog log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_transport_write(log.t, "hello", 5), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
    size_t olen = 0;
    const char *out = wire_string_transport_output(st, &olen);
    ck_assert_uint_eq(olen, 9);
    ck_assert_int_eq(memcmp(out, "\x00\x07hello\x00\x02", 9), 0);
    stack_free(st, &log);
    mlog_free(&log);
    /* LE, width 4. */
    c = lp_cfg(4, true, 0);
    c.lo.counts_header = true;
    struct expect e4 = {"ab|", 0, NULL, true, 1};
    run_all_splits(&c, "\x06\x00\x00\x00" "ab", 6, &e4, NRANDOM);
}
END_TEST

START_TEST(test_lenprefix_max_len)
{
    fr_rand_reset("lenprefix_max_len");
    struct stack_cfg c = lp_cfg(2, false, 5);
    struct expect ok = {"12345|", 0, NULL, true, 1};
    run_all_splits(&c, "\x00\x05" "12345", 7, &ok, NRANDOM);
    /* Over the limit: fails once the length is known, before the payload
     * (which never comes here). */
    struct expect bad = {"12345|", WIRE_EMSGSIZE,
                         "lenprefix: message at stream offset 7 announces 6 "
                         "bytes, over the limit of 5 bytes",
                         false, 0};
    run_all_splits(&c, "\x00\x05" "12345\x00\x06", 9, &bad, NRANDOM);
    bad.eof = true;
    run_all_splits(&c, "\x00\x05" "12345\x00\x06" "123456", 15, &bad, NRANDOM);
}
END_TEST

/* Bytes the heap handed out: used to show that an announced length is
 * not allocated before its bytes arrive.  Sanitizers and valgrind
 * replace malloc and may report 0 here; the check then just passes. */
static size_t
heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#else
    return 0;
#endif
}

START_TEST(test_lenprefix_absurd_length)
{
    fr_rand_reset("lenprefix_absurd_length");
    /* 4 GB announced with the default limit: fails after the 4 prefix
     * bytes, before any payload. */
    struct stack_cfg c = lp_cfg(4, false, 0);
    struct expect e = {"", WIRE_EMSGSIZE,
                       "lenprefix: message at stream offset 0 announces "
                       "4294967295 bytes, over the limit of 1048576 bytes",
                       false, 0};
    run_all_splits(&c, "\xff\xff\xff\xff", 4, &e, NRANDOM);
    for (int whole = 0; whole < 2; whole++) {
        struct mlog log = {0};
        struct wire_transport *st = stack_new(&c, &log);
        size_t before = heap_in_use();
        if (whole) {
            ck_assert_int_eq(wire_string_transport_feed(st, "\xff\xff\xff\xff", 4), 0);
        } else {
            ck_assert_int_eq(wire_string_transport_feed(st, "\xff\xff\xff", 3), 0);
            ck_assert(!wire_string_transport_aborted(st));
            ck_assert_int_eq(wire_string_transport_feed(st, "\xff", 1), 0);
        }
        ck_assert(wire_string_transport_aborted(st));
        ck_assert_uint_lt(heap_in_use(), before + 64 * 1024);
        ck_assert_int_eq(wire_string_transport_feed(st, "x", 1), WIRE_ECLOSED);
        wire_string_transport_step(st);
        ck_assert_int_eq(log.lost_code, WIRE_EMSGSIZE);
        stack_free(st, &log);
        mlog_free(&log);
    }
    /* 8-byte prefix, all ones, little endian. */
    c = lp_cfg(8, true, 0);
    struct expect e8 = {"", WIRE_EMSGSIZE,
                        "lenprefix: message at stream offset 0 announces "
                        "18446744073709551615 bytes, over the limit of "
                        "1048576 bytes",
                        true, 0};
    run_all_splits(&c, "\xff\xff\xff\xff\xff\xff\xff\xff" "abc", 11, &e8, 8);

    /* A limit large enough to accept 4 GB: the buffer grows with the
     * bytes that arrive, never to the announced length at once. */
    c = lp_cfg(4, false, (uint64_t)1 << 40);
    struct mlog log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    size_t before = heap_in_use();
    ck_assert_int_eq(wire_string_transport_feed(st, "\xff\xff\xff\xff", 4), 0);
    char part[1000];
    memset(part, 'p', sizeof(part));
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(wire_string_transport_feed(st, part, sizeof(part)), 0);
    ck_assert(!wire_string_transport_aborted(st));
    ck_assert_uint_lt(heap_in_use(), before + 256 * 1024);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost_code, WIRE_EINCOMPLETE);
    ck_assert_str_eq(log.lost_msg, "lenprefix: input ended inside a message: "
                                   "10000 of 4294967295 bytes of the message at "
                                   "stream offset 0");
    stack_free(st, &log);
    mlog_free(&log);
}
END_TEST

START_TEST(test_lenprefix_eof_mid_message)
{
    fr_rand_reset("lenprefix_eof_mid");
    struct stack_cfg c = lp_cfg(4, false, 0);
    struct expect hdr = {"ab|", WIRE_EINCOMPLETE,
                         "lenprefix: input ended inside the length of the "
                         "message at stream offset 6",
                         true, 0};
    run_all_splits(&c, "\x00\x00\x00\x02" "ab\x00\x00", 8, &hdr, NRANDOM);
    struct expect pay = {"ab|", WIRE_EINCOMPLETE,
                         "lenprefix: input ended inside a message: 3 of 5 bytes "
                         "of the message at stream offset 6",
                         true, 0};
    run_all_splits(&c, "\x00\x00\x00\x02" "ab\x00\x00\x00\x05" "hel", 13, &pay,
                   NRANDOM);
    /* Only the prefix of a non-empty message. */
    struct expect pay0 = {"", WIRE_EINCOMPLETE,
                          "lenprefix: input ended inside a message: 0 of 1 "
                          "bytes of the message at stream offset 0",
                          true, 0};
    run_all_splits(&c, "\x00\x00\x00\x01", 4, &pay0, NRANDOM);
    /* Between messages: a clean EOF. */
    struct expect clean = {"ab||", 0, NULL, true, 1};
    run_all_splits(&c, "\x00\x00\x00\x02" "ab\x00\x00\x00\x00", 10, &clean,
                   NRANDOM);

    c = ns_cfg(0);
    /* The payload goes up as soon as it is complete; only then is the
     * ',' awaited. */
    struct expect comma = {"hello|", WIRE_EINCOMPLETE,
                           "netstring: input ended inside the trailing ',' of "
                           "the message at stream offset 0",
                           true, 0};
    run_all_splits(&c, "5:hello", 7, &comma, NRANDOM);
    struct expect digits = {"hello|", WIRE_EINCOMPLETE,
                            "netstring: input ended inside the length of the "
                            "message at stream offset 8",
                            true, 0};
    run_all_splits(&c, "5:hello,12", 10, &digits, NRANDOM);
    struct expect nspay = {"hello|", WIRE_EINCOMPLETE,
                           "netstring: input ended inside a message: 2 of 3 "
                           "bytes of the message at stream offset 8",
                           true, 0};
    run_all_splits(&c, "5:hello,3:ab", 12, &nspay, NRANDOM);
    struct expect nsempty = {"|", WIRE_EINCOMPLETE,
                             "netstring: input ended inside the trailing ',' "
                             "of the message at stream offset 0",
                             true, 0};
    run_all_splits(&c, "0:", 2, &nsempty, NRANDOM);
}
END_TEST

START_TEST(test_netstring)
{
    fr_rand_reset("netstring");
    struct stack_cfg c = ns_cfg(0);
    static const char in[] = "5:hello,0:,3:a,b,10:0123456789,1:\n,";
    struct expect e = {"hello||a,b|0123456789|\\x0a|", 0, NULL, true, 1};
    run_all_splits(&c, in, sizeof(in) - 1, &e, NRANDOM);

    struct expect lead = {"", WIRE_EPROTO,
                          "netstring: netstring length with a leading zero "
                          "(stream offset 1)",
                          true, 0};
    run_all_splits(&c, "05:hello,", 9, &lead, NRANDOM);
    run_all_splits(&c, "00:,", 4, &lead, NRANDOM);
    struct expect nondigit = {"hello|", WIRE_EPROTO,
                              "netstring: netstring length expected, got byte "
                              "0x78 (stream offset 8)",
                              true, 0};
    run_all_splits(&c, "5:hello,x:", 10, &nondigit, NRANDOM);
    struct expect nodigits = {"", WIRE_EPROTO,
                              "netstring: netstring length expected, got byte "
                              "0x3a (stream offset 0)",
                              true, 0};
    run_all_splits(&c, ":hello,", 7, &nodigits, NRANDOM);
    struct expect midnondigit = {"", WIRE_EPROTO,
                                 "netstring: netstring length expected, got "
                                 "byte 0x20 (stream offset 1)",
                                 true, 0};
    run_all_splits(&c, "1 :x,", 5, &midnondigit, NRANDOM);
    struct expect nocomma = {"hello|", WIRE_EPROTO,
                             "netstring: netstring payload not followed by ',' "
                             "(stream offset 7)",
                             true, 0};
    run_all_splits(&c, "5:hello;3:abc,", 14, &nocomma, NRANDOM);
    struct expect nocomma0 = {"|", WIRE_EPROTO,
                              "netstring: netstring payload not followed by "
                              "',' (stream offset 2)",
                              false, 0};
    run_all_splits(&c, "0:0:,", 5, &nocomma0, NRANDOM);

    /* The limit, checked while the digits are still coming. */
    c = ns_cfg(10);
    struct expect okmax = {"0123456789|", 0, NULL, true, 1};
    run_all_splits(&c, "10:0123456789,", 14, &okmax, NRANDOM);
    struct expect over = {"ab|", WIRE_EMSGSIZE,
                          "netstring: message at stream offset 5 announces a "
                          "length of at least 11 bytes, over the limit of 10 "
                          "bytes",
                          false, 0};
    run_all_splits(&c, "2:ab,11:", 8, &over, NRANDOM);
    /* An endless run of digits fails within a few bytes. */
    c = ns_cfg(0);
    struct expect endless = {"", WIRE_EMSGSIZE,
                             "netstring: message at stream offset 0 announces a "
                             "length of at least 9999999 bytes, over the limit "
                             "of 1048576 bytes",
                             false, 0};
    run_all_splits(&c, "99999999999999999999999999999999", 32, &endless, 8);
    /* With the largest limit allowed, a length past 2^64 must not wrap
     * round to a small one (2^64 + 5 is not 5). */
    c = ns_cfg(SIZE_MAX / 2);
    struct expect wrap = {"", WIRE_EMSGSIZE,
                          "netstring: message at stream offset 0 announces a "
                          "length of at least 18446744073709551615 bytes, over "
                          "the limit of 9223372036854775807 bytes",
                          true, 0};
    run_all_splits(&c, "18446744073709551621:hello,", 27, &wrap, NRANDOM);
    /* Up to the limit itself the digits are fine (the payload is not). */
    struct expect atmax = {"", WIRE_EINCOMPLETE,
                           "netstring: input ended inside a message: 2 of "
                           "9223372036854775807 bytes of the message at stream "
                           "offset 0",
                           true, 0};
    run_all_splits(&c, "9223372036854775807:ab", 22, &atmax, 8);
}
END_TEST

START_TEST(test_lenprefix_spanning_many_reads)
{
    fr_rand_reset("lenprefix_spanning");
    /* 200 KiB message between two small ones, 8-byte big-endian prefix,
     * fed in random pieces of up to 4 KiB. */
    size_t big = 200 * 1024;
    size_t total = 8 + 1 + 8 + big + 8 + 2;
    unsigned char *in = malloc(total);
    ck_assert_ptr_nonnull(in);
    size_t n = 0;
    n += put_len(in + n, 1, 8, false);
    in[n++] = 'A';
    n += put_len(in + n, big, 8, false);
    for (size_t i = 0; i < big; i++)
        in[n++] = (unsigned char)(fr_rand() & 0xff);
    n += put_len(in + n, 2, 8, false);
    in[n++] = 'Z';
    in[n++] = 'z';
    ck_assert_uint_eq(n, total);
    struct stack_cfg c = lp_cfg(8, false, 0);
    for (int r = 0; r < 6; r++) {
        struct mlog log = {0};
        struct wire_transport *st = stack_new(&c, &log);
        size_t off = 0, pieces = 0;
        size_t cap = r == 0 ? 1 : r == 1 ? 7 : 4096;
        while (off < total) {
            size_t k = 1 + fr_rand_below(cap);
            if (k > total - off)
                k = total - off;
            ck_assert_int_eq(wire_string_transport_feed(st, in + off, k), 0);
            off += k;
            pieces++;
        }
        ck_assert_uint_gt(pieces, 50);
        ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
        wire_string_transport_step(st);
        ck_assert_msg(log.nlens == 3, "run %d (WIRE_TEST_SEED=%u): %zu messages",
                      r, fr_seed, log.nlens);
        ck_assert_uint_eq(log.lens[0], 1);
        ck_assert_uint_eq(log.lens[1], big);
        ck_assert_uint_eq(log.lens[2], 2);
        ck_assert_int_eq(log.raw[0], 'A');
        ck_assert_msg(memcmp(log.raw + 1, in + 17, big) == 0,
                      "run %d (WIRE_TEST_SEED=%u): payload differs", r, fr_seed);
        ck_assert_int_eq(memcmp(log.raw + 1 + big, "Zz", 2), 0);
        ck_assert(log.lost_null);
        stack_free(st, &log);
        mlog_free(&log);
    }
    free(in);
}
END_TEST

/* ---- the callback forms ---- */

struct hctx {
    char events[512];
    int destroyed;
    struct wire_transport *t;
    bool keep_on_eof;
    bool close_on_msg, echo;
    int closed_code;
};

static void
ev(struct hctx *h, const char *s)
{
    size_t l = strlen(h->events);
    snprintf(h->events + l, sizeof(h->events) - l, "%s;", s);
}

static void
h_open(void *arg, struct wire_transport *t)
{
    struct hctx *h = arg;
    h->t = t;
    ev(h, "open");
}

static void
h_message(void *arg, struct wire_transport *t, const void *data, size_t len)
{
    struct hctx *h = arg;
    ck_assert_ptr_nonnull(t);
    if (h->t != NULL) /* NULL when the handler has no open */
        ck_assert_ptr_eq(t, h->t);
    char s[64];
    snprintf(s, sizeof(s), "msg(%.*s)", (int)len, (const char *)data);
    ev(h, s);
    if (h->echo)
        ck_assert_int_eq(wire_transport_write(t, data, len), 0);
    if (h->close_on_msg)
        wire_transport_close(t);
}

static bool
h_eof(void *arg, struct wire_transport *t)
{
    struct hctx *h = arg;
    ck_assert_ptr_eq(t, h->t);
    ev(h, "eof");
    return h->keep_on_eof;
}

static void
h_closed(void *arg, const struct wire_error *err)
{
    struct hctx *h = arg;
    h->closed_code = err != NULL ? err->code : 0;
    ev(h, err != NULL ? wire_err_name(err->code) : "closed");
}

static void
h_destroy(void *arg)
{
    struct hctx *h = arg;
    h->destroyed++;
    ev(h, "destroy");
}

static const struct wire_message_handler handler = {
    .open = h_open,
    .message = h_message,
    .eof = h_eof,
    .closed = h_closed,
    .destroy = h_destroy,
};

START_TEST(test_callback_chunk)
{
    fr_rand_reset("callback_chunk");
    for (size_t piece = 0; piece <= 2; piece++) {
        struct hctx h = {.echo = true};
        struct wire_error err = {0};
        struct wire_protocol *p = wire_chunk_protocol_new(NULL, &handler, &h, &err);
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(h.events, "");
        struct wire_transport *st = wire_string_transport_new(p);
        ck_assert_str_eq(h.events, "open;");
        ck_assert_str_eq(wire_transport_name(h.t), "chunk");
        static const char in[] = "a\n\nbc\n";
        ck_assert_int_eq(wire_string_transport_feed_split(st, in, 6, piece == 0 ? 6 : piece), 0);
        ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
        ck_assert_str_eq(h.events, "open;msg(a);msg();msg(bc);eof;");
        ck_assert_str_eq(unit_output(st), "a\n\nbc\n"); /* echoed, framed */
        wire_string_transport_step(st);
        ck_assert_str_eq(h.events, "open;msg(a);msg();msg(bc);eof;closed;destroy;");
        ck_assert_int_eq(h.destroyed, 1);
        wire_string_transport_free(st);
        ck_assert_int_eq(h.destroyed, 1);
        ck_assert_str_eq(h.events, "open;msg(a);msg();msg(bc);eof;closed;destroy;");
    }
}
END_TEST

START_TEST(test_callback_lenprefix)
{
    /* Netstrings, with a half-close: the eof callback keeps writing. */
    struct hctx h = {.keep_on_eof = true};
    struct wire_lenprefix_opts o;
    wire_netstring_opts_init(&o);
    struct wire_error err = {0};
    struct wire_protocol *p = wire_lenprefix_protocol_new(&o, &handler, &h, &err);
    ck_assert_ptr_nonnull(p);
    struct wire_transport *st = wire_string_transport_new(p);
    ck_assert_str_eq(wire_transport_name(h.t), "netstring");
    ck_assert_int_eq(wire_string_transport_feed_split(st, "3:abc,0:,", 9, 1), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(h.events, "open;msg(abc);msg();eof;");
    ck_assert_int_eq(wire_transport_write(h.t, "bye", 3), 0);
    ck_assert_str_eq(unit_output(st), "3:bye,");
    wire_transport_close(h.t);
    ck_assert_str_eq(h.events, "open;msg(abc);msg();eof;"); /* not re-entrant */
    wire_string_transport_step(st);
    ck_assert_str_eq(h.events, "open;msg(abc);msg();eof;closed;destroy;");
    wire_string_transport_free(st);

    /* A framing error reaches closed() with its code, then destroy. */
    struct hctx h2 = {0};
    struct wire_lenprefix_opts o2;
    wire_lenprefix_opts_init(&o2, 1, false);
    o2.max_len = 3;
    p = wire_lenprefix_protocol_new(&o2, &handler, &h2, &err);
    ck_assert_ptr_nonnull(p);
    st = wire_string_transport_new(p);
    ck_assert_int_eq(wire_string_transport_feed(st, "\x01x\x04", 3), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(h2.events, "open;msg(x);WIRE_EMSGSIZE;destroy;");
    wire_string_transport_free(st);
    ck_assert_int_eq(h2.destroyed, 1);

    /* Closing from the message callback: no further messages. */
    struct hctx h3 = {.close_on_msg = true};
    p = wire_lenprefix_protocol_new(&o2, &handler, &h3, &err);
    ck_assert_ptr_nonnull(p);
    st = wire_string_transport_new(p);
    ck_assert_int_eq(wire_string_transport_feed(st, "\x01x\x01y\x01z", 6), 0);
    ck_assert_str_eq(h3.events, "open;msg(x);");
    wire_string_transport_step(st);
    ck_assert_str_eq(h3.events, "open;msg(x);closed;destroy;");
    wire_string_transport_free(st);
}
END_TEST

START_TEST(test_callback_no_message)
{
    struct wire_message_handler nomsg = handler;
    nomsg.message = NULL;
    struct wire_error err = {0};
    struct hctx h = {0};
    ck_assert_ptr_null(wire_chunk_protocol_new(NULL, &nomsg, &h, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_int_eq(h.destroyed, 1);
    ck_assert_str_eq(h.events, "destroy;");
    wire_error_clear(&err);

    struct hctx h2 = {0};
    struct wire_lenprefix_opts o;
    wire_netstring_opts_init(&o);
    ck_assert_ptr_null(wire_lenprefix_protocol_new(&o, &nomsg, &h2, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_int_eq(h2.destroyed, 1);
    wire_error_clear(&err);

    ck_assert_ptr_null(wire_chunk_protocol_new(NULL, NULL, NULL, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    wire_error_clear(&err);
    ck_assert_ptr_null(wire_lenprefix_protocol_new(&o, NULL, NULL, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    wire_error_clear(&err);

    /* Good handler, bad options: destroy is still called, once. */
    struct hctx h3 = {0};
    struct wire_chunk_opts co;
    wire_chunk_opts_init(&co);
    co.delim_len = 0;
    ck_assert_ptr_null(wire_chunk_protocol_new(&co, &handler, &h3, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_int_eq(h3.destroyed, 1);
    ck_assert_str_eq(h3.events, "destroy;");
    wire_error_clear(&err);
    struct hctx h4 = {0};
    wire_lenprefix_opts_init(&o, 5, false);
    ck_assert_ptr_null(wire_lenprefix_protocol_new(&o, &handler, &h4, &err));
    ck_assert_int_eq(h4.destroyed, 1);
    wire_error_clear(&err);

    /* A handler with only `message`. */
    struct wire_message_handler only = {.message = h_message};
    struct hctx h5 = {0};
    struct wire_protocol *p = wire_chunk_protocol_new(NULL, &only, &h5, &err);
    ck_assert_ptr_nonnull(p);
    struct wire_transport *st = wire_string_transport_new(p);
    ck_assert_int_eq(wire_string_transport_feed(st, "q\n", 2), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert(wire_string_transport_closed(st));
    wire_string_transport_free(st);
    ck_assert_str_eq(h5.events, "msg(q);");
}
END_TEST

/* ---- re-entrancy: pausing and closing from above ---- */

static void
pause_on_each(struct mlog *log, struct wire_transport *t, const void *d,
              size_t n)
{
    (void)log;
    (void)d;
    (void)n;
    ck_assert_int_eq(wire_transport_pause_reading(t), 0);
}

/* Pause inside every message; resume and step one at a time: each step
 * delivers exactly one held message, in order, boundaries kept. */
static void
check_pause_each(const struct stack_cfg *c, const void *in, size_t len,
                 const char *const *want, int nwant, size_t piece)
{
    struct mlog log = {0};
    log.on_msg = pause_on_each;
    struct wire_transport *st = stack_new(c, &log);
    ck_assert_int_eq(wire_string_transport_feed_split(st, in, len, piece), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    ck_assert_str_eq(mmarks(&log), want[0]);
    wire_string_transport_step(st);
    ck_assert_str_eq(mmarks(&log), want[0]); /* still paused */
    for (int i = 1; i < nwant; i++) {
        ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
        ck_assert_str_eq(mmarks(&log), want[i - 1]); /* not re-entrant */
        wire_string_transport_step(st);
        ck_assert_msg(strcmp(mmarks(&log), want[i]) == 0,
                      "piece %zu step %d: '%s', expected '%s'", piece, i,
                      mmarks(&log), want[i]);
        ck_assert_int_eq(log.eof, 0);
    }
    /* The EOF comes after the last held message. */
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    wire_string_transport_step(st);
    ck_assert_msg(log.eof == 1, "piece %zu: eof %d, lost %d (%s) marks %s", piece, log.eof, log.lost, log.lost_msg, mmarks(&log));
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    ck_assert_str_eq(mmarks(&log), want[nwant - 1]);
    stack_free(st, &log);
    mlog_free(&log);
}

START_TEST(test_pause_holds_messages)
{
    static const char *const want[] = {"a|", "a||", "a||bc|", "a||bc|d|"};
    struct stack_cfg c = chunk_cfg(NULL, 0);
    for (size_t piece = 1; piece <= 8; piece++)
        check_pause_each(&c, "a\n\nbc\nd\n", 8, want, 4, piece);
    struct stack_cfg c2 = chunk_cfg("\r\n\r\n", 0);
    for (size_t piece = 1; piece <= 8; piece++)
        check_pause_each(&c2, "a\r\n\r\n\r\n\r\nbc\r\n\r\nd\r\n\r\n", 20, want, 4,
                         piece);
    struct stack_cfg n = ns_cfg(0);
    for (size_t piece = 1; piece <= 8; piece++)
        check_pause_each(&n, "1:a,0:,2:bc,1:d,", 16, want, 4, piece);
    struct stack_cfg l = lp_cfg(1, false, 0);
    for (size_t piece = 1; piece <= 8; piece++)
        check_pause_each(&l, "\x01" "a\x00\x02" "bc\x01" "d", 8, want, 4, piece);
}
END_TEST

static void
pause_on_first(struct mlog *log, struct wire_transport *t, const void *d,
               size_t n)
{
    (void)d;
    (void)n;
    if (log->msgs == 1)
        ck_assert_int_eq(wire_transport_pause_reading(t), 0);
}

START_TEST(test_pause_then_resume_all)
{
    /* Pause in the first message; input keeps coming (below is paused,
     * so the string transport holds it too); one resume delivers all. */
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct mlog log = {0};
    log.on_msg = pause_on_first;
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_string_transport_feed(st, "1\n2\n3", 5), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, "\n4\n", 3), 0);
    ck_assert_str_eq(mmarks(&log), "1|");
    ck_assert(!wire_transport_is_reading(log.t));
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(mmarks(&log), "1|2|3|4|");
    ck_assert_int_eq(wire_string_transport_feed(st, "5\n", 2), 0);
    ck_assert_str_eq(mmarks(&log), "1|2|3|4|5|");
    stack_free(st, &log);
    mlog_free(&log);
}
END_TEST

static void
close_on_second(struct mlog *log, struct wire_transport *t, const void *d,
                size_t n)
{
    (void)d;
    (void)n;
    if (log->msgs == 2) {
        if (log->user_n)
            wire_transport_abort(t);
        else
            wire_transport_close(t);
    }
}

START_TEST(test_close_inside_message)
{
    fr_rand_reset("close_inside_message");
    struct stack_cfg cfgs[3];
    cfgs[0] = chunk_cfg(NULL, 0);
    cfgs[1] = ns_cfg(0);
    cfgs[2] = lp_cfg(2, true, 0);
    static const char *const ins[3] = {"a\nb\nc\nd\n", "1:a,1:b,1:c,1:d,",
                                       "\x01\x00" "a\x01\x00" "b\x01\x00" "c"};
    static const size_t lens[3] = {8, 16, 9};
    for (int k = 0; k < 3; k++) {
        for (int abort_ = 0; abort_ < 2; abort_++) {
            for (size_t piece = 1; piece <= lens[k]; piece++) {
                struct mlog log = {0};
                log.on_msg = close_on_second;
                log.user_n = abort_;
                struct wire_transport *st = stack_new(&cfgs[k], &log);
                int rc = wire_string_transport_feed_split(st, ins[k], lens[k], piece);
                ck_assert(rc == 0 || rc == WIRE_ECLOSED);
                ck_assert_str_eq(mmarks(&log), "a|b|");
                ck_assert_int_eq(log.lost, 0);
                wire_string_transport_step(st);
                ck_assert_str_eq(mmarks(&log), "a|b|");
                ck_assert_int_eq(log.lost, 1);
                if (abort_) {
                    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
                    ck_assert(wire_string_transport_aborted(st));
                } else {
                    ck_assert(log.lost_null);
                    ck_assert(wire_string_transport_closed(st));
                    ck_assert(!wire_string_transport_aborted(st));
                }
                stack_free(st, &log);
                mlog_free(&log);
            }
        }
    }
}
END_TEST

static void
close_on_first(struct mlog *log, struct wire_transport *t, const void *d,
               size_t n)
{
    (void)d;
    (void)n;
    if (log->msgs == 1) {
        ck_assert_int_eq(wire_transport_pause_reading(t), 0);
        wire_transport_close(t);
    }
}

START_TEST(test_close_while_messages_held)
{
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct mlog log = {0};
    log.on_msg = close_on_first;
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_string_transport_feed(st, "a\nb\nc\n", 6), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(mmarks(&log), "a|");
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    stack_free(st, &log);
    mlog_free(&log);
}
END_TEST

/* ---- flow control ---- */

/* Write `nmsg` messages (write, write_sequence and write_ref in turn)
 * while the bottom takes nothing, then drain it `step_bytes` at a time.
 * The protocol above is paused and resumed once; the output is exactly
 * the framed messages, in order. */
static void
check_backpressure(const struct stack_cfg *c, size_t step_bytes)
{
    struct mlog log = {0};
    struct wire_transport *st = stack_new(c, &log);
    struct wire_transport *up = log.t;
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(st, 8, 0), 0);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(up, 16, 4), 0);
    wire_string_transport_set_capacity(st, 0);

    /* The framed form, built by a second stack with no back pressure. */
    struct mlog ref = {0};
    struct wire_transport *rst = stack_new(c, &ref);

    ref_frees = 0;
    int nmsg = 24, refs = 0;
    char msgs[24][16];
    for (int i = 0; i < nmsg; i++) {
        int n = snprintf(msgs[i], sizeof(msgs[i]), "m%02d-%.*s", i, i % 7, "xxxxxxx");
        ck_assert_int_eq(wire_transport_write(ref.t, msgs[i], (size_t)n), 0);
        int rc;
        if (i % 3 == 0) {
            rc = wire_transport_write(up, msgs[i], (size_t)n);
        } else if (i % 3 == 1) {
            struct iovec iov[2] = {{msgs[i], 2}, {msgs[i] + 2, (size_t)n - 2}};
            rc = wire_transport_write_sequence(up, iov, 2);
        } else {
            rc = wire_transport_write_ref(up, msgs[i], (size_t)n, count_free,
                                          &ref_frees);
            refs++;
        }
        ck_assert_int_eq(rc, 0); /* writes while paused still queue */
    }
    ck_assert_int_eq(log.paused, 1);
    ck_assert_int_eq(log.resumed, 0);
    size_t want_len = 0;
    const char *want = wire_string_transport_output(rst, &want_len);
    size_t olen = 1;
    wire_string_transport_output(st, &olen);
    ck_assert_uint_eq(olen, 0);

    /* Drain a few bytes at a time, cutting frames anywhere. */
    for (int guard = 0; guard < 100000; guard++) {
        wire_string_transport_output(st, &olen);
        if (olen >= want_len)
            break;
        wire_string_transport_set_capacity(st, step_bytes);
        wire_string_transport_step(st);
    }
    wire_string_transport_set_capacity(st, SIZE_MAX);
    wire_string_transport_step(st);
    const char *out = wire_string_transport_output(st, &olen);
    ck_assert_uint_eq(olen, want_len);
    ck_assert_msg(memcmp(out, want, want_len) == 0, "output differs (step %zu)",
                  step_bytes);
    ck_assert_int_eq(log.paused, 1);
    ck_assert_int_eq(log.resumed, 1);
    ck_assert_int_eq(ref_frees, refs);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(up), 0);

    /* Fed back to a third stack, the output gives the messages again. */
    struct mlog back = {0};
    struct wire_transport *bst = stack_new(c, &back);
    ck_assert_int_eq(wire_string_transport_feed(bst, out, olen), 0);
    ck_assert_int_eq(back.msgs, nmsg);
    for (int i = 0; i < nmsg; i++)
        ck_assert_uint_eq(back.lens[i], strlen(msgs[i]));
    stack_free(bst, &back);
    mlog_free(&back);

    stack_free(rst, &ref);
    mlog_free(&ref);
    stack_free(st, &log);
    ck_assert_int_eq(ref_frees, refs);
    mlog_free(&log);
}

START_TEST(test_flow_control)
{
    struct stack_cfg cfgs[4];
    cfgs[0] = chunk_cfg(NULL, 0);
    cfgs[1] = chunk_cfg("\r\n\r\n", 0);
    cfgs[2] = ns_cfg(0);
    cfgs[3] = lp_cfg(4, false, 0);
    static const size_t steps[] = {1, 3, 7, 64};
    for (int k = 0; k < 4; k++)
        for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++)
            check_backpressure(&cfgs[k], steps[s]);
}
END_TEST

static void
fr_setup(void)
{
    unit_setup();
    ref_frees = 0;
}

/* Every test ends with every protocol destroyed. */
static void
fr_teardown(void)
{
    ck_assert_int_eq(unit_live_protocols, 0);
}

Suite *
framing_suite(void)
{
    fr_seed_init();
    Suite *s = suite_create("framing");
    TCase *tc = tcase_create("chunk");
    tcase_add_checked_fixture(tc, fr_setup, fr_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_chunk_newline);
    tcase_add_test(tc, test_chunk_empty_chunks);
    tcase_add_test(tc, test_chunk_crlfcrlf);
    tcase_add_test(tc, test_chunk_self_overlapping);
    tcase_add_test(tc, test_chunk_random_inputs_match_reference);
    tcase_add_test(tc, test_lines_crlf);
    tcase_add_test(tc, test_lines_write);
    tcase_add_test(tc, test_chunk_write_framing);
    tcase_add_test(tc, test_chunk_write_multibyte);
    tcase_add_test(tc, test_chunk_write_seams_random);
    tcase_add_test(tc, test_chunk_write_ref_zero_copy);
    tcase_add_test(tc, test_chunk_write_wrong_transport);
    tcase_add_test(tc, test_write_eof_after_frames);
    suite_add_tcase(s, tc);

    tc = tcase_create("chunk-errors");
    tcase_add_checked_fixture(tc, fr_setup, fr_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_chunk_max_len);
    tcase_add_test(tc, test_chunk_max_len_multibyte_and_crlf);
    tcase_add_test(tc, test_chunk_fails_early);
    tcase_add_test(tc, test_chunk_eof_mid_chunk);
    tcase_add_test(tc, test_chunk_lower_error_mid_chunk);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_invalid_opts);
    suite_add_tcase(s, tc);

    tc = tcase_create("lenprefix");
    tcase_add_checked_fixture(tc, fr_setup, fr_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_lenprefix_widths);
    tcase_add_test(tc, test_lenprefix_write_exact);
    tcase_add_test(tc, test_lenprefix_write_too_long);
    tcase_add_test(tc, test_lenprefix_counts_header);
    tcase_add_test(tc, test_lenprefix_max_len);
    tcase_add_test(tc, test_lenprefix_absurd_length);
    tcase_add_test(tc, test_lenprefix_eof_mid_message);
    tcase_add_test(tc, test_netstring);
    tcase_add_test(tc, test_lenprefix_spanning_many_reads);
    suite_add_tcase(s, tc);

    tc = tcase_create("callbacks");
    tcase_add_checked_fixture(tc, fr_setup, fr_teardown);
    tcase_add_test(tc, test_callback_chunk);
    tcase_add_test(tc, test_callback_lenprefix);
    tcase_add_test(tc, test_callback_no_message);
    suite_add_tcase(s, tc);

    tc = tcase_create("reentrancy");
    tcase_add_checked_fixture(tc, fr_setup, fr_teardown);
    tcase_add_test(tc, test_pause_holds_messages);
    tcase_add_test(tc, test_pause_then_resume_all);
    tcase_add_test(tc, test_close_inside_message);
    tcase_add_test(tc, test_close_while_messages_held);
    suite_add_tcase(s, tc);

    tc = tcase_create("flow");
    tcase_add_checked_fixture(tc, fr_setup, fr_teardown);
    tcase_add_test(tc, test_flow_control);
    suite_add_tcase(s, tc);
    return s;
}
