"""Reading the evidence ledger: finding records, correction chains, manifests, assessments.

:class:`LedgerReader` holds the queries; :class:`~neurath.evidence.Ledger` adds the writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from pydantic import ValidationError

from neurath._errors import LedgerError, ManifestError
from neurath.evidence._assessment import Assessment
from neurath.evidence._model import Finding, Manifest, check_references
from neurath.evidence._model_v2 import ManifestV2, header_from_json
from neurath.evidence._verify import LedgerReport, parse_finding, verify, why

_COUNTED = ("manifests", "findings", "assessments", "anchors", "reviews")
_RECORD_COLUMNS = (
    "id, body, target, manifest_id, author, created_at, supersedes, reason, source, audit_entry"
)


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
    audit_entry: str | None = None
    """The hash of the run's audit entry it came from, where recorded."""


class StoredAssessment(NamedTuple):
    id: int
    manifest_id: int | None
    assessment: Assessment
    author: str
    created_at: str


class Anchor(NamedTuple):
    """A run's anchor: its audit chain's head and length and its results' hash, as recorded."""

    id: int
    run_id: str
    audit_head: str
    audit_entries: int
    results_sha256: str
    signature: str | None
    author: str
    created_at: str


class StoredReview(NamedTuple):
    """One human review of an AI research output (:mod:`neurath.review`), as recorded."""

    id: int
    item_id: str
    reviewer: str
    pool: str
    mode: str
    """``approval`` (the AI's verdict shown first) or ``commit_first`` (shown after)."""
    verdict: bool
    """The reviewer's answer to the item's question."""
    ai_verdict: bool
    """The AI's answer the item carried."""
    reason: str
    item: str
    """The item as the reviewer was shown it (JSON)."""
    submission: str
    created_at: str


_REVIEW_COLUMNS = (
    "id, item_id, reviewer, pool, mode, verdict, ai_verdict, reason, item, submission, created_at"
)


