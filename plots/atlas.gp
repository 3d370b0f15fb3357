# atlas.gp — the atlas heatmaps: top-1 accuracy of every earlier head (row,
# top = L0H0) -> later head (column) circuit, rows (query tokens) and columns
# (key tokens) side by side. Data: atlas_rows.dat, atlas_cols.dat grids
# (col row value); value -1: not an earlier -> later pair (grey), -2: certified
# below min_acc by the bound, not computed exactly (pale yellow).
# Variables: title, heads (word list), nheads, heads_per_layer, min_acc.
load plotsdir.'/common.gp'
eval seq_palette
unset grid
set cbrange [0:1]
set xrange [-0.5:nheads - 0.5]
set yrange [nheads - 0.5:-0.5]
set size ratio -1
eval head_tics_cmd('x', heads, heads_per_layer)
eval head_tics_cmd('y', heads, heads_per_layer)
set ytics norotate
set xlabel 'later head'
set ylabel 'earlier head'
set cblabel 'top-1 accuracy'
set object 1 rectangle from graph 0, 0 to graph 1, 1 behind fillcolor rgb '#e0e0e0' fillstyle solid noborder
set multiplot layout 1, 2 title title."\n".sprintf('pale yellow: top-5 accuracy certified below %g (no exact pass); grey: not an earlier -> later pair', min_acc) font ',11'
do for [k = 1:2] {
    f = datadir.'/'.word('atlas_rows.dat atlas_cols.dat', k)
    set title (k == 1 ? 'rows (query token)' : 'columns (key token)')
    plot f using 1:2:($3 >= 0 ? $3 : NaN) with image notitle, \
         f using 1:($3 == -2 ? $2 : NaN):(0.5):(0.5) with boxxy fillstyle solid noborder fillcolor rgb '#fff5d6' notitle
}
unset multiplot
