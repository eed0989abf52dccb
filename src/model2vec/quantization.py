"""Storage dtypes, int8 with a scale, dimension truncation and vocabulary k-means quantisation.

These are pure functions on arrays; `model2vec.model.quantize_model` applies them to a model.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np


class DType(str, Enum):
    """Storage dtypes of an embedding table."""

    FLOAT16 = "float16"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    INT8 = "int8"

    @classmethod
    def parse(cls, value: DType | str | np.dtype | type) -> DType:
        """Turn a string, numpy dtype or `DType` into a `DType`.

        :param value: e.g. "float16", "fp16", "f16", np.float16, "int8".
        :return: The dtype.
        :raises ValueError: If the value names no supported dtype.
        """
        if isinstance(value, DType):
            return value
        aliases = {
            "fp16": "float16",
            "f16": "float16",
            "half": "float16",
            "fp32": "float32",
            "f32": "float32",
            "float": "float32",
            "fp64": "float64",
            "f64": "float64",
            "double": "float64",
            "i8": "int8",
        }
        if isinstance(value, str):
            key = aliases.get(value.lower(), value.lower())
        else:
            try:
                key = np.dtype(value).name
            except TypeError as error:
                raise ValueError(f"Unknown dtype {value!r}; expected one of {[d.value for d in cls]}.") from error
        try:
            return cls(key)
        except ValueError:
            raise ValueError(f"Unknown dtype {value!r}; expected one of {[d.value for d in cls]}.") from None

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype."""
        return np.dtype(self.value)


@dataclass(frozen=True)
class QuantizedTable:
    """An embedding table after quantisation.

    :param embedding: The stored table.
    :param row_scale: For int8, the float32 factor per row that restores magnitudes; None otherwise.
    """

    embedding: np.ndarray
    row_scale: np.ndarray | None


def quantize_embeddings(embedding: np.ndarray, dtype: DType | str) -> QuantizedTable:
    """Convert a table to a storage dtype.

    int8 uses a symmetric per-row scale (`max |x| / 127`), returned so callers can keep magnitudes.
    Converting an int8 table to a float dtype only changes the dtype (its scale lives elsewhere).

    :param embedding: A 2-D table.
    :param dtype: The target dtype.
    :return: The converted table and, for int8 from a float table, the row scales.
    :raises ValueError: If the dtype is unknown or the table is not 2-D.
    """
    target = DType.parse(dtype)
    if embedding.ndim != 2:
        raise ValueError(f"Expected a 2-D embedding table, got shape {embedding.shape}.")
    if target is not DType.INT8:
        if target is DType.FLOAT16:
            # Values beyond float16's range would become inf; clip them to the largest finite value.
            info = np.finfo(np.float16)
            source = embedding.astype(np.float32, copy=False)
            return QuantizedTable(np.clip(source, info.min, info.max).astype(np.float16), None)
        return QuantizedTable(embedding.astype(target.numpy), None)
    if embedding.dtype == np.int8:
        return QuantizedTable(embedding.copy(), None)
    values = embedding.astype(np.float32, copy=False)
    scale = np.abs(values).max(axis=1) / np.float32(127.0)
    scale[scale == 0] = 1.0  # an all-zero row stays zero with any scale
    table = np.clip(np.rint(values / scale[:, None]), -127, 127).astype(np.int8)
    return QuantizedTable(table, scale.astype(np.float32))


def truncate_dimensions(embedding: np.ndarray, dimensionality: int) -> np.ndarray:
    """Keep the first `dimensionality` columns (PCA-ordered tables keep their most important ones).

    :param embedding: A 2-D table.
    :param dimensionality: The number of columns to keep.
    :return: A C-contiguous copy with `dimensionality` columns.
    :raises ValueError: If `dimensionality` is not in `1..embedding.shape[1]`.
    """
    if isinstance(dimensionality, bool) or not isinstance(dimensionality, int):
        raise ValueError(f"dimensionality must be an int, got {type(dimensionality).__name__}.")
    if not 1 <= dimensionality <= embedding.shape[1]:
        raise ValueError(f"dimensionality must be between 1 and {embedding.shape[1]}, got {dimensionality}.")
    # np.array copies even at full width (ascontiguousarray would hand back the input itself).
    return np.array(embedding[:, :dimensionality], order="C")


@dataclass(frozen=True)
class VocabularyQuantization:
    """Result of clustering a vocabulary's vectors.

    :param embedding: `(n_clusters, dim)` cluster centres (unit length).
    :param mapping: token id -> cluster (int32).
    :param weights: Per-token magnitudes (float32) so that `embedding[mapping[t]] * weights[t]`
        approximates the original row of token `t`.
    """

    embedding: np.ndarray
    mapping: np.ndarray
    weights: np.ndarray


