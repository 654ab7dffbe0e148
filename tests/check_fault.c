/*
 * The fault layer (<wire/fault.h>).
 *
 * Over the string transport (sans-I/O: the test feeds input and steps
 * deferred work by hand) every fault is checked to do exactly what it
 * says: pieces of the sizes asked for, the same pieces for the same seed
 * and other pieces for another, joined input in order and flushed by EOF
 * and steps, pause_reading holding everything the layer holds, short
 * writes counted in the write buffer size and watermarks, close passing
 * down what waits and abort dropping it, callbacks that abort or close
 * while pieces are held, and EOF, reset and error at exactly byte N of
 * each direction.  A small recording layer ("seg") under the fault layer
 * shows how writes were cut.
 *
 * Over the memory pair (a loop: delays and joining run on timers), two
 * protocols stream bytes both ways through fault layers on both ends
 * with every fault but the injected ones on, and check every byte, the
 * order, the half-close, flow control and a clean close; pauses hold
 * delayed input; injected faults cross to the peer as a reset or an EOF.
 * Tests drive the loop until an event or a deadline and never assert on
 * wall-clock speed.
 */
#include "unit.h"
#include "tls_certs.h"

#include <wire/transport_impl.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static struct wire_protocol *
faulted(struct wire_protocol *upper, const struct wire_fault_opts *o)
{
    struct wire_error err = {0};
    struct wire_protocol *p = wire_fault_layer_new(upper, o, &err);
    ck_assert_msg(p != NULL, "wire_fault_layer_new: %s",
                  err.message != NULL ? err.message : "?");
    wire_error_clear(&err);
    return p;
}

/* Letters, so logs print: byte i of stream `s`. */
static void
letters(char *b, size_t n, size_t off, unsigned s)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + ((off + i) * 7 + s + (off + i) / 26) % 26);
}

#define MAXP 20000

/* The length of every data_received, in order. */
struct pieces {
    size_t n;
    size_t len[MAXP];
};

static struct pieces pieces_a, pieces_b;

static void
record_piece(struct rec_log *log, struct wire_transport *t, const void *data,
             size_t len)
{
    struct pieces *p = log->user;
    (void)t;
    (void)data;
    ck_assert_uint_lt(p->n, MAXP);
    p->len[p->n++] = len;
}

/* ---- seg: a layer that records the length of every write below ---- */

struct seg_layer {
    struct wire_layer base; /* first */
    struct pieces *log;
};

static ssize_t
seg_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
{
    struct seg_layer *s = (struct seg_layer *)l;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    ck_assert_uint_lt(s->log->n, MAXP);
    s->log->len[s->log->n++] = total;
    int rc = wire_layer_send(l, iov, iovcnt);
    return rc < 0 ? rc : (ssize_t)total;
}

static void
seg_destroy(struct wire_layer *l)
{
    free(l);
}

static const struct wire_layer_ops seg_ops = {
    .transport = WIRE_LAYER_TRANSPORT_OPS("seg", WIRE_CAP_HALF_CLOSE_IF_LOWER),
    .send = seg_send,
    .destroy = seg_destroy,
};

static struct wire_protocol *
seg_new(struct wire_protocol *upper, struct pieces *log)
{
    struct seg_layer *s = calloc(1, sizeof(*s));
    ck_assert_ptr_nonnull(s);
    s->log = log;
    return wire_layer_init(&s->base, &seg_ops, upper);
}

/* A rec protocol under a fault layer on a string transport. */
static struct wire_transport *
string_stack(struct rec_log *log, const struct wire_fault_opts *o,
             struct pieces *writes)
{
    struct wire_protocol *p = faulted(rec_new(log), o);
    if (writes != NULL)
        p = seg_new(p, writes);
    struct wire_transport *st = wire_string_transport_new(p);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(log->made, 1);
    return st;
}

