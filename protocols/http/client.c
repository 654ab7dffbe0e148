/*
 * The HTTP/1.1 client: the engine for one connection (struct
 * wire_http_client; its internal interface is in http_int.h, so the HTTP
 * client layer reuses it).  The request calls and the writing are in
 * client_request.c; the thin protocol around the engine
 * (wire_http_client_new) in client_proto.c.
 *
 * Writing.  Requests go out in the order they were made, each whole
 * (head, then body) before the next one starts, so a request is
 * pipelined as soon as the one before it ended.  A request's head waits
 * for its first body write or its end, when its framing is known:
 * Content-Length when the application set it, else chunked for a body,
 * else none (or "Content-Length: 0" for methods that carry a body).
 * A request that cannot write yet (not at the front, or made before the
 * connection) keeps its framed body bytes in its own buffer; the head is
 * built when it goes out, once the Host is known.  After a request that
 * changes the connection (Upgrade, CONNECT, Connection: close) nothing is
 * written before its response.
 *
 * Reading.  llhttp (head.c) parses the responses, matched to requests in
 * order.  The parser pauses at the end of each response, so that every
 * response starts with a check that a request is waiting for it.  1xx
 * responses are skipped; HEAD, 204 and 304 responses have no body
 * whatever their headers say; a 101 or a 2xx to CONNECT stops HTTP after
 * the head (take_over hands the transport on).  A paused response body
 * pauses the transport's reading; the rest of the read that was being
 * parsed is held (at most one read) and parsed on resume, on a later
 * turn.
 *
 * Errors end each request once (on_done), in order.  A response that
 * says the connection closes ends the requests behind it with
 * WIRE_ECLOSED: the server did not process them, and a client cannot tell
 * whether retrying is safe for the application, so it does not retry.
 */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void cli_process(struct wire_http_client *c, const char *data,
                        size_t len, bool nudge);

/* ---- small things ---- */

static void
cli_unref(struct wire_http_client *c)
{
    if (--c->refs > 0)
        return;
    http_parse_free(&c->ps);
    free(c->held);
    free(c->host_opt);
    wire_error_clear(&c->close_err);
    free(c);
}

/* Make the transport's reading match what the engine and the owner want:
 * the one place that pauses or resumes it. */
void
http_cli_sync_reading(struct wire_http_client *c)
{
    if (c->t == NULL)
        return;
    bool pause = c->reading_paused || c->hold;
    if (pause == c->t_paused)
        return;
    c->t_paused = pause;
    if (pause)
        wire_transport_pause_reading(c->t);
    else
        wire_transport_resume_reading(c->t);
}

static void
report_close(struct wire_http_client *c, const struct wire_error *err)
{
    if (c->closed_reported)
        return;
    c->closed_reported = true;
    if (c->opts.on_close != NULL)
        c->opts.on_close(c->opts.arg, err);
}

/* A response is expected: the first live request's head went out. */
static bool
awaiting(const struct wire_http_client *c)
{
    return c->first != NULL && c->first->head_sent;
}

static bool
body_paused(const struct wire_http_client *c)
{
    return c->first != NULL && c->first->got_head && c->first->body_paused;
}

/* ---- timers ---- */

void
http_cli_timer_stop(struct wire_http_client *c)
{
    if (c->timer != NULL)
        wire_timer_stop(c->timer);
    c->timer_kind = CLI_TIMER_NONE;
}

void
http_cli_timer_start(struct wire_http_client *c, enum cli_timer kind)
{
    if (c->timer == NULL || c->dead)
        return;
    c->timer_kind = kind;
    /* While the owner holds reading, our slowness is not the server's:
     * the timer starts (afresh) when the hold ends. */
    if (c->hold)
        return;
    wire_timer_start(c->timer,
                     kind == CLI_TIMER_HEAD ? c->opts.limits.head_timeout_ms
                                            : c->opts.limits.body_timeout_ms,
                     0);
}

/* ---- ending requests ---- */

