/*
 * Record and replay (<wire/record.h>).
 *
 * format    the writer and the reader round-trip every kind, binary bytes,
 *           empty chunks, a chunk over the record limit (split in two);
 *           the writer refuses records that break the rules and goes on;
 *           a failed write (a pipe without reader, /dev/full) stops it
 * bad       wrong magic, another version, a header or record cut short,
 *           an oversized length, an unknown kind, non-zero reserved
 *           bytes, broken rules: WIRE_EPROTO naming the offset, from the
 *           reader and from wire_replay_start (whose protocol stays the
 *           caller's); a missing file is -ENOENT; a recording cut at any
 *           byte reads up to its last whole record
 * layer     transparent over the memory pair (bytes, write_sequence,
 *           write_ref, EOF, close, get_info), flow control through it,
 *           abort, over the string transport, a recording that cannot be
 *           written (the connection goes on, the error is reported),
 *           open errors, a layer that never started
 * replay    exact chunk boundaries one per loop turn, EOF and END (clean
 *           or with the recorded error), the peer's side (EOF from CLOSE,
 *           a reset from ABORT), pause_reading, close/abort/write after
 *           them, verification (a difference, too much, too little, a
 *           write_eof early or unrecorded), the recorded timing scaled
 *           (lower bounds only: a gap is never shorter than recorded)
 * http      an HTTP client talks to the HTTP server over the memory pair
 *           with the record layer under the client; the recording then
 *           drives a fresh client (same response, same body pieces, its
 *           request verified), a fresh server from the other side (same
 *           request seen, its response verified), and a client whose
 *           request differs (WIRE_EPROTO naming the byte)
 *
 * Every test works in a fresh temporary directory.  No test sleeps: the
 * loop runs until an event, and "nothing happens" is a few turns.
 */
#include "http_util.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 5000

static struct wire_loop *loop;
static char dir[PATH_MAX];

static void
rec_setup(void)
{
    loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    char tmpl[] = "/tmp/wire-record-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    snprintf(dir, sizeof(dir), "%s", tmpl);
}

static void
rec_teardown(void)
{
    wire_loop_run(loop);
    wire_loop_free(loop);
    loop = NULL;
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char sub[PATH_MAX + 256];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
            unlink(sub);
        }
        closedir(d);
    }
    rmdir(dir);
    ck_assert_int_eq(unit_live_protocols, 0);
}

static TCase *
rec_tcase(Suite *s, const char *name)
{
    TCase *tc = unit_tcase(s, name);
    tcase_add_checked_fixture(tc, rec_setup, rec_teardown);
    tcase_set_timeout(tc, 60);
    return tc;
}

/* ---- helpers ---- */

/* `name` in the test's directory (rotating buffers). */
static const char *
tpath(const char *name)
{
    static char bufs[4][PATH_MAX + 64];
    static int i;
    char *b = bufs[i++ % 4];
    snprintf(b, PATH_MAX + 64, "%s/%s", dir, name);
    return b;
}

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct wire_record_writer *
writer(const char *path)
{
    struct wire_record_writer *w = NULL;
    struct wire_error err = {0};
    ck_assert_msg(wire_record_writer_open(path, &w, &err) == 0, "%s",
                  err.message ? err.message : "?");
    return w;
}

static void
add(struct wire_record_writer *w, int kind, uint64_t ms, const char *data,
    int code)
{
    struct wire_record r = {.kind = kind, .time_us = ms * 1000, .data = data,
                            .len = data != NULL ? strlen(data) : 0, .code = code};
    struct wire_error err = {0};
    ck_assert_msg(wire_record_writer_add(w, &r, &err) == 0, "%s",
                  err.message ? err.message : "?");
}

static void
done_writing(struct wire_record_writer *w)
{
    ck_assert_int_eq(wire_record_writer_close(w, NULL), 0);
}

/* A recording as text: "IN ab|OUT \x00|IN_EOF|END -104 msg|" (bytes
 * escaped as unit_append_escaped does; INFO records only when asked). */
static char *
describe(const char *path, bool info)
{
    struct wire_record_reader *r = NULL;
    struct wire_error err = {0};
    ck_assert_msg(wire_record_reader_open(path, &r, &err) == 0, "%s",
                  err.message ? err.message : "?");
    char *s = NULL;
    size_t len = 0, cap = 0;
    unit_append(&s, &len, &cap, "", 0);
    struct wire_record rec;
    int rc;
    while ((rc = wire_record_reader_next(r, &rec, &err)) == 1) {
        const char *k = wire_record_kind_name(rec.kind);
        char tmp[64];
        if (rec.kind == WIRE_RECORD_INFO && !info)
            continue;
        unit_append(&s, &len, &cap, k, strlen(k));
        if (rec.kind == WIRE_RECORD_IN || rec.kind == WIRE_RECORD_OUT) {
            unit_append(&s, &len, &cap, " ", 1);
            unit_append_escaped(&s, &len, &cap, rec.data, rec.len);
        } else if (rec.kind == WIRE_RECORD_END || rec.kind == WIRE_RECORD_INFO) {
            snprintf(tmp, sizeof(tmp), " %d ", rec.code);
            unit_append(&s, &len, &cap, tmp, strlen(tmp));
            unit_append_escaped(&s, &len, &cap, rec.data, rec.len);
        } else {
            unit_append(&s, &len, &cap, "|", 1);
        }
    }
    ck_assert_msg(rc == 0, "%s", err.message ? err.message : "?");
    wire_record_reader_free(r);
    return s;
}

/* The IN (or OUT) chunks of a recording, each followed by '|'. */
static char *
chunks_of(const char *path, int kind)
{
    struct wire_record_reader *r = NULL;
    ck_assert_int_eq(wire_record_reader_open(path, &r, NULL), 0);
    char *s = NULL;
    size_t len = 0, cap = 0;
    unit_append(&s, &len, &cap, "", 0);
    struct wire_record rec;
    while (wire_record_reader_next(r, &rec, NULL) == 1) {
        if (rec.kind != kind)
            continue;
        unit_append(&s, &len, &cap, rec.data, rec.len);
        unit_append(&s, &len, &cap, "|", 1);
    }
    wire_record_reader_free(r);
    return s;
}

static void
write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* on_done of a recording or a replay. */
struct done {
    int calls;
    int code;
    char msg[1024];
    volatile bool flag;
};

static void
on_done(void *arg, const struct wire_error *err)
{
    struct done *d = arg;
    d->calls++;
    ck_assert_int_eq(d->calls, 1);
    d->code = err != NULL ? err->code : 0;
    if (err != NULL)
        snprintf(d->msg, sizeof(d->msg), "%s", err->message);
    d->flag = true;
}

static bool
done_flag(void *arg)
{
    return ((struct done *)arg)->flag;
}

static void
run_until(bool (*pred)(void *), void *arg)
{
    ck_assert(unit_run_until(loop, pred, arg, DEADLINE_MS));
}

/* Replay `path` to `p` (a rec protocol usually). */
static struct wire_transport *
replay(const char *path, struct wire_protocol *p, enum wire_replay_side side,
       double scale, bool verify, struct done *d)
{
    struct wire_replay_opts o = {.side = side, .time_scale = scale,
                                 .verify = verify, .on_done = on_done, .arg = d};
    struct wire_transport *t = NULL;
    struct wire_error err = {0};
    ck_assert_msg(wire_replay_start(loop, path, p, &o, &t, &err) == 0, "%s",
                  err.message ? err.message : "?");
    ck_assert_ptr_nonnull(t);
    return t;
}

/* ---- format ---- */

