/*
 * Fuzz target: a JSON-RPC 2.0 peer (<wire/jsonrpc.h>) serving a method
 * table, fed the other peer's messages over the string transport through
 * one of its framings.
 *
 * Input: cfg, schedule (fuzz.h), then the peer's byte stream.
 * cfg bits 2-3: the framing: lines, lines written with "\r\n",
 * Content-Length headers, the HTTP server layer (each request one
 * message); bit 4: the peer calls the other side first ("ping", id 1),
 * bit 5: and sends a batch (a call and a notification, id 2); bits 6-7:
 * the limits (defaults; max_message 64; max_depth 3; both).
 *
 * Methods: echo (answers its params), err (an error object with the
 * code params[0] gives, or -32000, and params as data), later (answered
 * by the schedule, or at the end), note, close (closes from inside the
 * handler, then answers: WIRE_ECLOSED), call (calls the other side back:
 * "ping" with its params), bad (-32602), fail (a code outside the
 * specification's, which must still go out as given).
 * Schedule actions (code & 3): answer the oldest later call; make a call;
 * close the peer; abort the transport.
 *
 * Invariants: everything written is framed right and each message is a
 * JSON object or a non-empty array of them, each a response (jsonrpc
 * "2.0", an id that is a string, number or null, exactly one of result
 * and error, an error with an integer code and a string message) or one
 * of our own requests (method "ping", an integer id); every call's
 * callback runs exactly once (leak-checked), with a result or an error
 * object or a local error; on_close runs once, after them; no handler
 * runs after on_close.
 */
#include "fuzz.h"

#include <wire/framing.h>
#include <wire/http.h>
#include <wire/jsonrpc.h>
#include <wire/string_transport.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { FR_LINES, FR_CRLF, FR_CL, FR_HTTP };

struct jfuzz {
    struct fuzz_drive drive;
    struct wire_jsonrpc *rpc;
    struct wire_transport *st;
    int framing;
    struct wire_jsonrpc_call *later[32];
    size_t nlater;
    unsigned outstanding; /* our calls whose callback has not run */
    bool opened, closed;
    bool reset; /* the input ends with a reset */
    size_t messages_out;
};

struct pending {
    struct jfuzz *f;
};

static void
on_result(void *arg, json_t *result, const struct wire_jsonrpc_error *error)
{
    struct pending *p = arg;
    struct jfuzz *f = p->f;
    FUZZ_CHECK(!f->closed, "a call's callback after on_close");
    FUZZ_CHECK(f->outstanding > 0, "a call's callback ran twice");
    f->outstanding--;
    FUZZ_CHECK((result != NULL) != (error != NULL),
               "a callback with both or neither of result and error");
    if (error != NULL) {
        if (error->local)
            FUZZ_CHECK(error->code < 0 && error->code > -40000,
                       "a local error with code %d", error->code);
        FUZZ_CHECK(error->message != NULL, "an error without a message");
    }
    free(p);
}

static void
make_call(struct jfuzz *f, json_t *params)
{
    if (f->rpc == NULL) {
        json_decref(params);
        return;
    }
    struct pending *p = malloc(sizeof(*p));
    FUZZ_CHECK(p != NULL, "out of memory");
    p->f = f;
    struct wire_error err = {0};
    int rc = wire_jsonrpc_call(f->rpc, "ping", params, UINT64_MAX, on_result,
                               p, &err);
    if (rc == 0) {
        f->outstanding++;
    } else {
        FUZZ_CHECK(rc == WIRE_ECLOSED, "call refused: %s", err.message);
        wire_error_clear(&err);
        free(p);
    }
}

/* ---- methods ---- */

static void
m_echo(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    struct jfuzz *f = arg;
    FUZZ_CHECK(!f->closed, "a handler after on_close");
    FUZZ_CHECK(params == NULL || json_is_array(params) ||
                   json_is_object(params),
               "params neither array nor object");
    FUZZ_CHECK(strcmp(wire_jsonrpc_call_method(call), "echo") == 0,
               "wrong method name");
    FUZZ_CHECK(wire_jsonrpc_call_peer(call) == f->rpc, "wrong peer");
    wire_jsonrpc_respond(call, params != NULL ? json_incref(params) : NULL);
}

