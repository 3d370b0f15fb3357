"""Attribution patching against TransformerLens, side by side in one run
(issue 20), on a GPT-2-small-shaped model:

(a) resid_pre, attn_out and mlp_out over every layer x position of the
20-token IOI-style pair of bench/patch_bench.py: `circuitc attribute HOOK
--clean ... --json` (whole process, best of --reps) and its kernel
(build/bench/patch_kernel --attribute: cc_attr_patch, the model loaded once,
best of --reps) against TransformerLens' exact patching.get_act_patch_HOOK and
against attribution patching written as TransformerLens' attribution-patching
demo does it (bench/attribute_tl.py; each its own process, the kernel timed
inside it). circuitc's attribution values are compared with TransformerLens'.

(b) the repeated-token mlp_out sweep (seq_len 50, seed 0) approximated from one
backward pass with its top 20 patched exactly: `circuitc attribute mlp_out
--verify 20 --json` and its kernel (patch_kernel --sweep) against
TransformerLens' exact sweep (one run_with_hooks per layer x position); the 20
exact values are compared with TransformerLens' at the same nodes.

Prints wall and CPU seconds (user + system, all threads) and peak RSS of every
process, the kernel times, the ratios, and the load average when each part
began (on a shared machine, read the CPU ratios). Exit status 1 when circuitc's
attribution differs from TransformerLens' by more than 1e-4 of its largest
value, or an exact value by more than 1e-4. Timings are reported, never asserted.

    python3 bench/attribute_bench.py [--model DIR] [--reps 3] [--only pair,sweep] [--python PY]

Default model: the seeded GPT-2-small-shaped model ($TMPDIR/circuitc-bench-gpt2-small-seed0,
`circuitc synth --preset gpt2-small --seed 0 --out DIR`)."""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from patch_bench import ANSWER, CLEAN, CORRUPT, WRONG  # noqa: E402
from runtime_whole import blas_info, run  # noqa: E402

HOOKS = ("resid_pre", "attn_out", "mlp_out")
N, SEED, VERIFY = 50, 0, 20
PAIR = ["--clean", CLEAN, "--corrupt", CORRUPT, "--answer", ANSWER, "--wrong", WRONG]


def load():
    return "load average %.1f %.1f %.1f" % os.getloadavg()


def best(runs):
    """The run of least CPU time among (wall, cpu, rss, json) runs."""
    return min(runs, key=lambda r: r[1])


def kernel(k):
    return min(k["seconds"]), min(k["cpu_seconds"])


def ratio_line(name, c_wall, c_cpu, t_wall, t_cpu):
    return f"    vs {name}: {t_wall / c_wall:.1f}x wall, {t_cpu / c_cpu:.1f}x CPU"


def pair_row(args, hook, kbin):
    print(f"\n(a) attribution patching of {hook}, every layer x position ({load()})")
    c_wall, c_cpu, c_rss, c = best([run([args.circuitc, "attribute", hook, "--model", args.model] + PAIR +
                                        ["--json", "--quiet"]) for _ in range(args.reps)])
    ids = lambda key: ",".join(map(str, c[key]))  # noqa: E731
    _, _, _, k = run([kbin, "--model", args.model, "--attribute", "--hook", hook, "--clean", ids("clean_tokens"),
                      "--corrupt", ids("corrupt_tokens"), "--answer", str(c["metric"]["answer"]["id"]), "--wrong",
                      str(c["metric"]["wrong"]["id"]), "--reps", str(args.reps)])
    tl = [args.python, os.path.join(HERE, "attribute_tl.py")]
    e_wall, e_cpu, e_rss, e = run(tl + ["exact", hook, args.model] + PAIR)
    a_wall, a_cpu, a_rss, a = run(tl + ["attribute", hook, args.model] + PAIR)
    k_wall, k_cpu = kernel(k)
    print(f"  circuitc whole process: {c_wall:.2f} s wall, {c_cpu:.2f} s CPU, {c_rss:.0f} MiB peak (loading the "
          f"model alone: {k['load_seconds']:.2f} s wall, {k['load_cpu_seconds']:.2f} s CPU in patch_kernel)")
    print(f"  TransformerLens get_act_patch_{hook}: {e_wall:.2f} s wall, {e_cpu:.2f} s CPU, {e_rss:.0f} MiB peak")
    print(ratio_line("exact patching", c_wall, c_cpu, e_wall, e_cpu))
    print(f"  TransformerLens attribution (demo): {a_wall:.2f} s wall, {a_cpu:.2f} s CPU, {a_rss:.0f} MiB peak")
    print(ratio_line("TransformerLens attribution", c_wall, c_cpu, a_wall, a_cpu))
    print(f"  kernel: circuitc {k_wall:.3f} s wall, {k_cpu:.3f} s CPU (best of {args.reps}) | get_act_patch_{hook} "
          f"{e['kernel_seconds']:.2f} s wall, {e['kernel_cpu_seconds']:.2f} s CPU | TransformerLens attribution "
          f"{a['kernel_seconds']:.3f} s wall, {a['kernel_cpu_seconds']:.3f} s CPU (best of {args.tl_reps})")
    print(ratio_line("exact patching", k_wall, k_cpu, e["kernel_seconds"], e["kernel_cpu_seconds"]))
    print(ratio_line("TransformerLens attribution", k_wall, k_cpu, a["kernel_seconds"], a["kernel_cpu_seconds"]))
    whole = [[h[0] for h in pos] for pos in c["attribution"]]
    scale = max(abs(v) for row in a["attribution"] for v in row)
    worst = max(abs(x - y) for got in (whole, k["attribution"]) for cr, tr in zip(got, a["attribution"])
                for x, y in zip(cr, tr))
    print(f"  attribution vs TransformerLens': largest difference {worst:.2e} ({worst / scale:.1e} of the largest "
          f"|attribution|, {scale:.4f}); corrupt metric {c['corrupt']:.5f} vs {a['corrupt']:.5f}")
    return worst / scale <= 1e-4


