/*
 * The HTTP/1.1 client's public protocol (wire_http_client_new): the thin
 * protocol around one client engine (client.c), which forwards its
 * transport's callbacks to the engine.
 */
#include "http_int.h"

#include <stdlib.h>

/* ---- the public client protocol ---- */

struct cli_proto {
    struct wire_protocol base;
    struct wire_http_client *c;
};

static struct wire_http_client *
cli_of(struct wire_protocol *p)
{
    return ((struct cli_proto *)(void *)p)->c;
}

static void
cp_made(struct wire_protocol *p, struct wire_transport *t)
{
    http_cli_attach(cli_of(p), t);
}

static void
cp_data(struct wire_protocol *p, const void *data, size_t len)
{
    http_cli_data(cli_of(p), data, len);
}

static bool
cp_eof(struct wire_protocol *p)
{
    return http_cli_eof(cli_of(p));
}

static void
cp_lost(struct wire_protocol *p, const struct wire_error *err)
{
    http_cli_lost(cli_of(p), err);
}

static void
cp_pause(struct wire_protocol *p)
{
    http_cli_pause_writing(cli_of(p));
}

static void
cp_resume(struct wire_protocol *p)
{
    http_cli_resume_writing(cli_of(p));
}

static void
cp_destroy(struct wire_protocol *p)
{
    http_cli_free(cli_of(p));
    free(p);
}

static const struct wire_protocol_ops cli_proto_ops = {
    .connection_made = cp_made,
    .data_received = cp_data,
    .eof_received = cp_eof,
    .connection_lost = cp_lost,
    .pause_writing = cp_pause,
    .resume_writing = cp_resume,
    .destroy = cp_destroy,
};

struct wire_protocol *
wire_http_client_new(const struct wire_http_client_opts *opts,
                     struct wire_http_client **out, struct wire_error *err)
{
    if (out == NULL) {
        wire_error_set(err, WIRE_EINVAL, "http client: no handle to return");
        return NULL;
    }
    *out = NULL;
    struct cli_proto *cp = calloc(1, sizeof(*cp));
    if (cp == NULL) {
        wire_error_set(err, WIRE_ENOMEM, "http client: out of memory");
        return NULL;
    }
    wire_protocol_init(&cp->base, &cli_proto_ops);
    cp->c = http_cli_new(opts, &cp->base, err);
    if (cp->c == NULL) {
        free(cp);
        return NULL;
    }
    *out = cp->c;
    return &cp->base;
}

void
wire_http_client_close(struct wire_http_client *c)
{
    if (c == NULL || c->closed_reported)
        return;
    c->closing = true;
    http_cli_maybe_close(c);
}
