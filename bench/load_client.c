/*
 * load_client: the client half of bench/load, the load and soak scripts
 * of issue 9.  It drives any echo server on 127.0.0.1:PORT with
 * non-blocking sockets on one level-triggered epoll (libc only, no
 * libwire), and checks every echoed byte: each connection sends a
 * pseudo-random stream seeded by its own number, so a byte that comes
 * back wrong, out of order, or on the wrong connection is caught without
 * keeping a copy of what was sent.
 *
 * Modes (one per scenario of bench/load; every figure line goes to
 * stdout as KEY=VALUE words, flushed; details of failures to stderr):
 *
 *   c10k PORT N
 *       Opens N connections (at most 256 handshakes in flight), sends a
 *       distinct 64..127-byte payload on each, verifies each echo, keeps
 *       them all open and prints "c10k conns=N verified=V errors=E".
 *       Then waits for a line on stdin, resets every connection, exits.
 *   soak PORT SECONDS POOL MAXBYTES SEED
 *       For SECONDS keeps POOL connections busy; each streams a random
 *       amount (4 KiB to MAXBYTES, log-uniform) both ways and ends in
 *       one of three ways: close after the whole echo (60 %), half-close
 *       and read the echo to the server's EOF (20 %), or a reset
 *       (SO_LINGER 0) at a random point mid-transfer (20 %).  Finished
 *       connections are replaced at once.  Prints "soak conns=.. ok=..
 *       closed=.. half=.. rst=.. errors=.. out_MB=.. in_MB=..".
 *   emfile PORT N NEW
 *       Opens N connections one batch at a time, pings each (32 bytes)
 *       and, once no echo has arrived for a second, prints "emfile
 *       served=S pending=P".  On a stdin line it closes P + NEW + 2
 *       served connections, opens NEW fresh ones, waits (up to 30 s) for
 *       the pending and the fresh ones to be echoed, and prints "recover
 *       pending_served=A/P new_served=B/NEW".  Waits for another line,
 *       resets everything, exits.
 *   reset PORT TOTAL CONC MAXBYTES SEED
 *       TOTAL connections, CONC at a time, with 64 KiB socket buffers:
 *       each sends a random amount (64 KiB to MAXBYTES), reading only
 *       when its own send would block, and resets at a random point
 *       mid-transfer while the server is still writing back.  Prints
 *       "reset conns=.. rst=.. errors=.. out_MB=..".
 *   halfclose PORT CONC MINBYTES MAXBYTES SEED
 *       CONC connections (64 KiB socket buffers) each send a random
 *       amount, shut their write side and read the rest of the echo:
 *       every byte must come back, then the server's FIN (not a reset).
 *       Reads only when sending would block or is over, so the server
 *       owes as much as it buffers at the EOF.  Prints "halfclose
 *       conns=.. ok=.. errors=..".
 *   slow PORT CONC BYTES
 *       CONC connections with small socket buffers (64 KiB) each try to
 *       send BYTES and never read.  Once every connection has sent all or
 *       none has made progress for a second, prints "slow conns=..
 *       pushed_MB=.. complete=K".  Waits for a line, resets all, exits.
 *   echo PORT ROUNDS SIZE
 *       One well-behaved connection: ROUNDS round trips of SIZE bytes,
 *       each verified.  Prints "echo rounds=R verified=V seconds=S
 *       max_ms=M".
 *
 * The exit status is 0 when the mode ran to the end (its figures say
 * whether the server passed), 1 on a local failure, 3 on the deadline
 * (peer_util.h; PEER_DEADLINE overrides it).
 */
#define _GNU_SOURCE
#include "peer_util.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#define IN_FLIGHT 256            /* handshakes in progress at once */
#define CHUNK (64 * 1024)        /* largest send / recv per call */
#define STEPS 4                  /* sends or recvs per event, for fairness */
#define MAX_REPORTS 10           /* error details printed to stderr */

enum end_mode {
    END_CLOSE, /* close after the whole echo came back */
    END_HALF,  /* shutdown(SHUT_WR) after sending; read to the EOF */
    END_RST,   /* reset once rst_at bytes are sent */
    END_KEEP,  /* keep open once the whole echo came back */
};

