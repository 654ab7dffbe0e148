/*
 * Fuzz target: the stream reader (<wire/stream.h>) over the string
 * transport, driven by a small program of reads taken from the input.
 *
 * Input: cfg, schedule (fuzz.h), then
 *   section    the program: one byte per operation, run in a cycle (at
 *              most 500): kind = b & 7, a = b >> 3:
 *                0 read(a + 1)          1 read_exactly(a, or more for a >= 28)
 *                2 read_until(the next 1 or 2 program bytes)
 *                3 read_line            4 read_to_eof
 *                5 write a bytes, then drain
 *                6 queue the next two operations at once
 *                7 a & 3: close, abort, write_eof, or stop reading
 *   the rest   the stream
 * cfg bits 2-3: the limit (default, 4, 16, 100); bits 4-5: eof_limit
 * (default, 8, 64, 1000).  The next operation runs from each read's
 * callback, and from the schedule's actions (code & 3: the next
 * operation from outside any callback, close, abort, drain).
 *
 * Invariants: every read's callback runs exactly once (each read owns
 * heap memory its callback frees: a missed one is a leak), never from
 * inside the call that asked for it, in order; the bytes it gets are the
 * next bytes of the stream (read_until's EMSGSIZE leaves them buffered);
 * each kind returns what it promises (at most n, exactly n, up to and
 * including the first separator within the limit, everything up to EOF
 * within eof_limit); the errors are the documented ones; closed comes
 * once, after every read and drain was answered; what was written comes
 * out.
 */
#include "fuzz.h"

#include <wire/stream.h>
#include <wire/string_transport.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPS 500
#define OPS_AFTER_END 16 /* reads that end or fail answer at once */

enum kind { K_SOME, K_EXACT, K_UNTIL, K_EOF };

struct sfuzz {
    struct fuzz_drive drive;
    struct fuzz_in prog;
    size_t pc, ops;
    struct wire_stream *s; /* between open and closed */
    size_t limit, eof_limit;
    size_t consumed;
    unsigned outstanding; /* reads and drains not answered yet */
    unsigned pending_reads;
    bool in_call;         /* inside a wire_stream_* call we made */
    bool opened, closed, destroyed;
    bool stopped;         /* the program said stop */
    bool eof_result;      /* a read ended with the peer's EOF */
    bool closing;         /* we closed or aborted */
    unsigned after_end;   /* operations run since a read saw the end */
    int closed_code;
    struct fuzz_buf written;
};

struct rd {
    struct sfuzz *f;
    enum kind kind;
    size_t n;
    uint8_t sep[2];
    size_t seplen;
};

static void next_op(struct sfuzz *f, int depth);

static uint8_t
prog_byte(struct sfuzz *f)
{
    if (f->prog.n == 0)
        return 0;
    return f->prog.p[f->pc++ % f->prog.n];
}

static void
check_data(struct sfuzz *f, const uint8_t *d, size_t len)
{
    FUZZ_CHECK(f->consumed + len <= f->drive.fed,
               "a read got %zu bytes at offset %zu, only %zu were fed", len,
               f->consumed, f->drive.fed);
    FUZZ_CHECK(len == 0 || d != NULL, "a read with no data");
    FUZZ_CHECK(fuzz_memeq(d, f->drive.stream + f->consumed, len),
               "a read got the wrong bytes at offset %zu", f->consumed);
}

