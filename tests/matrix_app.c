/*
 * The matrix's messages and the application on both ends of a cell.
 *
 * Messages are a pure function of the cell's seed and their index, so the
 * client makes each one to send it and again to check its echo, and
 * nothing is stored.  The plan (sizes) is made up front.
 *
 * The application is the same over every stack: the client sends the
 * plan (stopping on pause_writing, or keeping a window in flight when its
 * form has no flow control), checks each echo in order and closes (or
 * half-closes, or sends the over-long message); the server echoes each
 * message as one message and stops reading while it cannot write.  Both
 * record every callback and check its order, like the conformance
 * suite's probe (conf_probe.c), and name the row and transport in every
 * violation.
 */
#include "matrix.h"

#include <stdlib.h>
#include <string.h>

/* ---- messages ---- */

/* Does the separator start at `i` of payload + write separator? */
static bool
sep_at(const uint8_t *b, size_t len, size_t i, const struct matrix_proto *r,
       const char *w, size_t wl)
{
    for (size_t j = 0; j < r->sep_len; j++) {
        size_t p = i + j;
        uint8_t ch;
        if (p < len)
            ch = b[p];
        else if (p - len < wl)
            ch = (uint8_t)w[p - len];
        else
            return false;
        if (ch != (uint8_t)r->sep[j])
            return false;
    }
    return true;
}

/* Where the payload stops reaching the reader whole: the first separator
 * the reader would find in payload + write separator, if it starts inside
 * the payload, or a final '\r' that a lines reader would strip (written
 * before a bare "\n"); else `len`. */
static size_t
first_sep(const struct matrix_proto *r, const uint8_t *b, size_t len)
{
    if (r->sep == NULL)
        return len;
    const char *w = r->wsep != NULL ? r->wsep : r->sep;
    size_t wl = r->wsep != NULL ? r->wsep_len : r->sep_len;
    for (size_t k = 0; k < len; k++)
        if (b[k] == (uint8_t)r->sep[0] && sep_at(b, len, k, r, w, wl))
            return k;
    if (r->lines && r->wsep == NULL && len > 0 && b[len - 1] == '\r')
        return len - 1;
    return len;
}

/*
 * Message `i` of the cell as first made: stream bytes, then (for separated
 * formats) heads of the write separator (for lines, of "\r\n") planted at
 * random places and at the end.  It may hold separators; msg_clean() removes them.
 */
static void
msg_raw(const struct mx_cell *m, size_t i, uint8_t *b, size_t len)
{
    const struct matrix_proto *r = m->row;
    uint64_t seed = m->seed ^ ((uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull);
    conf_stream_fill(seed, 0, b, len);
    if (r->sep == NULL || len == 0)
        return;
    /* What to plant: heads of the write separator (of "\r\n" for lines,
     * whatever they write). */
    const char *w = r->lines ? "\r\n" : r->wsep != NULL ? r->wsep : r->sep;
    size_t wl = r->lines ? 2 : r->wsep != NULL ? r->wsep_len : r->sep_len;
    uint64_t rng = seed | 1;
    if (wl > 1) {
        size_t np = 1 + len / 1024;
        if (np > 64)
            np = 64;
        for (size_t k = 0; k < np; k++) {
            size_t at = (size_t)(conf_rand(&rng) % len);
            size_t j = 1 + (size_t)(conf_rand(&rng) % (wl - 1));
            if (j > len - at)
                j = len - at;
            memcpy(b + at, w, j);
        }
        if (conf_rand(&rng) & 1) {
            size_t j = 1 + (size_t)(conf_rand(&rng) % (wl - 1));
            if (j <= len)
                memcpy(b + len - j, w, j);
        }
    }
}

/*
 * Break every separator the reader would find before the end of the
 * payload -- in the payload, or formed by its tail and the separator
 * written after it ("x\r\n." before "\r\n.\r\n") -- by overwriting its
 * first byte with a byte the separator does not contain (which can create
 * no other, so one pass does).
 */
static void
msg_clean(const struct matrix_proto *r, uint8_t *b, size_t len)
{
    if (r->sep == NULL)
        return;
    const char *w = r->wsep != NULL ? r->wsep : r->sep;
    size_t wl = r->wsep != NULL ? r->wsep_len : r->sep_len;
    uint8_t x = 'x';
    while (memchr(r->sep, x, r->sep_len) != NULL)
        x++;
    for (size_t k = 0; k < len; k++)
        if (b[k] == (uint8_t)r->sep[0] && sep_at(b, len, k, r, w, wl))
            b[k] = x;
    /* A lines reader strips one '\r' before "\n": written as "\n", a
     * payload's own final '\r' would go. */
    if (r->lines && r->wsep == NULL && len > 0 && b[len - 1] == '\r')
        b[len - 1] = x;
}

/* Message `i` as sent and echoed. */
static void
msg_fill(const struct mx_cell *m, size_t i, uint8_t *b, size_t len)
{
    msg_raw(m, i, b, len);
    msg_clean(m->row, b, len);
}

/* Bytes a message of `n` bytes takes on the wire (its frame included). */
uint64_t
mx_wire_len(const struct matrix_proto *r, size_t n)
{
    if (r->netstring) {
        char d[32];
        return (uint64_t)snprintf(d, sizeof(d), "%zu", n) + 2 + n;
    }
    if (r->width > 0)
        return r->width + n;
    if (r->content_length) {
        char h[64];
        return (uint64_t)snprintf(h, sizeof(h), "Content-Length: %zu\r\n\r\n", n) + n;
    }
    return n + (r->wsep != NULL ? r->wsep_len : r->sep_len);
}

static void
plan_add(struct mx_cell *m, size_t len)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->sizes = realloc(m->sizes, m->cap * sizeof(*m->sizes));
        CK(m->c, m->sizes != NULL, "out of memory");
    }
    m->sizes[m->n++] = len;
    m->bytes += len;
    if (len > m->maxlen)
        m->maxlen = len;
}

