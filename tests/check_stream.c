/*
 * The stream reader/writer (<wire/stream.h>), sans-I/O over the string
 * transport.  Every read kind is fed whole, byte by byte and in seeded
 * random splits (WIRE_TEST_SEED changes the seeds; failures print them),
 * with exact expectations: what each read returned, in order, with its
 * error.  Around that: a read's callback never runs inside the call that
 * asked for it, yet many messages in one feed are parsed without
 * recursion; reads asked outside callbacks wait for the loop (the
 * transport's step); read_until's limit fails without losing data; the
 * buffering limit pauses and resumes the transport's reading; EOF, errors,
 * close and abort answer every pending read and drain waiter, then call
 * `closed` once and `destroy` once.  The showcase at the end is a small
 * binary protocol written sequentially, as ohneio's examples read.
 */
#include "unit.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- splits and seeds ---- */

/* What the current run feeds, for failure messages. */
static char where[160];

/* The suite's base seed (unit_seed: WIRE_TEST_SEED, or one per run); a
 * failure names the value that replays it. */
static unsigned
base_seed(void)
{
    return unit_seed();
}

/* How run `i` cuts `len` bytes into feeds: 0 whole, 1 byte by byte, else
 * random pieces (mostly small, some larger) from a seed.  Returns the
 * piece sizes (free them) and their count; describes the run in `where`. */
static size_t *
plan_cuts(int i, size_t len, size_t *count)
{
    size_t *cut = calloc(len + 1, sizeof(*cut));
    size_t n = 0;
    ck_assert_ptr_nonnull(cut);
    if (i == 0) {
        snprintf(where, sizeof(where), "fed whole");
        if (len > 0)
            cut[n++] = len;
    } else if (i == 1) {
        snprintf(where, sizeof(where), "fed byte by byte");
        for (size_t k = 0; k < len; k++)
            cut[n++] = 1;
    } else {
        unsigned base = base_seed();
        unsigned seed = base * 2654435761u + (unsigned)i;
        snprintf(where, sizeof(where), "fed in random splits, run %d "
                 "(replay: WIRE_TEST_SEED=%u)", i, base);
        for (size_t off = 0; off < len;) {
            size_t max = rand_r(&seed) % 4 == 0 ? 48 : 6;
            size_t k = 1 + (size_t)rand_r(&seed) % max;
            if (k > len - off)
                k = len - off;
            cut[n++] = k;
            off += k;
        }
    }
    *count = n;
    return cut;
}

/* The number of runs each split test makes: whole, bytes, 20 random. */
#define SPLIT_RUNS 22

#define EXPECT_STR(got, want)                                                 \
    do {                                                                      \
        const char *g__ = (got), *w__ = (want);                               \
        ck_assert_msg(strcmp(g__, w__) == 0, "%s:\n  got  \"%s\"\n  want \"%s\"", \
                      where, g__, w__);                                       \
    } while (0)

