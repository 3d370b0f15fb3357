# common.gp — palettes and helpers shared by circuitc's chart templates.
# Loaded by the templates; circuitc's driver has already set the terminal,
# the output and the variables datadir, plotsdir, outfmt, width, height, title.

# sequential scale for scores in [0, 1]: white -> dark blue
seq_palette = "set palette defined (0 '#ffffff', 0.15 '#deebf7', 0.4 '#9ecae1', 0.7 '#3182bd', 1 '#08306b'); set palette maxcolors 0"
# diverging scale for signed values, symmetric around 0 (set cbrange [-m:m]): blue < 0 < red
div_palette = "set palette defined (-1 '#2166ac', -0.5 '#92c5de', 0 '#f7f7f7', 0.5 '#f4a582', 1 '#b2182b')"

set border lw 1
set style line 1 lc rgb '#1f77b4' lw 2 pt 7 ps 0.8
set style line 2 lc rgb '#d62728' lw 2 pt 5 ps 0.8
set style line 3 lc rgb '#2ca02c' lw 2 pt 9 ps 0.8
set style line 4 lc rgb '#555555' lw 1 dt 2
set grid back lc rgb '#dddddd'

# head_tics(axis, names, per_layer): tic labels for a head axis: every head's
# name when there are at most 48, else "L<l>" at the first head of each layer.
head_tics_cmd(axis, names, per_layer) = (words(names) <= 48) ? \
    sprintf("set %stics (%s) rotate by 90 right font ',8'", axis, join_tics(names, 1)) : \
    sprintf("set %stics (%s) font ',8'", axis, layer_tics(names, per_layer))
join_tics(names, step) = join_rec(names, 1, step)
join_rec(names, i, step) = (i > words(names)) ? "" : \
    sprintf("'%s' %d%s", word(names, i), i - 1, (i + step > words(names)) ? "" : ", ") . join_rec(names, i + step, step)
layer_tics(names, per_layer) = layer_rec(names, 1, per_layer)
layer_rec(names, i, per_layer) = (i > words(names)) ? "" : \
    sprintf("'L%d' %d%s", (i - 1) / per_layer, i - 1, (i + per_layer > words(names)) ? "" : ", ") . layer_rec(names, i + per_layer, per_layer)
