/*
 * The loop: a libevent event_base plus what libwire needs around it — a
 * run-soon queue (intrusive, so deferring connection_lost never allocates),
 * a thread-safe call-soon woken through an eventfd, a log hook, the
 * shared receive buffer and the lazily created DNS resolver.
 *
 * wire_loop_run() stops when nothing is left: no event added or active
 * except the loop's own internal ones (the eventfd watcher, the run_until
 * deadline).  Without internal events libevent's own exit test is the
 * same, so the base runs continuously; with them the loop steps one
 * iteration at a time and decides itself.  That is how "the loop exits
 * when nothing is left" stays true after the thread-safe wakeup was set
 * up.  Timers live in timer.c.
 */
#include "internal.h"

#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* 64 KiB, not more: the kernel's copy into a buffer that stays in the L2
 * cache costs about half the system time of a 256 KiB one (bench/run,
 * bulk: 0.2-0.3 s vs 0.65-0.9 s of system time per GiB). */
#define WIRE_SCRATCH_SIZE (64u * 1024u)

struct wire__call {            /* an allocated call-soon entry */
    struct wire_soon node;
    wire_loop_cb cb;
    void *arg;
};

struct wire__tcall {           /* a thread-safe call-soon entry */
    struct wire__tcall *next;
    wire_loop_cb cb;
    void *arg;
};

struct wire_loop {
    struct event_base *base;
    bool owns_base;
    bool stop;
    struct event *soon_ev;
    bool in_soon;             /* soon_run is running a batch */
    struct wire_soon *soon_head, *soon_tail;
    /* thread-safe wakeup */
    pthread_mutex_t tmu;
    struct wire__tcall *thead, *ttail;
    int efd;
    struct event *efd_ev;
    int tpending;             /* entries posted, not yet run (under tmu) */
    /* keep-alive */
    unsigned holds;
    struct event *hold_ev;
    int internal;             /* internal events currently added */
    bool continuous;          /* inside a continuous event_base_loop */
    /* log */
    wire_log_cb log_cb;
    void *log_arg;
    /* resources */
    void *scratch;
    struct wire__cork cork;
    struct evdns_base *dns;
    unsigned dns_users;         /* lookups in flight */
    struct wire_soon dns_idle;  /* frees the resolver once unused */
    void *slots[WIRE__SLOT_COUNT];
    void (*slot_dtor[WIRE__SLOT_COUNT])(void *);
};

static void soon_run(evutil_socket_t fd, short what, void *arg);
static struct evdns_base *dns_new(struct wire_loop *loop);
static void call_fn(struct wire_soon *node);

static struct wire_loop *
loop_alloc(struct event_base *base, bool owns)
{
    struct wire_loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return NULL;
    loop->base = base;
    loop->owns_base = owns;
    loop->efd = -1;
    pthread_mutex_init(&loop->tmu, NULL);
    loop->soon_ev = event_new(base, -1, 0, soon_run, loop);
    if (loop->soon_ev == NULL) {
        pthread_mutex_destroy(&loop->tmu);
        free(loop);
        return NULL;
    }
    return loop;
}

struct wire_loop *
wire_loop_new(void)
{
    /* Default configuration on purpose: EVENT_BASE_FLAG_PRECISE_TIMER
     * makes the epoll backend re-arm a timerfd on every iteration, one
     * extra syscall per wakeup (measured in the bulk benchmark). */
    struct event_base *base = event_base_new();
    if (base == NULL)
        return NULL;
    struct wire_loop *loop = loop_alloc(base, true);
    if (loop == NULL)
        event_base_free(base);
    return loop;
}

struct wire_loop *
wire_loop_from_event_base(struct event_base *base)
{
    if (base == NULL)
        return NULL;
    return loop_alloc(base, false);
}

struct event_base *
wire_loop_event_base(struct wire_loop *loop)
{
    return loop->base;
}

