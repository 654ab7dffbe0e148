/**
 * @file
 * libwire — HTTP/1.1 on llhttp: a server protocol, a client protocol, and
 * HTTP as a transport (the layers of PEP 3153's stack).
 *
 * Everything here is a protocol (or a layer) and runs over any transport:
 * tcp, unix, tls, a pipe, the memory pair, the string transport.  Parsing
 * is llhttp's, in its strict mode.
 *
 * Server: a struct wire_http_service holds the handler and the limits
 * and makes one protocol per connection (wire_http_service_factory, for
 * wire_listen).  Each request is an exchange (struct wire_http_exchange):
 * its head arrives in on_request, its body streams through on_body (pause
 * it with wire_http_body_pause; a large upload never sits whole in
 * memory), and the application answers, at once or later, with the
 * wire_http_response_* calls.  Pipelined requests are answered in order:
 * the next request is not parsed before the current response ended.  The
 * service answers on its own, and closes, what the application never sees:
 * malformed requests (400), heads over the limits (431, 414), bodies over
 * the limit (413), unsupported versions (505), Content-Length together
 * with Transfer-Encoding (400: no smuggling), a client too slow to send
 * its head (408) or its body (408).  Each such answer has a short text
 * body and Connection: close, and the connection closes once it is
 * flushed.  Bytes read past a request wait (up to max_header_bytes, then
 * reading pauses) until that request's exchange has ended.
 *
 * Timeouts run on the transport's loop, one timer per connection; a
 * transport without a loop (the string transport) has none.  The head
 * timeout runs from the connection's start, and after a keep-alive
 * response from the next request's first byte (a connection that sent
 * nothing is closed quietly, without a 408); the idle timeout between
 * keep-alive requests closes quietly; the body timeout restarts with each
 * piece of the body and stops while the application pauses the body.
 *
 * Client: wire_http_client_new makes the protocol for one connection;
 * requests are queued on it (keep-alive reuse, written in order, answered
 * in order), each with its own response handler; the body of a request
 * streams like a response's.
 *
 * Errors reach the application once per exchange (on_done with the
 * error), never silently; a connection-level failure ends every exchange
 * still open with it.
 */
#ifndef WIRE_HTTP_H
#define WIRE_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <wire/common.h>
#include <wire/protocol.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- heads ---- */

/** One header line of a parsed head; the strings belong to the head. */
struct wire_http_header {
    const char *name;  /**< as received (NUL-terminated) */
    const char *value; /**< leading/trailing blanks removed (NUL-terminated) */
};

/**
 * A parsed request or response head.  It belongs to its exchange (or
 * client request) and stays valid until that ends (on_done returned).
 */
struct wire_http_head {
    const char *method; /**< request: "GET", "POST", ...; response: NULL */
    const char *target; /**< request: "/path?query"; response: NULL */
    int status;         /**< response: 200...; request: 0 */
    const char *reason; /**< response: "OK"; request: NULL */
    /** HTTP version: 1 for HTTP/1.x */
    int version_major, version_minor; /**< HTTP version: 0 or 1 */
    /** The header lines, in the order received (`nheaders` of them) */
    const struct wire_http_header *headers;
    size_t nheaders; /**< number of entries in `headers` */
    /** Content-Length, or -1 when absent. */
    int64_t content_length;
    bool chunked;         /**< Transfer-Encoding: chunked */
    bool keep_alive;      /**< the connection may be reused (HTTP/1.x rules) */
    bool upgrade;         /**< an Upgrade request/101, or CONNECT */
    bool expect_continue; /**< request: "Expect: 100-continue" */
};

/** The first value of header `name` (case-insensitive), or NULL.  The
 *  string belongs to the head. */
WIRE_EXPORT const char *wire_http_head_get(const struct wire_http_head *h,
                                           const char *name);
/** The standard reason phrase of `status` ("Not Found"), or "Unknown".  A
 *  static string. */
WIRE_EXPORT const char *wire_http_status_reason(int status);

/* ---- limits ---- */

