"""circuitc.FactoredMatrix: TransformerLens' FactoredMatrix operations on the
library's cc_fm, and the compiled circuits' factors handed over without a copy."""

import gc

import numpy as np
import pytest

import circuitc

rng = np.random.default_rng(0)
A = rng.standard_normal((7, 3)).astype(np.float32)
B = rng.standard_normal((3, 7)).astype(np.float32)


def test_factored_matrix_operations_match_dense_numpy():
    fm = circuitc.FactoredMatrix(A, B)
    dense = A.astype(np.float64) @ B
    assert fm.shape == (7, 7)
    np.testing.assert_allclose(fm.AB, dense, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fm.BA, B.astype(np.float64) @ A, rtol=1e-5, atol=1e-5)
    U, S, V = fm.svd()
    np.testing.assert_allclose(S, np.linalg.svd(dense, compute_uv=False)[:3], rtol=1e-5)
    np.testing.assert_allclose((U * S) @ V.T, dense, rtol=1e-4, atol=1e-4)
    want = np.linalg.eigvals(B.astype(np.float64) @ A)
    got = fm.eigenvalues
    assert sorted(np.round(got, 4), key=lambda z: (z.real, z.imag)) == \
        sorted(np.round(want, 4), key=lambda z: (z.real, z.imag))
    assert fm.norm() == pytest.approx(np.linalg.norm(dense), rel=1e-6)
    np.testing.assert_allclose(fm.T.AB, dense.T, rtol=1e-5, atol=1e-5)
    X = rng.standard_normal((7, 4)).astype(np.float32)
    np.testing.assert_allclose((fm @ X).AB, dense @ X, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose((X.T @ fm).AB, X.T @ dense, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose((fm @ fm).AB, dense @ dense, rtol=1e-4, atol=1e-4)
    top = fm.topk(k=3, method="brute", ranks=True)
    ranks = (dense > np.diag(dense)[:, None]).sum(axis=1)
    assert top["correct"] == [int((ranks < k).sum()) for k in (1, 2, 3)]
    assert fm.topk(k=3)["correct"] == top["correct"]
    with pytest.raises(ValueError):
        circuitc.FactoredMatrix(A, A)


def test_factors_are_read_only_views_kept_alive_by_the_matrix():
    fm = circuitc.FactoredMatrix(A, B)
    a = fm.A
    assert a.base is fm and not a.flags.writeable
    del fm
    gc.collect()
    np.testing.assert_array_equal(a, A)


def test_a_compiled_circuit_carries_its_factors(model):
    r = model.kcomp("L0H0", "L1H0", progress=False)
    fm = r.matrix
    assert fm.shape == tuple(r.shape) and fm.A.shape[1] == r.inner_dim
    top = fm.topk(k=5)
    assert top["correct"] == r.rows["topk"]
    assert fm.T.topk(k=5)["correct"] == r.cols["topk"]
    assert fm.norm() == pytest.approx(r.frobenius_norm, rel=1e-6)
    np.testing.assert_allclose(fm.svd()[1][:8], r.singular_values, rtol=1e-5)
    c = model.compile("ov", head="L1H0")
    assert c.matrix.shape == tuple(c.shape) and c.matrix.norm() == pytest.approx(c.norm, rel=1e-6)