/* End the first request with `err` (NULL: success).  `r` is freed. */
static void
req_finish(struct wire_http_client *c, struct wire_http_request *r,
           const struct wire_error *err)
{
    c->first = r->next;
    if (c->first == NULL)
        c->last = NULL;
    if (c->wcur == r)
        c->wcur = r->next;
    if (c->barrier == r)
        c->barrier = NULL;
    r->done = true;
    if (r->h.on_done != NULL)
        r->h.on_done(r->arg, r, err);
    free(r->head.p);
    free(r->out.p);
    free(r);
}

/* End every live request with `code`: "<why>; request N was not
 * answered".  The caller set c->dead, so none can be added meanwhile. */
static void
fail_rest(struct wire_http_client *c, int code, const char *why)
{
    while (c->first != NULL) {
        struct wire_error e = {0};
        wire_error_set(&e, code, "%s; request %u was not answered", why,
                       c->first->seq);
        req_finish(c, c->first, &e);
        wire_error_clear(&e);
    }
}

/* The connection cannot go on: the request whose response was awaited
 * gets `code`, the others WIRE_ECLOSED, on_close gets `code`, and the
 * transport is aborted. */
static void cli_fail(struct wire_http_client *c, int code, const char *fmt, ...)
    WIRE_PRINTF(3, 4);

static void
cli_fail(struct wire_http_client *c, int code, const char *fmt, ...)
{
    if (c->dead)
        return;
    c->dead = true;
    http_cli_timer_stop(c);
    va_list ap;
    va_start(ap, fmt);
    wire_error_setv(&c->close_err, code, fmt, ap);
    va_end(ap);
    if (awaiting(c))
        req_finish(c, c->first, &c->close_err);
    char why[256];
    snprintf(why, sizeof(why), "the connection failed (%s)", c->close_err.message);
    fail_rest(c, WIRE_ECLOSED, why);
    if (c->t != NULL)
        wire_transport_abort(c->t);
}

/* The connection is not reused after request `seq`: end the requests
 * behind it and close once what is queued went out. */
static void
no_reuse(struct wire_http_client *c, const char *why)
{
    c->dead = true;
    http_cli_timer_stop(c);
    fail_rest(c, WIRE_ECLOSED, why);
    if (c->t != NULL)
        wire_transport_close(c->t);
}

void
http_cli_maybe_close(struct wire_http_client *c)
{
    if (c->closing && c->first == NULL && c->t != NULL) {
        c->dead = true; /* what still comes has nobody to go to */
        wire_transport_close(c->t);
    }
}

/* ---- deferred work ---- */

static void resume_held(struct wire_http_client *c);

static void
soon_run(struct wire_soon *node)
{
    struct wire_http_client *c =
        (struct wire_http_client *)(void *)((char *)node -
                                            offsetof(struct wire_http_client, soon));
    struct wire_transport *t = c->soon_t;
    c->soon_t = NULL;
    c->soon_queued = false;
    if (!c->freed && !c->dead && !c->detached && c->t != NULL) {
        if (c->soon_resume) {
            c->soon_resume = false;
            resume_held(c);
        }
        struct wire_http_request *r = c->wcur;
        if (c->soon_writable && !c->dead && r != NULL && r->want_writable &&
            !c->write_paused && c->barrier == NULL) {
            c->soon_writable = false;
            r->want_writable = false;
            if (r->h.on_writable != NULL)
                r->h.on_writable(r->arg, r);
        }
    }
    c->soon_writable = false;
    cli_unref(c);
    wire_transport_unref(t);
}

void
http_cli_schedule(struct wire_http_client *c)
{
    if (c->soon_queued || c->t == NULL)
        return;
    c->soon_queued = true;
    c->soon.fn = soon_run;
    c->soon_t = wire_transport_ref(c->t);
    c->refs++;
    wire_impl_defer(c->t, &c->soon);
}

/* ---- reading ---- */

static int
perr(struct wire_http_client *c, int code, const char *msg)
{
    c->perr_code = code;
    snprintf(c->perr_msg, sizeof(c->perr_msg), "%s", msg);
    return HTTP_CB_ERROR;
}

