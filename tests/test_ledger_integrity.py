"""The ledger's integrity: its hash chain, ``verify``, anchors of runs, refused invalid findings,
unreadable ledgers, and ``neurath ledger list`` / ``verify`` on the command line."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import neurath.cli._assess  # registers the commands used here
import neurath.cli._ledger  # noqa: F401
from neurath import Finding, Ledger, LedgerError, assess, load_manifest
from neurath.cli._main import cli
from neurath.evidence import Anchor, LedgerReport, verify_ledger
from neurath.evidence._chain import GENESIS, backfill, manifest_digest
from neurath.evidence._migrations import MIGRATIONS
from neurath.evidence._sqlite import connect, migrate

from .test_manifest import SPEC_V1

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def manifest(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text(SPEC_V1)
    return load_manifest(path)


def _finding(fid: str = "x", **changes: object) -> Finding:
    data: dict[str, object] = {
        "id": fid,
        "experiment": "probe",
        "value": 0.1,
        "se": 0.1,
        "expected": {"not_scheming": 0.0, "scheming": 1.0},
    }
    return Finding.model_validate({**data, **changes})


@pytest.fixture
def filled(tmp_path: Path, manifest) -> Path:
    """A ledger with a row in every data table: 12 rows in all."""
    db = tmp_path / "l.db"
    fill(db, manifest)
    return db


def fill(db: str | Path, manifest) -> None:  # type: ignore[no-untyped-def]
    """Write a row into every data table of the ledger at ``db``: 12 rows in all."""
    with Ledger(db, author="alice") as ledger:
        mid, _ = ledger.record(manifest, assess(manifest, draws=0), source="m.yaml")  # 3 rows
        (original,) = ledger.findings(manifest_id=mid)
        fixed = original.finding.model_copy(update={"value": 0.01})
        ledger.correct_finding(original.id, fixed, reason="regraded")  # 1
        made = {
            f.id: ledger.append_finding(f, target="model-x", source="run a", audit_entry=f.id)
            for f in manifest.findings
        }  # 1
        ledger.record_manifest(manifest, linked=made)  # manifest + link: 2
        ledger.append_finding(_finding("other"), target="model-y", source="run b")  # 1
        ledger.record_anchor("run-1", "a" * 64, 7, "b" * 64)  # 1
        ledger.record_anchor("run-2", "c" * 64, 3, "d" * 64, signature="sig")  # 1
        ledger.record_assessment(assess(manifest, draws=0))  # 1
        ledger.append_finding(_finding("late"), target="model-x")  # 1


def _raw(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, isolation_level=None)


def _trigger_sql(conn: sqlite3.Connection, name: str) -> str:
    return str(conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0])


# -- verify ------------------------------------------------------------------------------------
def test_a_clean_ledger_verifies_with_its_row_count(filled: Path) -> None:
    report = verify_ledger(filled)
    assert isinstance(report, LedgerReport) and report.rows == 12
    with _raw(filled) as conn:
        assert conn.execute("SELECT COUNT(*) FROM chain").fetchone()[0] == 12
        (head,) = conn.execute("SELECT hash FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
    assert report.head == head and len(head) == 64
    # Writing extends the chain: a new head, one more row.
    with Ledger(filled) as ledger:
        ledger.append_finding(_finding("more"), target="model-z")
        again = ledger.verify()
    assert again.rows == 13 and again.head != report.head


def test_an_empty_ledger_verifies(tmp_path: Path) -> None:
    with Ledger(tmp_path / "e.db") as ledger:
        assert ledger.verify() == (0, GENESIS)


def test_a_dropped_trigger_is_caught(filled: Path) -> None:
    with _raw(filled) as conn:
        conn.execute("DROP TRIGGER findings_append_only_update")
    with pytest.raises(LedgerError, match="trigger findings_append_only_update is missing"):
        verify_ledger(filled)


def test_a_replaced_trigger_or_an_added_one_is_caught(filled: Path) -> None:
    with _raw(filled) as conn:
        conn.execute("DROP TRIGGER assessments_append_only_delete")
        conn.execute(
            "CREATE TRIGGER assessments_append_only_delete BEFORE DELETE ON assessments "
            "BEGIN SELECT 1; END"
        )
    with pytest.raises(LedgerError, match="trigger assessments_append_only_delete is not the one"):
        verify_ledger(filled)
    other = filled.with_name("other.db")
    with Ledger(other) as ledger:
        ledger._conn.execute("CREATE TRIGGER sneaky AFTER INSERT ON findings BEGIN SELECT 1; END")
        with pytest.raises(LedgerError, match="trigger sneaky is not one neurath creates"):
            ledger.verify()


def test_a_dropped_table_is_caught(filled: Path) -> None:
    with _raw(filled) as conn:
        conn.execute("DROP TABLE anchors")
    with pytest.raises(LedgerError, match="table anchors is missing"):
        verify_ledger(filled)


def test_a_forged_back_dated_row_is_caught(filled: Path) -> None:
    with _raw(filled) as conn:  # inserts are allowed by the triggers: only the chain knows
        conn.execute(
            "INSERT INTO findings (manifest_id, finding_id, target, body, author, created_at) "
            "VALUES (NULL, 'forged', 'model-x', ?, 'mallory', '2001-01-01T00:00:00+00:00')",
            (_finding("forged").model_dump_json(),),
        )
        (forged,) = conn.execute("SELECT MAX(id) FROM findings").fetchone()
    with pytest.raises(LedgerError, match=f"findings record {forged} has no chain entry"):
        verify_ledger(filled)


def test_an_edited_row_is_caught_though_its_trigger_is_back(filled: Path) -> None:
    with _raw(filled) as conn:
        sql = _trigger_sql(conn, "findings_append_only_update")
        conn.execute("DROP TRIGGER findings_append_only_update")
        body = _finding("hp-1", value=0.9).model_dump_json()
        conn.execute("UPDATE findings SET body = ? WHERE id = 1", (body,))
        conn.execute(sql)
    with pytest.raises(LedgerError, match=r"findings record 1 differs from what chain entry 2"):
        verify_ledger(filled)


def test_an_edited_link_row_and_an_edited_chain_are_caught(filled: Path) -> None:
    with _raw(filled) as conn:
        sql = _trigger_sql(conn, "manifest_findings_append_only_update")
        conn.execute("DROP TRIGGER manifest_findings_append_only_update")
        conn.execute("UPDATE manifest_findings SET record_id = 1")
        conn.execute(sql)
    with pytest.raises(LedgerError, match="manifest_findings row of manifest 2 at position 0"):
        verify_ledger(filled)
    with Ledger(filled.with_name("clean.db")) as ledger:
        ledger.append_finding(_finding("a"), target="t")
        ledger.append_finding(_finding("b"), target="t")
        sql = _trigger_sql(ledger._conn, "chain_append_only_update")
        ledger._conn.execute("DROP TRIGGER chain_append_only_update")
        ledger._conn.execute("UPDATE chain SET row_hash = ? WHERE seq = 1", ("0" * 64,))
        with pytest.raises(LedgerError, match="trigger chain_append_only_update is missing"):
            ledger.verify()
        ledger._conn.execute(sql)
        with pytest.raises(LedgerError, match="chain entry 1: its hash does not match"):
            ledger.verify()


def _rewrite(db: Path, *edits: tuple[str, tuple[object, ...]]) -> None:
    """Edit rows and rebuild the whole chain consistently, triggers restored: what only the
    manifests' own hashes and the bodies' validity still catch."""
    with _raw(db) as conn:
        saved = {
            name: sql
            for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            )
        }
        for name in saved:
            conn.execute(f"DROP TRIGGER {name}")
        for sql, args in edits:
            conn.execute(sql, args)
        conn.execute("DELETE FROM chain")
        backfill(conn)
        for sql in saved.values():
            conn.execute(sql)


def test_a_manifest_whose_hash_does_not_match_is_caught(filled: Path) -> None:
    _rewrite(filled, ("UPDATE manifests SET header = replace(header, 'model-x', 'mx')", ()))
    with pytest.raises(LedgerError, match="manifest 1: its stored sha256 does not match"):
        verify_ledger(filled)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            '{"id": "x", "experiment": "e", "value": NaN, "se": 1, '
            '"expected": {"not_scheming": 0, "scheming": 1}}',
            "value",
        ),
        (_finding("x").model_dump_json().replace('"se":0.1', '"se":-0.1'), "se"),
        ("not json", "not a valid finding"),
    ],
    ids=["nan", "negative-se", "garbage"],
)
def test_stored_bodies_that_do_not_parse_are_named(filled: Path, body: str, fragment: str) -> None:
    _rewrite(filled, ("UPDATE findings SET body = ? WHERE id = 4", (body,)))
    with pytest.raises(LedgerError, match=r"finding record 4: the stored body is not a valid"):
        verify_ledger(filled)
    with Ledger(filled) as ledger:
        with pytest.raises(LedgerError, match=rf"finding record 4 in .*{fragment}"):
            ledger.history(4)
        with pytest.raises(LedgerError, match="finding record 4"):
            ledger.findings()
        assert [r.id for r in ledger.history(2)] == [1, 2]  # the other records still read


def test_an_old_ledger_gains_a_chain_that_verifies(tmp_path: Path, manifest) -> None:
    db = str(tmp_path / "old.db")
    conn = connect(db)
    assert migrate(conn, db, MIGRATIONS[:3])[-1] == "0003_findings_as_made"
    header = manifest.model_dump_json(exclude={"findings"})
    (body,) = [f.model_dump_json() for f in manifest.findings]
    corrected = manifest.findings[0].model_copy(update={"value": 0.2}).model_dump_json()
    sql = [
        (
            "INSERT INTO findings (finding_id, target, body, author, created_at, source, "
            "audit_entry) VALUES ('hp-1', 'model-x', ?, 'old', 't0', 'run', 'e1')",
            (body,),
        ),
        (
            "INSERT INTO manifests (target, sha256, header, author, created_at) VALUES "
            "('model-x', ?, ?, 'old', 't1')",
            (manifest_digest(header, [body]), header),
        ),
        ("INSERT INTO manifest_findings VALUES (1, 0, 1, ?)", (body,)),
        (
            "INSERT INTO findings (manifest_id, finding_id, target, body, author, created_at, "
            "supersedes, reason) VALUES (NULL, 'hp-1', 'model-x', ?, 'old', 't2', 1, 'fix')",
            (corrected,),
        ),
        (
            "INSERT INTO assessments (manifest_id, target, p_not_scheming, body, author, "
            "created_at) VALUES (1, 'model-x', 0.5, ?, 'old', 't3')",
            (assess(manifest, draws=0).model_dump_json(),),
        ),
    ]
    for statement, args in sql:
        conn.execute(statement, args)
    assert "chain" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    with Ledger(db) as ledger:
        assert ledger.applied_migrations()[3:] == ["0004_row_chain", "0005_reviews"]
        report = ledger.verify()
        assert report.rows == 5
        assert ledger.manifest(1).findings[0].value == 0.2
        chained = ledger._conn.execute("SELECT tbl, row_id FROM chain ORDER BY seq").fetchall()
        assert chained[:2] == [("manifests", 1), ("findings", 1)]
        ledger.append_finding(_finding("new"), target="model-x")
        assert ledger.verify().rows == 6


# -- findings refused ---------------------------------------------------------------------------
def test_invalid_corrections_and_findings_are_refused(tmp_path: Path, manifest) -> None:
    with Ledger(tmp_path / "l.db") as ledger:
        mid = ledger.record_manifest(manifest)
        (original,) = ledger.findings(manifest_id=mid)
        good = original.finding
        bad = {
            "nan value": good.model_copy(update={"value": math.nan}),
            "inf se": good.model_copy(update={"se": math.inf}),
            "negative se": good.model_copy(update={"se": -0.1}),
            "zero se": good.model_copy(update={"se": 0.0}),
            "nan expected": good.model_copy(
                update={"expected": good.expected.model_copy(update={"scheming": math.nan})}
            ),
            "constructed": Finding.model_construct(**{**good.__dict__, "value": -math.inf}),
        }
        for what, finding in bad.items():
            with pytest.raises(LedgerError, match="finding 'hp-1' is not valid"):
                ledger.correct_finding(original.id, finding, reason=what)
            with pytest.raises(LedgerError, match="finding 'hp-1' is not valid"):
                ledger.append_finding(finding, target="elsewhere")
        with pytest.raises(LedgerError, match="is not valid"):
            ledger.record_manifest(manifest.model_copy(update={"findings": [bad["negative se"]]}))
        assert ledger.count("findings") == 1 and ledger.count("manifests") == 1
        assert [r.id for r in ledger.history(original.id)] == [original.id]
        ledger.correct_finding(original.id, good.model_copy(update={"value": 0.02}), reason="ok")
        assert [r.finding.value for r in ledger.history(original.id)] == [0.0, 0.02]
        assert ledger.verify().rows == 3


# -- anchors ------------------------------------------------------------------------------------
def test_anchors_are_recorded_chained_and_read_back(filled: Path) -> None:
    with Ledger(filled, author="runner") as ledger:
        new = ledger.record_anchor("run-1", "e" * 64, 9, "f" * 64, signature=None)
        runs = ledger.anchors("run-1")
        assert [a.audit_entries for a in runs] == [7, 9]
        latest = runs[-1]
        assert isinstance(latest, Anchor)
        assert latest == Anchor(
            new, "run-1", "e" * 64, 9, "f" * 64, None, "runner", latest.created_at
        )
        assert [a.run_id for a in ledger.anchors()] == ["run-1", "run-2", "run-1"]
        assert ledger.anchors("run-2")[0].signature == "sig"
        assert ledger.anchors("nope") == []
        assert ledger.count("anchors") == 3
        for args, fragment in [
            (("run-3", "a", -1, "b"), "must be a count"),
            (("run-3", "a", 1.5, "b"), "must be a count"),
            ((" ", "a", 1, "b"), "needs a run id"),
        ]:
            with pytest.raises(LedgerError, match=fragment):
                ledger.record_anchor(*args)  # type: ignore[arg-type]
        assert ledger.verify().rows == 13
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            ledger._conn.execute("UPDATE anchors SET audit_head = 'x'")


# -- unreadable and read-only ledgers ---------------------------------------------------------
def test_a_read_only_ledger_refuses_writes_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    with Ledger(db) as ledger:
        ledger.append_finding(_finding(), target="t")
        # The connection as SQLite gives it for a file the process may not write.
        ledger._conn.close()
        ledger._conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
        with pytest.raises(LedgerError, match=rf"^ledger {db} is read-only$"):
            ledger.append_finding(_finding("y"), target="t")
        with pytest.raises(LedgerError, match="is read-only"):
            ledger.record_anchor("r", "a", 1, "b")
        assert [r.finding.id for r in ledger.findings()] == ["x"]
        assert ledger.verify().rows == 1


@pytest.mark.skipif(AS_ROOT, reason="root reads and writes files whatever their mode")
def test_file_modes_are_honoured_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    with Ledger(db) as ledger:
        ledger.append_finding(_finding(), target="t")
    db.chmod(0o444)
    assert verify_ledger(db).rows == 1  # read-only still reads
    with pytest.raises(LedgerError, match=rf"ledger {db} is read-only"):
        Ledger(db).append_finding(_finding("y"), target="t")
    db.chmod(0o000)
    try:
        with pytest.raises(LedgerError, match=rf"cannot open ledger {db}: "):
            Ledger(db, create=False)
    finally:
        db.chmod(0o644)


# -- the command line -------------------------------------------------------------------------
def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("neurath: error: ")
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_cli_verify_prints_one_line(filled: Path) -> None:
    result = _run("ledger", "verify", "--db", str(filled))
    assert result.exit_code == 0, result.output
    head = verify_ledger(filled).head
    assert result.stdout == f"{filled}: ledger intact, 12 rows, head {head[:12]}\n"
    with _raw(filled) as conn:
        conn.execute("DROP TRIGGER manifests_append_only_delete")
    _one_line_error(
        _run("ledger", "verify", "--db", str(filled)),
        "trigger manifests_append_only_delete is missing",
    )


def test_cli_verify_in_a_real_process_fails_in_one_line(filled: Path) -> None:
    with _raw(filled) as conn:
        conn.execute(
            "INSERT INTO assessments (target, p_not_scheming, body, author, created_at) "
            "VALUES ('m', 0.5, '{}', 'mallory', '2000')"
        )
    out = subprocess.run(
        [sys.executable, "-m", "neurath", "ledger", "verify", "--db", str(filled)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1, out.stderr
    assert "assessments record 3 has no chain entry" in out.stderr


@pytest.mark.parametrize("command", ["verify", "list"])
def test_cli_unusable_ledgers_fail_in_one_line(tmp_path: Path, command: str) -> None:
    folder = tmp_path / "folder.db"
    folder.mkdir()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an SQLite file, only some text\n" * 100)
    for db, fragment in [
        (folder, f"cannot open ledger {folder}: it is a folder"),
        (garbage, f"cannot open ledger {garbage}: file is not a database"),
        (tmp_path / "missing.db", "no ledger there"),
    ]:
        _one_line_error(_run("ledger", command, "--db", str(db)), fragment)
    assert garbage.read_bytes().startswith(b"this is not")


@pytest.mark.skipif(AS_ROOT, reason="root reads and writes files whatever their mode")
def test_cli_read_only_and_unreadable_ledgers_fail_in_one_line(
    tmp_path: Path, filled: Path
) -> None:
    spec = tmp_path / "m.yaml"
    filled.chmod(0o444)
    try:
        _one_line_error(_run("assess", str(spec), "--db", str(filled)), "is read-only")
        assert _run("ledger", "verify", "--db", str(filled)).exit_code == 0
        filled.chmod(0o000)
        _one_line_error(_run("ledger", "list", "--db", str(filled)), "cannot open ledger")
    finally:
        filled.chmod(0o644)


def test_cli_list_shows_findings_and_counts_per_target(filled: Path) -> None:
    everything = _run("ledger", "list", "--db", str(filled))
    assert everything.exit_code == 0, everything.output
    out = everything.stdout
    assert out.startswith(f"{filled}: 2 assessments, 5 finding records (4 current, 1 corrected)\n")
    assert "Assessments" in out and "Finding records" in out
    assert "corrected by 2" in out and "corrects 1: regraded" in out
    assert "run b" in out and "other" in out and "0.1 ± 0.1" in out
    only_y = _run("ledger", "list", "--db", str(filled), "--target", "model-y")
    assert only_y.exit_code == 0, only_y.output
    assert only_y.stdout.startswith(
        f"{filled}: 0 assessments, 1 finding records (1 current, 0 corrected) about model-y\n"
    )
    assert "hp-1" not in only_y.stdout and "other" in only_y.stdout
    only_x = _run("ledger", "list", "--db", str(filled), "--target", "model-x")
    assert only_x.stdout.startswith(f"{filled}: 2 assessments, 4 finding records (3 current")
    brief = _run("ledger", "list", "--db", str(filled), "--no-findings")
    assert brief.exit_code == 0 and "Finding records" not in brief.stdout
    assert brief.stdout.startswith(f"{filled}: 2 assessments\n")
