# heatmap.gp — a labelled heatmap (activation patching: layer x position with
# the prompt's tokens as column labels), on a colour scale symmetric around 0.
# Data: heatmap.dat grid (col row value). Variables: title, subtitle, nrows,
# ncols, row0.. and col0.. (labels), xname, yname, cbname, vmax (max |value|,
# or the caller's floor when larger: noise is not drawn saturated), scale_note,
# marks (how many cells marks.dat frames: ablate's ablated heads; 0: none).
load plotsdir.'/common.gp'
eval div_palette
unset grid
set cbrange [-vmax:vmax]
set xrange [-0.5:ncols - 0.5]
set yrange [nrows - 0.5:-0.5]
set xtics out nomirror rotate by 45 right
set ytics out nomirror
set xtics ()
set ytics ()
set for [i = 0:ncols - 1] xtics add (value(sprintf('col%d', i)) i)
set for [i = 0:nrows - 1] ytics add (value(sprintf('row%d', i)) i)
set xlabel xname
set ylabel yname
set cblabel cbname
set title title."\n".subtitle."\n".scale_note font ',11'
if (marks > 0) {
    plot datadir.'/heatmap.dat' using 1:2:3 with image notitle, \
         datadir.'/marks.dat' using 1:2:(0.5):(0.5) with boxxyerror fs empty lc rgb 'black' lw 3 notitle
} else {
    plot datadir.'/heatmap.dat' using 1:2:3 with image notitle
}
