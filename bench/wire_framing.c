/*
 * wire_framing: the cost of libwire's framing layers against the least a
 * hand-written loop could do with the same bytes, in one process, one
 * run.
 *
 *  lines      100-byte lines ("\n"-terminated) arriving in 64 KiB reads:
 *             the lines layer (wire_chunk_layer_new with the lines
 *             options, "\r\n" accepted) over the string transport, under
 *             a protocol that counts its data_received calls, against a
 *             bare memchr loop that counts the '\n's of the same reads.
 *  lenprefix  messages of a 4-byte little-endian length and 100 bytes of
 *             payload, in 64 KiB reads: the lenprefix layer the same way,
 *             against a loop that reads only the headers and skips the
 *             payloads (carrying a header split between reads over).
 *
 * The reads are 64 KiB windows of one endless stream of fixed-size
 * messages, so messages straddle reads as they would from a socket.  The
 * stream is periodic, so every window is a slice of a single buffer of
 * 64 KiB plus one message: the data stays in cache and the figures are
 * the framing's cost, not the memory's.
 *
 * All sides must count the same messages (checked on every run).  Each
 * round times each side once (the order rotates) for about 0.1 s; the
 * figures are the medians over the rounds.  Output,
 * one line per framing:
 *   framing=NAME msg_bytes=N wire_MB/s=X wire_msg/s=X base_MB/s=X
 *   base_msg/s=X ratio=R floor_MB/s=X floor_msg/s=X floor_ratio=R
 * (ratio = libwire / bare loop; per-round figures go to stderr).  The
 * "floor" is the bare loop plus one call through a function pointer per
 * message: the least any API that hands each message to a callback can
 * cost, so floor_ratio shows what libwire adds beyond that.
 *
 * Usage: wire_framing [ROUNDS]   (default 7)
 *        wire_framing --profile lines|lenprefix [SECONDS]
 *                 run only libwire's side, for SECONDS (default 3), to
 *                 profile it: perf record -g ./bench/wire_framing --profile lines
 */
#include <wire/wire.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READ_SIZE ((size_t)64 * 1024)
#define LINE_LEN 100    /* bytes per line, '\n' included */
#define PAYLOAD_LEN 100 /* lenprefix payload bytes */
#define LP_MSG_LEN (4 + PAYLOAD_LEN)
#define MIN_SECONDS 0.1

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
    fprintf(stderr, "wire_framing: %s\n", what);
    exit(1);
}

/* ---- the stream ---- */

struct stream {
    char *buf;     /* READ_SIZE + period bytes of the periodic stream */
    size_t period; /* bytes per message */
};

/* The read that starts at stream offset `off`. */
static const char *
window(const struct stream *s, uint64_t off)
{
    return s->buf + off % s->period;
}

static void
stream_lines(struct stream *s)
{
    s->period = LINE_LEN;
    s->buf = malloc(READ_SIZE + s->period);
    if (s->buf == NULL)
        die("out of memory");
    for (size_t i = 0; i < READ_SIZE + s->period; i++) {
        size_t k = i % LINE_LEN;
        s->buf[i] = k == LINE_LEN - 1 ? '\n' : (char)('a' + k % 26);
    }
}

static void
stream_lenprefix(struct stream *s)
{
    s->period = LP_MSG_LEN;
    s->buf = malloc(READ_SIZE + s->period);
    if (s->buf == NULL)
        die("out of memory");
    for (size_t i = 0; i < READ_SIZE + s->period; i++) {
        size_t k = i % LP_MSG_LEN;
        unsigned char c;
        if (k < 4) /* little-endian PAYLOAD_LEN */
            c = (unsigned char)(PAYLOAD_LEN >> (8 * k));
        else
            c = (unsigned char)('a' + (k - 4) % 26);
        s->buf[i] = (char)c;
    }
}

/* ---- libwire's side: a layer over the string transport ---- */

static uint64_t wire_msgs;

static void
count_data(struct wire_protocol *p, const void *data, size_t len)
{
    (void)p;
    (void)data;
    (void)len;
    wire_msgs++;
}

static void
count_destroy(struct wire_protocol *p)
{
    free(p);
}

static const struct wire_protocol_ops count_ops = {
    .data_received = count_data,
    .destroy = count_destroy,
};

static struct wire_protocol *
counter_new(void)
{
    struct wire_protocol *p = calloc(1, sizeof(*p));
    if (p == NULL)
        die("out of memory");
    wire_protocol_init(p, &count_ops);
    return p;
}

enum kind { LINES, LENPREFIX };

