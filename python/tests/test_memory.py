"""run_with_cache holds what it returns and little more: the cached logits
are the pass's own buffer, not a copy of it (the largest activation; at GPT-2
scale [30, 101, 50257] floats are 609 MB)."""

import json
import struct

import numpy as np

import circuitc

D, MLP, CTX, VOCAB = 16, 64, 16, 8192  # a vocabulary large enough that the logits dominate the pass's memory


def write_gpt2(folder):
    """A one-layer GPT-2 checkpoint with random weights (config.json + model.safetensors)."""
    rng = np.random.default_rng(0)
    shapes = {"wte.weight": [VOCAB, D], "wpe.weight": [CTX, D], "ln_f.weight": [D], "ln_f.bias": [D],
              "h.0.ln_1.weight": [D], "h.0.ln_1.bias": [D], "h.0.ln_2.weight": [D], "h.0.ln_2.bias": [D],
              "h.0.attn.c_attn.weight": [D, 3 * D], "h.0.attn.c_attn.bias": [3 * D],
              "h.0.attn.c_proj.weight": [D, D], "h.0.attn.c_proj.bias": [D],
              "h.0.mlp.c_fc.weight": [D, MLP], "h.0.mlp.c_fc.bias": [MLP],
              "h.0.mlp.c_proj.weight": [MLP, D], "h.0.mlp.c_proj.bias": [D]}
    header, blobs, offset = {}, [], 0
    for name, shape in shapes.items():
        data = (rng.standard_normal(shape) * 0.1).astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    config = {"model_type": "gpt2", "n_embd": D, "n_head": 2, "n_layer": 1, "n_positions": CTX, "n_inner": MLP,
              "vocab_size": VOCAB, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
              "bos_token_id": VOCAB - 1, "eos_token_id": VOCAB - 1}
    (folder / "config.json").write_text(json.dumps(config))


def _status_mib(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024


def call_peak_mib(fn):
    """The peak RSS FN adds over the RSS before it (VmHWM reset first), in MiB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_mib("VmRSS")
    out = fn()
    peak = _status_mib("VmHWM")
    del out
    return peak - before


def test_cached_logits_are_not_copied(tmp_path):
    write_gpt2(tmp_path)
    m = circuitc.load(str(tmp_path))
    tokens = np.random.default_rng(1).integers(0, VOCAB, size=(256, CTX))
    logits_mib = tokens.size * VOCAB * 4 / 2**20  # 128 MiB
    without = call_peak_mib(lambda: m.run_with_cache(tokens, names_filter=[], return_type=None))
    with_logits = call_peak_mib(lambda: m.run_with_cache(tokens, names_filter=[]))
    # the logits themselves, once (a copy made when caching them doubled this)
    assert with_logits - without < 1.5 * logits_mib, (with_logits, without, logits_mib)
