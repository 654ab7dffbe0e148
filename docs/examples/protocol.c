/*
 * Guide example (docs/protocols.md): writing a protocol.
 *
 * A line-based key/value store: "set KEY VALUE" gets "ok", "get KEY" the
 * value or "missing".  The client sends a script, half-closes, and records
 * the answers until the server closes.  Both run over the memory pair;
 * then the server alone runs over the string transport, fed byte by byte,
 * without a loop.  Exit status 0 only if both runs gave the expected
 * answers and every protocol was destroyed.
 */
#include <wire/wire.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 128
#define MAX_KEYS 8

static const char script[] = "set color blue\nset size 42\nget color\n"
                             "get shape\nset color red\nget color\nhello\n";
static const char expected[] = "ok\nok\nblue\nmissing\nok\nred\n"
                               "error: expected 'set KEY VALUE' or 'get KEY'\n";

static int live_protocols;       /* made and not yet destroyed */
static bool all_destroyed;       /* live_protocols fell back to 0 */

/* ---- the server ---- */

struct kv_server {
    struct wire_protocol base;   /* first: libwire sees only this */
    struct wire_transport *t;    /* from connection_made to connection_lost */
    char line[MAX_LINE];
    size_t len;
    char keys[MAX_KEYS][32], values[MAX_KEYS][64];
    int nkeys;
};

static void
kv_answer(struct kv_server *s, const char *line)
{
    char cmd[8], key[32], value[64], out[MAX_LINE];
    int n = sscanf(line, "%7s %31s %63s", cmd, key, value);
    int i = 0;
    while (n >= 2 && i < s->nkeys && strcmp(s->keys[i], key) != 0)
        i++;
    if (n == 3 && strcmp(cmd, "set") == 0 && i < MAX_KEYS) {
        if (i == s->nkeys)
            snprintf(s->keys[s->nkeys++], sizeof(s->keys[0]), "%s", key);
        snprintf(s->values[i], sizeof(s->values[0]), "%s", value);
        snprintf(out, sizeof(out), "ok\n");
    } else if (n == 2 && strcmp(cmd, "get") == 0) {
        snprintf(out, sizeof(out), "%s\n", i < s->nkeys ? s->values[i] : "missing");
    } else {
        snprintf(out, sizeof(out), "error: expected 'set KEY VALUE' or 'get KEY'\n");
    }
    /* Queued or written through at once; a failure of the connection
     * is reported to connection_lost, not here. */
    wire_transport_write(s->t, out, strlen(out));
}

static void
kv_made(struct wire_protocol *p, struct wire_transport *t)
{
    ((struct kv_server *)p)->t = t;
}

static void
kv_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct kv_server *s = (struct kv_server *)p;
    const char *d = data;
    /* `data` is any slice of the stream (one byte, three lines and a
     * half): keep the partial line, valid only during this call, in s. */
    for (size_t i = 0; i < len && !wire_transport_is_closing(s->t); i++) {
        if (d[i] != '\n') {
            if (s->len == sizeof(s->line) - 1) {
                static const char msg[] = "error: line too long\n";
                wire_transport_write(s->t, msg, sizeof(msg) - 1);
                wire_transport_close(s->t); /* flushes msg first */
                return;
            }
            s->line[s->len++] = d[i];
            continue;
        }
        s->line[s->len] = '\0';
        s->len = 0;
        kv_answer(s, s->line);
    }
}

static bool
kv_eof(struct wire_protocol *p)
{
    (void)p;
    return false; /* the client is done: close once the answers are out */
}

/* Flow control: stop reading requests while our answers pile up. */
static void
kv_pause_writing(struct wire_protocol *p)
{
    wire_transport_pause_reading(((struct kv_server *)p)->t);
}

static void
kv_resume_writing(struct wire_protocol *p)
{
    wire_transport_resume_reading(((struct kv_server *)p)->t);
}

static void
kv_lost(struct wire_protocol *p, const struct wire_error *err)
{
    ((struct kv_server *)p)->t = NULL; /* not ours after this returns */
    if (err != NULL)
        fprintf(stderr, "protocol: server lost: %s\n", err->message);
}

static void
kv_destroy(struct wire_protocol *p)
{
    free(p); /* the protocol's memory and everything it owns */
    if (--live_protocols == 0)
        all_destroyed = true;
}

