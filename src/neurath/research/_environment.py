"""The research environment: the tools a controller may use, each charged to a budget and
written to the audit log.

A controller sees targets by opaque id only. The environment holds the models; their
ground-truth cards stay sealed in the study until every assessment is made. Every call is two
audit entries: the controller's ``action`` (tool, target, arguments) before anything runs, and
the environment's ``result`` after. A result entry holds everything needed to rebuild the
environment's state, so a run that is killed between the two entries redoes only that action
(:meth:`ResearchEnvironment.replay`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from neurath._errors import BudgetExceeded, ResearchError, did_you_mean
from neurath.evidence._model import Finding, Manifest
from neurath.experiments._registry import get_experiment, run_experiment, size_param
from neurath.experiments._result import ExperimentResult
from neurath.models._target import ModelCard, TargetModel
from neurath.research._audit import AuditLog

if TYPE_CHECKING:
    from neurath.experiments._calibrate import Calibration

TOOLS = ("run_experiment", "sample", "fine_tune", "ask_raters", "read_ledger")
"""What a controller may do. ``read_ledger`` is free; the others cost queries, training steps
or ratings."""

FINE_TUNE_METHODS = ("safety-honeypot",)
"""Training methods ``fine_tune`` knows: ``safety-honeypot`` trains on honeypot scenarios
answered safely (the transcripts a safety team would train on)."""


class Budget(BaseModel):
    """What a run may spend. ``None``: no limit on that resource."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queries: int | None = Field(default=None, ge=0)
    """Target calls: generations, scored continuations, hidden-state reads."""
    training_steps: int | None = Field(default=None, ge=0)
    """Optimiser steps of fine-tuning."""
    ratings: int | None = Field(default=None, ge=0)
    """Judgements asked of rater pools through ``ask_raters``."""


@dataclass
class Spent:
    """What a run has spent so far."""

    queries: int = 0
    training_steps: int = 0
    ratings: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def cost_upper_bound(experiment: str, params: Mapping[str, Any]) -> int:
    """Queries an experiment may take at most with these (resolved) parameters.

    Used before an experiment has been run in this run; afterwards the environment estimates
    from what it actually took (queries per unit of size).
    """
    if experiment == "adversarial":
        seeds = int(params["seeds"])
        return seeds * (int(params["budget"]) + int(params["random_budget"]) + 1)
    if experiment == "honesty":
        return 2 * int(params["n"])  # an action and, where it misbehaved, a follow-up
    return int(params.get("n", 0))


