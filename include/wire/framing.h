/**
 * @file
 * libwire — framing: messages in a byte stream.
 *
 * chunk     messages split by a delimiter of one or more bytes (PEP 3153's
 *           ChunkProtocol; Twisted's LineReceiver, Netty's
 *           DelimiterBasedFrameDecoder);
 * lines     chunk with `"\n"`, optionally accepting `"\r\n"`;
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
 * self-overlapping one, or, when the reader strips a carriage return,
 * ends in one and the write delimiter does not bring its own: lines
 * written with `"\n"`), and WIRE_EMSGSIZE for a length that does not fit
 * the prefix.  Writes are not checked against max_len, which limits what
 * this end accepts.
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
 * What the protocol form calls, with the `arg` given to the constructor.
 * `t` is the framed transport: every write on it (wire_transport_write,
 * wire_chunk_write, ...) is one message; it is valid from `open` until
 * `closed` returns.  Only `message` is required.  The callbacks are
 * protocol callbacks underneath: they run from the loop (or the string
 * transport's calls) and may write, close or abort `t`.  The constructors
 * copy the struct.
 */
struct wire_message_handler {
    /** The connection is up (connection_made); called once, first. */
    void (*open)(void *arg, struct wire_transport *t);
    /** One message (data_received); `data` is valid during the call only,
     *  and an empty message has `len` 0. */
    void (*message)(void *arg, struct wire_transport *t, const void *data,
                    size_t len);
    /** The peer finished sending (after its last message).  Return true
     *  to keep writing (half-close); false or NULL closes. */
    bool (*eof)(void *arg, struct wire_transport *t);
    /** The connection is gone; `err` is NULL after a clean close, else why
     *  (an over-long message, a reset, ...).  Called once, after open. */
    void (*closed)(void *arg, const struct wire_error *err);
    /** The protocol is being destroyed (also when it was never started,
     *  and when the constructor fails): release `arg`.  Called once, last. */
    void (*destroy)(void *arg);
};

/* ---- chunk and lines ---- */

/** Options for the chunk layer and protocol.  Set them up with
 *  wire_chunk_opts_init() or wire_lines_opts_init(), then change fields;
 *  they are read (and copied) by the constructor. */