START_TEST(test_round_trip)
{
    const char *path = tpath("rt.rec");
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint64_t before = (uint64_t)tv.tv_sec * 1000000u - 1000000u;
    struct wire_record_writer *w = writer(path);
    struct wire_record recs[] = {
        {.kind = WIRE_RECORD_INFO, .time_us = 0, .data = "tcp://1.2.3.4:5", .len = 15,
         .code = WIRE_INFO_PEER},
        {.kind = WIRE_RECORD_IN, .time_us = 1, .data = "ab", .len = 2},
        {.kind = WIRE_RECORD_OUT, .time_us = 1, .data = all, .len = 256},
        {.kind = WIRE_RECORD_IN, .time_us = 7, .data = NULL, .len = 0},
        {.kind = WIRE_RECORD_OUT, .time_us = 8, .data = "", .len = 0},
        {.kind = WIRE_RECORD_IN_EOF, .time_us = 9},
        {.kind = WIRE_RECORD_OUT_EOF, .time_us = 10},
        {.kind = WIRE_RECORD_CLOSE, .time_us = 5000000000ull},
        {.kind = WIRE_RECORD_END, .time_us = 5000000001ull, .data = "reset by peer",
         .len = 13, .code = -ECONNRESET},
    };
    size_t n = sizeof(recs) / sizeof(recs[0]);
    uint64_t off = WIRE_RECORD_HEADER_SIZE;
    ck_assert_uint_eq(wire_record_writer_offset(w), off);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(wire_record_writer_add(w, &recs[i], NULL), 0);
        recs[i].offset = off;
        off += WIRE_RECORD_HEAD_SIZE + recs[i].len +
               (recs[i].kind == WIRE_RECORD_END || recs[i].kind == WIRE_RECORD_INFO
                    ? 4
                    : 0);
        ck_assert_uint_eq(wire_record_writer_offset(w), off);
    }
    done_writing(w);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, off);

    /* The same through both readers: from the file, and from memory. */
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    char *mem = malloc((size_t)st.st_size);
    ck_assert_ptr_nonnull(mem);
    ck_assert_int_eq(read(fd, mem, (size_t)st.st_size), st.st_size);
    close(fd);
    for (int pass = 0; pass < 2; pass++) {
        struct wire_record_reader *r = NULL;
        if (pass == 0)
            ck_assert_int_eq(wire_record_reader_open(path, &r, NULL), 0);
        else
            ck_assert_int_eq(wire_record_reader_new(mem, (size_t)st.st_size, &r,
                                                    NULL), 0);
        gettimeofday(&tv, NULL);
        uint64_t after = (uint64_t)tv.tv_sec * 1000000u + 1000000u;
        ck_assert_uint_ge(wire_record_reader_created(r), before);
        ck_assert_uint_le(wire_record_reader_created(r), after);
        struct wire_record got;
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_eq(wire_record_reader_next(r, &got, NULL), 1);
            ck_assert_int_eq(got.kind, recs[i].kind);
            ck_assert_uint_eq(got.time_us, recs[i].time_us);
            ck_assert_uint_eq(got.len, recs[i].len);
            ck_assert_int_eq(got.code, recs[i].code);
            ck_assert_uint_eq(got.offset, recs[i].offset);
            if (got.len > 0)
                ck_assert_int_eq(memcmp(got.data, recs[i].data, got.len), 0);
        }
        ck_assert_int_eq(wire_record_reader_next(r, &got, NULL), 0);
        ck_assert_int_eq(wire_record_reader_next(r, &got, NULL), 0);
        wire_record_reader_free(r);
    }
    free(mem);
    ck_assert_str_eq(wire_record_kind_name(WIRE_RECORD_OUT_EOF), "OUT_EOF");
    ck_assert_str_eq(wire_record_kind_name(0), "?");
    ck_assert_str_eq(wire_record_kind_name(99), "?");
    wire_record_reader_free(NULL);
    ck_assert_int_eq(wire_record_writer_close(NULL, NULL), 0);
}
END_TEST