/* HTTP/1.x keep-alive from the version and Connection alone: llhttp's
 * answer at the head assumes a body that a HEAD response does not have. */
static bool
version_keep_alive(const llhttp_t *p)
{
    if (p->http_major > 0 && p->http_minor > 0)
        return !(p->flags & F_CONNECTION_CLOSE);
    return (p->flags & F_CONNECTION_KEEP_ALIVE) != 0;
}

static int
on_head(struct http_parse *ps)
{
    struct wire_http_client *c = ps->owner;
    struct wire_http_request *r = c->first; /* awaiting(c) held */
    struct wire_http_head *hd = &ps->head;
    int st = hd->status;
    if (st >= 100 && st < 200 && st != 101) {
        c->interim = true; /* the server is alive: wait for the rest */
        http_cli_timer_start(c, CLI_TIMER_HEAD);
        return HTTP_CB_SKIP_BODY;
    }
    if (st == 101 && !r->upgrade)
        return perr(c, WIRE_EPROTO, "a 101 Switching Protocols answered a "
                                    "request that asked for no upgrade");
    c->upgrading = st == 101 || (r->is_connect && st >= 200 && st < 300);
    if (c->upgrading)
        hd->upgrade = true;
    bool no_body = r->is_head || st == 204 || st == 304;
    if (r->is_head)
        hd->keep_alive = version_keep_alive(&ps->p);
    http_cli_timer_stop(c);
    r->got_head = true;
    c->in_response = r;
    if (r->h.on_response != NULL)
        r->h.on_response(r->arg, r, hd);
    c->in_response = NULL;
    if (c->upgrading)
        return HTTP_CB_UPGRADE;
    if (no_body)
        return HTTP_CB_SKIP_BODY;
    if (r->body_paused)
        return HTTP_CB_PAUSE;
    http_cli_timer_start(c, CLI_TIMER_BODY);
    return HTTP_CB_OK;
}

static int
on_body(struct http_parse *ps, const char *data, size_t len)
{
    struct wire_http_client *c = ps->owner;
    struct wire_http_request *r = c->first;
    if (c->timer_kind == CLI_TIMER_BODY)
        http_cli_timer_start(c, CLI_TIMER_BODY);
    if (r->h.on_body != NULL)
        r->h.on_body(r->arg, r, data, len);
    return r->body_paused ? HTTP_CB_PAUSE : HTTP_CB_OK;
}

static int
on_complete(struct http_parse *ps)
{
    struct wire_http_client *c = ps->owner;
    if (c->interim) {
        c->interim = false;
        return HTTP_CB_PAUSE;
    }
    if (c->upgrading)
        return HTTP_CB_OK; /* finished once llhttp stopped (cli_upgraded) */
    struct wire_http_request *r = c->first;
    http_cli_timer_stop(c);
    bool keep = ps->head.keep_alive && !r->conn_close && r->written;
    unsigned seq = r->seq;
    bool early = !r->written;
    if (!keep)
        c->dead = true; /* nothing more goes out, even from on_done */
    req_finish(c, r, NULL);
    if (!keep) {
        char why[160];
        if (early)
            snprintf(why, sizeof(why), "the response to request %u came "
                     "before its body was sent, so the connection is not "
                     "reused", seq);
        else
            snprintf(why, sizeof(why), "the server closed the connection "
                     "after request %u", seq);
        no_reuse(c, why);
        return HTTP_CB_PAUSE;
    }
    http_cli_kick(c);
    if (c->first != NULL && c->first->written && !c->first->got_head)
        http_cli_timer_start(c, CLI_TIMER_HEAD);
    /* A pause asked for a response that turned out to have no body (or
     * whose end came with its last bytes) ends with it. */
    if (c->reading_paused && c->held_len == 0 && !body_paused(c) && c->t != NULL) {
        c->reading_paused = false;
        http_cli_sync_reading(c);
    }
    http_cli_maybe_close(c);
    return HTTP_CB_PAUSE;
}

static const struct http_parse_ops parse_ops = {
    .on_head = on_head,
    .on_body = on_body,
    .on_complete = on_complete,
};

