/*
 * wirecat — relay bytes both ways between two endpoints, like socat.
 *
 *   wirecat [--listen [--once]] [--timeout MS] [--trace] A B
 *
 * Without --listen, wirecat connects to A and to B, joins the two
 * connections with a relay (wire_relay_new: backpressure and half-close
 * cross from one side to the other) and exits when both directions are
 * done.  With --listen it serves A, and every accepted connection is
 * relayed to a new connection to B; with --once only the first, and
 * wirecat exits when it ends.  Every endpoint, `stdio:` (fds 0 and 1)
 * included, is dialled with wire_connect(); the library's transports
 * never raise SIGPIPE, so wirecat leaves its disposition alone.  With
 * --trace, each side's protocol runs under a trace layer (<wire/trace.h>)
 * that writes what crosses it to stderr, labelled A and B (A#N and B#N
 * for the Nth accepted connection), on one time axis.
 *
 * Exit status: 0 when both sides closed cleanly (or a server was stopped
 * by SIGINT/SIGTERM), 1 on a runtime error (refused, reset, timeout...),
 * 2 on a usage error (a bad option or endpoint).  See wirecat.1.
 */
#include <wire/wire.h>

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long connections get to flush after SIGINT/SIGTERM before they are
 * aborted (a second signal aborts at once). */
#define STOP_GRACE_MS 5000

struct session;

/* One side of a relayed pair of connections. */
struct side {
    struct session *s;
    const char *endpoint; /* what we dial, or NULL for an accepted client */
    const char *label;    /* how messages name this side */
    struct wire_transport *t; /* referenced once connected (dialled sides) */
    bool pending;         /* a wire_connect is in flight */
};

/* Two connections joined by one relay. */
struct session {
    struct app *app;
    unsigned long id;
    struct side side[2]; /* [0] is A, [1] is B */
    bool relay_done;
    bool failed; /* an error was reported */
};

struct app {
    struct wire_loop *loop;
    const char *a, *b;
    bool listen, once;
    bool trace;                   /* --trace */
    uint64_t trace_start;         /* the trace lines' time 0 */
    struct wire_connect_options copts;
    struct wire_server *server;   /* --listen */
    struct session *conn;         /* without --listen: the one session */
    struct wire_signal *sigint, *sigterm;
    struct wire_timer *deadline;  /* aborts what is still open after a stop */
    unsigned live;                /* sessions not yet finished */
    unsigned connecting;          /* wire_connect calls in flight */
    unsigned long accepted;
    bool stopping;
    volatile bool finished;
    int status;
};

static void
usage(FILE *f)
{
    fputs(
        "usage: wirecat [--listen [--once]] [--timeout MS] [--trace] A B\n"
        "\n"
        "Relay bytes both ways between endpoints A and B, like socat.\n"
        "\n"
        "  A, B              tcp://HOST:PORT, tcp://[IPV6]:PORT, unix:/PATH,\n"
        "                    unix:@NAME; and, as B or without --listen:\n"
        "                    stdio:            standard input and output\n"
        "                                      (at most one side)\n"
        "                    exec:COMMAND ARGS a program's stdin and stdout\n"
        "                    serial:/dev/TTY?baud=N  a serial line\n"
        "                    file:IN?out=OUT   read IN, write OUT (either\n"
        "                                      may be left out)\n"
        "  -l, --listen      serve A: relay every accepted connection to a new\n"
        "                    connection to B, until SIGINT or SIGTERM\n"
        "  -o, --once        with --listen: accept one connection and exit when\n"
        "                    it ends (implied when B is stdio:)\n"
        "  -t, --timeout MS  give up a connect after MS milliseconds\n"
        "                    (default 30000)\n"
        "      --trace       report what crosses each side (data with a hex\n"
        "                    dump, EOF, flow control, close, errors) on\n"
        "                    standard error, one line per event, sides\n"
        "                    labelled A and B (A#N, B#N with --listen)\n"
        "  -h, --help        print this help and exit\n"
        "      --version     print the version and exit\n"
        "\n"
        "With --listen, wirecat prints \"listening on ADDRESS\" (with the real\n"
        "port when PORT is 0) on standard output, or on standard error when B\n"
        "is stdio: (standard output carries the data then).\n"
        "\n"
        "Exit status: 0 when both sides closed cleanly (or the server was\n"
        "stopped by SIGINT/SIGTERM), 1 on a runtime error (refused, reset,\n"
        "timeout), 2 on a usage error (bad option or endpoint).\n"
        "\n"
        "Examples:\n"
        "  wirecat stdio: tcp://127.0.0.1:7000\n"
        "  wirecat --listen tcp://127.0.0.1:8000 unix:/run/app.sock\n"
        "  wirecat stdio: \"exec:tr a-z A-Z\"\n",
        f);
}

