/*
 * JSON-RPC 2.0: the protocol.  Each data_received is one JSON text (the
 * framing below — lines, Content-Length, HTTP — made it one message);
 * each message we write is one wire_transport_write, so the framing frames
 * each.  This file checks the limits before parsing (the size, and the
 * nesting depth, which jansson cannot bound), parses, tells requests to us
 * (a "method" member) from responses to our calls ("result" or "error"),
 * and hands them to server.c and client.c.  It also owns the peer's life:
 * creation, the queue of messages written before the connection is made,
 * close, and the order of things at the end (every call of ours fails,
 * then on_close, then unanswered calls to us are detached).
 */
#include "jsonrpc_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Messages up to this size are dumped on the stack (see jr_send). */
#define JR_SMALL_TEXT 2048

static struct wire_jsonrpc *
jr_of(struct wire_protocol *p)
{
    return (struct wire_jsonrpc *)(void *)p;
}

void
jr_log(struct wire_jsonrpc *rpc, enum wire_log_level level, const char *fmt,
       ...)
{
    if (rpc->loop == NULL)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    wire_loop_log(rpc->loop, level, "jsonrpc: %s", msg);
}

bool
jr_writable(const struct wire_jsonrpc *rpc)
{
    return !rpc->closing && !rpc->lost;
}

/* ---- writing ---- */

static void
free_text(void *arg, const void *data, size_t len)
{
    (void)arg;
    (void)len;
    free((void *)(uintptr_t)data);
}

static int
write_text(struct wire_jsonrpc *rpc, char *text, size_t len)
{
    /* By reference: the framing layer frames it as it is, no copy. */
    int rc = wire_transport_write_ref(rpc->t, text, len, free_text, NULL);
    if (rc != 0)
        free(text); /* an error leaves it ours */
    return rc;
}

/* Append the compact text of `v` at b[at], at most `cap` bytes in all:
 * an integer by hand (jansson formats each with snprintf, the largest
 * cost of dumping a small response), anything else with json_dumpb, so
 * the text is the one json_dumps would give.  Returns the new length, or
 * 0 when it does not fit. */
static size_t
put_value(char *b, size_t at, size_t cap, json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        /* Negated as unsigned: the most negative value has no positive. */
        unsigned long long u = x < 0 ? 0ull - (unsigned long long)x
                                     : (unsigned long long)x;
        char tmp[24];
        size_t n = 0;
        do {
            tmp[sizeof(tmp) - ++n] = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (x < 0)
            tmp[sizeof(tmp) - ++n] = '-';
        if (n > cap - at)
            return 0;
        memcpy(b + at, tmp + sizeof(tmp) - n, n);
        return at + n;
    }
    size_t n = json_dumpb(v, b + at, cap - at, JSON_COMPACT | JSON_ENCODE_ANY);
    return n > 0 && n <= cap - at ? at + n : 0;
}

static size_t
put_text(char *b, size_t at, size_t cap, const char *s, size_t n)
{
    if (at == 0 || n > cap - at)
        return 0;
    memcpy(b + at, s, n);
    return at + n;
}

/*
 * The message nearly every call answers with, the response
 * {"jsonrpc":"2.0","result":R,"id":I}, written by hand straight from R
 * and I into a stack buffer: the same text json_dumpb would give for the
 * object, without building the object (its hash table and three members)
 * or walking it.  Returns JR_NOFIT, owning nothing, when the connection
 * is not up yet or the text does not fit; then the caller builds the
 * object and jr_send()s it.
 */
int
jr_send_result(struct wire_jsonrpc *rpc, json_t *result, json_t *id)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"result\":";
    if (!rpc->made || !jr_writable(rpc))
        return JR_NOFIT;
    char b[JR_SMALL_TEXT];
    size_t cap = sizeof(b);
    memcpy(b, head, sizeof(head) - 1);
    size_t at = put_value(b, sizeof(head) - 1, cap,
                          result != NULL ? result : json_null());
    at = put_text(b, at, cap, ",\"id\":", 6);
    at = at > 0 ? put_value(b, at, cap, id != NULL ? id : json_null()) : 0;
    at = put_text(b, at, cap, "}", 1);
    if (at == 0)
        return JR_NOFIT;
    json_decref(result);
    return wire_transport_write(rpc->t, b, at);
}

