/*
 * The matrix's stacks: each way of using a framing format, as a builder a
 * protocol row names and a `struct mx_form` the shared application logic
 * (matrix.c) writes and pauses through.
 *
 *  layer     wire_chunk_layer_new / wire_lenprefix_layer_new over a plain
 *            protocol: each data_received is one message; pause_writing
 *            reaches the application, which stops sending (client) or
 *            stops reading (server) until resume_writing.
 *  callback  wire_chunk_protocol_new / wire_lenprefix_protocol_new with a
 *            struct wire_message_handler: no flow-control callbacks, so the
 *            client keeps a window of messages in flight.
 *  stream    wire_stream_new, parsing by hand: a binary length prefix read
 *            with read_exactly, or a separator with read_until.  Flow
 *            control through the output queue size and wire_stream_drain.
 *
 * Writes use every way there is to write one message: write,
 * write_sequence (random pieces, empty ones mixed in, more than the
 * library's small frame vector too), write_ref, and the format's helper.
 */
#include "matrix.h"

#include <stdlib.h>
#include <string.h>

static const struct matrix_proto *
row_of(const struct mx_end *e)
{
    return e->cell->row;
}

/* ---- writing one message on a framed transport ---- */

/* `len` bytes as a gathered write of up to `maxk` random pieces, empty ones
 * (NULL and not) mixed in. */
static int
write_pieces(struct wire_transport *t, const void *data, size_t len,
             uint64_t *rng, int maxk)
{
    struct iovec iov[24];
    const char *b = data;
    size_t off = 0;
    int k = 0;
    while (off < len && k < maxk - 2) {
        uint64_t x = conf_rand(rng);
        if (x % 5 == 0) {
            iov[k].iov_base = (x & 8) ? NULL : (void *)(uintptr_t)b;
            iov[k].iov_len = 0;
            k++;
            continue;
        }
        size_t span = (len - off) / 2 + 1;
        size_t piece = 1 + (size_t)(x >> 8) % span;
        iov[k].iov_base = (void *)(uintptr_t)(b + off);
        iov[k].iov_len = piece;
        off += piece;
        k++;
    }
    if (off < len) {
        iov[k].iov_base = (void *)(uintptr_t)(b + off);
        iov[k].iov_len = len - off;
        k++;
    }
    if (k == 0 || conf_rand(rng) % 3 == 0) {
        iov[k].iov_base = NULL;
        iov[k].iov_len = 0;
        k++;
    }
    return wire_transport_write_sequence(t, iov, k);
}

static int
framed_send(struct mx_end *e, const void *data, size_t len, unsigned method)
{
    struct wire_transport *t = e->t;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (method + 1u);
    switch (method % 5) {
    case 0:
        return wire_transport_write(t, data, len);
    case 1:
        return write_pieces(t, data, len, &rng, 8);
    case 2: {
        void *b = conf_ref_alloc(e->c, len);
        memcpy(b, data, len);
        int rc = wire_transport_write_ref(t, b, len, conf_ref_free, e->c);
        if (rc != 0)
            conf_ref_free(e->c, b, len); /* an error leaves it ours */
        return rc;
    }
    case 3:
        if (row_of(e)->sep != NULL)
            return wire_chunk_write(t, data, len);
        return wire_transport_write(t, data, len);
    default:
        /* More pieces than fit the library's small frame vector. */
        return write_pieces(t, data, len, &rng, 22);
    }
}

static void
framed_pause_in(struct mx_end *e)
{
    e->in_paused = true;
    int rc = wire_transport_pause_reading(e->t);
    if (rc != 0)
        conf_violation(e->c, "%s: pause_reading: %s", e->role,
                       wire_strerror(rc));
}

static void
framed_resume_in(struct mx_end *e)
{
    e->in_paused = false;
    int rc = wire_transport_resume_reading(e->t);
    if (rc != 0)
        conf_violation(e->c, "%s: resume_reading: %s", e->role,
                       wire_strerror(rc));
}

static void
framed_close(struct mx_end *e)
{
    e->closing = true;
    if (e->t != NULL)
        wire_transport_close(e->t);
}

static void
framed_abort(struct mx_end *e)
{
    e->closing = true;
    if (e->t != NULL)
        wire_transport_abort(e->t);
}

