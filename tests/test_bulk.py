"""The bulk path (findings read in columns, from JSON Lines or Parquet) against the per-finding
path: the same numbers, the same refusals word for word, the same assessment; and the largest
leave-one-out contributions found without computing them all, equal to the full computation."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from neurath import ManifestError, assess, load_manifest
from neurath._files import iter_jsonl, read_user_text
from neurath._line_blocks import LineBlocks
from neurath.cli._main import cli
from neurath.engine import EvidenceArrays, ManifestArrays, assess_arrays, load_manifest_arrays
from neurath.engine import random_evidence as structure
from neurath.engine._kernel import gls_solve
from neurath.engine._loo import leave_one_out

from .conftest import observed

HEADER: dict[str, Any] = {
    "version": 1,
    "target": "model-x",
    "common_cause": 0.02,
    "factors": [
        {"id": "raters", "kind": "raters", "sd": 0.3},
        {"id": "judge:v2", "kind": "method", "sd": [0.1, 0.4]},
        {"id": "data", "kind": "data", "sd": 0.2},
    ],
    "findings": [
        {
            "id": "inline",
            "experiment": "probe",
            "value": 0.1,
            "se": 0.05,
            "expected": {"not_scheming": 0.1, "scheming": 0.5},
            "factors": ["raters"],
        }
    ],
}
GOOD: dict[str, Any] = {
    "id": "f",
    "experiment": "probe",
    "value": 0.12,
    "se": 0.04,
    "expected": {"not_scheming": 0.1, "scheming": 0.45},
    "factors": {"raters": 1.0, "judge:v2": 0.5},
}


def _manifest(folder: Path, findings_file: str, header: dict[str, Any] | None = None) -> Path:
    path = folder / "m.json"
    path.write_text(json.dumps({**(header or HEADER), "findings_file": findings_file}))
    return path


def _jsonl(folder: Path, lines: list[str] | bytes, name: str = "f.jsonl") -> Path:
    data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode()
    (folder / name).write_bytes(data)
    return _manifest(folder, name)


def _good(i: int, **edit: Any) -> str:
    return json.dumps({**GOOD, "id": f"f{i}", **edit})


def _outcome(load: Any, path: Path) -> tuple[str, Any]:
    try:
        return "ok", load(path)
    except ManifestError as exc:
        return "error", str(exc)


def assert_same(path: Path) -> ManifestArrays | None:
    """Both paths read ``path`` alike: the same arrays and failures, or the same message."""
    old, new = _outcome(load_manifest, path), _outcome(load_manifest_arrays, path)
    assert old[0] == new[0], (old, new)
    if old[0] == "error":
        assert new[1] == old[1]
        assert "\n" not in new[1]
        return None
    bulk = new[1]
    assert isinstance(bulk, ManifestArrays)
    want = EvidenceArrays.from_manifest(old[1])
    for field in want.__dataclass_fields__:
        assert np.array_equal(getattr(bulk.arrays, field), getattr(want, field)), field
    assert bulk.failed_ids() == [f.id for f in old[1].findings if f.status == "error"]
    assert bulk.columns.experiment == [f.experiment for f in old[1].findings]
    return bulk


# -- the same findings ---------------------------------------------------------------------------
def _random_row(rng: random.Random, i: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": rng.choice([f"f{i}", f"probe:{i}", f"é-{i}", f"x\\{i}"]),
        "experiment": rng.choice(["probe", "honeypot", "trigger: search"]),
        "value": rng.choice([rng.uniform(-2, 2), rng.randint(-3, 3)]),
        "se": rng.choice([rng.uniform(0.01, 1), 1]),
        "expected": dict(
            rng.sample([("not_scheming", rng.uniform(-1, 1)), ("scheming", 2 + rng.random())], 2)
        ),
    }
    factors = rng.sample(["raters", "judge:v2", "data"], rng.randint(0, 3))
    choice = rng.random()
    if choice < 0.4:
        row["factors"] = {f: rng.choice([1, 0.0, -0.5, rng.uniform(0, 2)]) for f in factors}
    elif choice < 0.7:
        row["factors"] = factors
    if rng.random() < 0.5:
        row["claim"] = rng.choice(["a: b", "ü \u2028 ::", 'say "x": 1', "\ud800 lone", ""])
    if rng.random() < 0.3:
        row["extra_sd"] = rng.choice([0, 0.02, 1])
    if rng.random() < 0.3:
        row["status"] = rng.choice(["ok", "error"])
    if rng.random() < 0.4:
        row["params"] = {"seed": 2**63 + i, "nested": {"a:b": [1, {"c": None}], "d": "x:y"}}
    return dict(rng.sample(list(row.items()), len(row)))


def _line(rng: random.Random, row: dict[str, Any]) -> str:
    separators = rng.choice([(",", ":"), (", ", ": "), (" ,", " : ")])
    return json.dumps(row, separators=separators, ensure_ascii=rng.random() < 0.5)


@pytest.mark.parametrize("seed", range(6))
def test_random_files_read_the_same_both_ways(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    lines = [_line(rng, _random_row(rng, i)) for i in range(rng.choice([1, 40, 300]))]
    for _ in range(3):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(["", "  \t", "\x1c", "\u3000"]))
    text = rng.choice(["\n", "\r\n", "\r"]).join(lines) + rng.choice(["", "\n"])
    data = (b"\xef\xbb\xbf" if seed % 2 else b"") + text.encode("utf-8", "surrogatepass")
    if "\ud800" in text:  # a lone surrogate is no UTF-8: both refuse the file
        assert assert_same(_jsonl(tmp_path, data)) is None
        data = data.replace("\ud800".encode("utf-8", "surrogatepass"), b"\\ud800")
    bulk = assert_same(_jsonl(tmp_path, data))
    assert bulk is not None and bulk.arrays.n == 1 + sum(1 for x in lines if x.strip())
    old = assess(load_manifest(tmp_path / "m.json"), draws=50, seed=1)
    assert assess(bulk, draws=50, seed=1) == old


def test_extreme_numbers_read_the_same_both_ways(tmp_path: Path) -> None:
    extremes = [
        2**53 + 1,
        2**63 + 1,
        2**64 - 1,
        -(2**63) - 1,
        1e-300,
        5e-324,
        1.7976931348623157e308,
    ]
    lines = [_good(i, value=x, extra_sd=min(abs(x), 1.0)) for i, x in enumerate(extremes)]
    lines += [
        _good(9).replace("0.12", "1" + "0" * 40),
        _good(10).replace("0.12", "0." + "0" * 80 + "1"),
    ]
    bulk = assert_same(_jsonl(tmp_path, lines))
    assert bulk is not None and bulk.arrays.value[2] == float(2**63 + 1)


def test_clean_lines_never_take_the_per_finding_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Colons in strings, nested params, lists of factors, every optional field: all proven
    valid column-wise (else a million findings would be read at the per-finding speed)."""
    import neurath.evidence._bulk as bulk

    def refuse(*args: Any) -> None:
        raise AssertionError("a clean line went to the per-finding path")

    monkeypatch.setattr(bulk, "finding_from_data", refuse)
    rng = random.Random(8)
    rows = [_random_row(rng, i) for i in range(200)]
    for row in rows:
        row.pop("claim", None)  # a lone surrogate is no UTF-8; claims with colons stay below
        row["id"] = f"f{rows.index(row)}"
    lines = [_good(900, claim='a: "b": c', params={"k:v": [1, {"x": "y:z"}]}, status="error")]
    lines += [json.dumps(row) for row in rows]
    read = load_manifest_arrays(_jsonl(tmp_path, lines))
    assert isinstance(read, ManifestArrays) and read.arrays.n == 202


