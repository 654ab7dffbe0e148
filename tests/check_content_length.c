/*
 * The Content-Length layer (<wire/framing.h>, the LSP base protocol):
 * sans-I/O over the string transport, every input fed whole, byte by byte,
 * cut at every position and in random pieces (framing.h).  Writes framed to
 * the byte; other header fields ignored and names case-insensitive; every
 * malformed header, a duplicate or missing length, a header over the bound
 * and a length over the limit fail with their code and the stream offset;
 * the end of input inside a header or a payload; empty payloads; a message
 * far larger than one read.
 */
#include "framing.h"

#include <stdlib.h>
#include <string.h>

START_TEST(test_cl_basic)
{
    fr_rand_reset("cl_basic");
    static const struct split_case cases[] = {
        {IN("Content-Length: 5\r\n\r\nhello"), CLEAN("hello|"), NRANDOM},
        {IN("Content-Length: 5\r\n\r\nhelloContent-Length: 0\r\n\r\n"
            "Content-Length: 3\r\n\r\n{|}"),
         CLEAN("hello||{\\x7c}|"), NRANDOM},
        /* No message at all. */
        {IN(""), CLEAN(""), 0},
        /* A payload that looks like a header. */
        {IN("Content-Length: 21\r\n\r\nContent-Length: 0\r\n\r\n"),
         CLEAN("Content-Length: 0\\x0d\\x0a\\x0d\\x0a|"), NRANDOM},
    };
    struct stack_cfg c = cl_cfg(0);
    RUN_CASES(&c, cases);
}
END_TEST

START_TEST(test_cl_headers)
{
    fr_rand_reset("cl_headers");
    static const struct split_case cases[] = {
        /* Other fields ignored, before and after; any case. */
        {IN("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
            "content-length: 2\r\n\r\nhi"
            "CONTENT-LENGTH:3\r\nX-Other:\r\n\r\nabc"
            "cOnTeNt-LeNgTh: \t 1 \t\r\n\r\nz"),
         CLEAN("hi|abc|z|"), NRANDOM},
        /* Bare "\n" line endings, and leading zeros. */
        {IN("Content-Length: 004\n\nabcd" "Content-Length: 1\r\n\nx"),
         CLEAN("abcd|x|"), NRANDOM},
    };
    struct stack_cfg c = cl_cfg(0);
    RUN_CASES(&c, cases);
}
END_TEST

START_TEST(test_cl_malformed)
{
    fr_rand_reset("cl_malformed");
    static const struct split_case cases[] = {
        {IN("Content-Length: 2\r\n\r\nokContent-Length: 1x\r\n\r\nz"),
         FAILS("ok|", WIRE_EPROTO,
               "content-length: malformed Content-Length '1x' at stream "
               "offset 23",
               true),
         NRANDOM},
        {IN("Content-Length: -1\r\n\r\n"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed Content-Length '-1' at stream "
               "offset 0",
               true),
         NRANDOM},
        {IN("Content-Length: \r\n\r\n"),
         FAILS("", WIRE_EPROTO,
               "content-length: empty Content-Length at stream offset 0", true),
         NRANDOM},
        {IN("Content-Length: 1 2\r\n\r\nab"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed Content-Length '1 2' at stream "
               "offset 0",
               true),
         NRANDOM},
        {IN("Content-Type: x\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nz"),
         FAILS("", WIRE_EPROTO,
               "content-length: a second Content-Length at stream offset 36 "
               "(header of the message at stream offset 0)",
               true),
         NRANDOM},
        {IN("Content-Length: 1\r\n\r\nzContent-Type: x\r\n\r\n"),
         FAILS("z|", WIRE_EPROTO,
               "content-length: the header of the message at stream offset "
               "22 has no Content-Length",
               true),
         NRANDOM},
        /* A blank line where a header should start. */
        {IN("\r\nContent-Length: 1\r\n\r\nz"),
         FAILS("", WIRE_EPROTO,
               "content-length: the header of the message at stream offset "
               "0 has no Content-Length",
               true),
         NRANDOM},
        {IN("Content-Length 5\r\n\r\nhello"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed header line at stream offset 0 "
               "(byte 0x20 in the field name)",
               true),
         NRANDOM},
        {IN("Content-Length: 1\r\nbogus\r\n\r\nz"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed header line at stream offset 19 "
               "(no ':')",
               true),
         NRANDOM},
        {IN("Content-Length: 1\r\n: x\r\n\r\nz"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed header line at stream offset 19 "
               "(no field name)",
               true),
         NRANDOM},
        /* An obsolete folded line. */
        {IN("Content-Length: 1\r\n x\r\n\r\nz"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed header line at stream offset 19 "
               "(byte 0x20 in the field name)",
               true),
         NRANDOM},
        /* JSON where a header should be (a peer speaking lines). */
        {IN("{\"jsonrpc\":\"2.0\"}\n"),
         FAILS("", WIRE_EPROTO,
               "content-length: malformed header line at stream offset 0 "
               "(byte 0x7b in the field name)",
               true),
         NRANDOM},
    };
    struct stack_cfg c = cl_cfg(0);
    RUN_CASES(&c, cases);
}
END_TEST