static int
framed_write_eof(struct mx_end *e)
{
    return wire_transport_write_eof(e->t);
}

/* The layer and callback forms differ only in how flow control reaches
 * the application; they write, pause and close the same way. */
#define FRAMED_FORM(form_name, is_windowed)                                   \
    {                                                                         \
        .name = (form_name), .windowed = (is_windowed), .send = framed_send,  \
        .pause_in = framed_pause_in, .resume_in = framed_resume_in,           \
        .close = framed_close, .abort = framed_abort,                         \
        .write_eof = framed_write_eof,                                        \
    }

/* ---- the layer form ---- */

static struct mx_end *
end_of(struct wire_protocol *p)
{
    return (struct mx_end *)(void *)p;
}

static void
la_made(struct wire_protocol *p, struct wire_transport *t)
{
    mx_app_open(end_of(p), t);
}

static void
la_data(struct wire_protocol *p, const void *data, size_t len)
{
    mx_app_message(end_of(p), data, len);
}

static bool
la_eof(struct wire_protocol *p)
{
    return mx_app_eof(end_of(p));
}

static void
la_lost(struct wire_protocol *p, const struct wire_error *err)
{
    mx_app_lost(end_of(p), err);
}

static void
la_pause(struct wire_protocol *p)
{
    mx_app_pause(end_of(p));
}

static void
la_resume(struct wire_protocol *p)
{
    mx_app_resume(end_of(p));
}

static void
la_destroy(struct wire_protocol *p)
{
    mx_app_destroy(end_of(p));
}

static const struct wire_protocol_ops layer_app_ops = {
    .connection_made = la_made,
    .data_received = la_data,
    .eof_received = la_eof,
    .connection_lost = la_lost,
    .pause_writing = la_pause,
    .resume_writing = la_resume,
    .destroy = la_destroy,
};

static const struct mx_form layer_form = FRAMED_FORM("layer", false);

/* ---- the callback form ---- */

static void
cb_open(void *arg, struct wire_transport *t)
{
    mx_app_open(arg, t);
}

static void
cb_message(void *arg, struct wire_transport *t, const void *data, size_t len)
{
    struct mx_end *e = arg;
    if (t != e->t)
        conf_violation(e->c, "%s: message on transport %p, opened on %p",
                       e->role, (void *)t, (void *)e->t);
    mx_app_message(e, data, len);
}

static bool
cb_eof(void *arg, struct wire_transport *t)
{
    (void)t;
    return mx_app_eof(arg);
}

static void
cb_closed(void *arg, const struct wire_error *err)
{
    mx_app_lost(arg, err);
}

static void
cb_destroy(void *arg)
{
    mx_app_destroy(arg);
}

static const struct wire_message_handler cb_handler = {
    .open = cb_open,
    .message = cb_message,
    .eof = cb_eof,
    .closed = cb_closed,
    .destroy = cb_destroy,
};

/* No flow-control callbacks: the client keeps a window in flight. */
static const struct mx_form callback_form = FRAMED_FORM("callback", true);

/* ---- builders for chunk and lenprefix ---- */

static void
chunk_opts(struct mx_end *e, struct wire_chunk_opts *o)
{
    const struct matrix_proto *r = row_of(e);
    if (r->lines) {
        wire_lines_opts_init(o, true, r->wsep != NULL);
    } else {
        wire_chunk_opts_init(o);
        o->delim = r->sep;
        o->delim_len = r->sep_len;
        if (r->wsep != NULL) {
            o->write_delim = r->wsep;
            o->write_delim_len = r->wsep_len;
        }
    }
    o->max_len = e->limit;
    e->tname = r->lines ? "lines" : "chunk";
}

static void
lp_opts(struct mx_end *e, struct wire_lenprefix_opts *o)
{
    const struct matrix_proto *r = row_of(e);
    if (r->netstring) {
        wire_netstring_opts_init(o);
    } else {
        wire_lenprefix_opts_init(o, r->width, r->little_endian);
        o->counts_header = r->counts_header;
    }
    o->max_len = e->limit;
    e->tname = r->netstring ? "netstring" : "lenprefix";
}

/* One end's stack for a chunk or lenprefix row: the format's layer under
 * the application, or (`callback`) its callback protocol calling it. */
