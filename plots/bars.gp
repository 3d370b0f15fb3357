# bars.gp — grouped bars in [0, 1], one group per label, one bar per series.
# Data: bars.dat (label value...). Variables: title, series0.. (names), nseries, ngroups,
# ylabel, value_labels (1: each bar's value over it; 0 when there are too many to fit).
# The key sits outside, right of the bars, never over them.
load plotsdir.'/common.gp'
set title title font ',12'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:1.08]
set ylabel ylabel
set xtics rotate by 30 right nomirror
set grid ytics
set key outside right top vertical box
colors = "#1f77b4 #ff7f0e #2ca02c #d62728"
plot for [s = 1:nseries] datadir.'/bars.dat' using (column(s + 1)):xtic(1) lc rgb word(colors, (s - 1) % 4 + 1) title value(sprintf('series%d', s - 1)), \
     for [s = 1:(value_labels > 0 ? nseries : 0)] '' using ($0 - 0.45 + (s - 0.5) * 0.9 / (nseries + 1) + 0.45 / (nseries + 1)):(column(s + 1)):(sprintf('%.3f', column(s + 1))) with labels offset 0, 0.6 font ',8' notitle