def sweep_row(args, kbin):
    print(f"\n(b) the repeated-token mlp_out sweep (seq_len {N}, seed {SEED}) estimated, its top {VERIFY} exact "
          f"({load()})")
    c_wall, c_cpu, c_rss, c = best([run([args.circuitc, "attribute", "mlp_out", "--model", args.model, "--seq-len",
                                         str(N), "--seed", str(SEED), "--verify", str(VERIFY), "--json", "--quiet"])
                                    for _ in range(args.reps)])
    _, _, _, k = run([kbin, "--model", args.model, "--sweep", str(N), "--seed", str(SEED), "--verify", str(VERIFY),
                      "--reps", str(args.reps)])
    t_wall, t_cpu, t_rss, t = run([args.python, os.path.join(HERE, "attribute_tl.py"), "sweep", args.model,
                                   "--seq-len", str(N), "--seed", str(SEED)])
    k_wall, k_cpu = kernel(k)
    print(f"  circuitc whole process: {c_wall:.2f} s wall, {c_cpu:.2f} s CPU, {c_rss:.0f} MiB peak (loading the "
          f"model alone: {k['load_seconds']:.2f} s wall, {k['load_cpu_seconds']:.2f} s CPU in patch_kernel)")
    print(f"  TransformerLens exact sweep: {t_wall:.2f} s wall, {t_cpu:.2f} s CPU, {t_rss:.0f} MiB peak")
    print(ratio_line("the exact sweep", c_wall, c_cpu, t_wall, t_cpu))
    print(f"  kernel: circuitc {k_wall:.3f} s wall, {k_cpu:.3f} s CPU (best of {args.reps}) | TransformerLens "
          f"{t['kernel_seconds']:.2f} s wall, {t['kernel_cpu_seconds']:.2f} s CPU")
    print(ratio_line("the exact sweep", k_wall, k_cpu, t["kernel_seconds"], t["kernel_cpu_seconds"]))
    top = c["verify"]["top"]
    worst = max(abs(e["exact"] - t["delta"][e["layer"]][e["position"] - N]) for got in (top, k["top"]) for e in got)
    # GEMM work of the exact patches: each resumes at its layer and position (rows p..2n through the
    # remaining blocks, the loss's rows p..2n-1 through the unembedding); GPT-2-small's shapes
    d, m, V, L = 768, 3072, 50257, 12
    row_block, row_unembed = 2 * (4 * d * d + 2 * d * m), 2 * d * V
    work = sum((2 * N + 1 - e["position"]) * (L - e["layer"]) * row_block + (2 * N - e["position"]) * row_unembed
               for e in top)
    print(f"  the {VERIFY} exact patches (largest estimates, layers {sorted({e['layer'] for e in top})}) do "
          f"{work / 1e9:.0f} GFLOP of GEMM work; the estimate's correlation is only available with --verify all")
    print(f"  top {VERIFY} exact values vs TransformerLens' sweep at the same nodes: largest difference {worst:.2e}; "
          f"clean loss {c['clean_loss']:.5f} vs {t['clean_loss']:.5f}")
    return worst <= 1e-4


def main():
    root = os.path.dirname(HERE)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                    "circuitc-bench-gpt2-small-seed0"))
    ap.add_argument("--circuitc", default=os.path.join(root, "build", "src", "circuitc"))
    ap.add_argument("--python", default=os.path.join(root, "golden", ".venv", "bin", "python"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tl-reps", type=int, default=3, help="TransformerLens attribution runs per process (best)")
    ap.add_argument("--only", default="pair,sweep")
    args = ap.parse_args()
    os.environ["BENCH_TL_REPS"] = str(args.tl_reps)
    kbin = os.path.join(root, "build", "bench", "patch_kernel")
    print(f"model {args.model}; BLAS {blas_info(args.circuitc)}; torch threads {os.environ.get('BENCH_THREADS', '2')}")
    ok = True
    if "pair" in args.only:
        for hook in HOOKS:
            ok &= pair_row(args, hook, kbin)
    if "sweep" in args.only:
        ok &= sweep_row(args, kbin)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
