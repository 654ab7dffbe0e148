/*
 * Fuzz target: the length-prefix layer (<wire/framing.h>): binary
 * prefixes of 1, 2, 4 and 8 bytes in both byte orders, counting
 * themselves or not, and netstrings, over the string transport.
 *
 * Input: cfg, schedule (fuzz.h), then
 *   opts byte  bits 0-1 the width (1, 2, 4, 8), bit 2 little-endian,
 *              bit 3 the length counts the prefix, bit 4 netstrings,
 *              bit 5 the callback form (wire_lenprefix_protocol_new),
 *              bit 6 echo every message back, bit 7 eof_received keeps
 *              the connection open
 *   section    payloads for the writes the schedule asks for
 *   the rest   the stream
 * cfg bits 2-3: the maximum length (default, 5, 16, 300).
 * cfg bits 4-5: the read path (fuzz_read_path: bit 4 reads as
 * data_received only, through a fault layer with every fault off, else
 * into the layer's own buffers where it offers them; bit 5 a long stream,
 * for messages larger than a read).
 *
 * Schedule actions (code & 7): pause reading, resume reading, write a
 * payload (its length from the payload section, 0..455 bytes, so that it
 * may not fit a 1-byte prefix; as one buffer, three, or by write_ref),
 * close, abort, write_eof, pause both ways, resume.  A message whose
 * first byte is 0x01 runs the action its second byte names from inside
 * data_received.
 *
 * Invariants: the messages are exactly those a reference parser finds in
 * what was fed; the end is the one it predicts (clean EOF, EPROTO for a
 * bad netstring or a length under its own prefix, EMSGSIZE for a length
 * over the limit, EINCOMPLETE at EOF inside a message); every write is
 * refused exactly when its length does not fit the prefix, and what was
 * written parses back as exactly the accepted payloads.
 */
#include "fuzz.h"

#include <wire/framing.h>
#include <wire/string_transport.h>

#include <stdlib.h>
#include <string.h>

enum ref_end { REF_OK, REF_PARTIAL, REF_PROTO, REF_SIZE };

struct lp_fuzz {
    struct fuzz_rec rec;
    struct fuzz_drive drive;
    struct fuzz_in payloads;
    struct wire_lenprefix_opts o;
    uint64_t max;
    bool echo;
    bool disturbed;
    bool paused_r, paused_all;
    struct fuzz_msgs written; /* accepted writes, in order */
    int nested;
};

/* The reference: parse [d, d+n) as `o` says, appending each message to
 * `out`.  Returns how the input ends. */
static enum ref_end
ref_parse(const struct wire_lenprefix_opts *o, uint64_t max, const uint8_t *d,
          size_t n, struct fuzz_msgs *out)
{
    size_t pos = 0;
    for (;;) {
        if (pos == n)
            return REF_OK;
        uint64_t v = 0;
        if (o->kind == WIRE_LENPREFIX_NETSTRING) {
            size_t digits = 0;
            while (pos < n && d[pos] >= '0' && d[pos] <= '9') {
                if (digits == 1 && v == 0)
                    return REF_PROTO; /* a leading zero */
                v = v * 10 + (uint64_t)(d[pos] - '0');
                digits++;
                pos++;
                if (v > max)
                    return REF_SIZE;
            }
            if (pos == n)
                return REF_PARTIAL;
            if (d[pos] != ':' || digits == 0)
                return REF_PROTO;
            pos++;
        } else {
            unsigned w = o->width;
            if (n - pos < w)
                return REF_PARTIAL;
            for (unsigned i = 0; i < w; i++) {
                unsigned shift = o->little_endian ? 8 * i : 8 * (w - 1 - i);
                v |= (uint64_t)d[pos + i] << shift;
            }
            pos += w;
            if (o->counts_header) {
                if (v < w)
                    return REF_PROTO;
                v -= w;
            }
            if (v > max)
                return REF_SIZE;
        }
        if (n - pos < v)
            return REF_PARTIAL;
        fuzz_msgs_add(out, d + pos, (size_t)v);
        pos += (size_t)v;
        if (o->kind == WIRE_LENPREFIX_NETSTRING) {
            if (pos == n)
                return REF_PARTIAL;
            if (d[pos] != ',')
                return REF_PROTO;
            pos++;
        }
    }
}

