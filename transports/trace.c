/*
 * The trace layer (include/wire/trace.h): a layer on the core's layer
 * helper that passes everything through unchanged and reports each
 * signal that crosses it, to a callback or as a line of text.
 *
 * What it hooks: the helper's layer hooks for what the helper offers
 * (made, recv, recv_eof, send, send_eof, close, lost); the upper
 * transport's read_start/read_stop (the reading pauses crossing down);
 * and, since the helper has no hook for them, the pause_writing /
 * resume_writing the transport below gives the helper's protocol, which
 * it wraps per layer and hands on unchanged.  The ops live in the layer
 * (not in a static table) because they follow the transport below once
 * connected: its name (WIRE_INFO_NAME stays what it was without the
 * layer) and its capabilities.
 *
 * Reporting never fails the connection: lines are formatted on the
 * stack (or the heap when long), written with one fwrite without
 * SIGPIPE, and errors are cleared and forgotten.
 *
 * The trace= endpoint parameter's helpers (trace_int.h) are at the end.
 */
#include "trace_int.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LINE_STACK 512 /* a trace line shorter than this needs no malloc */

struct trace_layer {
    struct wire_layer l; /* first: the helper's part */
    /* This layer's own ops (see the top of the file). */
    struct wire_layer_ops lops;
    struct wire_protocol_ops below_ops;
    const struct wire_protocol_ops *helper_below; /* the helper's own */
    char name[32];     /* the transport below's name, once made */
    char *label;       /* NULL until derived (made) */
    wire_trace_event_cb cb;
    void *arg;
    void (*arg_free)(void *arg);
    FILE *file;
    size_t dump_len;   /* 0: no dump */
    uint64_t start_us, last_us;
    bool read_paused;  /* a pause_reading was reported, not its resume */
    bool holding;      /* the above's loss waits for the one below */
    bool aborted;      /* ... after an abort from above */
};

static struct trace_layer *
trace_of_layer(struct wire_layer *l)
{
    return (struct trace_layer *)(void *)l;
}

static struct trace_layer *
trace_of_above(struct wire_transport *t)
{
    return trace_of_layer(wire_container_of(t, struct wire_layer, above));
}

uint64_t
wire_trace_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- formatting ---- */

static const char *const kind_names[] = {
    [WIRE_TRACE_CONNECTION_MADE] = "connection_made",
    [WIRE_TRACE_DATA_RECEIVED] = "data_received",
    [WIRE_TRACE_EOF_RECEIVED] = "eof_received",
    [WIRE_TRACE_PAUSE_WRITING] = "pause_writing",
    [WIRE_TRACE_RESUME_WRITING] = "resume_writing",
    [WIRE_TRACE_CONNECTION_LOST] = "connection_lost",
    [WIRE_TRACE_WRITE] = "write",
    [WIRE_TRACE_WRITE_EOF] = "write_eof",
    [WIRE_TRACE_PAUSE_READING] = "pause_reading",
    [WIRE_TRACE_RESUME_READING] = "resume_reading",
    [WIRE_TRACE_CLOSE] = "close",
    [WIRE_TRACE_ABORT] = "abort",
};

const char *
wire_trace_kind_name(enum wire_trace_kind kind)
{
    if ((int)kind <= 0 ||
        (size_t)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
        return "?";
    return kind_names[kind];
}

/* An snprintf-like appender: counts what the whole text needs, writes what
 * fits, keeps the buffer NUL-terminated. */
struct out {
    char *buf;
    size_t size, len;
};

static void
put_char(struct out *o, char c)
{
    if (o->len + 1 < o->size) {
        o->buf[o->len] = c;
        o->buf[o->len + 1] = '\0';
    }
    o->len++;
}

static void put_fmt(struct out *o, const char *fmt, ...) WIRE_PRINTF(2, 3);

static void
put_fmt(struct out *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    for (int i = 0; i < n && i < (int)sizeof(tmp) - 1; i++)
        put_char(o, tmp[i]);
}

/* A string as one field: spaces and control characters become '_'. */
static void
put_field(struct out *o, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        put_char(o, c <= ' ' || c == 0x7f ? '_' : (char)c);
    }
}

