"""circuitc from Python: models, TransformerLens-shaped forward passes with
zero-copy numpy activations, and every analysis of the circuitc tool.

    import circuitc
    m = circuitc.load()                       # the bundled fixture
    print(m.kcomp("L0H0", "L1H0"))
    logits, cache = m.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))

docs/python.md walks a whole study. Errors are circuitc.Error subclasses.
"""

import os as _os

# circuitc's data (built-in circuits, the fixture model, GPT-2's tokenizer)
# ships inside the package; the library finds it through CIRCUITC_DATA, which
# a user's own setting overrides.
_DATA = _os.path.join(_os.path.dirname(__file__), "data")
if _os.path.isdir(_DATA):
    _os.environ.setdefault("CIRCUITC_DATA", _DATA)

# OpenBLAS reads OPENBLAS_CORETYPE only when it loads: the kernel is chosen
# before the extension loads it, never over the user's setting (docs/blas.md).
from . import _blas  # noqa: E402

_blas.choose_kernel()

from . import _circuitc  # noqa: E402
from ._cache import ActivationCache  # noqa: E402
from ._circuitc import FactoredMatrix  # noqa: E402
from ._errors import (ArgumentError, CancelledError, Error, FileError, ModelFormatError,  # noqa: E402
                      NonFiniteError, OutOfMemoryError, TokenizerError, UnsupportedError, error_for)
from ._model import Config, Model, load  # noqa: E402
from ._model import circuit as _circuit  # noqa: E402
from ._results import CircuitResult, Result  # noqa: E402
from ._atlas import AtlasResult, atlas as _atlas  # noqa: E402

_circuitc._set_error_factory(error_for)


_CIRCUITS = ("kcomp", "qcomp", "vcomp", "ov", "qk")


# Analyses that also take a model path, reading only what they need: the function itself.
_ON_PATH = {"atlas": _atlas}


def _analysis(name):
    if name in _ON_PATH:
        return _ON_PATH[name]
    method = getattr(Model, name)

    def call(model, *args, **kwargs):
        if name in _CIRCUITS and not isinstance(model, Model):  # a path: only the circuit's tensors are read
            return _circuit(model, name, args, **kwargs)
        return method(model, *args, **kwargs)

    call.__name__ = name
    call.__doc__ = method.__doc__
    return call


# circuitc.kcomp(m, "L0H0", "L1H0") is m.kcomp("L0H0", "L1H0"), and so on; the circuits also take a
# model path instead of a Model: circuitc.kcomp("gpt2/", "L4H11", "L5H5") reads only what the circuit needs,
# and so does circuitc.atlas("gpt2/").
ANALYSES = ("kcomp", "qcomp", "vcomp", "ov", "qk", "compile", "comp_scores", "discover", "repeat", "heads", "pattern",
            "ablate", "patch", "patch_mlp_out", "path_patch", "eap", "dla", "lens", "next_tokens", "attribute", "info",
            "validate", "atlas")
for _name in ANALYSES:
    globals()[_name] = _analysis(_name)

__all__ = ["load", "Model", "Config", "ActivationCache", "FactoredMatrix", "Result", "CircuitResult", "AtlasResult",
           "Error", "ArgumentError", "ModelFormatError", "FileError", "TokenizerError", "NonFiniteError",
           "OutOfMemoryError", "UnsupportedError", "CancelledError", *ANALYSES]