static bool
fits(const struct lp_fuzz *f, size_t len)
{
    if (f->o.kind == WIRE_LENPREFIX_NETSTRING || f->o.width == 8)
        return true;
    uint64_t v = (uint64_t)len + (f->o.counts_header ? f->o.width : 0);
    return v >> (8 * f->o.width) == 0;
}

static void
free_copy(void *arg, const void *data, size_t len)
{
    (void)data;
    (void)len;
    free(arg);
}

static void
write_msg(struct lp_fuzz *f, const struct iovec *iov, int iovcnt, bool ref)
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
            free(copy);
    } else if (iovcnt == 1) {
        rc = wire_transport_write(t, iov[0].iov_base, iov[0].iov_len);
    } else {
        rc = wire_transport_write_sequence(t, iov, iovcnt);
    }
    if (rc == 0) {
        FUZZ_CHECK(fits(f, all.len), "a %zu-byte write that does not fit "
                   "a %u-byte prefix was accepted", all.len, f->o.width);
        fuzz_msgs_add(&f->written, all.p, all.len);
    } else if (rc == WIRE_EMSGSIZE) {
        FUZZ_CHECK(!fits(f, all.len), "a %zu-byte write that fits was "
                   "refused", all.len);
    } else {
        FUZZ_CHECK(rc == WIRE_ECLOSED, "write returned %s", wire_err_name(rc));
    }
    fuzz_buf_free(&all);
}