enum read_mode {
    READ_EAGER, /* read whenever readable */
    READ_LAZY,  /* read only when sending would block, or is over */
    READ_NEVER, /* never read */
};

enum step {
    STEP_BUSY,
    STEP_OK,   /* finished as planned; fd closed (or kept for END_KEEP) */
    STEP_RST,  /* reset as planned; fd closed */
    STEP_FAIL, /* failed; fd closed */
};

struct conn {
    int fd; /* -1: slot free */
    long id;
    uint64_t seed;
    size_t total, sent, rcvd, rst_at;
    enum end_mode end;
    bool connecting, shut, blocked, done;
    uint32_t events; /* current epoll interest; 0: not in the set */
};

static int epfd;
static struct sockaddr_in peer;
static enum read_mode rmode = READ_EAGER;
static int small_buffers;
static long inflight, reports;
static uint64_t bytes_out, bytes_in;
static unsigned char sbuf[CHUNK], rbuf[CHUNK], xbuf[CHUNK];

/* splitmix64's finalizer: the pattern's source and the random numbers. */
static uint64_t
mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rng_state;

static uint64_t
rng(void)
{
    return mix(rng_state++);
}

/* A uniform number in [lo, hi]. */
static size_t
rng_range(size_t lo, size_t hi)
{
    return hi <= lo ? lo : lo + (size_t)(rng() % (hi - lo + 1));
}

/* Log-uniform in [lo, hi]: pick a power of two, then a point inside it. */
static size_t
rng_log(size_t lo, size_t hi)
{
    int a = 0, b = 0;
    while (((size_t)2 << a) <= lo)
        a++;
    while (((size_t)2 << b) <= hi)
        b++;
    int k = a + (int)(rng() % (uint64_t)(b - a + 1));
    size_t v = rng_range((size_t)1 << k, ((size_t)2 << k) - 1);
    return v < lo ? lo : v > hi ? hi : v;
}

/* The bytes OFF..OFF+LEN of the stream seeded by SEED. */
static void
pattern(uint64_t seed, uint64_t off, unsigned char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint64_t p = off + i;
        uint64_t v = mix(seed ^ (p >> 3) * 0x2545f4914f6cdd1dull);
        for (unsigned sh = (unsigned)(p & 7); sh < 8 && i < len; sh++, i++)
            buf[i] = (unsigned char)(v >> (sh * 8));
    }
}

static void
report(const struct conn *c, const char *what)
{
    if (reports++ < MAX_REPORTS)
        fprintf(stderr, "load_client: conn %ld: %s (sent %zu/%zu, echoed %zu)\n",
                c->id, what, c->sent, c->total, c->rcvd);
}

static void
set_events(struct conn *c, uint32_t ev)
{
    struct epoll_event e;

    if (ev == c->events)
        return;
    e.events = ev;
    e.data.ptr = c;
    if (epoll_ctl(epfd, c->events == 0 ? EPOLL_CTL_ADD
                        : ev == 0    ? EPOLL_CTL_DEL
                                     : EPOLL_CTL_MOD,
                  c->fd, &e) < 0)
        peer_die("epoll_ctl");
    c->events = ev;
}

/* The interest that matches the connection's state. */
static void
update_events(struct conn *c)
{
    uint32_t ev = 0;

    if (c->connecting) {
        ev = EPOLLOUT;
    } else if (!c->done) {
        if (c->sent < c->total)
            ev |= EPOLLOUT;
        if (rmode == READ_EAGER ||
            (rmode == READ_LAZY && (c->blocked || c->sent == c->total)))
            ev |= EPOLLIN;
    }
    set_events(c, ev);
}

static void
conn_close(struct conn *c, bool rst)
{
    struct linger lg = {1, 0};

    set_events(c, 0);
    if (rst)
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(c->fd);
    c->fd = -1;
    if (c->connecting)
        inflight--;
    c->connecting = false;
}

