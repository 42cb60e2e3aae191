"""A JSON Lines file read in blocks of lines, for files too large to hold as one string.

:class:`LineBlocks` refuses exactly what :func:`neurath._files.iter_jsonl` refuses, with the
same messages, and in the same order: the file-level faults (not a regular file, too large, not
UTF-8 anywhere in it) before any line's; then, line by line, more than ``max_lines`` lines and a
line longer than ``max_line_chars`` characters. Lines are split as universal newlines split them
(``\\n``, ``\\r\\n`` or ``\\r``), after a leading byte order mark is dropped. Memory stays within
a few blocks whatever the file's size.

A reader that finds a fault in a line it was given calls :meth:`LineBlocks.check_rest` before
raising it, so that a file-level fault further on still wins, as it does when the file is read
whole.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from neurath._errors import ManifestError
from neurath._files import open_user_file, size_text

_BOM = b"\xef\xbb\xbf"
_BLOCK_BYTES = 1 << 20


class LineBlock(NamedTuple):
    """Consecutive lines of the file, newline translated and removed."""

    first_line: int
    """1-based line number of ``lines[0]``."""
    lines: list[bytes]
    """Each line's UTF-8 bytes (checked valid), without its line break."""
    last_broken: bool
    """Whether the last of ``lines`` ended in a line break (only the file's last line may not)."""


class _Utf8:
    """UTF-8 validation of a byte stream fed piece by piece, naming the first bad byte."""

    def __init__(self, where: str) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._where = where
        self.offset = 0
        """Bytes fed so far, counted from the start of the file (byte order mark included)."""
        self.newlines = 0
        """``\\n`` bytes fed so far."""

    def feed(self, piece: bytes, *, final: bool = False) -> None:
        pending = len(self._decoder.getstate()[0])
        try:
            if pending or final or not piece.isascii():
                self._decoder.decode(piece, final=final)
        except UnicodeDecodeError as exc:
            start = exc.start - pending  # relative to piece (the decoder prepends what it held)
            line = self.newlines + piece[: max(start, 0)].count(b"\n") + 1
            raise ManifestError(
                f"not UTF-8 text (byte {self.offset + start})", file=self._where, line=line
            ) from None
        self.offset += len(piece)
        self.newlines += piece.count(b"\n")


class LineBlocks:
    """Iterate over a JSON Lines file in :class:`LineBlock` pieces (see the module).

    Use as a context manager; ``what`` names the file in errors ("findings").
    """

    def __init__(
        self,
        path: str | Path,
        what: str,
        *,
        max_bytes: int,
        max_line_chars: int,
        max_lines: int,
        block_bytes: int = _BLOCK_BYTES,
    ) -> None:
        self._where = str(path)
        self._what = what
        self._max_bytes, self._max_chars, self._max_lines = max_bytes, max_line_chars, max_lines
        self._block = block_bytes
        self._handle = open_user_file(path, what, max_bytes=max_bytes)
        self._utf8 = _Utf8(self._where)
        self._held = b""  # the start of a line whose break has not been read yet
        self._eof = False
        self._line = 0  # lines handed out so far

    def __enter__(self) -> LineBlocks:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._handle.close()

    def __iter__(self) -> Iterator[LineBlock]:
        while True:
            piece = self._next_piece()
            if piece is None:
                return
            whole, last_broken = _split(piece)
            lines = whole
            limit = self._max_lines - self._line
            too_many = len(lines) > limit
            lines = lines[: max(limit, 0)]
            long_at = self._first_long_line(lines, last_broken or too_many)
            if long_at is not None:
                lines = lines[:long_at]
            if lines:
                yield LineBlock(self._line + 1, lines, last_broken or len(lines) < len(whole))
                self._line += len(lines)
            if long_at is not None:
                self._refuse(f"line longer than {self._max_chars} characters", self._line + 1)
            if too_many:
                self._refuse(f"{self._what} file has more than {self._max_lines} lines", None)

    def check_rest(self) -> None:
        """Read the rest of the file for the faults that outrank any line's (too large, not
        UTF-8), raising the first; call before raising a fault found in a line."""
        while not self._eof:
            self._read()
            self._held = b""

    def _refuse(self, reason: str, line: int | None) -> None:
        self.check_rest()
        raise ManifestError(reason, file=self._where, line=line)

    def _read(self) -> None:
        """Read one block onto ``_held``, validating it; at the end, set ``_eof``."""
        at_start = self._utf8.offset == 0 and not self._held
        try:
            # At the start, enough for a whole byte order mark whatever the block size.
            data = self._handle.read(max(self._block, len(_BOM)) if at_start else self._block)
        except OSError as exc:
            reason = exc.strerror.lower() if exc.strerror else str(exc)
            raise ManifestError(
                f"cannot read {self._what} file: {reason}", file=self._where
            ) from None
        self._eof = not data
        if at_start and data.startswith(_BOM):
            self._utf8.offset = len(_BOM)
            data = data[len(_BOM) :]
        if self._utf8.offset + len(data) > self._max_bytes:
            raise ManifestError(
                f"{self._what} file is larger than {size_text(self._max_bytes)}", file=self._where
            )
        self._utf8.feed(data, final=self._eof)
        self._held += data

    def _next_piece(self) -> bytes | None:
        """The next run of whole lines (ending with a line break, or at the end of the file)."""
        while True:
            if self._eof:
                piece, self._held = self._held, b""
                return piece or None
            self._read()
            held = self._held
            # A final \r may be the first half of \r\n: cut before it until the next read.
            search_end = len(held) - 1 if held.endswith(b"\r") and not self._eof else len(held)
            cut = max(held.rfind(b"\n", 0, search_end), held.rfind(b"\r", 0, search_end))
            if cut >= 0 and not self._eof:
                piece, self._held = held[: cut + 1], held[cut + 1 :]
                return piece
            if len(held) > 4 * (self._max_chars + 1) and not self._eof:
                # No line break within 4 bytes per allowed character: the line is too long.
                # Lines past the limit are refused for their number first, as they would be.
                line = self._line + 1
                if line > self._max_lines:
                    self._refuse(f"{self._what} file has more than {self._max_lines} lines", None)
                self._refuse(f"line longer than {self._max_chars} characters", line)

    def _first_long_line(self, lines: list[bytes], last_broken: bool) -> int | None:
        """Index of the first line longer than allowed, counting characters and its line break
        (the last line has none unless ``last_broken``)."""
        limit = self._max_chars - 1  # bytes >= characters, so most lines pass on length alone
        if max(map(len, lines), default=0) <= limit:
            return None
        for i, line in enumerate(lines):
            if len(line) > limit:
                broken = i < len(lines) - 1 or last_broken
                if len(line.decode("utf-8")) + broken > self._max_chars:
                    return i
        return None


def _split(piece: bytes) -> tuple[list[bytes], bool]:
    """Lines of ``piece`` by universal newlines, and whether the last one ended in a break."""
    if b"\r" in piece:
        piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = piece.split(b"\n")
    broken = piece.endswith(b"\n")
    if broken:
        lines.pop()
    return lines, broken
