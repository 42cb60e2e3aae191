"""Tools: the research environment's methods a controller may call, described once.

A method marked ``@tool`` is a tool. Its name, its parameters (from the signature and type
hints) and their descriptions (from the Google-style docstring's ``Args:`` section) become a
:class:`ToolSpec` with a JSON schema, which is what an LLM controller is shown and what its
calls are checked against before anything runs. Nothing is restated by hand, so a tool's
description cannot drift from the code that runs it.

The check is strict: a tool's argument has its declared type or is refused (no ``"5"`` or
``true`` for a whole number). The tools check their values again when they are called
(:func:`whole`, :func:`text`), before anything is written or spent, so a direct call is held
to the same rules.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from neurath._errors import ResearchError
from neurath.experiments._params import show

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__neurath_tool__"


def tool(fn: F) -> F:
    """Mark an environment method as a tool a controller may call."""
    setattr(fn, _MARK, True)
    return fn


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, what it does, and its parameters as a JSON schema."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    """A JSON-schema object: ``properties``, ``required``."""
    adapters: Mapping[str, TypeAdapter[Any]]

    def check(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """``arguments`` validated against the parameters' types.

        Raises:
            ResearchError: An unknown or missing argument, or one of the wrong type.
        """
        unknown = sorted(set(arguments) - set(self.adapters))
        if unknown:
            raise ResearchError(
                f"tool {self.name!r} has no argument {unknown[0]!r} "
                f"(arguments: {', '.join(self.adapters) or 'none'})"
            )
        missing = [k for k in self.parameters.get("required", []) if k not in arguments]
        if missing:
            raise ResearchError(f"tool {self.name!r} needs argument {missing[0]!r}")
        out = {}
        for key, value in arguments.items():
            try:
                out[key] = self.adapters[key].validate_python(value, strict=True)
            except ValidationError as exc:
                msg = exc.errors(include_url=False)[0]["msg"]
                raise ResearchError(f"tool {self.name!r}, argument {key!r}: {msg}") from None
        return out


def whole(tool: str, name: str, value: object, low: int, high: int) -> int:
    """``value`` if it is a whole number (not a bool) in ``low..high``.

    Raises:
        ResearchError: Naming the tool, the argument and the range.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ResearchError(
            f"{tool}'s {name} takes a whole number in {low}..{high:,}, got {show(value)}"
        )
    return value


def text(tool: str, name: str, value: object, limit: int) -> str:
    """``value`` if it is a non-blank string of at most ``limit`` characters of valid text.

    Raises:
        ResearchError: Naming the tool, the argument and what is wrong.
    """
    if not isinstance(value, str):
        raise ResearchError(f"{tool}'s {name} takes a string, got {show(value)}")
    if not value.strip():
        raise ResearchError(f"{tool}'s {name} is empty; give some text")
    if len(value) > limit:
        raise ResearchError(
            f"{tool}'s {name} has {len(value):,} characters; it takes at most {limit:,}"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ResearchError(f"{tool}'s {name} is not valid text (a lone surrogate)") from None
    return value


MAX_COUNT = 100_000
"""The most training steps, test honeypots or ratings one call may ask for."""
MAX_NEW_TOKENS = 256
"""The longest answer ``sample`` may ask for, in tokens."""
MAX_CALL_QUERIES = 1_000_000
"""The most queries one experiment a controller runs may be expected to take, and the largest
magnitude of its whole-number parameters, whatever the budget (an unlimited one included)."""
MAX_PROMPTS = 1000
"""Prompts one ``sample`` call may send."""
MAX_PROMPT_CHARS = 2000
"""The longest prompt, in characters, for any target (one that counts tokens is held to its
context too: :func:`check_prompts`)."""


def call_problem(experiment: str, resolved: Mapping[str, Any], cost: int) -> str | None:
    """What makes a controller's experiment call too large, or None: more than
    :data:`MAX_CALL_QUERIES` expected queries or a whole-number parameter beyond it."""
    if cost > MAX_CALL_QUERIES:
        return f"{experiment!r} would take about {cost:,} queries; one call takes at most " + (
            f"{MAX_CALL_QUERIES:,}"
        )
    for key, value in resolved.items():
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CALL_QUERIES:
            return f"parameter {key!r} of {experiment!r} must lie within +-{MAX_CALL_QUERIES:,}"
    return None


def check_prompts(model: object, prompts: object, max_new_tokens: int) -> list[str]:
    """``prompts`` if each is text the target can take with ``max_new_tokens`` more tokens.

    Every prompt is a non-blank string of at most :data:`MAX_PROMPT_CHARS` characters; a target
    that exposes ``context_length`` and ``count_tokens`` (local models) must also fit each
    prompt, at least one token long, and its answer in its context.

    Raises:
        ResearchError: Naming the first prompt at fault and the bound it breaks.
    """
    if not isinstance(prompts, list | tuple) or not 1 <= len(prompts) <= MAX_PROMPTS:
        got = len(prompts) if isinstance(prompts, list | tuple) else show(prompts)
        raise ResearchError(f"sample takes a list of 1 to {MAX_PROMPTS} prompts, got {got}")
    out = [text("sample", f"prompt {i + 1}", p, MAX_PROMPT_CHARS) for i, p in enumerate(prompts)]
    window = getattr(model, "context_length", None)
    count = getattr(model, "count_tokens", None)
    if isinstance(window, int) and callable(count):
        room = window - max_new_tokens
        for i, n in enumerate(count(out)):
            if not 1 <= n <= room:
                raise ResearchError(
                    f"sample's prompt {i + 1} is {n} tokens; this target takes 1 to "
                    f"{max(room, 0)} with max_new_tokens={max_new_tokens} "
                    f"(its context is {window} tokens)"
                )
    return out


def tool_specs(cls: type) -> dict[str, ToolSpec]:
    """Every ``@tool`` method of ``cls``, described from its signature and docstring."""
    out = {}
    for name, fn in inspect.getmembers(cls, predicate=inspect.isfunction):
        if getattr(fn, _MARK, False):
            out[name] = _spec(name, fn)
    return out


def _spec(name: str, fn: Callable[..., Any]) -> ToolSpec:
    hints = typing.get_type_hints(fn)
    doc = inspect.getdoc(fn) or ""
    described = _arg_docs(doc)
    properties: dict[str, Any] = {}
    adapters: dict[str, TypeAdapter[Any]] = {}
    required = []
    for p in list(inspect.signature(fn).parameters.values())[1:]:  # after self
        adapter: TypeAdapter[Any] = TypeAdapter(hints.get(p.name, Any))
        schema = dict(adapter.json_schema())
        if p.name in described:
            schema["description"] = described[p.name]
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
        elif p.default is not None:
            schema["default"] = p.default
        properties[p.name] = schema
        adapters[p.name] = adapter
    summary = doc.split("\n\n")[0].replace("\n", " ")
    return ToolSpec(
        name=name,
        description=summary,
        parameters={"type": "object", "properties": properties, "required": required},
        adapters=adapters,
    )


def _arg_docs(doc: str) -> dict[str, str]:
    """The ``Args:`` section of a Google-style docstring: name -> description."""
    match = re.search(r"^Args:\n((?:[ \t]+.*\n?|\n)+)", doc, flags=re.MULTILINE)
    if not match:
        return {}
    out: dict[str, str] = {}
    current = None
    for line in match.group(1).splitlines():
        item = re.match(r"^\s{2,8}(\w+)(?: \(.*?\))?:\s*(.*)$", line)
        if item and (current is None or not line.startswith(" " * 9)):
            current = item.group(1)
            out[current] = item.group(2).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
    return out
