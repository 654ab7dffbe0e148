#!/bin/sh
# make install into a scratch DESTDIR, then check what a user of an
# installed libwire gets: every public header, the shared and static
# libraries, libwire.pc, wirecat and its man page; and a program built
# with `pkg-config --cflags --libs libwire` against that copy (not the
# source tree's headers, not the build tree's library) that serves an
# echo protocol and makes one round trip over mem: and over TCP.
#
# Run by `make check` (which exports abs_top_builddir, top_srcdir, MAKE,
# CC and LDFLAGS); it works inside `make distcheck` (read-only srcdir,
# another prefix) and in the sanitizer build (the program is linked with
# the same LDFLAGS, so with the same -fsanitize flags).  Skipped (77)
# only when pkg-config is missing.
set -u

fail() {
    echo "FAIL: $*"
    exit 1
}
ok() {
    echo "ok: $*"
}

command -v pkg-config >/dev/null 2>&1 ||
    { echo "SKIP: pkg-config not found (needed to build against the installed copy)"; exit 77; }

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
abs_top_builddir=${abs_top_builddir:-$(pwd)}
MAKE=${MAKE:-make}
CC=${CC:-cc}
LDFLAGS=${LDFLAGS:-}
[ -f "$abs_top_builddir/Makefile" ] || fail "no Makefile in '$abs_top_builddir' (run from the build directory, or set abs_top_builddir)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wire-install-test.XXXXXX") || fail "mktemp -d"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
dest=$tmp/dest

# The sub-makes must not join the jobserver of a `make -j check` that may
# not have passed it down, nor inherit its other flags.
unset MAKEFLAGS MFLAGS

# ---- where things go: the build's own directory variables ----
cat >"$tmp/dirs.mk" <<'EOF'
wire-install-test-dirs:
	@echo 'bindir=$(bindir)'
	@echo 'libdir=$(libdir)'
	@echo 'includedir=$(includedir)'
	@echo 'mandir=$(mandir)'
	@echo 'pkgconfigdir=$(pkgconfigdir)'
	@echo 'version=$(PACKAGE_VERSION)'
EOF
$MAKE -s --no-print-directory -C "$abs_top_builddir" -f Makefile -f "$tmp/dirs.mk" \
    wire-install-test-dirs >"$tmp/dirs" 2>"$tmp/dirs.err" ||
    { cat "$tmp/dirs.err"; fail "could not read the installation directories from the Makefile"; }
dirvar() {
    sed -n "s/^$1=//p" "$tmp/dirs" | tail -n 1
}
bindir=$(dirvar bindir)
libdir=$(dirvar libdir)
includedir=$(dirvar includedir)
mandir=$(dirvar mandir)
pkgconfigdir=$(dirvar pkgconfigdir)
version=$(dirvar version)
for v in bindir libdir includedir mandir pkgconfigdir version; do
    eval "[ -n \"\$$v\" ]" || fail "the Makefile gives no $v"
done

# ---- make install ----
if ! $MAKE -C "$abs_top_builddir" install DESTDIR="$dest" >"$tmp/install.log" 2>&1; then
    tail -n 40 "$tmp/install.log"
    fail "make install DESTDIR=$dest failed"
fi
ok "make install DESTDIR=<tmp>"

