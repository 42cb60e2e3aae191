"""Reading user files: the one reader that every manifest, findings file, suite, study and
calibration goes through, and the strict number types of the models they are read into.

:func:`read_user_text` reads regular files only, up to a size limit, as UTF-8 text;
:func:`parse_json` and :func:`parse_yaml` refuse duplicate keys, non-finite numbers, huge
integers, deep nesting and (YAML) aliases. So no user file can hang the process (a FIFO,
``/dev/zero``), exhaust its memory (an endless file, "billion laughs"), or lose or coerce data
silently. Every refusal is a :class:`~neurath._errors.ManifestError` naming the file and, where
known, the line.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar

import yaml
from pydantic import AllowInfNan, BaseModel, Strict, ValidationError

from neurath._errors import ManifestError

M = TypeVar("M", bound=BaseModel)

MiB = 1 << 20
DEFAULT_MAX_BYTES = 64 * MiB
"""Largest user file read (manifests, findings, suites, studies, calibrations)."""
MAX_DEPTH = 64
"""Deepest nesting of lists and mappings accepted in a JSON or YAML document."""
MAX_INT_DIGITS = 64
"""Longest integer literal accepted (a seed needs 20 digits)."""
MAX_LINE_CHARS = 1 * MiB
"""Longest line of a JSON Lines file."""
MAX_LINES = 1_000_000
"""Most lines in a JSON Lines file."""

Real = Annotated[float, Strict(), AllowInfNan(False)]
"""A finite number in a user file: integers are accepted; booleans, strings, NaN and
infinities are refused (``se: true`` or ``value: "0.3"`` is an error, not 1.0 or 0.3)."""
Integer = Annotated[int, Strict()]
"""An integer in a user file: booleans, strings and floats are refused."""

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def size_text(n: int) -> str:
    """``64 MiB`` or ``100 bytes``: a size limit as error messages state it."""
    return f"{n // MiB} MiB" if n >= MiB and n % MiB == 0 else f"{n} bytes"


def _os_reason(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else str(exc)


def _not_regular(mode: int, what: str, where: str) -> ManifestError:
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return ManifestError(f"{what} file is not a regular file ({kind})", file=where)


def check_user_file(path: str | Path, what: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> int:
    """Check that ``path`` is a regular file of at most ``max_bytes``; return its size.

    For files a library opens itself (Inspect logs); :func:`read_user_text` checks again on
    the open file.
    """
    where = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ManifestError(f"{what} file not found", file=where) from None
    except (OSError, ValueError) as exc:
        reason = _os_reason(exc) if isinstance(exc, OSError) else str(exc)
        raise ManifestError(f"cannot read {what} file: {reason}", file=where) from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(st.st_mode, what, where)
    if st.st_size > max_bytes:
        raise ManifestError(f"{what} file is larger than {size_text(max_bytes)}", file=where)
    return st.st_size


def open_user_file(path: str | Path, what: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> BinaryIO:
    """The user file ``path`` opened for binary reading, checked as :func:`read_user_text` checks
    it (for readers that stream a large file instead of reading it whole); the caller closes it.
    """
    where = str(path)
    check_user_file(path, what, max_bytes=max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ManifestError(f"{what} file not found", file=where) from None
    except OSError as exc:
        raise ManifestError(f"cannot read {what} file: {_os_reason(exc)}", file=where) from None
    handle = os.fdopen(fd, "rb")
    try:
        mode = os.fstat(handle.fileno()).st_mode
    except OSError as exc:
        handle.close()
        raise ManifestError(f"cannot read {what} file: {_os_reason(exc)}", file=where) from None
    if not stat.S_ISREG(mode):
        handle.close()
        raise _not_regular(mode, what, where)
    return handle


def read_user_text(path: str | Path, what: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The text of the user file ``path``: a regular file of at most ``max_bytes``, in UTF-8.

    ``what`` names the file in errors ("manifest", "findings", "suite"). The file is opened
    non-blocking and checked again once open, so a FIFO swapped in after the check cannot block,
    and at most ``max_bytes + 1`` bytes are read, so a file that grows cannot exhaust memory.

    Raises:
        ManifestError: Not found, unreadable, not a regular file, too large, or not UTF-8.
    """
    where = str(path)
    try:
        with open_user_file(path, what, max_bytes=max_bytes) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ManifestError(f"cannot read {what} file: {_os_reason(exc)}", file=where) from None
    if len(data) > max_bytes:
        raise ManifestError(f"{what} file is larger than {size_text(max_bytes)}", file=where)
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[bom : bom + exc.start].count(b"\n") + 1
        raise ManifestError(
            f"not UTF-8 text (byte {exc.start + bom})", file=where, line=line
        ) from None


class _Refused(Exception):
    """A value the JSON parser's hooks refuse; ``token`` finds its line."""

    def __init__(self, reason: str, token: str | None = None, key: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.token, self.key = reason, token, key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"duplicate key {_shown(repr(key))} (each key may appear once)", key=key)
        out[key] = value
    return out


def _shown(token: str) -> str:
    return token if len(token) <= 24 else f"{token[:20]}...({len(token)} characters)"


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a finite number", token=name)


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"integer of {digits} digits (at most {MAX_INT_DIGITS})", token=text)
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"{_shown(text)} is not a finite number", token=text)
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_constant, parse_int=_int, parse_float=_float
)
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


