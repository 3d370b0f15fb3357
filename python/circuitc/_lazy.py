"""numpy, imported on first use: `import circuitc` and a circuit on a model
path (circuitc.kcomp(PATH, ...)) need no array, and importing numpy costs
about a tenth of a second of CPU, as much as the rest of such a call's
start-up (the extension imports numpy's C API on first use too)."""

import importlib

__all__ = ["numpy"]


class _Lazy:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):  # only reached for the module's own names
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self):
        return f"<{self._name}, imported on first use>"


numpy = _Lazy("numpy")
