/*
 * Conformance cases about the way into and out of a connection: connects
 * that fail (refused, timed out, bad endpoint), server shutdown (graceful,
 * then by deadline), get_info, and a relay between two connections of
 * the same transport.
 */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- 12. connects that fail ---- */

struct fres {
    struct probe *p;
    int calls;
    int code;
    bool had_t;
    int destroyed_at_cb;
    char msg[400];
};

static void
fail_cb(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct fres *r = arg;
    r->calls++;
    r->had_t = t != NULL;
    r->code = err != NULL ? err->code : 0;
    r->destroyed_at_cb = r->p->destroyed;
    snprintf(r->msg, sizeof(r->msg), "%s",
             err != NULL && err->message ? err->message : "");
    r->p->ctx->wake = true;
}

static void
bad_endpoint(struct conf_ctx *c, const char *ep, int want)
{
    struct probe *p = probe_new(c, "client");
    struct fres r = {0};
    r.p = p;
    struct wire_error err = {0};
    int rc = wire_connect(c->loop, ep, &p->base, NULL, fail_cb, &r, &err);
    CK(c, rc == want, "wire_connect(%s): %s, expected %s", ep,
       wire_err_name(rc), wire_err_name(want));
    CK(c, err.code == rc && err.message != NULL, "no error detail for %s", ep);
    if (want == WIRE_EENDPOINT)
        CK(c, strstr(err.message, "bogus") != NULL,
           "error detail for %s does not name the parameter: %s", ep,
           err.message);
    wire_error_clear(&err);
    conf_turns(c, 2);
    CK(c, r.calls == 0, "callback called after a synchronous error");
    CK(c, p->destroyed == 0, "protocol destroyed after a synchronous error");
    wire_protocol_destroy(&p->base);
}

START_TEST(t_connect_fail)
{
    struct conf_ctx *c = conf_begin(_i, "connect_fail");
    if (c == NULL)
        return;
    if (!(c->f->caps & CONF_CAP_ENDPOINT)) {
        /* Declared: no endpoint, no connect step.  A pair that cannot be
         * made says so at once and leaves the protocols to the caller. */
        struct probe *p = probe_new(c, "orphan");
        CK(c, wire_mem_pair(c->loop, &p->base, NULL, 0, NULL, NULL) ==
                  WIRE_EINVAL, "pair without a second protocol");
        CK(c, wire_mem_pair(NULL, &p->base, &p->base, 0, NULL, NULL) ==
                  WIRE_EINVAL, "pair without a loop");
        conf_turns(c, 2);
        CK(c, p->made == 0 && p->destroyed == 0, "refused pair took over");
        wire_protocol_destroy(&p->base);
        if (c->f->fail_cases == NULL) {
            conf_note(c, "no endpoint form: checked that a refused pair "
                      "leaves the protocols to the caller; %s",
                      c->f->no_timeout_reason);
            conf_end(c);
            return;
        }
        /* A connect-only endpoint (exec:): its failing connects below. */
    } else {
        /* Synchronous errors: the callback never runs, the protocol
         * stays the caller's. */
        char ep[400], bad[420];
        c->f->listen_endpoint(c, ep, sizeof(ep));
        if (strchr(ep, '?') != NULL)
            *strchr(ep, '?') = '\0';
        snprintf(bad, sizeof(bad), "%s?bogus=1", ep);
        bad_endpoint(c, bad, WIRE_EENDPOINT);
        bad_endpoint(c, "nosuchscheme:x", WIRE_ENOSCHEME);
    }

    struct conf_fail_case cases[8];
    int n = c->f->fail_cases(c, cases, 8);
    CK(c, n > 0, "the factory gave no failing connects");
    bool timeout_seen = false;
    for (int i = 0; i < n; i++) {
        struct conf_fail_case *fc = &cases[i];
        struct probe *p = probe_new(c, "client");
        struct fres r = {0};
        r.p = p;
        struct wire_error err = {0};
        long t0 = conf_now_ms();
        c->in_call = true;
        int rc = wire_connect(c->loop, fc->endpoint, &p->base, NULL, fail_cb,
                              &r, &err);
        c->in_call = false;
        CK(c, rc == 0, "%s: wire_connect(%s): %s", fc->label, fc->endpoint,
           err.message);
        CK(c, r.calls == 0, "%s: callback inside wire_connect", fc->label);
        CONF_WAIT(c, r.calls > 0, 10000, fc->label);
        long took = conf_now_ms() - t0;
        conf_turns(c, 3);
        CK(c, r.calls == 1, "%s: callback called %d times", fc->label,
           r.calls);
        CK(c, !r.had_t, "%s: a transport with the failure", fc->label);
        CK(c, r.code == fc->code, "%s: %s reported %s (%s), expected %s",
           fc->label, fc->endpoint, wire_err_name(r.code), r.msg,
           wire_err_name(fc->code));
        CK(c, strstr(r.msg, fc->needle) != NULL,
           "%s: message '%s' does not name '%s'", fc->label, r.msg,
           fc->needle);
        CK(c, p->made == 0, "%s: connection_made on a failed connect",
           fc->label);
        CK(c, r.destroyed_at_cb == 1 && p->destroyed == 1,
           "%s: protocol destroyed %d times (%d at the callback)", fc->label,
           p->destroyed, r.destroyed_at_cb);
        if (fc->code == WIRE_ETIMEDOUT) {
            timeout_seen = true;
            CK(c, took >= 140, "%s: timed out after %ld ms, before the "
               "150 ms asked for", fc->label, took);
        }
    }
    if (c->f->no_timeout_reason == NULL)
        CK(c, timeout_seen, "no timed-out connect was checked");
    else
        conf_note(c, "timeout path not reachable: %s",
                  c->f->no_timeout_reason);
    conf_end(c);
}
END_TEST

