/*
 * HTTP as a transport (<wire/http.h>, wire_http_client_layer_new and
 * wire_http_server_layer_new): a message protocol carried in HTTP bodies.
 *
 * sansio   over the string transport: the exact request a message makes;
 *          responses (Content-Length, chunked, 204, empty) fed at every
 *          split point and byte by byte, each body one data_received;
 *          pipelined requests answered in order; 204 for a request left
 *          unanswered; a message written with no request waiting rides on
 *          the next response; 405 for what is not a POST; the reply hints
 *          (wire_transport_hint_reply: 204 at once, or no 204 however
 *          long the answer takes).
 * loop     over the memory pair: pipelining in order, the 204 rule with
 *          and without reply_timeout_ms, non-2xx answers failing the
 *          client with the status line, limits, both directions of flow
 *          control, close and EOF from either side, get_info.
 * proof    PEP 3153's claim: one request/response protocol, unchanged,
 *          over lenprefix over TCP and over the HTTP layers over TCP,
 *          with the same assertions.
 * connect  a CONNECT proxy built on the HTTP server (upgrade + relay)
 *          carrying TLS from a client that took its connection over
 *          after the 200: bytes go client -> proxy -> TLS echo server and
 *          back, over 127.0.0.1 with ephemeral ports.
 */
#include "http_util.h"
#include "tls_certs.h"
#include "unit.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <wire/http.h>
#include <wire/relay.h>
#include <wire/tls.h>

#define DEADLINE_MS 10000

/* ---- helpers ---- */

static struct wire_protocol *
layer_over(bool server, struct rec_log *log, const struct wire_http_layer_opts *o)
{
    struct wire_error err = {0};
    log->messages = true;
    struct wire_protocol *up = rec_new(log);
    struct wire_protocol *p = server ? wire_http_server_layer_new(up, o, &err)
                                     : wire_http_client_layer_new(up, o, &err);
    ck_assert_msg(p != NULL, "layer: %s", err.message);
    wire_error_clear(&err);
    return p;
}

static struct wire_transport *
st_layer(bool server, struct rec_log *log, const struct wire_http_layer_opts *o)
{
    struct wire_transport *st = wire_string_transport_new(layer_over(server, log, o));
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(log->made, 1);
    return st;
}

static void
st_steps(struct wire_transport *st)
{
    for (int i = 0; i < 100 && wire_string_transport_step(st) > 0; i++)
        ;
}

static void
st_done(struct wire_transport *st, struct rec_log *log)
{
    wire_string_transport_free(st);
    rec_log_free(log);
    ck_assert_int_eq(unit_live_protocols, 0);
}

/* An on_data hook: answer each message upper-cased. */
static void
echo_upper(struct rec_log *log, struct wire_transport *t, const void *data,
           size_t len)
{
    (void)log;
    char *b = malloc(len + 1);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (char)toupper(((const unsigned char *)data)[i]);
    ck_assert_int_eq(wire_transport_write(t, b, len), 0);
    free(b);
}

static char *
request(const char *body)
{
    static char buf[4][512];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 512, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    return b;
}

/* ---- sans-I/O: the client ---- */

START_TEST(test_client_request_bytes)
{
    struct rec_log log = {0};
    struct wire_http_layer_opts o = {.path = "/rpc",
                                     .content_type = "application/json",
                                     .host = "example.org"};
    struct wire_transport *st = st_layer(false, &log, &o);
    ck_assert_str_eq(wire_transport_name(log.t), "http-client");
    const char *want =
        "POST /rpc HTTP/1.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 5\r\nHost: example.org\r\n\r\nhello";
    const char *want0 =
        "POST /rpc HTTP/1.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 0\r\nHost: example.org\r\n\r\n";
    ck_assert_int_eq(wire_transport_write(log.t, "hello", 5), 0);
    ck_assert_str_eq(unit_output(st), want);
    wire_string_transport_clear_output(st);
    /* An empty message is a message. */
    ck_assert_int_eq(wire_transport_write(log.t, "", 0), 0);
    ck_assert_str_eq(unit_output(st), want0);
    wire_string_transport_clear_output(st);
    /* write_sequence and write_ref make the same request. */
    struct iovec iov[3] = {{"he", 2}, {NULL, 0}, {"llo", 3}};
    ck_assert_int_eq(wire_transport_write_sequence(log.t, iov, 3), 0);
    ck_assert_str_eq(unit_output(st), want);
    wire_string_transport_clear_output(st);
    st_done(st, &log);
}
END_TEST

/* Four messages written; their responses: 200 with a length, 204, 200
 * chunked in two chunks, 200 empty. */
