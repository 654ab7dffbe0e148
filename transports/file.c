/*
 * file: the fdio transport over an input file and an output file
 * (<wire/file.h>), for running a protocol against golden files:
 * `file:/in?out=/out&chunk=N&append=yes`.
 *
 * Everything after the open is fdio's: a regular file is a READY side,
 * read one chunk per loop turn and cut at exact multiples of `chunk`
 * (wire__fdio_set_chunk); a FIFO is polled and read as it arrives; writes
 * go through to the output; write_eof closes the output fd.  This file
 * only opens the two paths (never blocking: O_NONBLOCK, so a FIFO input
 * needs no writer yet and a FIFO output without a reader fails with
 * ENXIO at once), names them in every error and in get_info, and wraps
 * the write hook so a failed write names the output file.
 */
#include "fdio.h"

#include <wire/file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct file_transport {
    struct wire__fdio f; /* first */
    char *desc;          /* the endpoint, for messages */
    char *out;           /* the output path (NULL: none), for messages */
    char *peer, *local;  /* "file:<in>", "file:<out>" */
};

static struct file_transport *
file_of(struct wire_transport *t)
{
    return (struct file_transport *)(void *)t;
}

/* A failed write names the file; the core then finds the loss begun and
 * adds nothing. */
static ssize_t
file_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    ssize_t n = wire__fdio_write(t, iov, iovcnt);
    if (n < 0) {
        struct file_transport *ft = file_of(t);
        wire_impl_fail(t, (int)n, "%s: cannot write output '%s': %s",
                       ft->desc, ft->out != NULL ? ft->out : "",
                       wire_strerror((int)n));
    }
    return n;
}

static int
file_get_info(struct wire_transport *t, int key, void *out, size_t len)
{
    struct file_transport *ft = file_of(t);
    if (key == WIRE_INFO_PEER)
        return wire_impl_info_string(out, len, ft->peer);
    if (key == WIRE_INFO_LOCAL)
        return wire_impl_info_string(out, len, ft->local);
    return wire__fdio_get_info(t, key, out, len);
}

static void
file_free(struct wire_transport *t)
{
    struct file_transport *ft = file_of(t);
    wire__fdio_release(&ft->f);
    free(ft->desc);
    free(ft->out);
    free(ft->peer);
    free(ft->local);
    free(ft);
}

/* A file cannot be reset: abort is fdio's close (the core has dropped the
 * queue), and the close hook ignores `abort`. */
static const struct wire_transport_ops file_ops = {
    .name = "file",
    .caps = WIRE_CAP_HALF_CLOSE | WIRE_CAP_EOF,
    .read_start = wire__fdio_read_start,
    .read_stop = wire__fdio_read_stop,
    .write = file_write,
    .want_write = wire__fdio_want_write,
    .shutdown_write = wire__fdio_shutdown_write,
    .close = wire__fdio_close,
    .get_info = file_get_info,
    .free = file_free,
};

static char *
prefixed(const char *prefix, const char *s)
{
    size_t a = strlen(prefix), b = strlen(s);
    char *r = malloc(a + b + 1);
    if (r != NULL) {
        memcpy(r, prefix, a);
        memcpy(r + a, s, b + 1);
    }
    return r;
}

