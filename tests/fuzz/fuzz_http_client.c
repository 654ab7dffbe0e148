/*
 * Fuzz target: the HTTP/1.1 client (<wire/http.h>) fed a response stream
 * over the string transport, with requests issued from the input.
 *
 * Input: cfg, schedule (fuzz.h), then
 *   section    the requests issued at the start, one byte each (below)
 *   the rest   the response stream
 * cfg bits 2-3: the limits (defaults; small; smaller; tiny); bit 4: the
 * requests are made before the connection starts (else right after).
 *
 * A request byte b: method = b & 7 (GET, HEAD, POST, PUT, DELETE,
 * OPTIONS, CONNECT, PATCH); body = (b >> 3) & 3 (none; "hello" with
 * Content-Length; "hello" + "world" chunked; a Content-Length it does
 * not keep, so end fails and the request stays open until written);
 * bit 5: pause the response body at its head (resumed by the schedule);
 * bit 6: take the connection over on a 101 or a 2xx to CONNECT; bit 7:
 * an Expect: 100-continue header.
 * Schedule actions (code & 3): issue one more request (code >> 2 is its
 * byte, less the top bits); resume paused bodies; close the client; abort.
 *
 * Invariants: every request gets on_done exactly once, in the order they
 * were made, after its on_response and body; the head makes sense (a
 * final status, version 1.x); no body for HEAD, 204, 304; a complete
 * response with Content-Length delivered exactly that many bytes; the
 * documented error codes only; on_close once, after every on_done.  And
 * what the client wrote is HTTP: it is fed to the library's server
 * (wire_http_server_protocol_new, over another string transport), which
 * must see the same requests, in order, with the same bodies.
 */
#include "fuzz.h"

#include <wire/http.h>
#include <wire/string_transport.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const methods[8] = {"GET",    "HEAD",    "POST",
                                       "PUT",    "DELETE",  "OPTIONS",
                                       "CONNECT", "PATCH"};

struct req {
    struct cfuzz *f;
    struct wire_http_request *r; /* NULL once done */
    uint8_t spec;
    size_t seq;
    bool responded, done, paused, ended_ok;
    int status;
    int64_t clen;
    size_t got;       /* body bytes */
    struct fuzz_buf sent; /* the body we wrote */
};

struct cfuzz {
    struct fuzz_drive drive;
    struct wire_http_client *c;
    struct wire_transport *st;
    struct req **reqs;
    size_t n, cap;
    size_t ndone;
    bool closed, handed;
    /* what the server saw of our output */
    struct fuzz_msgs seen_target; /* "METHOD target" */
    struct fuzz_msgs seen_body;
};

/* The protocol a taken-over connection gets: it only frees itself. */
static void
taken_destroy(struct wire_protocol *p)
{
    free(p);
}

static const struct wire_protocol_ops taken_ops = {.destroy = taken_destroy};

static void
on_response(void *arg, struct wire_http_request *r,
            const struct wire_http_head *h)
{
    struct req *q = arg;
    FUZZ_CHECK(q->r == r && !q->done && !q->responded,
               "on_response out of order");
    q->responded = true;
    q->status = h->status;
    q->clen = h->content_length;
    FUZZ_CHECK(h->status >= 101 && h->status <= 999 &&
                   (h->status >= 200 || h->status == 101),
               "status %d reached the application", h->status);
    FUZZ_CHECK(h->method == NULL && h->target == NULL && h->reason != NULL,
               "a response head with a method or without a reason");
    FUZZ_CHECK(h->version_major == 1 && h->version_minor <= 1,
               "HTTP/%d.%d", h->version_major, h->version_minor);
    FUZZ_CHECK(!(h->chunked && h->content_length >= 0),
               "Content-Length with chunked");
    FUZZ_CHECK(wire_http_request_response(r) == h, "the response head moved");
    for (size_t i = 0; i < h->nheaders; i++)
        FUZZ_CHECK(wire_http_head_get(h, h->headers[i].name) != NULL,
                   "header %zu cannot be found", i);
    if (q->spec & 0x20) {
        wire_http_request_pause_body(r);
        q->paused = true;
    }
    bool connect = (q->spec & 7) == 6;
    if ((q->spec & 0x40) &&
        (h->status == 101 || (connect && h->status / 100 == 2))) {
        struct wire_protocol *p = malloc(sizeof(*p));
        FUZZ_CHECK(p != NULL, "out of memory");
        wire_protocol_init(p, &taken_ops);
        struct wire_error err = {0};
        if (wire_http_request_take_over(r, p, &err) == 0) {
            q->f->handed = true;
        } else {
            wire_protocol_destroy(p);
            wire_error_clear(&err);
        }
    }
}

