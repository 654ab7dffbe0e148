/*
 * The serial transport (<wire/serial.h>) on pty pairs: the slave is
 * opened through the transport by its path, as a user opens
 * /dev/ttyUSB0, and the test holds the master (read and written directly,
 * or wrapped as a pipe transport) and, where it checks the settings, a
 * second fd on the slave to read them back with tcgetattr.
 *
 * What a pty cannot do is asserted as the documented error, never
 * skipped: it keeps 8 data bits and no parity (the transport reads its
 * settings back and refuses), and it has no modem lines (-ENOTTY).  Each
 * such test first asks the pty itself, so a kernel that does more would
 * be checked for the real thing.
 */
#include "unit.h"
#include "serial_tty.h"

#include <wire/serial.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static struct wire_loop *loop;

static void
serial_setup(void)
{
    loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
}

static void
serial_teardown(void)
{
    wire_loop_run(loop);
    wire_loop_free(loop);
    ck_assert_int_eq(unit_live_protocols, 0);
}

/* A pty: `m` the master, `s` a slave fd the test keeps, `path` the
 * slave's name for the transport to open. */
struct pty {
    int m, s;
    char path[64];
};

static void
pty_open(struct pty *p)
{
    ck_assert_int_eq(openpty(&p->m, &p->s, p->path, NULL, NULL), 0);
    fcntl(p->m, F_SETFD, FD_CLOEXEC);
    fcntl(p->s, F_SETFD, FD_CLOEXEC);
}

static void
pty_close(struct pty *p)
{
    if (p->m >= 0)
        close(p->m);
    if (p->s >= 0)
        close(p->s);
    p->m = p->s = -1;
}

static void
open_ok(const char *path, const struct wire_serial_options *o,
        struct rec_log *log, struct wire_transport **t)
{
    struct wire_error err = {0};
    int rc = wire_serial_open(loop, path, o, rec_new(log), t, &err);
    ck_assert_msg(rc == 0, "wire_serial_open(%s): %s", path, err.message);
    ck_assert(unit_run_until(loop, log_made, log, 5000));
}

static void
close_and_wait(struct rec_log *log)
{
    wire_transport_close(log->t);
    ck_assert(unit_run_until(loop, log_lost, log, 5000));
    ck_assert_msg(log->lost_null, "close: %s", log->lost_msg);
}

/* Deterministic bytes: every value 0-255, so CR, LF, ^C, ^D, ^Q, ^S, DEL
 * and 8-bit bytes all pass through raw mode. */
static void
fill(unsigned char *b, size_t n, unsigned salt)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)((i * 7 + salt + i / 256) & 0xff);
}

struct two {
    struct rec_log *a, *b;
    size_t want_a, want_b;
};

static bool
both_got(void *arg)
{
    struct two *w = arg;
    return w->a->in_len >= w->want_a && w->b->in_len >= w->want_b;
}

static bool
both_lost(void *arg)
{
    struct two *w = arg;
    return w->a->lost_flag && w->b->lost_flag;
}

/* ---- bytes ---- */

START_TEST(test_bytes_both_ways_raw)
{
    struct pty p;
    pty_open(&p);
    struct rec_log a = {0}, b = {0};
    struct wire_transport *t = NULL;
    open_ok(p.path, NULL, &a, &t);
    close(p.s); /* only the transport holds the slave: its close is seen */
    p.s = -1;
    ck_assert_int_eq(wire_pipe_open(loop, p.m, p.m, rec_new(&b), NULL, NULL,
                                    NULL), 0);
    p.m = -1; /* the pipe transport's now */
    ck_assert(unit_run_until(loop, log_made, &b, 5000));
    /* More than a pty holds (about 64 KiB), both ways at once. */
    enum { N = 300 * 1024 };
    unsigned char *x = malloc(N), *y = malloc(N);
    ck_assert(x != NULL && y != NULL);
    fill(x, N, 1);
    fill(y, N, 2);
    ck_assert_int_eq(wire_transport_write(a.t, x, N), 0);
    ck_assert_int_eq(wire_transport_write(b.t, y, N), 0);
    struct two w = {&a, &b, N, N};
    ck_assert(unit_run_until(loop, both_got, &w, 20000));
    /* Exactly what was sent: no echo (the master would get more), no CR/LF
     * translation, no flow-control or signal character eaten. */
    ck_assert_uint_eq(a.in_len, N);
    ck_assert_uint_eq(b.in_len, N);
    ck_assert(memcmp(a.in, y, N) == 0);
    ck_assert(memcmp(b.in, x, N) == 0);
    /* The serial end closes: the master gets EOF and a clean end. */
    close_and_wait(&a);
    ck_assert(unit_run_until(loop, both_lost, &w, 5000));
    ck_assert_int_eq(b.eof, 1);
    ck_assert(b.lost_null);
    ck_assert_uint_eq(b.in_len, N);
    free(x);
    free(y);
    rec_log_free(&a);
    rec_log_free(&b);
}
END_TEST

