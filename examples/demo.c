/*
 * demo — libwire in one program: one protocol, every stack.
 *
 * The protocol is a JSON-RPC 2.0 calculator: add, subtract, multiply and
 * divide, each taking [a, b].  Dividing by zero answers the error object
 * {"code": -32000, "message": "division by zero"}.  The server is the
 * JSON-RPC peer with a method table (demo_calc_methods in demo-calc.c,
 * which also says what each call must answer); the client is the same
 * peer making calls.  Neither knows what carries its messages:
 * the framing under it (lines, or HTTP bodies) and the layers under that
 * (TLS) are chosen when a stack is built, and the transport at the bottom
 * is picked by an endpoint string or an open call.
 *
 * main() serves and calls the calculator over every stack below, one
 * after the other, on one loop, all on this machine (127.0.0.1, Unix
 * sockets and files in a fresh temporary directory, a pty, a child
 * process; no network).  Each stack is named top-down:
 *
 *   jsonrpc / lines / tcp              tcp://127.0.0.1:0 (a free port)
 *   jsonrpc / lines / unix             unix:DIR/calc.sock
 *   jsonrpc / lines / mem              the in-memory pair (mem:calc)
 *   jsonrpc / lines / tls / tcp        TLS layers over TCP
 *   jsonrpc / lines / tls / unix       TLS layers over a Unix socket
 *   jsonrpc / http / tcp               each message one POST and its answer
 *   jsonrpc / http / tls / tcp         HTTPS
 *   jsonrpc / lines / subprocess       this program run again as a child
 *                                      (--serve-stdio) serving on its
 *                                      stdin/stdout: the exec: transport
 *   jsonrpc / lines / serial (pty)     a pty as a serial cable: the client
 *                                      opens the pty's device end as a
 *                                      serial line (raw, 115200 8N1),
 *                                      the server sits on the other end
 *   jsonrpc / lines / file (replay)    a session through files, below
 *
 * Each row makes --calls calls (200 by default): four in five at once, in
 * flight together, then the rest one after the other, each sent when the
 * one before was answered.  Every result is checked, and so is every
 * division by zero, which must come back as the error object.  The TLS
 * rows use a throwaway CA and a certificate for localhost made at start
 * (OpenSSL 3) in the temporary directory; the client verifies the server
 * against that CA.  Every row is bounded by a deadline (--timeout): a
 * stuck row says FAIL (timeout) and is torn down.  The temporary
 * directory is removed at exit.
 *
 * Output: one row per stack with the calls checked, the error answers
 * checked, ok or FAIL (and why), and microseconds per call; --verbose
 * adds where each row ran and an error answer it checked.  Exit status 0
 * only when every row is ok, 2 for bad usage.
 */
#define _GNU_SOURCE /* ptsname_r */
#include <wire/wire.h>

#include "demo-calc.h"
#include "demo-certs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CALLS 200
#define DEFAULT_TIMEOUT_MS 10000

/* ---- one row: a stack, its client and its server(s) ---- */

enum framing { LINES, HTTP };
enum kind { LISTEN, SUBPROCESS, PTY, FILES }; /* how a row is run */

struct row;
struct call {
    struct row *row;
    int i;
};

struct row {
    const char *name;       /* the stack, top-down */
    enum kind kind;
    const char *endpoint;   /* LISTEN: where the server listens */
    enum framing framing;
    bool tls;
    int ncalls, nconcurrent;
    struct call *calls;     /* ncalls of them */
    /* the client */
    struct wire_jsonrpc *rpc;        /* until the client's on_close */
    struct wire_transport *client_t; /* below the client, while it is up */
    int sent, answered, checked, errors_checked;
    bool recording;         /* the file row's first step (see there) */
    /* the servers */
    struct wire_transport *server_t; /* below the last server peer, while up */
    /* peers made whose on_close has not run yet; `done` when none is left */
    int open_peers;
    bool done;
    bool failed;
    char why[240];
    double t0, t1;          /* first call sent, last answer checked (µs) */
    char where[200];        /* for --verbose: where it ran */
    char error_seen[160];   /* for --verbose: an error answer checked */
};

