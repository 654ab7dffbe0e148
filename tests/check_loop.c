/*
 * The loop: call_soon ordering, timers (one-shot, repeating, stopped,
 * restarted and freed from their own callback), the thread-safe
 * call_soon with hold/release, running until nothing is left, stop,
 * run_until's deadline, adopting a caller's event_base, and the log hook.
 *
 * No test sleeps: each drives the loop until an event or a deadline, and
 * "the loop ran out of work" is asserted as run_until returning 1.
 */
#include "unit.h"

#include <wire/loop_event.h>

#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static struct wire_loop *loop;

static void
loop_setup(void)
{
    unit_setup();
    loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
}

static void
loop_teardown(void)
{
    wire_loop_free(loop);
    loop = NULL;
}

static const volatile bool never = false;

/* ---- call_soon ---- */

struct order {
    int seq[64];
    int n;
};

struct step {
    struct order *o;
    int id;
    struct step *then; /* queued from inside this one's callback */
};

static void
step_cb(void *arg)
{
    struct step *s = arg;
    ck_assert_int_lt(s->o->n, 64);
    s->o->seq[s->o->n++] = s->id;
    if (s->then != NULL)
        ck_assert_int_eq(wire_loop_call_soon(loop, step_cb, s->then), 0);
}

START_TEST(test_call_soon_fifo)
{
    struct order o = {0};
    struct step st[10];
    for (int i = 0; i < 10; i++) {
        st[i] = (struct step){&o, i, NULL};
        ck_assert_int_eq(wire_loop_call_soon(loop, step_cb, &st[i]), 0);
    }
    ck_assert_int_eq(o.n, 0); /* never inside call_soon */
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(o.n, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(o.seq[i], i);
}
END_TEST

START_TEST(test_call_soon_added_while_running_run_next_turn)
{
    /* A (queues A2), B (queues B2), C: the turn runs A B C, and A2 B2 only
     * after the whole batch, in the order they were added. */
    struct order o = {0};
    struct step a2 = {&o, 10, NULL}, b2 = {&o, 20, NULL};
    struct step a = {&o, 1, &a2}, b = {&o, 2, &b2}, c = {&o, 3, NULL};
    wire_loop_call_soon(loop, step_cb, &a);
    wire_loop_call_soon(loop, step_cb, &b);
    wire_loop_call_soon(loop, step_cb, &c);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(o.n, 5);
    static const int want[] = {1, 2, 3, 10, 20};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(o.seq[i], want[i]);
}
END_TEST

struct starve {
    long rounds;
    bool timer_fired;
    long rounds_at_fire;
};

static void
starve_requeue(void *arg)
{
    struct starve *s = arg;
    s->rounds++;
    /* Keep re-queueing until the timer fired (or give up). */
    if (!s->timer_fired && s->rounds < 2000000)
        wire_loop_call_soon(loop, starve_requeue, s);
}

static void
starve_timer(void *arg)
{
    struct starve *s = arg;
    s->timer_fired = true;
    s->rounds_at_fire = s->rounds;
}

START_TEST(test_call_soon_requeue_does_not_starve_timers)
{
    /* "Entries added while entries run are run on the next turn": a
     * callback that keeps re-queueing itself must let the loop turn, so a
     * due timer still fires.  (A loop that ran re-queued entries in the
     * same turn would spin here two million times, then fail.) */
    struct starve s = {0};
    struct wire_timer *tm = wire_timer_new(loop, starve_timer, &s);
    ck_assert_ptr_nonnull(tm);
    wire_timer_start(tm, 0, 0);
    wire_loop_call_soon(loop, starve_requeue, &s);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 10000), 1);
    ck_assert_msg(s.timer_fired, "timer never fired");
    ck_assert_msg(s.rounds_at_fire < 2000000,
                  "the timer fired only after the re-queueing callback gave "
                  "up (%ld rounds)", s.rounds_at_fire);
    wire_timer_free(tm);
}
END_TEST

