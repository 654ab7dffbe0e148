/*
 * The memory pair: two transports joined in one process.  What side A
 * writes goes into side B's inbox (at most `cap` bytes; beyond that A's
 * handle "would block" and A's own queue and watermarks take over), and is
 * delivered to B from the loop.  Half-close, close and abort behave as
 * over TCP: B sees EOF after the bytes before it, or a reset after an
 * abort; writing to a closed peer fails with EPIPE.
 *
 * mem:NAME endpoints: wire_listen registers NAME on the loop;
 * wire_connect makes a pair and hands the far side to that server.
 */
#include "sock.h"

#include <wire/mem.h>

#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEM_DELIVER_CHUNK (64u * 1024u)

struct mem_side {
    struct wire_transport base;
    struct mem_side *peer;
    struct evbuffer *inbox;
    size_t cap;
    bool in_eof, in_reset;
    bool reading, want_write;
    struct wire_soon deliver;
    char name[48];
};

static size_t
inbox_len(const struct mem_side *s)
{
    return s->inbox != NULL ? evbuffer_get_length(s->inbox) : 0;
}

static void
schedule_deliver(struct mem_side *s)
{
    if (s->deliver.queued)
        return;
    wire_transport_ref(&s->base); /* released by deliver_run */
    wire__loop_soon(s->base.loop, &s->deliver);
}

static void
deliver_run(struct wire_soon *node)
{
    struct mem_side *s = wire_container_of(node, struct mem_side, deliver);
    struct wire_transport *t = &s->base;
    if (s->in_reset && wire_impl_is_active(t)) {
        s->in_reset = false;
        if (s->inbox != NULL)
            evbuffer_drain(s->inbox, inbox_len(s));
        wire_impl_fail(t, -ECONNRESET, "read: %s", wire_strerror(-ECONNRESET));
    }
    bool drained = false;
    while (s->reading && inbox_len(s) > 0 && wire_impl_is_active(t)) {
        size_t n = inbox_len(s);
        if (n > MEM_DELIVER_CHUNK)
            n = MEM_DELIVER_CHUNK;
        const unsigned char *p = evbuffer_pullup(s->inbox, (ssize_t)n);
        if (p == NULL)
            break;
        /* The peer may append while this runs; appending never moves the
         * bytes pulled up here. */
        wire_impl_data(t, p, n);
        evbuffer_drain(s->inbox, n);
        drained = true;
    }
    if (s->reading && inbox_len(s) == 0 && s->in_eof && wire_impl_is_active(t)) {
        s->in_eof = false;
        wire_impl_eof(t);
    }
    if (drained && s->peer != NULL && s->peer->want_write)
        wire_impl_writable(&s->peer->base);
    wire_transport_unref(t);
}

static struct mem_side *
side_of(struct wire_transport *t)
{
    return (struct mem_side *)t;
}

static void
mem_read_start(struct wire_transport *t)
{
    struct mem_side *s = side_of(t);
    s->reading = true;
    if (inbox_len(s) > 0 || s->in_eof || s->in_reset)
        schedule_deliver(s);
}

static void
mem_read_stop(struct wire_transport *t)
{
    side_of(t)->reading = false;
}

static ssize_t
mem_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    struct mem_side *s = side_of(t);
    struct mem_side *peer = s->peer;
    if (peer == NULL)
        return -EPIPE;
    if (peer->inbox == NULL && (peer->inbox = evbuffer_new()) == NULL)
        return WIRE_ENOMEM;
    size_t have = inbox_len(peer);
    size_t space = have < peer->cap ? peer->cap - have : 0;
    size_t taken = 0;
    for (int i = 0; i < iovcnt && space > 0; i++) {
        size_t n = iov[i].iov_len < space ? iov[i].iov_len : space;
        if (evbuffer_add(peer->inbox, iov[i].iov_base, n) != 0)
            break;
        taken += n;
        space -= n;
    }
    if (taken > 0 && peer->reading)
        schedule_deliver(peer);
    return (ssize_t)taken;
}

static void
mem_want_write(struct wire_transport *t, bool on)
{
    side_of(t)->want_write = on;
}

static int
mem_shutdown_write(struct wire_transport *t)
{
    struct mem_side *s = side_of(t);
    if (s->peer != NULL) {
        s->peer->in_eof = true;
        if (s->peer->reading)
            schedule_deliver(s->peer);
    }
    return 0;
}

static void
mem_close(struct wire_transport *t, bool abort)
{
    struct mem_side *s = side_of(t);
    struct mem_side *peer = s->peer;
    if (peer != NULL) {
        if (abort)
            peer->in_reset = true;
        else
            peer->in_eof = true;
        peer->peer = NULL;
        s->peer = NULL;
        /* A reset is reported even to a peer that paused reading. */
        if (peer->reading || abort)
            schedule_deliver(peer);
    }
    /* The inbox is not drained here but freed with the side (mem_free):
     * a close or abort from inside data_received must not free the
     * bytes that callback is still reading. */
}