void
wire_loop_free(struct wire_loop *loop)
{
    if (loop == NULL)
        return;
    for (int i = 0; i < WIRE__SLOT_COUNT; i++)
        if (loop->slots[i] != NULL && loop->slot_dtor[i] != NULL)
            loop->slot_dtor[i](loop->slots[i]);
    /* Drop pending allocated call-soon entries.  Intrusive nodes belong to
     * their owners, which are gone or leaking by contract already. */
    struct wire_soon *n = loop->soon_head;
    while (n != NULL) {
        struct wire_soon *next = n->next;
        n->queued = false;
        n->next = NULL;
        if (n->fn == call_fn) /* ours: a wire_loop_call_soon entry */
            free(wire_container_of(n, struct wire__call, node));
        n = next;
    }
    struct wire__tcall *tc = loop->thead;
    while (tc != NULL) {
        struct wire__tcall *next = tc->next;
        free(tc);
        tc = next;
    }
    if (loop->dns != NULL)
        evdns_base_free(loop->dns, 1);
    if (loop->efd_ev != NULL)
        event_free(loop->efd_ev);
    if (loop->efd >= 0)
        close(loop->efd);
    if (loop->hold_ev != NULL)
        event_free(loop->hold_ev);
    event_free(loop->soon_ev);
    pthread_mutex_destroy(&loop->tmu);
    free(loop->scratch);
    free(loop->cork.buf);
    if (loop->owns_base)
        event_base_free(loop->base);
    free(loop);
}

/* ---- run-soon queue ---- */

void
wire__loop_soon(struct wire_loop *loop, struct wire_soon *node)
{
    if (node->queued)
        return;
    node->queued = true;
    node->next = NULL;
    if (loop->soon_tail != NULL)
        loop->soon_tail->next = node;
    else
        loop->soon_head = node;
    loop->soon_tail = node;
    /* Activating an already active event is a no-op in libevent.  While a
     * batch runs, soon_run itself arranges the next turn: activating now
     * would run the new node in this same pass, before any I/O. */
    if (!loop->in_soon)
        event_active(loop->soon_ev, EV_TIMEOUT, 0);
}

bool
wire__loop_unsoon(struct wire_loop *loop, struct wire_soon *node)
{
    if (!node->queued)
        return false;
    struct wire_soon *prev = NULL;
    for (struct wire_soon *n = loop->soon_head; n != NULL; n = n->next) {
        if (n != node) {
            prev = n;
            continue;
        }
        if (prev != NULL)
            prev->next = n->next;
        else
            loop->soon_head = n->next;
        if (loop->soon_tail == n)
            loop->soon_tail = prev;
        node->next = NULL;
        node->queued = false;
        return true;
    }
    /* Queued but not in the list: in the batch soon_run is running now,
     * which will run it; leave it alone. */
    return false;
}

static void
soon_run(evutil_socket_t fd, short what, void *arg)
{
    struct wire_loop *loop = arg;
    WIRE_UNUSED(fd);
    WIRE_UNUSED(what);
    /* Take the list as it is now: nodes queued while these run go to the
     * next turn, so a callback that re-queues itself cannot starve I/O. */
    struct wire_soon *n = loop->soon_head;
    loop->soon_head = loop->soon_tail = NULL;
    loop->in_soon = true;
    while (n != NULL) {
        struct wire_soon *next = n->next;
        n->next = NULL;
        n->queued = false;
        n->fn(n);
        n = next;
    }
    loop->in_soon = false;
    /* What was queued meanwhile runs after the next poll for I/O: a zero
     * timeout fires in the loop's next iteration, not this one (libevent
     * would run a re-activated event in the same pass). */
    if (loop->soon_head != NULL) {
        static const struct timeval zero = {0, 0};
        event_add(loop->soon_ev, &zero);
    }
}

static void
call_fn(struct wire_soon *node)
{
    struct wire__call *c = wire_container_of(node, struct wire__call, node);
    wire_loop_cb cb = c->cb;
    void *arg = c->arg;
    free(c);
    cb(arg);
}

int
wire_loop_call_soon(struct wire_loop *loop, wire_loop_cb cb, void *arg)
{
    if (loop == NULL || cb == NULL)
        return WIRE_EINVAL;
    struct wire__call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return WIRE_ENOMEM;
    c->node.fn = call_fn;
    c->cb = cb;
    c->arg = arg;
    wire__loop_soon(loop, &c->node);
    return 0;
}

/* ---- thread-safe call-soon ---- */

