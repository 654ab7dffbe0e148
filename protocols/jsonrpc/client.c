/*
 * JSON-RPC 2.0: the client part — our calls.  Ids are increasing
 * integers; each call waits in a hash table keyed by its id (ids are
 * consecutive, so the low bits spread them evenly), so responses match in
 * any order however many calls are out.  A call's callback runs exactly
 * once: with the response, at its timeout (a loop timer, when the
 * transport has a loop), or when the connection is lost (WIRE_ECLOSED).
 * A response whose id matches nothing is logged and dropped.
 */
#include "jsonrpc_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- the pending table ---- */

static size_t
bucket_of(const struct wire_jsonrpc *rpc, uint64_t id)
{
    return (size_t)(id & (rpc->nbuckets - 1));
}

static int
table_grow(struct wire_jsonrpc *rpc)
{
    size_t n = rpc->nbuckets ? rpc->nbuckets * 2 : 64;
    struct jr_pending **nb = calloc(n, sizeof(*nb));
    if (nb == NULL)
        return WIRE_ENOMEM;
    for (size_t i = 0; i < rpc->nbuckets; i++) {
        struct jr_pending *p = rpc->buckets[i];
        while (p != NULL) {
            struct jr_pending *next = p->hnext;
            size_t k = (size_t)(p->id & (n - 1));
            p->hnext = nb[k];
            nb[k] = p;
            p = next;
        }
    }
    free(rpc->buckets);
    rpc->buckets = nb;
    rpc->nbuckets = n;
    return 0;
}

static void
timer_fired(void *arg);

/* Start a call's timer, when there is a loop and a timeout. */
static void
start_timer(struct jr_pending *p)
{
    struct wire_jsonrpc *rpc = p->rpc;
    if (rpc->loop == NULL || p->timeout_ms == UINT64_MAX || p->timer != NULL)
        return;
    p->timer = wire_timer_new(rpc->loop, timer_fired, p);
    if (p->timer != NULL)
        wire_timer_start(p->timer, p->timeout_ms, 0);
}

/* Enter `p` in the table and the list (its id is set). */
static int
pending_add(struct wire_jsonrpc *rpc, struct jr_pending *p)
{
    if (rpc->npending >= rpc->nbuckets && table_grow(rpc) != 0)
        return WIRE_ENOMEM;
    size_t k = bucket_of(rpc, p->id);
    p->hnext = rpc->buckets[k];
    rpc->buckets[k] = p;
    p->next = NULL;
    p->prev = rpc->ptail;
    if (rpc->ptail != NULL)
        rpc->ptail->next = p;
    else
        rpc->phead = p;
    rpc->ptail = p;
    rpc->npending++;
    if (rpc->made)
        start_timer(p);
    return 0;
}

static struct jr_pending *
pending_find(struct wire_jsonrpc *rpc, uint64_t id)
{
    if (rpc->nbuckets == 0)
        return NULL;
    for (struct jr_pending *p = rpc->buckets[bucket_of(rpc, id)]; p != NULL;
         p = p->hnext)
        if (p->id == id)
            return p;
    return NULL;
}

/* Take `p` out of the table and the list, and stop its timer. */
static void
pending_remove(struct wire_jsonrpc *rpc, struct jr_pending *p)
{
    struct jr_pending **pp = &rpc->buckets[bucket_of(rpc, p->id)];
    while (*pp != p)
        pp = &(*pp)->hnext;
    *pp = p->hnext;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        rpc->phead = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    else
        rpc->ptail = p->prev;
    p->prev = p->next = p->hnext = NULL;
    rpc->npending--;
    wire_timer_free(p->timer); /* safe from inside its own callback */
    p->timer = NULL;
}

static struct jr_pending *
pending_new(struct wire_jsonrpc *rpc, wire_jsonrpc_result_cb cb, void *arg,
            uint64_t timeout_ms)
{
    struct jr_pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->rpc = rpc;
    p->cb = cb;
    p->arg = arg;
    p->timeout_ms = timeout_ms ? timeout_ms : rpc->timeout_ms;
    return p;
}

/* Run the callback (the call is out of every list) and free the call. */
static void
complete(struct jr_pending *p, json_t *result, const struct wire_jsonrpc_error *e)
{
    if (p->cb != NULL)
        p->cb(p->arg, result, e);
    json_decref(p->request);
    free(p);
}

