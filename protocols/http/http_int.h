/*
 * Private to the HTTP protocols (protocols/http/): the llhttp glue shared
 * by the server, the client and the layers (head.c).
 *
 * struct http_parse wraps one llhttp parser.  It gathers the head (the
 * start line and the header lines, which may arrive split across reads)
 * into one buffer bounded by the limits, builds a struct wire_http_head
 * when the head is complete, and passes the head, the body pieces and the
 * end of each message to its owner's callbacks.  The owner feeds it bytes
 * with http_parse_feed, which says how many were consumed: parsing stops
 * (llhttp pauses) when an owner callback asks, e.g. at the end of a
 * request so that pipelined requests are answered in order.
 */
#ifndef WIRE_HTTP_INT_H
#define WIRE_HTTP_INT_H

#include <wire/http.h>
#include <wire/transport_impl.h>

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_parse;

/* What an owner callback returns. */
enum {
    HTTP_CB_OK = 0,      /* go on */
    HTTP_CB_PAUSE = 1,   /* stop after this callback; feed returns what
                          * was consumed so far */
    HTTP_CB_SKIP_BODY = 2, /* on_head only: the message has no body
                            * (a response to HEAD) */
    HTTP_CB_UPGRADE = 3, /* on_head only: no body, and the bytes after
                          * the head are not HTTP (a 2xx to CONNECT, a
                          * 101): feed stops there */
    HTTP_CB_ERROR = -1   /* fail: feed returns HTTP_PARSE_FAILED */
};

struct http_parse_ops {
    /* The head is complete (`ps->head`). */
    int (*on_head)(struct http_parse *ps);
    int (*on_body)(struct http_parse *ps, const char *data, size_t len);
    /* The message (head and body) is complete. */
    int (*on_complete)(struct http_parse *ps);
};

/* Gathered head bytes: strings NUL-terminated, found by offset (the
 * buffer may move while it grows). */
struct http_span {
    uint32_t off, len;
};

struct http_parse {
    llhttp_t p;
    const struct http_parse_ops *ops;
    void *owner;
    struct wire_http_limits limits; /* defaults filled in */
    /* the head being gathered */
    char *buf;
    size_t len, cap;
    struct http_span method, target, reason, *fields, *values;
    size_t nfields, fields_cap;
    bool in_value;       /* the last span was a header value */
    bool head_done;      /* on_head ran for the current message */
    bool in_message;     /* a message started and has not completed */
    uint64_t body_seen;  /* body bytes of the current message */
    size_t trailer_bytes; /* trailer lines after a chunked body (dropped) */
    bool pause_pending;    /* on_body asked to pause: at the next point */
    bool complete_pending; /* the message ended while paused */
    bool upgraded;         /* llhttp stopped after an upgrade head */
    /* the built head (valid from on_head until http_parse_next_message
     * or the next message's first byte) */
    struct wire_http_head head;
    struct wire_http_header *headers;
    size_t headers_cap;
    /* the failure: the status a server answers with (400, 413, 414, 431,
     * 505) and a message */
    int fail_status;
    char fail_msg[160];
};

#define HTTP_PARSE_FAILED ((size_t)-1)

/* Fill zero fields of `l` with the defaults. */
void http_limits_fill(struct wire_http_limits *l);
/* A request (server) or response (client) parser. */
void http_parse_init(struct http_parse *ps, bool requests,
                     const struct wire_http_limits *limits,
                     const struct http_parse_ops *ops, void *owner);
void http_parse_free(struct http_parse *ps);
/* Feed bytes: returns how many were consumed (all of them unless a
 * callback paused, or an upgrade/CONNECT head ended the HTTP part), or
 * HTTP_PARSE_FAILED with fail_status/fail_msg set.  After a pause, call
 * again with the rest when ready, even when nothing is left (len 0):
 * that finishes what needs no more input, such as the end of a body
 * paused on its last bytes. */
size_t http_parse_feed(struct http_parse *ps, const char *data, size_t len);
/* The peer's EOF: completes a message whose body ends with the
 * connection; returns 0, or -1 with fail_* set when a message was cut
 * short. */
int http_parse_eof(struct http_parse *ps);
/* True when the parser is between messages (nothing partial). */
bool http_parse_idle(const struct http_parse *ps);
/* After an upgrade/CONNECT head (head.upgrade and the owner accepted it),
 * llhttp stops: the bytes after the head are not HTTP any more. */
bool http_parse_upgraded(const struct http_parse *ps);
/* Go on parsing HTTP after an upgrade request the owner declined. */
void http_parse_resume_after_upgrade(struct http_parse *ps);

/* Strings. */
/* A header name is a token, a value has no CR, LF or NUL. */
bool http_valid_name(const char *s);
bool http_valid_value(const char *s);
/* "Sun, 06 Nov 1994 08:49:37 GMT" for now, cached per second per thread;
 * `out` has room for 30 bytes.  Returns the length (29). */