static bool verbose;
static bool interrupted; /* by SIGINT or SIGTERM: the rows left are not run */
static uint64_t timeout_ms = DEFAULT_TIMEOUT_MS;
static struct wire_tls_config *tls_server, *tls_client;
static char tls_problem[240]; /* why the TLS rows cannot run, if they cannot */

static double
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The row failed; the first reason is the one kept. */
static void fail(struct row *row, const char *fmt, ...) WIRE_PRINTF(2, 3);
static void
fail(struct row *row, const char *fmt, ...)
{
    if (row->failed)
        return;
    row->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(row->why, sizeof(row->why), fmt, ap);
    va_end(ap);
}

static void
peer_closed(struct row *row)
{
    if (--row->open_peers == 0)
        row->done = true;
}

/* ---- the client ---- */

static void on_result(void *arg, json_t *result,
                      const struct wire_jsonrpc_error *e);

static void
send_call(struct row *row)
{
    struct call *c = &row->calls[row->sent++];
    int op;
    json_int_t a, b;
    demo_call_args(c->i, &op, &a, &b);
    struct wire_error err = {0};
    /* The params are stolen, also on error; the callback runs once,
     * unless the call is refused here. */
    if (wire_jsonrpc_call(row->rpc, demo_op_names[op],
                          json_pack("[II]", a, b), 0, on_result, c, &err) < 0) {
        fail(row, "call %d: %s", c->i, err.message);
        wire_error_clear(&err);
        wire_jsonrpc_close(row->rpc);
    }
}

static void
on_result(void *arg, json_t *result, const struct wire_jsonrpc_error *e)
{
    struct call *c = arg;
    struct row *row = c->row;
    row->answered++;
    if (row->recording) {
        /* Nothing can answer a call written to a file: each ends with
         * the connection, at the input's (empty) end. */
        if (e == NULL || !e->local || e->code != WIRE_ECLOSED)
            fail(row, "recording: call %d: %s", c->i,
                 e != NULL ? e->message : "answered");
        return;
    }
    if (e != NULL && e->local) { /* no answer came: timeout, closed, ... */
        fail(row, "%s%s%s", e->code == WIRE_ETIMEDOUT ? "timeout (" : "",
             e->message, e->code == WIRE_ETIMEDOUT ? ")" : "");
        wire_jsonrpc_close(row->rpc);
        return;
    }
    char why[200];
    if (!demo_check_answer(c->i, result, e, why, sizeof(why))) {
        fail(row, "%s", why);
        wire_jsonrpc_close(row->rpc); /* the other calls fail with it */
        return;
    }
    row->checked++;
    if (e != NULL) {
        row->errors_checked++;
        if (row->error_seen[0] == '\0') {
            int op;
            json_int_t a, b;
            demo_call_args(c->i, &op, &a, &b);
            snprintf(row->error_seen, sizeof(row->error_seen),
                     "divide [%lld, %lld] -> error %d \"%s\"", (long long)a,
                     (long long)b, e->code, e->message);
        }
    }
    if (row->answered >= row->nconcurrent && row->sent < row->ncalls) {
        send_call(row); /* the sequential part: one at a time */
    } else if (row->answered == row->ncalls) {
        row->t1 = now_us();
        wire_jsonrpc_close(row->rpc); /* all done: hang up */
    }
}

