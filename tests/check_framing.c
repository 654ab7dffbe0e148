/*
 * Framing (<wire/framing.h>): what the chunk and lenprefix layers share,
 * sans-I/O over the string transport: names and options (and refusing
 * bad ones), the half-close after queued frames, pausing and closing from
 * inside a message, and flow control through a layer.  Each format's own
 * parsing and writing is in check_chunk.c and check_lenprefix.c, the
 * callback forms in check_message_handler.c; the helpers in
 * framing_util.c (framing.h).
 */
#include "framing.h"

#include <stdlib.h>
#include <string.h>

/* ---- the half-close ---- */

START_TEST(test_write_eof_after_frames)
{
    struct stack_cfg cfgs[2];
    cfgs[0] = chunk_cfg("\r\n", 0);
    cfgs[1] = ns_cfg(0);
    static const char *const outs[2] = {"a\r\nb\r\n", "1:a,1:b,"};
    for (int k = 0; k < 2; k++) {
        struct rec_log log = {0};
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
        ck_assert_str_eq(rec_escaped(&log), "hi|");
        stack_free(st, &log);
    }
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
        struct rec_log log = {0};
        struct wire_transport *st = stack_new(&cases[i].c, &log);
        assert_name(log.t, cases[i].name);
        /* wire_chunk_write knows a chunk layer by what it is, not by
         * its name. */
        int want = cases[i].c.kind == K_CHUNK ? 0 : WIRE_EINVAL;
        ck_assert_int_eq(wire_chunk_write(log.t, "n", 1), want);
        stack_free(st, &log);
    }
}
END_TEST

START_TEST(test_chunk_write_wrong_transport)
{
    /* The string transport itself, a lenprefix layer: not chunk layers. */
    struct stack_cfg c = lp_cfg(2, false, 0);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_chunk_write(st, "x", 1), WIRE_EINVAL);
    ck_assert_int_eq(wire_chunk_write(log.t, "x", 1), WIRE_EINVAL);
    ck_assert_int_eq(wire_line_write(log.t, "x"), WIRE_EINVAL);
    ck_assert_int_eq(wire_line_writef(log.t, "%d", 1), WIRE_EINVAL);
    ck_assert_int_eq(wire_chunk_write(NULL, "x", 1), WIRE_EINVAL);
    ck_assert_str_eq(unit_output(st), "");
    stack_free(st, &log);
}
END_TEST

START_TEST(test_invalid_opts)
{
    struct wire_chunk_opts co;
    struct wire_error err = {0};
    struct rec_log log = {.messages = true};

    wire_chunk_opts_init(&co);
    co.delim = "";
    co.delim_len = 0;
    assert_einval(wire_chunk_layer_new(rec_new(&log), &co, &err), &err,
                  "chunk: the delimiter is empty");
    ck_assert_int_eq(log.destroyed, 1);
    ck_assert_int_eq(log.made, 0);
    ck_assert_int_eq(unit_live_protocols, 0);

    wire_chunk_opts_init(&co);
    co.write_delim = "";
    co.write_delim_len = 0;
    assert_einval(wire_chunk_layer_new(rec_new(&log), &co, &err), &err, NULL);
    ck_assert_int_eq(log.destroyed, 2);

    char longd[65];
    memset(longd, '-', sizeof(longd));
    wire_chunk_opts_init(&co);
    co.delim = longd;
    co.delim_len = sizeof(longd);
    assert_einval(wire_chunk_layer_new(rec_new(&log), &co, &err), &err, NULL);
    ck_assert_int_eq(log.destroyed, 3);
    /* 64 bytes is allowed. */
    co.delim_len = 64;
    struct wire_protocol *p = wire_chunk_layer_new(rec_new(&log), &co, &err);
    ck_assert_ptr_nonnull(p);
    struct wire_transport *st = wire_string_transport_new(p);
    wire_string_transport_free(st);
    ck_assert_int_eq(log.destroyed, 4);

    /* NULL upper: still just an error. */
    wire_chunk_opts_init(&co);
    co.delim_len = 0;
    co.delim = "";
    assert_einval(wire_chunk_layer_new(NULL, &co, &err), &err, NULL);

    struct wire_lenprefix_opts lo;
    wire_lenprefix_opts_init(&lo, 3, false);
    assert_einval(wire_lenprefix_layer_new(rec_new(&log), &lo, &err), &err,
                  "lenprefix: the prefix width must be 1, 2, 4 or 8 bytes");
    ck_assert_int_eq(log.destroyed, 5);
    wire_lenprefix_opts_init(&lo, 0, false);
    assert_einval(wire_lenprefix_layer_new(rec_new(&log), &lo, &err), &err, NULL);
    ck_assert_int_eq(log.destroyed, 6);
    wire_lenprefix_opts_init(&lo, 4, false);
    lo.kind = 7;
    assert_einval(wire_lenprefix_layer_new(rec_new(&log), &lo, &err), &err, NULL);
    ck_assert_int_eq(log.destroyed, 7);
    assert_einval(wire_lenprefix_layer_new(rec_new(&log), NULL, &err), &err,
                  NULL);
    ck_assert_int_eq(log.destroyed, 8);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&log);
}
END_TEST