START_TEST(test_call_soon_bad_args)
{
    ck_assert_int_eq(wire_loop_call_soon(NULL, step_cb, NULL), WIRE_EINVAL);
    ck_assert_int_eq(wire_loop_call_soon(loop, NULL, NULL), WIRE_EINVAL);
    ck_assert_int_eq(wire_loop_call_soon_threadsafe(loop, NULL, NULL),
                     WIRE_EINVAL);
}
END_TEST

static void
count_cb(void *arg)
{
    (*(int *)arg)++;
}

START_TEST(test_free_drops_pending_call_soon)
{
    /* Pending entries are dropped, not run, and not leaked. */
    struct wire_loop *l2 = wire_loop_new();
    int n = 0;
    wire_loop_call_soon(l2, count_cb, &n);
    wire_loop_call_soon(l2, count_cb, &n);
    wire_loop_call_soon_threadsafe(l2, count_cb, &n);
    wire_loop_free(l2);
    ck_assert_int_eq(n, 0);
}
END_TEST

/* ---- running ---- */

START_TEST(test_run_returns_when_nothing_left)
{
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(wire_loop_run_once(loop, true), 1);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 1000), 1);
    int n = 0;
    wire_loop_call_soon(loop, count_cb, &n);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(n, 1);
}
END_TEST

struct stopper {
    struct wire_timer *tm;
    int fires;
    int stop_at;
};

static void
stopper_cb(void *arg)
{
    struct stopper *s = arg;
    if (++s->fires == s->stop_at)
        wire_loop_stop(loop);
}

START_TEST(test_stop)
{
    /* A repeating timer keeps the loop busy forever; stop ends run(). */
    struct stopper s = {.stop_at = 3};
    s.tm = wire_timer_new(loop, stopper_cb, &s);
    wire_timer_start(s.tm, 1, 1);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(s.fires, 3);
    ck_assert(wire_timer_is_active(s.tm));
    /* The loop can be run again after a stop. */
    s.stop_at = 5;
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(s.fires, 5);
    wire_timer_free(s.tm);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 1000), 1);
}
END_TEST

static void
set_flag_cb(void *arg)
{
    *(volatile bool *)arg = true;
}

START_TEST(test_run_until_flag_and_timeout)
{
    volatile bool flag = false;
    struct wire_timer *tm = wire_timer_new(loop, set_flag_cb, (void *)&flag);
    wire_timer_start(tm, 5, 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &flag, 5000), 0);
    ck_assert(flag);

    /* Held alive with nothing happening: the deadline ends the run. */
    flag = false;
    wire_loop_hold(loop);
    uint64_t t0 = wire_loop_now(loop);
    ck_assert_int_eq(wire_loop_run_until(loop, &flag, 30), WIRE_ETIMEDOUT);
    ck_assert_uint_ge(wire_loop_now(loop) - t0, 30 - UNIT_TIMER_SLACK_MS);
    ck_assert(!flag);
    wire_loop_release(loop);
    ck_assert_int_eq(wire_loop_run_until(loop, &flag, 1000), 1);
    wire_timer_free(tm);
}
END_TEST

/* ---- timers ---- */

struct tick {
    struct wire_timer *tm;
    int fires;
    uint64_t at[16];
    int stop_at, restart_at, free_at;
    uint64_t restart_ms, restart_repeat;
    bool active_in_cb[16];
};

static void
tick_cb(void *arg)
{
    struct tick *k = arg;
    ck_assert_int_lt(k->fires, 16);
    k->active_in_cb[k->fires] = wire_timer_is_active(k->tm);
    k->at[k->fires++] = wire_loop_now(loop);
    if (k->fires == k->stop_at)
        wire_timer_stop(k->tm);
    if (k->fires == k->restart_at)
        ck_assert_int_eq(wire_timer_start(k->tm, k->restart_ms,
                                          k->restart_repeat), 0);
    if (k->fires == k->free_at) {
        wire_timer_free(k->tm);
        k->tm = NULL;
    }
}

