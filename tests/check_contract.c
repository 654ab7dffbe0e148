/*
 * The contract checker really fires.  A deliberately broken transport,
 * written here on <wire/transport_impl.h> (struct wire_transport first,
 * minimal ops), breaks the callback order every protocol relies on:
 * data after pause_reading, data after EOF, connection_made twice.  The
 * checker must abort the process (SIGABRT); Check runs each such test in
 * a child and expects that signal.  A positive test drives a correct
 * sequence through the same transport and must not abort.
 *
 * Without fork (CK_FORK=no, e.g. under valgrind) a test that aborts would
 * kill the runner, so the SIGABRT tests are left out then; so they are
 * when the library was configured with --disable-contract-checks.
 *
 * The write_file TCases hold the contract of a file range in the output
 * queue (wire_transport_write_file): in order with the writes around it,
 * sent by sendfile on TCP and Unix sockets (and the fd transport on a
 * socket) and read a piece at a time everywhere else (pipes, the memory
 * pair, trace, TLS), memory bounded by the
 * watermarks, the fd released exactly once (sent, closed, aborted), a
 * truncated file an error, a peer gone mid-range an error without
 * SIGPIPE.
 */
#include "unit.h"
#include "tls_certs.h"

#include <wire/transport_impl.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct bad_transport {
    struct wire_transport base; /* first */
    size_t written;
    bool closed;
};

static int live_bad;

static ssize_t
bad_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    ((struct bad_transport *)t)->written += n;
    return (ssize_t)n;
}

static void
bad_close(struct wire_transport *t, bool abort)
{
    (void)abort;
    ((struct bad_transport *)t)->closed = true;
}

static void
bad_free(struct wire_transport *t)
{
    free(t);
    live_bad--;
}

static const struct wire_transport_ops bad_ops = {
    .name = "bad",
    .caps = WIRE_CAP_EOF,
    .write = bad_write,
    .close = bad_close,
    .free = bad_free,
};

static struct wire_loop *loop;

/* In the children that are meant to abort: keep the checker's report out
 * of the test log (it is expected there). */
static void
quiet_stderr(void)
{
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
}

static struct wire_transport *
bad_new(void)
{
    struct bad_transport *b = calloc(1, sizeof(*b));
    ck_assert_ptr_nonnull(b);
    live_bad++;
    wire_impl_init(&b->base, &bad_ops, loop);
    return &b->base;
}

static void
contract_setup(void)
{
    unit_setup();
    live_bad = 0;
    loop = wire_loop_new();
}

static void
contract_teardown(void)
{
    wire_loop_free(loop);
    loop = NULL;
}

/* ---- violations: each must abort ---- */

START_TEST(test_data_after_pause_reading_aborts)
{
    quiet_stderr();
    struct rec_log log = {0};
    struct wire_transport *t = bad_new();
    wire_impl_start(t, rec_new(&log));
    ck_assert_int_eq(wire_transport_pause_reading(t), 0);
    /* The broken transport ignores the pause. */
    wire_impl_data(t, "x", 1);
    ck_abort_msg("data after pause_reading was delivered without abort");
}
END_TEST

START_TEST(test_data_after_eof_aborts)
{
    quiet_stderr();
    struct rec_log log = {.eof_keep = true};
    struct wire_transport *t = bad_new();
    wire_impl_start(t, rec_new(&log));
    wire_impl_eof(t);
    ck_assert_int_eq(log.eof, 1);
    ck_assert(!wire_transport_is_closing(t)); /* kept open: only EOF is wrong */
    wire_impl_data(t, "late", 4);
    ck_abort_msg("data after eof_received was delivered without abort");
}
END_TEST

START_TEST(test_connection_made_twice_aborts)
{
    quiet_stderr();
    struct rec_log log = {0};
    struct wire_transport *t = bad_new();
    struct wire_protocol *p = rec_new(&log);
    wire_impl_start(t, p);
    ck_assert_int_eq(log.made, 1);
    wire_impl_start(t, p);
    ck_abort_msg("connection_made was delivered twice without abort");
}
END_TEST