START_TEST(test_cl_limits)
{
    fr_rand_reset("cl_limits");
    static const struct split_case cases[] = {
        {IN("Content-Length: 5\r\n\r\n12345"), CLEAN("12345|"), NRANDOM},
        /* Over the limit: fails when the line ends, before the payload
         * and even before the blank line. */
        {IN("Content-Length: 5\r\n\r\n12345Content-Length: 6\r\n"),
         FAILS("12345|", WIRE_EMSGSIZE,
               "content-length: message at stream offset 26 announces 6 "
               "bytes, over the limit of 5 bytes",
               false),
         NRANDOM},
        {IN("Content-Length: 99999999999999999999999999\r\n\r\n"),
         FAILS("", WIRE_EMSGSIZE,
               "content-length: message at stream offset 0 announces "
               "99999999999999999999999999 bytes, over the limit of 5 bytes",
               true),
         NRANDOM},
        {IN("Content-Length: 1234567890123456789012345678901234567890\r\n"),
         FAILS("", WIRE_EMSGSIZE,
               "content-length: message at stream offset 0 announces "
               "123456789012345678901234567890... bytes, over the limit of "
               "5 bytes",
               false),
         NRANDOM},
    };
    struct stack_cfg c = cl_cfg(5);
    RUN_CASES(&c, cases);
}
END_TEST

START_TEST(test_cl_header_bound)
{
    fr_rand_reset("cl_header_bound");
    /* A header of exactly the bound is fine; one byte more fails, at the
     * byte that passes it (also when no line ever ends). */
    size_t max = WIRE_CONTENT_LENGTH_MAX_HEADER;
    char *in = malloc(max + 64);
    ck_assert_ptr_nonnull(in);
    const char *head = "Content-Length: 1\r\nX: ";
    size_t hl = strlen(head);
    size_t fill = max - hl - 4; /* "\r\n\r\n" ends it */
    memcpy(in, head, hl);
    memset(in + hl, 'v', fill);
    memcpy(in + hl + fill, "\r\n\r\nz", 5);
    struct expect ok = CLEAN("z|");
    struct stack_cfg c = cl_cfg(0);
    run_all_splits(&c, in, max + 1, &ok, 8);
    memcpy(in + hl, "vv", 2);
    memset(in + hl, 'v', fill + 1);
    memcpy(in + hl + fill + 1, "\r\n\r\nz", 5);
    char msg[200];
    snprintf(msg, sizeof(msg),
             "content-length: the header of the message at stream offset 0 "
             "is longer than %zu bytes",
             max);
    struct expect bad = FAILS("", WIRE_EPROTO, msg, true);
    bad.msg = msg;
    run_split(&c, in, max + 2, NULL, 0, &bad, "whole");
    size_t cut = max - 1;
    run_split(&c, in, max + 2, &cut, 1, &bad, "cut");
    /* One endless line. */
    memset(in, 'C', max + 10);
    struct expect endless = FAILS("", WIRE_EPROTO, msg, false);
    endless.msg = msg;
    run_split(&c, in, max + 10, NULL, 0, &endless, "endless line");
    free(in);
}
END_TEST

START_TEST(test_cl_eof_inside)
{
    fr_rand_reset("cl_eof_inside");
    static const struct split_case cases[] = {
        {IN("Content-Length: 2\r\n\r\nokContent-Len"),
         FAILS("ok|", WIRE_EINCOMPLETE,
               "content-length: input ended inside the header of the "
               "message at stream offset 23",
               true),
         NRANDOM},
        {IN("Content-Length: 5\r\n\r\n"),
         FAILS("", WIRE_EINCOMPLETE,
               "content-length: input ended inside a message: 0 of 5 bytes "
               "of the message at stream offset 0",
               true),
         NRANDOM},
        {IN("Content-Length: 5\r\n\r\nabc"),
         FAILS("", WIRE_EINCOMPLETE,
               "content-length: input ended inside a message: 3 of 5 bytes "
               "of the message at stream offset 0",
               true),
         NRANDOM},
        {IN("Content-Length: 5\r\n\r"),
         FAILS("", WIRE_EINCOMPLETE,
               "content-length: input ended inside the header of the "
               "message at stream offset 0",
               true),
         NRANDOM},
    };
    struct stack_cfg c = cl_cfg(0);
    RUN_CASES(&c, cases);
}
END_TEST

