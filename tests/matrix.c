/*
 * The protocol x transport matrix: every protocol row below over every
 * transport factory of the conformance suite (conf_factories.c).  Each
 * (row, factory) pair is one Check loop test per exchange, its index
 * being row * factories + factory; failure messages start with
 * "[row over transport]".
 *
 * Exchanges:
 *   echo      the client sends a deterministic set of messages (empty ones,
 *             bursts of tiny ones, the row's maximum and one byte less,
 *             random sizes up to a few MiB in all), the server echoes each
 *             as one message, the client checks every echo in order (count,
 *             size, bytes) and closes; both ends must lose the connection
 *             once and cleanly, and every protocol must be destroyed.
 *   halfclose the same with a quarter of the bytes, but the client
 *             half-closes right after its last write instead of waiting;
 *             the server must get every message before the EOF, and answers
 *             the EOF with one more message (a trailer) before closing; the
 *             client must get every echo, the trailer, then the EOF.
 *             Over a transport that declares no half-close, write_eof
 *             must return WIRE_ENOTSUP through the whole stack and change
 *             nothing: the exchange then ends as an echo does.
 *   overlong  both ends built with a limit (small, or for some rows large
 *             enough that the message spans many reads); after a few
 *             messages (one of exactly the limit), the client sends one of
 *             limit + 1 bytes: the server must fail with WIRE_EMSGSIZE naming the
 *             limit and the stream offset of that message, and the
 *             connection must come down on both ends as the transport
 *             declares (a reset where it can reset, else an EOF and a
 *             clean close).
 *
 * A new transport joins by adding a factory to conf_factories.c; a new
 * protocol (or a new variant of a format) by adding a row to
 * matrix_protos[] -- with, for a new way of using a protocol, a builder and
 * a form in matrix_stacks.c.
 *
 * Environment: the conformance suite's (WIRE_TEST_ONLY=<transport>,
 * WIRE_TEST_TIME_SCALE, WIRE_TEST_SEED, WIRE_TEST_REQUIRE_ALL,
 * WIRE_TEST_BULK_MB: each echo cell sends min(4 MiB, bulk / 16) plus its
 * largest messages), WIRE_TEST_PROTO=<row> to run one row, and
 * WIRE_TEST_VERBOSE=1 to print what each cell sent.
 *
 * WIRE_TEST_FAULT=<seed> (a number; unset, empty or 0: off) runs every
 * cell again with a fault layer (<wire/fault.h>) under the stack on both
 * ends, right above the transport: input and output re-cut into random
 * pieces down to one byte, input joined and now and then delayed, short
 * writes whose rest waits a turn or two.  No EOF, reset or error is
 * injected: the cells assert clean ends (check_fault injects those).
 * Each end's faults are drawn from a seed made of <seed>, the cell and
 * the end, so every failure message says "[row over transport, fault
 * seed <seed>]" and the cell replays with the same WIRE_TEST_FAULT,
 * WIRE_TEST_SEED and WIRE_TEST_BULK_MB, WIRE_TEST_PROTO=row and
 * WIRE_TEST_ONLY=transport (tests/matrix-fault-test.sh runs it so and
 * prints the line).
 */
#include "matrix.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the rows ---- */

