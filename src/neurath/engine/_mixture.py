"""The version 2 likelihood: each hypothesis a mixture of mechanism components.

Version 1 gives each hypothesis one Gaussian, so a detector that sees one kind of schemer and
is blind to the others has its scheming mean averaged over kinds, and is outvoted. Here each
kind is a component with its own expectations and spreads (DESIGN.md section 3, version 2):

    p(y | N) = sum_u rho_u phi_u(y)
    p(y | S) = c0 p(y | N) + (1 - c0) sum_t pi_t phi_t(y)

Every ``phi`` shares the factor part of the covariance, ``B B^T`` with ``B_ij = loading_ij *
sd_j * scale_i``, and has its own independent part ``D_t = se^2 + spread_t^2``, so each is one
:class:`~neurath.engine.FactorCovariance` (Woodbury, never an n x n matrix). With ``df`` set,
each ``phi`` is a multivariate Student t with that covariance (a Gaussian scale mixture): as a
single value runs away, the quadratic forms of all components grow together and the log ratio
stays bounded, so one outlier cannot decide. ``df = None`` is the Gaussian.

The common cause ``c0`` enters exactly as in version 1 (:func:`log_lr_common_cause`), with the
log ratio of the N mixture to the S components' mixture in place of the Gaussian one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.special import gammaln, logsumexp

from neurath.engine._kernel import FactorCovariance, FloatArray, IntArray

BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class MixtureArrays:
    """The numbers of a version 2 manifest: one row per component, one column per finding."""

    finding_ids: tuple[str, ...]
    factor_ids: tuple[str, ...]
    component_ids: tuple[str, ...]
    value: FloatArray
    """Observed statistic y, shape (n,)."""
    se2: FloatArray
    """Sampling variance, shape (n,)."""
    scheming: BoolArray
    """Whether each component belongs to S, shape (m,)."""
    weight: FloatArray
    """Mixture weight of each component within its hypothesis (each hypothesis sums to 1)."""
    mean: FloatArray
    """Expected statistic under each component, shape (m, n)."""
    spread2: FloatArray
    """Variance between organisms of one component beyond sampling error, shape (m, n)."""
    scale: FloatArray
    """Each finding's unit for factor scales, shape (n,): a factor with sd 1 and loading 1
    shifts the finding by this much (in version 1, the separation ``|Delta|``)."""
    load_rows: IntArray
    load_cols: IntArray
    loading: FloatArray
    sd: FloatArray
    """Factor scales, shape (k,)."""
    df: float | None = None
    """Degrees of freedom of the Student t components; ``None``: Gaussian."""
    measure: IntArray | None = None
    """Each finding's measure, shape (n,): findings with the same index ``>= 0`` share each
    component's spread (a factor of that component, loading ``sqrt(spread2)``); ``-1`` or
    ``None``: independent spread."""

    @property
    def n(self) -> int:
        return len(self.value)

    @property
    def k(self) -> int:
        return len(self.sd)

    def loadings(self) -> sp.csr_matrix:
        """``A_ij = loading_ij * scale_i``: B without the factor scales."""
        vals = self.loading * self.scale[self.load_rows]
        return sp.csr_matrix((vals, (self.load_rows, self.load_cols)), shape=(self.n, self.k))


@dataclass(frozen=True)
class ComponentFit:
    """One component's density at y, and what leaving each finding out does to it."""

    logpdf: float
    quad: float
    """``r^T Sigma^-1 r`` with ``r = y - mean``."""
    logdet: float
    w: FloatArray
    """``Sigma^-1 r``."""
    precision_diag: FloatArray
    """``diag(Sigma^-1)``."""


@dataclass(frozen=True)
class MixtureLikelihood:
    """The mixture's log densities and ratios at the observed y."""

    component_ids: tuple[str, ...]
    component_logpdf: FloatArray
    """log phi of each component, shape (m,)."""
    log_p_not_scheming: float
    """log p(y | N)."""
    log_p_schemer_types: float
    """log sum_t pi_t phi_t(y): the scheming components, before the common cause."""
    llr: float
    """``log p(y | N) - log sum_t pi_t phi_t(y)``, before the common cause."""
    llr_worst: float
    """The same with the scheming weights chosen against N: the single most likely scheming
    component (the mixture is linear in pi, so the worst case is a vertex)."""
    responsibilities: FloatArray
    """Posterior share of each component within its own hypothesis, shape (m,)."""


