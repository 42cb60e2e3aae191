"""Worlds drawn from the factor model itself, with known truth: the engine scored on its own terms.

If the engine is right, its P(N) is the exact Bayes posterior for these worlds, so it must be
calibrated on them; an aggregator that ignores the factors must not be.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from neurath.engine._arrays import EvidenceArrays


class SimulatedWorlds(NamedTuple):
    """Findings' values in many simulated worlds, and the truth of each world."""

    values: NDArray[np.float64]
    """Observed statistics, shape (n_findings, n_worlds)."""
    scheming: NDArray[np.bool_]
    """Ground truth per world."""
    defeated: NDArray[np.bool_]
    """Scheming worlds where the common cause made all evidence look non-scheming."""


def simulate_worlds(
    ev: EvidenceArrays,
    *,
    prior: float,
    common_cause: float,
    n_worlds: int,
    rng: np.random.Generator,
) -> SimulatedWorlds:
    """Draw worlds: truth from the prior, factor shifts and sampling noise from ``Sigma``.

    In a scheming world, with probability ``common_cause`` the target defeats every line of
    evidence: the findings are then drawn around the non-scheming expectations.
    """
    scheming = rng.random(n_worlds) >= prior
    defeated = scheming & (rng.random(n_worlds) < common_cause)
    looks_scheming = scheming & ~defeated
    mean = np.where(looks_scheming[None, :], ev.mu_scheming[:, None], ev.mu_not_scheming[:, None])
    cov = ev.covariance()
    noise = np.sqrt(ev.variance)[:, None] * rng.standard_normal((ev.n, n_worlds))
    if ev.k:
        noise += cov.b @ rng.standard_normal((ev.k, n_worlds))
    return SimulatedWorlds(mean + noise, scheming, defeated)


def random_evidence(
    n: int,
    k: int,
    factors_per_finding: int,
    rng: np.random.Generator,
    *,
    sd_range: tuple[float, float] = (0.1, 1.0),
    se_range: tuple[float, float] = (0.2, 1.0),
) -> EvidenceArrays:
    """A random evidence structure: n findings, each loading on a few of k factors.

    Separations are drawn in [0.5, 2] with random sign, standard errors as a multiple of the
    separation in ``se_range``, loadings in [0.5, 1.5]; values are set to the midpoint
    (callers fill them, e.g. with :func:`simulate_worlds`).
    """
    s = min(factors_per_finding, k)
    mu_s = rng.normal(0.0, 1.0, n)
    delta = rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n)
    se = np.abs(delta) * rng.uniform(*se_range, n)
    if s:
        # s distinct factors per finding: argpartition of random keys, memory O(n * s) per block.
        cols = np.empty((n, s), dtype=np.int64)
        block = max(1, 2_000_000 // max(k, 1))
        for start in range(0, n, block):
            stop = min(n, start + block)
            if k <= 64:
                keys = rng.random((stop - start, k))
                cols[start:stop] = np.argpartition(keys, s - 1, axis=1)[:, :s]
            else:
                cols[start:stop] = _distinct_sample(rng, stop - start, k, s)
        rows = np.repeat(np.arange(n), s)
        cols_flat = cols.ravel()
    else:
        rows = cols_flat = np.zeros(0, dtype=np.int64)
    sd = rng.uniform(*sd_range, k)
    return EvidenceArrays(
        finding_ids=tuple(f"f{i}" for i in range(n)),
        factor_ids=tuple(f"k{j}" for j in range(k)),
        value=mu_s + delta / 2.0,
        variance=se**2,
        mu_not_scheming=mu_s + delta,
        mu_scheming=mu_s,
        load_rows=rows,
        load_cols=cols_flat,
        loading=rng.uniform(0.5, 1.5, len(rows)),
        sd_lo=sd,
        sd_hi=sd.copy(),
    )


def _distinct_sample(rng: np.random.Generator, m: int, k: int, s: int) -> NDArray[np.int64]:
    """m rows of s distinct integers in [0, k), for k much larger than s (rejection)."""
    out = rng.integers(0, k, size=(m, s))
    while True:
        srt = np.sort(out, axis=1)
        dup = np.any(srt[:, 1:] == srt[:, :-1], axis=1)
        if not dup.any():
            return out
        out[dup] = rng.integers(0, k, size=(int(dup.sum()), s))
