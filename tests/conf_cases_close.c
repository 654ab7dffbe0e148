/*
 * Conformance cases about ending a connection: half-close both ways,
 * close flushes, abort drops and resets, writes after the end, closing
 * and aborting from inside every callback, and the peer resetting while
 * we still have a queue.
 */
#include "conf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool
is_reset_error(int code)
{
    return code == -ECONNRESET || code == -EPIPE;
}

/* Every write entry point refuses with WIRE_ECLOSED, and write_ref does
 * not take (nor release) the buffer. */
static void
check_writes_closed(struct conf_ctx *c, struct wire_transport *t,
                    const char *when)
{
    char x[16] = "0123456789abcdef";
    struct iovec iov[2] = {{x, 8}, {x + 8, 8}};
    int rc = wire_transport_write(t, x, sizeof(x));
    CK(c, rc == WIRE_ECLOSED, "write after %s: %s", when, wire_err_name(rc));
    rc = wire_transport_write_sequence(t, iov, 2);
    CK(c, rc == WIRE_ECLOSED, "write_sequence after %s: %s", when,
       wire_err_name(rc));
    void *b = conf_ref_alloc(c, 64);
    int before = c->refs_out;
    rc = wire_transport_write_ref(t, b, 64, conf_ref_free, c);
    CK(c, rc == WIRE_ECLOSED, "write_ref after %s: %s", when,
       wire_err_name(rc));
    CK(c, c->refs_out == before, "write_ref released a refused buffer");
    conf_ref_free(c, b, 64);
}

static void
peer_pause_made(struct probe *p)
{
    probe_pause_reading(p);
}

/* ---- 6. half-close both ways ---- */

static void
half_close_once(struct conf_ctx *c, bool client_first)
{
    const size_t X = 64 * CONF_KIB, Y = 2 * CONF_MIB;
    struct probe *cl = probe_new(c, "client");
    struct probe *sv = probe_new(c, "server");
    conf_probe_pair(c, cl, sv);
    struct probe *x = client_first ? cl : sv;
    struct probe *y = client_first ? sv : cl;
    uint64_t sx = c->seed ^ 0x11, sy = c->seed ^ 0x22;

    if (!(c->f->caps & CONF_CAP_HALF_CLOSE)) {
        /* Declared: no half-close.  write_eof says so and changes
         * nothing. */
        CK(c, !wire_transport_can_write_eof(x->t), "can_write_eof is true");
        CK(c, wire_transport_write_eof(x->t) == WIRE_ENOTSUP,
           "write_eof did not return WIRE_ENOTSUP");
        CK(c, probe_write_stream(x, sx, 0, 100) == 0, "write after ENOTSUP");
        conf_close(x);
        CONF_WAIT(c, x->lost && y->lost, 10000, "both connections lost");
        return;
    }
    CK(c, wire_transport_can_write_eof(x->t), "can_write_eof is false");
    probe_verify(y, sx, 0);
    probe_verify(x, sy, 0);
    y->keep_open = true;
    CK(c, probe_write_stream(x, sx, 0, X) == 0, "write");
    CK(c, wire_transport_write_eof(x->t) == 0, "write_eof");
    CK(c, !wire_transport_is_closing(x->t), "is_closing after write_eof");
    check_writes_closed(c, x->t, "write_eof");
    CONF_WAIT(c, y->eofs == 1, 10000, "the peer's eof_received");
    CK(c, y->rx_at_eof == X, "EOF after %llu of %zu bytes",
       (unsigned long long)y->rx_at_eof, X);
    CK(c, !y->lost && !x->lost, "lost after a half-close");
    /* The peer keeps writing; the half-closed side still receives. */
    probe_pump(y, sy, Y, CONF_MIX, 1, 128 * CONF_KIB);
    y->pump.eof_when_done = true;
    conf_pump_run(y);
    CONF_WAIT(c, x->eofs == 1 && x->lost && y->lost, 20000,
              "the second EOF and both connections lost");
    CK(c, x->rx == Y && x->rx_at_eof == Y, "received %llu of %zu bytes",
       (unsigned long long)x->rx, Y);
    CK(c, x->lost_code == 0 && y->lost_code == 0, "unclean end: %s / %s",
       x->lost_msg, y->lost_msg);
}

START_TEST(t_half_close)
{
    struct conf_ctx *c = conf_begin(_i, "half_close");
    if (c == NULL)
        return;
    half_close_once(c, true);
    half_close_once(c, false);
    conf_end(c);
}
END_TEST