# ---- what was installed ----
missing=0
n=0
for h in "$top_srcdir"/include/wire/*.h; do
    [ -f "$h" ] || continue
    name=$(basename "$h")
    n=$((n + 1))
    if [ ! -f "$dest$includedir/wire/$name" ]; then
        echo "FAIL: header wire/$name is in the source tree but not installed (add it to include/include.am)"
        missing=1
    elif ! cmp -s "$h" "$dest$includedir/wire/$name"; then
        echo "FAIL: installed wire/$name differs from the source tree's"
        missing=1
    fi
done
[ "$n" -gt 0 ] || fail "no headers found in $top_srcdir/include/wire"
[ "$missing" -eq 0 ] || exit 1
ok "all $n public headers installed in $includedir/wire"

for f in "$libdir/libwire.so" "$libdir/libwire.a" "$pkgconfigdir/libwire.pc" \
         "$mandir/man1/wirecat.1"; do
    [ -f "$dest$f" ] || fail "$f was not installed"
done
[ -x "$dest$bindir/wirecat" ] || fail "$bindir/wirecat was not installed (or is not executable)"
ok "libwire.so, libwire.a, libwire.pc, wirecat and wirecat.1 installed"

# ---- the man page renders ----
page=$dest$mandir/man1/wirecat.1
if command -v groff >/dev/null 2>&1; then
    groff -man -Tutf8 "$page" >"$tmp/man.txt" 2>"$tmp/man.err" ||
        { cat "$tmp/man.err"; fail "groff cannot render wirecat.1"; }
    grep -q 'wirecat' "$tmp/man.txt" || fail "wirecat.1 renders to nothing useful"
    [ -s "$tmp/man.err" ] && { echo "note: groff said:"; cat "$tmp/man.err"; }
    ok "wirecat.1 renders (groff -man)"
elif command -v man >/dev/null 2>&1; then
    MANPAGER=cat PAGER=cat man -l "$page" >"$tmp/man.txt" 2>"$tmp/man.err" ||
        { cat "$tmp/man.err"; fail "man -l cannot render wirecat.1"; }
    grep -q 'wirecat' "$tmp/man.txt" || fail "wirecat.1 renders to nothing useful"
    ok "wirecat.1 renders (man -l)"
else
    ok "wirecat.1 is there (neither groff nor man to render it)"
fi

# ---- pkg-config against the DESTDIR copy ----
# PKG_CONFIG_SYSROOT_DIR makes the -I/-L paths of libwire.pc point into
# DESTDIR; Requires (jansson) comes from the system.
PKG_CONFIG_PATH="$dest$pkgconfigdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
pkg-config --print-errors --exists libwire 2>"$tmp/pc.err" ||
    { cat "$tmp/pc.err"; fail "pkg-config cannot use the installed libwire.pc"; }
pcver=$(pkg-config --modversion libwire)
[ "$pcver" = "$version" ] || fail "libwire.pc says version '$pcver', the package is '$version'"
cflags=$(pkg-config --cflags libwire) || fail "pkg-config --cflags libwire"
libs=$(pkg-config --libs libwire) || fail "pkg-config --libs libwire"
case " $cflags $libs " in
    *"$top_srcdir/include"* | *"$abs_top_builddir"*)
        fail "pkg-config points into the source or build tree: $cflags $libs" ;;
esac
ok "pkg-config --modversion libwire: $pcver"
echo "   cflags: $cflags"
echo "   libs:   $libs"

# ---- a program built against the installed copy ----
cat >"$tmp/prog.c" <<'EOF'
/* Built against an installed libwire: an echo server and a client that
 * makes one round trip, over mem: and over TCP.  Exits 0 only if every
 * byte came back and everything closed cleanly. */
#include <wire/wire.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char msg[] = "hello, installed libwire";

/* The server side: one protocol per connection, writing back what it
 * reads; the peer's EOF closes it (no eof_received). */
struct echo {
    struct wire_protocol base;
    struct wire_transport *t;
};

static void
echo_made(struct wire_protocol *p, struct wire_transport *t)
{
    ((struct echo *)p)->t = t;
}

static void
echo_data(struct wire_protocol *p, const void *data, size_t len)
{
    wire_transport_write(((struct echo *)p)->t, data, len);
}

static void
echo_destroy(struct wire_protocol *p)
{
    free(p);
}

static const struct wire_protocol_ops echo_ops = {
    .connection_made = echo_made,
    .data_received = echo_data,
    .destroy = echo_destroy,
};

static struct wire_protocol *
echo_new(void *arg)
{
    struct echo *e = calloc(1, sizeof(*e));
    (void)arg;
    if (e == NULL)
        return NULL;
    wire_protocol_init(&e->base, &echo_ops);
    return &e->base;
}

/* The client side: write the message, read it back, close. */
struct client {
    struct wire_protocol base;
    char got[sizeof(msg)];
    size_t n;
    bool ended;
    int code;
};

static void
client_made(struct wire_protocol *p, struct wire_transport *t)
{
    (void)p;
    if (wire_transport_write(t, msg, strlen(msg)) < 0)
        wire_transport_abort(t);
}

static void
client_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct client *c = (struct client *)p;
    if (len > sizeof(c->got) - c->n)
        len = sizeof(c->got) - c->n;
    memcpy(c->got + c->n, data, len);
    c->n += len;
    if (c->n >= strlen(msg))
        wire_transport_close(p->transport);
}

static void
client_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct client *c = (struct client *)p;
    if (err != NULL) {
        fprintf(stderr, "connection lost: %s\n", err->message);
        c->code = err->code;
    }
    c->ended = true;
}

static void
client_destroy(struct wire_protocol *p)
{
    (void)p; /* on the caller's stack */
}

static const struct wire_protocol_ops client_ops = {
    .connection_made = client_made,
    .data_received = client_data,
    .connection_lost = client_lost,
    .destroy = client_destroy,
};

static void
connected(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct client *c = arg;
    if (t == NULL) {
        fprintf(stderr, "connect: %s\n", err->message);
        c->code = err->code;
        c->ended = true;
    }
}

