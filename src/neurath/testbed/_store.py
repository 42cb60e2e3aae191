"""The organism store: where built organisms, their ground truth and calibration caches live.

This module is the one owner of the store's layout and the only reader of ground-truth cards::

    <root>/bases/<lineage>/      each lineage's base model (a transformers folder)
    <root>/models/<token>/       each organism (a transformers folder; no ground truth inside),
                                 named by a keyed hash of its id: the name says nothing of it
    <root>/cards/<id>.json       each organism's ground truth (:class:`OrganismCard`)
    <root>/cards/_groups.json    the calibration group's ids (no test id, no ground truth)
    <root>/cards/_store.key      the store's random secret: organism id -> folder, aliases, seals
    <root>/calibrations/<key>.json   calibrations, cached by what determines them

The cards area is the only place an organism's id is tied to its folder, so a study's research
stage, handed folders and opaque names only, cannot find its way back to ground truth: a study
reads the cards area while calibrating and sealing, and again only to unseal and score.

Labels reach the rest of neurath in two ways only: :meth:`OrganismStore.references` (the
calibration group's models with their labels, for fitting) and :meth:`OrganismStore.unseal`
(typed cards of named organisms, for scoring after assessment).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
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
"""cards/_groups.json (no organism id starts with "_"): the calibration group's ids, each ->
``calibration``. It holds no ground truth and no test organism, so the store finds the
calibration group without opening a test organism's card or listing the test group."""

STORE_KEY = "_store.key"
"""cards/_store.key: the store's random secret (hex), made with its first organism folder."""

ALIAS_PREFIX = "reference-"
"""A calibration organism's name in a blind study: this and a keyed hash of its id."""


