/*
 * Hand-over and start_tls: a live connection changes protocol
 * (wire_transport_set_protocol) or is upgraded to TLS in place
 * (wire_tls_start, STARTTLS after a line exchange).
 *
 * What is checked: bytes read past the upgrade point reach the new
 * protocol (or TLS) first and are not lost; nothing newer passes them;
 * plaintext written before the switch goes out before the TLS bytes;
 * the watermarks and the read and write pauses carry over; failures
 * reach the protocol; a refused hand-over changes nothing.  The contract
 * checker runs throughout (a second connection_made after a hand-over is
 * allowed, anything else out of order aborts the test).
 */
#include "tls_certs.h"
#include "unit.h"

#include <stdlib.h>
#include <wire/tls.h>

#define DEADLINE_MS 10000

static struct tls_certs certs;
static struct wire_tls_config *client_cfg, *server_cfg;

/* Once per run (an unchecked fixture, in the runner before it forks). */
static void
certs_setup(void)
{
    ck_assert_int_eq(tls_certs_make(&certs), 0);
    struct wire_error err = {0};
    client_cfg = wire_tls_config_new(false, &err);
    server_cfg = wire_tls_config_new(true, &err);
    ck_assert_ptr_nonnull(client_cfg);
    ck_assert_ptr_nonnull(server_cfg);
    ck_assert_int_eq(wire_tls_config_set_ca(client_cfg, certs.ca, NULL, &err), 0);
    ck_assert_int_eq(wire_tls_config_set_cert(server_cfg, certs.server_cert,
                                              certs.server_key, &err),
                     0);
}

static void
certs_teardown(void)
{
    wire_tls_config_unref(client_cfg);
    wire_tls_config_unref(server_cfg);
    client_cfg = server_cfg = NULL;
    tls_certs_remove(&certs);
}

/* ---- a STARTTLS-speaking protocol ----
 *
 * Client: sends "STARTTLS\n" and (pipelined) starts TLS at once, or waits
 * for "OK\n" first.  Server: on the line "STARTTLS\n" optionally answers
 * "OK\n" in plaintext, then starts TLS with whatever followed the line in
 * the same read.  Over TLS, the server echoes and the client sends
 * `payload` and collects the echo.
 */
struct stls {
    struct wire_protocol base;
    bool server, wait_ok, reply_ok;
    bool pause_before;         /* server: pause reading on the plain
                                * transport before starting TLS */
    size_t high, low;          /* server: limits to set before (0: none) */
    size_t blob;               /* server: plaintext bytes to send before */
    struct wire_tls_config *cfg;
    const char *name;          /* client: the name to verify */
    int made;
    struct wire_transport *plain, *tls;
    char line[256];
    size_t line_len;
    size_t blob_seen;          /* client: plaintext blob bytes read */
    size_t pending;            /* bytes passed to wire_tls_start */
    int start_rc;
    char *in;
    size_t in_len, in_cap;
    const char *payload;
    int data_before_resume;
    int paused_w, resumed_w, resumed_after_tls;
    bool lost, lost_null;
    int lost_code;
    char lost_msg[512];
    size_t got_high, got_low;
    bool tls_reading_at_made;
};

static void
stls_begin_tls(struct stls *s, const void *rest, size_t len)
{
    struct wire_error err = {0};
    s->pending = len;
    s->start_rc = wire_tls_start(s->plain, s->cfg, s->server ? NULL : s->name,
                                 rest, len, &err);
    ck_assert_msg(s->start_rc == 0, "wire_tls_start: %s", err.message);
    wire_error_clear(&err);
}

