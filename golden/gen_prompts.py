"""Prompt goldens: `run` (next-token predictions), the logit lens and direct logit
attribution on researchers' prompts, by TransformerLens (FORMAT.md, "Prompt goldens").

Called from generate.py's main for each model; alone (only these files, ~1 min):

  golden/.venv/bin/python golden/gen_prompts.py [--out DIR] [--only MODEL]
"""
import argparse
import os
import sys
import time

for _k, _v in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "OMP_NUM_THREADS": "2", "TRANSFORMERS_VERBOSITY": "error"}.items():
    os.environ.setdefault(_k, _v)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
from common import write_json  # noqa: E402

import torch  # noqa: E402

FIXTURE = "induction-3l4h"
BIG = "gpt2-small-random"
TOP_K = 5
GPT2_TOKENIZER = os.path.join(HERE, "..", "third_party", "gpt2-tokenizer")

# The fixture has no tokenizer (a toy vocabulary of 512 ids): prompts are ids, BOS (511) first,
# with a repeat the induction head can complete. DLA: the answer repeats, the wrong token does not.
FIXTURE_RUN = [[511, 17, 301, 99, 4, 17, 301, 99, 4, 250], [511, 42, 7, 42]]
FIXTURE_LENS = FIXTURE_RUN[0]
FIXTURE_DLA = {"tokens": [511, 17, 301, 99, 4, 17, 301, 99], "answer": 4, "wrong": 250}

# GPT-2-small-shaped random model, real GPT-2 tokenizer: text prompts as the CLI takes them.
BIG_RUN = ["When Mary and John went to the store, John gave a drink to", "Hello world!"]
BIG_LENS = "The Eiffel Tower is in the city of"
BIG_DLA = {"prompt": BIG_RUN[0], "answer": " Mary", "wrong": " John"}


def gpt2_tokenizer():
    from transformers import GPT2TokenizerFast

    # from_pretrained on the folder (not the constructor): set_tokenizer reloads it by name_or_path
    return GPT2TokenizerFast.from_pretrained(os.path.abspath(GPT2_TOKENIZER))


def rank_of(lg, target):
    """0-based rank with circuitc's tie order: larger logits, then equal ones with lower ids."""
    idx = torch.arange(lg.shape[-1])
    return int(((lg > lg[target]) | ((lg == lg[target]) & (idx < target))).sum())


def logit_margin():
    """Two logits each within the "logits" tolerance can differ by twice it in order: a rank is
    only determined up to the tokens whose logit lies that close to the target's."""
    import json

    with open(os.path.join(HERE, "tolerances.json")) as f:
        return 2 * json.load(f)["classes"]["logits"]["abs"]


def rank_range(lg, target, margin):
    """[lo, hi]: the ranks float32 logits within the margin of these can give the target."""
    return [int((lg > lg[target] + margin).sum()), int((lg >= lg[target] - margin).sum()) - 1]


def top_k(lg, k):
    """Top-K ids and float64 probabilities of one float32 logits row."""
    logp = lg.double().log_softmax(-1)
    ids = torch.topk(lg, k).indices
    return [int(i) for i in ids], [float(logp[i].exp()) for i in ids]


def run_json(name, model, tokens, lengths, texts):
    """Per prompt: log-prob of token t+1 given positions <= t, its rank, loss, top-K at every position.
    The batch is run padded (as to_tokens pads it); only real positions are read."""
    with torch.no_grad():
        logits = model(tokens)
    prompts = []
    for b, n in enumerate(lengths):
        lg = logits[b, :n]
        logp = lg.double().log_softmax(-1)
        tok = tokens[b, :n]
        lp = [float(logp[t, tok[t + 1]]) for t in range(n - 1)]
        tops = [top_k(lg[t], TOP_K) for t in range(n)]
        prompts.append({
            "text": texts[b] if texts else None, "ids": [int(x) for x in tok],
            "logprob_next": lp, "rank_next": [rank_of(lg[t], int(tok[t + 1])) for t in range(n - 1)],
            "rank_next_range": [rank_range(lg[t], int(tok[t + 1]), logit_margin()) for t in range(n - 1)],
            "loss": -sum(lp) / (n - 1), "top_ids": [t[0] for t in tops], "top_probs": [t[1] for t in tops]})
    shortest = min(range(len(lengths)), key=lambda b: lengths[b])
    return {"model": name, "processing": True, "top_k": TOP_K, "padding_side": "right",
            "pad": int(tokens[shortest, -1]) if lengths[shortest] < tokens.shape[1] else None, "prompts": prompts}