int
jr_send(struct wire_jsonrpc *rpc, json_t *msg)
{
    if (msg == NULL)
        return WIRE_ENOMEM;
    if (!jr_writable(rpc)) {
        json_decref(msg);
        return WIRE_ECLOSED;
    }
    if (rpc->made) {
        /* Most messages fit a stack buffer: dumped there and written by
         * copy, they cost no allocation of the text nor of a reference
         * to it (json_dumpb says how much a larger one needs). */
        char small[JR_SMALL_TEXT];
        size_t n = json_dumpb(msg, small, sizeof(small), JSON_COMPACT);
        if (n > 0 && n <= sizeof(small)) {
            json_decref(msg);
            return wire_transport_write(rpc->t, small, n);
        }
    }
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text == NULL)
        return WIRE_ENOMEM;
    size_t len = strlen(text);
    if (rpc->made)
        return write_text(rpc, text, len);
    struct jr_out *o = malloc(sizeof(*o));
    if (o == NULL) {
        free(text);
        return WIRE_ENOMEM;
    }
    o->next = NULL;
    o->text = text;
    o->len = len;
    if (rpc->otail != NULL)
        rpc->otail->next = o;
    else
        rpc->ohead = o;
    rpc->otail = o;
    return 0;
}

static void
free_outq(struct wire_jsonrpc *rpc)
{
    while (rpc->ohead != NULL) {
        struct jr_out *o = rpc->ohead;
        rpc->ohead = o->next;
        free(o->text);
        free(o);
    }
    rpc->otail = NULL;
}

/* ---- limits ---- */

/* Is the nesting (arrays and objects, outside strings) at most `max`?
 * Jansson has no depth limit of its own below 2048, and parsing a deep
 * text costs a stack frame per level. */