#define EXPECT(cond)                                                          \
    ck_assert_msg((cond), "%s: failed: %s", where, #cond)

/* ---- the stream under test, and a record of everything it reported ---- */

enum op { END, READ, EXACT, UNTIL, LINE, TO_EOF };

/* One step of a script: the read to ask when the previous one completed. */
struct step {
    enum op op;
    size_t n;        /* READ/EXACT: the count */
    const char *sep; /* UNTIL */
};

struct sx;
typedef void (*sx_read_hook)(struct sx *x, const char *data, size_t len,
                             const struct wire_error *err);

struct sx {
    struct wire_transport *t;
    struct wire_stream *s;
    /* every completion in order: the data, "!NAME" on error, then '|';
     * drains as "drain:X|", the end as "closed|" or "closed!NAME|" */
    char *log;
    size_t log_len, log_cap;
    int opened, closed, destroyed, reads;
    int closed_code;
    /* callbacks running now: never more than one (no recursion) */
    int depth, max_depth;
    uintptr_t fp_min, fp_max;
    /* a chain of reads, each asked by the previous one's callback */
    const struct step *script;
    size_t next;
    /* or the test's own reaction: to every read, or to the first only */
    void (*on_open)(struct sx *x);
    sx_read_hook on_read;
    void (*on_first_read)(struct sx *x);
    size_t user_n;
    int user_i;
};

/* True while a test's call that asks for a read or drain is running: no
 * callback may run then. */
static bool asking;

static void
log_add(struct sx *x, const void *data, size_t len)
{
    unit_append(&x->log, &x->log_len, &x->log_cap, data, len);
}

static void
log_str(struct sx *x, const char *s)
{
    log_add(x, s, strlen(s));
}

static void
log_err(struct sx *x, const struct wire_error *err)
{
    if (err == NULL)
        return;
    ck_assert_int_ne(err->code, 0);
    ck_assert_ptr_nonnull(err->message);
    log_str(x, "!");
    log_str(x, wire_err_name(err->code));
}

static const char *
sx_log(const struct sx *x)
{
    return x->log != NULL ? x->log : "";
}

/* Every callback starts here: not inside an asking call, not nested in
 * another callback, and on the stream we know. */
static void
enter(struct sx *x, struct wire_stream *s)
{
    ck_assert_msg(!asking, "%s: a callback ran inside the call that asked",
                  where);
    ck_assert_msg(x->depth == 0, "%s: callbacks nested", where);
    if (x->s != NULL)
        ck_assert_ptr_eq(s, x->s);
    x->depth++;
    if (x->depth > x->max_depth)
        x->max_depth = x->depth;
}

static void
leave(struct sx *x)
{
    x->depth--;
}

static void read_cb(struct wire_stream *s, const void *data, size_t len,
                    const struct wire_error *err, void *arg);

/* Ask for one read the way a user would, with `asking` set around it. */
static int
ask(struct sx *x, enum op op, size_t n, const char *sep)
{
    int rc = WIRE_EINVAL;
    asking = true;
    switch (op) {
    case READ:
        rc = wire_stream_read(x->s, n, read_cb, x);
        break;
    case EXACT:
        rc = wire_stream_read_exactly(x->s, n, read_cb, x);
        break;
    case UNTIL:
        rc = wire_stream_read_until(x->s, sep, n ? n : strlen(sep), read_cb, x);
        break;
    case LINE:
        rc = wire_stream_read_line(x->s, read_cb, x);
        break;
    case TO_EOF:
        rc = wire_stream_read_to_eof(x->s, read_cb, x);
        break;
    default:
        ck_abort_msg("not a read");
    }
    asking = false;
    return rc;
}

/* Go on with the script: ask for its next read, if any. */
static void
run_script(struct sx *x)
{
    if (x->script != NULL && x->script[x->next].op != END) {
        const struct step *st = &x->script[x->next++];
        ck_assert_int_eq(ask(x, st->op, st->n, st->sep), 0);
    }
}

static void
read_cb(struct wire_stream *s, const void *data, size_t len,
        const struct wire_error *err, void *arg)
{
    struct sx *x = arg;
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    enter(x, s);
    if (x->fp_min == 0 || fp < x->fp_min)
        x->fp_min = fp;
    if (fp > x->fp_max)
        x->fp_max = fp;
    ck_assert_ptr_nonnull(data);
    x->reads++;
    log_add(x, data, len);
    log_err(x, err);
    log_str(x, "|");
    if (x->on_first_read != NULL) {
        if (x->reads == 1)
            x->on_first_read(x);
    } else if (x->on_read != NULL) {
        x->on_read(x, data, len, err);
    } else {
        run_script(x);
    }
    leave(x);
}

struct waiter_tag {
    struct sx *x;
    const char *name;
    bool again; /* ask for another drain from inside the callback */
};

static void
drain_cb(struct wire_stream *s, const struct wire_error *err, void *arg);

static int
ask_drain(struct waiter_tag *w)
{
    asking = true;
    int rc = wire_stream_drain(w->x->s, drain_cb, w);
    asking = false;
    return rc;
}

/* Every drain callback starts here: "drain:NAME|", "!ERR" before the '|'
 * when it failed. */
static void
enter_drain(struct waiter_tag *w, struct wire_stream *s,
            const struct wire_error *err)
{
    enter(w->x, s);
    log_str(w->x, "drain:");
    log_str(w->x, w->name);
    log_err(w->x, err);
    log_str(w->x, "|");
}

static void
drain_cb(struct wire_stream *s, const struct wire_error *err, void *arg)
{
    struct waiter_tag *w = arg;
    enter_drain(w, s, err);
    if (w->again) {
        w->again = false;
        ck_assert_int_eq(ask_drain(w), 0);
    }
    leave(w->x);
}

static void
sx_open(struct wire_stream *s, void *arg)
{
    struct sx *x = arg;
    enter(x, s);
    x->s = s;
    x->opened++;
    ck_assert_ptr_nonnull(wire_stream_transport(s));
    ck_assert_uint_eq(wire_stream_buffered(s), 0);
    ck_assert(!wire_stream_at_eof(s));
    if (x->on_open != NULL)
        x->on_open(x);
    else
        run_script(x);
    leave(x);
}

/* The end: once, after every read and waiter.  Everything a user might
 * still try from here is refused, and closing again is harmless. */
static void
sx_closed(struct wire_stream *s, const struct wire_error *err, void *arg)
{
    struct sx *x = arg;
    enter(x, s);
    if (x->s == NULL)
        x->s = s; /* the showcase's own open does not record it */
    ck_assert_int_eq(x->closed, 0);
    x->closed++;
    x->closed_code = err != NULL ? err->code : 0;
    log_str(x, "closed");
    log_err(x, err);
    log_str(x, "|");
    ck_assert_ptr_null(wire_stream_transport(s));
    ck_assert_int_eq(wire_stream_write(s, "x", 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_stream_write_eof(s), WIRE_ECLOSED);
    ck_assert_int_eq(ask(x, EXACT, 1, NULL), WIRE_ECLOSED);
    struct waiter_tag w = {x, "late", false};
    ck_assert_int_eq(ask_drain(&w), WIRE_ECLOSED);
    wire_stream_close(s);
    wire_stream_abort(s);
    leave(x);
}

static void
sx_destroy(void *arg)
{
    struct sx *x = arg;
    x->destroyed++;
    unit_live_protocols--;
}

static const struct wire_stream_handler sx_handler = {
    .open = sx_open,
    .closed = sx_closed,
    .destroy = sx_destroy,
};

static void
sx_start_with(struct sx *x, const struct wire_stream_opts *o,
              const struct wire_stream_handler *h)
{
    struct wire_protocol *p = wire_stream_new(o, h, x);
    ck_assert_ptr_nonnull(p);
    unit_live_protocols++;
    x->t = wire_string_transport_new(p);
    ck_assert_ptr_nonnull(x->t);
}

static void
sx_start(struct sx *x, const struct wire_stream_opts *o)
{
    sx_start_with(x, o, &sx_handler);
    ck_assert_int_eq(x->opened, 1);
    ck_assert_ptr_eq(wire_stream_transport(x->s), x->t);
}

/* Free the transport (aborting it if still open) and check the end
 * happened exactly once, and (unless NULL) the whole record. */
static void
sx_finish(struct sx *x, const char *want)
{
    wire_string_transport_free(x->t);
    if (want != NULL)
        EXPECT_STR(sx_log(x), want);
    ck_assert_int_eq(x->closed, 1);
    ck_assert_int_eq(x->destroyed, 1);
    ck_assert_int_eq(x->depth, 0);
    ck_assert_int_le(x->max_depth, 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    free(x->log);
    x->log = NULL;
}

static void
sx_end(struct sx *x)
{
    sx_finish(x, NULL);
}

/* Feed `data` as the pieces `cut` says. */
static void
feed_cuts(struct sx *x, const char *data, const size_t *cut, size_t ncut)
{
    size_t off = 0;
    for (size_t k = 0; k < ncut; k++) {
        ck_assert_int_eq(wire_string_transport_feed(x->t, data + off, cut[k]), 0);
        off += cut[k];
    }
}

/* Feed `len` bytes as run `i` cuts them. */
static void
feed_run(struct sx *x, int i, const char *data, size_t len)
{
    size_t ncut;
    size_t *cut = plan_cuts(i, len, &ncut);
    feed_cuts(x, data, cut, ncut);
    free(cut);
}

/* The end of input: EOF, then the application closes, then the loop turns. */
static void
eof_and_close(struct sx *x)
{
    ck_assert_int_eq(wire_string_transport_feed_eof(x->t), 0);
    ck_assert(!wire_transport_is_closing(x->t)); /* the stream keeps writing */
    wire_stream_close(x->s);
    ck_assert_int_eq(x->closed, 0); /* only from the loop */
    wire_string_transport_step(x->t);
    ck_assert_int_eq(x->closed, 1);
}

/* ---- every read kind, every split ---- */

static const char kinds_in[] =
    "HEAD" "line one\n" "key: value\r\n" "partial\r\r\n" "X"
    "body--END--" "more\n" "tail bytes, no newline";

static const struct step kinds_script[] = {
    {EXACT, 4, NULL},
    {LINE, 0, NULL},
    {UNTIL, 0, "\r\n"},
    {UNTIL, 0, "\r\n"},  /* "\r\r\n": the first '\r' is data */
    {EXACT, 0, NULL},    /* zero bytes completes, in its turn */
    {EXACT, 1, NULL},
    {UNTIL, 0, "--END--"},
    {LINE, 0, NULL},
    {TO_EOF, 0, NULL},
    /* after the end of input */
    {READ, 5, NULL},     /* 0 bytes, no error */
    {EXACT, 3, NULL},    /* EINCOMPLETE, nothing */
    {LINE, 0, NULL},     /* EINCOMPLETE, nothing */
    {TO_EOF, 0, NULL},   /* 0 bytes, no error */
    {END, 0, NULL},
};

START_TEST(test_read_kinds_split)
{
    struct sx x = {.script = kinds_script};
    sx_start(&x, NULL);
    /* Everything but read_to_eof is answered as soon as its bytes are in:
     * after each feed the record holds exactly the reads complete by then. */
    static const char *const done[] = {"HEAD", "line one\n", "key: value\r\n",
                                       "partial\r\r\n", "", "X", "body--END--",
                                       "more\n"};
    size_t ncut, fed = 0;
    size_t *cut = plan_cuts(_i, sizeof(kinds_in) - 1, &ncut);
    for (size_t k = 0; k < ncut; k++) {
        ck_assert_int_eq(wire_string_transport_feed(x.t, kinds_in + fed, cut[k]), 0);
        fed += cut[k];
        char want[128] = "";
        size_t end = 0;
        for (size_t m = 0; m < sizeof(done) / sizeof(done[0]); m++) {
            end += strlen(done[m]);
            if (end > fed)
                break;
            strcat(want, done[m]);
            strcat(want, "|");
        }
        EXPECT_STR(sx_log(&x), want);
    }
    free(cut);
    EXPECT_STR(sx_log(&x), "HEAD|line one\n|key: value\r\n|partial\r\r\n||X|"
                           "body--END--|more\n|");
    EXPECT(wire_stream_buffered(x.s) == strlen("tail bytes, no newline"));
    EXPECT(!wire_stream_at_eof(x.s));
    ck_assert_int_eq(wire_string_transport_feed_eof(x.t), 0);
    EXPECT_STR(sx_log(&x), "HEAD|line one\n|key: value\r\n|partial\r\r\n||X|"
                           "body--END--|more\n|tail bytes, no newline|"
                           "|!WIRE_EINCOMPLETE|!WIRE_EINCOMPLETE||");
    EXPECT(wire_stream_at_eof(x.s));
    EXPECT(x.reads == 13);
    wire_stream_close(x.s);
    EXPECT(x.closed == 0);
    wire_string_transport_step(x.t);
    EXPECT(x.closed == 1 && x.closed_code == 0);
    sx_end(&x);
}
END_TEST

/* read(n): what each read gets depends on what arrived; with the feeds
 * known it is exact: each feed is handed out in pieces of at most n. */
static void
read_n_again(struct sx *x, const char *data, size_t len,
             const struct wire_error *err)
{
    (void)data;
    ck_assert_ptr_null(err);
    ck_assert_uint_le(len, x->user_n);
    if (len > 0)
        ck_assert_int_eq(ask(x, READ, x->user_n, NULL), 0);
}

static void
read_n_open(struct sx *x)
{
    ck_assert_int_eq(ask(x, READ, x->user_n, NULL), 0);
}

START_TEST(test_read_n_split)
{
    static const char in[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";
    static const size_t ns[] = {1, 3, 5, 64};
    size_t len = sizeof(in) - 1;
    for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++) {
        struct sx x = {.on_open = read_n_open, .on_read = read_n_again,
                       .user_n = ns[j]};
        sx_start(&x, NULL);
        size_t ncut;
        size_t *cut = plan_cuts(_i, len, &ncut);
        /* The expectation, from the cuts. */
        char *want = malloc(2 * len + 8);
        ck_assert_ptr_nonnull(want);
        size_t w = 0, off = 0;
        for (size_t k = 0; k < ncut; k++) {
            for (size_t left = cut[k]; left > 0;) {
                size_t c = left < ns[j] ? left : ns[j];
                memcpy(want + w, in + off, c);
                w += c;
                off += c;
                left -= c;
                want[w++] = '|';
            }
        }
        want[w] = '\0';
        feed_cuts(&x, in, cut, ncut);
        EXPECT_STR(sx_log(&x), want);
        /* At the end of input read(n) gives 0 bytes and no error. */
        ck_assert_int_eq(wire_string_transport_feed_eof(x.t), 0);
        strcpy(want + w, "|");
        EXPECT_STR(sx_log(&x), want);
        free(want);
        free(cut);
        wire_stream_close(x.s);
        sx_end(&x);
    }
}
END_TEST

/* A multi-byte separator whose near-misses overlap ("\r\n\r" then "\r\n"
 * again), cut at every pair of places. */
START_TEST(test_separator_split_everywhere)
{
    static const char in[] = "a\r\n\rb\r\n\r\r\n\r\nc\r\n\r\n";
    static const struct step script[] = {
        {UNTIL, 0, "\r\n\r\n"}, {UNTIL, 0, "\r\n\r\n"}, {END, 0, NULL},
    };
    const char *want = "a\r\n\rb\r\n\r\r\n\r\n|c\r\n\r\n|";
    size_t len = sizeof(in) - 1;
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b++) {
            struct sx x = {.script = script};
            sx_start(&x, NULL);
            snprintf(where, sizeof(where), "cut at %zu and %zu", a, b);
            size_t cut[3] = {a, b - a, len - b};
            for (int k = 0; k < 3; k++)
                if (cut[k] > 0)
                    ck_assert_int_eq(wire_string_transport_feed(
                                         x.t, in + (k == 0 ? 0 : k == 1 ? a : b),
                                         cut[k]), 0);
            EXPECT_STR(sx_log(&x), want);
            EXPECT(wire_stream_buffered(x.s) == 0);
            sx_end(&x);
        }
    }
}
END_TEST

START_TEST(test_separator_binary_and_longest)
{
    /* A separator with a NUL in it, and one of the longest allowed (64). */
    char sep64[64];
    for (int k = 0; k < 64; k++)
        sep64[k] = (char)('A' + k % 26);
    char in[200];
    size_t len = 0;
    memcpy(in + len, "ab\0\0c\0", 6);
    len += 6;
    memcpy(in + len, "xyz", 3);
    len += 3;
    memcpy(in + len, sep64, 64);
    len += 64;
    struct sx x = {0};
    sx_start(&x, NULL);
    ck_assert_int_eq(ask(&x, UNTIL, 2, "\0c"), 0);
    ck_assert_int_eq(ask(&x, UNTIL, 64, sep64), 0);
    feed_run(&x, _i, in, len);
    EXPECT(x.log_len == len + 2);
    EXPECT(memcmp(x.log, "ab\0\0c|\0xyz", 10) == 0);
    EXPECT(memcmp(x.log + 10, sep64, 64) == 0);
    EXPECT(strcmp(x.log + 74, "|") == 0);
    wire_stream_close(x.s);
    sx_end(&x);
}
END_TEST

START_TEST(test_bad_arguments)
{
    struct sx x = {0};
    char sep65[65];
    memset(sep65, '-', sizeof(sep65));
    sx_start(&x, NULL);
    ck_assert_int_eq(ask(&x, READ, 0, NULL), WIRE_EINVAL);
    ck_assert_int_eq(ask(&x, UNTIL, 65, sep65), WIRE_EINVAL);
    ck_assert_int_eq(wire_stream_read_until(x.s, "", 0, read_cb, &x), WIRE_EINVAL);
    ck_assert_int_eq(wire_stream_read_until(x.s, NULL, 1, read_cb, &x), WIRE_EINVAL);
    ck_assert_int_eq(wire_stream_read_exactly(x.s, 1, NULL, &x), WIRE_EINVAL);
    ck_assert_int_eq(wire_stream_read(NULL, 1, read_cb, &x), WIRE_EINVAL);
    ck_assert_int_eq(wire_stream_drain(x.s, NULL, &x), WIRE_EINVAL);
    /* Nothing was queued by the refused calls. */
    ck_assert_int_eq(wire_string_transport_step(x.t), 0);
    ck_assert_int_eq(wire_string_transport_feed(x.t, "data\n", 5), 0);
    EXPECT_STR(sx_log(&x), "");
    ck_assert_uint_eq(wire_stream_buffered(x.s), 5);
    sx_finish(&x, "closed!WIRE_EABORTED|");
}
END_TEST

/* ---- order and re-entrancy ---- */

START_TEST(test_outside_reads_wait_for_step)
{
    struct sx x = {0};
    sx_start(&x, NULL);
    /* Data first, then reads asked outside any callback: nothing is
     * answered until the loop turns, then all in the order asked. */
    ck_assert_int_eq(wire_string_transport_feed(x.t, "abc\ndefgh.ijkl", 14), 0);
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    ck_assert_int_eq(ask(&x, EXACT, 2, NULL), 0);
    ck_assert_int_eq(ask(&x, UNTIL, 0, "."), 0);
    ck_assert_int_eq(ask(&x, READ, 100, NULL), 0);
    ck_assert_int_eq(ask(&x, EXACT, 0, NULL), 0);
    EXPECT_STR(sx_log(&x), "");
    ck_assert_int_ge(wire_string_transport_step(x.t), 1);
    EXPECT_STR(sx_log(&x), "abc\n|de|fgh.|ijkl||");
    ck_assert_int_eq(wire_string_transport_step(x.t), 0);
    /* Reads first, then data: they wait, then complete in order as the
     * bytes come (in the feed: it is not the call that asked). */
    ck_assert_int_eq(ask(&x, EXACT, 3, NULL), 0);
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    ck_assert_int_eq(ask(&x, TO_EOF, 0, NULL), 0);
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "abc\n|de|fgh.|ijkl||");
    ck_assert_int_eq(wire_string_transport_feed(x.t, "xyz12\nrest", 10), 0);
    EXPECT_STR(sx_log(&x), "abc\n|de|fgh.|ijkl||xyz|12\n|");
    ck_assert_int_eq(wire_string_transport_feed(x.t, " of it", 6), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(x.t), 0);
    EXPECT_STR(sx_log(&x), "abc\n|de|fgh.|ijkl||xyz|12\n|rest of it|");
    /* After the end, reads asked outside still wait for the loop. */
    ck_assert_int_eq(ask(&x, EXACT, 1, NULL), 0);
    ck_assert_int_eq(ask(&x, READ, 1, NULL), 0);
    EXPECT_STR(sx_log(&x), "abc\n|de|fgh.|ijkl||xyz|12\n|rest of it|");
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "abc\n|de|fgh.|ijkl||xyz|12\n|rest of it|"
                           "!WIRE_EINCOMPLETE||");
    wire_stream_close(x.s);
    sx_end(&x);
}
END_TEST

