"""What a safety case reads from a finished run, each figure with where it came from.

:class:`RunData` holds a run's results, study, calibration, audit entries, manifests and
assessments (with their ledger record ids) and whether its audit log verified; claims are
computed from it alone, so a test can change one part and see the case change.
:func:`resolve` reads a :class:`~neurath.safetycase._model.Source` again.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from neurath._errors import NeurathError, SafetyCaseError
from neurath.evidence._assessment import Assessment
from neurath.evidence._model import Manifest
from neurath.evidence._model_v2 import ManifestV2
from neurath.safetycase._model import Source


@dataclass(frozen=True)
class Entry:
    """One audit entry as read (verified or not)."""

    seq: int
    hash: str
    action: str
    actor: str
    data: dict[str, Any]


@dataclass(frozen=True)
class TargetRecord:
    manifest: Manifest | ManifestV2
    assessment: Assessment
    assessment_record: int
    """The assessment's id in the run's ledger (table ``assessments``)."""


@dataclass(frozen=True)
class RunData:
    path: Path
    results: Any
    """The run's :class:`~neurath.testbed._results.RunResults`."""
    calibration: dict[str, Any]
    entries: list[Entry]
    targets: dict[str, TargetRecord]
    integrity: str | None
    """None: the audit log and results verified; else why not."""
    experiments_run: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    """target -> (experiment, audit seq) of every experiment run on it."""

    @property
    def name(self) -> str:
        return str(self.path)

    def metric(self, pointer: str) -> Source:
        return Source(kind="metric", run=self.name, file="results.json", pointer=pointer)

    def calib(self, pointer: str) -> Source:
        return Source(kind="file", run=self.name, file="calibration.json", pointer=pointer)

    def audit(self, entry: Entry, pointer: str = "") -> Source:
        return Source(
            kind="audit",
            run=self.name,
            file="audit.jsonl",
            seq=entry.seq,
            entry_hash=entry.hash,
            pointer=pointer,
        )

    def ledger(self, target: str, pointer: str) -> Source:
        return Source(
            kind="ledger",
            run=self.name,
            file="ledger.db",
            table="assessments",
            record=self.targets[target].assessment_record,
            pointer=pointer,
        )

    def target_index(self, target: str) -> int:
        for i, t in enumerate(self.results.targets):
            if t.id == target:
                return i
        raise KeyError(target)


def _entries(path: Path) -> list[Entry]:
    """Every entry of the log as written, verified or not (the integrity claim says which)."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SafetyCaseError(f"{path}: cannot read the audit log: {exc.strerror}") from None
    for line in lines:
        try:
            d = json.loads(line)
            out.append(
                Entry(
                    int(d["seq"]),
                    str(d["hash"]),
                    str(d["action"]),
                    str(d["actor"]),
                    dict(d.get("data") or {}),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return out


def load_run(path: str | Path) -> RunData:
    """Read a finished run folder.

    Raises:
        SafetyCaseError: Not a run folder, unfinished, or written by another version.
    """
    from neurath.evidence import Ledger
    from neurath.testbed import RunFolder
    from neurath.testbed._verify import verify_run

    folder = RunFolder(Path(path))
    if not folder.path.is_dir():
        raise SafetyCaseError(f"{path}: no such run folder")
    if not folder.audit_file.exists():
        raise SafetyCaseError(f"{path}: not a run folder (no audit.jsonl)")
    if not folder.finished:
        raise SafetyCaseError(
            f"{path}: the run did not finish (no results.json): finish it "
            "with 'neurath run --resume' first"
        )
    try:
        results = folder.read_results()
    except NeurathError as exc:
        raise SafetyCaseError(f"{' '.join(str(exc).split())} (from another version?)") from None
    try:
        calibration = json.loads(folder.calibration_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SafetyCaseError(f"{folder.calibration_file}: cannot read: {exc}") from None
    if not isinstance(calibration, dict):
        raise SafetyCaseError(f"{folder.calibration_file}: not a calibration (not an object)")
    integrity = None
    try:
        verify_run(folder)
    except NeurathError as exc:
        integrity = " ".join(str(exc).split())
    entries = _entries(folder.audit_file)
    run_on: dict[str, list[tuple[str, int]]] = {}
    for e in entries:
        if e.action == "run_experiment":
            run_on.setdefault(str(e.data.get("target")), []).append(
                (str(e.data.get("experiment")), e.seq)
            )
    targets: dict[str, TargetRecord] = {}
    source = f"neurath run {results.run_id}"
    try:
        with Ledger(folder.ledger_file, create=False) as ledger:
            for t in results.targets:
                manifest, stored = ledger.recorded(t.id, source)
                if manifest is not None and stored is not None:
                    targets[t.id] = TargetRecord(manifest, stored.assessment, stored.id)
    except (NeurathError, sqlite3.Error) as exc:
        raise SafetyCaseError(f"{folder.ledger_file}: {' '.join(str(exc).split())}") from None
    return RunData(folder.path, results, calibration, entries, targets, integrity, run_on)


def _pointer(doc: Any, pointer: str) -> Any:
    """RFC 6901: ``/a/0/b`` (``~1`` is ``/``, ``~0`` is ``~``)."""
    if not pointer:
        return doc
    for raw in pointer.lstrip("/").split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    return doc


def resolve(source: Source) -> Any:
    """Read the figure ``source`` names, again, from where it is.

    Raises:
        SafetyCaseError: The file, record or entry is gone, or does not hold the pointer; an
            audit entry whose hash is not the one recorded.
    """
    path = Path(source.run) / source.file
    try:
        if source.kind in ("metric", "file"):
            return _pointer(json.loads(path.read_text(encoding="utf-8")), source.pointer)
        if source.kind == "audit":
            for line in path.read_text(encoding="utf-8").splitlines():
                d = json.loads(line)
                if d.get("seq") == source.seq:
                    if d.get("hash") != source.entry_hash:
                        raise SafetyCaseError(
                            f"{path}: entry {source.seq} is not the one the case read (its hash "
                            "differs)"
                        )
                    return _pointer(d, source.pointer)
            raise SafetyCaseError(f"{path}: no entry {source.seq}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if source.table not in ("assessments", "findings", "manifests"):
                raise SafetyCaseError(f"not a ledger table a case reads: {source.table!r}")
            row = conn.execute(
                f"SELECT body FROM {source.table} WHERE id = ?", (source.record,)
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            raise SafetyCaseError(f"{path}: no {source.table} record {source.record}")
        return _pointer(json.loads(row[0]), source.pointer)
    except (
        OSError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        sqlite3.Error,
        ValidationError,
    ) as exc:
        raise SafetyCaseError(
            f"{path}: cannot read {source.pointer or source.kind}: {exc}"
        ) from None
