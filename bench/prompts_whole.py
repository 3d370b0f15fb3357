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
from runtime_whole import blas_info, measure, option  # noqa: E402

PROMPT = "When Mary and John went to the store, John gave a drink to"
ANSWER, WRONG = " Mary", " John"
COMMANDS = {  # name: (circuitc arguments, TransformerLens script arguments)
    "dla": (["dla", "--prompt", PROMPT, "--answer", ANSWER, "--wrong", WRONG], ["dla", PROMPT, ANSWER, WRONG]),
    "lens": (["lens", "--prompt", PROMPT, "--top", "5"], ["lens", PROMPT, "--top", "5"]),
}


def compare(name, c, t):
    """Largest difference between the two results, its limit, and a note when top-K ids differ."""
    if name == "dla":
        parts = t["parts"]
        worst = max(abs(c["heads"][l][h] - t["heads"][l][h]) for l in range(len(t["heads"]))
                    for h in range(len(t["heads"][0])))
        for l in range(len(c["mlp_out"])):
            worst = max(worst, abs(c["mlp_out"][l] - parts[f"{l}_mlp_out"]),
                        abs(c["attn_out"][l] - parts[f"{l}_attn_out"]))
        worst = max(worst, abs(c["embed"] - parts["embed"]), abs(c["pos_embed"] - parts["pos_embed"]),
                    abs(c["logit"] - t["logit"]))
        return worst, 1e-4, ""
    worst, same_top = 0.0, True
    for i, layer in enumerate(c["layers"]):
        for p, prob in enumerate(layer["prob_next"][:-1]):
            worst = max(worst, abs(prob - t["prob_next"][i][p]))
        for p, top in enumerate(layer["top"]):
            same_top &= [x["id"] for x in top] == t["top_ids"][i][p]
    return worst, 1e-5, "" if same_top else "; top-K ids DIFFER"


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
        t_argv = [python, os.path.join(HERE, "prompts_whole_tl.py"), t_args[0], model] + t_args[1:]
        bad |= measure(name, [circuitc] + c_args + ["--model", model, "--json"],
                       None if "--skip-tl" in args else t_argv, reps, lambda c, t, name=name: compare(name, c, t))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
