"""Pure metric functions of the evaluation suite (numpy only, no model, no I/O).

Every function takes plain arrays and returns a float in the natural range of the metric (0-1 or -1..1);
the tasks multiply by 100 to report scores the way the MTEB leaderboard does. Each one follows the
reference implementation that MTEB relies on (scipy's Spearman, scikit-learn's average precision and
V-measure, trec_eval's nDCG / MAP / recall cut-offs), so the numbers are comparable with published ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise the rows of a 2-D array; all-zero rows stay zero.

    :param vectors: `(n, dim)` array of any float or int dtype.
    :return: float32 `(n, dim)` array whose non-zero rows have norm 1.
    :raises ValueError: If `vectors` is not 2-D.
    """
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"Expected a 2-D array of row vectors, got shape {array.shape}.")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    # A text without known tokens embeds to a zero vector; treat its cosine with anything as 0.
    return array / np.where(norms > 0, norms, 1.0)


def paired_cosine(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of `left` with the same row of `right`.

    :param left: `(n, dim)` array.
    :param right: `(n, dim)` array.
    :return: `(n,)` float32 array; a pair with a zero vector has similarity 0.
    :raises ValueError: If the shapes differ or are not 2-D.
    """
    if np.shape(left) != np.shape(right):
        raise ValueError(f"Paired arrays must have the same shape, got {np.shape(left)} and {np.shape(right)}.")
    return np.asarray(np.sum(unit_rows(left) * unit_rows(right), axis=1), dtype=np.float32)


def rank_average(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of `values`, ties sharing the mean of their ranks (scipy's `rankdata(method="average")`).

    :param values: 1-D array.
    :return: float64 ranks.
    :raises ValueError: If `values` is not 1-D.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"Expected a 1-D array, got shape {array.shape}.")
    order = np.argsort(array, kind="mergesort")
    sorted_values = array[order]
    # Boundaries of runs of equal values in sorted order; each run gets the mean of its positions.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], len(array)]
    run_ranks = (starts + ends + 1) / 2.0
    ranks = np.empty(len(array), dtype=np.float64)
    ranks[order] = np.repeat(run_ranks, ends - starts)
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two 1-D arrays.

    :return: The correlation in [-1, 1], or NaN when either input is constant (undefined).
    :raises ValueError: If lengths differ or fewer than 2 values are given.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"Expected two 1-D arrays of equal length, got {a.shape} and {b.shape}.")
    if len(a) < 2:
        raise ValueError("A correlation needs at least 2 values.")
    a = a - a.mean()
    b = b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if denominator == 0.0:
        return float("nan")
    return float(np.clip((a * b).sum() / denominator, -1.0, 1.0))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation: Pearson correlation of average ranks (ties handled like scipy).

    :return: The correlation in [-1, 1], or NaN when either input is constant.
    :raises ValueError: If lengths differ or fewer than 2 values are given.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"Expected two 1-D arrays of equal length, got {a.shape} and {b.shape}.")
    return pearson(rank_average(a), rank_average(b))


def _threshold_counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Count true and false positives when predicting "positive" for scores >= each distinct score.

    Tied scores form one threshold, as in scikit-learn's `precision_recall_curve`.
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"Expected labels and scores of equal 1-D shape, got {y.shape} and {s.shape}.")
    if len(y) == 0:
        raise ValueError("Need at least one labelled score.")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("Labels must be 0 or 1 (or booleans).")
    if not np.isfinite(s).all():
        raise ValueError("Scores must be finite.")
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order].astype(np.float64)
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]
    true_positives = np.cumsum(y_sorted)[last_of_run]
    false_positives = (last_of_run + 1) - true_positives
    return true_positives, false_positives


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of ranking by `scores` (higher = more likely positive).

    Defined as in scikit-learn's `average_precision_score`: the sum over distinct thresholds of
    (recall increase) x precision, without interpolation; tied scores count as one threshold.

    :param labels: 1-D array of 0/1 (or bool) ground truth.
    :param scores: 1-D array of finite scores, same length.
    :return: AP in [0, 1].
    :raises ValueError: On shape mismatch, empty input, labels other than 0/1, non-finite scores, or
        when there is no positive label (AP is undefined then).
    """
    true_positives, false_positives = _threshold_counts(labels, scores)
    n_positive = true_positives[-1]
    if n_positive == 0:
        raise ValueError("Average precision is undefined without a positive label.")
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / n_positive
    recall_gain = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_gain * precision))


