/*
 * Record and replay (<wire/record.h>), part 1: the recording format's
 * writer and reader.  The record layer is in record_layer.c, the replay
 * transport in replay.c.
 *
 * The writer puts each record in the file with one writev before the call
 * that made it returns, so a recording is readable up to its last whole
 * record at any moment; a failed write cuts the file back to that record
 * and stops the writer.  The reader checks every byte it hands out (the
 * heads, the lengths, the rules between records), so the replay and any
 * tool can trust a record it got.
 */
#include "record_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- common ---- */

uint64_t
wire__rec_now_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void
wire__rec_put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t
get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

const char *
wire_record_kind_name(int kind)
{
    switch (kind) {
    case WIRE_RECORD_IN: return "IN";
    case WIRE_RECORD_OUT: return "OUT";
    case WIRE_RECORD_IN_EOF: return "IN_EOF";
    case WIRE_RECORD_OUT_EOF: return "OUT_EOF";
    case WIRE_RECORD_CLOSE: return "CLOSE";
    case WIRE_RECORD_ABORT: return "ABORT";
    case WIRE_RECORD_END: return "END";
    case WIRE_RECORD_INFO: return "INFO";
    default: return "?";
    }
}

/* The rules between records (record.h), shared by writer and reader. */
struct rules {
    uint64_t last_time;
    bool in_eof, out_done, closed, ended;
};

/* Why `kind` at `time` may not come next, or NULL. */
static const char *
rules_check(const struct rules *r, int kind, uint64_t time)
{
    if (r->ended)
        return "a record after END";
    if (time < r->last_time)
        return "a time before the previous record's";
    switch (kind) {
    case WIRE_RECORD_IN:
        return r->in_eof ? "IN after IN_EOF" : NULL;
    case WIRE_RECORD_IN_EOF:
        return r->in_eof ? "a second IN_EOF" : NULL;
    case WIRE_RECORD_OUT:
    case WIRE_RECORD_OUT_EOF:
        return r->out_done ? "output after OUT_EOF, CLOSE or ABORT" : NULL;
    case WIRE_RECORD_CLOSE:
    case WIRE_RECORD_ABORT:
        return r->closed ? "a second CLOSE or ABORT" : NULL;
    default:
        return NULL;
    }
}

static void
rules_apply(struct rules *r, int kind, uint64_t time)
{
    r->last_time = time;
    if (kind == WIRE_RECORD_IN_EOF)
        r->in_eof = true;
    else if (kind == WIRE_RECORD_OUT_EOF)
        r->out_done = true;
    else if (kind == WIRE_RECORD_CLOSE || kind == WIRE_RECORD_ABORT)
        r->out_done = r->closed = true;
    else if (kind == WIRE_RECORD_END)
        r->ended = true;
}

static bool
kind_valid(int kind)
{
    return kind >= WIRE_RECORD_IN && kind <= WIRE_RECORD_INFO;
}

static bool
kind_empty(int kind)
{
    return kind == WIRE_RECORD_IN_EOF || kind == WIRE_RECORD_OUT_EOF ||
           kind == WIRE_RECORD_CLOSE || kind == WIRE_RECORD_ABORT;
}

/* ---- the writer ---- */

#define END_MSG_MAX 4096 /* an END message or INFO value is cut there */
#define WRITE_IOV 32     /* pieces of one record handed to writev at once */

struct wire_record_writer {
    int fd;
    bool nosigpipe;      /* a pipe, FIFO or socket: SIGPIPE is possible */
    bool regular;        /* cut back to the last whole record on failure */
    uint64_t offset;     /* bytes of the header and whole records */
    struct wire_error failed; /* code != 0: stopped */
    struct rules rules;
    char *name;
};

/* writev without SIGPIPE: block it for this thread, write, take back a
 * SIGPIPE this write raised (not one already pending), restore the mask.
 * The process's disposition is never touched. */
