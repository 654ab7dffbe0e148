/*
 * The contract checker really fires.  A deliberately broken transport,
 * written here on <wire/transport_impl.h> (struct wire_transport first,
 * minimal ops), breaks the callback order every protocol relies on:
 * data after pause_reading, data after EOF, connection_made twice.  The
 * checker must abort the process (SIGABRT); Check runs each such test in
 * a child and expects that signal.  A positive test drives a correct
 * sequence through the same transport and must not abort.
 *
 * Without fork (CK_FORK=no, e.g. under valgrind) a test that aborts would
 * kill the runner, so the SIGABRT tests are left out then; so they are
 * when the library was configured with --disable-contract-checks.
 */
#include "unit.h"

#include <wire/transport_impl.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bad_transport {
    struct wire_transport base; /* first */
    size_t written;
    bool closed;
};

static int live_bad;

static ssize_t
bad_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    ((struct bad_transport *)t)->written += n;
    return (ssize_t)n;
}

static void
bad_close(struct wire_transport *t, bool abort)
{
    (void)abort;
    ((struct bad_transport *)t)->closed = true;
}

static void
bad_free(struct wire_transport *t)
{
    free(t);
    live_bad--;
}

static const struct wire_transport_ops bad_ops = {
    .name = "bad",
    .caps = WIRE_CAP_EOF,
    .write = bad_write,
    .close = bad_close,
    .free = bad_free,
};

static struct wire_loop *loop;

/* In the children that are meant to abort: keep the checker's report out
 * of the test log (it is expected there). */
static void
quiet_stderr(void)
{
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
}

static struct wire_transport *
bad_new(void)
{
    struct bad_transport *b = calloc(1, sizeof(*b));
    ck_assert_ptr_nonnull(b);
    live_bad++;
    wire_impl_init(&b->base, &bad_ops, loop);
    return &b->base;
}

static void
contract_setup(void)
{
    unit_setup();
    live_bad = 0;
    loop = wire_loop_new();
}

static void
contract_teardown(void)
{
    wire_loop_free(loop);
    loop = NULL;
}

/* ---- violations: each must abort ---- */

START_TEST(test_data_after_pause_reading_aborts)
{
    quiet_stderr();
    struct rec_log log = {0};
    struct wire_transport *t = bad_new();
    wire_impl_start(t, rec_new(&log));
    ck_assert_int_eq(wire_transport_pause_reading(t), 0);
    /* The broken transport ignores the pause. */
    wire_impl_data(t, "x", 1);
    ck_abort_msg("data after pause_reading was delivered without abort");
}
END_TEST

START_TEST(test_data_after_eof_aborts)
{
    quiet_stderr();
    struct rec_log log = {.eof_keep = true};
    struct wire_transport *t = bad_new();
    wire_impl_start(t, rec_new(&log));
    wire_impl_eof(t);
    ck_assert_int_eq(log.eof, 1);
    ck_assert(!wire_transport_is_closing(t)); /* kept open: only EOF is wrong */
    wire_impl_data(t, "late", 4);
    ck_abort_msg("data after eof_received was delivered without abort");
}
END_TEST

START_TEST(test_connection_made_twice_aborts)
{
    quiet_stderr();
    struct rec_log log = {0};
    struct wire_transport *t = bad_new();
    struct wire_protocol *p = rec_new(&log);
    wire_impl_start(t, p);
    ck_assert_int_eq(log.made, 1);
    wire_impl_start(t, p);
    ck_abort_msg("connection_made was delivered twice without abort");
}
END_TEST

START_TEST(test_destroy_before_lost_aborts)
{
    quiet_stderr();
    /* Destroying a protocol between connection_made and connection_lost
     * (a transport that frees its protocol too early). */
    struct rec_log log = {0};
    struct wire_transport *t = bad_new();
    struct wire_protocol *p = rec_new(&log);
    wire_impl_start(t, p);
    wire_protocol_destroy(p);
    ck_abort_msg("a live protocol was destroyed without abort");
}
END_TEST

/* ---- a correct sequence does not abort ---- */

