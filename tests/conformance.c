/*
 * The transport conformance suite: every case runs once per entry of the
 * factory table (conf_factories.c), as a Check loop test whose index is
 * the factory; failure messages start with the factory's name.
 *
 * This file holds the runner and the data cases (integrity, gathered
 * writes, watermarks, pausing reading, the PEP pause); conf_cases_close.c
 * holds half-close, close, abort and re-entrancy; conf_cases_net.c holds
 * connect failures, server shutdown, get_info and the relay.
 *
 * Environment: WIRE_TEST_BULK_MB (default 64) sizes the bulk transfers,
 * WIRE_TEST_TIME_SCALE stretches deadlines (valgrind), WIRE_TEST_SEED
 * changes the random sizes and streams, WIRE_TEST_REQUIRE_ALL=1 makes an
 * unavailable transport (no ::1) a failure instead of a note.
 */
#include "conf.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- 1. integrity: a bulk stream each way at once ---- */

START_TEST(t_integrity)
{
    struct conf_ctx *c = conf_begin(_i, "integrity");
    if (c == NULL)
        return;
    size_t total = conf_bulk();
    struct probe *a = probe_new(c, "client");
    struct probe *b = probe_new(c, "server");
    uint64_t sa = c->seed ^ 0xa, sb = c->seed ^ 0xb;
    probe_pump(a, sa, total, CONF_MIX, 1, 256 * CONF_KIB);
    probe_pump(b, sb, total, CONF_MIX, 1, 256 * CONF_KIB);
    probe_verify(a, sb, 0);
    probe_verify(b, sa, 0);
    conf_probe_pair(c, a, b);
    CONF_WAIT(c, a->rx == total && b->rx == total, 120000,
              "both streams received");
    CK(c, a->pump.done && b->pump.done, "a pump is not done");
    for (int m = 0; m < 3; m++)
        CK(c, a->pump.writes[m] > 0 && b->pump.writes[m] > 0,
           "write method %d never used", m);
    /* With less than the kernel's socket buffers (WIRE_TEST_BULK_MB set
     * low, e.g. for valgrind) a transfer may never need to pause. */
    CK(c, a->pauses > 0 || b->pauses > 0 || total < 16 * CONF_MIB,
       "no pause_writing during a bulk transfer: flow control untested");
    conf_close(a);
    conf_close(b);
    CONF_WAIT(c, a->lost && b->lost, 10000, "both connections lost");
    CK(c, a->lost_code == 0 && b->lost_code == 0, "unclean close: %s / %s",
       a->lost_msg, b->lost_msg);
    CK(c, a->rx == total && b->rx == total, "extra bytes after the stream");
    conf_end(c);
}
END_TEST

/* ---- 2. write_sequence is the same as writes ---- */

START_TEST(t_write_sequence)
{
    struct conf_ctx *c = conf_begin(_i, "write_sequence");
    if (c == NULL)
        return;
    const size_t L = 1 * CONF_MIB;
    uint64_t s = c->seed;
    struct probe *a = probe_new(c, "client");
    struct probe *b = probe_new(c, "server");
    probe_verify(b, s, L);
    conf_probe_pair(c, a, b);
    struct wire_transport *t = a->t;

    /* Degenerate sequences write nothing and succeed; a bad count is
     * refused. */
    struct iovec empty[3] = {{NULL, 0}, {&s, 0}, {NULL, 0}};
    CK(c, wire_transport_write_sequence(t, NULL, 0) == 0, "0 iovecs");
    CK(c, wire_transport_write_sequence(t, empty, 3) == 0, "empty iovecs");
    CK(c, wire_transport_write_sequence(t, empty, -1) == WIRE_EINVAL,
       "negative iovcnt accepted");
    CK(c, wire_transport_get_write_buffer_size(t) == 0,
       "empty writes queued bytes");

    /* The stream once with plain writes, once with gathered writes in
     * random pieces (empty ones mixed in)... */
    probe_pump(a, s, L, CONF_WRITE, 1, 64 * CONF_KIB);
    conf_pump_run(a);
    CONF_WAIT(c, a->pump.done, 20000, "plain writes sent");
    probe_pump(a, s, L, CONF_SEQUENCE, 1, 64 * CONF_KIB);
    a->pump.rng ^= 0x77;
    conf_pump_run(a);
    CONF_WAIT(c, a->pump.done, 20000, "gathered writes sent");
    CK(c, a->pump.writes[CONF_SEQUENCE] > 0, "no gathered write");

    /* ...and once more in one sequence of more pieces than IOV_MAX. */
    enum { NIOV = 2500 };
    struct iovec *iov = calloc(NIOV, sizeof(*iov));
    uint8_t *buf = malloc(NIOV * 40);
    CK(c, iov != NULL && buf != NULL, "out of memory");
    uint64_t rng = c->seed | 1;
    size_t n = 0;
    for (int i = 0; i < NIOV; i++) {
        size_t len = (size_t)(conf_rand(&rng) % 41) & ~(size_t)(i % 7 == 0 ? 63 : 0);
        iov[i].iov_base = len ? buf + n : NULL;
        iov[i].iov_len = len;
        n += len;
    }
    conf_stream_fill(s, 0, buf, n);
    CK(c, wire_transport_write_sequence(t, iov, NIOV) == 0,
       "write_sequence of %d pieces failed", NIOV);
    free(iov);
    free(buf);
    CONF_WAIT(c, b->rx == 2 * L + n || b->lost, 20000, "all bytes received");
    CK(c, b->rx == 2 * L + n, "received %llu of %zu bytes",
       (unsigned long long)b->rx, 2 * L + n);
    CK(c, !a->lost, "writer lost: %s", a->lost_msg);
    conf_close(a);
    CONF_WAIT(c, a->lost && b->lost, 10000, "both connections lost");
    CK(c, a->lost_code == 0, "close: %s", a->lost_msg);
    conf_end(c);
}
END_TEST

