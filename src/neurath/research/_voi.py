"""Value of information under the correlated model: how much a planned experiment is expected
to tell about scheming, given the evidence a target already has.

Under the engine's Gaussian model the log-likelihood ratio of a set of findings is normal
under each hypothesis, ``LLR ~ N(+-d^2 / 2, d^2)`` with ``d^2 = Delta^T Sigma^-1 Delta``.
Adding findings to a set whose LLR is ``L`` adds an increment independent of ``L`` (``L`` is
sufficient for the old findings): ``I ~ N(+-g / 2, g)`` with ``g = d_new^2 - d_old^2``. So
the whole value of an experiment is summarised by ``g``, and ``g`` is small when the new
finding shares factors (method, assumptions, data, weights, raters) with what is already
there: the correlated model's way of preferring independent evidence.

The common cause splits scheming into evaders (probability ``c``), whose evidence behaves as
a non-schemer's, and the detectable rest. The expected information gain about
scheming is then computed by Gauss-Hermite quadrature over the increment:
``EIG = H(P(N)) - E[H(P(N | I))]`` (Lindley 1956, "On a measure of the information provided
by an experiment").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from neurath._errors import ResearchError
from neurath.evidence._model import Manifest
from neurath.experiments._params import show
from neurath.experiments._registry import get_experiment
from neurath.experiments._result import ExperimentResult, Statistic
from neurath.research._controllers import (
    Controller,
    ControllerProgress,
    _at_least,
    _fits,
    _plan_params,
    _try,
    controller,
)
from neurath.research._environment import ResearchEnvironment
from neurath.research._events import Planned

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(48)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


class Separation(NamedTuple):
    """The Gaussian LLR of a manifest's findings and their separation ``d^2``."""

    llr: float
    information: float


def separation(manifest: Manifest) -> Separation:
    """``LLR`` (before the common cause) and ``d^2 = Delta^T Sigma^-1 Delta`` of a manifest."""
    from neurath.engine import EvidenceArrays, gls_solve

    if not manifest.findings:
        return Separation(0.0, 0.0)
    ev = EvidenceArrays.from_manifest(manifest)
    sol = gls_solve(ev.covariance(), ev.delta, ev.residual)
    return Separation(sol.llr, sol.information)


def _entropy(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-15, 1 - 1e-15)
    out: np.ndarray = -(q * np.log2(q) + (1 - q) * np.log2(1 - q))
    return out


def expected_information_gain(llr: float, gain: float, prior: float, common_cause: float) -> float:
    """Expected reduction in the entropy (bits) of "scheming or not" from an increment of
    separation ``gain``, for a target whose findings so far have Gaussian LLR ``llr``.

    Args:
        llr: The current findings' Gaussian log-likelihood ratio N:S (0 with none).
        gain: ``d_new^2 - d_old^2`` (at least 0).
        prior: P(not scheming) before any evidence.
        common_cause: ``c``, the share of schemers that defeat every line of evidence.
    """
    if gain <= 1e-12:
        return 0.0
    c = min(max(common_cause, 0.0), 1.0)
    # Unnormalised posterior weights of N, evading and detectable scheming (likelihoods
    # relative to detectable scheming: N and evaders share the non-schemer's distribution).
    logs = np.array(
        [
            math.log(prior) + llr,
            (math.log((1 - prior) * c) + llr) if c > 0 else -np.inf,
            math.log((1 - prior) * (1 - c)) if c < 1 else -np.inf,
        ]
    )
    w = np.exp(logs - logs.max())
    w /= w.sum()
    p_now = w[0]
    root = math.sqrt(gain)
    expected = 0.0
    for sign, weight in ((1.0, w[0] + w[1]), (-1.0, w[2])):
        if weight <= 0:
            continue
        inc = sign * gain / 2 + root * _NODES  # the increment's quadrature nodes
        num = w[0] * np.exp(np.minimum(inc, 700))
        p_after = num / (num + w[1] * np.exp(np.minimum(inc, 700)) + w[2])
        expected += weight * float(_WEIGHTS @ _entropy(p_after))
    return max(0.0, float(_entropy(np.array([p_now]))[0]) - expected)


# -- value of information --------------------------------------------------------------------
MAX_SCALE = 100.0
"""The largest multiple of an experiment's calibrated size the voi controller may consider."""


@dataclass(frozen=True)
class Candidate:
    target: str
    experiment: str
    params: dict[str, Any]
    seed: int
    cost: int
    gain_bits: float


