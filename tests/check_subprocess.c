/*
 * The subprocess transport (<wire/subprocess.h>, `exec:`): splitting
 * command lines, a child's stdin/stdout as a transport, its exit status in
 * connection_lost and get_info, the stderr modes, close (a grace, then
 * SIGKILL) and abort (SIGKILL at once), programs that cannot start, the
 * endpoint with its trailing parameters, and the hygiene around it: no
 * zombie, no fd leaked into the child or left in this process, nothing
 * left when the loop is freed under a running child.
 *
 * Every wait runs the loop until an event or a deadline; nothing sleeps.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct wire_loop *loop;

static void
sp_setup(void)
{
    loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
}

/* No child of ours may be left: not running, not a zombie. */
static void
assert_no_children(void)
{
    int st;
    errno = 0;
    pid_t r = waitpid(-1, &st, WNOHANG);
    ck_assert_msg(r == -1 && errno == ECHILD,
                  "a child was left behind (waitpid: %ld, %s)", (long)r,
                  strerror(errno));
}

static void
sp_teardown(void)
{
    if (loop != NULL) {
        wire_loop_run(loop);
        wire_loop_free(loop);
        loop = NULL;
    }
    ck_assert_int_eq(unit_live_protocols, 0);
    assert_no_children();
}

static long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Spawn `argv` with a recording protocol; returns the transport with a
 * reference the caller drops (so get_info works after the loss). */
static struct wire_transport *
spawn(struct rec_log *log, char *const argv[],
      const struct wire_subprocess_options *opts)
{
    struct wire_transport *t = NULL;
    struct wire_error err = {0};
    int rc = wire_subprocess_spawn(loop, argv, opts, rec_new(log), &t, &err);
    ck_assert_msg(rc == 0, "spawn %s: %s", argv[0], err.message);
    ck_assert_ptr_nonnull(t);
    return wire_transport_ref(t);
}

static int
exit_status(struct wire_transport *t)
{
    int st = -1;
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_EXIT_STATUS, &st,
                                             sizeof(st)),
                     (int)sizeof(int));
    return st;
}

static int
count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own */
}

/* ---- splitting command lines ---- */

struct split_case {
    const char *in;
    const char *out; /* words joined with '|', or NULL: an error */
    const char *err; /* text the error must contain */
};

static const struct split_case split_cases[] = {
    {"ls", "ls", NULL},
    {"  ls   -l\t/tmp \n", "ls|-l|/tmp", NULL},
    {"echo 'a b'  c", "echo|a b|c", NULL},
    {"echo \"a b\" 'c d'", "echo|a b|c d", NULL},
    {"a'b'\"c\"d", "abcd", NULL},
    {"echo '' \"\" x", "echo|||x", NULL},
    {"echo a\\ b", "echo|a b", NULL},
    {"echo \\'q\\' \\\"", "echo|'q'|\"", NULL},
    {"echo '\\n' '$HOME' '\"'", "echo|\\n|$HOME|\"", NULL},
    {"echo \"\\$x \\` \\\" \\\\ \\n \\a\"", "echo|$x ` \" \\ \\n \\a", NULL},
    {"echo \"it's\" 'say \"hi\"'", "echo|it's|say \"hi\"", NULL},
    {"echo a\\\nb", "echo|ab", NULL},
    {"echo \\\n x", "echo|x", NULL},
    {"echo \"a\\\nb\"", "echo|ab", NULL},
    {"echo $HOME ~ *.c ? [a] {x} #c !", "echo|$HOME|~|*.c|?|[a]|{x}|#c|!", NULL},
    {"printf %s%% 100%", "printf|%s%%|100%", NULL},
    {"echo 'a|b' \"c;d\" e\\&f", "echo|a|b|c;d|e&f", NULL},
    {"x=1 env", "x=1|env", NULL},
    {"", NULL, "no program"},
    {" \t\n ", NULL, "no program"},
    {"echo 'abc", NULL, "unterminated ' (opened at offset 5)"},
    {"echo \"abc", NULL, "unterminated \" (opened at offset 5)"},
    {"echo \"a\\\"", NULL, "unterminated \""},
    {"echo abc\\", NULL, "ends with a backslash"},
    {"ls | wc", NULL, "'|' at offset 3 is a shell operator"},
    {"a && b", NULL, "'&' at offset 2"},
    {"a; b", NULL, "';' at offset 1"},
    {"cat <in", NULL, "'<' at offset 4"},
    {"echo >out", NULL, "'>' at offset 5"},
    {"(sub)", NULL, "'(' at offset 0"},
    {"echo `id`", NULL, "'`' at offset 5"},
};

START_TEST(test_split_args_table)
{
    for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
        const struct split_case *c = &split_cases[i];
        char **argv = (char **)(uintptr_t)1;
        struct wire_error err = {0};
        int rc = wire_split_args(c->in, &argv, &err);
        if (c->out == NULL) {
            ck_assert_msg(rc == WIRE_EINVAL, "'%s': rc %d, expected an error",
                          c->in, rc);
            ck_assert_ptr_null(argv);
            ck_assert_int_eq(err.code, WIRE_EINVAL);
            ck_assert_contains(err.message, c->err);
            wire_error_clear(&err);
            continue;
        }
        ck_assert_msg(rc == 0, "'%s': %s", c->in, err.message);
        char joined[256] = "";
        for (char **a = argv; *a != NULL; a++) {
            if (a != argv)
                strcat(joined, "|");
            strcat(joined, *a);
        }
        ck_assert_msg(strcmp(joined, c->out) == 0, "'%s' split as '%s', "
                      "expected '%s'", c->in, joined, c->out);
        wire_free_args(argv);
    }
    struct wire_error err = {0};
    ck_assert_int_eq(wire_split_args(NULL, NULL, &err), WIRE_EINVAL);
    wire_error_clear(&err);
    wire_free_args(NULL);
}
END_TEST

