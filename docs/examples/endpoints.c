/*
 * Guide example (docs/endpoints.md): endpoints, wire_listen and
 * wire_connect.
 *
 * One protocol pair, three transports, picked by a string each:
 *
 *     tcp://127.0.0.1:0      (port 0: the kernel picks a free port)
 *     unix:DIR/shout.sock    (DIR a fresh temporary directory)
 *     mem:shout              (in-process, on this loop)
 *
 * The server shouts: it echoes what it reads in upper case and closes
 * after the client's EOF.  The client sends one line, half-closes, and
 * checks the answer and the transport's name.  Then the ways a connect or
 * a listen can fail: an unknown scheme and a misspelt parameter fail at
 * once (the protocol stays ours); a refused connection is reported once,
 * to the connect callback (the protocol is destroyed for us).  Exit
 * status 0 only if every case behaved as described.
 */
#include <wire/wire.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int live_protocols;

/* ---- one protocol for both sides: a mode says which ---- */

struct outcome {
    char got[64], name[16];
    bool done, clean;
};

struct shout {
    struct wire_protocol base;
    struct outcome *out; /* NULL: the server side */
};

static void
shout_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct outcome *o = ((struct shout *)p)->out;
    if (o == NULL)
        return;
    wire_transport_get_info(t, WIRE_INFO_NAME, o->name, sizeof(o->name));
    wire_transport_write(t, "hello, endpoint\n", 16);
    wire_transport_write_eof(t);
}

static void
shout_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct outcome *o = ((struct shout *)p)->out;
    const char *d = data;
    if (o == NULL) { /* server: shout it back */
        char up[256];
        for (size_t off = 0; off < len; off += sizeof(up)) {
            size_t n = len - off < sizeof(up) ? len - off : sizeof(up);
            for (size_t i = 0; i < n; i++)
                up[i] = (char)toupper((unsigned char)d[off + i]);
            wire_transport_write(p->transport, up, n);
        }
        return;
    }
    size_t have = strlen(o->got);
    snprintf(o->got + have, sizeof(o->got) - have, "%.*s", (int)len, d);
}

static void
shout_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct outcome *o = ((struct shout *)p)->out;
    if (o != NULL) {
        o->done = true;
        o->clean = err == NULL;
    }
}

static void
shout_destroy(struct wire_protocol *p)
{
    free(p);
    live_protocols--;
}

/* eof_received NULL: both sides close at the peer's EOF. */
static const struct wire_protocol_ops shout_ops = {
    .connection_made = shout_made,
    .data_received = shout_data,
    .connection_lost = shout_lost,
    .destroy = shout_destroy,
};

static struct wire_protocol *
shout_new(struct outcome *out)
{
    struct shout *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    wire_protocol_init(&s->base, &shout_ops);
    s->out = out;
    live_protocols++;
    return &s->base;
}

/* The server's factory: one protocol per accepted connection. */
static struct wire_protocol *
shout_server_new(void *arg)
{
    (void)arg;
    return shout_new(NULL); /* NULL refuses the connection */
}

/* ---- running it ---- */

static void
set_flag(void *arg)
{
    *(bool *)arg = true;
}

/* The outcome of a connect: called once, from the loop. */
static void
on_connect(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct outcome *o = arg;
    (void)t;
    if (err != NULL) { /* the protocol was destroyed already */
        snprintf(o->got, sizeof(o->got), "%s", wire_err_name(err->code));
        o->done = true;
    }
}

static bool
run(struct wire_loop *loop, const char *endpoint, const char *scheme,
    struct outcome *o)
{
    struct wire_server *server;
    struct wire_error err = {0};
    if (wire_listen(loop, endpoint, shout_server_new, NULL, NULL, &server,
                    &err) < 0) {
        fprintf(stderr, "endpoints: listen on %s: %s\n", endpoint, err.message);
        wire_error_clear(&err);
        return false;
    }
    const char *address = wire_server_address(server); /* the real port */
    struct wire_protocol *p = shout_new(o);
    if (p == NULL || wire_connect(loop, address, p, NULL, on_connect, o, &err) < 0) {
        wire_protocol_destroy(p); /* still ours after an error */
        wire_error_clear(&err);
    } else {
        wire_loop_run_until(loop, &o->done, 2000);
    }
    bool closed = false;
    wire_server_shutdown(server, 1000, set_flag, &closed);
    wire_loop_run_until(loop, &closed, 2000);
    bool ok = closed && o->clean && strcmp(o->got, "HELLO, ENDPOINT\n") == 0 &&
              strcmp(o->name, scheme) == 0;
    printf("endpoints: %-40s %s\n", address, ok ? "ok" : "FAILED");
    wire_server_free(server);
    return ok;
}

static bool
expect(bool ok, const char *what, const struct wire_error *err)
{
    printf("endpoints: %-40s %s (%s)\n", what, ok ? "ok" : "FAILED",
           err && err->message ? err->message : "-");
    return ok;
}

static bool
failures(struct wire_loop *loop)
{
    struct wire_error err = {0};
    struct wire_server *server;
    /* Bad strings fail at once; the protocol is still ours. */
    struct wire_protocol *p = shout_new(NULL);
    int rc = wire_connect(loop, "smoke-signal:hill", p, NULL, NULL, NULL, &err);
    bool ok = expect(rc == WIRE_ENOSCHEME, "unknown scheme", &err);
    wire_protocol_destroy(p);
    wire_error_clear(&err);
    rc = wire_listen(loop, "tcp://127.0.0.1:0?backlg=8", shout_server_new, NULL,
                     NULL, &server, &err);
    ok = expect(rc == WIRE_EENDPOINT, "misspelt parameter", &err) && ok;
    wire_error_clear(&err);
    if (rc == 0)
        wire_server_free(server);
    /* Nobody listens on mem:nobody: the callback says so, once. */
    static struct outcome refused;
    p = shout_new(&refused);
    rc = wire_connect(loop, "mem:nobody", p, NULL, on_connect, &refused, &err);
    if (rc < 0)
        wire_protocol_destroy(p);
    else
        wire_loop_run_until(loop, &refused.done, 2000);
    return expect(rc == 0 && strcmp(refused.got, "ECONNREFUSED") == 0,
                  "connection refused", NULL) && ok;
}

int
main(void)
{
    char dir[] = "/tmp/libwire-guide-XXXXXX", unix_ep[64];
    if (mkdtemp(dir) == NULL) {
        perror("endpoints: mkdtemp");
        return 1;
    }
    snprintf(unix_ep, sizeof(unix_ep), "unix:%s/shout.sock", dir);
    static struct outcome outs[3]; /* outlive the protocols */
    struct wire_loop *loop = wire_loop_new();
    bool ok = loop != NULL;
    if (ok) {
        ok = run(loop, "tcp://127.0.0.1:0", "tcp", &outs[0]);
        ok = run(loop, unix_ep, "unix", &outs[1]) && ok;
        ok = run(loop, "mem:shout", "mem", &outs[2]) && ok;
        ok = failures(loop) && ok;
        wire_loop_free(loop);
    }
    /* The unix server removed its socket file when it closed. */
    if (rmdir(dir) != 0) {
        fprintf(stderr, "endpoints: rmdir %s: %s\n", dir, strerror(errno));
        ok = false;
    }
    if (live_protocols != 0) {
        fprintf(stderr, "endpoints: %d protocols not destroyed\n", live_protocols);
        ok = false;
    }
    return ok ? 0 : 1;
}