static bool
depth_ok(const unsigned char *d, size_t len, size_t max)
{
    size_t depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = d[i];
        if (in_str) {
            if (c == '\\')
                i++; /* whatever is escaped cannot end the string */
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return true;
}

/* ---- reading the id of a message too large to parse ---- */

enum { SCAN_OBJECT, SCAN_ARRAY, SCAN_UNREADABLE };

struct scan {
    const unsigned char *d;
    size_t len, i;
};

static void
sc_ws(struct scan *s)
{
    while (s->i < s->len && jr_is_ws(s->d[s->i]))
        s->i++;
}

/* A string token at s->i: past its closing quote.  False if unended. */
static bool
sc_string(struct scan *s)
{
    for (s->i++; s->i < s->len; s->i++) {
        if (s->d[s->i] == '\\')
            s->i++;
        else if (s->d[s->i] == '"') {
            s->i++;
            return true;
        }
    }
    return false;
}

/* Skip one value of any kind. */
static bool
sc_value(struct scan *s)
{
    if (s->i >= s->len)
        return false;
    unsigned char c = s->d[s->i];
    if (c == '"')
        return sc_string(s);
    if (c == '[' || c == '{') {
        size_t depth = 0;
        while (s->i < s->len) {
            c = s->d[s->i];
            if (c == '"') {
                if (!sc_string(s))
                    return false;
                continue;
            }
            if (c == '[' || c == '{')
                depth++;
            else if ((c == ']' || c == '}') && --depth == 0) {
                s->i++;
                return true;
            }
            s->i++;
        }
        return false;
    }
    size_t start = s->i;
    while (s->i < s->len && strchr(",]}", s->d[s->i]) == NULL && !jr_is_ws(s->d[s->i]))
        s->i++;
    return s->i > start;
}

/*
 * Find the "id" member of a message too large to parse, without parsing
 * the rest: the top-level object's members are skipped token by token.
 * `*id` becomes the id (a string, number or null; JSON null when there is
 * none or it is not one of those).
 */
static int
scan_id_in(const void *data, size_t len, json_t **id)
{
    struct scan s = {data, len, 0};
    *id = NULL;
    sc_ws(&s);
    if (s.i < len && s.d[s.i] == '[')
        return SCAN_ARRAY;
    if (s.i >= len || s.d[s.i] != '{')
        return SCAN_UNREADABLE;
    s.i++;
    for (;;) {
        sc_ws(&s);
        if (s.i < len && s.d[s.i] == '}')
            break;
        if (s.i >= len || s.d[s.i] != '"')
            return SCAN_UNREADABLE;
        size_t k0 = s.i;
        if (!sc_string(&s))
            return SCAN_UNREADABLE;
        bool is_id = s.i - k0 == 4 && memcmp(s.d + k0, "\"id\"", 4) == 0;
        sc_ws(&s);
        if (s.i >= len || s.d[s.i] != ':')
            return SCAN_UNREADABLE;
        s.i++;
        sc_ws(&s);
        size_t v0 = s.i;
        if (!sc_value(&s))
            return SCAN_UNREADABLE;
        if (is_id && *id == NULL) {
            json_t *v = json_loadb((const char *)s.d + v0, s.i - v0,
                                   JR_PARSE_FLAGS, NULL);
            if (v == NULL)
                return SCAN_UNREADABLE;
            if (!json_is_string(v) && !json_is_number(v) && !json_is_null(v)) {
                json_decref(v);
                v = json_null();
            }
            *id = v;
        }
        sc_ws(&s);
        if (s.i < len && s.d[s.i] == ',') {
            s.i++;
            continue;
        }
        if (s.i < len && s.d[s.i] == '}')
            break;
        json_decref(*id);
        *id = NULL;
        return SCAN_UNREADABLE;
    }
    if (*id == NULL)
        *id = json_null();
    return SCAN_OBJECT;
}

/* The id of a message too large to parse: SCAN_OBJECT with `*id` (null
 * when it has none or an invalid one), SCAN_ARRAY, or SCAN_UNREADABLE
 * with `*id` NULL (an id read before the text turned out unreadable is
 * dropped). */
static int
scan_id(const void *data, size_t len, json_t **id)
{
    int kind = scan_id_in(data, len, id);
    if (kind == SCAN_UNREADABLE) {
        json_decref(*id);
        *id = NULL;
    }
    return kind;
}

static void
too_large(struct wire_jsonrpc *rpc, const void *data, size_t len)
{
    json_t *id = NULL;
    int kind = scan_id(data, len, &id);
    if (kind == SCAN_UNREADABLE) {
        /* Not even an id to answer to: the peer gets nothing it could
         * match, so the connection cannot go on usefully. */
        jr_log(rpc, WIRE_LOG_WARN,
               "a message of %zu bytes, over the limit of %zu, whose id "
               "cannot be read: closing the connection",
               len, rpc->max_message);
        rpc->closing = true;
        wire_transport_close(rpc->t);
        return;
    }
    jr_send(rpc, jr_error_response(id, WIRE_JSONRPC_INVALID_REQUEST, NULL, NULL));
}

/* ---- dispatch ---- */

static bool
is_response(json_t *o)
{
    return json_object_get(o, "method") == NULL &&
           (json_object_get(o, "result") != NULL ||
            json_object_get(o, "error") != NULL);
}

/* Returns true when the batch's array is owed: it goes out later. */
static bool
dispatch_batch(struct wire_jsonrpc *rpc, json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n == 0) {
        jr_send(rpc, jr_error_response(NULL, WIRE_JSONRPC_INVALID_REQUEST,
                                       NULL, NULL));
        return false;
    }
    struct jr_inbatch *b = jr_inbatch_new(rpc, n);
    if (b == NULL) {
        jr_send(rpc, jr_error_response(NULL, WIRE_JSONRPC_INTERNAL_ERROR,
                                       NULL, NULL));
        return false;
    }
    /* The batch holds one count of its own while its members are
     * dispatched, so members answered at once do not send it early. */
    for (size_t i = 0; i < n; i++) {
        json_t *el = json_array_get(arr, i);
        if (json_is_object(el) && is_response(el))
            jr_client_response(rpc, el);
        else
            jr_server_request(rpc, el, b, i);
    }
    bool owed = jr_inbatch_owed(b);
    jr_inbatch_release(b);
    return owed;
}

/*
 * Tell the transport whether the message just handled will be answered
 * (wire_transport_hint_reply).  A transport that pairs each message with
 * an answer (the HTTP server layer) then answers "nothing" (204) at once
 * for a notification, and waits as long as it takes for an answer owed;
 * every other transport says WIRE_ENOTSUP, ignored: the protocol stays
 * the same over any transport.  Whatever was written while handling the
 * message (a response, an error) is its answer already; the hint does
 * not change that.
 */
