"""Controllers: who decides what research to do, at which automation level.

One registry (:class:`neurath._registry.Registry`, with entry-point discovery under
``neurath.controllers``), one decorator (``@controller``), as for experiments. A controller gets the
research environment and acts through its tools until its plan is done or its budget is
spent. Controllers are deterministic functions of the environment's state (random ones seed
from it), so a resumed run picks up exactly where the killed one stopped.

Built in:

- ``scripted``: a fixed, human-written battery, target by target (automation level 1).
- ``random``: random experiments, sizes and targets until the budget is spent (a baseline).
- ``voi``: the next experiment, its size and its target by expected information gain per
  query under the correlated model (:mod:`neurath.research._voi`).
- ``llm``: an Inspect model with tool calls drives the environment (automation level 2;
  :mod:`neurath.research._llm`).
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from neurath._errors import BudgetExceeded, ResearchError
from neurath._registry import Registry
from neurath.experiments._battery import DEFAULT_BATTERY
from neurath.experiments._params import show, type_problem
from neurath.experiments._registry import get_experiment
from neurath.experiments._result import ExperimentResult, Statistic
from neurath.research._environment import ResearchEnvironment
from neurath.research._events import Planned, Skipped
from neurath.research._tools import MAX_CALL_QUERIES, call_problem

ControllerProgress = Callable[[str], None]
"""Called with a short description of each action as it starts."""


class Controller(Protocol):
    """Acts on a research environment until done."""

    def run(self, env: ResearchEnvironment, progress: ControllerProgress | None = None) -> None:
        """Do the research (resuming from the environment's state)."""
        ...


@dataclass(frozen=True)
class ControllerInfo:
    name: str
    automation_level: int
    """1: a human wrote the plan; 2: a model chooses the actions."""
    factory: Callable[..., Controller]
    description: str
    defaults: Mapping[str, Any]


CONTROLLERS: Registry[ControllerInfo] = Registry(
    "controller",
    "neurath.controllers",
    builtins=["neurath.research._controllers", "neurath.research._llm"],
    error=ResearchError,
)


def controller(name: str, *, automation_level: int) -> Callable[[Callable[..., Controller]], Any]:
    """Register a controller factory under ``name``; its keyword defaults are its options."""

    def register(factory: Callable[..., Controller]) -> Callable[..., Controller]:
        sig = inspect.signature(factory)
        defaults = {
            k: p.default for k, p in sig.parameters.items() if p.default is not inspect._empty
        }
        doc = (inspect.getdoc(factory) or "").split("\n\n")[0].replace("\n", " ")
        CONTROLLERS.add(name, ControllerInfo(name, automation_level, factory, doc, defaults))
        return factory

    return register


def controllers() -> dict[str, ControllerInfo]:
    """Every registered controller (built-ins and installed plug-ins), by name."""
    return CONTROLLERS.all()


def get_controller(name: str) -> ControllerInfo:
    """The controller registered as ``name``; an error suggests the closest name."""
    return CONTROLLERS.get(name)


def make_controller(name: str, options: Mapping[str, Any] | None = None) -> Controller:
    """A controller with its options checked against the factory's parameters: each option
    takes its default's type (:func:`~neurath.experiments._params.type_problem`; an option
    whose default is None is the factory's to check), and the factory checks their values, so
    a bad option fails here, before a run starts, never half-way through one."""
    info = get_controller(name)
    if not isinstance(options, Mapping | None):
        raise ResearchError(f"controller {name!r} takes options as a mapping, got {show(options)}")
    options = dict(options or {})
    unknown = sorted(set(options) - set(info.defaults), key=str)
    if unknown:
        raise ResearchError(
            f"controller {name!r} has no option {show(unknown[0])} "
            f"(options: {', '.join(sorted(info.defaults)) or 'none'})"
        )
    for key, value in options.items():
        default = info.defaults[key]
        problem = None if default is None else type_problem(value, default)
        if problem:
            raise ResearchError(
                f"option {key!r} of controller {name!r} {problem}, got {show(value)}"
            )
    return info.factory(**options)


def _at_least(name: str, key: str, value: float, low: float) -> None:
    if value < low:
        raise ResearchError(f"option {key!r} of controller {name!r} must be >= {low}, got {value}")


# -- shared pieces ---------------------------------------------------------------------------
def _done(env: ResearchEnvironment, target: str, experiment: str, seed: int) -> bool:
    return any(r.experiment == experiment and r.seed == seed for r in env.results.get(target, []))


def _try(
    env: ResearchEnvironment,
    target: str,
    experiment: str,
    params: Mapping[str, Any],
    seed: int,
    progress: ControllerProgress | None,
) -> bool:
    """Run one experiment; False (and a ``skip`` entry) when it does not fit the budget."""
    try:
        if progress:
            progress(f"{experiment} on {target}")
        env.run_experiment(target, experiment, dict(params), seed=seed)
    except BudgetExceeded as exc:
        env.audit.append(
            Skipped(target=target, experiment=experiment, reason=str(exc)), actor=env.actor
        )
        return False
    return True


def _plan_params(env: ResearchEnvironment, experiment: str, scale: float = 1.0) -> dict[str, Any]:
    """The study's parameters for an experiment, with its size scaled."""
    params = dict(env.params.get(experiment, {}))
    if scale != 1.0:
        key = get_experiment(experiment).size_param
        base = get_experiment(experiment).resolve(params)[key]
        params[key] = min(MAX_CALL_QUERIES, max(1, round(float(base) * scale)))
    return params


def _fits(env: ResearchEnvironment, experiment: str, params: Mapping[str, Any], left: Any) -> bool:
    """Whether the environment would take the call: not too large, within what is left."""
    cost = env.estimate(experiment, params)
    resolved = get_experiment(experiment).resolve(params)
    return call_problem(experiment, resolved, cost) is None and (left is None or cost <= left)


# -- scripted --------------------------------------------------------------------------------
class ScriptedController:
    """The battery, in a fixed order, on each target in turn."""

    def __init__(self, plan: Sequence[str]) -> None:
        self.plan = list(plan)

    def run(self, env: ResearchEnvironment, progress: ControllerProgress | None = None) -> None:
        plan = [e for e in self.plan if e in env.experiments()]
        for target in env.target_ids:
            for name in plan:
                if not _done(env, target, name, env.seed):
                    _try(env, target, name, _plan_params(env, name), env.seed, progress)


@controller("scripted", automation_level=1)
def scripted(plan: str = ",".join(DEFAULT_BATTERY)) -> Controller:
    """A fixed, human-written battery run on every target in turn (automation level 1).

    ``plan``: the experiments, comma-separated, in order (each a registered one).
    """
    names = [p.strip() for p in plan.split(",") if p.strip()]
    if not names:
        raise ResearchError("option 'plan' of controller 'scripted' names no experiments")
    for name in names:
        get_experiment(name)
    return ScriptedController(names)


# -- random ----------------------------------------------------------------------------------
class RandomController:
    """Random experiments on random targets at random sizes, until nothing fits."""

    def __init__(self, seed: int, max_actions: int) -> None:
        self.seed, self.max_actions = seed, max_actions

    def run(self, env: ResearchEnvironment, progress: ControllerProgress | None = None) -> None:
        names = [e for e in env.experiments() if get_experiment(e).declared is not None]
        while True:
            done = sum(len(v) for v in env.results.values())
            if done >= self.max_actions:
                return
            rng = random.Random(self.seed * 1_000_003 + done)  # a function of the state
            options = [(t, e, s) for t in env.target_ids for e in names for s in (0.5, 1.0, 2.0)]
            rng.shuffle(options)
            left = env.remaining()["queries"]
            for target, name, scale in options:
                params = _plan_params(env, name, scale)
                seed = env.seed + sum(
                    1 for r in env.results.get(target, []) if r.experiment == name
                )
                if _fits(env, name, params, left):
                    if not _try(env, target, name, params, seed, progress):
                        return  # it did not fit after all: the state would not change
                    break
            else:
                return


@controller("random", automation_level=1)
def random_controller(seed: int = 0, max_actions: int = 500) -> Controller:
    """Random experiments, sizes and targets until the budget is spent (a baseline)."""
    _at_least("random", "max_actions", max_actions, 0)
    return RandomController(seed, max_actions)


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
                if c.gain_bits >= self.min_gain and _fits(env, c.experiment, c.params, left)
            ]
            if not pool:
                return
            pick = max(pool, key=lambda c: (c.gain_bits / c.cost, c.gain_bits))
            plan = Planned(
                target=pick.target,
                experiment=pick.experiment,
                params=pick.params,
                expected_gain_bits=round(pick.gain_bits, 6),
                expected_cost=pick.cost,
            )
            env.audit.append(plan, actor=env.actor)
            _try(env, pick.target, pick.experiment, pick.params, pick.seed, progress)
            best.pop(pick.target, None)

    def candidates(
        self, env: ResearchEnvironment, target: str, names: Sequence[str]
    ) -> list[Candidate]:
        """Each experiment at each size on ``target``, with its expected gain in bits."""
        from neurath.research._voi import expected_information_gain, separation

        assert env.calibration is not None
        have = env.results.get(target, [])
        now = separation(env.manifest(target))
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
def voi(sizes: str = "0.5,1,2", min_gain: float = 1e-3, max_repeats: int = 2) -> Controller:
    """The next experiment, size and target by expected information gain per query under the
    correlated model: it prefers evidence that shares no factors with what a target has.

    ``sizes``: multiples of each experiment's calibrated size to consider; ``min_gain``: stop
    when nothing is expected to tell this many bits; ``max_repeats``: runs of one experiment on
    one target at most.
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
