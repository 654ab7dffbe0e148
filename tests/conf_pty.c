/*
 * The "serial-pty" factory's pair maker and failing connects (see
 * conf_factories.c): a fresh pty for every pair.  The client is the serial transport on the slave,
 * opened by its path as a user opens /dev/ttyUSB0 (raw mode, exclusive
 * access, 115200 8N1); the server is the master, wrapped as a pipe
 * transport over the one fd.
 *
 * What the pty itself does, and the factory declares (conf.h):
 *  - neither end can half-close or reset: the slave is a serial line, and
 *    a tty has no "end of data" but a hangup;
 *  - the slave closing is an EOF for the master (its reads give what is
 *    left, then EIO, which the pipe transport reads as the end), and the
 *    master closing hangs the slave up (EOF, then writes fail with EPIPE);
 *  - a hangup discards what the slave has not read yet: the kernel
 *    flushes its input queue and the slave's reads return 0.  A graceful
 *    close by the master can therefore lose bytes already handed to the
 *    kernel (server_close_drops), where a close by the slave cannot.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* ptsname_r */
#endif
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int
conf_pty_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                   struct wire_protocol *server)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CK(c, m >= 0, "posix_openpt: %s", strerror(errno));
    char path[128];
    CK(c, grantpt(m) == 0 && unlockpt(m) == 0 &&
              ptsname_r(m, path, sizeof(path)) == 0,
       "pty setup: %s", strerror(errno));
    /* The slave first: a master read before any slave was opened gives
     * EIO, which would read as an EOF. */
    struct wire_serial_options o = {.baud = 115200};
    struct wire_error err = {0};
    int rc = wire_serial_open(c->loop, path, &o, client, NULL, &err);
    CK(c, rc == 0, "wire_serial_open(%s): %s", path, err.message);
    rc = wire_pipe_open(c->loop, m, m, server, NULL, NULL, &err);
    CK(c, rc == 0, "wire_pipe_open(pty master): %s", err.message);
    wire_error_clear(&err);
    return 0;
}

/* A fresh pty whose master (and, when `excl`, a slave fd holding
 * exclusive access) the case keeps until its end.  Returns the slave's
 * path in `path`. */
static void
held_pty(struct conf_ctx *c, bool excl, char *path, size_t len)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CK(c, m >= 0, "posix_openpt: %s", strerror(errno));
    conf_hold_fd(c, m);
    CK(c, grantpt(m) == 0 && unlockpt(m) == 0 && ptsname_r(m, path, len) == 0,
       "pty setup: %s", strerror(errno));
    if (!excl)
        return;
    int s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    CK(c, s >= 0, "open %s: %s", path, strerror(errno));
    conf_hold_fd(c, s);
    CK(c, ioctl(s, TIOCEXCL) == 0, "TIOCEXCL: %s", strerror(errno));
}

int
conf_pty_fail_cases(struct conf_ctx *c, struct conf_fail_case *out, int max)
{
    char path[128];
    int n = 0;
    if (max < 4)
        return 0;
    snprintf(out[n].label, sizeof(out[n].label), "no such device");
    snprintf(out[n].endpoint, sizeof(out[n].endpoint),
             "serial:/dev/wire-no-such-tty-%ld-%u", (long)getpid(),
             c->serial++);
    out[n].code = -ENOENT;
    snprintf(out[n].needle, sizeof(out[n].needle),
             "serial:/dev/wire-no-such-tty-%ld-%u: no such device",
             (long)getpid(), c->serial - 1);
    n++;
    snprintf(out[n].label, sizeof(out[n].label), "not a tty");
    snprintf(out[n].endpoint, sizeof(out[n].endpoint), "serial:/dev/null");
    out[n].code = -ENOTTY;
    snprintf(out[n].needle, sizeof(out[n].needle),
             "serial:/dev/null: is not a tty");
    n++;
    /* Held exclusively by someone else (refused even for root). */
    held_pty(c, true, path, sizeof(path));
    snprintf(out[n].label, sizeof(out[n].label), "busy");
    snprintf(out[n].endpoint, sizeof(out[n].endpoint), "serial:%s", path);
    out[n].code = -EBUSY;
    snprintf(out[n].needle, sizeof(out[n].needle),
             "serial:%s: is busy (opened exclusively elsewhere)", path);
    n++;
    /* A setting the device does not take: a pty keeps no parity. */
    held_pty(c, false, path, sizeof(path));
    snprintf(out[n].label, sizeof(out[n].label), "setting refused");
    snprintf(out[n].endpoint, sizeof(out[n].endpoint),
             "serial:%s?baud=115200&parity=even", path);
    out[n].code = WIRE_EINVAL;
    snprintf(out[n].needle, sizeof(out[n].needle),
             "serial:%s: parity=even: not supported by this device", path);
    n++;
    return n;
}
