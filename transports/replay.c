/*
 * Record and replay (<wire/record.h>), part 3: the replay transport.
 *
 * It reads the whole recording first (a bad file never starts), then
 * plays one side of it from the loop: one record per turn, or at the
 * recorded gaps on a timer, and compares what the protocol writes with
 * the other side's records as one byte stream.
 */
#include "record_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- replay ---- */

/* What a record is to the replayed protocol. */
enum act { ACT_SKIP, ACT_DATA, ACT_EOF, ACT_RESET, ACT_END };

struct replay_rec {
    int kind, code;
    uint64_t time, offset;
    const unsigned char *data;
    size_t len;
};

/* Where each of the expected output's records starts: stream offset to
 * file offset, for messages. */
struct replay_mark {
    uint64_t at, offset;
};

struct replay {
    struct wire_transport base; /* first */
    struct wire_record_reader *reader; /* owns the file's bytes */
    struct replay_rec *recs;
    size_t nrecs, cur;
    struct wire_replay_opts opts;
    char *path, *peer, *local;
    /* the output the protocol should write */
    unsigned char *expect;
    size_t expect_len, pos;
    struct replay_mark *marks;
    size_t nmarks;
    bool expect_eof;
    struct wire_error verdict; /* code != 0: the output differed */
    /* delivery */
    struct wire_protocol *pending; /* until started */
    struct wire_soon start_node, step_node;
    struct wire_timer *timer;
    bool reading, eof_done;
    size_t rec_off; /* bytes of the current record delivered (a protocol
                     * with get_buffer that paused in the middle of it) */
    uint64_t last_real, last_time; /* the previous delivery: when, and its
                                    * recorded time */
};

static struct replay *
replay_of(struct wire_transport *t)
{
    return (struct replay *)t;
}

static enum act
act_of(const struct replay *r, const struct replay_rec *rec)
{
    bool peer = r->opts.side == WIRE_REPLAY_PEER;
    switch (rec->kind) {
    case WIRE_RECORD_IN:
        return peer ? ACT_SKIP : ACT_DATA;
    case WIRE_RECORD_IN_EOF:
        return peer ? ACT_SKIP : ACT_EOF;
    case WIRE_RECORD_OUT:
        return peer ? ACT_DATA : ACT_SKIP;
    case WIRE_RECORD_OUT_EOF:
    case WIRE_RECORD_CLOSE:
        /* Closing ends the output: its peer sees EOF (once). */
        return peer && !r->eof_done ? ACT_EOF : ACT_SKIP;
    case WIRE_RECORD_ABORT:
        return peer ? ACT_RESET : ACT_SKIP;
    case WIRE_RECORD_END:
        return ACT_END;
    default:
        return ACT_SKIP;
    }
}

/* Up to 16 bytes of `p` as a C string literal's inside, into `out`. */
static const char *
escape(const unsigned char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (n > 16)
        n = 16;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else if (c == '\r' || c == '\n')
            o += (size_t)snprintf(out + o, cap - o, "\\%c", c == '\r' ? 'r' : 'n');
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

/* The file offset of the record that holds expected byte `at`. */
static uint64_t
mark_of(const struct replay *r, uint64_t at)
{
    uint64_t off = 0;
    for (size_t i = 0; i < r->nmarks && r->marks[i].at <= at; i++)
        off = r->marks[i].offset;
    return off;
}

/* The output differs: remember why, and end the replay with it. */
static void
mismatch(struct replay *r, const char *fmt, ...) WIRE_PRINTF(2, 3);

static void
mismatch(struct replay *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wire_error_setv(&r->verdict, WIRE_EPROTO, fmt, ap);
    va_end(ap);
    wire_impl_fail(&r->base, WIRE_EPROTO, "%s", r->verdict.message);
}

static ssize_t
replay_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    struct replay *r = replay_of(t);
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        const unsigned char *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        if (r->opts.verify && r->verdict.code == 0) {
            char want[80], got[80];
            size_t same = 0, room = r->expect_len - r->pos;
            while (same < n && same < room && p[same] == r->expect[r->pos + same])
                same++;
            if (same < n && same == room) {
                mismatch(r, "replay of '%s': the output goes past the "
                         "recording at byte %zu (%zu bytes recorded): got "
                         "\"%s\"", r->path, r->pos + same, r->expect_len,
                         escape(p + same, n - same, got, sizeof(got)));
                return WIRE_EPROTO;
            }
            if (same < n) {
                size_t at = r->pos + same;
                mismatch(r, "replay of '%s': the output differs from the "
                         "recording at byte %zu (in the record at offset "
                         "%llu): expected \"%s\", got \"%s\"", r->path, at,
                         (unsigned long long)mark_of(r, at),
                         escape(r->expect + at, r->expect_len - at, want,
                                sizeof(want)),
                         escape(p + same, n - same, got, sizeof(got)));
                return WIRE_EPROTO;
            }
        }
        r->pos += n;
        total += n;
    }
    return (ssize_t)total;
}

