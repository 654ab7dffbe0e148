/*
 * Workers: one server per core.  N threads, each with its own loop and its
 * own listening socket bound with SO_REUSEPORT to the same address, so the
 * kernel spreads the connections; a connection stays on the thread that
 * accepted it.  libevent bases are not thread-safe (we do not turn on
 * evthread), so no thread ever calls into another's loop: the owner talks
 * to a worker only through wire_loop_call_soon_threadsafe(), whose eventfd
 * each worker sets up on its own thread before it reports ready.
 *
 * What is shared, and how: the state of each worker (ready, failed,
 * ended) and its start error, under `mu`, with `cv` for the owner to wait
 * on; the accepted counters and the stop flag, atomics.  Everything else
 * a worker touches (its loop, server, protocols, the user's per-worker
 * state) lives on its thread only.  Loops are freed by the owner after the
 * join, so a stop posted to a worker whose loop already ended is harmless.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum worker_state { W_STARTING, W_READY, W_FAILED };

struct worker {
    struct wire_workers *w;
    unsigned index;
    pthread_t thread;
    bool thread_started;   /* needs a join */
    bool joined;
    enum worker_state state;   /* under w->mu */
    struct wire_error err;     /* why it failed (written before the state) */
    int run_rc;                /* wire_loop_run's failure, after the join */
    atomic_uint_fast64_t accepted;
    /* The worker's thread only, until the join: */
    struct wire_loop *loop;
    struct wire_server *server;
    struct wire_worker_service svc;
    bool set_up;               /* setup succeeded: teardown is due */
    bool held;                 /* wire_loop_hold until the stop arrives */
    bool stop_seen;
};

struct wire_workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned count;
    struct worker *workers;
    char *endpoint;            /* what each worker listens on */
    char *address;             /* worker 0's bound address */
    struct wire_workers_options opts;
    atomic_bool stopping;
    atomic_uint_fast64_t stop_timeout;
};

/* ---- on a worker's thread ---- */

static struct wire_protocol *
worker_factory(void *arg)
{
    struct worker *wk = arg;
    struct wire_protocol *p = wk->svc.factory(wk->svc.factory_arg);
    if (p != NULL)
        atomic_fetch_add_explicit(&wk->accepted, 1, memory_order_relaxed);
    return p;
}

static void
server_done(void *arg)
{
    struct worker *wk = arg;
    /* Every connection is gone: end the run even if the user's state
     * still has something on the loop (its teardown ends that). */
    wire_loop_stop(wk->loop);
}

static void
worker_stop_fn(void *arg)
{
    struct worker *wk = arg;
    if (wk->stop_seen)
        return;
    wk->stop_seen = true;
    uint64_t timeout = atomic_load(&wk->w->stop_timeout);
    if (wk->server != NULL)
        wire_server_shutdown(wk->server, timeout, server_done, wk);
    else
        wire_loop_stop(wk->loop);
    if (wk->held) {
        wk->held = false;
        wire_loop_release(wk->loop);
    }
}

static void
noop(void *arg)
{
    WIRE_UNUSED(arg);
}

/* Make the loop, ask the user what to serve, listen.  On failure `err`
 * says why (without the worker's number). */