/* Start connection ID on slot C: TOTAL bytes, ending as END. */
static void
conn_open(struct conn *c, long id, size_t total, enum end_mode end)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        peer_die("socket");
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->id = id;
    c->seed = mix(rng_state ^ ((uint64_t)id << 20));
    c->total = total;
    c->end = end;
    if (end == END_RST)
        c->rst_at = rng_range(0, total > 0 ? total - 1 : 0);
    if (small_buffers) {
        int sz = 64 * 1024;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    peer_nodelay(fd);
    if (connect(fd, (struct sockaddr *)&peer, sizeof(peer)) < 0) {
        if (errno != EINPROGRESS)
            peer_die("connect");
        c->connecting = true;
        inflight++;
    }
    update_events(c);
}

static enum step
do_send(struct conn *c)
{
    for (int i = 0; i < STEPS && c->sent < c->total; i++) {
        size_t len = c->total - c->sent;
        if (len > CHUNK)
            len = CHUNK;
        if (c->end == END_RST && len > c->rst_at - c->sent)
            len = c->rst_at - c->sent;
        if (len > 0) {
            pattern(c->seed, c->sent, sbuf, len);
            ssize_t n = send(c->fd, sbuf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    c->blocked = true;
                    return STEP_BUSY;
                }
                report(c, strerror(errno));
                conn_close(c, false);
                return STEP_FAIL;
            }
            c->blocked = false;
            c->sent += (size_t)n;
            bytes_out += (uint64_t)n;
        }
        if (c->end == END_RST && c->sent >= c->rst_at) {
            conn_close(c, true);
            return STEP_RST;
        }
    }
    if (c->sent == c->total && c->end == END_HALF && !c->shut) {
        if (shutdown(c->fd, SHUT_WR) < 0) {
            report(c, "shutdown failed");
            conn_close(c, false);
            return STEP_FAIL;
        }
        c->shut = true;
    }
    return STEP_BUSY;
}

static enum step
do_recv(struct conn *c)
{
    for (int i = 0; i < STEPS; i++) {
        ssize_t n = recv(c->fd, rbuf, CHUNK, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return STEP_BUSY;
            report(c, strerror(errno));
            conn_close(c, false);
            return STEP_FAIL;
        }
        if (n == 0) {
            if (c->end == END_HALF && c->shut && c->rcvd == c->total) {
                conn_close(c, false);
                return STEP_OK;
            }
            report(c, "unexpected EOF from the server");
            conn_close(c, false);
            return STEP_FAIL;
        }
        if (c->rcvd + (size_t)n > c->sent) {
            report(c, "echo of bytes never sent");
            conn_close(c, true);
            return STEP_FAIL;
        }
        pattern(c->seed, c->rcvd, xbuf, (size_t)n);
        if (memcmp(rbuf, xbuf, (size_t)n) != 0) {
            report(c, "echoed bytes differ from those sent");
            conn_close(c, true);
            return STEP_FAIL;
        }
        c->rcvd += (size_t)n;
        bytes_in += (uint64_t)n;
        if (c->rcvd == c->total) {
            if (c->end == END_CLOSE) {
                conn_close(c, false);
                return STEP_OK;
            }
            if (c->end == END_KEEP) {
                c->done = true;
                update_events(c);
                return STEP_OK;
            }
        }
    }
    return STEP_BUSY;
}

/* Handle events EV on C. */
static enum step
conn_event(struct conn *c, uint32_t ev)
{
    enum step st = STEP_BUSY;

    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        c->connecting = false;
        inflight--;
        if (err != 0) {
            report(c, strerror(err));
            conn_close(c, false);
            return STEP_FAIL;
        }
        ev = EPOLLOUT;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
        st = do_recv(c);
    if (st == STEP_BUSY && (ev & EPOLLOUT) && c->fd >= 0)
        st = do_send(c);
    if (st == STEP_BUSY && c->fd >= 0)
        update_events(c);
    return st;
}

/* Wait up to MS for events; returns the events, each with its conn. */
static int
poll_events(struct epoll_event *evs, int max, int ms)
{
    int k = epoll_wait(epfd, evs, max, ms);
    if (k < 0) {
        if (errno == EINTR)
            return 0;
        peer_die("epoll_wait");
    }
    return k;
}

