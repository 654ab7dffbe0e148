/*
 * Servers: connection_count and accepted_total, stop/resume accepting,
 * graceful shutdown, wire_server_free with connections open (each still
 * gets one connection_lost, from the loop), a factory that refuses
 * connections, and the listen errors: a mem: name or a TCP port already
 * taken (-EADDRINUSE, with a message naming the address), and Unix socket
 * files (a stale one is replaced, a live one or a plain file is not).
 * Sockets: the loop's socket poller (a connection closed by another one
 * of the same readiness batch, a socket epoll refuses, paused sockets
 * keep no loop running).  Shutdown on SIGINT/SIGTERM
 * (wire_server_shutdown_on_signals): a raised signal shuts down with the
 * grace given, done once; a server freed or shut down without a signal
 * leaves no watcher; bad arguments.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAXC 8

struct sctx {
    struct rec_log logs[MAXC]; /* one per accepted connection */
    int n;                      /* connections the factory made */
    int factory_calls;
    bool refuse;
    bool layered;               /* each protocol under a trace layer */
    int want;                   /* for the predicates below */
};

static void
trace_nop(void *arg, const struct wire_trace_event *ev)
{
    (void)arg;
    (void)ev;
}

static struct wire_protocol *
factory(void *arg)
{
    struct sctx *c = arg;
    c->factory_calls++;
    if (c->refuse)
        return NULL;
    ck_assert_int_lt(c->n, MAXC);
    struct wire_protocol *p = rec_new(&c->logs[c->n++]);
    if (c->layered) {
        struct wire_trace_opts o = {.cb = trace_nop};
        p = wire_trace_layer_new(p, &o, NULL);
        ck_assert_ptr_nonnull(p);
    }
    return p;
}

static void
sctx_free(struct sctx *c)
{
    for (int i = 0; i < MAXC; i++)
        rec_log_free(&c->logs[i]);
}

static bool
made_n(void *arg)
{
    struct sctx *c = arg;
    int m = 0;
    for (int i = 0; i < MAXC; i++)
        m += c->logs[i].made;
    return m >= c->want;
}

static bool
lost_n(void *arg)
{
    struct sctx *c = arg;
    int m = 0;
    for (int i = 0; i < MAXC; i++)
        m += c->logs[i].lost;
    return m >= c->want;
}

static bool
has_in(void *arg)
{
    struct rec_log *l = arg;
    return strcmp(rec_in(l), (const char *)l->user) == 0;
}

struct conn_result {
    int calls;
    int code;
    char msg[256];
    volatile bool done;
};

static void
conn_cb(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct conn_result *r = arg;
    r->calls++;
    r->code = err != NULL ? err->code : 0;
    ck_assert((t == NULL) == (err != NULL));
    if (err != NULL)
        snprintf(r->msg, sizeof(r->msg), "%s", err->message);
    r->done = true;
}

static struct wire_loop *loop;
static const volatile bool never = false;

static void
srv_setup(void)
{
    unit_setup();
    loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
}

static void
srv_teardown(void)
{
    wire_loop_free(loop);
    loop = NULL;
}

/* Connect a client protocol logging into `log`. */
static void
dial(const char *ep, struct rec_log *log, struct conn_result *cr)
{
    struct wire_error err = {0};
    int rc = wire_connect(loop, ep, rec_new(log), NULL, conn_cb, cr, &err);
    ck_assert_msg(rc == 0, "connect %s: %s", ep, err.message);
    wire_error_clear(&err);
}

static struct wire_server *
listen_ok(const char *ep, struct sctx *c)
{
    struct wire_server *s = NULL;
    struct wire_error err = {0};
    int rc = wire_listen(loop, ep, factory, c, NULL, &s, &err);
    ck_assert_msg(rc == 0, "listen %s: %s", ep, err.message);
    ck_assert_ptr_nonnull(s);
    wire_error_clear(&err);
    return s;
}

/* Run until the loop has nothing left, then check nothing leaked. */
static void
drain_and_check(void)
{
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 10000), 1);
    ck_assert_int_eq(unit_live_protocols, 0);
}

/* ---- counts ---- */

static void
counts_on(const char *ep)
{
    struct sctx c = {0};
    struct rec_log cli[3] = {{0}};
    struct conn_result cr[3] = {{0}};
    struct wire_server *s = listen_ok(ep, &c);
    ck_assert_uint_eq(wire_server_connection_count(s), 0);
    ck_assert_uint_eq(wire_server_accepted_total(s), 0);
    for (int i = 0; i < 3; i++)
        dial(wire_server_address(s), &cli[i], &cr[i]);
    c.want = 3;
    ck_assert(unit_run_until(loop, made_n, &c, 5000));
    ck_assert_uint_eq(wire_server_connection_count(s), 3);
    ck_assert_uint_eq(wire_server_accepted_total(s), 3);

    /* One client leaves: the server side sees EOF, closes, is lost. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wire_loop_run_until(loop, &cr[i].done, 5000), 0);
    wire_transport_close(cli[0].t);
    c.want = 1;
    ck_assert(unit_run_until(loop, lost_n, &c, 5000));
    ck_assert_uint_eq(wire_server_connection_count(s), 2);
    ck_assert_uint_eq(wire_server_accepted_total(s), 3);

    /* Another connects: the total keeps counting. */
    struct rec_log late = {0};
    struct conn_result lcr = {0};
    dial(wire_server_address(s), &late, &lcr);
    c.want = 4;
    ck_assert(unit_run_until(loop, made_n, &c, 5000));
    ck_assert_uint_eq(wire_server_connection_count(s), 3);
    ck_assert_uint_eq(wire_server_accepted_total(s), 4);

    wire_server_free(s);
    drain_and_check();
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(c.logs[i].lost, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(cli[i].lost, 1);
    ck_assert_int_eq(late.lost, 1);
    for (int i = 0; i < 3; i++)
        rec_log_free(&cli[i]);
    rec_log_free(&late);
    sctx_free(&c);
}

START_TEST(test_counts_mem)
{
    counts_on("mem:counts");
}
END_TEST

START_TEST(test_counts_tcp)
{
    counts_on("tcp://127.0.0.1:0");
}
END_TEST

/* ---- stop / resume accepting ---- */

START_TEST(test_stop_resume_accepting_tcp)
{
    struct sctx c = {0};
    struct wire_server *s = listen_ok("tcp://127.0.0.1:0", &c);
    struct rec_log a = {0}, b = {0};
    struct conn_result ca = {0}, cb = {0};
    dial(wire_server_address(s), &a, &ca);
    c.want = 1;
    ck_assert(unit_run_until(loop, made_n, &c, 5000));
    wire_server_stop_accepting(s);
    /* The kernel still completes the handshake (backlog), but the server
     * does not accept: no protocol is made within a bounded wait. */
    dial(wire_server_address(s), &b, &cb);
    ck_assert_int_eq(wire_loop_run_until(loop, &cb.done, 5000), 0);
    ck_assert_int_eq(cb.code, 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 50), WIRE_ETIMEDOUT);
    ck_assert_int_eq(c.factory_calls, 1);
    ck_assert_uint_eq(wire_server_accepted_total(s), 1);
    /* Existing connections are not touched. */
    ck_assert_int_eq(wire_transport_write(a.t, "still", 5), 0);
    c.logs[0].user = "still";
    ck_assert(unit_run_until(loop, has_in, &c.logs[0], 5000));
    wire_server_resume_accepting(s);
    c.want = 2;
    ck_assert(unit_run_until(loop, made_n, &c, 5000));
    ck_assert_uint_eq(wire_server_accepted_total(s), 2);
    ck_assert_uint_eq(wire_server_connection_count(s), 2);
    wire_server_free(s);
    drain_and_check();
    rec_log_free(&a);
    rec_log_free(&b);
    sctx_free(&c);
}
END_TEST