const struct matrix_proto matrix_protos[] = {
    {
        .name = "chunk",
        .build_client = mx_build_chunk_layer,
        .build_server = mx_build_chunk_layer,
        .sep = "\n", .sep_len = 1,
        .max_msg = 256 * CONF_KIB,
        .refuses_sep = true,
        .err_limit = 1000,
    },
    {
        /* A delimiter whose head is also its tail ("\r\n"), with prefixes
         * of it planted in the payloads: partial matches across reads. */
        .name = "chunk-multi",
        .build_client = mx_build_chunk_layer,
        .build_server = mx_build_chunk_layer,
        .sep = "\r\n.\r\n", .sep_len = 5,
        .max_msg = 320 * CONF_KIB,
        .refuses_sep = true,
        .err_limit = 200 * 1000,
    },
    {
        .name = "lines-crlf",
        .build_client = mx_build_chunk_layer,
        .build_server = mx_build_chunk_layer,
        .lines = true,
        .sep = "\n", .sep_len = 1,
        .wsep = "\r\n", .wsep_len = 2,
        .max_msg = WIRE_CHUNK_DEFAULT_MAX,
        .refuses_sep = true,
        .err_limit = 70 * 1000,
    },
    {
        /* Accepts "\r\n", writes "\n": a payload ending in '\r' would
         * lose it at the reader (which strips one '\r' before "\n"), so
         * the writer must refuse it too. */
        .name = "lines-lf",
        .build_client = mx_build_chunk_layer,
        .build_server = mx_build_chunk_layer,
        .lines = true,
        .sep = "\n", .sep_len = 1,
        .max_msg = 100 * CONF_KIB,
        .refuses_sep = true,
        .err_limit = 1000,
    },
    {
        .name = "lenprefix-le32",
        .build_client = mx_build_lp_layer,
        .build_server = mx_build_lp_layer,
        .width = 4, .little_endian = true,
        .max_msg = 768 * CONF_KIB,
        .err_limit = 150 * 1000,
    },
    {
        /* The largest payload a 2-byte length that counts itself holds. */
        .name = "lenprefix-be16-hdr",
        .build_client = mx_build_lp_layer,
        .build_server = mx_build_lp_layer,
        .width = 2, .counts_header = true,
        .prefix_max = 65535 - 2,
        .max_msg = 65535 - 2,
        .err_limit = 1000,
    },
    {
        .name = "netstring",
        .build_client = mx_build_lp_layer,
        .build_server = mx_build_lp_layer,
        .netstring = true,
        .max_msg = 512 * CONF_KIB,
        .err_limit = 1000,
    },
    {
        .name = "chunk-cb",
        .build_client = mx_build_chunk_cb,
        .build_server = mx_build_chunk_cb,
        .sep = "", .sep_len = 1, /* NUL-terminated messages */
        .max_msg = 128 * CONF_KIB,
        .refuses_sep = true,
        .err_limit = 1000,
    },
    {
        .name = "lenprefix-cb",
        .build_client = mx_build_lp_cb,
        .build_server = mx_build_lp_cb,
        .width = 8,
        .max_msg = 640 * CONF_KIB,
        .err_limit = 1000,
    },
    {
        .name = "netstring-cb",
        .build_client = mx_build_lp_cb,
        .build_server = mx_build_lp_cb,
        .netstring = true,
        .max_msg = 200 * CONF_KIB,
        .err_limit = 1000,
    },
    {
        .name = "content-length",
        .build_client = mx_build_cl_layer,
        .build_server = mx_build_cl_layer,
        .content_length = true,
        .max_msg = 384 * CONF_KIB,
        .err_limit = 1000,
    },
    {
        /* JSON-RPC 2.0 over lines: every message is an "echo" call (its
         * bytes in hex), answered by the server's method. */
        .name = "jsonrpc-lines",
        .build_client = mx_build_jsonrpc,
        .build_server = mx_build_jsonrpc,
        .max_msg = 24 * CONF_KIB,
        .share = 8,
        .no_err_reason = "JSON-RPC answers an over-long message with an "
                         "error response and keeps the connection "
                         "(check_jsonrpc: limits); the framing's own limit "
                         "is the lines rows' cell",
    },
    {
        .name = "jsonrpc-content-length",
        .build_client = mx_build_jsonrpc,
        .build_server = mx_build_jsonrpc,
        .content_length = true,
        .max_msg = 48 * CONF_KIB,
        .share = 8,
        .no_err_reason = "JSON-RPC answers an over-long message with an "
                         "error response and keeps the connection "
                         "(check_jsonrpc: limits); the framing's own limit "
                         "is the content-length row's cell",
    },
    {
        /* JSON-RPC over HTTP (PEP 3153's stack: transport, HTTP, the HTTP
         * client/server layer, JSON-RPC): each call one POST, pipelined
         * (a window of 16), its answer the response; the half-close
         * exchange's "eof" notification gets a 204 at once (the peer's
         * reply hint), and the server closes from inside it. */
        .name = "jsonrpc-http",
        .build_client = mx_build_jsonrpc,
        .build_server = mx_build_jsonrpc,
        .http = true,
        .max_msg = 24 * CONF_KIB,
        .share = 8,
        .own_half_close = true,
        .no_write_after_eof = true,
        .no_err_reason = "JSON-RPC answers an over-long message with an "
                         "error response and keeps the connection "
                         "(check_jsonrpc: limits); the HTTP body limit "
                         "is the http row's business (413, check_http_layer: "
                         "limits)",
    },
    {
        /* HTTP as a transport: each message one POST, its echo the
         * response (the server layer's 204 rule never fires: the server
         * echoes at once). */
        .name = "http",
        .build_client = mx_build_http_layer,
        .build_server = mx_build_http_layer,
        .max_msg = 256 * CONF_KIB,
        .own_half_close = true,
        .no_write_after_eof = true,
        .no_err_reason = "HTTP answers an over-long body with 413 and "
                         "closes, and the client layer fails with "
                         "WIRE_EPROTO and the status line, not a reset "
                         "(check_http_layer: limits)",
    },
    {
        .name = "stream",
        .build_client = mx_build_stream_exact,
        .build_server = mx_build_stream_exact,
        .width = 4,
        .max_msg = 512 * CONF_KIB,
        .no_err_reason = "read_exactly has no limit: the application "
                         "decides what length is too long",
    },
    {
        .name = "stream-until",
        .build_client = mx_build_stream_until,
        .build_server = mx_build_stream_until,
        .sep = "\r\n\r\n", .sep_len = 4,
        .max_msg = 96 * CONF_KIB,
        .err_limit = 1000,
        .err_in_read = true,
    },
    {
        /* Two implementations of one format: a stream reader client
         * against a 4-byte big-endian lenprefix layer at the default
         * limit. */
        .name = "stream-vs-lenprefix",
        .build_client = mx_build_stream_exact,
        .build_server = mx_build_lp_layer,
        .width = 4,
        .max_msg = WIRE_LENPREFIX_DEFAULT_MAX,
        .err_limit = 1000,
    },
};

