/*
 * Shared by the unit suites of tests/check_unit: the suite constructors
 * that unit_main.c runs, and a recording protocol ("rec") most suites use.
 *
 * A rec protocol writes everything that happens to it into a struct
 * rec_log the test owns (so the log outlives the protocol, which its
 * transport destroys), and counts itself in unit_live_protocols so every
 * test can assert that no protocol leaked.  Optional hooks in the log let
 * a test act from inside a callback (close, abort, pause, write...).
 */
#ifndef WIRE_TESTS_UNIT_H
#define WIRE_TESTS_UNIT_H

#include <check.h>
#include <wire/wire.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* How early, by the test's own CLOCK_MONOTONIC, a loop timer may fire.
 * libevent's default timer clock is CLOCK_MONOTONIC_COARSE, which moves
 * in kernel ticks (4 ms at HZ=250, 10 ms at HZ=100), so a timer set for
 * T ms can run up to one tick before T has passed on a precise clock.
 * Lower bounds on elapsed time allow this much; they still catch a timer
 * that fires at once or at the wrong setting. */
#define UNIT_TIMER_SLACK_MS 10

/* ---- suites ---- */
Suite *error_suite(void);
Suite *loop_suite(void);
Suite *endpoint_suite(void);
Suite *string_suite(void);
Suite *layer_suite(void);
Suite *contract_suite(void);
Suite *sock_suite(void);
Suite *server_suite(void);
Suite *workers_suite(void);
Suite *framing_suite(void);
Suite *chunk_suite(void);
Suite *lenprefix_suite(void);
Suite *message_handler_suite(void);
Suite *stream_suite(void);
Suite *pipe_suite(void);
Suite *file_suite(void);
Suite *subprocess_suite(void);
Suite *serial_suite(void);
Suite *tls_suite(void);
Suite *starttls_suite(void);
Suite *http_head_suite(void);
Suite *http_server_suite(void);
Suite *http_client_suite(void);
Suite *http_layer_suite(void);
Suite *content_length_suite(void);
Suite *jsonrpc_suite(void);
Suite *trace_suite(void);
Suite *record_suite(void);
Suite *fault_suite(void);

/* The seed of every suite's random splits: WIRE_TEST_SEED when set, else
 * chosen once per run (before the runner forks) and printed on failure. */
unsigned unit_seed(void);

/* False when the runner does not fork (CK_FORK=no): tests that expect the
 * process to die (the contract checker's SIGABRT) are then left out. */
extern bool unit_can_fork;

/* ---- the recording protocol ---- */

/* Protocols created by rec_new (and by suites' own protocols) and not yet
 * destroyed. */
extern int unit_live_protocols;

struct rec_log;
typedef void (*rec_hook)(struct rec_log *log, struct wire_transport *t);
typedef void (*rec_data_hook)(struct rec_log *log, struct wire_transport *t,
                              const void *data, size_t len);

struct rec_log {
    /* counts */
    int made, data_calls, eof, lost, paused, resumed, destroyed;
    int get_buffer_calls, buffer_updated_calls;
    /* the transport, from connection_made until connection_lost */
    struct wire_transport *t;
    /* every byte received, and the same with '|' after each delivery, so
     * message boundaries are visible */
    char *in;
    size_t in_len, in_cap;
    char *marks;
    size_t marks_len, marks_cap;
    /* message mode: set `messages` before rec_new for a protocol above a
     * framing layer.  Each data_received is then one message, and one of
     * length 0 is an empty message (otherwise it is a failure); a message
     * may only come between connection_made and eof_received or the loss.
     * `escaped` holds each message escaped (unit_append_escaped) and
     * followed by '|', so "a||b|" is "a", "", "b"; `lens` each length. */
    bool messages;
    char *escaped;
    size_t escaped_len, escaped_cap;
    size_t *lens;
    size_t nlens, lens_cap;
    /* the loss */
    int lost_code;
    char lost_msg[512];
    bool lost_null;          /* connection_lost got err == NULL */
    /* what eof_received returns */
    bool eof_keep;
    /* flags a test can wait on with wire_loop_run_until */
    volatile bool made_flag, eof_flag, lost_flag, destroyed_flag;
    /* zero-copy receive: when bufsize > 0 the protocol offers get_buffer
     * with buffers of this size (NULL when offer_null) */
    size_t bufsize;
    bool offer_null;
    char *gbuf;
    /* hooks (may be NULL) */
    rec_hook on_made, on_eof, on_lost, on_pause, on_resume;
    rec_data_hook on_data;
    void *user;
    int user_n;
};

/* Make a recording protocol writing into `log` (which must outlive it). */
struct wire_protocol *rec_new(struct rec_log *log);
/* An on_data hook: pause reading inside the first data_received. */
void rec_pause_on_first(struct rec_log *log, struct wire_transport *t,
                        const void *data, size_t len);
/* unit_run_until predicates on a struct rec_log: its made, eof, lost and
 * destroyed flags. */
bool log_made(void *log);
bool log_eof(void *log);
bool log_lost(void *log);
bool log_destroyed(void *log);
/* Release what the log allocated (not the log itself). */
void rec_log_free(struct rec_log *log);
/* The log as a NUL-terminated string (for ck_assert_str_eq). */
const char *rec_in(const struct rec_log *log);
const char *rec_marks(const struct rec_log *log);
const char *rec_escaped(const struct rec_log *log);

/* Append `n` bytes to the growing NUL-terminated buffer `*buf` (length
 * `*len`, capacity `*cap`; all zero to start). */
void unit_append(char **buf, size_t *len, size_t *cap, const void *data,
                 size_t n);
/* The same with the bytes escaped (printable ASCII as is, but '|', '\\'
 * and every other byte as \xNN), then a '|'. */
void unit_append_escaped(char **buf, size_t *len, size_t *cap,
                         const void *data, size_t n);

/* A temporary file (unlinked at once) of `size` pseudo-random bytes from
 * `seed`, open for reading and writing; its bytes in *content (malloc'd,
 * the caller frees).  Returns the fd. */
int unit_temp_file(size_t size, unsigned seed, unsigned char **content);

/* The string transport's output as a NUL-terminated copy (static buffer,
 * valid until the next call). */
const char *unit_output(const struct wire_transport *t);

/* Run `loop` until pred(arg) holds or `timeout_ms` passes, without
 * sleeping: a deadline timer bounds the wait.  Returns pred(arg). */
bool unit_run_until(struct wire_loop *loop, bool (*pred)(void *arg),
                    void *arg, long timeout_ms);

/* `ms` stretched by WIRE_TEST_TIME_SCALE (valgrind sets it): deadlines
 * only bound failures, so a slow run must not fail them. */
long unit_scale_ms(long ms);

/* Reset the live counters at the start of each test (checked fixture). */
void unit_setup(void);
/* A TCase of `s` with unit_setup as its checked fixture. */
TCase *unit_tcase(Suite *s, const char *name);

/* Assert `haystack` contains `needle`, naming both when it does not. */
#define ck_assert_contains(haystack, needle)                                  \
    do {                                                                      \
        const char *h__ = (haystack);                                         \
        const char *n__ = (needle);                                           \
        ck_assert_msg(h__ != NULL && strstr(h__, n__) != NULL,                \
                      "'%s' does not contain '%s'", h__ ? h__ : "(null)",    \
                      n__);                                                   \
    } while (0)

#endif /* WIRE_TESTS_UNIT_H */
