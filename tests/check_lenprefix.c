/*
 * The lenprefix layer (<wire/framing.h>): messages behind a binary length
 * prefix of 1, 2, 4 or 8 bytes (either byte order, the prefix counting
 * itself or not), and netstrings; sans-I/O over the string transport
 * (framing.h says how each input is fed every way).  Every width read and
 * written to the byte; limits fail as soon as a length announces too much,
 * before any payload, and never allocate what was only announced; the end
 * of input inside a prefix, a payload or a netstring's ','; a message far
 * larger than one read.  The rest of a large payload is read straight into
 * the layer's buffer (get_buffer), with the same outcome as through
 * data_received, also when cut anywhere, paused, ended early, refused for
 * its size or handed over to another protocol.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mallinfo2 */
#endif
#include "framing.h"

#include <wire/trace.h>

#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h> /* mallinfo2 */
#endif

/* Encode `len` in `width` bytes. */
static size_t
put_len(unsigned char *out, uint64_t v, unsigned width, bool le)
{
    for (unsigned i = 0; i < width; i++) {
        unsigned shift = le ? 8 * i : 8 * (width - 1 - i);
        out[i] = (unsigned char)(v >> shift);
    }
    return width;
}

START_TEST(test_lenprefix_widths)
{
    fr_rand_reset("lenprefix_widths");
    static const unsigned widths[] = {1, 2, 4, 8};
    for (size_t wi = 0; wi < 4; wi++) {
        for (int le = 0; le < 2; le++) {
            unsigned w = widths[wi];
            unsigned char in[600];
            size_t n = 0;
            n += put_len(in + n, 5, w, le);
            memcpy(in + n, "hello", 5), n += 5;
            n += put_len(in + n, 0, w, le);
            n += put_len(in + n, 1, w, le);
            in[n++] = '|';
            /* 255 bytes fits every width; 300 needs two bytes. */
            size_t big = w == 1 ? 255 : 300;
            n += put_len(in + n, big, w, le);
            for (size_t i = 0; i < big; i++)
                in[n++] = (unsigned char)('a' + i % 26);
            char want[1200];
            size_t k = (size_t)snprintf(want, sizeof(want), "hello||\\x7c|");
            for (size_t i = 0; i < big; i++)
                want[k++] = (char)('a' + i % 26);
            want[k++] = '|';
            want[k] = '\0';
            struct stack_cfg c = lp_cfg(w, le, 0);
            struct expect e = CLEAN(want);
            run_all_splits(&c, in, n, &e, 16);

            /* The same messages, written, give the same bytes. */
            struct rec_log log = {0};
            struct wire_transport *st = stack_new(&c, &log);
            ck_assert_int_eq(wire_transport_write(log.t, "hello", 5), 0);
            ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
            struct iovec iov[2] = {{"", 0}, {"|", 1}};
            ck_assert_int_eq(wire_transport_write_sequence(log.t, iov, 2), 0);
            char *bigp = malloc(big);
            ck_assert_ptr_nonnull(bigp);
            for (size_t i = 0; i < big; i++)
                bigp[i] = (char)('a' + i % 26);
            ck_assert_int_eq(wire_transport_write(log.t, bigp, big), 0);
            size_t olen = 0;
            const void *out = wire_string_transport_output(st, &olen);
            ck_assert_uint_eq(olen, n);
            ck_assert_msg(memcmp(out, in, n) == 0, "width %u le %d", w, le);
            free(bigp);
            stack_free(st, &log);
        }
    }
}
END_TEST

