/*
 * tls_hs_client: the load generator of the TLS handshake benchmark, the
 * same for every server (nginx, libwire's wire_tls hs-server).  It keeps
 * CONNS connections to 127.0.0.1:PORT in flight, non-blocking on one
 * epoll, each doing one full TLS 1.3 handshake (TLS_AES_128_GCM_SHA256,
 * X25519: peer_tls.h; no session is ever offered, so nothing resumes)
 * and then one tiny HTTP/1.0 exchange:
 *
 *     send "GET / HTTP/1.0\r\n\r\n", read the answer until the server's
 *     close_notify (or the end of the connection), check that it starts
 *     with "HTTP/1.", send our close_notify, close, start the next one.
 *
 * The exchange makes every counted handshake a full one on both sides:
 * the server answers only after it has checked our Finished.  Session
 * tickets the server sends are counted (and dropped), since issuing them
 * is work some servers do and others are configured not to.  After
 * SECONDS it prints
 *     handshakes=N seconds=S hs/s=X tickets_per_hs=T failed=F suite=S group=G
 * where N counts the exchanges completed within SECONDS, F those that
 * failed, and S and G are the suite and key exchange group the first
 * handshake negotiated (the driver checks them).  Every failure is also
 * reported on stderr, and a run with failures exits 1.
 * Before timing starts it waits (up to 10 s) until the port accepts, so
 * a server that is still starting up is not counted as failures.
 *
 * Usage: tls_hs_client PORT CONNS SECONDS
 */
#define _GNU_SOURCE
#include "peer_util.h"
#include "peer_tls.h"

#include <fcntl.h>
#include <stdbool.h>
#include <sys/epoll.h>

static const char request[] = "GET / HTTP/1.0\r\n\r\n";

enum state { HANDSHAKE, REQUEST, RESPONSE };

struct conn {
    int fd;
    SSL *ssl;
    enum state state;
    char head[8]; /* the first bytes of the answer */
    size_t got;
    unsigned events;
};

static int epfd;
static SSL_CTX *ctx;
static struct sockaddr_in addr;
static unsigned long long tickets, done, failed;
static char suite[64] = "?", group[32] = "?"; /* of the last handshake */

static int
count_ticket(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    (void)sess;
    tickets++;
    return 0; /* not kept: no connection ever resumes */
}

static void
watch(struct conn *c, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};

    if (c->events == events)
        return;
    if (epoll_ctl(epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0)
        peer_die("epoll_ctl");
    c->events = events;
}

static void
conn_start(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        peer_die("socket");
    peer_nodelay(c->fd);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
        errno != EINPROGRESS)
        peer_die("connect");
    c->ssl = SSL_new(ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
        peer_tls_die("SSL_new");
    SSL_set_connect_state(c->ssl);
    c->state = HANDSHAKE;
    c->got = 0;
    c->events = 0;
    watch(c, EPOLLOUT); /* the connect completes */
}

static void
conn_end(struct conn *c, bool ok)
{
    if (ok) {
        SSL_shutdown(c->ssl); /* our close_notify; not waited for */
        done++;
    } else {
        failed++;
    }
    SSL_free(c->ssl);
    close(c->fd); /* also leaves the epoll set */
    c->ssl = NULL;
    c->fd = -1;
}

/* Wait for what OpenSSL asks for after a call that returned R. */
static bool
want(struct conn *c, int r)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        watch(c, EPOLLIN);
        return true;
    case SSL_ERROR_WANT_WRITE:
        watch(c, EPOLLOUT);
        return true;
    default:
        return false;
    }
}

