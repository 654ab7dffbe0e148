/*
 * The file transport (<wire/file.h>): a protocol run against golden files.
 *
 * golden    an upper-casing echo run over a text file with chunks of 1, 7,
 *           64 KiB, sizes that do not divide the file and one larger than
 *           the loop's read buffer: every delivery's size checked, the
 *           output compared byte for byte with an expected file; the same
 *           with get_buffer protocols (buffers smaller and larger than the
 *           chunk); a line protocol (the lines layer) run with chunks of 1,
 *           2, 3 and 64 KiB giving the same messages and the same output;
 *           a file of a few MiB with the default chunk
 * sides     empty input, absent input, absent output, append, truncate
 * flow      pause_reading / pause stop between deliveries and resume at
 *           the next byte; write_eof closes the output (on disk, fd gone);
 *           abort drops what pause() queued, close writes it
 * reentrancy close / abort / write_eof from inside every callback
 * errors    missing input, unwritable output, directories, same file,
 *           bad chunk and parameters, a FIFO without a reader, a failed
 *           write: each with its exact code and text
 * fifo      a FIFO as input (a writer in the test, no EOF before it
 *           comes) and as output (EPIPE when its reader goes, no SIGPIPE)
 *
 * Every test works in a fresh temporary directory.  No test sleeps: the
 * loop runs until an event, and "nothing happens" is a few full turns.
 */
#include "unit.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct wire_loop *loop;
static char dir[PATH_MAX];

static void
file_setup(void)
{
    loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    char tmpl[] = "/tmp/wire-file-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    /* The real path, so /proc/self/fd links compare equal. */
    ck_assert_ptr_nonnull(realpath(tmpl, dir));
}

static void
remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    struct dirent *e;
    char sub[PATH_MAX + 256];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
            chmod(sub, 0700);
            remove_tree(sub);
        } else {
            unlink(sub);
        }
    }
    closedir(d);
    rmdir(path);
}

static void
file_teardown(void)
{
    wire_loop_run(loop);
    wire_loop_free(loop);
    loop = NULL;
    remove_tree(dir);
    ck_assert_int_eq(unit_live_protocols, 0);
}

static TCase *
file_tcase(Suite *s, const char *name)
{
    TCase *tc = unit_tcase(s, name);
    tcase_add_checked_fixture(tc, file_setup, file_teardown);
    tcase_set_timeout(tc, 120);
    return tc;
}

/* ---- helpers ---- */

/* `name` in the test's directory (one of a few rotating buffers). */
static const char *
tpath(const char *name)
{
    static char bufs[6][PATH_MAX + 64];
    static int next;
    char *b = bufs[next++ % 6];
    snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
    return b;
}

static void
put_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        ck_assert_int_gt(n, 0);
        p += n;
        len -= (size_t)n;
    }
    close(fd);
}

/* The whole file (NUL-terminated, malloc'd); NULL when it does not exist. */
static char *
get_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ck_assert_int_eq(errno, ENOENT);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    ck_assert_ptr_nonnull(b);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
            ck_assert_ptr_nonnull(b);
        }
        ssize_t r = read(fd, b + n, cap - n);
        ck_assert_int_ge(r, 0);
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    b[n] = '\0';
    if (len != NULL)
        *len = n;
    return b;
}

/* Assert the file at `path` holds exactly `len` bytes of `want`. */
static void
assert_file(const char *path, const void *want, size_t len)
{
    size_t n = 0;
    char *got = get_file(path, &n);
    ck_assert_msg(got != NULL, "%s does not exist", path);
    ck_assert_msg(n == len, "%s: %zu bytes, expected %zu", path, n, len);
    size_t i = 0;
    while (i < len && got[i] == ((const char *)want)[i])
        i++;
    ck_assert_msg(i == len, "%s differs at byte %zu", path, i);
    free(got);
}

/* Is any of our fds open on `path`? */
static bool
fd_open_on(const char *path)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    bool found = false;
    char link[PATH_MAX + 32], target[PATH_MAX + 1];
    while ((e = readdir(d)) != NULL && !found) {
        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            found = strcmp(target, path) == 0;
        }
    }
    closedir(d);
    return found;
}

/* A golden text: numbered lines, no '|' (so delivery marks are
 * unambiguous), `len` bytes. */
static char *
golden_text(size_t len)
{
    static const char *words[] = {"alpha", "bravo", "charlie", "delta",
                                  "echo", "foxtrot", "golf", "hotel"};
    char *t = malloc(len + 1);
    ck_assert_ptr_nonnull(t);
    size_t n = 0;
    unsigned line = 0;
    while (n < len) {
        char l[96];
        int k = snprintf(l, sizeof(l), "%05u %s %s, %s.\n", line,
                         words[line % 8], words[(line * 5 + 3) % 8],
                         words[(line * 3 + 1) % 8]);
        line++;
        for (int i = 0; i < k && n < len; i++)
            t[n++] = l[i];
    }
    t[len] = '\0';
    return t;
}

static char *
upper_of(const char *s, size_t len)
{
    char *u = malloc(len + 1);
    ck_assert_ptr_nonnull(u);
    for (size_t i = 0; i < len; i++)
        u[i] = (char)toupper((unsigned char)s[i]);
    u[len] = '\0';
    return u;
}

/* What rec_marks shows for `data` delivered in pieces cut at multiples of
 * `chunk`, each piece further cut at `buf` bytes (0: not cut). */
static char *
marks_for(const char *data, size_t len, size_t chunk, size_t buf)
{
    size_t cap = 2 * len + 16; /* every piece is at least one byte */
    char *m = malloc(cap);
    ck_assert_ptr_nonnull(m);
    size_t o = 0;
    for (size_t off = 0; off < len; off += chunk) {
        size_t end = off + chunk < len ? off + chunk : len;
        for (size_t p = off; p < end;) {
            size_t n = end - p;
            if (buf != 0 && n > buf)
                n = buf;
            memcpy(m + o, data + p, n);
            o += n;
            m[o++] = '|';
            p += n;
        }
    }
    m[o] = '\0';
    ck_assert_uint_lt(o, cap);
    return m;
}