static int
open_failed(struct wire_error *err, const char *desc, const char *which,
            const char *path, int e)
{
    const char *hint = "";
    struct stat st;
    if (e == ENXIO && stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
        hint = " (a FIFO nobody reads)";
    return wire_error_set(err, -e, "%s: cannot open %s '%s': %s%s", desc,
                          which, path, strerror(e), hint);
}

/* Open both files (input first) without blocking.  Returns 0 with the
 * fds in *rfd / *wfd (-1 for an absent side), or a negative code with
 * `err` set and nothing left open. */
static int
open_files(const char *desc, const char *in, const char *out, bool append,
           int *rfd, int *wfd, struct wire_error *err)
{
    struct stat st;
    *rfd = *wfd = -1;
    if (in != NULL) {
        *rfd = open(in, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (*rfd < 0)
            return open_failed(err, desc, "input", in, errno);
        int e = fstat(*rfd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
        if (e != 0) {
            close(*rfd);
            *rfd = -1;
            return open_failed(err, desc, "input", in, e);
        }
        struct stat ost;
        if (out != NULL && S_ISREG(st.st_mode) && stat(out, &ost) == 0 &&
            ost.st_dev == st.st_dev && ost.st_ino == st.st_ino) {
            close(*rfd);
            *rfd = -1;
            return wire_error_set(err, WIRE_EINVAL,
                                  "%s: input '%s' and output '%s' are the "
                                  "same file", desc, in, out);
        }
    }
    if (out != NULL) {
        int fl = O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY |
                 (append ? O_APPEND : O_TRUNC);
        *wfd = open(out, fl, 0666);
        if (*wfd < 0) {
            int e = errno;
            if (*rfd >= 0)
                close(*rfd);
            *rfd = -1;
            return open_failed(err, desc, "output", out, e);
        }
    }
    return 0;
}

/* Open the files and make the transport (not started).  `desc` names the
 * endpoint in messages. */
static struct file_transport *
file_make(struct wire_loop *loop, const char *desc, const char *in,
          const char *out, size_t chunk, bool append, struct wire_error *err)
{
    if (in != NULL && in[0] == '\0')
        in = NULL;
    if (out != NULL && out[0] == '\0')
        out = NULL;
    int rfd, wfd;
    if (open_files(desc, in, out, append, &rfd, &wfd, err) < 0)
        return NULL;
    struct file_transport *ft = calloc(1, sizeof(*ft));
    if (ft == NULL ||
        wire__fdio_init(&ft->f, &file_ops, loop, rfd, wfd, true, false, err) < 0) {
        if (ft == NULL)
            wire_error_set(err, WIRE_ENOMEM, "out of memory");
        free(ft);
        if (rfd >= 0)
            close(rfd);
        if (wfd >= 0)
            close(wfd);
        return NULL;
    }
    /* From here wire__fdio_release (in file_free) closes the fds. */
    ft->desc = strdup(desc);
    ft->out = out != NULL ? strdup(out) : NULL;
    ft->peer = prefixed("file:", in != NULL ? in : "");
    ft->local = prefixed("file:", out != NULL ? out : "");
    if (ft->desc == NULL || (out != NULL && ft->out == NULL) ||
        ft->peer == NULL || ft->local == NULL) {
        file_free(&ft->f.base);
        wire_error_set(err, WIRE_ENOMEM, "out of memory");
        return NULL;
    }
    if (wire__fdio_set_chunk(&ft->f, chunk, err) < 0) {
        file_free(&ft->f.base);
        return NULL;
    }
    return ft;
}

static int
file_open_impl(struct wire_loop *loop, const struct wire_file_options *opts,
               struct wire_protocol *p, struct wire_transport **out,
               struct wire_error *err)
{
    if (loop == NULL || opts == NULL || p == NULL)
        return wire_error_set(err, WIRE_EINVAL,
                              "wire_file_open: a loop, options and a protocol "
                              "are required");
    size_t chunk = opts->chunk != 0 ? opts->chunk : WIRE_FILE_DEFAULT_CHUNK;
    if (chunk > WIRE_FILE_MAX_CHUNK)
        return wire_error_set(err, WIRE_EINVAL,
                              "wire_file_open: chunk %zu is above the maximum "
                              "(%zu)", chunk, WIRE_FILE_MAX_CHUNK);
    /* The endpoint this open would be, for messages. */
    const char *in = opts->in != NULL ? opts->in : "";
    const char *o = opts->out != NULL ? opts->out : "";
    size_t dlen = strlen(in) + strlen(o) + 16;
    char *desc = malloc(dlen);
    if (desc == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    snprintf(desc, dlen, "file:%s%s%s", in, o[0] != '\0' ? "?out=" : "", o);
    struct file_transport *ft =
        file_make(loop, desc, opts->in, opts->out, chunk, opts->append, err);
    free(desc);
    if (ft == NULL)
        return err != NULL ? err->code : WIRE_EINVAL;
    if (wire__connect_later(loop, &ft->f.base, p, NULL, NULL, 0, NULL) < 0) {
        file_free(&ft->f.base);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    if (out != NULL)
        *out = &ft->f.base;
    return 0;
}

/* A caller that passes no `err` still gets the real code back. */
int
wire_file_open(struct wire_loop *loop, const struct wire_file_options *opts,
               struct wire_protocol *p, struct wire_transport **out,
               struct wire_error *err)
{
    struct wire_error local = {0};
    int rc = file_open_impl(loop, opts, p, out, err != NULL ? err : &local);
    wire_error_clear(&local);
    return rc;
}

int
wire__file_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                   const char *str, struct wire_protocol *p, uint64_t timeout_ms,
                   wire_connect_cb cb, void *arg, struct wire_error *err)
{
    /* `timeout` is accepted as on every endpoint; opening a file never
     * waits. */
    static const char *const known[] = {"out", "chunk", "append", "timeout",
                                        NULL};
    uint64_t chunk = WIRE_FILE_DEFAULT_CHUNK, timeout = 0;
    bool append = false;
    int rc;
    WIRE_UNUSED(timeout_ms);
    if ((rc = wire_endpoint_check_params(ep, known, err)) < 0 ||
        (rc = wire_endpoint_param_u64(ep, "chunk", 1, WIRE_FILE_MAX_CHUNK,
                                      &chunk, err)) < 0 ||
        (rc = wire_endpoint_param_bool(ep, "append", &append, err)) < 0 ||
        (rc = wire_endpoint_param_u64(ep, "timeout", 0, UINT32_MAX, &timeout,
                                      err)) < 0)
        return rc;
    /* A failed open is the connect's outcome: reported through `cb`. */
    struct wire_error oerr = {0};
    struct file_transport *ft =
        file_make(loop, str, ep->path, wire_endpoint_param(ep, "out"),
                  (size_t)chunk, append, &oerr);
    rc = wire__connect_later(loop, ft != NULL ? &ft->f.base : NULL, p, cb, arg,
                             oerr.code, oerr.message);
    wire_error_clear(&oerr);
    if (rc < 0) {
        if (ft != NULL)
            file_free(&ft->f.base);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    return 0;
}
