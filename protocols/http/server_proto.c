/*
 * The HTTP/1.1 server's public objects around the engine (server.c): the
 * service (struct wire_http_service, see http_int.h) and the thin server
 * protocol that feeds one engine per connection.
 */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- the service ---- */

struct wire_http_service *
wire_http_service_new(const struct wire_http_service_opts *opts,
                      const struct wire_http_handler *h, void *arg,
                      struct wire_error *err)
{
    if (h == NULL || h->on_request == NULL) {
        wire_error_set(err, WIRE_EINVAL, "http: the handler has no on_request");
        return NULL;
    }
    if (opts != NULL && opts->server_header != NULL &&
        !http_valid_value(opts->server_header)) {
        wire_error_set(err, WIRE_EINVAL, "http: the Server header has CR or LF");
        return NULL;
    }
    struct wire_http_service *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto nomem;
    s->refs = 1;
    s->h = *h;
    s->arg = arg;
    if (opts != NULL) {
        s->limits = opts->limits;
        if (opts->server_header != NULL &&
            (s->server_header = strdup(opts->server_header)) == NULL) {
            free(s);
            goto nomem;
        }
    }
    http_limits_fill(&s->limits);
    return s;
nomem:
    wire_error_set(err, WIRE_ENOMEM, "http: out of memory");
    return NULL;
}

struct wire_http_service *
wire_http_service_ref(struct wire_http_service *s)
{
    if (s != NULL)
        s->refs++;
    return s;
}

void
wire_http_service_unref(struct wire_http_service *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    free(s->server_header);
    free(s);
}

/* ---- the server protocol: a thin wrapper ---- */

struct srv_proto {
    struct wire_protocol base;
    struct http_srv *e;
};

static struct http_srv *
eng(struct wire_protocol *p)
{
    return ((struct srv_proto *)p)->e;
}

static void
sp_made(struct wire_protocol *p, struct wire_transport *t)
{
    http_srv_attach(eng(p), t);
}

static void
sp_data(struct wire_protocol *p, const void *data, size_t len)
{
    http_srv_data(eng(p), data, len);
}

static bool
sp_eof(struct wire_protocol *p)
{
    return http_srv_eof(eng(p));
}

static void
sp_lost(struct wire_protocol *p, const struct wire_error *err)
{
    http_srv_lost(eng(p), err);
}

static void
sp_pause(struct wire_protocol *p)
{
    http_srv_pause_writing(eng(p));
}

static void
sp_resume(struct wire_protocol *p)
{
    http_srv_resume_writing(eng(p));
}

static void
sp_destroy(struct wire_protocol *p)
{
    http_srv_free(eng(p));
    free(p);
}

static const struct wire_protocol_ops srv_proto_ops = {
    .connection_made = sp_made,
    .data_received = sp_data,
    .eof_received = sp_eof,
    .connection_lost = sp_lost,
    .pause_writing = sp_pause,
    .resume_writing = sp_resume,
    .destroy = sp_destroy,
};

struct wire_protocol *
wire_http_server_protocol_new(struct wire_http_service *s)
{
    if (s == NULL)
        return NULL;
    struct srv_proto *sp = calloc(1, sizeof(*sp));
    if (sp == NULL)
        return NULL;
    wire_protocol_init(&sp->base, &srv_proto_ops);
    sp->e = http_srv_new(s, &sp->base);
    if (sp->e == NULL) {
        free(sp);
        return NULL;
    }
    return &sp->base;
}

struct wire_protocol *
wire_http_service_factory(void *arg)
{
    return wire_http_server_protocol_new(arg);
}
