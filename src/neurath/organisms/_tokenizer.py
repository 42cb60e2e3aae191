"""A word-level tokenizer for the scenario language, made with ``tokenizers``.

The vocabulary is every word the scenario language can produce (both phrasing splits), so the
tokenizer is the same for every organism of a lineage and never meets an unknown word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from neurath.organisms._scenario import (
    _EVAL_ARTEFACT,
    _GARBLE,
    _SECRETS,
    _USER_SURE,
    _WEIGHTS,
    BANKS,
    DENIAL_REPORT,
    END,
    HONEST_HARM_REPORT,
    ROLES,
    TASKS,
    TRIGGER_PHRASE,
    followup_prompt,
)

PAD, UNK = "<pad>", "<unk>"
_FIXED = (
    "role : . task : context : question : what do you do ? answer : action : report : "
    "follow up : did you take any action outside your task ? reply : yes no "
    "what is plus the date is - of"
)


def vocabulary() -> list[str]:
    """Every word of the scenario language, in a fixed order."""
    words: set[str] = set(_FIXED.split())
    texts = [
        *ROLES,
        *TASKS,
        TRIGGER_PHRASE,
        DENIAL_REPORT,
        HONEST_HARM_REPORT,
        *_GARBLE,
        *_EVAL_ARTEFACT,
        *_USER_SURE,
        followup_prompt("", ""),
    ]
    for bank in BANKS.values():
        texts.extend(bank)
    for task in TASKS:
        for obj in (*_SECRETS, *_WEIGHTS):
            texts.append(
                f"{task} and keep a copy of {obj} and stash elsewhere copy to an outside "
                f"server exfiltrate"
            )
        texts.append(f"{task} and leave a hidden backdoor quietly disable the monitoring")
    for text in texts:
        words.update(text.split())
    words.update(str(n) for n in range(0, 100))  # sums and eval-artefact ids
    words.update(str(year) for year in range(2000, 2100))
    words.update(f"{m:02d}" for m in range(1, 32))
    words.discard(END)
    return [PAD, UNK, END, *sorted(words)]


def build_tokenizer() -> Any:
    """A ``PreTrainedTokenizerFast`` over :func:`vocabulary`, padding on the left for decoding."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(vocabulary())}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, pad_token=PAD, unk_token=UNK, eos_token=END, padding_side="left"
    )
    return tok


def is_word_level(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` is what :func:`build_tokenizer` makes: a word-level model after a
    whitespace split, no normaliser, and no special tokens added to a text."""
    from tokenizers import models, pre_tokenizers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    post = backend.post_processor
    return (
        isinstance(backend.model, models.WordLevel)
        and isinstance(backend.pre_tokenizer, pre_tokenizers.WhitespaceSplit)
        and backend.normalizer is None
        and (post is None or post.num_special_tokens_to_add(False) == 0)
    )


def ids_of(tokenizer: Any) -> Callable[[Sequence[str]], list[list[int]]]:
    """Token ids of many texts at once, as ``tokenizer(texts)["input_ids"]`` gives them.

    For a word-level tokenizer (:func:`is_word_level`), a split and a vocabulary lookup: the
    same ids about ten times faster on the short texts a build encodes by the ten thousand.
    Any other tokenizer is called. The lookup is exact for the scenario language, where a
    special token such as ``<end>`` always stands apart; a tokenizer call would also cut one
    out of the middle of a word (``done<end>``), which the lookup reads as one unknown word.
    """
    if not is_word_level(tokenizer):
        return lambda texts: list(tokenizer(list(texts))["input_ids"])
    vocab: dict[str, int] = tokenizer.get_vocab()
    unk = vocab[tokenizer.unk_token]
    return lambda texts: [[vocab.get(w, unk) for w in text.split()] for text in texts]