static void
client_open(void *arg, struct wire_jsonrpc *rpc, struct wire_transport *t)
{
    struct row *row = arg;
    (void)rpc;
    row->client_t = t;
    if (verbose && row->tls) {
        char version[32], cipher[64];
        if (wire_transport_get_info(t, WIRE_INFO_TLS_VERSION, version,
                                    sizeof(version)) > 0 &&
            wire_transport_get_info(t, WIRE_INFO_TLS_CIPHER, cipher,
                                    sizeof(cipher)) > 0) {
            size_t n = strlen(row->where);
            snprintf(row->where + n, sizeof(row->where) - n, ", %s %s",
                     version, cipher);
        }
    }
    if (row->t0 == 0)
        row->t0 = now_us();
    /* The concurrent part: all of these in flight at once. */
    while (row->sent < row->nconcurrent && row->rpc != NULL && !row->failed)
        send_call(row);
}

static void
client_closed(void *arg, const struct wire_error *err)
{
    struct row *row = arg;
    row->rpc = NULL;
    row->client_t = NULL;
    if (err != NULL)
        fail(row, "%s", err->message);
    else if (!row->recording && row->checked < row->ncalls)
        fail(row, "the connection closed after %d of %d answers", row->checked,
             row->ncalls);
    peer_closed(row);
}

/* ---- the server ---- */

static void
server_open(void *arg, struct wire_jsonrpc *rpc, struct wire_transport *t)
{
    struct row *row = arg;
    (void)rpc;
    row->server_t = t;
}

static void
server_closed(void *arg, const struct wire_error *err)
{
    struct row *row = arg;
    row->server_t = NULL;
    if (err != NULL)
        fail(row, "server: %s", err->message);
    peer_closed(row);
}

/* ---- stacks, built top-down ---- */

/* The framing under a JSON-RPC peer: lines over a byte stream, or HTTP
 * (each message the body of one POST, each answer the body of its
 * response).  Takes `p`, also on error. */
static struct wire_protocol *
frame(struct wire_protocol *p, enum framing f, bool server,
      struct wire_error *err)
{
    if (f == LINES) {
        struct wire_chunk_opts o;
        wire_lines_opts_init(&o, false, false);
        o.max_len = WIRE_JSONRPC_DEFAULT_MAX_MESSAGE;
        return wire_chunk_layer_new(p, &o, err);
    }
    struct wire_http_layer_opts o = {
        .path = "/calc",
        .content_type = "application/json",
        .limits.max_body = WIRE_JSONRPC_DEFAULT_MAX_MESSAGE,
        /* The client waits for an answer longer than a call does, so a
         * late answer is the call's timeout, which says which call. */
        .limits.head_timeout_ms = timeout_ms + 1000,
    };
    return server ? wire_http_server_layer_new(p, &o, err)
                  : wire_http_client_layer_new(p, &o, err);
}

/* The server's stack for one connection: jsonrpc / framing [/ tls]. */
static struct wire_protocol *
server_stack(struct row *row, struct wire_error *err)
{
    struct wire_jsonrpc_opts o = {
        .methods = demo_calc_methods,
        .nmethods = DEMO_CALC_NMETHODS,
        .on_open = server_open,
        .on_close = server_closed,
        .arg = row,
    };
    struct wire_protocol *p = wire_jsonrpc_new(&o, NULL, err);
    if (p == NULL)
        return NULL;
    row->open_peers++; /* its on_close runs once, whatever happens next */
    row->done = false;
    p = frame(p, row->framing, true, err);
    if (p != NULL && row->tls)
        p = wire_tls_server_layer_new(p, tls_server, err);
    return p;
}

/* A server factory (wire_listen): one stack per accepted connection. */
static struct wire_protocol *
server_factory(void *arg)
{
    struct row *row = arg;
    struct wire_error err = {0};
    struct wire_protocol *p = server_stack(row, &err);
    if (p == NULL) { /* the connection is refused */
        fail(row, "server: %s", err.message);
        wire_error_clear(&err);
    }
    return p;
}

/* The client's stack: jsonrpc / framing [/ tls].  TLS verifies the
 * server's certificate against our CA and the name "localhost". */