static void
stls_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct stls *s = (struct stls *)p;
    s->made++;
    if (s->made == 1) {
        s->plain = t;
        if (s->server) {
            if (s->high > 0)
                ck_assert_int_eq(wire_transport_set_write_buffer_limits(t, s->high, s->low), 0);
            if (s->blob > 0) {
                char *b = malloc(s->blob);
                ck_assert_ptr_nonnull(b);
                memset(b, 'x', s->blob);
                ck_assert_int_eq(wire_transport_write(t, b, s->blob), 0);
                free(b);
            }
            return;
        }
        if (s->blob > 0 || s->wait_ok) {
            /* wait for the blob, or for OK, in data_received */
            ck_assert_int_eq(wire_transport_write(t, "STARTTLS\n", 9), 0);
            return;
        }
        ck_assert_int_eq(wire_transport_write(t, "STARTTLS\n", 9), 0);
        stls_begin_tls(s, NULL, 0); /* pipelined: the ClientHello follows */
        return;
    }
    /* The TLS transport. */
    ck_assert_int_eq(s->made, 2);
    ck_assert_ptr_ne(t, s->plain);
    ck_assert_str_eq(wire_transport_name(t), "tls");
    s->tls = t;
    s->tls_reading_at_made = wire_transport_is_reading(t);
    wire_transport_get_write_buffer_limits(t, &s->got_high, &s->got_low);
    if (!s->server && s->payload != NULL)
        ck_assert_int_eq(wire_transport_write(t, s->payload, strlen(s->payload)), 0);
}

static void
stls_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct stls *s = (struct stls *)p;
    if (s->made >= 2) {
        /* over TLS */
        unit_append(&s->in, &s->in_len, &s->in_cap, data, len);
        if (s->server) {
            ck_assert_int_eq(wire_transport_write(s->tls, data, len), 0);
        } else if (s->payload != NULL && s->in_len >= strlen(s->payload)) {
            wire_transport_close(s->tls);
        }
        return;
    }
    const char *d = data;
    if (!s->server && s->blob > 0) {
        /* the server's plaintext blob, then start TLS */
        s->blob_seen += len;
        ck_assert_uint_le(s->blob_seen, s->blob);
        if (s->blob_seen == s->blob)
            stls_begin_tls(s, NULL, 0);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        ck_assert_uint_lt(s->line_len, sizeof(s->line) - 1);
        s->line[s->line_len++] = d[i];
        if (d[i] != '\n')
            continue;
        s->line[s->line_len] = '\0';
        if (s->server) {
            ck_assert_str_eq(s->line, "STARTTLS\n");
            if (s->reply_ok)
                ck_assert_int_eq(wire_transport_write(s->plain, "OK\n", 3), 0);
            if (s->pause_before)
                ck_assert_int_eq(wire_transport_pause_reading(s->plain), 0);
        } else {
            ck_assert_str_eq(s->line, "OK\n");
        }
        stls_begin_tls(s, d + i + 1, len - i - 1);
        return; /* the rest belongs to TLS now */
    }
}

static bool
stls_eof(struct wire_protocol *p)
{
    (void)p;
    return false;
}

static void
stls_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct stls *s = (struct stls *)p;
    s->lost = true;
    s->lost_null = err == NULL;
    if (err != NULL) {
        s->lost_code = err->code;
        snprintf(s->lost_msg, sizeof(s->lost_msg), "%s", err->message);
    }
}

static void
stls_pause_w(struct wire_protocol *p)
{
    struct stls *s = (struct stls *)p;
    s->paused_w++;
}

static void
stls_resume_w(struct wire_protocol *p)
{
    struct stls *s = (struct stls *)p;
    s->resumed_w++;
    if (s->made >= 2)
        s->resumed_after_tls++;
}

static void
stls_destroy(struct wire_protocol *p)
{
    (void)p;
    unit_live_protocols--;
}

static const struct wire_protocol_ops stls_ops = {
    .connection_made = stls_made,
    .data_received = stls_data,
    .eof_received = stls_eof,
    .connection_lost = stls_lost,
    .pause_writing = stls_pause_w,
    .resume_writing = stls_resume_w,
    .destroy = stls_destroy,
};

static void
stls_init(struct stls *s, bool server)
{
    memset(s, 0, sizeof(*s));
    wire_protocol_init(&s->base, &stls_ops);
    s->server = server;
    s->cfg = server ? server_cfg : client_cfg;
    s->name = "localhost";
    unit_live_protocols++;
}

static bool
both_lost(void *arg)
{
    struct stls *s = arg;
    return s[0].lost && s[1].lost;
}

static bool
echo_done(void *arg)
{
    struct stls *s = arg; /* s[0] client, s[1] server */
    return s[0].lost && s[1].lost && s[0].payload != NULL &&
           s[0].in_len >= strlen(s[0].payload);
}

static void
stls_free(struct stls *s)
{
    free(s->in);
}