static struct wire_protocol *
build_framed(struct mx_end *e, bool lenprefix, bool callback)
{
    struct wire_chunk_opts co = {0};
    struct wire_lenprefix_opts lo = {0};
    struct wire_error err = {0};
    struct wire_protocol *p;
    const char *what;
    if (lenprefix)
        lp_opts(e, &lo);
    else
        chunk_opts(e, &co);
    if (callback) {
        e->form = &callback_form;
        p = lenprefix ? wire_lenprefix_protocol_new(&lo, &cb_handler, e, &err)
                      : wire_chunk_protocol_new(&co, &cb_handler, e, &err);
        what = lenprefix ? "wire_lenprefix_protocol_new"
                         : "wire_chunk_protocol_new";
    } else {
        wire_protocol_init(&e->base, &layer_app_ops);
        e->form = &layer_form;
        p = lenprefix ? wire_lenprefix_layer_new(&e->base, &lo, &err)
                      : wire_chunk_layer_new(&e->base, &co, &err);
        what = lenprefix ? "wire_lenprefix_layer_new" : "wire_chunk_layer_new";
    }
    CK(e->c, p != NULL, "%s: %s: %s", e->role, what,
       err.message != NULL ? err.message : "(no message)");
    wire_error_clear(&err);
    return p;
}

struct wire_protocol *
mx_build_chunk_layer(struct mx_end *e)
{
    return build_framed(e, false, false);
}

struct wire_protocol *
mx_build_chunk_cb(struct mx_end *e)
{
    return build_framed(e, false, true);
}

struct wire_protocol *
mx_build_lp_layer(struct mx_end *e)
{
    return build_framed(e, true, false);
}

struct wire_protocol *
mx_build_lp_cb(struct mx_end *e)
{
    return build_framed(e, true, true);
}

/* ---- the HTTP layers ---- */

struct wire_protocol *
mx_build_http_layer(struct mx_end *e)
{
    struct wire_http_layer_opts o = {0};
    struct wire_error err = {0};
    o.limits.max_body = e->limit;
    wire_protocol_init(&e->base, &layer_app_ops);
    e->form = &layer_form;
    e->tname = e->server ? "http-server" : "http-client";
    struct wire_protocol *p =
        e->server ? wire_http_server_layer_new(&e->base, &o, &err)
                  : wire_http_client_layer_new(&e->base, &o, &err);
    CK(e->c, p != NULL, "%s: http layer: %s", e->role,
       err.message != NULL ? err.message : "(no message)");
    wire_error_clear(&err);
    return p;
}

/* ---- the stream forms ---- */

static const struct mx_form stream_exact_form;
static const struct mx_form stream_until_form;

static bool
is_until(const struct mx_end *e)
{
    return e->form == &stream_until_form;
}

/* After a write: above the high mark, wait for drain (the application
 * pauses as it would on pause_writing). */
static void
st_drained(struct wire_stream *s, const struct wire_error *err, void *arg)
{
    struct mx_end *e = arg;
    (void)s;
    if (err != NULL)
        return; /* the connection is gone; its loss is reported apart */
    mx_app_resume(e);
}

static void
st_flow(struct mx_end *e)
{
    if (e->write_paused || e->s == NULL || e->closing)
        return;
    struct wire_transport *t = wire_stream_transport(e->s);
    size_t high, low;
    wire_transport_get_write_buffer_limits(t, &high, &low);
    if (wire_transport_get_write_buffer_size(t) <= high)
        return;
    mx_app_pause(e);
    int rc = wire_stream_drain(e->s, st_drained, e);
    if (rc != 0)
        conf_violation(e->c, "%s: wire_stream_drain: %s", e->role,
                       wire_strerror(rc));
}