/* ---- 7. close flushes ---- */

START_TEST(t_close_flushes)
{
    struct conf_ctx *c = conf_begin(_i, "close_flushes");
    if (c == NULL)
        return;
    size_t big = conf_bulk() / 8;
    if (big < 4 * CONF_MIB)
        big = 4 * CONF_MIB;
    struct probe *a = probe_new(c, "closer");
    struct probe *b = probe_new(c, "peer");
    probe_verify(b, c->seed, 0);
    conf_probe_pair(c, a, b);
    /* Small kernel buffers: most of it must wait in the transport. */
    conf_shrink_buffers(c, a->t);
    for (size_t off = 0; off < big; off += 256 * CONF_KIB)
        CK(c, probe_write_stream(a, c->seed, off, 256 * CONF_KIB) == 0,
           "write");
    CK(c, wire_transport_get_write_buffer_size(a->t) > 0,
       "nothing queued: the case tests nothing");
    conf_close(a);
    CK(c, a->lost == 0, "connection_lost inside close()");
    CK(c, wire_transport_is_closing(a->t), "is_closing false after close");
    conf_close(a); /* idempotent */
    CONF_WAIT(c, a->lost && b->lost, 30000, "both connections lost");
    CK(c, b->eofs == 1 && b->rx_at_eof == big && b->rx == big,
       "peer got %llu of %zu bytes, EOF %d at %llu",
       (unsigned long long)b->rx, big, b->eofs,
       (unsigned long long)b->rx_at_eof);
    CK(c, a->lost_code == 0 && b->lost_code == 0, "unclean: %s / %s",
       a->lost_msg, b->lost_msg);
    conf_end(c);
}
END_TEST

/* ---- 8. abort drops, the peer sees a reset ---- */

static void
pump_stop_at_pause(struct probe *p)
{
    p->has_pump = false;
}

START_TEST(t_abort)
{
    struct conf_ctx *c = conf_begin(_i, "abort");
    if (c == NULL)
        return;
    struct probe *a = probe_new(c, "aborter");
    struct probe *b = probe_new(c, "peer");
    b->on_made = peer_pause_made;
    a->shrink = b->shrink = true;
    probe_verify(b, c->seed, 0);
    probe_pump(a, c->seed, 64 * conf_bulk(), CONF_REF, 16 * CONF_KIB,
               256 * CONF_KIB);
    a->on_pause = pump_stop_at_pause;
    conf_probe_pair(c, a, b);
    CONF_WAIT(c, a->pauses == 1, 20000, "writes queued up");
    /* More than the (small, fixed) kernel buffers can ever take, so the
     * queue is certainly not empty when abort drops it. */
    for (int i = 0; i < 4; i++) {
        void *buf = conf_ref_alloc(c, 256 * CONF_KIB);
        conf_stream_fill(c->seed, a->pump.sent, buf, 256 * CONF_KIB);
        CK(c, wire_transport_write_ref(a->t, buf, 256 * CONF_KIB,
                                       conf_ref_free, c) == 0, "write_ref");
        a->pump.sent += 256 * CONF_KIB;
    }
    CK(c, wire_transport_get_write_buffer_size(a->t) > 0, "nothing queued");
    CK(c, c->refs_out > 0, "no write_ref buffer held");
    struct wire_transport *t = wire_transport_ref(a->t);
    conf_abort(a);
    CK(c, a->lost == 0, "connection_lost inside abort()");
    CK(c, wire_transport_is_closing(t), "is_closing false after abort");
    CK(c, wire_transport_get_write_buffer_size(t) == 0,
       "queue not dropped by abort");
    check_writes_closed(c, t, "abort");
    conf_abort(a); /* idempotent */
    probe_resume_reading(b);
    CONF_WAIT(c, a->lost && b->lost, 20000, "both connections lost");
    CK(c, a->lost_code == WIRE_EABORTED, "local loss: %s (%s)",
       wire_err_name(a->lost_code), a->lost_msg);
    CK(c, c->refs_out == 0, "%d write_ref buffers not released by abort",
       c->refs_out);
    if (c->f->caps & CONF_CAP_RESET) {
        CK(c, b->lost_code == -ECONNRESET, "peer: %s (%s), not a reset",
           wire_err_name(b->lost_code), b->lost_msg);
    } else if (c->f->caps & CONF_CAP_TRUNCATES) {
        CK(c, b->lost_code == WIRE_ETLS && strstr(b->lost_msg, "truncated") != NULL,
           "peer: %s (%s), not a truncation", wire_err_name(b->lost_code),
           b->lost_msg);
    } else {
        /* Declared: no reset.  The peer sees the bytes that made it, an
         * EOF and a clean close. */
        CK(c, b->eofs == 1 && b->lost_code == 0,
           "peer of a transport that cannot reset: eof %d, %s (%s)", b->eofs,
           wire_err_name(b->lost_code), b->lost_msg);
    }
    check_writes_closed(c, t, "connection_lost");
    wire_transport_unref(t);
    conf_end(c);
}
END_TEST

