/*
 * Endpoint strings: the generic parser (both shapes, query parameters,
 * percent-decoding), the typed parameter readers, and every kind of bad
 * string.  A bad string must give WIRE_EENDPOINT (or WIRE_ENOSCHEME
 * through wire_connect/wire_listen) and a message that names what is
 * wrong, so each case asserts the code and a piece of the message.
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static struct wire_endpoint ep;
static struct wire_error err;

static void
ep_setup(void)
{
    unit_setup();
    memset(&ep, 0, sizeof(ep));
    memset(&err, 0, sizeof(err));
}

static void
ep_teardown(void)
{
    wire_endpoint_clear(&ep);
    wire_error_clear(&err);
}

static void
parse_ok(const char *s, enum wire_endpoint_shape shape)
{
    wire_endpoint_clear(&ep);
    wire_error_clear(&err);
    int rc = wire_endpoint_parse(s, shape, &ep, &err);
    ck_assert_msg(rc == 0, "parsing '%s' failed: %s", s,
                  err.message ? err.message : "?");
}

/* ---- good strings ---- */

START_TEST(test_tcp_host_port)
{
    parse_ok("tcp://example.org:8080", WIRE_ENDPOINT_HOSTPORT);
    ck_assert_str_eq(ep.scheme, "tcp");
    ck_assert_str_eq(ep.host, "example.org");
    ck_assert_str_eq(ep.port, "8080");
    ck_assert_ptr_null(ep.path);
    ck_assert_uint_eq(ep.nparams, 0);

    parse_ok("tcp://127.0.0.1:0", WIRE_ENDPOINT_HOSTPORT);
    ck_assert_str_eq(ep.host, "127.0.0.1");
    ck_assert_str_eq(ep.port, "0");

    parse_ok("tcp://h:65535", WIRE_ENDPOINT_HOSTPORT);
    ck_assert_str_eq(ep.port, "65535");

    /* The scheme is case-insensitive and comes back lower-case. */
    parse_ok("TCP://h:1", WIRE_ENDPOINT_HOSTPORT);
    ck_assert_str_eq(ep.scheme, "tcp");
}
END_TEST

START_TEST(test_tcp_ipv6)
{
    parse_ok("tcp://[::1]:80", WIRE_ENDPOINT_HOSTPORT);
    ck_assert_str_eq(ep.host, "::1"); /* brackets removed */
    ck_assert_str_eq(ep.port, "80");
    parse_ok("tcp://[fe80::1:2]:443?timeout=5", WIRE_ENDPOINT_HOSTPORT);
    ck_assert_str_eq(ep.host, "fe80::1:2");
    ck_assert_str_eq(ep.port, "443");
    ck_assert_str_eq(wire_endpoint_param(&ep, "timeout"), "5");
}
END_TEST

START_TEST(test_unix_paths)
{
    parse_ok("unix:/tmp/wire.sock", WIRE_ENDPOINT_PATH);
    ck_assert_str_eq(ep.scheme, "unix");
    ck_assert_str_eq(ep.path, "/tmp/wire.sock");
    ck_assert_ptr_null(ep.host);
    ck_assert_ptr_null(ep.port);

    parse_ok("unix:@abstract-name", WIRE_ENDPOINT_PATH);
    ck_assert_str_eq(ep.path, "@abstract-name");

    parse_ok("unix:/tmp/a%20b?backlog=16", WIRE_ENDPOINT_PATH);
    ck_assert_str_eq(ep.path, "/tmp/a b");
    ck_assert_str_eq(wire_endpoint_param(&ep, "backlog"), "16");

    parse_ok("unix:relative/path", WIRE_ENDPOINT_PATH);
    ck_assert_str_eq(ep.path, "relative/path");
}
END_TEST

START_TEST(test_mem_name)
{
    parse_ok("mem:my-service", WIRE_ENDPOINT_PATH);
    ck_assert_str_eq(ep.scheme, "mem");
    ck_assert_str_eq(ep.path, "my-service");
    ck_assert_uint_eq(ep.nparams, 0);
}
END_TEST

