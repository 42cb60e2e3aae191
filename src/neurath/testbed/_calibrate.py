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
from typing import Any

from neurath._errors import ExperimentError, ManifestError
from neurath._version import __version__
from neurath.experiments._calibrate import Calibration, fit_calibration, load_calibration
from neurath.experiments._result import ExperimentResult
from neurath.organisms._suite import Suite
from neurath.testbed._store import OrganismStore

CalibrationProgress = Callable[[str, int, int], None]
"""Called with (organism id or ``fit``, organisms done, organisms in all)."""


def calibrate_suite(
    suite: Suite,
    store: OrganismStore | str | Path | None,
    *,
    experiments: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    progress: CalibrationProgress | None = None,
) -> Calibration:
    """Run the battery on the suite's calibration organisms (already built) and fit.

    Only calibration-group cards are read; test organisms are never touched. Each organism's
    probe is trained on the other calibration organisms (the probe leaves its target out).
    """
    from neurath.experiments._battery import DEFAULT_BATTERY, run_battery

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
    context = {"references": store.references(ids)}
    skipped: list[str] = []
    results: dict[str, list[ExperimentResult]] = {}
    for i, oid in enumerate(wanted):
        if progress:
            progress(oid, i, len(wanted))
        target = store.load(oid)
        results[oid] = []
        for name in experiments or DEFAULT_BATTERY:
            try:
                results[oid] += run_battery(
                    target, experiments=[name], params=battery_params, seed=seed, context=context
                )
            except ExperimentError as exc:
                # E.g. a probe left with one class once this organism is held out of training.
                skipped.append(f"{name} on {oid}: {exc}")
    if progress:
        progress("fit", len(wanted), len(wanted))
    fitted = fit_calibration(
        results, {o: labels[o] for o in wanted}, suite=suite.name, battery_params=battery_params
    )
    if not skipped:
        return fitted
    return fitted.model_copy(
        update={"notes": [*fitted.notes, *(f"not calibrated: {s}" for s in skipped)]}
    )


def calibration_key(suite: Suite, params: Mapping[str, Any], seed: int) -> str:
    """What determines a calibration: its organisms' build hashes, the parameters, the seed
    and neurath's version (never where the files live)."""
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
            "format": 2,
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
) -> tuple[Calibration, bool]:
    """The calibration for this suite and these parameters, from the store's cache or fitted
    now (and cached); also whether it came from the cache."""
    cache = store.calibration_cache(calibration_key(suite, params, seed))
    if cache.exists():
        return load_calibration(cache), True
    calibration = calibrate_suite(suite, store, params=params, seed=seed, progress=progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    calibration.save(cache)
    return calibration, False
