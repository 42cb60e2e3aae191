"""Checking a ledger whole: its schema, its hash chain, its manifests' hashes, its bodies.

Also the one check of a finding before it is stored or after it is read
(:func:`checked_finding`, :func:`parse_finding`): a :class:`Finding` built around validation
(``model_construct``, ``model_copy(update=...)``) is validated again, and finiteness is checked
here as well as in the model.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from typing import Any, NamedTuple

from pydantic import ValidationError

from neurath._errors import LedgerError
from neurath.evidence._assessment import Assessment
from neurath.evidence._chain import (
    DATA_TABLES,
    GENESIS,
    KEYED_TABLES,
    entry_hash,
    manifest_digest,
    row_hash,
    rows,
)
from neurath.evidence._model import Finding
from neurath.evidence._model_v2 import FindingV2, finding_from_json, header_from_json


class LedgerReport(NamedTuple):
    """What :meth:`~neurath.evidence.Ledger.verify` found: an intact ledger."""

    rows: int
    """Data rows (manifests, findings, their links, assessments, anchors), each chained."""
    head: str
    """Hash of the newest chain entry (64 hex; all zeros for an empty ledger)."""


def why(exc: Exception) -> str:
    """The first problem a validation error names, in one line."""
    if isinstance(exc, ValidationError) and exc.errors():
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg']}" if where else str(err["msg"])
    return " ".join(str(exc).split())


def _non_finite(f: Finding) -> str | None:
    numbers = {
        "value": f.value,
        "se": f.se,
        "extra_sd": f.extra_sd,
        "expected.not_scheming": f.expected.not_scheming,
        "expected.scheming": f.expected.scheming,
        **{f"factors.{k}": v for k, v in f.factors.items()},
    }
    for name, v in numbers.items():
        if not (isinstance(v, int | float) and math.isfinite(v)):
            return f"{name} is {v!r}, not a finite number"
    if not f.se > 0:
        return f"se is {f.se!r}; it must be positive"
    if not f.extra_sd >= 0:
        return f"extra_sd is {f.extra_sd!r}; it must not be negative"
    return None


def checked_finding(finding: Finding) -> Finding:
    """``finding`` validated again from its fields, however it was built.

    Raises:
        LedgerError: It is not a valid finding (NaN or infinite numbers, ``se`` not positive...).
    """
    name = getattr(finding, "id", "?")
    try:
        model = FindingV2 if isinstance(finding, FindingV2) else Finding
        checked = model.model_validate(finding.model_dump())
    except (ValidationError, ValueError, TypeError, AttributeError) as exc:
        raise LedgerError(f"finding {name!r} is not valid: {why(exc)}") from None
    problem = _non_finite(checked)
    if problem:
        raise LedgerError(f"finding {name!r} is not valid: {problem}")
    return checked


def parse_finding(body: str, where: str) -> Finding:
    """A stored finding body parsed and checked; ``where`` names the record in errors."""
    try:
        finding = finding_from_json(body)
    except (ValidationError, ValueError) as exc:
        raise LedgerError(f"{where}: the stored body is not a valid finding: {why(exc)}") from None
    problem = _non_finite(finding)
    if problem:
        raise LedgerError(f"{where}: the stored body is not a valid finding: {problem}")
    return finding


def verify(conn: Any, path: str) -> LedgerReport:
    """Check the ledger open on ``conn``; raise :class:`LedgerError` naming the first problem."""
    try:
        _check_schema(conn)
        head, chained = _check_links(conn)
        n = _check_rows(conn, chained)
        _check_manifests(conn)
        _check_bodies(conn)
    except LedgerError as exc:
        raise LedgerError(f"ledger {path}: {exc}") from None
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger {path}: cannot read: {exc}") from None
    except (TypeError, ValueError) as exc:  # a BLOB or a stray value written around neurath
        raise LedgerError(f"ledger {path}: holds a value neurath never writes: {exc}") from None
    return LedgerReport(n, head)


def _check_schema(conn: Any) -> None:
    from neurath.evidence._backend import schemas

    actual, expected = schemas(conn)
    for (kind, name), sql in expected.items():
        if (kind, name) not in actual:
            raise LedgerError(f"{kind} {name} is missing (dropped?)")
        if actual[kind, name] != sql:
            raise LedgerError(f"{kind} {name} is not the one neurath creates (replaced?)")
    for kind, name in sorted(set(actual) - set(expected)):
        if kind == "trigger":
            raise LedgerError(f"{kind} {name} is not one neurath creates (added by hand?)")


def _check_links(conn: Any) -> tuple[str, dict[str, dict[int, tuple[int, str]]]]:
    """Walk the chain; return its head and, per table, row id -> (seq, row hash)."""
    head = GENESIS
    chained: dict[str, dict[int, tuple[int, str]]] = {t: {} for t in DATA_TABLES}
    expected_seq = 1
    for seq, table, row_id, content, prev, stored in conn.execute(
        "SELECT seq, tbl, row_id, row_hash, prev, hash FROM chain ORDER BY seq"
    ):
        if seq != expected_seq:
            raise LedgerError(f"chain entry {expected_seq} is missing (the next is {seq})")
        if prev != head:
            raise LedgerError(f"chain entry {seq}: prev does not match the entry before it")
        if table not in chained:
            raise LedgerError(f"chain entry {seq} names an unknown table {table!r}")
        if stored != entry_hash(seq, table, row_id, content, prev):
            raise LedgerError(f"chain entry {seq}: its hash does not match its content")
        if row_id in chained[table]:
            raise LedgerError(f"chain entry {seq}: {table} row {row_id} is chained twice")
        chained[table][row_id] = (seq, content)
        head, expected_seq = stored, seq + 1
    return head, chained


def _check_rows(conn: Any, chained: dict[str, dict[int, tuple[int, str]]]) -> int:
    n = 0
    for table in DATA_TABLES:
        entries = chained[table]
        by_hash = Counter(content for _, content in entries.values())
        for rowid, row in rows(conn, table):
            n += 1
            content = row_hash(row)
            if table in KEYED_TABLES:
                if rowid not in entries:
                    raise LedgerError(
                        f"{table} record {rowid} has no chain entry (written around the ledger)"
                    )
                seq, chained_hash = entries.pop(rowid)
                if chained_hash != content:
                    raise LedgerError(
                        f"{table} record {rowid} differs from what chain entry {seq} recorded "
                        "(edited after it was written)"
                    )
            elif by_hash[content]:
                by_hash[content] -= 1
            else:
                raise LedgerError(
                    f"{table} row of manifest {row.get('manifest_id')} at position "
                    f"{row.get('position')} has no chain entry matching its content "
                    "(written around the ledger, or edited)"
                )
        if table in KEYED_TABLES and entries:
            row_id, (seq, _) = min(entries.items())
            raise LedgerError(f"chain entry {seq} names {table} record {row_id}, which is gone")
        if table not in KEYED_TABLES and +by_hash:
            raise LedgerError(f"a chained {table} row is gone or was edited")
    return n


def _check_manifests(conn: Any) -> None:
    for manifest_id, header, stored, stamp in conn.execute(
        "SELECT id, header, sha256, created_at FROM manifests ORDER BY id"
    ).fetchall():
        # Its own findings were written with it (same time, no correction); linked ones name
        # their place in the manifest.
        own = [
            r[0]
            for r in conn.execute(
                "SELECT body FROM findings WHERE manifest_id = ? AND supersedes IS NULL "
                "AND created_at = ? ORDER BY id",
                (manifest_id, stamp),
            )
        ]
        linked = dict(
            conn.execute(
                "SELECT position, body FROM manifest_findings WHERE manifest_id = ?",
                (manifest_id,),
            ).fetchall()
        )
        queue = iter(own)
        bodies = [
            linked[i] if i in linked else next(queue, "") for i in range(len(own) + len(linked))
        ]
        if manifest_digest(header, bodies) != stored:
            raise LedgerError(
                f"manifest {manifest_id}: its stored sha256 does not match its content"
            )


def _check_bodies(conn: Any) -> None:
    for record_id, body in conn.execute("SELECT id, body FROM findings ORDER BY id"):
        parse_finding(body, f"finding record {record_id}")
    for manifest_id, position, body in conn.execute(
        "SELECT manifest_id, position, body FROM manifest_findings ORDER BY manifest_id, position"
    ):
        parse_finding(body, f"manifest {manifest_id}'s finding at position {position}")
    for manifest_id, header in conn.execute("SELECT id, header FROM manifests ORDER BY id"):
        try:
            header_from_json(header)
        except (ValidationError, ValueError) as exc:
            raise LedgerError(f"manifest {manifest_id}: not a valid manifest: {why(exc)}") from None
    for assessment_id, body in conn.execute("SELECT id, body FROM assessments ORDER BY id"):
        try:
            Assessment.model_validate_json(body)
        except (ValidationError, ValueError) as exc:
            raise LedgerError(
                f"assessment {assessment_id}: not a valid assessment: {why(exc)}"
            ) from None


def check_against(header: Any, finding: Finding) -> None:
    """Refuse a finding naming a factor the manifest (``header``) does not define."""
    known = {f.id for f in header.factors}
    unknown = sorted(set(finding.factors) - known)
    if unknown:
        raise LedgerError(
            f"finding {finding.id!r} names factor(s) {', '.join(unknown)} that manifest of "
            f"{header.target!r} does not define"
        )
