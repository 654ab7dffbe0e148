/*
 * The string transport (sans-I/O): a line-echo protocol written here is
 * fed whole, byte by byte and in random splits and must answer the same;
 * EOF, errors, close and abort follow the lifetime rules (connection_lost
 * only from wire_string_transport_step, never inside the call that caused
 * it); flow control is stepped by hand with the capacity; write_ref free
 * callbacks run exactly once; the zero-copy receive path is used when the
 * protocol offers buffers.
 */
#include "unit.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct wire_transport *
st_new(struct rec_log *log)
{
    struct wire_transport *t = wire_string_transport_new(rec_new(log));
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(log->made, 1);
    ck_assert_ptr_eq(log->t, t);
    return t;
}

/* Free the transport and check the lifetime rules held to the end. */
static void
st_done(struct wire_transport *t, struct rec_log *log)
{
    wire_string_transport_free(t);
    ck_assert_int_eq(log->lost, 1);
    ck_assert_int_eq(log->destroyed, 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(log);
}

/* ---- the line-echo protocol: the rec protocol buffers every byte; this
 * hook answers each complete line, upper-cased, as soon as its '\n' is
 * in.  log->user_n is how much of the input was answered. ---- */

static void
lineup_data(struct rec_log *log, struct wire_transport *t, const void *data,
            size_t len)
{
    (void)data;
    (void)len;
    for (;;) {
        const char *start = log->in + log->user_n;
        const char *nl = memchr(start, '\n', log->in_len - (size_t)log->user_n);
        if (nl == NULL)
            return;
        size_t n = (size_t)(nl - start) + 1;
        char *line = malloc(n);
        ck_assert_ptr_nonnull(line);
        for (size_t i = 0; i < n; i++)
            line[i] = (char)toupper((unsigned char)start[i]);
        ck_assert_int_eq(wire_transport_write(t, line, n), 0);
        free(line);
        log->user_n += (int)n;
    }
}

static const char echo_in[] =
    "hello\nWorld 123\n\nmixed Case line with more bytes in it\nx\n"
    "tail without newline";
static const char echo_out[] =
    "HELLO\nWORLD 123\n\nMIXED CASE LINE WITH MORE BYTES IN IT\nX\n";

enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_CHUNK3, FEED_RANDOM };

static void
echo_run(enum feed_mode mode, unsigned seed, size_t bufsize)
{
    struct rec_log log = {.on_data = lineup_data, .bufsize = bufsize};
    struct wire_transport *t = st_new(&log);
    size_t len = sizeof(echo_in) - 1;
    switch (mode) {
    case FEED_WHOLE:
        ck_assert_int_eq(wire_string_transport_feed(t, echo_in, len), 0);
        break;
    case FEED_BYTES:
        ck_assert_int_eq(wire_string_transport_feed_split(t, echo_in, len, 1), 0);
        break;
    case FEED_CHUNK3:
        ck_assert_int_eq(wire_string_transport_feed_split(t, echo_in, len, 3), 0);
        break;
    case FEED_RANDOM:
        for (size_t off = 0; off < len;) {
            size_t n = 1 + (size_t)rand_r(&seed) % 17;
            if (n > len - off)
                n = len - off;
            ck_assert_int_eq(wire_string_transport_feed(t, echo_in + off, n), 0);
            off += n;
        }
        break;
    }
    /* Identical output whatever the split; the unfinished line waits. */
    ck_assert_str_eq(unit_output(t), echo_out);
    ck_assert_str_eq(rec_in(&log), echo_in);
    if (mode == FEED_BYTES && bufsize == 0)
        ck_assert_int_eq(log.data_calls, (int)len);
    /* Nothing of the connection's end happened on the way. */
    ck_assert_int_eq(log.eof, 0);
    ck_assert_int_eq(log.lost, 0);
    ck_assert(!wire_string_transport_closed(t));
    /* EOF: the default (false) closes; the loss waits for the step. */
    ck_assert_int_eq(wire_string_transport_feed_eof(t), 0);
    ck_assert_int_eq(log.eof, 1);
    ck_assert_int_eq(log.lost, 0);
    ck_assert(wire_string_transport_closed(t));
    ck_assert_int_ge(wire_string_transport_step(t), 1);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    st_done(t, &log);
}