#define WIRE_HTTP_DEFAULT_MAX_HEADER_BYTES 16384u /**< whole head; -> 431 */
#define WIRE_HTTP_DEFAULT_MAX_HEADERS 100u        /**< header lines; -> 431 */
#define WIRE_HTTP_DEFAULT_MAX_TARGET 8192u        /**< request target; -> 414 */
#define WIRE_HTTP_DEFAULT_MAX_BODY (16u << 20)    /**< bytes; -> 413 */
#define WIRE_HTTP_DEFAULT_HEAD_TIMEOUT_MS 10000u  /**< whole head; -> 408 */
#define WIRE_HTTP_DEFAULT_IDLE_TIMEOUT_MS 60000u  /**< keep-alive idle */
#define WIRE_HTTP_DEFAULT_BODY_TIMEOUT_MS 30000u  /**< between body bytes; -> 408 */

/** Limits and timeouts; zero fields mean the defaults above.  A body
 *  limit of UINT64_MAX means none (streamed bodies of any size). */
struct wire_http_limits {
    size_t max_header_bytes; /**< the whole head, in bytes */
    size_t max_headers;      /**< header lines */
    size_t max_target;       /**< request target, in bytes (server) */
    uint64_t max_body;       /**< body, in bytes */
    /** Server: from the connection's start (or, after a keep-alive
     *  response, from the next request's first byte) to the end of the
     *  head.  Client: from the request being written to the response head. */
    uint64_t head_timeout_ms;
    uint64_t idle_timeout_ms; /**< between keep-alive requests (server) */
    uint64_t body_timeout_ms; /**< between two pieces of a body */
};

/* ---- server ---- */

struct wire_http_service;
struct wire_http_exchange;

/** What a server application supplies (copied by
 *  wire_http_service_new()).  Only on_request is required.  Each callback
 *  gets the service's `arg` and may call the wire_http_* functions on the
 *  exchange. */
struct wire_http_handler {
    /** A request head is complete.  Answer now or later (the exchange
     *  stays valid until on_done); the body, if any, follows. */
    void (*on_request)(void *arg, struct wire_http_exchange *x);
    /** A piece of the request body (chunked framing removed).  NULL:
     *  the body is read and dropped. */
    void (*on_body)(void *arg, struct wire_http_exchange *x, const void *data,
                    size_t len);
    /** The request body is complete (also for requests without one). */
    void (*on_body_end)(void *arg, struct wire_http_exchange *x);
    /** The response can take more (after wire_http_response_write returned
     *  1, meaning "queued, but above the high watermark"). */
    void (*on_writable)(void *arg, struct wire_http_exchange *x);
    /** The exchange is over: `err` NULL when the response was queued
     *  whole and the request body was read (or the response closes the
     *  connection), else why not (the connection was lost or reset, a
     *  limit or timeout hit: WIRE_EMSGSIZE, WIRE_ETIMEDOUT, the client
     *  ended the body early: WIRE_EINCOMPLETE).  Called exactly once per
     *  exchange that reached on_request, from the loop or a transport
     *  callback, never from inside a wire_http_* call; `x` is invalid
     *  after it returns. */
    void (*on_done)(void *arg, struct wire_http_exchange *x,
                    const struct wire_error *err);
};

/** Server options: limits, and the Server header (NULL: none).  Copied by
 *  wire_http_service_new(). */
struct wire_http_service_opts {
    struct wire_http_limits limits; /**< limits of requests; zeroes: defaults */
    const char *server_header;      /**< Server header value, or NULL */
};

/** A service: handler, `arg` and options shared by every connection
 *  (reference counted; starts with one reference, the caller's, and each
 *  connection holds one).  `opts` (NULL: defaults) and `h` are copied;
 *  `arg` stays the caller's and must outlive the service.  Returns NULL
 *  with `err` (if not NULL) set: WIRE_EINVAL (no `h` or no on_request, a
 *  Server header with CR/LF), WIRE_ENOMEM. */
WIRE_EXPORT struct wire_http_service *
wire_http_service_new(const struct wire_http_service_opts *opts,
                      const struct wire_http_handler *h, void *arg,
                      struct wire_error *err);
/** Take a reference on `s` (NULL is passed through).  Returns `s`. */
WIRE_EXPORT struct wire_http_service *
wire_http_service_ref(struct wire_http_service *s);
/** Drop a reference; the last one (the caller's and every connection's
 *  gone) frees the service.  Accepts NULL. */
WIRE_EXPORT void wire_http_service_unref(struct wire_http_service *s);
/** The protocol for one connection of `s` (it takes a reference on `s`);
 *  give it to a transport, which then owns it.  NULL only on ENOMEM (or
 *  a NULL `s`). */