static void
finish(struct wire_transport *st, struct rec_log *log)
{
    wire_string_transport_free(st);
    ck_assert_int_eq(log->lost, 1);
    ck_assert_int_eq(log->destroyed, 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(log);
}

/* ---- core: pass-through, pieces, determinism ---- */

START_TEST(t_passthrough)
{
    struct rec_log log = {0};
    struct wire_transport *st = string_stack(&log, NULL, NULL);
    char name[32];
    ck_assert_int_eq(wire_transport_get_info(log.t, WIRE_INFO_NAME, name,
                                             sizeof(name)), 6);
    ck_assert_str_eq(name, "string");
    ck_assert_str_eq(wire_transport_name(log.t), "string");
    ck_assert(wire_transport_can_write_eof(log.t));
    ck_assert_int_eq(wire_string_transport_feed(st, "hello", 5), 0);
    ck_assert_str_eq(rec_marks(&log), "hello|");
    ck_assert_int_eq(wire_transport_write(log.t, "world", 5), 0);
    ck_assert_str_eq(unit_output(st), "world");
    ck_assert_int_eq(wire_transport_write_eof(log.t), 0);
    ck_assert(wire_string_transport_eof_written(st));
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    ck_assert_int_eq(log.eof, 1);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    finish(st, &log);
}
END_TEST

/* Feed `n` bytes at once through a fault layer with `o`; the pieces go to
 * `out`, and every byte must come up in order. */
static void
read_run(const struct wire_fault_opts *o, size_t n, struct pieces *out)
{
    struct rec_log log = {0};
    char *in = malloc(n + 1);
    ck_assert_ptr_nonnull(in);
    letters(in, n, 0, 1);
    in[n] = '\0';
    out->n = 0;
    log.user = out;
    log.on_data = record_piece;
    struct wire_transport *st = string_stack(&log, o, NULL);
    ck_assert_int_eq(wire_string_transport_feed(st, in, n), 0);
    wire_string_transport_step(st);
    ck_assert_uint_eq(log.in_len, n);
    ck_assert(memcmp(log.in, in, n) == 0);
    free(in);
    finish(st, &log);
}

START_TEST(t_read_bytes)
{
    /* read_max 1: byte by byte. */
    struct wire_fault_opts o = {.seed = 7, .read_max = 1};
    read_run(&o, 3000, &pieces_a);
    ck_assert_uint_eq(pieces_a.n, 3000);
    for (size_t i = 0; i < pieces_a.n; i++)
        ck_assert_uint_eq(pieces_a.len[i], 1);
}
END_TEST

START_TEST(t_read_sizes)
{
    /* Random sizes from 1 to read_max: every piece within, small and
     * large ones both seen, the bytes exact (read_run). */
    struct wire_fault_opts o = {.seed = 11, .read_max = 40};
    read_run(&o, 20000, &pieces_a);
    size_t ones = 0, big = 0, sum = 0;
    for (size_t i = 0; i < pieces_a.n; i++) {
        ck_assert_uint_ge(pieces_a.len[i], 1);
        ck_assert_uint_le(pieces_a.len[i], 40);
        ones += pieces_a.len[i] == 1;
        big += pieces_a.len[i] >= 30;
        sum += pieces_a.len[i];
    }
    ck_assert_uint_eq(sum, 20000);
    ck_assert_uint_gt(ones, 0);
    ck_assert_uint_gt(big, 0);
}
END_TEST

static bool
same_pieces(const struct pieces *a, const struct pieces *b)
{
    return a->n == b->n && memcmp(a->len, b->len, a->n * sizeof(a->len[0])) == 0;
}

START_TEST(t_read_determinism)
{
    struct wire_fault_opts o = {.seed = 0x1234, .read_max = 100};
    read_run(&o, 30000, &pieces_a);
    read_run(&o, 30000, &pieces_b);
    ck_assert(same_pieces(&pieces_a, &pieces_b));
    o.seed = 0x1235;
    read_run(&o, 30000, &pieces_b);
    ck_assert(!same_pieces(&pieces_a, &pieces_b));
}
END_TEST

START_TEST(t_read_cuts_by_offset)
{
    /* The cuts are offsets of the input: fed in two parts, the same
     * pieces come up, except the one cut where the first part ended. */
    struct wire_fault_opts o = {.seed = 99, .read_max = 64};
    read_run(&o, 5000, &pieces_a);
    struct rec_log log = {0};
    char in[5000];
    letters(in, sizeof(in), 0, 1);
    pieces_b.n = 0;
    log.user = &pieces_b;
    log.on_data = record_piece;
    struct wire_transport *st = string_stack(&log, &o, NULL);
    ck_assert_int_eq(wire_string_transport_feed(st, in, 2500), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, in + 2500, 2500), 0);
    ck_assert_uint_eq(log.in_len, 5000);
    ck_assert(memcmp(log.in, in, 5000) == 0);
    /* Every cut of the whole run is a cut of the split run. */
    size_t ia = 0, ib = 0, ea = 0, eb = 0;
    while (ia < pieces_a.n) {
        ea += pieces_a.len[ia++];
        while (eb < ea)
            eb += pieces_b.len[ib++];
        ck_assert_uint_eq(eb, ea);
    }
    ck_assert_uint_le(pieces_b.n, pieces_a.n + 1);
    finish(st, &log);
}
END_TEST

/* Write `n` bytes in writes of up to `w` bytes through a fault layer
 * with `o` over seg; the pieces below go to `out`. */
static void
write_run(const struct wire_fault_opts *o, size_t n, size_t w,
          struct pieces *out)
{
    struct rec_log log = {0};
    char *data = malloc(n);
    ck_assert_ptr_nonnull(data);
    letters(data, n, 0, 2);
    out->n = 0;
    struct wire_transport *st = string_stack(&log, o, out);
    for (size_t off = 0; off < n; off += w)
        ck_assert_int_eq(wire_transport_write(log.t, data + off,
                                              n - off < w ? n - off : w), 0);
    wire_string_transport_step(st);
    size_t len = 0;
    const char *got = wire_string_transport_output(st, &len);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(got, data, n) == 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(log.t), 0);
    free(data);
    finish(st, &log);
}

START_TEST(t_write_pieces)
{
    struct wire_fault_opts o = {.seed = 5, .write_max = 1};
    write_run(&o, 2000, 500, &pieces_a);
    ck_assert_uint_eq(pieces_a.n, 2000);
    o.write_max = 33;
    write_run(&o, 20000, 1000, &pieces_a);
    size_t sum = 0;
    for (size_t i = 0; i < pieces_a.n; i++) {
        ck_assert_uint_ge(pieces_a.len[i], 1);
        ck_assert_uint_le(pieces_a.len[i], 33);
        sum += pieces_a.len[i];
    }
    ck_assert_uint_eq(sum, 20000);
    /* Same seed, same pieces; another seed, others. */
    write_run(&o, 20000, 1000, &pieces_b);
    ck_assert(same_pieces(&pieces_a, &pieces_b));
    o.seed = 6;
    write_run(&o, 20000, 1000, &pieces_b);
    ck_assert(!same_pieces(&pieces_a, &pieces_b));
}
END_TEST

