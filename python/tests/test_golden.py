"""The Python API against TransformerLens itself, through the goldens it wrote
(golden/out, golden/FORMAT.md): every cached activation and the logits of
run_with_cache, and the K-composition circuits' exact top-1 / top-5 counts, on
every fixture that has them, with the project's tolerances (golden/tolerances.json)."""

import json

import numpy as np
import pytest

import circuitc
from conftest import FAMILY_MODELS, SOURCE_ROOT

GOLDEN = SOURCE_ROOT / "golden" / "out"
TOLERANCES = json.loads((SOURCE_ROOT / "golden" / "tolerances.json").read_text())["classes"]
FIXTURES = sorted(p.parent.name for p in GOLDEN.glob("*/hooks.json") if (FAMILY_MODELS / p.parent.name).is_dir())


def golden_array(entry):
    """A hooks.json tensor; null (a masked score) is -inf."""
    data = np.array([-np.inf if v is None else v for v in entry["data"]], dtype=np.float64)
    return data.reshape(entry["shape"])


@pytest.mark.parametrize("raw", [False, True], ids=["processed", "raw"])
@pytest.mark.parametrize("fixture", FIXTURES)
def test_run_with_cache_matches_transformerlens(fixture, raw):
    golden = json.loads((GOLDEN / fixture / ("raw" if raw else "") / "hooks.json").read_text())
    assert golden["processing"] is not raw
    m = circuitc.load(str(FAMILY_MODELS / fixture), process=not raw)
    names = [n for n in golden["names"] if n in m.hook_names and n != "logits"]
    assert len(names) >= 10, names
    tokens = np.array(golden["tokens"]["data"]).reshape(golden["tokens"]["shape"])
    logits, cache = m.run_with_cache(tokens, names_filter=names)
    hooks_tol = TOLERANCES["hooks"]
    assert hooks_tol["abs"] == 0 and hooks_tol["relative_to"] == "tensor_max"
    for name in names:
        entry = golden["hooks"][name]
        want = golden_array(entry)
        got = cache[name].astype(np.float64)
        assert got.shape == want.shape, name
        finite = np.isfinite(want)
        np.testing.assert_array_equal(np.isfinite(got), finite, err_msg=name)
        scale = max(abs(entry["min"]), abs(entry["max"]))
        worst = np.abs(got[finite] - want[finite]).max(initial=0.0)
        assert worst <= hooks_tol["rel"] * scale, f"{fixture} {name}: {worst} > {hooks_tol['rel']} x {scale}"
    want = golden_array(golden["logits"])
    assert np.abs(logits.astype(np.float64) - want).max() <= TOLERANCES["logits"]["abs"]


@pytest.mark.parametrize("fixture", FIXTURES)
def test_kcomp_counts_match_transformerlens(fixture):
    golden = json.loads((GOLDEN / fixture / "factored.json").read_text())
    m = circuitc.load(str(FAMILY_MODELS / fixture), process=golden["processing"])
    for e in golden["kcomp"]:
        r = m.kcomp(tuple(e["prev"]), tuple(e["ind"]), baseline_samples=0, ranks="never", progress=False)
        got = (r.rows["topk"][0], r.rows["topk"][4], r.cols["topk"][0], r.cols["topk"][4])
        assert got == (e["top1_rows"], e["top5_rows"], e["top1_cols"], e["top5_cols"]), (fixture, e["prev"], e["ind"])
