"""Findings from a Parquet file: the columnar twin of a findings JSON Lines file.

A manifest names it as it names JSON Lines (``findings_file: findings.parquet``; the suffix
decides). One row per finding, one column per field of a finding
(:class:`~neurath.evidence.Finding`):

============  ==================================================  ===========================
column        type                                                 meaning
============  ==================================================  ===========================
id            string                                               required, unique
experiment    string                                               required
value         any integer or floating type                         required
se            any integer or floating type                         required, > 0
expected      struct<not_scheming: number, scheming: number>       required, two distinct
factors       map<string, number> (id -> loading), or              optional
              list<string> (ids, loading 1)
extra_sd      any integer or floating type                         optional, >= 0 (default 0)
claim         string                                               optional
status        string: ``ok`` or ``error``                          optional (default ``ok``)
params        string holding a JSON object                         optional
============  ==================================================  ===========================

A null reads as a field left out (its default, or "required field is missing"). Any other
column is an unknown field. Every rule and message is the JSON Lines one, with the row number
(from 1) where a JSON Lines error gives the line: ``findings.parquet:17: finding 'x': field
'se': Input should be greater than 0``. Reading needs pyarrow (``pip install neurath[parquet]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from neurath._errors import ManifestError
from neurath._files import open_user_file, parse_json
from neurath.evidence._bulk_rows import (
    _FIELDS,
    _REQUIRED,
    BoolArray,
    Chunk,
    FloatArray,
    canonical_row,
    check_values,
    chunk_from_rows,
    colons_in_strings,
    walk_json,
)
from neurath.evidence._load import finding_from_data
from neurath.evidence._model import Finding

_ROWS_PER_BATCH = 65_536
_BIG = 1e63


def _arrow() -> Any:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.compute as pc  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - pyarrow is a dev dependency
        raise ManifestError(
            "reading a Parquet findings file needs pyarrow: pip install 'neurath[parquet]'"
        ) from None
    return pa, pc, pq


def _batches(path: str | Path, max_bytes: int, max_rows: int) -> Iterator[tuple[int, Any]]:
    """``(first row number, record batch)`` over the file, checked as a user file."""
    _, _, pq = _arrow()
    where = str(path)
    with open_user_file(path, "findings", max_bytes=max_bytes) as handle:
        try:
            parquet = pq.ParquetFile(handle)
            if parquet.metadata.num_rows > max_rows:
                raise ManifestError(f"findings file has more than {max_rows} rows", file=where)
            first = 1
            for batch in parquet.iter_batches(batch_size=_ROWS_PER_BATCH):
                yield first, batch
                first += batch.num_rows
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ManifestError(f"not a readable Parquet file: {reason}", file=where) from None


def parquet_rows(path: str | Path, *, max_bytes: int, max_rows: int) -> Iterator[tuple[int, Any]]:
    """``(row number, finding as JSON would give it)`` for every row, for the per-finding path."""
    where = str(path)
    for first, batch in _batches(path, max_bytes, max_rows):
        for offset, row in enumerate(batch.to_pylist()):
            yield first + offset, _as_json(row, where, first + offset)


def read_parquet_chunks(
    path: Path, add: Callable[[Chunk], None], *, max_bytes: int, max_rows: int
) -> None:
    """Pass the findings of a Parquet file to ``add`` a batch at a time, in order."""
    where = str(path)
    for first, batch in _batches(path, max_bytes, max_rows):
        chunk, flagged = _batch_chunk(batch)
        for i in flagged.tolist():  # the first refused row raises, as it would alone
            finding_from_data(_as_json(_row(batch, i), where, first + i), where, first + i, Finding)
        if len(flagged):  # flagged, yet valid: read the batch per finding
            rows = [_as_json(row, where, first + i) for i, row in enumerate(batch.to_pylist())]
            findings = [finding_from_data(r, where, first + i, Finding) for i, r in enumerate(rows)]
            chunk = chunk_from_rows([canonical_row(f) for f in findings], None)[0]
        add(chunk)


def _row(batch: Any, i: int) -> dict[str, Any]:
    row: dict[str, Any] = batch.slice(i, 1).to_pylist()[0]
    return row


def _as_json(row: dict[str, Any], where: str, number: int) -> dict[str, Any]:
    """A row as the JSON object it stands for: nulls left out, a map as an object, params
    parsed from its JSON text."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if value is None and name in _FIELDS:
            continue
        if name == "expected" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None}
        elif name != "params" and isinstance(value, list) and value:
            if all(isinstance(x, tuple) for x in value):  # a map: (key, value) pairs
                value = _pairs_object(value, where, number)
        elif name == "params" and isinstance(value, str):
            try:
                value = parse_json(value, where)
            except ManifestError as exc:
                raise ManifestError(
                    exc.reason, file=where, line=number, finding=_id(row), field="params"
                ) from None
        out[name] = value
    return out


