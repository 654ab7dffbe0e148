/*
 * The protocol behind the callback forms of the framing layers: each
 * data_received from the layer is one message, handed to a
 * struct wire_message_handler.
 */
#include "framing_int.h"

#include <stdlib.h>

struct message_proto {
    struct wire_protocol base;
    struct wire_message_handler h;
    void *arg;
    struct wire_transport *t;
};

static struct message_proto *
mp_of(struct wire_protocol *p)
{
    return wire_fr_container_of(p, struct message_proto, base);
}

static void
mp_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct message_proto *m = mp_of(p);
    m->t = t;
    if (m->h.open != NULL)
        m->h.open(m->arg, t);
}

static void
mp_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct message_proto *m = mp_of(p);
    m->h.message(m->arg, m->t, data, len);
}

static bool
mp_eof(struct wire_protocol *p)
{
    struct message_proto *m = mp_of(p);
    return m->h.eof != NULL ? m->h.eof(m->arg, m->t) : false;
}

static void
mp_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct message_proto *m = mp_of(p);
    m->t = NULL;
    if (m->h.closed != NULL)
        m->h.closed(m->arg, err);
}

static void
mp_destroy(struct wire_protocol *p)
{
    struct message_proto *m = mp_of(p);
    if (m->h.destroy != NULL)
        m->h.destroy(m->arg);
    free(m);
}

static const struct wire_protocol_ops mp_ops = {
    .connection_made = mp_made,
    .data_received = mp_data,
    .eof_received = mp_eof,
    .connection_lost = mp_lost,
    .destroy = mp_destroy,
};

struct wire_protocol *
wire__message_proto_new(const struct wire_message_handler *h, void *arg)
{
    struct message_proto *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        if (h->destroy != NULL)
            h->destroy(arg);
        return NULL;
    }
    wire_protocol_init(&m->base, &mp_ops);
    m->h = *h;
    m->arg = arg;
    return &m->base;
}