WIRE_EXPORT struct wire_protocol *
wire_http_server_protocol_new(struct wire_http_service *s);
/** A wire_protocol_factory for wire_listen: `arg` is the service (the
 *  caller keeps its reference while the server runs).  Returns
 *  wire_http_server_protocol_new(arg); NULL refuses the connection. */
WIRE_EXPORT struct wire_protocol *wire_http_service_factory(void *arg);

/** The request's head, valid until on_done returns. */
WIRE_EXPORT const struct wire_http_head *
wire_http_exchange_request(const struct wire_http_exchange *x);
/** The connection's transport (for get_info: peer address, TLS...); not
 *  a new reference.  NULL once the connection is gone. */
WIRE_EXPORT struct wire_transport *
wire_http_exchange_transport(const struct wire_http_exchange *x);
/** Attach application data to the exchange (not owned: release it in
 *  on_done). */
WIRE_EXPORT void wire_http_exchange_set_data(struct wire_http_exchange *x,
                                             void *data);
/** The data given to wire_http_exchange_set_data() (NULL if none). */
WIRE_EXPORT void *wire_http_exchange_data(const struct wire_http_exchange *x);

/** Stop / restart on_body (the connection stops reading, so a slow
 *  consumer holds the client back instead of filling memory).  Nothing
 *  is delivered between pause and resume; what was read already goes up
 *  on a later turn after resume, never from inside it.  The body timeout
 *  stops while paused.  Does nothing once the body is complete or the
 *  exchange is over. */
WIRE_EXPORT void wire_http_body_pause(struct wire_http_exchange *x);
/** Restart on_body after wire_http_body_pause() (see there); also sends
 *  a pending "100 Continue".  Does nothing when not paused. */
WIRE_EXPORT void wire_http_body_resume(struct wire_http_exchange *x);

/**
 * The response.  start, then any headers, then body writes, then end;
 * the head goes out with the first write or with end.  Framing is chosen
 * when the head goes out: Content-Length when the application set it (or
 * when end comes before any body write: the length is then known), else
 * chunked for HTTP/1.1 clients, else the body ends with the connection.
 * No body is sent for HEAD requests and 1xx/204/304 (writes are accepted
 * and dropped; for HEAD the head waits for end and announces, unless the
 * application set a Content-Length, the length written).  `Date` is added
 * (unless set); `Connection: close` is added when the connection will
 * close after this response (the client asked, HTTP/1.0 without
 * keep-alive, a body that ends with the connection, the peer's EOF, the
 * service shutting down, or a body the client was asked to hold back by
 * `Expect: 100-continue` and was answered without); `Connection:
 * keep-alive` to HTTP/1.0 clients that asked for it.
 *
 * Headers may also be added before start.  The framing headers are the
 * server's: Content-Length (decimal) sets the length, Transfer-Encoding is
 * refused (WIRE_EINVAL), Connection containing "close" makes the
 * connection close after the response.
 *
 * `Expect: 100-continue` (HTTP/1.1): "100 Continue" is sent when the
 * application wants the body: after on_request returned without the final
 * head having gone out and without pausing the body, or at
 * wire_http_body_resume.  A final response that goes out first (a 413 or
 * 417 from on_request) is sent without it, and the connection closes
 * after it.
 *
 * Each call returns 0, 1 (write queued but the connection is above its
 * high watermark: wait for on_writable), or a negative code: WIRE_ESTATE
 * (out of order), WIRE_EINVAL (a status outside 200..999, a header name
 * that is not a token, a value or reason with CR/LF, a body longer than
 * the Content-Length given; from end: a body shorter than it, after which
 * the connection is aborted and on_done reports WIRE_EINVAL), WIRE_ECLOSED
 * (the connection is gone or closing; on_done reports the cause once),
 * WIRE_ENOMEM.  Strings and body bytes are copied (except with
 * wire_http_response_write_ref()).
 *
 * wire_http_response_start() sets the status and the reason phrase
 * (NULL: the standard one, wire_http_status_reason()).
 */
WIRE_EXPORT int wire_http_response_start(struct wire_http_exchange *x,
                                         int status, const char *reason);
/** Add a response header (before or after start, before the head goes
 *  out); see wire_http_response_start() for the framing headers and the
 *  returns. */
WIRE_EXPORT int wire_http_response_header(struct wire_http_exchange *x,
                                          const char *name, const char *value);
/** Write a piece of the response body (copied; the head goes out with the
 *  first write).  Returns 0, 1 (wait for on_writable) or an error, as
 *  described at wire_http_response_start(). */