START_TEST(test_destroy_before_lost_aborts)
{
    quiet_stderr();
    /* Destroying a protocol between connection_made and connection_lost
     * (a transport that frees its protocol too early). */
    struct rec_log log = {0};
    struct wire_transport *t = bad_new();
    struct wire_protocol *p = rec_new(&log);
    wire_impl_start(t, p);
    wire_protocol_destroy(p);
    ck_abort_msg("a live protocol was destroyed without abort");
}
END_TEST

/* ---- a correct sequence does not abort ---- */

static void
write_and_pause(struct rec_log *log, struct wire_transport *t, const void *d,
                size_t n)
{
    ck_assert_int_eq(wire_transport_write(t, d, n), 0);
    if (log->data_calls == 2)
        wire_transport_pause_reading(t);
}

START_TEST(test_correct_sequence)
{
    struct rec_log log = {.on_data = write_and_pause, .eof_keep = true};
    struct wire_transport *t = bad_new();
    struct bad_transport *b = (struct bad_transport *)t;
    wire_transport_ref(t); /* keep it to look at after the loss */
    wire_impl_start(t, rec_new(&log));
    ck_assert(wire_impl_is_active(t));
    ck_assert(wire_impl_data(t, "a", 1));
    /* The second delivery pauses: the transport is told to stop. */
    ck_assert(!wire_impl_data(t, "bc", 2));
    ck_assert(!wire_transport_is_reading(t));
    wire_transport_resume_reading(t);
    ck_assert(wire_impl_data(t, "d", 1));
    ck_assert(wire_impl_data(t, "", 0)); /* nothing: no callback */
    ck_assert_int_eq(log.data_calls, 3);
    wire_impl_eof(t);
    ck_assert_int_eq(log.eof, 1);
    wire_impl_eof(t); /* a second EOF from the handle is ignored */
    ck_assert_int_eq(log.eof, 1);
    ck_assert_uint_eq(b->written, 4);
    wire_transport_close(t);
    ck_assert(b->closed);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &log.lost_flag, 5000), 0);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    ck_assert_int_eq(log.destroyed, 1);
    ck_assert(!wire_impl_is_active(t));
    /* Failing after the loss is a no-op, not a second connection_lost. */
    wire_impl_fail(t, WIRE_EPROTO, "too late");
    wire_impl_lost(t, NULL);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(live_bad, 1);
    wire_transport_unref(t);
    ck_assert_int_eq(live_bad, 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_fail_reports_once)
{
    /* A handle failing several times (read error, then write error)
     * reports the first failure only. */
    struct rec_log log = {0};
    struct wire_transport *t = bad_new();
    wire_impl_start(t, rec_new(&log));
    wire_impl_fail(t, WIRE_EPROTO, "first %d", 1);
    wire_impl_fail(t, WIRE_ETLS, "second");
    struct wire_error e = {0};
    wire_error_set(&e, WIRE_EMSGSIZE, "third");
    wire_impl_lost(t, &e);
    wire_error_clear(&e);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &log.lost_flag, 5000), 0);
    ck_assert_int_eq(wire_loop_run(loop), 0);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EPROTO);
    ck_assert_str_eq(log.lost_msg, "first 1");
    ck_assert_int_eq(live_bad, 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_discard_unstarted)
{
    /* A transport never started is discarded without touching any
     * protocol. */
    struct wire_transport *t = bad_new();
    wire_impl_discard(t);
    ck_assert_int_eq(live_bad, 0);
}
END_TEST

/* ---- write_file: a file range among the writes ---- */

static bool
fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* A done callback that counts (and checks the fd it is given back). */
struct wf_done {
    int calls;
    int fd;
};

static void
wf_done_cb(void *arg, int fd)
{
    struct wf_done *d = arg;
    d->calls++;
    ck_assert_int_eq(fd, d->fd);
}

/* A connection whose `a` side sends and `b` side receives. */
struct wf_conn {
    struct rec_log a, b;
    struct wire_server *srv;
    struct wire_protocol *b_proto; /* for the factory, once */
    struct wire_protocol *a_above; /* set: a layer sits on a.t's side */
};

static struct wire_protocol *
wf_factory(void *arg)
{
    struct wf_conn *c = arg;
    struct wire_protocol *p = c->b_proto;
    c->b_proto = NULL;
    return p;
}

static bool
wf_both_made(void *arg)
{
    struct wf_conn *c = arg;
    return c->a.made_flag && c->b.made_flag;
}

