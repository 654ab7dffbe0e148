/*
 * JSON-RPC 2.0 (<wire/jsonrpc.h>) over every framing there is (lines,
 * Content-Length, and HTTP through the HTTP layers):
 *  - spec: every request/response pair of section 7 of the specification
 *    as test vectors, fed whole and byte by byte, the answer compared
 *    semantically (json_equal) with the specification's; and the same
 *    pairs from the client's side: what it writes, and what its callbacks
 *    get from the specification's responses;
 *  - server: ids of every kind, invalid members, answers given later (a
 *    batch's array in member order once the last is answered), answers
 *    after the connection is gone, limits (size, depth), EOF while calls
 *    are being answered, a handler that closes;
 *  - client: malformed and unknown responses, calls refused, every
 *    outstanding call failed once when the connection goes, batches;
 *  - loop: over the memory pair, answers out of order, timeouts, many
 *    calls outstanding, batches both ways, a server calling its client
 *    back, and the unknown id logged;
 *  - http: section 7 again with the HTTP server layer under the peer
 *    (each request one POST, each answer a 200, each unanswered message
 *    a 204 given at once: the peer's reply hints) and with the HTTP
 *    client layer (each call one POST); answers given later, which hold
 *    their request (no 204) and the requests behind it; over the memory
 *    pair, sleeps that would overtake each other over lines arriving in
 *    call order (HTTP's), a timed-out call that holds up the next, many
 *    calls pipelined, without a deadlock.
 * The sans-I/O cases run over the string transport; the loop ones run
 * the loop until the event or a deadline (unit_run_until).
 */
#include "http_util.h"
#include "unit.h"

#include <wire/framing.h>
#include <wire/http.h>
#include <wire/jsonrpc.h>
#include <wire/mem.h>
#include <wire/string_transport.h>

#include <stdlib.h>
#include <string.h>

/* The framings every symmetric case runs over (FR_N of them), then the
 * HTTP layers, whose two ends differ: the server layer (the peer answers
 * POSTs) and the client layer (the peer's messages are POSTs). */
enum { FR_LINES, FR_CL, FR_N, FR_HTTP_SERVER = FR_N, FR_HTTP_CLIENT, FR_ALL };
static const char *const fr_names[FR_ALL] = {"lines", "content-length",
                                             "http server", "http client"};

/* ---- methods (those of the specification's examples, and helpers) ---- */

static void
m_subtract(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    json_t *a = NULL, *b = NULL;
    if (json_is_array(params) && json_array_size(params) == 2) {
        a = json_array_get(params, 0);
        b = json_array_get(params, 1);
    } else if (json_is_object(params)) {
        a = json_object_get(params, "minuend");
        b = json_object_get(params, "subtrahend");
    }
    if (!json_is_integer(a) || !json_is_integer(b)) {
        wire_jsonrpc_respond_error(call, WIRE_JSONRPC_INVALID_PARAMS, NULL,
                                   NULL);
        return;
    }
    wire_jsonrpc_respond(call, json_integer(json_integer_value(a) -
                                            json_integer_value(b)));
}

static void
m_sum(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    json_int_t s = 0;
    size_t i;
    json_t *v;
    json_array_foreach(params, i, v) s += json_integer_value(v);
    wire_jsonrpc_respond(call, json_integer(s));
}

static void
m_get_data(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    (void)params;
    wire_jsonrpc_respond(call, json_pack("[si]", "hello", 5));
}

static int notifications;

static void
m_note(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    (void)params;
    ck_assert(wire_jsonrpc_call_is_notification(call));
    notifications++;
    ck_assert_int_eq(wire_jsonrpc_respond(call, json_true()), 0); /* no-op */
}

static void
m_echo(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    wire_jsonrpc_respond(call, params != NULL ? json_incref(params) : NULL);
}

/* "later": kept, answered by the test. */
static struct wire_jsonrpc_call *later[64];
static int nlater;

static void
m_later(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    (void)params;
    ck_assert_int_lt(nlater, 64);
    ck_assert_str_eq(wire_jsonrpc_call_method(call), "later");
    later[nlater++] = call;
}

/* "close": closes the connection from inside the handler, then answers. */
static void
m_close(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    (void)params;
    wire_jsonrpc_close(wire_jsonrpc_call_peer(call));
    ck_assert_int_eq(wire_jsonrpc_respond(call, NULL), WIRE_ECLOSED);
}

static const struct wire_jsonrpc_method methods[] = {
    {"subtract", m_subtract, NULL},
    {"sum", m_sum, NULL},
    {"get_data", m_get_data, NULL},
    {"update", m_note, NULL},
    {"notify_hello", m_note, NULL},
    {"notify_sum", m_note, NULL},
    {"echo", m_echo, NULL},
    {"later", m_later, NULL},
    {"close", m_close, NULL},
};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/* ---- recording ---- */

struct closed {
    int n;
    int code;
    int results_before; /* callbacks run before on_close */
};

struct res {
    int n;
    json_t *result;
    int code;
    bool local;
    char msg[200];
    json_t *data;
    int order;          /* when it completed (see res_clock) */
    struct closed *cl;  /* on_close must not have run yet */
};
static int res_clock;

static void
on_res(void *arg, json_t *result, const struct wire_jsonrpc_error *e)
{
    struct res *r = arg;
    r->n++;
    r->order = ++res_clock;
    if (r->cl != NULL)
        ck_assert_int_eq(r->cl->n, 0);
    if (e == NULL) {
        ck_assert_ptr_nonnull(result);
        r->result = json_incref(result);
    } else {
        ck_assert_ptr_null(result);
        r->code = e->code;
        r->local = e->local;
        snprintf(r->msg, sizeof(r->msg), "%s", e->message);
        r->data = e->data != NULL ? json_incref(e->data) : NULL;
    }
}

static void
res_clear(struct res *r, int n)
{
    for (int i = 0; i < n; i++) {
        json_decref(r[i].result);
        json_decref(r[i].data);
        r[i].result = r[i].data = NULL;
    }
}

static void
on_closed(void *arg, const struct wire_error *err)
{
    struct closed *c = arg;
    c->n++;
    c->code = err != NULL ? err->code : 0;
    c->results_before = res_clock;
}

/* ---- stacks over the string transport ---- */

static struct wire_protocol *
framed(struct wire_protocol *rpc, int fr)
{
    struct wire_error err = {0};
    struct wire_protocol *p;
    if (fr == FR_LINES) {
        struct wire_chunk_opts o;
        wire_lines_opts_init(&o, true, false);
        o.max_len = 4 * WIRE_JSONRPC_DEFAULT_MAX_MESSAGE;
        p = wire_chunk_layer_new(rpc, &o, &err);
    } else if (fr == FR_HTTP_SERVER || fr == FR_HTTP_CLIENT) {
        /* No reply_timeout_ms: the peer's hints decide the 204s. */
        struct wire_http_layer_opts o = {
            .path = "/rpc",
            .content_type = "application/json",
            .limits.max_body = 4 * WIRE_JSONRPC_DEFAULT_MAX_MESSAGE,
        };
        p = fr == FR_HTTP_SERVER ? wire_http_server_layer_new(rpc, &o, &err)
                                 : wire_http_client_layer_new(rpc, &o, &err);
    } else {
        p = wire_content_length_layer_new(rpc, 4 * WIRE_JSONRPC_DEFAULT_MAX_MESSAGE,
                                          &err);
    }
    ck_assert_msg(p != NULL, "%s", err.message);
    return p;
}

struct rt {
    int fr;
    struct wire_transport *st;
    struct wire_jsonrpc *rpc;
    struct closed closed;
    int n204; /* FR_HTTP_SERVER: 204s seen by rt_take */
};

static void
rt_new_opts(struct rt *r, int fr, struct wire_jsonrpc_opts *o)
{
    memset(r, 0, sizeof(*r));
    r->fr = fr;
    o->on_close = on_closed;
    o->arg = &r->closed;
    struct wire_error err = {0};
    struct wire_protocol *p = wire_jsonrpc_new(o, &r->rpc, &err);
    ck_assert_msg(p != NULL, "%s", err.message);
    r->st = wire_string_transport_new(framed(p, fr));
    ck_assert_ptr_nonnull(r->st);
}

static void
rt_new(struct rt *r, int fr)
{
    struct wire_jsonrpc_opts o = {.methods = methods, .nmethods = NMETHODS};
    rt_new_opts(r, fr, &o);
}

static void
rt_free(struct rt *r)
{
    wire_string_transport_free(r->st);
    ck_assert_int_eq(r->closed.n, 1);
}

/* `json` framed as the framing writes it (malloc'd; `*len` its size). */
static char *
frame_text(int fr, const char *json, size_t *len)
{
    size_t n = strlen(json);
    char *out = malloc(n + 256); /* room for the longest frame, a POST head */
    ck_assert_ptr_nonnull(out);
    if (fr == FR_LINES)
        *len = (size_t)sprintf(out, "%s\n", json);
    else if (fr == FR_HTTP_SERVER) /* what a client sends: a POST */
        *len = (size_t)sprintf(out, "POST /rpc HTTP/1.1\r\nHost: h\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: %zu\r\n\r\n%s", n, json);
    else if (fr == FR_HTTP_CLIENT) /* what a server answers */
        *len = (size_t)sprintf(out, "HTTP/1.1 200 OK\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: %zu\r\n\r\n%s", n, json);
    else
        *len = (size_t)sprintf(out, "Content-Length: %zu\r\n\r\n%s", n, json);
    return out;
}

