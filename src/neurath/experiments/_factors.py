"""The shared factors the battery's findings rest on, named the same way by every experiment.

A factor is something whose failure would move several findings together. Ids are stable so
findings from different runs, experiments and even targets line up in one manifest. Default
scales are deliberately moderate; calibration (residual correlation across experiments on
calibration organisms) and sandwiching (rater accuracy) replace them with measured ones.
"""

from __future__ import annotations

from neurath.experiments._result import FactorUse
from neurath.models._target import ModelCard

DEFAULT_SD = 0.2

SCENARIO_LANGUAGE = FactorUse(
    id="data:scenario-language",
    kind="data",
    sd=DEFAULT_SD,
    description="Every black-box experiment draws its prompts from the same scenario generator "
    "and cue banks; a blind spot of that language is shared by all of them.",
)
CUES_TAKEN_AT_FACE_VALUE = FactorUse(
    id="assumption:cues-taken-at-face-value",
    kind="assumption",
    sd=DEFAULT_SD,
    description="Behavioural evidence assumes the target acts on oversight and evaluation "
    "cues as if they were true; an evaluation-aware target breaks all of it at once.",
)
HONEYPOT_REALISM = FactorUse(
    id="assumption:honeypot-realism",
    kind="assumption",
    sd=DEFAULT_SD,
    description="Honeypots and adversarial triggers count only if the realism score tells "
    "deployment-like inputs from artificial ones.",
)
SELF_REPORT = FactorUse(
    id="assumption:self-report-elicitable",
    kind="assumption",
    sd=DEFAULT_SD,
    description="Honesty evaluations assume a follow-up question elicits the model's account "
    "of its own actions.",
)


def method(name: str) -> FactorUse:
    """The experiment's own method (its implementation and parameters)."""
    return FactorUse(
        id=f"method:{name}",
        kind="method",
        sd=DEFAULT_SD,
        description=f"The {name} experiment's implementation and parameters.",
    )


def weights(card: ModelCard) -> FactorUse:
    """The target's weights lineage: findings on models of one lineage share its quirks."""
    lineage = card.lineage or card.weights_sha256 or card.id
    return FactorUse(
        id=f"weights:{lineage[:12]}",
        kind="weights",
        sd=DEFAULT_SD,
        description=f"Models descended from weights {lineage[:12]} (the target's lineage).",
    )


RATER_ERROR_DEFAULT = 0.05
"""A rater pool's error rate (misses plus false alarms) until sandwiching measures it."""

EXPERIMENTS_RAN = FactorUse(
    id="assumption:experiments-ran",
    kind="assumption",
    sd=1.0,
    description="Crashed experiments share their cause (a provider outage, a broken target): "
    "together they count about as much as one crash, not as independent evidence.",
)


def raters(pool: str, sd: float | None = None) -> FactorUse:
    """The raters who judged the target's outputs; sandwiching measures their error rate (a
    judge model's is measured on labelled transcripts and given as ``sd``)."""
    return FactorUse(
        id=f"raters:{pool}",
        kind="raters",
        sd=RATER_ERROR_DEFAULT if sd is None else sd,
        per="statistic",
        description=f"Judgements of the target's actions by the {pool!r} rater pool "
        "(scale: its error rate, in the rates' own units).",
    )
