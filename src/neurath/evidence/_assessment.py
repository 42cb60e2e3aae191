"""The persisted result of assessing a manifest."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from neurath._version import __version__


class Assessment(BaseModel):
    """An overall safety assessment (OSA) of one target, with everything needed to audit it.

    Log-odds are natural logs of odds in favour of *not scheming*; a positive contribution
    means a finding (or modelling a factor) moved the assessment towards not scheming.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    schema_version: Literal[1] = 1
    """Version of this record's format."""
    target: str
    """The model assessed."""
    p_not_scheming: float
    """Posterior P(not scheming) under the correlated model with the common-cause mixture."""
    interval: tuple[float, float]
    """Monte Carlo interval of ``p_not_scheming`` over the uncertain inputs (ranges)."""
    interval_level: float = 0.95
    """Coverage of ``interval`` (central quantiles of the Monte Carlo draws)."""
    p_not_scheming_naive: float
    """What a fair aggregator treating findings as independent would report: each finding
    with its full variance (shared factors' included), no correlation, no common cause."""
    llr: float
    """Gaussian log-likelihood ratio N:S under the correlated model, before the common cause."""
    log_lr: float
    """Log-likelihood ratio N:S after the common-cause mixture: ``-log(c + (1-c) e^-llr)``."""
    llr_naive: float
    """Log-likelihood ratio N:S with independent errors: ``sum delta r / diag(Sigma)``."""
    prior_not_scheming: float
    """P(not scheming) before evidence."""
    common_cause: float
    """Point value of the common-cause probability c used for ``p_not_scheming``."""
    ceiling: float
    """Assurance ceiling ``1 / (1 + c * prior_odds(S))``: no evidence can push P(N) above it."""
    n_findings: int
    """Number of findings assessed."""
    n_factors: int
    """Number of shared factors declared."""
    n_eff: float
    """Effective number of independent findings the evidence is worth."""
    weights: dict[str, float]
    """GLS weight of each finding: its signed share of the total information (sums to 1)."""
    contributions: dict[str, float]
    """Finding id -> change in log-odds if it were left out (full minus leave-one-out)."""
    contributions_complete: bool = True
    """False when only the largest contributions are reported (or none were computed)."""
    factor_contributions: dict[str, float] = Field(default_factory=dict)
    """Factor id -> change in log-odds from modelling it (with minus without it)."""
    warnings: list[str] = Field(default_factory=list)
    """Diagnostics a safety-case author must read (negative weights, ceiling, low n_eff...)."""
    draws: int = 0
    """Monte Carlo draws behind ``interval`` (0 when no input is uncertain)."""
    seed: int = 0
    """Seed of the Monte Carlo draws, so the interval can be reproduced."""
    neurath_version: str = __version__
    """The neurath release that computed this assessment."""
    manifest_version: Literal[1, 2] = 1
    """The manifest format assessed: 1, one Gaussian per hypothesis; 2, a mixture of mechanism
    components per hypothesis (then ``llr`` is the mixture's log ratio, and ``weights`` and
    ``n_eff`` describe the pooled version 1 view of the same findings)."""
    p_not_scheming_worst: float | None = None
    """Version 2: P(not scheming) with the scheming components' weights chosen against
    reassurance (the single scheming component the evidence fits best)."""
    llr_worst: float | None = None
    """Version 2: the log ratio behind ``p_not_scheming_worst``, before the common cause."""
    untested_components: list[str] = Field(default_factory=list)
    """Version 2: scheming components no finding can tell from the not-scheming ones (their
    expected log ratio against the nearest is below log 2): kinds left untested."""
    coverage_ceiling: float | None = None
    """Version 2: the highest P(not scheming) the untested kinds allow, ``1 / (1 +
    prior_odds(S) (c + (1 - c) sum of their weights))``: what no evidence of the kinds run
    can pass."""
    component_posterior: dict[str, float] = Field(default_factory=dict)
    """Version 2: each component's share of its hypothesis given the evidence (which kind of
    aligned model, or of schemer, the target looks like if it is one)."""
