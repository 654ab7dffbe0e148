/*
 * termios2 for the serial suite (see serial_tty.h): apart from
 * check_serial.c because <asm/termbits.h> and <termios.h> clash.
 */
#include "serial_tty.h"

#include <errno.h>

#if defined(__linux__)
#include <asm/termbits.h>
#include <sys/ioctl.h>

int
unit_tty_get_baud(int fd, unsigned *baud)
{
    struct termios2 t;
    if (ioctl(fd, TCGETS2, &t) < 0)
        return -1;
    *baud = t.c_ospeed;
    return 0;
}

int
unit_tty_set_baud(int fd, unsigned baud)
{
    struct termios2 t;
    if (ioctl(fd, TCGETS2, &t) < 0)
        return -1;
    t.c_cflag &= ~(tcflag_t)(CBAUD | (CBAUD << IBSHIFT));
    t.c_cflag |= BOTHER;
    t.c_ispeed = t.c_ospeed = baud;
    return ioctl(fd, TCSETS2, &t);
}
#else
int
unit_tty_get_baud(int fd, unsigned *baud)
{
    (void)fd;
    (void)baud;
    errno = ENOSYS;
    return -1;
}

int
unit_tty_set_baud(int fd, unsigned baud)
{
    (void)fd;
    (void)baud;
    errno = ENOSYS;
    return -1;
}
#endif
