/*
 * HTTP heads: wire_http_head_get, wire_http_status_reason, and request
 * heads as the server parses them (protocols/http/head.c through the
 * server over the string transport): header lines split anywhere,
 * blanks trimmed, empty values, duplicates, the limits exactly at and
 * one past their edge, trailers that must not disturb the head.
 */
#include "http_util.h"

#include <stdlib.h>
#include <string.h>

START_TEST(test_head_get)
{
    struct wire_http_header hs[] = {
        {"Content-Type", "text/plain"},
        {"X-Dup", "first"},
        {"x-dup", "second"},
        {"Empty", ""},
    };
    struct wire_http_head h = {.headers = hs, .nheaders = 4};
    ck_assert_str_eq(wire_http_head_get(&h, "content-type"), "text/plain");
    ck_assert_str_eq(wire_http_head_get(&h, "CONTENT-TYPE"), "text/plain");
    ck_assert_str_eq(wire_http_head_get(&h, "X-DUP"), "first");
    ck_assert_str_eq(wire_http_head_get(&h, "empty"), "");
    ck_assert_ptr_null(wire_http_head_get(&h, "missing"));
    ck_assert_ptr_null(wire_http_head_get(&h, "Content-Typ"));
    ck_assert_ptr_null(wire_http_head_get(NULL, "x"));
    ck_assert_ptr_null(wire_http_head_get(&h, NULL));
}
END_TEST

