/*
 * Private to transports/serial*.c: the serial transport's work on a tty
 * that is not the transport itself.
 *
 * serial_line.c checks the options and applies them: raw mode plus the
 * line settings, read back afterwards so a setting the device did not
 * take is an error naming it.  serial_baud.c is what needs Linux's
 * termios2 (<asm/termbits.h>: TCGETS2/TCSETS2, BOTHER), which cannot share
 * a file with <termios.h>: it saves and restores a device's settings whole
 * (a custom speed included, which struct termios cannot carry), sets
 * speeds that have no B constant and reads the speed back.  Elsewhere
 * than Linux the same calls fall back to plain termios and custom speeds
 * are refused.
 */
#ifndef WIRE_TRANSPORTS_SERIAL_LINE_H
#define WIRE_TRANSPORTS_SERIAL_LINE_H

#include <wire/serial.h>

#include <stdbool.h>
#include <stdint.h>

/* ---- serial_line.c ---- */

/* The endpoint names of parity and flow control, by enum value. */
extern const char *const wire__serial_parity_names[3];
extern const char *const wire__serial_flow_names[3];

/* Copy `in` (NULL: all defaults) into `o` with the defaults filled in,
 * and check the ranges.  Returns 0 or WIRE_EINVAL with a message that
 * starts with `who` (the device) and names the option ("bits=9"). */
int wire__serial_normalize(const struct wire_serial_options *in,
                           struct wire_serial_options *o, const char *who,
                           struct wire_error *err);

/* Put `fd` in raw mode with the line settings of `o` (normalized), then
 * read them back.  Returns 0, or a negative code with `err` naming the
 * setting the device refused ("baud 123: not supported by this device");
 * the device may then be half changed: the caller puts back what it
 * saved. */
int wire__serial_apply(int fd, const struct wire_serial_options *o,
                       const char *who, struct wire_error *err);

/* ---- serial_baud.c ---- */

/* Every setting of a tty, as the kernel keeps them. */
struct wire__serial_saved {
    bool ok;                   /* filled by wire__serial_save */
    unsigned char raw[128];    /* a struct termios2 (or termios) */
};

/* Save every setting of `fd`.  Returns 0 or -errno. */
int wire__serial_save(int fd, struct wire__serial_saved *s);

/* Put saved settings back at once.  Returns 0 or -errno. */
int wire__serial_restore(int fd, const struct wire__serial_saved *s);

/* Set both speeds of `fd` to `baud` on top of its other settings, as a
 * custom rate (BOTHER).  Returns 0, -errno, or -ENOTSUP where the system
 * has no custom rates. */
int wire__serial_set_custom_baud(int fd, uint32_t baud);

/* The output speed of `fd` in baud, custom or standard.  Returns 0 or
 * -errno. */
int wire__serial_get_baud(int fd, uint32_t *baud);

#endif
