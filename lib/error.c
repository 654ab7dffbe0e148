/*
 * The error table and struct wire_error.
 *
 * wire_strerror() and wire_err_name() come from the same X-macro as the
 * enum (WIRE_ERRNO_MAP in <wire/common.h>); system codes (-errno) are named
 * by the C library.  struct wire_error carries a code with a message that
 * says what happened in detail; it is heap-backed so no detail is cut.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
wire_strerror(int code)
{
    if (code == 0)
        return "success";
    switch (code) {
#define WIRE__ERR_STR(name, value, msg) case value: return msg;
        WIRE_ERRNO_MAP(WIRE__ERR_STR)
#undef WIRE__ERR_STR
    default:
        break;
    }
    if (code < 0 && code > -4096) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
        /* strerror() formats unknown codes ("Unknown error 4000") into a
         * buffer the next call overwrites; strerrordesc_np returns static
         * text, or NULL for a code that names no errno. */
        const char *s = strerrordesc_np(-code);
#else
        const char *s = strerror(-code);
#endif
        if (s != NULL)
            return s;
    }
    return "unknown error";
}

const char *
wire_err_name(int code)
{
    if (code == 0)
        return "OK";
    switch (code) {
#define WIRE__ERR_NAME(name, value, msg) case value: return "WIRE_" #name;
        WIRE_ERRNO_MAP(WIRE__ERR_NAME)
#undef WIRE__ERR_NAME
    default:
        break;
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    if (code < 0 && code > -4096) {
        const char *s = strerrorname_np(-code);
        if (s != NULL)
            return s;
    }
#endif
    return "UNKNOWN";
}

int
wire_error_setv(struct wire_error *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return code;
    /* Format before releasing the old message: the arguments may point
     * into it (wrapping an error with context, or copying onto itself). */
    char *msg = NULL;
    if (fmt == NULL || vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    wire_error_clear(err);
    err->code = code;
    if (msg != NULL) {
        err->owned__ = msg;
        err->message = msg;
    } else {
        err->message = wire_strerror(code);
    }
    return code;
}

int
wire_error_set(struct wire_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wire_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void
wire_error_copy(struct wire_error *dst, const struct wire_error *src)
{
    if (dst == NULL)
        return;
    if (src == NULL || src->code == 0) {
        wire_error_clear(dst);
        return;
    }
    wire_error_set(dst, src->code, "%s",
                   src->message ? src->message : wire_strerror(src->code));
}

void
wire_error_clear(struct wire_error *err)
{
    if (err == NULL)
        return;
    free(err->owned__);
    err->owned__ = NULL;
    err->message = NULL;
    err->code = 0;
}

struct wire_error *
wire__error_new(int code, const char *fmt, va_list ap)
{
    struct wire_error *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    wire_error_setv(e, code, fmt, ap);
    return e;
}

struct wire_error *
wire__error_dup(const struct wire_error *src)
{
    struct wire_error *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    wire_error_copy(e, src);
    return e;
}

void
wire__error_free(struct wire_error *e)
{
    if (e == NULL)
        return;
    wire_error_clear(e);
    free(e);
}