def best_threshold_scores(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Best accuracy and best F1 over all thresholds "positive iff score >= t".

    MTEB reports both next to average precision for pair classification.

    :param labels: 1-D array of 0/1 ground truth.
    :param scores: 1-D array of finite scores.
    :return: `{"accuracy": ..., "f1": ...}`, each in [0, 1] (predicting all-negative is one option).
    :raises ValueError: As `average_precision`, except that all-negative labels are allowed (F1 is 0).
    """
    true_positives, false_positives = _threshold_counts(labels, scores)
    n = len(np.asarray(labels))
    n_positive = float(np.sum(np.asarray(labels)))
    n_negative = n - n_positive
    accuracy = (true_positives + (n_negative - false_positives)) / n
    denominator = true_positives + false_positives + n_positive
    f1 = np.where(denominator > 0, 2 * true_positives / np.where(denominator > 0, denominator, 1.0), 0.0)
    return {
        "accuracy": float(max(accuracy.max(), n_negative / n)),
        "f1": float(f1.max()),
    }


def _entropy(counts: np.ndarray) -> float:
    """Shannon entropy (nats) of a vector of non-negative counts."""
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum())


def v_measure(labels_true: Sequence[object] | np.ndarray, labels_pred: Sequence[object] | np.ndarray) -> float:
    """V-measure (beta = 1): harmonic mean of homogeneity and completeness of a clustering.

    Matches scikit-learn's `v_measure_score`: a clustering that puts everything in one cluster has
    completeness 1 and homogeneity 0 (unless there is a single class, which is perfectly homogeneous).

    :param labels_true: Ground-truth class of each item (any hashable values).
    :param labels_pred: Cluster id of each item.
    :return: V-measure in [0, 1]; invariant to renaming classes or clusters.
    :raises ValueError: If the lengths differ or the input is empty.
    """
    true = np.asarray(labels_true)
    pred = np.asarray(labels_pred)
    if true.shape != pred.shape or true.ndim != 1:
        raise ValueError(f"Expected two 1-D label arrays of equal length, got {true.shape} and {pred.shape}.")
    if len(true) == 0:
        raise ValueError("V-measure needs at least one item.")
    _, class_ids = np.unique(true, return_inverse=True)
    _, cluster_ids = np.unique(pred, return_inverse=True)
    contingency = np.zeros((class_ids.max() + 1, cluster_ids.max() + 1), dtype=np.float64)
    np.add.at(contingency, (class_ids, cluster_ids), 1.0)
    n = float(len(true))
    entropy_classes = _entropy(contingency.sum(axis=1))
    entropy_clusters = _entropy(contingency.sum(axis=0))
    nonzero = contingency > 0
    joint = contingency[nonzero] / n
    # Conditional entropies from the joint distribution: H(C|K) = -sum p(c,k) log p(c,k)/p(k).
    cluster_marginal = (contingency.sum(axis=0)[None, :] / n).repeat(contingency.shape[0], axis=0)[nonzero]
    class_marginal = (contingency.sum(axis=1)[:, None] / n).repeat(contingency.shape[1], axis=1)[nonzero]
    classes_given_clusters = float(-(joint * np.log(joint / cluster_marginal)).sum())
    clusters_given_classes = float(-(joint * np.log(joint / class_marginal)).sum())
    homogeneity = 1.0 if entropy_classes == 0 else 1.0 - classes_given_clusters / entropy_classes
    completeness = 1.0 if entropy_clusters == 0 else 1.0 - clusters_given_classes / entropy_clusters
    if homogeneity + completeness == 0:
        return 0.0
    return float(2 * homogeneity * completeness / (homogeneity + completeness))


def _check_cutoff(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"Cut-off k must be a positive int, got {k!r}.")


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, float], k: int) -> float:
    """Normalised discounted cumulative gain of a ranking, cut at `k` (trec_eval's `ndcg_cut`).

    Gain is the graded relevance itself (not 2^rel - 1) with a log2(rank + 1) discount; the ideal
    ranking uses every judged relevant document, including ones the system never retrieved.

    :param ranked: Document ids, best first (only the first `k` are used; duplicates are not expected).
    :param relevance: Judged document id -> relevance; documents absent or <= 0 are not relevant.
    :param k: Cut-off, a positive int.
    :return: nDCG@k in [0, 1]; 0.0 when the query has no relevant document.
    :raises ValueError: If `k` is not a positive int.
    """
    _check_cutoff(k)
    gains = np.array([max(float(relevance.get(doc, 0.0)), 0.0) for doc in ranked[:k]], dtype=np.float64)
    discounts = 1.0 / np.log2(np.arange(2, len(gains) + 2))
    dcg = float((gains * discounts).sum())
    ideal = np.sort(np.array([r for r in relevance.values() if r > 0], dtype=np.float64))[::-1][:k]
    idcg = float((ideal / np.log2(np.arange(2, len(ideal) + 2))).sum())
    return 0.0 if idcg == 0 else dcg / idcg


def map_at_k(ranked: Sequence[str], relevance: Mapping[str, float], k: int) -> float:
    """Average precision of a ranking cut at `k` (trec_eval's `map_cut`).

    The sum of precision@i over relevant hits in the top `k` is divided by the total number of relevant
    documents (not by min(R, k)), as trec_eval and MTEB do.

    :param ranked: Document ids, best first.
    :param relevance: Judged document id -> relevance (> 0 means relevant).
    :param k: Cut-off, a positive int.
    :return: MAP@k in [0, 1]; 0.0 when the query has no relevant document.
    :raises ValueError: If `k` is not a positive int.
    """
    _check_cutoff(k)
    n_relevant = sum(1 for r in relevance.values() if r > 0)
    if n_relevant == 0:
        return 0.0
    hits = 0
    precision_sum = 0.0
    for position, doc in enumerate(ranked[:k], start=1):
        if relevance.get(doc, 0.0) > 0:
            hits += 1
            precision_sum += hits / position
    return precision_sum / n_relevant


def recall_at_k(ranked: Sequence[str], relevance: Mapping[str, float], k: int) -> float:
    """Fraction of the relevant documents found in the first `k` of a ranking.

    :param ranked: Document ids, best first.
    :param relevance: Judged document id -> relevance (> 0 means relevant).
    :param k: Cut-off, a positive int.
    :return: Recall@k in [0, 1]; 0.0 when the query has no relevant document.
    :raises ValueError: If `k` is not a positive int.
    """
    _check_cutoff(k)
    relevant = {doc for doc, r in relevance.items() if r > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the `k` highest scores of each row, best first.

    :param scores: `(n_queries, n_docs)` array.
    :param k: How many to keep (clipped to the number of columns).
    :return: `(n_queries, min(k, n_docs))` int array. Among the selected columns, equal scores are ordered
        by column index; which of several columns tied at the cut-off is selected is unspecified.
    :raises ValueError: If `scores` is not 2-D or `k` is not a positive int.
    """
    _check_cutoff(k)
    matrix = np.asarray(scores)
    if matrix.ndim != 2:
        raise ValueError(f"Expected a 2-D score matrix, got shape {matrix.shape}.")
    k = min(k, matrix.shape[1])
    if k == 0:
        return np.zeros((matrix.shape[0], 0), dtype=np.int64)
    if k < matrix.shape[1]:
        candidates = np.argpartition(-matrix, k - 1, axis=1)[:, :k]
    else:
        candidates = np.tile(np.arange(matrix.shape[1]), (matrix.shape[0], 1))
    candidate_scores = np.take_along_axis(matrix, candidates, axis=1)
    # Sort by score descending, then by column index so the order is deterministic.
    order = np.lexsort((candidates, -candidate_scores), axis=1)
    return np.take_along_axis(candidates, order, axis=1)


def nearest_rows(queries: np.ndarray, candidates: np.ndarray, block: int = 4096) -> np.ndarray:
    """Index of each query's most cosine-similar candidate (the first one on ties).

    :param queries: `(n, dim)` array.
    :param candidates: `(m, dim)` array, `m >= 1`.
    :param block: Queries per matrix product (bounds memory at `block * m` floats).
    :return: `(n,)` int64 indices into `candidates`.
    :raises ValueError: If the widths differ or there are no candidates.
    """
    left, right = unit_rows(queries), unit_rows(candidates)
    if left.shape[1] != right.shape[1] or len(right) == 0:
        raise ValueError(f"Cannot match {left.shape} queries against {right.shape} candidates.")
    out = np.empty(len(left), dtype=np.int64)
    for start in range(0, len(left), block):
        out[start : start + block] = np.argmax(left[start : start + block] @ right.T, axis=1)
    return out


def bitext_scores(predicted: np.ndarray) -> dict[str, float]:
    """Bitext-mining scores of predicted partner indices when sentence `i`'s gold partner is `i`.

    Equal to scikit-learn's `accuracy_score` and the `average="weighted"` precision / recall / F1 of
    `(gold=arange(n), predicted)` as MTEB computes them: every gold index has support 1, so the weighted
    F1 is the mean over gold indices `c` of `2 / (1 + times c was predicted)` where `c` was found, else 0.

    :param predicted: `(n,)` predicted indices in `[0, n)`.
    :return: accuracy, precision, recall, f1 (0-1).
    :raises ValueError: For an empty array or an index out of range.
    """
    predicted = np.asarray(predicted, dtype=np.int64)
    n = len(predicted)
    if n == 0 or predicted.min() < 0 or predicted.max() >= n:
        raise ValueError(f"Expected {n} predictions in [0, {n}).")
    hit = predicted == np.arange(n)
    times = np.bincount(predicted, minlength=n).astype(np.float64)
    precision = np.where(hit, 1.0 / np.maximum(times, 1.0), 0.0)
    f1 = np.where(hit, 2.0 / (1.0 + times), 0.0)
    return {
        "accuracy": float(hit.mean()),
        "precision": float(precision.mean()),
        "recall": float(hit.mean()),
        "f1": float(f1.mean()),
    }