static int
stream_send(struct mx_end *e, const void *data, size_t len, unsigned method)
{
    const struct matrix_proto *r = row_of(e);
    unsigned char frame[64];
    size_t flen;
    bool before; /* the frame goes before the payload (a prefix) */
    if (is_until(e)) {
        memcpy(frame, r->sep, r->sep_len);
        flen = r->sep_len;
        before = false;
    } else {
        uint64_t v = len;
        for (unsigned i = 0; i < r->width; i++) {
            unsigned shift = r->little_endian ? 8 * i : 8 * (r->width - 1 - i);
            frame[i] = (unsigned char)(v >> shift);
        }
        flen = r->width;
        before = true;
    }
    int rc = 0;
    switch (method % 3) {
    case 0: {
        struct iovec iov[2] = {
            {before ? (void *)frame : (void *)(uintptr_t)data,
             before ? flen : len},
            {before ? (void *)(uintptr_t)data : (void *)frame,
             before ? len : flen},
        };
        rc = wire_stream_write_sequence(e->s, iov, 2);
        break;
    }
    case 1:
        rc = wire_stream_write(e->s, before ? (const void *)frame : data,
                               before ? flen : len);
        if (rc == 0)
            rc = wire_stream_write(e->s, before ? data : (const void *)frame,
                                   before ? len : flen);
        break;
    default: {
        char *b = malloc(len + flen);
        if (b == NULL)
            return WIRE_ENOMEM;
        memcpy(b, before ? (const void *)frame : data, before ? flen : len);
        memcpy(b + (before ? flen : len), before ? data : (const void *)frame,
               before ? len : flen);
        rc = wire_stream_write(e->s, b, len + flen);
        free(b);
        break;
    }
    }
    if (rc == 0)
        st_flow(e);
    return rc;
}

static void sx_next(struct mx_end *e);

/* A read completed with `err`: true when it was handled here (the clean
 * end of input at a message boundary, the end we asked for, a failure).
 * `boundary`: the read began a message, so an end of input there is the
 * peer's clean EOF. */
static bool
sx_failed(struct mx_end *e, size_t len, const struct wire_error *err,
          bool boundary)
{
    e->reading = false;
    if (err == NULL)
        return false;
    if (err->code == WIRE_EINCOMPLETE && len == 0 && boundary) {
        if (!mx_app_eof(e))
            e->form->close(e);
        return true;
    }
    if (err->code == WIRE_ECLOSED && e->closing)
        return true;
    mx_app_read_error(e, err);
    return true;
}

static void
sx_body(struct wire_stream *s, const void *data, size_t len,
        const struct wire_error *err, void *arg)
{
    struct mx_end *e = arg;
    (void)s;
    if (sx_failed(e, len, err, false))
        return;
    mx_app_message(e, data, len);
    sx_next(e);
}

static void
sx_header(struct wire_stream *s, const void *data, size_t len,
          const struct wire_error *err, void *arg)
{
    struct mx_end *e = arg;
    const struct matrix_proto *r = row_of(e);
    if (sx_failed(e, len, err, true))
        return;
    const unsigned char *h = data;
    uint64_t v = 0;
    for (unsigned i = 0; i < r->width; i++) {
        unsigned shift = r->little_endian ? 8 * i : 8 * (r->width - 1 - i);
        v |= (uint64_t)h[i] << shift;
    }
    e->reading = true;
    int rc = wire_stream_read_exactly(s, (size_t)v, sx_body, e);
    if (rc != 0) {
        e->reading = false;
        conf_violation(e->c, "%s: read_exactly(%llu): %s", e->role,
                       (unsigned long long)v, wire_strerror(rc));
    }
}

static void
su_message(struct wire_stream *s, const void *data, size_t len,
           const struct wire_error *err, void *arg)
{
    struct mx_end *e = arg;
    const struct matrix_proto *r = row_of(e);
    (void)s;
    if (sx_failed(e, len, err, true))
        return;
    if (len < r->sep_len ||
        memcmp((const char *)data + len - r->sep_len, r->sep, r->sep_len) != 0) {
        conf_violation(e->c, "%s: read_until gave %zu bytes not ending with "
                       "the separator", e->role, len);
        return;
    }
    mx_app_message(e, data, len - r->sep_len);
    sx_next(e);
}

/* Ask for the next message, unless reading is held or over. */
static void
sx_next(struct mx_end *e)
{
    if (e->reading || e->in_paused || e->closing || e->lost || e->s == NULL)
        return;
    const struct matrix_proto *r = row_of(e);
    e->reading = true;
    int rc = is_until(e)
                 ? wire_stream_read_until(e->s, r->sep, r->sep_len,
                                          su_message, e)
                 : wire_stream_read_exactly(e->s, r->width, sx_header, e);
    if (rc != 0) {
        e->reading = false;
        conf_violation(e->c, "%s: asking for a read: %s", e->role,
                       wire_strerror(rc));
    }
}

