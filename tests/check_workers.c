/*
 * Workers (wire_workers_*): N loops on N threads sharing one port with
 * SO_REUSEPORT.  The clients run on the test thread's own loop; the echo
 * servers run on the workers' threads, so everything the server side
 * records is an atomic (and nothing there calls ck_assert, which is not
 * thread-safe): the test thread asserts once the workers have ended.
 *
 * core: 32 connections echo-verified and spread over both workers, the
 * setup and teardown running on the workers' threads with their own
 * index and state, count 0 meaning one per CPU, tls:// workers, a stop
 * (graceful, at once, by wire_workers_free, and from inside a worker)
 * with connections open.
 * errors: bad counts and arguments, a port held by a socket without
 * SO_REUSEPORT, a setup failing in the second worker (the first is
 * stopped and torn down), no factory, unix: and mem: refused.
 */
#define _GNU_SOURCE
#include "tls_certs.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXCONN 32

/* ---- the server side, on the workers' threads ---- */

struct shared {
    pthread_t main_thread;
    atomic_int setups, teardowns, live, echoed;
    atomic_int index_mask;
    atomic_bool setup_on_main;    /* a setup ran on the test's thread */
    atomic_bool teardown_mismatch; /* wrong thread, index or state */
    int fail_index;               /* setup fails for this worker (-1: none) */
    bool no_factory;
    struct wire_workers *_Atomic workers; /* for the in-worker stop */
};

struct wstate {                   /* one worker's own state */
    struct shared *sh;
    unsigned index;
    pthread_t thread;
    int conns;                    /* touched by this worker only */
};

struct echo {
    struct wire_protocol base;
    struct wstate *ws;
};

static void
echo_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct echo *e = (struct echo *)p;
    struct shared *sh = e->ws->sh;
    if (len >= 4 && memcmp(data, "quit", 4) == 0) {
        /* Any thread may stop the workers, a worker's own included. */
        wire_workers_stop(atomic_load(&sh->workers), 5000);
        return;
    }
    wire_transport_write(p->transport, data, len);
    atomic_fetch_add(&sh->echoed, 1);
}

static void
echo_destroy(struct wire_protocol *p)
{
    struct echo *e = (struct echo *)p;
    atomic_fetch_sub(&e->ws->sh->live, 1);
    free(e);
}

static const struct wire_protocol_ops echo_ops = {
    .data_received = echo_data,
    .destroy = echo_destroy,
};

static struct wire_protocol *
echo_new(void *arg)
{
    struct wstate *ws = arg;
    struct echo *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    wire_protocol_init(&e->base, &echo_ops);
    e->ws = ws;
    ws->conns++;
    atomic_fetch_add(&ws->sh->live, 1);
    return &e->base;
}

