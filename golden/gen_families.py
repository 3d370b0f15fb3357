"""Goldens of the family fixtures (golden/families.py; golden/FORMAT.md, "Family
fixtures"): the pinned TransformerLens loads each fixture through its own config
and weight conversion (common.load_tl) and the generator's functions write the
same files as for induction-3l4h, plus hooks.json (every hook of one batch).

Called by generate.py (`golden/generate --only NAME [--check]`).
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import families  # noqa: E402
import gen_patching  # noqa: E402
from common import hook_tensor_json, tensor_json, write_json  # noqa: E402

import torch  # noqa: E402

NAMES = families.FIXTURES
REPEAT_BATCH, REPEAT_N = 4, 20  # forward.json / head_scores.json: [BOS, A, A], T = 41
HOOKS_BATCH, HOOKS_POS = 2, 12  # hooks.json


def bos_id(model_dir, model):
    """The checkpoint's bos_token_id (HF config), else d_vocab - 1 (TL checkpoints have none)."""
    import json

    with open(os.path.join(model_dir, "config.json")) as f:
        bos = json.load(f).get("bos_token_id")
    return int(bos) if isinstance(bos, int) else model.cfg.d_vocab - 1


def hooks_tokens(bos, vocab):
    """[HOOKS_BATCH, HOOKS_POS]: BOS, then hash_tokens(0, "hooks-tokens") row after row."""
    r = common.hash_tokens(0, "hooks-tokens", HOOKS_BATCH * (HOOKS_POS - 1), vocab).reshape(HOOKS_BATCH, -1)
    return torch.cat([torch.full((HOOKS_BATCH, 1), bos, dtype=torch.int64), torch.from_numpy(r)], dim=1)


def hooks_json(name, model, tokens, processing):
    """Every activation TransformerLens' run_with_cache returns, in its order, and the logits."""
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
    return {"model": name, "processing": processing, "tokens": tensor_json(tokens), "names": list(cache.keys()),
            "hooks": {k: hook_tensor_json(v) for k, v in cache.items()}, "logits": hook_tensor_json(logits)}


def check_against_hf(name, model_dir, raw, tokens):
    """The oracle's own check: TransformerLens' unprocessed logits against the Hugging
    Face model's on TOKENS (within the logits tolerance), so that a conversion TL gets
    wrong for an architecture fails here rather than becoming a golden."""
    from transformers import AutoModelForCausalLM

    if common.is_tl_checkpoint(model_dir):
        return
    hf = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32,
                                              attn_implementation="eager").eval()
    with torch.no_grad():
        diff = float((raw(tokens) - hf(tokens).logits).abs().max())
    if diff > 1e-4:
        raise SystemExit(f"{name}: TransformerLens' logits differ from Hugging Face's by {diff:.3g} (> 1e-4)")
    import generate as gen

    gen.log(f"{name}: TransformerLens vs Hugging Face logits, max |diff| {diff:.3g}")


def factored_json(name, model):
    """K-composition counts of every head pair (lP < lI), OV and QK counts of every
    head, and the three composition-score tensors (generate.py's functions)."""
    import generate as gen

    L, H = model.cfg.n_layers, model.cfg.n_heads
    kcomp = [gen.kcomp_entry(model, (lp, hp), (li, hi), 512)
             for lp in range(L) for hp in range(H) for li in range(lp + 1, L) for hi in range(H)]
    ov1, ov5, qk1 = (torch.zeros(L, H, dtype=torch.int64) for _ in range(3))
    for l in range(L):
        for h in range(H):
            ov1[l, h], ov5[l, h] = gen.ov_counts(model, l, h, 512)
            qk1[l, h] = gen.qk_top1(model, l, h, 512)
    with torch.no_grad():
        comp = {m.lower(): tensor_json(model.all_composition_scores(m)) for m in ["Q", "K", "V"]}
    return {"model": name, "processing": True, "kcomp": kcomp, "ov": {"top1": tensor_json(ov1), "top5": tensor_json(ov5)},
            "qk": {"top1": tensor_json(qk1)}, "composition_scores": comp}


