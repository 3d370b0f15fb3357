"""Shared helpers of the golden generator (see golden/FORMAT.md).

- splitmix-style hashing exactly as docs/synthetic-models.md defines it
  (used both for the synthetic random model and for the repeated-token batch,
  so the C side never needs a torch RNG);
- offline loading of a local model folder (Hugging Face, any family TL converts,
  or a TransformerLens checkpoint) into a TransformerLens HookedTransformer, with
  or without from_pretrained's default processing.
"""
import json
import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch

from sources import sha256_file  # noqa: F401  (re-exported for the generators)

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


def hash_tokens(seed: int, name: str, count: int, vocab: int) -> np.ndarray:
    """[count] int64: r_k = ((x_k >> 32) * vocab) >> 32, x_k = hash_stream(seed, name),
    uniform over [0, vocab)."""
    x = hash_stream(seed, name, count)
    hi = (x >> np.uint64(32)).astype(object)  # exact big-int product
    return np.array([(int(h) * vocab) >> 32 for h in hi], dtype=np.int64)


def repeat_tokens(seed: int, batch: int, n: int, vocab: int, bos: int) -> np.ndarray:
    """[batch, 1+2n] int64: [BOS, r_1..r_n, r_1..r_n].

    r[b, i] = hash_tokens(seed, "repeat-tokens") at k = b*n + i (0-based), i.e.
    uniform over [0, vocab) -- BOS's id included, as docs/experiments.md
    ("Repeated random tokens") specifies."""
    r = hash_tokens(seed, "repeat-tokens", batch * n, vocab).reshape(batch, n)
    bos_col = np.full((batch, 1), bos, dtype=np.int64)
    return np.concatenate([bos_col, r, r], axis=1)


def sample_indices(seed: int, name: str, numel: int, count: int = 64) -> list:
    """Deterministic sample of flat indices for weights.json: idx_j = x_j mod numel,
    x_j = hash_stream(seed, "sample:" + name), j in [0, count); duplicates kept."""
    x = hash_stream(seed, "sample:" + name, count)
    return [int(v) % numel for v in x]


# ---------------------------------------------------------------------------
# TransformerLens loading (offline)

