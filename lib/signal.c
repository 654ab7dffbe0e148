/*
 * Signal watchers: libevent's signal events (a self-pipe behind the
 * scenes), so the callback runs from the loop like any other.  A watcher
 * may free itself from inside its callback: it is then only marked, and
 * freed when the callback returns.
 */
#include "internal.h"

#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>

struct wire_signal {
    struct event *ev;
    wire_signal_cb cb;
    void *arg;
    int signo;
    bool in_cb;
    bool dead;
};

static void
signal_fire(evutil_socket_t fd, short what, void *arg)
{
    struct wire_signal *s = arg;
    WIRE_UNUSED(fd);
    WIRE_UNUSED(what);
    s->in_cb = true;
    s->cb(s->arg, s->signo);
    s->in_cb = false;
    if (s->dead) {
        event_free(s->ev);
        free(s);
    }
}

struct wire_signal *
wire_signal_new(struct wire_loop *loop, int signo, wire_signal_cb cb,
                void *arg, struct wire_error *err)
{
    if (loop == NULL || cb == NULL || signo <= 0 || signo >= NSIG ||
        signo == SIGKILL || signo == SIGSTOP) {
        wire_error_set(err, WIRE_EINVAL, "signal %d cannot be watched", signo);
        return NULL;
    }
    struct wire_signal *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        wire_error_set(err, WIRE_ENOMEM, "out of memory");
        return NULL;
    }
    s->cb = cb;
    s->arg = arg;
    s->signo = signo;
    s->ev = evsignal_new(wire_loop_event_base(loop), signo, signal_fire, s);
    if (s->ev == NULL || event_add(s->ev, NULL) != 0) {
        wire_error_set(err, WIRE_EINVAL, "cannot watch signal %d", signo);
        if (s->ev != NULL)
            event_free(s->ev);
        free(s);
        return NULL;
    }
    return s;
}

void
wire_signal_free(struct wire_signal *s)
{
    if (s == NULL || s->dead)
        return;
    event_del(s->ev);
    if (s->in_cb) {
        s->dead = true;
        return;
    }
    event_free(s->ev);
    free(s);
}