/* ---- the transport ---- */

static void
write_on_made(struct rec_log *log, struct wire_transport *t)
{
    const char *msg = log->user;
    ck_assert_int_eq(wire_transport_write(t, msg, strlen(msg)), 0);
    ck_assert_int_eq(wire_transport_write_eof(t), 0);
}

START_TEST(test_cat_round_trip)
{
    struct rec_log log = {0};
    log.user = "hello\nworld\n";
    log.on_made = write_on_made;
    char *argv[] = {"cat", NULL};
    struct wire_transport *t = spawn(&log, argv, NULL);
    int pid = 0;
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_PID, &pid, sizeof(pid)),
                     (int)sizeof(int));
    ck_assert_int_gt(pid, 0);
    int st;
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_EXIT_STATUS, &st,
                                             sizeof(st)), WIRE_ESTATE);
    char name[16];
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_NAME, name, sizeof(name)), 4);
    ck_assert_str_eq(name, "exec");
    char peer[64], local[64];
    ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_PEER, peer, sizeof(peer)), 0);
    ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_LOCAL, local, sizeof(local)), 0);
    ck_assert_str_eq(peer, "exec:cat");
    ck_assert_str_eq(local, "exec:cat");
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_STDERR, name, sizeof(name)),
                     WIRE_ENOTSUP);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    ck_assert_str_eq(rec_in(&log), "hello\nworld\n");
    ck_assert_int_eq(log.eof, 1);
    ck_assert_msg(log.lost_null, "lost: %s", log.lost_msg);
    /* After connection_lost: the child exited and was reaped. */
    st = exit_status(t);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_PID, &pid, sizeof(pid)),
                     (int)sizeof(int));
    errno = 0;
    ck_assert_int_eq(waitpid(pid, &st, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    ck_assert_int_eq(wire_transport_write(t, "x", 1), WIRE_ECLOSED);
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_argv_passed_verbatim)
{
    /* Words with blanks, quotes and '%' reach the child as they are, and
     * PEER spells them so that wire_split_args gives them back. */
    struct rec_log log = {0};
    char *argv[] = {"printf", "%s|", "a b", "it's", "", "$HOME", NULL};
    struct wire_transport *t = spawn(&log, argv, NULL);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    ck_assert_str_eq(rec_in(&log), "a b|it's||$HOME|");
    char peer[128];
    ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_PEER, peer, sizeof(peer)), 0);
    ck_assert_str_eq(peer, "exec:printf '%s|' 'a b' 'it'\\''s' '' '$HOME'");
    char **back = NULL;
    ck_assert_int_eq(wire_split_args(peer + 5, &back, NULL), 0);
    for (int i = 0; argv[i] != NULL; i++) {
        ck_assert_ptr_nonnull(back[i]);
        ck_assert_str_eq(back[i], argv[i]);
    }
    ck_assert_ptr_null(back[6]);
    wire_free_args(back);
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_exit_status_is_the_error)
{
    struct rec_log log = {0};
    char *argv[] = {"sh", "-c", "echo partial; exit 3", NULL};
    struct wire_transport *t = spawn(&log, argv, NULL);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    ck_assert_str_eq(rec_in(&log), "partial\n");
    ck_assert_int_eq(log.lost_code, WIRE_EEXIT);
    ck_assert_str_eq(log.lost_msg, "exec 'sh': exited with status 3");
    int st = exit_status(t);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 3);
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_exit_before_start)
{
    /* `false` may well be gone before connection_made: the status still
     * reaches the loss. */
    struct rec_log log = {0};
    char *argv[] = {"false", NULL};
    struct wire_transport *t = spawn(&log, argv, NULL);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    ck_assert_int_eq(log.made, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EEXIT);
    ck_assert_str_eq(log.lost_msg, "exec 'false': exited with status 1");
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_signal_death)
{
    struct rec_log log = {0};
    char *argv[] = {"sh", "-c", "kill -TERM $$", NULL};
    struct wire_transport *t = spawn(&log, argv, NULL);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    ck_assert_int_eq(log.lost_code, WIRE_EEXIT);
    ck_assert_str_eq(log.lost_msg, "exec 'sh': killed by signal 15 (SIGTERM)");
    int st = exit_status(t);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_subprocess_kill)
{
    struct rec_log log = {0};
    char *argv[] = {"sleep", "30", NULL};
    struct wire_transport *t = spawn(&log, argv, NULL);
    ck_assert(unit_run_until(loop, log_made, &log, 10000));
    ck_assert_int_eq(wire_subprocess_kill(t, SIGINT), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    ck_assert_int_eq(log.lost_code, WIRE_EEXIT);
    ck_assert_str_eq(log.lost_msg, "exec 'sleep': killed by signal 2 (SIGINT)");
    ck_assert_int_eq(wire_subprocess_kill(t, SIGINT), WIRE_ESTATE);
    ck_assert_int_eq(wire_subprocess_kill(NULL, SIGINT), WIRE_EINVAL);
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_write_eof_closes_stdin)
{
    /* wc prints its count only once it reads EOF. */
    struct rec_log log = {0};
    log.eof_keep = true;
    char *argv[] = {"wc", "-c", NULL};
    struct wire_transport *t = spawn(&log, argv, NULL);
    ck_assert(unit_run_until(loop, log_made, &log, 10000));
    static char big[12345];
    memset(big, 'x', sizeof(big));
    ck_assert(wire_transport_can_write_eof(t));
    ck_assert_int_eq(wire_transport_write(t, big, sizeof(big)), 0);
    ck_assert_int_eq(wire_transport_write_eof(t), 0);
    ck_assert_int_eq(wire_transport_write(t, "x", 1), WIRE_ECLOSED);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    ck_assert_str_eq(rec_in(&log), "12345\n");
    ck_assert_int_eq(log.eof, 1);
    ck_assert(log.lost_null);
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

static bool
got_100k(void *arg)
{
    return ((struct rec_log *)arg)->in_len >= 100000;
}

START_TEST(test_sigpipe_after_close_is_clean)
{
    /* `yes` writes forever: after close it dies of SIGPIPE, which we
     * caused, so the close is clean.  Ignoring SIGPIPE here must not
     * reach the child. */
    struct sigaction ign, old;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old);
    struct rec_log log = {0};
    char *argv[] = {"yes", NULL};
    struct wire_transport *t = spawn(&log, argv, NULL);
    ck_assert(unit_run_until(loop, log_made, &log, 10000));
    ck_assert(unit_run_until(loop, got_100k, &log, 10000));
    wire_transport_close(t);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    sigaction(SIGPIPE, &old, NULL);
    ck_assert_msg(log.lost_null, "lost: %s", log.lost_msg);
    int st = exit_status(t);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "status %#x", st);
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_child_signal_state_is_clean)
{
    /* Signals we block are not blocked in the child. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    struct rec_log log = {0};
    char *argv[] = {"grep", "^SigBlk:", "/proc/self/status", NULL};
    struct wire_transport *t = spawn(&log, argv, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    ck_assert_str_eq(rec_in(&log), "SigBlk:\t0000000000000000\n");
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

/* ---- stderr ---- */

START_TEST(test_stderr_capture_in_error)
{
    struct rec_log log = {0};
    struct wire_subprocess_options o = {.stderr_mode = WIRE_STDERR_CAPTURE};
    char *argv[] = {"sh", "-c", "echo out; echo first >&2; echo 'bad thing' >&2; exit 2",
                    NULL};
    struct wire_transport *t = spawn(&log, argv, &o);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    ck_assert_str_eq(rec_in(&log), "out\n");
    ck_assert_int_eq(log.lost_code, WIRE_EEXIT);
    ck_assert_str_eq(log.lost_msg,
                     "exec 'sh': exited with status 2; stderr: first; bad thing");
    char buf[64];
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_STDERR, buf, sizeof(buf)), 16);
    ck_assert_str_eq(buf, "first\nbad thing\n");
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