static void
st_pause_in(struct mx_end *e)
{
    e->in_paused = true; /* no read is asked for until resume */
}

static void
st_resume_in(struct mx_end *e)
{
    e->in_paused = false;
    sx_next(e);
}

static void
st_close(struct mx_end *e)
{
    e->closing = true;
    if (e->s != NULL)
        wire_stream_close(e->s);
}

static void
st_abort(struct mx_end *e)
{
    e->closing = true;
    if (e->s != NULL)
        wire_stream_abort(e->s);
}

static int
st_write_eof(struct mx_end *e)
{
    return wire_stream_write_eof(e->s);
}

static void
st_open(struct wire_stream *s, void *arg)
{
    struct mx_end *e = arg;
    e->s = s;
    mx_app_open(e, wire_stream_transport(s));
    sx_next(e);
}

static void
st_closed(struct wire_stream *s, const struct wire_error *err, void *arg)
{
    struct mx_end *e = arg;
    (void)s;
    mx_app_lost(e, err);
    e->s = NULL; /* freed after this returns */
}

static void
st_destroy(void *arg)
{
    mx_app_destroy(arg);
}

static const struct wire_stream_handler stream_handler = {
    .open = st_open,
    .closed = st_closed,
    .destroy = st_destroy,
};

/* The two stream forms differ only in how they read (is_until). */
#define STREAM_FORM(form_name)                                                \
    {                                                                         \
        .name = (form_name), .windowed = false, .send = stream_send,          \
        .pause_in = st_pause_in, .resume_in = st_resume_in,                   \
        .close = st_close, .abort = st_abort, .write_eof = st_write_eof,      \
    }

static const struct mx_form stream_exact_form =
    STREAM_FORM("stream (read_exactly)");
static const struct mx_form stream_until_form =
    STREAM_FORM("stream (read_until)");

static struct wire_protocol *
build_stream(struct mx_end *e, const struct mx_form *form, size_t limit)
{
    struct wire_stream_opts o = {0};
    o.limit = limit;
    e->form = form;
    e->tname = NULL; /* the transport's own */
    struct wire_protocol *p = wire_stream_new(&o, &stream_handler, e);
    CK(e->c, p != NULL, "%s: wire_stream_new failed", e->role);
    return p;
}

struct wire_protocol *
mx_build_stream_exact(struct mx_end *e)
{
    /* The stream's limit stays the default: read_exactly takes messages
     * far larger than it. */
    return build_stream(e, &stream_exact_form, 0);
}

struct wire_protocol *
mx_build_stream_until(struct mx_end *e)
{
    return build_stream(e, &stream_until_form, e->limit);
}

/* ---- the Content-Length layer ---- */

struct wire_protocol *
mx_build_cl_layer(struct mx_end *e)
{
    struct wire_error err = {0};
    wire_protocol_init(&e->base, &layer_app_ops);
    e->form = &layer_form;
    e->tname = "content-length";
    struct wire_protocol *p = wire_content_length_layer_new(&e->base, e->limit,
                                                           &err);
    CK(e->c, p != NULL, "%s: wire_content_length_layer_new: %s", e->role,
       err.message != NULL ? err.message : "(no message)");
    wire_error_clear(&err);
    return p;
}

/* ---- JSON-RPC: each message an "echo" call, its bytes in hex ----
 *
 * The client calls "echo" with ["<hex>"] and hands each result, decoded,
 * to the application as the echo; the server's "echo" method hands the
 * decoded params to the application, whose echo (form send) answers the
 * call.  The half-close exchange: the client notifies "eof" and then
 * half-closes; the server's "eof" method is the application's EOF, and
 * its trailer goes to the client as a notification "msg".  A clean loss
 * without that is reported as the peer's EOF, then the loss (the peer
 * does not tell EOF from close).  Over HTTP the client's write_eof is the
 * HTTP client layer's own ("no more requests"), and nothing can carry a
 * trailer after it (the row says no_write_after_eof). */


static const char hexd[] = "0123456789abcdef";

