/*
 * The HTTP/1.1 client (wire_http_client_new and the wire_http_request_*
 * calls), sans-I/O over the string transport first: canned responses
 * fed whole, byte by byte, split at every point and at random, checked
 * for the parsed head, the body, and one on_done per request; the exact
 * bytes each request writes (Host, Content-Length or chunked framing,
 * requests made before the connection, pipelining in order); bodiless
 * responses (HEAD, 204, 304, 1xx), bodies that end with the connection,
 * chunk extensions and trailers; malformed responses, limits, the end of
 * the connection in the middle of a response; keep-alive ending after a
 * response that says close; body pause and resume; closing.  Then over
 * the memory pair with a loop: head and body timeouts, and the hand-over
 * of the connection after a 101 (the bytes that came with the 101 reach
 * the next protocol first).
 */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEADLINE_MS 5000

/* ---- what happened, in order ---- */

static char events[1024];

static void
ev(const char *fmt, unsigned n)
{
    size_t l = strlen(events);
    snprintf(events + l, sizeof(events) - l, fmt, n);
}

/* ---- one request's view ---- */

struct rsp {
    unsigned id;
    int responses, bodies, done, writable;
    int status, vmaj, vmin;
    bool keep_alive, upgrade;
    char reason[64];
    char hdrs[1024]; /* "name: value\n" for each header */
    char *body;
    size_t body_len, body_cap;
    bool done_null;
    int done_code;
    char done_msg[512];
    /* hooks */
    bool pause_in_response, pause_in_body;
    struct wire_protocol *take_over; /* handed the connection in on_response */
    int take_over_rc;
    bool close_in_done;
    struct rsp *new_in_done; /* a request made from on_done */
    struct wire_http_client *c;
    struct wire_http_request *r;
};

static void
h_response(void *arg, struct wire_http_request *r, const struct wire_http_head *hd)
{
    struct rsp *s = arg;
    ck_assert_ptr_eq(s->r, r);
    ck_assert_ptr_eq(wire_http_request_response(r), hd);
    ck_assert_ptr_null(hd->method);
    s->responses++;
    s->status = hd->status;
    s->vmaj = hd->version_major;
    s->vmin = hd->version_minor;
    s->keep_alive = hd->keep_alive;
    s->upgrade = hd->upgrade;
    snprintf(s->reason, sizeof(s->reason), "%s", hd->reason);
    s->hdrs[0] = '\0';
    for (size_t i = 0; i < hd->nheaders; i++) {
        size_t l = strlen(s->hdrs);
        snprintf(s->hdrs + l, sizeof(s->hdrs) - l, "%s: %s\n", hd->headers[i].name,
                 hd->headers[i].value);
    }
    if (s->pause_in_response)
        wire_http_request_pause_body(r);
    if (s->take_over != NULL) {
        struct wire_error err = {0};
        s->take_over_rc = wire_http_request_take_over(r, s->take_over, &err);
        if (s->take_over_rc != 0)
            wire_protocol_destroy(s->take_over);
        wire_error_clear(&err);
        s->take_over = NULL;
    }
}

static void
h_body(void *arg, struct wire_http_request *r, const void *data, size_t len)
{
    struct rsp *s = arg;
    ck_assert_ptr_eq(s->r, r);
    ck_assert_int_eq(s->responses, 1);
    ck_assert_uint_gt(len, 0);
    s->bodies++;
    unit_append(&s->body, &s->body_len, &s->body_cap, data, len);
    if (s->pause_in_body)
        wire_http_request_pause_body(r);
}

static void
h_writable(void *arg, struct wire_http_request *r)
{
    struct rsp *s = arg;
    ck_assert_ptr_eq(s->r, r);
    s->writable++;
}

static const struct wire_http_response_handler handler;

static void
h_done(void *arg, struct wire_http_request *r, const struct wire_error *err)
{
    struct rsp *s = arg;
    ck_assert_ptr_eq(s->r, r);
    s->done++;
    ck_assert_int_eq(s->done, 1);
    s->done_null = err == NULL;
    s->done_code = err != NULL ? err->code : 0;
    if (err != NULL) {
        ck_assert_int_ne(err->code, 0);
        ck_assert_ptr_nonnull(err->message);
        snprintf(s->done_msg, sizeof(s->done_msg), "%s", err->message);
    }
    ev("d%u ", s->id);
    if (s->close_in_done)
        wire_http_client_close(s->c);
    if (s->new_in_done != NULL) {
        struct rsp *n = s->new_in_done;
        n->c = s->c;
        n->r = wire_http_request_new(s->c, "GET", "/again", &handler, n, NULL);
        if (n->r != NULL)
            ck_assert_int_eq(wire_http_request_end(n->r), 0);
    }
}

static const struct wire_http_response_handler handler = {
    .on_response = h_response,
    .on_body = h_body,
    .on_writable = h_writable,
    .on_done = h_done,
};

static const char *
body_of(const struct rsp *s)
{
    return s->body != NULL ? s->body : "";
}

static void
rsp_free(struct rsp *s)
{
    free(s->body);
    s->body = NULL;
    s->body_len = s->body_cap = 0;
}

/* ---- a client over the string transport ---- */

struct cli {
    struct wire_http_client *c;
    struct wire_protocol *p;
    struct wire_transport *st;
    int closed;
    bool close_null;
    int close_code;
    char close_msg[512];
    volatile bool closed_flag;
};

static void
on_close(void *arg, const struct wire_error *err)
{
    struct cli *k = arg;
    k->closed++;
    k->closed_flag = true;
    k->close_null = err == NULL;
    k->close_code = err != NULL ? err->code : 0;
    if (err != NULL)
        snprintf(k->close_msg, sizeof(k->close_msg), "%s", err->message);
    ev("c%u ", 0);
}

static void
cli_new(struct cli *k, const struct wire_http_client_opts *o)
{
    struct wire_http_client_opts opts = {0};
    if (o != NULL)
        opts = *o;
    opts.on_close = on_close;
    opts.arg = k;
    memset(k, 0, sizeof(*k));
    struct wire_error err = {0};
    k->p = wire_http_client_new(&opts, &k->c, &err);
    ck_assert_msg(k->p != NULL, "%s", err.message);
    ck_assert_ptr_nonnull(k->c);
    events[0] = '\0';
}

static void
cli_connect(struct cli *k)
{
    k->st = wire_string_transport_new(k->p);
    ck_assert_ptr_nonnull(k->st);
}

static void
cli_open(struct cli *k, const struct wire_http_client_opts *o)
{
    cli_new(k, o);
    cli_connect(k);
}

/* Free the transport: the client is lost and says so once. */
static void
cli_free(struct cli *k)
{
    wire_string_transport_free(k->st);
    ck_assert_int_eq(k->closed, 1);
    k->st = NULL;
}

static struct wire_http_request *
req(struct cli *k, const char *method, const char *target, struct rsp *s,
    unsigned id)
{
    s->id = id;
    s->c = k->c;
    struct wire_error err = {0};
    s->r = wire_http_request_new(k->c, method, target, &handler, s, &err);
    ck_assert_msg(s->r != NULL, "%s", err.message);
    return s->r;
}

/* ---- feeding responses every way ---- */

struct expect {
    int status;
    const char *reason;
    const char *body;
    int code;             /* on_done's: 0 for success */
    const char *msg_part; /* in on_done's message */
    const char *hdr_name, *hdr_value;
};

static void
feed_cuts(struct wire_transport *st, const char *in, size_t len,
          const size_t *cuts, size_t ncuts)
{
    size_t off = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (end > off)
            (void)wire_string_transport_feed(st, in + off, end - off);
        off = end;
    }
}

