/*
 * The framing suites' helpers (see framing.h): the seeded generator, the
 * stacks, and the runner that feeds one input every way and checks that
 * every way gives the same messages and the same end.
 */
#include "framing.h"

#include <stdlib.h>
#include <string.h>

/* ---- the seed ---- */

unsigned fr_seed;
static uint64_t fr_rng_state;

/* splitmix64: the tests' own generator, so nothing else moves it. */
uint64_t
fr_rand(void)
{
    uint64_t z = (fr_rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void
fr_rand_reset(const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    fr_rng_state = h ^ fr_seed;
}

size_t
fr_rand_below(size_t n)
{
    return n == 0 ? 0 : (size_t)(fr_rand() % n);
}

/* ---- stacks ---- */

static struct stack_cfg
cfg_of(int kind)
{
    struct stack_cfg c;
    memset(&c, 0, sizeof(c));
    c.kind = kind;
    return c;
}

struct stack_cfg
chunk_cfg(const char *delim, size_t max)
{
    struct stack_cfg c = cfg_of(K_CHUNK);
    wire_chunk_opts_init(&c.co);
    if (delim != NULL) {
        c.co.delim = delim;
        c.co.delim_len = strlen(delim);
    }
    if (max != 0)
        c.co.max_len = max;
    return c;
}

struct stack_cfg
lines_cfg(bool accept_crlf, bool write_crlf)
{
    struct stack_cfg c = cfg_of(K_CHUNK);
    wire_lines_opts_init(&c.co, accept_crlf, write_crlf);
    return c;
}

struct stack_cfg
lp_cfg(unsigned width, bool le, uint64_t max)
{
    struct stack_cfg c = cfg_of(K_LENPREFIX);
    wire_lenprefix_opts_init(&c.lo, width, le);
    if (max != 0)
        c.lo.max_len = max;
    return c;
}

struct stack_cfg
ns_cfg(uint64_t max)
{
    struct stack_cfg c = cfg_of(K_LENPREFIX);
    wire_netstring_opts_init(&c.lo);
    if (max != 0)
        c.lo.max_len = max;
    return c;
}

struct stack_cfg
cl_cfg(size_t max)
{
    struct stack_cfg c = cfg_of(K_CONTENT_LENGTH);
    c.cl_max = max;
    return c;
}

struct wire_transport *
stack_new(const struct stack_cfg *c, struct rec_log *log)
{
    struct wire_error err = {0};
    log->messages = true;
    struct wire_protocol *up = rec_new(log);
    struct wire_protocol *p =
        c->kind == K_CHUNK       ? wire_chunk_layer_new(up, &c->co, &err)
        : c->kind == K_LENPREFIX ? wire_lenprefix_layer_new(up, &c->lo, &err)
                                 : wire_content_length_layer_new(up, c->cl_max,
                                                                 &err);
    ck_assert_msg(p != NULL, "layer_new: %s", err.message ? err.message : "?");
    struct wire_transport *st = wire_string_transport_new(p);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(log->made, 1);
    ck_assert_ptr_nonnull(log->t);
    ck_assert_ptr_ne(log->t, st);
    return st;
}

void
stack_free(struct wire_transport *st, struct rec_log *log)
{
    wire_string_transport_free(st);
    ck_assert_int_eq(log->lost, log->made);
    ck_assert_int_eq(log->destroyed, 1);
    rec_log_free(log);
}

/* ---- feeding every way ---- */

void
run_split(const struct stack_cfg *c, const void *in, size_t len,
          const size_t *cuts, size_t ncuts, const struct expect *e,
          const char *what)
{
    char ctx[300];
    snprintf(ctx, sizeof(ctx), "%s [WIRE_TEST_SEED=%u]", what, fr_seed);
    struct rec_log log = {0};
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
    ck_assert_msg(strcmp(rec_escaped(&log), e->marks) == 0,
                  "%s: messages '%s', expected '%s'", ctx, rec_escaped(&log),
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
}

void
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

void
run_cases(const struct stack_cfg *c, const struct split_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        run_all_splits(c, cases[i].in, cases[i].len, &cases[i].e,
                       cases[i].nrandom);
}

/* ---- bad arguments ---- */

void
assert_einval(const void *p, struct wire_error *err, const char *msg)
{
    ck_assert_ptr_null(p);
    ck_assert_int_eq(err->code, WIRE_EINVAL);
    if (msg != NULL)
        ck_assert_str_eq(err->message, msg);
    wire_error_clear(err);
}

/* ---- writes by reference ---- */

int ref_frees;
const void *ref_freed_data;
size_t ref_freed_len;

void
count_free(void *arg, const void *data, size_t len)
{
    ck_assert_ptr_eq(arg, &ref_frees);
    ref_frees++;
    ref_freed_data = data;
    ref_freed_len = len;
}

/* ---- the suites ---- */

static void
fr_setup(void)
{
    unit_setup();
    fr_seed = unit_seed();
    ref_frees = 0;
}

/* Every test ends with every protocol destroyed. */
static void
fr_teardown(void)
{
    ck_assert_int_eq(unit_live_protocols, 0);
}

TCase *
fr_tcase(Suite *s, const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, fr_setup, fr_teardown);
    if (timeout > 0)
        tcase_set_timeout(tc, timeout);
    suite_add_tcase(s, tc);
    return tc;
}