START_TEST(test_timer_one_shot)
{
    struct tick k = {0};
    k.tm = wire_timer_new(loop, tick_cb, &k);
    ck_assert(!wire_timer_is_active(k.tm));
    uint64_t t0 = wire_loop_now(loop);
    ck_assert_int_eq(wire_timer_start(k.tm, 20, 0), 0);
    ck_assert(wire_timer_is_active(k.tm));
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    ck_assert_int_eq(k.fires, 1);
    ck_assert_uint_ge(k.at[0] - t0, 20 - UNIT_TIMER_SLACK_MS);
    ck_assert(!k.active_in_cb[0]); /* a one-shot is done when it fires */
    ck_assert(!wire_timer_is_active(k.tm));
    wire_timer_free(k.tm);
}
END_TEST

START_TEST(test_timer_repeat_distinct_first_delay)
{
    /* First after 1 ms, then every 60 ms: the first delay is short and
     * the repeats are long, so mixing the two up shows either way. */
    struct tick k = {.stop_at = 3};
    k.tm = wire_timer_new(loop, tick_cb, &k);
    uint64_t t0 = wire_loop_now(loop);
    wire_timer_start(k.tm, 1, 60);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    ck_assert_int_eq(k.fires, 3);
    ck_assert_uint_lt(k.at[0] - t0, 60);
    ck_assert_uint_ge(k.at[1] - k.at[0], 60 - UNIT_TIMER_SLACK_MS);
    ck_assert_uint_ge(k.at[2] - k.at[1], 60 - UNIT_TIMER_SLACK_MS);
    ck_assert(k.active_in_cb[0] && k.active_in_cb[1]);
    ck_assert(!wire_timer_is_active(k.tm));
    wire_timer_free(k.tm);
}
END_TEST

START_TEST(test_timer_stop_from_callback)
{
    struct tick k = {.stop_at = 4};
    k.tm = wire_timer_new(loop, tick_cb, &k);
    wire_timer_start(k.tm, 1, 1);
    /* Once stopped nothing is left: the loop runs out of work. */
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    ck_assert_int_eq(k.fires, 4);
    ck_assert(!wire_timer_is_active(k.tm));
    /* Stopped timers can be started again. */
    k.stop_at = 0;
    wire_timer_start(k.tm, 1, 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    ck_assert_int_eq(k.fires, 5);
    wire_timer_free(k.tm);
}
END_TEST

START_TEST(test_timer_restart_from_callback)
{
    /* A repeating timer (every 10 s) restarted from its first callback as
     * a one-shot of 1 ms: it fires once more and the old repeat is gone,
     * so the loop runs out of work instead of waiting 10 s. */
    struct tick k = {.restart_at = 1, .restart_ms = 1, .restart_repeat = 0};
    k.tm = wire_timer_new(loop, tick_cb, &k);
    wire_timer_start(k.tm, 1, 10000);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 3000), 1);
    ck_assert_int_eq(k.fires, 2);
    ck_assert(!wire_timer_is_active(k.tm));
    wire_timer_free(k.tm);
}
END_TEST

START_TEST(test_timer_one_shot_restarts_itself)
{
    /* A one-shot that restarts itself from its callback keeps firing. */
    struct tick k = {.restart_ms = 1, .restart_repeat = 0};
    k.tm = wire_timer_new(loop, tick_cb, &k);
    k.restart_at = 1;
    wire_timer_start(k.tm, 1, 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 3000), 1);
    ck_assert_int_eq(k.fires, 2);
    ck_assert(!k.active_in_cb[0]);
    ck_assert(!k.active_in_cb[1]);
    wire_timer_free(k.tm);
}
END_TEST

START_TEST(test_timer_free_from_callback)
{
    struct tick k = {.free_at = 2};
    k.tm = wire_timer_new(loop, tick_cb, &k);
    wire_timer_start(k.tm, 1, 1);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 3000), 1);
    ck_assert_int_eq(k.fires, 2);
    ck_assert_ptr_null(k.tm);
}
END_TEST

