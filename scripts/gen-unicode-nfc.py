#!/usr/bin/env python3
"""Writes src/tokenizer/tokenizer_nfc_data.c: the tables of Unicode NFC as Hugging Face's
`tokenizers` applies it (the NFC normalizer of GPT-NeoX's tokenizer.json).

- Full canonical decompositions come from tokenizers' own NFD normalizer, one codepoint at
  a time (Hangul syllables are left to the algorithm), so they are the Unicode version
  tokenizers was built with.
- Canonical combining classes and the primary composites are Python's unicodedata's, kept
  only where tokenizers agrees (its Unicode is older than Python's: probed codepoint by codepoint).
- The script then checks the tables against tokenizers' NFC: every codepoint alone, and
  every base + mark and mark + mark pair of interest; it stops if one differs.

Run in the pinned venv:  golden/.venv/bin/python scripts/gen-unicode-nfc.py
"""
import os
import sys
import unicodedata

import tokenizers
from tokenizers import normalizers

SBASE, LBASE, VBASE, TBASE = 0xAC00, 0x1100, 0x1161, 0x11A7
LCOUNT, VCOUNT, TCOUNT = 19, 21, 28
NCOUNT, SCOUNT = VCOUNT * TCOUNT, LCOUNT * VCOUNT * TCOUNT
CODEPOINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def tables():
    nfd = normalizers.NFD()
    decomp = {}
    for c in CODEPOINTS:
        if SBASE <= c < SBASE + SCOUNT:
            continue
        d = nfd.normalize_str(chr(c))
        if d != chr(c):
            decomp[c] = [ord(x) for x in d]
    # tokenizers' NFC (the unicode-normalization-alignments crate) has an older Unicode than
    # Python: a mark it does not know has class 0 there. Probe each of Python's marks: a known
    # one is reordered against a mark of class 1 (U+0334) or 230 (U+0301).
    ccc = {}
    for c in CODEPOINTS:
        cls = unicodedata.combining(chr(c))
        probe = "a" + chr(c) + "\u0334" if cls > 1 else "a\u0301" + chr(c)
        if cls and nfd.normalize_str(probe) != probe:
            ccc[c] = cls
    nfc = normalizers.NFC()
    compose = {}
    for c in CODEPOINTS:
        d = unicodedata.decomposition(chr(c))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        # a primary composite: two codepoints that tokenizers' NFC composes into it
        if len(parts) == 2 and nfc.normalize_str(chr(parts[0]) + chr(parts[1])) == chr(c):
            compose[(parts[0], parts[1])] = c
    return decomp, ccc, compose


def compose_pair(first, second, compose):
    if LBASE <= first < LBASE + LCOUNT and VBASE <= second < VBASE + VCOUNT:
        return SBASE + ((first - LBASE) * VCOUNT + second - VBASE) * TCOUNT
    if SBASE <= first < SBASE + SCOUNT and (first - SBASE) % TCOUNT == 0 and TBASE < second < TBASE + TCOUNT:
        return first + second - TBASE
    return compose.get((first, second))