static void
on_body(void *arg, struct wire_http_request *r, const void *data, size_t len)
{
    struct req *q = arg;
    FUZZ_CHECK(q->r == r && q->responded && !q->done, "on_body out of order");
    FUZZ_CHECK(!q->paused, "on_body while paused");
    FUZZ_CHECK((q->spec & 7) != 1, "a body for HEAD");
    FUZZ_CHECK(q->status != 204 && q->status != 304, "a body for %d",
               q->status);
    FUZZ_CHECK(len > 0, "an empty piece of body");
    q->got += len;
    if (q->clen >= 0)
        FUZZ_CHECK(q->got <= (uint64_t)q->clen, "more body than announced");
}

static void
on_done(void *arg, struct wire_http_request *r, const struct wire_error *err)
{
    struct req *q = arg;
    struct cfuzz *f = q->f;
    FUZZ_CHECK(q->r == r && !q->done, "on_done twice");
    FUZZ_CHECK(q->seq == f->ndone, "request %zu done before request %zu",
               q->seq, f->ndone);
    f->ndone++;
    q->done = true;
    q->r = NULL;
    if (err == NULL) {
        FUZZ_CHECK(q->responded, "done without a response");
        if (q->clen >= 0 && (q->spec & 7) != 1 && q->status != 204 &&
            q->status != 304 && q->status != 101 &&
            !((q->spec & 7) == 6 && q->status / 100 == 2))
            FUZZ_CHECK(q->got == (uint64_t)q->clen,
                       "a complete response of %zu bytes for Content-Length "
                       "%lld", q->got, (long long)q->clen);
        q->ended_ok = true;
    } else {
        FUZZ_CHECK(err->message != NULL, "an error without a message");
        int c = err->code;
        FUZZ_CHECK(c == WIRE_EPROTO || c == WIRE_EMSGSIZE ||
                       c == WIRE_EINCOMPLETE || c == WIRE_ECLOSED ||
                       c == WIRE_EABORTED || c == -ECONNRESET,
                   "on_done with %s: %s", wire_err_name(c), err->message);
    }
}

static void
on_close(void *arg, const struct wire_error *err)
{
    struct cfuzz *f = arg;
    FUZZ_CHECK(!f->closed, "on_close twice");
    FUZZ_CHECK(f->ndone == f->n, "on_close with %zu of %zu requests done",
               f->ndone, f->n);
    FUZZ_CHECK(err == NULL || err->code < 0, "on_close with a bad error");
    f->closed = true;
    f->c = NULL;
}

static const struct wire_http_response_handler handler = {
    .on_response = on_response,
    .on_body = on_body,
    .on_done = on_done,
};

