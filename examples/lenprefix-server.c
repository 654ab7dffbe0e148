/*
 * lenprefix-server ENDPOINT — length-prefixed strings, the asyncio sample
 * (python3-samples' asyncio-len-prefixed-string-protocol.py, which
 * trio-protocol runs on trio) ported to libwire.
 *
 * Each message is a 4-byte little-endian length, then that many bytes of
 * payload.  For each one the server prints "received string: <payload>"
 * on stdout (the payload's bytes as they came, then a newline; stdout is
 * flushed per message) and replies with the length-prefixed string "ok".
 * Framing is the lenprefix layer's (<wire/framing.h>), in its callback
 * form: the protocol below sees only whole messages, and each write it
 * makes is framed as one message.
 *
 * Like echo-server: exactly one line "listening on <endpoint with the
 * real port>" first; on a peer's EOF the replies are flushed and the
 * connection closes; SIGINT or SIGTERM shuts the server down gracefully
 * (connections get 5 s to finish) and the program exits 0; a bad
 * endpoint or a busy port is a message on stderr and exit status 1.  A
 * message announcing more than 1 MiB, or a connection that ends inside a
 * message, closes that connection only, with the reason (which names the
 * stream offset) on stderr.
 */
#include <wire/wire.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
on_message(void *arg, struct wire_transport *t, const void *data, size_t len)
{
    (void)arg;
    /* fwrite, not printf("%s"): the payload is bytes, maybe with NULs. */
    fputs("received string: ", stdout);
    fwrite(data, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    /* One write is one message: the layer puts the prefix before "ok".  A
     * failed write (the peer went away) reaches on_closed. */
    wire_transport_write(t, "ok", 2);
}

static void
on_closed(void *arg, const struct wire_error *err)
{
    (void)arg;
    if (err != NULL) /* an oversized or truncated message, a reset, ... */
        fprintf(stderr, "lenprefix-server: %s\n", err->message);
}

static const struct wire_message_handler handler = {
    .message = on_message,
    .closed = on_closed, /* .eof NULL: close once the replies are out */
};

static struct wire_protocol *
lenprefix_new(void *arg)
{
    (void)arg;
    struct wire_lenprefix_opts o;
    wire_lenprefix_opts_init(&o, 4, true); /* struct format "<L" */
    struct wire_error err = {0};
    struct wire_protocol *p = wire_lenprefix_protocol_new(&o, &handler, NULL, &err);
    if (p == NULL) { /* refuse this connection, keep serving */
        fprintf(stderr, "lenprefix-server: %s\n", err.message);
        wire_error_clear(&err);
    }
    return p;
}

int
main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: %s ENDPOINT\n", argv[0]);
        return 2;
    }
    struct wire_loop *loop = wire_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "lenprefix-server: cannot create the event loop\n");
        return 1;
    }
    struct wire_server *server = NULL;
    struct wire_error err = {0};
    /* SIGINT / SIGTERM: stop accepting, let open connections finish for
     * up to 5 s; then the loop runs out of work. */
    if (wire_listen(loop, argv[1], lenprefix_new, NULL, NULL, &server, &err) < 0 ||
        wire_server_shutdown_on_signals(server, 5000, NULL, NULL, NULL, &err) < 0) {
        fprintf(stderr, "lenprefix-server: %s\n", err.message);
        wire_error_clear(&err);
        wire_server_free(server);
        wire_loop_free(loop);
        return 1;
    }
    printf("listening on %s\n", wire_server_address(server));
    fflush(stdout);
    wire_loop_run(loop);
    wire_server_free(server);
    wire_loop_free(loop);
    return 0;
}
