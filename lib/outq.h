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

#define WIRE_DEFAULT_HIGH_WATER (64u * 1024u)

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
};

/* Bytes queued, file bytes still to send included: what the watermarks
 * and wire_transport_get_write_buffer_size count.  0: nothing queued. */
static inline size_t
out_len(const struct wire_transport *t)
{
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
/* Drop what is queued (the loss): write_ref free callbacks run, file
 * ranges are released (done callbacks run, owned fds close), each once. */
void wire__outq_drop(struct wire_transport *t);
/* Drop what is queued and free the queue (the last unref). */
void wire__outq_free(struct wire_transport *t);

/* transport.c: the connection ends (takes ownership of `err`). */
void wire__begin_loss(struct wire_transport *t, struct wire_error *err,
                      bool abort);

#endif