/* ---- re-entrancy: pausing and closing from above ---- */

/* A stack and an input for it. */
struct stack_input {
    struct stack_cfg c;
    const char *in;
    size_t len;
};

static void
pause_on_each(struct rec_log *log, struct wire_transport *t, const void *d,
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
    struct rec_log log = {0};
    log.on_data = pause_on_each;
    struct wire_transport *st = stack_new(c, &log);
    ck_assert_int_eq(wire_string_transport_feed_split(st, in, len, piece), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    ck_assert_str_eq(rec_escaped(&log), want[0]);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_escaped(&log), want[0]); /* still paused */
    for (int i = 1; i < nwant; i++) {
        ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
        ck_assert_str_eq(rec_escaped(&log), want[i - 1]); /* not re-entrant */
        wire_string_transport_step(st);
        ck_assert_msg(strcmp(rec_escaped(&log), want[i]) == 0,
                      "piece %zu step %d: '%s', expected '%s'", piece, i,
                      rec_escaped(&log), want[i]);
        ck_assert_int_eq(log.eof, 0);
    }
    /* The EOF comes after the last held message. */
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    wire_string_transport_step(st);
    ck_assert_msg(log.eof == 1, "piece %zu: eof %d, lost %d (%s) marks %s",
                  piece, log.eof, log.lost, log.lost_msg, rec_escaped(&log));
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    ck_assert_str_eq(rec_escaped(&log), want[nwant - 1]);
    stack_free(st, &log);
}

START_TEST(test_pause_holds_messages)
{
    static const char *const want[] = {"a|", "a||", "a||bc|", "a||bc|d|"};
    struct stack_input cases[] = {
        {chunk_cfg(NULL, 0), IN("a\n\nbc\nd\n")},
        {chunk_cfg("\r\n\r\n", 0), IN("a\r\n\r\n\r\n\r\nbc\r\n\r\nd\r\n\r\n")},
        {ns_cfg(0), IN("1:a,0:,2:bc,1:d,")},
        {lp_cfg(1, false, 0), IN("\x01" "a\x00\x02" "bc\x01" "d")},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
        for (size_t piece = 1; piece <= 8; piece++)
            check_pause_each(&cases[k].c, cases[k].in, cases[k].len, want, 4,
                             piece);
}
END_TEST

START_TEST(test_pause_then_resume_all)
{
    /* Pause in the first message; input keeps coming (below is paused,
     * so the string transport holds it too); one resume delivers all. */
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct rec_log log = {0};
    log.on_data = rec_pause_on_first;
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_string_transport_feed(st, "1\n2\n3", 5), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, "\n4\n", 3), 0);
    ck_assert_str_eq(rec_escaped(&log), "1|");
    ck_assert(!wire_transport_is_reading(log.t));
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_escaped(&log), "1|2|3|4|");
    ck_assert_int_eq(wire_string_transport_feed(st, "5\n", 2), 0);
    ck_assert_str_eq(rec_escaped(&log), "1|2|3|4|5|");
    stack_free(st, &log);
}
END_TEST