/* Feed one message, whole or in pieces of `piece` bytes. */
static void
rt_feed(struct rt *r, const char *json, size_t piece)
{
    size_t len;
    char *t = frame_text(r->fr, json, &len);
    ck_assert_int_eq(wire_string_transport_feed_split(r->st, t, len,
                                                      piece ? piece : len), 0);
    free(t);
}

static json_t *
parse_message(const char *d, size_t n)
{
    json_error_t je;
    json_t *m = json_loadb(d, n, 0, &je);
    ck_assert_msg(m != NULL, "output is not JSON: %s: %.*s", je.text, (int)n, d);
    return m;
}

/* FR_HTTP_SERVER: the responses written, each 200's body one message
 * (application/json), each 204 counted. */
static void
take_http_responses(struct rt *r, json_t *all)
{
    size_t len = 0, used = 0;
    const char *buf = wire_string_transport_output(r->st, &len);
    struct tresp resp[16];
    while (used < len) {
        size_t u = 0;
        int n = tresp_parse(buf + used, len - used, resp, 16, false, &u);
        ck_assert_msg(n > 0, "not an HTTP response: '%.*s'", (int)(len - used),
                      buf + used);
        for (int i = 0; i < n; i++) {
            if (resp[i].status == 204) {
                ck_assert_uint_eq(resp[i].body_len, 0);
                r->n204++;
                continue;
            }
            ck_assert_int_eq(resp[i].status, 200);
            ck_assert_str_eq(tresp_get(&resp[i], "Content-Type"),
                             "application/json");
            json_array_append_new(all, parse_message(resp[i].body,
                                                     resp[i].body_len));
        }
        tresp_free(resp, n);
        used += u;
    }
}

/* FR_HTTP_CLIENT: the requests written, each a POST of /rpc whose body is
 * one message. */
static void
take_http_requests(const char *out, size_t len, json_t *all)
{
    size_t pos = 0;
    while (pos < len) {
        const char *head = out + pos;
        const char *end = strstr(head, "\r\n\r\n");
        ck_assert_msg(end != NULL, "an unended request head: '%s'", head);
        ck_assert_msg(strncmp(head, "POST /rpc HTTP/1.1\r\n", 20) == 0,
                      "not a POST of /rpc: '%s'", head);
        ck_assert_msg(strstr(head, "\r\nContent-Type: application/json\r\n") != NULL &&
                          strstr(head, "\r\nContent-Type: application/json\r\n") < end,
                      "no JSON content type: '%s'", head);
        const char *cl = strstr(head, "\r\nContent-Length: ");
        ck_assert_msg(cl != NULL && cl < end, "no Content-Length: '%s'", head);
        size_t n = strtoul(cl + 18, NULL, 10);
        pos = (size_t)(end + 4 - out);
        ck_assert_uint_le(pos + n, len);
        json_array_append_new(all, parse_message(out + pos, n));
        pos += n;
    }
}

/* What the peer wrote since the last call: an array of the messages,
 * each parsed. */
static json_t *
rt_take(struct rt *r)
{
    while (wire_string_transport_step(r->st) > 0)
        ;
    /* A NUL-terminated copy, for sscanf. */
    const char *out = unit_output(r->st);
    size_t len = strlen(out);
    json_t *all = json_array();
    size_t pos = 0;
    if (r->fr == FR_HTTP_SERVER) {
        take_http_responses(r, all);
        pos = len;
    } else if (r->fr == FR_HTTP_CLIENT) {
        take_http_requests(out, len, all);
        pos = len;
    }
    while (pos < len) {
        size_t n;
        if (r->fr == FR_LINES) {
            const char *nl = memchr(out + pos, '\n', len - pos);
            ck_assert_msg(nl != NULL, "an unterminated line");
            n = (size_t)(nl - (out + pos));
        } else {
            unsigned long v = 0;
            int used = 0;
            ck_assert_int_eq(sscanf(out + pos, "Content-Length: %lu\r\n\r\n%n",
                                    &v, &used), 1);
            ck_assert_int_gt(used, 0);
            pos += (size_t)used;
            n = v;
            ck_assert_uint_le(pos + n, len);
        }
        json_error_t je;
        json_t *m = json_loadb(out + pos, n, 0, &je);
        ck_assert_msg(m != NULL, "output is not JSON: %s: %.*s", je.text,
                      (int)n, out + pos);
        json_array_append_new(all, m);
        pos += n + (r->fr == FR_LINES ? 1 : 0);
    }
    wire_string_transport_clear_output(r->st);
    return all;
}

static json_t *
parse(const char *s)
{
    json_error_t je;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &je);
    ck_assert_msg(v != NULL, "bad test JSON: %s: %s", je.text, s);
    return v;
}

/* Exactly one message, equal to `want` (NULL: nothing at all). */
static void
expect_one(struct rt *r, const char *want, const char *ctx)
{
    json_t *got = rt_take(r);
    char *gs = json_dumps(got, JSON_COMPACT);
    if (want == NULL) {
        ck_assert_msg(json_array_size(got) == 0, "%s: wanted nothing, got %s",
                      ctx, gs);
    } else {
        json_t *w = parse(want);
        ck_assert_msg(json_array_size(got) == 1 &&
                          json_equal(json_array_get(got, 0), w),
                      "%s [%s]: got %s, want %s", ctx, fr_names[r->fr], gs,
                      want);
        json_decref(w);
    }
    free(gs);
    json_decref(got);
}

/* ---- section 7 ---- */

struct vec {
    const char *name, *req, *resp; /* resp NULL: no response */
};

