"""Whole-process runtime figures: what a user waits for. Each circuitc runtime
command (repeat, heads, patch mlp_out) runs as one process, model loading
included, against bench/runtime_whole_tl.py doing the same work with
TransformerLens as one process (Python start-up, imports and loading included).
Reports wall seconds and peak RSS (ru_maxrss of the child) per run, the ratio,
and whether the two results agree. Timings are reported, never asserted; the
exit status is 1 when results disagree (loss or deltas by 1e-4 or more, head
scores by 1e-5 or more).

    python3 bench/runtime_whole.py [--model DIR] [--circuitc PATH] [--python PY]
                                   [--reps R] [--only repeat,heads,patch] [--skip-tl]

Run from the source root after scripts/bootstrap (and golden/setup-venv for the
TransformerLens side). The environment is passed through unchanged: the
OpenBLAS kernel is whatever circuitc picks (or OPENBLAS_CORETYPE, if the caller
set it); the bench prints it. Default model: the seeded GPT-2-small-shaped model
runtime_bench writes ($TMPDIR/circuitc-bench-gpt2-small-seed0)."""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COMMANDS = {  # name: (circuitc arguments, TransformerLens script arguments)
    "repeat": (["repeat", "--seq-len", "50", "--batch", "30", "--seed", "0"],
               ["repeat", "--seq-len", "50", "--batch", "30", "--seed", "0"]),
    "heads": (["heads", "--seq-len", "50", "--batch", "30", "--seed", "0"],
              ["heads", "--seq-len", "50", "--batch", "30", "--seed", "0"]),
    "patch": (["patch", "mlp_out", "--seq-len", "50", "--seed", "0"], ["patch", "--seq-len", "50", "--seed", "0"]),
}


def option(args, name, default):
    return args[args.index(name) + 1] if name in args else default


def run(argv):
    """Runs ARGV as one process: (wall seconds, CPU seconds of the child, peak RSS MiB,
    stdout parsed as JSON)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited with status {p.returncode}")
        out.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, json.loads(out.read())


def blas_info(circuitc):
    """The circuitc process's BLAS as it reports it (`info --json`, key blas), else
    what the linked OpenBLAS reports under this environment (runtime_bench --blas-info)."""
    _, _, _, info = run([circuitc, "info", "--json"])
    if isinstance(info.get("blas"), dict):
        b = info["blas"]
        return f"{b.get('core')} ({b.get('chosen_by')}), OpenBLAS threads {b.get('threads')}"
    helper = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(circuitc))), "bench", "runtime_bench")
    _, _, _, b = run([helper, "--blas-info"])
    return f"{b['core']} (as linked; this circuitc reports no kernel choice), OpenBLAS threads {b['threads']}"


def compare(name, c, t):
    """Largest difference between circuitc's and TransformerLens' results, and the limit it must stay under."""
    if name == "repeat":
        return max(abs(c["loss"] - t["loss"]),
                   abs(c["first_half"]["mean_logprob"] - t["first_half_mean_logprob"]),
                   abs(c["second_half"]["mean_logprob"] - t["second_half_mean_logprob"])), 1e-4
    if name == "heads":
        worst = 0.0
        for h in c["heads"]:
            l, i = h["layer"], h["index"]
            for k in ("induction", "previous_token", "duplicate_token", "current_token"):
                worst = max(worst, abs(h[k] - t[k][l][i]))
            for k, v in h["detect"].items():
                worst = max(worst, abs(v - t["detect"][k]["default"][l][i]))
        return worst, 1e-5
    worst = max(abs(a - b) for ca, ta in zip(c["delta"], t["delta"]) for a, b in zip(ca, ta))
    return max(worst, abs(c["clean_loss"] - t["clean_loss"])), 1e-4


def measure(name, c_argv, t_argv, reps, compare_fn):
    """Runs circuitc (C_ARGV) and TransformerLens (T_ARGV, None to skip) REPS times,
    interleaved so that both see similar machine load; prints the best and worst
    wall time, peak RSS, the speed-up and COMPARE_FN(c_json, t_json) = (largest
    difference, its limit, a note naming any other mismatch or ""). True when the
    results disagree."""
    cs, ts = [], []
    for _ in range(reps):
        cs.append(run(c_argv))
        if t_argv:
            ts.append(run(t_argv))
    c_wall = [r[0] for r in cs]
    shown = " ".join(repr(a) if " " in a else a for a in c_argv[1:c_argv.index("--model")])
    print(f"\n{name}: circuitc {shown}")
    print(f"  circuitc        {min(c_wall):8.2f} - {max(c_wall):7.2f} s   peak RSS {max(r[2] for r in cs):6.0f} MiB")
    if not ts:
        return False
    t_wall = [r[0] for r in ts]
    diff, limit, note = compare_fn(cs[-1][3], ts[-1][3])
    print(f"  TransformerLens {min(t_wall):8.2f} - {max(t_wall):7.2f} s   peak RSS {max(r[2] for r in ts):6.0f} "
          f"MiB (torch {ts[-1][3]['torch']}, {ts[-1][3]['torch_threads']} threads)")
    print(f"  speed-up {min(t_wall) / min(c_wall):.2f}x (best vs best), peak RSS ratio "
          f"{max(r[2] for r in cs) / max(r[2] for r in ts):.2f}; results differ by at most {diff:.3g} "
          f"({'within' if diff < limit else 'NOT within'} {limit:g}){note}")
    return not diff < limit or bool(note)


def main():
    args = sys.argv[1:]
    if "--help" in args or "-h" in args:
        print(__doc__)
        return 0
    tmp = os.environ.get("TMPDIR", "/tmp")
    model = option(args, "--model", os.path.join(tmp, "circuitc-bench-gpt2-small-seed0"))
    circuitc = option(args, "--circuitc", "build/src/circuitc")
    python = option(args, "--python", "golden/.venv/bin/python")
    reps = int(option(args, "--reps", "2"))
    only = option(args, "--only", ",".join(COMMANDS)).split(",")
    skip_tl = "--skip-tl" in args
    if not os.path.exists(os.path.join(model, "model.safetensors")):
        raise SystemExit(f"{model}: no model.safetensors; run build/bench/runtime_bench once (it writes the default "
                         f"model) or pass --model DIR")
    print(f"whole-process runtime benchmark: model {model}, {os.cpu_count()} cores online, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"OPENBLAS_CORETYPE {os.environ.get('OPENBLAS_CORETYPE', 'unset')}; circuitc BLAS: {blas_info(circuitc)}")
    bad = False
    for name in only:
        c_args, t_args = COMMANDS[name]
        t_argv = [python, os.path.join(HERE, "runtime_whole_tl.py")] + t_args[:1] + [model] + t_args[1:]
        bad |= measure(name, [circuitc] + c_args + ["--model", model, "--json"], None if skip_tl else t_argv, reps,
                       lambda c, t, name=name: compare(name, c, t) + ("",))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
