"""Reading manifests (YAML or JSON) and findings files (JSON Lines), with errors that say where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from neurath._errors import ManifestError
from neurath.evidence._model import MANIFEST_VERSION, Finding, Manifest, check_references

_UNION_BRANCHES = ("float", "tuple[float, float]", "int", "str", "list[str]", "dict[str,float]")


def load_manifest(path: str | Path) -> Manifest:
    """Load and validate a manifest file, including the findings file it names.

    Args:
        path: A ``.yaml``/``.yml`` or ``.json`` manifest in format version 1.

    Returns:
        The validated manifest, with findings from ``findings_file`` appended after the inline ones.

    Raises:
        ManifestError: The file is missing, malformed, or inconsistent; the message names the
            file, the finding and the field.
    """
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError("file not found", file=where) from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text (byte {exc.start})", file=where) from None
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read file: {_os_reason(exc)}", file=where) from None
    data = _parse_document(text, where, as_json=path.suffix.lower() == ".json")
    return manifest_from_data(data, file=where, base_dir=path.parent)


def manifest_from_data(
    data: Any, *, file: str | None = None, base_dir: str | Path | None = None
) -> Manifest:
    """Validate an already-parsed manifest document (a mapping) and resolve its findings file.

    Args:
        data: The parsed YAML/JSON mapping.
        file: Name used in error messages.
        base_dir: Folder that ``findings_file`` is relative to (default: the working directory).
    """
    if not isinstance(data, dict):
        raise ManifestError(
            f"a manifest must be a mapping of fields, got {type(data).__name__}", file=file
        )
    version = data.get("version")
    if version is None:
        raise ManifestError("missing; write 'version: 1'", file=file, field="version")
    if type(version) is not int or version != MANIFEST_VERSION:
        raise ManifestError(
            f"unsupported manifest version {version!r}; this neurath reads version "
            f"{MANIFEST_VERSION}",
            file=file,
            field="version",
        )
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise _manifest_error(exc, file=file, document=data) from None
    except ManifestError as exc:
        raise _with_file(exc, file) from None
    if manifest.findings_file is None:
        return manifest
    findings_path = Path(base_dir or ".") / manifest.findings_file
    extra = load_findings_jsonl(findings_path, referenced_from=file)
    findings = [*manifest.findings, *extra]
    try:
        check_references(manifest.factors, findings)
    except ManifestError as exc:
        in_file = any(f.id == exc.finding for f in extra)
        raise _with_file(exc, str(findings_path) if in_file else file) from None
    return manifest.model_copy(update={"findings": findings})


def load_findings_jsonl(path: str | Path, *, referenced_from: str | None = None) -> list[Finding]:
    """Read findings from a JSON Lines file: one finding object per line, blank lines ignored."""
    path = Path(path)
    where = str(path)
    hint = f" (named by findings_file in {referenced_from})" if referenced_from else ""
    try:
        handle = path.open(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"findings file not found{hint}", file=where) from None
    except (OSError, ValueError) as exc:
        raise ManifestError(
            f"cannot read findings file{hint}: {_os_reason(exc)}", file=where
        ) from None
    findings: list[Finding] = []
    lineno = 0
    try:
        with handle:
            for lineno, line in enumerate(handle, start=1):
                if line.strip():
                    findings.append(_finding_from_line(line, where, lineno))
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"not UTF-8 text (byte {exc.start})", file=where, line=lineno + 1
        ) from None
    except OSError as exc:
        raise ManifestError(
            f"cannot read findings file{hint}: {_os_reason(exc)}", file=where
        ) from None
    return findings


def _finding_from_line(line: str, where: str, lineno: int) -> Finding:
    try:
        return Finding.model_validate_json(line)
    except ValidationError as exc:
        raw = _loose_json(line)
        fid = raw.get("id") if isinstance(raw, dict) else None
        err = _manifest_error(exc, file=where, document={}, loc_prefix=("findings", 0))
        raise ManifestError(
            err.reason,
            file=where,
            line=lineno,
            finding=str(fid) if fid is not None else f"line {lineno}",
            field=err.field,
        ) from None


def _parse_document(text: str, where: str, *, as_json: bool) -> Any:
    if as_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"malformed JSON: {exc.msg}", file=where, line=exc.lineno) from None
        except RecursionError:
            raise ManifestError("malformed JSON: nested too deeply", file=where) from None
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise ManifestError("malformed YAML: nested too deeply", file=where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        raise ManifestError(f"malformed YAML: {problem}", file=where, line=line) from None


def _loose_json(line: str) -> Any:
    try:
        return json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)


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
