"""The one reader of user files: special files, oversize files, alias bombs, duplicate keys,
coerced or non-finite numbers, huge integers and deep nesting are refused with a one-line
ManifestError, promptly and in bounded memory."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from neurath import ManifestError, load_manifest
from neurath._files import (
    MAX_DEPTH,
    iter_jsonl,
    load_json_model,
    load_yaml_model,
    parse_json,
    parse_yaml,
    read_user_text,
)
from neurath.evidence import load_findings_jsonl
from neurath.experiments import load_calibration
from neurath.organisms._suite import Suite, default_suite, load_suite
from neurath.research._budget import Budget
from neurath.testbed import default_study, load_study

EXAMPLES = Path(__file__).parent.parent / "examples"
NEURATH = Path(sys.executable).parent / "neurath"

MANIFEST = """\
version: 1
target: model-x
factors:
  - {id: raters, kind: raters, sd: 0.3}
findings:
  - id: hp-1
    experiment: honeypot
    value: 0.0
    se: 0.01
    expected: {not_scheming: 0.0, scheming: 0.3}
    factors: [raters]
"""

FINDING = {
    "id": "f1",
    "experiment": "probe",
    "value": 0.1,
    "se": 0.05,
    "expected": {"not_scheming": 0.1, "scheming": 0.5},
}

LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


@contextmanager
def deadline(seconds: int = 5) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block blocks, e.g. reading a FIFO."""

    def expired(*_: Any) -> None:
        raise TimeoutError(f"still reading after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _refused(match: str) -> Any:
    return pytest.raises(ManifestError, match=match)


# -- special and oversize files --------------------------------------------------------------------
def test_fifos_are_refused_promptly_wherever_a_user_file_is_read(tmp_path: Path) -> None:
    with deadline(), _refused("manifest file is not a regular file \\(a FIFO\\)"):
        load_manifest(_fifo(tmp_path / "m.yaml"))
    (tmp_path / "w.yaml").write_text(MANIFEST + "findings_file: more.jsonl\n")
    _fifo(tmp_path / "more.jsonl")
    with deadline(), _refused(r"more.jsonl: findings file is not a regular file.*w.yaml"):
        load_manifest(tmp_path / "w.yaml")
    with deadline(), _refused("suite file is not a regular file"):
        load_suite(_fifo(tmp_path / "suite.yaml"))
    with deadline(), _refused("study file is not a regular file"):
        load_study(_fifo(tmp_path / "study.yaml"))
    with deadline(), _refused("calibration file is not a regular file"):
        load_calibration(_fifo(tmp_path / "calibration.json"))


def test_a_suite_named_by_a_study_must_be_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "study.yaml").write_text("version: 1\nsuite: suite.yaml\n")
    study = load_study(tmp_path / "study.yaml")
    _fifo(Path(study.suite))
    with deadline(), _refused("suite file is not a regular file"):
        load_suite(study.suite)


def test_inspect_logs_and_calibrations_are_read_as_user_files(tmp_path: Path) -> None:
    from neurath.experiments import ExperimentError
    from neurath.experiments._inspect_import import import_inspect_log

    with deadline(), pytest.raises(ExperimentError, match="not a regular file \\(a FIFO\\)"):
        import_inspect_log(_fifo(tmp_path / "log.eval"))
    with pytest.raises(ExperimentError, match="no such Inspect log"):
        import_inspect_log(tmp_path / "absent.eval")
    (tmp_path / "c.json").write_text('{"version": 1,\n"version": 1}')
    with _refused("c.json:2: duplicate key 'version'"):
        load_calibration(tmp_path / "c.json")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_and_folders_are_refused(device: str, tmp_path: Path) -> None:
    with deadline(), _refused(r"not a regular file \(a character device\)"):
        load_manifest(device)
    with deadline(), _refused("not a regular file"):
        load_findings_jsonl(device)
    with _refused(r"not a regular file \(a directory\)"):
        load_manifest(tmp_path)


def test_a_fifo_swapped_in_after_the_check_is_refused_on_the_open_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    regular = tmp_path / "regular.yaml"
    regular.write_text("a: 1\n")
    fifo = _fifo(tmp_path / "fifo.yaml")
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: real_stat(regular))  # the race
    with deadline(), _refused(r"not a regular file \(a FIFO\)"):
        read_user_text(fifo, "manifest")


