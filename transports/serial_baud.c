/*
 * Linux termios2 for the serial transport (see serial_line.h).
 *
 * <asm/termbits.h> defines its own struct termios, which clashes with the
 * C library's <termios.h>; this file includes only the former, so the rest
 * of the serial transport can use plain POSIX termios.  struct termios2
 * adds c_ispeed/c_ospeed: with BOTHER in c_cflag they hold any rate the
 * driver can make, and TCGETS2 reports the rate in use even when it is a
 * standard one.
 */
#include "serial_line.h"

#include <errno.h>
#include <string.h>

#if defined(__linux__)
#include <asm/termbits.h>
#include <sys/ioctl.h>

_Static_assert(sizeof(struct termios2) <= sizeof(((struct wire__serial_saved *)0)->raw),
               "struct termios2 does not fit in wire__serial_saved");

static int
get2(int fd, struct termios2 *t)
{
    memset(t, 0, sizeof(*t));
    return ioctl(fd, TCGETS2, t) < 0 ? -errno : 0;
}

int
wire__serial_save(int fd, struct wire__serial_saved *s)
{
    struct termios2 t;
    s->ok = false;
    int rc = get2(fd, &t);
    if (rc < 0)
        return rc;
    memcpy(s->raw, &t, sizeof(t));
    s->ok = true;
    return 0;
}

int
wire__serial_restore(int fd, const struct wire__serial_saved *s)
{
    struct termios2 t;
    if (!s->ok)
        return -EINVAL;
    memcpy(&t, s->raw, sizeof(t));
    return ioctl(fd, TCSETS2, &t) < 0 ? -errno : 0;
}

int
wire__serial_set_custom_baud(int fd, uint32_t baud)
{
    struct termios2 t;
    int rc = get2(fd, &t);
    if (rc < 0)
        return rc;
    /* Both directions at `baud`: BOTHER for output, and no separate input
     * rate (the input field of c_cflag cleared means "same as output"). */
    t.c_cflag &= ~(tcflag_t)(CBAUD | (CBAUD << IBSHIFT));
    t.c_cflag |= BOTHER;
    t.c_ospeed = t.c_ispeed = baud;
    return ioctl(fd, TCSETS2, &t) < 0 ? -errno : 0;
}

int
wire__serial_get_baud(int fd, uint32_t *baud)
{
    struct termios2 t;
    int rc = get2(fd, &t);
    if (rc < 0)
        return rc;
    *baud = t.c_ospeed;
    return 0;
}

#else /* not Linux: plain termios, standard rates only */
#include <termios.h>

_Static_assert(sizeof(struct termios) <= sizeof(((struct wire__serial_saved *)0)->raw),
               "struct termios does not fit in wire__serial_saved");

int
wire__serial_save(int fd, struct wire__serial_saved *s)
{
    struct termios t;
    s->ok = false;
    if (tcgetattr(fd, &t) < 0)
        return -errno;
    memcpy(s->raw, &t, sizeof(t));
    s->ok = true;
    return 0;
}

int
wire__serial_restore(int fd, const struct wire__serial_saved *s)
{
    struct termios t;
    if (!s->ok)
        return -EINVAL;
    memcpy(&t, s->raw, sizeof(t));
    return tcsetattr(fd, TCSANOW, &t) < 0 ? -errno : 0;
}

int
wire__serial_set_custom_baud(int fd, uint32_t baud)
{
    (void)fd;
    (void)baud;
    return -ENOTSUP;
}

int
wire__serial_get_baud(int fd, uint32_t *baud)
{
    struct termios t;
    if (tcgetattr(fd, &t) < 0)
        return -errno;
    /* BSDs keep the rate itself in speed_t. */
    *baud = (uint32_t)cfgetospeed(&t);
    return 0;
}
#endif