START_TEST(test_stop_resume_accepting_mem)
{
    struct sctx c = {0};
    struct wire_server *s = listen_ok("mem:pausable", &c);
    struct rec_log a = {0}, b = {0};
    struct conn_result ca = {0}, cb = {0};
    wire_server_stop_accepting(s);
    dial("mem:pausable", &a, &ca);
    ck_assert_int_eq(wire_loop_run_until(loop, &ca.done, 5000), 0);
    /* Nobody accepts on a mem: name that stopped: refused, once, and the
     * protocol was destroyed without connection_made. */
    ck_assert_int_eq(ca.calls, 1);
    ck_assert_int_eq(ca.code, -ECONNREFUSED);
    ck_assert_contains(ca.msg, "mem:pausable");
    ck_assert_int_eq(a.made, 0);
    ck_assert_int_eq(a.destroyed, 1);
    wire_server_resume_accepting(s);
    dial("mem:pausable", &b, &cb);
    c.want = 1;
    ck_assert(unit_run_until(loop, made_n, &c, 5000));
    ck_assert_int_eq(cb.code, 0);
    ck_assert_uint_eq(wire_server_accepted_total(s), 1);
    wire_server_free(s);
    drain_and_check();
    rec_log_free(&a);
    rec_log_free(&b);
    sctx_free(&c);
}
END_TEST

START_TEST(test_connect_mem_nobody_listens)
{
    struct rec_log a = {0};
    struct conn_result ca = {0};
    dial("mem:nobody", &a, &ca);
    ck_assert_int_eq(ca.calls, 0); /* never inside wire_connect */
    drain_and_check();
    ck_assert_int_eq(ca.calls, 1);
    ck_assert_int_eq(ca.code, -ECONNREFUSED);
    ck_assert_contains(ca.msg, "mem:nobody");
    ck_assert_int_eq(a.made, 0);
    ck_assert_int_eq(a.destroyed, 1);
    rec_log_free(&a);
}
END_TEST

/* ---- free and shutdown with connections open ---- */

static void
free_with_open_connections(const char *ep, int client_code)
{
    struct sctx c = {0};
    struct rec_log cli[2] = {{0}};
    struct conn_result cr[2] = {{0}};
    struct wire_server *s = listen_ok(ep, &c);
    dial(wire_server_address(s), &cli[0], &cr[0]);
    dial(wire_server_address(s), &cli[1], &cr[1]);
    c.want = 2;
    ck_assert(unit_run_until(loop, made_n, &c, 5000));
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(wire_loop_run_until(loop, &cr[i].done, 5000), 0);
    wire_server_free(s);
    /* Not inside wire_server_free: from the loop, once each. */
    ck_assert_int_eq(c.logs[0].lost + c.logs[1].lost, 0);
    drain_and_check();
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(c.logs[i].lost, 1);
        ck_assert_int_eq(c.logs[i].lost_code, WIRE_EABORTED);
        ck_assert_int_eq(c.logs[i].destroyed, 1);
        ck_assert_int_eq(cli[i].lost, 1);
        ck_assert_int_eq(cli[i].lost_code, client_code);
        rec_log_free(&cli[i]);
    }
    sctx_free(&c);
}

START_TEST(test_free_with_open_connections_tcp)
{
    free_with_open_connections("tcp://127.0.0.1:0", -ECONNRESET);
}
END_TEST

START_TEST(test_free_with_open_connections_mem)
{
    free_with_open_connections("mem:nursery", -ECONNRESET);
}
END_TEST

static void
done_cb(void *arg)
{
    (*(int *)arg)++;
}

/* A TCP server with two connections, the first with "goodbye" queued
 * on its server side, for the graceful shutdowns. */
struct two_conns {
    struct sctx c;
    struct rec_log cli[2];
    struct conn_result cr[2];
    char addr[128];
    struct wire_server *s;
};

static void
two_conns_open(struct two_conns *tc)
{
    memset(tc, 0, sizeof(*tc));
    tc->s = listen_ok("tcp://127.0.0.1:0", &tc->c);
    snprintf(tc->addr, sizeof(tc->addr), "%s", wire_server_address(tc->s));
    for (int i = 0; i < 2; i++)
        dial(tc->addr, &tc->cli[i], &tc->cr[i]);
    tc->c.want = 2;
    ck_assert(unit_run_until(loop, made_n, &tc->c, 5000));
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(wire_loop_run_until(loop, &tc->cr[i].done, 5000), 0);
    ck_assert_int_eq(wire_transport_write(tc->c.logs[0].t, "goodbye", 7), 0);
}

