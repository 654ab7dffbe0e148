/*
 * Private to protocols/jsonrpc/: the peer object shared by the protocol
 * (jsonrpc.c: callbacks, parsing, limits, writing), the server part
 * (server.c: requests to us, calls being answered, incoming batches) and
 * the client part (client.c: our calls, the pending table, timeouts,
 * outgoing batches).
 *
 * Lifetimes.  The peer (struct wire_jsonrpc) is the protocol: its
 * transport destroys it right after connection_lost.  Two kinds of object
 * may outlive it:
 *  - a call being answered (struct wire_jsonrpc_call) lives until the
 *    handler answers it; at destroy it is detached (call->rpc = NULL, and
 *    its incoming batch's too), and answering it then returns WIRE_ECLOSED
 *    and frees it;
 *  - an incoming batch lives until its last member is answered.
 * Our own calls (struct jr_pending) never outlive the peer: each one's
 * callback runs exactly once (response, error, timeout or loss) before
 * on_close.
 */
#ifndef WIRE_JSONRPC_INT_H
#define WIRE_JSONRPC_INT_H

#include <wire/jsonrpc.h>
#include <wire/loop.h>
#include <wire/transport.h>

#include <stddef.h>
#include <stdint.h>

/* How every JSON text is parsed: any top-level value, repeated members
 * refused, NUL allowed in strings (so it can be refused by name). */
#define JR_PARSE_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

/* JSON's whitespace. */
static inline bool
jr_is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A message written before the connection was made. */
struct jr_out {
    struct jr_out *next;
    char *text;
    size_t len;
};

/* One of our calls, waiting for its response. */
struct jr_pending {
    struct wire_jsonrpc *rpc;
    uint64_t id;
    wire_jsonrpc_result_cb cb;
    void *arg;
    uint64_t timeout_ms;       /* UINT64_MAX: none */
    struct wire_timer *timer;  /* with a loop and a timeout */
    json_t *request;           /* a batch member, until the batch is sent */
    int fail_code;             /* on the fail queue: why */
    struct jr_pending *hnext;  /* hash chain */
    struct jr_pending *prev, *next; /* the peer's list, oldest first; or
                                       the batch's, or the fail queue */
};

/* A batch of requests to us, answered as one array. */
struct jr_inbatch {
    struct wire_jsonrpc *rpc; /* NULL once the peer is gone */
    json_t **slots;           /* one per element; NULL: no response */
    size_t n;
    size_t left;              /* members not answered yet */
    size_t waiting;           /* ... of them with an id */
};

/* A request to us being answered. */
struct wire_jsonrpc_call {
    struct wire_jsonrpc *rpc; /* NULL once the peer is gone */
    struct jr_inbatch *batch;
    size_t slot;
    json_t *id;               /* NULL: a notification */
    json_t *method;           /* the request's method string (a reference) */
    struct wire_jsonrpc_call *prev, *next; /* the peer's unanswered calls */
};

/* Calls and notifications collected for one array. */
struct wire_jsonrpc_batch {
    struct wire_jsonrpc *rpc;
    json_t *array;
    struct jr_pending *head, *tail;
};

struct wire_jsonrpc {
    struct wire_protocol base; /* first */
    struct wire_transport *t;  /* from connection_made until lost */
    struct wire_loop *loop;    /* the transport's (NULL: string transport) */
    struct wire_jsonrpc_method *methods;
    size_t nmethods;
    size_t max_message, max_depth;
    uint64_t timeout_ms;
    void (*on_open)(void *arg, struct wire_jsonrpc *rpc,
                    struct wire_transport *t);
    void (*on_close)(void *arg, const struct wire_error *err);
    void *arg;
    bool made, closing, lost, closed_reported, peer_eof;
    bool write_paused, read_paused;
    /* the server part */
    struct wire_jsonrpc_call *calls; /* unanswered */
    size_t nwaiting;                 /* ... of them with an id */
    struct wire_jsonrpc_call *dispatching; /* inside its handler, unanswered */
    /* the client part */
    uint64_t next_id;
    struct jr_pending **buckets;
    size_t nbuckets, npending;
    struct jr_pending *phead, *ptail; /* pending, oldest first */
    struct jr_pending *fhead, *ftail; /* failed locally, callbacks due */
    struct wire_timer *soon;          /* runs the fail queue (with a loop) */
    /* written before connection_made */
    struct jr_out *ohead, *otail;
};

