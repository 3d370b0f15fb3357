"""Attribution patching: ``circuitc attribute HOOK`` as a Model method.

A mixin of Model (_model.py). The estimate, its check against exact patching
(verify=K or "all") and the JSON body are the library's (cc_attr_report_run,
cc_attr_mlp_sweep); this only hands the arguments over.
"""

from . import _circuitc
from ._args import threads as call_threads
from ._pairs import _pair

__all__ = ["Attribution"]


class Attribution:
    """attribute (a Model method)."""

    def attribute(self, hook, clean=None, corrupt=None, *, clean_tokens=None, corrupt_tokens=None,
                  metric="logit_diff", answer=None, wrong=None, per_head=False, positions="each", verify=0, top=10,
                  seq_len=None, seed=0, prepend_bos=True, progress="auto", threads=0):
        """`circuitc attribute HOOK`: every patch of patch(HOOK, ...) estimated
        from one backward pass, (clean - corrupt) . d metric / d act with the
        gradient of the corrupted run. On a prompt pair (clean=, corrupt= text
        or clean_tokens=, corrupt_tokens= ids; metric, answer, wrong,
        per_head, positions as patch); without one, attribute("mlp_out")
        estimates patch_mlp_out()'s repeated-token sweep (seq_len, seed).
        verify=K patches the K largest estimates exactly (r.verify["top"]
        lists them beside their exact effect); verify="all" patches every
        node, adds the correlation and lists the top largest. threads: the
        most threads the call uses (0: the library's default)."""
        if positions not in ("each", "all"):
            raise ValueError(f'positions must be "each" or "all", not {positions!r}')
        if clean is None and corrupt is None and clean_tokens is None and corrupt_tokens is None:
            pair_only = dict(metric=metric not in ("logit_diff", "logit-diff"), answer=answer is not None, wrong=wrong is not None,
                             per_head=per_head, positions=positions != "each", prepend_bos=not prepend_bos)
            given = [name for name, on in pair_only.items() if on]
            if given:
                raise TypeError(f"attribute: {', '.join(given)} need a prompt pair (clean=, corrupt= or "
                                "clean_tokens=, corrupt_tokens=)")
            pair = {}
        elif seq_len is not None or seed != 0:
            raise TypeError("attribute: seq_len and seed belong to the repeated-token sweep, not a prompt pair")
        else:
            pair = _pair(clean, corrupt, clean_tokens, corrupt_tokens, metric, answer, wrong, prepend_bos,
                         self.tokenizer)
        return self._with_progress("attribute", progress, _circuitc.attribute, model=self, hook=hook,
                                   per_head=per_head, all_positions=positions == "all", verify=verify, top=top,
                                   seed=seed, seq_len=self._seq_len(seq_len), threads=call_threads(threads), **pair)
