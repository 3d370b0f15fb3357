"""One model, several threads: the analyses and forward passes give the serial results; a call's
threads= keyword gives the default's results and reaches the library."""

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import printed


def test_concurrent_analyses_on_one_model(model):
    calls = [
        lambda: printed(model.kcomp("L0H0", "L1H0", progress=False).to_dict()),
        lambda: printed(model.heads(batch=2, seq_len=10).to_dict()),
        lambda: printed(model.comp_scores(baseline_samples=10, progress=False).to_dict()),
        lambda: model.run_with_cache(np.array([[511, 3, 4, 5, 3, 4, 5]]), names_filter="blocks.1.attn.hook_pattern")[1][
            "blocks.1.attn.hook_pattern"].copy(),
    ]
    serial = [call() for call in calls]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(calls[i % len(calls)]) for i in range(12)]
        results = [f.result() for f in futures]
    for i, got in enumerate(results):
        want = serial[i % len(calls)]
        if isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want)
        else:
            assert got == want


# The calls that take threads= (docs/python.md, "Threads"), on the fixture.
TOKENS = [511, 17, 301, 99, 4, 17, 301, 99]
CLEAN, CORRUPT = [511, 10, 20, 30, 40, 50, 10], [511, 10, 20, 30, 40, 60, 70]
WITH_THREADS = {
    "dla": lambda m, t: m.dla("#17", wrong="#301", tokens=TOKENS, threads=t),
    "lens": lambda m, t: m.lens(tokens=TOKENS, top=3, threads=t),
    "next_tokens": lambda m, t: m.next_tokens(tokens=TOKENS, top=3, threads=t),
    "pattern": lambda m, t: m.pattern("L1H0", seq_len=20, threads=t),
    "pattern-tokens": lambda m, t: m.pattern("L1H0", tokens=TOKENS, threads=t),
    "path_patch": lambda m, t: m.path_patch("all", "L2H0", clean_tokens=CLEAN, corrupt_tokens=CORRUPT, metric="loss",
                                            progress=False, threads=t),
    "attribute": lambda m, t: m.attribute("resid_pre", clean_tokens=CLEAN, corrupt_tokens=CORRUPT, metric="loss",
                                          verify=3, progress=False, threads=t),
    "attribute-mlp_out": lambda m, t: m.attribute("mlp_out", seq_len=10, verify=3, progress=False, threads=t),
}
DEFAULT_COUNT = min(8, os.cpu_count() or 1)  # the library's default: the online cores, at most 8


def assert_close(got, want, where="result"):
    """GOT equals WANT but for float32 rounding: on fewer threads a forward pass splits its
    GEMMs differently (on the fixture: at most 5e-7 apart, 2e-5 relative on the normalised
    patching effects, a difference of two runs divided by another)."""
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-4, abs=1e-6, nan_ok=True), where
    elif isinstance(want, dict):
        assert got.keys() == want.keys(), where
        for k in want:
            assert_close(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, f"{where}[{i}]")
    else:
        assert got == want, where


@pytest.mark.parametrize("name", WITH_THREADS)
def test_threads_keyword_gives_the_default_results(model, name):
    call = WITH_THREADS[name]
    by_default = printed(call(model, 0).to_dict())
    # the default's count gives the default's results exactly; one thread the same but for the last bits
    # (docs/library.md, "Threads per call")
    assert printed(call(model, DEFAULT_COUNT).to_dict()) == by_default
    assert_close(printed(call(model, 1).to_dict()), by_default)


def test_threads_keyword_reaches_the_library(model):
    """Given threads=1 a call holds OpenBLAS to one thread while it runs: read in its progress callback."""
    blas = ctypes.CDLL("libopenblas.so.0")
    seen = []

    def watch(done, total):
        seen.append(blas.openblas_get_num_threads())

    for threads in (0, 1):
        seen.clear()
        model.path_patch("all", "L2H0", clean_tokens=CLEAN, corrupt_tokens=CORRUPT, metric="loss", progress=watch,
                         threads=threads)
        assert seen
        if threads == 1:
            assert set(seen) == {1}
        elif blas.openblas_get_num_threads() == 1:
            pytest.skip("OpenBLAS runs on one thread here: threads=1 cannot be told from the default")
        else:
            assert max(seen) > 1


@pytest.mark.parametrize("threads, error", [(-1, ValueError), ("2", TypeError), (1.5, TypeError)])
def test_threads_keyword_refuses_a_bad_count(model, threads, error):
    with pytest.raises(error, match="threads"):
        model.dla("#17", tokens=TOKENS, threads=threads)