START_TEST(test_echo_whole)
{
    echo_run(FEED_WHOLE, 0, 0);
}
END_TEST

START_TEST(test_echo_byte_by_byte)
{
    echo_run(FEED_BYTES, 0, 0);
}
END_TEST

START_TEST(test_echo_chunks_of_3)
{
    echo_run(FEED_CHUNK3, 0, 0);
}
END_TEST

START_TEST(test_echo_random_splits)
{
    /* _i is the seed: twenty different, reproducible splits. */
    echo_run(FEED_RANDOM, (unsigned)_i + 1, 0);
}
END_TEST

START_TEST(test_echo_through_get_buffer)
{
    /* The same protocol with 3-byte receive buffers of its own. */
    echo_run(FEED_WHOLE, 0, 3);
    echo_run(FEED_BYTES, 0, 3);
    echo_run(FEED_RANDOM, 99, 5);
}
END_TEST

/* ---- EOF ---- */

START_TEST(test_eof_keep_open)
{
    /* eof_received returns true: half-closed, writing goes on. */
    struct rec_log log = {.eof_keep = true};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(wire_string_transport_feed(t, "x", 1), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(t), 0);
    ck_assert_int_eq(log.eof, 1);
    ck_assert(!wire_transport_is_closing(t));
    /* More input after EOF is refused; EOF twice too. */
    ck_assert_int_eq(wire_string_transport_feed(t, "y", 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_string_transport_feed_eof(t), WIRE_ECLOSED);
    ck_assert_int_eq(wire_transport_write(t, "still", 5), 0);
    ck_assert_str_eq(unit_output(t), "still");
    ck_assert_int_eq(wire_string_transport_step(t), 0);
    ck_assert_int_eq(log.lost, 0);
    /* write_eof now ends the connection: both directions are done. */
    ck_assert_int_eq(wire_transport_write_eof(t), 0);
    ck_assert(wire_string_transport_eof_written(t));
    ck_assert_int_eq(log.lost, 0);
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    ck_assert_int_eq(log.eof, 1);
    ck_assert_str_eq(rec_in(&log), "x");
    st_done(t, &log);
}
END_TEST

/* ---- errors, close, abort: lost only from step ---- */

START_TEST(test_feed_error_delivered_on_step)
{
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(wire_string_transport_feed_error(t, -ECONNRESET,
                                                      "read: peer reset"), 0);
    /* Not inside feed_error (rule 1). */
    ck_assert_int_eq(log.lost, 0);
    ck_assert(wire_transport_is_closing(t));
    ck_assert_int_eq(wire_transport_write(t, "x", 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_string_transport_feed(t, "x", 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_string_transport_feed_error(t, -EPIPE, "again"),
                     WIRE_ECLOSED);
    ck_assert_int_eq(wire_string_transport_step(t), 1);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, -ECONNRESET);
    ck_assert_str_eq(log.lost_msg, "read: peer reset");
    ck_assert_int_eq(log.destroyed, 1);
    /* Nothing more to run; the first error is the one reported. */
    ck_assert_int_eq(wire_string_transport_step(t), 0);
    ck_assert_int_eq(log.lost, 1);
    st_done(t, &log);
}
END_TEST

START_TEST(test_close_flushes_then_lost_null)
{
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    wire_string_transport_set_capacity(t, 0);
    ck_assert_int_eq(wire_transport_write(t, "abc", 3), 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(t), 3);
    wire_transport_close(t);
    ck_assert(wire_transport_is_closing(t));
    ck_assert(!wire_transport_is_reading(t));
    ck_assert_int_eq(log.lost, 0);
    ck_assert(!wire_string_transport_closed(t)); /* still flushing */
    ck_assert_int_eq(wire_transport_write(t, "d", 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_string_transport_feed(t, "in", 2), WIRE_ECLOSED);
    wire_transport_close(t); /* idempotent */
    /* The handle takes bytes again: the queue drains, then it closes. */
    wire_string_transport_set_capacity(t, SIZE_MAX);
    ck_assert_str_eq(unit_output(t), "abc");
    ck_assert(wire_string_transport_closed(t));
    ck_assert(!wire_string_transport_aborted(t));
    ck_assert_int_eq(log.lost, 0); /* not inside set_capacity either */
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    st_done(t, &log);
}
END_TEST

START_TEST(test_abort_drops_and_reports)
{
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    wire_string_transport_set_capacity(t, 0);
    ck_assert_int_eq(wire_transport_write(t, "queued", 6), 0);
    wire_transport_abort(t);
    ck_assert_int_eq(log.lost, 0); /* not inside abort */
    ck_assert(wire_string_transport_aborted(t));
    ck_assert(wire_string_transport_closed(t));
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(t), 0);
    wire_transport_abort(t); /* idempotent */
    wire_transport_close(t); /* and close after abort does nothing */
    ck_assert_int_eq(wire_transport_write(t, "x", 1), WIRE_ECLOSED);
    wire_string_transport_set_capacity(t, SIZE_MAX);
    ck_assert_str_eq(unit_output(t), ""); /* dropped, never written */
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    st_done(t, &log);
}
END_TEST

START_TEST(test_abort_cuts_close_short)
{
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    wire_string_transport_set_capacity(t, 2);
    ck_assert_int_eq(wire_transport_write(t, "abcdef", 6), 0);
    wire_transport_close(t);
    wire_transport_abort(t);
    wire_string_transport_set_capacity(t, SIZE_MAX);
    ck_assert_str_eq(unit_output(t), "ab");
    ck_assert(wire_string_transport_aborted(t));
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    st_done(t, &log);
}
END_TEST

START_TEST(test_write_after_close_abort_eof)
{
    struct iovec iov[2] = {{"a", 1}, {"b", 1}};
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(wire_transport_write_eof(t), 0);
    ck_assert(wire_string_transport_eof_written(t));
    ck_assert_int_eq(wire_transport_write(t, "x", 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_transport_write_sequence(t, iov, 2), WIRE_ECLOSED);
    ck_assert_int_eq(wire_transport_write_eof(t), 0); /* idempotent */
    wire_transport_close(t);
    ck_assert_int_eq(wire_transport_write(t, "x", 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_transport_write_eof(t), WIRE_ECLOSED);
    ck_assert_int_eq(wire_transport_pause_reading(t), WIRE_ECLOSED);
    wire_string_transport_step(t);
    /* After the loss (the transport is still referenced by the test). */
    ck_assert_int_eq(wire_transport_write(t, "x", 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_transport_write_sequence(t, iov, 2), WIRE_ECLOSED);
    ck_assert_ptr_null(wire_transport_protocol(t));
    ck_assert_str_eq(unit_output(t), "");
    st_done(t, &log);
}
END_TEST

START_TEST(test_write_eof_flushes_first)
{
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    ck_assert(wire_transport_can_write_eof(t));
    wire_string_transport_set_capacity(t, 0);
    ck_assert_int_eq(wire_transport_write(t, "last", 4), 0);
    ck_assert_int_eq(wire_transport_write_eof(t), 0);
    ck_assert(!wire_string_transport_eof_written(t));
    ck_assert_int_eq(wire_transport_write(t, "x", 1), WIRE_ECLOSED);
    wire_string_transport_set_capacity(t, SIZE_MAX);
    ck_assert_str_eq(unit_output(t), "last");
    ck_assert(wire_string_transport_eof_written(t));
    /* Reading goes on after a half-close. */
    ck_assert_int_eq(wire_string_transport_feed(t, "more", 4), 0);
    ck_assert_str_eq(rec_in(&log), "more");
    ck_assert_int_eq(log.lost, 0);
    st_done(t, &log);
    /* st_done's free aborted the open transport. */
}
END_TEST

START_TEST(test_write_sequence)
{
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    struct iovec iov[3] = {{"ab", 2}, {"", 0}, {"cde", 3}};
    ck_assert_int_eq(wire_transport_write_sequence(t, iov, 3), 0);
    wire_string_transport_set_capacity(t, 1);
    ck_assert_int_eq(wire_transport_write_sequence(t, iov, 3), 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(t), 4);
    wire_string_transport_set_capacity(t, SIZE_MAX);
    ck_assert_str_eq(unit_output(t), "abcdeabcde");
    ck_assert_int_eq(wire_transport_write_sequence(t, NULL, 1), WIRE_EINVAL);
    ck_assert_int_eq(wire_transport_write_sequence(t, iov, 0), 0);
    st_done(t, &log);
}
END_TEST

START_TEST(test_free_open_transport)
{
    /* Freeing an open transport aborts it; the protocol still gets its
     * one connection_lost, and is destroyed. */
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    wire_string_transport_free(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    ck_assert_int_eq(log.destroyed, 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    wire_string_transport_free(NULL);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_info)
{
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    char buf[64];
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_NAME, buf, sizeof(buf)),
                     6);
    ck_assert_str_eq(buf, "string");
    ck_assert_str_eq(wire_transport_name(t), "string");
    ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_PEER, buf, sizeof(buf)),
                     0);
    ck_assert_str_eq(buf, "string:");
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_FD, buf, sizeof(buf)),
                     WIRE_ENOTSUP);
    ck_assert_int_eq(wire_transport_get_info(t, 12345, buf, sizeof(buf)),
                     WIRE_ENOTSUP);
    /* A short buffer truncates and NUL-terminates the name. */
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_NAME, buf, 4), 6);
    ck_assert_str_eq(buf, "str");
    ck_assert_ptr_null(wire_transport_loop(t));
    ck_assert_ptr_nonnull(wire_transport_protocol(t));
    st_done(t, &log);
}
END_TEST

