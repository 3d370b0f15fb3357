# patch.gp — activation-patching sweep: loss(patched) - loss(clean) per layer
# (row, top = layer 0) x patched position, on a colour scale symmetric around 0.
# Data: patch.dat grid (col = position - n). Variables: title, nlayers, n,
# positions (word list n..2n), vmax (max |delta|), clean_loss.
load plotsdir.'/common.gp'
eval div_palette
unset grid
set cbrange [-vmax:vmax]
set xrange [-0.5:n + 0.5]
set yrange [nlayers - 0.5:-0.5]
set ytics 1 out nomirror
step = (n + 1 <= 26) ? 1 : (n + 1 <= 60) ? 5 : 10
set xtics out nomirror
set for [i = 0:n:step] xtics add (sprintf('%d', n + i) i)
set xlabel 'patched position p (mlp_out[p] <- clean mlp_out[p - n])'
set ylabel 'layer'
set cblabel 'loss change (patched - clean)'
set title title."\n".sprintf('clean loss %.4f; blue: lower loss, red: higher', clean_loss) font ',11'
plot datadir.'/patch.dat' using 1:2:3 with image notitle