static json_t *
hex_params(const void *data, size_t len)
{
    const unsigned char *d = data;
    char *h = malloc(2 * len + 1);
    if (h == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        h[2 * i] = hexd[d[i] >> 4];
        h[2 * i + 1] = hexd[d[i] & 15];
    }
    h[2 * len] = '\0';
    json_t *s = json_stringn(h, 2 * len);
    free(h);
    return s;
}

/* The bytes in hex string `s` (malloc'd; NULL when malformed). */
static unsigned char *
unhex(struct mx_end *e, json_t *s, size_t *len)
{
    const char *h = json_string_value(s);
    size_t n = json_string_length(s);
    if (h == NULL || n % 2 != 0) {
        conf_violation(e->c, "%s: a message that is not a hex string", e->role);
        return NULL;
    }
    unsigned char *b = malloc(n / 2 + 1);
    CK(e->c, b != NULL, "out of memory");
    for (size_t i = 0; i < n / 2; i++) {
        const char *hi = strchr(hexd, h[2 * i]), *lo = strchr(hexd, h[2 * i + 1]);
        if (hi == NULL || lo == NULL || h[2 * i] == '\0' || h[2 * i + 1] == '\0') {
            conf_violation(e->c, "%s: bad hex at %zu", e->role, 2 * i);
            free(b);
            return NULL;
        }
        b[i] = (unsigned char)((hi - hexd) << 4 | (lo - hexd));
    }
    *len = n / 2;
    return b;
}

static void
rpc_result(void *arg, json_t *result, const struct wire_jsonrpc_error *err)
{
    struct mx_end *e = arg;
    if (err != NULL) {
        if (!(err->local && err->code == WIRE_ECLOSED && (e->closing || e->lost)))
            conf_violation(e->c, "client: a call failed: %d %s", err->code,
                           err->message);
        return;
    }
    size_t len = 0;
    unsigned char *b = unhex(e, result, &len);
    if (b != NULL)
        mx_app_message(e, b, len);
    free(b);
}

static int
rpc_send(struct mx_end *e, const void *data, size_t len, unsigned method)
{
    (void)method;
    json_t *s = hex_params(data, len);
    if (s == NULL)
        return WIRE_ENOMEM;
    if (e->server && e->cur_call != NULL) { /* the echo: the call's answer */
        struct wire_jsonrpc_call *call = e->cur_call;
        e->cur_call = NULL;
        return wire_jsonrpc_respond(call, s);
    }
    json_t *params = json_array();
    if (params == NULL || json_array_append_new(params, s) != 0)
        return WIRE_ENOMEM;
    if (e->server) /* the trailer */
        return wire_jsonrpc_notify(e->rpc, "msg", params, NULL);
    return wire_jsonrpc_call(e->rpc, "echo", params, UINT64_MAX, rpc_result, e,
                             NULL);
}

static void
rpc_pause_in(struct mx_end *e)
{
    e->in_paused = true;
    wire_transport_pause_reading(e->t);
}

static void
rpc_resume_in(struct mx_end *e)
{
    e->in_paused = false;
    wire_transport_resume_reading(e->t);
}

static void
rpc_close(struct mx_end *e)
{
    e->closing = true;
    wire_jsonrpc_close(e->rpc);
}

static void
rpc_abort(struct mx_end *e)
{
    e->closing = true;
    if (e->t != NULL)
        wire_transport_abort(e->t);
}

static int
rpc_write_eof(struct mx_end *e)
{
    if (!wire_transport_can_write_eof(e->t))
        return WIRE_ENOTSUP;
    int rc = wire_jsonrpc_notify(e->rpc, "eof", NULL, NULL);
    return rc != 0 ? rc : wire_transport_write_eof(e->t);
}

static const struct mx_form jsonrpc_form = {
    .name = "jsonrpc", .windowed = true, .send = rpc_send,
    .pause_in = rpc_pause_in, .resume_in = rpc_resume_in,
    .close = rpc_close, .abort = rpc_abort, .write_eof = rpc_write_eof,
};