/* ---- 3. watermarks ---- */

struct wm {
    struct conf_ctx *c;
    struct probe *reader;
    struct wire_timer *tm;
    bool slow;
};

static void
wm_made(struct probe *p)
{
    struct conf_ctx *c = p->ctx;
    size_t high, low;
    /* Small kernel buffers, so the transport's own queue is what fills. */
    conf_shrink_buffers(c, p->t);
    int rc = wire_transport_set_write_buffer_limits(p->t, 0, SIZE_MAX);
    wire_transport_get_write_buffer_limits(p->t, &high, &low);
    if (rc != 0 || high != 64 * CONF_KIB || low != 16 * CONF_KIB)
        conf_violation(c, "default limits: rc %d high %zu low %zu", rc, high,
                       low);
    if (wire_transport_set_write_buffer_limits(p->t, 100, 200) != WIRE_EINVAL)
        conf_violation(c, "low above high accepted");
    wire_transport_get_write_buffer_limits(p->t, &high, &low);
    if (high != 64 * CONF_KIB || low != 16 * CONF_KIB)
        conf_violation(c, "refused limits changed the limits");
    rc = wire_transport_set_write_buffer_limits(p->t, 4096, 1024);
    wire_transport_get_write_buffer_limits(p->t, &high, &low);
    if (rc != 0 || high != 4096 || low != 1024)
        conf_violation(c, "limits 4096/1024: rc %d high %zu low %zu", rc,
                       high, low);
}

static void
reader_pause_made(struct probe *p)
{
    conf_shrink_buffers(p->ctx, p->t);
    probe_pause_reading(p);
}

static void
wm_resume_fire(void *arg)
{
    struct wm *w = arg;
    if (w->reader->t != NULL && !w->reader->lost)
        probe_resume_reading(w->reader);
    w->c->wake = true;
}

static void
wm_slow_data(struct probe *p, const void *data, size_t len)
{
    struct wm *w = p->user;
    (void)data;
    (void)len;
    if (!w->slow)
        return;
    /* A slow reader: one read, then a pause until the loop turned. */
    probe_pause_reading(p);
    wire_timer_start(w->tm, 0, 0);
}

