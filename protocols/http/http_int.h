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

/* The server's state, shared by server.c (the engine), server_response.c
 * (the exchange and response calls) and server_proto.c (the service and
 * the protocol). */
struct wire_http_service {
    unsigned refs;
    struct wire_http_handler h;
    void *arg;
    struct wire_http_limits limits;
    char *server_header;
};

enum resp_state {
    R_NONE,      /* nothing started */
    R_STARTED,   /* status (and headers) set, head not written */
    R_SENT,      /* head written, body going */
    R_ENDED,     /* the response is complete */
    R_UPGRADING  /* the 101/2xx is written; hand-over pending */
};

enum framing { FR_UNSET, FR_LENGTH, FR_CHUNKED, FR_CLOSE, FR_NOBODY };

enum timer_kind { T_NONE, T_HEAD, T_IDLE, T_BODY };

struct wire_http_exchange {
    struct http_srv *e;
    void *data;
    enum resp_state rs;
    enum framing framing;
    int status;
    char *reason;       /* NULL: the standard phrase */
    char *hdrs;         /* the application's header lines */
    size_t hlen, hcap;
    int64_t cl;         /* Content-Length set by the application, or -1 */
    uint64_t written;   /* body bytes written (or dropped) */
    bool head_req;      /* a HEAD request: no response body */
    bool has_date, has_server, app_close;
    bool will_close;    /* the connection closes after this response */
    bool req_done;      /* the request (head and body) is complete */
    bool body_paused, continue_sent, want_writable, done;
    struct wire_protocol *next; /* upgrade */
};

struct http_srv {
    struct wire_http_service *svc;
    struct wire_protocol *owner;
    struct wire_transport *t;
    struct http_parse ps;
    struct wire_http_exchange *x;
    /* read but not parsed yet */
    char *in;
    size_t in_off, in_len, in_cap;
    struct wire_timer *timer;
    struct wire_loop *loop; /* the timer's */
    enum timer_kind tkind;
    /* The timer is lazy (http_srv_timer_set): `deadline` is when the
     * current kind expires, `armed_for` when the timer itself fires
     * (never later than `deadline`; 0: not armed), in wire_loop_now ms. */
    uint64_t deadline, armed_for;
    /* Buffers kept from one exchange for the next, so that a keep-alive
     * connection does not allocate them per request: the response head
     * being built (send_body), and an ended exchange's header-line buffer
     * (handed to the next exchange at on_head). */
    char *obuf;
    size_t ocap;
    char *spare_hdrs;
    size_t spare_hcap;
    unsigned refs;
    bool dead;        /* http_srv_free was called */
    bool lost;        /* connection_lost came */
    bool closing;     /* we closed (or handed over) the connection */
    bool handed;      /* the transport belongs to another protocol */
    bool eof;         /* the peer sent EOF */
    bool write_paused, read_paused;
    bool hold;        /* the owner holds reading (http_srv_hold_reading) */
    bool feeding;     /* inside http_parse_feed */
    bool head_bytes;  /* bytes of the next head arrived */
    bool poke;        /* feed the parser even with no bytes (after a body
                       * resume: a message paused on its last bytes, or
                       * right after its head, ends without more input) */
    /* why we closed, for on_done of an exchange cut short */
    int why_code;
    char why[200];
    struct wire_soon kick, bye;
    struct wire_transport *kick_t, *bye_t;
    struct wire_protocol *bye_proto;
};

/* The engine's steps the exchange and response calls use (server.c). */
bool http_srv_gone(const struct http_srv *e);
bool http_srv_req_has_body(const struct wire_http_head *h);
void http_srv_timer_set(struct http_srv *e, enum timer_kind k, uint64_t ms);
void http_srv_timer_stop(struct http_srv *e);
/* Remember why we end the connection (the first reason wins). */
void http_srv_set_why(struct http_srv *e, int code, const char *msg);
/* The exchange's end after the response and the request are both done
 * (or the response ended the connection). */
bool http_srv_finishable(const struct wire_http_exchange *x);
/* Run the engine on a later turn (after an application's call made
 * progress possible). */