static ssize_t
writev_quiet(struct wire_record_writer *w, const struct iovec *iov, int cnt)
{
    if (!w->nosigpipe)
        return writev(w->fd, iov, cnt);
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    ssize_t n = writev(w->fd, iov, cnt);
    int e = errno;
    if (n < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return n;
}

/* Write all of `iov` (modified in place).  Returns 0 or -errno. */
static int
write_all(struct wire_record_writer *w, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        if (iov[0].iov_len == 0) {
            iov++;
            cnt--;
            continue;
        }
        ssize_t n = writev_quiet(w, iov, cnt < IOV_MAX ? cnt : IOV_MAX);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        if (n == 0)
            return -EIO;
        size_t done = (size_t)n;
        while (cnt > 0 && done >= iov[0].iov_len) {
            done -= iov[0].iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov[0].iov_base = (char *)iov[0].iov_base + done;
            iov[0].iov_len -= done;
        }
    }
    return 0;
}

/* A write failed: cut the file back to its last whole record where we
 * can, and stop for good. */
static int
writer_fail(struct wire_record_writer *w, int code, struct wire_error *err)
{
    if (w->regular && ftruncate(w->fd, (off_t)w->offset) == 0)
        (void)lseek(w->fd, (off_t)w->offset, SEEK_SET);
    wire_error_set(&w->failed, code, "recording '%s': cannot write at offset "
                   "%llu: %s", w->name, (unsigned long long)w->offset,
                   wire_strerror(code));
    wire_error_copy(err, &w->failed);
    return code;
}

/* One record of `len` bytes taken from `iov` (from piece `*idx`, byte
 * `*skip` on; both advanced past it), after the head. */
static int
write_record(struct wire_record_writer *w, int kind, uint64_t time,
             const unsigned char *pre, size_t pre_len, const struct iovec *iov,
             int iovcnt, int *idx, size_t *skip, size_t len,
             struct wire_error *err)
{
    unsigned char head[WIRE_RECORD_HEAD_SIZE] = {0};
    head[0] = (unsigned char)kind;
    wire__rec_put_be(head + 4, pre_len + len, 4);
    wire__rec_put_be(head + 8, time, 8);
    struct iovec small[WRITE_IOV];
    struct iovec *v = small;
    int cap = iovcnt + 2;
    if (cap > WRITE_IOV && (v = malloc(sizeof(*v) * (size_t)cap)) == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    int n = 0;
    v[n++] = (struct iovec){head, sizeof(head)};
    if (pre_len > 0)
        v[n++] = (struct iovec){(void *)(uintptr_t)pre, pre_len};
    size_t left = len;
    while (left > 0 && *idx < iovcnt) {
        size_t avail = iov[*idx].iov_len - *skip;
        size_t take = avail < left ? avail : left;
        if (take > 0)
            v[n++] = (struct iovec){(char *)iov[*idx].iov_base + *skip, take};
        left -= take;
        *skip += take;
        if (*skip == iov[*idx].iov_len) {
            (*idx)++;
            *skip = 0;
        }
    }
    int rc = write_all(w, v, n);
    if (v != small)
        free(v);
    if (rc < 0)
        return writer_fail(w, rc, err);
    w->offset += sizeof(head) + pre_len + len;
    return 0;
}

/* Append `kind` with the bytes of `iov` (`total` of them) after `pre`
 * (END's code, INFO's key).  A payload over the limit is several
 * records. */
int
wire__rec_writer_put(struct wire_record_writer *w, int kind, uint64_t time,
                     const unsigned char *pre, size_t pre_len,
                     const struct iovec *iov, int iovcnt, size_t total,
                     struct wire_error *err)
{
    if (w->failed.code != 0) {
        wire_error_copy(err, &w->failed);
        return w->failed.code;
    }
    const char *why = !kind_valid(kind) ? "no such kind"
                      : kind_empty(kind) && total > 0 ? "this kind carries no bytes"
                      : rules_check(&w->rules, kind, time);
    if (why != NULL)
        return wire_error_set(err, WIRE_EINVAL, "recording '%s': cannot add "
                              "a %s record (kind %d) at %llu us: %s", w->name,
                              wire_record_kind_name(kind), kind,
                              (unsigned long long)time, why);
    if (pre_len > 0 && total > END_MSG_MAX)
        total = END_MSG_MAX; /* a message or a value: never split */
    int idx = 0;
    size_t skip = 0, left = total;
    do {
        size_t len = left < WIRE_RECORD_MAX_LEN - pre_len ? left
                                                          : WIRE_RECORD_MAX_LEN - pre_len;
        int rc = write_record(w, kind, time, pre, pre_len, iov, iovcnt, &idx,
                              &skip, len, err);
        if (rc < 0)
            return rc;
        left -= len;
    } while (left > 0);
    rules_apply(&w->rules, kind, time);
    return 0;
}

static int
writer_make(int fd, const char *name, struct wire_record_writer **out,
            struct wire_error *err)
{
    struct wire_record_writer *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->name = strdup(name)) == NULL) {
        free(w);
        close(fd);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    w->fd = fd;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        w->regular = S_ISREG(st.st_mode);
        w->nosigpipe = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
    }
    unsigned char h[WIRE_RECORD_HEADER_SIZE] = {0};
    memcpy(h, WIRE_RECORD_MAGIC, 8);
    wire__rec_put_be(h + 8, WIRE_RECORD_VERSION, 2);
    wire__rec_put_be(h + 12, wire__rec_now_us(CLOCK_REALTIME), 8);
    struct iovec v = {h, sizeof(h)};
    int rc = write_all(w, &v, 1);
    if (rc < 0) {
        wire_error_set(err, rc, "recording '%s': cannot write the header: %s",
                       name, wire_strerror(rc));
        close(fd);
        free(w->name);
        free(w);
        return rc;
    }
    w->offset = sizeof(h);
    *out = w;
    return 0;
}

