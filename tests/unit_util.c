/*
 * The recording protocol shared by the unit suites (see unit.h).  It only
 * records and calls the test's hooks; it never decides anything, so a
 * test reads exactly what the transport did.
 */
#include "unit.h"

#include <time.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int unit_live_protocols;
bool unit_can_fork = true;

struct rec {
    struct wire_protocol base;
    struct rec_log *log;
};

void
unit_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *len + n + 1)
            c *= 2;
        char *nb = realloc(*buf, c);
        ck_assert_ptr_nonnull(nb);
        *buf = nb;
        *cap = c;
    }
    if (n > 0) /* `data` may be NULL then */
        memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

void
unit_append_escaped(char **buf, size_t *len, size_t *cap, const void *data,
                    size_t n)
{
    const unsigned char *d = data;
    for (size_t i = 0; i < n; i++) {
        if (d[i] >= 0x20 && d[i] < 0x7f && d[i] != '|' && d[i] != '\\') {
            unit_append(buf, len, cap, &d[i], 1);
        } else {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\x%02x", d[i]);
            unit_append(buf, len, cap, esc, 4);
        }
    }
    unit_append(buf, len, cap, "|", 1);
}

static struct rec_log *
log_of(struct wire_protocol *p)
{
    return ((struct rec *)p)->log;
}

static void
rec_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct rec_log *log = log_of(p);
    ck_assert_ptr_eq(p->transport, t);
    if (log->messages)
        ck_assert_int_eq(log->made, 0);
    log->made++;
    log->t = t;
    log->made_flag = true;
    if (log->on_made != NULL)
        log->on_made(log, t);
}

static void
record(struct rec_log *log, const void *data, size_t len)
{
    unit_append(&log->in, &log->in_len, &log->in_cap, data, len);
    unit_append(&log->marks, &log->marks_len, &log->marks_cap, data, len);
    unit_append(&log->marks, &log->marks_len, &log->marks_cap, "|", 1);
    if (!log->messages)
        return;
    unit_append_escaped(&log->escaped, &log->escaped_len, &log->escaped_cap,
                        data, len);
    if (log->nlens == log->lens_cap) {
        log->lens_cap = log->lens_cap ? 2 * log->lens_cap : 16;
        log->lens = realloc(log->lens, log->lens_cap * sizeof(*log->lens));
        ck_assert_ptr_nonnull(log->lens);
    }
    log->lens[log->nlens++] = len;
}

static void
rec_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct rec_log *log = log_of(p);
    if (log->messages) {
        ck_assert_int_eq(log->made, 1);
        ck_assert_int_eq(log->lost, 0);
        ck_assert_int_eq(log->eof, 0);
    } else {
        ck_assert_uint_gt(len, 0);
    }
    log->data_calls++;
    record(log, data, len);
    if (log->on_data != NULL)
        log->on_data(log, p->transport, data, len);
}

static bool
rec_eof(struct wire_protocol *p)
{
    struct rec_log *log = log_of(p);
    log->eof++;
    log->eof_flag = true;
    if (log->on_eof != NULL)
        log->on_eof(log, p->transport);
    return log->eof_keep;
}

static void
rec_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct rec_log *log = log_of(p);
    log->lost++;
    log->lost_null = err == NULL;
    log->lost_code = err != NULL ? err->code : 0;
    if (err != NULL) {
        ck_assert_int_ne(err->code, 0);
        ck_assert_ptr_nonnull(err->message);
        snprintf(log->lost_msg, sizeof(log->lost_msg), "%s", err->message);
    }
    if (log->on_lost != NULL)
        log->on_lost(log, p->transport);
    log->t = NULL;
    log->lost_flag = true;
}

static void
rec_pause(struct wire_protocol *p)
{
    struct rec_log *log = log_of(p);
    log->paused++;
    if (log->on_pause != NULL)
        log->on_pause(log, p->transport);
}

static void
rec_resume(struct wire_protocol *p)
{
    struct rec_log *log = log_of(p);
    log->resumed++;
    if (log->on_resume != NULL)
        log->on_resume(log, p->transport);
}

static void *
rec_get_buffer(struct wire_protocol *p, size_t hint, size_t *len)
{
    struct rec_log *log = log_of(p);
    ck_assert_uint_gt(hint, 0);
    log->get_buffer_calls++;
    if (log->offer_null)
        return NULL;
    if (log->gbuf == NULL) {
        log->gbuf = malloc(log->bufsize);
        ck_assert_ptr_nonnull(log->gbuf);
    }
    /* Poison it, so a transport that reports more than it wrote shows. */
    memset(log->gbuf, '#', log->bufsize);
    *len = log->bufsize;
    return log->gbuf;
}

static void
rec_buffer_updated(struct wire_protocol *p, size_t n)
{
    struct rec_log *log = log_of(p);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_le(n, log->bufsize);
    log->buffer_updated_calls++;
    record(log, log->gbuf, n);
    if (log->on_data != NULL)
        log->on_data(log, p->transport, log->gbuf, n);
}

