# gnuplot: the picture of a make bench result (bench/plot.sh sets wl, sw,
# sat, out, ceiling, ttl and sweep).

set terminal svg size 1280,540 dynamic font "sans,13" background "white"
set output out
set datafile separator "\t"
set encoding utf8
set termoption noenhanced

blue = "#3b6fb6"
red  = "#c0392b"

if (sweep) {
    set multiplot layout 1,2 title ttl font ",15"
} else {
    set multiplot layout 1,1 title ttl font ",15"
}

# --- throughput per workload, the ceiling's fractions on the top axis ---------

set title "Requests/s per workload (wrk, 64 connections)"
set style fill solid 0.85 noborder
set yrange [:] reverse
set offsets 0, 0, 0.6, 0.6
set xrange [0:ceiling * 2]
set xtics nomirror format "%.0s%c" font ",11"
set x2range [0:ceiling * 2]
set x2tics ("0.25×" ceiling * 0.25, "0.5×" ceiling * 0.5, \
            "0.75×" ceiling * 0.75, "1× ceiling" ceiling) font ",11"
set grid x2tics lc rgb "#bbbbbb" dt 2
set ytics nomirror font ",12"
set xlabel "requests/s"
unset key
plot wl using ($2 / 2):0:($2 / 2):(0.33):ytic(1) with boxxyerror \
        lc rgb blue, \
     wl using 2:0:3 with labels left offset 0.6, 0 font ",11"

# --- latency sweep of accepted votes ----------------------------------------

if (sweep) {
    reset
    set datafile separator "\t"
    set termoption noenhanced
    set title "Accepted votes at a constant offered rate (cast-load)"
    set logscale y
    set grid ytics mytics lc rgb "#dddddd"
    set xlabel "offered votes/s (% of the wrk maximum)" offset 0, -0.8
    set ylabel "latency, ms, from the intended send time"
    set bmargin 5
    set xrange [0:*]
    set offsets 0, graph 0.08, graph 0.12, graph 0.3
    set xtics nomirror font ",11"
    set ytics nomirror
    set key bottom right Left reverse font ",11"
    plot sw using 2:4:xtic(sprintf("%d %%\n%d", $1, $2)) with linespoints \
            pt 7 ps 1.2 lw 2 lc rgb blue title "p50", \
         sw using 2:5 with linespoints pt 5 ps 1.2 lw 2 lc rgb red \
            title "p99", \
         sw using 2:5:6 with labels offset 0, 1.2 font ",10" notitle, \
         sat using 1:2:xtic(sprintf("wrk\n%d", $1)) with points pt 6 \
            ps 1.8 lw 2 lc rgb blue title "wrk at saturation, p50", \
         sat using 1:3 with points pt 4 ps 1.8 lw 2 lc rgb red \
            title "wrk at saturation, p99 (closed loop)"
}

unset multiplot