/* A protocol that keeps the whole loss message (rec_log keeps 512
 * bytes). */
struct fullmsg {
    struct wire_protocol base;
    char *msg;
    int code;
    bool lost;
};

static void
fm_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct fullmsg *f = (struct fullmsg *)p;
    f->lost = true;
    f->code = err != NULL ? err->code : 0;
    f->msg = strdup(err != NULL ? err->message : "");
}

static const struct wire_protocol_ops fm_ops = {.connection_lost = fm_lost};

static bool
fm_is_lost(void *arg)
{
    return ((struct fullmsg *)arg)->lost;
}

START_TEST(test_stderr_capture_success_and_tail)
{
    /* A clean exit keeps its stderr for get_info only; more than 4 KiB
     * keeps the end. */
    struct rec_log log = {0};
    struct wire_subprocess_options o = {.stderr_mode = WIRE_STDERR_CAPTURE};
    char *argv[] = {"sh", "-c", "i=0; while [ $i -lt 1000 ]; do echo line$i >&2; "
                    "i=$((i+1)); done; echo done", NULL};
    struct wire_transport *t = spawn(&log, argv, &o);
    ck_assert(unit_run_until(loop, log_lost, &log, 20000));
    ck_assert_str_eq(rec_in(&log), "done\n");
    ck_assert(log.lost_null);
    static char buf[8192];
    int n = wire_transport_get_info(t, WIRE_INFO_STDERR, buf, sizeof(buf));
    ck_assert_int_eq(n, 4096);
    size_t len = strlen(buf);
    ck_assert_str_eq(buf + len - 8, "line999\n");
    /* The tail starts somewhere in the middle of a line. */
    ck_assert_ptr_nonnull(strstr(buf, "\nline700\n"));
    ck_assert_ptr_null(strstr(buf, "\nline100\n"));

    /* The same failing: the message quotes the last KiB, marked as cut. */
    struct fullmsg fm = {0};
    wire_protocol_init(&fm.base, &fm_ops);
    char *argv2[] = {"sh", "-c", "i=0; while [ $i -lt 1000 ]; do echo line$i >&2; "
                     "i=$((i+1)); done; exit 9", NULL};
    ck_assert_int_eq(wire_subprocess_spawn(loop, argv2, &o, &fm.base, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, fm_is_lost, &fm, 20000));
    ck_assert_int_eq(fm.code, WIRE_EEXIT);
    const char *full = fm.msg;
    const char *head = "exec 'sh': exited with status 9; stderr: ...";
    ck_assert_int_eq(strncmp(full, head, strlen(head)), 0);
    /* 1024 bytes of stderr, each newline written as "; ". */
    size_t semis = 0;
    for (const char *x = full + strlen(head); *x != '\0'; x++)
        semis += *x == ';';
    ck_assert_uint_eq(strlen(full) - strlen(head) - semis, 1024);
    const char *end = "; line997; line998; line999";
    ck_assert_str_eq(full + strlen(full) - strlen(end), end);
    free(fm.msg);
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

static char *
self_link(int fd)
{
    static char buf[4][512];
    static int k;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    char *b = buf[k++ % 4];
    ssize_t n = readlink(path, b, sizeof(buf[0]) - 2);
    ck_assert_int_gt(n, 0);
    b[n] = '\n';
    b[n + 1] = '\0';
    return b;
}

START_TEST(test_stderr_modes)
{
    char *where[] = {"readlink", "/proc/self/fd/2", NULL};
    /* null: /dev/null */
    struct rec_log a = {0};
    struct wire_subprocess_options o = {.stderr_mode = WIRE_STDERR_NULL};
    struct wire_transport *ta = spawn(&a, where, &o);
    /* inherit: our own stderr */
    struct rec_log b = {0};
    o.stderr_mode = WIRE_STDERR_INHERIT;
    struct wire_transport *tb = spawn(&b, where, &o);
    /* stdout: the same pipe as its stdout */
    struct rec_log c = {0};
    char *both[] = {"sh", "-c", "readlink /proc/self/fd/1 /proc/self/fd/2; "
                    "echo to-stderr >&2", NULL};
    o.stderr_mode = WIRE_STDERR_STDOUT;
    struct wire_transport *tc = spawn(&c, both, &o);
    /* capture: a pipe of its own */
    struct rec_log d = {0};
    o.stderr_mode = WIRE_STDERR_CAPTURE;
    struct wire_transport *td = spawn(&d, both, &o);
    ck_assert(unit_run_until(loop, log_lost, &a, 10000));
    ck_assert(unit_run_until(loop, log_lost, &b, 10000));
    ck_assert(unit_run_until(loop, log_lost, &c, 10000));
    ck_assert(unit_run_until(loop, log_lost, &d, 10000));
    ck_assert_str_eq(rec_in(&a), "/dev/null\n");
    ck_assert_str_eq(rec_in(&b), self_link(STDERR_FILENO));
    /* Two lines naming the same pipe, then what it wrote to stderr. */
    const char *in = rec_in(&c);
    const char *nl = strchr(in, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_int_eq(strncmp(in, "pipe:[", 6), 0);
    size_t l = (size_t)(nl - in) + 1;
    ck_assert_int_eq(strncmp(nl + 1, in, l), 0);
    ck_assert_str_eq(nl + 1 + l, "to-stderr\n");
    /* Capture: stdout and stderr are two different pipes. */
    in = rec_in(&d);
    nl = strchr(in, '\n');
    ck_assert_ptr_nonnull(nl);
    l = (size_t)(nl - in) + 1;
    ck_assert_int_eq(strncmp(nl + 1, "pipe:[", 6), 0);
    ck_assert_int_ne(strncmp(nl + 1, in, l), 0);
    char buf[32];
    ck_assert_int_eq(wire_transport_get_info(td, WIRE_INFO_STDERR, buf, sizeof(buf)), 10);
    ck_assert_str_eq(buf, "to-stderr\n");
    ck_assert(a.lost_null && b.lost_null && c.lost_null && d.lost_null);
    wire_transport_unref(ta);
    wire_transport_unref(tb);
    wire_transport_unref(tc);
    wire_transport_unref(td);
    rec_log_free(&a);
    rec_log_free(&b);
    rec_log_free(&c);
    rec_log_free(&d);
}
END_TEST

/* ---- close and abort ---- */

START_TEST(test_close_kills_after_grace)
{
    /* sleep ignores its stdin: close waits kill_after, then SIGKILL. */
    struct rec_log log = {0};
    struct wire_subprocess_options o = {.kill_after_ms = 150};
    char *argv[] = {"sleep", "30", NULL};
    struct wire_transport *t = spawn(&log, argv, &o);
    ck_assert(unit_run_until(loop, log_made, &log, 10000));
    long t0 = now_ms();
    wire_transport_close(t);
    ck_assert(wire_transport_is_closing(t));
    ck_assert_int_eq(log.lost, 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    long took = now_ms() - t0;
    ck_assert_msg(took >= 140 && took < 5000, "lost after %ld ms", took);
    ck_assert_int_eq(log.lost_code, WIRE_EEXIT);
    ck_assert_str_eq(log.lost_msg, "exec 'sleep': killed by signal 9 (SIGKILL): "
                     "it did not exit within 150 ms of close");
    int st = exit_status(t);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_close_waits_for_exit)
{
    /* A child that ends by itself after its stdin closes: connection_lost
     * only once it has exited, with its status. */
    struct rec_log log = {0};
    char *argv[] = {"sh", "-c", "cat >/dev/null; echo bye >&2; exit 4", NULL};
    struct wire_subprocess_options o = {.stderr_mode = WIRE_STDERR_CAPTURE};
    struct wire_transport *t = spawn(&log, argv, &o);
    ck_assert(unit_run_until(loop, log_made, &log, 10000));
    ck_assert_int_eq(wire_transport_write(t, "ignored", 7), 0);
    wire_transport_close(t);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    ck_assert_int_eq(log.lost_code, WIRE_EEXIT);
    ck_assert_str_eq(log.lost_msg, "exec 'sh': exited with status 4; stderr: bye");
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_abort_kills_at_once)
{
    struct rec_log log = {0};
    char *argv[] = {"sleep", "30", NULL};
    struct wire_transport *t = spawn(&log, argv, NULL); /* grace: 5 s */
    ck_assert(unit_run_until(loop, log_made, &log, 10000));
    long t0 = now_ms();
    wire_transport_abort(t);
    ck_assert_int_eq(log.lost, 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 10000));
    ck_assert_msg(now_ms() - t0 < 4000, "abort waited %ld ms", now_ms() - t0);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    ck_assert_str_eq(log.lost_msg, "connection aborted locally");
    int st = exit_status(t);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    wire_transport_unref(t);
    rec_log_free(&log);
}
END_TEST

static void
close_on_made(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    wire_transport_close(t);
    ck_assert_int_eq(wire_transport_write(t, "x", 1), WIRE_ECLOSED);
}

static void
abort_on_data(struct rec_log *log, struct wire_transport *t, const void *data,
              size_t len)
{
    (void)log;
    (void)data;
    (void)len;
    wire_transport_abort(t);
    wire_transport_abort(t);
}

START_TEST(test_close_and_abort_from_callbacks)
{
    struct rec_log a = {0};
    a.on_made = close_on_made;
    char *cat[] = {"cat", NULL};
    struct wire_transport *ta = spawn(&a, cat, NULL);
    struct rec_log b = {0};
    b.on_data = abort_on_data;
    char *yes[] = {"yes", NULL};
    struct wire_transport *tb = spawn(&b, yes, NULL);
    ck_assert(unit_run_until(loop, log_lost, &a, 10000));
    ck_assert(unit_run_until(loop, log_lost, &b, 10000));
    ck_assert_msg(a.lost_null, "%s", a.lost_msg); /* cat ends at EOF */
    ck_assert_int_eq(b.lost_code, WIRE_EABORTED);
    ck_assert_int_eq(b.data_calls, 1);
    wire_transport_unref(ta);
    wire_transport_unref(tb);
    rec_log_free(&a);
    rec_log_free(&b);
}
END_TEST

/* ---- a child that stops reading ---- */

static void
write_big_on_made(struct rec_log *log, struct wire_transport *t)
{
    static char big[1 << 20];
    memset(big, 'x', sizeof(big));
    (void)log;
    ck_assert_int_eq(wire_transport_write(t, big, sizeof(big)), 0);
}

START_TEST(test_stdin_closed_early_output_first)
{
    /* head takes 5 bytes and exits: the write that finds its stdin gone
     * fails the transport only after its output and the EOF. */
    struct rec_log a = {0};
    a.on_made = write_big_on_made;
    char *head5[] = {"head", "-c", "5", NULL};
    struct wire_transport *ta = spawn(&a, head5, NULL);
    /* The same, kept open after the EOF. */
    struct rec_log b = {0};
    b.on_made = write_big_on_made;
    b.eof_keep = true;
    struct wire_transport *tb = spawn(&b, head5, NULL);
    /* A child that closes its stdin, writes, and fails: the EPIPE is the
     * cause, its status follows. */
    struct rec_log c = {0};
    c.on_made = write_big_on_made;
    char *early[] = {"sh", "-c", "exec 0<&-; echo hi; exit 3", NULL};
    struct wire_transport *tc = spawn(&c, early, NULL);
    ck_assert(unit_run_until(loop, log_lost, &a, 10000));
    ck_assert(unit_run_until(loop, log_lost, &b, 10000));
    ck_assert(unit_run_until(loop, log_lost, &c, 10000));
    ck_assert_str_eq(rec_in(&a), "xxxxx");
    ck_assert_int_eq(a.eof, 1);
    ck_assert_int_eq(a.lost_code, -EPIPE);
    ck_assert_str_eq(a.lost_msg, "write: Broken pipe");
    ck_assert_str_eq(rec_in(&b), "xxxxx");
    ck_assert_int_eq(b.eof, 1);
    ck_assert_int_eq(b.lost_code, -EPIPE);
    ck_assert_str_eq(rec_in(&c), "hi\n");
    ck_assert_int_eq(c.eof, 1);
    ck_assert_int_eq(c.lost_code, -EPIPE);
    ck_assert_str_eq(c.lost_msg, "write: Broken pipe (exec 'sh': exited with "
                     "status 3)");
    wire_transport_unref(ta);
    wire_transport_unref(tb);
    wire_transport_unref(tc);
    rec_log_free(&a);
    rec_log_free(&b);
    rec_log_free(&c);
}
END_TEST

/* ---- what cannot start ---- */

START_TEST(test_program_not_found)
{
    struct rec_log log = {0};
    struct wire_protocol *p = rec_new(&log);
    struct wire_transport *t = (struct wire_transport *)(uintptr_t)1;
    struct wire_error err = {0};
    int before = count_fds();
    char *missing[] = {"wire-no-such-program-xyz", "arg", NULL};
    ck_assert_int_eq(wire_subprocess_spawn(loop, missing, NULL, p, &t, &err), -ENOENT);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(err.message, "exec 'wire-no-such-program-xyz': No such file "
                     "or directory (not found in PATH)");
    char *abs_missing[] = {"/nonexistent/prog", NULL};
    ck_assert_int_eq(wire_subprocess_spawn(loop, abs_missing, NULL, p, NULL, &err),
                     -ENOENT);
    ck_assert_str_eq(err.message, "exec '/nonexistent/prog': No such file or directory");
    /* Not executable; executable but not a program (no #!). */
    char path[] = "/tmp/wire-sp-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "just text\n", 10), 10);
    close(fd);
    char *not_exec[] = {path, NULL};
    ck_assert_int_eq(wire_subprocess_spawn(loop, not_exec, NULL, p, NULL, &err),
                     -EACCES);
    ck_assert_contains(err.message, "Permission denied");
    ck_assert_int_eq(chmod(path, 0700), 0);
    struct rec_log xlog = {0};
    struct wire_protocol *xp = rec_new(&xlog);
    int rc = wire_subprocess_spawn(loop, not_exec, NULL, xp, NULL, &err);
    if (rc == 0) {
        /* Only where the spawn cannot report exec's error back (valgrind
         * makes its vfork a fork): the child exits 127 instead. */
        const char *pre = getenv("LD_PRELOAD");
        ck_assert_msg(pre != NULL && strstr(pre, "vgpreload") != NULL,
                      "a file with no #! started");
        ck_assert(unit_run_until(loop, log_lost, &xlog, 10000));
        char want[128];
        snprintf(want, sizeof(want), "exec '%s': exited with status 127", path);
        ck_assert_int_eq(xlog.lost_code, WIRE_EEXIT);
        ck_assert_str_eq(xlog.lost_msg, want);
        wire_loop_run(loop);
    } else {
        ck_assert_int_eq(rc, -ENOEXEC);
        ck_assert_contains(err.message, "Exec format error");
        wire_protocol_destroy(xp);
    }
    rec_log_free(&xlog);
    unlink(path);
    struct wire_subprocess_options o = {.cwd = "/nonexistent-dir"};
    char *ls[] = {"ls", NULL};
    ck_assert_int_eq(wire_subprocess_spawn(loop, ls, &o, p, NULL, &err), -ENOENT);
    ck_assert_str_eq(err.message, "exec 'ls': cwd '/nonexistent-dir': No such file "
                     "or directory");
    o.cwd = "/etc/hostname";
    ck_assert_int_eq(wire_subprocess_spawn(loop, ls, &o, p, NULL, &err), -ENOTDIR);
    o.cwd = NULL;
    o.stderr_mode = 7;
    ck_assert_int_eq(wire_subprocess_spawn(loop, ls, &o, p, NULL, &err), WIRE_EINVAL);
    char *empty[] = {NULL};
    ck_assert_int_eq(wire_subprocess_spawn(loop, empty, NULL, p, NULL, &err), WIRE_EINVAL);
    ck_assert_int_eq(wire_subprocess_spawn(NULL, ls, NULL, p, NULL, &err), WIRE_EINVAL);
    ck_assert_int_eq(wire_subprocess_spawn(loop, ls, NULL, NULL, NULL, &err), WIRE_EINVAL);
    wire_error_clear(&err);
    /* Nothing was taken, nothing left behind. */
    ck_assert_int_eq(count_fds(), before);
    wire_loop_run(loop);
    ck_assert_int_eq(log.made, 0);
    ck_assert_int_eq(log.destroyed, 0);
    wire_protocol_destroy(p);
    rec_log_free(&log);
}
END_TEST

/* ---- hygiene ---- */

START_TEST(test_child_inherits_only_stdio)
{
    /* An fd of ours left inheritable (no close-on-exec) does not reach
     * the child either. */
    int leak = dup(STDIN_FILENO);
    ck_assert_int_ge(leak, 3);
    struct rec_log a = {0}, b = {0};
    char *ls[] = {"ls", "/proc/self/fd", NULL};
    struct wire_transport *ta = spawn(&a, ls, NULL);
    struct wire_subprocess_options o = {.stderr_mode = WIRE_STDERR_CAPTURE};
    struct wire_transport *tb = spawn(&b, ls, &o);
    ck_assert(unit_run_until(loop, log_lost, &a, 10000));
    ck_assert(unit_run_until(loop, log_lost, &b, 10000));
    /* 3 is ls's own handle on the directory. */
    ck_assert_str_eq(rec_in(&a), "0\n1\n2\n3\n");
    ck_assert_str_eq(rec_in(&b), "0\n1\n2\n3\n");
    close(leak);
    wire_transport_unref(ta);
    wire_transport_unref(tb);
    rec_log_free(&a);
    rec_log_free(&b);
}
END_TEST

START_TEST(test_no_fd_leaks_and_cloexec)
{
    wire_loop_free(loop);
    loop = NULL;
    int before = count_fds();
    bool was_open[1024];
    for (int fd = 0; fd < 1024; fd++)
        was_open[fd] = fcntl(fd, F_GETFD) >= 0;
    for (int round = 0; round < 3; round++) {
        loop = wire_loop_new();
        struct rec_log log = {0};
        log.user = "ping\n";
        log.on_made = write_on_made;
        struct wire_subprocess_options o = {.stderr_mode = WIRE_STDERR_CAPTURE};
        char *argv[] = {"sh", "-c", "cat; echo err >&2", NULL};
        struct wire_transport *t = spawn(&log, argv, &o);
        ck_assert(unit_run_until(loop, log_made, &log, 10000));
        /* While it runs: every fd we opened is close-on-exec. */
        for (int fd = 3; fd < 1024; fd++) {
            int fl = fcntl(fd, F_GETFD);
            if (fl >= 0 && !was_open[fd])
                ck_assert_msg(fl & FD_CLOEXEC, "fd %d (%s) is not close-on-exec",
                              fd, self_link(fd));
        }
        ck_assert(unit_run_until(loop, log_lost, &log, 10000));
        ck_assert_str_eq(rec_in(&log), "ping\n");
        wire_transport_unref(t);
        rec_log_free(&log);
        wire_loop_run(loop);
        wire_loop_free(loop);
        loop = NULL;
        ck_assert_int_eq(count_fds(), before);
    }
}
END_TEST

START_TEST(test_cwd_option)
{
    struct rec_log a = {0};
    struct wire_subprocess_options o = {.cwd = "/usr"};
    char *pwd[] = {"pwd", NULL};
    struct wire_transport *t = spawn(&a, pwd, &o);
    ck_assert(unit_run_until(loop, log_lost, &a, 10000));
    ck_assert_str_eq(rec_in(&a), "/usr\n");
    wire_transport_unref(t);
    rec_log_free(&a);
}
END_TEST

START_TEST(test_envp_option)
{
    struct rec_log a = {0};
    char *env[] = {"WIRE_X=42", "PATH=/usr/bin:/bin", NULL};
    struct wire_subprocess_options o = {.envp = env};
    char *argv[] = {"env", NULL};
    struct wire_transport *t = spawn(&a, argv, &o);
    ck_assert(unit_run_until(loop, log_lost, &a, 10000));
    ck_assert_str_eq(rec_in(&a), "WIRE_X=42\nPATH=/usr/bin:/bin\n");
    wire_transport_unref(t);
    rec_log_free(&a);
}
END_TEST

/* ---- the loop freed under running children ---- */

struct cres {
    int calls;
    int code;
    char msg[256];
    struct wire_transport *t;
};

static void
connect_cb(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct cres *r = arg;
    r->calls++;
    r->code = err != NULL ? err->code : 0;
    r->t = t;
    snprintf(r->msg, sizeof(r->msg), "%s", err != NULL ? err->message : "");
}

START_TEST(test_loop_freed_with_children)
{
    wire_loop_free(loop);
    int before = count_fds();
    loop = wire_loop_new();
    /* One running and open, one closed and waiting for its exit, one not
     * even started. */
    struct rec_log a = {0}, b = {0}, c = {0};
    char *argv[] = {"sleep", "30", NULL};
    struct wire_transport *ta = spawn(&a, argv, NULL);
    struct wire_transport *tb = spawn(&b, argv, NULL);
    ck_assert(unit_run_until(loop, log_made, &a, 10000));
    ck_assert(unit_run_until(loop, log_made, &b, 10000));
    int pids[3];
    wire_transport_get_info(ta, WIRE_INFO_PID, &pids[0], sizeof(int));
    wire_transport_get_info(tb, WIRE_INFO_PID, &pids[1], sizeof(int));
    wire_transport_close(tb);
    struct cres r = {0};
    ck_assert_int_eq(wire_connect(loop, "exec:sleep 30", rec_new(&c), NULL,
                                  connect_cb, &r, NULL), 0);
    long t0 = now_ms();
    wire_loop_free(loop);
    loop = NULL;
    ck_assert_msg(now_ms() - t0 < 4000, "freeing took %ld ms", now_ms() - t0);
    ck_assert_int_eq(a.lost, 1);
    ck_assert_int_eq(a.lost_code, WIRE_ECANCELED);
    ck_assert_str_eq(a.lost_msg, "exec 'sleep': the loop was freed while the "
                     "connection was open (the child was killed)");
    ck_assert_int_eq(b.lost, 1);
    ck_assert_int_eq(b.lost_code, WIRE_ECANCELED);
    ck_assert_str_eq(b.lost_msg, "exec 'sleep': killed: the loop was freed while it ran");
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.code, WIRE_ECANCELED);
    ck_assert_ptr_null(r.t);
    ck_assert_int_eq(c.made, 0);
    ck_assert_int_eq(a.destroyed + b.destroyed + c.destroyed, 3);
    /* Reaped: neither running nor a zombie, and their status is known. */
    for (int i = 0; i < 2; i++) {
        errno = 0;
        ck_assert_int_eq(waitpid(pids[i], NULL, WNOHANG), -1);
        ck_assert_int_eq(errno, ECHILD);
    }
    int st = exit_status(ta);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    wire_transport_unref(ta);
    wire_transport_unref(tb);
    ck_assert_int_eq(count_fds(), before);
    rec_log_free(&a);
    rec_log_free(&b);
    rec_log_free(&c);
}
END_TEST

/* ---- the endpoint ---- */

static struct wire_transport *
connect_ok(const char *ep, struct rec_log *log, struct cres *r)
{
    struct wire_error err = {0};
    int rc = wire_connect(loop, ep, rec_new(log), NULL, connect_cb, r, &err);
    ck_assert_msg(rc == 0, "%s: %s", ep, err.message);
    ck_assert(unit_run_until(loop, log_made, log, 10000));
    ck_assert_int_eq(r->calls, 1);
    ck_assert_int_eq(r->code, 0);
    ck_assert_ptr_eq(r->t, log->t);
    return wire_transport_ref(r->t);
}

START_TEST(test_endpoint_params_and_question_marks)
{
    /* '?' inside the command stays the command's; trailing known keys are
     * parameters; '%' is not an escape in the command. */
    struct rec_log a = {0};
    struct cres ra = {0};
    struct wire_transport *ta = connect_ok("exec:echo a?b 100% c?d=e", &a, &ra);
    struct rec_log b = {0};
    struct cres rb = {0};
    struct wire_transport *tb = connect_ok(
        "exec:sh -c 'pwd; echo x?y >&2; exit 5'?stderr=capture&kill_after=200&cwd=/usr%2Fbin",
        &b, &rb);
    ck_assert(unit_run_until(loop, log_lost, &a, 10000));
    ck_assert(unit_run_until(loop, log_lost, &b, 10000));
    ck_assert_str_eq(rec_in(&a), "a?b 100% c?d=e\n");
    ck_assert(a.lost_null);
    char peer[128];
    wire_transport_get_info(ta, WIRE_INFO_PEER, peer, sizeof(peer));
    ck_assert_str_eq(peer, "exec:echo a?b 100% c?d=e");
    ck_assert_str_eq(rec_in(&b), "/usr/bin\n");
    ck_assert_int_eq(b.lost_code, WIRE_EEXIT);
    ck_assert_str_eq(b.lost_msg, "exec 'sh': exited with status 5; stderr: x?y");
    wire_transport_get_info(tb, WIRE_INFO_PEER, peer, sizeof(peer));
    ck_assert_str_eq(peer, "exec:sh -c 'pwd; echo x?y >&2; exit 5'");
    wire_transport_unref(ta);
    wire_transport_unref(tb);
    rec_log_free(&a);
    rec_log_free(&b);
}
END_TEST

START_TEST(test_endpoint_kill_after)
{
    struct rec_log a = {0};
    struct cres ra = {0};
    struct wire_transport *t = connect_ok("exec:sleep 30?kill_after=100", &a, &ra);
    wire_transport_close(t);
    ck_assert(unit_run_until(loop, log_lost, &a, 10000));
    ck_assert_str_eq(a.lost_msg, "exec 'sleep': killed by signal 9 (SIGKILL): "
                     "it did not exit within 100 ms of close");
    wire_transport_unref(t);
    rec_log_free(&a);
}
END_TEST

struct bad_ep {
    const char *ep;
    const char *needle;
};

START_TEST(test_endpoint_errors)
{
    static const struct bad_ep bad[] = {
        {"exec:", "no program"},
        {"exec:   ", "no program"},
        {"exec:echo 'x", "unterminated '"},
        {"exec:ls | wc", "'|' at offset 3 is a shell operator"},
        {"exec:echo x?stderr=bogus", "stderr=bogus: expected inherit, null, "
                                     "capture or stdout"},
        {"exec:echo x?kill_after=0", "kill_after=0"},
        {"exec:echo x?kill_after=soon", "kill_after=soon"},
        {"exec:echo x?cwd=", "cwd= needs a directory"},
        {"exec:echo x?stderr=null&cwd=%zz", "bad %-escape"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rec_log log = {0};
        struct wire_protocol *p = rec_new(&log);
        struct cres r = {0};
        struct wire_error err = {0};
        int rc = wire_connect(loop, bad[i].ep, p, NULL, connect_cb, &r, &err);
        ck_assert_msg(rc == WIRE_EENDPOINT, "%s: %s", bad[i].ep, wire_err_name(rc));
        ck_assert_contains(err.message, bad[i].needle);
        ck_assert_contains(err.message, bad[i].ep);
        wire_error_clear(&err);
        wire_loop_run(loop);
        ck_assert_int_eq(r.calls, 0);
        ck_assert_int_eq(log.destroyed, 0);
        wire_protocol_destroy(p);
        rec_log_free(&log);
    }
    /* An unknown key after '?' is the command's: here it names a program
     * that does not exist, which the callback reports. */
    struct rec_log log = {0};
    struct cres r = {0};
    ck_assert_int_eq(wire_connect(loop, "exec:wire-no-such-prog?bogus=1",
                                  rec_new(&log), NULL, connect_cb, &r, NULL), 0);
    ck_assert_int_eq(r.calls, 0);
    ck_assert(unit_run_until(loop, log_destroyed, &log, 10000));
    wire_loop_run(loop);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.code, -ENOENT);
    ck_assert_str_eq(r.msg, "exec 'wire-no-such-prog?bogus=1': No such file or "
                     "directory (not found in PATH)");
    ck_assert_int_eq(log.made, 0);
    rec_log_free(&log);
}
END_TEST

Suite *
subprocess_suite(void)
{
    Suite *s = suite_create("subprocess");
    TCase *args = unit_tcase(s, "args");
    tcase_add_test(args, test_split_args_table);

    TCase *tc = unit_tcase(s, "core");
    tcase_add_checked_fixture(tc, sp_setup, sp_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_cat_round_trip);
    tcase_add_test(tc, test_argv_passed_verbatim);
    tcase_add_test(tc, test_exit_status_is_the_error);
    tcase_add_test(tc, test_exit_before_start);
    tcase_add_test(tc, test_signal_death);
    tcase_add_test(tc, test_subprocess_kill);
    tcase_add_test(tc, test_write_eof_closes_stdin);
    tcase_add_test(tc, test_sigpipe_after_close_is_clean);
    tcase_add_test(tc, test_child_signal_state_is_clean);

    TCase *se = unit_tcase(s, "stderr");
    tcase_add_checked_fixture(se, sp_setup, sp_teardown);
    tcase_set_timeout(se, 30);
    tcase_add_test(se, test_stderr_capture_in_error);
    tcase_add_test(se, test_stderr_capture_success_and_tail);
    tcase_add_test(se, test_stderr_modes);

    TCase *cl = unit_tcase(s, "close");
    tcase_add_checked_fixture(cl, sp_setup, sp_teardown);
    tcase_set_timeout(cl, 30);
    tcase_add_test(cl, test_close_kills_after_grace);
    tcase_add_test(cl, test_close_waits_for_exit);
    tcase_add_test(cl, test_abort_kills_at_once);
    tcase_add_test(cl, test_close_and_abort_from_callbacks);
    tcase_add_test(cl, test_stdin_closed_early_output_first);

    TCase *er = unit_tcase(s, "errors");
    tcase_add_checked_fixture(er, sp_setup, sp_teardown);
    tcase_set_timeout(er, 30);
    tcase_add_test(er, test_program_not_found);
    tcase_add_test(er, test_endpoint_errors);

    TCase *hy = unit_tcase(s, "hygiene");
    tcase_add_checked_fixture(hy, sp_setup, sp_teardown);
    tcase_set_timeout(hy, 30);
    tcase_add_test(hy, test_child_inherits_only_stdio);
    tcase_add_test(hy, test_no_fd_leaks_and_cloexec);
    tcase_add_test(hy, test_cwd_option);
    tcase_add_test(hy, test_envp_option);
    tcase_add_test(hy, test_loop_freed_with_children);

    TCase *ep = unit_tcase(s, "endpoint");
    tcase_add_checked_fixture(ep, sp_setup, sp_teardown);
    tcase_set_timeout(ep, 30);
    tcase_add_test(ep, test_endpoint_params_and_question_marks);
    tcase_add_test(ep, test_endpoint_kill_after);
    return s;
}
