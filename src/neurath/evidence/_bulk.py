"""The bulk path: a version 1 manifest's findings read as columns, never as one model each.

A findings file of a million findings would take a pydantic model per finding: about 20 us
each and gigabytes of objects. Here JSON Lines are parsed by orjson a block at a time and
checked a column at a time (:mod:`._bulk_rows`); Parquet columns are checked as arrays
(:mod:`._bulk_parquet`). Whatever the fast checks cannot prove valid is handed, one finding at
a time, to the per-finding path, so a bad file is refused with exactly the message
:func:`~neurath.evidence.load_manifest` gives (file, line, finding, field), and a good one is
read into exactly the numbers it reads.

The one difference is the size allowed: a findings file read here may hold up to
:data:`BULK_MAX_BYTES` and :data:`BULK_MAX_LINES` lines (``load_manifest``, which keeps every
finding as a model, stops at 64 MiB and a million lines).

Version 2 manifests (mechanism components, the mixture engine) are read by the per-finding
path: :func:`load_manifest_columns` returns them as a :class:`ManifestV2`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from neurath._errors import ManifestError
from neurath._files import MAX_LINE_CHARS, parse_json
from neurath._line_blocks import LineBlocks
from neurath.evidence._bulk_rows import (
    BoolArray,
    Chunk,
    FloatArray,
    IntArray,
    canonical_row,
    chunk_from_rows,
)
from neurath.evidence._load import (
    finding_from_data,
    is_parquet,
    manifest_from_data,
    named_by,
    read_manifest_document,
    validate_header,
)
from neurath.evidence._model import Finding, Manifest, _did_you_mean
from neurath.evidence._model_v2 import ManifestV2

BULK_MAX_BYTES = 2 << 30
"""Largest findings file the bulk path reads (2 GiB)."""
BULK_MAX_LINES = 10_000_000
"""Most lines (or Parquet rows) in a findings file the bulk path reads."""

_ROWS_PER_CHUNK = 4096  # small enough that a chunk's parsed objects stay in the CPU's caches


@dataclass(frozen=True)
class FindingColumns:
    """Every finding of a manifest (inline ones first), one array entry per finding or loading."""

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
    """Finding index of each loading."""
    load_factor: IntArray
    """Index in the manifest's ``factors`` of each loading."""
    loading: FloatArray


@dataclass(frozen=True)
class ManifestColumns:
    """A version 1 manifest read by the bulk path."""

    header: Manifest
    """The manifest with its inline findings only (``findings_file`` is not read into it)."""
    columns: FindingColumns
    """All its findings: the inline ones, then those of ``findings_file``."""


def load_manifest_columns(path: str | Path) -> ManifestColumns | ManifestV2:
    """Load a manifest for assessment, its findings file by the bulk path (see the module).

    Args:
        path: A ``.yaml``/``.yml`` or ``.json`` manifest. Its ``findings_file`` may be JSON
            Lines or Parquet (``.parquet``, schema in :mod:`neurath.evidence._bulk_parquet`).

    Returns:
        The header and the findings' columns; a version 2 manifest read per finding.

    Raises:
        ManifestError: As :func:`~neurath.evidence.load_manifest` raises it, word for word.
    """
    path = Path(path)
    where = str(path)
    data = read_manifest_document(path)
    header = validate_header(data, file=where)
    if not isinstance(header, Manifest):  # version 2: the mixture engine reads models
        full = manifest_from_data(data, file=where, base_dir=path.parent)
        assert isinstance(full, ManifestV2)
        return full
    collector = _Collector(header)
    collector.add(chunk_from_rows([canonical_row(f) for f in header.findings], None)[0])
    if header.findings_file is not None:
        findings_path = path.parent / header.findings_file
        collector.file = str(findings_path)
        with named_by(where):
            if is_parquet(findings_path):
                from neurath.evidence._bulk_parquet import read_parquet_chunks

                read_parquet_chunks(
                    findings_path, collector.add, max_bytes=BULK_MAX_BYTES, max_rows=BULK_MAX_LINES
                )
            else:
                read_jsonl_chunks(findings_path, collector.add)
    return ManifestColumns(header, collector.finish())