static const struct vec spec_vectors[] = {
    {"positional 1",
     "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [42, 23], \"id\": 1}",
     "{\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 1}"},
    {"positional 2",
     "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [23, 42], \"id\": 2}",
     "{\"jsonrpc\": \"2.0\", \"result\": -19, \"id\": 2}"},
    {"named 1",
     "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": {\"subtrahend\": 23, \"minuend\": 42}, \"id\": 3}",
     "{\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 3}"},
    {"named 2",
     "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": {\"minuend\": 42, \"subtrahend\": 23}, \"id\": 4}",
     "{\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 4}"},
    {"notification 1",
     "{\"jsonrpc\": \"2.0\", \"method\": \"update\", \"params\": [1,2,3,4,5]}", NULL},
    {"notification 2", "{\"jsonrpc\": \"2.0\", \"method\": \"foobar\"}", NULL},
    {"non-existent method",
     "{\"jsonrpc\": \"2.0\", \"method\": \"foobar\", \"id\": \"1\"}",
     "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32601, \"message\": \"Method not found\"}, \"id\": \"1\"}"},
    {"invalid JSON",
     "{\"jsonrpc\": \"2.0\", \"method\": \"foobar, \"params\": \"bar\", \"baz]",
     "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32700, \"message\": \"Parse error\"}, \"id\": null}"},
    {"invalid Request object",
     "{\"jsonrpc\": \"2.0\", \"method\": 1, \"params\": \"bar\"}",
     "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, \"message\": \"Invalid Request\"}, \"id\": null}"},
    {"batch, invalid JSON",
     "[ {\"jsonrpc\": \"2.0\", \"method\": \"sum\", \"params\": [1,2,4], \"id\": \"1\"}, {\"jsonrpc\": \"2.0\", \"method\" ]",
     "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32700, \"message\": \"Parse error\"}, \"id\": null}"},
    {"empty Array", "[]",
     "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, \"message\": \"Invalid Request\"}, \"id\": null}"},
    {"invalid batch, not empty", "[1]",
     "[ {\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, \"message\": \"Invalid Request\"}, \"id\": null} ]"},
    {"invalid batch", "[1,2,3]",
     "[ {\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, \"message\": \"Invalid Request\"}, \"id\": null},"
     "  {\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, \"message\": \"Invalid Request\"}, \"id\": null},"
     "  {\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, \"message\": \"Invalid Request\"}, \"id\": null} ]"},
    {"batch",
     "[ {\"jsonrpc\": \"2.0\", \"method\": \"sum\", \"params\": [1,2,4], \"id\": \"1\"},"
     "  {\"jsonrpc\": \"2.0\", \"method\": \"notify_hello\", \"params\": [7]},"
     "  {\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [42,23], \"id\": \"2\"},"
     "  {\"foo\": \"boo\"},"
     "  {\"jsonrpc\": \"2.0\", \"method\": \"foo.get\", \"params\": {\"name\": \"myself\"}, \"id\": \"5\"},"
     "  {\"jsonrpc\": \"2.0\", \"method\": \"get_data\", \"id\": \"9\"} ]",
     "[ {\"jsonrpc\": \"2.0\", \"result\": 7, \"id\": \"1\"},"
     "  {\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": \"2\"},"
     "  {\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, \"message\": \"Invalid Request\"}, \"id\": null},"
     "  {\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32601, \"message\": \"Method not found\"}, \"id\": \"5\"},"
     "  {\"jsonrpc\": \"2.0\", \"result\": [\"hello\", 5], \"id\": \"9\"} ]"},
    {"batch, all notifications",
     "[ {\"jsonrpc\": \"2.0\", \"method\": \"notify_sum\", \"params\": [1,2,4]},"
     "  {\"jsonrpc\": \"2.0\", \"method\": \"notify_hello\", \"params\": [7]} ]",
     NULL},
};
#define NVEC (sizeof(spec_vectors) / sizeof(spec_vectors[0]))

START_TEST(test_spec_server)
{
    notifications = 0;
    for (int fr = 0; fr < FR_N; fr++) {
        for (size_t piece = 0; piece <= 7; piece += 7) {
            /* One connection for every vector: each bad one leaves it
             * usable. */
            struct rt r;
            rt_new(&r, fr);
            for (size_t i = 0; i < NVEC; i++) {
                rt_feed(&r, spec_vectors[i].req, piece);
                char ctx[120];
                snprintf(ctx, sizeof(ctx), "%s, pieces of %zu",
                         spec_vectors[i].name, piece);
                expect_one(&r, spec_vectors[i].resp, ctx);
            }
            ck_assert(!wire_string_transport_closed(r.st));
            rt_free(&r);
            ck_assert_int_eq(r.closed.code, WIRE_EABORTED);
        }
        /* Byte by byte. */
        struct rt r;
        rt_new(&r, fr);
        for (size_t i = 0; i < NVEC; i++) {
            rt_feed(&r, spec_vectors[i].req, 1);
            expect_one(&r, spec_vectors[i].resp, spec_vectors[i].name);
        }
        rt_free(&r);
    }
    /* update, notify_hello, notify_sum and notify_hello, per run. */
    ck_assert_int_eq(notifications, FR_N * 3 * 4);
}
END_TEST

/* The same exchanges from the client's side: what it writes, and what
 * its callbacks make of the specification's responses. */
START_TEST(test_spec_client)
{
    for (int fr = 0; fr < FR_N; fr++) {
        struct rt r;
        rt_new(&r, fr);
        struct res res[8] = {{0}};
        struct wire_error err = {0};
        ck_assert_int_eq(wire_jsonrpc_call(r.rpc, "subtract", json_pack("[ii]", 42, 23),
                                           0, on_res, &res[0], &err), 0);
        ck_assert_int_eq(wire_jsonrpc_call(r.rpc, "subtract",
                                           json_pack("{sisi}", "subtrahend", 23,
                                                     "minuend", 42),
                                           0, on_res, &res[1], &err), 0);
        ck_assert_int_eq(wire_jsonrpc_notify(r.rpc, "update",
                                             json_pack("[iiiii]", 1, 2, 3, 4, 5),
                                             &err), 0);
        ck_assert_int_eq(wire_jsonrpc_call(r.rpc, "foobar", NULL, 0, on_res,
                                           &res[2], &err), 0);
        json_t *got = rt_take(&r);
        json_t *want = parse(
            "[{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [42, 23], \"id\": 1},"
            " {\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": {\"subtrahend\": 23, \"minuend\": 42}, \"id\": 2},"
            " {\"jsonrpc\": \"2.0\", \"method\": \"update\", \"params\": [1,2,3,4,5]},"
            " {\"jsonrpc\": \"2.0\", \"method\": \"foobar\", \"id\": 3}]");
        ck_assert(json_equal(got, want));
        json_decref(got);
        json_decref(want);
        /* The answers, out of order. */
        rt_feed(&r, "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32601, \"message\": \"Method not found\"}, \"id\": 3}", 0);
        rt_feed(&r, "{\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 2}", 3);
        rt_feed(&r, "{\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 1}", 1);
        ck_assert_int_eq(res[0].n, 1);
        ck_assert_int_eq(json_integer_value(res[0].result), 19);
        ck_assert_int_eq(res[1].n, 1);
        ck_assert_int_eq(json_integer_value(res[1].result), 19);
        ck_assert_int_eq(res[2].n, 1);
        ck_assert_int_eq(res[2].code, -32601);
        ck_assert(!res[2].local);
        ck_assert_str_eq(res[2].msg, "Method not found");
        ck_assert(res[0].order > res[1].order && res[1].order > res[2].order);

        /* The batch of section 7 (ids are ours: 4, 5, 6). */
        struct wire_jsonrpc_batch *b = wire_jsonrpc_batch_new(r.rpc);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(wire_jsonrpc_batch_call(b, "sum", json_pack("[iii]", 1, 2, 4),
                                                 on_res, &res[3]), 0);
        ck_assert_int_eq(wire_jsonrpc_batch_notify(b, "notify_hello",
                                                   json_pack("[i]", 7)), 0);
        ck_assert_int_eq(wire_jsonrpc_batch_call(b, "subtract",
                                                 json_pack("[ii]", 42, 23),
                                                 on_res, &res[4]), 0);
        ck_assert_int_eq(wire_jsonrpc_batch_call(b, "get_data", NULL, on_res,
                                                 &res[5]), 0);
        ck_assert_int_eq(wire_jsonrpc_batch_send(b, 0, &err), 0);
        got = rt_take(&r);
        want = parse(
            "[[{\"jsonrpc\": \"2.0\", \"method\": \"sum\", \"params\": [1,2,4], \"id\": 4},"
            "  {\"jsonrpc\": \"2.0\", \"method\": \"notify_hello\", \"params\": [7]},"
            "  {\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [42,23], \"id\": 5},"
            "  {\"jsonrpc\": \"2.0\", \"method\": \"get_data\", \"id\": 6}]]");
        ck_assert(json_equal(got, want));
        json_decref(got);
        json_decref(want);
        rt_feed(&r, "[{\"jsonrpc\": \"2.0\", \"result\": [\"hello\", 5], \"id\": 6},"
                    " {\"jsonrpc\": \"2.0\", \"result\": 7, \"id\": 4},"
                    " {\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 5}]", 0);
        ck_assert_int_eq(json_integer_value(res[3].result), 7);
        ck_assert_int_eq(json_integer_value(res[4].result), 19);
        want = parse("[\"hello\", 5]");
        ck_assert(json_equal(res[5].result, want));
        json_decref(want);
        for (int i = 0; i < 6; i++)
            ck_assert_int_eq(res[i].n, 1);
        /* Nothing was answered back to responses. */
        expect_one(&r, NULL, "after responses");
        rt_free(&r);
        res_clear(res, 8);
    }
}
END_TEST

/* ---- the server part ---- */

/* The server reads the common request form without jansson building the
 * whole request (only the params are parsed), and hands anything outside
 * that form to jansson whole.  Whichever way a text goes, the answer must
 * be what jansson's reading of the whole text means: each text below is
 * either a valid request to "echo" or not JSON at all, and the answer
 * expected is worked out from json_loadb() of the text. */
START_TEST(test_server_plain_form)
{
    static const char *const texts[] = {
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[42,23],\"id\":1}",
        " { \"jsonrpc\" : \"2.0\" ,\t\"method\" : \"echo\" , \"params\" : [ 1 , 2 ] , \"id\" : 3 } ",
        "{\"id\":4,\"params\":{\"a\":[1,{\"b\":null}]},\"method\":\"echo\",\"jsonrpc\":\"2.0\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"a]\\\"}{[\",{\"k\":\"v\\\\\"}],\"id\":5}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"\\u00e9\\n\",\"\xc3\xa9\"],\"id\":6}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[[[[[[1]]]]]],\"id\":7}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[],\"id\":\"a\\\"b\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[],\"id\":\"\xc3\xa9t\xc3\xa9\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"ec\\u0068o\",\"params\":[8],\"id\":8}",
        "{\"jsonrpc\":\"2\\u002e0\",\"method\":\"echo\",\"params\":[9],\"id\":9}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":123456789012345678}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1234567890123456789}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":-123456789012345678}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":-0}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":0}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1e3}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":2.50}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":null}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":\"\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1]}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"\\\\\"],\"id\":10}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1,2,\"x\",true,false,null,1.5,-2e-3],\"id\":11}",
        /* not JSON: each must get the parse error, whatever the reader */
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1,2,\"id\":12}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":13,}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1,},\"id\":14}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1]],\"id\":15}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":007}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":16}x",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"method\":\"echo\",\"id\":17}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"\x01\"],\"id\":18}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"\xff\"],\"id\":19}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":nul}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":12345678901234567890123}",
        "{\"jsonrpc\":\"2.0\" \"method\":\"echo\",\"id\":20}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[01],\"id\":21}",
    };
    const char *parse_error = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,"
                              "\"message\":\"Parse error\"},\"id\":null}";
    struct rt r;
    rt_new(&r, FR_LINES);
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        const char *t = texts[i];
        json_t *whole = json_loadb(t, strlen(t), JSON_DECODE_ANY |
                                   JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        char *want = NULL;
        if (whole == NULL) {
            want = strdup(parse_error);
        } else if (json_object_get(whole, "id") != NULL) {
            json_t *params = json_object_get(whole, "params");
            json_t *w = json_pack("{s:s,s:O,s:O}", "jsonrpc", "2.0", "result",
                                  params != NULL ? params : json_null(), "id",
                                  json_object_get(whole, "id"));
            ck_assert_ptr_nonnull(w);
            want = json_dumps(w, JSON_COMPACT | JSON_ENCODE_ANY);
            json_decref(w);
        }
        rt_feed(&r, t, 0);
        char ctx[64];
        snprintf(ctx, sizeof(ctx), "text %zu", i);
        expect_one(&r, want, ctx);
        free(want);
        json_decref(whole);
    }
    rt_free(&r);
}
END_TEST

