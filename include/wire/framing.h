/*
 * libwire — framing: messages in a byte stream.
 *
 * chunk     messages split by a delimiter of one or more bytes (PEP 3153's
 *           ChunkProtocol; Twisted's LineReceiver, Netty's
 *           DelimiterBasedFrameDecoder);
 * lines     chunk with "\n", optionally accepting "\r\n";
 * lenprefix messages preceded by their length: a binary prefix of 1, 2, 4
 *           or 8 bytes (big- or little-endian), or a netstring
 *           ("5:hello,").
 *
 * Each comes in two forms:
 *
 *  - a layer (wire_chunk_layer_new, wire_lenprefix_layer_new): a
 *    transport to the protocol above.  The protocol above receives
 *    exactly one message per data_received, and each write it makes (write,
 *    write_sequence, write_ref) is one message: the layer frames it as it
 *    is made (payload and delimiter, or prefix and payload, in one
 *    gathered write; the payload is not copied).  Flow control, pauses,
 *    EOF, close and get_info cross the layer as usual.
 *
 *  - a protocol with callbacks (wire_chunk_protocol_new, ...): the same
 *    layer over a small protocol that calls `struct wire_message_handler`,
 *    for code that only wants "a callback per message".
 *
 * Errors: a message over the maximum length fails the connection with
 * WIRE_EMSGSIZE, with a message naming the limit and the stream offset at
 * which the message began; input that is not the format (a netstring
 * without its ',') fails it with WIRE_EPROTO; input that ends in the
 * middle of a message fails it with WIRE_EINCOMPLETE (or, for chunk with
 * `partial_at_eof`, delivers the rest as a final message).  The protocol
 * above sees the error in connection_lost.  A netstring's payload is
 * delivered as soon as it is complete; a missing ',' after it fails the
 * connection then.  A write that cannot be framed returns an error and
 * writes nothing: WIRE_EINVAL for a chunk the peer would not read back as
 * written (it contains the delimiter, ends with the start of a
 * self-overlapping one, or ends in '\r' on lines that strip it), and
 * WIRE_EMSGSIZE for a length that does not fit the prefix.  Writes are not
 * checked against max_len, which limits what this end accepts.
 *
 * Everything here runs without a loop over the string transport.
 */
#ifndef WIRE_FRAMING_H
#define WIRE_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wire/common.h>
#include <wire/protocol.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default maximum chunk (line) length, in payload bytes. */
#define WIRE_CHUNK_DEFAULT_MAX ((size_t)64 * 1024)
/** Default maximum length-prefixed message, in payload bytes. */
#define WIRE_LENPREFIX_DEFAULT_MAX ((uint64_t)1024 * 1024)

/* ---- callbacks for the protocol form ---- */

/**
 * What the protocol form calls.  `t` is the framed transport: every write
 * on it (wire_transport_write, wire_chunk_write, ...) is one message.
 * Only `message` is required.
 */
struct wire_message_handler {
    /** The connection is up. */
    void (*open)(void *arg, struct wire_transport *t);
    /** One message; `data` is valid during the call only. */
    void (*message)(void *arg, struct wire_transport *t, const void *data,
                    size_t len);
    /** The peer finished sending (after its last message).  Return true
     *  to keep writing (half-close); false or NULL closes. */
    bool (*eof)(void *arg, struct wire_transport *t);
    /** The connection is gone; `err` is NULL after a clean close, else why
     *  (an over-long message, a reset, ...).  Called once, after open. */
    void (*closed)(void *arg, const struct wire_error *err);
    /** The protocol is being destroyed (also when it was never started):
     *  release `arg`. */
    void (*destroy)(void *arg);
};

/* ---- chunk and lines ---- */

struct wire_chunk_opts {
    /** Delimiter (copied); NULL means "\n". */
    const void *delim;
    size_t delim_len;
    /** What writes end with (copied); NULL means `delim`.  Lines use it to
     *  accept "\n" or "\r\n" but write "\r\n". */
    const void *write_delim;
    size_t write_delim_len;
    /** Longest message, in payload bytes; 0 means the default
     *  (WIRE_CHUNK_DEFAULT_MAX). */
    size_t max_len;
    /** Remove one '\r' before the delimiter (accept "\r\n" as "\n"). */
    bool strip_cr;
    /** Input that ends without a delimiter is delivered as a final
     *  message instead of failing with WIRE_EINCOMPLETE. */
    bool partial_at_eof;
    /** Do not check writes for the delimiter (it costs one memchr/memmem
     *  per write; a payload that contains it would split in two at the
     *  peer). */
    bool unchecked_writes;
    /** The transport name the layer reports (WIRE_INFO_NAME); NULL means
     *  "chunk". */
    const char *name;
};

/** Defaults: delimiter "\n", 64 KiB maximum, partial chunk at EOF is an
 *  error. */