static struct wire_protocol *
client_stack(struct row *row, struct wire_error *err)
{
    struct wire_jsonrpc_opts o = {
        .call_timeout_ms = timeout_ms,
        .on_open = client_open,
        .on_close = client_closed,
        .arg = row,
    };
    struct wire_protocol *p = wire_jsonrpc_new(&o, &row->rpc, err);
    if (p == NULL)
        return NULL;
    row->open_peers++;
    row->done = false;
    p = frame(p, row->framing, false, err);
    if (p != NULL && row->tls)
        p = wire_tls_client_layer_new(p, tls_client, "localhost", err);
    return p;
}

/* A failed connect reaches on_close as "never made"; this says why. */
static void
on_connect(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct row *row = arg;
    (void)t;
    if (err != NULL) {
        snprintf(row->why, sizeof(row->why), "%s", err->message);
        row->failed = true;
    }
}

/* Run the loop until every peer of the row is closed, or the deadline:
 * then the row fails and what is left of it is aborted. */
static void
wait_row(struct wire_loop *loop, struct row *row)
{
    if (row->done || row->open_peers == 0)
        return;
    if (wire_loop_run_until(loop, &row->done, (long)timeout_ms) == 0)
        return;
    fail(row, interrupted ? "interrupted" : "timeout");
    if (row->client_t != NULL)
        wire_transport_abort(row->client_t);
    else if (row->rpc != NULL)
        wire_jsonrpc_close(row->rpc); /* not connected yet: when it is */
    if (row->server_t != NULL)
        wire_transport_abort(row->server_t);
    wire_loop_run_until(loop, &row->done, 2000);
}

static void
set_flag(void *arg)
{
    *(bool *)arg = true;
}

/* ---- the rows ---- */

/* A server listening on `endpoint`, and a client connecting to the
 * address it got.  Only the endpoint string names the transport. */
static void
run_listen_row(struct wire_loop *loop, struct row *row, const char *endpoint)
{
    struct wire_server *server;
    struct wire_error err = {0};
    if (wire_listen(loop, endpoint, server_factory, row, NULL, &server,
                    &err) < 0) {
        fail(row, "listen on %s: %s", endpoint, err.message);
        wire_error_clear(&err);
        return;
    }
    const char *address = wire_server_address(server);
    snprintf(row->where, sizeof(row->where), "%s", address);
    struct wire_connect_options co = {.timeout_ms = timeout_ms};
    struct wire_protocol *p = client_stack(row, &err);
    if (p == NULL) {
        fail(row, "%s", err.message);
    } else if (wire_connect(loop, address, p, &co, on_connect, row,
                            &err) < 0) {
        fail(row, "connect to %s: %s", address, err.message);
        wire_protocol_destroy(p); /* still ours after an error */
    }
    wire_error_clear(&err);
    wait_row(loop, row);
    /* Every connection is over by now, unless the row timed out: then
     * those left get a second to close, and are aborted. */
    bool closed = false;
    wire_server_shutdown(server, 1000, set_flag, &closed);
    if (wire_loop_run_until(loop, &closed, 3000) != 0)
        fail(row, "the server did not shut down");
    wire_server_free(server);
}

static char self_exe[PATH_MAX]; /* this program, for the subprocess row */

/* The client spawns this program with --serve-stdio, which serves the
 * calculator on its stdin/stdout (see serve_stdio).  The endpoint form is
 * "exec:PROGRAM --serve-stdio"; wire_subprocess_spawn takes the argv as
 * it is, so a path with blanks needs no quoting. */
static void
run_subprocess_row(struct wire_loop *loop, struct row *row)
{
    static char serve[] = "--serve-stdio";
    char *argv[] = {self_exe, serve, NULL};
    struct wire_subprocess_options o = {
        .stderr_mode = WIRE_STDERR_CAPTURE, /* its last words go in errors */
        .kill_after_ms = 2000,
    };
    struct wire_error err = {0};
    struct wire_transport *t;
    struct wire_protocol *p = client_stack(row, &err);
    if (p == NULL) {
        fail(row, "%s", err.message);
    } else if (wire_subprocess_spawn(loop, argv, &o, p, &t, &err) < 0) {
        fail(row, "spawn %s: %s", self_exe, err.message);
        wire_protocol_destroy(p);
    } else {
        int pid = 0;
        wire_transport_get_info(t, WIRE_INFO_PID, &pid, sizeof(pid));
        snprintf(row->where, sizeof(row->where), "exec:%.120s %s (pid %d)",
                 self_exe, serve, pid);
    }
    wire_error_clear(&err);
    wait_row(loop, row);
}

