/*
 * The chunk layer (<wire/framing.h>): messages split on a delimiter, and
 * its "lines" form, sans-I/O over the string transport (framing.h says
 * how each input is fed every way).  Reading: delimiters of one byte and
 * of several (self-overlapping ones too) against a whole-input scanner,
 * empty messages, CRLF; the limit, failing as soon as the unterminated
 * bytes cannot be a message any more; the end of input inside a message.
 * Writing: each write framed, and refused when the payload would not
 * reach the peer as that one message.  Reads that continue an
 * unterminated chunk go straight into the layer's buffer (get_buffer),
 * with the same outcome as through data_received, also when cut
 * anywhere, paused, ended early, over the limit or fed from inside a
 * message.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "framing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- chunk: splitting ---- */

START_TEST(test_chunk_newline)
{
    fr_rand_reset("chunk_newline");
    struct stack_cfg c = chunk_cfg(NULL, 0);
    static const char in[] = "one\ntwo\n\nthree and more\n\n";
    struct expect e = CLEAN("one|two||three and more||");
    run_all_splits(&c, in, sizeof(in) - 1, &e, NRANDOM);
    /* Without EOF the messages are the same and nothing is lost yet. */
    e.eof = false;
    run_all_splits(&c, in, sizeof(in) - 1, &e, 8);
}
END_TEST

START_TEST(test_chunk_empty_chunks)
{
    fr_rand_reset("chunk_empty_chunks");
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct expect e = CLEAN("||||");
    run_all_splits(&c, "\n\n\n\n", 4, &e, NRANDOM);
    /* Each empty chunk is one data_received of length 0. */
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_string_transport_feed(st, "\n\nx\n\n", 5), 0);
    ck_assert_int_eq(log.data_calls, 4);
    ck_assert_uint_eq(log.nlens, 4);
    ck_assert_uint_eq(log.lens[0], 0);
    ck_assert_uint_eq(log.lens[1], 0);
    ck_assert_uint_eq(log.lens[2], 1);
    ck_assert_uint_eq(log.lens[3], 0);
    stack_free(st, &log);
}
END_TEST

START_TEST(test_chunk_crlfcrlf)
{
    fr_rand_reset("chunk_crlfcrlf");
    struct stack_cfg c = chunk_cfg("\r\n\r\n", 0);
    /* Partial delimiters inside messages, an empty message, a message
     * that is all but the delimiter's last byte. */
    static const char in[] = "HEAD\r\n\r\nbody\r\nline\r\n\r\n\r\n\r\n"
                             "\r\n\r\r\n\r\n\n\r\n\r\n";
    struct expect e = CLEAN("HEAD|body\\x0d\\x0aline||\\x0d\\x0a\\x0d|\\x0a|");
    run_all_splits(&c, in, sizeof(in) - 1, &e, NRANDOM);
}
END_TEST

START_TEST(test_chunk_self_overlapping)
{
    fr_rand_reset("chunk_self_overlapping");
    /* "ABAB" overlaps itself: after "ABA" a 'B' ends it, an 'A' may still
     * begin it two bytes later.  The leftmost occurrence wins, as when
     * scanning the whole input. */
    struct stack_cfg c = chunk_cfg("ABAB", 0);
    static const char in[] = "xABABABAByABABABABABz ABAABABAB";
    /* x ABAB "" ABAB y ABAB "" ABAB "ABz ABA" ABAB, then "AB" left over
     * at EOF: a delimiter's head is not a delimiter. */
    struct expect e = FAILS("x||y||ABz ABA|", WIRE_EINCOMPLETE,
                            "chunk: input ended inside a message: 2 bytes "
                            "from stream offset 29 without a delimiter",
                            true);
    run_all_splits(&c, in, sizeof(in) - 1, &e, NRANDOM);

    struct stack_cfg c2 = chunk_cfg("AAB", 0);
    static const char in2[] = "AAAABxAABAAAAAB";
    struct expect e2 = CLEAN("AA|x|AAA|");
    run_all_splits(&c2, in2, sizeof(in2) - 1, &e2, NRANDOM);
}
END_TEST

/* Split `in` the way a whole-input scanner would (leftmost occurrence,
 * then on after it), into marks.  Returns the unterminated tail length. */
static size_t
ref_split(const char *delim, const char *in, size_t len, char **marks,
          size_t *mlen, size_t *mcap)
{
    size_t dl = strlen(delim), pos = 0;
    for (;;) {
        const char *hit = len - pos >= dl ? memmem(in + pos, len - pos, delim, dl)
                                          : NULL;
        if (hit == NULL)
            break;
        size_t n = (size_t)(hit - (in + pos));
        unit_append_escaped(marks, mlen, mcap, in + pos, n);
        pos += n + dl;
    }
    return len - pos;
}