static void
check_rsp(const struct rsp *s, const struct expect *e, const char *ctx)
{
    ck_assert_msg(s->done == 1, "%s: on_done %d times", ctx, s->done);
    if (e->status != 0) {
        ck_assert_msg(s->responses == 1, "%s: on_response %d times", ctx, s->responses);
        ck_assert_msg(s->status == e->status, "%s: status %d", ctx, s->status);
    } else {
        ck_assert_msg(s->responses == 0, "%s: on_response %d times", ctx, s->responses);
    }
    if (e->reason != NULL)
        ck_assert_msg(strcmp(s->reason, e->reason) == 0, "%s: reason '%s'", ctx,
                      s->reason);
    ck_assert_msg(strcmp(body_of(s), e->body ? e->body : "") == 0,
                  "%s: body '%s', not '%s'", ctx, body_of(s), e->body ? e->body : "");
    ck_assert_msg(s->done_code == e->code, "%s: on_done code %s (%s)", ctx,
                  wire_err_name(s->done_code), s->done_msg);
    ck_assert(s->done_null == (e->code == 0));
    if (e->msg_part != NULL)
        ck_assert_msg(strstr(s->done_msg, e->msg_part) != NULL,
                      "%s: '%s' lacks '%s'", ctx, s->done_msg, e->msg_part);
    if (e->hdr_name != NULL) {
        char want[256];
        snprintf(want, sizeof(want), "%s: %s\n", e->hdr_name, e->hdr_value);
        ck_assert_msg(strstr(s->hdrs, want) != NULL, "%s: headers '%s' lack '%s'",
                      ctx, s->hdrs, want);
    }
}

/* `n` requests (methods[i] on "/i"), answered by `in` fed with `cuts`,
 * then EOF if `eof`. */
static void
run_split(size_t n, const char *const *methods, const char *in, size_t len,
          const size_t *cuts, size_t ncuts, bool eof, const struct expect *e,
          const char *ctx)
{
    struct cli k;
    struct rsp s[8];
    ck_assert_uint_le(n, 8);
    memset(s, 0, sizeof(s));
    cli_open(&k, NULL);
    for (size_t i = 0; i < n; i++) {
        char target[16];
        snprintf(target, sizeof(target), "/%zu", i);
        struct wire_http_request *r = req(&k, methods[i], target, &s[i], (unsigned)i + 1);
        ck_assert_int_eq(wire_http_request_end(r), 0);
    }
    feed_cuts(k.st, in, len, cuts, ncuts);
    if (eof)
        (void)wire_string_transport_feed_eof(k.st);
    wire_string_transport_step(k.st);
    for (size_t i = 0; i < n; i++) {
        char c2[256];
        snprintf(c2, sizeof(c2), "%s, request %zu", ctx, i + 1);
        check_rsp(&s[i], &e[i], c2);
    }
    cli_free(&k);
    for (size_t i = 0; i < n; i++)
        rsp_free(&s[i]);
}

/* Whole, byte by byte, in two at every point, in pieces of 2..7, and
 * in random pieces. */
static void
run_all(size_t n, const char *const *methods, const char *in, bool eof,
        const struct expect *e)
{
    size_t len = strlen(in);
    size_t *cuts = calloc(len + 1, sizeof(*cuts));
    ck_assert_ptr_nonnull(cuts);
    char ctx[64];
    run_split(n, methods, in, len, cuts, 0, eof, e, "whole");
    for (size_t i = 1; i < len; i++)
        cuts[i - 1] = i;
    run_split(n, methods, in, len, cuts, len > 0 ? len - 1 : 0, eof, e, "byte by byte");
    for (size_t i = 1; i < len; i++) {
        snprintf(ctx, sizeof(ctx), "split at %zu", i);
        run_split(n, methods, in, len, &i, 1, eof, e, ctx);
    }
    for (size_t step = 2; step <= 7; step++) {
        size_t m = 0;
        for (size_t off = step; off < len; off += step)
            cuts[m++] = off;
        snprintf(ctx, sizeof(ctx), "pieces of %zu", step);
        run_split(n, methods, in, len, cuts, m, eof, e, ctx);
    }
    unsigned seed = unit_seed();
    for (int round = 0; round < 20; round++) {
        size_t m = 0, off = 0;
        for (;;) {
            seed = seed * 1103515245u + 12345u;
            off += 1 + (seed >> 16) % 9;
            if (off >= len)
                break;
            cuts[m++] = off;
        }
        snprintf(ctx, sizeof(ctx), "random round %d (seed %u)", round, unit_seed());
        run_split(n, methods, in, len, cuts, m, eof, e, ctx);
    }
    free(cuts);
}

static const char *const GET1[] = {"GET"};

/* ---- parsing responses ---- */

START_TEST(test_content_length)
{
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             "X-Blank:   padded  \r\nContent-Length: 11\r\n\r\n"
                             "hello world";
    struct expect e = {200, "OK", "hello world", 0, NULL, "X-Blank", "padded"};
    run_all(1, GET1, in, false, &e);
    run_all(1, GET1, in, true, &e);
}
END_TEST

START_TEST(test_head_lookup_and_fields)
{
    struct cli k;
    struct rsp s = {0};
    cli_open(&k, NULL);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s, 1)), 0);
    static const char in[] = "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n"
                             "X-Two: a\r\nx-two: b\r\n\r\nno!";
    /* on_response sees the whole head; wire_http_head_get is
     * case-insensitive and gives the first value. */
    struct wire_http_request *r = s.r;
    ck_assert_ptr_null(wire_http_request_response(r));
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 4), 0);
    const struct wire_http_head *hd = wire_http_request_response(r);
    ck_assert_ptr_nonnull(hd);
    ck_assert_int_eq(hd->status, 404);
    ck_assert_str_eq(hd->reason, "Not Found");
    ck_assert_int_eq(hd->version_major, 1);
    ck_assert_int_eq(hd->version_minor, 1);
    ck_assert_str_eq(wire_http_head_get(hd, "X-TWO"), "a");
    ck_assert_str_eq(wire_http_head_get(hd, "Content-Length"), "3");
    ck_assert_ptr_null(wire_http_head_get(hd, "nope"));
    ck_assert_int_eq(hd->content_length, 3);
    ck_assert(!hd->chunked);
    ck_assert(hd->keep_alive);
    ck_assert_int_eq(wire_string_transport_feed(k.st, in + sizeof(in) - 4, 3), 0);
    ck_assert_int_eq(s.done, 1);
    ck_assert(s.done_null);
    ck_assert_str_eq(body_of(&s), "no!");
    /* A non-2xx status is a response like any other. */
    ck_assert_int_eq(s.status, 404);
    ck_assert(!wire_string_transport_closed(k.st));
    cli_free(&k);
    ck_assert_int_eq(k.close_code, WIRE_EABORTED); /* freed while open */
    rsp_free(&s);
}
END_TEST

START_TEST(test_chunked_extensions_trailers)
{
    static const char in[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "5;name=value\r\nhello\r\n"
                             "1;flag\r\n \r\n"
                             "A;q=\"quoted str\"\r\n0123456789\r\n"
                             "0\r\nX-Trailer: yes\r\n\r\n";
    struct expect e = {200, "OK", "hello 0123456789", 0, NULL, "Transfer-Encoding",
                       "chunked"};
    run_all(1, GET1, in, false, &e);
}
END_TEST

START_TEST(test_read_to_close)
{
    /* No length: the body ends with the connection. */
    static const char in[] = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of this, until EOF";
    struct expect e = {200, "OK", "all of this, until EOF", 0, NULL, "Server", "x"};
    run_all(1, GET1, in, true, &e);
    /* Without the EOF it is not over: the loss of the connection cuts it. */
    struct cli k;
    struct rsp s = {0};
    cli_open(&k, NULL);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s, 1)), 0);
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 1), 0);
    ck_assert_int_eq(s.done, 0);
    ck_assert(!s.keep_alive);
    ck_assert_int_eq(wire_string_transport_feed_error(k.st, -ECONNRESET, "reset"), 0);
    wire_string_transport_step(k.st);
    ck_assert_int_eq(s.done, 1);
    ck_assert_int_eq(s.done_code, -ECONNRESET);
    ck_assert_int_eq(k.closed, 1);
    ck_assert_int_eq(k.close_code, -ECONNRESET);
    cli_free(&k);
    rsp_free(&s);
}
END_TEST

