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
 * Two ways of feeding libwire's side:
 *  string     wire_string_transport_feed: each window as it lies, which a
 *             layer reading into its own buffers (get_buffer) gets copied
 *             into them;
 *  read       a transport that does what a socket transport does
 *             (wire_impl_read_buffer, then wire_impl_read_done), with a
 *             memcpy of the window where recv(2) would copy from the
 *             kernel: into the layer's buffer when it offers one (the rest
 *             of a payload of known length, the continuation of a line),
 *             else into the loop's shared buffer.  The bare loops then
 *             copy each window into a 64 KiB buffer before scanning it,
 *             the least a reader of a socket does.
 * and two sizes of message: 100 bytes (most of them whole inside a read)
 * and 256 KiB (every one spans reads: the layers used to copy all of it
 * into their reassembly buffer).
 *
 * All sides must count the same messages (checked on every run).  Each
 * round times each side once (the order rotates) for about 0.1 s; the
 * figures are the medians over the rounds.  Output,
 * one line per framing:
 *   framing=NAME msg_bytes=N feed=string|read wire_MB/s=X wire_msg/s=X
 *   base_MB/s=X base_msg/s=X ratio=R floor_MB/s=X floor_msg/s=X
 *   floor_ratio=R
 * NAME: lines, lenprefix (100-byte messages, string feed), lines_read,
 * lenprefix_read (the same, read feed), lines_256k_read,
 * lenprefix_256k_read.
 * (ratio = libwire / bare loop; per-round figures go to stderr).  The
 * "floor" is the bare loop plus one call through a function pointer per
 * message: the least any API that hands each message to a callback can
 * cost, so floor_ratio shows what libwire adds beyond that.
 *
 * Usage: wire_framing [ROUNDS [NAME...]]   (default 7 rounds, every NAME)
 *        wire_framing --profile NAME [SECONDS]
 *                 run only libwire's side, for SECONDS (default 3), to
 *                 profile it: perf record -g ./bench/wire_framing --profile lines
 */
#include <wire/transport_impl.h>
#include <wire/wire.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READ_SIZE ((size_t)64 * 1024)
#define BIG_MSG ((size_t)256 * 1024) /* the large messages, framing included */
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

/* Lines of `line_len` bytes, '\n' included. */
static void
stream_lines(struct stream *s, size_t line_len)
{
    s->period = line_len;
    s->buf = malloc(READ_SIZE + s->period);
    if (s->buf == NULL)
        die("out of memory");
    for (size_t i = 0; i < READ_SIZE + s->period; i++) {
        size_t k = i % line_len;
        s->buf[i] = k == line_len - 1 ? '\n' : (char)('a' + k % 26);
    }
}