static int
replay_shutdown_write(struct wire_transport *t)
{
    struct replay *r = replay_of(t);
    if (!r->opts.verify || r->verdict.code != 0)
        return 0;
    char want[80];
    if (r->pos < r->expect_len) {
        mismatch(r, "replay of '%s': write_eof after %zu bytes of output; the "
                 "recording goes on (%zu bytes) with \"%s\"", r->path, r->pos,
                 r->expect_len, escape(r->expect + r->pos, r->expect_len - r->pos,
                                       want, sizeof(want)));
        return WIRE_EPROTO;
    }
    if (!r->expect_eof) {
        mismatch(r, "replay of '%s': write_eof, which the recording does not "
                 "have", r->path);
        return WIRE_EPROTO;
    }
    return 0;
}

static void
replay_close(struct wire_transport *t, bool abort)
{
    struct replay *r = replay_of(t);
    (void)abort;
    r->reading = false;
    if (r->timer != NULL)
        wire_timer_stop(r->timer);
    if (!r->opts.verify || r->verdict.code != 0 || r->pos >= r->expect_len)
        return;
    /* Output recorded and never written: the loss says so (added to its
     * own cause, if it has one). */
    char want[80];
    wire_error_set(&r->verdict, WIRE_EPROTO, "replay of '%s': the connection "
                   "ended after %zu of the %zu bytes of output recorded; "
                   "expected next \"%s\" (in the record at offset %llu)",
                   r->path, r->pos, r->expect_len,
                   escape(r->expect + r->pos, r->expect_len - r->pos, want,
                          sizeof(want)),
                   (unsigned long long)mark_of(r, r->pos));
    wire_impl_hold_loss(t);
    wire_impl_release_loss(t, &r->verdict);
}

static void step_schedule(struct replay *r);

static void
replay_read_start(struct wire_transport *t)
{
    struct replay *r = replay_of(t);
    r->reading = true;
    step_schedule(r);
}

static void
replay_read_stop(struct wire_transport *t)
{
    replay_of(t)->reading = false;
}

static int
replay_get_info(struct wire_transport *t, int key, void *out, size_t len)
{
    struct replay *r = replay_of(t);
    bool peer_side = r->opts.side == WIRE_REPLAY_PEER;
    const char *v;
    if (key == WIRE_INFO_PEER)
        v = peer_side ? r->local : r->peer;
    else if (key == WIRE_INFO_LOCAL)
        v = peer_side ? r->peer : r->local;
    else
        return WIRE_ENOTSUP;
    if (v != NULL)
        return wire_impl_info_string(out, len, v);
    char buf[600];
    snprintf(buf, sizeof(buf), "replay:%s", r->path);
    return wire_impl_info_string(out, len, buf);
}

static void
replay_free(struct wire_transport *t)
{
    struct replay *r = replay_of(t);
    if (r->opts.on_done != NULL)
        r->opts.on_done(r->opts.arg, r->verdict.code != 0 ? &r->verdict : NULL);
    wire_error_clear(&r->verdict);
    wire_timer_free(r->timer);
    wire_record_reader_free(r->reader);
    free(r->recs);
    free(r->expect);
    free(r->marks);
    free(r->path);
    free(r->peer);
    free(r->local);
    free(r);
}

static const struct wire_transport_ops replay_ops = {
    .name = "replay",
    .caps = WIRE_CAP_HALF_CLOSE | WIRE_CAP_EOF,
    .read_start = replay_read_start,
    .read_stop = replay_read_stop,
    .write = replay_write,
    .shutdown_write = replay_shutdown_write,
    .close = replay_close,
    .get_info = replay_get_info,
    .free = replay_free,
};

/* Deliver a record's bytes: as one data_received, or, to a protocol with
 * get_buffer, through its buffers (several in a row when they are
 * smaller; never one spanning two records).  Returns false when the
 * protocol paused before it got them all: the rest waits for resume. */
