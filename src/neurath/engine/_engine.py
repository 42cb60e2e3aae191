"""``assess``: a manifest in, a calibrated overall safety assessment out (DESIGN.md section 3)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import expit, logit

from neurath._errors import AssessmentError
from neurath.engine._arrays import EvidenceArrays, ManifestArrays
from neurath.engine._kernel import (
    FactorCovariance,
    FloatArray,
    GLSSolution,
    IntArray,
    gls_solve,
)
from neurath.engine._loo import leave_one_out
from neurath.evidence._assessment import Assessment
from neurath.evidence._model import Manifest, point_value
from neurath.evidence._model_v2 import ManifestV2

DEFAULT_DRAWS = 400

_MAX_BACKWARD_ERROR = 1e-6

ProgressCallback = Callable[[int, int], None]


def log_lr_common_cause(llr: FloatArray | float, c: FloatArray | float) -> FloatArray:
    """Log LR(N:S) under the common-cause mixture: ``-log(c + (1 - c) exp(-llr))``.

    With probability ``c`` a scheming target produces evidence distributed as a non-scheming
    one, so ``p(y | S) = c p(y | N) + (1 - c) p_S(y)`` and the ratio follows.
    """
    llr_a = np.asarray(llr, dtype=np.float64)
    c_a = np.asarray(c, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = -np.logaddexp(np.log(c_a), np.log1p(-c_a) - llr_a)
    return np.asarray(out, dtype=np.float64)


def posterior_not_scheming(prior: float, log_lr: FloatArray | float) -> FloatArray:
    """P(N | evidence) from P(N) and the log likelihood ratio N:S."""
    return np.asarray(expit(logit(prior) + np.asarray(log_lr)), dtype=np.float64)


def assurance_ceiling(prior: float, c: float) -> float:
    """The highest P(N) any evidence can give under common cause c: ``1/(1 + c prior_odds(S))``."""
    return 1.0 / (1.0 + c * (1.0 - prior) / prior)


def assess(
    manifest: Manifest | ManifestV2 | ManifestArrays,
    *,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    interval_level: float = 0.95,
    top: int | None = None,
    contributions: bool = True,
    progress: ProgressCallback | None = None,
) -> Assessment:
    """Assess a manifest: the correlated GLS likelihood ratio with the common-cause mixture.

    A version 2 manifest (mechanism components) is assessed by the mixture engine
    (:mod:`neurath.engine._engine_v2`); a version 1 manifest exactly as before, whether it was
    read per finding (:func:`neurath.load_manifest`) or in bulk
    (:func:`neurath.engine.load_manifest_arrays`).

    Args:
        manifest: The evidence.
        draws: Monte Carlo draws over the uncertain inputs (factor sd and c given as ranges);
            ignored when no input is uncertain.
        seed: Seed of those draws: the same seed gives the same interval.
        interval_level: Central coverage of the reported interval.
        top: Report only this many of the largest finding and factor contributions. Only
            those are computed (exactly), unless computing all is as cheap
            (:mod:`neurath.engine._loo`); ``None`` computes and reports all.
        contributions: ``False`` skips the leave-one-out analysis (version 1 only).
        progress: Called as ``progress(done, total)`` during the Monte Carlo.

    Returns:
        The assessment, with the naive result, interval, ceiling, n_eff, weights,
        contributions and warnings.
    """
    if isinstance(manifest, ManifestV2):
        from neurath.engine._engine_v2 import assess_mixture

        return assess_mixture(
            manifest,
            draws=draws,
            seed=seed,
            interval_level=interval_level,
            top=top,
            progress=progress,
        )
    header, ev, failed = _inputs(manifest)
    return assess_arrays(
        ev,
        target=header.target,
        prior=header.prior_not_scheming,
        common_cause=header.common_cause,
        draws=draws,
        seed=seed,
        interval_level=interval_level,
        top=top,
        contributions=contributions,
        progress=progress,
        error_findings=failed,
    )


def _inputs(manifest: Manifest | ManifestArrays) -> tuple[Manifest, EvidenceArrays, list[str]]:
    """Header, arrays and failed findings of a version 1 manifest, however it was read."""
    if isinstance(manifest, ManifestArrays):
        return manifest.header, manifest.arrays, manifest.failed_ids()
    failed = [f.id for f in manifest.findings if f.status == "error"]
    return manifest, EvidenceArrays.from_manifest(manifest), failed


def assess_arrays(
    ev: EvidenceArrays,
    *,
    target: str,
    prior: float,
    common_cause: float | tuple[float, float] = 0.0,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    interval_level: float = 0.95,
    top: int | None = None,
    contributions: bool = True,
    progress: ProgressCallback | None = None,
    error_findings: list[str] | None = None,
) -> Assessment:
    """:func:`assess` on evidence already compiled to arrays (for large or simulated inputs).

    ``contributions=False`` skips the leave-one-out analysis (the point estimate only), which
    saves the O(k^3) inversion of the factor matrix; so, mostly, does a ``top`` well below the
    number of findings (only the largest contributions are computed, exactly).
    """
    if not 0.0 < interval_level < 1.0:
        raise ValueError(f"interval_level must lie in (0, 1), got {interval_level}")
    if draws < 0:
        raise ValueError(f"draws must be >= 0, got {draws}")
    c = point_value(common_cause)
    delta, resid = ev.delta, ev.residual
    cov = ev.covariance()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        sol = gls_solve(cov, delta, resid)  # checked just below, with a message that says why
    _check_solution(cov, delta, resid, sol)
    log_lr = float(log_lr_common_cause(sol.llr, c))
    p = float(posterior_not_scheming(prior, log_lr))

    # The fair naive baseline: findings treated as independent, each with its full (marginal)
    # variance, shared factors included. Dropping the factors' variance as well (se^2 +
    # extra_sd^2 alone) would make a straw man of it: repeats whose spread was moved into a
    # factor would then count as near-exact.
    llr_naive = float(np.sum(delta * resid / cov.diag()))
    p_naive = float(posterior_not_scheming(prior, llr_naive))

    if ev.n:
        n_eff = sol.information / float(np.mean(delta**2 / cov.diag()))
        weights = delta * sol.u / sol.information
    else:
        n_eff, weights = 0.0, np.zeros(0)
    if not (math.isfinite(llr_naive) and math.isfinite(n_eff) and np.all(np.isfinite(weights))):
        raise AssessmentError(
            "the naive result, n_eff or the weights are not finite: the statistics are too "
            "large or too precise for double precision; rescale them"
        )

    interval, used_draws = monte_carlo_interval(
        prior,
        common_cause,
        sol.llr,
        p,
        (ev.sd_lo, ev.sd_hi),
        lambda sd: gls_solve(cov.with_scales(sd), delta, resid).llr,
        draws=draws,
        seed=seed,
        level=interval_level,
        progress=progress,
    )

    finding_contrib: dict[str, float] = {}
    factor_contrib: dict[str, float] = {}
    unreliable: list[str] = []
    if contributions and ev.n:
        finding_contrib, factor_contrib, unreliable = _contributions(ev, cov, sol, c, top)

    ceiling = assurance_ceiling(prior, c)
    ids = ev.finding_ids
    return Assessment(
        target=target,
        p_not_scheming=p,
        interval=interval,
        interval_level=interval_level,
        p_not_scheming_naive=p_naive,
        llr=sol.llr,
        log_lr=log_lr,
        llr_naive=llr_naive,
        prior_not_scheming=prior,
        common_cause=c,
        ceiling=ceiling,
        n_findings=ev.n,
        n_factors=ev.k,
        n_eff=n_eff,
        weights=dict(zip(ids, weights.tolist(), strict=True)),
        contributions=finding_contrib,
        contributions_complete=(
            contributions and not unreliable and (top is None or top >= max(ev.n, ev.k))
        ),
        factor_contributions=factor_contrib,
        warnings=_warnings(
            ev,
            p,
            p_naive,
            log_lr - llr_naive,
            ceiling,
            n_eff,
            weights,
            error_findings or [],
            unreliable,
        ),
        draws=used_draws,
        seed=seed,
    )


def _check_solution(
    cov: FactorCovariance, delta: FloatArray, resid: FloatArray, sol: GLSSolution
) -> None:
    """Refuse results that double precision cannot vouch for.

    Woodbury subtracts nearly equal numbers when shared factors dwarf sampling errors, so the
    solve is checked by its backward residual ``|Sigma u - Delta| / |Delta|``, which costs one
    pass over B (``Sigma u = d u + B (B^T u)``) and never forms Sigma.
    """
    if not (math.isfinite(sol.llr) and math.isfinite(sol.information)):
        raise AssessmentError(
            "the log-likelihood ratio is not finite: the statistics are too large or too "
            "precise for double precision; rescale them"
        )
    if cov.n == 0:
        return
    worst = 0.0
    for target, x in ((delta, sol.u), (resid, sol.v)):
        back = cov.d * x + cov.b @ (cov.b.T @ x)
        scale = float(np.linalg.norm(target)) or 1.0
        worst = max(worst, float(np.linalg.norm(back - target)) / scale)
    if worst > _MAX_BACKWARD_ERROR:
        ratio = float(np.max(cov.diag() / cov.d))
        raise AssessmentError(
            f"the shared factors are up to {ratio:.1e} times the variance of findings' own "
            f"errors, too much for an accurate solve in double precision (relative residual "
            f"{worst:.1e}); check factor sd and loadings, or give extra_sd to near-exact "
            "findings"
        )


def monte_carlo_interval(
    prior: float,
    common_cause: float | tuple[float, float],
    llr: float,
    p: float,
    sd_range: tuple[FloatArray, FloatArray],
    llr_at: Callable[[FloatArray], float],
    *,
    draws: int,
    seed: int,
    level: float,
    progress: ProgressCallback | None,
) -> tuple[tuple[float, float], int]:
    """The interval of P(N) over ``c`` and the factor scales drawn uniformly from their ranges
    (``c`` first, then one scale vector per draw, so a seed gives the same draws to every
    engine); ``llr_at(sd)`` is the log ratio, before the common cause, at scales ``sd``."""
    sd_lo, sd_hi = sd_range
    c_uncertain = isinstance(common_cause, tuple) and common_cause[0] < common_cause[1]
    sd_uncertain = bool(np.any(sd_hi > sd_lo))
    if not (sd_uncertain or c_uncertain) or draws == 0:
        return (p, p), 0
    rng = np.random.default_rng(seed)
    if isinstance(common_cause, tuple):
        cs = rng.uniform(common_cause[0], common_cause[1], size=draws)
    else:
        cs = np.full(draws, common_cause)
    llrs = np.full(draws, llr)
    if sd_uncertain:
        for t in range(draws):
            llrs[t] = llr_at(rng.uniform(sd_lo, sd_hi))
            if progress is not None:
                progress(t + 1, draws)
    ps = posterior_not_scheming(prior, log_lr_common_cause(llrs, cs))
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(ps, [alpha, 1.0 - alpha])
    return (float(lo), float(hi)), draws


def _contributions(
    ev: EvidenceArrays, cov: FactorCovariance, sol: GLSSolution, c: float, top: int | None
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """Leave-one-out changes in log-odds (:mod:`neurath.engine._loo`), findings and factors,
    ranked by the size of their change in the Gaussian LLR, which the common-cause mixture
    would otherwise flatten near the ceiling; and the findings omitted as unreliable."""
    loo = leave_one_out(cov, sol, top)
    base = log_lr_common_cause(sol.llr, c)
    d_find, d_fact = loo.finding_change, loo.factor_change
    findings = _ranked(
        ev.finding_ids, loo.rows, d_find, base - log_lr_common_cause(sol.llr - d_find, c), top
    )
    factors = _ranked(
        ev.factor_ids, loo.cols, d_fact, base - log_lr_common_cause(sol.llr + d_fact, c), top
    )
    return findings, factors, [ev.finding_ids[i] for i in loo.unreliable]


def _ranked(
    ids: tuple[str, ...],
    idx: IntArray,
    llr_change: FloatArray,
    log_odds_change: FloatArray,
    top: int | None,
) -> dict[str, float]:
    order = np.argsort(-np.abs(llr_change), kind="stable")[:top]
    return {ids[int(idx[o])]: float(log_odds_change[o]) for o in order}


def _warnings(
    ev: EvidenceArrays,
    p: float,
    p_naive: float,
    log_odds_gap: float,
    ceiling: float,
    n_eff: float,
    weights: FloatArray,
    error_findings: list[str],
    unreliable: list[str],
) -> list[str]:
    out: list[str] = []
    if ev.n == 0:
        out.append("no findings: the assessment is the prior")
        return out
    negative = np.flatnonzero(weights < -1e-12)
    if len(negative):
        names = ", ".join(ev.finding_ids[i] for i in negative[:5])
        more = f" and {len(negative) - 5} more" if len(negative) > 5 else ""
        out.append(
            f"{len(negative)} finding(s) have negative GLS weight ({names}{more}): they share "
            "factors with more precise findings, so what they add is mostly already counted"
        )
    if ceiling < 1.0 and p >= ceiling - 0.01 * ceiling:
        out.append(
            f"p_not_scheming {p:.4f} is at the assurance ceiling {ceiling:.4f} set by "
            "common_cause: more evidence of the same kind cannot raise it"
        )
    if ev.n >= 2 and n_eff < 0.5 * ev.n:
        out.append(
            f"the {ev.n} findings are worth about {n_eff:.1f} independent ones (n_eff): "
            "shared factors dominate"
        )
    if abs(log_odds_gap) > 2.0:
        out.append(
            f"the naive (independent) aggregate {p_naive:.4f} differs from the correlated "
            f"{p:.4f} by {abs(log_odds_gap):.1f} in log-odds"
        )
    used = np.zeros(ev.k, dtype=bool)
    used[ev.load_cols[ev.loading != 0]] = True
    unused = [ev.factor_ids[j] for j in np.flatnonzero(~used)]
    if unused:
        out.append(f"factor(s) declared but loaded by no finding: {', '.join(unused[:8])}")
    if error_findings:
        out.append(
            f"{len(error_findings)} finding(s) come from failed experiments "
            f"({', '.join(error_findings[:5])}); their values are assessed as reported"
        )
    if unreliable:
        out.append(
            f"leave-one-out contributions of {len(unreliable)} finding(s) omitted "
            f"({', '.join(unreliable[:5])}): numerically unreliable, because shared factors "
            "dwarf their own errors"
        )
    return out