static void
turn_fire(void *arg)
{
    *(volatile bool *)arg = true;
}

/* `n` full loop turns: a zero timer fires after the loop polled once
 * more, so whatever was ready has been delivered. */
static void
turns(int n)
{
    for (int i = 0; i < n; i++) {
        volatile bool hit = false;
        struct wire_timer *tm = wire_timer_new(loop, turn_fire, (void *)&hit);
        ck_assert_ptr_nonnull(tm);
        wire_timer_start(tm, 0, 0);
        while (!hit)
            ck_assert_int_ge(wire_loop_run_once(loop, true), 0);
        wire_timer_free(tm);
    }
}

/* on_data: write the bytes back upper-cased. */
static void
upper_echo(struct rec_log *log, struct wire_transport *t, const void *data,
           size_t len)
{
    (void)log;
    char *u = upper_of(data, len);
    ck_assert_int_eq(wire_transport_write(t, u, len), 0);
    free(u);
}

/* Open `in` -> `out` with `chunk` and run until the loss. */
static void
run_file(struct rec_log *log, const char *in, const char *out, size_t chunk)
{
    struct wire_file_options o = {.in = in, .out = out, .chunk = chunk};
    struct wire_error err = {0};
    int rc = wire_file_open(loop, &o, rec_new(log), NULL, &err);
    ck_assert_msg(rc == 0, "wire_file_open: %s", err.message);
    ck_assert_msg(unit_run_until(loop, log_lost, log, 60000), "never lost");
}

/* ---- golden runs ---- */

static const struct {
    size_t chunk, size, bufsize;
} golden_cases[] = {
    {1, 3001, 0},
    {7, 20000, 0},
    {65536, 200000, 0},        /* 64 KiB: the loop's read buffer */
    {5000, 123457, 0},         /* does not divide the file */
    {100000, 350001, 0},       /* larger than the read buffer: our own */
    {7, 20000, 4},             /* get_buffer smaller than the chunk */
    {7, 20000, 100},           /* get_buffer larger than the chunk */
    {1, 2000, 4},
    {100000, 350001, 30000},   /* both above... the buffer is smaller */
    {100000, 350001, 200000},  /* the protocol's buffer, larger */
};

START_TEST(test_golden)
{
    size_t chunk = golden_cases[_i].chunk, size = golden_cases[_i].size;
    size_t bufsize = golden_cases[_i].bufsize;
    char *text = golden_text(size);
    char *want = upper_of(text, size);
    put_file(tpath("in.txt"), text, size);
    put_file(tpath("expected.txt"), want, size);
    struct rec_log log = {.bufsize = bufsize};
    log.on_data = upper_echo;
    run_file(&log, tpath("in.txt"), tpath("out.txt"), chunk);
    char *marks = marks_for(text, size, chunk, bufsize);
    ck_assert_msg(strcmp(rec_marks(&log), marks) == 0,
                  "chunk %zu buf %zu: deliveries differ", chunk, bufsize);
    if (bufsize == 0) {
        ck_assert_int_eq(log.data_calls, (int)((size + chunk - 1) / chunk));
        ck_assert_int_eq(log.buffer_updated_calls, 0);
    } else {
        ck_assert_int_eq(log.data_calls, 0);
    }
    ck_assert_int_eq(log.eof, 1);
    ck_assert(log.lost_null);
    size_t elen = 0;
    char *expected = get_file(tpath("expected.txt"), &elen);
    assert_file(tpath("out.txt"), expected, elen);
    free(expected);
    free(marks);
    free(text);
    free(want);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_large_file_default_chunk)
{
    size_t size = 3 * 1024 * 1024 + 12345;
    char *text = golden_text(size);
    put_file(tpath("big.in"), text, size);
    struct rec_log log = {0};
    log.on_data = upper_echo;
    run_file(&log, tpath("big.in"), tpath("big.out"), 0);
    ck_assert_int_eq(log.data_calls, (int)((size + 65535) / 65536));
    char *marks = marks_for(text, size, WIRE_FILE_DEFAULT_CHUNK, 0);
    ck_assert(strcmp(rec_marks(&log), marks) == 0);
    char *want = upper_of(text, size);
    assert_file(tpath("big.out"), want, size);
    ck_assert(log.lost_null);
    free(marks);
    free(want);
    free(text);
    rec_log_free(&log);
}
END_TEST

/* The lines layer over the file transport: the messages and the output
 * do not depend on how the input is cut. */
static void
line_upper(struct rec_log *log, struct wire_transport *t, const void *data,
           size_t len)
{
    (void)log;
    char *u = upper_of(data, len);
    ck_assert_int_eq(wire_chunk_write(t, u, len), 0);
    free(u);
}

START_TEST(test_lines_any_chunk)
{
    static const char input[] = "alpha\nbeta\r\ngamma delta\n\n"
                                "a line with \"quotes\" and \ttabs\nlast\n";
    static const char want_out[] = "ALPHA\nBETA\nGAMMA DELTA\n\n"
                                   "A LINE WITH \"QUOTES\" AND \tTABS\nLAST\n";
    static const size_t chunks[] = {1, 2, 3, 65536};
    put_file(tpath("lines.in"), input, strlen(input));
    put_file(tpath("lines.expected"), want_out, strlen(want_out));
    size_t elen = 0;
    char *expected = get_file(tpath("lines.expected"), &elen);
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        struct rec_log log = {.messages = true};
        log.on_data = line_upper;
        struct wire_chunk_opts o;
        wire_lines_opts_init(&o, true, false);
        struct wire_error err = {0};
        struct wire_protocol *lines = wire_chunk_layer_new(rec_new(&log), &o, &err);
        ck_assert_msg(lines != NULL, "%s", err.message);
        char ep[PATH_MAX * 2 + 64];
        snprintf(ep, sizeof(ep), "file:%s?out=%s&chunk=%zu", tpath("lines.in"),
                 tpath("lines.out"), chunks[i]);
        ck_assert_int_eq(wire_connect(loop, ep, lines, NULL, NULL, NULL, &err), 0);
        ck_assert(unit_run_until(loop, log_lost, &log, 10000));
        ck_assert_str_eq(rec_escaped(&log),
                         "alpha|beta|gamma delta||"
                         "a line with \"quotes\" and \\x09tabs|last|");
        ck_assert_int_eq(log.eof, 1);
        ck_assert(log.lost_null);
        assert_file(tpath("lines.out"), expected, elen);
        rec_log_free(&log);
    }
    free(expected);
}
END_TEST

