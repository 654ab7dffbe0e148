/*
 * wirecat-local: the `stdio:` endpoint, a transport over file descriptors
 * 0 (read) and 1 (write).
 *
 * Temporary.  libwire has no stdio or pipe transport yet; issue 4 adds
 * them to the library (transports/), and this file and wirecat-stdio.c go
 * away then: wirecat will dial `stdio:` through wire_connect() like any
 * other endpoint.
 */
#ifndef WIRECAT_STDIO_H
#define WIRECAT_STDIO_H

#include <wire/wire.h>

/* True when `endpoint` names the stdio endpoint (exactly "stdio:"). */
bool wirecat_is_stdio(const char *endpoint);

/*
 * Wrap fds 0 and 1 in a transport on `loop` and start `p` on it
 * (connection_made runs before this returns).  The transport owns `p`.
 * On success sets `*t` (with one reference taken for the caller, dropped
 * with wire_transport_unref) and returns 0.  On failure returns a negative
 * code with detail in `err`; `p` stays the caller's.
 *
 * The caller must ignore SIGPIPE: write(2) on a pipe nobody reads raises
 * it, and the transport must report EPIPE instead.
 */
int wirecat_stdio_start(struct wire_loop *loop, struct wire_protocol *p,
                        struct wire_transport **t, struct wire_error *err);

#endif