static void
hint_reply(struct wire_jsonrpc *rpc, bool owed)
{
    if (rpc->t == NULL || rpc->closing || rpc->lost)
        return;
    (void)wire_transport_hint_reply(rpc->t, owed ? WIRE_REPLY_LATER
                                                 : WIRE_REPLY_NONE);
}

static void
jr_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct wire_jsonrpc *rpc = jr_of(p);
    jr_client_run_failed(rpc);
    if (rpc->closing || rpc->lost)
        return;
    const unsigned char *d = data;
    size_t i = 0;
    while (i < len && jr_is_ws(d[i]))
        i++;
    bool owed = false;
    if (i == len) {
        /* a blank line between messages: nothing to answer */
    } else if (len > rpc->max_message) {
        too_large(rpc, data, len);
    } else if (!depth_ok(d, len, rpc->max_depth)) {
        jr_log(rpc, WIRE_LOG_INFO, "a message nested deeper than %zu levels",
               rpc->max_depth);
        jr_send(rpc, jr_error_response(NULL, WIRE_JSONRPC_PARSE_ERROR, NULL,
                                       NULL));
    } else if (!jr_fast_request(rpc, d, len, &owed)) {
        json_error_t jerr;
        json_t *root = json_loadb(data, len, JR_PARSE_FLAGS, &jerr);
        if (root == NULL)
            jr_send(rpc, jr_error_response(NULL, WIRE_JSONRPC_PARSE_ERROR,
                                           NULL, NULL));
        else if (json_is_array(root))
            owed = dispatch_batch(rpc, root);
        else if (json_is_object(root) && is_response(root))
            jr_client_response(rpc, root); /* responses answer nothing */
        else
            owed = jr_server_request(rpc, root, NULL, 0);
        json_decref(root);
    }
    hint_reply(rpc, owed);
}

/* ---- the protocol's life ---- */

static void
jr_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct wire_jsonrpc *rpc = jr_of(p);
    rpc->t = t;
    rpc->loop = wire_transport_loop(t);
    rpc->made = true;
    /* What was written before: in order, ahead of anything newer. */
    while (rpc->ohead != NULL) {
        struct jr_out *o = rpc->ohead;
        rpc->ohead = o->next;
        write_text(rpc, o->text, o->len);
        free(o);
    }
    rpc->otail = NULL;
    jr_client_start(rpc);
    if (rpc->closing) {
        wire_transport_close(t);
        return;
    }
    if (rpc->on_open != NULL)
        rpc->on_open(rpc->arg, rpc, t);
}

static bool
jr_eof(struct wire_protocol *p)
{
    struct wire_jsonrpc *rpc = jr_of(p);
    /* The peer sends nothing more, so our calls will get no answer; but
     * calls to us still being answered may be written (half-close). */
    if (rpc->nwaiting > 0 && !rpc->closing) {
        rpc->peer_eof = true;
        return true;
    }
    return false;
}

static void
report_close(struct wire_jsonrpc *rpc, const struct wire_error *err)
{
    if (rpc->closed_reported)
        return;
    rpc->closed_reported = true;
    if (rpc->on_close != NULL)
        rpc->on_close(rpc->arg, err);
    /* Calls made from on_close fail at once (batches run their
     * callbacks; single calls were refused). */
    jr_client_fail_all(rpc, err);
}

static void
jr_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct wire_jsonrpc *rpc = jr_of(p);
    rpc->lost = true;
    jr_client_run_failed(rpc);
    jr_client_fail_all(rpc, err);
    report_close(rpc, err);
    rpc->t = NULL;
}

static void
jr_pause(struct wire_protocol *p)
{
    struct wire_jsonrpc *rpc = jr_of(p);
    rpc->write_paused = true;
    /* Stop taking requests while their answers cannot go out.  Not while
     * calls of ours wait: their responses are what frees the peer to read
     * what we wrote (two peers that both stopped reading would wait for
     * each other for ever). */
    if (rpc->npending == 0 && rpc->t != NULL && !rpc->read_paused) {
        rpc->read_paused = true;
        wire_transport_pause_reading(rpc->t);
    }
}

static void
jr_resume(struct wire_protocol *p)
{
    struct wire_jsonrpc *rpc = jr_of(p);
    rpc->write_paused = false;
    if (rpc->read_paused && rpc->t != NULL) {
        rpc->read_paused = false;
        wire_transport_resume_reading(rpc->t);
    }
}