/* ---- settings ---- */

static void
assert_raw(const struct termios *t)
{
    ck_assert_uint_eq(t->c_lflag & (ECHO | ECHONL | ICANON | ISIG | IEXTEN), 0);
    ck_assert_uint_eq(t->c_oflag & OPOST, 0);
    ck_assert_uint_eq(t->c_iflag & (ICRNL | INLCR | IGNCR | ISTRIP | BRKINT |
                                    PARMRK | IXANY), 0);
    ck_assert_uint_ne(t->c_cflag & CREAD, 0);
    ck_assert_uint_ne(t->c_cflag & CLOCAL, 0);
    ck_assert_int_eq(t->c_cc[VMIN], 1);
    ck_assert_int_eq(t->c_cc[VTIME], 0);
}

/* Does this kernel's pty keep 7 data bits with even parity?  (Linux: no,
 * it forces CS8 and clears PARENB.) */
static bool
pty_keeps_parity(void)
{
    struct pty q;
    pty_open(&q);
    struct termios t;
    ck_assert_int_eq(tcgetattr(q.s, &t), 0);
    t.c_cflag &= ~(tcflag_t)CSIZE;
    t.c_cflag |= CS7 | PARENB;
    /* Linux: EINVAL, as it can make no part of the change. */
    int rc = tcsetattr(q.s, TCSANOW, &t);
    ck_assert_int_eq(tcgetattr(q.s, &t), 0);
    pty_close(&q);
    if (rc < 0)
        return false;
    return (t.c_cflag & CSIZE) == CS7 && (t.c_cflag & PARENB);
}

