"""The exceptions neurath raises on purpose.

::

    NeurathError                 base: every error below is a user-facing, actionable message
    ├── ManifestError            a manifest or findings file is malformed or inconsistent
    ├── LedgerError              the evidence ledger cannot do what was asked
    ├── AssessmentError          the engine cannot assess the evidence as given
    ├── AuditError               an audit log is broken: tampered, truncated or unreadable
    ├── ExperimentError          an unknown experiment, a bad parameter, an unusable target
    ├── ResearchError            a research run cannot do what was asked
    │   └── BudgetExceeded       an action would overspend the run's budget
    ├── ReviewError              a human review cannot be taken as given
    └── SafetyCaseError          a safety case cannot be built from the runs given

Library code raises these; only the CLI turns them into a one-line message and exit code 2.
"""

from __future__ import annotations

from collections.abc import Iterable


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` to ``name``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class NeurathError(Exception):
    """Base class of every error neurath raises deliberately."""


class ManifestError(NeurathError):
    """A manifest (or the findings file it names) is malformed or inconsistent.

    Attributes:
        file: The file the problem is in (a manifest or a findings JSON Lines file).
        finding: Id (or, without one, position) of the finding at fault, if any.
        field: Dotted path of the field at fault, if any.
        reason: What is wrong, in words.
        line: 1-based line number in ``file``, where known.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        finding: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.finding = finding
        self.field = field
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        where: list[str] = []
        if self.file is not None:
            where.append(self.file if self.line is None else f"{self.file}:{self.line}")
        if self.finding is not None:
            where.append(f"finding {self.finding!r}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason


class LedgerError(NeurathError):
    """The evidence ledger cannot do what was asked (bad URL, bad correction, newer schema)."""


class AssessmentError(NeurathError):
    """The engine cannot assess the evidence as given (e.g. too many factors to factorise)."""


class AuditError(NeurathError):
    """An audit log's hash chain does not hold, or the log cannot be read or extended.

    Attributes:
        entry: 1-based number of the first entry at fault, where known.
        torn: Whether the fault is only a torn last line (an unfinished write).
    """

    def __init__(self, reason: str, *, entry: int | None = None, torn: bool = False) -> None:
        self.entry = entry
        self.torn = torn
        super().__init__(reason)


class ExperimentError(NeurathError):
    """An unknown experiment, a bad parameter, or a target that lacks what an experiment needs."""


class ResearchError(NeurathError):
    """A research run cannot do what was asked: an unknown target or tool, a bad study file,
    a run folder that cannot be resumed."""


class BudgetExceeded(ResearchError):
    """An action would spend more than is left of the run's budget (nothing was spent).

    Attributes:
        resource: ``queries``, ``training_steps`` or ``ratings``.
        needed: What the action is estimated to cost.
        left: What is left of the budget.
    """

    def __init__(self, resource: str, needed: int, left: int) -> None:
        self.resource, self.needed, self.left = resource, needed, left
        super().__init__(f"needs about {needed} {resource} but {left} are left of the budget")


class ReviewError(NeurathError):
    """A human review cannot be taken: an unknown item, a second review of the same item, a
    verdict or reason missing."""


class SafetyCaseError(NeurathError):
    """A safety case cannot be built from what was given: an unfinished run, a run folder from
    another version, a baseline on other targets."""