static void
parse_failed(struct wire_http_client *c)
{
    unsigned seq = c->first != NULL ? c->first->seq : 0;
    if (c->perr_code != 0) {
        cli_fail(c, c->perr_code, "http client: request %u: %s", seq, c->perr_msg);
        return;
    }
    int code;
    switch (c->ps.fail_status) {
    case 413:
    case 414:
    case 431:
        code = WIRE_EMSGSIZE;
        break;
    case 500:
        code = WIRE_ENOMEM;
        break;
    default:
        code = WIRE_EPROTO;
    }
    cli_fail(c, code, "http client: the response to request %u: %s", seq,
             c->ps.fail_msg);
}

/* llhttp stopped after a 101 or a 2xx to CONNECT; `rest` is what came
 * after the head. */
static void
cli_upgraded(struct wire_http_client *c, const char *rest, size_t len)
{
    struct wire_http_request *r = c->first;
    struct wire_protocol *next = c->next_proto;
    struct wire_transport *t = c->t;
    char why[128];
    snprintf(why, sizeof(why), "the connection %s after request %u",
             next != NULL ? "was handed over to another protocol"
                          : "switched protocols", r->seq);
    c->next_proto = NULL;
    c->upgrading = false;
    c->dead = true;
    http_cli_timer_stop(c);
    if (next == NULL) {
        /* Nobody took it over: the response is whole, the connection
         * is of no further use to HTTP. */
        req_finish(c, r, NULL);
        fail_rest(c, WIRE_ECLOSED, why);
        wire_transport_close(t);
        return;
    }
    struct wire_error e = {0};
    struct wire_protocol *old = wire_transport_set_protocol(t, next, rest, len, &e);
    if (old == NULL) {
        wire_protocol_destroy(next);
        wire_error_copy(&c->close_err, &e);
        req_finish(c, r, &e);
        fail_rest(c, WIRE_ECLOSED, why);
        wire_transport_abort(t);
        wire_error_clear(&e);
        return;
    }
    /* `old` is our owner, whose callback we are inside: it is destroyed
     * on a later turn (which frees the engine), never here. */
    c->detached = true;
    c->t = NULL;
    c->reading_paused = false;
    c->handed_t = wire_transport_ref(t);
    c->refs++;
    wire_impl_defer(t, &c->handed);
    req_finish(c, r, NULL);
    fail_rest(c, WIRE_ECLOSED, why);
    report_close(c, NULL);
}

/* Keep `len` unparsed bytes and stop the transport's reading. */
static void
hold(struct wire_http_client *c, const char *data, size_t len)
{
    if (len > 0) {
        char *b = realloc(c->held, c->held_len + len);
        if (b == NULL) {
            cli_fail(c, WIRE_ENOMEM, "http client: out of memory");
            return;
        }
        memcpy(b + c->held_len, data, len);
        c->held = b;
        c->held_len += len;
    }
    c->reading_paused = true;
    http_cli_sync_reading(c);
}

/* Parse `len` bytes; `nudge`: feed once even with none (to finish a
 * message whose end was paused). */
static void
cli_process(struct wire_http_client *c, const char *data, size_t len,
            bool nudge)
{
    for (;;) {
        if (c->dead || c->detached)
            return;
        if (body_paused(c)) {
            hold(c, data, len);
            return;
        }
        if (len == 0 && !nudge)
            return;
        if (len > 0 && http_parse_idle(&c->ps) && !awaiting(c)) {
            cli_fail(c, WIRE_EPROTO, "http client: the server sent %zu "
                     "bytes with no request outstanding", len);
            return;
        }
        nudge = false;
        size_t n = http_parse_feed(&c->ps, data, len);
        if (n == HTTP_PARSE_FAILED) {
            parse_failed(c);
            return;
        }
        data += n;
        len -= n;
        if (http_parse_upgraded(&c->ps)) {
            cli_upgraded(c, data, len);
            return;
        }
    }
}

static void do_eof(struct wire_http_client *c);

