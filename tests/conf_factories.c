/*
 * The factory table: every transport the conformance suite runs on.
 *
 * An entry says how to get a connected pair (an endpoint to listen on, or
 * a direct pair maker), what the transport declares (half-close, reset,
 * a descriptor, endpoint strings), how to make connects fail, and what
 * get_info should say.  To run the suite on a new transport add one entry
 * here; a layer (trace, fault, TLS) adds an entry whose make_pair wraps
 * both protocols in the layer and hands them to another entry's pair.
 *
 * Everything stays on loopback or in conf_tmpdir; ports are ephemeral.
 */
#include "conf.h"
#include "conf_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

char conf_tmpdir[256];

/* ---- helpers: raw sockets that hold a port or fill a backlog ---- */

static int
bind_loopback(struct conf_ctx *c, int family, bool do_listen, int backlog,
              unsigned *port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        sl = sizeof(*in6);
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CK(c, fd >= 0, "socket: %s", strerror(errno));
    CK(c, bind(fd, (struct sockaddr *)&ss, sl) == 0, "bind: %s",
       strerror(errno));
    if (do_listen)
        CK(c, listen(fd, backlog) == 0, "listen: %s", strerror(errno));
    sl = sizeof(ss);
    CK(c, getsockname(fd, (struct sockaddr *)&ss, &sl) == 0, "getsockname");
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    conf_hold_fd(c, fd);
    return fd;
}

/* Fill the accept queue of listening socket `lfd` (listen backlog 0): one
 * connection that is never accepted.  Linux then drops every further SYN
 * (the accept queue is full, SYN cookies or not), so a connect to it
 * stays pending until its timeout: a deterministic timeout on loopback. */
static void
fill_accept_queue(struct conf_ctx *c, int lfd, const struct sockaddr *sa,
                  socklen_t sl)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    0);
    CK(c, fd >= 0, "socket: %s", strerror(errno));
    conf_hold_fd(c, fd);
    int rc = connect(fd, sa, sl);
    CK(c, rc == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
    /* Wait (an event, with a deadline) until the connection sits in the
     * accept queue: the listener turns readable. */
    struct pollfd pfd = {lfd, POLLIN, 0};
    rc = poll(&pfd, 1, (int)conf_scale_ms(5000));
    CK(c, rc == 1, "the filler connection never reached the accept queue");
}

/* ---- tcp ---- */

static void
tcp4_listen_ep(struct conf_ctx *c, char *buf, size_t len)
{
    (void)c;
    snprintf(buf, len, "tcp://127.0.0.1:0");
}

static void
tcp6_listen_ep(struct conf_ctx *c, char *buf, size_t len)
{
    (void)c;
    snprintf(buf, len, "tcp://[::1]:0");
}

static bool
tcp6_available(struct conf_ctx *c, char *why, size_t len)
{
    (void)c;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, len, "no IPv6 sockets: %s", strerror(errno));
        return false;
    }
    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    in6.sin6_addr = in6addr_loopback;
    int rc = bind(fd, (struct sockaddr *)&in6, sizeof(in6));
    int e = errno;
    close(fd);
    if (rc < 0) {
        snprintf(why, len, "cannot bind ::1: %s", strerror(e));
        return false;
    }
    return true;
}

static int
tcp_fail_cases(struct conf_ctx *c, struct conf_fail_case *out, int max,
               int family)
{
    const char *host = family == AF_INET ? "127.0.0.1" : "[::1]";
    unsigned port;
    int n = 0;
    if (max < 2)
        return 0;
    /* Refused: a port held by a bound socket that does not listen, so no
     * other process can take it meanwhile. */
    bind_loopback(c, family, false, 0, &port);
    snprintf(out[n].label, sizeof(out[n].label), "refused");
    snprintf(out[n].endpoint, sizeof(out[n].endpoint), "tcp://%s:%u", host,
             port);
    out[n].code = -ECONNREFUSED;
    snprintf(out[n].needle, sizeof(out[n].needle), "%s:%u", host, port);
    n++;
    /* Timed out: a listener whose accept queue is full. */
    int lfd = bind_loopback(c, family, true, 0, &port);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    CK(c, getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0, "getsockname");
    fill_accept_queue(c, lfd, (struct sockaddr *)&ss, sl);
    snprintf(out[n].label, sizeof(out[n].label), "timeout (full accept queue)");
    snprintf(out[n].endpoint, sizeof(out[n].endpoint),
             "tcp://%s:%u?timeout=150", host, port);
    out[n].code = WIRE_ETIMEDOUT;
    snprintf(out[n].needle, sizeof(out[n].needle), "%s:%u", host, port);
    n++;
    return n;
}