static int
round_trip(struct wire_loop *loop, const char *endpoint)
{
    struct wire_error err = {0};
    struct wire_server *srv = NULL;
    if (wire_listen(loop, endpoint, echo_new, NULL, NULL, &srv, &err) < 0) {
        fprintf(stderr, "listen %s: %s\n", endpoint, err.message);
        wire_error_clear(&err);
        return 1;
    }
    struct client c;
    memset(&c, 0, sizeof(c));
    wire_protocol_init(&c.base, &client_ops);
    if (wire_connect(loop, wire_server_address(srv), &c.base, NULL, connected,
                     &c, &err) < 0) {
        fprintf(stderr, "connect %s: %s\n", wire_server_address(srv),
                err.message);
        wire_error_clear(&err);
        wire_server_free(srv);
        return 1;
    }
    int rc = wire_loop_run_until(loop, &c.ended, 10000);
    int ok = rc == 0 && c.code == 0 && c.n == strlen(msg) &&
             memcmp(c.got, msg, c.n) == 0;
    if (!ok)
        fprintf(stderr, "%s: run_until %s, %s, got %zu of %zu bytes\n",
                endpoint, wire_err_name(rc), wire_strerror(c.code), c.n,
                strlen(msg));
    wire_server_free(srv);
    /* Let the server's side of the connection end too. */
    static const volatile bool never = false;
    wire_loop_run_until(loop, &never, 5000);
    if (ok)
        printf("echo over %s: ok\n", endpoint);
    return ok ? 0 : 1;
}

int
main(void)
{
    struct wire_loop *loop = wire_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "wire_loop_new failed\n");
        return 1;
    }
    int failed = round_trip(loop, "mem:install-test");
    failed |= round_trip(loop, "tcp://127.0.0.1:0");
    wire_loop_free(loop);
    return failed;
}
EOF

# Only what pkg-config says: no source-tree include path sneaks in.
unset CPATH C_INCLUDE_PATH LIBRARY_PATH
# shellcheck disable=SC2086
if ! $CC -Wall -Wextra -Werror -MD -MF "$tmp/prog.d" $cflags "$tmp/prog.c" \
        -o "$tmp/prog" $LDFLAGS $libs >"$tmp/cc.log" 2>&1; then
    cat "$tmp/cc.log"
    fail "the program does not build with: $CC \$(pkg-config --cflags libwire) prog.c \$(pkg-config --libs libwire)"
fi
used=$(tr ' \\' '\n\n' <"$tmp/prog.d" | grep '/wire/wire\.h$' | head -n 1)
case $used in
    "$dest"/*) ok "built with the installed headers ($used)" ;;
    *) fail "the program was built with '$used', not the installed wire/wire.h" ;;
esac

LD_LIBRARY_PATH="$dest$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
if command -v ldd >/dev/null 2>&1; then
    lib=$(ldd "$tmp/prog" 2>/dev/null | sed -n 's/^[[:space:]]*libwire\.so[^ ]* => \([^ ]*\).*/\1/p' | head -n 1)
    case $lib in
        "$dest"/*) ok "linked with the installed libwire.so ($lib)" ;;
        *) fail "the program resolves libwire.so to '$lib', not the installed copy" ;;
    esac
fi
"$tmp/prog" >"$tmp/prog.out" 2>&1
rc=$?
cat "$tmp/prog.out"
[ $rc -eq 0 ] || fail "the program built against the installed libwire exited $rc"
ok "the program built against the installed copy echoes (mem:, tcp:)"

# ---- the same, linked statically with libwire.a ----
# `pkg-config --static` must name everything libwire.a needs
# (Requires.private, Libs.private); the system libraries stay shared.
slibs=$(pkg-config --static --libs libwire) || fail "pkg-config --static --libs libwire"
slibs=$(printf '%s\n' "$slibs" | sed "s|-lwire\\b|$dest$libdir/libwire.a|")
case " $slibs " in
    *"libwire.a"*) ;;
    *) fail "pkg-config --static --libs libwire names no -lwire: $slibs" ;;
esac
# shellcheck disable=SC2086
if ! $CC -Wall -Wextra -Werror $cflags "$tmp/prog.c" -o "$tmp/prog-static" \
        $LDFLAGS $slibs >"$tmp/cc-static.log" 2>&1; then
    cat "$tmp/cc-static.log"
    fail "the program does not link with libwire.a and \$(pkg-config --static --libs libwire) (a library missing from Requires.private or Libs.private?)"
fi
if command -v ldd >/dev/null 2>&1 && ldd "$tmp/prog-static" 2>/dev/null | grep -q 'libwire\.so'; then
    fail "the static build still loads libwire.so"
fi
"$tmp/prog-static" >"$tmp/prog-static.out" 2>&1
rc=$?
cat "$tmp/prog-static.out"
[ $rc -eq 0 ] || fail "the program linked with libwire.a exited $rc"
ok "the program linked with the installed libwire.a echoes"

# ---- the installed wirecat runs ----
"$dest$bindir/wirecat" --version >"$tmp/wc.out" 2>&1 ||
    { cat "$tmp/wc.out"; fail "installed wirecat --version failed"; }
grep -q "$version" "$tmp/wc.out" || { cat "$tmp/wc.out"; fail "wirecat --version does not say $version"; }
"$dest$bindir/wirecat" --help >"$tmp/wc.out" 2>&1 ||
    { cat "$tmp/wc.out"; fail "installed wirecat --help failed"; }
grep -q 'usage: wirecat' "$tmp/wc.out" || { cat "$tmp/wc.out"; fail "wirecat --help prints no usage"; }
ok "installed wirecat --version and --help"

echo "PASS: install test"
exit 0