/* ---- flow control ---- */

START_TEST(test_flow_control_by_hand)
{
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    size_t high, low;
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(t, 10, 4), 0);
    wire_transport_get_write_buffer_limits(t, &high, &low);
    ck_assert_uint_eq(high, 10);
    ck_assert_uint_eq(low, 4);
    wire_string_transport_set_capacity(t, 0);
    ck_assert_int_eq(wire_transport_write(t, "abcdef", 6), 0);
    ck_assert_int_eq(log.paused, 0); /* 6 <= 10 */
    ck_assert_int_eq(wire_transport_write(t, "ghijkl", 6), 0);
    ck_assert_int_eq(log.paused, 1); /* 12 > 10 */
    ck_assert_int_eq(wire_transport_write(t, "mnopqr", 6), 0);
    ck_assert_int_eq(log.paused, 1); /* exactly once */
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(t), 18);
    ck_assert_str_eq(unit_output(t), "");
    /* Drain in steps: no resume until the queue is down to `low`. */
    wire_string_transport_set_capacity(t, 5);
    ck_assert_str_eq(unit_output(t), "abcde");
    ck_assert_int_eq(log.resumed, 0);
    wire_string_transport_set_capacity(t, 8);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(t), 5);
    ck_assert_int_eq(log.resumed, 0);
    wire_string_transport_set_capacity(t, 1);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(t), 4);
    ck_assert_int_eq(log.resumed, 1);
    wire_string_transport_set_capacity(t, SIZE_MAX);
    ck_assert_int_eq(log.resumed, 1);
    ck_assert_int_eq(log.paused, 1);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(t), 0);
    ck_assert_str_eq(unit_output(t), "abcdefghijklmnopqr");
    /* A second round pauses and resumes again, strictly alternating. */
    wire_string_transport_set_capacity(t, 0);
    ck_assert_int_eq(wire_transport_write(t, "0123456789X", 11), 0);
    ck_assert_int_eq(log.paused, 2);
    wire_string_transport_set_capacity(t, SIZE_MAX);
    ck_assert_int_eq(log.resumed, 2);
    ck_assert_str_eq(unit_output(t), "abcdefghijklmnopqr0123456789X");
    st_done(t, &log);
}
END_TEST