/* ---- 9. writes after the end, and a peer that went away ---- */

static void
keep_writing_fire(void *arg)
{
    struct probe *p = arg;
    struct conf_ctx *c = p->ctx;
    c->wake = true;
    if (p->lost)
        return;
    int rc = probe_write_stream(p, c->seed, (uint64_t)p->iuser, 64 * CONF_KIB);
    if (rc != 0 && rc != WIRE_ECLOSED)
        conf_violation(c, "write to a closed peer: %s", wire_strerror(rc));
    p->iuser += 64 * (long)CONF_KIB;
}

START_TEST(t_write_after_end)
{
    struct conf_ctx *c = conf_begin(_i, "write_after_end");
    if (c == NULL)
        return;
    /* After close. */
    struct probe *a = probe_new(c, "closer");
    struct probe *b = probe_new(c, "peer");
    conf_probe_pair(c, a, b);
    struct wire_transport *t = wire_transport_ref(a->t);
    conf_close(a);
    check_writes_closed(c, t, "close");
    if (c->f->caps & CONF_CAP_HALF_CLOSE)
        CK(c, wire_transport_write_eof(t) == WIRE_ECLOSED,
           "write_eof after close");
    CONF_WAIT(c, a->lost && b->lost, 10000, "both connections lost");
    check_writes_closed(c, t, "connection_lost");
    wire_transport_unref(t);

    /* After abort. */
    a = probe_new(c, "aborter");
    b = probe_new(c, "peer");
    conf_probe_pair(c, a, b);
    t = wire_transport_ref(a->t);
    conf_abort(a);
    check_writes_closed(c, t, "abort");
    CONF_WAIT(c, a->lost && b->lost, 10000, "both connections lost");
    wire_transport_unref(t);

    /* After write_eof. */
    a = probe_new(c, "half-closer");
    b = probe_new(c, "peer");
    conf_probe_pair(c, a, b);
    if (c->f->caps & CONF_CAP_HALF_CLOSE) {
        CK(c, wire_transport_write_eof(a->t) == 0, "write_eof");
        check_writes_closed(c, a->t, "write_eof");
    } else {
        CK(c, wire_transport_write_eof(a->t) == WIRE_ENOTSUP, "write_eof");
        conf_close(a);
    }
    CONF_WAIT(c, a->lost && b->lost, 10000, "both connections lost");

    /* The peer closed and we keep writing: the loss comes with an error,
     * once, and never a SIGPIPE (which would kill this process). */
    a = probe_new(c, "writer");
    b = probe_new(c, "closer");
    a->keep_open = true;
    conf_probe_pair(c, a, b);
    struct wire_timer *tm = wire_timer_new(c->loop, keep_writing_fire, a);
    a->user = t = wire_transport_ref(a->t);
    conf_close(b);
    long deadline = conf_now_ms() + conf_scale_ms(20000);
    while (!a->lost && conf_now_ms() < deadline) {
        wire_timer_start(tm, 0, 0);
        CONF_WAIT(c, !wire_timer_is_active(tm) || a->lost, 10000,
                  "a write turn");
    }
    CK(c, a->lost == 1, "writing to a closed peer never failed");
    if (c->f->caps & CONF_CAP_HALF_CLOSE)
        CK(c, a->eofs == 1, "no EOF from the closed peer");
    CK(c, is_reset_error(a->lost_code), "writing to a closed peer: %s (%s)",
       wire_err_name(a->lost_code), a->lost_msg);
    check_writes_closed(c, t, "a failed write");
    wire_timer_free(tm);
    wire_transport_unref(t);
    CONF_WAIT(c, b->lost, 10000, "closer lost");
    conf_turns(c, 3);
    CK(c, a->lost == 1, "connection_lost %d times", a->lost);
    conf_end(c);
}
END_TEST

