/* page.js: renders a circuitc interactive page from the JSON embedded in it
 * (script#cc-data: {view, title, data}; src/output/html.c writes the page).
 * Plain ES2015, no library, no network. Views: pattern (a layer's heads,
 * click one to enlarge), dla, lens, heatmap (patching), tables (sortable).
 * Every value a tooltip shows is the JSON's number as JavaScript prints it
 * (String(v): the shortest text that reads back to the same double), so the
 * browser test compares it with the JSON exactly. */
(function () {
  'use strict';

  var root = document.getElementById('cc-root');
  var tip = document.getElementById('cc-tip');

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  /* A token as text with its whitespace made visible. */
  function tok(t) {
    return String(t).replace(/\n/g, '\u21b5').replace(/\t/g, '\u21e5').replace(/ /g, '\u00b7');
  }

  function num(v) { return v === null || v === undefined ? 'null' : String(v); }

  /* The tooltip: LINES are [key, value] pairs; each value is kept in a span
   * whose data-key is the key, for the tests. */
  function showTip(ev, lines) {
    tip.textContent = '';
    lines.forEach(function (l) {
      var row = el('div');
      row.appendChild(el('span', 'k', l[0]));
      var v = el('span', 'v', l[1]);
      v.setAttribute('data-key', l[0]);
      row.appendChild(v);
      tip.appendChild(row);
    });
    tip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth) x = Math.max(0, ev.clientX - w - 10);
    if (y + h > window.innerHeight) y = Math.max(0, ev.clientY - h - 10);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }
  function hideTip() { tip.hidden = true; }
  function hover(node, lines) {
    node.addEventListener('mouseenter', function (ev) { showTip(ev, lines()); });
    node.addEventListener('mousemove', function (ev) { showTip(ev, lines()); });
    node.addEventListener('mouseleave', hideTip);
  }

  /* Colours: sequential white -> blue over [0, hi]; diverging red -> white ->
   * blue over [-m, m]. null is grey. */
  function mix(a, b, t) {
    return 'rgb(' + a.map(function (x, i) { return Math.round(x + (b[i] - x) * t); }).join(',') + ')';
  }
  var WHITE = [255, 255, 255], BLUE = [31, 95, 191], RED = [200, 40, 40];
  function seqColour(v, hi) {
    if (v === null || !isFinite(v)) return '#bbb';
    return mix(WHITE, BLUE, Math.max(0, Math.min(1, hi > 0 ? v / hi : 0)));
  }
  function divColour(v, m) {
    if (v === null || !isFinite(v)) return '#bbb';
    var t = m > 0 ? Math.max(-1, Math.min(1, v / m)) : 0;
    return t >= 0 ? mix(WHITE, BLUE, t) : mix(WHITE, RED, -t);
  }
  function maxAbs(values) {
    var m = 0;
    values.forEach(function (v) { if (v !== null && isFinite(v)) m = Math.max(m, Math.abs(v)); });
    return m;
  }

  /* A labelled grid of cells: ROWS and COLS are label texts; CELL(i, j)
   * returns {colour, text, tip} (tip: a function giving tooltip lines). */
  function grid(rows, cols, cell, size) {
    var g = el('div', 'cc-grid');
    g.style.gridTemplateColumns = 'auto repeat(' + cols.length + ', ' + (size || 22) + 'px)';
    g.appendChild(el('div', 'cc-label'));
    cols.forEach(function (c) { g.appendChild(el('div', 'cc-label cc-col', c)); });
    rows.forEach(function (r, i) {
      g.appendChild(el('div', 'cc-label', r));
      cols.forEach(function (c, j) {
        var spec = cell(i, j), d = el('div', 'cc-cell', spec.text || '');
        d.style.background = spec.colour;
        d.style.height = (size || 22) + 'px';
        d.setAttribute('data-row', i);
        d.setAttribute('data-col', j);
        if (spec.tip) hover(d, spec.tip);
        g.appendChild(d);
      });
    });
    return g;
  }

  function posLabel(tokens, p) { return p + ' ' + tok(tokens[p]); }

  /* ---- pattern: the heads of one layer, or a list of heads ----------------- */

  function thumbnail(h, px) {
    var T = h.pattern.length, c = el('canvas');
    c.width = T;
    c.height = T;
    c.style.width = c.style.height = px + 'px';
    var ctx = c.getContext('2d');
    for (var i = 0; i < T; i++)
      for (var j = 0; j < T; j++) {
        ctx.fillStyle = j > i ? '#f4f4f4' : seqColour(h.pattern[i][j], 1);
        ctx.fillRect(j, i, 1, 1);
      }
    return c;
  }

  function patternFocus(box, h) {
    box.textContent = '';
    box.appendChild(el('h2', null, h.head + ' attention pattern (rows: destination, columns: source)'));
    var T = h.pattern.length, labels = h.tokens.map(function (t, p) { return posLabel(h.tokens, p); });
    box.appendChild(grid(labels, labels, function (i, j) {
      var w = h.pattern[i][j];
      return {colour: j > i ? '#f4f4f4' : seqColour(w, 1), tip: function () {
        return [['head', h.head], ['destination', posLabel(h.tokens, i)], ['source', posLabel(h.tokens, j)],
                ['weight', num(w)]];
      }};
    }, T > 40 ? 12 : 22));
    box.setAttribute('data-head', h.head);
  }

  function viewPattern(d) {
    root.appendChild(el('p', 'cc-note', (d.layer === null ? 'Each head\'s attention pattern. ' : 'Layer ' + d.layer +
                        ': every head\'s attention pattern. ') + 'Click a head to enlarge it; hover a cell for the ' +
                        'destination and source tokens and the weight.'));
    var heads = el('div', 'cc-heads'), focus = el('div', 'cc-focus');
    focus.id = 'cc-focus';
    root.appendChild(heads);
    root.appendChild(focus);
    var thumbs = d.heads.map(function (h, k) {
      var t = el('div', 'cc-thumb');
      t.setAttribute('data-head', h.head);
      t.appendChild(thumbnail(h, 96));
      t.appendChild(el('div', null, h.head));
      t.addEventListener('click', function () { select(k); });
      hover(t, function () { return [['head', h.head], ['click', 'enlarge']]; });
      heads.appendChild(t);
      return t;
    });
    function select(k) {
      thumbs.forEach(function (t, i) { t.classList.toggle('cc-on', i === k); });
      patternFocus(focus, d.heads[k]);
    }
    select(Math.max(0, d.selected || 0));
  }

  /* ---- dla: the attribution of one position ----------------------------- */

  function viewDla(d) {
    if (d.positions) return viewDlaAll(d);
    renderDla(root, d);
  }

  function renderDla(box, d) {
    var metric = 'logit(' + tok(d.answer.token) + ')' + (d.wrong ? ' - logit(' + tok(d.wrong.token) + ')' : '');
    box.appendChild(el('p', 'cc-note', 'Direct logit attribution of ' + metric + ' at position ' + d.position +
                       '; the parts sum to ' + num(d.sum) + ' (the model: ' + num(d.logit) + ').'));
    if (!box.classList.contains('cc-detail')) box.appendChild(tokenText(d.tokens, d.ids, d.position));
    box.appendChild(el('h2', null, 'Heads (layer x head), diverging around 0'));
    var m = maxAbs([].concat.apply([], d.heads));
    var rows = d.heads.map(function (r, l) { return 'L' + l; });
    var cols = d.heads[0].map(function (v, h) { return 'H' + h; });
    var g = grid(rows, cols, function (l, h) {
      var v = d.heads[l][h];
      return {colour: divColour(v, m), tip: function () { return [['head', 'L' + l + 'H' + h], [d.metric, num(v)]]; }};
    }, 34);
    g.id = 'cc-heads';
    box.appendChild(g);
    box.appendChild(el('h2', null, 'Components'));
    var parts = [['embed', d.embed], ['pos_embed', d.pos_embed]];
    d.attn_out.forEach(function (v, l) {
      parts.push(['L' + l + ' attn_out', v], ['L' + l + ' attn_bias (in attn_out)', d.attn_bias[l]],
                 ['L' + l + ' mlp_out', d.mlp_out[l]]);
    });
    parts.push(['unembed_bias', d.unembed_bias], ['sum', d.sum], ['logit', d.logit]);
    box.appendChild(table(['component', d.metric], parts));
  }

  /* The prompt as text, position AT framed; COLOUR(p) and TIP(p) optional. */
  function tokenText(tokens, ids, at, colour, tipOf, click) {
    var text = el('div', 'cc-text cc-tok');
    tokens.forEach(function (t, p) {
      var s = el('span', p === at ? 'cc-at' : null, tok(t));
      s.setAttribute('data-pos', p);
      if (colour) s.style.background = colour(p);
      hover(s, tipOf ? function () { return tipOf(p); } : function () {
        return [['position', posLabel(tokens, p)], ['id', num(ids[p])]];
      });
      if (click) s.addEventListener('click', function () { click(p); });
      text.appendChild(s);
    });
    return text;
  }

  /* --position all: the tokens coloured by their position's sum; click one for its parts. */
  function viewDlaAll(d) {
    var P = d.positions, m = maxAbs(P.map(function (x) { return x.sum; }));
    root.appendChild(el('p', 'cc-note', 'Direct logit attribution at every position: each token coloured by the ' +
                        'sum of the parts there (diverging around 0; hover for it). Click a token for its parts.'));
    var holder = el('div'), detail = el('div', 'cc-detail');
    detail.id = 'cc-detail';
    root.appendChild(holder);
    root.appendChild(detail);
    function select(p) {
      holder.textContent = '';
      holder.appendChild(tokenText(d.tokens, d.ids, p, function (q) { return divColour(P[q].sum, m); }, function (q) {
        return [['position', posLabel(d.tokens, q)], ['sum', num(P[q].sum)], ['logit', num(P[q].logit)]];
      }, select));
      detail.textContent = '';
      detail.setAttribute('data-pos', p);
      renderDla(detail, P[p]);
    }
    select(P.length - 1);
  }

  /* ---- lens: every layer's prediction at every position ----------------- */

  function viewLens(d) {
    root.appendChild(el('p', 'cc-note', 'Logit lens: each residual stream (rows) unembedded at every position ' +
                        '(columns). Colour: probability of the next prompt token; text: the top prediction.'));
    var rows = d.layers.map(function (r) { return r.label; });
    var cols = d.tokens.map(function (t, p) { return posLabel(d.tokens, p); });
    root.appendChild(grid(rows, cols, function (i, p) {
      var r = d.layers[i], top = r.top[p] || [];
      return {colour: seqColour(r.prob_next[p], 1), text: top.length ? tok(top[0].token) : '', tip: function () {
        var lines = [['layer', r.label], ['position', posLabel(d.tokens, p)],
                     ['next', p + 1 < d.tokens.length ? tok(d.tokens[p + 1]) : '(none)'],
                     ['prob_next', num(r.prob_next[p])], ['rank_next', num(r.rank_next[p])]];
        top.slice(0, 5).forEach(function (t, k) { lines.push(['top ' + (k + 1), tok(t.token) + ' ' + num(t.prob)]); });
        return lines;
      }};
    }, 56));
  }

  /* ---- heatmap: activation patching -------------------------------------- */

  function viewHeatmap(d) {
    var L = d.shape[0], P = d.shape[1], H = d.shape[2];
    root.appendChild(el('p', 'cc-note', 'Activation patching of ' + d.hook + ': clean ' + num(d.clean) +
                        ', corrupt ' + num(d.corrupt) + '. Colour: normalised metric (patched - corrupt) / ' +
                        '(clean - corrupt), diverging around 0; hover for the exact values.'));
    var rows = [], cols = [];
    for (var l = 0; l < L; l++)
      for (var h = 0; h < H; h++) rows.push(d.per_head ? 'L' + l + 'H' + h : 'L' + l);
    /* a position is labelled with its clean token, and the corrupted one where they differ */
    function pairLabel(p) {
      var c = d.corrupt_text[p];
      return posLabel(d.clean_text, p) + (c !== d.clean_text[p] ? ' / ' + tok(c) : '');
    }
    for (var p = 0; p < P; p++) cols.push(P === 1 ? 'all positions' : pairLabel(p));
    var all = [];
    d.normalized.forEach(function (a) { a.forEach(function (b) { all = all.concat(b); }); });
    var m = maxAbs(all);
    root.appendChild(grid(rows, cols, function (i, p) {
      var l = Math.floor(i / H), h = i % H, v = d.normalized[l][p][h], raw = d.value[l][p][h];
      return {colour: divColour(v, m), tip: function () {
        return [['hook', d.per_head ? 'L' + l + 'H' + h + ' ' + d.hook : 'blocks.' + l + '.' + d.hook],
                ['position', P === 1 ? 'all' : pairLabel(p)], ['normalized', num(v)], ['value', num(raw)]];
      }};
    }, 34));
  }

  /* ---- tables: every list of records, sortable --------------------------- */

  /* A cell's text: a long array (a whole score tensor) is summarised; --json has it. */
  function cellText(v) {
    if (v === null || v === undefined) return '';
    if (Array.isArray(v) && JSON.stringify(v).length > 200) return '[' + v.length + ' entries: see --json]';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  /* A table of ROWS (arrays of values) under HEADERS; click a header to sort. */
  function table(headers, rows) {
    var t = el('table', 'cc-table'), head = el('tr'), body = el('tbody');
    headers.forEach(function (h, c) {
      var th = el('th', null, h);
      th.addEventListener('click', function () { sortBy(c, th); });
      head.appendChild(th);
    });
    var thead = el('thead');
    thead.appendChild(head);
    t.appendChild(thead);
    t.appendChild(body);
    function fill() {
      body.textContent = '';
      rows.forEach(function (r) {
        var tr = el('tr');
        r.forEach(function (v) { tr.appendChild(el('td', typeof v === 'number' ? null : 'cc-str', cellText(v))); });
        body.appendChild(tr);
      });
    }
    function sortBy(c, th) {
      var desc = th.getAttribute('aria-sort') !== 'descending';
      Array.prototype.forEach.call(head.children, function (x) { x.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
      rows.sort(function (a, b) {
        var x = a[c], y = b[c], k;
        if (typeof x === 'number' && typeof y === 'number') k = x - y;
        else k = cellText(x).localeCompare(cellText(y), undefined, {numeric: true});
        return desc ? -k : k;
      });
      fill();
    }
    fill();
    return t;
  }

  /* Object O flattened to scalar columns ("rows.topk" for nested keys). */
  function flatten(o, prefix, out) {
    Object.keys(o).forEach(function (k) {
      var v = o[k], name = prefix ? prefix + '.' + k : k;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v, name, out);
      else out[name] = v;
    });
    return out;
  }

  function isRecords(v) {
    return Array.isArray(v) && v.length > 0 && v.every(function (x) {
      return x !== null && typeof x === 'object' && !Array.isArray(x);
    });
  }

  function viewTables(d) {
    var scalars = [], lists = [];
    (function walk(o, prefix) {
      Object.keys(o).forEach(function (k) {
        var v = o[k], name = prefix ? prefix + '.' + k : k;
        if (isRecords(v)) lists.push([name, v]);
        else if (v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v, name);
        else scalars.push([name, v]);
      });
    })(d, '');
    root.appendChild(el('h2', null, 'Summary'));
    var summary = table(['key', 'value'], scalars);
    summary.setAttribute('data-list', 'summary');
    root.appendChild(summary);
    lists.forEach(function (l) {
      var recs = l[1].map(function (r) { return flatten(r, '', {}); }), cols = [];
      recs.forEach(function (r) { Object.keys(r).forEach(function (k) { if (cols.indexOf(k) < 0) cols.push(k); }); });
      root.appendChild(el('h2', null, l[0] + ' (' + recs.length + '; click a column to sort)'));
      var t = table(cols, recs.map(function (r) { return cols.map(function (c) { return r[c]; }); }));
      t.setAttribute('data-list', l[0]);
      root.appendChild(t);
    });
  }

  var VIEWS = {pattern: viewPattern, dla: viewDla, lens: viewLens, heatmap: viewHeatmap, tables: viewTables};

  try {
    var page = JSON.parse(document.getElementById('cc-data').textContent);
    VIEWS[page.view](page.data);
    document.body.setAttribute('data-ready', 'true');
  } catch (e) {
    root.appendChild(el('p', 'cc-error', 'This page could not be drawn: ' + e));
    console.error('circuitc page: ' + (e && e.stack ? e.stack : e));
  }
})();
