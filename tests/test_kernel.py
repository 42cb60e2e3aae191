"""The low-rank kernel against dense linear algebra and scipy's multivariate normal."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from neurath.engine import _kernel, gls_solve, random_evidence
from neurath.engine._kernel import FactorCovariance

from .conftest import dense_sigma, observed


@pytest.mark.parametrize(
    ("n", "k", "s", "seed"),
    [
        (2000, 50, 5, 1),
        (2000, 50, 50, 2),
        (1200, 30, 3, 3),
        (500, 1, 1, 4),
        (300, 0, 0, 5),
        (40, 50, 7, 6),  # more factors than findings
    ],
)
def test_llr_matches_dense_scipy_reference(n: int, k: int, s: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ev = observed(random_evidence(n, k, s, rng), rng, scale=3.0)
    sigma = dense_sigma(ev)
    ref_n = multivariate_normal.logpdf(ev.value, ev.mu_not_scheming, sigma)
    ref_s = multivariate_normal.logpdf(ev.value, ev.mu_scheming, sigma)
    cov = ev.covariance()
    sol = gls_solve(cov, ev.delta, ev.residual)
    assert sol.llr == pytest.approx(ref_n - ref_s, rel=1e-8)
    # Each log-density on its own exercises the determinant lemma too.
    assert cov.logpdf(ev.value - ev.mu_not_scheming) == pytest.approx(ref_n, rel=1e-8)
    assert cov.logpdf(ev.value - ev.mu_scheming) == pytest.approx(ref_s, rel=1e-8)


def test_solve_and_diagonals_match_dense_inverse(rng: np.random.Generator) -> None:
    ev = random_evidence(150, 12, 4, rng)
    cov = ev.covariance()
    sigma = dense_sigma(ev)
    precision = np.linalg.inv(sigma)
    x = rng.normal(size=(ev.n, 3))
    np.testing.assert_allclose(cov.solve(x), precision @ x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cov.diag(), np.diag(sigma), rtol=1e-12)
    rows = np.array([0, 7, 149])
    # Per-row triangular solves (no inverse cached) and the full pass must both be exact.
    np.testing.assert_allclose(cov.precision_diag(rows), np.diag(precision)[rows], rtol=1e-9)
    np.testing.assert_allclose(cov.precision_diag(), np.diag(precision), rtol=1e-9)
    cap = np.eye(ev.k) + cov.b.T.toarray() @ np.diag(1.0 / ev.variance) @ cov.b.toarray()
    cinv = np.linalg.inv(cap)
    np.testing.assert_allclose(cov.capacitance_inverse(), cinv, rtol=1e-9, atol=1e-14)
    fresh = ev.covariance()
    np.testing.assert_allclose(
        fresh.capacitance_inverse_diag(np.array([1, 5])), np.diag(cinv)[[1, 5]], rtol=1e-9
    )


def test_with_scales_reuses_gram_and_matches_fresh_build(rng: np.random.Generator) -> None:
    ev = observed(random_evidence(200, 8, 3, rng), rng)
    cov = ev.covariance()
    other = rng.uniform(0.0, 2.0, ev.k)
    rescaled = cov.with_scales(other)
    fresh = FactorCovariance(ev.variance, ev.unscaled_loadings(), other)
    assert rescaled.logdet() == pytest.approx(fresh.logdet(), rel=1e-12)
    assert rescaled.logdet() == pytest.approx(np.linalg.slogdet(dense_sigma(ev, other))[1])
    x = rng.normal(size=ev.n)
    np.testing.assert_allclose(rescaled.solve(x), fresh.solve(x), rtol=1e-10)


def test_pair_chunking_gives_the_same_result(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ev = observed(random_evidence(300, 10, 4, rng), rng)
    whole = ev.covariance()
    expected = whole.precision_diag()
    # Force many small chunks through both pair-accumulating routines.
    monkeypatch.setattr(_kernel, "_PAIR_CHUNK", 17)
    chunked = ev.covariance()
    assert chunked.logdet() == pytest.approx(whole.logdet(), rel=1e-12)
    np.testing.assert_allclose(chunked.precision_diag(), expected, rtol=1e-10)


def test_large_n_never_forms_an_n_by_n_matrix(rng: np.random.Generator) -> None:
    # A dense Sigma for 200,000 findings would need 320 GB; the kernel must stay far below.
    ev = observed(random_evidence(200_000, 20, 3, rng), rng)
    tracemalloc.start()
    try:
        sol = gls_solve(ev.covariance(), ev.delta, ev.residual)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 400 * 2**20
    assert np.isfinite(sol.llr)
    # With every factor switched off the correlated LLR is exactly the independent one.
    off = ev.covariance(np.zeros(ev.k))
    naive = float(np.sum(ev.delta * ev.residual / ev.variance))
    assert gls_solve(off, ev.delta, ev.residual).llr == pytest.approx(naive, rel=1e-10)
