"""Checking what callers pass (texts, `max_length`) and cutting huge texts before tokenisation."""

from __future__ import annotations

from collections.abc import Sequence

# A text is cut to this many characters per allowed token before tokenising, so that a huge document
# costs no more than its first `max_length` tokens. WordPiece never makes a token from more than 100
# characters (longer words become one unknown token), so for WordPiece vocabularies the cut never
# changes the first `max_length` tokens.
CHARS_PER_TOKEN_BOUND = 100


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


def _cut_texts(texts: list[str], max_length: int | None) -> list[str]:
    """Cut each text to `max_length * CHARS_PER_TOKEN_BOUND` characters (see that constant)."""
    if max_length is None:
        return texts
    limit = max_length * CHARS_PER_TOKEN_BOUND
    return [text[:limit] if len(text) > limit else text for text in texts]
