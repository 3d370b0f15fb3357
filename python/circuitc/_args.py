"""How the package hands heads and token ids to the library (the CLI's text forms)."""

from ._lazy import numpy as np

__all__ = ["head", "ids_text", "threads"]


def head(h):
    """A head as the library parses it: "L4H11", "4.11" or (4, 11)."""
    if isinstance(h, str):
        return h
    layer, index = h
    return f"L{int(layer)}H{int(index)}"


def threads(n):
    """A call's thread count (docs/library.md, "Threads per call"): 0 for the
    library's default (the online cores, at most 8), or the most threads the
    call may use; 1 runs it on the calling thread alone."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"threads must be an int, not {type(n).__name__}")
    if n < 0:
        raise ValueError(f"threads is {n}; give 0 (the default) or a count of at least 1")
    return n


def ids_text(tokens):
    """Token ids (a list, an array [pos] or [1, pos]) as --tokens takes them: "1,2,3"."""
    ids = np.asarray(tokens).reshape(-1)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, not {ids.dtype}")
    return ",".join(str(int(i)) for i in ids)
