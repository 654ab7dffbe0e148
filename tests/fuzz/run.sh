#!/bin/sh
# Run each libFuzzer target for $FUZZ_SECONDS seconds, one after the
# other: `make fuzz-run` calls it as  run.sh SRCDIR BUILDDIR NAME...
#
# Each target starts from a scratch copy of its seed corpus and its
# regressions (the source tree is never written), with a per-input
# timeout, an RSS limit and a length limit that suits its inputs.  A
# crash, a leak, a timeout or running out of memory fails the run: the
# input is kept under BUILDDIR/tests/fuzz/artifacts/NAME/ (and printed
# in base64 when small), to become a regression in
# tests/fuzz/regressions/NAME/.  One summary line per target: runs,
# speed, coverage (edges and features), corpus size.

if [ $# -lt 3 ]; then
    echo "usage: FUZZ_SECONDS=N $0 SRCDIR BUILDDIR NAME..." >&2
    exit 2
fi
srcdir=$1
builddir=$2
shift 2
seconds=${FUZZ_SECONDS:-10}
case $seconds in
    '' | *[!0-9]*) echo "run.sh: FUZZ_SECONDS must be a number" >&2; exit 2 ;;
esac
[ "$seconds" -gt 0 ] || seconds=1

scratch=$(mktemp -d "${TMPDIR:-/tmp}/wire-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM

# Sanitizer and libFuzzer reports are what we look at; symbolize them.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export UBSAN_OPTIONS

summaries=
failures=
for name in "$@"; do
    prog=$builddir/tests/fuzz/fuzz_$name
    if [ ! -x "$prog" ]; then
        echo "run.sh: $prog is missing (make fuzz)" >&2
        failures="$failures $name(missing)"
        continue
    fi
    case $name in
        http_server | http_client | jsonrpc | tls_server) max_len=4096 ;;
        endpoint) max_len=512 ;;
        *) max_len=2048 ;;
    esac
    work=$scratch/$name
    mkdir -p "$work/corpus" "$work/artifacts"
    for dir in "$srcdir/tests/fuzz/corpus/$name" "$srcdir/tests/fuzz/regressions/$name"; do
        [ -d "$dir" ] || continue
        for f in "$dir"/*; do
            [ -f "$f" ] && cp "$f" "$work/corpus/"
        done
    done
    echo "== fuzz_$name: ${seconds}s, $(ls "$work/corpus" | wc -l) seeds, -max_len=$max_len"
    # FUZZ_SEED fixes libFuzzer's random seed (CI sets it, so a run
    # explores the same inputs in the same order and a finding there can
    # be replayed); unset, every run explores afresh.
    "$prog" ${FUZZ_SEED:+-seed="$FUZZ_SEED"} -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -detect_leaks=1 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        "$work/corpus" >"$work/log" 2>&1
    rc=$?
    # The last status line: "#N DONE cov: C ft: F corp: K/SIZE ...".
    last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$work/log" | tail -n 1)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$work/log" | tail -n 1)
    cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(printf '%s\n' "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[A-Za-z]*\).*/\1/p')
    found=$(ls "$work/artifacts" 2>/dev/null)
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        verdict=FAIL
        keep=$builddir/tests/fuzz/artifacts/$name
        mkdir -p "$keep"
        echo "FAIL fuzz_$name (exit $rc):"
        grep -E -m 12 'ERROR|invariant violated|contract violated|runtime error|SUMMARY|Test unit written' "$work/log" | sed 's/^/    /'
        for f in $found; do
            cp "$work/artifacts/$f" "$keep/$f"
            echo "    input: $keep/$f"
            if [ "$(wc -c <"$keep/$f")" -le 4096 ]; then
                echo "    base64: $(base64 -w0 "$keep/$f" 2>/dev/null || base64 "$keep/$f" | tr -d '\n')"
            fi
        done
        [ -n "$found" ] || { echo "    (no input kept; the log:)"; tail -n 20 "$work/log" | sed 's/^/    /'; }
        failures="$failures $name"
    else
        verdict=ok
    fi
    line="fuzz_$name: ${runs:-?} runs (${speed:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, rss ${rss:-?} MB: $verdict"
    echo "$line"
    summaries="$summaries
$line"
done

echo "== fuzz summary (${seconds}s each)$summaries"
if [ -n "$failures" ]; then
    echo "fuzz-run: FAILED:$failures"
    exit 1
fi
echo "fuzz-run: all $# targets ok"
