#!/usr/bin/python3
"""eap_scores_numpy.py: `circuitc eap --scores FILE` loads in Python and holds
the scores `--json` prints. The .npz with numpy.load, the .safetensors with
cache_numpy.py's loader; checks the dtype (float64), the shapes, that "scores"
equals the JSON's scores (which have 9 significant digits) in graph order,
that "matrix" [senders, receivers] holds each edge's score at its sender and
receiver and 0 elsewhere, and that a bad --scores path is refused before any
work: nothing on stdout, no file.

Run by meson (suite eap_scores_numpy) with the Debian python3 (python3-numpy).
Exit 77 (skip) without numpy, unless CI=true."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cache_numpy import check, circuitc, load_safetensors  # noqa: E402 (numpy checked there)

import numpy as np  # noqa: E402

ARGS = ["eap", "--batch", "3", "--seq-len", "4", "--ig-steps", "2", "--metric", "kl", "--top-n", "5"]


def node_names(edge_names):
    """Senders and receivers in first-seen order: the graph's order (docs/eap.md)."""
    senders, receivers = {}, {}
    for e in edge_names:
        s, r = e.split("->")
        senders.setdefault(s, len(senders))
        receivers.setdefault(r, len(receivers))
    return senders, receivers


def checks(tmp):
    j = json.loads(circuitc(*ARGS, "--json").stdout)
    want = np.array(j["scores"])
    senders, receivers = node_names(j["edge_names"])
    files = {}
    for ext in ("npz", "safetensors"):
        path = os.path.join(tmp, "s." + ext)
        r = circuitc(*ARGS, "--scores", path)
        check("faithfulness curve" in r.stdout, f"eap --scores s.{ext}: the usual text output")
        files[ext] = dict(np.load(path)) if ext == "npz" else load_safetensors(path)
    for ext, z in files.items():
        s, m = z["scores"], z["matrix"]
        check(s.dtype == np.float64 and m.dtype == np.float64, f"{ext}: float64")
        check(s.shape == (j["n_edges"],) and m.shape == (len(senders), len(receivers)),
              f"{ext}: scores [{j['n_edges']}], matrix [{len(senders)}, {len(receivers)}]")
        nine = np.array([float(f"{v:.9g}") for v in s])
        check(np.array_equal(nine, want), f"{ext}: scores = --json scores (to its 9 digits), graph order")
        at = np.zeros_like(m)
        for e, name in enumerate(j["edge_names"]):
            a, b = name.split("->")
            at[senders[a], receivers[b]] = s[e]
        check(np.array_equal(at, m), f"{ext}: matrix[sender, receiver] = the edge's score, 0 where no edge")
    check(np.array_equal(files["npz"]["scores"], files["safetensors"]["scores"]), "npz and safetensors agree")
    folder = os.path.join(tmp, "d.npz")
    os.mkdir(folder)
    for path, says in [(os.path.join(tmp, "s.bin"), "FILE.safetensors or FILE.npz"), (folder, "is a directory")]:
        r = circuitc(*ARGS, "--scores", path, ok=False)
        check(r.returncode == 2 and r.stdout == "" and says in r.stderr and
              (path == folder or not os.path.exists(path)), f"eap --scores {os.path.basename(path)}: refused ({says})")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        checks(tmp)


if __name__ == "__main__":
    main()