/* Once a graceful shutdown has begun: the listener is closed, so a new
 * connection is refused; when the loop has run out, both connections
 * were closed, not aborted, and the first client got `first_got` (what
 * was queued is flushed before the close).  Then frees it all. */
static void
two_conns_check_closed_and_free(struct two_conns *tc, const char *first_got)
{
    struct rec_log late = {0};
    struct conn_result lcr = {0};
    dial(tc->addr, &late, &lcr);
    drain_and_check();
    ck_assert_int_eq(lcr.code, -ECONNREFUSED);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(tc->c.logs[i].lost, 1);
        ck_assert(tc->c.logs[i].lost_null); /* closed, not aborted */
        ck_assert_int_eq(tc->cli[i].eof, 1);
        ck_assert_int_eq(tc->cli[i].lost, 1);
    }
    ck_assert_str_eq(rec_in(&tc->cli[0]), first_got);
    ck_assert_uint_eq(wire_server_connection_count(tc->s), 0);
    ck_assert_uint_eq(wire_server_accepted_total(tc->s), 2);
    wire_server_free(tc->s);
    for (int i = 0; i < 2; i++)
        rec_log_free(&tc->cli[i]);
    rec_log_free(&late);
    sctx_free(&tc->c);
}

START_TEST(test_shutdown_graceful)
{
    struct two_conns tc;
    two_conns_open(&tc);
    int done = 0;
    wire_server_shutdown(tc.s, 5000, done_cb, &done);
    wire_server_shutdown(tc.s, 0, done_cb, &done); /* the first call holds */
    ck_assert_int_eq(done, 0);
    two_conns_check_closed_and_free(&tc, "goodbye");
    ck_assert_int_eq(done, 1);
}
END_TEST

START_TEST(test_shutdown_flushes_layers)
{
    /* The application's protocol sits under a layer, and most of what it
     * wrote is still queued in the layer (the client is not reading, the
     * pair's buffer is small).  A graceful shutdown closes each stack at
     * its top, so all of it goes out before the close reaches the bottom
     * transport. */
    struct sctx c = {.layered = true};
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    struct wire_server *s = listen_ok("mem:layered?bufsize=64", &c);
    dial("mem:layered", &cli, &cr);
    c.want = 1;
    ck_assert(unit_run_until(loop, made_n, &c, 5000));
    ck_assert_int_eq(wire_loop_run_until(loop, &cr.done, 5000), 0);
    wire_transport_pause_reading(cli.t);
    static char big[256 * 1024]; /* well over the default high mark */
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    ck_assert_int_eq(wire_transport_write(c.logs[0].t, big, sizeof(big)), 0);
    /* Until nothing moves: the pair's buffer is full, the rest queued. */
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    ck_assert_uint_gt(wire_transport_get_write_buffer_size(c.logs[0].t),
                      64 * 1024);
    int done = 0;
    wire_server_shutdown(s, 10000, done_cb, &done);
    wire_transport_resume_reading(cli.t);
    drain_and_check();
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(c.logs[0].lost, 1);
    ck_assert(c.logs[0].lost_null); /* closed, not aborted */
    ck_assert_int_eq(cli.eof, 1);
    ck_assert_uint_eq(cli.in_len, sizeof(big));
    ck_assert(memcmp(rec_in(&cli), big, sizeof(big)) == 0);
    wire_server_free(s);
    rec_log_free(&cli);
    sctx_free(&c);
}
END_TEST

#define STUCK_BYTES 100

/* A server on mem:NAME with one connection whose close cannot finish:
 * its client stopped reading, and the server has STUCK_BYTES queued,
 * more than the pair buffers. */
static struct wire_server *
stuck_connection(const char *name, struct sctx *c, struct rec_log *cli,
                 struct conn_result *cr)
{
    char ep[64];
    snprintf(ep, sizeof(ep), "mem:%s?bufsize=16", name);
    struct wire_server *s = listen_ok(ep, c);
    snprintf(ep, sizeof(ep), "mem:%s", name);
    dial(ep, cli, cr);
    c->want = 1;
    ck_assert(unit_run_until(loop, made_n, c, 5000));
    ck_assert_int_eq(wire_loop_run_until(loop, &cr->done, 5000), 0);
    wire_transport_pause_reading(cli->t);
    char big[STUCK_BYTES];
    memset(big, 'z', sizeof(big));
    ck_assert_int_eq(wire_transport_write(c->logs[0].t, big, sizeof(big)), 0);
    ck_assert_uint_gt(wire_transport_get_write_buffer_size(c->logs[0].t), 0);
    return s;
}

START_TEST(test_shutdown_deadline_aborts)
{
    /* A connection whose close cannot finish is aborted at the deadline:
     * at once for 0 (_i == 0), after 20 ms otherwise. */
    uint64_t timeout = _i == 0 ? 0 : 20;
    struct sctx c = {0};
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    struct wire_server *s = stuck_connection("deadline", &c, &cli, &cr);
    int done = 0;
    uint64_t t0 = wire_loop_now(loop);
    wire_server_shutdown(s, timeout, done_cb, &done);
    ck_assert_int_eq(c.logs[0].lost, 0);
    drain_and_check();
    ck_assert_int_eq(done, 1);
    ck_assert_uint_ge(wire_loop_now(loop) - t0 + UNIT_TIMER_SLACK_MS, timeout);
    ck_assert_int_eq(c.logs[0].lost, 1);
    ck_assert_int_eq(c.logs[0].lost_code, WIRE_EABORTED);
    ck_assert_int_eq(cli.lost, 1);
    ck_assert_int_eq(cli.lost_code, -ECONNRESET);
    wire_server_free(s);
    rec_log_free(&cli);
    sctx_free(&c);
}
END_TEST

/* ---- shutdown on SIGINT / SIGTERM ---- */

struct sigctx {
    int signals;               /* on_signal calls */
    int signo;                 /* the last one's number */
    int done;                  /* done calls */
    int done_at_signal;        /* done calls when on_signal ran */
    struct sctx *c;            /* with last_words: write them on conn 0 */
    const char *last_words;
    struct wire_server *free_me; /* on_signal frees it */
    volatile bool signal_flag, done_flag;
};