size_t http_date_now(char *out);
/* Case-insensitive comparison of a header value's comma-separated
 * tokens: true when `list` contains `token`. */
bool http_list_has(const char *list, const char *token);

/* ---- server engine (server.c) ----
 *
 * The HTTP/1.1 server for one connection, apart from the protocol that
 * carries it, so the public server protocol (wire_http_server_protocol_new)
 * and the HTTP server layer (layer.c) share it.  The owner forwards its
 * transport's callbacks; the engine writes to, and pauses/resumes reading
 * on, the transport given to http_srv_attach, and runs the service's
 * handler for each exchange.  Deferred work (the next pipelined request,
 * on_done after a response ended from an application call) runs on a
 * later turn through wire_impl_defer; timeouts use the transport's loop
 * (none without one: the string transport).
 *
 * `owner` is the protocol the transport feeds (the engine's wrapper):
 * wire_http_exchange_upgrade hands the transport to the next protocol and
 * destroys `owner` on a later turn (which frees the engine through its
 * destroy).  With `owner` NULL (a layer) upgrades are refused.
 */
struct http_srv;

struct http_srv *http_srv_new(struct wire_http_service *s,
                              struct wire_protocol *owner);
void http_srv_attach(struct http_srv *e, struct wire_transport *t);
void http_srv_data(struct http_srv *e, const void *data, size_t len);
/* The peer's EOF: true to keep the transport open for writing (answers
 * still owed). */
bool http_srv_eof(struct http_srv *e);
void http_srv_lost(struct http_srv *e, const struct wire_error *err);
void http_srv_pause_writing(struct http_srv *e);
void http_srv_resume_writing(struct http_srv *e);
/* Hold the transport's reading (the protocol above a layer paused), on
 * top of the engine's own pauses; false lets the engine read again when
 * it wants to.  What was read already is still parsed.  The timeouts
 * stop while held (the wait is ours, not the client's) and start afresh
 * at the release. */
void http_srv_hold_reading(struct http_srv *e, bool hold);
/* Why the engine ended the connection on its own (a 4xx it answered, a
 * timeout): the code (0: it did not) and the message. */
int http_srv_error(const struct http_srv *e, const char **msg);
/* Release (after lost, or for an engine never attached); memory goes
 * once no deferred work holds it. */
void http_srv_free(struct http_srv *e);

/* ---- client engine (client.c) ----
 *
 * The HTTP/1.1 client for one connection, apart from the protocol that
 * carries it, so the public client protocol (wire_http_client_new) and
 * the HTTP client layer (layer.c) share it.  The engine is the struct
 * wire_http_client requests are issued on: the wire_http_request_* calls
 * work on it unchanged, before and after it is attached.  The owner
 * forwards its transport's callbacks (http_cli_attach at
 * connection_made, then data, eof, lost, pause/resume writing); the
 * engine writes to, and pauses/resumes reading on, the transport given to
 * http_cli_attach (for a layer, the transport below it) and closes or
 * aborts it when the connection cannot go on.  Deferred work (resuming a
 * paused body, on_writable of a request that waited its turn) runs on a
 * later turn through wire_impl_defer; timeouts use the transport's loop
 * (none without one: the string transport).  opts->on_close is called
 * once, from http_cli_lost (or a take-over, or http_cli_free for an
 * engine never attached), after every request's on_done.
 *
 * `owner` is the protocol the transport feeds (the engine's wrapper):
 * wire_http_request_take_over hands the transport to the next protocol
 * and destroys `owner` on a later turn (which frees the engine through
 * its destroy).  With `owner` NULL (a layer) take_over returns
 * WIRE_ENOTSUP.
 */
struct wire_http_client *http_cli_new(const struct wire_http_client_opts *opts,
                                      struct wire_protocol *owner,
                                      struct wire_error *err);
void http_cli_attach(struct wire_http_client *c, struct wire_transport *t);
void http_cli_data(struct wire_http_client *c, const void *data, size_t len);
/* The peer's EOF: always true (the engine closes the transport itself,
 * once what it holds is parsed). */
bool http_cli_eof(struct wire_http_client *c);
void http_cli_lost(struct wire_http_client *c, const struct wire_error *err);
void http_cli_pause_writing(struct wire_http_client *c);
void http_cli_resume_writing(struct wire_http_client *c);
/* Hold the transport's reading (the protocol above a layer paused), on
 * top of the engine's own pauses (a paused body); false lets it read
 * again when the engine wants to.  The timeouts stop while held and
 * start afresh at the release. */
void http_cli_hold_reading(struct wire_http_client *c, bool hold);
/* Release (after lost, or for an engine never attached: its requests end
 * with WIRE_ECLOSED); memory goes once no deferred work holds it. */
void http_cli_free(struct wire_http_client *c);

#endif