static int
mem_get_info(struct wire_transport *t, int key, void *out, size_t len)
{
    struct mem_side *s = side_of(t);
    if (key != WIRE_INFO_PEER && key != WIRE_INFO_LOCAL)
        return WIRE_ENOTSUP;
    char buf[64];
    snprintf(buf, sizeof(buf), "mem:%s", s->name);
    return wire_impl_info_string(out, len, buf);
}

static void
mem_free(struct wire_transport *t)
{
    struct mem_side *s = side_of(t);
    if (s->inbox != NULL)
        evbuffer_free(s->inbox);
    free(s);
}

static const struct wire_transport_ops mem_ops = {
    .name = "mem",
    .caps = WIRE_CAP_HALF_CLOSE | WIRE_CAP_RESET | WIRE_CAP_EOF,
    .read_start = mem_read_start,
    .read_stop = mem_read_stop,
    .write = mem_write,
    .want_write = mem_want_write,
    .shutdown_write = mem_shutdown_write,
    .close = mem_close,
    .get_info = mem_get_info,
    .free = mem_free,
};

static struct mem_side *
side_new(struct wire_loop *loop, size_t cap, const char *name)
{
    struct mem_side *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    wire_impl_init(&s->base, &mem_ops, loop);
    s->cap = cap ? cap : WIRE_MEM_DEFAULT_BUFSIZE;
    s->deliver.fn = deliver_run;
    snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

/* ---- wire_mem_pair ---- */

struct pair_start {
    struct wire_soon node;
    struct mem_side *a, *b;
    struct wire_protocol *pa, *pb;
};

static void
pair_start_run(struct wire_soon *node)
{
    struct pair_start *ps = wire_container_of(node, struct pair_start, node);
    wire_impl_start(&ps->a->base, ps->pa);
    wire_impl_start(&ps->b->base, ps->pb);
    wire_transport_unref(&ps->a->base);
    wire_transport_unref(&ps->b->base);
    free(ps);
}

static int
pair_new(struct wire_loop *loop, size_t bufsize, const char *name,
         struct mem_side **a, struct mem_side **b)
{
    *a = side_new(loop, bufsize, name);
    *b = side_new(loop, bufsize, name);
    if (*a == NULL || *b == NULL) {
        free(*a);
        free(*b);
        return WIRE_ENOMEM;
    }
    (*a)->peer = *b;
    (*b)->peer = *a;
    return 0;
}

int
wire_mem_pair(struct wire_loop *loop, struct wire_protocol *pa,
              struct wire_protocol *pb, size_t bufsize, struct wire_transport **ta,
              struct wire_transport **tb)
{
    if (loop == NULL || pa == NULL || pb == NULL)
        return WIRE_EINVAL;
    struct mem_side *a, *b;
    struct pair_start *ps = calloc(1, sizeof(*ps));
    if (ps == NULL || pair_new(loop, bufsize, "pair", &a, &b) < 0) {
        free(ps);
        return WIRE_ENOMEM;
    }
    ps->node.fn = pair_start_run;
    ps->a = a;
    ps->b = b;
    ps->pa = pa;
    ps->pb = pb;
    /* Keep both alive until started, whatever happens meanwhile. */
    wire_transport_ref(&a->base);
    wire_transport_ref(&b->base);
    wire__loop_soon(loop, &ps->node);
    if (ta != NULL)
        *ta = &a->base;
    if (tb != NULL)
        *tb = &b->base;
    return 0;
}

/* ---- mem:NAME endpoints ---- */

struct mem_listener {
    struct mem_listener *next;
    struct wire_loop *loop;
    struct wire_server *server;
    char *name;
    size_t bufsize;
    bool accepting;
    bool registered;
};

struct mem_registry {
    struct mem_listener *head;
};

static void
registry_free(void *p)
{
    free(p);
}

static struct mem_registry *
registry(struct wire_loop *loop)
{
    void **slot = wire__loop_slot(loop, WIRE__SLOT_MEM, registry_free);
    if (*slot == NULL)
        *slot = calloc(1, sizeof(struct mem_registry));
    return *slot;
}

static struct mem_listener *
find_listener(struct wire_loop *loop, const char *name)
{
    struct mem_registry *r = registry(loop);
    for (struct mem_listener *l = r ? r->head : NULL; l != NULL; l = l->next)
        if (strcmp(l->name, name) == 0)
            return l;
    return NULL;
}

static void
ml_accept_start(struct wire_server *s)
{
    ((struct mem_listener *)wire_impl_server_impl(s))->accepting = true;
}

static void
ml_accept_stop(struct wire_server *s)
{
    ((struct mem_listener *)wire_impl_server_impl(s))->accepting = false;
}

static void
ml_close(struct wire_server *s)
{
    struct mem_listener *ml = wire_impl_server_impl(s);
    if (!ml->registered)
        return;
    ml->registered = false;
    struct mem_registry *r = registry(ml->loop);
    for (struct mem_listener **pp = &r->head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == ml) {
            *pp = ml->next;
            break;
        }
    }
}