int
wire_record_writer_open(const char *path, struct wire_record_writer **out,
                        struct wire_error *err)
{
    if (path == NULL || out == NULL)
        return wire_error_set(err, WIRE_EINVAL, "wire_record_writer_open: "
                              "a path is required");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY |
                  O_NONBLOCK, 0666);
    if (fd < 0) {
        int e = errno;
        return wire_error_set(err, -e, "recording '%s': cannot open: %s", path,
                              strerror(e));
    }
    return writer_make(fd, path, out, err);
}

int
wire_record_writer_open_fd(int fd, struct wire_record_writer **out,
                           struct wire_error *err)
{
    if (fd < 0 || out == NULL) {
        if (fd >= 0)
            close(fd);
        return wire_error_set(err, WIRE_EINVAL, "wire_record_writer_open_fd: "
                              "a descriptor is required");
    }
    char name[32];
    snprintf(name, sizeof(name), "fd:%d", fd);
    return writer_make(fd, name, out, err);
}

int
wire_record_writer_add(struct wire_record_writer *w, const struct wire_record *rec,
                       struct wire_error *err)
{
    if (w == NULL || rec == NULL || (rec->len > 0 && rec->data == NULL))
        return wire_error_set(err, WIRE_EINVAL, "wire_record_writer_add: "
                              "a writer and a record are required");
    unsigned char pre[4];
    size_t pre_len = 0, len = rec->len;
    if (rec->kind == WIRE_RECORD_END || rec->kind == WIRE_RECORD_INFO) {
        if (rec->kind == WIRE_RECORD_INFO && rec->code <= 0)
            return wire_error_set(err, WIRE_EINVAL, "recording '%s': an INFO "
                                  "record needs a wire_info key", w->name);
        if (rec->kind == WIRE_RECORD_END && rec->code > 0)
            return wire_error_set(err, WIRE_EINVAL, "recording '%s': an END "
                                  "code is 0 or negative", w->name);
        wire__rec_put_be(pre, (uint32_t)rec->code, 4);
        pre_len = 4;
    }
    struct iovec v = {(void *)(uintptr_t)rec->data, len};
    return wire__rec_writer_put(w, rec->kind, rec->time_us, pre, pre_len, &v, 1,
                                len, err);
}

uint64_t
wire_record_writer_offset(const struct wire_record_writer *w)
{
    return w != NULL ? w->offset : 0;
}

