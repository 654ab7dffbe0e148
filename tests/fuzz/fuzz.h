/*
 * What the fuzz targets share (tests/fuzz/fuzz_util.c).
 *
 * Each target is one LLVMFuzzerTestOneInput that builds a real protocol
 * stack over the string transport (<wire/string_transport.h>), feeds it
 * the input, checks what must hold, and frees everything.  The same
 * source is linked with libFuzzer (fuzz_<name>) and with a plain main
 * (replay_<name>, tests/fuzz/replay.c) that `make check` runs over the
 * seed corpus and the regressions.
 *
 * Most inputs share one layout, so that the fuzzer mutates the data and
 * the way it arrives independently:
 *
 *   byte 0          cfg: the target's options (its low two bits say how
 *                   the input ends, see fuzz_drive_end)
 *   byte 1          n, then n schedule bytes (fewer if the input is short)
 *   ...             target-specific sections (fuzz_in_section)
 *   the rest        the byte stream the peer sends
 *
 * A schedule byte s is one step: bits 6-7 say what, bits 0-5 a size.
 *
 *   00 len   feed the next len bytes (0: all the rest) as one read
 *            (len KiB in the framing targets' long mode, fuzz_read_path)
 *   01 len   the same, then run deferred work (wire_string_transport_step)
 *   10 code  the target's own action `code` (pause, answer, close...)
 *   11 cap   flow control: limit what the "socket" takes to cap bytes
 *            (so writes queue and pause_writing fires), or lift the limit
 *            again if one is set (which flushes)
 *
 * When the schedule runs out, the rest of the stream is fed as one read.
 * A violated invariant calls fuzz_fail(), which prints why and aborts,
 * so that libFuzzer (or replay) reports the input.
 */
#ifndef WIRE_TESTS_FUZZ_H
#define WIRE_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wire/framing.h>
#include <wire/transport.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* ---- failing ---- */

