"""Activation patching of resid_pre over every layer x position on a 20-token
IOI-style prompt pair (GPT-2's tokenizer), circuitc against TransformerLens'
patching.get_act_patch_resid_pre, in one run. Whole processes (start-up, loading,
tokenizing included): `circuitc patch resid_pre --clean ... --json` against
bench/patch_tl.py; kernels: bench/patch_kernel (cc_act_patch, model loaded once,
best of --reps) against the clean run_with_cache plus get_act_patch_resid_pre
timed inside patch_tl.py. Prints wall and CPU seconds (on a shared machine the wall clock mostly measures
the other jobs), peak RSS, the ratios and the
largest difference of the 240 results (exit status 1 beyond 1e-4). Timings are
reported, never asserted.

    python3 bench/patch_bench.py [--model DIR] [--reps 3] [--python PY] [--naive]

Default model: the seeded GPT-2-small-shaped model ($TMPDIR/circuitc-bench-gpt2-small-seed0,
written by build/bench/runtime_bench, or `circuitc synth --preset gpt2-small --seed 0 --out DIR`)."""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from runtime_whole import blas_info, run  # noqa: E402

CLEAN = "Then, when Mary and John went to the store together, John gave a bottle of milk to"
CORRUPT = "Then, when Mary and John went to the store together, Mary gave a bottle of milk to"
ANSWER, WRONG = " Mary", " John"


def main():
    root = os.path.dirname(HERE)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                    "circuitc-bench-gpt2-small-seed0"))
    ap.add_argument("--circuitc", default=os.path.join(root, "build", "src", "circuitc"))
    ap.add_argument("--python", default=os.path.join(root, "golden", ".venv", "bin", "python"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--naive", action="store_true", help="also time circuitc's naive path (one rerun per patch)")
    args = ap.parse_args()
    print(f"model {args.model}; BLAS {blas_info(args.circuitc)}")
    argv = [args.circuitc, "patch", "resid_pre", "--model", args.model, "--clean", CLEAN, "--corrupt", CORRUPT,
            "--answer", ANSWER, "--wrong", WRONG, "--json", "--quiet"]
    whole = [run(argv) for _ in range(args.reps)]
    c_wall, c_cpu, c_rss, c = min(whole, key=lambda w: w[0])
    kargv = [os.path.join(root, "build", "bench", "patch_kernel"), "--model", args.model,
             "--clean", ",".join(map(str, c["clean_tokens"])), "--corrupt", ",".join(map(str, c["corrupt_tokens"])),
             "--answer", str(c["metric"]["answer"]), "--wrong", str(c["metric"]["wrong"]), "--reps", str(args.reps)]
    _, _, _, k = run(kargv)
    t_wall, t_cpu, t_rss, t = run([args.python, os.path.join(HERE, "patch_tl.py"), args.model, "--clean", CLEAN,
                            "--corrupt", CORRUPT, "--answer", ANSWER, "--wrong", WRONG])
    values = [[h[0] for h in pos] for pos in c["value"]]
    worst = max(abs(a - b) for ca, ta in zip(values, t["value"]) for a, b in zip(ca, ta))
    worst_k = max(abs(a - b) for ca, ta in zip(k["value"], t["value"]) for a, b in zip(ca, ta))
    T, L = len(c["clean_tokens"]), len(values)
    print(f"prompt pair: {T} tokens; {L} layers x {T} positions = {L * T} patches, "
          f"{k['skipped']} needing no run (activations identical in both runs)")
    print(f"torch {t['torch']}, {t['threads']} threads")
    print(f"whole process: circuitc {c_wall:.2f} s wall, {c_cpu:.2f} s CPU, {c_rss:.0f} MiB peak | TransformerLens "
          f"{t_wall:.2f} s wall, {t_cpu:.2f} s CPU, {t_rss:.0f} MiB peak | {t_wall / c_wall:.1f}x wall, "
          f"{t_cpu / c_cpu:.1f}x CPU")
    kbest, kcpu = min(k["seconds"]), min(k["cpu_seconds"])
    print(f"kernel: circuitc {kbest:.3f} s wall, {kcpu:.3f} s CPU (best of {args.reps}) | TransformerLens "
          f"{t['kernel_seconds']:.2f} s wall, {t['kernel_cpu_seconds']:.2f} s CPU | {t['kernel_seconds'] / kbest:.1f}x "
          f"wall, {t['kernel_cpu_seconds'] / kcpu:.1f}x CPU")
    if args.naive:
        _, _, _, kn = run(kargv[:-2] + ["--reps", "1", "--naive"])
        print(f"circuitc naive path (one full rerun per patch): {kn['seconds'][0]:.3f} s wall, "
              f"{kn['cpu_seconds'][0]:.3f} s CPU")
    print(f"largest difference to TransformerLens: {max(worst, worst_k):.2e} (clean {c['clean']:.5f} vs "
          f"{t['clean']:.5f}, corrupt {c['corrupt']:.5f} vs {t['corrupt']:.5f})")
    return 0 if max(worst, worst_k, abs(c["clean"] - t["clean"]), abs(c["corrupt"] - t["corrupt"])) < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