START_TEST(test_pipelined_in_order)
{
    static const char *const m[] = {"GET", "HEAD", "GET", "DELETE", "GET"};
    /* The HEAD response says 9 bytes but has none; 204 and 304 have
     * none whatever they say; a 100 Continue is skipped. */
    static const char in[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n"
        "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nlast\r\n0\r\n\r\n";
    struct expect e[] = {
        {200, "OK", "one", 0, NULL, NULL, NULL},
        {200, "OK", "", 0, NULL, "Content-Length", "9"},
        {304, "Not Modified", "", 0, NULL, "ETag", "\"x\""},
        {204, "No Content", "", 0, NULL, NULL, NULL},
        {200, "OK", "last", 0, NULL, NULL, NULL},
    };
    run_all(5, m, in, false, e);
}
END_TEST

START_TEST(test_head_response_keep_alive)
{
    /* A HEAD response without a length is still reusable. */
    struct cli k;
    struct rsp s[2] = {{0}};
    cli_open(&k, NULL);
    ck_assert_int_eq(wire_http_request_end(req(&k, "HEAD", "/", &s[0], 1)), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[1], 2)), 0);
    static const char in[] = "HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 1), 0);
    ck_assert(s[0].keep_alive);
    ck_assert(s[0].done_null);
    ck_assert(s[1].done_null);
    ck_assert_str_eq(body_of(&s[1]), "x");
    ck_assert(!wire_string_transport_closed(k.st));
    cli_free(&k);
    rsp_free(&s[1]);
}
END_TEST

/* ---- keep-alive ---- */

static void
close_case(const char *first_response, const char *msg)
{
    struct cli k;
    struct rsp s[3] = {{0}};
    cli_open(&k, NULL);
    for (unsigned i = 0; i < 3; i++)
        ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[i], i + 1)), 0);
    ck_assert_int_eq(wire_string_transport_feed(k.st, first_response,
                                                strlen(first_response)), 0);
    ck_assert_int_eq(s[0].done, 1);
    ck_assert(s[0].done_null);
    ck_assert_str_eq(body_of(&s[0]), "bye");
    for (int i = 1; i < 3; i++) {
        ck_assert_int_eq(s[i].done, 1);
        ck_assert_int_eq(s[i].done_code, WIRE_ECLOSED);
        ck_assert_contains(s[i].done_msg, msg);
        ck_assert_int_eq(s[i].responses, 0);
    }
    /* The client closes; the loss follows, after every on_done. */
    ck_assert(wire_string_transport_closed(k.st));
    ck_assert_int_eq(k.closed, 0);
    wire_string_transport_step(k.st);
    ck_assert_int_eq(k.closed, 1);
    ck_assert(k.close_null);
    ck_assert_str_eq(events, "d1 d2 d3 c0 ");
    cli_free(&k);
    rsp_free(&s[0]);
}

START_TEST(test_connection_close_ends_the_rest)
{
    close_case("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye",
               "the server closed the connection after request 1");
    /* HTTP/1.0 without keep-alive closes too. */
    close_case("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nbye",
               "the server closed the connection after request 1; request ");
}
END_TEST

START_TEST(test_request_connection_close)
{
    /* A request that asks to close is the last one written; the ones
     * behind it end with WIRE_ECLOSED once it is answered. */
    struct cli k;
    struct rsp s[2] = {{0}};
    cli_open(&k, NULL);
    struct wire_http_request *r = req(&k, "GET", "/last", &s[0], 1);
    ck_assert_int_eq(wire_http_request_header(r, "Connection", "close"), 0);
    ck_assert_int_eq(wire_http_request_end(r), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/never", &s[1], 2)), 0);
    ck_assert_ptr_null(strstr(unit_output(k.st), "/never"));
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 1), 0);
    ck_assert(s[0].done_null);
    ck_assert_int_eq(s[1].done_code, WIRE_ECLOSED);
    ck_assert(wire_string_transport_closed(k.st));
    ck_assert_ptr_null(strstr(unit_output(k.st), "/never"));
    cli_free(&k);
    ck_assert(k.close_null);
    rsp_free(&s[0]);
}
END_TEST

START_TEST(test_http10_keep_alive_reused)
{
    struct cli k;
    struct rsp s[2] = {{0}};
    cli_open(&k, NULL);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[0], 1)), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[1], 2)), 0);
    static const char in[] = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                             "Content-Length: 1\r\n\r\na"
                             "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                             "Content-Length: 1\r\n\r\nb";
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 1), 0);
    ck_assert(s[0].done_null && s[1].done_null);
    ck_assert_int_eq(s[0].vmin, 0);
    ck_assert(s[0].keep_alive);
    ck_assert_str_eq(body_of(&s[1]), "b");
    ck_assert(!wire_string_transport_closed(k.st));
    /* The server's EOF while idle: a clean end. */
    ck_assert_int_eq(wire_string_transport_feed_eof(k.st), 0);
    wire_string_transport_step(k.st);
    ck_assert_int_eq(k.closed, 1);
    ck_assert(k.close_null);
    cli_free(&k);
    rsp_free(&s[0]);
    rsp_free(&s[1]);
}
END_TEST

/* ---- what the client writes ---- */

START_TEST(test_writes_get_and_host)
{
    struct cli k;
    struct rsp s[3] = {{0}};
    cli_open(&k, NULL);
    /* No Host set, no host option, a peer that is no network address. */
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/a?b=c", &s[0], 1)), 0);
    ck_assert_str_eq(unit_output(k.st), "GET /a?b=c HTTP/1.1\r\nHost: localhost\r\n\r\n");
    wire_string_transport_clear_output(k.st);
    /* The application's Host wins; other headers in order. */
    struct wire_http_request *r = req(&k, "DELETE", "/x", &s[1], 2);
    ck_assert_int_eq(wire_http_request_header(r, "host", "h.example"), 0);
    ck_assert_int_eq(wire_http_request_header(r, "Accept", "*/*"), 0);
    ck_assert_int_eq(wire_http_request_end(r), 0);
    ck_assert_str_eq(unit_output(k.st),
                     "DELETE /x HTTP/1.1\r\nhost: h.example\r\nAccept: */*\r\n\r\n");
    cli_free(&k);
    ck_assert_int_eq(s[0].done_code, WIRE_EABORTED);
    ck_assert_int_eq(s[1].done_code, WIRE_EABORTED);

    /* The host option. */
    struct wire_http_client_opts o = {.host = "example.org:8080"};
    cli_open(&k, &o);
    memset(s, 0, sizeof(s));
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[0], 1)), 0);
    ck_assert_str_eq(unit_output(k.st), "GET / HTTP/1.1\r\nHost: example.org:8080\r\n\r\n");
    cli_free(&k);
}
END_TEST

