"""Experiment parameters as a schema: read from the experiment's signature.

An experiment declares its parameters as keyword-only arguments with defaults; a constraint
rides on the annotation (``n: Positive = 400``), so the schema, the check and the default
are written once, beside the code that uses them::

    @experiment("honeypot", statistic="harmful_rate_realistic", declared=(0.0, 0.6))
    def honeypot(target, *, seed=0, progress=None, n: Positive = 400, split: SplitName = "test"):
        ...

Strings (from a command line) are coerced to the default's type; then every value is checked
before anything runs, so a typo never silently runs on the training phrasings or becomes an
error finding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from neurath._errors import ExperimentError


@dataclass(frozen=True)
class Check:
    """A constraint on one parameter: ``test(value)`` returns what is wrong, or None."""

    test: Callable[[Any], str | None]
    json_schema: Mapping[str, Any] = ()  # type: ignore[assignment]
    """Extra JSON-schema keywords for tool descriptions (``minimum``, ``enum``, ...)."""


def _positive(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else "must be a whole number >= 1"


def _share(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    return None if ok else "must lie in [0, 1]"


def _split(value: Any) -> str | None:
    return None if value in ("train", "test") else "must be 'train' or 'test'"


def _pools(value: Any) -> str | None:
    from neurath.experiments._raters import RATERS

    names = [p.strip() for p in str(value).split(",") if p.strip()]
    unknown = [p for p in names if p not in RATERS]
    if unknown or not names:
        return f"must name rater pools among {', '.join(sorted(RATERS))}"
    return None


Positive = Annotated[int, Check(_positive, {"minimum": 1})]
"""A whole number >= 1 (a sample size, a search budget)."""
Share = Annotated[float, Check(_share, {"minimum": 0, "maximum": 1})]
"""A proportion in [0, 1]."""
SplitName = Annotated[str, Check(_split, {"enum": ["train", "test"]})]
"""``train`` (the phrasings organisms were trained on) or ``test`` (held-out phrasings)."""
RaterPools = Annotated[str, Check(_pools)]
"""Rater pool names, comma-separated (``limited``, ``assisted``, ``expert``)."""

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


@dataclass(frozen=True)
class Param:
    """One parameter of a registered experiment."""

    name: str
    default: Any
    checks: tuple[Check, ...] = ()

    def json_schema(self) -> dict[str, Any]:
        """A JSON-schema property for tool descriptions (LLM controllers)."""
        out: dict[str, Any] = {"default": self.default}
        kind = _JSON_TYPES.get(type(self.default))
        if kind:
            out["type"] = kind
        for check in self.checks:
            out.update(dict(check.json_schema or {}))
        return out


def parameters(fn: Callable[..., Any], context: tuple[str, ...]) -> dict[str, Param]:
    """The keyword-only parameters of an experiment function with their defaults and checks
    (``seed``, ``progress`` and the context it is given are not parameters)."""
    import inspect

    out = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        if p.name in ("seed", "progress", *context):
            continue
        meta = getattr(_annotation(fn, p.annotation), "__metadata__", ())
        checks = tuple(m for m in meta if isinstance(m, Check))
        out[p.name] = Param(p.name, p.default, checks)
    return out


def _annotation(fn: Callable[..., Any], annotation: Any) -> Any:
    """The annotation as an object (modules with postponed annotations store a string); one
    that does not resolve carries no checks."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, getattr(fn, "__globals__", {}))
    except Exception:
        return None


def coerce(experiment: str, key: str, value: Any, default: Any) -> Any:
    """A string (from a command line) as the default's type; anything else as it is."""
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
            f"parameter {key!r} of {experiment!r} takes a {type(default).__name__}, got {value!r}"
        ) from None
    return value
