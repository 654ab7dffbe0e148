/*
 * The HTTP/1.1 server's exchange calls (<wire/http.h>): the exchange's
 * accessors, the request body's flow control and the response the
 * application builds with the wire_http_response_* calls and
 * wire_http_respond (the head built without printf, the body framed as
 * it is written), and the upgrade's answer.  The engine around the
 * exchange is in server.c.
 *
 * None of these calls runs an application callback back: what they
 * unblock runs on a later turn (http_srv_schedule_run).
 */
#include "http_int.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- small helpers ---- */

/* Room for `n` more bytes and a NUL in a growing buffer; false on
 * ENOMEM. */
static bool
buf_reserve(char **b, size_t len, size_t *cap, size_t n)
{
    if (len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < len + n + 1)
            c *= 2;
        char *nb = realloc(*b, c);
        if (nb == NULL)
            return false;
        *b = nb;
        *cap = c;
    }
    return true;
}

/* "name: value\r\n" in one step; false on ENOMEM. */
static bool
buf_add_line(char **b, size_t *len, size_t *cap, const char *name, size_t nl,
             const char *value, size_t vl)
{
    if (!buf_reserve(b, *len, cap, nl + vl + 4))
        return false;
    char *p = *b + *len;
    memcpy(p, name, nl);
    p[nl] = ':';
    p[nl + 1] = ' ';
    memcpy(p + nl + 2, value, vl);
    p[nl + 2 + vl] = '\r';
    p[nl + 3 + vl] = '\n';
    p[nl + 4 + vl] = '\0';
    *len += nl + vl + 4;
    return true;
}

/* Write `v` in decimal at `p` (at most 20 bytes); returns the end.  The
 * head's status and lengths: no snprintf on the per-request path. */
static char *
put_u64(char *p, uint64_t v)
{
    char tmp[20], *t = tmp + sizeof(tmp);
    do
        *--t = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    size_t n = (size_t)(tmp + sizeof(tmp) - t);
    memcpy(p, t, n);
    return p + n;
}

/* ---- exchanges ---- */

const struct wire_http_head *
wire_http_exchange_request(const struct wire_http_exchange *x)
{
    return x != NULL ? &x->e->ps.head : NULL;
}

struct wire_transport *
wire_http_exchange_transport(const struct wire_http_exchange *x)
{
    return x != NULL ? x->e->t : NULL;
}

void
wire_http_exchange_set_data(struct wire_http_exchange *x, void *data)
{
    if (x != NULL)
        x->data = data;
}

void *
wire_http_exchange_data(const struct wire_http_exchange *x)
{
    return x != NULL ? x->data : NULL;
}

void
wire_http_body_pause(struct wire_http_exchange *x)
{
    if (x == NULL || x->done || x->req_done || x->body_paused)
        return;
    struct http_srv *e = x->e;
    x->body_paused = true;
    if (e->tkind == T_BODY)
        http_srv_timer_stop(e);
    http_srv_update_reading(e);
}

void
wire_http_body_resume(struct wire_http_exchange *x)
{
    if (x == NULL || x->done || !x->body_paused)
        return;
    struct http_srv *e = x->e;
    x->body_paused = false;
    if (x->req_done)
        return;
    http_srv_maybe_continue(x);
    e->poke = true;
    if (!http_srv_gone(e) && !e->feeding && e->tkind == T_NONE)
        http_srv_timer_set(e, T_BODY, e->svc->limits.body_timeout_ms);
    http_srv_update_reading(e);
    http_srv_schedule_run(e); /* what is buffered goes up on a later turn */
}

/* ---- responses ---- */

static int
check_live(const struct wire_http_exchange *x)
{
    if (x == NULL)
        return WIRE_EINVAL;
    if (x->rs == R_ENDED || x->rs == R_UPGRADING)
        return WIRE_ESTATE;
    if (x->done || http_srv_gone(x->e))
        return WIRE_ECLOSED;
    return 0;
}

