#!/usr/bin/env python3
"""TransformerLens goldens for the block shapes beyond GPT-2 (tests/test_parity_shapes.c).

For each shape below: HookedTransformer(cfg) with a fixed seed, every parameter
redrawn large enough that attention patterns are far from uniform (matrices
std 0.5, biases 0.1, norm weights 1 +- 0.1), no weight processing; then one
run_with_cache on fixed tokens. Each golden/out/shapes/<shape>.json holds:

  model           the shape's name
  tl_config       the HookedTransformerConfig fields set here
  circuitc_config the same block shape as circuitc's cc_config fields
  weights         TL's weights in circuitc's layout (cc_weights): W_Q, W_K, ...
                  stacked over layers [L, H, d, dh] (TL's W_Q / W_K properties:
                  with grouped-query attention the key/value heads repeated per
                  query head), norms ln1_w [L, d] ..., absent ones omitted
  tokens          [B, T]
  hooks           every activation of the cache whose name circuitc knows
                  (blocks.{l}.attn.hook_q, ...; not ln*.hook_scale) and logits

Tensors are golden/FORMAT.md's {"shape", "data"} objects, except that floats
are written as the shortest text that reads back as the same float32 (numpy's
str of a float32) to keep the files small, and the attention scores' masked
-inf entries are null. Run inside golden/.venv:

    golden/.venv/bin/python golden/gen_shapes.py [OUT_DIR]   (default golden/out/shapes)

The output is generated: do not edit it, rerun this script.
"""
import json
from importlib.metadata import version
import os
import sys

import numpy as np
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from sources import provenance_sources

SEED = 19
B, T = 2, 8

COMMON = dict(n_layers=2, d_model=16, n_heads=4, d_head=6, d_mlp=24, d_vocab=29, n_ctx=12, eps=1e-5,
              seed=SEED, dtype=torch.float32, device="cpu", default_prepend_bos=False)

# name: (TL config fields, circuitc family)
SHAPES = {
    # RMSNorm, rotary (full), grouped-query attention, gated silu MLP
    "llama": (dict(normalization_type="RMS", positional_embedding_type="rotary", rotary_dim=6, rotary_base=10000,
                   n_key_value_heads=2, gated_mlp=True, act_fn="silu"), "llama"),
    # LayerNorm, partial rotary, parallel attention and MLP, exact gelu
    "pythia": (dict(normalization_type="LN", positional_embedding_type="rotary", rotary_dim=4, rotary_base=10000,
                    parallel_attn_mlp=True, act_fn="gelu"), "gpt_neox"),
    # rotary on adjacent pairs (GPT-J's pairing), partial, parallel, another base
    "adjacent_rotary": (dict(normalization_type="LN", positional_embedding_type="rotary", rotary_dim=4,
                             rotary_base=500, rotary_adjacent_pairs=True, parallel_attn_mlp=True,
                             act_fn="gelu_new"), "transformer_lens"),
    # learned positions, no attention scale, a local layer then a global one
    "gpt_neo": (dict(normalization_type="LN", positional_embedding_type="standard", use_attn_scale=False,
                     use_local_attn=True, attn_types=["local", "global"], window_size=3, act_fn="gelu_new"), "gpt_neo"),
    # TransformerLens' attention-only toy: shortformer positions, no MLP
    "toy_attn_only": (dict(normalization_type="LN", positional_embedding_type="shortformer", attn_only=True,
                           d_mlp=None, act_fn=None), "transformer_lens"),
}

ACTS = {"gelu_new": "gelu_new", "gelu": "gelu", "silu": "silu", "relu": "relu", None: "gelu_new"}


def circuitc_config(tl, family):
    """The cc_config fields of TL config TL (include/circuitc/config.h)."""
    attn_only = bool(tl.attn_only)
    local = [l for l, t in enumerate(tl.attn_types or []) if t == "local" and tl.use_local_attn]
    return {
        "family": family, "n_layers": tl.n_layers, "n_heads": tl.n_heads, "d_model": tl.d_model,
        "d_head": tl.d_head, "d_mlp": 0 if attn_only else tl.d_mlp, "d_vocab": tl.d_vocab, "n_ctx": tl.n_ctx,
        "ln_eps": tl.eps, "n_kv_heads": tl.n_key_value_heads or 0,
        "norm": "rms" if tl.normalization_type == "RMS" else "ln",
        "pos": {"standard": "learned", "shortformer": "shortformer", "rotary": "rotary"}[tl.positional_embedding_type],
        "rotary_dim": tl.rotary_dim or 0, "rotary_base": tl.rotary_base, "rotary_adjacent": tl.rotary_adjacent_pairs,
        "attn_unscaled": not tl.use_attn_scale, "parallel": tl.parallel_attn_mlp, "attn_only": attn_only,
        "gated": tl.gated_mlp, "act": ACTS[tl.act_fn], "window": tl.window_size or 0, "local_layers": local,
    }