/* ---- 10. close and abort from inside every callback ---- */

enum cb_kind { CB_MADE, CB_DATA, CB_EOF, CB_PAUSE, CB_RESUME, CB_LOST,
               CB_COUNT };
static const char *const cb_names[] = {"connection_made", "data_received",
                                       "eof_received", "pause_writing",
                                       "resume_writing", "connection_lost"};

struct reent {
    int cb;
    bool abort;
    bool acted;
    bool want_peer_resume;
    size_t extra;        /* bytes written in resume_writing before close */
    struct probe *peer;
};

static void
act(struct probe *v)
{
    struct reent *r = v->user;
    struct conf_ctx *c = v->ctx;
    if (r->acted)
        return;
    r->acted = true;
    if (r->cb == CB_RESUME && !r->abort) {
        /* Write more first: close must still flush it. */
        r->extra = 256 * CONF_KIB;
        int rc = probe_write_stream(v, v->pump.seed, v->pump.sent, r->extra);
        if (rc != 0)
            conf_violation(c, "write in resume_writing: %s", wire_strerror(rc));
    }
    if (r->abort) {
        wire_transport_abort(v->t);
        wire_transport_abort(v->t);
        wire_transport_close(v->t);
    } else {
        wire_transport_close(v->t);
        wire_transport_close(v->t);
    }
    if (!wire_transport_is_closing(v->t))
        conf_violation(c, "is_closing false after %s in %s",
                       r->abort ? "abort" : "close", cb_names[r->cb]);
    if (wire_transport_write(v->t, "x", 1) != WIRE_ECLOSED)
        conf_violation(c, "write after %s in %s", r->abort ? "abort" : "close",
                       cb_names[r->cb]);
}

static void
h_made(struct probe *v)
{
    struct reent *r = v->user;
    if (r->cb == CB_MADE)
        act(v);
    else if (r->cb == CB_PAUSE || r->cb == CB_RESUME)
        wire_transport_set_write_buffer_limits(v->t, 4096, 1024);
}

static void
h_data(struct probe *v, const void *data, size_t len)
{
    (void)data;
    (void)len;
    if (((struct reent *)v->user)->cb == CB_DATA)
        act(v);
}

static bool
h_eof(struct probe *v)
{
    struct reent *r = v->user;
    if (r->cb == CB_EOF) {
        act(v);
        return true; /* ignored: the transport is closing */
    }
    return false;
}

static void
h_pause(struct probe *v)
{
    struct reent *r = v->user;
    if (r->cb == CB_PAUSE)
        act(v);
    else
        r->want_peer_resume = true;
}

static void
h_resume(struct probe *v)
{
    if (((struct reent *)v->user)->cb == CB_RESUME)
        act(v);
}

static void
h_lost(struct probe *v, const struct wire_error *err)
{
    struct reent *r = v->user;
    struct conf_ctx *c = v->ctx;
    (void)err;
    if (r->cb != CB_LOST)
        return;
    /* Both are no-ops here; nothing may be delivered again. */
    r->acted = true;
    wire_transport_close(v->t);
    wire_transport_abort(v->t);
    if (wire_transport_write(v->t, "x", 1) != WIRE_ECLOSED)
        conf_violation(c, "write inside connection_lost accepted");
    if (wire_transport_pause_reading(v->t) != WIRE_ECLOSED)
        conf_violation(c, "pause_reading inside connection_lost accepted");
    if (!wire_transport_is_closing(v->t))
        conf_violation(c, "is_closing false inside connection_lost");
}

