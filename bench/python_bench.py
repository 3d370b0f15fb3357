"""The Python package against the CLI and against TransformerLens (issue 21),
side by side in one run, in the environment it is started in (nothing set):

  kcomp  `python -c "import circuitc; circuitc.kcomp(DIR, 'L4H11', 'L5H5')"` as
         one process against the CLI's whole process `circuitc kcomp L4H11
         L5H5 --model DIR` (target: within 5%), and the same after
         circuitc.load(DIR), which reads every weight. The results must agree.
  cache  run_with_cache of [30, 101] repeated tokens (seq_len 50, batch 30,
         seed 0) with circuitc's package against TransformerLens' (golden/.venv,
         grad disabled, its default threads): the whole process (start-up,
         imports, loading, the call) and the call alone, first and second call
         (CPU seconds, wall, and the call's own peak RSS: VmHWM reset before it).
         names_filter: the attention patterns (the seed study's call); --all-hooks:
         every hook. Target: >= 1.5x faster, <= 1/3 of TransformerLens' peak memory.
         The logits and a pattern must agree (1e-3).

Every figure is the median over --reps runs, circuitc's and the other side's
runs alternating; CPU seconds are user + system of the whole process (all
threads), which a busy machine inflates less than wall time. The load average
is printed before and after.

    python3 bench/python_bench.py [--model DIR] [--python PY] [--tl-python PY]
                                  [--circuitc PATH] [--reps R] [--only kcomp,cache] [--all-hooks]

--python: a Python with the circuitc package installed (default
build/python-venv/bin/python, which scripts/test-python makes); --tl-python:
golden/.venv/bin/python. Default model: the seeded GPT-2-small-shaped model
($TMPDIR/circuitc-bench-gpt2-small-seed0; `circuitc synth --preset gpt2-small
--seed 0 --out DIR` writes it). Run from the source root."""
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from runtime_whole import blas_info, option, run  # noqa: E402

# Inside each child: the call's CPU and wall seconds and its own peak RSS (VmHWM
# is reset before the call, so the loading's peak does not hide it).
MEASURE = r'''
import json, os, sys, time

def _vm(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key + ":")) / 1024

def measure(fn):
    """(result, {cpu, wall, rss_before, call_peak, call_extra} in seconds and MiB)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    before = _vm("VmRSS")
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    peak = _vm("VmHWM")
    return out, {"cpu": cpu, "wall": wall, "rss_before": before, "call_peak": peak, "call_extra": peak - before}
'''

# sys.argv[2] "path": circuitc.kcomp(DIR, ...) reads only the circuit's tensors, as the CLI does;
# "load": circuitc.load(DIR) reads and processes every weight first (what forward passes need).
KCOMP = r'''
import json, sys
import circuitc
model = sys.argv[1] if sys.argv[2] == "path" else circuitc.load(sys.argv[1])
r = circuitc.kcomp(model, "L4H11", "L5H5")
print(json.dumps(r.to_dict()))
'''

CACHE_CIRCUITC = MEASURE + r'''
import numpy as np
import circuitc
m = circuitc.load(sys.argv[1])
tokens = m.repeated_tokens(seq_len=50, batch=30, seed=0)
names = None if sys.argv[2] == "all" else (lambda n: n.endswith("hook_pattern"))
calls = []
for _ in range(2):
    (logits, cache), fig = measure(lambda: m.run_with_cache(tokens, names_filter=names))
    calls.append(fig)
    check = {"logits": logits[0, -1, :8].tolist(), "pattern": cache["blocks.5.attn.hook_pattern"][0, 5, -1, :8].tolist(),
             "shape": list(logits.shape), "entries": len(cache)}
    del logits, cache
print(json.dumps({"calls": calls, "check": check}))
'''

CACHE_TL = MEASURE + r'''
sys.path.insert(0, sys.argv[3])
import torch
from common import load_tl, repeat_tokens
torch.set_grad_enabled(False)
model = load_tl(sys.argv[1], processing=True)
with open(os.path.join(sys.argv[1], "config.json")) as f:
    bos = json.load(f)["bos_token_id"]
tokens = torch.from_numpy(repeat_tokens(0, 30, 50, model.cfg.d_vocab, bos))
names = None if sys.argv[2] == "all" else (lambda n: n.endswith("hook_pattern"))
calls = []
for _ in range(2):
    (logits, cache), fig = measure(lambda: model.run_with_cache(tokens, names_filter=names))
    calls.append(fig)
    check = {"logits": logits[0, -1, :8].tolist(), "pattern": cache["blocks.5.attn.hook_pattern"][0, 5, -1, :8].tolist(),
             "shape": list(logits.shape), "entries": len(cache)}
    del logits, cache
print(json.dumps({"calls": calls, "check": check, "torch_threads": torch.get_num_threads()}))
'''


def alternate(reps, *argvs):
    """Each ARGV run REPS times, alternating; per ARGV the list of run() results."""
    out = [[] for _ in argvs]
    for _ in range(reps):
        for i, argv in enumerate(argvs):
            out[i].append(run(argv))
    return out


def med(xs):
    return statistics.median(xs)


