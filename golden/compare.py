"""Compare two golden trees (used by `generate --check`) under the one tolerance
table, golden/tolerances.json (FORMAT.md, "Why these tolerances").

Integers, strings, booleans and structure must be equal. Each float belongs to the
first tolerance class whose pattern matches "FILE:KEY.PATH" (list indices dropped)
and passes when |committed - regenerated| <= max(abs, rel * ref), ref as the class's
"relative_to" says. Eigenvalue lists (eig_re/eig_im) are compared as sets of complex
numbers: each committed eigenvalue against the nearest unused regenerated one.
Prints every file's verdict, the first mismatches (file, key, index, both values,
tolerance) and, per class, the worst deviation seen relative to its tolerance.

    python compare.py COMMITTED_ROOT NEW_ROOT [MODEL...]
"""
import fnmatch
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE = os.path.join(HERE, "tolerances.json")
SHOWN_PER_FILE = 20


class Tolerance:
    def __init__(self, name, entry):
        self.name = name
        self.abs, self.rel = float(entry["abs"]), float(entry["rel"])
        self.relative_to = entry.get("relative_to", "value")
        self.paths = entry["paths"]

    def allowed(self, ref):
        return max(self.abs, self.rel * ref)

    def describe_short(self):
        return f"abs {self.abs:g}" if self.rel == 0 else f"max(abs {self.abs:g}, rel {self.rel:g} x {self.relative_to})"

    def describe(self, ref):
        if self.rel == 0:
            return f"{self.name}: abs {self.abs:g}"
        return f"{self.name}: max(abs {self.abs:g}, rel {self.rel:g} x {self.relative_to} {ref:.6g})"


class Table:
    def __init__(self, path=TABLE):
        with open(path) as f:
            doc = json.load(f)
        self.ignored = set(doc["ignored_keys"])
        self.classes = [Tolerance(name, e) for name, e in doc["classes"].items()]

    def lookup(self, pattern_path):
        for c in self.classes:
            if any(fnmatch.fnmatchcase(pattern_path, p) for p in c.paths):
                return c
        return None


class ClassStats:
    def __init__(self):
        self.n = 0
        self.worst_ratio = 0.0  # largest |diff| / allowed; the |diff| and place where it occurred:
        self.worst_diff = 0.0
        self.worst_where = ""


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def flat_to_index(i, shape):
    idx = []
    for d in reversed(shape):
        idx.append(i % d if d else 0)
        i = i // d if d else 0
    return list(reversed(idx))


