#!/usr/bin/env python3
"""eap_bench.py: `circuitc eap` against the reference EAP-IG implementation
(github hannamw/EAP-IG, on TransformerLens, bench/eap_ref.py) on the same model
and the same IOI-style prompt pairs, each run as one process (imports and
loading included): EAP and EAP-IG (5 steps), wall and CPU seconds (user +
system, all threads), peak RSS, the ratios, and how far the two sets of scores
agree (the reference's scores are circuitc's divided by its batch size,
docs/eap.md). Two circuitc rows per method: `eap --scores-only`, the same work
as the reference (the scores, nothing else), and the whole command, which also
measures its circuit and the faithfulness curve (16 circuit sizes).

    python3 bench/eap_bench.py --model /tmp/g2s --eap-ig DIR [--pairs 100] [--steps 5]
                               [--ref-batch 20] [--seed 0] [--skip-ref] [--python PY]
                               [--only eap,eap-ig]

--only eap-ig runs EAP-IG alone (--only eap: EAP alone; default both).

DIR is a checkout of the reference (its src/eap is imported from there, not
copied; eap_ref.py says what it patches to run on a CPU). The reference runs
with golden/.venv's python (torch and TransformerLens; --python another),
BENCH_THREADS torch threads (default 2)."""
import json
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from runtime_whole import option, run  # noqa: E402

# GPT-2 one-token names (with the leading space) and IOI templates
NAMES = ["Mary", "John", "Alice", "Bob", "Tom", "James", "Sarah", "David", "Anna", "Paul", "Mark", "Lisa"]
TEMPLATES = ["When {A} and {B} went to the {P}, {B} gave a {T} to",
             "After {A} and {B} went to the {P}, {B} gave a {T} to",
             "While {A} and {B} were at the {P}, {B} gave a {T} to"]
PLACES = ["store", "park", "school", "office", "station", "restaurant", "garden", "hospital"]
THINGS = ["drink", "book", "ring", "ball", "gift", "letter", "bag", "key"]


def ioi_pairs(n, seed):
    """N IOI-style pairs (clean names A, B; the corrupted prompt three other names), as JSON Lines dicts."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b, c, d, e = rng.sample(NAMES, 5)
        t, place, thing = rng.choice(TEMPLATES), rng.choice(PLACES), rng.choice(THINGS)
        clean = t.format(A=a, B=b, P=place, T=thing)
        corrupt = t.replace("{B} gave", "{C} gave").format(A=c, B=d, C=e, P=place, T=thing)
        out.append({"clean": clean, "corrupt": corrupt, "answer": " " + a, "wrong": " " + b})
    return out


def agreement(c, ref, batch):
    """How far the reference's scores (times its batch size) are from circuitc's: the largest difference
    relative to the largest |score|, and how many of circuitc's 20 largest |score| edges are the reference's."""
    names = c["edge_names"]
    ours = dict(zip(names, c["scores"]))
    scale = max(abs(v) for v in ours.values()) or 1
    diff = max(abs(ours[k] - ref[k] * batch) for k in names)
    top = lambda d: set(sorted(d, key=lambda k: -abs(d[k]))[:20])  # noqa: E731
    return diff / scale, len(top(ours) & top(ref))


def row(name, c, r):
    line = f"{name:18s} circuitc {c[0]:7.1f} s wall {c[1]:7.1f} s CPU {c[2]:6.0f} MiB"
    if r:
        line += (f" | reference {r[0]:7.1f} s wall {r[1]:7.1f} s CPU {r[2]:6.0f} MiB | ratio wall "
                 f"{r[0] / c[0]:5.1f}x CPU {r[1] / c[1]:5.1f}x memory {r[2] / c[2]:4.1f}x")
    print(line + f" (load {os.getloadavg()[0]:.1f})")


def main():
    args = sys.argv[1:]
    model, ref_dir = option(args, "--model", None), option(args, "--eap-ig", None)
    n, steps = int(option(args, "--pairs", "100")), int(option(args, "--steps", "5"))
    batch, seed = int(option(args, "--ref-batch", "20")), int(option(args, "--seed", "0"))
    only = option(args, "--only", "eap,eap-ig").split(",")
    if not model or (not ref_dir and "--skip-ref" not in args) or not set(only) <= {"eap", "eap-ig"}:
        sys.exit(__doc__)
    root = os.path.join(HERE, "..")
    circuitc = os.path.join(root, "build", "src", "circuitc")
    venv_python = option(args, "--python", os.path.join(root, "golden", ".venv", "bin", "python"))
    env_threads = os.environ.get("BENCH_THREADS", "2")
    os.environ.setdefault("OMP_NUM_THREADS", env_threads)
    print(f"model {model}, {n} IOI-style pairs (seed {seed}), load average {os.getloadavg()[0]:.1f}; "
          f"reference batch {batch}, torch threads {env_threads}")
    with tempfile.TemporaryDirectory() as tmp:
        pairs = os.path.join(tmp, "pairs.jsonl")
        with open(pairs, "w") as f:
            f.writelines(json.dumps(p) + "\n" for p in ioi_pairs(n, seed))
        tokenizer = os.path.join(root, "third_party", "gpt2-tokenizer")
        methods = [m for m in (("EAP", 0, "eap"), (f"EAP-IG {steps}", steps, "eap-ig")) if m[2] in only]
        for name, ig, _ in methods:
            command = [circuitc, "eap", "--model", model, "--tokenizer", tokenizer, "--pairs", pairs, "--ig-steps",
                       str(ig), "--json", "--quiet"]
            c = run(command + ["--scores-only"])
            r = None
            if "--skip-ref" not in args:
                r = run([venv_python, os.path.join(HERE, "eap_ref.py"), model, ref_dir, pairs,
                         "EAP-IG-inputs" if ig else "EAP", str(ig), str(batch)])
            row(f"{name}, scores", c, r)
            if r:
                diff, common = agreement(c[3], r[3]["scores"], batch)
                print(f"{'':18s} scores: largest difference {diff:.1e} of the largest |score|; top-20 edges in "
                      f"common {common}/20")
            row(f"{name}, whole", run(command), r)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