void http_srv_schedule_run(struct http_srv *e);
void http_srv_update_reading(struct http_srv *e);
/* The 100 Continue, once the application wants a body it has not
 * answered yet. */
void http_srv_maybe_continue(struct wire_http_exchange *x);

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

/* The client's state, shared by client.c (the engine: reading, timers,
 * take-over), client_request.c (the request calls and the writing) and
 * client_proto.c (the protocol). */
enum cli_timer { CLI_TIMER_NONE, CLI_TIMER_HEAD, CLI_TIMER_BODY };

struct cli_buf {
    char *p;
    size_t len, cap;
};

struct wire_http_request {
    struct wire_http_client *c;
    struct wire_http_request *next;
    struct wire_http_response_handler h;
    void *arg;
    unsigned seq;          /* 1 for the connection's first request */
    size_t what_len;       /* "METHOD target" at the start of `head` */
    struct cli_buf head;   /* request line and header lines */
    struct cli_buf out;    /* framed body bytes waiting for their turn */
    int64_t content_length; /* set by the application, or -1 */
    uint64_t body_written;
    bool is_head, is_connect, needs_length;
    bool has_host, te_chunked, conn_close, upgrade;
    bool framed;        /* framing chosen (first write or end) */
    bool chunked;
    bool head_sent;     /* the head went to the transport */
    bool ended;         /* the application called end */
    bool written;       /* all of it, end included, went to the transport */
    bool want_writable; /* a write returned 1 */
    bool got_head;      /* on_response ran */
    bool body_paused;
    bool done;          /* on_done is running */
};

struct wire_http_client {
    struct wire_http_client_opts opts;
    char *host_opt;
    struct wire_protocol *owner;
    unsigned refs;
    /* the transport, from attach until lost or handed over */
    struct wire_transport *t;
    struct wire_timer *timer;
    enum cli_timer timer_kind;
    char host[256];
    struct http_parse ps;
    /* live requests in order; wcur: the first not fully written;
     * barrier: written, and nothing may follow before its response */
    struct wire_http_request *first, *last, *wcur, *barrier;
    unsigned nreq;
    /* reading */
    char *held;
    size_t held_len;
    bool reading_paused; /* the engine wants the transport's reading paused */
    bool hold;           /* the owner holds reading (http_cli_hold_reading) */
    bool t_paused;       /* what we last told the transport */
    bool eof_pending;    /* the peer's EOF came while bytes were held */
    bool interim;        /* parsing a 1xx */
    bool upgrading;      /* parsing a 101 or a 2xx to CONNECT */
    struct wire_http_request *in_response; /* on_response runs for it */
    struct wire_protocol *next_proto;     /* take_over's */
    int perr_code;
    char perr_msg[160];
    /* writing */
    bool write_paused;
    /* state */
    bool attached, closing, dead, detached, closed_reported, freed;
    struct wire_error close_err; /* why the engine ended the connection */
    /* deferred work */
    struct wire_soon soon;
    struct wire_transport *soon_t;
    bool soon_queued, soon_resume, soon_writable;
    struct wire_soon handed; /* destroying the owner after a take-over */
    struct wire_transport *handed_t;
};

/* The engine's steps the request calls use (client.c). */
void http_cli_sync_reading(struct wire_http_client *c);
void http_cli_timer_stop(struct wire_http_client *c);
void http_cli_timer_start(struct wire_http_client *c, enum cli_timer kind);
void http_cli_maybe_close(struct wire_http_client *c);
void http_cli_schedule(struct wire_http_client *c);
/* The writing the engine drives (client_request.c). */
bool http_cli_can_write(const struct wire_http_client *c,
                        const struct wire_http_request *r);
void http_cli_kick(struct wire_http_client *c);

/* ---- the HTTP layers (layer.c, layer_server.c, layer_client.c) ----
 *
 * The state of one layer, and what the shared part (layer.c) and the
 * two sides call of each other.
 */
#define HL_MARK 8 /* bytes of the private mark before each message */

