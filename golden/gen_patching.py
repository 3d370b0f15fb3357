"""Activation- and path-patching goldens (golden/FORMAT.md, "Activation patching at
any hook" and "Path patching"): TransformerLens' patching.get_act_patch_* functions
on a prompt pair, and path patching written with hooks (the pinned TransformerLens
has no helper for it).

Called by generate.py for each model; to generate only these files:

  golden/.venv/bin/python golden/gen_patching.py [--out DIR] [--only induction-3l4h|gpt2-small-random]
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
from common import tensor_json, write_json  # noqa: E402

import torch  # noqa: E402

FIXTURE = "induction-3l4h"
BIG = "gpt2-small-random"
TOKENIZER_DIR = os.path.join(HERE, "..", "third_party", "gpt2-tokenizer")

# The fixture's toy vocabulary has no text: token ids. The clean prompt repeats
# its first block, so the induction head predicts ANSWER at the last position;
# the corrupted one shares positions 0..4 only.
FIXTURE_BLOCK = [10, 20, 30, 40, 50]
FIXTURE_ANSWER, FIXTURE_WRONG = 20, 99

# 20 tokens with BOS on GPT-2's tokenizer; the corrupted prompt swaps the second
# subject (position 12), so the answer flips from the indirect object to it.
IOI_CLEAN = "Then, when Mary and John went to the store together, John gave a bottle of milk to"
IOI_CORRUPT = "Then, when Mary and John went to the store together, Mary gave a bottle of milk to"
IOI_ANSWER, IOI_WRONG = " Mary", " John"

# TransformerLens functions, by the result key of act_patching.json
BY_POS = {"resid_pre": "get_act_patch_resid_pre", "resid_mid": "get_act_patch_resid_mid",
          "attn_out": "get_act_patch_attn_out", "mlp_out": "get_act_patch_mlp_out",
          "z_by_pos": "get_act_patch_attn_head_out_by_pos", "q_by_pos": "get_act_patch_attn_head_q_by_pos",
          "k_by_pos": "get_act_patch_attn_head_k_by_pos", "v_by_pos": "get_act_patch_attn_head_v_by_pos",
          "pattern_by_pos": "get_act_patch_attn_head_pattern_by_pos"}
ALL_POS = {"z_all_pos": "get_act_patch_attn_head_out_all_pos", "q_all_pos": "get_act_patch_attn_head_q_all_pos",
           "k_all_pos": "get_act_patch_attn_head_k_all_pos", "v_all_pos": "get_act_patch_attn_head_v_all_pos",
           "pattern_all_pos": "get_act_patch_attn_head_pattern_all_pos"}


def fixture_pair(bos):
    T = 12
    clean = [bos if t == 0 else FIXTURE_BLOCK[(t - 1) % 5] for t in range(T)]
    corrupt = [clean[t] if t < 5 else 100 + 7 * t for t in range(T)]
    return clean, corrupt, FIXTURE_ANSWER, FIXTURE_WRONG


def ioi_pair(bos):
    from transformers import GPT2TokenizerFast

    tok = GPT2TokenizerFast(vocab_file=os.path.join(TOKENIZER_DIR, "vocab.json"),
                            merges_file=os.path.join(TOKENIZER_DIR, "merges.txt"))
    clean = [bos] + tok(IOI_CLEAN)["input_ids"]
    corrupt = [bos] + tok(IOI_CORRUPT)["input_ids"]
    (answer,), (wrong,) = tok(IOI_ANSWER)["input_ids"], tok(IOI_WRONG)["input_ids"]
    assert len(clean) == len(corrupt) == 20
    return clean, corrupt, answer, wrong


def metrics(model, corrupt, answer, wrong):
    """The two metrics as functions of a run's logits [1, T, V]. The loss is the
    cross-entropy of the run's own tokens: the corrupted ones for every patched run."""
    from transformer_lens.utils import lm_cross_entropy_loss

    def logit_diff(logits):
        return logits[0, -1, answer] - logits[0, -1, wrong]

    def loss(logits):
        return lm_cross_entropy_loss(logits, corrupt)

    return {"logit_diff": logit_diff, "loss": loss}


