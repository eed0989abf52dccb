"""StaticModelForRegression: learning numeric targets, the torch-free pipeline, round trips, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model2vec.inference import StaticModelPipeline, check_head_file
from model2vec.train import StaticModelForRegression

from ..conftest import make_model
from .helpers import NEGATIVE, POSITIVE, toy_task
from .test_pipeline import _run_without


def toy_values(n: int = 160, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Texts and two targets: (positive words - negative words) * 10 + 50, and the number of words."""
    texts, _ = toy_task(n, seed)
    counts = np.array(
        [
            [sum(w in POSITIVE for w in t.split()) - sum(w in NEGATIVE for w in t.split()), len(t.split())]
            for t in texts
        ],
        dtype=np.float64,
    )
    return texts, np.stack([counts[:, 0] * 10 + 50, counts[:, 1]], axis=1)


def regressor(**kwargs: Any) -> StaticModelForRegression:
    kwargs.setdefault("hidden_dim", 16)
    return StaticModelForRegression.from_static_model(model=make_model(dim=16), **kwargs)


def fit_toy(columns: int = 1, **kwargs: Any) -> tuple[StaticModelForRegression, list[str], np.ndarray]:
    texts, values = toy_values()
    y = values[:, 0] if columns == 1 else values
    kwargs.setdefault("max_epochs", 40)
    kwargs.setdefault("learning_rate", 1e-2)
    model = regressor().fit(texts, y, random_seed=0, show_progress_bar=False, **kwargs)
    return model, texts, y


def test_fit_learns_a_numeric_target_in_its_units() -> None:
    model, texts, y = fit_toy()
    predicted = model.predict(texts)
    assert predicted.shape == (len(texts),) and predicted.dtype == np.float32
    metrics = model.evaluate(texts, y)
    assert set(metrics) == {"mse", "rmse", "mae", "r2", "pearson", "spearman"}
    # The target spans roughly 30..70; predicting its mean gives r2 = 0.
    assert metrics["r2"] > 0.8 and metrics["pearson"] > 0.9
    assert metrics["mse"] == pytest.approx(float(np.mean((predicted - y) ** 2)), rel=1e-4)
    assert model.history["best_val_score"] == max(model.history["val_score"])


def test_several_columns_are_predicted_together() -> None:
    model, texts, y = fit_toy(columns=2)
    predicted = model.predict(texts)
    assert predicted.shape == (len(texts), 2)
    assert model.evaluate(texts, y)["r2"] > 0.6
    with pytest.raises(ValueError, match="columns"):
        model.evaluate(texts, y[:, :1])


def test_same_seed_same_model() -> None:
    first, texts, _ = fit_toy(max_epochs=3)
    second, _, _ = fit_toy(max_epochs=3)
    np.testing.assert_array_equal(first.predict(texts), second.predict(texts))


@pytest.mark.parametrize("columns", [1, 2])
def test_pipeline_round_trip_predicts_the_same_floats(columns: int, tmp_path: Path) -> None:
    model, texts, y = fit_toy(columns=columns, max_epochs=5)
    pipeline = model.to_pipeline()
    assert pipeline.is_regressor
    np.testing.assert_allclose(pipeline.predict(texts), model.predict(texts), rtol=1e-5, atol=1e-4)
    pipeline.save_pretrained(tmp_path / "reg")
    # Nothing in the head is refused (skops trusts MLPRegressor itself): loading needs no trust_remote_code.
    assert check_head_file(tmp_path / "reg" / "pipeline.skops")[1] == []
    loaded = StaticModelPipeline.from_pretrained(tmp_path / "reg")
    got = loaded.predict(texts)
    assert got.dtype.kind == "f" and got.shape == np.shape(y)
    np.testing.assert_array_equal(got, pipeline.predict(texts))
    assert loaded.evaluate(texts, y)["r2"] == pytest.approx(model.evaluate(texts, y)["r2"], abs=1e-4)
    assert loaded.predict([]).shape == ((0,) if columns == 1 else (0, 2))
    assert "regression head" in (tmp_path / "reg" / "README.md").read_text()
    with pytest.raises(TypeError, match="no probabilities"):
        loaded.predict_proba(texts)
    with pytest.raises(AttributeError, match="no classes"):
        _ = loaded.classes_


def test_pipeline_predicts_where_torch_cannot_be_imported(tmp_path: Path) -> None:
    model, texts, _ = fit_toy(max_epochs=3)
    pipeline = model.to_pipeline()
    pipeline.save_pretrained(tmp_path / "pipe")
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    code = (
        "import json, sys\n"
        "from model2vec.inference import StaticModelPipeline\n"
        "p = StaticModelPipeline.from_pretrained('pipe')\n"
        "values = p.predict(json.load(open('texts.json')))\n"
        "assert sys.modules.get('torch') is None, 'torch was imported'\n"
        "print(json.dumps(values.tolist()))\n"
    )
    result = _run_without("torch", code, tmp_path)
    assert result.returncode == 0, result.stderr
    got = np.asarray(json.loads(result.stdout.strip().splitlines()[-1]), dtype=np.float32)
    np.testing.assert_array_equal(got, pipeline.predict(texts))


def test_validation_set_and_early_stopping() -> None:
    texts, values = toy_values()
    model = regressor().fit(
        texts[:120],
        values[:120, 0],
        X_val=texts[120:],
        y_val=values[120:, 0],
        learning_rate=1e-2,
        max_epochs=50,
        early_stopping_patience=2,
        show_progress_bar=False,
    )
    epochs = len(model.history["val_score"])
    assert epochs == 50 or model.history["best_epoch"] == epochs - 3
    assert model.evaluate(texts[120:], values[120:, 0])["pearson"] > 0.8


@pytest.mark.parametrize(
    ("y", "extra", "error", "match"),
    [
        ([1.0, 2.0, 3.0], {}, ValueError, "same length"),
        ([1.0, float("nan"), 3.0, 4.0], {}, ValueError, "NaN"),
        ([1.0, float("inf"), 3.0, 4.0], {}, ValueError, "NaN or infinite"),
        (["a", "b", "c", "d"], {}, TypeError, "str"),
        ([True, False, True, False], {}, TypeError, "bool"),
        ([1.0, None, 3.0, 4.0], {}, TypeError, "numbers"),
        ([[1.0], [2.0, 3.0], [4.0], [5.0]], {}, ValueError, "rectangular"),
        (np.ones((4, 2, 2)), {}, ValueError, "shape"),
        ([1.0, 2.0, 3.0, 4.0], {"X_val": ["a"]}, ValueError, "together"),
        ([1.0, 2.0, 3.0, 4.0], {"X_val": ["a"], "y_val": [[1.0, 2.0]]}, ValueError, "columns"),
        ([1.0, 2.0, 3.0, 4.0], {"learning_rate": 0}, ValueError, "learning_rate"),
    ],
)
def test_bad_input(y: Any, extra: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        regressor().fit(["a", "b", "c", "d"], y, show_progress_bar=False, **extra)


def test_empty_and_mismatched_texts() -> None:
    with pytest.raises(ValueError, match="empty"):
        regressor().fit([], [], show_progress_bar=False)
    with pytest.raises(TypeError, match="str"):
        regressor().fit(["a", 3, "c"], [1.0, 2.0, 3.0], show_progress_bar=False)  # type: ignore[list-item]
