/**
 * @file
 * libwire — JSON-RPC 2.0 over any message transport (JSON by jansson).
 *
 * A JSON-RPC peer is one protocol that is server and client at once (the
 * specification is symmetric): it answers calls to its method table and
 * makes calls of its own.  It sits on a *message* transport — each
 * data_received is one JSON text, each write one JSON text — so the
 * framing is chosen when the stack is built, never inside the protocol:
 *
 *   lines (newline-delimited JSON)  wire_chunk_layer_new(rpc, lines opts)
 *   Content-Length headers (LSP)    wire_content_length_layer_new(rpc, ...)
 *   HTTP                            wire_http_client_layer_new(rpc, ...) /
 *                                   wire_http_server_layer_new(rpc, ...)
 *
 * Server side: a method table (name -> handler).  A handler answers at
 * once or later through its call (wire_jsonrpc_respond*), which stays
 * valid until answered.  Notifications get no response (responding to one
 * is a no-op that frees the call).  Batches are answered in one array; an
 * all-notification batch gets nothing; `[]` gets one -32600.  Errors are
 * exactly the specification's: -32700 parse error (id null), -32600
 * invalid request, -32601 method not found, -32602 invalid params (a
 * handler says so), -32603 internal error, -32000..-32099 server errors.
 * A bad message gets its error response and the connection stays usable.
 * The peer's EOF closes the connection once every call to us that has an
 * id is answered.  While our writes are paused (pause_writing) and no
 * call of ours is waiting, reading pauses too, so a peer that sends
 * requests without reading the answers cannot grow our buffers.
 *
 * Over a carrier that pairs each message with an answer (HTTP: each
 * request carries one message and must get one response), the peer says
 * after handling each message whether an answer will follow
 * (wire_transport_hint_reply: WIRE_REPLY_LATER when a call with an id, or
 * a batch with one, is left for its handler to answer later;
 * WIRE_REPLY_NONE for a notification, an all-notification batch, a
 * response, a blank message).  So the HTTP server layer answers a
 * notification with 204 at once and lets a slow method take as long as it
 * needs, with no reply_timeout_ms to tune; over every other transport the
 * hint is ignored (WIRE_ENOTSUP).  HTTP answers in request order, one
 * message per request: calls pipelined on one HTTP connection are handed
 * to their handlers one at a time, each once the one before was answered,
 * so answers that overtake each other over lines or Content-Length
 * arrive in call order over HTTP (a client wanting them to overtake uses
 * more connections), and a handler must not wait for a later call before
 * answering (over HTTP that later call never comes).  The HTTP client
 * layer's limits.head_timeout_ms (default 10 s) bounds how long an answer
 * may take; set it above the calls' timeout.  A server cannot call its
 * client over HTTP: a server speaks only when asked, so what it writes
 * unasked goes out as the answer to the client's next request.
 *
 * Client side: calls with a callback and a timeout, notifications,
 * batches; many calls outstanding, responses matched by id in any order;
 * every call's callback runs exactly once: with the result, the error
 * object, or a local error (timeout, connection lost).  A response with
 * an unknown id is logged and dropped.
 *
 * Ownership of json_t: parameters and results passed in are *stolen*
 * (the library takes the reference, also on error; pass json_incref(x) to
 * keep yours); json_t values passed to callbacks are borrowed for the
 * call.
 */
#ifndef WIRE_JSONRPC_H
#define WIRE_JSONRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <wire/common.h>
#include <wire/protocol.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The specification's error codes. */
enum {
    WIRE_JSONRPC_PARSE_ERROR = -32700,      /**< the message is not JSON */
    WIRE_JSONRPC_INVALID_REQUEST = -32600,  /**< not a valid request object */
    WIRE_JSONRPC_METHOD_NOT_FOUND = -32601, /**< no such method */
    WIRE_JSONRPC_INVALID_PARAMS = -32602,   /**< bad parameters (a handler
                                                 says so) */
    WIRE_JSONRPC_INTERNAL_ERROR = -32603,   /**< internal error */
    WIRE_JSONRPC_SERVER_ERROR_MIN = -32099, /**< -32099..-32000: server errors */
    WIRE_JSONRPC_SERVER_ERROR_MAX = -32000  /**< the range's upper end */
};

#define WIRE_JSONRPC_DEFAULT_MAX_MESSAGE (1u << 20) /**< bytes */
#define WIRE_JSONRPC_DEFAULT_MAX_DEPTH 64u          /**< nesting */
/** Default timeout of our calls (wire_jsonrpc_opts.call_timeout_ms). */
#define WIRE_JSONRPC_DEFAULT_TIMEOUT_MS 30000u