static bool
wf_both_lost(void *arg)
{
    struct wf_conn *c = arg;
    return c->a.lost_flag && c->b.lost_flag;
}

/* Connect `pa` to `pb` over `endpoint` (tcp://127.0.0.1:0, unix:PATH),
 * or over a memory pair of `bufsize` when `endpoint` is NULL. */
static void
wf_connect(struct wf_conn *c, const char *endpoint, struct wire_protocol *pa,
           struct wire_protocol *pb, size_t bufsize)
{
    struct wire_error err = {0};
    if (endpoint == NULL) {
        ck_assert_int_eq(wire_mem_pair(loop, pa, pb, bufsize, NULL, NULL), 0);
    } else {
        c->b_proto = pb;
        ck_assert_msg(wire_listen(loop, endpoint, wf_factory, c, NULL, &c->srv,
                                  &err) == 0, "%s", err.message);
        ck_assert_msg(wire_connect(loop, wire_server_address(c->srv), pa, NULL,
                                   NULL, NULL, &err) == 0, "%s", err.message);
    }
    ck_assert(unit_run_until(loop, wf_both_made, c, 10000));
}

/* The same over the fd transport: a pipe pair, or one socket of a
 * socketpair on each side (as stdio on a socket is). */
static void
wf_connect_fds(struct wf_conn *c, bool sockets)
{
    struct wire_error err = {0};
    if (!sockets) {
        ck_assert_msg(wire_pipe_pair(loop, rec_new(&c->a), rec_new(&c->b), NULL,
                                     NULL, &err) == 0, "%s", err.message);
    } else {
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_msg(wire_pipe_open(loop, sv[0], sv[0], rec_new(&c->a), NULL,
                                     NULL, &err) == 0, "%s", err.message);
        ck_assert_msg(wire_pipe_open(loop, sv[1], sv[1], rec_new(&c->b), NULL,
                                     NULL, &err) == 0, "%s", err.message);
    }
    ck_assert(unit_run_until(loop, wf_both_made, c, 10000));
}

static void
wf_finish(struct wf_conn *c)
{
    if (c->a.t != NULL && !c->a.lost)
        wire_transport_close(c->a.t);
    if (c->b.t != NULL && !c->b.lost)
        wire_transport_close(c->b.t);
    ck_assert(unit_run_until(loop, wf_both_lost, c, 10000));
    if (c->srv != NULL)
        wire_server_free(c->srv);
    static const volatile bool never = false;
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 10000), 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&c->a);
    rec_log_free(&c->b);
}

struct wf_want {
    struct rec_log *log;
    size_t n;
};

static bool
wf_got(void *arg)
{
    struct wf_want *w = arg;
    return w->log->in_len >= w->n || w->log->lost_flag;
}

/* "HEAD" + file[off, off+len) + "TAIL": written on c->a.t, received
 * byte for byte by c->b, by sendfile (`direct`) or read; then the end. */
static bool wf_held; /* write while PEP-paused: "HEAD" is queued ahead */

static void
wf_send_in_order(struct wf_conn *c, size_t size, size_t off, size_t len,
                 bool direct)
{
    unsigned char *content;
    int fd = unit_temp_file(size, 7, &content);
    struct wf_done d = {.fd = fd};
    if (wf_held)
        ck_assert_int_eq(wire_transport_pause(c->a.t), 0);
    ck_assert_int_eq(wire_transport_write(c->a.t, "HEAD", 4), 0);
    ck_assert_int_eq(wire_transport_write_file(c->a.t, fd, (off_t)off, len,
                                               wf_done_cb, &d), 0);
    ck_assert_int_eq(wire_transport_write(c->a.t, "TAIL", 4), 0);
    if (wf_held) {
        struct wire_write_stats held;
        wire_transport_get_write_stats(c->a.t, &held);
        ck_assert_uint_eq(held.buffered, 8);
        ck_assert_uint_eq(held.file_pending, len);
        ck_assert_int_eq(wire_transport_resume(c->a.t), 0);
        wf_held = false;
    }
    struct wf_want w = {&c->b, len + 8};
    ck_assert(unit_run_until(loop, wf_got, &w, 20000));
    ck_assert_uint_eq(c->b.in_len, len + 8);
    ck_assert_int_eq(memcmp(c->b.in, "HEAD", 4), 0);
    ck_assert_msg(memcmp(c->b.in + 4, content + off, len) == 0,
                  "the file's bytes differ");
    ck_assert_int_eq(memcmp(c->b.in + 4 + len, "TAIL", 4), 0);
    ck_assert_int_eq(d.calls, 1);
    ck_assert(fd_is_open(fd)); /* with a callback the fd stays ours */
    struct wire_write_stats st;
    wire_transport_get_write_stats(c->a.t, &st);
    ck_assert_uint_eq(st.buffered, 0);
    ck_assert_uint_eq(st.file_pending, 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(c->a.t), 0);
    /* Straight from the file (nothing of it through memory), or read. */
    ck_assert_uint_eq(st.file_sent_direct, direct ? len : 0);
    ck_assert_uint_eq(st.file_read, direct ? 0 : len);
    close(fd);
    free(content);
    wf_finish(c);
}