static int
tcp4_fail_cases(struct conf_ctx *c, struct conf_fail_case *out, int max)
{
    return tcp_fail_cases(c, out, max, AF_INET);
}

static int
tcp6_fail_cases(struct conf_ctx *c, struct conf_fail_case *out, int max)
{
    return tcp_fail_cases(c, out, max, AF_INET6);
}

/* ---- unix ---- */

static void
unix_path_ep(struct conf_ctx *c, char *buf, size_t len)
{
    snprintf(buf, len, "unix:%s/s%ld-%u.sock", conf_tmpdir, (long)getpid(),
             c->serial++);
}

static void
unix_abstract_ep(struct conf_ctx *c, char *buf, size_t len)
{
    snprintf(buf, len, "unix:@wire-conf-%ld-%u-%llx", (long)getpid(),
             c->serial++, (unsigned long long)(c->seed & 0xffffff));
}

/* A Unix socket bound to `path` (leading '@': abstract), listening with
 * backlog 0 and its queue filled when `fill`, or not listening at all. */
static void
unix_bound(struct conf_ctx *c, const char *path, bool fill)
{
    struct sockaddr_un un;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    size_t n = strlen(path);
    CK(c, n < sizeof(un.sun_path), "path too long");
    memcpy(un.sun_path, path, n);
    if (path[0] == '@')
        un.sun_path[0] = '\0';
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                               (path[0] == '@' ? 0 : 1));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CK(c, fd >= 0, "socket: %s", strerror(errno));
    conf_hold_fd(c, fd);
    CK(c, bind(fd, (struct sockaddr *)&un, sl) == 0, "bind %s: %s", path,
       strerror(errno));
    if (!fill)
        return;
    CK(c, listen(fd, 0) == 0, "listen: %s", strerror(errno));
    /* A Unix connect is queued synchronously: after one, the backlog of 0
     * is full and the next non-blocking connect fails with EAGAIN. */
    int cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    CK(c, cfd >= 0, "socket: %s", strerror(errno));
    conf_hold_fd(c, cfd);
    CK(c, connect(cfd, (struct sockaddr *)&un, sl) == 0, "filler connect: %s",
       strerror(errno));
}

static int
unix_fail_common(struct conf_ctx *c, struct conf_fail_case *out, int max,
                 bool abstract)
{
    int n = 0;
    char ep[400];
    if (max < 3)
        return 0;
    if (!abstract) {
        unix_path_ep(c, ep, sizeof(ep));
        snprintf(out[n].label, sizeof(out[n].label), "missing path");
        snprintf(out[n].endpoint, sizeof(out[n].endpoint), "%s", ep);
        out[n].code = -ENOENT;
        snprintf(out[n].needle, sizeof(out[n].needle), "%.290s", ep + 5);
        n++;
    }
    /* A name bound by a socket that does not listen: refused. */
    abstract ? unix_abstract_ep(c, ep, sizeof(ep))
             : unix_path_ep(c, ep, sizeof(ep));
    unix_bound(c, ep + 5, false);
    snprintf(out[n].label, sizeof(out[n].label), "refused");
    snprintf(out[n].endpoint, sizeof(out[n].endpoint), "%s", ep);
    out[n].code = -ECONNREFUSED;
    snprintf(out[n].needle, sizeof(out[n].needle), "%.290s", ep + 5);
    n++;
    if (abstract) {
        unix_abstract_ep(c, ep, sizeof(ep));
        snprintf(out[n].label, sizeof(out[n].label), "nobody bound");
        snprintf(out[n].endpoint, sizeof(out[n].endpoint), "%s", ep);
        out[n].code = -ECONNREFUSED;
        snprintf(out[n].needle, sizeof(out[n].needle), "%.290s", ep + 5);
        n++;
    }
    /* A full backlog: the kernel never leaves a Unix connect pending, it
     * fails at once with EAGAIN, which must be reported as such (not as a
     * connection). */
    abstract ? unix_abstract_ep(c, ep, sizeof(ep))
             : unix_path_ep(c, ep, sizeof(ep));
    unix_bound(c, ep + 5, true);
    snprintf(out[n].label, sizeof(out[n].label), "full backlog");
    snprintf(out[n].endpoint, sizeof(out[n].endpoint), "%.380s?timeout=150", ep);
    out[n].code = -EAGAIN;
    snprintf(out[n].needle, sizeof(out[n].needle), "%.290s", ep + 5);
    n++;
    return n;
}