/* Inside a callback, ask for two reads and check neither ran yet: both
 * follow, in order, once this callback returns. */
static void
two_more(struct sx *x)
{
    int before = x->reads;
    ck_assert_int_eq(ask(x, EXACT, 2, NULL), 0);
    ck_assert_int_eq(ask(x, LINE, 0, NULL), 0);
    ck_assert_int_eq(x->reads, before);
    EXPECT_STR(sx_log(x), "first\n|");
}

START_TEST(test_reads_in_callback_queue_in_order)
{
    struct sx x = {.on_first_read = two_more};
    sx_start(&x, NULL);
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    ck_assert_int_eq(ask(&x, READ, 3, NULL), 0); /* asked before the two */
    static const char in[] = "first\nabcdeline\n";
    size_t ncut;
    size_t *cut = plan_cuts(_i, 16, &ncut);
    feed_cuts(&x, in, cut, ncut);
    /* The read(3) asked outside comes before the two asked inside; it
     * gets what followed "first\n" in the same feed, or the next feed. */
    size_t k = 0, end = 0, r;
    while (end < 6)
        end += cut[k++];
    r = end > 6 ? end - 6 : cut[k];
    if (r > 3)
        r = 3;
    char want[64];
    snprintf(want, sizeof(want), "first\n|%.*s|%.2s|%s|", (int)r, in + 6,
             in + 6 + r, in + 8 + r);
    EXPECT_STR(sx_log(&x), want);
    EXPECT(x.reads == 4);
    free(cut);
    sx_end(&x);
}
END_TEST

