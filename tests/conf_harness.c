/*
 * The conformance harness: the deterministic stream, the case context
 * (begin, end, leak accounting), the loop driving helpers, pairs made
 * through a factory, and the runner both programs over the factories
 * (check_conformance, check_matrix) use as their main().  The probe
 * protocol and the pump are in conf_probe.c.
 */
#include "conf.h"
#include "conf_tls.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the stream ---- */

static inline uint64_t
splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t
conf_rand(uint64_t *state)
{
    /* xorshift64*: never seeded with 0 (the seeds below are not). */
    uint64_t x = *state ? *state : 0x2545f4914f6cdd1dull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static inline uint8_t
stream_byte(uint64_t seed, uint64_t pos)
{
    return (uint8_t)(splitmix(seed ^ (pos >> 3) * 0x100000001b3ull) >>
                     ((pos & 7) * 8));
}

void
conf_stream_fill(uint64_t seed, uint64_t pos, void *buf, size_t len)
{
    uint8_t *o = buf;
    while (len > 0 && (pos & 7) != 0) {
        *o++ = stream_byte(seed, pos++);
        len--;
    }
    while (len >= 8) {
        uint64_t w = splitmix(seed ^ (pos >> 3) * 0x100000001b3ull);
        for (int i = 0; i < 8; i++)
            o[i] = (uint8_t)(w >> (i * 8));
        o += 8;
        pos += 8;
        len -= 8;
    }
    while (len > 0) {
        *o++ = stream_byte(seed, pos++);
        len--;
    }
}

size_t
conf_stream_check(uint64_t seed, uint64_t period, uint64_t pos,
                  const void *data, size_t len)
{
    uint8_t want[4096];
    const uint8_t *d = data;
    size_t off = 0;
    while (off < len) {
        uint64_t sp = period ? (pos + off) % period : pos + off;
        size_t n = len - off < sizeof(want) ? len - off : sizeof(want);
        if (period && n > period - sp)
            n = (size_t)(period - sp);
        conf_stream_fill(seed, sp, want, n);
        if (memcmp(want, d + off, n) != 0) {
            for (size_t i = 0; i < n; i++)
                if (want[i] != d[off + i])
                    return off + i;
        }
        off += n;
    }
    return SIZE_MAX;
}

/* ---- time and environment ---- */

long
conf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long
conf_scale_ms(long ms)
{
    /* WIRE_TEST_TIME_SCALE stretches deadlines (valgrind); they only
     * bound failures, never make a passing run slower. */
    static long scale = 0;
    if (scale == 0) {
        const char *e = getenv("WIRE_TEST_TIME_SCALE");
        scale = e != NULL && atol(e) > 0 ? atol(e) : 1;
    }
    return ms * scale;
}

size_t
conf_bulk(void)
{
    const char *e = getenv("WIRE_TEST_BULK_MB");
    long mb = e != NULL ? atol(e) : 64;
    if (mb < 1)
        mb = 1;
    return (size_t)mb * CONF_MIB;
}

/* ---- context ---- */

void
conf_violation(struct conf_ctx *c, const char *fmt, ...)
{
    if (c->violation[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->violation, sizeof(c->violation), fmt, ap);
    va_end(ap);
    c->wake = true;
}

void
conf_check(struct conf_ctx *c)
{
    CK(c, c->violation[0] == '\0', "%s", c->violation);
}

void
conf_note(struct conf_ctx *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "conformance: %s [%s]: %s\n", c->case_name, c->fname, buf);
}

struct conf_ctx *
conf_begin(int idx, const char *case_name)
{
    const struct conf_factory *f = &conf_factories[idx];
    /* WIRE_TEST_ONLY=name runs one factory (for debugging). */
    const char *only = getenv("WIRE_TEST_ONLY");
    if (only != NULL && only[0] != '\0' && strcmp(only, f->name) != 0)
        return NULL;
    /* WIRE_TEST_EXCLUDE=prefix leaves those factories out, saying so
     * (for debugging, or a run that cannot afford some of them). */
    const char *ex = getenv("WIRE_TEST_EXCLUDE");
    if (ex != NULL && ex[0] != '\0' && strncmp(f->name, ex, strlen(ex)) == 0) {
        fprintf(stderr, "conformance: %s [%s]: NOT RUN here (WIRE_TEST_EXCLUDE=%s)\n",
                case_name, f->name, ex);
        return NULL;
    }
    struct conf_ctx *c = calloc(1, sizeof(*c));
    ck_assert_msg(c != NULL, "[%s] out of memory", f->name);
    c->f = f;
    c->fname = f->name;
    c->case_name = case_name;
    uint64_t h = 1469598103934665603ull;
    for (const char *s = case_name; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    c->seed = h ^ (uint64_t)(idx + 1) * 0x9e3779b97f4a7c15ull;
    const char *es = getenv("WIRE_TEST_SEED");
    if (es != NULL)
        c->seed ^= strtoull(es, NULL, 0);
    char why[256] = "";
    if (f->available != NULL && !f->available(c, why, sizeof(why))) {
        const char *req = getenv("WIRE_TEST_REQUIRE_ALL");
        ck_assert_msg(req == NULL || strcmp(req, "1") != 0,
                      "[%s] transport unavailable: %s", f->name, why);
        conf_note(c, "NOT RUN: transport unavailable here: %s "
                  "(set WIRE_TEST_REQUIRE_ALL=1 to make this a failure)", why);
        free(c);
        return NULL;
    }
    c->loop = wire_loop_new();
    CK(c, c->loop != NULL, "wire_loop_new failed");
    return c;
}

static bool
all_destroyed(struct conf_ctx *c)
{
    return c->probes_destroyed == c->probes_new;
}

void
conf_end(struct conf_ctx *c)
{
    conf_check(c);
    for (struct probe *p = c->probes; p != NULL; p = p->next_in_ctx)
        if (p->made && !p->lost && p->t != NULL)
            wire_transport_abort(p->t);
    wire_server_free(c->server);
    c->server = NULL;
    for (int i = 0; i < c->npending; i++)
        wire_protocol_destroy(c->pending[i]);
    c->npending = 0;
    CONF_WAIT(c, all_destroyed(c), 10000, "every protocol destroyed");
    /* Nothing may be left: the loop must run out of work on its own. */
    bool never = false;
    int rc = wire_loop_run_until(c->loop, &never, conf_scale_ms(10000));
    CK(c, rc == 1, "the loop still had work after the case (rc %d)", rc);
    CK(c, wire_loop_run(c->loop) == 0, "wire_loop_run failed");
    CK(c, c->probes_destroyed == c->probes_new,
       "%d protocols made, %d destroyed", c->probes_new, c->probes_destroyed);
    CK(c, c->refs_out == 0, "%d write_ref buffers never released",
       c->refs_out);
    CK(c, c->unexpected_accepts == 0, "%d unexpected connections accepted",
       c->unexpected_accepts);
    conf_check(c);
    wire_loop_free(c->loop);
    for (int i = 0; i < c->nheld; i++)
        close(c->held_fds[i]);
    struct probe *p = c->probes;
    while (p != NULL) {
        struct probe *next = p->next_in_ctx;
        free(p);
        p = next;
    }
    free(c);
}

void
conf_hold_fd(struct conf_ctx *c, int fd)
{
    CK(c, c->nheld < (int)(sizeof(c->held_fds) / sizeof(c->held_fds[0])),
       "too many held descriptors");
    c->held_fds[c->nheld++] = fd;
}

void
conf_shrink_buffers(struct conf_ctx *c, struct wire_transport *t)
{
    if (!(c->f->caps & CONF_CAP_FD))
        return;
    int fd = -1;
    int rc = wire_transport_get_info(t, WIRE_INFO_FD, &fd, sizeof(fd));
    /* Under a layer the connection below may be gone already (the
     * layer's protocol starts to hear why). */
    if (rc == WIRE_ECLOSED)
        return;
    CK(c, rc == (int)sizeof(int) && fd >= 0, "WIRE_INFO_FD: %d", rc);
    /* 64 KiB: small enough that the transport's own queue fills after
     * little data, large enough (above the loopback MSS) that TCP never
     * waits on its persist timer for a window update. */
    int sz = 64 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

static void
turn_fire(void *arg)
{
    struct conf_ctx *c = arg;
    c->wake = true;
}

void
conf_turns(struct conf_ctx *c, int n)
{
    /* A zero timer fires only after the loop polled I/O once more, so
     * each round below is one full iteration: anything ready would have
     * been delivered. */
    struct wire_timer *tm = wire_timer_new(c->loop, turn_fire, c);
    CK(c, tm != NULL, "wire_timer_new");
    for (int i = 0; i < n; i++) {
        c->wake = false;
        wire_timer_start(tm, 0, 0);
        int rc = wire_loop_run_until(c->loop, &c->wake, conf_scale_ms(5000));
        CK(c, rc == 0, "idle turn: %d", rc);
    }
    wire_timer_free(tm);
    conf_check(c);
}

const char *
conf_info_name(const struct conf_ctx *c, bool server)
{
    return server && c->f->server_info_name != NULL ? c->f->server_info_name
                                                    : c->f->info_name;
}

unsigned
conf_info_caps(const struct conf_ctx *c, bool server)
{
    return server && c->f->server_info_caps != 0 ? c->f->server_info_caps
                                                 : c->f->caps;
}

const char *
conf_info_prefix(const struct conf_ctx *c, bool server)
{
    return server && c->f->server_info_prefix != NULL
               ? c->f->server_info_prefix
               : c->f->info_prefix;
}

/* ---- write_ref buffers ---- */

void *
conf_ref_alloc(struct conf_ctx *c, size_t n)
{
    void *b = malloc(n ? n : 1);
    CK(c, b != NULL, "out of memory");
    c->refs_out++;
    return b;
}

void
conf_ref_free(void *arg, const void *data, size_t len)
{
    struct conf_ctx *c = arg;
    (void)len;
    c->refs_out--;
    free((void *)(uintptr_t)data);
    c->wake = true;
}

/* ---- pairs ---- */

static struct wire_protocol *
server_factory(void *arg)
{
    struct conf_ctx *c = arg;
    c->wake = true;
    if (c->npending == 0) {
        c->unexpected_accepts++;
        return NULL;
    }
    struct wire_protocol *p = c->pending[0];
    memmove(&c->pending[0], &c->pending[1],
            (size_t)(c->npending - 1) * sizeof(c->pending[0]));
    c->npending--;
    return p;
}

struct wire_server *
conf_server(struct conf_ctx *c)
{
    if (c->server != NULL)
        return c->server;
    CK(c, c->f->listen_endpoint != NULL, "factory has no endpoint");
    char ep[400];
    c->f->listen_endpoint(c, ep, sizeof(ep));
    struct wire_error err = {0};
    int rc = wire_listen(c->loop, ep, server_factory, c, NULL, &c->server,
                         &err);
    CK(c, rc == 0, "wire_listen(%s): %s", ep, err.message);
    wire_error_clear(&err);
    snprintf(c->server_ep, sizeof(c->server_ep), "%s",
             wire_server_address(c->server));
    return c->server;
}

void
conf_pair_connected(void *arg, struct wire_transport *t,
               const struct wire_error *err)
{
    struct conf_ctx *c = arg;
    c->wake = true;
    if (err != NULL) {
        c->connect_failed++;
        c->connect_code = err->code;
        snprintf(c->connect_err, sizeof(c->connect_err), "%s", err->message);
    } else if (t == NULL) {
        conf_violation(c, "connect callback without transport nor error");
    }
}

void
conf_pair_start(struct conf_ctx *c, struct wire_protocol *client,
                struct wire_protocol *server)
{
    if (c->f->make_pair != NULL) {
        int rc = c->f->make_pair(c, client, server);
        CK(c, rc == 0, "making a pair: %s", wire_strerror(rc));
        return;
    }
    conf_server(c);
    CK(c, c->npending < 16, "too many pending server protocols");
    c->pending[c->npending++] = server;
    struct wire_error err = {0};
    int rc = wire_connect(c->loop, c->server_ep, client, NULL, conf_pair_connected,
                          c, &err);
    CK(c, rc == 0, "wire_connect(%s): %s", c->server_ep, err.message);
    wire_error_clear(&err);
}

void
conf_pair(struct conf_ctx *c, struct wire_protocol *client,
          struct wire_protocol *server)
{
    conf_pair_start(c, client, server);
    CONF_WAIT(c, (client->transport != NULL && server->transport != NULL) ||
                     c->connect_failed,
              10000, "both ends connected");
    CK(c, !c->connect_failed, "connect failed: %s", c->connect_err);
}

void
conf_probe_pair(struct conf_ctx *c, struct probe *client, struct probe *server)
{
    conf_pair_start(c, &client->base, &server->base);
    CONF_WAIT(c, (client->made && server->made) || c->connect_failed, 10000,
              "both ends connected");
    CK(c, !c->connect_failed, "connect failed: %s", c->connect_err);
}

/* ---- the runner ---- */

static void
remove_tmpdir(void)
{
    DIR *d = opendir(conf_tmpdir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", conf_tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(conf_tmpdir);
}

int
conf_run(Suite *s, const char *tmp_template)
{
    /* SIGPIPE keeps its default action (it kills): the library must never
     * raise it, and the suites would notice. */
    signal(SIGPIPE, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_UNBLOCK, &set, NULL);

    snprintf(conf_tmpdir, 256, "%s", tmp_template);
    if (mkdtemp(conf_tmpdir) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    conf_tls_setup();
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    conf_tls_cleanup();
    remove_tmpdir();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