def test_files_over_the_size_limit_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("a: " + "x" * 97 + "\n")  # 101 bytes
    assert read_user_text(path, "manifest", max_bytes=101).startswith("a: x")
    with _refused("manifest file is larger than 100 bytes"):
        read_user_text(path, "manifest", max_bytes=100)
    with _refused("suite file is larger than 100 bytes"):
        load_yaml_model(path, Suite, "suite", max_bytes=100)
    with _refused("findings file is larger than 100 bytes"):
        list(iter_jsonl(path, "findings", max_bytes=100))


def test_text_must_be_utf8_and_a_bom_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MANIFEST.encode())
    assert load_manifest(path).target == "model-x"
    path.write_bytes(b"version: 1\ntarget: \xff\n")
    with _refused(r"not UTF-8 text \(byte 19\)"):
        load_manifest(path)


def test_jsonl_line_length_and_line_count_are_limited(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(json.dumps(dict(FINDING, id=f"f{i}")) for i in range(3)) + "\n")
    assert [n for n, _ in iter_jsonl(path, "findings")] == [1, 2, 3]
    with _refused("more than 2 lines"):
        list(iter_jsonl(path, "findings", max_lines=2))
    with _refused(r"f.jsonl:1: line longer than 50 characters"):
        list(iter_jsonl(path, "findings", max_line_chars=50))


# -- alias bombs, duplicate keys -------------------------------------------------------------------
def test_yaml_aliases_are_refused() -> None:
    with _refused(r"x.yaml:2: YAML aliases \(\*name\) are not supported"):
        parse_yaml("a: &a [1, 2]\nb: *a\n", "x.yaml")
    assert parse_yaml("a: &a [1, 2]\n", "x.yaml") == {"a": [1, 2]}  # an unused anchor is harmless


def test_billion_laughs_reaching_the_ledger_fails_in_bounded_memory(tmp_path: Path) -> None:
    bomb = MANIFEST + "    params:\n      a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    bomb += "".join(f"      {line}\n" for line in LAUGHS.splitlines())
    (tmp_path / "bomb.yaml").write_text(bomb)
    limit = 1 << 30

    def bound() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run(
        [str(NEURATH), "assess", "bomb.yaml", "--db", "ledger.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=bound,
        env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "neurath: error: bomb.yaml:14: YAML aliases (*name) are not supported; write the value out"
    ]
    assert not (tmp_path / "ledger.db").exists()


def test_duplicate_yaml_keys_are_refused_naming_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST + "findings: []\n")  # would silently drop the findings above
    with _refused(r"m.yaml:12: duplicate key 'findings'"):
        load_manifest(path)
    with _refused(r"x.yaml:3: duplicate key 'se'"):
        parse_yaml("- se: 1\n  value: 2\n  se: 3\n", "x.yaml")


def test_duplicate_json_keys_are_refused_naming_key_and_line(tmp_path: Path) -> None:
    data = load_manifest_data()
    text = json.dumps(data, indent=1)[:-2] + ',\n "findings": []\n}'
    path = tmp_path / "m.json"
    path.write_text(text)
    with _refused(r"m.json:\d+: duplicate key 'findings'") as info:
        load_manifest(path)
    assert info.value.line == text.count("\n")  # the second "findings", the last line but one
    rows = tmp_path / "f.jsonl"
    rows.write_text(json.dumps(FINDING) + "\n\n" + json.dumps(FINDING)[:-1] + ', "se": 1}\n')
    with _refused(r"f.jsonl:3: duplicate key 'se'"):
        load_findings_jsonl(rows)
    # a key repeated in a nested object, or in a sibling object, is no duplicate
    assert parse_json('{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}', "x") == {
        "a": {"a": 1},
        "b": [{"a": 1}, {"a": 2}],
    }


def load_manifest_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST)
    return data


# -- numbers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', "[1e999]"])
def test_non_finite_json_numbers_are_refused(text: str) -> None:
    with _refused("is not a finite number"):
        parse_json(text, "x.json")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1.0e+999"])
def test_non_finite_yaml_numbers_are_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST.replace("value: 0.0", f"value: {value}"))
    with _refused(r"m.yaml:8: .* is not a finite number"):
        load_manifest(path)


def test_non_finite_numbers_in_a_findings_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "f.jsonl").write_text(json.dumps(FINDING).replace("0.05", "NaN") + "\n")
    with _refused(r"f.jsonl:1: NaN is not a finite number"):
        load_findings_jsonl(tmp_path / "f.jsonl")


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"se": True}, "se"),
        ({"value": "0.3"}, "value"),
        ({"expected": {"not_scheming": "0", "scheming": 1}}, "expected.not_scheming"),
        ({"factors": {"raters": True}}, "factors.raters"),
        ({"extra_sd": False}, "extra_sd"),
    ],
)
def test_booleans_and_strings_are_not_numbers_in_a_finding(
    tmp_path: Path, edit: dict[str, Any], field: str
) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(json.dumps(dict(FINDING, **edit)) + "\n")
    with _refused(f"f.jsonl:1: finding 'f1': field '{field}'"):
        load_findings_jsonl(path)