START_TEST(test_wf_tcp_sendfile_in_order)
{
    struct wf_conn c = {0};
    wf_connect(&c, "tcp://127.0.0.1:0", rec_new(&c.a), rec_new(&c.b), 0);
    wf_send_in_order(&c, 300000, 5, 299000, true);
}
END_TEST

/* Bytes queued ahead of the range go with it (the sendfile hook's head),
 * still in order. */
START_TEST(test_wf_tcp_queued_head)
{
    struct wf_conn c = {0};
    wf_connect(&c, "tcp://127.0.0.1:0", rec_new(&c.a), rec_new(&c.b), 0);
    wf_held = true;
    wf_send_in_order(&c, 300000, 5, 299000, true);
}
END_TEST

START_TEST(test_wf_mem_queued_head)
{
    struct wf_conn c = {0};
    wf_connect(&c, NULL, rec_new(&c.a), rec_new(&c.b), 4096);
    wf_held = true;
    wf_send_in_order(&c, 300000, 5, 299000, false);
}
END_TEST

START_TEST(test_wf_unix_sendfile_in_order)
{
    char dir[] = "/tmp/wire-wf-XXXXXX", ep[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(ep, sizeof(ep), "unix:%s/s", dir);
    struct wf_conn c = {0};
    wf_connect(&c, ep, rec_new(&c.a), rec_new(&c.b), 0);
    wf_send_in_order(&c, 200000, 0, 200000, true);
    rmdir(dir);
}
END_TEST

START_TEST(test_wf_mem_fallback_in_order)
{
    struct wf_conn c = {0};
    wf_connect(&c, NULL, rec_new(&c.a), rec_new(&c.b), 4096);
    wf_send_in_order(&c, 300000, 5, 299000, false);
}
END_TEST

START_TEST(test_wf_pipe_reads)
{
    struct wf_conn c = {0};
    wf_connect_fds(&c, false);
    wf_send_in_order(&c, 200000, 3, 150000, false);
}
END_TEST

START_TEST(test_wf_fd_socket_sendfile)
{
    struct wf_conn c = {0};
    wf_connect_fds(&c, true);
    wf_send_in_order(&c, 200000, 3, 150000, true);
}
END_TEST

/* Through a layer the range is read above it, even over TCP: trace, a
 * layer that carries bytes, and TLS (in its own TCase, with
 * certificates). */
static void
wf_trace_quiet(void *arg, const struct wire_trace_event *ev)
{
    (void)arg;
    (void)ev;
}

START_TEST(test_wf_trace_over_tcp_reads)
{
    struct wf_conn c = {0};
    struct wire_error err = {0};
    struct wire_trace_opts to = {.cb = wf_trace_quiet};
    struct wire_protocol *pa = wire_trace_layer_new(rec_new(&c.a), &to, &err);
    ck_assert_msg(pa != NULL, "%s", err.message);
    wf_connect(&c, "tcp://127.0.0.1:0", pa, rec_new(&c.b), 0);
    wf_send_in_order(&c, 100000, 0, 100000, false);
}
END_TEST

static struct tls_certs wf_certs;

static void
wf_certs_setup(void)
{
    ck_assert_int_eq(tls_certs_make(&wf_certs), 0);
}

static void
wf_certs_teardown(void)
{
    tls_certs_remove(&wf_certs);
}

START_TEST(test_wf_tls_over_tcp_reads)
{
    struct wf_conn c = {0};
    struct wire_error err = {0};
    struct wire_tls_config *cc = wire_tls_config_new(false, &err);
    struct wire_tls_config *sc = wire_tls_config_new(true, &err);
    ck_assert(cc != NULL && sc != NULL);
    ck_assert_int_eq(wire_tls_config_set_ca(cc, wf_certs.ca, NULL, &err), 0);
    ck_assert_int_eq(wire_tls_config_set_cert(sc, wf_certs.server_cert,
                                              wf_certs.server_key, &err), 0);
    struct wire_protocol *pa = wire_tls_client_layer_new(rec_new(&c.a), cc,
                                                         "localhost", &err);
    struct wire_protocol *pb = wire_tls_server_layer_new(rec_new(&c.b), sc, &err);
    ck_assert_msg(pa != NULL && pb != NULL, "%s", err.message);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
    wf_connect(&c, "tcp://127.0.0.1:0", pa, pb, 0);
    wf_send_in_order(&c, 1000000, 1, 999999, false);
}
END_TEST

START_TEST(test_wf_empty_range)
{
    struct wf_conn c = {0};
    wf_connect(&c, NULL, rec_new(&c.a), rec_new(&c.b), 0);
    unsigned char *content;
    int fd = unit_temp_file(10, 1, &content);
    struct wf_done d = {.fd = fd};
    ck_assert_int_eq(wire_transport_write(c.a.t, "a", 1), 0);
    ck_assert_int_eq(wire_transport_write_file(c.a.t, fd, 3, 0, wf_done_cb, &d), 0);
    ck_assert_int_eq(d.calls, 1); /* released before returning */
    ck_assert(fd_is_open(fd));
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(c.a.t), 0);
    /* Without a callback the transport owned it: closed at once. */
    ck_assert_int_eq(wire_transport_write_file(c.a.t, fd, 0, 0, NULL, NULL), 0);
    ck_assert(!fd_is_open(fd));
    ck_assert_int_eq(wire_transport_write(c.a.t, "b", 1), 0);
    struct wf_want w = {&c.b, 2};
    ck_assert(unit_run_until(loop, wf_got, &w, 5000));
    ck_assert_str_eq(rec_in(&c.b), "ab");
    free(content);
    wf_finish(&c);
}
END_TEST