START_TEST(test_server_ids)
{
    static const struct vec v[] = {
        {"string id", "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1],\"id\":\"abc\"}",
         "{\"jsonrpc\":\"2.0\",\"result\":[1],\"id\":\"abc\"}"},
        {"null id", "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":null}",
         "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":null}"},
        {"fractional id", "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{},\"id\":1.5}",
         "{\"jsonrpc\":\"2.0\",\"result\":{},\"id\":1.5}"},
        {"negative id", "{\"id\":-7,\"method\":\"echo\",\"jsonrpc\":\"2.0\"}",
         "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":-7}"},
        {"object id", "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":{}}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null}"},
        {"bool id", "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":true}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null}"},
        {"version 1.0", "{\"jsonrpc\":\"1.0\",\"method\":\"echo\",\"id\":4}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":4}"},
        {"no version", "{\"method\":\"echo\",\"id\":4}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":4}"},
        {"version number", "{\"jsonrpc\":2.0,\"method\":\"echo\",\"id\":4}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":4}"},
        {"no method", "{\"jsonrpc\":\"2.0\",\"id\":5}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":5}"},
        {"params a number", "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":3,\"id\":6}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":6}"},
        {"params null", "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":null,\"id\":6}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":6}"},
        {"a string", "\"hello\"",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null}"},
        {"extra members ignored",
         "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[2],\"id\":7,\"x\":1}",
         "{\"jsonrpc\":\"2.0\",\"result\":[2],\"id\":7}"},
        {"invalid params from a handler",
         "{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[\"a\"],\"id\":8}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"Invalid params\"},\"id\":8}"},
        {"a NUL in the method name",
         "{\"jsonrpc\":\"2.0\",\"method\":\"echo\\u0000x\",\"id\":9}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":9}"},
        {"duplicate members", "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"id\":2}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null}"},
        {"two texts in one message", "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1} {}",
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null}"},
        {"a batch in a batch", "[[]]",
         "[{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null}]"},
        {"a blank message is ignored", "  ", NULL},
        {"a response to no call of ours",
         "{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":77}", NULL},
    };
    for (int fr = 0; fr < FR_N; fr++) {
        struct rt r;
        rt_new(&r, fr);
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
            rt_feed(&r, v[i].req, 0);
            expect_one(&r, v[i].resp, v[i].name);
        }
        rt_free(&r);
    }
}
END_TEST

/* Answers given later: a single call, a notification, and a batch whose
 * array goes out in member order once its last member is answered. */
START_TEST(test_server_later)
{
    for (int fr = 0; fr < FR_N; fr++) {
        struct rt r;
        rt_new(&r, fr);
        nlater = 0;
        rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":1}", 0);
        rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"later\"}", 0);
        ck_assert_int_eq(nlater, 2);
        expect_one(&r, NULL, "nothing yet");
        ck_assert(!wire_jsonrpc_call_is_notification(later[0]));
        ck_assert(wire_jsonrpc_call_is_notification(later[1]));
        ck_assert_ptr_eq(wire_jsonrpc_call_peer(later[0]), r.rpc);
        ck_assert_int_eq(wire_jsonrpc_respond(later[1], json_true()), 0);
        expect_one(&r, NULL, "a notification answered");
        ck_assert_int_eq(wire_jsonrpc_respond_error(later[0], -32001, "busy",
                                                    json_pack("{si}", "retry", 3)),
                         0);
        expect_one(&r, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32001,"
                       "\"message\":\"busy\",\"data\":{\"retry\":3}},\"id\":1}",
                   "an error with data");

        nlater = 0;
        rt_feed(&r, "[{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":\"a\"},"
                    " {\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[0],\"id\":\"b\"},"
                    " {\"jsonrpc\":\"2.0\",\"method\":\"later\"},"
                    " 5,"
                    " {\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":\"c\"}]", 0);
        ck_assert_int_eq(nlater, 3);
        expect_one(&r, NULL, "batch: nothing yet");
        ck_assert_int_eq(wire_jsonrpc_respond(later[2], json_string("C")), 0);
        ck_assert_int_eq(wire_jsonrpc_respond(later[1], NULL), 0);
        expect_one(&r, NULL, "batch: one left");
        ck_assert_int_eq(wire_jsonrpc_respond(later[0], json_string("A")), 0);
        expect_one(&r,
                   "[{\"jsonrpc\":\"2.0\",\"result\":\"A\",\"id\":\"a\"},"
                   " {\"jsonrpc\":\"2.0\",\"result\":[0],\"id\":\"b\"},"
                   " {\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null},"
                   " {\"jsonrpc\":\"2.0\",\"result\":\"C\",\"id\":\"c\"}]",
                   "batch: all answered");
        rt_free(&r);
    }
}
END_TEST

/* Calls answered after their connection is gone: WIRE_ECLOSED, freed. */
START_TEST(test_server_after_close)
{
    struct rt r;
    rt_new(&r, FR_LINES);
    nlater = 0;
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":1}", 0);
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"later\"}", 0);
    rt_feed(&r, "[{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":2},"
                "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":3}]", 0);
    ck_assert_int_eq(nlater, 4);
    rt_free(&r);
    ck_assert_ptr_null(wire_jsonrpc_call_peer(later[0]));
    ck_assert_int_eq(wire_jsonrpc_respond(later[0], json_true()), WIRE_ECLOSED);
    ck_assert_int_eq(wire_jsonrpc_respond(later[1], NULL), 0); /* notification */
    ck_assert_int_eq(wire_jsonrpc_respond(later[2], NULL), WIRE_ECLOSED);
    ck_assert_int_eq(wire_jsonrpc_respond_error(later[3], -32000, NULL, json_true()),
                     WIRE_ECLOSED);
}
END_TEST

/* A handler closes its connection: the rest of a batch gets nothing, and
 * nothing crashes. */
START_TEST(test_server_handler_closes)
{
    for (int fr = 0; fr < FR_N; fr++) {
        struct rt r;
        rt_new(&r, fr);
        rt_feed(&r, "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1},"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"close\",\"id\":2},"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":3}]", 0);
        expect_one(&r, NULL, "closed in a batch");
        ck_assert(wire_string_transport_closed(r.st));
        ck_assert_int_eq(r.closed.n, 1);
        ck_assert_int_eq(r.closed.code, 0);
        rt_free(&r);
    }
}
END_TEST

START_TEST(test_server_limits)
{
    for (int fr = 0; fr < FR_N; fr++) {
        struct wire_jsonrpc_opts o = {.methods = methods, .nmethods = NMETHODS,
                                      .max_message = 200, .max_depth = 4};
        struct rt r;
        rt_new_opts(&r, fr, &o);
        char big[400];
        /* Over the size limit, with an id: -32600 naming it, even when
         * the id comes after the bulk. */
        snprintf(big, sizeof(big),
                 "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"%0250d\"],"
                 "\"id\":\"big\"}", 0);
        rt_feed(&r, big, 0);
        expect_one(&r, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,"
                       "\"message\":\"Invalid Request\"},\"id\":\"big\"}",
                   "too large, id at the end");
        snprintf(big, sizeof(big),
                 "{\"id\": 12, \"params\":{\"a\":[{\"b\":\"}]\\\"\"}, \"%0250d\"]}}", 0);
        rt_feed(&r, big, 0);
        expect_one(&r, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,"
                       "\"message\":\"Invalid Request\"},\"id\":12}",
                   "too large, nested");
        snprintf(big, sizeof(big), "[{\"jsonrpc\":\"2.0\",\"method\":\"%0250d\"}]", 0);
        rt_feed(&r, big, 0);
        expect_one(&r, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,"
                       "\"message\":\"Invalid Request\"},\"id\":null}",
                   "too large, a batch");
        /* Exactly at the limit: answered. */
        char exact[201];
        int n = snprintf(exact, sizeof(exact),
                         "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"params\":[\"");
        memset(exact + n, 'x', 200 - (size_t)n - 3);
        memcpy(exact + 197, "\"]}", 4);
        ck_assert_uint_eq(strlen(exact), 200);
        rt_feed(&r, exact, 0);
        json_t *got = rt_take(&r);
        ck_assert_int_eq(json_array_size(got), 1);
        ck_assert(json_is_array(json_object_get(json_array_get(got, 0), "result")));
        json_decref(got);
        /* Depth: 4 levels answered, 5 refused with -32700; brackets in
         * strings do not count. */
        rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[[[\"[[[{{\"]]],\"id\":2}", 0);
        expect_one(&r, "{\"jsonrpc\":\"2.0\",\"result\":[[[\"[[[{{\"]]],\"id\":2}",
                   "depth 4");
        rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[[[[1]]]],\"id\":3}", 0);
        expect_one(&r, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,"
                       "\"message\":\"Parse error\"},\"id\":null}",
                   "depth 5");
        /* Still usable. */
        rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":4}", 0);
        expect_one(&r, "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":4}", "usable");
        ck_assert(!wire_string_transport_closed(r.st));
        /* Too large and no id can be read: the connection closes. */
        memset(big, '#', 300);
        big[300] = '\0';
        rt_feed(&r, big, 0);
        expect_one(&r, NULL, "unreadable");
        ck_assert(wire_string_transport_closed(r.st));
        rt_free(&r);
        ck_assert_int_eq(r.closed.code, 0);
    }
}
END_TEST

/* The peer's EOF while calls are being answered: their answers still go
 * out, then the connection closes. */