static void
ml_free(struct wire_server *s)
{
    struct mem_listener *ml = wire_impl_server_impl(s);
    ml_close(s);
    free(ml->name);
    free(ml);
}

static const struct wire_listener_ops mem_listener_ops = {
    .accept_start = ml_accept_start,
    .accept_stop = ml_accept_stop,
    .close = ml_close,
    .free = ml_free,
};

static const char *const mem_listen_params[] = {"bufsize", NULL};
static const char *const mem_connect_params[] = {"timeout", NULL};

int
wire__mem_listen(struct wire_loop *loop, const struct wire_endpoint *ep,
                 wire_protocol_factory factory, void *farg,
                 const struct wire_listen_options *opts, struct wire_server **out,
                 struct wire_error *err)
{
    uint64_t bufsize = 0;
    int rc;
    if ((rc = wire_endpoint_check_params(ep, mem_listen_params, err)) < 0 ||
        (rc = wire_endpoint_param_u64(ep, "bufsize", 1, SIZE_MAX / 2, &bufsize,
                                      err)) < 0)
        return rc;
    if (opts != NULL && opts->reuseport)
        return wire_error_set(err, WIRE_ENOTSUP,
                              "endpoint 'mem:%s': reuseport is not supported "
                              "for mem: (a name lives on one loop; it is for "
                              "tcp:// and tls://)", ep->path);
    struct mem_registry *r = registry(loop);
    if (r == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    if (find_listener(loop, ep->path) != NULL)
        return wire_error_set(err, -EADDRINUSE, "cannot listen on mem:%s: %s",
                              ep->path, wire_strerror(-EADDRINUSE));
    struct mem_listener *ml = calloc(1, sizeof(*ml));
    if (ml == NULL || (ml->name = strdup(ep->path)) == NULL) {
        free(ml);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    ml->loop = loop;
    ml->bufsize = (size_t)bufsize;
    struct wire_server *s = wire_impl_server_new(loop, &mem_listener_ops, ml,
                                                 factory, farg);
    if (s == NULL) {
        free(ml->name);
        free(ml);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    ml->server = s;
    ml->next = r->head;
    r->head = ml;
    ml->registered = true;
    char addr[300];
    snprintf(addr, sizeof(addr), "mem:%s", ep->path);
    wire_impl_server_set_address(s, addr);
    wire_impl_server_started(s);
    *out = s;
    return 0;
}

struct mem_dial {
    struct wire_soon node;
    struct wire_loop *loop;
    char *name;
    struct wire_protocol *p;
    wire_connect_cb cb;
    void *arg;
};

static void
dial_run(struct wire_soon *node)
{
    struct mem_dial *d = wire_container_of(node, struct mem_dial, node);
    struct mem_listener *ml = find_listener(d->loop, d->name);
    struct mem_side *a, *b;
    int code = 0;
    if (ml == NULL || !ml->accepting)
        code = -ECONNREFUSED;
    else if (pair_new(d->loop, ml->bufsize, d->name, &a, &b) < 0)
        code = WIRE_ENOMEM;
    if (code != 0) {
        wire__connect_failed(d->p, d->cb, d->arg, code,
                             "connect to mem:%s failed: %s", d->name,
                             wire_strerror(code));
        free(d->name);
        free(d);
        return;
    }
    wire_transport_ref(&a->base);
    wire_impl_start(&a->base, d->p);
    wire_impl_server_adopt(ml->server, &b->base);
    if (d->cb != NULL)
        d->cb(d->arg, &a->base, NULL);
    wire_transport_unref(&a->base);
    free(d->name);
    free(d);
}

int
wire__mem_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                  const char *str, struct wire_protocol *p, uint64_t timeout_ms,
                  wire_connect_cb cb, void *arg, struct wire_error *err)
{
    int rc;
    WIRE_UNUSED(str);
    WIRE_UNUSED(timeout_ms);
    if ((rc = wire_endpoint_check_params(ep, mem_connect_params, err)) < 0)
        return rc;
    struct mem_dial *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->name = strdup(ep->path)) == NULL) {
        free(d);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    d->node.fn = dial_run;
    d->loop = loop;
    d->p = p;
    d->cb = cb;
    d->arg = arg;
    wire__loop_soon(loop, &d->node);
    return 0;
}