static void
on_read(struct wire_stream *s, const void *data, size_t len,
        const struct wire_error *err, void *arg)
{
    struct rd *r = arg;
    struct sfuzz *f = r->f;
    const uint8_t *d = data;
    FUZZ_CHECK(!f->in_call, "a read answered from inside a wire_stream call");
    FUZZ_CHECK(s == f->s && f->outstanding > 0 && f->pending_reads > 0,
               "a read answered twice or on another stream");
    f->outstanding--;
    f->pending_reads--;
    check_data(f, d, len);
    bool consume = true;
    if (err == NULL) {
        switch (r->kind) {
        case K_SOME:
            FUZZ_CHECK(len <= r->n, "read(%zu) got %zu bytes", r->n, len);
            if (len == 0) {
                FUZZ_CHECK(f->consumed == f->drive.fed,
                           "read() ended early at %zu of %zu", f->consumed,
                           f->drive.fed);
                f->eof_result = true;
            }
            break;
        case K_EXACT:
            FUZZ_CHECK(len == r->n, "read_exactly(%zu) got %zu", r->n, len);
            break;
        case K_UNTIL: {
            FUZZ_CHECK(len >= r->seplen, "read_until got %zu bytes", len);
            const uint8_t *hit = fuzz_memmem(d, len, r->sep, r->seplen);
            FUZZ_CHECK(hit == d + len - r->seplen,
                       "read_until did not stop at the first separator");
            FUZZ_CHECK(len - r->seplen <= f->limit,
                       "read_until's separator starts past the limit");
            break;
        }
        case K_EOF:
            FUZZ_CHECK(f->consumed + len == f->drive.fed,
                       "read_to_eof got %zu bytes at %zu of %zu", len,
                       f->consumed, f->drive.fed);
            FUZZ_CHECK(len <= f->eof_limit, "read_to_eof over eof_limit");
            f->eof_result = true;
            break;
        }
    } else if (err->code == WIRE_EMSGSIZE) {
        consume = false;
        if (r->kind == K_UNTIL) {
            const uint8_t *hit = fuzz_memmem(d, len, r->sep, r->seplen);
            FUZZ_CHECK(hit != NULL ? (size_t)(hit - d) > f->limit
                                   : len >= f->limit + r->seplen,
                       "read_until: EMSGSIZE with %zu bytes, limit %zu", len,
                       f->limit);
        } else {
            FUZZ_CHECK(r->kind == K_EOF && len > f->eof_limit,
                       "EMSGSIZE for a read of kind %d (%zu bytes)", r->kind,
                       len);
        }
    } else {
        FUZZ_CHECK(err->message != NULL, "an error without a message");
        FUZZ_CHECK(err->code == WIRE_EINCOMPLETE || err->code == WIRE_ECLOSED ||
                       err->code == WIRE_EABORTED || err->code == -ECONNRESET,
                   "a read failed with %s", wire_err_name(err->code));
        if (err->code == WIRE_EINCOMPLETE) {
            FUZZ_CHECK(f->consumed + len == f->drive.fed,
                       "EINCOMPLETE at %zu of %zu", f->consumed + len,
                       f->drive.fed);
            f->eof_result = true;
        }
        if (r->kind == K_EXACT)
            FUZZ_CHECK(len < r->n, "read_exactly failed with all its bytes");
        if (r->kind == K_UNTIL)
            FUZZ_CHECK(fuzz_memmem(d, len, r->sep, r->seplen) == NULL,
                       "read_until failed with a separator in its bytes");
    }
    if (consume)
        f->consumed += len;
    if (f->eof_result || err != NULL)
        f->after_end++;
    free(r);
    if (f->s != NULL && !f->closing)
        next_op(f, 0);
}

static void
on_drained(struct wire_stream *s, const struct wire_error *err, void *arg)
{
    struct sfuzz *f = arg;
    FUZZ_CHECK(!f->in_call, "drain answered from inside a wire_stream call");
    FUZZ_CHECK(s == f->s && f->outstanding > 0, "drain answered twice");
    FUZZ_CHECK(err == NULL || err->code < 0, "drain with a bad error");
    f->outstanding--;
}

