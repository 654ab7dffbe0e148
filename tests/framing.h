/*
 * Shared by the framing suites of tests/check_unit: check_chunk.c (chunk
 * and lines), check_lenprefix.c (lenprefix and netstring),
 * check_framing.c (what both formats share: names and options,
 * re-entrancy, flow control) and check_message_handler.c (the callback
 * forms).  The helpers are in framing_util.c.
 *
 * A stack is a framing layer over the string transport with unit.h's
 * recorder on top, in message mode (a framing layer delivers an empty
 * message as a data_received of length 0): rec_escaped() holds each
 * message, escaped, followed by '|', so "a||b|" is "a", "", "b".
 *
 * Every input is fed whole, one byte at a time, cut in two (and, when
 * short, in three) at every position, and in seeded random pieces; every
 * way must give exactly the same messages, the same error code and the
 * same error text.  Each split is run twice: with the layer right on the
 * string transport, which copies the input into the buffers the layer
 * offers (get_buffer, as a socket read would), and with a fault layer
 * with every fault off in between, which passes reads up as
 * data_received only; both must give the same outcome.  The seed comes from WIRE_TEST_SEED when it is set (else
 * from the clock and pid); it is named in the failure messages of the
 * split runs, and check_unit prints it whenever a test failed, so a
 * failing split can be replayed.
 */
#ifndef WIRE_TESTS_FRAMING_H
#define WIRE_TESTS_FRAMING_H

#include "unit.h"

#include <wire/framing.h>
#include <wire/string_transport.h>

#include <stdint.h>

/* ---- the seed ---- */

/* The run's seed (unit_seed), for failure messages. */
extern unsigned fr_seed;
/* Restart the generator from the seed and `name` (each test its own, so
 * a test's splits do not depend on which tests ran before it). */
void fr_rand_reset(const char *name);
uint64_t fr_rand(void);
/* A number below `n` (0 when `n` is 0). */
size_t fr_rand_below(size_t n);

/* ---- stacks ---- */

enum { K_CHUNK, K_LENPREFIX, K_CONTENT_LENGTH };

struct stack_cfg {
    int kind;
    struct wire_chunk_opts co;
    struct wire_lenprefix_opts lo;
    size_t cl_max; /* K_CONTENT_LENGTH: the limit (0: the default) */
};

/* A chunk layer splitting on `delim` (NULL: the default "\n"), with the
 * limit `max` (0: the default). */
struct stack_cfg chunk_cfg(const char *delim, size_t max);
struct stack_cfg lines_cfg(bool accept_crlf, bool write_crlf);
/* A binary length prefix of `width` bytes, little endian when `le`. */
struct stack_cfg lp_cfg(unsigned width, bool le, uint64_t max);
struct stack_cfg ns_cfg(uint64_t max);
/* Content-Length headers (check_content_length.c). */
struct stack_cfg cl_cfg(size_t max);

/* How the layer gets its reads (see the top of this file). */
enum { PATH_BUFFERED, PATH_DATA };

/* The layer `c` over a recorder (message mode) writing into `log`, on a
 * string transport; the layer is log->t.  stack_new_path() chooses how
 * reads reach the layer; stack_new() is PATH_BUFFERED. */
struct wire_transport *stack_new(const struct stack_cfg *c,
                                 struct rec_log *log);
struct wire_transport *stack_new_path(const struct stack_cfg *c,
                                      struct rec_log *log, int path);

/* What the layers of every stack made since fr_paths_reset() did with the
 * transport below's get_buffer: asked (get_buffer calls), offered (those
 * that returned a buffer), updates (buffer_updated calls) and the bytes
 * they brought; recv_reads, the reads that came as data_received. */
struct fr_paths {
    unsigned long asked, offered, updates, recv_reads;
    uint64_t bytes, recv_bytes;
    const char *last_buf; /* the buffer offered last */
};
extern struct fr_paths fr_paths;
void fr_paths_reset(void);
/* Count in fr_paths what the transport below does with the layer
 * protocol `p` (stack_new does this for its layer). */
void fr_spy_on(struct wire_protocol *p);

/* An on_data hook that remembers, in fr_first_data, where the first
 * message since fr_paths_reset() lay (to tell a message delivered from
 * the layer's buffer). */
extern const char *fr_first_data;
void fr_note_data(struct rec_log *log, struct wire_transport *t,
                  const void *data, size_t len);
/* An on_data hook: pause reading in every message over 1000 bytes. */
void fr_pause_on_long(struct rec_log *log, struct wire_transport *t,
                      const void *data, size_t len);
