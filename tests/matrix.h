/*
 * The protocol x transport matrix: shared declarations.
 *
 * The matrix crosses two tables: the protocol rows (matrix.c, `struct
 * matrix_proto`) and the transport factories of the conformance suite
 * (conf_factories.c).  Every cell runs the same exchanges: an echo of a
 * deterministic set of messages, and a message over the receiver's limit.
 * A row says how to build each end's stack and what the format allows;
 * the application logic on top (send, echo, verify) is shared, and it
 * reaches the stack through a small `struct mx_form` that each way of
 * using a format (a layer, a callback protocol, the stream reader)
 * supplies (matrix_stacks.c).
 */
#ifndef WIRE_TESTS_MATRIX_H
#define WIRE_TESTS_MATRIX_H

#include "conf.h"

struct mx_end;
struct mx_cell;

/* ---- a protocol row ---- */
struct matrix_proto {
    const char *name;  /* shown in every failure message */
    /* Build one end's stack over its application end `e` (which says
     * whether it is the client or the server, and the receive limit);
     * returns the protocol to hand to the transport. */
    struct wire_protocol *(*build_client)(struct mx_end *e);
    struct wire_protocol *(*build_server)(struct mx_end *e);
    /* Format parameters, read by the builders. */
    const char *sep;   /* what readers split on (chunk, lines, read_until) */
    size_t sep_len;
    const char *wsep;  /* what writers append; NULL: `sep` */
    size_t wsep_len;
    /* chunk: wire_lines_opts_init(accept CRLF; write CRLF when `wsep` is
     * given, else LF) */
    bool lines;
    /* The writer refuses (WIRE_EINVAL) a payload that would not reach the
     * reader whole: one holding the separator, or whose tail forms one with
     * the separator written after it, or (lines written with "\n") ending
     * in a '\r' the reader would strip.  The client tries each such payload
     * first, then sends it cleaned. */
    bool refuses_sep;
    unsigned width;    /* binary length prefix (lenprefix, stream exact) */
    /* The largest payload the prefix can express, when the row's limit
     * reaches it: the client first tries one byte more, which the writer
     * must refuse with WIRE_EMSGSIZE. */
    size_t prefix_max;
    bool little_endian, counts_header, netstring;
    /* "Content-Length: N\r\n\r\n" headers (the Content-Length layer). */
    bool content_length;
    /* JSON-RPC rows: over the HTTP layers (client layer under the client,
     * server layer under the server) instead of lines. */
    bool http;
    /* Divides the echo cells' byte budget (0: 1), for rows whose
     * messages cost far more than their bytes (JSON-RPC: hex in JSON,
     * parsed and built again on both ends). */
    unsigned share;
    /* Largest message of the echo cells, and the receive limit the
     * stacks are built with there (0 for a format without one). */
    size_t max_msg;
    /* The error cell: the receive limit of both ends; the client then
     * sends one message of err_limit + 1 bytes.  0: no error cell, for
     * `no_err_reason`. */
    size_t err_limit;
    const char *no_err_reason;
    /* The limit is reported to a stream read (WIRE_EMSGSIZE), and the
     * application aborts, instead of failing the connection itself. */
    bool err_in_read;
    /* The client's write_eof is the stack's own, over any transport (the
     * HTTP client layer: no more requests), not the transport's
     * half-close. */
    bool own_half_close;
    /* Nothing can carry a message the server writes after the client's
     * EOF (HTTP: no request is left to answer), so the half-close
     * exchange has no trailer: the client gets every echo, then EOF. */
    bool no_write_after_eof;
};

extern const struct matrix_proto matrix_protos[];
extern const int matrix_nprotos;

/* ---- what a form gives the application ---- */
struct mx_form {
    const char *name;
    /* No pause_writing reaches the application: the client keeps a
     * window of messages in flight instead. */
    bool windowed;
    /* One message; `method` picks among the ways to write (write,
     * write_sequence, write_ref, ...). */
    int (*send)(struct mx_end *e, const void *data, size_t len,
                unsigned method);
    /* Stop / restart taking messages. */
    void (*pause_in)(struct mx_end *e);
    void (*resume_in)(struct mx_end *e);
    void (*close)(struct mx_end *e);
    void (*abort)(struct mx_end *e);
    int (*write_eof)(struct mx_end *e);
};