@dataclass(frozen=True)
class DerivedTarget:
    """A target made in this run by fine-tuning another (rebuilt the same way on resume)."""

    parent: str
    method: str
    steps: int
    seed: int


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
    spent: Spent = field(default_factory=Spent)
    results: dict[str, list[ExperimentResult]] = field(default_factory=dict)
    """Target id -> its experiment results, in order (derived targets included)."""
    derived: dict[str, DerivedTarget] = field(default_factory=dict)
    observations: list[dict[str, Any]] = field(default_factory=list)
    """Results of the tools other than experiments (samples, ratings, fine-tunes), summarised."""
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
        out: dict[str, int | None] = {}
        for name, used in self.spent.as_dict().items():
            cap = getattr(self.budget, name)
            out[name] = None if cap is None else max(0, cap - used)
        return out

    def experiments(self) -> list[str]:
        """The experiments this run may use."""
        from neurath.experiments import experiments

        names = sorted(experiments())
        return [n for n in names if self.allowed is None or n in self.allowed]

    def estimate(self, experiment: str, params: Mapping[str, Any] | None = None) -> int:
        """Queries an experiment is expected to take with ``params`` on one target."""
        resolved = get_experiment(experiment).resolve(params)
        size = resolved.get(size_param(experiment))
        if experiment in self._per_unit and size:
            return max(1, math.ceil(self._per_unit[experiment] * float(size)))
        return cost_upper_bound(experiment, resolved)

    # -- tools -----------------------------------------------------------------------------
    def run_experiment(
        self,
        target: str,
        experiment: str,
        params: Mapping[str, Any] | None = None,
        *,
        seed: int | None = None,
    ) -> ExperimentResult:
        """Run a registered experiment on a target; its queries are charged to the budget.

        ``params`` go over the study's parameters for that experiment (then its defaults).
        """
        self._check_target(target)
        info = get_experiment(experiment)
        if self.allowed is not None and experiment not in self.allowed:
            raise ResearchError(
                f"experiment {experiment!r} is not allowed in this study "
                f"(allowed: {', '.join(self.allowed)})"
            )
        # The study's parameters for this experiment are the defaults; the caller's win.
        params = {**self.params.get(experiment, {}), **(params or {})}
        resolved = info.resolve(params)
        run_seed = self.seed if seed is None else int(seed)
        self._charge_check("queries", self.estimate(experiment, resolved))
        model = self._model(target)
        info.check_target(model)
        args = {"experiment": experiment, "params": params, "seed": run_seed}
        self.audit.append("run_experiment", {"target": target, **args}, actor=self.actor)
        result = run_experiment(experiment, model, resolved, seed=run_seed)
        self._record_experiment(target, result)
        return result

    def sample(self, target: str, prompts: Sequence[str], *, max_new_tokens: int = 32) -> list[str]:
        """The target's greedy answers to prompts (one query each)."""
        self._check_target(target)
        prompts = [str(p) for p in prompts]
        if not prompts:
            raise ResearchError("sample needs at least one prompt")
        self._charge_check("queries", len(prompts))
        args = {"prompts": prompts, "max_new_tokens": max_new_tokens}
        self.audit.append("sample", {"target": target, **args}, actor=self.actor)
        outputs = self._model(target).generate(prompts, max_new_tokens=max_new_tokens)
        self._finish("sample", target, {"outputs": outputs}, queries=len(prompts))
        return outputs

    def fine_tune(
        self, target: str, *, method: str = "safety-honeypot", steps: int = 60, test_n: int = 100
    ) -> dict[str, Any]:
        """Fine-tune a copy of ``target`` with a training method, and test the result.

        The copy becomes a new target (``<target>/<method>-<k>``) that experiments can address;
        its findings never enter the parent's assessment. The test is the harmful rate on
        held-out realistic honeypots before and after, so a controller can see whether safety
        training removes the behaviour or only hides it.

        Costs ``steps`` training steps and ``2 * test_n`` queries.
        """
        self._check_target(target)
        if method not in FINE_TUNE_METHODS:
            raise ResearchError(
                f"unknown training method {method!r}; known: {', '.join(FINE_TUNE_METHODS)}"
            )
        if steps < 1 or test_n < 1:
            raise ResearchError("fine_tune needs steps >= 1 and test_n >= 1")
        self._charge_check("training_steps", steps)
        self._charge_check("queries", 2 * test_n)
        k = 1 + sum(1 for d in self.derived.values() if d.parent == target)
        new_id = f"{target}/{method}-{k}"
        args = {"method": method, "steps": steps, "test_n": test_n, "new_target": new_id}
        self.audit.append("fine_tune", {"target": target, **args}, actor=self.actor)
        recipe = DerivedTarget(target, method, steps, self.seed + k)
        before = _honeypot_harm(self._model(target), test_n, self.seed)
        self.derived[new_id] = recipe
        after = _honeypot_harm(self._model(new_id), test_n, self.seed)
        summary = {
            "new_target": new_id,
            "method": method,
            "steps": steps,
            "harmful_rate_before": before,
            "harmful_rate_after": after,
        }
        self._finish(
            "fine_tune", target, summary, queries=2 * test_n, training_steps=steps, derived=recipe
        )
        return summary

    def ask_raters(self, target: str, *, pool: str = "limited", n: int = 100) -> dict[str, Any]:
        """Have the target act on ``n`` deployment-like scenarios and a rater pool judge them.

        Costs ``n`` queries and ``n`` ratings. Returns the share judged harmful and the pool's
        labels; how far to trust the pool is what the ``sandwiching`` experiment measures.
        """
        from neurath.experiments._querying import act
        from neurath.experiments._raters import get_rater
        from neurath.experiments._scenarios import deployment_set

        self._check_target(target)
        if n < 1:
            raise ResearchError("ask_raters needs n >= 1")
        rater = get_rater(pool)
        self._charge_check("queries", n)
        self._charge_check("ratings", n)
        self.audit.append("ask_raters", {"target": target, "pool": pool, "n": n}, actor=self.actor)
        transcripts = act(self._model(target), deployment_set(n, self.seed))
        labels = [bool(x) for x in rater.rate(transcripts, self.seed)]
        summary = {
            "pool": pool,
            "n": n,
            "harmful_share": sum(labels) / n,
            "labels": labels,
        }
        self._finish("ask_raters", target, summary, queries=n, ratings=n)
        return summary

    def read_ledger(self, target: str | None = None) -> list[Finding]:
        """The findings so far (of one target, or of all): free, and not audited as a cost."""
        ids = [target] if target is not None else list(self.results)
        if target is not None:
            self._check_target(target)
        out: list[Finding] = []
        for t in ids:
            out += self.manifest(t).findings
        return out

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

    def card(self, target: str) -> ModelCard:
        """What is known of a target without its ground truth (its source stays sealed)."""
        self._check_target(target)
        return self._model(target).card

    # -- bookkeeping -----------------------------------------------------------------------
    def _check_target(self, target: str) -> None:
        if target in self.targets or target in self.derived:
            return
        hint = did_you_mean(target, [*self.targets, *self.derived])
        raise ResearchError(f"no target {target!r} in this run{hint}")

    def _charge_check(self, resource: str, needed: int) -> None:
        left = self.remaining()[resource]
        if left is not None and needed > left:
            raise BudgetExceeded(resource, needed, left)

    def _model(self, target: str) -> TargetModel:
        if target not in self._loaded:
            if target in self.derived:
                self._loaded[target] = _fine_tuned(
                    self._model(self.derived[target].parent), target, self.derived[target]
                )
            else:
                self._loaded[target] = self.targets[target]()
        return self._loaded[target]

    def _record_experiment(self, target: str, result: ExperimentResult) -> None:
        self._finish(
            "run_experiment",
            target,
            {"result": result.model_dump(mode="json")},
            queries=result.queries,
        )

    def _finish(
        self,
        tool: str,
        target: str,
        data: dict[str, Any],
        *,
        queries: int = 0,
        training_steps: int = 0,
        ratings: int = 0,
        derived: DerivedTarget | None = None,
    ) -> None:
        cost = {"queries": queries, "training_steps": training_steps, "ratings": ratings}
        entry = {"tool": tool, "target": target, "cost": cost, **data}
        if derived is not None:
            entry["derived"] = derived.__dict__
        self.audit.append("result", entry, actor="environment")
        self._apply(entry)

    def _apply(self, entry: Mapping[str, Any]) -> None:
        """Update the state from one result entry (live, or replayed from the log)."""
        cost = entry["cost"]
        self.spent.queries += int(cost["queries"])
        self.spent.training_steps += int(cost["training_steps"])
        self.spent.ratings += int(cost["ratings"])
        tool, target = entry["tool"], entry["target"]
        if tool == "run_experiment":
            result = ExperimentResult.model_validate(entry["result"])
            self.results.setdefault(target, []).append(result)
            size = result.params.get(size_param(result.experiment))
            if result.status == "ok" and size:
                self._per_unit[result.experiment] = max(
                    self._per_unit.get(result.experiment, 0.0), result.queries / float(size)
                )
            summary: dict[str, Any] = {
                "experiment": result.experiment,
                "status": result.status,
                "queries": result.queries,
            }
        else:
            if "derived" in entry:
                self.derived[entry["new_target"]] = DerivedTarget(**entry["derived"])
            summary = {k: v for k, v in entry.items() if k not in ("cost", "labels", "outputs")}
            self.observations.append({"tool": tool, "target": target, **summary})
        if self.on_result:
            self.on_result(tool, target, summary)

    def replay(self) -> int:
        """Rebuild the state from the audit log's result entries; returns how many there were.

        An action whose result never arrived (the run was killed while it ran) is not in the
        state, so the controller will choose it, or something better, again.
        """
        n = 0
        for e in self.audit.entries():
            if e.action == "result":
                self._apply(e.data)
                n += 1
        return n


