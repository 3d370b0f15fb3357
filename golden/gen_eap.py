"""Edge attribution patching goldens (docs/eap.md): golden/out/MODEL/eap.json.

Written from the definitions of EAP and EAP-IG (Syed et al. 2023; Hanna et al.
2024, and the graph and evaluation of their reference repository) on
TransformerLens hooks, independently of circuitc:

- the graph: senders "input" (hook_embed), each head (attn.hook_result, its
  own output without b_O) and each MLP (hook_mlp_out); receivers each head's
  q/k/v input (hook_q_input / hook_k_input / hook_v_input), each MLP input
  (hook_mlp_in) and the logits (the last block's hook_resid_post); a receiver
  reads every sender that comes before it in the forward pass (a parallel
  block's MLP not its own layer's heads; no MLP nodes in an attention-only
  model);
- the edge-patched run: the clean tokens, every receiver's input rebuilt as its
  input in this run plus (corrupted output - this run's output) of each sender
  whose edge is outside the circuit;
- EAP scores: (corrupted - clean output of the sender) . d metric / d receiver
  input on the clean run, summed over positions, mean over pairs; EAP-IG: the
  same with the gradient averaged over STEPS runs whose token embedding goes
  from the corrupted one to the clean one (k / STEPS, k = 0..STEPS-1);
- metrics on the last position: logit_diff, loss (-log p(answer)) and kl
  (KL(clean || run)), each a mean over pairs;
- circuits: top-n by |score| (ties to the lower edge index) or greedy from the
  logits, then pruned to the edges on input-to-logits paths.

Usage (the pinned TransformerLens venv):

  golden/.venv/bin/python golden/gen_eap.py [--out DIR] [--only MODEL]
"""
import argparse
import heapq
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
from common import write_json  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

# grouped-query attention (llama-tiny) has no EAP graph in circuitc: the C suite checks the refusal
MODELS = ["induction-3l4h", "gpt2-odd", "gpt-neo-tiny", "pythia-tiny", "attn-only-2l"]
N_PAIRS, HALF = 4, 6  # prompts of 2 * HALF tokens
IG_STEPS = 5
METRICS = ["logit_diff", "loss", "kl"]


# ---------------------------------------------------------------- graph

class Graph:
    def __init__(self, cfg):
        L, H = cfg.n_layers, cfg.n_heads
        has_mlp, parallel = not cfg.attn_only, cfg.parallel_attn_mlp
        self.senders = ["input"]            # names, forward order
        self.sender_hook = [("hook_embed", None)]
        self.receivers = []                 # (name, hook, head or None, node index of its own output or None, n_inputs)
        for l in range(L):
            before = len(self.senders)
            for q in "qkv":
                for h in range(H):
                    self.receivers.append((f"a{l}.h{h}<{q}>", f"blocks.{l}.hook_{q}_input", h, before + h, before))
            for h in range(H):
                self.senders.append(f"a{l}.h{h}")
                self.sender_hook.append((f"blocks.{l}.attn.hook_result", h))
            if has_mlp:
                self.receivers.append((f"m{l}", f"blocks.{l}.hook_mlp_in", None, len(self.senders),
                                       before if parallel else len(self.senders)))
                self.senders.append(f"m{l}")
                self.sender_hook.append((f"blocks.{l}.hook_mlp_out", None))
        self.receivers.append(("logits", f"blocks.{L - 1}.hook_resid_post", None, None, len(self.senders)))
        self.edges = [(s, r) for r in range(len(self.receivers)) for s in range(self.receivers[r][4])]
        self.names = [f"{self.senders[s]}->{self.receivers[r][0]}" for s, r in self.edges]

    def prune(self, inc):
        inc = list(inc)
        while True:
            has_out = [False] * len(self.senders)
            has_in = [False] * len(self.senders)
            has_in[0] = True
            for e, (s, r) in enumerate(self.edges):
                if inc[e]:
                    has_out[s] = True
                    node = self.receivers[r][3]
                    if node is not None:
                        has_in[node] = True
            alive = [a and b for a, b in zip(has_in, has_out)]
            new = [bool(inc[e]) and alive[s] and (self.receivers[r][3] is None or alive[self.receivers[r][3]])
                   for e, (s, r) in enumerate(self.edges)]
            if new == inc:
                return new
            inc = new

    def topn(self, scores, n):
        order = sorted(range(len(self.edges)), key=lambda e: (-abs(scores[e]), e))
        inc = [False] * len(self.edges)
        for e in order[:n]:
            inc[e] = True
        return self.prune(inc)

    def greedy(self, scores, n):
        """Candidates are the edges into nodes already in the circuit (the logits
        at first); the best |score| is taken, ties to the earlier candidate batch,
        then the lower edge; a sender joining brings its own input edges in."""
        inc = [False] * len(self.edges)
        heap, batch, joined = [], 0, set()

        def push(node):
            nonlocal batch
            for e, (s, r) in enumerate(self.edges):
                if (node is None and self.receivers[r][0] == "logits") or \
                        (node is not None and self.receivers[r][3] == node):
                    heapq.heappush(heap, (-abs(scores[e]), batch, e))
            batch += 1

        push(None)
        for _ in range(n):
            if not heap:
                break
            _, _, e = heapq.heappop(heap)
            inc[e] = True
            s = self.edges[e][0]
            if s not in joined:
                joined.add(s)
                push(s)
        return self.prune(inc)