# -- the same refusals ---------------------------------------------------------------------------
BAD_LINES = {
    "se zero": _good(2, se=0),
    "se negative": _good(2, se=-1),
    "se boolean": _good(2, se=True),
    "value string": _good(2, value="0.3"),
    "value null": _good(2, value=None),
    "NaN": _good(2).replace("0.12", "NaN"),
    "Infinity": _good(2).replace("0.12", "-Infinity"),
    "overflowing float": _good(2).replace("0.12", "1e999"),
    "65-digit integer": _good(2).replace("0.12", "9" * 65),
    "65-digit integer in params": _good(2, params={"n": 7}).replace('"n": 7', '"n": ' + "1" * 65),
    "duplicate key": _good(2)[:-1] + ', "se": 1}',
    "duplicate key in expected": _good(2).replace(
        '"scheming": 0.45', '"scheming": 0.45, "scheming": 1'
    ),
    "duplicate key in factors": _good(2).replace('"raters": 1.0', '"raters": 1.0, "raters": 2'),
    "duplicate key in params": _good(2, params={"a": {"b": 1}}).replace('"b": 1', '"b": 1, "b": 1'),
    "duplicate key beside colons": _good(2, claim="a: b: c")[:-1] + ', "se": 1}',
    "duplicate key beside an escaped colon": _good(2, claim="a\\u003ab")[:-1] + ', "se": 1}',
    "equal expectations": _good(2, expected={"not_scheming": 0.1, "scheming": 0.1}),
    "expectation missing": _good(2, expected={"not_scheming": 0.1}),
    "expectation unknown": _good(2, expected={"not_scheming": 0.1, "scheming": 1, "x": 2}),
    "expected a list": _good(2, expected=[0.1, 0.4]),
    "unknown field": _good(2, extra_se=0.1),
    "missing id": json.dumps({k: v for k, v in GOOD.items() if k != "id"}),
    "empty id": _good(2, id=""),
    "numeric id": _good(2, id=5),
    "empty experiment": _good(2, experiment=""),
    "factor listed twice": _good(2, factors=["raters", "raters"]),
    "factor list of numbers": _good(2, factors=[1, 2]),
    "loading boolean": _good(2, factors={"raters": True}),
    "loading string": _good(2, factors={"raters": "1"}),
    "factors null": _good(2, factors=None),
    "status unknown": _good(2, status="maybe"),
    "params a list": _good(2, params=[1, 2]),
    "params too deep": _good(2, params={"p": 0}).replace("0}", "[" * 70 + "]" * 70 + "}"),
    "claim a number": _good(2, claim=5),
    "extra_sd negative": _good(2, extra_sd=-0.1),
    "variance underflows": _good(2, se=1e-200),
    "variance overflows": _good(2, se=1e200),
    "too large to compare": _good(
        2, value=1e308, expected={"not_scheming": -1e308, "scheming": 1e308}
    ),
    "top-level list": "[1, 2]",
    "top-level null": "null",
    "malformed": '{"id": "x",',
    "control character": _good(2).replace('"probe"', '"pro\x01be"'),
    "extra data": _good(2) + " " + _good(3),
    "unknown factor": _good(2, factors=["rater"]),
    "unknown factor among several": _good(2, factors={"raters": 1, "dtaa": 1, "zzz": 1}),
    "duplicate of an inline id": _good(2, id="inline"),
    "duplicate id in the file": _good(2, id="f0"),
    "line too long": _good(2, claim="x" * (1 << 20)),
}


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_a_bad_line_is_refused_in_the_same_words(tmp_path: Path, name: str) -> None:
    lines = [_good(0), _good(1), BAD_LINES[name], _good(3), _good(4)]
    assert assert_same(_jsonl(tmp_path, lines)) is None
    message = _outcome(load_manifest_arrays, tmp_path / "m.json")[1]
    assert "f.jsonl" in message