static void
write_and_pause(struct rec_log *log, struct wire_transport *t, const void *d,
                size_t n)
{
    ck_assert_int_eq(wire_transport_write(t, d, n), 0);
    if (log->data_calls == 2)
        wire_transport_pause_reading(t);
}

START_TEST(test_correct_sequence)
{
    struct rec_log log = {.on_data = write_and_pause, .eof_keep = true};
    struct wire_transport *t = bad_new();
    struct bad_transport *b = (struct bad_transport *)t;
    wire_transport_ref(t); /* keep it to look at after the loss */
    wire_impl_start(t, rec_new(&log));
    ck_assert(wire_impl_is_active(t));
    ck_assert(wire_impl_data(t, "a", 1));
    /* The second delivery pauses: the transport is told to stop. */
    ck_assert(!wire_impl_data(t, "bc", 2));
    ck_assert(!wire_transport_is_reading(t));
    wire_transport_resume_reading(t);
    ck_assert(wire_impl_data(t, "d", 1));
    ck_assert(wire_impl_data(t, "", 0)); /* nothing: no callback */
    ck_assert_int_eq(log.data_calls, 3);
    wire_impl_eof(t);
    ck_assert_int_eq(log.eof, 1);
    wire_impl_eof(t); /* a second EOF from the handle is ignored */
    ck_assert_int_eq(log.eof, 1);
    ck_assert_uint_eq(b->written, 4);
    wire_transport_close(t);
    ck_assert(b->closed);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &log.lost_flag, 5000), 0);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    ck_assert_int_eq(log.destroyed, 1);
    ck_assert(!wire_impl_is_active(t));
    /* Failing after the loss is a no-op, not a second connection_lost. */
    wire_impl_fail(t, WIRE_EPROTO, "too late");
    wire_impl_lost(t, NULL);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(live_bad, 1);
    wire_transport_unref(t);
    ck_assert_int_eq(live_bad, 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_fail_reports_once)
{
    /* A handle failing several times (read error, then write error)
     * reports the first failure only. */
    struct rec_log log = {0};
    struct wire_transport *t = bad_new();
    wire_impl_start(t, rec_new(&log));
    wire_impl_fail(t, WIRE_EPROTO, "first %d", 1);
    wire_impl_fail(t, WIRE_ETLS, "second");
    struct wire_error e = {0};
    wire_error_set(&e, WIRE_EMSGSIZE, "third");
    wire_impl_lost(t, &e);
    wire_error_clear(&e);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &log.lost_flag, 5000), 0);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EPROTO);
    ck_assert_str_eq(log.lost_msg, "first 1");
    ck_assert_int_eq(live_bad, 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_discard_unstarted)
{
    /* A transport never started is discarded without touching any
     * protocol. */
    struct wire_transport *t = bad_new();
    wire_impl_discard(t);
    ck_assert_int_eq(live_bad, 0);
}
END_TEST

Suite *
contract_suite(void)
{
    Suite *s = suite_create("contract");
    TCase *tc = tcase_create("violations");
    tcase_add_checked_fixture(tc, contract_setup, contract_teardown);
#if WIRE_CONTRACT_CHECKS
    if (unit_can_fork) {
        tcase_add_test_raise_signal(tc, test_data_after_pause_reading_aborts,
                                    SIGABRT);
        tcase_add_test_raise_signal(tc, test_data_after_eof_aborts, SIGABRT);
        tcase_add_test_raise_signal(tc, test_connection_made_twice_aborts,
                                    SIGABRT);
        tcase_add_test_raise_signal(tc, test_destroy_before_lost_aborts,
                                    SIGABRT);
    }
#else
    (void)test_data_after_pause_reading_aborts;
    (void)test_data_after_eof_aborts;
    (void)test_connection_made_twice_aborts;
    (void)test_destroy_before_lost_aborts;
#endif
    suite_add_tcase(s, tc);

    tc = tcase_create("correct");
    tcase_add_checked_fixture(tc, contract_setup, contract_teardown);
    tcase_add_test(tc, test_correct_sequence);
    tcase_add_test(tc, test_fail_reports_once);
    tcase_add_test(tc, test_discard_unstarted);
    suite_add_tcase(s, tc);
    return s;
}
