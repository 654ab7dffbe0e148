#!/bin/sh
# The protocol x transport matrix (tests/check_matrix) again, with a
# seeded fault layer (<wire/fault.h>) under every protocol stack on both
# ends: input and output re-cut into random pieces down to one byte,
# input joined and now and then delayed, short writes (see fault_wrap in
# tests/matrix.c).  Every row must keep its guarantees over every
# transport.
#
# Environment:
#   WIRE_TEST_SEED     the seed (default 1337): it seeds the faults
#                      (WIRE_TEST_FAULT) and the matrix's messages alike,
#                      so one number replays a run; 0 is refused (it
#                      would turn the faults off).
#   WIRE_TEST_BULK_MB  sizes the echo cells (default 8: each sends about
#                      512 KiB plus its largest messages, against the
#                      plain matrix's 4 MiB), to keep the run short.
#   WIRE_TEST_PROTO, WIRE_TEST_ONLY, WIRE_TEST_VERBOSE ... are the
#                      matrix's own, and pass through.
#
# The log ends with Check's "NN%: Checks: N, Failures: F, Errors: E" line.
set -u

builddir=${abs_top_builddir:-.}
prog="$builddir/tests/check_matrix"
if [ ! -x "$prog" ]; then
    echo "matrix-fault-test: $prog is not built"
    exit 99
fi

seed=${WIRE_TEST_SEED:-1337}
case $seed in
    ''|*[!0-9xXa-fA-F]*)
        echo "matrix-fault-test: WIRE_TEST_SEED=$seed is not a number"
        exit 99 ;;
esac
if [ "$((seed))" -eq 0 ]; then
    echo "matrix-fault-test: WIRE_TEST_SEED=0 would turn the faults off"
    exit 99
fi
bulk=${WIRE_TEST_BULK_MB:-8}

replay="WIRE_TEST_FAULT=$seed WIRE_TEST_SEED=$seed WIRE_TEST_BULK_MB=$bulk"
echo "matrix-fault-test: fault seed $seed"
echo "matrix-fault-test: replay a cell with: $replay WIRE_TEST_PROTO=<row> WIRE_TEST_ONLY=<transport> $prog"

out=$(mktemp "${TMPDIR:-/tmp}/wire-mxf-XXXXXX") || exit 99
trap 'rm -f "$out"' EXIT
start=$(date +%s)
WIRE_TEST_FAULT=$seed WIRE_TEST_SEED=$seed WIRE_TEST_BULK_MB=$bulk \
    "$prog" >"$out" 2>&1
rc=$?
end=$(date +%s)
cat "$out"

summary=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$out" | tail -n 1)
echo "matrix-fault-test: fault seed $seed, $((end - start)) s, exit status $rc"
if [ -z "$summary" ]; then
    echo "matrix-fault-test: check_matrix gave no summary"
    [ "$rc" -eq 0 ] && rc=99
    exit "$rc"
fi
[ "$rc" -ne 0 ] && echo "matrix-fault-test: FAILED; replay with $replay"
echo "$summary"
exit "$rc"
