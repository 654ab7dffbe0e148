/* Placeholder while the serial transport is being written. */
#include "fdio.h"

int
wire__serial_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                 const char *str, struct wire_protocol *p, uint64_t timeout_ms,
                 wire_connect_cb cb, void *arg, struct wire_error *err)
{
    WIRE_UNUSED(loop); WIRE_UNUSED(ep); WIRE_UNUSED(p); WIRE_UNUSED(timeout_ms);
    WIRE_UNUSED(cb); WIRE_UNUSED(arg);
    return wire_error_set(err, WIRE_ENOTSUP, "%s: not built yet", str);
}
