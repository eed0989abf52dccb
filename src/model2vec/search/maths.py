"""The arithmetic of cosine search: unit rows, storage quantisation, blocked exact top-k and rescoring.

Everything here is a pure function of numpy arrays, shared by the index and its backends.
"""

from __future__ import annotations

import numpy as np

from model2vec.pooling import normalize_rows as pooling_normalize_rows

DTYPES = ("float32", "float16", "int8")
DEFAULT_MEMORY_BUDGET = 256 * 2**20
CONVERT_BYTES = 2**20
MIN_BLOCK = 4096


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Return float32 copies of `vectors` scaled to unit L2 norm; all-zero rows stay zero (score 0).

    A finite vector of any magnitude, from subnormal to float64's largest, becomes its unit vector: rows
    whose squares would over- or underflow are divided by their largest absolute value first
    (`model2vec.pooling.normalize_rows`). float64 input is kept in float64 until the result is cast (it
    may hold values beyond float32's range).
    """
    array = np.asarray(vectors)
    work = array.astype(np.float64 if array.dtype == np.float64 else np.float32, copy=True)
    unit: np.ndarray = pooling_normalize_rows(work).astype(np.float32, copy=False)
    return unit


def first_bad_row(vectors: np.ndarray, scales: np.ndarray | None, block: int = 8192) -> int | None:
    """Return the first stored row that is not a unit (or all-zero) vector, or None when all are.

    Stored rows are unit vectors rounded to the storage dtype, so their norm may be off by rounding:
    float16 by at most 2^-11 relative; an int8 row by at most sqrt(dim) x scale / 2 (each value is off
    by half a step at most). Anything further off (non-finite values, a row of 478s) would make scores
    meaningless. A unit row has no value above 1 in magnitude, so rows are first checked for that
    (which also catches NaN and inf), and squaring what passes cannot overflow. Rows are checked a
    block at a time, so a memory-mapped index is never widened whole.

    :param vectors: Stored rows (float32, float16 or int8).
    :param scales: Per-row scales for int8 storage (finite and >= 0; checked by the caller), else None.
    :param block: Rows widened to float32 at a time.
    """
    dim = vectors.shape[1]
    for start in range(0, len(vectors), block):
        chunk = np.asarray(vectors[start : start + block], dtype=np.float32)
        allowed = np.full(len(chunk), 1e-3, dtype=np.float32)
        if scales is not None:
            part = scales[start : start + block]
            chunk = chunk * part[:, None]
            allowed += np.float32(np.sqrt(dim) / 2) * part
        peaks = np.maximum(chunk.max(axis=1), -chunk.min(axis=1)) if dim else np.zeros(len(chunk), np.float32)
        with np.errstate(over="ignore", invalid="ignore"):  # rows that overflow fail the peak test anyway
            norms = np.sqrt(np.einsum("ij,ij->i", chunk, chunk))
        bad = np.flatnonzero(~(peaks <= 1 + allowed) | ((norms != 0) & ~(np.abs(norms - 1) <= allowed)))
        if len(bad):
            return start + int(bad[0])
    return None


def quantize_rows(vectors: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert unit float32 rows to the storage dtype; int8 also returns one float32 scale per row."""
    if dtype == "float32":
        return np.ascontiguousarray(vectors, dtype=np.float32), None
    if dtype == "float16":
        return vectors.astype(np.float16), None
    peak = np.abs(vectors).max(axis=1) if len(vectors) else np.zeros(0, dtype=np.float32)
    scales = (peak / 127.0).astype(np.float32)
    safe = np.where(scales > 0, scales, 1.0)[:, None]
    return np.clip(np.rint(vectors / safe), -127, 127).astype(np.int8), scales


def top_k_rows(scores: np.ndarray, k: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Best `k` columns of each score row (score descending, then column ascending), as global rows.

    `np.argpartition` alone picks arbitrarily among values tied at the k-th place; rows where such a
    tie crosses the cut are redone exactly, so the result never depends on the partition algorithm.
    """
    m, width = scores.shape
    if k >= width:
        columns = np.broadcast_to(np.arange(width), (m, width))
    else:
        columns = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(scores, columns, axis=1).min(axis=1)
        tied = np.flatnonzero((scores >= kth[:, None]).sum(axis=1) > k)
        if len(tied):
            columns = columns.copy()
            for row in tied:
                candidates = np.flatnonzero(scores[row] >= kth[row])
                order = np.lexsort((candidates, -scores[row, candidates]))[:k]
                columns[row] = candidates[order]
    picked = np.take_along_axis(scores, columns, axis=1)
    return columns + offset, picked


def merge_top_k(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row's candidates by score descending, then row ascending, and keep the first `k`."""
    order = np.lexsort((rows, -scores), axis=1)[:, :k]
    return np.take_along_axis(rows, order, axis=1), np.take_along_axis(scores, order, axis=1)


def exact_search(
    queries: np.ndarray,
    vectors: np.ndarray,
    scales: np.ndarray | None,
    k: int,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner products of float32 `queries` (m, d) against stored `vectors` (n, d).

    :param queries: Float32 unit query rows.
    :param vectors: Stored rows (float32, float16 or int8).
    :param scales: Per-row float32 scales for int8 storage, else None.
    :param k: Results per query, 1 <= k <= n.
    :param memory_budget: Bytes allowed for one block's float32 score matrix (m x block rows).
    :return: (rows (m, k) int64, scores (m, k) float32), best first; ties by row ascending.
    """
    m, dim = queries.shape
    n = len(vectors)
    # Many queries at once would shrink blocks to a few rows (and make the per-block merge dominate),
    # so queries are taken in groups small enough that a block keeps at least MIN_BLOCK rows.
    group = max(1, memory_budget // (4 * min(n, max(k, MIN_BLOCK))))
    if m > group:
        parts = [exact_search(queries[i : i + group], vectors, scales, k, memory_budget) for i in range(0, m, group)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    block = min(n, max(k, memory_budget // (4 * m), 1))
    # One score buffer for all blocks: a fresh large array per block costs page faults on every block.
    scores_buffer = np.empty((m, block), dtype=np.float32)
    # float16/int8 rows are widened through a small reused buffer: converting ~1 MiB at a time stays in
    # cache and is several times faster than widening a whole block at once.
    sub = max(1, CONVERT_BYTES // (4 * dim))
    widened = None if vectors.dtype == np.float32 else np.empty((min(sub, block), dim), dtype=np.float32)
    best_rows = np.zeros((m, 0), dtype=np.int64)
    best_scores = np.zeros((m, 0), dtype=np.float32)
    for start in range(0, n, block):
        chunk = vectors[start : start + block]
        scores = scores_buffer[:, : len(chunk)]
        if widened is None:
            np.matmul(queries, chunk.T, out=scores)
        else:
            for offset in range(0, len(chunk), len(widened)):
                part = chunk[offset : offset + len(widened)]
                np.copyto(widened[: len(part)], part)
                scores[:, offset : offset + len(part)] = queries @ widened[: len(part)].T
        if scales is not None:
            scores *= scales[start : start + block]
        rows, picked = top_k_rows(scores, k, start)
        best_rows, best_scores = merge_top_k(
            np.concatenate([best_rows, rows], axis=1), np.concatenate([best_scores, picked], axis=1), k
        )
    return best_rows, best_scores


def rescore(
    queries: np.ndarray, vectors: np.ndarray, scales: np.ndarray | None, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of candidate `rows` (m, c) for each query, sorted by score descending then row ascending.

    :param queries: Float32 unit query rows (m, d).
    :param vectors: Stored rows (float32, float16 or int8).
    :param scales: Per-row float32 scales for int8 storage, else None.
    :param rows: Candidate rows per query (distinct within a query).
    :return: (rows, float32 scores), both (m, c).
    """
    candidates = vectors[rows].astype(np.float32)  # (m, c, d): small, c is k
    scores = np.einsum("mcd,md->mc", candidates, queries, dtype=np.float32)
    if scales is not None:
        scores *= scales[rows]
    return merge_top_k(rows, scores, rows.shape[1])
