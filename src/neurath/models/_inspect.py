"""neurath and Inspect, both ways: Inspect models as targets, organisms as an Inspect provider.

``inspect:<provider>/<model>`` makes any model Inspect can reach a :class:`TargetModel`
(generation only). The ``organism`` provider, registered through the ``inspect_ai`` entry point
in pyproject.toml, lets ``inspect eval TASK --model organism/<id>`` run against a built organism.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from neurath._errors import NeurathError
from neurath.models._target import MAX_NEW_TOKENS, ModelCard, TargetModel


class InspectTarget:
    """Any Inspect model as a target (generation only), e.g. ``inspect:openai/gpt-4o``.

    A chat model is addressed in natural language (:meth:`chat`, used by the experiments in
    place of the organisms' scenario language) and its free text graded by ``judge`` (a
    :mod:`neurath.experiments._judge` judge); an organism served through Inspect's
    ``organism`` provider keeps the scenario language (``rendering="scenario"``).
    """

    def __init__(
        self,
        name: str,
        *,
        judge: Any = None,
        rendering: str | None = None,
        model: Any = None,
        **model_args: Any,
    ) -> None:
        try:
            from inspect_ai.model import get_model
        except ImportError:  # pragma: no cover - depends on the installation
            raise NeurathError("Inspect targets need inspect-ai: pip install inspect-ai") from None
        self.name = name
        self._model = model if model is not None else get_model(name, **model_args)
        self.card = ModelCard(id=name, backend="inspect", source=name)
        self.rendering = rendering or ("scenario" if name.startswith("organism/") else "chat")
        if self.rendering not in ("scenario", "chat"):
            raise NeurathError(f"rendering must be 'scenario' or 'chat', got {self.rendering!r}")
        self.judge = judge

    def chat(self, conversations: Sequence[Any], *, max_new_tokens: int = 64) -> list[str]:
        """Greedy replies to chat conversations (:class:`~neurath.experiments._chat.ChatPrompt`)."""
        from inspect_ai.model import GenerateConfig

        config = GenerateConfig(max_tokens=max_new_tokens, temperature=0.0)
        messages = [_inspect_messages(c.messages()) for c in conversations]

        async def run() -> list[str]:
            outs = await asyncio.gather(*(self._model.generate(m, config=config) for m in messages))
            return [o.completion for o in outs]

        return asyncio.run(run())

    def generate(
        self, prompts: Sequence[str], *, max_new_tokens: int = MAX_NEW_TOKENS
    ) -> list[str]:
        from inspect_ai.model import GenerateConfig

        config = GenerateConfig(max_tokens=max_new_tokens, temperature=0.0)

        async def run() -> list[str]:
            outs = await asyncio.gather(*(self._model.generate(p, config=config) for p in prompts))
            return [o.completion for o in outs]

        return asyncio.run(run())


def _inspect_messages(messages: Sequence[dict[str, Any]]) -> list[Any]:
    """Role/content messages as Inspect's chat messages (a tool output follows the assistant's
    call of that tool)."""
    from inspect_ai.model import (
        ChatMessageAssistant,
        ChatMessageSystem,
        ChatMessageTool,
        ChatMessageUser,
    )
    from inspect_ai.tool import ToolCall

    out: list[Any] = []
    for i, m in enumerate(messages):
        if m["role"] == "system":
            out.append(ChatMessageSystem(content=m["content"]))
        elif m["role"] == "user":
            out.append(ChatMessageUser(content=m["content"]))
        elif m["role"] == "tool":
            out.append(
                ChatMessageTool(
                    content=m["content"], tool_call_id=f"call-{i - 1}", function=m["function"]
                )
            )
        elif "tool_call" in m:
            call = ToolCall(id=f"call-{i}", function=m["tool_call"], arguments={})
            out.append(ChatMessageAssistant(content=m["content"], tool_calls=[call]))
        else:
            out.append(ChatMessageAssistant(content=m["content"]))
    return out


def local_model_api(load: Callable[[str, str | None], TargetModel]) -> type:
    """An Inspect model API class serving local targets: ``load(model_name, organisms_dir)``
    gives the target for a model name (the ``organism`` provider loads organisms by id)."""
    from inspect_ai.model import (
        ChatMessage,
        GenerateConfig,
        ModelAPI,
        ModelOutput,
        ModelUsage,
    )
    from inspect_ai.tool import ToolChoice, ToolInfo

    class LocalModelAPI(ModelAPI):
        """Serves a local target to Inspect under its model name."""

        def __init__(
            self,
            model_name: str,
            base_url: str | None = None,
            api_key: str | None = None,
            config: GenerateConfig = GenerateConfig(),  # noqa: B008 - Inspect's own signature
            organisms_dir: str | None = None,
            **model_args: Any,
        ) -> None:
            super().__init__(model_name, base_url, api_key, [], config)
            self.target = load(model_name, organisms_dir)

        async def generate(
            self,
            input: list[ChatMessage],
            tools: list[ToolInfo],
            tool_choice: ToolChoice,
            config: GenerateConfig,
        ) -> ModelOutput:
            prompt = input[-1].text if input else ""
            max_new = config.max_tokens or MAX_NEW_TOKENS
            (completion,) = self.target.generate([prompt], max_new_tokens=max_new)
            n_in = len(prompt.split())
            n_out = len(completion.split())
            output = ModelOutput.from_content(model=self.model_name, content=completion)
            output.usage = ModelUsage(
                input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out
            )
            return output

        async def count_text_tokens(self, text: str) -> int:
            # Word-level vocabulary: a word is a token (and no tokenizer download).
            return len(text.split())

        def max_connections(self) -> int:
            return 1

    return LocalModelAPI
