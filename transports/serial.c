/*
 * The serial transport: a tty (a UART, a USB serial adapter, a pty slave)
 * in raw mode through POSIX termios, built on the fd transport (fdio.h):
 * one fd for both directions, a hangup read as EOF, a write after a
 * hangup failing with EPIPE.  A serial line cannot half-close (the only
 * way to say "no more data" is to hang up) and cannot be reset.
 *
 * Opening takes exclusive access (TIOCEXCL, plus flock for programs that
 * lock that way, and a refusal when someone else holds TIOCEXCL even for
 * root, whom the kernel lets through), saves every setting of the device
 * (custom speeds included: serial_baud.c), applies raw mode and the
 * options and reads them back (serial_line.c): a setting the device did
 * not take is an error naming it.  Closing lets the device send what it
 * holds (for a bounded time), puts the saved settings back and gives up
 * exclusive access; aborting drops what the device holds first.
 */
#include "fdio.h"
#include "serial_line.h"

#include <wire/serial.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* The longest break wire_serial_send_break sends, and the longest close
 * or break waits for the device to send what it holds. */
#define SERIAL_MAX_BREAK_MS 10000u
#define SERIAL_MAX_DRAIN_MS 2000

struct serial_transport {
    struct wire__fdio f; /* first */
    int fd;              /* the tty, until its settings are given back */
    bool excl;           /* we set TIOCEXCL */
    uint32_t baud;       /* for the drain estimate */
    int char_bits;       /* bits per character on the line */
    struct wire__serial_saved saved; /* the settings before we opened */
    char name[];         /* "serial:/dev/ttyUSB0" */
};

static void serial_close(struct wire_transport *t, bool abort);
static int serial_get_info(struct wire_transport *t, int key, void *out,
                           size_t len);
static void serial_free(struct wire_transport *t);

static const struct wire_transport_ops serial_ops =
    WIRE__FDIO_OPS("serial", WIRE_CAP_EOF, serial_close, serial_get_info,
                   serial_free);

static void
remember_line(struct serial_transport *st, const struct wire_serial_options *o)
{
    st->baud = o->baud;
    /* start + data + parity + stop */
    st->char_bits = 1 + o->data_bits + (o->parity != WIRE_PARITY_NONE) +
                    o->stop_bits;
}

/* ---- waiting for the device's output queue ---- */

/* Wait until the device sent what the kernel holds for it, for about
 * the time that takes at the line's rate and never more than
 * SERIAL_MAX_DRAIN_MS (a line held by flow control would block for
 * ever: tcdrain() has no limit).  A pty holds nothing: no wait. */
static void
drain_bounded(struct serial_transport *st)
{
    int q = 0;
    if (ioctl(st->fd, TIOCOUTQ, &q) < 0 || q <= 0)
        return;
    long ms = (long)((uint64_t)q * (uint64_t)st->char_bits * 1000u /
                     (st->baud ? st->baud : 9600)) + 20;
    if (ms > SERIAL_MAX_DRAIN_MS)
        ms = SERIAL_MAX_DRAIN_MS;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (ioctl(st->fd, TIOCOUTQ, &q) < 0 || q <= 0)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long gone = (now.tv_sec - t0.tv_sec) * 1000 +
                    (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (gone >= ms)
            return;
        /* Nothing to wait on: the queue has no readiness event. */
        poll(NULL, 0, 2);
    }
}

/* ---- the transport's hooks ---- */

/* The serial transport `t` is, or is at the bottom of (a wire_serial_*
 * call made on the top of a stack of layers, say a trace layer, reaches
 * the line below); NULL when there is none. */
static struct serial_transport *
serial_of(struct wire_transport *t)
{
    while (t != NULL && t->ops != &serial_ops)
        t = t->lower;
    if (t == NULL)
        return NULL;
    return (struct serial_transport *)(void *)t;
}

/* How the device is given back. */
enum release_how {
    RELEASE_DRAIN, /* close: what was written goes out at our settings */
    RELEASE_FLUSH, /* abort: drop what was neither sent nor read */
    RELEASE_NOW    /* a failed open, a transport never started */
};

/* Give the device back as we found it: its old settings, and nobody's
 * exclusive access.  After a hangup these fail (EIO): nothing to give
 * back then.  The fd itself is fdio's to close. */