def quantize_vocabulary(
    embedding: np.ndarray,
    n_clusters: int,
    weights: np.ndarray | None = None,
    random_state: int = 42,
    max_iter: int = 30,
    show_progress_bar: bool | None = None,
) -> VocabularyQuantization:
    """Cluster token vectors with k-means into `n_clusters` shared rows.

    Rows are clustered by direction (unit length); each token keeps its own magnitude as a weight,
    multiplied into any existing weight. The clustering is `kmeans` (numpy only, no scikit-learn): about
    5-15 s for a 30k x 256 table into 4,096 clusters on 2 cores (see benchmarks/quantize.py).

    The result does not need to be computed again: `StaticModel.save_pretrained` writes the centres,
    the token -> cluster mapping and the weights, and loading that folder runs no k-means::

        quantized = StaticModel.from_pretrained(path, vocabulary_quantization=4096)  # clusters once
        quantized.save_pretrained("model-4096")
        StaticModel.from_pretrained("model-4096")  # loads the clusters as saved

    :param embedding: The `(vocab, dim)` table (any dtype; clustered in float32).
    :param n_clusters: Number of clusters (rows after quantisation).
    :param weights: Existing per-token weights, if any.
    :param random_state: Seed for k-means; the same seed and table give the same result on one machine.
    :param max_iter: Most Lloyd iterations (see `kmeans`).
    :param show_progress_bar: Show a tqdm bar over the iterations; None shows it when stderr is a terminal.
    :return: Centres, mapping and weights.
    :raises ValueError: If `n_clusters` is not in `1..vocab size`, or the table is not 2-D or holds
        NaN/inf.
    """
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, int):
        raise ValueError(f"vocabulary_quantization must be an int number of clusters, got {n_clusters!r}.")
    if not 1 <= n_clusters <= len(embedding):
        raise ValueError(f"vocabulary_quantization must be between 1 and {len(embedding)}, got {n_clusters}.")
    values = np.asarray(embedding, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"Expected a 2-D embedding table, got shape {values.shape}.")
    if not np.isfinite(values).all():
        raise ValueError("Cannot cluster a table holding NaN or inf values.")
    norms = np.linalg.norm(values, axis=1)
    safe = np.where(norms > 0, norms, 1.0).astype(np.float32)
    directions = values / safe[:, None]
    result = kmeans(
        directions,
        n_clusters,
        seed=random_state,
        max_iter=max_iter,
        show_progress_bar=show_progress_bar,
        desc="Quantising vocabulary",
    )
    centres = result.centres
    centre_norms = np.linalg.norm(centres, axis=1, keepdims=True)
    centres = centres / np.where(centre_norms > 0, centre_norms, 1.0)
    token_weights = norms.astype(np.float32)
    if weights is not None:
        token_weights = token_weights * weights.astype(np.float32)
    return VocabularyQuantization(
        embedding=np.ascontiguousarray(centres, dtype=np.float32),
        mapping=result.labels.astype(np.int32),
        weights=token_weights,
    )


# -- k-means -----------------------------------------------------------------------------------------

# Rows of one distance block are chosen so that a block of scores stays near 64 MiB of float32.
_BLOCK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class KMeansResult:
    """Result of `kmeans`.

    :param centres: `(n_clusters, dim)` float32; each the mean of its points (a cluster that ended
        empty, possible only when the table has fewer distinct rows than clusters, keeps its last centre).
    :param labels: `(n,)` int64 cluster of each point.
    :param inertia: Sum of squared distances of the points to their centres (float64).
    :param iterations: Assignment steps run (the first one included).
    :param converged: True when the last assignment changed no label (a Lloyd fixed point).
    """

    centres: np.ndarray
    labels: np.ndarray
    inertia: float
    iterations: int
    converged: bool


