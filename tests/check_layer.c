/*
 * The layer helper (<wire/transport_impl.h>).  Two small layers are
 * written here with struct wire_layer first:
 *
 *   lineframe  up: splits the byte stream into lines and passes each line
 *              (without its '\n') up as one message; down: upper-cases.
 *              Lines longer than max_line fail the layer (WIRE_EMSGSIZE).
 *   count      passes bytes through unchanged and counts them.
 *   bufline    lineframe that reads into its own buffer (the helper's
 *              get_buffer and buffer_updated hooks): the transport below
 *              sees a BufferedProtocol.
 *
 * They are stacked on the string transport (sans-I/O), on a memory pair
 * and on TCP, and the tests check what the helper promises: data crosses
 * both ways translated; a paused protocol above gets held messages later,
 * in order, boundaries kept; write_eof, close and abort cross down; the
 * loss below reaches the protocol above exactly once with the same error;
 * get_info is forwarded; pause_writing below becomes the above's own
 * watermark pause.
 */
#include "unit.h"

#include <wire/transport_impl.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int live_layers;

/* ---- lineframe ---- */

struct lf_layer {
    struct wire_layer base; /* first: the helper's part */
    char *buf;
    size_t len, cap;
    size_t max_line;
    uint64_t bytes_up, bytes_down;
};

static int lf_scan(struct wire_layer *l);

static int
lf_recv(struct wire_layer *l, const void *data, size_t len)
{
    struct lf_layer *lf = (struct lf_layer *)l;
    lf->bytes_up += len;
    if (lf->len + len > lf->cap) {
        size_t c = lf->cap ? lf->cap : 64;
        while (c < lf->len + len)
            c *= 2;
        char *nb = realloc(lf->buf, c);
        if (nb == NULL)
            return WIRE_ENOMEM;
        lf->buf = nb;
        lf->cap = c;
    }
    memcpy(lf->buf + lf->len, data, len);
    lf->len += len;
    return lf_scan(l);
}

/* Deliver the lines complete in the buffer, keep the rest. */
static int
lf_scan(struct wire_layer *l)
{
    struct lf_layer *lf = (struct lf_layer *)l;
    /* Several messages may come out of one read: each is delivered on its
     * own; the helper holds those the protocol above is not ready for. */
    size_t off = 0;
    for (;;) {
        char *nl = memchr(lf->buf + off, '\n', lf->len - off);
        if (nl == NULL)
            break;
        size_t n = (size_t)(nl - (lf->buf + off));
        wire_layer_deliver(l, lf->buf + off, n);
        off += n + 1;
    }
    memmove(lf->buf, lf->buf + off, lf->len - off);
    lf->len -= off;
    if (lf->max_line != 0 && lf->len > lf->max_line)
        return WIRE_EMSGSIZE;
    return 0;
}

static ssize_t
lf_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
{
    struct lf_layer *lf = (struct lf_layer *)l;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    char *up = malloc(total ? total : 1);
    if (up == NULL)
        return WIRE_ENOMEM;
    size_t k = 0;
    for (int i = 0; i < iovcnt; i++)
        for (size_t j = 0; j < iov[i].iov_len; j++)
            up[k++] = (char)toupper(((const unsigned char *)iov[i].iov_base)[j]);
    struct iovec one = {up, total};
    int rc = wire_layer_send(l, &one, 1);
    free(up);
    if (rc < 0)
        return rc;
    lf->bytes_down += total;
    return (ssize_t)total;
}

static void
lf_destroy(struct wire_layer *l)
{
    struct lf_layer *lf = (struct lf_layer *)l;
    free(lf->buf);
    free(lf);
    live_layers--;
}

static const struct wire_layer_ops lf_ops = {
    .transport = WIRE_LAYER_TRANSPORT_OPS("lineframe",
                                          WIRE_CAP_HALF_CLOSE_IF_LOWER),
    .recv = lf_recv,
    .send = lf_send,
    .destroy = lf_destroy,
};

static struct wire_protocol *
lf_new(struct wire_protocol *upper, struct lf_layer **out)
{
    struct lf_layer *lf = calloc(1, sizeof(*lf));
    ck_assert_ptr_nonnull(lf);
    live_layers++;
    if (out != NULL)
        *out = lf;
    return wire_layer_init(&lf->base, &lf_ops, upper);
}

/* ---- count: a pass-through that counts ---- */

struct count_layer {
    struct wire_layer base;
    uint64_t in, out;
};

static int
count_recv(struct wire_layer *l, const void *data, size_t len)
{
    ((struct count_layer *)l)->in += len;
    wire_layer_deliver(l, data, len);
    return 0;
}

static ssize_t
count_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    int rc = wire_layer_send(l, iov, iovcnt);
    if (rc < 0)
        return rc;
    ((struct count_layer *)l)->out += total;
    return (ssize_t)total;
}

static void
count_destroy(struct wire_layer *l)
{
    free(l);
    live_layers--;
}

static const struct wire_layer_ops count_ops = {
    .transport = WIRE_LAYER_TRANSPORT_OPS("count", WIRE_CAP_HALF_CLOSE_IF_LOWER),
    .recv = count_recv,
    .send = count_send,
    .destroy = count_destroy,
};

static struct wire_protocol *
count_new(struct wire_protocol *upper, struct count_layer **out)
{
    struct count_layer *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    live_layers++;
    if (out != NULL)
        *out = c;
    return wire_layer_init(&c->base, &count_ops, upper);
}

static void
layer_setup(void)
{
    unit_setup();
    live_layers = 0;
}

static void
assert_no_leaks(void)
{
    ck_assert_int_eq(unit_live_protocols, 0);
    ck_assert_int_eq(live_layers, 0);
}

/* A lineframe stack on a fresh string transport. */
static struct wire_transport *
lf_on_string(struct rec_log *log, struct lf_layer **lf)
{
    struct wire_transport *st = wire_string_transport_new(lf_new(rec_new(log), lf));
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(log->made, 1);
    ck_assert_ptr_nonnull(log->t);
    ck_assert_ptr_ne(log->t, st);
    return st;
}

/* ---- on the string transport ---- */

