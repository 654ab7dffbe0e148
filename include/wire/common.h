/**
 * @file
 * libwire — common definitions: the export macro, the error table and
 * struct wire_error.
 *
 * Every libwire function that can fail returns 0 (or a non-negative count)
 * on success and a negative code on failure: -errno for system errors and
 * WIRE_E* for the library's own conditions.  One X-macro table below makes
 * the enum, wire_strerror() and wire_err_name(), so the three never drift.
 */
#ifndef WIRE_COMMON_H
#define WIRE_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a function as part of the library's ABI: exported from the
 *  shared library, which hides every other symbol (-fvisibility=hidden).
 *  Empty for programs that use the library. */
#if defined(WIRE_BUILDING) && defined(__GNUC__)
#define WIRE_EXPORT __attribute__((visibility("default")))
#else
#define WIRE_EXPORT
#endif

/** Lets the compiler check a printf-style function's arguments: `f` is the
 *  position of the format argument, `a` of the first value (GCC and
 *  Clang; empty elsewhere). */
#if defined(__GNUC__)
#define WIRE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define WIRE_PRINTF(f, a)
#endif

/**
 * The table of the library's own error codes.  They live far below any
 * errno value (errno values are small positive numbers, negated), so
 * -errno and WIRE_E* never collide.
 *
 * An X-macro: each row is `XX(name, value, message)`: `name` is the code's
 * name without its WIRE_ prefix, `value` the code and `message` what
 * wire_strerror() returns for it.  Expand it with your own `XX` to build
 * a table (as enum wire_errno, wire_strerror() and wire_err_name() do).
 */
#define WIRE_ERRNO_MAP(XX)                                                    \
    XX(ECLOSED, -30001, "transport is closed or closing")                     \
    XX(EMSGSIZE, -30002, "message exceeds the configured limit")              \
    XX(EPROTO, -30003, "protocol error")                                      \
    XX(ETLS, -30004, "TLS error")                                             \
    XX(ETIMEDOUT, -30005, "operation timed out")                              \
    XX(EENDPOINT, -30006, "invalid endpoint")                                 \
    XX(ENOSCHEME, -30007, "unknown endpoint scheme")                          \
    XX(EABORTED, -30008, "connection aborted locally")                        \
    XX(ERESOLVE, -30009, "host name resolution failed")                       \
    XX(ENOTSUP, -30010, "operation not supported by this transport")          \
    XX(ESTATE, -30011, "operation not allowed in the current state")          \
    XX(ENOMEM, -30012, "out of memory")                                       \
    XX(EINVAL, -30013, "invalid argument")                                    \
    XX(ESHUTDOWN, -30014, "server is shutting down")                          \
    XX(ECONTRACT, -30015, "protocol callback contract violated")              \
    XX(ECANCELED, -30016, "operation canceled")                               \
    XX(EINCOMPLETE, -30017, "input ended in the middle of a message")         \
    XX(EEXIT, -30018, "child process exited unsuccessfully")

/**
 * The library's own error codes, WIRE_ECLOSED ... WIRE_EEXIT, one for
 * each row of WIRE_ERRNO_MAP (whose third column says what each means, as
 * wire_strerror() does).  Every value is already negative, like -errno
 * codes: functions return them as they are.
 */
enum wire_errno {
#define WIRE__ERR_ENUM(name, value, msg) WIRE_##name = (value),
    WIRE_ERRNO_MAP(WIRE__ERR_ENUM)
#undef WIRE__ERR_ENUM
    WIRE__ERRNO_END
};

/**
 * Human-readable text for any code libwire returns (0, -errno or WIRE_E*):
 * "success" for 0, the C library's text for -errno, the WIRE_ERRNO_MAP
 * message for WIRE_E*.  Never returns NULL; unknown codes give "unknown
 * error".  The string is static (and thread-safe to use).
 */
WIRE_EXPORT const char *wire_strerror(int code);

/**
 * The symbolic name of a code: "WIRE_ECLOSED", "ECONNRESET", ... ("OK" for
 * 0, "UNKNOWN" for a code it cannot name).  Never NULL; the string is
 * static.
 */
WIRE_EXPORT const char *wire_err_name(int code);

/**
 * An error with its detail.  `code` is 0 or negative as above; `message`
 * is a full sentence fragment a person can act on ("connect to
 * 127.0.0.1:1: Connection refused").  An error handed to a callback is
 * valid only during that callback.  An error filled in through an out
 * parameter belongs to the caller, who releases it with wire_error_clear().
 *
 * A zero-initialised struct wire_error means "no error".
 */
struct wire_error {
    int code;            /**< 0 or a negative code */
    const char *message; /**< never NULL once code != 0 */
    char *owned__;       /**< internal: heap copy of message, if any */
};

/** Set `err` (if not NULL) to `code` with a printf-formatted message.
 *  Releases what `err` held before (the arguments may point into its old
 *  message).  The message is a heap copy owned by `err` until
 *  wire_error_clear(); if `fmt` is NULL or formatting fails, the message
 *  is wire_strerror(code).  Returns `code`, so it can be written
 *  `return wire_error_set(err, WIRE_EPROTO, "...")`. */
WIRE_EXPORT int wire_error_set(struct wire_error *err, int code,
                               const char *fmt, ...) WIRE_PRINTF(3, 4);
/** wire_error_set() with a va_list.  Returns `code`. */
WIRE_EXPORT int wire_error_setv(struct wire_error *err, int code,
                                const char *fmt, va_list ap);
/** Copy `src` into `dst` (deep copy; `dst` releases what it held).  Either
 *  may be NULL: a NULL or zero `src` clears `dst`. */
WIRE_EXPORT void wire_error_copy(struct wire_error *dst,
                                 const struct wire_error *src);
/** Release what `err` holds and zero it.  Accepts NULL. */
WIRE_EXPORT void wire_error_clear(struct wire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_COMMON_H */
