/*
 * Fuzz target: endpoint strings (<wire/endpoint.h>).
 *
 * The generic parser (wire_endpoint_parse, in every shape, and the
 * parameter helpers) needs no loop, no network and no file: it is fuzzed
 * whole.  wire_connect and wire_listen parse too, but then act on the
 * scheme (connect, bind, open a device, run a command), so they are only
 * ever given `mem:` endpoints here, which live inside the process's loop:
 * a mem: string that parses is listened on and dialled, and both are
 * closed at once.  Any other scheme is never passed to them.
 *
 * Input: byte 0 picks the shape (& 3: host:port, path, raw, optional
 * path) and whether to try mem: (bit 2); the rest is the string (NUL
 * bytes end it, as they would for a C caller).
 *
 * Invariants: parsing returns 0 or WIRE_EENDPOINT (with a message) and,
 * on failure, leaves the struct zeroed; the scheme is what
 * wire_endpoint_scheme says, in lower case; a host:port has a host and a
 * port of digits from 0 to 65535; a path is never empty in the path
 * shape; the raw shape keeps the rest verbatim; every parameter is
 * found by wire_endpoint_param; the path shape round-trips (the parsed
 * endpoint, written back with percent escapes, parses to the same
 * thing); the numeric and boolean helpers agree with strtoull and the
 * documented words.
 */
#include "fuzz.h"

#include <wire/endpoint.h>
#include <wire/loop.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct wire_loop *loop;

static void
free_loop(void)
{
    wire_loop_free(loop);
    loop = NULL;
}

static void
check_failed(int rc, const struct wire_endpoint *ep,
             const struct wire_error *err)
{
    FUZZ_CHECK(rc == WIRE_EENDPOINT || rc == WIRE_ENOMEM,
               "parse returned %s", wire_err_name(rc));
    FUZZ_CHECK(err->code == rc && err->message != NULL,
               "an error without its code or message");
    static const struct wire_endpoint zero;
    FUZZ_CHECK(memcmp(ep, &zero, sizeof(zero)) == 0,
               "a failed parse left the endpoint set");
}

/* Append `s` percent-escaped (everything but unreserved characters). */
static void
put_escaped(struct fuzz_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
            c == '/' || c == '@') {
            fuzz_buf_add(b, s, 1);
        } else {
            char esc[4];
            snprintf(esc, sizeof(esc), "%%%02X", c);
            fuzz_buf_add(b, esc, 3);
        }
    }
}

static bool
same_endpoint(const struct wire_endpoint *a, const struct wire_endpoint *b)
{
    if (strcmp(a->scheme, b->scheme) != 0 || strcmp(a->path, b->path) != 0 ||
        a->nparams != b->nparams)
        return false;
    for (size_t i = 0; i < a->nparams; i++)
        if (strcmp(a->keys[i], b->keys[i]) != 0 ||
            strcmp(a->values[i], b->values[i]) != 0)
            return false;
    return true;
}

static void
check_params(const struct wire_endpoint *ep)
{
    struct wire_error err = {0};
    for (size_t i = 0; i < ep->nparams; i++) {
        const char *k = ep->keys[i];
        FUZZ_CHECK(k != NULL && ep->values[i] != NULL, "a NULL parameter");
        const char *v = wire_endpoint_param(ep, k);
        FUZZ_CHECK(v != NULL, "parameter '%s' cannot be found", k);
        /* The first of that name wins. */
        for (size_t j = 0; j < i; j++)
            if (strcmp(ep->keys[j], k) == 0) {
                FUZZ_CHECK(v == ep->values[j], "not the first '%s'", k);
                break;
            }

        uint64_t out = 7;
        int rc = wire_endpoint_param_u64(ep, k, 0, 65535, &out, &err);
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        bool num = isdigit((unsigned char)v[0]) && *end == '\0' && errno == 0 &&
                   n <= 65535;
        FUZZ_CHECK((rc == 0) == num, "param_u64 %s=%s returned %d", k, v, rc);
        FUZZ_CHECK(rc == 0 ? out == n : out == 7,
                   "param_u64 %s=%s gave %llu", k, v, (unsigned long long)out);
        wire_error_clear(&err);

        bool b = false;
        rc = wire_endpoint_param_bool(ep, k, &b, &err);
        bool yes = !strcmp(v, "1") || !strcasecmp(v, "yes") ||
                   !strcasecmp(v, "true") || !strcasecmp(v, "on") || !v[0];
        bool no = !strcmp(v, "0") || !strcasecmp(v, "no") ||
                  !strcasecmp(v, "false") || !strcasecmp(v, "off");
        FUZZ_CHECK(rc == 0 ? (b == yes && (yes || no)) : !(yes || no),
                   "param_bool %s=%s", k, v);
        wire_error_clear(&err);
    }
    static const char *const none[] = {NULL};
    int rc = wire_endpoint_check_params(ep, none, &err);
    FUZZ_CHECK((rc == 0) == (ep->nparams == 0), "check_params with none known");
    wire_error_clear(&err);
    if (ep->nparams > 0) {
        const char *known[2] = {ep->keys[0], NULL};
        bool all_first = true;
        for (size_t i = 0; i < ep->nparams; i++)
            all_first = all_first && strcmp(ep->keys[i], ep->keys[0]) == 0;
        rc = wire_endpoint_check_params(ep, known, &err);
        FUZZ_CHECK((rc == 0) == all_first, "check_params with one known");
        wire_error_clear(&err);
    }
    /* A key none of the parameters has is not found (the input may well
     * hold this very key: then it is found, as it should be). */
    static const char absent[] = "\x01no such key";
    bool has_absent = false;
    for (size_t i = 0; i < ep->nparams; i++)
        has_absent = has_absent || strcmp(ep->keys[i], absent) == 0;
    FUZZ_CHECK((wire_endpoint_param(ep, absent) != NULL) == has_absent,
               "a parameter found that is not there, or not found");
}