def patching_plan(model, clean):
    """gen_patching's plan for the hooks this architecture has: the residual stream
    and block outputs in full (resid_mid only with a sequential block, mlp_out only
    with an MLP), head outputs and queries at the positions where the prompts
    differ, every head's pattern over all positions; the loss at resid_pre."""
    c = model.cfg
    L, H = c.n_layers, c.n_heads
    late = list(range(5, len(clean)))
    full = ["resid_pre", "attn_out"]
    if not c.attn_only:
        full.append("mlp_out")
        if not c.parallel_attn_mlp:
            full.append("resid_mid")
    heads = {"layer": list(range(L)), "pos": late, "head": list(range(H))}
    return {"logit_diff": {**{k: None for k in full}, "z_by_pos": heads, "q_by_pos": heads, "pattern_all_pos": None},
            "loss": {"resid_pre": None}}


def generate(out_root, name):
    t = {}
    model_dir = os.path.join(families.MODELS_DIR, name)
    out = os.path.join(out_root, name)
    t0 = time.time()
    model = common.load_tl(model_dir, processing=True)
    raw = common.load_tl(model_dir, processing=False)
    t["load"] = time.time() - t0
    import generate as gen

    V, bos = model.cfg.d_vocab, bos_id(model_dir, model)
    B, n = REPEAT_BATCH, REPEAT_N
    toks = torch.from_numpy(common.repeat_tokens(gen.TOKEN_SEED, B, n, V, bos))
    check_against_hf(name, model_dir, raw, toks)
    write_json(os.path.join(out, "tokens.json"), {
        "model": name, "seed": gen.TOKEN_SEED, "batch": B, "n": n, "vocab": V, "bos": bos,
        "generator": "hash-stream repeat-tokens (FORMAT.md)", "tokens": tensor_json(toks)})
    t0 = time.time()
    write_json(os.path.join(out, "weights.json"), gen.weights_json(name, model, True, 4096))
    write_json(os.path.join(out, "raw", "weights.json"), gen.weights_json(name, raw, False, 4096))
    t["weights"] = time.time() - t0
    t0 = time.time()
    for sub, m, proc in (("", model, True), ("raw", raw, False)):
        fwd, _ = gen.forward_json(name, m, toks, n, proc, False, None, 256)
        write_json(os.path.join(out, sub, "forward.json"), fwd)
        write_json(os.path.join(out, sub, "hooks.json"), hooks_json(name, m, hooks_tokens(bos, V), proc))
    t["forward_hooks"] = time.time() - t0
    t0 = time.time()
    hs, cache = gen.head_scores_json(name, model, toks, n)
    write_json(os.path.join(out, "head_scores.json"), hs)
    ind = gen.best_head(hs["induction"], lambda l: l > 0)
    prev = gen.best_head(hs["previous_token"], lambda l: l < ind[0])
    cur = gen.best_head(hs["current_token"])
    write_json(os.path.join(out, "patterns.json"),
               gen.patterns_json(name, cache, {"induction": ind, "previous_token": prev, "current_token": cur}))
    t["head_scores"] = time.time() - t0
    t0 = time.time()
    write_json(os.path.join(out, "factored.json"), factored_json(name, model))
    t["factored"] = time.time() - t0
    t0 = time.time()
    pair = gen_patching.fixture_pair(bos)
    write_json(os.path.join(out, "act_patching.json"),
               gen_patching.act_patching_json(name, model, pair, patching_plan(model, pair[0])))
    t["act_patching"] = time.time() - t0
    write_json(os.path.join(out, "provenance.json"), gen.provenance(
        name, model_dir, model, {"tokens": gen.TOKEN_SEED, "weight_sample": gen.SAMPLE_SEED, "hooks_tokens": 0,
                                 "fixture": families.seed_of(name)}, t,
        {"circuit_heads": {"prev": prev, "ind": ind, "current": cur}, "family": family_json(model)},
        files=sorted(os.listdir(model_dir))))
    gen.log(f"{name}: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))


def family_json(model):
    """The block-shape fields of the TransformerLens config that set each family apart."""
    c = model.cfg
    keys = ["original_architecture", "positional_embedding_type", "rotary_dim", "rotary_base", "rotary_adjacent_pairs",
            "n_key_value_heads", "parallel_attn_mlp", "attn_only", "gated_mlp", "use_attn_scale", "use_local_attn",
            "window_size", "attn_types", "final_rms", "d_vocab_out"]
    return {k: getattr(c, k) for k in keys}
