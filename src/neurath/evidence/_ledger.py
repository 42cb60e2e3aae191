"""The evidence ledger: an append-only SQLite store of manifests, findings and assessments.

Nothing is ever updated or deleted (triggers refuse it); a correction is a new finding record
that points at the one it supersedes, with its author, time and reason. Writers take SQLite's
write lock up front (``BEGIN IMMEDIATE``) in WAL mode, so concurrent writers from several
processes queue instead of losing records.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from neurath._errors import LedgerError, ManifestError
from neurath.evidence._assessment import Assessment
from neurath.evidence._migrations import MIGRATIONS, Migration
from neurath.evidence._model import Finding, Manifest, check_references

_BUSY_TIMEOUT_S = 60.0


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


class StoredAssessment(NamedTuple):
    id: int
    manifest_id: int | None
    assessment: Assessment
    author: str
    created_at: str


def sqlite_path(url: str | Path) -> str:
    """Resolve a ledger location: a file path, ``sqlite:///rel/path``, ``sqlite:////abs/path``."""
    text = str(url)
    if "://" not in text:
        return text
    scheme, _, rest = text.partition("://")
    if scheme not in ("sqlite", "sqlite3"):
        raise LedgerError(
            f"unsupported ledger URL scheme {scheme!r}: this release stores the ledger in SQLite; "
            "give a file path or sqlite:///path"
        )
    if not rest.startswith("/") or not rest[1:]:
        raise LedgerError(f"malformed SQLite URL {text!r}; write sqlite:///relative/path.db")
    return rest[1:]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def default_author() -> str:
    """``$NEURATH_AUTHOR``, else the login name."""
    env = os.environ.get("NEURATH_AUTHOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Ledger:
    """An append-only evidence store in one SQLite file.

    Args:
        url: A file path or ``sqlite:///path`` URL; the file is created and migrated if needed.
        author: Who writes (default ``$NEURATH_AUTHOR`` or the login name).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, url: str | Path, *, author: str | None = None, create: bool = True) -> None:
        self.path = sqlite_path(url)
        self.author = author or default_author()
        if self.path != ":memory:":
            target = Path(self.path)
            if not target.parent.exists():
                raise LedgerError(f"{self.path}: folder {str(target.parent)!r} does not exist")
            if not create and not target.exists():
                raise LedgerError(f"{self.path}: no ledger there (check the path)")
            if target.is_dir():
                raise LedgerError(f"{self.path}: is a folder, not a ledger file")
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                self._use_wal()
            self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{self.path}: cannot open as a SQLite ledger: {exc}") from None
        self.migrate()

    def _use_wal(self) -> None:
        """Switch to WAL once; changing the mode does not wait on the busy timeout, so retry."""
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        while True:
            try:
                mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
                if mode != "wal":
                    self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

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
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding SQLite's write lock from the start."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    # -- schema ----------------------------------------------------------------------------
    def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
        """Apply the migrations not yet applied, in order; return the names applied now."""
        try:
            return self._migrate(migrations)
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{self.path}: cannot prepare the ledger: {exc}") from None

    def _migrate(self, migrations: Sequence[Migration]) -> list[str]:
        tables = {
            r[0]
            for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if tables and "_neurath_migrations" not in tables:
            raise LedgerError(
                f"{self.path}: a SQLite database but not a neurath ledger (it has tables "
                f"{', '.join(sorted(tables)[:5])}); choose another file"
            )
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS _neurath_migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        known = {m.name for m in MIGRATIONS}
        unknown = sorted(set(self.applied_migrations()) - known)
        if unknown:
            raise LedgerError(
                f"{self.path}: written by a newer neurath (unknown migrations: "
                f"{', '.join(unknown)}); upgrade neurath to read it"
            )
        applied_now: list[str] = []
        for migration in migrations:
            with self._write() as conn:
                done = conn.execute(
                    "SELECT 1 FROM _neurath_migrations WHERE name = ?", (migration.name,)
                ).fetchone()
                if done:
                    continue
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO _neurath_migrations (name, applied_at) VALUES (?, ?)",
                    (migration.name, _now()),
                )
            applied_now.append(migration.name)
        return applied_now

    def applied_migrations(self) -> list[str]:
        rows = self._conn.execute("SELECT name FROM _neurath_migrations ORDER BY name").fetchall()
        return [r[0] for r in rows]

    # -- writing ---------------------------------------------------------------------------
    def record_manifest(self, manifest: Manifest, *, source: str | None = None) -> int:
        """Store a manifest and all its findings in one transaction; return the manifest id."""
        with self._write() as conn:
            return self._insert_manifest(conn, manifest, source)

    def record(
        self, manifest: Manifest, assessment: Assessment, *, source: str | None = None
    ) -> tuple[int, int]:
        """Store a manifest and its assessment together (both or neither).

        Returns:
            The manifest id and the assessment id.
        """
        if assessment.target != manifest.target:
            raise LedgerError(
                f"assessment of {assessment.target!r} does not belong to a manifest about "
                f"{manifest.target!r}"
            )
        with self._write() as conn:
            manifest_id = self._insert_manifest(conn, manifest, source)
            return manifest_id, self._insert_assessment(conn, assessment, manifest_id)

    def record_assessment(self, assessment: Assessment, *, manifest_id: int | None = None) -> int:
        """Store an assessment (of the manifest ``manifest_id``, if given); return its id."""
        with self._write() as conn:
            return self._insert_assessment(conn, assessment, manifest_id)

    def append_finding(
        self, finding: Finding, *, target: str, manifest_id: int | None = None
    ) -> int:
        """Store one new finding about ``target`` (in manifest ``manifest_id``); return its id.

        Raises:
            LedgerError: The finding names a factor the manifest lacks, or reuses the id of one
                of its current findings (record a correction instead).
        """
        with self._write() as conn:
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
                _check_against(header, finding)
            return self._insert_finding(conn, manifest_id, target, finding, self.author)

    def correct_finding(
        self, record_id: int, finding: Finding, *, reason: str, author: str | None = None
    ) -> int:
        """Record a correction of finding record ``record_id``; the old record stays.

        Raises:
            LedgerError: No such record, no reason given, a different finding id, a factor the
                manifest lacks, or the record was already corrected (correct the newest one).
        """
        if not reason.strip():
            raise LedgerError("a correction needs a reason")
        with self._write() as conn:
            old = conn.execute(
                "SELECT manifest_id, target, finding_id FROM findings WHERE id = ?", (record_id,)
            ).fetchone()
            if old is None:
                raise LedgerError(f"no finding record {record_id} in {self.path}")
            manifest_id, target, finding_id = old
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
                _check_against(self._header(conn, manifest_id), finding)
            return self._insert_finding(
                conn, manifest_id, target, finding, author or self.author, record_id, reason
            )

    def _insert_manifest(
        self, conn: sqlite3.Connection, manifest: Manifest, source: str | None
    ) -> int:
        header = manifest.model_dump_json(exclude={"findings"})
        bodies = [f.model_dump_json() for f in manifest.findings]
        digest = hashlib.sha256(header.encode())
        for b in bodies:
            digest.update(b.encode())
        now = _now()
        cur = conn.execute(
            "INSERT INTO manifests (target, sha256, header, source, author, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (manifest.target, digest.hexdigest(), header, source, self.author, now),
        )
        manifest_id = _lastrowid(cur)
        conn.executemany(
            "INSERT INTO findings (manifest_id, finding_id, target, body, author, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                (manifest_id, f.id, manifest.target, b, self.author, now)
                for f, b in zip(manifest.findings, bodies, strict=True)
            ),
        )
        return manifest_id

    def _insert_finding(
        self,
        conn: sqlite3.Connection,
        manifest_id: int | None,
        target: str,
        finding: Finding,
        author: str,
        supersedes: int | None = None,
        reason: str | None = None,
    ) -> int:
        cur = conn.execute(
            "INSERT INTO findings (manifest_id, finding_id, target, body, author, created_at, "
            "supersedes, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                manifest_id,
                finding.id,
                target,
                finding.model_dump_json(),
                author,
                _now(),
                supersedes,
                reason,
            ),
        )
        return _lastrowid(cur)

    def _insert_assessment(
        self, conn: sqlite3.Connection, assessment: Assessment, manifest_id: int | None
    ) -> int:
        cur = conn.execute(
            "INSERT INTO assessments (manifest_id, target, p_not_scheming, body, author, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                manifest_id,
                assessment.target,
                assessment.p_not_scheming,
                assessment.model_dump_json(),
                self.author,
                _now(),
            ),
        )
        return _lastrowid(cur)

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
        current: bool = True,
    ) -> list[LedgerRecord]:
        """Finding records in order of id; with ``current`` only those not corrected since."""
        sql = (
            "SELECT id, body, target, manifest_id, author, created_at, supersedes, reason "
            "FROM findings f WHERE 1 = 1"
        )
        args: list[object] = []
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if manifest_id is not None:
            sql += " AND manifest_id = ?"
            args.append(manifest_id)
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
            SELECT id, body, target, manifest_id, author, created_at, supersedes, reason
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
        try:
            check_references(header.factors, findings)
        except ManifestError as exc:
            raise LedgerError(f"manifest {manifest_id} in {self.path}: {exc}") from None
        return header.model_copy(update={"findings": findings, "findings_file": None})

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


def _check_against(header: Manifest, finding: Finding) -> None:
    known = {f.id for f in header.factors}
    unknown = sorted(set(finding.factors) - known)
    if unknown:
        raise LedgerError(
            f"finding {finding.id!r} names factor(s) {', '.join(unknown)} that manifest of "
            f"{header.target!r} does not define"
        )


def _lastrowid(cur: sqlite3.Cursor) -> int:
    rowid = cur.lastrowid
    if rowid is None:  # pragma: no cover - sqlite always sets it after INSERT
        raise LedgerError("the database did not return a record id")
    return rowid


def _statements(sql: str) -> list[str]:
    """Split a migration into complete statements (triggers contain inner semicolons)."""
    out: list[str] = []
    buf = ""
    for line in sql.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