/* Free text (an error message) on one line: control characters become
 * spaces. */
static void
put_text(struct out *o, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        put_char(o, c < ' ' || c == 0x7f ? ' ' : (char)c);
    }
}

/* The byte at offset `i` of the event's data (i < ev->len). */
static unsigned char
byte_at(const struct wire_trace_event *ev, size_t i)
{
    for (int k = 0; k < ev->iovcnt; k++) {
        if (i < ev->iov[k].iov_len)
            return ((const unsigned char *)ev->iov[k].iov_base)[i];
        i -= ev->iov[k].iov_len;
    }
    return 0;
}

static void
put_dump(struct out *o, const struct wire_trace_event *ev)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = ev->len < ev->dump_len ? ev->len : ev->dump_len;
    bool cut = n < ev->len;
    if (n == 0 || ev->iov == NULL)
        return;
    put_char(o, ' ');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = byte_at(ev, i);
        put_char(o, ' ');
        put_char(o, hex[c >> 4]);
        put_char(o, hex[c & 15]);
    }
    if (cut)
        put_fmt(o, " ...");
    put_fmt(o, "  |");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = byte_at(ev, i);
        put_char(o, c >= 0x20 && c < 0x7f ? (char)c : '.');
    }
    put_char(o, '|');
    if (cut)
        put_fmt(o, "...");
}

int
wire_trace_format(const struct wire_trace_event *ev, char *buf, size_t size)
{
    if (ev == NULL || (buf == NULL && size > 0))
        return WIRE_EINVAL;
    struct out o = {buf, size, 0};
    if (size > 0)
        buf[0] = '\0';
    put_fmt(&o, "[%6llu.%03u ms] ", (unsigned long long)(ev->time_us / 1000),
            (unsigned)(ev->time_us % 1000));
    put_field(&o, ev->label != NULL ? ev->label : "trace");
    put_fmt(&o, " %c %s", ev->dir == WIRE_TRACE_UP ? '<' : '>',
            wire_trace_kind_name(ev->kind));
    switch (ev->kind) {
    case WIRE_TRACE_DATA_RECEIVED:
    case WIRE_TRACE_WRITE:
        put_fmt(&o, " %zu B", ev->len);
        put_dump(&o, ev);
        break;
    case WIRE_TRACE_CONNECTION_MADE:
        if (ev->peer != NULL) {
            put_fmt(&o, " peer=");
            put_field(&o, ev->peer);
        }
        if (ev->local != NULL) {
            put_fmt(&o, " local=");
            put_field(&o, ev->local);
        }
        break;
    case WIRE_TRACE_CONNECTION_LOST:
        if (ev->error == NULL || ev->error->code == 0) {
            put_fmt(&o, " ok");
        } else {
            put_fmt(&o, " %s: ", wire_err_name(ev->error->code));
            put_text(&o, ev->error->message != NULL ? ev->error->message
                                                    : wire_strerror(ev->error->code));
        }
        break;
    default:
        break;
    }
    return o.len > (size_t)INT32_MAX ? INT32_MAX : (int)o.len;
}

/* ---- reporting ---- */

/* One fwrite and a flush of `len` bytes to `f`, without SIGPIPE: block it
 * for this thread, write, take back a SIGPIPE this write raised (not one
 * already pending), restore the mask.  Errors are cleared and ignored:
 * tracing never fails the connection. */