static void
issue(struct cfuzz *f, uint8_t spec)
{
    if (f->c == NULL)
        return;
    struct req *q = calloc(1, sizeof(*q));
    FUZZ_CHECK(q != NULL, "out of memory");
    q->f = f;
    q->spec = spec;
    unsigned m = spec & 7;
    const char *target = m == 6 ? "example.org:443" : m == 5 ? "*" : "/x";
    struct wire_error err = {0};
    q->r = wire_http_request_new(f->c, methods[m], target, &handler, q, &err);
    if (q->r == NULL) {
        FUZZ_CHECK(err.code == WIRE_ECLOSED, "request refused: %s",
                   err.message);
        wire_error_clear(&err);
        free(q);
        return;
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 8;
        f->reqs = realloc(f->reqs, f->cap * sizeof(*f->reqs));
        FUZZ_CHECK(f->reqs != NULL, "out of memory");
    }
    q->seq = f->n;
    f->reqs[f->n++] = q;
    struct wire_http_request *r = q->r;
    if (spec & 0x80)
        wire_http_request_header(r, "Expect", "100-continue");
    int rc;
    switch ((spec >> 3) & 3) {
    case 1:
        wire_http_request_header(r, "Content-Length", "5");
        rc = wire_http_request_write(r, "hello", 5);
        if (rc >= 0)
            fuzz_buf_add(&q->sent, "hello", 5);
        rc = wire_http_request_end(r);
        break;
    case 2:
        rc = wire_http_request_write(r, "hello", 5);
        if (rc >= 0)
            fuzz_buf_add(&q->sent, "hello", 5);
        /* An empty write must not end a chunked body. */
        wire_http_request_write(r, "", 0);
        rc = wire_http_request_write(r, "world", 5);
        if (rc >= 0)
            fuzz_buf_add(&q->sent, "world", 5);
        rc = wire_http_request_end(r);
        break;
    case 3:
        wire_http_request_header(r, "Content-Length", "9");
        rc = wire_http_request_write(r, "short", 5);
        rc = wire_http_request_end(r);
        FUZZ_CHECK(rc == WIRE_EINVAL || rc == WIRE_ECLOSED || rc == WIRE_ESTATE,
                   "a short body was ended: %s", wire_err_name(rc));
        rc = 0;
        break;
    default:
        rc = wire_http_request_end(r);
        break;
    }
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == WIRE_ECLOSED || rc == WIRE_ESTATE,
               "request: %s", wire_err_name(rc));
}

static void
action(void *arg, unsigned code)
{
    struct cfuzz *f = arg;
    switch (code & 3) {
    case 0:
        issue(f, (uint8_t)(code >> 2));
        break;
    case 1:
        for (size_t i = 0; i < f->n; i++)
            if (f->reqs[i]->paused && f->reqs[i]->r != NULL) {
                f->reqs[i]->paused = false;
                wire_http_request_resume_body(f->reqs[i]->r);
            }
        break;
    case 2:
        if (f->c != NULL)
            wire_http_client_close(f->c);
        break;
    default:
        if (f->st != NULL && wire_transport_protocol(f->st) != NULL)
            wire_transport_abort(f->st);
        break;
    }
}

/* ---- feeding our output to the library's server ---- */

struct seen {
    struct cfuzz *f;
    struct fuzz_buf body;
};

static void
srv_request(void *arg, struct wire_http_exchange *x)
{
    struct seen *s = arg;
    const struct wire_http_head *h = wire_http_exchange_request(x);
    struct fuzz_buf b = {0};
    fuzz_buf_add(&b, h->method, strlen(h->method));
    fuzz_buf_add(&b, " ", 1);
    fuzz_buf_add(&b, h->target, strlen(h->target));
    fuzz_msgs_add(&s->f->seen_target, b.p, b.len);
    fuzz_buf_free(&b);
    s->body.len = 0;
}

static void
srv_body(void *arg, struct wire_http_exchange *x, const void *d, size_t len)
{
    struct seen *s = arg;
    (void)x;
    fuzz_buf_add(&s->body, d, len);
}

static void
srv_body_end(void *arg, struct wire_http_exchange *x)
{
    struct seen *s = arg;
    fuzz_msgs_add(&s->f->seen_body, s->body.p, s->body.len);
    wire_http_respond(x, 204, NULL, NULL, 0);
}

