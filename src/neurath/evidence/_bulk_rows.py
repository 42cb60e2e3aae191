"""Findings checked a column at a time: the fast half of the bulk path (:mod:`._bulk`).

:func:`chunk_from_rows` takes parsed JSON objects (a few thousand at once) and returns their
numbers as arrays, and the rows it cannot *prove* valid under the :class:`~._model.Finding`
model. The proof is conservative: a flagged row goes to the per-finding path (pydantic), which
either refuses it with the usual message or accepts it; so the bulk path never accepts a finding
the per-finding path refuses, and never reports an error in other words.

What a fast parser (orjson) lets through but the strict one refuses is flagged too:

- a duplicate key (orjson keeps the last): a line has one ``:`` outside strings per key it
  holds, repeated or not, so it is flagged when its ``:`` count, less the ``:`` in the strings
  read from it, exceeds the keys read (a ``:`` written as ``\\u003a`` is flagged outright);
- an integer of more than 64 digits (orjson reads it as a float): flagged by magnitude, any
  number of 1e63 or more;
- nesting deeper than :data:`~neurath._files.MAX_DEPTH` (orjson allows 1024 levels).
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from neurath._files import MAX_DEPTH
from neurath.evidence._model import Finding

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


class _Missing:
    """A field a row leaves out (unlike ``null``, which is a value)."""


_MISSING = _Missing()
_EMPTY: dict[str, Any] = {}
_NUMBER = {int, float}
_FIELDS = frozenset(Finding.model_fields)
_REQUIRED = frozenset(name for name, info in Finding.model_fields.items() if info.is_required())
_EXPECTED_KEYS = {("not_scheming", "scheming"), ("scheming", "not_scheming")}
_BIG = 1e63
"""Numbers this large may have been integers of more than 64 digits, which JSON refuses."""


@dataclass(frozen=True)
class Chunk:
    """Consecutive findings as columns; loadings in row order, each row's in its own order."""

    ids: list[str]
    experiment: list[str]
    failed: BoolArray
    """``status: error``."""
    value: FloatArray
    se: FloatArray
    extra_sd: FloatArray
    mu_not_scheming: FloatArray
    mu_scheming: FloatArray
    load_row: IntArray
    """Row (within the chunk) of each loading."""
    load_name: IntArray
    """Factor id of each loading, as a position in ``factor_names``."""
    factor_names: list[str]
    loading: FloatArray

    def __len__(self) -> int:
        return len(self.ids)


def canonical_row(finding: Finding) -> dict[str, Any]:
    """The fields of a validated finding that the engine reads, as a row of JSON."""
    return {
        "id": finding.id,
        "experiment": finding.experiment,
        "value": finding.value,
        "se": finding.se,
        "extra_sd": finding.extra_sd,
        "expected": {
            "not_scheming": finding.expected.not_scheming,
            "scheming": finding.expected.scheming,
        },
        "factors": dict(finding.factors),
        "status": finding.status,
    }


def chunk_from_rows(rows: list[Any], lines: list[bytes] | None) -> tuple[Chunk, IntArray]:
    """Columns of parsed rows, and the positions of rows not proven valid (ascending).

    Args:
        rows: One parsed JSON value per finding.
        lines: The raw line of each row, for the duplicate-key check; ``None`` for rows that
            need none (already validated).
    """
    n = len(rows)
    bad = np.zeros(n, dtype=bool)
    dicts, present = _dicts(rows, bad)

    def column(name: str, default: Any = _MISSING) -> list[Any]:
        # A field no row has (often claim, status, extra_sd, params) costs nothing.
        return _column(dicts, name, default) if name in present else [default] * n

    ids = _texts(column("id"), bad, nonempty=True)
    experiment = _texts(column("experiment"), bad, nonempty=True)
    _texts(column("claim"), bad, nonempty=False)
    failed = _status(column("status"), bad)
    value = _numbers(column("value"), bad)
    se = _numbers(column("se"), bad)
    extra_sd = _numbers(column("extra_sd", 0.0), bad)
    mu_n, mu_s, expected_keys = _expected(column("expected", _EMPTY), bad)
    load_row, load_factor, loading, factor_keys = _factors(column("factors", _EMPTY), bad)
    params_keys = _params(column("params"), bad)
    check_values(value, se, extra_sd, mu_n, mu_s, bad)
    if lines is not None:
        keys = np.fromiter(map(len, dicts), np.int64, n) + expected_keys + factor_keys + params_keys
        _check_keys_once(rows, lines, keys, bad)
    load_name = np.arange(len(load_factor), dtype=np.int64)
    chunk = Chunk(
        ids,
        experiment,
        failed,
        value,
        se,
        extra_sd,
        mu_n,
        mu_s,
        load_row,
        load_name,
        load_factor,
        loading,
    )
    return chunk, np.flatnonzero(bad)


