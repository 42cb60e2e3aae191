"""Design choices decided on calibration data only: nested cross-validation in each split.

Some choices were first made while looking at the default suite's test group (the probe's
class weights, the adversarial search's greedy confirmation), so that group no longer tests
them. Here each is a parameter with candidate values, and every benchmark split decides it on
its own calibration group: leave one mechanism of that group out at a time, fit the
calibration on the rest, assess the held-out mechanism's organisms, and keep the value with
the lowest log loss (weighted to the study prior). Ties keep the default. The split's test
group plays no part in the choice.

One shortcut, stated: the probe's score for a calibration organism comes from a probe trained
on every other calibration organism (it leaves only its target out), so in the inner folds a
held-out mechanism's other individuals were among the probe's trainers. This flatters the
probe a little inside the choice; the outer test group is never involved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from neurath._errors import NeurathError
from neurath.experiments._result import ExperimentResult

CHOICES: dict[str, tuple[str, str, tuple[Any, ...]]] = {
    "probe.class_weight": ("probe", "class_weight", ("balanced", "none")),
    "adversarial.confirm": ("adversarial", "confirm", (True, False)),
}
"""name -> (experiment, parameter, candidate values, the default first)."""


class Choice(BaseModel):
    """What one split decided for one design choice, and on what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chosen: Any
    inner_log_loss: dict[str, float | None]
    """Candidate value (as text) -> log loss over the calibration group's held-out folds."""
    folds: int


def inner_log_loss(
    results: Mapping[str, Sequence[ExperimentResult]],
    labels: Mapping[str, bool],
    mechanism: Mapping[str, str],
    *,
    prior: float,
    params: Mapping[str, Mapping[str, Any]],
) -> tuple[float | None, int]:
    """Log loss of the assessments of each calibration mechanism, held out in turn from the
    calibration fit (weighted to the prior), and the number of folds used."""
    from neurath.engine import assess, log_loss
    from neurath.experiments._battery import DEFAULT_BATTERY, to_manifest
    from neurath.experiments._calibrate import fit_calibration
    from neurath.testbed._bench_score import base_rate_weights

    p, truth, folds = [], [], 0
    for held in sorted(set(mechanism.values())):
        train = [o for o in labels if mechanism[o] != held]
        if len({labels[o] for o in train}) < 2:
            continue
        try:
            cal = fit_calibration(
                {o: results[o] for o in train},
                {o: labels[o] for o in train},
                suite="inner",
                battery_params={k: dict(v) for k, v in params.items()},
                attempted=DEFAULT_BATTERY,
            )
        except NeurathError:
            continue
        folds += 1
        for o in (o for o in labels if mechanism[o] == held):
            a = assess(to_manifest(o, results[o], cal, prior_not_scheming=prior), draws=0)
            p.append(a.p_not_scheming)
            truth.append(labels[o])
    if not p:
        return None, 0
    s = np.asarray(truth, dtype=bool)
    return log_loss(p, (~s).astype(float), weight=base_rate_weights(s, prior)), folds


def decide(
    variants: Mapping[str, Mapping[Any, Mapping[str, list[ExperimentResult]]]],
    base: Mapping[str, list[ExperimentResult]],
    labels: Mapping[str, bool],
    mechanism: Mapping[str, str],
    *,
    prior: float,
    params: Mapping[str, Mapping[str, Any]],
) -> dict[str, Choice]:
    """Each choice decided in turn, the others at their defaults.

    ``variants``: choice name -> candidate value -> organism -> that experiment's results
    under the value; ``base``: organism -> the results of every other experiment.
    """
    defaults = {name: CHOICES[name][2][0] for name in variants}
    out = {}
    for name in variants:
        scores: dict[str, float | None] = {}
        best, best_loss, folds = defaults[name], None, 0
        for value in CHOICES[name][2]:
            pick = {**defaults, name: value}
            results = {
                o: [*base[o], *(r for n, v in pick.items() for r in variants[n][v][o])]
                for o in labels
            }
            # Each candidate's calibrations record the settings its results ran at: recorded
            # at the defaults, a candidate's own results would be set aside as run off them.
            at = with_values(params, pick)
            loss, folds = inner_log_loss(results, labels, mechanism, prior=prior, params=at)
            scores[str(value)] = loss
            if loss is not None and (best_loss is None or loss < best_loss - 1e-9):
                best, best_loss = value, loss
        out[name] = Choice(chosen=best, inner_log_loss=scores, folds=folds)
    return out


def with_choices(
    params: Mapping[str, Mapping[str, Any]], choices: Mapping[str, Choice]
) -> dict[str, dict[str, Any]]:
    """The battery's parameters with each decided choice (``experiment.param``) set: what a
    calibration fitted on the chosen results must record (recording the defaults set aside
    every adversarial finding of a split that chose otherwise, as run off its calibration)."""
    return with_values(params, {name: choice.chosen for name, choice in choices.items()})


def with_values(
    params: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The battery's parameters with each choice (``experiment.param``) set to its value."""
    out = {k: dict(v) for k, v in params.items()}
    for name, value in values.items():
        experiment, param = name.split(".", 1)
        out.setdefault(experiment, {})[param] = value
    return out