_CLOSED: dict[str, int] = {}
"""Resolved store folders whose cards area is closed (research running) -> how many closings."""


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
    training_checks: tuple[float, ...] = ()
    """Agreement with its policy on training phrasings after each training round (the build's
    checks; more than one entry: it needed extra rounds). Kept here, not in the model folder:
    the number of rounds hints at the mechanism."""


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
        """The transformers folder of an organism (built or not): ``models/<token>/``, the
        token a keyed hash of the id (reads the store's key in the cards area).

        Raises:
            NeurathError: The id cannot name a folder, or the store has organism folders but
                no key (built by an older neurath, or its cards folder is gone).
        """
        check_name(organism_id, "organism id")
        return self.root / "models" / self._keyed("model", organism_id)[:32]

    def is_built(self, organism_id: str) -> bool:
        """Whether the organism's folder holds a finished build (a store with no key has
        none, and is left as it is)."""
        if not self._has_key():
            check_name(organism_id, "organism id")
            return False
        return (self.model_dir(organism_id) / MARKER).exists()

    def load(self, organism_id: str, *, as_id: str | None = None) -> LocalModel:
        """The organism as a target model, named ``as_id`` (default: its id).

        Raises:
            NeurathError: It is not built here.
        """
        from neurath.models._local import LocalModel

        if not self.is_built(organism_id):
            raise NeurathError(
                f"no organism {organism_id!r} in {self.root} "
                "(build organisms with 'neurath organisms build')"
            )
        return LocalModel(self.model_dir(organism_id), model_id=as_id or organism_id)

    def alias(self, organism_id: str) -> str:
        """A calibration organism's name in a blind study (``reference-<hash>``): stable in
        this store, and telling nothing of the organism without the cards area."""
        check_name(organism_id, "organism id")
        return ALIAS_PREFIX + self._keyed("reference", organism_id)[:10]

    def sealed_name(self, organism_id: str, seal_key: str) -> str:
        """What a run's seal records for a target: a hash of the organism's id keyed with both
        the store's secret and the run's seal key, so that only a reader of the cards area can
        tell which organism a run's target is."""
        check_name(organism_id, "organism id")
        return self._keyed(f"seal\0{seal_key}", organism_id)[:32]

    def build_label(self, organism_id: str, build_hash: str) -> str:
        """What an organism folder's marker records as its build: the build hash keyed with
        the store's secret and the id (the plain hash, a function of the suite's spec, would
        tell a reader of the folders which organism each is)."""
        check_name(organism_id, "organism id")
        return self._keyed("build", f"{organism_id}\0{build_hash}")

    def key_id(self) -> str:
        """A short fingerprint of the store's key (the same store built afresh gets another):
        calibrations made with aliases are cached under it."""
        return self._keyed("key-id", "")[:12]

    def _keyed(self, purpose: str, text: str) -> str:
        message = f"{purpose}\0{text}".encode()
        return hmac.new(self._key(), message, hashlib.sha256).hexdigest()

    def _has_key(self) -> bool:
        """Whether the store has its key. One without must hold no organism folder: one that
        does (an older layout, or its cards folder gone) raises."""
        key = self._cards_area() / STORE_KEY
        if key.exists():
            return True
        self._check_no_unkeyed_models(key)
        return False

    def _key(self) -> bytes:
        """The store's secret, made (once, whoever comes first) for a store with no organisms."""
        path = self._cards_area() / STORE_KEY
        if not self._has_key():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{STORE_KEY}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            try:
                os.link(tmp, path)  # never replaces a key another process made first
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        try:
            key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        except (OSError, ValueError) as exc:
            raise NeurathError(f"{path}: not an organism store's key ({exc})") from None
        if len(key) < 16:
            raise NeurathError(f"{path}: not an organism store's key (too short)")
        return key

    def _check_no_unkeyed_models(self, key: Path) -> None:
        models = self.root / "models"
        if models.is_dir() and any(models.iterdir()):
            raise NeurathError(
                f"{models} holds organisms but there is no store key at {key}: the store was "
                "built by an older neurath (folders named by organism id, which would give a "
                "blind study's targets away) or its cards folder is missing. The store is a "
                f"cache: delete {models} and {key.parent}, then build again "
                "('neurath organisms build')"
            )

    # -- cards: the ground truth -----------------------------------------------------------
    @contextmanager
    def cards_closed(self) -> Iterator[None]:
        """Close the cards area while the block runs: every store on this folder then refuses
        to read or write a card, the group index or the store's key (a study's research and
        assessment run so; the stages before and after read what they need)."""
        root = str(self.root.resolve())
        _CLOSED[root] = _CLOSED.get(root, 0) + 1
        try:
            yield
        finally:
            _CLOSED[root] -= 1
            if not _CLOSED[root]:
                del _CLOSED[root]

    def _cards_area(self) -> Path:
        """The cards folder, unless a study has closed it (:meth:`cards_closed`)."""
        if _CLOSED and str(self.root.resolve()) in _CLOSED:
            raise NeurathError(
                f"{self.root}: the cards area is closed while research runs (ground truth is "
                "read only to unseal and score)"
            )
        return self.root / "cards"

    def write_card(self, card: OrganismCard) -> None:
        """Store an organism's ground truth (the build does, once its model is saved)."""
        folder = self._cards_area()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{check_name(card.id, 'organism id')}.json"
        path.write_text(card.model_dump_json(indent=2))

    def write_groups(self, groups: Mapping[str, str]) -> None:
        """Record which organisms are the calibration group (test organisms are not listed:
        an organism named ``test`` here leaves the index). Several suites may be built into
        one store: the index gains this suite's calibration organisms and keeps the others'
        (written whole, then renamed, so a reader never sees half of it)."""
        folder = self._cards_area()
        folder.mkdir(parents=True, exist_ok=True)
        index = folder / GROUPS_INDEX
        merged = self.groups() if index.exists() else {}
        for oid, group in groups.items():
            check_name(oid, "organism id")
            if group == "calibration":
                merged[oid] = group
            else:
                merged.pop(oid, None)
        tmp = folder / f"{GROUPS_INDEX}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(dict(sorted(merged.items())), indent=2) + "\n")
        tmp.replace(index)

    def groups(self) -> dict[str, str]:
        """Calibration organism id -> ``calibration`` (test organisms are never listed).

        Raises:
            NeurathError: No suite was built here.
        """
        index = self._cards_area() / GROUPS_INDEX
        if not index.exists():
            raise NeurathError(
                f"no organism group index at {index}: build the suite with "
                "'neurath organisms build' (it writes the index)"
            )
        groups: dict[str, str] = json.loads(index.read_text())
        return {k: v for k, v in groups.items() if v == "calibration"}

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
        return {oid: self._card(oid).scheming for oid in sorted(groups)}

    def calibration_kinds(self, only: Iterable[str] | None = None) -> dict[str, str]:
        """Calibration-group organism id -> its mechanism (archetype), from calibration cards
        only, as :meth:`calibration_labels`: what per-kind calibration is fitted on."""
        groups = self.groups()
        if only is not None:
            wanted = set(only)
            groups = {k: v for k, v in groups.items() if k in wanted}
        return {oid: self._card(oid).archetype for oid in sorted(groups)}

    def references(
        self, only: Iterable[str] | None = None, *, aliases: bool = False
    ) -> list[Reference]:
        """The calibration group (of the organisms ``only``, default all) as labelled
        reference models (a probe's trainers), sorted by name.

        Args:
            only: The organisms to consider (a suite's); default: every one in the store.
            aliases: Name them by :meth:`alias`, not by id (a blind study's research sees
                them): nothing in a reference then names its organism or leads to the store's
                cards.
        """
        from neurath.experiments._probe import Reference

        out = []
        for oid, scheming in self.calibration_labels(only).items():
            folder = self.model_dir(oid)
            name = self.alias(oid) if aliases else oid
            out.append(
                Reference(
                    id=name,
                    scheming=scheming,
                    load=_loader(folder, name),
                    key=str(folder.resolve()),
                )
            )
        return sorted(out, key=lambda r: r.id)

    def unseal(self, organism_ids: Iterable[str]) -> dict[str, OrganismCard]:
        """The ground truth of the named organisms: for scoring, after every assessment."""
        return {oid: self._card(oid) for oid in organism_ids}

    def _card(self, organism_id: str) -> OrganismCard:
        path = self._cards_area() / f"{check_name(organism_id, 'organism id')}.json"
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


def _loader(folder: Path, name: str) -> Callable[[], LocalModel]:
    """Loads one model folder under a name (holding neither the store nor an organism id)."""

    def load() -> LocalModel:
        from neurath.models._local import LocalModel

        return LocalModel(folder, model_id=name)

    return load


def sealed_loader(folder: Path, tid: str, key: str) -> Callable[[], LocalModel]:
    """Loads a target sealed: named by its target id, its weights hash keyed with the seal's
    key, and nothing in it leading back to its folder (whose marker and weights would give
    the organism away). Holds neither the store nor the organism's id: it is all a worker
    computing an experiment on a cluster is handed of the target."""

    def load() -> LocalModel:
        from neurath.models._local import LocalModel

        return LocalModel(folder, model_id=tid, seal_key=key)

    return load
