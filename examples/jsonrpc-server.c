/*
 * jsonrpc-server [--framing lines|content-length|http] ENDPOINT — a
 * JSON-RPC 2.0 server with the specification's example methods.
 *
 * Listens on ENDPOINT (tcp://127.0.0.1:0, unix:/tmp/rpc.sock, ...), prints
 * exactly one line "listening on <endpoint with the real port>" and
 * serves until SIGINT or SIGTERM, which shut it down gracefully
 * (connections get 5 s to finish) with exit status 0.  An endpoint that is
 * already a connection (stdio:, exec:COMMAND, file:, serial:) is served
 * as that one connection, without the line: `--framing content-length
 * stdio:` is a server in the manner of a language server.
 *
 * Framing: lines (the default: one JSON text per line, "\n" or "\r\n"),
 * content-length ("Content-Length: N\r\n\r\n" before each), http (HTTP/1.1
 * through wire_http_server_layer_new: each POST, on any path, carries one
 * message, answered as "200 application/json"; a notification gets "204
 * No Content" at once, a call answered later, such as sleep, keeps its
 * request waiting for the answer; other methods get 405).  Over
 * tls://HOST:PORT?cert=..&key=.. it is HTTPS.
 *
 * Methods (section 7 of the specification, and two more):
 *   subtract [a, b] or {"minuend": a, "subtrahend": b}  ->  a - b
 *   sum [numbers...]                                    ->  their sum
 *   get_data                                            ->  ["hello", 5]
 *   update, notify_hello, notify_sum                    ->  (notifications)
 *   echo PARAMS                                         ->  PARAMS
 *   sleep {"ms": N}  ->  N, answered after N ms (0..60000) by a loop timer,
 *                        so answers can overtake each other.
 * A connection that fails (an over-long message...) is reported on
 * stderr; the others go on.
 */
#include <wire/wire.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct wire_loop *loop;

/* ---- the methods ---- */

/* A number as a result: an integer when both operands were. */
static json_t *
number(double v, bool integral)
{
    if (integral && v >= -9007199254740992.0 && v <= 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static void
m_subtract(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    json_t *a = NULL, *b = NULL;
    if (json_is_array(params) && json_array_size(params) == 2) {
        a = json_array_get(params, 0);
        b = json_array_get(params, 1);
    } else if (json_is_object(params) && json_object_size(params) == 2) {
        a = json_object_get(params, "minuend");
        b = json_object_get(params, "subtrahend");
    }
    if (!json_is_number(a) || !json_is_number(b)) {
        wire_jsonrpc_respond_error(call, WIRE_JSONRPC_INVALID_PARAMS, NULL,
                                   json_string("subtract takes [minuend, "
                                               "subtrahend] or {\"minuend\": "
                                               "x, \"subtrahend\": y}"));
        return;
    }
    wire_jsonrpc_respond(call, number(json_number_value(a) - json_number_value(b),
                                      json_is_integer(a) && json_is_integer(b)));
}

static void
m_sum(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    double total = 0;
    bool integral = true;
    size_t i;
    json_t *v;
    if (!json_is_array(params))
        goto bad;
    json_array_foreach(params, i, v) {
        if (!json_is_number(v))
            goto bad;
        total += json_number_value(v);
        integral = integral && json_is_integer(v);
    }
    wire_jsonrpc_respond(call, number(total, integral));
    return;
bad:
    wire_jsonrpc_respond_error(call, WIRE_JSONRPC_INVALID_PARAMS, NULL,
                               json_string("sum takes an array of numbers"));
}

static void
m_get_data(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    (void)params;
    wire_jsonrpc_respond(call, json_pack("[si]", "hello", 5));
}

/* update, notify_hello, notify_sum: notifications in the specification;
 * called with an id they answer null. */
static void
m_notification(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    (void)params;
    wire_jsonrpc_respond(call, NULL);
}

static void
m_echo(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    wire_jsonrpc_respond(call, params != NULL ? json_incref(params) : NULL);
}

/* sleep: the call waits in a list, so a shutdown can answer it at once. */
struct sleeper {
    struct wire_jsonrpc_call *call;
    struct wire_timer *timer;
    json_int_t ms;
    struct sleeper *prev, *next;
};
static struct sleeper *sleepers;

static void
sleeper_done(struct sleeper *s, bool shutting_down)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        sleepers = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    wire_timer_free(s->timer);
    /* The connection may be gone: the call is freed all the same. */
    if (shutting_down)
        wire_jsonrpc_respond_error(s->call, WIRE_JSONRPC_SERVER_ERROR_MAX,
                                   "server shutting down", NULL);
    else
        wire_jsonrpc_respond(s->call, json_integer(s->ms));
    free(s);
}

static void
sleep_fired(void *arg)
{
    sleeper_done(arg, false);
}

static void
m_sleep(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    json_t *ms = json_object_get(params, "ms");
    if (!json_is_integer(ms) || json_integer_value(ms) < 0 ||
        json_integer_value(ms) > 60000) {
        wire_jsonrpc_respond_error(call, WIRE_JSONRPC_INVALID_PARAMS, NULL,
                                   json_string("sleep takes {\"ms\": 0..60000}"));
        return;
    }
    struct sleeper *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->timer = wire_timer_new(loop, sleep_fired, s)) == NULL) {
        free(s);
        wire_jsonrpc_respond_error(call, WIRE_JSONRPC_INTERNAL_ERROR, NULL, NULL);
        return;
    }
    s->call = call;
    s->ms = json_integer_value(ms);
    s->next = sleepers;
    if (sleepers != NULL)
        sleepers->prev = s;
    sleepers = s;
    wire_timer_start(s->timer, (uint64_t)s->ms, 0);
}

