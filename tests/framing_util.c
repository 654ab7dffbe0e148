/*
 * The framing suites' helpers (see framing.h): the seeded generator, the
 * stacks, and the runner that feeds one input every way and checks that
 * every way gives the same messages and the same end.
 */
#include "framing.h"

#include <wire/fault.h>

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

/* ---- watching the layer's receive path ---- */

struct fr_paths fr_paths;

const char *fr_first_data;

void
fr_paths_reset(void)
{
    memset(&fr_paths, 0, sizeof(fr_paths));
    fr_first_data = NULL;
}

void
fr_note_data(struct rec_log *log, struct wire_transport *t, const void *data,
             size_t len)
{
    (void)log;
    (void)t;
    (void)len;
    if (fr_first_data == NULL)
        fr_first_data = data;
}

void
fr_pause_on_long(struct rec_log *log, struct wire_transport *t,
                 const void *data, size_t len)
{
    (void)log;
    (void)data;
    if (len > 1000)
        ck_assert_int_eq(wire_transport_pause_reading(t), 0);
}

void
fr_end_clean(struct wire_transport *st, struct rec_log *log)
{
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert(log->lost_null && log->eof == 1);
    stack_free(st, log);
}

struct fr_bufs
fr_bufs_new(size_t cap)
{
    struct fr_bufs b = {malloc(cap), malloc(cap + 1), 0, 0};
    ck_assert(b.in != NULL && b.want != NULL);
    b.want[0] = '\0';
    return b;
}

void
fr_bufs_free(struct fr_bufs *b)
{
    free(b->in);
    free(b->want);
}

char
fr_byte(size_t i)
{
    return (char)('a' + (i * 7 + i / 26) % 26);
}

void
fr_bufs_add(struct fr_bufs *b, size_t len, size_t seed)
{
    for (size_t i = 0; i < len; i++) {
        b->in[b->n++] = (unsigned char)fr_byte(seed + i);
        b->want[b->k++] = fr_byte(seed + i);
    }
    b->want[b->k++] = '|';
    b->want[b->k] = '\0';
}

/* The layer's protocol below gets a copy of its ops table whose
 * receive entries count, then call the layer's own. */
struct spy {
    struct wire_protocol_ops ops; /* first: found back from p->ops */
    const struct wire_protocol_ops *orig;
};

static const struct spy *
spy_of(const struct wire_protocol *p)
{
    return (const struct spy *)(const void *)p->ops;
}

static void
spy_data(struct wire_protocol *p, const void *data, size_t len)
{
    fr_paths.recv_reads++;
    fr_paths.recv_bytes += len;
    spy_of(p)->orig->data_received(p, data, len);
}

static void *
spy_get_buffer(struct wire_protocol *p, size_t hint, size_t *len)
{
    fr_paths.asked++;
    void *buf = spy_of(p)->orig->get_buffer(p, hint, len);
    if (buf != NULL) {
        ck_assert_uint_gt(*len, 0);
        fr_paths.offered++;
        fr_paths.last_buf = buf;
    }
    return buf;
}

static void
spy_buffer_updated(struct wire_protocol *p, size_t n)
{
    fr_paths.updates++;
    fr_paths.bytes += n;
    spy_of(p)->orig->buffer_updated(p, n);
}

static void
spy_destroy(struct wire_protocol *p)
{
    const struct spy *s = spy_of(p);
    const struct wire_protocol_ops *orig = s->orig;
    p->ops = orig;
    free((void *)(uintptr_t)s);
    orig->destroy(p);
}

void
fr_spy_on(struct wire_protocol *p)
{
    struct spy *s = malloc(sizeof(*s));
    ck_assert_ptr_nonnull(s);
    s->ops = *p->ops;
    s->orig = p->ops;
    s->ops.data_received = spy_data;
    if (s->ops.get_buffer != NULL) {
        s->ops.get_buffer = spy_get_buffer;
        s->ops.buffer_updated = spy_buffer_updated;
    }
    s->ops.destroy = spy_destroy;
    p->ops = &s->ops;
}

struct wire_transport *
stack_new(const struct stack_cfg *c, struct rec_log *log)
{
    return stack_new_path(c, log, PATH_BUFFERED);
}

