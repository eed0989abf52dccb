"""The numpy k-means behind vocabulary quantisation: exact Lloyd fixed points, seeds, edge cases, speed."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel, quantize_model
from model2vec.quantization import kmeans, quantize_vocabulary

from .conftest import make_model


def clustered_directions(n: int = 3000, dim: int = 32, centres: int = 150, seed: int = 0) -> np.ndarray:
    """Unit vectors scattered around random unit centres (like a vocabulary's directions)."""
    rng = np.random.default_rng(seed)
    middles = rng.standard_normal((centres, dim)).astype(np.float32)
    points = middles[rng.integers(0, centres, n)] + 0.4 * rng.standard_normal((n, dim)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def test_result_is_a_lloyd_fixed_point() -> None:
    points = clustered_directions()
    result = kmeans(points, 128, seed=1, max_iter=100, show_progress_bar=False)
    assert result.converged and 1 < result.iterations < 100
    assert result.labels.shape == (len(points),) and result.centres.shape == (128, points.shape[1])
    # Every centre is the mean of its points ...
    for cluster in range(128):
        members = points[result.labels == cluster]
        assert len(members) > 0
        np.testing.assert_allclose(result.centres[cluster], members.mean(axis=0), atol=1e-5)
    # ... and every point sits in its nearest cluster (the skipped comparisons lost nothing).
    distances = ((points[:, None, :].astype(np.float64) - result.centres[None].astype(np.float64)) ** 2).sum(-1)
    nearest = distances.min(axis=1)
    assert np.all(distances[np.arange(len(points)), result.labels] <= nearest + 1e-5)
    assert result.inertia == pytest.approx(nearest.sum(), rel=1e-4)


def test_same_seed_same_result_other_seed_other_start() -> None:
    points = clustered_directions(seed=3)
    first = kmeans(points, 64, seed=7, show_progress_bar=False)
    second = kmeans(points, 64, seed=7, show_progress_bar=False)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.centres, second.centres)
    other = kmeans(points, 64, seed=8, show_progress_bar=False)
    assert not np.array_equal(first.labels, other.labels)


def test_inertia_comparable_to_scikit_learn() -> None:
    sklearn_cluster = pytest.importorskip("sklearn.cluster", reason="scikit-learn is the reference here")
    points = clustered_directions(n=2000, dim=32, centres=300, seed=5)
    ours = np.mean([kmeans(points, 128, seed=seed, show_progress_bar=False).inertia for seed in range(2)])
    theirs = np.mean(
        [
            sklearn_cluster.KMeans(128, n_init=1, init="k-means++", random_state=seed).fit(points).inertia_
            for seed in range(2)
        ]
    )
    assert ours <= 1.03 * theirs


def test_duplicate_rows_and_more_clusters_than_distinct_rows() -> None:
    rng = np.random.default_rng(0)
    distinct = rng.standard_normal((10, 6)).astype(np.float32)
    points = distinct[np.arange(200) % 10]
    # As many clusters as distinct rows: each distinct row is its own cluster.
    exact = kmeans(points, 10, seed=0, show_progress_bar=False)
    assert exact.inertia == pytest.approx(0.0, abs=1e-6)
    assert len(np.unique(exact.labels)) == 10
    # More clusters than distinct rows: no error, still zero inertia; the extra centres hold a duplicate row.
    extra = kmeans(points, 12, seed=0, show_progress_bar=False)
    assert extra.inertia == pytest.approx(0.0, abs=1e-6)
    assert extra.labels.min() >= 0 and extra.labels.max() < 12


def test_empty_clusters_are_refilled() -> None:
    # Two far groups and a start that can leave clusters empty: every cluster must end with members.
    points = clustered_directions(n=500, dim=8, centres=4, seed=2)
    for seed in range(5):
        result = kmeans(points, 40, seed=seed, show_progress_bar=False)
        assert np.bincount(result.labels, minlength=40).min() >= 1


@pytest.mark.parametrize("k", [1, 50])
def test_extremes(k: int) -> None:
    points = clustered_directions(n=50, dim=4, centres=5)
    result = kmeans(points, k, seed=0, show_progress_bar=False)
    assert len(np.unique(result.labels)) == k
    if k == len(points):
        assert result.inertia == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_clusters": 0}, "n_clusters"), ({"n_clusters": 51}, "n_clusters"), ({"max_iter": 0}, "max_iter")],
)
def test_bad_arguments(kwargs: dict[str, int], message: str) -> None:
    arguments = {"n_clusters": 4, "max_iter": 10} | kwargs
    with pytest.raises(ValueError, match=message):
        kmeans(np.ones((50, 3), dtype=np.float32), **arguments)


def test_quantize_vocabulary_refuses_nan() -> None:
    table = np.ones((10, 4), dtype=np.float32)
    table[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        quantize_vocabulary(table, 4)


def test_progress_bar_when_asked_only(capsys: pytest.CaptureFixture[str]) -> None:
    points = clustered_directions(n=300, dim=8)
    quantize_vocabulary(points, 16, show_progress_bar=True)
    assert "Quantising vocabulary" in capsys.readouterr().err
    quantize_vocabulary(points, 16, show_progress_bar=False)
    quantize_vocabulary(points, 16)  # None: shown on a terminal only, and pytest's stderr is not one
    assert capsys.readouterr().err == ""


def test_small_table_is_fast() -> None:
    # 5,000 x 64 into 512 clusters is ~1/900 of the 30k x 256 -> 4,096 benchmark's work per iteration.
    points = clustered_directions(n=5000, dim=64, centres=600, seed=4)
    start = time.process_time()
    kmeans(points, 512, seed=0, show_progress_bar=False)
    assert time.process_time() - start < 10


def test_saved_quantised_model_loads_without_kmeans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_model(dim=8, normalize=True)
    quantized = quantize_model(model, vocabulary_quantization=6)
    quantized.save_pretrained(tmp_path / "q")

    def no_kmeans(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading a saved quantised model must not cluster again")

    monkeypatch.setattr("model2vec.quantization.kmeans", no_kmeans)
    monkeypatch.setattr("model2vec.model.quantize_vocabulary", no_kmeans)
    loaded = StaticModel.from_pretrained(tmp_path / "q")
    assert loaded.embedding.shape[0] == 6
    texts = ["the cat sat", "hello world"]
    np.testing.assert_allclose(loaded.encode(texts), quantized.encode(texts), atol=1e-6)


def test_quantize_model_progress_switch(capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model(dim=8)
    quantize_model(model, vocabulary_quantization=6, show_progress_bar=True)
    assert "Quantising vocabulary" in capsys.readouterr().err
    quantize_model(model, vocabulary_quantization=6, show_progress_bar=False)
    assert capsys.readouterr().err == ""
