"""Progress of long library calls as a tqdm bar, when tqdm is installed.

The library reports (done, total) with phases (a smaller ``done`` starts a
new phase); the bar follows. Ctrl-C is checked at every report (the C side
raises KeyboardInterrupt there).
"""

import functools
import importlib.util
import sys
import warnings


@functools.cache
def _tqdm():
    """tqdm's bar class, imported for the first bar (importing tqdm costs about
    0.1 s of CPU, a call that draws no bar should not pay it), or None without
    tqdm (progress is optional). tqdm.autonotebook is tqdm.auto without its
    asyncio part (never used here, and half of tqdm.auto's import): a notebook's
    widget in a notebook, else the text bar."""
    if importlib.util.find_spec("tqdm") is None:
        return None
    from tqdm.std import TqdmExperimentalWarning

    with warnings.catch_warnings():  # as tqdm.auto: no warning for picking the notebook's bar
        warnings.simplefilter("ignore", category=TqdmExperimentalWarning)
        from tqdm.autonotebook import tqdm
    return tqdm


class _Bar:
    def __init__(self, desc):
        self._desc = desc
        self._bar = None
        self._done = 0

    def __call__(self, done, total):
        if self._bar is None or done < self._done or total != self._bar.total:
            self.close()
            self._bar = _tqdm()(total=total, desc=self._desc, leave=False)
            self._done = 0
        self._bar.update(done - self._done)
        self._done = done

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _seen():
    """Whether a bar drawn now is seen: stderr is a terminal (as the CLI's
    progress line), or this is a Jupyter kernel (tqdm draws its widget)."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def progress_for(progress, desc):
    """The callable to hand the C side: PROGRESS "auto" (a tqdm bar when tqdm
    is installed and the bar is seen: a terminal or a notebook; the default),
    True (the bar wherever stderr goes), False/None (none: Ctrl-C is still
    checked), or any callable (done, total). Returns (callable or None, closer)."""
    if callable(progress):
        return progress, lambda: None
    if progress == "auto":
        progress = _seen()
    if progress and importlib.util.find_spec("tqdm") is not None:
        bar = _Bar(desc)
        return bar, bar.close
    return None, lambda: None
