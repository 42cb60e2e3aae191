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
  query under the correlated model, or (engine 2) expected reduction of a decision loss
  (:mod:`neurath.research._voi`, :mod:`neurath.research._voi_v2`).
- ``llm``: an Inspect model with tool calls drives the environment (automation level 2;
  :mod:`neurath.research._llm`).
- ``saboteur``: a red team told which targets scheme, making them look safe within the rules
  (:mod:`neurath.research._saboteur`).
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
from neurath.research._environment import ResearchEnvironment
from neurath.research._events import Skipped
from neurath.research._parallel import prefetch
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
    red_team: bool = False
    """Told which targets scheme (option ``scheming``): a study fills that option in, says so in
    its audit log, and scores what the controller could make look safe."""


CONTROLLERS: Registry[ControllerInfo] = Registry(
    "controller",
    "neurath.controllers",
    builtins=[
        "neurath.research._controllers",
        "neurath.research._voi",
        "neurath.research._llm",
        "neurath.research._saboteur",
    ],
    error=ResearchError,
)


def controller(
    name: str, *, automation_level: int, red_team: bool = False
) -> Callable[[Callable[..., Controller]], Any]:
    """Register a controller factory under ``name``; its keyword defaults are its options. A
    ``red_team`` controller takes the scheming targets' ids as its option ``scheming``."""

    def register(factory: Callable[..., Controller]) -> Callable[..., Controller]:
        sig = inspect.signature(factory)
        defaults = {
            k: p.default for k, p in sig.parameters.items() if p.default is not inspect._empty
        }
        doc = (inspect.getdoc(factory) or "").split("\n\n")[0].replace("\n", " ")
        if red_team and "scheming" not in defaults:
            raise ResearchError(f"red-team controller {name!r} needs an option 'scheming'")
        info = ControllerInfo(name, automation_level, factory, doc, defaults, red_team)
        CONTROLLERS.add(name, info)
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
        # Known in advance: on a cluster, these start on the workers while results are written.
        todo = [(t, e) for t in env.target_ids for e in plan if not _done(env, t, e, env.seed)]
        prefetch(env, [(t, e, _plan_params(env, e), env.seed) for t, e in todo])
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