static void
plan_buffers(struct mx_cell *m)
{
    m->txbuf = malloc(m->maxlen + 1);
    m->rxbuf = malloc(m->maxlen + 1);
    CK(m->c, m->txbuf != NULL && m->rxbuf != NULL, "out of memory");
}

/* Bytes of payload an echo cell sends (its edge messages come on top). */
static uint64_t
echo_budget(void)
{
    uint64_t b = conf_bulk() / 16;
    if (b > 4 * CONF_MIB)
        b = 4 * CONF_MIB;
    if (b < 64 * CONF_KIB)
        b = 64 * CONF_KIB;
    return b;
}

void
mx_plan_echo(struct mx_cell *m, unsigned share)
{
    size_t max = m->row->max_msg;
    const size_t edges[] = {0, 1, max, 0, 0, max - 1, 2, 0};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
        plan_add(m, edges[i]);
    uint64_t rng = m->seed ^ 0x6d61747269780001ull;
    uint64_t budget = echo_budget() / share + 2 * (uint64_t)max;
    while (m->bytes < budget && m->n < 20000) {
        unsigned cls = (unsigned)(conf_rand(&rng) % 100);
        size_t hi;
        if (cls < 4) {
            /* A burst of tiny messages: many in one read. */
            size_t k = 20 + (size_t)(conf_rand(&rng) % 80);
            for (size_t j = 0; j < k; j++)
                plan_add(m, (size_t)(conf_rand(&rng) % 17));
            continue;
        }
        if (cls < 14) {
            plan_add(m, 0);
            continue;
        }
        hi = cls < 35 ? 64 : cls < 60 ? 2048 : cls < 85 ? 64 * CONF_KIB
           : cls < 97 ? 256 * CONF_KIB : max;
        if (hi > max)
            hi = max;
        plan_add(m, 1 + (size_t)(conf_rand(&rng) % hi));
    }
    m->over_at = SIZE_MAX;
    m->n_echo = m->n;
    m->window = 16;
    plan_buffers(m);
}

void
mx_plan_overlong(struct mx_cell *m)
{
    size_t lim = m->row->err_limit;
    const size_t sizes[] = {0, lim, 1, lim - 1, 7, 0, lim + 1};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        plan_add(m, sizes[i]);
    m->over_at = m->n - 1;
    m->n_echo = m->n - 1;
    m->window = 16;
    plan_buffers(m);
}

/* ---- the application on both ends ---- */

static void
enter(struct mx_end *e, const char *what)
{
    if (e->destroyed)
        conf_violation(e->c, "%s: %s after destroy", e->role, what);
    e->depth++;
    e->c->wake = true;
}

static void
leave(struct mx_end *e)
{
    e->depth--;
    e->c->wake = true;
}

