"""Per-kind calibration: each statistic's expectation and spread under every mechanism (kind),
for version 2 manifests (see :mod:`neurath.evidence._model_v2`).

Few calibration organisms of each kind (often two to five) give noisy kind means, so the means
are shrunk, empirical-Bayes fashion, towards what a *blind* detector would show: the pooled
not-scheming mean. A detector is then credited with seeing a kind of schemer only as far as
the data insist, which is the conservative direction: weak or noisy evidence of seeing a kind
reads as not seeing it.

For statistic s and kind k with organisms ``O_k`` (``n_k`` of them):

- ``ybar_k`` their mean, ``v_k = (spread_k^2 + mean se^2) / n_k`` its sampling variance;
- ``spread_k^2``: the kind's own variance beyond sampling error, partly pooled with the
  within-kind variance of all kinds of the statistic (``POOL`` pseudo-degrees of freedom);
- ``tau^2`` the variance of kind means about the target (method of moments over the kinds of
  the same hypothesis, never below 0);
- shrunk mean ``m_k = target + w_k (ybar_k - target)`` with ``w_k = tau^2 / (tau^2 + v_k)``;
- predictive spread ``sd_k^2 = spread_k^2 + w_k v_k``: a new organism of the kind scatters
  about an uncertain mean.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

POOL = 4.0
"""Pseudo-degrees of freedom of the pooled within-kind variance in each kind's spread."""


class KindFit(BaseModel):
    """A statistic's expectation under one kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float
    sd: float = Field(ge=0)
    """Predictive spread of a new organism of this kind beyond its sampling error."""
    n: int
    """Calibration organisms of this kind that ran the statistic."""
    raw_mean: float
    """Their plain mean, before shrinkage."""
    weight_on_data: float = Field(ge=0, le=1)
    """``w_k``: 1 keeps the kind's own mean, 0 reads the detector as blind to the kind."""


def fit_kinds(
    obs: Mapping[str, tuple[float, float]],
    kinds: Mapping[str, str],
    scheming: Mapping[str, bool],
    blind: float,
    fallback: float,
) -> dict[str, KindFit]:
    """One statistic's fit per kind.

    Args:
        obs: Organism -> (value, se) for the calibration organisms that ran the statistic.
        kinds: Organism -> its kind (mechanism).
        scheming: Kind -> whether it schemes.
        blind: The shrinkage target: the pooled not-scheming mean.
        fallback: A kind's spread (squared) when no kind has two organisms to measure one
            by (the pooled ``extra_sd`` squared: wide, so cautious).
    """
    by_kind: dict[str, list[tuple[float, float]]] = {}
    for oid, ys in obs.items():
        by_kind.setdefault(kinds[oid], []).append(ys)
    within, dof = 0.0, 0
    for rows in by_kind.values():
        if len(rows) >= 2:
            y = np.array([v for v, _ in rows])
            within += float(np.sum((y - y.mean()) ** 2))
            dof += len(rows) - 1
    pooled = within / dof if dof else 0.0
    raw: dict[str, tuple[float, float, float, int]] = {}  # kind -> (ybar, spread2, v, n)
    for kind, rows in by_kind.items():
        y = np.array([v for v, _ in rows])
        se2 = float(np.mean([s * s for _, s in rows]))
        own = float(np.sum((y - y.mean()) ** 2))
        if dof:
            spread2 = max(0.0, (own + POOL * pooled) / (len(rows) - 1 + POOL) - se2)
        else:
            spread2 = fallback
        raw[kind] = (float(y.mean()), spread2, (spread2 + se2) / len(rows), len(rows))
    tau2 = {hyp: _between(raw, scheming, hyp, blind) for hyp in (False, True)}
    out = {}
    for kind, (ybar, spread2, v, n) in raw.items():
        t2 = tau2[scheming[kind]]
        w = t2 / (t2 + v) if t2 + v > 0 else 1.0
        out[kind] = KindFit(
            mean=blind + w * (ybar - blind),
            sd=math.sqrt(spread2 + w * v),
            n=n,
            raw_mean=ybar,
            weight_on_data=w,
        )
    return out


