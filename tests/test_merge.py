"""Tests for model2vec.merge: token tables and weight-space interpolation."""

from __future__ import annotations

import numpy as np
import pytest

from model2vec import StaticModel
from model2vec.merge import interpolate, token_table
from model2vec.model import quantize_model
from tests.conftest import WORDS, make_model, make_tokenizer

TEXTS = ["hello world", "the cat sat", "a dog"]


def test_token_table_folds_weights_and_mapping() -> None:
    model = make_model(dim=4, seed=1)
    weights = np.linspace(0.5, 1.5, len(WORDS)).astype(np.float32)
    weighted = StaticModel(model.embedding, make_tokenizer(), weights=weights)
    table = token_table(weighted)
    np.testing.assert_allclose(table, model.embedding * weights[:, None], rtol=1e-6)
    plain = StaticModel(table, make_tokenizer())
    np.testing.assert_allclose(plain.encode(TEXTS), weighted.encode(TEXTS), rtol=1e-5, atol=1e-6)

    mapping = np.arange(len(WORDS)) % 3
    mapped = StaticModel(model.embedding[:3], make_tokenizer(), token_mapping=mapping)
    np.testing.assert_array_equal(token_table(mapped), model.embedding[:3][mapping])


def test_token_table_is_a_copy() -> None:
    model = make_model(dim=4, seed=1)  # float32, no weights, no mapping: the case that could alias
    before = model.embedding.copy()
    table = token_table(model)
    table += 1.0
    np.testing.assert_array_equal(model.embedding, before)


def test_interpolate_ends_and_middle() -> None:
    start, tuned = make_model(dim=4, seed=1), make_model(dim=4, seed=2)
    np.testing.assert_allclose(interpolate(start, tuned, 0.0).embedding, start.embedding)
    np.testing.assert_allclose(interpolate(start, tuned, 1).embedding, tuned.embedding)
    middle = interpolate(start, tuned, 0.25)
    np.testing.assert_allclose(middle.embedding, 0.75 * start.embedding + 0.25 * tuned.embedding, rtol=1e-6)
    assert middle.config["interpolation"] == {"share": 0.25}
    assert middle.weights is None and middle.token_mapping is None
    assert middle.normalize == start.normalize


def test_interpolate_mixes_storage_kinds() -> None:
    start = make_model(dim=4, seed=1)
    tuned = quantize_model(make_model(dim=4, seed=2), quantize_to="int8")
    mixed = interpolate(start, tuned, 0.5)
    expected = 0.5 * start.embedding + 0.5 * token_table(tuned)
    np.testing.assert_allclose(mixed.embedding, expected, rtol=1e-6)


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_interpolate_rejects_share_out_of_range(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        interpolate(make_model(), make_model(seed=1), share)


@pytest.mark.parametrize("share", [True, "0.5", None])
def test_interpolate_rejects_share_of_wrong_type(share: object) -> None:
    with pytest.raises(TypeError, match="share"):
        interpolate(make_model(), make_model(seed=1), share)  # type: ignore[arg-type]


def test_interpolate_rejects_mismatches() -> None:
    with pytest.raises(ValueError, match="width"):
        interpolate(make_model(dim=4), make_model(dim=8), 0.5)
    other_words = [*WORDS[:-1], "zebra"]
    other = StaticModel(np.ones((len(other_words), 8), np.float32), make_tokenizer(other_words))
    with pytest.raises(ValueError, match="vocabulary"):
        interpolate(make_model(), other, 0.5)
    with pytest.raises(TypeError, match="tuned"):
        interpolate(make_model(), np.ones((3, 8)), 0.5)  # type: ignore[arg-type]