START_TEST(test_query_params)
{
    parse_ok("tcp://h:1?timeout=5000&name=a%20b%26c&flag&%6Bey=v%3d1&e=",
             WIRE_ENDPOINT_HOSTPORT);
    ck_assert_uint_eq(ep.nparams, 5);
    ck_assert_str_eq(ep.keys[0], "timeout");
    ck_assert_str_eq(ep.values[0], "5000");
    /* %-decoding happens after splitting: an encoded '&' or '=' is data. */
    ck_assert_str_eq(wire_endpoint_param(&ep, "name"), "a b&c");
    ck_assert_str_eq(wire_endpoint_param(&ep, "flag"), ""); /* no '=' */
    ck_assert_str_eq(wire_endpoint_param(&ep, "key"), "v=1"); /* key decoded */
    ck_assert_str_eq(wire_endpoint_param(&ep, "e"), "");
    ck_assert_ptr_null(wire_endpoint_param(&ep, "missing"));
    ck_assert_ptr_null(wire_endpoint_param(&ep, "Timeout")); /* exact */

    /* Empty segments ("&&", a trailing '&') are skipped. */
    parse_ok("mem:x?a=1&&b=2&", WIRE_ENDPOINT_PATH);
    ck_assert_uint_eq(ep.nparams, 2);
    ck_assert_str_eq(wire_endpoint_param(&ep, "a"), "1");
    ck_assert_str_eq(wire_endpoint_param(&ep, "b"), "2");
    ck_assert_str_eq(ep.path, "x");
}
END_TEST

START_TEST(test_scheme_only)
{
    char buf[16];
    ck_assert_int_eq(wire_endpoint_scheme("Unix:/x", buf, sizeof(buf), &err), 0);
    ck_assert_str_eq(buf, "unix");
    ck_assert_int_eq(wire_endpoint_scheme("averyveryverylongscheme:x", buf,
                                          sizeof(buf), &err),
                     WIRE_EENDPOINT);
    ck_assert_contains(err.message, "averyveryverylongscheme");
    ck_assert_contains(err.message, "too long");
}
END_TEST

START_TEST(test_clear_twice_and_null)
{
    parse_ok("tcp://h:1?a=b", WIRE_ENDPOINT_HOSTPORT);
    wire_endpoint_clear(&ep);
    wire_endpoint_clear(&ep);
    wire_endpoint_clear(NULL);
    ck_assert_ptr_null(ep.scheme);
    ck_assert_uint_eq(ep.nparams, 0);
}
END_TEST

/* ---- bad strings ---- */

struct bad {
    const char *str;
    enum wire_endpoint_shape shape;
    const char *what; /* a piece of the message saying what is wrong */
    const char *part; /* the offending part, quoted in the message */
};