static void
check_requests(struct cfuzz *f, const uint8_t *out, size_t olen)
{
    struct seen s = {f, {0}};
    static const struct wire_http_handler sh = {
        .on_request = srv_request, .on_body = srv_body,
        .on_body_end = srv_body_end};
    struct wire_error err = {0};
    struct wire_http_service *svc = wire_http_service_new(NULL, &sh, &s, &err);
    FUZZ_CHECK(svc != NULL, "service");
    struct wire_transport *t =
        wire_string_transport_new(wire_http_server_protocol_new(svc));
    FUZZ_CHECK(t != NULL, "server transport");
    wire_string_transport_feed(t, out, olen);
    fuzz_step_all(t);
    wire_string_transport_free(t);
    wire_http_service_unref(svc);
    fuzz_buf_free(&s.body);

    /* Each request the server saw is ours, in order (CONNECT and upgraded
     * connections end what it can read). */
    FUZZ_CHECK(f->seen_target.n <= f->n, "the server saw %zu requests of %zu",
               f->seen_target.n, f->n);
    for (size_t i = 0; i < f->seen_target.n; i++) {
        struct req *q = f->reqs[i];
        unsigned m = q->spec & 7;
        const char *target = m == 6 ? "example.org:443" : m == 5 ? "*" : "/x";
        char want[64];
        int wl = snprintf(want, sizeof(want), "%s %s", methods[m], target);
        size_t gl;
        const uint8_t *g = fuzz_msgs_get(&f->seen_target, i, &gl);
        FUZZ_CHECK(gl == (size_t)wl && memcmp(g, want, gl) == 0,
                   "request %zu went out as '%.*s', not '%s'", i, (int)gl,
                   (const char *)g, want);
        /* CONNECT: what follows its head is the tunnel's, not a body. */
        if (i < f->seen_body.n && ((q->spec >> 3) & 3) != 3 && m != 6) {
            size_t bl;
            const uint8_t *b = fuzz_msgs_get(&f->seen_body, i, &bl);
            FUZZ_CHECK(bl == q->sent.len && fuzz_memeq(b, q->sent.p, bl),
                       "request %zu's body went out as %zu bytes, not %zu", i,
                       bl, q->sent.len);
        }
    }
}

static const struct wire_http_limits limit_sets[4] = {
    {0, 0, 0, 0, 0, 0, 0},
    {256, 8, 32, 64, 0, 0, 0},
    {128, 4, 16, 16, 0, 0, 0},
    {64, 2, 8, 4, 0, 0, 0},
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct fuzz_in in = {data, len};
    uint8_t cfg = fuzz_in_byte(&in);
    struct fuzz_in sched = fuzz_in_section(&in);
    struct fuzz_in reqs = fuzz_in_section(&in);

    struct cfuzz f;
    memset(&f, 0, sizeof(f));
    struct wire_http_client_opts o = {0};
    o.limits = limit_sets[(cfg >> 2) & 3];
    o.host = "fuzz.example";
    o.on_close = on_close;
    o.arg = &f;
    struct wire_error err = {0};
    struct wire_protocol *p = wire_http_client_new(&o, &f.c, &err);
    FUZZ_CHECK(p != NULL && f.c != NULL, "client: %s", err.message);
    bool early = cfg & 0x10;
    if (early)
        for (size_t i = 0; i < reqs.n && i < 16; i++)
            issue(&f, reqs.p[i]);
    fuzz_drive_init(&f.drive, NULL, sched, in, action, &f);
    f.st = wire_string_transport_new(p);
    FUZZ_CHECK(f.st != NULL, "string transport");
    f.drive.t = f.st;
    if (!early)
        for (size_t i = 0; i < reqs.n && i < 16; i++)
            issue(&f, reqs.p[i]);

    fuzz_drive_run(&f.drive);
    fuzz_drive_end(&f.drive, cfg);
    for (int round = 0; round < 16; round++) {
        bool any = false;
        for (size_t i = 0; i < f.n; i++)
            if (f.reqs[i]->paused && f.reqs[i]->r != NULL) {
                f.reqs[i]->paused = false;
                wire_http_request_resume_body(f.reqs[i]->r);
                any = true;
            }
        if (!any)
            break;
        fuzz_step_all(f.st);
    }

    size_t olen;
    const uint8_t *out = wire_string_transport_output(f.st, &olen);
    uint8_t *copy = malloc(olen ? olen : 1);
    FUZZ_CHECK(copy != NULL, "out of memory");
    if (olen > 0)
        memcpy(copy, out, olen);

    wire_string_transport_free(f.st);
    FUZZ_CHECK(f.closed, "on_close never came");
    FUZZ_CHECK(f.ndone == f.n, "%zu of %zu requests done", f.ndone, f.n);
    check_requests(&f, copy, olen);

    free(copy);
    for (size_t i = 0; i < f.n; i++) {
        fuzz_buf_free(&f.reqs[i]->sent);
        free(f.reqs[i]);
    }
    free(f.reqs);
    fuzz_msgs_free(&f.seen_target);
    fuzz_msgs_free(&f.seen_body);
    return 0;
}
