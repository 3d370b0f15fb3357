# comp_scores.gp — composition-score heatmaps, earlier head (row, top = L0H0)
# x later head (column), one panel per mode; empty cells: same or later layer.
# Data: comp_<mode>.dat grids (col row value).
# Variables: title, modes (word list), heads (word list), nheads,
# heads_per_layer, vmax, baseline, baseline_std (NaN without a baseline).
load plotsdir.'/common.gp'
eval seq_palette
unset grid
set cbrange [0:vmax]
set xrange [-0.5:nheads - 0.5]
set yrange [nheads - 0.5:-0.5]
set size ratio -1
eval head_tics_cmd('x', heads, heads_per_layer)
eval head_tics_cmd('y', heads, heads_per_layer)
set ytics norotate
set xlabel 'later head'
set ylabel 'earlier head'
basetext = (baseline == baseline) ? sprintf('random baseline %.4f (std %.4f)', baseline, baseline_std) : 'no random baseline'
unset cblabel
set rmargin 13
# colour-bar tics at multiples of the random baseline: "0.088 baseline", "0.177 (2x)", ...
if (baseline == baseline && baseline > 0) {
    nb = int(vmax / baseline)
    st = (nb <= 6) ? 1 : int(ceil(nb / 6.0))
    set cbtics ('0' 0) out
    set cbtics add (sprintf('%.3f baseline', baseline) baseline)
    if (nb >= 2) { do for [i = 2:nb] { if (i % st == 0) { set cbtics add (sprintf('%.3f (%dx)', i * baseline, i) i * baseline) } } }
}
set object 1 rectangle from graph 0, 0 to graph 1, 1 behind fillcolor rgb '#e0e0e0' fillstyle solid noborder
set multiplot layout 1, words(modes) title title."\n".basetext."\n(grey: not an earlier -> later pair)" font ',11'
do for [i = 1:words(modes)] {
    m = word(modes, i)
    set title word('Q K V', strstrt('qkv', m)).'-composition'
    plot datadir.'/comp_'.m.'.dat' using 1:2:3 with image notitle
}
unset multiplot