struct wire_chunk_opts {
    /** Delimiter (copied); NULL means `"\n"`. */
    const void *delim;
    size_t delim_len; /**< bytes of `delim` (1 to 64) */
    /** What writes end with (copied); NULL means `delim`.  Lines use it to
     *  accept `"\n"` or `"\r\n"` but write `"\r\n"`. */
    const void *write_delim;
    size_t write_delim_len; /**< bytes of `write_delim` (1 to 64) */
    /** Longest message, in payload bytes; 0 means the default
     *  (WIRE_CHUNK_DEFAULT_MAX). */
    size_t max_len;
    /** Remove one carriage return before the delimiter (accept `"\r\n"`
     *  as `"\n"`). */
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

/** Fill `o` with the defaults: delimiter `"\n"`, 64 KiB maximum, partial
 *  chunk at EOF is an error, writes checked, name "chunk". */
WIRE_EXPORT void wire_chunk_opts_init(struct wire_chunk_opts *o);
/** Fill `o` for lines: `"\n"` accepted, `"\r\n"` accepted too when
 *  `accept_crlf`; writes end with `"\r\n"` when `write_crlf`, else
 *  `"\n"`.  Name "lines"; the other fields as wire_chunk_opts_init(). */
WIRE_EXPORT void wire_lines_opts_init(struct wire_chunk_opts *o,
                                      bool accept_crlf, bool write_crlf);

/**
 * A chunk layer over `upper` (which it owns from now on, also on error:
 * on error it is destroyed).  Returns the protocol to give to the
 * transport below, which then owns the layer, or NULL with `err` (if not
 * NULL) set: WIRE_EINVAL for an empty delimiter, one over 64 bytes or an
 * absurd `max_len`; WIRE_ENOMEM.  `o` NULL: the defaults.
 */
WIRE_EXPORT struct wire_protocol *
wire_chunk_layer_new(struct wire_protocol *upper,
                     const struct wire_chunk_opts *o, struct wire_error *err);

/** The protocol form: a callback per chunk.  `h` is copied; `arg` is
 *  released by h->destroy, also on error.  Returns the protocol to give
 *  to a transport, or NULL with `err` (if not NULL) set: WIRE_EINVAL (no
 *  `h` or no `h->message`, or bad options as for wire_chunk_layer_new()),
 *  WIRE_ENOMEM. */
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
/** Write one line: `line` (a C string, without its terminator) on a chunk
 *  or lines layer's transport, as wire_chunk_write().  WIRE_EINVAL for a
 *  NULL `line`. */
WIRE_EXPORT int wire_line_write(struct wire_transport *t, const char *line);
/** Write one line formatted like printf, as wire_line_write().  Returns
 *  what wire_chunk_write() returns, WIRE_EINVAL when formatting fails or
 *  WIRE_ENOMEM. */
WIRE_EXPORT int wire_line_writef(struct wire_transport *t, const char *fmt,
                                 ...) WIRE_PRINTF(2, 3);

/* ---- length prefixes ---- */

/** The form of a length prefix (struct wire_lenprefix_opts.kind). */
enum wire_lenprefix_kind {
    WIRE_LENPREFIX_BINARY = 0,   /**< 1, 2, 4 or 8 bytes of length */
    WIRE_LENPREFIX_NETSTRING = 1 /**< "<decimal length>:<payload>," */
};

/** Options for the length-prefix layer and protocol.  Set them up with
 *  wire_lenprefix_opts_init() or wire_netstring_opts_init(), then change
 *  fields; they are read (and copied) by the constructor. */
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

/** Fill `o` for a binary prefix of `width` bytes (1, 2, 4 or 8; checked
 *  by the constructor), big-endian unless `little_endian`, not counting
 *  itself, WIRE_LENPREFIX_DEFAULT_MAX, name "lenprefix". */
WIRE_EXPORT void wire_lenprefix_opts_init(struct wire_lenprefix_opts *o,
                                          unsigned width, bool little_endian);
/** Fill `o` for netstrings ("5:hello,"), WIRE_LENPREFIX_DEFAULT_MAX, name
 *  "netstring". */
WIRE_EXPORT void wire_netstring_opts_init(struct wire_lenprefix_opts *o);

/** A length-prefix layer over `upper` (owned from now on, also on error:
 *  on error it is destroyed).  `o` is required.  Returns the protocol to
 *  give to the transport below, which then owns the layer, or NULL with
 *  `err` (if not NULL) set: WIRE_EINVAL for a NULL `o`, a bad width or
 *  kind or an absurd `max_len`; WIRE_ENOMEM. */
WIRE_EXPORT struct wire_protocol *
wire_lenprefix_layer_new(struct wire_protocol *upper,
                         const struct wire_lenprefix_opts *o,
                         struct wire_error *err);
/** The protocol form: a callback per message.  `h` is copied; `arg` is
 *  released by h->destroy, also on error.  Returns the protocol, or NULL
 *  with `err` set as for wire_lenprefix_layer_new() (and WIRE_EINVAL for
 *  no `h->message`). */
WIRE_EXPORT struct wire_protocol *
wire_lenprefix_protocol_new(const struct wire_lenprefix_opts *o,
                            const struct wire_message_handler *h, void *arg,
                            struct wire_error *err);

/* ---- Content-Length headers (the LSP base protocol) ---- */

/** Default maximum Content-Length payload, in bytes (1 MiB). */
#define WIRE_CONTENT_LENGTH_DEFAULT_MAX (1u << 20)
/** Longest header block accepted, in bytes. */
#define WIRE_CONTENT_LENGTH_MAX_HEADER 4096u

/**
 * A message layer framing each message as header lines, a blank line and
 * the payload: `"Content-Length: N\r\n\r\n"` + N bytes (what the Language
 * Server Protocol's base protocol sends).  On input, other header lines
 * (Content-Type) are accepted and ignored, header names are
 * case-insensitive, and a header block longer than
 * WIRE_CONTENT_LENGTH_MAX_HEADER, one without Content-Length, a malformed
 * or duplicate length fail the connection with WIRE_EPROTO naming the
 * stream offset; a payload over `max_len` (0: the default) fails with
 * WIRE_EMSGSIZE as soon as the header says so.  EOF inside a message is
 * WIRE_EINCOMPLETE.  Writes send only Content-Length.  Name
 * "content-length".
 *
 * The rest of a large payload is read straight into memory (the layer is
 * a BufferedProtocol to the transport below), never past the payload's
 * end.  A protocol above with data_received gets each message whole, as
 * one call.  One with only get_buffer and buffer_updated (a
 * BufferedProtocol, which sees no message boundaries) gets each payload's
 * bytes as they arrive, those of a large payload read straight into its
 * buffer; if the input ends inside a payload, it has had the bytes that
 * came before the WIRE_EINCOMPLETE.
 *
 * `upper` is owned from now on, also on error (then destroyed).  Returns
 * the protocol to give to the transport below, or NULL with `err` (if
 * not NULL) set: WIRE_EINVAL (an absurd `max_len`) or WIRE_ENOMEM.
 */
WIRE_EXPORT struct wire_protocol *
wire_content_length_layer_new(struct wire_protocol *upper, size_t max_len,
                              struct wire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_FRAMING_H */
