"""Tools: the research environment's methods a controller may call, described once.

A method marked ``@tool`` is a tool. Its name, its parameters (from the signature and type
hints) and their descriptions (from the Google-style docstring's ``Args:`` section) become a
:class:`ToolSpec` with a JSON schema, which is what an LLM controller is shown and what its
calls are checked against before anything runs. Nothing is restated by hand, so a tool's
description cannot drift from the code that runs it.
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
                out[key] = self.adapters[key].validate_python(value)
            except ValidationError as exc:
                msg = exc.errors(include_url=False)[0]["msg"]
                raise ResearchError(f"tool {self.name!r}, argument {key!r}: {msg}") from None
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