def nfc(s, decomp, ccc, compose):
    """The C algorithm, in Python, over the tables (for the self-check)."""
    out = []
    for ch in s:
        c = ord(ch)
        if SBASE <= c < SBASE + SCOUNT:
            i = c - SBASE
            out += [LBASE + i // NCOUNT, VBASE + i % NCOUNT // TCOUNT] + ([TBASE + i % TCOUNT] if i % TCOUNT else [])
        else:
            out += decomp.get(c, [c])
    for i in range(1, len(out)):  # canonical order: stable insertion sort of non-starters
        j = i
        while j > 0 and ccc.get(out[j], 0) and ccc.get(out[j - 1], 0) > ccc.get(out[j], 0):
            out[j - 1], out[j] = out[j], out[j - 1]
            j -= 1
    if not out:
        return ""
    res = [out[0]]
    starter = 0
    last_ccc = 0 if ccc.get(out[0], 0) == 0 else 256  # a leading non-starter composes with nothing
    for c in out[1:]:
        cc = ccc.get(c, 0)
        comp = compose_pair(res[starter], c, compose) if last_ccc < cc or last_ccc == 0 else None
        if comp is not None and (last_ccc < cc or last_ccc == 0) and (last_ccc != 256):
            res[starter] = comp
            continue
        if cc == 0:
            starter = len(res)
        last_ccc = cc
        res.append(c)
    return "".join(map(chr, res))


def check(decomp, ccc, compose):
    ref = normalizers.NFC()
    marks = sorted(ccc)
    firsts = sorted({a for a, _ in compose})
    cases = [chr(c) for c in CODEPOINTS]
    cases += [chr(a) + chr(m) for a in firsts for m in marks[:: max(1, len(marks) // 60)]]
    cases += [chr(a) + chr(b) for (a, b) in compose]
    cases += ["a" + chr(m1) + chr(m2) for m1 in marks[::7] for m2 in marks[::5]]
    cases += [chr(LBASE + i) + chr(VBASE + j) + chr(TBASE + k) for i in (0, 18) for j in (0, 20) for k in (0, 1, 27)]
    bad = [c for c in cases if nfc(c, decomp, ccc, compose) != ref.normalize_str(c)]
    if bad:
        sys.exit("tables disagree with tokenizers' NFC on %d cases, e.g. %r" % (len(bad), [c.encode() for c in bad[:5]]))
    return len(cases)


def main():
    decomp, ccc, compose = tables()
    n_checked = check(decomp, ccc, compose)
    assert max(map(len, decomp.values())) <= 4, "CC_NFC_MAX_DECOMP in tokenizer_nfc.h is 4"
    pool, entries = [], []
    for c in sorted(decomp):
        entries.append((c, len(pool), len(decomp[c])))
        pool += decomp[c]
    lines = [
        "/* tokenizer_nfc_data.c — GENERATED by scripts/gen-unicode-nfc.py; do not edit.",
        " * Unicode NFC tables as Hugging Face tokenizers %s applies them: %d full canonical" % (tokenizers.__version__, len(decomp)),
        " * decompositions (from its NFD), %d non-zero combining classes and %d primary composites" % (len(ccc), len(compose)),
        " * (Python %s unicodedata, Unicode %s, where tokenizers agrees); checked against its NFC on" % (
            sys.version.split()[0], unicodedata.unidata_version),
        " * %d strings. */" % n_checked,
        '#include "tokenizer_nfc.h"',
        "",
        "const uint32_t cc_nfc_decomp_pool[%d] = {" % len(pool),
    ]
    for i in range(0, len(pool), 12):
        lines.append("    " + ", ".join("0x%X" % x for x in pool[i:i + 12]) + ",")
    lines += ["};", "", "const cc_nfc_decomp cc_nfc_decomps[%d] = {" % len(entries)]
    for i in range(0, len(entries), 6):
        lines.append("    " + " ".join("{0x%X, %d, %d}," % e for e in entries[i:i + 6]))
    lines += ["};", "const size_t cc_nfc_n_decomps = %d;" % len(entries), "", "const cc_nfc_class cc_nfc_classes[%d] = {" % len(ccc)]
    items = sorted(ccc.items())
    for i in range(0, len(items), 8):
        lines.append("    " + " ".join("{0x%X, %d}," % e for e in items[i:i + 8]))
    lines += ["};", "const size_t cc_nfc_n_classes = %d;" % len(ccc), "", "const cc_nfc_pair cc_nfc_pairs[%d] = {" % len(compose)]
    pairs = sorted(compose.items())
    for i in range(0, len(pairs), 4):
        lines.append("    " + " ".join("{0x%X, 0x%X, 0x%X}," % (a, b, c) for (a, b), c in pairs[i:i + 4]))
    lines += ["};", "const size_t cc_nfc_n_pairs = %d;" % len(compose), ""]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "tokenizer", "tokenizer_nfc_data.c")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print("wrote %s: %d decompositions, %d classes, %d pairs" % (path, len(entries), len(ccc), len(compose)), file=sys.stderr)


if __name__ == "__main__":
    main()