static void
sig_hook(void *arg, int signo)
{
    struct sigctx *x = arg;
    x->signals++;
    x->signo = signo;
    x->done_at_signal = x->done;
    x->signal_flag = true;
    /* Still open: the connections are closed after this returns. */
    if (x->last_words != NULL)
        ck_assert_int_eq(wire_transport_write(x->c->logs[0].t, x->last_words,
                                              strlen(x->last_words)), 0);
    if (x->free_me != NULL)
        wire_server_free(x->free_me);
}

static void
sig_done(void *arg)
{
    struct sigctx *x = arg;
    x->done++;
    x->done_flag = true;
}

static void
raise_soon(void *arg)
{
    ck_assert_int_eq(raise(*(const int *)arg), 0);
}

/* Raise `*signo` from inside a loop callback. */
static void
raise_from_loop(const int *signo)
{
    ck_assert_int_eq(wire_loop_call_soon(loop, raise_soon, (void *)signo), 0);
}

typedef void (*handler_fn)(int);

/* What the process does on `signo` now (a watch must leave it as it was). */
static handler_fn
disposition(int signo)
{
    struct sigaction sa;
    ck_assert_int_eq(sigaction(signo, NULL, &sa), 0);
    return sa.sa_handler;
}

START_TEST(test_shutdown_on_sigterm)
{
    /* SIGTERM, raised inside a loop callback, shuts the server down:
     * on_signal first (what it writes still goes out), then every
     * connection is closed with what it queued flushed, done runs once,
     * the listener is gone, and the watchers with it: the loop runs out
     * of work and both signals have their old disposition back. */
    struct two_conns tc;
    two_conns_open(&tc);
    handler_fn old_int = disposition(SIGINT), old_term = disposition(SIGTERM);
    struct sigctx x = {.c = &tc.c, .last_words = ", bye"};
    struct wire_error err = {0};
    ck_assert_int_eq(wire_server_shutdown_on_signals(tc.s, 5000, sig_hook,
                                                     sig_done, &x, &err), 0);
    ck_assert_int_eq(err.code, 0);
    ck_assert(disposition(SIGTERM) != old_term); /* watched now */
    static const int term = SIGTERM;
    raise_from_loop(&term);
    ck_assert_int_eq(wire_loop_run_until(loop, &x.done_flag, 5000), 0);
    ck_assert_int_eq(x.signals, 1);
    ck_assert_int_eq(x.signo, SIGTERM);
    ck_assert_int_eq(x.done_at_signal, 0);
    ck_assert(disposition(SIGINT) == old_int);
    ck_assert(disposition(SIGTERM) == old_term);
    two_conns_check_closed_and_free(&tc, "goodbye, bye");
    ck_assert_int_eq(x.done, 1);
    ck_assert_int_eq(x.signals, 1);
}
END_TEST

START_TEST(test_shutdown_on_signal_grace)
{
    /* A connection whose close cannot finish yet gets the grace given:
     * with 10 s (_i == 0) it is still open after the signal, and once
     * the client reads again everything arrives and it closes cleanly;
     * with 20 ms (_i == 1) it is aborted, not before. */
    uint64_t grace = _i == 0 ? 10000 : 20;
    struct sctx c = {0};
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    struct wire_server *s = stuck_connection("grace", &c, &cli, &cr);
    struct sigctx x = {0};
    ck_assert_int_eq(wire_server_shutdown_on_signals(s, grace, NULL, sig_done,
                                                     &x, NULL), 0);
    static const int sigint = SIGINT;
    raise_from_loop(&sigint);
    uint64_t t0 = wire_loop_now(loop);
    if (_i == 0) {
        /* Driven to a deadline well inside the grace: still open. */
        ck_assert_int_eq(wire_loop_run_until(loop, &never, 50),
                         WIRE_ETIMEDOUT);
        ck_assert_int_eq(c.logs[0].lost, 0);
        ck_assert_int_eq(x.done, 0);
        ck_assert_uint_eq(wire_server_connection_count(s), 1);
        wire_transport_resume_reading(cli.t);
    }
    ck_assert_int_eq(wire_loop_run_until(loop, &x.done_flag, 15000), 0);
    drain_and_check();
    ck_assert_int_eq(x.done, 1);
    ck_assert_int_eq(c.logs[0].lost, 1);
    if (_i == 0) {
        ck_assert(c.logs[0].lost_null); /* closed, not aborted */
        ck_assert_int_eq(cli.eof, 1);
        ck_assert_uint_eq(cli.in_len, STUCK_BYTES);
    } else {
        ck_assert_uint_ge(wire_loop_now(loop) - t0 + UNIT_TIMER_SLACK_MS,
                          grace);
        ck_assert_int_eq(c.logs[0].lost_code, WIRE_EABORTED);
        ck_assert_int_eq(cli.lost_code, -ECONNRESET);
    }
    wire_server_free(s);
    rec_log_free(&cli);
    sctx_free(&c);
}
END_TEST

/* A TCP server shutting down on signals with `x`'s callbacks, and one
 * connection to it. */
static struct wire_server *
watching_server(struct sctx *c, struct rec_log *cli, struct conn_result *cr,
                struct sigctx *x)
{
    struct wire_server *s = listen_ok("tcp://127.0.0.1:0", c);
    ck_assert_int_eq(wire_server_shutdown_on_signals(s, 5000, sig_hook,
                                                     sig_done, x, NULL), 0);
    dial(wire_server_address(s), cli, cr);
    c->want = 1;
    ck_assert(unit_run_until(loop, made_n, c, 5000));
    return s;
}

START_TEST(test_shutdown_on_signals_freed_without_signal)
{
    /* No signal ever comes: freeing the server removes its watchers (the
     * loop runs out of work, the dispositions are back, and ASan sees no
     * leak); neither callback runs. */
    struct sctx c = {0};
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    struct sigctx x = {0};
    handler_fn old_int = disposition(SIGINT), old_term = disposition(SIGTERM);
    struct wire_server *s = watching_server(&c, &cli, &cr, &x);
    wire_server_free(s);
    ck_assert(disposition(SIGINT) == old_int);
    ck_assert(disposition(SIGTERM) == old_term);
    drain_and_check();
    ck_assert_int_eq(x.signals, 0);
    ck_assert_int_eq(x.done, 0);
    ck_assert_int_eq(c.logs[0].lost, 1);
    ck_assert_int_eq(c.logs[0].lost_code, WIRE_EABORTED);
    rec_log_free(&cli);
    sctx_free(&c);
}
END_TEST