START_TEST(test_chunk_random_inputs_match_reference)
{
    fr_rand_reset("chunk_random_inputs");
    /* Random inputs over a small alphabet, against a whole-input scanner:
     * the delimiters found across reads must be exactly those found in
     * the whole input. */
    static const char *delims[] = {"ABAB", "AAB", "ABA", "AAAA", "\r\n\r\n",
                                   "AB", "ABCABD"};
    static const char alpha[] = "AABBCD";
    char ctx[200];
    for (size_t di = 0; di < sizeof(delims) / sizeof(delims[0]); di++) {
        for (int round = 0; round < 40; round++) {
            char in[96];
            size_t len = 1 + fr_rand_below(sizeof(in));
            for (size_t i = 0; i < len; i++)
                in[i] = strcmp(delims[di], "\r\n\r\n") == 0
                            ? "\r\nx"[fr_rand_below(3)]
                            : alpha[fr_rand_below(sizeof(alpha) - 1)];
            char *marks = NULL;
            size_t ml = 0, mc = 0;
            unit_append(&marks, &ml, &mc, "", 0);
            size_t tail = ref_split(delims[di], in, len, &marks, &ml, &mc);
            struct stack_cfg c = chunk_cfg(delims[di], 0);
            c.co.partial_at_eof = true;
            if (tail > 0)
                unit_append_escaped(&marks, &ml, &mc, in + len - tail, tail);
            struct expect e = CLEAN(marks);
            /* Byte by byte, whole and a few random splits. */
            size_t cuts[96];
            for (size_t i = 1; i < len; i++)
                cuts[i - 1] = i;
            snprintf(ctx, sizeof(ctx), "delim %zu round %d byte by byte",
                     di, round);
            run_split(&c, in, len, cuts, len - 1, &e, ctx);
            snprintf(ctx, sizeof(ctx), "delim %zu round %d whole", di, round);
            run_split(&c, in, len, NULL, 0, &e, ctx);
            for (int r = 0; r < 6; r++) {
                size_t n = 0, off = 0;
                while ((off += 1 + fr_rand_below(7)) < len)
                    cuts[n++] = off;
                snprintf(ctx, sizeof(ctx), "delim %zu round %d split %d",
                         di, round, r);
                run_split(&c, in, len, cuts, n, &e, ctx);
            }
            free(marks);
        }
    }
}
END_TEST

START_TEST(test_lines_crlf)
{
    fr_rand_reset("lines_crlf");
    static const char in[] = "a\r\nb\nc\r\r\n\r\n\n\rd\n";
    /* accept_crlf: one '\r' before the '\n' goes. */
    struct stack_cfg c = lines_cfg(true, false);
    struct expect e = CLEAN("a|b|c\\x0d|||\\x0dd|");
    run_all_splits(&c, in, sizeof(in) - 1, &e, NRANDOM);
    /* Without it the '\r' is payload. */
    c = lines_cfg(false, false);
    struct expect e2 = CLEAN("a\\x0d|b|c\\x0d\\x0d|\\x0d||\\x0dd|");
    run_all_splits(&c, in, sizeof(in) - 1, &e2, NRANDOM);
}
END_TEST

START_TEST(test_lines_write)
{
    struct rec_log log = {0};
    struct stack_cfg c = lines_cfg(true, true);
    struct wire_transport *st = stack_new(&c, &log);
    struct wire_transport *up = log.t;
    ck_assert_str_eq(wire_transport_name(up), "lines");
    ck_assert_int_eq(wire_line_write(up, "hello"), 0);
    ck_assert_int_eq(wire_line_write(up, ""), 0);
    ck_assert_int_eq(wire_line_writef(up, "%d-%s", 42, "x"), 0);
    ck_assert_str_eq(unit_output(st), "hello\r\n\r\n42-x\r\n");
    /* A line containing the delimiter is refused, nothing written. */
    ck_assert_int_eq(wire_line_write(up, "a\nb"), WIRE_EINVAL);
    ck_assert_int_eq(wire_line_writef(up, "%s", "two\nlines"), WIRE_EINVAL);
    ck_assert_int_eq(wire_line_write(up, NULL), WIRE_EINVAL);
    ck_assert_str_eq(unit_output(st), "hello\r\n\r\n42-x\r\n");
    /* A formatted line longer than the 512-byte stack buffer. */
    wire_string_transport_clear_output(st);
    char big[700];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(wire_line_writef(up, "<%s>%d", big, 7), 0);
    char want[720];
    snprintf(want, sizeof(want), "<%s>7\r\n", big);
    ck_assert_str_eq(unit_output(st), want);
    /* Exactly 511 and 512 characters: the edge of the stack buffer. */
    for (size_t n = 510; n <= 513; n++) {
        wire_string_transport_clear_output(st);
        ck_assert_int_eq(wire_line_writef(up, "%.*s", (int)n, big), 0);
        size_t olen = 0;
        const char *out = wire_string_transport_output(st, &olen);
        ck_assert_uint_eq(olen, n + 2);
        ck_assert_int_eq(memcmp(out, big, n), 0);
        ck_assert_int_eq(memcmp(out + n, "\r\n", 2), 0);
    }
    stack_free(st, &log);

    /* write_crlf false: "\n". */
    struct rec_log log2 = {0};
    c = lines_cfg(true, false);
    st = stack_new(&c, &log2);
    ck_assert_int_eq(wire_line_write(log2.t, "x"), 0);
    ck_assert_str_eq(unit_output(st), "x\n");
    /* Accepting "\r\n" but writing "\n": a line ending in '\r' would lose
     * it at a peer with the same settings, so it is refused. */
    ck_assert_int_eq(wire_line_write(log2.t, "a\r"), WIRE_EINVAL);
    struct iovec cr[2] = {{"b", 1}, {"\r", 1}};
    ck_assert_int_eq(wire_transport_write_sequence(log2.t, cr, 2), WIRE_EINVAL);
    ck_assert_int_eq(wire_line_write(log2.t, "\ra"), 0);
    ck_assert_str_eq(unit_output(st), "x\n\ra\n");
    stack_free(st, &log2);

    /* Writing "\r\n", the '\r' survives: "a\r" goes out as "a\r\r\n". */
    struct rec_log log3 = {0};
    c = lines_cfg(true, true);
    st = stack_new(&c, &log3);
    ck_assert_int_eq(wire_line_write(log3.t, "a\r"), 0);
    ck_assert_str_eq(unit_output(st), "a\r\r\n");
    stack_free(st, &log3);

    /* A "\r\n" delimiter with strip_cr: the delimiter's own '\r' does
     * not protect the payload's, "x\r" + "\r\n" reads back as "x"
     * (found by tests/fuzz/fuzz_lines). */
    struct rec_log log4 = {0};
    c = chunk_cfg("\r\n", 0);
    c.co.strip_cr = true;
    st = stack_new(&c, &log4);
    ck_assert_int_eq(wire_chunk_write(log4.t, "x\r", 2), WIRE_EINVAL);
    ck_assert_int_eq(wire_chunk_write(log4.t, "\r", 1), WIRE_EINVAL);
    ck_assert_int_eq(wire_chunk_write(log4.t, "\rx", 2), 0);
    ck_assert_str_eq(unit_output(st), "\rx\r\n");
    stack_free(st, &log4);
}
END_TEST