const int matrix_nprotos =
    (int)(sizeof(matrix_protos) / sizeof(matrix_protos[0]));

/* Rows with an error cell (filled by matrix_suite). */
static int err_rows[64];
static int n_err_rows;

/* ---- cells ---- */

/* WIRE_TEST_FAULT's seed; false when the variable asks for no faults. */
static bool
fault_seed(uint64_t *seed)
{
    const char *e = getenv("WIRE_TEST_FAULT");
    if (e == NULL || e[0] == '\0')
        return false;
    *seed = strtoull(e, NULL, 0);
    return *seed != 0;
}

/* The fault profile of one end: everything but injected faults, drawn
 * from the cell's fault seed and the end. */
static struct wire_protocol *
fault_wrap(struct mx_end *e, struct wire_protocol *p)
{
    struct mx_cell *m = e->cell;
    uint64_t rng = m->fault_seed;
    for (const char *s = m->case_name; *s != '\0'; s++)
        rng = (rng ^ (uint8_t)*s) * 1099511628211ull;
    for (const char *s = m->label; *s != '\0'; s++)
        rng = (rng ^ (uint8_t)*s) * 1099511628211ull;
    rng ^= e->server ? 0x5e4e4ull : 0xc11e47ull;
    struct wire_fault_opts o = {0};
    o.seed = conf_rand(&rng);
    /* Pieces of 1 to 4 KiB (small ones most often), or, on one end in
     * eight, of 1 to 16 bytes. */
    o.read_max = conf_rand(&rng) % 8 == 0 ? 16 : 4096;
    o.write_max = conf_rand(&rng) % 8 == 0 ? 16 : 4096;
    /* Joining up to 2 KiB for a turn; a delay of up to 2 ms about once
     * in 64 KiB (a delay costs a timer tick, up to 4 ms on a coarse
     * clock, whatever the piece); one write in 4 short, its rest a turn
     * or 1 ms later. */
    o.coalesce_max = 2048;
    o.coalesce_ms = 0;
    o.read_delay_ms = 2;
    o.read_delay_one_in = o.read_max == 16 ? 16384 : 64;
    o.short_write_one_in = 4;
    o.write_delay_ms = 1;
    struct wire_error err = {0};
    struct wire_protocol *f = wire_fault_layer_new(p, &o, &err);
    CK(e->c, f != NULL, "%s: wire_fault_layer_new: %s", e->role,
       err.message != NULL ? err.message : "(no message)");
    wire_error_clear(&err);
    return f;
}