START_TEST(test_shutdown_on_signals_direct_shutdown)
{
    /* A direct wire_server_shutdown() also removes the watchers: its done
     * runs, on_signal never does, and the loop runs out of work without
     * the server being freed. */
    struct sctx c = {0};
    struct wire_server *s = listen_ok("tcp://127.0.0.1:0", &c);
    handler_fn old_term = disposition(SIGTERM);
    struct sigctx x = {0};
    ck_assert_int_eq(wire_server_shutdown_on_signals(s, 5000, sig_hook,
                                                     sig_done, &x, NULL), 0);
    int done = 0;
    wire_server_shutdown(s, 5000, done_cb, &done);
    ck_assert(disposition(SIGTERM) == old_term);
    drain_and_check();
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(x.signals, 0);
    ck_assert_int_eq(x.done, 0);
    wire_server_free(s);
    sctx_free(&c);
}
END_TEST

START_TEST(test_shutdown_on_signal_hook_frees_server)
{
    /* on_signal frees the server: nothing is shut down after it (done
     * never runs), and nothing is touched after the free (ASan). */
    struct sctx c = {0};
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    struct sigctx x = {0};
    x.free_me = watching_server(&c, &cli, &cr, &x);
    static const int term = SIGTERM;
    raise_from_loop(&term);
    ck_assert_int_eq(wire_loop_run_until(loop, &x.signal_flag, 5000), 0);
    drain_and_check();
    ck_assert_int_eq(x.signals, 1);
    ck_assert_int_eq(x.done, 0);
    ck_assert_int_eq(c.logs[0].lost_code, WIRE_EABORTED); /* freed */
    rec_log_free(&cli);
    sctx_free(&c);
}
END_TEST

