"""How the package hands heads and token ids to the library (the CLI's text forms)."""

from ._lazy import numpy as np

__all__ = ["head", "ids_text"]


def head(h):
    """A head as the library parses it: "L4H11", "4.11" or (4, 11)."""
    if isinstance(h, str):
        return h
    layer, index = h
    return f"L{int(layer)}H{int(index)}"


def ids_text(tokens):
    """Token ids (a list, an array [pos] or [1, pos]) as --tokens takes them: "1,2,3"."""
    ids = np.asarray(tokens).reshape(-1)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, not {ids.dtype}")
    return ",".join(str(int(i)) for i in ids)
