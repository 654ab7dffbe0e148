#!/usr/bin/env bash
# demo-test: run examples/demo --verbose (one JSON-RPC calculator served and
# called over every stack) and check:
#  - the exit status is 0;
#  - the header line is "stack calls errors result us/call";
#  - each of the rows below is there exactly once, and no other: it made
#    every call (the calls column is the --calls given), checked at least
#    one error answer (the errors column, and the verbose line after it:
#    "checked divide [A, 0] -> error -32000 "division by zero""), says ok,
#    and gives a time per call;
#  - the temporary directory it named (where the Unix sockets were) is
#    gone, and so is the child of the subprocess row;
#  - --help exits 0 and a bad argument exits 2.
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

calls=150
expected=(
    "jsonrpc / lines / tcp"
    "jsonrpc / lines / unix"
    "jsonrpc / lines / mem"
    "jsonrpc / lines / tls / tcp"
    "jsonrpc / lines / tls / unix"
    "jsonrpc / http / tcp"
    "jsonrpc / http / tls / tcp"
    "jsonrpc / lines / subprocess"
    "jsonrpc / lines / serial (pty)"
    "jsonrpc / lines / file (replay)"
)

out=$(timeout 120 "$demo" --verbose --calls "$calls" 2>&1)
rc=$?
printf '%s\n' "$out"

failed=0
fail() { echo "FAIL demo ($1)"; failed=1; }

[ "$rc" -eq 0 ] || fail "exit status $rc"

mapfile -t lines <<<"$out"
read -r -a head <<<"${lines[0]:-}"
[ "${head[*]:-}" = "stack calls errors result us/call" ] ||
    fail "header line '${lines[0]:-}'"

# Rows: the stack's name (single spaces inside), then two or more spaces,
# then calls, errors, result and the time per call.  Verbose lines start
# with four spaces and belong to the row above.
declare -A seen=()
row=
tmpdir=
child=
for ((i = 1; i < ${#lines[@]}; i++)); do
    line=${lines[i]}
    case $line in
    "    at unix:"*/calc.sock)
        d=${line#    at unix:}
        tmpdir=${d%/calc.sock}
        continue
        ;;
    "    at exec:"*"(pid "*")")
        child=${line##*(pid }
        child=${child%)}
        continue
        ;;
    "    checked divide ["*", 0] -> error -32000 \"division by zero\"")
        [ -n "$row" ] && seen[$row]=checked
        continue
        ;;
    "    "*) continue ;;
    esac
    row=${line%%  *}
    read -r n_calls n_errors result per_call rest <<<"${line#"$row"}"
    if [ -n "${seen[$row]+x}" ]; then
        fail "row '$row' twice"
    fi
    seen[$row]=row
    known=0
    for e in "${expected[@]}"; do [ "$e" = "$row" ] && known=1; done
    if [ "$known" -eq 0 ]; then
        fail "unexpected row '$line'"
    elif [ "$result" != ok ]; then
        fail "row '$line'"
    elif [ "$n_calls" != "$calls" ]; then
        fail "row '$row' made $n_calls calls, want $calls"
    elif ! [ "$n_errors" -ge 1 ] 2>/dev/null; then
        fail "row '$row' checked no error answer"
    elif ! [[ $per_call =~ ^[0-9]+\.[0-9]$ ]] || [ -n "$rest" ]; then
        fail "row '$row': bad time per call in '$line'"
    fi
done
for e in "${expected[@]}"; do
    case ${seen[$e]:-} in
    checked) ;;
    row) fail "row '$e' shows no checked division by zero" ;;
    *) fail "row '$e' is missing" ;;
    esac
done

if [ -z "$tmpdir" ]; then
    fail "no temporary directory named"
elif [ -e "$tmpdir" ]; then
    fail "$tmpdir is left behind"
fi
if [ -z "$child" ]; then
    fail "no child pid named"
elif kill -0 "$child" 2>/dev/null; then
    fail "the child $child is still there"
fi

timeout 10 "$demo" --help >/dev/null 2>&1 || fail "--help did not exit 0"
timeout 10 "$demo" --no-such-option >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "a bad argument exited $rc, want 2"

if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "PASS demo"