/* ---- one end of a cell: the application and its record ---- */
struct mx_end {
    struct wire_protocol base; /* first: the layer form's upper protocol */
    struct mx_cell *cell;
    struct conf_ctx *c;
    const char *role;
    bool server;
    size_t limit;              /* receive limit the stack was built with */
    const struct mx_form *form;
    const char *tname;         /* expected transport name; NULL: factory's */
    struct wire_protocol *bottom; /* what the transport below feeds */
    struct wire_transport *t;  /* the transport the application writes on */
    struct wire_stream *s;     /* the stream forms */
    struct wire_jsonrpc *rpc;  /* the JSON-RPC form */
    struct wire_jsonrpc_call *cur_call; /* the call being echoed */
    /* record */
    int made, lost, eofs, destroyed, depth;
    int pauses;                /* pause_writing (or drain waits) */
    int lost_code;
    char lost_msg[300];
    int read_code;             /* first failed stream read */
    char read_msg[300];
    bool write_paused, in_paused, closing, sending, eof_sent, tried_big;
    /* stream glue */
    bool reading;
    /* the client's progress */
    size_t nsent, nrcvd;
    size_t refused;            /* payloads the writer refused, as it must */
    unsigned method_rng;
    struct mx_end *next;
};

/* ---- a cell ---- */
enum mx_mode {
    MX_ECHO,      /* echo everything, the client closes */
    MX_HALFCLOSE, /* the client half-closes after its last message; the
                     server answers the EOF with a trailer, then closes */
    MX_OVERLONG   /* a message over the server's limit */
};

struct mx_cell {
    enum mx_mode mode;
    struct conf_ctx *c;
    const struct matrix_proto *row;
    char label[160];           /* "row over transport" (and the fault
                                  seed under WIRE_TEST_FAULT) */
    char case_name[96];
    uint64_t seed;
    uint64_t fault_seed;       /* WIRE_TEST_FAULT's seed, when set */
    bool fault;                /* a fault layer under both stacks */
    long t0;                   /* when the cell began (ms) */
    size_t *sizes;             /* the plan: one size per message */
    size_t n, cap;
    uint64_t bytes;
    size_t maxlen;             /* largest message of the plan */
    size_t over_at;            /* the over-long message, or SIZE_MAX */
    size_t n_echo;             /* echoes the client waits for */
    size_t window;
    uint8_t *txbuf, *rxbuf;
    struct mx_end *client, *server;
    struct mx_end *ends;
    bool done;                 /* the client verified every echo */
    bool trailer_ok;           /* ... and the server's trailer */
    bool eof_refused;          /* no half-close: write_eof said so */
};

/* Messages and plans (matrix_app.c).  `share` divides the echo cells'
 * byte budget. */
void mx_plan_echo(struct mx_cell *m, unsigned share);
void mx_plan_overlong(struct mx_cell *m);
/* Bytes a message of `n` bytes takes on the wire (its frame included). */
uint64_t mx_wire_len(const struct matrix_proto *r, size_t n);

/* The application, called by the forms (matrix_app.c). */
void mx_app_open(struct mx_end *e, struct wire_transport *t);
void mx_app_message(struct mx_end *e, const void *data, size_t len);
bool mx_app_eof(struct mx_end *e);
void mx_app_lost(struct mx_end *e, const struct wire_error *err);
void mx_app_pause(struct mx_end *e);
void mx_app_resume(struct mx_end *e);
void mx_app_destroy(struct mx_end *e);
/* A stream read failed with something other than a clean end. */
void mx_app_read_error(struct mx_end *e, const struct wire_error *err);

/* The builders a row picks from (matrix_stacks.c). */
struct wire_protocol *mx_build_chunk_layer(struct mx_end *e);
struct wire_protocol *mx_build_chunk_cb(struct mx_end *e);
struct wire_protocol *mx_build_lp_layer(struct mx_end *e);
struct wire_protocol *mx_build_lp_cb(struct mx_end *e);
struct wire_protocol *mx_build_stream_exact(struct mx_end *e);
struct wire_protocol *mx_build_stream_until(struct mx_end *e);
/* The HTTP client layer (client) and server layer (server), each over
 * the application as a layer form. */
struct wire_protocol *mx_build_http_layer(struct mx_end *e);
/* The half-close exchange of a cell: does write_eof work, and does the
 * server answer the EOF with a trailer? */
bool mx_half_close(const struct mx_cell *m);
bool mx_trailer(const struct mx_cell *m);
struct wire_protocol *mx_build_cl_layer(struct mx_end *e);
/* JSON-RPC over lines (or, for a `content_length` row, Content-Length;
 * for an `http` row, the HTTP layers): each message is an "echo" call
 * whose params carry it in hex. */
struct wire_protocol *mx_build_jsonrpc(struct mx_end *e);

#endif
