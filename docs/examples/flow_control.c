/*
 * Guide example (docs/flow-control.md): flow control.
 *
 * A fast producer and a slow consumer, each over a length-prefix layer
 * (<wire/framing.h>), joined by a memory pair with a small buffer:
 *
 *     producer -> lenprefix -> mem  ====  mem -> lenprefix -> consumer
 *
 * The producer writes COUNT messages as fast as it may: it stops when
 * pause_writing arrives and goes on in resume_writing.  The consumer takes
 * one message per turn of the loop: it pauses reading after each message
 * and resumes on the next turn.  The consumer's pause crosses its layer
 * and stops the memory pair; the pair's buffer fills; the producer's mem
 * transport queues, passes its high watermark and pauses the layer above
 * it, whose own queue then passes ITS high watermark: pause_writing.
 *
 * Exit status 0 only if every message arrived intact and in order, both
 * sides really paused, and the bytes in flight (sent, not yet consumed)
 * never exceeded MAX_IN_FLIGHT, far below the COUNT * MSG bytes an
 * unchecked producer would have queued.
 */
#include <wire/wire.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT 2000               /* messages */
#define MSG 1000                 /* bytes each: 2 MB in all */
#define HIGH (16u * 1024u)       /* the producer's watermarks */
#define LOW (4u * 1024u)
#define MEM_BUF (16u * 1024u)    /* each direction of the memory pair */
#define MAX_IN_FLIGHT (160u * 1024u)

struct stats {
    struct wire_loop *loop;
    struct wire_transport *consumer_t; /* NULL once lost */
    long sent, received;               /* messages */
    size_t max_queued;                 /* the producer's own queue */
    size_t max_in_flight;              /* bytes sent and not yet consumed */
    int producer_pauses, consumer_pauses;
    bool bad_message, done, clean;
};

static struct stats st; /* outlives both protocols */

/* ---- the producer ---- */

struct producer {
    struct wire_protocol base;
    struct wire_transport *t;
    bool paused;
};

static void
produce(struct producer *p)
{
    char msg[MSG];
    while (!p->paused && st.sent < COUNT) {
        memset(msg, 'a' + (int)(st.sent % 26), sizeof(msg));
        memcpy(msg, &st.sent, sizeof(st.sent)); /* the sequence number */
        if (wire_transport_write(p->t, msg, sizeof(msg)) < 0)
            return; /* closed under us: connection_lost says why */
        st.sent++;
        /* pause_writing, if due, has run inside that write. */
        size_t queued = wire_transport_get_write_buffer_size(p->t);
        if (queued > st.max_queued)
            st.max_queued = queued;
        size_t in_flight = (size_t)(st.sent - st.received) * MSG;
        if (in_flight > st.max_in_flight)
            st.max_in_flight = in_flight;
    }
    if (st.sent == COUNT)
        wire_transport_close(p->t); /* flushes everything first */
}

static void
producer_made(struct wire_protocol *base, struct wire_transport *t)
{
    struct producer *p = (struct producer *)base;
    p->t = t;
    wire_transport_set_write_buffer_limits(t, HIGH, LOW);
    produce(p);
}

static void
producer_pause(struct wire_protocol *base)
{
    ((struct producer *)base)->paused = true;
    st.producer_pauses++;
}

static void
producer_resume(struct wire_protocol *base)
{
    struct producer *p = (struct producer *)base;
    p->paused = false;
    produce(p); /* writing from resume_writing is fine */
}

static void
free_protocol(struct wire_protocol *p)
{
    free(p);
}

static const struct wire_protocol_ops producer_ops = {
    .connection_made = producer_made,
    .pause_writing = producer_pause,
    .resume_writing = producer_resume,
    .destroy = free_protocol,
};

/* ---- the consumer ---- */

static void
consumer_made(struct wire_protocol *p, struct wire_transport *t)
{
    (void)p;
    st.consumer_t = t;
}

static void
resume_later(void *arg)
{
    struct stats *s = arg;
    if (s->consumer_t != NULL)
        wire_transport_resume_reading(s->consumer_t);
}

static void
consumer_data(struct wire_protocol *p, const void *data, size_t len)
{
    (void)p;
    long seq;
    const char *d = data;
    memcpy(&seq, d, sizeof(seq));
    if (len != MSG || seq != st.received || d[MSG - 1] != 'a' + (int)(seq % 26))
        st.bad_message = true;
    st.received++;
    /* Slow: one message per turn.  Anything else that arrived waits. */
    wire_transport_pause_reading(st.consumer_t);
    st.consumer_pauses++;
    wire_loop_call_soon(st.loop, resume_later, &st);
}

static void
consumer_lost(struct wire_protocol *p, const struct wire_error *err)
{
    (void)p;
    st.consumer_t = NULL;
    st.clean = err == NULL;
    st.done = true;
    if (err != NULL)
        fprintf(stderr, "flow_control: consumer lost: %s\n", err->message);
}

/* eof_received NULL: the producer's close ends it. */
static const struct wire_protocol_ops consumer_ops = {
    .connection_made = consumer_made,
    .data_received = consumer_data,
    .connection_lost = consumer_lost,
    .destroy = free_protocol,
};

/* A protocol stacked on a 4-byte length-prefix layer. */
static struct wire_protocol *
framed(const struct wire_protocol_ops *ops, size_t size)
{
    struct wire_protocol *p = calloc(1, size);
    if (p == NULL)
        return NULL;
    wire_protocol_init(p, ops);
    struct wire_lenprefix_opts o;
    wire_lenprefix_opts_init(&o, 4, false);
    return wire_lenprefix_layer_new(p, &o, NULL); /* owns p, also on error */
}

int
main(void)
{
    st.loop = wire_loop_new();
    struct wire_protocol *producer = framed(&producer_ops, sizeof(struct producer));
    struct wire_protocol *consumer = framed(&consumer_ops, sizeof(struct wire_protocol));
    if (st.loop == NULL || producer == NULL || consumer == NULL ||
        wire_mem_pair(st.loop, producer, consumer, MEM_BUF, NULL, NULL) < 0) {
        fprintf(stderr, "flow_control: FAILED: setup\n");
        return 1;
    }
    int rc = wire_loop_run_until(st.loop, &st.done, 5000);
    wire_loop_free(st.loop);
    bool ok = rc == 0 && st.clean && !st.bad_message && st.received == COUNT &&
              st.producer_pauses > 0 && st.consumer_pauses > 0 &&
              st.max_queued <= HIGH + MSG + 4 && st.max_in_flight <= MAX_IN_FLIGHT;
    printf("flow_control: %s: %ld/%d messages, producer paused %d times, "
           "its queue peaked at %zu bytes (high %u), at most %zu bytes in "
           "flight (of %d)\n", ok ? "ok" : "FAILED", st.received, COUNT,
           st.producer_pauses, st.max_queued, HIGH, st.max_in_flight,
           COUNT * MSG);
    return ok ? 0 : 1;
}
