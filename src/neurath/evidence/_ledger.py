"""The evidence ledger: an append-only store of manifests, findings and assessments, in a
SQLite file (the default) or a team's PostgreSQL database.

Nothing is ever updated or deleted (triggers refuse it); a correction is a new finding record
that points at the one it supersedes, with its author, time and reason. Writers take the
ledger's write lock up front (SQLite's ``BEGIN IMMEDIATE`` in WAL mode, a PostgreSQL advisory
lock), so concurrent writers from several processes queue instead of losing records
(:mod:`neurath.evidence._backend`).

A finding can be recorded as it is made, before any manifest holds it, with its source and the
audit entry it came from (:meth:`Ledger.append_finding`); a manifest assembled later names
those records instead of copying them (``linked``), so each finding is in the ledger once.
"""

from __future__ import annotations

import getpass
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from neurath._errors import LedgerError
from neurath.evidence._assessment import Assessment
from neurath.evidence._backend import (
    Connection,
    applied_migrations,
    check_migrated,
    migrate,
    open_connection,
    write_transaction,
)
from neurath.evidence._chain import insert, manifest_digest
from neurath.evidence._migrations import MIGRATIONS, Migration
from neurath.evidence._model import Finding, Manifest
from neurath.evidence._model_v2 import ManifestV2
from neurath.evidence._reading import LedgerReader, LedgerRecord, StoredAssessment
from neurath.evidence._reviews import check_review, insert_review
from neurath.evidence._sqlite import now, sqlite_path
from neurath.evidence._verify import LedgerReport, check_against, checked_finding

__all__ = ["Ledger", "LedgerRecord", "StoredAssessment", "default_author", "sqlite_path"]