static void
queue_read(struct sfuzz *f, enum kind kind, size_t n, const uint8_t *sep,
           size_t seplen, bool line)
{
    struct rd *r = calloc(1, sizeof(*r));
    FUZZ_CHECK(r != NULL, "out of memory");
    r->f = f;
    r->kind = kind;
    r->n = n;
    if (seplen > 0)
        memcpy(r->sep, sep, seplen);
    r->seplen = seplen;
    f->in_call = true;
    int rc;
    switch (kind) {
    case K_SOME:
        rc = wire_stream_read(f->s, n, on_read, r);
        break;
    case K_EXACT:
        rc = wire_stream_read_exactly(f->s, n, on_read, r);
        break;
    case K_UNTIL:
        rc = line ? wire_stream_read_line(f->s, on_read, r)
                  : wire_stream_read_until(f->s, sep, seplen, on_read, r);
        break;
    default:
        rc = wire_stream_read_to_eof(f->s, on_read, r);
        break;
    }
    f->in_call = false;
    if (rc == 0) {
        f->outstanding++;
        f->pending_reads++;
    } else {
        FUZZ_CHECK(rc == WIRE_ECLOSED, "a read was refused: %s",
                   wire_err_name(rc));
        free(r);
    }
}

/* Run one operation of the program (two for op 6). */
static void
run_op(struct sfuzz *f, int depth)
{
    if (f->s == NULL || f->stopped || f->ops >= MAX_OPS ||
        f->after_end > OPS_AFTER_END)
        return;
    f->ops++;
    uint8_t b = f->prog.n ? prog_byte(f) : 0;
    unsigned a = b >> 3;
    switch (b & 7) {
    case 0:
        queue_read(f, K_SOME, a + 1, NULL, 0, false);
        break;
    case 1:
        queue_read(f, K_EXACT, a < 28 ? a : (a - 27) * 50, NULL, 0, false);
        break;
    case 2: {
        uint8_t sep[2] = {prog_byte(f), 0};
        size_t seplen = 1;
        if (a & 1)
            sep[seplen++] = prog_byte(f);
        queue_read(f, K_UNTIL, 0, sep, seplen, false);
        break;
    }
    case 3:
        queue_read(f, K_UNTIL, 0, (const uint8_t *)"\n", 1, true);
        break;
    case 4:
        queue_read(f, K_EOF, 0, NULL, 0, false);
        break;
    case 5: {
        uint8_t buf[32];
        for (unsigned i = 0; i < a; i++)
            buf[i] = (uint8_t)('a' + (f->written.len + i) % 26);
        f->in_call = true;
        int rc = wire_stream_write(f->s, buf, a);
        if (rc == 0)
            fuzz_buf_add(&f->written, buf, a);
        else
            FUZZ_CHECK(rc == WIRE_ECLOSED, "write: %s", wire_err_name(rc));
        rc = wire_stream_drain(f->s, on_drained, f);
        f->in_call = false;
        if (rc == 0)
            f->outstanding++;
        else
            FUZZ_CHECK(rc == WIRE_ECLOSED, "drain: %s", wire_err_name(rc));
        next_op(f, depth + 1);
        break;
    }
    case 6:
        if (depth < 4) {
            run_op(f, depth + 1);
            run_op(f, depth + 1);
        }
        break;
    default:
        switch (a & 3) {
        case 0:
            f->closing = true;
            f->in_call = true;
            wire_stream_close(f->s);
            f->in_call = false;
            break;
        case 1:
            f->closing = true;
            f->in_call = true;
            wire_stream_abort(f->s);
            f->in_call = false;
            break;
        case 2: {
            f->in_call = true;
            int rc = wire_stream_write_eof(f->s);
            f->in_call = false;
            FUZZ_CHECK(rc == 0 || rc == WIRE_ECLOSED, "write_eof: %s",
                       wire_err_name(rc));
            next_op(f, depth + 1);
            break;
        }
        default:
            f->stopped = true;
            break;
        }
        break;
    }
}

static void
next_op(struct sfuzz *f, int depth)
{
    /* Operations that queue nothing go straight on to the next one. */
    if (depth < 8)
        run_op(f, depth);
}

