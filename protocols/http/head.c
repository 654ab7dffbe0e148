/*
 * The llhttp glue shared by the HTTP server, client and layers (see
 * http_int.h), head lookup, reason phrases, dates and header checks.
 */
#include "http_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- limits ---- */

void
http_limits_fill(struct wire_http_limits *l)
{
    if (l->max_header_bytes == 0)
        l->max_header_bytes = WIRE_HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (l->max_headers == 0)
        l->max_headers = WIRE_HTTP_DEFAULT_MAX_HEADERS;
    if (l->max_target == 0)
        l->max_target = WIRE_HTTP_DEFAULT_MAX_TARGET;
    if (l->max_body == 0)
        l->max_body = WIRE_HTTP_DEFAULT_MAX_BODY;
    if (l->head_timeout_ms == 0)
        l->head_timeout_ms = WIRE_HTTP_DEFAULT_HEAD_TIMEOUT_MS;
    if (l->idle_timeout_ms == 0)
        l->idle_timeout_ms = WIRE_HTTP_DEFAULT_IDLE_TIMEOUT_MS;
    if (l->body_timeout_ms == 0)
        l->body_timeout_ms = WIRE_HTTP_DEFAULT_BODY_TIMEOUT_MS;
}

/* ---- gathering the head ---- */

static struct http_parse *
ps_of(llhttp_t *p)
{
    return p->data;
}

static int
fail(struct http_parse *ps, int status, const char *fmt, ...)
    WIRE_PRINTF(3, 4);

static int
fail(struct http_parse *ps, int status, const char *fmt, ...)
{
    ps->fail_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->fail_msg, sizeof(ps->fail_msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* Append to the head buffer, within the head limit. */
static int
append(struct http_parse *ps, const char *data, size_t len)
{
    if (ps->len + len + 1 > ps->limits.max_header_bytes)
        return fail(ps, 431, "the head is longer than the limit of %zu bytes",
                    ps->limits.max_header_bytes);
    if (ps->len + len + 1 > ps->cap) {
        size_t cap = ps->cap ? ps->cap : 512;
        while (cap < ps->len + len + 1)
            cap *= 2;
        char *b = realloc(ps->buf, cap);
        if (b == NULL)
            return fail(ps, 500, "out of memory");
        ps->buf = b;
        ps->cap = cap;
    }
    memcpy(ps->buf + ps->len, data, len);
    ps->len += len;
    return 0;
}

static int
span_add(struct http_parse *ps, struct http_span *sp, const char *data,
         size_t len)
{
    if (sp->len == 0)
        sp->off = (uint32_t)ps->len;
    if (append(ps, data, len) < 0)
        return -1;
    sp->len += (uint32_t)len;
    return 0;
}

static int
span_end(struct http_parse *ps, struct http_span *sp)
{
    if (sp->len == 0)
        sp->off = (uint32_t)ps->len;
    return append(ps, "", 1); /* the NUL */
}

static int
on_message_begin(llhttp_t *p)
{
    struct http_parse *ps = ps_of(p);
    ps->len = 0;
    ps->nfields = 0;
    ps->in_value = false;
    ps->head_done = false;
    ps->in_message = true;
    ps->body_seen = 0;
    ps->trailer_bytes = 0;
    memset(&ps->method, 0, sizeof(ps->method));
    memset(&ps->target, 0, sizeof(ps->target));
    memset(&ps->reason, 0, sizeof(ps->reason));
    memset(&ps->head, 0, sizeof(ps->head));
    return 0;
}

static int
on_url(llhttp_t *p, const char *at, size_t len)
{
    struct http_parse *ps = ps_of(p);
    if (ps->target.len + len > ps->limits.max_target)
        return fail(ps, 414, "the request target is longer than the limit of %zu bytes",
                    ps->limits.max_target);
    return span_add(ps, &ps->target, at, len);
}

static int
on_url_complete(llhttp_t *p)
{
    struct http_parse *ps = ps_of(p);
    return span_end(ps, &ps->target);
}

static int
on_status(llhttp_t *p, const char *at, size_t len)
{
    struct http_parse *ps = ps_of(p);
    return span_add(ps, &ps->reason, at, len);
}

static int
on_status_complete(llhttp_t *p)
{
    struct http_parse *ps = ps_of(p);
    return span_end(ps, &ps->reason);
}

static int
grow_fields(struct http_parse *ps)
{
    if (ps->nfields >= ps->limits.max_headers)
        return fail(ps, 431, "more than %zu header lines", ps->limits.max_headers);
    if (ps->nfields < ps->fields_cap)
        return 0;
    size_t cap = ps->fields_cap ? ps->fields_cap * 2 : 16;
    struct http_span *f = realloc(ps->fields, cap * sizeof(*f));
    if (f == NULL)
        return fail(ps, 500, "out of memory");
    ps->fields = f;
    struct http_span *v = realloc(ps->values, cap * sizeof(*v));
    if (v == NULL)
        return fail(ps, 500, "out of memory");
    ps->values = v;
    ps->fields_cap = cap;
    return 0;
}

/* Trailer lines (after a chunked body) are counted against the head
 * limit and dropped: gathering them would grow `buf` while the head built
 * from it is in use, and no owner reads them. */
static int
trailer_bytes(struct http_parse *ps, size_t len)
{
    ps->trailer_bytes += len;
    if (ps->trailer_bytes > ps->limits.max_header_bytes)
        return fail(ps, 431, "the trailers are longer than the limit of %zu bytes",
                    ps->limits.max_header_bytes);
    return 0;
}

static int
on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct http_parse *ps = ps_of(p);
    if (ps->head_done)
        return trailer_bytes(ps, len + 4); /* ": " and CRLF, roughly */
    if (ps->nfields == 0 || ps->in_value) {
        if (grow_fields(ps) < 0)
            return -1;
        memset(&ps->fields[ps->nfields], 0, sizeof(ps->fields[0]));
        memset(&ps->values[ps->nfields], 0, sizeof(ps->values[0]));
        ps->nfields++;
        ps->in_value = false;
    }
    return span_add(ps, &ps->fields[ps->nfields - 1], at, len);
}

static int
on_header_field_complete(llhttp_t *p)
{
    struct http_parse *ps = ps_of(p);
    if (ps->head_done)
        return 0;
    if (ps->nfields == 0 || ps->in_value) {
        /* llhttp rejects empty names; keep the invariant anyway */
        return fail(ps, 400, "an empty header name");
    }
    if (span_end(ps, &ps->fields[ps->nfields - 1]) < 0)
        return -1;
    ps->in_value = true; /* a value (maybe empty) follows */
    return 0;
}

static int
on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct http_parse *ps = ps_of(p);
    if (ps->head_done)
        return trailer_bytes(ps, len);
    return span_add(ps, &ps->values[ps->nfields - 1], at, len);
}

