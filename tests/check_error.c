/*
 * Errors: the X-macro table (WIRE_ERRNO_MAP) behind the enum,
 * wire_strerror() and wire_err_name(), system codes (-errno), unknown
 * codes, and the ownership rules of struct wire_error.
 */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct table_row {
    int code;
    const char *name;
    const char *msg;
};

/* The table as the header defines it, expanded here independently. */
static const struct table_row rows[] = {
#define ROW(name, value, msg) {value, "WIRE_" #name, msg},
    WIRE_ERRNO_MAP(ROW)
#undef ROW
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

START_TEST(test_table_every_code)
{
    /* _i walks the table: one loop-test iteration per WIRE_E* code. */
    const struct table_row *r = &rows[_i];
    ck_assert_str_eq(wire_strerror(r->code), r->msg);
    ck_assert_str_eq(wire_err_name(r->code), r->name);
    /* Far below any -errno, so the two ranges never collide. */
    ck_assert_int_lt(r->code, -4095);
}
END_TEST

START_TEST(test_table_distinct)
{
    ck_assert_uint_ge(NROWS, 16);
    for (size_t i = 0; i < NROWS; i++)
        for (size_t j = i + 1; j < NROWS; j++) {
            ck_assert_int_ne(rows[i].code, rows[j].code);
            ck_assert_str_ne(rows[i].name, rows[j].name);
        }
    /* Spot-check that the enum and the table are the same thing. */
    ck_assert_int_eq(WIRE_ECLOSED, -30001);
    ck_assert_str_eq(wire_err_name(WIRE_ECLOSED), "WIRE_ECLOSED");
    ck_assert_str_eq(wire_err_name(WIRE_ECANCELED), "WIRE_ECANCELED");
    ck_assert_str_eq(wire_err_name(WIRE_EINCOMPLETE), "WIRE_EINCOMPLETE");
    ck_assert_str_eq(wire_strerror(WIRE_ETIMEDOUT), "operation timed out");
}
END_TEST

START_TEST(test_zero)
{
    ck_assert_str_eq(wire_strerror(0), "success");
    ck_assert_str_eq(wire_err_name(0), "OK");
}
END_TEST

START_TEST(test_errno_codes)
{
    static const struct {
        int e;
        const char *name;
    } sys[] = {
        {ECONNRESET, "ECONNRESET"}, {EADDRINUSE, "EADDRINUSE"},
        {EPIPE, "EPIPE"},           {ENOENT, "ENOENT"},
        {ECONNREFUSED, "ECONNREFUSED"}, {EAGAIN, "EAGAIN"},
    };
    for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
        ck_assert_str_eq(wire_err_name(-sys[i].e), sys[i].name);
        ck_assert_str_eq(wire_strerror(-sys[i].e), strerror(sys[i].e));
    }
}
END_TEST

START_TEST(test_unknown_codes)
{
    /* Positive, between the errno range and ours, just outside our table,
     * and at the extremes. */
    static const int unknown[] = {1, 12345, -5000, -29999, -30000,
                                  -30019, -99999, 0x7fffffff, -0x7fffffff - 1};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        ck_assert_str_eq(wire_strerror(unknown[i]), "unknown error");
        ck_assert_str_eq(wire_err_name(unknown[i]), "UNKNOWN");
    }
}
END_TEST

START_TEST(test_unknown_errno_range)
{
    /* A negative code in the errno range that names no errno: the header
     * promises "unknown error" and a static string, not the C library's
     * "Unknown error 4000" from a buffer the next call overwrites. */
    const char *a = wire_strerror(-4000);
    ck_assert_str_eq(a, "unknown error");
    ck_assert_str_eq(wire_err_name(-4000), "UNKNOWN");
    const char *b = wire_strerror(-4001);
    ck_assert_str_eq(a, "unknown error");
    ck_assert_str_eq(b, "unknown error");
}
END_TEST

START_TEST(test_set_formats_and_returns_code)
{
    struct wire_error e = {0};
    ck_assert_int_eq(e.code, 0); /* zero-initialised: no error */
    int rc = wire_error_set(&e, WIRE_EPROTO, "bad frame at offset %d", 17);
    ck_assert_int_eq(rc, WIRE_EPROTO);
    ck_assert_int_eq(e.code, WIRE_EPROTO);
    ck_assert_str_eq(e.message, "bad frame at offset 17");
    /* Setting again releases the old message (ASan/valgrind check). */
    rc = wire_error_set(&e, -ECONNRESET, "read: %s", "reset by peer");
    ck_assert_int_eq(rc, -ECONNRESET);
    ck_assert_str_eq(e.message, "read: reset by peer");
    wire_error_clear(&e);
    ck_assert_int_eq(e.code, 0);
    ck_assert_ptr_null(e.message);
    ck_assert_ptr_null(e.owned__);
}
END_TEST

