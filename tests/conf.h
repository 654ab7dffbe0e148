/*
 * The transport conformance suite: shared declarations.
 *
 * One set of cases (conformance.c, conf_cases_*.c) runs against every
 * entry of a table of transport factories (conf_factories.c).  A factory
 * knows how to make a connected pair of protocols on a loop (through an
 * endpoint string and wire_connect, or directly, like wire_mem_pair), what
 * the transport declares it can do (half-close, reset), how to make a
 * connect fail, and what get_info should answer.  A new transport, or a
 * layer stacked on one (trace, fault, TLS), joins the suite by adding one
 * entry to that table.
 *
 * The harness (conf_harness.c) supplies the "probe" protocol, which
 * records every callback, checks the callback contract on its own side,
 * verifies received bytes against a deterministic stream and can pump a
 * stream out with random write sizes and methods; plus the loop driving
 * helpers.  Tests never sleep: they run the loop until a condition holds
 * or a deadline passes, and a deadline is always a failure.
 */
#ifndef WIRE_TESTS_CONF_H
#define WIRE_TESTS_CONF_H

#include <wire/wire.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>

/* ---- capabilities a factory declares ---- */
#define CONF_CAP_HALF_CLOSE (1u << 0) /* write_eof works */
#define CONF_CAP_RESET      (1u << 1) /* abort makes the peer see an error */
#define CONF_CAP_FD         (1u << 2) /* WIRE_INFO_FD answers */
#define CONF_CAP_ENDPOINT   (1u << 3) /* wire_listen/wire_connect strings */
#define CONF_CAP_SOCKADDR   (1u << 4) /* PEER/LOCAL_SOCKADDR answer */
/* An abort reaches the peer as a truncation (TLS over a transport that
 * cannot reset: EOF without close_notify is WIRE_ETLS, "truncated"). */
#define CONF_CAP_TRUNCATES  (1u << 5)

#define CONF_KIB ((size_t)1024)
#define CONF_MIB ((size_t)1024 * 1024)

struct conf_ctx;
struct probe;

/* A connect that must fail, with the outcome it must report. */
struct conf_fail_case {
    char label[80];
    char endpoint[400];
    int code;          /* the code connect_cb must report */
    char needle[300];  /* text the error message must contain */
};

struct conf_factory {
    const char *name;       /* shown in every failure message */
    const char *info_name;  /* expected WIRE_INFO_NAME */
    unsigned caps;
    /* Expected prefix of WIRE_INFO_PEER / WIRE_INFO_LOCAL strings. */
    const char *info_prefix;
    /* Return false (and say why) when the transport cannot run here;
     * the case then says so on stderr.  NULL: always available. */
    bool (*available)(struct conf_ctx *c, char *why, size_t len);
    /* Fill `buf` with a fresh endpoint to listen on (ENDPOINT only). */
    void (*listen_endpoint)(struct conf_ctx *c, char *buf, size_t len);
    /* Start a pair without an endpoint (e.g. wire_mem_pair); the pair
     * owns both protocols on success.  NULL: listen + wire_connect. */
    int (*make_pair)(struct conf_ctx *c, struct wire_protocol *client,
                     struct wire_protocol *server);
    /* The address both ends report when there is no server (mem pair). */
    const char *pair_address;
    /* Fill up to `max` connects that must fail; returns how many.  May
     * hold descriptors in the context (closed at the end of the case). */
    int (*fail_cases)(struct conf_ctx *c, struct conf_fail_case *out, int max);
    /* Why no connect can time out on this transport, or NULL when one of
     * the fail cases is a timeout. */
    const char *no_timeout_reason;
    /* Buffer size for transports that have one (mem). */
    size_t bufsize;
    /* When the server end of a pair is another transport than the
     * client's (serial-pty: the serial transport on a pty slave, a pipe
     * on the master): its WIRE_INFO_NAME and PEER/LOCAL prefix.  Neither
     * end can then name the other.  NULL: the same as the client's. */
    const char *server_info_name;
    const char *server_info_prefix;
    /* With server_info_name: the server end's CONF_CAP_FD and
     * CONF_CAP_SOCKADDR (exec: the server end is a Unix socket, the
     * client's is pipes).  0: the same as `caps`. */
    unsigned server_info_caps;
    /* The client's connection_made can come before the server end exists
     * (exec: the child connects by itself, after it started): a client
     * that aborts at once may never reach the server, whose protocol then
     * stays unused. */
    bool client_ahead;
    /* Why a graceful close by the server end can lose bytes the client
     * has not read yet (a pty master's close hangs the slave up, and the
     * kernel discards the slave's unread input); the cases then check
     * that what arrived is a clean prefix.  NULL: a close never loses. */
    const char *server_close_drops;
};

extern const struct conf_factory conf_factories[];
extern const int conf_nfactories;