START_TEST(test_writes_framing)
{
    struct cli k;
    struct rsp s[5] = {{0}};
    cli_open(&k, NULL);
    /* Content-Length given: the body as is. */
    struct wire_http_request *r = req(&k, "PUT", "/cl", &s[0], 1);
    ck_assert_int_eq(wire_http_request_header(r, "Content-Length", "10"), 0);
    ck_assert_int_eq(wire_http_request_write(r, "hello", 5), 0);
    ck_assert_int_eq(wire_http_request_write(r, "world!", 6), WIRE_EINVAL);
    ck_assert_int_eq(wire_http_request_end(r), WIRE_EINVAL); /* 5 short */
    ck_assert_int_eq(wire_http_request_header(r, "X-Late", "1"), WIRE_ESTATE);
    ck_assert_int_eq(wire_http_request_write(r, "world", 5), 0);
    ck_assert_int_eq(wire_http_request_end(r), 0);
    ck_assert_int_eq(wire_http_request_end(r), WIRE_ESTATE);
    ck_assert_int_eq(wire_http_request_write(r, "x", 1), WIRE_ESTATE);
    ck_assert_str_eq(unit_output(k.st), "PUT /cl HTTP/1.1\r\nContent-Length: 10\r\n"
                                        "Host: localhost\r\n\r\nhelloworld");
    wire_string_transport_clear_output(k.st);
    /* No length: chunked; an empty write is no chunk. */
    r = req(&k, "POST", "/ch", &s[1], 2);
    ck_assert_int_eq(wire_http_request_write(r, "hello", 5), 0);
    ck_assert_int_eq(wire_http_request_write(r, "", 0), 0);
    ck_assert_int_eq(wire_http_request_write(r, "0123456789abcdefX", 17), 0);
    ck_assert_int_eq(wire_http_request_end(r), 0);
    ck_assert_str_eq(unit_output(k.st), "POST /ch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                                        "Host: localhost\r\n\r\n5\r\nhello\r\n"
                                        "11\r\n0123456789abcdefX\r\n0\r\n\r\n");
    wire_string_transport_clear_output(k.st);
    /* Ended without a body: POST says Content-Length: 0, GET nothing. */
    ck_assert_int_eq(wire_http_request_end(req(&k, "POST", "/e", &s[2], 3)), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/e", &s[3], 4)), 0);
    ck_assert_str_eq(unit_output(k.st), "POST /e HTTP/1.1\r\nContent-Length: 0\r\n"
                                        "Host: localhost\r\n\r\n"
                                        "GET /e HTTP/1.1\r\nHost: localhost\r\n\r\n");
    wire_string_transport_clear_output(k.st);
    /* The application's own Transfer-Encoding: chunked is used as is. */
    r = req(&k, "POST", "/te", &s[4], 5);
    ck_assert_int_eq(wire_http_request_header(r, "Transfer-Encoding", "gzip"), WIRE_EINVAL);
    ck_assert_int_eq(wire_http_request_header(r, "Transfer-Encoding", "chunked"), 0);
    ck_assert_int_eq(wire_http_request_header(r, "Content-Length", "1"), WIRE_EINVAL);
    ck_assert_int_eq(wire_http_request_end(r), 0);
    ck_assert_str_eq(unit_output(k.st), "POST /te HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                                        "Host: localhost\r\n\r\n0\r\n\r\n");
    cli_free(&k);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(s[i].done, 1);
}
END_TEST

START_TEST(test_writes_refused)
{
    struct cli k;
    struct rsp s = {0};
    cli_open(&k, NULL);
    struct wire_error err = {0};
    ck_assert_ptr_null(wire_http_request_new(k.c, "GE T", "/", &handler, &s, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_ptr_null(wire_http_request_new(k.c, "GET", "/a b", &handler, &s, &err));
    ck_assert_ptr_null(wire_http_request_new(k.c, "GET", "", &handler, &s, &err));
    ck_assert_ptr_null(wire_http_request_new(k.c, "GET", "/", NULL, &s, &err));
    wire_error_clear(&err);
    struct wire_http_request *r = req(&k, "GET", "/", &s, 1);
    ck_assert_int_eq(wire_http_request_header(r, "Bad Name", "v"), WIRE_EINVAL);
    ck_assert_int_eq(wire_http_request_header(r, "X", "a\r\nInjected: 1"), WIRE_EINVAL);
    ck_assert_int_eq(wire_http_request_header(r, "Content-Length", "12x"), WIRE_EINVAL);
    ck_assert_int_eq(wire_http_request_header(r, "Content-Length", "-1"), WIRE_EINVAL);
    ck_assert_int_eq(wire_http_request_write(r, NULL, 1), WIRE_EINVAL);
    /* Nothing went out: the head waits for a write or the end. */
    ck_assert_str_eq(unit_output(k.st), "");
    ck_assert_int_eq(wire_http_request_end(r), 0);
    ck_assert_str_eq(unit_output(k.st), "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cli_free(&k);
    /* A bad host option. */
    struct wire_http_client_opts o = {.host = "a\r\nb"};
    struct wire_http_client *c = NULL;
    ck_assert_ptr_null(wire_http_client_new(&o, &c, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    wire_error_clear(&err);
}
END_TEST

START_TEST(test_requests_before_connection)
{
    struct cli k;
    struct rsp s[3] = {{0}};
    cli_new(&k, NULL);
    struct wire_http_request *r1 = req(&k, "POST", "/1", &s[0], 1);
    ck_assert_int_eq(wire_http_request_write(r1, "abc", 3), 0);
    struct wire_http_request *r2 = req(&k, "GET", "/2", &s[1], 2);
    ck_assert_int_eq(wire_http_request_end(r2), 0);
    ck_assert_int_eq(wire_http_request_write(r1, "de", 2), 0);
    ck_assert_int_eq(wire_http_request_end(r1), 0);
    struct wire_http_request *r3 = req(&k, "GET", "/3", &s[2], 3);
    cli_connect(&k);
    /* Sent at connection_made, in order; r3 is not ended yet. */
    ck_assert_str_eq(unit_output(k.st),
                     "POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                     "Host: localhost\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                     "GET /2 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    wire_string_transport_clear_output(k.st);
    ck_assert_int_eq(wire_http_request_end(r3), 0);
    ck_assert_str_eq(unit_output(k.st), "GET /3 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cli_free(&k);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(s[i].done, 1);
}
END_TEST

START_TEST(test_never_connected)
{
    /* The protocol is destroyed without a connection (a failed
     * connect): every request ends once, then on_close. */
    struct cli k;
    struct rsp s[2] = {{0}};
    cli_new(&k, NULL);
    req(&k, "GET", "/", &s[0], 1);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[1], 2)), 0);
    wire_protocol_destroy(k.p);
    ck_assert_int_eq(s[0].done_code, WIRE_ECLOSED);
    ck_assert_int_eq(s[1].done_code, WIRE_ECLOSED);
    ck_assert_int_eq(k.closed, 1);
    ck_assert_int_eq(k.close_code, WIRE_ECLOSED);
    ck_assert_str_eq(events, "d1 d2 c0 ");
}
END_TEST

START_TEST(test_pipelining_waits_for_end)
{
    struct cli k;
    struct rsp s[2] = {{0}};
    cli_open(&k, NULL);
    struct wire_http_request *r1 = req(&k, "POST", "/up", &s[0], 1);
    ck_assert_int_eq(wire_http_request_write(r1, "x", 1), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/next", &s[1], 2)), 0);
    /* The second request waits until the first one ended. */
    ck_assert_ptr_null(strstr(unit_output(k.st), "/next"));
    ck_assert_int_eq(wire_http_request_end(r1), 0);
    ck_assert_str_eq(strstr(unit_output(k.st), "0\r\n\r\n"),
                     "0\r\n\r\nGET /next HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cli_free(&k);
}
END_TEST

START_TEST(test_early_response)
{
    /* The server answers before the body is sent: the request is over,
     * the connection is not reused. */
    struct cli k;
    struct rsp s[2] = {{0}};
    cli_open(&k, NULL);
    struct wire_http_request *r1 = req(&k, "POST", "/big", &s[0], 1);
    ck_assert_int_eq(wire_http_request_write(r1, "part", 4), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[1], 2)), 0);
    static const char in[] = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n";
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 1), 0);
    ck_assert(s[0].done_null);
    ck_assert_int_eq(s[0].status, 413);
    ck_assert_int_eq(s[1].done_code, WIRE_ECLOSED);
    ck_assert_contains(s[1].done_msg, "before its body was sent");
    ck_assert(wire_string_transport_closed(k.st));
    cli_free(&k);
}
END_TEST

START_TEST(test_write_backpressure)
{
    struct cli k;
    struct rsp s[3] = {{0}};
    cli_open(&k, NULL);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(k.st, 64, 16), 0);
    wire_string_transport_set_capacity(k.st, 10);
    struct wire_http_request *r1 = req(&k, "POST", "/", &s[0], 1);
    char big[200];
    memset(big, 'b', sizeof(big));
    ck_assert_int_eq(wire_http_request_write(r1, big, sizeof(big)), 1);
    ck_assert_int_eq(s[0].writable, 0);
    wire_string_transport_set_capacity(k.st, SIZE_MAX);
    ck_assert_int_eq(s[0].writable, 1);
    ck_assert_int_eq(wire_http_request_end(r1), 0);
    /* A request waiting for its turn buffers, and says so past 64 KiB. */
    struct wire_http_request *r2 = req(&k, "POST", "/", &s[1], 2);
    struct wire_http_request *r3 = req(&k, "POST", "/", &s[2], 3);
    /* r2 is not ended, so r3 waits. */
    static char chunk[70000];
    ck_assert_int_eq(wire_http_request_write(r2, "x", 1), 0);
    ck_assert_int_eq(wire_http_request_write(r3, chunk, sizeof(chunk)), 1);
    ck_assert_int_eq(wire_http_request_end(r2), 0);
    /* r3's turn came: its on_writable runs on a later turn. */
    ck_assert_int_eq(s[2].writable, 0);
    wire_string_transport_step(k.st);
    ck_assert_int_eq(s[2].writable, 1);
    ck_assert_int_eq(wire_http_request_end(r3), 0);
    cli_free(&k);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_malformed)
{
    static const char *bad[] = {
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTX/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct expect e[2] = {
            {0, NULL, NULL, WIRE_EPROTO, "malformed HTTP (HPE_", NULL, NULL},
            {0, NULL, NULL, WIRE_ECLOSED, "request 2 was not answered", NULL, NULL},
        };
        /* The head of the malformed one may have been seen. */
        if (i == 3)
            e[0].status = 200;
        static const char *const m[] = {"GET", "GET"};
        run_all(2, m, bad[i], false, e);
    }
    /* The connection is aborted and on_close has the cause. */
    struct cli k;
    struct rsp s = {0};
    cli_open(&k, NULL);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s, 1)), 0);
    ck_assert_int_eq(wire_string_transport_feed(k.st, bad[0], strlen(bad[0])), 0);
    ck_assert(wire_string_transport_aborted(k.st));
    wire_string_transport_step(k.st);
    ck_assert_int_eq(k.close_code, WIRE_EPROTO);
    ck_assert_contains(k.close_msg, "response to request 1");
    cli_free(&k);

    /* A status of fewer than three digits, which llhttp takes, never
     * reaches the application (found by tests/fuzz/fuzz_http_client). */
    static const char *const short_status[] = {"HTTP/1.1 2 OK\r\n\r\n",
                                               "HTTP/1.1 20 OK\r\n\r\n"};
    for (size_t i = 0; i < 2; i++) {
        struct rsp s2 = {0};
        cli_open(&k, NULL);
        ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s2, 1)), 0);
        ck_assert_int_eq(wire_string_transport_feed(k.st, short_status[i],
                                                    strlen(short_status[i])),
                         0);
        wire_string_transport_step(k.st);
        ck_assert_int_eq(s2.status, 0);
        ck_assert_int_eq(k.close_code, WIRE_EPROTO);
        ck_assert_contains(k.close_msg, "not three digits");
        cli_free(&k);
    }
}
END_TEST