/* ---- jsonrpc.c ---- */
/* Write one message (stolen); queued until the connection is made.
 * Returns 0 or what the transport returned (WIRE_ECLOSED, ...). */
int jr_send(struct wire_jsonrpc *rpc, json_t *msg);

/* Write the response {"jsonrpc":"2.0","result":result,"id":id} (result
 * stolen, NULL: null; id borrowed, NULL: null) without building it, and
 * return what the write returned; or JR_NOFIT, leaving result the
 * caller's, when the connection is not up or the text is too large. */
#define JR_NOFIT 1
int jr_send_result(struct wire_jsonrpc *rpc, json_t *result, json_t *id);
/* Log through the loop, when there is one. */
void jr_log(struct wire_jsonrpc *rpc, enum wire_log_level level,
            const char *fmt, ...) WIRE_PRINTF(3, 4);
/* True while messages can still be written. */
bool jr_writable(const struct wire_jsonrpc *rpc);

/* ---- server.c ---- */
/* {"jsonrpc":"2.0","error":{"code":..,"message":..[,"data":..]},"id":..}:
 * `id` and `data` stolen (`id` NULL: null). */
json_t *jr_error_response(json_t *id, int code, const char *message,
                          json_t *data);
/* A request object to us (`batch` NULL for a single one).  Returns true
 * when its handler returned without answering a call that has an id: a
 * response is owed, and will be written later. */
bool jr_server_request(struct wire_jsonrpc *rpc, json_t *req,
                       struct jr_inbatch *batch, size_t slot);
/* The same for a request already checked: `id` (NULL: a notification; a
 * string, number or null), `method` (a string) and `params` (NULL, an
 * array or an object), all borrowed. */
/* plain.c: dispatch `d` (a server's incoming message of `len` bytes) if
 * it is a single request in the plain form, setting `*owed` as
 * jr_server_request does; false, having done nothing, for anything else
 * (which then goes to jansson whole). */
bool jr_fast_request(struct wire_jsonrpc *rpc, const unsigned char *d,
                     size_t len, bool *owed);
bool jr_server_dispatch(struct wire_jsonrpc *rpc, json_t *id, json_t *method,
                        json_t *params, struct jr_inbatch *batch, size_t slot);
/* After a batch's members were dispatched (the dispatcher's count still
 * held): will the batch's array be written later? */
bool jr_inbatch_owed(const struct jr_inbatch *b);
struct jr_inbatch *jr_inbatch_new(struct wire_jsonrpc *rpc, size_t n);
/* Drop one reference of the batch's count; the last sends the array. */
void jr_inbatch_release(struct jr_inbatch *b);
/* The connection is gone: detach every unanswered call. */
void jr_server_detach(struct wire_jsonrpc *rpc);

/* ---- client.c ---- */
/* A response object to one of our calls. */
void jr_client_response(struct wire_jsonrpc *rpc, json_t *resp);
/* The connection is up: start the timers of calls made before. */
void jr_client_start(struct wire_jsonrpc *rpc);
/* Run the callbacks of calls that failed locally. */
void jr_client_run_failed(struct wire_jsonrpc *rpc);
/* The connection is gone: fail every pending call with WIRE_ECLOSED. */
void jr_client_fail_all(struct wire_jsonrpc *rpc, const struct wire_error *why);
/* Release the client part's memory (nothing is pending any more). */
void jr_client_free(struct wire_jsonrpc *rpc);

#endif