START_TEST(t_invalid)
{
    struct wire_error err = {0};
    struct rec_log log = {0};
    struct wire_fault_opts o = {.in = {.kind = (enum wire_fault_kind)9}};
    ck_assert_ptr_null(wire_fault_layer_new(rec_new(&log), &o, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_int_eq(log.destroyed, 1); /* owned, also on error */
    o.in.kind = WIRE_FAULT_NONE;
    o.out.kind = WIRE_FAULT_ERROR;
    o.out.code = 5;
    ck_assert_ptr_null(wire_fault_layer_new(rec_new(&log), &o, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    memset(&o, 0, sizeof(o));
    o.read_delay_ms = 4000u * 1000u;
    ck_assert_ptr_null(wire_fault_layer_new(rec_new(&log), &o, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_ptr_null(wire_fault_layer_new(NULL, NULL, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    wire_error_clear(&err);
    ck_assert_int_eq(log.destroyed, 3);
    ck_assert_int_eq(unit_live_protocols, 0);
    /* Never started: destroying it destroys the protocol above. */
    struct wire_protocol *p = faulted(rec_new(&log), NULL);
    wire_protocol_destroy(p);
    ck_assert_int_eq(log.destroyed, 4);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

/* ---- joining and holding (string transport) ---- */

START_TEST(t_join_steps)
{
    /* Fed byte by byte, joined input comes up in fewer, larger pieces,
     * in order; a step flushes what is held. */
    struct wire_fault_opts o = {.seed = 3, .coalesce_max = 50};
    struct rec_log log = {0};
    pieces_a.n = 0;
    log.user = &pieces_a;
    log.on_data = record_piece;
    struct wire_transport *st = string_stack(&log, &o, NULL);
    char in[400];
    letters(in, sizeof(in), 0, 3);
    for (int round = 0; round < 4; round++) {
        ck_assert_int_eq(wire_string_transport_feed_split(st, in + 100 * round,
                                                          100, 1), 0);
        wire_string_transport_step(st); /* flushes what waits */
        ck_assert_uint_eq(log.in_len, 100u * (unsigned)(round + 1));
    }
    ck_assert(memcmp(log.in, in, 400) == 0);
    ck_assert_uint_lt(pieces_a.n, 200);
    size_t multi = 0;
    for (size_t i = 0; i < pieces_a.n; i++)
        multi += pieces_a.len[i] > 1;
    ck_assert_uint_gt(multi, 0);
    finish(st, &log);
}
END_TEST

START_TEST(t_join_eof)
{
    /* EOF flushes held input before it. */
    struct wire_fault_opts o = {.seed = 3, .coalesce_max = 1000};
    struct rec_log log = {0};
    struct wire_transport *st = string_stack(&log, &o, NULL);
    ck_assert_int_eq(wire_string_transport_feed_split(st, "abcdef", 6, 1), 0);
    ck_assert_uint_lt(log.in_len, 6); /* something is held */
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    ck_assert_str_eq(rec_in(&log), "abcdef");
    ck_assert_int_eq(log.eof, 1);
    wire_string_transport_step(st);
    ck_assert(log.lost_null);
    finish(st, &log);
}
END_TEST

static bool paused_now;

static void
pause_first(struct rec_log *log, struct wire_transport *t, const void *data,
            size_t len)
{
    (void)data;
    (void)len;
    ck_assert_msg(!paused_now, "data_received while reading is paused");
    if (log->data_calls == 1) {
        paused_now = true;
        ck_assert_int_eq(wire_transport_pause_reading(t), 0);
    }
}

START_TEST(t_pause_holds)
{
    /* Pausing inside the first piece holds the rest (cut, joined and
     * the EOF) until resume, and the resume delivers nothing before it
     * returns. */
    struct wire_fault_opts o = {.seed = 21, .read_max = 5, .coalesce_max = 8};
    struct rec_log log = {0};
    paused_now = false;
    log.on_data = pause_first;
    struct wire_transport *st = string_stack(&log, &o, NULL);
    char in[300];
    letters(in, sizeof(in), 0, 4);
    ck_assert_int_eq(wire_string_transport_feed(st, in, 300), 0);
    ck_assert_int_eq(log.data_calls, 1);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.data_calls, 1);
    ck_assert_int_eq(log.eof, 0);
    paused_now = false;
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    ck_assert_int_eq(log.data_calls, 1); /* not from inside the resume */
    wire_string_transport_step(st);
    ck_assert_uint_eq(log.in_len, 300);
    ck_assert(memcmp(log.in, in, 300) == 0);
    ck_assert_int_eq(log.eof, 1);
    ck_assert_int_gt(log.data_calls, 300 / 8);
    finish(st, &log);
}
END_TEST

/* ---- callbacks that close, abort or write ---- */

static void
abort_third(struct rec_log *log, struct wire_transport *t, const void *data,
            size_t len)
{
    (void)data;
    (void)len;
    if (log->data_calls == 3)
        wire_transport_abort(t);
}

static void
close_third_echo(struct rec_log *log, struct wire_transport *t,
                 const void *data, size_t len)
{
    ck_assert_int_eq(wire_transport_write(t, data, len), 0);
    if (log->data_calls == 3)
        wire_transport_close(t);
}

START_TEST(t_reenter)
{
    /* Aborting from inside a piece: nothing more comes up, the held
     * rest is dropped, the loss comes once, later. */
    struct wire_fault_opts o = {.seed = 12, .read_max = 2};
    struct rec_log log = {0};
    log.on_data = abort_third;
    struct wire_transport *st = string_stack(&log, &o, NULL);
    ck_assert_int_eq(wire_string_transport_feed(st, "0123456789", 10), 0);
    ck_assert_int_eq(log.data_calls, 3);
    ck_assert_int_eq(log.lost, 0);
    ck_assert(wire_string_transport_aborted(st));
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    ck_assert_int_eq(log.data_calls, 3);
    finish(st, &log);

    /* Echoing every piece (short writes) and closing from inside the
     * third: what was written goes out whole before the close. */
    struct rec_log l2 = {0};
    struct wire_fault_opts o2 = {.seed = 13, .read_max = 3, .write_max = 2,
                                 .short_write_one_in = 1};
    l2.on_data = close_third_echo;
    st = string_stack(&l2, &o2, NULL);
    ck_assert_int_eq(wire_string_transport_feed(st, "abcdefghijkl", 12), 0);
    ck_assert_int_eq(l2.data_calls, 3);
    ck_assert_int_eq(l2.lost, 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(l2.lost, 1);
    ck_assert(l2.lost_null);
    ck_assert_str_eq(unit_output(st), rec_in(&l2));
    ck_assert(wire_string_transport_closed(st));
    finish(st, &l2);
}
END_TEST

/* ---- short writes, flow control, close and abort ---- */

START_TEST(t_short_writes_watermarks)
{
    enum { N = 200000 };
    static char data[N];
    letters(data, N, 0, 5);
    int pauses = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        struct wire_fault_opts o = {.seed = seed, .short_write_one_in = 1};
        struct rec_log log = {0};
        struct wire_transport *st = string_stack(&log, &o, NULL);
        ck_assert_int_eq(wire_transport_set_write_buffer_limits(log.t, 1000,
                                                                100), 0);
        ck_assert_int_eq(wire_transport_write(log.t, data, N), 0);
        /* Every write is short: part of it waits above, counted. */
        size_t out = 0;
        wire_string_transport_output(st, &out);
        size_t queued = wire_transport_get_write_buffer_size(log.t);
        ck_assert_uint_gt(queued, 0);
        ck_assert_uint_eq(queued + out, N);
        ck_assert_int_eq(log.paused, queued > 1000 ? 1 : 0);
        pauses += log.paused;
        wire_string_transport_step(st);
        const char *got = wire_string_transport_output(st, &out);
        ck_assert_uint_eq(out, N);
        ck_assert(memcmp(got, data, N) == 0);
        ck_assert_uint_eq(wire_transport_get_write_buffer_size(log.t), 0);
        ck_assert_int_eq(log.resumed, log.paused);
        finish(st, &log);
    }
    ck_assert_int_gt(pauses, 0);
}
END_TEST

START_TEST(t_close_flushes)
{
    enum { N = 50000 };
    static char data[N];
    letters(data, N, 0, 6);
    struct wire_fault_opts o = {.seed = 8, .short_write_one_in = 1,
                                .write_max = 999};
    struct rec_log log = {0};
    struct wire_transport *st = string_stack(&log, &o, NULL);
    ck_assert_int_eq(wire_transport_write(log.t, data, N), 0);
    ck_assert_uint_gt(wire_transport_get_write_buffer_size(log.t), 0);
    wire_transport_close(log.t);
    ck_assert(wire_transport_is_closing(log.t));
    ck_assert_int_eq(wire_transport_write(log.t, "x", 1), WIRE_ECLOSED);
    ck_assert_int_eq(log.lost, 0);
    ck_assert(!wire_string_transport_closed(st));
    wire_string_transport_step(st);
    size_t out = 0;
    const char *got = wire_string_transport_output(st, &out);
    ck_assert_uint_eq(out, N);
    ck_assert(memcmp(got, data, N) == 0);
    ck_assert(wire_string_transport_closed(st));
    ck_assert(!wire_string_transport_aborted(st));
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    finish(st, &log);
}
END_TEST

START_TEST(t_abort_drops)
{
    enum { N = 50000 };
    static char data[N];
    letters(data, N, 0, 7);
    struct wire_fault_opts o = {.seed = 9, .short_write_one_in = 1};
    struct rec_log log = {0};
    struct wire_transport *st = string_stack(&log, &o, NULL);
    ck_assert_int_eq(wire_transport_write(log.t, data, N), 0);
    wire_transport_abort(log.t);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_int_eq(wire_transport_write(log.t, "x", 1), WIRE_ECLOSED);
    wire_string_transport_step(st);
    size_t out = 0;
    wire_string_transport_output(st, &out);
    ck_assert_uint_lt(out, N);
    ck_assert(wire_string_transport_aborted(st));
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    finish(st, &log);
}
END_TEST

/* ---- injected faults, exactly at byte N (string transport) ---- */

START_TEST(t_in_eof_at)
{
    struct wire_fault_opts o = {.seed = 1, .read_max = 3,
                                .in = {.kind = WIRE_FAULT_EOF, .at = 10}};
    struct rec_log log = {0};
    struct wire_transport *st = string_stack(&log, &o, NULL);
    char in[30];
    letters(in, sizeof(in), 0, 8);
    ck_assert_int_eq(wire_string_transport_feed(st, in, 4), 0);
    ck_assert_int_eq(log.eof, 0);
    ck_assert_int_eq(wire_string_transport_feed(st, in + 4, 26), 0);
    ck_assert_uint_eq(log.in_len, 10);
    ck_assert(memcmp(log.in, in, 10) == 0);
    ck_assert_int_eq(log.eof, 1);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null); /* the protocol closed on EOF */
    ck_assert(wire_string_transport_closed(st));
    finish(st, &log);
}
END_TEST

START_TEST(t_in_reset_at)
{
    struct wire_fault_opts o = {.seed = 2, .read_max = 4,
                                .in = {.kind = WIRE_FAULT_RESET, .at = 10}};
    struct rec_log log = {0};
    struct wire_transport *st = string_stack(&log, &o, NULL);
    char in[30];
    letters(in, sizeof(in), 0, 9);
    ck_assert_int_eq(wire_string_transport_feed(st, in, 30), 0);
    ck_assert_uint_eq(log.in_len, 10);
    ck_assert(memcmp(log.in, in, 10) == 0);
    ck_assert_int_eq(log.lost, 0); /* on a later turn */
    ck_assert(wire_string_transport_aborted(st));
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, -ECONNRESET);
    ck_assert_contains(log.lost_msg, "byte 10 of the input");
    ck_assert_int_eq(log.eof, 0);
    finish(st, &log);
}
END_TEST

START_TEST(t_in_error_at_zero)
{
    struct wire_fault_opts o = {
        .in = {.kind = WIRE_FAULT_ERROR, .at = 0, .code = WIRE_EPROTO}};
    struct rec_log log = {0};
    struct wire_transport *st = string_stack(&log, &o, NULL);
    ck_assert_int_eq(wire_string_transport_feed(st, "abc", 3), 0);
    ck_assert_uint_eq(log.in_len, 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EPROTO);
    ck_assert_contains(log.lost_msg, "byte 0 of the input");
    ck_assert_uint_eq(log.in_len, 0);
    finish(st, &log);
}
END_TEST

START_TEST(t_in_fault_waits_for_pause)
{
    /* The fault comes after byte N has been delivered: while the
     * protocol above is paused, it waits. */
    struct wire_fault_opts o = {.seed = 4, .read_max = 2,
                                .in = {.kind = WIRE_FAULT_EOF, .at = 9}};
    struct rec_log log = {0};
    paused_now = false;
    log.on_data = pause_first;
    struct wire_transport *st = string_stack(&log, &o, NULL);
    ck_assert_int_eq(wire_string_transport_feed(st, "0123456789abc", 13), 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.eof, 0);
    paused_now = false;
    wire_transport_resume_reading(log.t);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_in(&log), "012345678");
    ck_assert_int_eq(log.eof, 1);
    finish(st, &log);
}
END_TEST

START_TEST(t_out_eof_at)
{
    struct wire_fault_opts o = {.seed = 1, .write_max = 3,
                                .out = {.kind = WIRE_FAULT_EOF, .at = 10}};
    struct rec_log log = {0};
    struct wire_transport *st = string_stack(&log, &o, NULL);
    ck_assert_int_eq(wire_transport_write(log.t, "0123456", 7), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "789abcdef", 9), 0);
    ck_assert_str_eq(unit_output(st), "0123456789");
    ck_assert(!wire_string_transport_eof_written(st));
    wire_string_transport_step(st);
    ck_assert(wire_string_transport_eof_written(st));
    /* Later writes are accepted and go nowhere. */
    ck_assert_int_eq(wire_transport_write(log.t, "ghi", 3), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(unit_output(st), "0123456789");
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(log.t), 0);
    ck_assert_int_eq(log.lost, 0);
    wire_transport_close(log.t);
    wire_string_transport_step(st);
    ck_assert(log.lost_null);
    finish(st, &log);
}
END_TEST

START_TEST(t_out_reset_at)
{
    struct wire_fault_opts o = {.seed = 1, .write_max = 4,
                                .short_write_one_in = 2,
                                .out = {.kind = WIRE_FAULT_RESET, .at = 10}};
    struct rec_log log = {0};
    struct wire_transport *st = string_stack(&log, &o, NULL);
    ck_assert_int_eq(wire_transport_write(log.t, "0123456789abcdefghij", 20), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(unit_output(st), "0123456789");
    ck_assert(wire_string_transport_aborted(st));
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, -ECONNRESET);
    ck_assert_contains(log.lost_msg, "byte 10 of the output");
    finish(st, &log);
}
END_TEST

START_TEST(t_out_error_at)
{
    struct wire_fault_opts o = {.out = {.kind = WIRE_FAULT_ERROR, .at = 3}};
    struct rec_log log = {0};
    struct wire_transport *st = string_stack(&log, &o, NULL);
    ck_assert_int_eq(wire_transport_write(log.t, "abcdef", 6), 0);
    ck_assert_str_eq(unit_output(st), "abc");
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(log.t), 3);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost_code, -EIO);
    ck_assert_contains(log.lost_msg, "byte 3 of the output");
    ck_assert(wire_string_transport_aborted(st));
    ck_assert_str_eq(unit_output(st), "abc");
    finish(st, &log);
}
END_TEST

/* ---- over a memory pair, with a loop ---- */

/* A protocol that streams `total` bytes of its stream while it may,
 * half-closes, checks the peer's stream byte by byte and closes once
 * both directions are done. */
struct bulk {
    struct wire_protocol base;
    const char *role;
    struct wire_transport *t;
    size_t total, sent, rx, rx_total;
    unsigned tx_s, rx_s;
    uint64_t rng;
    bool wpaused, in_cb, reading_paused;
    int made, pauses, resumes, eofs, lost, destroyed, bad;
    int lost_code;
    char lost_msg[256];
    char why[256];
    volatile bool lost_flag;
};

static void
bulk_bad(struct bulk *b, const char *why)
{
    if (b->bad++ == 0)
        snprintf(b->why, sizeof(b->why), "%s: %s", b->role, why);
}

static void
bulk_pump(struct bulk *b)
{
    char buf[9000];
    while (b->t != NULL && !b->wpaused && b->sent < b->total) {
        b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = 1 + (size_t)(b->rng >> 33) % sizeof(buf);
        if (n > b->total - b->sent)
            n = b->total - b->sent;
        letters(buf, n, b->sent, b->tx_s);
        if (wire_transport_write(b->t, buf, n) != 0)
            bulk_bad(b, "write failed");
        b->sent += n;
    }
    if (b->t != NULL && b->sent == b->total && !b->wpaused) {
        b->sent++; /* once */
        if (wire_transport_write_eof(b->t) != 0)
            bulk_bad(b, "write_eof failed");
    }
}

static struct bulk *
bulk_of(struct wire_protocol *p)
{
    return (struct bulk *)p;
}

static void
bulk_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct bulk *b = bulk_of(p);
    b->made++;
    b->t = t;
    /* Small watermarks: flow control shows after little data. */
    wire_transport_set_write_buffer_limits(t, 4096, 1024);
    bulk_pump(b);
}

static void
bulk_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct bulk *b = bulk_of(p);
    char want[65536];
    if (b->reading_paused)
        bulk_bad(b, "data while reading is paused");
    if (b->eofs || b->lost)
        bulk_bad(b, "data after EOF or loss");
    while (len > 0) {
        size_t n = len < sizeof(want) ? len : sizeof(want);
        letters(want, n, b->rx, b->rx_s);
        if (memcmp(want, data, n) != 0)
            bulk_bad(b, "bytes differ");
        b->rx += n;
        data = (const char *)data + n;
        len -= n;
    }
    if (b->rx > b->rx_total)
        bulk_bad(b, "more bytes than sent");
}

