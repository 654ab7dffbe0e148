/*
 * jsonrpc-call [--framing lines|content-length|http] [--path PATH]
 *              [--notify] [--timeout MS] ENDPOINT METHOD [PARAMS_JSON]
 * — make one JSON-RPC 2.0 call and print its outcome.
 *
 * With --framing http the call is one POST of PATH (default "/") with
 * Content-Type application/json, through wire_http_client_layer_new; over
 * tls://HOST:PORT?ca=.. that is HTTPS.  A server answering other than
 * 2xx fails the call (exit 1, the status line on stderr); a notification
 * is answered 204, after which the connection closes.
 *
 * PARAMS_JSON, when given, is an array or an object.  The result is
 * printed as JSON on stdout, and the exit status is 0.  An error response
 * prints the error object ({"code": ..., "message": ..., "data": ...}) on
 * stderr, exit status 1.  A connection that fails, closes or does not
 * answer within the timeout (default 30000 ms): a message on stderr, exit
 * status 1 (a call that timed out aborts the connection: nothing more is
 * wanted from it).  Bad usage: exit status 2.  With --notify the call is a
 * notification: it is sent, the connection closed once it is written, and
 * the exit status is 0 (nothing is printed).
 */
#include <wire/wire.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct wire_jsonrpc *rpc;
static int exit_status = 1;
static bool notify;
static bool reported; /* the connect's failure was said */
static struct wire_transport *rpc_t; /* below the peer, while it is up */

static void
on_result(void *arg, json_t *result, const struct wire_jsonrpc_error *error)
{
    (void)arg;
    if (error == NULL) {
        char *s = json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT);
        if (s != NULL) {
            printf("%s\n", s);
            fflush(stdout);
            free(s);
            exit_status = 0;
        }
    } else if (error->local) {
        if (!reported)
            fprintf(stderr, "jsonrpc-call: %s\n", error->message);
    } else {
        json_t *e = json_pack("{s:i,s:s}", "code", error->code, "message",
                              error->message);
        if (e != NULL && error->data != NULL)
            json_object_set(e, "data", error->data);
        char *s = e != NULL ? json_dumps(e, JSON_COMPACT) : NULL;
        fprintf(stderr, "%s\n", s != NULL ? s : error->message);
        free(s);
        json_decref(e);
    }
    /* Timed out: do not wait for the answer (a graceful close of an HTTP
     * client waits for the answers of the requests it wrote). */
    if (error != NULL && error->local && error->code == WIRE_ETIMEDOUT &&
        rpc_t != NULL)
        wire_transport_abort(rpc_t);
    else
        wire_jsonrpc_close(rpc);
}

static void
on_open(void *arg, struct wire_jsonrpc *peer, struct wire_transport *t)
{
    (void)arg;
    (void)peer;
    rpc_t = t;
}

static void
on_close(void *arg, const struct wire_error *err)
{
    (void)arg;
    rpc_t = NULL;
    if (notify && err == NULL)
        exit_status = 0; /* the notification was written, then closed */
    else if (notify && !reported)
        fprintf(stderr, "jsonrpc-call: %s\n", err->message);
}

static void
on_connected(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    (void)arg;
    (void)t;
    if (err != NULL) {
        fprintf(stderr, "jsonrpc-call: %s\n", err->message);
        reported = true;
    }
}

static int
usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--framing lines|content-length|http] [--path PATH]\n"
            "          [--notify] [--timeout MS] ENDPOINT METHOD [PARAMS_JSON]\n"
            "  prints the result as JSON (exit 0), or the error object on\n"
            "  stderr (exit 1); PARAMS_JSON is an array or an object\n",
            argv0);
    return 2;
}