def whole_line(label, runs):
    """Median wall, CPU and peak RSS of whole-process RUNS (run() tuples) as one line; (wall, cpu, rss)."""
    wall, cpu, rss = med([r[0] for r in runs]), med([r[1] for r in runs]), med([r[2] for r in runs])
    print(f"  {label:34s} wall {wall:7.2f} s   CPU {cpu:7.2f} s   peak RSS {rss:7.0f} MiB")
    return wall, cpu, rss


def bench_kcomp(python, circuitc, model, reps):
    print("\nkcomp L4H11 L5H5, whole process (target: Python within 5% of the CLI)")
    cli, path, whole = alternate(reps, [circuitc, "kcomp", "L4H11", "L5H5", "--model", model, "--json"],
                                 [python, "-c", KCOMP, model, "path"], [python, "-c", KCOMP, model, "load"])
    c = whole_line("circuitc kcomp (the CLI)", cli)
    same = True
    for label, runs in (("circuitc.kcomp(DIR, ...)", path), ("circuitc.load(DIR).kcomp(...)", whole)):
        p = whole_line(label, runs)
        a, b = cli[-1][3], runs[-1][3]
        agree = all(a[k] == b[k] for k in ("rank", "shape")) and all(a[d]["topk"] == b[d]["topk"] for d in ("rows", "cols"))
        same &= agree
        print(f"  {'':34s} / CLI: wall {p[0] / c[0]:.3f}, CPU {p[1] / c[1]:.3f}, peak RSS {p[2] / c[2]:.3f}; "
              f"top-k counts and rank {'identical' if agree else 'DIFFER'}")
    return same


def bench_cache(python, tl_python, model, reps, names):
    print(f"\nrun_with_cache [30, 101], names_filter {'every hook' if names == 'all' else 'hook_pattern'} "
          "(target: >= 1.5x faster, <= 1/3 of the peak memory)")
    golden = os.path.join(os.path.dirname(HERE), "golden")
    ours, theirs = alternate(reps, [python, "-c", CACHE_CIRCUITC, model, names],
                             [tl_python, "-c", CACHE_TL, model, names, golden])
    c = whole_line("circuitc, whole process", ours)
    t = whole_line(f"TransformerLens ({theirs[-1][3]['torch_threads']} torch threads)", theirs)
    print(f"  whole process: {t[0] / c[0]:.2f}x faster (wall), {t[1] / c[1]:.2f}x less CPU, "
          f"peak RSS {c[2] / t[2]:.2f} of TransformerLens'")
    for i, which in enumerate(("first call", "second call")):
        cf = {k: med([r[3]["calls"][i][k] for r in ours]) for k in ("cpu", "wall", "call_extra", "call_peak")}
        tf = {k: med([r[3]["calls"][i][k] for r in theirs]) for k in ("cpu", "wall", "call_extra", "call_peak")}
        print(f"  {which}: circuitc CPU {cf['cpu']:.2f} s wall {cf['wall']:.2f} s, +{cf['call_extra']:.0f} MiB; "
              f"TransformerLens CPU {tf['cpu']:.2f} s wall {tf['wall']:.2f} s, +{tf['call_extra']:.0f} MiB: "
              f"{tf['wall'] / cf['wall']:.2f}x faster (wall), {tf['cpu'] / cf['cpu']:.2f}x less CPU, "
              f"memory {cf['call_extra'] / tf['call_extra']:.2f} of TransformerLens'")
    a, b = ours[-1][3]["check"], theirs[-1][3]["check"]
    diff = max(abs(x - y) for k in ("logits", "pattern") for x, y in zip(a[k], b[k]))
    same = a["shape"] == b["shape"] and a["entries"] == b["entries"] and diff < 1e-3
    print(f"  logits {a['shape']}, {a['entries']} cache entries each side; logits and a pattern differ by "
          f"{diff:.2g} ({'agree' if same else 'DISAGREE'})")
    return same


def main():
    args = sys.argv[1:]
    if "--help" in args or "-h" in args:
        print(__doc__)
        return 0
    model = option(args, "--model", os.path.join(os.environ.get("TMPDIR", "/tmp"), "circuitc-bench-gpt2-small-seed0"))
    python = option(args, "--python", "build/python-venv/bin/python")
    tl_python = option(args, "--tl-python", "golden/.venv/bin/python")
    circuitc = option(args, "--circuitc", "build/src/circuitc")
    reps = int(option(args, "--reps", "3"))
    only = option(args, "--only", "kcomp,cache").split(",")
    if not os.path.exists(os.path.join(model, "model.safetensors")):
        raise SystemExit(f"{model}: no model.safetensors; write it with `{circuitc} synth --preset gpt2-small "
                         f"--seed 0 --out {model}` or pass --model DIR")
    print(f"Python package benchmark: model {model}, {os.cpu_count()} cores online, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"OPENBLAS_CORETYPE {os.environ.get('OPENBLAS_CORETYPE', 'unset')}; circuitc BLAS: {blas_info(circuitc)}")
    ok = True
    if "kcomp" in only:
        ok &= bench_kcomp(python, circuitc, model, reps)
    if "cache" in only:
        ok &= bench_cache(python, tl_python, model, reps, "all" if "--all-hooks" in args else "pattern")
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