static int
unix_fail_cases(struct conf_ctx *c, struct conf_fail_case *out, int max)
{
    return unix_fail_common(c, out, max, false);
}

static int
unix_abstract_fail_cases(struct conf_ctx *c, struct conf_fail_case *out,
                         int max)
{
    return unix_fail_common(c, out, max, true);
}

/* ---- mem ---- */

static int
mem_make_pair(struct conf_ctx *c, struct wire_protocol *client,
              struct wire_protocol *server)
{
    return wire_mem_pair(c->loop, client, server, c->f->bufsize, NULL, NULL);
}

static int
pipe_make_pair(struct conf_ctx *c, struct wire_protocol *client,
               struct wire_protocol *server)
{
    return wire_pipe_pair(c->loop, client, server, NULL, NULL, NULL);
}

static void
mem_listen_ep(struct conf_ctx *c, char *buf, size_t len)
{
    snprintf(buf, len, "mem:conf-%u?bufsize=%zu", c->serial++, c->f->bufsize);
}

static int
mem_fail_cases(struct conf_ctx *c, struct conf_fail_case *out, int max)
{
    int n = 0;
    if (max < 2)
        return 0;
    snprintf(out[n].label, sizeof(out[n].label), "no listener");
    snprintf(out[n].endpoint, sizeof(out[n].endpoint), "mem:nobody-%u",
             c->serial++);
    out[n].code = -ECONNREFUSED;
    snprintf(out[n].needle, sizeof(out[n].needle), "%.290s", out[n].endpoint);
    n++;
    /* A listener that stopped accepting refuses too. */
    struct wire_server *s = conf_server(c);
    wire_server_stop_accepting(s);
    snprintf(out[n].label, sizeof(out[n].label), "not accepting");
    snprintf(out[n].endpoint, sizeof(out[n].endpoint), "%s", c->server_ep);
    out[n].code = -ECONNREFUSED;
    snprintf(out[n].needle, sizeof(out[n].needle), "%.290s", c->server_ep);
    n++;
    return n;
}

/* ---- file over two FIFOs ---- */

/*
 * client = file:A?out=B, server = file:B?out=A, through wire_connect.
 * Opening a FIFO for writing without blocking fails with ENXIO until it
 * has a reader, and each side's output is the other's input, so neither
 * can open both of its files first.  The transport does not hide that (it
 * opens what it is told, never blocking the loop, and reports ENXIO); the
 * factory does what two processes wiring FIFOs do: it holds a read end of
 * B while the client opens, and lets go once the server reads B.  Nothing
 * is written before then (both protocols start from the loop).  The FIFOs
 * are unlinked once open.
 */
static int
file_fifo_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                    struct wire_protocol *server)
{
    char a[300], b[300], ep[700];
    unsigned n = c->serial++;
    snprintf(a, sizeof(a), "%s/f%ld-%u.a", conf_tmpdir, (long)getpid(), n);
    snprintf(b, sizeof(b), "%s/f%ld-%u.b", conf_tmpdir, (long)getpid(), n);
    CK(c, mkfifo(a, 0600) == 0 && mkfifo(b, 0600) == 0, "mkfifo: %s",
       strerror(errno));
    int hold = open(b, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    CK(c, hold >= 0, "open %s: %s", b, strerror(errno));
    struct wire_error err = {0};
    snprintf(ep, sizeof(ep), "file:%s?out=%s", a, b);
    int rc = wire_connect(c->loop, ep, client, NULL, conf_pair_connected, c,
                          &err);
    CK(c, rc == 0, "wire_connect(%s): %s", ep, err.message);
    snprintf(ep, sizeof(ep), "file:%s?out=%s", b, a);
    rc = wire_connect(c->loop, ep, server, NULL, conf_pair_connected, c, &err);
    CK(c, rc == 0, "wire_connect(%s): %s", ep, err.message);
    wire_error_clear(&err);
    close(hold);
    unlink(a);
    unlink(b);
    return 0;
}

/* ---- exec: the client end is a child wirecat ---- */

/*
 * The client runs over `exec:wirecat stdio: unix:PATH` and the server
 * listens in this process on unix:PATH: client -> the child's stdin ->
 * wirecat -> the Unix socket -> server, and back.  So the client end is
 * the subprocess transport, with wirecat's relay (half-close, backpressure)
 * between it and a Unix socket.  WIRE_TEST_WIRECAT names the program (set
 * by `make check`); else it is looked for next to this program's
 * directory (tests/ or tests/.libs/).
 */
static const char *
wirecat_path(void)
{
    static char path[4096];
    const char *e = getenv("WIRE_TEST_WIRECAT");
    if (e != NULL && e[0] != '\0')
        return e;
    if (path[0] != '\0')
        return path;
    char exe[3800];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    static const char *const rel[] = {"/../tools/wirecat", "/../../tools/wirecat"};
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", exe, rel[i]);
        if (access(path, X_OK) == 0)
            return path;
    }
    path[0] = '\0';
    return NULL;
}

