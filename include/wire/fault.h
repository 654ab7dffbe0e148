/**
 * @file
 * libwire — the fault layer: a seeded, reproducible bad network.
 *
 * A fault layer sits anywhere in a stack (over a transport, between two
 * layers) and makes the byte stream through it arrive the way a real
 * network may deliver it: cut into pieces of random sizes down to one
 * byte, joined, late, written a little at a time, or cut off by an EOF,
 * a reset or an error at an exact byte.  A protocol that keeps its
 * guarantees over a fault layer keeps them over any transport.  Every
 * fault is off unless its option is set; with all options zero the layer
 * passes everything through unchanged.
 *
 * It never breaks the transport contract: pause_reading holds everything
 * (bytes the layer holds for joining or for a delay included); EOF comes
 * after every byte before it; the watermarks and pause_writing of the
 * protocol above count what the layer has not passed down yet
 * (wire_transport_get_write_buffer_size includes it); close passes down
 * what is held before it closes the transport below, abort drops it;
 * connection_lost comes exactly once; a write after close returns
 * WIRE_ECLOSED.  Like the trace layer it is transparent otherwise: once
 * connected, WIRE_INFO_NAME answers the name of the transport below, the
 * capabilities (half-close, reset) and the watermarks are the transport
 * below's, and get_info and reply hints are forwarded.
 *
 * Reproducible.  Every decision is drawn from a pseudo-random generator
 * seeded with wire_fault_opts.seed: SplitMix64 (Steele, Lea and Flood,
 * "Fast splittable pseudorandom number generators", OOPSLA 2014): the
 * 64-bit state advances by 0x9e3779b97f4a7c15 and each output is the
 * state mixed by z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9, z = (z ^ z >> 27)
 * * 0x94d049bb133111eb, z ^ z >> 31.  Each kind of decision (where reads
 * are cut, how long joining waits, delays, where writes are cut, short
 * writes, how long the rest of a short write waits) has its own stream,
 * started from the seed mixed with the kind's number, so a decision of
 * one kind never shifts another.  Reads are cut at offsets of the input
 * that depend on the seed alone, and writes at offsets of the output: the
 * same seed over the same input gives the same pieces byte for byte,
 * however the input was split when it arrived (a piece also ends where
 * the input received so far ends, unless joining holds it).  Sizes
 * "from 1 to max" are drawn as 1 + (r1 mod b) where b = 1 + (r2 mod max):
 * every size from 1 to max occurs, small ones more often.
 *
 * Time.  Delays and the joining timeout run on loop timers, so over a
 * stack without a loop (the string transport) delays are zero and held
 * bytes are flushed when the test steps the transport.  Timers never
 * decide what the bytes are, only when they move: the order is always
 * kept.
 *
 * A fault layer turns what is below it into a byte stream: over a
 * message layer (chunk, lenprefix) each piece it writes down is a
 * message of its own.  Put it under the framing, over a byte stream.
 */
#ifndef WIRE_FAULT_H
#define WIRE_FAULT_H

#include <wire/common.h>
#include <wire/protocol.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What an injected fault does (struct wire_fault_inject). */
enum wire_fault_kind {
    /** Nothing (the default). */
    WIRE_FAULT_NONE = 0,
    /** An end of stream.  Input: the protocol above gets eof_received
     *  right after byte `at`, and what comes from below after it is
     *  dropped.  Output: the first `at` bytes go down, then write_eof
     *  below (a close where the transport below cannot half-close); what
     *  the protocol above writes after that is accepted and dropped. */
    WIRE_FAULT_EOF = 1,
    /** A connection reset: once byte `at` has passed (input: was
     *  delivered above; output: was handed to the transport below), the
     *  transport below is aborted (a reset where it can) and the protocol
     *  above gets connection_lost with -ECONNRESET and a message that
     *  says the reset was injected and where. */
    WIRE_FAULT_RESET = 2,
    /** The same as WIRE_FAULT_RESET with the error code of
     *  wire_fault_inject.code instead of -ECONNRESET. */
    WIRE_FAULT_ERROR = 3
};

