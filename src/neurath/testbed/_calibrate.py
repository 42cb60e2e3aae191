"""Calibrating the battery on a suite's calibration organisms, and caching the result.

The fit itself (:func:`neurath.experiments.fit_calibration`) knows nothing of organisms: it
takes results and labels. This module runs the battery on the store's calibration group, with
the group's labelled models as the probe's references, and hands both to the fit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurath._errors import ExperimentError, ManifestError
from neurath._version import __version__
from neurath.experiments._calibrate import Calibration, fit_calibration, load_calibration
from neurath.experiments._result import ExperimentResult
from neurath.organisms._suite import Suite
from neurath.testbed._store import OrganismStore

if TYPE_CHECKING:
    from neurath.experiments._probe import Reference

CalibrationProgress = Callable[[str, int, int], None]
"""Called with (organism id, or alias, or ``fit``; organisms done; organisms in all)."""


def calibrate_suite(
    suite: Suite,
    store: OrganismStore | str | Path | None,
    *,
    experiments: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    progress: CalibrationProgress | None = None,
    aliases: bool = False,
    novel: float | None = None,
) -> Calibration:
    """Run the battery on the suite's calibration organisms (already built) and fit.

    With ``novel`` (the declared chance of a novel mechanism), the fit is also made per
    mechanism (from the calibration cards) and the version 2 engine's common cause measured
    on the same results (:func:`neurath.testbed._common_cause.honest_common_cause`).

    Only calibration-group cards are read; test organisms are never touched. Each organism's
    probe is trained on the other calibration organisms (the probe leaves its target out).
    With ``aliases``, the organisms are named by :meth:`OrganismStore.alias` throughout (the
    calibration a blind study's research is given names no organism).
    """
    store = store if isinstance(store, OrganismStore) else OrganismStore(store)
    ids = [s.id for s in suite.organisms]
    labels = store.calibration_labels(ids)
    wanted = [s.id for s in suite.organisms if s.group == "calibration"]
    missing = [o for o in wanted if o not in labels]
    if missing:
        raise ManifestError(
            f"calibration organisms not built under {store.root}: {', '.join(missing)} "
            "(run 'neurath organisms build' with the same suite)"
        )
    battery_params = {k: dict(v) for k, v in (params or {}).items()}
    name = {oid: store.alias(oid) if aliases else oid for oid in wanted}
    results, skipped = _run_battery(
        store.references(ids, aliases=aliases),
        sorted(wanted, key=name.__getitem__),
        name,
        experiments,
        battery_params,
        seed,
        progress,
    )
    if progress:
        progress("fit", len(wanted), len(wanted))
    named = {name[o]: labels[o] for o in wanted}
    by_id = store.calibration_kinds(ids) if novel is not None else {}
    kinds = {name[o]: by_id[o] for o in wanted} if novel is not None else None
    fitted = fit_calibration(
        results,
        named,
        suite=suite.name,
        battery_params=battery_params,
        attempted=list(experiments or _default_battery()),
        kinds=kinds,
    )
    if kinds is not None and novel is not None:
        fitted = _with_evasion(fitted, results, named, kinds, novel, progress)
    notes = [*fitted.notes, *(f"not calibrated: {s}" for s in skipped)]
    return fitted.model_copy(update={"notes": notes}) if skipped else fitted


def _with_evasion(
    fitted: Calibration,
    results: Mapping[str, list[ExperimentResult]],
    labels: Mapping[str, bool],
    kinds: Mapping[str, str],
    novel: float,
    progress: CalibrationProgress | None,
) -> Calibration:
    """The calibration with the version 2 engine's common cause measured on its results."""
    from neurath.testbed._common_cause import honest_common_cause

    if progress:
        progress("common cause", len(labels), len(labels))
    evasion = honest_common_cause(
        results, labels, kinds, novel=novel, battery_params=fitted.battery_params
    )
    return fitted.model_copy(update={"evasion": evasion})


def _run_battery(
    refs: list[Reference],
    order: list[str],
    name: Mapping[str, str],
    experiments: Sequence[str] | None,
    params: Mapping[str, Mapping[str, Any]],
    seed: int,
    progress: CalibrationProgress | None,
) -> tuple[dict[str, list[ExperimentResult]], list[str]]:
    """Each calibration organism's battery results (by its name), with the references as
    context, and the experiments that could not run on it."""
    from neurath.experiments._battery import DEFAULT_BATTERY, run_battery

    context = {"references": refs}
    by_name = {r.id: r for r in refs}
    skipped: list[str] = []
    results: dict[str, list[ExperimentResult]] = {}
    for i, oid in enumerate(order):
        if progress:
            progress(name[oid], i, len(order))
        target = by_name[name[oid]].load()
        results[name[oid]] = []
        for experiment in experiments or DEFAULT_BATTERY:
            try:
                results[name[oid]] += run_battery(
                    target, experiments=[experiment], params=params, seed=seed, context=context
                )
            except ExperimentError as exc:
                # E.g. a probe left with one class once this organism is held out of training.
                skipped.append(f"{experiment} on {name[oid]}: {exc}")
    return results, skipped


def calibration_key(
    suite: Suite,
    params: Mapping[str, Any],
    seed: int,
    *,
    store_key: str = "",
    novel: float | None = None,
) -> str:
    """What determines a calibration: its organisms' build hashes, the parameters, the seed
    and neurath's version (never where the files live); for one made with aliases, also the
    store's key (:meth:`OrganismStore.key_id`), which the aliases are made with."""
    from neurath.organisms._build import organism_hash

    key = json.dumps(
        {
            "organisms": {
                s.id: organism_hash(s, suite) for s in suite.organisms if s.group == "calibration"
            },
            "params": params,
            "seed": seed,
            "version": __version__,
            # 2: the probe's references come from the store, not a folder in its parameters.
            # 3: organisms named by their aliases in the store with this key.
            # 4 (5 with aliases): experiments no calibration organism could run are recorded
            # as uncalibrated. 7 (6): a probe's scores of a kind's only organism left out.
            # 9 (8): a separation within two standard errors is no separation.
            # 10 (9): the common cause reads results at the battery's parameters.
            "format": 10 if store_key else 9,
            **({"store_key": store_key} if store_key else {}),
            # Per-mechanism fits and the v2 common cause, for this declared novel chance.
            **({"novel": novel} if novel is not None else {}),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def cached_calibration(
    suite: Suite,
    store: OrganismStore,
    *,
    params: Mapping[str, Mapping[str, Any]],
    seed: int,
    progress: CalibrationProgress | None = None,
    novel: float | None = None,
) -> tuple[Calibration, bool]:
    """The calibration for this suite and these parameters, from the store's cache or fitted
    now (and cached); also whether it came from the cache. Its organisms are named by their
    aliases: a blind study's research is given it."""
    key = calibration_key(suite, params, seed, store_key=store.key_id(), novel=novel)
    cache = store.calibration_cache(key)
    if cache.exists():
        return load_calibration(cache), True
    calibration = calibrate_suite(
        suite, store, params=params, seed=seed, progress=progress, aliases=True, novel=novel
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    calibration.save(cache)
    return calibration, False


def _default_battery() -> tuple[str, ...]:
    from neurath.experiments._battery import DEFAULT_BATTERY

    return DEFAULT_BATTERY
