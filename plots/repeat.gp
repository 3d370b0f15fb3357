# repeat.gp — mean correct-token log-prob per position on [BOS, A, A]; the two
# halves (positions 0..n-1 and n..2n-1) marked with their means.
# Data: repeat.dat (position mean_logprob half). Variables: title, n, first_mean, second_mean.
load plotsdir.'/common.gp'
set title title font ',12'
set xlabel 'position (predicting the next token)'
set ylabel 'mean log-prob of the correct token'
set xrange [-0.5:2 * n - 0.5]
set key below box
set offsets 0, 0, graph 0.12, graph 0.02
set arrow 1 from n - 0.5, graph 0 to n - 0.5, graph 1 nohead dt 2 lw 1.5 lc rgb '#555555'
set label 1 'first half' at graph 0.02, graph 0.95 left
set label 2 'second half (repeat)' at first n, graph 0.95 left offset 1, 0
set arrow 2 from -0.5, first_mean to n - 0.5, first_mean nohead lw 2 lc rgb '#d62728'
set arrow 3 from n - 0.5, second_mean to 2 * n - 0.5, second_mean nohead lw 2 lc rgb '#2ca02c'
plot datadir.'/repeat.dat' using 1:2 with linespoints ls 1 ps 0.5 title 'log-prob per position', \
     NaN with lines lw 2 lc rgb '#d62728' title sprintf('first-half mean %.3f', first_mean), \
     NaN with lines lw 2 lc rgb '#2ca02c' title sprintf('second-half mean %.3f', second_mean)