START_TEST(test_shutdown_on_signals_errors)
{
    struct sctx c = {0};
    struct sigctx x = {0}, y = {0};
    struct wire_error err = {0};
    ck_assert_int_eq(wire_server_shutdown_on_signals(NULL, 0, NULL, NULL,
                                                     NULL, &err), WIRE_EINVAL);
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_contains(err.message, "no server");
    wire_error_clear(&err);

    /* A second call is refused; the first one's watch holds. */
    struct wire_server *s = listen_ok("tcp://127.0.0.1:0", &c);
    ck_assert_int_eq(wire_server_shutdown_on_signals(s, 5000, sig_hook,
                                                     sig_done, &x, NULL), 0);
    ck_assert_int_eq(wire_server_shutdown_on_signals(s, 0, sig_hook, sig_done,
                                                     &y, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "already watching signals");
    wire_error_clear(&err);
    ck_assert_int_eq(wire_server_shutdown_on_signals(s, 0, NULL, NULL, NULL,
                                                     NULL), WIRE_EINVAL);
    static const int sigint = SIGINT;
    raise_from_loop(&sigint);
    drain_and_check();
    ck_assert_int_eq(x.signals, 1);
    ck_assert_int_eq(x.signo, SIGINT);
    ck_assert_int_eq(x.done, 1);
    ck_assert_int_eq(y.signals + y.done, 0);
    wire_server_free(s);

    /* A server already shutting down is refused too. */
    s = listen_ok("tcp://127.0.0.1:0", &c);
    wire_server_shutdown(s, 0, NULL, NULL);
    ck_assert_int_eq(wire_server_shutdown_on_signals(s, 0, sig_hook, sig_done,
                                                     &y, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "shutting down");
    wire_error_clear(&err);
    drain_and_check();
    ck_assert_int_eq(y.signals + y.done, 0);
    wire_server_free(s);
    sctx_free(&c);
}
END_TEST

/* ---- refusing factory ---- */

static void
refused_on(const char *ep)
{
    struct sctx c = {.refuse = true};
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    struct wire_server *s = listen_ok(ep, &c);
    dial(wire_server_address(s), &cli, &cr);
    ck_assert_int_eq(wire_loop_run_until(loop, &cli.lost_flag, 5000), 0);
    /* The client connected, then saw the server close: EOF, clean loss. */
    ck_assert_int_eq(cr.code, 0);
    ck_assert_int_eq(cli.made, 1);
    ck_assert_int_eq(cli.eof, 1);
    ck_assert_int_eq(cli.lost, 1);
    ck_assert(cli.lost_null);
    ck_assert_int_eq(c.factory_calls, 1);
    ck_assert_uint_eq(wire_server_connection_count(s), 0);
    ck_assert_uint_eq(wire_server_accepted_total(s), 0);
    wire_server_free(s);
    drain_and_check();
    rec_log_free(&cli);
    sctx_free(&c);
}

START_TEST(test_factory_refuses_mem)
{
    refused_on("mem:refuser");
}
END_TEST

START_TEST(test_factory_refuses_tcp)
{
    refused_on("tcp://127.0.0.1:0");
}
END_TEST

/* ---- listen errors ---- */

static void
listen_fails(const char *ep, int code, const char *part)
{
    struct sctx c = {0};
    struct wire_server *s = NULL;
    struct wire_error err = {0};
    int rc = wire_listen(loop, ep, factory, &c, NULL, &s, &err);
    ck_assert_msg(rc == code, "listen %s gave %s, not %s", ep,
                  wire_err_name(rc), wire_err_name(code));
    ck_assert_int_eq(err.code, code);
    ck_assert_contains(err.message, part);
    wire_error_clear(&err);
}

START_TEST(test_mem_listen_twice)
{
    struct sctx c = {0};
    struct wire_server *s = listen_ok("mem:dup", &c);
    ck_assert_str_eq(wire_server_address(s), "mem:dup");
    listen_fails("mem:dup", -EADDRINUSE, "mem:dup");
    /* Another name is fine; and the name is free again after free. */
    struct wire_server *s2 = listen_ok("mem:other", &c);
    wire_server_free(s);
    struct wire_server *s3 = listen_ok("mem:dup", &c);
    wire_server_free(s2);
    wire_server_free(s3);
    drain_and_check();
    sctx_free(&c);
}
END_TEST

START_TEST(test_tcp_port_busy)
{
    struct sctx c = {0};
    struct wire_server *s = listen_ok("tcp://127.0.0.1:0", &c);
    const char *addr = wire_server_address(s);
    ck_assert_contains(addr, "tcp://127.0.0.1:");
    ck_assert_str_ne(addr, "tcp://127.0.0.1:0"); /* the real port */
    listen_fails(addr, -EADDRINUSE, addr + strlen("tcp://"));
    wire_server_free(s);
    drain_and_check();
    sctx_free(&c);
}
END_TEST

/* ---- Unix socket files ---- */

static char tmpdir[64];
static char sockpath[96];

static void
unix_setup(void)
{
    srv_setup();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/wire-unit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(sockpath, sizeof(sockpath), "%s/s", tmpdir);
}

static void
unix_teardown(void)
{
    unlink(sockpath);
    rmdir(tmpdir);
    srv_teardown();
}

static bool
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Leave a socket file nobody listens on, as a crashed server does. */
static void
make_stale_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    close(fd);
    ck_assert(exists(path));
}

static void
serve_one(const char *ep, struct wire_server *s, struct sctx *c)
{
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    int before = c->n;
    dial(ep, &cli, &cr);
    c->want = before + 1;
    ck_assert(unit_run_until(loop, made_n, c, 5000));
    ck_assert_int_eq(wire_loop_run_until(loop, &cr.done, 5000), 0);
    ck_assert_int_eq(cr.code, 0);
    wire_transport_close(cli.t);
    ck_assert_int_eq(wire_loop_run_until(loop, &cli.lost_flag, 5000), 0);
    (void)s;
    rec_log_free(&cli);
}

START_TEST(test_unix_over_stale_socket)
{
    char ep[160];
    snprintf(ep, sizeof(ep), "unix:%s", sockpath);
    make_stale_socket(sockpath);
    struct sctx c = {0};
    struct wire_server *s = listen_ok(ep, &c);
    ck_assert_str_eq(wire_server_address(s), ep);
    serve_one(ep, s, &c);
    ck_assert_uint_eq(wire_server_accepted_total(s), 1);
    wire_server_free(s);
    /* The server removes its socket file when it goes. */
    ck_assert(!exists(sockpath));
    drain_and_check();
    sctx_free(&c);
}
END_TEST

START_TEST(test_unix_over_live_socket)
{
    char ep[160];
    snprintf(ep, sizeof(ep), "unix:%s", sockpath);
    struct sctx c = {0};
    struct wire_server *s = listen_ok(ep, &c);
    listen_fails(ep, -EADDRINUSE, sockpath);
    /* The live server keeps its file and keeps serving. */
    ck_assert(exists(sockpath));
    serve_one(ep, s, &c);
    wire_server_free(s);
    ck_assert(!exists(sockpath));
    drain_and_check();
    sctx_free(&c);
}
END_TEST

START_TEST(test_unix_over_plain_file)
{
    /* A file that is not a socket is never removed. */
    char ep[160];
    snprintf(ep, sizeof(ep), "unix:%s", sockpath);
    FILE *f = fopen(sockpath, "w");
    ck_assert_ptr_nonnull(f);
    fputs("precious", f);
    fclose(f);
    listen_fails(ep, -EADDRINUSE, sockpath);
    ck_assert(exists(sockpath));
    drain_and_check();
}
END_TEST

START_TEST(test_unix_abstract)
{
    char ep[96];
    snprintf(ep, sizeof(ep), "unix:@wire-unit-%ld", (long)getpid());
    struct sctx c = {0};
    struct wire_server *s = listen_ok(ep, &c);
    ck_assert_str_eq(wire_server_address(s), ep);
    listen_fails(ep, -EADDRINUSE, ep + strlen("unix:"));
    serve_one(ep, s, &c);
    wire_server_free(s);
    drain_and_check();
    sctx_free(&c);
}
END_TEST

/* ---- regressions ---- */

/* A plain protocol for the regression tests: counts itself, closes on
 * connection_made when asked. */
struct reg_proto {
    struct wire_protocol base;
    bool close_at_once;
};
static int reg_made, reg_destroyed;
static struct wire_server *reg_server;
static bool reg_stop_in_factory;

static void
reg_made_cb(struct wire_protocol *p, struct wire_transport *t)
{
    reg_made++;
    if (((struct reg_proto *)p)->close_at_once)
        wire_transport_close(t);
}

static void
reg_destroy(struct wire_protocol *p)
{
    reg_destroyed++;
    free(p);
}

static const struct wire_protocol_ops reg_ops = {
    .connection_made = reg_made_cb,
    .destroy = reg_destroy,
};

static struct wire_protocol *
reg_new(bool close_at_once)
{
    struct reg_proto *r = calloc(1, sizeof(*r));
    wire_protocol_init(&r->base, &reg_ops);
    r->close_at_once = close_at_once;
    return &r->base;
}

static int reg_factory_calls;

static struct wire_protocol *
reg_factory(void *arg)
{
    (void)arg;
    reg_factory_calls++;
    if (reg_stop_in_factory)
        wire_server_stop_accepting(reg_server);
    return reg_new(false);
}

static int reg_connected;

static void
reg_conn_cb(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    (void)arg;
    ck_assert_msg(t != NULL, "connect failed: %s", err ? err->message : "");
    reg_connected++;
}

static void
reg_reset(void)
{
    reg_made = reg_destroyed = reg_factory_calls = reg_connected = 0;
    reg_server = NULL;
    reg_stop_in_factory = false;
}

static bool
reg_connected_n(void *arg)
{
    return reg_connected >= *(int *)arg;
}

static bool
reg_factory_n(void *arg)
{
    return reg_factory_calls >= *(int *)arg;
}

/* libevent's evdns leaves an event added after a lookup; the loop must
 * still run out of work once every connection is gone (found by wirecat:
 * wire_loop_run hung after connecting to "localhost"). */
START_TEST(test_loop_exits_after_name_lookup)
{
    reg_reset();
    struct wire_error err = {0};
    ck_assert_int_eq(wire_listen(loop, "tcp://127.0.0.1:0", reg_factory, NULL,
                                 NULL, &reg_server, &err), 0);
    char ep[128];
    snprintf(ep, sizeof(ep), "tcp://localhost:%s",
             strrchr(wire_server_address(reg_server), ':') + 1);
    ck_assert_int_eq(wire_connect(loop, ep, reg_new(true), NULL, reg_conn_cb,
                                  NULL, &err), 0);
    int one = 1;
    ck_assert(unit_run_until(loop, reg_connected_n, &one, 20000));
    ck_assert(unit_run_until(loop, reg_factory_n, &one, 20000));
    wire_server_free(reg_server);
    /* 1: the loop ran out of work; WIRE_ETIMEDOUT would mean it hung. */
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 20000), 1);
    ck_assert_int_eq(reg_destroyed, 2);
}
END_TEST

