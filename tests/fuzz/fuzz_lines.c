/*
 * Fuzz target: the chunk layer and its lines form (<wire/framing.h>),
 * over the string transport.
 *
 * Input: cfg, schedule (fuzz.h), then
 *   opts byte  bit 0 strip '\r' (lines: accept "\r\n"), bit 1 lines write
 *              "\r\n", bit 2 partial chunk at EOF is a message, bit 3 the
 *              callback form (wire_chunk_protocol_new) instead of a layer
 *              under a protocol, bits 4-5 the maximum length (default, 3,
 *              8, 32), bit 6 echo every message back, bit 7 eof_received
 *              keeps the connection open
 *   section    the delimiter (chunk with a delimiter of its own)
 *   section    payloads for the writes the schedule asks for
 *   the rest   the stream
 * cfg bits 2-3: lines, chunk with the default delimiter, chunk with the
 * delimiter section (2 and 3).
 * cfg bits 4-5: the read path (fuzz_read_path: bit 4 reads as
 * data_received only, through a fault layer with every fault off, else
 * into the layer's own buffers where it offers them; bit 5 a long stream,
 * for messages larger than a read).
 *
 * Schedule actions (code & 7): pause reading, resume reading, write a
 * payload (from the payload section, as up to three iovecs, or by
 * write_ref), close, abort, write_eof, pause both ways, resume.  A
 * message whose first byte is 0x01 runs the action its second byte names
 * from inside data_received.
 *
 * Invariants: the messages are exactly those a whole-input scanner finds
 * in what was fed (leftmost delimiter, one '\r' stripped, the same
 * limit), in order; the end is the right one (clean EOF, EMSGSIZE at the
 * first over-long message, EINCOMPLETE for a partial chunk at EOF); what
 * was written comes out framed, and a write is accepted exactly when the
 * peer would read it back as that one message.
 */
#include "fuzz.h"

#include <wire/framing.h>
#include <wire/string_transport.h>

#include <stdlib.h>
#include <string.h>

struct lines_fuzz {
    struct fuzz_rec rec;
    struct fuzz_drive drive;
    struct fuzz_in payloads;
    const uint8_t *delim;
    size_t dlen;
    const uint8_t *wdelim;
    size_t wdlen;
    bool strip;
    bool symmetric; /* a peer with our options reads our writes back */
    bool echo;
    bool disturbed;  /* we closed or aborted: the input stops early */
    bool paused_r, paused_all;
    struct fuzz_buf expect_out; /* what the accepted writes must produce */
    int nested;
};

/* Split like a whole-input scanner: leftmost delimiter, then on after it.
 * Returns the length of the unterminated tail. */
static size_t
ref_split(const uint8_t *d, size_t n, const uint8_t *delim, size_t dl,
          bool strip, struct fuzz_msgs *out)
{
    size_t pos = 0;
    for (;;) {
        const uint8_t *hit = fuzz_memmem(d + pos, n - pos, delim, dl);
        if (hit == NULL)
            break;
        size_t m = (size_t)(hit - (d + pos));
        size_t mm = strip && m > 0 && d[pos + m - 1] == '\r' ? m - 1 : m;
        fuzz_msgs_add(out, d + pos, mm);
        pos += m + dl;
    }
    return n - pos;
}

/* Would a peer with our options read `p` + the write delimiter back as
 * exactly the message `p`? */
static bool
reads_back(const struct lines_fuzz *f, const uint8_t *p, size_t n)
{
    struct fuzz_buf b = {0};
    struct fuzz_msgs m = {0};
    fuzz_buf_add(&b, p, n);
    fuzz_buf_add(&b, f->wdelim, f->wdlen);
    size_t tail = ref_split(b.p, b.len, f->delim, f->dlen, f->strip, &m);
    size_t mlen = 0;
    const uint8_t *m0 = m.n == 1 ? fuzz_msgs_get(&m, 0, &mlen) : NULL;
    bool ok = tail == 0 && m.n == 1 && mlen == n && fuzz_memeq(m0, p, n);
    fuzz_msgs_free(&m);
    fuzz_buf_free(&b);
    return ok;
}

static void
free_copy(void *arg, const void *data, size_t len)
{
    (void)data;
    (void)len;
    free(arg);
}