START_TEST(test_limits_changed_while_queued)
{
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    wire_string_transport_set_capacity(t, 0);
    ck_assert_int_eq(wire_transport_write(t, "0123456789", 10), 0);
    ck_assert_int_eq(log.paused, 0); /* default high watermark: 64 KiB */
    /* Lowering the high watermark below what is queued pauses at once... */
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(t, 5, 2), 0);
    ck_assert_int_eq(log.paused, 1);
    /* ...and raising the low one above it resumes. */
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(t, 20, 10), 0);
    ck_assert_int_eq(log.resumed, 1);
    /* low > high is refused; SIZE_MAX means high/4; 0 the default. */
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(t, 5, 6),
                     WIRE_EINVAL);
    size_t high, low;
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(t, 100, SIZE_MAX), 0);
    wire_transport_get_write_buffer_limits(t, &high, &low);
    ck_assert_uint_eq(low, 25);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(t, 0, SIZE_MAX), 0);
    wire_transport_get_write_buffer_limits(t, &high, &low);
    ck_assert_uint_eq(high, 65536);
    ck_assert_uint_eq(low, 16384);
    st_done(t, &log);
}
END_TEST

/* ---- pause_reading ---- */

START_TEST(test_pause_reading_holds_input)
{
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    ck_assert(wire_transport_is_reading(t));
    ck_assert_int_eq(wire_string_transport_feed(t, "a\n", 2), 0);
    ck_assert_int_eq(wire_transport_pause_reading(t), 0);
    ck_assert_int_eq(wire_transport_pause_reading(t), 0); /* idempotent */
    ck_assert(!wire_transport_is_reading(t));
    ck_assert_int_eq(wire_string_transport_feed(t, "b\n", 2), 0);
    ck_assert_int_eq(wire_string_transport_feed(t, "c\n", 2), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(t), 0);
    ck_assert_int_eq(log.data_calls, 1);
    ck_assert_int_eq(log.eof, 0);
    ck_assert_int_eq(wire_string_transport_step(t), 0);
    ck_assert_int_eq(log.data_calls, 1);
    /* Resuming schedules the delivery; the step makes it. */
    ck_assert_int_eq(wire_transport_resume_reading(t), 0);
    ck_assert(wire_transport_is_reading(t));
    ck_assert_int_eq(log.data_calls, 1);
    ck_assert_int_eq(log.eof, 0);
    ck_assert_int_ge(wire_string_transport_step(t), 1);
    ck_assert_str_eq(rec_in(&log), "a\nb\nc\n");
    ck_assert_int_eq(log.eof, 1); /* after the held bytes */
    ck_assert_int_eq(log.lost, 1); /* EOF closed it (eof_keep false) */
    st_done(t, &log);
}
END_TEST

