"""The audit log's events: one pydantic model per kind of action, a discriminated union.

Every entry of a run's audit log is one of these (``action`` is the discriminator, and the
rest of the model is the entry's ``data``), so what a run may write is declared in one place,
checked when it is written, and typed when it is read back. The on-disk form is the audit
log's (:mod:`neurath.research._audit`): the event's fields as ``data`` under its ``action``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from neurath.experiments._result import ExperimentResult


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- the run (written by the study) --------------------------------------------------------
class RunStarted(_Event):
    """A study began: what it is, who controls it, and the targets by opaque id."""

    action: Literal["run_started"] = "run_started"
    study: dict[str, Any]
    controller: str
    automation_level: int
    calibration: str
    targets: list[str]
    neurath_version: str
    organisms: str | None = None
    """The organism store the run was built and calibrated in (a resumed run uses it)."""
    seal_sha256: str | None = None
    """Hash of the run's seal (which organism each target is, and its key): a resumed run
    refuses a seal that differs."""
    told_which_scheme: bool = False
    """The controller is a red team and was told which targets scheme (the blind is broken
    on purpose, to measure what it can make look safe)."""
    floor: list[str] = Field(default_factory=list)
    """Experiments run on every target before the controller acted."""


class RunResumed(_Event):
    """An interrupted run continued; its finished results were read back from this log."""

    action: Literal["run_resumed"] = "run_resumed"
    results_replayed: int


class TailRepaired(_Event):
    """A resumed run found the log's last line torn (killed mid-write) and cut it off; the
    chain before it verified."""

    action: Literal["tail_repaired"] = "tail_repaired"
    entry: int
    size: int
    sha256: str


class ResearchDone(_Event):
    action: Literal["research_done"] = "research_done"
    spent: dict[str, int]


class TargetP(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    p: float
    p_naive: float


class Assessed(_Event):
    """Every target assessed (before any ground truth is read)."""

    action: Literal["assessed"] = "assessed"
    targets: dict[str, TargetP]


class Unsealed(_Event):
    """Ground truth read, after assessment: which organism each target was."""

    action: Literal["unsealed"] = "unsealed"
    targets: dict[str, dict[str, Any]]


# -- a controller's actions ----------------------------------------------------------------
class ExperimentRequested(_Event):
    action: Literal["run_experiment"] = "run_experiment"
    target: str
    experiment: str
    params: dict[str, Any]
    seed: int


class SampleRequested(_Event):
    action: Literal["sample"] = "sample"
    target: str
    prompts: list[str]
    max_new_tokens: int


class FineTuneRequested(_Event):
    action: Literal["fine_tune"] = "fine_tune"
    target: str
    method: str
    steps: int
    test_n: int
    new_target: str


class RatersRequested(_Event):
    action: Literal["ask_raters"] = "ask_raters"
    target: str
    pool: str
    n: int


class Skipped(_Event):
    """An experiment a controller chose that did not fit the budget (nothing was spent)."""

    action: Literal["skip"] = "skip"
    target: str
    experiment: str
    reason: str


class Planned(_Event):
    """What the value-of-information controller chose next, and why."""

    action: Literal["plan"] = "plan"
    target: str
    experiment: str
    params: dict[str, Any]
    expected_gain_bits: float
    expected_cost: int


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str
    arguments: dict[str, Any]


class LLMTurn(_Event):
    """One model turn of the llm controller: what it said and the tools it called."""

    action: Literal["llm_turn"] = "llm_turn"
    text: str
    tool_calls: list[ToolCall]


# -- the environment's answers -------------------------------------------------------------
class Cost(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    queries: int = 0
    training_steps: int = 0
    ratings: int = 0


class DerivedTarget(BaseModel):
    """A target made in a run by fine-tuning another (rebuilt the same way on resume)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parent: str
    method: str
    steps: int
    seed: int


class ToolResult(_Event):
    """What a tool returned: everything needed to rebuild the environment's state on resume.

    ``result`` for ``run_experiment``; ``outputs`` for ``sample``; ``observation`` (the
    summary a controller was given) for ``fine_tune`` and ``ask_raters``, with ``derived``
    for the target a fine-tune made.
    """

    action: Literal["result"] = "result"
    tool: Literal["run_experiment", "sample", "fine_tune", "ask_raters"]
    target: str
    cost: Cost
    result: ExperimentResult | None = None
    outputs: list[str] | None = None
    observation: dict[str, Any] | None = None
    derived: DerivedTarget | None = None


AuditEvent = Annotated[
    RunStarted
    | RunResumed
    | TailRepaired
    | ResearchDone
    | Assessed
    | Unsealed
    | ExperimentRequested
    | SampleRequested
    | FineTuneRequested
    | RatersRequested
    | Skipped
    | Planned
    | LLMTurn
    | ToolResult,
    Field(discriminator="action"),
]
"""Any entry of a run's audit log."""

_ADAPTER: TypeAdapter[AuditEvent] = TypeAdapter(AuditEvent)


def parse_event(action: str, data: dict[str, Any]) -> AuditEvent:
    """An entry's event, typed (raises pydantic's ValidationError for an unknown or malformed
    one)."""
    return _ADAPTER.validate_python({**data, "action": action})