static void
efd_ready(evutil_socket_t fd, short what, void *arg)
{
    struct wire_loop *loop = arg;
    uint64_t v;
    WIRE_UNUSED(what);
    /* A failed read means nothing was pending; the list below is what
     * matters, the counter only wakes us. */
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        wire_loop_log(loop, WIRE_LOG_WARN, "eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&loop->tmu);
    struct wire__tcall *tc = loop->thead;
    loop->thead = loop->ttail = NULL;
    pthread_mutex_unlock(&loop->tmu);
    while (tc != NULL) {
        struct wire__tcall *next = tc->next;
        tc->cb(tc->arg);
        free(tc);
        pthread_mutex_lock(&loop->tmu);
        loop->tpending--;
        pthread_mutex_unlock(&loop->tmu);
        tc = next;
    }
}

static int
efd_setup(struct wire_loop *loop)
{
    if (loop->efd_ev != NULL)
        return 0;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct event *ev = event_new(loop->base, fd, EV_READ | EV_PERSIST,
                                 efd_ready, loop);
    if (ev == NULL || event_add(ev, NULL) != 0) {
        if (ev != NULL)
            event_free(ev);
        close(fd);
        return WIRE_ENOMEM;
    }
    loop->efd = fd;
    loop->efd_ev = ev;
    loop->internal++;
    /* A continuous run would now never exit by itself: drop back to
     * wire_loop_run's stepping mode. */
    if (loop->continuous)
        event_base_loopbreak(loop->base);
    return 0;
}

int
wire_loop_call_soon_threadsafe(struct wire_loop *loop, wire_loop_cb cb,
                               void *arg)
{
    if (loop == NULL || cb == NULL)
        return WIRE_EINVAL;
    struct wire__tcall *tc = calloc(1, sizeof(*tc));
    if (tc == NULL)
        return WIRE_ENOMEM;
    tc->cb = cb;
    tc->arg = arg;
    pthread_mutex_lock(&loop->tmu);
    /* The eventfd watcher is created under the lock the first time, so two
     * threads cannot both create it; creating it touches the base, which is
     * why the first thread-safe call should come from the loop's thread or
     * before the loop runs (wire_loop_hold does it). */
    int rc = efd_setup(loop);
    if (rc < 0) {
        pthread_mutex_unlock(&loop->tmu);
        free(tc);
        return rc;
    }
    if (loop->ttail != NULL)
        loop->ttail->next = tc;
    else
        loop->thead = tc;
    loop->ttail = tc;
    loop->tpending++;
    pthread_mutex_unlock(&loop->tmu);
    uint64_t one = 1;
    ssize_t w = write(loop->efd, &one, sizeof(one));
    WIRE_UNUSED(w); /* EAGAIN: the counter is saturated, a wakeup is due */
    return 0;
}

/* ---- keep-alive ---- */

static void
hold_noop(evutil_socket_t fd, short what, void *arg)
{
    WIRE_UNUSED(fd);
    WIRE_UNUSED(what);
    WIRE_UNUSED(arg);
}

void
wire_loop_hold(struct wire_loop *loop)
{
    if (loop->holds++ == 0) {
        pthread_mutex_lock(&loop->tmu);
        int rc = efd_setup(loop);
        pthread_mutex_unlock(&loop->tmu);
        if (rc < 0)
            wire_loop_log(loop, WIRE_LOG_WARN, "thread wakeup: %s",
                          wire_strerror(rc));
        if (loop->hold_ev == NULL)
            loop->hold_ev = event_new(loop->base, -1, EV_PERSIST, hold_noop,
                                      loop);
        if (loop->hold_ev != NULL) {
            struct timeval tv = {86400 * 365, 0};
            event_add(loop->hold_ev, &tv);
        }
    }
}

void
wire_loop_release(struct wire_loop *loop)
{
    if (loop->holds == 0)
        return;
    if (--loop->holds == 0 && loop->hold_ev != NULL)
        event_del(loop->hold_ev);
}

/* ---- running ---- */

static bool
loop_alive(struct wire_loop *loop)
{
    int n = event_base_get_num_events(loop->base, EVENT_BASE_COUNT_ADDED |
                                                       EVENT_BASE_COUNT_ACTIVE);
    if (n > loop->internal)
        return true;
    pthread_mutex_lock(&loop->tmu);
    bool pending = loop->tpending > 0;
    pthread_mutex_unlock(&loop->tmu);
    return pending;
}

int
wire_loop_run(struct wire_loop *loop)
{
    loop->stop = false;
    while (!loop->stop) {
        if (!loop_alive(loop))
            return 0;
        /* Without internal events, libevent's own "no events left" exit
         * is exactly ours, so let it run continuously: entering
         * event_base_loop once per wakeup costs ~500 instructions a turn
         * (callgrind, ping-pong).  With internal events (the thread
         * wakeup, a run_until deadline) step one iteration at a time and
         * decide here; adding one breaks a continuous run (internal_add). */
        int flags = loop->internal == 0 ? 0 : EVLOOP_ONCE;
        loop->continuous = flags == 0;
        int rc = event_base_loop(loop->base, flags);
        loop->continuous = false;
        if (rc < 0)
            return WIRE_EINVAL;
    }
    loop->stop = false;
    return 0;
}

int
wire_loop_run_once(struct wire_loop *loop, bool block)
{
    if (!loop_alive(loop))
        return 1;
    if (event_base_loop(loop->base, block ? EVLOOP_ONCE : EVLOOP_NONBLOCK) < 0)
        return WIRE_EINVAL;
    return loop_alive(loop) ? 0 : 1;
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    bool *hit = arg;
    WIRE_UNUSED(fd);
    WIRE_UNUSED(what);
    *hit = true;
}

int
wire_loop_run_until(struct wire_loop *loop, const volatile bool *flag,
                    long timeout_ms)
{
    bool hit = false;
    struct event *dl = NULL;
    if (timeout_ms >= 0) {
        dl = evtimer_new(loop->base, deadline_cb, &hit);
        if (dl == NULL)
            return WIRE_ENOMEM;
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(dl, &tv);
        loop->internal++;
    }
    int rc = 0;
    loop->stop = false;
    while (!*flag) {
        if (hit) {
            rc = WIRE_ETIMEDOUT;
            break;
        }
        if (loop->stop) {
            rc = WIRE_ECANCELED;
            break;
        }
        if (!loop_alive(loop)) {
            rc = 1;
            break;
        }
        if (event_base_loop(loop->base, EVLOOP_ONCE) < 0) {
            rc = WIRE_EINVAL;
            break;
        }
    }
    loop->stop = false;
    if (dl != NULL) {
        if (!hit)
            evtimer_del(dl);
        event_free(dl);
        loop->internal--;
    }
    return rc;
}

void
wire_loop_stop(struct wire_loop *loop)
{
    loop->stop = true;
    event_base_loopbreak(loop->base);
}

/* ---- log ---- */

void
wire_loop_set_log(struct wire_loop *loop, wire_log_cb cb, void *arg)
{
    loop->log_cb = cb;
    loop->log_arg = arg;
}

void
wire_loop_log(struct wire_loop *loop, enum wire_log_level level,
              const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (loop != NULL && loop->log_cb != NULL) {
        loop->log_cb(loop->log_arg, level, buf);
        return;
    }
    if (level >= WIRE_LOG_WARN)
        fprintf(stderr, "libwire: %s\n", buf);
}

uint64_t
wire_loop_now(struct wire_loop *loop)
{
    struct timespec ts;
    WIRE_UNUSED(loop);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- resources ---- */

void *
wire__loop_scratch(struct wire_loop *loop, size_t *len)
{
    if (loop->scratch == NULL)
        loop->scratch = malloc(WIRE_SCRATCH_SIZE);
    *len = loop->scratch != NULL ? WIRE_SCRATCH_SIZE : 0;
    return loop->scratch;
}

struct wire__cork *
wire__loop_cork(struct wire_loop *loop)
{
    return &loop->cork;
}

/*
 * libevent 2.1's evdns leaves its name server's read event added after the
 * last lookup (even with EVDNS_BASE_DISABLE_WHEN_INACTIVE), which would
 * keep wire_loop_run() alive forever.  So the resolver lives only while
 * lookups are in flight: the last release frees it on the next turn (not
 * inside evdns's own callback, which is where releases happen).
 */
static void
dns_idle_fn(struct wire_soon *node)
{
    struct wire_loop *loop = wire_container_of(node, struct wire_loop, dns_idle);
    if (loop->dns_users == 0 && loop->dns != NULL) {
        evdns_base_free(loop->dns, 1);
        loop->dns = NULL;
    }
}

void
wire__loop_dns_release(struct wire_loop *loop)
{
    if (loop->dns_users > 0 && --loop->dns_users == 0) {
        loop->dns_idle.fn = dns_idle_fn;
        wire__loop_soon(loop, &loop->dns_idle);
    }
}

struct evdns_base *
wire__loop_dns(struct wire_loop *loop)
{
    if (loop->dns == NULL)
        loop->dns = dns_new(loop);
    if (loop->dns != NULL)
        loop->dns_users++;
    return loop->dns;
}

static struct evdns_base *
dns_new(struct wire_loop *loop)
{
    struct evdns_base *dns;
    /* Read resolv.conf and /etc/hosts; a machine without name servers
     * still resolves from /etc/hosts and numeric addresses. */
    dns = evdns_base_new(loop->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                         EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (dns == NULL) {
        dns = evdns_base_new(loop->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (dns != NULL)
            evdns_base_load_hosts(dns, NULL);
    }
    return dns;
}

void **
wire__loop_slot(struct wire_loop *loop, int which, void (*dtor)(void *))
{
    if (dtor != NULL)
        loop->slot_dtor[which] = dtor;
    return &loop->slots[which];
}