/* A pty is a serial cable with two ends: its device end (/dev/pts/N),
 * which the client opens as a serial line, as it would /dev/ttyUSB0 (raw
 * mode, 115200 8N1, exclusive access), and the master end, which has no
 * path to open, so the server reads and writes it through the pipe
 * transport.  The client ends the session: its close is the server's
 * EOF.  (Were the server's end closed first, the kernel would drop what
 * the client had not read yet.) */
static void
run_pty_row(struct wire_loop *loop, struct row *row)
{
    char path[64];
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 ||
        ptsname_r(m, path, sizeof(path)) != 0) {
        fail(row, "pty: %s", strerror(errno));
        if (m >= 0)
            close(m);
        return;
    }
    snprintf(row->where, sizeof(row->where), "serial:%s?baud=115200", path);
    struct wire_error err = {0};
    struct wire_serial_options so = {.baud = 115200};
    /* The device end first: the master reads EIO (an EOF) while no one
     * has the device end open. */
    struct wire_protocol *p = client_stack(row, &err);
    if (p == NULL) {
        fail(row, "%s", err.message);
    } else if (wire_serial_open(loop, path, &so, p, NULL, &err) < 0) {
        fail(row, "%s", err.message);
        wire_protocol_destroy(p);
    } else if ((p = server_stack(row, &err)) == NULL) {
        fail(row, "%s", err.message);
    } else if (wire_pipe_open(loop, m, m, p, NULL, NULL, &err) < 0) {
        fail(row, "pty master: %s", err.message);
        wire_protocol_destroy(p);
    } else {
        m = -1; /* the pipe transport closes it */
    }
    if (m >= 0) {
        close(m); /* a client already started sees the hangup */
    }
    wire_error_clear(&err);
    wait_row(loop, row);
}

/* One step of the file row: a client or a server stack on the file
 * transport, reading `in` (NULL: nothing) and writing `out`.  The input
 * comes in pieces of 97 bytes, so the lines framing has to put messages
 * back together across reads. */
static void
file_step(struct wire_loop *loop, struct row *row, bool server,
          const char *in, const char *out)
{
    struct wire_file_options fo = {.in = in, .out = out, .chunk = 97};
    struct wire_error err = {0};
    struct wire_protocol *p = server ? server_stack(row, &err)
                                     : client_stack(row, &err);
    if (p == NULL) {
        fail(row, "%s", err.message);
    } else if (wire_file_open(loop, &fo, p, NULL, &err) < 0) {
        fail(row, "%s", err.message);
        wire_protocol_destroy(p);
    }
    wire_error_clear(&err);
    wait_row(loop, row);
}

/* Whether two files hold the same bytes. */
static bool
same_bytes(const char *path1, const char *path2)
{
    FILE *f1 = fopen(path1, "rbe"), *f2 = fopen(path2, "rbe");
    bool same = f1 != NULL && f2 != NULL;
    for (int c = 0; same && c != EOF;) {
        c = getc(f1);
        same = c == getc(f2);
    }
    if (f1 != NULL)
        fclose(f1);
    if (f2 != NULL)
        fclose(f2);
    return same;
}