@pytest.mark.parametrize(
    ("lines", "fragment"),
    [
        # the first bad line wins; a line's fault before any cross-finding check
        ([_good(0, se=-1), _good(1, extra=1)], "f.jsonl:1: finding 'f0': field 'se'"),
        ([_good(0, factors=["nope"]), _good(1), "{oops"], "f.jsonl:3: malformed JSON"),
        # cross-finding faults: the first finding at fault, its repeated id before its factors
        ([_good(0, factors=["nope"]), _good(0)], "finding 'f0': field 'factors.nope'"),
        ([_good(0), _good(0, factors=["nope"])], "finding 'f0': field 'id'"),
    ],
)
def test_the_first_fault_is_the_one_reported(
    tmp_path: Path, lines: list[str], fragment: str
) -> None:
    assert assert_same(_jsonl(tmp_path, lines)) is None
    assert fragment in _outcome(load_manifest_arrays, tmp_path / "m.json")[1]


def test_a_file_fault_anywhere_outranks_a_bad_line(tmp_path: Path) -> None:
    filler = [_good(i) for i in range(3, 30_000)]  # past the first block of the reader
    lines = [_good(0, se=-1), *filler]
    data = ("\n".join(lines) + "\n").encode() + b'{"id": "caf\xe9"}\n'
    assert assert_same(_jsonl(tmp_path, data)) is None
    assert "not UTF-8 text" in _outcome(load_manifest_arrays, tmp_path / "m.json")[1]