/* ---- chunk: limits and errors ---- */

START_TEST(test_chunk_max_len)
{
    fr_rand_reset("chunk_max_len");
    static const char over[] = "chunk: message at stream offset 6 is longer "
                               "than the limit of 5 bytes";
    static const struct split_case cases[] = {
        /* Exactly the maximum is fine. */
        {IN("12345\n\nabc\n"), CLEAN("12345||abc|"), NRANDOM},
        /* One more fails, naming the limit and the message's stream
         * offset... */
        {IN("12345\n123456\nabc\n"),
         FAILS("12345|", WIRE_EMSGSIZE, over, true), NRANDOM},
        /* ...even when no delimiter ever comes (and without EOF). */
        {IN("12345\n123456"), FAILS("12345|", WIRE_EMSGSIZE, over, false),
         NRANDOM},
    };
    struct stack_cfg c = chunk_cfg(NULL, 5);
    RUN_CASES(&c, cases);
    /* A custom name shows in the text. */
    c.co.name = "myframe";
    struct expect named = FAILS("", WIRE_EMSGSIZE,
                                "myframe: message at stream offset 0 is longer "
                                "than the limit of 5 bytes",
                                false);
    run_all_splits(&c, IN("abcdefgh"), &named, 8);
}
END_TEST

START_TEST(test_chunk_max_len_multibyte_and_crlf)
{
    fr_rand_reset("chunk_max_len_multibyte");
    static const char over[] = "chunk: message at stream offset 0 is longer "
                               "than the limit of 5 bytes";
    static const struct split_case cases[] = {
        {IN("12345\r\n\r\n1234\r\n\r\n"), CLEAN("12345|1234|"), NRANDOM},
        {IN("123456\r\n\r\n"), FAILS("", WIRE_EMSGSIZE, over, true), NRANDOM},
        /* "12345\r\n" + "\r" followed by anything but '\n' is too long. */
        {IN("12345\r\n\rx\r\n\r\n"), FAILS("", WIRE_EMSGSIZE, over, true),
         NRANDOM},
    };
    struct stack_cfg c = chunk_cfg("\r\n\r\n", 5);
    RUN_CASES(&c, cases);

    /* lines with accept_crlf: max bytes plus the '\r' are fine. */
    static const char lover[] = "lines: message at stream offset 5 is longer "
                                "than the limit of 3 bytes";
    static const struct split_case lines[] = {
        {IN("abc\r\nabc\n"), CLEAN("abc|abc|"), NRANDOM},
        {IN("abc\r\nabcd\n"), FAILS("abc|", WIRE_EMSGSIZE, lover, true),
         NRANDOM},
        {IN("abc\r\nabc\r\r\n"), FAILS("abc|", WIRE_EMSGSIZE, lover, true),
         NRANDOM},
    };
    c = lines_cfg(true, false);
    c.co.max_len = 3;
    RUN_CASES(&c, lines);
}
END_TEST

/* The layer fails as soon as the unterminated bytes cannot be a message
 * any more, not when a delimiter finally comes: its buffer is bounded. */