START_TEST(test_unsolicited_response)
{
    struct cli k;
    cli_open(&k, NULL);
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 1), 0);
    ck_assert(wire_string_transport_aborted(k.st));
    wire_string_transport_step(k.st);
    ck_assert_int_eq(k.closed, 1);
    ck_assert_int_eq(k.close_code, WIRE_EPROTO);
    ck_assert_contains(k.close_msg, "no request outstanding");
    cli_free(&k);

    /* One response too many, after a request that was answered; and a
     * request made but not yet sent gets no response either. */
    struct rsp s[2] = {{0}};
    cli_open(&k, NULL);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[0], 1)), 0);
    req(&k, "POST", "/", &s[1], 2);
    /* (The feed is refused once the client aborted.) */
    (void)wire_string_transport_feed_split(k.st, "HTTP/1.1 200 OK\r\n"
                     "Content-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 56, 3);
    ck_assert(s[0].done_null);
    ck_assert_int_eq(s[1].done_code, WIRE_ECLOSED);
    ck_assert_int_eq(s[1].responses, 0);
    wire_string_transport_step(k.st);
    ck_assert_int_eq(k.close_code, WIRE_EPROTO);
    cli_free(&k);
}
END_TEST

START_TEST(test_limits)
{
    struct cli k;
    struct rsp s = {0};
    /* The head over max_header_bytes. */
    struct wire_http_client_opts o = {.limits.max_header_bytes = 64};
    cli_open(&k, &o);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s, 1)), 0);
    char in[200];
    snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nX-Long: %080d\r\n\r\n", 0);
    (void)wire_string_transport_feed_split(k.st, in, strlen(in), 1);
    ck_assert_int_eq(s.done_code, WIRE_EMSGSIZE);
    ck_assert_contains(s.done_msg, "longer than the limit");
    cli_free(&k);
    ck_assert_int_eq(k.close_code, WIRE_EMSGSIZE);
    /* Too many header lines. */
    memset(&s, 0, sizeof(s));
    struct wire_http_client_opts o2 = {.limits.max_headers = 2};
    cli_open(&k, &o2);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s, 1)), 0);
    static const char three[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    ck_assert_int_eq(wire_string_transport_feed(k.st, three, sizeof(three) - 1), 0);
    ck_assert_int_eq(s.done_code, WIRE_EMSGSIZE);
    cli_free(&k);
    /* A declared body over max_body fails at the head. */
    memset(&s, 0, sizeof(s));
    struct wire_http_client_opts o3 = {.limits.max_body = 4};
    cli_open(&k, &o3);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s, 1)), 0);
    static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    ck_assert_int_eq(wire_string_transport_feed(k.st, cl, sizeof(cl) - 1), 0);
    ck_assert_int_eq(s.done_code, WIRE_EMSGSIZE);
    ck_assert_int_eq(s.responses, 0);
    cli_free(&k);
    /* A streamed one when it goes over. */
    memset(&s, 0, sizeof(s));
    cli_open(&k, &o3);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s, 1)), 0);
    static const char ch[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
    ck_assert_int_eq(wire_string_transport_feed(k.st, ch, sizeof(ch) - 1), 0);
    ck_assert_int_eq(s.done_code, WIRE_EMSGSIZE);
    ck_assert_str_eq(body_of(&s), "abc");
    cli_free(&k);
    rsp_free(&s);
}
END_TEST

START_TEST(test_eof_mid_response)
{
    static const char *cut[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhalf\r\n",
        "HTTP/1.1 200 OK\r\nContent-Le",
    };
    const char *body[] = {"half", "half", ""};
    for (size_t i = 0; i < 3; i++) {
        struct expect e[2] = {
            {i < 2 ? 200 : 0, NULL, body[i], WIRE_EINCOMPLETE,
             "the connection ended in the middle of the response to request 1",
             NULL, NULL},
            {0, NULL, NULL, WIRE_ECLOSED, "request 2 was not answered", NULL, NULL},
        };
        static const char *const m[] = {"GET", "GET"};
        run_all(2, m, cut[i], true, e);
    }
    /* EOF before any byte of the response. */
    struct expect e = {0, NULL, NULL, WIRE_ECLOSED,
                       "the server closed the connection; request 1 was not answered",
                       NULL, NULL};
    run_split(1, GET1, "", 0, NULL, 0, true, &e, "eof at once");
}
END_TEST