static const struct wire_jsonrpc_method methods[] = {
    {"subtract", m_subtract, NULL},
    {"sum", m_sum, NULL},
    {"get_data", m_get_data, NULL},
    {"update", m_notification, NULL},
    {"notify_hello", m_notification, NULL},
    {"notify_sum", m_notification, NULL},
    {"echo", m_echo, NULL},
    {"sleep", m_sleep, NULL},
};

/* ---- connections ---- */

enum framing { F_LINES, F_CONTENT_LENGTH, F_HTTP };
static enum framing framing = F_LINES;

static bool one_connection;
static struct wire_jsonrpc *conn; /* the one connection, while it is up */
static int exit_status;
/* SIGINT / SIGTERM watchers for the one connection (a server watches
 * its own: wire_server_shutdown_on_signals). */
static struct wire_signal *sigint_watch, *sigterm_watch;
static bool stop_early;

static void
stop_watching_signals(void)
{
    wire_signal_free(sigint_watch);
    wire_signal_free(sigterm_watch);
    sigint_watch = sigterm_watch = NULL;
}

static void
on_close(void *arg, const struct wire_error *err)
{
    (void)arg;
    if (err != NULL)
        fprintf(stderr, "jsonrpc-server: %s\n", err->message);
    if (!one_connection)
        return;
    if (err != NULL)
        exit_status = 1;
    conn = NULL;
    stop_watching_signals();
}

static void
on_open(void *arg, struct wire_jsonrpc *rpc, struct wire_transport *t)
{
    (void)arg;
    (void)t;
    if (one_connection) {
        conn = rpc;
        if (stop_early)
            wire_jsonrpc_close(rpc);
    }
}

static const struct wire_jsonrpc_opts rpc_opts = {
    .methods = methods,
    .nmethods = sizeof(methods) / sizeof(methods[0]),
    .on_close = on_close,
    .on_open = on_open,
};

/* One connection's stack: the framing under the JSON-RPC peer. */
static struct wire_protocol *
rpc_new(void *arg)
{
    (void)arg;
    struct wire_error err = {0};
    struct wire_protocol *p = wire_jsonrpc_new(&rpc_opts, NULL, &err);
    if (p != NULL && framing == F_LINES) {
        struct wire_chunk_opts o;
        wire_lines_opts_init(&o, true, false); /* accept \r\n, write \n */
        o.max_len = WIRE_JSONRPC_DEFAULT_MAX_MESSAGE;
        p = wire_chunk_layer_new(p, &o, &err);
    } else if (p != NULL && framing == F_CONTENT_LENGTH) {
        p = wire_content_length_layer_new(p, WIRE_JSONRPC_DEFAULT_MAX_MESSAGE,
                                          &err);
    } else if (p != NULL) {
        /* No reply_timeout_ms: the JSON-RPC peer tells the layer which
         * requests get an answer (wire_transport_hint_reply), so a
         * notification gets its 204 at once and sleep is not cut short. */
        struct wire_http_layer_opts ho = {
            .content_type = "application/json",
            .limits.max_body = WIRE_JSONRPC_DEFAULT_MAX_MESSAGE,
        };
        p = wire_http_server_layer_new(p, &ho, &err);
    }
    if (p == NULL) { /* refuse this connection, keep serving */
        fprintf(stderr, "jsonrpc-server: %s\n", err.message);
        wire_error_clear(&err);
    }
    return p;
}

