/*
 * The trace layer (<wire/trace.h>).  A callback log records every event
 * (kind, direction, time, label, bytes, error) and the line
 * wire_trace_format makes of it, so a test reads the order as one string
 * ("<connection_made <data_received:5 >write:3 ...").
 *
 *   core       sans-I/O over the string transport: every kind in order,
 *              pass-through exactness (bytes both ways, the write_ref free
 *              callback, EOF both ways, close, abort, the loss's error),
 *              the name and info seen through it, flow control in both
 *              directions, closing and aborting from inside callbacks.
 *   output     the text: wire_trace_format on made-up events, lines
 *              written to a FILE and to stderr, binary bytes and dumps
 *              cut to the dump length, a reader that went away.
 *   stack      under the lines layer, two trace layers, a memory pair.
 *   endpoint   trace= on tcp, unix, mem, exec and tls:// (above and under
 *              TLS), stderr captured through fd 2; bad values refused.
 *
 * Nothing sleeps: loops run until a predicate holds (unit_run_until).
 */
#include "unit.h"
#include "tls_certs.h"

#include <wire/transport_impl.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TMAX 160

/* ---- the callback log ---- */

struct tev {
    enum wire_trace_kind kind;
    enum wire_trace_dir dir;
    uint64_t time_us;
    char label[96];
    size_t len;
    int iovcnt;
    unsigned char data[300];
    bool has_err;
    int code;
    char msg[256];
    char peer[128], local[128];
    char line[600];
};

struct tlog {
    struct tev ev[TMAX];
    int n;
    int freed;
    char order[4096];
};

static void
tlog_cb(void *arg, const struct wire_trace_event *ev)
{
    struct tlog *tl = arg;
    ck_assert_int_lt(tl->n, TMAX);
    struct tev *e = &tl->ev[tl->n++];
    memset(e, 0, sizeof(*e));
    e->kind = ev->kind;
    e->dir = ev->dir;
    e->time_us = ev->time_us;
    ck_assert_ptr_nonnull(ev->label);
    snprintf(e->label, sizeof(e->label), "%s", ev->label);
    e->len = ev->len;
    e->iovcnt = ev->iovcnt;
    size_t k = 0;
    for (int i = 0; i < ev->iovcnt; i++)
        for (size_t j = 0; j < ev->iov[i].iov_len && k < sizeof(e->data); j++)
            e->data[k++] = ((const unsigned char *)ev->iov[i].iov_base)[j];
    if (ev->error != NULL) {
        e->has_err = true;
        e->code = ev->error->code;
        snprintf(e->msg, sizeof(e->msg), "%s", ev->error->message);
    }
    if (ev->peer != NULL)
        snprintf(e->peer, sizeof(e->peer), "%s", ev->peer);
    if (ev->local != NULL)
        snprintf(e->local, sizeof(e->local), "%s", ev->local);
    int n = wire_trace_format(ev, e->line, sizeof(e->line));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq((int)strlen(e->line), n < (int)sizeof(e->line) ? n : (int)sizeof(e->line) - 1);
    /* Every event of a layer comes after the one before it. */
    if (tl->n > 1 && strcmp(tl->ev[tl->n - 2].label, e->label) == 0)
        ck_assert_uint_ge(e->time_us, tl->ev[tl->n - 2].time_us);
}

static void
tlog_freed(void *arg)
{
    ((struct tlog *)arg)->freed++;
}

/* The events as "<kind" / ">kind", with ":len" for data and writes,
 * separated by spaces. */
static const char *
order(struct tlog *tl)
{
    size_t o = 0;
    tl->order[0] = '\0';
    for (int i = 0; i < tl->n; i++) {
        const struct tev *e = &tl->ev[i];
        o += (size_t)snprintf(tl->order + o, sizeof(tl->order) - o, "%s%c%s",
                              i ? " " : "", e->dir == WIRE_TRACE_UP ? '<' : '>',
                              wire_trace_kind_name(e->kind));
        if (e->kind == WIRE_TRACE_DATA_RECEIVED || e->kind == WIRE_TRACE_WRITE)
            o += (size_t)snprintf(tl->order + o, sizeof(tl->order) - o, ":%zu",
                                  e->len);
        ck_assert_uint_lt(o, sizeof(tl->order));
    }
    return tl->order;
}

/* The last event of `kind`, or fail. */
static const struct tev *
last_of(const struct tlog *tl, enum wire_trace_kind kind)
{
    for (int i = tl->n - 1; i >= 0; i--)
        if (tl->ev[i].kind == kind)
            return &tl->ev[i];
    ck_abort_msg("no %s event", wire_trace_kind_name(kind));
    return NULL;
}

/* A line without its "[    1.234 ms] " stamp. */
static const char *
unstamped(const char *line)
{
    const char *p = strstr(line, " ms] ");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(line[0], '[');
    return p + 5;
}

static struct wire_protocol *
traced(struct wire_protocol *upper, struct tlog *tl, const char *label)
{
    struct wire_trace_opts o = {0};
    o.label = label;
    o.cb = tlog_cb;
    o.arg = tl;
    o.arg_free = tlog_freed;
    struct wire_error err = {0};
    struct wire_protocol *p = wire_trace_layer_new(upper, &o, &err);
    ck_assert_msg(p != NULL, "wire_trace_layer_new: %s", err.message);
    return p;
}

static int refs_freed;

static void
ref_free(void *arg, const void *data, size_t len)
{
    (void)data;
    (void)len;
    ck_assert_ptr_eq(arg, &refs_freed);
    refs_freed++;
}

/* Step a string transport until nothing is left to run. */
static void
settle(struct wire_transport *st)
{
    for (int i = 0; i < 64 && wire_string_transport_step(st) > 0; i++)
        ;
}

/* ---- core ---- */

