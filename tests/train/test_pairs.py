"""StaticModelForPairSimilarity: 1/0 pairs (contrastive) and graded scores (CoSENT), export, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from model2vec import StaticModel
from model2vec.train import StaticModelForPairSimilarity
from model2vec.train.pairs import contrastive_cosine_loss, cosent_loss

from ..conftest import make_model
from .helpers import POSITIVE, toy_task


def toy_pairs(n: int = 200, seed: int = 0) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray]:
    """Pairs of toy texts: label 1 when both have the same sentiment, and a graded score of agreement."""
    texts, labels = toy_task(2 * n, seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    pairs, binary, graded = [], [], []
    for i, j in zip(order[:n], order[n:], strict=True):
        pairs.append((texts[i], texts[j]))
        binary.append(float(labels[i] == labels[j]))
        positive = [sum(w in POSITIVE for w in texts[k].split()) for k in (i, j)]
        graded.append(5.0 - abs(positive[0] - positive[1]) * 2.0)
    return pairs, np.asarray(binary), np.asarray(graded)


def pair_model(**kwargs: Any) -> StaticModelForPairSimilarity:
    return StaticModelForPairSimilarity.from_static_model(model=make_model(dim=16), **kwargs)


def fit(
    y_kind: str = "binary", **kwargs: Any
) -> tuple[StaticModelForPairSimilarity, list[tuple[str, str]], np.ndarray]:
    pairs, binary, graded = toy_pairs()
    y = binary if y_kind == "binary" else graded
    kwargs.setdefault("max_epochs", 30)
    kwargs.setdefault("learning_rate", 2e-2)
    model = pair_model().fit(pairs, y, random_seed=0, show_progress_bar=False, **kwargs)
    return model, pairs, y


def test_contrastive_training_separates_similar_pairs() -> None:
    pairs, binary, _ = toy_pairs()
    before = pair_model().evaluate(pairs, binary)["average_precision"]
    model, _, _ = fit()
    assert model.loss == "contrastive"
    after = model.evaluate(pairs, binary)
    assert after["average_precision"] > max(0.9, before + 0.1)
    assert model.history["best_val_score"] == max(model.history["val_score"])


def test_graded_scores_use_cosent() -> None:
    pairs, _, graded = toy_pairs()
    before = pair_model().evaluate(pairs, graded)["spearman"]
    model, _, _ = fit("graded")
    assert model.loss == "cosent"
    after = model.evaluate(pairs, graded)
    assert "average_precision" not in after
    assert after["spearman"] > before + 0.2


def test_exported_static_model_gives_the_trained_cosines(tmp_path: Path) -> None:
    model, pairs, _ = fit(max_epochs=3)
    static = model.to_static_model()
    static.save_pretrained(tmp_path / "pairs")
    loaded = StaticModel.from_pretrained(tmp_path / "pairs")
    a = loaded.encode([p[0] for p in pairs])
    b = loaded.encode([p[1] for p in pairs])
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosines = np.einsum("ij,ij->i", a, b) / np.where(norms > 0, norms, 1)
    np.testing.assert_allclose(cosines, model.similarity(pairs), atol=1e-5)


def test_same_seed_same_model() -> None:
    first, pairs, _ = fit(max_epochs=2)
    second, _, _ = fit(max_epochs=2)
    np.testing.assert_array_equal(first.similarity(pairs), second.similarity(pairs))


def test_embedding_bag_pooling_equals_encode() -> None:
    static = make_model(dim=16, weights=np.linspace(0.5, 2, 22).astype(np.float32))
    model = StaticModelForPairSimilarity.from_static_model(model=static)
    texts = ["hello world", "", "zzz qqq", "the cat sat on the mat!", "日本 dogs"]
    from model2vec.train.base import PackedTokens

    pooled = model.embed_all(PackedTokens(model._token_ids(texts))).numpy()
    np.testing.assert_allclose(pooled, static.encode(texts, normalize=True), rtol=1e-5, atol=1e-6)


def test_losses() -> None:
    cosines = torch.tensor([0.9, -0.5, 0.2])
    labels = torch.tensor([1.0, 0.0, 0.0])
    assert float(contrastive_cosine_loss(cosines, labels)) == pytest.approx((0.1 + 0.5 + 0.2) / 3)
    # Right order: small loss; reversed order: larger; one distinct score: log(1) = 0.
    scores = torch.tensor([3.0, 2.0, 1.0])
    right = float(cosent_loss(torch.tensor([0.9, 0.5, 0.1]), scores))
    wrong = float(cosent_loss(torch.tensor([0.1, 0.5, 0.9]), scores))
    assert 0 < right < wrong
    assert float(cosent_loss(cosines, torch.ones(3))) == 0.0


@pytest.mark.parametrize(
    ("X", "y", "extra", "error", "match"),
    [
        ([("a", "b"), ("c", "d")], [1, 0, 1], {}, ValueError, "same length"),
        ([], [], {}, ValueError, "empty"),
        ([("a", "b"), ("c", "d")], [1, float("nan")], {}, ValueError, "NaN"),
        ([("a", "b"), ("c", "d")], ["yes", "no"], {}, TypeError, "number"),
        ([("a", "b"), ("c", "d")], [None, 1], {}, TypeError, "number"),
        (["a b", "c d"], [1, 0], {}, TypeError, "tuple"),
        ([("a", "b", "c"), ("c", "d", "e")], [1, 0], {}, ValueError, "2"),
        ([("a", 1), ("c", "d")], [1, 0], {}, TypeError, "str"),
        ([("a", "b"), ("c", "d"), ("e", "f")], [0.5, 0.2, 1.0], {"loss": "contrastive"}, ValueError, "1 .similar"),
        ([("a", "b"), ("c", "d"), ("e", "f")], [0.5, 0.5, 0.5], {"loss": "cosent"}, ValueError, "distinct"),
        ([("a", "b"), ("c", "d")], [1, 0], {"loss": "triplet"}, ValueError, "loss must be"),
        ([("a", "b"), ("c", "d")], [1, 0], {"X_val": [("a", "b")]}, ValueError, "together"),
        ([("a", "b"), ("c", "d")], [1, 0], {"X_val": [("a", "b")], "y_val": [0.5]}, ValueError, "1/0"),
    ],
)
def test_bad_input(X: Any, y: Any, extra: dict[str, Any], error: type[Exception], match: str) -> None:  # noqa: N803
    with pytest.raises(error, match=match):
        pair_model().fit(X, y, show_progress_bar=False, **extra)