START_TEST(test_reset_mid_response)
{
    struct cli k;
    struct rsp s[2] = {{0}};
    cli_open(&k, NULL);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[0], 1)), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[1], 2)), 0);
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 1), 0);
    ck_assert_int_eq(wire_string_transport_feed_error(k.st, -ECONNRESET,
                                                      "connection reset by peer"), 0);
    ck_assert_int_eq(s[0].done, 0); /* from the loop, not re-entrantly */
    wire_string_transport_step(k.st);
    ck_assert_int_eq(s[0].done_code, -ECONNRESET);
    ck_assert_int_eq(s[1].done_code, -ECONNRESET);
    ck_assert_contains(s[0].done_msg, "reset");
    ck_assert_str_eq(events, "d1 d2 c0 ");
    ck_assert_int_eq(k.close_code, -ECONNRESET);
    cli_free(&k);
    rsp_free(&s[0]);
}
END_TEST

/* ---- pausing the body ---- */

START_TEST(test_pause_body)
{
    struct cli k;
    struct rsp s[2] = {{0}};
    cli_open(&k, NULL);
    s[0].pause_in_body = true;
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[0], 1)), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[1], 2)), 0);
    static const char in[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nabc\r\n3\r\ndef\r\n3\r\nghi\r\n0\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 1), 0);
    /* One piece, then nothing: the transport stopped reading. */
    ck_assert_int_eq(s[0].bodies, 1);
    ck_assert_str_eq(body_of(&s[0]), "abc");
    ck_assert(!wire_transport_is_reading(k.st));
    /* More input waits in the transport. */
    ck_assert_int_eq(wire_string_transport_feed_eof(k.st), 0);
    wire_string_transport_step(k.st);
    ck_assert_int_eq(s[0].bodies, 1);
    for (int i = 2; i <= 3; i++) {
        wire_http_request_resume_body(s[0].r);
        ck_assert_int_eq(s[0].bodies, i - 1); /* never inside resume */
        wire_string_transport_step(k.st);
        ck_assert_int_eq(s[0].bodies, i);
    }
    ck_assert_str_eq(body_of(&s[0]), "abcdefghi");
    ck_assert_int_eq(s[0].done, 0);
    s[0].pause_in_body = false;
    wire_http_request_resume_body(s[0].r);
    wire_string_transport_step(k.st);
    ck_assert(s[0].done_null);
    ck_assert(s[1].done_null);
    ck_assert_str_eq(body_of(&s[1]), "ok");
    ck_assert_int_eq(k.closed, 1); /* the EOF came after */
    ck_assert(k.close_null);
    cli_free(&k);
    rsp_free(&s[0]);
    rsp_free(&s[1]);
}
END_TEST

START_TEST(test_pause_at_the_last_bytes)
{
    /* Paused on the body's last bytes, the response ends on resume even
     * though no byte follows. */
    struct cli k;
    struct rsp s = {0};
    cli_open(&k, NULL);
    s.pause_in_body = true;
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s, 1)), 0);
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 1), 0);
    ck_assert_int_eq(s.done, 0);
    wire_http_request_resume_body(s.r);
    wire_string_transport_step(k.st);
    ck_assert(s.done_null);
    ck_assert(wire_transport_is_reading(k.st));
    cli_free(&k);
    rsp_free(&s);

    /* Paused from on_response, on a body that ends with the connection,
     * whose EOF came meanwhile. */
    memset(&s, 0, sizeof(s));
    cli_open(&k, NULL);
    s.pause_in_response = true;
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s, 1)), 0);
    static const char rtc[] = "HTTP/1.1 200 OK\r\n\r\nuntil the end";
    ck_assert_int_eq(wire_string_transport_feed_split(k.st, rtc, sizeof(rtc) - 1, 5), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(k.st), 0);
    wire_string_transport_step(k.st);
    ck_assert_int_eq(s.responses, 1);
    ck_assert_int_eq(s.bodies, 0);
    wire_http_request_resume_body(s.r);
    wire_string_transport_step(k.st);
    ck_assert(s.done_null);
    ck_assert_str_eq(body_of(&s), "until the end");
    ck_assert_int_eq(k.closed, 1);
    cli_free(&k);
    rsp_free(&s);
}
END_TEST

START_TEST(test_pause_without_body)
{
    /* Paused from on_response of a response without a body: nothing to
     * hold back, and reading goes on for the next response. */
    struct cli k;
    struct rsp s[2] = {{0}};
    cli_open(&k, NULL);
    s[0].pause_in_response = true;
    ck_assert_int_eq(wire_http_request_end(req(&k, "HEAD", "/", &s[0], 1)), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[1], 2)), 0);
    static const char a[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    static const char b[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb";
    ck_assert_int_eq(wire_string_transport_feed(k.st, a, sizeof(a) - 1), 0);
    ck_assert(s[0].done_null);
    ck_assert(wire_transport_is_reading(k.st));
    ck_assert_int_eq(wire_string_transport_feed(k.st, b, sizeof(b) - 1), 0);
    ck_assert(s[1].done_null);
    ck_assert_str_eq(body_of(&s[1]), "b");
    cli_free(&k);
    rsp_free(&s[1]);
}
END_TEST

/* ---- closing and re-entrancy ---- */

START_TEST(test_client_close)
{
    struct cli k;
    struct rsp s[2] = {{0}};
    /* Nothing queued: closes at once. */
    cli_open(&k, NULL);
    wire_http_client_close(k.c);
    ck_assert(wire_string_transport_closed(k.st));
    wire_string_transport_step(k.st);
    ck_assert_int_eq(k.closed, 1);
    ck_assert(k.close_null);
    cli_free(&k);
    /* Queued requests end first; no new ones. */
    cli_open(&k, NULL);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[0], 1)), 0);
    wire_http_client_close(k.c);
    wire_http_client_close(k.c);
    struct wire_error err = {0};
    ck_assert_ptr_null(wire_http_request_new(k.c, "GET", "/", &handler, &s[1], &err));
    ck_assert_int_eq(err.code, WIRE_ECLOSED);
    wire_error_clear(&err);
    ck_assert(!wire_string_transport_closed(k.st));
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 1), 0);
    ck_assert(s[0].done_null);
    ck_assert(wire_string_transport_closed(k.st));
    wire_string_transport_step(k.st);
    ck_assert(k.close_null);
    cli_free(&k);
    /* Closed before the connection is made. */
    memset(s, 0, sizeof(s));
    cli_new(&k, NULL);
    wire_http_client_close(k.c);
    cli_connect(&k);
    ck_assert(wire_string_transport_closed(k.st));
    cli_free(&k);
}
END_TEST

START_TEST(test_reentrancy)
{
    /* From on_done: close the client; make another request. */
    struct cli k;
    struct rsp s[3] = {{0}};
    cli_open(&k, NULL);
    s[0].new_in_done = &s[2];
    s[2].id = 3;
    s[1].close_in_done = true;
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[0], 1)), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[1], 2)), 0);
    wire_string_transport_clear_output(k.st);
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
                             "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"
                             "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc";
    ck_assert_int_eq(wire_string_transport_feed_split(k.st, in, sizeof(in) - 1, 7), 0);
    ck_assert_str_eq(unit_output(k.st), "GET /again HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ck_assert(s[0].done_null && s[1].done_null && s[2].done_null);
    ck_assert_str_eq(body_of(&s[2]), "c");
    ck_assert(wire_string_transport_closed(k.st));
    wire_string_transport_step(k.st);
    ck_assert_str_eq(events, "d1 d2 d3 c0 ");
    cli_free(&k);
    for (int i = 0; i < 3; i++)
        rsp_free(&s[i]);
    /* A request made from on_done after the connection failed is refused. */
    memset(s, 0, sizeof(s));
    cli_open(&k, NULL);
    s[0].new_in_done = &s[2];
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[0], 1)), 0);
    ck_assert_int_eq(wire_string_transport_feed(k.st, "HTTP/1.1 999x", 13), 0);
    ck_assert_int_eq(s[0].done_code, WIRE_EPROTO);
    ck_assert_ptr_null(s[2].r);
    cli_free(&k);
}
END_TEST