static struct mx_cell *
cell_begin(const char *kind, const struct matrix_proto *r, int fidx)
{
    const char *only = getenv("WIRE_TEST_PROTO");
    if (only != NULL && only[0] != '\0' && strcmp(only, r->name) != 0)
        return NULL;
    struct mx_cell *m = calloc(1, sizeof(*m));
    ck_assert_msg(m != NULL, "out of memory");
    snprintf(m->case_name, sizeof(m->case_name), "%s:%s", kind, r->name);
    m->c = conf_begin(fidx, m->case_name);
    if (m->c == NULL) {
        free(m);
        return NULL;
    }
    m->row = r;
    m->fault = fault_seed(&m->fault_seed);
    if (m->fault)
        snprintf(m->label, sizeof(m->label), "%s over %s, fault seed %llu",
                 r->name, m->c->f->name, (unsigned long long)m->fault_seed);
    else
        snprintf(m->label, sizeof(m->label), "%s over %s", r->name,
                 m->c->f->name);
    m->c->fname = m->label;
    m->seed = m->c->seed;
    m->t0 = conf_now_ms();
    return m;
}

static struct mx_end *
end_new(struct mx_cell *m, bool server, size_t limit)
{
    struct mx_end *e = calloc(1, sizeof(*e));
    CK(m->c, e != NULL, "out of memory");
    e->cell = m;
    e->c = m->c;
    e->role = server ? "server" : "client";
    e->server = server;
    e->limit = limit;
    e->next = m->ends;
    m->ends = e;
    m->c->probes_new++;
    e->bottom = (server ? m->row->build_server : m->row->build_client)(e);
    if (m->fault)
        e->bottom = fault_wrap(e, e->bottom);
    if (server)
        m->server = e;
    else
        m->client = e;
    return e;
}

static void
cell_pair(struct mx_cell *m)
{
    struct conf_ctx *c = m->c;
    conf_pair_start(c, m->client->bottom, m->server->bottom);
    CONF_WAIT(c, (m->client->made && m->server->made) || c->connect_failed,
              10000, "both ends connected");
    CK(c, !c->connect_failed, "connect failed: %s", c->connect_err);
}

static void
cell_end(struct mx_cell *m)
{
    const char *v = getenv("WIRE_TEST_VERBOSE");
    if (v != NULL && v[0] == '1' && m->client != NULL && m->server != NULL)
        fprintf(stderr, "matrix: %-36s %5zu messages, %8llu bytes, "
                "largest %7zu; refused %zu; pauses: client %d, server %d; "
                "%ld ms\n", m->label, m->n, (unsigned long long)m->bytes,
                m->maxlen, m->client->refused, m->client->pauses,
                m->server->pauses, conf_now_ms() - m->t0);
    for (struct mx_end *e = m->ends; e != NULL; e = e->next)
        if (e->made && !e->lost && e->form != NULL)
            e->form->abort(e);
    conf_end(m->c);
    while (m->ends != NULL) {
        struct mx_end *next = m->ends->next;
        free(m->ends);
        m->ends = next;
    }
    free(m->sizes);
    free(m->txbuf);
    free(m->rxbuf);
    free(m);
}