START_TEST(test_set_null_err)
{
    /* No error object: the code is still returned. */
    ck_assert_int_eq(wire_error_set(NULL, WIRE_EINVAL, "x %d", 1), WIRE_EINVAL);
}
END_TEST

START_TEST(test_set_null_fmt)
{
    struct wire_error e = {0};
    ck_assert_int_eq(wire_error_set(&e, WIRE_ECLOSED, NULL), WIRE_ECLOSED);
    ck_assert_str_eq(e.message, wire_strerror(WIRE_ECLOSED));
    wire_error_clear(&e);
}
END_TEST

START_TEST(test_set_wraps_own_message)
{
    /* Adding context to an error with its own message is the natural way
     * to wrap it; the old message must still be readable while the new
     * one is formatted. */
    struct wire_error e = {0};
    wire_error_set(&e, WIRE_ETLS, "certificate expired");
    wire_error_set(&e, e.code, "handshake with %s: %s", "example.org", e.message);
    ck_assert_int_eq(e.code, WIRE_ETLS);
    ck_assert_str_eq(e.message, "handshake with example.org: certificate expired");
    wire_error_clear(&e);
}
END_TEST

START_TEST(test_copy_is_deep)
{
    struct wire_error a = {0}, b = {0};
    wire_error_set(&a, WIRE_EMSGSIZE, "frame of %d bytes", 70000);
    wire_error_set(&b, WIRE_EPROTO, "old"); /* released by the copy */
    wire_error_copy(&b, &a);
    ck_assert_int_eq(b.code, WIRE_EMSGSIZE);
    ck_assert_str_eq(b.message, "frame of 70000 bytes");
    ck_assert_ptr_ne(b.message, a.message);
    wire_error_clear(&a);
    /* b owns its copy: still valid after a is gone. */
    ck_assert_str_eq(b.message, "frame of 70000 bytes");
    wire_error_clear(&b);
}
END_TEST

START_TEST(test_copy_without_message)
{
    /* A struct filled by hand with a code and no message still copies to
     * a full error whose message names the code. */
    struct wire_error a = {.code = WIRE_ECLOSED}, b = {0};
    wire_error_copy(&b, &a);
    ck_assert_int_eq(b.code, WIRE_ECLOSED);
    ck_assert_str_eq(b.message, wire_strerror(WIRE_ECLOSED));
    wire_error_clear(&b);
}
END_TEST

START_TEST(test_copy_null_and_clean)
{
    struct wire_error a = {0}, b = {0};
    wire_error_set(&b, WIRE_EPROTO, "will be cleared");
    wire_error_copy(&b, NULL); /* NULL source: "no error" */
    ck_assert_int_eq(b.code, 0);
    ck_assert_ptr_null(b.message);
    wire_error_set(&b, WIRE_EPROTO, "will be cleared too");
    wire_error_copy(&b, &a); /* a clean source clears as well */
    ck_assert_int_eq(b.code, 0);
    ck_assert_ptr_null(b.message);
    wire_error_set(&a, WIRE_EPROTO, "x");
    wire_error_copy(NULL, &a); /* NULL destination: nothing happens */
    ck_assert_str_eq(a.message, "x");
    wire_error_clear(&a);
}
END_TEST

START_TEST(test_copy_onto_itself)
{
    struct wire_error a = {0};
    wire_error_set(&a, WIRE_EPROTO, "bad header");
    wire_error_copy(&a, &a);
    ck_assert_int_eq(a.code, WIRE_EPROTO);
    ck_assert_str_eq(a.message, "bad header");
    wire_error_clear(&a);
}
END_TEST

START_TEST(test_clear_null_and_twice)
{
    struct wire_error e = {0};
    wire_error_clear(NULL);
    wire_error_clear(&e); /* clearing "no error" is fine */
    wire_error_set(&e, WIRE_ENOMEM, "x");
    wire_error_clear(&e);
    wire_error_clear(&e); /* and twice */
    ck_assert_int_eq(e.code, 0);
}
END_TEST

Suite *
error_suite(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("table");
    tcase_add_loop_test(tc, test_table_every_code, 0, (int)NROWS);
    tcase_add_test(tc, test_table_distinct);
    tcase_add_test(tc, test_zero);
    tcase_add_test(tc, test_errno_codes);
    tcase_add_test(tc, test_unknown_codes);
    tcase_add_test(tc, test_unknown_errno_range);
    suite_add_tcase(s, tc);

    tc = tcase_create("struct");
    tcase_add_test(tc, test_set_formats_and_returns_code);
    tcase_add_test(tc, test_set_null_err);
    tcase_add_test(tc, test_set_null_fmt);
    tcase_add_test(tc, test_set_wraps_own_message);
    tcase_add_test(tc, test_copy_is_deep);
    tcase_add_test(tc, test_copy_without_message);
    tcase_add_test(tc, test_copy_null_and_clean);
    tcase_add_test(tc, test_copy_onto_itself);
    tcase_add_test(tc, test_clear_null_and_twice);
    suite_add_tcase(s, tc);
    return s;
}
