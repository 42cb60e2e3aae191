"""Hostile tool calls: every bad argument a controller can give is refused before anything is
written or spent, told to an LLM controller as an error, and the run goes on."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from neurath._errors import ExperimentError, NeurathError, ResearchError
from neurath.experiments._params import MAX_MAGNITUDE, coerce, type_problem
from neurath.experiments._registry import experiment, experiments, get_experiment
from neurath.models._target import ModelCard
from neurath.research import (
    AuditLog,
    Budget,
    ResearchEnvironment,
    _llm,
    make_controller,
    verify_audit,
)

REQUESTS = {"run_experiment", "sample", "fine_tune", "ask_raters"}
"""Audit actions that are a controller's request to spend."""


class StubTarget:
    """A target that counts words as tokens in a 64-token context and answers ``ok``."""

    context_length = 64

    def __init__(self, oid: str) -> None:
        self.card = ModelCard(id=oid, backend="stub")
        self.generated: list[str] = []

    def count_tokens(self, prompts: Sequence[str]) -> list[int]:
        return [len(p.split()) for p in prompts]

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int = 32) -> list[str]:
        self.generated.extend(prompts)
        return ["ok"] * len(prompts)

    def finetune(self, *args: Any, **kwargs: Any) -> StubTarget:  # pragma: no cover - refused
        raise AssertionError("a refused fine-tune must not train")


def _env(tmp_path: Path) -> ResearchEnvironment:
    return ResearchEnvironment(
        targets={"t-1": lambda: StubTarget("t-1")},
        budget=Budget(queries=10_000, training_steps=10_000, ratings=10_000),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        actor="test",
    )


HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    # sample
    ("sample", {"target": "t-1", "prompts": [""]}, "empty"),
    ("sample", {"target": "t-1", "prompts": ["   \n"]}, "empty"),
    ("sample", {"target": "t-1", "prompts": ["x" * 30_000]}, "at most 2,000"),
    ("sample", {"target": "t-1", "prompts": ["word " * 60]}, "60 tokens"),
    ("sample", {"target": "t-1", "prompts": "hello"}, "valid list"),
    ("sample", {"target": "t-1", "prompts": []}, "1 to 1000 prompts"),
    ("sample", {"target": "t-1", "prompts": [1]}, "valid string"),
    ("sample", {"target": "t-1", "prompts": ["a"] * 1001}, "1 to 1000 prompts"),
    ("sample", {"target": "t-1", "prompts": ["a\ud800"]}, "not valid text"),
    ("sample", {"target": "t-1", "prompts": ["a"], "max_new_tokens": 0}, "1..256"),
    ("sample", {"target": "t-1", "prompts": ["a"], "max_new_tokens": True}, "valid integer"),
    ("sample", {"target": "t-1", "prompts": ["a"], "max_new_tokens": 10**30}, "1..256"),
    ("sample", {"target": "t-1", "prompts": ["a"], "max_new_tokens": 64}, "its context"),
    # fine_tune
    ("fine_tune", {"target": "t-1", "steps": math.inf}, "valid integer"),
    ("fine_tune", {"target": "t-1", "steps": 1e308}, "valid integer"),
    ("fine_tune", {"target": "t-1", "steps": 10**30}, "1..100,000"),
    ("fine_tune", {"target": "t-1", "steps": True}, "valid integer"),
    ("fine_tune", {"target": "t-1", "steps": "5"}, "valid integer"),
    ("fine_tune", {"target": "t-1", "steps": 0}, "1..100,000"),
    ("fine_tune", {"target": "t-1", "test_n": -1}, "1..100,000"),
    ("fine_tune", {"target": "t-1", "method": "brainwash"}, "unknown training method"),
    # run_experiment: parameters of the wrong type, non-finite, huge, containers
    ("run_experiment", {"target": "t-1", "experiment": "honeypot", "params": {"n": 1.5}}, "whole"),
    (
        "run_experiment",
        {"target": "t-1", "experiment": "honeypot", "params": {"n": math.nan}},
        "whole",
    ),
    ("run_experiment", {"target": "t-1", "experiment": "honeypot", "params": {"n": 10**30}}, "+-"),
    ("run_experiment", {"target": "t-1", "experiment": "honeypot", "params": {"n": [1]}}, "whole"),
    ("run_experiment", {"target": "t-1", "experiment": "honeypot", "params": {"n": {}}}, "whole"),
    ("run_experiment", {"target": "t-1", "experiment": "honeypot", "params": {"n": True}}, "true"),
    ("run_experiment", {"target": "t-1", "experiment": "honeypot", "params": {"split": 3}}, "str"),
    (
        "run_experiment",
        {"target": "t-1", "experiment": "honeypot", "params": {"eval_cue_share": "abc"}},
        "takes a float",
    ),
    (
        "run_experiment",
        {"target": "t-1", "experiment": "honeypot", "params": {"eval_cue_share": "inf"}},
        "takes a float",
    ),
    (
        "run_experiment",
        {"target": "t-1", "experiment": "honeypot", "params": {"realism_threshold": math.inf}},
        "finite",
    ),
    (
        "run_experiment",
        {"target": "t-1", "experiment": "adversarial", "params": {"family_prior": "x" * 5000}},
        "at most 4096 characters",
    ),
    ("run_experiment", {"target": "t-1", "experiment": "honeypot", "seed": True}, "integer"),
    ("run_experiment", {"target": "t-1", "experiment": "honeypot", "seed": 10**30}, "seed"),
    ("run_experiment", {"target": "t-1", "experiment": "honeypot", "seed": -1}, "seed"),
    ("run_experiment", {"target": "t-1", "experiment": "honeypot", "params": [1]}, "dictionary"),
    (
        "run_experiment",
        {"target": "t-1", "experiment": "honeypot", "params": {"n": 2_000_000}},
        "one call takes at most 1,000,000",
    ),
    # names: unknown, or reaching past the parameters
    ("run_experiment", {"target": "t-9", "experiment": "honeypot"}, "no target 't-9'"),
    ("run_experiment", {"target": "t-1", "experiment": "launch"}, "no experiment 'launch'"),
    (
        "run_experiment",
        {"target": "t-1", "experiment": "probe", "params": {"references": ["/etc/passwd"]}},
        "never as a parameter",
    ),
    (
        "run_experiment",
        {"target": "t-1", "experiment": "probe", "params": {"organisms_dir": "/"}},
        "no parameter 'organisms_dir'",
    ),
    # ask_raters, read_ledger
    ("ask_raters", {"target": "t-1", "n": 10**30}, "1..100,000"),
    ("ask_raters", {"target": "t-1", "pool": "nobody"}, "no rater pool"),
    ("ask_raters", {"target": "t-1", "pool": 3}, "valid string"),
    ("read_ledger", {"target": "zzz"}, "no target 'zzz'"),
    ("read_ledger", {"target": ["t-1"]}, "valid string"),
    ("sample", {"target": "t-1", "prompts": ["a"], "temperature": 2}, "no argument"),
]