static bool
bulk_eof(struct wire_protocol *p)
{
    struct bulk *b = bulk_of(p);
    b->eofs++;
    if (b->rx != b->rx_total)
        bulk_bad(b, "EOF before every byte");
    return true; /* the core closes once our write_eof is done too */
}

static void
bulk_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct bulk *b = bulk_of(p);
    b->lost++;
    b->lost_code = err != NULL ? err->code : 0;
    if (err != NULL)
        snprintf(b->lost_msg, sizeof(b->lost_msg), "%s", err->message);
    b->t = NULL;
    b->lost_flag = true;
}

static void
bulk_pause(struct wire_protocol *p)
{
    struct bulk *b = bulk_of(p);
    if (b->wpaused)
        bulk_bad(b, "pause_writing twice");
    b->wpaused = true;
    b->pauses++;
}

static void
bulk_resume(struct wire_protocol *p)
{
    struct bulk *b = bulk_of(p);
    if (!b->wpaused)
        bulk_bad(b, "resume_writing without pause");
    b->wpaused = false;
    b->resumes++;
    bulk_pump(b);
}

static void
bulk_destroy(struct wire_protocol *p)
{
    bulk_of(p)->destroyed++;
    unit_live_protocols--;
}

static const struct wire_protocol_ops bulk_ops = {
    .connection_made = bulk_made,
    .data_received = bulk_data,
    .eof_received = bulk_eof,
    .connection_lost = bulk_lost,
    .pause_writing = bulk_pause,
    .resume_writing = bulk_resume,
    .destroy = bulk_destroy,
};