static bool
exec_available(struct conf_ctx *c, char *why, size_t len)
{
    (void)c;
    const char *w = wirecat_path();
    if (w == NULL || access(w, X_OK) != 0) {
        snprintf(why, len, "no tools/wirecat to run (build it, or set "
                 "WIRE_TEST_WIRECAT)");
        return false;
    }
    return true;
}

/* Connects through exec: that fail: programs that cannot start. */
static int
exec_fail_cases(struct conf_ctx *c, struct conf_fail_case *out, int max)
{
    (void)c;
    if (max < 2)
        return 0;
    snprintf(out[0].label, sizeof(out[0].label), "no such program");
    snprintf(out[0].endpoint, sizeof(out[0].endpoint),
             "exec:wire-conf-no-such-program --flag");
    out[0].code = -ENOENT;
    snprintf(out[0].needle, sizeof(out[0].needle),
             "exec 'wire-conf-no-such-program': No such file or directory "
             "(not found in PATH)");
    snprintf(out[1].label, sizeof(out[1].label), "a directory");
    snprintf(out[1].endpoint, sizeof(out[1].endpoint), "exec:%s", conf_tmpdir);
    out[1].code = -EACCES;
    snprintf(out[1].needle, sizeof(out[1].needle), "exec '%.200s': Permission "
             "denied", conf_tmpdir);
    return 2;
}

static int
exec_make_pair(struct conf_ctx *c, struct wire_protocol *client,
               struct wire_protocol *server)
{
    conf_server(c); /* unix:PATH (listen_endpoint) */
    CK(c, c->npending < 16, "too many pending server protocols");
    c->pending[c->npending++] = server;
    char ep[5000];
    /* stderr=capture: what wirecat says goes into the error. */
    snprintf(ep, sizeof(ep), "exec:'%s' stdio: '%s'?stderr=capture",
             wirecat_path(), c->server_ep);
    struct wire_error err = {0};
    int rc = wire_connect(c->loop, ep, client, NULL, conf_pair_connected, c, &err);
    CK(c, rc == 0, "wire_connect(%s): %s", ep, err.message);
    wire_error_clear(&err);
    return 0;
}

/* ---- trace ---- */

/* A trace layer (reporting to a callback that drops the events) on both
 * ends: a layer that only watches must pass every case unchanged. */
static void
trace_nop(void *arg, const struct wire_trace_event *ev)
{
    (void)arg;
    (void)ev;
}

static struct wire_protocol *
tr(struct wire_protocol *p)
{
    struct wire_trace_opts o = {0};
    o.cb = trace_nop;
    return wire_trace_layer_new(p, &o, NULL);
}

static int
trace_mem_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                    struct wire_protocol *server)
{
    return wire_mem_pair(c->loop, tr(client), tr(server), c->f->bufsize, NULL,
                         NULL);
}

/* ---- the table ---- */

