"""Reading the evidence ledger: finding records, correction chains, manifests, assessments.

:class:`LedgerReader` holds the queries; :class:`~neurath.evidence.Ledger` adds the writes.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from neurath._errors import LedgerError, ManifestError
from neurath.evidence._assessment import Assessment
from neurath.evidence._model import Finding, Manifest, check_references

_RECORD_COLUMNS = "id, body, target, manifest_id, author, created_at, supersedes, reason, source"


class LedgerRecord(NamedTuple):
    """One stored finding with its provenance."""

    id: int
    """Record id (unique in the ledger; increases with time)."""
    finding: Finding
    target: str
    manifest_id: int | None
    author: str
    created_at: str
    supersedes: int | None
    """The record this one corrects, if it is a correction."""
    reason: str | None
    """Why the correction was made."""
    source: str | None = None
    """What made it (``neurath run <id>``), where recorded."""


class StoredAssessment(NamedTuple):
    id: int
    manifest_id: int | None
    assessment: Assessment
    author: str
    created_at: str


class LedgerReader:
    """The ledger's queries, over an open connection (``_conn``) to the file at ``path``."""

    path: str
    _conn: sqlite3.Connection

    def _header(self, conn: sqlite3.Connection, manifest_id: int) -> Manifest:
        row = conn.execute("SELECT header FROM manifests WHERE id = ?", (manifest_id,)).fetchone()
        if row is None:
            raise LedgerError(f"no manifest {manifest_id} in {self.path}")
        return Manifest.model_validate_json(row[0])

    # -- reading ---------------------------------------------------------------------------
    def findings(
        self,
        *,
        target: str | None = None,
        manifest_id: int | None = None,
        source: str | None = None,
        current: bool = True,
    ) -> list[LedgerRecord]:
        """Finding records in order of id; with ``current`` only those not corrected since.

        ``manifest_id`` selects the findings stored in that manifest (not those it links to:
        :meth:`manifest` rebuilds a manifest whole); ``source`` those recorded by a source.
        """
        sql = f"SELECT {_RECORD_COLUMNS} FROM findings f WHERE 1 = 1"
        args: list[object] = []
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if manifest_id is not None:
            sql += " AND manifest_id = ?"
            args.append(manifest_id)
        if source is not None:
            sql += " AND source = ?"
            args.append(source)
        if current:
            sql += " AND NOT EXISTS (SELECT 1 FROM findings g WHERE g.supersedes = f.id)"
        sql += " ORDER BY id"
        return [
            LedgerRecord(r[0], Finding.model_validate_json(r[1]), *r[2:])
            for r in self._conn.execute(sql, args)
        ]

    def history(self, record_id: int) -> list[LedgerRecord]:
        """The correction chain through ``record_id``, oldest first."""
        rows = self._conn.execute(
            """
            WITH RECURSIVE back(id) AS (
                SELECT ? UNION SELECT f.supersedes FROM findings f JOIN back ON f.id = back.id
                WHERE f.supersedes IS NOT NULL
            ), fwd(id) AS (
                SELECT ? UNION SELECT f.id FROM findings f JOIN fwd ON f.supersedes = fwd.id
            )
            SELECT id, body, target, manifest_id, author, created_at, supersedes, reason, source
            FROM findings WHERE id IN (SELECT id FROM back UNION SELECT id FROM fwd) ORDER BY id
            """,
            (record_id, record_id),
        ).fetchall()
        if not rows:
            raise LedgerError(f"no finding record {record_id} in {self.path}")
        return [LedgerRecord(r[0], Finding.model_validate_json(r[1]), *r[2:]) for r in rows]

    def manifest(self, manifest_id: int, *, current: bool = True) -> Manifest:
        """Rebuild a stored manifest; with ``current``, corrections of its findings applied.

        The findings from its ``findings_file`` are already among its findings, so the
        rebuilt manifest names no findings file.
        """
        header = self._header(self._conn, manifest_id)
        records = self.findings(manifest_id=manifest_id, current=current)
        findings = [r.finding for r in records if current or r.supersedes is None]
        members = self._conn.execute(
            "SELECT record_id, body FROM manifest_findings WHERE manifest_id = ? ORDER BY position",
            (manifest_id,),
        ).fetchall()
        for record_id, body in members:
            newest = self._newest(record_id) if current else None
            # A linked finding as the manifest modelled it, unless it was corrected since.
            findings.append(Finding.model_validate_json(newest or body))
        try:
            check_references(header.factors, findings)
        except ManifestError as exc:
            raise LedgerError(f"manifest {manifest_id} in {self.path}: {exc}") from None
        return header.model_copy(update={"findings": findings, "findings_file": None})

    def _newest(self, record_id: int) -> str | None:
        """The body of the newest correction of a record, or None if it was never corrected."""
        body = None
        while True:
            row = self._conn.execute(
                "SELECT id, body FROM findings WHERE supersedes = ?", (record_id,)
            ).fetchone()
            if row is None:
                return body
            record_id, body = row

    def manifest_ids(self, *, target: str | None = None, source: str | None = None) -> list[int]:
        """Ids of stored manifests (about ``target``, written by ``source``), oldest first."""
        sql, args = "SELECT id FROM manifests WHERE 1 = 1", []
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if source is not None:
            sql += " AND source = ?"
            args.append(source)
        return [int(r[0]) for r in self._conn.execute(sql + " ORDER BY id", args)]

    def assessments(self, *, target: str | None = None) -> list[StoredAssessment]:
        """Stored assessments, oldest first."""
        sql = "SELECT id, manifest_id, body, author, created_at FROM assessments"
        args: tuple[object, ...] = ()
        if target is not None:
            sql += " WHERE target = ?"
            args = (target,)
        return [
            StoredAssessment(r[0], r[1], Assessment.model_validate_json(r[2]), r[3], r[4])
            for r in self._conn.execute(sql + " ORDER BY id", args)
        ]

    def count(self, table: str) -> int:
        """Number of records in ``manifests``, ``findings`` or ``assessments``."""
        if table not in ("manifests", "findings", "assessments"):
            raise LedgerError(f"no table {table!r}; choose manifests, findings or assessments")
        return int(self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
