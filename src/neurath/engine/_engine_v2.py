"""``assess`` for version 2 manifests: the mixture of mechanism components (engine/_mixture.py)
with the common cause, the worst case over the scheming components' weights, a fair naive
baseline, a Monte Carlo interval and leave-one-out contributions."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from neurath._errors import AssessmentError
from neurath.engine._arrays import EvidenceArrays
from neurath.engine._engine import (
    ProgressCallback,
    _ranked,
    _warnings,
    assurance_ceiling,
    log_lr_common_cause,
    monte_carlo_interval,
    posterior_not_scheming,
)
from neurath.engine._kernel import gls_solve
from neurath.engine._mixture import (
    MixtureArrays,
    _combine,
    density,
    leave_one_out_llr,
    mixture_likelihood,
    separability,
)
from neurath.evidence._assessment import Assessment
from neurath.evidence._model import point_value
from neurath.evidence._model_v2 import ManifestV2

UNTESTED_KL = math.log(2.0)
"""A scheming component whose expected log ratio against its nearest not-scheming rival is
below this (evidence of that kind would change the odds by less than a factor of 2) is
untested."""

MAX_FACTOR_CONTRIBUTIONS = 200
"""Above this many factors, factor contributions (one refit of every component per factor)
are skipped and ``contributions_complete`` is false."""


def mixture_arrays(manifest: ManifestV2) -> MixtureArrays:
    """The manifest's numbers, with each finding's expectation under every component (the
    conservative default where a finding names none: :mod:`neurath.evidence._model_v2`)."""
    findings, comps = manifest.findings, manifest.components
    index = manifest.factor_index()
    rows = [i for i, f in enumerate(findings) for _ in f.factors]
    cols = [index[fid] for f in findings for fid in f.factors]
    loads = [w for f in findings for w in f.factors.values()]
    per_finding = [f.expectations(comps) for f in findings]
    expect = [[row[t] for row in per_finding] for t in range(len(comps))]
    weight = np.array([c.weight for c in comps], dtype=np.float64)
    scheming = np.array([c.scheming for c in comps], dtype=np.bool_)
    for hyp in (False, True):
        weight[scheming == hyp] /= weight[scheming == hyp].sum()
    n, m = len(findings), len(comps)
    names = {f.measure: i for i, f in enumerate(findings) if f.measure is not None}
    measure = np.fromiter((names.get(f.measure or "", -1) for f in findings), np.int64, n)
    return MixtureArrays(
        finding_ids=tuple(f.id for f in findings),
        factor_ids=tuple(f.id for f in manifest.factors),
        component_ids=tuple(c.id for c in comps),
        value=np.fromiter((f.value for f in findings), float, n),
        se2=np.fromiter((f.se * f.se for f in findings), float, n),
        scheming=scheming,
        weight=weight,
        mean=np.array([[e.mean for e in row] for row in expect], dtype=np.float64).reshape(m, n),
        spread2=np.array([[e.sd**2 for e in row] for row in expect], dtype=np.float64).reshape(
            m, n
        ),
        scale=np.fromiter((abs(f.expected.separation) for f in findings), float, n),
        load_rows=np.asarray(rows, dtype=np.int64),
        load_cols=np.asarray(cols, dtype=np.int64),
        loading=np.asarray(loads, dtype=np.float64),
        sd=np.array([point_value(f.sd) for f in manifest.factors], dtype=np.float64),
        df=manifest.tails,
        measure=measure if (measure >= 0).any() else None,
    )


def naive_llr(x: MixtureArrays) -> float:
    """The fair naive baseline under the mixture: findings independent, each with its full
    variance (shared factors' included), within every component."""
    a = x.loadings()
    a.data *= x.sd[a.indices]
    factor_var = np.asarray(a.multiply(a).sum(axis=1), dtype=np.float64).ravel()
    var = x.se2[None, :] + x.spread2 + factor_var[None, :]
    per = density((x.value[None, :] - x.mean) ** 2 / var, np.log(var), 1, x.df)
    log_n, log_s, _, _ = _combine(x, per.sum(axis=1)[:, None])
    return float(log_n[0] - log_s[0])


def assess_mixture(
    manifest: ManifestV2,
    *,
    draws: int,
    seed: int,
    interval_level: float,
    top: int | None,
    progress: ProgressCallback | None,
) -> Assessment:
    """:func:`neurath.assess` for a version 2 manifest."""
    if not 0.0 < interval_level < 1.0:
        raise ValueError(f"interval_level must lie in (0, 1), got {interval_level}")
    if draws < 0:
        raise ValueError(f"draws must be >= 0, got {draws}")
    x = mixture_arrays(manifest)
    prior, c = manifest.prior_not_scheming, point_value(manifest.common_cause)
    lik = mixture_likelihood(x)
    if not (math.isfinite(lik.llr) and math.isfinite(lik.llr_worst)):
        raise AssessmentError(
            "the mixture's log-likelihood ratio is not finite: the statistics are too large "
            "or too precise for double precision; rescale them"
        )
    log_lr = float(log_lr_common_cause(lik.llr, c))
    p = float(posterior_not_scheming(prior, log_lr))
    llr_naive = naive_llr(x)
    p_naive = float(posterior_not_scheming(prior, llr_naive))
    # The pooled (version 1) view of the same findings: its GLS weights and n_eff describe how
    # much the correlation structure leaves of the evidence.
    ev = EvidenceArrays.from_manifest(manifest)  # type: ignore[arg-type]
    cov = ev.covariance()
    sol = gls_solve(cov, ev.delta, ev.residual)
    if ev.n:
        n_eff = sol.information / float(np.mean(ev.delta**2 / cov.diag()))
        weights = ev.delta * sol.u / sol.information
    else:
        n_eff, weights = 0.0, np.zeros(0)
    interval, used = _interval(manifest, x, lik.llr, p, draws, seed, interval_level, progress)
    finding_contrib, factor_contrib, complete = _contributions(x, lik.llr, c, top)
    ceiling = assurance_ceiling(prior, c)
    untested, coverage = _coverage(x, prior, c)
    p_worst = float(posterior_not_scheming(prior, log_lr_common_cause(lik.llr_worst, c)))
    if untested:
        # The bound is enforced, not only reported: a kind no finding could see is one the
        # evidence cannot have ruled out, whatever the model makes of the rest.
        p, p_worst = min(p, coverage), min(p_worst, coverage)
        interval = (min(interval[0], coverage), min(interval[1], coverage))
    warnings = _warnings(
        ev,
        p,
        p_naive,
        log_lr - llr_naive,
        ceiling,
        n_eff,
        weights,
        [f.id for f in manifest.findings if f.status == "error"],
        [],
    )
    if untested:
        warnings.append(
            f"no finding can tell {', '.join(untested)} from an aligned model: P(not "
            f"scheming) cannot pass {coverage:.4f} (coverage ceiling) until an experiment "
            "that could see them is run"
        )
    return Assessment(
        target=manifest.target,
        p_not_scheming=p,
        interval=interval,
        interval_level=interval_level,
        p_not_scheming_naive=p_naive,
        llr=lik.llr,
        log_lr=log_lr,
        llr_naive=llr_naive,
        prior_not_scheming=prior,
        common_cause=c,
        ceiling=ceiling,
        n_findings=x.n,
        n_factors=x.k,
        n_eff=float(n_eff),
        weights=dict(zip(x.finding_ids, np.asarray(weights).tolist(), strict=True)),
        contributions=finding_contrib,
        contributions_complete=complete,
        factor_contributions=factor_contrib,
        warnings=warnings,
        draws=used,
        seed=seed,
        manifest_version=2,
        p_not_scheming_worst=p_worst,
        llr_worst=lik.llr_worst,
        untested_components=untested,
        coverage_ceiling=coverage,
        component_posterior=dict(zip(x.component_ids, lik.responsibilities.tolist(), strict=True)),
    )


def _coverage(x: MixtureArrays, prior: float, c: float) -> tuple[list[str], float]:
    """The untested scheming components and the ceiling they imply."""
    kl = separability(x)
    idx = [t for t in range(len(x.component_ids)) if x.scheming[t] and kl[t] < UNTESTED_KL]
    share = float(sum(x.weight[t] for t in idx))
    odds_s = (1.0 - prior) / prior
    return [x.component_ids[t] for t in idx], 1.0 / (1.0 + odds_s * (c + (1.0 - c) * share))


def _interval(
    manifest: ManifestV2,
    x: MixtureArrays,
    llr: float,
    p: float,
    draws: int,
    seed: int,
    level: float,
    progress: ProgressCallback | None,
) -> tuple[tuple[float, float], int]:
    """As version 1 (the same draws for the same seed), each draw refitting the mixture."""
    lo = np.array([f.sd[0] if isinstance(f.sd, tuple) else f.sd for f in manifest.factors])
    hi = np.array([f.sd[1] if isinstance(f.sd, tuple) else f.sd for f in manifest.factors])
    return monte_carlo_interval(
        manifest.prior_not_scheming,
        manifest.common_cause,
        llr,
        p,
        (lo, hi),
        lambda sd: mixture_likelihood(replace(x, sd=sd)).llr,
        draws=draws,
        seed=seed,
        level=level,
        progress=progress,
    )


def _contributions(
    x: MixtureArrays, llr: float, c: float, top: int | None
) -> tuple[dict[str, float], dict[str, float], bool]:
    """Leave-one-out changes in log-odds: each finding (exact, from one factorisation per
    component) and each factor (its scale set to 0: every component refitted)."""
    if x.n == 0:
        return {}, {}, True
    if top == 0:
        return {}, {}, False  # none asked for: skip the refits
    base = float(log_lr_common_cause(llr, c))
    loo, _ = leave_one_out_llr(x)
    every = np.arange(x.n)
    findings = _ranked(x.finding_ids, every, llr - loo, base - log_lr_common_cause(loo, c), top)
    complete = top is None or top >= max(x.n, x.k)
    if x.k > MAX_FACTOR_CONTRIBUTIONS:
        return findings, {}, False
    without = np.empty(x.k)
    for j in range(x.k):
        sd = x.sd.copy()
        sd[j] = 0.0
        without[j] = mixture_likelihood(replace(x, sd=sd)).llr
    factors = _ranked(
        x.factor_ids, np.arange(x.k), llr - without, base - log_lr_common_cause(without, c), top
    )
    return findings, factors, complete