/* ---- take-over over the string transport ---- */

START_TEST(test_connect_take_over)
{
    struct cli k;
    struct rsp s[2] = {{0}};
    struct rec_log nlog = {0};
    cli_open(&k, NULL);
    s[0].take_over = rec_new(&nlog);
    struct wire_http_request *r = req(&k, "CONNECT", "example.org:443", &s[0], 1);
    ck_assert_int_eq(wire_http_request_header(r, "Host", "example.org:443"), 0);
    ck_assert_int_eq(wire_http_request_end(r), 0);
    /* Nothing is written after a CONNECT before its answer. */
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[1], 2)), 0);
    ck_assert_str_eq(unit_output(k.st), "CONNECT example.org:443 HTTP/1.1\r\n"
                                        "Host: example.org:443\r\n\r\n");
    static const char in[] = "HTTP/1.1 200 Connection established\r\n\r\nRAW BYTES";
    ck_assert_int_eq(wire_string_transport_feed_split(k.st, in, sizeof(in) - 1, 4), 0);
    ck_assert_int_eq(s[0].take_over_rc, 0);
    ck_assert(s[0].upgrade);
    ck_assert(s[0].done_null);
    ck_assert_int_eq(s[1].done_code, WIRE_ECLOSED);
    ck_assert_contains(s[1].done_msg, "handed over");
    ck_assert_int_eq(k.closed, 1);
    ck_assert(k.close_null);
    ck_assert_str_eq(events, "d1 d2 c0 ");
    ck_assert_int_eq(nlog.made, 1);
    wire_string_transport_step(k.st);
    ck_assert_str_eq(rec_in(&nlog), "RAW BYTES");
    ck_assert_int_eq(wire_string_transport_feed(k.st, "+more", 5), 0);
    ck_assert_str_eq(rec_in(&nlog), "RAW BYTES+more");
    ck_assert_int_eq(wire_transport_write(nlog.t, "up", 2), 0);
    ck_assert_contains(unit_output(k.st), "\r\n\r\nup");
    wire_string_transport_free(k.st);
    ck_assert_int_eq(nlog.lost, 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&nlog);

    /* take_over refused: not from on_response of a switch. */
    memset(s, 0, sizeof(s));
    cli_open(&k, NULL);
    struct rec_log l2 = {0};
    s[0].take_over = rec_new(&l2);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s[0], 1)), 0);
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    ck_assert_int_eq(wire_string_transport_feed(k.st, ok, sizeof(ok) - 1), 0);
    ck_assert_int_eq(s[0].take_over_rc, WIRE_ESTATE);
    ck_assert(s[0].done_null);
    ck_assert_int_eq(unit_live_protocols, 0);
    /* A CONNECT refused (407): HTTP goes on. */
    ck_assert_int_eq(wire_http_request_end(req(&k, "CONNECT", "h:1", &s[1], 2)), 0);
    static const char no[] = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                             "Content-Length: 4\r\n\r\nnope";
    ck_assert_int_eq(wire_string_transport_feed(k.st, no, sizeof(no) - 1), 0);
    ck_assert(s[1].done_null);
    ck_assert_str_eq(body_of(&s[1]), "nope");
    ck_assert(!wire_string_transport_closed(k.st));
    cli_free(&k);
    rsp_free(&s[1]);
    rec_log_free(&l2);
}
END_TEST

START_TEST(test_101_without_take_over)
{
    struct cli k;
    struct rsp s = {0};
    cli_open(&k, NULL);
    struct wire_http_request *r = req(&k, "GET", "/ws", &s, 1);
    ck_assert_int_eq(wire_http_request_header(r, "Connection", "Upgrade"), 0);
    ck_assert_int_eq(wire_http_request_header(r, "Upgrade", "websocket"), 0);
    ck_assert_int_eq(wire_http_request_end(r), 0);
    static const char in[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\n\r\n\x81\x00";
    ck_assert_int_eq(wire_string_transport_feed(k.st, in, sizeof(in) - 1), 0);
    ck_assert_int_eq(s.status, 101);
    ck_assert(s.upgrade);
    ck_assert(s.done_null);
    ck_assert(wire_string_transport_closed(k.st));
    cli_free(&k);
    ck_assert(k.close_null);
    /* A 101 to a request that asked for no upgrade is an error. */
    memset(&s, 0, sizeof(s));
    cli_open(&k, NULL);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s, 1)), 0);
    static const char bad[] = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
    ck_assert_int_eq(wire_string_transport_feed(k.st, bad, sizeof(bad) - 1), 0);
    ck_assert_int_eq(s.done_code, WIRE_EPROTO);
    ck_assert_contains(s.done_msg, "asked for no upgrade");
    cli_free(&k);
}
END_TEST

/* ---- with a loop: the memory pair ---- */

/* A fake server: answers `reply` (once) when a request head arrived. */
static void
srv_answer(struct rec_log *log, struct wire_transport *t, const void *data,
           size_t len)
{
    (void)data;
    (void)len;
    const char *reply = log->user;
    if (log->user_n == 0 && strstr(rec_in(log), "\r\n\r\n") != NULL) {
        log->user_n = 1;
        if (reply != NULL)
            ck_assert_int_eq(wire_transport_write(t, reply, strlen(reply)), 0);
    }
}

static bool
cli_closed(void *arg)
{
    return ((struct cli *)arg)->closed_flag;
}

static void
timeout_case(const char *reply, const char *msg, const char *body)
{
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct rec_log srv = {0};
    srv.on_data = srv_answer;
    srv.user = (void *)(uintptr_t)reply;
    struct cli k;
    struct rsp s = {0};
    struct wire_http_client_opts o = {.limits.head_timeout_ms = 50,
                                      .limits.body_timeout_ms = 50};
    cli_new(&k, &o);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/slow", &s, 1)), 0);
    ck_assert_int_eq(wire_mem_pair(loop, k.p, rec_new(&srv), 0, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, cli_closed, &k, DEADLINE_MS));
    ck_assert_int_eq(s.done_code, WIRE_ETIMEDOUT);
    ck_assert_contains(s.done_msg, msg);
    ck_assert_str_eq(body_of(&s), body);
    ck_assert_int_eq(k.close_code, WIRE_ETIMEDOUT);
    ck_assert_contains(rec_in(&srv), "GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ck_assert(unit_run_until(loop, log_destroyed, &srv, DEADLINE_MS));
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&srv);
    rsp_free(&s);
}

START_TEST(test_head_timeout)
{
    timeout_case(NULL, "no response head to request 1 within 50 ms", "");
    /* A 100 Continue restarts the wait, it does not end it. */
    timeout_case("HTTP/1.1 100 Continue\r\n\r\n", "within 50 ms", "");
}
END_TEST

