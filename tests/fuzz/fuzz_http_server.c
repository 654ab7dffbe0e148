/*
 * Fuzz target: the HTTP/1.1 server (<wire/http.h>) fed a request stream
 * over the string transport, as the plain server protocol (an
 * application answering through the wire_http_response_* calls) or as
 * the server layer (a message protocol above it).
 *
 * Input: cfg, schedule (fuzz.h), then the request stream.
 * cfg bits 2-3: the limits (defaults; small; small heads with an
 * unlimited body; tiny); bit 4: the server layer instead of the plain
 * server; bit 5: the layer's protocol answers every message (else it
 * hints "no reply", so each request gets a 204).
 *
 * The application chooses what to do per request from the first
 * character of the target's path ("/a..."):
 *   a  answer at once, from on_request      e  echo the body at its end
 *   c  stream the body back (chunked)        l  answer later (schedule)
 *   p  pause the body; resumed later         x  abort the connection
 *   q  close the connection                  h  a Content-Length it
 *                                               does not keep (aborts)
 *   u  upgrade (101) to an echo protocol     n  204 with a body (dropped)
 *   w  a body by write_ref                   else  answer "ok" at the end
 * Schedule actions (code & 3): answer the oldest "later" request; resume
 * the oldest paused body; close; abort.  At the end, every request left
 * is answered and every body resumed.
 *
 * Invariants: the callbacks come in order (on_request, on_body*,
 * on_body_end at most once, on_done exactly once, nothing after it); the
 * head makes sense (method, target, version 1.x, no Content-Length with
 * chunked, headers findable); the output parses strictly as HTTP/1.1
 * responses, at most one per request plus the server's own error
 * answer, nothing after a Connection: close, HEAD answers without body;
 * an echo answer carries exactly the body the application received.
 */
#include "fuzz.h"

#include <wire/http.h>
#include <wire/string_transport.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct xrec {
    struct wire_http_exchange *x; /* NULL once done */
    char what;
    bool head;          /* a HEAD request */
    bool body_end, done, answered, paused;
    int64_t clen;
    struct fuzz_buf body;
    bool echo_expected; /* its answer must echo `body` */
};

struct hfuzz {
    struct fuzz_drive drive;
    struct xrec *xs;
    size_t nx, cap;
    struct wire_transport *st;
    bool upgraded;
    /* layer mode */
    bool layer, answer;
    struct fuzz_rec rec;
    size_t layer_answers;
};

static struct hfuzz *cur; /* for the upgrade protocol's callbacks */

/* ---- the plain server's application ---- */

static struct xrec *
xrec_of(struct hfuzz *f, struct wire_http_exchange *x)
{
    struct xrec *r = wire_http_exchange_data(x);
    FUZZ_CHECK(r != NULL && r->x == x && !r->done,
               "a callback for an exchange that is over or unknown");
    (void)f;
    return r;
}

static void
respond(struct xrec *r, int status, const void *body, size_t len)
{
    if (r->answered || r->x == NULL)
        return;
    r->answered = true;
    int rc = wire_http_respond(r->x, status, "text/plain", body, len);
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == WIRE_ECLOSED || rc == WIRE_ESTATE,
               "wire_http_respond: %s", wire_err_name(rc));
}

static void
free_ref(void *arg, const void *data, size_t len)
{
    (void)data;
    (void)len;
    free(arg);
}

/* An echo: the upgraded connection's protocol. */
static void
echo_data(struct wire_protocol *p, const void *data, size_t len)
{
    if (p->transport != NULL)
        wire_transport_write(p->transport, data, len);
}

static void
echo_destroy(struct wire_protocol *p)
{
    free(p);
}

static const struct wire_protocol_ops echo_ops = {
    .data_received = echo_data,
    .destroy = echo_destroy,
};