def _pairs_object(pairs: list[tuple[Any, Any]], where: str, number: int) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ManifestError(
                f"duplicate key {key!r} (each key may appear once)", file=where, line=number
            )
        out[key] = value
    return out


def _id(row: dict[str, Any]) -> str | None:
    fid = row.get("id")
    return None if fid is None else str(fid)


def _batch_chunk(batch: Any) -> tuple[Chunk, Any]:
    """A batch's columns, and the rows not proven valid (see :mod:`._bulk_rows`)."""
    n = batch.num_rows
    bad = np.zeros(n, dtype=bool)
    names = set(batch.schema.names)
    if not (_REQUIRED <= names <= _FIELDS):
        bad[:] = True  # every row lacks a required field or has an unknown one

    def column(name: str) -> Any:
        return batch.column(name) if name in names else None

    ids = _strings(column("id"), n, bad, nonempty=True)
    experiment = _strings(column("experiment"), n, bad, nonempty=True)
    _strings(column("claim"), n, bad, nonempty=False)
    failed = _status(column("status"), n, bad)
    value = _numbers(column("value"), n, bad, default=None)
    se = _numbers(column("se"), n, bad, default=None)
    extra_sd = _numbers(column("extra_sd"), n, bad, default=0.0)
    mu_n, mu_s = _expected(column("expected"), n, bad)
    load_row, load_name, names_, loading = _factors(column("factors"), n, bad)
    _params(column("params"), bad)
    check_values(value, se, extra_sd, mu_n, mu_s, bad)
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
        names_,
        loading,
    )
    return chunk, np.flatnonzero(bad)


def _as_bool(array: Any) -> BoolArray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _nulls(array: Any) -> BoolArray:
    return _as_bool(array.is_null())


def _is_string(kind: Any) -> bool:
    pa = _arrow()[0]
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _strings(array: Any, n: int, bad: BoolArray, *, nonempty: bool, default: str = "") -> list[str]:
    """A string column: nulls (left out) read as ``default``; a required one, ``nonempty``,
    flagged where null or empty; another type flagged wherever it has a value."""
    if array is None:
        if nonempty:
            bad[:] = True
        return [default] * n
    nulls = _nulls(array)
    if not _is_string(array.type):
        bad |= ~nulls | nonempty
        return [default] * n
    values: list[Any] = array.to_pylist()
    if nonempty:
        bad |= nulls | np.fromiter((not v for v in values), bool, n)
    if nulls.any():
        values = [default if v is None else v for v in values]
    return values


def _status(array: Any, n: int, bad: BoolArray) -> BoolArray:
    """``status == "error"``; anything but ``ok``, ``error`` or null flagged."""
    pc = _arrow()[1]
    if array is None or array.null_count == n:
        return np.zeros(n, dtype=bool)
    nulls = _nulls(array)
    if not _is_string(array.type):
        bad |= ~nulls
        return np.zeros(n, dtype=bool)
    failed = _as_bool(pc.fill_null(pc.equal(array, "error"), False))
    fine = _as_bool(pc.fill_null(pc.equal(array, "ok"), False))
    bad |= ~(failed | fine | nulls)
    return failed