START_TEST(test_writer_refuses_broken_rules)
{
    const char *path = tpath("rules.rec");
    struct wire_record_writer *w = writer(path);
    add(w, WIRE_RECORD_IN, 5, "x", 0);
    struct {
        struct wire_record r;
        const char *why;
    } bad[] = {
        {{.kind = 0, .time_us = 5000}, "no such kind"},
        {{.kind = 9, .time_us = 5000}, "no such kind"},
        {{.kind = WIRE_RECORD_IN_EOF, .time_us = 5000, .data = "x", .len = 1},
         "carries no bytes"},
        {{.kind = WIRE_RECORD_IN, .time_us = 4999, .data = "x", .len = 1},
         "a time before"},
        {{.kind = WIRE_RECORD_INFO, .time_us = 5000, .data = "x", .len = 1, .code = 0},
         "wire_info key"},
        {{.kind = WIRE_RECORD_END, .time_us = 5000, .code = 1}, "0 or negative"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct wire_error err = {0};
        uint64_t off = wire_record_writer_offset(w);
        ck_assert_int_eq(wire_record_writer_add(w, &bad[i].r, &err), WIRE_EINVAL);
        ck_assert_contains(err.message, bad[i].why);
        ck_assert_uint_eq(wire_record_writer_offset(w), off);
        wire_error_clear(&err);
    }
    /* Order: each sequence's last record is refused. */
    add(w, WIRE_RECORD_IN_EOF, 6, NULL, 0);
    struct wire_error err = {0};
    struct wire_record in = {.kind = WIRE_RECORD_IN, .time_us = 7000, .data = "y",
                             .len = 1};
    ck_assert_int_eq(wire_record_writer_add(w, &in, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "IN after IN_EOF");
    add(w, WIRE_RECORD_OUT, 7, "o", 0);
    add(w, WIRE_RECORD_CLOSE, 7, NULL, 0);
    struct wire_record out = {.kind = WIRE_RECORD_OUT, .time_us = 8000, .data = "p",
                              .len = 1};
    ck_assert_int_eq(wire_record_writer_add(w, &out, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "output after");
    struct wire_record ab = {.kind = WIRE_RECORD_ABORT, .time_us = 8000};
    ck_assert_int_eq(wire_record_writer_add(w, &ab, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "a second CLOSE or ABORT");
    add(w, WIRE_RECORD_END, 9, NULL, 0);
    struct wire_record info = {.kind = WIRE_RECORD_INFO, .time_us = 9000, .code = 2};
    ck_assert_int_eq(wire_record_writer_add(w, &info, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "after END");
    wire_error_clear(&err);
    done_writing(w);
    char *s = describe(path, true);
    ck_assert_str_eq(s, "IN x|IN_EOF|OUT o|CLOSE|END 0 |");
    free(s);
}
END_TEST

START_TEST(test_large_chunk_split)
{
    const char *path = tpath("big.rec");
    size_t n = WIRE_RECORD_MAX_LEN + 10;
    unsigned char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 7);
    struct wire_record_writer *w = writer(path);
    struct wire_record r = {.kind = WIRE_RECORD_OUT, .time_us = 3, .data = big, .len = n};
    ck_assert_int_eq(wire_record_writer_add(w, &r, NULL), 0);
    done_writing(w);
    struct wire_record_reader *rd = NULL;
    ck_assert_int_eq(wire_record_reader_open(path, &rd, NULL), 0);
    struct wire_record got;
    ck_assert_int_eq(wire_record_reader_next(rd, &got, NULL), 1);
    ck_assert_int_eq(got.kind, WIRE_RECORD_OUT);
    ck_assert_uint_eq(got.len, WIRE_RECORD_MAX_LEN);
    ck_assert_int_eq(memcmp(got.data, big, got.len), 0);
    ck_assert_int_eq(wire_record_reader_next(rd, &got, NULL), 1);
    ck_assert_uint_eq(got.len, 10);
    ck_assert_uint_eq(got.time_us, 3);
    ck_assert_int_eq(memcmp(got.data, big + WIRE_RECORD_MAX_LEN, 10), 0);
    ck_assert_int_eq(wire_record_reader_next(rd, &got, NULL), 0);
    wire_record_reader_free(rd);
    free(big);
}
END_TEST

START_TEST(test_writer_errors)
{
    /* A pipe whose reader went away: -EPIPE, no SIGPIPE, and it stays. */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    struct wire_record_writer *w = NULL;
    ck_assert_int_eq(wire_record_writer_open_fd(fds[1], &w, NULL), 0);
    close(fds[0]);
    struct wire_error err = {0};
    struct wire_record r = {.kind = WIRE_RECORD_IN, .data = "x", .len = 1};
    ck_assert_int_eq(wire_record_writer_add(w, &r, &err), -EPIPE);
    ck_assert_contains(err.message, "fd:");
    ck_assert_contains(err.message, "cannot write at offset 20");
    ck_assert_int_eq(wire_record_writer_add(w, &r, &err), -EPIPE);
    ck_assert_int_eq(wire_record_writer_close(w, &err), -EPIPE);
    wire_error_clear(&err);
    /* A device that is always full: the header cannot be written. */
    if (access("/dev/full", W_OK) == 0) {
        ck_assert_int_eq(wire_record_writer_open("/dev/full", &w, &err), -ENOSPC);
        ck_assert_contains(err.message, "cannot write the header");
        wire_error_clear(&err);
    }
    ck_assert_int_eq(wire_record_writer_open(tpath("no/such/dir"), &w, &err), -ENOENT);
    ck_assert_contains(err.message, "cannot open");
    wire_error_clear(&err);
    ck_assert_int_eq(wire_record_writer_open_fd(-1, &w, NULL), WIRE_EINVAL);
}
END_TEST

/* ---- bad files ---- */

static size_t
put_header(unsigned char *b, unsigned version)
{
    memcpy(b, WIRE_RECORD_MAGIC, 8);
    b[8] = (unsigned char)(version >> 8);
    b[9] = (unsigned char)version;
    memset(b + 10, 0, 10);
    return WIRE_RECORD_HEADER_SIZE;
}

static size_t
put_rec(unsigned char *b, int kind, uint32_t len_field, uint64_t time,
        const void *payload, size_t plen)
{
    memset(b, 0, WIRE_RECORD_HEAD_SIZE);
    b[0] = (unsigned char)kind;
    for (int i = 0; i < 4; i++)
        b[4 + i] = (unsigned char)(len_field >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        b[8 + i] = (unsigned char)(time >> (56 - 8 * i));
    if (plen > 0)
        memcpy(b + WIRE_RECORD_HEAD_SIZE, payload, plen);
    return WIRE_RECORD_HEAD_SIZE + plen;
}

/* A good IN "ok" at offset 20, then the case's bad bytes at offset 38. */
enum { BAD_AT = 38 };

struct bad_case {
    const char *name;
    bool at_open;     /* the header is bad: open fails */
    const char *msg;  /* part of the message */
};

static const struct bad_case bad_cases[] = {
    {"empty", true, "the header needs 20 bytes, the file has 0"},
    {"magic", true, "not a libwire recording (bad magic at offset 0)"},
    {"short magic", true, "bad magic at offset 0"},
    {"short header", true, "the header needs 20 bytes, the file has 12"},
    {"version", true, "unsupported version 2 at offset 8"},
    {"head cut", false, "truncated record at offset 38: 7 of the 16 bytes"},
    {"payload cut", false,
     "truncated record at offset 38: 100 bytes announced, 10 present"},
    {"oversized", false, "the record at offset 38 is too long (4294967295 bytes"},
    {"kind", false, "unknown record kind 9 at offset 38"},
    {"kind zero", false, "unknown record kind 0 at offset 38"},
    {"reserved", false, "non-zero reserved bytes in the record at offset 38"},
    {"eof bytes", false, "the IN_EOF record at offset 38 carries 1 bytes"},
    {"time", false, "the IN record at offset 38 breaks the rules: a time before"},
    {"end short", false, "the END record at offset 38 is too short"},
    {"end code", false, "the END record at offset 38 has a bad code"},
    {"after end", false,
     "the IN record at offset 74 breaks the rules: a record after END"},
};

static size_t
bad_bytes(int i, unsigned char *b)
{
    size_t n = 0;
    const struct bad_case *c = &bad_cases[i];
    if (strcmp(c->name, "empty") == 0)
        return 0;
    if (strcmp(c->name, "magic") == 0) {
        memcpy(b, "GIF89a-not-a-recording", 22);
        return 22;
    }
    if (strcmp(c->name, "short magic") == 0) {
        memcpy(b, "WIRX", 4);
        return 4;
    }
    if (strcmp(c->name, "short header") == 0)
        return put_header(b, 1) - 8;
    if (strcmp(c->name, "version") == 0)
        return put_header(b, 2);
    n = put_header(b, 1);
    n += put_rec(b + n, WIRE_RECORD_IN, 2, 1000, "ok", 2);
    ck_assert_uint_eq(n, BAD_AT);
    unsigned char *p = b + n;
    if (strcmp(c->name, "head cut") == 0) {
        put_rec(p, WIRE_RECORD_IN, 1, 1000, NULL, 0);
        return n + 7;
    }
    if (strcmp(c->name, "payload cut") == 0)
        return n + put_rec(p, WIRE_RECORD_OUT, 100, 1000, "0123456789", 10);
    if (strcmp(c->name, "oversized") == 0)
        return n + put_rec(p, WIRE_RECORD_OUT, 0xffffffffu, 1000, "0123456789", 10);
    if (strcmp(c->name, "kind") == 0)
        return n + put_rec(p, 9, 0, 1000, NULL, 0);
    if (strcmp(c->name, "kind zero") == 0)
        return n + put_rec(p, 0, 0, 1000, NULL, 0);
    if (strcmp(c->name, "reserved") == 0) {
        n += put_rec(p, WIRE_RECORD_IN, 1, 1000, "x", 1);
        p[2] = 1;
        return n;
    }
    if (strcmp(c->name, "eof bytes") == 0)
        return n + put_rec(p, WIRE_RECORD_IN_EOF, 1, 1000, "x", 1);
    if (strcmp(c->name, "time") == 0)
        return n + put_rec(p, WIRE_RECORD_IN, 1, 999, "x", 1);
    if (strcmp(c->name, "end short") == 0)
        return n + put_rec(p, WIRE_RECORD_END, 2, 1000, "\0\0", 2);
    if (strcmp(c->name, "end code") == 0)
        return n + put_rec(p, WIRE_RECORD_END, 4, 1000, "\0\0\0\1", 4);
    if (strcmp(c->name, "after end") == 0) {
        n += put_rec(p, WIRE_RECORD_IN_EOF, 0, 1000, NULL, 0);
        n += put_rec(b + n, WIRE_RECORD_END, 4, 1000, "\0\0\0\0", 4);
        ck_assert_uint_eq(n, 74);
        return n + put_rec(b + n, WIRE_RECORD_IN, 1, 1000, "x", 1);
    }
    ck_abort_msg("no case %s", c->name);
    return 0;
}

START_TEST(test_bad_files)
{
    const struct bad_case *c = &bad_cases[_i];
    unsigned char b[512];
    size_t n = bad_bytes(_i, b);
    const char *path = tpath("bad.rec");
    write_file(path, b, n);
    struct wire_error err = {0};
    struct wire_record_reader *r = NULL;
    int rc = wire_record_reader_open(path, &r, &err);
    if (c->at_open) {
        ck_assert_int_eq(rc, WIRE_EPROTO);
        ck_assert_ptr_null(r);
    } else {
        ck_assert_int_eq(rc, 0);
        struct wire_record rec;
        /* The whole records before the bad one are read. */
        ck_assert_int_eq(wire_record_reader_next(r, &rec, &err), 1);
        ck_assert_uint_eq(rec.offset, 20);
        ck_assert_uint_eq(rec.len, 2);
        if (strcmp(c->name, "after end") == 0) {
            ck_assert_int_eq(wire_record_reader_next(r, &rec, &err), 1);
            ck_assert_int_eq(wire_record_reader_next(r, &rec, &err), 1);
            ck_assert_int_eq(rec.kind, WIRE_RECORD_END);
        }
        ck_assert_int_eq(wire_record_reader_next(r, &rec, &err), WIRE_EPROTO);
        /* The error stays. */
        ck_assert_int_eq(wire_record_reader_next(r, &rec, NULL), WIRE_EPROTO);
        wire_record_reader_free(r);
    }
    ck_assert_contains(err.message, c->msg);
    ck_assert_contains(err.message, path);
    wire_error_clear(&err);
    /* The replay reads the whole file first: it never starts, and the
     * protocol stays the caller's. */
    struct rec_log log = {0};
    struct wire_protocol *p = rec_new(&log);
    struct wire_transport *t = NULL;
    ck_assert_int_eq(wire_replay_start(loop, path, p, NULL, &t, &err), WIRE_EPROTO);
    ck_assert_contains(err.message, c->msg);
    ck_assert_ptr_null(t);
    wire_error_clear(&err);
    wire_protocol_destroy(p);
    ck_assert_int_eq(log.made, 0);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_missing_file)
{
    const char *path = tpath("nope.rec");
    struct wire_error err = {0};
    struct wire_record_reader *r = NULL;
    ck_assert_int_eq(wire_record_reader_open(path, &r, &err), -ENOENT);
    ck_assert_contains(err.message, path);
    ck_assert_contains(err.message, "No such file");
    wire_error_clear(&err);
    struct rec_log log = {0};
    struct wire_protocol *p = rec_new(&log);
    ck_assert_int_eq(wire_replay_start(loop, path, p, NULL, NULL, &err), -ENOENT);
    ck_assert_contains(err.message, path);
    wire_error_clear(&err);
    wire_protocol_destroy(p);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_cut_anywhere)
{
    /* A recording cut at any byte (the process died while writing) reads
     * up to its last whole record, then says where it is cut. */
    const char *path = tpath("whole.rec");
    struct wire_record_writer *w = writer(path);
    add(w, WIRE_RECORD_OUT, 0, "GET /", 0);
    add(w, WIRE_RECORD_IN, 2, "200", 0);
    add(w, WIRE_RECORD_IN_EOF, 3, NULL, 0);
    add(w, WIRE_RECORD_END, 4, "gone", -EPIPE);
    uint64_t total = wire_record_writer_offset(w);
    done_writing(w);
    const uint64_t ends[] = {20, 41, 60, 76, total};
    unsigned char *b = malloc(total);
    ck_assert_ptr_nonnull(b);
    int fd = open(path, O_RDONLY);
    ck_assert_int_eq(read(fd, b, total), (ssize_t)total);
    close(fd);
    for (uint64_t cut = 20; cut <= total; cut++) {
        struct wire_record_reader *r = NULL;
        ck_assert_int_eq(wire_record_reader_new(b, cut, &r, NULL), 0);
        int whole = 0;
        int nends = (int)(sizeof(ends) / sizeof(ends[0]));
        while (whole + 1 < nends && ends[whole + 1] <= cut)
            whole++;
        struct wire_record rec;
        for (int i = 0; i < whole; i++)
            ck_assert_int_eq(wire_record_reader_next(r, &rec, NULL), 1);
        struct wire_error err = {0};
        int rc = wire_record_reader_next(r, &rec, &err);
        if (cut == ends[whole]) {
            ck_assert_int_eq(rc, 0);
        } else {
            ck_assert_int_eq(rc, WIRE_EPROTO);
            char want[64];
            snprintf(want, sizeof(want), "truncated record at offset %llu",
                     (unsigned long long)ends[whole]);
            ck_assert_contains(err.message, want);
        }
        wire_error_clear(&err);
        wire_record_reader_free(r);
    }
    free(b);
}
END_TEST

START_TEST(test_replay_bad_arguments)
{
    const char *path = tpath("ok.rec");
    done_writing(writer(path));
    struct rec_log log = {0};
    struct wire_protocol *p = rec_new(&log);
    struct wire_error err = {0};
    struct wire_replay_opts o = {.time_scale = -1};
    ck_assert_int_eq(wire_replay_start(loop, path, p, &o, NULL, &err), WIRE_EINVAL);
    o.time_scale = 0;
    o.side = (enum wire_replay_side)7;
    ck_assert_int_eq(wire_replay_start(loop, path, p, &o, NULL, &err), WIRE_EINVAL);
    ck_assert_int_eq(wire_replay_start(NULL, path, p, NULL, NULL, &err), WIRE_EINVAL);
    ck_assert_int_eq(wire_replay_start(loop, NULL, p, NULL, NULL, &err), WIRE_EINVAL);
    ck_assert_int_eq(wire_replay_start(loop, path, NULL, NULL, NULL, &err), WIRE_EINVAL);
    wire_error_clear(&err);
    wire_protocol_destroy(p);
    rec_log_free(&log);
}
END_TEST

/* ---- the record layer ---- */

static struct wire_protocol *
layer(struct wire_protocol *upper, const char *path, struct done *d)
{
    struct wire_record_opts o = {.on_done = on_done, .arg = d};
    struct wire_error err = {0};
    struct wire_protocol *p = wire_record_layer_new(upper, path, &o, &err);
    ck_assert_msg(p != NULL, "%s", err.message ? err.message : "?");
    return p;
}

static int refs_freed;

static void
ref_free(void *arg, const void *data, size_t len)
{
    (void)arg;
    (void)data;
    (void)len;
    refs_freed++;
}

static const char *layer_path;

static void
a_made(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    char buf[PATH_MAX + 64];
    int code = 1;
    ck_assert_str_eq(wire_transport_name(t), "record");
    ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_PEER, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "mem:pair");
    ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_RECORD_PATH, buf,
                                             sizeof(buf)), 0);
    ck_assert_str_eq(buf, layer_path);
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_RECORD_ERROR, &code,
                                             sizeof(code)), (int)sizeof(int));
    ck_assert_int_eq(code, 0);
    ck_assert(wire_transport_can_write_eof(t));
    ck_assert_int_eq(wire_transport_write(t, "hello", 5), 0);
    struct iovec v[2] = {{"wor", 3}, {"ld", 2}};
    ck_assert_int_eq(wire_transport_write_sequence(t, v, 2), 0);
    ck_assert_int_eq(wire_transport_write_ref(t, "!", 1, ref_free, NULL), 0);
    ck_assert_int_eq(wire_transport_write(t, "", 0), 0); /* records nothing */
}