static void
on_open(struct wire_stream *s, void *arg)
{
    struct sfuzz *f = arg;
    FUZZ_CHECK(!f->opened, "open twice");
    f->opened = true;
    f->s = s;
    FUZZ_CHECK(wire_stream_transport(s) != NULL, "no transport at open");
    next_op(f, 0);
}

static void
on_closed(struct wire_stream *s, const struct wire_error *err, void *arg)
{
    struct sfuzz *f = arg;
    FUZZ_CHECK(f->opened && !f->closed && s == f->s, "closed out of order");
    FUZZ_CHECK(f->outstanding == 0,
               "closed with %u reads or drains unanswered", f->outstanding);
    f->closed = true;
    f->closed_code = err != NULL ? err->code : 0;
    f->s = NULL;
}

static void
on_destroy(void *arg)
{
    struct sfuzz *f = arg;
    FUZZ_CHECK(!f->destroyed && f->closed == f->opened, "destroy out of order");
    f->destroyed = true;
}

static void
action(void *arg, unsigned code)
{
    struct sfuzz *f = arg;
    if (f->s == NULL)
        return;
    switch (code & 3) {
    case 0:
        if (!f->closing && f->pending_reads == 0)
            run_op(f, 0);
        break;
    case 1:
        f->closing = true;
        f->in_call = true;
        wire_stream_close(f->s);
        f->in_call = false;
        break;
    case 2:
        f->closing = true;
        f->in_call = true;
        wire_stream_abort(f->s);
        f->in_call = false;
        break;
    default: {
        f->in_call = true;
        int rc = wire_stream_drain(f->s, on_drained, f);
        f->in_call = false;
        if (rc == 0)
            f->outstanding++;
        else
            FUZZ_CHECK(rc == WIRE_ECLOSED, "drain: %s", wire_err_name(rc));
        break;
    }
    }
}

static const size_t limits[4] = {0, 4, 16, 100};
static const size_t eof_limits[4] = {0, 8, 64, 1000};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct fuzz_in in = {data, len};
    uint8_t cfg = fuzz_in_byte(&in);
    struct fuzz_in sched = fuzz_in_section(&in);
    struct fuzz_in prog = fuzz_in_section(&in);

    struct sfuzz f;
    memset(&f, 0, sizeof(f));
    f.prog = prog;
    struct wire_stream_opts o = {limits[(cfg >> 2) & 3],
                                 eof_limits[(cfg >> 4) & 3]};
    f.limit = o.limit ? o.limit : WIRE_STREAM_DEFAULT_LIMIT;
    f.eof_limit = o.eof_limit ? o.eof_limit : WIRE_STREAM_DEFAULT_EOF_LIMIT;
    struct wire_stream_handler h = {on_open, on_closed, on_destroy};
    struct wire_protocol *p = wire_stream_new(&o, &h, &f);
    FUZZ_CHECK(p != NULL, "wire_stream_new failed");
    /* Before the transport: the protocol may read from connection_made. */
    fuzz_drive_init(&f.drive, NULL, sched, in, action, &f);
    struct wire_transport *st = wire_string_transport_new(p);
    FUZZ_CHECK(st != NULL && f.opened, "not started");

    f.drive.t = st;
    fuzz_drive_run(&f.drive);
    bool eof = fuzz_drive_end(&f.drive, cfg);
    if (f.eof_result)
        FUZZ_CHECK(eof, "a read ended with EOF, none was fed");

    size_t olen;
    const uint8_t *out = wire_string_transport_output(st, &olen);
    FUZZ_CHECK(olen <= f.written.len && fuzz_memeq(out, f.written.p, olen),
               "the output is not what was written");
    if (!wire_string_transport_aborted(st) && !f.closed)
        FUZZ_CHECK(olen == f.written.len, "%zu of %zu bytes written", olen,
                   f.written.len);

    wire_string_transport_free(st);
    FUZZ_CHECK(f.closed && f.destroyed, "after free: closed %d destroyed %d",
               f.closed, f.destroyed);
    fuzz_buf_free(&f.written);
    return 0;
}
