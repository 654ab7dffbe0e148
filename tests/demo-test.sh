#!/usr/bin/env bash
# demo-test: run examples/demo (one protocol over tcp, tcp6, unix,
# abstract unix and the memory pair) and check that it exits 0 and that
# every row says ok (tcp6 may say "skip (no ::1)" on hosts without IPv6).
#
# Usage: bash tests/demo-test.sh [BUILD_DIR]   (default: .)
# Prints "PASS name" or "FAIL name (why)"; exits 1 on failure.

# `make check` may run this with /bin/sh: switch to bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

build=${1:-.}
demo=$build/examples/demo
if [ ! -x "$demo" ]; then
    echo "FAIL demo ($demo is not built)"
    exit 1
fi

out=$(timeout 60 "$demo" 2>&1)
rc=$?
printf '%s\n' "$out"

why=
rows=0
ok=0
while IFS= read -r line; do
    case $line in
    "transport "*) continue ;; # the header
    esac
    rows=$((rows + 1))
    # transport  endpoint  calls  result  ...
    read -r name _ calls result rest <<<"$line"
    if [ "$result" = ok ] && [ "$calls" = 1000 ]; then
        ok=$((ok + 1))
    elif [ "$name" = tcp6 ] && [ "$result $rest" = "skip (no ::1)" ]; then
        :
    else
        why="row '$line'"
    fi
done <<<"$out"

if [ "$rc" -ne 0 ]; then
    why="exit status $rc${why:+, $why}"
elif [ -z "$why" ] && [ "$rows" -ne 5 ]; then
    why="$rows rows, want 5"
elif [ -z "$why" ] && [ "$ok" -lt 4 ]; then
    why="only $ok rows ok"
fi

if [ -n "$why" ]; then
    echo "FAIL demo ($why)"
    exit 1
fi
echo "PASS demo"