static void
jr_destroy(struct wire_protocol *p)
{
    struct wire_jsonrpc *rpc = jr_of(p);
    /* Never made (a failed connect): the calls made meanwhile fail now,
     * and on_close says so. */
    if (!rpc->closed_reported) {
        struct wire_error e = {0};
        wire_error_set(&e, WIRE_ECLOSED, "jsonrpc: the connection was never made");
        rpc->lost = true;
        jr_client_run_failed(rpc);
        jr_client_fail_all(rpc, &e);
        report_close(rpc, &e);
        wire_error_clear(&e);
    }
    jr_client_run_failed(rpc);
    jr_server_detach(rpc);
    jr_client_free(rpc);
    free_outq(rpc);
    for (size_t i = 0; i < rpc->nmethods; i++)
        free((char *)(uintptr_t)rpc->methods[i].name);
    free(rpc->methods);
    free(rpc);
}

static const struct wire_protocol_ops jsonrpc_ops = {
    .connection_made = jr_made,
    .data_received = jr_data,
    .eof_received = jr_eof,
    .connection_lost = jr_lost,
    .pause_writing = jr_pause,
    .resume_writing = jr_resume,
    .destroy = jr_destroy,
};

struct wire_protocol *
wire_jsonrpc_new(const struct wire_jsonrpc_opts *opts, struct wire_jsonrpc **out,
                 struct wire_error *err)
{
    static const struct wire_jsonrpc_opts none;
    if (opts == NULL)
        opts = &none;
    if (out != NULL)
        *out = NULL;
    if (opts->nmethods > 0 && opts->methods == NULL) {
        wire_error_set(err, WIRE_EINVAL, "jsonrpc: %zu methods but no table",
                       opts->nmethods);
        return NULL;
    }
    for (size_t i = 0; i < opts->nmethods; i++)
        if (opts->methods[i].name == NULL || opts->methods[i].fn == NULL) {
            wire_error_set(err, WIRE_EINVAL,
                           "jsonrpc: method %zu has no name or no function", i);
            return NULL;
        }
    struct wire_jsonrpc *rpc = calloc(1, sizeof(*rpc));
    if (rpc == NULL)
        goto nomem;
    if (opts->nmethods > 0) {
        rpc->methods = calloc(opts->nmethods, sizeof(*rpc->methods));
        if (rpc->methods == NULL) {
            free(rpc);
            goto nomem;
        }
    }
    for (size_t i = 0; i < opts->nmethods; i++) {
        rpc->methods[i] = opts->methods[i];
        rpc->methods[i].name = strdup(opts->methods[i].name);
        rpc->nmethods = i + 1;
        if (rpc->methods[i].name == NULL) {
            jr_destroy(&rpc->base);
            goto nomem;
        }
    }
    wire_protocol_init(&rpc->base, &jsonrpc_ops);
    rpc->max_message = opts->max_message ? opts->max_message
                                         : WIRE_JSONRPC_DEFAULT_MAX_MESSAGE;
    rpc->max_depth = opts->max_depth ? opts->max_depth
                                     : WIRE_JSONRPC_DEFAULT_MAX_DEPTH;
    rpc->timeout_ms = opts->call_timeout_ms ? opts->call_timeout_ms
                                            : WIRE_JSONRPC_DEFAULT_TIMEOUT_MS;
    rpc->on_open = opts->on_open;
    rpc->on_close = opts->on_close;
    rpc->arg = opts->arg;
    rpc->next_id = 1;
    if (out != NULL)
        *out = rpc;
    return &rpc->base;
nomem:
    wire_error_set(err, WIRE_ENOMEM, "jsonrpc: out of memory");
    return NULL;
}

struct wire_protocol *
wire_jsonrpc_factory(void *arg)
{
    return wire_jsonrpc_new(arg, NULL, NULL);
}

void
wire_jsonrpc_close(struct wire_jsonrpc *rpc)
{
    if (rpc == NULL || rpc->closing || rpc->lost)
        return;
    rpc->closing = true;
    /* Graceful: what is queued (answers included) goes out first.  Our
     * calls fail with WIRE_ECLOSED when the loss is delivered. */
    if (rpc->t != NULL)
        wire_transport_close(rpc->t);
}
