/*
 * The HTTP/1.1 client's request calls (<wire/http.h>): the
 * wire_http_request_* API on the client engine (client.c), and the
 * writing side of the engine: each request's head built when it goes
 * out, its body framed (Content-Length or chunked) and buffered while it
 * waits for its turn, and the requests written in order.
 */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bytes a request that waits for its turn buffers before its writes
 * return 1 (the default high watermark of a transport). */
#define CLI_QUEUE_HIGH (64u * 1024u)

/* ---- small things ---- */

static int
buf_add(struct cli_buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return WIRE_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

static int
buf_add_line(struct cli_buf *b, const char *name, const char *value)
{
    if (buf_add(b, name, strlen(name)) < 0 || buf_add(b, ": ", 2) < 0 ||
        buf_add(b, value, strlen(value)) < 0 || buf_add(b, "\r\n", 2) < 0)
        return WIRE_ENOMEM;
    return 0;
}

/* ---- writing ---- */

bool
http_cli_can_write(const struct wire_http_client *c,
                   const struct wire_http_request *r)
{
    return r == c->wcur && c->t != NULL && c->barrier == NULL && !c->dead;
}

/* Send `r`'s pending bytes (its head first, if it has not gone out) and
 * then `body`, or buffer `body` when `r` cannot write yet.  Returns 0, 1
 * (above the watermark: wait for on_writable), or a negative code. */
static int
emit(struct wire_http_client *c, struct wire_http_request *r,
     const struct iovec *body, int nbody)
{
    if (!http_cli_can_write(c, r)) {
        for (int i = 0; i < nbody; i++)
            if (buf_add(&r->out, body[i].iov_base, body[i].iov_len) < 0)
                return WIRE_ENOMEM;
        if (r->out.len > CLI_QUEUE_HIGH) {
            r->want_writable = true;
            return 1;
        }
        return 0;
    }
    struct iovec iov[8];
    int n = 0;
    char tail[sizeof(c->host) + 16];
    if (!r->head_sent) {
        size_t tl = 0;
        if (!r->has_host)
            tl = (size_t)snprintf(tail, sizeof(tail), "Host: %s\r\n", c->host);
        memcpy(tail + tl, "\r\n", 2);
        iov[n++] = (struct iovec){r->head.p, r->head.len};
        iov[n++] = (struct iovec){tail, tl + 2};
    }
    if (r->out.len > 0)
        iov[n++] = (struct iovec){r->out.p, r->out.len};
    for (int i = 0; i < nbody && n < 8; i++)
        iov[n++] = body[i];
    int rc = n > 0 ? wire_transport_write_sequence(c->t, iov, n) : 0;
    r->head_sent = true;
    r->out.len = 0;
    if (rc < 0)
        return rc;
    if (c->write_paused) {
        r->want_writable = true;
        return 1;
    }
    return 0;
}

/* `r` went out whole: the next request may write. */
static void
req_written(struct wire_http_client *c, struct wire_http_request *r)
{
    r->written = true;
    c->wcur = r->next;
    if (r->upgrade || r->is_connect || r->conn_close)
        c->barrier = r;
    if (r == c->first && !r->got_head)
        http_cli_timer_start(c, CLI_TIMER_HEAD);
}

/* Write what the requests that may write now have. */
void
http_cli_kick(struct wire_http_client *c)
{
    while (c->wcur != NULL && http_cli_can_write(c, c->wcur) && c->wcur->framed) {
        struct wire_http_request *r = c->wcur;
        if (emit(c, r, NULL, 0) < 0)
            return; /* the transport is going: its loss ends everything */
        if (r->want_writable && !c->write_paused) {
            c->soon_writable = true;
            http_cli_schedule(c);
        }
        if (!r->ended)
            return;
        req_written(c, r);
    }
}

/* Choose the framing when the head is about to be final. */
static int
frame(struct wire_http_request *r, bool at_end)
{
    r->framed = true;
    if (r->content_length >= 0 || r->te_chunked) {
        r->chunked = r->te_chunked;
        return 0;
    }
    if (!at_end) {
        r->chunked = true;
        return buf_add_line(&r->head, "Transfer-Encoding", "chunked");
    }
    if (r->needs_length) {
        r->content_length = 0;
        return buf_add_line(&r->head, "Content-Length", "0");
    }
    return 0;
}

static int
req_usable(const struct wire_http_request *r)
{
    if (r->ended || r->done)
        return WIRE_ESTATE;
    if (r->c->dead || r->c->detached || r->c->freed)
        return WIRE_ECLOSED;
    return 0;
}

/* ---- the public request calls ---- */

static bool
valid_target(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return false;
    return true;
}

struct wire_http_request *
wire_http_request_new(struct wire_http_client *c, const char *method,
                      const char *target,
                      const struct wire_http_response_handler *h, void *arg,
                      struct wire_error *err)
{
    if (c == NULL || h == NULL || !http_valid_name(method) || !valid_target(target)) {
        wire_error_set(err, WIRE_EINVAL, "http client: a request needs a "
                                         "handler, a method token and a "
                                         "target without blanks");
        return NULL;
    }
    if (c->dead || c->closing || c->detached || c->freed) {
        wire_error_set(err, WIRE_ECLOSED, "http client: the connection is %s",
                       c->closing ? "closing" : "gone");
        return NULL;
    }
    struct wire_http_request *r = calloc(1, sizeof(*r));
    if (r == NULL)
        goto nomem;
    r->c = c;
    r->h = *h;
    r->arg = arg;
    r->content_length = -1;
    r->is_head = strcmp(method, "HEAD") == 0;
    r->is_connect = strcmp(method, "CONNECT") == 0;
    r->needs_length = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                      strcmp(method, "PATCH") == 0;
    if (buf_add(&r->head, method, strlen(method)) < 0 ||
        buf_add(&r->head, " ", 1) < 0 ||
        buf_add(&r->head, target, strlen(target)) < 0) {
        free(r->head.p);
        free(r);
        goto nomem;
    }
    r->what_len = r->head.len;
    if (buf_add(&r->head, " HTTP/1.1\r\n", 11) < 0) {
        free(r->head.p);
        free(r);
        goto nomem;
    }
    r->seq = ++c->nreq;
    if (c->last != NULL)
        c->last->next = r;
    else
        c->first = r;
    c->last = r;
    if (c->wcur == NULL)
        c->wcur = r;
    return r;
nomem:
    wire_error_set(err, WIRE_ENOMEM, "http client: out of memory");
    return NULL;
}

int
wire_http_request_header(struct wire_http_request *r, const char *name,
                         const char *value)
{
    if (r == NULL || !http_valid_name(name) || !http_valid_value(value))
        return WIRE_EINVAL;
    int rc = req_usable(r);
    if (rc < 0)
        return rc;
    if (r->framed)
        return WIRE_ESTATE; /* the head is final */
    if (strcasecmp(name, "Content-Length") == 0) {
        char *end;
        if (r->content_length >= 0 || r->te_chunked || value[0] < '0' ||
            value[0] > '9')
            return WIRE_EINVAL;
        unsigned long long v = strtoull(value, &end, 10);
        if (*end != '\0' || v > INT64_MAX)
            return WIRE_EINVAL;
        r->content_length = (int64_t)v;
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        /* Only chunked: the client frames nothing else. */
        if (r->content_length >= 0 || r->te_chunked || strcasecmp(value, "chunked") != 0)
            return WIRE_EINVAL;
        r->te_chunked = true;
    } else if (strcasecmp(name, "Host") == 0) {
        r->has_host = true;
    } else if (strcasecmp(name, "Connection") == 0) {
        r->conn_close |= http_list_has(value, "close");
    } else if (strcasecmp(name, "Upgrade") == 0) {
        r->upgrade = true;
    }
    return buf_add_line(&r->head, name, value);
}

int
wire_http_request_write(struct wire_http_request *r, const void *data,
                        size_t len)
{
    if (r == NULL || (data == NULL && len > 0))
        return WIRE_EINVAL;
    int rc = req_usable(r);
    if (rc < 0)
        return rc;
    if (len == 0)
        return 0;
    if (r->content_length >= 0 &&
        (uint64_t)r->content_length - r->body_written < len)
        return WIRE_EINVAL; /* longer than the Content-Length given */
    if (!r->framed && (rc = frame(r, false)) < 0)
        return rc;
    r->body_written += len;
    struct iovec iov[3];
    char size[24];
    if (r->chunked) {
        int n = snprintf(size, sizeof(size), "%zx\r\n", len);
        iov[0] = (struct iovec){size, (size_t)n};
        iov[1] = (struct iovec){(void *)(uintptr_t)data, len};
        iov[2] = (struct iovec){"\r\n", 2};
        return emit(r->c, r, iov, 3);
    }
    iov[0] = (struct iovec){(void *)(uintptr_t)data, len};
    return emit(r->c, r, iov, 1);
}

int
wire_http_request_end(struct wire_http_request *r)
{
    if (r == NULL)
        return WIRE_EINVAL;
    int rc = req_usable(r);
    if (rc < 0)
        return rc;
    if (r->content_length >= 0 && r->body_written < (uint64_t)r->content_length)
        return WIRE_EINVAL; /* shorter than the Content-Length given */
    if (!r->framed && (rc = frame(r, true)) < 0)
        return rc;
    struct wire_http_client *c = r->c;
    struct iovec last = {"0\r\n\r\n", 5};
    rc = emit(c, r, &last, r->chunked ? 1 : 0);
    if (rc < 0)
        return rc;
    r->ended = true;
    if (http_cli_can_write(c, r)) {
        req_written(c, r);
        http_cli_kick(c);
    }
    return 0;
}

const struct wire_http_head *
wire_http_request_response(const struct wire_http_request *r)
{
    return r != NULL && r->got_head ? &r->c->ps.head : NULL;
}

void
wire_http_request_pause_body(struct wire_http_request *r)
{
    if (r == NULL || r->body_paused)
        return;
    struct wire_http_client *c = r->c;
    r->body_paused = true;
    if (r != c->first || !r->got_head || c->dead || c->t == NULL)
        return;
    /* Our own slowness is not the server's. */
    if (c->timer_kind == CLI_TIMER_BODY)
        http_cli_timer_stop(c);
    c->reading_paused = true;
    http_cli_sync_reading(c);
}

void
wire_http_request_resume_body(struct wire_http_request *r)
{
    if (r == NULL || !r->body_paused)
        return;
    struct wire_http_client *c = r->c;
    r->body_paused = false;
    if (r != c->first || !r->got_head || c->dead || c->t == NULL)
        return;
    if (c->timer_kind == CLI_TIMER_NONE && !c->upgrading)
        http_cli_timer_start(c, CLI_TIMER_BODY);
    /* What was held is parsed on a later turn, never inside this call. */
    c->soon_resume = true;
    http_cli_schedule(c);
}

int
wire_http_request_take_over(struct wire_http_request *r,
                            struct wire_protocol *next, struct wire_error *err)
{
    if (r == NULL || next == NULL)
        return wire_error_set(err, WIRE_EINVAL, "take_over: no request or "
                                                "no protocol");
    struct wire_http_client *c = r->c;
    if (c->owner == NULL)
        return wire_error_set(err, WIRE_ENOTSUP, "take_over: this HTTP "
                                                 "client cannot hand its "
                                                 "transport over");
    if (c->in_response != r || !c->upgrading || c->next_proto != NULL)
        return wire_error_set(err, WIRE_ESTATE, "take_over: only once, from "
                                                "on_response of a 101 or of "
                                                "a 2xx to CONNECT");
    if (c->t == NULL || wire_transport_is_closing(c->t))
        return wire_error_set(err, WIRE_ECLOSED, "take_over: the connection "
                                                 "is closing");
    c->next_proto = next;
    return 0;
}
