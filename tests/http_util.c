/*
 * The HTTP server suites' helpers (see http_util.h): the scriptable
 * application and a response parser written apart from the library's
 * llhttp glue, so the two do not share mistakes.
 */
#include "http_util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void
logf_(struct happ *a, const char *fmt, ...) WIRE_PRINTF(2, 3);

static void
logf_(struct happ *a, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    unit_append(&a->log, &a->log_len, &a->log_cap, tmp,
                (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void
add_date(struct happ *a, struct wire_http_exchange *x)
{
    if (a->fixed_date)
        ck_assert_int_eq(wire_http_response_header(x, "Date", "X"), 0);
}

void
happ_answer(struct happ *a, int status, const char *body)
{
    ck_assert_ptr_nonnull(a->x);
    add_date(a, a->x); /* headers may come before the status */
    ck_assert_int_ge(wire_http_respond(a->x, status, "text/plain", body,
                                       strlen(body)), 0);
}

static void
h_request(void *arg, struct wire_http_exchange *x)
{
    struct happ *a = arg;
    const struct wire_http_head *h = wire_http_exchange_request(x);
    a->requests++;
    a->x = x;
    a->head = *h;
    logf_(a, "REQ %s %s %d.%d", h->method, h->target, h->version_major,
          h->version_minor);
    if (a->dump_headers)
        for (size_t i = 0; i < h->nheaders; i++)
            logf_(a, " [%s=%s]", h->headers[i].name, h->headers[i].value);
    logf_(a, "|");
    if (a->pause_in_request)
        wire_http_body_pause(x);
    if (a->upgrade_to != NULL) {
        struct wire_error err = {0};
        ck_assert_int_eq(wire_http_exchange_upgrade(x, 101, a->upgrade_to, &err), 0);
        a->upgrade_to = NULL;
        return;
    }
    switch (a->mode) {
    case HAPP_RESPOND: {
        const char *body = a->body ? a->body : "ok";
        ck_assert_int_eq(wire_http_response_start(x, a->status ? a->status : 200, NULL), 0);
        add_date(a, x);
        ck_assert_int_eq(wire_http_response_header(x, "Content-Type", "text/plain"), 0);
        char cl[32];
        snprintf(cl, sizeof(cl), "%zu", strlen(body));
        ck_assert_int_eq(wire_http_response_header(x, "Content-Length", cl), 0);
        if (*body != '\0')
            ck_assert_int_ge(wire_http_response_write(x, body, strlen(body)), 0);
        ck_assert_int_ge(wire_http_response_end(x), 0);
        break;
    }
    case HAPP_STREAM:
        ck_assert_int_eq(wire_http_response_start(x, 200, NULL), 0);
        add_date(a, x);
        break;
    case HAPP_LATER:
    case HAPP_ECHO:
        break;
    }
}

static void
h_body(void *arg, struct wire_http_exchange *x, const void *data, size_t len)
{
    struct happ *a = arg;
    ck_assert_ptr_eq(x, a->x);
    ck_assert_uint_gt(len, 0);
    a->body_calls++;
    logf_(a, "BODY %zu|", len);
    unit_append(&a->body_in, &a->body_in_len, &a->body_in_cap, data, len);
    if (a->mode == HAPP_STREAM)
        ck_assert_int_ge(wire_http_response_write(x, data, len), 0);
    if (a->pause_in_body)
        wire_http_body_pause(x);
}

static void
h_body_end(void *arg, struct wire_http_exchange *x)
{
    struct happ *a = arg;
    ck_assert_ptr_eq(x, a->x);
    a->body_ends++;
    logf_(a, "END|");
    if (a->mode == HAPP_ECHO) {
        add_date(a, x);
        const char *b = a->body_in ? a->body_in : "";
        ck_assert_int_ge(wire_http_respond(x, 200, NULL, b, a->body_in_len), 0);
        a->body_in_len = 0;
    } else if (a->mode == HAPP_STREAM) {
        ck_assert_int_ge(wire_http_response_end(x), 0);
    }
}

static void
h_writable(void *arg, struct wire_http_exchange *x)
{
    struct happ *a = arg;
    (void)x;
    a->writables++;
}

static void
h_done(void *arg, struct wire_http_exchange *x, const struct wire_error *err)
{
    struct happ *a = arg;
    ck_assert_ptr_eq(x, a->x);
    a->dones++;
    if (err != NULL) {
        ck_assert_int_ne(err->code, 0);
        ck_assert_ptr_nonnull(err->message);
        a->done_errors++;
        a->last_err = err->code;
        snprintf(a->last_msg, sizeof(a->last_msg), "%s", err->message);
        logf_(a, "DONE %s|", wire_err_name(err->code));
    } else {
        logf_(a, "DONE|");
    }
    /* Calls on an exchange that is ending are refused, never crash. */
    ck_assert_int_lt(wire_http_response_write(x, "z", 1), 0);
    a->x = NULL;
}

static const struct wire_http_handler happ_handler = {
    .on_request = h_request,
    .on_body = h_body,
    .on_body_end = h_body_end,
    .on_writable = h_writable,
    .on_done = h_done,
};

struct wire_http_service *
happ_service(struct happ *a, const struct wire_http_limits *limits)
{
    struct wire_http_service_opts o;
    memset(&o, 0, sizeof(o));
    if (limits != NULL)
        o.limits = *limits;
    struct wire_error err = {0};
    struct wire_http_service *s = wire_http_service_new(&o, &happ_handler, a, &err);
    ck_assert_msg(s != NULL, "%s", err.message ? err.message : "?");
    return s;
}

struct wire_transport *
happ_string(struct happ *a, const struct wire_http_limits *limits)
{
    struct wire_http_service *s = happ_service(a, limits);
    struct wire_protocol *p = wire_http_server_protocol_new(s);
    ck_assert_ptr_nonnull(p);
    wire_http_service_unref(s);
    struct wire_transport *t = wire_string_transport_new(p);
    ck_assert_ptr_nonnull(t);
    return t;
}

void
happ_free(struct happ *a)
{
    free(a->log);
    free(a->body_in);
    a->log = a->body_in = NULL;
    a->log_len = a->log_cap = a->body_in_len = a->body_in_cap = 0;
}

const char *
happ_log(const struct happ *a)
{
    return a->log != NULL ? a->log : "";
}

void
st_feed(struct wire_transport *t, const char *s)
{
    ck_assert_int_eq(wire_string_transport_feed(t, s, strlen(s)), 0);
}

/* ---- responses ---- */

static const char *
find_crlf(const char *p, const char *end)
{
    for (; p + 1 < end; p++)
        if (p[0] == '\r' && p[1] == '\n')
            return p;
    return NULL;
}

/* One response at `p`; returns its length, or 0 when incomplete. */
static size_t
parse_one(const char *buf, size_t len, struct tresp *r, bool head_req)
{
    const char *p = buf, *end = buf + len;
    memset(r, 0, sizeof(*r));
    const char *eol = find_crlf(p, end);
    if (eol == NULL)
        return 0;
    int off = 0;
    char line[128]; /* the output is not NUL-terminated: scan a copy */
    snprintf(line, sizeof(line), "%.*s", (int)(eol - p), p);
    ck_assert_msg(sscanf(line, "HTTP/1.%d %d %n", &r->minor, &r->status, &off) == 2,
                  "bad status line '%s'", line);
    snprintf(r->reason, sizeof(r->reason), "%s", line + off);
    p = eol + 2;
    int64_t cl = -1;
    size_t hl = 0;
    for (;;) {
        eol = find_crlf(p, end);
        if (eol == NULL)
            return 0;
        if (eol == p) {
            p += 2;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        ck_assert_ptr_nonnull(colon);
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        int n = snprintf(r->headers + hl, sizeof(r->headers) - hl, "%.*s: %.*s\n",
                         (int)(colon - p), p, (int)(eol - v), v);
        ck_assert(n > 0 && (size_t)n < sizeof(r->headers) - hl);
        hl += (size_t)n;
        if ((size_t)(colon - p) == 14 && strncasecmp(p, "content-length", 14) == 0)
            cl = strtoll(v, NULL, 10);
        if ((size_t)(colon - p) == 17 && strncasecmp(p, "transfer-encoding", 17) == 0)
            r->chunked = true;
        p = eol + 2;
    }
    bool nobody = head_req || r->status / 100 == 1 || r->status == 204 ||
                  r->status == 304;
    char *body = NULL;
    size_t bl = 0, bc = 0;
    unit_append(&body, &bl, &bc, "", 0);
    if (nobody) {
        /* nothing */
    } else if (r->chunked) {
        for (;;) {
            eol = find_crlf(p, end);
            if (eol == NULL)
                goto incomplete;
            size_t n = strtoul(p, NULL, 16);
            p = eol + 2;
            if (n == 0) {
                if (end - p < 2)
                    goto incomplete;
                ck_assert(p[0] == '\r' && p[1] == '\n');
                p += 2;
                break;
            }
            ck_assert_uint_gt(n, 0);
            if ((size_t)(end - p) < n + 2)
                goto incomplete;
            unit_append(&body, &bl, &bc, p, n);
            ck_assert(p[n] == '\r' && p[n + 1] == '\n');
            p += n + 2;
        }
    } else if (cl >= 0) {
        if ((size_t)(end - p) < (size_t)cl)
            goto incomplete;
        unit_append(&body, &bl, &bc, p, (size_t)cl);
        p += cl;
    } else {
        unit_append(&body, &bl, &bc, p, (size_t)(end - p));
        p = end;
    }
    r->body = body;
    r->body_len = bl;
    return (size_t)(p - buf);
incomplete:
    free(body);
    return 0;
}

int
tresp_parse(const char *buf, size_t len, struct tresp *out, int max,
            bool head_req, size_t *used)
{
    int n = 0;
    size_t pos = 0;
    while (n < max && pos < len) {
        size_t l = parse_one(buf + pos, len - pos, &out[n], head_req);
        if (l == 0)
            break;
        pos += l;
        n++;
    }
    if (used != NULL)
        *used = pos;
    return n;
}

void
tresp_free(struct tresp *r, int n)
{
    for (int i = 0; i < n; i++) {
        free(r[i].body);
        r[i].body = NULL;
    }
}

const char *
tresp_get(const struct tresp *r, const char *name)
{
    static char val[1024];
    size_t nl = strlen(name);
    for (const char *p = r->headers; *p != '\0';) {
        const char *e = strchr(p, '\n');
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            snprintf(val, sizeof(val), "%.*s", (int)(e - (p + nl + 2)), p + nl + 2);
            return val;
        }
        p = e + 1;
    }
    return NULL;
}

int
tresp_count(const struct tresp *r, const char *name)
{
    int c = 0;
    size_t nl = strlen(name);
    for (const char *p = r->headers; *p != '\0';) {
        const char *e = strchr(p, '\n');
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            c++;
        p = e + 1;
    }
    return c;
}

void
tresp_expect(const struct wire_transport *t, struct tresp *out, int n)
{
    size_t len = 0, used = 0;
    const char *buf = wire_string_transport_output(t, &len);
    int got = tresp_parse(buf, len, out, n, false, &used);
    ck_assert_msg(got == n && used == len, "want %d responses, parsed %d (%zu of %zu bytes): '%s'",
                  n, got, used, len, unit_output(t));
}