def kmeans(
    points: np.ndarray,
    n_clusters: int,
    seed: int = 42,
    max_iter: int = 30,
    show_progress_bar: bool | None = None,
    desc: str = "k-means",
) -> KMeansResult:
    """Lloyd's k-means in float32 numpy, started by a batched greedy k-means++ seeded with `seed`.

    Exact Lloyd iterations, made cheap once the clustering settles: a point whose centre did not move
    keeps its score against every other unmoved centre, so it is only compared with the centres that
    moved (a point whose own centre moved is compared with all). Distances are blocked matrix products
    (`x.c - |c|^2 / 2`, float32). Iterations stop when no label changes or after `max_iter`. An empty
    cluster is given the point farthest from its centre. The same seed and input give the same result
    on one machine (BLAS rounding may differ between machines).

    :param points: `(n, dim)` table; converted to float32.
    :param n_clusters: Number of clusters, `1..n`.
    :param seed: Seed of the initial sample.
    :param max_iter: Most assignment steps, >= 1.
    :param show_progress_bar: Show a tqdm bar over iterations; None shows it when stderr is a terminal.
    :param desc: The bar's label.
    :return: Centres, labels, inertia and iteration count.
    :raises ValueError: If `points` is not 2-D, `n_clusters` is not in `1..n` or `max_iter` < 1.
    """
    x = np.ascontiguousarray(points, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"k-means needs a 2-D table, got shape {x.shape}.")
    n = len(x)
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, int) or not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be an int between 1 and {n}, got {n_clusters!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}.")
    rng = np.random.default_rng(seed)
    centres = x[_greedy_kmeans_plus_plus(x, n_clusters, rng)].copy()
    labels = np.zeros(n, dtype=np.int64)
    scores = np.full(n, -np.inf, dtype=np.float32)
    # Every point is compared with every centre in the first step.
    stale = np.ones(n, dtype=bool)
    moved = np.ones(n_clusters, dtype=bool)
    iterations, converged = 0, False
    with _progress(show_progress_bar, max_iter, desc) as bar:
        while iterations < max_iter:
            previous = labels.copy()
            _assign(x, centres, labels, scores, stale, moved)
            iterations += 1
            relocated = _fill_empty_clusters(x, labels, scores, np.bincount(labels, minlength=n_clusters))
            # A centre is the mean of its members, so only clusters whose membership changed move.
            changed = labels != previous
            moved = np.zeros(n_clusters, dtype=bool)
            moved[labels[changed]] = True
            moved[previous[changed]] = True
            if iterations == 1:
                moved[:] = True  # the sampled starting centres are not means yet
            bar.set_postfix(changed=int(changed.sum()) if iterations > 1 else n, refresh=False)
            bar.update(1)
            if not moved.any():
                converged = True
                break
            sums, counts = _cluster_sums(x, labels, n_clusters, wanted=moved)
            update = moved & (counts > 0)
            centres[update] = (sums[update] / counts[update, None]).astype(np.float32)
            stale = moved[labels] | relocated
    sums, counts = _cluster_sums(x, labels, n_clusters)
    squared = float(np.einsum("ij,ij->", x, x, dtype=np.float64))
    filled = counts > 0
    inertia = squared - float(((sums[filled] ** 2).sum(axis=1) / counts[filled]).sum())
    return KMeansResult(centres, labels, max(inertia, 0.0), iterations, converged)