START_TEST(test_chunk_fails_early)
{
    struct {
        const char *delim;
        bool strip_cr;
        size_t max;
        size_t ok_bytes; /* bytes that may still end well */
    } cases[] = {
        {"\n", false, 5, 5},
        {"\r\n\r\n", false, 5, 8},
        {"\n", true, 5, 6},
        {"ABAB", false, 1, 4},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct stack_cfg c = chunk_cfg(cases[k].delim, cases[k].max);
        c.co.strip_cr = cases[k].strip_cr;
        /* Bytes that are a prefix of "<max payload><delimiter minus its
         * last byte>" are held; the next one fails. */
        char prefix[32];
        memset(prefix, 'x', cases[k].max);
        size_t dl = strlen(cases[k].delim);
        size_t n = cases[k].max;
        if (cases[k].strip_cr)
            prefix[n++] = '\r';
        memcpy(prefix + n, cases[k].delim, dl - 1);
        n += dl - 1;
        ck_assert_uint_eq(n, cases[k].ok_bytes);
        for (int whole = 0; whole < 2; whole++) {
            struct rec_log log = {0};
            struct wire_transport *st = stack_new(&c, &log);
            if (whole) {
                ck_assert_int_eq(wire_string_transport_feed(st, prefix, n), 0);
            } else {
                for (size_t i = 0; i < n; i++) {
                    ck_assert_int_eq(wire_string_transport_feed(st, prefix + i, 1), 0);
                    ck_assert(!wire_string_transport_aborted(st));
                }
            }
            ck_assert(!wire_string_transport_aborted(st));
            ck_assert_int_eq(wire_string_transport_feed(st, "y", 1), 0);
            ck_assert_msg(wire_string_transport_aborted(st),
                          "case %zu: byte %zu did not fail", k, n + 1);
            /* More input is refused. */
            ck_assert_int_eq(wire_string_transport_feed(st, "\n", 1), WIRE_ECLOSED);
            ck_assert_int_eq(log.lost, 0); /* delivered from the step */
            wire_string_transport_step(st);
            ck_assert_int_eq(log.lost, 1);
            ck_assert_int_eq(log.lost_code, WIRE_EMSGSIZE);
            ck_assert_contains(log.lost_msg, "stream offset 0 ");
            ck_assert_str_eq(rec_escaped(&log), "");
            stack_free(st, &log);
        }
    }

    /* A megabyte with no delimiter at a 16-byte limit fails at once. */
    struct stack_cfg c = chunk_cfg(NULL, 16);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    size_t big = 1 << 20;
    char *junk = malloc(big);
    ck_assert_ptr_nonnull(junk);
    memset(junk, 'j', big);
    ck_assert_int_eq(wire_string_transport_feed(st, "ok\n", 3), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, junk, big), 0);
    ck_assert(wire_string_transport_aborted(st));
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_escaped(&log), "ok|");
    ck_assert_int_eq(log.lost_code, WIRE_EMSGSIZE);
    ck_assert_str_eq(log.lost_msg, "chunk: message at stream offset 3 is longer "
                                   "than the limit of 16 bytes");
    free(junk);
    stack_free(st, &log);
}
END_TEST