int
main(int argc, char **argv)
{
    const char *framing = "lines";
    const char *path = "/";
    unsigned long long timeout_ms = 30000;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--notify") == 0) {
            notify = true;
        } else if (strcmp(argv[i], "--framing") == 0 && i + 1 < argc) {
            framing = argv[++i];
        } else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            timeout_ms = strtoull(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || timeout_ms == 0) {
                fprintf(stderr, "jsonrpc-call: --timeout wants milliseconds\n");
                return 2;
            }
        } else {
            fprintf(stderr, "jsonrpc-call: unknown option %s\n", argv[i]);
            return usage(argv[0]);
        }
    }
    if (argc - i < 2 || argc - i > 3)
        return usage(argv[0]);
    if (path[0] != '/') {
        fprintf(stderr, "jsonrpc-call: --path must start with '/'\n");
        return 2;
    }
    const char *endpoint = argv[i], *method = argv[i + 1];
    json_t *params = NULL;
    if (argc - i == 3) {
        json_error_t jerr;
        params = json_loads(argv[i + 2], JSON_DECODE_ANY, &jerr);
        if (params == NULL) {
            fprintf(stderr, "jsonrpc-call: PARAMS_JSON: %s (column %d)\n",
                    jerr.text, jerr.column);
            return 2;
        }
        if (!json_is_array(params) && !json_is_object(params)) {
            fprintf(stderr, "jsonrpc-call: PARAMS_JSON must be an array or "
                            "an object\n");
            json_decref(params);
            return 2;
        }
    }
    if (strcmp(framing, "lines") != 0 && strcmp(framing, "content-length") != 0 &&
        strcmp(framing, "http") != 0) {
        fprintf(stderr, "jsonrpc-call: unknown framing '%s'\n", framing);
        json_decref(params);
        return usage(argv[0]);
    }
    struct wire_loop *loop = wire_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "jsonrpc-call: cannot create the event loop\n");
        json_decref(params);
        return 1;
    }
    struct wire_jsonrpc_opts o = {
        .on_close = on_close,
        .on_open = on_open,
        .call_timeout_ms = timeout_ms,
    };
    struct wire_error err = {0};
    struct wire_protocol *p = wire_jsonrpc_new(&o, &rpc, &err);
    if (p != NULL && strcmp(framing, "lines") == 0) {
        struct wire_chunk_opts co;
        wire_lines_opts_init(&co, true, false);
        co.max_len = WIRE_JSONRPC_DEFAULT_MAX_MESSAGE;
        p = wire_chunk_layer_new(p, &co, &err);
    } else if (p != NULL && strcmp(framing, "content-length") == 0) {
        p = wire_content_length_layer_new(p, 0, &err);
    } else if (p != NULL) {
        /* The HTTP client's own wait for an answer outlasts the call's
         * timeout, which then says what happened. */
        struct wire_http_layer_opts ho = {
            .path = path,
            .content_type = "application/json",
            .limits.max_body = WIRE_JSONRPC_DEFAULT_MAX_MESSAGE,
            .limits.head_timeout_ms =
                timeout_ms < UINT64_MAX - 1000 ? timeout_ms + 1000 : UINT64_MAX,
        };
        p = wire_http_client_layer_new(p, &ho, &err);
    }
    /* The call is queued until the connection is made. */
    int rc = p == NULL ? err.code
             : notify  ? wire_jsonrpc_notify(rpc, method, params, &err)
                       : wire_jsonrpc_call(rpc, method, params, 0, on_result,
                                           NULL, &err);
    params = NULL; /* taken, also on error */
    if (rc == 0 && notify)
        wire_jsonrpc_close(rpc); /* after the notification is written */
    if (rc == 0)
        rc = wire_connect(loop, endpoint, p, NULL, on_connected, NULL, &err);
    if (rc < 0) {
        fprintf(stderr, "jsonrpc-call: %s\n", err.message);
        wire_error_clear(&err);
        if (p != NULL) {
            reported = true;
            wire_protocol_destroy(p); /* still ours */
        }
        wire_loop_free(loop);
        return 1;
    }
    wire_loop_run(loop);
    wire_loop_free(loop);
    return exit_status;
}