/* The client writes what the plan still has, while it may. */
static void
send_more(struct mx_end *e)
{
    struct mx_cell *m = e->cell;
    if (e->sending)
        return;
    e->sending = true;
    const struct matrix_proto *r = m->row;
    if (!e->tried_big && r->prefix_max > 0 && m->maxlen >= r->prefix_max &&
        !e->lost && !e->closing && e->t != NULL) {
        e->tried_big = true;
        /* Cannot be framed: refused whole (the echoes show nothing of it
         * went out). */
        size_t len = r->prefix_max + 1;
        memset(m->txbuf, 'L', len);
        for (unsigned method = 0; method < 5; method++) {
            int rc = e->form->send(e, m->txbuf, len, method);
            if (rc != WIRE_EMSGSIZE)
                conf_violation(e->c, "client: writing %zu bytes, more than "
                               "the prefix can say (%zu), by method %u "
                               "returned %s, not WIRE_EMSGSIZE", len,
                               r->prefix_max, method, wire_err_name(rc));
        }
        e->refused++;
    }
    while (e->nsent < m->n && !e->write_paused && !e->lost && !e->closing &&
           e->t != NULL) {
        if (e->form->windowed && e->nsent - e->nrcvd >= m->window)
            break;
        /* The over-long message waits for every echo before it, so the
         * offset it starts at is known and nothing else is in flight. */
        if (e->nsent == m->over_at && e->nrcvd < e->nsent)
            break;
        size_t i = e->nsent, len = m->sizes[i];
        uint64_t mr = m->seed ^ ((uint64_t)i * 0xd6e8feb86659fd93ull) ^ 0x77;
        unsigned method = (unsigned)(conf_rand(&mr) >> 7);
        msg_raw(m, i, m->txbuf, len);
        size_t at = first_sep(r, m->txbuf, len);
        if (r->refuses_sep && at < len) {
            /* The writer must refuse it whole, by any method; the peer's
             * echoes then show that nothing of it was written. */
            int rc = e->form->send(e, m->txbuf, len, method);
            if (rc != WIRE_EINVAL) {
                conf_violation(e->c, "client: message %zu (%zu bytes) would "
                               "not reach the reader whole (a separator, "
                               "or a stripped '\\r', at byte %zu of payload "
                               "+ separator), yet writing it (method %u) "
                               "returned %s, not WIRE_EINVAL", i, len, at,
                               method % 5, wire_err_name(rc));
                break;
            }
            e->refused++;
        }
        msg_clean(r, m->txbuf, len);
        int rc = e->form->send(e, m->txbuf, len, method);
        if (rc != 0) {
            conf_violation(e->c, "client: sending message %zu (%zu bytes, "
                           "method %u): %s", i, len, method % 5,
                           wire_strerror(rc));
            break;
        }
        e->nsent++;
    }
    if (m->mode == MX_HALFCLOSE && e->nsent == m->n && !e->eof_sent &&
        !e->lost && !e->closing && e->t != NULL) {
        /* Right after the last write: the EOF must follow every message,
         * queued or not, through the layers. */
        e->eof_sent = true;
        int rc = e->form->write_eof(e);
        if (!mx_half_close(m)) {
            /* Declared: no half-close.  write_eof says so through the
             * stack and changes nothing: the exchange goes on as an echo
             * (the client closes after the last echo). */
            if (rc != WIRE_ENOTSUP)
                conf_violation(e->c, "client: write_eof on a transport that "
                               "cannot half-close: %s, not WIRE_ENOTSUP",
                               wire_err_name(rc));
            else
                m->eof_refused = true;
        } else if (rc != 0) {
            conf_violation(e->c, "client: write_eof: %s", wire_strerror(rc));
        }
    }
    e->sending = false;
}

bool
mx_half_close(const struct mx_cell *m)
{
    return (m->c->f->caps & CONF_CAP_HALF_CLOSE) || m->row->own_half_close;
}

bool
mx_trailer(const struct mx_cell *m)
{
    return mx_half_close(m) && !m->row->no_write_after_eof;
}

/* What the server answers an EOF with, in the half-close exchange: no
 * byte any separator starts with. */
static size_t
trailer(const struct mx_cell *m, char *buf, size_t len)
{
    return (size_t)snprintf(buf, len, "END %zu", m->n);
}