START_TEST(t_watermarks)
{
    struct conf_ctx *c = conf_begin(_i, "watermarks");
    if (c == NULL)
        return;
    size_t total = 4 * CONF_MIB;
    struct probe *a = probe_new(c, "writer");
    struct probe *b = probe_new(c, "reader");
    struct wm w = {c, b, NULL, false};
    w.tm = wire_timer_new(c->loop, wm_resume_fire, &w);
    a->on_made = wm_made;
    a->check_water = true;
    probe_pump(a, c->seed, total, CONF_WRITE, 100, 3000);
    b->on_made = reader_pause_made;
    b->on_data = wm_slow_data;
    b->user = &w;
    probe_verify(b, c->seed, 0);
    /* Where the client's end is up first (client_ahead: exec), its writes
     * would pause and resume against what is there while the server's
     * end is still coming: it writes once both ends are up. */
    a->pump.autostart = !c->f->client_ahead;
    conf_probe_pair(c, a, b);
    if (!a->pump.autostart)
        conf_pump_run(a);
    CONF_WAIT(c, a->pauses == 1, 20000, "pause_writing with a paused reader");
    CK(c, a->size_at_pause > 4096, "paused at %zu bytes", a->size_at_pause);
    /* Writing on while paused is allowed; with more queued than the
     * kernel buffers can take, nothing can drain until the reader reads
     * (a short queue could: TCP frees send buffer as late ACKs come). */
    CK(c, probe_write_stream(a, c->seed, a->pump.sent, 512 * CONF_KIB) == 0,
       "write while paused");
    a->pump.sent += 512 * CONF_KIB;
    CK(c, wire_transport_get_write_buffer_size(a->t) > 256 * CONF_KIB,
       "buffer at or below the high mark while paused");
    conf_turns(c, 5);
    CK(c, a->resumes == 0, "resume_writing although nothing can drain");

    /* Limits moved across the buffered size take effect at once, still
     * strictly alternating. */
    size_t sz = wire_transport_get_write_buffer_size(a->t);
    a->has_pump = false;
    CK(c, wire_transport_set_write_buffer_limits(a->t, 2 * sz, sz) == 0,
       "raising the limits");
    CK(c, a->resumes == 1 && !a->write_paused,
       "raising the limits above the buffer did not resume writing");
    CK(c, wire_transport_set_write_buffer_limits(a->t, 4096, 1024) == 0,
       "lowering the limits");
    CK(c, a->pauses == 2 && a->write_paused,
       "lowering the limits below the buffer did not pause writing");
    a->has_pump = true;

    /* Now let the reader read, slowly: writing pauses and resumes in
     * cycles, each time across the marks. */
    w.slow = true;
    probe_resume_reading(b);
    CONF_WAIT(c, b->rx >= total / 2, 60000, "half received");
    /* Wider marks for the second half: the buffer now drains in several
     * steps between them, and resume_writing must still wait for the low
     * mark. */
    CK(c, wire_transport_set_write_buffer_limits(a->t, 32768, 4096) == 0,
       "limits 32768/4096");
    CONF_WAIT(c, b->rx == total, 60000, "everything received");
    CK(c, a->pump.done, "writer did not finish");
    CONF_WAIT(c, !a->write_paused, 10000, "the last resume_writing");
    CK(c, a->pauses >= 3 && a->pauses == a->resumes,
       "pause_writing %d times, resume_writing %d times", a->pauses,
       a->resumes);
    CK(c, wire_transport_get_write_buffer_size(a->t) == 0, "buffer not empty");
    w.slow = false;
    conf_close(a);
    CONF_WAIT(c, a->lost && b->lost, 10000, "both connections lost");
    wire_timer_free(w.tm);
    conf_end(c);
}
END_TEST

/* ---- 4. pausing reading ---- */

struct rp {
    struct conf_ctx *c;
    struct probe *p;
    struct wire_timer *tm;
    int cycles, turns;
};

static void
rp_fire(void *arg)
{
    struct rp *r = arg;
    r->c->wake = true;
    if (r->p->lost || r->p->t == NULL)
        return;
    if (wire_transport_is_reading(r->p->t))
        conf_violation(r->c, "is_reading true while paused");
    /* Stay paused for a few full loop turns, then resume. */
    if (++r->turns < 3) {
        wire_timer_start(r->tm, 0, 0);
        return;
    }
    r->turns = 0;
    probe_resume_reading(r->p);
}

static void
rp_data(struct probe *p, const void *data, size_t len)
{
    struct rp *r = p->user;
    (void)data;
    (void)len;
    if (r->cycles >= 20)
        return;
    r->cycles++;
    if (r->cycles == 1) {
        /* Pausing and resuming inside one callback changes nothing. */
        probe_pause_reading(p);
        probe_resume_reading(p);
    }
    probe_pause_reading(p);
    wire_timer_start(r->tm, 0, 0);
}

START_TEST(t_pause_reading)
{
    struct conf_ctx *c = conf_begin(_i, "pause_reading");
    if (c == NULL)
        return;
    bool half = c->f->caps & CONF_CAP_HALF_CLOSE;
    const size_t N = 2 * CONF_MIB;

    /* Paused from connection_made: nothing arrives until resumed. */
    struct probe *a = probe_new(c, "sender");
    struct probe *b = probe_new(c, "receiver");
    probe_pump(a, c->seed, N, CONF_MIX, 1, 128 * CONF_KIB);
    a->pump.eof_when_done = half;
    b->on_made = reader_pause_made;
    probe_verify(b, c->seed, 0);
    conf_probe_pair(c, a, b);
    CONF_WAIT(c, a->pump.done || a->write_paused, 20000,
              "the sender filled what it can");
    conf_turns(c, 10);
    CK(c, b->datas == 0 && b->eofs == 0,
       "data (%d) or EOF (%d) delivered while paused from connection_made",
       b->datas, b->eofs);
    CK(c, !wire_transport_is_reading(b->t), "is_reading while paused");
    probe_resume_reading(b);
    CK(c, wire_transport_is_reading(b->t), "not reading after resume");
    CONF_WAIT(c, b->rx == N && (!half || b->eofs == 1), 20000,
              "every byte after resume_reading");
    CK(c, !half || b->rx_at_eof == N, "EOF before the last byte");
    if (!half)
        conf_close(a);
    CONF_WAIT(c, a->lost && b->lost, 10000, "both connections lost");

    /* Paused from data_received, many times: nothing lost. */
    struct probe *a2 = probe_new(c, "sender2");
    struct probe *b2 = probe_new(c, "receiver2");
    struct rp r = {c, b2, NULL, 0, 0};
    r.tm = wire_timer_new(c->loop, rp_fire, &r);
    probe_pump(a2, c->seed ^ 5, N, CONF_MIX, 1, 128 * CONF_KIB);
    a2->pump.eof_when_done = half;
    b2->on_data = rp_data;
    b2->user = &r;
    probe_verify(b2, c->seed ^ 5, 0);
    conf_probe_pair(c, a2, b2);
    CONF_WAIT(c, b2->rx == N && (!half || b2->eofs == 1), 30000,
              "every byte with pauses from data_received");
    CK(c, r.cycles >= 2, "only %d pause cycles", r.cycles);
    CK(c, !half || b2->rx_at_eof == N, "EOF before the last byte");
    if (!half)
        conf_close(a2);
    CONF_WAIT(c, a2->lost && b2->lost, 10000, "both connections lost");
    wire_timer_free(r.tm);
    conf_end(c);
}
END_TEST

