"""Tests for model2vec.pretrain.language_subspace: removing language-identity directions from a table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from model2vec import StaticModel
from model2vec.model import quantize_model
from model2vec.pretrain.language_subspace import (
    language_directions,
    language_means,
    remove_directions,
    remove_language_subspace,
)
from tests.conftest import make_model

MEANINGS = ["dog", "cat", "house", "tree", "water", "sun"]
LANGUAGES = {
    "eng": MEANINGS,
    "deu": ["hund", "katze", "haus", "baum", "wasser", "sonne"],
    "fra": ["chien", "chat", "maison", "arbre", "eau", "soleil"],
}


def bilingual_model(offset_scale: float = 3.0, seed: int = 0) -> StaticModel:
    """Rows = a meaning vector shared by translations + a large per-language offset."""
    rng = np.random.default_rng(seed)
    meanings = rng.normal(size=(len(MEANINGS), 8))
    offsets = {language: offset_scale * rng.normal(size=8) for language in LANGUAGES}
    words = ["[UNK]"] + [word for language in LANGUAGES for word in LANGUAGES[language]]
    rows = [np.zeros(8)] + [meanings[i] + offsets[language] for language in LANGUAGES for i in range(len(MEANINGS))]
    tokenizer = Tokenizer(models.WordLevel({word: i for i, word in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return StaticModel(np.asarray(rows, dtype=np.float32), tokenizer, normalize=True)


def sentences(language: str) -> list[str]:
    words = LANGUAGES[language]
    return [f"{words[i]} {words[(i + 1) % len(words)]}" for i in range(len(words))]


def test_translations_meet_after_removing_the_language_directions() -> None:
    model = bilingual_model()
    texts = {language: sentences(language) for language in LANGUAGES}
    before = {language: model.encode(texts[language]) for language in LANGUAGES}
    projected = remove_language_subspace(model, texts, count=2)
    after = {language: projected.encode(texts[language]) for language in LANGUAGES}
    # Three languages' offsets span two directions once centred: removing them leaves (nearly) only
    # meaning (the means are of normalised vectors, so the span is close to, not exactly, the offsets').
    for language in ("deu", "fra"):
        cosine_before = np.sum(before[language] * before["eng"], axis=1)
        cosine_after = np.sum(after[language] * after["eng"], axis=1)
        assert cosine_before.min() < 0.8 and cosine_after.min() > 0.99
    assert projected.config["language_subspace"] == {"removed_directions": 2, "languages": 3}
    assert projected.normalize and projected.weights is None


def test_projection_commutes_with_pooling() -> None:
    model = make_model(dim=6, seed=3, normalize=False)
    rng = np.random.default_rng(0)
    directions = np.linalg.qr(rng.normal(size=(6, 2)))[0].T.astype(np.float32)
    texts = ["hello world", "the cat sat on the mat", "dog"]
    raw = model.encode(texts)
    projected = remove_directions(model, directions)
    np.testing.assert_array_equal(model.encode(texts), raw)  # the model itself is left alone
    expected = raw - (raw @ directions.T) @ directions
    np.testing.assert_allclose(projected.encode(texts), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(projected.embedding @ directions.T, 0.0, atol=1e-5)


def test_weights_are_folded_in() -> None:
    model = make_model(dim=6, seed=3)
    weights = np.linspace(0.5, 2.0, model.embedding.shape[0]).astype(np.float32)
    weighted = StaticModel(model.embedding, model.tokenizer, weights=weights)
    empty = np.zeros((0, 6), dtype=np.float32)
    np.testing.assert_allclose(
        remove_directions(weighted, empty).encode(["hello cat"]), weighted.encode(["hello cat"]), rtol=1e-5
    )
    quantised = quantize_model(model, quantize_to="int8")
    np.testing.assert_allclose(
        remove_directions(quantised, empty).encode(["the dog"]), quantised.encode(["the dog"]), rtol=1e-5
    )


def test_language_means_and_directions_shapes() -> None:
    model = bilingual_model()
    means = language_means(model, {language: sentences(language) for language in LANGUAGES})
    assert means.shape == (3, 8) and means.dtype == np.float32
    directions = language_directions(means, 2)
    np.testing.assert_allclose(directions @ directions.T, np.eye(2), atol=1e-5)
    assert language_directions(means, 0).shape == (0, 8)


@pytest.mark.parametrize("count", [-1, 3, 2.5, True])
def test_language_directions_rejects_bad_counts(count: object) -> None:
    with pytest.raises(ValueError, match="count"):
        language_directions(np.ones((3, 8)), count)  # type: ignore[arg-type]


def test_bad_inputs() -> None:
    model = bilingual_model()
    with pytest.raises(ValueError, match="no texts"):
        language_means(model, {"eng": []})
    with pytest.raises(TypeError, match="sequence of strings"):
        language_means(model, {"eng": "dog cat"})
    with pytest.raises(TypeError, match="mapping"):
        language_means(model, [("eng", ["dog"])])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite 2-D"):
        language_directions(np.array([[np.nan, 1.0], [0.0, 1.0]]), 1)
    with pytest.raises(ValueError, match=r"\(k, 8\)"):
        remove_directions(model, np.ones((1, 4)))
    with pytest.raises(ValueError, match="orthonormal"):
        remove_directions(model, np.ones((1, 8)))
    with pytest.raises(TypeError, match="StaticModel"):
        remove_directions("model", np.zeros((0, 8)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        remove_language_subspace(model, {"eng": ["dog"], "deu": ["hund"]}, count=2)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from model2vec.cli import main

    folder, out = tmp_path / "model", tmp_path / "out"
    bilingual_model().save_pretrained(folder)
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{language}\t{text}\n" for language in LANGUAGES for text in sentences(language)))
    args = ["remove-language-directions", str(folder), str(corpus), "--out", str(out), "--quantize-to", "float32"]
    assert main([*args, "--count", "2"]) == 0
    assert "2 directions of 3 languages removed" in capsys.readouterr().out
    projected = StaticModel.from_pretrained(out)
    cosine = np.sum(projected.encode(sentences("deu")) * projected.encode(sentences("eng")), axis=1)
    assert cosine.min() > 0.99
    # The default (32 directions) needs more languages than this corpus has: one line, exit status 2.
    assert main([*args[:-2], "--out", str(tmp_path / "other")]) == 2
    assert "count must be in [0, 2]" in capsys.readouterr().err