START_TEST(test_lenprefix_write_exact)
{
    struct {
        struct stack_cfg c;
        const char *out;
        size_t out_len;
    } cases[] = {
        {lp_cfg(1, false, 0), "\x05hello", 6},
        {lp_cfg(1, true, 0), "\x05hello", 6},
        {lp_cfg(2, false, 0), "\x00\x05hello", 7},
        {lp_cfg(2, true, 0), "\x05\x00hello", 7},
        {lp_cfg(4, false, 0), "\x00\x00\x00\x05hello", 9},
        {lp_cfg(4, true, 0), "\x05\x00\x00\x00hello", 9},
        {lp_cfg(8, false, 0), "\x00\x00\x00\x00\x00\x00\x00\x05hello", 13},
        {lp_cfg(8, true, 0), "\x05\x00\x00\x00\x00\x00\x00\x00hello", 13},
        {ns_cfg(0), "5:hello,", 8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rec_log log = {0};
        struct wire_transport *st = stack_new(&cases[i].c, &log);
        ref_frees = 0;
        /* write, write_sequence and write_ref all frame the same way. */
        ck_assert_int_eq(wire_transport_write(log.t, "hello", 5), 0);
        struct iovec iov[3] = {{"he", 2}, {"", 0}, {"llo", 3}};
        ck_assert_int_eq(wire_transport_write_sequence(log.t, iov, 3), 0);
        ck_assert_int_eq(wire_transport_write_ref(log.t, "hello", 5, count_free,
                                                  &ref_frees), 0);
        ck_assert_int_eq(ref_frees, 1);
        size_t olen = 0;
        const char *out = wire_string_transport_output(st, &olen);
        ck_assert_uint_eq(olen, 3 * cases[i].out_len);
        for (int k = 0; k < 3; k++)
            ck_assert_msg(memcmp(out + k * cases[i].out_len, cases[i].out,
                                 cases[i].out_len) == 0,
                          "case %zu write %d", i, k);
        stack_free(st, &log);
    }
    /* Empty messages. */
    struct stack_cfg ns = ns_cfg(0);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&ns, &log);
    ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
    char twelve[12];
    memset(twelve, '.', sizeof(twelve));
    ck_assert_int_eq(wire_transport_write(log.t, twelve, 12), 0);
    ck_assert_str_eq(unit_output(st), "0:,12:............,");
    stack_free(st, &log);
}
END_TEST

START_TEST(test_lenprefix_write_too_long)
{
    char buf[70000];
    memset(buf, 'q', sizeof(buf));
    struct {
        struct stack_cfg c;
        bool counts_header;
        size_t fits, too_long;
    } cases[] = {
        {lp_cfg(1, false, 0), false, 255, 256},
        {lp_cfg(1, true, 0), true, 254, 255},
        {lp_cfg(2, false, 0), false, 65535, 65536},
        {lp_cfg(2, true, 0), true, 65533, 65534},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cases[i].c.lo.counts_header = cases[i].counts_header;
        struct rec_log log = {0};
        struct wire_transport *st = stack_new(&cases[i].c, &log);
        ref_frees = 0;
        ck_assert_int_eq(wire_transport_write(log.t, buf, cases[i].too_long),
                         WIRE_EMSGSIZE);
        struct iovec iov[2] = {{buf, 1}, {buf, cases[i].too_long - 1}};
        ck_assert_int_eq(wire_transport_write_sequence(log.t, iov, 2), WIRE_EMSGSIZE);
        ck_assert_int_eq(wire_transport_write_ref(log.t, buf, cases[i].too_long,
                                                  count_free, &ref_frees),
                         WIRE_EMSGSIZE);
        ck_assert_int_eq(ref_frees, 0);
        size_t olen = 0;
        wire_string_transport_output(st, &olen);
        ck_assert_uint_eq(olen, 0);
        ck_assert(!wire_transport_is_closing(log.t));
        ck_assert_int_eq(wire_transport_write(log.t, buf, cases[i].fits), 0);
        wire_string_transport_output(st, &olen);
        unsigned w = cases[i].c.lo.width;
        ck_assert_uint_eq(olen, w + cases[i].fits);
        stack_free(st, &log);
    }
}
END_TEST

START_TEST(test_lenprefix_counts_header)
{
    fr_rand_reset("lenprefix_counts_header");
    static const struct split_case cases[] = {
        {IN("\x00\x07hello\x00\x02"), CLEAN("hello||"), NRANDOM},
        /* A length smaller than the prefix itself. */
        {IN("\x00\x07hello\x00\x01zz"),
         FAILS("hello|", WIRE_EPROTO,
               "lenprefix: length 1 at stream offset 7 is smaller than its "
               "own 2-byte prefix",
               true),
         NRANDOM},
    };
    struct stack_cfg c = lp_cfg(2, false, 0);
    c.lo.counts_header = true;
    RUN_CASES(&c, cases);
    /* Writing counts the prefix too. */
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_transport_write(log.t, "hello", 5), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
    size_t olen = 0;
    const char *out = wire_string_transport_output(st, &olen);
    ck_assert_uint_eq(olen, 9);
    ck_assert_int_eq(memcmp(out, "\x00\x07hello\x00\x02", 9), 0);
    stack_free(st, &log);
    /* LE, width 4. */
    c = lp_cfg(4, true, 0);
    c.lo.counts_header = true;
    struct expect e4 = CLEAN("ab|");
    run_all_splits(&c, IN("\x06\x00\x00\x00" "ab"), &e4, NRANDOM);
}
END_TEST