static void
release_tty(struct serial_transport *st, enum release_how how)
{
    if (st->fd < 0)
        return;
    if (how == RELEASE_FLUSH)
        tcflush(st->fd, TCIOFLUSH);
    else if (how == RELEASE_DRAIN)
        drain_bounded(st);
    if (st->saved.ok)
        wire__serial_restore(st->fd, &st->saved);
    if (st->excl)
        ioctl(st->fd, TIOCNXCL);
    st->excl = false;
    st->fd = -1;
}

static void
serial_close(struct wire_transport *t, bool abort)
{
    struct serial_transport *st = (struct serial_transport *)(void *)t;
    release_tty(st, abort ? RELEASE_FLUSH : RELEASE_DRAIN);
    wire__fdio_close(t, abort);
}

static int
serial_get_info(struct wire_transport *t, int key, void *out, size_t len)
{
    struct serial_transport *st = (struct serial_transport *)(void *)t;
    /* Nothing tells who is at the other end of a line: both name it. */
    if (key == WIRE_INFO_PEER || key == WIRE_INFO_LOCAL)
        return wire_impl_info_string(out, len, st->name);
    return wire__fdio_get_info(t, key, out, len);
}

static void
serial_free(struct wire_transport *t)
{
    struct serial_transport *st = (struct serial_transport *)(void *)t;
    release_tty(st, RELEASE_NOW);
    wire__fdio_release(&st->f);
    free(st);
}

/* ---- opening ---- */

/* Open `path` as a tty: exclusive unless `shared`.  Returns the fd, or a
 * negative code with `err` saying what to do about it. */
static int
open_tty(const char *who, const char *path, bool shared, bool *excl,
         struct wire_error *err)
{
    *excl = false;
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        switch (e) {
        case ENOENT:
        case ENODEV:
        case ENXIO:
            return wire_error_set(err, -e, "%s: no such device", who);
        case EBUSY:
            return wire_error_set(err, -e, "%s: is busy (opened exclusively "
                                  "elsewhere)", who);
        case EACCES:
        case EPERM:
            return wire_error_set(err, -e, "%s: permission denied (is this "
                                  "user in the device's group, e.g. "
                                  "dialout?)", who);
        case EIO:
            return wire_error_set(err, -e, "%s: the device does not answer "
                                  "(unplugged, or no hardware behind the "
                                  "port): %s", who, strerror(e));
        default:
            return wire_error_set(err, -e, "%s: %s", who, strerror(e));
        }
    }
    struct termios t;
    if (tcgetattr(fd, &t) < 0) {
        int e = errno;
        close(fd);
        if (e == ENOTTY || e == EINVAL)
            return wire_error_set(err, -ENOTTY, "%s: is not a tty (a serial "
                                  "device or a pty is needed)", who);
        return wire_error_set(err, -e, "%s: %s", who, strerror(e));
    }
#ifdef TIOCGEXCL
    /* The kernel lets root through TIOCEXCL; we do not. */
    int held = 0;
    if (ioctl(fd, TIOCGEXCL, &held) == 0 && held) {
        close(fd);
        return wire_error_set(err, -EBUSY, "%s: is busy (opened exclusively "
                              "elsewhere)", who);
    }
#endif
    if (!shared) {
        if (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
            close(fd);
            return wire_error_set(err, -EBUSY, "%s: is busy (locked by "
                                  "another program)", who);
        }
        if (ioctl(fd, TIOCEXCL) == 0)
            *excl = true;
    }
    return fd;
}