static int
setup(void *arg, struct wire_loop *loop, unsigned index,
      struct wire_worker_service *svc, struct wire_error *err)
{
    struct shared *sh = arg;
    (void)loop;
    atomic_fetch_add(&sh->setups, 1);
    if (pthread_equal(pthread_self(), sh->main_thread))
        atomic_store(&sh->setup_on_main, true);
    if ((int)index == sh->fail_index)
        return wire_error_set(err, WIRE_EPROTO, "no state for worker %u", index);
    if (sh->no_factory)
        return 0;
    struct wstate *ws = calloc(1, sizeof(*ws));
    if (ws == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    ws->sh = sh;
    ws->index = index;
    ws->thread = pthread_self();
    atomic_fetch_or(&sh->index_mask, 1 << index);
    svc->factory = echo_new;
    svc->factory_arg = ws;
    return 0;
}

static void
teardown(void *arg, struct wire_loop *loop, unsigned index, void *factory_arg)
{
    struct shared *sh = arg;
    struct wstate *ws = factory_arg;
    (void)loop;
    atomic_fetch_add(&sh->teardowns, 1);
    if (ws == NULL)
        return; /* the no-factory case: nothing was made */
    if (ws->index != index || !pthread_equal(ws->thread, pthread_self()))
        atomic_store(&sh->teardown_mismatch, true);
    free(ws);
}

static void
shared_init(struct shared *sh)
{
    memset(sh, 0, sizeof(*sh));
    sh->main_thread = pthread_self();
    sh->fail_index = -1;
}

static struct wire_workers_options
options(struct shared *sh, int count)
{
    struct wire_workers_options o = {
        .count = count, .setup = setup, .teardown = teardown, .arg = sh};
    return o;
}

/* ---- the clients, on the test's thread ---- */

struct cctx {
    int made, verified, eofs, lost, clean, destroyed, connect_failed;
    int lost_code;
    bool close_after_echo;
    int want;
    struct wire_transport *ts[MAXCONN];
};

struct cli {
    struct wire_protocol base;
    struct cctx *ctx;
    int n;
    char msg[64];
    size_t len;
    char got[128];
    size_t got_len;
};

static void
cli_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct cli *c = (struct cli *)p;
    c->ctx->made++;
    c->ctx->ts[c->n] = t;
    ck_assert_int_eq(wire_transport_write(t, c->msg, c->len), 0);
}

static void
cli_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct cli *c = (struct cli *)p;
    ck_assert_uint_le(c->got_len + len, sizeof(c->got));
    memcpy(c->got + c->got_len, data, len);
    c->got_len += len;
    if (c->got_len < c->len)
        return;
    ck_assert_uint_eq(c->got_len, c->len);
    ck_assert(memcmp(c->got, c->msg, c->len) == 0);
    c->ctx->verified++;
    if (c->ctx->close_after_echo)
        wire_transport_close(p->transport);
}

static bool
cli_eof(struct wire_protocol *p)
{
    struct cli *c = (struct cli *)p;
    c->ctx->eofs++;
    return false;
}

static void
cli_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct cli *c = (struct cli *)p;
    c->ctx->lost++;
    c->ctx->ts[c->n] = NULL;
    if (err == NULL)
        c->ctx->clean++;
    else
        c->ctx->lost_code = err->code;
}

static void
cli_destroy(struct wire_protocol *p)
{
    struct cli *c = (struct cli *)p;
    c->ctx->destroyed++;
    free(c);
}

static const struct wire_protocol_ops cli_ops = {
    .connection_made = cli_made,
    .data_received = cli_data,
    .eof_received = cli_eof,
    .connection_lost = cli_lost,
    .destroy = cli_destroy,
};

static void
cli_connected(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct cctx *ctx = arg;
    (void)t;
    if (err != NULL)
        ctx->connect_failed++;
}

/* Open `n` connections to `endpoint`, each sending its own message. */
static void
connect_n(struct wire_loop *loop, struct cctx *ctx, const char *endpoint, int n)
{
    for (int i = 0; i < n; i++) {
        struct cli *c = calloc(1, sizeof(*c));
        ck_assert_ptr_nonnull(c);
        wire_protocol_init(&c->base, &cli_ops);
        c->ctx = ctx;
        c->n = i;
        c->len = (size_t)snprintf(c->msg, sizeof(c->msg),
                                  "hello from client %d, %s", i,
                                  i % 2 ? "odd" : "even");
        struct wire_error err = {0};
        int rc = wire_connect(loop, endpoint, &c->base, NULL, cli_connected,
                              ctx, &err);
        ck_assert_msg(rc == 0, "connect %s: %s", endpoint, err.message);
        wire_error_clear(&err);
    }
}

static bool
all_verified(void *arg)
{
    struct cctx *c = arg;
    return c->verified >= c->want || c->connect_failed > 0;
}

static bool
all_lost(void *arg)
{
    struct cctx *c = arg;
    return c->lost >= c->want;
}

