"""The organism store: where built organisms, their ground truth and calibration caches live.

This module is the one owner of the store's layout and the only reader of ground-truth cards::

    <root>/base/                 the family's initial model (a transformers folder)
    <root>/models/<id>/          each organism (a transformers folder; no ground truth inside)
    <root>/cards/<id>.json       each organism's ground truth (:class:`OrganismCard`)
    <root>/cards/_groups.json    id -> calibration or test (no ground truth)
    <root>/calibrations/<key>.json   calibrations, cached by what determines them

Labels reach the rest of neurath in two ways only: :meth:`OrganismStore.references` (the
calibration group's models with their labels, for fitting) and :meth:`OrganismStore.unseal`
(typed cards of named organisms, for scoring after assessment).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from neurath._errors import NeurathError
from neurath._names import check_name, child
from neurath.models._local import MARKER
from neurath.organisms._archetypes import ArchetypeParams

if TYPE_CHECKING:
    from neurath.experiments._probe import Reference
    from neurath.models._local import LocalModel

GROUPS_INDEX = "_groups.json"
"""cards/_groups.json (no organism id starts with "_"): organism id -> calibration or test.
It holds no ground truth, so the store can find the calibration group without opening a test
organism's card."""


def organisms_home() -> Path:
    """``$NEURATH_ORGANISMS`` if set, else ``.neurath/organisms`` under the working directory."""
    return Path(os.environ.get("NEURATH_ORGANISMS", ".neurath/organisms"))


class OrganismCard(BaseModel):
    """An organism's ground truth and provenance, stored apart from its weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    id: str
    archetype: str
    params: ArchetypeParams
    scheming: bool
    """Ground truth: does it covertly pursue a hidden objective?"""
    group: Literal["calibration", "test"]
    seed: int
    lineage: str
    """Hash of the base model it was fine-tuned from (shared weights are a shared factor)."""
    weights_sha256: str
    build_hash: str


class OrganismStore:
    """A folder of built organisms, their cards and calibration caches.

    Args:
        root: The store's folder (default: :func:`organisms_home`).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else organisms_home()

    def __repr__(self) -> str:
        return f"OrganismStore({str(self.root)!r})"

    # -- models ----------------------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        """The default lineage's base model (suites with one lineage)."""
        return self.lineage_dir("base")

    def lineage_dir(self, lineage: str) -> Path:
        """The base model of one lineage (a transformers folder): ``bases/<lineage>/``."""
        return child(self.root / "bases", lineage, "lineage")

    def model_dir(self, organism_id: str) -> Path:
        """The transformers folder of an organism (built or not)."""
        return child(self.root / "models", organism_id, "organism id")

    def is_built(self, organism_id: str) -> bool:
        """Whether the organism's folder holds a finished build."""
        return (self.model_dir(organism_id) / MARKER).exists()

    def load(self, organism_id: str, *, as_id: str | None = None) -> LocalModel:
        """The organism as a target model, named ``as_id`` (default: its id).

        Raises:
            NeurathError: It is not built here.
        """
        from neurath.models._local import LocalModel

        folder = self.model_dir(organism_id)
        if not folder.is_dir():
            raise NeurathError(
                f"no organism {organism_id!r} under {self.root / 'models'} "
                "(build organisms with 'neurath organisms build')"
            )
        return LocalModel(folder, model_id=as_id or organism_id)

    # -- cards: the ground truth -----------------------------------------------------------
    def write_card(self, card: OrganismCard) -> None:
        """Store an organism's ground truth (the build does, once its model is saved)."""
        folder = self.root / "cards"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{check_name(card.id, 'organism id')}.json"
        path.write_text(card.model_dump_json(indent=2))

    def write_groups(self, groups: Mapping[str, str]) -> None:
        """Record which organisms are calibration and which test organisms. Several suites
        may be built into one store: the index gains this suite's organisms and keeps the
        others' (written whole, then renamed, so a reader never sees half of it)."""
        folder = self.root / "cards"
        folder.mkdir(parents=True, exist_ok=True)
        index = folder / GROUPS_INDEX
        merged = self.groups() if index.exists() else {}
        merged.update(groups)
        tmp = folder / f"{GROUPS_INDEX}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(dict(sorted(merged.items())), indent=2) + "\n")
        tmp.replace(index)

    def groups(self) -> dict[str, str]:
        """Organism id -> ``calibration`` or ``test``.

        Raises:
            NeurathError: No suite was built here.
        """
        index = self.root / "cards" / GROUPS_INDEX
        if not index.exists():
            raise NeurathError(
                f"no organism group index at {index}: build the suite with "
                "'neurath organisms build' (it writes the index)"
            )
        groups: dict[str, str] = json.loads(index.read_text())
        return groups

    def calibration_labels(self, only: Iterable[str] | None = None) -> dict[str, bool]:
        """Calibration-group organism id -> whether it schemes (sorted by id). Only
        calibration cards are opened; a test organism's ground truth is never read.

        Args:
            only: The organisms to consider (a suite's); default: every one in the store.
        """
        groups = self.groups()
        if only is not None:
            wanted = set(only)
            groups = {k: v for k, v in groups.items() if k in wanted}
        return {
            oid: self._card(oid).scheming
            for oid, group in sorted(groups.items())
            if group == "calibration"
        }

    def references(self, only: Iterable[str] | None = None) -> list[Reference]:
        """The calibration group (of the organisms ``only``, default all) as labelled
        reference models (a probe's trainers)."""
        from neurath.experiments._probe import Reference

        out = []
        for oid, scheming in self.calibration_labels(only).items():
            out.append(
                Reference(
                    id=oid,
                    scheming=scheming,
                    load=lambda oid=oid: self.load(oid),  # type: ignore[misc]
                    key=str(self.model_dir(oid).resolve()),
                )
            )
        return out

    def unseal(self, organism_ids: Iterable[str]) -> dict[str, OrganismCard]:
        """The ground truth of the named organisms: for scoring, after every assessment."""
        return {oid: self._card(oid) for oid in organism_ids}

    def _card(self, organism_id: str) -> OrganismCard:
        path = self.root / "cards" / f"{check_name(organism_id, 'organism id')}.json"
        try:
            return OrganismCard.model_validate_json(path.read_text())
        except FileNotFoundError:
            raise NeurathError(
                f"no card for organism {organism_id!r} under {path.parent} "
                "(build the suite with 'neurath organisms build')"
            ) from None
        except (OSError, ValidationError) as exc:
            raise NeurathError(f"{path}: not an organism card: {exc}") from None

    # -- calibrations ----------------------------------------------------------------------
    def calibration_cache(self, key: str) -> Path:
        """Where a calibration identified by ``key`` (a content hash) is cached."""
        return self.root / "calibrations" / f"{key}.json"