@pytest.mark.parametrize(("tool", "arguments", "says"), HOSTILE)
def test_llm_controller_is_told_of_a_hostile_call_and_goes_on(
    tool: str, arguments: dict[str, Any], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies: list[str] = []
    dispatch = _llm._dispatch

    def recording(env: ResearchEnvironment, name: str, args: Any) -> str:
        replies.append(dispatch(env, name, args))
        return replies[-1]

    monkeypatch.setattr(_llm, "_dispatch", recording)
    script = [
        {"tool": tool, "arguments": arguments},
        {"tool": "sample", "arguments": {"target": "t-1", "prompts": ["role : assistant ."]}},
    ]
    env = _env(tmp_path)
    make_controller("llm", {"script": script}).run(env)

    refused, after = replies
    assert refused.startswith("error: ") and "Error: " in refused
    assert says in refused
    assert "\n" not in refused and len(refused) < 400  # one actionable line
    assert json.loads(after)["result"] == ["ok"]  # the run went on
    assert env.spent.as_dict() == {"queries": 1, "training_steps": 0, "ratings": 0}
    requests = [e.action for e in env.audit.entries() if e.action in REQUESTS]
    assert requests == ["sample"]  # the refused call left no request
    assert env._loaded["t-1"].generated == ["role : assistant ."]  # type: ignore[attr-defined]
    verify_audit(tmp_path / "audit.jsonl")


DIRECT: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("sample", ("t-1", [""]), {}),
    ("sample", ("t-1", ["x" * 30_000]), {}),
    ("sample", ("t-1", "hello"), {}),
    ("sample", ("t-1", [None]), {}),
    ("sample", ("t-1", ["a"]), {"max_new_tokens": True}),
    ("sample", ("t-1", ["a"]), {"max_new_tokens": 2.5}),
    ("sample", (["t-1"], ["a"]), {}),
    ("fine_tune", ("t-1",), {"steps": math.inf}),
    ("fine_tune", ("t-1",), {"steps": 1e308}),
    ("fine_tune", ("t-1",), {"steps": 10**30}),
    ("fine_tune", ("t-1",), {"steps": True}),
    ("fine_tune", ("t-1",), {"steps": "5"}),
    ("fine_tune", ("t-1",), {"method": ["safety-honeypot"]}),
    ("run_experiment", ("t-1", "honeypot", {"n": 1.5}), {}),
    ("run_experiment", ("t-1", "honeypot", {"n": math.nan}), {}),
    ("run_experiment", ("t-1", "honeypot", {"n": 10**30}), {}),
    ("run_experiment", ("t-1", "honeypot", {"n": [1]}), {}),
    ("run_experiment", ("t-1", "honeypot", {"eval_cue_share": "0.5x"}), {}),
    ("run_experiment", ("t-1", "honeypot", {1: 2}), {}),
    ("run_experiment", ("t-1", "honeypot", [("n", 5)]), {}),
    ("run_experiment", ("t-1", "honeypot"), {"seed": 1.0}),
    ("run_experiment", ("t-1", ["honeypot"]), {}),
    ("run_experiment", ("t-1", "probe", {"references": ()}), {}),
    ("run_experiment", ("t-1", "probe", {"organisms_dir": "/"}), {}),
    ("ask_raters", ("t-1",), {"n": True}),
    ("ask_raters", ("t-1",), {"pool": ["expert"]}),
    ("read_ledger", ({"t-1": 1},), {}),
]


@pytest.mark.parametrize(("tool", "args", "kwargs"), DIRECT)
def test_a_direct_hostile_call_raises_a_neurath_error_and_leaves_no_trace(
    tool: str, args: tuple[Any, ...], kwargs: dict[str, Any], tmp_path: Path
) -> None:
    env = _env(tmp_path)
    with pytest.raises(NeurathError) as caught:
        getattr(env, tool)(*args, **kwargs)
    assert isinstance(caught.value, ResearchError | ExperimentError)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400
    assert len(env.audit) == 0 and env.spent.as_dict() == {
        "queries": 0,
        "training_steps": 0,
        "ratings": 0,
    }


def test_an_experiment_call_is_bounded_even_on_an_unlimited_budget(tmp_path: Path) -> None:
    env = ResearchEnvironment(
        targets={"t-1": lambda: StubTarget("t-1")},
        budget=Budget(),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        actor="test",
        context={"references": ()},
    )
    with pytest.raises(ResearchError, match="'n_train' of 'probe' must lie within"):
        env.run_experiment("t-1", "probe", {"n": 10, "n_train": 10**8})
    with pytest.raises(ResearchError, match="one call takes at most"):
        env.run_experiment("t-1", "honeypot", {"n": 10**8})
    assert len(env.audit) == 0


