/*
 * The pipe transport (<wire/pipe.h>) beyond what the conformance suite
 * checks on a pipe pair: absent sides, fds the kernel cannot poll (a
 * regular file, /dev/null), a reader that went away (EPIPE, never
 * SIGPIPE), keep_fds and the blocking mode restored, a tty used for both
 * directions (no half-close), bad arguments, and stdio: refused twice.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct wire_loop *loop;

static void
pipe_setup(void)
{
    loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
}

static void
pipe_teardown(void)
{
    wire_loop_run(loop);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
}

/* A temporary regular file holding `data`, open for reading. */
static int
temp_file_with(const char *data)
{
    char path[] = "/tmp/wire-pipe-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

START_TEST(test_regular_file_read_side)
{
    /* epoll refuses regular files: the transport reads them anyway. */
    struct rec_log log = {0};
    int fd = temp_file_with("from a file\n");
    struct wire_error err = {0};
    ck_assert_int_eq(wire_pipe_open(loop, fd, -1, rec_new(&log), NULL, NULL, &err), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert_str_eq(rec_in(&log), "from a file\n");
    ck_assert_int_eq(log.eof, 1);
    ck_assert(log.lost_null); /* no write side: EOF closes it */
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1); /* closed: it was ours */
    rec_log_free(&log);
}
END_TEST

START_TEST(test_dev_null_both_ways)
{
    struct rec_log log = {0};
    log.eof_keep = true;
    int r = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int w = open("/dev/null", O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(r, 0);
    ck_assert_int_ge(w, 0);
    struct wire_transport *t = NULL;
    ck_assert_int_eq(wire_pipe_open(loop, r, w, rec_new(&log), NULL, &t, NULL), 0);
    ck_assert(unit_run_until(loop, log_eof, &log, 5000));
    ck_assert_uint_eq(log.in_len, 0);
    /* Writes to /dev/null go through (always ready). */
    ck_assert_int_eq(wire_transport_write(log.t, "into the void", 13), 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(log.t), 0);
    wire_transport_close(log.t);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert(log.lost_null);
    rec_log_free(&log);
}
END_TEST

static void
write_on_made(struct rec_log *log, struct wire_transport *t)
{
    ck_assert_int_eq(wire_transport_write(t, "hello", 5), 0);
    log->user_n = wire_transport_write(t, "x", 1) == 0;
}

START_TEST(test_absent_read_side_is_empty_input)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    struct rec_log log = {0};
    log.eof_keep = true;
    log.on_made = write_on_made;
    ck_assert_int_eq(wire_pipe_open(loop, -1, p[1], rec_new(&log), NULL, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_eof, &log, 5000));
    ck_assert_int_eq(log.eof, 1);
    ck_assert_int_eq(log.user_n, 1);
    wire_transport_close(log.t);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    char buf[16] = {0};
    ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 6);
    ck_assert_str_eq(buf, "hellox");
    ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 0); /* write end closed */
    close(p[0]);
    rec_log_free(&log);
}
END_TEST

static void
try_write_on_made(struct rec_log *log, struct wire_transport *t)
{
    log->user_n = wire_transport_write(t, "nope", 4);
    /* Already shut: write_eof has nothing to do. */
    ck_assert_int_eq(wire_transport_write_eof(t), 0);
}

START_TEST(test_absent_write_side_refuses_writes)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    struct rec_log log = {0};
    log.on_made = try_write_on_made;
    ck_assert_int_eq(wire_pipe_open(loop, p[0], -1, rec_new(&log), NULL, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &log, 5000));
    ck_assert_int_eq(log.user_n, WIRE_ECLOSED);
    ck_assert_int_eq(write(p[1], "data", 4), 4);
    close(p[1]);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert_str_eq(rec_in(&log), "data");
    ck_assert(log.lost_null);
    rec_log_free(&log);
}
END_TEST

static void
write_big_on_made(struct rec_log *log, struct wire_transport *t)
{
    static char big[256 * 1024];
    memset(big, 'z', sizeof(big));
    ck_assert_int_eq(wire_transport_write(t, big, sizeof(big)), 0);
    (void)log;
}