def test_yaml_numbers_are_read_as_numbers(tmp_path: Path) -> None:
    """``1e-3`` (no dot) is a number, as in YAML 1.2 and JSON, not a string to refuse."""
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST.replace("se: 0.01", "se: 1e-3").replace("value: 0.0", "value: 0"))
    finding = load_manifest(path).findings[0]
    assert (finding.se, finding.value) == (0.001, 0.0)
    path.write_text(MANIFEST.replace("se: 0.01", 'se: "1e-3"'))
    with _refused("field 'se'"):
        load_manifest(path)


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ("{queries: -1}", "greater than or equal to 0"),
        ("{queries: true}", "valid integer"),
        ("{queries: '100'}", "valid integer"),
        ("{training_steps: 10.0}", "valid integer"),
    ],
)
def test_study_budgets_are_non_negative_integers(tmp_path: Path, budget: str, message: str) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(f"version: 1\nbudget: {budget}\n")
    with _refused(message):
        load_study(path)
    path.write_text("version: 1\nbudget: {queries: 100, training_steps: 0}\n")
    assert load_study(path).budget == Budget(queries=100, training_steps=0)


def test_study_and_suite_numbers_are_strict(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("version: 1\nseed: true\n")
    with _refused("field 'seed'"):
        load_study(path)
    path.write_text("version: 1\nprior_not_scheming: '0.3'\n")
    with _refused("field 'prior_not_scheming'"):
        load_study(path)
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: s\nbase_seed: '1'\norganisms: [{id: a, archetype: aligned}]\n")
    with _refused("field 'base_seed'"):
        load_suite(suite)


def test_huge_integers_are_refused(tmp_path: Path) -> None:
    digits = "9" * 5000
    with _refused(r"x.json:2: integer of 5000 digits \(at most 64\)"):
        parse_json('{"a":\n' + digits + "}", "x.json")
    with _refused(r"x.yaml:1: integer of 5000 digits"):
        parse_yaml(f"a: {digits}\n", "x.yaml")
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST.replace("value: 0.0", f"value: {digits}"))
    with _refused("integer of 5000 digits"):
        load_manifest(path)
    rows = tmp_path / "f.jsonl"
    rows.write_text(json.dumps(FINDING).replace("0.1", digits, 1) + "\n")
    with _refused(r"f.jsonl:1: integer of 5000 digits"):
        load_findings_jsonl(rows)


# -- nesting ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deep_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    with _refused(f"nested more than {MAX_DEPTH} levels deep"):
        parse_json("[" * depth + "]" * depth, "x.json")
    with _refused(f"nested more than {MAX_DEPTH} levels deep"):
        parse_yaml("a: " + "[" * depth + "]" * depth + "\n", "x.yaml")
    rows = tmp_path / "f.jsonl"
    rows.write_text(json.dumps(dict(FINDING, params={"p": "[" * depth + "]" * depth})) + "\n")
    rows.write_text(rows.read_text().replace('"[', "[").replace(']"', "]"))
    with _refused(f"f.jsonl:1: nested more than {MAX_DEPTH} levels deep"):
        load_findings_jsonl(rows)
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert parse_json('{"a": ' + nested + "}", "x.json") is not None  # the limit itself is fine


# -- what must still load --------------------------------------------------------------------------
def test_examples_and_embedded_defaults_still_load(tmp_path: Path) -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        assert load_manifest(path).findings, path
    assert len(default_suite().organisms) > 1
    assert default_study().budget.queries == 40_000
    (tmp_path / "b.json").write_text('{"queries": 5}')
    assert load_json_model(tmp_path / "b.json", Budget, "budget").queries == 5


# -- the command line ------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["assess", "validate"])
def test_cli_refuses_a_fifo_manifest_in_one_line(tmp_path: Path, command: str) -> None:
    _fifo(tmp_path / "m.yaml")
    done = subprocess.run(
        [str(NEURATH), command, "m.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "neurath: error: m.yaml: manifest file is not a regular file (a FIFO)"
    ]
    assert "Traceback" not in done.stdout + done.stderr
