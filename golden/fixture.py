"""Fixture model `induction-3l4h`: construct a previous-token head + induction
head by hand inside a GPT-2-initialised model, then fine-tune briefly on
repeated-token data. Deterministic from FIXTURE_SEED (single thread,
torch deterministic algorithms). See golden/README.md for the recipe.

Usage: python fixture.py OUT_DIR [--steps N]
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

FIXTURE_NAME = "induction-3l4h"
FIXTURE_SEED = 1234
CFG = dict(n_layer=3, n_head=4, n_embd=128, n_positions=128, vocab_size=512)
D_HEAD = CFG["n_embd"] // CFG["n_head"]
BOS = CFG["vocab_size"] - 1
TRAIN_STEPS = 400
TRAIN_LR = 3e-4
TRAIN_BATCH = 16

# residual-stream layout used by the construction (d_model = 128)
T0, P0, S0, FLAG = 0, 32, 64, 96  # token code, position code, prev-token copy, BOS flag
PREV_HEAD = (0, 0)  # previous-token head
IND_HEAD = (1, 0)  # induction head
SELF_HEAD = (1, 1)  # current-token head that cancels the current token's own code


def hf_config() -> dict:
    V = CFG["vocab_size"]
    return {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.0,
        "bos_token_id": V - 1,
        "embd_pdrop": 0.0,
        "eos_token_id": V - 1,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": CFG["n_positions"],
        "n_embd": CFG["n_embd"],
        "n_head": CFG["n_head"],
        "n_inner": None,
        "n_layer": CFG["n_layer"],
        "n_positions": CFG["n_positions"],
        "resid_pdrop": 0.0,
        "scale_attn_weights": True,
        "tie_word_embeddings": True,
        "vocab_size": V,
    }


def construct(seed: int) -> dict:
    """HF-layout state dict (float32 torch tensors), GPT-2 init + hand-built circuit."""
    g = torch.Generator().manual_seed(seed)
    d, L, H, V, C = CFG["n_embd"], CFG["n_layer"], CFG["n_head"], CFG["vocab_size"], CFG["n_positions"]
    dh, dm = D_HEAD, 4 * CFG["n_embd"]

    def normal(*shape):
        return torch.randn(*shape, generator=g) * 0.02

    sd = {}
    # token code: random unit directions in a 31-dim subspace of T (zero-sum, so
    # orthogonal to the all-ones direction u, which the induction head uses as a
    # BOS-sink channel), scaled to norm sqrt(32)
    code = torch.randn(V, dh, generator=g)
    code = code - code.mean(dim=1, keepdim=True)
    code = code / code.norm(dim=1, keepdim=True) * math.sqrt(dh)
    code[BOS] = 0.0
    wte = normal(V, d)
    wte[:, T0:T0 + dh] += code
    wte[BOS, FLAG] += 4.0
    sd["wte.weight"] = wte
    # positions: 16 sinusoid pairs, frequencies spread over [1, 3], amplitude sqrt(2)
    omegas = torch.linspace(1.0, 3.0, dh // 2, dtype=torch.float64) + 0.037 * torch.arange(dh // 2)
    pos = torch.arange(C, dtype=torch.float64)
    pe = torch.zeros(C, dh, dtype=torch.float64)
    pe[:, 0::2] = torch.cos(pos[:, None] * omegas[None, :]) * math.sqrt(2)
    pe[:, 1::2] = torch.sin(pos[:, None] * omegas[None, :]) * math.sqrt(2)
    wpe = normal(C, d)
    wpe[:, P0:P0 + dh] += pe.float()
    sd["wpe.weight"] = wpe
    # rotation taking the code of position p to the code of p-1 (row-vector convention)
    rot = torch.zeros(dh, dh, dtype=torch.float64)
    for k, w in enumerate(omegas.tolist()):
        c, s = math.cos(w), math.sin(w)
        rot[2 * k, 2 * k], rot[2 * k, 2 * k + 1] = c, -s
        rot[2 * k + 1, 2 * k], rot[2 * k + 1, 2 * k + 1] = s, c
    rot = rot.float()
    eye = torch.eye(dh)
    u = torch.ones(dh) / math.sqrt(dh)

    for i in range(L):
        p = f"h.{i}."
        sd[p + "ln_1.weight"] = torch.ones(d)
        sd[p + "ln_1.bias"] = torch.zeros(d)
        W = normal(d, 3 * d)  # Conv1D (in, out): [Q | K | V], head h at h*dh
        b = torch.zeros(3 * d)
        Wo = normal(d, d)  # rows h*dh.. = W_O of head h
        if i == PREV_HEAD[0]:
            h = PREV_HEAD[1]
            q, k, v = slice(h * dh, (h + 1) * dh), slice(d + h * dh, d + (h + 1) * dh), slice(2 * d + h * dh, 2 * d + (h + 1) * dh)
            W[P0:P0 + dh, q] += 1.6 * rot
            W[P0:P0 + dh, k] += 1.6 * eye
            W[T0:T0 + dh, v] += eye
            Wo[h * dh:(h + 1) * dh, S0:S0 + dh] += 0.7 * eye
        if i == IND_HEAD[0]:
            h = IND_HEAD[1]
            q, k, v = slice(h * dh, (h + 1) * dh), slice(d + h * dh, d + (h + 1) * dh), slice(2 * d + h * dh, 2 * d + (h + 1) * dh)
            W[T0:T0 + dh, q] += 1.6 * eye
            W[S0:S0 + dh, k] += 1.6 * eye
            b[q] += 6.0 * u  # query bias along u ...
            W[FLAG, k] += 3.0 * u  # ... meets the BOS flag: attention sink when no match
            W[T0:T0 + dh, v] += eye
            Wo[h * dh:(h + 1) * dh, T0:T0 + dh] += 3.0 * eye
        if i == SELF_HEAD[0]:
            h = SELF_HEAD[1]
            q, k, v = slice(h * dh, (h + 1) * dh), slice(d + h * dh, d + (h + 1) * dh), slice(2 * d + h * dh, 2 * d + (h + 1) * dh)
            W[P0:P0 + dh, q] += 1.6 * eye
            W[P0:P0 + dh, k] += 1.6 * eye
            W[T0:T0 + dh, v] += eye
            Wo[h * dh:(h + 1) * dh, T0:T0 + dh] += -0.85 * eye
        sd[p + "attn.c_attn.weight"] = W
        sd[p + "attn.c_attn.bias"] = b
        sd[p + "attn.c_proj.weight"] = Wo
        sd[p + "attn.c_proj.bias"] = torch.zeros(d)
        sd[p + "ln_2.weight"] = torch.ones(d)
        sd[p + "ln_2.bias"] = torch.zeros(d)
        sd[p + "mlp.c_fc.weight"] = normal(d, dm)
        sd[p + "mlp.c_fc.bias"] = torch.zeros(dm)
        sd[p + "mlp.c_proj.weight"] = normal(dm, d)
        sd[p + "mlp.c_proj.bias"] = torch.zeros(d)
    sd["ln_f.weight"] = torch.ones(d)
    sd["ln_f.bias"] = torch.zeros(d)
    return {k: v.contiguous().float() for k, v in sd.items()}


def save_model(sd: dict, out_dir: str) -> None:
    from safetensors.torch import save_file

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config(), f, indent=2, sort_keys=True)
        f.write("\n")
    save_file({k: v.detach().contiguous() for k, v in sd.items()}, os.path.join(out_dir, "model.safetensors"),
              metadata={"format": "pt"})
    os.chmod(os.path.join(out_dir, "model.safetensors"), 0o644)


def train_batch(g: torch.Generator, batch: int):
    """[BOS, A, A] with |A| drawn in [8, 60] per batch; tokens uniform in [0, V)."""
    n = int(torch.randint(8, 61, (1,), generator=g))
    a = torch.randint(0, CFG["vocab_size"], (batch, n), generator=g)
    bos = torch.full((batch, 1), BOS, dtype=torch.long)
    return torch.cat([bos, a, a], dim=1)


def train(sd: dict, steps: int, seed: int, log=print) -> dict:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    config = GPT2Config(**{k: v for k, v in hf_config().items() if k not in ("architectures", "model_type")})
    model = GPT2LMHeadModel(config)
    model.config._attn_implementation = "eager"
    missing, unexpected = model.transformer.load_state_dict(sd, strict=False)
    assert not unexpected and all(".attn.bias" in m or "masked_bias" in m for m in missing), (missing, unexpected)
    model.tie_weights()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=TRAIN_LR, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed + 1)
    t0 = time.time()
    for step in range(steps + 1):
        toks = train_batch(g, TRAIN_BATCH)
        out = model(toks, labels=toks)
        if step % 50 == 0 or step == steps:
            log(f"step {step:5d} loss {out.loss.item():.4f} ({time.time() - t0:.0f}s)")
        if step == steps:
            break
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    trained = {k: v.detach().clone() for k, v in model.transformer.state_dict().items()
               if not k.endswith(".attn.bias") and not k.endswith(".attn.masked_bias")}
    return {k: v.float().contiguous() for k, v in trained.items()}


def build(out_dir: str, steps: int = TRAIN_STEPS, log=print) -> None:
    """Construct + fine-tune + save; deterministic (1 thread, deterministic algorithms)."""
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sd = construct(FIXTURE_SEED)
        if steps > 0:
            sd = train(sd, steps, FIXTURE_SEED, log=log)
        save_model(sd, out_dir)
    finally:
        torch.set_num_threads(prev_threads)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--steps", type=int, default=TRAIN_STEPS)
    args = ap.parse_args()
    build(args.out_dir, args.steps)
    print(f"wrote {args.out_dir}")


if __name__ == "__main__":
    main()