START_TEST(test_pause_reading_from_data_received)
{
    struct rec_log log = {.on_data = rec_pause_on_first};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(wire_string_transport_feed(t, "one", 3), 0);
    ck_assert_int_eq(wire_string_transport_feed(t, "two", 3), 0);
    ck_assert_int_eq(wire_string_transport_feed(t, "three", 5), 0);
    ck_assert_str_eq(rec_marks(&log), "one|");
    wire_transport_resume_reading(t);
    wire_string_transport_step(t);
    ck_assert_str_eq(rec_in(&log), "onetwothree");
    ck_assert_int_eq(wire_string_transport_feed(t, "four", 4), 0);
    ck_assert_str_eq(rec_in(&log), "onetwothreefour");
    st_done(t, &log);
}
END_TEST

START_TEST(test_pep_pause_holds_writes)
{
    /* PEP 3153 pause: nothing is sent and nothing delivered until
     * resume, which flushes. */
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(wire_transport_pause(t), 0);
    ck_assert(!wire_transport_is_reading(t));
    ck_assert_int_eq(wire_transport_write(t, "held", 4), 0);
    ck_assert_int_eq(wire_string_transport_feed(t, "in", 2), 0);
    ck_assert_str_eq(unit_output(t), "");
    ck_assert_int_eq(log.data_calls, 0);
    ck_assert_int_eq(wire_transport_resume(t), 0);
    ck_assert_str_eq(unit_output(t), "held");
    wire_string_transport_step(t);
    ck_assert_str_eq(rec_in(&log), "in");
    /* close flushes even while paused */
    ck_assert_int_eq(wire_transport_pause(t), 0);
    ck_assert_int_eq(wire_transport_write(t, "bye", 3), 0);
    wire_transport_close(t);
    ck_assert_str_eq(unit_output(t), "heldbye");
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    st_done(t, &log);
}
END_TEST

/* ---- write_ref ---- */

struct freed {
    int calls;
    const void *data;
    size_t len;
};

static void
freed_cb(void *arg, const void *data, size_t len)
{
    struct freed *f = arg;
    f->calls++;
    f->data = data;
    f->len = len;
}

