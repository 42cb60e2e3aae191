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
from neurath.experiments._params import Param, coerce, parameters, show, type_problem
from neurath.experiments._result import ExperimentResult
from neurath.models._target import TargetModel

Progress = Callable[[int, int], None]
"""Called with (done, total) as an experiment works through its queries."""

ExperimentFn = Callable[..., ExperimentResult]
CostBound = Callable[[Mapping[str, Any]], int]
"""Resolved parameters -> the most target queries a run may take."""
Summary = Callable[[ExperimentResult], str]
"""A result -> one line for people (what the statistics alone do not say), or ``""``."""
Precheck = Callable[[Mapping[str, Any], Mapping[str, Any]], None]
"""(resolved parameters, context) -> None, or raises :class:`ExperimentError` for a value that
is wrong only given the context (a probe trainer that is not a reference model)."""

PATH_WORDS = ("dir", "dirs", "directory", "path", "paths", "file", "files", "filename", "folder")
"""Words that mark a parameter name as a path: refused at registration, since parameters are
set by controllers and a path would let one reach files outside the organism store (files an
experiment needs come through ``context``, set by whoever built the environment)."""

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
    precheck: Precheck | None = None
    """Checks that need the context, run by :meth:`validate` before anything is spent."""
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
        value checked against its default's type (:func:`type_problem`) and its checks."""
        if params is not None and not isinstance(params, Mapping):
            raise ExperimentError(
                f"parameters of {self.name!r} must be a mapping of names to values, "
                f"got {type(params).__name__}"
            )
        out = self.defaults
        for key, value in (params or {}).items():
            self._check_name(key)
            default = self.params[key].default
            out[key] = coerce(self.name, key, value, default)
            problem = type_problem(out[key], default)
            if problem:
                raise ExperimentError(
                    f"parameter {key!r} of {self.name!r} {problem}, got {show(value)}"
                )
        for key, value in out.items():
            for check in self.params[key].checks:
                problem = check.test(value)
                if problem:
                    raise ExperimentError(
                        f"parameter {key!r} of {self.name!r} {problem}, got {show(value)}"
                    )
        return out

    def _check_name(self, key: Any) -> None:
        if key in self.context:
            raise ExperimentError(
                f"experiment {self.name!r} has no parameter {key!r}: its {key} are given by "
                "whoever set up the run, never as a parameter"
            )
        if not isinstance(key, str) or key not in self.params:
            hint = did_you_mean(str(key), self.params)
            known = ", ".join(sorted(self.params)) or "none"
            raise ExperimentError(
                f"experiment {self.name!r} has no parameter {show(key)}{hint} (parameters: {known})"
            )

    def validate(
        self, params: Mapping[str, Any] | None, context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """:meth:`resolve`, then the checks that need the context: everything that can be
        known wrong before the experiment runs."""
        resolved = self.resolve(params)
        given = dict(context or {})
        missing = [k for k in self.context if k not in given]
        if missing:
            raise ExperimentError(
                f"experiment {self.name!r} needs {', '.join(missing)} from its caller (e.g. "
                "labelled reference models from an organism store: 'neurath organisms build')"
            )
        if self.precheck is not None:
            self.precheck(resolved, {k: given[k] for k in self.context})
        return resolved

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
    precheck: Precheck | None = None,
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
        precheck: (resolved parameters, context) -> None, raising :class:`ExperimentError`
            for what only the context can tell wrong; run before anything is spent.
    """

    def register(fn: ExperimentFn) -> ExperimentFn:
        params = parameters(fn, context)
        if size_param not in params:
            raise ExperimentError(
                f"experiment {name!r}: its size parameter {size_param!r} is not one of its "
                f"parameters ({', '.join(params) or 'none'})"
            )
        _refuse_paths(name, params)
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
                precheck=precheck,
                module=fn.__module__,
            ),
        )
        return fn

    return register


def _refuse_paths(name: str, params: Mapping[str, Param]) -> None:
    """A parameter that could name a file is refused: controllers set parameters."""
    import os

    for key, p in params.items():
        words = key.lower().replace("-", "_").split("_")
        pathlike = isinstance(p.default, os.PathLike)
        if pathlike or any(w in PATH_WORDS or w.endswith(("dir", "path")) for w in words):
            raise ExperimentError(
                f"experiment {name!r}: parameter {key!r} looks like a path; parameters are set "
                "by controllers, so give files through context instead"
            )


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
    resolved = info.validate(params, context)
    extra = {k: (context or {})[k] for k in info.context}
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