void
mx_app_open(struct mx_end *e, struct wire_transport *t)
{
    struct conf_ctx *c = e->c;
    enter(e, "open");
    if (e->made || e->lost)
        conf_violation(c, "%s: opened twice or after lost", e->role);
    e->made++;
    e->t = t;
    const char *want = e->tname != NULL ? e->tname
                                        : conf_info_name(c, e->server);
    const char *prefix = conf_info_prefix(c, e->server);
    const char *got = wire_transport_name(t);
    if (got == NULL || strcmp(got, want) != 0)
        conf_violation(c, "%s: transport name '%s', want '%s'", e->role,
                       got ? got : "(null)", want);
    /* get_info crosses the layers to the transport below. */
    char peer[300];
    int rc = wire_transport_get_info(t, WIRE_INFO_PEER, peer, sizeof(peer));
    if (rc < 0 || strncmp(peer, prefix, strlen(prefix)) != 0)
        conf_violation(c, "%s: WIRE_INFO_PEER: %s '%s', want a '%s...'",
                       e->role, rc < 0 ? wire_strerror(rc) : "got",
                       rc < 0 ? "" : peer, prefix);
    /* Small fixed socket buffers: backpressure after little data, on
     * sockets as on the memory transport.  Not under a fault layer: its
     * writes of a few bytes each fill a 64 KiB receive buffer with
     * per-segment overhead long before its window, the kernel then drops
     * segments (and the window updates they carry) and the connection
     * waits on retransmission timers that back off to tens of seconds
     * (seen on ::1, both ends paused on each other); the layer's short
     * writes make backpressure of their own. */
    if (!e->cell->fault)
        conf_shrink_buffers(c, t);
    if (!e->server)
        send_more(e);
    leave(e);
}

static void
client_verify(struct mx_end *e, const void *data, size_t len)
{
    struct mx_cell *m = e->cell;
    size_t i = e->nrcvd;
    if (i >= m->n_echo) {
        conf_violation(e->c, "client: message %zu (%zu bytes) after the last "
                       "echo (%zu)", i, len, m->n_echo);
        return;
    }
    if (len != m->sizes[i]) {
        conf_violation(e->c, "client: echo %zu of %zu has %zu bytes, %zu were "
                       "sent", i, m->n_echo, len, m->sizes[i]);
        return;
    }
    msg_fill(m, i, m->rxbuf, len);
    if (len > 0 && memcmp(m->rxbuf, data, len) != 0) {
        size_t at = 0;
        while (m->rxbuf[at] == ((const uint8_t *)data)[at])
            at++;
        conf_violation(e->c, "client: echo %zu (%zu bytes) differs at byte "
                       "%zu: 0x%02x, sent 0x%02x", i, len, at,
                       ((const uint8_t *)data)[at], m->rxbuf[at]);
    }
}

void
mx_app_message(struct mx_end *e, const void *data, size_t len)
{
    struct conf_ctx *c = e->c;
    struct mx_cell *m = e->cell;
    bool half = mx_half_close(m);
    enter(e, "message");
    if (!e->made || e->lost || e->eofs)
        conf_violation(c, "%s: message out of order (made %d, eof %d, lost "
                       "%d)", e->role, e->made, e->eofs, e->lost);
    if (e->in_paused)
        conf_violation(c, "%s: message %zu while reading is paused", e->role,
                       e->nrcvd);
    if (e->server) {
        if (m->over_at != SIZE_MAX && e->nrcvd >= m->over_at)
            conf_violation(c, "server: the over-long message (%zu bytes, "
                           "limit %zu) was delivered", len, e->limit);
        int rc = e->form->send(e, data, len, (unsigned)e->nrcvd * 7u);
        if (rc != 0)
            conf_violation(c, "server: echoing message %zu (%zu bytes): %s",
                           e->nrcvd, len, wire_strerror(rc));
        e->nrcvd++;
    } else if (m->mode == MX_HALFCLOSE && mx_trailer(m) &&
               e->nrcvd == m->n_echo) {
        char want[64];
        size_t wl = trailer(m, want, sizeof(want));
        if (len != wl || memcmp(data, want, wl) != 0)
            conf_violation(c, "client: after the last echo, %zu bytes that "
                           "are not the trailer '%s'", len, want);
        else if (m->trailer_ok)
            conf_violation(c, "client: a message after the trailer");
        m->trailer_ok = true;
        m->done = true;
    } else {
        client_verify(e, data, len);
        e->nrcvd++;
        if (e->nrcvd == m->n_echo &&
            (m->mode == MX_ECHO || (m->mode == MX_HALFCLOSE && !half))) {
            m->done = true;
            e->form->close(e);
        } else if (e->nrcvd == m->n_echo && m->mode == MX_HALFCLOSE) {
            m->done = true; /* no trailer: the EOF comes next */
        } else if (e->nrcvd == m->n_echo && m->mode == MX_OVERLONG) {
            m->done = true;
            send_more(e);
        } else if (e->form->windowed) {
            send_more(e);
        }
    }
    leave(e);
}

