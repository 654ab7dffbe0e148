/*
 * JSON-RPC 2.0: the server part — requests to us.  Each request object
 * is checked exactly as section 4 of the specification says (a "jsonrpc"
 * member of "2.0", a string method, params an array or an object when
 * present, an id that is a string, a number or null when present), looked
 * up in the method table, and handed to its handler with a call object
 * the handler answers now or later.  Errors are the specification's
 * (section 5.1), with its messages.  A batch's answers are collected in
 * the order of its members and go out as one array when the last one is
 * answered; a batch of notifications gets nothing.
 */
#include "jsonrpc_int.h"

#include <stdlib.h>
#include <string.h>

static const char *
default_message(int code)
{
    switch (code) {
    case WIRE_JSONRPC_PARSE_ERROR: return "Parse error";
    case WIRE_JSONRPC_INVALID_REQUEST: return "Invalid Request";
    case WIRE_JSONRPC_METHOD_NOT_FOUND: return "Method not found";
    case WIRE_JSONRPC_INVALID_PARAMS: return "Invalid params";
    case WIRE_JSONRPC_INTERNAL_ERROR: return "Internal error";
    default:
        if (code >= WIRE_JSONRPC_SERVER_ERROR_MIN &&
            code <= WIRE_JSONRPC_SERVER_ERROR_MAX)
            return "Server error";
        return "Error";
    }
}

