"""Whole-process figures of the prompt analyses: `circuitc dla` and `circuitc lens`
on one prompt, as one process each (model loading included), against
bench/prompts_whole_tl.py doing the same with TransformerLens as one process
(Python start-up, imports, loading and the tokenizer included). Reports wall
seconds and peak RSS per run, the ratio, and whether the results agree (DLA
parts by less than 1e-4, lens probabilities by less than 1e-5, every lens top-K
id equal); exit status 1 when they do not. Timings are reported, never asserted.

    python3 bench/prompts_whole.py [--model DIR] [--circuitc PATH] [--python PY]
                                   [--reps R] [--only dla,lens] [--skip-tl]

Same conventions as bench/runtime_whole.py (whose process runner this uses);
default model: the seeded GPT-2-small-shaped model runtime_bench writes."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from runtime_whole import blas_info, option, run  # noqa: E402

PROMPT = "When Mary and John went to the store, John gave a drink to"
ANSWER, WRONG = " Mary", " John"
COMMANDS = {  # name: (circuitc arguments, TransformerLens script arguments)
    "dla": (["dla", "--prompt", PROMPT, "--answer", ANSWER, "--wrong", WRONG], ["dla", PROMPT, ANSWER, WRONG]),
    "lens": (["lens", "--prompt", PROMPT, "--top", "5"], ["lens", PROMPT, "--top", "5"]),
}


def compare(name, c, t):
    """Largest difference between the two results, its limit, and whether the integer parts match."""
    if name == "dla":
        parts = t["parts"]
        worst = max(abs(c["heads"][l][h] - t["heads"][l][h]) for l in range(len(t["heads"]))
                    for h in range(len(t["heads"][0])))
        for l in range(len(c["mlp_out"])):
            worst = max(worst, abs(c["mlp_out"][l] - parts[f"{l}_mlp_out"]),
                        abs(c["attn_out"][l] - parts[f"{l}_attn_out"]))
        worst = max(worst, abs(c["embed"] - parts["embed"]), abs(c["pos_embed"] - parts["pos_embed"]),
                    abs(c["logit"] - t["logit"]))
        return worst, 1e-4, True
    worst, same_top = 0.0, True
    for i, layer in enumerate(c["layers"]):
        for p, prob in enumerate(layer["prob_next"][:-1]):
            worst = max(worst, abs(prob - t["prob_next"][i][p]))
        for p, top in enumerate(layer["top"]):
            same_top &= [x["id"] for x in top] == t["top_ids"][i][p]
    return worst, 1e-5, same_top


def main():
    args = sys.argv[1:]
    if "--help" in args or "-h" in args:
        print(__doc__)
        return 0
    model = option(args, "--model", os.path.join(os.environ.get("TMPDIR", "/tmp"), "circuitc-bench-gpt2-small-seed0"))
    circuitc = option(args, "--circuitc", "build/src/circuitc")
    python = option(args, "--python", "golden/.venv/bin/python")
    reps = int(option(args, "--reps", "3"))
    only = option(args, "--only", ",".join(COMMANDS)).split(",")
    if not os.path.exists(os.path.join(model, "model.safetensors")):
        raise SystemExit(f"{model}: no model.safetensors; run build/bench/runtime_bench once (it writes the default "
                         f"model) or pass --model DIR")
    print(f"whole-process prompt benchmark: model {model}, {os.cpu_count()} cores online, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"prompt {PROMPT!r}; OPENBLAS_CORETYPE {os.environ.get('OPENBLAS_CORETYPE', 'unset')}; "
          f"circuitc BLAS: {blas_info(circuitc)}")
    bad = False
    for name in only:
        c_args, t_args = COMMANDS[name]
        cs, ts = [], []
        for _ in range(reps):  # interleaved, so that both sides see similar machine load
            cs.append(run([circuitc] + c_args + ["--model", model, "--json"]))
            if "--skip-tl" not in args:
                ts.append(run([python, os.path.join(HERE, "prompts_whole_tl.py"), t_args[0], model] + t_args[1:]))
        c_wall = [r[0] for r in cs]
        print(f"\n{name}: circuitc {' '.join(repr(a) if ' ' in a else a for a in c_args)}")
        print(f"  circuitc        {min(c_wall):8.2f} - {max(c_wall):7.2f} s   peak RSS {max(r[1] for r in cs):6.0f} MiB")
        if ts:
            t_wall = [r[0] for r in ts]
            diff, limit, same = compare(name, cs[-1][2], ts[-1][2])
            bad |= not (diff < limit and same)
            print(f"  TransformerLens {min(t_wall):8.2f} - {max(t_wall):7.2f} s   peak RSS {max(r[1] for r in ts):6.0f} "
                  f"MiB (torch {ts[-1][2]['torch']}, {ts[-1][2]['torch_threads']} threads)")
            print(f"  speed-up {min(t_wall) / min(c_wall):.2f}x (best vs best), peak RSS ratio "
                  f"{max(r[1] for r in cs) / max(r[1] for r in ts):.2f}; results differ by at most {diff:.3g} "
                  f"({'within' if diff < limit else 'NOT within'} {limit:g}){'' if same else '; top-K ids DIFFER'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
