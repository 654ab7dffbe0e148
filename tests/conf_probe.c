/*
 * The probe protocol and the pump.
 *
 * The probe checks the callback contract from the protocol's side (the
 * library's own checker aborts the process; this one names the factory
 * and the callback), records what happened so a case can assert on it
 * after the loop ran, and verifies received bytes against the stream.
 * Its `destroy` only marks it: the context frees every probe at the end
 * of the case, so a case may still read a probe's record after its
 * connection_lost and destroy.
 *
 * The pump sends a stream with random write sizes and a random mix of
 * write, write_sequence (random pieces, empty ones included) and
 * write_ref, and stops on pause_writing until resume_writing.
 */
#include "conf.h"

#include <stdlib.h>
#include <string.h>

/* ---- the probe ---- */

static struct probe *
probe_of(struct wire_protocol *bp)
{
    return (struct probe *)bp;
}

static void
enter(struct probe *p, const char *what, bool may_nest)
{
    if (p->destroyed)
        conf_violation(p->ctx, "%s: %s after destroy", p->role, what);
    if (p->depth > 0 && !may_nest)
        conf_violation(p->ctx, "%s: %s nested inside another callback",
                       p->role, what);
    p->depth++;
    p->ctx->wake = true;
}

static void
leave(struct probe *p)
{
    p->depth--;
    p->ctx->wake = true;
}

static void
pr_made(struct wire_protocol *bp, struct wire_transport *t)
{
    struct probe *p = probe_of(bp);
    enter(p, "connection_made", false);
    if (p->made || p->lost)
        conf_violation(p->ctx, "%s: connection_made twice or after lost",
                       p->role);
    p->made++;
    p->t = t;
    if (bp->transport != t)
        conf_violation(p->ctx, "%s: protocol->transport is not the transport",
                       p->role);
    if (p->shrink)
        conf_shrink_buffers(p->ctx, t);
    if (p->on_made != NULL)
        p->on_made(p);
    if (p->has_pump && p->pump.autostart && !p->lost)
        conf_pump_run(p);
    leave(p);
}

static void
pr_data(struct wire_protocol *bp, const void *data, size_t len)
{
    struct probe *p = probe_of(bp);
    struct conf_ctx *c = p->ctx;
    enter(p, "data_received", false);
    if (!p->made || p->lost || p->eofs)
        conf_violation(c, "%s: data_received out of order (made %d, eof %d, "
                       "lost %d)", p->role, p->made, p->eofs, p->lost);
    if (p->read_paused)
        conf_violation(c, "%s: data_received while reading is paused",
                       p->role);
    if (len == 0)
        conf_violation(c, "%s: data_received with 0 bytes", p->role);
    if (p->t != NULL && wire_transport_is_closing(p->t))
        conf_violation(c, "%s: data_received after close/abort", p->role);
    p->datas++;
    /* The hook runs first: a hook that closes or aborts must still be
     * able to read every byte afterwards (data stays valid during the
     * call), which the check below does. */
    if (p->on_data != NULL)
        p->on_data(p, data, len);
    if (p->verify && !p->bad) {
        size_t at = conf_stream_check(p->rx_seed, p->rx_period, p->rx, data,
                                      len);
        if (at != SIZE_MAX) {
            p->bad = true;
            p->bad_at = p->rx + at;
            conf_violation(c, "%s: received byte %llu differs from the "
                           "stream sent", p->role,
                           (unsigned long long)p->bad_at);
        }
    } else {
        /* Touch every byte anyway (sanitizers see a stale buffer). */
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < len; i++)
            sum ^= ((const uint8_t *)data)[i];
        (void)sum;
    }
    p->rx += len;
    leave(p);
}

static bool
pr_eof(struct wire_protocol *bp)
{
    struct probe *p = probe_of(bp);
    enter(p, "eof_received", false);
    if (!p->made || p->lost || p->eofs)
        conf_violation(p->ctx, "%s: eof_received out of order", p->role);
    if (p->read_paused)
        conf_violation(p->ctx, "%s: eof_received while reading is paused",
                       p->role);
    p->eofs++;
    p->rx_at_eof = p->rx;
    bool keep = p->on_eof != NULL ? p->on_eof(p) : p->keep_open;
    leave(p);
    return keep;
}

static void
pr_lost(struct wire_protocol *bp, const struct wire_error *err)
{
    struct probe *p = probe_of(bp);
    struct conf_ctx *c = p->ctx;
    if (p->depth != 0)
        conf_violation(c, "%s: connection_lost inside another callback",
                       p->role);
    if (c->in_call)
        conf_violation(c, "%s: connection_lost inside a call the test made "
                       "(close/abort/write)", p->role);
    enter(p, "connection_lost", false);
    if (!p->made || p->lost)
        conf_violation(c, "%s: connection_lost twice or before made", p->role);
    p->lost++;
    p->lost_code = err != NULL ? err->code : 0;
    if (err != NULL && err->code == 0)
        conf_violation(c, "%s: connection_lost with an error of code 0",
                       p->role);
    if (err != NULL)
        snprintf(p->lost_msg, sizeof(p->lost_msg), "%s",
                 err->message ? err->message : "(no message)");
    if (err != NULL && (err->message == NULL || err->message[0] == '\0'))
        conf_violation(c, "%s: connection_lost error without a message",
                       p->role);
    if (p->on_lost != NULL)
        p->on_lost(p, err);
    p->t = NULL;
    leave(p);
}

