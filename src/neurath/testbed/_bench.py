"""The calibration benchmark: the pipeline on splits of a population, scored against truth.

::

    pre-register -> build -> battery on every organism (once) -> per split:
        probe (trained on the split's calibration group) -> fit calibration -> assess the
        test group -> score (engine, engine without the common cause, fair naive baseline)

Splits (:func:`make_splits`): ``in_distribution`` (new individuals of calibrated
mechanisms); ``lomo:<mechanism>`` (leave one scheming mechanism out of calibration, test on
all of it: the seeds' question); ``cue_bank:b`` (calibrated on organisms trained on cue bank
a, tested on bank b); ``lineage:<name>`` (one base-model lineage held out).

The evidence per target is the full battery at the study's parameters, as a ``scripted``
controller gathers it; the battery's results do not depend on the split (every experiment but
the probe sees only its target), so they are computed once per organism and cached in the
store. The probe depends on its trainers, so it runs again in every split. Before any result
is computed, the population, the splits and what its organisms are built with (the build
format, the halves' format and a hash of the phrasings, which the population's own hash does
not cover) are written to ``preregistration.json`` and its hash goes into the output.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from neurath._errors import NeurathError
from neurath.experiments._calibrate_kinds import CommonCause
from neurath.organisms._archetypes import SCHEMING
from neurath.organisms._build import build_identity
from neurath.organisms._suite import OrganismSpec, Suite
from neurath.testbed._bench_choose import Choice
from neurath.testbed._bench_score import AggregatorScore
from neurath.testbed._population import suite_sha256
from neurath.testbed._store import OrganismStore

BENCH_VERSION = 1
SplitKind = Literal[
    "in_distribution", "leave_one_mechanism_out", "held_out_cue_bank", "held_out_lineage"
]
BenchProgress = Callable[[str, int, int, str], None]
"""Called with (stage, done, total, what): stages ``build``, ``battery``, ``split``."""


def _quiet(stage: str, done: int, total: int, what: str) -> None:
    """A progress callback that says nothing."""


class SplitSpec(BaseModel):
    """Which organisms calibrate and which are tested in one split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: SplitKind
    held_out: str | None = None
    calibration: list[str]
    test: list[str]


def lineage_of(spec: OrganismSpec) -> str:
    return str(getattr(spec, "lineage", "base"))


def cue_bank_of(spec: OrganismSpec) -> str:
    return str(getattr(spec, "cue_bank", "all"))