/* `total` bytes to send, `rx_total` to receive. */
static struct wire_protocol *
bulk_init(struct bulk *b, const char *role, size_t total, size_t rx_total,
          unsigned tx_s, unsigned rx_s)
{
    memset(b, 0, sizeof(*b));
    wire_protocol_init(&b->base, &bulk_ops);
    b->role = role;
    b->total = total;
    b->rx_total = rx_total;
    b->tx_s = tx_s;
    b->rx_s = rx_s;
    b->rng = tx_s;
    unit_live_protocols++;
    return &b->base;
}

static bool
both_lost(void *arg)
{
    struct bulk *b = arg;
    return b[0].lost_flag && b[1].lost_flag;
}

/* Everything but the injected faults: pieces, joining, delays, short
 * writes with delays. */
static void
chaos_opts(struct wire_fault_opts *o, uint64_t seed)
{
    memset(o, 0, sizeof(*o));
    o->seed = seed;
    o->read_max = 700;
    o->coalesce_max = 900;
    o->coalesce_ms = 1;
    o->read_delay_ms = 3;
    o->read_delay_one_in = 16;
    o->write_max = 1500;
    o->short_write_one_in = 3;
    o->write_delay_ms = 2;
}

static void
run_bulk_pair(size_t total, size_t bufsize)
{
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct bulk b[2];
    struct wire_fault_opts oa, ob;
    chaos_opts(&oa, 101);
    chaos_opts(&ob, 202);
    struct wire_protocol *pa = faulted(bulk_init(&b[0], "client", total, total, 1, 2), &oa);
    struct wire_protocol *pb = faulted(bulk_init(&b[1], "server", total, total, 2, 1), &ob);
    ck_assert_int_eq(wire_mem_pair(loop, pa, pb, bufsize, NULL, NULL), 0);
    ck_assert_msg(unit_run_until(loop, both_lost, b, 60000),
                  "not done: client rx %zu eof %d, server rx %zu eof %d",
                  b[0].rx, b[0].eofs, b[1].rx, b[1].eofs);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(b[i].bad == 0, "%s", b[i].why);
        ck_assert_msg(b[i].rx == total, "%s: rx %zu of %zu, eof %d, lost %s",
                      b[i].role, b[i].rx, total, b[i].eofs, b[i].lost_msg);
        ck_assert_int_eq(b[i].eofs, 1);
        ck_assert_int_eq(b[i].lost, 1);
        ck_assert_msg(b[i].lost_code == 0, "%s lost: %s", b[i].role,
                      b[i].lost_msg);
        ck_assert_int_gt(b[i].pauses, 0);
    }
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(b[0].destroyed + b[1].destroyed, 2);
    ck_assert_int_eq(unit_live_protocols, 0);
    wire_loop_free(loop);
}

