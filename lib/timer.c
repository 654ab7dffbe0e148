/*
 * Timers: one-shot and repeating, on the loop's event_base.  A repeating
 * timer re-arms itself after its callback unless the callback stopped or
 * restarted it (a generation counter tells), and a timer may free itself
 * from inside its own callback (it is then only marked, and freed when
 * the callback returns).
 */
#include "internal.h"

#include <event2/event.h>
#include <stdlib.h>

struct wire_timer {
    struct wire_loop *loop;
    struct event *ev;
    wire_loop_cb cb;
    void *arg;
    uint64_t repeat_ms;
    unsigned gen;       /* bumped by every start/stop */
    bool active;
    bool in_cb;
    bool dead;          /* freed from inside its own callback */
};

static void
timer_arm(struct wire_timer *tm, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    event_add(tm->ev, &tv);
}

static void
timer_fire(evutil_socket_t fd, short what, void *arg)
{
    struct wire_timer *tm = arg;
    WIRE_UNUSED(fd);
    WIRE_UNUSED(what);
    unsigned gen = tm->gen;
    if (tm->repeat_ms == 0)
        tm->active = false;
    tm->in_cb = true;
    tm->cb(tm->arg);
    tm->in_cb = false;
    /* The callback may have freed the timer: it only marked it dead. */
    if (tm->dead) {
        event_free(tm->ev);
        free(tm);
        return;
    }
    /* Re-arm a repeating timer unless the callback stopped or restarted
     * it (either bumps the generation). */
    if (tm->repeat_ms != 0 && tm->gen == gen)
        timer_arm(tm, tm->repeat_ms);
}

struct wire_timer *
wire_timer_new(struct wire_loop *loop, wire_loop_cb cb, void *arg)
{
    struct wire_timer *tm = calloc(1, sizeof(*tm));
    if (tm == NULL)
        return NULL;
    tm->loop = loop;
    tm->cb = cb;
    tm->arg = arg;
    tm->ev = evtimer_new(wire_loop_event_base(loop), timer_fire, tm);
    if (tm->ev == NULL) {
        free(tm);
        return NULL;
    }
    return tm;
}

int
wire_timer_start(struct wire_timer *tm, uint64_t ms, uint64_t repeat_ms)
{
    event_del(tm->ev);
    tm->gen++;
    tm->repeat_ms = repeat_ms;
    tm->active = true;
    timer_arm(tm, ms);
    return 0;
}

void
wire_timer_stop(struct wire_timer *tm)
{
    event_del(tm->ev);
    tm->gen++;
    tm->active = false;
}

bool
wire_timer_is_active(const struct wire_timer *tm)
{
    return tm->active;
}

void
wire_timer_free(struct wire_timer *tm)
{
    if (tm == NULL)
        return;
    wire_timer_stop(tm);
    if (tm->in_cb) {
        tm->dead = true;
        return;
    }
    event_free(tm->ev);
    free(tm);
}
