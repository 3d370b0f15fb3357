"""Compare two golden trees (used by `generate --check`). Exact for ints/strings/bools
and structure, |a-b| <= atol + rtol*|b| for floats; prints a per-file summary."""
import json
import math
import os
import sys

IGNORED = {"generated_utc", "timings_s"}


class Diff:
    def __init__(self, rtol, atol):
        self.rtol, self.atol = rtol, atol
        self.n_values = 0
        self.max_abs = 0.0
        self.errors = []

    def err(self, path, msg):
        if len(self.errors) < 20:
            self.errors.append(f"{path}: {msg}")
        else:
            self.errors.append(None)

    def walk(self, a, b, path):
        # a = committed, b = regenerated
        if isinstance(a, dict) and isinstance(b, dict):
            ka, kb = set(a) - IGNORED, set(b) - IGNORED
            if ka != kb:
                self.err(path, f"keys differ: only committed {sorted(ka - kb)}, only new {sorted(kb - ka)}")
            for k in sorted(ka & kb):
                self.walk(a[k], b[k], f"{path}.{k}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                self.err(path, f"length {len(a)} != {len(b)}")
                return
            for i, (x, y) in enumerate(zip(a, b)):
                self.walk(x, y, f"{path}[{i}]")
        elif isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str) or a is None or b is None:
            self.n_values += 1
            if a != b or type(a) is not type(b):
                self.err(path, f"{a!r} != {b!r}")
        elif isinstance(a, int) and isinstance(b, int):
            self.n_values += 1
            if a != b:
                self.err(path, f"integer {a} != {b}")
        elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
            self.n_values += 1
            if isinstance(a, int) != isinstance(b, int):
                self.err(path, f"type int/float differs: {a!r} vs {b!r}")
                return
            d = abs(a - b)
            self.max_abs = max(self.max_abs, d)
            if not (d <= self.atol + self.rtol * abs(a)) or math.isnan(d):
                self.err(path, f"float {a!r} vs {b!r} (|diff| {d:.3g})")
        else:
            self.err(path, f"type {type(a).__name__} != {type(b).__name__}")


def list_json(root):
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".json"):
                out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


def compare_trees(committed_root, new_root, models, rtol, atol):
    ok = True
    total_files = 0
    for m in models:
        a_root, b_root = os.path.join(committed_root, m), os.path.join(new_root, m)
        fa, fb = list_json(a_root) if os.path.isdir(a_root) else [], list_json(b_root)
        for f in sorted(set(fa) ^ set(fb)):
            print(f"MISSING  {m}/{f}: {'not regenerated' if f in fa else 'not committed'}")
            ok = False
        for f in sorted(set(fa) & set(fb)):
            total_files += 1
            with open(os.path.join(a_root, f)) as fh:
                a = json.load(fh)
            with open(os.path.join(b_root, f)) as fh:
                b = json.load(fh)
            d = Diff(rtol, atol)
            d.walk(a, b, f"{m}/{f}")
            status = "OK      " if not d.errors else "MISMATCH"
            print(f"{status} {m}/{f}: {d.n_values} values, max |diff| {d.max_abs:.3g}, "
                  f"{len(d.errors)} mismatch(es)")
            for e in d.errors[:20]:
                if e:
                    print(f"    {e}")
            if d.errors:
                ok = False
    print(f"golden check: {'PASS' if ok else 'FAIL'} ({total_files} files compared, rtol {rtol}, atol {atol})")
    return ok


if __name__ == "__main__":
    models = sys.argv[3:] or ["induction-3l4h", "gpt2-small-random"]
    sys.exit(0 if compare_trees(sys.argv[1], sys.argv[2], models, 1e-5, 1e-6) else 1)