/* ---- the echo cells ---- */

static void
run_echo(int idx, enum mx_mode mode)
{
    const struct matrix_proto *r = &matrix_protos[idx / conf_nfactories];
    struct mx_cell *m = cell_begin(mode == MX_ECHO ? "echo" : "halfclose",
                                   r, idx % conf_nfactories);
    if (m == NULL)
        return;
    struct conf_ctx *c = m->c;
    m->mode = mode;
    mx_plan_echo(m, (mode == MX_ECHO ? 1u : 4u) * (r->share ? r->share : 1u));
    struct mx_end *cl = end_new(m, false, r->max_msg);
    struct mx_end *sv = end_new(m, true, r->max_msg);
    cell_pair(m);
    CONF_WAIT(c, cl->lost && sv->lost, 60000,
              "every echo and a clean close on both ends");
    CK(c, cl->nsent == m->n, "client sent %zu of %zu messages", cl->nsent,
       m->n);
    CK(c, m->done && cl->nrcvd == m->n, "client verified %zu of %zu echoes",
       cl->nrcvd, m->n);
    CK(c, sv->nrcvd == m->n, "server took %zu of %zu messages", sv->nrcvd,
       m->n);
    CK(c, cl->lost_code == 0 && sv->lost_code == 0,
       "unclean close: client %s (%s), server %s (%s)",
       wire_err_name(cl->lost_code), cl->lost_msg,
       wire_err_name(sv->lost_code), sv->lost_msg);
    CK(c, sv->eofs == 1, "server saw %d EOFs", sv->eofs);
    if (mode == MX_HALFCLOSE && mx_half_close(m))
        CK(c, (m->trailer_ok || !mx_trailer(m)) && cl->eofs == 1,
           "client: trailer %s, %d EOFs after it",
           m->trailer_ok ? "received" : "missing", cl->eofs);
    else if (mode == MX_HALFCLOSE)
        CK(c, m->eof_refused && cl->eofs == 0,
           "client of a transport that cannot half-close: write_eof %s, %d "
           "EOFs", m->eof_refused ? "refused" : "not refused", cl->eofs);
    CK(c, cl->read_code == 0 && sv->read_code == 0,
       "a stream read failed: client %s (%s), server %s (%s)",
       wire_err_name(cl->read_code), cl->read_msg,
       wire_err_name(sv->read_code), sv->read_msg);
    cell_end(m);
}

START_TEST(t_echo)
{
    run_echo(_i, MX_ECHO);
}
END_TEST

START_TEST(t_halfclose)
{
    run_echo(_i, MX_HALFCLOSE);
}
END_TEST

/* ---- the over-long message cell ---- */

