/**
 * @file
 * libwire — relay: join two transports both ways, as a proxy does.
 *
 * wire_relay_new() makes two protocols, one for each connection.  What
 * one side receives is written to the other.  Backpressure crosses: when
 * a side's writing pauses, the other side's reading pauses until it
 * resumes.  An EOF crosses as write_eof (or close, where the other side
 * cannot half-close); the relay ends when both directions are done or
 * either side fails, and the survivor is closed (flushed) or aborted.
 * Bytes that arrive before both sides are connected wait.
 */
#ifndef WIRE_RELAY_H
#define WIRE_RELAY_H

#include <wire/protocol.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Called once, when both sides are done: right after the second of the
 * two protocols is destroyed, which is normally from the loop after its
 * connection_lost (or from inside wire_protocol_destroy() when that is how
 * the last side ends).  `err_a`/`err_b` are each side's connection_lost
 * error (NULL when clean), valid during the call only; `bytes_ab` and
 * `bytes_ba` count what was received on a (for b) and on b (for a).  A
 * side that never connected also reports NULL here: its failure went to
 * the callback of the wire_connect() that tried it.  The relay's memory is
 * freed when the callback returns.
 */
typedef void (*wire_relay_done_cb)(void *arg, const struct wire_error *err_a,
                                   const struct wire_error *err_b,
                                   uint64_t bytes_ab, uint64_t bytes_ba);

/**
 * Make a relay.  `*a` and `*b` receive two protocols to start on the two
 * connections (with wire_connect, a server factory, wire_mem_pair ...).
 * Each protocol is owned by whatever transport it is given to; if one is
 * never started, destroy it with wire_protocol_destroy() — the relay then
 * aborts the other side.  `done` (may be NULL) reports the end; `arg` is
 * passed to it and stays the caller's.  Returns 0 or WIRE_ENOMEM (then
 * `*a` and `*b` are untouched).
 */
WIRE_EXPORT int wire_relay_new(struct wire_protocol **a,
                               struct wire_protocol **b,
                               wire_relay_done_cb done, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_RELAY_H */