START_TEST(test_status_reason)
{
    ck_assert_str_eq(wire_http_status_reason(200), "OK");
    ck_assert_str_eq(wire_http_status_reason(404), "Not Found");
    ck_assert_str_eq(wire_http_status_reason(413), "Content Too Large");
    ck_assert_str_eq(wire_http_status_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(wire_http_status_reason(505), "HTTP Version Not Supported");
    ck_assert_str_eq(wire_http_status_reason(101), "Switching Protocols");
    ck_assert_str_eq(wire_http_status_reason(299), "Unknown");
    ck_assert_str_eq(wire_http_status_reason(-1), "Unknown");
}
END_TEST

/* The head as the application saw it, for `in` fed in pieces of `step`
 * bytes (0: whole). */
static char *
head_seen(const char *in, size_t step, struct wire_http_head *copy)
{
    struct happ a = {.mode = HAPP_RESPOND, .dump_headers = true};
    struct wire_transport *t = happ_string(&a, NULL);
    if (step == 0)
        st_feed(t, in);
    else
        ck_assert_int_eq(wire_string_transport_feed_split(t, in, strlen(in), step), 0);
    wire_string_transport_step(t);
    ck_assert_int_eq(a.requests, 1);
    ck_assert_int_eq(a.done_errors, 0);
    if (copy != NULL)
        *copy = a.head;
    char *log = strdup(happ_log(&a));
    wire_string_transport_free(t);
    happ_free(&a);
    return log;
}

START_TEST(test_split_headers_and_trimming)
{
    static const char in[] =
        "GET /p/a%20th?q=1&r HTTP/1.1\r\n"
        "Host: example.org\r\n"
        "X-Lead:    leading\r\n"
        "X-Trail: trailing \t \r\n"
        "X-Inner: a  b\tc\r\n"
        "X-Empty:\r\n"
        "X-Blank:    \r\n"
        "x-dup: one\r\n"
        "X-Dup: two\r\n"
        "\r\n";
    const char *want = "REQ GET /p/a%20th?q=1&r 1.1 [Host=example.org] [X-Lead=leading] "
                       "[X-Trail=trailing] [X-Inner=a  b\tc] [X-Empty=] [X-Blank=] "
                       "[x-dup=one] [X-Dup=two]|END|DONE|";
    for (size_t step = 0; step <= 7; step++) {
        struct wire_http_head h;
        char *log = head_seen(in, step, &h);
        ck_assert_msg(strcmp(log, want) == 0, "step %zu: %s", step, log);
        ck_assert_int_eq(h.version_major, 1);
        ck_assert_int_eq(h.version_minor, 1);
        ck_assert_int_eq(h.content_length, -1);
        ck_assert(!h.chunked);
        ck_assert(h.keep_alive);
        ck_assert(!h.upgrade);
        ck_assert(!h.expect_continue);
        ck_assert_uint_eq(h.nheaders, 8);
        free(log);
    }
    /* Every split index of the head. */
    size_t len = sizeof(in) - 1;
    for (size_t cut = 1; cut < len; cut++) {
        struct happ a = {.mode = HAPP_RESPOND, .dump_headers = true};
        struct wire_transport *t = happ_string(&a, NULL);
        ck_assert_int_eq(wire_string_transport_feed(t, in, cut), 0);
        ck_assert_int_eq(wire_string_transport_feed(t, in + cut, len - cut), 0);
        ck_assert_msg(strcmp(happ_log(&a), want) == 0, "cut %zu: %s", cut, happ_log(&a));
        wire_string_transport_free(t);
        happ_free(&a);
    }
}
END_TEST

/* What the head says about the body and the connection. */
START_TEST(test_head_fields)
{
    struct wire_http_head h;
    char *log = head_seen("POST /x HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", 0, &h);
    ck_assert_int_eq(h.content_length, 3);
    ck_assert_int_eq(h.version_minor, 0);
    ck_assert(!h.keep_alive);
    free(log);
    log = head_seen("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                    "Expect: 100-Continue\r\n\r\n0\r\n\r\n", 0, &h);
    ck_assert(h.chunked);
    ck_assert(h.expect_continue);
    free(log);
    log = head_seen("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 0, &h);
    ck_assert_str_eq(log, "REQ OPTIONS * 1.1 [Host=t]|END|DONE|");
    free(log);
}
END_TEST

/* Trailers after a chunked body are dropped; the head stays intact (its
 * strings must not move while the exchange lives). */
static void
trailer_body_end(void *arg, struct wire_http_exchange *x)
{
    int *n = arg;
    const struct wire_http_head *h = wire_http_exchange_request(x);
    ck_assert_str_eq(h->target, "/t");
    ck_assert_uint_eq(h->nheaders, 3); /* Host, Transfer-Encoding, X-Before */
    ck_assert_str_eq(wire_http_head_get(h, "x-before"), "kept");
    ck_assert_ptr_null(wire_http_head_get(h, "x-trailer"));
    (*n)++;
    ck_assert_int_eq(wire_http_respond(x, 200, NULL, NULL, 0), 0);
}

static void
trailer_request(void *arg, struct wire_http_exchange *x)
{
    (void)arg;
    (void)x;
}

START_TEST(test_trailers_do_not_disturb_head)
{
    int n = 0;
    struct wire_http_handler hd = {.on_request = trailer_request,
                                   .on_body_end = trailer_body_end};
    struct wire_http_limits lim = {.max_header_bytes = 512};
    struct wire_http_service_opts o = {.limits = lim};
    struct wire_http_service *s = wire_http_service_new(&o, &hd, &n, NULL);
    struct wire_transport *t = wire_string_transport_new(wire_http_server_protocol_new(s));
    char trailers[400];
    memset(trailers, 0, sizeof(trailers));
    for (int i = 0; i < 12; i++)
        strcat(trailers, "X-Trailer: some trailer value\r\n");
    st_feed(t, "POST /t HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nX-Before: kept\r\n\r\n"
               "2\r\nab\r\n0\r\n");
    st_feed(t, trailers);
    st_feed(t, "\r\n");
    ck_assert_int_eq(n, 1);
    /* Trailers beyond the head limit are refused like a head. */
    st_feed(t, "POST /t HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nX-Before: kept\r\n\r\n"
               "0\r\n");
    st_feed(t, trailers);
    st_feed(t, trailers);
    wire_string_transport_step(t);
    ck_assert_contains(unit_output(t), "HTTP/1.1 431 ");
    ck_assert(wire_string_transport_closed(t));
    wire_string_transport_free(t);
    wire_http_service_unref(s);
}
END_TEST

/* Each limit exactly at its edge passes, one past it is refused. */
START_TEST(test_limit_edges)
{
    struct wire_http_limits lim = {.max_headers = 3, .max_target = 8};
    /* header count */
    for (int n = 3; n <= 4; n++) {
        struct happ a = {.mode = HAPP_RESPOND};
        struct wire_transport *t = happ_string(&a, &lim);
        char req[256] = "GET / HTTP/1.1\r\nHost: t\r\n";
        for (int i = 1; i < n; i++) /* Host is the first of the n */
            strcat(req, "H: v\r\n");
        strcat(req, "\r\n");
        st_feed(t, req);
        wire_string_transport_step(t);
        ck_assert_contains(unit_output(t), n == 3 ? "HTTP/1.1 200 " : "HTTP/1.1 431 ");
        wire_string_transport_free(t);
        happ_free(&a);
    }
    /* target length */
    for (int n = 8; n <= 9; n++) {
        struct happ a = {.mode = HAPP_RESPOND};
        struct wire_transport *t = happ_string(&a, &lim);
        char req[256];
        snprintf(req, sizeof(req), "GET /%.*s HTTP/1.1\r\nHost: t\r\n\r\n", n - 1, "abcdefghijk");
        /* byte by byte: the feed after the refusal finds it closed */
        int rc = wire_string_transport_feed_split(t, req, strlen(req), 1);
        ck_assert_int_eq(rc, n == 8 ? 0 : WIRE_ECLOSED);
        wire_string_transport_step(t);
        ck_assert_contains(unit_output(t), n == 8 ? "HTTP/1.1 200 " : "HTTP/1.1 414 ");
        wire_string_transport_free(t);
        happ_free(&a);
    }
    /* head bytes: find the largest head that passes, then one more. */
    struct wire_http_limits lb = {.max_header_bytes = 64};
    int passed = -1;
    for (int n = 0; n < 80; n++) {
        struct happ a = {.mode = HAPP_RESPOND};
        struct wire_transport *t = happ_string(&a, &lb);
        char req[256];
        snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: t\r\nX: %.*s\r\n\r\n", n,
                 "0123456789012345678901234567890123456789012345678901234567890123456789"
                 "0123456789");
        st_feed(t, req);
        wire_string_transport_step(t);
        bool ok = strstr(unit_output(t), "HTTP/1.1 200 ") != NULL;
        if (!ok)
            ck_assert_contains(unit_output(t), "HTTP/1.1 431 ");
        if (ok)
            passed = n;
        else
            ck_assert_int_eq(passed, n - 1); /* refused from one past on */
        wire_string_transport_free(t);
        happ_free(&a);
        if (!ok)
            break;
    }
    ck_assert_int_gt(passed, 40);
    ck_assert_int_lt(passed, 64);
}
END_TEST

Suite *
http_head_suite(void)
{
    Suite *s = suite_create("http_head");
    TCase *tc = unit_tcase(s, "core");
    tcase_add_test(tc, test_head_get);
    tcase_add_test(tc, test_status_reason);
    tcase_add_test(tc, test_split_headers_and_trimming);
    tcase_add_test(tc, test_head_fields);
    tcase_add_test(tc, test_trailers_do_not_disturb_head);
    tc = unit_tcase(s, "limits");
    tcase_add_test(tc, test_limit_edges);
    return s;
}