static void
rec_destroy(struct wire_protocol *p)
{
    struct rec_log *log = log_of(p);
    log->destroyed++;
    log->destroyed_flag = true;
    unit_live_protocols--;
    free(p);
}

static const struct wire_protocol_ops rec_ops = {
    .connection_made = rec_made,
    .data_received = rec_data,
    .eof_received = rec_eof,
    .connection_lost = rec_lost,
    .pause_writing = rec_pause,
    .resume_writing = rec_resume,
    .destroy = rec_destroy,
};

static const struct wire_protocol_ops rec_buf_ops = {
    .connection_made = rec_made,
    .data_received = rec_data,
    .eof_received = rec_eof,
    .connection_lost = rec_lost,
    .pause_writing = rec_pause,
    .resume_writing = rec_resume,
    .get_buffer = rec_get_buffer,
    .buffer_updated = rec_buffer_updated,
    .destroy = rec_destroy,
};

struct wire_protocol *
rec_new(struct rec_log *log)
{
    struct rec *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    wire_protocol_init(&r->base, log->bufsize > 0 ? &rec_buf_ops : &rec_ops);
    r->log = log;
    unit_live_protocols++;
    return &r->base;
}

void
rec_pause_on_first(struct rec_log *log, struct wire_transport *t,
                   const void *data, size_t len)
{
    (void)data;
    (void)len;
    if (log->data_calls == 1)
        ck_assert_int_eq(wire_transport_pause_reading(t), 0);
}

void
rec_log_free(struct rec_log *log)
{
    free(log->in);
    free(log->marks);
    free(log->gbuf);
    free(log->escaped);
    free(log->lens);
    log->in = log->marks = log->gbuf = log->escaped = NULL;
    log->lens = NULL;
    log->in_len = log->in_cap = log->marks_len = log->marks_cap = 0;
    log->escaped_len = log->escaped_cap = log->nlens = log->lens_cap = 0;
}

const char *
rec_in(const struct rec_log *log)
{
    return log->in != NULL ? log->in : "";
}

const char *
rec_marks(const struct rec_log *log)
{
    return log->marks != NULL ? log->marks : "";
}

const char *
rec_escaped(const struct rec_log *log)
{
    return log->escaped != NULL ? log->escaped : "";
}

const char *
unit_output(const struct wire_transport *t)
{
    static char *copy;
    size_t len = 0;
    free(copy);
    copy = NULL;
    if (t == NULL)
        return NULL; /* unit_main's cleanup */
    const void *out = wire_string_transport_output(t, &len);
    copy = malloc(len + 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, out, len);
    copy[len] = '\0';
    return copy;
}

int
unit_temp_file(size_t size, unsigned seed, unsigned char **content)
{
    char path[] = "/tmp/wire-unit-file-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    unsigned char *c = malloc(size ? size : 1);
    ck_assert_ptr_nonnull(c);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245u + 12345u;
        c[i] = (unsigned char)(x >> 16);
    }
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, c + off, size - off);
        ck_assert_int_gt(n, 0);
        off += (size_t)n;
    }
    *content = c;
    return fd;
}

long
unit_scale_ms(long ms)
{
    static long scale;
    if (scale == 0) {
        const char *e = getenv("WIRE_TEST_TIME_SCALE");
        scale = e != NULL && atol(e) > 0 ? atol(e) : 1;
    }
    return ms * scale;
}

void
unit_setup(void)
{
    unit_live_protocols = 0;
}

TCase *
unit_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, unit_setup, NULL);
    suite_add_tcase(s, tc);
    return tc;
}

static void
deadline_hit(void *arg)
{
    *(volatile bool *)arg = true;
}

bool
unit_run_until(struct wire_loop *loop, bool (*pred)(void *arg), void *arg,
               long timeout_ms)
{
    volatile bool hit = false;
    struct wire_timer *tm = wire_timer_new(loop, deadline_hit, (void *)&hit);
    ck_assert_ptr_nonnull(tm);
    wire_timer_start(tm, (uint64_t)timeout_ms, 0);
    /* The timer keeps the loop alive, so each blocking turn returns at
     * the latest when it fires. */
    while (!pred(arg) && !hit)
        if (wire_loop_run_once(loop, true) < 0)
            break;
    wire_timer_free(tm);
    return pred(arg);
}

unsigned
unit_seed(void)
{
    static bool chosen;
    static unsigned seed;
    if (!chosen) {
        const char *env = getenv("WIRE_TEST_SEED");
        if (env != NULL && *env != '\0')
            seed = (unsigned)strtoul(env, NULL, 0);
        else
            seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
        chosen = true;
    }
    return seed;
}

bool
log_made(void *log)
{
    return ((struct rec_log *)log)->made_flag;
}

bool
log_eof(void *log)
{
    return ((struct rec_log *)log)->eof_flag;
}

bool
log_lost(void *log)
{
    return ((struct rec_log *)log)->lost_flag;
}

bool
log_destroyed(void *log)
{
    return ((struct rec_log *)log)->destroyed_flag;
}
