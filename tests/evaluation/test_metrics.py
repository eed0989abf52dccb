"""Metric functions against hand-computed values and against scipy / scikit-learn on random data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model2vec.evaluation import metrics


def test_spearman_hand_computed() -> None:
    # One swapped neighbour pair: rho = 1 - 6 * 2 / (4 * 15) = 0.8.
    assert metrics.spearman(np.array([1, 2, 3, 4]), np.array([1, 3, 2, 4])) == pytest.approx(0.8)
    # Ties share ranks: x ranks [1, 2.5, 2.5, 4] against [1, 2, 3, 4] -> 4.5 / sqrt(4.5 * 5).
    assert metrics.spearman(np.array([1, 2, 2, 3]), np.array([1, 2, 3, 4])) == pytest.approx(4.5 / math.sqrt(22.5))
    assert metrics.spearman(np.array([1, 2, 3]), np.array([3, 2, 1])) == pytest.approx(-1.0)


def test_spearman_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, size=200).astype(float)  # many ties
    y = x + rng.normal(size=200)
    assert metrics.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert metrics.pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)


def test_correlation_edge_cases() -> None:
    assert math.isnan(metrics.spearman(np.ones(5), np.arange(5)))
    with pytest.raises(ValueError, match="equal length"):
        metrics.spearman(np.arange(3), np.arange(4))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.pearson(np.array([1.0]), np.array([2.0]))


def test_rank_average() -> None:
    np.testing.assert_array_equal(metrics.rank_average(np.array([10, 30, 20, 20])), [1, 4, 2.5, 2.5])


def test_average_precision_hand_computed() -> None:
    # Hits at ranks 1 and 3: AP = 0.5 * 1 + 0.5 * 2/3.
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    assert metrics.average_precision(labels, scores) == pytest.approx(0.5 + 1 / 3)
    # A tie is one threshold: precision 1/2 at recall 1.
    assert metrics.average_precision(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert metrics.average_precision(np.array([0, 1]), np.array([0.1, 0.9])) == pytest.approx(1.0)


def test_average_precision_matches_sklearn() -> None:
    sk_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=300)
    scores = np.round(rng.normal(size=300) + labels, 1)  # rounding creates ties
    expected = sk_metrics.average_precision_score(labels, scores)
    assert metrics.average_precision(labels, scores) == pytest.approx(expected, abs=1e-12)


def test_average_precision_errors() -> None:
    with pytest.raises(ValueError, match="positive"):
        metrics.average_precision(np.array([0, 0]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="0 or 1"):
        metrics.average_precision(np.array([2, 0]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="finite"):
        metrics.average_precision(np.array([1, 0]), np.array([np.nan, 0.2]))
    with pytest.raises(ValueError, match="at least one"):
        metrics.average_precision(np.array([], dtype=int), np.array([]))


def test_best_threshold_scores_hand_computed() -> None:
    # Cuts after ranks 1..4 give accuracy .75, .5, .75, .5 and F1 2/3, 1/2, 4/5, 2/3.
    best = metrics.best_threshold_scores(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]))
    assert best == {"accuracy": pytest.approx(0.75), "f1": pytest.approx(0.8)}
    # All negative: predicting nothing positive is perfect; F1 is 0.
    assert metrics.best_threshold_scores(np.array([0, 0]), np.array([0.3, 0.2])) == {"accuracy": 1.0, "f1": 0.0}


def test_v_measure_hand_computed() -> None:
    assert metrics.v_measure([0, 0, 1, 1], [5, 5, 9, 9]) == pytest.approx(1.0)
    assert metrics.v_measure(["a", "a", "b", "b"], [0, 0, 0, 0]) == pytest.approx(0.0)
    # true [0,0,1,1], pred [0,0,0,1]: H(C)=ln2, H(K)=H(3/4,1/4), H(C|K)=3/4 H(1/3,2/3), H(K|C)=1/2 ln2.
    h_c = math.log(2)
    h_k = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    h_c_k = 0.75 * -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    h_k_c = 0.5 * math.log(2)
    homogeneity, completeness = 1 - h_c_k / h_c, 1 - h_k_c / h_k
    expected = 2 * homogeneity * completeness / (homogeneity + completeness)
    assert metrics.v_measure([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(expected)


def test_v_measure_matches_sklearn() -> None:
    sk_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    true = rng.integers(0, 5, size=400)
    pred = np.where(rng.random(400) < 0.6, true, rng.integers(0, 7, size=400))
    assert metrics.v_measure(true, pred) == pytest.approx(sk_metrics.v_measure_score(true, pred), abs=1e-12)
    with pytest.raises(ValueError, match="at least one"):
        metrics.v_measure([], [])


def test_retrieval_metrics_hand_computed() -> None:
    relevance = {"b": 1.0, "d": 1.0, "x": 0.0}
    ranked = ["a", "b", "c"]
    # DCG = 1/log2(3); ideal DCG = 1 + 1/log2(3).
    assert metrics.ndcg_at_k(ranked, relevance, 10) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    # One hit at rank 2, two relevant documents in total: (1/2) / 2.
    assert metrics.map_at_k(ranked, relevance, 10) == pytest.approx(0.25)
    assert metrics.recall_at_k(ranked, relevance, 2) == pytest.approx(0.5)
    assert metrics.recall_at_k(ranked, relevance, 1) == 0.0
    assert metrics.ndcg_at_k(ranked, relevance, 1) == 0.0
    # Graded gains: ranked [b, a] with a=2, b=1 -> (1 + 2/log2 3) / (2 + 1/log2 3).
    graded = {"a": 2.0, "b": 1.0}
    expected = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert metrics.ndcg_at_k(["b", "a"], graded, 10) == pytest.approx(expected)
    assert metrics.ndcg_at_k(["a", "b"], graded, 10) == pytest.approx(1.0)


def test_retrieval_metrics_edge_cases() -> None:
    for metric in (metrics.ndcg_at_k, metrics.map_at_k, metrics.recall_at_k):
        assert metric(["a"], {}, 5) == 0.0  # no relevant document
        assert metric([], {"a": 1.0}, 5) == 0.0  # nothing retrieved
        with pytest.raises(ValueError, match="positive int"):
            metric(["a"], {"a": 1.0}, 0)


def test_top_k_indices() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.2], [1.0, 1.0, 0.0, 0.3]])
    np.testing.assert_array_equal(metrics.top_k_indices(scores, 2), [[1, 2], [0, 1]])
    np.testing.assert_array_equal(metrics.top_k_indices(scores, 10), [[1, 2, 3, 0], [0, 1, 3, 2]])
    assert metrics.top_k_indices(np.zeros((2, 0)), 3).shape == (2, 0)


def test_cosine_helpers_handle_zero_vectors() -> None:
    left = np.array([[1.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    right = np.array([[2.0, 0.0], [1.0, 1.0], [-3.0, -4.0]])
    np.testing.assert_allclose(metrics.paired_cosine(left, right), [1.0, 0.0, -1.0], atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(metrics.unit_rows(left), axis=1), [1.0, 0.0, 1.0], atol=1e-7)
    with pytest.raises(ValueError, match="same shape"):
        metrics.paired_cosine(left, right[:2])