START_TEST(test_chunk_eof_mid_chunk)
{
    fr_rand_reset("chunk_eof_mid_chunk");
    static const struct {
        const char *delim;
        size_t max;
        bool partial_at_eof;
        struct split_case k;
    } cases[] = {
        {NULL, 0, false,
         {IN("abc\nde"),
          FAILS("abc|", WIRE_EINCOMPLETE,
                "chunk: input ended inside a message: 2 bytes from stream "
                "offset 4 without a delimiter",
                true),
          NRANDOM}},
        /* A partial multi-byte delimiter is part of the unfinished chunk. */
        {"\r\n\r\n", 0, false,
         {IN("abc\r\n\r\nde\r\n\r"),
          FAILS("abc|", WIRE_EINCOMPLETE,
                "chunk: input ended inside a message: 5 bytes from stream "
                "offset 7 without a delimiter",
                true),
          NRANDOM}},
        /* partial_at_eof: the rest is a final message, then EOF, then a
         * clean close... */
        {NULL, 0, true, {IN("abc\nde"), CLEAN("abc|de|"), NRANDOM}},
        {"\r\n\r\n", 0, true,
         {IN("abc\r\n\r\nde\r\n\r"), CLEAN("abc|de\\x0d\\x0a\\x0d|"), NRANDOM}},
        /* ... still bounded by the maximum. */
        {NULL, 2, true,
         {IN("ab\nxyz"),
          FAILS("ab|", WIRE_EMSGSIZE,
                "chunk: message at stream offset 3 is longer than the limit "
                "of 2 bytes",
                true),
          0}},
        /* Nothing pending at EOF: just EOF. */
        {NULL, 0, false, {IN("abc\n"), CLEAN("abc|"), 0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stack_cfg c = chunk_cfg(cases[i].delim, cases[i].max);
        c.co.partial_at_eof = cases[i].partial_at_eof;
        run_cases(&c, &cases[i].k, 1);
    }
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct expect empty = CLEAN("");
    run_split(&c, "", 0, NULL, 0, &empty, "empty input");
}
END_TEST

START_TEST(test_chunk_lower_error_mid_chunk)
{
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    ck_assert_int_eq(wire_string_transport_feed(st, "a\nbc", 4), 0);
    ck_assert_int_eq(wire_string_transport_feed_error(st, -ECONNRESET,
                                                      "reset by peer"), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_escaped(&log), "a|");
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, -ECONNRESET);
    ck_assert_str_eq(log.lost_msg, "reset by peer");
    stack_free(st, &log);
}
END_TEST

/* ---- chunk: writing ---- */

/* Our write side is shut and the peer's last, unterminated line comes
 * with its EOF: the layer delivers it at EOF and the protocol above
 * pauses in it.  The transport below then closes at once (nothing more
 * to read or write), but the EOF held for the protocol above still
 * reaches it on its resume, before connection_lost (a fuzzing find: the
 * clean end used to overtake the held EOF). */
START_TEST(test_lines_held_eof_outlives_lower)
{
    struct stack_cfg c = lines_cfg(false, false);
    c.co.partial_at_eof = true;
    struct rec_log log = {.on_data = rec_pause_on_first, .eof_keep = true};
    struct wire_transport *st = stack_new(&c, &log);
    struct wire_transport *up = log.t;
    ck_assert_int_eq(wire_transport_write_eof(up), 0);
    wire_string_transport_step(st);
    ck_assert(wire_string_transport_eof_written(st));
    ck_assert_int_eq(wire_string_transport_feed(st, "tail", 4), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert(wire_string_transport_closed(st));
    ck_assert_str_eq(rec_marks(&log), "tail|");
    ck_assert_int_eq(log.eof, 0);
    ck_assert_int_eq(log.lost, 0);
    /* The connection is gone below: writing is refused, not dropped. */
    ck_assert_int_eq(wire_transport_write(up, "x", 1), WIRE_ECLOSED);
    ck_assert_int_eq(wire_transport_resume_reading(up), 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.eof, 1);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    stack_free(st, &log);
}
END_TEST

START_TEST(test_chunk_write_framing)
{
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    struct wire_transport *up = log.t;
    ck_assert_int_eq(wire_transport_write(up, "one", 3), 0);
    struct iovec iov[3] = {{"tw", 2}, {"", 0}, {"o", 1}};
    ck_assert_int_eq(wire_transport_write_sequence(up, iov, 3), 0);
    static const char three[] = "three";
    ck_assert_int_eq(wire_transport_write_ref(up, three, 5, count_free, &ref_frees), 0);
    ck_assert_int_eq(ref_frees, 1); /* written through: released at once */
    ck_assert_ptr_eq(ref_freed_data, three);
    ck_assert_uint_eq(ref_freed_len, 5);
    ck_assert_int_eq(wire_transport_write(up, "", 0), 0);        /* empty chunk */
    ck_assert_int_eq(wire_transport_write_sequence(up, NULL, 0), 0);
    ck_assert_int_eq(wire_chunk_write(up, "four", 4), 0);
    ck_assert_str_eq(unit_output(st), "one\ntwo\nthree\n\n\nfour\n");

    /* The delimiter inside a write: refused, nothing written. */
    ck_assert_int_eq(wire_transport_write(up, "a\nb", 3), WIRE_EINVAL);
    struct iovec bad[2] = {{"ab", 2}, {"c\n", 2}};
    ck_assert_int_eq(wire_transport_write_sequence(up, bad, 2), WIRE_EINVAL);
    static const char badref[] = "x\n";
    ck_assert_int_eq(wire_transport_write_ref(up, badref, 2, count_free, &ref_frees),
                     WIRE_EINVAL);
    ck_assert_int_eq(ref_frees, 1); /* refused: the buffer stays ours */
    ck_assert_int_eq(wire_chunk_write(up, "\n", 1), WIRE_EINVAL);
    ck_assert_int_eq(wire_chunk_write(up, NULL, 1), WIRE_EINVAL);
    ck_assert_str_eq(unit_output(st), "one\ntwo\nthree\n\n\nfour\n");
    /* The connection is still fine. */
    ck_assert(!wire_transport_is_closing(up));
    ck_assert_int_eq(wire_chunk_write(up, "five", 4), 0);
    ck_assert_str_eq(unit_output(st), "one\ntwo\nthree\n\n\nfour\nfive\n");
    stack_free(st, &log);

    /* unchecked_writes: the caller vouches for the payload. */
    c.co.unchecked_writes = true;
    struct rec_log log2 = {0};
    st = stack_new(&c, &log2);
    ck_assert_int_eq(wire_transport_write(log2.t, "a\nb", 3), 0);
    ck_assert_str_eq(unit_output(st), "a\nb\n");
    stack_free(st, &log2);
}
END_TEST

START_TEST(test_chunk_write_multibyte)
{
    struct stack_cfg c = chunk_cfg("\r\n\r\n", 0);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    struct wire_transport *up = log.t;
    ck_assert_int_eq(wire_transport_write(up, "a\r\nb", 4), 0);
    ck_assert_str_eq(unit_output(st), "a\r\nb\r\n\r\n");
    wire_string_transport_clear_output(st);
    /* The delimiter inside one buffer, and across the seams of a
     * gathered write (two, three and four pieces, with empty ones). */
    ck_assert_int_eq(wire_transport_write(up, "x\r\n\r\ny", 6), WIRE_EINVAL);
    struct iovec s2[2] = {{"ab\r\n", 4}, {"\r\ncd", 4}};
    ck_assert_int_eq(wire_transport_write_sequence(up, s2, 2), WIRE_EINVAL);
    struct iovec s4[5] = {{"x\r", 2}, {"\n", 1}, {"", 0}, {"\r", 1}, {"\ny", 2}};
    ck_assert_int_eq(wire_transport_write_sequence(up, s4, 5), WIRE_EINVAL);
    struct iovec s3[3] = {{"\r", 1}, {"\n\r", 2}, {"\n", 1}};
    ck_assert_int_eq(wire_transport_write_sequence(up, s3, 3), WIRE_EINVAL);
    /* A payload ending in "\r\n" would make "\r\n\r\n\r\n" with the
     * delimiter, which the peer splits two bytes early: refused too. */
    ck_assert_int_eq(wire_transport_write(up, "a\r\nb\r\n", 6), WIRE_EINVAL);
    struct iovec s5[2] = {{"b\r", 2}, {"\n", 1}};
    ck_assert_int_eq(wire_transport_write_sequence(up, s5, 2), WIRE_EINVAL);
    ck_assert_str_eq(unit_output(st), "");
    /* Near misses are fine: "\r\n\r" + "\r\n\r\n" has its first
     * delimiter at the end. */
    struct iovec ok[3] = {{"\r\n", 2}, {"\r", 1}, {"x\r\n\r", 4}};
    ck_assert_int_eq(wire_transport_write_sequence(up, ok, 3), 0);
    ck_assert_str_eq(unit_output(st), "\r\n\rx\r\n\r\r\n\r\n");
    stack_free(st, &log);

    /* Self-overlapping "ABAB": "xAB" + "ABAB" = "xABABAB" splits after
     * "x" at the peer. */
    c = chunk_cfg("ABAB", 0);
    struct rec_log log2 = {0};
    st = stack_new(&c, &log2);
    ck_assert_int_eq(wire_transport_write(log2.t, "xAB", 3), WIRE_EINVAL);
    ck_assert_int_eq(wire_transport_write(log2.t, "xABA", 4), 0);
    ck_assert_int_eq(wire_transport_write(log2.t, "BA", 2), 0);
    ck_assert_str_eq(unit_output(st), "xABAABABBAABAB");
    stack_free(st, &log2);
}
END_TEST

/* Would the peer read `buf` + `delim` as exactly one chunk? */
static bool
frames_as_one(const char *buf, size_t len, const char *delim)
{
    size_t dl = strlen(delim);
    char *all = malloc(len + dl);
    ck_assert_ptr_nonnull(all);
    if (len > 0)
        memcpy(all, buf, len);
    memcpy(all + len, delim, dl);
    const char *hit = memmem(all, len + dl, delim, dl);
    bool one = hit == all + len;
    free(all);
    return one;
}

/* Random gathered writes over a small alphabet: refused exactly when the
 * peer would not read the payload back as one chunk; otherwise written
 * as payload + delimiter, and read back by a second stack as that
 * payload. */
START_TEST(test_chunk_write_seams_random)
{
    fr_rand_reset("chunk_write_seams");
    static const char *delims[] = {"\r\n\r\n", "\r\n", "\n\n\n", "\r\r\n",
                                   "ABAB", "AAB", "ABA"};
    for (size_t di = 0; di < sizeof(delims) / sizeof(delims[0]); di++) {
        struct stack_cfg c = chunk_cfg(delims[di], 0);
        struct rec_log log = {0}, rd = {0};
        struct wire_transport *st = stack_new(&c, &log);
        struct wire_transport *rst = stack_new(&c, &rd);
        struct wire_transport *up = log.t;
        size_t dl = strlen(delims[di]);
        const char *alpha = delims[di][0] == 'A' ? "ABx" : "\r\nx";
        int accepted = 0;
        for (int round = 0; round < 400; round++) {
            char buf[24];
            size_t len = fr_rand_below(sizeof(buf) + 1);
            for (size_t i = 0; i < len; i++)
                buf[i] = alpha[fr_rand_below(3)];
            struct iovec iov[24];
            int n = 0;
            size_t off = 0;
            while (off < len || (n < 2 && fr_rand_below(2))) {
                size_t k = fr_rand_below(len - off + 1);
                if (n == 23)
                    k = len - off;
                iov[n++] = (struct iovec){buf + off, k};
                off += k;
            }
            bool one = frames_as_one(buf, len, delims[di]);
            wire_string_transport_clear_output(st);
            int rc = wire_transport_write_sequence(up, iov, n);
            size_t olen = 0;
            const char *out = wire_string_transport_output(st, &olen);
            ck_assert_msg(rc == (one ? 0 : WIRE_EINVAL),
                          "delim %zu round %d (WIRE_TEST_SEED=%u): rc %d, "
                          "frames as one %d", di, round, fr_seed, rc, one);
            if (!one) {
                ck_assert_uint_eq(olen, 0);
                continue;
            }
            accepted++;
            ck_assert_uint_eq(olen, len + dl);
            ck_assert_int_eq(memcmp(out, buf, len), 0);
            ck_assert_int_eq(memcmp(out + len, delims[di], dl), 0);
            /* The peer reads it back as this one message. */
            int before = rd.data_calls;
            ck_assert_int_eq(wire_string_transport_feed(rst, out, olen), 0);
            ck_assert_int_eq(rd.data_calls, before + 1);
            ck_assert_uint_eq(rd.lens[rd.nlens - 1], len);
            ck_assert_int_eq(memcmp(rd.in + rd.in_len - len, buf, len), 0);
        }
        ck_assert_int_gt(accepted, 20);
        stack_free(rst, &rd);
        stack_free(st, &log);
    }
}
END_TEST

START_TEST(test_chunk_write_ref_zero_copy)
{
    struct stack_cfg c = chunk_cfg(NULL, 0);
    struct rec_log log = {0};
    struct wire_transport *st = stack_new(&c, &log);
    struct wire_transport *up = log.t;
    /* The bottom takes nothing and its queue is "full" after one byte, so
     * the layer's own queue holds the next writes: by reference. */
    wire_string_transport_set_capacity(st, 0);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(st, 1, 0), 0);
    ck_assert_int_eq(wire_transport_write(up, "first", 5), 0);
    char payload[8] = "abcdefg";
    ck_assert_int_eq(wire_transport_write_ref(up, payload, 7, count_free, &ref_frees), 0);
    ck_assert_int_eq(ref_frees, 0);
    /* "fi" went below (its high mark plus one byte), "rst\n" and the
     * referenced chunk wait above. */
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(up), 12);
    /* Not copied: a change made before the drain shows in the output. */
    payload[0] = 'Z';
    wire_string_transport_set_capacity(st, SIZE_MAX);
    wire_string_transport_step(st);
    ck_assert_str_eq(unit_output(st), "first\nZbcdefg\n");
    ck_assert_int_eq(ref_frees, 1);
    ck_assert_ptr_eq(ref_freed_data, payload);
    ck_assert_uint_eq(ref_freed_len, 7);

    /* Dropped by an abort: released once too. */
    wire_string_transport_clear_output(st);
    wire_string_transport_set_capacity(st, 0);
    ck_assert_int_eq(wire_transport_write(up, "first", 5), 0);
    ck_assert_int_eq(wire_transport_write_ref(up, payload, 3, count_free, &ref_frees), 0);
    ck_assert_int_eq(ref_frees, 1);
    wire_transport_abort(up);
    ck_assert_int_eq(ref_frees, 2);
    wire_string_transport_step(st);
    ck_assert_int_eq(ref_frees, 2);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    ck_assert_str_eq(unit_output(st), "");
    stack_free(st, &log);
    ck_assert_int_eq(ref_frees, 2);
}
END_TEST

