"""The all-pairs atlas: ``circuitc atlas`` as a Model method and on a model path.

A mixin of Model (_model.py). Every pair, the bound, the ranking and the JSON
body are the library's (cc_atlas_report_run); this hands the arguments over
and draws the progress bar.
"""

import os

from . import _circuitc
from ._args import threads as _threads
from ._progress import progress_for
from ._results import Result

__all__ = ["Atlas", "AtlasResult", "atlas"]


class AtlasResult(Result):
    """atlas: the summary (pairs, exact_pairs, bounded_pairs ...), ``top`` (the
    best exact pairs) and ``entries`` (every earlier -> later pair, canonical
    order), accuracies as fractions of the vocabulary."""

    def __repr__(self):
        b = self._body
        line = f"atlas {b['circuit']}: {b['pairs']} pairs, {b['exact_pairs']} exact, {b['bounded_pairs']} bounded"
        if b["top"]:
            best = b["top"][0]
            line += f"; best {best['earlier']} -> {best['later']}, rows top-1 {best['rows_top1']:.4f}"
        return line


def atlas(model, circuit="kcomp", min_acc=0.01, top=10, threads=0, progress="auto", process=True):
    """`circuitc atlas`: the two-head CIRCUIT (kcomp, qcomp, vcomp or a
    .circuit file) for every earlier -> later head pair, top-1 and top-5
    accuracy of its diagonal by rows and by columns. For kcomp a certified
    upper bound runs first: pairs whose top-5 accuracy is certified below
    MIN_ACC both ways stay "bound" (0: every pair exact). TOP exact pairs are
    ranked in r.top; r.entries lists every pair. THREADS: 0 for every core.
    MODEL: a Model, or a model path opened for this call alone (only W_E and
    the heads are read; PROCESS: the default weight processing)."""
    if not 0 <= min_acc <= 1:
        raise ValueError(f"min_acc is {min_acc!r}; give an accuracy between 0 and 1, e.g. 0.01")
    if not isinstance(model, _circuitc.Model):
        model = os.fspath(model)
    cb, close = progress_for(progress, "atlas")
    try:
        text = _circuitc.atlas(model, circuit=os.fspath(circuit), min_acc=min_acc, top=top, threads=_threads(threads),
                               process=process, progress=cb)
    finally:
        close()
    return AtlasResult.from_json("atlas", text)


class Atlas:
    """atlas (a Model method)."""

    def atlas(self, circuit="kcomp", min_acc=0.01, top=10, threads=0, progress="auto"):
        """`circuitc atlas` on this model (see circuitc.atlas, which also takes a path)."""
        return atlas(self, circuit, min_acc, top, threads, progress)