/* Wait for a line (or EOF) on stdin: the driver has measured. */
static void
wait_driver(void)
{
    char line[64];

    if (fgets(line, sizeof(line), stdin) == NULL && ferror(stdin))
        peer_die("stdin");
}

static void
reset_all(struct conn *cs, long n)
{
    for (long i = 0; i < n; i++)
        if (cs[i].fd >= 0)
            conn_close(&cs[i], true);
}

static struct conn *
conns_new(long n)
{
    struct conn *cs = calloc((size_t)n, sizeof(*cs));
    if (cs == NULL)
        peer_die("calloc");
    for (long i = 0; i < n; i++)
        cs[i].fd = -1;
    return cs;
}

static long
arg_long(const char *s, long min)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < min) {
        fprintf(stderr, "load_client: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

static double
mb(uint64_t b)
{
    return (double)b / 1e6;
}

/* ---- c10k ---- */

static int
mode_c10k(long n)
{
    struct epoll_event evs[512];
    struct conn *cs = conns_new(n);
    long started = 0, finished = 0, verified = 0, errors = 0;

    if (peer_raise_nofile(n + 16) < n + 16) {
        fprintf(stderr, "load_client: RLIMIT_NOFILE too low for %ld\n", n);
        return 1;
    }
    while (finished < n) {
        while (started < n && inflight < IN_FLIGHT) {
            conn_open(&cs[started], started, 64 + (size_t)(started % 64), END_KEEP);
            started++;
        }
        int k = poll_events(evs, 512, 1000);
        for (int i = 0; i < k; i++) {
            enum step st = conn_event(evs[i].data.ptr, evs[i].events);
            if (st == STEP_OK)
                verified++;
            if (st != STEP_BUSY)
                finished++;
            if (st == STEP_FAIL || st == STEP_RST)
                errors++;
        }
    }
    printf("c10k conns=%ld verified=%ld errors=%ld\n", n, verified, errors);
    fflush(stdout);
    wait_driver();
    reset_all(cs, n);
    free(cs);
    return 0;
}

/* ---- soak, reset and halfclose: a pool of streaming connections ---- */

struct pool_cfg {
    const char *name;
    long pool;        /* connections at a time */
    long total;       /* connections in all; 0: until the deadline */
    double seconds;   /* with total 0: how long to keep refilling */
    size_t min_bytes, max_bytes;
    bool log_sizes;   /* sizes log-uniform (else uniform) */
    int pct_half, pct_rst; /* the rest: END_CLOSE */
};

static int
run_pool(const struct pool_cfg *cfg)
{
    struct epoll_event evs[512];
    struct conn *cs = conns_new(cfg->pool);
    long opened = 0, active = 0, ok = 0, closed = 0, half = 0, rst = 0, errors = 0;
    double end = peer_now() + cfg->seconds;

    for (;;) {
        bool refill = cfg->total > 0 ? opened < cfg->total : peer_now() < end;
        for (long i = 0; refill && i < cfg->pool && inflight < IN_FLIGHT; i++) {
            if (cs[i].fd >= 0)
                continue;
            size_t bytes = cfg->log_sizes ? rng_log(cfg->min_bytes, cfg->max_bytes)
                                          : rng_range(cfg->min_bytes, cfg->max_bytes);
            int r = (int)(rng() % 100);
            enum end_mode em = r < cfg->pct_half ? END_HALF
                               : r < cfg->pct_half + cfg->pct_rst ? END_RST
                                                                  : END_CLOSE;
            conn_open(&cs[i], opened++, bytes, em);
            active++;
            if (cfg->total > 0 && opened >= cfg->total)
                break;
        }
        if (active == 0 && !refill)
            break;
        int k = poll_events(evs, 512, 100);
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            enum end_mode em = c->end;
            enum step st = conn_event(c, evs[i].events);
            if (st == STEP_BUSY)
                continue;
            active--;
            if (st == STEP_OK) {
                ok++;
                if (em == END_HALF)
                    half++;
                else
                    closed++;
            } else if (st == STEP_RST) {
                ok++;
                rst++;
            } else {
                errors++;
            }
        }
    }
    printf("%s conns=%ld ok=%ld closed=%ld half=%ld rst=%ld errors=%ld "
           "out_MB=%.1f in_MB=%.1f\n",
           cfg->name, opened, ok, closed, half, rst, errors, mb(bytes_out),
           mb(bytes_in));
    fflush(stdout);
    free(cs);
    return 0;
}

/* ---- emfile ---- */

/* Run events until N_WANT more connections are verified, or nothing has
 * been verified for QUIET_MS, or LIMIT_MS have passed.  Returns the
 * number verified. */
static long
run_until(long want, int quiet_ms, int limit_ms, long *errors)
{
    struct epoll_event evs[512];
    double start = peer_now(), last = start;
    long got = 0;

    while (got < want) {
        double now = peer_now();
        if ((now - last) * 1000 >= quiet_ms || (now - start) * 1000 >= limit_ms)
            break;
        int k = poll_events(evs, 512, 50);
        for (int i = 0; i < k; i++) {
            enum step st = conn_event(evs[i].data.ptr, evs[i].events);
            if (st == STEP_OK) {
                got++;
                last = peer_now();
            } else if (st != STEP_BUSY) {
                (*errors)++;
            }
        }
    }
    return got;
}

static int
mode_emfile(long n, long fresh)
{
    struct conn *cs = conns_new(n + fresh);
    long served = 0, errors = 0, pending, freed = 0, want_free, got;

    peer_raise_nofile(n + fresh + 16);
    /* Batches of 8, so the server is never asked for much at once. */
    for (long i = 0; i < n; i += 8) {
        long b = n - i < 8 ? n - i : 8;
        for (long j = i; j < i + b; j++)
            conn_open(&cs[j], j, 32, END_KEEP);
        served += run_until(b, 1000, 1000, &errors);
    }
    /* Late echoes of the last batches. */
    served += run_until(n - served, 1000, 5000, &errors);
    pending = n - served - errors;
    printf("emfile served=%ld pending=%ld errors=%ld\n", served, pending, errors);
    fflush(stdout);
    wait_driver();

    /* Free descriptors on the server: close served connections (a clean
     * close, so the server sees EOF and closes its end). */
    want_free = pending + fresh + 2;
    for (long i = 0; i < n && freed < want_free; i++) {
        if (cs[i].fd >= 0 && cs[i].done) {
            conn_close(&cs[i], false);
            freed++;
        }
    }
    for (long j = n; j < n + fresh; j++)
        conn_open(&cs[j], j, 32, END_KEEP);
    got = run_until(pending + fresh, 30000, 30000, &errors);
    long pending_ok = 0, fresh_ok = 0;
    for (long i = 0; i < n + fresh; i++) {
        if (cs[i].fd >= 0 && cs[i].done) {
            if (i >= n)
                fresh_ok++;
        }
    }
    pending_ok = got - fresh_ok;
    printf("recover freed=%ld pending_served=%ld/%ld new_served=%ld/%ld errors=%ld\n",
           freed, pending_ok, pending, fresh_ok, fresh, errors);
    fflush(stdout);
    wait_driver();
    reset_all(cs, n + fresh);
    free(cs);
    return 0;
}

/* ---- slow readers ---- */

static int
mode_slow(long n, size_t bytes)
{
    struct epoll_event evs[512];
    struct conn *cs = conns_new(n);
    long complete = 0, errors = 0;
    double last;

    rmode = READ_NEVER;
    small_buffers = 1;
    for (long i = 0; i < n; i++)
        conn_open(&cs[i], i, bytes, END_KEEP);
    last = peer_now();
    while (complete + errors < n && peer_now() - last < 1.0) {
        int k = poll_events(evs, 512, 100);
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            size_t before = c->sent;
            enum step st = conn_event(c, evs[i].events);
            if (c->sent != before)
                last = peer_now();
            if (st == STEP_FAIL)
                errors++;
            else if (before < c->total && c->sent == c->total)
                complete++;
        }
    }
    printf("slow conns=%ld pushed_MB=%.1f complete=%ld errors=%ld\n", n,
           mb(bytes_out), complete, errors);
    fflush(stdout);
    wait_driver();
    reset_all(cs, n);
    free(cs);
    return 0;
}

