"""Factor scales from calibration residuals: what two experiments share, measured by how their
residuals covary across calibration organisms (see :mod:`neurath.experiments._calibrate`)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from neurath.experiments._result import ExperimentResult

if TYPE_CHECKING:
    from neurath.experiments._calibrate import StatisticFit


def factor_scales(
    results: Mapping[str, Sequence[ExperimentResult]],
    labels: Mapping[str, bool],
    fits: Mapping[str, StatisticFit],
    leave_out: set[str],
    notes: list[str],
    kinds: Mapping[str, str] | None = None,
    kind_means: Mapping[str, Mapping[str, float]] | None = None,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Non-negative least squares of residual covariances on the factors each pair shares.

    Residuals are taken from each hypothesis's mean, or, given ``kinds`` (organism -> kind)
    and ``kind_means`` (``experiment.statistic`` -> kind -> mean), from each organism's own
    kind's mean: then a difference between kinds (sandbaggers low on both honeypots and the
    adversarial search, other schemers high on both) is not booked as a factor the two
    experiments share.

    A factor's effect varies from organism to organism (a random effect), so two experiments
    that share it have residuals that covary across organisms by its squared scale. Factors
    shared by exactly the same pairs cannot be told apart: each such group gets one estimate,
    split equally between its members. Factors measured in the statistic's own units (the
    raters', set by sandwiching) are left out.
    """
    from scipy.optimize import nnls

    z: dict[str, dict[str, float]] = {}  # experiment -> organism -> scaled residual
    factors_of: dict[str, set[str]] = {}
    for oid, rs in results.items():
        if oid in leave_out:
            continue
        for r in rs:
            fit = fits.get(f"{r.experiment}.{r.statistic}")
            if fit is None or fit.source != "fitted" or r.status != "ok" or r.primary.n == 0:
                continue
            mu = fit.scheming if labels[oid] else fit.not_scheming
            if kinds and kind_means:
                mu = kind_means.get(f"{r.experiment}.{r.statistic}", {}).get(kinds[oid], mu)
            z.setdefault(r.experiment, {})[oid] = (r.primary.value - mu) / abs(
                fit.not_scheming - fit.scheming
            )
            ids = {
                f.id for f in r.factors if not f.id.startswith("method:") and f.per == "separation"
            }
            # Factors every organism's run names (a probe's trainers differ per organism).
            factors_of[r.experiment] = factors_of.get(r.experiment, ids) & ids
    rows: list[set[str]] = []
    targets: list[float] = []
    corr: dict[str, dict[str, float]] = {}
    for a, b in itertools.combinations(sorted(z), 2):
        common = sorted(set(z[a]) & set(z[b]))
        if len(common) < 4:
            continue
        xa = np.array([z[a][o] for o in common])
        xb = np.array([z[b][o] for o in common])
        # Residuals from the two hypotheses' means (or the kinds'): a parameter spent on each.
        means: set[object] = {kinds[o] for o in common} if kinds and kind_means else set()
        dof = len(common) - (len(means) if means else 2)
        if dof < 2:
            continue
        cov = float(np.sum(xa * xb) / dof)
        va, vb = float(np.sum(xa * xa) / dof), float(np.sum(xb * xb) / dof)
        if va > 0 and vb > 0:
            corr.setdefault(a, {})[b] = round(cov / np.sqrt(va * vb), 3)
        shared = factors_of[a] & factors_of[b]
        if shared:
            rows.append(shared)
            targets.append(cov)
    if not rows:
        notes.append("too few experiment pairs to estimate factor scales; defaults kept")
        return {}, corr
    every = sorted(set().union(*rows))
    groups: dict[tuple[bool, ...], list[str]] = {}
    for f in every:
        groups.setdefault(tuple(f in row for row in rows), []).append(f)
    columns = list(groups)
    design = np.array([[float(col[i]) for col in columns] for i in range(len(rows))])
    solution, _ = nnls(design, np.array(targets))
    scales: dict[str, float] = {}
    for col, variance in zip(columns, solution, strict=True):
        members = groups[col]
        for f in members:
            scales[f] = round(float(min(1.0, np.sqrt(variance / len(members)))), 4)
        if len(members) > 1:
            notes.append(
                f"factors {', '.join(members)} are shared by the same experiment pairs and "
                "cannot be told apart; their estimated variance is split equally"
            )
    notes.append(
        f"factor scales from {len(rows)} experiment pairs over "
        f"{len(results) - len(leave_out)} organisms (few organisms: a rough estimate)"
    )
    return scales, corr
