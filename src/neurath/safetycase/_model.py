"""The safety case document: claims, arguments, evidence and defeaters, each with provenance.

A case is computed from finished runs (:func:`neurath.safetycase.build_case`), never written by
hand: every status comes from a measurement, and every measurement names where it was read
(:class:`Source`), so that :func:`neurath.safetycase.resolve` can read it again and a reader
can check it. Versioned (``version``); the goal structure follows GSN: a claim (goal) is
supported by an argument (strategy) over sub-claims, or directly by evidence (solutions), in the
context of the scheme's description, with defeaters (worries) that undermine or leave it open.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from neurath._version import __version__

CASE_VERSION: Literal[1] = 1

Status = Literal["supported", "undermined", "open"]
"""supported: the measurements say so; undermined: they say otherwise; open: none can say."""
Tag = Literal["verification", "validation"]
"""Seed 002: verification, did we build the pipeline right (it measures what it says);
validation, did we build the right thing (organisms and experiments stand for the threats
that matter)."""
DefeaterStatus = Literal["addressed", "partly", "open"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Where a figure was read: one of a run's files at a JSON pointer, a ledger record, or an
    audit entry (its sequence number and hash)."""

    kind: Literal["metric", "ledger", "audit", "file"]
    run: str
    """The run's folder (as given to the builder)."""
    file: str
    """The file in the run folder (``results.json``, ``calibration.json``, ``ledger.db``,
    ``audit.jsonl``, ``study.json``)."""
    pointer: str = ""
    """RFC 6901 JSON pointer into the file (metric/file), or into the record's or entry's
    JSON (ledger/audit)."""
    record: int | None = None
    """Ledger: the table's record id (``table`` names the table)."""
    table: str | None = None
    seq: int | None = None
    """Audit: the entry's sequence number."""
    entry_hash: str | None = None


class Evidence(_Strict):
    """One measurement the case rests on (a GSN solution)."""

    id: str
    """``Sn1``, ``Sn2``, ..."""
    text: str
    value: float | int | str | bool | None
    sources: list[Source] = Field(min_length=1)
    """Where ``value`` (or, for a derived figure, each input) was read."""
    derived: str = ""
    """How ``value`` follows from what the sources hold, if it is not one of them."""


class Claim(_Strict):
    """A claim (GSN goal), its status and why."""

    id: str
    """``G1`` is the top claim."""
    text: str
    status: Status
    tag: Tag
    why: str
    """The measurement behind the status, in words with the figures."""
    argument: str = ""
    """How the sub-claims or evidence support it (GSN strategy), where there is one."""
    subclaims: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    mechanism: str | None = None
    """The mechanism a per-mechanism claim is about."""


class SensitivityRow(_Strict):
    """The assessment recomputed as if a defeater held."""

    defeater: str
    change: str
    """What was done to the evidence (which findings dropped or factors inflated)."""
    targets: int
    findings_changed: int
    reassured_before: int
    reassured_after: int
    false_reassurances_before: int
    false_reassurances_after: int
    max_schemer_before: float | None
    max_schemer_after: float | None
    """The highest P(not scheming) of a scheming target (None: no scheming target)."""
    mean_abs_change: float


class Defeater(_Strict):
    """A worry from the seeds, what addresses it and, where computable, its effect."""

    id: str
    """``D1``, ``D2``, ..."""
    worry: str
    seed: str
    """``000`` or ``001``."""
    status: DefeaterStatus
    why: str
    evidence: list[str] = Field(default_factory=list)
    against: list[str] = Field(default_factory=list)
    """Claims it bears on."""
    obligation: str = ""
    """What a human-written argument must establish, where no measurement can."""


class Comparison(_Strict):
    """Is less automation possible: the run against a baseline run with less automation."""

    baseline_run: str
    baseline_level: int
    shared_targets: int
    """Targets (matched by organism) both runs assessed."""
    log_loss: float
    baseline_log_loss: float
    difference: float
    """Baseline minus this run's mean log loss (> 0: this run is better)."""
    interval: tuple[float, float]
    """95% paired bootstrap interval of ``difference``."""
    p_value: float
    """One-sided sign-flip (paired permutation) test of ``difference`` > 0: exact up to 16
    shared targets."""
    better_beyond_noise: bool
    """At least :data:`MIN_SHARED` shared targets, ``p_value`` < 0.05 and the interval above 0."""
    less_automation_possible: bool
    sources: list[Source]


class Automation(_Strict):
    level: Literal[1, 2, 3]
    why: str
    collapse: str = ""
    """The collapse argument where it applies (level 2 into level 1)."""
    inherited: list[str] = Field(default_factory=list)
    """Claims (ids) a level-2 scheme inherits from level 1: they must hold as for a fixed
    human-written battery."""
    comparison: Comparison | None = None


class SafetyCase(_Strict):
    """``neurath safetycase``'s document (see the module docstring)."""

    version: Literal[1] = CASE_VERSION
    title: str
    runs: list[str]
    """The run folders it was built from, the first the one assessed."""
    audit_heads: dict[str, str]
    """run -> its audit log's head hash, as verified when the case was built."""
    created_at: str
    neurath_version: str = __version__
    claims: list[Claim]
    evidence: list[Evidence]
    defeaters: list[Defeater]
    sensitivity: list[SensitivityRow]
    automation: Automation
    obligations: list[str]
    """Open obligations: what needs a human-written argument."""
    context: list[str] = Field(default_factory=list)
    """The scheme described (GSN context): controller, study, suite, budget."""

    def claim(self, claim_id: str) -> Claim:
        for c in self.claims:
            if c.id == claim_id:
                return c
        raise KeyError(claim_id)

    def evidence_item(self, evidence_id: str) -> Evidence:
        for e in self.evidence:
            if e.id == evidence_id:
                return e
        raise KeyError(evidence_id)