def end_values(model, clean, corrupt, answer, wrong):
    with torch.no_grad():
        lc, lx = model(clean), model(corrupt)
        return {"logit_diff": (float(lc[0, -1, answer] - lc[0, -1, wrong]), float(lx[0, -1, answer] - lx[0, -1, wrong])),
                "loss": (float(model(clean, return_type="loss")), float(model(corrupt, return_type="loss")))}


AXES = {"pattern_by_pos": ["layer", "head_index", "dest_pos"]}


def axes_of(key):
    if key in AXES:
        return AXES[key]
    if key in ALL_POS:
        return ["layer", "head_index" if key.startswith("pattern") else "head"]
    return ["layer", "pos", "head"] if key.endswith("_by_pos") else ["layer", "pos"]


def act_patching_json(name, model, pair, plan):
    """PLAN: metric -> {result key: None (every index) or {axis: [values]} (the
    product of those values only, through TransformerLens' index_df)}."""
    import itertools

    import pandas as pd
    from transformer_lens import patching

    clean, corrupt, answer, wrong = pair
    ct, xt = torch.tensor([clean]), torch.tensor([corrupt])
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(ct)
    fns = metrics(model, xt, answer, wrong)
    ends = end_values(model, ct, xt, answer, wrong)
    out = {"model": name, "clean_tokens": clean, "corrupt_tokens": corrupt, "answer": answer, "wrong": wrong,
           "functions": {**BY_POS, **ALL_POS}, "metrics": {}}
    for metric, keys in plan.items():
        res = {}
        for key, subset in keys.items():
            fn = getattr(patching, BY_POS.get(key) or ALL_POS[key])
            axes = axes_of(key)
            with torch.no_grad():
                if subset is None:
                    full = fn(model, xt, clean_cache, fns[metric])
                    index = [list(i) for i in itertools.product(*[range(n) for n in full.shape])]
                    values = full.reshape(-1)
                else:
                    index = [list(i) for i in itertools.product(*[subset[a] for a in axes])]
                    values = fn.func(model, xt, clean_cache, fns[metric], patch_setter=fn.keywords["patch_setter"],
                                     activation_name=fn.keywords["activation_name"],
                                     index_df=pd.DataFrame(index, columns=axes))
            res[key] = {"axes": axes, "index": index, "value": [float(v) for v in values]}
        out["metrics"][metric] = {"clean": ends[metric][0], "corrupt": ends[metric][1], "results": res}
    return out


def z_caches(model, clean, corrupt):
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(clean, names_filter=lambda n: n.endswith("hook_z"))
        _, corrupt_cache = model.run_with_cache(corrupt, names_filter=lambda n: n.endswith("hook_z"))
    return clean_cache, corrupt_cache


def path_patch(model, clean, caches, sender, receivers, to, metric):
    """One sender head -> the receivers' hook_{to} input (IOI paper, ARENA's
    get_path_patch_head_to_heads): see FORMAT.md, "Path patching". CACHES: the
    clean and corrupted runs' hook_z."""
    from transformer_lens import utils

    clean_cache, corrupt_cache = caches
    with torch.no_grad():
        def freeze(z, hook):
            z[...] = clean_cache[hook.name]
            if hook.layer() == sender[0]:
                z[:, :, sender[1]] = corrupt_cache[hook.name][:, :, sender[1]]
            return z

        names = {utils.get_act_name(to, l) for l, _ in receivers}
        model.add_hook(lambda n: n.endswith("hook_z"), freeze)
        try:
            _, step1 = model.run_with_cache(clean, names_filter=lambda n: n in names, return_type=None)
        finally:
            model.reset_hooks()

        def receive(act, hook):
            for l, h in receivers:
                if hook.layer() == l:
                    act[:, :, h] = step1[hook.name][:, :, h]
            return act

        logits = model.run_with_hooks(clean, fwd_hooks=[(lambda n: n in names, receive)])
        return float(metric(logits))