/* The sender's memory while the receiver takes a large file: checked at
 * every delivery. */
static size_t wf_max_buffered;
static struct wire_transport *wf_sender;

static void
wf_watch_memory(struct rec_log *log, struct wire_transport *t, const void *data,
                size_t len)
{
    (void)log;
    (void)t;
    (void)data;
    (void)len;
    struct wire_write_stats st;
    wire_transport_get_write_stats(wf_sender, &st);
    if (st.buffered > wf_max_buffered)
        wf_max_buffered = st.buffered;
}

static void
wf_large(const char *endpoint, bool direct)
{
    enum { SIZE = 8 * 1024 * 1024 };
    struct wf_conn c = {.b = {.on_data = wf_watch_memory}};
    wf_connect(&c, endpoint, rec_new(&c.a), rec_new(&c.b), 0);
    unsigned char *content;
    int fd = unit_temp_file(SIZE, 3, &content);
    wf_sender = c.a.t;
    wf_max_buffered = 0;
    size_t high = 0;
    wire_transport_get_write_buffer_limits(c.a.t, &high, NULL);
    /* The transport owns the fd (no callback). */
    ck_assert_int_eq(wire_transport_write_file(c.a.t, fd, 0, SIZE, NULL, NULL), 0);
    /* The range counts in the write buffer: above the high mark at once. */
    ck_assert_int_eq(c.a.paused, 1);
    ck_assert_uint_gt(wire_transport_get_write_buffer_size(c.a.t), high);
    struct wf_want w = {&c.b, SIZE};
    ck_assert(unit_run_until(loop, wf_got, &w, 60000));
    ck_assert_uint_eq(c.b.in_len, SIZE);
    ck_assert_msg(memcmp(c.b.in, content, SIZE) == 0, "the file's bytes differ");
    ck_assert_int_eq(c.a.resumed, 1);
    ck_assert(!fd_is_open(fd));
    struct wire_write_stats st;
    wire_transport_get_write_stats(c.a.t, &st);
    if (direct) {
        ck_assert_uint_eq(st.file_sent_direct, SIZE);
        ck_assert_uint_eq(wf_max_buffered, 0); /* never in memory */
    } else {
        ck_assert_uint_eq(st.file_read, SIZE);
        ck_assert_msg(wf_max_buffered <= high + 64 * 1024,
                      "%zu bytes buffered, over the high mark and one piece",
                      wf_max_buffered);
    }
    free(content);
    wf_finish(&c);
}

