"""TransformerLens side of bench/runtime_bench: the same measurements on the
same model and tokens, done the usual TransformerLens way, printed as one JSON
object on stdout. Run with golden/.venv's python:

    runtime_tl.py MODEL_DIR TOKENS_FILE [--reps R] [--patch-subset K] [--skip-patch]

TOKENS_FILE (written by runtime_bench): first line "B T n", then B*T token ids.
(a) forward: model.run_with_cache(tokens, names_filter=hook_pattern) on the
    [B, T] batch, then the correct-token log-probs (log_softmax + gather) —
    wall time and peak RSS beyond the loaded model (VmHWM after clear_refs).
(b) patching: on sequence 0 ([1, T], T = 1+2n): a clean run_with_cache of
    hook_mlp_out, then one run_with_hooks per (layer l, position p in [n, 2n])
    whose hook sets blocks.{l}.hook_mlp_out[:, p] to the clean value at p-n;
    loss = mean cross-entropy over positions [n, 2n) (docs/experiments.md, "Activation patching").
    With --patch-subset K only the first K positions of every layer are run
    (the JSON says so; the caller extrapolates and labels it)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))

import torch  # noqa: E402

from common import load_tl  # noqa: E402
from procmem import reset_peak, status_kib  # noqa: E402


def read_tokens(path):
    with open(path) as f:
        words = f.read().split()
    B, T, n = int(words[0]), int(words[1]), int(words[2])
    tok = torch.tensor([int(w) for w in words[3:3 + B * T]], dtype=torch.long).reshape(B, T)
    return tok, n


def forward_once(model, tokens):
    logits, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_pattern"))
    lp = logits.log_softmax(dim=-1)[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]
    return lp, cache


def second_half_loss(logits, tokens, n):
    lp = logits[0, n:2 * n].log_softmax(dim=-1).gather(-1, tokens[0, n + 1:2 * n + 1, None])[..., 0]
    return -lp.double().mean().item()


def main():
    args = sys.argv[1:]
    model_dir, tok_path = args[0], args[1]
    reps = int(args[args.index("--reps") + 1]) if "--reps" in args else 3
    subset = int(args[args.index("--patch-subset") + 1]) if "--patch-subset" in args else 0
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.set_grad_enabled(False)
    t0 = time.perf_counter()
    model = load_tl(model_dir, processing=True)
    load_s = time.perf_counter() - t0
    tokens, n = read_tokens(tok_path)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "load_seconds": load_s}

    # (a) forward pass with the pattern cache
    forward_once(model, tokens[:1])  # warm-up (thread pool, allocator)
    secs, peaks = [], []
    for _ in range(reps):
        reset_peak()
        base = status_kib("VmRSS")
        t0 = time.perf_counter()
        lp, cache = forward_once(model, tokens)
        secs.append(time.perf_counter() - t0)
        peaks.append((status_kib("VmHWM") - base) / 1024)
        first, second = lp[:, :n].double().mean().item(), lp[:, n:].double().mean().item()
        del lp, cache
    out["forward"] = {"seconds": secs, "extra_peak_mib": peaks, "first_half_mean_logprob": first,
                      "second_half_mean_logprob": second}

    # sgemm (torch.mm) rate at the MLP-in shape, for reference
    R, d, m = tokens.numel(), model.cfg.d_model, model.cfg.d_mlp
    a, b = torch.rand(R, d), torch.rand(d, m)
    torch.mm(a, b)
    t0 = time.perf_counter()
    for _ in range(5):
        torch.mm(a, b)
    out["torch_mm_gflops_mlp_shape"] = 2.0 * R * d * m * 5 / (time.perf_counter() - t0) / 1e9

    # (b) the mlp_out patching sweep on sequence 0, one run_with_hooks per (l, p)
    if "--skip-patch" not in args:
        tok1 = tokens[:1]
        reset_peak()
        base = status_kib("VmRSS")
        t0 = time.perf_counter()
        logits, clean = model.run_with_cache(tok1, names_filter=lambda name: name.endswith("hook_mlp_out"))
        clean_loss = second_half_loss(logits, tok1, n)
        L = model.cfg.n_layers
        positions = list(range(n, 2 * n + 1))
        if subset:
            positions = positions[:subset]
        delta = []
        for l in range(L):
            name = f"blocks.{l}.hook_mlp_out"
            clean_act = clean[name]
            row = []
            for p in positions:
                def hook(act, hook, p=p):
                    act[:, p] = clean_act[:, p - n]
                    return act

                logits = model.run_with_hooks(tok1, fwd_hooks=[(name, hook)])
                row.append(second_half_loss(logits, tok1, n) - clean_loss)
            delta.append(row)
        out["patch"] = {"seconds": time.perf_counter() - t0, "extra_peak_mib": (status_kib("VmHWM") - base) / 1024,
                        "clean_loss": clean_loss, "positions": positions, "runs": L * len(positions),
                        "full_runs": L * (n + 1), "delta": delta}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