def lens_json(name, model, tokens, text):
    """model.unembed(cache.accumulated_resid(apply_ln=True)): ln_final recomputed per layer."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
        acc, labels = cache.accumulated_resid(apply_ln=True, return_labels=True)  # [L+1, 1, T, d]
        lens_logits = model.unembed(acc[:, 0])  # [L+1, T, V]
    T = tokens.shape[1]
    tok = tokens[0]
    prob, rank, rank_window, top_ids, top_probs = [], [], [], [], []
    for i in range(lens_logits.shape[0]):
        lg = lens_logits[i]
        logp = lg.double().log_softmax(-1)
        prob.append([float(logp[t, tok[t + 1]].exp()) for t in range(T - 1)])
        rank.append([rank_of(lg[t], int(tok[t + 1])) for t in range(T - 1)])
        rank_window.append([rank_range(lg[t], int(tok[t + 1]), logit_margin()) for t in range(T - 1)])
        tops = [top_k(lg[t], TOP_K) for t in range(T)]
        top_ids.append([t[0] for t in tops])
        top_probs.append([t[1] for t in tops])
    return {"model": name, "processing": True, "text": text, "ids": [int(x) for x in tok], "labels": labels,
            "top_k": TOP_K, "prob_next": prob, "rank_next": rank,
            "rank_next_range": rank_window, "top_ids": top_ids, "top_probs": top_probs}


def dla_json(name, model, tokens, answer, wrong, text):
    """stack_head_results / decompose_resid with apply_ln=True at the last position, dotted
    with W_U[:, answer] - W_U[:, wrong]; attn_bias = attn_out - its heads' sum."""
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
        direction = model.W_U[:, answer] - model.W_U[:, wrong]
        heads = cache.stack_head_results(layer=-1, pos_slice=-1, apply_ln=True)[:, 0] @ direction
        parts, labels = cache.decompose_resid(layer=-1, pos_slice=-1, apply_ln=True, return_labels=True)
        parts = parts[:, 0] @ direction
    L, H = model.cfg.n_layers, model.cfg.n_heads
    by = dict(zip(labels, [float(x) for x in parts]))
    heads = heads.reshape(L, H).double()
    attn_out = [by[f"{l}_attn_out"] for l in range(L)]
    return {"model": name, "processing": True, "text": text, "ids": [int(x) for x in tokens[0]],
            "position": tokens.shape[1] - 1, "answer": answer, "wrong": wrong,
            "embed": by["embed"], "pos_embed": by["pos_embed"], "heads": heads.tolist(),
            "attn_out": attn_out, "attn_bias": [attn_out[l] - float(heads[l].sum()) for l in range(L)],
            "mlp_out": [by[f"{l}_mlp_out"] for l in range(L)],
            "unembed_bias": float(model.b_U[answer] - model.b_U[wrong]),
            "logit_diff": float(logits[0, -1, answer] - logits[0, -1, wrong])}


def gen_prompts(out_root, name, model):
    """Writes run.json, lens.json and dla.json under out_root/name/prompts/."""
    t0 = time.time()
    out = os.path.join(out_root, name, "prompts")
    if name == FIXTURE:
        n = max(len(p) for p in FIXTURE_RUN)
        pad = model.cfg.d_vocab - 1  # no tokenizer: circuitc pads with the model's BOS
        run_tokens = torch.tensor([p + [pad] * (n - len(p)) for p in FIXTURE_RUN])
        write_json(os.path.join(out, "run.json"),
                   run_json(name, model, run_tokens, [len(p) for p in FIXTURE_RUN], None))
        write_json(os.path.join(out, "lens.json"), lens_json(name, model, torch.tensor([FIXTURE_LENS]), None))
        d = FIXTURE_DLA
        write_json(os.path.join(out, "dla.json"),
                   dla_json(name, model, torch.tensor([d["tokens"]]), d["answer"], d["wrong"], None))
    else:
        model.set_tokenizer(gpt2_tokenizer(), default_padding_side="right")
        run_tokens = model.to_tokens(BIG_RUN)  # BOS prepended, padded on the right with the eos token
        lengths = [len(model.to_tokens(p)[0]) for p in BIG_RUN]
        write_json(os.path.join(out, "run.json"), run_json(name, model, run_tokens, lengths, BIG_RUN))
        write_json(os.path.join(out, "lens.json"), lens_json(name, model, model.to_tokens(BIG_LENS), BIG_LENS))
        d = BIG_DLA
        write_json(os.path.join(out, "dla.json"),
                   dla_json(name, model, model.to_tokens(d["prompt"]), model.to_single_token(d["answer"]),
                            model.to_single_token(d["wrong"]), d["prompt"]))
    print(f"[gen_prompts] {name}: {time.time() - t0:.1f}s", file=sys.stderr)


def for_model(out_root, name):
    """Loads NAME (the big model must exist: generate.py made it) and writes its prompt goldens."""
    import generate

    model_dir = os.path.join(generate.MODELS_DIR, FIXTURE) if name == FIXTURE else os.path.join(generate.BUILD_DIR, BIG)
    if name == BIG:
        generate.ensure_big_model(model_dir)
    gen_prompts(out_root, name, common.load_tl(model_dir, processing=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="output root (default golden/out)")
    ap.add_argument("--only", choices=[FIXTURE, BIG], help="one model only")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    for name in [args.only] if args.only else [FIXTURE, BIG]:
        for_model(args.out, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
