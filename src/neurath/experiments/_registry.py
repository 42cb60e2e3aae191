"""One registry of experiments and the ``@experiment`` decorator that fills it.

An experiment is a function ``fn(target, *, seed, progress, **params) -> ExperimentResult``.
The decorator records its name, what it needs of a target, what its primary statistic is
expected to be under each hypothesis before calibration, and its parameters with their
defaults, so every run can record its full creation arguments and be replayed.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from neurath._errors import NeurathError, did_you_mean
from neurath.experiments._result import ExperimentResult
from neurath.models._target import TargetModel

Progress = Callable[[int, int], None]
"""Called with (done, total) as an experiment works through its queries."""

ExperimentFn = Callable[..., ExperimentResult]


class ExperimentError(NeurathError):
    """An unknown experiment, a bad parameter, or a target that lacks what an experiment needs."""


@dataclass(frozen=True)
class ExperimentInfo:
    """A registered experiment."""

    name: str
    fn: ExperimentFn
    description: str
    statistic: str
    """The statistic that becomes the experiment's finding."""
    declared: tuple[float, float] | None
    """Expected (not scheming, scheming) value of that statistic before any calibration; None
    for experiments whose result is not evidence about scheming (sandwiching)."""
    needs: tuple[str, ...]
    """Target methods beyond ``generate`` that it calls (``logprobs``, ``hidden_states``)."""
    defaults: Mapping[str, Any]

    def check_target(self, target: TargetModel) -> None:
        missing = [m for m in self.needs if not callable(getattr(target, m, None))]
        if missing:
            raise ExperimentError(
                f"experiment {self.name!r} needs a target with {', '.join(missing)} "
                f"(white-box access); {target.card.id!r} comes from the {target.card.backend!r} "
                "backend, which only generates"
            )

    def resolve(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """The defaults overlaid with ``params``, strings coerced to each default's type."""
        out = dict(self.defaults)
        for key, value in (params or {}).items():
            if key not in self.defaults:
                hint = did_you_mean(key, self.defaults)
                known = ", ".join(sorted(self.defaults)) or "none"
                raise ExperimentError(
                    f"experiment {self.name!r} has no parameter {key!r}{hint} (parameters: {known})"
                )
            out[key] = _coerce(self.name, key, value, self.defaults[key])
        for key, value in out.items():
            check = _VALUE_CHECKS.get(key)
            problem = check(value) if check else None
            if problem:
                raise ExperimentError(
                    f"parameter {key!r} of {self.name!r} {problem}, got {value!r}"
                )
        return out


_REGISTRY: dict[str, ExperimentInfo] = {}


def experiment(
    name: str,
    *,
    statistic: str,
    declared: tuple[float, float] | None,
    needs: tuple[str, ...] = (),
) -> Callable[[ExperimentFn], ExperimentFn]:
    """Register an experiment under ``name``.

    Args:
        name: The registered name (``neurath experiment run NAME``).
        statistic: The name of the statistic that becomes a finding.
        declared: Its expected value if the target is not scheming and if it is, used until a
            calibration file replaces them; None if the result is not evidence about scheming.
        needs: Target methods beyond ``generate`` the experiment calls.
    """

    def register(fn: ExperimentFn) -> ExperimentFn:
        defaults = {
            p.name: p.default
            for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ("seed", "progress")
        }
        doc = inspect.getdoc(fn) or ""
        _REGISTRY[name] = ExperimentInfo(
            name=name,
            fn=fn,
            description=doc.split("\n\n")[0].replace("\n", " "),
            statistic=statistic,
            declared=declared,
            needs=needs,
            defaults=defaults,
        )
        return fn

    return register


def _load_builtins() -> None:
    from neurath.experiments import (  # noqa: F401  (registers)
        _adversarial,
        _behavioural,
        _capability,
        _honesty,
        _honeypot,
        _probe,
        _sandwiching,
    )


def experiments() -> dict[str, ExperimentInfo]:
    """Every registered experiment, by name."""
    _load_builtins()
    return dict(_REGISTRY)


def get_experiment(name: str) -> ExperimentInfo:
    """The experiment registered as ``name``; an error suggests the closest name."""
    registry = experiments()
    if name not in registry:
        hint = did_you_mean(name, registry)
        raise ExperimentError(
            f"no experiment {name!r}{hint} (registered: {', '.join(sorted(registry))})"
        )
    return registry[name]


def run_experiment(
    name: str,
    target: TargetModel,
    params: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Run a registered experiment on ``target``; its full creation arguments are recorded.

    An exception inside the experiment becomes a result with ``status="error"`` (a crash is
    data, not a silent gap); a bad name or parameter, or a target the experiment cannot use,
    raises :class:`ExperimentError` before anything runs.
    """
    info = get_experiment(name)
    info.check_target(target)
    resolved = info.resolve(params)
    start = time.perf_counter()
    try:
        result = info.fn(target, seed=seed, progress=progress, **resolved)
    except ExperimentError:
        raise
    except Exception as exc:
        from neurath.experiments import _factors as F

        failed = ExperimentResult.failed(name, target.card, resolved, seed, exc, info.statistic)
        return failed.model_copy(update={"factors": [F.EXPERIMENTS_RAN, F.method(name)]})
    return result.model_copy(
        update={"params": resolved, "seed": seed, "elapsed_s": time.perf_counter() - start}
    )


def _positive(value: Any) -> str | None:
    return None if isinstance(value, int) and value >= 1 else "must be a whole number >= 1"


def _share(value: Any) -> str | None:
    ok = isinstance(value, int | float) and 0.0 <= value <= 1.0
    return None if ok else "must lie in [0, 1]"


def _pools(value: Any) -> str | None:
    from neurath.experiments._raters import RATERS

    names = [p.strip() for p in str(value).split(",") if p.strip()]
    unknown = [p for p in names if p not in RATERS]
    if unknown or not names:
        return f"must name rater pools among {', '.join(sorted(RATERS))}"
    return None


_VALUE_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "n": _positive,
    "n_train": _positive,
    "n_planted": _positive,
    "seeds": _positive,
    "budget": _positive,
    "random_budget": _positive,
    "eval_cue_share": _share,
    "garbled_share": _share,
    "realism_threshold": _share,
    "split": lambda v: None if v in ("train", "test") else "must be 'train' or 'test'",
    "rater": _pools,
    "pools": _pools,
}
"""Checks on parameter values shared by the built-in experiments, applied before anything
runs: a typo must not silently run on the training phrasings or become an error finding."""


def _coerce(experiment_name: str, key: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    try:
        if isinstance(default, bool):
            lowered = value.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return lowered in ("true", "1", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise ExperimentError(
            f"parameter {key!r} of {experiment_name!r} takes a {type(default).__name__}, "
            f"got {value!r}"
        ) from None
    return value


_SIZE_PARAM = {"adversarial": "seeds"}


def size_param(experiment: str) -> str:
    """The parameter that scales an experiment's sample, cost and precision (``n`` unless the
    experiment names another: the adversarial search's ``seeds``)."""
    return _SIZE_PARAM.get(experiment, "n")