int
wire_http_response_start(struct wire_http_exchange *x, int status,
                         const char *reason)
{
    int rc = check_live(x);
    if (rc < 0)
        return rc;
    if (x->rs != R_NONE)
        return WIRE_ESTATE;
    if (status < 200 || status > 999 || (reason != NULL && !http_valid_value(reason)))
        return WIRE_EINVAL;
    if (reason != NULL && (x->reason = strdup(reason)) == NULL)
        return WIRE_ENOMEM;
    x->status = status;
    x->rs = R_STARTED;
    return 0;
}

static bool
parse_length(const char *v, int64_t *out)
{
    uint64_t n = 0;
    if (*v == '\0')
        return false;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9' || n > (uint64_t)INT64_MAX / 10)
            return false;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    if (n > (uint64_t)INT64_MAX)
        return false;
    *out = (int64_t)n;
    return true;
}

int
wire_http_response_header(struct wire_http_exchange *x, const char *name,
                          const char *value)
{
    int rc = check_live(x);
    if (rc < 0)
        return rc;
    if (x->rs != R_NONE && x->rs != R_STARTED)
        return WIRE_ESTATE;
    if (!http_valid_name(name) || !http_valid_value(value))
        return WIRE_EINVAL;
    if (strcasecmp(name, "content-length") == 0) {
        int64_t n;
        if (x->cl >= 0 || !parse_length(value, &n))
            return WIRE_EINVAL;
        x->cl = n;
        return 0; /* written with the framing */
    }
    if (strcasecmp(name, "transfer-encoding") == 0)
        return WIRE_EINVAL; /* the framing is the server's */
    if (strcasecmp(name, "connection") == 0) {
        if (http_list_has(value, "close")) {
            x->app_close = true;
            return 0;
        }
        if (strcasecmp(value, "keep-alive") == 0)
            return 0;
    }
    if (strcasecmp(name, "date") == 0)
        x->has_date = true;
    if (strcasecmp(name, "server") == 0)
        x->has_server = true;
    if (!buf_add_line(&x->hdrs, &x->hlen, &x->hcap, name, strlen(name), value,
                      strlen(value)))
        return WIRE_ENOMEM;
    return 0;
}

/* Choose the framing when the head goes out (`at_end`: end came first). */
static void
choose_framing(struct wire_http_exchange *x, bool at_end)
{
    struct http_srv *e = x->e;
    const struct wire_http_head *h = &e->ps.head;
    int st = x->status;
    if (x->head_req || st / 100 == 1 || st == 204 || st == 304 ||
        (st / 100 == 2 && strcmp(h->method, "CONNECT") == 0))
        x->framing = FR_NOBODY;
    else if (x->cl >= 0)
        x->framing = FR_LENGTH;
    else if (at_end) {
        x->framing = FR_LENGTH;
        x->cl = 0;
    } else if (h->version_minor >= 1)
        x->framing = FR_CHUNKED;
    else
        x->framing = FR_CLOSE;
    x->will_close = x->app_close || !h->keep_alive || x->framing == FR_CLOSE ||
                    (e->eof && e->in_len == 0) || http_srv_gone(e) ||
                    /* the client may or may not send a body it was not
                     * asked for: only closing tells where it ends */
                    (h->expect_continue && !x->continue_sent && !x->req_done &&
                     http_srv_req_has_body(h));
}

