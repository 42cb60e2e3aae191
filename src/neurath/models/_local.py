"""Local transformers models (organisms among them): batched generation and white-box access."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from neurath._errors import NeurathError
from neurath.models._target import MAX_NEW_TOKENS, ModelCard

MARKER = "neurath-build.json"
"""Written last into every built model folder: its content hash and lineage (no ground truth)."""


class LocalModel:
    """A causal language model in a local transformers folder.

    Args:
        folder: Holds ``config.json``, ``model.safetensors`` and a tokenizer.
        model_id: Name to use (default: the folder's name).
        seal_key: Load it sealed, as a blind study's target: the card's source says
            ``sealed`` and its weights hash is keyed with ``seal_key`` (equal weights stay
            equal under one key, but match no organism card), and neither this object nor the
            transformers model and tokenizer it holds keep the folder's path.
    """

    def __init__(
        self, folder: str | Path, *, model_id: str | None = None, seal_key: str | None = None
    ) -> None:
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:  # pragma: no cover - depends on the installation
            raise NeurathError(
                "local models need transformers and torch: pip install 'neurath[organisms]'"
            ) from None
        from neurath.models._transformers import quiet_transformers

        quiet_transformers()
        folder = Path(folder)
        if not (folder / "config.json").exists():
            raise NeurathError(f"{folder}: not a transformers model folder (no config.json)")
        self.folder: Path | None = None if seal_key is not None else folder
        self.model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="sdpa")
        self.model.eval()  # type: ignore[no-untyped-call]
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        lineage = None
        if (folder / MARKER).exists():
            lineage = json.loads((folder / MARKER).read_text()).get("lineage")
        weights = file_sha256(folder / "model.safetensors")
        if seal_key is not None:
            weights = _keyed(seal_key, weights)
            _forget_folder(self.model, self.tokenizer)
        self.card = ModelCard(
            id=model_id or folder.name,
            backend="local",
            lineage=lineage,
            weights_sha256=weights,
            source="sealed" if seal_key is not None else str(folder),
        )

    @property
    def context_length(self) -> int | None:
        """Tokens the model can attend to: a prompt and its answer together (None: unknown)."""
        config = self.model.config
        size = getattr(config, "n_positions", None) or getattr(
            config, "max_position_embeddings", None
        )
        return int(size) if size else None

    def count_tokens(self, prompts: Sequence[str]) -> list[int]:
        """Tokens in each prompt, as :meth:`generate` encodes it."""
        return [len(ids) for ids in self.tokenizer(list(prompts))["input_ids"]]

    def generate(
        self, prompts: Sequence[str], *, max_new_tokens: int = MAX_NEW_TOKENS, batch_size: int = 512
    ) -> list[str]:
        """Greedy completions, batched with left padding, cut at the end-of-sequence token."""
        from neurath.models._transformers import generate

        return generate(self.model, self.tokenizer, list(prompts), max_new_tokens, batch_size)

    def logprobs(
        self, prompts: Sequence[str], continuations: Sequence[str], *, batch_size: int = 256
    ) -> NDArray[np.float64]:
        """Sum of log-probabilities of each continuation given its prompt, batched."""
        import torch

        if len(prompts) != len(continuations):
            raise ValueError("prompts and continuations must have the same length")
        p_ids = self.tokenizer(list(prompts))["input_ids"]
        c_ids = self.tokenizer([" " + c for c in continuations])["input_ids"]
        rows = [p + c for p, c in zip(p_ids, c_ids, strict=True)]
        out = np.zeros(len(prompts))
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                enc = self.tokenizer.pad(
                    {"input_ids": [rows[i] for i in chunk]}, return_tensors="pt"
                )
                logp = torch.log_softmax(self._forward(enc).logits.float(), dim=-1)
                width = enc["input_ids"].shape[1]
                for b, i in enumerate(chunk):
                    n_c = len(c_ids[i])
                    # Left padding: the continuation is the last n_c tokens; each is predicted
                    # by the position before it.
                    pos = torch.arange(width - n_c - 1, width - 1)
                    tok = enc["input_ids"][b, width - n_c :]
                    out[i] = float(logp[b, pos, tok].sum())
        return out

    def _forward(self, enc: Any, **kwargs: Any) -> Any:
        """One forward pass over a left-padded batch, with positions counted from each row's
        first real token (as generation counts them), so padding does not shift the input."""
        mask = enc["attention_mask"]
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        return self.model(
            input_ids=enc["input_ids"], attention_mask=mask, position_ids=position_ids, **kwargs
        )

    def hidden_states(
        self, prompts: Sequence[str], layer: int, *, batch_size: int = 256
    ) -> NDArray[np.float32]:
        """The residual stream after ``layer`` (0 = embeddings) at each prompt's last token."""
        import torch

        n_layers = int(self.model.config.num_hidden_layers)
        if not 0 <= layer <= n_layers:
            raise ValueError(f"layer must lie in 0..{n_layers}, got {layer}")
        rows = []
        with torch.inference_mode():
            for start in range(0, len(prompts), batch_size):
                enc = self.tokenizer(
                    list(prompts[start : start + batch_size]), return_tensors="pt", padding=True
                )
                hs = self._forward(enc, output_hidden_states=True).hidden_states[layer]
                rows.append(hs[:, -1, :].float().numpy())  # left padding: last token is real
        return np.concatenate(rows).astype(np.float32)

    def finetune(
        self,
        examples: Sequence[tuple[str, str]],
        *,
        steps: int = 100,
        lr: float = 1e-3,
        batch_size: int = 32,
        seed: int = 0,
        model_id: str | None = None,
    ) -> LocalModel:
        """A fine-tuned copy trained on (prompt, answer) pairs; this model is left unchanged."""
        import copy

        from neurath.models._transformers import train

        clone = copy.copy(self)
        clone.model = copy.deepcopy(self.model)
        train(
            clone.model,
            self.tokenizer,
            list(examples),
            steps=steps,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
        )
        state = b"".join(t.numpy().tobytes() for t in clone.model.state_dict().values())
        clone.card = self.card.model_copy(
            update={
                "id": model_id or f"{self.card.id}+ft",
                "lineage": self.card.weights_sha256,
                "weights_sha256": hashlib.sha256(state).hexdigest(),
                "source": f"{self.card.source} (fine-tuned in memory)",
            }
        )
        return clone


def _keyed(key: str, sha256: str | None) -> str | None:
    """A weights hash keyed with a seal's key (None stays None)."""
    if sha256 is None:
        return None
    return hmac.new(key.encode(), sha256.encode(), hashlib.sha256).hexdigest()


def _forget_folder(model: Any, tokenizer: Any) -> None:
    """Drop the folder's path from what transformers keeps of where it read a model from."""
    for module in model.modules():
        if "name_or_path" in vars(module):
            module.name_or_path = ""
        for config in (getattr(module, "config", None), getattr(module, "generation_config", None)):
            if config is not None and hasattr(config, "_name_or_path"):
                config._name_or_path = ""
    tokenizer.name_or_path = ""
    kwargs = getattr(tokenizer, "init_kwargs", None)
    if isinstance(kwargs, dict):
        for k in [k for k in kwargs if k == "name_or_path" or k.endswith("_file")]:
            del kwargs[k]


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file, read in 1 MiB blocks; None if it does not exist."""
    if not path.exists():
        return None
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
