"""The ledger's SQLite connection: locations, WAL mode, write transactions and migrations.

Kept apart from :class:`~neurath.evidence.Ledger`'s record-keeping, which only asks for a
connection and a write transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from neurath._errors import LedgerError
from neurath.evidence._migrations import MIGRATIONS, Migration

BUSY_TIMEOUT_S = 60.0


def now() -> str:
    """The time now, as every record stores it (UTC, microseconds)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def sqlite_path(url: str | Path) -> str:
    """Resolve a ledger location: a file path, ``sqlite:///rel/path``, ``sqlite:////abs/path``."""
    text = str(url)
    if "://" not in text:
        return text
    scheme, _, rest = text.partition("://")
    if scheme not in ("sqlite", "sqlite3"):
        raise LedgerError(
            f"unsupported ledger URL scheme {scheme!r}: give a file path, sqlite:///path or "
            "postgresql://user@host:port/database"
        )
    if not rest.startswith("/") or not rest[1:]:
        raise LedgerError(f"malformed SQLite URL {text!r}; write sqlite:///relative/path.db")
    return rest[1:]


def check_location(target: Path, create: bool) -> None:
    """Refuse, in one line, a ledger location that cannot be a ledger file."""
    try:
        if not target.parent.exists():
            raise LedgerError(f"{target}: folder {str(target.parent)!r} does not exist")
        if not create and not target.exists():
            raise LedgerError(f"{target}: no ledger there (check the path)")
        if target.is_dir():
            raise LedgerError(f"cannot open ledger {target}: it is a folder, not a file")
    except OSError as exc:
        raise LedgerError(f"cannot open ledger {target}: {exc.strerror or exc}") from None


def connect(path: str) -> sqlite3.Connection:
    """An autocommit connection with foreign keys on and (for files) WAL mode, so concurrent
    writers from several processes queue instead of losing records.

    Raises:
        LedgerError: ``cannot open ledger <path>: ...`` (unreadable, not an SQLite file).
    """
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {path}: {exc}") from None
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            _use_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        conn.close()
        raise LedgerError(f"cannot open ledger {path}: {exc}") from None
    return conn


def is_read_only(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused a write because the file (or its folder) is read-only."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith("SQLITE_READONLY") or "readonly database" in str(exc)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL once; changing the mode does not wait on the busy timeout, so retry.
    A read-only ledger keeps its mode (it can still be read)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if is_read_only(exc):
                return
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def write_transaction(conn: sqlite3.Connection, path: str = "") -> Iterator[sqlite3.Connection]:
    """A write transaction holding SQLite's write lock from the start (``BEGIN IMMEDIATE``).

    Raises:
        LedgerError: ``ledger <path> is read-only``, or any other refusal by SQLite, in one
            line; the transaction is rolled back.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        if is_read_only(exc):
            raise LedgerError(f"ledger {path or 'file'} is read-only") from None
        raise LedgerError(f"ledger {path or 'file'}: cannot write: {exc}") from None


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM _neurath_migrations ORDER BY name").fetchall()
    return [r[0] for r in rows]


def migrate(
    conn: sqlite3.Connection, path: str, migrations: Sequence[Migration] = MIGRATIONS
) -> list[str]:
    """Apply the migrations not yet applied, in order, each in its own transaction; return the
    names applied now. A ledger with nothing to apply is not written to (it may be read-only)."""
    tables = {
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if tables and "_neurath_migrations" not in tables:
        raise LedgerError(
            f"{path}: a SQLite database but not a neurath ledger (it has tables "
            f"{', '.join(sorted(tables)[:5])}); choose another file"
        )
    applied = set(applied_migrations(conn)) if tables else set()
    known = {m.name for m in MIGRATIONS}
    unknown = sorted(applied - known)
    if unknown:
        raise LedgerError(
            f"{path}: written by a newer neurath (unknown migrations: "
            f"{', '.join(unknown)}); upgrade neurath to read it"
        )
    if all(m.name in applied for m in migrations):
        return []
    with write_transaction(conn, path):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _neurath_migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    applied_now: list[str] = []
    for migration in migrations:
        with write_transaction(conn, path):
            done = conn.execute(
                "SELECT 1 FROM _neurath_migrations WHERE name = ?", (migration.name,)
            ).fetchone()
            if done:
                continue
            for statement in _statements(migration.sql):
                conn.execute(statement)
            if migration.after is not None:
                migration.after(conn)
            conn.execute(
                "INSERT INTO _neurath_migrations (name, applied_at) VALUES (?, ?)",
                (migration.name, now()),
            )
        applied_now.append(migration.name)
    return applied_now


def lastrowid(cur: sqlite3.Cursor) -> int:
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


def check_migrated(conn: sqlite3.Connection, path: str, names: list[str]) -> None:
    """Raise :class:`LedgerError` unless every migration in ``names`` was applied (a ledger
    opened to be checked is never migrated: the row chain's backfill would chain whatever
    rows it holds, so a chain removed by hand would be rebuilt over forged rows)."""
    try:
        applied = set(applied_migrations(conn))
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {path}: {exc}") from None
    missing = [n for n in names if n not in applied]
    if missing:
        raise LedgerError(
            f"ledger {path} lacks migration {missing[0]}: an older ledger, or one whose chain "
            "was removed; it cannot be checked as it is"
        )


@cache
def expected_schema() -> dict[tuple[str, str], str]:
    """``(type, name) -> SQL`` of every table, index and trigger the migrations create."""
    conn = connect(":memory:")
    try:
        migrate(conn, ":memory:")
        return schema(conn)
    finally:
        conn.close()


def schema(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    return {
        (str(t), str(n)): " ".join(str(sql).split())
        for t, n, sql in conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'index', "
            "'trigger') AND name NOT LIKE 'sqlite_%'"
        )
    }