START_TEST(test_timer_free_unstarted_and_null)
{
    struct tick k = {0};
    wire_timer_free(NULL);
    k.tm = wire_timer_new(loop, tick_cb, &k);
    wire_timer_free(k.tm); /* never started */
    k.tm = wire_timer_new(loop, tick_cb, &k);
    wire_timer_start(k.tm, 1000, 0);
    wire_timer_free(k.tm); /* started, freed before it fires */
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 3000), 1);
    ck_assert_int_eq(k.fires, 0);
}
END_TEST

/* ---- call_soon_threadsafe ---- */

#define THREAD_POSTS 200

struct tsafe {
    pthread_t loop_thread;
    int ran;
    int order_ok;
    int wrong_thread;
    int released;
};

struct tpost {
    struct tsafe *ts;
    int id;
};

static void
tpost_cb(void *arg)
{
    struct tpost *tp = arg;
    struct tsafe *ts = tp->ts;
    if (!pthread_equal(pthread_self(), ts->loop_thread))
        ts->wrong_thread++;
    if (tp->id == ts->ran)
        ts->order_ok++;
    ts->ran++;
    if (tp->id == THREAD_POSTS - 1) {
        /* The last entry lets the loop go. */
        ts->released++;
        wire_loop_release(loop);
    }
}

static struct tpost posts[THREAD_POSTS];

static void *
poster(void *arg)
{
    struct tsafe *ts = arg;
    for (int i = 0; i < THREAD_POSTS; i++) {
        posts[i] = (struct tpost){ts, i};
        int rc = wire_loop_call_soon_threadsafe(loop, tpost_cb, &posts[i]);
        if (rc != 0)
            return (void *)1;
    }
    return NULL;
}

START_TEST(test_call_soon_threadsafe)
{
    struct tsafe ts = {.loop_thread = pthread_self()};
    /* Without the hold the loop would exit at once: nothing it can see
     * is pending until the thread posts. */
    wire_loop_hold(loop);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, poster, &ts), 0);
    int rc = wire_loop_run_until(loop, &never, 10000);
    void *res = (void *)2;
    ck_assert_int_eq(pthread_join(th, &res), 0);
    ck_assert_ptr_null(res);
    /* It ran out of work (1) once released, not at the deadline. */
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(ts.ran, THREAD_POSTS);
    ck_assert_int_eq(ts.order_ok, THREAD_POSTS);
    ck_assert_int_eq(ts.wrong_thread, 0);
    ck_assert_int_eq(ts.released, 1);
}
END_TEST

START_TEST(test_hold_release)
{
    /* Held: run_until reaches its deadline; released: the loop is done. */
    volatile bool flag = false;
    wire_loop_hold(loop);
    wire_loop_hold(loop);
    ck_assert_int_eq(wire_loop_run_until(loop, &flag, 10), WIRE_ETIMEDOUT);
    wire_loop_release(loop);
    ck_assert_int_eq(wire_loop_run_until(loop, &flag, 10), WIRE_ETIMEDOUT);
    wire_loop_release(loop);
    ck_assert_int_eq(wire_loop_run_until(loop, &flag, 1000), 1);
    wire_loop_release(loop); /* extra releases are ignored */
    ck_assert_int_eq(wire_loop_run(loop), 0);
}
END_TEST

/* ---- adopting an event_base ---- */

static void
plain_event_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (*(int *)arg)++;
}

