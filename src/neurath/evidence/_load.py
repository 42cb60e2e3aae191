"""Reading manifests (YAML or JSON) and findings files (JSON Lines), with errors that say where."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from neurath._errors import ManifestError
from neurath._files import (
    DEFAULT_MAX_BYTES,
    MAX_LINES,
    iter_jsonl,
    parse_json,
    parse_yaml,
    read_user_text,
)
from neurath.evidence._model import Finding, Manifest, check_references
from neurath.evidence._model_v2 import FindingV2, ManifestV2, check_components

AnyManifest = Manifest | ManifestV2
"""A manifest of either format version: 1 (one expectation per hypothesis) or 2 (per
mechanism component)."""

_READS: dict[int, type[Manifest] | type[ManifestV2]] = {1: Manifest, 2: ManifestV2}

_UNION_BRANCHES = ("float", "tuple[float, float]", "int", "str", "list[str]", "dict[str,float]")


def load_manifest(path: str | Path) -> AnyManifest:
    """Load and validate a manifest file, including the findings file it names.

    Args:
        path: A ``.yaml``/``.yml`` or ``.json`` manifest in format version 1 or 2.

    Returns:
        The validated manifest, with findings from ``findings_file`` appended after the inline ones.

    Raises:
        ManifestError: The file is missing, malformed, or inconsistent; the message names the
            file, the finding and the field.
    """
    path = Path(path)
    return manifest_from_data(read_manifest_document(path), file=str(path), base_dir=path.parent)


def read_manifest_document(path: Path) -> Any:
    """The parsed YAML or JSON document of the manifest file ``path`` (not yet validated)."""
    where = str(path)
    text = read_user_text(path, "manifest")
    return parse_json(text, where) if path.suffix.lower() == ".json" else parse_yaml(text, where)


def manifest_from_data(
    data: Any, *, file: str | None = None, base_dir: str | Path | None = None
) -> AnyManifest:
    """Validate an already-parsed manifest document (a mapping) and resolve its findings file.

    Args:
        data: The parsed YAML/JSON mapping.
        file: Name used in error messages.
        base_dir: Folder that ``findings_file`` is relative to (default: the working directory).
    """
    manifest = validate_header(data, file=file)
    if manifest.findings_file is None:
        return manifest
    findings_path = Path(base_dir or ".") / manifest.findings_file
    finding_model = FindingV2 if isinstance(manifest, ManifestV2) else Finding
    extra = load_findings_file(findings_path, referenced_from=file, model=finding_model)
    findings = [*manifest.findings, *extra]
    try:
        check_references(manifest.factors, findings)
        if isinstance(manifest, ManifestV2):
            check_components(manifest.components, [f for f in findings if isinstance(f, FindingV2)])
    except ManifestError as exc:
        in_file = any(f.id == exc.finding for f in extra)
        raise _with_file(exc, str(findings_path) if in_file else file) from None
    return manifest.model_copy(update={"findings": findings})


def validate_header(data: Any, *, file: str | None = None) -> AnyManifest:
    """The manifest document validated with its inline findings, ``findings_file`` not read."""
    if not isinstance(data, dict):
        raise ManifestError(
            f"a manifest must be a mapping of fields, got {type(data).__name__}", file=file
        )
    version = data.get("version")
    if version is None:
        raise ManifestError("missing; write 'version: 1'", file=file, field="version")
    if type(version) is not int or version not in _READS:
        raise ManifestError(
            f"unsupported manifest version {version!r}; this neurath reads versions "
            f"{', '.join(map(str, _READS))}",
            file=file,
            field="version",
        )
    try:
        return _READS[version].model_validate(data)
    except ValidationError as exc:
        raise _manifest_error(exc, file=file, document=data) from None
    except ManifestError as exc:
        raise _with_file(exc, file) from None


def is_parquet(path: str | Path) -> bool:
    """Whether a findings file is read as Parquet (by its suffix) rather than JSON Lines."""
    return Path(path).suffix.lower() == ".parquet"


def load_findings_file(
    path: str | Path, *, referenced_from: str | None = None, model: type[Finding] = Finding
) -> list[Finding]:
    """Findings from a JSON Lines file, or from a Parquet file (``.parquet``; its schema is in
    :mod:`neurath.evidence._bulk_parquet`), validated one by one as ``model``."""
    if not is_parquet(path):
        return load_findings_jsonl(path, referenced_from=referenced_from, model=model)
    from neurath.evidence._bulk_parquet import parquet_rows

    where = str(path)
    with named_by(referenced_from):
        rows = parquet_rows(path, max_bytes=DEFAULT_MAX_BYTES, max_rows=MAX_LINES)
        return [finding_from_data(data, where, row, model) for row, data in rows]


def load_findings_jsonl(
    path: str | Path, *, referenced_from: str | None = None, model: type[Finding] = Finding
) -> list[Finding]:
    """Read findings from a JSON Lines file: one finding object per line, blank lines ignored
    (``model``: :class:`FindingV2` for a version 2 manifest's).

    The file is read as every user file is (:func:`neurath._files.iter_jsonl`): a regular file
    within the size and line limits, strict JSON (no duplicate keys, NaN or infinities).
    """
    where = str(path)
    with named_by(referenced_from):
        return [
            finding_from_data(data, where, lineno, model)
            for lineno, data in iter_jsonl(path, "findings")
        ]


@contextmanager
def named_by(referenced_from: str | None) -> Iterator[None]:
    """Add to a findings file's file-level errors (missing, too large...) the manifest that
    named it."""
    try:
        yield
    except ManifestError as exc:
        if exc.line is not None or exc.finding is not None or not referenced_from:
            raise
        hint = f" (named by findings_file in {referenced_from})"
        raise ManifestError(exc.reason + hint, file=exc.file) from None


def finding_from_data(data: Any, where: str, lineno: int, model: type[Finding]) -> Finding:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fid = data.get("id") if isinstance(data, dict) else None
        err = _manifest_error(exc, file=where, document={}, loc_prefix=("findings", 0))
        raise ManifestError(
            err.reason,
            file=where,
            line=lineno,
            finding=str(fid) if fid is not None else f"line {lineno}",
            field=err.field,
        ) from None


def _with_file(exc: ManifestError, file: str | None) -> ManifestError:
    return ManifestError(exc.reason, file=file, finding=exc.finding, field=exc.field, line=exc.line)


def _manifest_error(
    exc: ValidationError,
    *,
    file: str | None,
    document: Any,
    loc_prefix: tuple[str | int, ...] = (),
) -> ManifestError:
    """Turn pydantic's first error into one line naming the finding and the field."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = (*loc_prefix, *first["loc"])
    parts = [p for p in loc if not (isinstance(p, str) and p in _UNION_BRANCHES)]
    # A union (number or range) reports one error per branch; say what was wanted instead.
    union = any(isinstance(p, str) and p in _UNION_BRANCHES for p in loc)
    reason = "expected a number or a range [lo, hi]" if union else first["msg"]
    if first["type"] == "missing":
        reason = "required field is missing"
    elif first["type"] == "extra_forbidden":
        reason = "unknown field (check its spelling)"
    elif reason.startswith("Value error, "):
        reason = reason.removeprefix("Value error, ")
    finding: str | None = None
    if len(parts) >= 2 and parts[0] in ("findings", "factors") and isinstance(parts[1], int):
        section, idx = parts[0], parts[1]
        items = document.get(section) if isinstance(document, dict) else None
        raw = items[idx] if isinstance(items, list) and idx < len(items) else None
        rid = raw.get("id") if isinstance(raw, dict) else None
        name = str(rid) if rid is not None else f"#{idx + 1}"
        if section == "findings":
            finding, parts = name, parts[2:]
        else:
            parts = ["factors", name, *parts[2:]]
    field = ".".join(str(p) for p in parts) or None
    return ManifestError(reason, file=file, finding=finding, field=field)
