/*
 * Private to the transport base (transport.c, write.c): the output queue
 * and the calls between the state machine and the writing half.
 *
 * The queue is bytes (an evbuffer) with file ranges (write_file) marked
 * in their order among them.  Each range records how many bytes of the
 * buffer come before it, counted from the range before it (or from the
 * queue's front, for the first range), so draining the front only ever
 * touches the first range.  A range at the front goes out by the
 * handle's sendfile hook, or is read a piece at a time into the front of
 * the buffer (the fallback), so the file is never read whole.
 */
#ifndef WIRE_OUTQ_H
#define WIRE_OUTQ_H

#include "internal.h"

#include <event2/buffer.h>
#include <sys/types.h>
#include <sys/uio.h>

#define WIRE_DEFAULT_HIGH_WATER (64u * 1024u)
#define WIRE_FLUSH_IOV 64 /* pieces one flush step hands the handle */

/* One queued file range. */
struct wire__frange {
    struct wire__frange *next;
    size_t before;          /* buffer bytes between the previous range (or
                               the queue's front) and this one */
    off_t off;              /* the next byte of the file to send */
    size_t left;            /* bytes of the range still to send or read */
    int fd;
    bool copy;              /* the handle cannot sendfile: read it */
    wire_file_done_cb done; /* NULL: the transport closes `fd` */
    void *arg;
};

struct wire__outq {
    struct evbuffer *buf;
    struct wire__frange *head, *tail;
    size_t ahead;       /* the sum of every range's `before` */
    size_t file_left;   /* the sum of every range's `left` */
    uint64_t sent_direct, file_read; /* wire_transport_get_write_stats */
    uint64_t copied, referenced;
};

/* Bytes queued, file bytes still to send included: what the watermarks
 * and wire_transport_get_write_buffer_size count.  0: nothing queued. */
static inline size_t
out_len(const struct wire_transport *t)
{
    if (t->flags & WIRE_T_CORK_AREA)
        return wire__loop_cork(t->loop)->len;
    return t->out != NULL ? evbuffer_get_length(t->out->buf) + t->out->file_left
                          : 0;
}

/* write.c */
void wire__set_want_write(struct wire_transport *t, bool on);
void wire__check_high(struct wire_transport *t);
void wire__check_low(struct wire_transport *t);
/* Everything queued was handed to the handle: write_eof / close next. */
void wire__after_drain(struct wire_transport *t);
void wire__flush(struct wire_transport *t);
/* The loop's cork area for `t`, which is starting to take a read, or
 * NULL (another transport has it, or no memory); release it with
 * wire__cork_release once the read's flush is done. */
struct wire__cork *wire__cork_claim(struct wire_transport *t);
void wire__cork_release(struct wire_transport *t, struct wire__cork *a);
/* 0 if `t` may be written now, else WIRE_ESTATE / WIRE_ECLOSED. */
int wire__write_state(const struct wire_transport *t);
/* What a cork may hold: 16 KiB, and never past the high mark. */
size_t wire__cork_limit(const struct wire_transport *t);
/* Make `t`'s queue unless it exists: 0 or WIRE_ENOMEM. */
int wire__outq_ensure(struct wire_transport *t);
/* Take what the cork area holds for `t` out of it: written now if
 * `write_now`, the rest (or all) into the output queue; dropped if `t`
 * is lost. */
void wire__cork_settle(struct wire_transport *t, bool write_now);

/* write_file.c: file ranges. */
/* Release a range (unlinked): free it, give the fd back or close it. */
void wire__range_release(struct wire__frange *r);
/* The buffer bytes ahead of the first range `r` as iovecs for the
 * sendfile hook: how many, or -1 when they do not fit in `max`. */
int wire__head_iov(const struct wire__outq *q, const struct wire__frange *r,
                   struct iovec *iov, int max);
/* Send (or read a piece of) the first range `r`, with `headcnt` head
 * iovecs: 1 (go on), 0 (the handle is full) or -1 (the connection
 * failed). */
int wire__range_step(struct wire_transport *t, struct wire__outq *q,
                     struct wire__frange *r, const struct iovec *head,
                     int headcnt);

/* Drop what is queued (the loss): write_ref free callbacks run, file
 * ranges are released (done callbacks run, owned fds close), each once. */
void wire__outq_drop(struct wire_transport *t);
/* Drop what is queued and free the queue (the last unref). */
void wire__outq_free(struct wire_transport *t);

/* transport.c: the connection ends (takes ownership of `err`). */
void wire__begin_loss(struct wire_transport *t, struct wire_error *err,
                      bool abort);

#endif
