/**
 * @file
 * libwire — serial lines (POSIX termios).
 *
 * `serial:/dev/ttyUSB0?baud=115200&bits=8&parity=none&stop=1&flow=none`
 * opens the device in raw mode with exclusive access, applies the
 * settings, and restores the device's previous settings when the
 * transport closes.  Parameters (all optional): baud (default 9600),
 * bits 5-8 (8), parity none/even/odd (none), stop 1 or 2 (1), flow
 * none/rtscts/xonxoff (none), exclusive yes/no (yes).  A bad value is a
 * synchronous WIRE_EENDPOINT naming the parameter; a device that cannot
 * be opened or configured is reported to the connect callback.
 *
 * Raw mode: every byte passes unchanged both ways (no echo, no CR/LF
 * translation, no line editing, no signal characters, no XON/XOFF unless
 * flow=xonxoff).  Exclusive access: TIOCEXCL and flock(); a device that
 * someone else holds with TIOCEXCL is refused even for root, whom the
 * kernel would let through.
 *
 * A serial line cannot half-close (write_eof is not offered: it returns
 * WIRE_ENOTSUP) and cannot be reset (abort drops what is queued, in the
 * transport and in the device, and closes).  close sends what is queued,
 * lets the device send what it holds (blocking for about the time that
 * takes at the line's rate, 2 s at most: a line held by flow control
 * would hold it for ever), then puts the old settings back.  A hangup
 * (the other end of a pty closing, a USB adapter unplugged) reads as
 * EOF; a write after it fails with -EPIPE.  On a pty, what the slave has
 * not read when the master closes is lost: the kernel discards it.
 *
 * Baud: every standard rate from 50 to 4000000; other rates where Linux
 * allows them (termios2 BOTHER).  Data bits 5-8, parity none/even/odd,
 * stop bits 1 or 2, flow none/rtscts/xonxoff.  Every setting is read back
 * after it is applied: one the device did not take is an error naming it
 * ("baud 123: not supported by this device"; a pty keeps 8 data bits and
 * no parity, so it refuses bits=5..7 and parity=even/odd).
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

/** Parity (struct wire_serial_options.parity; `parity=` in the endpoint). */
enum wire_serial_parity {
    WIRE_PARITY_NONE = 0, /**< no parity bit (`none`) */
    WIRE_PARITY_EVEN = 1, /**< even parity (`even`) */
    WIRE_PARITY_ODD = 2   /**< odd parity (`odd`) */
};

/** Flow control (struct wire_serial_options.flow; `flow=`). */
enum wire_serial_flow {
    WIRE_FLOW_NONE = 0,   /**< none (`none`) */
    WIRE_FLOW_RTSCTS = 1, /**< hardware, RTS/CTS (`rtscts`) */
    WIRE_FLOW_XONXOFF = 2 /**< software, XON/XOFF characters (`xonxoff`) */
};

/** Line settings for wire_serial_open() and wire_serial_configure(); a
 *  zero-initialised struct is 9600 8N1, no flow control, exclusive. */
struct wire_serial_options {
    uint32_t baud;    /**< 0: 9600 */
    int data_bits;    /**< 5-8; 0: 8 */
    int parity;       /**< enum wire_serial_parity */
    int stop_bits;    /**< 1 or 2; 0: 1 */
    int flow;         /**< enum wire_serial_flow */
    /** do not take exclusive access (TIOCEXCL, flock); a device that
     *  another program holds exclusively is refused all the same */
    bool shared;
};

/** Modem lines (wire_serial_get_modem). */
enum {
    WIRE_SERIAL_DTR = 1 << 0, /**< Data Terminal Ready (ours) */
    WIRE_SERIAL_RTS = 1 << 1, /**< Request To Send (ours) */
    WIRE_SERIAL_CTS = 1 << 2, /**< Clear To Send (the peer's) */
    WIRE_SERIAL_DSR = 1 << 3, /**< Data Set Ready (the peer's) */
    WIRE_SERIAL_CD = 1 << 4,  /**< Carrier Detect */
    WIRE_SERIAL_RI = 1 << 5   /**< Ring Indicator */
};

/**
 * Open `path` as a serial line with `opts` (NULL: 9600 8N1, no flow
 * control, exclusive); `p` starts from the loop (connection_made on a
 * later turn).  Returns 0 and sets `*out` (may be NULL; the transport is
 * the loop's until connection_lost), or a negative code with `err` saying
 * what is wrong, and `p` stays the caller's:
 *   -ENOENT   "serial:/dev/ttyUSB9: no such device" (also ENODEV, ENXIO)
 *   -ENOTTY   "serial:/dev/null: is not a tty ..."
 *   -EBUSY    "serial:/dev/ttyUSB0: is busy (opened exclusively elsewhere)"
 *   -EACCES   permission denied (the message suggests the dialout group)
 *   WIRE_EINVAL  an option out of range, or a setting the device refused
 *             ("baud 123: not supported by this device"), or a NULL
 *             `loop`, `path` or `p`
 *   WIRE_ENOMEM
 *
 * The device is opened and configured before this returns; on success the
 * transport owns `p`.
 */
WIRE_EXPORT int wire_serial_open(struct wire_loop *loop, const char *path,
                                 const struct wire_serial_options *opts,
                                 struct wire_protocol *p,
                                 struct wire_transport **out,
                                 struct wire_error *err);

/**
 * Change the line settings of an open serial transport (the same options
 * as wire_serial_open; `shared` gives up or takes exclusive access).  All
 * or nothing: when the device refuses a setting, its settings stay as they
 * were and the error names the setting.  Bytes already handed to the
 * device may go out at the new settings.  Returns 0, WIRE_EINVAL (not a
 * serial transport, an option out of range, a refused setting),
 * WIRE_ECLOSED (the transport closed), or -errno.
 */
WIRE_EXPORT int wire_serial_configure(struct wire_transport *t,
                                      const struct wire_serial_options *opts,
                                      struct wire_error *err);

/**
 * Raise (`on`) or drop DTR / RTS.  Returns 0, WIRE_EINVAL when `t` is not
 * a serial transport, WIRE_ECLOSED once it closed, or -errno from the
 * device: -ENOTTY when it has no modem lines (a pty).  With flow=rtscts
 * the driver drives RTS itself.
 */
WIRE_EXPORT int wire_serial_set_dtr(struct wire_transport *t, bool on);
/** Raise (`on`) or drop RTS; returns as wire_serial_set_dtr(). */
WIRE_EXPORT int wire_serial_set_rts(struct wire_transport *t, bool on);

/** The modem lines now (WIRE_SERIAL_* bits), or a negative code as for
 *  wire_serial_set_dtr (-ENOTTY: no modem lines, as on a pty). */
WIRE_EXPORT int wire_serial_get_modem(struct wire_transport *t);

/**
 * Send a break of about `ms` milliseconds (0: the driver's default,
 * 0.25-0.5 s; at most 10000, else WIRE_EINVAL).  The break follows what
 * the device already holds (waited for at most 2 s); bytes still queued
 * in the transport go after it.  Blocks the calling thread for that long.
 * Returns 0 or a negative code as for wire_serial_set_dtr.  A pty takes
 * it and sends nothing.
 */
WIRE_EXPORT int wire_serial_send_break(struct wire_transport *t, unsigned ms);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_SERIAL_H */