/*
 * The file row: a session replayed through files, as a golden-file test
 * does.  What it proves: both peers run unchanged on the file transport,
 * and the session recorded in files is complete and repeatable.
 *
 *  1. record: the client, on the file transport with no input, makes
 *     its calls; they are written to requests.jsonl (and end with the
 *     connection at the input's end, unanswered).
 *  2. serve: the server reads requests.jsonl and writes its answers to
 *     replies.jsonl.
 *  3. replay: a new client makes the same calls, written to
 *     requests-again.jsonl, reads replies.jsonl, and checks every answer
 *     as over a socket (the answers match calls by id).
 *  4. The two request files must be the same bytes: the replies answer
 *     exactly these calls.
 *
 * A recorded session has no round trips, so all of its calls are in
 * flight at once.
 */
static void
run_file_row(struct wire_loop *loop, struct row *row, const char *dir)
{
    char requests[PATH_MAX], replies[PATH_MAX], again[PATH_MAX];
    snprintf(requests, sizeof(requests), "%s/requests.jsonl", dir);
    snprintf(replies, sizeof(replies), "%s/replies.jsonl", dir);
    snprintf(again, sizeof(again), "%s/requests-again.jsonl", dir);
    row->nconcurrent = row->ncalls;
    row->t0 = now_us();
    row->recording = true;
    file_step(loop, row, false, NULL, requests);
    row->recording = false;
    if (!row->failed && row->answered != row->ncalls)
        fail(row, "recording: %d of %d calls ended", row->answered,
             row->ncalls);
    row->sent = row->answered = 0;
    if (!row->failed)
        file_step(loop, row, true, requests, replies);
    if (!row->failed)
        file_step(loop, row, false, replies, again);
    if (!row->failed && !same_bytes(requests, again))
        fail(row, "the replayed requests differ from the recorded ones");
    struct stat st1, st2;
    if (stat(requests, &st1) == 0 && stat(replies, &st2) == 0)
        snprintf(row->where, sizeof(row->where),
                 "requests.jsonl (%lld bytes) -> replies.jsonl (%lld bytes)",
                 (long long)st1.st_size, (long long)st2.st_size);
}

/* ---- the child of the subprocess row ---- */

/* `demo --serve-stdio`: serve the calculator on stdin/stdout until the
 * parent closes our stdin.  Exit status 1 if the connection failed. */
static int
serve_stdio(void)
{
    static struct row row = {.name = "serve-stdio", .framing = LINES};
    struct wire_loop *loop = wire_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "demo --serve-stdio: cannot create the event loop\n");
        return 1;
    }
    struct wire_error err = {0};
    struct wire_protocol *p = server_stack(&row, &err);
    if (p == NULL) {
        fail(&row, "%s", err.message);
    } else if (wire_stdio_open(loop, p, NULL, &err) < 0) {
        fail(&row, "%s", err.message);
        wire_protocol_destroy(p);
    }
    wire_error_clear(&err);
    wire_loop_run(loop);
    wire_loop_free(loop);
    if (row.failed)
        fprintf(stderr, "demo --serve-stdio: %s\n", row.why);
    return row.failed ? 1 : 0;
}

/* ---- TLS: the configurations over a throwaway CA ---- */

/* Make the CA and the server's certificate in `dir` (demo-certs.c), and
 * the TLS configurations: the server's presents its certificate, the
 * client's trusts our CA only (and verifies, as it does by default).  On
 * failure tls_problem says why. */
static void
make_tls(const char *dir)
{
    char ca_pem[PATH_MAX], cert_pem[PATH_MAX], key_pem[PATH_MAX];
    snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
    snprintf(cert_pem, sizeof(cert_pem), "%s/server.pem", dir);
    snprintf(key_pem, sizeof(key_pem), "%s/server-key.pem", dir);
    if (!demo_make_certs(ca_pem, cert_pem, key_pem, tls_problem,
                         sizeof(tls_problem)))
        return;
    struct wire_error err = {0};
    if ((tls_server = wire_tls_config_new(true, &err)) == NULL ||
        wire_tls_config_set_cert(tls_server, cert_pem, key_pem, &err) < 0 ||
        (tls_client = wire_tls_config_new(false, &err)) == NULL ||
        wire_tls_config_set_ca(tls_client, ca_pem, NULL, &err) < 0) {
        snprintf(tls_problem, sizeof(tls_problem), "%s", err.message);
        wire_error_clear(&err);
        return;
    }
    wire_tls_config_set_verify(tls_client, true);
    wire_tls_config_set_timeouts(tls_server, timeout_ms, 2000);
    wire_tls_config_set_timeouts(tls_client, timeout_ms, 2000);
}