/* Print "fuzz invariant violated: <message>" and abort(). */
void fuzz_fail(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

#define FUZZ_CHECK(cond, ...)                                                 \
    do {                                                                      \
        if (!(cond))                                                          \
            fuzz_fail(__VA_ARGS__);                                           \
    } while (0)

/* ---- reading the input ---- */

struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

/* The next byte (0 once the input is used up). */
uint8_t fuzz_in_byte(struct fuzz_in *in);
/* A length byte, then up to that many bytes, as a section of their own. */
struct fuzz_in fuzz_in_section(struct fuzz_in *in);
/* Up to `max` bytes from the front. */
struct fuzz_in fuzz_in_take(struct fuzz_in *in, size_t max);

/* ---- growable byte buffers ---- */

struct fuzz_buf {
    uint8_t *p;
    size_t len, cap;
};

void fuzz_buf_add(struct fuzz_buf *b, const void *data, size_t len);
void fuzz_buf_free(struct fuzz_buf *b);

/* A long stream from a short input (the framing targets' "long" mode):
 * the bytes of `in` as they are, except that 0xfe k v stands for
 * (k + 1) * 256 bytes v (a 0xfe at the end stands for itself), so that
 * messages larger than a read fit in an input of a few bytes.  The
 * stream is built in `out` (at most 1 MiB of it; the caller frees it). */
struct fuzz_in fuzz_expand(struct fuzz_in in, struct fuzz_buf *out);

/* The framing targets' read path, from cfg bits 4-5.  Bit 4: put a fault
 * layer with every fault off under the layer `p`, so that reads reach it
 * as data_received only (else the string transport copies them into the
 * buffers the layer offers, get_buffer, wherever it does); returns what
 * to give the string transport.  Bit 5: the stream `*in` is long
 * (fuzz_expand into `long_stream`, which the caller frees), and the
 * caller then sets the driver's unit to 1024 (fuzz_read_unit), so that
 * reads of tens of KiB, partial messages larger than a read, happen. */
struct wire_protocol *fuzz_read_path(struct wire_protocol *p, unsigned cfg,
                                     struct fuzz_in *in,
                                     struct fuzz_buf *long_stream);
/* The feed unit for cfg (see fuzz_read_path). */
size_t fuzz_read_unit(unsigned cfg);

/* A list of messages (one buffer, offsets into it). */
struct fuzz_msgs {
    struct fuzz_buf data;
    size_t *off; /* message i is data.p[off[i] .. off[i + 1]) */
    size_t n, cap;
};

void fuzz_msgs_add(struct fuzz_msgs *m, const void *data, size_t len);
const uint8_t *fuzz_msgs_get(const struct fuzz_msgs *m, size_t i, size_t *len);
void fuzz_msgs_free(struct fuzz_msgs *m);

/* ---- the driver ---- */

/* The target's own schedule action (code 0..63). */
typedef void (*fuzz_action_cb)(void *arg, unsigned code);

struct fuzz_drive {
    struct wire_transport *t; /* the string transport */
    struct fuzz_in sched;
    struct fuzz_in data;     /* what is left to feed */
    const uint8_t *stream;   /* the whole stream */
    size_t fed;              /* bytes of it the transport took */
    bool refused;            /* a feed returned an error: the rest is not fed */
    bool capped;             /* a capacity limit is set */
    size_t unit;             /* bytes per unit of a feed's len (1; 1024 in
                                the framing targets' long mode) */
    fuzz_action_cb action;
    void *arg;
};

/* Set up `d` to feed `data` to `t` following `sched`. */
void fuzz_drive_init(struct fuzz_drive *d, struct wire_transport *t,
                     struct fuzz_in sched, struct fuzz_in data,
                     fuzz_action_cb action, void *arg);
/* Run the schedule, then feed the rest of the stream. */
void fuzz_drive_run(struct fuzz_drive *d);
/* One step of it: false once everything was fed (or refused). */
bool fuzz_drive_step(struct fuzz_drive *d);

enum fuzz_end {
    FUZZ_END_EOF = 0,   /* the peer's EOF */
    FUZZ_END_OPEN = 1,  /* nothing: the connection stays open */
    FUZZ_END_RESET = 2, /* the connection fails (ECONNRESET) */
    FUZZ_END_EOF2 = 3   /* EOF too (a second cfg value for it) */
};

/* End the input as `how` says (cfg & 3), lift any capacity limit and run
 * deferred work until quiet.  Returns true when EOF was fed. */
bool fuzz_drive_end(struct fuzz_drive *d, unsigned how);

/* Lift a capacity limit (the "socket" takes everything again). */
void fuzz_drive_uncap(struct fuzz_drive *d);

/* Step until nothing is left to run (bounded). */
void fuzz_step_all(struct wire_transport *t);

/* ---- a recording protocol ---- */

/*
 * The protocol above a message layer (chunk, lenprefix): it records each
 * message, checks the callback order itself, and calls `on_message` (if
 * set).  It lives in the caller's memory: destroy only counts.  Use it
 * as a protocol (fuzz_rec_init, then &r->base) or, for the layers'
 * callback form, through fuzz_rec_handler with `r` as the argument.
 */
struct fuzz_rec {
    struct wire_protocol base;
    struct wire_transport *t; /* between made and lost */
    int made, eofs, lost, destroyed;
    int lost_code;            /* 0: lost cleanly */
    char lost_msg[200];
    bool eof_keep_open;       /* what eof_received returns */
    struct fuzz_msgs msgs;
    void (*on_message)(struct fuzz_rec *r, const uint8_t *d, size_t len);
    void (*on_made)(struct fuzz_rec *r); /* after connection_made */
    void *arg;
};

void fuzz_rec_init(struct fuzz_rec *r);
void fuzz_rec_free(struct fuzz_rec *r);
extern const struct wire_message_handler fuzz_rec_handler;

/* ---- HTTP responses ---- */

/*
 * A strict reader of what an HTTP/1.1 server wrote: status lines, header
 * lines (token names, no bare CR or LF, no folding), and the body framed
 * as RFC 9112 section 6.3 says (none for HEAD, 1xx, 204, 304; chunked;
 * Content-Length; else to the end of the connection).  Whether final
 * response i answers a HEAD request is asked of `is_head` (1 yes, 0 no,
 * -1 unknown: then both readings are tried).
 */
struct fuzz_http_resp {
    int status, minor;
    bool close;   /* Connection: close */
    bool chunked; /* Transfer-Encoding: chunked */
    bool has_len; /* Content-Length given */
    uint64_t clen;
    bool to_eof;  /* the body runs to the end of the connection */
    char ctype[64];
    struct fuzz_buf body; /* de-chunked */
};

struct fuzz_http_resps {
    struct fuzz_http_resp *r; /* final responses only */
    size_t n, cap;
    size_t interim;   /* 1xx other than 101 */
    bool complete;    /* the output ends right after a response */
    bool truncated;   /* it ends inside one */
    bool upgraded;    /* a 101: raw bytes follow from raw_off */
    size_t raw_off;
    bool gave_up;     /* too many ambiguous readings to try all */
};

/* NULL when `d` reads as responses (filling `out`), else what is wrong. */
const char *fuzz_http_parse(const uint8_t *d, size_t n,
                            int (*is_head)(void *arg, size_t i), void *arg,
                            struct fuzz_http_resps *out);
void fuzz_http_resps_free(struct fuzz_http_resps *out);

/* ---- small helpers ---- */

/* A NUL-terminated copy of [p, p+n) with NUL bytes replaced by `repl`
 * (or cut at the first NUL when repl is 0).  Free with free(). */
char *fuzz_strndup(const void *p, size_t n, char repl);

/* Print `label` and up to 4 KiB of [p, p+n) in hex to stderr (to show
 * the bytes an invariant was about before failing). */
void fuzz_hexdump(const char *label, const void *p, size_t n);

/* memcmp(a, b, n) == 0 that accepts NULL when n is 0. */
bool fuzz_memeq(const void *a, const void *b, size_t n);

/* memmem that accepts n == 0 and needle longer than haystack. */
const uint8_t *fuzz_memmem(const uint8_t *h, size_t hn, const uint8_t *nd,
                           size_t nn);

#endif