/* ---- sides ---- */

START_TEST(test_empty_input_file)
{
    put_file(tpath("empty"), "", 0);
    struct rec_log log = {0};
    log.on_data = upper_echo;
    run_file(&log, tpath("empty"), tpath("out"), 7);
    ck_assert_int_eq(log.made, 1);
    ck_assert_int_eq(log.data_calls, 0);
    ck_assert_int_eq(log.eof, 1);
    ck_assert(log.lost_null);
    assert_file(tpath("out"), "", 0); /* created, empty */
    rec_log_free(&log);
}
END_TEST

static void
absent_in_made(struct rec_log *log, struct wire_transport *t)
{
    ck_assert_int_eq(log->eof, 0);
    ck_assert_int_eq(wire_transport_write(t, "made,", 5), 0);
}

static void
absent_in_eof(struct rec_log *log, struct wire_transport *t)
{
    /* EOF came right after connection_made, with nothing before it; the
     * output is still writable (eof_keep). */
    ck_assert_int_eq(log->made, 1);
    ck_assert_int_eq(log->data_calls, 0);
    ck_assert_int_eq(wire_transport_write(t, "eof", 3), 0);
    wire_transport_close(t);
}

START_TEST(test_absent_input)
{
    struct rec_log log = {.eof_keep = true};
    log.on_made = absent_in_made;
    log.on_eof = absent_in_eof;
    char ep[PATH_MAX + 32];
    snprintf(ep, sizeof(ep), "file:?out=%s", tpath("out"));
    struct wire_error err = {0};
    ck_assert_int_eq(wire_connect(loop, ep, rec_new(&log), NULL, NULL, NULL, &err), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert_int_eq(log.eof, 1);
    ck_assert(log.lost_null);
    assert_file(tpath("out"), "made,eof", 8);
    rec_log_free(&log);
}
END_TEST

static void
absent_out_made(struct rec_log *log, struct wire_transport *t)
{
    log->user_n = wire_transport_write(t, "x", 1);
    ck_assert(!wire_transport_is_closing(t));
}

START_TEST(test_absent_output)
{
    put_file(tpath("in"), "some input", 10);
    struct rec_log log = {0};
    log.on_made = absent_out_made;
    run_file(&log, tpath("in"), NULL, 4);
    ck_assert_int_eq(log.user_n, WIRE_ECLOSED);
    ck_assert_str_eq(rec_marks(&log), "some| inp|ut|");
    ck_assert_int_eq(log.eof, 1);
    ck_assert(log.lost_null);
    rec_log_free(&log);
}
END_TEST

static void
write_new(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    ck_assert_int_eq(wire_transport_write(t, "NEW\n", 4), 0);
}

START_TEST(test_append_and_truncate)
{
    struct rec_log log = {0};
    log.on_made = write_new;
    put_file(tpath("out"), "old line\n", 9);
    char ep[PATH_MAX + 64];
    snprintf(ep, sizeof(ep), "file:?out=%s&append=yes", tpath("out"));
    ck_assert_int_eq(wire_connect(loop, ep, rec_new(&log), NULL, NULL, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    assert_file(tpath("out"), "old line\nNEW\n", 13);
    rec_log_free(&log);

    /* The same through the options, twice: appended again. */
    struct rec_log l2 = {0};
    l2.on_made = write_new;
    struct wire_file_options o = {.out = tpath("out"), .append = true};
    ck_assert_int_eq(wire_file_open(loop, &o, rec_new(&l2), NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_lost, &l2, 5000));
    assert_file(tpath("out"), "old line\nNEW\nNEW\n", 17);
    rec_log_free(&l2);

    /* Without append the old content goes. */
    struct rec_log l3 = {0};
    l3.on_made = write_new;
    o.append = false;
    ck_assert_int_eq(wire_file_open(loop, &o, rec_new(&l3), NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_lost, &l3, 5000));
    assert_file(tpath("out"), "NEW\n", 4);
    rec_log_free(&l3);

    /* A new file is created with 0666 less the umask. */
    struct rec_log l4 = {0};
    mode_t old = umask(022);
    o.out = tpath("fresh");
    ck_assert_int_eq(wire_file_open(loop, &o, rec_new(&l4), NULL, NULL), 0);
    umask(old);
    ck_assert(unit_run_until(loop, log_lost, &l4, 5000));
    struct stat st;
    ck_assert_int_eq(stat(tpath("fresh"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    rec_log_free(&l4);
}
END_TEST

struct info_seen {
    int peer_rc, local_rc, fd_rc;
    char peer[64], local[64];
};

static void
info_in_made(struct rec_log *log, struct wire_transport *t)
{
    struct info_seen *s = log->user;
    int fd;
    s->peer_rc = wire_transport_get_info(t, WIRE_INFO_PEER, s->peer, sizeof(s->peer));
    s->local_rc = wire_transport_get_info(t, WIRE_INFO_LOCAL, s->local, sizeof(s->local));
    s->fd_rc = wire_transport_get_info(t, WIRE_INFO_FD, &fd, sizeof(fd));
}

START_TEST(test_get_info)
{
    put_file(tpath("in"), "abc", 3);
    struct rec_log log = {.eof_keep = true};
    struct wire_file_options o = {.in = tpath("in"), .out = tpath("out")};
    struct wire_transport *t = NULL;
    ck_assert_int_eq(wire_file_open(loop, &o, rec_new(&log), &t, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &log, 5000));
    ck_assert_ptr_eq(t, log.t);
    char buf[PATH_MAX + 16], want[PATH_MAX + 16];
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_NAME, buf, sizeof(buf)), 4);
    ck_assert_str_eq(buf, "file");
    snprintf(want, sizeof(want), "file:%s", tpath("in"));
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_PEER, buf, sizeof(buf)),
                     (int)strlen(want));
    ck_assert_str_eq(buf, want);
    snprintf(want, sizeof(want), "file:%s", tpath("out"));
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_LOCAL, buf, sizeof(buf)),
                     (int)strlen(want));
    ck_assert_str_eq(buf, want);
    int fd = -1;
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_FD, &fd, sizeof(fd)),
                     (int)sizeof(int));
    struct stat a, b;
    ck_assert_int_eq(fstat(fd, &a), 0);
    ck_assert_int_eq(stat(tpath("in"), &b), 0);
    ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev); /* the input */
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_PEER_SOCKADDR, buf,
                                             sizeof(buf)), WIRE_ENOTSUP);
    ck_assert(wire_transport_can_write_eof(t));
    wire_transport_close(t);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    rec_log_free(&log);

    /* Absent sides answer "file:" (asked in connection_made: with
     * neither side the transport ends at the EOF that follows). */
    struct info_seen seen = {0};
    struct rec_log l2 = {.user = &seen};
    l2.on_made = info_in_made;
    struct wire_file_options none = {0};
    ck_assert_int_eq(wire_file_open(loop, &none, rec_new(&l2), NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_lost, &l2, 5000));
    ck_assert_int_eq(seen.peer_rc, 5);
    ck_assert_str_eq(seen.peer, "file:");
    ck_assert_int_eq(seen.local_rc, 5);
    ck_assert_str_eq(seen.local, "file:");
    ck_assert_int_eq(seen.fd_rc, WIRE_ECLOSED);
    ck_assert_int_eq(l2.eof, 1);
    ck_assert(l2.lost_null);
    rec_log_free(&l2);
}
END_TEST