def test_file_level_faults_name_the_manifest(tmp_path: Path) -> None:
    path = _manifest(tmp_path, "absent.jsonl")
    assert assert_same(path) is None
    assert "(named by findings_file in" in _outcome(load_manifest_arrays, path)[1]
    (tmp_path / "folder.jsonl").mkdir()
    assert assert_same(_manifest(tmp_path, "folder.jsonl")) is None


# -- the reader of lines -------------------------------------------------------------------------
@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
def test_line_blocks_split_as_universal_newlines(tmp_path: Path, block: int) -> None:
    text = "1\r\n\r2\n\n é \r\r\n3\u2028\x1c4\n5"
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    want = [(n, x.rstrip("\n")) for n, x in enumerate(io.StringIO(text, newline=None), start=1)]
    with LineBlocks(
        path, "findings", max_bytes=1000, max_line_chars=100, max_lines=100, block_bytes=block
    ) as blocks:
        got = [(b.first_line + i, x.decode()) for b in blocks for i, x in enumerate(b.lines)]
    assert got == want


@pytest.mark.parametrize(
    ("data", "limits"),
    [
        (b"1\n22\n333\n", {"max_line_chars": 3}),
        (b"1\n2\n\n3\n", {"max_lines": 3}),
        (b"1\n2\n" + b"9" * 5000, {"max_line_chars": 100}),
        (b"1\n\xff\n1\n", {}),
        (b"1\n" + "é".encode()[:1], {}),
        (b"1\n2\n3\n", {"max_bytes": 5}),
    ],
)
def test_line_blocks_refuse_as_iter_jsonl_does(
    tmp_path: Path, data: bytes, limits: dict[str, int]
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(data)
    settings = {"max_bytes": 100_000, "max_line_chars": 1000, "max_lines": 1000, **limits}
    with pytest.raises(ManifestError) as old:
        read_user_text(path, "findings", max_bytes=settings["max_bytes"])
        list(iter_jsonl(path, "findings", **settings))
    with (
        pytest.raises(ManifestError) as new,
        LineBlocks(path, "findings", block_bytes=2, **settings) as blocks,
    ):
        list(blocks)
    assert str(new.value) == str(old.value)


# -- Parquet -------------------------------------------------------------------------------------
def _parquet(folder: Path, rows: list[dict[str, Any]], name: str = "f.parquet") -> Path:
    columns = {
        key: [row.get(key) for row in rows] for key in dict.fromkeys(k for r in rows for k in r)
    }
    table = {}
    for key, values in columns.items():
        if key == "factors" and any(isinstance(v, dict) for v in values):
            values = [None if v is None else list(v.items()) for v in values]
            table[key] = pa.array(values, type=pa.map_(pa.string(), pa.float64()))
        elif key == "params":
            table[key] = pa.array([None if v is None else json.dumps(v) for v in values])
        else:
            table[key] = pa.array(values)
    pq.write_table(pa.table(table), folder / name, row_group_size=7)
    return _manifest(folder, name)


def test_parquet_reads_as_json_lines_reads(tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = []
    for i in range(60):
        row = json.loads(json.dumps(_random_row(rng, i)).replace("\\ud800", "-"))
        row["id"], row["value"] = f"f{i}", float(row["value"])  # one type per column
        row["factors"] = {f: float(w) for f, w in dict.fromkeys(row.get("factors", []), 1).items()}
        if isinstance(row.get("factors"), dict) and not row["factors"]:
            row["factors"] = None
        rows.append(row)
    from_parquet = assert_same(_parquet(tmp_path, rows))
    # A null in Parquet is a field left out; in JSON it is a value (and refused).
    lines = [json.dumps({k: v for k, v in r.items() if v is not None}) for r in rows]
    from_lines = assert_same(_jsonl(tmp_path, lines))
    assert from_parquet is not None and from_lines is not None
    for field in from_lines.arrays.__dataclass_fields__:
        assert np.array_equal(
            getattr(from_parquet.arrays, field), getattr(from_lines.arrays, field)
        )
    assert assess(from_parquet, draws=20) == assess(from_lines, draws=20)


def test_parquet_factor_lists_and_missing_optional_columns(tmp_path: Path) -> None:
    rows = [{**GOOD, "id": f"f{i}", "factors": ["raters", "data"][: i % 3]} for i in range(20)]
    bulk = assert_same(_parquet(tmp_path, rows))
    assert bulk is not None and bulk.arrays.load_rows.tolist().count(3) == 2  # f2, after inline


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        ({"se": -1.0}, "f.parquet:3: finding 'f2': field 'se': Input should be greater than 0"),
        (
            {"value": float("nan")},
            "f.parquet:3: finding 'f2': field 'value': Input should be a finite number",
        ),
        ({"value": None}, "f.parquet:3: finding 'f2': field 'value': required field is missing"),
        ({"id": ""}, "f.parquet:3: finding '': field 'id'"),
        ({"status": "maybe"}, "field 'status'"),
        (
            {"factors": {"raters": 1.0, "nope": 1.0}},
            "finding 'f2': field 'factors.nope': unknown factor",
        ),
        ({"params": "[1]"}, "f.parquet:3: finding 'f2': field 'params'"),
        ({"extra": 1.0}, "f.parquet:1: finding 'f0': field 'extra': unknown field"),
    ],
)
def test_a_bad_parquet_row_is_named_by_its_number(
    tmp_path: Path, edit: dict[str, Any], fragment: str
) -> None:
    rows = [
        {**GOOD, "id": f"f{i}", "extra_sd": 0.0, "status": "ok", "params": None} for i in range(6)
    ]
    rows[2].update(edit)
    if "params" in edit:
        rows[2]["params"] = json.loads(edit["params"])
    path = _parquet(tmp_path, rows)
    assert assert_same(path) is None
    assert fragment in _outcome(load_manifest_arrays, path)[1]


