/**
 * @file
 * libwire — the one bridge to libevent.
 *
 * This is the only public header that names a libevent type.  Include it
 * when libwire must share an event_base the program already runs.
 */
#ifndef WIRE_LOOP_EVENT_H
#define WIRE_LOOP_EVENT_H

#include <wire/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

/**
 * Wrap an existing event_base.  The loop does not own `base`:
 * wire_loop_free() leaves it alive, and the caller may keep running it with
 * event_base_dispatch() instead of wire_loop_run().  The caller owns the
 * returned loop and frees it (with wire_loop_free()) before freeing
 * `base`.  Returns NULL on failure (a NULL `base`, out of memory).
 */
WIRE_EXPORT struct wire_loop *wire_loop_from_event_base(struct event_base *base);

/** The event_base under `loop` (owned by the loop unless adopted with
 *  wire_loop_from_event_base(); never NULL).  Use it to add the program's
 *  own libevent events, not to free it. */
WIRE_EXPORT struct event_base *wire_loop_event_base(struct wire_loop *loop);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_LOOP_EVENT_H */