/* ---- flow: pause, write_eof, abort ---- */

static void
pause_at_second(struct rec_log *log, struct wire_transport *t,
                const void *data, size_t len)
{
    (void)data;
    (void)len;
    if (log->data_calls == 2)
        ck_assert_int_eq(wire_transport_pause_reading(t), 0);
}

START_TEST(test_pause_resume_exact_offsets)
{
    put_file(tpath("in"), "0123456789abcdefghij", 20);
    struct rec_log log = {0};
    log.on_data = pause_at_second;
    struct wire_file_options o = {.in = tpath("in"), .chunk = 3};
    ck_assert_int_eq(wire_file_open(loop, &o, rec_new(&log), NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &log, 5000));
    turns(10);
    /* Paused inside the second delivery: nothing more, however long the
     * loop runs. */
    ck_assert_str_eq(rec_marks(&log), "012|345|");
    ck_assert(!wire_transport_is_reading(log.t));
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    /* One chunk per turn: pause again from outside after the next one. */
    while (log.data_calls < 3)
        ck_assert_int_ge(wire_loop_run_once(loop, true), 0);
    ck_assert_int_eq(wire_transport_pause_reading(log.t), 0);
    turns(10);
    ck_assert_str_eq(rec_marks(&log), "012|345|678|");
    /* The PEP pause holds reading too. */
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    ck_assert_int_eq(wire_transport_pause(log.t), 0);
    turns(10);
    ck_assert_str_eq(rec_marks(&log), "012|345|678|");
    ck_assert_int_eq(wire_transport_resume(log.t), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert_str_eq(rec_marks(&log), "012|345|678|9ab|cde|fgh|ij|");
    ck_assert_int_eq(log.eof, 1);
    rec_log_free(&log);
}
END_TEST

/* A get_buffer protocol whose buffer is smaller than the chunk, paused
 * in the middle of a chunk: the rest of that chunk comes first. */
static void
pause_at_first_piece(struct rec_log *log, struct wire_transport *t,
                     const void *data, size_t len)
{
    (void)data;
    (void)len;
    if (log->buffer_updated_calls == 1)
        ck_assert_int_eq(wire_transport_pause_reading(t), 0);
}

START_TEST(test_pause_inside_chunk_get_buffer)
{
    put_file(tpath("in"), "0123456789abcdefghij", 20);
    struct rec_log log = {.bufsize = 4};
    log.on_data = pause_at_first_piece;
    struct wire_file_options o = {.in = tpath("in"), .chunk = 7};
    ck_assert_int_eq(wire_file_open(loop, &o, rec_new(&log), NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &log, 5000));
    turns(10);
    ck_assert_str_eq(rec_marks(&log), "0123|");
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert_str_eq(rec_marks(&log), "0123|456|789a|bcd|efgh|ij|");
    rec_log_free(&log);
}
END_TEST

static void
write_then_eof(struct rec_log *log, struct wire_transport *t)
{
    const char *out = log->user;
    ck_assert_int_eq(wire_transport_write(t, "complete ", 9), 0);
    ck_assert_int_eq(wire_transport_write(t, "output", 6), 0);
    ck_assert(fd_open_on(out));
    ck_assert_int_eq(wire_transport_write_eof(t), 0);
    /* The output is closed and complete as write_eof returns. */
    ck_assert(!fd_open_on(out));
    assert_file(out, "complete output", 15);
    ck_assert_int_eq(wire_transport_write(t, "more", 4), WIRE_ECLOSED);
    ck_assert(!wire_transport_is_closing(t));
}

START_TEST(test_write_eof_closes_output)
{
    put_file(tpath("in"), "input goes on", 13);
    struct rec_log log = {0};
    log.on_made = write_then_eof;
    log.user = (void *)tpath("out");
    run_file(&log, tpath("in"), tpath("out"), 5);
    /* Half-closed: the input was still read to its end. */
    ck_assert_str_eq(rec_marks(&log), "input| goes| on|");
    ck_assert_int_eq(log.eof, 1);
    ck_assert(log.lost_null);
    assert_file(tpath("out"), "complete output", 15);
    rec_log_free(&log);
}
END_TEST

/* Writes to a regular file go through at once; they queue only while the
 * transport is held by wire_transport_pause(). */
static void
queue_then(struct rec_log *log, struct wire_transport *t)
{
    ck_assert_int_eq(wire_transport_write(t, "written ", 8), 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(t), 0);
    ck_assert_int_eq(wire_transport_pause(t), 0);
    ck_assert_int_eq(wire_transport_write(t, "queued", 6), 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(t), 6);
    if (log->user_n == 1)
        wire_transport_abort(t);
    else if (log->user_n == 2)
        wire_transport_close(t);
    else
        ck_assert_int_eq(wire_transport_write_eof(t), 0);
}

START_TEST(test_abort_drops_queued_output)
{
    struct rec_log log = {.user_n = 1};
    log.on_made = queue_then;
    run_file(&log, NULL, tpath("out"), 0);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    /* What went through stays (a file cannot be unwritten); the queue
     * was dropped. */
    assert_file(tpath("out"), "written ", 8);
    ck_assert(!fd_open_on(tpath("out")));
    rec_log_free(&log);
}
END_TEST

START_TEST(test_close_writes_queued_output)
{
    struct rec_log log = {.user_n = 2};
    log.on_made = queue_then;
    run_file(&log, NULL, tpath("out"), 0);
    ck_assert(log.lost_null);
    assert_file(tpath("out"), "written queued", 14);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_write_eof_waits_for_resume)
{
    struct rec_log log = {.user_n = 3, .eof_keep = true};
    log.on_made = queue_then;
    struct wire_file_options o = {.out = tpath("out")};
    ck_assert_int_eq(wire_file_open(loop, &o, rec_new(&log), NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &log, 5000));
    turns(3);
    /* Held by the pause: the output is still open and incomplete. */
    ck_assert(fd_open_on(tpath("out")));
    assert_file(tpath("out"), "written ", 8);
    ck_assert_int_eq(wire_transport_resume(log.t), 0);
    ck_assert(!fd_open_on(tpath("out")));
    assert_file(tpath("out"), "written queued", 14);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert(log.lost_null);
    rec_log_free(&log);
}
END_TEST

/* An endless input (/dev/zero) is read one chunk per loop iteration: the
 * loop still polls and runs timers meanwhile, and close stops it. */
static void
timer_hit(void *arg)
{
    *(volatile bool *)arg = true;
}

START_TEST(test_endless_input_keeps_loop_responsive)
{
    if (access("/dev/zero", R_OK) != 0) {
        fprintf(stderr, "check_file: no /dev/zero: the endless input case "
                        "checks nothing\n");
        return;
    }
    struct rec_log log = {0};
    struct wire_file_options o = {.in = "/dev/zero", .chunk = 512};
    ck_assert_int_eq(wire_file_open(loop, &o, rec_new(&log), NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &log, 5000));
    volatile bool hit = false;
    struct wire_timer *tm = wire_timer_new(loop, timer_hit, (void *)&hit);
    ck_assert_ptr_nonnull(tm);
    wire_timer_start(tm, 5, 0);
    /* Each iteration delivers at most one chunk. */
    while (!hit) {
        int before = log.data_calls;
        ck_assert_int_ge(wire_loop_run_once(loop, true), 0);
        ck_assert_int_le(log.data_calls - before, 1);
    }
    wire_timer_free(tm);
    ck_assert_int_gt(log.data_calls, 0);
    ck_assert_uint_eq(log.in_len, (size_t)log.data_calls * 512);
    wire_transport_close(log.t);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert(log.lost_null);
    ck_assert_int_eq(log.eof, 0);
    rec_log_free(&log);
}
END_TEST

/* ---- close / abort / write_eof from inside every callback ---- */

enum { IN_MADE, IN_DATA, IN_EOF, NWHERE };
enum { DO_CLOSE, DO_ABORT, DO_WRITE_EOF, NWHAT };

static void
act(struct rec_log *log, struct wire_transport *t)
{
    ck_assert_int_eq(wire_transport_write(t, "w", 1), 0);
    switch (log->user_n % NWHAT) {
    case DO_CLOSE:
        wire_transport_close(t);
        break;
    case DO_ABORT:
        wire_transport_abort(t);
        break;
    default:
        ck_assert_int_eq(wire_transport_write_eof(t), 0);
        break;
    }
    /* Nothing is delivered inside the call. */
    ck_assert_int_eq(log->lost, 0);
}

static void
act_made(struct rec_log *log, struct wire_transport *t)
{
    if (log->user_n / NWHAT == IN_MADE)
        act(log, t);
}

static void
act_data(struct rec_log *log, struct wire_transport *t, const void *d,
         size_t n)
{
    (void)d;
    (void)n;
    if (log->user_n / NWHAT == IN_DATA && log->data_calls == 1)
        act(log, t);
}

static void
act_eof(struct rec_log *log, struct wire_transport *t)
{
    if (log->user_n / NWHAT == IN_EOF)
        act(log, t);
}

START_TEST(test_reentrancy)
{
    int where = _i / NWHAT, what = _i % NWHAT;
    put_file(tpath("in"), "abcdef", 6);
    struct rec_log log = {.user_n = _i, .eof_keep = true};
    log.on_made = act_made;
    log.on_data = act_data;
    log.on_eof = act_eof;
    struct wire_file_options o = {.in = tpath("in"), .out = tpath("out"), .chunk = 2};
    ck_assert_int_eq(wire_file_open(loop, &o, rec_new(&log), NULL, NULL), 0);
    if (what == DO_WRITE_EOF) {
        /* Half-closed: the input runs to its end, then (eof_keep) the
         * transport is done, as both directions are. */
        ck_assert(unit_run_until(loop, log_lost, &log, 5000));
        ck_assert_str_eq(rec_in(&log), "abcdef");
        ck_assert(log.lost_null);
    } else {
        ck_assert(unit_run_until(loop, log_lost, &log, 5000));
        const char *want = where == IN_MADE ? "" : where == IN_DATA ? "ab" : "abcdef";
        ck_assert_str_eq(rec_in(&log), want);
        if (what == DO_ABORT)
            ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
        else
            ck_assert(log.lost_null);
    }
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.eof, where == IN_EOF || what == DO_WRITE_EOF ? 1 : 0);
    turns(2);
    ck_assert_int_eq(log.destroyed, 1);
    /* The "w" written before went through in every case. */
    assert_file(tpath("out"), "w", 1);
    rec_log_free(&log);
}
END_TEST