/* Write `iov` as one message and check the answer. */
static void
write_msg(struct lines_fuzz *f, const struct iovec *iov, int iovcnt, bool ref)
{
    struct wire_transport *t = f->rec.t;
    struct fuzz_buf all = {0};
    for (int i = 0; i < iovcnt; i++)
        fuzz_buf_add(&all, iov[i].iov_base, iov[i].iov_len);
    int rc;
    if (ref) {
        void *copy = malloc(all.len ? all.len : 1);
        FUZZ_CHECK(copy != NULL, "out of memory");
        if (all.len > 0)
            memcpy(copy, all.p, all.len);
        rc = wire_transport_write_ref(t, copy, all.len, free_copy, copy);
        if (rc != 0)
            free(copy); /* on error the data stays ours */
    } else if (iovcnt == 1) {
        rc = wire_chunk_write(t, iov[0].iov_base, iov[0].iov_len);
    } else {
        rc = wire_transport_write_sequence(t, iov, iovcnt);
    }
    if (rc == 0) {
        fuzz_buf_add(&f->expect_out, all.p, all.len);
        fuzz_buf_add(&f->expect_out, f->wdelim, f->wdlen);
        if (f->symmetric)
            FUZZ_CHECK(reads_back(f, all.p, all.len),
                       "a %zu-byte write was accepted that the peer would "
                       "not read back as one message", all.len);
    } else if (rc == WIRE_EINVAL) {
        if (f->symmetric)
            FUZZ_CHECK(!reads_back(f, all.p, all.len),
                       "a %zu-byte write the peer would read back was "
                       "refused", all.len);
    } else {
        FUZZ_CHECK(rc == WIRE_ECLOSED, "write returned %s", wire_err_name(rc));
    }
    fuzz_buf_free(&all);
}

static void
action(void *arg, unsigned code)
{
    struct lines_fuzz *f = arg;
    struct wire_transport *t = f->rec.t;
    if (t == NULL)
        return;
    unsigned x = code >> 3;
    switch (code & 7) {
    case 0:
        if (wire_transport_pause_reading(t) == 0)
            f->paused_r = true;
        break;
    case 1:
        wire_transport_resume_reading(t);
        f->paused_r = false;
        break;
    case 2: {
        /* A payload of up to 15 bytes, cut in up to three pieces. */
        size_t n = fuzz_in_byte(&f->payloads) & 15;
        struct fuzz_in p = fuzz_in_take(&f->payloads, n);
        size_t a = p.n * (x & 3) / 4, b = a + (p.n - a) / 2;
        struct iovec iov[3] = {
            {(void *)p.p, a}, {(void *)(p.p + a), b - a},
            {(void *)(p.p + b), p.n - b}};
        if (x & 4) {
            write_msg(f, iov, 3, true);
        } else if (x & 3) {
            write_msg(f, iov, 3, false);
        } else {
            iov[0].iov_len = p.n;
            write_msg(f, iov, 1, false);
        }
        break;
    }
    case 3:
        f->disturbed = true;
        wire_transport_close(t);
        break;
    case 4:
        f->disturbed = true;
        wire_transport_abort(t);
        break;
    case 5: {
        int rc = wire_transport_write_eof(t);
        FUZZ_CHECK(rc == 0 || rc == WIRE_ECLOSED || rc == WIRE_ENOTSUP,
                   "write_eof returned %s", wire_err_name(rc));
        break;
    }
    case 6:
        if (wire_transport_pause(t) == 0)
            f->paused_all = true;
        break;
    default:
        wire_transport_resume(t);
        f->paused_all = false;
        break;
    }
}

static void
on_message(struct fuzz_rec *r, const uint8_t *d, size_t len)
{
    struct lines_fuzz *f = (struct lines_fuzz *)(void *)r;
    if (f->echo) {
        struct iovec iov = {(void *)d, len};
        write_msg(f, &iov, 1, false);
    }
    if (len >= 2 && d[0] == 0x01 && f->nested == 0) {
        f->nested++;
        action(f, d[1] & 0x3f);
        f->nested--;
    }
}

