/*
 * Private to the transport base (transport.c, write.c): the output queue
 * and the calls between the state machine and the writing half.
 */
#ifndef WIRE_OUTQ_H
#define WIRE_OUTQ_H

#include "internal.h"

#include <event2/buffer.h>

#define WIRE_DEFAULT_HIGH_WATER (64u * 1024u)

static inline struct evbuffer *
outbuf(const struct wire_transport *t)
{
    return (struct evbuffer *)(void *)t->out;
}

static inline size_t
out_len(const struct wire_transport *t)
{
    return t->out != NULL ? evbuffer_get_length(outbuf(t)) : 0;
}

/* write.c */
void wire__set_want_write(struct wire_transport *t, bool on);
void wire__check_high(struct wire_transport *t);
void wire__check_low(struct wire_transport *t);
/* Everything queued was handed to the handle: write_eof / close next. */
void wire__after_drain(struct wire_transport *t);
void wire__flush(struct wire_transport *t);

/* transport.c: the connection ends (takes ownership of `err`). */
void wire__begin_loss(struct wire_transport *t, struct wire_error *err,
                      bool abort);

#endif
