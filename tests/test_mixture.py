"""The version 2 likelihood (engine/_mixture.py) against dense computations with scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from neurath.engine import EvidenceArrays, gls_solve
from neurath.engine._mixture import MixtureArrays, leave_one_out_llr, mixture_likelihood

REPEATS = np.array([0, 0, 1, -1, 1, 2, 0, 3, 3, 4])
"""Measures of up to 10 findings: three repeated (0 three times, 1 and 3 twice), two alone."""


def _random(
    seed: int,
    n: int = 7,
    k: int = 3,
    m: int = 5,
    df: float | None = None,
    repeats: bool = False,
) -> MixtureArrays:
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for i in range(n):
        for j in rng.choice(k, size=rng.integers(0, 3), replace=False):
            rows.append(i)
            cols.append(int(j))
    scheming = np.array([False, False] + [True] * (m - 2))
    weight = rng.uniform(0.2, 1.0, m)
    weight[~scheming] /= weight[~scheming].sum()
    weight[scheming] /= weight[scheming].sum()
    return MixtureArrays(
        finding_ids=tuple(f"f{i}" for i in range(n)),
        factor_ids=tuple(f"k{j}" for j in range(k)),
        component_ids=tuple(f"c{t}" for t in range(m)),
        value=rng.normal(0, 1, n),
        se2=rng.uniform(0.05, 0.5, n),
        scheming=scheming,
        weight=weight,
        mean=rng.normal(0, 1, (m, n)),
        spread2=rng.uniform(0.0, 0.3, (m, n)),
        scale=rng.uniform(0.3, 2.0, n),
        load_rows=np.array(rows, dtype=np.int64),
        load_cols=np.array(cols, dtype=np.int64),
        loading=rng.uniform(0.2, 1.5, len(rows)),
        sd=rng.uniform(0.1, 1.0, k),
        df=df,
        measure=REPEATS[:n].copy() if repeats else None,
    )


def _dense_sigma(x: MixtureArrays, t: int) -> np.ndarray:
    """Component t's covariance written out: the shared factors, sampling error, and its
    spread, shared between findings of one measure."""
    b = x.loadings().toarray() * x.sd[None, :]
    spread = np.sqrt(x.spread2[t])
    if x.measure is None:
        same = np.eye(x.n, dtype=bool)
    else:
        same = (x.measure[:, None] == x.measure[None, :]) & (x.measure[:, None] >= 0)
        same |= np.eye(x.n, dtype=bool)
    return np.diag(x.se2) + b @ b.T + np.outer(spread, spread) * same


def _dense_logpdf(x: MixtureArrays, keep: np.ndarray | None = None) -> np.ndarray:
    keep = np.arange(x.n) if keep is None else keep
    out = []
    for t in range(len(x.component_ids)):
        sigma = _dense_sigma(x, t)[np.ix_(keep, keep)]
        if x.df is None:
            out.append(stats.multivariate_normal(x.mean[t][keep], sigma).logpdf(x.value[keep]))
        else:
            shape = sigma * (x.df - 2) / x.df
            out.append(stats.multivariate_t(x.mean[t][keep], shape, df=x.df).logpdf(x.value[keep]))
    return np.array(out)


def _dense_llr(x: MixtureArrays, keep: np.ndarray | None = None) -> tuple[float, float]:
    lp = _dense_logpdf(x, keep)
    lw = np.log(x.weight) + lp
    log_n = logsumexp(lw[~x.scheming])
    return float(log_n - logsumexp(lw[x.scheming])), float(log_n - lp[x.scheming].max())


@pytest.mark.parametrize("repeats", [False, True])
@pytest.mark.parametrize("df", [None, 3.0, 7.5])
@pytest.mark.parametrize("seed", range(6))
def test_the_mixture_matches_a_dense_computation(
    seed: int, df: float | None, repeats: bool
) -> None:
    x = _random(seed, df=df, repeats=repeats)
    lik = mixture_likelihood(x)
    np.testing.assert_allclose(lik.component_logpdf, _dense_logpdf(x), rtol=0, atol=1e-8)
    llr, worst = _dense_llr(x)
    assert lik.llr == pytest.approx(llr, abs=1e-8)
    assert lik.llr_worst == pytest.approx(worst, abs=1e-8)
    assert lik.llr_worst <= lik.llr + 1e-12  # the worst case is never kinder than uniform
    for hyp in (True, False):
        assert lik.responsibilities[x.scheming == hyp].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("repeats", [False, True])
@pytest.mark.parametrize("df", [None, 4.0])
def test_leaving_one_finding_out_matches_a_dense_recomputation(
    df: float | None, repeats: bool
) -> None:
    x = _random(11, n=6, df=df, repeats=repeats)
    llr, worst = leave_one_out_llr(x)
    for i in range(x.n):
        keep = np.delete(np.arange(x.n), i)
        dense = _dense_llr(x, keep)
        assert llr[i] == pytest.approx(dense[0], abs=1e-8)
        assert worst[i] == pytest.approx(dense[1], abs=1e-8)


def test_two_components_with_one_spread_are_the_version_1_ratio() -> None:
    """One component per hypothesis, sharing D, and scale |Delta|: exactly v1's Gaussian LLR."""
    rng = np.random.default_rng(3)
    n, k = 8, 2
    ev = EvidenceArrays(
        finding_ids=tuple(f"f{i}" for i in range(n)),
        factor_ids=("a", "b"),
        value=rng.normal(0, 1, n),
        variance=rng.uniform(0.1, 0.4, n),
        mu_not_scheming=rng.normal(1, 0.3, n),
        mu_scheming=rng.normal(-1, 0.3, n),
        load_rows=np.arange(n, dtype=np.int64),
        load_cols=np.arange(n, dtype=np.int64) % k,
        loading=np.ones(n),
        sd_lo=np.array([0.4, 0.7]),
        sd_hi=np.array([0.4, 0.7]),
    )
    x = MixtureArrays(
        finding_ids=ev.finding_ids,
        factor_ids=ev.factor_ids,
        component_ids=("n", "s"),
        value=ev.value,
        se2=ev.variance,
        scheming=np.array([False, True]),
        weight=np.ones(2),
        mean=np.vstack([ev.mu_not_scheming, ev.mu_scheming]),
        spread2=np.zeros((2, n)),
        scale=np.abs(ev.delta),
        load_rows=ev.load_rows,
        load_cols=ev.load_cols,
        loading=ev.loading,
        sd=ev.sd_point,
    )
    v1 = gls_solve(ev.covariance(), ev.delta, ev.residual).llr
    assert mixture_likelihood(x).llr == pytest.approx(v1, rel=1e-10, abs=1e-10)