def density(quad: FloatArray, logdet: FloatArray, n: int, df: float | None) -> FloatArray:
    """log phi of n-dimensional components from ``quad = r^T Sigma^-1 r`` and ``log det
    Sigma``: a Gaussian, or (``df`` given, > 2) a multivariate Student t with covariance Sigma
    (its scale matrix is ``Sigma (df - 2) / df``)."""
    quad, logdet = np.asarray(quad, dtype=np.float64), np.asarray(logdet, dtype=np.float64)
    if df is None:
        return np.asarray(-0.5 * (n * math.log(2.0 * math.pi) + logdet + quad), dtype=np.float64)
    s = (df - 2.0) / df
    out = (
        gammaln(0.5 * (df + n))
        - gammaln(0.5 * df)
        - 0.5 * n * math.log(df * math.pi)
        - 0.5 * (logdet + n * math.log(s))
        - 0.5 * (df + n) * np.log1p(quad / (s * df))
    )
    return np.asarray(out, dtype=np.float64)


Repeats = tuple[IntArray, IntArray, int] | None


def _repeats(arrays: MixtureArrays) -> Repeats:
    """The findings that repeat a measure, with each one's column among the repeated
    measures, and how many measures repeat; None if none does."""
    if arrays.measure is None:
        return None
    groups, counts = np.unique(arrays.measure[arrays.measure >= 0], return_counts=True)
    repeated = groups[counts > 1]
    if not len(repeated):
        return None
    rows = np.flatnonzero(np.isin(arrays.measure, repeated))
    return rows, np.searchsorted(repeated, arrays.measure[rows]), len(repeated)


def component_covariance(
    arrays: MixtureArrays, t: int, a: sp.csr_matrix, repeats: Repeats
) -> FactorCovariance:
    """Component ``t``'s covariance: sampling error and its spread on the diagonal, the shared
    factors (``a``: :meth:`MixtureArrays.loadings`) and, for findings that repeat a measure
    (``repeats``: :func:`_repeats`, the same for every component), the component's spread as
    a factor of that measure (loading ``sqrt(spread2)``, scale 1) instead of on the
    diagonal."""
    if repeats is None:
        return FactorCovariance(arrays.se2 + arrays.spread2[t], a, arrays.sd)
    rows, cols, g = repeats
    d = arrays.se2 + arrays.spread2[t]
    d[rows] = arrays.se2[rows]
    spread = sp.csr_matrix((np.sqrt(arrays.spread2[t, rows]), (rows, cols)), shape=(arrays.n, g))
    sd = np.concatenate([arrays.sd, np.ones(g)])
    return FactorCovariance(d, sp.hstack([a, spread], format="csr"), sd)


def fit_components(arrays: MixtureArrays, *, leave_out: bool = False) -> list[ComponentFit]:
    """Each component's covariance factorised and evaluated at y (one Woodbury each);
    ``leave_out`` also computes ``diag(Sigma^-1)`` for :func:`leave_one_out_llr`."""
    a, repeats = arrays.loadings(), _repeats(arrays)
    out = []
    for t in range(len(arrays.component_ids)):
        cov = component_covariance(arrays, t, a, repeats)
        r = arrays.value - arrays.mean[t]
        w = cov.solve(r)
        quad = float(r @ w)
        logdet = cov.logdet()
        out.append(
            ComponentFit(
                logpdf=float(density(np.asarray(quad), np.asarray(logdet), arrays.n, arrays.df)),
                quad=quad,
                logdet=logdet,
                w=w,
                precision_diag=cov.precision_diag() if leave_out else np.zeros(0),
            )
        )
    return out