static void
b_data(struct rec_log *log, struct wire_transport *t, const void *data, size_t len)
{
    (void)data;
    (void)len;
    if (log->in_len == 11 && log->user_n++ == 0) {
        ck_assert_str_eq(rec_in(log), "helloworld!");
        ck_assert_int_eq(wire_transport_write(t, "pong", 4), 0);
        ck_assert_int_eq(wire_transport_write_eof(t), 0);
    }
}

static void
a_eof(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    ck_assert_int_eq(wire_transport_write(t, "bye", 3), 0);
    wire_transport_close(t);
}

START_TEST(test_layer_transparent)
{
    const char *path = tpath("mem.rec");
    layer_path = path;
    refs_freed = 0;
    struct rec_log a = {0}, b = {0};
    struct done d = {0};
    a.on_made = a_made;
    a.on_eof = a_eof;
    a.eof_keep = true;
    b.on_data = b_data;
    b.eof_keep = false;
    ck_assert_int_eq(wire_mem_pair(loop, layer(rec_new(&a), path, &d), rec_new(&b), 0,
                                   NULL, NULL), 0);
    run_until(done_flag, &d);
    run_until(log_destroyed, &a);
    run_until(log_destroyed, &b);
    ck_assert_int_eq(d.code, 0);
    ck_assert_int_eq(refs_freed, 1);
    ck_assert_str_eq(rec_in(&b), "helloworld!bye");
    ck_assert_int_eq(b.eof, 1);
    ck_assert(b.lost_null);
    ck_assert_str_eq(rec_marks(&a), "pong|");
    ck_assert_int_eq(a.eof, 1);
    ck_assert(a.lost_null);
    char *s = describe(path, true);
    ck_assert_str_eq(s, "INFO 2 mem:pair|INFO 3 mem:pair|OUT hello|OUT world|OUT !|"
                        "IN pong|IN_EOF|OUT bye|CLOSE|END 0 |");
    free(s);
    rec_log_free(&a);
    rec_log_free(&b);
}
END_TEST

/* Flow control crosses the layer: the far side stops reading, the near
 * side's writes back up to its own pause_writing, and resume follows. */
static void
big_made(struct rec_log *log, struct wire_transport *t)
{
    static char chunk[64 * 1024];
    (void)log;
    memset(chunk, 'z', sizeof(chunk));
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(wire_transport_write(t, chunk, sizeof(chunk)), 0);
}

static bool
paused_w(void *arg)
{
    return ((struct rec_log *)arg)->paused > 0;
}

static bool
got_all(void *arg)
{
    return ((struct rec_log *)arg)->in_len == 4 * 64 * 1024;
}

START_TEST(test_layer_flow_control)
{
    const char *path = tpath("flow.rec");
    struct rec_log a = {0}, b = {0};
    struct done d = {0};
    a.on_made = big_made;
    b.on_data = rec_pause_on_first;
    ck_assert_int_eq(wire_mem_pair(loop, layer(rec_new(&a), path, &d), rec_new(&b), 1024,
                                   NULL, NULL), 0);
    run_until(paused_w, &a);
    run_until(log_made, &b);
    while (b.data_calls == 0)
        ck_assert_int_ge(wire_loop_run_once(loop, true), 0);
    for (int i = 0; i < 10; i++)
        wire_loop_run_once(loop, false);
    ck_assert_int_eq(a.resumed, 0);
    ck_assert_int_eq(b.data_calls, 1);
    ck_assert_int_eq(wire_transport_resume_reading(b.t), 0);
    run_until(got_all, &b);
    ck_assert_int_eq(a.resumed, 1);
    wire_transport_close(a.t);
    run_until(done_flag, &d);
    run_until(log_destroyed, &b);
    ck_assert_int_eq(d.code, 0);
    char *out = chunks_of(path, WIRE_RECORD_OUT);
    ck_assert_uint_eq(strlen(out), 4 * (64 * 1024 + 1));
    free(out);
    rec_log_free(&a);
    rec_log_free(&b);
}
END_TEST

