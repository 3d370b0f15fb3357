"""Shared helpers of the golden generator (see golden/FORMAT.md).

- splitmix-style hashing exactly as docs/synthetic-models.md defines it
  (used both for the synthetic random model and for the repeated-token batch,
  so the C side never needs a torch RNG);
- offline loading of a Hugging Face GPT-2 directory into a TransformerLens
  HookedTransformer, with or without from_pretrained's default processing.
"""
import json
import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch

M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def fnv1a64(s: str) -> int:
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & M64
    return h


def mix_np(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = z.copy()
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


def hash_stream(seed: int, name: str, count: int, start: int = 0) -> np.ndarray:
    """x_k = mix(s0 + (k+1)*GAMMA) for k in [start, start+count), s0 = seed ^ fnv1a64(name)."""
    s0 = np.uint64((seed ^ fnv1a64(name)) & M64)
    k1 = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = s0 + k1 * np.uint64(GAMMA)
    return mix_np(z)


def synth_values(seed: int, name: str, count: int, center: float, std: float) -> np.ndarray:
    """Element values of docs/synthetic-models.md, float32, evaluated in float64 left to right."""
    u = (hash_stream(seed, name, count) >> np.uint64(40)).astype(np.float64)
    v = center + ((u + 0.5) * (2.0 ** -23) - 1.0) * (std * math.sqrt(3.0))
    return v.astype(np.float32)


def repeat_tokens(seed: int, batch: int, n: int, vocab: int, bos: int) -> np.ndarray:
    """[batch, 1+2n] int64: [BOS, r_1..r_n, r_1..r_n].

    r[b, i] = ((x_k >> 32) * vocab) >> 32 with x_k = hash_stream(seed, "repeat-tokens")
    and k = b*n + i (0-based), i.e. uniform over [0, vocab) -- BOS's id included,
    as docs/experiments.md ("Repeated random tokens") specifies."""
    x = hash_stream(seed, "repeat-tokens", batch * n)
    hi = (x >> np.uint64(32)).astype(object)  # exact big-int product
    r = np.array([(int(h) * vocab) >> 32 for h in hi], dtype=np.int64).reshape(batch, n)
    bos_col = np.full((batch, 1), bos, dtype=np.int64)
    return np.concatenate([bos_col, r, r], axis=1)


def sample_indices(seed: int, name: str, numel: int, count: int = 64) -> list:
    """Deterministic sample of flat indices for weights.json: idx_j = x_j mod numel,
    x_j = hash_stream(seed, "sample:" + name), j in [0, count); duplicates kept."""
    x = hash_stream(seed, "sample:" + name, count)
    return [int(v) % numel for v in x]


# ---------------------------------------------------------------------------
# TransformerLens loading (offline)

def load_tl(model_dir: str, processing: bool = True):
    """Build a HookedTransformer from a local HF GPT-2 directory exactly like
    HookedTransformer.from_pretrained(..., device="cpu") does (default
    processing: fold_ln, center_writing_weights, center_unembed,
    fold_value_biases, in that order) or like from_pretrained_no_processing
    (processing=False). No tokenizer is loaded."""
    from transformers import GPT2LMHeadModel
    from transformer_lens import HookedTransformer
    from transformer_lens import loading_from_pretrained as loading
    from transformer_lens.pretrained.weight_conversions.gpt2 import convert_gpt2_weights

    with open(os.path.join(model_dir, "config.json")) as f:
        hf_cfg = json.load(f)
    tmp = None
    if "n_ctx" not in hf_cfg:
        # docs/synthetic-models.md's config.json has no n_ctx, but TL's GPT-2 config
        # conversion reads hf_config.n_ctx: view the directory with n_ctx = n_positions
        import tempfile

        tmp = tempfile.mkdtemp(prefix="golden-cfg-")
        hf_cfg["n_ctx"] = hf_cfg["n_positions"]
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(hf_cfg, f)
        os.symlink(os.path.abspath(os.path.join(model_dir, "model.safetensors")),
                   os.path.join(tmp, "model.safetensors"))
        model_dir = tmp
    try:
        return _load_tl(model_dir, processing)
    finally:
        if tmp:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def _load_tl(model_dir: str, processing: bool):
    from transformers import GPT2LMHeadModel
    from transformer_lens import HookedTransformer
    from transformer_lens import loading_from_pretrained as loading
    from transformer_lens.pretrained.weight_conversions.gpt2 import convert_gpt2_weights

    cfg = loading.get_pretrained_model_config(
        model_dir, fold_ln=processing, device="cpu", dtype=torch.float32
    )
    cfg.tokenizer_name = None
    hf = GPT2LMHeadModel.from_pretrained(
        model_dir, local_files_only=True, dtype=torch.float32, attn_implementation="eager"
    )
    hf.eval()
    sd = convert_gpt2_weights(hf, cfg)
    sd = {k: v.detach().clone() for k, v in sd.items()}
    model = HookedTransformer(cfg, tokenizer=None, move_to_device=False)
    model.load_and_process_state_dict(
        sd,
        fold_ln=processing,
        center_writing_weights=processing,
        center_unembed=processing,
        fold_value_biases=processing,
    )
    model.eval()
    del hf
    return model


def f32(x) -> float:
    """float32 value as a Python float (repr round-trips the float32 exactly)."""
    return float(np.float32(x))


def tensor_json(t) -> dict:
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    if a.dtype.kind in "iub":
        data = [int(v) for v in a.reshape(-1)]
    elif a.dtype == np.float64:
        data = [float(v) for v in a.reshape(-1)]
    else:
        data = [float(v) for v in a.astype(np.float32).reshape(-1)]
    return {"shape": list(a.shape), "data": data}


def write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def sha256_file(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
