/*
 * libwire — the event loop.
 *
 * A wire_loop wraps a libevent event_base: either one it owns
 * (wire_loop_new) or one the caller already runs (wire_loop_from_event_base
 * in <wire/loop_event.h>).  Everything in libwire is driven by a loop;
 * every completion a user sees (connection_lost, a failed connect, a
 * timer) is delivered from the loop, never from inside the call that
 * caused it.
 *
 * A loop is used from one thread.  The one exception is
 * wire_loop_call_soon_threadsafe(), which any thread may call.
 */
#ifndef WIRE_LOOP_H
#define WIRE_LOOP_H

#include <wire/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wire_loop;
struct wire_timer;

/** Log levels for the loop's log hook. */
enum wire_log_level {
    WIRE_LOG_DEBUG = 0,
    WIRE_LOG_INFO = 1,
    WIRE_LOG_WARN = 2,
    WIRE_LOG_ERROR = 3
};

/** A log hook.  `msg` is valid during the call only. */
typedef void (*wire_log_cb)(void *arg, enum wire_log_level level,
                            const char *msg);

/** A function to run later on the loop. */
typedef void (*wire_loop_cb)(void *arg);

/** Create a loop that owns a new event_base.  Returns NULL on failure. */
WIRE_EXPORT struct wire_loop *wire_loop_new(void);

/**
 * Free the loop.  Pending call-soon entries are dropped without being run;
 * timers must already be freed.  Transports and servers still open on the
 * loop are a usage error (they hold the loop); close them and run the loop
 * until it returns first.  Accepts NULL.
 */
WIRE_EXPORT void wire_loop_free(struct wire_loop *loop);

/**
 * Run until nothing is left to do (no open transport, server, pending
 * timer or call-soon entry) or wire_loop_stop() is called.  Returns 0, or a
 * negative code if the backend failed.
 */
WIRE_EXPORT int wire_loop_run(struct wire_loop *loop);

/**
 * Run one iteration: wait for at least one event if `block`, process what
 * is ready, return.  Returns 1 if nothing is left to do, 0 otherwise, or a
 * negative code.
 */
WIRE_EXPORT int wire_loop_run_once(struct wire_loop *loop, bool block);

/**
 * Run until `*flag` becomes true or `timeout_ms` passes (a negative timeout
 * means no deadline).  Returns 0 when the flag was seen, WIRE_ETIMEDOUT at
 * the deadline, 1 when the loop ran out of work first, WIRE_ECANCELED when
 * wire_loop_stop() was called.  Meant for tests
 * and simple programs: "drive the loop until an event or a deadline".
 */
WIRE_EXPORT int wire_loop_run_until(struct wire_loop *loop,
                                    const volatile bool *flag,
                                    long timeout_ms);

/** Make wire_loop_run() return after the current iteration. */
WIRE_EXPORT void wire_loop_stop(struct wire_loop *loop);

/**
 * Run `cb(arg)` on a later turn of the loop, in the order of calls.
 * Entries added while entries run are run on the next turn.  Returns 0 or
 * WIRE_ENOMEM (then `cb` is never called).
 */
WIRE_EXPORT int wire_loop_call_soon(struct wire_loop *loop, wire_loop_cb cb,
                                    void *arg);

/**
 * Like wire_loop_call_soon(), callable from any thread (it wakes the loop).
 * While an entry is pending the loop does not exit.  The wakeup is set up
 * on first use, which touches the event_base: make the first call (or a
 * wire_loop_hold()) on the loop's thread before other threads post.  To
 * keep wire_loop_run() from returning while a thread may still post,
 * hold the loop (wire_loop_hold) until the thread is done.
 */
WIRE_EXPORT int wire_loop_call_soon_threadsafe(struct wire_loop *loop,
                                               wire_loop_cb cb, void *arg);

/**
 * Keep the loop alive (wire_loop_run does not return) while the count is
 * above zero.  For work the loop cannot see, e.g. a thread that will call
 * wire_loop_call_soon_threadsafe().
 */
WIRE_EXPORT void wire_loop_hold(struct wire_loop *loop);
WIRE_EXPORT void wire_loop_release(struct wire_loop *loop);

/** Install a log hook (NULL restores the default: WARN and above to
 *  stderr). */
WIRE_EXPORT void wire_loop_set_log(struct wire_loop *loop, wire_log_cb cb,
                                   void *arg);
/** Log through the loop's hook. */
WIRE_EXPORT void wire_loop_log(struct wire_loop *loop,
                               enum wire_log_level level, const char *fmt,
                               ...) WIRE_PRINTF(3, 4);

/** Monotonic time in milliseconds, cached per loop iteration. */
WIRE_EXPORT uint64_t wire_loop_now(struct wire_loop *loop);

/* ---- timers ---- */

/**
 * Create a timer on `loop`.  It does nothing until started.  Returns NULL
 * on failure.
 */
WIRE_EXPORT struct wire_timer *wire_timer_new(struct wire_loop *loop,
                                              wire_loop_cb cb, void *arg);
/**
 * Start (or restart) the timer: `cb` fires after `ms` milliseconds, then
 * every `repeat_ms` if that is non-zero.  Returns 0 or a negative code.
 */
WIRE_EXPORT int wire_timer_start(struct wire_timer *timer, uint64_t ms,
                                 uint64_t repeat_ms);
/** Stop the timer; it may be started again.  Safe from inside `cb`. */
WIRE_EXPORT void wire_timer_stop(struct wire_timer *timer);
/** True while the timer is started. */
WIRE_EXPORT bool wire_timer_is_active(const struct wire_timer *timer);
/** Stop and free the timer.  Safe from inside its own `cb`.  Accepts NULL. */
WIRE_EXPORT void wire_timer_free(struct wire_timer *timer);

/* ---- signals ---- */

struct wire_signal;
/** A signal arrived (called from the loop, never from the handler). */
typedef void (*wire_signal_cb)(void *arg, int signo);

/**
 * Watch signal `signo` (SIGINT, SIGTERM, SIGHUP...): `cb` runs from the
 * loop each time it arrives, so it may do anything (shut a server down,
 * stop the loop).  Like a timer, a watcher keeps the loop running until it
 * is freed.  One loop per process should watch signals (libevent's rule).
 * Returns NULL with `err` set on failure.
 */
WIRE_EXPORT struct wire_signal *wire_signal_new(struct wire_loop *loop,
                                                int signo, wire_signal_cb cb,
                                                void *arg,
                                                struct wire_error *err);
/** Stop watching (the signal's previous disposition comes back) and free.
 *  Safe from inside its own `cb`.  Accepts NULL. */
WIRE_EXPORT void wire_signal_free(struct wire_signal *sig);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_LOOP_H */
