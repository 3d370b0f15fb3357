"""The seed study in Python (docs/python.md): repeated random tokens, the
induction and previous-token heads found from the attention patterns, the
mlp_out patching sweep, and the K-composition circuit of the pair.

Runs on the bundled fixture (circuitc.load()); pass a model path to run it on
another model (python examples/seed_study.py MODEL PREV IND). It checks what
it computes with numpy against the library's own analyses, so CI runs it.
"""

import sys

import numpy as np

import circuitc

path = sys.argv[1] if len(sys.argv) > 1 else None
model = circuitc.load(path)
cfg = model.cfg
print(model)

# 1. Repeated random tokens [BOS, A, A]: an induction circuit predicts the second half.
seq_len = min(50, (cfg.n_ctx - 1) // 2)
tokens = model.repeated_tokens(seq_len=seq_len, batch=10, seed=0)
logits, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_pattern"))
shifted = logits - logits.max(-1, keepdims=True)
logprobs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
correct = np.take_along_axis(logprobs[:, :-1], tokens[:, 1:, None], axis=-1)[..., 0]
first, second = correct[:, :seq_len].mean(), correct[:, seq_len:].mean()
print(f"mean log-prob of the correct token: first half {first:.3f}, second half {second:.3f}")
repeat = model.repeat(seq_len=seq_len, batch=10, seed=0)
assert abs(first - repeat.first_half["mean_logprob"]) < 1e-4, (first, repeat.first_half)
assert abs(second - repeat.second_half["mean_logprob"]) < 1e-4, (second, repeat.second_half)

# 2. Head scores from the patterns: mean attention on the diagonal at offset 1 - n
#    (induction) and -1 (previous token), as TransformerLens users compute them.
def diagonal_score(pattern, offset):
    return np.diagonal(pattern, offset=offset, axis1=-2, axis2=-1).mean(axis=(0, -1))

induction = np.stack([diagonal_score(cache["pattern", layer], 1 - seq_len) for layer in range(cfg.n_layers)])
previous = np.stack([diagonal_score(cache["pattern", layer], -1) for layer in range(cfg.n_layers)])
ind_layer, ind_head = np.unravel_index(induction.argmax(), induction.shape)
prev_layer, prev_head = np.unravel_index(previous[:ind_layer].argmax(), previous[:ind_layer].shape)
prev, ind = f"L{prev_layer}H{prev_head}", f"L{ind_layer}H{ind_head}"
print(f"induction head {ind} ({induction.max():.3f}), previous-token head {prev} "
      f"({previous[prev_layer, prev_head]:.3f})")
heads = {h["head"]: h for h in model.heads(seq_len=seq_len, batch=10, seed=0).heads}
assert abs(heads[ind]["induction"] - induction[ind_layer, ind_head]) < 1e-5
assert abs(heads[prev]["previous_token"] - previous[prev_layer, prev_head]) < 1e-5

# 3. Which MLPs carry the repeated tokens: patch mlp_out[p] <- mlp_out[p - n].
if not cfg.attn_only:
    sweep = model.patch_mlp_out(seq_len=min(seq_len, 20), progress=False)
    worst = np.abs(np.array(sweep.delta)).max(axis=1)
    print("largest loss change per layer when patching mlp_out:", np.round(worst, 4).tolist())

# 4. The K-composition circuit of the pair, exactly over the whole vocabulary.
if len(sys.argv) > 3:
    prev, ind = sys.argv[2], sys.argv[3]
kcomp = model.kcomp(prev, ind, progress=False)
print(kcomp)
assert kcomp.bindings == {"prev": prev, "ind": ind}