WIRE_EXPORT void wire_chunk_opts_init(struct wire_chunk_opts *o);
/** Lines: "\n" accepted, "\r\n" accepted too when `accept_crlf`; writes
 *  end with "\r\n" when `write_crlf`, else "\n".  Name "lines". */
WIRE_EXPORT void wire_lines_opts_init(struct wire_chunk_opts *o,
                                      bool accept_crlf, bool write_crlf);

/**
 * A chunk layer over `upper` (which it owns from now on, also on error).
 * Returns the protocol to give to the transport below, or NULL with `err`
 * set (WIRE_EINVAL for an empty delimiter).  `o` NULL: the defaults.
 */
WIRE_EXPORT struct wire_protocol *
wire_chunk_layer_new(struct wire_protocol *upper,
                     const struct wire_chunk_opts *o, struct wire_error *err);

/** The protocol form: a callback per chunk.  `h` is copied; `arg` is
 *  released by h->destroy. */
WIRE_EXPORT struct wire_protocol *
wire_chunk_protocol_new(const struct wire_chunk_opts *o,
                        const struct wire_message_handler *h, void *arg,
                        struct wire_error *err);

/** Write one chunk on a chunk (or lines) layer's transport `t`: the payload
 *  and the delimiter in one gathered write, no copy.  WIRE_EINVAL when
 *  `t` is not a chunk layer or the payload cannot be framed (see the top
 *  of this file); otherwise what wire_transport_write returns. */
WIRE_EXPORT int wire_chunk_write(struct wire_transport *t, const void *data,
                                 size_t len);
/** Write one line: `line` (a C string, without its terminator). */
WIRE_EXPORT int wire_line_write(struct wire_transport *t, const char *line);
/** Write one line formatted like printf. */
WIRE_EXPORT int wire_line_writef(struct wire_transport *t, const char *fmt,
                                 ...) WIRE_PRINTF(2, 3);

/* ---- length prefixes ---- */

enum wire_lenprefix_kind {
    WIRE_LENPREFIX_BINARY = 0,   /**< 1, 2, 4 or 8 bytes of length */
    WIRE_LENPREFIX_NETSTRING = 1 /**< "<decimal length>:<payload>," */
};

struct wire_lenprefix_opts {
    int kind;              /**< enum wire_lenprefix_kind */
    unsigned width;        /**< binary: 1, 2, 4 or 8 */
    bool little_endian;    /**< binary: byte order of the prefix */
    /** binary: the length counts the prefix itself (so it is at least
     *  `width`). */
    bool counts_header;
    /** Longest message, in payload bytes; 0 means the default
     *  (WIRE_LENPREFIX_DEFAULT_MAX). */
    uint64_t max_len;
    /** The transport name the layer reports; NULL means "lenprefix" (or
     *  "netstring"). */
    const char *name;
};

/** Binary prefix of `width` bytes (1, 2, 4 or 8). */
WIRE_EXPORT void wire_lenprefix_opts_init(struct wire_lenprefix_opts *o,
                                          unsigned width, bool little_endian);
/** Netstrings. */
WIRE_EXPORT void wire_netstring_opts_init(struct wire_lenprefix_opts *o);

/** A length-prefix layer over `upper` (owned from now on, also on error).
 *  NULL with `err` set (WIRE_EINVAL) for a bad width or kind. */
WIRE_EXPORT struct wire_protocol *
wire_lenprefix_layer_new(struct wire_protocol *upper,
                         const struct wire_lenprefix_opts *o,
                         struct wire_error *err);
/** The protocol form: a callback per message. */
WIRE_EXPORT struct wire_protocol *
wire_lenprefix_protocol_new(const struct wire_lenprefix_opts *o,
                            const struct wire_message_handler *h, void *arg,
                            struct wire_error *err);

/* ---- Content-Length headers (the LSP base protocol) ---- */

#define WIRE_CONTENT_LENGTH_DEFAULT_MAX (1u << 20)
#define WIRE_CONTENT_LENGTH_MAX_HEADER 4096u

/**
 * A message layer framing each message as header lines, a blank line and
 * the payload: "Content-Length: N\r\n\r\n" + N bytes (what the Language
 * Server Protocol's base protocol sends).  On input, other header lines
 * (Content-Type) are accepted and ignored, header names are
 * case-insensitive, and a header block longer than
 * WIRE_CONTENT_LENGTH_MAX_HEADER, one without Content-Length, a malformed
 * or duplicate length fail the connection with WIRE_EPROTO naming the
 * stream offset; a payload over `max_len` (0: the default) fails with
 * WIRE_EMSGSIZE as soon as the header says so.  EOF inside a message is
 * WIRE_EINCOMPLETE.  Writes send only Content-Length.  Name
 * "content-length".
 */
WIRE_EXPORT struct wire_protocol *
wire_content_length_layer_new(struct wire_protocol *upper, size_t max_len,
                              struct wire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_FRAMING_H */