START_TEST(test_lenprefix_max_len)
{
    fr_rand_reset("lenprefix_max_len");
    static const char over[] = "lenprefix: message at stream offset 7 "
                               "announces 6 bytes, over the limit of 5 bytes";
    static const struct split_case cases[] = {
        {IN("\x00\x05" "12345"), CLEAN("12345|"), NRANDOM},
        /* Over the limit: fails once the length is known, before the
         * payload (which never comes here)... */
        {IN("\x00\x05" "12345\x00\x06"),
         FAILS("12345|", WIRE_EMSGSIZE, over, false), NRANDOM},
        /* ...or which does. */
        {IN("\x00\x05" "12345\x00\x06" "123456"),
         FAILS("12345|", WIRE_EMSGSIZE, over, true), NRANDOM},
    };
    struct stack_cfg c = lp_cfg(2, false, 5);
    RUN_CASES(&c, cases);
}
END_TEST

/* Bytes the heap handed out: used to show that an announced length is
 * not allocated before its bytes arrive.  Sanitizers and valgrind
 * replace malloc and may report 0 here; the check then just passes. */
static size_t
heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#else
    return 0;
#endif
}

START_TEST(test_lenprefix_absurd_length)
{
    fr_rand_reset("lenprefix_absurd_length");
    /* 4 GB announced with the default limit: fails after the 4 prefix
     * bytes, before any payload. */
    struct stack_cfg c = lp_cfg(4, false, 0);
    struct expect e = FAILS("", WIRE_EMSGSIZE,
                            "lenprefix: message at stream offset 0 announces "
                            "4294967295 bytes, over the limit of 1048576 bytes",
                            false);
    run_all_splits(&c, IN("\xff\xff\xff\xff"), &e, NRANDOM);
    for (int whole = 0; whole < 2; whole++) {
        struct rec_log log = {0};
        struct wire_transport *st = stack_new(&c, &log);
        size_t before = heap_in_use();
        if (whole) {
            ck_assert_int_eq(wire_string_transport_feed(st, "\xff\xff\xff\xff", 4), 0);
        } else {
            ck_assert_int_eq(wire_string_transport_feed(st, "\xff\xff\xff", 3), 0);
            ck_assert(!wire_string_transport_aborted(st));
            ck_assert_int_eq(wire_string_transport_feed(st, "\xff", 1), 0);
        }
        ck_assert(wire_string_transport_aborted(st));
        ck_assert_uint_lt(heap_in_use(), before + 64 * 1024);
        ck_assert_int_eq(wire_string_transport_feed(st, "x", 1), WIRE_ECLOSED);
        wire_string_transport_step(st);
        ck_assert_int_eq(log.lost_code, WIRE_EMSGSIZE);
        stack_free(st, &log);
    }
    /* 8-byte prefix, all ones, little endian. */
    c = lp_cfg(8, true, 0);
    struct expect e8 = FAILS("", WIRE_EMSGSIZE,
                             "lenprefix: message at stream offset 0 announces "
                             "18446744073709551615 bytes, over the limit of "
                             "1048576 bytes",
                             true);
    run_all_splits(&c, IN("\xff\xff\xff\xff\xff\xff\xff\xff" "abc"), &e8, 8);

    /* A limit large enough to accept 4 GB: the buffer grows with the
     * bytes that arrive, never to the announced length at once. */
    c = lp_cfg(4, false, (uint64_t)1 << 40);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    size_t before = heap_in_use();
    ck_assert_int_eq(wire_string_transport_feed(st, "\xff\xff\xff\xff", 4), 0);
    char part[1000];
    memset(part, 'p', sizeof(part));
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(wire_string_transport_feed(st, part, sizeof(part)), 0);
    ck_assert(!wire_string_transport_aborted(st));
    ck_assert_uint_lt(heap_in_use(), before + 256 * 1024);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost_code, WIRE_EINCOMPLETE);
    ck_assert_str_eq(log.lost_msg, "lenprefix: input ended inside a message: "
                                   "10000 of 4294967295 bytes of the message at "
                                   "stream offset 0");
    stack_free(st, &log);
}
END_TEST

