"""TransformerLens side of bench/prompts_whole.py: `circuitc dla` / `circuitc lens`
on one prompt, done the usual TransformerLens way, as one process (imports, model
loading and tokenizer included), its result printed as one JSON object on stdout.
Run with golden/.venv's python:

    prompts_whole_tl.py dla|lens MODEL_DIR PROMPT [ANSWER WRONG] [--top K]

The model is built as from_pretrained builds it (golden/common.py load_tl), the
tokenizer is GPT-2's (third_party/gpt2-tokenizer) set with model.set_tokenizer.
dla: run_with_cache, stack_head_results and decompose_resid with apply_ln=True at
the last position, dotted with W_U[:, answer] - W_U[:, wrong]. lens:
model.unembed(cache.accumulated_resid(apply_ln=True)), softmax, the next token's
probability and the top K per layer and position."""
import contextlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "golden"))

import torch  # noqa: E402

from common import load_tl  # noqa: E402


def run_dla(model, tokens, answer, wrong):
    logits, cache = model.run_with_cache(tokens)
    a, w = model.to_single_token(answer), model.to_single_token(wrong)
    direction = model.W_U[:, a] - model.W_U[:, w]
    heads = cache.stack_head_results(layer=-1, pos_slice=-1, apply_ln=True)[:, 0] @ direction
    parts, labels = cache.decompose_resid(layer=-1, pos_slice=-1, apply_ln=True, return_labels=True)
    parts = parts[:, 0] @ direction
    L, H = model.cfg.n_layers, model.cfg.n_heads
    return {"heads": heads.reshape(L, H).tolist(), "parts": dict(zip(labels, parts.tolist())),
            "logit": (logits[0, -1, a] - logits[0, -1, w]).item()}


def run_lens(model, tokens, k):
    _, cache = model.run_with_cache(tokens)
    lens_logits = model.unembed(cache.accumulated_resid(apply_ln=True)[:, 0])  # [L+1, T, V]
    probs = lens_logits.double().softmax(-1)
    nxt = tokens[0, 1:]
    prob_next = probs[:, :-1].gather(-1, nxt[None, :, None].expand(probs.shape[0], -1, 1))[..., 0]
    top = probs.topk(k, dim=-1)
    return {"prob_next": prob_next.tolist(), "top_ids": top.indices.tolist()}


def main():
    args = sys.argv[1:]
    k = int(args[args.index("--top") + 1]) if "--top" in args else 5
    command, model_dir, prompt = args[0], args[1], args[2]
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.set_grad_enabled(False)
    from transformers import GPT2TokenizerFast

    model = load_tl(model_dir, processing=True)
    model.set_tokenizer(GPT2TokenizerFast.from_pretrained(os.path.join(HERE, "..", "third_party", "gpt2-tokenizer")))
    tokens = model.to_tokens(prompt)
    with contextlib.redirect_stdout(sys.stderr):  # TransformerLens prints notes ("Computing head results now")
        out = run_dla(model, tokens, args[3], args[4]) if command == "dla" else run_lens(model, tokens, k)
    out.update({"torch": torch.__version__, "torch_threads": torch.get_num_threads()})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