WIRE_EXPORT int wire_http_response_write(struct wire_http_exchange *x,
                                         const void *data, size_t len);
/** Zero-copy body write: `data` stays valid until `free_cb(arg, data,
 *  len)` (called at once when the body is dropped; never on an error). */
WIRE_EXPORT int wire_http_response_write_ref(struct wire_http_exchange *x,
                                             const void *data, size_t len,
                                             wire_free_cb free_cb, void *arg);
/**
 * Body bytes from a file: `len` bytes of the regular file `fd` from
 * `offset`, sent with wire_transport_write_file() on the connection's
 * transport, in order with the rest of the response: straight from the
 * file by sendfile(2) when HTTP runs on a plain TCP or Unix socket, read
 * a piece at a time under TLS or any other layer; never read whole.
 *
 * The length: with no Content-Length set and nothing of the body written
 * yet, the file is the whole body and Content-Length is set to `len`
 * (end the response next); with a Content-Length, the file must fit in
 * what is left of it (else WIRE_EINVAL); in a chunked body it is one
 * chunk.  HEAD, 204, 304: nothing is sent, the fd is released at once
 * and `len` counts as written (a HEAD's head announces it).
 *
 * Ownership of `fd` is as for wire_transport_write_file(): with `done`
 * NULL the response owns it from a successful call on and closes it once
 * the bytes are sent or dropped; else `done(arg, fd)` is called then,
 * exactly once.  On an error return `fd` stays the caller's and `done` is
 * never called.
 *
 * Returns as wire_http_response_write(); the range counts in the
 * connection's write buffer until it is sent, so a file larger than the
 * high watermark returns 1 (wait for on_writable before writing more
 * bodies).  Also WIRE_EINVAL for a bad fd or range (not an open regular
 * file readable here, a negative offset, `offset + len` past the largest
 * file offset: checked before anything goes out) and WIRE_ENOTSUP when
 * HTTP is carried by a message transport, which cannot send a file (read
 * it and use wire_http_response_write()).  A file that turns out shorter
 * than the range when it is sent fails the connection (on_done gets
 * WIRE_EINCOMPLETE): the client must not wait for bytes that will not
 * come.
 */
WIRE_EXPORT int wire_http_response_write_file(struct wire_http_exchange *x,
                                              int fd, off_t offset, size_t len,
                                              wire_file_done_cb done, void *arg);
/** End the response (sending the head first if it has not gone out).
 *  on_done follows once the request body was read too.  Returns as
 *  described at wire_http_response_start(). */
WIRE_EXPORT int wire_http_response_end(struct wire_http_exchange *x);
/** The whole response in one call (`content_type` NULL: no such header):
 *  start, Content-Type, one write of `body` (copied), end.  Returns the
 *  first error of those steps (WIRE_EINVAL also for a `content_type`
 *  with CR/LF). */
WIRE_EXPORT int wire_http_respond(struct wire_http_exchange *x, int status,
                                  const char *content_type, const void *body,
                                  size_t len);

/**
 * Hand the connection over after this exchange's head (Upgrade or
 * CONNECT): sends `status` (101, or a 2xx for CONNECT) with the headers
 * added so far, then the raw connection, with any bytes already read past
 * the request, becomes the transport of `next` (see
 * wire_transport_set_protocol).  The exchange ends (on_done with NULL)
 * and the HTTP protocol is gone.  Only for a request whose head says
 * upgrade (an Upgrade header or CONNECT), from on_request or later,
 * before any other response head went out.  The head is written at once;
 * the hand-over happens once the parser has stopped after the request:
 * when called from on_request, as soon as it returns; else on a later
 * turn.  On success `next` belongs to the connection (destroyed if the
 * connection fails first); on error it stays the caller's: WIRE_ESTATE
 * (no upgrade asked, or a response under way), WIRE_EINVAL (status not
 * 101 or 2xx), WIRE_ECLOSED, WIRE_ENOTSUP (HTTP carried by a layer).
 */
WIRE_EXPORT int wire_http_exchange_upgrade(struct wire_http_exchange *x,
                                           int status,
                                           struct wire_protocol *next,
                                           struct wire_error *err);

/* ---- client ---- */

struct wire_http_client;
struct wire_http_request;

/** What a client application supplies per request (copied by
 *  wire_http_request_new()).  Each callback gets the request's `arg`;
 *  every entry may be NULL. */
