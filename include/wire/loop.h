/**
 * @file
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
    WIRE_LOG_DEBUG = 0, /**< detail for debugging */
    WIRE_LOG_INFO = 1,  /**< normal events worth noting */
    WIRE_LOG_WARN = 2,  /**< something went wrong and was handled */
    WIRE_LOG_ERROR = 3  /**< something went wrong and was not handled */
};

/** A log hook, called synchronously from wire_loop_log() on the thread
 *  that logs.  `msg` is valid during the call only. */
typedef void (*wire_log_cb)(void *arg, enum wire_log_level level,
                            const char *msg);

/** A function to run later on the loop (wire_loop_call_soon(), timers,
 *  wire_server_shutdown()'s `done`); `arg` is the pointer given with it. */
typedef void (*wire_loop_cb)(void *arg);

/** Create a loop that owns a new event_base.  The caller owns the loop and
 *  frees it with wire_loop_free().  Returns NULL on failure (out of memory,
 *  or libevent could not create a base). */
WIRE_EXPORT struct wire_loop *wire_loop_new(void);

/**
 * Free the loop.  Pending call-soon entries are dropped without being run;
 * timers must already be freed.  Transports and servers still open on the
 * loop are a usage error (they hold the loop); close them and run the loop
 * until it returns first.  Accepts NULL.
 */
WIRE_EXPORT void wire_loop_free(struct wire_loop *loop);

/**
 * Run until nothing is left to do (no transport waiting on a file
 * descriptor, no server, pending timer or call-soon entry, no hold) or
 * wire_loop_stop() is called.  An idle memory pair or string transport
 * waits on nothing, so it does not keep the loop running: use
 * wire_loop_hold() or wire_loop_run_until() while only those are open.  All
 * callbacks run from inside this call, on the calling thread.  Returns 0,
 * or WIRE_EINVAL if the libevent backend failed.
 */
WIRE_EXPORT int wire_loop_run(struct wire_loop *loop);

/**
 * Run one iteration: wait for at least one event if `block`, process what
 * is ready, return.  Returns 1 if nothing is left to do (then it returns at
 * once without waiting), 0 otherwise, or WIRE_EINVAL if the backend failed.
 */
WIRE_EXPORT int wire_loop_run_once(struct wire_loop *loop, bool block);

/**
 * Run until `*flag` becomes true or `timeout_ms` passes (a negative timeout
 * means no deadline).  Returns 0 when the flag was seen (also when it was
 * already true: then nothing runs), WIRE_ETIMEDOUT at the deadline, 1 when
 * the loop ran out of work first, WIRE_ECANCELED when wire_loop_stop() was
 * called, WIRE_ENOMEM if the deadline timer could not be created and
 * WIRE_EINVAL if the backend failed.  Meant for tests and simple programs:
 * "drive the loop until an event or a deadline".  `flag` is typically set
 * by one of the program's callbacks.
 */
WIRE_EXPORT int wire_loop_run_until(struct wire_loop *loop,
                                    const volatile bool *flag,
                                    long timeout_ms);

/** Make wire_loop_run() (or wire_loop_run_until(), which then returns
 *  WIRE_ECANCELED) return after the current iteration.  Call it from the
 *  loop's thread, typically from a callback.  The stop applies to the run
 *  in progress only; the next run starts afresh. */
WIRE_EXPORT void wire_loop_stop(struct wire_loop *loop);

/**
 * Run `cb(arg)` on a later turn of the loop, in the order of calls; never
 * from inside this call.  Entries added while entries run are run on the
 * next turn.  A pending entry keeps the loop running; wire_loop_free()
 * drops entries not yet run without calling them.  `arg` stays the
 * caller's.  Returns 0 or WIRE_ENOMEM (then `cb` is never called).
 */
WIRE_EXPORT int wire_loop_call_soon(struct wire_loop *loop, wire_loop_cb cb,
                                    void *arg);

