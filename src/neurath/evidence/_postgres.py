"""The ledger on PostgreSQL: a team's shared evidence base (``postgresql://...`` URLs).

The same schema, migrations and guarantees as the SQLite file (:mod:`neurath.evidence._sqlite`):

- append-only in the database: triggers refuse UPDATE, DELETE and TRUNCATE on every table that
  holds records (a correction is a new record);
- one writer at a time: a write transaction takes a transaction-scoped advisory lock first,
  as SQLite's ``BEGIN IMMEDIATE`` takes its write lock, so the row chain (each entry hashes the
  one before it) is extended by one writer at a time and concurrent writers queue;
- a writer that dies mid-transaction leaves nothing: the server rolls back a transaction whose
  connection is gone, and releases its lock.

The ledger code speaks SQLite's dialect (``?`` placeholders); :class:`PgConnection` adapts it,
and raises PostgreSQL's errors as the :mod:`sqlite3` error classes that code already handles.
psycopg 3 is an optional dependency (``neurath[postgresql]``), imported only here.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from neurath._errors import LedgerError

SCHEMES = ("postgresql", "postgres")

_LOCK_KEY = zlib.crc32(b"neurath ledger writer")
"""The advisory lock every writer takes (one per database)."""


def is_postgres_url(url: object) -> bool:
    """Whether ``url`` names a PostgreSQL ledger (``postgresql://`` or ``postgres://``)."""
    return isinstance(url, str) and url.partition("://")[0].lower() in SCHEMES and "://" in url


def shown(url: str) -> str:
    """``url`` as messages show it: any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresError(sqlite3.DatabaseError):
    """PostgreSQL refused a statement (raised where the ledger code handles SQLite's errors)."""


class PostgresIntegrityError(sqlite3.IntegrityError):
    """PostgreSQL refused a write as a constraint violation (append-only, unique, ...)."""


class PgConnection:
    """A psycopg connection that takes the ledger's SQLite-dialect statements.

    Autocommit, as the SQLite connection is: a statement outside :func:`write_transaction` is
    its own transaction.
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        import psycopg

        try:
            if parameters:
                return self._conn.execute(
                    sql.replace("%", "%%").replace("?", "%s"), tuple(parameters)
                )
            return self._conn.execute(sql)
        except psycopg.IntegrityError as exc:
            raise PostgresIntegrityError(_one_line(exc)) from None
        except psycopg.Error as exc:
            raise PostgresError(_one_line(exc)) from None

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self._conn.info.transaction_status != TransactionStatus.IDLE)

    def close(self) -> None:
        self._conn.close()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def connect(url: str) -> PgConnection:
    """An autocommit connection to the PostgreSQL ledger at ``url``.

    Raises:
        LedgerError: psycopg is not installed, or the server cannot be reached, in one line.
    """
    try:
        import psycopg
    except ImportError:
        raise LedgerError(
            f"cannot open ledger {shown(url)}: PostgreSQL ledgers need psycopg; "
            "install neurath[postgresql]"
        ) from None
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise LedgerError(f"cannot open ledger {shown(url)}: {_one_line(exc)}") from None
    return PgConnection(conn)


@contextmanager
def write_transaction(conn: PgConnection, where: str) -> Iterator[PgConnection]:
    """A write transaction that holds the ledger's writer lock from its start.

    Raises:
        LedgerError: any refusal by the server, in one line; the transaction is rolled back.
    """
    try:
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY,))
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger {where}: cannot write: {exc}") from None


def tables(conn: PgConnection) -> set[str]:
    """The tables in the connection's current schema."""
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    ).fetchall()
    return {str(r[0]) for r in rows}


APPEND_ONLY_FUNCTION = """
CREATE FUNCTION neurath_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: record a correction instead'
        USING ERRCODE = 'restrict_violation';
END
$$;
"""
"""The one function every append-only trigger calls (created by the first migration)."""

APPEND_ONLY_OPERATIONS = ("update", "delete", "truncate")


def append_only(table: str) -> str:
    """Triggers that refuse UPDATE and DELETE of any row of ``table``, and TRUNCATE."""
    return "".join(
        f"CREATE TRIGGER {table}_append_only_{op} BEFORE {op.upper()} ON {table} "
        f"FOR EACH {'STATEMENT' if op == 'truncate' else 'ROW'} "
        "EXECUTE FUNCTION neurath_append_only();\n"
        for op in APPEND_ONLY_OPERATIONS
    )


def schema(conn: PgConnection) -> dict[tuple[str, str], str]:
    """``(kind, name) -> definition`` of the tables, indexes, triggers and the append-only
    function in the current schema, as PostgreSQL prints them (the comparable form of
    SQLite's ``sqlite_master``). A disabled trigger's definition says so."""
    out: dict[tuple[str, str], str] = {}
    for name, columns in conn.execute(
        "SELECT c.relname, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)"
        " || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY a.attnum) "
        "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
        "AND a.attnum > 0 AND NOT a.attisdropped GROUP BY c.relname"
    ).fetchall():
        out["table", str(name)] = str(columns)
    for name, definition in conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    ).fetchall():
        out["index", str(name)] = str(definition)
    for name, definition, enabled in conn.execute(
        "SELECT t.tgname, pg_get_triggerdef(t.oid), t.tgenabled FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal"
    ).fetchall():
        out["trigger", str(name)] = str(definition) + ("" if enabled == "O" else " (disabled)")
    for name, source in conn.execute(
        "SELECT p.proname, p.prosrc FROM pg_proc p "
        "WHERE p.pronamespace = current_schema()::regnamespace AND p.proname LIKE 'neurath_%'"
    ).fetchall():
        out["function", str(name)] = " ".join(str(source).split())
    (current,) = conn.execute("SELECT current_schema()").fetchone()
    # Definitions name tables with their schema; the same ledger in another schema is the same.
    return {k: " ".join(v.replace(f"{current}.", "").split()) for k, v in out.items()}
