"""Fixture models of the non-GPT-2 families (golden/README.md, "Family fixtures").

Four small random-weight Hugging Face checkpoints, each made with `transformers`
from a config (AutoModelForCausalLM.from_config under a fixed torch seed, a raised
initializer_range so attention and logits are far from uniform), and one
TransformerLens attention-only checkpoint with a hand-built previous-token ->
induction circuit, exported the documented way (safetensors state dict +
HookedTransformerConfig JSON). Rebuilds are bit-identical (sha256 in --verify).

  python families.py [--only NAME] [--out DIR]     write golden/models/NAME/
  python families.py --verify [--only NAME]        rebuild into a temp dir, compare sha256
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402,F401  (sets the offline environment)

import torch  # noqa: E402

MODELS_DIR = os.path.join(HERE, "models")
CONST_NOISE_STD = 0.2  # HF initialises norm weights to 1 and biases to 0: perturb them (see perturb_constants)

# name -> (HF config class, config kwargs, seed, dtype, max_shard_size or None)
HF_FIXTURES = {
    "gpt-neo-tiny": ("GPTNeoConfig", dict(
        num_layers=3, hidden_size=96, num_heads=4, attention_types=[[["local", "global"], 1], [["local"], 1]],
        window_size=5, vocab_size=512, max_position_embeddings=128, tie_word_embeddings=True,
        initializer_range=0.1, bos_token_id=511, eos_token_id=511,
        embed_dropout=0.0, attention_dropout=0.0, resid_dropout=0.0), 101, torch.float32, None),
    "pythia-tiny": ("GPTNeoXConfig", dict(
        num_hidden_layers=3, hidden_size=96, num_attention_heads=4, rotary_pct=0.25, use_parallel_residual=True,
        hidden_act="gelu", intermediate_size=200, tie_word_embeddings=False, vocab_size=512,
        max_position_embeddings=128, initializer_range=0.2, bos_token_id=0, eos_token_id=0,
        attention_dropout=0.0, hidden_dropout=0.0), 102, torch.float16, None),
    "llama-tiny": ("LlamaConfig", dict(
        num_hidden_layers=3, hidden_size=96, num_attention_heads=4, num_key_value_heads=2, head_dim=24,
        intermediate_size=160, rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False, vocab_size=512,
        max_position_embeddings=128, initializer_range=0.2, bos_token_id=1, eos_token_id=2,
        hidden_act="silu"), 103, torch.bfloat16, 250_000),
    "gpt2-odd": ("GPT2Config", dict(
        n_layer=2, n_embd=72, n_head=3, n_inner=200, vocab_size=512, n_positions=128,
        tie_word_embeddings=False, initializer_range=0.2, bos_token_id=511, eos_token_id=511,
        activation_function="gelu_new", embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0), 104, torch.float32, None),
}
TL_FIXTURE = "attn-only-2l"
TL_SEED = 105
FIXTURES = list(HF_FIXTURES) + [TL_FIXTURE]


def seed_of(name):
    return TL_SEED if name == TL_FIXTURE else HF_FIXTURES[name][2]


def perturb_constants(model, seed):
    """Every parameter HF initialised to a constant (norm weights 1, biases 0) gets
    N(0, CONST_NOISE_STD^2) noise added, in named_parameters order: otherwise
    folding a norm or a bias would be a no-op and go untested."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.numel() > 1 and bool((p == p.reshape(-1)[0]).all()):
                p.add_(torch.randn(p.shape, generator=g) * CONST_NOISE_STD)


def build_hf(name, out_dir):
    import transformers

    cls_name, kwargs, seed, dtype, shard = HF_FIXTURES[name]
    config = getattr(transformers, cls_name)(**kwargs)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32,
                                                          attn_implementation="eager")
    perturb_constants(model, seed + 1000)
    model = model.to(dtype)
    model.config.torch_dtype = dtype
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True, **({"max_shard_size": shard} if shard else {}))


# ---------------------------------------------------------------------------
# attn-only-2l: a TransformerLens checkpoint with a hand-built circuit

TL_D, TL_H, TL_DH, TL_V, TL_CTX = 64, 4, 16, 512, 128
TOK, POS, PREV, OUT = 0, 16, 32, 48  # residual slots of 16 dims: token code, position code (W_pos), prev token, output
PREV_HEAD, IND_HEAD = (0, 0), (1, 0)