/* Feed EOF, step, check the clean end (eof_received, then a clean
 * connection_lost), and stack_free(). */
void fr_end_clean(struct wire_transport *st, struct rec_log *log);

/* An input being built and the marks it must give (rec_escaped). */
struct fr_bufs {
    unsigned char *in;
    char *want;
    size_t n, k; /* bytes of each used */
};
/* Room for `cap` bytes of input and of marks. */
struct fr_bufs fr_bufs_new(size_t cap);
void fr_bufs_free(struct fr_bufs *b);
/* Printable bytes, never '|', '\\', '\r' or '\n', varied enough that a
 * misplaced one shows. */
char fr_byte(size_t i);
/* Append `len` bytes fr_byte(seed + i) to the input and, followed by
 * '|', to the marks. */
void fr_bufs_add(struct fr_bufs *b, size_t len, size_t seed);
/* Free the string transport, check that everything went away, and
 * release what the log holds. */
void stack_free(struct wire_transport *st, struct rec_log *log);

/* ---- feeding every way ---- */

/* What one input must give, whatever the split. */
struct expect {
    const char *marks; /* the messages (rec_escaped) */
    int code;          /* 0: clean; else the code connection_lost gets */
    const char *msg;   /* the exact error text when code != 0 */
    bool eof;          /* feed EOF after the input */
    int upper_eof;     /* eof_received calls expected (clean runs) */
};

/* These messages, then EOF and a clean close. */
#define CLEAN(marks) {(marks), 0, NULL, true, 1}
/* These messages, then the failure `code` with exactly the text `msg`;
 * EOF is fed after the input when `eof`. */
#define FAILS(marks, code, msg, eof) {(marks), (code), (msg), (eof), 0}

/* Feed `in` cut at the offsets `cuts` (ascending, inside (0, len)), then
 * EOF when asked, step, and check the outcome against `e`, once each way
 * (PATH_BUFFERED, PATH_DATA).  `what` names the split in failure
 * messages.  run_split_path() runs one way. */
void run_split(const struct stack_cfg *c, const void *in, size_t len,
               const size_t *cuts, size_t ncuts, const struct expect *e,
               const char *what);
void run_split_path(const struct stack_cfg *c, const void *in, size_t len,
                    const size_t *cuts, size_t ncuts, const struct expect *e,
                    const char *what, int path);
/* Every way: whole, byte by byte, in two at every position, in three at
 * every pair of positions (short inputs), and `nrandom` random splits. */
void run_all_splits(const struct stack_cfg *c, const void *in, size_t len,
                    const struct expect *e, int nrandom);
/* For inputs too long to cut in two at every position (messages larger
 * than a read): whole, byte by byte, in two at every position up to
 * `near` bytes from each of the offsets `marks` (where the format changes
 * state: a prefix, a payload, a delimiter) and every `stride` bytes
 * elsewhere, and `nrandom` random splits into pieces of up to 64 KiB. */
void run_long_splits(const struct stack_cfg *c, const void *in, size_t len,
                     const size_t *marks, size_t nmarks, size_t near,
                     size_t stride, const struct expect *e, int nrandom);

#define NRANDOM 64

/* One input and what it must give, fed every way by run_cases. */
struct split_case {
    const char *in;
    size_t len;
    struct expect e;
    int nrandom;
};

/* A string literal and its length, NUL bytes inside included. */
#define IN(lit) (lit), sizeof(lit) - 1

/* run_all_splits for each case in turn, over the same stack. */
void run_cases(const struct stack_cfg *c, const struct split_case *cases,
               size_t n);
#define RUN_CASES(c, cases)                                                   \
    run_cases((c), (cases), sizeof(cases) / sizeof((cases)[0]))

/* ---- bad arguments ---- */

/* A constructor's answer to bad arguments: NULL and WIRE_EINVAL, with
 * exactly the text `msg` unless it is NULL.  Clears the error. */
void assert_einval(const void *p, struct wire_error *err, const char *msg);

/* ---- writes by reference ---- */

/* count_free (a wire_free_cb whose arg must be &ref_frees) counts the
 * buffers given back and remembers the last one. */
extern int ref_frees;
extern const void *ref_freed_data;
extern size_t ref_freed_len;
void count_free(void *arg, const void *data, size_t len);

/* ---- the suites ---- */

/* A TCase of `s` whose tests start with nothing counted and end with
 * every protocol destroyed; `timeout` seconds (0: Check's default). */
TCase *fr_tcase(Suite *s, const char *name, int timeout);

#endif /* WIRE_TESTS_FRAMING_H */
