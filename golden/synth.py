"""Python implementation of docs/synthetic-models.md (bit-exact random GPT-2 models).

  python synth.py --preset gpt2-small --seed 0 --out DIR
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import numpy as np  # noqa: E402

PRESETS = {
    "gpt2-small": dict(n_layer=12, n_head=12, n_embd=768, d_mlp=3072, vocab=50257, n_positions=1024),
    "tiny": dict(n_layer=2, n_head=2, n_embd=16, d_mlp=64, vocab=64, n_positions=32),
}


def tensor_specs(p):
    d, V, C, m = p["n_embd"], p["vocab"], p["n_positions"], p["d_mlp"]
    specs = [("wte.weight", [V, d]), ("wpe.weight", [C, d])]
    for i in range(p["n_layer"]):
        h = f"h.{i}."
        specs += [(h + "ln_1.weight", [d]), (h + "ln_1.bias", [d]),
                  (h + "attn.c_attn.weight", [d, 3 * d]), (h + "attn.c_attn.bias", [3 * d]),
                  (h + "attn.c_proj.weight", [d, d]), (h + "attn.c_proj.bias", [d]),
                  (h + "ln_2.weight", [d]), (h + "ln_2.bias", [d]),
                  (h + "mlp.c_fc.weight", [d, m]), (h + "mlp.c_fc.bias", [m]),
                  (h + "mlp.c_proj.weight", [m, d]), (h + "mlp.c_proj.bias", [d])]
    specs += [("ln_f.weight", [d]), ("ln_f.bias", [d])]
    return specs


def center_std(name):
    if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
        return 1.0, 0.1
    return 0.0, 0.02


def config_json(p):
    V = p["vocab"]
    return {"n_embd": p["n_embd"], "n_head": p["n_head"], "n_layer": p["n_layer"],
            "n_positions": p["n_positions"], "vocab_size": V, "layer_norm_epsilon": 1e-05,
            "activation_function": "gelu_new", "n_inner": None, "bos_token_id": V - 1,
            "eos_token_id": V - 1, "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}


def make_tensors(preset, seed):
    p = PRESETS[preset]
    out = {}
    for name, shape in tensor_specs(p):
        c, s = center_std(name)
        out[name] = common.synth_values(seed, name, int(np.prod(shape)), c, s).reshape(shape)
    return out


def write_model(preset, seed, out_dir):
    from safetensors.numpy import save_file

    p = PRESETS[preset]
    if p["d_mlp"] != 4 * p["n_embd"]:
        raise ValueError("n_inner: null implies d_mlp = 4 d")
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, "model.safetensors.tmp")
    save_file(make_tensors(preset, seed), tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, os.path.join(out_dir, "model.safetensors"))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config_json(p), f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="gpt2-small", choices=sorted(PRESETS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    write_model(a.preset, a.seed, a.out)
    print(common.sha256_file(os.path.join(a.out, "model.safetensors")))