def _column(dicts: list[dict[str, Any]], name: str, default: Any = _MISSING) -> list[Any]:
    return list(map(dict.get, dicts, repeat(name), repeat(default)))


def _dicts(rows: list[Any], bad: BoolArray) -> tuple[list[dict[str, Any]], set[str]]:
    """The rows that are objects with the model's keys, and the keys any of them has; every
    other row is flagged (and read as an empty object)."""
    if set(map(type, rows)) != {dict}:
        for i, row in enumerate(rows):
            bad[i] |= type(row) is not dict
        rows = [row if type(row) is dict else _EMPTY for row in rows]
    signatures = list(map(tuple, rows))
    distinct = set(signatures)
    wrong = {s for s in distinct if not (_REQUIRED <= set(s) <= _FIELDS)}
    if wrong:
        bad |= np.fromiter((s in wrong for s in signatures), bool, len(rows))
    return rows, set(chain.from_iterable(distinct))


def _flag(bad: BoolArray, ok: Iterable[bool]) -> None:
    bad |= ~np.fromiter(ok, bool, len(bad))


def _texts(col: list[Any], bad: BoolArray, *, nonempty: bool) -> list[str]:
    """A column of strings (a missing one reads as ``""``; required ones are flagged apart)."""
    kinds = set(map(type, col))
    if kinds <= {str, _Missing} and (not nonempty or all(col)):
        return col if kinds == {str} else [x if type(x) is str else "" for x in col]
    _flag(bad, ((type(x) is str and bool(x or not nonempty)) or x is _MISSING for x in col))
    return [x if type(x) is str else "" for x in col]


def _status(col: list[Any], bad: BoolArray) -> BoolArray:
    if col and col[0] is _MISSING and set(map(type, col)) == {_Missing}:
        return np.zeros(len(col), dtype=bool)
    if not set(map(type, col)) <= {str, _Missing}:
        _flag(bad, (type(x) in (str, _Missing) for x in col))
        col = [x if type(x) in (str, _Missing) else _MISSING for x in col]
    if not set(col) <= {"ok", "error", _MISSING}:
        _flag(bad, (x in ("ok", "error", _MISSING) for x in col))
    return np.fromiter(map(operator.eq, col, repeat("error")), bool, len(col))


def _numbers(col: list[Any], bad: BoolArray) -> FloatArray:
    """A column of finite numbers, booleans and strings refused; flagged entries read as 0."""
    if not set(map(type, col)) <= _NUMBER:
        _flag(bad, (type(x) in _NUMBER for x in col))
        col = [x if type(x) in _NUMBER else 0.0 for x in col]
    try:
        out = np.array(col, dtype=np.float64)
    except OverflowError:  # an integer past float range: as float() would refuse it
        out = np.array([x if abs(x) < _BIG else 0.0 for x in col], dtype=np.float64)
        _flag(bad, (abs(x) < _BIG for x in col))
    with np.errstate(invalid="ignore"):
        bad |= ~(np.abs(out) < _BIG)  # NaN and infinities too
    return out