static const size_t max_choice[4] = {0, 3, 8, 32};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct fuzz_in in = {data, len};
    uint8_t cfg = fuzz_in_byte(&in);
    struct fuzz_in sched = fuzz_in_section(&in);
    uint8_t opts = fuzz_in_byte(&in);
    struct fuzz_in delim = fuzz_in_section(&in);
    struct fuzz_in payloads = fuzz_in_section(&in);

    struct lines_fuzz f;
    memset(&f, 0, sizeof(f));
    fuzz_rec_init(&f.rec);
    f.rec.on_message = on_message;
    f.rec.eof_keep_open = opts & 0x80;
    f.payloads = payloads;
    f.echo = opts & 0x40;

    struct wire_chunk_opts co;
    unsigned kind = (cfg >> 2) & 3;
    if (kind == 0) {
        wire_lines_opts_init(&co, opts & 1, opts & 2);
    } else {
        wire_chunk_opts_init(&co);
        co.strip_cr = opts & 1;
        if (kind >= 2) {
            /* Any length: 0 and over 64 must be refused cleanly. */
            co.delim = delim.p;
            co.delim_len = delim.n;
        }
    }
    co.partial_at_eof = opts & 4;
    co.max_len = max_choice[(opts >> 4) & 3];
    size_t max = co.max_len ? co.max_len : WIRE_CHUNK_DEFAULT_MAX;

    struct wire_error err = {0};
    struct wire_protocol *p =
        opts & 8 ? wire_chunk_protocol_new(&co, &fuzz_rec_handler, &f.rec, &err)
                 : wire_chunk_layer_new(&f.rec.base, &co, &err);
    if (p == NULL) {
        bool bad = co.delim_len == 0 || co.delim_len > 64;
        FUZZ_CHECK(bad && err.code == WIRE_EINVAL,
                   "chunk layer refused: %s", err.message);
        FUZZ_CHECK(f.rec.destroyed == 1,
                   "the protocol above was not destroyed");
        wire_error_clear(&err);
        fuzz_rec_free(&f.rec);
        return 0;
    }
    FUZZ_CHECK(co.delim_len > 0 && co.delim_len <= 64,
               "a %zu-byte delimiter was accepted", co.delim_len);
    struct fuzz_buf long_stream = {0};
    p = fuzz_read_path(p, cfg, &in, &long_stream);
    f.delim = co.delim;
    f.dlen = co.delim_len;
    f.wdelim = co.write_delim != NULL ? co.write_delim : co.delim;
    f.wdlen = co.write_delim != NULL ? co.write_delim_len : co.delim_len;
    f.strip = co.strip_cr;
    f.symmetric = (f.wdlen == f.dlen &&
                   memcmp(f.wdelim, f.delim, f.dlen) == 0) ||
                  (f.strip && f.wdlen == f.dlen + 1 && f.wdelim[0] == '\r' &&
                   memcmp(f.wdelim + 1, f.delim, f.dlen) == 0);

    /* Before the transport: the protocol may read from connection_made. */
    fuzz_drive_init(&f.drive, NULL, sched, in, action, &f);
    f.drive.unit = fuzz_read_unit(cfg);
    struct wire_transport *st = wire_string_transport_new(p);
    FUZZ_CHECK(st != NULL, "string transport: out of memory");
    FUZZ_CHECK(f.rec.made == 1, "the protocol above was not started");

    f.drive.t = st;
    fuzz_drive_run(&f.drive);
    bool eof = fuzz_drive_end(&f.drive, cfg);
    /* Resume until nothing pauses any more (a held message may pause
     * again). */
    for (int i = 0; i < 1000 && f.rec.t != NULL && (f.paused_r || f.paused_all);
         i++) {
        bool all = f.paused_all;
        f.paused_all = f.paused_r = false;
        if (all)
            wire_transport_resume(f.rec.t);
        if (f.rec.t != NULL)
            wire_transport_resume_reading(f.rec.t);
        fuzz_step_all(st);
    }

    /* ---- the messages against the reference ---- */
    struct fuzz_msgs ref = {0};
    size_t tail = ref_split(f.drive.stream, f.drive.fed, f.delim, f.dlen,
                            f.strip, &ref);
    size_t slack = f.dlen - 1 + (f.strip ? 1 : 0);
    FUZZ_CHECK(f.rec.msgs.n <= ref.n + 1, "%zu messages from %zu chunks",
               f.rec.msgs.n, ref.n);
    for (size_t i = 0; i < f.rec.msgs.n; i++) {
        size_t gl, rl;
        const uint8_t *g = fuzz_msgs_get(&f.rec.msgs, i, &gl);
        if (i == ref.n) {
            /* Only the partial chunk at EOF may come after the last one. */
            FUZZ_CHECK(co.partial_at_eof && eof && tail > 0,
                       "message %zu is more than the input holds", i);
            const uint8_t *tp = f.drive.stream + f.drive.fed - tail;
            size_t tl = f.strip && tp[tail - 1] == '\r' ? tail - 1 : tail;
            FUZZ_CHECK(gl == tl && fuzz_memeq(g, tp, tl),
                       "the final partial chunk differs");
            FUZZ_CHECK(tl <= max, "the final chunk is over the limit");
            continue;
        }
        const uint8_t *rm = fuzz_msgs_get(&ref, i, &rl);
        FUZZ_CHECK(gl == rl && fuzz_memeq(g, rm, rl),
                   "message %zu: %zu bytes, the scanner finds %zu", i, gl, rl);
        FUZZ_CHECK(gl <= max, "message %zu is over the limit (%zu > %zu)", i,
                   gl, max);
    }

    if (!f.disturbed && (cfg & 3) != FUZZ_END_RESET) {
        size_t first_long = ref.n;
        for (size_t i = 0; i < ref.n; i++) {
            size_t rl;
            fuzz_msgs_get(&ref, i, &rl);
            if (rl > max) {
                first_long = i;
                break;
            }
        }
        const uint8_t *tp = f.drive.stream + f.drive.fed - tail;
        size_t tl =
            tail > 0 && f.strip && tp[tail - 1] == '\r' ? tail - 1 : tail;
        if (first_long < ref.n) {
            FUZZ_CHECK(f.rec.msgs.n == first_long && f.rec.lost == 1 &&
                           f.rec.lost_code == WIRE_EMSGSIZE,
                       "over-long message %zu: got %zu messages, lost %d (%s)",
                       first_long, f.rec.msgs.n, f.rec.lost, f.rec.lost_msg);
        } else if (tail > max + slack) {
            FUZZ_CHECK(f.rec.msgs.n == ref.n && f.rec.lost == 1 &&
                           f.rec.lost_code == WIRE_EMSGSIZE,
                       "over-long tail: got %zu of %zu messages, lost %d (%s)",
                       f.rec.msgs.n, ref.n, f.rec.lost, f.rec.lost_msg);
        } else if (eof && tail > 0 && !co.partial_at_eof) {
            FUZZ_CHECK(f.rec.msgs.n == ref.n && f.rec.lost == 1 &&
                           (f.rec.lost_code == WIRE_EINCOMPLETE ||
                            (tail > max && f.rec.lost_code == WIRE_EMSGSIZE)),
                       "partial chunk at EOF: got %zu of %zu messages, lost "
                       "%d (%s)", f.rec.msgs.n, ref.n, f.rec.lost,
                       f.rec.lost_msg);
        } else if (eof && tail > 0 && tl > max) {
            FUZZ_CHECK(f.rec.msgs.n == ref.n && f.rec.lost == 1 &&
                           f.rec.lost_code == WIRE_EMSGSIZE,
                       "over-long final chunk: lost %d (%s)", f.rec.lost,
                       f.rec.lost_msg);
        } else if (eof) {
            size_t want = ref.n + (tail > 0 ? 1 : 0);
            FUZZ_CHECK(f.rec.msgs.n == want && f.rec.eofs == 1,
                       "clean EOF: got %zu of %zu messages, eof %d, lost %d "
                       "(%s)", f.rec.msgs.n, want, f.rec.eofs, f.rec.lost,
                       f.rec.lost_msg);
            if (!f.rec.eof_keep_open)
                FUZZ_CHECK(f.rec.lost == 1 && f.rec.lost_code == 0,
                           "no clean close after EOF: %s", f.rec.lost_msg);
        } else {
            FUZZ_CHECK(f.rec.msgs.n == ref.n && f.rec.lost == 0,
                       "open: got %zu of %zu messages, lost %d (%s)",
                       f.rec.msgs.n, ref.n, f.rec.lost, f.rec.lost_msg);
        }
    }

    /* ---- what was written ---- */
    size_t olen;
    const uint8_t *out = wire_string_transport_output(st, &olen);
    FUZZ_CHECK(olen <= f.expect_out.len &&
                   fuzz_memeq(out, f.expect_out.p, olen),
               "the output is not the accepted writes, framed (%zu bytes, "
               "%zu expected)", olen, f.expect_out.len);
    if (!wire_string_transport_aborted(st) && f.rec.lost == 0 && !f.paused_all)
        FUZZ_CHECK(olen == f.expect_out.len,
                   "%zu of %zu bytes written while open", olen,
                   f.expect_out.len);

    wire_string_transport_free(st);
    FUZZ_CHECK(f.rec.lost == 1 && f.rec.destroyed == 1,
               "after free: lost %d, destroyed %d", f.rec.lost,
               f.rec.destroyed);
    fuzz_msgs_free(&ref);
    fuzz_buf_free(&f.expect_out);
    fuzz_rec_free(&f.rec);
    fuzz_buf_free(&long_stream);
    return 0;
}
