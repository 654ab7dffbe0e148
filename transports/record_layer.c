/*
 * Record and replay (<wire/record.h>), part 2: the record layer.
 *
 * The layer helper with every hook passing through; it only notes what
 * crosses it.  Writes are noted in ops->frame, which the core calls once
 * per write call before anything is queued: that is the protocol's own
 * write boundary, and the time of the call.  A file error stops the
 * recording and never reaches the connection.
 */
#include "record_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- the record layer ---- */

struct record_layer {
    struct wire_layer l; /* first: the layer's memory is ours */
    struct wire_record_writer *w; /* NULL once the recording is done */
    uint64_t t0;
    struct wire_error stopped; /* code != 0: the recording stopped */
    bool done;
    struct wire_record_opts opts;
    char *name;
};

static struct record_layer *
rl_of(struct wire_layer *l)
{
    return (struct record_layer *)l;
}

/* Note one record; a failure stops the recording, never the connection. */
static void
rl_put(struct record_layer *rl, int kind, int code, const struct iovec *iov,
       int iovcnt, size_t total)
{
    if (rl->w == NULL || rl->stopped.code != 0)
        return;
    unsigned char pre[4];
    size_t pre_len = 0;
    if (kind == WIRE_RECORD_END || kind == WIRE_RECORD_INFO) {
        wire__rec_put_be(pre, (uint32_t)code, 4);
        pre_len = 4;
    }
    uint64_t t = wire__rec_now_us(CLOCK_MONOTONIC);
    t = t > rl->t0 ? t - rl->t0 : 0;
    int rc = wire__rec_writer_put(rl->w, kind, t, pre, pre_len, iov, iovcnt, total,
                        &rl->stopped);
    if (rc < 0) {
        if (rl->stopped.code == 0)
            wire_error_set(&rl->stopped, rc, "recording '%s': %s", rl->name,
                           wire_strerror(rc));
        if (rl->l.above.loop != NULL)
            wire_loop_log(rl->l.above.loop, WIRE_LOG_WARN, "record: recording "
                          "stopped, the connection goes on: %s",
                          rl->stopped.message);
    }
}

static void
rl_put_bytes(struct record_layer *rl, int kind, int code, const void *data,
             size_t len)
{
    struct iovec v = {(void *)(uintptr_t)data, len};
    rl_put(rl, kind, code, &v, 1, len);
}

/* Close the file and tell on_done, once. */
static void
rl_finish(struct record_layer *rl)
{
    if (rl->done)
        return;
    rl->done = true;
    struct wire_error cerr = {0};
    if (wire_record_writer_close(rl->w, &cerr) < 0 && rl->stopped.code == 0)
        wire_error_copy(&rl->stopped, &cerr);
    wire_error_clear(&cerr);
    rl->w = NULL;
    if (rl->opts.on_done != NULL)
        rl->opts.on_done(rl->opts.arg, rl->stopped.code != 0 ? &rl->stopped : NULL);
}

static void
rl_note_info(struct record_layer *rl, int key)
{
    char buf[512];
    int n = wire_transport_get_info(rl->l.lower, key, buf, sizeof(buf));
    if (n >= 0)
        rl_put_bytes(rl, WIRE_RECORD_INFO, key, buf, strlen(buf));
}

static void
rl_made(struct wire_layer *l)
{
    struct record_layer *rl = rl_of(l);
    rl->t0 = wire__rec_now_us(CLOCK_MONOTONIC);
    rl_note_info(rl, WIRE_INFO_PEER);
    rl_note_info(rl, WIRE_INFO_LOCAL);
    wire_layer_start(l);
}

static int
rl_recv(struct wire_layer *l, const void *data, size_t len)
{
    rl_put_bytes(rl_of(l), WIRE_RECORD_IN, 0, data, len);
    /* WIRE_ECLOSED (nobody above wants it) is no failure of ours; out of
     * memory was reported by the helper itself. */
    (void)wire_layer_deliver(l, data, len);
    return 0;
}

static int
rl_recv_eof(struct wire_layer *l)
{
    rl_put(rl_of(l), WIRE_RECORD_IN_EOF, 0, NULL, 0, 0);
    wire_layer_deliver_eof(l);
    return 0;
}

static int
rl_send_eof(struct wire_layer *l)
{
    if (l->lower == NULL)
        return WIRE_ECLOSED;
    int rc = wire_transport_write_eof(l->lower);
    if (rc == 0)
        rl_put(rl_of(l), WIRE_RECORD_OUT_EOF, 0, NULL, 0, 0);
    return rc;
}

static void
rl_close(struct wire_layer *l, bool abort)
{
    /* Below already gone: this close is the loss reaching above, which
     * the END record has told. */
    if (l->lower == NULL)
        return;
    rl_put(rl_of(l), abort ? WIRE_RECORD_ABORT : WIRE_RECORD_CLOSE, 0, NULL, 0, 0);
    if (abort)
        wire_transport_abort(l->lower);
    else
        wire_transport_close(l->lower);
}