/* ---- errors ---- */

static void
open_fails(const struct wire_file_options *o, int code, const char *msg)
{
    struct rec_log log = {0};
    struct wire_protocol *p = rec_new(&log);
    struct wire_error err = {0};
    struct wire_transport *t = (struct wire_transport *)&log;
    int rc = wire_file_open(loop, o, p, &t, &err);
    ck_assert_msg(rc == code, "rc %s, expected %s (%s)", wire_err_name(rc),
                  wire_err_name(code), err.message);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.message, msg);
    ck_assert_ptr_eq(t, (struct wire_transport *)&log); /* untouched */
    wire_error_clear(&err);
    turns(2);
    ck_assert_int_eq(log.made, 0);
    ck_assert_int_eq(log.destroyed, 0); /* still ours */
    wire_protocol_destroy(p);
    rec_log_free(&log);
}

struct cres {
    int calls, code;
    bool had_t;
    char msg[PATH_MAX * 4];
    volatile bool done;
};

static void
connect_cb(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct cres *r = arg;
    r->calls++;
    r->had_t = t != NULL;
    r->code = err != NULL ? err->code : 0;
    snprintf(r->msg, sizeof(r->msg), "%s", err != NULL ? err->message : "");
    r->done = true;
}

static bool
cres_done(void *arg)
{
    return ((struct cres *)arg)->done;
}