/* ---- 5. the PEP pause holds both directions ---- */

START_TEST(t_pep_pause)
{
    struct conf_ctx *c = conf_begin(_i, "pep_pause");
    if (c == NULL)
        return;
    const size_t M = 300 * CONF_KIB, MB = 100 * CONF_KIB, M2 = 200 * CONF_KIB;
    uint64_t sa = c->seed ^ 1, sb = c->seed ^ 2;
    struct probe *a = probe_new(c, "paused");
    struct probe *b = probe_new(c, "peer");
    probe_verify(b, sa, 0);
    probe_verify(a, sb, 0);
    conf_probe_pair(c, a, b);

    CK(c, wire_transport_pause(a->t) == 0, "pause");
    a->read_paused = true;
    CK(c, !wire_transport_is_reading(a->t), "is_reading while paused");
    for (size_t off = 0; off < M; off += 50 * CONF_KIB)
        CK(c, probe_write_stream(a, sa, off, 50 * CONF_KIB) == 0, "write");
    CK(c, wire_transport_get_write_buffer_size(a->t) == M,
       "%zu of %zu bytes buffered: bytes went out while paused",
       wire_transport_get_write_buffer_size(a->t), M);
    CK(c, probe_write_stream(b, sb, 0, MB) == 0, "peer write");
    conf_turns(c, 10);
    CK(c, b->datas == 0, "the peer received %llu bytes written while paused",
       (unsigned long long)b->rx);
    CK(c, a->datas == 0, "input delivered while paused");
    CK(c, wire_transport_get_write_buffer_size(a->t) == M, "buffer changed");

    a->read_paused = false;
    CK(c, wire_transport_resume(a->t) == 0, "resume");
    CK(c, wire_transport_is_reading(a->t), "not reading after resume");
    CONF_WAIT(c, b->rx == M && a->rx == MB, 20000,
              "both directions flushed after resume");

    /* close() flushes even while paused. */
    CK(c, wire_transport_pause(a->t) == 0, "pause again");
    a->read_paused = true;
    for (size_t off = 0; off < M2; off += 50 * CONF_KIB)
        CK(c, probe_write_stream(a, sa, M + off, 50 * CONF_KIB) == 0, "write");
    conf_close(a);
    CONF_WAIT(c, a->lost && b->lost, 20000, "both connections lost");
    CK(c, b->eofs == 1 && b->rx_at_eof == M + M2,
       "close while paused: peer got %llu of %zu bytes before EOF (eof %d)",
       (unsigned long long)b->rx_at_eof, M + M2, b->eofs);
    CK(c, a->lost_code == 0 && b->lost_code == 0, "unclean: %s / %s",
       a->lost_msg, b->lost_msg);
    conf_end(c);
}
END_TEST

static TCase *
loop_case(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tc;
}

void
conf_add_data_cases(Suite *s)
{
    TCase *tc = loop_case(s, "data");
    tcase_add_loop_test(tc, t_integrity, 0, conf_nfactories);
    tcase_add_loop_test(tc, t_write_sequence, 0, conf_nfactories);
    tcase_add_loop_test(tc, t_watermarks, 0, conf_nfactories);
    tcase_add_loop_test(tc, t_pause_reading, 0, conf_nfactories);
    tcase_add_loop_test(tc, t_pep_pause, 0, conf_nfactories);
}

/* ---- the runner ---- */

int
main(void)
{
    Suite *s = suite_create("conformance");
    conf_add_data_cases(s);
    conf_add_close_cases(s);
    conf_add_net_cases(s);
    return conf_run(s, "/tmp/wire-conf-XXXXXX");
}
