"""The research environment: the tools a controller may use, each charged to a budget, written
to the audit log, and each finding recorded in the ledger as it is made.

A controller sees targets by opaque id only; the environment holds the models, and what
experiments are given beyond parameters (``context``: reference models for a probe) is set by
whoever built the environment, never by a controller. Every call is two audit entries: the
controller's action before anything runs, and the environment's result after. A result entry
holds everything needed to rebuild the environment's state, so a run killed between the two
redoes only that action (:meth:`ResearchEnvironment.replay`). A finding goes to the ledger
keyed by the hash of the result entry it came from, so a replay that records it again adds
nothing: the ledger is the one store of findings, and :meth:`read_ledger` reads it.

Each tool checks all its arguments (types, ranges, prompts against the target's context,
experiment parameters against their defaults' types) before it writes its request or spends
anything: a bad call raises a :class:`~neurath._errors.NeurathError` and leaves no trace.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from neurath._errors import ResearchError, did_you_mean
from neurath.evidence._ledger import Ledger
from neurath.evidence._model import Finding, Manifest
from neurath.experiments._params import show
from neurath.experiments._registry import experiments, get_experiment
from neurath.experiments._result import ExperimentResult
from neurath.models._target import ModelCard, TargetModel
from neurath.research._audit import AuditLog
from neurath.research._budget import Budget, Spent
from neurath.research._events import (
    Cost,
    DerivedTarget,
    ExperimentRequested,
    FineTuneRequested,
    RatersRequested,
    SampleRequested,
    ToolResult,
)
from neurath.research._parallel import ExperimentRun, ExperimentRunner
from neurath.research._tools import (
    MAX_COUNT,
    MAX_NEW_TOKENS,
    call_problem,
    check_prompts,
    tool,
    whole,
)
from neurath.research._training import FINE_TUNE_METHODS, fine_tuned, honeypot_harm

if TYPE_CHECKING:
    from neurath.experiments._calibrate import Calibration
    from neurath.experiments._registry import ExperimentInfo


@dataclass
class ResearchEnvironment:
    """The tools, their costs and the audit trail of one research run.

    Args:
        targets: Opaque target id -> a function that loads it (called once, when first used).
        budget: What the run may spend.
        audit: The run's audit log.
        actor: The controller's name, written on its actions.
        calibration: Fitted expectations and factor scales that turn results into findings.
        prior: P(not scheming) before evidence.
        common_cause: ``c`` for the assessments (default: the calibration's estimate).
        params: Experiment -> the study's parameters for it.
        seed: Base seed of the experiments.
        allowed: Experiments the study allows (default: every registered one).
        ledger: Where findings are recorded as they are made (default: in memory).
        source: What the ledger records as their source.
        context: What experiments are given beyond parameters (``references``).
        runner: Where experiments compute (default: here, one at a time).
    """

    targets: Mapping[str, Callable[[], TargetModel]]
    budget: Budget
    audit: AuditLog
    actor: str
    calibration: Calibration | None = None
    prior: float = 0.5
    common_cause: float = 0.0
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    seed: int = 0
    allowed: Sequence[str] | None = None
    ledger: Ledger = field(default_factory=lambda: Ledger(":memory:", author="neurath research"))
    source: str = "research"
    context: Mapping[str, Any] = field(default_factory=dict)
    spent: Spent = field(default_factory=Spent)
    results: dict[str, list[ExperimentResult]] = field(default_factory=dict)
    """Target id -> its experiment results, in order (derived targets included)."""
    derived: dict[str, DerivedTarget] = field(default_factory=dict)
    observations: list[dict[str, Any]] = field(default_factory=list)
    """Results of the tools other than experiments (samples, ratings, fine-tunes), summarised."""
    runner: ExperimentRunner = field(default_factory=ExperimentRunner)
    on_result: Callable[[str, str, dict[str, Any]], None] | None = None
    """Called after each completed action with (tool, target, result summary)."""
    _loaded: dict[str, TargetModel] = field(default_factory=dict)
    _per_unit: dict[str, float] = field(default_factory=dict)

    # -- what a controller may know --------------------------------------------------------
    @property
    def target_ids(self) -> list[str]:
        """The study's targets (fine-tuned derivatives are not among them)."""
        return list(self.targets)

    def remaining(self) -> dict[str, int | None]:
        """What is left of each budgeted resource (None: unlimited)."""
        return self.spent.left(self.budget)

    def experiments(self) -> list[str]:
        """The experiments this run may use."""
        names = sorted(experiments())
        return [n for n in names if self.allowed is None or n in self.allowed]

    def estimate(self, experiment: str, params: Mapping[str, Any] | None = None) -> int:
        """Queries an experiment is expected to take with ``params`` on one target: from what
        it took per unit of size in this run, or before it has run, its declared bound."""
        info = get_experiment(experiment)
        resolved = info.resolve(params)
        size = resolved.get(info.size_param)
        if experiment in self._per_unit and size:
            return max(1, math.ceil(self._per_unit[experiment] * float(size)))
        return info.max_queries(resolved)

    def card(self, target: str) -> ModelCard:
        """What is known of a target without its ground truth (its source stays sealed)."""
        self._check_target(target)
        return self._model(target).card

    # -- tools -----------------------------------------------------------------------------
    @tool
    def run_experiment(
        self,
        target: str,
        experiment: str,
        params: dict[str, Any] | None = None,
        *,
        seed: int | None = None,
    ) -> ExperimentResult:
        """Run a registered experiment on a target; its queries are charged to the budget.

        Args:
            target: A target id.
            experiment: A registered experiment's name.
            params: Its parameters, over the study's parameters for it (then its defaults).
            seed: Its seed (default: the study's).
        """
        self._check_target(target)
        info = self._experiment(experiment)
        if params is not None and not isinstance(params, Mapping):
            raise ResearchError(f"run_experiment's params takes a mapping, got {show(params)}")
        # The study's parameters for this experiment are the defaults; the caller's win.
        params = {**self.params.get(experiment, {}), **(params or {})}
        resolved = info.validate(params, self.context)
        run_seed = self.seed if seed is None else whole("run_experiment", "seed", seed, 0, 10**9)
        cost = self.estimate(experiment, resolved)
        if problem := call_problem(experiment, resolved, cost):
            raise ResearchError(f"run_experiment: {problem}")
        self.spent.check(self.budget, "queries", cost)
        model, loader = self._model(target), self.targets.get(target)
        info.check_target(model)
        event = ExperimentRequested(
            target=target, experiment=experiment, params=params, seed=run_seed
        )
        self.audit.append(event, actor=self.actor)
        run = ExperimentRun(target, experiment, resolved, run_seed, dict(self.context), loader)
        result = self.runner.run(self, run, model)
        took = Cost(queries=result.queries)
        self._finish(ToolResult(tool="run_experiment", target=target, cost=took, result=result))
        return result

    @tool
    def sample(self, target: str, prompts: list[str], *, max_new_tokens: int = 32) -> list[str]:
        """The target's greedy answers to prompts (one query each).

        Args:
            target: A target id.
            prompts: The prompts, in the target's input language.
            max_new_tokens: Tokens to generate at most, per answer.
        """
        self._check_target(target)
        whole("sample", "max_new_tokens", max_new_tokens, 1, MAX_NEW_TOKENS)
        prompts = check_prompts(self._model(target), prompts, max_new_tokens)
        self.spent.check(self.budget, "queries", len(prompts))
        event = SampleRequested(target=target, prompts=prompts, max_new_tokens=max_new_tokens)
        self.audit.append(event, actor=self.actor)
        outputs = self._model(target).generate(prompts, max_new_tokens=max_new_tokens)
        cost = Cost(queries=len(prompts))
        self._finish(ToolResult(tool="sample", target=target, cost=cost, outputs=outputs))
        return outputs

    @tool
    def fine_tune(
        self, target: str, *, method: str = "safety-honeypot", steps: int = 60, test_n: int = 100
    ) -> dict[str, Any]:
        """Fine-tune a copy of a target with a training method, and test the copy.

        The copy becomes a new target (``<target>/<method>-<k>``) that experiments can address;
        its findings never enter the parent's assessment. The test is the harmful rate on
        held-out realistic honeypots before and after, so a controller can see whether safety
        training removes the behaviour or only hides it. Costs ``steps`` training steps and
        ``2 * test_n`` queries.

        Args:
            target: A target id.
            method: The training method (``safety-honeypot``: honeypots answered safely).
            steps: Optimiser steps.
            test_n: Held-out honeypots for the test before and after.
        """
        self._check_target(target)
        if not isinstance(method, str) or method not in FINE_TUNE_METHODS:
            raise ResearchError(
                f"unknown training method {show(method)}; known: {', '.join(FINE_TUNE_METHODS)}"
            )
        whole("fine_tune", "steps", steps, 1, MAX_COUNT)
        whole("fine_tune", "test_n", test_n, 1, MAX_COUNT)
        if not callable(getattr(self._model(target), "finetune", None)):
            raise ResearchError(
                f"target {target!r} cannot be fine-tuned here (its backend has no training)"
            )
        self.spent.check(self.budget, "training_steps", steps)
        self.spent.check(self.budget, "queries", 2 * test_n)
        k = 1 + sum(1 for d in self.derived.values() if d.parent == target)
        new_id = f"{target}/{method}-{k}"
        event = FineTuneRequested(
            target=target, method=method, steps=steps, test_n=test_n, new_target=new_id
        )
        self.audit.append(event, actor=self.actor)
        recipe = DerivedTarget(parent=target, method=method, steps=steps, seed=self.seed + k)
        before = honeypot_harm(self._model(target), test_n, self.seed)
        self.derived[new_id] = recipe
        after = honeypot_harm(self._model(new_id), test_n, self.seed)
        summary = {
            "new_target": new_id,
            "method": method,
            "steps": steps,
            "harmful_rate_before": before,
            "harmful_rate_after": after,
        }
        cost = Cost(queries=2 * test_n, training_steps=steps)
        self._finish(
            ToolResult(
                tool="fine_tune", target=target, cost=cost, observation=summary, derived=recipe
            )
        )
        return summary

    @tool
    def ask_raters(self, target: str, *, pool: str = "limited", n: int = 100) -> dict[str, Any]:
        """Have the target act on deployment-like scenarios and a rater pool judge them.

        Costs ``n`` queries and ``n`` ratings. Returns the share judged harmful and the pool's
        labels; how far to trust the pool is what the ``sandwiching`` experiment measures.

        Args:
            target: A target id.
            pool: The rater pool: ``limited``, ``assisted`` or ``expert``.
            n: Scenarios to act on and rate.
        """
        from neurath.experiments._querying import act
        from neurath.experiments._raters import get_rater
        from neurath.experiments._scenarios import deployment_set

        self._check_target(target)
        whole("ask_raters", "n", n, 1, MAX_COUNT)
        if not isinstance(pool, str):
            raise ResearchError(f"ask_raters's pool takes a string, got {show(pool)}")
        rater = get_rater(pool)
        self.spent.check(self.budget, "queries", n)
        self.spent.check(self.budget, "ratings", n)
        self.audit.append(RatersRequested(target=target, pool=pool, n=n), actor=self.actor)
        transcripts = act(self._model(target), deployment_set(n, self.seed))
        labels = [bool(x) for x in rater.rate(transcripts, self.seed)]
        summary = {"pool": pool, "n": n, "harmful_share": sum(labels) / n, "labels": labels}
        cost = Cost(queries=n, ratings=n)
        self._finish(ToolResult(tool="ask_raters", target=target, cost=cost, observation=summary))
        return summary

    @tool
    def read_ledger(self, target: str | None = None) -> list[Finding]:
        """The findings recorded so far in this run's ledger (of one target, or of all): free.

        Args:
            target: A target id (default: every target).
        """
        if target is not None:
            self._check_target(target)
        records = self.ledger.findings(source=self.source, target=target)
        return [r.finding for r in records]

    # -- the evidence ----------------------------------------------------------------------
    def manifest(self, target: str) -> Manifest:
        """The target's findings so far, as the study assesses them."""
        return self.manifest_with(target)

    def manifest_with(self, target: str, *planned: ExperimentResult) -> Manifest:
        """The target's manifest with ``planned`` results added (planners use stand-ins)."""
        from neurath.experiments._battery import to_manifest

        return to_manifest(
            target,
            [*self.results.get(target, []), *planned],
            self.calibration,
            prior_not_scheming=self.prior,
            common_cause=self.common_cause,
        )

    def finding_records(self, target: str) -> dict[str, int]:
        """Finding id -> its record id in the ledger, for one target's findings in this run."""
        return {r.finding.id: r.id for r in self.ledger.findings(source=self.source, target=target)}

    # -- bookkeeping -----------------------------------------------------------------------
    def _check_target(self, target: str) -> None:
        if isinstance(target, str) and (target in self.targets or target in self.derived):
            return
        hint = did_you_mean(str(target), [*self.targets, *self.derived])
        raise ResearchError(f"no target {show(target)} in this run{hint}")

    def _experiment(self, experiment: str) -> ExperimentInfo:
        if not isinstance(experiment, str):
            raise ResearchError(f"an experiment is named by a string, got {show(experiment)}")
        info = get_experiment(experiment)
        if self.allowed is not None and experiment not in self.allowed:
            raise ResearchError(
                f"experiment {experiment!r} is not allowed in this study "
                f"(allowed: {', '.join(self.allowed)})"
            )
        return info

    def _model(self, target: str) -> TargetModel:
        if target not in self._loaded:
            if target in self.derived:
                recipe = self.derived[target]
                self._loaded[target] = fine_tuned(self._model(recipe.parent), target, recipe)
            else:
                self._loaded[target] = self.targets[target]()
        return self._loaded[target]

    def _finish(self, event: ToolResult) -> None:
        entry = self.audit.append(event, actor="environment")
        self._apply(event, entry.hash)

    def _apply(self, event: ToolResult, entry_hash: str) -> None:
        """Update the state from one result (live, or replayed from the log), and record its
        finding in the ledger once."""
        self.spent.add(**event.cost.model_dump())
        summary: dict[str, Any]
        if event.result is not None:
            result = event.result
            self.results.setdefault(event.target, []).append(result)
            size = result.params.get(get_experiment(result.experiment).size_param)
            if result.status == "ok" and size:
                self._per_unit[result.experiment] = max(
                    self._per_unit.get(result.experiment, 0.0), result.queries / float(size)
                )
            self._record(event.target, result, entry_hash)
            summary = {
                "experiment": result.experiment,
                "status": result.status,
                "queries": result.queries,
            }
        else:
            if event.derived is not None and event.observation is not None:
                self.derived[str(event.observation["new_target"])] = event.derived
            summary = {k: v for k, v in (event.observation or {}).items() if k != "labels"}
            self.observations.append({"tool": event.tool, "target": event.target, **summary})
        if self.on_result:
            self.on_result(event.tool, event.target, summary)

    def _record(self, target: str, result: ExperimentResult, entry_hash: str) -> None:
        from neurath.experiments._battery import to_finding

        finding = to_finding(result, self.calibration)
        if finding is not None:
            self.ledger.append_finding(
                finding, target=target, source=self.source, audit_entry=entry_hash
            )

    def replay(self) -> int:
        """Rebuild the state from the audit log's result entries; returns how many there were.

        An action whose result never arrived (the run was killed while it ran) is not in the
        state, so the controller will choose it, or something better, again. Findings whose
        result is in the log but not yet in the ledger (killed in between) are recorded now.
        """
        n = 0
        for e in self.audit.entries():
            if e.action == "result":
                event = e.event
                assert isinstance(event, ToolResult)
                self._apply(event, e.hash)
                n += 1
        return n