# ---------------------------------------------------------------- runs

def sender_outputs(model, g, tokens, embed=None):
    """Each sender's output [B, T, d] on TOKENS (EMBED replaces hook_embed when given)."""
    out = {}

    def grab(name):
        def fn(act, hook):
            if name == "hook_embed" and embed is not None:
                act = embed
            out[name] = act.detach().clone()
            return act
        return fn

    names = sorted({h for h, _ in g.sender_hook})
    with torch.no_grad():
        model.run_with_hooks(tokens, fwd_hooks=[(n, grab(n)) for n in names])
    return [out[h] if head is None else out[h][:, :, head] for h, head in g.sender_hook]


def edge_patched_logits(model, g, clean, corrupt, inc):
    """Last-position logits [B, V] of the clean tokens with every edge outside INC patched."""
    corr = sender_outputs(model, g, corrupt)
    delta = [None] * len(g.senders)
    hooks = []
    for s, (hname, head) in enumerate(g.sender_hook):
        if head is not None and head > 0:
            continue  # one hook per layer's heads

        def record(act, hook, s=s, head=head):
            if head is None:
                delta[s] = corr[s] - act
            else:
                for h in range(act.shape[2]):
                    delta[s + h] = corr[s + h] - act[:, :, h]
            return act
        hooks.append((hname, record))
    by_hook = {}
    for r, (name, hname, head, node, n_in) in enumerate(g.receivers):
        by_hook.setdefault(hname, []).append(r)
    first = {}
    for e, (s, r) in enumerate(g.edges):
        first.setdefault(r, e)
    for hname, rs in by_hook.items():
        def rebuild(act, hook, rs=rs):
            act = act.clone()
            for r in rs:
                _, _, head, _, n_in = g.receivers[r]
                missing = [s for s in range(n_in) if not inc[first[r] + s]]
                if not missing:
                    continue
                add = sum(delta[s] for s in missing)
                if head is None:
                    act = act + add
                else:
                    act[:, :, head] += add
            return act
        hooks.append((hname, rebuild))
    with torch.no_grad():
        logits = model.run_with_hooks(clean, fwd_hooks=hooks)
    return logits[:, -1]


def metric(kind, logits, clean_logits, answer, wrong):
    """Per-pair metric [B] from last-position logits [B, V]."""
    idx = torch.arange(logits.shape[0])
    if kind == "logit_diff":
        return logits[idx, answer] - logits[idx, wrong]
    lp = torch.log_softmax(logits.double(), -1)
    if kind == "loss":
        return -lp[idx, answer]
    lc = torch.log_softmax(clean_logits.double(), -1)
    return (lc.exp() * (lc - lp)).sum(-1)


def scores(model, g, clean, corrupt, answer, wrong, kind, steps=None):
    """EAP (STEPS None) or EAP-IG scores, one per edge, mean over pairs."""
    corr, cl = sender_outputs(model, g, corrupt), sender_outputs(model, g, clean)
    diff = [c - k for c, k in zip(corr, cl)]
    with torch.no_grad():
        clean_logits = model(clean)[:, -1]
    B = clean.shape[0]
    grads = [torch.zeros_like(diff[0]) for _ in g.receivers]
    alphas = [None] if steps is None else [k / steps for k in range(steps)]
    for alpha in alphas:
        held = {}

        def embed_hook(act, hook, alpha=alpha):
            x = act if alpha is None else corr[0] + alpha * (cl[0] - corr[0])
            return x.detach().requires_grad_(True)

        def keep(act, hook):
            held[hook.name] = act
            return act
        hook_names = sorted({rec[1] for rec in g.receivers})
        logits = model.run_with_hooks(clean, fwd_hooks=[("hook_embed", embed_hook)] + [(n, keep) for n in hook_names])
        m = metric(kind, logits[:, -1], clean_logits, answer, wrong).sum()
        got = dict(zip(hook_names, torch.autograd.grad(m, [held[n] for n in hook_names])))
        for r, (_, hname, head, _, _) in enumerate(g.receivers):
            grads[r] += got[hname] if head is None else got[hname][:, :, head]
    n_alpha = len(alphas)
    out = []
    for s, r in g.edges:
        out.append(float((diff[s].double() * grads[r].double()).sum() / (B * n_alpha)))
    return out