static void
close_on_second(struct rec_log *log, struct wire_transport *t, const void *d,
                size_t n)
{
    (void)d;
    (void)n;
    if (log->data_calls == 2) {
        if (log->user_n)
            wire_transport_abort(t);
        else
            wire_transport_close(t);
    }
}

START_TEST(test_close_inside_message)
{
    fr_rand_reset("close_inside_message");
    struct stack_input cases[] = {
        {chunk_cfg(NULL, 0), IN("a\nb\nc\nd\n")},
        {ns_cfg(0), IN("1:a,1:b,1:c,1:d,")},
        {lp_cfg(2, true, 0), IN("\x01\x00" "a\x01\x00" "b\x01\x00" "c")},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        for (int abort_ = 0; abort_ < 2; abort_++) {
            for (size_t piece = 1; piece <= cases[k].len; piece++) {
                struct rec_log log = {0};
                log.on_data = close_on_second;
                log.user_n = abort_;
                struct wire_transport *st = stack_new(&cases[k].c, &log);
                int rc = wire_string_transport_feed_split(st, cases[k].in,
                                                          cases[k].len, piece);
                ck_assert(rc == 0 || rc == WIRE_ECLOSED);
                ck_assert_str_eq(rec_escaped(&log), "a|b|");
                ck_assert_int_eq(log.lost, 0);
                wire_string_transport_step(st);
                ck_assert_str_eq(rec_escaped(&log), "a|b|");
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
            }
        }
    }
}
END_TEST

static void
close_on_first(struct rec_log *log, struct wire_transport *t, const void *d,
               size_t n)
{
    (void)d;
    (void)n;
    if (log->data_calls == 1) {
        ck_assert_int_eq(wire_transport_pause_reading(t), 0);
        wire_transport_close(t);
    }
}

START_TEST(test_close_while_messages_held)
{
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct rec_log log = {0};
    log.on_data = close_on_first;
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_string_transport_feed(st, "a\nb\nc\n", 6), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_escaped(&log), "a|");
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    stack_free(st, &log);
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
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(c, &log);
    struct wire_transport *up = log.t;
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(st, 8, 0), 0);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(up, 16, 4), 0);
    wire_string_transport_set_capacity(st, 0);

    /* The framed form, built by a second stack with no back pressure. */
    struct rec_log ref = {0};
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
    struct rec_log back = {0};
    struct wire_transport *bst = stack_new(c, &back);
    ck_assert_int_eq(wire_string_transport_feed(bst, out, olen), 0);
    ck_assert_int_eq(back.data_calls, nmsg);
    for (int i = 0; i < nmsg; i++)
        ck_assert_uint_eq(back.lens[i], strlen(msgs[i]));
    stack_free(bst, &back);

    stack_free(rst, &ref);
    stack_free(st, &log);
    ck_assert_int_eq(ref_frees, refs);
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

Suite *
framing_suite(void)
{
    Suite *s = suite_create("framing");
    TCase *tc = fr_tcase(s, "options", 0);
    tcase_add_test(tc, test_write_eof_after_frames);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_chunk_write_wrong_transport);
    tcase_add_test(tc, test_invalid_opts);

    tc = fr_tcase(s, "reentrancy", 0);
    tcase_add_test(tc, test_pause_holds_messages);
    tcase_add_test(tc, test_pause_then_resume_all);
    tcase_add_test(tc, test_close_inside_message);
    tcase_add_test(tc, test_close_while_messages_held);

    tc = fr_tcase(s, "flow", 0);
    tcase_add_test(tc, test_flow_control);
    return s;
}