class LedgerReader:
    """The ledger's queries, over an open connection (``_conn``) to the file at ``path``.

    Whatever is stored, a query fails with a :class:`LedgerError` naming the record at fault,
    never with a parsing or SQLite error.
    """

    path: str
    _conn: Any

    def _rows(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self._conn.execute(sql, tuple(args)).fetchall()]
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {self.path}: cannot read: {exc}") from None

    def _record(self, r: Sequence[Any]) -> LedgerRecord:
        finding = parse_finding(r[1], f"finding record {r[0]} in {self.path}")
        return LedgerRecord(r[0], finding, *r[2:])

    def _header(self, conn: Any, manifest_id: int) -> Manifest | ManifestV2:
        row = conn.execute("SELECT header FROM manifests WHERE id = ?", (manifest_id,)).fetchone()
        if row is None:
            raise LedgerError(f"no manifest {manifest_id} in {self.path}")
        try:
            return header_from_json(row[0])
        except (ValidationError, ValueError) as exc:
            raise LedgerError(
                f"manifest {manifest_id} in {self.path}: not a valid manifest: {why(exc)}"
            ) from None

    def verify(self) -> LedgerReport:
        """Check the whole ledger: its schema (every append-only trigger and table as neurath
        creates them), that every row matches its chain entry and every entry its row, the
        chain's links, each manifest's stored hash, and that every stored body parses.

        Raises:
            LedgerError: Naming the first problem (table, record id, why).
        """
        return verify(self._conn, self.path)

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
        return [self._record(r) for r in self._rows(sql, args)]

    def history(self, record_id: int) -> list[LedgerRecord]:
        """The correction chain through ``record_id``, oldest first."""
        rows = self._rows(
            """
            WITH RECURSIVE back(id) AS (
                SELECT CAST(? AS BIGINT) UNION SELECT f.supersedes FROM findings f
                JOIN back ON f.id = back.id
                WHERE f.supersedes IS NOT NULL
            ), fwd(id) AS (
                SELECT CAST(? AS BIGINT) UNION SELECT f.id FROM findings f
                JOIN fwd ON f.supersedes = fwd.id
            )
            SELECT id, body, target, manifest_id, author, created_at, supersedes, reason, source,
            audit_entry FROM findings
            WHERE id IN (SELECT id FROM back UNION SELECT id FROM fwd) ORDER BY id
            """,
            (record_id, record_id),
        )
        if not rows:
            raise LedgerError(f"no finding record {record_id} in {self.path}")
        return [self._record(r) for r in rows]

    def manifest(self, manifest_id: int, *, current: bool = True) -> Manifest | ManifestV2:
        """Rebuild a stored manifest; with ``current``, corrections of its findings applied.

        The findings from its ``findings_file`` are already among its findings, so the
        rebuilt manifest names no findings file.
        """
        try:
            header = self._header(self._conn, manifest_id)
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {self.path}: cannot read: {exc}") from None
        records = self.findings(manifest_id=manifest_id, current=current)
        findings = [r.finding for r in records if current or r.supersedes is None]
        members = self._rows(
            "SELECT record_id, body, position FROM manifest_findings WHERE manifest_id = ? "
            "ORDER BY position",
            (manifest_id,),
        )
        for record_id, body, position in members:
            newest = self._newest(record_id) if current else None
            # A linked finding as the manifest modelled it, unless it was corrected since.
            where = f"manifest {manifest_id}'s finding at position {position} in {self.path}"
            findings.append(parse_finding(newest or body, where))
        try:
            check_references(header.factors, findings)
        except ManifestError as exc:
            raise LedgerError(f"manifest {manifest_id} in {self.path}: {exc}") from None
        return header.model_copy(update={"findings": findings, "findings_file": None})

    def _newest(self, record_id: int) -> str | None:
        """The body of the newest correction of a record, or None if it was never corrected."""
        body = None
        while True:
            rows = self._rows("SELECT id, body FROM findings WHERE supersedes = ?", (record_id,))
            if not rows:
                return body
            record_id, body = rows[0]

    def manifest_ids(self, *, target: str | None = None, source: str | None = None) -> list[int]:
        """Ids of stored manifests (about ``target``, written by ``source``), oldest first."""
        sql, args = "SELECT id FROM manifests WHERE 1 = 1", []
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if source is not None:
            sql += " AND source = ?"
            args.append(source)
        return [int(r[0]) for r in self._rows(sql + " ORDER BY id", args)]

    def recorded(
        self, target: str, source: str
    ) -> tuple[Manifest | ManifestV2 | None, StoredAssessment | None]:
        """What ``source`` (``neurath run <id>``) recorded about ``target``: its newest
        manifest, and the newest assessment of one of its manifests (None where none is)."""
        ids = self.manifest_ids(target=target, source=source)
        if not ids:
            return None, None
        stored = [s for s in self.assessments(target=target) if s.manifest_id in ids]
        return self.manifest(ids[-1]), stored[-1] if stored else None

    def assessments(self, *, target: str | None = None) -> list[StoredAssessment]:
        """Stored assessments, oldest first."""
        sql = "SELECT id, manifest_id, body, author, created_at FROM assessments"
        args: tuple[object, ...] = ()
        if target is not None:
            sql += " WHERE target = ?"
            args = (target,)
        out = []
        for r in self._rows(sql + " ORDER BY id", args):
            try:
                assessment = Assessment.model_validate_json(r[2])
            except (ValidationError, ValueError) as exc:
                raise LedgerError(
                    f"assessment {r[0]} in {self.path}: not a valid assessment: {why(exc)}"
                ) from None
            out.append(StoredAssessment(r[0], r[1], assessment, r[3], r[4]))
        return out

    def anchors(self, run_id: str | None = None) -> list[Anchor]:
        """Anchors recorded (of the run ``run_id``), oldest first."""
        sql = (
            "SELECT id, run_id, audit_head, audit_entries, results_sha256, signature, author, "
            "created_at FROM anchors"
        )
        args: tuple[object, ...] = ()
        if run_id is not None:
            sql, args = sql + " WHERE run_id = ?", (run_id,)
        return [Anchor(*r) for r in self._rows(sql + " ORDER BY id", args)]

    def reviews(
        self, *, reviewer: str | None = None, item_id: str | None = None
    ) -> list[StoredReview]:
        """Reviews recorded (by ``reviewer``, of ``item_id``), oldest first."""
        sql, args = f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE 1 = 1", []
        if reviewer is not None:
            sql += " AND reviewer = ?"
            args.append(reviewer)
        if item_id is not None:
            sql += " AND item_id = ?"
            args.append(item_id)
        return [
            StoredReview(r[0], r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6]), *r[7:])
            for r in self._rows(sql + " ORDER BY id", args)
        ]

    def count(self, table: str) -> int:
        """Number of records in ``manifests``, ``findings``, ``assessments``, ``anchors`` or
        ``reviews``."""
        if table not in _COUNTED:
            raise LedgerError(f"no table {table!r}; choose {', '.join(_COUNTED)}")
        return int(self._rows(f"SELECT COUNT(*) FROM {table}")[0][0])