/* wire_connect(ep) must start and then report `code` / `msg`. */
static void
connect_fails(const char *ep, int code, const char *msg)
{
    struct rec_log log = {0};
    struct cres r = {0};
    struct wire_error err = {0};
    int rc = wire_connect(loop, ep, rec_new(&log), NULL, connect_cb, &r, &err);
    ck_assert_msg(rc == 0, "wire_connect(%s): %s", ep, err.message);
    ck_assert_int_eq(r.calls, 0); /* never inside wire_connect */
    ck_assert(unit_run_until(loop, cres_done, &r, 5000));
    turns(2);
    ck_assert_int_eq(r.calls, 1);
    ck_assert(!r.had_t);
    ck_assert_msg(r.code == code, "%s: %s, expected %s", ep,
                  wire_err_name(r.code), wire_err_name(code));
    ck_assert_str_eq(r.msg, msg);
    ck_assert_int_eq(log.made, 0);
    ck_assert_int_eq(log.destroyed, 1);
    rec_log_free(&log);
}

/* wire_connect(ep) must refuse at once with WIRE_EENDPOINT and `msg`. */
static void
endpoint_refused(const char *ep, const char *msg)
{
    struct rec_log log = {0};
    struct cres r = {0};
    struct wire_protocol *p = rec_new(&log);
    struct wire_error err = {0};
    int rc = wire_connect(loop, ep, p, NULL, connect_cb, &r, &err);
    ck_assert_msg(rc == WIRE_EENDPOINT, "%s: %s", ep, wire_err_name(rc));
    ck_assert_str_eq(err.message, msg);
    wire_error_clear(&err);
    turns(2);
    ck_assert_int_eq(r.calls, 0);
    ck_assert_int_eq(log.destroyed, 0);
    wire_protocol_destroy(p);
    rec_log_free(&log);
}

START_TEST(test_missing_input)
{
    char msg[PATH_MAX * 4], ep[PATH_MAX * 2];
    struct wire_file_options o = {.in = tpath("nope"), .out = tpath("out")};
    snprintf(msg, sizeof(msg), "file:%s?out=%s: cannot open input '%s': No "
             "such file or directory", tpath("nope"), tpath("out"), tpath("nope"));
    open_fails(&o, -ENOENT, msg);
    /* The input is opened first: the output was not created. */
    ck_assert_ptr_null(get_file(tpath("out"), NULL));

    o.out = NULL;
    snprintf(msg, sizeof(msg), "file:%s: cannot open input '%s': No such "
             "file or directory", tpath("nope"), tpath("nope"));
    open_fails(&o, -ENOENT, msg);

    snprintf(ep, sizeof(ep), "file:%s", tpath("nope"));
    connect_fails(ep, -ENOENT, msg);
    snprintf(ep, sizeof(ep), "file:%s?out=%s&chunk=1", tpath("nope"),
             tpath("out"));
    snprintf(msg, sizeof(msg), "%s: cannot open input '%s': No such file or "
             "directory", ep, tpath("nope"));
    connect_fails(ep, -ENOENT, msg);
    ck_assert_ptr_null(get_file(tpath("out"), NULL));
}
END_TEST