/* The head as it goes out, into *b (NUL-terminated); false on ENOMEM. */
static bool
build_head(struct wire_http_exchange *x, char **b, size_t *len, size_t *cap)
{
    struct http_srv *e = x->e;
    const struct wire_http_head *h = &e->ps.head;
    const char *reason = x->reason ? x->reason : wire_http_status_reason(x->status);
    const char *srv = x->has_server ? NULL : e->svc->server_header;
    size_t rl = strlen(reason), sl = srv != NULL ? strlen(srv) : 0;
    /* Room for the longest head this can be, reserved once; then the
     * pieces are copied in (this runs for every response). */
    size_t most = sizeof("HTTP/1.1 \r\n") + 20 + rl + x->hlen +
                  sizeof("Content-Length: \r\n") + 20 +
                  sizeof("Connection: keep-alive\r\n") +
                  sizeof("Date: \r\n") + 30 + sizeof("Server: \r\n") + sl +
                  sizeof("\r\n");
    if (!buf_reserve(b, *len, cap, most))
        return false;
    char *p = *b + *len;
#define PUT(s, n) (memcpy(p, (s), (n)), p += (n))
#define PUT_LIT(s) PUT(s, sizeof(s) - 1)
    PUT_LIT("HTTP/1.1 ");
    p = put_u64(p, (uint64_t)x->status);
    *p++ = ' ';
    PUT(reason, rl);
    PUT_LIT("\r\n");
    if (x->hlen > 0)
        PUT(x->hdrs, x->hlen);
    if (x->rs != R_UPGRADING) {
        int st = x->status;
        bool length = false;
        uint64_t n = 0;
        if (x->framing == FR_LENGTH) {
            length = true;
            n = (uint64_t)x->cl;
        } else if (x->framing == FR_CHUNKED) {
            PUT_LIT("Transfer-Encoding: chunked\r\n");
        } else if (x->framing == FR_NOBODY && st / 100 != 1 && st != 204 &&
                   !(st / 100 == 2 && strcmp(h->method, "CONNECT") == 0)) {
            /* HEAD (and 304): the length the body would have had */
            length = x->cl >= 0 || x->head_req;
            n = x->cl >= 0 ? (uint64_t)x->cl : x->written;
        }
        if (length) {
            PUT_LIT("Content-Length: ");
            p = put_u64(p, n);
            PUT_LIT("\r\n");
        }
        if (x->will_close)
            PUT_LIT("Connection: close\r\n");
        else if (h->version_minor == 0)
            PUT_LIT("Connection: keep-alive\r\n");
    }
    if (!x->has_date) {
        PUT_LIT("Date: ");
        p += http_date_now(p); /* 29 bytes and a NUL, overwritten */
        PUT_LIT("\r\n");
    }
    if (srv != NULL) {
        PUT_LIT("Server: ");
        PUT(srv, sl);
        PUT_LIT("\r\n");
    }
    PUT_LIT("\r\n");
#undef PUT_LIT
#undef PUT
    *p = '\0';
    *len = (size_t)(p - *b);
    return true;
}

/* A piece of the response body: bytes copied, bytes by reference
 * (write_ref) or a file range (write_file). */
enum body_kind { B_COPY, B_REF, B_FILE };

struct body_src {
    enum body_kind kind;
    const void *data;       /* B_COPY, B_REF */
    size_t len;
    wire_free_cb free_cb;   /* B_REF */
    int fd;                 /* B_FILE */
    off_t off;
    wire_file_done_cb done; /* B_FILE; NULL: close fd */
    void *arg;              /* free_cb's or done's */
};

/* The piece is not sent (dropped, or empty): give it back now. */
static void
body_release(const struct body_src *b)
{
    if (b->kind == B_REF && b->free_cb != NULL)
        b->free_cb(b->arg, b->data, b->len);
    else if (b->kind == B_FILE && b->done != NULL)
        b->done(b->arg, b->fd);
    else if (b->kind == B_FILE)
        close(b->fd);
}