/* 10,000 messages in one feed, each read asked inside the previous one's
 * callback: all parsed inside that feed, one callback at a time, on one
 * stack frame depth. */
static void
many_next(struct sx *x, const char *data, size_t len,
          const struct wire_error *err)
{
    char want[16];
    ck_assert_ptr_null(err);
    int k = x->user_i++;
    snprintf(want, sizeof(want), "%05d\n", k / 2);
    ck_assert_uint_eq(len, 6);
    ck_assert(memcmp(data, want, 6) == 0);
    if (x->user_i < (int)x->user_n)
        ck_assert_int_eq(ask(x, x->user_i % 2 ? EXACT : LINE, 6, NULL), 0);
}

static void
many_open(struct sx *x)
{
    ck_assert_int_eq(ask(x, LINE, 0, NULL), 0);
}

START_TEST(test_many_messages_one_feed)
{
    enum { N = 10000 };
    char *in = malloc(N * 6 * 2 + 1);
    ck_assert_ptr_nonnull(in);
    for (int k = 0; k < N; k++) { /* every message twice: line, then exact */
        char num[6] = {(char)('0' + k / 10000 % 10), (char)('0' + k / 1000 % 10),
                       (char)('0' + k / 100 % 10), (char)('0' + k / 10 % 10),
                       (char)('0' + k % 10), '\n'};
        memcpy(in + 12 * k, num, 6);
        memcpy(in + 12 * k + 6, num, 6);
    }
    in[12 * N] = '\0';
    struct sx x = {.on_open = many_open, .on_read = many_next,
                   .user_n = 2 * N};
    sx_start(&x, NULL);
    ck_assert_int_eq(wire_string_transport_feed(x.t, in, 12 * N), 0);
    ck_assert_int_eq(x.reads, 2 * N);
    ck_assert_int_eq(x.max_depth, 1);
    /* Every callback ran at the same depth of the stack (a little slack
     * for how the compiler lays out the caller). */
    ck_assert_uint_le(x.fp_max - x.fp_min, 256);
    ck_assert_uint_eq(wire_stream_buffered(x.s), 0);
    ck_assert(wire_transport_is_reading(x.t));
    ck_assert_int_eq(wire_string_transport_step(x.t), 0);
    free(in);
    sx_end(&x);
}
END_TEST

/* close / abort from inside a read callback */
static void
close_in_read(struct sx *x)
{
    if (x->user_n)
        wire_stream_abort(x->s);
    else
        wire_stream_close(x->s);
    /* New reads are refused at once; the closed callback waits. */
    ck_assert_int_eq(ask(x, LINE, 0, NULL), WIRE_ECLOSED);
    ck_assert_int_eq(x->closed, 0);
}

START_TEST(test_close_inside_read)
{
    struct sx x = {.on_first_read = close_in_read};
    sx_start(&x, NULL);
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    /* Reads queued before the close still get what was received (as an
     * asyncio StreamReader keeps its buffer); the last waits in vain. */
    ck_assert_int_eq(wire_string_transport_feed(x.t, "one\ntwo\nthr", 11), 0);
    EXPECT_STR(sx_log(&x), "one\n|two\n|");
    ck_assert(wire_string_transport_closed(x.t));
    ck_assert(!wire_string_transport_aborted(x.t));
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "one\n|two\n|thr!WIRE_ECLOSED|closed|");
    sx_end(&x);
}
END_TEST

START_TEST(test_abort_inside_read)
{
    struct sx x = {.on_first_read = close_in_read, .user_n = 1};
    sx_start(&x, NULL);
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    ck_assert_int_eq(ask(&x, EXACT, 10, NULL), 0);
    ck_assert_int_eq(wire_string_transport_feed(x.t, "one\nab", 6), 0);
    EXPECT_STR(sx_log(&x), "one\n|");
    ck_assert(wire_string_transport_aborted(x.t));
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "one\n|ab!WIRE_EABORTED|closed!WIRE_EABORTED|");
    sx_end(&x);
}
END_TEST

static void
close_in_open(struct sx *x)
{
    ck_assert_int_eq(ask(x, LINE, 0, NULL), 0);
    if (x->user_n)
        wire_stream_abort(x->s);
    else
        wire_stream_close(x->s);
    ck_assert_int_eq(ask(x, LINE, 0, NULL), WIRE_ECLOSED);
    ck_assert_int_eq(wire_stream_write(x->s, "x", 1), WIRE_ECLOSED);
}

START_TEST(test_close_and_abort_inside_open)
{
    for (int k = 0; k < 2; k++) {
        struct sx x = {.on_open = close_in_open, .user_n = (size_t)k};
        sx_start(&x, NULL);
        EXPECT_STR(sx_log(&x), "");
        ck_assert_int_eq(wire_string_transport_feed(x.t, "x\n", 2), WIRE_ECLOSED);
        wire_string_transport_step(x.t);
        EXPECT_STR(sx_log(&x), k ? "!WIRE_EABORTED|closed!WIRE_EABORTED|"
                                 : "!WIRE_ECLOSED|closed|");
        sx_end(&x);
    }
}
END_TEST

/* ---- limits and flow control ---- */

/* Where the stream first holds at least `n` bytes, when fed as `cut`
 * says: the size a failing read gets (it is handed what is buffered). */
static size_t
first_boundary_at_least(const size_t *cut, size_t ncut, size_t n)
{
    size_t sum = 0;
    for (size_t k = 0; k < ncut; k++) {
        sum += cut[k];
        if (sum >= n)
            return sum;
    }
    return sum;
}

/* read_until's limit: EMSGSIZE with what is buffered, which stays; the
 * callback reads it with read_exactly, then lines go on. */
static void
limit_reader(struct sx *x, const char *data, size_t len,
             const struct wire_error *err)
{
    (void)data;
    if (err != NULL && err->code == WIRE_EMSGSIZE) {
        /* Nothing was lost: all of it is still buffered. */
        ck_assert_uint_eq(wire_stream_buffered(x->s), len);
        ck_assert_int_eq(ask(x, EXACT, 17, NULL), 0);
    } else if (err == NULL) {
        ck_assert_int_eq(ask(x, LINE, 0, NULL), 0);
    }
}

START_TEST(test_until_limit_keeps_data)
{
    static const char in[] = "0123456789abcdef\nok\n0123456789abcdef\n";
    struct wire_stream_opts o = {.limit = 8};
    struct sx x = {.on_read = limit_reader};
    size_t len = sizeof(in) - 1, ncut;
    size_t *cut = plan_cuts(_i, len, &ncut);
    sx_start(&x, &o);
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    feed_cuts(&x, in, cut, ncut);
    /* The first failure sees the bytes buffered once 9 (the limit plus
     * the separator) were in; what it got is exact for the split. */
    size_t got = first_boundary_at_least(cut, ncut, 9);
    char want[256];
    /* The second long line starts at 20: its failure sees what was in
     * once 20 + 9 bytes were. */
    size_t got2 = first_boundary_at_least(cut, ncut, 20 + 9) - 20;
    snprintf(want, sizeof(want), "%.*s!WIRE_EMSGSIZE|0123456789abcdef\n|ok\n|"
             "%.*s!WIRE_EMSGSIZE|0123456789abcdef\n|", (int)got, in, (int)got2,
             in + 20);
    EXPECT_STR(sx_log(&x), want);
    free(cut);
    sx_end(&x);
}
END_TEST

START_TEST(test_until_limit_boundary)
{
    /* The separator may start at index `limit` (a line of exactly limit
     * bytes), not one later; the same with a two-byte separator. */
    struct wire_stream_opts o = {.limit = 8};
    static const struct step s1[] = {{LINE, 0, NULL}, {END, 0, NULL}};
    static const struct step s2[] = {{UNTIL, 0, "\r\n"}, {END, 0, NULL}};
    static const struct {
        const struct step *script;
        const char *in;
        const char *want;
    } cases[] = {
        {s1, "01234567\n", "01234567\n|"},
        {s1, "012345678\n", "012345678!WIRE_EMSGSIZE|"},
        {s2, "01234567\r\n", "01234567\r\n|"},
        {s2, "012345678\r\n", "012345678\r!WIRE_EMSGSIZE|"},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (int i = 0; i < 2; i++) {
            struct sx x = {.script = cases[c].script};
            sx_start(&x, &o);
            feed_run(&x, i, cases[c].in, strlen(cases[c].in));
            if (i == 0 && strstr(cases[c].want, "EMSGSIZE") != NULL) {
                /* Fed whole, the failing read is handed everything. */
                char want[64];
                snprintf(want, sizeof(want), "%s!WIRE_EMSGSIZE|", cases[c].in);
                EXPECT_STR(sx_log(&x), want);
            } else {
                EXPECT_STR(sx_log(&x), cases[c].want);
            }
            sx_end(&x);
        }
    }
}
END_TEST

