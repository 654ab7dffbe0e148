/*
 * Endpoint strings: the generic parser.  It knows the two shapes an
 * address can take (scheme://host:port and scheme:path), the query string,
 * and percent-decoding; which schemes exist is the business of the scheme
 * table in transports/.  Every error says what is wrong and where.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decode [s, s+n) into a new string; NULL on a bad escape. */
static char *
pct_decode(const char *s, size_t n, bool *bad)
{
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                *bad = true;
                free(out);
                return NULL;
            }
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

int
wire_endpoint_scheme(const char *str, char *buf, size_t len,
                     struct wire_error *err)
{
    if (str == NULL)
        return wire_error_set(err, WIRE_EENDPOINT, "no endpoint given");
    /* RFC 3986: a scheme starts with a letter, so "127.0.0.1:80" is "no
     * scheme", not an unknown scheme named "127.0.0.1". */
    size_t i = 0;
    if (isalpha((unsigned char)str[0]))
        while (isalnum((unsigned char)str[i]) || str[i] == '+' ||
               str[i] == '-' || str[i] == '.')
            i++;
    if (i == 0 || str[i] != ':')
        return wire_error_set(err, WIRE_EENDPOINT,
                              "endpoint '%s' has no scheme (expected e.g. "
                              "tcp://host:port, unix:/path, mem:name)",
                              str);
    if (i >= len)
        return wire_error_set(err, WIRE_EENDPOINT,
                              "endpoint '%s': scheme too long", str);
    for (size_t k = 0; k < i; k++)
        buf[k] = (char)tolower((unsigned char)str[k]);
    buf[i] = '\0';
    return 0;
}

static int
parse_query(const char *str, const char *q, struct wire_endpoint *ep,
            struct wire_error *err)
{
    /* Count the parameters first so the arrays are sized once. */
    size_t n = 1;
    for (const char *c = q; *c; c++)
        if (*c == '&')
            n++;
    ep->keys = calloc(n, sizeof(char *));
    ep->values = calloc(n, sizeof(char *));
    if (ep->keys == NULL || ep->values == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    const char *p = q;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        if (plen == 0) {
            p += amp ? 1 : 0;
            if (!amp)
                break;
            continue;
        }
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        if (klen == 0)
            return wire_error_set(err, WIRE_EENDPOINT,
                                  "endpoint '%s': empty parameter name at "
                                  "offset %zu",
                                  str, (size_t)(p - str));
        bool bad = false;
        char *k = pct_decode(p, klen, &bad);
        char *v = eq ? pct_decode(eq + 1, plen - klen - 1, &bad) : strdup("");
        if (k == NULL || v == NULL) {
            free(k);
            free(v);
            if (bad)
                return wire_error_set(err, WIRE_EENDPOINT,
                                      "endpoint '%s': bad %%-escape in "
                                      "parameter at offset %zu",
                                      str, (size_t)(p - str));
            return wire_error_set(err, WIRE_ENOMEM, "out of memory");
        }
        ep->keys[ep->nparams] = k;
        ep->values[ep->nparams] = v;
        ep->nparams++;
        if (!amp)
            break;
        p = amp + 1;
    }
    return 0;
}

int
wire_endpoint_parse(const char *str, enum wire_endpoint_shape shape,
                    struct wire_endpoint *ep, struct wire_error *err)
{
    char scheme[32];
    memset(ep, 0, sizeof(*ep));
    int rc = wire_endpoint_scheme(str, scheme, sizeof(scheme), err);
    if (rc < 0)
        return rc;
    ep->scheme = strdup(scheme);
    const char *rest = str + strlen(scheme) + 1;
    const char *q = shape == WIRE_ENDPOINT_RAW ? NULL : strchr(rest, '?');
    size_t addrlen = q ? (size_t)(q - rest) : strlen(rest);
    if (ep->scheme == NULL)
        goto nomem;
    if (shape == WIRE_ENDPOINT_HOSTPORT) {
        if (strncmp(rest, "//", 2) != 0) {
            rc = wire_error_set(err, WIRE_EENDPOINT,
                                "endpoint '%s': expected %s://host:port", str,
                                scheme);
            goto fail;
        }
        const char *a = rest + 2;
        size_t alen = addrlen - 2;
        const char *hend, *pstart;
        if (alen > 0 && a[0] == '[') {
            const char *rb = memchr(a, ']', alen);
            if (rb == NULL) {
                rc = wire_error_set(err, WIRE_EENDPOINT,
                                    "endpoint '%s': missing ']' after IPv6 "
                                    "address", str);
                goto fail;
            }
            ep->host = strndup(a + 1, (size_t)(rb - a - 1));
            hend = rb + 1;
            if (hend >= a + alen || *hend != ':') {
                rc = wire_error_set(err, WIRE_EENDPOINT,
                                    "endpoint '%s': missing port after ']' "
                                    "(write %s://[addr]:port)", str, scheme);
                goto fail;
            }
            pstart = hend + 1;
        } else {
            const char *colon = NULL;
            for (size_t i = 0; i < alen; i++)
                if (a[i] == ':')
                    colon = a + i;
            if (colon == NULL) {
                rc = wire_error_set(err, WIRE_EENDPOINT,
                                    "endpoint '%s': missing port (write "
                                    "%s://host:port; port 0 picks a free one "
                                    "when listening)", str, scheme);
                goto fail;
            }
            if (memchr(a, ':', (size_t)(colon - a)) != NULL) {
                rc = wire_error_set(err, WIRE_EENDPOINT,
                                    "endpoint '%s': an IPv6 address needs "
                                    "brackets: %s://[addr]:port", str, scheme);
                goto fail;
            }
            ep->host = strndup(a, (size_t)(colon - a));
            pstart = colon + 1;
        }
        size_t plen = (size_t)(a + alen - pstart);
        if (ep->host == NULL)
            goto nomem;
        if (ep->host[0] == '\0') {
            rc = wire_error_set(err, WIRE_EENDPOINT,
                                "endpoint '%s': missing host", str);
            goto fail;
        }
        if (plen == 0) {
            rc = wire_error_set(err, WIRE_EENDPOINT,
                                "endpoint '%s': missing port number", str);
            goto fail;
        }
        unsigned long port = 0;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)pstart[i]) || port > 65535) {
                rc = wire_error_set(err, WIRE_EENDPOINT,
                                    "endpoint '%s': port '%.*s' is not a "
                                    "number from 0 to 65535", str, (int)plen,
                                    pstart);
                goto fail;
            }
            port = port * 10 + (unsigned long)(pstart[i] - '0');
        }
        if (port > 65535) {
            rc = wire_error_set(err, WIRE_EENDPOINT,
                                "endpoint '%s': port %lu is out of range "
                                "(0-65535)", str, port);
            goto fail;
        }
        ep->port = strndup(pstart, plen);
        if (ep->port == NULL)
            goto nomem;
    } else if (shape == WIRE_ENDPOINT_RAW) {
        /* Verbatim: the scheme parses it (a command line may hold '%'). */
        ep->path = strdup(rest);
        if (ep->path == NULL)
            goto nomem;
    } else {
        bool bad = false;
        ep->path = pct_decode(rest, addrlen, &bad);
        if (ep->path == NULL) {
            if (bad) {
                rc = wire_error_set(err, WIRE_EENDPOINT,
                                    "endpoint '%s': bad %%-escape in address",
                                    str);
                goto fail;
            }
            goto nomem;
        }
        if (ep->path[0] == '\0' && shape == WIRE_ENDPOINT_PATH) {
            rc = wire_error_set(err, WIRE_EENDPOINT,
                                "endpoint '%s': missing address after '%s:'",
                                str, scheme);
            goto fail;
        }
    }
    if (q != NULL) {
        rc = parse_query(str, q + 1, ep, err);
        if (rc < 0)
            goto fail;
    }
    return 0;