START_TEST(test_from_event_base)
{
    struct event_base *base = event_base_new();
    ck_assert_ptr_nonnull(base);
    struct wire_loop *l2 = wire_loop_from_event_base(base);
    ck_assert_ptr_nonnull(l2);
    ck_assert_ptr_eq(wire_loop_event_base(l2), base);

    /* The caller runs its own base; libwire's work runs in it. */
    int soon = 0;
    struct tick k = {0};
    wire_loop_call_soon(l2, count_cb, &soon);
    k.tm = wire_timer_new(l2, tick_cb, &k);
    struct wire_loop *saved = loop;
    loop = l2; /* tick_cb reads the time from `loop` */
    wire_timer_start(k.tm, 2, 0);
    /* 1: it returned because no events were left, as libevent says. */
    ck_assert_int_eq(event_base_dispatch(base), 1);
    loop = saved;
    ck_assert_int_eq(soon, 1);
    ck_assert_int_eq(k.fires, 1);
    wire_timer_free(k.tm);

    /* wire_loop_run works on an adopted base too. */
    wire_loop_call_soon(l2, count_cb, &soon);
    ck_assert_int_eq(wire_loop_run(l2), 0);
    ck_assert_int_eq(soon, 2);

    /* Freeing the loop leaves the base alive and usable. */
    wire_loop_free(l2);
    int plain = 0;
    struct event *ev = evtimer_new(base, plain_event_cb, &plain);
    struct timeval tv = {0, 1000};
    evtimer_add(ev, &tv);
    ck_assert_int_eq(event_base_dispatch(base), 1);
    ck_assert_int_eq(plain, 1);
    event_free(ev);
    event_base_free(base);
    ck_assert_ptr_null(wire_loop_from_event_base(NULL));
}
END_TEST

START_TEST(test_own_base_is_exposed)
{
    ck_assert_ptr_nonnull(wire_loop_event_base(loop));
}
END_TEST

/* ---- log ---- */

struct logrec {
    int n;
    enum wire_log_level level;
    char msg[1024];
    size_t len;
};

static void
log_hook(void *arg, enum wire_log_level level, const char *msg)
{
    struct logrec *r = arg;
    r->n++;
    r->level = level;
    r->len = strlen(msg);
    snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

START_TEST(test_log_hook)
{
    struct logrec r = {0};
    wire_loop_set_log(loop, log_hook, &r);
    wire_loop_log(loop, WIRE_LOG_INFO, "hello %s %d", "world", 42);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.level, WIRE_LOG_INFO);
    ck_assert_str_eq(r.msg, "hello world 42");
    /* Every level reaches the hook, DEBUG included. */
    wire_loop_log(loop, WIRE_LOG_DEBUG, "d");
    ck_assert_int_eq(r.n, 2);
    ck_assert_int_eq(r.level, WIRE_LOG_DEBUG);
    wire_loop_log(loop, WIRE_LOG_ERROR, "e");
    ck_assert_int_eq(r.level, WIRE_LOG_ERROR);
    /* A long message arrives whole or cut, but NUL-terminated and
     * without overflow (ASan checks the latter). */
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    wire_loop_log(loop, WIRE_LOG_WARN, "%s", big);
    ck_assert_int_eq(r.n, 4);
    ck_assert_uint_ge(r.len, 256);
    ck_assert_uint_le(r.len, sizeof(big) - 1);
    ck_assert_uint_eq(strspn(r.msg, "x"), strlen(r.msg));
    /* NULL restores the default: the hook hears nothing more. */
    wire_loop_set_log(loop, NULL, NULL);
    wire_loop_log(loop, WIRE_LOG_DEBUG, "to the default sink");
    ck_assert_int_eq(r.n, 4);
}
END_TEST

/* ---- signals ---- */

struct sigrec {
    int n, signo;
    bool flag;
    struct wire_signal *self; /* freed from inside the callback if set */
};

static void
on_sig(void *arg, int signo)
{
    struct sigrec *r = arg;
    r->n++;
    r->signo = signo;
    r->flag = true;
    if (r->self != NULL) {
        wire_signal_free(r->self);
        r->self = NULL;
    }
}

