/*
 * Record and replay: what the format's writer (record.c) shares with the
 * record layer (record_layer.c) and the replay transport (replay.c).
 */
#ifndef WIRE_TRANSPORTS_RECORD_INT_H
#define WIRE_TRANSPORTS_RECORD_INT_H

#include "../lib/internal.h"

#include <wire/record.h>

#include <stdint.h>
#include <time.h>

/* Microseconds on `clock`. */
uint64_t wire__rec_now_us(clockid_t clock);
/* Store `v` big-endian in `n` bytes at `p`. */
void wire__rec_put_be(unsigned char *p, uint64_t v, int n);
/* Append a record of `kind` at `time`: the bytes of `iov` (`total` of
 * them) after `pre` (END's code, INFO's key); a payload over the limit
 * becomes several records.  Returns 0 or the writer's (sticky) error. */
int wire__rec_writer_put(struct wire_record_writer *w, int kind, uint64_t time,
                         const unsigned char *pre, size_t pre_len,
                         const struct iovec *iov, int iovcnt, size_t total,
                         struct wire_error *err);
/* The path (or fd name) the writer writes to. */
const char *wire__rec_writer_name(const struct wire_record_writer *w);

#endif /* WIRE_TRANSPORTS_RECORD_INT_H */
