"""TransformerLens side of bench/kcomp: top-1 accuracy of FactoredMatrix
circuits by the usual batched row-argmax (rows in batches of 1000), with wall
time and peak memory beyond the loaded factors. Reads the factors circuitc
wrote (safetensors: NAME.Q [V, d_head], NAME.K [V, d_head]; circuit = Q K^T)
and prints one JSON object. Run with golden/.venv's python."""
import json
import os
import sys
import time

import torch
from safetensors.torch import load_file
from transformer_lens import FactoredMatrix


def status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS


def top1_rows(fm, batch=1000):
    n = fm.ldim
    correct = 0
    for i in range(0, n, batch):
        rows = fm[i:i + batch].AB
        correct += (rows.argmax(dim=-1) == torch.arange(i, min(i + batch, n))).sum().item()
    return correct


def main():
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