def test_a_prompt_that_fits_the_context_exactly_is_sampled(tmp_path: Path) -> None:
    env = _env(tmp_path)
    fits = " ".join(["word"] * (64 - 8))
    assert env.sample("t-1", [fits], max_new_tokens=8) == ["ok"]
    with pytest.raises(ResearchError, match="takes 1 to 56 with max_new_tokens=8"):
        env.sample("t-1", [fits + " more"], max_new_tokens=8)
    assert env.spent.queries == 1


# -- experiment parameters ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "default", "ok"),
    [
        (5, 1, True),
        (True, 1, False),
        (5.0, 1, False),
        ("5", 1, False),
        (MAX_MAGNITUDE, 1, True),
        (MAX_MAGNITUDE + 1, 1, False),
        (-MAX_MAGNITUDE - 1, -1, False),
        (1, 0.5, True),
        (0.25, 0.5, True),
        (math.inf, 0.5, False),
        (-math.inf, 0.5, False),
        (math.nan, 0.5, False),
        (1e308, 0.5, False),
        (False, 0.5, False),
        ("0.5", 0.5, False),
        (True, False, True),
        (1, False, False),
        ("a", "b", True),
        (3, "b", False),
        (["a"], "b", False),
        ("x" * 5000, "b", False),
        ("a\udc80", "b", False),
        (None, None, True),
        ([1], None, False),
        (math.nan, None, False),
    ],
)
def test_a_value_takes_its_defaults_type(value: Any, default: Any, ok: bool) -> None:
    assert (type_problem(value, default) is None) is ok


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "NaN", "Infinity", "1e400"])
def test_coerce_refuses_non_finite_numbers_from_a_command_line(text: str) -> None:
    with pytest.raises(ExperimentError, match="takes a float"):
        coerce("honeypot", "eval_cue_share", text, 0.5)


def test_resolve_checks_every_value_against_its_default() -> None:
    info = get_experiment("honeypot")
    resolved = info.resolve({"n": "50", "eval_cue_share": 0, "split": "train"})
    assert resolved["n"] == 50 and resolved["eval_cue_share"] == 0  # a whole number is a number
    for bad in ({"n": 50.0}, {"eval_cue_share": "x"}, {"split": None}, {"n": -(10**30)}):
        with pytest.raises(ExperimentError, match="parameter"):
            info.resolve(bad)


def test_no_experiment_parameter_is_a_path_or_a_context_name() -> None:
    words = ("dir", "path", "file", "folder")
    for name, info in experiments().items():
        assert not set(info.context) & set(info.params), name
        for key, param in info.params.items():
            assert not any(w in key.lower() for w in words), (name, key)
            assert not isinstance(param.default, os.PathLike), (name, key)
            if isinstance(param.default, str):
                assert "/" not in param.default and os.sep not in param.default, (name, key)
        for key in info.context:
            with pytest.raises(ExperimentError, match="never as a parameter"):
                info.resolve({key: ()})


def test_an_experiment_with_a_path_parameter_is_refused_at_registration() -> None:
    def reads_files(
        target: Any, *, seed: int = 0, progress: Any = None, n: int = 1, data_dir: str = ""
    ) -> Any:
        raise AssertionError("never registered, never run")

    with pytest.raises(ExperimentError, match="'data_dir' looks like a path"):
        experiment("hostile-reader", statistic="x", declared=None)(reads_files)
    assert "hostile-reader" not in experiments()


