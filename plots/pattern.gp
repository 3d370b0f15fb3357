# pattern.gp — one head's attention pattern: destination (row, top = position 0)
# x source (column). On [BOS, A, A] (n > 0) the induction diagonal
# source = destination - n + 1 is outlined and the halves are marked; on a
# prompt (n = 0) both axes are labelled with its tokens.
# Data: pattern.dat grid. Variables: title, n, npos; xtics_cmd, ytics_cmd (prompts).
load plotsdir.'/common.gp'
eval seq_palette
unset grid
set cbrange [0:1]
set xrange [-0.5:npos - 0.5]
set yrange [npos - 0.5:-0.5]
set size ratio -1
set xtics out nomirror
set ytics out nomirror
set xlabel 'source position'
set ylabel 'destination position'
set cblabel 'attention'
if (exists('xtics_cmd')) { eval xtics_cmd; eval ytics_cmd }
if (n > 0) {
set title title."\nred dashes: induction diagonal (source = dest - ".sprintf('%d', n - 1).'); dotted: the repeat starts' font ',11'
# the induction diagonal's cells lie on x = y - n + 1; frame them 0.9 cells either side
set arrow 1 from 0.5 - 0.9, n - 0.5 to n + 1.5 - 0.9, npos - 0.5 nohead dt 2 lw 1.2 lc rgb '#d62728' front
set arrow 4 from 0.5 + 0.9, n - 0.5 to n + 1.5 + 0.9, npos - 0.5 nohead dt 2 lw 1.2 lc rgb '#d62728' front
set arrow 2 from -0.5, n + 0.5 to npos - 0.5, n + 0.5 nohead dt 3 lw 1 lc rgb '#555555' front
set arrow 3 from n + 0.5, -0.5 to n + 0.5, npos - 0.5 nohead dt 3 lw 1 lc rgb '#555555' front
} else {
set title title font ',11'
}
plot datadir.'/pattern.dat' using 1:2:3 with image notitle
