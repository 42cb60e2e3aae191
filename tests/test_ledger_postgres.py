"""The ledger on a real PostgreSQL server (started by the test session): the database itself
refuses changes, the chain catches what a superuser does around the triggers, sixteen
concurrent writers lose and duplicate nothing, and a writer killed mid-transaction leaves no
partial record. The backend-independent behaviour runs on both databases in test_ledger.py."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

import neurath.cli._assess  # registers the commands used here
import neurath.cli._ledger  # noqa: F401
from neurath import Ledger, LedgerError, load_manifest
from neurath.cli._main import cli
from neurath.evidence import verify_ledger

from ._postgres_server import fresh_database
from .test_ledger_integrity import _finding, fill
from .test_manifest import SPEC_V1


@pytest.fixture
def manifest(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "m.yaml"
    path.write_text(SPEC_V1)
    return load_manifest(path)


@pytest.fixture
def db(postgres_url: str) -> str:
    return fresh_database(postgres_url)


def _raw(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def test_a_filled_ledger_verifies_and_hashes_rows_as_sqlite_does(
    db: str, tmp_path: Path, manifest
) -> None:
    fill(db, manifest)
    fill(tmp_path / "same.db", manifest)
    on_pg, on_sqlite = verify_ledger(db), verify_ledger(tmp_path / "same.db")
    assert on_pg.rows == on_sqlite.rows == 12
    # Rows hold the same values with the same types: the content hashes agree row by row
    # (timestamps aside, which differ between the two writes).
    with Ledger(db) as pg, Ledger(tmp_path / "same.db") as lite:
        for table in ("findings", "manifest_findings", "anchors"):
            strip = lambda rows: [  # noqa: E731
                {k: v for k, v in r.items() if k != "created_at"} for _, r in rows
            ]
            from neurath.evidence._chain import rows

            assert strip(rows(pg._conn, table)) == strip(rows(lite._conn, table))


def test_the_database_refuses_update_delete_and_truncate(db: str, manifest) -> None:
    fill(db, manifest)
    with _raw(db) as conn:
        for sql in (
            "UPDATE findings SET body = '{}'",
            "DELETE FROM assessments",
            "DELETE FROM manifest_findings",
            "UPDATE anchors SET run_id = 'x'",
            "TRUNCATE chain",
            "TRUNCATE manifests CASCADE",
        ):
            with pytest.raises(psycopg.errors.RestrictViolation, match="append-only"):
                conn.execute(sql)
        assert conn.execute("SELECT COUNT(*) FROM chain").fetchone() == (12,)


def test_edits_made_around_disabled_triggers_are_caught(db: str, manifest) -> None:
    fill(db, manifest)
    with _raw(db) as conn:
        conn.execute("ALTER TABLE findings DISABLE TRIGGER findings_append_only_update")
    with pytest.raises(LedgerError, match="trigger findings_append_only_update is not the one"):
        verify_ledger(db)
    with _raw(db) as conn:
        conn.execute("UPDATE findings SET author = 'mallory' WHERE id = 1")
        conn.execute("ALTER TABLE findings ENABLE TRIGGER findings_append_only_update")
    with pytest.raises(LedgerError, match="findings record 1 differs from what chain entry"):
        verify_ledger(db)


def test_dropped_and_added_triggers_are_caught(postgres_url: str, manifest) -> None:
    dropped, added = fresh_database(postgres_url), fresh_database(postgres_url)
    fill(dropped, manifest)
    with _raw(dropped) as conn:
        conn.execute("DROP TRIGGER chain_append_only_delete ON chain")
    with pytest.raises(LedgerError, match="trigger chain_append_only_delete is missing"):
        verify_ledger(dropped)
    fill(added, manifest)
    with _raw(added) as conn:
        conn.execute(
            "CREATE TRIGGER sneaky AFTER INSERT ON findings FOR EACH ROW "
            "EXECUTE FUNCTION neurath_append_only()"
        )
    with pytest.raises(LedgerError, match="trigger sneaky is not one neurath creates"):
        verify_ledger(added)


def _writer(url: str, who: str, count: int, start: mp.synchronize.Event) -> None:
    start.wait()
    with Ledger(url, author=who) as ledger:
        for i in range(count):
            ledger.append_finding(_finding(f"{who}-{i}"), target="m", audit_entry=f"{who}/{i}")


def test_sixteen_processes_append_200_findings_each_exactly_once(db: str) -> None:
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    writers = [f"w{i:02d}" for i in range(16)]
    procs = [ctx.Process(target=_writer, args=(db, w, 200, start)) for w in writers]
    for p in procs:  # they open (and migrate) the new ledger at the same moment
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    with Ledger(db) as ledger:
        ids = [r.finding.id for r in ledger.findings(target="m")]
        report = ledger.verify()
    assert len(ids) == 16 * 200
    assert set(ids) == {f"{w}-{i}" for w in writers for i in range(200)}
    assert report.rows == 16 * 200  # and each one chained once, in one unbroken chain


def _dies_mid_transaction(url: str, inside: mp.synchronize.Event) -> None:
    with Ledger(url, author="doomed") as ledger, ledger._write() as conn:
        for i in range(50):
            ledger._insert_finding(conn, None, "m", _finding(f"half-{i}"), "doomed")
        inside.set()
        time.sleep(600)  # killed here, before COMMIT


def test_a_writer_killed_mid_transaction_leaves_no_partial_record(db: str, manifest) -> None:
    fill(db, manifest)
    ctx = mp.get_context("spawn")
    inside = ctx.Event()
    proc = ctx.Process(target=_dies_mid_transaction, args=(db, inside))
    proc.start()
    assert inside.wait(timeout=120)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL
    # The next writer gets the lock (the server rolled the dead transaction back) and finds
    # none of the 50 rows the dead one inserted.
    with Ledger(db) as ledger:
        ledger.append_finding(_finding("after"), target="m")
        assert [r.finding.id for r in ledger.findings(target="m")] == ["after"]
        assert ledger.verify().rows == 13


def test_the_command_line_takes_a_postgresql_ledger(db: str, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(SPEC_V1)
    runner = CliRunner()
    stored = runner.invoke(cli, ["assess", str(tmp_path / "m.yaml"), "--db", db, "--json"])
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.output)["ledger"] == {"db": db, "assessment_id": 1}
    listed = runner.invoke(cli, ["ledger", "list", "--db", db])
    assert listed.exit_code == 0 and "1 assessments, 1 finding records" in listed.output
    verified = runner.invoke(cli, ["ledger", "verify", "--db", db])
    assert verified.exit_code == 0 and "intact" in verified.output
    missing = db.rsplit("/", 1)[0] + "/no_such_database"
    refused = runner.invoke(cli, ["ledger", "list", "--db", missing])
    assert refused.exit_code == 2
    assert refused.output.count("\n") == 1 and "no_such_database" in refused.output
