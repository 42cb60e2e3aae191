"""Target backends: how a target spec (``inspect:openai/gpt-4o``, a folder, an organism id)
becomes a :class:`~neurath.models.TargetModel`.

A backend is registered under a name with ``@target_backend(name)`` and addressed as
``name:rest``. Built in: ``inspect`` (any Inspect model) and ``local`` (a transformers
folder). The testbed adds ``organism`` (an organism id in an organism store) through the
``neurath.targets`` entry point, as any installed package can add another backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurath._errors import NeurathError
from neurath._registry import Registry
from neurath.models._target import TargetModel

BackendLoader = Callable[..., TargetModel]
"""(the spec after ``name:``, **options) -> a target."""


@dataclass(frozen=True)
class TargetBackend:
    name: str
    load: BackendLoader
    description: str


TARGETS: Registry[TargetBackend] = Registry(
    "target backend", "neurath.targets", builtins=["neurath.models._backends"]
)


def target_backend(name: str) -> Callable[[BackendLoader], BackendLoader]:
    """Register a function ``(spec, **options) -> TargetModel`` as the backend ``name``."""

    def register(fn: BackendLoader) -> BackendLoader:
        doc = " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())
        TARGETS.add(name, TargetBackend(name, fn, doc))
        return fn

    return register


@target_backend("inspect")
def _inspect(spec: str, **options: Any) -> TargetModel:
    """Any model Inspect reaches: ``inspect:<provider>/<model>`` (generation only)."""
    from neurath.models._inspect import InspectTarget

    provider, _, model = spec.partition("/")
    if not provider or not model:
        raise NeurathError(f"inspect:{spec}: name a model as inspect:<provider>/<model>")
    try:
        return InspectTarget(spec)
    except (ValueError, LookupError) as exc:  # Inspect's word for a model it cannot make
        raise NeurathError(f"inspect:{spec}: {exc}") from None


@target_backend("local")
def _local(spec: str, **options: Any) -> TargetModel:
    """A local transformers folder: ``local:<path>`` (white-box: logprobs, hidden states)."""
    from neurath.models._local import LocalModel

    return LocalModel(Path(spec))


def load_target(spec: str | Path, organisms_dir: str | Path | None = None) -> TargetModel:
    """Resolve a target: ``<backend>:<spec>``, a model folder, or an organism id.

    A bare spec is a folder if one exists there, else an organism id (the ``organism``
    backend, given ``organisms_dir``).
    """
    text = str(spec)
    name, sep, rest = text.partition(":")
    if sep and name in TARGETS:
        return TARGETS.get(name).load(rest, organisms_dir=organisms_dir)
    if Path(text).is_dir():
        return TARGETS.get("local").load(text)
    if "organism" not in TARGETS:
        raise NeurathError(
            f"no model folder {text!r}, and no organism backend to look it up as an organism "
            "id (is neurath installed? its 'neurath.targets' entry point adds it)"
        )
    return TARGETS.get("organism").load(text, organisms_dir=organisms_dir)
