"""The experiments' registry and the ``@experiment`` decorator that fills it.

An experiment is a function ``fn(target, *, seed, progress, **params) -> ExperimentResult``.
The decorator records everything the rest of neurath needs to know about it, so nothing
outside the experiment branches on its name: what it needs of a target, what its primary
statistic is expected to be under each hypothesis before calibration, its parameters (schema,
defaults and checks, from its signature), which parameter sizes it and what it may cost, what
it is given beyond its parameters (``context``: e.g. labelled reference models for a probe),
and a one-line summary of a result for people. Every run records its full creation arguments,
so it can be replayed.

The registry is :class:`neurath._registry.Registry`: built-in experiments, then any installed
package's ``neurath.experiments`` entry points.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from neurath._errors import ExperimentError, did_you_mean
from neurath._registry import Registry
from neurath.experiments._params import Param, coerce, parameters
from neurath.experiments._result import ExperimentResult
from neurath.models._target import TargetModel

Progress = Callable[[int, int], None]
"""Called with (done, total) as an experiment works through its queries."""

ExperimentFn = Callable[..., ExperimentResult]
CostBound = Callable[[Mapping[str, Any]], int]
"""Resolved parameters -> the most target queries a run may take."""
Summary = Callable[[ExperimentResult], str]
"""A result -> one line for people (what the statistics alone do not say), or ``""``."""

__all__ = ["ExperimentError", "ExperimentInfo", "experiment", "experiments", "get_experiment"]


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
    params: Mapping[str, Param]
    """Its parameters, from its signature: defaults and checks."""
    size_param: str = "n"
    """The parameter that scales its sample, cost and precision."""
    cost: CostBound | None = None
    """The most queries a run may take; default: the size parameter's value."""
    summary: Summary | None = None
    context: tuple[str, ...] = ()
    """What a caller must give it beyond parameters (``references``: labelled reference
    models); never settable as a parameter."""
    module: str = field(default="", compare=False)

    @property
    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items()}

    def check_target(self, target: TargetModel) -> None:
        missing = [m for m in self.needs if not callable(getattr(target, m, None))]
        if missing:
            raise ExperimentError(
                f"experiment {self.name!r} needs a target with {', '.join(missing)} "
                f"(white-box access); {target.card.id!r} comes from the {target.card.backend!r} "
                "backend, which only generates"
            )

    def applicable(self, target: TargetModel) -> bool:
        """Whether ``target`` offers every method the experiment calls."""
        return all(callable(getattr(target, m, None)) for m in self.needs)

    def resolve(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """The defaults overlaid with ``params``, strings coerced to each default's type, every
        value checked."""
        out = self.defaults
        for key, value in (params or {}).items():
            if key not in self.params:
                hint = did_you_mean(key, self.params)
                known = ", ".join(sorted(self.params)) or "none"
                raise ExperimentError(
                    f"experiment {self.name!r} has no parameter {key!r}{hint} (parameters: {known})"
                )
            out[key] = coerce(self.name, key, value, self.params[key].default)
        for key, value in out.items():
            for check in self.params[key].checks:
                problem = check.test(value)
                if problem:
                    raise ExperimentError(
                        f"parameter {key!r} of {self.name!r} {problem}, got {value!r}"
                    )
        return out

    def max_queries(self, params: Mapping[str, Any] | None) -> int:
        """The most target queries a run with ``params`` may take (before any has run)."""
        resolved = self.resolve(params)
        if self.cost is not None:
            return int(self.cost(resolved))
        return int(resolved.get(self.size_param, 0))

    def note(self, result: ExperimentResult) -> str:
        """What the experiment says of one of its results in a line (``""``: nothing more than
        its statistics)."""
        if self.summary is None or result.status != "ok":
            return ""
        return self.summary(result)

    def json_schema(self) -> dict[str, Any]:
        """Its parameters as a JSON-schema object (for tool descriptions)."""
        return {
            "type": "object",
            "properties": {k: p.json_schema() for k, p in self.params.items()},
            "additionalProperties": False,
        }


EXPERIMENTS: Registry[ExperimentInfo] = Registry(
    "experiment",
    "neurath.experiments",
    builtins=[
        f"neurath.experiments._{m}"
        for m in (
            "adversarial",
            "behavioural",
            "capability",
            "honesty",
            "honeypot",
            "probe",
            "sandwiching",
        )
    ],
    error=ExperimentError,
)


def experiment(
    name: str,
    *,
    statistic: str,
    declared: tuple[float, float] | None,
    needs: tuple[str, ...] = (),
    size_param: str = "n",
    cost: CostBound | None = None,
    summary: Summary | None = None,
    context: tuple[str, ...] = (),
) -> Callable[[ExperimentFn], ExperimentFn]:
    """Register an experiment under ``name``.

    Args:
        name: The registered name (``neurath experiment run NAME``).
        statistic: The name of the statistic that becomes a finding.
        declared: Its expected value if the target is not scheming and if it is, used until a
            calibration file replaces them; None if the result is not evidence about scheming.
        needs: Target methods beyond ``generate`` the experiment calls.
        size_param: The parameter that scales its sample (default ``n``).
        cost: Resolved parameters -> the most queries a run may take (default: the size).
        summary: A result -> one line for people.
        context: Keyword arguments a caller must supply that are not parameters.
    """

    def register(fn: ExperimentFn) -> ExperimentFn:
        params = parameters(fn, context)
        if size_param not in params:
            raise ExperimentError(
                f"experiment {name!r}: its size parameter {size_param!r} is not one of its "
                f"parameters ({', '.join(params) or 'none'})"
            )
        doc = (fn.__doc__ or "").strip()
        EXPERIMENTS.add(
            name,
            ExperimentInfo(
                name=name,
                fn=fn,
                description=" ".join(doc.split("\n\n")[0].split()),
                statistic=statistic,
                declared=declared,
                needs=needs,
                params=params,
                size_param=size_param,
                cost=cost,
                summary=summary,
                context=context,
                module=fn.__module__,
            ),
        )
        return fn

    return register


def experiments() -> dict[str, ExperimentInfo]:
    """Every registered experiment, by name (built-ins and installed plug-ins)."""
    return EXPERIMENTS.all()


def get_experiment(name: str) -> ExperimentInfo:
    """The experiment registered as ``name``; an error suggests the closest name."""
    return EXPERIMENTS.get(name)


def run_experiment(
    name: str,
    target: TargetModel,
    params: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    context: Mapping[str, Any] | None = None,
) -> ExperimentResult:
    """Run a registered experiment on ``target``; its full creation arguments are recorded.

    ``context`` holds what experiments are given beyond parameters (``references``: labelled
    reference models); each gets only the entries it declared.

    An exception inside the experiment becomes a result with ``status="error"`` (a crash is
    data, not a silent gap); a bad name or parameter, a target the experiment cannot use, or
    missing context raises :class:`ExperimentError` before anything runs.
    """
    info = get_experiment(name)
    info.check_target(target)
    resolved = info.resolve(params)
    given = dict(context or {})
    missing = [k for k in info.context if k not in given]
    if missing:
        raise ExperimentError(
            f"experiment {name!r} needs {', '.join(missing)} from its caller (e.g. labelled "
            "reference models from an organism store: 'neurath organisms build')"
        )
    extra = {k: given[k] for k in info.context}
    start = time.perf_counter()
    try:
        result = info.fn(target, seed=seed, progress=progress, **resolved, **extra)
    except ExperimentError:
        raise
    except Exception as exc:
        from neurath.experiments import _factors as F

        failed = ExperimentResult.failed(name, target.card, resolved, seed, exc, info.statistic)
        return failed.model_copy(update={"factors": [F.EXPERIMENTS_RAN, F.method(name)]})
    return result.model_copy(
        update={"params": resolved, "seed": seed, "elapsed_s": time.perf_counter() - start}
    )
