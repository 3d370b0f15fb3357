"""The model-level commands: ``circuitc info`` and ``circuitc validate``.

A mixin of Model (_model.py); each is the library's one call (cc_model_info_json
on a model opened without its weights, cc_validate) returned as its JSON body
(a Result), the keys ``--json`` prints.
"""

import os

from . import _circuitc
from ._args import head
from ._results import Result

__all__ = ["ModelChecks", "info"]


def info(model, checksum=False):
    """`circuitc info`: what a model file holds (weights_file, dtype,
    file_bytes, n_tensors, config, architecture, hooks, n_params, sha256 with
    checksum=True). MODEL: a Model, or a path whose header alone is read
    (None: the default model). The CLI's "blas" key is the CLI
    process's and is not here (the package's kernel choice: docs/blas.md)."""
    if model is not None and not isinstance(model, _circuitc.Model):
        model = os.fspath(model)
    return Result.from_json("info", _circuitc.info(model, checksum=checksum))


class ModelChecks:
    """info and validate (Model methods)."""

    def info(self, checksum=False):
        """`circuitc info` of this model (see circuitc.info, which also takes a path)."""
        return info(self, checksum)

    def validate(self, prev, ind, seq_len=None, batch=10, seed=0, mode="mean", golden=None, progress="auto"):
        """`circuitc validate PREV IND`: PREV (a previous-token head) and IND
        (an induction head) checked as an induction circuit: weight-only
        predictions (positional QK, the K-composition score against its
        baseline, the K-comp top-1 accuracy) against forward-pass evidence on
        repeated tokens (scores, and IND's induction score and the loss with
        PREV ablated, mode "mean" or "zero"); golden: a golden/out/<model>
        folder adds parity checks. r.checks lists every check, r.all_pass
        says whether all passed (the CLI exits 1 otherwise)."""
        return self._with_progress("validate", progress, _circuitc.validate, model=self, prev=head(prev),
                                   ind=head(ind), seq_len=self._seq_len(seq_len), batch=batch, seed=seed, mode=mode,
                                   golden=None if golden is None else os.fspath(golden))
