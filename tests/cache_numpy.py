#!/usr/bin/python3
"""cache_numpy.py: `circuitc cache` files load in Python and hold what the other
commands print. Loads the .npz with numpy.load and the .safetensors with
safetensors' load_file when it is installed, else with a reader of the format's
few lines below, and checks: the logits' log_softmax gives `run --json`'s
log-probs, hook_pattern gives `pattern --json`'s pattern, both files agree,
the shapes are TransformerLens'. Then bad input: no file, nothing on stdout.

Run by meson (suite cache_numpy) with the Debian python3 (python3-numpy,
scripts/install-deps). Exit 77 (skip) without numpy, unless CI=true."""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("numpy is missing (apt-get install python3-numpy)", file=sys.stderr)
    sys.exit(1 if os.environ.get("CI") == "true" else 77)

BIN = os.environ["CIRCUITC_BIN"]
TOKENS = "511,17,301,99,4,17,301,99"
# the same float32 logits, reduced in float64 here and by `run` (measured: 5e-9)
LOGPROB_TOL = 1e-6
# dla's logit (float64 from the final residual) against float32 logits of magnitude ~15 (measured: 4.4e-6)
DLA_TOL = 2e-5


def circuitc(*args, ok=True):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if ok and r.returncode != 0:
        sys.exit(f"circuitc {' '.join(args)} failed: {r.stderr}")
    return r


def load_safetensors(path):
    try:
        from safetensors.numpy import load_file
        return load_file(path)
    except ImportError:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
            data = f.read()
        header.pop("__metadata__", None)
        dtypes = {"F32": "<f4", "F64": "<f8"}
        return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=dtypes[v["dtype"]])
                .reshape(v["shape"]) for k, v in header.items()}


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        checks(tmp)
    print("1 passed, 0 failed")


def checks(tmp):
    st, npz = os.path.join(tmp, "c.safetensors"), os.path.join(tmp, "c.npz")
    hooks = "blocks.*.attn.hook_pattern,blocks.1.hook_resid_pre,logits"
    listing = json.loads(circuitc("cache", "--tokens", TOKENS, "--hooks", hooks, "--out", st, "--json").stdout)
    circuitc("cache", "--tokens", TOKENS, "--hooks", hooks, "-o", npz)
    a, z = load_safetensors(st), np.load(npz)
    names = [h["name"] for h in listing["hooks"]]
    check(sorted(a) == sorted(names) == sorted(z.files), f"both files hold the hooks listed: {names}")
    for h in listing["hooks"]:
        check(list(a[h["name"]].shape) == h["shape"] and a[h["name"]].dtype == np.float32, f"{h['name']} {h['shape']}")
        check(np.array_equal(a[h["name"]], z[h["name"]]), f"{h['name']}: .npz and .safetensors agree")
    check(a["blocks.0.attn.hook_pattern"].shape == (1, 4, 8, 8), "hook_pattern is [batch, heads, pos, pos]")

    run = json.loads(circuitc("run", "--tokens", TOKENS, "--json").stdout)["prompts"][0]
    logits = z["logits"][0].astype(np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    ids = [int(t) for t in TOKENS.split(",")]
    got = [logp[t - 1, ids[t]] for t in range(1, len(ids))]
    err = max(abs(g - w) for g, w in zip(got, run["logprob"][1:]))
    check(err < LOGPROB_TOL, f"log_softmax(logits) = run --json logprob (max error {err:.2e})")

    pattern = json.loads(circuitc("pattern", "L1H2", "--tokens", TOKENS, "--json").stdout)["pattern"]
    check(np.array_equal(z["blocks.1.attn.hook_pattern"][0, 2], np.array(pattern, dtype=np.float32)),
          "hook_pattern[0, 2] of layer 1 = pattern L1H2 --json")

    dla = json.loads(circuitc("dla", "--tokens", TOKENS, "--answer", "#4", "--wrong", "#250", "--position", "all",
                              "--json").stdout)["positions"]
    diff = z["logits"][0, :, 4].astype(np.float64) - z["logits"][0, :, 250]
    err = max(abs(d["logit"] - diff[d["position"]]) for d in dla)
    check([d["position"] for d in dla] == list(range(len(ids))) and err < DLA_TOL,
          f"dla --position all: each position's logit difference = the cached logits' (max error {err:.2e})")
    last = json.loads(circuitc("dla", "--tokens", TOKENS, "--answer", "#4", "--wrong", "#250", "--json").stdout)
    check(last["heads"] == dla[-1]["heads"] and last["sum"] == dla[-1]["sum"], "dla: the default is the last position")

    for args, says in [(["--hooks", "blocks.7.hook_q", "-o", os.path.join(tmp, "d.safetensors")], "out of range"),
                       (["--hooks", "hook_pattern", "-o", os.path.join(tmp, "c.bin")], "FILE.safetensors or FILE.npz")]:
        r = circuitc("cache", "--tokens", TOKENS, *args, ok=False)
        check(r.returncode != 0 and r.stdout == "" and says in r.stderr and not os.path.exists(args[-1]),
              f"cache {' '.join(args)}: refused ({says}), nothing written")


if __name__ == "__main__":
    main()