/* Make a serial transport over `path` (not started). */
static struct serial_transport *
serial_make(struct wire_loop *loop, const char *path,
            const struct wire_serial_options *opts, struct wire_error *err)
{
    size_t nlen = strlen("serial:") + strlen(path) + 1;
    struct serial_transport *st = calloc(1, sizeof(*st) + nlen);
    if (st == NULL) {
        wire_error_set(err, WIRE_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(st->name, nlen, "serial:%s", path);
    st->fd = -1;
    struct wire_serial_options o;
    if (wire__serial_normalize(opts, &o, st->name, err) < 0) {
        free(st);
        return NULL;
    }
    bool excl = false;
    int fd = open_tty(st->name, path, o.shared, &excl, err);
    if (fd < 0) {
        free(st);
        return NULL;
    }
    st->fd = fd;
    st->excl = excl;
    int rc = wire__serial_save(fd, &st->saved);
    if (rc < 0)
        wire_error_set(err, rc, "%s: reading its settings: %s", st->name,
                       wire_strerror(rc));
    else
        rc = wire__serial_apply(fd, &o, st->name, err);
    if (rc == 0)
        rc = wire__fdio_init(&st->f, &serial_ops, loop, fd, fd, true, false,
                             err);
    if (rc < 0) {
        release_tty(st, RELEASE_NOW);
        close(fd);
        free(st);
        return NULL;
    }
    /* wire__fdio_init cleared the struct's head, not our fields. */
    st->f.hup_eio = true;
    remember_line(st, &o);
    return st;
}

int
wire_serial_open(struct wire_loop *loop, const char *path,
                 const struct wire_serial_options *opts,
                 struct wire_protocol *p, struct wire_transport **out,
                 struct wire_error *err)
{
    if (loop == NULL || path == NULL || path[0] == '\0' || p == NULL)
        return wire_error_set(err, WIRE_EINVAL,
                              "wire_serial_open: a loop, a device path and a "
                              "protocol are required");
    struct wire_error local = {0};
    struct serial_transport *st = serial_make(loop, path, opts, &local);
    if (st == NULL) {
        int code = local.code;
        wire_error_copy(err, &local);
        wire_error_clear(&local);
        return code;
    }
    if (wire__connect_later(loop, &st->f.base, p, NULL, NULL, 0, NULL) < 0) {
        wire_impl_discard(&st->f.base);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    if (out != NULL)
        *out = &st->f.base;
    return 0;
}

/* ---- the endpoint: serial:/dev/ttyUSB0?baud=115200&bits=8&... ---- */

static int
param_choice(const struct wire_endpoint *ep, const char *str, const char *key,
             const char *const *names, int n, int *out, struct wire_error *err)
{
    const char *v = wire_endpoint_param(ep, key);
    if (v == NULL)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return wire_error_set(err, WIRE_EENDPOINT,
                          "endpoint '%s': %s=%s: expected %s, %s or %s", str,
                          key, v, names[0], names[1], names[2]);
}

int
wire__serial_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                     const char *str, struct wire_protocol *p,
                     uint64_t timeout_ms, wire_connect_cb cb, void *arg,
                     struct wire_error *err)
{
    static const char *const known[] = {"baud", "bits", "parity", "stop",
                                        "flow", "exclusive", "timeout", NULL};
    WIRE_UNUSED(timeout_ms); /* opening a tty does not wait */
    int rc = wire_endpoint_check_params(ep, known, err);
    if (rc < 0)
        return rc;
    struct wire_serial_options o;
    memset(&o, 0, sizeof(o));
    uint64_t baud = 9600, bits = 8, stop = 1;
    bool exclusive = true;
    if ((rc = wire_endpoint_param_u64(ep, "baud", 1, UINT32_MAX, &baud, err)) < 0 ||
        (rc = wire_endpoint_param_u64(ep, "bits", 5, 8, &bits, err)) < 0 ||
        (rc = wire_endpoint_param_u64(ep, "stop", 1, 2, &stop, err)) < 0 ||
        (rc = param_choice(ep, str, "parity", wire__serial_parity_names, 3, &o.parity,
                           err)) < 0 ||
        (rc = param_choice(ep, str, "flow", wire__serial_flow_names, 3, &o.flow, err)) < 0 ||
        (rc = wire_endpoint_param_bool(ep, "exclusive", &exclusive, err)) < 0)
        return rc;
    o.baud = (uint32_t)baud;
    o.data_bits = (int)bits;
    o.stop_bits = (int)stop;
    o.shared = !exclusive;
    /* Opening is quick, but what goes wrong with it (no such device, busy)
     * happens at run time: it reaches `cb`, from the loop, like a refused
     * connection. */
    struct wire_error oerr = {0};
    struct serial_transport *st = serial_make(loop, ep->path, &o, &oerr);
    rc = wire__connect_later(loop, st != NULL ? &st->f.base : NULL, p, cb, arg,
                             oerr.code, oerr.message);
    wire_error_clear(&oerr);
    if (rc < 0) {
        if (st != NULL)
            wire_impl_discard(&st->f.base);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- line control ---- */

/* The open serial transport behind `t`, or a code: WIRE_EINVAL for
 * another transport, WIRE_ECLOSED once its device was given back. */
static int
usable(struct wire_transport *t, struct serial_transport **out)
{
    struct serial_transport *st = serial_of(t);
    if (st == NULL)
        return WIRE_EINVAL;
    if (st->fd < 0)
        return WIRE_ECLOSED;
    *out = st;
    return 0;
}

int
wire_serial_configure(struct wire_transport *t,
                      const struct wire_serial_options *opts,
                      struct wire_error *err)
{
    struct serial_transport *st = NULL;
    int rc = usable(t, &st);
    if (rc < 0)
        return wire_error_set(err, rc, "wire_serial_configure: %s",
                              rc == WIRE_EINVAL ? "not a serial transport"
                                                : "the transport is closed");
    struct wire_serial_options o;
    if ((rc = wire__serial_normalize(opts, &o, st->name, err)) < 0)
        return rc;
    struct wire__serial_saved before;
    if ((rc = wire__serial_save(st->fd, &before)) < 0)
        return wire_error_set(err, rc, "%s: reading its settings: %s",
                              st->name, wire_strerror(rc));
    if ((rc = wire__serial_apply(st->fd, &o, st->name, err)) < 0) {
        /* All or nothing: the line keeps working as it did. */
        wire__serial_restore(st->fd, &before);
        return rc;
    }
    remember_line(st, &o);
    if (o.shared && st->excl) {
        ioctl(st->fd, TIOCNXCL);
        flock(st->fd, LOCK_UN);
        st->excl = false;
    } else if (!o.shared && !st->excl) {
        if (flock(st->fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
            return wire_error_set(err, -EBUSY, "%s: settings applied, but "
                                  "exclusive access refused (locked by "
                                  "another program)", st->name);
        if (ioctl(st->fd, TIOCEXCL) == 0)
            st->excl = true;
    }
    return 0;
}

static int
modem_bits(struct wire_transport *t, int bits, bool on)
{
    struct serial_transport *st = NULL;
    int rc = usable(t, &st);
    if (rc < 0)
        return rc;
    return ioctl(st->fd, on ? TIOCMBIS : TIOCMBIC, &bits) < 0 ? -errno : 0;
}

int
wire_serial_set_dtr(struct wire_transport *t, bool on)
{
    return modem_bits(t, TIOCM_DTR, on);
}

int
wire_serial_set_rts(struct wire_transport *t, bool on)
{
    return modem_bits(t, TIOCM_RTS, on);
}

int
wire_serial_get_modem(struct wire_transport *t)
{
    struct serial_transport *st = NULL;
    int rc = usable(t, &st);
    if (rc < 0)
        return rc;
    int m = 0;
    if (ioctl(st->fd, TIOCMGET, &m) < 0)
        return -errno;
    int out = 0;
    out |= (m & TIOCM_DTR) ? WIRE_SERIAL_DTR : 0;
    out |= (m & TIOCM_RTS) ? WIRE_SERIAL_RTS : 0;
    out |= (m & TIOCM_CTS) ? WIRE_SERIAL_CTS : 0;
    out |= (m & TIOCM_DSR) ? WIRE_SERIAL_DSR : 0;
    out |= (m & TIOCM_CAR) ? WIRE_SERIAL_CD : 0;
    out |= (m & TIOCM_RNG) ? WIRE_SERIAL_RI : 0;
    return out;
}

int
wire_serial_send_break(struct wire_transport *t, unsigned ms)
{
    struct serial_transport *st = NULL;
    int rc = usable(t, &st);
    if (rc < 0)
        return rc;
    if (ms > SERIAL_MAX_BREAK_MS)
        return WIRE_EINVAL;
    if (ms == 0) /* the driver's own length, after the output drained */
        return tcsendbreak(st->fd, 0) < 0 ? -errno : 0;
    /* The break follows what the device still holds, as tcsendbreak's
     * does, but without waiting for ever on a line held by flow control. */
    drain_bounded(st);
    if (ioctl(st->fd, TIOCSBRK) < 0)
        return -errno;
    struct timespec d = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) < 0 && errno == EINTR)
        ;
    return ioctl(st->fd, TIOCCBRK) < 0 ? -errno : 0;
}