static void
pr_pause(struct wire_protocol *bp)
{
    struct probe *p = probe_of(bp);
    enter(p, "pause_writing", true);
    if (!p->made || p->lost)
        conf_violation(p->ctx, "%s: pause_writing out of order", p->role);
    if (p->write_paused)
        conf_violation(p->ctx, "%s: pause_writing twice in a row", p->role);
    p->write_paused = true;
    p->pauses++;
    if (p->t != NULL) {
        size_t high, low;
        p->size_at_pause = wire_transport_get_write_buffer_size(p->t);
        wire_transport_get_write_buffer_limits(p->t, &high, &low);
        if (p->check_water && p->size_at_pause <= high)
            conf_violation(p->ctx, "%s: pause_writing at %zu bytes, not above "
                           "the high mark %zu", p->role, p->size_at_pause,
                           high);
    }
    if (p->on_pause != NULL)
        p->on_pause(p);
    leave(p);
}

static void
pr_resume(struct wire_protocol *bp)
{
    struct probe *p = probe_of(bp);
    enter(p, "resume_writing", true);
    if (!p->made || p->lost)
        conf_violation(p->ctx, "%s: resume_writing out of order", p->role);
    if (!p->write_paused)
        conf_violation(p->ctx, "%s: resume_writing without pause_writing",
                       p->role);
    p->write_paused = false;
    p->resumes++;
    if (p->t != NULL) {
        size_t high, low;
        p->size_at_resume = wire_transport_get_write_buffer_size(p->t);
        wire_transport_get_write_buffer_limits(p->t, &high, &low);
        if (p->check_water && p->size_at_resume > low)
            conf_violation(p->ctx, "%s: resume_writing at %zu bytes, above "
                           "the low mark %zu", p->role, p->size_at_resume,
                           low);
    }
    if (p->on_resume != NULL)
        p->on_resume(p);
    if (p->has_pump && !p->lost && p->t != NULL &&
        !wire_transport_is_closing(p->t))
        conf_pump_run(p);
    leave(p);
}

static void
pr_destroy(struct wire_protocol *bp)
{
    struct probe *p = probe_of(bp);
    if (p->destroyed)
        conf_violation(p->ctx, "%s: destroyed twice", p->role);
    if (p->made && !p->lost)
        conf_violation(p->ctx, "%s: destroyed before connection_lost",
                       p->role);
    if (p->depth != 0)
        conf_violation(p->ctx, "%s: destroyed inside a callback", p->role);
    p->destroyed++;
    p->ctx->probes_destroyed++;
    p->ctx->wake = true;
}

static const struct wire_protocol_ops probe_ops = {
    .connection_made = pr_made,
    .data_received = pr_data,
    .eof_received = pr_eof,
    .connection_lost = pr_lost,
    .pause_writing = pr_pause,
    .resume_writing = pr_resume,
    .destroy = pr_destroy,
};

struct probe *
probe_new(struct conf_ctx *c, const char *role)
{
    struct probe *p = calloc(1, sizeof(*p));
    CK(c, p != NULL, "out of memory");
    wire_protocol_init(&p->base, &probe_ops);
    p->ctx = c;
    p->role = role;
    p->next_in_ctx = c->probes;
    c->probes = p;
    c->probes_new++;
    return p;
}

void
probe_verify(struct probe *p, uint64_t seed, uint64_t period)
{
    p->verify = true;
    p->rx_seed = seed;
    p->rx_period = period;
}

void
probe_pump(struct probe *p, uint64_t seed, uint64_t total, int method,
           size_t min_chunk, size_t max_chunk)
{
    memset(&p->pump, 0, sizeof(p->pump));
    p->has_pump = true;
    p->pump.seed = seed;
    p->pump.total = total;
    p->pump.rng = seed ^ 0x5bd1e995u;
    p->pump.method = method;
    p->pump.min_chunk = min_chunk ? min_chunk : 1;
    p->pump.max_chunk = max_chunk;
    p->pump.autostart = true;
}

void
probe_pause_reading(struct probe *p)
{
    if (p->t == NULL) {
        conf_violation(p->ctx, "%s: pause_reading %s", p->role,
                       p->made ? "after connection_lost" : "before made");
        return;
    }
    p->read_paused = true;
    int rc = wire_transport_pause_reading(p->t);
    if (rc != 0)
        conf_violation(p->ctx, "%s: pause_reading: %s", p->role,
                       wire_strerror(rc));
    if (wire_transport_is_reading(p->t))
        conf_violation(p->ctx, "%s: is_reading true after pause_reading",
                       p->role);
}

