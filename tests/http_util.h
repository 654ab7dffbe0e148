/*
 * Shared by the HTTP server suites (check_http_server.c,
 * check_http_head.c): a scriptable server application ("happ") that
 * records what the server tells it, a server over the string transport,
 * and a small, independent parser of the responses the server wrote, so
 * a test asserts on status, headers and body instead of exact bytes.
 */
#ifndef WIRE_TESTS_HTTP_UTIL_H
#define WIRE_TESTS_HTTP_UTIL_H

#include "unit.h"

#include <wire/http.h>

/* What the application does with each request. */
enum happ_mode {
    HAPP_RESPOND, /* wire_http_respond(status, text/plain, body) in on_request */
    HAPP_LATER,   /* nothing: the test answers through a->x */
    HAPP_ECHO,    /* at on_body_end: 200 with the whole body (Content-Length) */
    HAPP_STREAM   /* start 200 in on_request, write each piece, end at body end */
};

struct happ {
    /* behaviour (set before the first request) */
    enum happ_mode mode;
    int status;             /* HAPP_RESPOND: default 200 */
    const char *body;       /* HAPP_RESPOND: default "ok" */
    bool fixed_date;        /* add "Date: X" so outputs compare across seconds */
    bool pause_in_request;  /* wire_http_body_pause in on_request */
    bool pause_in_body;     /* wire_http_body_pause in each on_body */
    bool dump_headers;      /* log every header of each request */
    struct wire_protocol *upgrade_to; /* upgrade to it (101) in on_request */
    /* records */
    char *log;              /* "REQ GET /a 1.1|BODY 5|END|DONE 0|" ... */
    size_t log_len, log_cap;
    char *body_in;          /* request body bytes (all requests) */
    size_t body_in_len, body_in_cap;
    struct wire_http_exchange *x; /* the current exchange (NULL after on_done) */
    int requests, body_calls, body_ends, dones, done_errors, writables;
    int last_err;           /* the last on_done error code (0: none) */
    char last_msg[256];
    struct wire_http_head head; /* a copy of the last head's scalars */
};

/* A service running `a`, with `limits` (NULL: defaults). */
struct wire_http_service *happ_service(struct happ *a,
                                       const struct wire_http_limits *limits);
/* A server connection on the string transport (the service is released:
 * the connection holds it). */
struct wire_transport *happ_string(struct happ *a,
                                   const struct wire_http_limits *limits);
/* Free the log (not `a`). */
void happ_free(struct happ *a);
/* The log as a string. */
const char *happ_log(const struct happ *a);
/* Answer the current exchange (a->x) with `status` and `body`. */
void happ_answer(struct happ *a, int status, const char *body);
/* Feed a C string. */
void st_feed(struct wire_transport *t, const char *s);

/* ---- responses, parsed by the test ---- */

struct tresp {
    int status;
    int minor;
    char reason[64];
    char headers[4096]; /* "name: value\n" each, as received */
    char *body;         /* NUL-terminated, malloc'd */
    size_t body_len;
    bool chunked;
};

/* Parse up to `max` consecutive responses from `buf`: returns how many
 * were complete.  A response without Content-Length or chunked framing
 * takes the rest (close-delimited) unless it cannot have a body (1xx,
 * 204, 304, or `head_req`).  `*used` (may be NULL) gets the bytes
 * parsed.  Free with tresp_free. */
int tresp_parse(const char *buf, size_t len, struct tresp *out, int max,
                bool head_req, size_t *used);
void tresp_free(struct tresp *r, int n);
/* The first value of header `name` (case-insensitive) or NULL; static
 * buffer. */
const char *tresp_get(const struct tresp *r, const char *name);
/* How many header lines named `name`. */
int tresp_count(const struct tresp *r, const char *name);

/* Parse the string transport's whole output, asserting `n` responses. */
void tresp_expect(const struct wire_transport *t, struct tresp *out, int n);

#endif
