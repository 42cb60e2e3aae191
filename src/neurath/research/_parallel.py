"""Where a research run's experiments compute: here, one at a time, or on an executor's
workers (a Ray cluster: :class:`neurath._ray.RayPool`), several at once.

The environment stays the one writer of the audit log and the ledger, and writes them in the
order the controller acts, whatever computes the experiments: each ``run_experiment`` call
checks, writes its request, waits for its result and writes it, as it does in one process.
What runs elsewhere is only the experiment itself, a function of what it is handed, which is
exactly what it is handed in one process (:class:`ExperimentRun`: the target's sealed loader,
the resolved parameters, the seed and the run's context), so its result is the same wherever
it runs. Experiments seed their own generators from that seed and never read global random
state; the probe's caches of reference features and fits are keyed by content, so a worker
that fills its own computes what this process would have.

A controller that knows its next actions (the scripted plan, the floor) says so with
:func:`prefetch`: those experiments start on the workers while earlier results are still
being written, at most :attr:`ExperimentRunner.window` at a time and only as many as the
budget left is expected to pay for. A prefetched result is used only when the controller asks
for that very run (same target, experiment, resolved parameters and seed), after every check
and the request entry, so an action the budget refuses is skipped exactly as in one process
and its prefetched result is dropped. A controller that does not prefetch still works: each
experiment runs as one task while the controller waits. A fine-tuned copy of a target exists
only in this process, so experiments on it compute here.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from neurath._errors import NeurathError
from neurath.experiments._registry import get_experiment, run_experiment
from neurath.experiments._result import ExperimentResult
from neurath.models._target import TargetModel

if TYPE_CHECKING:
    from neurath.research._environment import ResearchEnvironment

PlannedCall = tuple[str, str, Mapping[str, Any], int]
"""(target, experiment, parameters as a controller passes them, seed)."""


@dataclass(frozen=True)
class ExperimentRun:
    """One experiment as a worker computes it: what the experiment is given in-process (the
    target by its sealed loader), nothing more."""

    target: str
    """The opaque target id (the sealed model is named so)."""
    experiment: str
    params: Mapping[str, Any]
    """Resolved: the study's parameters, the caller's over them, then the defaults."""
    seed: int
    context: Mapping[str, Any]
    """What the run's experiments are given beyond parameters (``references``)."""
    load: Callable[[], TargetModel] | None
    """The target's sealed loader; None: the target exists only in this process."""

    @property
    def key(self) -> str:
        """What makes two runs the same run (their results are then equal)."""
        what = [self.target, self.experiment, dict(self.params), self.seed]
        return json.dumps(what, sort_keys=True, default=repr)


def compute(run: ExperimentRun) -> ExperimentResult:
    """A worker's task: load the target and run the experiment (as
    :func:`~neurath.experiments.run_experiment` does in one process)."""
    if run.load is None:
        raise NeurathError(f"target {run.target!r} cannot be loaded outside the driver")
    return run_experiment(
        run.experiment, run.load(), run.params, seed=run.seed, context=run.context
    )


@dataclass
class ExperimentRunner:
    """Computes a research environment's experiments: here (no executor), or on an executor.

    Args:
        executor: Where experiments compute (None: in this process, on the environment's
            loaded model, one at a time). The runner does not shut it down.
        window: Prefetched experiments in flight at most (default: twice the executor's
            ``max_workers``, else 4).
    """

    executor: Executor | None = None
    window: int = 0
    _planned: deque[ExperimentRun] = field(default_factory=deque)
    _pending: dict[str, Future[ExperimentResult]] = field(default_factory=dict)
    _costs: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.window <= 0:
            self.window = 2 * int(getattr(self.executor, "max_workers", 2) or 2)

    def run(
        self, env: ResearchEnvironment, run: ExperimentRun, model: TargetModel
    ) -> ExperimentResult:
        """The result of ``run`` (on ``model``, the environment's loaded target, when it
        computes here): prefetched, computed on the executor, or computed now."""
        future = self._pending.pop(run.key, None)
        self._costs.pop(run.key, None)
        if future is None and self.executor is not None and run.load is not None:
            future = self.executor.submit(compute, run)
        self._fill(env)
        if future is None:
            return run_experiment(
                run.experiment, model, run.params, seed=run.seed, context=run.context
            )
        return future.result()

    def plan(self, env: ResearchEnvironment, calls: Iterable[PlannedCall]) -> None:
        """Replace the runs to start ahead with ``calls`` (see :func:`prefetch`)."""
        if self.executor is None:
            return
        self._planned.clear()
        for target, experiment, params, seed in calls:
            run = _planned_run(env, target, experiment, params, seed)
            if run is not None and run.key not in self._pending:
                self._planned.append(run)
        self._fill(env)

    def _fill(self, env: ResearchEnvironment) -> None:
        """Start planned runs while fewer than :attr:`window` are in flight and the budget
        left, less what those in flight are expected to take, pays for them."""
        if self.executor is None:
            return
        left = env.remaining()["queries"]
        if left is not None:
            left -= sum(self._costs.values())
        while self._planned and len(self._pending) < self.window:
            run = self._planned.popleft()
            if run.key in self._pending:
                continue
            cost = env.estimate(run.experiment, run.params)
            if left is not None:
                if cost > left:
                    continue  # the controller will likely skip it; if not, it runs then
                left -= cost
            self._pending[run.key] = self.executor.submit(compute, run)
            self._costs[run.key] = cost

    def close(self) -> None:
        """Drop what was planned and cancel prefetched runs nobody asked for."""
        self._planned.clear()
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        self._costs.clear()


def _planned_run(
    env: ResearchEnvironment, target: str, experiment: str, params: Mapping[str, Any], seed: int
) -> ExperimentRun | None:
    """The run ``env.run_experiment(target, experiment, params, seed=seed)`` would compute,
    or None when it would compute here or be refused (the call itself then says why)."""
    load = env.targets.get(target)
    if load is None or experiment not in env.experiments():
        return None
    try:
        merged = {**env.params.get(experiment, {}), **params}
        resolved = get_experiment(experiment).validate(merged, env.context)
    except NeurathError:
        return None
    return ExperimentRun(target, experiment, resolved, seed, dict(env.context), load)


def prefetch(env: ResearchEnvironment, calls: Iterable[PlannedCall]) -> None:
    """Tell the environment the experiments a controller will run next, in order, so that
    they can start on the workers now (nothing happens when experiments compute here).

    A hint only: nothing is written or spent until the controller makes each call, and a
    call that differs from the plan, or comes without one, computes when it is made.
    """
    env.runner.plan(env, calls)