START_TEST(test_cl_write)
{
    struct stack_cfg c = cl_cfg(0);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_str_eq(wire_transport_name(log.t), "content-length");
    ck_assert_int_eq(wire_transport_write(log.t, "hello", 5), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
    struct iovec iov[3] = {{"ab", 2}, {NULL, 0}, {"c", 1}};
    ck_assert_int_eq(wire_transport_write_sequence(log.t, iov, 3), 0);
    ref_frees = 0;
    ck_assert_int_eq(wire_transport_write_ref(log.t, "xyz", 3, count_free,
                                              &ref_frees), 0);
    ck_assert_int_eq(ref_frees, 1);
    ck_assert_str_eq(unit_output(st),
                     "Content-Length: 5\r\n\r\nhello"
                     "Content-Length: 0\r\n\r\n"
                     "Content-Length: 3\r\n\r\nabc"
                     "Content-Length: 3\r\n\r\nxyz");
    stack_free(st, &log);
}
END_TEST

/* What is written reads back as the same messages, whatever the split,
 * including a message far larger than one read. */
START_TEST(test_cl_roundtrip)
{
    fr_rand_reset("cl_roundtrip");
    size_t big = 300 * 1000;
    char *b = malloc(big);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < big; i++)
        b[i] = (char)('a' + i % 26);
    struct stack_cfg c = cl_cfg(big);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_transport_write(log.t, "{}", 2), 0);
    ck_assert_int_eq(wire_transport_write(log.t, b, big), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
    /* A large write goes down in pieces, the rest on later turns. */
    while (wire_string_transport_step(st) > 0)
        ;
    size_t olen = 0;
    const void *out = wire_string_transport_output(st, &olen);
    ck_assert_uint_eq(olen, 21 + 2 + 26 + big + 21);
    char *copy = malloc(olen);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, out, olen);
    stack_free(st, &log);

    for (int r = 0; r < 6; r++) {
        struct rec_log l2 = {0};
        struct wire_transport *s2 = stack_new(&c, &l2);
        size_t piece = r == 0 ? olen : (size_t)1 << (2 * r + 2);
        ck_assert_int_eq(wire_string_transport_feed_split(s2, copy, olen, piece),
                         0);
        ck_assert_uint_eq(l2.nlens, 3);
        ck_assert_uint_eq(l2.lens[0], 2);
        ck_assert_uint_eq(l2.lens[1], big);
        ck_assert_uint_eq(l2.lens[2], 0);
        ck_assert_int_eq(memcmp(l2.in + 2, b, big), 0);
        stack_free(s2, &l2);
    }
    /* One byte over the limit: refused as soon as the header says so. */
    struct stack_cfg small = cl_cfg(big - 1);
    struct rec_log l3 = {0};
    struct wire_transport *s3 = stack_new(&small, &l3);
    wire_string_transport_feed(s3, copy, 60);
    wire_string_transport_step(s3);
    ck_assert_int_eq(l3.lost_code, WIRE_EMSGSIZE);
    ck_assert_str_eq(rec_escaped(&l3), "{}|");
    stack_free(s3, &l3);
    free(copy);
    free(b);
}
END_TEST

START_TEST(test_cl_bad_args)
{
    struct wire_error err = {0};
    struct rec_log log = {0};
    struct wire_protocol *up = rec_new(&log);
    struct wire_protocol *p = wire_content_length_layer_new(up, SIZE_MAX, &err);
    assert_einval(p, &err,
                  "content-length: the maximum length does not fit in memory");
    ck_assert_int_eq(log.destroyed, 1); /* owned, also on error */
    rec_log_free(&log);
}
END_TEST

Suite *
content_length_suite(void)
{
    Suite *s = suite_create("content_length");
    TCase *tc = fr_tcase(s, "core", 60);
    tcase_add_test(tc, test_cl_basic);
    tcase_add_test(tc, test_cl_headers);
    tcase_add_test(tc, test_cl_write);
    tcase_add_test(tc, test_cl_roundtrip);
    tc = fr_tcase(s, "errors", 60);
    tcase_add_test(tc, test_cl_malformed);
    tcase_add_test(tc, test_cl_limits);
    tcase_add_test(tc, test_cl_header_bound);
    tcase_add_test(tc, test_cl_eof_inside);
    tcase_add_test(tc, test_cl_bad_args);
    return s;
}
