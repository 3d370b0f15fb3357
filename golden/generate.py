"""Golden generator for circuitc (TransformerLens oracle). See golden/FORMAT.md.

  python generate.py [--out DIR] [--only induction-3l4h|gpt2-small-random|FAMILY-FIXTURE]
  python generate.py --check [--only ...]       regenerate into a temp dir and diff
  python generate.py --train                    retrain the fixture model first
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import gen_families  # noqa: E402
import gen_patching  # noqa: E402
import gen_prompts  # noqa: E402
import sources  # noqa: E402
from common import f32, tensor_json, write_json, sha256_file  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

FIXTURE = "induction-3l4h"
BIG = "gpt2-small-random"
MODELS_DIR = os.path.join(HERE, "models")
OUT_DIR = os.path.join(HERE, "out")
BUILD_DIR = os.path.join(HERE, "build")
SOURCES = ["common.py", "generate.py", "gen_patching.py", "fixture.py", "synth.py", "compare.py", "gen_prompts.py",
           "families.py", "gen_families.py", "requirements.txt",
           "generate", "setup-venv", "train-fixture"]
TOKEN_SEED = 0
SAMPLE_SEED = 0
BASELINE_SEED = 7
NUM_THREADS = 2


def log(msg):
    print(f"[generate] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# provenance

def versions():
    import safetensors
    import transformer_lens  # noqa: F401
    import transformers
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformer_lens": version("transformer-lens"),
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
    }


def machine():
    """Where the floats were computed (float32 kernels differ by instruction set); ignored by --check."""
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    env = {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS")
           if k in os.environ}
    return {"cpu": cpu, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "env": env}


def generator_provenance(generator, modules, model_dir):
    """Provenance of the goldens another generator (GENERATOR, importing the golden/
    MODULES) writes about the model in MODEL_DIR: what ran, with what, on which files."""
    return {
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **sources.provenance_sources(generator, modules),
        "versions": versions(),
        "machine": machine(),
        "model_files": {f: sha256_file(os.path.join(model_dir, f)) for f in sorted(os.listdir(model_dir))},
    }


def tl_config(model):
    c = model.cfg
    return {k: getattr(c, k) for k in ["d_model", "d_head", "n_heads", "n_layers", "d_mlp", "d_vocab",
                                        "n_ctx", "act_fn", "normalization_type", "eps"]}


def provenance(name, model_dir, model, seeds, timings, extra=None, files=("config.json", "model.safetensors")):
    with open(os.path.join(model_dir, "config.json")) as f:
        hf_cfg = json.load(f)
    p = {
        "model": name,
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": versions(),
        **sources.provenance_sources("generate.py", [n for n in SOURCES if n != "generate.py"]),
        "model_files": {f: sha256_file(os.path.join(model_dir, f)) for f in files},
        "model_config": hf_cfg,
        "tl_config": tl_config(model),
        "seeds": seeds,
        "torch_num_threads": NUM_THREADS,
        "machine": machine(),
        "tolerances": "golden/tolerances.json",
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    if extra:
        p.update(extra)
    return p


# ---------------------------------------------------------------------------
# weights

def weight_views(model):
    """TransformerLens' stacked weight views of MODEL, those its architecture has (no
    W_pos with rotary positions, no MLP when attention-only, W_gate when gated),
    plus the norm weights (and biases) wherever the model still holds them: the
    unprocessed model, or a processed one whose norms cannot be folded (shortformer)."""
    c = model.cfg
    names = ["W_E"] + (["W_pos"] if c.positional_embedding_type != "rotary" else []) + \
        ["W_Q", "b_Q", "W_K", "b_K", "W_V", "b_V", "W_O", "b_O"]
    if not c.attn_only:
        names += (["W_gate"] if c.gated_mlp else []) + ["W_in", "b_in", "W_out", "b_out"]
    names += ["W_U", "b_U"]
    views = {n: getattr(model, n).detach() for n in names}
    norms = [("ln1", [b.ln1 for b in model.blocks])]
    if not c.attn_only:
        norms.append(("ln2", [b.ln2 for b in model.blocks]))
    for tag, mods in norms:
        for p in ("w", "b"):
            if hasattr(mods[0], p):
                views[f"{tag}_{p}"] = torch.stack([getattr(m, p) for m in mods]).detach()
    for p in ("w", "b"):
        if hasattr(model.ln_final, p):
            views[f"ln_final_{p}"] = getattr(model.ln_final, p).detach()
    return views


def weights_json(name, model, processing, full_max_numel):
    tensors = {}
    for key, t in weight_views(model).items():
        a32 = t.contiguous().float()
        a = a32.double().reshape(-1)
        idx = common.sample_indices(SAMPLE_SEED, key, a.numel())
        flat32 = a32.reshape(-1)
        entry = {
            "shape": list(t.shape),
            "mean": float(a.mean()),
            "std": float(a.std(unbiased=False)),
            "min": float(a.min()),
            "max": float(a.max()),
            "sumsq": float((a * a).sum()),
            "sample": [[i, float(flat32[i])] for i in idx],
        }
        if a.numel() <= full_max_numel:
            entry["data"] = [float(v) for v in flat32.tolist()]
        tensors[key] = entry
    return {"model": name, "processing": processing, "sample_seed": SAMPLE_SEED, "tensors": tensors}


# ---------------------------------------------------------------------------
# forward

def logits_sample(logits, count):
    B, T, V = logits.shape
    xs = common.hash_stream(0, "logits-sample", count)
    index, value = [], []
    for x in xs.tolist():
        b, p, v = x % B, (x >> 16) % T, (x >> 32) % V
        index.append([b, p, v])
        value.append(float(logits[b, p, v]))
    return {"index": index, "value": value}


def forward_json(name, model, tokens, n, processing, full_seq0, fixed_tokens, n_sample):
    with torch.no_grad():
        logits = model(tokens)  # [B, T, V]
        loss = model(tokens, return_type="loss")
        loss_tok = model(tokens, return_type="loss", loss_per_token=True)  # [B, T-1]
    lp = logits.log_softmax(-1)[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]  # [B, 2n]
    correct = (logits[:, :-1].argmax(-1) == tokens[:, 1:]).float()
    out = {
        "model": name,
        "processing": processing,
        "tokens_file": "tokens.json",
        "n": n,
        "correct_logprobs": tensor_json(lp),
        "first_half_mean_logprob": f32(lp[:, :n].mean()),
        "second_half_mean_logprob": f32(lp[:, n:].mean()),
        "first_half_accuracy": f32(correct[:, :n].mean()),
        "second_half_accuracy": f32(correct[:, n:].mean()),
        "loss": f32(loss),
        "loss_per_seq": tensor_json(loss_tok.mean(-1)),
        "logsumexp": tensor_json(logits.logsumexp(-1)),
        "argmax": tensor_json(logits.argmax(-1)),
        "logits_sample": logits_sample(logits, n_sample),
    }
    if full_seq0:
        out["logits_seq0"] = tensor_json(logits[0])
    if fixed_tokens is not None:
        ft = torch.tensor([fixed_tokens])
        with torch.no_grad():
            fl = model(ft)
            floss = model(ft, return_type="loss")
        fixed = {"tokens": list(fixed_tokens), "loss": f32(floss),
                 "logsumexp": tensor_json(fl[0].logsumexp(-1)), "argmax": tensor_json(fl[0].argmax(-1))}
        if full_seq0:
            fixed["logits"] = tensor_json(fl[0])
        else:
            fixed["logits_head"] = tensor_json(fl[0, :, :64])
        out["fixed"] = fixed
    return out, logits


# ---------------------------------------------------------------------------
# head scores, patterns, patching

def head_scores_json(name, model, tokens, n):
    from transformer_lens import head_detector

    L, H = model.cfg.n_layers, model.cfg.n_heads
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    offsets = {"induction": 1 - n, "previous_token": -1, "duplicate_token": -n, "current_token": 0}
    out = {"model": name, "n": n, "tokens_file": "tokens.json", "offsets": offsets}
    for key, off in offsets.items():
        sc = torch.stack([cache["pattern", l].diagonal(off, dim1=-2, dim2=-1).mean((0, -1)) for l in range(L)])
        out[key] = tensor_json(sc)
    # TL's detect_head, fed our token rows instead of strings (no tokenizer here)
    rows = {f"seq{b}": tokens[b:b + 1] for b in range(tokens.shape[0])}
    orig = model.to_tokens
    model.to_tokens = lambda s, *a, **k: tokens if isinstance(s, list) else rows[s]
    try:
        det = {}
        seqs = list(rows)
        for pat in ["previous_token_head", "duplicate_token_head", "induction_head"]:
            d = {"default": tensor_json(head_detector.detect_head(model, seqs, pat))}
            for label, eb, ec in [("exclude_bos", True, False), ("exclude_current_token", False, True),
                                  ("exclude_both", True, True)]:
                s = torch.stack([head_detector.detect_head(model, sq, pat, exclude_bos=eb, exclude_current_token=ec)
                                 for sq in seqs]).mean(0)
                d[label] = tensor_json(s)
            det[pat] = d
        out["detect_head"] = det
    finally:
        model.to_tokens = orig
    return out, cache


def best_head(scores_json, layer_filter=None):
    a = np.array(scores_json["data"]).reshape(scores_json["shape"])
    best = None
    for l in range(a.shape[0]):
        for h in range(a.shape[1]):
            if layer_filter and not layer_filter(l):
                continue
            if best is None or a[l, h] > a[best[0], best[1]]:
                best = (l, h)
    return [int(best[0]), int(best[1])]


def patterns_json(name, cache, heads):
    out = {"model": name, "seq": 0, "heads": {}}
    for key, (l, h) in heads.items():
        out["heads"][key] = {"head": [l, h], "pattern": tensor_json(cache["pattern", l][0, h])}
    return out


def patching_json(name, model, tokens, n):
    seq = tokens[0:1]
    L = model.cfg.n_layers

    def half_loss(logits):
        lp = logits.log_softmax(-1)[0, n:2 * n].gather(-1, seq[0, n + 1:2 * n + 1, None])[..., 0]
        return -lp.mean()

    with torch.no_grad():
        clean_logits, cache = model.run_with_cache(seq)
        clean = half_loss(clean_logits)
        delta = torch.zeros(L, n + 1)
        patched = torch.zeros(L, n + 1)
        for l in range(L):
            hook_name = f"blocks.{l}.hook_mlp_out"
            clean_act = cache[hook_name]
            for p in range(n, 2 * n + 1):
                def hook(act, hook, p=p):
                    act[:, p] = clean_act[:, p - n]
                    return act
                lg = model.run_with_hooks(seq, fwd_hooks=[(hook_name, hook)])
                pl = half_loss(lg)
                patched[l, p - n] = pl
                delta[l, p - n] = pl - clean
    return {"model": name, "seq": 0, "n": n, "clean_loss": f32(clean), "positions": list(range(n, 2 * n + 1)),
            "delta": tensor_json(delta), "patched_loss": tensor_json(patched)}


# ---------------------------------------------------------------------------
# factored circuits

def topk_counts(A, B, block):
    """Rows of FactoredMatrix(A, B) ([V,V]), processed in row blocks of `block` rows
    (M[rows].AB). Returns a dict of counts (see FORMAT.md, factored.json)."""
    from transformer_lens import FactoredMatrix

    M = FactoredMatrix(A, B)
    V = A.shape[0]
    c = dict(top1=0, top5=0, ties=0, gt1=0, gt5=0, ge1=0, ge5=0)
    for s in range(0, V, block):
        e = min(V, s + block)
        blk = M[s:e].AB  # [rows, V]
        rows = torch.arange(s, e)
        c["top1"] += int((blk.argmax(-1) == rows).sum())
        c["top5"] += int((torch.topk(blk, 5, dim=-1).indices == rows[:, None]).any(-1).sum())
        diag = blk[torch.arange(e - s), rows]
        n_gt = (blk > diag[:, None]).sum(-1)  # entries strictly above the diagonal value
        n_ge = (blk >= diag[:, None]).sum(-1) - 1  # other entries >= the diagonal value
        c["ties"] += int((n_ge > n_gt).sum())
        c["gt1"] += int((n_gt < 1).sum())
        c["gt5"] += int((n_gt < 5).sum())
        c["ge1"] += int((n_ge < 1).sum())
        c["ge5"] += int((n_ge < 5).sum())
    return c


def kcomp_factors(model, prev, ind):
    W_E = model.W_E
    Q = W_E @ model.W_Q[ind[0], ind[1]]
    K = W_E @ model.W_V[prev[0], prev[1]] @ model.W_O[prev[0], prev[1]] @ model.W_K[ind[0], ind[1]]
    return Q, K


def kcomp_entry(model, prev, ind, block):
    with torch.no_grad():
        Q, K = kcomp_factors(model, prev, ind)
        r = topk_counts(Q, K.T, block)
        c = topk_counts(K, Q.T, block)
    out = {"prev": list(prev), "ind": list(ind), "V": int(Q.shape[0])}
    for tag, d in (("rows", r), ("cols", c)):
        out[f"top1_{tag}"], out[f"top5_{tag}"], out[f"diag_ties_{tag}"] = d["top1"], d["top5"], d["ties"]
        for k in ("gt1", "gt5", "ge1", "ge5"):
            out[f"{k}_{tag}"] = d[k]
    return out


def ov_counts(model, l, h, block):
    with torch.no_grad():
        fm = model.W_E @ model.OV[l, h] @ model.W_U
        c = topk_counts(fm.A, fm.B, block)
    return c["top1"], c["top5"]


def qk_top1(model, l, h, block):
    from transformer_lens import FactoredMatrix

    with torch.no_grad():
        A = model.W_E @ model.W_Q[l, h]
        B = (model.W_E @ model.W_K[l, h]).T
        return topk_counts(A, B, block)["top1"]


def spectrum(fm):
    with torch.no_grad():
        S = fm.S
        ev = fm.eigenvalues
        norm = fm.norm()
    pairs = [(float(np.float32(z.real)), float(np.float32(z.imag))) for z in ev.numpy().tolist()]
    pairs.sort(key=lambda p: (-math.hypot(p[0], p[1]), -p[0], -p[1]))
    return {"S": [float(x) for x in S.tolist()], "eig_re": [p[0] for p in pairs],
            "eig_im": [p[1] for p in pairs], "norm": f32(norm)}


def random_baseline(d, dh, samples):
    from transformer_lens import FactoredMatrix, utils

    scores = []
    for s in range(samples):
        def u(tag, r, c):
            return torch.from_numpy(common.synth_values(BASELINE_SEED, f"baseline:{s}:{tag}", r * c, 0.0, 1.0)
                                    .reshape(r, c))
        left = FactoredMatrix(u("A1", d, dh), u("A2", dh, d))
        right = FactoredMatrix(u("B1", d, dh), u("B2", dh, d))
        scores.append(float(utils.composition_scores(left, right)))
    a = np.array(scores, dtype=np.float64)
    return {"seed": BASELINE_SEED, "samples": samples, "d_model": d, "d_head": dh, "mean": float(a.mean()),
            "std": float(a.std()), "scores": scores}


# ---------------------------------------------------------------------------
# the two models

def gen_fixture(out_root):
    t = {}
    model_dir = os.path.join(MODELS_DIR, FIXTURE)
    out = os.path.join(out_root, FIXTURE)
    t0 = time.time()
    model = common.load_tl(model_dir, processing=True)
    raw = common.load_tl(model_dir, processing=False)
    t["load"] = time.time() - t0
    V, bos, n, B = model.cfg.d_vocab, model.cfg.d_vocab - 1, 50, 10
    toks = torch.from_numpy(common.repeat_tokens(TOKEN_SEED, B, n, V, bos))
    write_json(os.path.join(out, "tokens.json"), {
        "model": FIXTURE, "seed": TOKEN_SEED, "batch": B, "n": n, "vocab": V, "bos": bos,
        "generator": "hash-stream repeat-tokens (FORMAT.md)", "tokens": tensor_json(toks)})
    t0 = time.time()
    write_json(os.path.join(out, "weights.json"), weights_json(FIXTURE, model, True, 4096))
    write_json(os.path.join(out, "raw", "weights.json"), weights_json(FIXTURE, raw, False, 4096))
    t["weights"] = time.time() - t0
    t0 = time.time()
    hello = [bos] + list(b"Hello world!")
    fwd, _ = forward_json(FIXTURE, model, toks, n, True, True, hello, 256)
    write_json(os.path.join(out, "forward.json"), fwd)
    fwd_raw, _ = forward_json(FIXTURE, raw, toks, n, False, True, hello, 256)
    write_json(os.path.join(out, "raw", "forward.json"), fwd_raw)
    t["forward"] = time.time() - t0
    t0 = time.time()
    hs, cache = head_scores_json(FIXTURE, model, toks, n)
    write_json(os.path.join(out, "head_scores.json"), hs)
    ind = best_head(hs["induction"], lambda l: l > 0)
    prev = best_head(hs["previous_token"], lambda l: l < ind[0])
    cur = best_head(hs["current_token"])
    write_json(os.path.join(out, "patterns.json"),
               patterns_json(FIXTURE, cache, {"induction": ind, "previous_token": prev, "current_token": cur}))
    t["head_scores"] = time.time() - t0
    t0 = time.time()
    write_json(os.path.join(out, "patching.json"), patching_json(FIXTURE, model, toks, n))
    t["patching"] = time.time() - t0
    t["act_path_patching"] = gen_patching.generate(out_root, FIXTURE, model)
    t0 = time.time()
    L, H, d, dh = model.cfg.n_layers, model.cfg.n_heads, model.cfg.d_model, model.cfg.d_head
    kcomp = [kcomp_entry(model, (lp, hp), (li, hi), 512)
             for lp in range(L) for hp in range(H) for li in range(lp + 1, L) for hi in range(H)]
    ov1, ov5, qk1 = torch.zeros(L, H, dtype=torch.int64), torch.zeros(L, H, dtype=torch.int64), \
        torch.zeros(L, H, dtype=torch.int64)
    for l in range(L):
        for h in range(H):
            ov1[l, h], ov5[l, h] = ov_counts(model, l, h, 512)
            qk1[l, h] = qk_top1(model, l, h, 512)
    from transformer_lens import FactoredMatrix

    with torch.no_grad():
        Q, K = kcomp_factors(model, prev, ind)
        spectra = {
            "kcomp": spectrum(FactoredMatrix(Q, K.T)),
            "OV_prev": spectrum(model.OV[prev[0], prev[1]]),
            "OV_ind": spectrum(model.OV[ind[0], ind[1]]),
            "QK_prev": spectrum(model.QK[prev[0], prev[1]]),
            "QK_ind": spectrum(model.QK[ind[0], ind[1]]),
        }
        comp = {m.lower(): tensor_json(model.all_composition_scores(m)) for m in ["Q", "K", "V"]}
    write_json(os.path.join(out, "factored.json"), {
        "model": FIXTURE, "processing": True, "circuit_heads": {"prev": prev, "ind": ind},
        "kcomp": kcomp, "ov": {"top1": tensor_json(ov1), "top5": tensor_json(ov5)}, "qk": {"top1": tensor_json(qk1)},
        "spectra": spectra, "composition_scores": comp, "random_baseline": random_baseline(d, dh, 200)})
    t["factored"] = time.time() - t0
    write_json(os.path.join(out, "provenance.json"), provenance(
        FIXTURE, model_dir, model, {"tokens": TOKEN_SEED, "weight_sample": SAMPLE_SEED, "baseline": BASELINE_SEED,
                                    "fixture_train": __import__("fixture").FIXTURE_SEED}, t,
        {"circuit_heads": {"prev": prev, "ind": ind, "current": cur}}))
    log(f"{FIXTURE}: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))


def ensure_big_model(build_dir, expected_sha=None):
    import synth

    path = os.path.join(build_dir, "model.safetensors")
    if os.path.exists(path) and os.path.exists(os.path.join(build_dir, "config.json")):
        if expected_sha is None or sha256_file(path) == expected_sha:
            return 0.0
    t0 = time.time()
    synth.write_model("gpt2-small", 0, build_dir)
    return time.time() - t0


def gen_big(out_root, build_dir):
    t = {}
    out = os.path.join(out_root, BIG)
    committed = os.path.join(OUT_DIR, BIG, "provenance.json")
    t["synth"] = ensure_big_model(build_dir)
    t0 = time.time()
    model = common.load_tl(build_dir, processing=True)
    t["load"] = time.time() - t0
    V, bos, n, B = model.cfg.d_vocab, model.cfg.d_vocab - 1, 20, 2
    toks = torch.from_numpy(common.repeat_tokens(TOKEN_SEED, B, n, V, bos))
    write_json(os.path.join(out, "tokens.json"), {
        "model": BIG, "seed": TOKEN_SEED, "batch": B, "n": n, "vocab": V, "bos": bos,
        "generator": "hash-stream repeat-tokens (FORMAT.md)", "tokens": tensor_json(toks)})
    t0 = time.time()
    write_json(os.path.join(out, "weights.json"), weights_json(BIG, model, True, 0))
    t["weights"] = time.time() - t0
    t0 = time.time()
    fwd, _ = forward_json(BIG, model, toks, n, True, False, [50256, 15496, 995, 0], 1024)
    write_json(os.path.join(out, "forward.json"), fwd)
    t["forward"] = time.time() - t0
    t0 = time.time()
    pairs = [((4, 11), (5, 5)), ((0, 0), (1, 0)), ((2, 2), (9, 6))]
    kcomp = [kcomp_entry(model, p, i, 1024) for p, i in pairs]
    t["kcomp"] = time.time() - t0
    t0 = time.time()
    ov_heads = [(5, 5), (0, 0)]
    ov = {"heads": [list(h) for h in ov_heads], "top1": [], "top5": []}
    for l, h in ov_heads:
        a, b = ov_counts(model, l, h, 1024)
        ov["top1"].append(a)
        ov["top5"].append(b)
    t["ov"] = time.time() - t0
    t0 = time.time()
    with torch.no_grad():
        comp = {"k": tensor_json(model.all_composition_scores("K"))}
    base = random_baseline(model.cfg.d_model, model.cfg.d_head, 20)
    t["composition"] = time.time() - t0
    t["act_path_patching"] = gen_patching.generate(out_root, BIG, model)
    write_json(os.path.join(out, "factored.json"), {
        "model": BIG, "processing": True, "kcomp": kcomp, "ov": ov, "composition_scores": comp,
        "random_baseline": base})
    import synth

    tiny_dir = os.path.join(os.path.dirname(build_dir), "tiny-seed0")
    synth.write_model("tiny", 0, tiny_dir)
    tiny_sha = sha256_file(os.path.join(tiny_dir, "model.safetensors"))
    write_json(os.path.join(out, "provenance.json"), provenance(
        BIG, build_dir, model, {"synth": 0, "tokens": TOKEN_SEED, "weight_sample": SAMPLE_SEED,
                                "baseline": BASELINE_SEED}, t,
        {"synth": {"preset": "gpt2-small", "seed": 0, "spec": "docs/synthetic-models.md",
                   "command": "circuitc synth --preset gpt2-small --seed 0 --out DIR",
                   "tiny_seed0_sha256": tiny_sha}}))
    log(f"{BIG}: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT_DIR, help="output root (default golden/out)")
    ap.add_argument("--only", choices=[FIXTURE, BIG] + gen_families.NAMES, help="generate one model only")
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    ap.add_argument("--train", action="store_true", help="retrain the fixture model first (slow)")
    ap.add_argument("--keep", action="store_true", help="with --check: keep the temp dir")
    ap.add_argument("--golden", default=OUT_DIR, help="with --check: the committed tree to compare against")
    args = ap.parse_args()
    torch.set_num_threads(NUM_THREADS)
    torch.use_deterministic_algorithms(True)
    if args.train:
        import fixture

        t0 = time.time()
        fixture.build(os.path.join(MODELS_DIR, FIXTURE))
        log(f"trained {FIXTURE} in {time.time() - t0:.1f}s")
    todo = [args.only] if args.only else [FIXTURE, BIG] + gen_families.NAMES
    if not args.check:
        for m in todo:
            gen_model(args.out, m)
        return 0
    import compare

    tmp = tempfile.mkdtemp(prefix="golden-check-")
    try:
        for m in todo:
            gen_model(tmp, m)
        ok = compare.compare_trees(args.golden, tmp, todo)
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


def gen_model(out_root, m):
    if m == FIXTURE:
        gen_fixture(out_root)
    elif m == BIG:
        gen_big(out_root, os.path.join(BUILD_DIR, BIG))
    else:
        gen_families.generate(out_root, m)
        return
    gen_prompts.for_model(out_root, m)


if __name__ == "__main__":
    sys.exit(main())