struct wire_jsonrpc;      /* a peer on one connection */
struct wire_jsonrpc_call; /* an incoming request being answered */
struct wire_jsonrpc_batch;

/** A method handler.  `params` (borrowed, valid during the call only:
 *  json_incref it to keep it; NULL when absent) is an array or an object.
 *  Answer with one of the wire_jsonrpc_respond* calls, now or later;
 *  every call is answered exactly once, notifications included (the
 *  answer to one sends nothing and frees it). */
typedef void (*wire_jsonrpc_method_fn)(void *arg, struct wire_jsonrpc_call *call,
                                       json_t *params);

/** One entry of a method table (struct wire_jsonrpc_opts.methods). */
struct wire_jsonrpc_method {
    const char *name;          /**< the method name (copied) */
    wire_jsonrpc_method_fn fn; /**< its handler (required) */
    void *arg;                 /**< passed to `fn`; stays the caller's */
};

/**
 * What a call's callback receives.  On success `result` is set (borrowed)
 * and `error` is NULL.  Otherwise `error` says why: a JSON-RPC error
 * object from the peer (`code` is its code, `message`, `data` borrowed or
 * NULL, `local` false) or a local failure (`local` true, `code` a
 * WIRE_E* code: WIRE_ETIMEDOUT, WIRE_ECLOSED, ...).
 */
struct wire_jsonrpc_error {
    int code;            /**< the peer's error code, or a WIRE_E* code */
    const char *message; /**< the peer's message, or the local reason */
    json_t *data;        /**< the peer's `data` (borrowed), or NULL */
    bool local;          /**< true for a local failure (no response) */
};
/** A call's outcome, with the `arg` given to the call: exactly once per
 *  call that was accepted, from a transport callback (the response
 *  arriving) or from the loop (a timeout, the connection's loss), never
 *  from inside the wire_jsonrpc_* call that made it.  `result` and `error`
 *  are borrowed for the call only (json_incref `result` to keep it). */
typedef void (*wire_jsonrpc_result_cb)(void *arg, json_t *result,
                                       const struct wire_jsonrpc_error *error);

/** Options for wire_jsonrpc_new(); NULL or zeroes mean defaults. */
struct wire_jsonrpc_opts {
    /** The method table (copied, names too); may be empty. */
    const struct wire_jsonrpc_method *methods;
    size_t nmethods; /**< entries in `methods` */
    /** Limits: larger messages get -32600 (or close when not even an id
     *  can be read); deeper nesting gets -32700.  0: the defaults. */
    size_t max_message;
    size_t max_depth; /**< deepest JSON nesting accepted (0: the default) */
    /** The default timeout of calls (0: the default; UINT64_MAX: none). */
    uint64_t call_timeout_ms;
    /** The connection is gone (after every outstanding call's callback
     *  ran); `err` NULL for a clean close (also the peer's EOF).  Called
     *  once, also when the connection was never made (a failed connect:
     *  WIRE_ECLOSED).  The peer handle is invalid after this returns. */
    void (*on_close)(void *arg, const struct wire_error *err);
    void *arg; /**< passed to on_close and on_open; stays the caller's */
    /** Optional: the connection is up.  `rpc` is this peer's handle (how
     *  a server made by wire_jsonrpc_factory learns it, to call its
     *  client back), `t` the transport below it (borrowed, valid until
     *  on_close; for get_info).  Added after the rest: zero-initialised
     *  options leave it NULL. */
    void (*on_open)(void *arg, struct wire_jsonrpc *rpc,
                    struct wire_transport *t);
};

/**
 * The protocol for one connection, to give to a message transport (a
 * framing or HTTP layer), which then owns it; `*out` (may be NULL) is the
 * handle for calls (valid until on_close returned).  Calls may be made
 * before the connection is made; they are sent once it is.  `opts` is
 * copied (method names too).  Returns NULL with `err` (if not NULL) set:
 * WIRE_EINVAL (methods without a table, a method without a name or a
 * function), WIRE_ENOMEM.
 */
WIRE_EXPORT struct wire_protocol *
wire_jsonrpc_new(const struct wire_jsonrpc_opts *opts, struct wire_jsonrpc **out,
                 struct wire_error *err);
/** A wire_protocol_factory for wire_listen: `arg` is a
 *  const struct wire_jsonrpc_opts * that outlives the server.  The peer
 *  of each connection is known only through on_open.  Returns NULL (the
 *  connection is refused) when wire_jsonrpc_new() fails. */
