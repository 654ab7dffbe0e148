/*
 * Private to the framing protocols (chunk.c, lenprefix.c, message.c).
 */
#ifndef WIRE_FRAMING_INT_H
#define WIRE_FRAMING_INT_H

#include <wire/framing.h>
#include <wire/transport_impl.h>

#include <stddef.h>

#define wire_fr_container_of(ptr, type, member)                               \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* The small protocol behind the callback forms: it calls `h`.  NULL when
 * out of memory (h->destroy(arg) has then been called). */
struct wire_protocol *wire__message_proto_new(const struct wire_message_handler *h,
                                              void *arg);

#endif
