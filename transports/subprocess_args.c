/*
 * Command lines for `exec:` (see <wire/subprocess.h>): wire_split_args
 * splits a string into argv the way a POSIX shell splits words -- blanks,
 * single quotes, double quotes, backslashes -- and does nothing else: no
 * variable, tilde or glob expansion, no redirection, no pipeline.  An
 * unquoted shell operator is an error that says so, since without a shell
 * it could only do something other than what was meant.  wire__quote_args
 * goes the other way, for the address a transport reports.  Last, the
 * endpoint `exec:COMMAND[?stderr=..&kill_after=..&cwd=..]`, whose
 * trailing parameters are told from a '?' of the command by their keys.
 */
#include "subprocess_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

/* Characters a shell would treat as an operator when unquoted. */
static bool
is_operator(char c)
{
    return c != '\0' && strchr("|&;<>()`", c) != NULL;
}

void
wire_free_args(char **argv)
{
    if (argv == NULL)
        return;
    for (char **a = argv; *a != NULL; a++)
        free(*a);
    free(argv);
}

static int
push_word(char ***words, size_t *n, size_t *cap, const char *w, size_t len)
{
    if (*n + 2 > *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        char **nw = realloc(*words, c * sizeof(*nw));
        if (nw == NULL)
            return WIRE_ENOMEM;
        *words = nw;
        *cap = c;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return WIRE_ENOMEM;
    memcpy(copy, w, len);
    copy[len] = '\0';
    (*words)[(*n)++] = copy;
    (*words)[*n] = NULL;
    return 0;
}

int
wire_split_args(const char *cmd, char ***argv, struct wire_error *err)
{
    if (argv != NULL)
        *argv = NULL;
    if (cmd == NULL || argv == NULL)
        return wire_error_set(err, WIRE_EINVAL,
                              "wire_split_args: a command and argv are required");
    size_t len = strlen(cmd);
    char *buf = malloc(len + 1); /* one word, unquoted: never longer */
    char **words = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    size_t i = 0;
    if (buf == NULL) {
        rc = wire_error_set(err, WIRE_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        while (is_blank(cmd[i]))
            i++;
        if (cmd[i] == '\0')
            break;
        size_t w = 0;
        bool started = false; /* quotes make a word even when empty */
        while (cmd[i] != '\0' && !is_blank(cmd[i])) {
            char c = cmd[i];
            if (c == '\'') {
                size_t open = i++;
                while (cmd[i] != '\0' && cmd[i] != '\'')
                    buf[w++] = cmd[i++];
                if (cmd[i] == '\0') {
                    rc = wire_error_set(err, WIRE_EINVAL,
                                        "command '%s': unterminated ' "
                                        "(opened at offset %zu)", cmd, open);
                    goto out;
                }
                i++;
                started = true;
            } else if (c == '"') {
                size_t open = i++;
                for (;;) {
                    char d = cmd[i];
                    if (d == '\0') {
                        rc = wire_error_set(err, WIRE_EINVAL,
                                            "command '%s': unterminated \" "
                                            "(opened at offset %zu)", cmd, open);
                        goto out;
                    }
                    if (d == '"') {
                        i++;
                        break;
                    }
                    /* Inside "...", a backslash escapes only these; a
                     * backslash-newline joins lines. */
                    if (d == '\\' && cmd[i + 1] != '\0' &&
                        strchr("$`\"\\\n", cmd[i + 1]) != NULL) {
                        if (cmd[i + 1] != '\n')
                            buf[w++] = cmd[i + 1];
                        i += 2;
                        continue;
                    }
                    buf[w++] = d;
                    i++;
                }
                started = true;
            } else if (c == '\\') {
                if (cmd[i + 1] == '\0') {
                    rc = wire_error_set(err, WIRE_EINVAL,
                                        "command '%s': ends with a backslash "
                                        "that escapes nothing", cmd);
                    goto out;
                }
                if (cmd[i + 1] != '\n') { /* backslash-newline: nothing */
                    buf[w++] = cmd[i + 1];
                    started = true;
                }
                i += 2;
            } else if (is_operator(c)) {
                rc = wire_error_set(err, WIRE_EINVAL,
                                    "command '%s': '%c' at offset %zu is a "
                                    "shell operator, and no shell runs the "
                                    "command (quote it, or run sh -c '...')",
                                    cmd, c, i);
                goto out;
            } else {
                buf[w++] = c;
                i++;
                started = true;
            }
        }
        if (started && push_word(&words, &n, &cap, buf, w) < 0) {
            rc = wire_error_set(err, WIRE_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (n == 0)
        rc = wire_error_set(err, WIRE_EINVAL, "command '%s': no program to run",
                            cmd);
out:
    free(buf);
    if (rc < 0) {
        wire_free_args(words);
        return rc;
    }
    *argv = words;
    return 0;
}

/* Does `s` read back as itself, unquoted? */
static bool
plain_word(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789_@%+=:,./-", *s) == NULL)
            return false;
    return true;
}

char *
wire__quote_args(char *const argv[])
{
    size_t len = 1;
    for (char *const *a = argv; *a != NULL; a++) {
        len += 3; /* a blank and the quotes */
        for (const char *s = *a; *s != '\0'; s++)
            len += *s == '\'' ? 4 : 1; /* ' becomes '\'' */
    }
    char *out = malloc(len);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (char *const *a = argv; *a != NULL; a++) {
        if (a != argv)
            *o++ = ' ';
        if (plain_word(*a)) {
            size_t l = strlen(*a);
            memcpy(o, *a, l);
            o += l;
            continue;
        }
        *o++ = '\'';
        for (const char *s = *a; *s != '\0'; s++) {
            if (*s == '\'') {
                memcpy(o, "'\\''", 4);
                o += 4;
            } else {
                *o++ = *s;
            }
        }
        *o++ = '\'';
    }
    *o = '\0';
    return out;
}

/* ---- the endpoint ---- */

static const char *const exec_keys[] = {"stderr", "kill_after", "cwd", NULL};

/* Is `q` (after a '?') a list of our parameters? */
static bool
all_known_keys(const char *q)
{
    if (*q == '\0')
        return false;
    while (*q != '\0') {
        size_t klen = strcspn(q, "=&");
        bool known = false;
        for (const char *const *k = exec_keys; *k != NULL; k++)
            if (strlen(*k) == klen && strncmp(*k, q, klen) == 0)
                known = true;
        if (!known)
            return false;
        q += strcspn(q, "&");
        if (*q == '&')
            q++;
    }
    return true;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode `len` bytes of `s` (%XX escapes) into a new string; NULL with
 * `*bad` set for a bad escape, or on ENOMEM. */
static char *
pct_decode(const char *s, size_t len, bool *bad)
{
    char *out = malloc(len + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= len || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
            free(out);
            *bad = true;
            return NULL;
        }
        *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
        i += 2;
    }
    *o = '\0';
    return out;
}

/* Parse the trailing parameters `q` (after the '?'). */
static int
parse_params(const char *str, const char *q, struct wire__exec_endpoint *ps,
             struct wire_error *err)
{
    static const char *const modes[] = {"inherit", "null", "capture", "stdout"};
    while (*q != '\0') {
        size_t plen = strcspn(q, "&");
        size_t klen = strcspn(q, "=&");
        const char *v = klen < plen ? q + klen + 1 : q + plen;
        size_t vlen = (size_t)(q + plen - v);
        bool bad = false;
        char *val = pct_decode(v, vlen, &bad);
        if (val == NULL)
            return bad ? wire_error_set(err, WIRE_EENDPOINT,
                                        "endpoint '%s': bad %%-escape in "
                                        "parameter %.*s", str, (int)klen, q)
                       : wire_error_set(err, WIRE_ENOMEM, "out of memory");
        int rc = 0;
        if (strncmp(q, "stderr", klen) == 0) {
            ps->stderr_mode = -1;
            for (int i = 0; i < 4; i++)
                if (strcmp(val, modes[i]) == 0)
                    ps->stderr_mode = i;
            if (ps->stderr_mode < 0)
                rc = wire_error_set(err, WIRE_EENDPOINT,
                                    "endpoint '%s': stderr=%s: expected "
                                    "inherit, null, capture or stdout", str, val);
        } else if (strncmp(q, "kill_after", klen) == 0) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(val, &end, 10);
            if (val[0] < '0' || val[0] > '9' || *end != '\0' || errno != 0 ||
                n < 1 || n > UINT32_MAX)
                rc = wire_error_set(err, WIRE_EENDPOINT,
                                    "endpoint '%s': kill_after=%s: expected a "
                                    "number of milliseconds from 1 to %u", str,
                                    val, (unsigned)UINT32_MAX);
            ps->kill_after_ms = n;
        } else { /* cwd */
            if (val[0] == '\0')
                rc = wire_error_set(err, WIRE_EENDPOINT,
                                    "endpoint '%s': cwd= needs a directory", str);
            free(ps->cwd);
            ps->cwd = val;
            val = NULL;
        }
        free(val);
        if (rc < 0)
            return rc;
        q += plen;
        if (*q == '&')
            q++;
    }
    return 0;
}

void
wire__exec_endpoint_clear(struct wire__exec_endpoint *x)
{
    wire_free_args(x->argv);
    free(x->addr);
    free(x->cwd);
    memset(x, 0, sizeof(*x));
}

int
wire__exec_endpoint_parse(const char *str, const char *raw,
                          struct wire__exec_endpoint *x,
                          struct wire_error *err)
{
    memset(x, 0, sizeof(*x));
    const char *q = strrchr(raw, '?');
    if (q != NULL && !all_known_keys(q + 1))
        q = NULL; /* the '?' is the command's */
    size_t clen = q != NULL ? (size_t)(q - raw) : strlen(raw);
    char *cmd = malloc(clen + 1);
    x->addr = malloc(clen + 6);
    int rc = 0;
    if (cmd == NULL || x->addr == NULL) {
        rc = wire_error_set(err, WIRE_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(cmd, raw, clen);
    cmd[clen] = '\0';
    snprintf(x->addr, clen + 6, "exec:%s", cmd);
    if (q != NULL && (rc = parse_params(str, q + 1, x, err)) < 0)
        goto out;
    struct wire_error serr = {0};
    rc = wire_split_args(cmd, &x->argv, &serr);
    if (rc < 0) {
        rc = wire_error_set(err, rc == WIRE_ENOMEM ? rc : WIRE_EENDPOINT,
                            "endpoint '%s': %s", str, serr.message);
        wire_error_clear(&serr);
    }
out:
    free(cmd);
    if (rc < 0)
        wire__exec_endpoint_clear(x);
    return rc;
}
