"""Checking what callers pass (texts, `max_length`) and cutting huge texts before tokenisation."""

from __future__ import annotations

import re
from collections.abc import Sequence

# A huge text is first cut near this many characters per allowed token, so that a long document costs
# about as much as its first `max_length` tokens. The cut is only a first guess: a text whose cut gives
# fewer than `max_length` tokens (one long word is one unknown token; whitespace gives none) is cut
# again twice as far, up to its whole length (`TextTokenizer.finish`), so the result is always the first
# `max_length` tokens of the whole text.
CHARS_PER_TOKEN_BOUND = 100

# Longest `max_length` used internally: larger limits mean "no limit" in practice and would overflow
# int64 arithmetic (a text has far fewer tokens than this).
MAX_TOKENS = 1 << 40

# Where a text may be cut: at the first space of a whitespace run. The prefix then ends with a whole
# word and no whitespace, so pre-tokenizers that split at whitespace (BERT, byte-level BPE's regex,
# Metaspace) and whitespace-collapsing normalisers give it exactly the first tokens of the whole text.
_WORD_END = re.compile(r"(?<=\S) ")


def validate_texts(sentences: Sequence[str]) -> list[str]:
    """Check that every item is a `str`.

    :param sentences: The texts.
    :return: The texts as a list.
    :raises TypeError: Naming the index and type of the first item that is not a `str`.
    """
    texts = list(sentences)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"Item {index} of the input is {type(text).__name__}, expected str.")
    return texts


def check_max_length(max_length: object) -> None:
    """Check a `max_length` argument.

    :param max_length: The value to check.
    :raises ValueError: If it is neither None nor a positive int.
    """
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"max_length must be a positive int or None, got {max_length!r}.")


def cut_text(text: str, limit: int) -> str:
    """Cut `text` at the first word end at or after `limit` characters (see `_WORD_END`).

    :param text: The text.
    :param limit: The fewest characters to keep.
    :return: `text` itself when it is at most `limit` characters or has no word end after `limit`;
        otherwise its prefix up to that word end (at least `limit` characters).
    """
    if len(text) <= limit:
        return text
    found = _WORD_END.search(text, limit)
    return text if found is None else text[: found.start()]


def cut_texts(texts: list[str], max_length: int | None) -> tuple[list[str], dict[int, int]]:
    """Cut huge texts before tokenising them (see `CHARS_PER_TOKEN_BOUND`).

    :param texts: The texts.
    :param max_length: The token limit, or None (nothing is cut).
    :return: The texts, some cut, and for each cut text its index -> the character limit used.
    """
    if max_length is None:
        return texts, {}
    limit = max_length * CHARS_PER_TOKEN_BOUND
    cut: dict[int, int] = {}
    out = texts
    for index, text in enumerate(texts):
        if len(text) > limit:
            shorter = cut_text(text, limit)
            if len(shorter) < len(text):
                if out is texts:
                    out = list(texts)
                out[index] = shorter
                cut[index] = limit
    return out, cut