/* Run a client/server pair over the memory pair (or TCP when `tcp`). */
static struct wire_loop *
run_pair(struct stls *s, size_t bufsize)
{
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(wire_mem_pair(loop, &s[0].base, &s[1].base, bufsize, NULL, NULL), 0);
    return loop;
}

/* 1. Pipelined STARTTLS: the ClientHello comes in the same read as the
 * line, so it reaches TLS through `pending`; then an echo over TLS. */
START_TEST(test_pipelined_readahead)
{
    struct stls s[2];
    stls_init(&s[0], false);
    stls_init(&s[1], true);
    s[0].payload = "hello over tls\n";
    struct wire_loop *loop = run_pair(s, 0);
    ck_assert(unit_run_until(loop, echo_done, s, DEADLINE_MS));
    ck_assert_msg(s[1].pending > 0, "the ClientHello did not come with the line");
    ck_assert_int_eq(s[0].made, 2);
    ck_assert_int_eq(s[1].made, 2);
    ck_assert_str_eq(s[0].in, "hello over tls\n");
    ck_assert_str_eq(s[1].in, "hello over tls\n");
    ck_assert(s[0].lost_null);
    ck_assert(s[1].lost_null);
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    stls_free(&s[0]);
    stls_free(&s[1]);
}
END_TEST

/* 2. A line exchange first: the server's plaintext "OK\n" goes out
 * before its TLS bytes, the client upgrades only after reading it. */
START_TEST(test_line_exchange)
{
    struct stls s[2];
    stls_init(&s[0], false);
    stls_init(&s[1], true);
    s[0].wait_ok = true;
    s[1].reply_ok = true;
    s[0].payload = "after OK\n";
    struct wire_loop *loop = run_pair(s, 0);
    ck_assert(unit_run_until(loop, echo_done, s, DEADLINE_MS));
    ck_assert_str_eq(s[0].line, "OK\n");
    ck_assert_uint_eq(s[0].pending, 0);
    ck_assert_str_eq(s[0].in, "after OK\n");
    ck_assert(s[0].lost_null && s[1].lost_null);
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    stls_free(&s[0]);
    stls_free(&s[1]);
}
END_TEST

/* 3. Watermarks and a read pause carry over: the server set limits and
 * paused reading before the upgrade; its TLS transport has the same
 * limits and delivers nothing until the protocol resumes it there. */
static bool
client_payload_flushed(void *arg)
{
    struct stls *s = arg;
    return s[0].tls != NULL && s[1].tls != NULL &&
           wire_transport_get_write_buffer_size(s[0].tls) == 0 &&
           wire_transport_get_write_buffer_size(s[0].plain) == 0;
}

static bool
server_got_payload(void *arg)
{
    struct stls *s = arg;
    return s[1].payload != NULL && s[1].in_len >= strlen(s[1].payload);
}

START_TEST(test_pause_and_limits_carry_over)
{
    struct stls s[2];
    stls_init(&s[0], false);
    stls_init(&s[1], true);
    s[0].payload = "held until resumed\n";
    s[0].wait_ok = true;
    s[1].reply_ok = true;
    s[1].pause_before = true;
    s[1].high = 3000;
    s[1].low = 700;
    struct wire_loop *loop = run_pair(s, 0);
    ck_assert(unit_run_until(loop, client_payload_flushed, s, DEADLINE_MS));
    ck_assert_uint_eq(s[1].got_high, 3000);
    ck_assert_uint_eq(s[1].got_low, 700);
    ck_assert(!s[1].tls_reading_at_made);
    ck_assert(!wire_transport_is_reading(s[1].tls));
    /* A few more turns: the client's record is with the server, which
     * must still hold it. */
    for (int i = 0; i < 5; i++)
        wire_loop_run_once(loop, false);
    ck_assert_uint_eq(s[1].in_len, 0);
    ck_assert_int_eq(wire_transport_resume_reading(s[1].tls), 0);
    s[1].payload = s[0].payload;
    ck_assert(unit_run_until(loop, server_got_payload, s, DEADLINE_MS));
    ck_assert(unit_run_until(loop, echo_done, s, DEADLINE_MS));
    ck_assert_str_eq(s[1].in, "held until resumed\n");
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    stls_free(&s[0]);
    stls_free(&s[1]);
}
END_TEST

/* 4. A write pause carries over: the server's plaintext blob is above
 * its high mark when it upgrades; its TLS transport owes it the
 * resume_writing, and the contract checker sees strict alternation. */