/* ---- zero-copy receive (get_buffer) ---- */

/* Append a chunk of `len` bytes fr_byte(seed + i) and `delim` to the
 * input, the chunk to the expected marks; returns the delimiter's
 * offset. */
static size_t
add_chunk(struct fr_bufs *b, size_t len, size_t seed, const char *delim)
{
    fr_bufs_add(b, len, seed);
    size_t at = b->n;
    memcpy(b->in + b->n, delim, strlen(delim));
    b->n += strlen(delim);
    return at;
}

/* Long lines and chunks (longer than a read), short and empty ones, a
 * multi-byte delimiter, cut everywhere near the delimiters: the same
 * messages and the same end both ways, and the buffer was used. */
START_TEST(test_chunk_buffered_splits)
{
    fr_rand_reset("chunk_buffered_splits");
    static const size_t lens[] = {30000, 1, 0, 50000, 3};
    for (int multi = 0; multi < 2; multi++) {
        const char *delim = multi ? "\r\n\r\n" : "\r\n";
        struct stack_cfg c = multi ? chunk_cfg("\r\n\r\n", 0)
                                   : lines_cfg(true, false);
        struct fr_bufs b = fr_bufs_new(100000);
        size_t marks[8], nm = 0;
        for (size_t i = 0; i < 5; i++)
            marks[nm++] = add_chunk(&b, lens[i], i, delim);
        struct expect e = CLEAN(b.want);
        fr_paths_reset();
        run_long_splits(&c, b.in, b.n, marks, nm, 5, 1999, &e, 16);
        ck_assert_uint_gt(fr_paths.offered, 0);
        ck_assert_uint_gt(fr_paths.bytes, 40000);

        /* EOF inside the 50000-byte one: the same count in the text. */
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "%s: input ended inside a message: 30000 bytes from stream "
                 "offset %zu without a delimiter",
                 multi ? "chunk" : "lines", marks[2] + strlen(delim));
        b.want[b.k - 4 - 50001] = '\0'; /* the messages before it */
        struct expect eof = FAILS(b.want, WIRE_EINCOMPLETE, msg, true);
        run_long_splits(&c, b.in, marks[3] - 20000, marks, 3, 4, 4999, &eof, 4);

        /* Over a limit of 40000: refused, from where it began. */
        c.co.max_len = 40000;
        snprintf(msg, sizeof(msg),
                 "%s: message at stream offset %zu is longer than the limit "
                 "of 40000 bytes",
                 multi ? "chunk" : "lines", marks[2] + strlen(delim));
        struct expect big = FAILS(b.want, WIRE_EMSGSIZE, msg, false);
        run_long_splits(&c, b.in, b.n, marks, nm, 4, 4999, &big, 4);
        fr_bufs_free(&b);
    }
}
END_TEST