static void
m_err(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    json_t *c = json_array_get(params, 0);
    int code = json_is_integer(c) ? (int)json_integer_value(c) : -32000;
    wire_jsonrpc_respond_error(call, code, "boom",
                               params != NULL ? json_incref(params) : NULL);
}

static void
m_later(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    struct jfuzz *f = arg;
    (void)params;
    if (f->nlater == sizeof(f->later) / sizeof(f->later[0])) {
        wire_jsonrpc_respond(call, json_string("no room"));
        return;
    }
    f->later[f->nlater++] = call;
}

static void
m_note(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    (void)params;
    wire_jsonrpc_respond(call, json_true());
}

static void
m_close(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    (void)params;
    bool note = wire_jsonrpc_call_is_notification(call);
    wire_jsonrpc_close(wire_jsonrpc_call_peer(call));
    int rc = wire_jsonrpc_respond(call, NULL); /* frees the call */
    FUZZ_CHECK(rc == WIRE_ECLOSED || note,
               "an answer after close was taken: %d", rc);
}

static void
m_call(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    struct jfuzz *f = arg;
    make_call(f, params != NULL ? json_incref(params) : NULL);
    wire_jsonrpc_respond(call, json_string("called"));
}

static void
m_bad(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    (void)params;
    wire_jsonrpc_respond_error(call, WIRE_JSONRPC_INVALID_PARAMS, NULL, NULL);
}

static void
m_fail(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    (void)params;
    wire_jsonrpc_respond_error(call, 12345, "custom", json_string("d"));
}

static void
on_close(void *arg, const struct wire_error *err)
{
    struct jfuzz *f = arg;
    FUZZ_CHECK(!f->closed, "on_close twice");
    FUZZ_CHECK(f->outstanding == 0, "on_close with %u calls unanswered",
               f->outstanding);
    FUZZ_CHECK(err == NULL || (err->code < 0 && err->message != NULL),
               "on_close with a bad error");
    f->closed = true;
    f->rpc = NULL;
}

static void
on_open(void *arg, struct wire_jsonrpc *rpc, struct wire_transport *t)
{
    struct jfuzz *f = arg;
    FUZZ_CHECK(!f->opened && rpc == f->rpc && t != NULL,
               "on_open out of order");
    f->opened = true;
}

/* ---- checking what was written ---- */

