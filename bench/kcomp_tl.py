"""TransformerLens side of bench/kcomp. Run with golden/.venv's python.

kcomp_tl.py FACTORS NAME...: top-1 accuracy of FactoredMatrix circuits by the
usual batched row-argmax (rows in batches of 1000), with wall time and peak
memory beyond the loaded factors. Reads the factors circuitc wrote
(safetensors: NAME.Q [V, d_head], NAME.K [V, d_head]; circuit = Q K^T).

kcomp_tl.py --model DIR [--prev L.H] [--ind L.H] [--k K] [--no-processing]:
what `circuitc kcomp PREV IND --k K` does, as one process: load the model as
HookedTransformer.from_pretrained does (golden/common.py), Q = W_E W_Q[ind],
K = W_E W_V[prev] W_O[prev] W_K[ind], top-1..K counts of the rows of
FactoredMatrix(Q, K^T) and of its transpose, rows in batches of 1000.

Both print one JSON object."""
import json
import os
import sys
import time

import torch
from safetensors.torch import load_file
from transformer_lens import FactoredMatrix

from procmem import reset_peak, status_kib


def top1_rows(fm, batch=1000):
    n = fm.ldim
    correct = 0
    for i in range(0, n, batch):
        rows = fm[i:i + batch].AB
        correct += (rows.argmax(dim=-1) == torch.arange(i, min(i + batch, n))).sum().item()
    return correct


def topk_counts(fm, k, batch=1000):
    n = fm.ldim
    counts = [0] * k
    for i in range(0, n, batch):
        rows = fm[i:i + batch].AB
        top = torch.topk(rows, k, dim=-1).indices
        want = torch.arange(i, min(i + batch, n)).unsqueeze(1)
        hit = (top == want).int()  # top-k indices come sorted by value
        for j in range(k):
            counts[j] += hit[:, :j + 1].sum().item()
    return counts


def whole(argv):
    import argparse

    ap = argparse.ArgumentParser(prog="kcomp_tl.py --model")
    ap.add_argument("--model", required=True)
    ap.add_argument("--prev", default="4.11")
    ap.add_argument("--ind", default="5.5")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--no-processing", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
    from common import load_tl

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.set_grad_enabled(False)
    model = load_tl(a.model, processing=not a.no_processing)
    load_seconds = time.perf_counter() - t0
    lp, hp = (int(x) for x in a.prev.split("."))
    li, hi = (int(x) for x in a.ind.split("."))
    Q = model.W_E @ model.W_Q[li, hi]
    K = model.W_E @ model.W_V[lp, hp] @ model.W_O[lp, hp] @ model.W_K[li, hi]
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "load_seconds": load_seconds,
           "rows": {"topk": topk_counts(FactoredMatrix(Q, K.T), a.k)},
           "cols": {"topk": topk_counts(FactoredMatrix(K, Q.T), a.k)}}
    print(json.dumps(out))


def main():
    if sys.argv[1:2] == ["--model"]:
        return whole(sys.argv[1:])
    path, names = sys.argv[1], sys.argv[2:]
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    tensors = load_file(path)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "circuits": {}}
    for name in names:
        Q, K = tensors[name + ".Q"], tensors[name + ".K"]
        fm = FactoredMatrix(Q, K.T)
        top1_rows(FactoredMatrix(Q[:1000], K.T))  # warm-up (thread pool, allocator)
        reset_peak()
        base = status_kib("VmRSS")
        t0 = time.perf_counter()
        top1 = top1_rows(fm)
        seconds = time.perf_counter() - t0
        peak = status_kib("VmHWM")
        out["circuits"][name] = {"top1": top1, "seconds": seconds, "extra_peak_mib": (peak - base) / 1024}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