START_TEST(test_write_pause_carries_over)
{
    struct stls s[2];
    stls_init(&s[0], false);
    stls_init(&s[1], true);
    s[0].payload = "after the blob\n";
    s[0].blob = 200000;
    s[1].blob = 200000;
    s[1].high = 4096;
    s[1].low = 1024;
    struct wire_loop *loop = run_pair(s, 4096);
    ck_assert(unit_run_until(loop, echo_done, s, DEADLINE_MS));
    ck_assert_int_eq(s[1].paused_w, 1);
    ck_assert_int_eq(s[1].resumed_w, 1);
    ck_assert_int_eq(s[1].resumed_after_tls, 1);
    ck_assert_uint_eq(s[0].blob_seen, 200000);
    ck_assert_str_eq(s[1].in, "after the blob\n");
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    stls_free(&s[0]);
    stls_free(&s[1]);
}
END_TEST

/* 5. A failing upgrade reaches the protocol: the client verifies a name
 * the server's certificate does not have. */
START_TEST(test_failed_upgrade_reaches_protocol)
{
    struct stls s[2];
    stls_init(&s[0], false);
    stls_init(&s[1], true);
    s[0].name = "not-this-host.example";
    s[0].payload = "never\n";
    struct wire_loop *loop = run_pair(s, 0);
    ck_assert(unit_run_until(loop, both_lost, s, DEADLINE_MS));
    ck_assert_int_eq(s[0].lost_code, WIRE_ETLS);
    ck_assert_contains(s[0].lost_msg, "not-this-host.example");
    ck_assert_uint_eq(s[1].in_len, 0);
    ck_assert(!s[1].lost_null);
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    stls_free(&s[0]);
    stls_free(&s[1]);
}
END_TEST

/* 6. STARTTLS over real TCP sockets (127.0.0.1, ephemeral port). */
struct tcp_ctx {
    struct stls *s;
    bool connected;
    int connect_code;
};

static struct wire_protocol *
tcp_factory(void *arg)
{
    struct tcp_ctx *c = arg;
    return &c->s[1].base;
}

static void
tcp_connected(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct tcp_ctx *c = arg;
    (void)t;
    c->connected = true;
    c->connect_code = err != NULL ? err->code : 0;
}

START_TEST(test_tcp)
{
    struct stls s[2];
    stls_init(&s[0], false);
    stls_init(&s[1], true);
    s[0].payload = "over tcp\n";
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct tcp_ctx c = {.s = s};
    struct wire_server *srv = NULL;
    struct wire_error err = {0};
    ck_assert_msg(wire_listen(loop, "tcp://127.0.0.1:0", tcp_factory, &c, NULL,
                              &srv, &err) == 0,
                  "listen: %s", err.message);
    const char *addr = wire_server_address(srv);
    ck_assert_ptr_nonnull(addr);
    ck_assert_msg(wire_connect(loop, addr, &s[0].base, NULL, tcp_connected, &c, &err) == 0,
                  "connect: %s", err.message);
    ck_assert(unit_run_until(loop, echo_done, s, DEADLINE_MS));
    ck_assert_int_eq(c.connect_code, 0);
    ck_assert_str_eq(s[0].in, "over tcp\n");
    ck_assert(s[0].lost_null && s[1].lost_null);
    wire_server_free(srv);
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    stls_free(&s[0]);
    stls_free(&s[1]);
}
END_TEST

/* ---- wire_transport_set_protocol ---- */

/* A plain protocol that hands its transport over to `next` when it sees
 * '!', passing what followed it in the same read as pending bytes. */
struct switcher {
    struct wire_protocol base;
    struct wire_protocol *next;
    struct wire_transport *t;
    char seen[64];
    size_t seen_len;
    struct wire_protocol *returned;
    int rc;
    char msg[256];
    bool lost;
};

static void
sw_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct switcher *w = (struct switcher *)p;
    w->t = t;
}

static void
sw_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct switcher *w = (struct switcher *)p;
    const char *d = data;
    for (size_t i = 0; i < len; i++) {
        w->seen[w->seen_len++] = d[i];
        if (d[i] != '!')
            continue;
        struct wire_error err = {0};
        w->returned = wire_transport_set_protocol(w->t, w->next, d + i + 1,
                                                  len - i - 1, &err);
        w->rc = err.code;
        snprintf(w->msg, sizeof(w->msg), "%s", err.message ? err.message : "");
        wire_error_clear(&err);
        return;
    }
}