def redraw(model):
    """Every parameter drawn again: norms 1 +- 0.1 (weights) and 0.1 (biases), other biases 0.1, matrices 0.5."""
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            if ".ln" in name or name.startswith("ln_final"):
                p.copy_(1 + 0.1 * noise if leaf == "w" else 0.1 * noise)
            elif leaf.startswith("b") or leaf.startswith("_b"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.5 * noise)


def tensor(x):
    a = np.asarray(x.detach().cpu().numpy() if torch.is_tensor(x) else x, dtype=np.float32)
    data = [None if v == -np.inf else float(str(v)) for v in a.ravel()]
    return {"shape": list(a.shape), "data": data}


def weights(model):
    """TL's weights in cc_weights' layout."""
    cfg = model.cfg
    out = {"W_E": model.W_E, "W_U": model.W_U, "b_U": model.b_U}
    if cfg.positional_embedding_type != "rotary":
        out["W_pos"] = model.W_pos
    for key in ["W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O"]:
        out[key] = getattr(model, key)
    if not cfg.attn_only:
        for key in ["W_in", "b_in", "W_out", "b_out"] + (["W_gate"] if cfg.gated_mlp else []):
            out[key] = getattr(model, key)
    norms = [("ln1", "ln1")] + ([] if cfg.attn_only else [("ln2", "ln2")])
    for ours, theirs in norms:
        blocks = [getattr(b, theirs) for b in model.blocks]
        out[ours + "_w"] = torch.stack([n.w for n in blocks])
        if hasattr(blocks[0], "b"):
            out[ours + "_b"] = torch.stack([n.b for n in blocks])
    out["lnf_w"] = model.ln_final.w
    if hasattr(model.ln_final, "b"):
        out["lnf_b"] = model.ln_final.b
    return {k: tensor(v) for k, v in out.items()}


HOOK_SUFFIXES = ("hook_embed", "hook_pos_embed", "hook_resid_pre", "attn.hook_q", "attn.hook_k", "attn.hook_v",
                 "attn.hook_rot_q", "attn.hook_rot_k", "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z",
                 "hook_attn_out", "hook_resid_mid", "mlp.hook_pre", "mlp.hook_pre_linear", "mlp.hook_post",
                 "hook_mlp_out", "hook_resid_post", "ln_final.hook_normalized")


def generate(name, fields, family):
    cfg = HookedTransformerConfig(**{**COMMON, **fields})
    torch.manual_seed(SEED)
    model = HookedTransformer(cfg)
    model.eval()
    redraw(model)
    gen = torch.Generator().manual_seed(SEED + 1)
    tokens = torch.randint(0, cfg.d_vocab, (B, T), generator=gen)
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
    hooks = {k: tensor(v) for k, v in cache.items() if k.endswith(HOOK_SUFFIXES)}
    hooks["logits"] = tensor(logits)
    tl_fields = {k: v for k, v in fields.items()}
    tl_fields.update({k: v for k, v in COMMON.items() if k not in ("dtype", "device")})
    return {"model": name, "tl_config": tl_fields, "circuitc_config": circuitc_config(cfg, family),
            "weights": weights(model), "tokens": tokens.tolist(), "hooks": hooks}


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "out", "shapes")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    for name, (fields, family) in SHAPES.items():
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(generate(name, fields, family), f, separators=(",", ":"))
    provenance = {"model": "shapes", **provenance_sources("gen_shapes.py"),
                  "versions": {"torch": torch.__version__, "transformer_lens": version("transformer-lens"), "numpy": np.__version__},
                  "shapes": list(SHAPES), "seed": SEED, "processing": False}
    with open(os.path.join(out_dir, "provenance.json"), "w") as f:
        json.dump(provenance, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