/* The read that continues a long chunk lands right after its first
 * bytes, and the chunk goes up from there: no copy of what that read
 * brought.  A short pending tail is copied instead (cheap, and a
 * connection waiting in a short line keeps a small buffer). */
START_TEST(test_chunk_buffered_in_place)
{
    size_t len = 30000, head = 20000;
    struct fr_bufs b = fr_bufs_new(len + 8);
    fr_bufs_add(&b, len, 0);
    memcpy(b.in + len, "\ntail", 5);
    struct stack_cfg c = lines_cfg(false, false);
    struct rec_log log = {.on_data = fr_note_data};
    struct wire_transport *st = stack_new(&c, &log);
    fr_paths_reset();
    ck_assert_int_eq(wire_string_transport_feed(st, b.in, 3), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, b.in + 3, head - 3), 0);
    ck_assert_uint_eq(fr_paths.recv_reads, 2); /* 3 pending: copied */
    ck_assert_uint_eq(fr_paths.offered, 0);
    ck_assert_int_eq(wire_string_transport_feed(st, b.in + head,
                                                len + 5 - head), 0);
    ck_assert_uint_eq(fr_paths.recv_reads, 2);
    ck_assert_uint_eq(fr_paths.updates, 1);
    ck_assert_uint_eq(fr_paths.bytes, len + 5 - head);
    ck_assert_uint_eq(log.nlens, 1);
    ck_assert_uint_eq(log.lens[0], len);
    ck_assert(memcmp(log.in, b.in, len) == 0);
    ck_assert_ptr_eq(fr_first_data + head, fr_paths.last_buf);
    /* "tail" is pending, short: the next read comes through recv. */
    fr_paths_reset();
    ck_assert_int_eq(wire_string_transport_feed(st, "!\n", 2), 0);
    ck_assert_uint_eq(fr_paths.updates, 0);
    ck_assert_uint_eq(fr_paths.recv_reads, 1);
    ck_assert_str_eq(rec_escaped(&log) + len + 1, "tail!|");
    stack_free(st, &log);
    fr_bufs_free(&b);
}
END_TEST

