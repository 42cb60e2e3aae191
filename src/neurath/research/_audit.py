"""The audit log: every action and result of a research run, in a hash chain.

One JSON object per line. Each entry holds the SHA-256 of the entry before it (``prev``) and
its own hash over its canonical JSON (sorted keys, no whitespace) without the ``hash`` field.
Editing any byte of an entry breaks its own hash; recomputing that hash to hide the edit
breaks the next entry's ``prev``; deleting or reordering entries breaks ``prev`` or ``seq``.
What a chain alone cannot show is a cut-off tail, so the head hash (the last entry's) is
also written wherever the run's results are (``AuditLog.head``) and ``verify`` can check it.

What an entry may say is typed: :mod:`neurath.research._events` declares one model per action,
and :meth:`AuditLog.append` takes such an event.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from pydantic_core import PydanticSerializationError

from neurath._errors import AuditError
from neurath.research._events import AuditEvent, parse_event

MAX_ENTRY = 16 * 2**20
"""The longest line a log may hold (a result entry is a few kilobytes)."""
GENESIS = "0" * 64
"""The ``prev`` of the first entry."""
AUDIT_VERSION = 1


def _digest(body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AuditEntry(NamedTuple):
    seq: int
    """1-based position in the log."""
    time: str
    actor: str
    """Who acted: the controller's name, or ``environment`` for results it returns."""
    action: str
    data: dict[str, Any]
    prev: str
    hash: str

    @property
    def event(self) -> AuditEvent:
        """The entry as its typed event."""
        return parse_event(self.action, self.data)


class AuditReport(NamedTuple):
    """The outcome of :func:`verify_audit`."""

    entries: int
    head: str
    """Hash of the last entry (``GENESIS`` for an empty log)."""


def verify_audit(path: str | Path, *, head: str | None = None) -> AuditReport:
    """Check the whole chain of an audit log (and, if given, that it ends at ``head``).

    Raises:
        AuditError: Naming the first entry that does not hold, and why (``torn`` set when only
            the last line is an unfinished write).
    """
    file = Path(path)
    _check_regular(file)
    prev, count = GENESIS, 0
    seen: dict[str, int] = {GENESIS: 0}
    with file.open("rb") as fh:
        for number, raw in enumerate(iter(lambda: fh.readline(MAX_ENTRY + 1), b""), start=1):
            if len(raw) > MAX_ENTRY:
                raise AuditError(
                    f"{file}: entry {number} is longer than {MAX_ENTRY >> 20} MiB: not an entry "
                    "this log writes",
                    entry=number,
                )
            if not raw.endswith(b"\n"):
                _check_torn(file, number, raw, prev)
            entry = _parse(file, number, raw)
            _check_entry(file, number, entry, prev)
            prev, count = str(entry["hash"]), number
            seen[prev] = number
    if head is not None and head != prev:
        if head in seen:
            raise AuditError(
                f"{file}: the run's results record the log's head at entry {seen[head]}, but the "
                f"log goes on to entry {count}: entries were added after the results were "
                "written",
                entry=seen[head] + 1,
            )
        raise AuditError(
            f"{file}: the log ends at entry {count} with hash {prev[:12]}, but the run recorded "
            f"head {head[:12]}: entries were cut off the end (or the log replaced)",
            entry=count + 1,
        )
    return AuditReport(count, prev)


def _check_entry(file: Path, number: int, entry: dict[str, Any], prev: str) -> None:
    body = {k: v for k, v in entry.items() if k != "hash"}
    if entry.get("seq") != number:
        raise AuditError(
            f"{file}: entry {number} has sequence number {entry.get('seq')!r}: entries "
            "were removed, added or reordered",
            entry=number,
        )
    if entry.get("prev") != prev:
        raise AuditError(
            f"{file}: entry {number} does not follow entry {number - 1} (its 'prev' is "
            "not that entry's hash): an earlier entry was changed or removed",
            entry=number,
        )
    try:
        digest = _digest(body)
    except (TypeError, ValueError):  # e.g. a lone surrogate, which no entry written holds
        digest = None
    if digest != entry.get("hash"):
        raise AuditError(
            f"{file}: entry {number} ({entry.get('action', '?')}) was altered: its "
            "content does not match its hash",
            entry=number,
        )


def _check_torn(file: Path, number: int, raw: bytes, prev: str) -> None:
    """The last line has no newline: a write cut short (a kill, a full disk) unless it is a
    whole entry that holds."""
    try:
        entry = json.loads(raw.decode("utf-8"))
        if isinstance(entry, dict):
            _check_entry(file, number, entry, prev)
            return
    except (UnicodeDecodeError, ValueError, AuditError):
        pass
    raise AuditError(
        f"{file}: entry {number} is torn (the last write was cut short, {len(raw)} bytes); "
        "the entries before it hold: 'neurath run --resume' repairs it",
        entry=number,
        torn=True,
    )