static struct wire_transport *
stack_new(enum kind k)
{
    struct wire_error err = {0};
    struct wire_protocol *layer;
    if (k == LINES) {
        struct wire_chunk_opts o;
        wire_lines_opts_init(&o, true, false);
        layer = wire_chunk_layer_new(counter_new(), &o, &err);
    } else {
        struct wire_lenprefix_opts o;
        wire_lenprefix_opts_init(&o, 4, true);
        layer = wire_lenprefix_layer_new(counter_new(), &o, &err);
    }
    if (layer == NULL)
        die(err.message != NULL ? err.message : "layer");
    struct wire_transport *t = wire_string_transport_new(layer);
    if (t == NULL)
        die("out of memory");
    return t;
}

/* Feed `reads` reads; returns the messages the protocol above got. */
static uint64_t
wire_side(const struct stream *s, enum kind k, uint64_t reads)
{
    struct wire_transport *t = stack_new(k);
    wire_msgs = 0;
    uint64_t off = 0;
    for (uint64_t i = 0; i < reads; i++, off += READ_SIZE)
        if (wire_string_transport_feed(t, window(s, off), READ_SIZE) != 0)
            die("feed failed");
    if (wire_string_transport_closed(t))
        die("the layer failed the stream");
    wire_string_transport_free(t);
    return wire_msgs;
}

/* ---- the baselines ---- */

/* What any per-message callback API must do at least: call a function
 * through a pointer for each message (the "floor" columns). */
static uint64_t floor_calls;
static void
floor_cb(const void *data, size_t len)
{
    (void)data;
    (void)len;
    floor_calls++;
}
static void (*volatile per_msg)(const void *data, size_t len) = floor_cb;