START_TEST(test_exactly_beyond_limit)
{
    /* read_exactly(n) with n over the limit: reading goes on until the
     * n bytes are in (it is not paused at the limit). */
    enum { N = 1000 };
    struct wire_stream_opts o = {.limit = 16};
    char in[N + 5];
    for (int k = 0; k < N + 5; k++)
        in[k] = (char)('a' + k % 23);
    struct sx x = {0};
    sx_start(&x, &o);
    ck_assert_int_eq(ask(&x, EXACT, N, NULL), 0);
    size_t ncut;
    size_t *cut = plan_cuts(_i, N, &ncut);
    size_t off = 0;
    for (size_t k = 0; k < ncut; k++) {
        EXPECT(wire_transport_is_reading(x.t));
        ck_assert_int_eq(wire_string_transport_feed(x.t, in + off, cut[k]), 0);
        off += cut[k];
        EXPECT(x.reads == (off == N ? 1 : 0));
    }
    EXPECT(x.log_len == N + 1 && memcmp(x.log, in, N) == 0);
    /* Then the ordinary limit again: no read pending, 16 may wait... */
    ck_assert_int_eq(wire_string_transport_feed(x.t, in, 16), 0);
    EXPECT(wire_transport_is_reading(x.t));
    /* ...17 pause the transport's reading. */
    ck_assert_int_eq(wire_string_transport_feed(x.t, in, 1), 0);
    EXPECT(!wire_transport_is_reading(x.t));
    free(cut);
    sx_end(&x);
}
END_TEST

START_TEST(test_flow_pause_and_resume)
{
    struct wire_stream_opts o = {.limit = 16};
    struct sx x = {0};
    sx_start(&x, &o);
    ck_assert(wire_transport_is_reading(x.t));
    ck_assert_int_eq(wire_string_transport_feed(x.t, "0123456789abcdef", 16), 0);
    ck_assert(wire_transport_is_reading(x.t));
    ck_assert_int_eq(wire_string_transport_feed(x.t, "g", 1), 0);
    ck_assert(!wire_transport_is_reading(x.t));
    /* The transport holds what comes while paused. */
    ck_assert_int_eq(wire_string_transport_feed(x.t, "HELD!", 5), 0);
    ck_assert_uint_eq(wire_stream_buffered(x.s), 17);
    /* A read that leaves more than the limit buffered keeps it paused. */
    ck_assert_int_eq(ask(&x, EXACT, 0, NULL), 0);
    ck_assert(!wire_transport_is_reading(x.t));
    wire_string_transport_step(x.t);
    ck_assert(!wire_transport_is_reading(x.t));
    /* Consuming resumes reading; the held bytes come on the next turn,
     * and bring the buffer over the limit again. */
    ck_assert_int_eq(ask(&x, EXACT, 1, NULL), 0);
    ck_assert_int_eq(wire_string_transport_step(x.t), 2);
    ck_assert_uint_eq(wire_stream_buffered(x.s), 21);
    ck_assert(!wire_transport_is_reading(x.t));
    ck_assert_int_eq(ask(&x, EXACT, 20, NULL), 0);
    wire_string_transport_step(x.t);
    ck_assert(wire_transport_is_reading(x.t));
    EXPECT_STR(sx_log(&x), "|0|123456789abcdefgHELD|");
    ck_assert_uint_eq(wire_stream_buffered(x.s), 1);
    /* A pending read holds the pause off while it consumes; what is left
     * over the limit afterwards pauses again. */
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    ck_assert_int_eq(wire_string_transport_feed(x.t, "ABCDEFGHIJKLMNO\nQRSTUVWXYZ0123456", 33), 0);
    EXPECT_STR(sx_log(&x), "|0|123456789abcdefgHELD|!ABCDEFGHIJKLMNO\n|");
    ck_assert_uint_eq(wire_stream_buffered(x.s), 17);
    ck_assert(!wire_transport_is_reading(x.t));
    ck_assert_int_eq(ask(&x, READ, 100, NULL), 0);
    wire_string_transport_step(x.t);
    ck_assert(wire_transport_is_reading(x.t));
    sx_end(&x);
}
END_TEST

START_TEST(test_read_to_eof_and_eof_limit)
{
    /* Within eof_limit: reading goes on past the ordinary limit and the
     * read gets everything at EOF. */
    static const char in[] = "0123456789012345678901234567890123456789";
    struct wire_stream_opts o = {.limit = 4, .eof_limit = 40};
    static const struct step script[] = {{TO_EOF, 0, NULL}, {END, 0, NULL}};
    struct sx x = {.script = script};
    sx_start(&x, &o);
    feed_run(&x, _i, in, 40);
    EXPECT(wire_transport_is_reading(x.t));
    EXPECT_STR(sx_log(&x), "");
    eof_and_close(&x);
    EXPECT_STR(sx_log(&x), "0123456789012345678901234567890123456789|closed|");
    sx_end(&x);
}
END_TEST

static void
eof_limit_reader(struct sx *x, const char *data, size_t len,
                 const struct wire_error *err)
{
    (void)data;
    if (err != NULL && err->code == WIRE_EMSGSIZE) {
        ck_assert_uint_eq(wire_stream_buffered(x->s), len);
        ck_assert_int_eq(ask(x, EXACT, len, NULL), 0);
        ck_assert_int_eq(ask(x, TO_EOF, 0, NULL), 0);
    }
}

START_TEST(test_eof_limit_keeps_data)
{
    static const char in[] = "0123456789ABCDEFGHIJ";
    struct wire_stream_opts o = {.limit = 4, .eof_limit = 10};
    struct sx x = {.on_read = eof_limit_reader};
    size_t ncut;
    size_t *cut = plan_cuts(_i, 20, &ncut);
    sx_start(&x, &o);
    ck_assert_int_eq(ask(&x, TO_EOF, 0, NULL), 0);
    feed_cuts(&x, in, cut, ncut);
    /* Each failure is handed what is buffered once more than 10 bytes
     * are: exact for the split; read_exactly then takes just that. */
    char want[256];
    size_t w = 0, pos = 0;
    while (20 - pos > 10) {
        size_t got = first_boundary_at_least(cut, ncut, pos + 11) - pos;
        w += (size_t)snprintf(want + w, sizeof(want) - w,
                              "%.*s!WIRE_EMSGSIZE|%.*s|", (int)got, in + pos,
                              (int)got, in + pos);
        pos += got;
    }
    EXPECT_STR(sx_log(&x), want);
    EXPECT(wire_transport_is_reading(x.t));
    /* The last read_to_eof gets what is left after the last failure. */
    ck_assert_int_eq(wire_string_transport_feed_eof(x.t), 0);
    snprintf(want + w, sizeof(want) - w, "%s|", in + pos);
    EXPECT_STR(sx_log(&x), want);
    EXPECT(wire_stream_at_eof(x.s));
    free(cut);
    wire_stream_close(x.s);
    sx_end(&x);
}
END_TEST

/* ---- the end of input, errors, close, abort ---- */

START_TEST(test_eof_gives_partial_data)
{
    static const struct {
        enum op op;
        size_t n;
        const char *sep;
        const char *in;
        const char *want;
    } cases[] = {
        {EXACT, 10, NULL, "abcd", "abcd!WIRE_EINCOMPLETE|"},
        {UNTIL, 0, "##", "ab#", "ab#!WIRE_EINCOMPLETE|"},
        {LINE, 0, NULL, "no newline", "no newline!WIRE_EINCOMPLETE|"},
        {LINE, 0, NULL, "", "!WIRE_EINCOMPLETE|"},
        {READ, 4, NULL, "", "|"},
        {TO_EOF, 0, NULL, "all of it", "all of it|"},
        {TO_EOF, 0, NULL, "", "|"},
        {EXACT, 0, NULL, "", "|"},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct step script[2] = {{cases[c].op, cases[c].n, cases[c].sep},
                                 {END, 0, NULL}};
        struct sx x = {.script = script};
        sx_start(&x, NULL);
        feed_run(&x, _i, cases[c].in, strlen(cases[c].in));
        if (cases[c].op != EXACT || cases[c].n > 0)
            EXPECT_STR(sx_log(&x), "");
        ck_assert_int_eq(wire_string_transport_feed_eof(x.t), 0);
        EXPECT_STR(sx_log(&x), cases[c].want);
        /* The partial data was consumed. */
        EXPECT(wire_stream_buffered(x.s) == 0);
        EXPECT(wire_stream_at_eof(x.s));
        wire_stream_close(x.s);
        sx_end(&x);
    }
}
END_TEST

