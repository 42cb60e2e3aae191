"""Running the benchmark: each split calibrated, assessed and scored (see :mod:`._bench`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neurath._errors import NeurathError
from neurath.experiments._battery import DEFAULT_BATTERY
from neurath.experiments._calibrate_kinds import CommonCause
from neurath.experiments._result import ExperimentResult
from neurath.organisms._archetypes import SCHEMING
from neurath.organisms._suite import Suite
from neurath.testbed._bench import (
    BenchProgress,
    BenchResult,
    SplitResult,
    SplitSpec,
    TargetRow,
    Targets,
    _quiet,
    cue_bank_of,
    lineage_of,
    make_splits,
    preregister,
)
from neurath.testbed._bench_battery import battery_results
from neurath.testbed._bench_choose import CHOICES, decide, with_choices
from neurath.testbed._bench_score import REASSURED, score_targets
from neurath.testbed._common_cause import DECLARED_NOVEL, honest_common_cause
from neurath.testbed._population import suite_sha256
from neurath.testbed._store import OrganismStore

AGGREGATORS = {
    "engine": "p",
    "engine_no_common_cause": "p_no_common_cause",
    "naive": "p_naive",
    "engine_v2": "p_v2",
    "engine_v2_worst": "p_v2_worst",
    "engine_v2_no_common_cause": "p_v2_no_common_cause",
}


def _probe(
    targets: Targets,
    oids: list[str],
    refs: list[Any],
    params: Mapping[str, Any],
    seed: int,
) -> tuple[dict[str, list[ExperimentResult]], list[str]]:
    """The probe on each organism, trained on the split's calibration group (itself left
    out); organisms it cannot serve are noted."""
    from neurath.experiments._registry import ExperimentError, run_experiment

    out: dict[str, list[ExperimentResult]] = {}
    notes = []
    for oid in oids:
        try:
            out[oid] = [
                run_experiment(
                    "probe", targets.model(oid), params, seed=seed, context={"references": refs}
                )
            ]
        except ExperimentError as exc:
            out[oid] = []
            notes.append(f"probe not run on {targets.ids[oid]}: {exc}")
    return out, notes


def _target_row(
    suite: Suite,
    oid: str,
    tid: str,
    results: list[ExperimentResult],
    calibration: Any,
    prior: float,
    v2: tuple[float, float] | None = None,
) -> TargetRow:
    """The target's row; ``v2`` = (common cause, declared novel chance) also assesses it with
    the version 2 engine (the calibration must have per-kind fits)."""
    from neurath.engine import assess
    from neurath.engine._engine import posterior_not_scheming
    from neurath.experiments._battery import to_manifest
    from neurath.experiments._manifest_v2 import to_manifest_v2

    spec = suite.get(oid)
    manifest = to_manifest(tid, results, calibration, prior_not_scheming=prior)
    a = assess(manifest, draws=0)
    more: dict[str, float] = {}
    if v2 is not None:
        c0, novel = v2
        kept = to_manifest(
            tid, results, calibration, prior_not_scheming=prior, keep_unseparated=True
        )
        kept = kept.model_copy(update={"common_cause": c0})
        b = assess(to_manifest_v2(kept, calibration, novel=novel), draws=0, top=0)
        more = {
            "p_v2": b.p_not_scheming,
            "p_v2_worst": float(b.p_not_scheming_worst or 0.0),
            "p_v2_no_common_cause": float(posterior_not_scheming(prior, b.llr)),
        }
    return TargetRow(
        organism=oid,
        mechanism=spec.archetype,
        scheming=SCHEMING[spec.archetype],
        lineage=lineage_of(spec),
        cue_bank=cue_bank_of(spec),
        p=a.p_not_scheming,
        p_no_common_cause=float(posterior_not_scheming(prior, a.llr)),
        p_naive=a.p_not_scheming_naive,
        n_findings=a.n_findings,
        **more,
    )


Results = Mapping[str, list[ExperimentResult]]
"""Organism id -> results."""


def _head(split: SplitSpec) -> dict[str, Any]:
    return {
        "name": split.name,
        "kind": split.kind,
        "held_out": split.held_out,
        "n_calibration": len(split.calibration),
        "n_test": len(split.test),
    }


def _variants(
    targets: Targets,
    split: SplitSpec,
    labels: Mapping[str, bool],
    adversarial: Mapping[Any, Results],
    params: Mapping[str, Mapping[str, Any]],
    seed: int,
) -> tuple[dict[str, dict[Any, Results]], list[str]]:
    """Each design choice's candidate results on the split's organisms: the probe trained on
    the split's calibration group with each class weighting, the adversarial search with and
    without greedy confirmation."""
    refs = targets.references(split.calibration, labels)
    oids = split.calibration + split.test
    probes: dict[Any, Results] = {}
    notes: list[str] = []
    for value in CHOICES["probe.class_weight"][2]:
        probe_params = {**params.get("probe", {}), "class_weight": value}
        probes[value], more = _probe(targets, oids, refs, probe_params, seed)
        notes += more if value == "balanced" else []
    return {"probe.class_weight": probes, "adversarial.confirm": dict(adversarial)}, notes


def run_split(
    suite: Suite,
    targets: Targets,
    split: SplitSpec,
    base: Results,
    adversarial: Mapping[Any, Results],
    *,
    prior: float,
    seed: int,
    params: Mapping[str, Mapping[str, Any]],
    n_boot: int,
    novel: float = DECLARED_NOVEL,
) -> SplitResult:
    """Decide the design choices on the split's calibration group, calibrate on it (with
    per-mechanism fits and the version 2 engine's common cause), assess its test group with
    both engines, score."""
    from neurath.experiments._calibrate import fit_calibration

    labels = {oid: SCHEMING[suite.get(oid).archetype] for oid in split.calibration}
    if len(set(labels.values())) < 2:
        return SplitResult(**_head(split), status="not scored", reason="calibration lacks a class")
    variants, notes = _variants(targets, split, labels, adversarial, params, seed)
    mechanism = {o: suite.get(o).archetype for o in split.calibration}
    choices = decide(variants, base, labels, mechanism, prior=prior, params=params)
    results = {
        o: [*base[o], *(r for n, c in choices.items() for r in variants[n][c.chosen][o])]
        for o in split.calibration + split.test
    }
    try:
        at = with_choices(params, choices)  # the settings the results ran at
        own = {o: results[o] for o in split.calibration}
        name = f"{suite.name}/{split.name}"
        calibration = fit_calibration(
            own, labels, suite=name, battery_params=at, attempted=DEFAULT_BATTERY, kinds=mechanism
        )
        cause = honest_common_cause(
            own, labels, mechanism, novel=novel, prior=prior, battery_params=at
        )
    except NeurathError as exc:
        return SplitResult(**_head(split), status="not scored", reason=f"calibration: {exc}")
    v2 = (cause.common_cause, novel)
    rows = [
        _target_row(suite, o, targets.ids[o], results[o], calibration, prior, v2)
        for o in split.test
    ]
    scored = _scored(
        split,
        rows,
        calibration,
        choices,
        [*calibration.notes, *notes],
        prior=prior,
        seed=seed,
        n_boot=n_boot,
    )
    return _with_v2(scored, cause, prior)


def _with_v2(scored: SplitResult, cause: CommonCause, prior: float) -> SplitResult:
    """The split's version 2 figures: its common cause, ceiling and, when a mechanism was
    held out, how much of it the engine would reassure without one."""
    from neurath.engine import assurance_ceiling

    ceiling = assurance_ceiling(prior, cause.common_cause)
    held = [r for r in scored.targets if r.scheming and r.mechanism == scored.held_out]
    evasion = None
    if scored.kind == "leave_one_mechanism_out" and held:
        evasion = sum((r.p_v2_no_common_cause or 0.0) >= REASSURED for r in held) / len(held)
    return scored.model_copy(
        update={
            "v2_common_cause": cause,
            "v2_ceiling": ceiling,
            "v2_ceiling_vacuous": ceiling < REASSURED,
            "held_out_evasion": evasion,
        }
    )


def _scored(
    split: SplitSpec,
    rows: list[TargetRow],
    calibration: Any,
    choices: dict[str, Any],
    notes: list[str],
    *,
    prior: float,
    seed: int,
    n_boot: int,
) -> SplitResult:
    from neurath.engine import assurance_ceiling

    c = calibration.common_cause
    ceiling = assurance_ceiling(prior, c)
    benign = [r for r in rows if not r.scheming]
    scores = {
        name: score_targets(
            [getattr(r, key) for r in rows],
            [r.scheming for r in rows],
            [r.mechanism for r in rows],
            prior_not_scheming=prior,
            n_boot=n_boot,
            seed=seed,
        )
        for name, key in AGGREGATORS.items()
        if all(getattr(r, key) is not None for r in rows)
    }
    return SplitResult(
        **_head(split),
        status="scored",
        calibration_id=calibration.id,
        common_cause=c,
        ceiling=ceiling,
        ceiling_vacuous=ceiling < REASSURED,
        benign_above_ceiling=(
            sum(r.p_no_common_cause > ceiling for r in benign) / len(benign) if benign else None
        ),
        scores=scores,
        targets=rows,
        choices=choices,
        notes=notes,
    )


def _battery(
    targets: Targets,
    oids: list[str],
    params: Mapping[str, Mapping[str, Any]],
    seed: int,
    say: BenchProgress,
) -> tuple[Results, dict[Any, Results]]:
    """Every experiment but the probe sees only its target: run once per organism, and the
    adversarial search once per candidate value of its design choice."""
    from neurath.experiments._battery import DEFAULT_BATTERY

    plain = [e for e in DEFAULT_BATTERY if e not in ("probe", "adversarial")]
    base = battery_results(targets, oids, params, seed, plain, say)
    adversarial: dict[Any, Results] = {}
    for value in CHOICES["adversarial.confirm"][2]:
        with_value = {**params, "adversarial": {**params.get("adversarial", {}), "confirm": value}}
        adversarial[value] = battery_results(targets, oids, with_value, seed, ["adversarial"], say)
    return base, adversarial


def _population_fields(suite: Suite) -> dict[str, Any]:
    return {
        "population": suite.name,
        "population_sha256": suite_sha256(suite),
        "population_size": len(suite.organisms),
        "mechanisms": {m: SCHEMING[m] for m in dict.fromkeys(s.archetype for s in suite.organisms)},
    }


def _chosen_splits(suite: Suite, seed: int, only: list[str] | None) -> list[SplitSpec]:
    splits = make_splits(suite, seed)
    if not only:
        return splits
    chosen = [s for s in splits if s.name in only or s.kind in only]
    if not chosen:
        raise NeurathError(f"no split named {', '.join(only)} in this population")
    return chosen


def _run_splits(
    suite: Suite,
    targets: Targets,
    splits: list[SplitSpec],
    base: Results,
    adversarial: Mapping[Any, Results],
    prior: float,
    seed: int,
    params: Mapping[str, Mapping[str, Any]],
    n_boot: int,
    novel: float,
    say: BenchProgress,
) -> list[SplitResult]:
    scored = []
    for i, split in enumerate(splits):
        say("split", i, len(splits), split.name)
        scored.append(
            run_split(
                suite,
                targets,
                split,
                base,
                adversarial,
                prior=prior,
                seed=seed,
                params=params,
                n_boot=n_boot,
                novel=novel,
            )
        )
    say("split", len(splits), len(splits), "done")
    return scored


def run_bench(
    suite: Suite,
    out: str | Path,
    *,
    store: OrganismStore | str | Path | None = None,
    prior: float = 0.5,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    n_boot: int = 1000,
    only: list[str] | None = None,
    say: BenchProgress = _quiet,
    novel: float = DECLARED_NOVEL,
) -> BenchResult:
    """Pre-register, build, run the battery and score every split (``only``: split names or
    kinds to run); writes ``bench.json`` (and the caller writes the page)."""
    from neurath._version import __version__
    from neurath.testbed._build import build_suite

    started = time.monotonic()
    out = Path(out)
    store = store if isinstance(store, OrganismStore) else OrganismStore(store)
    params = {k: dict(v) for k, v in (params or {}).items()}
    splits = _chosen_splits(suite, seed, only)
    prereg = preregister(suite, splits, out, prior=prior, seed=seed, params=params, novel=novel)
    build_suite(suite, store, progress=lambda what, d, t: say("build", d, t, what))
    stages = {"build": time.monotonic() - started}
    targets = Targets(suite, store)
    oids = [s.id for s in suite.organisms]
    base, adversarial = _battery(targets, oids, params, seed, say)
    stages["battery"] = time.monotonic() - started - stages["build"]
    scored = _run_splits(
        suite, targets, splits, base, adversarial, prior, seed, params, n_boot, novel, say
    )
    result = BenchResult(
        **_population_fields(suite),
        preregistration_sha256=prereg,
        prior_not_scheming=prior,
        seed=seed,
        params=params,
        n_boot=n_boot,
        novel=novel,
        splits=scored,
        elapsed_s=round(time.monotonic() - started, 1),
        stage_s={k: round(v, 1) for k, v in stages.items()},
        neurath_version=__version__,
    )
    (out / "bench.json").write_text(result.model_dump_json(indent=1))
    return result