static int
usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("wirecat: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'wirecat --help' for more information.\n", stderr);
    return 2;
}

/* True when `endpoint` is the stdio endpoint (exactly "stdio:"; anything
 * after the colon is refused by check_endpoint). */
static bool
is_stdio(const char *endpoint)
{
    return strcmp(endpoint, "stdio:") == 0;
}

/* Errors that a wrong command line causes, as opposed to the network. */
static bool
is_usage_code(int code)
{
    return code == WIRE_EENDPOINT || code == WIRE_ENOSCHEME ||
           code == WIRE_EINVAL;
}

/* Say what went wrong in session `s` on stderr. */
static void
report(struct session *s, const char *fmt, ...) WIRE_PRINTF(2, 3);

static void
report(struct session *s, const char *fmt, ...)
{
    va_list ap;
    s->failed = true;
    if (s->app->listen && !s->app->once)
        fprintf(stderr, "wirecat: connection %lu: ", s->id);
    else
        fputs("wirecat: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- stopping ---- */

static void
check_finished(struct app *app)
{
    if (app->live == 0 && app->server == NULL)
        app->finished = true;
}

static void
server_gone(void *arg)
{
    struct app *app = arg;
    wire_server_free(app->server);
    app->server = NULL;
    check_finished(app);
}

/* Second signal, or the grace period is over: abort what is still open. */
static void
force_stop(void *arg)
{
    struct app *app = arg;
    if (app->server != NULL) {
        wire_server_free(app->server); /* aborts its connections */
        app->server = NULL;
    }
    if (app->conn != NULL)
        for (int i = 0; i < 2; i++)
            if (app->conn->side[i].t != NULL)
                wire_transport_abort(app->conn->side[i].t);
    if (app->connecting > 0) {
        /* A connect cannot be canceled, and may take until its timeout.
         * Aborting closed stdio (its flags are restored): exit now. */
        fputs("wirecat: exiting with a connect still in progress\n", stderr);
        exit(app->status);
    }
    check_finished(app);
}

/* Graceful stop: stop accepting and close every connection, flushing
 * what each holds; abort what is left after STOP_GRACE_MS. */
static void
begin_stop(void *arg)
{
    struct app *app = arg;
    if (app->stopping)
        return;
    app->stopping = true;
    if (app->server != NULL) {
        wire_server_shutdown(app->server, STOP_GRACE_MS, server_gone, app);
        return;
    }
    if (app->conn != NULL) {
        for (int i = 0; i < 2; i++)
            if (app->conn->side[i].t != NULL)
                wire_transport_close(app->conn->side[i].t);
        app->deadline = wire_timer_new(app->loop, force_stop, app);
        if (app->deadline != NULL)
            wire_timer_start(app->deadline, STOP_GRACE_MS, 0);
    }
    check_finished(app);
}

/* SIGINT or SIGTERM (from the loop): the first stops gracefully, the
 * next one forces it. */
static void
on_signal(void *arg, int signo)
{
    struct app *app = arg;
    (void)signo;
    if (app->stopping) {
        force_stop(app);
        return;
    }
    if (!app->listen) {
        /* The transfer did not finish on its own. */
        fputs("wirecat: interrupted\n", stderr);
        app->status = 1;
    }
    begin_stop(app);
}

/* ---- sessions ---- */

/* A session ends once its relay is done and no connect is in flight (a
 * failed connect reports after the relay learned of it). */
static void
session_maybe_end(struct session *s)
{
    if (!s->relay_done || s->side[0].pending || s->side[1].pending)
        return;
    struct app *app = s->app;
    if (s->failed && app->status == 0 && (!app->listen || app->once))
        app->status = 1;
    for (int i = 0; i < 2; i++)
        wire_transport_unref(s->side[i].t);
    if (app->conn == s)
        app->conn = NULL;
    free(s);
    app->live--;
    if (app->listen && app->once)
        wire_loop_call_soon(app->loop, begin_stop, app);
    check_finished(app);
}

static void
session_done(void *arg, const struct wire_error *err_a,
             const struct wire_error *err_b, uint64_t bytes_ab,
             uint64_t bytes_ba)
{
    struct session *s = arg;
    const struct wire_error *errs[2] = {err_a, err_b};
    (void)bytes_ab;
    (void)bytes_ba;
    s->relay_done = true;
    /* An abort is what the relay does to one side when the other failed:
     * report the cause, and an abort only when it is all we know. */
    bool cause = false;
    for (int i = 0; i < 2; i++)
        if (errs[i] != NULL && errs[i]->code != WIRE_EABORTED) {
            report(s, "%s: %s", s->side[i].label, errs[i]->message);
            cause = true;
        }
    if (!cause && !s->failed)
        for (int i = 0; i < 2; i++)
            if (errs[i] != NULL) {
                report(s, "%s: %s", s->side[i].label, errs[i]->message);
                break;
            }
    session_maybe_end(s);
}

static void
on_connected(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct side *sd = arg;
    struct session *s = sd->s;
    sd->pending = false;
    s->app->connecting--;
    if (err != NULL) {
        report(s, "%s", err->message);
    } else {
        sd->t = wire_transport_ref(t);
        if (s->app->stopping)
            wire_transport_close(t);
    }
    session_maybe_end(s);
}

static struct session *
session_new(struct app *app, struct wire_protocol **pa,
            struct wire_protocol **pb)
{
    struct session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (wire_relay_new(pa, pb, session_done, s) < 0) {
        free(s);
        return NULL;
    }
    s->app = app;
    s->id = app->accepted;
    for (int i = 0; i < 2; i++)
        s->side[i].s = s;
    app->live++;
    return s;
}

/*
 * Start `p` on side `sd`: dial its endpoint.  Returns 0, or a negative
 * code (reported) when it could not even start; `p` is then still the
 * caller's, to destroy once nothing touches the session (the relay may
 * end it).
 */
static int
side_start(struct side *sd, struct wire_protocol *p)
{
    struct app *app = sd->s->app;
    struct wire_error err = {0};
    sd->pending = true;
    app->connecting++;
    int rc = wire_connect(app->loop, sd->endpoint, p, &app->copts, on_connected,
                          sd, &err);
    if (rc < 0) {
        sd->pending = false;
        app->connecting--;
        report(sd->s, "%s", err.message);
    }
    wire_error_clear(&err);
    return rc;
}

/* With --trace, put `p` under a trace layer labelled `side` (and `id`
 * when not 0).  Returns the protocol to start; NULL (reported) when the
 * layer could not be made, `p` then destroyed. */
static struct wire_protocol *
traced(struct app *app, struct wire_protocol *p, const char *side,
       unsigned long id)
{
    if (!app->trace)
        return p;
    char label[32];
    if (id != 0)
        snprintf(label, sizeof(label), "%s#%lu", side, id);
    else
        snprintf(label, sizeof(label), "%s", side);
    struct wire_trace_opts o = {0};
    o.label = label;
    o.start_us = app->trace_start;
    struct wire_error err = {0};
    struct wire_protocol *t = wire_trace_layer_new(p, &o, &err);
    if (t == NULL) {
        fprintf(stderr, "wirecat: %s\n", err.message);
        wire_error_clear(&err);
    }
    return t;
}

/* ---- the two modes ---- */

static void
start_connect_mode(struct app *app)
{
    struct wire_protocol *p[2];
    struct session *s = session_new(app, &p[0], &p[1]);
    if (s == NULL) {
        fputs("wirecat: out of memory\n", stderr);
        app->status = 1;
        app->finished = true;
        return;
    }
    app->conn = s;
    s->side[0].endpoint = app->a;
    s->side[1].endpoint = app->b;
    for (int i = 0; i < 2; i++)
        s->side[i].label = is_stdio(s->side[i].endpoint) ? "stdio"
                                                         : s->side[i].endpoint;
    for (int i = 0; i < 2; i++) {
        p[i] = traced(app, p[i], i == 0 ? "A" : "B", 0);
        if (p[i] == NULL) {
            /* Destroying a side tells the relay, which ends the session
             * once both are gone. */
            app->status = 1;
            wire_protocol_destroy(p[1 - i]);
            return;
        }
    }
    /* Dial the other side first and stdio last, so a bad endpoint string
     * is found before standard input and output are touched. */
    int order[2] = {0, 1};
    if (is_stdio(app->a)) {
        order[0] = 1;
        order[1] = 0;
    }
    for (int k = 0; k < 2; k++) {
        int i = order[k];
        int rc = side_start(&s->side[i], p[i]);
        if (rc == 0) {
            p[i] = NULL; /* the transport owns it now */
            continue;
        }
        app->status = is_usage_code(rc) ? 2 : 1;
        /* Destroying what never started tells the relay, which closes
         * the side already started, and may end (free) the session. */
        struct wire_protocol *left[2] = {p[order[0]], p[order[1]]};
        for (int j = 0; j < 2; j++)
            wire_protocol_destroy(left[j]);
        return;
    }
}

static struct wire_protocol *
on_accept(void *arg)
{
    struct app *app = arg;
    if (app->stopping || (app->once && app->accepted > 0))
        return NULL; /* refuse: the connection is closed */
    app->accepted++;
    if (app->once)
        wire_server_stop_accepting(app->server);
    struct wire_protocol *pa, *pb;
    struct session *s = session_new(app, &pa, &pb);
    if (s == NULL) {
        fputs("wirecat: out of memory\n", stderr);
        return NULL;
    }
    unsigned long id = s->id;
    if ((pa = traced(app, pa, "A", id)) == NULL) {
        wire_protocol_destroy(pb); /* ends the session */
        return NULL;
    }
    if ((pb = traced(app, pb, "B", id)) == NULL) {
        wire_protocol_destroy(pa); /* ends the session */
        return NULL;
    }
    s->side[0].label = "client";
    s->side[1].endpoint = app->b;
    s->side[1].label = is_stdio(app->b) ? "stdio" : app->b;
    int rc = side_start(&s->side[1], pb);
    if (rc < 0) {
        /* B cannot even be started: it would fail for every connection
         * alike, so stop serving.  Stopping waits for the loop: we are
         * inside the server's accept path. */
        if (app->status == 0)
            app->status = is_usage_code(rc) ? 2 : 1;
        wire_protocol_destroy(pb);
        wire_protocol_destroy(pa); /* ends the session */
        wire_loop_call_soon(app->loop, begin_stop, app);
        return NULL;
    }
    return pa;
}

static int
start_listen_mode(struct app *app, bool b_is_stdio)
{
    struct wire_error err = {0};
    int rc = wire_listen(app->loop, app->a, on_accept, app, NULL, &app->server,
                         &err);
    if (rc < 0) {
        fprintf(stderr, "wirecat: %s\n", err.message);
        wire_error_clear(&err);
        app->server = NULL;
        /* WIRE_ENOTSUP: A is a connection (exec:, file:...), not a place
         * to listen on. */
        return is_usage_code(rc) || rc == WIRE_ENOTSUP ? 2 : 1;
    }
    /* Standard output carries the data when B is stdio. */
    FILE *f = b_is_stdio ? stderr : stdout;
    fprintf(f, "listening on %s\n", wire_server_address(app->server));
    fflush(f);
    return 0;
}

/* ---- command line ---- */

/* Catch what is wrong with an endpoint string before anything starts:
 * a missing scheme, and (for the scheme://host:port shape) a malformed
 * address.  Whether the scheme exists, and what the rest of any other
 * shape means (an exec: command may hold '?' and '%'), is wire_connect's
 * to say. */
static int
check_endpoint(const char *str, const char *which)
{
    if (is_stdio(str))
        return 0;
    if (strncmp(str, "stdio:", 6) == 0)
        return usage_error("%s: 'stdio:' takes no address or parameters "
                           "(got '%s')", which, str);
    struct wire_error err = {0};
    struct wire_endpoint ep;
    char scheme[32];
    const char *colon = strchr(str, ':');
    int rc;
    if (colon != NULL && strncmp(colon, "://", 3) == 0) {
        rc = wire_endpoint_parse(str, WIRE_ENDPOINT_HOSTPORT, &ep, &err);
        wire_endpoint_clear(&ep);
    } else {
        rc = wire_endpoint_scheme(str, scheme, sizeof(scheme), &err);
    }
    if (rc < 0) {
        rc = usage_error("%s: %s", which, err.message);
        wire_error_clear(&err);
        return rc;
    }
    return 0;
}

static int
parse_timeout(const char *s, uint64_t *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || v == 0 || v > UINT32_MAX)
        return -1;
    *out = v;
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", no_argument, NULL, 'l'},
        {"once", no_argument, NULL, 'o'},
        {"timeout", required_argument, NULL, 't'},
        {"trace", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct app app;
    memset(&app, 0, sizeof(app));
    int c;
    opterr = 0; /* our own messages, named "wirecat" */
    while ((c = getopt_long(argc, argv, ":lot:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            app.listen = true;
            break;
        case 'o':
            app.once = true;
            break;
        case 't':
            if (parse_timeout(optarg, &app.copts.timeout_ms) < 0)
                return usage_error("--timeout: '%s' is not a number of "
                                   "milliseconds between 1 and %u",
                                   optarg, (unsigned)UINT32_MAX);
            break;
        case 'T':
            app.trace = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("wirecat (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
            return 0;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt != 0)
                return usage_error("unknown option '-%c'", optopt);
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return usage_error("expected two endpoints, A and B (got %d)",
                           argc - optind);
    app.a = argv[optind];
    app.b = argv[optind + 1];
    int rc;
    if ((rc = check_endpoint(app.a, "A")) != 0 ||
        (rc = check_endpoint(app.b, "B")) != 0)
        return rc;
    bool a_stdio = is_stdio(app.a), b_stdio = is_stdio(app.b);
    if (a_stdio && b_stdio)
        return usage_error("only one side can be stdio:");
    if (app.once && !app.listen)
        return usage_error("--once only makes sense with --listen");
    if (app.listen && a_stdio)
        return usage_error("--listen needs an endpoint to listen on as A, "
                           "not stdio:");
    if (app.listen && b_stdio)
        app.once = true; /* standard input and output serve one client */

    /* No SIGPIPE handling: a reader that goes away is an EPIPE in
     * connection_lost, the library never raises the signal.  SIGINT and
     * SIGTERM are watched by the loop. */

    app.trace_start = wire_trace_clock_us();
    app.loop = wire_loop_new();
    if (app.loop == NULL) {
        fputs("wirecat: cannot create the event loop\n", stderr);
        return 1;
    }
    struct wire_error err = {0};
    app.sigint = wire_signal_new(app.loop, SIGINT, on_signal, &app, &err);
    if (app.sigint != NULL)
        app.sigterm = wire_signal_new(app.loop, SIGTERM, on_signal, &app, &err);
    if (app.sigterm == NULL) {
        fprintf(stderr, "wirecat: %s\n", err.message);
        wire_error_clear(&err);
        wire_signal_free(app.sigint);
        wire_loop_free(app.loop);
        return 1;
    }
    if (app.listen)
        rc = start_listen_mode(&app, b_stdio);
    else
        start_connect_mode(&app);
    if (rc == 0) {
        check_finished(&app);
        wire_loop_run_until(app.loop, &app.finished, -1);
        rc = app.status;
    }
    /* Every session has ended and the server is freed: nothing of ours is
     * left on the loop.  (Not wire_loop_run: after a name lookup the
     * resolver may keep events of its own on the loop for a long time.) */
    wire_signal_free(app.sigint);
    wire_signal_free(app.sigterm);
    wire_timer_free(app.deadline);
    wire_loop_free(app.loop);
    return rc;
}