static void
rpc_m_echo(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    struct mx_end *e = arg;
    size_t len = 0;
    unsigned char *b = unhex(e, json_array_get(params, 0), &len);
    if (b == NULL) {
        wire_jsonrpc_respond_error(call, WIRE_JSONRPC_INVALID_PARAMS, NULL, NULL);
        return;
    }
    e->cur_call = call;
    mx_app_message(e, b, len);
    free(b);
    if (e->cur_call != NULL) { /* not echoed: answer anyway */
        e->cur_call = NULL;
        wire_jsonrpc_respond_error(call, WIRE_JSONRPC_INTERNAL_ERROR, NULL, NULL);
    }
}

static void
rpc_m_msg(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    struct mx_end *e = arg;
    size_t len = 0;
    unsigned char *b = unhex(e, json_array_get(params, 0), &len);
    wire_jsonrpc_respond(call, NULL);
    if (b != NULL)
        mx_app_message(e, b, len);
    free(b);
}

static void
rpc_m_eof(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    struct mx_end *e = arg;
    (void)params;
    wire_jsonrpc_respond(call, NULL);
    /* The server closes from inside the handler (over HTTP: a 204 with
     * Connection: close answers the notification), except over a
     * transport whose server-side close drops what the client has not
     * read yet (serial-pty, conf.h: server_close_drops), where the last
     * answers could be lost: there it waits for the client's close (the
     * HTTP client layer closes once every answer is in, after its
     * write_eof), which the peer's EOF handling turns into its own. */
    if (!mx_app_eof(e) && e->c->f->server_close_drops == NULL)
        e->form->close(e);
}

static void
rpc_open(void *arg, struct wire_jsonrpc *rpc, struct wire_transport *t)
{
    struct mx_end *e = arg;
    e->rpc = rpc;
    mx_app_open(e, t);
}

static void
rpc_closed(void *arg, const struct wire_error *err)
{
    struct mx_end *e = arg;
    if (e->made) {
        if (err == NULL && !e->eofs && !e->closing)
            mx_app_eof(e);
        mx_app_lost(e, err);
    }
    e->rpc = NULL;
    mx_app_destroy(e); /* the peer is freed right after */
}

static const struct wire_jsonrpc_method rpc_server_methods[] = {
    {"echo", rpc_m_echo, NULL},
    {"eof", rpc_m_eof, NULL},
};
static const struct wire_jsonrpc_method rpc_client_methods[] = {
    {"msg", rpc_m_msg, NULL},
};

struct wire_protocol *
mx_build_jsonrpc(struct mx_end *e)
{
    const struct matrix_proto *r = row_of(e);
    struct wire_jsonrpc_method m[2];
    size_t nm = e->server ? 2 : 1;
    memcpy(m, e->server ? rpc_server_methods : rpc_client_methods,
           nm * sizeof(m[0]));
    for (size_t i = 0; i < nm; i++)
        m[i].arg = e;
    /* Hex doubles a message; the JSON around it is small. */
    size_t wire_max = 2 * e->limit + 1024;
    struct wire_jsonrpc_opts o = {
        .methods = m, .nmethods = nm,
        .max_message = wire_max,
        .call_timeout_ms = UINT64_MAX,
        .on_open = rpc_open, .on_close = rpc_closed, .arg = e,
    };
    struct wire_error err = {0};
    e->form = &jsonrpc_form;
    e->tname = r->http ? (e->server ? "http-server" : "http-client")
               : r->content_length ? "content-length" : "lines";
    struct wire_protocol *p = wire_jsonrpc_new(&o, NULL, &err);
    if (p != NULL && r->http) {
        /* No reply_timeout_ms: the peer's hints say which request gets
         * an answer. */
        struct wire_http_layer_opts ho = {
            .content_type = "application/json",
            .limits.max_body = wire_max,
        };
        p = e->server ? wire_http_server_layer_new(p, &ho, &err)
                      : wire_http_client_layer_new(p, &ho, &err);
    } else if (p != NULL && r->content_length) {
        p = wire_content_length_layer_new(p, wire_max, &err);
    } else if (p != NULL) {
        struct wire_chunk_opts co;
        wire_lines_opts_init(&co, true, false);
        co.max_len = wire_max;
        p = wire_chunk_layer_new(p, &co, &err);
    }
    CK(e->c, p != NULL, "%s: JSON-RPC stack: %s", e->role,
       err.message != NULL ? err.message : "(no message)");
    wire_error_clear(&err);
    return p;
}