def _json_line(text: str, refused: _Refused | None) -> int | None:
    """Line of the first duplicate key, refused token or (``None``) too-deep nesting."""
    stack: list[set[str] | None] = []
    expect_key = False
    for match in _JSON_TOKEN.finditer(text):
        tok, bad = match.group(), False
        if tok in ("{", "["):
            stack.append(set() if tok == "{" else None)
            expect_key = tok == "{"
            bad = refused is None and len(stack) > MAX_DEPTH
        elif tok in ("}", "]", ":", ","):
            if tok in ("}", "]") and stack:
                stack.pop()
            expect_key = tok == "," and bool(stack) and stack[-1] is not None
        elif expect_key and tok.startswith('"') and stack and stack[-1] is not None:
            key = json.loads(tok)
            bad = refused is not None and refused.key == key and key in stack[-1]
            stack[-1].add(key)
            expect_key = False
        else:
            bad = refused is not None and refused.token == tok
        if bad:
            return text.count("\n", 0, match.start()) + 1
    return None


def _too_deep(data: Any) -> bool:
    todo = [(data, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_DEPTH:
                    return True
                todo.append((child, depth + 1))
    return False


def parse_json(text: str, where: str, *, first_line: int = 1) -> Any:
    """Parse JSON, refusing duplicate keys, NaN and infinities, integers of more than
    :data:`MAX_INT_DIGITS` digits and nesting deeper than :data:`MAX_DEPTH`.

    ``first_line`` is the line of ``text`` in ``where`` (for one line of a JSON Lines file).
    """
    offset = first_line - 1
    try:
        data = _DECODER.decode(text)
        too_deep = isinstance(data, dict | list) and _too_deep(data)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"malformed JSON: {exc.msg}", file=where, line=exc.lineno + offset
        ) from None
    except _Refused as exc:
        line = _json_line(text, exc)
        raise ManifestError(
            exc.reason, file=where, line=None if line is None else line + offset
        ) from None
    except RecursionError:  # too deep for the parser: certainly deeper than MAX_DEPTH
        too_deep = True
    except ValueError as exc:  # not expected after the hooks; a one-line error all the same
        raise ManifestError(f"malformed JSON: {exc}", file=where) from None
    if too_deep:
        line = _json_line(text, None)
        raise ManifestError(
            f"nested more than {MAX_DEPTH} levels deep",
            file=where,
            line=None if line is None else line + offset,
        )
    return data


class _Loader(yaml.SafeLoader):
    """A safe loader refusing aliases, duplicate keys, deep nesting, huge integers and
    non-finite floats, and reading ``1e-3`` as a number (YAML 1.2) rather than a string."""

    def __init__(self, text: str, where: str) -> None:
        super().__init__(text)
        self._where = where
        self._depth = 0

    def _refuse(self, reason: str, mark: Any) -> ManifestError:
        return ManifestError(reason, file=self._where, line=mark.line + 1 if mark else None)

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            raise self._refuse("YAML aliases (*name) are not supported; write the value out", mark)
        nests = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        self._depth += nests
        try:
            if self._depth > MAX_DEPTH:
                raise self._refuse(f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= nests

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # unhashable: the base constructor says so
                    continue
                if duplicate:
                    raise self._refuse(
                        f"duplicate key {_shown(repr(key))} (each key may appear once)",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        digits = str(node.value).replace("_", "").lstrip("+-")
        if len(digits) > MAX_INT_DIGITS:
            raise self._refuse(
                f"integer of {len(digits)} digits (at most {MAX_INT_DIGITS})", node.start_mark
            )
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: Any) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise self._refuse(f"{_shown(node.value)} is not a finite number", node.start_mark)
        return value


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str, where: str) -> Any:
    """Parse one YAML document safely, refusing aliases, duplicate keys, nesting deeper than
    :data:`MAX_DEPTH`, integers of more than :data:`MAX_INT_DIGITS` digits, ``.nan``/``.inf``."""
    loader = _Loader(text, where)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise ManifestError("malformed YAML: nested too deeply", file=where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        raise ManifestError(f"malformed YAML: {problem}", file=where, line=line) from None
    finally:
        loader.dispose()


def iter_jsonl(
    path: str | Path,
    what: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_line_chars: int = MAX_LINE_CHARS,
    max_lines: int = MAX_LINES,
) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for each non-blank line of the JSON Lines file ``path``, read
    with :func:`read_user_text` and parsed with :func:`parse_json`; a line longer than
    ``max_line_chars`` or a file of more than ``max_lines`` lines is refused."""
    where = str(path)
    text = read_user_text(path, what, max_bytes=max_bytes)
    for lineno, line in enumerate(io.StringIO(text, newline=None), start=1):
        if lineno > max_lines:
            raise ManifestError(f"{what} file has more than {max_lines} lines", file=where)
        if len(line) > max_line_chars:
            raise ManifestError(
                f"line longer than {max_line_chars} characters", file=where, line=lineno
            )
        if line.strip():
            yield lineno, parse_json(line, where, first_line=lineno)


def validate_model(data: Any, model: type[M], where: str) -> M:
    """``model`` validated from parsed data; the first error names the file and the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise ManifestError(err["msg"], file=where, field=field) from None


def load_yaml_model(
    path: str | Path, model: type[M], what: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> M:
    """Read the YAML file ``path`` as ``model``; ``what`` names it in errors ("suite")."""
    where = str(path)
    return validate_model(
        parse_yaml(read_user_text(path, what, max_bytes=max_bytes), where), model, where
    )


def load_json_model(
    path: str | Path, model: type[M], what: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> M:
    """Read the JSON file ``path`` as ``model``; ``what`` names it in errors ("calibration")."""
    where = str(path)
    return validate_model(
        parse_json(read_user_text(path, what, max_bytes=max_bytes), where), model, where
    )
