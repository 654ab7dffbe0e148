# plot.gp: bench/run's chart.  Draws each row of a bench/run CSV (see
# bench/csv.sh) that has a ratio as a horizontal bar from 1.0 to that
# ratio (libwire / peer, or peer / libwire where lower is better, as the
# table prints it), labelled "benchmark — peer", on a log scale with a
# line at 1.0: bars to the right (green) are rows where libwire is ahead,
# bars to the left (red) rows where the peer is; each bar's ratio is
# printed beside the line, and the two figures ("libwire vs peer UNIT")
# in a column on the right.  Skipped rows are left out.  The subtitle is
# the run's date, CPU, rounds and load from the CSV's comment lines.
#
# Usage: gnuplot -c bench/plot.gp BENCH.CSV OUT.PNG   (bench/run does it)

if (ARGC < 2) {
    print "usage: gnuplot -c bench/plot.gp BENCH.CSV OUT.PNG"
    exit status 2
}
csv = ARG1
png = ARG2

# The rows with a ratio, header and comments dropped (text fields hold no
# comma, so splitting on commas is exact).
rows = "< awk -F, '!/^#/ && $1 != \"benchmark\" && $6 != \"\"' '" . csv . "'"
n = int(system("awk -F, '!/^#/ && $1 != \"benchmark\" && $6 != \"\"' '" . csv . "' | wc -l"))
if (n == 0) {
    print "plot.gp: no row with a ratio in " . csv
    exit status 1
}
info = system("awk -F': ' '/^# (date|cpu|rounds|load at start):/ { sub(/^# /, \"\"); s = s (s == \"\" ? \"\" : \"   \") $0 } END { print s }' '" . csv . "'")

set datafile separator comma
stats rows using 6 nooutput
lo = (STATS_min < 1 ? STATS_min : 1) / 1.6
hi = (STATS_max > 1 ? STATS_max : 1) * 1.6

set encoding utf8
set terminal pngcairo size 1200, (130 + 24 * n) font "sans,10"
set output png
set title "libwire / peer, measured in one run (> 1: libwire ahead; for lower-is-better rows peer / libwire)\n{/*0.85 " . info . "}"
set logscale x 2
set xrange [lo:hi]
set xtics (0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64) format "%g×" nomirror
set yrange [n - 0.5:-0.5]
set ytics nomirror scale 0 noenhanced
set grid xtics lc rgb "#dddddd"
set border 3
set rmargin 28
set label 1 "libwire vs peer" at graph 1, graph 1 offset char 1, char 1 font ",9" tc rgb "#555555"
unset key
set arrow 1 from 1, graph 0 to 1, graph 1 nohead lw 2 lc rgb "#333333" front
set style fill solid 0.85 noborder

label(b, p) = b . " — " . p
bar(r) = r >= 1 ? 0x2e8b57 : 0xcd5c5c
plot rows using (1):0:($6 < 1 ? $6 : 1):($6 < 1 ? 1 : $6):($0 - 0.35):($0 + 0.35):(bar($6)):ytic(label(strcol(1), strcol(2))) \
         with boxxyerror lc rgb variable, \
     rows using ($6 >= 1 ? $6 : 1):0:(sprintf("%.2f×", $6)) with labels left offset char 0.5, 0 font ",9", \
     rows using (hi):0:(sprintf("%s vs %s %s", strcol(3), strcol(4), strcol(5))) with labels left offset char 1, 0 font ",9" tc rgb "#555555"