static void
complete_local(struct jr_pending *p, int code, const char *message)
{
    struct wire_jsonrpc_error e = {code, message, NULL, true};
    complete(p, NULL, &e);
}

static void
timer_fired(void *arg)
{
    struct jr_pending *p = arg;
    struct wire_jsonrpc *rpc = p->rpc;
    char msg[96];
    snprintf(msg, sizeof(msg), "jsonrpc: no response within %" PRIu64 " ms",
             p->timeout_ms);
    pending_remove(rpc, p);
    complete_local(p, WIRE_ETIMEDOUT, msg);
}

void
jr_client_start(struct wire_jsonrpc *rpc)
{
    for (struct jr_pending *p = rpc->phead; p != NULL; p = p->next)
        start_timer(p);
}

/* ---- the fail queue: calls of a batch that could not be sent ---- */

void
jr_client_run_failed(struct wire_jsonrpc *rpc)
{
    while (rpc->fhead != NULL) {
        struct jr_pending *p = rpc->fhead;
        rpc->fhead = p->next;
        if (rpc->fhead == NULL)
            rpc->ftail = NULL;
        p->next = NULL;
        complete_local(p, p->fail_code, wire_strerror(p->fail_code));
    }
}

static void
soon_fired(void *arg)
{
    jr_client_run_failed(arg);
}

/* Queue `p` (out of the table) to fail with `code` on a later turn: from
 * the loop when there is one, else at the next delivery to the peer. */
static void
fail_later(struct wire_jsonrpc *rpc, struct jr_pending *p, int code)
{
    p->fail_code = code;
    p->next = NULL;
    if (rpc->ftail != NULL)
        rpc->ftail->next = p;
    else
        rpc->fhead = p;
    rpc->ftail = p;
    if (rpc->loop != NULL) {
        if (rpc->soon == NULL)
            rpc->soon = wire_timer_new(rpc->loop, soon_fired, rpc);
        if (rpc->soon != NULL && !wire_timer_is_active(rpc->soon))
            wire_timer_start(rpc->soon, 0, 0);
    }
}

void
jr_client_fail_all(struct wire_jsonrpc *rpc, const struct wire_error *why)
{
    char msg[400];
    snprintf(msg, sizeof(msg), "jsonrpc: the connection is %s%s%s",
             why != NULL ? "lost: " : "closed", why != NULL ? why->message : "",
             "");
    /* Oldest first; a callback may add calls (batches): they fail too. */
    while (rpc->phead != NULL) {
        struct jr_pending *p = rpc->phead;
        pending_remove(rpc, p);
        complete_local(p, WIRE_ECLOSED, msg);
    }
}

void
jr_client_free(struct wire_jsonrpc *rpc)
{
    wire_timer_free(rpc->soon);
    rpc->soon = NULL;
    free(rpc->buckets);
    rpc->buckets = NULL;
    rpc->nbuckets = 0;
}

/* ---- responses ---- */

/* The id of a response as one of ours: an integer (or a real with an
 * integral value, as some peers write numbers). */
static bool
our_id(json_t *id, uint64_t *out)
{
    if (json_is_integer(id)) {
        json_int_t v = json_integer_value(id);
        if (v <= 0)
            return false;
        *out = (uint64_t)v;
        return true;
    }
    if (json_is_real(id)) {
        double v = json_real_value(id);
        if (!(v >= 1 && v < 9007199254740992.0) || v != (double)(uint64_t)v)
            return false;
        *out = (uint64_t)v;
        return true;
    }
    return false;
}