START_TEST(test_error_gives_partial_data)
{
    struct sx x = {0};
    struct waiter_tag w = {&x, "A", false};
    sx_start(&x, NULL);
    ck_assert_int_eq(ask(&x, EXACT, 10, NULL), 0);
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    ck_assert_int_eq(ask(&x, TO_EOF, 0, NULL), 0);
    feed_run(&x, _i, "abcdef", 6);
    wire_string_transport_set_capacity(x.t, 0);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(x.t, 4, 0), 0);
    ck_assert_int_eq(wire_stream_write(x.s, "queued out", 10), 0);
    ck_assert_int_eq(ask_drain(&w), 0);
    ck_assert_int_eq(wire_string_transport_feed_error(x.t, -ECONNRESET,
                                                      "read: reset by peer"), 0);
    /* Nothing before the loop turns. */
    EXPECT_STR(sx_log(&x), "");
    /* Until the loss is delivered a read may still be asked: it is
     * answered with the error, not refused. */
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    wire_string_transport_step(x.t);
    /* Reads first (the partial one with its bytes), then the waiter,
     * then closed, all with the error. */
    EXPECT_STR(sx_log(&x), "abcdef!ECONNRESET|!ECONNRESET|!ECONNRESET|"
                           "!ECONNRESET|drain:A!ECONNRESET|closed!ECONNRESET|");
    ck_assert_int_eq(x.closed_code, -ECONNRESET);
    sx_end(&x);
}
END_TEST

START_TEST(test_close_answers_pending_and_refuses_new)
{
    struct sx x = {0};
    sx_start(&x, NULL);
    ck_assert_int_eq(ask(&x, EXACT, 5, NULL), 0);
    ck_assert_int_eq(wire_string_transport_feed(x.t, "ab", 2), 0);
    ck_assert_int_eq(wire_stream_write(x.s, "bye", 3), 0);
    wire_stream_close(x.s);
    struct waiter_tag w = {&x, "A", false};
    struct iovec iov[1] = {{(void *)"x", 1}};
    ck_assert_int_eq(ask(&x, READ, 1, NULL), WIRE_ECLOSED);
    ck_assert_int_eq(ask(&x, TO_EOF, 0, NULL), WIRE_ECLOSED);
    ck_assert_int_eq(ask_drain(&w), WIRE_ECLOSED);
    ck_assert_int_eq(wire_stream_write(x.s, "x", 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_stream_write_sequence(x.s, iov, 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_stream_write_eof(x.s), WIRE_ECLOSED);
    wire_stream_close(x.s); /* twice: nothing more happens */
    EXPECT_STR(sx_log(&x), "");
    ck_assert(wire_string_transport_closed(x.t));
    ck_assert_str_eq(unit_output(x.t), "bye");
    wire_string_transport_step(x.t);
    /* Closed by us before the peer's EOF: the pending read gets its bytes
     * and WIRE_ECLOSED; closed gets NULL (a clean close). */
    EXPECT_STR(sx_log(&x), "ab!WIRE_ECLOSED|closed|");
    ck_assert_int_eq(wire_string_transport_step(x.t), 0);
    sx_end(&x);
}
END_TEST

START_TEST(test_close_flushes_abort_drops)
{
    for (int k = 0; k < 3; k++) {
        struct sx x = {0};
        sx_start(&x, NULL);
        wire_string_transport_set_capacity(x.t, 0);
        ck_assert_int_eq(wire_stream_write(x.s, "queued", 6), 0);
        if (k == 0) {
            /* close waits for the queue, then ends cleanly. */
            wire_stream_close(x.s);
            ck_assert(!wire_string_transport_closed(x.t));
            wire_string_transport_step(x.t);
            EXPECT_STR(sx_log(&x), "");
            wire_string_transport_set_capacity(x.t, SIZE_MAX);
            ck_assert_str_eq(unit_output(x.t), "queued");
            ck_assert(wire_string_transport_closed(x.t));
            wire_string_transport_step(x.t);
            EXPECT_STR(sx_log(&x), "closed|");
        } else {
            /* abort drops it (k == 2: cutting a close short). */
            if (k == 2)
                wire_stream_close(x.s);
            wire_stream_abort(x.s);
            ck_assert(wire_string_transport_aborted(x.t));
            wire_stream_abort(x.s);
            wire_string_transport_step(x.t);
            ck_assert_str_eq(unit_output(x.t), "");
            EXPECT_STR(sx_log(&x), "closed!WIRE_EABORTED|");
        }
        sx_end(&x);
    }
}
END_TEST

START_TEST(test_peer_eof_then_write_then_close)
{
    /* The peer's EOF keeps the connection open for writing (asyncio's
     * StreamReaderProtocol does the same); the application closes. */
    struct sx x = {0};
    sx_start(&x, NULL);
    ck_assert_int_eq(wire_string_transport_feed(x.t, "question?", 9), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(x.t), 0);
    ck_assert(!wire_transport_is_closing(x.t));
    ck_assert_int_eq(ask(&x, TO_EOF, 0, NULL), 0);
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "question?|");
    ck_assert_int_eq(wire_stream_write(x.s, "answer", 6), 0);
    ck_assert_str_eq(unit_output(x.t), "answer");
    ck_assert_int_eq(wire_stream_write_eof(x.s), 0);
    /* Both directions done: the connection ends by itself, cleanly. */
    ck_assert(wire_string_transport_eof_written(x.t));
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "question?|closed|");
    sx_end(&x);
}
END_TEST

START_TEST(test_write_eof_then_read)
{
    struct sx x = {0};
    struct iovec iov[3] = {{(void *)"one ", 4}, {(void *)"", 0}, {(void *)"two", 3}};
    sx_start(&x, NULL);
    ck_assert_int_eq(wire_stream_write_sequence(x.s, iov, 3), 0);
    ck_assert_int_eq(wire_stream_write(x.s, "!", 1), 0);
    ck_assert_int_eq(wire_stream_write_eof(x.s), 0);
    ck_assert(wire_string_transport_eof_written(x.t));
    ck_assert_str_eq(unit_output(x.t), "one two!");
    ck_assert_int_eq(wire_stream_write(x.s, "x", 1), WIRE_ECLOSED);
    /* Reading goes on after our half-close. */
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    ck_assert_int_eq(wire_string_transport_feed(x.t, "reply\n", 6), 0);
    EXPECT_STR(sx_log(&x), "reply\n|");
    ck_assert_int_eq(wire_string_transport_feed_eof(x.t), 0);
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "reply\n|closed|");
    sx_end(&x);
}
END_TEST

START_TEST(test_free_open_stream_aborts)
{
    struct sx x = {0};
    sx_start(&x, NULL);
    ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
    ck_assert_int_eq(wire_string_transport_feed(x.t, "half", 4), 0);
    EXPECT_STR(sx_log(&x), "");
    sx_finish(&x, "half!WIRE_EABORTED|closed!WIRE_EABORTED|");
}
END_TEST

static int never_started_destroyed;

static void
count_destroy(void *arg)
{
    ck_assert_ptr_eq(arg, &never_started_destroyed);
    never_started_destroyed++;
}

START_TEST(test_destroy_never_started)
{
    struct wire_stream_handler h = {.destroy = count_destroy};
    struct wire_protocol *p = wire_stream_new(NULL, &h, &never_started_destroyed);
    ck_assert_ptr_nonnull(p);
    never_started_destroyed = 0;
    wire_protocol_destroy(p);
    ck_assert_int_eq(never_started_destroyed, 1);
    /* No handler at all is fine too. */
    p = wire_stream_new(NULL, NULL, NULL);
    ck_assert_ptr_nonnull(p);
    wire_protocol_destroy(p);
}
END_TEST

/* ---- drain ---- */

