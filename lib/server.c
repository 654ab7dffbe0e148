/*
 * Servers: the generic half.  A server owns the connections it accepted,
 * like a nursery: it counts them, closes them all on shutdown (aborting
 * those still open at the deadline), and tells its owner when the last one
 * is gone.  The listening handle itself belongs to the transport that
 * created the server (struct wire_listener_ops).
 *
 * Lifetime: the user's wire_server_free() and a pending "done" delivery
 * each hold a reference, so freeing the server from inside its own done
 * callback, or before the callback runs, is safe.
 *
 * wire_server_shutdown_on_signals() keeps its SIGINT/SIGTERM watchers on
 * the server, so that whatever ends the server (a signal, a direct
 * shutdown, a free) also removes them, and a loop is never kept running
 * by watchers nobody holds.
 */
#include "internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct wire_server {
    struct wire_loop *loop;
    const struct wire_listener_ops *ops;
    void *impl;
    wire_protocol_factory factory;
    void *factory_arg;
    char *address;
    struct wire_transport *conns;
    size_t count;
    uint64_t total;
    unsigned refs;
    bool want_accept;     /* the user wants accepting */
    bool accepting;       /* the listener is watching */
    bool listener_closed;
    bool shutting_down;
    bool freed;           /* wire_server_free was called */
    bool done_sent;
    struct wire_timer *backoff;
    uint64_t backoff_ms;
    struct wire_timer *deadline;
    wire_loop_cb done;
    void *done_arg;
    struct wire_soon done_node;
    /* wire_server_shutdown_on_signals(): SIGINT and SIGTERM watchers,
     * and what to do when one fires. */
    struct wire_signal *sig[2];
    bool sig_watching;
    uint64_t sig_grace_ms;
    wire_signal_cb sig_cb;
    wire_loop_cb sig_done;
    void *sig_arg;
};

static void server_unref(struct wire_server *s);
static void done_fn(struct wire_soon *node);

struct wire_server *
wire_impl_server_new(struct wire_loop *loop, const struct wire_listener_ops *ops,
                     void *impl, wire_protocol_factory factory, void *factory_arg)
{
    struct wire_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->ops = ops;
    s->impl = impl;
    s->factory = factory;
    s->factory_arg = factory_arg;
    s->refs = 1;
    s->want_accept = true;
    s->done_node.fn = done_fn;
    return s;
}

void *
wire_impl_server_impl(struct wire_server *s)
{
    return s->impl;
}

struct wire_loop *
wire_impl_server_loop(struct wire_server *s)
{
    return s->loop;
}

void
wire_impl_server_set_address(struct wire_server *s, const char *address)
{
    free(s->address);
    s->address = strdup(address);
}

const char *
wire_server_address(const struct wire_server *s)
{
    return s->address != NULL ? s->address : "";
}

size_t
wire_server_connection_count(const struct wire_server *s)
{
    return s->count;
}

uint64_t
wire_server_accepted_total(const struct wire_server *s)
{
    return s->total;
}

static void
set_accepting(struct wire_server *s, bool on)
{
    if (s->listener_closed)
        on = false;
    if (on == s->accepting)
        return;
    s->accepting = on;
    if (on)
        s->ops->accept_start(s);
    else
        s->ops->accept_stop(s);
}

/* Called by the listener right after creating the server. */
static void
server_start(struct wire_server *s)
{
    set_accepting(s, s->want_accept);
}

void
wire_server_stop_accepting(struct wire_server *s)
{
    s->want_accept = false;
    if (s->backoff != NULL)
        wire_timer_stop(s->backoff);
    set_accepting(s, false);
}

void
wire_server_resume_accepting(struct wire_server *s)
{
    if (s->shutting_down)
        return;
    s->want_accept = true;
    if (s->backoff == NULL || !wire_timer_is_active(s->backoff))
        set_accepting(s, true);
}

static void
backoff_fire(void *arg)
{
    struct wire_server *s = arg;
    if (s->want_accept && !s->shutting_down)
        set_accepting(s, true);
}

void
wire_impl_server_backoff(struct wire_server *s, int code)
{
    /* Out of descriptors: stop watching the listener, which would
     * otherwise stay readable and spin the loop, and retry after a pause
     * that doubles up to one second, or as soon as a connection closes. */
    set_accepting(s, false);
    if (s->backoff == NULL)
        s->backoff = wire_timer_new(s->loop, backoff_fire, s);
    s->backoff_ms = s->backoff_ms == 0 ? 10 : s->backoff_ms * 2;
    if (s->backoff_ms > 1000)
        s->backoff_ms = 1000;
    if (s->backoff != NULL)
        wire_timer_start(s->backoff, s->backoff_ms, 0);
    wire_loop_log(s->loop, WIRE_LOG_WARN,
                  "%s: accept: %s; pausing accepts for %llu ms",
                  wire_server_address(s), wire_strerror(code),
                  (unsigned long long)s->backoff_ms);
}

void
wire_impl_server_adopt(struct wire_server *s, struct wire_transport *t)
{
    if (s->backoff_ms != 0 && (s->backoff == NULL ||
                               !wire_timer_is_active(s->backoff)))
        s->backoff_ms = 0; /* accepting works again */
    struct wire_protocol *p = s->factory(s->factory_arg);
    if (p == NULL) {
        wire_impl_discard(t);
        return;
    }
    t->server = s;
    t->srv_prev = NULL;
    t->srv_next = s->conns;
    if (s->conns != NULL)
        s->conns->srv_prev = t;
    s->conns = t;
    s->count++;
    s->total++;
    wire_impl_start(t, p);
}