/**
 * Like wire_loop_call_soon(), callable from any thread (it wakes the loop);
 * `cb` runs on the loop's thread.  While an entry is pending the loop does
 * not exit.  The wakeup is set up on first use, which touches the
 * event_base: make the first call (or a wire_loop_hold()) on the loop's
 * thread before other threads post.  To keep wire_loop_run() from
 * returning while a thread may still post, hold the loop (wire_loop_hold)
 * until the thread is done.  Returns 0, WIRE_ENOMEM, or a -errno code if
 * the wakeup descriptor could not be created (then `cb` is never called).
 */
WIRE_EXPORT int wire_loop_call_soon_threadsafe(struct wire_loop *loop,
                                               wire_loop_cb cb, void *arg);

/**
 * Keep the loop alive (wire_loop_run does not return) while the count is
 * above zero.  For work the loop cannot see, e.g. a thread that will call
 * wire_loop_call_soon_threadsafe().  The count is not locked: call this and
 * wire_loop_release() on the loop's thread (a worker thread can post its
 * release with wire_loop_call_soon_threadsafe()).  Each hold needs one
 * release.
 */
WIRE_EXPORT void wire_loop_hold(struct wire_loop *loop);
/** Drop one wire_loop_hold(); when the count reaches zero the loop may
 *  exit again once it has nothing else to do.  A release without a hold
 *  does nothing.  Call it on the loop's thread. */
WIRE_EXPORT void wire_loop_release(struct wire_loop *loop);

/** Install a log hook (NULL restores the default: WARN and above to
 *  stderr).  The hook receives every level; `arg` stays the caller's and
 *  must outlive the loop or the next call. */
WIRE_EXPORT void wire_loop_set_log(struct wire_loop *loop, wire_log_cb cb,
                                   void *arg);
/** Log through the loop's hook: format the message (truncated to 511
 *  bytes) and pass it to the hook, or, without a hook (or with `loop`
 *  NULL), print WARN and above to stderr prefixed "libwire: ". */
WIRE_EXPORT void wire_loop_log(struct wire_loop *loop,
                               enum wire_log_level level, const char *fmt,
                               ...) WIRE_PRINTF(3, 4);

/** Monotonic time in milliseconds (CLOCK_MONOTONIC, read afresh at each
 *  call; not cached per iteration).  The origin is arbitrary: use it for
 *  differences only. */
WIRE_EXPORT uint64_t wire_loop_now(struct wire_loop *loop);

/* ---- timers ---- */

/**
 * Create a timer on `loop`.  It does nothing until started; `cb(arg)` then
 * runs from the loop when it fires.  The caller owns the timer and frees it
 * with wire_timer_free() before freeing the loop.  A started timer keeps
 * wire_loop_run() running.  Returns NULL on failure (out of memory).
 */
WIRE_EXPORT struct wire_timer *wire_timer_new(struct wire_loop *loop,
                                              wire_loop_cb cb, void *arg);
/**
 * Start (or restart) the timer: `cb` fires after `ms` milliseconds, then
 * every `repeat_ms` if that is non-zero.  Restarting replaces the previous
 * schedule.  Safe from inside `cb` (a restart from the callback is not
 * overridden by the repeat).  Returns 0 (no failure is possible today;
 * callers should still treat a negative return as an error).
 */
WIRE_EXPORT int wire_timer_start(struct wire_timer *timer, uint64_t ms,
                                 uint64_t repeat_ms);
/** Stop the timer; it may be started again.  Safe from inside `cb` (a
 *  repeating timer then does not re-arm) and on a stopped timer. */
WIRE_EXPORT void wire_timer_stop(struct wire_timer *timer);
/** True while the timer is started: after wire_timer_start() until it
 *  is stopped, and, for a one-shot timer, until it fires. */
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
 * The caller owns the watcher and frees it with wire_signal_free() before
 * freeing the loop.  Returns NULL with `err` (if not NULL) set on failure:
 * WIRE_EINVAL for a NULL `loop` or `cb`, a signal that cannot be caught
 * (SIGKILL, SIGSTOP, out of range) or one libevent could not watch;
 * WIRE_ENOMEM.
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