START_TEST(test_lenprefix_eof_mid_message)
{
    fr_rand_reset("lenprefix_eof_mid");
    static const struct split_case lp[] = {
        {IN("\x00\x00\x00\x02" "ab\x00\x00"),
         FAILS("ab|", WIRE_EINCOMPLETE,
               "lenprefix: input ended inside the length of the message at "
               "stream offset 6",
               true),
         NRANDOM},
        {IN("\x00\x00\x00\x02" "ab\x00\x00\x00\x05" "hel"),
         FAILS("ab|", WIRE_EINCOMPLETE,
               "lenprefix: input ended inside a message: 3 of 5 bytes of the "
               "message at stream offset 6",
               true),
         NRANDOM},
        /* Only the prefix of a non-empty message. */
        {IN("\x00\x00\x00\x01"),
         FAILS("", WIRE_EINCOMPLETE,
               "lenprefix: input ended inside a message: 0 of 1 bytes of the "
               "message at stream offset 0",
               true),
         NRANDOM},
        /* Between messages: a clean EOF. */
        {IN("\x00\x00\x00\x02" "ab\x00\x00\x00\x00"), CLEAN("ab||"), NRANDOM},
    };
    static const struct split_case ns[] = {
        /* The payload goes up as soon as it is complete; only then is the
         * ',' awaited. */
        {IN("5:hello"),
         FAILS("hello|", WIRE_EINCOMPLETE,
               "netstring: input ended inside the trailing ',' of the "
               "message at stream offset 0",
               true),
         NRANDOM},
        {IN("5:hello,12"),
         FAILS("hello|", WIRE_EINCOMPLETE,
               "netstring: input ended inside the length of the message at "
               "stream offset 8",
               true),
         NRANDOM},
        {IN("5:hello,3:ab"),
         FAILS("hello|", WIRE_EINCOMPLETE,
               "netstring: input ended inside a message: 2 of 3 bytes of the "
               "message at stream offset 8",
               true),
         NRANDOM},
        {IN("0:"),
         FAILS("|", WIRE_EINCOMPLETE,
               "netstring: input ended inside the trailing ',' of the "
               "message at stream offset 0",
               true),
         NRANDOM},
    };
    struct stack_cfg c = lp_cfg(4, false, 0);
    RUN_CASES(&c, lp);
    c = ns_cfg(0);
    RUN_CASES(&c, ns);
}
END_TEST