int
wire_record_writer_close(struct wire_record_writer *w, struct wire_error *err)
{
    if (w == NULL)
        return 0;
    int rc = w->failed.code;
    if (rc != 0)
        wire_error_copy(err, &w->failed);
    if (close(w->fd) < 0 && rc == 0) {
        rc = -errno;
        wire_error_set(err, rc, "recording '%s': close: %s", w->name,
                       wire_strerror(rc));
    }
    wire_error_clear(&w->failed);
    free(w->name);
    free(w);
    return rc;
}

/* ---- the reader ---- */

struct wire_record_reader {
    const unsigned char *buf;
    size_t len, pos;
    unsigned char *owned; /* the file's bytes, when read from a path */
    char *name;
    uint64_t created;
    struct rules rules;
    struct wire_error failed; /* sticky */
};

static int
reader_fail(struct wire_record_reader *r, struct wire_error *err,
            const char *fmt, ...) WIRE_PRINTF(3, 4);

static int
reader_fail(struct wire_record_reader *r, struct wire_error *err,
            const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    wire_error_set(&r->failed, WIRE_EPROTO, "recording '%s': %s", r->name, msg);
    wire_error_copy(err, &r->failed);
    return WIRE_EPROTO;
}

static void
reader_free_fields(struct wire_record_reader *r)
{
    wire_error_clear(&r->failed);
    free(r->owned);
    free(r->name);
    free(r);
}

static int
reader_make(const void *data, size_t len, unsigned char *owned,
            const char *name, struct wire_record_reader **out,
            struct wire_error *err)
{
    struct wire_record_reader *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->name = strdup(name)) == NULL) {
        free(r);
        free(owned);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    r->buf = data;
    r->len = len;
    r->owned = owned;
    int rc = 0;
    if (memcmp(r->buf, WIRE_RECORD_MAGIC, len < 8 ? len : 8) != 0)
        rc = reader_fail(r, err, "not a libwire recording (bad magic at "
                         "offset 0)");
    else if (len < WIRE_RECORD_HEADER_SIZE)
        rc = reader_fail(r, err, "truncated: the header needs %d bytes, the "
                         "file has %zu", WIRE_RECORD_HEADER_SIZE, len);
    else if (get_be(r->buf + 8, 2) != WIRE_RECORD_VERSION)
        rc = reader_fail(r, err, "unsupported version %u at offset 8 (this "
                         "library reads version %d)",
                         (unsigned)get_be(r->buf + 8, 2), WIRE_RECORD_VERSION);
    else if (get_be(r->buf + 10, 2) != 0)
        rc = reader_fail(r, err, "non-zero reserved bytes at offset 10");
    if (rc < 0) {
        reader_free_fields(r);
        return rc;
    }
    r->created = get_be(r->buf + 12, 8);
    r->pos = WIRE_RECORD_HEADER_SIZE;
    *out = r;
    return 0;
}

int
wire_record_reader_new(const void *data, size_t len,
                       struct wire_record_reader **out, struct wire_error *err)
{
    if (out == NULL || (data == NULL && len > 0))
        return wire_error_set(err, WIRE_EINVAL, "wire_record_reader_new: "
                              "bytes are required");
    return reader_make(data != NULL ? data : "", len, NULL, "(memory)", out, err);
}

/* Read all of `path`.  Returns 0 with a malloc'd buffer, or -errno. */
static int
slurp(const char *path, unsigned char **out, size_t *outlen,
      struct wire_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return wire_error_set(err, -e, "recording '%s': cannot open: %s", path,
                              strerror(e));
    }
    size_t len = 0, cap = 0;
    unsigned char *buf = NULL;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 64 * 1024;
            unsigned char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                close(fd);
                return wire_error_set(err, WIRE_ENOMEM, "out of memory");
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return wire_error_set(err, -e, "recording '%s': cannot read: %s",
                                  path, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    *out = buf;
    *outlen = len;
    return 0;
}