static void
resume_held(struct wire_http_client *c)
{
    char *buf = c->held;
    size_t len = c->held_len;
    c->held = NULL;
    c->held_len = 0;
    /* Nothing held leaves `held` NULL; cli_process steps its pointer,
     * and NULL + 0 is undefined behaviour. */
    cli_process(c, buf != NULL ? buf : "", len, true);
    free(buf);
    if (c->dead || c->detached || body_paused(c) || c->t == NULL)
        return;
    if (c->eof_pending) {
        do_eof(c);
        return;
    }
    if (c->reading_paused) {
        c->reading_paused = false;
        http_cli_sync_reading(c);
    }
}

static void
do_eof(struct wire_http_client *c)
{
    c->eof_pending = false;
    if (!c->dead && !c->detached) {
        cli_process(c, "", 0, true); /* not NULL: see resume_held */
        if (!c->dead && !c->detached && !http_parse_idle(&c->ps)) {
            unsigned seq = c->first != NULL ? c->first->seq : 0;
            if (http_parse_eof(&c->ps) < 0 && !c->dead)
                cli_fail(c, WIRE_EINCOMPLETE, "http client: the connection "
                         "ended in the middle of the response to request %u",
                         seq);
        }
        if (!c->dead && !c->detached)
            no_reuse(c, "the server closed the connection");
    }
    if (c->t != NULL && !c->detached)
        wire_transport_close(c->t);
}

/* ---- the engine's interface (http_int.h) ---- */

/* After a take-over: destroy the protocol the transport returned. */
static void
handed_run(struct wire_soon *node)
{
    struct wire_http_client *c =
        (struct wire_http_client *)(void *)((char *)node -
                                            offsetof(struct wire_http_client, handed));
    struct wire_transport *t = c->handed_t;
    c->handed_t = NULL;
    wire_protocol_destroy(c->owner); /* frees our owner's reference */
    cli_unref(c);
    wire_transport_unref(t);
}

struct wire_http_client *
http_cli_new(const struct wire_http_client_opts *opts,
             struct wire_protocol *owner, struct wire_error *err)
{
    struct wire_http_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    if (opts != NULL)
        c->opts = *opts;
    if (c->opts.host != NULL) {
        if (!http_valid_value(c->opts.host) || c->opts.host[0] == '\0' ||
            strlen(c->opts.host) >= sizeof(c->host)) {
            free(c);
            wire_error_set(err, WIRE_EINVAL, "http client: the host is empty, "
                                             "too long or has CR/LF");
            return NULL;
        }
        c->host_opt = strdup(c->opts.host);
        if (c->host_opt == NULL) {
            free(c);
            goto nomem;
        }
        c->opts.host = c->host_opt;
    }
    http_limits_fill(&c->opts.limits);
    http_parse_init(&c->ps, false, &c->opts.limits, &parse_ops, c);
    c->owner = owner;
    c->refs = 1;
    c->handed.fn = handed_run;
    return c;
nomem:
    wire_error_set(err, WIRE_ENOMEM, "http client: out of memory");
    return NULL;
}

static void
timer_fired(void *arg)
{
    struct wire_http_client *c = arg;
    enum cli_timer kind = c->timer_kind;
    c->timer_kind = CLI_TIMER_NONE;
    unsigned seq = c->first != NULL ? c->first->seq : 0;
    if (kind == CLI_TIMER_HEAD)
        cli_fail(c, WIRE_ETIMEDOUT, "http client: no response head to request "
                 "%u within %llu ms", seq,
                 (unsigned long long)c->opts.limits.head_timeout_ms);
    else if (kind == CLI_TIMER_BODY)
        cli_fail(c, WIRE_ETIMEDOUT, "http client: the response body to request "
                 "%u stalled for %llu ms", seq,
                 (unsigned long long)c->opts.limits.body_timeout_ms);
}

