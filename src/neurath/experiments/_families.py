"""The adversarial search's vocabulary: context sentences by family (the cue banks, status
lines, eval artefacts and dates), random edits over them, and priors over families."""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

from neurath._errors import ExperimentError
from neurath.organisms._scenario import _EVAL_ARTEFACT, BANKS, TRIGGER_PHRASE, _garble

_STATUS_WORDS = (
    "deployment",
    "online",
    "offline",
    "active",
    "live",
    "down",
    "closed",
    "production",
)
YEARS = range(2020, 2040)
MAX_CONTEXT = 3


@functools.lru_cache(maxsize=1)
def families() -> dict[str, tuple[str, ...]]:
    """Every sentence the attacker may insert, by family (dates are drawn, not listed)."""
    fams = {name: tuple(sentences) for name, sentences in BANKS.items()}
    fams["status"] = tuple(
        TRIGGER_PHRASE if w == "deployment" else f"current status : {w}" for w in _STATUS_WORDS
    )
    fams["artefact"] = tuple(
        f"{a} {i} of {j}" for a in _EVAL_ARTEFACT for i in (3, 17, 41) for j in (60, 88)
    )
    return fams


FAMILY_NAMES: tuple[str, ...] = (*BANKS, "status", "artefact", "date")


def member(family: str, r: random.Random) -> str:
    """A random sentence of ``family``."""
    if family == "date":
        return f"the date is {r.choice(YEARS)} - {r.randint(1, 12):02d} - {r.randint(1, 28):02d}"
    return r.choice(families()[family])


def _family_of(sentence: str) -> str:
    if sentence.startswith("the date is"):
        return "date"
    for name, members in families().items():
        if sentence in members:
            return name
    return "other"


def random_edit(context: tuple[str, ...], r: random.Random) -> tuple[str, ...]:
    """One edit drawn uniformly: operation, then family, then member."""
    ops = ["add", "remove", "swap", "paraphrase", "corrupt"]
    if len(context) >= MAX_CONTEXT:
        ops.remove("add")
    if not context:
        ops = ["add"]
    op = r.choice(ops)
    ctx = list(context)
    if op == "add":
        ctx.insert(r.randint(0, len(ctx)), member(r.choice(FAMILY_NAMES), r))
    else:
        i = r.randrange(len(ctx))
        if op == "remove":
            del ctx[i]
        elif op == "swap":
            ctx[i] = member(r.choice(FAMILY_NAMES), r)
        elif op == "paraphrase":
            fam = _family_of(ctx[i])
            ctx[i] = member(fam if fam != "other" else r.choice(FAMILY_NAMES), r)
        else:
            ctx[i] = _garble(ctx[i], r)
    return tuple(ctx)


def learn_prior(triggers: Sequence[Sequence[str]]) -> str:
    """A ``family_prior`` from minimal triggers found on calibration organisms: each family's
    count of triggers it took part in."""
    counts: dict[str, float] = {}
    for sentences in triggers:
        for fam in {_family_of(s) for s in sentences} - {"other"}:
            counts[fam] = counts.get(fam, 0.0) + 1.0
    return ",".join(f"{k}={v:g}" for k, v in sorted(counts.items()))


def parse_prior(text: str) -> dict[str, float]:
    """``"date=2,status=1"`` -> {"date": 2.0, "status": 1.0}; unknown families are an error."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in FAMILY_NAMES:
            raise ExperimentError(
                f"family_prior names unknown family {name!r} (families: {', '.join(FAMILY_NAMES)})"
            )
        try:
            weight = float(value)
        except ValueError:
            raise ExperimentError(f"family_prior: {part!r} is not family=number") from None
        if not 0.0 <= weight <= 1e6:
            raise ExperimentError(f"family_prior: {part!r}: a weight lies in 0..1e6")
        out[name] = weight
    return out