START_TEST(test_settings_applied_and_read_back)
{
    struct pty p;
    pty_open(&p);
    struct rec_log a = {0};
    struct wire_transport *t = NULL;
    struct wire_serial_options o = {.baud = 57600, .stop_bits = 2,
                                    .flow = WIRE_FLOW_RTSCTS};
    open_ok(p.path, &o, &a, &t);
    struct termios tio;
    ck_assert_int_eq(tcgetattr(p.s, &tio), 0);
    assert_raw(&tio);
    ck_assert_uint_eq(cfgetospeed(&tio), B57600);
    ck_assert_uint_eq(cfgetispeed(&tio), B57600);
    ck_assert_uint_eq(tio.c_cflag & CSIZE, CS8);
    ck_assert_uint_eq(tio.c_cflag & PARENB, 0);
    ck_assert_uint_ne(tio.c_cflag & CSTOPB, 0);
    ck_assert_uint_ne(tio.c_cflag & CRTSCTS, 0);
    ck_assert_uint_eq(tio.c_iflag & (IXON | IXOFF), 0);

    /* Reconfigured while open: software flow control, one stop bit. */
    struct wire_error err = {0};
    struct wire_serial_options o2 = {.baud = 230400, .flow = WIRE_FLOW_XONXOFF};
    ck_assert_int_eq(wire_serial_configure(t, &o2, &err), 0);
    ck_assert_int_eq(tcgetattr(p.s, &tio), 0);
    assert_raw(&tio);
    ck_assert_uint_eq(cfgetospeed(&tio), B230400);
    ck_assert_uint_eq(tio.c_cflag & CSTOPB, 0);
    ck_assert_uint_eq(tio.c_cflag & CRTSCTS, 0);
    ck_assert_uint_eq(tio.c_iflag & (IXON | IXOFF), IXON | IXOFF);

    /* Data bits and parity: the pty decides. */
    struct wire_serial_options o7 = {.baud = 230400, .data_bits = 7,
                                     .parity = WIRE_PARITY_EVEN,
                                     .flow = WIRE_FLOW_XONXOFF};
    int rc = wire_serial_configure(t, &o7, &err);
    if (pty_keeps_parity()) {
        ck_assert_msg(rc == 0, "7E1: %s", err.message);
        ck_assert_int_eq(tcgetattr(p.s, &tio), 0);
        ck_assert_uint_eq(tio.c_cflag & CSIZE, CS7);
        ck_assert_uint_eq(tio.c_cflag & (PARENB | PARODD), PARENB);
    } else {
        /* Refused, named, and nothing changed. */
        ck_assert_int_eq(rc, WIRE_EINVAL);
        ck_assert_contains(err.message, p.path);
        ck_assert_contains(err.message, "bits=7: not supported by this device");
        struct wire_serial_options oo = {.baud = 230400,
                                         .parity = WIRE_PARITY_ODD};
        ck_assert_int_eq(wire_serial_configure(t, &oo, &err), WIRE_EINVAL);
        ck_assert_contains(err.message,
                           "parity=odd: not supported by this device");
        ck_assert_int_eq(tcgetattr(p.s, &tio), 0);
        ck_assert_uint_eq(cfgetospeed(&tio), B230400);
        ck_assert_uint_eq(tio.c_iflag & (IXON | IXOFF), IXON | IXOFF);
        ck_assert_uint_eq(tio.c_cflag & CSIZE, CS8);
    }
    /* Out of range: refused before touching the device. */
    struct wire_serial_options bad = {.data_bits = 9};
    ck_assert_int_eq(wire_serial_configure(t, &bad, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "bits=9");
    bad = (struct wire_serial_options){.stop_bits = 3};
    ck_assert_int_eq(wire_serial_configure(t, &bad, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "stop=3");
    bad = (struct wire_serial_options){.parity = 7};
    ck_assert_int_eq(wire_serial_configure(t, &bad, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "parity=7");
    bad = (struct wire_serial_options){.flow = -1};
    ck_assert_int_eq(wire_serial_configure(t, &bad, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "flow=-1");
    wire_error_clear(&err);
    close_and_wait(&a);
    pty_close(&p);
    rec_log_free(&a);
}
END_TEST

START_TEST(test_old_settings_restored)
{
    for (int abort_it = 0; abort_it < 2; abort_it++) {
        struct pty p;
        pty_open(&p);
        /* A device left cooked, with odd choices, at a custom speed (which
         * struct termios cannot even hold). */
        struct termios before, tio;
        ck_assert_int_eq(tcgetattr(p.s, &before), 0);
        before.c_lflag |= ICANON | ECHO | ISIG;
        before.c_oflag |= OPOST | ONLCR;
        before.c_iflag |= ICRNL | IXON;
        before.c_cflag |= CSTOPB;
        before.c_cc[VINTR] = 0x05;
        ck_assert_int_eq(tcsetattr(p.s, TCSANOW, &before), 0);
        ck_assert_int_eq(unit_tty_set_baud(p.s, 31250), 0);
        ck_assert_int_eq(tcgetattr(p.s, &before), 0);

        struct rec_log a = {0};
        struct wire_transport *t = NULL;
        struct wire_serial_options o = {.baud = 115200};
        open_ok(p.path, &o, &a, &t);
        ck_assert_int_eq(tcgetattr(p.s, &tio), 0);
        assert_raw(&tio);
        int excl = 0;
        ck_assert_int_eq(ioctl(p.s, TIOCGEXCL, &excl), 0);
        ck_assert_int_eq(excl, 1);
        if (abort_it) {
            wire_transport_abort(a.t);
            ck_assert(unit_run_until(loop, log_lost, &a, 5000));
            ck_assert_int_eq(a.lost_code, WIRE_EABORTED);
        } else {
            close_and_wait(&a);
        }
        ck_assert_int_eq(tcgetattr(p.s, &tio), 0);
        ck_assert_uint_eq(tio.c_iflag, before.c_iflag);
        ck_assert_uint_eq(tio.c_oflag, before.c_oflag);
        ck_assert_uint_eq(tio.c_cflag, before.c_cflag);
        ck_assert_uint_eq(tio.c_lflag, before.c_lflag);
        ck_assert(memcmp(tio.c_cc, before.c_cc, sizeof(tio.c_cc)) == 0);
        unsigned baud = 0;
        ck_assert_int_eq(unit_tty_get_baud(p.s, &baud), 0);
        ck_assert_uint_eq(baud, 31250);
        ck_assert_int_eq(ioctl(p.s, TIOCGEXCL, &excl), 0);
        ck_assert_int_eq(excl, 0);
        pty_close(&p);
        rec_log_free(&a);
    }
}
END_TEST

/* ---- exclusive access ---- */

struct outcome {
    int calls;
    int code;
    bool had_t;
    char msg[300];
};

static void
connect_cb(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct outcome *o = arg;
    o->calls++;
    o->had_t = t != NULL;
    o->code = err != NULL ? err->code : 0;
    snprintf(o->msg, sizeof(o->msg), "%s",
             err != NULL && err->message != NULL ? err->message : "");
}

static bool
called(void *arg)
{
    return ((struct outcome *)arg)->calls > 0;
}

/* wire_connect(ep) must fail through its callback with `code` and a
 * message holding `needle`; the protocol is destroyed, never started. */
static void
connect_fails(const char *ep, int code, const char *needle)
{
    struct rec_log log = {0};
    struct outcome out = {0};
    struct wire_error err = {0};
    int rc = wire_connect(loop, ep, rec_new(&log), NULL, connect_cb, &out, &err);
    ck_assert_msg(rc == 0, "wire_connect(%s): %s", ep, err.message);
    ck_assert_int_eq(out.calls, 0); /* never from inside wire_connect */
    ck_assert(unit_run_until(loop, called, &out, 5000));
    ck_assert_int_eq(out.calls, 1);
    ck_assert(!out.had_t);
    ck_assert_msg(out.code == code, "%s: %s (%s), want %s", ep,
                  wire_err_name(out.code), out.msg, wire_err_name(code));
    ck_assert_contains(out.msg, needle);
    ck_assert_int_eq(log.made, 0);
    ck_assert_int_eq(log.destroyed, 1);
    rec_log_free(&log);
}

/* wire_serial_open must refuse at once with `code` and `needle`; the
 * protocol stays the caller's. */
static void
open_fails(const char *path, const struct wire_serial_options *o, int code,
           const char *needle)
{
    struct rec_log log = {0};
    struct wire_error err = {0};
    struct wire_protocol *pr = rec_new(&log);
    struct wire_transport *t = NULL;
    int rc = wire_serial_open(loop, path, o, pr, &t, &err);
    ck_assert_msg(rc == code, "wire_serial_open(%s): %s (%s), want %s", path,
                  wire_err_name(rc), err.message ? err.message : "",
                  wire_err_name(code));
    ck_assert_int_eq(err.code, code);
    ck_assert_contains(err.message, needle);
    ck_assert_ptr_null(t);
    wire_error_clear(&err);
    ck_assert_int_eq(log.destroyed, 0);
    wire_protocol_destroy(pr);
    rec_log_free(&log);
}

START_TEST(test_exclusive_access)
{
    struct pty p;
    pty_open(&p);
    struct rec_log a = {0};
    struct wire_transport *t = NULL;
    open_ok(p.path, NULL, &a, &t);
    int excl = 0;
    ck_assert_int_eq(ioctl(p.s, TIOCGEXCL, &excl), 0);
    ck_assert_int_eq(excl, 1);
    /* A second open is refused, even for root (whom the kernel lets in). */
    char msg[128];
    snprintf(msg, sizeof(msg), "serial:%s: is busy (opened exclusively "
             "elsewhere)", p.path);
    open_fails(p.path, NULL, -EBUSY, msg);
    char ep[128];
    snprintf(ep, sizeof(ep), "serial:%s?exclusive=no", p.path);
    connect_fails(ep, -EBUSY, msg);
    /* Giving exclusive access up while open lets others in. */
    struct wire_serial_options shared = {.shared = true};
    ck_assert_int_eq(wire_serial_configure(t, &shared, NULL), 0);
    ck_assert_int_eq(ioctl(p.s, TIOCGEXCL, &excl), 0);
    ck_assert_int_eq(excl, 0);
    struct rec_log b = {0};
    struct wire_transport *t2 = NULL;
    open_ok(p.path, &shared, &b, &t2);
    close_and_wait(&b);
    close_and_wait(&a);
    /* A program holding a flock() on the device keeps us out too. */
    ck_assert_int_eq(flock(p.s, LOCK_EX | LOCK_NB), 0);
    open_fails(p.path, NULL, -EBUSY, "locked by another program");
    /* ... unless we share. */
    struct rec_log c = {0};
    open_ok(p.path, &shared, &c, &t2);
    close_and_wait(&c);
    pty_close(&p);
    rec_log_free(&a);
    rec_log_free(&b);
    rec_log_free(&c);
}
END_TEST

/* ---- speeds ---- */

START_TEST(test_custom_baud)
{
    struct pty p;
    pty_open(&p);
    struct rec_log a = {0};
    struct wire_transport *t = NULL;
    /* Not a standard rate: set through termios2 (BOTHER), which a Linux
     * pty takes whatever the number. */
    struct wire_serial_options o = {.baud = 123457};
    open_ok(p.path, &o, &a, &t);
    unsigned baud = 0;
    ck_assert_int_eq(unit_tty_get_baud(p.s, &baud), 0);
    ck_assert_uint_eq(baud, 123457);
    struct termios tio;
    ck_assert_int_eq(tcgetattr(p.s, &tio), 0);
    assert_raw(&tio);
    /* And back to a standard one, which struct termios shows again. */
    o.baud = 38400;
    ck_assert_int_eq(wire_serial_configure(t, &o, NULL), 0);
    ck_assert_int_eq(tcgetattr(p.s, &tio), 0);
    ck_assert_uint_eq(cfgetospeed(&tio), B38400);
    ck_assert_int_eq(unit_tty_get_baud(p.s, &baud), 0);
    ck_assert_uint_eq(baud, 38400);
    o.baud = 250000; /* DMX */
    ck_assert_int_eq(wire_serial_configure(t, &o, NULL), 0);
    ck_assert_int_eq(unit_tty_get_baud(p.s, &baud), 0);
    ck_assert_uint_eq(baud, 250000);
    close_and_wait(&a);
    pty_close(&p);
    rec_log_free(&a);
}
END_TEST

/* wire_connect(ep) must refuse at once with WIRE_EENDPOINT naming `key`;
 * the callback never runs and the protocol stays the caller's. */
static void
bad_param(const char *ep, const char *key)
{
    struct rec_log log = {0};
    struct outcome out = {0};
    struct wire_error err = {0};
    struct wire_protocol *pr = rec_new(&log);
    int rc = wire_connect(loop, ep, pr, NULL, connect_cb, &out, &err);
    ck_assert_msg(rc == WIRE_EENDPOINT, "%s: %s", ep, wire_err_name(rc));
    ck_assert_contains(err.message, key);
    wire_error_clear(&err);
    ck_assert(!unit_run_until(loop, called, &out, 20));
    ck_assert_int_eq(out.calls, 0);
    ck_assert_int_eq(log.destroyed, 0);
    wire_protocol_destroy(pr);
    rec_log_free(&log);
}

START_TEST(test_bad_parameters)
{
    struct pty p;
    pty_open(&p);
    char ep[160];
    static const struct {
        const char *query, *key;
    } cases[] = {
        {"baud=abc", "baud=abc"},   {"baud=0", "baud=0"},
        {"baud=-9600", "baud=-9600"}, {"baud=99999999999", "baud=99999999999"},
        {"baud=", "baud="},         {"bits=4", "bits=4"},
        {"bits=9", "bits=9"},       {"bits=eight", "bits=eight"},
        {"parity=mark", "parity=mark"}, {"stop=3", "stop=3"},
        {"stop=1.5", "stop=1.5"},   {"flow=dtrdsr", "flow=dtrdsr"},
        {"exclusive=maybe", "exclusive=maybe"}, {"bogus=1", "bogus"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(ep, sizeof(ep), "serial:%s?%s", p.path, cases[i].query);
        bad_param(ep, cases[i].key);
    }
    /* The API form: out of range before the device is touched. */
    struct wire_serial_options o = {.data_bits = 4};
    open_fails(p.path, &o, WIRE_EINVAL, "bits=4");
    o = (struct wire_serial_options){.stop_bits = 3};
    open_fails(p.path, &o, WIRE_EINVAL, "stop=3");
    pty_close(&p);
}
END_TEST

/* ---- devices that are not there, or not ttys ---- */

START_TEST(test_unknown_device)
{
    char path[96], ep[128], msg[128];
    snprintf(path, sizeof(path), "/dev/wire-no-such-tty-%ld", (long)getpid());
    snprintf(ep, sizeof(ep), "serial:%s?baud=115200", path);
    snprintf(msg, sizeof(msg), "serial:%s: no such device", path);
    connect_fails(ep, -ENOENT, msg);
    open_fails(path, NULL, -ENOENT, msg);
}
END_TEST

START_TEST(test_not_a_tty)
{
    connect_fails("serial:/dev/null", -ENOTTY,
                  "serial:/dev/null: is not a tty");
    open_fails("/dev/null", NULL, -ENOTTY, "serial:/dev/null: is not a tty");
    char path[] = "/tmp/wire-serial-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char msg[96];
    snprintf(msg, sizeof(msg), "serial:%s: is not a tty", path);
    open_fails(path, NULL, -ENOTTY, msg);
    unlink(path);
    open_fails("/tmp", NULL, -EISDIR, "serial:/tmp: ");
}
END_TEST

/* ---- the end of a line ---- */

START_TEST(test_hangup_is_eof)
{
    struct pty p;
    pty_open(&p);
    struct rec_log a = {0};
    struct wire_transport *t = NULL;
    open_ok(p.path, NULL, &a, &t);
    close(p.s);
    p.s = -1;
    ck_assert_int_eq(write(p.m, "before the hangup", 17), 17);
    struct two w = {&a, &a, 17, 17};
    ck_assert(unit_run_until(loop, both_got, &w, 5000));
    close(p.m); /* the other end hangs up */
    p.m = -1;
    ck_assert(unit_run_until(loop, log_lost, &a, 5000));
    ck_assert_int_eq(a.eof, 1);
    ck_assert(a.lost_null);
    ck_assert_str_eq(rec_in(&a), "before the hangup");

    /* Kept open after the hangup's EOF: the next write fails, once, with
     * EPIPE (as to a pipe without a reader), never a signal. */
    pty_open(&p);
    struct rec_log b = {0};
    b.eof_keep = true;
    open_ok(p.path, NULL, &b, &t);
    close(p.s);
    p.s = -1;
    close(p.m);
    p.m = -1;
    ck_assert(unit_run_until(loop, log_eof, &b, 5000));
    ck_assert(!b.lost_flag);
    ck_assert_int_eq(wire_transport_write(b.t, "anyone?", 7), 0);
    ck_assert(unit_run_until(loop, log_lost, &b, 5000));
    ck_assert_int_eq(b.lost, 1);
    ck_assert_int_eq(b.lost_code, -EPIPE);
    ck_assert_contains(b.lost_msg, "write");
    rec_log_free(&a);
    rec_log_free(&b);
}
END_TEST

START_TEST(test_no_write_eof)
{
    struct pty p;
    pty_open(&p);
    struct rec_log a = {0};
    struct wire_transport *t = NULL;
    open_ok(p.path, NULL, &a, &t);
    ck_assert(!wire_transport_can_write_eof(t));
    ck_assert_int_eq(wire_transport_write_eof(t), WIRE_ENOTSUP);
    /* Nothing changed: still writing, still reading. */
    ck_assert(!wire_transport_is_closing(t));
    ck_assert(wire_transport_is_reading(t));
    ck_assert_int_eq(wire_transport_write(t, "still here", 10), 0);
    char buf[32] = {0};
    struct pollfd pfd = {p.m, POLLIN, 0};
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    ck_assert_int_eq(read(p.m, buf, sizeof(buf)), 10);
    ck_assert_str_eq(buf, "still here");
    ck_assert_int_eq(write(p.m, "and you", 7), 7);
    struct two w = {&a, &a, 7, 7};
    ck_assert(unit_run_until(loop, both_got, &w, 5000));
    ck_assert_str_eq(rec_in(&a), "and you");
    /* get_info: the device names both ends; the fd is the tty. */
    char s[128];
    ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_NAME, s, sizeof(s)), 0);
    ck_assert_str_eq(s, "serial");
    char want[96];
    snprintf(want, sizeof(want), "serial:%s", p.path);
    ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_PEER, s, sizeof(s)), 0);
    ck_assert_str_eq(s, want);
    ck_assert_int_gt(wire_transport_get_info(t, WIRE_INFO_LOCAL, s, sizeof(s)), 0);
    ck_assert_str_eq(s, want);
    int fd = -1;
    ck_assert_int_eq(wire_transport_get_info(t, WIRE_INFO_FD, &fd, sizeof(fd)),
                     (int)sizeof(int));
    ck_assert(isatty(fd));
    close_and_wait(&a);
    pty_close(&p);
    rec_log_free(&a);
}
END_TEST

START_TEST(test_xonxoff_and_endpoint)
{
    struct pty p;
    pty_open(&p);
    char ep[160];
    snprintf(ep, sizeof(ep),
             "serial:%s?baud=19200&bits=8&parity=none&stop=2&flow=xonxoff"
             "&exclusive=no", p.path);
    struct rec_log a = {0};
    struct outcome out = {0};
    struct wire_error err = {0};
    ck_assert_int_eq(wire_connect(loop, ep, rec_new(&a), NULL, connect_cb, &out,
                                  &err), 0);
    ck_assert(unit_run_until(loop, called, &out, 5000));
    ck_assert_msg(out.had_t && out.code == 0, "%s", out.msg);
    ck_assert_int_eq(a.made, 1); /* before the callback */
    struct termios tio;
    ck_assert_int_eq(tcgetattr(p.s, &tio), 0);
    assert_raw(&tio);
    ck_assert_uint_eq(cfgetospeed(&tio), B19200);
    ck_assert_uint_ne(tio.c_cflag & CSTOPB, 0);
    ck_assert_uint_eq(tio.c_iflag & (IXON | IXOFF), IXON | IXOFF);
    int excl = 1;
    ck_assert_int_eq(ioctl(p.s, TIOCGEXCL, &excl), 0);
    ck_assert_int_eq(excl, 0);
    /* With XON/XOFF the line discipline takes ^S and ^Q: the rest comes
     * through. */
    ck_assert_int_eq(write(p.m, "a\x13" "b\x11" "c", 5), 5);
    struct two w = {&a, &a, 3, 3};
    ck_assert(unit_run_until(loop, both_got, &w, 5000));
    ck_assert_str_eq(rec_in(&a), "abc");
    close_and_wait(&a);

    /* A setting the pty does not take, through the endpoint: reported to
     * the callback, named, and the device left as it was. */
    struct termios before;
    ck_assert_int_eq(tcgetattr(p.s, &before), 0);
    snprintf(ep, sizeof(ep), "serial:%s?parity=even", p.path);
    if (!pty_keeps_parity()) {
        connect_fails(ep, WIRE_EINVAL, "parity=even: not supported by this "
                                       "device");
        ck_assert_int_eq(tcgetattr(p.s, &tio), 0);
        ck_assert_uint_eq(tio.c_lflag, before.c_lflag);
        ck_assert_uint_eq(tio.c_iflag, before.c_iflag);
        ck_assert_uint_eq(tio.c_cflag, before.c_cflag);
    }
    pty_close(&p);
    rec_log_free(&a);
}
END_TEST

/* ---- modem lines and breaks ---- */

static long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_modem_lines_and_break)
{
    struct pty p;
    pty_open(&p);
    struct rec_log a = {0};
    struct wire_transport *t = NULL;
    open_ok(p.path, NULL, &a, &t);
    int bits = 0;
    if (ioctl(p.s, TIOCMGET, &bits) < 0) {
        /* A pty has no modem lines: the documented error, every call. */
        ck_assert_int_eq(errno, ENOTTY);
        ck_assert_int_eq(wire_serial_set_dtr(t, true), -ENOTTY);
        ck_assert_int_eq(wire_serial_set_dtr(t, false), -ENOTTY);
        ck_assert_int_eq(wire_serial_set_rts(t, true), -ENOTTY);
        ck_assert_int_eq(wire_serial_get_modem(t), -ENOTTY);
    } else {
        ck_assert_int_eq(wire_serial_set_dtr(t, true), 0);
        ck_assert_int_eq(wire_serial_set_rts(t, false), 0);
        int m = wire_serial_get_modem(t);
        ck_assert_int_ge(m, 0);
        ck_assert(m & WIRE_SERIAL_DTR);
        ck_assert(!(m & WIRE_SERIAL_RTS));
    }
    /* A pty takes a break and sends nothing; the call lasts about as
     * long as asked. */
    ck_assert_int_eq(wire_serial_send_break(t, 0), 0);
    long t0 = now_ms();
    ck_assert_int_eq(wire_serial_send_break(t, 30), 0);
    ck_assert_int_ge(now_ms() - t0, 29);
    ck_assert_int_eq(wire_serial_send_break(t, 10001), WIRE_EINVAL);
    /* The line still works. */
    ck_assert_int_eq(wire_transport_write(t, "ok", 2), 0);
    char buf[8] = {0};
    struct pollfd pfd = {p.m, POLLIN, 0};
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    ck_assert_int_eq(read(p.m, buf, sizeof(buf)), 2);
    ck_assert_str_eq(buf, "ok");
    /* Once closed: WIRE_ECLOSED. */
    wire_transport_ref(t);
    close_and_wait(&a);
    ck_assert_int_eq(wire_serial_set_dtr(t, true), WIRE_ECLOSED);
    ck_assert_int_eq(wire_serial_get_modem(t), WIRE_ECLOSED);
    ck_assert_int_eq(wire_serial_send_break(t, 0), WIRE_ECLOSED);
    ck_assert_int_eq(wire_serial_configure(t, NULL, NULL), WIRE_ECLOSED);
    wire_transport_unref(t);
    pty_close(&p);
    rec_log_free(&a);
}
END_TEST

