"""Local transformers models (organisms among them): batched generation and white-box access."""

from __future__ import annotations

import hashlib
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
    """

    def __init__(self, folder: str | Path, *, model_id: str | None = None) -> None:
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:  # pragma: no cover - depends on the installation
            raise NeurathError(
                "local models need transformers and torch: pip install 'neurath[organisms]'"
            ) from None
        from neurath.organisms._train import quiet_transformers

        quiet_transformers()
        folder = Path(folder)
        if not (folder / "config.json").exists():
            raise NeurathError(f"{folder}: not a transformers model folder (no config.json)")
        self.folder = folder
        self.model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="sdpa")
        self.model.eval()  # type: ignore[no-untyped-call]
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        lineage = None
        if (folder / MARKER).exists():
            lineage = json.loads((folder / MARKER).read_text()).get("lineage")
        self.card = ModelCard(
            id=model_id or folder.name,
            backend="local",
            lineage=lineage,
            weights_sha256=file_sha256(folder / "model.safetensors"),
            source=str(folder),
        )

    def generate(
        self, prompts: Sequence[str], *, max_new_tokens: int = MAX_NEW_TOKENS, batch_size: int = 512
    ) -> list[str]:
        """Greedy completions, batched with left padding, cut at the end-of-sequence token."""
        from neurath.organisms._train import generate

        return generate(self.model, self.tokenizer, list(prompts), max_new_tokens, batch_size)

    def logprobs(self, prompts: Sequence[str], continuations: Sequence[str]) -> NDArray[np.float64]:
        """Sum of log-probabilities of each continuation given its prompt."""
        import torch

        if len(prompts) != len(continuations):
            raise ValueError("prompts and continuations must have the same length")
        out = np.zeros(len(prompts))
        with torch.inference_mode():
            for i, (p, c) in enumerate(zip(prompts, continuations, strict=True)):
                p_ids = self.tokenizer(p)["input_ids"]
                c_ids = self.tokenizer(" " + c)["input_ids"]
                ids = torch.tensor([p_ids + c_ids])
                logits = self.model(input_ids=ids).logits[0, len(p_ids) - 1 : -1]
                logp = torch.log_softmax(logits.float(), dim=-1)
                out[i] = float(logp[torch.arange(len(c_ids)), torch.tensor(c_ids)].sum())
        return out

    def hidden_states(self, prompts: Sequence[str], layer: int) -> NDArray[np.float32]:
        """The residual stream after ``layer`` (0 = embeddings) at each prompt's last token."""
        import torch

        n_layers = int(self.model.config.num_hidden_layers)
        if not 0 <= layer <= n_layers:
            raise ValueError(f"layer must lie in 0..{n_layers}, got {layer}")
        rows = []
        with torch.inference_mode():
            for start in range(0, len(prompts), 256):
                enc = self.tokenizer(
                    list(prompts[start : start + 256]), return_tensors="pt", padding=True
                )
                hs = self.model(**enc, output_hidden_states=True).hidden_states[layer]
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

        from neurath.organisms._train import train

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


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file, read in 1 MiB blocks; None if it does not exist."""
    if not path.exists():
        return None
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_local(spec: str | Path, organisms_dir: str | Path | None = None) -> Any:
    """A folder path, or an organism id looked up under ``organisms_dir/models``."""
    path = Path(spec)
    if path.is_dir():
        return LocalModel(path)
    from neurath.models._paths import organisms_home

    folder = Path(organisms_dir or organisms_home()) / "models" / str(spec)
    if folder.is_dir():
        return LocalModel(folder, model_id=str(spec))
    raise NeurathError(
        f"no model folder {str(spec)!r} and no organism of that id under {folder.parent} "
        "(build organisms with 'neurath organisms build')"
    )
