/*
 * The settings half of the serial transport (see serial_line.h): the
 * options checked and defaulted, raw mode and the line settings made into
 * a struct termios, applied, and read back so that a setting the device
 * did not take is an error naming it.  Speeds without a B constant go
 * through serial_baud.c.
 */
#include "serial_line.h"

#include <errno.h>
#include <string.h>
#include <termios.h>

/* ---- options ---- */

static const struct {
    uint32_t baud;
    speed_t code;
} std_rates[] = {
    {50, B50}, {75, B75}, {110, B110}, {134, B134}, {150, B150},
    {200, B200}, {300, B300}, {600, B600}, {1200, B1200}, {1800, B1800},
    {2400, B2400}, {4800, B4800}, {9600, B9600}, {19200, B19200},
    {38400, B38400}, {57600, B57600}, {115200, B115200},
    {230400, B230400},
#ifdef B460800
    {460800, B460800}, {500000, B500000}, {576000, B576000},
    {921600, B921600}, {1000000, B1000000}, {1152000, B1152000},
    {1500000, B1500000}, {2000000, B2000000}, {2500000, B2500000},
    {3000000, B3000000}, {3500000, B3500000}, {4000000, B4000000},
#endif
};

static bool
std_rate(uint32_t baud, speed_t *code)
{
    for (size_t i = 0; i < sizeof(std_rates) / sizeof(std_rates[0]); i++)
        if (std_rates[i].baud == baud) {
            *code = std_rates[i].code;
            return true;
        }
    return false;
}

int
wire__serial_normalize(const struct wire_serial_options *in, struct wire_serial_options *o,
          const char *who, struct wire_error *err)
{
    memset(o, 0, sizeof(*o));
    if (in != NULL)
        *o = *in;
    if (o->baud == 0)
        o->baud = 9600;
    if (o->data_bits == 0)
        o->data_bits = 8;
    if (o->stop_bits == 0)
        o->stop_bits = 1;
    if (o->data_bits < 5 || o->data_bits > 8)
        return wire_error_set(err, WIRE_EINVAL,
                              "%s: bits=%d: data bits must be 5, 6, 7 or 8",
                              who, o->data_bits);
    if (o->stop_bits != 1 && o->stop_bits != 2)
        return wire_error_set(err, WIRE_EINVAL,
                              "%s: stop=%d: stop bits must be 1 or 2", who,
                              o->stop_bits);
    if (o->parity < WIRE_PARITY_NONE || o->parity > WIRE_PARITY_ODD)
        return wire_error_set(err, WIRE_EINVAL,
                              "%s: parity=%d: not none, even or odd", who,
                              o->parity);
    if (o->flow < WIRE_FLOW_NONE || o->flow > WIRE_FLOW_XONXOFF)
        return wire_error_set(err, WIRE_EINVAL,
                              "%s: flow=%d: not none, rtscts or xonxoff", who,
                              o->flow);
    return 0;
}

const char *const wire__serial_parity_names[3] = {"none", "even", "odd"};
const char *const wire__serial_flow_names[3] = {"none", "rtscts", "xonxoff"};

/* ---- applying settings ---- */

/* Raw mode (as cfmakeraw, spelled out: it is not POSIX) with the line
 * settings of `o`, on top of what the device has (`t`). */
static void
make_termios(struct termios *t, const struct wire_serial_options *o)
{
    /* No input translation (CR/NL, case, 8th bit), no break or parity
     * marking, no software flow control unless asked. */
    t->c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR |
                              IGNCR | ICRNL | IXON | IXOFF | IXANY | INPCK);
#ifdef IUCLC
    t->c_iflag &= ~(tcflag_t)IUCLC;
#endif
#ifdef IMAXBEL
    t->c_iflag &= ~(tcflag_t)IMAXBEL;
#endif
    /* Parity errors: the byte passes as received (no marking). */
    t->c_iflag |= IGNPAR;
    if (o->parity != WIRE_PARITY_NONE)
        t->c_iflag &= ~(tcflag_t)IGNPAR;
    /* No output processing (NL -> CR NL and the like). */
    t->c_oflag &= ~(tcflag_t)OPOST;
    /* No echo, no line editing, no signals from ^C/^Z/^\. */
    t->c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL | ICANON | ISIG |
                              IEXTEN);
#ifdef ECHOCTL
    t->c_lflag &= ~(tcflag_t)(ECHOCTL | ECHOKE);
#endif
    /* Line: receiver on, modem lines ignored for open/read (CLOCAL), and
     * the data bits, parity, stop bits and flow control asked. */
    t->c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB);
#ifdef CRTSCTS
    t->c_cflag &= ~(tcflag_t)CRTSCTS;
#endif
#ifdef CMSPAR
    t->c_cflag &= ~(tcflag_t)CMSPAR;