struct wire_http_response_handler {
    /** The response head (after any 1xx, which are skipped). */
    void (*on_response)(void *arg, struct wire_http_request *r,
                        const struct wire_http_head *head);
    /** A piece of the response body (NULL: dropped). */
    void (*on_body)(void *arg, struct wire_http_request *r, const void *data,
                    size_t len);
    /** The request can take more body (after a write returned 1). */
    void (*on_writable)(void *arg, struct wire_http_request *r);
    /** The exchange is over: `err` NULL when the whole response arrived,
     *  else why not: WIRE_EPROTO (a malformed response, with llhttp's
     *  reason), WIRE_EMSGSIZE (a head or body over the limits),
     *  WIRE_ETIMEDOUT (no head within head_timeout_ms of the request
     *  being written, or no body bytes for body_timeout_ms; only on a
     *  transport with a loop), WIRE_EINCOMPLETE (the connection ended in
     *  the middle of the response), the transport's error when the
     *  connection failed, WIRE_ECLOSED (the connection closed, or failed
     *  because of another request, before this one was answered).
     *  Exactly once per request, in order; `r` is invalid after.  A
     *  response that arrives before the request's body was all written
     *  ends the request too (the connection is then not reused). */
    void (*on_done)(void *arg, struct wire_http_request *r,
                    const struct wire_error *err);
};

/** Options for wire_http_client_new(); NULL or zeroes mean defaults.
 *  Copied (strings included) by the call. */
struct wire_http_client_opts {
    struct wire_http_limits limits; /**< limits of responses */
    /** Host header for requests that set none (NULL: the transport's
     *  peer name if known, else "localhost"). */
    const char *host;
    /** Called when the connection is gone (after every request's
     *  on_done); `err` NULL for a clean close. */
    void (*on_close)(void *arg, const struct wire_error *err);
    void *arg; /**< passed to on_close; stays the caller's */
};

/**
 * The protocol for one client connection, to give to a transport
 * (wire_connect(), a layer...), which then owns it; `*out` is the handle
 * to issue requests on (valid until on_close returned).  Requests may be
 * issued before the connection is made; they are sent once it is.
 * Returns NULL with `err` (if not NULL) set: WIRE_EINVAL (`out` NULL, an
 * empty or invalid host), WIRE_ENOMEM.
 */
WIRE_EXPORT struct wire_protocol *
wire_http_client_new(const struct wire_http_client_opts *opts,
                     struct wire_http_client **out, struct wire_error *err);
/**
 * Close the connection once every queued request has ended; no request
 * can be made after it (WIRE_ECLOSED).
 *
 * Keep-alive: the connection is reused until a response says it closes
 * (Connection: close, HTTP/1.0 without keep-alive, a body that ends with
 * the connection) or the server closes it.  Requests queued behind that
 * response then end with WIRE_ECLOSED ("the server closed the connection
 * after request N"): the server did not process them, but only the
 * application knows whether sending them again (on a new connection) is
 * safe, so the client never retries on its own.
 */
WIRE_EXPORT void wire_http_client_close(struct wire_http_client *c);

/** A new request, queued behind the others.  Add headers, write the body
 *  (or not), then end it.  `method` and `target` are copied; `h` is
 *  copied and its callbacks get `arg`.  The request belongs to the client
 *  and is valid until its on_done returns.  Returns NULL with `err` (if
 *  not NULL) set: WIRE_EINVAL (no client or handler, a method that is not
 *  a token, a target with blanks), WIRE_ECLOSED (the client is closing
 *  or gone), WIRE_ENOMEM. */
WIRE_EXPORT struct wire_http_request *
wire_http_request_new(struct wire_http_client *c, const char *method,
                      const char *target,
                      const struct wire_http_response_handler *h, void *arg,
                      struct wire_error *err);
/** Add a request header (copied) before the head goes out.  Returns 0,
 *  or as wire_http_request_write() (WIRE_ESTATE once the head is final,
 *  WIRE_EINVAL for a bad name or value or a Transfer-Encoding other than
 *  chunked). */
WIRE_EXPORT int wire_http_request_header(struct wire_http_request *r,
                                         const char *name, const char *value);
