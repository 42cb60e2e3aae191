"""Forward-only, named schema migrations of the ledger, in SQLite's dialect and PostgreSQL's.

Each migration runs once, in order, inside its own transaction, and is recorded by name in
``_neurath_migrations``. Never edit a released migration: append a new one. The two dialects
hold the same columns with the same values (PostgreSQL's ``BIGINT`` and ``DOUBLE PRECISION``
read back as SQLite's ``INTEGER`` and ``REAL`` do), so rows hash alike in both; where SQLite
has an implicit ``rowid`` (``manifest_findings``), PostgreSQL has a ``neurath_rowid`` column,
which the row chain leaves out of a row's content.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import NamedTuple

from neurath.evidence._chain import backfill
from neurath.evidence._postgres import APPEND_ONLY_FUNCTION
from neurath.evidence._postgres import append_only as _pg_append_only


class Migration(NamedTuple):
    name: str
    sql: str
    after: Callable[[sqlite3.Connection], None] | None = None
    """A step run after ``sql`` in the same transaction (filling a new table from old rows)."""
    postgres: str = ""
    """The same migration in PostgreSQL's dialect."""


def _append_only(table: str) -> str:
    return f"""
CREATE TRIGGER {table}_append_only_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: record a correction instead'); END;
CREATE TRIGGER {table}_append_only_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: record a correction instead'); END;
"""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_initial",
        """
CREATE TABLE manifests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    header TEXT NOT NULL,
    source TEXT,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    manifest_id INTEGER REFERENCES manifests(id),
    finding_id TEXT NOT NULL,
    target TEXT NOT NULL,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL,
    supersedes INTEGER REFERENCES findings(id),
    reason TEXT
);
CREATE TABLE assessments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    manifest_id INTEGER REFERENCES manifests(id),
    target TEXT NOT NULL,
    p_not_scheming REAL NOT NULL,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""
        + _append_only("manifests")
        + _append_only("findings")
        + _append_only("assessments"),
        postgres=APPEND_ONLY_FUNCTION
        + """
