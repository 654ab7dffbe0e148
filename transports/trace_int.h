/*
 * Private to transports/: the `trace` endpoint parameter (documented in
 * <wire/trace.h>), shared by the scheme table (endpoints.c), the tls://
 * endpoint and the listeners that wrap accepted connections
 * (tls_endpoint.c), and the trace layer (trace.c).
 */
#ifndef WIRE_TRANSPORTS_TRACE_INT_H
#define WIRE_TRANSPORTS_TRACE_INT_H

#include "../lib/internal.h"

#include <wire/endpoint.h>
#include <wire/trace.h>

/* Where trace=... puts trace layers (a bit set). */
#define WIRE__TRACE_ON  1u /* on top of the endpoint's stack */
#define WIRE__TRACE_RAW 2u /* under TLS (tls:// only) */

/* trace.c: the mode a trace= value asks for (yes/no words, raw, both), or
 * WIRE_EENDPOINT naming the value. */
int wire__trace_mode(const char *value, unsigned *mode, struct wire_error *err);

/* trace.c: take the trace= parameters out of endpoint string `str`: `*out`
 * (malloc'ed, the caller frees it) is `str` without them, `*mode` what
 * they asked for (0 when absent).  `raw_shape`: the scheme's address is
 * verbatim (exec:), so only a last '?' whose parameters include trace=
 * holds parameters.  raw and both count as WIRE__TRACE_ON here (only
 * tls:// has a layer to go under, and it reads trace= itself).  Returns 0,
 * WIRE_EENDPOINT or WIRE_ENOMEM. */
int wire__trace_strip(const char *str, bool raw_shape, char **out,
                      unsigned *mode, struct wire_error *err);

/* trace.c: a trace layer writing to stderr over `p`, labelled `label`
 * (copied; NULL: derived).  Unlike wire_trace_layer_new, on failure (NULL,
 * `err` set) `p` stays the caller's. */
struct wire_protocol *wire__trace_wrap(struct wire_protocol *p,
                                       const char *label,
                                       struct wire_error *err);

/* trace.c: the label of a connection dialled to `str`: the string up to its
 * query (a verbatim address is kept whole), with the scheme replaced by
 * `scheme` when not NULL.  Malloc'ed; NULL on ENOMEM. */
char *wire__trace_label(const char *str, bool raw_shape, const char *scheme);

/* tls_endpoint.c: listen through `listen` (a scheme's listen function) and
 * wrap the protocol of every accepted connection in a trace layer (mode
 * WIRE__TRACE_ON), labelled with the server's address and the connection's
 * number. */
int wire__listen_traced(struct wire_loop *loop,
                        int (*listen)(struct wire_loop *,
                                      const struct wire_endpoint *,
                                      wire_protocol_factory, void *,
                                      const struct wire_listen_options *,
                                      struct wire_server **,
                                      struct wire_error *),
                        const struct wire_endpoint *ep,
                        wire_protocol_factory factory, void *farg,
                        const struct wire_listen_options *opts,
                        struct wire_server **out, struct wire_error *err);

#endif
