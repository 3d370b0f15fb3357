#!/usr/bin/env python3
"""plant_kcomp.py IN_DIR OUT_DIR [--prev L.H] [--ind L.H] — plant a K-composition
circuit into a GPT-2 model folder (config.json + model.safetensors, float32, e.g.
`circuitc synth --preset gpt2-small --seed 0`), for the atlas benchmarks of
docs/scale-out.md. Run with the golden venv's Python (numpy, safetensors).

With R = the earlier head's W_V (d_model x d_head), it sets the earlier head's
W_O = R^T and the later head's W_Q = W_K = R, so the K-composition circuit is
X (R^T R) X^T with X = W_E R: a Gram matrix of the tokens' d_head-dimensional
projections, whose diagonal wins most rows (weight processing perturbs it
slightly). Every other weight is copied unchanged."""
import argparse
import json
import os
import shutil

import numpy as np
from safetensors.numpy import load_file, save_file


def head(spec):
    layer, h = spec.replace("L", "").replace("H", ".").split(".")
    return int(layer), int(h)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--prev", type=head, default=(4, 11))
    ap.add_argument("--ind", type=head, default=(5, 5))
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.src, "config.json")))
    d, n_heads = cfg["n_embd"], cfg["n_head"]
    dh = d // n_heads
    (lp, hp), (li, hi) = a.prev, a.ind
    if lp >= li:
        raise SystemExit("--prev must be in an earlier layer than --ind")
    t = load_file(os.path.join(a.src, "model.safetensors"))
    pre = "transformer." if "transformer.wte.weight" in t else ""
    attn_p = t[f"{pre}h.{lp}.attn.c_attn.weight"].copy()   # [d, 3d]: Q | K | V
    R = attn_p[:, 2 * d + hp * dh:2 * d + (hp + 1) * dh]    # W_V of prev, [d, dh]
    proj_p = t[f"{pre}h.{lp}.attn.c_proj.weight"].copy()   # [d, d]: rows = head blocks of W_O
    proj_p[hp * dh:(hp + 1) * dh, :] = R.T
    t[f"{pre}h.{lp}.attn.c_proj.weight"] = proj_p
    attn_i = t[f"{pre}h.{li}.attn.c_attn.weight"].copy()
    attn_i[:, hi * dh:(hi + 1) * dh] = R                   # W_Q of ind
    attn_i[:, d + hi * dh:d + (hi + 1) * dh] = R           # W_K of ind
    t[f"{pre}h.{li}.attn.c_attn.weight"] = attn_i
    os.makedirs(a.dst, exist_ok=True)
    shutil.copy(os.path.join(a.src, "config.json"), os.path.join(a.dst, "config.json"))
    save_file({k: np.ascontiguousarray(v) for k, v in t.items()}, os.path.join(a.dst, "model.safetensors"))
    print(f"planted L{lp}H{hp} -> L{li}H{hi} into {a.dst}")


if __name__ == "__main__":
    main()
