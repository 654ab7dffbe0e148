/*
 * Small helpers shared by the peer benchmark programs in bench/: a hard
 * deadline, a monotonic clock, a loopback listener on an ephemeral port,
 * a loopback connect, and raising RLIMIT_NOFILE. Everything here is
 * static and header-only so that each peer stays a standalone program
 * with no libwire dependency; define _GNU_SOURCE before including it.
 */
#ifndef BENCH_PEER_UTIL_H
#define BENCH_PEER_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Exit status used by every peer when its deadline expires. */
#define PEER_EXIT_TIMEOUT 3

static void
peer_deadline_hit(int sig)
{
    static const char msg[] = "peer: deadline exceeded, giving up\n";
    ssize_t r;

    (void)sig;
    /* Only async-signal-safe calls here. */
    r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)r;
    _exit(PEER_EXIT_TIMEOUT);
}

/*
 * Arm a hard deadline: after SECONDS the process prints a message and
 * exits with PEER_EXIT_TIMEOUT, whatever it is doing. The environment
 * variable PEER_DEADLINE overrides the default, so a driver can run a
 * server for longer than usual without editing the programs.
 */
static inline void
peer_set_deadline(unsigned seconds)
{
    struct sigaction sa;
    const char *env = getenv("PEER_DEADLINE");

    if (env != NULL && atoi(env) > 0)
        seconds = (unsigned)atoi(env);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = peer_deadline_hit;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarm(seconds);
}

static inline void
peer_die(const char *what)
{
    fprintf(stderr, "peer: %s: %s\n", what, strerror(errno));
    exit(1);
}

static inline double
peer_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Listen on 127.0.0.1 with an ephemeral port, print "port N" on stdout
 * and flush it so that a driver reading our stdout learns the port
 * before any client connects. FLAGS is passed to socket() (for example
 * SOCK_NONBLOCK). Returns the listening fd; exits on failure.
 */
static inline int
peer_listen(int flags)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int one = 1;
    int fd;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0)
        peer_die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        peer_die("bind");
    if (listen(fd, SOMAXCONN) < 0)
        peer_die("listen");
    if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        peer_die("getsockname");
    printf("port %d\n", ntohs(sin.sin_port));
    fflush(stdout);
    return fd;
}

/* Fill *SIN with 127.0.0.1:PORT; exits on a bad port string. */
static inline void
peer_loopback_addr(struct sockaddr_in *sin, const char *port)
{
    long p = strtol(port, NULL, 10);

    if (p <= 0 || p > 65535) {
        fprintf(stderr, "peer: bad port '%s'\n", port);
        exit(2);
    }
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin->sin_port = htons((unsigned short)p);
}

/* Skip JSON blanks (and a line's CR/LF) in [p, end); the load
 * generators' answer checkers share it. */
static inline const char *
peer_skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

static inline void
peer_nodelay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * Raise the soft RLIMIT_NOFILE as far as the hard limit allows and return
 * the new soft limit. Warn on stderr when it stays below WANT.
 */
static inline long
peer_raise_nofile(long want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        peer_die("getrlimit");
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            peer_die("setrlimit");
    }
    if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < want)
        fprintf(stderr, "peer: RLIMIT_NOFILE hard limit %ld < %ld\n",
                (long)rl.rlim_cur, want);
    return rl.rlim_cur == RLIM_INFINITY ? want : (long)rl.rlim_cur;
}

#endif /* BENCH_PEER_UTIL_H */