void
jr_client_response(struct wire_jsonrpc *rpc, json_t *resp)
{
    json_t *id = json_object_get(resp, "id");
    uint64_t n = 0;
    struct jr_pending *p = our_id(id, &n) ? pending_find(rpc, n) : NULL;
    if (p == NULL) {
        char *s = id != NULL ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        json_t *err = json_object_get(resp, "error");
        const char *em = json_string_value(json_object_get(err, "message"));
        jr_log(rpc, WIRE_LOG_WARN,
               "dropped a response with %s id %s%s%s", id == NULL ? "no" : "unknown",
               s != NULL ? s : "", em != NULL ? ": " : "", em != NULL ? em : "");
        free(s);
        return;
    }
    pending_remove(rpc, p);
    json_t *ver = json_object_get(resp, "jsonrpc");
    json_t *result = json_object_get(resp, "result");
    json_t *error = json_object_get(resp, "error");
    const char *bad = NULL;
    if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0)
        bad = "jsonrpc: the response has no \"jsonrpc\": \"2.0\"";
    else if (result != NULL && error != NULL)
        bad = "jsonrpc: the response has both a result and an error";
    else if (error != NULL &&
             (!json_is_object(error) ||
              !json_is_integer(json_object_get(error, "code")) ||
              !json_is_string(json_object_get(error, "message"))))
        bad = "jsonrpc: the response's error is not an object with an "
              "integer code and a string message";
    if (bad != NULL) {
        complete_local(p, WIRE_EPROTO, bad);
        return;
    }
    if (error == NULL) {
        complete(p, result, NULL);
        return;
    }
    json_int_t code = json_integer_value(json_object_get(error, "code"));
    struct wire_jsonrpc_error e = {
        .code = code < INT32_MIN ? INT32_MIN : code > INT32_MAX ? INT32_MAX : (int)code,
        .message = json_string_value(json_object_get(error, "message")),
        .data = json_object_get(error, "data"),
        .local = false,
    };
    complete(p, NULL, &e);
}

/* ---- calling ---- */

