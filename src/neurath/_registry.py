"""One registry for every kind of named component: experiments, controllers, target backends.

Each kind is a :class:`Registry` with a thin decorator in its own package
(``@experiment``, ``@controller``, ``@target_backend``) that fills it. A registry finds its
components in two places, once, on first use:

- its built-in modules (imported for their decorators);
- the Python entry points of its group (``neurath.experiments``, ``neurath.controllers``,
  ``neurath.targets``), so a separate installed package adds a component without an edit to
  neurath. Its ``pyproject.toml`` says, for example::

      [project.entry-points."neurath.experiments"]
      my-probe = "my_package.experiments"

  and ``my_package.experiments`` registers with ``@neurath.experiments.experiment(...)`` when
  it is imported. A plug-in that fails to import is an error naming the entry point, never a
  silently missing component.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from neurath._errors import NeurathError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Named components of one kind.

    Args:
        kind: What they are, in words (``experiment``), for error messages.
        group: The entry-point group that plug-ins register under.
        builtins: Modules whose import registers the built-in components.
        error: The exception raised for an unknown name.
    """

    def __init__(
        self,
        kind: str,
        group: str,
        builtins: Sequence[str] = (),
        error: Callable[[str], Exception] = NeurathError,
    ) -> None:
        self.kind, self.group = kind, group
        self._builtins = tuple(builtins)
        self._error = error
        self._items: dict[str, T] = {}
        self._discovered = False
        self._discovering = False

    def add(self, name: str, item: T) -> None:
        """Register ``item`` as ``name`` (a later registration of the name replaces it, so a
        module imported twice, or a test's stand-in, wins deterministically)."""
        if not name or not isinstance(name, str):
            raise self._error(f"a {self.kind} needs a non-empty name, got {name!r}")
        self._items[name] = item

    def discover(self) -> None:
        """Import the built-ins and load every entry point of the group (once)."""
        if self._discovered or self._discovering:
            return
        self._discovering = True
        try:
            for module in self._builtins:
                importlib.import_module(module)
            for ep in entry_points(group=self.group):
                try:
                    ep.load()
                except Exception as exc:
                    raise self._error(
                        f"the {self.kind} plug-in {ep.name!r} ({ep.value}, entry point group "
                        f"{self.group!r}) failed to load: {type(exc).__name__}: {exc}"
                    ) from exc
            self._discovered = True
        finally:
            self._discovering = False

    def all(self) -> dict[str, T]:
        """Every registered component, by name."""
        self.discover()
        return dict(self._items)

    def get(self, name: str) -> T:
        """The component registered as ``name``; an error suggests the closest name."""
        known = self.all()
        if name not in known:
            hint = did_you_mean(name, known)
            raise self._error(
                f"no {self.kind} {name!r}{hint} (registered: {', '.join(sorted(known))})"
            )
        return known[name]

    def __contains__(self, name: object) -> bool:
        return name in self.all()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.all()))