CREATE TABLE manifests (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    header TEXT NOT NULL,
    source TEXT,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE findings (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    manifest_id BIGINT REFERENCES manifests(id),
    finding_id TEXT NOT NULL,
    target TEXT NOT NULL,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL,
    supersedes BIGINT REFERENCES findings(id),
    reason TEXT
);
CREATE TABLE assessments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    manifest_id BIGINT REFERENCES manifests(id),
    target TEXT NOT NULL,
    p_not_scheming DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""
        + _pg_append_only("manifests")
        + _pg_append_only("findings")
        + _pg_append_only("assessments"),
    ),
    Migration(
        "0002_correction_chains",
        """
-- A record is corrected at most once, so corrections form chains and the current version of a
-- finding is unambiguous even when two writers race to correct the same record.
CREATE UNIQUE INDEX findings_corrected_once ON findings(supersedes) WHERE supersedes IS NOT NULL;
CREATE INDEX findings_by_target ON findings(target, finding_id);
CREATE INDEX findings_by_manifest ON findings(manifest_id);
CREATE INDEX assessments_by_target ON assessments(target);
""",
        postgres="""
CREATE UNIQUE INDEX findings_corrected_once ON findings(supersedes) WHERE supersedes IS NOT NULL;
CREATE INDEX findings_by_target ON findings(target, finding_id);
CREATE INDEX findings_by_manifest ON findings(manifest_id);
CREATE INDEX assessments_by_target ON assessments(target);
""",
    ),
    Migration(
        "0003_findings_as_made",
        """
-- Findings recorded as an experiment makes them, before any manifest holds them: who made them
-- (source) and the audit entry they came from, which makes recording them idempotent (a resumed
-- run that records the same entry again adds nothing).
ALTER TABLE findings ADD COLUMN source TEXT;
ALTER TABLE findings ADD COLUMN audit_entry TEXT;
CREATE UNIQUE INDEX findings_by_audit_entry ON findings(audit_entry)
    WHERE audit_entry IS NOT NULL;
CREATE INDEX findings_by_source ON findings(source, target);
-- A manifest assembled from findings already in the ledger names them instead of copying them;
-- body is the finding as that manifest models it (repeats of one statistic share the target's
-- deviation as a factor, so their extra_sd moves into a factor loading).
CREATE TABLE manifest_findings (
    manifest_id INTEGER NOT NULL REFERENCES manifests(id),
    position INTEGER NOT NULL,
    record_id INTEGER NOT NULL REFERENCES findings(id),
    body TEXT NOT NULL,
    PRIMARY KEY (manifest_id, position)
);
"""
        + _append_only("manifest_findings"),
        postgres="""
ALTER TABLE findings ADD COLUMN source TEXT;
ALTER TABLE findings ADD COLUMN audit_entry TEXT;
CREATE UNIQUE INDEX findings_by_audit_entry ON findings(audit_entry)
    WHERE audit_entry IS NOT NULL;
CREATE INDEX findings_by_source ON findings(source, target);
CREATE TABLE manifest_findings (
    neurath_rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    manifest_id BIGINT NOT NULL REFERENCES manifests(id),
    position INTEGER NOT NULL,
    record_id BIGINT NOT NULL REFERENCES findings(id),
    body TEXT NOT NULL,
    PRIMARY KEY (manifest_id, position)
);
"""
        + _pg_append_only("manifest_findings"),
    ),
    Migration(
        "0004_row_chain",
        """
-- Every data row, in the order written, with the SHA-256 of its content and of the entry before
-- it (neurath.evidence._chain): an edited row, a row written around the ledger, or a rewritten
-- entry no longer verifies. Rows already in the ledger are chained by this migration.
CREATE TABLE chain (
    seq INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    row_hash TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX chain_by_row ON chain(tbl, row_id);
-- Anchors of runs: the head and length of a run's audit chain and the hash of its results, kept
-- outside the run folder, so an audit log rewritten consistently is still caught.
CREATE TABLE anchors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    audit_head TEXT NOT NULL,
    audit_entries INTEGER NOT NULL,
    results_sha256 TEXT NOT NULL,
    signature TEXT,
    created_at TEXT NOT NULL,
    author TEXT NOT NULL
);
CREATE INDEX anchors_by_run ON anchors(run_id);
"""
        + _append_only("chain")
        + _append_only("anchors"),
        backfill,
        postgres="""
CREATE TABLE chain (
    seq BIGINT PRIMARY KEY,
    tbl TEXT NOT NULL,
    row_id BIGINT NOT NULL,
    row_hash TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX chain_by_row ON chain(tbl, row_id);
CREATE TABLE anchors (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id TEXT NOT NULL,
    audit_head TEXT NOT NULL,
    audit_entries BIGINT NOT NULL,
    results_sha256 TEXT NOT NULL,
    signature TEXT,
    created_at TEXT NOT NULL,
    author TEXT NOT NULL
);
CREATE INDEX anchors_by_run ON anchors(run_id);
"""
        + _pg_append_only("chain")
        + _pg_append_only("anchors"),
    ),
    Migration(
        "0005_reviews",
        """
-- Human reviews of AI research outputs (neurath.review): who judged which item, in which mode,
-- the verdict, the AI's verdict the item carried and why. ``submission`` is the reviewer's
-- one-time form nonce: a retried request records nothing twice. A reviewer judges an item once.
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    pool TEXT NOT NULL,
    mode TEXT NOT NULL,
    verdict INTEGER NOT NULL,
    ai_verdict INTEGER NOT NULL,
    reason TEXT NOT NULL,
    item TEXT NOT NULL,
    submission TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX reviews_once ON reviews(item_id, reviewer);
CREATE INDEX reviews_by_reviewer ON reviews(reviewer);
"""
        + _append_only("reviews"),
        postgres="""
CREATE TABLE reviews (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    pool TEXT NOT NULL,
    mode TEXT NOT NULL,
    verdict BIGINT NOT NULL,
    ai_verdict BIGINT NOT NULL,
    reason TEXT NOT NULL,
    item TEXT NOT NULL,
    submission TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX reviews_once ON reviews(item_id, reviewer);
CREATE INDEX reviews_by_reviewer ON reviews(reviewer);
"""
        + _pg_append_only("reviews"),
    ),
)