/* ---- the deterministic byte stream ---- */
/* Byte `pos` of stream `seed` is a pure function of both, so a sender and
 * a receiver agree without sharing state and nothing is stored. */
void conf_stream_fill(uint64_t seed, uint64_t pos, void *buf, size_t len);
/* Offset of the first byte of `data` that differs from the stream at
 * `pos`, or SIZE_MAX when all match.  `period` > 0 makes the stream
 * repeat every `period` bytes. */
size_t conf_stream_check(uint64_t seed, uint64_t period, uint64_t pos,
                         const void *data, size_t len);
uint64_t conf_rand(uint64_t *state);

/* ---- the sender ---- */
enum conf_method { CONF_MIX = -1, CONF_WRITE = 0, CONF_SEQUENCE = 1,
                   CONF_REF = 2 };

struct conf_pump {
    uint64_t seed;        /* stream to send */
    uint64_t total, sent; /* bytes to send, bytes handed to the transport */
    uint64_t rng;         /* sizes and methods */
    size_t min_chunk, max_chunk;
    int method;           /* enum conf_method */
    bool ignore_pause;    /* keep writing while paused (allowed, advisory) */
    bool autostart;       /* start from connection_made */
    bool eof_when_done;   /* write_eof once everything was written */
    bool close_when_done; /* close once everything was written */
    bool done;
    uint64_t writes[3];   /* calls per method */
    bool running;
};

/* ---- the probe protocol ---- */
struct probe {
    struct wire_protocol base;
    struct conf_ctx *ctx;
    const char *role;
    struct wire_transport *t;  /* from connection_made until lost returns */
    int made, lost, eofs, pauses, resumes, datas, destroyed;
    int depth;                 /* callbacks of this probe running */
    bool write_paused;         /* between pause_writing and resume_writing */
    bool keep_open;            /* eof_received's answer (no hook) */
    bool read_paused;          /* the test paused reading (or pause()) */
    bool check_water;          /* check sizes at pause/resume */
    bool shrink;               /* conf_shrink_buffers at connection_made */
    int lost_code;
    char lost_msg[256];
    size_t size_at_pause, size_at_resume;
    /* receiving */
    uint64_t rx;
    bool verify;
    uint64_t rx_seed, rx_period;
    bool bad;
    uint64_t bad_at;
    uint64_t rx_at_eof;
    /* sending */
    struct conf_pump pump;
    bool has_pump;
    /* hooks for a case; each runs inside the callback */
    void (*on_made)(struct probe *p);
    void (*on_data)(struct probe *p, const void *data, size_t len);
    bool (*on_eof)(struct probe *p);
    void (*on_lost)(struct probe *p, const struct wire_error *err);
    void (*on_pause)(struct probe *p);
    void (*on_resume)(struct probe *p);
    void *user;
    long iuser;
    struct probe *next_in_ctx;
};

/* ---- a case's context ---- */
struct conf_ctx {
    const struct conf_factory *f;
    const char *fname;         /* factory name, for messages */
    const char *case_name;
    struct wire_loop *loop;
    bool wake;                 /* set by every event; run_until waits on it */
    bool in_call;              /* the test is inside close/abort/write */
    char violation[512];       /* first contract violation seen */
    int probes_new, probes_destroyed;
    int refs_out;              /* write_ref buffers not yet released */
    struct probe *probes;
    uint64_t seed;
    /* the server pairs are made through */
    struct wire_server *server;
    char server_ep[400];
    struct wire_protocol *pending[16];
    int npending;
    int unexpected_accepts;
    int connect_failed;
    int connect_code;
    char connect_err[300];
    /* factory state */
    int held_fds[16];
    int nheld;
    unsigned serial;
};

/* Shared by every factory: a directory for Unix socket paths. */
extern char conf_tmpdir[];

