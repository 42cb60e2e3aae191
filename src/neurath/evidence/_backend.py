"""Which database a ledger lives in: a SQLite file (the default) or a PostgreSQL server.

:class:`~neurath.evidence.Ledger` asks this module to open, migrate and lock; everything else
it does is the same SQL on both (:mod:`neurath.evidence._postgres` adapts the dialect).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from neurath._errors import LedgerError
from neurath.evidence import _postgres, _sqlite
from neurath.evidence._migrations import MIGRATIONS, Migration

Connection = Any
"""An open ledger connection: :class:`sqlite3.Connection` or :class:`~._postgres.PgConnection`
(both take ``execute(sql, args)`` with ``?`` placeholders)."""


def is_postgres(conn: Connection) -> bool:
    return isinstance(conn, _postgres.PgConnection)


def ledger_exists(url: str | Path) -> bool:
    """Whether a ledger may already be at ``url``: a file that exists; a PostgreSQL URL always
    (whether the database holds one is known once connected)."""
    if _postgres.is_postgres_url(url):
        return True
    path = _sqlite.sqlite_path(url)
    return path == ":memory:" or Path(path).exists()


def prepare_location(url: str | Path) -> None:
    """Create the folder a new ledger file goes into (nothing to do for a server)."""
    if not _postgres.is_postgres_url(url):
        Path(_sqlite.sqlite_path(url)).parent.mkdir(parents=True, exist_ok=True)


def open_connection(url: str | Path, *, create: bool) -> tuple[Connection, str]:
    """Connect to the ledger at ``url``; return the connection and the name messages use.

    Raises:
        LedgerError: in one line, when there can be no ledger there.
    """
    if _postgres.is_postgres_url(url):
        text = str(url)
        return _postgres.connect(text), _postgres.shown(text)
    path = _sqlite.sqlite_path(url)
    if path != ":memory:":
        _sqlite.check_location(Path(path), create)
    return _sqlite.connect(path), path


@contextmanager
def write_transaction(conn: Connection, where: str) -> Iterator[Connection]:
    """A write transaction that holds the ledger's one writer lock from its start."""
    if is_postgres(conn):
        with _postgres.write_transaction(conn, where) as tx:
            yield tx
    else:
        with _sqlite.write_transaction(conn, where) as tx:
            yield tx


def applied_migrations(conn: Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM _neurath_migrations ORDER BY name").fetchall()
    return [str(r[0]) for r in rows]


def migrate(
    conn: Connection, where: str, migrations: Sequence[Migration] = MIGRATIONS
) -> list[str]:
    """Apply the migrations not yet applied, in order; return the names applied now."""
    if not is_postgres(conn):
        return _sqlite.migrate(conn, where, migrations)
    # Every step under the writer lock: sixteen processes opening a new ledger at once
    # migrate it once.
    with write_transaction(conn, where):
        present = _postgres.tables(conn)
        if present and "_neurath_migrations" not in present:
            raise LedgerError(
                f"{where}: a database but not a neurath ledger (it has tables "
                f"{', '.join(sorted(present)[:5])}); choose another database or schema"
            )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _neurath_migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    _refuse_unknown(conn, where)
    applied_now: list[str] = []
    for migration in migrations:
        with write_transaction(conn, where):
            done = conn.execute(
                "SELECT 1 FROM _neurath_migrations WHERE name = ?", (migration.name,)
            ).fetchone()
            if done:
                continue
            conn.execute(migration.postgres)
            if migration.after is not None:
                migration.after(conn)
            conn.execute(
                "INSERT INTO _neurath_migrations (name, applied_at) VALUES (?, ?)",
                (migration.name, _sqlite.now()),
            )
        applied_now.append(migration.name)
    return applied_now


def _refuse_unknown(conn: Connection, where: str) -> None:
    unknown = sorted(set(applied_migrations(conn)) - {m.name for m in MIGRATIONS})
    if unknown:
        raise LedgerError(
            f"{where}: written by a newer neurath (unknown migrations: "
            f"{', '.join(unknown)}); upgrade neurath to read it"
        )


def check_migrated(conn: Connection, where: str, names: list[str]) -> None:
    """Raise :class:`LedgerError` unless every migration in ``names`` was applied."""
    if not is_postgres(conn):
        _sqlite.check_migrated(conn, where, names)
        return
    if "_neurath_migrations" not in _postgres.tables(conn):
        raise LedgerError(f"cannot open ledger {where}: no neurath ledger there")
    applied = set(applied_migrations(conn))
    missing = [n for n in names if n not in applied]
    if missing:
        raise LedgerError(
            f"ledger {where} lacks migration {missing[0]}: an older ledger, or one whose chain "
            "was removed; it cannot be checked as it is"
        )


def schemas(conn: Connection) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    """``(actual, expected)``: every table, index and trigger of the ledger as its database
    prints them, and as the migrations create them on a blank ledger of the same kind.

    On PostgreSQL the blank ledger is built in a scratch schema inside a transaction that is
    rolled back (DDL is transactional there), so nothing is left behind.
    """
    if not is_postgres(conn):
        return _sqlite.schema(conn), _sqlite.expected_schema()
    actual = _postgres.schema(conn)
    conn.execute("BEGIN")
    try:
        conn.execute("CREATE SCHEMA neurath_expected")
        conn.execute("SET LOCAL search_path TO neurath_expected")
        for migration in MIGRATIONS:
            conn.execute(migration.postgres)
        expected = _postgres.schema(conn)
    finally:
        conn.execute("ROLLBACK")
    return actual, expected
