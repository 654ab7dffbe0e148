/*
 * JSON-RPC 2.0: the common request, read without building it.
 *
 * Nearly every message a server gets is one request in the plain form
 * {"jsonrpc":"2.0","method":"NAME","params":[...],"id":N}.  Handing all of
 * it to jansson builds an object, four keys, two strings and the id only
 * to take them apart again, and that was most of a call's cost.  So the
 * envelope of such a request is read here, and jansson parses only the
 * params.  This reader accepts a strict subset of JSON and refuses
 * anything else by returning false, and then the whole text goes to
 * jansson as before: members other than the four, a repeated member, a
 * key or string with an escape or a byte outside printable ASCII, an id
 * that is not an integer of at most 18 digits, a string or null, params
 * that are not an array or an object (or that jansson does not accept).
 * What it accepts means exactly what jansson would have made of it.
 */
#include "jsonrpc_int.h"

#include <string.h>

struct plain_req {
    const unsigned char *method, *params, *id_str;
    size_t method_len, params_len, id_len;
    enum { ID_NONE, ID_INT, ID_STR, ID_NULL } id;
    json_int_t id_int;
};

/* A string of printable ASCII without escapes at d[*i] (a '"'). */
static bool
plain_string(const unsigned char *d, size_t len, size_t *i,
             const unsigned char **s, size_t *n)
{
    size_t j = *i + 1, start = j;
    while (j < len && d[j] != '"') {
        if (d[j] < 0x20 || d[j] > 0x7e || d[j] == '\\')
            return false;
        j++;
    }
    if (j >= len)
        return false;
    *s = d + start;
    *n = j - start;
    *i = j + 1;
    return true;
}

/* An array or object at d[*i]: its extent (strings skipped whole).  Only
 * where it ends is found here; jansson checks what it holds. */
static bool
plain_span(const unsigned char *d, size_t len, size_t *i)
{
    if (d[*i] != '[' && d[*i] != '{')
        return false;
    size_t depth = 0, j = *i;
    bool in_str = false;
    for (; j < len; j++) {
        unsigned char c = d[j];
        if (in_str) {
            if (c == '\\')
                j++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            if (--depth == 0) {
                *i = j + 1;
                return true;
            }
        }
    }
    return false;
}

/* An integer without sign oddities, fraction or exponent, at most 18
 * digits (so it fits json_int_t as jansson would read it). */
static bool
plain_int(const unsigned char *d, size_t len, size_t *i, json_int_t *out)
{
    size_t j = *i;
    bool neg = j < len && d[j] == '-';
    if (neg)
        j++;
    size_t start = j;
    json_int_t v = 0;
    while (j < len && d[j] >= '0' && d[j] <= '9' && j - start < 19) {
        v = v * 10 + (d[j] - '0');
        j++;
    }
    size_t n = j - start;
    if (n == 0 || n > 18 || (n > 1 && d[start] == '0') || (neg && v == 0))
        return false;
    if (j < len && (d[j] == '.' || d[j] == 'e' || d[j] == 'E'))
        return false;
    *out = neg ? -v : v;
    *i = j;
    return true;
}

static bool
key_is(const unsigned char *k, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(k, name, n) == 0;
}

static bool
plain_request(const unsigned char *d, size_t len, struct plain_req *r)
{
    enum { S_VER = 1, S_METHOD = 2, S_PARAMS = 4, S_ID = 8 };
    unsigned seen = 0;
    size_t i = 0;
    memset(r, 0, sizeof(*r));
    while (i < len && jr_is_ws(d[i]))
        i++;
    if (i >= len || d[i++] != '{')
        return false;
    for (;;) {
        const unsigned char *k, *s;
        size_t kn, sn;
        while (i < len && jr_is_ws(d[i]))
            i++;
        if (i >= len || d[i] != '"' || !plain_string(d, len, &i, &k, &kn))
            return false;
        while (i < len && jr_is_ws(d[i]))
            i++;
        if (i >= len || d[i++] != ':')
            return false;
        while (i < len && jr_is_ws(d[i]))
            i++;
        if (i >= len)
            return false;
        unsigned bit;
        if (key_is(k, kn, "jsonrpc")) {
            bit = S_VER;
            if (d[i] != '"' || !plain_string(d, len, &i, &s, &sn) || sn != 3 ||
                memcmp(s, "2.0", 3) != 0)
                return false;
        } else if (key_is(k, kn, "method")) {
            bit = S_METHOD;
            if (d[i] != '"' ||
                !plain_string(d, len, &i, &r->method, &r->method_len))
                return false;
        } else if (key_is(k, kn, "params")) {
            bit = S_PARAMS;
            size_t start = i;
            if (!plain_span(d, len, &i))
                return false;
            r->params = d + start;
            r->params_len = i - start;
        } else if (key_is(k, kn, "id")) {
            bit = S_ID;
            if (d[i] == '"') {
                if (!plain_string(d, len, &i, &r->id_str, &r->id_len))
                    return false;
                r->id = ID_STR;
            } else if (len - i >= 4 && memcmp(d + i, "null", 4) == 0) {
                i += 4;
                r->id = ID_NULL;
            } else if (plain_int(d, len, &i, &r->id_int)) {
                r->id = ID_INT;
            } else {
                return false;
            }
        } else {
            return false;
        }
        if (seen & bit)
            return false; /* repeated: jansson refuses it, with its error */
        seen |= bit;
        while (i < len && jr_is_ws(d[i]))
            i++;
        if (i >= len)
            return false;
        if (d[i] == ',') {
            i++;
            continue;
        }
        if (d[i++] != '}')
            return false;
        break;
    }
    while (i < len && jr_is_ws(d[i]))
        i++;
    return i == len && (seen & (S_VER | S_METHOD)) == (S_VER | S_METHOD);
}

bool
jr_fast_request(struct wire_jsonrpc *rpc, const unsigned char *d, size_t len,
             bool *owed)
{
    struct plain_req r;
    if (!plain_request(d, len, &r))
        return false;
    json_t *params = NULL;
    if (r.params != NULL) {
        params = json_loadb((const char *)r.params, r.params_len,
                            JR_PARSE_FLAGS, NULL);
        if (params == NULL)
            return false; /* jansson's full parse says what is wrong */
    }
    json_t *id = NULL;
    switch (r.id) {
    case ID_NONE: break;
    case ID_INT: id = json_integer(r.id_int); break;
    case ID_STR: id = json_stringn_nocheck((const char *)r.id_str, r.id_len); break;
    case ID_NULL: id = json_null(); break;
    }
    json_t *method = json_stringn_nocheck((const char *)r.method, r.method_len);
    if ((r.id != ID_NONE && id == NULL) || method == NULL) {
        json_decref(params);
        json_decref(id);
        json_decref(method);
        return false;
    }
    *owed = jr_server_dispatch(rpc, id, method, params, NULL, 0);
    json_decref(params);
    json_decref(id);
    json_decref(method);
    return true;
}
