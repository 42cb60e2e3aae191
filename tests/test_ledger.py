"""The evidence ledger: migrations, append-only records, corrections, concurrency; each test
marked with ``ledger_url`` runs on a SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest

from neurath import Finding, Ledger, LedgerError, assess, load_manifest
from neurath.evidence._chain import manifest_digest
from neurath.evidence._ledger import sqlite_path
from neurath.evidence._migrations import MIGRATIONS
from neurath.evidence._sqlite import connect, migrate

from .test_manifest import SPEC_V1


@pytest.fixture
def manifest(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text(SPEC_V1)
    return load_manifest(path)


def test_blank_database_gets_every_migration_once(ledger_url: str) -> None:
    db = ledger_url
    with Ledger(db) as ledger:
        assert ledger.applied_migrations() == [m.name for m in MIGRATIONS]
    with Ledger(db) as again:
        assert again.migrate() == []


def test_old_schema_is_migrated_forward_keeping_its_records(tmp_path: Path, manifest) -> None:
    db = str(tmp_path / "old.db")
    # A ledger written by a release that knew only the first migration, as it wrote it.
    conn = connect(db)
    assert migrate(conn, db, MIGRATIONS[:1]) == ["0001_initial"]
    header = manifest.model_dump_json(exclude={"findings"})
    bodies = [f.model_dump_json() for f in manifest.findings]
    conn.execute(
        "INSERT INTO manifests (target, sha256, header, source, author, created_at) "
        "VALUES (?, ?, ?, NULL, 'old', 't0')",
        (manifest.target, manifest_digest(header, bodies), header),
    )
    for f, body in zip(manifest.findings, bodies, strict=True):
        conn.execute(
            "INSERT INTO findings (manifest_id, finding_id, target, body, author, created_at) "
            "VALUES (1, ?, ?, ?, 'old', 't0')",
            (f.id, manifest.target, body),
        )
    conn.close()
    with Ledger(db) as upgraded:
        assert upgraded.applied_migrations() == [m.name for m in MIGRATIONS]
        assert [r.finding.id for r in upgraded.findings(manifest_id=1)] == ["hp-1"]
        assert upgraded.manifest(1) == manifest.model_copy(update={"findings_file": None})
        indexes = {
            r[0]
            for r in upgraded._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert "findings_corrected_once" in indexes
        assert upgraded.verify().rows == 2  # the old rows were chained by the migration


def test_newer_schema_is_refused(ledger_url: str) -> None:
    db = ledger_url
    with Ledger(db) as ledger:
        ledger._conn.execute(
            "INSERT INTO _neurath_migrations (name, applied_at) VALUES ('9999_future', 'x')"
        )
    with pytest.raises(LedgerError, match=r"newer neurath.*9999_future"):
        Ledger(db)


def test_records_cannot_be_updated_or_deleted(ledger_url: str, manifest) -> None:
    with Ledger(ledger_url) as ledger:
        mid = ledger.record_manifest(manifest)
        ledger.record_assessment(assess(manifest), manifest_id=mid)
        refused = [
            "UPDATE findings SET body = '{}'",
            "DELETE FROM findings",
            "DELETE FROM manifests",
            "UPDATE assessments SET target = 'x'",
            "UPDATE chain SET prev = 'x'",
            "DELETE FROM chain",
        ]
        if ledger_url.startswith("postgresql"):  # SQLite has no TRUNCATE
            refused += ["TRUNCATE findings CASCADE", "TRUNCATE chain"]
        for sql in refused:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                ledger._conn.execute(sql)
        assert ledger.count("findings") == 1


def test_manifest_and_assessment_round_trip(ledger_url: str, manifest) -> None:
    result = assess(manifest)
    with Ledger(ledger_url, author="alice") as ledger:
        mid = ledger.record_manifest(manifest, source="m.yaml")
        aid = ledger.record_assessment(result, manifest_id=mid)
        assert ledger.manifest(mid) == manifest
        stored = ledger.assessments(target="model-x")
        assert [(s.id, s.manifest_id, s.author) for s in stored] == [(aid, mid, "alice")]
        assert stored[0].assessment == result


def test_corrections_are_new_records_pointing_at_the_old(ledger_url: str, manifest) -> None:
    with Ledger(ledger_url, author="alice") as ledger:
        mid = ledger.record_manifest(manifest)
        (original,) = ledger.findings(manifest_id=mid)
        fixed = original.finding.model_copy(update={"value": 0.05})
        new_id = ledger.correct_finding(original.id, fixed, reason="rater error", author="bob")
        (current,) = ledger.findings(manifest_id=mid)
        assert (current.id, current.supersedes, current.reason, current.author) == (
            new_id,
            original.id,
            "rater error",
            "bob",
        )
        assert current.finding.value == 0.05
        # The old record is still there, and the manifest can be rebuilt either way.
        assert [r.id for r in ledger.findings(current=False)] == [original.id, new_id]
        assert ledger.manifest(mid).findings[0].value == 0.05
        assert ledger.manifest(mid, current=False).findings[0].value == 0.0
        assert [r.id for r in ledger.history(original.id)] == [original.id, new_id]
        assert [r.id for r in ledger.history(new_id)] == [original.id, new_id]
        with pytest.raises(LedgerError, match=f"already corrected by record {new_id}"):
            ledger.correct_finding(original.id, fixed, reason="again")
        with pytest.raises(LedgerError, match="needs a reason"):
            ledger.correct_finding(new_id, fixed, reason=" ")
        with pytest.raises(LedgerError, match="no finding record 999"):
            ledger.correct_finding(999, fixed, reason="x")


def _writer(db: str, who: str, count: int, start: mp.synchronize.Event) -> None:
    finding = Finding.model_validate(
        {
            "id": "x",
            "experiment": "probe",
            "value": 0.1,
            "se": 0.1,
            "expected": {"not_scheming": 0.0, "scheming": 1.0},
        }
    )
    start.wait()
    with Ledger(db, author=who) as ledger:
        for i in range(count):
            ledger.append_finding(finding.model_copy(update={"id": f"{who}-{i}"}), target="m")


def test_concurrent_writers_in_two_processes_lose_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.db")
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(db, who, 150, start)) for who in ("p1", "p2")]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    with Ledger(db) as ledger:
        ids = [r.finding.id for r in ledger.findings(target="m")]
    assert len(ids) == 300
    assert set(ids) == {f"{w}-{i}" for w in ("p1", "p2") for i in range(150)}


def test_ledger_locations() -> None:
    assert sqlite_path("runs/l.db") == "runs/l.db"
    assert sqlite_path("sqlite:///runs/l.db") == "runs/l.db"
    assert sqlite_path("sqlite:////abs/l.db") == "/abs/l.db"
    with pytest.raises(LedgerError, match="unsupported ledger URL scheme 'mysql'"):
        Ledger("mysql://host/db")
    with pytest.raises(LedgerError, match="does not exist"):
        Ledger("/nonexistent-folder/l.db")
    # A server that is not there: one line, the password not shown.
    with pytest.raises(LedgerError, match=r"cannot open ledger postgresql://u:\*\*\*@127\.0\.0\.1"):
        Ledger("postgresql://u:secret@127.0.0.1:1/db")


def test_corrections_and_appends_are_checked_against_the_manifest(
    ledger_url: str, manifest
) -> None:
    with Ledger(ledger_url) as ledger:
        mid = ledger.record_manifest(manifest)
        (original,) = ledger.findings(manifest_id=mid)
        renamed = original.finding.model_copy(update={"id": "other"})
        with pytest.raises(LedgerError, match="a correction keeps the id"):
            ledger.correct_finding(original.id, renamed, reason="x")
        stray = original.finding.model_copy(update={"factors": {"no-such-factor": 1.0}})
        with pytest.raises(LedgerError, match="no-such-factor"):
            ledger.correct_finding(original.id, stray, reason="x")
        with pytest.raises(LedgerError, match="already has finding 'hp-1'"):
            ledger.append_finding(original.finding, target="model-x", manifest_id=mid)
        with pytest.raises(LedgerError, match="is about 'model-x'"):
            ledger.append_finding(renamed, target="model-y", manifest_id=mid)
        added = ledger.append_finding(renamed, target="model-x", manifest_id=mid)
        rebuilt = ledger.manifest(mid)
        assert [f.id for f in rebuilt.findings] == ["hp-1", "other"]
        assert ledger.findings(manifest_id=mid)[-1].id == added
        assert ledger.count("findings") == 2


def test_record_stores_manifest_and_assessment_together(ledger_url: str, manifest) -> None:
    result = assess(manifest)
    with Ledger(ledger_url) as ledger:
        wrong = result.model_copy(update={"target": "someone-else"})
        with pytest.raises(LedgerError, match="does not belong"):
            ledger.record(manifest, wrong)
        assert ledger.count("manifests") == 0
        mid, aid = ledger.record(manifest, result, source="m.yaml")
        assert ledger.assessments()[0].manifest_id == mid and ledger.assessments()[0].id == aid


def test_rebuilt_manifest_names_no_findings_file(tmp_path: Path, ledger_url: str) -> None:
    (tmp_path / "f.jsonl").write_text(
        '{"id": "x", "experiment": "e", "value": 0, "se": 1, '
        '"expected": {"not_scheming": 0, "scheming": 1}}\n'
    )
    (tmp_path / "m.yaml").write_text(SPEC_V1 + "findings_file: f.jsonl\n")
    loaded = load_manifest(tmp_path / "m.yaml")
    with Ledger(ledger_url) as ledger:
        rebuilt = ledger.manifest(ledger.record_manifest(loaded))
    assert rebuilt.findings_file is None
    assert [f.id for f in rebuilt.findings] == ["hp-1", "x"]


def test_findings_recorded_as_made_are_idempotent_by_audit_entry(ledger_url: str, manifest) -> None:
    finding = manifest.findings[0]
    with Ledger(ledger_url) as ledger:
        first = ledger.append_finding(finding, target="t", source="run a", audit_entry="h1")
        again = ledger.append_finding(finding, target="t", source="run a", audit_entry="h1")
        assert again == first and ledger.count("findings") == 1  # a replay adds nothing
        other = finding.model_copy(update={"id": "other"})
        with pytest.raises(LedgerError, match="already recorded as finding"):
            ledger.append_finding(other, target="t", source="run a", audit_entry="h1")
        ledger.append_finding(other, target="t", source="run b", audit_entry="h2")
        assert [r.finding.id for r in ledger.findings(source="run a")] == [finding.id]
        assert [r.source for r in ledger.findings()] == ["run a", "run b"]


def test_a_manifest_links_findings_already_recorded_instead_of_copying(
    ledger_url: str, manifest
) -> None:
    with Ledger(ledger_url) as ledger:
        made = {
            f.id: ledger.append_finding(f, target=manifest.target, source="run", audit_entry=f.id)
            for f in manifest.findings
        }
        # The manifest models the first finding differently (as repeats are modelled).
        first = manifest.findings[0]
        modelled = first.model_copy(update={"extra_sd": first.extra_sd + 0.5})
        assessed = manifest.model_copy(update={"findings": [modelled, *manifest.findings[1:]]})
        mid, _ = ledger.record(assessed, assess(assessed, draws=0), source="run", linked=made)
        assert ledger.count("findings") == len(manifest.findings)  # each finding once
        assert ledger.manifest(mid) == assessed.model_copy(update={"findings_file": None})
        # A correction of a linked record replaces it in the current manifest.
        fixed = first.model_copy(update={"value": first.value + 0.1})
        ledger.correct_finding(made[first.id], fixed, reason="regraded")
        assert ledger.manifest(mid).findings[0] == fixed
        assert ledger.manifest(mid, current=False).findings[0] == modelled
        elsewhere = ledger.append_finding(first, target="another model", source="run")
        with pytest.raises(LedgerError, match="is not finding"):
            ledger.record_manifest(assessed, linked={first.id: elsewhere})