START_TEST(test_every_kind_in_order)
{
    struct rec_log log = {0};
    struct tlog tl = {0};
    log.eof_keep = true;
    refs_freed = 0;
    struct wire_transport *st =
        wire_string_transport_new(traced(rec_new(&log), &tl, NULL));
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(log.made, 1);
    /* The label comes from the transport below ("string:" names nobody,
     * so its name), and the protocol above sees that transport's name. */
    ck_assert_str_eq(tl.ev[0].label, "string");
    ck_assert_str_eq(wire_transport_name(log.t), "string");
    char buf[64];
    ck_assert_int_eq(wire_transport_get_info(log.t, WIRE_INFO_PEER, buf, sizeof(buf)), 7);
    ck_assert_str_eq(buf, "string:");
    ck_assert(wire_transport_can_write_eof(log.t));

    ck_assert_int_eq(wire_string_transport_feed(st, "hello", 5), 0);
    ck_assert_str_eq(rec_in(&log), "hello");
    ck_assert_int_eq(wire_transport_write(log.t, "abc", 3), 0);
    struct iovec iov[2] = {{"de", 2}, {"fg", 2}};
    ck_assert_int_eq(wire_transport_write_sequence(log.t, iov, 2), 0);
    ck_assert_int_eq(wire_transport_write_ref(log.t, "ref!", 4, ref_free, &refs_freed), 0);
    ck_assert_int_eq(refs_freed, 1);
    ck_assert_str_eq(unit_output(st), "abcdefgref!");

    /* A pause crosses down: the bytes fed meanwhile wait below. */
    ck_assert_int_eq(wire_transport_pause_reading(log.t), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, "xy", 2), 0);
    ck_assert_str_eq(rec_in(&log), "hello");
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    settle(st);
    ck_assert_str_eq(rec_in(&log), "helloxy");

    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    settle(st);
    ck_assert_int_eq(log.eof, 1);
    /* Half-close after the peer's: the stack closes. */
    ck_assert_int_eq(wire_transport_write_eof(log.t), 0);
    ck_assert(wire_string_transport_eof_written(st));
    settle(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);

    ck_assert_str_eq(order(&tl),
                     "<connection_made <data_received:5 >write:3 >write:4 "
                     ">write:4 >pause_reading >resume_reading "
                     "<data_received:2 <eof_received >write_eof >close "
                     "<connection_lost");
    /* Bytes whole, pieces as written. */
    ck_assert_int_eq(tl.ev[3].iovcnt, 2);
    ck_assert_int_eq(memcmp(tl.ev[3].data, "defg", 4), 0);
    ck_assert_int_eq(memcmp(tl.ev[4].data, "ref!", 4), 0);
    ck_assert_int_eq(memcmp(tl.ev[7].data, "xy", 2), 0);
    ck_assert(!tl.ev[tl.n - 1].has_err);
    ck_assert_str_eq(unstamped(tl.ev[tl.n - 1].line), "string < connection_lost ok");
    /* The layer is gone with the loss (the test holds the string
     * transport only). */
    ck_assert_int_eq(tl.freed, 1);
    wire_string_transport_free(st);
    ck_assert_int_eq(tl.freed, 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_abort_and_errors_pass_through)
{
    /* The protocol above aborts. */
    struct rec_log log = {0};
    struct tlog tl = {0};
    struct wire_transport *st =
        wire_string_transport_new(traced(rec_new(&log), &tl, "lbl"));
    ck_assert_int_eq(wire_transport_write(log.t, "x", 1), 0);
    wire_transport_abort(log.t);
    ck_assert(wire_string_transport_aborted(st));
    ck_assert_int_eq(log.lost, 0); /* never from inside the call */
    settle(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    ck_assert_str_eq(order(&tl), "<connection_made >write:1 >abort <connection_lost");
    const struct tev *e = last_of(&tl, WIRE_TRACE_CONNECTION_LOST);
    ck_assert(e->has_err);
    ck_assert_int_eq(e->code, WIRE_EABORTED);
    ck_assert_str_eq(unstamped(e->line),
                     "lbl < connection_lost WIRE_EABORTED: connection aborted locally");
    wire_string_transport_free(st);
    rec_log_free(&log);

    /* The connection fails below: the same error reaches the protocol. */
    struct rec_log log2 = {0};
    struct tlog tl2 = {0};
    st = wire_string_transport_new(traced(rec_new(&log2), &tl2, "lbl"));
    ck_assert_int_eq(wire_string_transport_feed_error(st, -ECONNRESET,
                                                      "reset by\nthe test"), 0);
    settle(st);
    ck_assert_int_eq(log2.lost, 1);
    ck_assert_int_eq(log2.lost_code, -ECONNRESET);
    e = last_of(&tl2, WIRE_TRACE_CONNECTION_LOST);
    ck_assert_int_eq(e->code, -ECONNRESET);
    ck_assert_str_eq(e->msg, log2.lost_msg);
    ck_assert_str_eq(order(&tl2), "<connection_made <connection_lost");
    /* One line: the newline of the message is a space. */
    ck_assert_str_eq(unstamped(e->line),
                     "lbl < connection_lost ECONNRESET: reset by the test");
    wire_string_transport_free(st);
    ck_assert_int_eq(tl2.freed, 1);
    rec_log_free(&log2);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

/* The transport below fails while the protocol above still writes (a
 * reset read before the write): the protocol learns of the reset, not of
 * a write refused by a closing transport. */
START_TEST(test_write_while_lower_ends)
{
    struct rec_log log = {0};
    struct tlog tl = {0};
    struct wire_transport *st =
        wire_string_transport_new(traced(rec_new(&log), &tl, NULL));
    ck_assert_int_eq(wire_string_transport_feed_error(st, -ECONNRESET,
                                                      "reset by peer"), 0);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_int_eq(wire_transport_write(log.t, "late", 4), 0);
    settle(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, -ECONNRESET);
    ck_assert_str_eq(log.lost_msg, "reset by peer");
    ck_assert_str_eq(unit_output(st), "");
    /* Nothing went down, so no write is reported. */
    ck_assert_str_eq(order(&tl), "<connection_made <connection_lost");
    wire_string_transport_free(st);
    rec_log_free(&log);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

/* Flow control crosses both ways: the transport below's pause_writing is
 * reported (and holds writes above the layer); the protocol above is
 * paused by its own watermarks, and everything arrives in order. */
START_TEST(test_flow_control)
{
    struct rec_log log = {0};
    struct tlog tl = {0};
    struct wire_transport *st =
        wire_string_transport_new(traced(rec_new(&log), &tl, NULL));
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(st, 16, 4), 0);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(log.t, 32, 8), 0);
    wire_string_transport_set_capacity(st, 10);
    char data[100];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)('a' + i % 26);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(wire_transport_write(log.t, data + 10 * i, 10), 0);
    settle(st);
    ck_assert_int_ge(log.paused, 1);
    (void)last_of(&tl, WIRE_TRACE_PAUSE_WRITING);
    /* The writes traced so far are what went down, not more. */
    size_t down = 0;
    for (int i = 0; i < tl.n; i++)
        if (tl.ev[i].kind == WIRE_TRACE_WRITE)
            down += tl.ev[i].len;
    ck_assert_uint_lt(down, sizeof(data));
    /* Room again: everything flows, in order, and both resume. */
    for (int i = 0; i < 64 && log.resumed < log.paused; i++) {
        wire_string_transport_set_capacity(st, SIZE_MAX);
        settle(st);
    }
    ck_assert_int_eq(log.resumed, log.paused);
    (void)last_of(&tl, WIRE_TRACE_RESUME_WRITING);
    size_t len = 0;
    const char *out = wire_string_transport_output(st, &len);
    ck_assert_uint_eq(len, sizeof(data));
    ck_assert_int_eq(memcmp(out, data, len), 0);
    down = 0;
    for (int i = 0; i < tl.n; i++)
        if (tl.ev[i].kind == WIRE_TRACE_WRITE) {
            ck_assert_int_eq(memcmp(tl.ev[i].data, data + down,
                                    tl.ev[i].len < 300 ? tl.ev[i].len : 300), 0);
            down += tl.ev[i].len;
        }
    ck_assert_uint_eq(down, sizeof(data));
    /* pause_writing and resume_writing alternate. */
    int depth = 0;
    for (int i = 0; i < tl.n; i++) {
        if (tl.ev[i].kind == WIRE_TRACE_PAUSE_WRITING)
            ck_assert_int_eq(++depth, 1);
        if (tl.ev[i].kind == WIRE_TRACE_RESUME_WRITING)
            ck_assert_int_eq(--depth, 0);
    }
    ck_assert_int_eq(depth, 0);
    wire_string_transport_free(st);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&log);
}
END_TEST