def path_patching_json(name, model, pair, cases):
    """CASES: list of (receivers, to, senders)."""
    clean, corrupt, answer, wrong = pair
    ct, xt = torch.tensor([clean]), torch.tensor([corrupt])
    fn = metrics(model, xt, answer, wrong)["logit_diff"]
    ends = end_values(model, ct, xt, answer, wrong)["logit_diff"]
    out = {"model": name, "clean_tokens": clean, "corrupt_tokens": corrupt, "answer": answer, "wrong": wrong,
           "metric": "logit_diff", "clean": ends[0], "corrupt": ends[1], "cases": []}
    caches = z_caches(model, ct, xt)
    for receivers, to, senders in cases:
        values = [path_patch(model, ct, caches, s, receivers, to, fn) for s in senders]
        out["cases"].append({"receivers": [list(r) for r in receivers], "to": to,
                             "senders": [list(s) for s in senders], "value": values})
    return out


def generate(out_root, name, model):
    """Writes act_patching.json and path_patching.json of model NAME. Positions
    where the two prompts agree so far (the fixture's 0..4, the IOI pair's
    0..12) hold identical activations in both runs, so patching them gives the
    corrupted run exactly; the by-position sweeps over every head, and the
    GPT-2-shaped model's sweeps but resid_pre's, run the other positions only
    (index_df) to keep the generation within minutes."""
    t0 = time.time()
    out = os.path.join(out_root, name)
    L, H = model.cfg.n_layers, model.cfg.n_heads
    bos = model.cfg.d_vocab - 1
    if name == FIXTURE:
        pair = fixture_pair(bos)
        late = list(range(5, len(pair[0])))
        heads = {"layer": list(range(L)), "pos": late, "head": list(range(H))}
        plan = {"logit_diff": {**{k: None for k in ["resid_pre", "resid_mid", "attn_out", "mlp_out"]},
                               **{k: heads for k in ["z_by_pos", "q_by_pos", "k_by_pos", "v_by_pos"]},
                               "pattern_by_pos": {"layer": list(range(L)), "head_index": list(range(H)),
                                                  "dest_pos": late},
                               **{k: None for k in ALL_POS}},
                "loss": {"resid_pre": None, "mlp_out": None, "z_by_pos": heads, "k_all_pos": None}}
        cases = [([(1, 0)], to, [(0, h) for h in range(H)]) for to in ("q", "k", "v")]
        cases.append(([(2, 1), (2, 3)], "k", [(l, h) for l in range(2) for h in range(H)]))
    else:
        pair = ioi_pair(bos)
        T = len(pair[0])
        some = {"layer": list(range(L)), "pos": [13, T - 1]}
        heads = {"layer": [0, 6, L - 1], "pos": [T - 1], "head": list(range(H))}
        plan = {"logit_diff": {"resid_pre": None, "resid_mid": some, "attn_out": some, "mlp_out": some,
                               **{k: heads for k in ["z_by_pos", "q_by_pos", "k_by_pos", "v_by_pos"]},
                               "pattern_by_pos": {"layer": [0, 6, L - 1], "head_index": list(range(H)),
                                                  "dest_pos": [T - 1]}},
                "loss": {"resid_pre": some}}
        cases = [([(9, 9), (9, 6)], "q", [(2, 3), (7, 3), (8, 6)]),
                 ([(5, 5)], "k", [(4, h) for h in range(0, H, 3)])]
    write_json(os.path.join(out, "act_patching.json"), act_patching_json(name, model, pair, plan))
    write_json(os.path.join(out, "path_patching.json"), path_patching_json(name, model, pair, cases))
    return time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--only", choices=[FIXTURE, BIG])
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.use_deterministic_algorithms(True)
    for name in [args.only] if args.only else [FIXTURE, BIG]:
        model_dir = os.path.join(HERE, "models", FIXTURE) if name == FIXTURE else os.path.join(HERE, "build", BIG)
        if name == BIG:
            import generate as gen

            gen.ensure_big_model(model_dir)
        secs = generate(args.out, name, common.load_tl(model_dir, processing=True))
        print(f"[gen_patching] {name}: {secs:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
