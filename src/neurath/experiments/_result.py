"""What an experiment returns: its statistics, the factors they rest on, and its provenance.

A result is raw measurement. It becomes a :class:`~neurath.evidence.Finding` only with
expected values under each hypothesis: declared by the experiment, or fitted on calibration
organisms (:mod:`neurath.experiments._calibrate`).
"""

from __future__ import annotations

import math
import traceback
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from neurath.evidence._model import FactorKind
from neurath.models._target import ModelCard

RESULT_VERSION = 1


class Statistic(BaseModel):
    """One measured number with its sampling error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    se: float = Field(ge=0)
    """Sampling standard error (binomial rates use the Agresti-Coull interval's width)."""
    n: int = Field(ge=0)
    """How many samples it is computed from."""
    description: str = ""


class FactorUse(BaseModel):
    """A shared factor the experiment's finding rests on, with a scale to use by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: FactorKind
    sd: float = Field(ge=0)
    """Scale used until calibration or sandwiching estimates it."""
    loading: float = 1.0
    per: Literal["separation", "statistic"] = "separation"
    """The unit of ``sd``: a share of each finding's separation (the engine's unit), or the
    statistic's own unit (a rater pool's error rate shifts every rate by that much, whatever
    the rate's separation); the latter is turned into a loading of ``1 / |separation|``."""
    description: str = ""


class ExperimentResult(BaseModel):
    """One experiment run on one target (versioned, persisted in findings' params)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    experiment: str
    target: ModelCard
    params: dict[str, Any] = Field(default_factory=dict)
    """Creation arguments (defaults included), so the run can be replayed."""
    seed: int = 0
    statistic: str
    """The primary statistic: the one that becomes a finding."""
    statistics: dict[str, Statistic] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    """What a reader needs to trust the number: triggers found, realism, per-cue rates..."""
    factors: list[FactorUse] = Field(default_factory=list)
    factor_scales: dict[str, float] = Field(default_factory=dict)
    """Scales this experiment measured for factors of other findings (sandwiching: raters)."""
    queries: int = 0
    """Target calls (generations, scored continuations, hidden-state reads)."""
    elapsed_s: float = 0.0
    status: Literal["ok", "error"] = "ok"
    error: str | None = None

    @property
    def primary(self) -> Statistic:
        return self.statistics[self.statistic]

    @classmethod
    def failed(
        cls,
        experiment: str,
        card: ModelCard,
        params: dict[str, Any],
        seed: int,
        exc: BaseException,
        statistic: str,
    ) -> ExperimentResult:
        """A crash recorded as data: the statistic is missing, the error and its place kept."""
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        place = f" at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else ""
        return cls(
            experiment=experiment,
            target=card,
            params=params,
            seed=seed,
            statistic=statistic,
            status="error",
            error=f"{type(exc).__name__}: {exc}{place}",
        )


def rate(k: int, n: int) -> Statistic:
    """A proportion ``k / n`` with the Agresti-Coull standard error.

    The plain ``sqrt(p (1 - p) / n)`` is zero at 0 and 1, which would make an all-or-nothing
    sample look infinitely precise; adding two successes and two failures (Agresti and Coull,
    1998, "Approximate is better than exact for interval estimation of binomial proportions")
    keeps the error honest there.
    """
    if n == 0:
        return Statistic(value=0.0, se=0.5, n=0, description="no samples")
    p = (k + 2) / (n + 4)
    return Statistic(value=k / n, se=math.sqrt(p * (1 - p) / (n + 4)), n=n)


def mean(values: list[float]) -> Statistic:
    """A mean with its standard error (at least 1e-3, so a constant sample is not exact)."""
    n = len(values)
    if n == 0:
        return Statistic(value=0.0, se=0.5, n=0, description="no samples")
    m = sum(values) / n
    var = sum((v - m) ** 2 for v in values) / max(1, n - 1)
    return Statistic(value=m, se=max(1e-3, math.sqrt(var / n)), n=n)