START_TEST(t_mem_chaos)
{
    /* Every byte, in order, both ways at once; the half-close after the
     * last byte; a clean close; flow control on both ends. */
    run_bulk_pair(300 * 1024, 8 * 1024);
}
END_TEST

START_TEST(t_mem_chaos_tiny)
{
    /* A memory pair that takes 100 bytes at a time. */
    run_bulk_pair(40 * 1024, 100);
}
END_TEST

/* Loop turns, counted by a zero timer. */
struct turns {
    struct wire_timer *tm;
    int left;
    volatile bool done;
};

static void
turn_fire(void *arg)
{
    struct turns *tu = arg;
    if (--tu->left <= 0)
        tu->done = true;
    else
        wire_timer_start(tu->tm, 1, 0);
}

static void
run_turns(struct wire_loop *loop, int n)
{
    struct turns tu = {.left = n};
    tu.tm = wire_timer_new(loop, turn_fire, &tu);
    ck_assert_ptr_nonnull(tu.tm);
    wire_timer_start(tu.tm, 1, 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &tu.done, 30000), 0);
    wire_timer_free(tu.tm);
}

static bool
got_bytes(void *arg)
{
    struct bulk *b = arg;
    return b->rx > 0;
}

START_TEST(t_mem_pause_delayed)
{
    /* A paused protocol gets nothing, whatever the layer holds or
     * delays; its resume brings the rest, in order. */
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct bulk b[2];
    struct wire_fault_opts o;
    chaos_opts(&o, 303);
    o.read_delay_one_in = 2;
    struct wire_protocol *pa = bulk_init(&b[0], "client", 60000, 0, 1, 2);
    struct wire_protocol *pb =
        faulted(bulk_init(&b[1], "server", 0, 60000, 2, 1), &o);
    ck_assert_int_eq(wire_mem_pair(loop, pa, pb, 4096, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, got_bytes, &b[1], 30000));
    ck_assert_int_eq(wire_transport_pause_reading(b[1].t), 0);
    b[1].reading_paused = true;
    size_t at = b[1].rx;
    run_turns(loop, 30);
    ck_assert_uint_eq(b[1].rx, at);
    ck_assert_uint_lt(b[1].rx, 60000);
    b[1].reading_paused = false;
    ck_assert_int_eq(wire_transport_resume_reading(b[1].t), 0);
    ck_assert_uint_eq(b[1].rx, at); /* not from inside the resume */
    ck_assert(unit_run_until(loop, both_lost, b, 30000));
    ck_assert_msg(b[0].bad == 0 && b[1].bad == 0, "%s%s", b[0].why, b[1].why);
    ck_assert_uint_eq(b[1].rx, 60000);
    ck_assert_int_eq(b[1].lost_code, 0);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    wire_loop_free(loop);
}
END_TEST

