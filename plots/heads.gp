# heads.gp — induction and previous-token scores per head, layer (row, top =
# layer 0) x head (column), the top heads annotated with their values.
# Data: induction.dat, previous_token.dat grids; *_top.dat (head layer index value).
# Variables: title, nlayers, nheads, annot_font (points), annot_names (1: the
# head's name above its value; 0 on grids too fine for two lines).
load plotsdir.'/common.gp'
eval seq_palette
unset grid
set cbrange [0:1]
set xrange [-0.5:nheads - 0.5]
set yrange [nlayers - 0.5:-0.5]
set xtics 1 out nomirror
set ytics 1 out nomirror
set xlabel 'head'
set ylabel 'layer'
set cblabel 'score'
set multiplot layout 1,2 title title font ',12'
names = 'induction previous_token'
panel_titles = 'induction previous-token'
do for [i = 1:2] {
    m = word(names, i)
    set title word(panel_titles, i).' score (top heads annotated)'
    plot datadir.'/'.m.'.dat' using 1:2:3 with image notitle, \
         datadir.'/'.m.'_top.dat' using 3:2:(annot_names > 0 ? sprintf('%s\n%.2f', stringcolumn(1), $4) : sprintf('%.2f', $4)):($4 > 0.55 ? 0xffffff : 0x000000) \
             with labels font sprintf(',%d', int(annot_font)) tc rgb variable notitle
}
unset multiplot