/* A factory that stops accepting must not be called again by the accept
 * burst already running (found by wirecat --once). */
START_TEST(test_stop_accepting_inside_factory)
{
    reg_reset();
    reg_stop_in_factory = true;
    struct wire_error err = {0};
    ck_assert_int_eq(wire_listen(loop, "tcp://127.0.0.1:0", reg_factory, NULL,
                                 NULL, &reg_server, &err), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wire_connect(loop, wire_server_address(reg_server),
                                      reg_new(false), NULL, reg_conn_cb, NULL,
                                      &err), 0);
    /* All three connects complete in the kernel's backlog... */
    int three = 3, one = 1;
    ck_assert(unit_run_until(loop, reg_connected_n, &three, 10000));
    ck_assert(unit_run_until(loop, reg_factory_n, &one, 10000));
    /* ...but only one was accepted. */
    ck_assert_int_eq(reg_factory_calls, 1);
    ck_assert_uint_eq(wire_server_connection_count(reg_server), 1);
    reg_stop_in_factory = false;
    wire_server_resume_accepting(reg_server);
    ck_assert(unit_run_until(loop, reg_factory_n, &three, 10000));
    ck_assert_uint_eq(wire_server_connection_count(reg_server), 3);
    wire_server_free(reg_server);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 10000), 1);
    ck_assert_int_eq(reg_destroyed, 6);
}
END_TEST

/* EMFILE in accept: the server pauses accepting instead of spinning on a
 * listening socket that stays readable, and accepts the waiting client as
 * soon as a descriptor is free again.  Runs in its own process (Check's
 * fork) because it lowers RLIMIT_NOFILE. */
static int emfile_warnings;

static void
emfile_log(void *arg, enum wire_log_level level, const char *msg)
{
    (void)arg;
    if (level >= WIRE_LOG_WARN && strstr(msg, "accept") != NULL)
        emfile_warnings++;
}

START_TEST(test_accept_emfile_backs_off)
{
    if (!unit_can_fork)
        return; /* setrlimit would leak into the other tests */
    reg_reset();
    emfile_warnings = 0;
    wire_loop_set_log(loop, emfile_log, NULL);
    struct wire_error err = {0};
    ck_assert_int_eq(wire_listen(loop, "tcp://127.0.0.1:0", reg_factory, NULL,
                                 NULL, &reg_server, &err), 0);
    /* Fill the descriptor table, leaving exactly one free for the client
     * socket, so the server's accept4 fails with EMFILE. */
    struct rlimit rl = {64, 64};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int fill[64], nfill = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        ck_assert_int_lt(nfill, 64);
        fill[nfill++] = fd;
    }
    ck_assert_int_gt(nfill, 1);
    close(fill[--nfill]);
    ck_assert_int_eq(wire_connect(loop, wire_server_address(reg_server),
                                  reg_new(false), NULL, reg_conn_cb, NULL, &err), 0);
    int one = 1;
    ck_assert(unit_run_until(loop, reg_connected_n, &one, 10000));
    /* The client is connected (kernel backlog) but cannot be accepted.
     * Drive the loop for a while: a spinning server would log thousands
     * of accept failures; a backing-off one a handful (10 ms doubling to
     * 1 s). */
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 400), WIRE_ETIMEDOUT);
    ck_assert_int_eq(reg_factory_calls, 0);
    ck_assert_int_ge(emfile_warnings, 1);
    ck_assert_int_le(emfile_warnings, 8);
    /* Free a descriptor: the next retry accepts. */
    close(fill[--nfill]);
    ck_assert(unit_run_until(loop, reg_factory_n, &one, 10000));
    ck_assert_uint_eq(wire_server_connection_count(reg_server), 1);
    while (nfill > 0)
        close(fill[--nfill]);
    wire_server_free(reg_server);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 10000), 1);
    ck_assert_int_eq(reg_destroyed, 2);
}
END_TEST

/* ---- sockets: the loop's socket poller (transports/sock.c) ---- */

/* The first server connection to hear from its client aborts every other
 * one.  All clients wrote before the server polled, so the others are in
 * the same batch of readiness reports: none may be read after its abort
 * (under ASan: nor touched after it is gone). */
static void
abort_others(struct rec_log *log, struct wire_transport *t, const void *data,
             size_t len)
{
    struct sctx *c = log->user;
    (void)t;
    (void)data;
    (void)len;
    for (int i = 0; i < c->n; i++)
        if (&c->logs[i] != log && c->logs[i].t != NULL)
            wire_transport_abort(c->logs[i].t);
}

START_TEST(test_sock_abort_others_in_one_batch)
{
    enum { N = 6 };
    struct sctx c = {0};
    struct rec_log cli[N] = {{0}};
    struct conn_result cr[N] = {{0}};
    struct wire_server *s = listen_ok("tcp://127.0.0.1:0", &c);
    for (int i = 0; i < N; i++)
        dial(wire_server_address(s), &cli[i], &cr[i]);
    c.want = N;
    ck_assert(unit_run_until(loop, made_n, &c, 5000));
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(wire_loop_run_until(loop, &cr[i].done, 5000), 0);
        c.logs[i].user = &c;
        c.logs[i].on_data = abort_others;
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(wire_transport_write(cli[i].t, "x", 1), 0);
    c.want = N - 1;
    ck_assert(unit_run_until(loop, lost_n, &c, 5000));
    int readers = 0;
    for (int i = 0; i < N; i++) {
        readers += c.logs[i].data_calls;
        if (c.logs[i].data_calls == 0) {
            ck_assert_int_eq(c.logs[i].lost, 1);
            ck_assert_int_eq(c.logs[i].lost_code, WIRE_EABORTED);
        }
    }
    ck_assert_int_eq(readers, 1);
    wire_server_free(s);
    drain_and_check();
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(c.logs[i].lost, 1);
        ck_assert_int_eq(cli[i].lost, 1);
        rec_log_free(&cli[i]);
    }
    sctx_free(&c);
}
END_TEST