static inline __attribute__((always_inline)) uint64_t
memchr_loop(const struct stream *s, uint64_t reads, const bool call)
{
    uint64_t n = 0, off = 0;
    void (*cb)(const void *, size_t) = per_msg;
    for (uint64_t i = 0; i < reads; i++, off += READ_SIZE) {
        const char *p = window(s, off), *end = p + READ_SIZE, *q;
        while ((q = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            n++;
            if (call)
                cb(p, (size_t)(q - p));
            p = q + 1;
        }
    }
    return n;
}

static inline __attribute__((always_inline)) uint64_t
header_loop(const struct stream *s, uint64_t reads, const bool call)
{
    uint64_t n = 0, off = 0, skip = 0;
    unsigned char hdr[4];
    size_t hlen = 0;
    void (*cb)(const void *, size_t) = per_msg;
    for (uint64_t i = 0; i < reads; i++, off += READ_SIZE) {
        const unsigned char *d = (const unsigned char *)window(s, off);
        size_t pos = 0;
        while (pos < READ_SIZE) {
            if (skip > 0) {
                size_t take = READ_SIZE - pos < skip ? READ_SIZE - pos : (size_t)skip;
                pos += take;
                skip -= take;
            } else if (hlen == 0 && READ_SIZE - pos >= 4) {
                skip = (uint64_t)d[pos] | (uint64_t)d[pos + 1] << 8 |
                       (uint64_t)d[pos + 2] << 16 | (uint64_t)d[pos + 3] << 24;
                pos += 4;
                n++;
                if (call)
                    cb(d + pos, (size_t)skip);
            } else {
                hdr[hlen++] = d[pos++];
                if (hlen == 4) {
                    skip = (uint64_t)hdr[0] | (uint64_t)hdr[1] << 8 |
                           (uint64_t)hdr[2] << 16 | (uint64_t)hdr[3] << 24;
                    hlen = 0;
                    n++;
                    if (call)
                        cb(d + pos, (size_t)skip);
                }
            }
        }
    }
    return n;
}

static uint64_t
memchr_side(const struct stream *s, uint64_t reads)
{
    return memchr_loop(s, reads, false);
}

static uint64_t
header_side(const struct stream *s, uint64_t reads)
{
    return header_loop(s, reads, false);
}

static uint64_t
memchr_call_side(const struct stream *s, uint64_t reads)
{
    return memchr_loop(s, reads, true);
}

static uint64_t
header_call_side(const struct stream *s, uint64_t reads)
{
    return header_loop(s, reads, true);
}

/* ---- timing ---- */

struct figure {
    double mbs, msgs;
};

/* Run one side for at least MIN_SECONDS; whole periods of the stream
 * (where both sides must agree) are checked exactly. */
enum side { SIDE_WIRE, SIDE_BARE, SIDE_FLOOR };

static uint64_t
run_side(const struct stream *s, enum kind k, enum side side, uint64_t reads)
{
    switch (side) {
    case SIDE_WIRE:
        return wire_side(s, k, reads);
    case SIDE_BARE:
        return k == LINES ? memchr_side(s, reads) : header_side(s, reads);
    default:
        return k == LINES ? memchr_call_side(s, reads) : header_call_side(s, reads);
    }
}

static struct figure
timed(const struct stream *s, enum kind k, enum side side, uint64_t reads)
{
    uint64_t total_reads = 0, msgs = 0;
    double t0 = now(), el;
    do {
        uint64_t got = run_side(s, k, side, reads);
        /* Every full message in `reads` reads; the stream has an
         * integral number of messages per `reads` reads (see main). */
        if (got != reads * READ_SIZE / s->period)
            die("message count differs from the expected count");
        msgs += got;
        total_reads += reads;
    } while ((el = now() - t0) < MIN_SECONDS);
    struct figure f = {
        .mbs = (double)total_reads * READ_SIZE / 1e6 / el,
        .msgs = (double)msgs / el,
    };
    return f;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[(n - 1) / 2];
}

static uint64_t
gcd(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

static void
bench(const char *name, enum kind k, int rounds)
{
    struct stream s;
    if (k == LINES)
        stream_lines(&s);
    else
        stream_lenprefix(&s);
    /* The smallest number of reads that ends on a message boundary. */
    uint64_t reads = s.period / gcd(READ_SIZE, s.period);
    /* A few of those per run, so the per-run setup is noise. */
    reads *= 8;
    /* Same count from both sides, first. */
    uint64_t w = wire_side(&s, k, reads);
    uint64_t b = k == LINES ? memchr_side(&s, reads) : header_side(&s, reads);
    if (w != b || w != reads * READ_SIZE / s.period) {
        fprintf(stderr, "wire_framing: %s: libwire counted %llu messages, the "
                        "baseline %llu\n",
                name, (unsigned long long)w, (unsigned long long)b);
        exit(1);
    }
    /* [side][round]: MB/s and msg/s. */
    double *mbs[3], *msgs[3];
    for (int i = 0; i < 3; i++) {
        mbs[i] = calloc((size_t)rounds, sizeof(double));
        msgs[i] = calloc((size_t)rounds, sizeof(double));
        if (mbs[i] == NULL || msgs[i] == NULL)
            die("out of memory");
    }
    for (int r = 0; r < rounds; r++) {
        /* Rotate which side goes first, so drift hits all three alike. */
        for (int j = 0; j < 3; j++) {
            enum side side = (enum side)((r + j) % 3);
            struct figure f = timed(&s, k, side, reads);
            mbs[side][r] = f.mbs;
            msgs[side][r] = f.msgs;
        }
        fprintf(stderr, "  %s round %d: libwire %.1f MB/s, bare loop %.1f MB/s "
                        "(ratio %.3f), loop + call %.1f MB/s (ratio %.3f)\n",
                name, r + 1, mbs[SIDE_WIRE][r], mbs[SIDE_BARE][r],
                mbs[SIDE_WIRE][r] / mbs[SIDE_BARE][r], mbs[SIDE_FLOOR][r],
                mbs[SIDE_WIRE][r] / mbs[SIDE_FLOOR][r]);
    }
    double mw = median(mbs[SIDE_WIRE], rounds), mb = median(mbs[SIDE_BARE], rounds);
    double mf = median(mbs[SIDE_FLOOR], rounds);
    printf("framing=%s msg_bytes=%zu wire_MB/s=%.1f wire_msg/s=%.0f "
           "base_MB/s=%.1f base_msg/s=%.0f ratio=%.3f floor_MB/s=%.1f "
           "floor_msg/s=%.0f floor_ratio=%.3f\n",
           name, s.period, mw, median(msgs[SIDE_WIRE], rounds), mb,
           median(msgs[SIDE_BARE], rounds), mw / mb, mf,
           median(msgs[SIDE_FLOOR], rounds), mw / mf);
    fflush(stdout);
    for (int i = 0; i < 3; i++) {
        free(mbs[i]);
        free(msgs[i]);
    }
    free(s.buf);
}

static int
profile(const char *name, double secs)
{
    enum kind k;
    struct stream s;
    if (strcmp(name, "lines") == 0) {
        k = LINES;
        stream_lines(&s);
    } else if (strcmp(name, "lenprefix") == 0) {
        k = LENPREFIX;
        stream_lenprefix(&s);
    } else {
        fprintf(stderr, "wire_framing: --profile lines or --profile lenprefix\n");
        return 2;
    }
    uint64_t reads = 8 * (s.period / gcd(READ_SIZE, s.period)), msgs = 0, n = 0;
    double t0 = now(), el;
    do {
        msgs += wire_side(&s, k, reads);
        n += reads;
    } while ((el = now() - t0) < secs);
    printf("profile=%s wire_MB/s=%.1f wire_msg/s=%.0f\n", name,
           (double)n * READ_SIZE / 1e6 / el, (double)msgs / el);
    free(s.buf);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--profile") == 0)
        return profile(argv[2], argc > 3 ? atof(argv[3]) : 3.0);
    int rounds = argc > 1 ? atoi(argv[1]) : 7;
    if (argc > 2 || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "usage: %s [ROUNDS]\n", argv[0]);
        return 2;
    }
    bench("lines", LINES, rounds);
    bench("lenprefix", LENPREFIX, rounds);
    return 0;
}
