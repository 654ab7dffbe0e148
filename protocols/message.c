/*
 * The protocol behind the callback forms of the framing layers: each
 * data_received from the layer is one message, handed to a
 * struct wire_message_handler.
 */
#include "framing_int.h"

#include <stdlib.h>
#include <string.h>

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

/* ---- gathering a payload of known length ---- */

int
wire__gather_take(struct wire__gather *g, const char *d, size_t len,
                  size_t *pos, const char **msg)
{
    size_t avail = len - *pos;
    if (g->got == 0 && avail >= g->need) { /* whole here: in place */
        *msg = d + *pos;
        *pos += (size_t)g->need;
        return 1;
    }
    size_t take = (size_t)(g->need - g->got) < avail ? (size_t)(g->need - g->got)
                                                     : avail;
    size_t want = (size_t)g->got + take;
    if (want > g->cap) {
        size_t cap = g->cap ? g->cap : 256;
        while (cap < want)
            cap *= 2;
        if (cap > g->need)
            cap = (size_t)g->need;
        char *nb = realloc(g->buf, cap);
        if (nb == NULL)
            return WIRE_ENOMEM;
        g->buf = nb;
        g->cap = cap;
    }
    memcpy(g->buf + g->got, d + *pos, take);
    g->got += take;
    *pos += take;
    if (g->got < g->need)
        return 0;
    *msg = g->buf;
    return 1;
}

void *
wire__gather_room(struct wire__gather *g, size_t hint, size_t extra,
                  size_t *len)
{
    size_t got = (size_t)g->got;
    size_t want = (size_t)(g->need - g->got) + extra, room = g->cap - got;
    /* Grow when less than a read (or the rest) fits, and when all but
     * the trailer does: a read that ends right after the payload would
     * leave the trailer behind. */
    if ((room < hint && room < want) || (room < want && want - room <= extra)) {
        size_t cap = got + (hint > got ? hint : got);
        if (cap > g->need + extra)
            cap = (size_t)g->need + extra;
        char *nb = realloc(g->buf, cap);
        if (nb == NULL)
            return NULL;
        g->buf = nb;
        g->cap = cap;
        room = cap - got;
    }
    *len = room < want ? room : want;
    return g->buf + got;
}

void
wire__gather_trim(struct wire__gather *g)
{
    if (g->cap > 64 * 1024)
        wire__gather_free(g);
}

static void
later_run(struct wire_soon *node)
{
    struct wire__later *w = wire_fr_container_of(node, struct wire__later, node);
    w->fn(w->l);
    wire_transport_unref(&w->l->above); /* taken by wire__later_ask */
}

void
wire__later_init(struct wire__later *w, struct wire_layer *l,
                 void (*fn)(struct wire_layer *l))
{
    w->node.fn = later_run;
    w->l = l;
    w->fn = fn;
}

void
wire__later_ask(struct wire__later *w)
{
    if (w->node.queued)
        return;
    wire_transport_ref(&w->l->above);
    wire_impl_defer(&w->l->above, &w->node);
}

void
wire__gather_free(struct wire__gather *g)
{
    free(g->buf);
    g->buf = NULL;
    g->cap = 0;
}