def _numbers(array: Any, n: int, bad: BoolArray, *, default: float | None) -> FloatArray:
    """A number column as float64; required (``default`` None) ones flagged where null."""
    pa, pc, _ = _arrow()
    if array is None:
        if default is None:
            bad[:] = True
        return np.full(n, 0.0 if default is None else default)
    nulls = _nulls(array)
    if default is None:
        bad |= nulls
    if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
        bad |= ~nulls  # decimals, booleans, strings...: the per-finding path decides
        return np.zeros(n)
    # Integers convert to the nearest double, as float() converts them.
    floats = pc.cast(array, pa.float64(), safe=False).fill_null(default or 0.0)
    out = np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad |= ~(np.abs(out) < _BIG)  # NaN, infinities, and numbers a JSON file may not hold
    return out


def _expected(array: Any, n: int, bad: BoolArray) -> tuple[FloatArray, FloatArray]:
    pa, pc, _ = _arrow()
    if array is None or not pa.types.is_struct(array.type):
        bad[:] = True
        return np.zeros(n), np.ones(n)
    kind = array.type
    if {kind.field(i).name for i in range(kind.num_fields)} != {"not_scheming", "scheming"}:
        bad[:] = True
        return np.zeros(n), np.ones(n)
    bad |= _nulls(array)
    mu_n = _numbers(pc.struct_field(array, "not_scheming"), n, bad, default=None)
    mu_s = _numbers(pc.struct_field(array, "scheming"), n, bad, default=None)
    return mu_n, mu_s


def _factors(array: Any, n: int, bad: BoolArray) -> tuple[Any, Any, list[str], FloatArray]:
    """Loadings: row, position in the distinct factor ids, the ids, loading."""
    pa, pc, _ = _arrow()
    empty = np.zeros(0, dtype=np.int64)
    if array is None or array.null_count == n:
        return empty, empty, [], np.zeros(0)
    kind = array.type
    is_map = pa.types.is_map(kind)
    if is_map and _is_string(kind.key_type):
        # As a list of (key, value) structs: a map's .keys and .items ignore a batch's offset.
        array = array.cast(pa.list_(pa.struct([kind.key_field, kind.item_field])))
        entries = pc.list_flatten(array)
        keys, items = pc.struct_field(entries, 0), pc.struct_field(entries, 1)
    elif pa.types.is_list(kind) and _is_string(kind.value_type):
        keys, items = pc.list_flatten(array), None
    else:
        bad |= ~_nulls(array)
        return empty, empty, [], np.zeros(0)
    rows = np.asarray(pc.list_parent_indices(array).to_numpy(zero_copy_only=False), dtype=np.int64)
    encoded = pc.dictionary_encode(keys)
    code = np.asarray(
        pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    names: list[str] = encoded.dictionary.to_pylist()
    bad[rows[_nulls(keys)]] = True
    if items is None:
        loading = np.ones(len(code))
    else:
        item_bad = np.zeros(len(code), dtype=bool)
        loading = _numbers(items, len(code), item_bad, default=None)
        bad[rows[item_bad]] = True
    pair = rows * max(len(names), 1) + code  # a repeated id within a row
    ordered = np.sort(pair)
    bad[ordered[1:][ordered[1:] == ordered[:-1]] // max(len(names), 1)] = True
    return rows, code, names, loading


def _params(array: Any, bad: BoolArray) -> None:
    """``params``: JSON text of an object, parsed fast; anything doubtful is flagged."""
    if array is None or array.null_count == len(array):
        return
    if not _is_string(array.type):
        bad |= ~_nulls(array)
        return
    for i, text in enumerate(array.to_pylist()):
        if text is not None and not _json_object_ok(text):
            bad[i] = True


def _json_object_ok(text: str) -> bool:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    if type(value) is not dict:
        return False
    keys, ok = walk_json(value, 2)
    colons = text.count(":")
    if not ok or "\\u003a" in text.lower():  # a ':' written as an escape: the strict parser says
        return False
    return colons == keys or colons - colons_in_strings(value) == keys