class FileDiff:
    """Walks one committed file (a) against its regenerated version (b)."""

    def __init__(self, table, stats, model, fname):
        self.table, self.stats, self.model, self.fname = table, stats, model, fname
        self.n_values = 0
        self.errors = []

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def check_float(self, a, b, where, keys, ref_ctx):
        cls = self.table.lookup(f"{self.fname}:{keys}")
        if cls is None:
            self.err(where, f"no tolerance class in golden/tolerances.json matches \"{self.fname}:{keys}\"")
            return
        ref = abs(a) if cls.relative_to == "value" else ref_ctx.get(cls.relative_to)
        if ref is None:
            self.err(where, f"class {cls.name} is relative to {cls.relative_to}, which this value has no context for")
            return
        self.record(cls, abs(a - b), ref, where, f"committed {a!r}, regenerated {b!r}")

    def record(self, cls, d, ref, where, values):
        allowed = cls.allowed(ref)
        s = self.stats.setdefault(cls.name, ClassStats())
        s.n += 1
        ratio = d / allowed if allowed > 0 else (0.0 if d == 0 else math.inf)
        if ratio > s.worst_ratio or math.isnan(d):
            s.worst_ratio = math.inf if math.isnan(d) else ratio
            s.worst_diff, s.worst_where = d, f"{self.model}/{self.fname} {where}"
        if not d <= allowed:
            self.err(where, f"{values}, |diff| {d:.3g} > {allowed:.3g} ({cls.describe(ref)})")

    def check_eigenvalues(self, a, b, where, keys):
        """a, b: dicts with eig_re/eig_im lists; greedy nearest matching, as tests/test_parity_factored.c."""
        cls = self.table.lookup(f"{self.fname}:{keys}.eig_re")
        if cls is None:
            self.err(where, f"no tolerance class in golden/tolerances.json matches \"{self.fname}:{keys}.eig_re\"")
            return
        za = [complex(r, i) for r, i in zip(a["eig_re"], a["eig_im"])]
        zb = [complex(r, i) for r, i in zip(b["eig_re"], b["eig_im"])]
        if len(za) != len(zb) or len(za) != len(a["eig_re"]) or len(zb) != len(b["eig_re"]):
            self.err(where, f"eigenvalue counts differ: {len(a['eig_re'])} vs {len(b['eig_re'])}")
            return
        ref = max((abs(z) for z in za), default=0.0)
        unused = list(range(len(zb)))
        for i, z in enumerate(za):
            self.n_values += 1
            j = min(unused, key=lambda k: abs(zb[k] - z))
            unused.remove(j)
            self.record(cls, abs(zb[j] - z), ref, f"{where}.eig[{i}]",
                        f"committed {z.real!r}{z.imag:+}i, nearest regenerated {zb[j].real!r}{zb[j].imag:+}i")

    def walk(self, a, b, where, keys, ctx):
        if isinstance(a, dict) and isinstance(b, dict):
            self.walk_dict(a, b, where, keys, ctx)
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                self.err(where, f"length {len(a)} (committed) != {len(b)} (regenerated)")
                return
            if a and all(is_number(x) for x in a):
                ctx = dict(ctx, list_max=max(abs(x) for x in a))
            for i, (x, y) in enumerate(zip(a, b)):
                self.walk(x, y, self.index_name(where, i, ctx), keys, ctx)
        elif is_number(a) and is_number(b):
            self.n_values += 1
            if isinstance(a, int) and isinstance(b, int):
                if a != b:
                    self.err(where, f"integer {a} (committed) != {b} (regenerated)")
            elif isinstance(a, int) != isinstance(b, int):
                self.err(where, f"int/float type differs: {a!r} (committed) vs {b!r} (regenerated)")
            else:
                self.check_float(a, b, where, keys, ctx)
        else:
            self.n_values += 1
            if a != b or type(a) is not type(b):
                self.err(where, f"{a!r} (committed) != {b!r} (regenerated)")

    def walk_dict(self, a, b, where, keys, ctx):
        ka, kb = set(a) - self.table.ignored, set(b) - self.table.ignored
        if ka != kb:
            self.err(where or "top level",
                     f"keys differ: only committed {sorted(ka - kb)}, only regenerated {sorted(kb - ka)}")
        shared = ka & kb
        if {"eig_re", "eig_im"} <= shared:
            self.check_eigenvalues(a, b, where, keys)
            shared -= {"eig_re", "eig_im"}
        if is_number(a.get("min")) and is_number(a.get("max")):  # a weights.json tensor entry
            ctx = dict(ctx, tensor_max=max(abs(a["min"]), abs(a["max"])))
        if isinstance(a.get("shape"), list) and "data" in a:
            ctx = dict(ctx, shape=a["shape"])
        for k in sorted(shared):
            self.walk(a[k], b[k], f"{where}.{k}" if where else k, f"{keys}.{k}" if keys else k, ctx)

    @staticmethod
    def index_name(where, i, ctx):
        shape = ctx.get("shape")
        if where.endswith(".data") and shape and len(shape) > 1:
            return f"{where}[{i}] (index {flat_to_index(i, shape)})"
        return f"{where}[{i}]"


def list_json(root):
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".json"):
                out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


def compare_trees(committed_root, new_root, models, table=None):
    table = table or Table()
    ok = True
    total_files = 0
    stats = {}
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
            d = FileDiff(table, stats, m, f)
            d.walk(a, b, "", "", {})
            status = "OK      " if not d.errors else "MISMATCH"
            print(f"{status} {m}/{f}: {d.n_values} values, {len(d.errors)} mismatch(es)")
            for e in d.errors[:SHOWN_PER_FILE]:
                print(f"    {m}/{f} {e}")
            if len(d.errors) > SHOWN_PER_FILE:
                print(f"    ... and {len(d.errors) - SHOWN_PER_FILE} more in {m}/{f}")
            ok = ok and not d.errors
    print("worst deviation per tolerance class (as a fraction of the tolerance, its |diff|, where):")
    for c in table.classes:
        s = stats.get(c.name)
        if s:
            print(f"    {c.name:<20} {s.n:>8} values  worst {s.worst_ratio:.3g} of tolerance "
                  f"({c.describe_short()}), |diff| {s.worst_diff:.3g}, at {s.worst_where or '-'}")
    print(f"golden check: {'PASS' if ok else 'FAIL'} ({total_files} files compared, tolerances: golden/tolerances.json)")
    return ok


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    models = sys.argv[3:] or ["induction-3l4h", "gpt2-small-random"]
    sys.exit(0 if compare_trees(sys.argv[1], sys.argv[2], models) else 1)
