"""The analyses on clean/corrupted prompt pairs: patch, path_patch, eap.

A mixin of Model (_model.py): each method is the CLI command of the same name
on a prompt pair given as text (clean=, corrupt=) or token ids
(clean_tokens=, corrupt_tokens=), run by the library's one call and returned
as its JSON body (a Result).
"""

from . import _circuitc
from ._args import head, ids_text, threads as call_threads

__all__ = ["PairAnalyses"]


def _pair(clean, corrupt, clean_tokens, corrupt_tokens, metric, answer, wrong, prepend_bos, tokenizer):
    """The pair's keywords of the C functions, each prompt given exactly once."""
    for name, text, ids in (("clean", clean, clean_tokens), ("corrupt", corrupt, corrupt_tokens)):
        if (text is None) == (ids is None):
            raise TypeError(f"give exactly one of {name} (text) and {name}_tokens (ids)")
    return dict(clean=clean, corrupt=corrupt, clean_tokens=None if clean_tokens is None else ids_text(clean_tokens),
                corrupt_tokens=None if corrupt_tokens is None else ids_text(corrupt_tokens),
                metric=metric, answer=answer, wrong=wrong, prepend_bos=prepend_bos, tokenizer=tokenizer)


class PairAnalyses:
    """patch, path_patch and eap (Model's methods)."""

    def patch(self, hook, clean=None, corrupt=None, *, clean_tokens=None, corrupt_tokens=None, metric="logit_diff",
              answer=None, wrong=None, per_head=False, positions="each", naive=False, prepend_bos=True,
              progress="auto"):
        """`circuitc patch HOOK` on a prompt pair: the corrupted run with
        blocks.l.HOOK (resid_pre, resid_mid, attn_out, mlp_out; per head z,
        pattern, q, k, v) taken from the clean run, every layer and position
        (positions="all": all at once), per head with per_head=True. metric
        "logit_diff" (answer and wrong: one token each, " Mary" or "#ID"; also
        spelled "logit-diff") or "loss". Without a pair, patch("mlp_out") is patch_mlp_out()."""
        if clean is None and clean_tokens is None and corrupt is None and corrupt_tokens is None:
            if hook not in ("mlp_out", "hook_mlp_out"):
                raise TypeError(f"patch {hook} needs a prompt pair (clean=, corrupt= or clean_tokens=, "
                                "corrupt_tokens=); without one only the mlp_out sweep runs (patch_mlp_out)")
            return self.patch_mlp_out(naive=naive, progress=progress)
        if positions not in ("each", "all"):
            raise ValueError(f'positions must be "each" or "all", not {positions!r}')
        pair = _pair(clean, corrupt, clean_tokens, corrupt_tokens, metric, answer, wrong, prepend_bos, self.tokenizer)
        return self._with_progress("patch", progress, _circuitc.patch_pair, model=self, hook=hook, per_head=per_head,
                                   all_positions=positions == "all", naive=naive, **pair)

    def path_patch(self, sender, *receivers, to="q", clean=None, corrupt=None, clean_tokens=None,
                   corrupt_tokens=None, metric="logit_diff", answer=None, wrong=None, prepend_bos=True,
                   progress="auto", threads=0):
        """`circuitc path-patch SENDER RECEIVER...`: the sender head's effect
        through the receivers' q, k or v input (to=) on a prompt pair, as
        (patched - clean) / (clean - corrupt). sender "all": every head in the
        layers below the lowest receiver. threads: the most threads the call
        uses (0: the library's default)."""
        if not receivers:
            raise TypeError("path_patch needs at least one receiver head")
        pair = _pair(clean, corrupt, clean_tokens, corrupt_tokens, metric, answer, wrong, prepend_bos, self.tokenizer)
        return self._with_progress("path-patch", progress, _circuitc.path_patch, model=self,
                                   sender=sender if sender == "all" else head(sender),
                                   receivers=[head(h) for h in receivers], to=to, threads=call_threads(threads),
                                   **pair)

    def eap(self, task="repeat", pairs=None, metric="logit_diff", ig_steps=5, top_n=20, greedy=False, batch=10,
            seq_len=None, seed=0, scores_only=False, progress="auto"):
        """`circuitc eap`: EAP (ig_steps=0) or EAP-IG edge scores on prompt
        pairs from a JSON Lines file (pairs=) or a task ("repeat", "ioi",
        "greater-than"; batch pairs, seq_len the repeated block, default 8),
        with metric "logit_diff", "loss" or "kl" (KL to the clean run),
        the top_n-edge circuit (greedy=True: chosen greedily) and the
        faithfulness curve; scores_only=True: the scores alone (no circuit,
        no curve, as --scores-only)."""
        return self._with_progress("eap", progress, _circuitc.eap, model=self, task=task,
                                   pairs=None if pairs is None else str(pairs), metric=metric, ig_steps=ig_steps,
                                   top_n=top_n, greedy=greedy, batch=batch, seq_len=8 if seq_len is None else seq_len,
                                   seed=seed, tokenizer=self.tokenizer, scores_only=scores_only)