static void
schedule_done(struct wire_server *s)
{
    if (!s->shutting_down || s->count > 0 || s->done_sent)
        return;
    s->done_sent = true;
    if (s->deadline != NULL)
        wire_timer_stop(s->deadline);
    s->refs++;
    wire__loop_soon(s->loop, &s->done_node);
}

static void
done_fn(struct wire_soon *node)
{
    struct wire_server *s = wire_container_of(node, struct wire_server, done_node);
    if (!s->freed && s->done != NULL)
        s->done(s->done_arg);
    server_unref(s);
}

void
wire__server_connection_lost(struct wire_transport *t)
{
    struct wire_server *s = t->server;
    if (t->srv_prev != NULL)
        t->srv_prev->srv_next = t->srv_next;
    else
        s->conns = t->srv_next;
    if (t->srv_next != NULL)
        t->srv_next->srv_prev = t->srv_prev;
    t->server = NULL;
    t->srv_prev = t->srv_next = NULL;
    s->count--;
    /* A descriptor just came free: retry a paused accept now. */
    if (s->backoff != NULL && wire_timer_is_active(s->backoff)) {
        wire_timer_stop(s->backoff);
        backoff_fire(s);
    }
    schedule_done(s);
}

static void
close_listener(struct wire_server *s)
{
    set_accepting(s, false);
    if (!s->listener_closed) {
        s->listener_closed = true;
        s->ops->close(s);
    }
    if (s->backoff != NULL)
        wire_timer_stop(s->backoff);
}

static void
abort_all(struct wire_server *s)
{
    /* abort() never unlinks synchronously (loss is delivered later), so
     * walking the list while aborting is safe. */
    for (struct wire_transport *t = s->conns; t != NULL; t = t->srv_next)
        wire_transport_abort(t);
}

static void
deadline_fire(void *arg)
{
    struct wire_server *s = arg;
    abort_all(s);
}

static void
unwatch_signals(struct wire_server *s)
{
    for (int i = 0; i < 2; i++) {
        wire_signal_free(s->sig[i]); /* safe from inside its callback */
        s->sig[i] = NULL;
    }
}

void
wire_server_shutdown(struct wire_server *s, uint64_t timeout_ms,
                     wire_loop_cb done, void *arg)
{
    if (s->shutting_down)
        return;
    s->shutting_down = true;
    unwatch_signals(s);
    s->want_accept = false;
    s->done = done;
    s->done_arg = arg;
    close_listener(s);
    /* Each connection is closed at the top of its stack, so that bytes
     * queued in a layer (TLS, HTTP, framing...) still go out before the
     * close reaches the socket. */
    for (struct wire_transport *t = s->conns; t != NULL; t = t->srv_next)
        wire_transport_close(wire__transport_top(t));
    if (timeout_ms == 0) {
        abort_all(s);
    } else if (s->count > 0) {
        s->deadline = wire_timer_new(s->loop, deadline_fire, s);
        if (s->deadline != NULL)
            wire_timer_start(s->deadline, timeout_ms, 0);
        else
            abort_all(s);
    }
    schedule_done(s);
}

static void
on_shutdown_signal(void *arg, int signo)
{
    struct wire_server *s = arg;
    unwatch_signals(s); /* a second signal gets its old disposition */
    if (s->sig_cb != NULL) {
        /* The callback may free the server, or shut it down itself: the
         * reference keeps the object readable until we have looked. */
        s->refs++;
        s->sig_cb(s->sig_arg, signo);
        bool gone = s->freed;
        server_unref(s);
        if (gone)
            return;
    }
    wire_server_shutdown(s, s->sig_grace_ms, s->sig_done, s->sig_arg);
}

int
wire_server_shutdown_on_signals(struct wire_server *s, uint64_t grace_ms,
                                wire_signal_cb on_signal, wire_loop_cb done,
                                void *arg, struct wire_error *err)
{
    if (s == NULL)
        return wire_error_set(err, WIRE_EINVAL,
                              "shutdown on signals: no server");
    if (s->sig_watching || s->shutting_down)
        return wire_error_set(err, WIRE_EINVAL,
                              "shutdown on signals: %s is already %s",
                              wire_server_address(s),
                              s->shutting_down ? "shutting down"
                                               : "watching signals");
    static const int signos[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        struct wire_error e = {0};
        s->sig[i] = wire_signal_new(s->loop, signos[i], on_shutdown_signal,
                                    s, &e);
        if (s->sig[i] == NULL) {
            int code = e.code;
            wire_error_copy(err, &e);
            wire_error_clear(&e);
            unwatch_signals(s);
            return code;
        }
    }
    s->sig_watching = true;
    s->sig_grace_ms = grace_ms;
    s->sig_cb = on_signal;
    s->sig_done = done;
    s->sig_arg = arg;
    return 0;
}

static void
server_unref(struct wire_server *s)
{
    if (--s->refs > 0)
        return;
    wire_timer_free(s->backoff);
    wire_timer_free(s->deadline);
    if (s->ops->free != NULL)
        s->ops->free(s);
    free(s->address);
    free(s);
}

void
wire_server_free(struct wire_server *s)
{
    if (s == NULL || s->freed)
        return;
    s->freed = true;
    s->shutting_down = true;
    close_listener(s);
    abort_all(s);
    /* Connections outlive the server object: unlink them so their
     * connection_lost does not touch freed memory. */
    struct wire_transport *t = s->conns;
    while (t != NULL) {
        struct wire_transport *next = t->srv_next;
        t->server = NULL;
        t->srv_prev = t->srv_next = NULL;
        t = next;
    }
    s->conns = NULL;
    s->count = 0;
    unwatch_signals(s);
    wire_timer_free(s->backoff);
    s->backoff = NULL;
    wire_timer_free(s->deadline);
    s->deadline = NULL;
    server_unref(s);
}

void
wire_impl_server_started(struct wire_server *s)
{
    server_start(s);
}
