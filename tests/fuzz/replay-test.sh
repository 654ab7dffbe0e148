#!/bin/sh
# Replay every fuzz target's seed corpus and regressions through its
# plain-main build (tests/fuzz/replay_<name>, made by every build, gcc
# too), one process per input, so a crash names its input.  An input
# fails when the program exits non-zero (an invariant's abort, a
# sanitizer's error exit) or prints a sanitizer or invariant report.
#
# Run by `make check` (top_srcdir and abs_top_builddir come from the
# environment; the defaults fit a run from the build directory).
# Optional arguments: the targets to replay (default: all of them).

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${abs_top_builddir:-$(pwd)}
names=${*:-"lines lenprefix stream http_server http_client jsonrpc tls_server endpoint"}

# Sanitizer reports must fail the run even where the sanitizer would go
# on (UBSan without -fno-sanitize-recover, say).
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export ASAN_OPTIONS UBSAN_OPTIONS

tmp=$(mktemp "${TMPDIR:-/tmp}/wire-replay.XXXXXX") || exit 99
trap 'rm -f "$tmp"' EXIT INT TERM

total=0
failed=0
for name in $names; do
    prog=$builddir/tests/fuzz/replay_$name
    if [ ! -x "$prog" ]; then
        echo "FAIL $name: $prog is missing"
        failed=$((failed + 1))
        continue
    fi
    count=0
    for dir in "$srcdir/tests/fuzz/corpus/$name" "$srcdir/tests/fuzz/regressions/$name"; do
        [ -d "$dir" ] || continue
        for input in "$dir"/* "$dir"/.[!.]*; do
            [ -f "$input" ] || continue
            case ${input##*/} in .keep) continue ;; esac
            count=$((count + 1))
            "$prog" "$input" >"$tmp" 2>&1
            rc=$?
            if [ $rc -ne 0 ] ||
                grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' \
                    -e 'runtime error:' -e 'fuzz invariant violated' \
                    -e 'contract violated' "$tmp"; then
                echo "FAIL $name: $input (exit $rc)"
                sed -n '1,40p' "$tmp" | sed 's/^/    /'
                failed=$((failed + 1))
            fi
        done
    done
    if [ $count -eq 0 ]; then
        echo "FAIL $name: no inputs in $srcdir/tests/fuzz/corpus/$name"
        failed=$((failed + 1))
    fi
    echo "replay_$name: $count inputs"
    total=$((total + count))
done
echo "replay: $total inputs, $failed failed"
[ $failed -eq 0 ]