static bool
deliver(struct replay *r, const struct replay_rec *rec)
{
    struct wire_transport *t = &r->base;
    if (t->protocol->ops->get_buffer == NULL) {
        wire_impl_data(t, rec->data, rec->len);
        return true;
    }
    while (r->rec_off < rec->len) {
        if (!r->reading || !wire_impl_is_active(t))
            return false;
        size_t len = 0;
        void *buf = wire_impl_read_buffer(t, &len);
        if (buf == NULL || len == 0) {
            wire_impl_fail(t, WIRE_ENOMEM, "replay of '%s': no buffer to "
                           "read into", r->path);
            return false;
        }
        size_t n = rec->len - r->rec_off < len ? rec->len - r->rec_off : len;
        memcpy(buf, rec->data + r->rec_off, n);
        r->rec_off += n;
        wire_impl_read_done(t, buf, n);
    }
    r->rec_off = 0;
    return true;
}

/* Play the next record the protocol gets, if it is due and wanted. */
static void
replay_step(struct replay *r)
{
    struct wire_transport *t = &r->base;
    if (!wire_impl_is_active(t))
        return;
    while (r->cur < r->nrecs && act_of(r, &r->recs[r->cur]) == ACT_SKIP)
        r->cur++;
    if (r->cur == r->nrecs) {
        wire_impl_lost(t, NULL); /* no END: a clean end */
        return;
    }
    const struct replay_rec *rec = &r->recs[r->cur];
    enum act a = act_of(r, rec);
    /* Bytes and EOF wait for a reader; the end does not (a reset reaches
     * a paused protocol too), and it is what follows an EOF. */
    if ((a == ACT_DATA || a == ACT_EOF) && !r->reading)
        return;
    /* The rest of a record cut by a pause is not due again. */
    if (r->rec_off == 0) {
        uint64_t now = wire__rec_now_us(CLOCK_MONOTONIC);
        if (r->opts.time_scale > 0) {
            double gap = (double)(rec->time - r->last_time) * r->opts.time_scale;
            uint64_t due = r->last_real + (uint64_t)gap;
            if (now < due) {
                /* Round up: the timer's clock is coarse, and a record is
                 * never played early. */
                wire_timer_start(r->timer, (due - now + 999) / 1000, 0);
                return;
            }
        }
        r->last_real = now;
        r->last_time = rec->time;
    }
    if (a == ACT_DATA && !deliver(r, rec))
        return;
    r->cur++;
    switch (a) {
    case ACT_DATA:
        break;
    case ACT_EOF:
        r->eof_done = true;
        wire_impl_eof(t);
        break;
    case ACT_RESET:
        wire_impl_fail(t, -ECONNRESET, "replay of '%s': the recorded side "
                       "aborted the connection (the record at offset %llu)",
                       r->path, (unsigned long long)rec->offset);
        break;
    case ACT_END:
        if (r->opts.side == WIRE_REPLAY_RECORDED && rec->code != 0 && rec->len > 0)
            wire_impl_fail(t, rec->code, "%.*s", (int)rec->len,
                           (const char *)rec->data);
        else if (r->opts.side == WIRE_REPLAY_RECORDED && rec->code != 0)
            wire_impl_fail(t, rec->code, "%s", wire_strerror(rec->code));
        else
            wire_impl_lost(t, NULL);
        break;
    case ACT_SKIP:
        break;
    }
    step_schedule(r); /* one record per turn */
}

static void
step_run(struct wire_soon *node)
{
    struct replay *r = wire_container_of(node, struct replay, step_node);
    replay_step(r);
    wire_transport_unref(&r->base);
}

static void
step_timer(void *arg)
{
    struct replay *r = arg;
    wire_transport_ref(&r->base);
    replay_step(r);
    wire_transport_unref(&r->base);
}

/* The next step on the next turn (a timer waiting for a record stays as
 * it is: that step re-checks). */
static void
step_schedule(struct replay *r)
{
    if (r->step_node.queued || !wire_impl_is_active(&r->base) ||
        wire_timer_is_active(r->timer))
        return;
    wire_transport_ref(&r->base); /* released by step_run */
    wire_impl_defer(&r->base, &r->step_node);
}

static void
start_run(struct wire_soon *node)
{
    struct replay *r = wire_container_of(node, struct replay, start_node);
    struct wire_protocol *p = r->pending;
    r->pending = NULL;
    r->last_real = wire__rec_now_us(CLOCK_MONOTONIC);
    wire_impl_start(&r->base, p); /* reads, so the first step is queued */
    step_schedule(r); /* also when it paused at once: an END still comes */
    wire_transport_unref(&r->base);
}