/* A socket the poller cannot watch fails its connection with the reason:
 * here the descriptor was turned into /dev/null behind the transport's
 * back (epoll refuses it with EPERM) while reading was paused. */
/* One TCP connection to a new server: both ends made, the connect
 * reported. */
static struct wire_server *
one_tcp_conn(struct sctx *c, struct rec_log *cli, struct conn_result *cr)
{
    struct wire_server *s = listen_ok("tcp://127.0.0.1:0", c);
    dial(wire_server_address(s), cli, cr);
    c->want = 1;
    ck_assert(unit_run_until(loop, made_n, c, 5000));
    ck_assert_int_eq(wire_loop_run_until(loop, &cr->done, 5000), 0);
    return s;
}

static void
end_one_tcp_conn(struct wire_server *s, struct sctx *c, struct rec_log *cli)
{
    wire_server_free(s);
    drain_and_check();
    rec_log_free(cli);
    sctx_free(c);
}

START_TEST(test_sock_watch_refused_fails)
{
    struct sctx c = {0};
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    struct wire_server *s = one_tcp_conn(&c, &cli, &cr);
    struct wire_transport *t = c.logs[0].t;
    int fd = -1;
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_FD, &fd, sizeof(fd)),
                     (int)sizeof(int));
    ck_assert_int_eq(wire_transport_pause_reading(t), 0);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(null, 0);
    ck_assert_int_eq(dup2(null, fd), fd);
    close(null);
    ck_assert_int_eq(wire_transport_resume_reading(t), 0);
    ck_assert(unit_run_until(loop, log_lost, &c.logs[0], 5000));
    ck_assert_int_eq(c.logs[0].lost_code, -EPERM);
    ck_assert_msg(strstr(c.logs[0].lost_msg, "watching the socket") != NULL,
                  "message: %s", c.logs[0].lost_msg);
    /* The client's socket lost its peer when the descriptor was replaced. */
    ck_assert(unit_run_until(loop, log_lost, &cli, 5000));
    end_one_tcp_conn(s, &c, &cli);
}
END_TEST

/* A socket that waits for nothing (reading paused, nothing to write)
 * keeps no loop running, and waits again once resumed. */
START_TEST(test_sock_paused_keeps_loop_idle)
{
    struct sctx c = {0};
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    struct wire_server *s = one_tcp_conn(&c, &cli, &cr);
    wire_server_stop_accepting(s);
    ck_assert_int_eq(wire_transport_pause_reading(cli.t), 0);
    ck_assert_int_eq(wire_transport_pause_reading(c.logs[0].t), 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    ck_assert_int_eq(wire_transport_resume_reading(c.logs[0].t), 0);
    ck_assert_int_eq(wire_transport_write(cli.t, "again", 5), 0);
    c.logs[0].user = "again";
    ck_assert(unit_run_until(loop, has_in, &c.logs[0], 5000));
    ck_assert_int_eq(wire_transport_resume_reading(cli.t), 0);
    end_one_tcp_conn(s, &c, &cli);
}
END_TEST

Suite *
server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("connections");
    tcase_add_checked_fixture(tc, srv_setup, srv_teardown);
    tcase_add_test(tc, test_counts_mem);
    tcase_add_test(tc, test_counts_tcp);
    tcase_add_test(tc, test_stop_resume_accepting_tcp);
    tcase_add_test(tc, test_stop_resume_accepting_mem);
    tcase_add_test(tc, test_connect_mem_nobody_listens);
    tcase_add_test(tc, test_free_with_open_connections_tcp);
    tcase_add_test(tc, test_free_with_open_connections_mem);
    tcase_add_test(tc, test_shutdown_graceful);
    tcase_add_test(tc, test_shutdown_flushes_layers);
    tcase_add_loop_test(tc, test_shutdown_deadline_aborts, 0, 2);
    tcase_add_test(tc, test_factory_refuses_mem);
    tcase_add_test(tc, test_factory_refuses_tcp);
    suite_add_tcase(s, tc);

    tc = tcase_create("signals");
    tcase_add_checked_fixture(tc, srv_setup, srv_teardown);
    tcase_add_test(tc, test_shutdown_on_sigterm);
    tcase_add_loop_test(tc, test_shutdown_on_signal_grace, 0, 2);
    tcase_add_test(tc, test_shutdown_on_signals_freed_without_signal);
    tcase_add_test(tc, test_shutdown_on_signals_direct_shutdown);
    tcase_add_test(tc, test_shutdown_on_signal_hook_frees_server);
    tcase_add_test(tc, test_shutdown_on_signals_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("listen");
    tcase_add_checked_fixture(tc, srv_setup, srv_teardown);
    tcase_add_test(tc, test_mem_listen_twice);
    tcase_add_test(tc, test_tcp_port_busy);
    suite_add_tcase(s, tc);

    tc = tcase_create("unix");
    tcase_add_checked_fixture(tc, unix_setup, unix_teardown);
    tcase_add_test(tc, test_unix_over_stale_socket);
    tcase_add_test(tc, test_unix_over_live_socket);
    tcase_add_test(tc, test_unix_over_plain_file);
    tcase_add_test(tc, test_unix_abstract);
    suite_add_tcase(s, tc);

    tc = tcase_create("sockets");
    tcase_add_checked_fixture(tc, srv_setup, srv_teardown);
    tcase_add_test(tc, test_sock_abort_others_in_one_batch);
    tcase_add_test(tc, test_sock_watch_refused_fails);
    tcase_add_test(tc, test_sock_paused_keeps_loop_idle);
    suite_add_tcase(s, tc);

    tc = tcase_create("regressions");
    tcase_add_checked_fixture(tc, srv_setup, srv_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_loop_exits_after_name_lookup);
    tcase_add_test(tc, test_stop_accepting_inside_factory);
    tcase_add_test(tc, test_accept_emfile_backs_off);
    suite_add_tcase(s, tc);
    return s;
}
