"""Sentences of a corpus: cutting paragraphs into sentences, and (query, passage) pairs made from them.

Both are unsupervised ways to get more out of a plain-text corpus: sentences give short training texts
(closer to the queries and sentence pairs of many tasks than whole paragraphs), and a paragraph's first
sentence paired with the rest of the paragraph is a query that the passage answers, for contrastive
retrieval training without labelled data. The splitter is deliberately simple (no model, no language
data): it cuts after `.`, `!` or `?` followed by whitespace and a capital letter, digit or opening
quote/bracket, and it does not cut after common abbreviations ("Mr.", "e.g.", "U.S.", initials).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator

# A sentence ends at . ! or ? (optionally followed by closing quotes/brackets), then whitespace, then
# something that can start a sentence.
_BOUNDARY = re.compile(r"(?<=[.!?])([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")
# Words after which a full stop rarely ends a sentence.
# fmt: off
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no", "fig", "al", "inc",
    "ltd", "co", "corp", "gen", "col", "lt", "sgt", "capt", "rev", "gov", "sen", "rep", "u.s", "approx", "ca",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
})
# fmt: on


def split_sentences(text: str, min_words: int = 3) -> list[str]:
    """Cut a paragraph into sentences, dropping pieces of fewer than `min_words` words.

    :param text: One paragraph.
    :param min_words: Shortest sentence kept (>= 1); shorter fragments ("See below.") are dropped.
    :return: The sentences in order, stripped. An empty or blank text gives [].
    :raises TypeError: If `text` is not a str.
    :raises ValueError: If `min_words` < 1.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}.")
    if isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 1:
        raise ValueError(f"min_words must be an int >= 1, got {min_words!r}.")
    pieces: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.start() + len(match.group(1))
        candidate = text[start:end]
        last_word = candidate.rsplit(None, 1)[-1].rstrip(".!?\"')]").lower() if candidate.strip() else ""
        # "Mr. Smith", "e.g. This", "J. R. R. Tolkien": not a sentence end.
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        pieces.append(candidate.strip())
        start = match.end()
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if len(piece.split()) >= min_words]


def query_passage_pairs(
    paragraphs: Iterable[str], min_query_words: int = 4, min_passage_words: int = 12
) -> Iterator[tuple[str, str]]:
    """Yield (first sentence, rest of the paragraph) for each paragraph with enough text after its first sentence.

    The query is not part of its passage, so a model cannot match them by copying words; what links
    them is that the rest of a paragraph elaborates its first sentence, as a relevant passage answers
    a query.

    :param paragraphs: Paragraphs (any iterable of str).
    :param min_query_words: Shortest first sentence used as a query.
    :param min_passage_words: Shortest rest of the paragraph used as a passage.
    :return: An iterator of (query, passage) pairs, in corpus order.
    :raises TypeError: If a paragraph is not a str.
    """
    for paragraph in paragraphs:
        sentences = split_sentences(paragraph, min_words=1)
        if len(sentences) < 2:
            continue
        query, passage = sentences[0], " ".join(sentences[1:])
        if len(query.split()) >= min_query_words and len(passage.split()) >= min_passage_words:
            yield query, passage


def sentences_of(paragraphs: Iterable[str], min_words: int = 3) -> Iterator[str]:
    """Yield the sentences of each paragraph in turn (`split_sentences`), as a corpus stream.

    Pre-training on sentences of the same text scored higher than on whole paragraphs (+1.1 on the
    development-suite average with 50k paragraphs; docs/pretrain.md): more, shorter training texts
    that look like the sentences and queries the model later embeds.

    :param paragraphs: Paragraphs (for example `read_corpus(...)`).
    :param min_words: Shortest sentence kept.
    :return: An iterator of sentences; the same paragraphs give the same stream (resumable featurisation).
    :raises TypeError: If a paragraph is not a str.
    """
    for paragraph in paragraphs:
        yield from split_sentences(paragraph, min_words=min_words)


def word_spans(
    texts: Iterable[str], min_words: int = 2, max_words: int = 8, min_text_words: int = 4, seed: int = 0
) -> Iterator[str]:
    """Yield one random run of consecutive words from each text: short training texts (phrases, titles).

    Training on sentences teaches the table how sentences compose; titles, questions and short queries
    are shorter still. Adding one random 2-8 word span per sentence to the sentences raised every
    family member (base +0.6, tiny +1.3 on the development-suite average; docs/pretrain.md).

    :param texts: Texts, usually sentences (`sentences_of`).
    :param min_words: Shortest span (>= 1).
    :param max_words: Longest span (>= min_words); a span is always shorter than its text.
    :param min_text_words: Texts with fewer whitespace-separated words give no span (> min_words).
    :param seed: Seed of the span lengths and positions; the same texts and seed give the same spans.
    :return: An iterator of spans (words joined by single spaces), in text order.
    :raises TypeError: If a text is not a str or a bound is not an int.
    :raises ValueError: If the word bounds are inconsistent.
    """
    for name, value in (("min_words", min_words), ("max_words", max_words), ("min_text_words", min_text_words)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}.")
    if not 1 <= min_words <= max_words or min_text_words <= min_words:
        raise ValueError(
            f"Need 1 <= min_words <= max_words and min_text_words > min_words, got {min_words}, {max_words}, "
            f"{min_text_words}."
        )
    rng = random.Random(seed)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be str, got {type(text).__name__}.")
        words = text.split()
        if len(words) < min_text_words:
            continue
        length = rng.randint(min_words, min(max_words, len(words) - 1))
        start = rng.randint(0, len(words) - length)
        yield " ".join(words[start : start + length])
