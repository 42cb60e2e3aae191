"""The persisted evidence model: factors, findings and the manifest that bundles them.

Format version 1. Every model here is user input, so unknown keys are rejected
(``extra="forbid"``) and every numeric field is strict (no booleans or strings taken for
numbers) and checked for range and finiteness.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from neurath._errors import ManifestError, did_you_mean
from neurath._files import Real

MANIFEST_VERSION = 1
"""The manifest format version this release reads and writes."""

FactorKind = Literal["assumption", "method", "weights", "data", "raters", "controller", "other"]
"""What a shared factor is: the thing whose failure would move every finding that loads on it."""

FACTOR_KINDS: tuple[str, ...] = get_args(FactorKind)

FiniteFloat = Real
"""A finite number: an integer or a float, never a boolean, a string, NaN or an infinity."""
Uncertain = FiniteFloat | tuple[FiniteFloat, FiniteFloat]
"""A number, or a range ``[lo, hi]`` that the Monte Carlo interval draws from uniformly."""


def _check_uncertain(value: float | tuple[float, float], lo: float, hi: float, what: str) -> None:
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if not lo <= v <= hi:
            raise ValueError(f"{what} must lie in [{lo:g}, {hi:g}], got {v:g}")
    if isinstance(value, tuple) and value[0] > value[1]:
        raise ValueError(f"range must be [lo, hi] with lo <= hi, got [{value[0]:g}, {value[1]:g}]")


def point_value(value: float | tuple[float, float]) -> float:
    """The point estimate of an uncertain input: the value itself, or a range's midpoint."""
    if isinstance(value, tuple):
        return 0.5 * (value[0] + value[1])
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Factor(_Strict):
    """A shared source of error: an assumption, method, set of weights, dataset, rater pool...

    A factor with ``sd`` 1 can shift every finding that loads on it (with loading 1) by one
    full separation ``|expected.not_scheming - expected.scheming|`` of that finding.
    """

    id: str = Field(min_length=1)
    """Unique id, referred to by findings' ``factors``."""
    kind: FactorKind
    """Which kind of shared thing this is."""
    sd: Uncertain
    """Scale, in units of each dependent finding's separation; a range ``[lo, hi]`` is uncertain."""
    description: str = ""
    """Free text: what the factor is and why findings share it."""

    @field_validator("sd")
    @classmethod
    def _sd_range(cls, v: float | tuple[float, float]) -> float | tuple[float, float]:
        _check_uncertain(v, 0.0, 1e6, "sd")
        return v


class Expected(_Strict):
    """What a finding's statistic is expected to be under each hypothesis."""

    not_scheming: FiniteFloat
    """Expected value if the target is not scheming (hypothesis N)."""
    scheming: FiniteFloat
    """Expected value if the target is scheming (hypothesis S)."""

    @model_validator(mode="after")
    def _distinct(self) -> Expected:
        if self.not_scheming == self.scheming:
            raise ValueError(
                "not_scheming and scheming are equal, so the finding cannot tell the "
                "hypotheses apart; give distinct expected values"
            )
        return self

    @property
    def separation(self) -> float:
        """``not_scheming - scheming``: the signed separation (Delta) of the hypotheses."""
        return self.not_scheming - self.scheming