/* File-scope, so that a test that fails half-way (under CK_FORK=no) leaves
 * the workers and the clients pointing at live memory; the teardown ends
 * what such a test left behind. */
static struct wire_loop *loop;
static struct shared sh;
static struct cctx ctx;
static struct wire_workers *running;

/* Deadlines only bound failures (valgrind runs the threads one at a
 * time: unit_scale_ms stretches them). */
#define deadline_ms() unit_scale_ms(10000)

static void
w_setup(void)
{
    unit_setup();
    loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    shared_init(&sh);
    memset(&ctx, 0, sizeof(ctx));
    running = NULL;
}

static void
w_teardown(void)
{
    wire_workers_free(running);
    running = NULL;
    for (int i = 0; i < MAXCONN; i++)
        if (ctx.ts[i] != NULL)
            wire_transport_abort(ctx.ts[i]);
    while (wire_loop_run_once(loop, false) == 0)
        ;
    wire_loop_free(loop);
    loop = NULL;
}

/* Free the workers a test started. */
static void
workers_free(struct wire_workers *w)
{
    wire_workers_free(w);
    running = NULL;
}

/* The workers' port, from their address. */
static const char *
port_of(const struct wire_workers *w)
{
    const char *a = wire_workers_address(w);
    const char *p = strrchr(a, ':');
    ck_assert_ptr_nonnull(p);
    ck_assert_int_ne(atoi(p + 1), 0);
    return p + 1;
}

/* Start 2 workers on tcp://127.0.0.1:0 and open `n` echo-verified
 * connections to them. */
static struct wire_workers *
start_and_connect(int n)
{
    struct wire_workers_options o = options(&sh, 2);
    struct wire_workers *w = NULL;
    struct wire_error err = {0};
    int rc = wire_workers_start("tcp://127.0.0.1:0", &o, &w, &err);
    ck_assert_msg(rc == 0, "start: %s", err.message);
    running = w;
    atomic_store(&sh.workers, w);
    ck_assert_uint_eq(wire_workers_count(w), 2);
    char ep[64];
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%s", port_of(w));
    ctx.want = n;
    connect_n(loop, &ctx, ep, n);
    ck_assert(unit_run_until(loop, all_verified, &ctx, deadline_ms()));
    ck_assert_int_eq(ctx.connect_failed, 0);
    ck_assert_int_eq(ctx.verified, n);
    return w;
}

/* ---- core ---- */

START_TEST(spread_over_workers)
{
    ctx.close_after_echo = true;
    struct wire_workers *w = start_and_connect(MAXCONN);
    /* The setup ran once per worker, each on its own thread. */
    ck_assert_int_eq(atomic_load(&sh.setups), 2);
    ck_assert_int_eq(atomic_load(&sh.index_mask), 3);
    ck_assert(!atomic_load(&sh.setup_on_main));
    ck_assert(unit_run_until(loop, all_lost, &ctx, deadline_ms()));
    ck_assert_int_eq(ctx.clean, MAXCONN);
    /* The kernel spread them (SO_REUSEPORT hashes each connection: the
     * chance that 32 land on one of two is 2^-31). */
    uint64_t a0 = wire_workers_accepted(w, 0), a1 = wire_workers_accepted(w, 1);
    ck_assert_uint_eq(a0 + a1, MAXCONN);
    ck_assert_uint_ge(a0, 1);
    ck_assert_uint_ge(a1, 1);
    ck_assert_uint_eq(wire_workers_accepted(w, 2), 0); /* out of range */
    ck_assert_int_eq(atomic_load(&sh.echoed), MAXCONN);
    wire_workers_stop(w, 1000);
    ck_assert_int_eq(wire_workers_wait(w, NULL), 0);
    ck_assert_int_eq(atomic_load(&sh.teardowns), 2);
    ck_assert(!atomic_load(&sh.teardown_mismatch));
    ck_assert_int_eq(atomic_load(&sh.live), 0);
    /* The counters stay readable after the join. */
    ck_assert_uint_eq(wire_workers_accepted(w, 0), a0);
    workers_free(w);
    ck_assert_int_eq(ctx.destroyed, MAXCONN);
}
END_TEST

