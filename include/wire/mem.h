/**
 * @file
 * libwire — the memory pair: two connected transports in one process.
 *
 * Bytes written on one side are delivered to the other from the loop,
 * through a buffer of settable size, so flow control, half-close, close
 * and abort behave as over a socket, without one.  `mem:NAME` endpoints
 * connect to a wire_listen("mem:NAME") server on the same loop.
 */
#ifndef WIRE_MEM_H
#define WIRE_MEM_H

#include <wire/loop.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The default size of each direction's buffer (256 KiB). */
#define WIRE_MEM_DEFAULT_BUFSIZE (256u * 1024u)

/**
 * Connect protocols `a` and `b` through a memory pair whose directions
 * each buffer up to `bufsize` bytes (0: the default).  connection_made is
 * called on both from the loop (a first, then b), never from inside this
 * call.  The pair owns both protocols.  `*ta`/`*tb` (either may be NULL)
 * receive the transports at once; they are valid until the protocols'
 * connection_lost unless referenced, and writing on them before
 * connection_made returns WIRE_ESTATE.  Returns 0, WIRE_EINVAL (a NULL
 * `loop`, `a` or `b`) or WIRE_ENOMEM; on error the protocols stay the
 * caller's and no callback is called.
 */
WIRE_EXPORT int wire_mem_pair(struct wire_loop *loop, struct wire_protocol *a,
                              struct wire_protocol *b, size_t bufsize,
                              struct wire_transport **ta,
                              struct wire_transport **tb);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_MEM_H */
