/*
 * The lenprefix layer (<wire/framing.h>): messages behind a binary length
 * prefix of 1, 2, 4 or 8 bytes (either byte order, the prefix counting
 * itself or not), and netstrings; sans-I/O over the string transport
 * (framing.h says how each input is fed every way).  Every width read and
 * written to the byte; limits fail as soon as a length announces too much,
 * before any payload, and never allocate what was only announced; the end
 * of input inside a prefix, a payload or a netstring's ','; a message far
 * larger than one read.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mallinfo2 */
#endif
#include "framing.h"

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
    return s;
}