static void
on_request(void *arg, struct wire_http_exchange *x)
{
    struct hfuzz *f = arg;
    const struct wire_http_head *h = wire_http_exchange_request(x);
    FUZZ_CHECK(h != NULL && h->method != NULL && h->target != NULL &&
                   h->status == 0 && h->reason == NULL,
               "a request head without method or target");
    FUZZ_CHECK(h->version_major == 1 && h->version_minor >= 0 &&
                   h->version_minor <= 1,
               "HTTP/%d.%d reached the application", h->version_major,
               h->version_minor);
    FUZZ_CHECK(!(h->chunked && h->content_length >= 0),
               "Content-Length with chunked reached the application");
    FUZZ_CHECK(h->content_length >= -1, "a negative Content-Length");
    for (size_t i = 0; i < h->nheaders; i++) {
        FUZZ_CHECK(h->headers[i].name != NULL && h->headers[i].value != NULL,
                   "a header without name or value");
        FUZZ_CHECK(wire_http_head_get(h, h->headers[i].name) != NULL,
                   "header %zu cannot be found by its name", i);
    }
    FUZZ_CHECK(wire_http_exchange_transport(x) == f->st,
               "the exchange's transport is not the connection");
    if (f->nx == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 8;
        f->xs = realloc(f->xs, f->cap * sizeof(*f->xs));
        FUZZ_CHECK(f->xs != NULL, "out of memory");
        /* Records moved: point the exchanges at their new places. */
        for (size_t i = 0; i < f->nx; i++)
            if (f->xs[i].x != NULL)
                wire_http_exchange_set_data(f->xs[i].x, &f->xs[i]);
    }
    struct xrec *r = &f->xs[f->nx++];
    memset(r, 0, sizeof(*r));
    r->x = x;
    r->what = h->target[0] == '/' ? h->target[1] : 0;
    r->head = strcmp(h->method, "HEAD") == 0;
    r->clen = h->content_length;
    wire_http_exchange_set_data(x, r);
    FUZZ_CHECK(wire_http_exchange_data(x) == r, "exchange data lost");

    switch (r->what) {
    case 'a':
        respond(r, 200, "hello", 5);
        break;
    case 'p':
        wire_http_body_pause(x);
        r->paused = true;
        break;
    case 'x':
        wire_transport_abort(f->st);
        break;
    case 'q':
        wire_transport_close(f->st);
        break;
    case 'c': {
        int rc = wire_http_response_start(x, 200, NULL);
        FUZZ_CHECK(rc == 0 || rc == WIRE_ECLOSED, "start: %s",
                   wire_err_name(rc));
        wire_http_response_header(x, "X-Fuzz", "stream");
        r->answered = true;
        break;
    }
    case 'h': {
        r->answered = true;
        wire_http_response_start(x, 200, "OK");
        wire_http_response_header(x, "Content-Length", "10");
        wire_http_response_write(x, "short", 5);
        int rc = wire_http_response_end(x);
        /* HEAD: no body goes out, so a Content-Length is only announced
         * (the usual HEAD answer: the length a GET would get). */
        FUZZ_CHECK(rc == WIRE_EINVAL || rc == WIRE_ECLOSED ||
                       (r->head && rc == 0),
                   "a short body was accepted: %s", wire_err_name(rc));
        break;
    }
    case 'u':
        if (h->upgrade) {
            struct wire_protocol *p = calloc(1, sizeof(*p));
            FUZZ_CHECK(p != NULL, "out of memory");
            wire_protocol_init(p, &echo_ops);
            struct wire_error err = {0};
            int rc = wire_http_exchange_upgrade(x, 101, p, &err);
            if (rc != 0) {
                wire_protocol_destroy(p);
                wire_error_clear(&err);
            } else {
                r->answered = true;
                f->upgraded = true;
            }
        }
        break;
    case 'n': {
        r->answered = true;
        wire_http_response_start(x, 204, NULL);
        int rc = wire_http_response_write(x, "dropped", 7);
        FUZZ_CHECK(rc == 0 || rc == 1 || rc == WIRE_ECLOSED,
                   "a body for 204: %s", wire_err_name(rc));
        wire_http_response_end(x);
        break;
    }
    default:
        break;
    }
}

static void
on_body(void *arg, struct wire_http_exchange *x, const void *data, size_t len)
{
    struct xrec *r = xrec_of(arg, x);
    FUZZ_CHECK(!r->body_end, "body after its end");
    FUZZ_CHECK(!r->paused, "body while paused");
    FUZZ_CHECK(len > 0, "an empty piece of body");
    fuzz_buf_add(&r->body, data, len);
    if (r->clen >= 0)
        FUZZ_CHECK(r->body.len <= (uint64_t)r->clen,
                   "more body than Content-Length");
    if (r->what == 'c') {
        int rc = wire_http_response_write(x, data, len);
        FUZZ_CHECK(rc == 0 || rc == 1 || rc == WIRE_ECLOSED,
                   "streaming write: %s", wire_err_name(rc));
    }
}