static void
sw_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct switcher *w = (struct switcher *)p;
    (void)err;
    w->lost = true;
}

static void
sw_destroy(struct wire_protocol *p)
{
    (void)p;
    unit_live_protocols--;
}

static const struct wire_protocol_ops sw_ops = {
    .connection_made = sw_made,
    .data_received = sw_data,
    .connection_lost = sw_lost,
    .destroy = sw_destroy,
};

static void
sw_init(struct switcher *w, struct wire_protocol *next)
{
    memset(w, 0, sizeof(*w));
    wire_protocol_init(&w->base, &sw_ops);
    w->next = next;
    unit_live_protocols++;
}

static bool
rec_has(void *arg)
{
    struct rec_log *log = arg;
    return log->in_len >= (size_t)log->user_n;
}

/* 7. The new protocol gets the read-ahead bytes first, then newer ones,
 * in order; the old protocol comes back to the caller and is never lost
 * by the transport. */
static void
pause_in_made(struct rec_log *log, struct wire_transport *t)
{
    (void)log;
    ck_assert_int_eq(wire_transport_pause_reading(t), 0);
}

static void
set_protocol_case(bool pause_new)
{
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct rec_log peer = {0}, next_log = {0};
    if (pause_new)
        next_log.on_made = pause_in_made;
    struct wire_protocol *next = rec_new(&next_log);
    struct switcher w;
    sw_init(&w, next);
    struct wire_transport *ta = NULL;
    ck_assert_int_eq(wire_mem_pair(loop, rec_new(&peer), &w.base, 0, &ta, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &peer, DEADLINE_MS));
    /* One write: "abc!" and the read-ahead "def" arrive in one read. */
    ck_assert_int_eq(wire_transport_write(ta, "abc!def", 7), 0);
    ck_assert_int_eq(wire_transport_write(ta, "ghi", 3), 0);
    next_log.user_n = pause_new ? 3 : 6;
    if (pause_new) {
        /* Nothing may reach the paused protocol; run until the switch
         * happened and the peer's queue is flushed. */
        ck_assert(unit_run_until(loop, log_made, &next_log, DEADLINE_MS));
        for (int i = 0; i < 5; i++)
            wire_loop_run_once(loop, false);
        ck_assert_uint_eq(next_log.in_len, 0);
        ck_assert_int_eq(wire_transport_resume_reading(next_log.t), 0);
        next_log.user_n = 6;
    }
    ck_assert(unit_run_until(loop, rec_has, &next_log, DEADLINE_MS));
    ck_assert_ptr_eq(w.returned, &w.base);
    ck_assert_int_eq(w.seen_len, 4);
    ck_assert_str_eq(rec_in(&next_log), "defghi");
    ck_assert_int_eq(next_log.made, 1);
    /* The new protocol owns the transport: it can write and close. */
    ck_assert_int_eq(wire_transport_write(next_log.t, "back", 4), 0);
    peer.user_n = 4;
    ck_assert(unit_run_until(loop, rec_has, &peer, DEADLINE_MS));
    ck_assert_str_eq(rec_in(&peer), "back");
    wire_transport_close(next_log.t);
    ck_assert(unit_run_until(loop, log_lost, &next_log, DEADLINE_MS));
    ck_assert(unit_run_until(loop, log_lost, &peer, DEADLINE_MS));
    ck_assert(!w.lost); /* detached: no connection_lost */
    wire_protocol_destroy(w.returned);
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&peer);
    rec_log_free(&next_log);
}

START_TEST(test_set_protocol_pending_first)
{
    set_protocol_case(false);
}
END_TEST

START_TEST(test_set_protocol_new_protocol_paused)
{
    set_protocol_case(true);
}
END_TEST

/* 8. Above a lines layer: the lines after the switching one, parsed in
 * the same read, go to the new protocol (the layer's delivery path
 * follows the change). */