def is_tl_checkpoint(model_dir: str) -> bool:
    """A TransformerLens checkpoint (safetensors state dict + HookedTransformerConfig
    JSON, the documented export) rather than a Hugging Face folder."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    return "n_layers" in cfg and "d_model" in cfg


def from_pretrained_processing(cfg, processing: bool) -> dict:
    """The processing flags HookedTransformer.from_pretrained uses for CFG: its defaults
    (fold_ln, center_writing_weights, center_unembed, fold_value_biases), of which a
    shortformer model keeps only fold_value_biases; all off for processing=False
    (from_pretrained_no_processing)."""
    flags = dict(fold_ln=processing, center_writing_weights=processing, center_unembed=processing,
                 fold_value_biases=processing)
    if cfg.positional_embedding_type == "shortformer":
        flags.update(fold_ln=False, center_writing_weights=False, center_unembed=False)
    return flags


def load_tl(model_dir: str, processing: bool = True):
    """Build a HookedTransformer from a local model folder exactly like
    HookedTransformer.from_pretrained(..., device="cpu") does (default processing,
    from_pretrained_processing) or like from_pretrained_no_processing
    (processing=False), float32. The folder is a Hugging Face checkpoint of any
    architecture TransformerLens converts (config from TL's
    convert_hf_model_config, weights from its weight_conversions via
    get_pretrained_state_dict, the HF model loaded from the folder in float32) or a
    TransformerLens checkpoint (is_tl_checkpoint). No tokenizer is loaded."""
    if is_tl_checkpoint(model_dir):
        return _load_tl_checkpoint(model_dir, processing)
    import shutil
    import tempfile

    with open(os.path.join(model_dir, "config.json")) as f:
        hf_cfg = json.load(f)
    # TL reads the architecture from the name for some families ("llama" in the path
    # skips reading the config): look at the folder through a neutral name
    tmp = tempfile.mkdtemp(prefix="golden-view-")
    view = os.path.join(tmp, "model")
    assert not any(w in view.lower() for w in ("llama", "gemma")), view
    os.mkdir(view)
    if hf_cfg.get("model_type") == "gpt2" and "n_ctx" not in hf_cfg:
        # docs/synthetic-models.md's config.json (and transformers' own) has no n_ctx,
        # but TL's GPT-2 config conversion reads hf_config.n_ctx: n_ctx = n_positions
        hf_cfg["n_ctx"] = hf_cfg["n_positions"]
    with open(os.path.join(view, "config.json"), "w") as f:
        json.dump(hf_cfg, f)
    for name in os.listdir(model_dir):
        if name != "config.json":
            os.symlink(os.path.abspath(os.path.join(model_dir, name)), os.path.join(view, name))
    try:
        return _load_tl_hf(view, hf_cfg, processing)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_tl_hf(model_dir: str, hf_cfg: dict, processing: bool):
    from transformers import AutoModelForCausalLM
    from transformer_lens import HookedTransformer
    from transformer_lens import loading_from_pretrained as loading

    hf = AutoModelForCausalLM.from_pretrained(
        model_dir, local_files_only=True, dtype=torch.float32, attn_implementation="eager"
    )
    hf.eval()
    cfg = loading.get_pretrained_model_config(
        model_dir, hf_cfg=hf.config.to_dict(), fold_ln=processing, device="cpu", dtype=torch.float32
    )
    cfg.tokenizer_name = None
    if hf_cfg.get("model_type") == "gpt2" and hf_cfg.get("n_inner") is not None:
        # TL 2.18's GPT-2 config conversion sets d_mlp = 4 * n_embd whatever n_inner
        # says (the state dict would not fit); the one departure from its loading path
        cfg.d_mlp = hf_cfg["n_inner"]
    sd = loading.get_pretrained_state_dict(model_dir, cfg, hf, dtype=torch.float32)
    sd = {k: v.detach().clone() for k, v in sd.items()}
    model = HookedTransformer(cfg, tokenizer=None, move_to_device=False)
    model.load_and_process_state_dict(sd, **from_pretrained_processing(cfg, processing))
    model.eval()
    del hf
    return model


def _load_tl_checkpoint(model_dir: str, processing: bool):
    """A TL checkpoint as a user reloads it: HookedTransformerConfig from the JSON
    (the dtype string back to a torch dtype), the state dict from safetensors,
    then from_pretrained's processing for that config."""
    import safetensors.torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    with open(os.path.join(model_dir, "config.json")) as f:
        d = json.load(f)
    d["dtype"] = getattr(torch, str(d.get("dtype", "torch.float32")).replace("torch.", ""))
    d.pop("n_params", None)  # derived in __post_init__
    cfg = HookedTransformerConfig(**d)
    sd = safetensors.torch.load_file(os.path.join(model_dir, "model.safetensors"))
    model = HookedTransformer(cfg, tokenizer=None, move_to_device=False)
    model.load_and_process_state_dict(sd, **from_pretrained_processing(cfg, processing))
    model.eval()
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


def hook_tensor_json(t) -> dict:
    """A whole float32 activation for hooks.json (FORMAT.md): each value written as its
    float32's shortest decimal repr (half the characters of the double's; reading it
    as a double and rounding to float32 gives the value back), -inf (masked
    attention scores) as null, plus the finite "min" and "max" (the tensor's scale)."""
    a = t.detach().cpu().float().numpy().reshape(-1)
    finite = a[np.isfinite(a)]
    assert np.all(np.isfinite(a) | (a == -np.inf)), "NaN or +inf in a hook"
    data = [float(repr(v)) if np.isfinite(v) else None for v in a]
    return {"shape": list(t.shape), "min": float(finite.min()), "max": float(finite.max()), "data": data}


def write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)
