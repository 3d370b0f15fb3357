"""Gradient goldens (docs/gradients.md; golden/FORMAT.md, "Gradients"): for every
fixture (induction-3l4h and the family fixtures), with TransformerLens' default
processing (in float32), then run in float64, the gradient of each metric at every hook point circuitc has, taken
with TransformerLens' backward hooks (HookPoint.add_hook(dir="bwd")), and the
gradient at the logits.

    golden/.venv/bin/python golden/gen_gradients.py [--only NAME]

writes golden/out/<fixture>/gradients.json (the batch, the metrics' inputs and
values) and gradients.safetensors (float32 tensors named "<metric>/<hook name>",
"<metric>/logits", and "kl/clean_logprobs"). The batch: [B=2, T=8] tokens, BOS
then hash_tokens(0, "gradient-tokens"); the metrics:
  logit_diff  mean over b of logits[b, p_b, answer_b] - logits[b, p_b, wrong_b], p = (T-1, 5)
  loss        model(tokens, return_type="loss") (mean next-token cross-entropy)
  kl          mean over b of sum_v q (log q - log_softmax(logits[b, p_b])), q the softmax of
              the run of the clean batch (BOS then hash_tokens(0, "gradient-clean")) at p_b
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import families  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

FIXTURES = ["induction-3l4h"] + list(families.FIXTURES)
B, T = 2, 8
POSITIONS = [T - 1, 5]
BLOCK_HOOKS = ["hook_resid_pre", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_rot_q", "attn.hook_rot_k",
               "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z", "hook_attn_out", "hook_resid_mid",
               "mlp.hook_pre", "mlp.hook_pre_linear", "mlp.hook_post", "hook_mlp_out", "hook_resid_post"]
GLOBAL_HOOKS = ["hook_embed", "hook_pos_embed", "ln_final.hook_normalized"]


def bos_id(model_dir, model):
    import json

    with open(os.path.join(model_dir, "config.json")) as f:
        bos = json.load(f).get("bos_token_id")
    return int(bos) if isinstance(bos, int) else model.cfg.d_vocab - 1


def batch(name, bos, vocab):
    r = common.hash_tokens(0, name, B * (T - 1), vocab).reshape(B, -1)
    return torch.cat([torch.full((B, 1), bos, dtype=torch.int64), torch.from_numpy(r)], dim=1)


def metric(kind, model, logits, tokens, answer, wrong, clean_logprobs):
    rows = logits[torch.arange(B), torch.tensor(POSITIONS)]  # [B, V]
    if kind == "logit_diff":
        return (rows[torch.arange(B), answer] - rows[torch.arange(B), wrong]).mean()
    if kind == "loss":
        from transformer_lens.utils import lm_cross_entropy_loss

        return lm_cross_entropy_loss(logits, tokens)
    lp = torch.log_softmax(rows, dim=-1)
    return (clean_logprobs.exp() * (clean_logprobs - lp)).sum(-1).mean()


def gradients(model, kind, tokens, answer, wrong, clean_logprobs):
    """Every hook's gradient (TL backward hooks) and the logits' for METRIC KIND."""
    names = [n for n in GLOBAL_HOOKS if n in model.hook_dict]
    names += [f"blocks.{l}.{h}" for l in range(model.cfg.n_layers) for h in BLOCK_HOOKS
              if f"blocks.{l}.{h}" in model.hook_dict]
    grads = {}

    def keep(act_grad, hook):
        grads[hook.name] = act_grad.detach().clone()

    model.reset_hooks()
    for n in names:
        model.add_hook(n, keep, dir="bwd")
    model.zero_grad(set_to_none=True)
    logits = model(tokens)
    logits.retain_grad()
    value = metric(kind, model, logits, tokens, answer, wrong, clean_logprobs)
    value.backward()
    model.reset_hooks()
    grads["logits"] = logits.grad.detach().clone()
    return float(value), grads


def generate(name):
    import generate as gen

    model_dir = os.path.join(HERE, "models", name)
    # loaded and processed in float32 as everywhere in golden/, then run in float64: the
    # weights are exactly circuitc's, and the golden carries no float32 rounding of its own
    # (a gradient computed through a saturated softmax loses most of its float32 digits)
    model = common.load_tl(model_dir, processing=True).to(torch.float64)
    torch.set_grad_enabled(True)
    V = model.cfg.d_vocab
    bos = bos_id(model_dir, model)
    tokens, clean = batch("gradient-tokens", bos, V), batch("gradient-clean", bos, V)
    aw = common.hash_tokens(0, "gradient-answers", 2 * B, V)
    answer, wrong = torch.from_numpy(aw[:B].astype(np.int64)), torch.from_numpy(aw[B:].astype(np.int64))
    with torch.no_grad():
        clean_logprobs = torch.log_softmax(model(clean)[torch.arange(B), torch.tensor(POSITIONS)], dim=-1)
    tensors = {"kl/clean_logprobs": clean_logprobs.float().numpy()}
    clean_logprobs = clean_logprobs.float().double()  # the float32 values circuitc reads
    values = {}
    for kind in ("logit_diff", "loss", "kl"):
        values[kind], grads = gradients(model, kind, tokens, answer, wrong, clean_logprobs)
        for hook, g in grads.items():
            assert torch.isfinite(g).all(), f"{name} {kind} {hook}: non-finite gradient"
            tensors[f"{kind}/{hook}"] = g.float().contiguous().numpy()
    out = os.path.join(HERE, "out", name)
    os.makedirs(out, exist_ok=True)
    save_file(tensors, os.path.join(out, "gradients.safetensors"))
    common.write_json(os.path.join(out, "gradients.json"), {
        "model": name, "processing": True, "dtype": "float64", "tokens": common.tensor_json(tokens),
        "clean_tokens": common.tensor_json(clean), "positions": POSITIONS,
        "answer": [int(a) for a in answer], "wrong": [int(w) for w in wrong],
        "metrics": {k: float(v) for k, v in values.items()},
        "tensors": sorted(tensors)})
    common.write_json(os.path.join(out, "gradients.provenance.json"), gen.generator_provenance(
        "gen_gradients.py", ["common.py", "families.py", "generate.py"], model_dir))
    gen.log(f"{name}: gradients of {len(values)} metrics at {len(tensors) - 1} tensors")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=FIXTURES)
    args = ap.parse_args()
    torch.set_num_threads(2)
    for name in [args.only] if args.only else FIXTURES:
        generate(name)


if __name__ == "__main__":
    main()