struct wire_transport *
stack_new_path(const struct stack_cfg *c, struct rec_log *log, int path)
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
    fr_spy_on(p);
    if (path == PATH_DATA) {
        /* Every fault off: the fault layer only passes reads up, as
         * data_received (a layer offers no get_buffer to the one above). */
        p = wire_fault_layer_new(p, NULL, &err);
        ck_assert_msg(p != NULL, "fault: %s", err.message ? err.message : "?");
    }
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
    run_split_path(c, in, len, cuts, ncuts, e, what, PATH_BUFFERED);
    run_split_path(c, in, len, cuts, ncuts, e, what, PATH_DATA);
}

void
run_split_path(const struct stack_cfg *c, const void *in, size_t len,
               const size_t *cuts, size_t ncuts, const struct expect *e,
               const char *what, int path)
{
    char ctx[300];
    snprintf(ctx, sizeof(ctx), "%s, %s [WIRE_TEST_SEED=%u]", what,
             path == PATH_DATA ? "data_received" : "get_buffer", fr_seed);
    struct rec_log log = {0};
    unsigned long updates = fr_paths.updates;
    struct wire_transport *st = stack_new_path(c, &log, path);
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
                  "%s: messages '%.300s', expected '%.300s' (the first "
                  "300 of %zu and %zu bytes)",
                  ctx, rec_escaped(&log), e->marks, strlen(rec_escaped(&log)),
                  strlen(e->marks));
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
    if (path == PATH_DATA)
        ck_assert_msg(fr_paths.updates == updates,
                      "%s: a read came through get_buffer", ctx);
    stack_free(st, &log);
    ck_assert_int_eq(unit_live_protocols, 0);
}

/* Random cuts into `cuts` (room for `len` of them), pieces of 1 to a
 * random cap of bytes; writes their description into `ctx`.  Returns
 * how many. */
static size_t
random_cuts(size_t len, size_t *cuts, const size_t *caps, size_t ncaps,
            char *ctx, size_t ctxlen, int r)
{
    size_t cap = caps[fr_rand_below(ncaps)];
    size_t n = 0, off = 0;
    int w = snprintf(ctx, ctxlen, "random split %d, cuts:", r);
    while (len > 0) {
        off += 1 + fr_rand_below(cap);
        if (off >= len)
            break;
        cuts[n++] = off;
        if (w > 0 && (size_t)w < ctxlen - 12)
            w += snprintf(ctx + w, ctxlen - (size_t)w, " %zu", off);
    }
    return n;
}

/* Whole and byte by byte; returns room for `len` cuts (the caller frees). */
static size_t *
run_whole_and_bytes(const struct stack_cfg *c, const void *in, size_t len,
                    const struct expect *e)
{
    size_t *cuts = calloc(len + 1, sizeof(*cuts));
    ck_assert_ptr_nonnull(cuts);
    run_split(c, in, len, NULL, 0, e, "whole");
    for (size_t i = 1; i < len; i++)
        cuts[i - 1] = i;
    run_split(c, in, len, cuts, len > 0 ? len - 1 : 0, e, "byte by byte");
    return cuts;
}

void
run_all_splits(const struct stack_cfg *c, const void *in, size_t len,
               const struct expect *e, int nrandom)
{
    char ctx[160];
    size_t *cuts = run_whole_and_bytes(c, in, len, e);

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
        size_t n = random_cuts(len, cuts, caps, sizeof(caps) / sizeof(caps[0]),
                               ctx, sizeof(ctx), r);
        run_split(c, in, len, cuts, n, e, ctx);
    }
    free(cuts);
}

void
run_long_splits(const struct stack_cfg *c, const void *in, size_t len,
                const size_t *marks, size_t nmarks, size_t near,
                size_t stride, const struct expect *e, int nrandom)
{
    char ctx[160];
    size_t *cuts = run_whole_and_bytes(c, in, len, e);
    for (size_t i = 1; i < len; i++) {
        bool close_to_mark = false;
        for (size_t m = 0; m < nmarks && !close_to_mark; m++)
            close_to_mark = i + near >= marks[m] && i <= marks[m] + near;
        if (!close_to_mark && i % stride != 0)
            continue;
        snprintf(ctx, sizeof(ctx), "cut at %zu", i);
        run_split(c, in, len, &i, 1, e, ctx);
    }
    static const size_t caps[] = {1, 100, 4096, 20000, 65536};
    for (int r = 0; r < nrandom; r++) {
        size_t n = random_cuts(len, cuts, caps, sizeof(caps) / sizeof(caps[0]),
                               ctx, sizeof(ctx), r);
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