def _combine(
    arrays: MixtureArrays, logpdf: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """log p(y|N), log sum_t pi_t phi_t, the most likely scheming component's log phi, and
    the responsibilities, for components' log densities of shape (m, r)."""
    s = arrays.scheming
    joint = np.log(arrays.weight)[:, None] + logpdf
    log_n = logsumexp(joint[~s], axis=0)
    log_s = logsumexp(joint[s], axis=0)
    resp = np.empty_like(joint)
    resp[~s] = np.exp(joint[~s] - log_n)
    resp[s] = np.exp(joint[s] - log_s)
    return log_n, log_s, np.max(logpdf[s], axis=0), resp


def mixture_likelihood(arrays: MixtureArrays) -> MixtureLikelihood:
    """The mixture log-likelihood ratio N:S (before the common cause) at the observed y."""
    logpdf = np.array([f.logpdf for f in fit_components(arrays)])
    log_n, log_s, worst, resp = _combine(arrays, logpdf[:, None])
    return MixtureLikelihood(
        component_ids=arrays.component_ids,
        component_logpdf=logpdf,
        log_p_not_scheming=float(log_n[0]),
        log_p_schemer_types=float(log_s[0]),
        llr=float(log_n[0] - log_s[0]),
        llr_worst=float(log_n[0] - worst[0]),
        responsibilities=resp[:, 0],
    )


def leave_one_out_llr(arrays: MixtureArrays) -> tuple[FloatArray, FloatArray]:
    """The mixture's ``llr`` and ``llr_worst`` with each finding left out in turn, shape (n,).

    Exact, from one factorisation per component: with ``P = Sigma^-1`` and ``w = P r``, leaving
    finding i out gives ``quad_-i = quad - w_i^2 / P_ii`` and ``log det Sigma_-i = log det Sigma
    + log P_ii`` (the Schur complement and the determinant of a bordered matrix).
    """
    fits = fit_components(arrays, leave_out=True)
    quad = np.array([f.quad - f.w**2 / f.precision_diag for f in fits])
    logdet = np.array([f.logdet + np.log(f.precision_diag) for f in fits])
    log_n, log_s, worst, _ = _combine(arrays, density(quad, logdet, arrays.n - 1, arrays.df))
    return log_n - log_s, log_n - worst


def separability(arrays: MixtureArrays) -> FloatArray:
    """For each component, the Gaussian Kullback-Leibler divergence from it to the nearest
    component of the other hypothesis, shape (m,): the log ratio a target of that kind is
    expected to give against its nearest rival, whatever it turns out to show. Near 0, the
    evidence cannot tell the kind from the other hypothesis (it was not tested).

    The components share the factor part but for each one's spread on repeated measures
    (columns ``S_t``), so ``tr(Sigma_u^-1 Sigma_t) = n + sum_i P_u,ii (d_t,i - d_u,i) +
    tr(S_t^T P_u S_t) - tr(S_u^T P_u S_u)`` and ``KL(t || u) = (tr(Sigma_u^-1 Sigma_t) - n +
    dmu^T P_u dmu + log det Sigma_u - log det Sigma_t) / 2``, from one factorisation of each
    component.
    """
    a, repeats = arrays.loadings(), _repeats(arrays)
    m = len(arrays.component_ids)
    covs = [component_covariance(arrays, t, a, repeats) for t in range(m)]
    logdet = [c.logdet() for c in covs]
    pdiag = [c.precision_diag() for c in covs]
    # The columns each component adds to the shared factors (its spread on repeated measures).
    own = [c.b[:, arrays.k :].toarray() for c in covs]
    out = np.full(m, np.inf)
    for t in range(m):
        for u in range(m):
            if arrays.scheming[t] == arrays.scheming[u]:
                continue
            dmu = arrays.mean[t] - arrays.mean[u]
            trace = float(pdiag[u] @ (covs[t].d - covs[u].d))
            trace += float(np.sum(own[t] * covs[u].solve(own[t]))) if own[t].size else 0.0
            trace -= float(np.sum(own[u] * covs[u].solve(own[u]))) if own[u].size else 0.0
            kl = 0.5 * (trace + float(dmu @ covs[u].solve(dmu)) + logdet[u] - logdet[t])
            out[t] = min(out[t], kl)
    return out