START_TEST(test_server_eof_waits)
{
    for (int fr = 0; fr < FR_N; fr++) {
        struct rt r;
        rt_new(&r, fr);
        nlater = 0;
        rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":1}", 0);
        ck_assert_int_eq(wire_string_transport_feed_eof(r.st), 0);
        wire_string_transport_step(r.st);
        ck_assert(!wire_string_transport_closed(r.st));
        ck_assert_int_eq(r.closed.n, 0);
        ck_assert_int_eq(wire_jsonrpc_respond(later[0], json_integer(5)), 0);
        expect_one(&r, "{\"jsonrpc\":\"2.0\",\"result\":5,\"id\":1}", "after EOF");
        ck_assert(wire_string_transport_closed(r.st));
        ck_assert_int_eq(r.closed.n, 1);
        ck_assert_int_eq(r.closed.code, 0);
        rt_free(&r);
        /* Nothing waiting: EOF closes at once. */
        rt_new(&r, fr);
        ck_assert_int_eq(wire_string_transport_feed_eof(r.st), 0);
        wire_string_transport_step(r.st);
        ck_assert(wire_string_transport_closed(r.st));
        ck_assert_int_eq(r.closed.n, 1);
        rt_free(&r);
    }
}
END_TEST

/* ---- the client part ---- */

START_TEST(test_client_responses)
{
    struct rt r;
    rt_new(&r, FR_CL);
    struct res res[6] = {{0}};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(wire_jsonrpc_call(r.rpc, "x", NULL, 0, on_res, &res[i],
                                           NULL), 0);
    json_decref(rt_take(&r));
    /* Unknown ids are dropped; malformed matches fail locally. */
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":99}", 0);
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":\"1\"}", 0);
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null}", 0);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(res[i].n, 0);
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"result\":1,\"error\":{\"code\":1,\"message\":\"m\"},\"id\":1}", 0);
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":\"x\"},\"id\":2}", 0);
    rt_feed(&r, "{\"result\":1,\"id\":3}", 0);
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"result\":{\"k\":[1]},\"id\":4.0}", 0);
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"m\",\"data\":[1]},\"id\":5}", 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(res[i].n, 1);
        ck_assert_int_eq(res[i].code, WIRE_EPROTO);
        ck_assert(res[i].local);
    }
    ck_assert_str_eq(res[0].msg, "jsonrpc: the response has both a result and an error");
    ck_assert_int_eq(res[3].n, 1);
    ck_assert(json_is_object(res[3].result));
    ck_assert_int_eq(res[4].code, -32000);
    ck_assert(!res[4].local);
    ck_assert(json_is_array(res[4].data));
    /* A second response to the same id: unknown now. */
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":5}", 0);
    ck_assert_int_eq(res[4].n, 1);
    expect_one(&r, NULL, "no answer to responses");
    /* The last one fails when the connection goes, before on_close. */
    res[5].cl = &r.closed;
    rt_free(&r);
    ck_assert_int_eq(res[5].n, 1);
    ck_assert_int_eq(res[5].code, WIRE_ECLOSED);
    ck_assert(res[5].local);
    res_clear(res, 6);
}
END_TEST

START_TEST(test_client_refused)
{
    struct rt r;
    rt_new(&r, FR_LINES);
    struct res res = {0};
    struct wire_error err = {0};
    ck_assert_int_eq(wire_jsonrpc_call(r.rpc, "m", json_string("no"), 0, on_res,
                                       &res, &err), WIRE_EINVAL);
    ck_assert_str_eq(err.message, "jsonrpc: params must be an array or an object");
    ck_assert_int_eq(wire_jsonrpc_call(r.rpc, NULL, NULL, 0, on_res, &res, &err),
                     WIRE_EINVAL);
    ck_assert_int_eq(wire_jsonrpc_notify(r.rpc, "m", json_integer(1), &err),
                     WIRE_EINVAL);
    struct wire_jsonrpc_batch *b = wire_jsonrpc_batch_new(r.rpc);
    ck_assert_int_eq(wire_jsonrpc_batch_call(b, "m", json_true(), on_res, &res),
                     WIRE_EINVAL);
    ck_assert_int_eq(wire_jsonrpc_batch_send(b, 0, &err), WIRE_EINVAL);
    ck_assert_str_eq(err.message, "jsonrpc: an empty batch");
    /* After close: single calls refused (no callback); a batch's
     * callbacks run with the error when the connection goes. */
    struct res br[2] = {{0}};
    b = wire_jsonrpc_batch_new(r.rpc);
    wire_jsonrpc_batch_call(b, "m", NULL, on_res, &br[0]);
    wire_jsonrpc_batch_call(b, "m", NULL, on_res, &br[1]);
    wire_jsonrpc_close(r.rpc);
    ck_assert_int_eq(wire_jsonrpc_call(r.rpc, "m", NULL, 0, on_res, &res, &err),
                     WIRE_ECLOSED);
    ck_assert_int_eq(wire_jsonrpc_notify(r.rpc, "m", NULL, &err), WIRE_ECLOSED);
    ck_assert_int_eq(wire_jsonrpc_batch_send(b, 0, &err), WIRE_ECLOSED);
    wire_error_clear(&err);
    ck_assert_int_eq(br[0].n, 0);
    expect_one(&r, NULL, "nothing after close");
    ck_assert_int_eq(r.closed.n, 1);
    ck_assert_int_eq(br[0].n, 1);
    ck_assert_int_eq(br[1].n, 1);
    ck_assert_int_eq(br[1].code, WIRE_ECLOSED);
    ck_assert_int_eq(res.n, 0);
    rt_free(&r);
}
END_TEST

/* Many calls outstanding, then the connection fails: every callback once,
 * oldest first, before on_close. */
START_TEST(test_client_lost)
{
    enum { N = 300 };
    struct rt r;
    rt_new(&r, FR_LINES);
    struct res *res = calloc(N, sizeof(*res));
    ck_assert_ptr_nonnull(res);
    res_clock = 0;
    for (int i = 0; i < N; i++) {
        res[i].cl = &r.closed;
        ck_assert_int_eq(wire_jsonrpc_call(r.rpc, "m", json_pack("[i]", i), 0,
                                           on_res, &res[i], NULL), 0);
    }
    /* Answer every third, out of order. */
    for (int i = N - 1; i >= 0; i -= 3) {
        char m[80];
        snprintf(m, sizeof(m), "{\"jsonrpc\":\"2.0\",\"result\":%d,\"id\":%d}", i, i + 1);
        rt_feed(&r, m, 0);
        ck_assert_int_eq(json_integer_value(res[i].result), i);
    }
    ck_assert_int_eq(wire_string_transport_feed_error(r.st, -104, "reset"), 0);
    wire_string_transport_step(r.st);
    ck_assert_int_eq(r.closed.n, 1);
    ck_assert_int_eq(r.closed.results_before, N);
    int last = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(res[i].n, 1);
        if ((N - 1 - i) % 3 != 0) {
            ck_assert_int_eq(res[i].code, WIRE_ECLOSED);
            ck_assert_contains(res[i].msg, "reset");
            ck_assert_int_gt(res[i].order, last);
            last = res[i].order;
        }
    }
    rt_free(&r);
    res_clear(res, N);
    free(res);
}
END_TEST