static const struct bad bad_strings[] = {
    /* no scheme */
    {"/tmp/sock", WIRE_ENDPOINT_PATH, "no scheme", "/tmp/sock"},
    {"//host:80", WIRE_ENDPOINT_HOSTPORT, "no scheme", "//host:80"},
    {"", WIRE_ENDPOINT_PATH, "no scheme", "''"},
    {":80", WIRE_ENDPOINT_HOSTPORT, "no scheme", ":80"},
    /* host:port shape */
    {"tcp:host:80", WIRE_ENDPOINT_HOSTPORT, "expected tcp://host:port",
     "tcp:host:80"},
    {"tcp://localhost", WIRE_ENDPOINT_HOSTPORT, "missing port",
     "tcp://localhost"},
    {"tcp://localhost?timeout=1", WIRE_ENDPOINT_HOSTPORT, "missing port",
     "tcp://localhost"},
    {"tcp://localhost:", WIRE_ENDPOINT_HOSTPORT, "missing port",
     "tcp://localhost:"},
    {"tcp://h:65536", WIRE_ENDPOINT_HOSTPORT, "65535", "65536"},
    {"tcp://h:99999999999999999999", WIRE_ENDPOINT_HOSTPORT, "65535",
     "99999999999999999999"},
    {"tcp://h:http", WIRE_ENDPOINT_HOSTPORT, "not a number", "'http'"},
    {"tcp://h:8o", WIRE_ENDPOINT_HOSTPORT, "not a number", "'8o'"},
    {"tcp://h:-1", WIRE_ENDPOINT_HOSTPORT, "not a number", "'-1'"},
    {"tcp://h: 80", WIRE_ENDPOINT_HOSTPORT, "not a number", "' 80'"},
    {"tcp://::1:80", WIRE_ENDPOINT_HOSTPORT, "brackets", "tcp://::1:80"},
    {"tcp://fe80::1:443", WIRE_ENDPOINT_HOSTPORT, "brackets", "fe80::1"},
    {"tcp://[::1:80", WIRE_ENDPOINT_HOSTPORT, "missing ']'", "[::1:80"},
    {"tcp://[::1]80", WIRE_ENDPOINT_HOSTPORT, "missing port after ']'",
     "[::1]80"},
    {"tcp://[::1]", WIRE_ENDPOINT_HOSTPORT, "missing port after ']'", "[::1]"},
    {"tcp://:80", WIRE_ENDPOINT_HOSTPORT, "missing host", "tcp://:80"},
    {"tcp://[]:80", WIRE_ENDPOINT_HOSTPORT, "missing host", "[]:80"},
    /* %-escapes */
    {"tcp://h:1?a=%zz", WIRE_ENDPOINT_HOSTPORT, "bad %-escape", "?a=%zz"},
    {"tcp://h:1?a=%4", WIRE_ENDPOINT_HOSTPORT, "bad %-escape", "%4"},
    {"tcp://h:1?ok=1&b%g0=1", WIRE_ENDPOINT_HOSTPORT, "bad %-escape",
     "offset 15"},
    {"unix:/tmp/%g1", WIRE_ENDPOINT_PATH, "bad %-escape", "/tmp/%g1"},
    {"unix:/tmp/%", WIRE_ENDPOINT_PATH, "bad %-escape", "/tmp/%"},
    /* path shape */
    {"unix:", WIRE_ENDPOINT_PATH, "missing address", "'unix:'"},
    {"mem:?bufsize=1", WIRE_ENDPOINT_PATH, "missing address", "mem:"},
    /* query */
    {"tcp://h:1?=v", WIRE_ENDPOINT_HOSTPORT, "empty parameter name",
     "offset 10"},
};
#define NBAD (sizeof(bad_strings) / sizeof(bad_strings[0]))

START_TEST(test_bad_string)
{
    const struct bad *b = &bad_strings[_i];
    /* Start from garbage: a failed parse leaves a cleared endpoint. */
    memset(&ep, 0xa5, sizeof(ep));
    int rc = wire_endpoint_parse(b->str, b->shape, &ep, &err);
    ck_assert_msg(rc == WIRE_EENDPOINT, "'%s' gave %d (%s), not WIRE_EENDPOINT",
                  b->str, rc, wire_err_name(rc));
    ck_assert_int_eq(err.code, WIRE_EENDPOINT);
    ck_assert_contains(err.message, b->what);
    ck_assert_contains(err.message, b->part);
    ck_assert_ptr_null(ep.scheme);
    ck_assert_ptr_null(ep.host);
    ck_assert_ptr_null(ep.path);
    ck_assert_uint_eq(ep.nparams, 0);
    /* Without an error object the code is the same. */
    ck_assert_int_eq(wire_endpoint_parse(b->str, b->shape, &ep, NULL),
                     WIRE_EENDPOINT);
}
END_TEST

START_TEST(test_null_string)
{
    ck_assert_int_eq(wire_endpoint_parse(NULL, WIRE_ENDPOINT_PATH, &ep, &err),
                     WIRE_EENDPOINT);
    ck_assert_ptr_nonnull(err.message);
}
END_TEST