static const char client_resps[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nworld"
    "HTTP/1.1 204 No Content\r\n\r\n"
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";

static void
client_resps_run(size_t split, size_t chunk)
{
    struct rec_log log = {0};
    struct wire_transport *st = st_layer(false, &log, NULL);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(wire_transport_write(log.t, "q", 1), 0);
    size_t n = sizeof(client_resps) - 1;
    if (chunk > 0) {
        ck_assert_int_eq(wire_string_transport_feed_split(st, client_resps, n, chunk), 0);
    } else {
        ck_assert_int_eq(wire_string_transport_feed(st, client_resps, split), 0);
        st_steps(st);
        ck_assert_int_eq(wire_string_transport_feed(st, client_resps + split, n - split), 0);
    }
    st_steps(st);
    ck_assert_msg(strcmp(rec_escaped(&log), "world|abcde||") == 0,
                  "split %zu chunk %zu: '%s'", split, chunk, rec_escaped(&log));
    ck_assert_int_eq(log.data_calls, 3); /* each body whole, once */
    ck_assert_int_eq(log.lost, 0);
    ck_assert(!wire_transport_is_closing(log.t));
    st_done(st, &log);
}

START_TEST(test_client_response_splits)
{
    for (size_t k = 0; k <= sizeof(client_resps) - 1; k++)
        client_resps_run(k, 0);
    client_resps_run(0, 1);
    client_resps_run(0, 7);
}
END_TEST

START_TEST(test_client_unasked_and_eof)
{
    /* Bytes with no request outstanding: a protocol error. */
    struct rec_log log = {0};
    struct wire_transport *st = st_layer(false, &log, NULL);
    st_feed(st, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    st_steps(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EPROTO);
    ck_assert_contains(log.lost_msg, "no request outstanding");
    st_done(st, &log);

    /* The server's EOF with nothing owed: EOF up, then a clean close. */
    memset(&log, 0, sizeof(log));
    st = st_layer(false, &log, NULL);
    ck_assert_int_eq(wire_transport_write(log.t, "q", 1), 0);
    st_feed(st, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nr");
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    st_steps(st);
    ck_assert_str_eq(rec_escaped(&log), "r|");
    ck_assert_int_eq(log.eof, 1);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    st_done(st, &log);

    /* The EOF inside an answer: the request fails. */
    memset(&log, 0, sizeof(log));
    st = st_layer(false, &log, NULL);
    ck_assert_int_eq(wire_transport_write(log.t, "q", 1), 0);
    st_feed(st, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nr");
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    st_steps(st);
    ck_assert_int_eq(log.eof, 0);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EINCOMPLETE);
    st_done(st, &log);
}
END_TEST

/* ---- sans-I/O: the server ---- */

static void
server_splits_run(const char *in, size_t n, size_t split, size_t chunk)
{
    struct rec_log log = {0};
    log.on_data = echo_upper;
    struct wire_transport *st = st_layer(true, &log, NULL);
    ck_assert_str_eq(wire_transport_name(log.t), "http-server");
    if (chunk > 0) {
        ck_assert_int_eq(wire_string_transport_feed_split(st, in, n, chunk), 0);
    } else {
        ck_assert_int_eq(wire_string_transport_feed(st, in, split), 0);
        st_steps(st);
        ck_assert_int_eq(wire_string_transport_feed(st, in + split, n - split), 0);
    }
    st_steps(st);
    ck_assert_msg(strcmp(rec_escaped(&log), "hello||abc|") == 0,
                  "split %zu chunk %zu: '%s'", split, chunk, rec_escaped(&log));
    struct tresp r[3];
    tresp_expect(st, r, 3);
    const char *bodies[3] = {"HELLO", "", "ABC"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r[i].status, 200);
        ck_assert_str_eq(r[i].body, bodies[i]);
        ck_assert_str_eq(tresp_get(&r[i], "Content-Type"), "application/octet-stream");
        ck_assert_ptr_null(tresp_get(&r[i], "Connection"));
    }
    tresp_free(r, 3);
    st_done(st, &log);
}

START_TEST(test_server_pipelined_splits)
{
    char in[1024];
    int n = snprintf(in, sizeof(in), "%s%s%s", request("hello"), request(""),
                     "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "2\r\nab\r\n1\r\nc\r\n0\r\n\r\n");
    for (int k = 0; k <= n; k++)
        server_splits_run(in, (size_t)n, (size_t)k, 0);
    server_splits_run(in, (size_t)n, 0, 1);
    server_splits_run(in, (size_t)n, 0, 5);
}
END_TEST

START_TEST(test_server_no_reply_and_early_writes)
{
    struct rec_log log = {0};
    struct wire_transport *st = st_layer(true, &log, NULL);
    /* Written before any request: it waits, held, for one. */
    ck_assert_int_eq(wire_transport_write(log.t, "early", 5), 0);
    ck_assert_str_eq(unit_output(st), "");
    ck_assert_uint_gt(wire_transport_get_write_buffer_size(log.t), 0);
    st_feed(st, request("a"));
    st_steps(st);
    struct tresp r[2];
    tresp_expect(st, r, 1);
    ck_assert_int_eq(r[0].status, 200);
    ck_assert_str_eq(r[0].body, "early"); /* the next response carries it */
    tresp_free(r, 1);
    wire_string_transport_clear_output(st);
    /* Nothing written for "b" by the end of the turn: 204. */
    st_feed(st, request("b"));
    ck_assert_str_eq(unit_output(st), "");
    st_steps(st);
    tresp_expect(st, r, 1);
    ck_assert_int_eq(r[0].status, 204);
    ck_assert_ptr_null(tresp_get(&r[0], "Content-Length"));
    tresp_free(r, 1);
    ck_assert_str_eq(rec_escaped(&log), "a|b|");
    wire_string_transport_clear_output(st);
    /* Not a POST: 405, and the protocol above sees nothing. */
    st_feed(st, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    st_steps(st);
    tresp_expect(st, r, 1);
    ck_assert_int_eq(r[0].status, 405);
    ck_assert_str_eq(tresp_get(&r[0], "Allow"), "POST");
    tresp_free(r, 1);
    ck_assert_str_eq(rec_escaped(&log), "a|b|");
    /* No half-close for a server. */
    ck_assert(!wire_transport_can_write_eof(log.t));
    ck_assert_int_eq(wire_transport_write_eof(log.t), WIRE_ENOTSUP);
    st_done(st, &log);
}
END_TEST

/* wire_transport_hint_reply: "tell" messages say NONE (204 at once,
 * inside the delivery: no step needed), "ask" messages say LATER (no 204
 * however many steps pass; the answer written later is the response),
 * "done" messages are answered, then hinted NONE (the answer stands). */
static void
hint_hook(struct rec_log *log, struct wire_transport *t, const void *data,
          size_t len)
{
    (void)log;
    if (len >= 4 && memcmp(data, "tell", 4) == 0) {
        ck_assert_int_eq(wire_transport_hint_reply(t, WIRE_REPLY_NONE), 0);
    } else if (len >= 3 && memcmp(data, "ask", 3) == 0) {
        ck_assert_int_eq(wire_transport_hint_reply(t, WIRE_REPLY_LATER), 0);
        /* Twice is harmless. */
        ck_assert_int_eq(wire_transport_hint_reply(t, WIRE_REPLY_LATER), 0);
    } else if (len >= 4 && memcmp(data, "done", 4) == 0) {
        echo_upper(log, t, data, len);
        ck_assert_int_eq(wire_transport_hint_reply(t, WIRE_REPLY_NONE), 0);
    }
    ck_assert_int_eq(wire_transport_hint_reply(t, (enum wire_reply_hint)7),
                     WIRE_EINVAL);
}

START_TEST(test_server_hint_reply)
{
    struct rec_log log = {0};
    log.on_data = hint_hook;
    /* A reply deadline that would answer 204 at the next step: the hints
     * decide before it. */
    struct wire_transport *st = st_layer(true, &log, NULL);
    struct tresp r[2];
    st_feed(st, request("tell 1"));
    tresp_expect(st, r, 1); /* before any step */
    ck_assert_int_eq(r[0].status, 204);
    tresp_free(r, 1);
    wire_string_transport_clear_output(st);
    /* Owed: no 204, whatever the steps; the next request waits. */
    st_feed(st, request("ask 2"));
    st_feed(st, request("tell 3"));
    st_steps(st);
    ck_assert_str_eq(unit_output(st), "");
    ck_assert_str_eq(rec_escaped(&log), "tell 1|ask 2|");
    ck_assert_int_eq(wire_transport_write(log.t, "ANSWER 2", 8), 0);
    st_steps(st);
    tresp_expect(st, r, 2); /* the answer, then "tell 3"'s 204 */
    ck_assert_int_eq(r[0].status, 200);
    ck_assert_str_eq(r[0].body, "ANSWER 2");
    ck_assert_int_eq(r[1].status, 204);
    tresp_free(r, 2);
    wire_string_transport_clear_output(st);
    /* Answered inside the delivery, then NONE: the answer stands. */
    st_feed(st, request("done 4"));
    st_steps(st);
    tresp_expect(st, r, 1);
    ck_assert_int_eq(r[0].status, 200);
    ck_assert_str_eq(r[0].body, "DONE 4");
    tresp_free(r, 1);
    wire_string_transport_clear_output(st);
    /* No hint: the deadline (the next step) answers 204. */
    st_feed(st, request("other 5"));
    ck_assert_str_eq(unit_output(st), "");
    st_steps(st);
    tresp_expect(st, r, 1);
    ck_assert_int_eq(r[0].status, 204);
    tresp_free(r, 1);
    wire_string_transport_clear_output(st);
    /* Owed, then the above closes: 204 with Connection: close. */
    st_feed(st, request("ask 6"));
    st_steps(st);
    ck_assert_str_eq(unit_output(st), "");
    wire_transport_close(log.t);
    ck_assert_int_eq(wire_transport_hint_reply(log.t, WIRE_REPLY_NONE),
                     WIRE_ECLOSED);
    st_steps(st);
    tresp_expect(st, r, 1);
    ck_assert_int_eq(r[0].status, 204);
    ck_assert_str_eq(tresp_get(&r[0], "Connection"), "close");
    tresp_free(r, 1);
    st_done(st, &log);

    /* The client layer, and a transport without answers: WIRE_ENOTSUP. */
    memset(&log, 0, sizeof(log));
    st = st_layer(false, &log, NULL);
    ck_assert_int_eq(wire_transport_hint_reply(log.t, WIRE_REPLY_NONE),
                     WIRE_ENOTSUP);
    st_done(st, &log);
    memset(&log, 0, sizeof(log));
    st = wire_string_transport_new(rec_new(&log));
    ck_assert_int_eq(wire_transport_hint_reply(st, WIRE_REPLY_LATER),
                     WIRE_ENOTSUP);
    st_done(st, &log);
}
END_TEST

START_TEST(test_server_eof)
{
    /* EOF after a whole request: answered, then EOF up; a write after it
     * has nothing to ride on. */
    struct rec_log log = {0};
    log.on_data = echo_upper;
    struct wire_transport *st = st_layer(true, &log, NULL);
    st_feed(st, request("x"));
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    st_steps(st);
    ck_assert_int_eq(log.eof, 1);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    struct tresp r[1];
    tresp_expect(st, r, 1);
    ck_assert_str_eq(r[0].body, "X");
    tresp_free(r, 1);
    st_done(st, &log);

    /* EOF inside a body: WIRE_EINCOMPLETE. */
    memset(&log, 0, sizeof(log));
    st = st_layer(true, &log, NULL);
    st_feed(st, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc");
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    st_steps(st);
    ck_assert_int_eq(log.eof, 0);
    ck_assert_int_eq(log.data_calls, 0);
    ck_assert_int_eq(log.lost_code, WIRE_EINCOMPLETE);
    st_done(st, &log);

    /* What the engine answers on its own (400, 431) reaches the protocol
     * above as the reason of its loss. */
    memset(&log, 0, sizeof(log));
    st = st_layer(true, &log, NULL);
    st_feed(st, "BLAH\r\n\r\n");
    st_steps(st);
    tresp_expect(st, r, 1);
    ck_assert_int_eq(r[0].status, 400);
    tresp_free(r, 1);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EPROTO);
    st_done(st, &log);
    memset(&log, 0, sizeof(log));
    struct wire_http_layer_opts o = {.limits = {.max_header_bytes = 64}};
    st = st_layer(true, &log, &o);
    st_feed(st, "POST / HTTP/1.1\r\nX-Long: 0123456789012345678901234567890123456789"
                "01234567890123456789012345678901234567890123456789\r\n\r\n");
    st_steps(st);
    tresp_expect(st, r, 1);
    ck_assert_int_eq(r[0].status, 431);
    tresp_free(r, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EMSGSIZE);
    st_done(st, &log);
}
END_TEST

/* ---- over the memory pair ---- */

struct pair {
    struct wire_loop *loop;
    struct rec_log cl, sv;
    struct wire_transport *ta, *tb; /* client's and server's lower */
};

static void
pair_start(struct pair *p, const struct wire_http_layer_opts *co,
           const struct wire_http_layer_opts *so, size_t bufsize)
{
    p->loop = wire_loop_new();
    ck_assert_ptr_nonnull(p->loop);
    struct wire_protocol *a = layer_over(false, &p->cl, co);
    struct wire_protocol *b = layer_over(true, &p->sv, so);
    ck_assert_int_eq(wire_mem_pair(p->loop, a, b, bufsize, &p->ta, &p->tb), 0);
    wire_transport_ref(p->ta);
    wire_transport_ref(p->tb);
    ck_assert(unit_run_until(p->loop, log_made, &p->sv, DEADLINE_MS));
    ck_assert(unit_run_until(p->loop, log_made, &p->cl, DEADLINE_MS));
}

static bool
both_lost(void *arg)
{
    struct pair *p = arg;
    return p->cl.lost_flag && p->sv.lost_flag;
}

static void
pair_end(struct pair *p)
{
    if (p->cl.t != NULL)
        wire_transport_abort(p->cl.t);
    if (p->sv.t != NULL)
        wire_transport_abort(p->sv.t);
    ck_assert(unit_run_until(p->loop, both_lost, p, DEADLINE_MS));
    wire_transport_unref(p->ta);
    wire_transport_unref(p->tb);
    /* Let the layers go (their transports' references). */
    wire_loop_run_once(p->loop, false);
    wire_loop_run_once(p->loop, false);
    wire_loop_free(p->loop);
    rec_log_free(&p->cl);
    rec_log_free(&p->sv);
    ck_assert_int_eq(unit_live_protocols, 0);
}

struct want_n {
    struct rec_log *log;
    size_t n;
};

static bool
got_n(void *arg)
{
    struct want_n *w = arg;
    return w->log->nlens >= w->n || w->log->lost_flag;
}

static bool
never(void *arg)
{
    (void)arg;
    return false;
}

static void
run_for(struct wire_loop *loop, long ms)
{
    unit_run_until(loop, never, NULL, ms);
}

START_TEST(test_loop_pipelined)
{
    struct pair p = {0};
    p.sv.on_data = echo_upper;
    pair_start(&p, NULL, NULL, 0);
    /* 200 messages at once, of many sizes, one over many reads. */
    char want[8192] = "";
    size_t wl = 0;
    static char big[300 * 1024];
    memset(big, 'b', sizeof(big));
    for (int i = 0; i < 200; i++) {
        char m[32];
        int n = i % 10 == 0 ? 0 : snprintf(m, sizeof(m), "msg %d", i);
        if (i == 100) {
            ck_assert_int_eq(wire_transport_write(p.cl.t, big, sizeof(big)), 0);
            continue;
        }
        ck_assert_int_eq(wire_transport_write(p.cl.t, m, (size_t)n), 0);
        for (int k = 0; k < n; k++)
            want[wl++] = (char)toupper((unsigned char)m[k]);
        want[wl++] = '|';
    }
    struct want_n w = {&p.cl, 200};
    ck_assert(unit_run_until(p.loop, got_n, &w, DEADLINE_MS));
    ck_assert_int_eq(p.cl.lost, 0);
    ck_assert_uint_eq(p.cl.nlens, 200);
    ck_assert_uint_eq(p.cl.lens[100], sizeof(big));
    /* In order: compare all but the big one. */
    char got[8192] = "";
    size_t gl = 0;
    const char *e = rec_escaped(&p.cl);
    for (int i = 0; i < 200; i++) {
        const char *bar = strchr(e, '|');
        ck_assert_ptr_nonnull(bar);
        if (i != 100) {
            memcpy(got + gl, e, (size_t)(bar - e) + 1);
            gl += (size_t)(bar - e) + 1;
        }
        e = bar + 1;
    }
    got[gl] = '\0';
    want[wl] = '\0';
    ck_assert_str_eq(got, want);
    /* The client closes: both ends clean, the server sees the EOF. */
    wire_transport_close(p.cl.t);
    ck_assert(unit_run_until(p.loop, both_lost, &p, DEADLINE_MS));
    ck_assert(p.cl.lost_null && p.sv.lost_null);
    ck_assert_int_eq(p.sv.eof, 1);
    pair_end(&p);
}
END_TEST

/* Server: answer the messages that start with "ask", at once or (user_n
 * set) after 20 ms. */
struct later {
    struct wire_transport *t;
    char msg[64];
    size_t len;
    struct wire_timer *timer;
};

static void
later_fire(void *arg)
{
    struct later *l = arg;
    if (l->t != NULL)
        ck_assert_int_eq(wire_transport_write(l->t, l->msg, l->len), 0);
    wire_timer_free(l->timer);
    free(l);
}

static void
answer_asks(struct rec_log *log, struct wire_transport *t, const void *data,
            size_t len)
{
    if (len < 3 || memcmp(data, "ask", 3) != 0)
        return;
    if (log->user_n == 0) {
        echo_upper(log, t, data, len);
        return;
    }
    struct later *l = calloc(1, sizeof(*l));
    ck_assert_ptr_nonnull(l);
    l->t = t;
    l->len = len < sizeof(l->msg) ? len : sizeof(l->msg);
    for (size_t i = 0; i < l->len; i++)
        l->msg[i] = (char)toupper(((const unsigned char *)data)[i]);
    l->timer = wire_timer_new(wire_transport_loop(t), later_fire, l);
    ck_assert_int_eq(wire_timer_start(l->timer, 20, 0), 0);
}

static void
no_reply_run(bool later)
{
    struct pair p = {0};
    struct wire_http_layer_opts so = {.reply_timeout_ms = later ? 2000 : 0};
    p.sv.on_data = answer_asks;
    p.sv.user_n = later;
    pair_start(&p, NULL, &so, 0);
    const char *msgs[] = {"ask 1", "tell 2", "ask 3", "tell 4", "tell 5", "ask 6"};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(wire_transport_write(p.cl.t, msgs[i], strlen(msgs[i])), 0);
    struct want_n w = {&p.cl, 3};
    ck_assert(unit_run_until(p.loop, got_n, &w, DEADLINE_MS));
    ck_assert_str_eq(rec_escaped(&p.cl), "ASK 1|ASK 3|ASK 6|");
    ck_assert_str_eq(rec_escaped(&p.sv), "ask 1|tell 2|ask 3|tell 4|tell 5|ask 6|");
    ck_assert_int_eq(p.cl.lost, 0);
    pair_end(&p);
}

START_TEST(test_loop_no_reply)
{
    no_reply_run(false);
}
END_TEST

START_TEST(test_loop_no_reply_later)
{
    no_reply_run(true);
}
END_TEST

/* With a reply deadline of 10 ms, a request hinted LATER and answered
 * after 60 ms gets its answer, not a 204; one hinted NONE gets its 204
 * long before the deadline would have fired. */
static void
hint_later_hook(struct rec_log *log, struct wire_transport *t,
                const void *data, size_t len)
{
    if (len >= 3 && memcmp(data, "ask", 3) == 0) {
        ck_assert_int_eq(wire_transport_hint_reply(t, WIRE_REPLY_LATER), 0);
        struct later *l = calloc(1, sizeof(*l));
        ck_assert_ptr_nonnull(l);
        l->t = t;
        l->len = len < sizeof(l->msg) ? len : sizeof(l->msg);
        for (size_t i = 0; i < l->len; i++)
            l->msg[i] = (char)toupper(((const unsigned char *)data)[i]);
        l->timer = wire_timer_new(wire_transport_loop(t), later_fire, l);
        ck_assert_int_eq(wire_timer_start(l->timer, 60, 0), 0);
    } else {
        ck_assert_int_eq(wire_transport_hint_reply(t, WIRE_REPLY_NONE), 0);
    }
    (void)log;
}

START_TEST(test_loop_hint_reply)
{
    struct pair p = {0};
    struct wire_http_layer_opts so = {.reply_timeout_ms = 10};
    p.sv.on_data = hint_later_hook;
    pair_start(&p, NULL, &so, 0);
    const char *msgs[] = {"ask 1", "tell 2", "ask 3", "tell 4"};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(wire_transport_write(p.cl.t, msgs[i], strlen(msgs[i])), 0);
    struct want_n w = {&p.cl, 2};
    ck_assert(unit_run_until(p.loop, got_n, &w, DEADLINE_MS));
    ck_assert_str_eq(rec_escaped(&p.cl), "ASK 1|ASK 3|");
    ck_assert_str_eq(rec_escaped(&p.sv), "ask 1|tell 2|ask 3|tell 4|");
    ck_assert_int_eq(p.cl.lost, 0);
    pair_end(&p);
}
END_TEST

/* A plain HTTP server that answers 404. */
static void
nf_request(void *arg, struct wire_http_exchange *x)
{
    (void)arg;
    wire_http_respond(x, 404, "text/plain", "no such thing\n", 14);
}

START_TEST(test_loop_not_2xx)
{
    struct wire_loop *loop = wire_loop_new();
    struct rec_log cl = {0};
    static const struct wire_http_handler h = {.on_request = nf_request};
    struct wire_error err = {0};
    struct wire_http_service *svc = wire_http_service_new(NULL, &h, NULL, &err);
    ck_assert_ptr_nonnull(svc);
    struct wire_protocol *sp = wire_http_server_protocol_new(svc);
    wire_http_service_unref(svc);
    struct wire_http_layer_opts co = {.path = "/rpc"};
    ck_assert_int_eq(wire_mem_pair(loop, layer_over(false, &cl, &co), sp, 0, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &cl, DEADLINE_MS));
    ck_assert_int_eq(wire_transport_write(cl.t, "hi", 2), 0);
    ck_assert(unit_run_until(loop, log_lost, &cl, DEADLINE_MS));
    ck_assert_int_eq(cl.lost_code, WIRE_EPROTO);
    ck_assert_contains(cl.lost_msg, "POST /rpc answered HTTP/1.1 404 Not Found: no such thing");
    ck_assert_int_eq(cl.data_calls, 0);
    wire_loop_run_once(loop, false);
    wire_loop_free(loop);
    rec_log_free(&cl);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

START_TEST(test_loop_limits)
{
    /* The server's limit: 413 to the client, WIRE_EMSGSIZE above. */
    struct pair p = {0};
    struct wire_http_layer_opts so = {.limits = {.max_body = 100}};
    p.sv.on_data = echo_upper;
    pair_start(&p, NULL, &so, 0);
    char m[101];
    memset(m, 'm', sizeof(m));
    ck_assert_int_eq(wire_transport_write(p.cl.t, m, 100), 0);
    ck_assert_int_eq(wire_transport_write(p.cl.t, m, 101), 0);
    ck_assert(unit_run_until(p.loop, both_lost, &p, DEADLINE_MS));
    ck_assert_uint_eq(p.sv.nlens, 1);
    ck_assert_uint_eq(p.cl.nlens, 1);
    ck_assert_int_eq(p.sv.lost_code, WIRE_EMSGSIZE);
    ck_assert_int_eq(p.cl.lost_code, WIRE_EPROTO);
    ck_assert_contains(p.cl.lost_msg, "answered HTTP/1.1 413 ");
    pair_end(&p);

    /* The client's limit on answers. */
    memset(&p, 0, sizeof(p));
    struct wire_http_layer_opts co = {.limits = {.max_body = 10}};
    p.sv.on_data = echo_upper;
    pair_start(&p, &co, NULL, 0);
    ck_assert_int_eq(wire_transport_write(p.cl.t, "0123456789", 10), 0);
    ck_assert_int_eq(wire_transport_write(p.cl.t, "0123456789a", 11), 0);
    ck_assert(unit_run_until(p.loop, log_lost, &p.cl, DEADLINE_MS));
    ck_assert_uint_eq(p.cl.nlens, 1);
    ck_assert_int_eq(p.cl.lost_code, WIRE_EMSGSIZE);
    pair_end(&p);
}
END_TEST

START_TEST(test_loop_read_pause)
{
    /* The server above pauses in its first message: the layer stops
     * reading the transport below, and the rest waits. */
    struct pair p = {0};
    p.sv.on_data = rec_pause_on_first;
    /* Short timeouts: a pause of ours is never the peer's slowness. */
    struct wire_http_layer_opts to = {.limits = {.head_timeout_ms = 40,
                                                 .body_timeout_ms = 40,
                                                 .idle_timeout_ms = 40}};
    pair_start(&p, NULL, &to, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wire_transport_write(p.cl.t, "m", 1), 0);
    run_for(p.loop, 150);
    ck_assert_int_eq(p.sv.lost, 0);
    ck_assert_uint_eq(p.sv.nlens, 1);
    ck_assert(!wire_transport_is_reading(p.tb));
    /* No answer either way: 204s only for what was delivered. */
    ck_assert_uint_eq(p.cl.nlens, 0);
    ck_assert_int_eq(wire_transport_resume_reading(p.sv.t), 0);
    ck_assert_uint_eq(p.sv.nlens, 1); /* later, never inside resume */
    struct want_n w = {&p.sv, 3};
    ck_assert(unit_run_until(p.loop, got_n, &w, DEADLINE_MS));
    ck_assert(wire_transport_is_reading(p.tb));
    pair_end(&p);

    /* The client above pauses in its first answer. */
    memset(&p, 0, sizeof(p));
    p.cl.on_data = rec_pause_on_first;
    p.sv.on_data = echo_upper;
    pair_start(&p, &to, NULL, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wire_transport_write(p.cl.t, "m", 1), 0);
    run_for(p.loop, 150);
    ck_assert_int_eq(p.cl.lost, 0);
    ck_assert_uint_eq(p.cl.nlens, 1);
    ck_assert(!wire_transport_is_reading(p.ta));
    ck_assert_int_eq(wire_transport_resume_reading(p.cl.t), 0);
    ck_assert_uint_eq(p.cl.nlens, 1);
    w = (struct want_n){&p.cl, 3};
    ck_assert(unit_run_until(p.loop, got_n, &w, DEADLINE_MS));
    ck_assert_str_eq(rec_escaped(&p.cl), "M|M|M|");
    pair_end(&p);
}
END_TEST

static void
pause_in_made(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    ck_assert_int_eq(wire_transport_pause_reading(t), 0);
}

static bool
cl_resumed(void *arg)
{
    struct pair *p = arg;
    return p->cl.resumed > 0 || p->cl.lost_flag;
}

START_TEST(test_loop_write_backpressure)
{
    /* The server reads nothing: the client's big message fills the pair
     * and then the layer's queue, and pause_writing reaches the client's
     * protocol; reading again resumes it. */
    struct pair p = {0};
    p.sv.on_made = pause_in_made;
    pair_start(&p, NULL, NULL, 8192);
    size_t n = 1 << 20;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, 'z', n);
    ck_assert_int_eq(wire_transport_write(p.cl.t, big, n), 0);
    free(big);
    ck_assert_int_eq(p.cl.paused, 1);
    run_for(p.loop, 50);
    ck_assert_int_eq(p.cl.resumed, 0);
    ck_assert_uint_eq(p.sv.nlens, 0);
    ck_assert_int_eq(wire_transport_resume_reading(p.sv.t), 0);
    ck_assert(unit_run_until(p.loop, cl_resumed, &p, DEADLINE_MS));
    struct want_n w = {&p.sv, 1};
    ck_assert(unit_run_until(p.loop, got_n, &w, DEADLINE_MS));
    ck_assert_uint_eq(p.sv.lens[0], n);
    pair_end(&p);
}
END_TEST

static void
write_two_then_eof(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    ck_assert(wire_transport_can_write_eof(t));
    ck_assert_int_eq(wire_transport_write(t, "a", 1), 0);
    ck_assert_int_eq(wire_transport_write(t, "b", 1), 0);
    ck_assert_int_eq(wire_transport_write_eof(t), 0);
}

static void
write_after_eof(struct rec_log *log, struct wire_transport *t)
{
    log->user_n = wire_transport_write(t, "late", 4);
}

START_TEST(test_loop_client_write_eof)
{
    struct pair p = {0};
    p.cl.on_made = write_two_then_eof;
    p.sv.on_data = echo_upper;
    p.sv.on_eof = write_after_eof;
    pair_start(&p, NULL, NULL, 0);
    ck_assert(unit_run_until(p.loop, both_lost, &p, DEADLINE_MS));
    /* Every answer, then the EOF, then a clean close, on both ends. */
    ck_assert_str_eq(rec_escaped(&p.cl), "A|B|");
    ck_assert_str_eq(rec_escaped(&p.sv), "a|b|");
    ck_assert_int_eq(p.cl.eof, 1);
    ck_assert_int_eq(p.sv.eof, 1);
    ck_assert(p.cl.lost_null && p.sv.lost_null);
    /* Nothing can carry a message after the client's last request. */
    ck_assert_int_eq(p.sv.user_n, WIRE_ECLOSED);
    pair_end(&p);
}
END_TEST

static void
close_on_bye(struct rec_log *log, struct wire_transport *t, const void *data,
             size_t len)
{
    if (len == 3 && memcmp(data, "bye", 3) == 0)
        wire_transport_close(t);
    else
        echo_upper(log, t, data, len);
}

START_TEST(test_loop_server_close)
{
    /* The server closes without answering "bye": that request gets a 204
     * (Connection: close), the client the EOF and a clean close. */
    struct pair p = {0};
    p.sv.on_data = close_on_bye;
    pair_start(&p, NULL, NULL, 0);
    ck_assert_int_eq(wire_transport_write(p.cl.t, "hi", 2), 0);
    ck_assert_int_eq(wire_transport_write(p.cl.t, "bye", 3), 0);
    ck_assert(unit_run_until(p.loop, both_lost, &p, DEADLINE_MS));
    ck_assert_str_eq(rec_escaped(&p.cl), "HI|");
    ck_assert_int_eq(p.cl.eof, 1);
    ck_assert(p.cl.lost_null && p.sv.lost_null);
    pair_end(&p);
}
END_TEST

static void
write_then_close(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    ck_assert_int_eq(wire_transport_write(t, "x", 1), 0);
    wire_transport_close(t);
}

START_TEST(test_loop_client_close)
{
    /* The client closes right after writing: its protocol is gone at
     * once, the request still reaches the server, which answers; then the
     * connection ends and the server sees the EOF. */
    struct pair p = {0};
    p.cl.on_made = write_then_close;
    p.sv.on_data = echo_upper;
    pair_start(&p, NULL, NULL, 0);
    ck_assert(unit_run_until(p.loop, both_lost, &p, DEADLINE_MS));
    ck_assert_str_eq(rec_escaped(&p.sv), "x|");
    ck_assert_int_eq(p.cl.data_calls, 0);
    ck_assert_int_eq(p.sv.eof, 1);
    ck_assert(p.cl.lost_null && p.sv.lost_null);
    pair_end(&p);
}
END_TEST

static void
write_early(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    ck_assert_int_eq(wire_transport_write(t, "hello", 5), 0);
}

START_TEST(test_loop_ride)
{
    /* The server writes before any request: it rides on the first
     * response, and each answer after it on the next one.  When the
     * client ends, the message left over is reported, not dropped. */
    struct pair p = {0};
    p.sv.on_made = write_early;
    p.sv.on_data = echo_upper;
    pair_start(&p, NULL, NULL, 0);
    ck_assert_int_eq(wire_transport_write(p.cl.t, "a", 1), 0);
    struct want_n w = {&p.cl, 1};
    ck_assert(unit_run_until(p.loop, got_n, &w, DEADLINE_MS));
    ck_assert_int_eq(wire_transport_write(p.cl.t, "b", 1), 0);
    w.n = 2;
    ck_assert(unit_run_until(p.loop, got_n, &w, DEADLINE_MS));
    ck_assert_str_eq(rec_escaped(&p.cl), "hello|A|");
    ck_assert_int_eq(wire_transport_write_eof(p.cl.t), 0);
    ck_assert(unit_run_until(p.loop, both_lost, &p, DEADLINE_MS));
    ck_assert_int_eq(p.sv.lost_code, WIRE_ECLOSED);
    ck_assert_contains(p.sv.lost_msg, "1 message(s) written with no request");
    pair_end(&p);
}
END_TEST

START_TEST(test_loop_info)
{
    struct pair p = {0};
    pair_start(&p, NULL, NULL, 0);
    char a[128], b[128];
    ck_assert_str_eq(wire_transport_name(p.cl.t), "http-client");
    ck_assert_str_eq(wire_transport_name(p.sv.t), "http-server");
    ck_assert_int_gt(wire_transport_get_info(p.cl.t, WIRE_INFO_PEER, a, sizeof(a)), 0);
    ck_assert_int_gt(wire_transport_get_info(p.ta, WIRE_INFO_PEER, b, sizeof(b)), 0);
    ck_assert_str_eq(a, b);
    ck_assert_int_gt(wire_transport_get_info(p.sv.t, WIRE_INFO_LOCAL, a, sizeof(a)), 0);
    ck_assert_int_gt(wire_transport_get_info(p.tb, WIRE_INFO_LOCAL, b, sizeof(b)), 0);
    ck_assert_str_eq(a, b);
    pair_end(&p);
}
END_TEST

START_TEST(test_bad_opts)
{
    struct rec_log log = {0};
    struct wire_error err = {0};
    struct wire_http_layer_opts o = {.path = "no slash"};
    ck_assert_ptr_null(wire_http_client_layer_new(rec_new(&log), &o, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    wire_error_clear(&err);
    o = (struct wire_http_layer_opts){.content_type = "a\r\nb: c"};
    ck_assert_ptr_null(wire_http_server_layer_new(rec_new(&log), &o, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    wire_error_clear(&err);
    ck_assert_int_eq(log.destroyed, 2); /* the protocol above, also on error */
    rec_log_free(&log);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

/* ---- the proof: one protocol over lenprefix and over HTTP ---- */

/* A calculator: "add A B", "mul A B", "upper TEXT" -> the answer. */
struct calc_run {
    struct wire_loop *loop;
    bool http;
    int done, lost, made;
    int lost_codes;
    char answers[8][64];
    size_t big_len;
    bool big_ok;
    int n;
};

struct calc {
    struct wire_protocol base;
    struct calc_run *run;
    bool server;
};

static const char *calc_questions[] = {"add 2 3", "mul 4 5", "upper hello",
                                       "add 40 2"};
#define CALC_BIG (200 * 1024)

static void
calc_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct calc *c = (struct calc *)p;
    c->run->made++;
    if (c->server)
        return;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(wire_transport_write(t, calc_questions[i],
                                              strlen(calc_questions[i])), 0);
    char *big = malloc(CALC_BIG + 6);
    ck_assert_ptr_nonnull(big);
    memcpy(big, "upper ", 6);
    memset(big + 6, 'q', CALC_BIG);
    ck_assert_int_eq(wire_transport_write(t, big, CALC_BIG + 6), 0);
    free(big);
}

static void
calc_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct calc *c = (struct calc *)p;
    struct wire_transport *t = p->transport;
    struct calc_run *r = c->run;
    if (c->server) {
        char *q = malloc(len + 1), *a = malloc(len + 32);
        ck_assert(q != NULL && a != NULL);
        memcpy(q, data, len);
        q[len] = '\0';
        long x, y;
        int n;
        if (sscanf(q, "add %ld %ld", &x, &y) == 2)
            n = snprintf(a, len + 32, "%ld", x + y);
        else if (sscanf(q, "mul %ld %ld", &x, &y) == 2)
            n = snprintf(a, len + 32, "%ld", x * y);
        else if (strncmp(q, "upper ", 6) == 0) {
            n = (int)(len - 6);
            for (int i = 0; i < n; i++)
                a[i] = (char)toupper((unsigned char)q[6 + i]);
        } else
            n = snprintf(a, len + 32, "?");
        ck_assert_int_eq(wire_transport_write(t, a, (size_t)n), 0);
        free(q);
        free(a);
        return;
    }
    if (r->n < 4) {
        ck_assert_uint_lt(len, 64);
        memcpy(r->answers[r->n], data, len);
        r->answers[r->n][len] = '\0';
    } else {
        r->big_len = len;
        r->big_ok = true;
        for (size_t i = 0; i < len; i++)
            if (((const char *)data)[i] != 'Q')
                r->big_ok = false;
    }
    if (++r->n == 5)
        wire_transport_close(t);
}

static bool
calc_eof(struct wire_protocol *p)
{
    (void)p;
    return false;
}

static void
calc_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct calc *c = (struct calc *)p;
    c->run->lost++;
    if (err != NULL)
        c->run->lost_codes++;
}

static void
calc_destroy(struct wire_protocol *p)
{
    unit_live_protocols--;
    free(p);
}

static const struct wire_protocol_ops calc_ops = {
    .connection_made = calc_made,
    .data_received = calc_data,
    .eof_received = calc_eof,
    .connection_lost = calc_lost,
    .destroy = calc_destroy,
};

/* The protocol, then the framing below it: the only difference. */
static struct wire_protocol *
calc_stack(struct calc_run *r, bool server)
{
    struct calc *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    wire_protocol_init(&c->base, &calc_ops);
    unit_live_protocols++;
    c->run = r;
    c->server = server;
    struct wire_error err = {0};
    struct wire_protocol *p;
    if (r->http) {
        p = server ? wire_http_server_layer_new(&c->base, NULL, &err)
                   : wire_http_client_layer_new(&c->base, NULL, &err);
    } else {
        struct wire_lenprefix_opts o;
        wire_lenprefix_opts_init(&o, 4, false);
        p = wire_lenprefix_layer_new(&c->base, &o, &err);
    }
    ck_assert_msg(p != NULL, "%s", err.message);
    return p;
}

static struct wire_protocol *
calc_factory(void *arg)
{
    return calc_stack(arg, true);
}

static bool
calc_over(void *arg)
{
    struct calc_run *r = arg;
    return r->lost == 2;
}

static void
calc_run(bool http)
{
    struct calc_run r = {0};
    r.http = http;
    r.loop = wire_loop_new();
    struct wire_server *srv = NULL;
    struct wire_error err = {0};
    ck_assert_int_eq(wire_listen(r.loop, "tcp://127.0.0.1:0", calc_factory, &r,
                                 NULL, &srv, &err), 0);
    ck_assert_int_eq(wire_connect(r.loop, wire_server_address(srv),
                                  calc_stack(&r, false), NULL, NULL, NULL, &err), 0);
    ck_assert_msg(unit_run_until(r.loop, calc_over, &r, DEADLINE_MS),
                  "%s: %d answers, %d lost", http ? "http" : "lenprefix", r.n, r.lost);
    /* The same assertions over both. */
    ck_assert_int_eq(r.n, 5);
    ck_assert_str_eq(r.answers[0], "5");
    ck_assert_str_eq(r.answers[1], "20");
    ck_assert_str_eq(r.answers[2], "HELLO");
    ck_assert_str_eq(r.answers[3], "42");
    ck_assert_uint_eq(r.big_len, CALC_BIG);
    ck_assert(r.big_ok);
    ck_assert_int_eq(r.lost_codes, 0);
    wire_server_free(srv);
    wire_loop_run_once(r.loop, false);
    wire_loop_free(r.loop);
    ck_assert_int_eq(unit_live_protocols, 0);
}

START_TEST(test_proof_lenprefix)
{
    calc_run(false);
}
END_TEST

START_TEST(test_proof_http)
{
    calc_run(true);
}
END_TEST

/* ---- CONNECT: a proxy tunnel carrying TLS ---- */

static struct tls_certs certs;
static struct wire_tls_config *client_cfg, *server_cfg;

static void
certs_setup(void)
{
    ck_assert_int_eq(tls_certs_make(&certs), 0);
    struct wire_error err = {0};
    client_cfg = wire_tls_config_new(false, &err);
    server_cfg = wire_tls_config_new(true, &err);
    ck_assert_ptr_nonnull(client_cfg);
    ck_assert_ptr_nonnull(server_cfg);
    ck_assert_int_eq(wire_tls_config_set_ca(client_cfg, certs.ca, NULL, &err), 0);
    ck_assert_int_eq(wire_tls_config_set_cert(server_cfg, certs.server_cert,
                                              certs.server_key, &err), 0);
}

static void
certs_teardown(void)
{
    wire_tls_config_unref(client_cfg);
    wire_tls_config_unref(server_cfg);
    client_cfg = server_cfg = NULL;
    tls_certs_remove(&certs);
}

struct tunnel {
    struct wire_loop *loop;
    /* the proxy */
    int connects, relays_done;
    uint64_t ab, ba;
    char target[128];
    /* the TLS echo server */
    int echo_lost;
    /* the client */
    int status, took_over, done_calls, closed_calls;
    char *got;
    size_t got_len, want_len;
    bool tls_named, lost, lost_clean;
    char lost_msg[300];
};

/* The TLS server's protocol: echo, and close at the EOF. */
struct echo {
    struct wire_protocol base;
    struct tunnel *tn;
};

static void
echo_data(struct wire_protocol *p, const void *data, size_t len)
{
    ck_assert_int_eq(wire_transport_write(p->transport, data, len), 0);
}

static void
echo_lost(struct wire_protocol *p, const struct wire_error *err)
{
    (void)err;
    ((struct echo *)p)->tn->echo_lost++;
}

static void
echo_destroy(struct wire_protocol *p)
{
    unit_live_protocols--;
    free(p);
}

static const struct wire_protocol_ops echo_ops = {
    .data_received = echo_data,
    .connection_lost = echo_lost,
    .destroy = echo_destroy,
};

static struct wire_protocol *
tls_echo_factory(void *arg)
{
    struct echo *e = calloc(1, sizeof(*e));
    ck_assert_ptr_nonnull(e);
    wire_protocol_init(&e->base, &echo_ops);
    unit_live_protocols++;
    e->tn = arg;
    struct wire_error err = {0};
    struct wire_protocol *p = wire_tls_server_layer_new(&e->base, server_cfg, &err);
    ck_assert_msg(p != NULL, "%s", err.message);
    return p;
}

/* The proxy: CONNECT host:port -> 200, then relay. */
static void
px_relay_done(void *arg, const struct wire_error *ea, const struct wire_error *eb,
              uint64_t ab, uint64_t ba)
{
    struct tunnel *tn = arg;
    (void)ea;
    (void)eb;
    tn->relays_done++;
    tn->ab = ab;
    tn->ba = ba;
}

static void
px_request(void *arg, struct wire_http_exchange *x)
{
    struct tunnel *tn = arg;
    const struct wire_http_head *h = wire_http_exchange_request(x);
    if (strcmp(h->method, "CONNECT") != 0) {
        wire_http_respond(x, 405, "text/plain", "CONNECT only\n", 13);
        return;
    }
    snprintf(tn->target, sizeof(tn->target), "%s", h->target);
    char ep[160];
    snprintf(ep, sizeof(ep), "tcp://%s", h->target);
    struct wire_protocol *a, *b;
    ck_assert_int_eq(wire_relay_new(&a, &b, px_relay_done, tn), 0);
    struct wire_error err = {0};
    /* The client's connection becomes one side of the relay (with any
     * bytes it sent after the head, such as an early ClientHello)... */
    ck_assert_msg(wire_http_exchange_upgrade(x, 200, a, &err) == 0, "%s",
                  err.message);
    /* ... and the target the other. */
    ck_assert_msg(wire_connect(tn->loop, ep, b, NULL, NULL, NULL, &err) == 0,
                  "%s", err.message);
    tn->connects++;
}

/* The client's protocol inside TLS: send, check the echo, close. */
struct checker {
    struct wire_protocol base;
    struct tunnel *tn;
};

static void
ck_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct tunnel *tn = ((struct checker *)p)->tn;
    tn->tls_named = strcmp(wire_transport_name(t), "tls") == 0;
    tn->want_len = 100000;
    char *b = malloc(tn->want_len);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < tn->want_len; i++)
        b[i] = (char)('a' + i % 23);
    ck_assert_int_eq(wire_transport_write(t, b, tn->want_len), 0);
    free(b);
}

static void
ck_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct tunnel *tn = ((struct checker *)p)->tn;
    tn->got = realloc(tn->got, tn->got_len + len);
    ck_assert_ptr_nonnull(tn->got);
    memcpy(tn->got + tn->got_len, data, len);
    tn->got_len += len;
    if (tn->got_len >= tn->want_len)
        wire_transport_close(p->transport);
}

static void
ck_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct tunnel *tn = ((struct checker *)p)->tn;
    tn->lost = true;
    tn->lost_clean = err == NULL;
    if (err != NULL)
        snprintf(tn->lost_msg, sizeof(tn->lost_msg), "%s", err->message);
}

static void
ck_destroy(struct wire_protocol *p)
{
    unit_live_protocols--;
    free(p);
}

static const struct wire_protocol_ops checker_ops = {
    .connection_made = ck_made,
    .data_received = ck_data,
    .connection_lost = ck_lost,
    .destroy = ck_destroy,
};

static void
tn_response(void *arg, struct wire_http_request *r, const struct wire_http_head *h)
{
    struct tunnel *tn = arg;
    tn->status = h->status;
    if (h->status != 200)
        return;
    struct checker *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    wire_protocol_init(&c->base, &checker_ops);
    unit_live_protocols++;
    c->tn = tn;
    struct wire_error err = {0};
    struct wire_protocol *tls = wire_tls_client_layer_new(&c->base, client_cfg,
                                                          "localhost", &err);
    ck_assert_msg(tls != NULL, "%s", err.message);
    ck_assert_msg(wire_http_request_take_over(r, tls, &err) == 0, "%s", err.message);
    tn->took_over++;
}

static void
tn_done(void *arg, struct wire_http_request *r, const struct wire_error *err)
{
    struct tunnel *tn = arg;
    (void)r;
    ck_assert_msg(err == NULL, "CONNECT: %s", err != NULL ? err->message : "");
    tn->done_calls++;
}

static void
tn_close(void *arg, const struct wire_error *err)
{
    struct tunnel *tn = arg;
    ck_assert_ptr_null(err);
    tn->closed_calls++;
}

static bool
tunnel_over(void *arg)
{
    struct tunnel *tn = arg;
    return tn->lost && tn->relays_done == 1 && tn->echo_lost == 1;
}

START_TEST(test_connect_tunnel_tls)
{
    struct tunnel tn = {0};
    tn.loop = wire_loop_new();
    struct wire_error err = {0};
    struct wire_server *echo_srv = NULL, *proxy_srv = NULL;
    ck_assert_int_eq(wire_listen(tn.loop, "tcp://127.0.0.1:0", tls_echo_factory,
                                 &tn, NULL, &echo_srv, &err), 0);
    static const struct wire_http_handler px = {.on_request = px_request};
    struct wire_http_service *svc = wire_http_service_new(NULL, &px, &tn, &err);
    ck_assert_ptr_nonnull(svc);
    ck_assert_int_eq(wire_listen(tn.loop, "tcp://127.0.0.1:0",
                                 wire_http_service_factory, svc, NULL,
                                 &proxy_srv, &err), 0);
    /* The client: CONNECT to the echo server's host:port via the proxy. */
    struct wire_http_client_opts co = {.on_close = tn_close, .arg = &tn};
    struct wire_http_client *c = NULL;
    struct wire_protocol *hp = wire_http_client_new(&co, &c, &err);
    ck_assert_ptr_nonnull(hp);
    ck_assert_int_eq(wire_connect(tn.loop, wire_server_address(proxy_srv), hp,
                                  NULL, NULL, NULL, &err), 0);
    const char *hostport = wire_server_address(echo_srv) + strlen("tcp://");
    static const struct wire_http_response_handler th = {
        .on_response = tn_response, .on_done = tn_done};
    struct wire_http_request *r = wire_http_request_new(c, "CONNECT", hostport,
                                                        &th, &tn, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(wire_http_request_end(r), 0);
    ck_assert_msg(unit_run_until(tn.loop, tunnel_over, &tn, DEADLINE_MS),
                  "status %d, took over %d, got %zu of %zu, lost %d (%s), "
                  "relays %d, echo lost %d", tn.status, tn.took_over,
                  tn.got_len, tn.want_len, tn.lost, tn.lost_msg,
                  tn.relays_done, tn.echo_lost);
    ck_assert_int_eq(tn.status, 200);
    ck_assert_int_eq(tn.took_over, 1);
    ck_assert_int_eq(tn.done_calls, 1);
    ck_assert_int_eq(tn.closed_calls, 1);
    ck_assert_int_eq(tn.connects, 1);
    ck_assert_str_eq(tn.target, hostport);
    ck_assert(tn.tls_named);
    ck_assert_msg(tn.lost_clean, "%s", tn.lost_msg);
    ck_assert_uint_eq(tn.got_len, tn.want_len);
    for (size_t i = 0; i < tn.got_len; i++)
        ck_assert_int_eq(tn.got[i], (char)('a' + i % 23));
    /* The proxy relayed TLS records, not the plaintext: more bytes each
     * way than the payload (handshake and record overhead). */
    ck_assert_uint_gt(tn.ab, tn.want_len);
    ck_assert_uint_gt(tn.ba, tn.want_len);
    free(tn.got);
    wire_server_free(echo_srv);
    wire_server_free(proxy_srv);
    wire_http_service_unref(svc);
    wire_loop_run_once(tn.loop, false);
    wire_loop_free(tn.loop);
    ck_assert_int_eq(unit_live_protocols, 0);
}
END_TEST

Suite *
http_layer_suite(void)
{
    Suite *s = suite_create("http_layer");
    TCase *tc = unit_tcase(s, "sansio");
    tcase_add_test(tc, test_client_request_bytes);
    tcase_add_test(tc, test_client_response_splits);
    tcase_add_test(tc, test_client_unasked_and_eof);
    tcase_add_test(tc, test_server_pipelined_splits);
    tcase_add_test(tc, test_server_no_reply_and_early_writes);
    tcase_add_test(tc, test_server_eof);
    tcase_add_test(tc, test_server_hint_reply);
    tcase_add_test(tc, test_bad_opts);
    tc = unit_tcase(s, "loop");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_loop_pipelined);
    tcase_add_test(tc, test_loop_no_reply);
    tcase_add_test(tc, test_loop_no_reply_later);
    tcase_add_test(tc, test_loop_hint_reply);
    tcase_add_test(tc, test_loop_not_2xx);
    tcase_add_test(tc, test_loop_limits);
    tcase_add_test(tc, test_loop_read_pause);
    tcase_add_test(tc, test_loop_write_backpressure);
    tcase_add_test(tc, test_loop_client_write_eof);
    tcase_add_test(tc, test_loop_server_close);
    tcase_add_test(tc, test_loop_client_close);
    tcase_add_test(tc, test_loop_ride);
    tcase_add_test(tc, test_loop_info);
    tc = unit_tcase(s, "proof");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_proof_lenprefix);
    tcase_add_test(tc, test_proof_http);
    tc = unit_tcase(s, "connect");
    tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_connect_tunnel_tls);
    return s;
}