static void
on_body_end(void *arg, struct wire_http_exchange *x)
{
    struct xrec *r = xrec_of(arg, x);
    FUZZ_CHECK(!r->body_end, "on_body_end twice");
    r->body_end = true;
    if (r->clen >= 0)
        FUZZ_CHECK(r->body.len == (uint64_t)r->clen,
                   "a body of %zu bytes for Content-Length %lld", r->body.len,
                   (long long)r->clen);
    switch (r->what) {
    case 'e':
        r->echo_expected = !r->answered;
        respond(r, 200, r->body.p, r->body.len);
        break;
    case 'c': {
        int rc = wire_http_response_end(x);
        FUZZ_CHECK(rc == 0 || rc == 1 || rc == WIRE_ECLOSED,
                   "stream end: %s", wire_err_name(rc));
        break;
    }
    case 'w':
        if (!r->answered) {
            char *copy = malloc(r->body.len + 1);
            FUZZ_CHECK(copy != NULL, "out of memory");
            if (r->body.len > 0)
                memcpy(copy, r->body.p, r->body.len);
            r->answered = true;
            wire_http_response_start(x, 200, NULL);
            int rc = wire_http_response_write_ref(x, copy, r->body.len,
                                                  free_ref, copy);
            if (rc < 0)
                free(copy);
            wire_http_response_end(x);
        }
        break;
    case 'l':
    case 'p':
    case 'u':
        break;
    default:
        respond(r, 200, "ok", 2);
        break;
    }
}

static void
on_done(void *arg, struct wire_http_exchange *x, const struct wire_error *err)
{
    struct xrec *r = xrec_of(arg, x);
    FUZZ_CHECK(err == NULL || (err->code < 0 && err->message != NULL),
               "on_done with a bad error");
    r->done = true;
    r->x = NULL;
}

static const struct wire_http_handler handler = {
    .on_request = on_request,
    .on_body = on_body,
    .on_body_end = on_body_end,
    .on_done = on_done,
};

static void
answer_later(struct hfuzz *f, struct xrec *r)
{
    if (r->what == 'l' && r->x != NULL && !r->answered)
        respond(r, 202, "later", 5);
}

static void
resume_body(struct xrec *r)
{
    if (r->paused && r->x != NULL) {
        r->paused = false;
        wire_http_body_resume(r->x);
    }
}

static void
action(void *arg, unsigned code)
{
    struct hfuzz *f = arg;
    if (f->layer) {
        /* The layer's protocol: close or abort. */
        if (f->rec.t != NULL && (code & 3) >= 2) {
            if (code & 1)
                wire_transport_abort(f->rec.t);
            else
                wire_transport_close(f->rec.t);
        }
        return;
    }
    switch (code & 3) {
    case 0:
        for (size_t i = 0; i < f->nx; i++)
            if (f->xs[i].what == 'l' && f->xs[i].x != NULL &&
                !f->xs[i].answered) {
                answer_later(f, &f->xs[i]);
                break;
            }
        break;
    case 1:
        for (size_t i = 0; i < f->nx; i++)
            if (f->xs[i].paused && f->xs[i].x != NULL) {
                resume_body(&f->xs[i]);
                break;
            }
        break;
    case 2:
        wire_transport_close(f->st);
        break;
    default:
        wire_transport_abort(f->st);
        break;
    }
}

/* ---- the layer's protocol ---- */

static void
layer_message(struct fuzz_rec *rec, const uint8_t *d, size_t len)
{
    struct hfuzz *f = cur;
    (void)rec;
    if (f->answer) {
        int rc = wire_transport_write(f->rec.t, d, len);
        FUZZ_CHECK(rc == 0 || rc == WIRE_ECLOSED, "layer write: %s",
                   wire_err_name(rc));
        if (rc == 0)
            f->layer_answers++;
    } else {
        int rc = wire_transport_hint_reply(f->rec.t, WIRE_REPLY_NONE);
        FUZZ_CHECK(rc == 0 || rc == WIRE_ECLOSED, "hint: %s",
                   wire_err_name(rc));
    }
}

/* ---- checking the output ---- */

static int
is_head(void *arg, size_t i)
{
    struct hfuzz *f = arg;
    if (f->layer || i >= f->nx)
        return -1; /* a request the application never saw */
    return f->xs[i].head ? 1 : 0;
}

