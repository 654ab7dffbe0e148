/*
 * The socket transport's two fast paths (transports/sock.c, lib/write.c):
 *
 * - The lone busy socket.  Sockets are watched through the loop's own
 *   epoll set, which libevent watches as one fd; a socket that every
 *   wakeup reports by itself moves to libevent's own event (one
 *   epoll_wait per wakeup instead of two) until its interest changes.
 *   The tests see in /proc/self/fdinfo which epoll set holds the socket:
 *   the loop's (the one that held it when it connected) or libevent's.  The peer is a blocking echo thread, so the loop
 *   has one busy socket, as a client of a remote server has.
 * - The cork area.  The small answers a protocol writes while it takes a
 *   read gather in the loop's cork area and go out in one write when the
 *   read returns; anything else written meanwhile (a write_ref, a file
 *   range, a write past the cork's limit) moves them to the output queue
 *   first, so the peer sees every byte in the order written.
 * - write_ref through a layer: a buffer the socket takes at once is never
 *   copied; one it cannot take stays referenced in the layer's queue, and
 *   only the bottom copies, no more than its high watermark at a time
 *   (wire_write_stats.copied / .referenced).
 */
#include "unit.h"

#include <wire/transport_impl.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static struct wire_loop *loop;

static void
setup(void)
{
    unit_setup();
    loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
}

static void
teardown(void)
{
    wire_loop_free(loop);
    loop = NULL;
}

/* Deadlines only bound failures (unit_scale_ms stretches them). */
#define deadline(ms) unit_scale_ms(ms)

/* A small kernel buffer `opt` (SO_SNDBUF, SO_RCVBUF) on `fd`, so a
 * megabyte backs up whatever the machine's defaults.  A receive buffer
 * is only shrunk before listen (shrinking an open window stalls TCP). */
static void
small_buffer(int fd, int opt)
{
    int v = 4096;
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)), 0);
}

/* ---- where a socket is watched ---- */

static bool
is_epoll_fd(int fd)
{
    char path[64], target[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventpoll]") == 0;
}

/* The fds epoll set `epfd` holds (at most `max`); returns how many. */
static int
epoll_members(int epfd, int *fds, int max)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", epfd);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int n = 0, tfd;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "tfd: %d", &tfd) == 1 && n < max)
            fds[n++] = tfd;
    fclose(f);
    return n;
}

/* The epoll set of this process that holds `sock`, or -1. */
static int
watched_in(int sock)
{
    int where = -1;
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || !is_epoll_fd(fd))
            continue;
        int fds[256];
        int n = epoll_members(fd, fds, 256);
        for (int i = 0; i < n; i++) {
            if (fds[i] == sock) {
                ck_assert_msg(where < 0, "fd %d is in two epoll sets", sock);
                where = fd;
            }
        }
    }
    closedir(d);
    return where;
}

/* ---- a blocking echo peer on its own thread ---- */

struct echo_thread {
    pthread_t th;
    int lfd; /* listening, 127.0.0.1:port */
    unsigned short port;
    uint64_t echoed;
    uint64_t limit; /* leave after echoing this many bytes (0: never) */
    bool small;     /* small kernel buffers on the accepted socket */
};

static void *
echo_main(void *arg)
{
    struct echo_thread *et = arg;
    int fd = accept(et->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    if (et->small) {
        int v = 4096;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    }
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w <= 0)
                goto out;
            off += w;
        }
        et->echoed += (uint64_t)n;
        if (et->limit > 0 && et->echoed >= et->limit)
            break;
    }
out:
    close(fd);
    return NULL;
}