static void
abort_on_data(struct rec_log *log, struct wire_transport *t, const void *data, size_t len)
{
    (void)log;
    (void)data;
    (void)len;
    wire_transport_abort(t);
    ck_assert_int_eq(wire_transport_write(t, "late", 4), WIRE_ECLOSED);
}

static void
write_x(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    ck_assert_int_eq(wire_transport_write(t, "x", 1), 0);
}

START_TEST(test_layer_abort)
{
    const char *path = tpath("abort.rec");
    struct rec_log a = {0}, b = {0};
    struct done d = {0};
    a.on_data = abort_on_data;
    b.on_made = write_x;
    ck_assert_int_eq(wire_mem_pair(loop, layer(rec_new(&a), path, &d), rec_new(&b), 0,
                                   NULL, NULL), 0);
    run_until(done_flag, &d);
    run_until(log_destroyed, &a);
    run_until(log_destroyed, &b);
    ck_assert_int_eq(a.lost_code, WIRE_EABORTED);
    ck_assert_int_eq(b.lost_code, -ECONNRESET);
    char *s = describe(path, false);
    char want[128];
    snprintf(want, sizeof(want), "IN x|ABORT|END %d connection aborted locally|",
             WIRE_EABORTED);
    ck_assert_str_eq(s, want);
    free(s);
    rec_log_free(&a);
    rec_log_free(&b);
}
END_TEST

static void
echo_ok(struct rec_log *log, struct wire_transport *t, const void *data, size_t len)
{
    (void)log;
    (void)data;
    (void)len;
    ck_assert_int_eq(wire_transport_write(t, "ok", 2), 0);
}

START_TEST(test_layer_string_transport)
{
    /* No loop: the layer works sans I/O too. */
    const char *path = tpath("string.rec");
    struct rec_log a = {0};
    struct done d = {0};
    a.on_data = echo_ok;
    struct wire_transport *t = wire_string_transport_new(layer(rec_new(&a), path, &d));
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(wire_string_transport_feed(t, "abc", 3), 0);
    ck_assert_str_eq(unit_output(t), "ok");
    ck_assert_int_eq(wire_string_transport_feed_eof(t), 0);
    wire_string_transport_step(t);
    ck_assert(wire_string_transport_closed(t));
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.code, 0);
    ck_assert(a.lost_null);
    wire_string_transport_free(t);
    char *s = describe(path, true);
    ck_assert_str_eq(s, "INFO 2 string:|INFO 3 string:|IN abc|OUT ok|IN_EOF|"
                        "CLOSE|END 0 |");
    free(s);
    rec_log_free(&a);
}
END_TEST

static char logged[1024];

static void
capture_log(void *arg, enum wire_log_level level, const char *msg)
{
    (void)arg;
    if (level >= WIRE_LOG_WARN)
        snprintf(logged, sizeof(logged), "%s", msg);
}

static int pipe_reader = -1;

static void
cut_pipe_then_write(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    close(pipe_reader);
    pipe_reader = -1;
    ck_assert_int_eq(wire_transport_write(t, "data", 4), 0);
    int code = 0;
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_RECORD_ERROR, &code,
                                             sizeof(code)), (int)sizeof(int));
    ck_assert_int_eq(code, -EPIPE);
    ck_assert_int_eq(wire_transport_write(t, "more", 4), 0);
}

static bool
got_8(void *arg)
{
    return ((struct rec_log *)arg)->in_len == 8;
}

START_TEST(test_layer_file_error_keeps_connection)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pipe_reader = fds[0];
    logged[0] = '\0';
    wire_loop_set_log(loop, capture_log, NULL);
    struct rec_log a = {0}, b = {0};
    struct done d = {0};
    a.on_made = cut_pipe_then_write;
    struct wire_record_opts o = {.on_done = on_done, .arg = &d};
    struct wire_error err = {0};
    struct wire_protocol *lp = wire_record_layer_new_fd(rec_new(&a), fds[1], &o, &err);
    ck_assert_ptr_nonnull(lp);
    ck_assert_int_eq(wire_mem_pair(loop, lp, rec_new(&b), 0, NULL, NULL), 0);
    run_until(got_8, &b);
    ck_assert_str_eq(rec_in(&b), "datamore");
    /* Reported at once on the loop's log, and at the end to on_done. */
    ck_assert_contains(logged, "recording stopped");
    ck_assert_contains(logged, "cannot write at offset 76");
    ck_assert_int_eq(d.calls, 0);
    wire_transport_close(a.t);
    run_until(done_flag, &d);
    run_until(log_destroyed, &a);
    run_until(log_destroyed, &b);
    ck_assert(a.lost_null);
    ck_assert(b.lost_null);
    ck_assert_int_eq(d.code, -EPIPE);
    ck_assert_contains(d.msg, "fd:");
    ck_assert_contains(d.msg, "Broken pipe");
    rec_log_free(&a);
    rec_log_free(&b);
}
END_TEST

START_TEST(test_layer_open_error)
{
    struct rec_log a = {0};
    struct wire_error err = {0};
    struct done d = {0};
    struct wire_record_opts o = {.on_done = on_done, .arg = &d};
    /* The protocol above is the layer's also on error: destroyed. */
    ck_assert_ptr_null(wire_record_layer_new(rec_new(&a), tpath("no/dir/x.rec"), &o,
                                             &err));
    ck_assert_int_eq(err.code, -ENOENT);
    ck_assert_contains(err.message, "no/dir/x.rec");
    ck_assert_int_eq(a.destroyed, 1);
    ck_assert_int_eq(d.calls, 0);
    wire_error_clear(&err);
    ck_assert_ptr_null(wire_record_layer_new_fd(rec_new(&a), -1, NULL, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_int_eq(a.destroyed, 2);
    wire_error_clear(&err);
    rec_log_free(&a);
}
END_TEST

START_TEST(test_layer_never_started)
{
    /* A connect that failed: the layer is destroyed unstarted; the file
     * is an empty recording, and on_done still says it is done. */
    const char *path = tpath("never.rec");
    struct rec_log a = {0};
    struct done d = {0};
    struct wire_protocol *lp = layer(rec_new(&a), path, &d);
    ck_assert_int_eq(wire_connect(loop, "tcp://127.0.0.1:1", lp, NULL, NULL, NULL,
                                  NULL), 0);
    run_until(done_flag, &d);
    ck_assert_int_eq(d.code, 0);
    ck_assert_int_eq(a.made, 0);
    ck_assert_int_eq(a.destroyed, 1);
    char *s = describe(path, true);
    ck_assert_str_eq(s, "");
    free(s);
    rec_log_free(&a);
}
END_TEST

/* ---- replay ---- */

/* A small recording of a client: it asks twice, gets two answers in
 * three chunks, then the server's EOF; it closes. */
static const char *
client_recording(const char *name, const char *end_msg, int end_code)
{
    const char *path = tpath(name);
    struct wire_record_writer *w = writer(path);
    add(w, WIRE_RECORD_INFO, 0, "tcp://10.0.0.1:80", WIRE_INFO_PEER);
    add(w, WIRE_RECORD_INFO, 0, "tcp://10.0.0.2:5555", WIRE_INFO_LOCAL);
    add(w, WIRE_RECORD_OUT, 0, "req1", 0);
    add(w, WIRE_RECORD_IN, 1, "ab", 0);
    add(w, WIRE_RECORD_OUT, 1, "req2", 0);
    add(w, WIRE_RECORD_IN, 2, "cde", 0);
    add(w, WIRE_RECORD_IN, 2, "f", 0);
    add(w, WIRE_RECORD_IN_EOF, 3, NULL, 0);
    add(w, WIRE_RECORD_CLOSE, 3, NULL, 0);
    if (end_msg != NULL)
        add(w, WIRE_RECORD_END, 4, end_msg, end_code);
    done_writing(w);
    return path;
}

/* Drive the loop one turn at a time until `log` is lost; no turn
 * delivers more than one record. */
static int
turns_until_lost(struct rec_log *log)
{
    int turns = 0;
    while (!log->lost_flag) {
        int before = log->data_calls + log->eof;
        ck_assert_int_ge(wire_loop_run_once(loop, true), 0);
        ck_assert_int_le(log->data_calls + log->eof - before, 1);
        ck_assert_int_lt(++turns, 1000);
    }
    return turns;
}

START_TEST(test_replay_chunks)
{
    for (int keep = 0; keep < 2; keep++) {
        const char *path = client_recording("c.rec", "", 0);
        struct rec_log log = {0};
        struct done d = {0};
        log.eof_keep = keep;
        struct wire_transport *t = replay(path, rec_new(&log), WIRE_REPLAY_RECORDED,
                                          0, false, &d);
        char buf[128];
        ck_assert_str_eq(wire_transport_name(t), "replay");
        ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_PEER, buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "tcp://10.0.0.1:80");
        ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_LOCAL, buf,
                                                 sizeof(buf)), 0);
        ck_assert_str_eq(buf, "tcp://10.0.0.2:5555");
        ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_FD, buf, sizeof(buf)),
                         WIRE_ENOTSUP);
        /* Three chunks and the EOF: at least four turns after the start. */
        ck_assert_int_ge(turns_until_lost(&log), 5);
        ck_assert_str_eq(rec_marks(&log), "ab|cde|f|");
        ck_assert_int_eq(log.eof, 1);
        ck_assert(log.lost_null);
        run_until(done_flag, &d);
        ck_assert_int_eq(d.code, 0);
        rec_log_free(&log);
    }
}
END_TEST