def _greedy_kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Choose `k` starting centres (row indices) by greedy k-means++, a batch of centres per pass.

    Like scikit-learn's init, each new centre is the best (largest drop of the summed squared distance
    to the nearest chosen centre) of `2 + ln k` candidates drawn in proportion to that squared
    distance; that choice, rather than plain k-means++ or a random sample, is what gives the low final
    inertia (about 6% lower than either on a 30k-token table into 4,096 clusters). To replace k
    sequential passes over the table by about 64 matrix products, each pass picks up to `k / 64`
    centres, one from each group of candidates, all scored against the distances before the pass.
    Rows already at distance 0 are never drawn, so the centres are distinct rows while there are enough.
    """
    n = len(x)
    squares = np.einsum("ij,ij->i", x, x)
    chosen = [int(rng.integers(n))]
    distance = np.maximum(squares + squares[chosen[0]] - 2 * (x @ x[chosen[0]]), 0)
    trials = 2 + int(np.log(k))
    per_pass = max(1, -(-k // 64))
    # Rows extended by [1, D(x) - |x|^2], so that one matrix product against candidate columns
    # [2c, -|c|^2, 1] gives D(x) - |x - c|^2 directly (|x - c|^2 = |x|^2 + |c|^2 - 2 x.c).
    extended = np.empty((n, x.shape[1] + 2), dtype=np.float32)
    extended[:, :-2] = x
    extended[:, -2] = 1
    # Blocks of about 4 MiB of scores stay in cache while they are clipped and summed.
    block = max(256, 2**22 // (4 * trials * per_pass))
    while len(chosen) < k:
        total = float(distance.sum(dtype=np.float64))
        if total <= 0:
            break  # every row is a chosen one: fewer distinct rows than clusters
        picks = min(per_pass, k - len(chosen))
        draws = rng.choice(n, size=picks * trials, p=distance.astype(np.float64) / total)
        candidates, position = np.unique(draws, return_inverse=True)
        columns = np.empty((x.shape[1] + 2, len(candidates)), dtype=np.float32)
        columns[:-2] = 2 * x[candidates].T
        columns[-2] = -squares[candidates]
        columns[-1] = 1
        extended[:, -1] = distance - squares
        gain = np.zeros(len(candidates), dtype=np.float64)
        for start in range(0, n, block):
            # The drop of the summed squared distance if c were chosen: sum of max(0, D(x) - |x - c|^2).
            scores = extended[start : start + block] @ columns
            np.maximum(scores, 0, out=scores)
            gain += scores.sum(axis=0)
        groups = gain[position].reshape(picks, trials)
        best = np.unique(draws.reshape(picks, trials)[np.arange(picks), groups.argmax(axis=1)])
        chosen.extend(best.tolist())
        for start in range(0, n, block):
            rows = slice(start, start + block)
            nearest = (squares[best][None, :] - 2 * (x[rows] @ x[best].T)).min(axis=1) + squares[rows]
            np.minimum(distance[rows], np.maximum(nearest, 0), out=distance[rows])
    result = np.array(chosen, dtype=np.int64)
    if len(result) < k:
        spare = rng.permutation(np.setdiff1d(np.arange(n), result))
        result = np.concatenate([result, spare[: k - len(result)]])
    return np.sort(result)


def _assign(
    x: np.ndarray,
    centres: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    stale: np.ndarray,
    moved: np.ndarray,
) -> None:
    """One exact assignment step, in place: stale points against all centres, others against moved ones.

    `scores[i]` is point i's best `x.c - |c|^2 / 2`; a fresh point's stored score is still exact for its
    (unmoved) centre, and every other unmoved centre scored no higher when it was last compared.
    """
    half = np.float32(0.5) * np.einsum("ij,ij->i", centres, centres)
    every = np.arange(len(centres))
    groups = [(np.flatnonzero(stale), every)]
    if not stale.all():
        groups.append((np.flatnonzero(~stale), np.flatnonzero(moved)))
    for rows, candidates in groups:
        if len(rows) == 0 or len(candidates) == 0:
            continue
        chosen = centres[candidates].T.copy()
        offset = half[candidates]
        block = max(64, _BLOCK_BYTES // (4 * len(candidates)))
        full = len(candidates) == len(centres)
        for start in range(0, len(rows), block):
            part = rows[start : start + block]
            block_scores = x[part] @ chosen
            block_scores -= offset
            best = block_scores.argmax(axis=1)
            best_scores = block_scores[np.arange(len(part)), best]
            if full:
                labels[part] = candidates[best]
                scores[part] = best_scores
            else:
                better = best_scores > scores[part]
                labels[part[better]] = candidates[best[better]]
                scores[part[better]] = best_scores[better]


def _fill_empty_clusters(x: np.ndarray, labels: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Give each empty cluster the point farthest from its centre (labels in place); returns those points.

    Only points that share their cluster and are not on their centre are taken, so no cluster is
    emptied in turn; clusters left over (fewer distinct rows than clusters) stay empty.
    """
    relocated = np.zeros(len(x), dtype=bool)
    empty = np.flatnonzero(counts == 0)
    if len(empty) == 0:
        return relocated
    # scores hold x.c - |c|^2 / 2, so |x - c|^2 = |x|^2 - 2 * score.
    distance = np.einsum("ij,ij->i", x, x) - 2 * scores
    remaining = counts.copy()
    taken = 0
    for point in np.argsort(-distance, kind="stable"):
        if taken == len(empty) or distance[point] <= 0:
            break
        if remaining[labels[point]] < 2:
            continue
        remaining[labels[point]] -= 1
        labels[point] = empty[taken]
        # The point becomes its new cluster's only member and centre: x.x - x.x / 2.
        scores[point] = np.float32(0.5) * np.dot(x[point], x[point])
        relocated[point] = True
        taken += 1
    return relocated


def _cluster_sums(
    x: np.ndarray, labels: np.ndarray, k: int, wanted: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster float64 sums of the points, and counts; sums only of the `wanted` clusters if given."""
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    rows = np.arange(len(x)) if wanted is None else np.flatnonzero(wanted[labels])
    if len(rows) == 0:
        return sums, counts
    # One weighted bincount per dimension: much faster than np.add.at or np.add.reduceat over rows.
    columns = x[rows].T.astype(np.float64)
    row_labels = labels[rows]
    for dimension, column in enumerate(columns):
        sums[:, dimension] = np.bincount(row_labels, weights=column, minlength=k)
    return sums, counts


def _progress(show: bool | None, total: int, desc: str) -> Any:
    """Make a tqdm bar, or a no-op one when not shown (tqdm is imported only when it is)."""
    if show is None:
        show = sys.stderr is not None and sys.stderr.isatty()
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="iteration")


class _NoBar:
    """Stands in for a hidden tqdm bar."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        """Do nothing."""

    def set_postfix(self, **kwargs: Any) -> None:
        """Do nothing."""