START_TEST(t_mem_end_while_delayed)
{
    /* The server's write side is shut (it has nothing to send), so its
     * memory transport closes by itself when the client's EOF arrives,
     * while the fault layer still delays every piece of input: the
     * server must still get every byte, then the EOF, then a clean
     * loss. */
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct bulk b[2];
    struct wire_fault_opts o = {.seed = 606, .read_max = 300,
                                .read_delay_ms = 5, .read_delay_one_in = 1};
    struct wire_protocol *pa = bulk_init(&b[0], "client", 5000, 0, 1, 2);
    struct wire_protocol *pb =
        faulted(bulk_init(&b[1], "server", 0, 5000, 2, 1), &o);
    ck_assert_int_eq(wire_mem_pair(loop, pa, pb, 64 * 1024, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, both_lost, b, 30000));
    ck_assert_msg(b[0].bad == 0 && b[1].bad == 0, "%s%s", b[0].why, b[1].why);
    ck_assert_uint_eq(b[1].rx, 5000);
    ck_assert_int_eq(b[1].eofs, 1);
    ck_assert_msg(b[1].lost_code == 0, "server lost: %s", b[1].lost_msg);
    ck_assert_msg(b[0].lost_code == 0, "client lost: %s", b[0].lost_msg);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    wire_loop_free(loop);
}
END_TEST

START_TEST(t_mem_out_reset)
{
    /* A reset injected at byte 5000 of the client's output: the client
     * hears it was injected, the server sees a reset after at most 5000
     * bytes. */
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct bulk b[2];
    struct wire_fault_opts o;
    chaos_opts(&o, 404);
    o.out.kind = WIRE_FAULT_RESET;
    o.out.at = 5000;
    struct wire_protocol *pa = faulted(bulk_init(&b[0], "client", 20000, 0, 1, 2), &o);
    struct wire_protocol *pb = bulk_init(&b[1], "server", 0, 20000, 2, 1);
    ck_assert_int_eq(wire_mem_pair(loop, pa, pb, 64 * 1024, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, both_lost, b, 30000));
    ck_assert_int_eq(b[0].lost_code, -ECONNRESET);
    ck_assert_contains(b[0].lost_msg, "byte 5000 of the output");
    ck_assert_int_eq(b[1].lost_code, -ECONNRESET);
    ck_assert_uint_le(b[1].rx, 5000);
    ck_assert_msg(b[1].bad == 0, "%s", b[1].why);
    ck_assert_int_eq(b[1].eofs, 0);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    wire_loop_free(loop);
}
END_TEST

START_TEST(t_mem_in_eof)
{
    /* An EOF injected at byte 3000 of the server's input: the server
     * gets exactly 3000 bytes and then EOF while the client still
     * writes; it half-closes in turn and the client, which never
     * finishes, sees the end of its peer. */
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct bulk b[2];
    struct wire_fault_opts o;
    chaos_opts(&o, 505);
    o.in.kind = WIRE_FAULT_EOF;
    o.in.at = 3000;
    struct wire_protocol *pa = bulk_init(&b[0], "client", 50000, 0, 1, 2);
    struct wire_protocol *pb =
        faulted(bulk_init(&b[1], "server", 0, 50000, 2, 1), &o);
    ck_assert_int_eq(wire_mem_pair(loop, pa, pb, 64 * 1024, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, both_lost, b, 30000));
    ck_assert_uint_eq(b[1].rx, 3000);
    ck_assert_int_eq(b[1].eofs, 1);
    ck_assert_int_eq(b[1].bad, 1); /* "EOF before every byte": as injected */
    ck_assert_contains(b[1].why, "EOF before every byte");
    ck_assert_int_eq(b[1].lost_code, 0);
    /* The client ran into the server's close: an EOF, or a failed
     * write if it was still writing. */
    ck_assert_msg(b[0].lost_code == 0 || b[0].lost_code == -EPIPE ||
                  b[0].lost_code == -ECONNRESET, "client lost %s",
                  b[0].lost_msg);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    wire_loop_free(loop);
}
END_TEST