START_TEST(test_replay_end_with_error)
{
    const char *path = client_recording("e.rec", "read: Connection reset by peer",
                                        -ECONNRESET);
    struct rec_log log = {0};
    struct done d = {0};
    log.eof_keep = true; /* the END ends it, not the EOF */
    replay(path, rec_new(&log), WIRE_REPLAY_RECORDED, 0, false, &d);
    run_until(log_destroyed, &log);
    ck_assert_str_eq(rec_in(&log), "abcdef");
    ck_assert_int_eq(log.lost_code, -ECONNRESET);
    ck_assert_str_eq(log.lost_msg, "read: Connection reset by peer");
    rec_log_free(&log);

    /* No END at all: a clean end once the records run out. */
    path = client_recording("n.rec", NULL, 0);
    memset(&log, 0, sizeof(log));
    memset(&d, 0, sizeof(d));
    log.eof_keep = true;
    replay(path, rec_new(&log), WIRE_REPLAY_RECORDED, 0, false, &d);
    run_until(log_destroyed, &log);
    ck_assert_str_eq(rec_marks(&log), "ab|cde|f|");
    ck_assert(log.lost_null);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_replay_peer_side)
{
    const char *path = client_recording("p.rec", "", 0);
    struct rec_log log = {0};
    struct done d = {0};
    log.eof_keep = true;
    struct wire_transport *t =
        replay(path, rec_new(&log), WIRE_REPLAY_PEER, 0, false, &d);
    char buf[128];
    ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_PEER, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "tcp://10.0.0.2:5555");
    ck_assert_int_gt(turns_until_lost(&log), 3);
    /* The client's writes, then its close as an EOF. */
    ck_assert_str_eq(rec_marks(&log), "req1|req2|");
    ck_assert_int_eq(log.eof, 1);
    ck_assert(log.lost_null);
    rec_log_free(&log);

    /* The recorded side aborted: its peer sees a reset. */
    path = tpath("ab.rec");
    struct wire_record_writer *w = writer(path);
    add(w, WIRE_RECORD_OUT, 0, "x", 0);
    add(w, WIRE_RECORD_ABORT, 1, NULL, 0);
    add(w, WIRE_RECORD_END, 1, "connection aborted locally", WIRE_EABORTED);
    done_writing(w);
    memset(&log, 0, sizeof(log));
    memset(&d, 0, sizeof(d));
    replay(path, rec_new(&log), WIRE_REPLAY_PEER, 0, false, &d);
    run_until(log_destroyed, &log);
    ck_assert_str_eq(rec_in(&log), "x");
    ck_assert_int_eq(log.eof, 0);
    ck_assert_int_eq(log.lost_code, -ECONNRESET);
    ck_assert_contains(log.lost_msg, "aborted");
    ck_assert_contains(log.lost_msg, "offset 37");
    rec_log_free(&log);
}
END_TEST

START_TEST(test_replay_pause)
{
    const char *path = client_recording("pause.rec", "", 0);
    struct rec_log log = {0};
    struct done d = {0};
    log.on_data = rec_pause_on_first;
    replay(path, rec_new(&log), WIRE_REPLAY_RECORDED, 0, false, &d);
    run_until(log_made, &log);
    while (log.data_calls == 0)
        ck_assert_int_ge(wire_loop_run_once(loop, true), 0);
    /* Paused: nothing more, however many turns. */
    for (int i = 0; i < 20; i++)
        wire_loop_run_once(loop, false);
    ck_assert_str_eq(rec_marks(&log), "ab|");
    ck_assert_int_eq(log.eof, 0);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    run_until(log_destroyed, &log);
    ck_assert_str_eq(rec_marks(&log), "ab|cde|f|");
    ck_assert_int_eq(log.eof, 1);
    ck_assert(log.lost_null);
    rec_log_free(&log);
}
END_TEST

/* Pause once "cd" (the middle of the record "cde") came in. */
static void
pause_mid_record(struct rec_log *log, struct wire_transport *t, const void *data,
                 size_t len)
{
    (void)data;
    (void)len;
    if (strcmp(rec_marks(log), "ab|cd|") == 0)
        ck_assert_int_eq(wire_transport_pause_reading(t), 0);
}

START_TEST(test_replay_get_buffer)
{
    /* Buffers of 2 bytes: each record in pieces, none spanning two; a
     * pause in the middle of a record holds the rest of it. */
    const char *path = client_recording("gb.rec", "", 0);
    struct rec_log log = {0};
    struct done d = {0};
    log.bufsize = 2;
    log.on_data = pause_mid_record;
    replay(path, rec_new(&log), WIRE_REPLAY_RECORDED, 0, false, &d);
    run_until(log_made, &log);
    while (log.buffer_updated_calls < 2)
        ck_assert_int_ge(wire_loop_run_once(loop, true), 0);
    for (int i = 0; i < 20; i++)
        wire_loop_run_once(loop, false);
    ck_assert_str_eq(rec_marks(&log), "ab|cd|");
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    run_until(log_destroyed, &log);
    ck_assert_str_eq(rec_marks(&log), "ab|cd|e|f|");
    ck_assert_int_eq(log.data_calls, 0);
    ck_assert_int_eq(log.eof, 1);
    ck_assert(log.lost_null);
    rec_log_free(&log);
}
END_TEST

/* user_n: 0 close, 1 abort, 2 write_eof then close; then every write
 * must be refused. */
