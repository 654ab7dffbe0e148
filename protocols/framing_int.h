/*
 * Private to the framing protocols (chunk.c, lenprefix.c, message.c).
 */
#ifndef WIRE_FRAMING_INT_H
#define WIRE_FRAMING_INT_H

#include <wire/framing.h>
#include <wire/transport_impl.h>

#include <stddef.h>
#include <stdint.h>

#define wire_fr_container_of(ptr, type, member)                               \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* The small protocol behind the callback forms: it calls `h`.  NULL when
 * out of memory (h->destroy(arg) has then been called). */
struct wire_protocol *wire__message_proto_new(const struct wire_message_handler *h,
                                              void *arg);

/*
 * A payload of known length (lenprefix, content-length) that may span
 * reads: taken in place when it arrives whole in one read, else gathered
 * in a buffer that grows only with the bytes that actually arrived.
 */
struct wire__gather {
    char *buf;
    size_t cap;
    uint64_t need; /* bytes of the current payload */
    uint64_t got;  /* of them gathered so far */
};

static inline void
wire__gather_start(struct wire__gather *g, uint64_t need)
{
    g->need = need;
    g->got = 0;
}
/* Take what d[*pos..len) holds of the payload.  Returns 1 when it is
 * complete, with *msg pointing at its g->need bytes (in place or in the
 * buffer); 0 when more is needed; WIRE_ENOMEM. */
int wire__gather_take(struct wire__gather *g, const char *d, size_t len,
                      size_t *pos, const char **msg);
/* Between messages: let go of a buffer grown past 64 KiB. */
void wire__gather_trim(struct wire__gather *g);
void wire__gather_free(struct wire__gather *g);

#endif