START_TEST(test_write_ref_written_through)
{
    static const char msg[] = "zero-copy";
    struct freed f = {0};
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(wire_transport_write_ref(t, msg, 9, freed_cb, &f), 0);
    /* Written through: released before write_ref returned. */
    ck_assert_int_eq(f.calls, 1);
    ck_assert_ptr_eq(f.data, msg);
    ck_assert_uint_eq(f.len, 9);
    ck_assert_str_eq(unit_output(t), "zero-copy");
    st_done(t, &log);
    ck_assert_int_eq(f.calls, 1);
}
END_TEST

START_TEST(test_write_ref_queued)
{
    static const char msg[] = "0123456789";
    struct freed f = {0};
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    wire_string_transport_set_capacity(t, 3);
    ck_assert_int_eq(wire_transport_write_ref(t, msg, 10, freed_cb, &f), 0);
    ck_assert_int_eq(f.calls, 0); /* 7 bytes still referenced */
    wire_string_transport_set_capacity(t, 4);
    ck_assert_int_eq(f.calls, 0);
    wire_string_transport_set_capacity(t, SIZE_MAX);
    ck_assert_int_eq(f.calls, 1);
    ck_assert_ptr_eq(f.data, msg);
    ck_assert_uint_eq(f.len, 10); /* the whole buffer, as given */
    ck_assert_str_eq(unit_output(t), "0123456789");
    st_done(t, &log);
    ck_assert_int_eq(f.calls, 1);
}
END_TEST

START_TEST(test_write_ref_dropped_on_abort)
{
    static const char msg[] = "never sent";
    struct freed f = {0}, g = {0};
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    wire_string_transport_set_capacity(t, 0);
    ck_assert_int_eq(wire_transport_write_ref(t, msg, 10, freed_cb, &f), 0);
    ck_assert_int_eq(wire_transport_write_ref(t, msg, 5, freed_cb, &g), 0);
    ck_assert_int_eq(f.calls, 0);
    wire_transport_abort(t);
    wire_string_transport_step(t);
    ck_assert_int_eq(f.calls, 1);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_uint_eq(g.len, 5);
    ck_assert_int_eq(log.lost, 1);
    st_done(t, &log);
    ck_assert_int_eq(f.calls, 1);
    ck_assert_int_eq(g.calls, 1);
}
END_TEST

START_TEST(test_write_ref_dropped_on_error_and_refused_after_close)
{
    static const char msg[] = "abc";
    struct freed f = {0}, g = {0};
    struct rec_log log = {0};
    struct wire_transport *t = st_new(&log);
    wire_string_transport_set_capacity(t, 0);
    ck_assert_int_eq(wire_transport_write_ref(t, msg, 3, freed_cb, &f), 0);
    wire_string_transport_feed_error(t, -EPIPE, "gone");
    wire_string_transport_step(t);
    ck_assert_int_eq(f.calls, 1);
    /* After the loss: refused, and the buffer stays the caller's. */
    ck_assert_int_eq(wire_transport_write_ref(t, msg, 3, freed_cb, &g),
                     WIRE_ECLOSED);
    ck_assert_int_eq(wire_transport_write_ref(t, msg, 3, NULL, NULL),
                     WIRE_EINVAL);
    st_done(t, &log);
    ck_assert_int_eq(f.calls, 1);
    ck_assert_int_eq(g.calls, 0);
}
END_TEST

/* ---- zero-copy receive ---- */

START_TEST(test_get_buffer_path)
{
    struct rec_log log = {.bufsize = 4};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(wire_string_transport_feed(t, "hello world\n", 12), 0);
    ck_assert_int_eq(log.data_calls, 0);
    ck_assert_int_eq(log.get_buffer_calls, 3);
    ck_assert_int_eq(log.buffer_updated_calls, 3);
    ck_assert_str_eq(rec_marks(&log), "hell|o wo|rld\n|");
    ck_assert_int_eq(wire_string_transport_feed(t, "!", 1), 0);
    ck_assert_str_eq(rec_marks(&log), "hell|o wo|rld\n|!|");
    st_done(t, &log);
}
END_TEST