START_TEST(stop_closes_open_connections)
{
    struct wire_workers *w = start_and_connect(8);
    ck_assert_int_eq(ctx.lost, 0);
    wire_workers_stop(w, 5000);
    wire_workers_stop(w, 0); /* only the first call counts */
    /* Each connection is closed gracefully: the client sees EOF, then a
     * clean loss. */
    ck_assert(unit_run_until(loop, all_lost, &ctx, deadline_ms()));
    ck_assert_int_eq(ctx.eofs, 8);
    ck_assert_int_eq(ctx.clean, 8);
    ck_assert_int_eq(wire_workers_wait(w, NULL), 0);
    ck_assert_int_eq(wire_workers_wait(w, NULL), 0); /* again: at once */
    ck_assert_int_eq(atomic_load(&sh.live), 0);
    ck_assert_int_eq(atomic_load(&sh.teardowns), 2);
    workers_free(w);
}
END_TEST

START_TEST(stop_at_once)
{
    /* Timeout 0: what cannot be closed at once is aborted; these have
     * nothing queued, so every one still ends (and cleanly). */
    struct wire_workers *w = start_and_connect(8);
    wire_workers_stop(w, 0);
    ck_assert(unit_run_until(loop, all_lost, &ctx, deadline_ms()));
    ck_assert_int_eq(ctx.lost, 8);
    ck_assert_int_eq(wire_workers_wait(w, NULL), 0);
    ck_assert_int_eq(atomic_load(&sh.live), 0);
    workers_free(w);
}
END_TEST

START_TEST(free_with_connections_open)
{
    /* wire_workers_free without a stop: it stops them as a stop with
     * timeout 0 does, and returns once every worker has ended. */
    struct wire_workers *w = start_and_connect(4);
    workers_free(w);
    ck_assert_int_eq(atomic_load(&sh.live), 0);
    ck_assert_int_eq(atomic_load(&sh.teardowns), 2);
    ck_assert(unit_run_until(loop, all_lost, &ctx, deadline_ms()));
    ck_assert_int_eq(ctx.lost, 4);
}
END_TEST

START_TEST(stop_from_a_worker)
{
    struct wire_workers *w = start_and_connect(4);
    /* One client asks its worker to stop every worker. */
    ck_assert_int_eq(wire_transport_write(ctx.ts[0], "quit", 4), 0);
    ck_assert(unit_run_until(loop, all_lost, &ctx, deadline_ms()));
    ck_assert_int_eq(ctx.clean, 4);
    ck_assert_int_eq(wire_workers_wait(w, NULL), 0);
    ck_assert_int_eq(atomic_load(&sh.teardowns), 2);
    workers_free(w);
}
END_TEST

START_TEST(count_zero_is_one_per_cpu)
{
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    struct wire_workers_options o = options(&sh, 0);
    struct wire_workers *w = NULL;
    struct wire_error err = {0};
    int rc = wire_workers_start("tcp://127.0.0.1:0", &o, &w, &err);
    ck_assert_msg(rc == 0, "start: %s", err.message);
    running = w;
    ck_assert_uint_eq(wire_workers_count(w), (unsigned)CPU_COUNT(&set));
    ck_assert_int_eq(atomic_load(&sh.setups), CPU_COUNT(&set));
    ck_assert(strncmp(wire_workers_address(w), "tcp://127.0.0.1:", 16) == 0);
    (void)port_of(w);
    workers_free(w);
    ck_assert_int_eq(atomic_load(&sh.teardowns), CPU_COUNT(&set));
}
END_TEST