/* Pause reading in a message: the rest waits in the transport below and
 * comes through the buffer on resume; a pause in a message a buffered
 * read ended keeps the rest of that read (the messages in it are held
 * by the layer, the bytes after by the transport) in order. */
START_TEST(test_chunk_buffered_pause)
{
    struct fr_bufs b = fr_bufs_new(80000);
    add_chunk(&b, 5, 0, "\n");
    size_t first = b.n;
    add_chunk(&b, 40000, 1, "\n");
    add_chunk(&b, 3, 2, "\n");
    add_chunk(&b, 4, 3, "\n");
    add_chunk(&b, 30000, 4, "\n");
    struct stack_cfg c = lines_cfg(false, false);
    for (int pass = 0; pass < 2; pass++) {
        struct rec_log log = {0};
        log.on_data = pass == 0 ? rec_pause_on_first : fr_pause_on_long;
        struct wire_transport *st = stack_new(&c, &log);
        fr_paths_reset();
        /* The first line and 20000 bytes of the next (long enough to
         * read the rest into the buffer). */
        ck_assert_int_eq(wire_string_transport_feed(st, b.in, first + 20000), 0);
        ck_assert_int_eq(wire_string_transport_feed(st, b.in + first + 20000,
                                                    b.n - first - 20000), 0);
        /* Resume until everything is up (pass 1 pauses twice). */
        for (int i = 0; i < 4 && !wire_transport_is_reading(log.t); i++) {
            ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
            wire_string_transport_step(st);
        }
        ck_assert_str_eq(rec_escaped(&log), b.want);
        ck_assert_uint_gt(fr_paths.bytes, 0);
        fr_end_clean(st, &log);
    }
    fr_bufs_free(&b);
}
END_TEST

/* Bytes fed from inside a message that a buffered read ended (the string
 * transport allows it) come after the rest of that read, in order, and
 * never move the buffer the message is in. */
static void
feed_inside(struct rec_log *log, struct wire_transport *t, const void *data,
            size_t len)
{
    (void)t;
    (void)data;
    if (log->data_calls == 1 && len > 1000)
        ck_assert_int_eq(wire_string_transport_feed(log->user, "f\n", 2), 0);
}

START_TEST(test_chunk_buffered_nested_feed)
{
    struct fr_bufs b = fr_bufs_new(20008);
    fr_bufs_add(&b, 20000, 0);
    memcpy(b.in + b.n, "\nd\ne\n", 5);
    memcpy(b.want + b.k, "d|e|f|", 7);
    struct stack_cfg c = lines_cfg(false, false);
    struct rec_log log = {.on_data = feed_inside};
    struct wire_transport *st = stack_new(&c, &log);
    log.user = st;
    fr_paths_reset();
    ck_assert_int_eq(wire_string_transport_feed(st, b.in, 19990), 0);
    ck_assert_int_eq(wire_string_transport_feed(st, b.in + 19990, 15), 0);
    ck_assert_uint_eq(fr_paths.updates, 1);
    ck_assert_str_eq(rec_escaped(&log), b.want);
    stack_free(st, &log);
    fr_bufs_free(&b);
}
END_TEST

Suite *
chunk_suite(void)
{
    Suite *s = suite_create("chunk");
    TCase *tc = fr_tcase(s, "core", 120);
    tcase_add_test(tc, test_chunk_newline);
    tcase_add_test(tc, test_chunk_empty_chunks);
    tcase_add_test(tc, test_chunk_crlfcrlf);
    tcase_add_test(tc, test_chunk_self_overlapping);
    tcase_add_test(tc, test_chunk_random_inputs_match_reference);
    tcase_add_test(tc, test_lines_held_eof_outlives_lower);
    tcase_add_test(tc, test_lines_crlf);

    tc = fr_tcase(s, "errors", 120);
    tcase_add_test(tc, test_chunk_max_len);
    tcase_add_test(tc, test_chunk_max_len_multibyte_and_crlf);
    tcase_add_test(tc, test_chunk_fails_early);
    tcase_add_test(tc, test_chunk_eof_mid_chunk);
    tcase_add_test(tc, test_chunk_lower_error_mid_chunk);

    tc = fr_tcase(s, "buffered", 300);
    tcase_add_test(tc, test_chunk_buffered_splits);
    tcase_add_test(tc, test_chunk_buffered_in_place);
    tcase_add_test(tc, test_chunk_buffered_pause);
    tcase_add_test(tc, test_chunk_buffered_nested_feed);

    tc = fr_tcase(s, "write", 120);
    tcase_add_test(tc, test_lines_write);
    tcase_add_test(tc, test_chunk_write_framing);
    tcase_add_test(tc, test_chunk_write_multibyte);
    tcase_add_test(tc, test_chunk_write_seams_random);
    tcase_add_test(tc, test_chunk_write_ref_zero_copy);
    return s;
}