def test_heavy_tails_keep_one_runaway_finding_from_deciding() -> None:
    """Gaussian components: the log ratio grows without bound as one value runs away; Student
    t components: it levels off."""
    gauss, heavy = _random(5, df=None), _random(5, df=4.0)

    def llr_at(x: MixtureArrays, v: float) -> float:
        value = x.value.copy()
        value[0] = v
        return mixture_likelihood(_with(x, value=value)).llr

    g = [abs(llr_at(gauss, v)) for v in (1e2, 1e3, 1e4)]
    t = [abs(llr_at(heavy, v)) for v in (1e2, 1e3, 1e4)]
    assert g[2] > 50 * g[0]  # the Gaussian ratio keeps growing with the outlier
    assert t[2] < 2 * t[0] + 1.0  # the t ratio has levelled off
    assert max(t) < 0.05 * g[2]


def _with(x: MixtureArrays, **changes: object) -> MixtureArrays:
    from dataclasses import replace

    return replace(x, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("repeats", [False, True])
def test_separability_is_the_gaussian_kl_to_the_nearest_rival(repeats: bool) -> None:
    from neurath.engine._mixture import separability

    x = _random(4, n=8, repeats=repeats)
    sig = [_dense_sigma(x, t) for t in range(len(x.component_ids))]

    def kl(t: int, u: int) -> float:
        inv = np.linalg.inv(sig[u])
        d = x.mean[t] - x.mean[u]
        _, ld_u = np.linalg.slogdet(sig[u])
        _, ld_t = np.linalg.slogdet(sig[t])
        return 0.5 * (np.trace(inv @ sig[t]) - x.n + d @ inv @ d + ld_u - ld_t)

    got = separability(x)
    for t in range(len(x.component_ids)):
        rivals = [u for u in range(len(x.component_ids)) if x.scheming[u] != x.scheming[t]]
        assert got[t] == pytest.approx(min(kl(t, u) for u in rivals), abs=1e-9)


def _one_measure(value: np.ndarray, se2: float, shared: bool) -> MixtureArrays:
    """Findings that all repeat one measure, under a narrow and a wide component."""
    n = len(value)
    return MixtureArrays(
        finding_ids=tuple(f"f{i}" for i in range(n)),
        factor_ids=(),
        component_ids=("narrow", "wide"),
        value=np.asarray(value, dtype=np.float64),
        se2=np.full(n, se2),
        scheming=np.array([False, True]),
        weight=np.ones(2),
        mean=np.vstack([np.full(n, 0.3), np.full(n, 0.0)]),
        spread2=np.vstack([np.full(n, 0.0025), np.full(n, 0.25)]),
        scale=np.ones(n),
        load_rows=np.zeros(0, dtype=np.int64),
        load_cols=np.zeros(0, dtype=np.int64),
        loading=np.zeros(0),
        sd=np.zeros(0),
        measure=np.zeros(n, dtype=np.int64) if shared else None,
    )


def test_repeats_of_a_measure_tell_what_their_mean_tells() -> None:
    """y_i = kind mean + the target's deviation (shared) + sampling error: the ratio between
    kinds depends on the repeats only through their mean, with sampling variance se2 / n. Read
    as independent, each repeat would count a kind's spread again."""
    rng = np.random.default_rng(8)
    for n in (2, 5, 12):
        value = rng.normal(0.1, 0.2, n)
        shared = mixture_likelihood(_one_measure(value, 0.04, shared=True)).llr
        mean = mixture_likelihood(_one_measure(np.array([value.mean()]), 0.04 / n, True)).llr
        assert shared == pytest.approx(mean, abs=1e-9)
        independent = mixture_likelihood(_one_measure(value, 0.04, shared=False)).llr
        assert abs(independent - shared) > 0.1