static int
worker_open(struct worker *wk, struct wire_error *err)
{
    struct wire_workers *w = wk->w;
    wk->loop = wire_loop_new();
    if (wk->loop == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "cannot create a loop");
    /* Set up the thread wakeup here, on the loop's own thread, before
     * any other thread can post to it. */
    int rc = wire_loop_call_soon_threadsafe(wk->loop, noop, NULL);
    if (rc < 0)
        return wire_error_set(err, rc, "cannot set up the thread wakeup: %s",
                              wire_strerror(rc));
    rc = w->opts.setup(w->opts.arg, wk->loop, wk->index, &wk->svc, err);
    if (rc < 0) {
        if (err->message == NULL)
            wire_error_set(err, rc, "setup failed: %s", wire_strerror(rc));
        return rc;
    }
    wk->set_up = true;
    if (wk->svc.factory == NULL)
        return wire_error_set(err, WIRE_EINVAL, "setup gave no factory");
    struct wire_listen_options lo = {.backlog = w->opts.backlog,
                                     .reuseport = true};
    rc = wire_listen(wk->loop, w->endpoint, worker_factory, wk, &lo,
                     &wk->server, err);
    if (rc < 0)
        return rc;
    wire_loop_hold(wk->loop);
    wk->held = true;
    if (wk->index == 0 &&
        (w->address = strdup(wire_server_address(wk->server))) == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    return 0;
}

/* Free the server, let the user release its state, and run the loop until
 * nothing is left (what the teardown closed still has to finish). */
static void
worker_close(struct worker *wk)
{
    struct wire_workers *w = wk->w;
    wire_server_free(wk->server);
    wk->server = NULL;
    if (wk->held) {
        wk->held = false;
        wire_loop_release(wk->loop);
    }
    if (wk->set_up && w->opts.teardown != NULL)
        w->opts.teardown(w->opts.arg, wk->loop, wk->index, wk->svc.factory_arg);
    if (wk->loop != NULL)
        wire_loop_run(wk->loop);
}

static void *
worker_main(void *arg)
{
    struct worker *wk = arg;
    struct wire_workers *w = wk->w;
    struct wire_error err = {0};
    int rc = worker_open(wk, &err);
    pthread_mutex_lock(&w->mu);
    if (rc < 0) {
        wire_error_set(&wk->err, rc, "worker %u of %u: %s", wk->index, w->count,
                       err.message != NULL ? err.message : wire_strerror(rc));
        wk->state = W_FAILED;
    } else {
        wk->state = W_READY;
    }
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    wire_error_clear(&err);
    if (rc == 0) {
        /* Runs until the stop: the server's shutdown ends it. */
        rc = wire_loop_run(wk->loop);
        if (rc < 0) {
            wk->run_rc = rc;
            wire_loop_log(wk->loop, WIRE_LOG_ERROR, "worker %u: loop failed: %s",
                          wk->index, wire_strerror(rc));
        }
    }
    worker_close(wk);
    return NULL;
}

/* ---- on the owner's thread ---- */

static unsigned
cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1u;
}

/* Start worker threads [from, to) with every signal blocked (the threads
 * inherit the mask), and wait until each is ready or failed.  Returns the
 * index of the first that failed, or `to`. */
static unsigned
launch(struct wire_workers *w, unsigned from, unsigned to)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = from; i < to; i++) {
        struct worker *wk = &w->workers[i];
        int e = pthread_create(&wk->thread, NULL, worker_main, wk);
        if (e != 0) {
            wire_error_set(&wk->err, -e, "worker %u of %u: cannot start a "
                           "thread: %s", i, w->count, strerror(e));
            wk->state = W_FAILED; /* no thread reads it: no lock needed */
            break;
        }
        wk->thread_started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    unsigned failed = to;
    pthread_mutex_lock(&w->mu);
    for (unsigned i = from; i < to; i++) {
        struct worker *wk = &w->workers[i];
        while (wk->thread_started && wk->state == W_STARTING)
            pthread_cond_wait(&w->cv, &w->mu);
        if (wk->state != W_READY && failed == to)
            failed = i;
        if (!wk->thread_started)
            break;
    }
    pthread_mutex_unlock(&w->mu);
    return failed;
}

/* With port 0 in the endpoint, the others must bind the port worker 0
 * got: rewrite the endpoint's port (the text after the last ':' before
 * the query) with the one in worker 0's address. */
static int
pin_port(struct wire_workers *w, struct wire_error *err)
{
    struct wire_endpoint ep;
    if (wire_endpoint_parse(w->endpoint, WIRE_ENDPOINT_HOSTPORT, &ep, NULL) < 0)
        return 0; /* not host:port: nothing to pin */
    bool zero = strtoul(ep.port, NULL, 10) == 0;
    wire_endpoint_clear(&ep);
    const char *port = strrchr(w->address, ':');
    if (!zero || port == NULL)
        return 0;
    port++;
    const char *query = strchr(w->endpoint, '?');
    size_t head = query != NULL ? (size_t)(query - w->endpoint)
                                : strlen(w->endpoint);
    while (head > 0 && w->endpoint[head - 1] != ':')
        head--;
    char *s = NULL;
    if (asprintf(&s, "%.*s%s%s", (int)head, w->endpoint, port,
                 query != NULL ? query : "") < 0)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    free(w->endpoint);
    w->endpoint = s;
    return 0;
}