/* Drive one connection as far as it goes; false when it has ended. */
static bool
conn_step(struct conn *c)
{
    char buf[4096];
    int r;

    ERR_clear_error();
    switch (c->state) {
    case HANDSHAKE:
        r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            if (want(c, r))
                return true;
            fprintf(stderr, "tls_hs_client: handshake failed\n");
            ERR_print_errors_fp(stderr);
            conn_end(c, false);
            return false;
        }
        if (done == 0) {
            const char *g = SSL_group_to_name(c->ssl, SSL_get_negotiated_group(c->ssl));

            snprintf(suite, sizeof(suite), "%s", SSL_get_cipher_name(c->ssl));
            snprintf(group, sizeof(group), "%s", g != NULL ? g : "?");
        }
        c->state = REQUEST;
        /* fall through */
    case REQUEST:
        r = SSL_write(c->ssl, request, (int)sizeof(request) - 1);
        if (r <= 0) {
            if (want(c, r))
                return true;
            fprintf(stderr, "tls_hs_client: write failed\n");
            conn_end(c, false);
            return false;
        }
        c->state = RESPONSE;
        /* fall through */
    case RESPONSE:
        for (;;) {
            r = SSL_read(c->ssl, buf, sizeof(buf));
            if (r > 0) {
                size_t take = sizeof(c->head) - c->got;

                if (take > (size_t)r)
                    take = (size_t)r;
                memcpy(c->head + c->got, buf, take);
                c->got += take;
                continue;
            }
            if (want(c, r))
                return true;
            break;
        }
        /* close_notify, or the end of the connection without it (a
         * server may close right after its close_notify). */
        if (c->got < 7 || memcmp(c->head, "HTTP/1.", 7) != 0) {
            fprintf(stderr, "tls_hs_client: no HTTP answer (%zu bytes)\n", c->got);
            conn_end(c, false);
            return false;
        }
        conn_end(c, true);
        return false;
    }
    return false;
}

/* Wait until the server accepts connections (it may still be starting). */
static void
wait_ready(void)
{
    for (int i = 0; i < 1000; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
            peer_die("socket");
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            close(fd);
            return;
        }
        close(fd);
        usleep(10000);
    }
    fprintf(stderr, "tls_hs_client: nothing accepts on port %d\n", ntohs(addr.sin_port));
    exit(1);
}

int
main(int argc, char **argv)
{
    struct epoll_event evs[256];
    struct conn *conns;
    long nconns;
    double seconds, start, end, elapsed;

    if (argc != 4) {
        fprintf(stderr, "usage: tls_hs_client PORT CONNS SECONDS\n");
        return 2;
    }
    peer_loopback_addr(&addr, argv[1]);
    nconns = strtol(argv[2], NULL, 10);
    seconds = strtod(argv[3], NULL);
    if (nconns <= 0 || seconds <= 0) {
        fprintf(stderr, "tls_hs_client: bad CONNS or SECONDS\n");
        return 2;
    }
    peer_set_deadline((unsigned)seconds + 30);
    signal(SIGPIPE, SIG_IGN);
    peer_raise_nofile(nconns + 16);
    ctx = peer_tls_client_ctx();
    /* Tickets reach count_ticket only with client caching on; they are
     * never stored, so no connection is offered a session. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                            SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, count_ticket);
    /* Read whole socket buffers, not a record header and then its body:
     * the client's own cost is what limits the figure when it is high. */
    SSL_CTX_set_read_ahead(ctx, 1);
    conns = calloc((size_t)nconns, sizeof(*conns));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || epfd < 0)
        peer_die("setup");
    wait_ready();

    start = peer_now();
    end = start + seconds;
    for (long i = 0; i < nconns; i++)
        conn_start(&conns[i]);
    for (;;) {
        double now = peer_now();

        if (now >= end)
            break;
        int timeout = (int)((end - now) * 1000) + 1;
        int n = epoll_wait(epfd, evs, 256, timeout);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            peer_die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;

            if (!conn_step(c) && peer_now() < end)
                conn_start(c);
        }
    }
    elapsed = peer_now() - start;
    printf("handshakes=%llu seconds=%.3f hs/s=%.1f tickets_per_hs=%.2f failed=%llu "
           "suite=%s group=%s\n",
           done, elapsed, (double)done / elapsed,
           done ? (double)tickets / (double)done : 0.0, failed, suite, group);
    return failed ? 1 : 0;
}
