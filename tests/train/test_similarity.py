"""StaticModelForSimilarity: fitting texts to target vectors, export and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model2vec.train import StaticModelForSimilarity
from model2vec.train.similarity import cosine_loss

from ..conftest import make_model
from .helpers import toy_task


def teacher_targets(texts: list[str]) -> np.ndarray:
    """Targets from a different random static model: learnable by a linear head over our table."""
    return make_model(dim=6, seed=7).encode(texts)


def test_fit_moves_outputs_towards_the_targets() -> None:
    texts, _ = toy_task()
    targets = teacher_targets(texts)
    model = StaticModelForSimilarity.from_static_model(model=make_model(dim=16))
    before = float(cosine_loss(_tensor(_fresh(model, texts)), _tensor(targets)))
    model.fit(texts, targets, learning_rate=1e-2, max_epochs=30, show_progress_bar=False)
    after = float(cosine_loss(_tensor(model.predict(texts)), _tensor(targets)))
    assert model.out_dim == 6 and model.predict(texts).shape == (len(texts), 6)
    assert after < 0.5 * before
    assert model.evaluate(texts, targets)["cosine_loss"] == pytest.approx(after, abs=1e-6)
    with pytest.raises(ValueError, match="width"):
        model.evaluate(texts, targets[:, :3])
    assert model.history["best_val_score"] == max(model.history["val_score"])
    exported = model.to_static_model()
    np.testing.assert_allclose(exported.encode(texts), model.encode(texts), rtol=1e-5, atol=1e-6)


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(array, dtype=np.float32))


def _fresh(model: StaticModelForSimilarity, texts: list[str]) -> np.ndarray:
    """Outputs of an untrained linear head of the targets' width (the loss before fitting)."""
    torch.manual_seed(42)
    model.out_dim = 6
    model.head = model.construct_head()
    return model.predict(texts)


@pytest.mark.parametrize(
    ("y", "extra", "match"),
    [
        (np.ones((3, 4)), {}, "same length"),
        (np.ones(4), {}, "2-D"),
        (np.full((4, 2), np.nan), {}, "NaN"),
        (np.ones((4, 2)), {"X_val": ["a"]}, "together"),
        (np.ones((4, 2)), {"X_val": ["a"], "y_val": np.ones((1, 3))}, "width"),
    ],
)
def test_bad_input(y: np.ndarray, extra: dict[str, object], match: str) -> None:
    model = StaticModelForSimilarity.from_static_model(model=make_model(dim=8))
    with pytest.raises(ValueError, match=match):
        model.fit(["a", "b", "c", "d"], y, show_progress_bar=False, **extra)  # type: ignore[arg-type]