/**
 * Body writes: Content-Length when set as a header, else chunked.  The
 * head goes out with the first write or with end (a request ended
 * without a body gets no framing, or "Content-Length: 0" for POST, PUT
 * and PATCH); Host is added when not set.  Requests go out in order, each
 * after the previous one ended (a request's writes wait in its own buffer
 * until then).  Returns 0, 1 (queued, but above the high watermark: wait
 * for on_writable), or WIRE_ESTATE (after end, or a header after the
 * head was final), WIRE_EINVAL (a header name that is not a token, a
 * value with CR/LF, a Transfer-Encoding other than chunked; a body longer
 * than the Content-Length; from end: shorter than it, in which case the
 * request stays open), WIRE_ECLOSED (the connection is gone).
 */
WIRE_EXPORT int wire_http_request_write(struct wire_http_request *r,
                                        const void *data, size_t len);
/** End the request (sending the head first if it has not gone out; the
 *  response may then be awaited).  Returns as wire_http_request_write(). */
WIRE_EXPORT int wire_http_request_end(struct wire_http_request *r);
/** The response head, once on_response ran (else NULL); valid until
 *  on_done returns. */
WIRE_EXPORT const struct wire_http_head *
wire_http_request_response(const struct wire_http_request *r);
/** Pause / resume on_body of this request's response (the connection
 *  stops reading; what was read already is parsed on a later turn after
 *  resume, never from inside it). */
WIRE_EXPORT void wire_http_request_pause_body(struct wire_http_request *r);
/** Resume on_body after wire_http_request_pause_body() (see there). */
WIRE_EXPORT void wire_http_request_resume_body(struct wire_http_request *r);
/**
 * From on_response of a 101 (or a 2xx answering CONNECT): the raw
 * connection, with any bytes read past the head, becomes the transport of
 * `next`; the request ends (on_done NULL) and the client is gone
 * (on_close NULL).  The hand-over happens when on_response returns.
 * Returns 0 (`next` then belongs to the connection), or WIRE_ESTATE (not
 * from such an on_response), WIRE_ECLOSED, WIRE_ENOTSUP (HTTP carried by
 * a layer), WIRE_EINVAL; on error `next` stays the caller's.  Requests
 * made after an Upgrade or CONNECT request wait for its response (and
 * end with WIRE_ECLOSED when the connection is handed over).
 */
WIRE_EXPORT int wire_http_request_take_over(struct wire_http_request *r,
                                            struct wire_protocol *next,
                                            struct wire_error *err);

/* ---- HTTP as a transport ---- */