def _expected(col: list[Any], bad: BoolArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """``expected.not_scheming``, ``expected.scheming`` and the keys of each ``expected``."""
    if set(map(type, col)) != {dict}:
        _flag(bad, (type(x) is dict for x in col))
        col = [x if type(x) is dict else _EMPTY for x in col]
    signatures = list(map(tuple, col))
    if set(signatures) <= _EXPECTED_KEYS:
        keys = np.full(len(col), 2, dtype=np.int64)
    else:
        _flag(bad, (s in _EXPECTED_KEYS for s in signatures))
        keys = np.fromiter(map(len, col), np.int64, len(col))
    mu_n = _numbers(_column(col, "not_scheming", 0.0), bad)
    mu_s = _numbers(_column(col, "scheming", 1.0), bad)
    return mu_n, mu_s, keys


def _factors(col: list[Any], bad: BoolArray) -> tuple[IntArray, list[str], FloatArray, IntArray]:
    """Loadings (row, factor id, value) and the keys of each ``factors`` object (a list of ids
    means loading 1 and has no keys)."""
    n = len(col)
    if set(map(type, col)) <= {dict}:
        keys = lengths = np.fromiter(map(len, col), np.int64, n)
    else:
        keys = np.fromiter((len(x) if type(x) is dict else 0 for x in col), np.int64, n)
        col = [_factor_dict(x, i, bad) for i, x in enumerate(col)]
        lengths = np.fromiter(map(len, col), np.int64, n)
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    ids: list[str] = list(chain.from_iterable(col))
    load_bad = np.zeros(len(ids), dtype=bool)
    loading = _numbers(list(chain.from_iterable(map(dict.values, col))), load_bad)
    bad[rows[load_bad]] = True
    return rows, ids, loading, keys


def _factor_dict(x: Any, i: int, bad: NDArray[np.bool_]) -> dict[str, Any]:
    if type(x) is dict:
        return x
    if type(x) is list and all(type(f) is str for f in x) and len(set(x)) == len(x):
        return dict.fromkeys(x, 1.0)
    bad[i] = True
    return _EMPTY


def _params(col: list[Any], bad: BoolArray) -> IntArray:
    """Keys within each ``params`` object (which may hold any JSON), checked for depth and size
    of numbers."""
    keys = np.zeros(len(col), dtype=np.int64)
    for i, x in enumerate(col):
        if x is _MISSING or (type(x) is dict and not x):
            continue
        if type(x) is not dict:
            bad[i] = True
            continue
        count, ok = walk_json(x, 2)
        keys[i] = count
        bad[i] |= not ok
    return keys


def walk_json(value: dict[str, Any] | list[Any], depth: int) -> tuple[int, bool]:
    """Keys within a container at ``depth`` (the row is depth 1), and whether nothing in it is
    too deep (with a margin: the strict parser decides near the limit) or too large a number."""
    if depth >= MAX_DEPTH - 1:
        return 0, False
    items: Iterable[Any] = value.values() if isinstance(value, dict) else value
    count, ok = (len(value) if isinstance(value, dict) else 0), True
    for item in items:
        if isinstance(item, dict | list):
            more, fine = walk_json(item, depth + 1)
            count, ok = count + more, ok and fine
        elif type(item) is float and not abs(item) < _BIG:
            ok = False
    return count, ok


def check_values(
    value: FloatArray,
    se: FloatArray,
    extra_sd: FloatArray,
    mu_n: FloatArray,
    mu_s: FloatArray,
    bad: BoolArray,
) -> None:
    """The model's range checks, in the same double-precision arithmetic."""
    with np.errstate(all="ignore"):
        variance = se * se + extra_sd * extra_sd
        mid = 0.5 * mu_n + 0.5 * mu_s
        ok = (se > 0) & (extra_sd >= 0) & np.isfinite(variance)
        ok &= variance >= sys.float_info.min
        ok &= (mu_n != mu_s) & np.isfinite(mu_n - mu_s) & np.isfinite(value - mid)
    bad |= ~ok


def _check_keys_once(rows: list[Any], lines: list[bytes], keys: IntArray, bad: BoolArray) -> None:
    """Flag rows whose line may repeat a key (see the module)."""
    colons = np.fromiter(map(bytes.count, lines, repeat(b":")), np.int64, len(lines))
    for i in np.flatnonzero((colons != keys) & ~bad):
        # Each ':' inside a string is one in the line, unless written as an escape (\u003a).
        if b"\\u003a" in lines[i].lower() or colons[i] - colons_in_strings(rows[i]) != keys[i]:
            bad[i] = True


def colons_in_strings(value: Any) -> int:
    if type(value) is str:
        return value.count(":")
    if type(value) is dict:
        return sum(k.count(":") + colons_in_strings(v) for k, v in value.items())
    if type(value) is list:
        return sum(map(colons_in_strings, value))
    return 0