/** A fault injected at an exact byte of one direction. */
struct wire_fault_inject {
    /** What happens; WIRE_FAULT_NONE: nothing. */
    enum wire_fault_kind kind;
    /** The byte offset: the fault happens after exactly `at` bytes have
     *  passed in this direction (0: as soon as the layer is connected, on
     *  a later turn).  If the stream ends first, nothing happens. */
    uint64_t at;
    /** WIRE_FAULT_ERROR: the negative code connection_lost gets (-EIO,
     *  WIRE_EPROTO, ...); 0 means -EIO.  Ignored for the other kinds. */
    int code;
};

/**
 * Options for wire_fault_layer_new().  Zero-initialise, then set what you
 * need: every fault is off while its field is zero.  Input is what comes
 * from the transport below towards the protocol above; output what the
 * protocol above writes.
 */
struct wire_fault_opts {
    /** The seed of every random decision (see the top of this file). */
    uint64_t seed;

    /** Input pieces: pass the input up in pieces of 1 to read_max bytes
     *  (0: as it comes).  1 delivers byte by byte. */
    size_t read_max;
    /** Input joining: hold input until a random amount of 1 to
     *  coalesce_max bytes has gathered, then pass up what is held at once
     *  (in pieces of read_max if that is set too).  Held bytes are passed
     *  up anyway after coalesce_ms, at EOF, at an injected input fault,
     *  when the protocol above resumes reading, and when the layer stops
     *  reading below because it holds enough.  0: off. */
    size_t coalesce_max;
    /** How long joined input may wait, in milliseconds (0: until the
     *  next turn of the loop, after it polled for I/O once more). */
    unsigned coalesce_ms;
    /** Input delay: before a piece is passed up, wait a random 0 to
     *  read_delay_ms milliseconds (0: no delay).  Later pieces wait
     *  behind it: the order is kept. */
    unsigned read_delay_ms;
    /** One piece in read_delay_one_in (on average) is delayed; 0 or 1:
     *  every piece. */
    unsigned read_delay_one_in;

    /** Output pieces: hand what the protocol above writes to the
     *  transport below in pieces of 1 to write_max bytes, each a write
     *  of its own (0: as written). */
    size_t write_max;
    /** Short writes: one write in short_write_one_in (on average) takes
     *  only part of what it is offered, from none of it to all but one
     *  byte (never none twice in a row); the rest stays queued above the
     *  layer, counted in its write buffer size and watermarks, and is
     *  offered again on a later turn.  0: off; 1: every write. */
    unsigned short_write_one_in;
    /** The rest of a short write waits a random 0 to write_delay_ms
     *  milliseconds (0: until the next turn). */
    unsigned write_delay_ms;

    /** A fault at a byte of the input. */
    struct wire_fault_inject in;
    /** A fault at a byte of the output. */
    struct wire_fault_inject out;
};

/**
 * A fault layer over `upper`, which it owns from now on (also on error:
 * a failure destroys `upper`).  Give the returned protocol to a transport
 * (wire_connect, wire_mem_pair, wire_string_transport_new, ...) or to
 * another layer, which then owns the layer.  `opts` is copied; NULL means
 * every fault off.
 *
 * Faults happen from the loop: pieces are passed up from inside the
 * transport below's delivery or from a timer, never from inside a call
 * the protocol above made; an injected reset or error reaches the
 * protocol above through connection_lost, on a later turn, like any
 * loss.  Once it holds 64 KiB of input (or twice coalesce_max), the
 * layer stops reading below until the protocol above has taken half of
 * it; reading below also stops while the protocol above pauses.
 *
 * Returns NULL with `err` (if not NULL) set: WIRE_EINVAL when `upper` is
 * NULL, an injected fault has an unknown kind or a WIRE_FAULT_ERROR a
 * positive code, coalesce_max is over 64 MiB or a delay over an hour;
 * WIRE_ENOMEM.
 */
WIRE_EXPORT struct wire_protocol *
wire_fault_layer_new(struct wire_protocol *upper,
                     const struct wire_fault_opts *opts,
                     struct wire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_FAULT_H */