# -- controllers' options -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "options", "says"),
    [
        ("scripted", {"plan": 5}, "takes a string"),
        ("scripted", {"plan": "honeypot,nope"}, "no experiment 'nope'"),
        ("scripted", {"plan": " , "}, "names no experiments"),
        ("random", {"seed": 1.5}, "whole number"),
        ("random", {"max_actions": True}, "not true or false"),
        ("random", {"max_actions": -1}, ">= 0"),
        ("random", {"max_actions": 10**30}, "+-"),
        ("voi", {"sizes": "a,b"}, "numbers, comma-separated"),
        ("voi", {"sizes": "1,inf"}, "multiples in"),
        ("voi", {"sizes": "nan"}, "multiples in"),
        ("voi", {"sizes": "0"}, "multiples in"),
        ("voi", {"min_gain": math.nan}, "finite"),
        ("voi", {"min_gain": "0.1"}, "takes a number"),
        ("voi", {"max_repeats": -2}, ">= 0"),
        ("llm", {"max_turns": 0}, "1..10000"),
        ("llm", {"max_turns": math.inf}, "whole number"),
        ("llm", {"model": ["openai/gpt-4o"]}, "takes a string"),
        ("llm", {"script": "run everything"}, "list of tool calls"),
        ("llm", {"script": [1]}, "step 1"),
        ("llm", {"script": [{"tool": "sample", "arguments": [1]}]}, "step 1"),
        ("llm", {"budget": 5}, "no option 'budget'"),
    ],
)
def test_bad_controller_options_fail_before_a_run_starts(
    name: str, options: dict[str, Any], says: str
) -> None:
    with pytest.raises(NeurathError, match=says.replace("+", r"\+").replace("(", r"\(")):
        make_controller(name, options)


# -- a real target's context ----------------------------------------------------------------------
def test_a_local_target_refuses_prompts_past_its_context(battery_suite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from neurath.models._local import LocalModel
    from neurath.testbed import OrganismStore

    _, out = battery_suite
    model = LocalModel(OrganismStore(out).model_dir("aligned-t"), model_id="t-1")
    window = model.context_length
    assert window is not None and window > 16
    env = ResearchEnvironment(
        targets={"t-1": lambda: model},
        budget=Budget(queries=100),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        actor="test",
    )
    words = ["role", ":", "assistant", ".", "task", ":", "summarise", "the", "report", "."]
    prompt = " ".join(words)
    while model.count_tokens([prompt])[0] < window - 8:
        prompt += " " + words[len(prompt) % len(words)]
    while model.count_tokens([prompt])[0] > window - 8:
        prompt = prompt.rsplit(" ", 1)[0]
    assert model.count_tokens([prompt])[0] == window - 8
    (answer,) = env.sample("t-1", [prompt], max_new_tokens=8)  # exactly fills the context
    assert isinstance(answer, str)
    with pytest.raises(ResearchError, match="its context is"):
        env.sample("t-1", [prompt], max_new_tokens=9)
    with pytest.raises(ResearchError, match="its context is"):
        env.sample("t-1", ["task"], max_new_tokens=256)
    with pytest.raises(ResearchError, match="empty"):
        env.sample("t-1", [""])
    assert env.spent.queries == 1 and [e.action for e in env.audit.entries()] == [
        "sample",
        "result",
    ]


@pytest.mark.parametrize(
    ("experiment", "params", "says"),
    [
        ("probe", {"trainers": "aligned-t"}, r"must be reference \(calibration\) models"),
        ("probe", {"layer": 10**6}, "layer must lie in"),
        ("adversarial", {"family_prior": "date=inf"}, "a weight lies in"),
        ("adversarial", {"family_prior": "date=-1"}, "a weight lies in"),
        ("adversarial", {"family_prior": "moon=1"}, "unknown family"),
    ],
)
def test_values_wrong_only_in_context_are_refused_before_the_experiment_runs(
    experiment: str, params: dict[str, Any], says: str
) -> None:
    from neurath.experiments import get_experiment
    from neurath.experiments._probe import Reference

    refs = [Reference(id="aligned-c", scheming=False, load=lambda: None, key="k")]
    context = {"references": refs} if experiment == "probe" else {}
    info = get_experiment(experiment)
    with pytest.raises(ExperimentError, match=says):
        info.validate(params, context)
    assert info.validate({}, context)  # the defaults pass