class VoiController:
    """Greedy value of information per query across every target."""

    def __init__(self, sizes: Sequence[float], min_gain: float, max_repeats: int) -> None:
        self.sizes, self.min_gain, self.max_repeats = list(sizes), min_gain, max_repeats

    def run(self, env: ResearchEnvironment, progress: ControllerProgress | None = None) -> None:
        calibration = env.calibration
        if calibration is None or not calibration.profiles:
            raise ResearchError(
                "the voi controller needs a calibration with experiment profiles "
                "(run 'neurath calibrate' again with this version)"
            )
        names = [
            e
            for e in env.experiments()
            if e in calibration.profiles and get_experiment(e).declared is not None
        ]
        best: dict[str, list[Candidate]] = {}
        while True:
            for target in env.target_ids:
                if target not in best:
                    best[target] = self.candidates(env, target, names)
            left = env.remaining()["queries"]
            pool = [
                c
                for cs in best.values()
                for c in cs
                if c.gain_bits > 0
                and c.gain_bits >= self.min_gain
                and _fits(env, c.experiment, c.params, left)
            ]
            if not pool:
                return
            pick = max(pool, key=lambda c: (c.gain_bits / c.cost, c.gain_bits))
            plan = Planned(
                target=pick.target,
                experiment=pick.experiment,
                params=pick.params,
                expected_gain_bits=float(f"{pick.gain_bits:.6g}"),  # 6 significant digits: never 0
                expected_cost=pick.cost,
            )
            env.audit.append(plan, actor=env.actor)
            _try(env, pick.target, pick.experiment, pick.params, pick.seed, progress)
            best.pop(pick.target, None)

    def candidates(
        self, env: ResearchEnvironment, target: str, names: Sequence[str]
    ) -> list[Candidate]:
        """Each experiment at each size on ``target``, with its expected gain: in bits of
        information (engine 1), or in risk under the decision loss (a calibration for engine 2,
        fitted per mechanism with a declared novel chance: :mod:`neurath.research._voi_v2`)."""
        from neurath.research._voi_v2 import manifest_v2, planning_value

        assert env.calibration is not None
        evasion = env.calibration.evasion if env.calibration.kind_fits else None
        have = env.results.get(target, [])
        if evasion is None:
            now = separation(env.manifest(target))
        else:
            now_v2 = manifest_v2(env, target, novel=evasion.novel)
        card = env.card(target)
        out = []
        for name in names:
            repeats = sum(1 for r in have if r.experiment == name)
            if repeats >= self.max_repeats:
                continue
            profile = env.calibration.profiles[name]
            for scale in self.sizes:
                params = _plan_params(env, name, scale)
                resolved = get_experiment(name).resolve(params)
                size = float(resolved[profile.size_param])
                planned = _planned_result(env, card, name, resolved, env.seed + repeats, size)
                if evasion is not None:
                    after_v2 = manifest_v2(env, target, planned, novel=evasion.novel)
                    gain = planning_value(now_v2, after_v2)
                else:
                    after = separation(env.manifest_with(target, planned))
                    gain = expected_information_gain(
                        now.llr, after.information - now.information, env.prior, env.common_cause
                    )
                cost = env.estimate(name, resolved)
                out.append(Candidate(target, name, params, env.seed + repeats, cost, gain))
        return out


def _planned_result(
    env: ResearchEnvironment,
    card: Any,
    name: str,
    params: Mapping[str, Any],
    seed: int,
    size: float,
) -> ExperimentResult:
    """A stand-in result with the precision and factors the experiment is expected to have
    (its value, the midpoint, does not enter the separation)."""
    from neurath.experiments import _factors as F

    assert env.calibration is not None
    profile = env.calibration.profiles[name]
    info = get_experiment(name)
    fit = env.calibration.fit_for(name, info.statistic)
    mid = 0.5 * (fit.not_scheming + fit.scheming) if fit else 0.5
    factors = [F.weights(card) if f.kind == "weights" else f for f in profile.factors]
    return ExperimentResult(
        experiment=name,
        target=card,
        params=dict(params),
        seed=seed,
        statistic=info.statistic,
        statistics={
            info.statistic: Statistic(
                value=mid, se=(profile.unit_variance / max(size, 1.0)) ** 0.5, n=int(size)
            )
        },
        factors=factors,
    )


@controller("voi", automation_level=1)
def voi(sizes: str = "0.5,1,2", min_gain: float = 0.0, max_repeats: int = 2) -> Controller:
    """The next experiment, size and target by expected information gain per query under the
    correlated model: it prefers evidence that shares no factors with what a target has.

    ``sizes``: multiples of each experiment's calibrated size to consider; ``min_gain``: stop
    when nothing is expected to tell this much (bits under engine 1, loss units under engine
    2); by default the controller spends the budget while anything is expected to tell more
    than nothing (the budget is the study's stopping rule; at 0.001 it stopped the default study
    at 38 % of its budget with four benign targets 0.001 short of reassurance);
    ``max_repeats``: runs of one experiment on one target at most.
    """
    try:
        scales = [float(s) for s in sizes.split(",")]
    except ValueError:
        raise ResearchError(
            f"option 'sizes' of controller 'voi' takes numbers, comma-separated, got {show(sizes)}"
        ) from None
    if not all(0 < s <= MAX_SCALE for s in scales):  # also refuses inf and nan
        raise ResearchError(
            f"option 'sizes' of controller 'voi' takes multiples in (0, {MAX_SCALE}], "
            f"got {show(sizes)}"
        )
    _at_least("voi", "min_gain", min_gain, 0.0)
    _at_least("voi", "max_repeats", max_repeats, 0)
    return VoiController(scales, min_gain, max_repeats)
