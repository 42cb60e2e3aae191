"""Hostile input, one or more per class of attack: each must end in exit 2 with one line on
stderr, no traceback, in bounded time and memory, writing nothing outside the folders given.

Every command runs in a real subprocess under ``resource`` limits (address space, CPU time),
in an empty working folder, with ``$HOME`` and the default organism store and anchor ledger
pointed into it; the test then checks that nothing appeared anywhere but where it says.
What needs a run (resume, results, anchors) is in ``test_run_integrity.py``; what a
controller can send is in ``test_research_hostile.py``; ledger forgery in
``test_ledger_integrity.py``.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

MEMORY = 3 * 2**30
"""Address space a hostile command may use (the billion-laughs attack once took 22.8 GB)."""
CPU_SECONDS = 60
WALL_SECONDS = 90


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def refused(tmp_path: Path, *args: str, allowed: tuple[str, ...] = ()) -> str:
    """Run ``neurath ARGS`` in ``tmp_path/work``; assert exit 2 and a single error line, no
    traceback, nothing written but ``allowed`` (paths relative to ``tmp_path``). Returns the
    line."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    before = _files(tmp_path)
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "NEURATH_ORGANISMS": str(tmp_path / "home" / "organisms"),
        "NEURATH_LEDGER": str(tmp_path / "home" / "ledger.db"),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("NEURATH_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "neurath", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=WALL_SECONDS,
        preexec_fn=_limits,
    )
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err[-2000:])
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("neurath: error: ") or err.startswith("Error: "), err
    new = _files(tmp_path) - before
    assert all(any(n == a or n.startswith(a + "/") for a in allowed) for n in new), new
    return err


def _manifest(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """\
version: 1
target: t
prior_not_scheming: 0.5
findings:
  - id: f1
    experiment: honeypot
    claim: c
    value: 0.1
    se: 0.05
    expected: {not_scheming: 0.1, scheming: 0.5}
"""


# -- resume trusts the run folder ----------------------------------------------------------
def test_resume_of_nothing(tmp_path: Path) -> None:
    assert "no run given" in refused(tmp_path, "run", "--resume", "")
    assert "no such run" in refused(tmp_path, "run", "--resume", "../../nowhere")


# -- ground truth reachable ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("param", "named"),
    [("references=x", "never as a parameter"), ("organisms_dir=/tmp", "no parameter")],
)
def test_probe_cannot_be_pointed_at_other_models(tmp_path: Path, param: str, named: str) -> None:
    line = refused(tmp_path, "experiment", "run", "probe", "--target", "t", "-P", param)
    assert named in line


# -- unbounded resources -------------------------------------------------------------------
def test_special_files_are_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "findings.jsonl"
    os.mkfifo(fifo)  # nobody ever writes to it: reading it would block forever
    manifest = _manifest(tmp_path, "version: 1\ntarget: t\nfindings_file: findings.jsonl\n")
    assert "not a regular file" in refused(tmp_path, "assess", str(manifest))
    assert "not a regular file" in refused(tmp_path, "validate", str(fifo))
    assert "not a regular file" in refused(tmp_path, "assess", "/dev/zero")
    line = refused(tmp_path, "organisms", "build", "--suite", "/dev/zero")
    assert "not a regular file" in line
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "audit.jsonl")  # a run folder whose log is a pipe
    assert "not a regular file" in refused(tmp_path, "audit", "verify", str(run))
    assert "not a regular file" in refused(tmp_path, "run", "--resume", str(run))


def test_yaml_alias_expansion_is_bounded(tmp_path: Path) -> None:
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    laughs += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]
    bomb = _manifest(tmp_path, GOOD + "\n".join(laughs) + "\n")
    assert "alias" in refused(tmp_path, "assess", str(bomb), "--db", "l.db").lower()


# -- names that become paths ---------------------------------------------------------------
@pytest.mark.parametrize("run_id", ["../../escaped", "a/b", ".hidden"])
def test_run_ids_cannot_leave_the_runs_folder(tmp_path: Path, run_id: str) -> None:
    line = refused(tmp_path, "run", "--run-id", run_id, "--runs", "runs")
    assert "cannot name a folder" in line


# -- silent acceptance ---------------------------------------------------------------------
def test_negative_or_huge_budgets(tmp_path: Path) -> None:
    assert "--budget" in refused(tmp_path, "run", "--budget", "-5")
    assert "--budget" in refused(tmp_path, "run", "--budget", "9" * 40)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (GOOD + "findings: []\n", "duplicate"),  # the whole findings block replaced
        (GOOD.replace("value: 0.1", "value: true"), "value"),  # a boolean as a number
        (GOOD.replace("value: 0.1", "value: '0.1'"), "value"),  # a string as a number
        (GOOD.replace("se: 0.05", "se: .nan"), "m.yaml:9: .nan is not a finite number"),
        (GOOD.replace("value: 0.1", "value: " + "9" * 5000), "m.yaml:8: integer of 5000 digits"),
    ],
)
def test_manifests_are_read_strictly(tmp_path: Path, text: str, named: str) -> None:
    assert named in refused(tmp_path, "assess", str(_manifest(tmp_path, text)))