def check_by_differences(model, g, clean, corrupt, answer, wrong, kind, eap, n_check=3, h=1e-4):
    """The golden's own check of its EAP scores: for the N_CHECK largest, the
    derivative at eps = 0 of the metric when receiver r's input gets eps times
    (corrupted - clean output of s), by central differences in float64."""
    scale = max(abs(v) for v in eap)  # KL's EAP scores all vanish: its gradient is 0 on the clean run
    m64 = model.to(torch.float64)
    corr, cl = sender_outputs(m64, g, corrupt), sender_outputs(m64, g, clean)
    with torch.no_grad():
        lc = m64(clean)[:, -1]
    for e in sorted(range(len(eap)), key=lambda e: -abs(eap[e]))[:n_check]:
        s, r = g.edges[e]
        _, hname, head, _, _ = g.receivers[r]
        vals = []
        for eps in (h, -h):
            def nudge(act, hook, eps=eps):
                act = act.clone()
                if head is None:
                    act += eps * (corr[s] - cl[s])
                else:
                    act[:, :, head] += eps * (corr[s] - cl[s])
                return act
            with torch.no_grad():
                logits = m64.run_with_hooks(clean, fwd_hooks=[(hname, nudge)])[:, -1]
            vals.append(float(metric(kind, logits, lc, answer, wrong).mean()))
        fd = (vals[0] - vals[1]) / (2 * h)
        assert abs(fd - eap[e]) <= 1e-3 * max(abs(fd), scale) + 1e-5, (g.names[e], fd, eap[e])
    model.to(torch.float32)


# ---------------------------------------------------------------- pairs

def repeat_pairs(V, bos, seed):
    """N_PAIRS induction pairs: clean [BOS, r_1..r_K, r_1..r_(K-1)] with answer
    r_K; corrupted: the same first half, another second half; wrong: a random token."""
    rng = np.random.default_rng(seed)
    clean, corrupt, answer, wrong = [], [], [], []
    for _ in range(N_PAIRS):
        r = [int(x) for x in rng.integers(0, V, HALF)]
        c = [bos] + r + r[:-1]
        x = [bos] + r + [int((t + 1 + rng.integers(0, V - 1)) % V) for t in r[:-1]]
        clean.append(c)
        corrupt.append(x)
        answer.append(r[-1])
        wrong.append(int((r[-1] + 1 + rng.integers(0, V - 1)) % V))
    return clean, corrupt, answer, wrong


def generate_model(name, out_root):
    import generate as gen

    model_dir = os.path.join(HERE, "models", name)
    model = common.load_tl(model_dir, processing=True)
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    if not model.cfg.attn_only:
        model.set_use_hook_mlp_in(True)
    for p in model.parameters():
        p.requires_grad_(False)
    cfg = model.cfg
    g = Graph(cfg)
    V = cfg.d_vocab
    clean, corrupt, answer, wrong = repeat_pairs(V, V - 1, seed=20)
    ct, xt = torch.tensor(clean), torch.tensor(corrupt)
    at, wt = torch.tensor(answer), torch.tensor(wrong)
    with torch.no_grad():
        lc, lx = model(ct)[:, -1], model(xt)[:, -1]
    baselines = {k: {"clean": float(metric(k, lc, lc, at, wt).mean()), "corrupt": float(metric(k, lx, lc, at, wt).mean())}
                 for k in METRICS}
    sc = {"eap": {k: scores(model, g, ct, xt, at, wt, k) for k in ("logit_diff", "kl")},
          f"eap_ig_{IG_STEPS}": {k: scores(model, g, ct, xt, at, wt, k, IG_STEPS) for k in ("logit_diff", "kl")}}
    for k in ("logit_diff", "kl"):
        check_by_differences(model, g, ct, xt, at, wt, k, sc["eap"][k])
    ranking = sc[f"eap_ig_{IG_STEPS}"]["logit_diff"]
    n = len(g.edges)
    circuits = []
    for how, size in (("topn", n // 4), ("topn", n // 16), ("greedy", n // 8)):
        inc = g.topn(ranking, size) if how == "topn" else g.greedy(ranking, size)
        values = {}
        for k in METRICS:
            logits = edge_patched_logits(model, g, ct, xt, inc)
            values[k] = float(metric(k, logits, lc, at, wt).mean())
        circuits.append({"selection": how, "asked": size, "edges": [g.names[e] for e in range(n) if inc[e]],
                         "metrics": values})
    out = {"model": name, "n_edges": n, "edge_names": g.names, "clean_tokens": clean, "corrupt_tokens": corrupt,
           "answer": answer, "wrong": wrong, "ranking": f"eap_ig_{IG_STEPS}.logit_diff", "baselines": baselines,
           "scores": sc, "circuits": circuits}
    write_json(os.path.join(out_root, name, "eap.json"), out)
    write_json(os.path.join(out_root, name, "eap.provenance.json"),
               gen.generator_provenance("gen_eap.py", ["common.py", "generate.py"], model_dir))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--only", choices=MODELS)
    a = ap.parse_args()
    torch.manual_seed(0)
    for name in [a.only] if a.only else MODELS:
        generate_model(name, a.out)
        print(name, "done")


if __name__ == "__main__":
    main()