static void
reentrancy_one(struct conf_ctx *c, int cb, bool abort, bool victim_client)
{
    struct reent r = {cb, abort, false, false, 0, NULL};
    struct probe *cl = probe_new(c, victim_client ? "victim(client)" : "peer(client)");
    struct probe *sv = probe_new(c, victim_client ? "peer(server)" : "victim(server)");
    struct probe *v = victim_client ? cl : sv;
    struct probe *p = victim_client ? sv : cl;
    bool half = c->f->caps & CONF_CAP_HALF_CLOSE;
    r.peer = p;
    /* Declared (client_ahead): a client that aborts in connection_made,
     * or in the pause_writing its first writes bring, may be gone before
     * its server end exists, whose protocol is then never used. */
    bool ahead = c->f->client_ahead && victim_client && abort &&
                 (cb == CB_MADE || cb == CB_PAUSE);
    v->user = &r;
    v->on_made = h_made;
    v->on_data = h_data;
    v->on_eof = h_eof;
    v->on_pause = h_pause;
    v->on_resume = h_resume;
    v->on_lost = h_lost;
    uint64_t seed = c->seed ^ (uint64_t)(cb * 2 + abort);
    if (cb == CB_PAUSE || cb == CB_RESUME) {
        probe_pump(v, seed, 64 * CONF_MIB, CONF_WRITE, 8 * CONF_KIB,
                   64 * CONF_KIB);
        p->on_made = peer_pause_made;
        v->shrink = p->shrink = true;
        probe_verify(p, seed, 0);
    }
    conf_pair_start(c, &cl->base, &sv->base);
    char what[96];
    snprintf(what, sizeof(what), "%s in %s by the %s", abort ? "abort" : "close",
             cb_names[cb], victim_client ? "client" : "server");
    switch (cb) {
    case CB_DATA:
        CONF_WAIT(c, (cl->made && sv->made) || v->lost, 10000, what);
        if (!p->lost)
            CK(c, wire_transport_write(p->t, "hello", 5) == 0, "peer write");
        break;
    case CB_EOF:
        CONF_WAIT(c, cl->made && sv->made, 10000, what);
        p->keep_open = true;
        if (half)
            CK(c, wire_transport_write_eof(p->t) == 0, "peer write_eof");
        else
            conf_close(p);
        break;
    case CB_PAUSE:
    case CB_RESUME:
        /* The peer reads nothing until the victim's queue filled up (and,
         * for CB_PAUSE, the victim acted).  A reset may reach it even
         * while it does not read. */
        CONF_WAIT(c, (cb == CB_PAUSE ? r.acted : r.want_peer_resume) &&
                         (p->made || p->destroyed || (ahead && v->lost)),
                  20000, what);
        if (p->made && !p->lost)
            probe_resume_reading(p);
        break;
    case CB_LOST:
        CONF_WAIT(c, cl->made && sv->made, 10000, what);
        conf_close(p);
        break;
    default:
        break;
    }
    /* (client_ahead) Once the client is lost, whatever it connected waits
     * at the listener, so a few turns are enough for it to be accepted. */
    if (ahead) {
        CONF_WAIT(c, v->lost && v->destroyed, 20000, what);
        conf_turns(c, 3);
        if (p->made && !p->lost && p->read_paused)
            probe_resume_reading(p);
        for (int i = 0; !p->made && i < c->npending; i++) {
            if (c->pending[i] != &p->base)
                continue;
            memmove(&c->pending[i], &c->pending[i + 1],
                    (size_t)(c->npending - i - 1) * sizeof(c->pending[0]));
            c->npending--;
            wire_protocol_destroy(&p->base);
            conf_note(c, "%s: the client was gone before it reached the "
                      "server (declared: client_ahead)", what);
        }
    }
    /* A server that aborts at once may reset the connection before the
     * client saw its connect complete: that client's connect then fails
     * (once, through its callback) instead. */
    CONF_WAIT(c, v->lost && (p->lost || !p->made) && v->destroyed &&
                     p->destroyed, 20000,
              (snprintf(what + strlen(what), 40, " (made %d/%d lost %d/%d)",
                        v->made, p->made, v->lost, p->lost), what));
    CK(c, r.acted, "%s never happened", what);
    conf_turns(c, 2);
    if (!p->made && ahead) {
        p->lost = 1; /* it never began, so it never ended */
    } else if (!p->made) {
        CK(c, abort && !victim_client &&
                  c->connect_failed == 1 && c->connect_code == -ECONNRESET,
           "%s: the peer never connected (%d failed connects: %s)", what,
           c->connect_failed, c->connect_err);
        c->connect_failed = 0;
        p->lost = 1;
        p->lost_code = -ECONNRESET;
    }
    CK(c, v->lost == 1 && p->lost == 1 && v->destroyed == 1 &&
              p->destroyed == 1,
       "%s: lost %d/%d destroyed %d/%d", what, v->lost, p->lost,
       v->destroyed, p->destroyed);
    if (cb == CB_LOST)
        return;
    if (abort) {
        CK(c, v->lost_code == WIRE_EABORTED, "%s: victim lost %s",
           what, wire_err_name(v->lost_code));
        if ((c->f->caps & CONF_CAP_RESET) && (cb != CB_EOF || half))
            CK(c, p->lost_code == -ECONNRESET,
               "%s: peer lost %s (%s), not a reset", what,
               wire_err_name(p->lost_code), p->lost_msg);
    } else {
        CK(c, v->lost_code == 0, "%s: victim lost %s (%s)", what,
           wire_err_name(v->lost_code), v->lost_msg);
        CK(c, p->lost_code == 0, "%s: peer lost %s (%s)", what,
           wire_err_name(p->lost_code), p->lost_msg);
        if ((cb == CB_PAUSE || cb == CB_RESUME) && !victim_client &&
            c->f->server_close_drops != NULL) {
            /* Declared: the server's close flushes its queue into the
             * kernel, which may then drop what the client had not read.
             * What arrived is a verified prefix, and no more is missing
             * than a kernel buffer holds (the queue itself was sent). */
            uint64_t want = v->pump.sent + r.extra;
            CK(c, p->eofs == 1 && p->rx_at_eof <= want &&
                      want - p->rx_at_eof < 128 * CONF_KIB,
               "%s: peer got %llu of %llu bytes before EOF", what,
               (unsigned long long)p->rx_at_eof, (unsigned long long)want);
            conf_note(c, "%s: the peer got %llu of %llu bytes: %s", what,
                      (unsigned long long)p->rx_at_eof,
                      (unsigned long long)want, c->f->server_close_drops);
        } else if (cb == CB_PAUSE || cb == CB_RESUME) {
            uint64_t want = v->pump.sent + r.extra;
            CK(c, p->eofs == 1 && p->rx_at_eof == want,
               "%s: peer got %llu of %llu bytes before EOF", what,
               (unsigned long long)p->rx_at_eof, (unsigned long long)want);
        }
    }
}

