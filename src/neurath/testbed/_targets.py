"""The ``organism`` target backend: an organism id in an organism store (registered with
:mod:`neurath.models` through the ``neurath.targets`` entry point)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neurath.models._backends import target_backend
from neurath.models._target import TargetModel
from neurath.testbed._store import OrganismStore


@target_backend("organism")
def organism(spec: str, *, organisms_dir: str | Path | None = None, **_: Any) -> TargetModel:
    """A built organism by id: ``organism:<id>`` (or the bare id), from ``organisms_dir``
    (default: ``$NEURATH_ORGANISMS`` or ``.neurath/organisms``)."""
    return OrganismStore(organisms_dir).load(spec)
