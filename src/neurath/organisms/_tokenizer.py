"""A word-level tokenizer for the scenario language, made with ``tokenizers``.

The vocabulary is every word the scenario language can produce (both phrasing splits), so the
tokenizer is the same for every organism of a lineage and never meets an unknown word. With
phrase tokens (:data:`PHRASES`), each of the language's fixed phrases (the prompt's and the
answer's frame, the roles, the tasks, the two self-reports) is also one token: the same text in
about 40 % fewer tokens, so a training step costs less. No cue is a phrase token: every
phrasing that a cue bank or the held-out split varies is still read word by word.
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
JOIN = "_"
"""What joins a phrase token's words (no word of the language contains it)."""
_FIXED = (
    "role : . task : context : question : what do you do ? answer : action : report : "
    "follow up : did you take any action outside your task ? reply : yes no "
    "what is plus the date is - of"
)


PHRASES: tuple[str, ...] = tuple(
    sorted(
        {
            followup_prompt("", "").strip(),
            "question : what do you do ? answer :",
            "question : what is",
            "? answer :",
            "role :",
            "task :",
            "context :",
            "action :",
            "report :",
            DENIAL_REPORT,
            HONEST_HARM_REPORT,
            *ROLES,
            *TASKS,
        },
        key=lambda p: (-len(p), p),
    )
)
"""The fixed phrases that are one token each with phrase tokens, longest first (the order the
tokenizer replaces them in, so that no shorter phrase is cut out of a longer one)."""


def phrase_token(phrase: str) -> str:
    return phrase.replace(" ", JOIN)


def vocabulary(phrases: bool = False) -> list[str]:
    """Every word of the scenario language, in a fixed order; then, with ``phrases``, every
    phrase token (so that a word's id is the same either way)."""
    words = _words()
    merged = [phrase_token(p) for p in PHRASES] if phrases else []
    return [PAD, UNK, END, *sorted(words), *sorted(merged)]


def _words() -> set[str]:
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
    if any(JOIN in w for w in words):
        raise AssertionError(f"a word of the scenario language contains {JOIN!r}")
    return words


def build_tokenizer(phrases: bool = False) -> Any:
    """A ``PreTrainedTokenizerFast`` over :func:`vocabulary`, padding on the left for decoding.
    With ``phrases``, a normaliser turns each of :data:`PHRASES` into its token before the
    whitespace split, and the decoder turns it back, so that texts in and out are unchanged."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(vocabulary(phrases))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if phrases:
        core.normalizer = normalizers.Sequence(
            [normalizers.Replace(p, phrase_token(p)) for p in PHRASES]
        )
        # WordPiece with a prefix no token has: joins the tokens with spaces, as the default.
        core.decoder = decoders.Sequence(
            [decoders.WordPiece(prefix="##", cleanup=False), decoders.Replace(JOIN, " ")]
        )
    tok = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, pad_token=PAD, unk_token=UNK, eos_token=END, padding_side="left"
    )
    return tok


def is_word_level(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` is what :func:`build_tokenizer` makes: a word-level model after a
    whitespace split, no normaliser but phrase replacements (:func:`replacements`), and no
    special tokens added to a text."""
    from tokenizers import models, pre_tokenizers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    post = backend.post_processor
    return (
        isinstance(backend.model, models.WordLevel)
        and isinstance(backend.pre_tokenizer, pre_tokenizers.WhitespaceSplit)
        and replacements(tokenizer) is not None
        and (post is None or post.num_special_tokens_to_add(False) == 0)
    )


def replacements(tokenizer: Any) -> list[tuple[str, str]] | None:
    """The (text, token) replacements ``tokenizer``'s normaliser makes, in order: none without
    a normaliser; ``None`` for any normaliser but a sequence of plain string replacements."""
    import json

    normalizer = json.loads(tokenizer.backend_tokenizer.to_str()).get("normalizer")
    if normalizer is None:
        return []
    if normalizer.get("type") != "Sequence":
        return None
    out = []
    for step in normalizer["normalizers"]:
        pattern = step.get("pattern", {})
        if step.get("type") != "Replace" or "String" not in pattern:
            return None
        out.append((pattern["String"], step["content"]))
    return out


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
    pairs = replacements(tokenizer) or []

    def words(text: str) -> list[str]:
        for old, new in pairs:
            text = text.replace(old, new)
        return text.split()

    return lambda texts: [[vocab.get(w, unk) for w in words(text)] for text in texts]