START_TEST(test_set_protocol_above_layer)
{
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct rec_log peer = {0}, next_log = {.messages = true};
    struct wire_protocol *next = rec_new(&next_log);
    struct switcher w;
    sw_init(&w, next);
    struct wire_chunk_opts o;
    wire_lines_opts_init(&o, false, false);
    struct wire_error err = {0};
    struct wire_protocol *lines = wire_chunk_layer_new(&w.base, &o, &err);
    ck_assert_ptr_nonnull(lines);
    struct wire_transport *ta = NULL;
    ck_assert_int_eq(wire_mem_pair(loop, rec_new(&peer), lines, 0, &ta, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &peer, DEADLINE_MS));
    ck_assert_int_eq(wire_transport_write(ta, "a!\nb\n\nc\n", 9), 0);
    next_log.user_n = 2;
    ck_assert(unit_run_until(loop, rec_has, &next_log, DEADLINE_MS));
    ck_assert_ptr_eq(w.returned, &w.base);
    ck_assert_str_eq(rec_escaped(&next_log), "b||c|");
    ck_assert_str_eq(wire_transport_name(next_log.t), "lines");
    ck_assert_int_eq(wire_line_write(next_log.t, "pong"), 0);
    peer.user_n = 5;
    ck_assert(unit_run_until(loop, rec_has, &peer, DEADLINE_MS));
    ck_assert_str_eq(rec_in(&peer), "pong\n");
    wire_transport_close(next_log.t);
    ck_assert(unit_run_until(loop, log_lost, &peer, DEADLINE_MS));
    ck_assert(unit_run_until(loop, log_lost, &next_log, DEADLINE_MS));
    wire_protocol_destroy(w.returned);
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&peer);
    rec_log_free(&next_log);
}
END_TEST

/* 9. Refusals change nothing: a protocol that already has a transport,
 * a transport that is closing. */
START_TEST(test_set_protocol_refused)
{
    struct wire_loop *loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct rec_log a = {0}, b = {0}, c = {0};
    struct wire_protocol *pc = rec_new(&c);
    struct wire_transport *ta = NULL, *tb = NULL;
    ck_assert_int_eq(wire_mem_pair(loop, rec_new(&a), rec_new(&b), 0, &ta, &tb), 0);
    ck_assert(unit_run_until(loop, log_made, &b, DEADLINE_MS));
    struct wire_error err = {0};
    /* b's protocol is made already: it cannot be given to ta. */
    ck_assert_ptr_null(wire_transport_set_protocol(ta, wire_transport_protocol(tb),
                                                   NULL, 0, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    wire_error_clear(&err);
    wire_transport_close(ta);
    ck_assert_ptr_null(wire_transport_set_protocol(ta, pc, "x", 1, &err));
    ck_assert_int_eq(err.code, WIRE_ECLOSED);
    ck_assert_contains(err.message, "not open");
    wire_error_clear(&err);
    ck_assert_int_eq(wire_tls_start(ta, client_cfg, "localhost", NULL, 0, &err),
                     WIRE_ECLOSED);
    wire_error_clear(&err);
    ck_assert_int_eq(wire_tls_start(tb, server_cfg, "localhost", NULL, 0, &err),
                     WIRE_EINVAL);
    wire_error_clear(&err);
    ck_assert(unit_run_until(loop, log_lost, &a, DEADLINE_MS));
    ck_assert(unit_run_until(loop, log_lost, &b, DEADLINE_MS));
    ck_assert_int_eq(c.made, 0);
    wire_protocol_destroy(pc);
    ck_assert_int_ge(wire_loop_run(loop), 0);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&a);
    rec_log_free(&b);
    rec_log_free(&c);
}
END_TEST

Suite *
starttls_suite(void)
{
    Suite *s = suite_create("starttls");
    TCase *tc = tcase_create("starttls");
    tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
    tcase_add_checked_fixture(tc, unit_setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pipelined_readahead);
    tcase_add_test(tc, test_line_exchange);
    tcase_add_test(tc, test_pause_and_limits_carry_over);
    tcase_add_test(tc, test_write_pause_carries_over);
    tcase_add_test(tc, test_failed_upgrade_reaches_protocol);
    tcase_add_test(tc, test_tcp);
    tcase_add_test(tc, test_set_protocol_pending_first);
    tcase_add_test(tc, test_set_protocol_new_protocol_paused);
    tcase_add_test(tc, test_set_protocol_above_layer);
    tcase_add_test(tc, test_set_protocol_refused);
    suite_add_tcase(s, tc);
    return s;
}
