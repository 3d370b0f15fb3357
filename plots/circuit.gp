# circuit.gp — a square circuit's exact top-k accuracy curve (k = 1..K, rows
# and columns) and its singular-value spectrum, side by side.
# Data: topk.dat (k rows cols), spectrum.dat (i sigma).
# Variables: title, kmax, nsv, rows_label, cols_label.
load plotsdir.'/common.gp'
set multiplot layout 1,2 title title font ',12'
set title 'exact top-k accuracy of the diagonal'
set xlabel 'k'
set ylabel 'fraction of tokens'
set yrange [0:1.05]
set xrange [0.5:kmax + 0.5]
if (kmax <= 20) { set xtics 1 } else { set xtics autofreq }
# below the panel, never over the curves; rows solid with filled dots, columns
# dashed with open squares drawn on top, so equal curves still show both
set key below box
plot datadir.'/topk.dat' using 1:2 with linespoints ls 1 title 'rows: '.rows_label, \
     '' using 1:3 with linespoints ls 2 dt (6, 4) pt 4 ps 1.3 title 'columns: '.cols_label
set title sprintf('singular values (leading %d)', nsv)
set xlabel 'index i'
set ylabel 'sigma_i'
set autoscale y
set xrange [0.5:(nsv > 0 ? nsv : 1) + 0.5]
if (nsv <= 20) { set xtics 1 } else { set xtics autofreq }
unset key
if (nsv > 0) {
    stats datadir.'/spectrum.dat' using 2 nooutput
    if (STATS_min > 0 && STATS_max / STATS_min > 30) { set logscale y } else { set yrange [0:*] }
    plot datadir.'/spectrum.dat' using 1:2 with linespoints ls 3
} else {
    set label 1 'no singular values' at graph 0.5, 0.5 center
    plot 1/0 notitle
}
unset multiplot