START_TEST(test_unwritable_output)
{
    char msg[PATH_MAX * 4], ep[PATH_MAX * 2];
    put_file(tpath("in"), "x", 1);
    const char *out = tpath("no-such-dir/out");
    snprintf(ep, sizeof(ep), "file:%s?out=%s", tpath("in"), out);
    snprintf(msg, sizeof(msg), "%s: cannot open output '%s': No such file or "
             "directory", ep, out);
    connect_fails(ep, -ENOENT, msg);
    struct wire_file_options o = {.in = tpath("in"), .out = out};
    open_fails(&o, -ENOENT, msg);

    /* A file where a directory should be. */
    out = tpath("in/out");
    snprintf(ep, sizeof(ep), "file:%s?out=%s", tpath("in"), out);
    snprintf(msg, sizeof(msg), "%s: cannot open output '%s': Not a directory",
             ep, out);
    connect_fails(ep, -ENOTDIR, msg);

    /* A directory without write permission.  Root writes anyway, except
     * in sysfs, which takes no new files from anybody. */
    if (geteuid() != 0) {
        ck_assert_int_eq(mkdir(tpath("ro"), 0500), 0);
        out = tpath("ro/out");
        snprintf(ep, sizeof(ep), "file:?out=%s", out);
        snprintf(msg, sizeof(msg), "%s: cannot open output '%s': Permission "
                 "denied", ep, out);
        connect_fails(ep, -EACCES, msg);
    } else {
        /* What the kernel answers here (EACCES; EROFS where /sys is
         * mounted read-only), for a name next to the one used. */
        int probe = open("/sys/wire-file-probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        int e = errno;
        if (probe >= 0) {
            close(probe);
            unlink("/sys/wire-file-probe");
            fprintf(stderr, "check_file: /sys takes new files here: the "
                            "unwritable directory case checks nothing\n");
            return;
        }
        out = "/sys/wire-file-test-out";
        snprintf(ep, sizeof(ep), "file:?out=%s", out);
        snprintf(msg, sizeof(msg), "%s: cannot open output '%s': %s", ep, out,
                 strerror(e));
        connect_fails(ep, -e, msg);
    }
}
END_TEST

START_TEST(test_directory_either_side)
{
    char msg[PATH_MAX * 4], ep[PATH_MAX * 2];
    snprintf(ep, sizeof(ep), "file:%s", dir);
    snprintf(msg, sizeof(msg), "%s: cannot open input '%s': Is a directory",
             ep, dir);
    connect_fails(ep, -EISDIR, msg);
    struct wire_file_options o = {.in = dir};
    open_fails(&o, -EISDIR, msg);

    snprintf(ep, sizeof(ep), "file:?out=%s", dir);
    snprintf(msg, sizeof(msg), "%s: cannot open output '%s': Is a directory",
             ep, dir);
    connect_fails(ep, -EISDIR, msg);
}
END_TEST

START_TEST(test_same_file_refused)
{
    char msg[PATH_MAX * 4], ep[PATH_MAX * 2];
    put_file(tpath("both"), "precious", 8);
    snprintf(ep, sizeof(ep), "file:%s?out=%s", tpath("both"), tpath("both"));
    snprintf(msg, sizeof(msg), "%s: input '%s' and output '%s' are the same "
             "file", ep, tpath("both"), tpath("both"));
    connect_fails(ep, WIRE_EINVAL, msg);
    assert_file(tpath("both"), "precious", 8); /* not truncated */
}
END_TEST

START_TEST(test_bad_parameters)
{
    char ep[PATH_MAX * 2];
    put_file(tpath("in"), "x", 1);
    snprintf(ep, sizeof(ep), "file:%s?chunk=0", tpath("in"));
    endpoint_refused(ep, "endpoint parameter chunk=0: expected a number from "
                         "1 to 16777216");
    snprintf(ep, sizeof(ep), "file:%s?chunk=16777217", tpath("in"));
    endpoint_refused(ep, "endpoint parameter chunk=16777217: expected a "
                         "number from 1 to 16777216");
    snprintf(ep, sizeof(ep), "file:%s?chunk=-1", tpath("in"));
    endpoint_refused(ep, "endpoint parameter chunk=-1: expected a number from "
                         "1 to 16777216");
    snprintf(ep, sizeof(ep), "file:%s?append=maybe", tpath("in"));
    endpoint_refused(ep, "endpoint parameter append=maybe: expected yes or no");
    snprintf(ep, sizeof(ep), "file:%s?output=%s", tpath("in"), tpath("o"));
    endpoint_refused(ep, "unknown parameter 'output' for file: endpoints "
                         "(known: out, chunk, append, timeout)");
    ck_assert_ptr_null(get_file(tpath("o"), NULL));

    /* The largest chunk is accepted. */
    struct rec_log log = {0};
    snprintf(ep, sizeof(ep), "file:%s?chunk=16777216", tpath("in"));
    ck_assert_int_eq(wire_connect(loop, ep, rec_new(&log), NULL, NULL, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert_str_eq(rec_marks(&log), "x|");
    rec_log_free(&log);

    /* The options: chunk above the maximum, missing arguments. */
    struct wire_file_options o = {.in = tpath("in"),
                                  .chunk = WIRE_FILE_MAX_CHUNK + 1};
    open_fails(&o, WIRE_EINVAL,
               "wire_file_open: chunk 16777217 is above the maximum (16777216)");
    struct wire_error err = {0};
    ck_assert_int_eq(wire_file_open(loop, NULL, NULL, NULL, &err), WIRE_EINVAL);
    ck_assert_str_eq(err.message, "wire_file_open: a loop, options and a "
                                  "protocol are required");
    wire_error_clear(&err);
}
END_TEST

START_TEST(test_output_fifo_without_reader)
{
    char msg[PATH_MAX * 4], ep[PATH_MAX * 2];
    ck_assert_int_eq(mkfifo(tpath("fifo"), 0600), 0);
    snprintf(ep, sizeof(ep), "file:?out=%s", tpath("fifo"));
    snprintf(msg, sizeof(msg), "%s: cannot open output '%s': No such device "
             "or address (a FIFO nobody reads)", ep, tpath("fifo"));
    connect_fails(ep, -ENXIO, msg);
}
END_TEST

static void
write_to_full(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    /* Accepted: the failure goes to connection_lost. */
    ck_assert_int_eq(wire_transport_write(t, "no room", 7), 0);
}

START_TEST(test_write_error_names_the_file)
{
    if (access("/dev/full", W_OK) != 0) {
        fprintf(stderr, "check_file: no /dev/full: the write error case "
                        "checks nothing\n");
        return;
    }
    struct rec_log log = {.eof_keep = true};
    log.on_made = write_to_full;
    struct wire_error err = {0};
    ck_assert_int_eq(wire_connect(loop, "file:?out=/dev/full", rec_new(&log),
                                  NULL, NULL, NULL, &err), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert_int_eq(log.lost_code, -ENOSPC);
    ck_assert_str_eq(log.lost_msg, "file:?out=/dev/full: cannot write output "
                                   "'/dev/full': No space left on device");
    rec_log_free(&log);
}
END_TEST

/* ---- FIFOs ---- */

static void
wait_bytes(struct rec_log *log, size_t n)
{
    while (log->in_len < n && !log->lost_flag)
        ck_assert_int_ge(wire_loop_run_once(loop, true), 0);
    ck_assert_uint_eq(log->in_len, n);
}

START_TEST(test_fifo_input)
{
    ck_assert_int_eq(mkfifo(tpath("fifo"), 0600), 0);
    struct rec_log log = {0};
    log.on_data = upper_echo;
    struct wire_file_options o = {.in = tpath("fifo"), .out = tpath("out"),
                                  .chunk = 4};
    /* Opening the input does not wait for a writer. */
    ck_assert_int_eq(wire_file_open(loop, &o, rec_new(&log), NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &log, 5000));
    turns(5);
    /* No writer yet is not EOF. */
    ck_assert_int_eq(log.eof, 0);
    ck_assert_int_eq(log.data_calls, 0);
    int w = open(tpath("fifo"), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    ck_assert_int_ge(w, 0);
    ck_assert_int_eq(write(w, "hello ", 6), 6);
    wait_bytes(&log, 6);
    /* Read as it arrives, at most `chunk` bytes at a time. */
    ck_assert_str_eq(rec_marks(&log), "hell|o |");
    ck_assert_int_eq(write(w, "fifo", 4), 4);
    wait_bytes(&log, 10);
    ck_assert_int_eq(log.eof, 0);
    close(w);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    ck_assert_str_eq(rec_in(&log), "hello fifo");
    ck_assert_int_eq(log.eof, 1);
    ck_assert(log.lost_null);
    assert_file(tpath("out"), "HELLO FIFO", 10);
    rec_log_free(&log);
}
END_TEST

static void
write_fifo_made(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    ck_assert_int_eq(wire_transport_write(t, "to the reader", 13), 0);
}

START_TEST(test_fifo_output_reader_goes)
{
    ck_assert_int_eq(mkfifo(tpath("fifo"), 0600), 0);
    int r = open(tpath("fifo"), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ck_assert_int_ge(r, 0);
    struct rec_log log = {.eof_keep = true};
    log.on_made = write_fifo_made;
    struct wire_file_options o = {.out = tpath("fifo")};
    ck_assert_int_eq(wire_file_open(loop, &o, rec_new(&log), NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_eof, &log, 5000));
    char buf[32] = {0};
    ck_assert_int_eq(read(r, buf, sizeof(buf)), 13);
    ck_assert_str_eq(buf, "to the reader");
    close(r);
    /* The reader is gone: the next write fails the connection with EPIPE
     * (SIGPIPE kills this process if it is ever raised). */
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    ck_assert_int_eq(wire_transport_write(log.t, "lost", 4), 0);
    ck_assert(unit_run_until(loop, log_lost, &log, 5000));
    signal(SIGPIPE, old);
    ck_assert_int_eq(log.lost_code, -EPIPE);
    char want[PATH_MAX * 2];
    snprintf(want, sizeof(want), "file:?out=%s: cannot write output '%s': %s",
             tpath("fifo"), tpath("fifo"), wire_strerror(-EPIPE));
    ck_assert_str_eq(log.lost_msg, want);
    rec_log_free(&log);
}
END_TEST

Suite *
file_suite(void)
{
    Suite *s = suite_create("file");
    TCase *tc = file_tcase(s, "golden");
    tcase_add_loop_test(tc, test_golden, 0,
                        (int)(sizeof(golden_cases) / sizeof(golden_cases[0])));
    tcase_add_test(tc, test_large_file_default_chunk);
    tcase_add_test(tc, test_lines_any_chunk);

    tc = file_tcase(s, "sides");
    tcase_add_test(tc, test_empty_input_file);
    tcase_add_test(tc, test_absent_input);
    tcase_add_test(tc, test_absent_output);
    tcase_add_test(tc, test_append_and_truncate);
    tcase_add_test(tc, test_get_info);

    tc = file_tcase(s, "flow");
    tcase_add_test(tc, test_pause_resume_exact_offsets);
    tcase_add_test(tc, test_pause_inside_chunk_get_buffer);
    tcase_add_test(tc, test_write_eof_closes_output);
    tcase_add_test(tc, test_abort_drops_queued_output);
    tcase_add_test(tc, test_close_writes_queued_output);
    tcase_add_test(tc, test_write_eof_waits_for_resume);
    tcase_add_test(tc, test_endless_input_keeps_loop_responsive);

    tc = file_tcase(s, "reentrancy");
    tcase_add_loop_test(tc, test_reentrancy, 0, NWHERE * NWHAT);

    tc = file_tcase(s, "errors");
    tcase_add_test(tc, test_missing_input);
    tcase_add_test(tc, test_unwritable_output);
    tcase_add_test(tc, test_directory_either_side);
    tcase_add_test(tc, test_same_file_refused);
    tcase_add_test(tc, test_bad_parameters);
    tcase_add_test(tc, test_output_fifo_without_reader);
    tcase_add_test(tc, test_write_error_names_the_file);

    tc = file_tcase(s, "fifo");
    tcase_add_test(tc, test_fifo_input);
    tcase_add_test(tc, test_fifo_output_reader_goes);
    return s;
}