/* Calls made before the connection is made go out once it is. */
static void
call_before_made(int fr)
{
    struct closed cl = {0};
    struct wire_jsonrpc_opts o = {.on_close = on_closed, .arg = &cl};
    struct wire_jsonrpc *rpc;
    struct wire_protocol *p = wire_jsonrpc_new(&o, &rpc, NULL);
    struct res res = {0};
    ck_assert_int_eq(wire_jsonrpc_call(rpc, "a", NULL, 0, on_res, &res, NULL), 0);
    ck_assert_int_eq(wire_jsonrpc_notify(rpc, "b", NULL, NULL), 0);
    struct rt r = {.fr = fr};
    r.st = wire_string_transport_new(framed(p, fr));
    json_t *got = rt_take(&r);
    json_t *want = parse("[{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1},"
                         "{\"jsonrpc\":\"2.0\",\"method\":\"b\"}]");
    ck_assert(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    wire_string_transport_free(r.st);
    ck_assert_int_eq(res.n, 1);
    ck_assert_int_eq(cl.n, 1);

    /* Never made: the call fails and on_close says so, at destroy. */
    struct closed cl2 = {0};
    o.arg = &cl2;
    struct res res2 = {0};
    p = wire_jsonrpc_new(&o, &rpc, NULL);
    wire_jsonrpc_call(rpc, "a", NULL, 0, on_res, &res2, NULL);
    wire_protocol_destroy(p);
    ck_assert_int_eq(res2.n, 1);
    ck_assert_int_eq(res2.code, WIRE_ECLOSED);
    ck_assert_int_eq(cl2.n, 1);
    ck_assert_int_eq(cl2.code, WIRE_ECLOSED);
}

START_TEST(test_client_before_made)
{
    call_before_made(FR_LINES);
    call_before_made(FR_CL);
}
END_TEST

/* ---- over a loop: the memory pair ---- */

struct pair {
    struct wire_loop *loop;
    struct wire_jsonrpc *client, *server;
    struct closed ccl, scl;
};

/* "sleep" {"ms": N}: answered by a loop timer. */
struct nap {
    struct wire_jsonrpc_call *call;
    struct wire_timer *tm;
    json_int_t ms;
};
static struct wire_loop *nap_loop;

static void
nap_done(void *arg)
{
    struct nap *n = arg;
    wire_timer_free(n->tm);
    wire_jsonrpc_respond(n->call, json_integer(n->ms));
    free(n);
}

static void
m_sleep(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    struct nap *n = calloc(1, sizeof(*n));
    ck_assert_ptr_nonnull(n);
    n->call = call;
    n->ms = json_integer_value(json_object_get(params, "ms"));
    n->tm = wire_timer_new(nap_loop, nap_done, n);
    wire_timer_start(n->tm, (uint64_t)n->ms, 0);
}

/* "callback": the server calls its client's "echo" before answering. */
static void
cb_echo_done(void *arg, json_t *result, const struct wire_jsonrpc_error *e)
{
    struct wire_jsonrpc_call *call = arg;
    ck_assert_ptr_null(e);
    wire_jsonrpc_respond(call, json_pack("{sO}", "client said", result));
}

static void
m_callback(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    ck_assert_int_eq(wire_jsonrpc_call(wire_jsonrpc_call_peer(call), "echo",
                                       json_incref(params), 0, cb_echo_done, call,
                                       NULL), 0);
}

static const struct wire_jsonrpc_method loop_methods[] = {
    {"echo", m_echo, NULL},
    {"sleep", m_sleep, NULL},
    {"later", m_later, NULL},
    {"callback", m_callback, NULL},
    {"sum", m_sum, NULL},
};

/* The client's end over framing `cfr`, the server's over `sfr`. */
static void
pair_new2(struct pair *pr, int cfr, int sfr, uint64_t timeout_ms)
{
    memset(pr, 0, sizeof(*pr));
    pr->loop = wire_loop_new();
    ck_assert_ptr_nonnull(pr->loop);
    nap_loop = pr->loop;
    struct wire_jsonrpc_opts co = {.methods = loop_methods, .nmethods = 1,
                                   .call_timeout_ms = timeout_ms,
                                   .on_close = on_closed, .arg = &pr->ccl};
    struct wire_jsonrpc_opts so = {.methods = loop_methods,
                                   .nmethods = sizeof(loop_methods) / sizeof(loop_methods[0]),
                                   .on_close = on_closed, .arg = &pr->scl};
    struct wire_protocol *c = framed(wire_jsonrpc_new(&co, &pr->client, NULL), cfr);
    struct wire_protocol *s = framed(wire_jsonrpc_new(&so, &pr->server, NULL), sfr);
    ck_assert_int_eq(wire_mem_pair(pr->loop, c, s, 0, NULL, NULL), 0);
}

static void
pair_new(struct pair *pr, int fr, uint64_t timeout_ms)
{
    pair_new2(pr, fr, fr, timeout_ms);
}

/* JSON-RPC over HTTP: the client over the client layer, the server over
 * the server layer. */
static void
pair_new_http(struct pair *pr, uint64_t timeout_ms)
{
    pair_new2(pr, FR_HTTP_CLIENT, FR_HTTP_SERVER, timeout_ms);
}

static bool
both_closed(void *arg)
{
    struct pair *pr = arg;
    return pr->ccl.n == 1 && pr->scl.n == 1;
}

static void
pair_free(struct pair *pr)
{
    wire_jsonrpc_close(pr->client);
    ck_assert(unit_run_until(pr->loop, both_closed, pr, 5000));
    ck_assert_int_eq(wire_loop_run(pr->loop), 0);
    wire_loop_free(pr->loop);
}

struct counted {
    struct res *res;
    int n;
};

static bool
all_done(void *arg)
{
    struct counted *c = arg;
    for (int i = 0; i < c->n; i++)
        if (c->res[i].n == 0)
            return false;
    return true;
}

START_TEST(test_loop_out_of_order)
{
    for (int fr = 0; fr < FR_N; fr++) {
        struct pair pr;
        pair_new(&pr, fr, 0);
        static const int ms[] = {80, 5, 40, 0, 20};
        struct res res[5] = {{0}};
        res_clock = 0;
        for (int i = 0; i < 5; i++)
            ck_assert_int_eq(wire_jsonrpc_call(pr.client, "sleep",
                                               json_pack("{si}", "ms", ms[i]), 0,
                                               on_res, &res[i], NULL), 0);
        struct counted c = {res, 5};
        ck_assert(unit_run_until(pr.loop, all_done, &c, 5000));
        for (int i = 0; i < 5; i++) {
            ck_assert_int_eq(res[i].n, 1);
            ck_assert_int_eq(json_integer_value(res[i].result), ms[i]);
        }
        /* Answered as they woke: 0, 5, 20, 40, 80. */
        ck_assert(res[3].order < res[1].order && res[1].order < res[4].order &&
                  res[4].order < res[2].order && res[2].order < res[0].order);
        pair_free(&pr);
        res_clear(res, 5);
    }
}
END_TEST

/* Log lines, captured. */
static char logged[1024];

static void
capture_log(void *arg, enum wire_log_level level, const char *msg)
{
    (void)arg;
    (void)level;
    snprintf(logged + strlen(logged), sizeof(logged) - strlen(logged), "%s\n", msg);
}

static bool
logged_something(void *arg)
{
    (void)arg;
    return logged[0] != '\0';
}

START_TEST(test_loop_timeout)
{
    for (int fr = 0; fr < FR_N; fr++) {
        struct pair pr;
        pair_new(&pr, fr, 50);
        logged[0] = '\0';
        wire_loop_set_log(pr.loop, capture_log, NULL);
        nlater = 0;
        struct res res[3] = {{0}};
        ck_assert_int_eq(wire_jsonrpc_call(pr.client, "later", NULL, 0, on_res,
                                           &res[0], NULL), 0);
        ck_assert_int_eq(wire_jsonrpc_call(pr.client, "later", NULL, UINT64_MAX,
                                           on_res, &res[1], NULL), 0);
        ck_assert_int_eq(wire_jsonrpc_call(pr.client, "echo", NULL, 0, on_res,
                                           &res[2], NULL), 0);
        struct counted c = {res, 1};
        ck_assert(unit_run_until(pr.loop, all_done, &c, 5000));
        ck_assert_int_eq(res[0].code, WIRE_ETIMEDOUT);
        ck_assert(res[0].local);
        ck_assert_str_eq(res[0].msg, "jsonrpc: no response within 50 ms");
        ck_assert_int_eq(res[1].n, 0); /* no timeout */
        ck_assert_int_eq(res[2].n, 1);
        ck_assert_int_eq(nlater, 2);
        /* The late answer: an unknown id now, logged and dropped. */
        ck_assert_int_eq(wire_jsonrpc_respond(later[0], json_true()), 0);
        ck_assert(unit_run_until(pr.loop, logged_something, NULL, 5000));
        ck_assert_contains(logged, "jsonrpc: dropped a response with unknown id 1");
        ck_assert_int_eq(res[0].n, 1);
        /* The other one fails when the connection goes. */
        wire_jsonrpc_respond(later[1], NULL); /* before: answered normally */
        c.n = 2;
        c.res = res;
        ck_assert(unit_run_until(pr.loop, all_done, &c, 5000));
        ck_assert_int_eq(res[1].n, 1);
        ck_assert(json_is_null(res[1].result));
        pair_free(&pr);
        res_clear(res, 3);
    }
}
END_TEST

START_TEST(test_loop_many)
{
    enum { N = 2000 };
    for (int fr = 0; fr < FR_N; fr++) {
        struct pair pr;
        pair_new(&pr, fr, 0);
        struct res *res = calloc(N, sizeof(*res));
        for (int i = 0; i < N; i++)
            ck_assert_int_eq(wire_jsonrpc_call(pr.client, i % 2 ? "echo" : "sleep",
                                               json_pack("{si}", "ms", i % 7), 0,
                                               on_res, &res[i], NULL), 0);
        struct counted c = {res, N};
        ck_assert(unit_run_until(pr.loop, all_done, &c, 20000));
        for (int i = 0; i < N; i++) {
            ck_assert_int_eq(res[i].n, 1);
            if (i % 2)
                ck_assert_int_eq(json_integer_value(json_object_get(res[i].result, "ms")),
                                 i % 7);
            else
                ck_assert_int_eq(json_integer_value(res[i].result), i % 7);
        }
        pair_free(&pr);
        res_clear(res, N);
        free(res);
    }
}
END_TEST

/* Batches both ways, and a server calling its client back. */
START_TEST(test_loop_batch_and_callback)
{
    for (int fr = 0; fr < FR_N; fr++) {
        struct pair pr;
        pair_new(&pr, fr, 0);
        struct res res[4] = {{0}};
        struct wire_jsonrpc_batch *b = wire_jsonrpc_batch_new(pr.client);
        wire_jsonrpc_batch_call(b, "sleep", json_pack("{si}", "ms", 30), on_res, &res[0]);
        wire_jsonrpc_batch_notify(b, "sum", json_pack("[i]", 1));
        wire_jsonrpc_batch_call(b, "sum", json_pack("[ii]", 1, 2), on_res, &res[1]);
        wire_jsonrpc_batch_call(b, "nope", NULL, on_res, &res[2]);
        ck_assert_int_eq(wire_jsonrpc_batch_send(b, 0, NULL), 0);
        ck_assert_int_eq(wire_jsonrpc_call(pr.client, "callback", json_pack("[s]", "hi"),
                                           0, on_res, &res[3], NULL), 0);
        struct counted c = {res, 4};
        ck_assert(unit_run_until(pr.loop, all_done, &c, 5000));
        ck_assert_int_eq(json_integer_value(res[0].result), 30);
        ck_assert_int_eq(json_integer_value(res[1].result), 3);
        ck_assert_int_eq(res[2].code, WIRE_JSONRPC_METHOD_NOT_FOUND);
        json_t *want = parse("{\"client said\": [\"hi\"]}");
        ck_assert(json_equal(res[3].result, want));
        json_decref(want);
        /* The batch's array came after the callback's answer (it waited
         * for its slowest member). */
        ck_assert_int_lt(res[3].order, res[1].order);
        pair_free(&pr);
        res_clear(res, 4);
    }
}
END_TEST

/* The server goes away with calls outstanding: each fails once. */
START_TEST(test_loop_server_gone)
{
    struct pair pr;
    pair_new(&pr, FR_LINES, 0);
    nlater = 0;
    struct res res[10] = {{0}};
    for (int i = 0; i < 10; i++) {
        res[i].cl = &pr.ccl;
        wire_jsonrpc_call(pr.client, "later", NULL, 0, on_res, &res[i], NULL);
    }
    while (nlater < 10)
        ck_assert_int_ge(wire_loop_run_once(pr.loop, true), 0);
    wire_jsonrpc_close(pr.server);
    struct counted c = {res, 10};
    ck_assert(unit_run_until(pr.loop, all_done, &c, 5000));
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(res[i].n, 1);
        ck_assert_int_eq(res[i].code, WIRE_ECLOSED);
    }
    ck_assert(unit_run_until(pr.loop, both_closed, &pr, 5000));
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(wire_jsonrpc_respond(later[i], NULL), WIRE_ECLOSED);
    ck_assert_int_eq(wire_loop_run(pr.loop), 0);
    wire_loop_free(pr.loop);
}
END_TEST