static json_t *
request_new(const char *method, json_t *params, const uint64_t *id)
{
    json_t *r = json_object();
    json_t *m = json_string(method);
    if (r == NULL || m == NULL ||
        json_object_set_new(r, "jsonrpc", json_string("2.0")) != 0 ||
        json_object_set_new(r, "method", m) != 0) {
        if (r == NULL || json_object_get(r, "method") == NULL)
            json_decref(m);
        json_decref(r);
        json_decref(params);
        return NULL;
    }
    if (params != NULL && json_object_set_new(r, "params", params) != 0) {
        json_decref(r);
        return NULL;
    }
    if (id != NULL &&
        json_object_set_new(r, "id", json_integer((json_int_t)*id)) != 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static int
check_call(struct wire_jsonrpc *rpc, const char *method, json_t *params,
           struct wire_error *err)
{
    if (rpc == NULL || method == NULL ||
        (params != NULL && !json_is_array(params) && !json_is_object(params))) {
        json_decref(params);
        return wire_error_set(err, WIRE_EINVAL,
                              "jsonrpc: %s", rpc == NULL ? "no peer"
                              : method == NULL ? "no method"
                              : "params must be an array or an object");
    }
    if (!jr_writable(rpc)) {
        json_decref(params);
        return wire_error_set(err, WIRE_ECLOSED, "jsonrpc: the connection is %s",
                              rpc->lost ? "gone" : "closing");
    }
    return 0;
}

int
wire_jsonrpc_call(struct wire_jsonrpc *rpc, const char *method, json_t *params,
                  uint64_t timeout_ms, wire_jsonrpc_result_cb cb, void *arg,
                  struct wire_error *err)
{
    int rc = check_call(rpc, method, params, err);
    if (rc != 0)
        return rc;
    struct jr_pending *p = pending_new(rpc, cb, arg, timeout_ms);
    json_t *req = NULL;
    if (p != NULL) {
        p->id = rpc->next_id;
        req = request_new(method, params, &p->id);
    } else {
        json_decref(params);
    }
    if (p == NULL || req == NULL || pending_add(rpc, p) != 0) {
        free(p);
        json_decref(req);
        return wire_error_set(err, WIRE_ENOMEM, "jsonrpc: out of memory");
    }
    rpc->next_id++;
    rc = jr_send(rpc, req);
    if (rc != 0) {
        /* The callback never runs when the call returns an error. */
        pending_remove(rpc, p);
        free(p);
        return wire_error_set(err, rc, "jsonrpc: writing the call: %s",
                              wire_strerror(rc));
    }
    return 0;
}

int
wire_jsonrpc_notify(struct wire_jsonrpc *rpc, const char *method,
                    json_t *params, struct wire_error *err)
{
    int rc = check_call(rpc, method, params, err);
    if (rc != 0)
        return rc;
    json_t *req = request_new(method, params, NULL);
    if (req == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "jsonrpc: out of memory");
    rc = jr_send(rpc, req);
    if (rc != 0)
        return wire_error_set(err, rc, "jsonrpc: writing the notification: %s",
                              wire_strerror(rc));
    return 0;
}

/* ---- batches ---- */

struct wire_jsonrpc_batch *
wire_jsonrpc_batch_new(struct wire_jsonrpc *rpc)
{
    if (rpc == NULL)
        return NULL;
    struct wire_jsonrpc_batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->array = json_array();
    if (b->array == NULL) {
        free(b);
        return NULL;
    }
    b->rpc = rpc;
    return b;
}

static int
batch_add(struct wire_jsonrpc_batch *b, const char *method, json_t *params,
          bool call, wire_jsonrpc_result_cb cb, void *arg)
{
    if (b == NULL || method == NULL ||
        (params != NULL && !json_is_array(params) && !json_is_object(params))) {
        json_decref(params);
        return WIRE_EINVAL;
    }
    struct jr_pending *p = NULL;
    if (call) {
        p = pending_new(b->rpc, cb, arg, 0);
        if (p == NULL) {
            json_decref(params);
            return WIRE_ENOMEM;
        }
        /* The id is given when the batch is sent, in order. */
    }
    json_t *req = request_new(method, params, NULL);
    if (req == NULL || json_array_append(b->array, req) != 0) {
        json_decref(req);
        free(p);
        return WIRE_ENOMEM;
    }
    if (p != NULL) {
        p->request = json_incref(req); /* to set its id when sent */
        if (b->tail != NULL)
            b->tail->next = p;
        else
            b->head = p;
        b->tail = p;
    }
    json_decref(req);
    return 0;
}

int
wire_jsonrpc_batch_call(struct wire_jsonrpc_batch *b, const char *method,
                        json_t *params, wire_jsonrpc_result_cb cb, void *arg)
{
    return batch_add(b, method, params, true, cb, arg);
}

int
wire_jsonrpc_batch_notify(struct wire_jsonrpc_batch *b, const char *method,
                          json_t *params)
{
    return batch_add(b, method, params, false, NULL, NULL);
}

int
wire_jsonrpc_batch_send(struct wire_jsonrpc_batch *b, uint64_t timeout_ms,
                        struct wire_error *err)
{
    if (b == NULL)
        return wire_error_set(err, WIRE_EINVAL, "jsonrpc: no batch");
    struct wire_jsonrpc *rpc = b->rpc;
    json_t *arr = b->array;
    struct jr_pending *list = b->head;
    free(b);
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return wire_error_set(err, WIRE_EINVAL, "jsonrpc: an empty batch");
    }
    /* Every call enters the table (with its id) before anything is
     * written; from there each one's callback runs once, whatever
     * happens next. */
    int rc = 0;
    uint64_t first = rpc->next_id;
    struct jr_pending *failed = NULL;
    while (list != NULL) {
        struct jr_pending *p = list;
        list = p->next;
        p->next = NULL;
        if (timeout_ms != 0)
            p->timeout_ms = timeout_ms;
        p->id = rpc->next_id++;
        json_object_set_new(p->request, "id", json_integer((json_int_t)p->id));
        json_decref(p->request);
        p->request = NULL;
        if (pending_add(rpc, p) != 0) {
            p->next = failed;
            failed = p;
            rc = WIRE_ENOMEM;
        }
    }
    while (failed != NULL) { /* not in the table: fail them later */
        struct jr_pending *p = failed;
        failed = p->next;
        fail_later(rpc, p, WIRE_ENOMEM);
    }
    int src = jr_send(rpc, arr);
    if (src == WIRE_ECLOSED) {
        /* The loss fails them (WIRE_ECLOSED), from connection_lost. */
        rc = src;
    } else if (src != 0) {
        /* Not sent, the connection lives on: they fail on a later turn. */
        rc = src;
        for (struct jr_pending *p = rpc->phead, *next; p != NULL; p = next) {
            next = p->next;
            if (p->id >= first && p->id < rpc->next_id) {
                pending_remove(rpc, p);
                fail_later(rpc, p, src);
            }
        }
    }
    if (rc != 0)
        return wire_error_set(err, rc, "jsonrpc: sending the batch: %s",
                              wire_strerror(rc));
    return 0;
}
