/*
 * The callback forms of the framing formats (<wire/framing.h>):
 * wire_chunk_protocol_new and wire_lenprefix_protocol_new with a struct
 * wire_message_handler, sans-I/O over the string transport.  Every
 * callback in order (open, each message, eof, closed, destroy), echoing
 * and closing from inside `message`, a half-close kept open by `eof`, a
 * framing error reaching `closed`, and bad arguments: destroy still called
 * exactly once.
 */
#include "framing.h"

#include <string.h>

struct hctx {
    char events[512];
    int destroyed;
    struct wire_transport *t;
    bool keep_on_eof;
    bool close_on_msg, echo;
    int closed_code;
};

static void
ev(struct hctx *h, const char *s)
{
    size_t l = strlen(h->events);
    snprintf(h->events + l, sizeof(h->events) - l, "%s;", s);
}

static void
h_open(void *arg, struct wire_transport *t)
{
    struct hctx *h = arg;
    h->t = t;
    ev(h, "open");
}

static void
h_message(void *arg, struct wire_transport *t, const void *data, size_t len)
{
    struct hctx *h = arg;
    ck_assert_ptr_nonnull(t);
    if (h->t != NULL) /* NULL when the handler has no open */
        ck_assert_ptr_eq(t, h->t);
    char s[64];
    snprintf(s, sizeof(s), "msg(%.*s)", (int)len, (const char *)data);
    ev(h, s);
    if (h->echo)
        ck_assert_int_eq(wire_transport_write(t, data, len), 0);
    if (h->close_on_msg)
        wire_transport_close(t);
}

static bool
h_eof(void *arg, struct wire_transport *t)
{
    struct hctx *h = arg;
    ck_assert_ptr_eq(t, h->t);
    ev(h, "eof");
    return h->keep_on_eof;
}

static void
h_closed(void *arg, const struct wire_error *err)
{
    struct hctx *h = arg;
    h->closed_code = err != NULL ? err->code : 0;
    ev(h, err != NULL ? wire_err_name(err->code) : "closed");
}

static void
h_destroy(void *arg)
{
    struct hctx *h = arg;
    h->destroyed++;
    ev(h, "destroy");
}

static const struct wire_message_handler handler = {
    .open = h_open,
    .message = h_message,
    .eof = h_eof,
    .closed = h_closed,
    .destroy = h_destroy,
};

START_TEST(test_callback_chunk)
{
    fr_rand_reset("callback_chunk");
    for (size_t piece = 0; piece <= 2; piece++) {
        struct hctx h = {.echo = true};
        struct wire_error err = {0};
        struct wire_protocol *p = wire_chunk_protocol_new(NULL, &handler, &h, &err);
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(h.events, "");
        struct wire_transport *st = wire_string_transport_new(p);
        ck_assert_str_eq(h.events, "open;");
        ck_assert_str_eq(wire_transport_name(h.t), "chunk");
        static const char in[] = "a\n\nbc\n";
        ck_assert_int_eq(wire_string_transport_feed_split(st, in, 6, piece == 0 ? 6 : piece), 0);
        ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
        ck_assert_str_eq(h.events, "open;msg(a);msg();msg(bc);eof;");
        ck_assert_str_eq(unit_output(st), "a\n\nbc\n"); /* echoed, framed */
        wire_string_transport_step(st);
        ck_assert_str_eq(h.events, "open;msg(a);msg();msg(bc);eof;closed;destroy;");
        ck_assert_int_eq(h.destroyed, 1);
        wire_string_transport_free(st);
        ck_assert_int_eq(h.destroyed, 1);
        ck_assert_str_eq(h.events, "open;msg(a);msg();msg(bc);eof;closed;destroy;");
    }
}
END_TEST