static void
parse_one(const char *s, enum wire_endpoint_shape shape)
{
    struct wire_endpoint ep;
    struct wire_error err = {0};
    int rc = wire_endpoint_parse(s, shape, &ep, &err);
    if (rc != 0) {
        check_failed(rc, &ep, &err);
        wire_error_clear(&err);
        return;
    }
    FUZZ_CHECK(err.code == 0, "success with an error set");
    char scheme[32];
    FUZZ_CHECK(wire_endpoint_scheme(s, scheme, sizeof(scheme), &err) == 0 &&
                   strcmp(scheme, ep.scheme) == 0,
               "the scheme differs from wire_endpoint_scheme's");
    for (const char *c = ep.scheme; *c; c++)
        FUZZ_CHECK(!isupper((unsigned char)*c), "an upper-case scheme");
    const char *rest = s + strlen(ep.scheme) + 1;
    switch (shape) {
    case WIRE_ENDPOINT_HOSTPORT: {
        FUZZ_CHECK(ep.host != NULL && ep.host[0] != '\0' && ep.port != NULL &&
                       ep.path == NULL,
                   "a host:port without host or port");
        size_t pl = strlen(ep.port);
        FUZZ_CHECK(pl > 0, "an empty port");
        unsigned long v = 0;
        for (size_t i = 0; i < pl; i++) {
            FUZZ_CHECK(isdigit((unsigned char)ep.port[i]), "port '%s'",
                       ep.port);
            if (v <= 65535)
                v = v * 10 + (unsigned long)(ep.port[i] - '0');
        }
        FUZZ_CHECK(v <= 65535, "port %s out of range", ep.port);
        FUZZ_CHECK(strncmp(rest, "//", 2) == 0, "host:port without //");
        break;
    }
    case WIRE_ENDPOINT_RAW:
        FUZZ_CHECK(ep.path != NULL && strcmp(ep.path, rest) == 0 &&
                       ep.nparams == 0,
                   "the raw shape changed the address");
        break;
    default:
        FUZZ_CHECK(ep.path != NULL && ep.host == NULL && ep.port == NULL,
                   "a path shape without a path");
        if (shape == WIRE_ENDPOINT_PATH)
            FUZZ_CHECK(ep.path[0] != '\0', "an empty path");
        break;
    }
    check_params(&ep);

    if (shape == WIRE_ENDPOINT_PATH || shape == WIRE_ENDPOINT_PATH_OPTIONAL) {
        /* Write it back, escaped, and parse that. */
        struct fuzz_buf b = {0};
        fuzz_buf_add(&b, ep.scheme, strlen(ep.scheme));
        fuzz_buf_add(&b, ":", 1);
        put_escaped(&b, ep.path);
        for (size_t i = 0; i < ep.nparams; i++) {
            fuzz_buf_add(&b, i ? "&" : "?", 1);
            put_escaped(&b, ep.keys[i]);
            fuzz_buf_add(&b, "=", 1);
            put_escaped(&b, ep.values[i]);
        }
        fuzz_buf_add(&b, "", 1);
        struct wire_endpoint again;
        rc = wire_endpoint_parse((const char *)b.p, shape, &again, &err);
        /* A key that decoded to "" (from "%00") cannot be written back. */
        bool empty_key = false;
        for (size_t i = 0; i < ep.nparams; i++)
            empty_key = empty_key || ep.keys[i][0] == '\0';
        bool empty_path = shape == WIRE_ENDPOINT_PATH && ep.path[0] == '\0';
        if (!empty_key && !empty_path) {
            FUZZ_CHECK(rc == 0, "'%s' written back as '%s' does not parse: %s",
                       s, (const char *)b.p, err.message);
            FUZZ_CHECK(same_endpoint(&ep, &again),
                       "'%s' written back as '%s' parses differently", s,
                       (const char *)b.p);
        }
        wire_endpoint_clear(&again);
        wire_error_clear(&err);
        fuzz_buf_free(&b);
    }
    wire_endpoint_clear(&ep);
    static const struct wire_endpoint zero;
    FUZZ_CHECK(memcmp(&ep, &zero, sizeof(zero)) == 0, "clear left data");
}

