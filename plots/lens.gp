# lens.gp — the logit lens: probability of the next token per residual stream
# (row, top = before layer 0) x position (column, labelled with its token), each
# cell marked with the stream's top token (white on dark cells; horizontal, cut
# to 6 characters, so 12 layers x many positions never overlap). Data: lens.dat
# grid, lens_top.dat (col row "text" probability). Variables: title, nrows, npos, xtics_cmd, ytics_cmd.
load plotsdir.'/common.gp'
eval seq_palette
unset grid
set cbrange [0:1]
set xrange [-0.5:npos - 0.5]
set yrange [nrows - 0.5:-0.5]
set tics out nomirror
eval xtics_cmd
eval ytics_cmd
set xlabel 'position (its token); the cell: the stream read out through ln_final and W_U'
set ylabel 'residual stream'
set cblabel 'probability of the actual next token'
set title title."\ncell text: the top token of that stream at that position" font ',11'
plot datadir.'/lens.dat' using 1:2:3 with image notitle, \
     datadir.'/lens_top.dat' using 1:2:3:($4 > 0.55 ? 0xffffff : 0x000000) with labels tc rgb variable \
         font ',7' notitle
