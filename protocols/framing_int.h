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
/* Room for the payload's next bytes, for a read straight into the
 * buffer: a pointer to them and their count in *len, no more than the
 * payload's rest plus `extra` bytes of a trailer that belongs to the
 * message (a netstring's ','), which land right after the payload; at
 * least min(that, hint) bytes, growing as wire__gather_take does (by
 * doubling, never to the announced length at once).  The caller counts
 * the payload bytes read in g->got.  NULL when out of memory. */
void *wire__gather_room(struct wire__gather *g, size_t hint, size_t extra,
                        size_t *len);
/* Between messages: let go of a buffer grown past 64 KiB. */
void wire__gather_trim(struct wire__gather *g);

/*
 * Work a layer does on a later turn, with the layer held until then:
 * letting go of a large reassembly buffer once a read leaves nothing
 * pending.  Done at once, a stream of large messages would free and
 * grow the buffer again for every message (each a fresh mmap, page
 * faults, copies as it grows); on a later turn, the transport below has
 * read what it had meanwhile, and a message it began keeps the buffer.
 * `fn` checks that there is still nothing pending.
 */
struct wire__later {
    struct wire_soon node;
    struct wire_layer *l;
    void (*fn)(struct wire_layer *l);
};
void wire__later_init(struct wire__later *w, struct wire_layer *l,
                      void (*fn)(struct wire_layer *l));
/* Run w->fn on a later turn (once, however often asked meanwhile). */
void wire__later_ask(struct wire__later *w);
void wire__gather_free(struct wire__gather *g);

#endif