/* The PEP pause holds both ways: reading stops (reported), writes stay
 * above until resume, then go down. */
START_TEST(test_pause_both)
{
    struct rec_log log = {0};
    struct tlog tl = {0};
    struct wire_transport *st =
        wire_string_transport_new(traced(rec_new(&log), &tl, NULL));
    ck_assert_int_eq(wire_transport_pause(log.t), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "held", 4), 0);
    ck_assert_str_eq(unit_output(st), "");
    ck_assert_int_eq(wire_transport_resume(log.t), 0);
    settle(st);
    ck_assert_str_eq(unit_output(st), "held");
    ck_assert_str_eq(order(&tl),
                     "<connection_made >pause_reading >resume_reading >write:4");
    wire_string_transport_free(st);
    rec_log_free(&log);
}
END_TEST

static void
close_on_data(struct rec_log *log, struct wire_transport *t, const void *d,
              size_t n)
{
    (void)log;
    (void)d;
    (void)n;
    ck_assert_int_eq(wire_transport_write(t, "bye", 3), 0);
    wire_transport_close(t);
}

static void
abort_on_made(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    wire_transport_abort(t);
}

START_TEST(test_reentrant)
{
    struct rec_log log = {0};
    struct tlog tl = {0};
    log.on_data = close_on_data;
    struct wire_transport *st =
        wire_string_transport_new(traced(rec_new(&log), &tl, NULL));
    ck_assert_int_eq(wire_string_transport_feed(st, "hi", 2), 0);
    ck_assert_int_eq(log.lost, 0);
    settle(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    ck_assert_str_eq(unit_output(st), "bye");
    ck_assert(wire_string_transport_closed(st));
    ck_assert_str_eq(order(&tl),
                     "<connection_made <data_received:2 >write:3 >close <connection_lost");
    wire_string_transport_free(st);
    rec_log_free(&log);

    struct rec_log log2 = {0};
    struct tlog tl2 = {0};
    log2.on_made = abort_on_made;
    st = wire_string_transport_new(traced(rec_new(&log2), &tl2, NULL));
    settle(st);
    ck_assert_int_eq(log2.lost, 1);
    ck_assert_int_eq(log2.lost_code, WIRE_EABORTED);
    ck_assert_str_eq(order(&tl2), "<connection_made >abort <connection_lost");
    wire_string_transport_free(st);
    rec_log_free(&log2);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

START_TEST(test_new_errors)
{
    struct tlog tl = {0};
    struct wire_trace_opts o = {0};
    o.cb = tlog_cb;
    o.arg = &tl;
    o.arg_free = tlog_freed;
    struct wire_error err = {0};
    ck_assert_ptr_null(wire_trace_layer_new(NULL, &o, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_int_eq(tl.freed, 1); /* the arg is released on error too */
    wire_error_clear(&err);
    /* Destroyed before any transport made it: nothing reported, all
     * released. */
    struct rec_log log = {0};
    struct wire_protocol *p = traced(rec_new(&log), &tl, NULL);
    wire_protocol_destroy(p);
    ck_assert_int_eq(tl.n, 0);
    ck_assert_int_eq(tl.freed, 2);
    ck_assert_int_eq(log.destroyed, 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&log);
}
END_TEST

/* ---- output ---- */

START_TEST(test_format)
{
    char buf[256];
    struct iovec iov[2] = {{"hel", 3}, {"lo", 2}};
    struct wire_trace_event ev = {0};
    ev.kind = WIRE_TRACE_WRITE;
    ev.dir = WIRE_TRACE_DOWN;
    ev.time_us = 12345;
    ev.label = "tcp://127.0.0.1:5000";
    ev.iov = iov;
    ev.iovcnt = 2;
    ev.len = 5;
    ev.dump_len = 32;
    ck_assert_int_eq(wire_trace_format(&ev, buf, sizeof(buf)), (int)strlen(buf));
    ck_assert_str_eq(buf, "[    12.345 ms] tcp://127.0.0.1:5000 > write 5 B  "
                          "68 65 6c 6c 6f  |hello|");
    /* Cut to the dump length. */
    ev.dump_len = 4;
    wire_trace_format(&ev, buf, sizeof(buf));
    ck_assert_str_eq(buf, "[    12.345 ms] tcp://127.0.0.1:5000 > write 5 B  "
                          "68 65 6c 6c ...  |hell|...");
    /* No dump. */
    ev.dump_len = 0;
    ev.time_us = 3600000000ull + 7;
    wire_trace_format(&ev, buf, sizeof(buf));
    ck_assert_str_eq(buf, "[3600000.007 ms] tcp://127.0.0.1:5000 > write 5 B");
    /* Binary bytes; a label with spaces stays one field. */
    static const unsigned char bin[] = {0x00, 0x7f, 0xff, '|', ' ', 'A'};
    struct iovec biov = {(void *)(uintptr_t)bin, sizeof(bin)};
    ev.kind = WIRE_TRACE_DATA_RECEIVED;
    ev.dir = WIRE_TRACE_UP;
    ev.time_us = 0;
    ev.label = "exec:tr a-z\tA-Z";
    ev.iov = &biov;
    ev.iovcnt = 1;
    ev.len = sizeof(bin);
    ev.dump_len = 32;
    wire_trace_format(&ev, buf, sizeof(buf));
    ck_assert_str_eq(buf, "[     0.000 ms] exec:tr_a-z_A-Z < data_received 6 B  "
                          "00 7f ff 7c 20 41  |...| A|");
    /* Empty data (a message transport below). */
    ev.len = 0;
    ev.iovcnt = 0;
    wire_trace_format(&ev, buf, sizeof(buf));
    ck_assert_str_eq(buf, "[     0.000 ms] exec:tr_a-z_A-Z < data_received 0 B");
    /* Made, with and without addresses. */
    struct wire_trace_event m = {0};
    m.kind = WIRE_TRACE_CONNECTION_MADE;
    m.dir = WIRE_TRACE_UP;
    m.label = "x";
    m.peer = "unix:/tmp/s";
    wire_trace_format(&m, buf, sizeof(buf));
    ck_assert_str_eq(buf, "[     0.000 ms] x < connection_made peer=unix:/tmp/s");
    m.peer = NULL;
    m.local = "tcp://[::1]:80";
    wire_trace_format(&m, buf, sizeof(buf));
    ck_assert_str_eq(buf, "[     0.000 ms] x < connection_made local=tcp://[::1]:80");
    /* Every name. */
    static const char *const names[] = {
        NULL, "connection_made", "data_received", "eof_received",
        "pause_writing", "resume_writing", "connection_lost", "write",
        "write_eof", "pause_reading", "resume_reading", "close", "abort"};
    for (int k = 1; k <= 12; k++)
        ck_assert_str_eq(wire_trace_kind_name((enum wire_trace_kind)k), names[k]);
    ck_assert_str_eq(wire_trace_kind_name((enum wire_trace_kind)0), "?");
    ck_assert_str_eq(wire_trace_kind_name((enum wire_trace_kind)13), "?");
    m.kind = WIRE_TRACE_RESUME_READING;
    m.dir = WIRE_TRACE_DOWN;
    wire_trace_format(&m, buf, sizeof(buf));
    ck_assert_str_eq(buf, "[     0.000 ms] x > resume_reading");
    /* snprintf-like: cut, terminated, the whole length returned. */
    char small[8];
    int n = wire_trace_format(&m, small, sizeof(small));
    ck_assert_int_eq(n, (int)strlen("[     0.000 ms] x > resume_reading"));
    ck_assert_str_eq(small, "[     0");
    ck_assert_int_eq(wire_trace_format(&m, NULL, 0), n);
    ck_assert_int_eq(wire_trace_format(NULL, buf, sizeof(buf)), WIRE_EINVAL);
    ck_assert_int_eq(wire_trace_format(&m, NULL, 4), WIRE_EINVAL);
}
END_TEST

/* Read all of `f` from its start into a new string. */
static char *
slurp(FILE *f)
{
    ck_assert_int_eq(fflush(f), 0);
    long size = ftell(f);
    ck_assert_int_ge(size, 0);
    char *s = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(s);
    rewind(f);
    ck_assert_uint_eq(fread(s, 1, (size_t)size, f), (size_t)size);
    s[size] = '\0';
    return s;
}

/* The `i`th line of `text` (from 0) without its stamp, copied to `buf`. */
static const char *
line_at(const char *text, int i, char *buf, size_t size)
{
    const char *p = text;
    for (; i > 0 && p != NULL; i--) {
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    ck_assert_msg(p != NULL && *p != '\0', "too few lines in:\n%s", text);
    size_t n = strcspn(p, "\n");
    ck_assert_uint_lt(n, size);
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *u = (char *)(uintptr_t)unstamped(buf);
    memmove(buf, u, strlen(u) + 1);
    return buf;
}

START_TEST(test_lines_to_file)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    struct rec_log log = {0};
    struct wire_trace_opts o = {0};
    o.file = f;
    o.label = "T";
    struct wire_error err = {0};
    struct wire_protocol *p = wire_trace_layer_new(rec_new(&log), &o, &err);
    ck_assert_ptr_nonnull(p);
    struct wire_transport *st = wire_string_transport_new(p);
    static const unsigned char bin[] = {0x00, 0x01, 0xff, 'h', 'e', 'l', 'l', 'o', 0x7f};
    ck_assert_int_eq(wire_string_transport_feed(st, bin, sizeof(bin)), 0);
    char big[100];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('0' + i % 10);
    ck_assert_int_eq(wire_transport_write(log.t, big, sizeof(big)), 0);
    ck_assert_int_eq(memcmp(log.in, bin, sizeof(bin)), 0);
    wire_transport_close(log.t);
    settle(st);
    char *text = slurp(f);
    char line[600];
    ck_assert_str_eq(line_at(text, 0, line, sizeof(line)), "T < connection_made");
    ck_assert_str_eq(line_at(text, 1, line, sizeof(line)),
                     "T < data_received 9 B  00 01 ff 68 65 6c 6c 6f 7f  |...hello.|");
    ck_assert_str_eq(line_at(text, 2, line, sizeof(line)),
                     "T > write 100 B  30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 "
                     "35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30 31 ...  "
                     "|01234567890123456789012345678901|...");
    ck_assert_str_eq(line_at(text, 3, line, sizeof(line)), "T > close");
    ck_assert_str_eq(line_at(text, 4, line, sizeof(line)), "T < connection_lost ok");
    /* One line per event, each ending in a newline. */
    size_t nl = 0;
    for (const char *c = text; *c != '\0'; c++)
        nl += *c == '\n';
    ck_assert_uint_eq(nl, 5);
    ck_assert_int_eq(text[strlen(text) - 1], '\n');
    free(text);
    wire_string_transport_free(st);
    fclose(f);
    rec_log_free(&log);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

START_TEST(test_dump_options)
{
    /* A long dump length, and no dump at all. */
    for (int k = 0; k < 2; k++) {
        FILE *f = tmpfile();
        ck_assert_ptr_nonnull(f);
        struct rec_log log = {0};
        struct wire_trace_opts o = {0};
        o.file = f;
        o.label = "T";
        o.dump_len = k == 0 ? 1000 : 8;
        o.no_dump = k == 1;
        struct wire_transport *st = wire_string_transport_new(
            wire_trace_layer_new(rec_new(&log), &o, NULL));
        char big[700];
        memset(big, 'z', sizeof(big));
        ck_assert_int_eq(wire_string_transport_feed(st, big, sizeof(big)), 0);
        ck_assert_uint_eq(log.in_len, sizeof(big));
        wire_string_transport_free(st);
        char *text = slurp(f);
        char line[4096];
        line_at(text, 1, line, sizeof(line));
        if (k == 0) {
            /* All 700 bytes: 700 hex pairs and 700 characters. */
            ck_assert_uint_eq(strlen(line),
                              strlen("T < data_received 700 B ") + 3 * 700 +
                                  strlen("  |") + 700 + 1);
            ck_assert_ptr_null(strstr(line, "..."));
        } else {
            ck_assert_str_eq(line, "T < data_received 700 B");
        }
        free(text);
        fclose(f);
        rec_log_free(&log);
    }
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

/* ---- capturing stderr ---- */

struct capture {
    FILE *f;
    int saved;
};

static void
capture_start(struct capture *c)
{
    fflush(stderr);
    c->f = tmpfile();
    ck_assert_ptr_nonnull(c->f);
    c->saved = dup(2);
    ck_assert_int_ge(c->saved, 0);
    ck_assert_int_ge(dup2(fileno(c->f), 2), 0);
}

/* Restore stderr; what was written meanwhile, as a new string. */
static char *
capture_end(struct capture *c)
{
    fflush(stderr);
    ck_assert_int_ge(dup2(c->saved, 2), 0);
    close(c->saved);
    ck_assert_int_eq(fseek(c->f, 0, SEEK_END), 0);
    char *s = slurp(c->f);
    fclose(c->f);
    return s;
}

/* `text` has a line that, without its stamp, is `want`. */
#define ck_assert_line(text, want)                                            \
    ck_assert_msg(has_line((text), (want)), "no line '%s' in:\n%s", (want),   \
                  (text))

static bool
has_line(const char *text, const char *want)
{
    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *s = strstr(p, " ms] ");
        const char *e = strchr(p, '\n');
        if (s != NULL && (e == NULL || s < e)) {
            s += 5;
            size_t n = e != NULL ? (size_t)(e - s) : strlen(s);
            if (n == strlen(want) && strncmp(s, want, n) == 0)
                return true;
        }
        p = e != NULL ? e + 1 : NULL;
    }
    return false;
}

/* A line starting with `prefix` (after the stamp). */
static bool
has_line_prefix(const char *text, const char *prefix)
{
    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *s = strstr(p, " ms] ");
        const char *e = strchr(p, '\n');
        if (s != NULL && (e == NULL || s < e) &&
            strncmp(s + 5, prefix, strlen(prefix)) == 0)
            return true;
        p = e != NULL ? e + 1 : NULL;
    }
    return false;
}

#define ck_assert_line_prefix(text, want)                                     \
    ck_assert_msg(has_line_prefix((text), (want)), "no line '%s...' in:\n%s", \
                  (want), (text))

START_TEST(test_stderr_default)
{
    struct capture cap;
    struct rec_log log = {0};
    capture_start(&cap);
    struct wire_transport *st =
        wire_string_transport_new(wire_trace_layer_new(rec_new(&log), NULL, NULL));
    ck_assert_int_eq(wire_string_transport_feed(st, "ping", 4), 0);
    wire_transport_abort(log.t);
    settle(st);
    wire_string_transport_free(st);
    char *text = capture_end(&cap);
    ck_assert_line(text, "string < connection_made");
    ck_assert_line(text, "string < data_received 4 B  70 69 6e 67  |ping|");
    ck_assert_line(text, "string > abort");
    ck_assert_line(text, "string < connection_lost WIRE_EABORTED: connection aborted locally");
    free(text);
    rec_log_free(&log);
}
END_TEST

/* Trace lines into a pipe nobody reads: the write fails (EPIPE, and no
 * SIGPIPE reaches the process), the connection does not notice. */
START_TEST(test_broken_output)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    close(fds[0]);
    FILE *f = fdopen(fds[1], "w");
    ck_assert_ptr_nonnull(f);
    struct rec_log log = {0};
    struct wire_trace_opts o = {0};
    o.file = f;
    struct wire_transport *st =
        wire_string_transport_new(wire_trace_layer_new(rec_new(&log), &o, NULL));
    ck_assert_int_eq(wire_string_transport_feed(st, "ping", 4), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "pong", 4), 0);
    ck_assert_str_eq(rec_in(&log), "ping");
    ck_assert_str_eq(unit_output(st), "pong");
    errno = 0;
    wire_transport_close(log.t);
    settle(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    ck_assert(!ferror(f));
    wire_string_transport_free(st);
    fclose(f);
    rec_log_free(&log);
}
END_TEST

/* ---- stacks ---- */

START_TEST(test_under_lines)
{
    struct rec_log log = {0};
    struct tlog tl = {0};
    log.messages = true;
    struct wire_chunk_opts co;
    wire_lines_opts_init(&co, false, false);
    struct wire_error err = {0};
    struct wire_protocol *lines = wire_chunk_layer_new(rec_new(&log), &co, &err);
    ck_assert_ptr_nonnull(lines);
    struct wire_transport *st = wire_string_transport_new(traced(lines, &tl, "raw"));
    ck_assert_str_eq(wire_transport_name(log.t), "lines");
    ck_assert_int_eq(wire_string_transport_feed(st, "a\nbb\n\n", 6), 0);
    ck_assert_str_eq(rec_escaped(&log), "a|bb||");
    ck_assert_int_eq(wire_transport_write(log.t, "x", 1), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
    ck_assert_str_eq(unit_output(st), "x\n\n");
    wire_transport_close(log.t);
    settle(st);
    /* The lines layer stops reading as it closes: that crosses too. */
    ck_assert_str_eq(order(&tl),
                     "<connection_made <data_received:6 >write:2 >write:1 "
                     ">pause_reading >close <connection_lost");
    ck_assert_int_eq(memcmp(tl.ev[2].data, "x\n", 2), 0);
    wire_string_transport_free(st);
    rec_log_free(&log);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

START_TEST(test_two_layers)
{
    struct rec_log log = {0};
    struct tlog tl = {0};
    struct wire_transport *st = wire_string_transport_new(
        traced(traced(rec_new(&log), &tl, "top"), &tl, "bottom"));
    ck_assert_str_eq(wire_transport_name(log.t), "string");
    ck_assert_int_eq(wire_string_transport_feed(st, "in", 2), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "out", 3), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    settle(st);
    ck_assert_str_eq(unit_output(st), "out");
    ck_assert_int_eq(log.lost, 1);
    /* Up: bottom first; down: top first. */
    char got[1024] = "";
    for (int i = 0; i < tl.n; i++) {
        char one[64];
        snprintf(one, sizeof(one), "%s%s:%s", i ? " " : "", tl.ev[i].label,
                 wire_trace_kind_name(tl.ev[i].kind));
        strcat(got, one);
    }
    ck_assert_str_eq(got,
                     "bottom:connection_made top:connection_made "
                     "bottom:data_received top:data_received "
                     "top:write bottom:write "
                     "bottom:eof_received top:eof_received "
                     "top:close bottom:close "
                     "bottom:connection_lost top:connection_lost");
    wire_string_transport_free(st);
    ck_assert_int_eq(tl.freed, 2);
    rec_log_free(&log);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

static bool
both_lost(void *arg)
{
    struct rec_log *l = arg;
    return l[0].lost_flag && l[1].lost_flag;
}

static bool
both_made(void *arg)
{
    struct rec_log *l = arg;
    return l[0].made_flag && l[1].made_flag;
}

static bool
got_4(void *arg)
{
    return ((struct rec_log *)arg)->in_len >= 4;
}

START_TEST(test_mem_pair)
{
    struct wire_loop *loop = wire_loop_new();
    struct rec_log log[2];
    struct tlog *tl = calloc(2, sizeof(*tl));
    ck_assert_ptr_nonnull(tl);
    memset(log, 0, sizeof(log));
    log[1].eof_keep = true;
    ck_assert_int_eq(wire_mem_pair(loop, traced(rec_new(&log[0]), &tl[0], "a"),
                                   traced(rec_new(&log[1]), &tl[1], "b"), 0,
                                   NULL, NULL),
                     0);
    ck_assert(unit_run_until(loop, both_made, log, 5000));
    ck_assert_str_eq(wire_transport_name(log[0].t), "mem");
    ck_assert_int_eq(wire_transport_write(log[0].t, "ping", 4), 0);
    ck_assert(unit_run_until(loop, got_4, &log[1], 5000));
    ck_assert_int_eq(wire_transport_write_eof(log[0].t), 0);
    ck_assert(unit_run_until(loop, log_eof, &log[1], 5000));
    ck_assert_int_eq(wire_transport_write(log[1].t, "pong", 4), 0);
    ck_assert(unit_run_until(loop, got_4, &log[0], 5000));
    /* b aborts: a's loss and its trace carry the same error. */
    wire_transport_abort(log[1].t);
    ck_assert(unit_run_until(loop, both_lost, log, 5000));
    ck_assert_str_eq(rec_in(&log[1]), "ping");
    ck_assert_str_eq(rec_in(&log[0]), "pong");
    ck_assert_str_eq(order(&tl[0]),
                     "<connection_made >write:4 >write_eof <data_received:4 "
                     "<connection_lost");
    ck_assert_str_eq(order(&tl[1]),
                     "<connection_made <data_received:4 <eof_received >write:4 "
                     ">abort <connection_lost");
    const struct tev *e = last_of(&tl[0], WIRE_TRACE_CONNECTION_LOST);
    ck_assert(e->has_err);
    ck_assert_int_eq(e->code, log[0].lost_code);
    ck_assert_str_eq(e->msg, log[0].lost_msg);
    ck_assert_int_eq(last_of(&tl[1], WIRE_TRACE_CONNECTION_LOST)->code, WIRE_EABORTED);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(tl[0].freed + tl[1].freed, 2);
    wire_loop_free(loop);
    rec_log_free(&log[0]);
    rec_log_free(&log[1]);
    free(tl);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

/* ---- endpoints ---- */

static struct wire_protocol *
rec_factory(void *arg)
{
    return rec_new(arg);
}

/* Serve `listen` and dial the server's address plus `dial_query`, send
 * "ping" and "pong", close from the client.  Returns what stderr got;
 * `*addr` gets the server's address. */
static char *
exchange(const char *listen, const char *dial_query, char *addr, size_t addr_len)
{
    struct wire_loop *loop = wire_loop_new();
    struct rec_log log[2]; /* [0] client, [1] server */
    memset(log, 0, sizeof(log));
    struct capture cap;
    capture_start(&cap);
    struct wire_server *srv = NULL;
    struct wire_error err = {0};
    int rc = wire_listen(loop, listen, rec_factory, &log[1], NULL, &srv, &err);
    ck_assert_msg(rc == 0, "listen %s: %s", listen, err.message);
    snprintf(addr, addr_len, "%s", wire_server_address(srv));
    char dial[1024];
    snprintf(dial, sizeof(dial), "%s%s", addr, dial_query);
    rc = wire_connect(loop, dial, rec_new(&log[0]), NULL, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "connect %s: %s", dial, err.message);
    ck_assert(unit_run_until(loop, both_made, log, 10000));
    ck_assert_int_eq(wire_transport_write(log[0].t, "ping", 4), 0);
    ck_assert(unit_run_until(loop, got_4, &log[1], 10000));
    ck_assert_int_eq(wire_transport_write(log[1].t, "pong", 4), 0);
    ck_assert(unit_run_until(loop, got_4, &log[0], 10000));
    wire_transport_close(log[0].t);
    ck_assert(unit_run_until(loop, both_lost, log, 10000));
    wire_server_free(srv);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    char *text = capture_end(&cap);
    ck_assert_str_eq(rec_in(&log[1]), "ping");
    ck_assert_str_eq(rec_in(&log[0]), "pong");
    ck_assert(log[0].lost_null);
    ck_assert(log[1].lost_null);
    rec_log_free(&log[0]);
    rec_log_free(&log[1]);
    ck_assert_int_eq(unit_live_protocols, 0);
    return text;
}

START_TEST(test_endpoint_tcp)
{
    char addr[256], want[1024];
    char *text = exchange("tcp://127.0.0.1:0?trace=1", "?trace=yes", addr,
                          sizeof(addr));
    /* The client, labelled with the endpoint dialled. */
    snprintf(want, sizeof(want), "%s < connection_made peer=%s local=tcp://127.0.0.1:",
             addr, addr);
    ck_assert_line_prefix(text, want);
    snprintf(want, sizeof(want), "%s > write 4 B  70 69 6e 67  |ping|", addr);
    ck_assert_line(text, want);
    snprintf(want, sizeof(want), "%s < data_received 4 B  70 6f 6e 67  |pong|", addr);
    ck_assert_line(text, want);
    snprintf(want, sizeof(want), "%s > close", addr);
    ck_assert_line(text, want);
    snprintf(want, sizeof(want), "%s < connection_lost ok", addr);
    ck_assert_line(text, want);
    /* The server's connection: its address and number. */
    snprintf(want, sizeof(want), "%s#1 < connection_made peer=tcp://127.0.0.1:", addr);
    ck_assert_line_prefix(text, want);
    snprintf(want, sizeof(want), "%s#1 < data_received 4 B  70 69 6e 67  |ping|", addr);
    ck_assert_line(text, want);
    snprintf(want, sizeof(want), "%s#1 > write 4 B  70 6f 6e 67  |pong|", addr);
    ck_assert_line(text, want);
    snprintf(want, sizeof(want), "%s#1 < eof_received", addr);
    ck_assert_line(text, want);
    snprintf(want, sizeof(want), "%s#1 < connection_lost ok", addr);
    ck_assert_line(text, want);
    free(text);
}
END_TEST

START_TEST(test_endpoint_unix_mem)
{
    char dir[] = "/tmp/wire-trace-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char listen[300], addr[300], want[1024];
    snprintf(listen, sizeof(listen), "unix:%s/s?backlog=4&trace=on", dir);
    char *text = exchange(listen, "?trace", addr, sizeof(addr));
    snprintf(want, sizeof(want), "unix:%s/s", dir);
    ck_assert_str_eq(addr, want);
    /* An unnamed peer is left out. */
    snprintf(want, sizeof(want), "%s#1 < connection_made local=%s", addr, addr);
    ck_assert_line(text, want);
    snprintf(want, sizeof(want), "%s < connection_made peer=%s", addr, addr);
    ck_assert_line(text, want);
    snprintf(want, sizeof(want), "%s#1 < data_received 4 B  70 69 6e 67  |ping|", addr);
    ck_assert_line(text, want);
    snprintf(want, sizeof(want), "%s > write 4 B  70 69 6e 67  |ping|", addr);
    ck_assert_line(text, want);
    free(text);
    rmdir(dir);

    /* mem: with trace only on the dialling side. */
    text = exchange("mem:tr", "?trace=1", addr, sizeof(addr));
    ck_assert_str_eq(addr, "mem:tr");
    ck_assert_line(text, "mem:tr > write 4 B  70 69 6e 67  |ping|");
    ck_assert_ptr_null(strstr(text, "mem:tr#1"));
    free(text);
}
END_TEST

static bool
got_hi(void *arg)
{
    struct rec_log *l = arg;
    return l->in_len >= 3 || l->lost_flag;
}

START_TEST(test_endpoint_exec)
{
    struct wire_loop *loop = wire_loop_new();
    struct rec_log log = {0};
    struct capture cap;
    struct wire_error err = {0};
    capture_start(&cap);
    int rc = wire_connect(loop, "exec:cat?stderr=null&trace=1", rec_new(&log),
                          NULL, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert(unit_run_until(loop, log_made, &log, 10000));
    ck_assert_int_eq(wire_transport_write(log.t, "hi\n", 3), 0);
    ck_assert(unit_run_until(loop, got_hi, &log, 10000));
    /* The subprocess calls reach the child through the layer on top. */
    ck_assert_int_eq(wire_subprocess_kill(log.t, 0), 0);
    ck_assert_int_eq(wire_transport_write_eof(log.t), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    wire_loop_free(loop);
    char *text = capture_end(&cap);
    ck_assert_str_eq(rec_in(&log), "hi\n");
    ck_assert(log.lost_null);
    ck_assert_line(text, "exec:cat?stderr=null > write 3 B  68 69 0a  |hi.|");
    ck_assert_line(text, "exec:cat?stderr=null < data_received 3 B  68 69 0a  |hi.|");
    ck_assert_line(text, "exec:cat?stderr=null > write_eof");
    ck_assert_line(text, "exec:cat?stderr=null < eof_received");
    ck_assert_line(text, "exec:cat?stderr=null < connection_lost ok");
    free(text);
    rec_log_free(&log);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

START_TEST(test_endpoint_tls)
{
    struct tls_certs certs;
    memset(&certs, 0, sizeof(certs));
    ck_assert_int_eq(tls_certs_make(&certs), 0);
    char listen[1500], query[1000], addr[256], want[1024];
    snprintf(listen, sizeof(listen), "tls://127.0.0.1:0?cert=%s&key=%s&trace=both",
             certs.server_cert, certs.server_key);
    snprintf(query, sizeof(query), "?ca=%s&trace=raw", certs.ca);
    char *text = exchange(listen, query, addr, sizeof(addr));
    /* And the client's plaintext, above TLS, with an untraced server. */
    char listen2[1500], query2[1000], addr2[256];
    snprintf(listen2, sizeof(listen2), "tls://127.0.0.1:0?cert=%s&key=%s",
             certs.server_cert, certs.server_key);
    snprintf(query2, sizeof(query2), "?trace=1&ca=%s", certs.ca);
    char *text2 = exchange(listen2, query2, addr2, sizeof(addr2));
    tls_certs_remove(&certs);
    snprintf(want, sizeof(want), "%s > write 4 B  70 69 6e 67  |ping|", addr2);
    ck_assert_line(text2, want);
    snprintf(want, sizeof(want), "%s < data_received 4 B  70 6f 6e 67  |pong|", addr2);
    ck_assert_line(text2, want);
    snprintf(want, sizeof(want), "%s < connection_lost ok", addr2);
    ck_assert_line(text2, want);
    ck_assert_msg(!has_line_prefix(text2, "tcp://"), "records traced:\n%s", text2);
    free(text2);
    ck_assert_int_eq(strncmp(addr, "tls://", 6), 0);
    const char *hp = addr + 6;
    /* The server: plaintext above TLS, records under it. */
    snprintf(want, sizeof(want), "%s#1 < data_received 4 B  70 69 6e 67  |ping|", addr);
    ck_assert_line(text, want);
    snprintf(want, sizeof(want), "tcp://%s#1 < data_received ", hp);
    ck_assert_line_prefix(text, want);
    snprintf(want, sizeof(want), "tcp://%s#1 > write ", hp);
    ck_assert_line_prefix(text, want);
    /* The client traced under TLS only: the ClientHello is a handshake
     * record (0x16) of TLS 1.x (0x03 0x01). */
    snprintf(want, sizeof(want), "tcp://%s > write ", hp);
    ck_assert_line_prefix(text, want);
    ck_assert_ptr_nonnull(strstr(text, " B  16 03 01 "));
    for (int k = 0; k < 2; k++) {
        snprintf(want, sizeof(want), "%s %c ", addr, k ? '<' : '>');
        ck_assert_msg(!has_line_prefix(text, want),
                      "plaintext traced on the client:\n%s", text);
    }
    free(text);
}
END_TEST

struct bad_trace {
    const char *str;
    bool listen;
    const char *part;
};

static const struct bad_trace bad_traces[] = {
    {"tcp://127.0.0.1:1?trace=banana", false, "trace=banana: expected yes, no, raw or both"},
    {"tcp://127.0.0.1:0?nodelay=1&trace=2", true, "trace=2"},
    {"unix:/tmp/nowhere?trace=maybe", false, "trace=maybe"},
    {"mem:x?trace=", true, NULL}, /* empty means yes: no error */
    {"tls://127.0.0.1:1?trace=banana", false, "trace=banana"},
    {"tls://127.0.0.1:0?trace=banana", true, "trace=banana"},
    {"exec:cat?trace=banana", false, "trace=banana"},
    {"stdio:?trace=sometimes", false, "trace=sometimes"},
    {"file:/dev/null?trace=x", false, "trace=x"},
    {"tcp://127.0.0.1:1?trace=1&bogus=1", false, "unknown parameter 'bogus'"},
    {"tls://127.0.0.1:1?trace=both&bogus=1", false, "unknown parameter 'bogus'"},
    {"unix:/tmp/nowhere?trace=1&backlog=1", false, "unknown parameter 'backlog'"},
};

START_TEST(test_endpoint_bad)
{
    const struct bad_trace *b = &bad_traces[_i];
    struct wire_loop *loop = wire_loop_new();
    struct wire_error err = {0};
    int rc;
    if (b->listen) {
        struct wire_server *srv = NULL;
        rc = wire_listen(loop, b->str, rec_factory, NULL, NULL, &srv, &err);
        if (b->part == NULL) {
            ck_assert_msg(rc == 0, "%s: %s", b->str, err.message);
            wire_server_free(srv);
        }
    } else {
        struct rec_log log = {0};
        struct wire_protocol *p = rec_new(&log);
        rc = wire_connect(loop, b->str, p, NULL, NULL, NULL, &err);
        /* Refused: the protocol stays the caller's, untouched. */
        ck_assert_int_eq(log.destroyed, 0);
        ck_assert_int_eq(log.made, 0);
        wire_protocol_destroy(p);
        rec_log_free(&log);
    }
    if (b->part != NULL) {
        ck_assert_msg(rc == WIRE_EENDPOINT, "%s gave %s", b->str, wire_err_name(rc));
        ck_assert_contains(err.message, b->part);
    }
    wire_error_clear(&err);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

static int off_calls;
static int off_code;

static void
off_cb(void *arg, struct wire_transport *t, const struct wire_error *e)
{
    (void)arg;
    (void)t;
    off_calls++;
    off_code = e != NULL ? e->code : 0;
}

/* trace=0 is accepted and traces nothing. */
START_TEST(test_endpoint_off)
{
    struct wire_loop *loop = wire_loop_new();
    struct rec_log log = {0};
    struct capture cap;
    struct wire_error err = {0};
    off_calls = 0;
    capture_start(&cap);
    ck_assert_int_eq(wire_connect(loop, "mem:nobody?trace=off", rec_new(&log),
                                  NULL, off_cb, NULL, &err),
                     0);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    char *text = capture_end(&cap);
    ck_assert_int_eq(off_calls, 1);
    ck_assert_int_ne(off_code, 0);
    ck_assert_str_eq(text, "");
    free(text);
    rec_log_free(&log);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

Suite *
trace_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = unit_tcase(s, "core");
    tcase_add_test(tc, test_every_kind_in_order);
    tcase_add_test(tc, test_abort_and_errors_pass_through);
    tcase_add_test(tc, test_write_while_lower_ends);
    tcase_add_test(tc, test_flow_control);
    tcase_add_test(tc, test_pause_both);
    tcase_add_test(tc, test_reentrant);
    tcase_add_test(tc, test_new_errors);

    tc = unit_tcase(s, "output");
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_lines_to_file);
    tcase_add_test(tc, test_dump_options);
    tcase_add_test(tc, test_stderr_default);
    tcase_add_test(tc, test_broken_output);

    tc = unit_tcase(s, "stack");
    tcase_add_test(tc, test_under_lines);
    tcase_add_test(tc, test_two_layers);
    tcase_add_test(tc, test_mem_pair);

    tc = unit_tcase(s, "endpoint");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_endpoint_tcp);
    tcase_add_test(tc, test_endpoint_unix_mem);
    tcase_add_test(tc, test_endpoint_exec);
    tcase_add_test(tc, test_endpoint_tls);
    tcase_add_loop_test(tc, test_endpoint_bad, 0,
                        (int)(sizeof(bad_traces) / sizeof(bad_traces[0])));
    tcase_add_test(tc, test_endpoint_off);
    return s;
}