def default_author() -> str:
    """``$NEURATH_AUTHOR``, else the login name."""
    env = os.environ.get("NEURATH_AUTHOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Ledger(LedgerReader):
    """An append-only evidence store in one SQLite file or one PostgreSQL database.

    Args:
        url: A file path, a ``sqlite:///path`` URL (the file is created and migrated if
            needed), or ``postgresql://user@host:port/database`` (migrated if needed; needs
            ``neurath[postgresql]``).
        author: Who writes (default ``$NEURATH_AUTHOR`` or the login name).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        url: str | Path,
        *,
        author: str | None = None,
        create: bool = True,
        migrate: bool = True,
    ) -> None:
        self.author = author or default_author()
        self._conn, self.path = open_connection(url, create=create)
        if migrate:
            self.migrate()
        else:  # checking a ledger as it is: a migration would chain whatever rows it holds
            check_migrated(self._conn, self.path, [m.name for m in MIGRATIONS])

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with write_transaction(self._conn, self.path) as conn:
            yield conn

    # -- schema ----------------------------------------------------------------------------
    def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
        """Apply the migrations not yet applied, in order; return the names applied now."""
        try:
            return migrate(self._conn, self.path, migrations)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open ledger {self.path}: {exc}") from None

    def applied_migrations(self) -> list[str]:
        return applied_migrations(self._conn)

    # -- writing ---------------------------------------------------------------------------
    def record_manifest(
        self,
        manifest: Manifest | ManifestV2,
        *,
        source: str | None = None,
        linked: Mapping[str, int] | None = None,
    ) -> int:
        """Store a manifest and all its findings in one transaction; return the manifest id.

        ``linked`` maps finding ids to records already in the ledger (findings recorded as they
        were made): those are named, not copied, with the finding as this manifest models it.
        """
        with self._write() as conn:
            return self._insert_manifest(conn, manifest, source, linked or {})

    def record(
        self,
        manifest: Manifest | ManifestV2,
        assessment: Assessment,
        *,
        source: str | None = None,
        linked: Mapping[str, int] | None = None,
    ) -> tuple[int, int]:
        """Store a manifest and its assessment together (both or neither); ``linked`` as in
        :meth:`record_manifest`.

        Returns:
            The manifest id and the assessment id.
        """
        if assessment.target != manifest.target:
            raise LedgerError(
                f"assessment of {assessment.target!r} does not belong to a manifest about "
                f"{manifest.target!r}"
            )
        with self._write() as conn:
            manifest_id = self._insert_manifest(conn, manifest, source, linked or {})
            return manifest_id, self._insert_assessment(conn, assessment, manifest_id)

    def record_assessment(self, assessment: Assessment, *, manifest_id: int | None = None) -> int:
        """Store an assessment (of the manifest ``manifest_id``, if given); return its id."""
        with self._write() as conn:
            return self._insert_assessment(conn, assessment, manifest_id)

    def append_finding(
        self,
        finding: Finding,
        *,
        target: str,
        manifest_id: int | None = None,
        source: str | None = None,
        audit_entry: str | None = None,
    ) -> int:
        """Store one new finding about ``target`` (in manifest ``manifest_id``); return its id.

        ``source`` says what made it (``neurath run <id>``); ``audit_entry`` is the hash of the
        audit-log entry it came from, and makes the call idempotent: recording the same entry
        again returns the record already there and adds nothing (a resumed run replays its
        log).

        Raises:
            LedgerError: The finding is not valid (NaN, infinite, ``se`` not positive), names a
                factor the manifest lacks, or reuses the id of one of its current findings
                (record a correction instead), or the audit entry is already recorded with
                another finding.
        """
        finding = checked_finding(finding)
        with self._write() as conn:
            if audit_entry is not None:
                row = conn.execute(
                    "SELECT id, finding_id FROM findings WHERE audit_entry = ?", (audit_entry,)
                ).fetchone()
                if row is not None:
                    if row[1] != finding.id:
                        raise LedgerError(
                            f"audit entry {audit_entry[:12]} is already recorded as finding "
                            f"{row[1]!r} (record {row[0]}), not {finding.id!r}"
                        )
                    return int(row[0])
            if manifest_id is not None:
                header = self._header(conn, manifest_id)
                if header.target != target:
                    raise LedgerError(
                        f"manifest {manifest_id} is about {header.target!r}, not {target!r}"
                    )
                taken = conn.execute(
                    "SELECT id FROM findings f WHERE manifest_id = ? AND finding_id = ? AND NOT "
                    "EXISTS (SELECT 1 FROM findings g WHERE g.supersedes = f.id)",
                    (manifest_id, finding.id),
                ).fetchone()
                if taken is not None:
                    raise LedgerError(
                        f"manifest {manifest_id} already has finding {finding.id!r} (record "
                        f"{taken[0]}); record a correction of it instead"
                    )
                check_against(header, finding)
            return self._insert_finding(
                conn, manifest_id, target, finding, self.author, source=source, audit=audit_entry
            )

    def correct_finding(
        self, record_id: int, finding: Finding, *, reason: str, author: str | None = None
    ) -> int:
        """Record a correction of finding record ``record_id``; the old record stays.

        Raises:
            LedgerError: No such record, no reason given, an invalid finding (NaN, infinite,
                ``se`` not positive), a different finding id, a factor the manifest lacks, or
                the record was already corrected (correct the newest one).
        """
        if not reason.strip():
            raise LedgerError("a correction needs a reason")
        finding = checked_finding(finding)
        with self._write() as conn:
            old = conn.execute(
                "SELECT manifest_id, target, finding_id, source FROM findings WHERE id = ?",
                (record_id,),
            ).fetchone()
            if old is None:
                raise LedgerError(f"no finding record {record_id} in {self.path}")
            manifest_id, target, finding_id, source = old
            if finding.id != finding_id:
                raise LedgerError(
                    f"record {record_id} is finding {finding_id!r}; a correction keeps the id "
                    f"(got {finding.id!r})"
                )
            newer = conn.execute(
                "SELECT id FROM findings WHERE supersedes = ?", (record_id,)
            ).fetchone()
            if newer is not None:
                raise LedgerError(
                    f"finding record {record_id} was already corrected by record {newer[0]}; "
                    "correct that one instead"
                )
            if manifest_id is not None:
                check_against(self._header(conn, manifest_id), finding)
            return self._insert_finding(
                conn,
                manifest_id,
                target,
                finding,
                author or self.author,
                record_id,
                reason,
                source=source,
            )

    def record_anchor(
        self,
        run_id: str,
        audit_head: str,
        audit_entries: int,
        results_sha256: str,
        signature: str | None = None,
    ) -> int:
        """Anchor a run outside its folder: its audit chain's head and number of entries and
        the SHA-256 of its results (and a signature of them, if any); return the anchor id."""
        if not run_id.strip():
            raise LedgerError("an anchor needs a run id")
        if (
            isinstance(audit_entries, bool)
            or not isinstance(audit_entries, int)
            or audit_entries < 0
        ):
            raise LedgerError(f"audit_entries must be a count (>= 0), got {audit_entries!r}")
        values = {
            "run_id": run_id,
            "audit_head": audit_head,
            "audit_entries": audit_entries,
            "results_sha256": results_sha256,
            "signature": signature,
            "created_at": now(),
            "author": self.author,
        }
        with self._write() as conn:
            return insert(conn, "anchors", values)

    def record_review(self, **review: Any) -> tuple[int, bool]:
        """Record one human review; see :func:`neurath.evidence._reviews.insert_review` for
        the fields. Returns its id and whether the same submission was already recorded."""
        checked = check_review(**review)
        with self._write() as conn:
            return insert_review(conn, checked)

    def _insert_manifest(
        self,
        conn: Connection,
        manifest: Manifest | ManifestV2,
        source: str | None,
        linked: Mapping[str, int],
    ) -> int:
        checked = [checked_finding(f) for f in manifest.findings]
        header = manifest.model_dump_json(exclude={"findings"})
        bodies = [f.model_dump_json() for f in checked]
        stamp = now()
        manifest_id = insert(
            conn,
            "manifests",
            {
                "target": manifest.target,
                "sha256": manifest_digest(header, bodies),
                "header": header,
                "source": source,
                "author": self.author,
                "created_at": stamp,
            },
        )
        pairs = list(zip(checked, bodies, strict=True))
        for f, _ in pairs:
            if f.id in linked:
                row = conn.execute(
                    "SELECT target, finding_id FROM findings WHERE id = ?", (linked[f.id],)
                ).fetchone()
                if row is None or tuple(row) != (manifest.target, f.id):
                    raise LedgerError(
                        f"record {linked[f.id]} is not finding {f.id!r} of {manifest.target!r}"
                    )
        for f in checked:
            if f.id not in linked:  # written with the manifest: the same time (see _verify)
                self._insert_finding(conn, manifest_id, manifest.target, f, self.author, at=stamp)
        for i, (f, b) in enumerate(pairs):
            if f.id in linked:
                insert(
                    conn,
                    "manifest_findings",
                    {
                        "manifest_id": manifest_id,
                        "position": i,
                        "record_id": linked[f.id],
                        "body": b,
                    },
                )
        return manifest_id

    def _insert_finding(
        self,
        conn: Connection,
        manifest_id: int | None,
        target: str,
        finding: Finding,
        author: str,
        supersedes: int | None = None,
        reason: str | None = None,
        *,
        source: str | None = None,
        audit: str | None = None,
        at: str | None = None,
    ) -> int:
        values = {
            "manifest_id": manifest_id,
            "finding_id": finding.id,
            "target": target,
            "body": finding.model_dump_json(),
            "author": author,
            "created_at": at or now(),
            "supersedes": supersedes,
            "reason": reason,
            "source": source,
            "audit_entry": audit,
        }
        return insert(conn, "findings", values)

    def _insert_assessment(
        self, conn: Connection, assessment: Assessment, manifest_id: int | None
    ) -> int:
        values = {
            "manifest_id": manifest_id,
            "target": assessment.target,
            "p_not_scheming": assessment.p_not_scheming,
            "body": assessment.model_dump_json(),
            "author": self.author,
            "created_at": now(),
        }
        return insert(conn, "assessments", values)


def verify_ledger(url: str | Path) -> LedgerReport:
    """Open the ledger at ``url`` (which must exist) and :meth:`~Ledger.verify` it."""
    with Ledger(url, create=False, migrate=False) as ledger:
        return ledger.verify()