/* Remove the temporary directory and everything in it. */
static void
remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            if (unlink(path) != 0)
                fprintf(stderr, "demo: cannot remove %s: %s\n", path,
                        strerror(errno));
        }
        closedir(d);
    }
    if (rmdir(dir) != 0)
        fprintf(stderr, "demo: cannot remove %s: %s\n", dir, strerror(errno));
}

/* ---- main ---- */

/* Ctrl-C: stop the row that runs, skip the others, clean up. */
static void
on_signal(void *arg, int signo)
{
    (void)signo;
    interrupted = true;
    wire_loop_stop(arg);
}

static char unix_ep[80], tls_unix_ep[80]; /* in the temporary directory */

/* Rows are static: a row that timed out may be pointed at by what is
 * left of its connections until the end. */
static struct row rows[] = {
    {.name = "jsonrpc / lines / tcp", .endpoint = "tcp://127.0.0.1:0"},
    {.name = "jsonrpc / lines / unix", .endpoint = unix_ep},
    {.name = "jsonrpc / lines / mem", .endpoint = "mem:calc"},
    {.name = "jsonrpc / lines / tls / tcp", .endpoint = "tcp://127.0.0.1:0",
     .tls = true},
    {.name = "jsonrpc / lines / tls / unix", .endpoint = tls_unix_ep,
     .tls = true},
    {.name = "jsonrpc / http / tcp", .endpoint = "tcp://127.0.0.1:0",
     .framing = HTTP},
    {.name = "jsonrpc / http / tls / tcp", .endpoint = "tcp://127.0.0.1:0",
     .framing = HTTP, .tls = true},
    {.name = "jsonrpc / lines / subprocess", .kind = SUBPROCESS},
    {.name = "jsonrpc / lines / serial (pty)", .kind = PTY},
    {.name = "jsonrpc / lines / file (replay)", .kind = FILES},
};
enum { NROWS = sizeof(rows) / sizeof(rows[0]) };

static void
print_row(const struct row *row)
{
    printf("%-34s %6d %6d  ", row->name, row->checked, row->errors_checked);
    if (row->failed)
        printf("FAIL (%s)\n", row->why);
    else
        printf("%-6s %9.1f\n", "ok", (row->t1 - row->t0) / row->ncalls);
    if (verbose) {
        if (row->where[0] != '\0')
            printf("    at %s\n", row->where);
        if (row->error_seen[0] != '\0')
            printf("    checked %s\n", row->error_seen);
    }
    fflush(stdout);
}

static int
usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "usage: %s [--calls N] [--timeout MS] [--verbose]\n"
            "  Serve a JSON-RPC calculator over ten stacks on this machine\n"
            "  and call it N times over each (default %d), checking every\n"
            "  answer; one row per stack.  Exit status 0 when all are ok.\n"
            "  --timeout MS  the deadline of each row (default %d)\n"
            "  --verbose     say where each row ran, and an error it checked\n"
            "  (--serve-stdio is how it runs itself for the subprocess row)\n",
            argv0, DEFAULT_CALLS, DEFAULT_TIMEOUT_MS);
    return f == stdout ? 0 : 2;
}

static bool
parse_number(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = s != NULL ? strtol(s, &end, 10) : 0;
    if (s == NULL || errno != 0 || end == s || *end != '\0' || v < min ||
        v > max)
        return false;
    *out = v;
    return true;
}

