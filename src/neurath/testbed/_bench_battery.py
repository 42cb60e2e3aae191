"""The benchmark's battery: every experiment that sees only its target, run once per organism
and cached in the store, in worker processes of one thread each.

Each result is filed under its organism's build hash, the experiment, its parameters, the seed
and neurath's version, so a second benchmark on the same store (another split, another
engine) reads results instead of running them, and adding an experiment runs only it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from neurath.experiments._result import ExperimentResult
from neurath.testbed._bench import BenchProgress, Targets, _quiet


def result_key(name: str, params: Mapping[str, Any] | None, seed: int) -> str:
    """What a cached bench result is filed under, beside its organism's build hash."""
    from neurath._version import __version__

    text = json.dumps([name, params or {}, seed, __version__], sort_keys=True, default=str)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _path(targets: Targets, oid: str, name: str, params: Mapping[str, Any], seed: int) -> Path:
    key = result_key(name, params.get(name), seed)
    return targets.store.root / "bench-results" / f"{targets.build[oid]}-{key}.json"


def _run_one(targets: Targets, oid: str, names: list[str], params: Any, seed: int) -> None:
    """Run (and cache) the ``names`` not cached yet on organism ``oid``."""
    from neurath.experiments._registry import get_experiment, run_experiment

    model = None
    for name in names:
        path = _path(targets, oid, name, params, seed)
        if path.exists():
            continue
        model = model or targets.model(oid)
        if not get_experiment(name).applicable(model):
            continue
        res = run_experiment(name, model, params.get(name), seed=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(res.model_dump_json())
        tmp.replace(path)


def _worker(suite_json: str, root: str, oid: str, names: list[str], params: Any, seed: int) -> str:
    """One organism in a worker process (plain arguments; one thread: two on two busy cores
    wait for each other)."""
    import torch

    from neurath.models._transformers import quiet_transformers
    from neurath.organisms._suite import Suite
    from neurath.testbed._store import OrganismStore

    torch.set_num_threads(1)
    quiet_transformers()
    _run_one(
        Targets(Suite.model_validate_json(suite_json), OrganismStore(root)),
        oid,
        names,
        params,
        seed,
    )
    return oid


def battery_results(
    targets: Targets,
    oids: list[str],
    params: Mapping[str, Mapping[str, Any]],
    seed: int,
    experiments: Iterable[str],
    say: BenchProgress = _quiet,
    jobs: int | None = None,
) -> dict[str, list[ExperimentResult]]:
    """The ``experiments`` on each organism, from the store's cache; what is missing runs first,
    in ``jobs`` processes (default: one per core, at most two; 1: in this process)."""
    from neurath.experiments._registry import get_experiment

    names = list(experiments)
    plain = {k: dict(v) for k, v in params.items()}
    missing = [
        oid for oid in oids if any(not _path(targets, oid, n, plain, seed).exists() for n in names)
    ]
    jobs = jobs or min(2, os.cpu_count() or 1)
    done = len(oids) - len(missing)
    if jobs > 1 and len(missing) > 1:
        suite_json, root = targets.suite.model_dump_json(), str(targets.store.root)
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(_worker, suite_json, root, oid, names, plain, seed) for oid in missing
            ]
            for future in as_completed(futures):
                say("battery", done, len(oids), targets.ids[future.result()])
                done += 1
    else:
        for oid in missing:
            say("battery", done, len(oids), targets.ids[oid])
            _run_one(targets, oid, names, plain, seed)
            done += 1
    out: dict[str, list[ExperimentResult]] = {}
    for oid in oids:
        out[oid] = []
        for name in names:
            path = _path(targets, oid, name, plain, seed)
            if path.exists():
                out[oid].append(ExperimentResult.model_validate_json(path.read_text()))
            elif get_experiment(name).applicable(targets.model(oid)):  # pragma: no cover
                raise RuntimeError(f"the battery left no result of {name} for {oid}")
    say("battery", len(oids), len(oids), "done")
    return out