static void
check_output(struct hfuzz *f)
{
    size_t olen;
    const uint8_t *out = wire_string_transport_output(f->st, &olen);
    struct fuzz_http_resps rs;
    const char *why = fuzz_http_parse(out, olen, is_head, f, &rs);
    FUZZ_CHECK(why == NULL, "the server's output is not HTTP: %s (%zu bytes)",
               why, olen);
    if (!f->layer) {
        FUZZ_CHECK(rs.n <= f->nx + 1, "%zu responses to %zu requests", rs.n,
                   f->nx);
        for (size_t i = 0; i < rs.n && i < f->nx; i++) {
            struct xrec *r = &f->xs[i];
            const struct fuzz_http_resp *p = &rs.r[i];
            if (r->echo_expected && p->status == 200 && !r->head &&
                (i + 1 < rs.n || !rs.truncated))
                FUZZ_CHECK(p->body.len == r->body.len &&
                               fuzz_memeq(p->body.p, r->body.p, r->body.len),
                           "response %zu does not echo the body (%zu bytes, "
                           "%zu expected)", i, p->body.len, r->body.len);
            if (r->what == 'a' && p->status == 200 && !r->head &&
                (i + 1 < rs.n || !rs.truncated))
                FUZZ_CHECK(p->body.len == 5 &&
                               memcmp(p->body.p, "hello", 5) == 0,
                           "response %zu is not hello", i);
        }
        FUZZ_CHECK(!rs.upgraded || f->upgraded, "a 101 nobody asked for");
    } else {
        for (size_t i = 0; i < rs.n; i++) {
            const struct fuzz_http_resp *p = &rs.r[i];
            FUZZ_CHECK(p->status != 200 || f->answer,
                       "a 200 from a layer whose protocol never answers");
            FUZZ_CHECK(!rs.upgraded, "the layer upgraded");
        }
    }
    /* Every exchange over and nothing closed: the output is whole. */
    bool all_done = true;
    for (size_t i = 0; i < f->nx; i++)
        all_done = all_done && f->xs[i].done;
    if (!wire_string_transport_closed(f->st) && !f->upgraded && !rs.gave_up &&
        all_done && !f->layer)
        FUZZ_CHECK(!rs.truncated, "the output ends inside a response while "
                   "the connection is open");
    fuzz_http_resps_free(&rs);
}

static const struct wire_http_limits limit_sets[4] = {
    {0, 0, 0, 0, 0, 0, 0},
    {256, 8, 32, 64, 0, 0, 0},
    {512, 16, 64, UINT64_MAX, 0, 0, 0},
    {64, 2, 8, 4, 0, 0, 0},
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct fuzz_in in = {data, len};
    uint8_t cfg = fuzz_in_byte(&in);
    struct fuzz_in sched = fuzz_in_section(&in);

    struct hfuzz f;
    memset(&f, 0, sizeof(f));
    cur = &f;
    f.layer = cfg & 0x10;
    f.answer = cfg & 0x20;
    struct wire_error err = {0};
    struct wire_http_service *svc = NULL;
    struct wire_protocol *p;
    if (f.layer) {
        fuzz_rec_init(&f.rec);
        f.rec.on_message = layer_message;
        struct wire_http_layer_opts lo = {0};
        lo.limits = limit_sets[(cfg >> 2) & 3];
        lo.content_type = "application/x-fuzz";
        p = wire_http_server_layer_new(&f.rec.base, &lo, &err);
    } else {
        struct wire_http_service_opts so = {0};
        so.limits = limit_sets[(cfg >> 2) & 3];
        so.server_header = "fuzz";
        svc = wire_http_service_new(&so, &handler, &f, &err);
        FUZZ_CHECK(svc != NULL, "service: %s", err.message);
        p = wire_http_server_protocol_new(svc);
    }
    FUZZ_CHECK(p != NULL, "server protocol: %s", err.message);
    /* Before the transport: the protocol may read from connection_made. */
    fuzz_drive_init(&f.drive, NULL, sched, in, action, &f);
    f.st = wire_string_transport_new(p);
    FUZZ_CHECK(f.st != NULL, "string transport");

    f.drive.t = f.st;
    fuzz_drive_run(&f.drive);
    fuzz_drive_end(&f.drive, cfg);
    /* Answer and resume whatever waits, until nothing changes. */
    for (int round = 0; round < 64 && !f.layer; round++) {
        bool any = false;
        for (size_t i = 0; i < f.nx; i++) {
            struct xrec *r = &f.xs[i];
            if (r->x == NULL)
                continue;
            if (r->paused) {
                resume_body(r);
                any = true;
            } else if (r->what == 'l' && !r->answered) {
                answer_later(&f, r);
                any = true;
            }
        }
        fuzz_step_all(f.st);
        if (!any)
            break;
    }
    check_output(&f);

    wire_string_transport_free(f.st);
    for (size_t i = 0; i < f.nx; i++) {
        FUZZ_CHECK(f.xs[i].done, "exchange %zu never got on_done", i);
        fuzz_buf_free(&f.xs[i].body);
    }
    free(f.xs);
    if (f.layer) {
        FUZZ_CHECK(f.rec.destroyed == 1, "the layer's protocol leaked");
        fuzz_rec_free(&f.rec);
    }
    wire_http_service_unref(svc);
    cur = NULL;
    return 0;
}