/* ---- typed parameters ---- */

START_TEST(test_param_u64)
{
    parse_ok("tcp://h:1?t=5000&zero=0&neg=-1&word=abc&empty=&big="
             "99999999999999999999999&max=18446744073709551615",
             WIRE_ENDPOINT_HOSTPORT);
    uint64_t v = 7;
    ck_assert_int_eq(wire_endpoint_param_u64(&ep, "t", 1, 10000, &v, &err), 0);
    ck_assert_uint_eq(v, 5000);
    /* Bounds are inclusive. */
    ck_assert_int_eq(wire_endpoint_param_u64(&ep, "t", 5000, 5000, &v, &err), 0);
    /* Absent: 0 and the value is left alone. */
    v = 7;
    ck_assert_int_eq(wire_endpoint_param_u64(&ep, "absent", 1, 2, &v, &err), 0);
    ck_assert_uint_eq(v, 7);
    ck_assert_int_eq(wire_endpoint_param_u64(&ep, "max", 0, UINT64_MAX, &v,
                                             &err), 0);
    ck_assert_uint_eq(v, UINT64_MAX);

    static const struct {
        const char *key;
        uint64_t min, max;
        const char *shown;
    } bad[] = {
        {"t", 1, 4999, "t=5000"},      {"t", 5001, 9000, "t=5000"},
        {"zero", 1, 10, "zero=0"},     {"neg", 0, 10, "neg=-1"},
        {"word", 0, 10, "word=abc"},   {"empty", 0, 10, "empty="},
        {"big", 0, UINT64_MAX, "big=9999"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        int rc = wire_endpoint_param_u64(&ep, bad[i].key, bad[i].min,
                                         bad[i].max, &v, &err);
        ck_assert_msg(rc == WIRE_EENDPOINT, "%s accepted", bad[i].shown);
        ck_assert_uint_eq(v, 7); /* untouched on error */
        ck_assert_contains(err.message, bad[i].shown);
    }
    /* The message gives the range. */
    wire_endpoint_param_u64(&ep, "t", 1, 4999, &v, &err);
    ck_assert_contains(err.message, "from 1 to 4999");
}
END_TEST

START_TEST(test_param_bool)
{
    parse_ok("mem:x?a=1&b=yes&c=TRUE&d=on&e&f=0&g=no&h=False&i=OFF&j=maybe&k=2",
             WIRE_ENDPOINT_PATH);
    static const struct {
        const char *key;
        bool want;
    } good[] = {{"a", true},  {"b", true},  {"c", true},
                {"d", true},  {"e", true},  {"f", false},
                {"g", false}, {"h", false}, {"i", false}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        bool v = !good[i].want;
        ck_assert_int_eq(wire_endpoint_param_bool(&ep, good[i].key, &v, &err), 0);
        ck_assert_msg(v == good[i].want, "%s", good[i].key);
    }
    bool v = true;
    ck_assert_int_eq(wire_endpoint_param_bool(&ep, "absent", &v, &err), 0);
    ck_assert(v);
    ck_assert_int_eq(wire_endpoint_param_bool(&ep, "j", &v, &err),
                     WIRE_EENDPOINT);
    ck_assert_contains(err.message, "j=maybe");
    ck_assert(v);
    ck_assert_int_eq(wire_endpoint_param_bool(&ep, "k", &v, &err),
                     WIRE_EENDPOINT);
    ck_assert_contains(err.message, "k=2");
}
END_TEST

START_TEST(test_check_params)
{
    static const char *const known[] = {"timeout", "nodelay", NULL};
    static const char *const none[] = {NULL};
    parse_ok("tcp://h:1?timeout=5&nodelay=no", WIRE_ENDPOINT_HOSTPORT);
    ck_assert_int_eq(wire_endpoint_check_params(&ep, known, &err), 0);
    parse_ok("tcp://h:1?timeout=5&tiemout=6", WIRE_ENDPOINT_HOSTPORT);
    ck_assert_int_eq(wire_endpoint_check_params(&ep, known, &err),
                     WIRE_EENDPOINT);
    ck_assert_contains(err.message, "unknown parameter");
    ck_assert_contains(err.message, "'tiemout'");
    ck_assert_contains(err.message, "tcp");
    parse_ok("mem:x?a=1", WIRE_ENDPOINT_PATH);
    ck_assert_int_eq(wire_endpoint_check_params(&ep, none, &err),
                     WIRE_EENDPOINT);
    ck_assert_contains(err.message, "'a'");
    parse_ok("mem:x", WIRE_ENDPOINT_PATH);
    ck_assert_int_eq(wire_endpoint_check_params(&ep, none, &err), 0);
}
END_TEST

/* ---- through wire_connect / wire_listen ---- */

static int connect_cb_calls;

static void
never_cb(void *arg, struct wire_transport *t, const struct wire_error *e)
{
    (void)arg;
    (void)t;
    (void)e;
    connect_cb_calls++;
}

static struct wire_protocol *
null_factory(void *arg)
{
    (void)arg;
    return NULL;
}

struct via {
    const char *str;
    int code;
    const char *what;
    const char *part;
};

static const struct via via_connect[] = {
    {"foo://h:1", WIRE_ENOSCHEME, "unknown scheme", "'foo'"},
    {"http://example.org:80", WIRE_ENOSCHEME, "unknown scheme", "'http'"},
    {"localhost:8080", WIRE_ENOSCHEME, "unknown scheme", "'localhost'"},
    {"/tmp/sock", WIRE_EENDPOINT, "no scheme", "/tmp/sock"},
    {"tcp://localhost", WIRE_EENDPOINT, "missing port", "tcp://localhost"},
    {"tcp://127.0.0.1:80?tiemout=5", WIRE_EENDPOINT, "unknown parameter",
     "'tiemout'"},
    /* the message names what is known, so the misspelling shows */
    {"tcp://127.0.0.1:80?tiemout=5", WIRE_EENDPOINT, "(known: ", "timeout"},
    {"tcp://127.0.0.1:80?timeout=0", WIRE_EENDPOINT, "timeout=0", "from 1"},
    {"tcp://127.0.0.1:80?nodelay=perhaps", WIRE_EENDPOINT, "nodelay=perhaps",
     "yes or no"},
    {"tcp://127.0.0.1:0", WIRE_EENDPOINT, "port 0", "tcp://127.0.0.1:0"},
    {"unix:/tmp/x?backlog=1", WIRE_EENDPOINT, "unknown parameter", "'backlog'"},
    {"mem:x?bufsize=1", WIRE_EENDPOINT, "unknown parameter", "'bufsize'"},
};

START_TEST(test_connect_bad_endpoint)
{
    const struct via *v = &via_connect[_i];
    struct wire_loop *loop = wire_loop_new();
    struct rec_log log = {0};
    struct wire_protocol *p = rec_new(&log);
    connect_cb_calls = 0;
    int rc = wire_connect(loop, v->str, p, NULL, never_cb, NULL, &err);
    ck_assert_msg(rc == v->code, "'%s' gave %s, not %s", v->str,
                  wire_err_name(rc), wire_err_name(v->code));
    ck_assert_int_eq(err.code, v->code);
    ck_assert_contains(err.message, v->what);
    ck_assert_contains(err.message, v->part);
    /* The callback is never called, even later, and p stays ours. */
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(connect_cb_calls, 0);
    ck_assert_int_eq(log.made, 0);
    ck_assert_int_eq(log.destroyed, 0);
    wire_protocol_destroy(p);
    ck_assert_int_eq(log.destroyed, 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    wire_loop_free(loop);
    rec_log_free(&log);
}
END_TEST

static const struct via via_listen[] = {
    {"foo:bar", WIRE_ENOSCHEME, "unknown scheme", "'foo'"},
    {"udp://127.0.0.1:0", WIRE_ENOSCHEME, "unknown scheme", "'udp'"},
    {"tcp://127.0.0.1", WIRE_EENDPOINT, "missing port", "tcp://127.0.0.1"},
    {"tcp://127.0.0.1:0?backlog=0", WIRE_EENDPOINT, "backlog=0", "from 1"},
    {"tcp://127.0.0.1:0?reuseprot=1", WIRE_EENDPOINT, "unknown parameter",
     "'reuseprot'"},
    {"unix:/tmp/x?timeout=1", WIRE_EENDPOINT, "unknown parameter", "'timeout'"},
    {"mem:x?bufsize=0", WIRE_EENDPOINT, "bufsize=0", "from 1"},
    {"mem:", WIRE_EENDPOINT, "missing address", "mem:"},
};

START_TEST(test_listen_bad_endpoint)
{
    const struct via *v = &via_listen[_i];
    struct wire_loop *loop = wire_loop_new();
    struct wire_server *srv = (struct wire_server *)&err; /* poison */
    int rc = wire_listen(loop, v->str, null_factory, NULL, NULL, &srv, &err);
    ck_assert_msg(rc == v->code, "'%s' gave %s, not %s", v->str,
                  wire_err_name(rc), wire_err_name(v->code));
    ck_assert_contains(err.message, v->what);
    ck_assert_contains(err.message, v->part);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    wire_loop_free(loop);
}
END_TEST

START_TEST(test_connect_listen_null_args)
{
    struct wire_loop *loop = wire_loop_new();
    struct wire_server *srv = NULL;
    ck_assert_int_eq(wire_connect(loop, "mem:x", NULL, NULL, NULL, NULL, &err),
                     WIRE_EINVAL);
    ck_assert_int_eq(wire_listen(loop, "mem:x", NULL, NULL, NULL, &srv, &err),
                     WIRE_EINVAL);
    ck_assert_int_eq(wire_listen(loop, "mem:x", null_factory, NULL, NULL, NULL,
                                 NULL),
                     WIRE_EINVAL);
    /* Errors without an error object still return the code. */
    struct rec_log log = {0};
    struct wire_protocol *p = rec_new(&log);
    ck_assert_int_eq(wire_connect(loop, "nope:x", p, NULL, NULL, NULL, NULL),
                     WIRE_ENOSCHEME);
    wire_protocol_destroy(p);
    ck_assert_int_eq(unit_live_protocols, 0);
    wire_loop_free(loop);
    rec_log_free(&log);
}
END_TEST

Suite *
endpoint_suite(void)
{
    Suite *s = suite_create("endpoint");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, ep_setup, ep_teardown);
    tcase_add_test(tc, test_tcp_host_port);
    tcase_add_test(tc, test_tcp_ipv6);
    tcase_add_test(tc, test_unix_paths);
    tcase_add_test(tc, test_mem_name);
    tcase_add_test(tc, test_query_params);
    tcase_add_test(tc, test_scheme_only);
    tcase_add_test(tc, test_clear_twice_and_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, ep_setup, ep_teardown);
    tcase_add_loop_test(tc, test_bad_string, 0, (int)NBAD);
    tcase_add_test(tc, test_null_string);
    suite_add_tcase(s, tc);

    tc = tcase_create("params");
    tcase_add_checked_fixture(tc, ep_setup, ep_teardown);
    tcase_add_test(tc, test_param_u64);
    tcase_add_test(tc, test_param_bool);
    tcase_add_test(tc, test_check_params);
    suite_add_tcase(s, tc);

    tc = tcase_create("schemes");
    tcase_add_checked_fixture(tc, ep_setup, ep_teardown);
    tcase_add_loop_test(tc, test_connect_bad_endpoint, 0,
                        (int)(sizeof(via_connect) / sizeof(via_connect[0])));
    tcase_add_loop_test(tc, test_listen_bad_endpoint, 0,
                        (int)(sizeof(via_listen) / sizeof(via_listen[0])));
    tcase_add_test(tc, test_connect_listen_null_args);
    suite_add_tcase(s, tc);
    return s;
}
