"""The ledger's hash chain: every data row, in the order written, linked by SHA-256.

Each insert into a data table is followed, in the same transaction, by a ``chain`` entry
holding the row's content hash and the hash of the entry before it. An edited row no longer
matches its entry, a row written around the ledger has none, and an entry cannot be changed
without changing every hash after it (the head), which anchors and reports record.

This module is the one place that hashes rows and manifests, for writing and for verifying.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

DATA_TABLES: tuple[str, ...] = (
    "manifests",
    "findings",
    "manifest_findings",
    "assessments",
    "anchors",
    "reviews",
)
"""Every table that holds records, in the order an old ledger's rows are chained."""

KEYED_TABLES: frozenset[str] = frozenset(
    {"manifests", "findings", "assessments", "anchors", "reviews"}
)
"""Tables with an ``id INTEGER PRIMARY KEY``: their chain entries name a stable row id.
(``manifest_findings`` rows are keyed by manifest and position, which their content holds.)"""

GENESIS = "0" * 64
"""The ``prev`` of the first chain entry."""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(data: Mapping[str, object]) -> str:
    return json.dumps(dict(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(row: Mapping[str, object]) -> str:
    """SHA-256 of a row's content: its columns as sorted-key JSON. NULL columns are left out,
    so a nullable column added by a later migration leaves the hashes of older rows alone."""
    return _sha256(_canonical({k: v for k, v in row.items() if v is not None}))


def entry_hash(seq: int, table: str, row_id: int, content: str, prev: str) -> str:
    """The hash of a chain entry, which covers the entry before it through ``prev``."""
    return _sha256(
        _canonical({"seq": seq, "tbl": table, "row_id": row_id, "row_hash": content, "prev": prev})
    )


def manifest_digest(header: str, bodies: Iterable[str]) -> str:
    """A manifest's ``sha256``: its header JSON followed by each finding's JSON, in order."""
    digest = hashlib.sha256(header.encode())
    for body in bodies:
        digest.update(body.encode())
    return digest.hexdigest()


def _rowid(conn: Any, table: str) -> str:
    """The column that orders a table's rows: SQLite's implicit ``rowid``; on PostgreSQL the
    ``id`` of keyed tables, else the ``neurath_rowid`` column (not part of a row's content)."""
    if isinstance(conn, sqlite3.Connection):
        return "rowid"
    return "id" if table in KEYED_TABLES else "neurath_rowid"


def rows(
    conn: Any, table: str, rowid: int | None = None
) -> Iterator[tuple[int, dict[str, object]]]:
    """``(rowid, {column: value})`` for every row of a data table (or the one ``rowid``)."""
    if table not in DATA_TABLES:
        raise ValueError(f"not a ledger data table: {table!r}")
    key = _rowid(conn, table)
    sql = f"SELECT {key} AS neurath_rowid, * FROM {table}"
    args: tuple[object, ...] = ()
    if rowid is not None:
        sql, args = sql + f" WHERE {key} = ?", (rowid,)
    cur = conn.execute(sql + f" ORDER BY {key}", args)
    names = [d[0] for d in cur.description][1:]
    for r in cur:
        row = dict(zip(names, r[1:], strict=True))
        row.pop("neurath_rowid", None)
        yield int(r[0]), row


def link(conn: Any, table: str, rowid: int) -> str:
    """Chain the row ``rowid`` of ``table`` as stored (inside the caller's write transaction);
    return the new head."""
    ((_, row),) = rows(conn, table, rowid)
    last = conn.execute("SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    content = row_hash(row)
    head = entry_hash(seq, table, rowid, content, prev)
    conn.execute(
        "INSERT INTO chain (seq, tbl, row_id, row_hash, prev, hash) VALUES (?, ?, ?, ?, ?, ?)",
        (seq, table, rowid, content, prev, head),
    )
    return head


def insert(conn: Any, table: str, values: Mapping[str, object]) -> int:
    """Insert a row into a data table and chain it, in the caller's transaction; return its
    rowid (the record id of keyed tables)."""
    if table not in DATA_TABLES:
        raise ValueError(f"not a ledger data table: {table!r}")
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING {_rowid(conn, table)}"
    returned = conn.execute(sql, tuple(values.values())).fetchall()  # finish the statement
    row = returned[0] if returned else None
    if row is None or row[0] is None:  # pragma: no cover - both databases return the key
        raise sqlite3.DatabaseError("the database did not return a record id")
    rowid = int(row[0])
    link(conn, table, rowid)
    return rowid


def backfill(conn: Any) -> None:
    """Chain the rows an older ledger holds, table by table in id order (migration 0004)."""
    if isinstance(conn, sqlite3.Connection):
        present = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    else:
        from neurath.evidence._postgres import tables

        present = tables(conn)
    chained = {(str(t), int(i)) for t, i in conn.execute("SELECT tbl, row_id FROM chain")}
    for table in DATA_TABLES:
        if table not in present:
            continue
        for rowid in [r for r, _ in rows(conn, table)]:
            if (table, rowid) not in chained:
                link(conn, table, rowid)