/* ---- 13. server shutdown ---- */

struct shut {
    struct conf_ctx *c;
    struct probe *servers[8];
    int nservers;
    int done_calls;
    size_t count_at_done;
    struct wire_server *free_in_done;
};

static void
server_stop_at_pause(struct probe *p)
{
    p->has_pump = false;
}

static struct wire_protocol *
shut_factory(void *arg)
{
    struct shut *sh = arg;
    struct conf_ctx *c = sh->c;
    c->wake = true;
    if (sh->nservers >= 8) {
        c->unexpected_accepts++;
        return NULL;
    }
    struct probe *p = probe_new(c, "server");
    p->shrink = true;
    /* Each connection queues data its client does not read yet: the
     * shutdown has something to flush. */
    probe_pump(p, c->seed, 64 * conf_bulk(), CONF_WRITE, 16 * CONF_KIB,
               64 * CONF_KIB);
    p->on_pause = server_stop_at_pause;
    sh->servers[sh->nservers++] = p;
    return &p->base;
}

static void
shut_done(void *arg)
{
    struct shut *sh = arg;
    sh->done_calls++;
    sh->c->wake = true;
    if (sh->free_in_done != NULL) {
        sh->count_at_done = wire_server_connection_count(sh->free_in_done);
        wire_server_free(sh->free_in_done);
        sh->free_in_done = NULL;
    }
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static struct wire_server *
shut_listen(struct conf_ctx *c, struct shut *sh)
{
    char ep[400];
    struct wire_server *s = NULL;
    struct wire_error err = {0};
    c->f->listen_endpoint(c, ep, sizeof(ep));
    int rc = wire_listen(c->loop, ep, shut_factory, sh, NULL, &s, &err);
    CK(c, rc == 0, "wire_listen(%s): %s", ep, err.message);
    wire_error_clear(&err);
    return s;
}

static void
client_pause_made(struct probe *p)
{
    probe_pause_reading(p);
}

static struct probe *
shut_client(struct conf_ctx *c, struct wire_server *s)
{
    struct probe *p = probe_new(c, "client");
    p->shrink = true;
    p->on_made = client_pause_made;
    probe_verify(p, c->seed, 0);
    struct wire_error err = {0};
    int rc = wire_connect(c->loop, wire_server_address(s), &p->base, NULL,
                          NULL, NULL, &err);
    CK(c, rc == 0, "wire_connect: %s", err.message);
    return p;
}

/* Queue far more than the (fixed, small) kernel buffers hold, so the
 * connection's queue cannot drain while its client does not read. */
static void
queue_more(struct conf_ctx *c, struct probe *sv)
{
    CK(c, probe_write_stream(sv, c->seed, sv->pump.sent, CONF_MIB) == 0,
       "server write");
    sv->pump.sent += CONF_MIB;
    CK(c, wire_transport_get_write_buffer_size(sv->t) > CONF_MIB / 2,
       "only %zu bytes queued", wire_transport_get_write_buffer_size(sv->t));
}

static bool
all_paused(struct shut *sh, int n)
{
    if (sh->nservers < n)
        return false;
    for (int i = 0; i < n; i++)
        if (!sh->servers[i]->made || !sh->servers[i]->pauses)
            return false;
    return true;
}

START_TEST(t_server_shutdown)
{
    struct conf_ctx *c = conf_begin(_i, "server_shutdown");
    if (c == NULL)
        return;
    if (!(c->f->caps & CONF_CAP_ENDPOINT)) {
        conf_note(c, "not applicable: no server without an endpoint (the "
                  "same transport is checked through its endpoint entry)");
        conf_end(c);
        return;
    }
    enum { N = 4 };
    struct shut sh = {c, {NULL}, 0, 0, 0, NULL};
    struct wire_server *s = shut_listen(c, &sh);
    struct probe *cl[N];
    for (int i = 0; i < N; i++)
        cl[i] = shut_client(c, s);
    CONF_WAIT(c, all_paused(&sh, N) && cl[N - 1]->made && cl[0]->made, 20000,
              "every connection with data queued");
    for (int i = 0; i < N; i++)
        CONF_WAIT(c, cl[i]->made, 10000, "clients connected");
    for (int i = 0; i < N; i++)
        queue_more(c, sh.servers[i]);
    CK(c, wire_server_connection_count(s) == N, "%zu connections",
       wire_server_connection_count(s));
    CK(c, wire_server_accepted_total(s) == N, "accepted total");

    c->in_call = true;
    wire_server_shutdown(s, conf_scale_ms(20000), shut_done, &sh);
    c->in_call = false;
    CK(c, sh.done_calls == 0, "done inside wire_server_shutdown");
    CK(c, wire_server_connection_count(s) == N,
       "graceful shutdown dropped connections with data queued");
    /* No new connection is taken. */
    struct probe *late = probe_new(c, "late");
    struct fres lr = {0};
    lr.p = late;
    CK(c, wire_connect(c->loop, wire_server_address(s), &late->base, NULL,
                       fail_cb, &lr, NULL) == 0, "late connect");
    CONF_WAIT(c, lr.calls == 1, 10000, "the late connect's outcome");
    CK(c, !lr.had_t && lr.code != 0, "a connect after shutdown succeeded");

    for (int i = 0; i < N; i++)
        probe_resume_reading(cl[i]);
    CONF_WAIT(c, sh.done_calls == 1, 30000, "the shutdown's done callback");
    for (int i = 0; i < N; i++)
        CONF_WAIT(c, cl[i]->lost, 10000, "clients lost");
    CK(c, wire_server_connection_count(s) == 0, "connections left");
    uint64_t sent[N], got[N];
    for (int i = 0; i < N; i++) {
        struct probe *sv = sh.servers[i];
        CK(c, sv->lost == 1 && sv->lost_code == 0, "server side: %s",
           sv->lost_msg);
        CK(c, cl[i]->eofs == 1 && cl[i]->rx_at_eof == cl[i]->rx &&
                  cl[i]->lost_code == 0,
           "client %d: eof %d, %s", i, cl[i]->eofs, cl[i]->lost_msg);
        sent[i] = sv->pump.sent;
        got[i] = cl[i]->rx;
    }
    qsort(sent, N, sizeof(sent[0]), cmp_u64);
    qsort(got, N, sizeof(got[0]), cmp_u64);
    for (int i = 0; i < N; i++)
        CK(c, sent[i] == got[i], "a client got %llu bytes, its server sent "
           "%llu: pending data dropped", (unsigned long long)got[i],
           (unsigned long long)sent[i]);
    conf_turns(c, 3);
    CK(c, sh.done_calls == 1, "done called %d times", sh.done_calls);
    wire_server_free(s);

    /* A client that never reads: the deadline aborts its connection. */
    struct shut sh2 = {c, {NULL}, 0, 0, 0, NULL};
    struct wire_server *s2 = shut_listen(c, &sh2);
    struct probe *stuck = shut_client(c, s2);
    CONF_WAIT(c, all_paused(&sh2, 1) && stuck->made, 20000,
              "a connection with data queued");
    queue_more(c, sh2.servers[0]);
    sh2.free_in_done = s2;
    long t0 = conf_now_ms();
    wire_server_shutdown(s2, 100, shut_done, &sh2);
    CONF_WAIT(c, sh2.done_calls == 1, 10000, "done after the deadline");
    CK(c, conf_now_ms() - t0 >= 90, "done after %ld ms, before the deadline "
       "(server side: %s)", conf_now_ms() - t0, sh2.servers[0]->lost_msg);
    CK(c, sh2.count_at_done == 0, "%zu connections at done",
       sh2.count_at_done);
    struct probe *sv = sh2.servers[0];
    CK(c, sv->lost == 1 && sv->lost_code == WIRE_EABORTED,
       "server side at the deadline: %s (%s)", wire_err_name(sv->lost_code),
       sv->lost_msg);
    /* A reset may reach it even while it does not read (mem). */
    if (!stuck->lost)
        probe_resume_reading(stuck);
    CONF_WAIT(c, stuck->lost, 10000, "the stuck client lost");
    if (c->f->caps & CONF_CAP_RESET)
        CK(c, stuck->lost_code == -ECONNRESET, "stuck client: %s (%s)",
           wire_err_name(stuck->lost_code), stuck->lost_msg);
    /* Nothing is left: the loop returns by itself. */
    bool never = false;
    CK(c, wire_loop_run_until(c->loop, &never, conf_scale_ms(5000)) == 1,
       "the loop did not run out of work after the shutdown");
    CK(c, wire_loop_run(c->loop) == 0, "wire_loop_run");
    conf_end(c);
}
END_TEST

/* ---- 14. get_info ---- */

static void
info_str(struct conf_ctx *c, struct probe *p, int key, const char *kname,
         char *buf, size_t len)
{
    int rc = wire_transport_get_info(p->t, key, buf, len);
    CK(c, rc > 0 && (size_t)rc == strlen(buf), "%s %s: rc %d '%s'", p->role,
       kname, rc, rc > 0 ? buf : "");
    char small[5];
    memset(small, 'x', sizeof(small));
    int rc2 = wire_transport_get_info(p->t, key, small, sizeof(small));
    CK(c, rc2 == rc && small[4] == '\0' && strncmp(small, buf, 4) == 0,
       "%s %s truncated: rc %d", p->role, kname, rc2);
}

static void
info_side(struct conf_ctx *c, struct probe *p, bool server, char *peer,
          char *local)
{
    const char *want = conf_info_name(c, server);
    const char *prefix = conf_info_prefix(c, server);
    char name[64];
    int rc = wire_transport_get_info(p->t, WIRE_INFO_NAME, name, sizeof(name));
    CK(c, rc == (int)strlen(want) && strcmp(name, want) == 0,
       "%s NAME: rc %d '%s'", p->role, rc, name);
    CK(c, strcmp(wire_transport_name(p->t), want) == 0,
       "wire_transport_name");
    info_str(c, p, WIRE_INFO_PEER, "PEER", peer, 300);
    info_str(c, p, WIRE_INFO_LOCAL, "LOCAL", local, 300);
    CK(c, strncmp(peer, prefix, strlen(prefix)) == 0,
       "%s PEER '%s' does not start with '%s'", p->role, peer, prefix);
    CK(c, strncmp(local, prefix, strlen(prefix)) == 0,
       "%s LOCAL '%s' does not start with '%s'", p->role, local, prefix);
    char junk[64];
    CK(c, wire_transport_get_info(p->t, 12345, junk, sizeof(junk)) ==
              WIRE_ENOTSUP, "unknown key");
    CK(c, wire_transport_get_info(p->t, WIRE_INFO_LAYER_BASE + 7, junk,
                                  sizeof(junk)) == WIRE_ENOTSUP,
       "unknown layer key");
    int fd = -1;
    struct sockaddr_storage ss;
    rc = wire_transport_get_info(p->t, WIRE_INFO_FD, &fd, sizeof(fd));
    int rcs = wire_transport_get_info(p->t, WIRE_INFO_PEER_SOCKADDR, &ss,
                                      sizeof(ss));
    unsigned caps = conf_info_caps(c, server);
    if (caps & CONF_CAP_FD)
        CK(c, rc == (int)sizeof(int) && fd >= 0 && fcntl(fd, F_GETFD) >= 0,
           "%s FD: rc %d fd %d", p->role, rc, fd);
    else
        CK(c, rc == WIRE_ENOTSUP, "%s FD without a descriptor: %d", p->role, rc);
    if (caps & CONF_CAP_SOCKADDR)
        CK(c, rcs > 0, "%s PEER_SOCKADDR: %d", p->role, rcs);
    else
        CK(c, rcs == WIRE_ENOTSUP, "%s PEER_SOCKADDR without a socket: %d",
           p->role, rcs);
}

START_TEST(t_get_info)
{
    struct conf_ctx *c = conf_begin(_i, "get_info");
    if (c == NULL)
        return;
    struct probe *a = probe_new(c, "client");
    struct probe *b = probe_new(c, "server");
    conf_probe_pair(c, a, b);
    char apeer[300], alocal[300], bpeer[300], blocal[300];
    info_side(c, a, false, apeer, alocal);
    info_side(c, b, true, bpeer, blocal);
    if (c->f->server_info_name == NULL) {
        CK(c, strcmp(apeer, blocal) == 0,
           "client PEER '%s' != server LOCAL '%s'", apeer, blocal);
        CK(c, strcmp(alocal, bpeer) == 0,
           "client LOCAL '%s' != server PEER '%s'", alocal, bpeer);
    } else {
        conf_note(c, "the ends are different transports (%s, %s) and "
                  "neither can name the other: PEER and LOCAL checked on "
                  "each end alone", c->f->info_name, c->f->server_info_name);
    }
    if (c->f->caps & CONF_CAP_ENDPOINT)
        CK(c, strcmp(apeer, c->server_ep) == 0,
           "client PEER '%s' is not the server's address '%s'", apeer,
           c->server_ep);
    if (c->f->pair_address != NULL)
        CK(c, strcmp(apeer, c->f->pair_address) == 0, "PEER '%s'", apeer);
    if (strncmp(c->f->info_prefix, "tcp://", 6) == 0)
        CK(c, strcmp(alocal + strlen(c->f->info_prefix), "0") != 0 &&
                  atoi(alocal + strlen(c->f->info_prefix)) > 0,
           "client LOCAL '%s' has no port", alocal);
    conf_close(a);
    CONF_WAIT(c, a->lost && b->lost, 10000, "both connections lost");
    conf_end(c);
}
END_TEST

/* ---- 15. relay ---- */

struct relay_res {
    struct conf_ctx *c;
    int calls;
    int code_a, code_b;
    uint64_t ab, ba;
};

static void
relay_done(void *arg, const struct wire_error *ea, const struct wire_error *eb,
           uint64_t ab, uint64_t ba)
{
    struct relay_res *r = arg;
    r->calls++;
    r->code_a = ea != NULL ? ea->code : 0;
    r->code_b = eb != NULL ? eb->code : 0;
    r->ab = ab;
    r->ba = ba;
    r->c->wake = true;
}

START_TEST(t_relay)
{
    struct conf_ctx *c = conf_begin(_i, "relay");
    if (c == NULL)
        return;
    bool half = c->f->caps & CONF_CAP_HALF_CLOSE;
    size_t X = conf_bulk() / 8;
    if (X < 4 * CONF_MIB)
        X = 4 * CONF_MIB;
    size_t Y = half ? X / 2 : 0;
    uint64_t sx = c->seed ^ 0x1, sy = c->seed ^ 0x2;
    struct relay_res rr = {c, 0, 0, 0, 0, 0};
    struct wire_protocol *ra, *rb;
    CK(c, wire_relay_new(&ra, &rb, relay_done, &rr) == 0, "wire_relay_new");
    /* end1 <-> [ra  relay  rb] <-> end2 */
    struct probe *e1 = probe_new(c, "end1");
    struct probe *e2 = probe_new(c, "end2");
    conf_pair(c, &e1->base, ra);
    conf_pair(c, rb, &e2->base);
    conf_shrink_buffers(c, e1->t);
    conf_shrink_buffers(c, ra->transport);
    conf_shrink_buffers(c, rb->transport);
    conf_shrink_buffers(c, e2->t);
    probe_pump(e1, sx, X, CONF_MIX, 1, 256 * CONF_KIB);
    e1->pump.eof_when_done = half;
    e1->pump.close_when_done = !half;
    e1->keep_open = true;
    probe_verify(e1, sy, 0);
    /* end2 is the slow end: it reads nothing at first. */
    probe_pause_reading(e2);
    /* It answers the EOF with its own stream, then EOF; without
     * half-close it has nothing to answer and closes. */
    e2->keep_open = half;
    probe_verify(e2, sx, 0);
    if (half) {
        probe_pump(e2, sy, Y, CONF_MIX, 1, 256 * CONF_KIB);
        e2->pump.eof_when_done = true;
        conf_pump_run(e2);
    }
    conf_pump_run(e1);
    CONF_WAIT(c, e1->pauses > 0 || e1->pump.done, 30000,
              "backpressure across the relay");
    CK(c, e1->pauses > 0, "end1 wrote all %zu bytes into a relay whose other "
       "end reads nothing: no backpressure", X);
    /* Backpressure holds: while end2 reads nothing, the relay stops
     * reading end1, so neither the relay's queue towards end2 nor what
     * end1 got rid of keeps growing, however long the loop runs. */
    size_t rq = 0;
    for (int i = 0; i < 50 && rq <= CONF_MIB && !e1->pump.done; i++) {
        conf_turns(c, 1);
        rq = wire_transport_get_write_buffer_size(rb->transport);
    }
    CK(c, rq <= CONF_MIB && !e1->pump.done && e1->write_paused,
       "the relay queued %zu bytes for an end that reads nothing (end1 sent "
       "%llu of %zu): no backpressure", rq,
       (unsigned long long)e1->pump.sent, X);
    CK(c, e2->rx == 0, "the paused end received data");
    probe_resume_reading(e2);
    CONF_WAIT(c, rr.calls == 1 && e1->lost && e2->lost, 60000,
              "the relay's end");
    CK(c, e2->rx == X && e1->rx == Y, "relayed %llu of %zu and %llu of %zu",
       (unsigned long long)e2->rx, X, (unsigned long long)e1->rx, Y);
    CK(c, rr.ab == X && rr.ba == Y, "done counts %llu/%llu, expected %zu/%zu",
       (unsigned long long)rr.ab, (unsigned long long)rr.ba, X, Y);
    CK(c, rr.code_a == 0 && rr.code_b == 0, "relay errors %s / %s",
       wire_err_name(rr.code_a), wire_err_name(rr.code_b));
    CK(c, e2->eofs == 1 && e2->rx_at_eof == X, "end2 EOF %d at %llu",
       e2->eofs, (unsigned long long)e2->rx_at_eof);
    if (half)
        CK(c, e1->eofs == 1 && e1->rx_at_eof == Y, "end1 EOF %d at %llu",
           e1->eofs, (unsigned long long)e1->rx_at_eof);
    CK(c, e1->lost_code == 0 && e2->lost_code == 0, "ends lost: %s / %s",
       e1->lost_msg, e2->lost_msg);
    conf_turns(c, 2);
    CK(c, rr.calls == 1, "relay done called %d times", rr.calls);
    conf_end(c);
}
END_TEST

void
conf_add_net_cases(Suite *s)
{
    TCase *tc = tcase_create("net");
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    tcase_add_loop_test(tc, t_connect_fail, 0, conf_nfactories);
    tcase_add_loop_test(tc, t_server_shutdown, 0, conf_nfactories);
    tcase_add_loop_test(tc, t_get_info, 0, conf_nfactories);
    tcase_add_loop_test(tc, t_relay, 0, conf_nfactories);
}
