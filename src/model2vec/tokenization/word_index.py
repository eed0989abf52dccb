"""The word cache's index: str keys numbered 0, 1, 2, ... in insertion order (compiled or dict-based)."""

from __future__ import annotations

from itertools import chain, repeat
from typing import Protocol

import numpy as np

from model2vec._compiled import kernels


class WordIndex(Protocol):
    """Str keys numbered 0, 1, 2, ... in insertion order: the word cache's index.

    `model2vec._kernels.StrIndex` when the kernels are built (about half a dict's memory per word,
    faster look-ups), else `DictIndex`; both behave the same (`tests/test_word_index.py`).
    """

    def __len__(self) -> int:
        """Return the number of keys."""

    def look_up(self, words: list[str], out: np.ndarray) -> int:
        """Write each word's number (or -1 when absent) into the int64 `out`; return how many were absent."""

    def split_look_up(
        self, texts: list[str], limits: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
        """Split texts at every " " (like `text.split(" ")`) and look each word up (see `split_look_up`)."""

    def add(self, words: list[str]) -> None:
        """Add new words, numbered from `len(self)` on; if one is present, raise ValueError, changing nothing."""

    def truncate(self, count: int) -> None:
        """Keep only the first `count` keys."""

    def clear(self) -> None:
        """Remove every key."""


def split_look_up(
    index: WordIndex, texts: list[str], limits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
    """Split each text into its space-separated words and look every word up in `index`.

    Words are the parts of `text.split(" ")` (empty words included), text after text. `limits[i] >= 1`
    keeps only the first `limits[i]` words of text `i`, and a text that has more is reported as cut;
    -1 keeps every word. The compiled index does this without building a list of all the words.

    :param index: The index.
    :param texts: The texts (str).
    :param limits: One int per text.
    :return: Each word's number (-1 when absent, int64), the number of words of each text (int64),
        the indices of the cut texts and the absent words, in order.
    """
    numbers, counts, cut, absent = index.split_look_up(texts, np.ascontiguousarray(limits, dtype=np.int64))
    return np.frombuffer(numbers, dtype=np.int64), np.frombuffer(counts, dtype=np.int64), cut, absent


class DictIndex:
    """The pure-Python `WordIndex`: a dict {word: number} and the words in order (for `truncate`)."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._words: list[str] = []

    def __len__(self) -> int:
        """Return the number of keys."""
        return len(self._words)

    def look_up(self, words: list[str], out: np.ndarray) -> int:
        """Write each word's number (or -1 when absent) into the int64 `out`; return how many were absent."""
        if len(out) != len(words):
            raise ValueError("out must have one entry per word")
        out[:] = np.fromiter(map(self._numbers.get, words, repeat(-1)), dtype=np.int64, count=len(words))
        return int(np.count_nonzero(out < 0))

    def split_look_up(
        self, texts: list[str], limits: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
        """Split texts at every " " (like `text.split(" ")`) and look each word up (see `split_look_up`)."""
        if len(limits) != len(texts):
            raise ValueError("limits must have one entry per text")
        parts = []
        cut = []
        for i, (text, limit) in enumerate(zip(texts, limits.tolist(), strict=True)):
            if limit < 0:
                parts.append(text.split(" "))
                continue
            words = text.split(" ", limit)
            if len(words) > limit:
                words.pop()  # the unsplit remainder of the text
                cut.append(i)
            parts.append(words)
        words = list(chain.from_iterable(parts))
        numbers = np.empty(len(words), dtype=np.int64)
        self.look_up(words, numbers)
        counts = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        return numbers, counts, cut, [words[i] for i in np.flatnonzero(numbers < 0).tolist()]

    def add(self, words: list[str]) -> None:
        """Add new words, numbered from `len(self)` on; if one is present, raise ValueError, changing nothing."""
        if any(map(self._numbers.__contains__, words)) or len(set(words)) != len(words):
            raise ValueError("word already in the index")
        self._numbers.update(zip(words, range(len(self._words), len(self._words) + len(words)), strict=True))
        self._words.extend(words)

    def truncate(self, count: int) -> None:
        """Keep only the first `count` keys."""
        for word in self._words[count:]:
            del self._numbers[word]
        del self._words[count:]

    def clear(self) -> None:
        """Remove every key."""
        self._numbers.clear()
        self._words.clear()


def new_word_index() -> WordIndex:
    """Return an empty `WordIndex`: the compiled one when the kernels are built."""
    return kernels.StrIndex() if kernels is not None else DictIndex()


def _slots(index: WordIndex, words: list[str]) -> np.ndarray:
    """Look each word up in `index`: its number, or -1 when absent, as int64."""
    slots = np.empty(len(words), dtype=np.int64)
    index.look_up(words, slots)
    return slots


# Words remembered by default. Measured on 100k real sentences (185k distinct words; cold cache, median of
# 3): 30k words 79k texts/s in one thread, 100k words 86k/s, 200k words 93k/s; peak memory grows by
# about 1.4 MB per 10k words with the compiled index (2.6 MB with a dict). 100k keeps peak memory
# clearly below the reference library's. Without the kernels a dict holds the words, at about twice the
# memory per word, so the cache is kept at 30k words there (measured: 100k would peak above the reference).
