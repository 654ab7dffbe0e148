#!/usr/bin/env bash
# shellcheck disable=SC2034 # CSV_DONE, CSV_FILE: shared with bench/run
#
# csv.sh: the CSV and PNG side of bench/run, sourced by it (after
# run-peers.sh, whose log and die it uses).  bench/run's compare and
# skipped call csv_row for every table row; csv_sync also turns rows that
# a group added to LINES directly (a "skipped" line) into CSV rows, so
# every line of the table is in the CSV, in the table's order.
#
# The CSV ($BENCH_OUT/bench.csv, written afresh by every run, a row
# appended as soon as its figure is known):
#   # comment lines: the run's date (UTC), the commit, the host's CPU
#   #   model and count, ROUNDS, ONLY, the load average at the start
#   #   and (last line) at the end
#   benchmark,peer,libwire,peer_value,unit,ratio,better,note
#   one line per table row: the two figures in UNIT, the ratio as the
#   table prints it (> 1: libwire ahead; peer / libwire when lower is
#   better), better = "higher" or "lower" (which figure wins), and for a
#   skipped row empty figures and the reason in note.  Text fields never
#   hold a comma (it becomes ";") or a double quote, so no field is
#   quoted.
# The PNG ($BENCH_OUT/bench.png) is bench/plot.gp's chart of that CSV:
#   gnuplot -c bench/plot.gp bench.csv bench.png
# Without gnuplot (Debian: gnuplot-nox) the run says "gnuplot not found:
# no PNG" and the CSV is still written.

CSV_DONE=0 # LINES entries already in the CSV

# csv_text TEXT: TEXT as a CSV field (commas to ";", quotes to "'").
csv_text() {
    local s=${1//,/;}
    s=${s//\"/\'}
    printf '%s' "${s//$'\n'/ }"
}

# csv_open: create BENCH_OUT (default $BUILD/bench-results) and write the
# CSV's header.  Sets CSV_FILE and PNG_FILE.
csv_open() {
    local cpu commit
    BENCH_OUT=${BENCH_OUT:-$BUILD/bench-results}
    mkdir -p "$BENCH_OUT" || die "cannot create BENCH_OUT=$BENCH_OUT"
    CSV_FILE=$BENCH_OUT/bench.csv
    PNG_FILE=$BENCH_OUT/bench.png
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null) || cpu=""
    commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null) || commit=unknown
    {
        printf '# libwire bench/run\n'
        printf '# date: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf '# commit: %s\n' "$commit"
        printf '# cpu: %s x %s\n' "$(csv_text "${cpu:-$(uname -m)}")" "$(nproc)"
        printf '# rounds: %s\n' "$ROUNDS"
        printf '# only: %s\n' "$ONLY"
        printf '# load at start: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf 'benchmark,peer,libwire,peer_value,unit,ratio,better,note\n'
    } >"$CSV_FILE" || die "cannot write $CSV_FILE"
}

# csv_row BENCH PEER WIRE PEER_FIGURE UNIT RATIO BETTER [NOTE]
csv_row() {
    printf '%s,%s,%s,%s,%s,%s,%s,%s\n' "$(csv_text "$1")" "$(csv_text "$2")" \
        "$(csv_text "$3")" "$(csv_text "$4")" "$(csv_text "$5")" "$(csv_text "$6")" \
        "$7" "$(csv_text "${8:-}")" >>"$CSV_FILE"
}

# csv_sync: add the LINES entries not yet in the CSV (lines a group wrote
# itself: the benchmark in the first 24 columns, the rest as the note).
csv_sync() {
    local line bench note
    while ((CSV_DONE < ${#LINES[@]})); do
        line=${LINES[CSV_DONE]}
        bench=${line:0:24}
        note=${line:24}
        bench=${bench%"${bench##*[![:space:]]}"}
        note=${note#"${note%%[![:space:]]*}"}
        csv_row "$bench" "" "" "" "" "" "" "$note"
        CSV_DONE=$((CSV_DONE + 1))
    done
}

# csv_close: finish the CSV and draw the PNG; prints where both are.
csv_close() {
    csv_sync
    printf '# load at end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$CSV_FILE"
    printf 'csv: %s\n' "$CSV_FILE"
    rm -f "$PNG_FILE"
    if ! command -v gnuplot >/dev/null 2>&1; then
        printf 'gnuplot not found: no PNG\n'
    elif timeout 60 gnuplot -c "$SRC/bench/plot.gp" "$CSV_FILE" "$PNG_FILE" \
        2>"$BENCH_TMP/gnuplot.err" && [[ -s $PNG_FILE ]]; then
        printf 'png: %s\n' "$PNG_FILE"
    else
        cat "$BENCH_TMP/gnuplot.err" >&2
        printf 'gnuplot failed: no PNG\n'
    fi
}