static void
close_then_write(struct rec_log *log, struct wire_transport *t)
{
    if (log->user_n == 1) {
        wire_transport_abort(t);
    } else if (log->user_n == 2) {
        ck_assert_int_eq(wire_transport_write_eof(t), 0);
        ck_assert_int_eq(wire_transport_write(t, "x", 1), WIRE_ECLOSED);
        wire_transport_close(t);
    } else {
        wire_transport_close(t);
    }
    ck_assert_int_eq(wire_transport_write(t, "x", 1), WIRE_ECLOSED);
    struct iovec v = {"y", 1};
    ck_assert_int_eq(wire_transport_write_sequence(t, &v, 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_transport_write_ref(t, "z", 1, ref_free, NULL), WIRE_ECLOSED);
}

static void
close_on_first_data(struct rec_log *log, struct wire_transport *t, const void *data,
                    size_t len)
{
    (void)data;
    (void)len;
    if (log->data_calls == 1)
        close_then_write(log, t);
}

START_TEST(test_replay_close_from_callbacks)
{
    /* From connection_made, the first data_received, eof_received. */
    const int codes[] = {0, WIRE_EABORTED, 0};
    const int calls[] = {0, 1, 3};
    for (int where = 0; where < 3; where++) {
        for (int how = 0; how < 3; how++) {
            const char *path = client_recording("wc.rec", "", 0);
            struct rec_log log = {0};
            struct done d = {0};
            if (where == 0)
                log.on_made = close_then_write;
            else if (where == 1)
                log.on_data = close_on_first_data;
            else
                log.on_eof = close_then_write;
            log.eof_keep = true;
            log.user_n = how;
            refs_freed = 0;
            replay(path, rec_new(&log), WIRE_REPLAY_RECORDED, 0, false, &d);
            run_until(log_destroyed, &log);
            ck_assert_int_eq(log.lost_code, codes[how]);
            ck_assert_int_eq(log.data_calls, calls[where]);
            ck_assert_int_eq(log.eof, where == 2);
            ck_assert_int_eq(refs_freed, 0);
            run_until(done_flag, &d);
            rec_log_free(&log);
        }
    }
}
END_TEST

/* ---- verification ---- */

static void
write_script(struct rec_log *log, struct wire_transport *t)
{
    /* user: "piece|piece|..." written in order; "EOF" is write_eof,
     * "CLOSE" close. */
    char *copy = strdup(log->user);
    ck_assert_ptr_nonnull(copy);
    for (char *save = NULL, *tok = strtok_r(copy, "|", &save); tok != NULL;
         tok = strtok_r(NULL, "|", &save)) {
        if (strcmp(tok, "EOF") == 0)
            wire_transport_write_eof(t);
        else if (strcmp(tok, "CLOSE") == 0)
            wire_transport_close(t);
        else
            wire_transport_write(t, tok, strlen(tok));
    }
    free(copy);
}

struct verify_case {
    const char *script; /* what the protocol writes, in connection_made */
    int code;           /* 0 or WIRE_EPROTO */
    const char *msg;
};

static const struct verify_case verify_cases[] = {
    {"hello world", 0, NULL},
    {"hel|lo wor|ld", 0, NULL},
    {"hel|lo wor|ld|EOF", 0, NULL},
    {"hello there", WIRE_EPROTO,
     "differs from the recording at byte 6 (in the record at offset 42): "
     "expected \"world\", got \"there\""},
    {"hello |wide", WIRE_EPROTO,
     "at byte 7 (in the record at offset 42): expected \"orld\", got \"ide\""},
    {"hello world!!", WIRE_EPROTO,
     "goes past the recording at byte 11 (11 bytes recorded): got \"!!\""},
    {"hello|CLOSE", WIRE_EPROTO,
     "ended after 5 of the 11 bytes of output recorded; expected next \" world\""},
    {"hello|EOF", WIRE_EPROTO,
     "write_eof after 5 bytes of output; the recording goes on (11 bytes) with "
     "\" world\""},
};

START_TEST(test_replay_verify)
{
    const struct verify_case *c = &verify_cases[_i];
    const char *path = tpath("v.rec");
    struct wire_record_writer *w = writer(path);
    add(w, WIRE_RECORD_OUT, 0, "hello ", 0);
    add(w, WIRE_RECORD_OUT, 0, "world", 0);
    add(w, WIRE_RECORD_IN, 1, "thanks", 0);
    add(w, WIRE_RECORD_OUT_EOF, 1, NULL, 0);
    add(w, WIRE_RECORD_IN_EOF, 2, NULL, 0);
    add(w, WIRE_RECORD_END, 2, "", 0);
    done_writing(w);
    struct rec_log log = {0};
    struct done d = {0};
    log.on_made = write_script;
    log.user = (void *)(uintptr_t)c->script;
    replay(path, rec_new(&log), WIRE_REPLAY_RECORDED, 0, true, &d);
    run_until(log_destroyed, &log);
    run_until(done_flag, &d);
    ck_assert_int_eq(log.lost_code, c->code);
    ck_assert_int_eq(d.code, c->code);
    if (c->msg != NULL) {
        ck_assert_contains(log.lost_msg, c->msg);
        ck_assert_contains(d.msg, c->msg);
        ck_assert_contains(d.msg, path);
    } else {
        ck_assert_str_eq(rec_in(&log), "thanks");
    }
    rec_log_free(&log);
}
END_TEST

START_TEST(test_replay_verify_eof_not_recorded)
{
    const char *path = client_recording("ne.rec", "", 0);
    struct rec_log log = {0};
    struct done d = {0};
    log.on_made = write_script;
    log.user = (void *)"req1req2|EOF";
    replay(path, rec_new(&log), WIRE_REPLAY_RECORDED, 0, true, &d);
    run_until(log_destroyed, &log);
    ck_assert_int_eq(log.lost_code, WIRE_EPROTO);
    ck_assert_contains(log.lost_msg, "write_eof, which the recording does not have");
    rec_log_free(&log);

    /* The peer's side is checked against the recorded input. */
    memset(&log, 0, sizeof(log));
    memset(&d, 0, sizeof(d));
    log.on_made = write_script;
    log.user = (void *)"abcdef";
    log.eof_keep = true;
    replay(path, rec_new(&log), WIRE_REPLAY_PEER, 0, true, &d);
    run_until(log_destroyed, &log);
    ck_assert(log.lost_null);
    ck_assert_str_eq(rec_in(&log), "req1req2");
    rec_log_free(&log);
}
END_TEST

/* ---- timing ---- */

static void
note_time(struct rec_log *log, struct wire_transport *t, const void *data, size_t len)
{
    (void)t;
    (void)data;
    (void)len;
    uint64_t *times = log->user;
    times[log->data_calls - 1] = mono_ms();
}

static void
timed_case(double scale)
{
    /* Gaps of 40 ms, then 80 ms, then 0; the first at 20 ms. */
    const char *path = tpath("t.rec");
    struct wire_record_writer *w = writer(path);
    add(w, WIRE_RECORD_IN, 20, "a", 0);
    add(w, WIRE_RECORD_OUT, 30, "never checked", 0);
    add(w, WIRE_RECORD_IN, 60, "b", 0);
    add(w, WIRE_RECORD_IN, 140, "c", 0);
    add(w, WIRE_RECORD_IN, 140, "d", 0);
    add(w, WIRE_RECORD_IN_EOF, 140, NULL, 0);
    done_writing(w);
    uint64_t times[4] = {0};
    struct rec_log log = {0};
    struct done d = {0};
    log.on_data = note_time;
    log.user = times;
    uint64_t start = mono_ms();
    replay(path, rec_new(&log), WIRE_REPLAY_RECORDED, scale, false, &d);
    run_until(log_destroyed, &log);
    ck_assert_str_eq(rec_marks(&log), "a|b|c|d|");
    /* Lower bounds only: a gap is never shorter than recorded (less one
     * tick of the loop's coarse timer clock). */
    double s = scale;
    ck_assert_uint_ge(times[0] - start + UNIT_TIMER_SLACK_MS, (uint64_t)(20 * s));
    ck_assert_uint_ge(times[1] - times[0] + UNIT_TIMER_SLACK_MS, (uint64_t)(40 * s));
    ck_assert_uint_ge(times[2] - times[1] + UNIT_TIMER_SLACK_MS, (uint64_t)(80 * s));
    ck_assert_uint_ge(times[3], times[2]);
    rec_log_free(&log);
}

START_TEST(test_replay_timing)
{
    timed_case(1.0);
    timed_case(0.5);
}
END_TEST

START_TEST(test_replay_fast_ignores_gaps)
{
    /* As fast as possible: gaps of an hour do not matter, each record
     * still takes its own turn. */
    const char *path = tpath("slow.rec");
    struct wire_record_writer *w = writer(path);
    add(w, WIRE_RECORD_IN, 3600000, "a", 0);
    add(w, WIRE_RECORD_IN, 7200000, "b", 0);
    add(w, WIRE_RECORD_END, 9000000, "", 0);
    done_writing(w);
    struct rec_log log = {0};
    struct done d = {0};
    replay(path, rec_new(&log), WIRE_REPLAY_RECORDED, 0, false, &d);
    turns_until_lost(&log);
    ck_assert_str_eq(rec_marks(&log), "a|b|");
    ck_assert(log.lost_null);
    rec_log_free(&log);
}
END_TEST

/* ---- HTTP: record once, replay both ways ---- */

struct cli {
    struct wire_http_client *c;
    struct wire_protocol *p;
    int status;
    char hdrs[1024];
    char *pieces; /* each on_body's bytes, then '|' */
    size_t pieces_len, pieces_cap;
    int done, done_code;
    volatile bool closed;
    bool close_null;
    int close_code;
    char close_msg[1024];
};

static void
c_response(void *arg, struct wire_http_request *r, const struct wire_http_head *h)
{
    struct cli *k = arg;
    (void)r;
    k->status = h->status;
    for (size_t i = 0; i < h->nheaders; i++) {
        size_t l = strlen(k->hdrs);
        snprintf(k->hdrs + l, sizeof(k->hdrs) - l, "%s: %s\n", h->headers[i].name,
                 h->headers[i].value);
    }
}

static void
c_body(void *arg, struct wire_http_request *r, const void *data, size_t len)
{
    struct cli *k = arg;
    (void)r;
    unit_append(&k->pieces, &k->pieces_len, &k->pieces_cap, data, len);
    unit_append(&k->pieces, &k->pieces_len, &k->pieces_cap, "|", 1);
}

static void
c_done(void *arg, struct wire_http_request *r, const struct wire_error *err)
{
    struct cli *k = arg;
    (void)r;
    k->done++;
    k->done_code = err != NULL ? err->code : 0;
    wire_http_client_close(k->c);
}

static void
c_close(void *arg, const struct wire_error *err)
{
    struct cli *k = arg;
    k->close_null = err == NULL;
    k->close_code = err != NULL ? err->code : 0;
    if (err != NULL)
        snprintf(k->close_msg, sizeof(k->close_msg), "%s", err->message);
    k->closed = true;
}

static bool
cli_closed(void *arg)
{
    return ((struct cli *)arg)->closed;
}

static const struct wire_http_response_handler c_handler = {
    .on_response = c_response,
    .on_body = c_body,
    .on_done = c_done,
};

/* A client with one GET `target` queued. */
static void
cli_make(struct cli *k, const char *target)
{
    memset(k, 0, sizeof(*k));
    struct wire_http_client_opts o = {.host = "example.test", .on_close = c_close,
                                      .arg = k};
    struct wire_error err = {0};
    k->p = wire_http_client_new(&o, &k->c, &err);
    ck_assert_ptr_nonnull(k->p);
    struct wire_http_request *r =
        wire_http_request_new(k->c, "GET", target, &c_handler, k, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(wire_http_request_header(r, "X-Test", "record"), 0);
    ck_assert_int_eq(wire_http_request_end(r), 0);
}

static const char http_body[] =
    "Record once, replay as often as you like: the same bytes, cut in the "
    "same places, reach the protocol again, and what it writes back is "
    "checked against what it wrote the first time. 0123456789abcdefghij";

/* A server protocol answering with http_body (fixed Date, so two runs
 * write the same bytes). */
static struct wire_protocol *
server(struct happ *a)
{
    memset(a, 0, sizeof(*a));
    a->mode = HAPP_RESPOND;
    a->body = http_body;
    a->fixed_date = true;
    struct wire_http_service *s = happ_service(a, NULL);
    struct wire_protocol *p = wire_http_server_protocol_new(s);
    ck_assert_ptr_nonnull(p);
    wire_http_service_unref(s);
    return p;
}

static bool
happ_done(void *arg)
{
    return ((struct happ *)arg)->dones > 0;
}

START_TEST(test_http_record_and_replay)
{
    const char *path = tpath("http.rec");
    /* Record: the client, under the record layer, against the server
     * over a memory pair of 64-byte buffers, so the response comes in
     * several pieces. */
    struct cli live;
    struct happ srv;
    struct done rd = {0};
    cli_make(&live, "/hello");
    ck_assert_int_eq(wire_mem_pair(loop, layer(live.p, path, &rd), server(&srv), 64,
                                   NULL, NULL), 0);
    run_until(done_flag, &rd);
    run_until(cli_closed, &live);
    ck_assert_int_eq(rd.code, 0);
    ck_assert_int_eq(live.status, 200);
    ck_assert(live.close_null);
    ck_assert_int_eq(live.done, 1);
    ck_assert_int_eq(live.done_code, 0);
    ck_assert_contains(live.hdrs, "Date: X\n");
    ck_assert_str_eq(happ_log(&srv), "REQ GET /hello 1.1|END|DONE|");
    char *in = chunks_of(path, WIRE_RECORD_IN);
    char *out = chunks_of(path, WIRE_RECORD_OUT);
    ck_assert_contains(out, "GET /hello HTTP/1.1\r\n");
    ck_assert_contains(out, "X-Test: record\r\n");
    /* Several pieces of at most 64 bytes. */
    ck_assert_int_gt((int)(strlen(in) - strlen(http_body)), 4);
    char *s = describe(path, false);
    ck_assert_contains(s, "|CLOSE|END 0 |");
    ck_assert_ptr_null(strstr(s, "IN_EOF"));
    free(s);

    /* (a) A fresh client gets the same response in the same pieces, and
     * its request is checked byte for byte. */
    struct cli again;
    struct done vd = {0};
    cli_make(&again, "/hello");
    replay(path, again.p, WIRE_REPLAY_RECORDED, 0, true, &vd);
    run_until(cli_closed, &again);
    run_until(done_flag, &vd);
    ck_assert_msg(vd.code == 0, "%s", vd.msg);
    ck_assert(again.close_null);
    ck_assert_int_eq(again.status, 200);
    ck_assert_str_eq(again.hdrs, live.hdrs);
    ck_assert_str_eq(again.pieces, live.pieces);
    ck_assert_int_eq(again.done_code, 0);

    /* The chunks themselves, seen by a recording protocol. */
    struct rec_log log = {0};
    struct done ld = {0};
    log.eof_keep = true;
    replay(path, rec_new(&log), WIRE_REPLAY_RECORDED, 0, false, &ld);
    run_until(log_destroyed, &log);
    ck_assert_str_eq(rec_marks(&log), in);
    rec_log_free(&log);

    /* (b) The other side: a fresh server gets the client's request and
     * its response is checked against what the client received. */
    struct happ srv2;
    struct done sd = {0};
    replay(path, server(&srv2), WIRE_REPLAY_PEER, 0, true, &sd);
    run_until(happ_done, &srv2);
    run_until(done_flag, &sd);
    ck_assert_msg(sd.code == 0, "%s", sd.msg);
    ck_assert_str_eq(happ_log(&srv2), happ_log(&srv));

    /* (c) A client that asks for something else is caught at the first
     * byte that differs. */
    struct cli other;
    struct done od = {0};
    cli_make(&other, "/hellp");
    replay(path, other.p, WIRE_REPLAY_RECORDED, 0, true, &od);
    run_until(cli_closed, &other);
    run_until(done_flag, &od);
    ck_assert_int_eq(od.code, WIRE_EPROTO);
    ck_assert_contains(od.msg, "at byte 9 ");
    ck_assert_contains(od.msg, "expected \"o HTTP/1.1\\r\\nX-Te\"");
    ck_assert_contains(od.msg, "got \"p HTTP/1.1\\r\\nX-Te\"");
    ck_assert_int_eq(other.close_code, WIRE_EPROTO);
    ck_assert_contains(other.close_msg, "at byte 9 ");
    ck_assert_int_ne(other.status, 200);

    /* (d) A server that answers differently is caught too. */
    struct happ srv3;
    struct done xd = {0};
    struct wire_protocol *sp3 = server(&srv3);
    srv3.body = "something else";
    replay(path, sp3, WIRE_REPLAY_PEER, 0, true, &xd);
    run_until(done_flag, &xd);
    ck_assert_int_eq(xd.code, WIRE_EPROTO);
    ck_assert_contains(xd.msg, "differs from the recording at byte");

    free(in);
    free(out);
    free(live.pieces);
    free(again.pieces);
    free(other.pieces);
    happ_free(&srv);
    happ_free(&srv2);
    happ_free(&srv3);
}
END_TEST

Suite *
record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *tc = rec_tcase(s, "format");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_writer_refuses_broken_rules);
    tcase_add_test(tc, test_large_chunk_split);
    tcase_add_test(tc, test_writer_errors);

    tc = rec_tcase(s, "bad");
    tcase_add_loop_test(tc, test_bad_files, 0,
                        (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_cut_anywhere);
    tcase_add_test(tc, test_replay_bad_arguments);

    tc = rec_tcase(s, "layer");
    tcase_add_test(tc, test_layer_transparent);
    tcase_add_test(tc, test_layer_flow_control);
    tcase_add_test(tc, test_layer_abort);
    tcase_add_test(tc, test_layer_string_transport);
    tcase_add_test(tc, test_layer_file_error_keeps_connection);
    tcase_add_test(tc, test_layer_open_error);
    tcase_add_test(tc, test_layer_never_started);

    tc = rec_tcase(s, "replay");
    tcase_add_test(tc, test_replay_chunks);
    tcase_add_test(tc, test_replay_end_with_error);
    tcase_add_test(tc, test_replay_peer_side);
    tcase_add_test(tc, test_replay_pause);
    tcase_add_test(tc, test_replay_get_buffer);
    tcase_add_test(tc, test_replay_close_from_callbacks);
    tcase_add_loop_test(tc, test_replay_verify, 0,
                        (int)(sizeof(verify_cases) / sizeof(verify_cases[0])));
    tcase_add_test(tc, test_replay_verify_eof_not_recorded);
    tcase_add_test(tc, test_replay_timing);
    tcase_add_test(tc, test_replay_fast_ignores_gaps);

    tc = rec_tcase(s, "http");
    tcase_add_test(tc, test_http_record_and_replay);
    return s;
}