def tl_config():
    from transformer_lens import HookedTransformerConfig

    return HookedTransformerConfig(
        n_layers=2, d_model=TL_D, n_heads=TL_H, d_head=TL_DH, attn_only=True, positional_embedding_type="shortformer",
        normalization_type="LN", d_vocab=TL_V, n_ctx=TL_CTX, act_fn=None, seed=TL_SEED, model_name=TL_FIXTURE,
        default_prepend_bos=False, device="cpu")


def attn_only_state_dict(model):
    """The untrained model's own (TL-initialised) weights with the circuit written in:
    - token code: W_E[t, TOK] = random zero-sum directions of norm 8 (the LayerNorm
      scale of a 64-dim residual), W_U reads the same codes from the OUT slot;
    - W_pos: 8 sinusoid pairs in the POS slot (shortformer: added to the query and key
      inputs only, after ln1);
    - L0H0 previous-token head: the query rotates position p's code to p-1's, the key
      reads the plain code; OV copies the token code into the PREV slot;
    - L1H0 induction head: query = token code, key = PREV slot (K-composition with
      L0H0); OV copies the attended token code into the OUT slot;
    the two circuit heads' W_Q and W_K hold the circuit only (the init noise would
    let them attend to earlier copies of the current token).
    Biases get small noise so that fold_value_biases has something to fold."""
    g = torch.Generator().manual_seed(TL_SEED)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    eye = torch.eye(TL_DH)
    code = torch.randn(TL_V, TL_DH, generator=g)
    code = code - code.mean(1, keepdim=True)
    code = code / code.norm(dim=1, keepdim=True) * 8.0
    sd["embed.W_E"][:, TOK:TOK + TL_DH] += code
    sd["embed.W_E"][:, TOK + TL_DH:] = 0.0  # the other slots start clean (a token's noise there reads as position)
    sd["unembed.W_U"][OUT:OUT + TL_DH, :] += 0.5 * code.T
    omegas = torch.linspace(1.0, 3.0, TL_DH // 2, dtype=torch.float64) + 0.037 * torch.arange(TL_DH // 2)
    pos = torch.arange(TL_CTX, dtype=torch.float64)
    pe = torch.zeros(TL_CTX, TL_DH, dtype=torch.float64)
    pe[:, 0::2] = torch.cos(pos[:, None] * omegas) * math.sqrt(2)
    pe[:, 1::2] = torch.sin(pos[:, None] * omegas) * math.sqrt(2)
    sd["pos_embed.W_pos"][:, POS:POS + TL_DH] += pe.float()
    rot = torch.zeros(TL_DH, TL_DH, dtype=torch.float64)  # code(p) @ rot = code(p-1)
    for k, w in enumerate(omegas.tolist()):
        c, s = math.cos(w), math.sin(w)
        rot[2 * k, 2 * k], rot[2 * k, 2 * k + 1] = c, -s
        rot[2 * k + 1, 2 * k], rot[2 * k + 1, 2 * k + 1] = s, c
    for l, h in (PREV_HEAD, IND_HEAD):  # the circuit heads' QK is the circuit alone (no init noise)
        sd[f"blocks.{l}.attn.W_Q"][h] = 0.0
        sd[f"blocks.{l}.attn.W_K"][h] = 0.0
    l, h = PREV_HEAD
    sd[f"blocks.{l}.attn.W_Q"][h, POS:POS + TL_DH] += 3.0 * rot.float()
    sd[f"blocks.{l}.attn.W_K"][h, POS:POS + TL_DH] += 3.0 * eye
    sd[f"blocks.{l}.attn.W_V"][h, TOK:TOK + TL_DH] += eye
    sd[f"blocks.{l}.attn.W_O"][h, :, PREV:PREV + TL_DH] += eye
    l, h = IND_HEAD
    sd[f"blocks.{l}.attn.W_Q"][h, TOK:TOK + TL_DH] += 3.0 * eye
    sd[f"blocks.{l}.attn.W_K"][h, PREV:PREV + TL_DH] += 3.0 * eye
    sd[f"blocks.{l}.attn.W_V"][h, TOK:TOK + TL_DH] += eye
    sd[f"blocks.{l}.attn.W_O"][h, :, OUT:OUT + TL_DH] += eye
    for k in sd:
        if k.split(".")[-1] in ("b_Q", "b_K", "b_V", "b_O", "b_U", "b"):
            sd[k] += 0.1 * torch.randn(sd[k].shape, generator=g)
        elif k.endswith(".w"):
            sd[k] += 0.1 * torch.randn(sd[k].shape, generator=g)
    return sd


def circuit_scores(model, n=20, batch=4):
    """(previous-token score of L0H0, induction score of L1H0) on repeated random tokens."""
    toks = torch.from_numpy(common.repeat_tokens(0, batch, n, TL_V, TL_V - 1))
    with torch.no_grad():
        _, cache = model.run_with_cache(toks)
    prev = cache["pattern", PREV_HEAD[0]][:, PREV_HEAD[1]].diagonal(-1, dim1=-2, dim2=-1).mean()
    ind = cache["pattern", IND_HEAD[0]][:, IND_HEAD[1]].diagonal(1 - n, dim1=-2, dim2=-1).mean()
    return float(prev), float(ind)


def build_attn_only(out_dir):
    """Build, process as HookedTransformer.from_pretrained does for a shortformer model
    (fold_ln, center_writing_weights and center_unembed are switched off there; only
    fold_value_biases applies), check the circuit, export the documented way."""
    import safetensors.torch
    from transformer_lens import HookedTransformer

    torch.manual_seed(TL_SEED)
    model = HookedTransformer(tl_config(), move_to_device=False)
    model.load_and_process_state_dict(attn_only_state_dict(model), fold_ln=False, center_writing_weights=False,
                                      center_unembed=False, fold_value_biases=True)
    model.eval()
    prev, ind = circuit_scores(model)
    if prev < 0.9 or ind < 0.8:
        raise SystemExit(f"{TL_FIXTURE}: the hand-built circuit is too weak: previous-token score {prev:.3f}, "
                         f"induction score {ind:.3f} (want >= 0.9 and >= 0.8)")
    print(f"[families] {TL_FIXTURE}: previous-token score L0H0 {prev:.3f}, induction score L1H0 {ind:.3f}",
          file=sys.stderr)
    os.makedirs(out_dir, exist_ok=True)
    # the two export lines of the documentation
    safetensors.torch.save_file(model.state_dict(), os.path.join(out_dir, "model.safetensors"))
    json.dump(model.cfg.to_dict(), open(os.path.join(out_dir, "config.json"), "w"), default=str)


# The tokenizer shipped with a fixture, so prompts work on it without --tokenizer:
# a tokenizer.json of golden/tokenizers/ (golden/tokenizer_json_goldens.py) shaped
# like its family's real one, with fewer tokens (480) than the model's vocabulary (512).
TOKENIZERS = {"pythia-tiny": "neox", "llama-tiny": "llama2"}


def build(name, out_dir):
    if name == TL_FIXTURE:
        build_attn_only(out_dir)
    else:
        build_hf(name, out_dir)
    if name in TOKENIZERS:
        here = os.path.dirname(os.path.abspath(__file__))
        shutil.copyfile(os.path.join(here, "tokenizers", TOKENIZERS[name], "tokenizer.json"),
                        os.path.join(out_dir, "tokenizer.json"))


def model_files(d):
    return {f: common.sha256_file(os.path.join(d, f)) for f in sorted(os.listdir(d))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=FIXTURES)
    ap.add_argument("--out", default=MODELS_DIR, help="parent folder (default golden/models)")
    ap.add_argument("--verify", action="store_true", help="rebuild into a temp dir and compare sha256 with --out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    todo = [args.only] if args.only else FIXTURES
    if not args.verify:
        for name in todo:
            d = os.path.join(args.out, name)
            shutil.rmtree(d, ignore_errors=True)
            build(name, d)
        return 0
    tmp = tempfile.mkdtemp(prefix="families-verify-")
    ok = True
    try:
        for name in todo:
            build(name, os.path.join(tmp, name))
            want, got = model_files(os.path.join(args.out, name)), model_files(os.path.join(tmp, name))
            if want != got:
                ok = False
                print(f"[families] {name}: rebuilt files differ: committed {want}, rebuilt {got}", file=sys.stderr)
            else:
                print(f"[families] {name}: bit-identical ({len(got)} files)", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
