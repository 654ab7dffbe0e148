/*
 * Guide example (docs/lifetimes.md): lifetimes and re-entrancy.
 *
 * One small "actor" protocol that logs every callback it gets and, as a
 * scenario tells it, closes or aborts its transport from inside
 * connection_made or data_received.  Three scenarios run over a memory
 * pair; each checks the exact sequence of callbacks on both sides:
 *
 *   close in connection_made     the peer still gets the bytes, then EOF
 *   abort in data_received       the aborter gets WIRE_EABORTED, the peer
 *                                a reset (ECONNRESET)
 *   a reference past the end     wire_transport_ref keeps the transport
 *                                usable (and harmless) after
 *                                connection_lost until the unref
 *
 * Inside every close/abort the actor checks that the call returned
 * before connection_lost (delivered on a later turn), that writing now
 * returns WIRE_ECLOSED, and that a second close is harmless.  Exit status 0
 * only if every log matches and every protocol was destroyed (run it
 * under valgrind: nothing leaks).
 */
#include <wire/wire.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum action { NOTHING, CLOSE, ABORT };

struct script {
    const char *greeting;        /* written in connection_made, if any */
    enum action on_made, on_data;
    bool keep_ref;               /* hold the transport past the end */
};

struct trace {                   /* owned by main: outlives the actor */
    char log[160];
    bool lost, broken;
    struct wire_transport *kept; /* our reference, if keep_ref */
};

struct actor {
    struct wire_protocol base;
    struct wire_transport *t;    /* valid until connection_lost returns */
    const struct script *sc;
    struct trace *tr;
};

static int live_actors;
static bool all_destroyed;

static void
note(struct trace *tr, const char *what)
{
    size_t n = strlen(tr->log);
    snprintf(tr->log + n, sizeof(tr->log) - n, "%s%s", n ? " " : "", what);
}

static void
act(struct actor *a, enum action what)
{
    if (what == NOTHING)
        return;
    if (what == CLOSE)
        wire_transport_close(a->t);  /* flush, then close */
    else
        wire_transport_abort(a->t);  /* drop the queue, close now */
    /* Both returned first: connection_lost comes on a later turn.  The
     * transport stays valid for the rest of this callback. */
    if (a->tr->lost || !wire_transport_is_closing(a->t) ||
        wire_transport_write(a->t, "x", 1) != WIRE_ECLOSED)
        a->tr->broken = true;
    wire_transport_close(a->t);      /* idempotent */
}

static void
actor_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct actor *a = (struct actor *)p;
    a->t = t;
    note(a->tr, "made");
    if (a->sc->keep_ref)
        a->tr->kept = wire_transport_ref(t);
    if (a->sc->greeting != NULL)
        wire_transport_write(t, a->sc->greeting, strlen(a->sc->greeting));
    act(a, a->sc->on_made);
}

static void
actor_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct actor *a = (struct actor *)p;
    (void)data;
    (void)len;
    note(a->tr, "data");
    act(a, a->sc->on_data);
}

static bool
actor_eof(struct wire_protocol *p)
{
    note(((struct actor *)p)->tr, "eof");
    return false; /* close our side too */
}

static void
actor_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct actor *a = (struct actor *)p;
    char what[64];
    snprintf(what, sizeof(what), "lost(%s)", err ? wire_err_name(err->code) : "ok");
    note(a->tr, what);
    a->tr->lost = true;
    a->t = NULL; /* not ours after this returns (unless referenced) */
}

static void
actor_destroy(struct wire_protocol *p)
{
    struct actor *a = (struct actor *)p;
    note(a->tr, "destroy");
    free(a); /* the transport is done with us: free everything */
    if (--live_actors == 0)
        all_destroyed = true;
}

static const struct wire_protocol_ops actor_ops = {
    .connection_made = actor_made,
    .data_received = actor_data,
    .eof_received = actor_eof,
    .connection_lost = actor_lost,
    .destroy = actor_destroy,
};

static struct wire_protocol *
actor_new(const struct script *sc, struct trace *tr)
{
    struct actor *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    wire_protocol_init(&a->base, &actor_ops);
    a->sc = sc;
    a->tr = tr;
    live_actors++;
    return &a->base;
}

/* ---- scenarios ---- */

struct scenario {
    const char *name;
    struct script a, b;
    const char *want_a, *want_b;
};

static const struct scenario scenarios[] = {
    {"close in connection_made",
     {.greeting = "bye", .on_made = CLOSE}, {.on_made = NOTHING},
     "made lost(ok) destroy", "made data eof lost(ok) destroy"},
    {"abort in data_received",
     {.greeting = "boom"}, {.on_data = ABORT},
     "made lost(ECONNRESET) destroy", "made data lost(WIRE_EABORTED) destroy"},
    {"a reference past the end",
     {.greeting = "hi", .keep_ref = true}, {.on_data = CLOSE},
     "made eof lost(ok) destroy", "made data lost(ok) destroy"},
};

static bool
run(struct wire_loop *loop, const struct scenario *s, struct trace *tp)
{
    struct trace *ta = &tp[0], *tb = &tp[1];
    struct wire_protocol *a = actor_new(&s->a, ta), *b = actor_new(&s->b, tb);
    all_destroyed = false;
    if (a == NULL || b == NULL || wire_mem_pair(loop, a, b, 0, NULL, NULL) < 0) {
        wire_protocol_destroy(a);
        wire_protocol_destroy(b);
        fprintf(stderr, "lifetimes: %s: setup failed\n", s->name);
        return false;
    }
    bool ok = wire_loop_run_until(loop, &all_destroyed, 2000) == 0;
    ok = ok && !ta->broken && !tb->broken && strcmp(ta->log, s->want_a) == 0 &&
         strcmp(tb->log, s->want_b) == 0;
    if (ta->kept != NULL) {
        /* The protocol is gone; the transport is still valid memory, and
         * every call on it is harmless. */
        ok = ok && wire_transport_is_closing(ta->kept) &&
             wire_transport_write(ta->kept, "late", 4) == WIRE_ECLOSED &&
             wire_transport_protocol(ta->kept) == NULL &&
             strcmp(wire_transport_name(ta->kept), "mem") == 0;
        wire_transport_unref(ta->kept); /* now it is freed */
    }
    printf("lifetimes: %-26s %s\n", s->name, ok ? "ok" : "FAILED");
    if (!ok)
        fprintf(stderr, "  a: '%s' (want '%s')\n  b: '%s' (want '%s')\n",
                ta->log, s->want_a, tb->log, s->want_b);
    return ok;
}

int
main(void)
{
    struct wire_loop *loop = wire_loop_new();
    if (loop == NULL)
        return 1;
    /* Traces outlive the actors (static: even one that never ended). */
    static struct trace traces[sizeof(scenarios) / sizeof(scenarios[0])][2];
    bool ok = true;
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        ok = run(loop, &scenarios[i], traces[i]) && ok;
    wire_loop_free(loop);
    if (live_actors != 0) {
        fprintf(stderr, "lifetimes: %d protocols were never destroyed\n",
                live_actors);
        ok = false;
    }
    return ok ? 0 : 1;
}