START_TEST(test_signal_watch)
{
    struct sigrec r = {0};
    struct wire_error err = {0};
    struct wire_signal *w = wire_signal_new(loop, SIGUSR1, on_sig, &r, &err);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(r.n, 0);
    /* Delivered from the loop, not from inside raise(). */
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert_int_eq(r.n, 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &r.flag, 5000), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.signo, SIGUSR1);
    /* Persistent: a second signal is seen too. */
    r.flag = false;
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &r.flag, 5000), 0);
    ck_assert_int_eq(r.n, 2);
    /* A watcher keeps the loop running, like a timer... */
    ck_assert_int_eq(wire_loop_run_once(loop, false), 0);
    wire_signal_free(w);
    /* ...and after it is freed, nothing is left. */
    ck_assert_int_eq(wire_loop_run(loop), 0);
    wire_signal_free(NULL);
}
END_TEST

START_TEST(test_signal_free_inside_callback)
{
    struct sigrec r = {0};
    r.self = wire_signal_new(loop, SIGUSR2, on_sig, &r, NULL);
    ck_assert_ptr_nonnull(r.self);
    ck_assert_int_eq(raise(SIGUSR2), 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &r.flag, 5000), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_ptr_null(r.self);
    ck_assert_int_eq(wire_loop_run(loop), 0); /* nothing left */
    /* The disposition is back to the default (terminate), so ignore
     * SIGUSR2 before raising it to prove the watcher no longer sees it. */
    signal(SIGUSR2, SIG_IGN);
    ck_assert_int_eq(raise(SIGUSR2), 0);
    ck_assert_int_eq(wire_loop_run_once(loop, false), 1);
    ck_assert_int_eq(r.n, 1);
    signal(SIGUSR2, SIG_DFL);
}
END_TEST

START_TEST(test_signal_bad_args)
{
    struct wire_error err = {0};
    struct sigrec r = {0};
    ck_assert_ptr_null(wire_signal_new(loop, SIGKILL, on_sig, &r, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "signal 9"));
    wire_error_clear(&err);
    ck_assert_ptr_null(wire_signal_new(loop, 0, on_sig, &r, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    wire_error_clear(&err);
    ck_assert_ptr_null(wire_signal_new(loop, SIGUSR1, NULL, &r, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    wire_error_clear(&err);
    ck_assert_ptr_null(wire_signal_new(NULL, SIGUSR1, on_sig, &r, NULL));
}
END_TEST

Suite *
loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("call_soon");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, test_call_soon_fifo);
    tcase_add_test(tc, test_call_soon_added_while_running_run_next_turn);
    tcase_add_test(tc, test_call_soon_requeue_does_not_starve_timers);
    tcase_add_test(tc, test_call_soon_bad_args);
    tcase_add_test(tc, test_free_drops_pending_call_soon);
    suite_add_tcase(s, tc);

    tc = tcase_create("run");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, test_run_returns_when_nothing_left);
    tcase_add_test(tc, test_stop);
    tcase_add_test(tc, test_run_until_flag_and_timeout);
    tcase_add_test(tc, test_hold_release);
    suite_add_tcase(s, tc);

    tc = tcase_create("timers");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, test_timer_one_shot);
    tcase_add_test(tc, test_timer_repeat_distinct_first_delay);
    tcase_add_test(tc, test_timer_stop_from_callback);
    tcase_add_test(tc, test_timer_restart_from_callback);
    tcase_add_test(tc, test_timer_one_shot_restarts_itself);
    tcase_add_test(tc, test_timer_free_from_callback);
    tcase_add_test(tc, test_timer_free_unstarted_and_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_call_soon_threadsafe);
    suite_add_tcase(s, tc);

    tc = tcase_create("event_base");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, test_from_event_base);
    tcase_add_test(tc, test_own_base_is_exposed);
    suite_add_tcase(s, tc);

    tc = tcase_create("log");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, test_log_hook);
    suite_add_tcase(s, tc);

    tc = tcase_create("signal");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, test_signal_watch);
    tcase_add_test(tc, test_signal_free_inside_callback);
    tcase_add_test(tc, test_signal_bad_args);
    suite_add_tcase(s, tc);
    return s;
}