void
http_cli_attach(struct wire_http_client *c, struct wire_transport *t)
{
    c->t = t;
    c->attached = true;
    struct wire_loop *loop = wire_transport_loop(t);
    if (loop != NULL && c->timer == NULL)
        c->timer = wire_timer_new(loop, timer_fired, c);
    char peer[300];
    const char *host = "localhost";
    if (c->opts.host != NULL) {
        host = c->opts.host;
    } else if (wire_transport_get_info(t, WIRE_INFO_PEER, peer, sizeof(peer)) > 0) {
        /* Only a network peer names a host ("tcp://example.org:80"). */
        if (strncmp(peer, "tcp://", 6) == 0 || strncmp(peer, "tls://", 6) == 0) {
            const char *h = peer + 6;
            if (*h != '\0' && strlen(h) < sizeof(c->host) && http_valid_value(h))
                host = h;
        }
    }
    /* Both sources were checked to fit (opts.host when the client was
     * made, the peer's name above); the clamp only says so to the
     * compiler, which cannot see it at -O1 and would warn that an
     * snprintf might truncate. */
    size_t hlen = strlen(host);
    if (hlen >= sizeof(c->host))
        hlen = sizeof(c->host) - 1;
    memcpy(c->host, host, hlen);
    c->host[hlen] = '\0';
    http_cli_kick(c);
    http_cli_maybe_close(c);
}

void
http_cli_data(struct wire_http_client *c, const void *data, size_t len)
{
    if (c->held_len > 0 || body_paused(c)) {
        hold(c, data, len); /* nothing may pass the held bytes */
        return;
    }
    cli_process(c, data, len, false);
}

bool
http_cli_eof(struct wire_http_client *c)
{
    if (c->held_len > 0 || body_paused(c))
        c->eof_pending = true;
    else
        do_eof(c);
    return true;
}

void
http_cli_lost(struct wire_http_client *c, const struct wire_error *err)
{
    http_cli_timer_stop(c);
    if (!c->dead && !c->detached) {
        c->dead = true;
        while (c->first != NULL) {
            struct wire_http_request *r = c->first;
            struct wire_error e = {0};
            if (err != NULL)
                wire_error_copy(&e, err);
            else if (r->got_head || !http_parse_idle(&c->ps))
                wire_error_set(&e, WIRE_EINCOMPLETE, "http client: the connection "
                               "ended in the middle of the response to request %u",
                               r->seq);
            else
                wire_error_set(&e, WIRE_ECLOSED, "http client: the connection "
                               "closed before request %u was answered", r->seq);
            req_finish(c, r, &e);
            wire_error_clear(&e);
        }
    }
    c->t = NULL;
    report_close(c, c->close_err.code != 0 ? &c->close_err : err);
}

void
http_cli_pause_writing(struct wire_http_client *c)
{
    c->write_paused = true;
}

void
http_cli_resume_writing(struct wire_http_client *c)
{
    c->write_paused = false;
    struct wire_http_request *r = c->wcur;
    if (r != NULL && r->want_writable && http_cli_can_write(c, r)) {
        r->want_writable = false;
        if (r->h.on_writable != NULL)
            r->h.on_writable(r->arg, r);
    }
}

void
http_cli_hold_reading(struct wire_http_client *c, bool hold)
{
    if (hold == c->hold)
        return;
    c->hold = hold;
    if (c->timer != NULL && c->timer_kind != CLI_TIMER_NONE) {
        if (hold)
            wire_timer_stop(c->timer);
        else
            http_cli_timer_start(c, c->timer_kind);
    }
    http_cli_sync_reading(c);
}

void
http_cli_free(struct wire_http_client *c)
{
    if (c == NULL)
        return;
    if (!c->closed_reported) {
        /* Never attached (a failed connect), or an owner that frees
         * the engine without reporting the loss. */
        const char *why = c->attached ? "http client: the connection is gone"
                                      : "http client: the connection was never made";
        c->dead = true;
        fail_rest(c, WIRE_ECLOSED, why);
        struct wire_error e = {0};
        wire_error_set(&e, WIRE_ECLOSED, "%s", why);
        report_close(c, &e);
        wire_error_clear(&e);
    }
    c->freed = true;
    if (c->next_proto != NULL)
        wire_protocol_destroy(c->next_proto);
    c->next_proto = NULL;
    wire_timer_free(c->timer);
    c->timer = NULL;
    cli_unref(c);
}