/**
 * Options of the HTTP layers, which carry a message protocol in HTTP
 * bodies (the layers of PEP 3153's stack: the protocol above runs
 * unchanged over raw bytes or over HTTP).
 *
 * Messages.  A *message* is what the protocol above writes in one call
 * (wire_transport_write, write_sequence or write_ref; an empty write is
 * an empty message).  The client layer sends each message as one
 * request (POST `path`, with `content_type` and Content-Length; requests
 * are pipelined, in order) and delivers each 2xx response body as one
 * data_received, in request order; a 204 delivers nothing, any other 2xx
 * (200 with an empty body too) one message.  The server layer answers
 * only POST (405 with Allow: POST otherwise, and the protocol above
 * sees nothing), delivers each request body as one data_received, and
 * sends the next message the protocol above writes as the oldest
 * unanswered request's response (200, `content_type`, Content-Length).
 * Bodies are gathered up to limits.max_body (default 16 MiB); one that
 * arrives whole in one read goes up in place.
 *
 * The 204 rule.  A request the protocol above leaves unanswered gets 204
 * No Content (meaning "no message") when nothing has been written for it
 * `reply_timeout_ms` after it was delivered (default 0: at the end of the
 * loop turn that delivered it, which suits protocols that decide at once
 * whether to answer; over a transport without a loop, the string
 * transport, the deadline is its next step).  The deadline runs from the
 * delivery to the protocol above (not from the request's arrival: a
 * request held while the protocol above paused reading has none), and a
 * message written but still queued (the transport below is full) counts
 * as the answer.
 *
 * A protocol that knows whether it will answer says so, and the deadline
 * no longer guesses: wire_transport_hint_reply(t, WIRE_REPLY_NONE) from
 * data_received answers 204 at once; WIRE_REPLY_LATER cancels the
 * deadline, and the request waits for its answer however long it takes
 * (bounded by the client's timeouts, and by close, which answers 204 and
 * closes).  The JSON-RPC peer (<wire/jsonrpc.h>) hints every message: a
 * notification gets its 204 at once, a call answered later (a slow
 * method) is not cut short, with reply_timeout_ms left at 0.  Set
 * reply_timeout_ms only for a protocol that answers later without
 * hinting.
 *
 * Order.  Requests are handled one at a time (the next is not parsed
 * before this one is answered), so an answer never waits for the next
 * request, and answers go out in request order; a request whose answer
 * is owed holds up the requests pipelined behind it (HTTP/1.1 has no
 * other order), so the protocol above must not wait for a later message
 * before answering an earlier one: that waits for ever.  A message
 * written while no request waits (before the first, or after a 204) is
 * held, under the above's watermarks, and goes out as the next request's
 * response: HTTP lets a server speak only when asked.
 *
 * Errors.  Responses other than 2xx fail the client layer with
 * WIRE_EPROTO and the status line plus the start of the body ("http
 * client layer: POST /rpc answered HTTP/1.1 404 Not Found: ...").  Over
 * the limits: the server layer answers 413 (431, 414, 400 for bad heads)
 * and its protocol above gets WIRE_EMSGSIZE (or the matching code); the
 * client layer fails with WIRE_EMSGSIZE on an answer over its limit.
 * The engines' timeouts apply (limits.*_timeout_ms: a client waiting for
 * an answer, a server waiting for a request head, keep-alive idle).
 *
 * Flow control.  The protocol above pausing reading stops the layer
 * reading the transport below (what was already read waits and goes up
 * on a later turn after the resume, never inside it); write backpressure
 * below reaches the above's pause_writing through its own queue.
 * get_info keys the layer does not know are answered by the transport
 * below (peer and local address, fd, TLS details); WIRE_INFO_NAME is
 * "http-client" or "http-server".
 *
 * EOF and close, client layer.  write_eof works over any transport: it
 * means "no more requests"; the answers still due are delivered, then
 * eof_received, and the connection closes (connection_lost NULL).  close
 * lets the requests already written reach the server and their answers
 * be read (and dropped) before the connection closes, so the server
 * sees whole requests; the protocol above is done at once.  abort resets
 * at once.  When the server ends the connection with nothing owed, the
 * protocol above gets eof_received, then connection_lost(NULL); with
 * requests unanswered it gets connection_lost with WIRE_ECLOSED (or
 * WIRE_EINCOMPLETE inside an answer).
 *
 * EOF and close, server layer.  write_eof returns WIRE_ENOTSUP (a server
 * cannot end its side while the client may still ask).  The client's EOF
 * reaches the protocol above after the last request's message, once that
 * request was answered (or got its 204); from then on a write returns
 * WIRE_ECLOSED (no request is left to carry it), and messages still held
 * then fail the layer with WIRE_ECLOSED rather than vanish.  An EOF
 * inside a request body is WIRE_EINCOMPLETE.  close answers a request
 * delivered and unanswered with 204 and Connection: close, then closes
 * (a request not yet delivered gets no answer: its client learns it was
 * not processed); abort resets.
 *
 * The layers hand nothing over (upgrades and CONNECT tunnels are for
 * the plain protocols: wire_http_exchange_upgrade,
 * wire_http_request_take_over): CONNECT, not being a POST, gets 405.
 */
struct wire_http_layer_opts {
    const char *path;         /**< client: request target (default "/") */
    const char *content_type; /**< default "application/octet-stream" */
    const char *host;         /**< client: Host (see wire_http_client_opts) */
    struct wire_http_limits limits; /**< limits of what the layer reads */
    uint64_t reply_timeout_ms; /**< server: the 204 rule, above */
};

/**
 * The HTTP client layer over `upper` (owned from now on, also on error).
 * `opts` NULL: the defaults.  Returns the protocol to give to the
 * transport below, or NULL with `err` set (WIRE_EINVAL: a path that does
 * not start with '/' or holds blanks, a content type with CR/LF;
 * WIRE_ENOMEM).
 */
WIRE_EXPORT struct wire_protocol *
wire_http_client_layer_new(struct wire_protocol *upper,
                           const struct wire_http_layer_opts *opts,
                           struct wire_error *err);
/** The HTTP server layer over `upper` (owned from now on, also on
 *  error): one per connection (from a factory for wire_listen).  `opts`
 *  NULL: the defaults.  Returns the protocol to give to the transport
 *  below, or NULL with `err` set as for wire_http_client_layer_new(). */
WIRE_EXPORT struct wire_protocol *
wire_http_server_layer_new(struct wire_protocol *upper,
                           const struct wire_http_layer_opts *opts,
                           struct wire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_HTTP_H */
