"""Target models: the interface every experiment uses, and its backends."""

from __future__ import annotations

from pathlib import Path

from neurath.models._paths import organisms_home
from neurath.models._target import ModelCard, TargetModel

__all__ = ["ModelCard", "TargetModel", "load_target", "organisms_home"]


def load_target(spec: str | Path, organisms_dir: str | Path | None = None) -> TargetModel:
    """Resolve a target: ``inspect:<provider>/<model>``, a model folder, or an organism id."""
    text = str(spec)
    if text.startswith("inspect:"):
        from neurath.models._inspect import InspectTarget

        return InspectTarget(text.removeprefix("inspect:"))
    from neurath.models._local import load_local

    target: TargetModel = load_local(spec, organisms_dir)
    return target