static void
rl_lost(struct wire_layer *l, const struct wire_error *err)
{
    struct record_layer *rl = rl_of(l);
    if (err != NULL && err->code != 0)
        rl_put_bytes(rl, WIRE_RECORD_END, err->code, err->message,
                     err->message != NULL ? strlen(err->message) : 0);
    else
        rl_put(rl, WIRE_RECORD_END, 0, NULL, 0, 0);
    rl_finish(rl);
}

static int
rl_get_info(struct wire_layer *l, int key, void *out, size_t len)
{
    struct record_layer *rl = rl_of(l);
    if (key == WIRE_INFO_RECORD_PATH)
        return wire_impl_info_string(out, len, rl->name);
    if (key != WIRE_INFO_RECORD_ERROR)
        return WIRE_ENOTSUP;
    if (out == NULL || len < sizeof(int))
        return WIRE_EINVAL;
    int code = rl->stopped.code;
    memcpy(out, &code, sizeof(code));
    return (int)sizeof(code);
}

static void
rl_destroy(struct wire_layer *l)
{
    struct record_layer *rl = rl_of(l);
    rl_finish(rl); /* a layer that never started */
    wire_error_clear(&rl->stopped);
    free(rl->name);
    free(rl);
}

/* Every write of the protocol above, one call at a time, before the core
 * queues anything: the record adds no frame. */
static int
rl_frame(struct wire_transport *t, const struct iovec *iov, int iovcnt,
         size_t total, struct wire_frame *f)
{
    struct wire_layer *l = wire_container_of(t, struct wire_layer, above);
    (void)f;
    if (total > 0)
        rl_put(rl_of(l), WIRE_RECORD_OUT, 0, iov, iovcnt, total);
    return 0;
}

static const struct wire_layer_ops record_ops = {
    .transport = {
        .name = "record", .caps = WIRE_CAP_HALF_CLOSE_IF_LOWER,
        .read_start = wire_layer_hook_read_start,
        .read_stop = wire_layer_hook_read_stop,
        .write = wire_layer_hook_write,
        .want_write = wire_layer_hook_want_write,
        .shutdown_write = wire_layer_hook_shutdown_write,
        .close = wire_layer_hook_close,
        .get_info = wire_layer_hook_get_info,
        .free = wire_layer_hook_free,
        .frame = rl_frame,
        .hint_reply = wire_layer_hook_hint_reply,
    },
    .made = rl_made,
    .recv = rl_recv,
    .recv_eof = rl_recv_eof,
    .send_eof = rl_send_eof,
    .close = rl_close,
    .get_info = rl_get_info,
    .destroy = rl_destroy,
    .lost = rl_lost,
};

static struct wire_protocol *
rl_new(struct wire_protocol *upper, struct wire_record_writer *w,
       const struct wire_record_opts *opts, struct wire_error *err)
{
    struct record_layer *rl = calloc(1, sizeof(*rl));
    if (rl == NULL || (rl->name = strdup(wire__rec_writer_name(w))) == NULL) {
        free(rl);
        wire_record_writer_close(w, NULL);
        wire_protocol_destroy(upper);
        wire_error_set(err, WIRE_ENOMEM, "out of memory");
        return NULL;
    }
    struct wire_protocol *p = wire_layer_init(&rl->l, &record_ops, upper);
    rl->w = w;
    if (opts != NULL)
        rl->opts = *opts;
    return p;
}

struct wire_protocol *
wire_record_layer_new(struct wire_protocol *upper, const char *path,
                      const struct wire_record_opts *opts,
                      struct wire_error *err)
{
    struct wire_record_writer *w = NULL;
    if (upper == NULL) {
        wire_error_set(err, WIRE_EINVAL, "wire_record_layer_new: a protocol "
                       "is required");
        return NULL;
    }
    if (wire_record_writer_open(path, &w, err) < 0) {
        wire_protocol_destroy(upper);
        return NULL;
    }
    return rl_new(upper, w, opts, err);
}

struct wire_protocol *
wire_record_layer_new_fd(struct wire_protocol *upper, int fd,
                         const struct wire_record_opts *opts,
                         struct wire_error *err)
{
    struct wire_record_writer *w = NULL;
    if (upper == NULL) {
        if (fd >= 0)
            close(fd);
        wire_error_set(err, WIRE_EINVAL, "wire_record_layer_new_fd: a "
                       "protocol is required");
        return NULL;
    }
    if (wire_record_writer_open_fd(fd, &w, err) < 0) {
        wire_protocol_destroy(upper);
        return NULL;
    }
    return rl_new(upper, w, opts, err);
}