START_TEST(test_netstring)
{
    fr_rand_reset("netstring");
    static const char lead[] = "netstring: netstring length with a leading "
                               "zero (stream offset 1)";
    /* `max`: the limit (0: the default). */
    static const struct {
        uint64_t max;
        struct split_case k;
    } cases[] = {
        {0,
         {IN("5:hello,0:,3:a,b,10:0123456789,1:\n,"),
          CLEAN("hello||a,b|0123456789|\\x0a|"), NRANDOM}},
        {0, {IN("05:hello,"), FAILS("", WIRE_EPROTO, lead, true), NRANDOM}},
        {0, {IN("00:,"), FAILS("", WIRE_EPROTO, lead, true), NRANDOM}},
        {0,
         {IN("5:hello,x:"),
          FAILS("hello|", WIRE_EPROTO,
                "netstring: netstring length expected, got byte 0x78 "
                "(stream offset 8)",
                true),
          NRANDOM}},
        {0,
         {IN(":hello,"),
          FAILS("", WIRE_EPROTO,
                "netstring: netstring length expected, got byte 0x3a "
                "(stream offset 0)",
                true),
          NRANDOM}},
        {0,
         {IN("1 :x,"),
          FAILS("", WIRE_EPROTO,
                "netstring: netstring length expected, got byte 0x20 "
                "(stream offset 1)",
                true),
          NRANDOM}},
        {0,
         {IN("5:hello;3:abc,"),
          FAILS("hello|", WIRE_EPROTO,
                "netstring: netstring payload not followed by ',' (stream "
                "offset 7)",
                true),
          NRANDOM}},
        {0,
         {IN("0:0:,"),
          FAILS("|", WIRE_EPROTO,
                "netstring: netstring payload not followed by ',' (stream "
                "offset 2)",
                false),
          NRANDOM}},
        /* The limit, checked while the digits are still coming. */
        {10, {IN("10:0123456789,"), CLEAN("0123456789|"), NRANDOM}},
        {10,
         {IN("2:ab,11:"),
          FAILS("ab|", WIRE_EMSGSIZE,
                "netstring: message at stream offset 5 announces a length of "
                "at least 11 bytes, over the limit of 10 bytes",
                false),
          NRANDOM}},
        /* An endless run of digits fails within a few bytes. */
        {0,
         {IN("99999999999999999999999999999999"),
          FAILS("", WIRE_EMSGSIZE,
                "netstring: message at stream offset 0 announces a length of "
                "at least 9999999 bytes, over the limit of 1048576 bytes",
                false),
          8}},
        /* With the largest limit allowed, a length past 2^64 must not wrap
         * round to a small one (2^64 + 5 is not 5)... */
        {SIZE_MAX / 2,
         {IN("18446744073709551621:hello,"),
          FAILS("", WIRE_EMSGSIZE,
                "netstring: message at stream offset 0 announces a length of "
                "at least 18446744073709551615 bytes, over the limit of "
                "9223372036854775807 bytes",
                true),
          NRANDOM}},
        /* ...while up to the limit itself the digits are fine (the
         * payload is not). */
        {SIZE_MAX / 2,
         {IN("9223372036854775807:ab"),
          FAILS("", WIRE_EINCOMPLETE,
                "netstring: input ended inside a message: 2 of "
                "9223372036854775807 bytes of the message at stream offset 0",
                true),
          8}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stack_cfg c = ns_cfg(cases[i].max);
        run_cases(&c, &cases[i].k, 1);
    }
}
END_TEST

START_TEST(test_lenprefix_spanning_many_reads)
{
    fr_rand_reset("lenprefix_spanning");
    /* 200 KiB message between two small ones, 8-byte big-endian prefix,
     * fed in random pieces of up to 4 KiB. */
    size_t big = 200 * 1024;
    size_t total = 8 + 1 + 8 + big + 8 + 2;
    unsigned char *in = malloc(total);
    ck_assert_ptr_nonnull(in);
    size_t n = 0;
    n += put_len(in + n, 1, 8, false);
    in[n++] = 'A';
    n += put_len(in + n, big, 8, false);
    for (size_t i = 0; i < big; i++)
        in[n++] = (unsigned char)(fr_rand() & 0xff);
    n += put_len(in + n, 2, 8, false);
    in[n++] = 'Z';
    in[n++] = 'z';
    ck_assert_uint_eq(n, total);
    struct stack_cfg c = lp_cfg(8, false, 0);
    for (int r = 0; r < 6; r++) {
        struct rec_log log = {0};
        struct wire_transport *st = stack_new(&c, &log);
        size_t off = 0, pieces = 0;
        size_t cap = r == 0 ? 1 : r == 1 ? 7 : 4096;
        while (off < total) {
            size_t k = 1 + fr_rand_below(cap);
            if (k > total - off)
                k = total - off;
            ck_assert_int_eq(wire_string_transport_feed(st, in + off, k), 0);
            off += k;
            pieces++;
        }
        ck_assert_uint_gt(pieces, 50);
        ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
        wire_string_transport_step(st);
        ck_assert_msg(log.nlens == 3, "run %d (WIRE_TEST_SEED=%u): %zu messages",
                      r, fr_seed, log.nlens);
        ck_assert_uint_eq(log.lens[0], 1);
        ck_assert_uint_eq(log.lens[1], big);
        ck_assert_uint_eq(log.lens[2], 2);
        ck_assert_int_eq(log.in[0], 'A');
        ck_assert_msg(memcmp(log.in + 1, in + 17, big) == 0,
                      "run %d (WIRE_TEST_SEED=%u): payload differs", r, fr_seed);
        ck_assert_int_eq(memcmp(log.in + 1 + big, "Zz", 2), 0);
        ck_assert(log.lost_null);
        stack_free(st, &log);
    }
    free(in);
}
END_TEST


/* ---- zero-copy receive (get_buffer) ---- */

/* Append a binary message (`width`-byte big-endian prefix) of `len`
 * payload bytes fr_byte(seed + i) to the input and the expected marks;
 * returns the payload's offset in the input. */
static size_t
add_msg(struct fr_bufs *b, size_t len, size_t seed, unsigned width)
{
    b->n += put_len(b->in + b->n, len, width, false);
    size_t at = b->n;
    fr_bufs_add(b, len, seed);
    return at;
}

/* Big messages (rests of a quarter of a read or more come through the
 * layer's buffer), small and empty ones between them, cut everywhere
 * near where the format changes state: the same messages and the same
 * end both ways, and the buffer was used. */
START_TEST(test_lenprefix_buffered_splits)
{
    fr_rand_reset("lenprefix_buffered_splits");
    struct fr_bufs b = fr_bufs_new(70000);
    size_t marks[16], nm = 0;
    marks[nm++] = add_msg(&b, 20000, 0, 4);
    marks[nm++] = b.n;
    marks[nm++] = add_msg(&b, 5, 1, 4);
    marks[nm++] = add_msg(&b, 0, 2, 4);
    marks[nm++] = add_msg(&b, 40000, 3, 4);
    marks[nm++] = b.n;
    fr_paths_reset();
    struct stack_cfg c = lp_cfg(4, false, 0);
    struct expect e = CLEAN(b.want);
    run_long_splits(&c, b.in, b.n, marks, nm, 6, 997, &e, 24);
    ck_assert_uint_gt(fr_paths.offered, 0);
    ck_assert_uint_gt(fr_paths.bytes, 60000);

    /* Cut short inside the big payload, then EOF: the same count of
     * bytes got in the error text both ways. */
    char msg[200];
    snprintf(msg, sizeof(msg),
             "lenprefix: input ended inside a message: 30000 of 40000 bytes "
             "of the message at stream offset %zu", marks[4] - 4);
    b.want[b.k - 40001] = '\0'; /* the messages before the cut one */
    struct expect eof = FAILS(b.want, WIRE_EINCOMPLETE, msg, true);
    run_long_splits(&c, b.in, marks[4] + 30000, marks, nm - 1, 4, 4999, &eof, 8);
    fr_bufs_free(&b);
}
END_TEST

/* The rest of the payload lands in the layer's buffer, and the message
 * goes up from there: no copy.  A rest under a quarter of the read is
 * copied instead (a read apart would cost more), through recv. */
START_TEST(test_lenprefix_buffered_in_place)
{
    size_t len = 50000;
    struct fr_bufs b = fr_bufs_new(len + 4);
    put_len(b.in, len, 4, true);
    b.n = 4;
    fr_bufs_add(&b, len, 0);
    struct stack_cfg c = lp_cfg(4, true, 0);
    struct rec_log log = {.on_data = fr_note_data};
    struct wire_transport *st = stack_new(&c, &log);
    fr_paths_reset();
    /* The prefix and 100 bytes: through recv, gathered. */
    ck_assert_int_eq(wire_string_transport_feed(st, b.in, 104), 0);
    ck_assert_uint_eq(fr_paths.recv_reads, 1);
    ck_assert_uint_eq(fr_paths.offered, 0);
    /* The rest: straight into the buffer. */
    ck_assert_int_eq(wire_string_transport_feed(st, b.in + 104, len - 100), 0);
    ck_assert_uint_eq(fr_paths.recv_reads, 1);
    ck_assert_uint_ge(fr_paths.offered, 1);
    ck_assert_uint_eq(fr_paths.bytes, len - 100);
    ck_assert_uint_eq(log.nlens, 1);
    ck_assert_uint_eq(log.lens[0], len);
    ck_assert(memcmp(log.in, b.in + 4, len) == 0);
    /* Delivered from the buffer the rest was read into. */
    ck_assert_ptr_eq(fr_first_data + 100, fr_paths.last_buf);

    /* The next message's rest is small (under 16 KiB): copied, through
     * recv, although its length is known. */
    fr_paths_reset();
    ck_assert_int_eq(wire_string_transport_feed(st, b.in, 4 + len - 10000), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, b.in + 4 + len - 10000,
                                                10000), 0);
    ck_assert_uint_eq(fr_paths.offered, 0);
    ck_assert_uint_eq(fr_paths.recv_reads, 2);
    ck_assert_uint_eq(log.nlens, 2);
    ck_assert(memcmp(log.in + len, b.in + 4, len) == 0);
    stack_free(st, &log);
    fr_bufs_free(&b);
}
END_TEST