START_TEST(t_reentrancy)
{
    struct conf_ctx *c = conf_begin(_i, "reentrancy");
    if (c == NULL)
        return;
    for (int cb = 0; cb < CB_COUNT; cb++)
        for (int ab = 0; ab < 2; ab++)
            for (int vc = 0; vc < 2; vc++)
                reentrancy_one(c, cb, ab, vc);
    conf_end(c);
}
END_TEST

/* ---- 11. the peer resets while we have a queue ---- */

START_TEST(t_peer_reset)
{
    struct conf_ctx *c = conf_begin(_i, "peer_reset");
    if (c == NULL)
        return;
    struct probe *a = probe_new(c, "writer");
    struct probe *b = probe_new(c, "resetter");
    b->on_made = peer_pause_made;
    a->shrink = b->shrink = true;
    probe_pump(a, c->seed, 64 * conf_bulk(), CONF_MIX, 16 * CONF_KIB,
               256 * CONF_KIB);
    a->on_pause = pump_stop_at_pause;
    conf_probe_pair(c, a, b);
    CONF_WAIT(c, a->pauses == 1, 20000, "writes queued up");
    CK(c, probe_write_stream(a, c->seed, a->pump.sent, CONF_MIB) == 0, "write");
    CK(c, wire_transport_get_write_buffer_size(a->t) > CONF_MIB / 2,
       "nothing queued");
    conf_abort(b);
    CONF_WAIT(c, a->lost && b->lost, 20000, "both connections lost");
    CK(c, is_reset_error(a->lost_code), "writer lost %s (%s), not an error",
       wire_err_name(a->lost_code), a->lost_msg);
    CK(c, b->lost_code == WIRE_EABORTED, "resetter lost %s",
       wire_err_name(b->lost_code));
    CK(c, c->refs_out == 0, "%d write_ref buffers not released",
       c->refs_out);
    conf_turns(c, 3);
    CK(c, a->lost == 1, "connection_lost %d times", a->lost);
    conf_end(c);
}
END_TEST

void
conf_add_close_cases(Suite *s)
{
    TCase *tc = tcase_create("close");
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    tcase_add_loop_test(tc, t_half_close, 0, conf_nfactories);
    tcase_add_loop_test(tc, t_close_flushes, 0, conf_nfactories);
    tcase_add_loop_test(tc, t_abort, 0, conf_nfactories);
    tcase_add_loop_test(tc, t_write_after_end, 0, conf_nfactories);
    tcase_add_loop_test(tc, t_peer_reset, 0, conf_nfactories);
    TCase *rc = tcase_create("reentrancy");
    tcase_set_timeout(rc, 300);
    suite_add_tcase(s, rc);
    tcase_add_loop_test(rc, t_reentrancy, 0, conf_nfactories);
}
