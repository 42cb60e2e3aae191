"""Leave-one-out contributions of findings and factors: all of them, or the largest ``top``.

Finding i left out (Schur complement of the precision ``P = Sigma^-1``):
``LLR_-i = LLR - u_i v_i / P_ii``. Factor j left out (Sherman-Morrison on ``Sigma - b_j b_j^T``,
using ``B^T P B = I - C^-1``): ``LLR_-j = LLR + (B^T u)_j (B^T v)_j / (C^-1)_jj``.

*All* of them need every ``P_ii``: the whole inverse of the k x k capacitance matrix ``C``
(``dpotri``, twice the work of its Cholesky factorisation) and a pass over every finding's
block of it. The largest ``top`` are found exactly for less, from upper bounds on
``|u_i v_i / P_ii|``, in two steps:

1. ``P_ii >= 1 / Sigma_ii`` (true of any positive definite matrix), so the change is at most
   ``|u_i v_i| Sigma_ii``: free, but loose when the shared factors carry much of a finding's
   variance. The ``4 top`` (at least 256) findings that lead by an estimate,
   ``|u_i v_i| (d_i + sum_j B_ij^2 / C_jj)`` (what leaving one out would change if the factors'
   estimates were independent), are computed exactly, by a triangular solve each; if the
   ``top``-th largest of them beats the bound of every other finding, that is the answer.
2. Otherwise ``diag(C^-1)`` is computed exactly, from the inverse of the Cholesky factor
   (``dtrtri``, half of ``dpotri``), which bounds each finding's quadratic form,
   ``w_i^T C^-1 w_i <= (sum_j |w_ij| sqrt((C^-1)_jj))^2`` (Cauchy-Schwarz on the positive
   semi-definite ``C^-1``), and so ``P_ii`` from below, tightly when the factors are well
   determined. Findings are computed exactly (O(s k) each with the inverse factor) in order
   of that bound until the ``top``-th largest computed change beats every bound left.

Either way the findings reported, and their order, are those the full computation gives (up
to rounding); past a budget it is cheaper to compute them all, and that is done instead.
Factors are bounded alike by ``(C^-1)_jj >= 1 / C_jj``, or computed exactly once step 2 has
``diag(C^-1)``. Bounds are loosened by one part in a million against rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from neurath.engine._kernel import FactorCovariance, FloatArray, GLSSolution, IntArray

RELIABLE_PRECISION = 1e-8
"""Below this ``P_ii d_i`` the leave-one-out figure of finding i has fewer than 8 digits."""

_SLACK = 1.0 + 1e-6
_BATCH = 1024  # a batch solves against a dense (k, batch) block: 80 MiB at k = 10^4
_FIRST = 256


class LeaveOneOut(NamedTuple):
    """Changes in the Gaussian LLR when one finding or one factor is left out."""

    rows: IntArray
    """Findings computed (ascending), reliable ones only."""
    finding_change: FloatArray
    """``LLR - LLR_-i`` for each of ``rows``."""
    cols: IntArray
    """Factors computed (ascending)."""
    factor_change: FloatArray
    """``LLR_-j - LLR`` for each of ``cols`` (what modelling factor j changes)."""
    unreliable: IntArray
    """Findings whose figure is omitted: ``P_ii = 1/d_i - (a quadratic form)`` cancels
    catastrophically when the factors explain almost all of a finding's variance."""