START_TEST(tls_workers)
{
    struct tls_certs certs;
    memset(&certs, 0, sizeof(certs));
    ck_assert_int_eq(tls_certs_make(&certs), 0);
    ctx.close_after_echo = true;
    char ep[1024];
    snprintf(ep, sizeof(ep), "tls://127.0.0.1:0?cert=%s&key=%s",
             certs.server_cert, certs.server_key);
    /* Both workers make their TLS config at once, on their threads. */
    struct wire_workers_options o = options(&sh, 2);
    struct wire_workers *w = NULL;
    struct wire_error err = {0};
    int rc = wire_workers_start(ep, &o, &w, &err);
    ck_assert_msg(rc == 0, "start: %s", err.message);
    running = w;
    snprintf(ep, sizeof(ep), "tls://127.0.0.1:%s?ca=%s", port_of(w), certs.ca);
    ctx.want = 8;
    connect_n(loop, &ctx, ep, 8);
    ck_assert(unit_run_until(loop, all_verified, &ctx, deadline_ms()));
    ck_assert_int_eq(ctx.verified, 8);
    ck_assert(unit_run_until(loop, all_lost, &ctx, deadline_ms()));
    ck_assert_uint_eq(wire_workers_accepted(w, 0) + wire_workers_accepted(w, 1), 8);
    wire_workers_stop(w, 1000);
    ck_assert_int_eq(wire_workers_wait(w, NULL), 0);
    workers_free(w);
    ck_assert_int_eq(atomic_load(&sh.live), 0);
    tls_certs_remove(&certs);
}
END_TEST

/* ---- errors ---- */

