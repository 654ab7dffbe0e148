/*
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

/** The default size of each direction's buffer. */
#define WIRE_MEM_DEFAULT_BUFSIZE (256u * 1024u)

/**
 * Connect protocols `a` and `b` through a memory pair whose directions
 * each buffer up to `bufsize` bytes (0: the default).  connection_made is
 * called on both from the loop (a first, then b).  The pair owns both
 * protocols.  `*ta`/`*tb` (either may be NULL) receive the transports;
 * they are valid until the protocols' connection_lost unless referenced.
 * Returns 0 or WIRE_ENOMEM/WIRE_EINVAL (protocols then stay the caller's).
 */
WIRE_EXPORT int wire_mem_pair(struct wire_loop *loop, struct wire_protocol *a,
                              struct wire_protocol *b, size_t bufsize,
                              struct wire_transport **ta,
                              struct wire_transport **tb);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_MEM_H */