START_TEST(test_drain_many_waiters)
{
    struct sx x = {0};
    struct waiter_tag a = {&x, "A", false}, b = {&x, "B", true},
                      c = {&x, "C", false};
    char out[40];
    for (int k = 0; k < 40; k++)
        out[k] = (char)('a' + k % 26);
    sx_start(&x, NULL);
    wire_string_transport_set_capacity(x.t, 0);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(x.t, 16, 4), 0);
    ck_assert_int_eq(wire_stream_write(x.s, out, 40), 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(x.t), 40);
    ck_assert_int_eq(ask_drain(&a), 0);
    ck_assert_int_eq(ask_drain(&b), 0);
    ck_assert_int_eq(ask_drain(&c), 0);
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "");
    /* Down to 20: still above the low watermark (4). */
    wire_string_transport_set_capacity(x.t, 20);
    EXPECT_STR(sx_log(&x), "");
    /* Down to 3: every waiter once, in order.  B asks again from inside;
     * that one is answered on the next turn, not now. */
    wire_string_transport_set_capacity(x.t, 17);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(x.t), 3);
    EXPECT_STR(sx_log(&x), "drain:A|drain:B|drain:C|");
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "drain:A|drain:B|drain:C|drain:B|");
    wire_string_transport_set_capacity(x.t, SIZE_MAX);
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "drain:A|drain:B|drain:C|drain:B|");
    ck_assert(memcmp(unit_output(x.t), out, 40) == 0);
    wire_stream_close(x.s);
    sx_end(&x);
}
END_TEST

START_TEST(test_drain_not_paused_needs_step)
{
    /* Nothing queued (or below the high watermark): the waiters are
     * answered from the loop, never inside drain(). */
    struct sx x = {0};
    struct waiter_tag a = {&x, "A", false}, b = {&x, "B", false};
    sx_start(&x, NULL);
    ck_assert_int_eq(ask_drain(&a), 0);
    wire_string_transport_set_capacity(x.t, 0);
    ck_assert_int_eq(wire_stream_write(x.s, "some", 4), 0);
    ck_assert_int_eq(ask_drain(&b), 0);
    EXPECT_STR(sx_log(&x), "");
    ck_assert_int_ge(wire_string_transport_step(x.t), 1);
    EXPECT_STR(sx_log(&x), "drain:A|drain:B|");
    ck_assert_int_eq(wire_string_transport_step(x.t), 0);
    sx_end(&x);
}
END_TEST

START_TEST(test_drain_error_on_loss)
{
    /* k: 0 abort, 1 reset from the peer, 2 a reset before the loop turned
     * for a waiter that was not paused (it must not be told "drained"). */
    static const char *const want[] = {
        "drain:A!WIRE_EABORTED|drain:B!WIRE_EABORTED|closed!WIRE_EABORTED|",
        "drain:A!EPIPE|drain:B!EPIPE|closed!EPIPE|",
        "drain:A!EPIPE|closed!EPIPE|",
    };
    for (int k = 0; k < 3; k++) {
        struct sx x = {0};
        struct waiter_tag a = {&x, "A", false}, b = {&x, "B", false};
        sx_start(&x, NULL);
        snprintf(where, sizeof(where), "loss kind %d", k);
        wire_string_transport_set_capacity(x.t, 0);
        if (k < 2)
            ck_assert_int_eq(wire_transport_set_write_buffer_limits(x.t, 2, 0), 0);
        ck_assert_int_eq(wire_stream_write(x.s, "stuck", 5), 0);
        ck_assert_int_eq(ask_drain(&a), 0);
        if (k < 2)
            ck_assert_int_eq(ask_drain(&b), 0);
        if (k == 0)
            wire_stream_abort(x.s);
        else
            ck_assert_int_eq(wire_string_transport_feed_error(x.t, -EPIPE,
                                                              "write: broken pipe"), 0);
        EXPECT_STR(sx_log(&x), "");
        wire_string_transport_step(x.t);
        EXPECT_STR(sx_log(&x), want[k]);
        sx_end(&x);
    }
}
END_TEST

START_TEST(test_drain_through_close)
{
    /* Paused, then closed: the close's flush brings the queue down, so
     * the waiter is told it drained, then the connection ends cleanly. */
    struct sx x = {0};
    struct waiter_tag a = {&x, "A", false};
    sx_start(&x, NULL);
    wire_string_transport_set_capacity(x.t, 0);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(x.t, 2, 0), 0);
    ck_assert_int_eq(wire_stream_write(x.s, "last words", 10), 0);
    ck_assert_int_eq(ask_drain(&a), 0);
    wire_stream_close(x.s);
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "");
    wire_string_transport_set_capacity(x.t, SIZE_MAX);
    EXPECT_STR(sx_log(&x), "drain:A|");
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "drain:A|closed|");
    ck_assert_str_eq(unit_output(x.t), "last words");
    sx_end(&x);
}
END_TEST

/* close / abort from inside a drain callback */
static void
drain_then_close(struct wire_stream *s, const struct wire_error *err, void *arg)
{
    struct waiter_tag *w = arg;
    enter_drain(w, s, err);
    if (w->again)
        wire_stream_abort(s);
    else
        wire_stream_close(s);
    leave(w->x);
}

START_TEST(test_close_and_abort_inside_drain)
{
    for (int k = 0; k < 2; k++) {
        struct sx x = {0};
        struct waiter_tag a = {&x, "A", k == 1}, b = {&x, "B", false};
        sx_start(&x, NULL);
        ck_assert_int_eq(ask(&x, LINE, 0, NULL), 0);
        asking = true;
        ck_assert_int_eq(wire_stream_drain(x.s, drain_then_close, &a), 0);
        ck_assert_int_eq(wire_stream_drain(x.s, drain_cb, &b), 0);
        asking = false;
        wire_string_transport_step(x.t);
        /* B was asked before A closed: it is still answered, in order. */
        EXPECT_STR(sx_log(&x), k ? "drain:A|drain:B|!WIRE_EABORTED|closed!WIRE_EABORTED|"
                                 : "drain:A|drain:B|!WIRE_ECLOSED|closed|");
        sx_end(&x);
    }
}
END_TEST

/* ---- the showcase: a small binary protocol, written sequentially ----
 *
 * Frames are a 4-byte big-endian length and that many bytes; the reply to
 * each is its payload upper-cased, framed the same way.  ohneio's echo
 * example is, in essence, one generator:
 *
 *     def echo():
 *         while True:
 *             line = yield from read_until(b'\n')
 *             yield from write(line)
 *
 * and this protocol in that style would be:
 *
 *     def upper():
 *         while True:
 *             n = be32((yield from read_exactly(4)))
 *             payload = yield from read_exactly(n)
 *             yield from write(pack_be32(n) + payload.upper())
 *
 * In C each "yield from read" becomes a read whose callback is the next
 * line of the story, and `while True` is the last step asking for the
 * first read again.  As in ohneio there is no buffer to manage and no "do
 * I have enough bytes yet?": each read is answered once its bytes are in,
 * however the input was split.
 */

#define UPPER_MAX 4096 /* the longest payload we accept */

static void upper_header(struct wire_stream *s, const void *data, size_t len,
                         const struct wire_error *err, void *arg);
static void upper_body(struct wire_stream *s, const void *data, size_t len,
                       const struct wire_error *err, void *arg);

static void
upper_open(struct wire_stream *s, void *arg)
{
    if (wire_stream_read_exactly(s, 4, upper_header, arg) < 0)
        wire_stream_abort(s);
}

static void
upper_header(struct wire_stream *s, const void *data, size_t len,
             const struct wire_error *err, void *arg)
{
    const unsigned char *h = data;
    (void)len;
    if (err != NULL) { /* the input ended, between frames or inside one */
        wire_stream_close(s);
        return;
    }
    uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
                 (uint32_t)h[2] << 8 | h[3];
    if (n > UPPER_MAX || wire_stream_read_exactly(s, n, upper_body, arg) < 0)
        wire_stream_abort(s); /* not our protocol: hang up */
}

static void
upper_body(struct wire_stream *s, const void *data, size_t len,
           const struct wire_error *err, void *arg)
{
    const unsigned char *in = data;
    unsigned char hdr[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8), (unsigned char)len};
    char out[UPPER_MAX];
    if (err != NULL) {
        wire_stream_close(s);
        return;
    }
    for (size_t i = 0; i < len; i++)
        out[i] = (char)toupper(in[i]);
    struct iovec reply[2] = {{hdr, 4}, {out, len}};
    if (wire_stream_write_sequence(s, reply, 2) < 0 ||
        wire_stream_read_exactly(s, 4, upper_header, arg) < 0) /* loop */
        wire_stream_abort(s);
}

static const struct wire_stream_handler upper_handler = {
    .open = upper_open,
    .closed = sx_closed,
    .destroy = sx_destroy,
};