START_TEST(test_get_buffer_null_falls_back)
{
    struct rec_log log = {.bufsize = 4, .offer_null = true};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(wire_string_transport_feed(t, "hello world\n", 12), 0);
    ck_assert_int_ge(log.get_buffer_calls, 1);
    ck_assert_int_eq(log.buffer_updated_calls, 0);
    ck_assert_int_eq(log.data_calls, 1);
    ck_assert_str_eq(rec_marks(&log), "hello world\n|");
    st_done(t, &log);
}
END_TEST

/* ---- re-entrancy: close/abort/write from inside every callback ---- */

static void
do_close(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    wire_transport_close(t);
    ck_assert(wire_transport_is_closing(t));
}

static void
do_abort(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    wire_transport_abort(t);
    ck_assert(wire_transport_is_closing(t));
}

static void
do_close_data(struct rec_log *log, struct wire_transport *t, const void *d,
              size_t n)
{
    (void)d;
    (void)n;
    ck_assert_int_eq(wire_transport_write(t, "bye", 3), 0);
    do_close(log, t);
}

static void
do_abort_data(struct rec_log *log, struct wire_transport *t, const void *d,
              size_t n)
{
    (void)d;
    (void)n;
    do_abort(log, t);
}

static void
write_in_lost(struct rec_log *log, struct wire_transport *t)
{
    log->user_n = wire_transport_write(t, "late", 4);
}

START_TEST(test_close_in_connection_made)
{
    struct rec_log log = {.on_made = do_close};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(log.lost, 0);
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    st_done(t, &log);
}
END_TEST

START_TEST(test_abort_in_connection_made)
{
    struct rec_log log = {.on_made = do_abort};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_int_eq(wire_string_transport_feed(t, "x", 1), WIRE_ECLOSED);
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    ck_assert_int_eq(log.data_calls, 0);
    st_done(t, &log);
}
END_TEST

START_TEST(test_close_in_data_received)
{
    struct rec_log log = {.on_data = do_close_data};
    struct wire_transport *t = st_new(&log);
    /* Fed byte by byte: after the first the rest is refused. */
    ck_assert_int_eq(wire_string_transport_feed_split(t, "abc", 3, 1),
                     WIRE_ECLOSED);
    ck_assert_int_eq(log.data_calls, 1);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_str_eq(unit_output(t), "bye");
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    st_done(t, &log);
}
END_TEST

START_TEST(test_abort_in_data_received)
{
    struct rec_log log = {.on_data = do_abort_data, .on_lost = write_in_lost};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(wire_string_transport_feed(t, "abc", 3), 0);
    ck_assert_int_eq(log.lost, 0);
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    ck_assert_int_eq(log.user_n, WIRE_ECLOSED); /* write inside lost */
    st_done(t, &log);
}
END_TEST

START_TEST(test_close_and_abort_in_eof_received)
{
    struct rec_log log = {.on_eof = do_close, .eof_keep = true};
    struct wire_transport *t = st_new(&log);
    wire_string_transport_feed_eof(t);
    ck_assert_int_eq(log.lost, 0);
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    st_done(t, &log);

    struct rec_log log2 = {.on_eof = do_abort};
    t = st_new(&log2);
    wire_string_transport_feed_eof(t);
    ck_assert_int_eq(log2.lost, 0);
    wire_string_transport_step(t);
    ck_assert_int_eq(log2.lost, 1);
    ck_assert_int_eq(log2.lost_code, WIRE_EABORTED);
    st_done(t, &log2);
}
END_TEST

START_TEST(test_abort_in_pause_writing)
{
    struct rec_log log = {.on_pause = do_abort};
    struct wire_transport *t = st_new(&log);
    wire_transport_set_write_buffer_limits(t, 4, 0);
    wire_string_transport_set_capacity(t, 0);
    ck_assert_int_eq(wire_transport_write(t, "0123456789", 10), 0);
    ck_assert_int_eq(log.paused, 1);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_int_eq(log.resumed, 0);
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    ck_assert_int_eq(log.resumed, 0); /* no resume_writing after the loss */
    st_done(t, &log);
}
END_TEST