/* Write the head (if due), then the piece `b`, framed. */
static int
send_body(struct wire_http_exchange *x, const struct body_src *b)
{
    struct http_srv *e = x->e;
    size_t len = b->len;
    /* The head goes into the engine's kept buffer (the write copies it). */
    size_t hl = 0;
    if (x->rs == R_STARTED) {
        bool ok = build_head(x, &e->obuf, &hl, &e->ocap);
        if (!ok)
            return WIRE_ENOMEM;
    }
    char *head = e->obuf;
    char chdr[24];
    struct iovec iov[4];
    int n = 0;
    if (hl > 0)
        iov[n++] = (struct iovec){head, hl};
    bool chunk = x->framing == FR_CHUNKED && len > 0;
    if (chunk) {
        int cl = snprintf(chdr, sizeof(chdr), "%zx\r\n", len);
        iov[n++] = (struct iovec){chdr, (size_t)cl};
    }
    int rc = 0;
    if (b->kind != B_COPY) {
        if (n > 0)
            rc = wire_transport_write_sequence(e->t, iov, n);
        if (rc == 0 && len > 0 && b->kind == B_REF)
            rc = wire_transport_write_ref(e->t, b->data, len, b->free_cb, b->arg);
        else if (rc == 0 && len > 0)
            rc = wire_transport_write_file(e->t, b->fd, b->off, len, b->done,
                                           b->arg);
        else if (rc == 0)
            body_release(b);
        if (rc == 0 && chunk)
            rc = wire_transport_write(e->t, "\r\n", 2);
    } else {
        if (len > 0)
            iov[n++] = (struct iovec){(void *)(uintptr_t)b->data, len};
        if (chunk)
            iov[n++] = (struct iovec){"\r\n", 2};
        if (n > 0)
            rc = wire_transport_write_sequence(e->t, iov, n);
    }
    if (rc < 0)
        return rc;
    x->rs = R_SENT;
    x->written += len;
    return 0;
}

static int
body_write(struct wire_http_exchange *x, const struct body_src *b)
{
    int rc = check_live(x);
    if (rc < 0)
        return rc;
    if (x->rs == R_NONE)
        return WIRE_ESTATE;
    if (b->data == NULL && b->len > 0 && b->kind != B_FILE)
        return WIRE_EINVAL;
    if (x->framing == FR_UNSET)
        choose_framing(x, false);
    if (x->framing == FR_LENGTH && x->written + b->len > (uint64_t)x->cl)
        return WIRE_EINVAL;
    if (x->framing == FR_NOBODY) {
        /* Dropped (HEAD, 204, 304); the head goes out with end. */
        x->written += b->len;
        body_release(b);
        return 0;
    }
    rc = send_body(x, b);
    if (rc < 0)
        return rc;
    if (x->e->write_paused) {
        x->want_writable = true;
        return 1;
    }
    return 0;
}

int
wire_http_response_write(struct wire_http_exchange *x, const void *data,
                         size_t len)
{
    struct body_src b = {.kind = B_COPY, .data = data, .len = len};
    return body_write(x, &b);
}

int
wire_http_response_write_ref(struct wire_http_exchange *x, const void *data,
                             size_t len, wire_free_cb free_cb, void *arg)
{
    struct body_src b = {.kind = B_REF, .data = data, .len = len,
                         .free_cb = free_cb, .arg = arg};
    return body_write(x, &b);
}

static void
probe_done(void *arg, int fd)
{
    (void)arg; /* the fd stays the caller's */
    (void)fd;
}

int
wire_http_response_write_file(struct wire_http_exchange *x, int fd,
                              off_t offset, size_t len, wire_file_done_cb done,
                              void *arg)
{
    int rc = check_live(x);
    if (rc < 0)
        return rc;
    if (x->rs == R_NONE)
        return WIRE_ESTATE;
    if (offset < 0 || (uint64_t)len > (uint64_t)(INT64_MAX - (int64_t)offset))
        return WIRE_EINVAL;
    /* An empty range checks the fd and that the connection's transport
     * can send a file, sending nothing and keeping the fd ours: so a bad
     * fd fails here, before the head or a chunk header has gone out. */
    if ((rc = wire_transport_write_file(x->e->t, fd, offset, 0, probe_done,
                                        NULL)) < 0)
        return rc;
    /* Nothing of the body written and no length given: the file is the
     * body, and its length is known. */
    if (x->rs == R_STARTED && x->framing == FR_UNSET && x->cl < 0)
        x->cl = (int64_t)len;
    struct body_src b = {.kind = B_FILE, .len = len, .fd = fd, .off = offset,
                         .done = done, .arg = arg};
    return body_write(x, &b);
}

