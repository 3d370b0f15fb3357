"""TransformerLens side of bench/runtime_whole.py: the work of one circuitc
runtime command, done the usual TransformerLens way, as one process (imports
and model loading included), its result printed as one JSON object on stdout.
Run with golden/.venv's python:

    runtime_whole_tl.py repeat|heads|patch MODEL_DIR [--seq-len N] [--batch B] [--seed S]

Tokens are circuitc's ([BOS, A, A], golden/FORMAT.md's generator, the same
seed). repeat: model(tokens), log_softmax + gather, the halves' mean log-prob
and the loss. heads: run_with_cache of every hook_pattern, then the four
diagonal scores and the detect_head "mul" scores (plain and the three exclude
variants) computed from that cache with tensor operations (detect_head itself
would rerun the model for every call). patch: a clean run_with_cache of
hook_mlp_out, then one run_with_hooks per (layer, position in [n, 2n]) setting
hook_mlp_out[p] to the clean value at p-n; deltas of the second-half loss."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))

import torch  # noqa: E402

from common import load_tl, repeat_tokens  # noqa: E402


def arg(args, name, default):
    return int(args[args.index(name) + 1]) if name in args else default


def correct_logprobs(logits, tokens):
    return logits.log_softmax(-1)[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]


def run_repeat(model, tokens, n):
    lp = correct_logprobs(model(tokens), tokens).double()
    return {"first_half_mean_logprob": lp[:, :n].mean().item(), "second_half_mean_logprob": lp[:, n:].mean().item(),
            "loss": -lp.mean().item()}


def detection_patterns(tokens, n):
    """[B, T, T] float masks of TransformerLens' previous/duplicate/induction patterns."""
    T = tokens.shape[1]
    same = tokens[:, :, None] == tokens[:, None, :]
    lower = torch.ones(T, T, dtype=torch.bool).tril(-1)
    dup = same & lower
    ind = torch.zeros_like(dup)
    ind[:, :, 1:] = dup[:, :, :-1]
    prev = torch.zeros(T, T, dtype=torch.bool)
    prev[torch.arange(1, T), torch.arange(0, T - 1)] = True
    return {"previous_token_head": prev.expand_as(dup).float(), "duplicate_token_head": dup.float(),
            "induction_head": ind.float()}


def run_heads(model, tokens, n):
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_pattern"))
    L = model.cfg.n_layers
    P = torch.stack([cache["pattern", l] for l in range(L)])  # [L, B, H, T, T]
    offsets = {"induction": 1 - n, "previous_token": -1, "duplicate_token": -n, "current_token": 0}
    out = {k: P.diagonal(o, dim1=-2, dim2=-1).mean((1, -1)).tolist() for k, o in offsets.items()}
    T = tokens.shape[1]
    P64 = P.double()  # circuitc sums the detection scores in float64 too
    detect = {}
    for name, D in detection_patterns(tokens, n).items():
        variants = {}
        for label, eb, ec in [("default", False, False), ("exclude_bos", True, False),
                              ("exclude_current_token", False, True), ("exclude_both", True, True)]:
            A = P64
            if eb:
                A = A.clone()
                A[..., 0] = 0
            if ec:
                A = A * (1 - torch.eye(T, dtype=A.dtype))
            score = (A * D[None, :, None].double()).sum((-2, -1)) / A.sum((-2, -1))  # [L, B, H]
            variants[label] = score.mean(1).tolist()
        detect[name] = variants
    out["detect"] = detect
    return out


def run_patch(model, tokens, n):
    seq = tokens[:1]

    def half_loss(logits):
        return -correct_logprobs(logits, seq)[0, n:2 * n].double().mean().item()

    logits, clean = model.run_with_cache(seq, names_filter=lambda name: name.endswith("hook_mlp_out"))
    clean_loss = half_loss(logits)
    delta = []
    for l in range(model.cfg.n_layers):
        name = f"blocks.{l}.hook_mlp_out"
        clean_act = clean[name]
        row = []
        for p in range(n, 2 * n + 1):
            def hook(act, hook, p=p):
                act[:, p] = clean_act[:, p - n]
                return act

            row.append(half_loss(model.run_with_hooks(seq, fwd_hooks=[(name, hook)])) - clean_loss)
        delta.append(row)
    return {"clean_loss": clean_loss, "delta": delta}


def bos_token_id(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)["bos_token_id"]


def main():
    args = sys.argv[1:]
    command, model_dir = args[0], args[1]
    n, batch, seed = arg(args, "--seq-len", 50), arg(args, "--batch", 30), arg(args, "--seed", 0)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.set_grad_enabled(False)
    model = load_tl(model_dir, processing=True)
    tokens = torch.from_numpy(repeat_tokens(seed, 1 if command == "patch" else batch, n, model.cfg.d_vocab,
                                            bos_token_id(model_dir)))
    work = {"repeat": run_repeat, "heads": run_heads, "patch": run_patch}[command]
    out = work(model, tokens, n)
    out.update({"torch": torch.__version__, "torch_threads": torch.get_num_threads()})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
