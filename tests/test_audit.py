"""The hash-chained audit log: tampering of any kind is caught and the entry named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from neurath._errors import AuditError
from neurath.cli._main import cli
from neurath.research import GENESIS, AuditLog, verify_audit
from neurath.research._events import Assessed, ExperimentRequested, Skipped, TargetP


def _run(tmp_path: Path, n: int = 6) -> tuple[Path, AuditLog]:
    folder = tmp_path / "runs" / "run-1"
    log = AuditLog(folder / "audit.jsonl")
    for i in range(n):
        event = ExperimentRequested(
            target=f"t{i}", experiment="honeypot", params={"n": 400}, seed=0
        )
        log.append(event, actor="scripted")
    (folder / "results.json").write_text(json.dumps({"audit_head": log.head}))
    return folder, log


def _verify(*args: str) -> tuple[int, str]:
    from neurath.cli import _audit  # noqa: F401  (registers)

    result = CliRunner().invoke(cli, ["audit", "verify", *args])
    return result.exit_code, result.output


def test_an_intact_log_verifies_and_reopening_continues_the_chain(tmp_path: Path) -> None:
    folder, log = _run(tmp_path)
    report = verify_audit(folder / "audit.jsonl", head=log.head)
    assert report.entries == 6 and report.head == log.head != GENESIS
    again = AuditLog(folder / "audit.jsonl")  # a resumed run
    entry = again.append(Assessed(targets={"t0": TargetP(p=0.5, p_naive=0.5)}), actor="neurath")
    assert entry.seq == 7 and entry.prev == log.head
    assert [e.seq for e in again.entries()] == list(range(1, 8))
    code, out = _verify(str(folder))  # results.json still holds the head of entry 6
    assert code == 2 and "added after the results were written" in out
    assert verify_audit(folder / "audit.jsonl", head=again.head).entries == 7
    code, out = _verify(str(folder / "audit.jsonl"))  # the log alone
    assert code == 0 and "7 entries" in out
    (folder / "results.json").write_text(json.dumps({"audit_head": again.head}))
    code, out = _verify(str(folder))  # the chain holds, but these are not a run's results
    assert code == 2 and "not neurath run results" in out


@pytest.mark.parametrize("position", [0, 40, 120, -3])
def test_editing_any_single_byte_fails_and_names_the_entry(tmp_path: Path, position: int) -> None:
    folder, _ = _run(tmp_path)
    path = folder / "audit.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    line = bytearray(lines[3])  # entry 4
    i = position % (len(line) - 1)  # never the newline
    line[i] = ord("x") if line[i] != ord("x") else ord("y")
    lines[3] = bytes(line)
    path.write_bytes(b"".join(lines))
    with pytest.raises(AuditError) as err:
        verify_audit(path)
    assert err.value.entry == 4
    code, out = _verify(str(folder))
    assert code == 2 and "entry 4" in out


def test_rehashing_an_edit_is_caught_at_the_next_entry(tmp_path: Path) -> None:
    import hashlib

    folder, _ = _run(tmp_path)
    path = folder / "audit.jsonl"
    entries = [json.loads(x) for x in path.read_text().splitlines()]
    entries[1]["data"]["n"] = 4  # a smaller sample, made to look consistent
    body = {k: v for k, v in entries[1].items() if k != "hash"}
    entries[1]["hash"] = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    with pytest.raises(AuditError, match="entry 3 does not follow entry 2") as err:
        verify_audit(path)
    assert err.value.entry == 3


def test_removed_reordered_and_cut_entries_are_caught(tmp_path: Path) -> None:
    folder, log = _run(tmp_path)
    path = folder / "audit.jsonl"
    original = path.read_text().splitlines(keepends=True)
    path.write_text("".join(original[:2] + original[3:]))  # entry 3 removed
    with pytest.raises(AuditError, match="entry 3 has sequence number 4"):
        verify_audit(path)
    path.write_text("".join([original[1], original[0], *original[2:]]))
    with pytest.raises(AuditError, match="entry 1"):
        verify_audit(path)
    path.write_text("".join(original[:4]))  # the tail cut off: only the recorded head shows it
    assert verify_audit(path).entries == 4
    with pytest.raises(AuditError, match="cut off the end"):
        verify_audit(path, head=log.head)
    code, out = _verify(str(folder))
    assert code == 2 and "cut off the end" in out
    with pytest.raises(AuditError, match="is not valid JSON"):
        path.write_text(original[0] + "{not json\n")
        AuditLog(path)  # a broken chain is never extended


def test_run_ids_resolve_under_runs_and_missing_logs_are_clean_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = _run(tmp_path)
    (folder / "results.json").unlink()  # an unfinished run
    monkeypatch.chdir(tmp_path)
    code, out = _verify("run-1")
    assert code == 0 and "6 entries" in out and "did not finish" in out
    code, out = _verify("no-such-run")
    assert code == 2 and "no audit log there" in out
    code, out = _verify("../../etc")
    assert code == 2 and "no such run folder" in out
    with pytest.raises(AuditError, match="not JSON"):
        bad = Skipped.model_construct(target="t", experiment="x", reason=object())
        AuditLog(tmp_path / "x.jsonl").append(bad, actor="test")