def leave_one_out(cov: FactorCovariance, sol: GLSSolution, top: int | None) -> LeaveOneOut:
    """Every finding's and factor's leave-one-out change (``top=None``), or at least those of
    the ``top`` largest of each, exactly (see the module)."""
    n, k = cov.n, cov.k
    uv = sol.u * sol.v
    ab = (cov.b.T @ sol.u) * (cov.b.T @ sol.v)
    found = _top_findings(cov, uv, top) if top is not None and top < n else None
    if found is None:
        p_diag = cov.precision_diag()
        rows = np.flatnonzero(p_diag * cov.d > RELIABLE_PRECISION)
        found = rows, uv[rows] / p_diag[rows], np.setdiff1d(np.arange(n), rows)
    factors = None
    if top is not None and top < k and not cov.inverse_at_hand():
        upper = np.abs(ab) * cov.capacitance_diag * _SLACK  # (C^-1)_jj >= 1 / C_jj

        def exact(cols: IntArray) -> FloatArray:
            return np.asarray(ab[cols] / cov.capacitance_inverse_diag(cols), dtype=np.float64)

        factors = _threshold_top(upper, exact, top, _known(exact, np.zeros(0, np.int64)), k // 2)
    if factors is None:
        factors = np.arange(k), ab / cov.capacitance_inverse_diag()
    return LeaveOneOut(found[0], found[1], factors[0], factors[1], found[2])


def _top_findings(
    cov: FactorCovariance, uv: FloatArray, top: int
) -> tuple[IntArray, FloatArray, IntArray] | None:
    """Reliable rows and their LLR changes, enough to rank the ``top`` largest, and the
    unreliable rows; ``None`` when computing them all is cheaper."""
    b2 = cov.b.multiply(cov.b).tocsr()
    d = cov.d
    sigma = d + np.asarray(b2.sum(axis=1), dtype=np.float64).ravel()  # diag(Sigma)

    def exact(rows: IntArray) -> FloatArray:
        out = np.empty(len(rows))
        for at in range(0, len(rows), _BATCH):
            part = rows[at : at + _BATCH]
            p = cov.precision_diag(part)
            with np.errstate(divide="ignore", invalid="ignore"):  # unreliable ones: NaN below
                change = uv[part] / p
            out[at : at + _BATCH] = np.where(p * d[part] > RELIABLE_PRECISION, change, np.nan)
        return out

    # Step 1. P_ii d_i >= d_i / Sigma_ii: only where that is small can a finding's figure be
    # unreliable; those are always computed, so the list of omitted ones is exact.
    estimate = np.abs(uv) * (d + b2 @ (1.0 / cov.capacitance_diag))
    unsure = np.flatnonzero(d / sigma <= RELIABLE_PRECISION * _SLACK)
    leading = np.argsort(-estimate, kind="stable")[: max(4 * top, _FIRST)]
    first = np.union1d(unsure, leading)
    if len(first) > cov.k // 2:
        return None
    known = _known(exact, first)
    found = _threshold_top(np.abs(uv) * sigma * _SLACK, exact, top, known, 0)
    if found is None:
        # Step 2: bound each finding's quadratic form by diag(C^-1), now exact.
        root_c = np.sqrt(cov.capacitance_inverse_diag())
        quad_bound = (abs(cov.weighted_loadings) @ root_c) ** 2
        p_low = np.maximum(1.0 / sigma, 1.0 / d - quad_bound)
        found = _threshold_top(np.abs(uv) / p_low * _SLACK, exact, top, known, cov.k // 4)
    if found is None:
        return None
    rows, change = found
    ok = ~np.isnan(change)
    return rows[ok], change[ok], rows[~ok]


def _known(exact: Callable[[IntArray], FloatArray], idx: IntArray) -> tuple[IntArray, FloatArray]:
    return idx, exact(idx) if len(idx) else np.zeros(0)


def _threshold_top(
    upper: FloatArray,
    exact: Callable[[IntArray], FloatArray],
    top: int,
    known: tuple[IntArray, FloatArray],
    budget: int,
) -> tuple[IntArray, FloatArray] | None:
    """Indices (ascending) and exact values, NaN where unusable, that contain the ``top``
    largest ``|exact|`` of all, given ``|exact| <= upper`` and some values ``known`` already;
    computing others in order of ``upper``. ``None`` when more than ``budget`` others would be
    needed.
    """
    idx, val = known
    done = np.zeros(len(upper), dtype=bool)
    done[idx] = True
    order = np.argsort(-upper, kind="stable")
    order = order[~done[order]]
    pos, batch = 0, 64
    while True:
        sizes = np.abs(val[~np.isnan(val)])
        bound = upper[order[pos]] if pos < len(order) else -np.inf
        if len(sizes) >= top and np.partition(sizes, len(sizes) - top)[-top] > bound:
            break
        if pos >= len(order):
            break
        take = order[pos : pos + batch]
        if pos + len(take) > budget:
            return None
        idx, val = np.concatenate([idx, take]), np.concatenate([val, exact(take)])
        pos, batch = pos + len(take), min(2 * batch, _BATCH)
    ordered = np.argsort(idx, kind="stable")
    return idx[ordered], val[ordered]