int
wire_workers_start(const char *endpoint, const struct wire_workers_options *opts,
                   struct wire_workers **out, struct wire_error *err)
{
    if (endpoint == NULL || opts == NULL || opts->setup == NULL || out == NULL)
        return wire_error_set(err, WIRE_EINVAL, "wire_workers_start: endpoint, "
                              "options, setup callback and out are required");
    if (opts->count < 0 || opts->count > WIRE_WORKERS_MAX)
        return wire_error_set(err, WIRE_EINVAL, "wire_workers_start: %d "
                              "workers: the count must be 0 (one per CPU) to "
                              "%d", opts->count, WIRE_WORKERS_MAX);
    unsigned n = opts->count > 0 ? (unsigned)opts->count : cpu_count();
    if (n > WIRE_WORKERS_MAX)
        n = WIRE_WORKERS_MAX;
    struct wire_workers *w = calloc(1, sizeof(*w));
    struct worker *workers = calloc(n, sizeof(*workers));
    char *ep = strdup(endpoint);
    if (w == NULL || workers == NULL || ep == NULL) {
        free(w);
        free(workers);
        free(ep);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->count = n;
    w->workers = workers;
    w->endpoint = ep;
    w->opts = *opts;
    for (unsigned i = 0; i < n; i++) {
        workers[i].w = w;
        workers[i].index = i;
        atomic_init(&workers[i].accepted, 0);
    }
    atomic_init(&w->stopping, false);
    atomic_init(&w->stop_timeout, 0);
    /* Worker 0 alone first: with port 0 it picks the port the others
     * then share. */
    unsigned failed = launch(w, 0, 1);
    int rc = 0;
    if (failed == 1 && (rc = pin_port(w, err)) == 0)
        failed = launch(w, 1, n);
    if (rc == 0 && failed == n) {
        *out = w;
        return 0;
    }
    if (rc == 0) {
        struct worker *wk = &w->workers[failed];
        rc = wire_error_set(err, wk->err.code, "%s",
                            wk->err.message != NULL ? wk->err.message
                                                    : wire_strerror(wk->err.code));
    }
    wire_workers_free(w);
    return rc;
}

unsigned
wire_workers_count(const struct wire_workers *w)
{
    return w->count;
}

const char *
wire_workers_address(const struct wire_workers *w)
{
    return w->address != NULL ? w->address : "";
}

uint64_t
wire_workers_accepted(const struct wire_workers *w, unsigned index)
{
    if (index >= w->count)
        return 0;
    return atomic_load_explicit(&w->workers[index].accepted,
                                memory_order_relaxed);
}

void
wire_workers_stop(struct wire_workers *w, uint64_t timeout_ms)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(&w->stopping, &expected, true))
        return;
    /* Stored before the posts: the eventfd's lock orders it before each
     * worker reads it. */
    atomic_store(&w->stop_timeout, timeout_ms);
    pthread_mutex_lock(&w->mu);
    for (unsigned i = 0; i < w->count; i++) {
        struct worker *wk = &w->workers[i];
        if (wk->state != W_READY)
            continue;
        int rc = wire_loop_call_soon_threadsafe(wk->loop, worker_stop_fn, wk);
        if (rc < 0) /* cannot happen once the wakeup is set up, but say so */
            wire_loop_log(NULL, WIRE_LOG_ERROR, "worker %u: cannot post the "
                          "stop: %s", i, wire_strerror(rc));
    }
    pthread_mutex_unlock(&w->mu);
}

int
wire_workers_wait(struct wire_workers *w, struct wire_error *err)
{
    int rc = 0;
    for (unsigned i = 0; i < w->count; i++) {
        struct worker *wk = &w->workers[i];
        if (wk->thread_started && !wk->joined) {
            pthread_join(wk->thread, NULL);
            wk->joined = true;
        }
        if (wk->run_rc < 0 && rc == 0)
            rc = wire_error_set(err, wk->run_rc, "worker %u of %u: loop "
                                "failed: %s", i, w->count,
                                wire_strerror(wk->run_rc));
    }
    return rc;
}

void
wire_workers_free(struct wire_workers *w)
{
    if (w == NULL)
        return;
    wire_workers_stop(w, 0);
    wire_workers_wait(w, NULL);
    for (unsigned i = 0; i < w->count; i++) {
        wire_loop_free(w->workers[i].loop);
        wire_error_clear(&w->workers[i].err);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->workers);
    free(w->endpoint);
    free(w->address);
    free(w);
}
