/*
 * wire_echo: libwire's side of the ping-pong and idle-memory benchmarks.
 * The same contract as peer_echo_epoll: listens on an ephemeral loopback
 * port, prints "port N", echoes every byte (TCP_NODELAY is libwire's
 * default), raises RLIMIT_NOFILE to the hard limit, and exits 0 on SIGTERM
 * or SIGINT.  The echo protocol is eight lines: write back what arrives.
 * With -w N it serves through N worker threads (wire_workers_start: one
 * loop and one SO_REUSEPORT listener each; 0 is one per CPU) instead of
 * one loop on the main thread, which then only waits for the signal.
 *
 * Usage: wire_echo [-w N]
 */
#include <wire/wire.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct echo {
    struct wire_protocol base;
};

static void
e_data(struct wire_protocol *p, const void *data, size_t len)
{
    wire_transport_write(p->transport, data, len);
}

static void
e_destroy(struct wire_protocol *p)
{
    free(p);
}

static const struct wire_protocol_ops echo_ops = {
    .data_received = e_data,
    .destroy = e_destroy,
};

static struct wire_protocol *
echo_new(void *arg)
{
    (void)arg;
    struct echo *e = malloc(sizeof(*e));
    if (e != NULL)
        wire_protocol_init(&e->base, &echo_ops);
    return e != NULL ? &e->base : NULL;
}

static volatile sig_atomic_t stop;
static struct wire_loop *loop;

static void
on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void
poll_stop(void *arg)
{
    (void)arg;
    if (stop)
        wire_loop_stop(loop);
}

static int
echo_setup(void *arg, struct wire_loop *wloop, unsigned index,
           struct wire_worker_service *svc, struct wire_error *err)
{
    (void)arg;
    (void)wloop;
    (void)index;
    (void)err;
    svc->factory = echo_new;
    return 0;
}

/* Serve through `n` workers until SIGTERM or SIGINT.  The workers block
 * every signal, so the main thread takes them with sigwait. */
static int
run_workers(int n)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct wire_workers_options o = {.count = n, .setup = echo_setup};
    struct wire_workers *w = NULL;
    struct wire_error err = {0};
    if (wire_workers_start("tcp://127.0.0.1:0?backlog=4096", &o, &w, &err) < 0) {
        fprintf(stderr, "wire_echo: %s\n", err.message);
        wire_error_clear(&err);
        return 1;
    }
    const char *addr = wire_workers_address(w);
    printf("port %s\n", strrchr(addr, ':') + 1);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    wire_workers_stop(w, 0);
    for (unsigned i = 0; i < wire_workers_count(w); i++)
        fprintf(stderr, "wire_echo: worker %u accepted %llu connections\n", i,
                (unsigned long long)wire_workers_accepted(w, i));
    wire_workers_free(w);
    return 0;
}

int
main(int argc, char **argv)
{
    struct rlimit rl;
    int opt, workers = -1;
    while ((opt = getopt(argc, argv, "w:")) != -1) {
        char *end = NULL;
        long n = opt == 'w' ? strtol(optarg, &end, 10) : -1;
        if (end == NULL || end == optarg || *end != '\0' || n < 0 ||
            n > WIRE_WORKERS_MAX) {
            fprintf(stderr, "usage: wire_echo [-w WORKERS (0: one per CPU)]\n");
            return 2;
        }
        workers = (int)n;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (workers >= 0)
        return run_workers(workers);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    loop = wire_loop_new();
    struct wire_server *server = NULL;
    struct wire_error err = {0};
    if (loop == NULL ||
        wire_listen(loop, "tcp://127.0.0.1:0?backlog=4096", echo_new, NULL, NULL,
                    &server, &err) < 0) {
        fprintf(stderr, "wire_echo: %s\n", err.message ? err.message : "loop");
        return 1;
    }
    struct wire_timer *tm = wire_timer_new(loop, poll_stop, NULL);
    wire_timer_start(tm, 100, 100);
    const char *addr = wire_server_address(server);
    printf("port %s\n", strrchr(addr, ':') + 1);
    fflush(stdout);
    wire_loop_run(loop);
    wire_timer_free(tm);
    wire_server_free(server);
    /* Let the aborted connections deliver connection_lost. */
    while (wire_loop_run_once(loop, false) == 0)
        ;
    wire_loop_free(loop);
    return 0;
}