const struct conf_factory conf_factories[] = {
    {
        .name = "tcp4",
        .info_name = "tcp",
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_RESET | CONF_CAP_FD | CONF_CAP_SOCKADDR |
                CONF_CAP_ENDPOINT,
        .info_prefix = "tcp://127.0.0.1:",
        .listen_endpoint = tcp4_listen_ep,
        .fail_cases = tcp4_fail_cases,
    },
    {
        .name = "tcp6",
        .info_name = "tcp",
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_RESET | CONF_CAP_FD | CONF_CAP_SOCKADDR |
                CONF_CAP_ENDPOINT,
        .info_prefix = "tcp://[::1]:",
        .available = tcp6_available,
        .listen_endpoint = tcp6_listen_ep,
        .fail_cases = tcp6_fail_cases,
    },
    {
        .name = "unix",
        .info_name = "unix",
        /* A Unix stream socket cannot be reset: abort is a close. */
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_FD | CONF_CAP_SOCKADDR | CONF_CAP_ENDPOINT,
        .info_prefix = "unix:",
        .listen_endpoint = unix_path_ep,
        .fail_cases = unix_fail_cases,
        .no_timeout_reason = "a Unix connect never pends: it connects or "
                             "fails at once (a full backlog: EAGAIN)",
    },
    {
        .name = "unix-abstract",
        .info_name = "unix",
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_FD | CONF_CAP_SOCKADDR | CONF_CAP_ENDPOINT,
        .info_prefix = "unix:",
        .listen_endpoint = unix_abstract_ep,
        .fail_cases = unix_abstract_fail_cases,
        .no_timeout_reason = "a Unix connect never pends: it connects or "
                             "fails at once (a full backlog: EAGAIN)",
    },
    {
        .name = "mem-pair",
        .info_name = "mem",
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_RESET,
        .info_prefix = "mem:",
        .make_pair = mem_make_pair,
        .pair_address = "mem:pair",
        .no_timeout_reason = "a memory pair has no connect step",
        .bufsize = 16 * 1024,
    },
    {
        .name = "mem-endpoint",
        .info_name = "mem",
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_RESET | CONF_CAP_ENDPOINT,
        .info_prefix = "mem:",
        .listen_endpoint = mem_listen_ep,
        .fail_cases = mem_fail_cases,
        .no_timeout_reason = "a mem: connect completes or is refused on the "
                             "next loop turn; nothing can keep it pending",
        .bufsize = 64 * 1024,
    },
    {
        .name = "pipe-pair",
        .info_name = "pipe",
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_FD,
        .info_prefix = "pipe:",
        .make_pair = pipe_make_pair,
        .no_timeout_reason = "a pipe pair has no connect step",
    },
    {
        /* Two files over FIFOs: half-close closes the output; a file
         * cannot be reset (abort is a close: the peer sees EOF). */
        .name = "file-fifo",
        .info_name = "file",
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_FD,
        .info_prefix = "file:",
        .make_pair = file_fifo_make_pair,
        .no_timeout_reason = "opening a file never waits (a FIFO without a "
                             "reader fails at once with ENXIO)",
    },
    {
        /* The serial transport on a pty slave against the master as a
         * pipe (conf_pty.c says what the pty does).  A serial line has no
         * half-close and no reset; the kernel drops what the slave has
         * not read when the master closes. */
        .name = "serial-pty",
        .info_name = "serial",
        .info_prefix = "serial:/dev/pts/",
        .server_info_name = "pipe",
        .server_info_prefix = "pipe:",
        .caps = CONF_CAP_FD,
        .make_pair = conf_pty_make_pair,
        .fail_cases = conf_pty_fail_cases,
        .no_timeout_reason = "opening a tty does not wait for anything",
        .server_close_drops = "closing a pty master hangs the slave up, and "
                              "the kernel then discards the slave's unread "
                              "input",
    },
    {
        /* The client over a child wirecat relaying to a Unix socket (see
         * exec_make_pair).  write_eof closes the child's stdin; abort
         * kills the child, and its socket closes: no reset. */
        .name = "exec",
        .info_name = "exec",
        .info_prefix = "exec:",
        .server_info_name = "unix",
        .server_info_prefix = "unix:",
        .server_info_caps = CONF_CAP_FD | CONF_CAP_SOCKADDR,
        .client_ahead = true,
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_FD,
        .available = exec_available,
        .listen_endpoint = unix_path_ep,
        .make_pair = exec_make_pair,
        .fail_cases = exec_fail_cases,
        .no_timeout_reason = "starting a child does not wait for anything",
    },
    {
        .name = "trace-mem",
        .info_name = "mem",
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_RESET,
        .info_prefix = "mem:",
        .make_pair = trace_mem_make_pair,
        .pair_address = "mem:pair",
        .no_timeout_reason = "a memory pair has no connect step",
        .bufsize = 16 * 1024,
    },
    TLS_FACTORIES,
};

const int conf_nfactories =
    (int)(sizeof(conf_factories) / sizeof(conf_factories[0]));