def _between(
    raw: Mapping[str, tuple[float, float, float, int]],
    scheming: Mapping[str, bool],
    hyp: bool,
    target: float,
) -> float:
    """Method-of-moments variance of the hypothesis's kind means about ``target``."""
    rows = [(ybar, v) for kind, (ybar, _, v, _) in raw.items() if scheming[kind] is hyp]
    if not rows:
        return 0.0
    return max(0.0, float(np.mean([(y - target) ** 2 - v for y, v in rows])))


class Sensitivity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    novel: float
    c_novel: float
    common_cause: float
    ceiling: float


class CommonCause(BaseModel):
    """The common cause and how it was measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    novel: float
    """The declared chance that a scheming target's mechanism is novel."""
    common_cause: float
    """``c0 = (1 - novel) c_known + novel c_novel``."""
    c_known: float
    known_evaders: list[str]
    known_schemers: int
    c_novel: float
    novel_rates: dict[str, float]
    """Held-out scheming kind -> share of its members the engine would reassure."""
    sensitivity: list[Sensitivity]


def drop_lone_kinds(
    obs: dict[str, dict[str, tuple[float, float]]],
    labels: Mapping[str, bool],
    kinds: Mapping[str, str],
    notes: list[str],
) -> set[str]:
    """Leave out what a reference-trained experiment (the probe) measured on the only
    calibration organism of its kind: held out of its own training, the probe had seen no
    organism of that kind, so the score is a novel kind's, not what a target of that kind
    gets from a probe trained on all of them. Returns the experiments left without one
    hypothesis (uncalibrated: their findings are then left out, not read on declared guesses).
    """
    from neurath.experiments._registry import get_experiment

    if not kinds:
        return set()
    count = Counter(kinds[o] for o in labels if o in kinds)
    lost = set()
    for exp in list(obs):
        if "references" not in get_experiment(exp).context:
            continue
        alone = sorted(o for o in obs[exp] if count[kinds.get(o, "")] == 1)
        for o in alone:
            del obs[exp][o]
        if alone:
            notes.append(
                f"{exp} on {', '.join(alone)} left out: the only calibration organism of its "
                "kind, held out of its own training, scores as a novel kind"
            )
        if len({labels[o] for o in obs[exp]}) < 2:
            del obs[exp]
            lost.add(exp)
    return lost


def kind_fits(
    obs: Mapping[str, Mapping[str, tuple[float, float]]],
    fits: Mapping[str, Any],
    labels: Mapping[str, bool],
    kinds: Mapping[str, str],
    results: Mapping[str, object],
) -> tuple[dict[str, dict[str, KindFit]], dict[str, bool]]:
    """Each fitted statistic per kind, shrunk towards blindness (empty without kinds), and
    whether each kind schemes. ``fits``: the pooled :class:`StatisticFit` per statistic."""
    from neurath._errors import ManifestError
    from neurath.experiments._registry import get_experiment

    if not kinds:
        return {}, {}
    missing = sorted(set(results) - set(kinds))
    if missing:
        raise ManifestError(f"no kind for calibration organisms: {', '.join(missing)}")
    kind_scheming: dict[str, bool] = {}
    for oid in sorted(results):
        if kind_scheming.setdefault(kinds[oid], labels[oid]) != labels[oid]:
            raise ManifestError(f"kind {kinds[oid]!r} has both scheming and aligned organisms")
    out = {}
    for exp, by_org in sorted(obs.items()):
        key = f"{exp}.{get_experiment(exp).statistic}"
        fit = fits.get(key)
        if fit is None:
            continue
        # An unseparated statistic is fitted too: pooled, it shows nothing, but one kind may
        # still stand out in it (or a new kind, as an anomaly).
        out[key] = fit_kinds(by_org, kinds, kind_scheming, fit.not_scheming, fit.extra_sd**2)
    return out, dict(sorted(kind_scheming.items()))