START_TEST(test_wf_large_tcp)
{
    wf_large("tcp://127.0.0.1:0", true);
}
END_TEST

START_TEST(test_wf_large_mem_bounded)
{
    wf_large(NULL, false);
}
END_TEST

/* A file shorter than its range: an error, not a wait for bytes that
 * will not come. */
static void
wf_truncated(const char *endpoint)
{
    struct wf_conn c = {0};
    wf_connect(&c, endpoint, rec_new(&c.a), rec_new(&c.b), 0);
    unsigned char *content;
    int fd = unit_temp_file(1000, 5, &content);
    struct wf_done d = {.fd = fd};
    ck_assert_int_eq(wire_transport_write_file(c.a.t, fd, 0, 2000, wf_done_cb, &d), 0);
    ck_assert(unit_run_until(loop, log_lost, &c.a, 10000));
    ck_assert_int_eq(c.a.lost_code, WIRE_EINCOMPLETE);
    ck_assert_contains(c.a.lost_msg, "1000 bytes before the end of the range");
    ck_assert_int_eq(d.calls, 1);
    ck_assert(unit_run_until(loop, log_lost, &c.b, 10000));
    ck_assert_uint_le(c.b.in_len, 1000);
    close(fd);
    free(content);
    wf_finish(&c);
}

START_TEST(test_wf_truncated_tcp)
{
    wf_truncated("tcp://127.0.0.1:0");
}
END_TEST

START_TEST(test_wf_truncated_mem)
{
    wf_truncated(NULL);
}
END_TEST

/* A receiver that stops reading, so the range stays queued. */
static void
wf_queued(struct wf_conn *c, struct wf_done *d, unsigned char **content,
          bool own)
{
    c->b.on_data = rec_pause_on_first;
    wf_connect(c, NULL, rec_new(&c->a), rec_new(&c->b), 1024);
    int fd = unit_temp_file(256 * 1024, 9, content);
    d->fd = fd;
    ck_assert_int_eq(wire_transport_write_file(c->a.t, fd, 0, 256 * 1024,
                                               own ? NULL : wf_done_cb, d), 0);
    ck_assert(unit_run_until(loop, log_made, &c->b, 1000));
    struct wf_want w = {&c->b, 1};
    ck_assert(unit_run_until(loop, wf_got, &w, 5000));
    ck_assert_uint_gt(wire_transport_get_write_buffer_size(c->a.t), 0);
}

START_TEST(test_wf_close_sends_the_rest)
{
    struct wf_conn c = {0};
    struct wf_done d = {0};
    unsigned char *content;
    wf_queued(&c, &d, &content, false);
    wire_transport_close(c.a.t);
    ck_assert_int_eq(wire_transport_write_file(c.a.t, d.fd, 0, 1, wf_done_cb, &d),
                     WIRE_ECLOSED);
    ck_assert_int_eq(d.calls, 0);
    wire_transport_resume_reading(c.b.t);
    ck_assert(unit_run_until(loop, log_lost, &c.a, 10000));
    ck_assert(c.a.lost_null);
    ck_assert_int_eq(d.calls, 1);
    struct wf_want w = {&c.b, 256 * 1024};
    ck_assert(unit_run_until(loop, wf_got, &w, 10000));
    ck_assert_int_eq(memcmp(c.b.in, content, 256 * 1024), 0);
    close(d.fd);
    free(content);
    wf_finish(&c);
}
END_TEST