START_TEST(t_under_tls)
{
    /* Anywhere in a stack: under TLS, whose handshake and records then
     * arrive cut, joined, late and written a little at a time. */
    struct tls_certs certs;
    memset(&certs, 0, sizeof(certs));
    ck_assert_int_eq(tls_certs_make(&certs), 0);
    struct wire_error err = {0};
    struct wire_tls_config *cc = wire_tls_config_new(false, &err);
    struct wire_tls_config *sc = wire_tls_config_new(true, &err);
    ck_assert_ptr_nonnull(cc);
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(wire_tls_config_set_ca(cc, certs.ca, NULL, &err), 0);
    ck_assert_int_eq(wire_tls_config_set_cert(sc, certs.server_cert,
                                              certs.server_key, &err), 0);
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct bulk b[2];
    struct wire_fault_opts oa, ob;
    chaos_opts(&oa, 707);
    chaos_opts(&ob, 808);
    oa.read_max = ob.write_max = 7; /* records a few bytes at a time */
    struct wire_protocol *pa = wire_tls_client_layer_new(
        bulk_init(&b[0], "client", 100000, 100000, 1, 2), cc, "localhost", &err);
    struct wire_protocol *pb = wire_tls_server_layer_new(
        bulk_init(&b[1], "server", 100000, 100000, 2, 1), sc, &err);
    ck_assert_ptr_nonnull(pa);
    ck_assert_ptr_nonnull(pb);
    ck_assert_int_eq(wire_mem_pair(loop, faulted(pa, &oa), faulted(pb, &ob),
                                   4096, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, both_lost, b, 60000));
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(b[i].bad == 0, "%s", b[i].why);
        ck_assert_uint_eq(b[i].rx, 100000);
        ck_assert_int_eq(b[i].eofs, 1);
        ck_assert_msg(b[i].lost_code == 0, "%s lost: %s", b[i].role,
                      b[i].lost_msg);
    }
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    wire_loop_free(loop);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
    wire_error_clear(&err);
    tls_certs_remove(&certs);
}
END_TEST

START_TEST(t_mem_info)
{
    /* get_info crosses the layer; the name is the memory pair's. */
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct rec_log la = {0}, lb = {0};
    ck_assert_int_eq(wire_mem_pair(loop, faulted(rec_new(&la), NULL),
                                   faulted(rec_new(&lb), NULL), 0, NULL, NULL),
                     0);
    ck_assert(unit_run_until(loop, log_made, &lb, 5000));
    char buf[64];
    ck_assert_int_gt(wire_transport_get_info(la.t, WIRE_INFO_PEER, buf,
                                             sizeof(buf)), 0);
    ck_assert_str_eq(buf, "mem:pair");
    ck_assert_str_eq(wire_transport_name(la.t), "mem");
    ck_assert_int_eq(wire_transport_hint_reply(la.t, WIRE_REPLY_NONE),
                     WIRE_ENOTSUP);
    wire_transport_close(la.t);
    ck_assert(unit_run_until(loop, log_lost, &lb, 5000));
    ck_assert(la.lost_null && lb.lost_null);
    ck_assert_int_eq(lb.eof, 1);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&la);
    rec_log_free(&lb);
    wire_loop_free(loop);
}
END_TEST

Suite *
fault_suite(void)
{
    Suite *s = suite_create("fault");
    TCase *tc = unit_tcase(s, "core");
    tcase_add_test(tc, t_passthrough);
    tcase_add_test(tc, t_read_bytes);
    tcase_add_test(tc, t_read_sizes);
    tcase_add_test(tc, t_read_determinism);
    tcase_add_test(tc, t_read_cuts_by_offset);
    tcase_add_test(tc, t_write_pieces);
    tcase_add_test(tc, t_invalid);
    tc = unit_tcase(s, "holding");
    tcase_add_test(tc, t_join_steps);
    tcase_add_test(tc, t_join_eof);
    tcase_add_test(tc, t_pause_holds);
    tc = unit_tcase(s, "reentrancy");
    tcase_add_test(tc, t_reenter);
    tc = unit_tcase(s, "writes");
    tcase_add_test(tc, t_short_writes_watermarks);
    tcase_add_test(tc, t_close_flushes);
    tcase_add_test(tc, t_abort_drops);
    tc = unit_tcase(s, "inject");
    tcase_add_test(tc, t_in_eof_at);
    tcase_add_test(tc, t_in_reset_at);
    tcase_add_test(tc, t_in_error_at_zero);
    tcase_add_test(tc, t_in_fault_waits_for_pause);
    tcase_add_test(tc, t_out_eof_at);
    tcase_add_test(tc, t_out_reset_at);
    tcase_add_test(tc, t_out_error_at);
    tc = unit_tcase(s, "loop");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_mem_chaos);
    tcase_add_test(tc, t_mem_chaos_tiny);
    tcase_add_test(tc, t_mem_pause_delayed);
    tcase_add_test(tc, t_mem_end_while_delayed);
    tcase_add_test(tc, t_mem_out_reset);
    tcase_add_test(tc, t_mem_in_eof);
    tcase_add_test(tc, t_mem_info);
    tcase_add_test(tc, t_under_tls);
    return s;
}