START_TEST(test_callback_lenprefix)
{
    /* Netstrings, with a half-close: the eof callback keeps writing. */
    struct hctx h = {.keep_on_eof = true};
    struct wire_lenprefix_opts o;
    wire_netstring_opts_init(&o);
    struct wire_error err = {0};
    struct wire_protocol *p = wire_lenprefix_protocol_new(&o, &handler, &h, &err);
    ck_assert_ptr_nonnull(p);
    struct wire_transport *st = wire_string_transport_new(p);
    ck_assert_str_eq(wire_transport_name(h.t), "netstring");
    ck_assert_int_eq(wire_string_transport_feed_split(st, "3:abc,0:,", 9, 1), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(h.events, "open;msg(abc);msg();eof;");
    ck_assert_int_eq(wire_transport_write(h.t, "bye", 3), 0);
    ck_assert_str_eq(unit_output(st), "3:bye,");
    wire_transport_close(h.t);
    ck_assert_str_eq(h.events, "open;msg(abc);msg();eof;"); /* not re-entrant */
    wire_string_transport_step(st);
    ck_assert_str_eq(h.events, "open;msg(abc);msg();eof;closed;destroy;");
    wire_string_transport_free(st);

    /* A framing error reaches closed() with its code, then destroy. */
    struct hctx h2 = {0};
    struct wire_lenprefix_opts o2;
    wire_lenprefix_opts_init(&o2, 1, false);
    o2.max_len = 3;
    p = wire_lenprefix_protocol_new(&o2, &handler, &h2, &err);
    ck_assert_ptr_nonnull(p);
    st = wire_string_transport_new(p);
    ck_assert_int_eq(wire_string_transport_feed(st, "\x01x\x04", 3), 0);
    wire_string_transport_step(st);
    ck_assert_str_eq(h2.events, "open;msg(x);WIRE_EMSGSIZE;destroy;");
    wire_string_transport_free(st);
    ck_assert_int_eq(h2.destroyed, 1);

    /* Closing from the message callback: no further messages. */
    struct hctx h3 = {.close_on_msg = true};
    p = wire_lenprefix_protocol_new(&o2, &handler, &h3, &err);
    ck_assert_ptr_nonnull(p);
    st = wire_string_transport_new(p);
    ck_assert_int_eq(wire_string_transport_feed(st, "\x01x\x01y\x01z", 6), 0);
    ck_assert_str_eq(h3.events, "open;msg(x);");
    wire_string_transport_step(st);
    ck_assert_str_eq(h3.events, "open;msg(x);closed;destroy;");
    wire_string_transport_free(st);
}
END_TEST

START_TEST(test_callback_no_message)
{
    struct wire_message_handler nomsg = handler;
    nomsg.message = NULL;
    struct wire_error err = {0};
    struct hctx h = {0};
    assert_einval(wire_chunk_protocol_new(NULL, &nomsg, &h, &err), &err, NULL);
    ck_assert_int_eq(h.destroyed, 1);
    ck_assert_str_eq(h.events, "destroy;");

    struct hctx h2 = {0};
    struct wire_lenprefix_opts o;
    wire_netstring_opts_init(&o);
    assert_einval(wire_lenprefix_protocol_new(&o, &nomsg, &h2, &err), &err,
                  NULL);
    ck_assert_int_eq(h2.destroyed, 1);

    assert_einval(wire_chunk_protocol_new(NULL, NULL, NULL, &err), &err, NULL);
    assert_einval(wire_lenprefix_protocol_new(&o, NULL, NULL, &err), &err,
                  NULL);

    /* Good handler, bad options: destroy is still called, once. */
    struct hctx h3 = {0};
    struct wire_chunk_opts co;
    wire_chunk_opts_init(&co);
    co.delim_len = 0;
    assert_einval(wire_chunk_protocol_new(&co, &handler, &h3, &err), &err,
                  NULL);
    ck_assert_int_eq(h3.destroyed, 1);
    ck_assert_str_eq(h3.events, "destroy;");
    struct hctx h4 = {0};
    wire_lenprefix_opts_init(&o, 5, false);
    assert_einval(wire_lenprefix_protocol_new(&o, &handler, &h4, &err), &err,
                  NULL);
    ck_assert_int_eq(h4.destroyed, 1);

    /* A handler with only `message`. */
    struct wire_message_handler only = {.message = h_message};
    struct hctx h5 = {0};
    struct wire_protocol *p = wire_chunk_protocol_new(NULL, &only, &h5, &err);
    ck_assert_ptr_nonnull(p);
    struct wire_transport *st = wire_string_transport_new(p);
    ck_assert_int_eq(wire_string_transport_feed(st, "q\n", 2), 0);
    ck_assert_int_eq(wire_string_transport_feed_eof(st), 0);
    wire_string_transport_step(st);
    ck_assert(wire_string_transport_closed(st));
    wire_string_transport_free(st);
    ck_assert_str_eq(h5.events, "msg(q);");
}
END_TEST

Suite *
message_handler_suite(void)
{
    Suite *s = suite_create("message_handler");
    TCase *tc = fr_tcase(s, "core", 0);
    tcase_add_test(tc, test_callback_chunk);
    tcase_add_test(tc, test_callback_lenprefix);
    tcase_add_test(tc, test_callback_no_message);
    return s;
}