static char *
dup_n(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* Read and check the whole recording; index the records and gather the
 * output the protocol should write. */
static int
replay_load(struct replay *r, struct wire_error *err)
{
    int rc = wire_record_reader_open(r->path, &r->reader, err);
    if (rc < 0)
        return rc;
    int own = r->opts.side == WIRE_REPLAY_PEER ? WIRE_RECORD_IN : WIRE_RECORD_OUT;
    int own_eof = r->opts.side == WIRE_REPLAY_PEER ? WIRE_RECORD_IN_EOF
                                                   : WIRE_RECORD_OUT_EOF;
    size_t cap = 0, mcap = 0, ecap = 0;
    struct wire_record rec;
    while ((rc = wire_record_reader_next(r->reader, &rec, err)) == 1) {
        if (r->nrecs == cap) {
            cap = cap ? cap * 2 : 64;
            struct replay_rec *n = realloc(r->recs, cap * sizeof(*n));
            if (n == NULL)
                goto nomem;
            r->recs = n;
        }
        r->recs[r->nrecs++] = (struct replay_rec){
            .kind = rec.kind, .code = rec.code, .time = rec.time_us,
            .offset = rec.offset, .data = rec.data, .len = rec.len};
        if (rec.kind == own_eof)
            r->expect_eof = true;
        if (rec.kind == WIRE_RECORD_INFO && rec.code == WIRE_INFO_PEER &&
            r->peer == NULL && (r->peer = dup_n(rec.data, rec.len)) == NULL)
            goto nomem;
        if (rec.kind == WIRE_RECORD_INFO && rec.code == WIRE_INFO_LOCAL &&
            r->local == NULL && (r->local = dup_n(rec.data, rec.len)) == NULL)
            goto nomem;
        if (rec.kind != own || rec.len == 0)
            continue;
        if (r->nmarks == mcap) {
            mcap = mcap ? mcap * 2 : 32;
            struct replay_mark *n = realloc(r->marks, mcap * sizeof(*n));
            if (n == NULL)
                goto nomem;
            r->marks = n;
        }
        r->marks[r->nmarks++] = (struct replay_mark){r->expect_len, rec.offset};
        if (r->expect_len + rec.len > ecap) {
            while (r->expect_len + rec.len > ecap)
                ecap = ecap ? ecap * 2 : 4096;
            unsigned char *n = realloc(r->expect, ecap);
            if (n == NULL)
                goto nomem;
            r->expect = n;
        }
        memcpy(r->expect + r->expect_len, rec.data, rec.len);
        r->expect_len += rec.len;
    }
    return rc;
nomem:
    return wire_error_set(err, WIRE_ENOMEM, "out of memory");
}

int
wire_replay_start(struct wire_loop *loop, const char *path,
                  struct wire_protocol *p, const struct wire_replay_opts *opts,
                  struct wire_transport **out, struct wire_error *err)
{
    struct wire_replay_opts o = {0};
    if (opts != NULL)
        o = *opts;
    if (loop == NULL || path == NULL || p == NULL)
        return wire_error_set(err, WIRE_EINVAL, "wire_replay_start: a loop, "
                              "a path and a protocol are required");
    if ((o.side != WIRE_REPLAY_RECORDED && o.side != WIRE_REPLAY_PEER) ||
        !(o.time_scale >= 0))
        return wire_error_set(err, WIRE_EINVAL, "wire_replay_start: bad "
                              "options (side %d, time_scale %g)", (int)o.side,
                              o.time_scale);
    struct replay *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    wire_impl_init(&r->base, &replay_ops, loop);
    r->opts = o;
    r->start_node.fn = start_run;
    r->step_node.fn = step_run;
    int rc = WIRE_ENOMEM;
    if ((r->path = strdup(path)) == NULL ||
        (r->timer = wire_timer_new(loop, step_timer, r)) == NULL) {
        wire_error_set(err, WIRE_ENOMEM, "out of memory");
    } else {
        rc = replay_load(r, err);
    }
    if (rc < 0) {
        /* It never started: nothing to check, nothing to report. */
        r->opts.on_done = NULL;
        r->opts.verify = false;
        wire_impl_discard(&r->base);
        return rc;
    }
    r->pending = p;
    wire_transport_ref(&r->base); /* released by start_run */
    wire__loop_soon(loop, &r->start_node);
    if (out != NULL)
        *out = &r->base;
    return 0;
}
