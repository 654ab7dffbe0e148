/*
 * serial-peer: the test program at one end of a virtual serial cable
 * (tests/interop/serial-socat-test.sh).  It connects to ENDPOINT (a
 * serial:... endpoint) through the library, sends BYTES bytes of a fixed
 * pattern that holds every byte value (so raw mode is checked end to end:
 * CR, LF, ^C, ^D, ^Q, ^S, DEL, 8-bit bytes), expects the same bytes back
 * from an echo at the other end, in order, then closes.
 *
 * Exit status 0 when every byte came back; 1 with the reason on stderr
 * otherwise: the connect failed, the connection was lost early, a byte
 * differs, or nothing arrived for 10 s.
 *
 * Usage: serial-peer ENDPOINT [BYTES]      (BYTES: default 102400)
 */
#include <wire/wire.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_MS 10000
#define PIECE 4096

struct peer {
    struct wire_protocol base; /* first */
    struct wire_loop *loop;
    struct wire_timer *idle;
    struct wire_transport *t;
    size_t total, sent, got;
    bool paused, done;
    int status; /* the exit status */
};

static unsigned char
pattern(size_t i)
{
    return (unsigned char)((i * 31 + i / 251) & 0xff);
}

/* Say what went wrong (the first thing only) and fail. */
static void WIRE_PRINTF(2, 3)
fail(struct peer *pr, const char *fmt, ...)
{
    if (pr->status == 0) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "serial-peer: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, " (sent %zu, got back %zu of %zu)\n", pr->sent,
                pr->got, pr->total);
        va_end(ap);
    }
    pr->status = 1;
}

/* Write what is left, in pieces, until the transport asks to pause. */
static void
pump(struct peer *pr)
{
    unsigned char buf[PIECE];
    while (pr->sent < pr->total && !pr->paused && pr->t != NULL) {
        size_t n = pr->total - pr->sent < PIECE ? pr->total - pr->sent : PIECE;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(pr->sent + i);
        int rc = wire_transport_write(pr->t, buf, n);
        if (rc != 0) {
            fail(pr, "write: %s", wire_strerror(rc));
            wire_transport_abort(pr->t);
            return;
        }
        pr->sent += n;
    }
}

static void
made(struct wire_protocol *p, struct wire_transport *t)
{
    struct peer *pr = (struct peer *)p;
    pr->t = t;
    wire_timer_start(pr->idle, IDLE_MS, 0);
    pump(pr);
}

static void
data(struct wire_protocol *p, const void *buf, size_t len)
{
    struct peer *pr = (struct peer *)p;
    const unsigned char *b = buf;
    for (size_t i = 0; i < len; i++) {
        if (pr->got + i >= pr->total || b[i] != pattern(pr->got + i)) {
            fail(pr, "byte %zu: got 0x%02x, sent 0x%02x", pr->got + i, b[i],
                 pr->got + i < pr->total ? pattern(pr->got + i) : 0);
            wire_transport_abort(pr->t);
            return;
        }
    }
    pr->got += len;
    wire_timer_start(pr->idle, IDLE_MS, 0);
    if (pr->got == pr->total && !pr->done) {
        pr->done = true;
        wire_transport_close(pr->t);
    }
}

static bool
eof(struct wire_protocol *p)
{
    struct peer *pr = (struct peer *)p;
    if (!pr->done)
        fail(pr, "the line hung up before everything came back");
    return false;
}

static void
lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct peer *pr = (struct peer *)p;
    if (err != NULL)
        fail(pr, "connection lost: %s", err->message);
    else if (!pr->done)
        fail(pr, "connection closed before everything came back");
    pr->t = NULL;
    wire_timer_stop(pr->idle);
}

static void
pause_w(struct wire_protocol *p)
{
    ((struct peer *)p)->paused = true;
}

static void
resume_w(struct wire_protocol *p)
{
    struct peer *pr = (struct peer *)p;
    pr->paused = false;
    pump(pr);
}

static void
destroy(struct wire_protocol *p)
{
    (void)p; /* lives in main() */
}

static const struct wire_protocol_ops peer_ops = {
    .connection_made = made,
    .data_received = data,
    .eof_received = eof,
    .connection_lost = lost,
    .pause_writing = pause_w,
    .resume_writing = resume_w,
    .destroy = destroy,
};

static void
idle_fire(void *arg)
{
    struct peer *pr = arg;
    fail(pr, "nothing came back for 10 s");
    if (pr->t != NULL)
        wire_transport_abort(pr->t);
}

static void
connected(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct peer *pr = arg;
    (void)t;
    if (err != NULL)
        fail(pr, "connect: %s", err->message);
}

int
main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: serial-peer ENDPOINT [BYTES]\n");
        return 2;
    }
    struct peer pr;
    memset(&pr, 0, sizeof(pr));
    pr.total = argc == 3 ? (size_t)strtoull(argv[2], NULL, 10) : 102400;
    pr.loop = wire_loop_new();
    if (pr.loop == NULL)
        return 1;
    pr.idle = wire_timer_new(pr.loop, idle_fire, &pr);
    wire_protocol_init(&pr.base, &peer_ops);
    struct wire_error err = {0};
    if (wire_connect(pr.loop, argv[1], &pr.base, NULL, connected, &pr, &err) < 0) {
        fprintf(stderr, "serial-peer: %s\n", err.message);
        wire_error_clear(&err);
        wire_timer_free(pr.idle);
        wire_loop_free(pr.loop);
        return 1;
    }
    wire_loop_run(pr.loop);
    wire_timer_free(pr.idle);
    wire_loop_free(pr.loop);
    if (pr.status == 0 && pr.got != pr.total)
        fail(&pr, "the loop ended early");
    if (pr.status == 0)
        printf("serial-peer: %zu bytes sent and echoed back intact\n", pr.total);
    return pr.status;
}
