/*
 * The HTTP client layer (wire_http_client_layer_new; layer.c has the
 * design and the shared part): the send hook that makes one POST per
 * message written above, and the response handler that gathers each
 * response body and delivers it up as one message.
 */
#include "http_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the client layer ---- */

static void
cli_msg_end(struct hl *h)
{
    h->in_msg = false;
    if (h->req != NULL) {
        struct wire_http_request *r = h->req;
        h->req = NULL;
        wire_http_request_end(r);
    }
}

static int
cli_msg_start(struct hl *h)
{
    struct wire_error err = {0};
    struct wire_http_request *r =
        wire_http_request_new(h->cli, "POST", h->path, &hl_cli_handler, h, &err);
    if (r == NULL) {
        int code = err.code;
        wire_error_clear(&err);
        return code;
    }
    h->outstanding++;
    h->req = r;
    char cl[24];
    snprintf(cl, sizeof(cl), "%" PRIu64, h->left);
    int rc = wire_http_request_header(r, "Content-Type", h->ctype);
    if (rc == 0)
        rc = wire_http_request_header(r, "Content-Length", cl);
    return rc;
}

ssize_t
hl_cli_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
{
    struct hl *h = (struct hl *)(void *)l;
    size_t used = 0;
    for (int i = 0; i < iovcnt; i++) {
        const char *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        while (n > 0) {
            if (!h->in_msg) {
                if (!hl_take_mark(h, &p, &n, &used))
                    continue;
                int rc = cli_msg_start(h);
                if (rc < 0)
                    return rc;
                if (h->left == 0)
                    cli_msg_end(h);
                continue;
            }
            size_t k = h->left < n ? (size_t)h->left : n;
            if (h->req != NULL) {
                int rc = wire_http_request_write(h->req, p, k);
                if (rc < 0)
                    return rc;
            }
            p += k;
            n -= k;
            used += k;
            h->left -= k;
            if (h->left == 0)
                cli_msg_end(h);
        }
    }
    return (ssize_t)used;
}

/* write_eof from above (its queue is flushed): no more requests.  The
 * answers still due go up, then EOF, and the connection closes. */
int
hl_cli_send_eof(struct wire_layer *l)
{
    struct hl *h = (struct hl *)(void *)l;
    h->eof_sent = true;
    if (h->outstanding == 0) {
        hl_up_eof(h);
        if (h->attached && !h->engine_lost)
            wire_http_client_close(h->cli);
    }
    return 0;
}

static void
cli_on_response(void *arg, struct wire_http_request *r,
                const struct wire_http_head *head)
{
    struct hl *h = arg;
    (void)r;
    if (h->dying)
        return;
    hl_buf_reset(h);
    h->status = head->status;
    h->bad = head->status / 100 != 2;
    snprintf(h->status_line, sizeof(h->status_line), "HTTP/%d.%d %d %s",
             head->version_major, head->version_minor, head->status,
             head->reason != NULL ? head->reason : "");
}

static void
cli_on_body(void *arg, struct wire_http_request *r, const void *data, size_t len)
{
    struct hl *h = arg;
    if (h->dying || h->closed)
        return;
    if (h->bad) {
        /* Keep the start of the server's explanation for the error. */
        size_t room = h->len < 200 ? 200 - h->len : 0;
        if (!hl_buf_add(h, data, len < room ? len : room))
            hl_failf(h, WIRE_ENOMEM, true, "%s: out of memory", hl_name(h));
        return;
    }
    const struct wire_http_head *head = wire_http_request_response(r);
    if (h->len == 0 && !h->delivered && head != NULL &&
        head->content_length == (int64_t)len) {
        h->delivered = true;
        hl_up_message(h, data, len); /* whole in one piece: in place */
        return;
    }
    if (!hl_buf_add(h, data, len))
        hl_failf(h, WIRE_ENOMEM, true, "%s: out of memory", hl_name(h));
}

static void
cli_on_done(void *arg, struct wire_http_request *r, const struct wire_error *err)
{
    struct hl *h = arg;
    if (h->dying)
        return;
    if (r == h->req)
        h->req = NULL; /* answered early: the rest of its body is dropped */
    h->outstanding--;
    if (err != NULL) {
        hl_fail(h, err, true);
    } else if (h->bad) {
        /* The explanation, printable, on one line. */
        char why[208];
        size_t k = 0;
        for (size_t i = 0; i < h->len && k + 1 < sizeof(why); i++) {
            unsigned char ch = (unsigned char)h->buf[i];
            why[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
        }
        while (k > 0 && why[k - 1] == ' ')
            k--;
        why[k] = '\0';
        hl_failf(h, WIRE_EPROTO, true, "%s: POST %s answered %s%s%s",
                 hl_name(h), h->path, h->status_line, k > 0 ? ": " : "", why);
    } else if (h->status != 204 && !h->delivered) {
        hl_up_message(h, h->buf != NULL ? h->buf : "", h->len);
    }
    hl_buf_reset(h);
    h->status = 0;
    h->bad = false;
    if (h->eof_sent && h->outstanding == 0 && !h->closed) {
        hl_up_eof(h);
        wire_http_client_close(h->cli);
    }
}

const struct wire_http_response_handler hl_cli_handler = {
    .on_response = cli_on_response,
    .on_body = cli_on_body,
    .on_done = cli_on_done,
};

void
hl_cli_on_close(void *arg, const struct wire_error *err)
{
    struct hl *h = arg;
    if (!h->dying && err != NULL)
        hl_fail(h, err, true);
}