static bool
valid_id(const json_t *id)
{
    return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

static void
check_one(const json_t *m)
{
    FUZZ_CHECK(json_is_object(m), "a message member that is not an object");
    const json_t *v = json_object_get(m, "jsonrpc");
    FUZZ_CHECK(json_is_string(v) && strcmp(json_string_value(v), "2.0") == 0,
               "a message without jsonrpc 2.0");
    const json_t *method = json_object_get(m, "method");
    const json_t *id = json_object_get(m, "id");
    if (method != NULL) {
        FUZZ_CHECK(json_is_string(method) &&
                       strcmp(json_string_value(method), "ping") == 0,
                   "a request we never made");
        FUZZ_CHECK(id == NULL || json_is_integer(id), "our id is not a number");
        FUZZ_CHECK(json_object_get(m, "result") == NULL &&
                       json_object_get(m, "error") == NULL,
                   "a request with a result or an error");
        return;
    }
    FUZZ_CHECK(id != NULL && valid_id(id), "a response without a valid id");
    const json_t *res = json_object_get(m, "result");
    const json_t *err = json_object_get(m, "error");
    FUZZ_CHECK((res != NULL) != (err != NULL),
               "a response with both or neither of result and error");
    FUZZ_CHECK(json_object_size(m) == 3, "a response with extra members");
    if (err != NULL) {
        FUZZ_CHECK(json_is_object(err), "an error that is not an object");
        FUZZ_CHECK(json_is_integer(json_object_get(err, "code")),
                   "an error without an integer code");
        FUZZ_CHECK(json_is_string(json_object_get(err, "message")),
                   "an error without a message");
        size_t k = json_object_size(err);
        FUZZ_CHECK(k == 2 || (k == 3 && json_object_get(err, "data") != NULL),
                   "an error with extra members");
    }
}

static void
check_message(struct jfuzz *f, const uint8_t *d, size_t len)
{
    json_error_t e;
    json_t *m = json_loadb((const char *)d, len, JSON_REJECT_DUPLICATES, &e);
    FUZZ_CHECK(m != NULL, "a message that is not JSON: %s (%zu bytes)",
               e.text, len);
    if (json_is_array(m)) {
        FUZZ_CHECK(json_array_size(m) > 0, "an empty batch answer");
        size_t i;
        json_t *x;
        json_array_foreach(m, i, x) check_one(x);
    } else {
        check_one(m);
    }
    json_decref(m);
    f->messages_out++;
}

static void
check_output(struct jfuzz *f)
{
    size_t olen;
    const uint8_t *out = wire_string_transport_output(f->st, &olen);
    /* An abort or a reset drops what was queued: then the output may
     * stop anywhere. */
    bool whole = !wire_string_transport_aborted(f->st) && !f->reset;
    if (f->framing == FR_LINES || f->framing == FR_CRLF) {
        size_t pos = 0;
        while (pos < olen) {
            const uint8_t *nl = memchr(out + pos, '\n', olen - pos);
            if (nl == NULL) {
                FUZZ_CHECK(!whole, "output ends inside a line");
                break;
            }
            size_t n = (size_t)(nl - (out + pos));
            if (f->framing == FR_CRLF) {
                FUZZ_CHECK(n > 0 && out[pos + n - 1] == '\r',
                           "a line not ended by CRLF");
                n--;
            }
            check_message(f, out + pos, n);
            pos += (size_t)(nl - (out + pos)) + 1;
        }
    } else if (f->framing == FR_CL) {
        size_t pos = 0;
        while (pos < olen) {
            static const char hd[] = "Content-Length: ";
            size_t hl = sizeof(hd) - 1;
            if (olen - pos < hl) {
                FUZZ_CHECK(!whole && memcmp(out + pos, hd, olen - pos) == 0,
                           "bad Content-Length framing");
                break;
            }
            FUZZ_CHECK(memcmp(out + pos, hd, hl) == 0,
                       "a message without Content-Length");
            size_t p = pos + hl, n = 0, digits = 0;
            while (p < olen && out[p] >= '0' && out[p] <= '9') {
                n = n * 10 + (size_t)(out[p++] - '0');
                digits++;
            }
            if (p + 4 > olen || olen - p - 4 < n) {
                FUZZ_CHECK(!whole, "output ends inside a message");
                break;
            }
            FUZZ_CHECK(digits > 0 && memcmp(out + p, "\r\n\r\n", 4) == 0,
                       "bad Content-Length header");
            check_message(f, out + p + 4, n);
            pos = p + 4 + n;
        }
    } else {
        struct fuzz_http_resps rs;
        const char *why = fuzz_http_parse(out, olen, NULL, NULL, &rs);
        FUZZ_CHECK(why == NULL, "the HTTP layer's output is not HTTP: %s", why);
        FUZZ_CHECK(!rs.upgraded, "the HTTP layer upgraded");
        for (size_t i = 0; i < rs.n; i++) {
            const struct fuzz_http_resp *r = &rs.r[i];
            if (r->status == 200 && (i + 1 < rs.n || !rs.truncated))
                check_message(f, r->body.p, r->body.len);
        }
        fuzz_http_resps_free(&rs);
    }
}

/* ---- driving ---- */

static void
answer_later(struct jfuzz *f)
{
    if (f->nlater == 0)
        return;
    struct wire_jsonrpc_call *c = f->later[0];
    memmove(f->later, f->later + 1, (f->nlater - 1) * sizeof(f->later[0]));
    f->nlater--;
    wire_jsonrpc_respond(c, json_pack("{s:i}", "later", (int)f->nlater));
}

static void
action(void *arg, unsigned code)
{
    struct jfuzz *f = arg;
    switch (code & 3) {
    case 0:
        answer_later(f);
        break;
    case 1:
        make_call(f, json_pack("[i]", (int)(code >> 2)));
        break;
    case 2:
        if (f->rpc != NULL)
            wire_jsonrpc_close(f->rpc);
        break;
    default:
        if (!wire_string_transport_closed(f->st))
            wire_transport_abort(f->st);
        break;
    }
}

static const struct wire_jsonrpc_method methods[] = {
    {"echo", m_echo, NULL},   {"err", m_err, NULL},   {"later", m_later, NULL},
    {"note", m_note, NULL},   {"close", m_close, NULL}, {"call", m_call, NULL},
    {"bad", m_bad, NULL},     {"fail", m_fail, NULL},
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct fuzz_in in = {data, len};
    uint8_t cfg = fuzz_in_byte(&in);
    struct fuzz_in sched = fuzz_in_section(&in);

    struct jfuzz f;
    memset(&f, 0, sizeof(f));
    f.framing = (cfg >> 2) & 3;
    f.reset = (cfg & 3) == FUZZ_END_RESET;
    struct wire_jsonrpc_method table[sizeof(methods) / sizeof(methods[0])];
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        table[i] = methods[i];
        table[i].arg = &f;
    }
    struct wire_jsonrpc_opts o = {0};
    o.methods = table;
    o.nmethods = sizeof(table) / sizeof(table[0]);
    o.max_message = cfg & 0x40 ? 64 : 0;
    o.max_depth = cfg & 0x80 ? 3 : 0;
    o.call_timeout_ms = UINT64_MAX;
    o.on_close = on_close;
    o.on_open = on_open;
    o.arg = &f;
    struct wire_error err = {0};
    struct wire_protocol *rpc = wire_jsonrpc_new(&o, &f.rpc, &err);
    FUZZ_CHECK(rpc != NULL, "jsonrpc: %s", err.message);
    /* Calls made before the connection go out once it is made. */
    if (cfg & 0x10)
        make_call(&f, json_pack("[s]", "first"));
    if (cfg & 0x20) {
        struct wire_jsonrpc_batch *b = wire_jsonrpc_batch_new(f.rpc);
        FUZZ_CHECK(b != NULL, "batch");
        struct pending *p = malloc(sizeof(*p));
        FUZZ_CHECK(p != NULL, "out of memory");
        p->f = &f;
        FUZZ_CHECK(wire_jsonrpc_batch_call(b, "ping", json_pack("{}"),
                                           on_result, p) == 0,
                   "batch call");
        f.outstanding++;
        wire_jsonrpc_batch_notify(b, "ping", NULL);
        int rc = wire_jsonrpc_batch_send(b, UINT64_MAX, &err);
        FUZZ_CHECK(rc == 0, "batch send: %s", err.message);
    }

    struct wire_protocol *p;
    struct wire_chunk_opts co;
    switch (f.framing) {
    case FR_LINES:
    case FR_CRLF:
        wire_lines_opts_init(&co, true, f.framing == FR_CRLF);
        p = wire_chunk_layer_new(rpc, &co, &err);
        break;
    case FR_CL:
        p = wire_content_length_layer_new(rpc, 0, &err);
        break;
    default: {
        struct wire_http_layer_opts lo = {0};
        lo.content_type = "application/json";
        p = wire_http_server_layer_new(rpc, &lo, &err);
        break;
    }
    }
    FUZZ_CHECK(p != NULL, "framing: %s", err.message);
    fuzz_drive_init(&f.drive, NULL, sched, in, action, &f);
    f.st = wire_string_transport_new(p);
    FUZZ_CHECK(f.st != NULL && f.opened, "not started");
    f.drive.t = f.st;

    fuzz_drive_run(&f.drive);
    fuzz_drive_end(&f.drive, cfg);
    for (int i = 0; i < 64 && f.nlater > 0; i++) {
        answer_later(&f);
        fuzz_step_all(f.st);
    }
    check_output(&f);

    wire_string_transport_free(f.st);
    FUZZ_CHECK(f.closed, "on_close never came");
    FUZZ_CHECK(f.nlater == 0, "calls left unanswered");
    return 0;
}
