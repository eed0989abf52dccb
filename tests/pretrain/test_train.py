from __future__ import annotations

import numpy as np
import pytest

from model2vec import StaticModel
from model2vec.pretrain.train import Loss, TrainConfig, fit_to_targets, tokenize_texts

from ..conftest import WORDS, make_model, make_tokenizer
from .conftest import corpus


def teacher_targets(texts: list[str], dim: int = 8) -> np.ndarray:
    """Targets from a hidden 'true' table: the normalised mean of each text's true rows."""
    truth = make_model(dim=dim, seed=123, normalize=True)
    return truth.encode(texts)


def fit(loss: str = "cosine", seed: int = 0, epochs: int = 20, **kwargs: object) -> tuple[StaticModel, object]:
    texts = corpus(200)
    config = TrainConfig(
        loss=loss,
        learning_rate=0.1,
        batch_size=40,
        max_epochs=epochs,
        patience=3,
        seed=seed,
        **kwargs,  # type: ignore[arg-type]
    )
    start = make_model(dim=8, seed=1, normalize=True)
    return start, fit_to_targets(start, texts, teacher_targets(texts), config, show_progress_bar=False)


@pytest.mark.parametrize("loss", [loss.value for loss in Loss])
def test_training_fits_the_targets(loss: str) -> None:
    start, result = fit(loss)
    history = result.history  # type: ignore[attr-defined]
    assert history[0]["validation_loss"] > 2 * result.best_validation_loss  # type: ignore[attr-defined]
    texts = corpus(200)
    targets = teacher_targets(texts)
    before = np.sum(start.encode(texts) * targets, axis=1)
    after = np.sum(result.model.encode(texts) * targets, axis=1)  # type: ignore[attr-defined]
    if loss == "contrastive":
        # Contrastive training ranks each text's own target first; it does not pin the exact vector.
        def own_target_first(vectors: np.ndarray) -> float:
            return float(np.mean(np.argmax(vectors @ targets.T, axis=1) == np.arange(len(texts))))

        assert after.mean() > before.mean() + 0.2
        assert own_target_first(result.model.encode(texts)) > own_target_first(start.encode(texts))  # type: ignore[attr-defined]
    else:
        assert after.mean() > 0.95 > before.mean()


def test_weights_are_folded_into_rows() -> None:
    _, result = fit(epochs=2)
    model = result.model  # type: ignore[attr-defined]
    assert model.weights is None and model.embedding.dtype == np.float32
    assert result.token_weights.shape == (len(WORDS),) and (result.token_weights > 0).all()  # type: ignore[attr-defined]
    assert model.config["pretrain"]["loss"] == "cosine"
    counts = result.token_counts  # type: ignore[attr-defined]
    tokens = tokenize_texts(model, corpus(200))
    np.testing.assert_array_equal(counts, np.bincount(tokens.ids, minlength=len(WORDS)))


def test_same_seed_same_model() -> None:
    _, first = fit(epochs=3, seed=5)
    _, second = fit(epochs=3, seed=5)
    _, other = fit(epochs=3, seed=6)
    np.testing.assert_array_equal(first.model.embedding, second.model.embedding)  # type: ignore[attr-defined]
    assert not np.array_equal(first.model.embedding, other.model.embedding)  # type: ignore[attr-defined]


def test_frozen_weights_stay_one() -> None:
    _, result = fit(epochs=2, train_weights=False)
    np.testing.assert_array_equal(result.token_weights, 1.0)  # type: ignore[attr-defined]


def test_tokenize_texts_matches_model_tokenize() -> None:
    model = make_model()
    texts = ["hello world", "", "zzz", "the cat sat"]
    tokens = tokenize_texts(model, texts, chunk=2)
    lists = model.tokenize(texts)
    assert [tokens.ids[a:b].tolist() for a, b in zip(tokens.offsets[:-1], tokens.offsets[1:], strict=True)] == lists
    ids, offsets = tokens.select(np.array([3, 0]))
    assert ids.tolist() == lists[3] + lists[0] and offsets.tolist() == [0, len(lists[3])]


def test_errors() -> None:
    model = make_model(dim=8)
    texts = corpus(10)
    with pytest.raises(ValueError, match="targets must be"):
        fit_to_targets(model, texts, np.zeros((3, 8)))
    with pytest.raises(ValueError, match="pca_dims=None"):
        fit_to_targets(model, texts, np.zeros((10, 4)))
    with pytest.raises(ValueError, match="at least 2 texts"):
        fit_to_targets(model, ["zzz", "qqq", "hello"], np.zeros((3, 8)), show_progress_bar=False)
    mapped = StaticModel(
        np.ones((2, 8), dtype=np.float32), make_tokenizer(), token_mapping=np.zeros(len(WORDS), dtype=np.int64)
    )
    with pytest.raises(ValueError, match="vocabulary-quantised"):
        fit_to_targets(mapped, texts, np.zeros((10, 8)))
    with pytest.raises(ValueError, match="validation_fraction"):
        TrainConfig(validation_fraction=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError):
        TrainConfig(loss="hinge")


def test_contrastive_temperature_is_used_and_checked() -> None:
    _, cool = fit("contrastive", epochs=2, temperature=0.05)
    _, warm = fit("contrastive", epochs=2, temperature=0.5)
    # The same data and seed: only the temperature differs, and it changes the trained table.
    assert not np.array_equal(cool.model.embedding, warm.model.embedding)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="temperature"):
        TrainConfig(temperature=0.0)