static void
write_line(FILE *f, const char *line, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    size_t w = fwrite(line, 1, len, f);
    int rc = fflush(f);
    if ((w < len || rc != 0 || ferror(f)) && !was_pending &&
        sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    clearerr(f);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void
print_event(struct trace_layer *tl, const struct wire_trace_event *ev)
{
    char small[LINE_STACK];
    int n = wire_trace_format(ev, small, sizeof(small) - 1);
    if (n < 0)
        return;
    char *line = small;
    if ((size_t)n + 2 > sizeof(small)) {
        line = malloc((size_t)n + 2);
        if (line == NULL) {
            /* Out of memory: the line as far as it went. */
            line = small;
            n = (int)strlen(small);
        } else {
            wire_trace_format(ev, line, (size_t)n + 1);
        }
    }
    line[n] = '\n';
    write_line(tl->file != NULL ? tl->file : stderr, line, (size_t)n + 1);
    if (line != small)
        free(line);
}

/* Stamp and deliver one event.  errno is kept: the calls around a hook
 * must not see ours. */
static void
emit(struct trace_layer *tl, struct wire_trace_event *ev)
{
    int saved = errno;
    uint64_t now = wire_trace_clock_us();
    uint64_t t = now > tl->start_us ? now - tl->start_us : 0;
    if (t < tl->last_us)
        t = tl->last_us;
    tl->last_us = t;
    ev->time_us = t;
    ev->label = tl->label != NULL ? tl->label : "trace";
    ev->dump_len = tl->dump_len;
    if (tl->cb != NULL)
        tl->cb(tl->arg, ev);
    else
        print_event(tl, ev);
    errno = saved;
}

static void
emit_simple(struct trace_layer *tl, enum wire_trace_kind kind,
            enum wire_trace_dir dir)
{
    struct wire_trace_event ev = {.kind = kind, .dir = dir};
    emit(tl, &ev);
}

static void
emit_bytes(struct trace_layer *tl, enum wire_trace_kind kind,
           enum wire_trace_dir dir, const struct iovec *iov, int iovcnt)
{
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    struct wire_trace_event ev = {
        .kind = kind, .dir = dir, .iov = iov, .iovcnt = iovcnt, .len = len};
    emit(tl, &ev);
}

/* ---- the layer hooks ---- */

/* A string info of the transport below, or NULL when it has none worth
 * showing (unknown, or a bare scheme such as "unix:" for an unnamed
 * socket). */
static const char *
lower_info(struct wire_transport *lower, int key, char *buf, size_t len)
{
    int rc = wire_transport_get_info(lower, key, buf, len);
    if (rc <= 0 || buf[0] == '\0' || buf[strlen(buf) - 1] == ':')
        return NULL;
    return buf;
}

static void
trace_made(struct wire_layer *l)
{
    struct trace_layer *tl = trace_of_layer(l);
    struct wire_transport *lower = l->lower;
    char peer[256], local[256];
    const char *pv = NULL, *lv = NULL;
    if (lower != NULL) {
        /* Transparent from here on: the protocol above sees the name,
         * capabilities and watermarks it would see without the layer. */
        snprintf(tl->name, sizeof(tl->name), "%s", wire_transport_name(lower));
        tl->lops.transport.name = tl->name;
        tl->lops.transport.caps =
            WIRE_CAP_HALF_CLOSE_IF_LOWER |
            (lower->ops->caps & (WIRE_CAP_RESET | WIRE_CAP_EOF));
        size_t high = 0, low = 0;
        wire_transport_get_write_buffer_limits(lower, &high, &low);
        wire_transport_set_write_buffer_limits(&l->above, high, low);
        pv = lower_info(lower, WIRE_INFO_PEER, peer, sizeof(peer));
        lv = lower_info(lower, WIRE_INFO_LOCAL, local, sizeof(local));
        if (tl->label == NULL) {
            const char *d = pv != NULL ? pv : lv != NULL ? lv : tl->name;
            tl->label = strdup(d[0] != '\0' ? d : "trace");
        }
    }
    struct wire_trace_event ev = {.kind = WIRE_TRACE_CONNECTION_MADE,
                                  .dir = WIRE_TRACE_UP,
                                  .peer = pv,
                                  .local = lv};
    emit(tl, &ev);
    wire_layer_start(l);
}

static int
trace_recv(struct wire_layer *l, const void *data, size_t len)
{
    struct iovec iov = {(void *)(uintptr_t)data, len};
    emit_bytes(trace_of_layer(l), WIRE_TRACE_DATA_RECEIVED, WIRE_TRACE_UP,
               &iov, 1);
    /* As the helper's default: what the protocol above no longer wants
     * (it is closing) is dropped, not an error of the layer. */
    wire_layer_deliver(l, data, len);
    return 0;
}

static int
trace_recv_eof(struct wire_layer *l)
{
    emit_simple(trace_of_layer(l), WIRE_TRACE_EOF_RECEIVED, WIRE_TRACE_UP);
    wire_layer_deliver_eof(l);
    return 0;
}

static ssize_t
trace_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
{
    /* The transport below is ending (a reset it read, its server closing
     * it): take nothing.  Its loss follows and tells the protocol above
     * why, as it would without the layer; failing the write here would
     * tell it "closed" instead. */
    if (l->lower == NULL || wire_transport_is_closing(l->lower))
        return 0;
    emit_bytes(trace_of_layer(l), WIRE_TRACE_WRITE, WIRE_TRACE_DOWN, iov,
               iovcnt);
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    int rc = wire_layer_send(l, iov, iovcnt);
    if (rc == WIRE_ECLOSED)
        return 0; /* the same, found by the write */
    return rc < 0 ? rc : (ssize_t)total;
}

static int
trace_send_eof(struct wire_layer *l)
{
    emit_simple(trace_of_layer(l), WIRE_TRACE_WRITE_EOF, WIRE_TRACE_DOWN);
    if (l->lower == NULL)
        return WIRE_ECLOSED;
    return wire_transport_write_eof(l->lower);
}

static void
trace_close(struct wire_layer *l, bool abort)
{
    struct trace_layer *tl = trace_of_layer(l);
    /* Without a transport below, this close is the aftermath of its loss
     * (already reported): nothing crosses. */
    if (l->lower == NULL)
        return;
    emit_simple(tl, abort ? WIRE_TRACE_ABORT : WIRE_TRACE_CLOSE, WIRE_TRACE_DOWN);
    /* The protocol above hears of the end when it would without the
     * layer: once the transport below has ended (its queue flushed, a
     * child process exited), and with its error after a clean close (a
     * failed flush, a non-zero exit).  The helper alone would tell it
     * now. */
    tl->holding = true;
    tl->aborted = abort;
    wire_impl_hold_loss(&l->above);
    if (abort)
        wire_transport_abort(l->lower);
    else
        wire_transport_close(l->lower);
}

static void
trace_lost(struct wire_layer *l, const struct wire_error *err)
{
    struct trace_layer *tl = trace_of_layer(l);
    struct wire_trace_event ev = {.kind = WIRE_TRACE_CONNECTION_LOST,
                                  .dir = WIRE_TRACE_UP,
                                  .error = err};
    emit(tl, &ev);
    if (tl->holding) {
        /* An abort keeps its own error (WIRE_EABORTED), as it would. */
        tl->holding = false;
        wire_impl_release_loss(&l->above, tl->aborted ? NULL : err);
    }
}

static void
trace_destroy(struct wire_layer *l)
{
    struct trace_layer *tl = trace_of_layer(l);
    if (tl->arg_free != NULL)
        tl->arg_free(tl->arg);
    free(tl->label);
    free(tl);
}

/* The upper transport's reading hooks: the helper's, with the pauses the
 * protocol above asked for reported.  Reading also stops for EOF, a
 * close or the loss; those are reported as what they are. */
static void
trace_read_stop(struct wire_transport *t)
{
    struct trace_layer *tl = trace_of_above(t);
    if (!tl->read_paused && (t->flags & (WIRE_T_READ_PAUSED | WIRE_T_PAUSED_ALL)) &&
        !(t->flags & (WIRE_T_EOF_RECEIVED | WIRE_T_CLOSING | WIRE_T_LOST |
                      WIRE_T_HANDLE_CLOSED))) {
        tl->read_paused = true;
        emit_simple(tl, WIRE_TRACE_PAUSE_READING, WIRE_TRACE_DOWN);
    }
    wire_layer_hook_read_stop(t);
}

static void
trace_read_start(struct wire_transport *t)
{
    struct trace_layer *tl = trace_of_above(t);
    if (tl->read_paused) {
        tl->read_paused = false;
        emit_simple(tl, WIRE_TRACE_RESUME_READING, WIRE_TRACE_DOWN);
    }
    wire_layer_hook_read_start(t);
}

/* The transport below's flow control, seen on the helper's protocol. */
static void
trace_below_pause_writing(struct wire_protocol *p)
{
    struct trace_layer *tl = trace_of_layer(wire_layer_from_protocol(p));
    emit_simple(tl, WIRE_TRACE_PAUSE_WRITING, WIRE_TRACE_UP);
    if (tl->helper_below->pause_writing != NULL)
        tl->helper_below->pause_writing(p);
}

static void
trace_below_resume_writing(struct wire_protocol *p)
{
    struct trace_layer *tl = trace_of_layer(wire_layer_from_protocol(p));
    emit_simple(tl, WIRE_TRACE_RESUME_WRITING, WIRE_TRACE_UP);
    if (tl->helper_below->resume_writing != NULL)
        tl->helper_below->resume_writing(p);
}

static const struct wire_layer_ops trace_ops_template = {
    .transport = WIRE_LAYER_TRANSPORT_OPS("trace", WIRE_CAP_HALF_CLOSE_IF_LOWER),
    .made = trace_made,
    .recv = trace_recv,
    .recv_eof = trace_recv_eof,
    .send = trace_send,
    .send_eof = trace_send_eof,
    .close = trace_close,
    .destroy = trace_destroy,
    .lost = trace_lost,
};

/* Build the layer; on failure nothing is touched: `upper` and `opts->arg`
 * stay the caller's. */
static struct wire_protocol *
trace_new(struct wire_protocol *upper, const struct wire_trace_opts *opts,
          struct wire_error *err)
{
    if (upper == NULL) {
        wire_error_set(err, WIRE_EINVAL, "trace: no protocol to run above");
        return NULL;
    }
    struct trace_layer *tl = calloc(1, sizeof(*tl));
    if (tl == NULL || (opts != NULL && opts->label != NULL &&
                       (tl->label = strdup(opts->label)) == NULL)) {
        free(tl);
        wire_error_set(err, WIRE_ENOMEM, "trace: out of memory");
        return NULL;
    }
    tl->dump_len = WIRE_TRACE_DEFAULT_DUMP;
    tl->start_us = wire_trace_clock_us();
    if (opts != NULL) {
        tl->cb = opts->cb;
        tl->arg = opts->arg;
        tl->arg_free = opts->arg_free;
        tl->file = opts->file;
        if (opts->dump_len != 0)
            tl->dump_len = opts->dump_len;
        if (opts->no_dump)
            tl->dump_len = 0;
        if (opts->start_us != 0)
            tl->start_us = opts->start_us;
    }
    tl->lops = trace_ops_template;
    tl->lops.transport.read_start = trace_read_start;
    tl->lops.transport.read_stop = trace_read_stop;
    tl->lops.transport.hint_reply = wire_layer_hook_hint_reply;
    struct wire_protocol *below = wire_layer_init(&tl->l, &tl->lops, upper);
    /* The helper's protocol, with the transport below's pause_writing and
     * resume_writing reported on their way in (the helper has no hook for
     * them); everything else is the helper's, unchanged. */
    tl->helper_below = below->ops;
    tl->below_ops = *below->ops;
    tl->below_ops.pause_writing = trace_below_pause_writing;
    tl->below_ops.resume_writing = trace_below_resume_writing;
    below->ops = &tl->below_ops;
    return below;
}

struct wire_protocol *
wire_trace_layer_new(struct wire_protocol *upper,
                     const struct wire_trace_opts *opts, struct wire_error *err)
{
    struct wire_protocol *p = trace_new(upper, opts, err);
    if (p == NULL) {
        wire_protocol_destroy(upper);
        if (opts != NULL && opts->arg_free != NULL)
            opts->arg_free(opts->arg);
    }
    return p;
}

/* ---- the trace= endpoint parameter (trace_int.h) ---- */

int
wire__trace_mode(const char *value, unsigned *mode, struct wire_error *err)
{
    static const char *const yes[] = {"", "1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcasecmp(value, yes[i]) == 0) {
            *mode = WIRE__TRACE_ON;
            return 0;
        }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (strcasecmp(value, no[i]) == 0) {
            *mode = 0;
            return 0;
        }
    if (strcasecmp(value, "raw") == 0) {
        *mode = WIRE__TRACE_RAW;
        return 0;
    }
    if (strcasecmp(value, "both") == 0) {
        *mode = WIRE__TRACE_ON | WIRE__TRACE_RAW;
        return 0;
    }
    return wire_error_set(err, WIRE_EENDPOINT,
                          "endpoint parameter trace=%s: expected yes, no, raw "
                          "or both", value);
}

/* Is [p, p+n) the parameter "trace" or "trace=..."? */
static bool
is_trace_param(const char *p, size_t n)
{
    return n >= 5 && strncmp(p, "trace", 5) == 0 && (n == 5 || p[5] == '=');
}

int
wire__trace_strip(const char *str, bool raw_shape, char **out, unsigned *mode,
                  struct wire_error *err)
{
    *out = NULL;
    *mode = 0;
    const char *q = raw_shape ? strrchr(str, '?') : strchr(str, '?');
    if (q != NULL && raw_shape) {
        /* A verbatim address keeps its '?' unless trace= follows it. */
        bool found = false;
        for (const char *p = q + 1; *p != '\0';) {
            size_t n = strcspn(p, "&");
            found = found || is_trace_param(p, n);
            p += n + (p[n] == '&');
        }
        if (!found)
            q = NULL;
    }
    size_t keep = q != NULL ? (size_t)(q - str) : strlen(str);
    char *s = malloc(strlen(str) + 1);
    if (s == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    memcpy(s, str, keep);
    size_t len = keep;
    for (const char *p = q != NULL ? q + 1 : ""; *p != '\0';) {
        size_t n = strcspn(p, "&");
        if (is_trace_param(p, n)) {
            char value[16];
            size_t vlen = n > 6 ? n - 6 : 0;
            if (vlen >= sizeof(value)) {
                free(s);
                return wire_error_set(err, WIRE_EENDPOINT,
                                      "endpoint parameter %.*s: expected "
                                      "trace=yes, no, raw or both", (int)n, p);
            }
            memcpy(value, p + 6, vlen);
            value[vlen] = '\0';
            int rc = wire__trace_mode(value, mode, err);
            if (rc < 0) {
                free(s);
                return rc;
            }
        } else if (n > 0) {
            char sep = len == keep ? '?' : '&';
            s[len++] = sep;
            memcpy(s + len, p, n);
            len += n;
        }
        p += n + (p[n] == '&');
    }
    s[len] = '\0';
    /* Only tls:// has a layer to go under (and reads trace= itself). */
    if (*mode != 0)
        *mode = WIRE__TRACE_ON;
    *out = s;
    return 0;
}

char *
wire__trace_label(const char *str, bool raw_shape, const char *scheme)
{
    /* A verbatim address (a command line) is all address. */
    const char *q = raw_shape ? NULL : strchr(str, '?');
    size_t n = q != NULL ? (size_t)(q - str) : strlen(str);
    const char *colon = memchr(str, ':', n);
    if (scheme != NULL && colon != NULL) {
        size_t sl = strlen(scheme), rest = n - (size_t)(colon - str);
        char *s = malloc(sl + rest + 1);
        if (s != NULL) {
            memcpy(s, scheme, sl);
            memcpy(s + sl, colon, rest);
            s[sl + rest] = '\0';
        }
        return s;
    }
    return strndup(str, n);
}

struct wire_protocol *
wire__trace_wrap(struct wire_protocol *p, const char *label,
                 struct wire_error *err)
{
    struct wire_trace_opts o = {.label = label};
    return trace_new(p, &o, err);
}