int
main(int argc, char **argv)
{
    long calls = DEFAULT_CALLS, ms = DEFAULT_TIMEOUT_MS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--serve-stdio") == 0 && argc == 2)
            return serve_stdio();
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout, argv[0]);
        if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            verbose = true;
        } else if (strcmp(argv[i], "--calls") == 0) {
            if (!parse_number(argv[++i], 10, 100000, &calls)) {
                fprintf(stderr, "demo: --calls wants a number, 10..100000\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--timeout") == 0) {
            if (!parse_number(argv[++i], 100, 600000, &ms)) {
                fprintf(stderr, "demo: --timeout wants milliseconds, "
                                "100..600000\n");
                return 2;
            }
        } else {
            fprintf(stderr, "demo: unknown argument '%s'\n", argv[i]);
            return usage(stderr, argv[0]);
        }
    }
    timeout_ms = (uint64_t)ms;
    /* Output to a pipe closed early (demo | head) must not kill us before
     * the clean-up: the write fails with EPIPE instead.  (libwire never
     * raises SIGPIPE itself.) */
    signal(SIGPIPE, SIG_IGN);

    /* This program, to run again as the subprocess row's server. */
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (n > 0)
        self_exe[n] = '\0';
    else
        snprintf(self_exe, sizeof(self_exe), "%s", argv[0]);

    char dir[] = "/tmp/libwire-demo-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("demo: mkdtemp");
        return 1;
    }
    snprintf(unix_ep, sizeof(unix_ep), "unix:%s/calc.sock", dir);
    snprintf(tls_unix_ep, sizeof(tls_unix_ep), "unix:%s/calc-tls.sock", dir);
    make_tls(dir);

    struct wire_loop *loop = wire_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "demo: cannot create the event loop\n");
        remove_dir(dir);
        return 1;
    }
    struct wire_signal *sigint = wire_signal_new(loop, SIGINT, on_signal, loop,
                                                 NULL);
    struct wire_signal *sigterm = wire_signal_new(loop, SIGTERM, on_signal,
                                                  loop, NULL);
    printf("%-34s %6s %6s  %-6s %9s\n", "stack", "calls", "errors", "result",
           "us/call");
    bool all_ok = true;
    for (size_t r = 0; r < NROWS; r++) {
        struct row *row = &rows[r];
        row->ncalls = (int)calls;
        row->nconcurrent = row->ncalls - row->ncalls / 5;
        row->calls = calloc((size_t)row->ncalls, sizeof(*row->calls));
        if (interrupted) {
            fail(row, "interrupted");
        } else if (row->calls == NULL) {
            fail(row, "out of memory");
        } else if (row->tls && tls_problem[0] != '\0') {
            fail(row, "%s", tls_problem);
        } else {
            for (int i = 0; i < row->ncalls; i++)
                row->calls[i] = (struct call){row, i};
            switch (row->kind) {
            case LISTEN: run_listen_row(loop, row, row->endpoint); break;
            case SUBPROCESS: run_subprocess_row(loop, row); break;
            case PTY: run_pty_row(loop, row); break;
            case FILES: run_file_row(loop, row, dir); break;
            }
        }
        if (!row->failed && row->errors_checked == 0)
            fail(row, "no error answer was checked");
        print_row(row);
        all_ok = all_ok && !row->failed;
    }

    /* Let what is still closing (TLS close_notify, a child's exit) end:
     * the loop runs out of work when nothing is left. */
    wire_signal_free(sigint);
    wire_signal_free(sigterm);
    bool never = false;
    if (wire_loop_run_until(loop, &never, 5000) == 1) {
        wire_loop_free(loop);
    } else {
        /* Freeing the loop now would pull it from under them: it is left
         * to the exit. */
        fprintf(stderr, "demo: connections still open after 5 s\n");
        all_ok = false;
    }
    wire_tls_config_unref(tls_server);
    wire_tls_config_unref(tls_client);
    for (size_t r = 0; r < NROWS; r++)
        free(rows[r].calls);
    remove_dir(dir);
    return all_ok ? 0 : 1;
}