START_TEST(bad_arguments)
{
    struct wire_workers *w = NULL;
    struct wire_error err = {0};
    struct wire_workers_options o = options(&sh, -1);
    ck_assert_int_eq(wire_workers_start("tcp://127.0.0.1:0", &o, &w, &err),
                     WIRE_EINVAL);
    ck_assert_contains(err.message, "-1 workers");
    o.count = WIRE_WORKERS_MAX + 1;
    ck_assert_int_eq(wire_workers_start("tcp://127.0.0.1:0", &o, &w, &err),
                     WIRE_EINVAL);
    ck_assert_contains(err.message, "the count must be");
    o.count = 2;
    ck_assert_int_eq(wire_workers_start(NULL, &o, &w, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "required");
    ck_assert_int_eq(wire_workers_start("tcp://127.0.0.1:0", NULL, &w, &err),
                     WIRE_EINVAL);
    ck_assert_int_eq(wire_workers_start("tcp://127.0.0.1:0", &o, NULL, &err),
                     WIRE_EINVAL);
    o.setup = NULL;
    ck_assert_int_eq(wire_workers_start("tcp://127.0.0.1:0", &o, &w, NULL),
                     WIRE_EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(atomic_load(&sh.setups), 0);
    wire_workers_free(NULL);
    wire_error_clear(&err);
}
END_TEST

START_TEST(port_held_without_reuseport)
{
    /* A plain listening socket (no SO_REUSEPORT) holds the port. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sin);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    char ep[64];
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%u", ntohs(sin.sin_port));

    struct wire_workers_options o = options(&sh, 2);
    struct wire_workers *w = NULL;
    struct wire_error err = {0};
    ck_assert_int_eq(wire_workers_start(ep, &o, &w, &err), -EADDRINUSE);
    ck_assert_contains(err.message, "worker 0 of 2");
    ck_assert_contains(err.message, "Address already in use");
    ck_assert_ptr_null(w);
    /* Worker 0 was set up, failed to listen, and was torn down; worker 1
     * never started. */
    ck_assert_int_eq(atomic_load(&sh.setups), 1);
    ck_assert_int_eq(atomic_load(&sh.teardowns), 1);
    wire_error_clear(&err);
    close(fd);
}
END_TEST

START_TEST(setup_fails_in_second_worker)
{
    sh.fail_index = 1;
    struct wire_workers_options o = options(&sh, 2);
    struct wire_workers *w = NULL;
    struct wire_error err = {0};
    ck_assert_int_eq(wire_workers_start("tcp://127.0.0.1:0", &o, &w, &err),
                     WIRE_EPROTO);
    ck_assert_str_eq(err.message, "worker 1 of 2: no state for worker 1");
    ck_assert_ptr_null(w);
    /* Worker 0 had started: it was stopped and torn down. */
    ck_assert_int_eq(atomic_load(&sh.setups), 2);
    ck_assert_int_eq(atomic_load(&sh.teardowns), 1);
    ck_assert(!atomic_load(&sh.teardown_mismatch));
    wire_error_clear(&err);
}
END_TEST

START_TEST(setup_without_factory)
{
    sh.no_factory = true;
    struct wire_workers_options o = options(&sh, 1);
    struct wire_workers *w = NULL;
    struct wire_error err = {0};
    ck_assert_int_eq(wire_workers_start("tcp://127.0.0.1:0", &o, &w, &err),
                     WIRE_EINVAL);
    ck_assert_str_eq(err.message, "worker 0 of 1: setup gave no factory");
    ck_assert_int_eq(atomic_load(&sh.teardowns), 1);
    wire_error_clear(&err);
}
END_TEST

static struct wire_protocol *
never_called(void *arg)
{
    (void)arg;
    ck_abort_msg("factory called");
    return NULL;
}

START_TEST(schemes_without_reuseport)
{
    struct wire_workers_options o = options(&sh, 2);
    struct wire_workers *w = NULL;
    struct wire_error err = {0};
    ck_assert_int_eq(wire_workers_start("unix:@wire-workers-test", &o, &w, &err),
                     WIRE_ENOTSUP);
    ck_assert_contains(err.message, "worker 0 of 2");
    ck_assert_contains(err.message, "reuseport is not supported for unix");
    ck_assert_int_eq(wire_workers_start("mem:workers", &o, &w, &err),
                     WIRE_ENOTSUP);
    ck_assert_contains(err.message, "reuseport is not supported for mem:");
    ck_assert_int_eq(wire_workers_start("stdio:", &o, &w, &err), WIRE_ENOTSUP);
    ck_assert_contains(err.message, "cannot listen");
    ck_assert_ptr_null(w);
    ck_assert_int_eq(atomic_load(&sh.teardowns), atomic_load(&sh.setups));
    /* The endpoint parameter says the same to wire_listen; reuseport=0 is
     * accepted. */
    struct wire_server *s = NULL;
    ck_assert_int_eq(wire_listen(loop, "unix:@wire-workers-test?reuseport=1",
                                 never_called, NULL, NULL, &s, &err),
                     WIRE_ENOTSUP);
    ck_assert_contains(err.message, "reuseport");
    ck_assert_ptr_null(s);
    ck_assert_int_eq(wire_listen(loop, "unix:@wire-workers-test?reuseport=0",
                                 never_called, NULL, NULL, &s, &err), 0);
    wire_server_free(s);
    wire_error_clear(&err);
}
END_TEST

Suite *
workers_suite(void)
{
    Suite *s = suite_create("workers");
    TCase *tc = unit_tcase(s, "core");
    tcase_add_checked_fixture(tc, w_setup, w_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, spread_over_workers);
    tcase_add_test(tc, stop_closes_open_connections);
    tcase_add_test(tc, stop_at_once);
    tcase_add_test(tc, free_with_connections_open);
    tcase_add_test(tc, stop_from_a_worker);
    tcase_add_test(tc, count_zero_is_one_per_cpu);
    tcase_add_test(tc, tls_workers);
    tc = unit_tcase(s, "errors");
    tcase_add_checked_fixture(tc, w_setup, w_teardown);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, port_held_without_reuseport);
    tcase_add_test(tc, setup_fails_in_second_worker);
    tcase_add_test(tc, setup_without_factory);
    tcase_add_test(tc, schemes_without_reuseport);
    return s;
}