static void
echo_start(struct echo_thread *et, bool small)
{
    memset(et, 0, sizeof(*et));
    et->small = small;
    et->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(et->lfd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (small)
        small_buffer(et->lfd, SO_RCVBUF); /* the accepted socket's */
    ck_assert_int_eq(bind(et->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(et->lfd, 1), 0);
    ck_assert_int_eq(getsockname(et->lfd, (struct sockaddr *)&sa, &sl), 0);
    et->port = ntohs(sa.sin_port);
    ck_assert_int_eq(pthread_create(&et->th, NULL, echo_main, et), 0);
}

static void
echo_join(struct echo_thread *et)
{
    pthread_join(et->th, NULL);
    close(et->lfd);
}

/* ---- the ping-pong client ---- */

#define MSG 64

struct pp {
    struct wire_protocol base;
    struct wire_transport *t;
    unsigned sent, done, want; /* round trips */
    size_t got;                /* bytes of the current answer */
    char cur[MSG];
    size_t bulk_left;          /* bytes of a bulk echo still to come */
    uint64_t bulk_sum_out, bulk_sum_in, bulk_pos_in;
    bool made, lost, mismatch;
    int eof;
};

static void
pp_send(struct pp *p)
{
    for (int i = 0; i < MSG; i++)
        p->cur[i] = (char)('a' + (p->sent + (unsigned)i) % 26);
    p->sent++;
    p->got = 0;
    ck_assert_int_eq(wire_transport_write(p->t, p->cur, MSG), 0);
}

static void
pp_made(struct wire_protocol *proto, struct wire_transport *t)
{
    struct pp *p = (struct pp *)proto;
    p->t = t;
    p->made = true;
}

static void
pp_data(struct wire_protocol *proto, const void *data, size_t len)
{
    struct pp *p = (struct pp *)proto;
    const unsigned char *d = data;
    for (size_t i = 0; i < len; i++) {
        if (p->bulk_left > 0) {
            p->bulk_sum_in += (uint64_t)d[i] * (++p->bulk_pos_in);
            p->bulk_left--;
            continue;
        }
        if (p->got >= MSG || d[i] != (unsigned char)p->cur[p->got]) {
            p->mismatch = true;
            return;
        }
        if (++p->got == MSG) {
            p->done++;
            if (p->sent < p->want)
                pp_send(p);
        }
    }
}

static bool
pp_eof(struct wire_protocol *proto)
{
    ((struct pp *)proto)->eof++;
    return false;
}

static void
pp_lost(struct wire_protocol *proto, const struct wire_error *err)
{
    (void)err;
    ((struct pp *)proto)->lost = true;
}

static void
pp_destroy(struct wire_protocol *proto)
{
    (void)proto; /* the test owns it */
}

static const struct wire_protocol_ops pp_ops = {
    .connection_made = pp_made,
    .data_received = pp_data,
    .eof_received = pp_eof,
    .connection_lost = pp_lost,
    .destroy = pp_destroy,
};

static bool
pp_made_p(void *arg)
{
    return ((struct pp *)arg)->made;
}

static bool
pp_round_done(void *arg)
{
    struct pp *p = arg;
    return p->mismatch || p->lost || (p->done == p->want && p->bulk_left == 0);
}

static bool
pp_lost_p(void *arg)
{
    return ((struct pp *)arg)->lost;
}

static int
pp_connect(struct pp *p, struct echo_thread *et)
{
    memset(p, 0, sizeof(*p));
    wire_protocol_init(&p->base, &pp_ops);
    char ep[64];
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%u", et->port);
    struct wire_error err = {0};
    ck_assert_msg(wire_connect(loop, ep, &p->base, NULL, NULL, NULL, &err) == 0,
                  "%s", err.message);
    ck_assert(unit_run_until(loop, pp_made_p, p, deadline(10000)));
    int fd = -1;
    ck_assert_int_eq(wire_transport_get_info(p->t, WIRE_INFO_FD, &fd, sizeof(fd)),
                     (int)sizeof(fd));
    return fd;
}

/* `n` more round trips, each answer checked byte by byte. */
static void
pp_rounds(struct pp *p, unsigned n)
{
    p->want += n;
    pp_send(p);
    ck_assert(unit_run_until(loop, pp_round_done, p, deadline(20000)));
    ck_assert_msg(!p->mismatch, "an echo came back wrong");
    ck_assert(!p->lost);
    ck_assert_uint_eq(p->done, p->want);
}

/* `len` bytes at once: more than the socket takes, so writing backs up
 * (EV_WRITE interest); every byte comes back, checked by a weighted sum. */
static void
pp_bulk(struct pp *p, size_t len)
{
    unsigned char *buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < len; i++) {
        buf[i] = (unsigned char)(i * 7 + 3);
        p->bulk_sum_out += (uint64_t)buf[i] * (p->bulk_pos_in + i + 1);
    }
    p->bulk_left = len;
    ck_assert_int_eq(wire_transport_write(p->t, buf, len), 0);
    free(buf);
    ck_assert_uint_gt(wire_transport_get_write_buffer_size(p->t), 0);
    ck_assert(unit_run_until(loop, pp_round_done, p, deadline(20000)));
    ck_assert(!p->lost);
    ck_assert_uint_eq(p->bulk_left, 0);
    ck_assert(p->bulk_sum_in == p->bulk_sum_out);
}

START_TEST(test_lone_busy_socket_moves_to_libevent)
{
    struct echo_thread et;
    echo_start(&et, false);
    struct pp p;
    int fd = pp_connect(&p, &et);
    int set = watched_in(fd);
    ck_assert_int_ge(set, 0);
    pp_rounds(&p, 100);
    int ev = watched_in(fd);
    ck_assert_int_ge(ev, 0);
    ck_assert_int_ne(ev, set);
    wire_transport_close(p.t);
    ck_assert(unit_run_until(loop, pp_lost_p, &p, deadline(10000)));
    echo_join(&et);
    ck_assert_uint_eq(et.echoed, 100 * MSG);
}
END_TEST

/* Writing backs up (interest in EV_WRITE): back to the loop's set, every
 * byte still echoed in order; ping-pong earns libevent's event again. */
START_TEST(test_busy_socket_backpressure_and_back)
{
    struct echo_thread et;
    echo_start(&et, true);
    struct pp p;
    int fd = pp_connect(&p, &et);
    int set = watched_in(fd);
    pp_rounds(&p, 100);
    int ev = watched_in(fd);
    ck_assert_int_ne(ev, set);
    small_buffer(fd, SO_SNDBUF);
    pp_bulk(&p, 1u << 20); /* more than every kernel buffer on the way */
    pp_rounds(&p, 100);
    ck_assert_int_eq(watched_in(fd), ev);
    /* A pause takes it out of every set; resume puts it back in the
     * loop's, where it answers as before. */
    ck_assert_int_eq(wire_transport_pause_reading(p.t), 0);
    ck_assert_int_eq(watched_in(fd), -1);
    ck_assert_int_eq(wire_transport_resume_reading(p.t), 0);
    ck_assert_int_eq(watched_in(fd), set);
    pp_rounds(&p, 20);
    wire_transport_abort(p.t);
    ck_assert(unit_run_until(loop, pp_lost_p, &p, deadline(10000)));
    echo_join(&et);
}
END_TEST

/* The peer leaves while the socket is in libevent's event: the EOF comes
 * through that event, and the connection ends cleanly. */
START_TEST(test_busy_socket_peer_leaves)
{
    struct echo_thread et;
    echo_start(&et, false);
    et.limit = 60 * MSG;
    struct pp p;
    int fd = pp_connect(&p, &et);
    int set = watched_in(fd);
    pp_rounds(&p, 50);
    ck_assert_int_ne(watched_in(fd), set);
    p.want += 10;
    pp_send(&p);
    ck_assert(unit_run_until(loop, pp_lost_p, &p, deadline(10000)));
    ck_assert(!p.mismatch);
    ck_assert_uint_eq(p.done, 60);
    ck_assert_int_eq(p.eof, 1);
    echo_join(&et);
}
END_TEST

/* ---- the cork area ---- */

/* What the server does with each read: answers written in one turn. */
enum answer { A_SMALL, A_REF, A_BIG, A_FILE, A_EOF, A_CLOSE, A_ABORT };

struct ans {
    struct wire_protocol base;
    struct wire_transport *t;
    enum answer how;
    size_t buffered_seen;  /* get_write_buffer_size after the small ones */
    unsigned refs_freed;
    int file_fd;
    bool lost;
};

static struct ans *server_ans;
static char big[40000];

static void
ref_free(void *arg, const void *data, size_t len)
{
    (void)data;
    (void)len;
    ((struct ans *)arg)->refs_freed++;
}

static void
ans_made(struct wire_protocol *proto, struct wire_transport *t)
{
    ((struct ans *)proto)->t = t;
}

static void
ans_data(struct wire_protocol *proto, const void *data, size_t len)
{
    struct ans *a = (struct ans *)proto;
    (void)data;
    (void)len;
    struct wire_transport *t = a->t;
    ck_assert_int_eq(wire_transport_write(t, "one,", 4), 0);
    struct iovec iov[2] = {{"two,", 4}, {"three,", 6}};
    ck_assert_int_eq(wire_transport_write_sequence(t, iov, 2), 0);
    a->buffered_seen = wire_transport_get_write_buffer_size(t);
    struct wire_write_stats st;
    wire_transport_get_write_stats(t, &st);
    ck_assert_uint_eq(st.buffered, a->buffered_seen);
    switch (a->how) {
    case A_SMALL:
        break;
    case A_REF:
        ck_assert_int_eq(wire_transport_write_ref(t, "ref,", 4, ref_free, a), 0);
        break;
    case A_BIG:
        ck_assert_int_eq(wire_transport_write(t, big, sizeof(big)), 0);
        break;
    case A_FILE:
        ck_assert_int_eq(wire_transport_write_file(t, a->file_fd, 0, 5, NULL, NULL), 0);
        a->file_fd = -1; /* the transport closes it */
        break;
    case A_EOF:
        ck_assert_int_eq(wire_transport_write_eof(t), 0);
        break;
    case A_CLOSE:
        wire_transport_close(t);
        break;
    case A_ABORT:
        wire_transport_abort(t);
        break;
    }
    if (a->how != A_EOF && a->how != A_CLOSE && a->how != A_ABORT)
        ck_assert_int_eq(wire_transport_write(t, "last.", 5), 0);
}

static void
ans_lost(struct wire_protocol *proto, const struct wire_error *err)
{
    (void)err;
    ((struct ans *)proto)->lost = true;
}

static void
ans_destroy(struct wire_protocol *proto)
{
    (void)proto; /* the test owns it */
}

static const struct wire_protocol_ops ans_ops = {
    .connection_made = ans_made,
    .data_received = ans_data,
    .connection_lost = ans_lost,
    .destroy = ans_destroy,
};

static struct wire_protocol *
ans_factory(void *arg)
{
    (void)arg;
    return &server_ans->base;
}

static bool
rec_bytes_p(void *arg)
{
    struct rec_log *log = arg;
    return log->lost || log->eof;
}

/* One request; the client records what comes back until EOF or loss. */
static void
cork_case(enum answer how, const char *want_prefix, bool want_big,
          const char *want_tail)
{
    struct ans a = {.how = how, .file_fd = -1};
    server_ans = &a;
    wire_protocol_init(&a.base, &ans_ops);
    memset(big, 'B', sizeof(big));
    if (how == A_FILE) {
        unsigned char *content = NULL;
        a.file_fd = unit_temp_file(5, 1, &content);
        free(content);
        ck_assert_int_eq(pwrite(a.file_fd, "file,", 5, 0), 5);
    }
    struct wire_server *srv = NULL;
    struct wire_error err = {0};
    ck_assert_msg(wire_listen(loop, "tcp://127.0.0.1:0", ans_factory, NULL, NULL,
                              &srv, &err) == 0, "%s", err.message);
    struct rec_log log;
    memset(&log, 0, sizeof(log));
    ck_assert_msg(wire_connect(loop, wire_server_address(srv), rec_new(&log),
                               NULL, NULL, NULL, &err) == 0, "%s", err.message);
    ck_assert(unit_run_until(loop, log_made, &log, deadline(10000)));
    ck_assert_int_eq(wire_transport_write(log.t, "?", 1), 0);
    ck_assert_int_eq(wire_transport_write_eof(log.t), 0);
    ck_assert(unit_run_until(loop, rec_bytes_p, &log, deadline(10000)));
    /* one, two, three: gathered, and counted while gathered */
    ck_assert_uint_eq(a.buffered_seen, 14);
    const char *in = rec_in(&log);
    size_t plen = strlen(want_prefix);
    ck_assert_msg(strncmp(in, want_prefix, plen) == 0, "got '%.40s'", in);
    in += plen;
    if (want_big) {
        for (size_t i = 0; i < sizeof(big); i++)
            ck_assert_msg(in[i] == 'B', "big write cut at %zu", i);
        in += sizeof(big);
    }
    ck_assert_str_eq(in, want_tail);
    if (how == A_REF)
        ck_assert_uint_eq(a.refs_freed, 1);
    if (log.t != NULL && !log.lost)
        wire_transport_close(log.t);
    ck_assert(unit_run_until(loop, log_lost, &log, deadline(10000)));
    wire_server_free(srv);
    ck_assert(unit_run_until(loop, log_destroyed, &log, deadline(10000)));
    rec_log_free(&log);
    ck_assert(a.lost);
}

/* Each way a read's answers may end, with what the client must get.
 * abort drops nothing written before it: the cork's bytes would have
 * gone out without the cork, so they go out before the reset. */
static const struct {
    enum answer how;
    const char *prefix;
    bool big;
    const char *tail;
} cork_cases[] = {
    {A_SMALL, "one,two,three,", false, "last."},
    {A_REF, "one,two,three,ref,", false, "last."},
    {A_BIG, "one,two,three,", true, "last."},
    {A_FILE, "one,two,three,file,", false, "last."},
    {A_EOF, "one,two,three,", false, ""},
    {A_CLOSE, "one,two,three,", false, ""},
    {A_ABORT, "one,two,three,", false, ""},
};

START_TEST(test_cork_answers_in_order)
{
    cork_case(cork_cases[_i].how, cork_cases[_i].prefix, cork_cases[_i].big,
              cork_cases[_i].tail);
}
END_TEST

/* ---- write_ref through a layer ---- */

struct refbuf {
    unsigned char *data;
    size_t len;
    int freed;
};

static void
refbuf_free(void *arg, const void *data, size_t len)
{
    struct refbuf *rb = arg;
    ck_assert_ptr_eq(data, rb->data);
    ck_assert_uint_eq(len, rb->len);
    rb->freed++;
}

static struct rec_log *lp_server_log;

static struct wire_protocol *
lp_server_factory(void *arg)
{
    (void)arg;
    struct wire_lenprefix_opts o;
    wire_lenprefix_opts_init(&o, 4, false);
    o.max_len = 4u << 20;
    struct wire_error err = {0};
    struct wire_protocol *lp = wire_lenprefix_layer_new(rec_new(lp_server_log), &o, &err);
    ck_assert_msg(lp != NULL, "%s", err.message);
    return lp;
}

static bool
refbuf_done_p(void *arg)
{
    struct rec_log *log = arg;
    return log->nlens == 1 || log->lost;
}

static bool
refbuf_freed_p(void *arg)
{
    return ((struct refbuf *)arg)->freed > 0;
}

/* The client: lenprefix over TCP, rec above; the server the same. */
static struct wire_server *
lp_pair(struct rec_log *cl, struct rec_log *sv)
{
    lp_server_log = sv;
    struct wire_server *srv = NULL;
    struct wire_error err = {0};
    ck_assert_msg(wire_listen(loop, "tcp://127.0.0.1:0", lp_server_factory, NULL,
                              NULL, &srv, &err) == 0, "%s", err.message);
    struct wire_lenprefix_opts o;
    wire_lenprefix_opts_init(&o, 4, false);
    struct wire_protocol *lp = wire_lenprefix_layer_new(rec_new(cl), &o, &err);
    ck_assert_ptr_nonnull(lp);
    ck_assert_msg(wire_connect(loop, wire_server_address(srv), lp, NULL, NULL,
                               NULL, &err) == 0, "%s", err.message);
    ck_assert(unit_run_until(loop, log_made, cl, deadline(10000)));
    ck_assert(unit_run_until(loop, log_made, sv, deadline(10000)));
    return srv;
}

static void
lp_pair_end(struct rec_log *cl, struct rec_log *sv, struct wire_server *srv)
{
    wire_transport_close(cl->t);
    ck_assert(unit_run_until(loop, log_lost, cl, deadline(10000)));
    ck_assert(unit_run_until(loop, log_lost, sv, deadline(10000)));
    wire_server_free(srv);
    ck_assert(unit_run_until(loop, log_destroyed, sv, deadline(10000)));
    rec_log_free(cl);
    rec_log_free(sv);
}

static void
refbuf_fill(struct refbuf *rb, size_t len)
{
    rb->data = malloc(len);
    ck_assert_ptr_nonnull(rb->data);
    rb->len = len;
    rb->freed = 0;
    for (size_t i = 0; i < len; i++)
        rb->data[i] = (unsigned char)('a' + i % 23);
}

/* A write_ref the socket takes at once goes down through the layer
 * without a copy anywhere, and is released before write_ref returns. */
START_TEST(test_write_ref_through_layer_no_copy)
{
    struct rec_log cl = {.messages = true}, sv = {.messages = true};
    struct wire_server *srv = lp_pair(&cl, &sv);
    struct refbuf rb;
    refbuf_fill(&rb, 4096);
    ck_assert_int_eq(wire_transport_write_ref(cl.t, rb.data, rb.len, refbuf_free,
                                              &rb), 0);
    ck_assert_int_eq(rb.freed, 1);
    struct wire_write_stats up, down;
    wire_transport_get_write_stats(cl.t, &up);
    wire_transport_get_write_stats(cl.t->lower, &down);
    ck_assert(up.copied == 0 && up.referenced == 0);
    ck_assert(down.copied == 0 && down.referenced == 0);
    ck_assert(unit_run_until(loop, refbuf_done_p, &sv, deadline(10000)));
    ck_assert_uint_eq(sv.lens[0], rb.len);
    ck_assert(memcmp(sv.in, rb.data, rb.len) == 0);
    free(rb.data);
    lp_pair_end(&cl, &sv, srv);
}
END_TEST

/* A large write_ref against a peer that does not read, over a memory
 * pair whose buffer holds 16 KiB: the layer's queue keeps it by
 * reference (no copy above), the transport below holds no more than its
 * high watermark (+1 byte and the prefix), and the buffer is released
 * once, after the peer has it all. */
START_TEST(test_write_ref_through_layer_backpressure)
{
    struct rec_log cl = {.messages = true}, sv = {.messages = true};
    lp_server_log = &sv;
    struct wire_lenprefix_opts o;
    wire_lenprefix_opts_init(&o, 4, false);
    struct wire_error err = {0};
    struct wire_protocol *lp = wire_lenprefix_layer_new(rec_new(&cl), &o, &err);
    ck_assert_ptr_nonnull(lp);
    ck_assert_int_eq(wire_mem_pair(loop, lp, lp_server_factory(NULL), 16384, NULL,
                                   NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &cl, deadline(10000)));
    ck_assert(unit_run_until(loop, log_made, &sv, deadline(10000)));
    ck_assert_int_eq(wire_transport_pause_reading(sv.t), 0);
    ck_assert_int_eq(wire_transport_set_write_buffer_limits(cl.t->lower, 8192, 0), 0);
    struct refbuf rb;
    refbuf_fill(&rb, 1u << 20);
    ck_assert_int_eq(wire_transport_write_ref(cl.t, rb.data, rb.len, refbuf_free,
                                              &rb), 0);
    /* Let the loop run a while: the pair's buffer fills, then nothing
     * moves until the server reads again. */
    unit_run_until(loop, refbuf_freed_p, &rb, 200);
    ck_assert_int_eq(rb.freed, 0);
    struct wire_write_stats up, down;
    wire_transport_get_write_stats(cl.t, &up);
    wire_transport_get_write_stats(cl.t->lower, &down);
    ck_assert_uint_eq(up.copied, 0);
    ck_assert_uint_gt(up.referenced, 0);
    ck_assert_uint_gt(up.buffered, 0);
    ck_assert_uint_le(down.buffered, 8192 + 1 + 4);
    ck_assert_int_eq(wire_transport_resume_reading(sv.t), 0);
    ck_assert(unit_run_until(loop, refbuf_done_p, &sv, deadline(20000)));
    ck_assert(unit_run_until(loop, refbuf_freed_p, &rb, deadline(10000)));
    ck_assert_int_eq(rb.freed, 1);
    ck_assert_uint_eq(sv.lens[0], rb.len);
    ck_assert(memcmp(sv.in, rb.data, rb.len) == 0);
    wire_transport_get_write_stats(cl.t, &up);
    ck_assert_uint_eq(up.copied, 0);
    free(rb.data);
    wire_transport_close(cl.t);
    ck_assert(unit_run_until(loop, log_lost, &cl, deadline(10000)));
    ck_assert(unit_run_until(loop, log_lost, &sv, deadline(10000)));
    ck_assert(unit_run_until(loop, log_destroyed, &sv, deadline(10000)));
    rec_log_free(&cl);
    rec_log_free(&sv);
}
END_TEST

Suite *
sock_suite(void)
{
    Suite *s = suite_create("sock");
    TCase *tc = tcase_create("busy");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lone_busy_socket_moves_to_libevent);
    tcase_add_test(tc, test_busy_socket_backpressure_and_back);
    tcase_add_test(tc, test_busy_socket_peer_leaves);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("cork");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_cork_answers_in_order, 0,
                        (int)(sizeof(cork_cases) / sizeof(cork_cases[0])));
    suite_add_tcase(s, tc);
    tc = tcase_create("write_ref");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_write_ref_through_layer_no_copy);
    tcase_add_test(tc, test_write_ref_through_layer_backpressure);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