class Finding(_Strict):
    """One research result: a statistic with its sampling error and what it means."""

    id: str = Field(min_length=1)
    """Unique id within the manifest."""
    experiment: str = Field(min_length=1)
    """Name of the experiment that produced it (a registered name where one exists)."""
    claim: str = ""
    """The finding in words, as a safety-case author would state it."""
    value: FiniteFloat
    """The observed statistic."""
    se: FiniteFloat = Field(gt=0)
    """Sampling standard error of ``value``; must be positive."""
    extra_sd: FiniteFloat = Field(default=0.0, ge=0)
    """Further independent error (e.g. model misspecification), added in quadrature to ``se``."""
    expected: Expected
    """Expected value of the statistic under each hypothesis."""
    factors: dict[str, FiniteFloat] = Field(default_factory=dict)
    """Shared factors this finding depends on, id -> loading (a list of ids means loading 1)."""
    status: Literal["ok", "error"] = "ok"
    """``error`` if the experiment failed; its value is still assessed, never silently dropped."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Creation arguments of the experiment that produced it, so it can be replayed."""

    @field_validator("factors", mode="before")
    @classmethod
    def _list_means_loading_one(cls, v: Any) -> Any:
        if isinstance(v, list):
            if not all(isinstance(x, str) for x in v):
                raise ValueError("a list of factors must hold factor ids (strings)")
            duplicated = sorted({x for x in v if v.count(x) > 1}, key=str)
            if duplicated:
                raise ValueError(f"factor ids listed twice: {', '.join(map(str, duplicated))}")
            return {fid: 1.0 for fid in v}
        return v

    @model_validator(mode="after")
    def _representable(self) -> Finding:
        # Each of these enters the engine; past double precision's range it would turn into
        # inf, 0 or NaN there instead of failing here with a name attached.
        variance = self.se * self.se + self.extra_sd * self.extra_sd
        if not (math.isfinite(variance) and variance >= sys.float_info.min):
            raise ValueError(
                f"se**2 + extra_sd**2 = {variance:g} is outside double precision's range; "
                "rescale the statistic"
            )
        mid = 0.5 * self.expected.not_scheming + 0.5 * self.expected.scheming
        if not (math.isfinite(self.expected.separation) and math.isfinite(self.value - mid)):
            raise ValueError(
                "value and expected values are too large to compare in double precision; "
                "rescale the statistic"
            )
        return self

    @property
    def variance(self) -> float:
        """Independent error variance: ``se**2 + extra_sd**2``."""
        return self.se * self.se + self.extra_sd * self.extra_sd


class Manifest(_Strict):
    """A bundle of evidence about one target: the input to :func:`neurath.engine`."""

    version: Literal[1]
    """Format version; this release reads version 1."""
    target: str = Field(min_length=1)
    """The model the evidence is about."""
    prior_not_scheming: FiniteFloat = 0.5
    """P(not scheming) before any evidence, strictly between 0 and 1."""
    common_cause: Uncertain = 0.0
    """Probability c that a scheming target defeats every line of evidence at once."""
    factors: list[Factor] = Field(default_factory=list)
    """Shared factors that make findings' errors correlated."""
    findings: list[Finding] = Field(default_factory=list)
    """The findings written inline (those from ``findings_file`` are appended on loading)."""
    findings_file: str | None = Field(default=None, min_length=1)
    """A JSON Lines file of further findings, relative to the manifest's folder."""
    description: str = ""
    """Free text about the evidence base."""

    @field_validator("prior_not_scheming")
    @classmethod
    def _prior_open_interval(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError(f"must lie strictly between 0 and 1, got {v:g}")
        return v

    @field_validator("common_cause")
    @classmethod
    def _c_range(cls, v: float | tuple[float, float]) -> float | tuple[float, float]:
        _check_uncertain(v, 0.0, 1.0, "common_cause")
        return v

    @model_validator(mode="after")
    def _references(self) -> Manifest:
        check_references(self.factors, self.findings)
        return self

    def factor_index(self) -> dict[str, int]:
        """Factor id -> position in ``factors``."""
        return {f.id: j for j, f in enumerate(self.factors)}


def check_references(factors: list[Factor], findings: list[Finding]) -> None:
    """Raise :class:`ManifestError` on duplicate ids or a finding naming an unknown factor."""
    known: dict[str, Factor] = {}
    for f in factors:
        if f.id in known:
            raise ManifestError("factor id defined twice", field=f"factors.{f.id}")
        known[f.id] = f
    seen: set[str] = set()
    for finding in findings:
        if finding.id in seen:
            raise ManifestError("finding id used twice", finding=finding.id, field="id")
        seen.add(finding.id)
        for fid in finding.factors:
            if fid not in known:
                raise ManifestError(
                    f"unknown factor {fid!r}{_did_you_mean(fid, known)}",
                    finding=finding.id,
                    field=f"factors.{fid}",
                )


def _did_you_mean(name: str, choices: dict[str, Any]) -> str:
    hint = did_you_mean(name, choices)
    if hint:
        return hint
    if not choices:
        return "; the manifest defines no factors"
    return f"; known factors: {', '.join(sorted(choices)[:8])}"