def first_entry(path: str | Path) -> AuditEntry | None:
    """The log's first entry, checked (None for an empty log): what the run started as."""
    file = Path(path)
    _check_regular(file)
    with file.open("rb") as fh:
        raw = fh.readline(1 << 24)
    if not raw.strip():
        return None
    entry = _parse(file, 1, raw)
    _check_entry(file, 1, entry, GENESIS)
    return _entry(entry)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: a repeated key would let a line say one
    thing to a reader and hash as another."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key is repeated")
    return out


def _check_regular(file: Path) -> None:
    """An audit log is a regular file: a pipe or a device would block or never end."""
    import stat

    try:
        mode = file.stat().st_mode
    except FileNotFoundError:
        raise AuditError(f"{file}: no audit log there") from None
    except OSError as exc:
        raise AuditError(f"{file}: cannot read the audit log: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise AuditError(f"{file}: not a regular file, so not an audit log")


def _entry(e: dict[str, Any]) -> AuditEntry:
    return AuditEntry(e["seq"], e["time"], e["actor"], e["action"], e["data"], e["prev"], e["hash"])


def _parse(file: Path, number: int, raw: bytes) -> dict[str, Any]:
    try:
        entry = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AuditError(
            f"{file}: entry {number} is not valid JSON (or repeats a key): the line was altered",
            entry=number,
        ) from None
    if not isinstance(entry, dict) or "hash" not in entry:
        raise AuditError(f"{file}: entry {number} is not an audit entry", entry=number)
    return entry


class TornTail(NamedTuple):
    """What :class:`AuditLog` cut off a log whose last write was torn."""

    entry: int
    """The number the torn entry would have had."""
    size: int
    """Bytes removed."""
    sha256: str
    """Their hash (so the repair can be audited)."""


def _repair_torn_tail(file: Path, error: AuditError) -> TornTail:
    """Cut a torn last line off ``file`` once the chain before it verifies."""
    size = file.stat().st_size
    with file.open("rb") as fh:  # the torn line is the last, under MAX_ENTRY (verified)
        fh.seek(max(0, size - MAX_ENTRY - 1))
        tail = fh.read()
    cut = size - len(tail) + tail.rfind(b"\n") + 1
    torn = tail[tail.rfind(b"\n") + 1 :]
    with file.open("r+b") as fh:
        fh.truncate(cut)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        verify_audit(file)
    except AuditError:  # pragma: no cover - the chain was verified up to the torn line
        with file.open("ab") as fh:
            fh.write(torn)
        raise error from None
    return TornTail(error.entry or 0, len(torn), hashlib.sha256(torn).hexdigest())


class AuditLog:
    """An append-only, hash-chained log in one file; reopening continues the chain.

    Args:
        path: The log file (created if missing). An existing log is verified first, so a run
            never extends a broken chain.
        repair: Cut off a torn last line (a write the process was killed in) when every entry
            before it verifies; what was cut is in :attr:`repaired`. Only the one writer of a
            run (holding its folder's lock) may repair.
    """

    def __init__(self, path: str | Path, *, repair: bool = False) -> None:
        self.path = Path(path)
        self.repaired: TornTail | None = None
        if self.path.exists():
            try:
                report = verify_audit(self.path)
            except AuditError as exc:
                if not (repair and exc.torn):
                    raise
                self.repaired = _repair_torn_tail(self.path, exc)
                report = verify_audit(self.path)
            self._seq, self._head = report.entries, report.head
            if report.entries and not self.path.read_bytes().endswith(b"\n"):
                with self.path.open("ab") as fh:  # a whole last entry whose newline was lost
                    fh.write(b"\n")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
            self._seq, self._head = 0, GENESIS

    @property
    def head(self) -> str:
        """Hash of the last entry: record it with the run's results to detect a cut tail."""
        return self._head

    def __len__(self) -> int:
        return self._seq

    def append(self, event: AuditEvent, *, actor: str) -> AuditEntry:
        """Add one event as an entry, and flush it to disk before returning."""
        action = event.action
        try:
            data = event.model_dump(mode="json", exclude={"action"})
        except PydanticSerializationError as exc:
            raise AuditError(f"audit entry {action!r} holds data that is not JSON: {exc}") from None
        body = {
            "version": AUDIT_VERSION,
            "seq": self._seq + 1,
            "time": datetime.now(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "data": data,
            "prev": self._head,
        }
        try:
            digest = _digest(body)
        except (TypeError, ValueError) as exc:
            raise AuditError(f"audit entry {action!r} holds data that is not JSON: {exc}") from None
        line = json.dumps({**body, "hash": digest}, sort_keys=True, separators=(",", ":"))
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self._seq, self._head = self._seq + 1, digest
        return AuditEntry(
            self._seq, str(body["time"]), actor, action, data, str(body["prev"]), digest
        )

    def entries(self) -> list[AuditEntry]:
        """Every entry, oldest first (the chain is verified on the way)."""
        verify_audit(self.path)
        return [_entry(json.loads(raw)) for raw in self.path.read_text("utf-8").splitlines()]