/* ---- mem: only ---- */

static int connects;

static void
mem_destroy(struct wire_protocol *p)
{
    free(p);
}

static const struct wire_protocol_ops mem_ops = {.destroy = mem_destroy};

static struct wire_protocol *
factory(void *arg)
{
    (void)arg;
    struct wire_protocol *p = malloc(sizeof(*p));
    if (p != NULL)
        wire_protocol_init(p, &mem_ops);
    return p;
}

static void
on_connect(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    (void)arg;
    connects++;
    FUZZ_CHECK((t != NULL) != (err != NULL), "connect: both or neither");
    if (t != NULL)
        wire_transport_abort(t);
}

static void
try_mem(const char *s)
{
    char scheme[32];
    if (wire_endpoint_scheme(s, scheme, sizeof(scheme), NULL) != 0 ||
        strcmp(scheme, "mem") != 0)
        return; /* never anything but mem: */
    if (loop == NULL) {
        loop = wire_loop_new();
        FUZZ_CHECK(loop != NULL, "wire_loop_new");
        atexit(free_loop);
    }
    struct wire_error err = {0};
    struct wire_server *srv = NULL;
    int rc = wire_listen(loop, s, factory, NULL, NULL, &srv, &err);
    FUZZ_CHECK(rc == 0 || (rc < 0 && err.message != NULL),
               "listen failed without a message");
    wire_error_clear(&err);
    struct wire_protocol *p = factory(NULL);
    FUZZ_CHECK(p != NULL, "out of memory");
    connects = 0;
    rc = wire_connect(loop, s, p, NULL, on_connect, NULL, &err);
    if (rc != 0) {
        FUZZ_CHECK(err.message != NULL, "connect failed without a message");
        wire_protocol_destroy(p);
        wire_error_clear(&err);
    }
    /* The dial completes on the loop's next turns (a listening server
     * keeps the loop busy, so run until the callback came). */
    for (int i = 0; i < 16 && rc == 0 && connects == 0; i++)
        wire_loop_run_once(loop, false);
    wire_loop_run_once(loop, false); /* a second callback would come now */
    if (rc == 0)
        FUZZ_CHECK(connects == 1, "the connect callback ran %d times",
                   connects);
    wire_server_free(srv);
    for (int i = 0; i < 16; i++)
        if (wire_loop_run_once(loop, false) == 1)
            break;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len == 0)
        return 0;
    uint8_t cfg = data[0];
    char *s = fuzz_strndup(data + 1, len - 1, 0);
    static const enum wire_endpoint_shape shapes[4] = {
        WIRE_ENDPOINT_HOSTPORT, WIRE_ENDPOINT_PATH, WIRE_ENDPOINT_RAW,
        WIRE_ENDPOINT_PATH_OPTIONAL};
    /* The chosen shape first, then the others (each parse is cheap). */
    for (unsigned i = 0; i < 4; i++)
        parse_one(s, shapes[(cfg + i) & 3]);
    char scheme[8];
    struct wire_error err = {0};
    if (wire_endpoint_scheme(s, scheme, 1, &err) == 0)
        fuzz_fail("a scheme fitted in one byte");
    wire_error_clear(&err);
    if (cfg & 4)
        try_mem(s);
    free(s);
    return 0;
}