/* ---- over HTTP ---- */

/* Section 7 with the HTTP server layer under the peer: each request a
 * POST, each answer a 200 with the response, each message without one a
 * 204 -- at once, inside the delivery (the peer's WIRE_REPLY_NONE), not
 * at the layer's deadline (the next step). */
START_TEST(test_http_spec_server)
{
    notifications = 0;
    static const size_t pieces[] = {0, 7, 1};
    for (size_t k = 0; k < 3; k++) {
        struct rt r;
        rt_new(&r, FR_HTTP_SERVER);
        for (size_t i = 0; i < NVEC; i++) {
            rt_feed(&r, spec_vectors[i].req, pieces[k]);
            /* Answered (or 204) before any step. */
            ck_assert_msg(strstr(unit_output(r.st), "\r\n\r\n") != NULL,
                          "%s, pieces of %zu: no answer before a step",
                          spec_vectors[i].name, pieces[k]);
            int before = r.n204;
            char ctx[120];
            snprintf(ctx, sizeof(ctx), "%s, pieces of %zu",
                     spec_vectors[i].name, pieces[k]);
            expect_one(&r, spec_vectors[i].resp, ctx);
            ck_assert_int_eq(r.n204 - before, spec_vectors[i].resp == NULL);
        }
        ck_assert_int_eq(r.n204, 3);
        ck_assert(!wire_string_transport_closed(r.st));
        rt_free(&r);
    }
    ck_assert_int_eq(notifications, 3 * 4);
}
END_TEST

/* The same exchanges from the client's side over the HTTP client layer:
 * each message one POST; the answers come in request order (a 204 for
 * the notification), and the batch's members in any order inside its
 * one answer. */
START_TEST(test_http_spec_client)
{
    struct rt r;
    rt_new(&r, FR_HTTP_CLIENT);
    struct res res[8] = {{0}};
    struct wire_error err = {0};
    ck_assert_int_eq(wire_jsonrpc_call(r.rpc, "subtract", json_pack("[ii]", 42, 23),
                                       0, on_res, &res[0], &err), 0);
    ck_assert_int_eq(wire_jsonrpc_call(r.rpc, "subtract",
                                       json_pack("{sisi}", "subtrahend", 23,
                                                 "minuend", 42),
                                       0, on_res, &res[1], &err), 0);
    ck_assert_int_eq(wire_jsonrpc_notify(r.rpc, "update",
                                         json_pack("[iiiii]", 1, 2, 3, 4, 5),
                                         &err), 0);
    ck_assert_int_eq(wire_jsonrpc_call(r.rpc, "foobar", NULL, 0, on_res,
                                       &res[2], &err), 0);
    json_t *got = rt_take(&r);
    json_t *want = parse(
        "[{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [42, 23], \"id\": 1},"
        " {\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": {\"subtrahend\": 23, \"minuend\": 42}, \"id\": 2},"
        " {\"jsonrpc\": \"2.0\", \"method\": \"update\", \"params\": [1,2,3,4,5]},"
        " {\"jsonrpc\": \"2.0\", \"method\": \"foobar\", \"id\": 3}]");
    ck_assert(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    /* The answers, in request order, at every split. */
    rt_feed(&r, "{\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 1}", 1);
    ck_assert_int_eq(res[0].n, 1);
    rt_feed(&r, "{\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 2}", 3);
    st_feed(r.st, "HTTP/1.1 204 No Content\r\n\r\n");
    rt_feed(&r, "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32601, \"message\": \"Method not found\"}, \"id\": 3}", 0);
    ck_assert_int_eq(json_integer_value(res[0].result), 19);
    ck_assert_int_eq(res[1].n, 1);
    ck_assert_int_eq(json_integer_value(res[1].result), 19);
    ck_assert_int_eq(res[2].n, 1);
    ck_assert_int_eq(res[2].code, -32601);
    ck_assert(!res[2].local);
    ck_assert(res[0].order < res[1].order && res[1].order < res[2].order);

    struct wire_jsonrpc_batch *b = wire_jsonrpc_batch_new(r.rpc);
    ck_assert_int_eq(wire_jsonrpc_batch_call(b, "sum", json_pack("[iii]", 1, 2, 4),
                                             on_res, &res[3]), 0);
    ck_assert_int_eq(wire_jsonrpc_batch_notify(b, "notify_hello",
                                               json_pack("[i]", 7)), 0);
    ck_assert_int_eq(wire_jsonrpc_batch_call(b, "subtract",
                                             json_pack("[ii]", 42, 23),
                                             on_res, &res[4]), 0);
    ck_assert_int_eq(wire_jsonrpc_batch_call(b, "get_data", NULL, on_res,
                                             &res[5]), 0);
    ck_assert_int_eq(wire_jsonrpc_batch_send(b, 0, &err), 0);
    got = rt_take(&r);
    want = parse(
        "[[{\"jsonrpc\": \"2.0\", \"method\": \"sum\", \"params\": [1,2,4], \"id\": 4},"
        "  {\"jsonrpc\": \"2.0\", \"method\": \"notify_hello\", \"params\": [7]},"
        "  {\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [42,23], \"id\": 5},"
        "  {\"jsonrpc\": \"2.0\", \"method\": \"get_data\", \"id\": 6}]]");
    ck_assert(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    rt_feed(&r, "[{\"jsonrpc\": \"2.0\", \"result\": [\"hello\", 5], \"id\": 6},"
                " {\"jsonrpc\": \"2.0\", \"result\": 7, \"id\": 4},"
                " {\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 5}]", 0);
    ck_assert_int_eq(json_integer_value(res[3].result), 7);
    ck_assert_int_eq(json_integer_value(res[4].result), 19);
    want = parse("[\"hello\", 5]");
    ck_assert(json_equal(res[5].result, want));
    json_decref(want);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(res[i].n, 1);
    expect_one(&r, NULL, "after responses"); /* no request made of them */
    /* A call the server answers with no message (204): it stays pending,
     * and fails when the connection goes. */
    ck_assert_int_eq(wire_jsonrpc_call(r.rpc, "x", NULL, 0, on_res, &res[6],
                                       &err), 0);
    json_decref(rt_take(&r));
    st_feed(r.st, "HTTP/1.1 204 No Content\r\n\r\n");
    wire_string_transport_step(r.st);
    ck_assert_int_eq(res[6].n, 0);
    rt_free(&r);
    ck_assert_int_eq(res[6].n, 1);
    ck_assert_int_eq(res[6].code, WIRE_ECLOSED);
    res_clear(res, 8);
}
END_TEST

/* Answers given later over the HTTP server layer: the request waits (no
 * 204, however many steps), and so do the requests behind it (HTTP
 * answers in order: they are not even delivered); a notification, and a
 * batch of them, get their 204 at once even when their handler answers
 * later; a batch with a call answered later waits for it. */
START_TEST(test_http_server_later)
{
    struct rt r;
    rt_new(&r, FR_HTTP_SERVER);
    nlater = 0;
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":1}", 0);
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[2],\"id\":2}", 0);
    for (int i = 0; i < 10; i++)
        wire_string_transport_step(r.st);
    ck_assert_int_eq(nlater, 1);
    expect_one(&r, NULL, "owed: nothing yet");
    ck_assert_int_eq(r.n204, 0);
    ck_assert_int_eq(wire_jsonrpc_respond(later[0], json_string("one")), 0);
    json_t *got = rt_take(&r);
    json_t *want = parse("[{\"jsonrpc\":\"2.0\",\"result\":\"one\",\"id\":1},"
                         " {\"jsonrpc\":\"2.0\",\"result\":[2],\"id\":2}]");
    ck_assert(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    ck_assert_int_eq(r.n204, 0);

    /* A notification whose handler answers later: 204 now. */
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"later\"}", 0);
    ck_assert_int_eq(nlater, 2);
    expect_one(&r, NULL, "a notification");
    ck_assert_int_eq(r.n204, 1);
    ck_assert_int_eq(wire_jsonrpc_respond(later[1], NULL), 0);
    expect_one(&r, NULL, "the notification answered");
    ck_assert_int_eq(r.n204, 1);

    /* A batch of notifications answered later: 204 now. */
    rt_feed(&r, "[{\"jsonrpc\":\"2.0\",\"method\":\"later\"},"
                " {\"jsonrpc\":\"2.0\",\"method\":\"update\"}]", 0);
    ck_assert_int_eq(nlater, 3);
    expect_one(&r, NULL, "a batch of notifications");
    ck_assert_int_eq(r.n204, 2);
    ck_assert_int_eq(wire_jsonrpc_respond(later[2], NULL), 0);

    /* A batch whose only call answers later, with an error member and a
     * notification answered later: the array once all are answered. */
    rt_feed(&r, "[{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":\"a\"},"
                " 5,"
                " {\"jsonrpc\":\"2.0\",\"method\":\"later\"}]", 0);
    ck_assert_int_eq(nlater, 5);
    for (int i = 0; i < 10; i++)
        wire_string_transport_step(r.st);
    expect_one(&r, NULL, "batch: owed");
    ck_assert_int_eq(wire_jsonrpc_respond(later[3], json_true()), 0);
    expect_one(&r, NULL, "batch: a notification left");
    ck_assert_int_eq(wire_jsonrpc_respond(later[4], NULL), 0);
    expect_one(&r, "[{\"jsonrpc\":\"2.0\",\"result\":true,\"id\":\"a\"},"
                   " {\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null}]",
               "batch: all answered");
    /* A batch of notifications and an error: the error at once. */
    rt_feed(&r, "[{\"jsonrpc\":\"2.0\",\"method\":\"later\"}, 5]", 0);
    ck_assert_int_eq(nlater, 6);
    expect_one(&r, NULL, "batch: a notification left");
    ck_assert_int_eq(wire_jsonrpc_respond(later[5], NULL), 0);
    expect_one(&r, "[{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null}]",
               "batch: its error");

    /* Responses and blank messages answer nothing: 204. */
    int n204 = r.n204;
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":77}", 0);
    rt_feed(&r, " \n ", 0);
    expect_one(&r, NULL, "a response, a blank message");
    ck_assert_int_eq(r.n204, n204 + 2);

    /* The client's EOF while an answer is owed: the answer goes out,
     * then the connection closes. */
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":9}", 0);
    ck_assert_int_eq(nlater, 7);
    ck_assert_int_eq(wire_string_transport_feed_eof(r.st), 0);
    wire_string_transport_step(r.st);
    ck_assert(!wire_string_transport_closed(r.st));
    ck_assert_int_eq(r.closed.n, 0);
    ck_assert_int_eq(wire_jsonrpc_respond(later[6], json_integer(9)), 0);
    expect_one(&r, "{\"jsonrpc\":\"2.0\",\"result\":9,\"id\":9}", "after EOF");
    ck_assert(wire_string_transport_closed(r.st));
    ck_assert_int_eq(r.closed.n, 1);
    ck_assert_int_eq(r.closed.code, 0);
    rt_free(&r);

    /* Closed while an answer is owed: 204 and Connection: close; the
     * late answer then finds the connection gone. */
    rt_new(&r, FR_HTTP_SERVER);
    nlater = 0;
    rt_feed(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":1}", 0);
    wire_jsonrpc_close(r.rpc);
    wire_string_transport_step(r.st);
    ck_assert_contains(unit_output(r.st), "Connection: close");
    expect_one(&r, NULL, "closed while owed");
    ck_assert_int_eq(r.n204, 1);
    rt_free(&r);
    ck_assert_int_eq(wire_jsonrpc_respond(later[0], NULL), WIRE_ECLOSED);
}
END_TEST

