/*
 * libwire — serial lines (POSIX termios).
 *
 * `serial:/dev/ttyUSB0?baud=115200&bits=8&parity=none&stop=1&flow=none`
 * opens the device in raw mode with exclusive access (TIOCEXCL), applies
 * the settings, and restores the device's previous settings when the
 * transport closes.  A serial line cannot half-close (write_eof is not
 * offered) and cannot be reset; a hangup (the other end of a pty closing,
 * a USB adapter unplugged) reads as EOF.
 *
 * Baud: every standard rate from 50 to 4000000; other rates where Linux
 * allows them (termios2 BOTHER).  Data bits 5-8, parity none/even/odd,
 * stop bits 1 or 2, flow none/rtscts/xonxoff.
 */
#ifndef WIRE_SERIAL_H
#define WIRE_SERIAL_H

#include <stdbool.h>
#include <stdint.h>
#include <wire/common.h>
#include <wire/loop.h>
#include <wire/protocol.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

enum wire_serial_parity {
    WIRE_PARITY_NONE = 0,
    WIRE_PARITY_EVEN = 1,
    WIRE_PARITY_ODD = 2
};

enum wire_serial_flow {
    WIRE_FLOW_NONE = 0,
    WIRE_FLOW_RTSCTS = 1,
    WIRE_FLOW_XONXOFF = 2
};

struct wire_serial_options {
    uint32_t baud;    /**< 0: 9600 */
    int data_bits;    /**< 5-8; 0: 8 */
    int parity;       /**< enum wire_serial_parity */
    int stop_bits;    /**< 1 or 2; 0: 1 */
    int flow;         /**< enum wire_serial_flow */
    bool shared;      /**< do not take exclusive access (TIOCEXCL) */
};

/** Modem lines (wire_serial_get_modem). */
enum {
    WIRE_SERIAL_DTR = 1 << 0,
    WIRE_SERIAL_RTS = 1 << 1,
    WIRE_SERIAL_CTS = 1 << 2,
    WIRE_SERIAL_DSR = 1 << 3,
    WIRE_SERIAL_CD = 1 << 4,
    WIRE_SERIAL_RI = 1 << 5
};

/**
 * Open `path` as a serial line with `opts` (NULL: 9600 8N1, no flow
 * control); `p` starts from the loop.  Returns 0 and sets `*out` (may be
 * NULL), or a negative code with `err` saying what is wrong (no such
 * device, not a tty, busy, a baud rate the device refuses); on error `p`
 * stays the caller's.
 */
WIRE_EXPORT int wire_serial_open(struct wire_loop *loop, const char *path,
                                 const struct wire_serial_options *opts,
                                 struct wire_protocol *p,
                                 struct wire_transport **out,
                                 struct wire_error *err);

/** Change the line settings of an open serial transport. */
WIRE_EXPORT int wire_serial_configure(struct wire_transport *t,
                                      const struct wire_serial_options *opts,
                                      struct wire_error *err);
/** Raise or drop DTR / RTS. */
WIRE_EXPORT int wire_serial_set_dtr(struct wire_transport *t, bool on);
WIRE_EXPORT int wire_serial_set_rts(struct wire_transport *t, bool on);
/** The modem lines now (WIRE_SERIAL_* bits), or a negative code. */
WIRE_EXPORT int wire_serial_get_modem(struct wire_transport *t);
/** Send a break of about `ms` milliseconds (0: the driver's default,
 *  0.25-0.5 s).  Blocks the calling thread for that long. */
WIRE_EXPORT int wire_serial_send_break(struct wire_transport *t, unsigned ms);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_SERIAL_H */