def test_a_file_that_is_no_parquet_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "f.parquet").write_text("not parquet")
    path = _manifest(tmp_path, "f.parquet")
    assert assert_same(path) is None
    assert "f.parquet: not a readable Parquet file" in _outcome(load_manifest_arrays, path)[1]


# -- the command line ----------------------------------------------------------------------------
def _cli(*args: str) -> Any:
    from neurath.cli import _assess, _validate  # noqa: F401  (registers)

    return CliRunner().invoke(cli, list(args))


def test_cli_refuses_a_bad_line_in_one_line_with_exit_code_2(tmp_path: Path) -> None:
    lines = [_good(i) for i in range(2000)]
    lines[1234] = _good(1234, se=-1)
    path = _jsonl(tmp_path, lines)
    for command in ("assess", "validate"):
        result = _cli(command, str(path))
        assert result.exit_code == 2, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith("neurath: error: ") and "f.jsonl:1235: finding 'f1234'" in line
        assert "field 'se': Input should be greater than 0" in line


def test_cli_reports_which_contributions_it_computed(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, [_good(i, value=0.1 + i / 100) for i in range(30)])
    views = {}
    for mode in ("all", "top", "none"):
        result = _cli("assess", str(path), "--json", "--contributions", mode, "--top", "5")
        assert result.exit_code == 0, result.output
        views[mode] = json.loads(result.output)
    assert views["top"]["contributions_computed"] == {"mode": "top", "top": 5}
    assert views["all"]["contributions_computed"] == {"mode": "all", "top": None}
    assert len(views["all"]["contributions"]) == 31 and views["none"]["contributions"] == {}
    assert (
        list(views["top"]["contributions"].items())
        == list(views["all"]["contributions"].items())[:5]
    )
    assert "31 findings" in _cli("validate", str(path)).output