/* ---- one well-behaved client ---- */

static int
mode_echo(long rounds, size_t size)
{
    struct conn c;
    long verified = 0, errors = 0;
    double start = peer_now(), worst = 0;

    for (long r = 0; r < rounds; r++) {
        double t0 = peer_now();
        conn_open(&c, r, size, END_CLOSE);
        if (run_until(1, 30000, 30000, &errors) != 1) {
            if (c.fd >= 0)
                conn_close(&c, true);
            break;
        }
        verified++;
        if (peer_now() - t0 > worst)
            worst = peer_now() - t0;
    }
    printf("echo rounds=%ld verified=%ld errors=%ld seconds=%.3f max_ms=%.1f\n",
           rounds, verified, errors, peer_now() - start, worst * 1000);
    fflush(stdout);
    return 0;
}

int
main(int argc, char **argv)
{
    struct pool_cfg cfg;

    if (argc < 3) {
        fprintf(stderr, "usage: load_client c10k|soak|emfile|reset|halfclose|"
                        "slow|echo PORT ARGS... (see the source)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    peer_loopback_addr(&peer, argv[2]);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        peer_die("epoll_create1");
    rng_state = 1;
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = argv[1];

    if (strcmp(argv[1], "c10k") == 0 && argc == 4) {
        peer_set_deadline(300);
        return mode_c10k(arg_long(argv[3], 1));
    }
    if (strcmp(argv[1], "soak") == 0 && argc == 7) {
        cfg.seconds = (double)arg_long(argv[3], 1);
        peer_set_deadline((unsigned)cfg.seconds + 300);
        cfg.pool = arg_long(argv[4], 1);
        cfg.min_bytes = 4096;
        cfg.max_bytes = (size_t)arg_long(argv[5], 4096);
        cfg.log_sizes = true;
        cfg.pct_half = 20;
        cfg.pct_rst = 20;
        rng_state = (uint64_t)arg_long(argv[6], 0);
        peer_raise_nofile(cfg.pool + 16);
        return run_pool(&cfg);
    }
    if (strcmp(argv[1], "emfile") == 0 && argc == 5) {
        peer_set_deadline(300);
        return mode_emfile(arg_long(argv[3], 1), arg_long(argv[4], 0));
    }
    if (strcmp(argv[1], "reset") == 0 && argc == 7) {
        peer_set_deadline(300);
        cfg.total = arg_long(argv[3], 1);
        cfg.pool = arg_long(argv[4], 1);
        cfg.min_bytes = 64 * 1024;
        cfg.max_bytes = (size_t)arg_long(argv[5], 64 * 1024);
        cfg.pct_rst = 100;
        rng_state = (uint64_t)arg_long(argv[6], 0);
        rmode = READ_LAZY;
        small_buffers = 1;
        return run_pool(&cfg);
    }
    if (strcmp(argv[1], "halfclose") == 0 && argc == 7) {
        peer_set_deadline(300);
        cfg.total = cfg.pool = arg_long(argv[3], 1);
        cfg.min_bytes = (size_t)arg_long(argv[4], 1);
        cfg.max_bytes = (size_t)arg_long(argv[5], (long)cfg.min_bytes);
        cfg.pct_half = 100;
        rng_state = (uint64_t)arg_long(argv[6], 0);
        rmode = READ_LAZY;
        small_buffers = 1;
        return run_pool(&cfg);
    }
    if (strcmp(argv[1], "slow") == 0 && argc == 5) {
        peer_set_deadline(300);
        peer_raise_nofile(arg_long(argv[3], 1) + 16);
        return mode_slow(arg_long(argv[3], 1), (size_t)arg_long(argv[4], 1));
    }
    if (strcmp(argv[1], "echo") == 0 && argc == 5) {
        peer_set_deadline(300);
        return mode_echo(arg_long(argv[3], 1), (size_t)arg_long(argv[4], 1));
    }
    fprintf(stderr, "load_client: bad mode or arguments (see the source)\n");
    return 2;
}
