"""Experiment parameters as a schema: read from the experiment's signature.

An experiment declares its parameters as keyword-only arguments with defaults; a constraint
rides on the annotation (``n: Positive = 400``), so the schema, the check and the default
are written once, beside the code that uses them::

    @experiment("honeypot", statistic="harmful_rate_realistic", declared=(0.0, 0.6))
    def honeypot(target, *, seed=0, progress=None, n: Positive = 400, split: SplitName = "test"):
        ...

Strings (from a command line) are coerced to the default's type; then every value is checked
before anything runs, first against its default's type (:func:`type_problem`: a whole number
for an int, a finite number for a float, bounded), then against its annotation's checks, so a
typo never silently runs on the training phrasings or becomes an error finding.
"""

from __future__ import annotations

import math
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


def _class_weight(value: Any) -> str | None:
    return None if value in ("balanced", "none") else "must be 'balanced' or 'none'"


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
ClassWeight = Annotated[str, Check(_class_weight, {"enum": ["balanced", "none"]})]
"""``balanced`` (classes weighted to equal totals) or ``none``."""
RaterPools = Annotated[str, Check(_pools)]
"""Rater pool names, comma-separated (``limited``, ``assisted``, ``expert``)."""

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}

MAX_MAGNITUDE = 10**9
"""The largest magnitude a number parameter (or option) may have: beyond any sample size, yet
small enough that no count overflows torch, numpy or a budget."""
MAX_TEXT = 4096
"""The longest string parameter (or option), in characters."""


def type_problem(value: Any, default: Any) -> str | None:
    """What is wrong with ``value`` for a setting whose default is ``default``, or None.

    The default's type is the setting's type: a bool takes a bool; an int a whole number (not
    a bool, not a float); a float a finite number (not a bool); a str a string. Numbers lie
    within +-:data:`MAX_MAGNITUDE`, strings within :data:`MAX_TEXT` characters. A default of
    another type takes a value of its type; a default of None takes a plain JSON scalar.
    """
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "takes true or false"
    if isinstance(value, bool) and isinstance(default, int | float):
        return "takes a number, not true or false"
    if isinstance(default, int) or (default is None and isinstance(value, int)):
        return _bounded(value) if isinstance(value, int) else "takes a whole number"
    if isinstance(default, float) or (default is None and isinstance(value, float)):
        if not isinstance(value, int | float):
            return "takes a number"
        return _bounded(value) if math.isfinite(value) else "takes a finite number"
    if isinstance(default, str) or (default is None and isinstance(value, str)):
        if not isinstance(value, str):
            return "takes a string"
        if len(value) > MAX_TEXT:
            return f"takes at most {MAX_TEXT} characters"
        return None if value.isascii() or _utf8(value) else "takes valid text (UTF-8)"
    if default is None:
        return None if value is None else "takes a string, a number, true or false"
    if not isinstance(value, type(default)):
        return f"takes a {type(default).__name__}"
    return None


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bounded(value: float) -> str | None:
    if abs(value) > MAX_MAGNITUDE:
        return f"must lie within +-{MAX_MAGNITUDE:,}"
    return None


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters for a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
            return number
    except ValueError:
        raise ExperimentError(
            f"parameter {key!r} of {experiment!r} takes a {type(default).__name__}, "
            f"got {show(value)}"
        ) from None
    return value