START_TEST(test_reader_gone_is_epipe_not_sigpipe)
{
    /* SIGPIPE at its default would kill the test: the transport must
     * turn it into EPIPE in connection_lost. */
    signal(SIGPIPE, SIG_DFL);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    close(p[0]);
    struct rec_log log = {0};
    log.on_made = write_big_on_made;
    ck_assert_int_eq(wire_pipe_open(loop, -1, p[1], rec_new(&log), NULL, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert_int_eq(log.lost_code, -EPIPE);
    sigset_t pending;
    sigpending(&pending);
    ck_assert(!sigismember(&pending, SIGPIPE));
    rec_log_free(&log);
}
END_TEST

START_TEST(test_keep_fds_restores_blocking)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0); /* blocking */
    struct rec_log log = {0};
    struct wire_pipe_options o = {.keep_fds = true};
    ck_assert_int_eq(wire_pipe_open(loop, p[0], -1, rec_new(&log), &o, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &log, 5000));
    ck_assert(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    wire_transport_close(log.t);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    /* Still open, and blocking again. */
    ck_assert_int_ge(fcntl(p[0], F_GETFD), 0);
    ck_assert(!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
    close(p[0]);
    close(p[1]);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_read_chunk_limits_each_delivery)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(write(p[1], "abcdefghij", 10), 10);
    close(p[1]);
    struct rec_log log = {0};
    struct wire_pipe_options o = {.read_chunk = 3};
    ck_assert_int_eq(wire_pipe_open(loop, p[0], -1, rec_new(&log), &o, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert_str_eq(rec_marks(&log), "abc|def|ghi|j|");
    rec_log_free(&log);
}
END_TEST

START_TEST(test_tty_both_ways_no_half_close)
{
    int master, slave;
    ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
    fcntl(master, F_SETFD, FD_CLOEXEC);
    fcntl(slave, F_SETFD, FD_CLOEXEC);
    struct rec_log log = {0};
    struct wire_transport *t = NULL;
    ck_assert_int_eq(wire_pipe_open(loop, master, master, rec_new(&log), NULL, &t, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &log, 5000));
    ck_assert(!wire_transport_can_write_eof(log.t));
    ck_assert_int_lt(wire_transport_write_eof(log.t), 0);
    wire_transport_close(log.t);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert_int_eq(fcntl(master, F_GETFD), -1); /* closed once */
    close(slave);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_bad_arguments)
{
    struct wire_error err = {0};
    struct rec_log log = {0};
    struct wire_protocol *p = rec_new(&log);
    ck_assert_int_eq(wire_pipe_open(loop, -1, -1, p, NULL, NULL, &err), WIRE_EINVAL);
    wire_error_clear(&err);
    /* A closed fd: a clear error, and the protocol stays ours. */
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    close(fd);
    ck_assert_int_eq(wire_pipe_open(loop, fd, -1, p, NULL, NULL, &err), -EBADF);
    ck_assert_contains(err.message, "read fd");
    wire_error_clear(&err);
    /* The same code without an error struct to fill. */
    ck_assert_int_eq(wire_pipe_open(loop, fd, -1, p, NULL, NULL, NULL), -EBADF);
    /* A directory cannot be a pipe. */
    fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_eq(wire_pipe_open(loop, fd, -1, p, NULL, NULL, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "directory");
    wire_error_clear(&err);
    close(fd);
    ck_assert_int_eq(wire_pipe_pair(loop, p, NULL, NULL, NULL, &err), WIRE_EINVAL);
    wire_error_clear(&err);
    wire_protocol_destroy(p);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_stdio_only_once_and_no_listen)
{
    struct rec_log a = {0}, b = {0};
    struct wire_error err = {0};
    struct wire_protocol *pa = rec_new(&a);
    struct wire_protocol *pb = rec_new(&b);
    /* Our stdin/stdout may be anything here; only the bookkeeping is
     * checked.  Closing points fds 0 and 1 at /dev/null, so keep copies
     * and put them back (the runner may share this process). */
    int save_in = dup(STDIN_FILENO), save_out = dup(STDOUT_FILENO);
    ck_assert_int_ge(save_in, 0);
    ck_assert_int_ge(save_out, 0);
    struct wire_transport *t = NULL;
    ck_assert_int_eq(wire_stdio_open(loop, pa, &t, &err), 0);
    ck_assert_int_eq(wire_stdio_open(loop, pb, NULL, &err), WIRE_ESTATE);
    ck_assert_contains(err.message, "already in use");
    wire_error_clear(&err);
    wire_transport_ref(t);
    ck_assert(unit_run_until(loop, log_made, &a, 5000));
    wire_transport_abort(t);
    ck_assert(unit_run_until(loop, log_lost, &a, 5000));
    wire_transport_unref(t);
    /* Free again once the first is gone. */
    ck_assert_int_eq(wire_stdio_open(loop, pb, &t, &err), 0);
    wire_transport_ref(t);
    ck_assert(unit_run_until(loop, log_made, &b, 5000));
    wire_transport_abort(t);
    ck_assert(unit_run_until(loop, log_lost, &b, 5000));
    wire_transport_unref(t);
    struct wire_server *s = NULL;
    ck_assert_int_eq(wire_listen(loop, "stdio:", NULL, NULL, NULL, &s, &err), WIRE_EINVAL);
    wire_error_clear(&err);
    dup2(save_in, STDIN_FILENO);
    dup2(save_out, STDOUT_FILENO);
    close(save_in);
    close(save_out);
    rec_log_free(&a);
    rec_log_free(&b);
}
END_TEST

static struct wire_protocol *
no_factory(void *arg)
{
    (void)arg;
    return NULL;
}

START_TEST(test_connect_only_schemes_cannot_listen)
{
    static const char *const eps[] = {"stdio:", "exec:cat", "serial:/dev/null",
                                      "file:/dev/null"};
    for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
        struct wire_error err = {0};
        struct wire_server *s = NULL;
        int rc = wire_listen(loop, eps[i], no_factory, NULL, NULL, &s, &err);
        ck_assert_msg(rc == WIRE_ENOTSUP, "%s: %d %s", eps[i], rc, err.message);
        ck_assert_contains(err.message, "cannot listen");
        ck_assert_ptr_null(s);
        wire_error_clear(&err);
    }
}
END_TEST

Suite *
pipe_suite(void)
{
    Suite *s = suite_create("pipe");
    TCase *tc = unit_tcase(s, "pipe");
    tcase_add_checked_fixture(tc, pipe_setup, pipe_teardown);
    tcase_add_test(tc, test_regular_file_read_side);
    tcase_add_test(tc, test_dev_null_both_ways);
    tcase_add_test(tc, test_absent_read_side_is_empty_input);
    tcase_add_test(tc, test_absent_write_side_refuses_writes);
    tcase_add_test(tc, test_reader_gone_is_epipe_not_sigpipe);
    tcase_add_test(tc, test_keep_fds_restores_blocking);
    tcase_add_test(tc, test_read_chunk_limits_each_delivery);
    tcase_add_test(tc, test_tty_both_ways_no_half_close);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_stdio_only_once_and_no_listen);
    tcase_add_test(tc, test_connect_only_schemes_cannot_listen);
    return s;
}