/* A length over the limit right after a message that came through the
 * buffer is refused before anything of it is read; netstrings, and a
 * netstring whose ',' is missing after a payload read in place. */
START_TEST(test_lenprefix_buffered_limits_netstring)
{
    fr_rand_reset("lenprefix_buffered_limits");
    struct fr_bufs b = fr_bufs_new(80000);
    size_t marks[8], nm = 0;
    marks[nm++] = add_msg(&b, 20000, 0, 4);
    marks[nm++] = b.n;
    b.n += put_len(b.in + b.n, 30001, 4, false);
    memset(b.in + b.n, 'j', 100);
    b.n += 100;
    struct stack_cfg c = lp_cfg(4, false, 30000);
    struct expect e = FAILS(b.want, WIRE_EMSGSIZE,
                            "lenprefix: message at stream offset 20004 "
                            "announces 30001 bytes, over the limit of 30000 "
                            "bytes",
                            false);
    fr_paths_reset();
    run_long_splits(&c, b.in, b.n, marks, nm, 6, 1999, &e, 8);
    ck_assert_uint_gt(fr_paths.bytes, 0);

    /* Netstrings: "20000:...,3:abc,30000:...,". */
    b.n = b.k = nm = 0;
    for (size_t m = 0; m < 3; m++) {
        size_t len = m == 0 ? 20000 : m == 1 ? 3 : 30000;
        b.n += (size_t)sprintf((char *)b.in + b.n, "%zu:", len);
        marks[nm++] = b.n;
        fr_bufs_add(&b, len, m);
        marks[nm++] = b.n;
        b.in[b.n++] = ',';
    }
    c = ns_cfg(0);
    struct expect ns = CLEAN(b.want);
    fr_paths_reset();
    run_long_splits(&c, b.in, b.n, marks, nm, 4, 1999, &ns, 8);
    ck_assert_uint_gt(fr_paths.bytes, 0);

    /* The first payload, then 'X' where the ',' belongs. */
    b.in[marks[1]] = 'X';
    b.want[20001] = '\0';
    struct expect comma = FAILS(b.want, WIRE_EPROTO,
                                "netstring: netstring payload not followed "
                                "by ',' (stream offset 20006)",
                                false);
    run_long_splits(&c, b.in, marks[1] + 10, marks, 2, 4, 1999, &comma, 8);

    /* The ',' is read with the payload's end, in the same read: nothing
     * of the message is left behind in the transport below (a protocol
     * closing after it would otherwise reset the connection). */
    b.in[marks[1]] = ',';
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    fr_paths_reset();
    ck_assert_int_eq(wire_string_transport_feed(st, b.in, 106), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, b.in + 106,
                                                marks[1] + 1 - 106), 0);
    ck_assert_uint_eq(fr_paths.updates, 1);
    ck_assert_uint_eq(fr_paths.bytes, 20000 - 100 + 1);
    ck_assert_str_eq(rec_escaped(&log), b.want);
    fr_end_clean(st, &log);
    fr_bufs_free(&b);
}
END_TEST