static const struct wire_protocol_ops kv_server_ops = {
    .connection_made = kv_made,
    .data_received = kv_data,
    .eof_received = kv_eof,
    .pause_writing = kv_pause_writing,
    .resume_writing = kv_resume_writing,
    .connection_lost = kv_lost,
    .destroy = kv_destroy,
};

/* Allocate a protocol of `size` bytes (zeroed) with its callback table. */
static struct wire_protocol *
protocol_new(const struct wire_protocol_ops *ops, size_t size)
{
    struct wire_protocol *p = calloc(1, size);
    if (p == NULL)
        return NULL;
    wire_protocol_init(p, ops);
    live_protocols++;
    return p;
}

/* ---- the client: its outcome lives in main, not in the protocol ---- */

struct outcome {
    char answers[512];
    size_t len;
    bool lost, clean;
};

struct kv_client {
    struct wire_protocol base;
    struct outcome *out;
};

static void
client_made(struct wire_protocol *p, struct wire_transport *t)
{
    (void)p;
    wire_transport_write(t, script, sizeof(script) - 1);
    wire_transport_write_eof(t); /* after the script: "that is all" */
}

static void
client_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct outcome *o = ((struct kv_client *)p)->out;
    if (len > sizeof(o->answers) - 1 - o->len)
        len = sizeof(o->answers) - 1 - o->len;
    memcpy(o->answers + o->len, data, len);
    o->len += len;
}

static void
client_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct outcome *o = ((struct kv_client *)p)->out;
    o->lost = true;
    o->clean = err == NULL;
    if (err != NULL)
        fprintf(stderr, "protocol: client connection lost: %s\n", err->message);
}

/* No eof_received: NULL means "close on EOF", which is what we want. */
static const struct wire_protocol_ops kv_client_ops = {
    .connection_made = client_made,
    .data_received = client_data,
    .connection_lost = client_lost,
    .destroy = kv_destroy,
};

/* ---- main ---- */

static bool
check(bool ok, const char *what)
{
    if (!ok)
        fprintf(stderr, "protocol: FAILED: %s\n", what);
    return ok;
}

static bool
run_on_mem_pair(void)
{
    static struct outcome out; /* outlives the client protocol */
    struct wire_loop *loop = wire_loop_new();
    struct wire_protocol *server = protocol_new(&kv_server_ops, sizeof(struct kv_server));
    struct wire_protocol *client = protocol_new(&kv_client_ops, sizeof(struct kv_client));
    if (client != NULL)
        ((struct kv_client *)client)->out = &out;
    if (loop == NULL || server == NULL || client == NULL ||
        wire_mem_pair(loop, client, server, 0, NULL, NULL) < 0) {
        wire_protocol_destroy(server); /* no transport took them: ours */
        wire_protocol_destroy(client);
        wire_loop_free(loop);
        return check(false, "setup");
    }
    /* The pair owns both protocols now.  Run until both are gone. */
    bool ok = check(wire_loop_run_until(loop, &all_destroyed, 2000) == 0,
                    "both protocols destroyed within 2 s");
    wire_loop_free(loop);
    out.answers[out.len] = '\0';
    return check(out.lost && out.clean && strcmp(out.answers, expected) == 0,
                 "answers over the memory pair") && ok;
}

static bool
run_sans_io(void)
{
    struct wire_protocol *server = protocol_new(&kv_server_ops, sizeof(struct kv_server));
    struct wire_transport *t = server ? wire_string_transport_new(server) : NULL;
    if (t == NULL) {
        wire_protocol_destroy(server);
        return check(false, "string transport");
    }
    /* Byte by byte: the worst split a network can produce. */
    wire_string_transport_feed_split(t, script, sizeof(script) - 1, 1);
    wire_string_transport_feed_eof(t);
    size_t len;
    const char *output = wire_string_transport_output(t, &len);
    bool ok = len == sizeof(expected) - 1 && memcmp(output, expected, len) == 0 &&
              wire_string_transport_closed(t);
    wire_string_transport_free(t); /* steps: connection_lost, destroy */
    return check(ok, "answers sans I/O");
}

int
main(void)
{
    bool ok = run_on_mem_pair();
    ok = run_sans_io() && ok;
    ok = check(live_protocols == 0, "every protocol destroyed") && ok;
    if (ok)
        printf("protocol: ok (memory pair, and string transport byte by byte)\n");
    return ok ? 0 : 1;
}