START_TEST(test_not_a_serial_transport)
{
    struct rec_log a = {0}, b = {0};
    struct wire_transport *ta = NULL, *tb = NULL;
    ck_assert_int_eq(wire_pipe_pair(loop, rec_new(&a), rec_new(&b), &ta, &tb,
                                    NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &a, 5000));
    struct wire_error err = {0};
    ck_assert_int_eq(wire_serial_configure(ta, NULL, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "not a serial transport");
    wire_error_clear(&err);
    ck_assert_int_eq(wire_serial_set_dtr(ta, true), WIRE_EINVAL);
    ck_assert_int_eq(wire_serial_set_rts(ta, true), WIRE_EINVAL);
    ck_assert_int_eq(wire_serial_get_modem(ta), WIRE_EINVAL);
    ck_assert_int_eq(wire_serial_send_break(ta, 0), WIRE_EINVAL);
    ck_assert_int_eq(wire_serial_set_dtr(NULL, true), WIRE_EINVAL);
    ck_assert_int_eq(wire_serial_get_modem(NULL), WIRE_EINVAL);
    ck_assert_int_eq(wire_serial_configure(NULL, NULL, NULL), WIRE_EINVAL);
    /* Bad arguments to open. */
    struct rec_log c = {0};
    struct wire_protocol *pr = rec_new(&c);
    ck_assert_int_eq(wire_serial_open(NULL, "/dev/null", NULL, pr, NULL, NULL),
                     WIRE_EINVAL);
    ck_assert_int_eq(wire_serial_open(loop, NULL, NULL, pr, NULL, NULL),
                     WIRE_EINVAL);
    ck_assert_int_eq(wire_serial_open(loop, "", NULL, pr, NULL, NULL),
                     WIRE_EINVAL);
    ck_assert_int_eq(wire_serial_open(loop, "/dev/null", NULL, NULL, NULL, NULL),
                     WIRE_EINVAL);
    wire_protocol_destroy(pr);
    struct two w = {&a, &b, 0, 0};
    wire_transport_close(ta);
    ck_assert(unit_run_until(loop, both_lost, &w, 5000));
    rec_log_free(&a);
    rec_log_free(&b);
    rec_log_free(&c);
}
END_TEST

Suite *
serial_suite(void)
{
    Suite *s = suite_create("serial");
    TCase *tc = unit_tcase(s, "core");
    tcase_add_checked_fixture(tc, serial_setup, serial_teardown);
    tcase_add_test(tc, test_bytes_both_ways_raw);
    tcase_add_test(tc, test_settings_applied_and_read_back);
    tcase_add_test(tc, test_old_settings_restored);
    tcase_add_test(tc, test_exclusive_access);
    tcase_add_test(tc, test_custom_baud);
    tcase_add_test(tc, test_no_write_eof);
    tcase_add_test(tc, test_xonxoff_and_endpoint);
    tcase_add_test(tc, test_hangup_is_eof);
    tc = unit_tcase(s, "errors");
    tcase_add_checked_fixture(tc, serial_setup, serial_teardown);
    tcase_add_test(tc, test_bad_parameters);
    tcase_add_test(tc, test_unknown_device);
    tcase_add_test(tc, test_not_a_tty);
    tcase_add_test(tc, test_not_a_serial_transport);
    tc = unit_tcase(s, "lines");
    tcase_add_checked_fixture(tc, serial_setup, serial_teardown);
    tcase_add_test(tc, test_modem_lines_and_break);
    return s;
}