/* Pause reading in a message: what follows waits in the transport below
 * and comes through the buffer on resume; a pause inside the message a
 * buffered read completed keeps the rest of that read for later. */
START_TEST(test_lenprefix_buffered_pause)
{
    struct fr_bufs b = fr_bufs_new(50000);
    add_msg(&b, 5, 0, 4);
    size_t big = add_msg(&b, 40000, 1, 4);
    add_msg(&b, 3, 2, 4);
    struct stack_cfg c = lp_cfg(4, false, 0);
    for (int pass = 0; pass < 2; pass++) {
        struct rec_log log = {0};
        log.on_data = pass == 0 ? rec_pause_on_first : fr_pause_on_long;
        struct wire_transport *st = stack_new(&c, &log);
        fr_paths_reset();
        /* The first message, the next prefix and 100 payload bytes. */
        ck_assert_int_eq(wire_string_transport_feed(st, b.in, big + 100), 0);
        ck_assert_int_eq(wire_string_transport_feed(st, b.in + big + 100,
                                                    b.n - big - 100), 0);
        ck_assert_uint_eq(log.nlens, pass == 0 ? 1 : 2); /* before resuming */
        ck_assert(!wire_transport_is_reading(log.t));
        ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
        wire_string_transport_step(st);
        ck_assert_str_eq(rec_escaped(&log), b.want);
        ck_assert_uint_eq(fr_paths.bytes, 40000 - 100);
        fr_end_clean(st, &log);
    }
    fr_bufs_free(&b);
}
END_TEST

/* The protocol above hands its transport over to another one in a
 * message: the big message after it, read through the buffer, goes to
 * the new protocol. */
struct handover {
    struct wire_protocol *next, *returned;
};
static struct handover ho;

static void
switch_on_go(struct rec_log *log, struct wire_transport *t, const void *data,
             size_t len)
{
    (void)log;
    if (len == 2 && memcmp(data, "go", 2) == 0) {
        struct wire_error err = {0};
        ho.returned = wire_transport_set_protocol(t, ho.next, NULL, 0, &err);
        ck_assert_msg(ho.returned != NULL, "%s", err.message);
    }
}

START_TEST(test_lenprefix_buffered_handover)
{
    struct fr_bufs b = fr_bufs_new(50000);
    b.n += put_len(b.in, 2, 4, false);
    memcpy(b.in + b.n, "go", 2);
    b.n += 2;
    add_msg(&b, 40000, 0, 4);
    add_msg(&b, 1, 1, 4);
    struct rec_log log = {.on_data = switch_on_go}, next_log = {.messages = true};
    memset(&ho, 0, sizeof(ho));
    ho.next = rec_new(&next_log);
    struct stack_cfg c = lp_cfg(4, false, 0);
    struct wire_transport *st = stack_new(&c, &log);
    fr_paths_reset();
    ck_assert_int_eq(wire_string_transport_feed_split(st, b.in, b.n, 1000), 0);
    wire_string_transport_step(st);
    ck_assert_ptr_nonnull(ho.returned);
    ck_assert_str_eq(rec_escaped(&log), "go|");
    ck_assert_str_eq(rec_escaped(&next_log), b.want);
    ck_assert_uint_gt(fr_paths.bytes, 20000);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert(next_log.eof == 1 && next_log.lost_null);
    wire_string_transport_free(st);
    ck_assert_int_eq(next_log.destroyed, 1);
    ck_assert_int_eq(log.lost, 0); /* detached, never lost */
    wire_protocol_destroy(ho.returned);
    ck_assert_int_eq(log.destroyed, 1);
    rec_log_free(&log);
    rec_log_free(&next_log);
    fr_bufs_free(&b);
}
END_TEST