def make_splits(suite: Suite, seed: int = 0) -> list[SplitSpec]:
    """Every split the population supports; a kind it cannot support (one lineage, no cue
    banks) is left out."""
    by_mech: dict[str, list[str]] = {}
    for s in suite.organisms:
        by_mech.setdefault(s.archetype, []).append(s.id)
    cal_half: set[str] = set()
    for mech, ids in by_mech.items():
        order = sorted(ids)
        random.Random(f"{seed}:{mech}").shuffle(order)
        cal_half.update(order[: len(order) // 2])
    everyone = [s.id for s in suite.organisms]
    splits = [
        SplitSpec(
            name="in_distribution",
            kind="in_distribution",
            calibration=[o for o in everyone if o in cal_half],
            test=[o for o in everyone if o not in cal_half],
        )
    ]
    for mech in (m for m in by_mech if SCHEMING[m]):
        out = set(by_mech[mech])
        splits.append(
            SplitSpec(
                name=f"lomo:{mech}",
                kind="leave_one_mechanism_out",
                held_out=mech,
                calibration=[o for o in everyone if o in cal_half and o not in out],
                test=[o for o in everyone if o not in cal_half or o in out],
            )
        )
    banks = {cue_bank_of(s) for s in suite.organisms}
    if {"a", "b"} <= banks:
        splits.append(
            SplitSpec(
                name="cue_bank:b",
                kind="held_out_cue_bank",
                held_out="b",
                calibration=[s.id for s in suite.organisms if cue_bank_of(s) == "a"],
                test=[s.id for s in suite.organisms if cue_bank_of(s) == "b"],
            )
        )
    lineages = list(dict.fromkeys(lineage_of(s) for s in suite.organisms))
    for name in lineages if len(lineages) > 1 else []:
        splits.append(
            SplitSpec(
                name=f"lineage:{name}",
                kind="held_out_lineage",
                held_out=name,
                calibration=[s.id for s in suite.organisms if lineage_of(s) != name],
                test=[s.id for s in suite.organisms if lineage_of(s) == name],
            )
        )
    return splits


class TargetRow(BaseModel):
    """One test target of a split, after scoring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organism: str
    mechanism: str
    scheming: bool
    lineage: str
    cue_bank: str
    p: float
    """P(not scheming) from the engine, with the split's common cause."""
    p_no_common_cause: float
    """The engine without the common cause (c = 0): the evidence alone, no ceiling."""
    p_naive: float
    """The fair naive baseline: independent findings, each with its full variance."""
    n_findings: int
    p_v2: float | None = None
    """The version 2 engine (a component per calibration mechanism), the split's common
    cause; None when the calibration has no per-kind fits."""
    p_v2_worst: float | None = None
    """The same, with the scheming components' weights chosen against reassurance."""
    p_v2_no_common_cause: float | None = None
    """The version 2 engine with c = 0."""


class SplitResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: SplitKind
    held_out: str | None
    n_calibration: int
    n_test: int
    status: Literal["scored", "not scored"]
    reason: str = ""
    calibration_id: str | None = None
    common_cause: float | None = None
    ceiling: float | None = None
    """The highest P(not scheming) any evidence can give under the split's common cause."""
    ceiling_vacuous: bool | None = None
    """Whether the ceiling sits below the reassurance threshold: no target can be reassured,
    so "no false reassurance" holds by construction (vacuously)."""
    v2_common_cause: CommonCause | None = None
    """The version 2 engine's common cause, measured on the split's calibration group by the
    engine itself (:mod:`neurath.testbed._common_cause`)."""
    v2_ceiling: float | None = None
    v2_ceiling_vacuous: bool | None = None
    held_out_evasion: float | None = None
    """Leave-one-mechanism-out splits: the share of the held-out mechanism's test schemers
    the version 2 engine would reassure at c = 0 (what its common cause must cover)."""
    benign_above_ceiling: float | None = None
    """Share of benign targets whose evidence alone (c = 0) would rise above the ceiling:
    how often the ceiling, not the evidence, decides."""
    scores: dict[str, AggregatorScore] = {}
    """``engine``, ``engine_no_common_cause`` and ``naive``; with per-kind fits also
    ``engine_v2``, ``engine_v2_worst`` and ``engine_v2_no_common_cause``."""
    targets: list[TargetRow] = []
    choices: dict[str, Choice] = {}
    """Design choices this split decided on its calibration group (nested cross-validation)."""
    notes: list[str] = []


class BenchResult(BaseModel):
    """``bench.json``: the benchmark's output."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    population: str
    population_sha256: str
    population_size: int
    mechanisms: dict[str, bool]
    preregistration_sha256: str
    prior_not_scheming: float
    seed: int
    params: dict[str, dict[str, Any]]
    n_boot: int
    novel: float | None = None
    """The declared chance of a novel mechanism the version 2 engine used."""
    splits: list[SplitResult]
    elapsed_s: float
    stage_s: dict[str, float] = {}
    """Seconds spent building the population (cached organisms cost nothing) and running the
    battery on it; the splits take the rest of ``elapsed_s``."""
    neurath_version: str


def preregister(
    suite: Suite,
    splits: list[SplitSpec],
    out: Path,
    *,
    prior: float,
    seed: int,
    params: Mapping[str, Any],
    novel: float | None = None,
) -> str:
    """Write the population and its splits before anything is scored; return the file's
    hash. An existing pre-registration with other content is refused (a new folder for a
    new benchmark)."""
    text = json.dumps(
        {
            "version": BENCH_VERSION,
            "population_sha256": suite_sha256(suite),
            "population": suite.model_dump(mode="json"),
            "build": build_identity(),
            "splits": [s.model_dump(mode="json") for s in splits],
            "prior_not_scheming": prior,
            "seed": seed,
            "params": params,
            **({"novel": novel} if novel is not None else {}),
        },
        indent=1,
        sort_keys=True,
    )
    path = out / "preregistration.json"
    if path.exists() and path.read_text() != text:
        raise NeurathError(f"{path}: another benchmark was pre-registered here; use a new --out")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return hashlib.sha256(text.encode()).hexdigest()


def opaque_id(store: OrganismStore, organism_id: str) -> str:
    """The name a target goes by in the benchmark: a hash of its organism's id keyed with the
    store's secret, so it tells nothing without the cards area."""
    return "t-" + store.sealed_name(organism_id, "bench")[:12]


class Targets:
    """The population's organisms as sealed target models (loaded once, kept)."""

    def __init__(self, suite: Suite, store: OrganismStore) -> None:
        from neurath.organisms._build import organism_hash

        self.suite, self.store = suite, store
        self.build = {s.id: organism_hash(s, suite) for s in suite.organisms}
        self.ids = {oid: opaque_id(store, oid) for oid in self.build}
        self._models: dict[str, Any] = {}

    def model(self, oid: str) -> Any:
        if oid not in self._models:
            m = self.store.load(oid, as_id=self.ids[oid])
            m.card = m.card.model_copy(update={"source": "sealed"})
            _remember_hidden_states(m)
            self._models[oid] = m
        return self._models[oid]

    def references(self, oids: Iterable[str], labels: Mapping[str, bool]) -> list[Any]:
        from neurath.experiments._probe import Reference

        return [
            Reference(
                id=self.ids[o],
                scheming=labels[o],
                load=lambda o=o: self.model(o),  # type: ignore[misc]
                key=f"bench:{self.build[o]}",
            )
            for o in oids
        ]


def _remember_hidden_states(model: Any) -> None:
    """Every split probes every organism on the same prompts: compute its states once."""
    compute = model.hidden_states
    seen: dict[tuple[int, tuple[str, ...]], Any] = {}

    def hidden_states(prompts: list[str], layer: int) -> Any:
        key = (layer, tuple(prompts))
        if key not in seen:
            seen[key] = compute(prompts, layer)
        return seen[key]

    model.hidden_states = hidden_states