static int
on_header_value_complete(llhttp_t *p)
{
    struct http_parse *ps = ps_of(p);
    if (ps->head_done)
        return 0;
    struct http_span *v = &ps->values[ps->nfields - 1];
    if (v->len > 0) {
        /* Trailing blanks are not part of the value (RFC 9110 5.5). */
        while (v->len > 0 && (ps->buf[v->off + v->len - 1] == ' ' ||
                              ps->buf[v->off + v->len - 1] == '\t'))
            v->len--;
        ps->len = v->off + v->len; /* drop them from the buffer too */
    }
    return span_end(ps, v);
}

static int
owner_result(struct http_parse *ps, int rc)
{
    switch (rc) {
    case HTTP_CB_OK:
        return 0;
    case HTTP_CB_PAUSE:
        return HPE_PAUSED;
    default:
        if (ps->fail_status == 0)
            fail(ps, 500, "the application failed the message");
        return -1;
    }
}

static int
build_head(struct http_parse *ps)
{
    llhttp_t *p = &ps->p;
    if (ps->nfields > ps->headers_cap) {
        struct wire_http_header *h = realloc(ps->headers, ps->nfields * sizeof(*h));
        if (h == NULL)
            return fail(ps, 500, "out of memory");
        ps->headers = h;
        ps->headers_cap = ps->nfields;
    }
    struct wire_http_head *hd = &ps->head;
    memset(hd, 0, sizeof(*hd));
    for (size_t i = 0; i < ps->nfields; i++) {
        ps->headers[i].name = ps->buf + ps->fields[i].off;
        ps->headers[i].value = ps->buf + ps->values[i].off;
    }
    hd->headers = ps->headers;
    hd->nheaders = ps->nfields;
    hd->version_major = p->http_major;
    hd->version_minor = p->http_minor;
    if (p->type == HTTP_REQUEST) {
        hd->method = llhttp_method_name((llhttp_method_t)p->method);
        hd->target = ps->buf + ps->target.off;
    } else {
        hd->status = p->status_code;
        hd->reason = ps->buf + ps->reason.off;
    }
    hd->content_length = (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : -1;
    hd->chunked = (p->flags & F_CHUNKED) != 0;
    hd->keep_alive = llhttp_should_keep_alive(p) != 0;
    hd->upgrade = p->upgrade != 0;
    const char *expect = wire_http_head_get(hd, "expect");
    hd->expect_continue = expect != NULL && strcasecmp(expect, "100-continue") == 0;
    return 0;
}

static int
on_headers_complete(llhttp_t *p)
{
    struct http_parse *ps = ps_of(p);
    if (build_head(ps) < 0)
        return -1;
    if (p->http_major != 1)
        return fail(ps, 505, "HTTP version %d.%d is not supported", p->http_major,
                    p->http_minor);
    /* llhttp takes a status of one or two digits ("HTTP/1.1 2"); a status
     * code is three (RFC 9112 4), and the owner's rules (1xx, 204, 304)
     * need a real one. */
    if (p->type == HTTP_RESPONSE && (p->status_code < 100 || p->status_code > 999))
        return fail(ps, 400, "status code %d is not three digits",
                    (int)p->status_code);
    /* llhttp reads Content-Length as 64 bits unsigned; the head gives it
     * signed (-1: none), so a length past INT64_MAX is refused whatever
     * the limit (it would read as negative). */
    if ((p->flags & F_CONTENT_LENGTH) &&
        (p->content_length > ps->limits.max_body || p->content_length > INT64_MAX))
        return fail(ps, 413, "a body of %llu bytes is over the limit of %llu",
                    (unsigned long long)p->content_length,
                    (unsigned long long)(ps->limits.max_body < INT64_MAX
                                             ? ps->limits.max_body
                                             : INT64_MAX));
    /* llhttp rejects this only after on_headers_complete: refuse it
     * before the owner sees a request it cannot read (RFC 9112 6.3). */
    if (p->type == HTTP_REQUEST && (p->flags & F_TRANSFER_ENCODING) &&
        !(p->flags & F_CHUNKED))
        return fail(ps, 400, "the request's Transfer-Encoding does not end "
                             "with chunked");
    ps->head_done = true;
    int rc = ps->ops->on_head(ps);
    switch (rc) {
    case HTTP_CB_SKIP_BODY:
        return 1;
    case HTTP_CB_UPGRADE:
        return 2;
    default:
        return owner_result(ps, rc);
    }
}

static int
on_body(llhttp_t *p, const char *at, size_t len)
{
    struct http_parse *ps = ps_of(p);
    if (len == 0)
        return 0; /* an empty feed inside a body: nothing to pass on */
    ps->body_seen += len;
    if (ps->body_seen > ps->limits.max_body)
        return fail(ps, 413, "the body is over the limit of %llu bytes",
                    (unsigned long long)ps->limits.max_body);
    int rc = ps->ops->on_body(ps, at, len);
    /* llhttp (8.x) pauses a span callback right after its span: the
     * bytes given here are consumed, nothing after them is.  (Waiting
     * for the next chunk boundary instead would deliver more body after
     * the owner paused, and left a stale pause behind for a
     * Content-Length body, which then held back the message's end.) */
    return owner_result(ps, rc);
}

static int
pause_point(llhttp_t *p)
{
    struct http_parse *ps = ps_of(p);
    if (ps->pause_pending) {
        ps->pause_pending = false;
        return HPE_PAUSED;
    }
    return 0;
}

static int
on_message_complete(llhttp_t *p)
{
    struct http_parse *ps = ps_of(p);
    ps->in_message = false;
    if (ps->pause_pending) {
        /* The owner paused the body: the end waits for the next feed. */
        ps->pause_pending = false;
        ps->complete_pending = true;
        return HPE_PAUSED;
    }
    return owner_result(ps, ps->ops->on_complete(ps));
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_url_complete = on_url_complete,
    .on_status_complete = on_status_complete,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_chunk_header = pause_point,
    .on_chunk_complete = pause_point,
};

void
http_parse_init(struct http_parse *ps, bool requests,
                const struct wire_http_limits *limits,
                const struct http_parse_ops *ops, void *owner)
{
    memset(ps, 0, sizeof(*ps));
    if (limits != NULL)
        ps->limits = *limits;
    http_limits_fill(&ps->limits);
    ps->ops = ops;
    ps->owner = owner;
    llhttp_init(&ps->p, requests ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
    ps->p.data = ps;
}

void
http_parse_free(struct http_parse *ps)
{
    free(ps->buf);
    free(ps->fields);
    free(ps->values);
    free(ps->headers);
    ps->buf = NULL;
    ps->fields = ps->values = NULL;
    ps->headers = NULL;
}

static size_t
parse_failed(struct http_parse *ps, llhttp_errno_t e)
{
    if (ps->fail_status == 0) {
        const char *reason = llhttp_get_error_reason(&ps->p);
        fail(ps, e == HPE_INVALID_VERSION ? 505 : 400, "malformed HTTP (%s: %s)",
             llhttp_errno_name(e), reason != NULL ? reason : "?");
    }
    return HTTP_PARSE_FAILED;
}

size_t
http_parse_feed(struct http_parse *ps, const char *data, size_t len)
{
    if (ps->fail_status != 0)
        return HTTP_PARSE_FAILED;
    if (ps->upgraded)
        return 0;
    if (ps->complete_pending) {
        ps->complete_pending = false;
        int rc = ps->ops->on_complete(ps);
        if (rc == HTTP_CB_PAUSE)
            return 0;
        if (rc != HTTP_CB_OK) {
            owner_result(ps, rc);
            return HTTP_PARSE_FAILED;
        }
    }
    /* An empty feed still runs llhttp: after a pause it finishes what
     * needs no more input (the end of a body paused on its last bytes,
     * a message paused right after its head), which would otherwise wait
     * for the next message's first byte, or for ever. */
    static const char none[1];
    if (len == 0)
        data = none;
    llhttp_errno_t e = llhttp_execute(&ps->p, data, len);
    switch (e) {
    case HPE_OK:
        return len;
    case HPE_PAUSED: {
        size_t used = (size_t)(llhttp_get_error_pos(&ps->p) - data);
        llhttp_resume(&ps->p);
        return used;
    }
    case HPE_PAUSED_UPGRADE:
        ps->upgraded = true;
        return (size_t)(llhttp_get_error_pos(&ps->p) - data);
    default:
        return parse_failed(ps, e);
    }
}

int
http_parse_eof(struct http_parse *ps)
{
    if (ps->fail_status != 0)
        return -1;
    if (ps->upgraded)
        return 0;
    llhttp_errno_t e = llhttp_finish(&ps->p);
    if (e == HPE_OK)
        return 0;
    if (e == HPE_PAUSED) { /* the end of a close-delimited body, paused */
        llhttp_resume(&ps->p);
        return 0;
    }
    if (e == HPE_INVALID_EOF_STATE) {
        fail(ps, 400, "the connection ended in the middle of a message");
        return -1;
    }
    parse_failed(ps, e);
    return -1;
}

bool
http_parse_idle(const struct http_parse *ps)
{
    return !ps->in_message && !ps->complete_pending;
}

bool
http_parse_upgraded(const struct http_parse *ps)
{
    return ps->upgraded;
}

void
http_parse_resume_after_upgrade(struct http_parse *ps)
{
    if (!ps->upgraded)
        return;
    ps->upgraded = false;
    llhttp_resume_after_upgrade(&ps->p);
}

/* ---- heads ---- */

const char *
wire_http_head_get(const struct wire_http_head *h, const char *name)
{
    if (h == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->headers[i].name, name) == 0)
            return h->headers[i].value;
    return NULL;
}

const char *
wire_http_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* ---- strings ---- */

bool
http_valid_name(const char *s)
{
    /* RFC 9110 token characters */
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && strchr(extra, *s) == NULL)
            return false;
    return true;
}

bool
http_valid_value(const char *s)
{
    if (s == NULL)
        return false;
    for (; *s != '\0'; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

size_t
http_date_now(char *out)
{
    static __thread time_t cached_at = (time_t)-1;
    static __thread char cached[64];
    time_t now = time(NULL);
    if (now != cached_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        snprintf(cached, sizeof(cached), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_at = now;
    }
    memcpy(out, cached, 30);
    return 29;
}

bool
http_list_has(const char *list, const char *token)
{
    if (list == NULL)
        return false;
    size_t tl = strlen(token);
    const char *s = list;
    while (*s != '\0') {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e != '\0' && *e != ',')
            e++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - s) == tl && strncasecmp(s, token, tl) == 0)
            return true;
        s = e;
    }
    return false;
}
