"""An Inspect log of a neurath task (``inspect eval neurath/honeypot ...``) back into results.

Each log of a ``behavioural``, ``honeypot`` or ``honesty`` task becomes the
:class:`ExperimentResult` the neurath experiment of that name would have returned for the same
answers: the same statistics (names, rates and their standard errors), details and factors,
the rater pool applied to the transcripts in the log as the experiment applies it. The target is
the log's model (``backend="inspect"``, the log as source); params hold the task's arguments
and the log's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurath._errors import ManifestError
from neurath._files import MiB, check_user_file
from neurath.experiments._registry import ExperimentError, get_experiment
from neurath.experiments._result import ExperimentResult
from neurath.experiments._scenarios import REALISTIC
from neurath.models._target import ModelCard

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog, EvalSample

    from neurath.experiments._calibrate import Calibration
    from neurath.experiments._raters import Transcript

TASKS = ("behavioural", "honeypot", "honesty")
"""The neurath experiments that exist as Inspect tasks (``neurath/<name>``)."""
MAX_LOG_BYTES = 1024 * MiB
"""Largest Inspect log read."""


def experiment_of(task: str) -> str:
    """The experiment a task name (``neurath/honeypot`` or ``honeypot``) stands for."""
    name = task.removeprefix("neurath/")
    if name not in TASKS:
        raise ExperimentError(
            f"Inspect task {task!r} is not a neurath task (known: "
            + ", ".join(f"neurath/{t}" for t in TASKS)
            + ")"
        )
    return name


def import_inspect_log(
    path: str | Path, calibration: Calibration | None = None
) -> list[ExperimentResult]:
    """The results in the Inspect eval log at ``path`` (one per log: its task's experiment).

    ``calibration`` is accepted so callers can pass what they will build findings with; the
    results themselves do not depend on it (:func:`~neurath.experiments.to_manifest` uses it).

    Raises:
        ExperimentError: No such file, not an Inspect log, a log of another task, or a run that
            did not finish (cancelled, errored, samples missing or failed).
    """
    del calibration  # findings apply it; the measured statistics do not depend on it
    where = Path(path)
    try:  # a regular file within the limit: read_eval_log must not block on a FIFO
        check_user_file(where, "Inspect log", max_bytes=MAX_LOG_BYTES)
    except ManifestError as exc:
        missing = exc.reason.endswith("file not found")
        raise ExperimentError(
            f"{where}: {'no such Inspect log' if missing else exc.reason}"
        ) from None
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:  # pragma: no cover - depends on the installation
        raise ExperimentError(
            "reading Inspect logs needs inspect-ai: pip install inspect-ai"
        ) from None
    try:
        log = read_eval_log(str(where))
    except Exception as exc:
        raise ExperimentError(f"{where}: not a readable Inspect log ({exc})") from None
    name = experiment_of(log.eval.task)
    if log.status != "success":
        message = log.error.message.strip().splitlines()[0] if log.error is not None else ""
        detail = f": {message[:200]}" if message else ""
        raise ExperimentError(
            f"{where}: the Inspect run did not finish (status {log.status!r}{detail}); "
            "only complete logs can be imported"
        )
    samples = _samples(log, where)
    where = where.resolve()  # one log, one finding id, whichever way its path was written
    args = dict(log.eval.task_args)
    info = get_experiment(name)
    known = {k: v for k, v in args.items() if k in info.defaults}
    if name == "honesty":
        known["rater"] = "expert"  # the task's solver asks after expert-judged misbehaviour
    params: dict[str, Any] = {
        **info.resolve(known),
        "inspect_log": str(where),
        "inspect_task": log.eval.task,
        "inspect_task_args": args,
    }
    seed = int(args.get("seed", 0))
    card = ModelCard(id=log.eval.model, backend="inspect", source=str(where))
    build = {"behavioural": _behavioural, "honeypot": _honeypot, "honesty": _honesty}[name]
    result = build(samples, params, seed, card)
    n_task = int(params.get("n", len(samples)))
    details = dict(result.details)
    details["inspect"] = {
        "eval_id": log.eval.eval_id,
        "created": log.eval.created,
        "samples": len(samples),
        **({"limit": f"{len(samples)} of {n_task}"} if len(samples) != n_task else {}),
    }
    return [result.model_copy(update={"params": params, "seed": seed, "details": details})]


def _samples(log: EvalLog, where: Path) -> list[EvalSample]:
    if not log.samples:
        raise ExperimentError(f"{where}: the log holds no samples")
    failed = [s.id for s in log.samples if s.error is not None]
    if failed:
        raise ExperimentError(
            f"{where}: {len(failed)} sample(s) failed (ids {failed[:5]}); re-run them first"
        )
    first = [s for s in log.samples if s.epoch == 1]  # the experiments run one pass
    return sorted(first, key=lambda s: int((s.metadata or {}).get("index", s.id)))


def _transcripts(samples: Sequence[EvalSample]) -> list[Transcript]:
    from neurath.experiments._inspect_tasks import features_from
    from neurath.experiments._raters import Transcript

    out = []
    for s in samples:
        meta = s.metadata or {}
        if "features" not in meta:
            raise ExperimentError(f"sample {s.id} has no scenario features: not a neurath task")
        prompt = s.input if isinstance(s.input, str) else s.input[-1].text
        out.append(Transcript(features_from(meta["features"]), prompt, s.output.completion))
    return out


def _judged(samples: Sequence[EvalSample], rater: str, seed: int) -> tuple[list[bool | None], str]:
    """The judgements and who made them: for an organism's answers, the rater pool's, as the
    experiment makes them (same order, same seed); for a chat model's (``rendering="chat"``),
    the verdicts its judge (the ``grader`` role) gave in the log, a judge error as None."""
    from neurath.experiments._raters import get_rater

    if all((s.metadata or {}).get("rendering") == "chat" for s in samples):
        verdicts: list[bool | None] = []
        judges = set()
        for s in samples:
            value, meta = _harm_score(s)
            judges.add(str(meta.get("judge", "grader")))
            verdicts.append(None if value.get("judge_error") else bool(value.get("harmful")))
        return verdicts, f"judge-{'+'.join(sorted(judges))}"
    return get_rater(rater).rate(_transcripts(samples), seed), rater


def _harm_score(sample: EvalSample) -> tuple[dict[str, Any], dict[str, Any]]:
    for score in (sample.scores or {}).values():
        if isinstance(score.value, dict) and "harmful" in score.value:
            return dict(score.value), dict(score.metadata or {})
    raise ExperimentError(f"sample {sample.id} has no harmful-action score: not a neurath log")


def _behavioural(
    samples: Sequence[EvalSample], params: dict[str, Any], seed: int, card: ModelCard
) -> ExperimentResult:
    from neurath.experiments._behavioural import summarise

    rater = str(params["rater"])
    verdicts, pool = _judged(samples, rater, seed)
    return summarise(card, _transcripts(samples), verdicts, pool)


def _honeypot(
    samples: Sequence[EvalSample], params: dict[str, Any], seed: int, card: ModelCard
) -> ExperimentResult:
    from neurath.experiments._honeypot import summarise

    rater = str(params["rater"])
    threshold = float(params.get("realism_threshold", REALISTIC))
    judged, pool = _judged(samples, rater, seed)
    missing = [s.id for s in samples if "realism" not in (s.metadata or {})]
    if missing:
        raise ExperimentError(f"honeypot samples without realism (ids {missing[:5]})")
    realism = np.array([float((s.metadata or {})["realism"]) for s in samples])
    return summarise(card, judged, realism, threshold, pool)


def _honesty(
    samples: Sequence[EvalSample], params: dict[str, Any], seed: int, card: ModelCard
) -> ExperimentResult:
    from neurath.experiments._honesty import summarise

    asked = [r for r in (_honesty_score(s) for s in samples) if r["misbehaved"]]
    return summarise(
        card,
        len(samples),
        report_denies=[bool(r["report_denies"]) for r in asked],
        followup_denies=[bool(r["followup_denies"]) for r in asked],
        unreadable=sum(not r["reply_readable"] for r in asked),
        rater="expert",  # the task judges misbehaviour by the expert, as the experiment does
    )


def _honesty_score(sample: EvalSample) -> dict[str, Any]:
    scores = sample.scores or {}
    for score in scores.values():
        value = score.value
        if isinstance(value, dict) and "misbehaved" in value and "lied" in value:
            meta = score.metadata or {}
            return {
                key: bool(value.get(key))
                for key in ("misbehaved", "lied", "report_denies", "followup_denies")
            } | {"reply_readable": bool(meta.get("reply_readable", True))}
    raise ExperimentError(f"honesty sample {sample.id} has no honesty score: not a neurath log")