static json_t *
response_base(void)
{
    json_t *r = json_object();
    if (r != NULL && json_object_set_new(r, "jsonrpc", json_string("2.0")) != 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

/* Add the member, then "id" (stolen; NULL: null), in the specification's
 * order. */
static json_t *
finish(json_t *r, const char *key, json_t *value, json_t *id)
{
    if (id == NULL)
        id = json_null();
    if (r == NULL || value == NULL) {
        json_decref(r);
        json_decref(value);
        json_decref(id);
        return NULL;
    }
    /* json_object_set_new takes the value even when it fails. */
    if (json_object_set_new(r, key, value) != 0) {
        json_decref(r);
        json_decref(id);
        return NULL;
    }
    if (json_object_set_new(r, "id", id) != 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *
jr_error_response(json_t *id, int code, const char *message, json_t *data)
{
    json_t *e = json_object();
    if (e == NULL ||
        json_object_set_new(e, "code", json_integer(code)) != 0 ||
        json_object_set_new(e, "message",
                            json_string(message != NULL ? message
                                                        : default_message(code))) != 0) {
        json_decref(data);
        json_decref(e);
        json_decref(id);
        return NULL;
    }
    if (data != NULL && json_object_set_new(e, "data", data) != 0) {
        json_decref(e);
        json_decref(id);
        return NULL;
    }
    return finish(response_base(), "error", e, id);
}

/* ---- incoming batches ---- */

struct jr_inbatch *
jr_inbatch_new(struct wire_jsonrpc *rpc, size_t n)
{
    struct jr_inbatch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->slots = calloc(n, sizeof(*b->slots));
    if (b->slots == NULL) {
        free(b);
        return NULL;
    }
    b->rpc = rpc;
    b->n = n;
    b->left = 1; /* the dispatcher's own count */
    return b;
}

/* Returns what sending the array returned (0 when nothing was due). */
static int
inbatch_finish(struct jr_inbatch *b)
{
    int rc = 0;
    json_t *arr = NULL;
    for (size_t i = 0; i < b->n; i++) {
        if (b->slots[i] == NULL)
            continue;
        if (arr == NULL)
            arr = json_array();
        if (arr != NULL)
            json_array_append(arr, b->slots[i]);
        json_decref(b->slots[i]);
    }
    if (arr != NULL) {
        if (b->rpc != NULL)
            rc = jr_send(b->rpc, arr);
        else {
            json_decref(arr);
            rc = WIRE_ECLOSED;
        }
    }
    free(b->slots);
    free(b);
    return rc;
}

bool
jr_inbatch_owed(const struct jr_inbatch *b)
{
    if (b->left <= 1)
        return false; /* every member answered: sent with the release */
    if (b->waiting > 0)
        return true;
    for (size_t i = 0; i < b->n; i++)
        if (b->slots[i] != NULL)
            return true; /* an error answered already goes with the rest */
    return false; /* only notifications wait: no array will be written */
}

void
jr_inbatch_release(struct jr_inbatch *b)
{
    if (--b->left == 0)
        inbatch_finish(b);
}

/* A response (stolen; may be NULL: nothing) for member `slot` or for a
 * single request. */
static int
deliver(struct wire_jsonrpc *rpc, struct jr_inbatch *b, size_t slot,
        json_t *resp)
{
    if (b != NULL) {
        b->slots[slot] = resp;
        return 0;
    }
    if (resp == NULL)
        return 0;
    return jr_send(rpc, resp);
}

/* ---- requests ---- */

static const struct wire_jsonrpc_method *
find_method(const struct wire_jsonrpc *rpc, json_t *name)
{
    const char *s = json_string_value(name);
    size_t n = json_string_length(name);
    if (strlen(s) != n)
        return NULL; /* a NUL inside: no method has that name */
    for (size_t i = 0; i < rpc->nmethods; i++)
        if (strcmp(rpc->methods[i].name, s) == 0)
            return &rpc->methods[i];
    return NULL;
}

static bool
valid_id(json_t *id)
{
    return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

bool
jr_server_request(struct wire_jsonrpc *rpc, json_t *req,
                  struct jr_inbatch *b, size_t slot)
{
    json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
    json_t *ver = json_is_object(req) ? json_object_get(req, "jsonrpc") : NULL;
    json_t *method = json_is_object(req) ? json_object_get(req, "method") : NULL;
    json_t *params = json_is_object(req) ? json_object_get(req, "params") : NULL;
    if (!json_is_object(req) || !json_is_string(ver) ||
        strcmp(json_string_value(ver), "2.0") != 0 ||
        json_string_length(ver) != 3 || !json_is_string(method) ||
        (params != NULL && !json_is_array(params) && !json_is_object(params)) ||
        (id != NULL && !valid_id(id))) {
        /* The id, when it is a valid one, lets the peer match the error;
         * otherwise null (section 5). */
        json_t *rid = id != NULL && valid_id(id) ? json_incref(id) : NULL;
        deliver(rpc, b, slot,
                jr_error_response(rid, WIRE_JSONRPC_INVALID_REQUEST, NULL, NULL));
        return false;
    }
    return jr_server_dispatch(rpc, id, method, params, b, slot);
}

bool
jr_server_dispatch(struct wire_jsonrpc *rpc, json_t *id, json_t *method,
                   json_t *params, struct jr_inbatch *b, size_t slot)
{
    const struct wire_jsonrpc_method *m = find_method(rpc, method);
    if (m == NULL) {
        if (id != NULL) /* a notification gets nothing, not even this */
            deliver(rpc, b, slot,
                    jr_error_response(json_incref(id),
                                      WIRE_JSONRPC_METHOD_NOT_FOUND, NULL, NULL));
        return false;
    }
    struct wire_jsonrpc_call *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        if (id != NULL)
            deliver(rpc, b, slot,
                    jr_error_response(json_incref(id),
                                      WIRE_JSONRPC_INTERNAL_ERROR, NULL, NULL));
        return false;
    }
    c->rpc = rpc;
    c->batch = b;
    c->slot = slot;
    c->id = id != NULL ? json_incref(id) : NULL;
    c->method = json_incref(method);
    c->next = rpc->calls;
    if (rpc->calls != NULL)
        rpc->calls->prev = c;
    rpc->calls = c;
    if (c->id != NULL)
        rpc->nwaiting++;
    if (b != NULL) {
        b->left++;
        if (c->id != NULL)
            b->waiting++;
    }
    /* The handler may answer (and so free `c`) before it returns: then
     * answer() clears `dispatching`, which tells whether it did. */
    bool has_id = c->id != NULL;
    struct wire_jsonrpc_call *outer = rpc->dispatching;
    rpc->dispatching = c;
    m->fn(m->arg, c, params);
    bool owed = has_id && rpc->dispatching == c;
    rpc->dispatching = outer;
    return owed;
}

void
jr_server_detach(struct wire_jsonrpc *rpc)
{
    for (struct wire_jsonrpc_call *c = rpc->calls; c != NULL; c = c->next) {
        c->rpc = NULL;
        if (c->batch != NULL)
            c->batch->rpc = NULL;
    }
    rpc->calls = NULL;
    rpc->nwaiting = 0;
}

/* ---- answering ---- */

const char *
wire_jsonrpc_call_method(const struct wire_jsonrpc_call *c)
{
    return c != NULL ? json_string_value(c->method) : NULL;
}

bool
wire_jsonrpc_call_is_notification(const struct wire_jsonrpc_call *c)
{
    return c != NULL && c->id == NULL;
}

struct wire_jsonrpc *
wire_jsonrpc_call_peer(const struct wire_jsonrpc_call *c)
{
    return c != NULL ? c->rpc : NULL;
}

/* Take the call off its peer's list of unanswered calls (the peer may
 * be gone).  Unlinked before anything is sent: sending may not re-enter
 * us, but a close after the last answer to a peer that sent EOF must see
 * the count. */
static void
unlink_call(struct wire_jsonrpc_call *c)
{
    struct wire_jsonrpc *rpc = c->rpc;
    if (rpc == NULL)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        rpc->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (c->id != NULL)
        rpc->nwaiting--;
    if (rpc->dispatching == c)
        rpc->dispatching = NULL;
}

/* The call is answered: close a connection whose peer sent EOF once
 * every call of its is, and free the call.  Returns rc. */
static int
end_call(struct wire_jsonrpc_call *c, int rc)
{
    struct wire_jsonrpc *rpc = c->rpc;
    if (rpc != NULL && rpc->peer_eof && rpc->nwaiting == 0 && rpc->t != NULL &&
        !rpc->closing) {
        /* The peer sent EOF and every call of its is answered. */
        rpc->closing = true;
        wire_transport_close(rpc->t);
    }
    json_decref(c->id);
    json_decref(c->method);
    free(c);
    return rc;
}

/* Send `resp` (stolen; NULL for a notification) for a call already
 * unlinked, and free the call. */
static int
answer_unlinked(struct wire_jsonrpc_call *c, json_t *resp)
{
    struct wire_jsonrpc *rpc = c->rpc;
    int rc = 0;
    if (c->batch != NULL) {
        struct jr_inbatch *b = c->batch;
        if (c->id != NULL)
            b->waiting--;
        b->slots[c->slot] = resp;
        if (--b->left == 0)
            rc = inbatch_finish(b);
        else if (b->rpc == NULL || !jr_writable(b->rpc))
            rc = WIRE_ECLOSED;
    } else if (resp != NULL) {
        rc = rpc != NULL ? jr_send(rpc, resp) : (json_decref(resp), WIRE_ECLOSED);
    } else if (rpc == NULL) {
        rc = c->id != NULL ? WIRE_ECLOSED : 0;
    }
    return end_call(c, rc);
}

/* Send `resp` (stolen; NULL for a notification) and free the call. */
static int
answer(struct wire_jsonrpc_call *c, json_t *resp)
{
    unlink_call(c);
    return answer_unlinked(c, resp);
}

/* The response object for `result` (stolen; NULL: null). */
static json_t *
result_response(struct wire_jsonrpc_call *c, json_t *result)
{
    if (result == NULL)
        result = json_null();
    json_t *r = finish(response_base(), "result", result, json_incref(c->id));
    if (r == NULL) {
        /* Out of memory: the peer still gets an answer if it fits. */
        r = jr_error_response(json_incref(c->id), WIRE_JSONRPC_INTERNAL_ERROR,
                              NULL, NULL);
    }
    return r;
}

int
wire_jsonrpc_respond(struct wire_jsonrpc_call *c, json_t *result)
{
    if (c == NULL) {
        json_decref(result);
        return WIRE_EINVAL;
    }
    if (c->id == NULL) { /* a notification: nothing to send */
        json_decref(result);
        return answer(c, NULL);
    }
    if (c->batch == NULL && c->rpc != NULL) {
        /* The common case, a single call on a live connection: written
         * without building the response object. */
        unlink_call(c);
        int rc = jr_send_result(c->rpc, result, c->id);
        if (rc != JR_NOFIT)
            return end_call(c, rc);
        return answer_unlinked(c, result_response(c, result));
    }
    return answer(c, result_response(c, result));
}

int
wire_jsonrpc_respond_error(struct wire_jsonrpc_call *c, int code,
                           const char *message, json_t *data)
{
    if (c == NULL) {
        json_decref(data);
        return WIRE_EINVAL;
    }
    if (c->id == NULL) {
        json_decref(data);
        return answer(c, NULL);
    }
    return answer(c, jr_error_response(json_incref(c->id), code, message, data));
}
