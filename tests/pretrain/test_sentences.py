"""Sentence splitting and (query, passage) pairs from paragraphs."""

from __future__ import annotations

import pytest

from model2vec.pretrain.sentences import query_passage_pairs, sentences_of, split_sentences, word_spans


def test_splits_after_sentence_ends_only() -> None:
    text = 'Mr. Smith met J. R. R. Tolkien in the U.S. Army. "It was 1950," he said! Was it? It was. e.g. no.'
    assert split_sentences(text, min_words=1) == [
        "Mr. Smith met J. R. R. Tolkien in the U.S. Army.",
        '"It was 1950," he said!',
        "Was it?",
        "It was. e.g. no.",
    ]


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert split_sentences('He said "stop." Then he left the room.', min_words=1) == [
        'He said "stop."',
        "Then he left the room.",
    ]


def test_short_fragments_are_dropped_and_blank_text_is_empty() -> None:
    assert split_sentences("See below. The results are in the table below.") == ["The results are in the table below."]
    assert split_sentences("   ") == []
    assert split_sentences("no end mark here at all") == ["no end mark here at all"]


def test_bad_input() -> None:
    with pytest.raises(TypeError):
        split_sentences(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_words"):
        split_sentences("a b c.", min_words=0)


def test_pairs_hold_out_the_query_from_its_passage() -> None:
    paragraphs = [
        "The bridge opened in 1932 after six years of work. It carries eight lanes of traffic and a railway line "
        "across the harbour, and it is the widest long-span bridge in the world.",
        "One sentence only, long enough to be a query but with nothing after it.",
        "Too short. The rest of this paragraph is long enough to serve as a passage for the short query above it.",
    ]
    pairs = list(query_passage_pairs(paragraphs))
    assert pairs == [
        (
            "The bridge opened in 1932 after six years of work.",
            "It carries eight lanes of traffic and a railway line across the harbour, and it is the widest "
            "long-span bridge in the world.",
        )
    ]
    with pytest.raises(TypeError):
        list(query_passage_pairs([3]))  # type: ignore[list-item]


def test_sentences_of_streams_every_paragraph_in_order() -> None:
    paragraphs = ["First one is here. Second one is here.", "Third one is here."]
    assert list(sentences_of(paragraphs)) == ["First one is here.", "Second one is here.", "Third one is here."]
    assert list(sentences_of([])) == []


def test_word_spans_are_shorter_runs_of_their_text() -> None:
    texts = ["one two three four five six seven eight nine ten eleven", "too short", "a b c d"]
    spans = list(word_spans(texts, seed=3))
    assert len(spans) == 2  # "too short" has fewer than min_text_words words
    for span, text in zip(spans, [texts[0], texts[2]], strict=True):
        words = span.split()
        assert 2 <= len(words) <= min(8, len(text.split()) - 1)
        assert f" {span} " in f" {text} "


def test_word_spans_are_seeded() -> None:
    texts = [" ".join(f"w{i}" for i in range(n)) for n in range(4, 40)]
    assert list(word_spans(texts, seed=1)) == list(word_spans(texts, seed=1))
    assert list(word_spans(texts, seed=1)) != list(word_spans(texts, seed=2))
    lengths = {len(span.split()) for span in word_spans(texts * 20, seed=0)}
    assert lengths == set(range(2, 9))  # every length between the bounds occurs


def test_word_spans_bad_input() -> None:
    with pytest.raises(ValueError, match="min_words"):
        list(word_spans(["a b c d e"], min_words=5, max_words=3))
    with pytest.raises(ValueError, match="min_text_words"):
        list(word_spans(["a b c d e"], min_words=4, min_text_words=4))
    with pytest.raises(TypeError, match="max_words"):
        list(word_spans(["a b c d e"], max_words=2.5))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        list(word_spans([["a", "b"]]))  # type: ignore[list-item]