/* A 4-byte little-endian length, then `payload` bytes. */
static void
stream_lenprefix(struct stream *s, size_t payload)
{
    s->period = 4 + payload;
    s->buf = malloc(READ_SIZE + s->period);
    if (s->buf == NULL)
        die("out of memory");
    for (size_t i = 0; i < READ_SIZE + s->period; i++) {
        size_t k = i % s->period;
        unsigned char c;
        if (k < 4) /* little-endian payload length */
            c = (unsigned char)(payload >> (8 * k));
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
enum feed { FEED_STRING, FEED_READ };

/* What one row measures. */
struct bcase {
    const char *name;
    enum kind kind;
    size_t msg_bytes; /* framing included */
    enum feed feed;
};

static struct wire_protocol *
layer_new(const struct bcase *bc)
{
    struct wire_error err = {0};
    struct wire_protocol *layer;
    if (bc->kind == LINES) {
        struct wire_chunk_opts o;
        wire_lines_opts_init(&o, true, false);
        if (bc->msg_bytes > WIRE_CHUNK_DEFAULT_MAX)
            o.max_len = 2 * bc->msg_bytes;
        layer = wire_chunk_layer_new(counter_new(), &o, &err);
    } else {
        struct wire_lenprefix_opts o;
        wire_lenprefix_opts_init(&o, 4, true);
        layer = wire_lenprefix_layer_new(counter_new(), &o, &err);
    }
    if (layer == NULL)
        die(err.message != NULL ? err.message : "layer");
    return layer;
}

/* ---- the read feed: a transport that reads as a socket transport does,
 * from memory ---- */

/* What recv(2) does to the bytes: copy them.  Not with memcpy: glibc's
 * "rep movsb" for large copies runs up to 20 times slower on some CPUs
 * (this machine's among them) when the destination lies a few bytes
 * after the source modulo 4 KiB, so each side's figure would hang on
 * where the heap happened to put its buffer.  A loop of 64-byte vector
 * moves copies at the same speed wherever the bytes lie. */
static inline __attribute__((always_inline)) void
sim_recv(void *dst, const void *src, size_t n)
{
    char *d = dst;
    const char *sp = src;
    for (; n >= 64; n -= 64, d += 64, sp += 64) {
        memcpy(d, sp, 64);
        __asm__("" : "+r"(d)); /* stays a loop: not turned into memcpy */
    }
    memcpy(d, sp, n);
}

static struct wire_loop *bench_loop; /* never run but to end connections */

static ssize_t
rd_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    (void)t;
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return (ssize_t)n;
}

static void
rd_close(struct wire_transport *t, bool abort)
{
    (void)t;
    (void)abort;
}

static void
rd_free(struct wire_transport *t)
{
    free(t);
}

static const struct wire_transport_ops reader_ops = {
    .name = "bench-read",
    .write = rd_write,
    .close = rd_close,
    .free = rd_free,
};

/* One "socket" holding `len` bytes at `src`: read it the way
 * sock_readable() does, into the buffer the protocol offers or the
 * loop's, as many reads as that takes. */
static void
read_all(struct wire_transport *t, const char *src, size_t len)
{
    while (len > 0) {
        size_t room = 0;
        void *buf = wire_impl_read_buffer(t, &room);
        if (buf == NULL || room == 0)
            die("no buffer to read into");
        size_t n = len < room ? len : room;
        sim_recv(buf, src, n);
        src += n;
        len -= n;
        if (!wire_impl_read_done(t, buf, n))
            die("the layer stopped reading");
    }
}

/* Feed `reads` reads; returns the messages the protocol above got. */
static uint64_t
wire_side(const struct stream *s, const struct bcase *bc, uint64_t reads)
{
    wire_msgs = 0;
    uint64_t off = 0;
    if (bc->feed == FEED_READ) {
        struct wire_transport *t = calloc(1, sizeof(*t));
        if (t == NULL)
            die("out of memory");
        wire_impl_init(t, &reader_ops, bench_loop);
        wire_impl_start(t, layer_new(bc));
        for (uint64_t i = 0; i < reads; i++, off += READ_SIZE)
            read_all(t, window(s, off), READ_SIZE);
        if (wire_transport_is_closing(t))
            die("the layer failed the stream");
        wire_transport_abort(t); /* connection_lost on the next turn */
        while (wire_loop_run_once(bench_loop, false) == 0)
            ;
        return wire_msgs;
    }
    struct wire_transport *t = wire_string_transport_new(layer_new(bc));
    if (t == NULL)
        die("out of memory");
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

/* The read feed's bare loops read each window into this first. */
static char read_buf[READ_SIZE];

/* The window at `off`, copied into read_buf when `copy` (a read). */
static inline __attribute__((always_inline)) const char *
bare_read(const struct stream *s, uint64_t off, const bool copy)
{
    if (!copy)
        return window(s, off);
    sim_recv(read_buf, window(s, off), READ_SIZE);
    /* Keep the copy: the header loop reads a few bytes of it only. */
    __asm__ volatile("" : : "r"(read_buf) : "memory");
    return read_buf;
}

static inline __attribute__((always_inline)) uint64_t
memchr_loop(const struct stream *s, uint64_t reads, const bool call,
            const bool copy)
{
    uint64_t n = 0, off = 0;
    void (*cb)(const void *, size_t) = per_msg;
    for (uint64_t i = 0; i < reads; i++, off += READ_SIZE) {
        const char *p = bare_read(s, off, copy), *end = p + READ_SIZE, *q;
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
header_loop(const struct stream *s, uint64_t reads, const bool call,
            const bool copy)
{
    uint64_t n = 0, off = 0, skip = 0;
    unsigned char hdr[4];
    size_t hlen = 0;
    void (*cb)(const void *, size_t) = per_msg;
    for (uint64_t i = 0; i < reads; i++, off += READ_SIZE) {
        const unsigned char *d = (const unsigned char *)bare_read(s, off, copy);
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

/* The bare loops, one instance per (call, copy). */
#define BARE_SIDES(copy, sfx)                                                 \
    static uint64_t memchr_side##sfx(const struct stream *s, uint64_t reads)  \
    {                                                                         \
        return memchr_loop(s, reads, false, copy);                            \
    }                                                                         \
    static uint64_t header_side##sfx(const struct stream *s, uint64_t reads)  \
    {                                                                         \
        return header_loop(s, reads, false, copy);                            \
    }                                                                         \
    static uint64_t memchr_call_side##sfx(const struct stream *s,             \
                                          uint64_t reads)                     \
    {                                                                         \
        return memchr_loop(s, reads, true, copy);                             \
    }                                                                         \
    static uint64_t header_call_side##sfx(const struct stream *s,             \
                                          uint64_t reads)                     \
    {                                                                         \
        return header_loop(s, reads, true, copy);                             \
    }
BARE_SIDES(false, )
BARE_SIDES(true, _read)

/* ---- timing ---- */

struct figure {
    double mbs, msgs;
};

/* Run one side for at least MIN_SECONDS; whole periods of the stream
 * (where both sides must agree) are checked exactly. */
enum side { SIDE_WIRE, SIDE_BARE, SIDE_FLOOR };

static uint64_t
run_side(const struct stream *s, const struct bcase *bc, enum side side,
         uint64_t reads)
{
    bool rd = bc->feed == FEED_READ, lines = bc->kind == LINES;
    switch (side) {
    case SIDE_WIRE:
        return wire_side(s, bc, reads);
    case SIDE_BARE:
        if (rd)
            return lines ? memchr_side_read(s, reads) : header_side_read(s, reads);
        return lines ? memchr_side(s, reads) : header_side(s, reads);
    default:
        if (rd)
            return lines ? memchr_call_side_read(s, reads)
                         : header_call_side_read(s, reads);
        return lines ? memchr_call_side(s, reads) : header_call_side(s, reads);
    }
}

static struct figure
timed(const struct stream *s, const struct bcase *bc, enum side side,
      uint64_t reads)
{
    uint64_t total_reads = 0, msgs = 0;
    double t0 = now(), el;
    do {
        uint64_t got = run_side(s, bc, side, reads);
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
stream_for(struct stream *s, const struct bcase *bc)
{
    if (bc->kind == LINES)
        stream_lines(s, bc->msg_bytes);
    else
        stream_lenprefix(s, bc->msg_bytes - 4);
}

/* The smallest number of reads that ends on a message boundary, a few
 * times over (so the per-run setup is noise), at least 32. */
static uint64_t
reads_for(const struct stream *s)
{
    uint64_t reads = 8 * (s->period / gcd(READ_SIZE, s->period));
    while (reads < 32)
        reads *= 2;
    return reads;
}

static void
bench(const struct bcase *bc, int rounds)
{
    const char *name = bc->name;
    struct stream s;
    stream_for(&s, bc);
    uint64_t reads = reads_for(&s);
    /* Same count from both sides, first. */
    uint64_t w = wire_side(&s, bc, reads);
    uint64_t b = run_side(&s, bc, SIDE_BARE, reads);
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
            struct figure f = timed(&s, bc, side, reads);
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
    printf("framing=%s msg_bytes=%zu feed=%s wire_MB/s=%.1f wire_msg/s=%.0f "
           "base_MB/s=%.1f base_msg/s=%.0f ratio=%.3f floor_MB/s=%.1f "
           "floor_msg/s=%.0f floor_ratio=%.3f\n",
           name, s.period, bc->feed == FEED_READ ? "read" : "string", mw,
           median(msgs[SIDE_WIRE], rounds), mb,
           median(msgs[SIDE_BARE], rounds), mw / mb, mf,
           median(msgs[SIDE_FLOOR], rounds), mw / mf);
    fflush(stdout);
    for (int i = 0; i < 3; i++) {
        free(mbs[i]);
        free(msgs[i]);
    }
    free(s.buf);
}

static const struct bcase cases[] = {
    {"lines", LINES, 100, FEED_STRING},
    {"lenprefix", LENPREFIX, 104, FEED_STRING},
    {"lines_read", LINES, 100, FEED_READ},
    {"lenprefix_read", LENPREFIX, 104, FEED_READ},
    {"lines_256k_read", LINES, BIG_MSG, FEED_READ},
    {"lenprefix_256k_read", LENPREFIX, BIG_MSG, FEED_READ},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static int
profile(const char *name, double secs)
{
    const struct bcase *bc = NULL;
    for (size_t i = 0; i < NCASES; i++)
        if (strcmp(name, cases[i].name) == 0)
            bc = &cases[i];
    if (bc == NULL) {
        fprintf(stderr, "wire_framing: --profile NAME, NAME one of:");
        for (size_t i = 0; i < NCASES; i++)
            fprintf(stderr, " %s", cases[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    struct stream s;
    stream_for(&s, bc);
    uint64_t reads = reads_for(&s), msgs = 0, n = 0;
    double t0 = now(), el;
    do {
        msgs += wire_side(&s, bc, reads);
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
    bench_loop = wire_loop_new();
    if (bench_loop == NULL)
        die("no loop");
    if (argc >= 3 && strcmp(argv[1], "--profile") == 0)
        return profile(argv[2], argc > 3 ? atof(argv[3]) : 3.0);
    int rounds = argc > 1 ? atoi(argv[1]) : 7;
    if (rounds < 1 || rounds > 1000) {
        fprintf(stderr, "usage: %s [ROUNDS [NAME...]]\n", argv[0]);
        return 2;
    }
    for (int a = 2; a < argc; a++) {
        size_t i = 0;
        while (i < NCASES && strcmp(argv[a], cases[i].name) != 0)
            i++;
        if (i == NCASES) {
            fprintf(stderr, "wire_framing: no case named %s\n", argv[a]);
            return 2;
        }
    }
    for (size_t i = 0; i < NCASES; i++) {
        bool wanted = argc <= 2;
        for (int a = 2; a < argc && !wanted; a++)
            wanted = strcmp(argv[a], cases[i].name) == 0;
        if (wanted)
            bench(&cases[i], rounds);
    }
    wire_loop_free(bench_loop);
    return 0;
}
