# dla.gp — direct logit attribution, two panels: signed bars of the embeddings,
# every layer's attention and MLP and the unembedding bias; a layer (row, top =
# layer 0) x head heatmap on a colour scale symmetric around 0.
# Data: dla_parts.dat (index value), dla_heads.dat grid.
# Variables: title, nparts, nlayers, nheads, vmax, xtics_cmd, ylabel.
load plotsdir.'/common.gp'
set multiplot layout 1, 2 title title font ',12'
set size 0.58, 0.95
set origin 0, 0
set style fill solid 0.85 border -1
set boxwidth 0.8
set xrange [-0.7:nparts - 0.3]
set xtics out nomirror
eval xtics_cmd
set grid ytics
set ylabel ylabel
set xzeroaxis lt -1
plot datadir.'/dla_parts.dat' using 1:2:($2 >= 0 ? 0xb2182b : 0x2166ac) with boxes lc rgb variable notitle
set size 0.42, 0.95
set origin 0.58, 0
unset grid
unset xzeroaxis
eval div_palette
set cbrange [-vmax:vmax]
set xrange [-0.5:nheads - 0.5]
set yrange [nlayers - 0.5:-0.5]
set xtics 1 out nomirror norotate font ',9'
set ytics 1 out nomirror
set xlabel 'head'
set ylabel 'layer'
set cblabel 'contribution per head'
plot datadir.'/dla_heads.dat' using 1:2:3 with image notitle
unset multiplot