WIRE_EXPORT struct wire_protocol *wire_jsonrpc_factory(void *arg);
/** Close the connection gracefully: what is queued (answers included)
 *  goes out first; our outstanding calls then fail with WIRE_ECLOSED, and
 *  on_close follows, from the loop.  New calls return WIRE_ECLOSED.  Does
 *  nothing once closing or closed. */
WIRE_EXPORT void wire_jsonrpc_close(struct wire_jsonrpc *rpc);

/* ---- answering ---- */

/** The method name (belongs to the call: valid until it is answered). */
WIRE_EXPORT const char *wire_jsonrpc_call_method(const struct wire_jsonrpc_call *c);
/** True when the call is a notification (no id: its answer sends
 *  nothing). */
WIRE_EXPORT bool wire_jsonrpc_call_is_notification(const struct wire_jsonrpc_call *c);
/** The peer the call came from (to call it back); NULL once that
 *  connection is gone. */
WIRE_EXPORT struct wire_jsonrpc *wire_jsonrpc_call_peer(const struct wire_jsonrpc_call *c);
/** Answer with a result (stolen; NULL means JSON null) and free the call.
 *  Returns 0, WIRE_EINVAL for a NULL call, WIRE_ECLOSED when the
 *  connection is gone (the call is freed anyway), or the write's error. */
WIRE_EXPORT int wire_jsonrpc_respond(struct wire_jsonrpc_call *c, json_t *result);
/** Answer with an error object (`code`, `message` copied — NULL: the
 *  specification's text for the code —, `data` stolen, may be NULL) and
 *  free the call.  Returns as wire_jsonrpc_respond(). */
WIRE_EXPORT int wire_jsonrpc_respond_error(struct wire_jsonrpc_call *c, int code,
                                           const char *message, json_t *data);

/* ---- calling ---- */

/** Call `method` with `params` (stolen; an array, an object or NULL).
 *  `cb` runs exactly once, from the loop, unless this returns an error
 *  (WIRE_EINVAL, WIRE_ECLOSED once wire_jsonrpc_close was called or the
 *  connection is gone, WIRE_ENOMEM): then it never runs.  `timeout_ms`
 *  0: the default; UINT64_MAX: none.  The timer runs on the transport's
 *  loop (none over the string transport), from the call, or from the
 *  connection for calls made before it. */
WIRE_EXPORT int wire_jsonrpc_call(struct wire_jsonrpc *rpc, const char *method,
                                  json_t *params, uint64_t timeout_ms,
                                  wire_jsonrpc_result_cb cb, void *arg,
                                  struct wire_error *err);
/** A notification: no id, no response.  `params` is stolen (also on
 *  error).  Returns 0, or WIRE_EINVAL / WIRE_ECLOSED / WIRE_ENOMEM / the
 *  write's error with `err` (if not NULL) set. */
WIRE_EXPORT int wire_jsonrpc_notify(struct wire_jsonrpc *rpc, const char *method,
                                    json_t *params, struct wire_error *err);

/** Batches: collect calls and notifications, then send them as one array.
 *  Each call's callback runs once, as for single calls.  The batch
 *  belongs to the caller until wire_jsonrpc_batch_send() (which frees it;
 *  there is no other way to free one).  Returns NULL for a NULL `rpc` or
 *  on ENOMEM. */
WIRE_EXPORT struct wire_jsonrpc_batch *wire_jsonrpc_batch_new(struct wire_jsonrpc *rpc);
/** Add a call to `b`; `params` (an array, an object or NULL) is stolen,
 *  also on error.  `cb(arg, ...)` runs once after the batch is sent.
 *  Returns 0, WIRE_EINVAL (no batch or method, bad params) or
 *  WIRE_ENOMEM; then `cb` never runs. */
WIRE_EXPORT int wire_jsonrpc_batch_call(struct wire_jsonrpc_batch *b,
                                        const char *method, json_t *params,
                                        wire_jsonrpc_result_cb cb, void *arg);
/** Add a notification to `b`; `params` is stolen, also on error.
 *  Returns as wire_jsonrpc_batch_call(). */
WIRE_EXPORT int wire_jsonrpc_batch_notify(struct wire_jsonrpc_batch *b,
                                          const char *method, json_t *params);
/** Send and free the batch.  Calls get their ids in the order they were
 *  added.  On error (returned) every callback still runs once, with the
 *  error, from the loop: WIRE_ECLOSED when the connection goes (closing,
 *  or lost), or on a later turn for a write that failed.  An empty batch
 *  is WIRE_EINVAL. */
WIRE_EXPORT int wire_jsonrpc_batch_send(struct wire_jsonrpc_batch *b,
                                        uint64_t timeout_ms,
                                        struct wire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_JSONRPC_H */