/* The test side: frame payloads, and what the server must answer. */
struct frames {
    char *in, *out;
    size_t in_len, out_len, cap;
    size_t *ends;     /* where each input frame ends */
    size_t *out_ends; /* where its reply ends */
    size_t n, ncap;
};

static void
frames_add(struct frames *f, const char *p, size_t len)
{
    if (f->in_len + 4 + len > f->cap) {
        f->cap = 2 * (f->in_len + 4 + len);
        f->in = realloc(f->in, f->cap);
        f->out = realloc(f->out, f->cap);
    }
    if (f->n == f->ncap) {
        f->ncap = f->ncap ? 2 * f->ncap : 16;
        f->ends = realloc(f->ends, f->ncap * sizeof(*f->ends));
        f->out_ends = realloc(f->out_ends, f->ncap * sizeof(*f->out_ends));
    }
    ck_assert(f->in && f->out && f->ends && f->out_ends);
    unsigned char h[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                          (unsigned char)(len >> 8), (unsigned char)len};
    memcpy(f->in + f->in_len, h, 4);
    memcpy(f->out + f->out_len, h, 4);
    memcpy(f->in + f->in_len + 4, p, len);
    for (size_t i = 0; i < len; i++)
        f->out[f->out_len + 4 + i] = (char)toupper((unsigned char)p[i]);
    f->in_len += 4 + len;
    f->out_len += 4 + len;
    f->ends[f->n] = f->in_len;
    f->out_ends[f->n] = f->out_len;
    f->n++;
}

static void
frames_free(struct frames *f)
{
    free(f->in);
    free(f->out);
    free(f->ends);
    free(f->out_ends);
}

static void
showcase_frames(struct frames *f)
{
    char big[300];
    for (int i = 0; i < 300; i++)
        big[i] = (char)("abcdefghijklmnopqrstuvwxyz !\n\0\xff"[i % 31]);
    memset(f, 0, sizeof(*f));
    frames_add(f, "hello", 5);
    frames_add(f, "", 0);
    frames_add(f, "Wire \0\xff bytes", 13);
    frames_add(f, big, sizeof(big));
    frames_add(f, "x", 1);
}

/* The output so far must be exactly the replies to the frames fully in. */
static void
expect_replies(struct sx *x, const struct frames *f, size_t fed)
{
    size_t want = 0, len;
    for (size_t k = 0; k < f->n && f->ends[k] <= fed; k++)
        want = f->out_ends[k];
    const void *out = wire_string_transport_output(x->t, &len);
    ck_assert_msg(len == want && memcmp(out, f->out, want) == 0,
                  "%s: after %zu bytes in: %zu bytes out, want %zu", where,
                  fed, len, want);
}

START_TEST(test_showcase_split)
{
    struct frames f;
    struct sx x = {0};
    showcase_frames(&f);
    sx_start_with(&x, NULL, &upper_handler);
    size_t ncut, fed = 0;
    size_t *cut = plan_cuts(_i, f.in_len, &ncut);
    for (size_t k = 0; k < ncut; k++) {
        ck_assert_int_eq(wire_string_transport_feed(x.t, f.in + fed, cut[k]), 0);
        fed += cut[k];
        expect_replies(&x, &f, fed);
    }
    /* The end of input between frames: the server closes cleanly. */
    ck_assert_int_eq(wire_string_transport_feed_eof(x.t), 0);
    ck_assert(wire_string_transport_closed(x.t));
    wire_string_transport_step(x.t);
    EXPECT_STR(sx_log(&x), "closed|");
    expect_replies(&x, &f, fed);
    free(cut);
    frames_free(&f);
    sx_end(&x);
}
END_TEST

START_TEST(test_showcase_10000_frames_one_feed)
{
    struct frames f;
    struct sx x = {0};
    memset(&f, 0, sizeof(f));
    for (int k = 0; k < 10000; k++) {
        char p[16];
        int n = snprintf(p, sizeof(p), "frame %d", k);
        frames_add(&f, p, (size_t)(n - k % 3));
    }
    sx_start_with(&x, NULL, &upper_handler);
    ck_assert_int_eq(wire_string_transport_feed(x.t, f.in, f.in_len), 0);
    snprintf(where, sizeof(where), "10000 frames fed whole");
    expect_replies(&x, &f, f.in_len);
    frames_free(&f);
    sx_end(&x);
    EXPECT(x.closed_code == WIRE_EABORTED); /* freed while open */
}
END_TEST

START_TEST(test_showcase_truncated_and_oversized)
{
    struct frames f;
    showcase_frames(&f);
    /* The input ends inside the last frame: replies to the whole ones,
     * then a clean close. */
    struct sx x = {0};
    sx_start_with(&x, NULL, &upper_handler);
    feed_run(&x, _i, f.in, f.in_len - 1);
    ck_assert_int_eq(wire_string_transport_feed_eof(x.t), 0);
    wire_string_transport_step(x.t);
    expect_replies(&x, &f, f.in_len - 1);
    EXPECT_STR(sx_log(&x), "closed|");
    sx_end(&x);
    /* A length over the maximum: abort, nothing answered for it. */
    struct sx y = {0};
    sx_start_with(&y, NULL, &upper_handler);
    feed_run(&y, _i, f.in, f.ends[0]);
    ck_assert_int_eq(wire_string_transport_feed(y.t, "\x7f\xff\xff\xffmore", 8), 0);
    ck_assert(wire_string_transport_aborted(y.t));
    wire_string_transport_step(y.t);
    EXPECT_STR(sx_log(&y), "closed!WIRE_EABORTED|");
    expect_replies(&y, &f, f.ends[0]);
    frames_free(&f);
    sx_end(&y);
}
END_TEST

Suite *
stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = unit_tcase(s, "read");
    tcase_add_loop_test(tc, test_read_kinds_split, 0, SPLIT_RUNS);
    tcase_add_loop_test(tc, test_read_n_split, 0, SPLIT_RUNS);
    tcase_add_test(tc, test_separator_split_everywhere);
    tcase_add_loop_test(tc, test_separator_binary_and_longest, 0, SPLIT_RUNS);
    tcase_add_test(tc, test_bad_arguments);

    tc = unit_tcase(s, "reentrancy");
    tcase_add_test(tc, test_outside_reads_wait_for_step);
    tcase_add_loop_test(tc, test_reads_in_callback_queue_in_order, 0, SPLIT_RUNS);
    tcase_add_test(tc, test_many_messages_one_feed);
    tcase_add_test(tc, test_close_inside_read);
    tcase_add_test(tc, test_abort_inside_read);
    tcase_add_test(tc, test_close_and_abort_inside_open);
    tcase_add_test(tc, test_close_and_abort_inside_drain);

    tc = unit_tcase(s, "limits");
    tcase_add_loop_test(tc, test_until_limit_keeps_data, 0, SPLIT_RUNS);
    tcase_add_test(tc, test_until_limit_boundary);
    tcase_add_loop_test(tc, test_exactly_beyond_limit, 0, SPLIT_RUNS);
    tcase_add_test(tc, test_flow_pause_and_resume);
    tcase_add_loop_test(tc, test_read_to_eof_and_eof_limit, 0, SPLIT_RUNS);
    tcase_add_loop_test(tc, test_eof_limit_keeps_data, 0, SPLIT_RUNS);

    tc = unit_tcase(s, "end");
    tcase_add_loop_test(tc, test_eof_gives_partial_data, 0, SPLIT_RUNS);
    tcase_add_loop_test(tc, test_error_gives_partial_data, 0, SPLIT_RUNS);
    tcase_add_test(tc, test_close_answers_pending_and_refuses_new);
    tcase_add_test(tc, test_close_flushes_abort_drops);
    tcase_add_test(tc, test_peer_eof_then_write_then_close);
    tcase_add_test(tc, test_write_eof_then_read);
    tcase_add_test(tc, test_free_open_stream_aborts);
    tcase_add_test(tc, test_destroy_never_started);

    tc = unit_tcase(s, "drain");
    tcase_add_test(tc, test_drain_many_waiters);
    tcase_add_test(tc, test_drain_not_paused_needs_step);
    tcase_add_test(tc, test_drain_error_on_loss);
    tcase_add_test(tc, test_drain_through_close);

    tc = unit_tcase(s, "showcase");
    tcase_add_loop_test(tc, test_showcase_split, 0, SPLIT_RUNS);
    tcase_add_test(tc, test_showcase_10000_frames_one_feed);
    tcase_add_loop_test(tc, test_showcase_truncated_and_oversized, 0, SPLIT_RUNS);
    return s;
}