def test_duplicate_keys_in_json(tmp_path: Path) -> None:
    text = '{"version": 1, "target": "a", "target": "b", "findings": []}'
    assert "duplicate" in refused(tmp_path, "validate", str(_manifest(tmp_path, text, "m.json")))


def test_a_negative_budget_in_a_study(tmp_path: Path) -> None:
    study = _manifest(tmp_path, "version: 1\nname: s\nbudget: {queries: -1}\n", "s.yaml")
    assert "budget" in refused(tmp_path, "run", str(study))


# -- internal errors instead of one line ---------------------------------------------------
def _ledger(tmp_path: Path, change: Callable[[Path], None]) -> Path:
    db = tmp_path / "ledger.db"
    sqlite3.connect(db).close()
    change(db)
    return db


def test_unusable_ledgers(tmp_path: Path) -> None:
    manifest = str(_manifest(tmp_path, GOOD))
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    assert "ledger" in refused(tmp_path, "assess", manifest, "--db", str(garbage))
    assert "ledger" in refused(tmp_path, "assess", manifest, "--db", str(tmp_path))
    if os.geteuid() != 0:  # root reads and writes whatever the mode says
        locked = tmp_path / "locked.db"
        locked.write_bytes(b"")
        locked.chmod(0o000)
        assert "ledger" in refused(tmp_path, "ledger", "list", "--db", str(locked))


def test_malformed_results_json(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "audit.jsonl").write_text("")
    (run / "results.json").write_text('{"version": 1, "run_id": ')
    assert "results.json" in refused(tmp_path, "audit", "verify", str(run))


# -- output hygiene ------------------------------------------------------------------------
def test_terminal_escapes_in_ids_are_shown_not_obeyed(tmp_path: Path) -> None:
    evil = GOOD.replace("target: t", 'target: "t\\e[2J\\e]0;owned\\a"').replace(
        "id: f1", 'id: "f1\\e[31m"'
    )
    manifest = _manifest(tmp_path, evil)
    proc = subprocess.run(
        [sys.executable, "-m", "neurath", "assess", str(manifest)],
        capture_output=True,
        text=True,
        timeout=WALL_SECONDS,
        preexec_fn=_limits,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "\\x1b[2J" in proc.stdout
    bad = _manifest(tmp_path, evil.replace("value: 0.1", "value: nope"), "bad.yaml")
    line = refused(tmp_path, "assess", str(bad))
    assert "\x1b" not in line


# -- crashes a controller can cause --------------------------------------------------------
CONTROLLER = """
import json, sys
from neurath.models._target import ModelCard
from neurath.research import AuditLog, Budget, ResearchEnvironment, _llm

class Target:
    context_length = 64
    card = ModelCard(id="t-1", backend="stub")
    def count_tokens(self, prompts): return [len(p.split()) for p in prompts]
    def generate(self, prompts, *, max_new_tokens=32): return ["ok"] * len(prompts)

env = ResearchEnvironment(
    targets={"t-1": Target}, budget=Budget(queries=100, training_steps=100, ratings=100),
    audit=AuditLog(sys.argv[1]), actor="llm",
)
for tool, args in json.loads(sys.argv[2]):
    print(_llm._dispatch(env, tool, args).replace("\\n", " "))
print("spent", env.spent.as_dict())
"""


def test_hostile_tool_calls_come_back_to_the_controller_as_errors(tmp_path: Path) -> None:
    calls = [
        ("sample", {"target": "t-1", "prompts": [""]}),
        ("sample", {"target": "t-1", "prompts": ["word " * 6000]}),
        ("fine_tune", {"target": "t-1", "steps": float("inf")}),
        ("run_experiment", {"target": "t-1", "experiment": "honeypot", "params": {"n": 10**30}}),
        ("run_experiment", {"target": "t-1", "experiment": "probe", "params": {"references": 1}}),
    ]
    script = tmp_path / "controller.py"
    script.write_text(CONTROLLER)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "audit.jsonl"), json.dumps(calls)],
        capture_output=True,
        text=True,
        timeout=WALL_SECONDS,
        preexec_fn=_limits,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == len(calls) + 1
    assert all(line.startswith("error: ") for line in lines[:-1]), lines
    assert lines[-1] == "spent {'queries': 0, 'training_steps': 0, 'ratings': 0}"
    assert (tmp_path / "audit.jsonl").read_text() == ""  # no request was logged


# -- integrity beyond the chain ------------------------------------------------------------
def test_a_forged_ledger_row_is_named(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    manifest = str(_manifest(tmp_path, GOOD))
    subprocess.run(
        [sys.executable, "-m", "neurath", "assess", manifest, "--db", str(db)],
        check=True,
        capture_output=True,
        timeout=WALL_SECONDS,
    )
    with sqlite3.connect(db) as conn:  # a back-dated assessment, written around the ledger
        conn.execute(
            "INSERT INTO assessments (manifest_id, target, p_not_scheming, body, author, "
            "created_at) SELECT manifest_id, target, 0.999, body, 'someone', "
            "'2020-01-01T00:00:00' FROM assessments LIMIT 1"
        )
    line = refused(tmp_path, "ledger", "verify", "--db", str(db))
    assert "assessments record 2" in line