/* Assert with the factory name in front of the message. */
#define CK(c, cond, fmt, ...)                                                 \
    ck_assert_msg((cond), "[%s] " fmt, (c)->fname, ##__VA_ARGS__)

/* Begin a case for factory `idx`; NULL when the transport is unavailable
 * here (said on stderr; the case then returns). */
struct conf_ctx *conf_begin(int idx, const char *case_name);
/* End a case: abort what is still open, free the server, run the loop
 * until nothing is left, and assert every protocol was destroyed exactly
 * once and every write_ref buffer released. */
void conf_end(struct conf_ctx *c);

/* Fail the case if a probe recorded a contract violation. */
void conf_check(struct conf_ctx *c);
void conf_violation(struct conf_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Run the loop until `cond` holds; a deadline or a loop that runs out of
 * work first fails the case.  `cond` is tested again whenever an event
 * sets c->wake, and in any case every CONF_POLL_MS: some conditions are
 * made true by protocols that are not probes and wake nobody (a relay end
 * getting its transport in conf_pair), and must not have to wait for the
 * deadline -- stretched by WIRE_TEST_TIME_SCALE -- to be seen. */
#define CONF_POLL_MS 100
#define CONF_WAIT(c, cond, ms, what)                                          \
    do {                                                                      \
        long dl_ = conf_now_ms() + conf_scale_ms(ms);                         \
        while (!(cond)) {                                                     \
            conf_check(c);                                                    \
            long left_ = dl_ - conf_now_ms();                                 \
            CK(c, left_ > 0, "deadline hit waiting for %s", (what));          \
            (c)->wake = false;                                                \
            int rc_ = wire_loop_run_until(                                    \
                (c)->loop, &(c)->wake,                                        \
                left_ < CONF_POLL_MS ? left_ : CONF_POLL_MS);                 \
            CK(c, rc_ == 0 || rc_ == WIRE_ETIMEDOUT || (cond),                \
               "waiting for %s: %s", (what),                                  \
               rc_ == 1 ? "the loop ran out of work" : wire_strerror(rc_));   \
        }                                                                     \
        conf_check(c);                                                        \
    } while (0)

long conf_now_ms(void);
long conf_scale_ms(long ms);
/* Run `n` full loop iterations (each polls I/O), for "nothing happens". */
void conf_turns(struct conf_ctx *c, int n);
/* Bytes for bulk cases (WIRE_TEST_BULK_MB, default 64 MiB). */
size_t conf_bulk(void);

/* Probes. */
struct probe *probe_new(struct conf_ctx *c, const char *role);
void probe_verify(struct probe *p, uint64_t seed, uint64_t period);
void probe_pump(struct probe *p, uint64_t seed, uint64_t total, int method,
                size_t min_chunk, size_t max_chunk);
/* Write what the pump still has to write (until paused or done). */
void conf_pump_run(struct probe *p);
/* Pause / resume reading, recording it so data while paused is caught. */
void probe_pause_reading(struct probe *p);
void probe_resume_reading(struct probe *p);
/* Write `n` stream bytes (a copy) from position `pos`. */
int probe_write_stream(struct probe *p, uint64_t seed, uint64_t pos, size_t n);
/* Close / abort from outside any callback, asserting nothing is
 * delivered inside the call. */
void conf_close(struct probe *p);
void conf_abort(struct probe *p);
/* A write_ref buffer the context counts until its free callback. */
void *conf_ref_alloc(struct conf_ctx *c, size_t n);
void conf_ref_free(void *arg, const void *data, size_t len);

/* Pairs: start one (returns 0 or fails the case), and wait for both
 * ends' connection_made. */
void conf_pair_start(struct conf_ctx *c, struct wire_protocol *client,
                     struct wire_protocol *server);
void conf_pair(struct conf_ctx *c, struct wire_protocol *client,
               struct wire_protocol *server);
void conf_probe_pair(struct conf_ctx *c, struct probe *client,
                     struct probe *server);
/* A wire_connect callback for pairs: records a failure in the context
 * (connect_failed, connect_code, connect_err) and wakes the loop. */
void conf_pair_connected(void *arg, struct wire_transport *t,
                         const struct wire_error *err);
/* The context's listening server (made on first use). */
struct wire_server *conf_server(struct conf_ctx *c);

/* Hold a descriptor until the end of the case. */
void conf_hold_fd(struct conf_ctx *c, int fd);
/* Shrink (and fix: no autotuning) the kernel buffers of a socket
 * transport (CAP_FD), so that backpressure shows after little data and a
 * full queue stays full while the peer does not read. */
void conf_shrink_buffers(struct conf_ctx *c, struct wire_transport *t);
/* The expected WIRE_INFO_NAME and PEER/LOCAL prefix of one end. */
const char *conf_info_name(const struct conf_ctx *c, bool server);
const char *conf_info_prefix(const struct conf_ctx *c, bool server);
/* The CONF_CAP_FD / CONF_CAP_SOCKADDR bits of one end. */
unsigned conf_info_caps(const struct conf_ctx *c, bool server);
/* The serial-pty factory's pairs and failing connects (conf_pty.c). */
int conf_pty_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                       struct wire_protocol *server);
int conf_pty_fail_cases(struct conf_ctx *c, struct conf_fail_case *out,
                        int max);
/* Say that a case checks nothing here, and why (stderr). */
void conf_note(struct conf_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The main() of a program over the factories: SIGPIPE made to kill (the
 * library must never raise it), conf_tmpdir made from `tmp_template` (a
 * mkdtemp template: stay in /tmp whatever TMPDIR says, as Unix socket
 * paths are short), `s` run, the directory removed.  Returns the exit
 * status. */
int conf_run(Suite *s, const char *tmp_template);

/* Case registration (one function per file). */
void conf_add_data_cases(Suite *s);
void conf_add_close_cases(Suite *s);
void conf_add_net_cases(Suite *s);

#endif