static void
action(void *arg, unsigned code)
{
    struct lp_fuzz *f = arg;
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
        /* 0..455 bytes: the length byte, plus 200 when x says so, filled
         * with a pattern from the payload section. */
        size_t n = fuzz_in_byte(&f->payloads) + (x & 4 ? 200u : 0u);
        struct fuzz_in pat = fuzz_in_take(&f->payloads, 4);
        uint8_t *buf = malloc(n ? n : 1);
        FUZZ_CHECK(buf != NULL, "out of memory");
        for (size_t i = 0; i < n; i++)
            buf[i] = pat.n ? pat.p[i % pat.n] : (uint8_t)i;
        size_t a = n * (x & 3) / 4, b = a + (n - a) / 2;
        struct iovec iov[3] = {{buf, a}, {buf + a, b - a}, {buf + b, n - b}};
        if (x & 2) {
            write_msg(f, iov, 3, (x & 1) != 0);
        } else {
            iov[0].iov_len = n;
            write_msg(f, iov, 1, (x & 1) != 0);
        }
        free(buf);
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
    struct lp_fuzz *f = (struct lp_fuzz *)(void *)r;
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

static const uint64_t max_choice[4] = {0, 5, 16, 300};
static const unsigned widths[4] = {1, 2, 4, 8};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct fuzz_in in = {data, len};
    uint8_t cfg = fuzz_in_byte(&in);
    struct fuzz_in sched = fuzz_in_section(&in);
    uint8_t opts = fuzz_in_byte(&in);
    struct fuzz_in payloads = fuzz_in_section(&in);

    struct lp_fuzz f;
    memset(&f, 0, sizeof(f));
    fuzz_rec_init(&f.rec);
    f.rec.on_message = on_message;
    f.rec.eof_keep_open = opts & 0x80;
    f.payloads = payloads;
    f.echo = opts & 0x40;
    if (opts & 0x10) {
        wire_netstring_opts_init(&f.o);
    } else {
        wire_lenprefix_opts_init(&f.o, widths[opts & 3], opts & 4);
        f.o.counts_header = opts & 8;
    }
    f.o.max_len = max_choice[(cfg >> 2) & 3];
    f.max = f.o.max_len ? f.o.max_len : WIRE_LENPREFIX_DEFAULT_MAX;

    struct wire_error err = {0};
    struct wire_protocol *p =
        opts & 0x20 ? wire_lenprefix_protocol_new(&f.o, &fuzz_rec_handler,
                                                  &f.rec, &err)
                    : wire_lenprefix_layer_new(&f.rec.base, &f.o, &err);
    FUZZ_CHECK(p != NULL, "lenprefix refused: %s", err.message);
    struct fuzz_buf long_stream = {0};
    p = fuzz_read_path(p, cfg, &in, &long_stream);
    /* Before the transport: the protocol may read from connection_made. */
    fuzz_drive_init(&f.drive, NULL, sched, in, action, &f);
    f.drive.unit = fuzz_read_unit(cfg);
    struct wire_transport *st = wire_string_transport_new(p);
    FUZZ_CHECK(st != NULL && f.rec.made == 1, "not started");

    f.drive.t = st;
    fuzz_drive_run(&f.drive);
    bool eof = fuzz_drive_end(&f.drive, cfg);
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
    enum ref_end end =
        ref_parse(&f.o, f.max, f.drive.stream, f.drive.fed, &ref);
    FUZZ_CHECK(f.rec.msgs.n <= ref.n, "%zu messages, the reference finds %zu",
               f.rec.msgs.n, ref.n);
    for (size_t i = 0; i < f.rec.msgs.n; i++) {
        size_t gl, rl;
        const uint8_t *g = fuzz_msgs_get(&f.rec.msgs, i, &gl);
        const uint8_t *r = fuzz_msgs_get(&ref, i, &rl);
        FUZZ_CHECK(gl == rl && fuzz_memeq(g, r, rl),
                   "message %zu: %zu bytes, the reference finds %zu", i, gl,
                   rl);
    }
    if (!f.disturbed && (cfg & 3) != FUZZ_END_RESET) {
        bool failed = end == REF_PROTO || end == REF_SIZE;
        FUZZ_CHECK(f.rec.msgs.n == ref.n,
                   "got %zu of %zu messages (lost %d: %s)", f.rec.msgs.n,
                   ref.n, f.rec.lost, f.rec.lost_msg);
        if (failed) {
            int want = end == REF_PROTO ? WIRE_EPROTO : WIRE_EMSGSIZE;
            FUZZ_CHECK(f.rec.lost == 1 && f.rec.lost_code == want,
                       "expected %s, lost %d (%s)", wire_err_name(want),
                       f.rec.lost, f.rec.lost_msg);
        } else if (eof && end == REF_PARTIAL) {
            FUZZ_CHECK(f.rec.lost == 1 && f.rec.lost_code == WIRE_EINCOMPLETE,
                       "EOF inside a message: lost %d (%s)", f.rec.lost,
                       f.rec.lost_msg);
        } else if (eof) {
            FUZZ_CHECK(f.rec.eofs == 1,
                       "clean EOF: eof %d, lost %d (%s)", f.rec.eofs,
                       f.rec.lost, f.rec.lost_msg);
            if (!f.rec.eof_keep_open)
                FUZZ_CHECK(f.rec.lost == 1 && f.rec.lost_code == 0,
                           "no clean close after EOF: %s", f.rec.lost_msg);
        } else {
            FUZZ_CHECK(f.rec.lost == 0, "lost while open: %s", f.rec.lost_msg);
        }
    }

    /* ---- what was written parses back as what was accepted ---- */
    size_t olen;
    const uint8_t *out = wire_string_transport_output(st, &olen);
    struct fuzz_msgs back = {0};
    enum ref_end oend = ref_parse(&f.o, UINT64_MAX / 2, out, olen, &back);
    FUZZ_CHECK(oend == REF_OK || oend == REF_PARTIAL,
               "the output does not parse");
    FUZZ_CHECK(back.n <= f.written.n, "more messages out than written");
    for (size_t i = 0; i < back.n; i++) {
        size_t bl, wl;
        const uint8_t *b = fuzz_msgs_get(&back, i, &bl);
        const uint8_t *w = fuzz_msgs_get(&f.written, i, &wl);
        FUZZ_CHECK(bl == wl && fuzz_memeq(b, w, wl),
                   "written message %zu differs", i);
    }
    if (!wire_string_transport_aborted(st) && f.rec.lost == 0)
        FUZZ_CHECK(oend == REF_OK && back.n == f.written.n,
                   "%zu of %zu messages written while open", back.n,
                   f.written.n);

    wire_string_transport_free(st);
    FUZZ_CHECK(f.rec.lost == 1 && f.rec.destroyed == 1,
               "after free: lost %d, destroyed %d", f.rec.lost,
               f.rec.destroyed);
    fuzz_msgs_free(&back);
    fuzz_msgs_free(&ref);
    fuzz_msgs_free(&f.written);
    fuzz_rec_free(&f.rec);
    fuzz_buf_free(&long_stream);
    return 0;
}