#define HL_MARK 8 /* bytes of the private mark before each message */

/* The server's one exchange at a time (the engine parses the next
 * request only once this one ended). */
enum hl_xstate {
    X_NONE,      /* no exchange */
    X_BODY,      /* gathering the request body */
    X_PENDING,   /* the body is whole; the above has paused reading */
    X_AWAIT,     /* delivered; waiting for the above's answer */
    X_ANSWERING, /* a message is going out as the response */
    X_ANSWERED,  /* answered (or refused); waiting for the engine's end */
    X_IGNORED    /* not a message (405): answered by us */
};

struct hl_msg {
    struct hl_msg *next;
    size_t len;
    char data[];
};

struct hl {
    struct wire_layer l; /* first */
    bool server;
    char *path, *ctype;
    uint64_t reply_timeout_ms;
    struct wire_http_limits limits;
    /* the engine */
    struct http_srv *srv;
    struct wire_http_client *cli;
    bool attached, engine_lost;
    /* writing: the message being passed down */
    unsigned char mark[HL_MARK];
    size_t mark_got;
    bool in_msg;          /* the mark was read; `left` payload bytes follow */
    uint64_t left;
    uint64_t framed;      /* messages written above (frame calls) */
    uint64_t started;     /* messages whose mark the send hook took */
    struct wire_http_request *req; /* client: the request being written */
    /* reading: the body being gathered */
    char *buf;
    size_t len, cap;
    bool delivered;       /* the current body already went up (in place) */
    struct hl_msg *pend_head, *pend_tail; /* client: waiting for a resume */
    bool pend_eof, eof_up;
    struct wire_soon pump;
    /* client */
    unsigned outstanding; /* requests made and not ended */
    bool eof_sent;        /* write_eof from above */
    int status;
    bool bad;             /* not a 2xx: fail with this status */
    char status_line[160];
    /* server */
    struct wire_http_exchange *x;
    enum hl_xstate xs;
    bool peer_eof;        /* the client ended its side */
    bool owed;            /* the above said an answer will come (hint) */
    struct wire_soon reply_soon;
    struct wire_timer *reply_timer;
    /* state */
    bool closed; /* the above closed, aborted or was failed: nothing goes up */
    bool dying;  /* being destroyed: handlers do nothing */
};

/* layer.c */
struct hl *hl_of_t(struct wire_transport *t);
const char *hl_name(const struct hl *h);
bool hl_buf_add(struct hl *h, const void *d, size_t n);
void hl_buf_reset(struct hl *h);
void hl_fail(struct hl *h, const struct wire_error *err, bool abort);
void hl_failf(struct hl *h, int code, bool abort, const char *fmt, ...)
    WIRE_PRINTF(4, 5);
bool hl_up_ready(struct hl *h);
void hl_pump_schedule(struct hl *h);
void hl_pump_run(struct wire_soon *node);
void hl_up_message(struct hl *h, const void *data, size_t len);
/* The end of the messages: EOF up, after anything waiting. */
void hl_up_eof(struct hl *h);
bool hl_take_mark(struct hl *h, const char **p, size_t *n, size_t *used);
/* layer_server.c */
extern const struct wire_http_handler hl_srv_handler;
ssize_t hl_srv_send(struct wire_layer *l, const struct iovec *iov, int iovcnt);
void hl_srv_deliver(struct hl *h, const void *data, size_t len);
void hl_srv_eof_check(struct hl *h);
void hl_srv_on_done(void *arg, struct wire_http_exchange *x,
                    const struct wire_error *err);
void hl_reply_timer_fired(void *arg);
int hl_hint_reply(struct wire_transport *t, enum wire_reply_hint hint);
/* layer_client.c */
extern const struct wire_http_response_handler hl_cli_handler;
ssize_t hl_cli_send(struct wire_layer *l, const struct iovec *iov, int iovcnt);
int hl_cli_send_eof(struct wire_layer *l);
void hl_cli_on_close(void *arg, const struct wire_error *err);

#endif