bool
mx_app_eof(struct mx_end *e)
{
    struct mx_cell *m = e->cell;
    enter(e, "eof");
    if (!e->made || e->lost || e->eofs)
        conf_violation(e->c, "%s: eof out of order", e->role);
    e->eofs++;
    if (!e->server && !m->done)
        conf_violation(e->c, "client: end of input after %zu of %zu echoes",
                       e->nrcvd, m->n_echo);
    if (e->server && m->mode == MX_HALFCLOSE) {
        /* Every message came before the EOF; answer it with one more. */
        if (e->nrcvd != m->n)
            conf_violation(e->c, "server: EOF after %zu of %zu messages",
                           e->nrcvd, m->n);
        /* Without half-close the EOF is the client's close: nothing to
         * answer. */
        if (mx_trailer(m)) {
            char buf[64];
            size_t n = trailer(m, buf, sizeof(buf));
            int rc = e->form->send(e, buf, n, 0);
            if (rc != 0)
                conf_violation(e->c, "server: writing after the peer's EOF: "
                               "%s", wire_strerror(rc));
        }
    }
    leave(e);
    return false; /* close (after the queued output) */
}

void
mx_app_lost(struct mx_end *e, const struct wire_error *err)
{
    struct conf_ctx *c = e->c;
    if (e->depth != 0)
        conf_violation(c, "%s: connection lost inside another callback",
                       e->role);
    enter(e, "connection_lost");
    if (!e->made || e->lost)
        conf_violation(c, "%s: connection lost twice or before open", e->role);
    e->lost++;
    e->lost_code = err != NULL ? err->code : 0;
    if (err != NULL) {
        if (err->code == 0)
            conf_violation(c, "%s: connection lost with an error of code 0",
                           e->role);
        snprintf(e->lost_msg, sizeof(e->lost_msg), "%s",
                 err->message != NULL ? err->message : "(no message)");
    }
    e->t = NULL;
    leave(e);
}

void
mx_app_pause(struct mx_end *e)
{
    enter(e, "pause_writing");
    if (e->write_paused)
        conf_violation(e->c, "%s: pause_writing twice in a row", e->role);
    e->write_paused = true;
    e->pauses++;
    /* The server stops taking messages while it cannot echo them. */
    if (e->server && e->t != NULL && !e->closing)
        e->form->pause_in(e);
    leave(e);
}

void
mx_app_resume(struct mx_end *e)
{
    enter(e, "resume_writing");
    if (!e->write_paused)
        conf_violation(e->c, "%s: resume_writing without pause_writing",
                       e->role);
    e->write_paused = false;
    if (e->server) {
        if (e->in_paused && e->t != NULL && !e->closing)
            e->form->resume_in(e);
    } else {
        send_more(e);
    }
    leave(e);
}

void
mx_app_destroy(struct mx_end *e)
{
    if (e->destroyed)
        conf_violation(e->c, "%s: destroyed twice", e->role);
    if (e->made && !e->lost)
        conf_violation(e->c, "%s: destroyed before connection_lost", e->role);
    if (e->depth != 0)
        conf_violation(e->c, "%s: destroyed inside a callback", e->role);
    e->destroyed++;
    e->c->probes_destroyed++;
    e->c->wake = true;
}

void
mx_app_read_error(struct mx_end *e, const struct wire_error *err)
{
    if (e->read_code == 0) {
        e->read_code = err->code;
        snprintf(e->read_msg, sizeof(e->read_msg), "%s",
                 err->message != NULL ? err->message : "(no message)");
    }
    /* The data stays buffered after WIRE_EMSGSIZE: give up. */
    if (err->code == WIRE_EMSGSIZE)
        e->form->abort(e);
}