int
wire_record_reader_open(const char *path, struct wire_record_reader **out,
                        struct wire_error *err)
{
    if (path == NULL || out == NULL)
        return wire_error_set(err, WIRE_EINVAL, "wire_record_reader_open: "
                              "a path is required");
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = slurp(path, &buf, &len, err);
    if (rc < 0)
        return rc;
    return reader_make(buf, len, buf, path, out, err);
}

uint64_t
wire_record_reader_created(const struct wire_record_reader *r)
{
    return r != NULL ? r->created : 0;
}

int
wire_record_reader_next(struct wire_record_reader *r, struct wire_record *rec,
                        struct wire_error *err)
{
    if (r == NULL || rec == NULL)
        return wire_error_set(err, WIRE_EINVAL, "wire_record_reader_next: "
                              "a reader and a record are required");
    if (r->failed.code != 0) {
        wire_error_copy(err, &r->failed);
        return r->failed.code;
    }
    size_t at = r->pos, left = r->len - at;
    unsigned long long off = (unsigned long long)at;
    if (left == 0)
        return 0;
    if (left < WIRE_RECORD_HEAD_SIZE)
        return reader_fail(r, err, "truncated record at offset %llu: %zu of "
                           "the %d bytes of its head", off, left,
                           WIRE_RECORD_HEAD_SIZE);
    const unsigned char *h = r->buf + at;
    int kind = h[0];
    uint64_t len = get_be(h + 4, 4), time = get_be(h + 8, 8);
    if (!kind_valid(kind))
        return reader_fail(r, err, "unknown record kind %d at offset %llu",
                           kind, off);
    if (h[1] != 0 || h[2] != 0 || h[3] != 0)
        return reader_fail(r, err, "non-zero reserved bytes in the record at "
                           "offset %llu", off);
    if (len > WIRE_RECORD_MAX_LEN)
        return reader_fail(r, err, "the record at offset %llu is too long "
                           "(%llu bytes; at most %zu)", off,
                           (unsigned long long)len, WIRE_RECORD_MAX_LEN);
    if (len > left - WIRE_RECORD_HEAD_SIZE)
        return reader_fail(r, err, "truncated record at offset %llu: %llu "
                           "bytes announced, %zu present", off,
                           (unsigned long long)len, left - WIRE_RECORD_HEAD_SIZE);
    if (kind_empty(kind) && len > 0)
        return reader_fail(r, err, "the %s record at offset %llu carries %llu "
                           "bytes (it carries none)", wire_record_kind_name(kind),
                           off, (unsigned long long)len);
    const char *why = rules_check(&r->rules, kind, time);
    if (why != NULL)
        return reader_fail(r, err, "the %s record at offset %llu breaks the "
                           "rules: %s", wire_record_kind_name(kind), off, why);
    const unsigned char *p = h + WIRE_RECORD_HEAD_SIZE;
    memset(rec, 0, sizeof(*rec));
    rec->kind = kind;
    rec->time_us = time;
    rec->offset = at;
    rec->data = p;
    rec->len = (size_t)len;
    if (kind == WIRE_RECORD_END || kind == WIRE_RECORD_INFO) {
        if (len < 4)
            return reader_fail(r, err, "the %s record at offset %llu is too "
                               "short (%llu bytes; at least 4)",
                               wire_record_kind_name(kind), off,
                               (unsigned long long)len);
        int32_t code = (int32_t)(uint32_t)get_be(p, 4);
        if ((kind == WIRE_RECORD_END && code > 0) ||
            (kind == WIRE_RECORD_INFO && code <= 0))
            return reader_fail(r, err, "the %s record at offset %llu has a bad "
                               "%s (%ld)", wire_record_kind_name(kind), off,
                               kind == WIRE_RECORD_END ? "code" : "key",
                               (long)code);
        rec->code = code;
        rec->data = p + 4;
        rec->len = (size_t)len - 4;
    }
    rules_apply(&r->rules, kind, time);
    r->pos = at + WIRE_RECORD_HEAD_SIZE + (size_t)len;
    return 1;
}

void
wire_record_reader_free(struct wire_record_reader *r)
{
    if (r != NULL)
        reader_free_fields(r);
}

const char *
wire__rec_writer_name(const struct wire_record_writer *w)
{
    return w->name;
}
