"""Choose words to add to the teacher's vocabulary: the corpus's most frequent words it splits into pieces.

Words are counted with the teacher tokenizer's own normaliser and pre-tokeniser (for all-MiniLM-L6-v2:
lower-casing, accent stripping, then splitting on whitespace and punctuation), so a counted word is
exactly a unit the tokenizer would see. Only words the tokenizer does not already hold as one token are
candidates (adding an existing token would duplicate it), and only words of letters (optionally with
inner hyphens or apostrophes), so numbers and debris do not take vocabulary slots.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from tokenizers import Tokenizer

_WORD = re.compile(r"^[^\W\d_]+(?:['-][^\W\d_]+)*$")


def count_words(tokenizer: Tokenizer, texts: Iterable[str]) -> Counter[str]:
    """Count the pre-tokenised words of texts, as the tokenizer sees them.

    :param tokenizer: The tokenizer whose normaliser and pre-tokeniser define a word.
    :param texts: The corpus.
    :return: Word -> count.
    """
    normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
    counts: Counter[str] = Counter()
    for text in texts:
        normalized = normalizer.normalize_str(text) if normalizer is not None else text
        if pre_tokenizer is None:
            counts.update(normalized.split())
        else:
            counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalized))
    return counts


def frequent_new_words(
    tokenizer: Tokenizer, texts: Iterable[str], n_words: int, min_count: int = 5, min_length: int = 2
) -> list[str]:
    """Return the `n_words` most frequent corpus words that are not already single tokens.

    Ties are broken alphabetically so the result is deterministic.

    :param tokenizer: The teacher's tokenizer.
    :param texts: The corpus.
    :param n_words: How many words to return at most (>= 0).
    :param min_count: Ignore rarer words.
    :param min_length: Ignore shorter words.
    :return: Words, most frequent first.
    :raises ValueError: If `n_words` is negative.
    """
    if n_words < 0:
        raise ValueError(f"n_words must be >= 0, got {n_words}.")
    vocabulary = tokenizer.get_vocab()
    counts = count_words(tokenizer, texts)
    candidates = [
        (count, word)
        for word, count in counts.items()
        if count >= min_count and len(word) >= min_length and word not in vocabulary and _WORD.match(word)
    ]
    candidates.sort(key=lambda item: (-item[0], item[1]))
    return [word for _, word in candidates[:n_words]]