void
probe_resume_reading(struct probe *p)
{
    if (p->t == NULL) {
        conf_violation(p->ctx, "%s: resume_reading %s", p->role,
                       p->made ? "after connection_lost" : "before made");
        return;
    }
    p->read_paused = false;
    int rc = wire_transport_resume_reading(p->t);
    /* The connection may have ended an instant ago (a reset a layer
     * noticed): connection_lost is on its way, and the call says so. */
    if (rc == WIRE_ECLOSED && wire_transport_is_closing(p->t))
        rc = 0;
    if (rc != 0)
        conf_violation(p->ctx, "%s: resume_reading: %s", p->role,
                       wire_strerror(rc));
}

int
probe_write_stream(struct probe *p, uint64_t seed, uint64_t pos, size_t n)
{
    void *b = malloc(n ? n : 1);
    if (b == NULL)
        return WIRE_ENOMEM;
    conf_stream_fill(seed, pos, b, n);
    int rc = wire_transport_write(p->t, b, n);
    free(b);
    return rc;
}

void
conf_close(struct probe *p)
{
    p->ctx->in_call = true;
    wire_transport_close(p->t);
    p->ctx->in_call = false;
}

void
conf_abort(struct probe *p)
{
    p->ctx->in_call = true;
    wire_transport_abort(p->t);
    p->ctx->in_call = false;
}

/* ---- the pump ---- */

static int
pump_write(struct probe *p, size_t n)
{
    struct conf_pump *u = &p->pump;
    struct conf_ctx *c = p->ctx;
    int method = u->method;
    if (method == CONF_MIX)
        method = (int)(conf_rand(&u->rng) % 3);
    u->writes[method]++;
    if (method == CONF_REF) {
        void *b = conf_ref_alloc(c, n);
        conf_stream_fill(u->seed, u->sent, b, n);
        int rc = wire_transport_write_ref(p->t, b, n, conf_ref_free, c);
        if (rc != 0) {
            /* On an error the buffer stays ours. */
            conf_ref_free(c, b, n);
        }
        return rc;
    }
    uint8_t *b = malloc(n);
    if (b == NULL)
        return WIRE_ENOMEM;
    conf_stream_fill(u->seed, u->sent, b, n);
    int rc;
    if (method == CONF_WRITE) {
        rc = wire_transport_write(p->t, b, n);
    } else {
        /* Random pieces, with empty ones (NULL and not) mixed in. */
        struct iovec iov[24];
        int k = 0;
        size_t off = 0;
        while (off < n && k < 22) {
            uint64_t r = conf_rand(&u->rng);
            if (r % 5 == 0) {
                iov[k].iov_base = (r & 8) ? NULL : b;
                iov[k].iov_len = 0;
                k++;
                continue;
            }
            size_t piece = 1 + (size_t)(r >> 8) % (n - off);
            if (k >= 20)
                piece = n - off;
            iov[k].iov_base = b + off;
            iov[k].iov_len = piece;
            off += piece;
            k++;
        }
        if (off < n) {
            iov[k].iov_base = b + off;
            iov[k].iov_len = n - off;
            k++;
        }
        if (conf_rand(&u->rng) % 4 == 0) {
            iov[k].iov_base = NULL;
            iov[k].iov_len = 0;
            k++;
        }
        rc = wire_transport_write_sequence(p->t, iov, k);
    }
    free(b);
    return rc;
}

void
conf_pump_run(struct probe *p)
{
    struct conf_pump *u = &p->pump;
    if (!p->has_pump || u->running || u->done)
        return;
    u->running = true;
    while (!u->done && (u->ignore_pause || !p->write_paused) && !p->lost &&
           p->t != NULL && !wire_transport_is_closing(p->t)) {
        uint64_t left = u->total - u->sent;
        size_t span = u->max_chunk - u->min_chunk + 1;
        size_t n = u->min_chunk + (size_t)(conf_rand(&u->rng) % span);
        if (n > left)
            n = (size_t)left;
        int rc = pump_write(p, n);
        if (rc != 0) {
            conf_violation(p->ctx, "%s: write of %zu bytes at %llu: %s",
                           p->role, n, (unsigned long long)u->sent,
                           wire_strerror(rc));
            break;
        }
        u->sent += n;
        if (p->check_water && !p->write_paused && p->t != NULL) {
            size_t high, low;
            wire_transport_get_write_buffer_limits(p->t, &high, &low);
            size_t sz = wire_transport_get_write_buffer_size(p->t);
            if (sz > high)
                conf_violation(p->ctx, "%s: %zu bytes buffered, above the "
                               "high mark %zu, and no pause_writing",
                               p->role, sz, high);
        }
        if (u->sent == u->total) {
            u->done = true;
            p->ctx->wake = true;
            if (u->eof_when_done) {
                int r = wire_transport_write_eof(p->t);
                if (r != 0)
                    conf_violation(p->ctx, "%s: write_eof: %s", p->role,
                                   wire_strerror(r));
            }
            if (u->close_when_done)
                wire_transport_close(p->t);
        }
    }
    u->running = false;
}
