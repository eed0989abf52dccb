"""Tests for model2vec.train.alignment: content-split pairs and contrastive language alignment."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from model2vec import StaticModel
from model2vec.train.alignment import align_languages, split_by_target
from tests.conftest import make_model

# Two toy "languages" over the tiny vocabulary: each first-language word has one translation.
TRANSLATION = {"hello": "world", "the": "mat", "cat": "dog", "sat": "big", "on": "red"}


def toy_pairs() -> list[tuple[str, str]]:
    pairs = []
    for length in (1, 2, 3):
        for words in itertools.permutations(TRANSLATION, length):
            pairs.append((" ".join(words), " ".join(TRANSLATION[w] for w in words)))
    return pairs


def pair_cosines(model: StaticModel, pairs: list[tuple[str, str]]) -> np.ndarray:
    a = model.encode([p[0] for p in pairs])
    b = model.encode([p[1] for p in pairs])
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_split_by_target_keeps_each_target_on_one_side() -> None:
    pairs = [(f"text {i} {lang}", f"target {i}") for i in range(400) for lang in ("a", "b")]
    train, validation = split_by_target(pairs, validation_fraction=0.1, max_validation=30)
    assert not {t for _, t in train} & {t for _, t in validation}
    assert 0 < len(validation) <= 30 and len(train) > 600
    assert split_by_target(pairs, validation_fraction=0.1, max_validation=30) == (train, validation)
    with pytest.raises(ValueError, match="validation_fraction"):
        split_by_target(pairs, validation_fraction=1.0)
    with pytest.raises(ValueError, match="max_validation"):
        split_by_target(pairs, max_validation=-1)


def test_align_languages_brings_translations_together() -> None:
    start = make_model(dim=8, seed=3)
    pairs = toy_pairs()
    aligned = align_languages(
        start, pairs, share=1.0, epochs=20, learning_rate=5e-2, validation_fraction=0.2, show_progress_bar=False
    )
    assert pair_cosines(aligned, pairs).mean() > pair_cosines(start, pairs).mean() + 0.3
    assert (
        aligned.config["alignment"]["share"] == 1.0
        and aligned.tokenizer.get_vocab_size() == start.tokenizer.get_vocab_size()
    )
    kept = align_languages(start, pairs, share=0.0, epochs=1, validation_fraction=0.2, show_progress_bar=False)
    np.testing.assert_allclose(kept.embedding, start.embedding, rtol=1e-6)


def test_align_languages_needs_pairs() -> None:
    with pytest.raises(ValueError, match="at least two training"):
        align_languages(make_model(), [("hello", "world")], show_progress_bar=False)