int
wire_http_response_end(struct wire_http_exchange *x)
{
    int rc = check_live(x);
    if (rc < 0)
        return rc;
    if (x->rs == R_NONE)
        return WIRE_ESTATE;
    struct http_srv *e = x->e;
    if (x->framing == FR_UNSET)
        choose_framing(x, true);
    if (x->framing == FR_LENGTH && x->written < (uint64_t)x->cl) {
        /* The client waits for bytes that will never come: cut the
         * connection so it knows (on_done gets this error). */
        http_srv_set_why(e, WIRE_EINVAL, "the response ended before its Content-Length");
        x->rs = R_ENDED;
        e->closing = true;
        http_srv_timer_stop(e);
        wire_transport_abort(e->t);
        return WIRE_EINVAL;
    }
    if (x->rs == R_STARTED)
        rc = send_body(x, &(struct body_src){.kind = B_COPY});
    else if (x->framing == FR_CHUNKED)
        rc = wire_transport_write(e->t, "0\r\n\r\n", 5);
    if (rc < 0)
        return rc;
    x->rs = R_ENDED;
    if (!e->feeding && http_srv_finishable(x))
        http_srv_schedule_run(e);
    if (e->write_paused) {
        x->want_writable = true;
        return 1;
    }
    return 0;
}

int
wire_http_respond(struct wire_http_exchange *x, int status,
                  const char *content_type, const void *body, size_t len)
{
    if (x == NULL || (body == NULL && len > 0))
        return WIRE_EINVAL;
    int rc = wire_http_response_start(x, status, NULL);
    if (rc < 0)
        return rc;
    /* What wire_http_response_header would do for this one name, without
     * its checks of the name (the exchange is live: it just started). */
    if (content_type != NULL) {
        if (!http_valid_value(content_type))
            return WIRE_EINVAL;
        if (!buf_add_line(&x->hdrs, &x->hlen, &x->hcap, "Content-Type", 12,
                          content_type, strlen(content_type)))
            return WIRE_ENOMEM;
    }
    if (x->cl < 0)
        x->cl = (int64_t)len;
    if (len > 0 && (rc = wire_http_response_write(x, body, len)) < 0)
        return rc;
    return wire_http_response_end(x);
}

int
wire_http_exchange_upgrade(struct wire_http_exchange *x, int status,
                           struct wire_protocol *next, struct wire_error *err)
{
    if (x == NULL || next == NULL)
        return wire_error_set(err, WIRE_EINVAL, "http upgrade: no exchange or "
                                                "no protocol");
    int rc = check_live(x);
    if (rc < 0)
        return wire_error_set(err, rc, "http upgrade: the exchange is %s",
                              rc == WIRE_ECLOSED ? "gone" : "answered");
    struct http_srv *e = x->e;
    if (!e->ps.head.upgrade || x->rs >= R_SENT)
        return wire_error_set(err, WIRE_ESTATE, "http upgrade: %s",
                              x->rs >= R_SENT ? "a response is under way"
                                              : "the request asks for no upgrade");
    if (e->owner == NULL)
        return wire_error_set(err, WIRE_ENOTSUP, "http upgrade: not over this "
                                                 "transport");
    if (status != 101 && status / 100 != 2)
        return wire_error_set(err, WIRE_EINVAL, "http upgrade: status %d is "
                                                "neither 101 nor 2xx", status);
    x->status = status;
    x->rs = R_UPGRADING;
    char *head = NULL;
    size_t hl = 0, hc = 0;
    if (!build_head(x, &head, &hl, &hc)) {
        free(head);
        x->rs = R_STARTED;
        return wire_error_set(err, WIRE_ENOMEM, "http upgrade: out of memory");
    }
    rc = wire_transport_write(e->t, head, hl);
    free(head);
    if (rc < 0) {
        x->rs = R_STARTED;
        return wire_error_set(err, rc, "http upgrade: %s", wire_strerror(rc));
    }
    x->next = next;
    http_srv_timer_stop(e);
    if (!e->feeding)
        http_srv_schedule_run(e);
    return 0;
}