def read_jsonl_chunks(path: Path, add: Callable[[Chunk], None]) -> None:
    """Pass the findings of a JSON Lines file to ``add`` a chunk at a time, in order."""
    where = str(path)
    with (
        no_cyclic_gc(),
        LineBlocks(
            path,
            "findings",
            max_bytes=BULK_MAX_BYTES,
            max_line_chars=MAX_LINE_CHARS,
            max_lines=BULK_MAX_LINES,
        ) as blocks,
    ):
        for block in blocks:
            for start in range(0, len(block.lines), _ROWS_PER_CHUNK):
                lines = block.lines[start : start + _ROWS_PER_CHUNK]
                broken = block.last_broken or start + len(lines) < len(block.lines)
                try:
                    add(_jsonl_chunk(lines, block.first_line + start, broken, where))
                except ManifestError:
                    blocks.check_rest()  # a fault of the whole file outranks a line's
                    raise


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: a chunk's parsed objects would otherwise survive a
    few collections each and trigger full ones over everything else alive (about half of the
    parsing time); they hold no cycles, so reference counting frees them all the same."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Unparsed:
    """A line the fast parser refused (the strict one says why, or reads it after all)."""


def _loads(lines: list[bytes]) -> list[Any]:
    try:
        return list(map(orjson.loads, lines))
    except orjson.JSONDecodeError:
        return [_loads_one(line) for line in lines]


def _loads_one(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _Unparsed()


def _jsonl_chunk(lines: list[bytes], first_line: int, last_broken: bool, where: str) -> Chunk:
    """The findings on ``lines``; rows not proven valid go through the per-finding path."""
    rows = _loads(lines)
    chunk, flagged = chunk_from_rows(rows, lines)
    if not len(flagged):
        return chunk
    for i in flagged.tolist():
        text = lines[i].decode("utf-8") + ("\n" if i < len(lines) - 1 or last_broken else "")
        if not text.strip():  # blank to str.strip(), as iter_jsonl skips it
            rows[i] = None
            continue
        lineno = first_line + i
        finding = finding_from_data(
            parse_json(text, where, first_line=lineno), where, lineno, Finding
        )
        rows[i] = canonical_row(finding)
    return chunk_from_rows([row for row in rows if row is not None], None)[0]


class _Collector:
    """Chunks of findings gathered in order, with the cross-finding checks of
    :func:`~neurath.evidence._model.check_references` (the first fault, by finding, wins)."""

    def __init__(self, header: Manifest) -> None:
        self.file: str | None = None
        self._known = {f.id: f for f in header.factors}
        self._index = {f.id: j for j, f in enumerate(header.factors)}
        self._chunks: list[Chunk] = []
        self._factor_index: list[IntArray] = []
        self._seen: set[str] = set()
        self._rows = 0
        self._fault: tuple[int, int, ManifestError] | None = None

    def add(self, chunk: Chunk) -> None:
        ids = chunk.ids
        if len(set(ids)) < len(ids) or not self._seen.isdisjoint(ids):
            earlier: set[str] = set()
            for i, fid in enumerate(ids):
                if fid in self._seen or fid in earlier:
                    self._note(
                        i, 0, ManifestError("finding id used twice", finding=fid, field="id")
                    )
                    break
                earlier.add(fid)
        self._seen.update(ids)
        names = chunk.factor_names
        known = np.fromiter(map(self._index.get, names, repeat(-1)), np.int64, len(names))
        index = known[chunk.load_name]
        unknown = np.flatnonzero(index < 0)
        if len(unknown):
            name = names[chunk.load_name[unknown[0]]]
            row = int(chunk.load_row[unknown[0]])
            reason = f"unknown factor {name!r}{_did_you_mean(name, self._known)}"
            self._note(row, 1, ManifestError(reason, finding=ids[row], field=f"factors.{name}"))
        self._chunks.append(chunk)
        self._factor_index.append(index)
        self._rows += len(chunk)

    def _note(self, row: int, order: int, fault: ManifestError) -> None:
        # A finding's repeated id is reported before its unknown factors, as check_references does.
        key = (self._rows + row, order)
        if self._fault is None or key < self._fault[:2]:
            located = ManifestError(
                fault.reason, file=self.file, finding=fault.finding, field=fault.field
            )
            self._fault = (*key, located)

    def finish(self) -> FindingColumns:
        if self._fault is not None:
            raise self._fault[2]
        chunks = self._chunks
        offsets = np.cumsum([0] + [len(c) for c in chunks[:-1]], dtype=np.int64)

        def cat(name: str) -> Any:
            return np.concatenate([getattr(c, name) for c in chunks]) if chunks else np.zeros(0)

        return FindingColumns(
            ids=list(chain.from_iterable(c.ids for c in chunks)),
            experiment=list(chain.from_iterable(c.experiment for c in chunks)),
            failed=cat("failed").astype(bool),
            value=cat("value"),
            se=cat("se"),
            extra_sd=cat("extra_sd"),
            mu_not_scheming=cat("mu_not_scheming"),
            mu_scheming=cat("mu_scheming"),
            load_row=np.concatenate(
                [c.load_row + off for c, off in zip(chunks, offsets, strict=True)]
            ).astype(np.int64),
            load_factor=np.concatenate(self._factor_index).astype(np.int64),
            loading=cat("loading"),
        )