START_TEST(test_abort_in_buffer_updated)
{
    /* Zero-copy receive: an abort from the first buffer_updated stops the
     * delivery of the rest of the same feed. */
    struct rec_log log = {.bufsize = 4, .on_data = do_abort_data};
    struct wire_transport *t = st_new(&log);
    ck_assert_int_eq(wire_string_transport_feed(t, "0123456789", 10), 0);
    ck_assert_int_eq(log.buffer_updated_calls, 1);
    ck_assert_str_eq(rec_in(&log), "0123");
    ck_assert_int_eq(log.lost, 0);
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    st_done(t, &log);
}
END_TEST

START_TEST(test_close_in_resume_writing)
{
    struct rec_log log = {.on_resume = do_close};
    struct wire_transport *t = st_new(&log);
    wire_transport_set_write_buffer_limits(t, 4, 0);
    wire_string_transport_set_capacity(t, 0);
    ck_assert_int_eq(wire_transport_write(t, "0123456789", 10), 0);
    wire_string_transport_set_capacity(t, SIZE_MAX);
    ck_assert_int_eq(log.resumed, 1);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_str_eq(unit_output(t), "0123456789");
    wire_string_transport_step(t);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    st_done(t, &log);
}
END_TEST

Suite *
string_suite(void)
{
    Suite *s = suite_create("string");
    TCase *tc = tcase_create("splits");
    tcase_add_checked_fixture(tc, unit_setup, NULL);
    tcase_add_test(tc, test_echo_whole);
    tcase_add_test(tc, test_echo_byte_by_byte);
    tcase_add_test(tc, test_echo_chunks_of_3);
    tcase_add_loop_test(tc, test_echo_random_splits, 0, 20);
    tcase_add_test(tc, test_echo_through_get_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifetime");
    tcase_add_checked_fixture(tc, unit_setup, NULL);
    tcase_add_test(tc, test_eof_keep_open);
    tcase_add_test(tc, test_feed_error_delivered_on_step);
    tcase_add_test(tc, test_close_flushes_then_lost_null);
    tcase_add_test(tc, test_abort_drops_and_reports);
    tcase_add_test(tc, test_abort_cuts_close_short);
    tcase_add_test(tc, test_write_after_close_abort_eof);
    tcase_add_test(tc, test_write_eof_flushes_first);
    tcase_add_test(tc, test_write_sequence);
    tcase_add_test(tc, test_free_open_transport);
    tcase_add_test(tc, test_info);
    suite_add_tcase(s, tc);

    tc = tcase_create("flow");
    tcase_add_checked_fixture(tc, unit_setup, NULL);
    tcase_add_test(tc, test_flow_control_by_hand);
    tcase_add_test(tc, test_limits_changed_while_queued);
    tcase_add_test(tc, test_pause_reading_holds_input);
    tcase_add_test(tc, test_pause_reading_from_data_received);
    tcase_add_test(tc, test_pep_pause_holds_writes);
    suite_add_tcase(s, tc);

    tc = tcase_create("write_ref");
    tcase_add_checked_fixture(tc, unit_setup, NULL);
    tcase_add_test(tc, test_write_ref_written_through);
    tcase_add_test(tc, test_write_ref_queued);
    tcase_add_test(tc, test_write_ref_dropped_on_abort);
    tcase_add_test(tc, test_write_ref_dropped_on_error_and_refused_after_close);
    suite_add_tcase(s, tc);

    tc = tcase_create("get_buffer");
    tcase_add_checked_fixture(tc, unit_setup, NULL);
    tcase_add_test(tc, test_get_buffer_path);
    tcase_add_test(tc, test_get_buffer_null_falls_back);
    suite_add_tcase(s, tc);

    tc = tcase_create("reentrancy");
    tcase_add_checked_fixture(tc, unit_setup, NULL);
    tcase_add_test(tc, test_close_in_connection_made);
    tcase_add_test(tc, test_abort_in_connection_made);
    tcase_add_test(tc, test_close_in_data_received);
    tcase_add_test(tc, test_abort_in_data_received);
    tcase_add_test(tc, test_close_and_abort_in_eof_received);
    tcase_add_test(tc, test_abort_in_pause_writing);
    tcase_add_test(tc, test_close_in_resume_writing);
    tcase_add_test(tc, test_abort_in_buffer_updated);
    suite_add_tcase(s, tc);
    return s;
}