#endif
    t->c_cflag |= CREAD | CLOCAL;
    static const tcflag_t sizes[] = {CS5, CS6, CS7, CS8};
    t->c_cflag |= sizes[o->data_bits - 5];
    if (o->parity == WIRE_PARITY_EVEN)
        t->c_cflag |= PARENB;
    else if (o->parity == WIRE_PARITY_ODD)
        t->c_cflag |= PARENB | PARODD;
    if (o->stop_bits == 2)
        t->c_cflag |= CSTOPB;
    if (o->flow == WIRE_FLOW_RTSCTS) {
#ifdef CRTSCTS
        t->c_cflag |= CRTSCTS;
#endif
    } else if (o->flow == WIRE_FLOW_XONXOFF) {
        t->c_iflag |= IXON | IXOFF;
    }
    /* A read returns what is there (at least one byte; the fd is
     * non-blocking anyway). */
    t->c_cc[VMIN] = 1;
    t->c_cc[VTIME] = 0;
}

/* Read the settings back and name the first one the device did not take
 * (a pty keeps 8 data bits and no parity whatever it is told; a USB
 * adapter may round a speed it cannot make). */
static int
verify(int fd, const struct wire_serial_options *o, const char *who,
       struct wire_error *err)
{
    struct termios t;
    if (tcgetattr(fd, &t) < 0)
        return wire_error_set(err, -errno, "%s: reading the settings back: %s",
                              who, strerror(errno));
    uint32_t got = 0;
    int rc = wire__serial_get_baud(fd, &got);
    if (rc < 0)
        return wire_error_set(err, rc, "%s: reading the speed back: %s", who,
                              wire_strerror(rc));
    /* 2% is what a UART's clock may miss the rate by and still talk. */
    uint64_t diff = got > o->baud ? got - o->baud : o->baud - got;
    if (diff * 50 > o->baud)
        return wire_error_set(err, WIRE_EINVAL,
                              "%s: baud %u: not supported by this device (it "
                              "set %u)", who, o->baud, got);
    static const tcflag_t sizes[] = {CS5, CS6, CS7, CS8};
    if ((t.c_cflag & CSIZE) != sizes[o->data_bits - 5])
        return wire_error_set(err, WIRE_EINVAL,
                              "%s: bits=%d: not supported by this device",
                              who, o->data_bits);
    bool parenb = (t.c_cflag & PARENB) != 0;
    bool parodd = (t.c_cflag & PARODD) != 0;
    if (parenb != (o->parity != WIRE_PARITY_NONE) ||
        (parenb && parodd != (o->parity == WIRE_PARITY_ODD)))
        return wire_error_set(err, WIRE_EINVAL,
                              "%s: parity=%s: not supported by this device",
                              who, wire__serial_parity_names[o->parity]);
    if (((t.c_cflag & CSTOPB) != 0) != (o->stop_bits == 2))
        return wire_error_set(err, WIRE_EINVAL,
                              "%s: stop=%d: not supported by this device",
                              who, o->stop_bits);
    bool rtscts = false;
#ifdef CRTSCTS
    rtscts = (t.c_cflag & CRTSCTS) != 0;
#endif
    bool xon = (t.c_iflag & (IXON | IXOFF)) == (IXON | IXOFF);
    if (rtscts != (o->flow == WIRE_FLOW_RTSCTS) ||
        xon != (o->flow == WIRE_FLOW_XONXOFF))
        return wire_error_set(err, WIRE_EINVAL,
                              "%s: flow=%s: not supported by this device",
                              who, wire__serial_flow_names[o->flow]);
    return 0;
}

int
wire__serial_apply(int fd, const struct wire_serial_options *o, const char *who,
      struct wire_error *err)
{
    struct termios t;
    if (tcgetattr(fd, &t) < 0)
        return wire_error_set(err, -errno, "%s: %s", who, strerror(errno));
    make_termios(&t, o);
    speed_t code;
    bool std = std_rate(o->baud, &code);
    if (std) {
        cfsetispeed(&t, code);
        cfsetospeed(&t, code);
    }
    if (tcsetattr(fd, TCSANOW, &t) < 0) {
        int e = errno;
        /* Linux refuses (EINVAL) a change of which it can make no part,
         * e.g. only parity on a pty.  Apply the rest, keeping the data
         * bits and parity the device has: verify() then names the one it
         * refused. */
        struct termios now;
        if (e != EINVAL || tcgetattr(fd, &now) < 0)
            return wire_error_set(err, -e, "%s: applying the settings: %s",
                                  who, strerror(e));
        t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD);
        t.c_cflag |= now.c_cflag & (CSIZE | PARENB | PARODD);
        if (tcsetattr(fd, TCSANOW, &t) < 0)
            return wire_error_set(err, -e, "%s: applying the settings: %s",
                                  who, strerror(e));
    }
    if (!std) {
        int rc = wire__serial_set_custom_baud(fd, o->baud);
        if (rc == -ENOTSUP)
            return wire_error_set(err, WIRE_EINVAL,
                                  "%s: baud %u: not a standard rate, and this "
                                  "system sets no others", who, o->baud);
        if (rc < 0)
            return wire_error_set(err, WIRE_EINVAL,
                                  "%s: baud %u: not supported by this device "
                                  "(%s)", who, o->baud, wire_strerror(rc));
    }
    return verify(fd, o, who, err);
}
