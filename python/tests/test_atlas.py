"""circuitc.atlas beyond parity (test_parity.py): its result object, its
errors, progress and cancellation, threads, and the GIL released while the
units run."""

import threading
import time

import pytest

import circuitc
from conftest import printed


def test_result_object(model):
    r = model.atlas(top=3)
    assert isinstance(r, circuitc.AtlasResult) and r.command == "atlas"
    assert r.pairs == len(r.entries) == 48 and r.exact_pairs + r.bounded_pairs == r.pairs
    assert len(r.top) == 3 and r.top[0]["earlier"] == "L0H0" and r.top[0]["later"] == "L1H0"
    assert r.to_dict()["top"] == r.top and r.out is None and r.ranks == 1
    assert repr(r).startswith("atlas kcomp: 48 pairs")


def test_threads_give_the_same_atlas(model):
    one = model.atlas(min_acc=0, threads=1, progress=False).to_dict()
    default = circuitc.atlas(model, min_acc=0, progress=False).to_dict()
    assert printed(one) == printed(default)


def test_errors(model, tmp_path):
    with pytest.raises(circuitc.Error, match="circuit ov has 1 parameters; the atlas needs a two-head circuit"):
        model.atlas(circuit="ov")
    with pytest.raises(circuitc.FileError, match="nope.circuit"):
        model.atlas(circuit=tmp_path / "nope.circuit")
    with pytest.raises(circuitc.FileError, match="No such file"):
        circuitc.atlas(tmp_path / "no-model")
    with pytest.raises(ValueError, match="min_acc"):
        model.atlas(min_acc=2)
    with pytest.raises(ValueError, match="top is 0"):
        model.atlas(top=0)
    with pytest.raises(ValueError, match="threads is -1"):
        model.atlas(threads=-1)


def test_progress_counts_the_pairs(model):
    seen = []
    model.atlas(progress=lambda done, total: seen.append((done, total)))
    assert len(seen) > 2 and seen[-1] == (48, 48)
    assert all(t == 48 for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_an_interrupt_cancels_the_atlas(model):
    """The callback raises at the first unit: the call stops there (the other
    units are not run), so it takes a small part of the whole call's CPU."""
    start = time.process_time()
    model.atlas(min_acc=0, threads=1, progress=False)
    whole = time.process_time() - start
    seen = []

    def interrupt(done, total):
        seen.append(done)
        raise KeyboardInterrupt

    start = time.process_time()
    with pytest.raises(KeyboardInterrupt):
        model.atlas(min_acc=0, threads=1, progress=interrupt)
    assert time.process_time() - start < whole / 3 and len(seen) == 1
    assert model.atlas(top=1, progress=False).exact_pairs > 0  # the model is still usable


def test_the_gil_is_released_while_units_run(model):
    """Another Python thread keeps running during the call: the longest pause
    it sees is a small part of the call (the units run without the GIL)."""
    done = threading.Event()
    worker = threading.Thread(target=lambda: (model.atlas(min_acc=0, threads=1, progress=False), done.set()))
    start = last = time.perf_counter()
    longest = 0.0
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    worker.join()
    assert longest < (time.perf_counter() - start) / 2, f"paused {longest:.3f} s"