static void
on_connected(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    (void)arg;
    (void)t;
    if (err != NULL) {
        /* on_close said why already (the protocol was destroyed). */
        exit_status = 1;
        stop_watching_signals();
    }
}

/* SIGINT / SIGTERM.  Sleeping calls are answered now, not when their
 * timers say.  Then a server is shut down by the library (connections
 * get 5 s to finish); the one connection is closed here. */
static void
on_signal(void *arg, int signo)
{
    (void)arg;
    (void)signo;
    while (sleepers != NULL)
        sleeper_done(sleepers, true);
    if (!one_connection)
        return;
    stop_watching_signals();
    if (conn != NULL)
        wire_jsonrpc_close(conn);
    else
        stop_early = true;
}

static int
usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--framing lines|content-length|http] ENDPOINT\n"
            "  serves JSON-RPC 2.0 on ENDPOINT (tcp://HOST:PORT, unix:/PATH,\n"
            "  tls://HOST:PORT?cert=..&key=..; prints \"listening on ADDRESS\"),\n"
            "  or on the one connection an endpoint like stdio: is, until\n"
            "  SIGINT or SIGTERM.  http: POST on any path.\n"
            "  methods: subtract, sum, get_data, update, notify_hello,\n"
            "  notify_sum, echo, sleep {\"ms\": N}\n",
            argv0);
    return 2;
}

int
main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--framing") == 0 ||
                   strncmp(argv[i], "--framing=", 10) == 0) {
            const char *v = argv[i][9] == '=' ? argv[i] + 10 : argv[++i];
            if (v == NULL)
                return usage(argv[0]);
            if (strcmp(v, "lines") == 0)
                framing = F_LINES;
            else if (strcmp(v, "content-length") == 0)
                framing = F_CONTENT_LENGTH;
            else if (strcmp(v, "http") == 0)
                framing = F_HTTP;
            else {
                fprintf(stderr, "jsonrpc-server: unknown framing '%s'\n", v);
                return usage(argv[0]);
            }
        } else {
            fprintf(stderr, "jsonrpc-server: unknown option %s\n", argv[i]);
            return usage(argv[0]);
        }
    }
    if (i != argc - 1)
        return usage(argv[0]);
    const char *endpoint = argv[i];
    loop = wire_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "jsonrpc-server: cannot create the event loop\n");
        return 1;
    }
    struct wire_server *server = NULL;
    struct wire_error err = {0};
    int rc = wire_listen(loop, endpoint, rpc_new, NULL, NULL, &server, &err);
    if (rc == WIRE_ENOTSUP) {
        /* The endpoint is a connection already (stdio:, exec:, ...). */
        wire_error_clear(&err);
        one_connection = true;
        struct wire_protocol *p = rpc_new(NULL);
        if (p == NULL) {
            wire_loop_free(loop);
            return 1;
        }
        rc = wire_connect(loop, endpoint, p, NULL, on_connected, NULL, &err);
        if (rc < 0) /* the protocol is still ours */
            wire_protocol_destroy(p);
    } else if (rc == 0) {
        rc = wire_server_shutdown_on_signals(server, 5000, on_signal, NULL,
                                             NULL, &err);
    }
    if (rc < 0) {
        fprintf(stderr, "jsonrpc-server: %s\n", err.message);
        wire_error_clear(&err);
        wire_server_free(server);
        wire_loop_free(loop);
        return 1;
    }
    if (one_connection) {
        sigint_watch = wire_signal_new(loop, SIGINT, on_signal, NULL, NULL);
        sigterm_watch = wire_signal_new(loop, SIGTERM, on_signal, NULL, NULL);
    } else {
        printf("listening on %s\n", wire_server_address(server));
        fflush(stdout);
    }
    wire_loop_run(loop);
    wire_server_free(server);
    while (sleepers != NULL)
        sleeper_done(sleepers, true);
    wire_loop_free(loop);
    return exit_status;
}