/* A trace layer above: the lenprefix layer still reads into its buffer. */
static void
count_trace(void *arg, const struct wire_trace_event *ev)
{
    (void)ev;
    (*(int *)arg)++;
}

START_TEST(test_lenprefix_buffered_trace_above)
{
    /* string -> lenprefix (its reads through its buffer) -> trace -> rec */
    struct fr_bufs b = fr_bufs_new(50000);
    add_msg(&b, 7, 0, 2);
    add_msg(&b, 40000, 1, 2);
    struct rec_log log = {.messages = true};
    int events = 0;
    struct wire_trace_opts to = {.cb = count_trace, .arg = &events};
    struct wire_error err = {0};
    struct wire_protocol *tr = wire_trace_layer_new(rec_new(&log), &to, &err);
    ck_assert_ptr_nonnull(tr);
    struct wire_lenprefix_opts o;
    wire_lenprefix_opts_init(&o, 2, false);
    struct wire_protocol *lp = wire_lenprefix_layer_new(tr, &o, &err);
    ck_assert_ptr_nonnull(lp);
    ck_assert_ptr_nonnull(lp->ops->get_buffer);
    fr_spy_on(lp);
    fr_paths_reset();
    struct wire_transport *st = wire_string_transport_new(lp);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(wire_string_transport_feed_split(st, b.in, b.n, 4096), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_escaped(&log), b.want);
    ck_assert_uint_gt(fr_paths.bytes, 20000);
    ck_assert_int_gt(events, 2);
    ck_assert(log.lost_null);
    wire_string_transport_free(st);
    ck_assert_int_eq(log.destroyed, 1);
    rec_log_free(&log);
    fr_bufs_free(&b);
}
END_TEST

/* A large buffer is let go on the next turn once nothing is pending; a
 * message begun before that turn keeps it (a stream of large messages
 * does not free and grow it again for each). */
START_TEST(test_lenprefix_buffered_release)
{
    size_t len = 200000;
    struct fr_bufs b = fr_bufs_new(len + 4);
    add_msg(&b, len, 0, 4);
    struct stack_cfg c = lp_cfg(4, false, 0);
    for (int next = 0; next < 2; next++) {
        struct rec_log log = {0};
        struct wire_transport *st = stack_new(&c, &log);
        fr_paths_reset();
        ck_assert_int_eq(wire_string_transport_feed_split(st, b.in, b.n,
                                                          65536), 0);
        ck_assert_uint_eq(log.nlens, 1);
        ck_assert_uint_gt(fr_paths.bytes, len / 2);
        if (next) /* the next message's prefix and first bytes */
            ck_assert_int_eq(wire_string_transport_feed(st, b.in, 1004), 0);
        size_t before = heap_in_use();
        wire_string_transport_step(st);
        size_t after = heap_in_use();
        if (before != 0 && next)
            ck_assert_uint_ge(after + 1024, before);
        else if (before != 0)
            ck_assert_uint_le(after + len / 2, before);
        if (next) {
            ck_assert_int_eq(wire_string_transport_feed(st, b.in + 1004,
                                                        b.n - 1004), 0);
            ck_assert_uint_eq(log.nlens, 2);
            ck_assert(memcmp(log.in + len, b.in + 4, len) == 0);
        }
        stack_free(st, &log);
    }
    fr_bufs_free(&b);
}
END_TEST

Suite *
lenprefix_suite(void)
{
    Suite *s = suite_create("lenprefix");
    TCase *tc = fr_tcase(s, "core", 120);
    tcase_add_test(tc, test_lenprefix_widths);
    tcase_add_test(tc, test_lenprefix_write_exact);
    tcase_add_test(tc, test_lenprefix_write_too_long);
    tcase_add_test(tc, test_lenprefix_counts_header);
    tcase_add_test(tc, test_netstring);
    tcase_add_test(tc, test_lenprefix_spanning_many_reads);

    tc = fr_tcase(s, "errors", 120);
    tcase_add_test(tc, test_lenprefix_max_len);
    tcase_add_test(tc, test_lenprefix_absurd_length);
    tcase_add_test(tc, test_lenprefix_eof_mid_message);

    tc = fr_tcase(s, "buffered", 300);
    tcase_add_test(tc, test_lenprefix_buffered_splits);
    tcase_add_test(tc, test_lenprefix_buffered_in_place);
    tcase_add_test(tc, test_lenprefix_buffered_limits_netstring);
    tcase_add_test(tc, test_lenprefix_buffered_pause);
    tcase_add_test(tc, test_lenprefix_buffered_handover);
    tcase_add_test(tc, test_lenprefix_buffered_trace_above);
    tcase_add_test(tc, test_lenprefix_buffered_release);
    return s;
}