/* Over the memory pair: sleeps that overtake each other over lines
 * (test_loop_out_of_order) come back in call order over HTTP, each
 * answer with its own call (none cut short by a 204: reply_timeout_ms is
 * 0), and the notifications between them are not held up. */
START_TEST(test_http_loop_order)
{
    struct pair pr;
    pair_new_http(&pr, 0);
    static const int ms[] = {80, 5, 40, 0, 20};
    struct res res[5] = {{0}};
    res_clock = 0;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(wire_jsonrpc_call(pr.client, "sleep",
                                           json_pack("{si}", "ms", ms[i]), 0,
                                           on_res, &res[i], NULL), 0);
        ck_assert_int_eq(wire_jsonrpc_notify(pr.client, "sum",
                                             json_pack("[i]", i), NULL), 0);
    }
    struct counted c = {res, 5};
    ck_assert(unit_run_until(pr.loop, all_done, &c, 5000));
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(res[i].n, 1);
        ck_assert_msg(res[i].result != NULL, "call %d: %s", i, res[i].msg);
        ck_assert_int_eq(json_integer_value(res[i].result), ms[i]);
        if (i > 0) /* in call order: HTTP's */
            ck_assert_int_lt(res[i - 1].order, res[i].order);
    }
    pair_free(&pr);
    ck_assert_int_eq(pr.ccl.code, 0);
    ck_assert_int_eq(pr.scl.code, 0);
    res_clear(res, 5);
}
END_TEST

/* A call that times out at the client holds its HTTP request (and the
 * one behind it) until the server answers it; the late answer is then an
 * unknown id, logged and dropped, and the call behind it is answered.
 * Nothing deadlocks. */
START_TEST(test_http_loop_timeout)
{
    struct pair pr;
    pair_new_http(&pr, 50);
    logged[0] = '\0';
    wire_loop_set_log(pr.loop, capture_log, NULL);
    nlater = 0;
    struct res res[2] = {{0}};
    ck_assert_int_eq(wire_jsonrpc_call(pr.client, "later", NULL, 0, on_res,
                                       &res[0], NULL), 0);
    ck_assert_int_eq(wire_jsonrpc_call(pr.client, "sum", json_pack("[ii]", 1, 2),
                                       UINT64_MAX, on_res, &res[1], NULL), 0);
    struct counted c = {res, 1};
    ck_assert(unit_run_until(pr.loop, all_done, &c, 5000));
    ck_assert_int_eq(res[0].code, WIRE_ETIMEDOUT);
    ck_assert_int_eq(res[1].n, 0); /* behind the owed answer */
    ck_assert_int_eq(nlater, 1);
    ck_assert_int_eq(wire_jsonrpc_respond(later[0], json_true()), 0);
    c.res = &res[1];
    ck_assert(unit_run_until(pr.loop, all_done, &c, 5000));
    ck_assert_int_eq(json_integer_value(res[1].result), 3);
    ck_assert_contains(logged, "jsonrpc: dropped a response with unknown id 1");
    pair_free(&pr);
    res_clear(res, 2);
}
END_TEST

/* Many calls and notifications pipelined over HTTP, half of them
 * answered on a later turn (by a timer). */
START_TEST(test_http_loop_many)
{
    enum { N = 600 };
    struct pair pr;
    pair_new_http(&pr, 0);
    struct res *res = calloc(N, sizeof(*res));
    ck_assert_ptr_nonnull(res);
    res_clock = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(wire_jsonrpc_call(pr.client, i % 2 ? "echo" : "sleep",
                                           json_pack("{si}", "ms", i % 3), 0,
                                           on_res, &res[i], NULL), 0);
        if (i % 5 == 0)
            ck_assert_int_eq(wire_jsonrpc_notify(pr.client, "echo",
                                                 json_pack("[i]", i), NULL), 0);
    }
    struct counted c = {res, N};
    ck_assert(unit_run_until(pr.loop, all_done, &c, 20000));
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(res[i].n, 1);
        if (i % 2)
            ck_assert_int_eq(json_integer_value(json_object_get(res[i].result, "ms")),
                             i % 3);
        else
            ck_assert_int_eq(json_integer_value(res[i].result), i % 3);
        if (i > 0)
            ck_assert_int_lt(res[i - 1].order, res[i].order);
    }
    pair_free(&pr);
    res_clear(res, N);
    free(res);
}
END_TEST

Suite *
jsonrpc_suite(void)
{
    Suite *s = suite_create("jsonrpc");
    TCase *tc = unit_tcase(s, "spec");
    tcase_add_test(tc, test_spec_server);
    tcase_add_test(tc, test_spec_client);
    tc = unit_tcase(s, "server");
    tcase_add_test(tc, test_server_plain_form);
    tcase_add_test(tc, test_server_ids);
    tcase_add_test(tc, test_server_later);
    tcase_add_test(tc, test_server_after_close);
    tcase_add_test(tc, test_server_handler_closes);
    tcase_add_test(tc, test_server_limits);
    tcase_add_test(tc, test_server_eof_waits);
    tc = unit_tcase(s, "client");
    tcase_add_test(tc, test_client_responses);
    tcase_add_test(tc, test_client_refused);
    tcase_add_test(tc, test_client_lost);
    tcase_add_test(tc, test_client_before_made);
    tc = unit_tcase(s, "loop");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_loop_out_of_order);
    tcase_add_test(tc, test_loop_timeout);
    tcase_add_test(tc, test_loop_many);
    tcase_add_test(tc, test_loop_batch_and_callback);
    tcase_add_test(tc, test_loop_server_gone);
    tc = unit_tcase(s, "http");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_http_spec_server);
    tcase_add_test(tc, test_http_spec_client);
    tcase_add_test(tc, test_http_server_later);
    tcase_add_test(tc, test_http_loop_order);
    tcase_add_test(tc, test_http_loop_timeout);
    tcase_add_test(tc, test_http_loop_many);
    return s;
}
