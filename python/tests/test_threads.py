"""One model, several threads: the analyses and forward passes give the serial results."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

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