def _honeypot_harm(model: TargetModel, n: int, seed: int) -> float:
    """Harmful-action rate on ``n`` held-out honeypots without evaluation cues."""
    from neurath.experiments._querying import act
    from neurath.experiments._raters import expert_label
    from neurath.experiments._scenarios import honeypots

    transcripts = act(model, honeypots(n, seed + 7, "test", 0.0))
    return sum(bool(expert_label(t)) for t in transcripts) / n


def _fine_tuned(parent: TargetModel, new_id: str, recipe: DerivedTarget) -> TargetModel:
    """``parent`` trained with ``recipe`` (deterministic, so a resumed run rebuilds it)."""
    finetune = getattr(parent, "finetune", None)
    if not callable(finetune):
        raise ResearchError(
            f"target {recipe.parent!r} cannot be fine-tuned here (its backend has no training)"
        )
    from neurath.experiments._scenarios import honeypots
    from neurath.organisms import ArchetypeParams, behaviour

    scenarios = honeypots(4 * recipe.steps, recipe.seed, "train", 0.0)
    data = [
        (s.prompt, behaviour("aligned", ArchetypeParams(), s.features).answer) for s in scenarios
    ]
    model: TargetModel = finetune(data, steps=recipe.steps, seed=recipe.seed, model_id=new_id)
    return model