START_TEST(test_string_both_ways)
{
    struct rec_log log = {0};
    struct lf_layer *lf;
    struct wire_transport *st = lf_on_string(&log, &lf);
    struct wire_transport *up = log.t;
    ck_assert_str_eq(wire_transport_name(up), "lineframe");
    ck_assert_ptr_eq(wire_transport_protocol(up), wire_transport_protocol(up));

    ck_assert_int_eq(wire_string_transport_feed(st, "hello\nworld\npart", 16), 0);
    ck_assert_str_eq(rec_marks(&log), "hello|world|");
    ck_assert_int_eq(wire_string_transport_feed_split(st, "ial\n\nx\n", 7, 1), 0);
    /* An empty line is an empty message: the helper passes nothing up. */
    ck_assert_str_eq(rec_in(&log), "helloworldpartialx");
    ck_assert_uint_eq(lf->bytes_up, 23);

    ck_assert_int_eq(wire_transport_write(up, "abc", 3), 0);
    struct iovec iov[2] = {{"de", 2}, {"f!", 2}};
    ck_assert_int_eq(wire_transport_write_sequence(up, iov, 2), 0);
    ck_assert_str_eq(unit_output(st), "ABCDEF!");
    ck_assert_uint_eq(lf->bytes_down, 7);

    /* Close from above crosses down; the loss comes from the step. */
    wire_transport_close(up);
    ck_assert(wire_string_transport_closed(st));
    ck_assert(!wire_string_transport_aborted(st));
    ck_assert_int_eq(log.lost, 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    ck_assert_int_eq(log.destroyed, 1);
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

static void
pause_on_every(struct rec_log *log, struct wire_transport *t, const void *d,
               size_t n)
{
    (void)log;
    (void)d;
    (void)n;
    ck_assert_int_eq(wire_transport_pause_reading(t), 0);
}

START_TEST(test_string_pause_holds_messages)
{
    struct rec_log log = {.on_data = rec_pause_on_first};
    struct wire_transport *st = lf_on_string(&log, NULL);
    struct wire_transport *up = log.t;
    /* One read below, three messages: the first pauses the rest. */
    ck_assert_int_eq(wire_string_transport_feed(st, "a\nbb\nccc\n", 9), 0);
    ck_assert_str_eq(rec_marks(&log), "a|");
    ck_assert(!wire_transport_is_reading(up));
    ck_assert_int_eq(wire_string_transport_step(st), 0);
    ck_assert_str_eq(rec_marks(&log), "a|");
    /* Input below waits too (reading paused crosses down). */
    ck_assert_int_eq(wire_string_transport_feed(st, "dddd\n", 5), 0);
    ck_assert_str_eq(rec_marks(&log), "a|");
    ck_assert_int_eq(wire_transport_resume_reading(up), 0);
    ck_assert_str_eq(rec_marks(&log), "a|"); /* not inside resume */
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_marks(&log), "a|bb|ccc|dddd|");
    wire_string_transport_free(st);
    ck_assert_int_eq(log.lost, 1);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

START_TEST(test_string_pause_every_message)
{
    /* Paused after every message: each resume + step delivers exactly the
     * next one, so boundaries and order survive. */
    struct rec_log log = {.on_data = pause_on_every};
    struct wire_transport *st = lf_on_string(&log, NULL);
    struct wire_transport *up = log.t;
    ck_assert_int_eq(wire_string_transport_feed(st, "1\n22\n333\n4444\n", 14), 0);
    ck_assert_str_eq(rec_marks(&log), "1|");
    static const char *const want[] = {"1|22|", "1|22|333|", "1|22|333|4444|"};
    for (int i = 0; i < 3; i++) {
        wire_transport_resume_reading(up);
        wire_string_transport_step(st);
        ck_assert_str_eq(rec_marks(&log), want[i]);
    }
    wire_transport_resume_reading(up);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_marks(&log), "1|22|333|4444|");
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

START_TEST(test_string_eof_after_held_messages)
{
    struct rec_log log = {.on_data = rec_pause_on_first};
    struct wire_transport *st = lf_on_string(&log, NULL);
    struct wire_transport *up = log.t;
    ck_assert_int_eq(wire_string_transport_feed(st, "x\ny\n", 4), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    ck_assert_int_eq(log.eof, 0);
    wire_transport_resume_reading(up);
    ck_assert_int_eq(log.eof, 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_marks(&log), "x|y|");
    ck_assert_int_eq(log.eof, 1);
    /* eof_received returned false: the stack closed, down to the bottom. */
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    ck_assert(wire_string_transport_closed(st));
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

START_TEST(test_string_write_eof_crosses_down)
{
    struct rec_log log = {.eof_keep = true};
    struct wire_transport *st = lf_on_string(&log, NULL);
    struct wire_transport *up = log.t;
    ck_assert(wire_transport_can_write_eof(up));
    wire_string_transport_set_capacity(st, 0);
    ck_assert_int_eq(wire_transport_write(up, "last", 4), 0);
    ck_assert_int_eq(wire_transport_write_eof(up), 0);
    ck_assert_int_eq(wire_transport_write(up, "x", 1), WIRE_ECLOSED);
    ck_assert(!wire_string_transport_eof_written(st)); /* flush first */
    wire_string_transport_set_capacity(st, SIZE_MAX);
    wire_string_transport_step(st);
    ck_assert_str_eq(unit_output(st), "LAST");
    ck_assert(wire_string_transport_eof_written(st));
    /* Half-closed: input still flows up. */
    ck_assert_int_eq(wire_string_transport_feed(st, "in\n", 3), 0);
    ck_assert_str_eq(rec_marks(&log), "in|");
    /* The peer's EOF now ends the stack. */
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    ck_assert_int_eq(log.eof, 1);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

START_TEST(test_string_abort_crosses_down)
{
    struct rec_log log = {0};
    struct wire_transport *st = lf_on_string(&log, NULL);
    struct wire_transport *up = log.t;
    wire_string_transport_set_capacity(st, 0);
    ck_assert_int_eq(wire_transport_write(up, "dropped", 7), 0);
    wire_transport_abort(up);
    ck_assert(wire_string_transport_aborted(st));
    ck_assert_int_eq(log.lost, 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EABORTED);
    wire_string_transport_set_capacity(st, SIZE_MAX);
    ck_assert_str_eq(unit_output(st), "");
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

START_TEST(test_string_lower_loss_reaches_above_once)
{
    struct rec_log log = {0};
    struct wire_transport *st = lf_on_string(&log, NULL);
    ck_assert_int_eq(wire_string_transport_feed_error(st, -ECONNRESET,
                                                      "read: boom"), 0);
    ck_assert_int_eq(log.lost, 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, -ECONNRESET);
    ck_assert_str_eq(log.lost_msg, "read: boom");
    ck_assert_int_eq(log.destroyed, 1);
    ck_assert_int_eq(wire_string_transport_step(st), 0);
    ck_assert_int_eq(log.lost, 1);
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

START_TEST(test_string_write_while_lower_dies)
{
    /* The transport below is lost (its connection_lost is on the way)
     * when the protocol above writes: the write is taken and later
     * dropped, and the protocol above learns the real error, not that
     * the layer's bottom was "closed". */
    struct rec_log log = {0};
    struct wire_transport *st = lf_on_string(&log, NULL);
    ck_assert_int_eq(wire_string_transport_feed_error(st, -ECONNRESET,
                                                      "read: boom"), 0);
    ck_assert_int_eq(wire_transport_write(log.t, "late\n", 5), 0);
    while (wire_string_transport_step(st) > 0)
        ;
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, -ECONNRESET);
    ck_assert_str_eq(log.lost_msg, "read: boom");
    ck_assert_str_eq(unit_output(st), "");
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

START_TEST(test_string_layer_fail)
{
    /* A line longer than the layer allows: the layer fails, the bottom is
     * aborted and the protocol above gets the layer's error, once. */
    struct rec_log log = {0};
    struct lf_layer *lf;
    struct wire_transport *st = lf_on_string(&log, &lf);
    lf->max_line = 8;
    ck_assert_int_eq(wire_string_transport_feed(st, "ok\n0123456789", 13), 0);
    ck_assert_str_eq(rec_marks(&log), "ok|");
    ck_assert(wire_string_transport_aborted(st));
    ck_assert_int_eq(log.lost, 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EMSGSIZE);
    ck_assert_contains(log.lost_msg, "lineframe");
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

/* The layer fails while it holds messages for a protocol above that
 * paused reading: those came before the bad input, so they go up on
 * resume (`resume`), and then the layer's error; writes meanwhile are
 * refused.  Closed instead of resumed, the held input goes with the
 * protocol, and connection_lost still carries the error. */
static void
held_then_fail(bool resume)
{
    struct rec_log log = {.on_data = rec_pause_on_first};
    struct lf_layer *lf;
    struct wire_transport *st = lf_on_string(&log, &lf);
    struct wire_transport *up = log.t;
    lf->max_line = 8;
    ck_assert_int_eq(wire_string_transport_feed(st, "a\nbb\n0123456789", 15), 0);
    ck_assert_str_eq(rec_marks(&log), "a|");
    ck_assert(wire_string_transport_aborted(st));
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_int_eq(wire_transport_write(up, "late\n", 5), WIRE_ECLOSED);
    if (resume)
        ck_assert_int_eq(wire_transport_resume_reading(up), 0);
    else
        wire_transport_close(up);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_marks(&log), resume ? "a|bb|" : "a|");
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EMSGSIZE);
    ck_assert_contains(log.lost_msg, "lineframe");
    ck_assert_str_eq(unit_output(st), "");
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}

START_TEST(test_string_layer_fail_after_held)
{
    held_then_fail(true);
}
END_TEST

START_TEST(test_string_layer_fail_after_held_close)
{
    held_then_fail(false);
}
END_TEST

/* A protocol with only get_buffer and buffer_updated (no data_received)
 * above a layer: each message is copied into its buffers, as many as it
 * takes, never dropped; one that gives no buffer fails the connection. */
struct bufonly {
    struct wire_protocol base;
    struct wire_transport *t;
    char buf[3];
    char got[64];
    size_t n;
    bool refuse;
    int lost;
    int lost_code;
};

static void
bo_made(struct wire_protocol *p, struct wire_transport *t)
{
    ((struct bufonly *)p)->t = t;
}

static void *
bo_get_buffer(struct wire_protocol *p, size_t hint, size_t *len)
{
    struct bufonly *b = (struct bufonly *)p;
    ck_assert_uint_gt(hint, 0);
    *len = sizeof(b->buf);
    return b->refuse ? NULL : b->buf;
}

static void
bo_updated(struct wire_protocol *p, size_t n)
{
    struct bufonly *b = (struct bufonly *)p;
    ck_assert_uint_le(n, sizeof(b->buf));
    ck_assert_uint_lt(b->n + n, sizeof(b->got));
    memcpy(b->got + b->n, b->buf, n);
    b->n += n;
}

static void
bo_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct bufonly *b = (struct bufonly *)p;
    b->lost++;
    b->lost_code = err != NULL ? err->code : 0;
}

static const struct wire_protocol_ops bufonly_ops = {
    .connection_made = bo_made,
    .get_buffer = bo_get_buffer,
    .buffer_updated = bo_updated,
    .connection_lost = bo_lost,
};

START_TEST(test_string_buffers_only_above)
{
    struct bufonly b = {0};
    wire_protocol_init(&b.base, &bufonly_ops);
    struct wire_transport *st = wire_string_transport_new(lf_new(&b.base, NULL));
    ck_assert_ptr_nonnull(st);
    ck_assert_ptr_nonnull(b.t);
    ck_assert_int_eq(wire_string_transport_feed(st, "hello\nworld!!\n", 15), 0);
    ck_assert_uint_eq(b.n, 12);
    ck_assert_int_eq(memcmp(b.got, "helloworld!!", 12), 0);
    ck_assert_int_eq(b.lost, 0);
    b.refuse = true;
    ck_assert_int_eq(wire_string_transport_feed(st, "more\n", 5), 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(b.lost, 1);
    ck_assert_int_eq(b.lost_code, WIRE_EPROTO);
    ck_assert_uint_eq(b.n, 12);
    wire_string_transport_free(st);
    assert_no_leaks();
}
END_TEST

START_TEST(test_string_get_info_forwards)
{
    struct rec_log log = {0};
    struct wire_transport *st = lf_on_string(&log, NULL);
    struct wire_transport *up = log.t;
    char buf[64];
    ck_assert_int_eq(wire_transport_get_info(up, WIRE_INFO_NAME, buf,
                                             sizeof(buf)), 9);
    ck_assert_str_eq(buf, "lineframe");
    ck_assert_int_gt(wire_transport_get_info(up, WIRE_INFO_PEER, buf,
                                             sizeof(buf)), 0);
    ck_assert_str_eq(buf, "string:"); /* answered by the transport below */
    ck_assert_int_eq(wire_transport_get_info(up, WIRE_INFO_FD, buf,
                                             sizeof(buf)), WIRE_ENOTSUP);
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

START_TEST(test_string_flow_control_crosses_up)
{
    struct rec_log log = {0};
    struct wire_transport *st = lf_on_string(&log, NULL);
    struct wire_transport *up = log.t;
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(st, 8, 2), 0);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(up, 16, 4), 0);
    wire_string_transport_set_capacity(st, 0);
    /* The layer hands below only what fits under its high mark plus one
     * byte (9 > 8 pauses it); the rest stays above, in its own queue... */
    ck_assert_int_eq(wire_transport_write(up, "abcdefghij", 10), 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(st), 9);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(up), 1);
    ck_assert_int_eq(log.paused, 0);
    /* ...so the next bytes queue above: 11 <= 16, then 21 > 16. */
    ck_assert_int_eq(wire_transport_write(up, "klmnopqrst", 10), 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(up), 11);
    ck_assert_int_eq(log.paused, 0);
    ck_assert_int_eq(wire_transport_write(up, "uvwxyz0123", 10), 0);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(up), 21);
    ck_assert_int_eq(log.paused, 1);
    ck_assert_int_eq(wire_transport_write(up, "45", 2), 0);
    ck_assert_int_eq(log.paused, 1);
    ck_assert_int_eq(log.resumed, 0);
    /* The bottom drains: it resumes, the layer flushes, above resumes. */
    wire_string_transport_set_capacity(st, SIZE_MAX);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.resumed, 1);
    ck_assert_uint_eq(wire_transport_get_write_buffer_size(up), 0);
    ck_assert_str_eq(unit_output(st), "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345");
    wire_string_transport_free(st);
    ck_assert_int_eq(log.paused, 1);
    ck_assert_int_eq(log.resumed, 1);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

START_TEST(test_string_two_layers)
{
    /* rec <- lineframe <- count <- string: both layers translate and
     * defer through the string transport at the bottom. */
    struct rec_log log = {.on_data = rec_pause_on_first};
    struct lf_layer *lf;
    struct count_layer *cnt;
    struct wire_transport *st =
        wire_string_transport_new(count_new(lf_new(rec_new(&log), &lf), &cnt));
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(log.made, 1);
    struct wire_transport *up = log.t;
    char buf[32];
    wire_transport_get_info(up, WIRE_INFO_PEER, buf, sizeof(buf));
    ck_assert_str_eq(buf, "string:");
    ck_assert_int_eq(wire_string_transport_feed(st, "a\nb\n", 4), 0);
    ck_assert_str_eq(rec_marks(&log), "a|");
    wire_transport_resume_reading(up);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_marks(&log), "a|b|");
    ck_assert_uint_eq(cnt->in, 4);
    ck_assert_int_eq(wire_transport_write(up, "hi", 2), 0);
    ck_assert_str_eq(unit_output(st), "HI");
    ck_assert_uint_eq(cnt->out, 2);
    /* An error at the bottom crosses both layers, once. */
    wire_string_transport_feed_error(st, -EPIPE, "bottom failed");
    ck_assert_int_eq(log.lost, 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, -EPIPE);
    ck_assert_str_eq(log.lost_msg, "bottom failed");
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

START_TEST(test_string_two_layers_close)
{
    struct rec_log log = {0};
    struct wire_transport *st =
        wire_string_transport_new(count_new(lf_new(rec_new(&log), NULL), NULL));
    struct wire_transport *up = log.t;
    ck_assert_int_eq(wire_transport_write(up, "bye", 3), 0);
    wire_transport_close(up);
    ck_assert_int_eq(log.lost, 0);
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert(log.lost_null);
    ck_assert(wire_string_transport_closed(st));
    ck_assert_str_eq(unit_output(st), "BYE");
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

START_TEST(test_string_never_started)
{
    /* A layer given to nobody: destroying its protocol releases the layer
     * and the protocol above (which never saw connection_made). */
    struct rec_log log = {0};
    struct wire_protocol *p = lf_new(rec_new(&log), NULL);
    wire_protocol_destroy(p);
    ck_assert_int_eq(log.made, 0);
    ck_assert_int_eq(log.lost, 0);
    ck_assert_int_eq(log.destroyed, 1);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

/* ---- on a memory pair and on TCP ---- */

static bool
both_lost(void *arg)
{
    struct rec_log *l = arg;
    return l[0].lost_flag && l[1].lost_flag;
}

static bool
both_made(void *arg)
{
    struct rec_log *l = arg;
    return l[0].made_flag && l[1].made_flag;
}

static bool
has_marks(void *arg)
{
    struct rec_log *l = arg;
    return l->user != NULL && strcmp(rec_marks(l), (const char *)l->user) == 0;
}

static bool
has_input(void *arg)
{
    struct rec_log *l = arg;
    return l->user != NULL && strcmp(rec_in(l), (const char *)l->user) == 0;
}

static const volatile bool never = false;

START_TEST(test_mem_both_ways)
{
    struct wire_loop *loop = wire_loop_new();
    struct rec_log logs[2] = {{.on_data = rec_pause_on_first}, {0}};
    struct rec_log *up = &logs[0], *peer = &logs[1];
    struct lf_layer *lf;
    struct wire_transport *ta, *tb;
    ck_assert_int_eq(wire_mem_pair(loop, lf_new(rec_new(up), &lf),
                                   rec_new(peer), 0, &ta, &tb), 0);
    ck_assert_int_eq(up->made, 0); /* connection_made comes from the loop */
    ck_assert(unit_run_until(loop, both_made, logs, 5000));
    char buf[32];
    ck_assert_int_gt(wire_transport_get_info(up->t, WIRE_INFO_PEER, buf,
                                             sizeof(buf)), 0);
    ck_assert_str_eq(buf, "mem:pair");

    ck_assert_int_eq(wire_transport_write(up->t, "hello\n", 6), 0);
    peer->user = "HELLO\n";
    ck_assert(unit_run_until(loop, has_input, peer, 5000));

    /* Three messages in one write from the peer; the first pauses. */
    ck_assert_int_eq(wire_transport_write(peer->t, "a\nb\nc\n", 6), 0);
    up->user = "a|";
    ck_assert(unit_run_until(loop, has_marks, up, 5000));
    wire_transport_resume_reading(up->t);
    up->user = "a|b|c|";
    ck_assert(unit_run_until(loop, has_marks, up, 5000));
    ck_assert_uint_eq(lf->bytes_up, 6);
    ck_assert_uint_eq(lf->bytes_down, 6);

    /* Close from above: the peer sees EOF, closes too; both are lost
     * (and the layer is freed: lf is not to be read after this). */
    wire_transport_close(up->t);
    ck_assert_int_eq(up->lost, 0);
    ck_assert(unit_run_until(loop, both_lost, logs, 5000));
    ck_assert_int_eq(peer->eof, 1);
    ck_assert(up->lost_null && peer->lost_null);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    ck_assert_int_eq(up->lost, 1);
    ck_assert_int_eq(peer->lost, 1);
    (void)ta;
    (void)tb;
    wire_loop_free(loop);
    assert_no_leaks();
    rec_log_free(up);
    rec_log_free(peer);
}
END_TEST

START_TEST(test_mem_peer_abort_reaches_above)
{
    struct wire_loop *loop = wire_loop_new();
    struct rec_log logs[2] = {{0}, {0}};
    struct rec_log *up = &logs[0], *peer = &logs[1];
    ck_assert_int_eq(wire_mem_pair(loop, lf_new(rec_new(up), NULL),
                                   rec_new(peer), 0, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, both_made, logs, 5000));
    wire_transport_abort(peer->t);
    ck_assert(unit_run_until(loop, both_lost, logs, 5000));
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    ck_assert_int_eq(peer->lost_code, WIRE_EABORTED);
    ck_assert_int_eq(up->lost, 1);
    ck_assert_int_eq(up->lost_code, -ECONNRESET);
    wire_loop_free(loop);
    assert_no_leaks();
    rec_log_free(up);
    rec_log_free(peer);
}
END_TEST

START_TEST(test_mem_flow_control_crosses_up)
{
    /* A small pair buffer and small limits on both transports: a protocol
     * above that writes a lot is paused by its own watermarks, and
     * resumed once the peer drains; everything arrives in order. */
    struct wire_loop *loop = wire_loop_new();
    struct rec_log logs[2] = {{0}, {0}};
    struct rec_log *up = &logs[0], *peer = &logs[1];
    struct wire_transport *ta;
    ck_assert_int_eq(wire_mem_pair(loop, lf_new(rec_new(up), NULL),
                                   rec_new(peer), 16, &ta, NULL), 0);
    ck_assert(unit_run_until(loop, both_made, logs, 5000));
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(ta, 32, 8), 0);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(up->t, 64, 16), 0);
    wire_transport_pause_reading(peer->t);
    char want[401];
    for (int i = 0; i < 400; i++)
        want[i] = (char)('a' + i % 26);
    want[400] = '\0';
    for (int i = 0; i < 400; i += 20)
        ck_assert_int_eq(wire_transport_write(up->t, want + i, 20), 0);
    ck_assert_int_eq(up->paused, 1);
    ck_assert_uint_gt(wire_transport_get_write_buffer_size(up->t), 64);
    wire_transport_resume_reading(peer->t);
    for (int i = 0; i < 400; i++)
        want[i] = (char)toupper((unsigned char)want[i]);
    peer->user = want;
    ck_assert(unit_run_until(loop, has_input, peer, 5000));
    ck_assert_int_eq(up->resumed, 1);
    wire_transport_close(up->t);
    ck_assert(unit_run_until(loop, both_lost, logs, 5000));
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    wire_loop_free(loop);
    assert_no_leaks();
    rec_log_free(up);
    rec_log_free(peer);
}
END_TEST

struct srv_ctx {
    struct rec_log log;
    int made;
};

static struct wire_protocol *
srv_factory(void *arg)
{
    struct srv_ctx *c = arg;
    c->made++;
    return rec_new(&c->log);
}

struct conn_result {
    int calls;
    int code;
    char msg[256];
    struct wire_transport *t;
    volatile bool done;
};

static void
conn_cb(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct conn_result *r = arg;
    r->calls++;
    r->t = t;
    r->code = err != NULL ? err->code : 0;
    if (err != NULL)
        snprintf(r->msg, sizeof(r->msg), "%s", err->message);
    r->done = true;
}

static bool
tcp_up(void *arg)
{
    struct rec_log **l = arg;
    return l[0]->made_flag && l[1]->made_flag;
}

static bool
tcp_down(void *arg)
{
    struct rec_log **l = arg;
    return l[0]->lost_flag && l[1]->lost_flag;
}

/* A TCP server recording into `srv`, and a connection to it running the
 * stack `client` (whose top records into `cli`), both made. */
static struct wire_server *
tcp_stack(struct wire_loop *loop, struct srv_ctx *srv,
          struct wire_protocol *client, struct rec_log *cli,
          struct conn_result *cr, struct wire_error *err)
{
    struct wire_server *s = NULL;
    ck_assert_int_eq(wire_listen(loop, "tcp://127.0.0.1:0", srv_factory, srv,
                                 NULL, &s, err), 0);
    ck_assert_int_eq(wire_connect(loop, wire_server_address(s), client, NULL,
                                  conn_cb, cr, err), 0);
    struct rec_log *pair[2] = {cli, &srv->log};
    ck_assert(unit_run_until(loop, tcp_up, pair, 5000));
    return s;
}

START_TEST(test_tcp_both_ways)
{
    struct wire_loop *loop = wire_loop_new();
    struct srv_ctx srv = {{0}, 0};
    struct wire_error err = {0};
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    struct lf_layer *lf;
    struct wire_server *s = tcp_stack(loop, &srv, lf_new(rec_new(&cli), &lf),
                                      &cli, &cr, &err);
    struct rec_log *pair[2] = {&cli, &srv.log};
    ck_assert_int_eq(wire_loop_run_until(loop, &cr.done, 5000), 0);
    ck_assert_int_eq(cr.calls, 1);
    ck_assert_int_eq(cr.code, 0);
    /* The connect callback gets the transport below the layer. */
    ck_assert_str_eq(wire_transport_name(cr.t), "tcp");
    ck_assert_str_eq(wire_transport_name(cli.t), "lineframe");

    /* The peer as the layer sees it is the server's address. */
    char buf[128];
    ck_assert_int_gt(wire_transport_get_info(cli.t, WIRE_INFO_PEER, buf,
                                             sizeof(buf)), 0);
    ck_assert_str_eq(buf, wire_server_address(s));
    int fd = -1;
    ck_assert_int_eq(wire_transport_get_info(cli.t, WIRE_INFO_FD, &fd,
                                             sizeof(fd)), (int)sizeof(int));
    ck_assert_int_ge(fd, 0);

    ck_assert_int_eq(wire_transport_write(cli.t, "ping\n", 5), 0);
    srv.log.user = "PING\n";
    ck_assert(unit_run_until(loop, has_input, &srv.log, 5000));
    ck_assert_int_eq(wire_transport_write(srv.log.t, "pong\nagain\n", 11), 0);
    cli.user = "pong|again|";
    ck_assert(unit_run_until(loop, has_marks, &cli, 5000));

    /* The server side resets the connection: the loss reaches the
     * protocol above the layer once, as the reset it was. */
    wire_transport_abort(srv.log.t);
    ck_assert(unit_run_until(loop, tcp_down, pair, 5000));
    ck_assert_int_eq(srv.log.lost_code, WIRE_EABORTED);
    ck_assert_int_eq(cli.lost, 1);
    ck_assert_int_eq(cli.lost_code, -ECONNRESET);
    wire_server_free(s);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    ck_assert_int_eq(cli.lost, 1);
    wire_loop_free(loop);
    assert_no_leaks();
    wire_error_clear(&err);
    rec_log_free(&cli);
    rec_log_free(&srv.log);
}
END_TEST

START_TEST(test_tcp_connect_fails_releases_stack)
{
    /* A refused connect: the callback reports once, the layer and the
     * protocol above it are released, connection_made never happened. */
    struct wire_loop *loop = wire_loop_new();
    struct srv_ctx srv = {{0}, 0};
    struct wire_server *s = NULL;
    ck_assert_int_eq(wire_listen(loop, "tcp://127.0.0.1:0", srv_factory, &srv,
                                 NULL, &s, NULL), 0);
    char addr[128];
    snprintf(addr, sizeof(addr), "%s", wire_server_address(s));
    wire_server_free(s); /* nobody listens there any more */
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    ck_assert_int_eq(wire_connect(loop, addr, lf_new(rec_new(&cli), NULL),
                                  NULL, conn_cb, &cr, NULL), 0);
    ck_assert_int_eq(cr.calls, 0);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    ck_assert_int_eq(cr.calls, 1);
    ck_assert_int_eq(cr.code, -ECONNREFUSED);
    ck_assert_contains(cr.msg, addr + strlen("tcp://"));
    ck_assert_int_eq(cli.made, 0);
    ck_assert_int_eq(cli.lost, 0);
    ck_assert_int_eq(cli.destroyed, 1);
    wire_loop_free(loop);
    assert_no_leaks();
    rec_log_free(&cli);
}
END_TEST

/* ---- bufline: the zero-copy receive hooks ---- */

struct bl_layer {
    struct lf_layer lf; /* first: lf_scan, lf_send, lf_destroy work on it */
    size_t room;        /* bytes offered per read */
    bool offer_null;    /* get_buffer returns NULL */
    int gets, updates, recvs;
    bool updating;      /* inside bl_buffer_updated */
    char late[16];      /* what recv got meanwhile, taken after it */
    size_t late_len;
};

static int
bl_recv(struct wire_layer *l, const void *data, size_t len)
{
    struct bl_layer *b = (struct bl_layer *)l;
    b->recvs++;
    if (b->updating) {
        /* Fed from inside a message of ours: the buffer being scanned
         * must not move, so these bytes wait until it is done. */
        ck_assert_uint_le(b->late_len + len, sizeof(b->late));
        memcpy(b->late + b->late_len, data, len);
        b->late_len += len;
        return 0;
    }
    return lf_recv(l, data, len);
}

static void *
bl_get_buffer(struct wire_layer *l, size_t hint, size_t *len)
{
    struct bl_layer *b = (struct bl_layer *)l;
    struct lf_layer *lf = &b->lf;
    ck_assert_uint_gt(hint, 0);
    b->gets++;
    if (b->offer_null)
        return NULL;
    if (lf->cap - lf->len < b->room) {
        char *nb = realloc(lf->buf, lf->len + b->room);
        ck_assert_ptr_nonnull(nb);
        lf->buf = nb;
        lf->cap = lf->len + b->room;
    }
    *len = b->room;
    return lf->buf + lf->len;
}

static int
bl_buffer_updated(struct wire_layer *l, size_t n)
{
    struct bl_layer *b = (struct bl_layer *)l;
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_le(n, b->room);
    b->updates++;
    b->lf.bytes_up += n;
    b->lf.len += n;
    b->updating = true;
    int rc = lf_scan(l);
    b->updating = false;
    if (rc == 0 && b->late_len > 0) {
        size_t k = b->late_len;
        b->late_len = 0;
        rc = lf_recv(l, b->late, k);
    }
    return rc;
}

#define BL_OPS(gb, bu)                                                        \
    {                                                                         \
        .transport = WIRE_LAYER_TRANSPORT_OPS("bufline",                      \
                                              WIRE_CAP_HALF_CLOSE_IF_LOWER),  \
        .recv = bl_recv, .send = lf_send, .destroy = lf_destroy,              \
        .get_buffer = (gb), .buffer_updated = (bu),                           \
    }
static const struct wire_layer_ops bl_ops = BL_OPS(bl_get_buffer,
                                                   bl_buffer_updated);
/* Half the pair: not offered to the transport below. */
static const struct wire_layer_ops bl_half_ops = BL_OPS(bl_get_buffer, NULL);
static const struct wire_layer_ops bl_other_half_ops = BL_OPS(NULL,
                                                              bl_buffer_updated);

static struct wire_protocol *
bl_new(struct wire_protocol *upper, const struct wire_layer_ops *ops,
       size_t room, struct bl_layer **out)
{
    struct bl_layer *b = calloc(1, sizeof(*b));
    ck_assert_ptr_nonnull(b);
    live_layers++;
    b->room = room;
    if (out != NULL)
        *out = b;
    return wire_layer_init(&b->lf.base, ops, upper);
}

/* The transport below sees get_buffer and buffer_updated only when the
 * layer sets both hooks; a layer without them is the plain protocol it
 * always was. */
START_TEST(test_buffered_ops_only_with_both_hooks)
{
    struct rec_log a = {0}, b = {0}, c = {0}, d = {0};
    struct wire_protocol *plain = lf_new(rec_new(&a), NULL);
    struct wire_protocol *both = bl_new(rec_new(&b), &bl_ops, 8, NULL);
    struct wire_protocol *half = bl_new(rec_new(&c), &bl_half_ops, 8, NULL);
    struct wire_protocol *other = bl_new(rec_new(&d), &bl_other_half_ops, 8,
                                         NULL);
    ck_assert_ptr_null(plain->ops->get_buffer);
    ck_assert_ptr_null(plain->ops->buffer_updated);
    ck_assert_ptr_nonnull(both->ops->get_buffer);
    ck_assert_ptr_nonnull(both->ops->buffer_updated);
    ck_assert_ptr_null(half->ops->get_buffer);
    ck_assert_ptr_null(half->ops->buffer_updated);
    ck_assert_ptr_null(other->ops->get_buffer);
    ck_assert_ptr_null(other->ops->buffer_updated);
    /* Everything else is the same table. */
    ck_assert_ptr_eq(both->ops->data_received, plain->ops->data_received);
    ck_assert_ptr_eq(both->ops->connection_lost, plain->ops->connection_lost);
    ck_assert_ptr_eq(half->ops, plain->ops);
    wire_protocol_destroy(plain);
    wire_protocol_destroy(both);
    wire_protocol_destroy(half);
    wire_protocol_destroy(other);
    assert_no_leaks();
    rec_log_free(&a);
    rec_log_free(&b);
    rec_log_free(&c);
    rec_log_free(&d);
}
END_TEST

/* Reads go into the layer's buffer, as large as it offers, and the
 * layer's buffer_updated translates them; a NULL buffer sends the read
 * through recv instead, with the same messages. */
START_TEST(test_buffered_reads_into_layer)
{
    for (int null = 0; null < 2; null++) {
        struct rec_log log = {0};
        struct bl_layer *b;
        struct wire_transport *st =
            wire_string_transport_new(bl_new(rec_new(&log), &bl_ops, 4, &b));
        ck_assert_ptr_nonnull(st);
        b->offer_null = null;
        ck_assert_int_eq(wire_string_transport_feed(st, "ab\ncd\nef", 8), 0);
        ck_assert_str_eq(rec_marks(&log), "ab|cd|");
        ck_assert_int_eq(wire_string_transport_feed(st, "\n", 1), 0);
        ck_assert_str_eq(rec_marks(&log), "ab|cd|ef|");
        ck_assert_uint_eq(b->lf.bytes_up, 9);
        if (null) {
            ck_assert_int_eq(b->updates, 0);
            ck_assert_int_eq(b->recvs, 2);
            ck_assert_int_ge(b->gets, 2);
        } else {
            ck_assert_int_eq(b->updates, 3); /* 4 + 4 + 1 bytes */
            ck_assert_int_eq(b->recvs, 0);
        }
        /* Writing is untouched. */
        ck_assert_int_eq(wire_transport_write(log.t, "up", 2), 0);
        ck_assert_str_eq(unit_output(st), "UP");
        wire_string_transport_free(st);
        assert_no_leaks();
        rec_log_free(&log);
    }
}
END_TEST

/* A buffered read the protocol above pauses in: the rest of the fed
 * bytes wait below, the messages already read wait in the helper, all
 * in order on resume. */
START_TEST(test_buffered_pause_holds)
{
    struct rec_log log = {.on_data = rec_pause_on_first};
    struct bl_layer *b;
    struct wire_transport *st =
        wire_string_transport_new(bl_new(rec_new(&log), &bl_ops, 6, &b));
    ck_assert_int_eq(wire_string_transport_feed(st, "a\nbb\nccc\ndd\n", 12), 0);
    ck_assert_str_eq(rec_marks(&log), "a|");
    ck_assert_int_eq(b->updates, 1);
    ck_assert_int_eq(wire_transport_resume_reading(log.t), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(rec_marks(&log), "a|bb|ccc|dd|");
    ck_assert_int_eq(b->recvs, 0);
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

/* Bytes fed from inside a message the layer delivered from its
 * buffer_updated: the helper does not ask for the layer's buffer while
 * the layer is taking a read, so they come through recv. */
static struct wire_transport *nested_st;

static void
feed_nested(struct rec_log *log, struct wire_transport *t, const void *data,
            size_t len)
{
    (void)t;
    (void)data;
    (void)len;
    if (log->data_calls != 1)
        return;
    struct bl_layer *b = log->user;
    int gets = b->gets, recvs = b->recvs;
    ck_assert_int_eq(wire_string_transport_feed(nested_st, "zz\n", 3), 0);
    ck_assert_int_eq(b->gets, gets);
    ck_assert_int_eq(b->recvs, recvs + 1);
}

START_TEST(test_buffered_not_asked_inside)
{
    struct rec_log log = {.on_data = feed_nested};
    struct bl_layer *b;
    struct wire_transport *st =
        wire_string_transport_new(bl_new(rec_new(&log), &bl_ops, 64, &b));
    log.user = b;
    nested_st = st;
    ck_assert_int_eq(wire_string_transport_feed(st, "x\n", 2), 0);
    ck_assert_int_eq(b->updates, 1);
    ck_assert_int_eq(b->recvs, 1);
    ck_assert_str_eq(rec_marks(&log), "x|zz|");
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

/* An error from buffer_updated fails the layer as one from recv does. */
START_TEST(test_buffered_update_fails)
{
    struct rec_log log = {0};
    struct bl_layer *b;
    struct wire_transport *st =
        wire_string_transport_new(bl_new(rec_new(&log), &bl_ops, 64, &b));
    b->lf.max_line = 8;
    ck_assert_int_eq(wire_string_transport_feed(st, "ok\n0123456789", 13), 0);
    ck_assert_int_eq(b->updates, 1);
    ck_assert_str_eq(rec_marks(&log), "ok|");
    ck_assert(wire_string_transport_aborted(st));
    wire_string_transport_step(st);
    ck_assert_int_eq(log.lost, 1);
    ck_assert_int_eq(log.lost_code, WIRE_EMSGSIZE);
    ck_assert_str_eq(log.lost_msg, "bufline: message exceeds the configured "
                                   "limit");
    wire_string_transport_free(st);
    assert_no_leaks();
    rec_log_free(&log);
}
END_TEST

/* Over TCP: the socket transport reads straight into the layer's buffer
 * (recv(2) into what get_buffer gave), never through recv. */
START_TEST(test_buffered_tcp_reads_into_layer)
{
    struct wire_loop *loop = wire_loop_new();
    struct srv_ctx srv = {{0}, 0};
    struct wire_error err = {0};
    struct rec_log cli = {0};
    struct conn_result cr = {0};
    struct bl_layer *b;
    struct wire_server *s = tcp_stack(loop, &srv,
                                      bl_new(rec_new(&cli), &bl_ops, 5, &b),
                                      &cli, &cr, &err);
    struct rec_log *pair[2] = {&cli, &srv.log};
    ck_assert_int_eq(wire_transport_write(srv.log.t, "pong\nagain\n", 11), 0);
    cli.user = "pong|again|";
    ck_assert(unit_run_until(loop, has_marks, &cli, 5000));
    ck_assert_int_ge(b->updates, 3); /* 11 bytes, at most 5 per read */
    ck_assert_int_eq(b->recvs, 0);
    ck_assert_int_eq(wire_transport_write(cli.t, "ping\n", 5), 0);
    srv.log.user = "PING\n";
    ck_assert(unit_run_until(loop, has_input, &srv.log, 5000));
    wire_transport_close(cli.t);
    ck_assert(unit_run_until(loop, tcp_down, pair, 5000));
    ck_assert(cli.lost_null);
    wire_server_free(s);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, 5000), 1);
    wire_loop_free(loop);
    assert_no_leaks();
    wire_error_clear(&err);
    rec_log_free(&cli);
    rec_log_free(&srv.log);
}
END_TEST

Suite *
layer_suite(void)
{
    Suite *s = suite_create("layer");
    TCase *tc = tcase_create("string");
    tcase_add_checked_fixture(tc, layer_setup, NULL);
    tcase_add_test(tc, test_string_both_ways);
    tcase_add_test(tc, test_string_pause_holds_messages);
    tcase_add_test(tc, test_string_pause_every_message);
    tcase_add_test(tc, test_string_eof_after_held_messages);
    tcase_add_test(tc, test_string_write_eof_crosses_down);
    tcase_add_test(tc, test_string_abort_crosses_down);
    tcase_add_test(tc, test_string_write_while_lower_dies);
    tcase_add_test(tc, test_string_lower_loss_reaches_above_once);
    tcase_add_test(tc, test_string_layer_fail);
    tcase_add_test(tc, test_string_buffers_only_above);
    tcase_add_test(tc, test_string_layer_fail_after_held);
    tcase_add_test(tc, test_string_layer_fail_after_held_close);
    tcase_add_test(tc, test_string_get_info_forwards);
    tcase_add_test(tc, test_string_flow_control_crosses_up);
    tcase_add_test(tc, test_string_two_layers);
    tcase_add_test(tc, test_string_two_layers_close);
    tcase_add_test(tc, test_string_never_started);
    suite_add_tcase(s, tc);

    tc = tcase_create("mem");
    tcase_add_checked_fixture(tc, layer_setup, NULL);
    tcase_add_test(tc, test_mem_both_ways);
    tcase_add_test(tc, test_mem_peer_abort_reaches_above);
    tcase_add_test(tc, test_mem_flow_control_crosses_up);
    suite_add_tcase(s, tc);

    tc = tcase_create("tcp");
    tcase_add_checked_fixture(tc, layer_setup, NULL);
    tcase_add_test(tc, test_tcp_both_ways);
    tcase_add_test(tc, test_tcp_connect_fails_releases_stack);
    suite_add_tcase(s, tc);

    tc = tcase_create("buffered");
    tcase_add_checked_fixture(tc, layer_setup, NULL);
    tcase_add_test(tc, test_buffered_ops_only_with_both_hooks);
    tcase_add_test(tc, test_buffered_reads_into_layer);
    tcase_add_test(tc, test_buffered_pause_holds);
    tcase_add_test(tc, test_buffered_not_asked_inside);
    tcase_add_test(tc, test_buffered_update_fails);
    tcase_add_test(tc, test_buffered_tcp_reads_into_layer);
    suite_add_tcase(s, tc);
    return s;
}