START_TEST(test_body_timeout)
{
    timeout_case("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                 "the response body to request 1 stalled for 50 ms", "abc");
}
END_TEST

static bool
rec_has_n(void *arg)
{
    struct rec_log *log = arg;
    return log->in_len >= (size_t)log->user_n;
}

START_TEST(test_upgrade_take_over_mem)
{
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct rec_log srv = {0}, next = {0};
    srv.on_data = srv_answer;
    /* The 101 and the first upgraded bytes in one write. */
    srv.user = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n"
               "Connection: Upgrade\r\n\r\nHELLO";
    struct cli k;
    struct rsp s = {0};
    cli_new(&k, NULL);
    s.take_over = rec_new(&next);
    struct wire_http_request *r = req(&k, "GET", "/up", &s, 1);
    ck_assert_int_eq(wire_http_request_header(r, "Connection", "Upgrade"), 0);
    ck_assert_int_eq(wire_http_request_header(r, "Upgrade", "echo"), 0);
    ck_assert_int_eq(wire_http_request_end(r), 0);
    ck_assert_int_eq(wire_mem_pair(loop, k.p, rec_new(&srv), 0, NULL, NULL), 0);
    next.user_n = 5;
    ck_assert(unit_run_until(loop, rec_has_n, &next, DEADLINE_MS));
    ck_assert_str_eq(rec_in(&next), "HELLO");
    ck_assert_int_eq(s.take_over_rc, 0);
    ck_assert_int_eq(s.status, 101);
    ck_assert(s.done_null);
    ck_assert_int_eq(k.closed, 1);
    ck_assert(k.close_null);
    /* The next protocol owns the connection both ways. */
    size_t before = srv.in_len;
    ck_assert_int_eq(wire_transport_write(next.t, "PING", 4), 0);
    srv.user_n = (int)before + 4;
    ck_assert(unit_run_until(loop, rec_has_n, &srv, DEADLINE_MS));
    ck_assert_str_eq(rec_in(&srv) + before, "PING");
    ck_assert_int_eq(wire_transport_write(srv.t, "PONG", 4), 0);
    next.user_n = 9;
    ck_assert(unit_run_until(loop, rec_has_n, &next, DEADLINE_MS));
    ck_assert_str_eq(rec_in(&next), "HELLOPONG");
    wire_transport_close(next.t);
    ck_assert(unit_run_until(loop, log_destroyed, &srv, DEADLINE_MS));
    ck_assert(unit_run_until(loop, log_destroyed, &next, DEADLINE_MS));
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&srv);
    rec_log_free(&next);
}
END_TEST

START_TEST(test_mem_keep_alive_exchange)
{
    /* A whole exchange over the pair: two requests on one connection,
     * the Host from a network-less peer, then close. */
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct rec_log srv = {0};
    srv.on_data = srv_answer;
    srv.user = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"
               "Transfer-Encoding: chunked\r\n\r\n2\r\nk2\r\n0\r\n\r\n";
    struct cli k;
    struct rsp s[2] = {{0}};
    cli_new(&k, NULL);
    ck_assert_int_eq(wire_mem_pair(loop, k.p, rec_new(&srv), 0, NULL, NULL), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/1", &s[0], 1)), 0);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/2", &s[1], 2)), 0);
    wire_http_client_close(k.c);
    ck_assert(unit_run_until(loop, cli_closed, &k, DEADLINE_MS));
    ck_assert(s[0].done_null && s[1].done_null);
    ck_assert_str_eq(body_of(&s[0]), "ok");
    ck_assert_str_eq(body_of(&s[1]), "k2");
    ck_assert(k.close_null);
    ck_assert_str_eq(events, "d1 d2 c0 ");
    ck_assert(unit_run_until(loop, log_destroyed, &srv, DEADLINE_MS));
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&srv);
    rsp_free(&s[0]);
    rsp_free(&s[1]);
}
END_TEST

static struct wire_protocol *
srv_factory(void *arg)
{
    return rec_new(arg);
}

START_TEST(test_tcp_host_from_peer)
{
    /* Over TCP the Host is the peer's address; a failed connect ends
     * the queued requests and the client once. */
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct rec_log srv = {0};
    srv.on_data = srv_answer;
    srv.user = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes";
    struct wire_server *server = NULL;
    struct wire_error err = {0};
    ck_assert_int_eq(wire_listen(loop, "tcp://127.0.0.1:0", srv_factory, &srv, NULL,
                                 &server, &err), 0);
    const char *addr = wire_server_address(server);
    struct cli k;
    struct rsp s = {0};
    cli_new(&k, NULL);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s, 1)), 0);
    ck_assert_int_eq(wire_connect(loop, addr, k.p, NULL, NULL, NULL, &err), 0);
    wire_http_client_close(k.c);
    ck_assert(unit_run_until(loop, cli_closed, &k, DEADLINE_MS));
    ck_assert(s.done_null);
    ck_assert_str_eq(body_of(&s), "yes");
    char want[128];
    snprintf(want, sizeof(want), "\r\nHost: %s\r\n", addr + strlen("tcp://"));
    ck_assert_contains(rec_in(&srv), want);
    ck_assert(unit_run_until(loop, log_destroyed, &srv, DEADLINE_MS));
    wire_server_free(server);
    ck_assert_int_ge(wire_loop_run(loop), 0);

    struct rsp s2 = {0};
    cli_new(&k, NULL);
    ck_assert_int_eq(wire_http_request_end(req(&k, "GET", "/", &s2, 1)), 0);
    ck_assert_int_eq(wire_connect(loop, "tcp://127.0.0.1:1", k.p, NULL, NULL, NULL, &err), 0);
    ck_assert(unit_run_until(loop, cli_closed, &k, DEADLINE_MS));
    ck_assert_int_eq(s2.done, 1);
    ck_assert_int_eq(s2.done_code, WIRE_ECLOSED);
    ck_assert_int_eq(k.closed, 1);
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&srv);
    rsp_free(&s);
}
END_TEST

Suite *
http_client_suite(void)
{
    Suite *s = suite_create("http_client");
    TCase *tc = unit_tcase(s, "responses");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_content_length);
    tcase_add_test(tc, test_head_lookup_and_fields);
    tcase_add_test(tc, test_chunked_extensions_trailers);
    tcase_add_test(tc, test_read_to_close);
    tcase_add_test(tc, test_pipelined_in_order);
    tcase_add_test(tc, test_head_response_keep_alive);
    tc = unit_tcase(s, "keep-alive");
    tcase_add_test(tc, test_connection_close_ends_the_rest);
    tcase_add_test(tc, test_request_connection_close);
    tcase_add_test(tc, test_http10_keep_alive_reused);
    tc = unit_tcase(s, "requests");
    tcase_add_test(tc, test_writes_get_and_host);
    tcase_add_test(tc, test_writes_framing);
    tcase_add_test(tc, test_writes_refused);
    tcase_add_test(tc, test_requests_before_connection);
    tcase_add_test(tc, test_never_connected);
    tcase_add_test(tc, test_pipelining_waits_for_end);
    tcase_add_test(tc, test_early_response);
    tcase_add_test(tc, test_write_backpressure);
    tc = unit_tcase(s, "errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_unsolicited_response);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_eof_mid_response);
    tcase_add_test(tc, test_reset_mid_response);
    tc = unit_tcase(s, "pause");
    tcase_add_test(tc, test_pause_body);
    tcase_add_test(tc, test_pause_at_the_last_bytes);
    tcase_add_test(tc, test_pause_without_body);
    tc = unit_tcase(s, "reentrancy");
    tcase_add_test(tc, test_client_close);
    tcase_add_test(tc, test_reentrancy);
    tc = unit_tcase(s, "take-over");
    tcase_add_test(tc, test_connect_take_over);
    tcase_add_test(tc, test_101_without_take_over);
    tc = unit_tcase(s, "loop");
    tcase_add_test(tc, test_head_timeout);
    tcase_add_test(tc, test_body_timeout);
    tcase_add_test(tc, test_upgrade_take_over_mem);
    tcase_add_test(tc, test_mem_keep_alive_exchange);
    tcase_add_test(tc, test_tcp_host_from_peer);
    return s;
}