START_TEST(t_overlong)
{
    const struct matrix_proto *r =
        &matrix_protos[err_rows[_i / conf_nfactories]];
    struct mx_cell *m = cell_begin("overlong", r, _i % conf_nfactories);
    if (m == NULL)
        return;
    struct conf_ctx *c = m->c;
    m->mode = MX_OVERLONG;
    mx_plan_overlong(m);
    struct mx_end *cl = end_new(m, false, r->err_limit);
    struct mx_end *sv = end_new(m, true, r->err_limit);
    cell_pair(m);
    CONF_WAIT(c, cl->lost && sv->lost, 30000, "both ends lost");
    CK(c, m->done, "client got %zu of the %zu echoes before the over-long "
       "message", cl->nrcvd, m->n_echo);
    CK(c, cl->nsent == m->n, "client sent %zu of %zu messages", cl->nsent,
       m->n);
    CK(c, sv->nrcvd == m->n_echo, "server took %zu messages, want %zu",
       sv->nrcvd, m->n_echo);
    CK(c, sv->eofs == 0, "server saw an EOF");
    if (r->err_in_read) {
        CK(c, sv->read_code == WIRE_EMSGSIZE, "server read: %s (%s), want "
           "WIRE_EMSGSIZE", wire_err_name(sv->read_code), sv->read_msg);
        CK(c, sv->lost_code == WIRE_EABORTED, "server lost %s (%s) after "
           "aborting", wire_err_name(sv->lost_code), sv->lost_msg);
    } else {
        CK(c, sv->lost_code == WIRE_EMSGSIZE, "server lost %s (%s), want "
           "WIRE_EMSGSIZE", wire_err_name(sv->lost_code), sv->lost_msg);
        uint64_t off = 0;
        for (size_t i = 0; i < m->over_at; i++)
            off += mx_wire_len(r, m->sizes[i]);
        char want[64];
        snprintf(want, sizeof(want), "limit of %zu bytes", r->err_limit);
        CK(c, strstr(sv->lost_msg, want) != NULL,
           "server's error does not say '%s': %s", want, sv->lost_msg);
        snprintf(want, sizeof(want), "stream offset %" PRIu64 " ", off);
        CK(c, strstr(sv->lost_msg, want) != NULL,
           "server's error does not say '%s': %s", want, sv->lost_msg);
    }
    /* The sender: as the transport declares an abort by the peer.  A
     * large over-long message may still be on its way out when the
     * receiver gives up (a length prefix fails at the header): the
     * sender's write then fails instead (EPIPE), equally once. */
    /* Under a fault layer any over-long message may be: short writes
     * leave its rest for later turns.  The bytes still coming then also
     * lie unread in the receiver's socket when it closes, which a Unix
     * socket reports to the sender as a reset. */
    bool late = r->err_limit > 4096 || m->fault;
    bool writing = late && (cl->lost_code == -EPIPE ||
                            (m->fault && cl->lost_code == -ECONNRESET));
    /* Through a relay (exec: runs wirecat), that failed write is the
     * relay's: it exits unsuccessfully saying so. */
    if (late && cl->lost_code == WIRE_EEXIT &&
        strstr(cl->lost_msg, "Broken pipe") != NULL)
        writing = true;
    if (c->f->caps & CONF_CAP_RESET)
        CK(c, cl->lost_code == -ECONNRESET || writing,
           "client lost %s (%s), not a reset", wire_err_name(cl->lost_code),
           cl->lost_msg);
    else if (c->f->caps & CONF_CAP_TRUNCATES)
        CK(c, (cl->lost_code == WIRE_ETLS && strstr(cl->lost_msg, "truncated")) ||
                  writing,
           "client of a transport whose abort truncates: lost %s (%s)",
           wire_err_name(cl->lost_code), cl->lost_msg);
    else
        CK(c, (cl->lost_code == 0 && cl->eofs == 1) || writing,
           "client of a transport that cannot reset: eof %d, lost %s (%s)",
           cl->eofs, wire_err_name(cl->lost_code), cl->lost_msg);
    cell_end(m);
}
END_TEST

/* ---- the runner ---- */

static Suite *
matrix_suite(void)
{
    Suite *s = suite_create("matrix");
    TCase *tc = tcase_create("echo");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, t_echo, 0, matrix_nprotos * conf_nfactories);
    suite_add_tcase(s, tc);
    tc = tcase_create("halfclose");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, t_halfclose, 0, matrix_nprotos * conf_nfactories);
    suite_add_tcase(s, tc);
    n_err_rows = 0;
    for (int i = 0; i < matrix_nprotos; i++) {
        const struct matrix_proto *r = &matrix_protos[i];
        if (r->err_limit == 0 && r->no_err_reason == NULL) {
            fprintf(stderr, "matrix: row %s has no error cell and does "
                    "not say why\n", r->name);
            exit(EXIT_FAILURE);
        }
        if (r->err_limit > 0 &&
            n_err_rows < (int)(sizeof(err_rows) / sizeof(err_rows[0])))
            err_rows[n_err_rows++] = i;
    }
    tc = tcase_create("overlong");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, t_overlong, 0, n_err_rows * conf_nfactories);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return conf_run(matrix_suite(), "/tmp/wire-mx-XXXXXX");
}