START_TEST(test_wf_abort_releases_once)
{
    struct wf_conn c = {0};
    struct wf_done d = {0};
    unsigned char *content;
    wf_queued(&c, &d, &content, false);
    wire_transport_abort(c.a.t);
    ck_assert_int_eq(d.calls, 1); /* before abort returns */
    ck_assert(unit_run_until(loop, log_lost, &c.a, 10000));
    ck_assert_int_eq(c.a.lost_code, WIRE_EABORTED);
    ck_assert_int_eq(d.calls, 1);
    close(d.fd);
    free(content);
    wf_finish(&c);
    ck_assert_int_eq(d.calls, 1);
}
END_TEST

START_TEST(test_wf_abort_closes_owned_fd)
{
    struct wf_conn c = {0};
    struct wf_done d = {0};
    unsigned char *content;
    wf_queued(&c, &d, &content, true);
    ck_assert(fd_is_open(d.fd));
    wire_transport_abort(c.a.t);
    ck_assert(!fd_is_open(d.fd));
    free(content);
    wf_finish(&c);
}
END_TEST

START_TEST(test_wf_refusals)
{
    struct wf_conn c = {0};
    wf_connect(&c, NULL, rec_new(&c.a), rec_new(&c.b), 0);
    struct wire_transport *t = c.a.t;
    unsigned char *content;
    int fd = unit_temp_file(10, 1, &content);
    struct wf_done d = {.fd = fd};
    ck_assert_int_eq(wire_transport_write_file(t, -1, 0, 1, NULL, NULL), WIRE_EINVAL);
    ck_assert_int_eq(wire_transport_write_file(t, fd, -1, 1, wf_done_cb, &d), WIRE_EINVAL);
    ck_assert_int_eq(wire_transport_write_file(t, fd, 1, SIZE_MAX, wf_done_cb, &d),
                     WIRE_EINVAL);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(wire_transport_write_file(t, p[0], 0, 1, NULL, NULL), WIRE_EINVAL);
    ck_assert(fd_is_open(p[0])); /* an error leaves it the caller's */
    close(p[0]);
    close(p[1]);
    int wo = open("/dev/null", O_WRONLY);
    ck_assert_int_eq(wire_transport_write_file(t, wo, 0, 1, NULL, NULL), WIRE_EINVAL);
    close(wo);
    char path[] = "/tmp/wire-wf-XXXXXX";
    int wonly = mkstemp(path);
    ck_assert_int_ge(wonly, 0);
    close(wonly);
    wonly = open(path, O_WRONLY);
    unlink(path);
    ck_assert_int_eq(wire_transport_write_file(t, wonly, 0, 1, NULL, NULL), WIRE_EINVAL);
    close(wonly);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    ck_assert_int_eq(wire_transport_write_file(t, dir, 0, 1, NULL, NULL), WIRE_EINVAL);
    close(dir);
    ck_assert_int_eq(d.calls, 0);
    /* A message layer refuses: a file is not one message. */
    struct rec_log ml = {.messages = true};
    struct wire_protocol *lp = wire_chunk_layer_new(rec_new(&ml), NULL, NULL);
    ck_assert_ptr_nonnull(lp);
    struct wire_transport *st = wire_string_transport_new(lp);
    ck_assert_int_eq(wire_transport_write_file(ml.t, fd, 0, 1, wf_done_cb, &d),
                     WIRE_ENOTSUP);
    wire_string_transport_free(st);
    rec_log_free(&ml);
    /* After close: WIRE_ECLOSED, and the fd is still the caller's. */
    wire_transport_close(t);
    ck_assert_int_eq(wire_transport_write_file(t, fd, 0, 1, NULL, NULL), WIRE_ECLOSED);
    ck_assert(fd_is_open(fd));
    ck_assert_int_eq(d.calls, 0);
    close(fd);
    free(content);
    wf_finish(&c);
}
END_TEST

/* The peer goes away in the middle of a large range: the error reaches
 * connection_lost, the fd is released once, and no SIGPIPE is raised
 * (at its default disposition it would kill this process). */
static void
wf_abort_on_data(struct rec_log *log, struct wire_transport *t, const void *data,
                 size_t len)
{
    (void)log;
    (void)data;
    (void)len;
    wire_transport_abort(t);
}