# -- the largest contributions, without them all ---------------------------------------------------
@pytest.mark.parametrize(("sd", "bounded_by_sigma"), [((0.005, 0.02), True), ((0.5, 1.5), False)])
def test_top_contributions_equal_the_full_leave_one_out(
    sd: tuple[float, float], bounded_by_sigma: bool
) -> None:
    rng = np.random.default_rng(5)
    ev = observed(structure(20_000, 600, 3, rng, sd_range=sd), rng, scale=2.0)
    full = assess_arrays(ev, target="t", prior=0.5, common_cause=0.01)
    top = assess_arrays(ev, target="t", prior=0.5, common_cause=0.01, top=8)
    for group in ("contributions", "factor_contributions"):
        want = list(getattr(full, group).items())[:8]
        got = list(getattr(top, group).items())
        assert [k for k, _ in got] == [k for k, _ in want]
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-9, atol=1e-14)
    assert top.p_not_scheming == full.p_not_scheming and top.warnings == full.warnings
    # And it got there without the whole inverse: the Sigma bound alone, or diag(C^-1).
    cov = ev.covariance()
    loo = leave_one_out(cov, gls_solve(cov, ev.delta, ev.residual), 8)
    assert len(loo.rows) < ev.n / 4
    assert cov.inverse_at_hand() is not bounded_by_sigma


def _with_lonely_findings(ev: EvidenceArrays, count: int) -> EvidenceArrays:
    """``count`` more findings, each alone on a factor 10^5 times its own error: the factors
    dwarf it, so its leave-one-out figure cannot be computed reliably."""
    n, k, idx = ev.n, ev.k, np.arange(count)
    return EvidenceArrays(
        finding_ids=ev.finding_ids + tuple(f"lonely{i}" for i in idx),
        factor_ids=ev.factor_ids + tuple(f"huge{i}" for i in idx),
        value=np.concatenate([ev.value, np.full(count, 0.2)]),
        variance=np.concatenate([ev.variance, np.full(count, 1e-4)]),
        mu_not_scheming=np.concatenate([ev.mu_not_scheming, np.ones(count)]),
        mu_scheming=np.concatenate([ev.mu_scheming, np.zeros(count)]),
        load_rows=np.concatenate([ev.load_rows, n + idx]),
        load_cols=np.concatenate([ev.load_cols, k + idx]),
        loading=np.concatenate([ev.loading, np.ones(count)]),
        sd_lo=np.concatenate([ev.sd_lo, np.full(count, 1000.0)]),
        sd_hi=np.concatenate([ev.sd_hi, np.full(count, 1000.0)]),
    )


def test_top_contributions_name_the_same_unreliable_findings() -> None:
    rng = np.random.default_rng(6)
    ev = _with_lonely_findings(observed(structure(2000, 600, 3, rng), rng), 2)
    full = assess_arrays(ev, target="t", prior=0.5)
    top = assess_arrays(ev, target="t", prior=0.5, top=5)
    assert any("omitted (lonely0, lonely1)" in w for w in full.warnings)
    assert top.warnings == full.warnings
    assert list(top.contributions) == list(full.contributions)[:5]