nomem:
    rc = wire_error_set(err, WIRE_ENOMEM, "out of memory");
fail:
    wire_endpoint_clear(ep);
    return rc;
}

const char *
wire_endpoint_param(const struct wire_endpoint *ep, const char *key)
{
    for (size_t i = 0; i < ep->nparams; i++)
        if (strcmp(ep->keys[i], key) == 0)
            return ep->values[i];
    return NULL;
}

int
wire_endpoint_param_u64(const struct wire_endpoint *ep, const char *key,
                        uint64_t min, uint64_t max, uint64_t *out,
                        struct wire_error *err)
{
    const char *v = wire_endpoint_param(ep, key);
    if (v == NULL)
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (!isdigit((unsigned char)v[0]) || *end != '\0' || errno != 0 || n < min ||
        n > max)
        return wire_error_set(err, WIRE_EENDPOINT,
                              "endpoint parameter %s=%s: expected a number "
                              "from %llu to %llu", key, v,
                              (unsigned long long)min, (unsigned long long)max);
    *out = n;
    return 0;
}

int
wire_endpoint_param_bool(const struct wire_endpoint *ep, const char *key,
                         bool *out, struct wire_error *err)
{
    const char *v = wire_endpoint_param(ep, key);
    if (v == NULL)
        return 0;
    if (!strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
        !strcasecmp(v, "on") || v[0] == '\0') {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "false") ||
        !strcasecmp(v, "off")) {
        *out = false;
        return 0;
    }
    return wire_error_set(err, WIRE_EENDPOINT,
                          "endpoint parameter %s=%s: expected yes or no", key,
                          v);
}

int
wire_endpoint_check_params(const struct wire_endpoint *ep,
                           const char *const *known, struct wire_error *err)
{
    for (size_t i = 0; i < ep->nparams; i++) {
        bool ok = false;
        for (const char *const *k = known; *k != NULL; k++)
            if (strcmp(*k, ep->keys[i]) == 0)
                ok = true;
        if (!ok) {
            /* Name what is known, so a misspelling is easy to see. */
            char list[256];
            size_t at = 0;
            list[0] = '\0';
            for (const char *const *k = known; *k != NULL && at < sizeof(list); k++) {
                int n = snprintf(list + at, sizeof(list) - at, "%s%s",
                                 k == known ? "" : ", ", *k);
                if (n < 0)
                    break;
                at += (size_t)n;
            }
            if (known[0] == NULL)
                return wire_error_set(err, WIRE_EENDPOINT,
                                      "unknown parameter '%s' for %s: endpoints "
                                      "(they take none)",
                                      ep->keys[i], ep->scheme);
            return wire_error_set(err, WIRE_EENDPOINT,
                                  "unknown parameter '%s' for %s: endpoints "
                                  "(known: %s)",
                                  ep->keys[i], ep->scheme, list);
        }
    }
    return 0;
}

void
wire_endpoint_clear(struct wire_endpoint *ep)
{
    if (ep == NULL)
        return;
    free(ep->scheme);
    free(ep->host);
    free(ep->port);
    free(ep->path);
    for (size_t i = 0; i < ep->nparams; i++) {
        free(ep->keys[i]);
        free(ep->values[i]);
    }
    free(ep->keys);
    free(ep->values);
    memset(ep, 0, sizeof(*ep));
}