static void
wf_peer_gone(const char *endpoint)
{
    enum { SIZE = 8 * 1024 * 1024 };
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    struct wf_conn c = {.b = {.on_data = wf_abort_on_data}};
    wf_connect(&c, endpoint, rec_new(&c.a), rec_new(&c.b), 0);
    unsigned char *content;
    int fd = unit_temp_file(SIZE, 11, &content);
    struct wf_done d = {.fd = fd};
    ck_assert_int_eq(wire_transport_write_file(c.a.t, fd, 0, SIZE, wf_done_cb, &d), 0);
    ck_assert(unit_run_until(loop, log_lost, &c.a, 20000));
    ck_assert_msg(c.a.lost_code != 0, "a clean loss after %zu of %d bytes",
                  c.b.in_len, SIZE);
    ck_assert_int_eq(d.calls, 1);
    sigset_t pending;
    ck_assert_int_eq(sigpending(&pending), 0);
    ck_assert(!sigismember(&pending, SIGPIPE));
    signal(SIGPIPE, old);
    close(fd);
    free(content);
    wf_finish(&c);
}

START_TEST(test_wf_peer_reset_tcp)
{
    wf_peer_gone("tcp://127.0.0.1:0");
}
END_TEST

START_TEST(test_wf_peer_gone_unix)
{
    char dir[] = "/tmp/wire-wf-XXXXXX", ep[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(ep, sizeof(ep), "unix:%s/s", dir);
    wf_peer_gone(ep);
    rmdir(dir);
}
END_TEST

Suite *
contract_suite(void)
{
    Suite *s = suite_create("contract");
    TCase *tc = tcase_create("violations");
    tcase_add_checked_fixture(tc, contract_setup, contract_teardown);
#if WIRE_CONTRACT_CHECKS
    if (unit_can_fork) {
        tcase_add_test_raise_signal(tc, test_data_after_pause_reading_aborts,
                                    SIGABRT);
        tcase_add_test_raise_signal(tc, test_data_after_eof_aborts, SIGABRT);
        tcase_add_test_raise_signal(tc, test_connection_made_twice_aborts,
                                    SIGABRT);
        tcase_add_test_raise_signal(tc, test_destroy_before_lost_aborts,
                                    SIGABRT);
    }
#else
    (void)test_data_after_pause_reading_aborts;
    (void)test_data_after_eof_aborts;
    (void)test_connection_made_twice_aborts;
    (void)test_destroy_before_lost_aborts;
#endif
    suite_add_tcase(s, tc);

    tc = tcase_create("correct");
    tcase_add_checked_fixture(tc, contract_setup, contract_teardown);
    tcase_add_test(tc, test_correct_sequence);
    tcase_add_test(tc, test_fail_reports_once);
    tcase_add_test(tc, test_discard_unstarted);
    suite_add_tcase(s, tc);

    tc = unit_tcase(s, "write_file");
    tcase_add_checked_fixture(tc, contract_setup, contract_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wf_tcp_sendfile_in_order);
    tcase_add_test(tc, test_wf_tcp_queued_head);
    tcase_add_test(tc, test_wf_mem_queued_head);
    tcase_add_test(tc, test_wf_unix_sendfile_in_order);
    tcase_add_test(tc, test_wf_mem_fallback_in_order);
    tcase_add_test(tc, test_wf_pipe_reads);
    tcase_add_test(tc, test_wf_fd_socket_sendfile);
    tcase_add_test(tc, test_wf_trace_over_tcp_reads);
    tcase_add_test(tc, test_wf_empty_range);
    tcase_add_test(tc, test_wf_large_tcp);
    tcase_add_test(tc, test_wf_large_mem_bounded);
    tcase_add_test(tc, test_wf_truncated_tcp);
    tcase_add_test(tc, test_wf_truncated_mem);
    tcase_add_test(tc, test_wf_close_sends_the_rest);
    tcase_add_test(tc, test_wf_abort_releases_once);
    tcase_add_test(tc, test_wf_abort_closes_owned_fd);
    tcase_add_test(tc, test_wf_refusals);
    tcase_add_test(tc, test_wf_peer_reset_tcp);
    tcase_add_test(tc, test_wf_peer_gone_unix);

    tc = unit_tcase(s, "write_file_tls");
    tcase_add_unchecked_fixture(tc, wf_certs_setup, wf_certs_teardown);
    tcase_add_checked_fixture(tc, contract_setup, contract_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wf_tls_over_tcp_reads);
    return s;
}
