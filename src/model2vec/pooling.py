"""The hot path: flat token ids + offsets -> (weighted) mean vectors, normalised.

All arithmetic happens in float32 whatever the storage dtype (float16 sums overflow and int8 has no
fractions), and each text's vector is computed from its own rows only, in a fixed order, so the result
for a text is bitwise identical whatever else is in the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import pairwise

import numpy as np

from model2vec._compiled import kernels

# Table types the compiled kernel reads directly (converting each row to float32 as it adds it).
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.int8))


def kernel_reads(table: np.ndarray) -> bool:
    """Tell whether `segment_sums` pools `table` with the compiled kernel (built, and a type it reads).

    :param table: An embedding table.
    :return: True when the kernel is built and the table is a 2-D C-contiguous float32, float16 or
        int8 array; pooling such a table needs no float32 copy of it.
    """
    return kernels is not None and table.ndim == 2 and table.dtype in _KERNEL_DTYPES and table.flags.c_contiguous


# Normalising divides by (norm + EPS): zero vectors stay zero instead of becoming NaN.
NORM_EPS = np.float32(1e-32)


def token_rows(
    embedding: np.ndarray,
    ids: np.ndarray,
    weights: np.ndarray | None = None,
    mapping: np.ndarray | None = None,
) -> np.ndarray:
    """Gather the float32 vectors of token ids, applying mapping and weights.

    :param embedding: The table (any float or int8 dtype).
    :param ids: Token ids (1-D, int).
    :param weights: Optional per-token multipliers, indexed by token id.
    :param mapping: Optional token id -> table row.
    :return: A `(len(ids), dim)` float32 array.
    """
    rows = ids if mapping is None else mapping[ids]
    vectors = embedding[rows].astype(np.float32, copy=False)
    if weights is not None:
        vectors = vectors * weights[ids].astype(np.float32, copy=False)[:, None]
    result: np.ndarray = vectors
    return result


# Squared norms outside [_SQUARES_LOW, inf) may have lost precision to underflow, or overflowed: those
# rows are divided by their largest entry before squaring. Every other row takes the plain (fast) formula.
_SQUARES_LOW = np.float32(1e-30)


def _awkward_rows(vectors: np.ndarray, squares: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows whose squared norm over- or underflowed: their indices, largest |entry|, and scaled copies."""
    awkward = np.flatnonzero(~(squares >= _SQUARES_LOW) | np.isinf(squares))
    rows = vectors[awkward]
    scale = np.abs(rows).max(axis=1, initial=0) if len(awkward) else np.zeros(0, dtype=vectors.dtype)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        scaled = rows / np.where(scale > 0, scale, 1)[:, None]
    return awkward, scale, scaled


def row_norms(vectors: np.ndarray) -> np.ndarray:
    """L2 norms of the rows of a 2-D float array, without overflow or underflow in the squares.

    Rows whose squares would overflow (entries near 1.8e19 or more) or underflow (entries below about
    1e-15) are divided by their largest absolute entry before squaring: a row of 1e-30s has a norm of
    1e-30 * sqrt(dim), not 0, and a row of 3e38s a norm of inf only because that norm exceeds float32.
    Other rows use the plain formula. Non-finite entries give a non-finite norm.

    :param vectors: A 2-D float array.
    :return: The norms, shape `(rows,)`, in the input's float dtype.
    """
    squares = np.einsum("ij,ij->i", vectors, vectors)
    norms: np.ndarray = np.sqrt(squares)
    awkward, scale, scaled = _awkward_rows(vectors, squares)
    if len(awkward):
        with np.errstate(over="ignore", invalid="ignore"):
            norms[awkward] = scale * np.sqrt(np.einsum("ij,ij->i", scaled, scaled))
    return norms


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows in place (float32); zero rows stay zero.

    Rows of huge or tiny values are normalised after dividing by their largest entry (see `row_norms`),
    so they become unit vectors too; rows with non-finite entries become NaN.

    :param vectors: A 2-D float32 array, modified in place.
    :return: The same array.
    """
    squares = np.einsum("ij,ij->i", vectors, vectors)
    awkward, _, scaled = _awkward_rows(vectors, squares)
    with np.errstate(invalid="ignore", over="ignore"):
        vectors /= (np.sqrt(squares) + NORM_EPS)[:, None]
        if len(awkward):
            vectors[awkward] = scaled / (np.sqrt(np.einsum("ij,ij->i", scaled, scaled)) + NORM_EPS)[:, None]
    return vectors


# Texts pooled together; each step of the loop below touches at most this many rows.
BUCKET_SIZE = 512


def segment_sums(
    table: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    weights: np.ndarray | None = None,
    mapping: np.ndarray | None = None,
    bucket_size: int = BUCKET_SIZE,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Sum each text's (weighted) token vectors in float32, adding its rows strictly in token order.

    Texts are sorted by length and pooled in buckets; step `j` adds the `j`-th row of every text in
    the bucket that still has one. The sum of a text is therefore always `((r0 + r1) + r2) + ...`,
    computed with the same float32 operations whatever else is in the batch, so results are bitwise
    independent of batching. There is no per-text Python loop: the loop runs over token positions,
    and each step gathers into a reused buffer (no allocation per step). When the compiled kernel is
    built and reads the table's type (`kernel_reads`), it computes the same sums, with the same float32
    operations in the same order, in one pass without the GIL.

    :param table: The embedding table (any float or int8 dtype).
    :param ids: Flat token ids of all texts.
    :param offsets: `n + 1` boundaries into `ids`.
    :param weights: Optional per-token weights (indexed by token id).
    :param mapping: Optional token id -> table row.
    :param bucket_size: Texts per bucket of the numpy path (speed only; never changes results).
    :param out: Optional `(n, dim)` float32 C-contiguous array to write the sums to (its contents are
        ignored); a new one is made otherwise.
    :return: An `(n, dim)` float32 array of sums (`out` if given); texts without tokens give zero rows.
    :raises ValueError: If `offsets` are not ascending boundaries within `ids`, or `out` has the wrong
        shape, dtype or layout.
    :raises IndexError: If an id (after `mapping`) is outside the table (or the weights).
    """
    if len(offsets) == 0 or offsets[0] < 0 or offsets[-1] > len(ids) or (np.diff(offsets) < 0).any():
        raise ValueError(f"offsets must ascend from >= 0 to <= len(ids) = {len(ids)}, got {len(offsets)} offsets.")
    n_texts = len(offsets) - 1
    dim = table.shape[1]
    shape = (n_texts, dim)
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {shape}, got {out.dtype} {out.shape}.")
    if kernels is not None and kernel_reads(table):
        kernels.segment_sums(
            table,
            np.ascontiguousarray(ids, dtype=np.int64),
            np.ascontiguousarray(offsets, dtype=np.int64),
            None if weights is None else np.ascontiguousarray(weights, dtype=np.float32),
            None if mapping is None else np.ascontiguousarray(mapping, dtype=np.int64),
            out,
        )
        return out
    return _numpy_segment_sums(table, ids, offsets, weights, mapping, bucket_size, out)


def _numpy_segment_sums(
    table: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    weights: np.ndarray | None,
    mapping: np.ndarray | None,
    bucket_size: int,
    out: np.ndarray,
) -> np.ndarray:
    """Compute `segment_sums` with numpy (same arguments; `out` already checked)."""
    dim = table.shape[1]
    lengths = np.diff(offsets)
    order = np.argsort(lengths, kind="stable")
    empty = int(np.searchsorted(lengths[order], 0, side="right"))
    out[order[:empty]] = 0.0
    order = order[empty:]
    if not len(order):
        return out
    acc = np.empty((min(bucket_size, len(order)), dim), dtype=np.float32)
    rows = np.empty_like(acc)
    for begin in range(0, len(order), bucket_size):
        chosen = order[begin : begin + bucket_size]
        count = len(chosen)
        bucket_lengths = lengths[chosen]
        longest = int(bucket_lengths[-1])
        # Lengths ascend within the bucket, so the texts with a token at position j are the suffix
        # starting at first_active[j] (every text has a first token: first_active[0] == 0).
        first_active = np.searchsorted(bucket_lengths, np.arange(longest), side="right")
        active = count - first_active
        # The bucket's ids in position-major order: every text's first id, then every second id, ...
        position = np.repeat(np.arange(longest), active)
        text = np.arange(len(position)) - np.repeat(np.cumsum(active) - active - first_active, active)
        token_ids = ids[offsets[chosen][text] + position]
        row_ids = token_ids if mapping is None else mapping[token_ids]
        if row_ids.min() < 0 or row_ids.max() >= len(table):
            raise IndexError(f"Token rows must be in [0, {len(table)}), got {row_ids.min()}..{row_ids.max()}.")
        scale = None if weights is None else weights[token_ids].astype(np.float32)[:, None]
        bounds = np.concatenate(([0], np.cumsum(active))).tolist()
        starts = first_active.tolist()
        bucket = acc[:count]
        for step in range(longest):
            first, end = bounds[step], bounds[step + 1]
            target = bucket if step == 0 else rows[: end - first]
            _gather(table, row_ids[first:end], target)
            if scale is not None:
                target *= scale[first:end]
            if step:
                into = bucket[starts[step] :]
                np.add(into, target, out=into)
        out[chosen] = bucket
    return out


def _gather(table: np.ndarray, row_ids: np.ndarray, target: np.ndarray) -> None:
    """Copy `table[row_ids]` into the float32 `target` (ids already checked to be in range)."""
    if table.dtype == np.float32:
        # "clip" skips numpy's bounds-check copy of `out` (ids were checked by the caller).
        np.take(table, row_ids, axis=0, out=target, mode="clip")
    else:
        target[...] = table[row_ids]


def segment_mean(
    table: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    weights: np.ndarray | None = None,
    mapping: np.ndarray | None = None,
    normalize: bool = False,
    out: np.ndarray | None = None,
    row_bound: float | None = None,
) -> np.ndarray:
    """Mean of each text's token vectors (sum of weighted rows / token count), optionally normalised.

    Sums are float32, which overflows for tables of huge values; when `row_bound` says a text's sum may
    exceed float32, texts whose result is not finite are pooled again in float64 (other texts are
    unchanged, bit for bit).

    :param table: The embedding table.
    :param ids: Flat token ids of all texts.
    :param offsets: `n + 1` boundaries into `ids`.
    :param weights: Optional per-token weights.
    :param mapping: Optional token id -> row mapping.
    :param normalize: Whether to L2-normalise the means.
    :param out: Optional `(n, dim)` float32 C-contiguous array to write the means to.
    :param row_bound: The largest absolute value a weighted row can hold (see `largest_row_value`), or
        None to skip the overflow check (for tables known to be small).
    :return: An `(n, dim)` float32 C-contiguous array (`out` if given); texts without tokens give zero rows.
    :raises ValueError: If `out` has the wrong shape, dtype or layout.
    """
    sums = segment_sums(table, ids, offsets, weights, mapping, out=out)
    counts = np.maximum(np.diff(offsets), 1).astype(np.float32)[:, None]
    may_overflow = row_bound is not None and len(counts) and row_bound * float(counts.max()) >= _FLOAT32_SAFE_SUM
    with np.errstate(over="ignore", invalid="ignore"):
        sums /= counts
        if normalize:
            normalize_rows(sums)
    if may_overflow:
        for row in np.flatnonzero(~np.isfinite(sums).all(axis=1)).tolist():
            sums[row] = _mean_float64(table, ids[offsets[row] : offsets[row + 1]], weights, mapping, normalize)
    return sums


# A sum of float32 rows may overflow once rows times count reach this (float32's largest value, halved
# for the rounding of the running sum).
_FLOAT32_SAFE_SUM = float(np.finfo(np.float32).max) / 2


def largest_row_value(table: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Bound on the absolute value of any weighted row entry: max |table| times max |weights|.

    int8 and float16 tables are bounded by their dtype (128, 65504) when memory-mapped, whose file the
    loader has already checked for NaN and infinity; other memory-mapped tables are read through the
    file (the mapped pages stay untouched, so they cost no resident memory); arrays in memory are
    read directly, so a NaN or infinity in them shows up in the result.

    :param table: The embedding table (any float or int dtype).
    :param weights: Optional per-token weights.
    :return: The bound (inf or nan if an array holds non-finite values).
    """
    if table.size == 0:
        return 0.0
    scale = 1.0
    if weights is not None and weights.size:
        high, low = float(weights.max()), float(weights.min())
        if not (np.isfinite(high) and np.isfinite(low)):
            return float("nan")
        scale = max(abs(high), abs(low))
    if table.dtype == np.int8:
        return 128.0 * scale
    chunks = _file_chunks(table)
    if chunks is not None and table.dtype == np.float16:
        return float(np.finfo(np.float16).max) * scale
    try:
        return _largest_value(chunks if chunks is not None else [table]) * scale
    except OSError:  # the file was removed or replaced since loading: the mapping itself is still valid
        return _largest_value([table]) * scale


def _largest_value(parts: Iterable[np.ndarray]) -> float:
    """Largest absolute value over arrays, or NaN if any holds NaN or infinity."""
    bound = 0.0
    for part in parts:
        high, low = float(part.max()), float(part.min())
        if not (np.isfinite(high) and np.isfinite(low)):
            return float("nan")  # Python's max() would silently drop a NaN
        bound = max(bound, abs(high), abs(low))
    return bound


def _mean_float64(
    table: np.ndarray, ids: np.ndarray, weights: np.ndarray | None, mapping: np.ndarray | None, normalize: bool
) -> np.ndarray:
    """One text's mean in float64 (the slow path for sums that overflow float32), normalised if asked."""
    rows = table[ids if mapping is None else mapping[ids]].astype(np.float64)
    if weights is not None:
        rows *= weights[ids].astype(np.float64)[:, None]
    mean = rows.mean(axis=0) if len(ids) else np.zeros(table.shape[1])
    if normalize:
        norm = float(row_norms(mean[None, :])[0])
        mean = mean / norm if norm > 0 else mean
    with np.errstate(over="ignore"):
        return mean.astype(np.float32)


def float32_table(
    embedding: np.ndarray, weights: np.ndarray | None, mapping: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Make a float32 table for pooling, with per-token weights folded in where there is no mapping.

    Converting once is much faster than converting every gathered float16/int8 row, and folding the
    weights saves a multiplication per token; both give the same float32 values as doing it per row.

    :param embedding: The stored table.
    :param weights: Optional per-token weights.
    :param mapping: Optional token id -> row mapping (weights cannot be folded then).
    :return: The table to pool from and the weights still to apply (None when folded).
    """
    table = _file_backed_float32(embedding)
    if table is None:
        table = embedding.astype(np.float32, copy=False)
    if weights is not None and mapping is None:
        return table * weights.astype(np.float32, copy=False)[:, None], None
    return table, weights


def _file_chunks(embedding: np.ndarray) -> Iterator[np.ndarray] | None:
    """Read a memory-mapped 2-D table through its file in chunks of rows, or return None if not mapped.

    Reading through the file instead of the mapping leaves the mapped pages untouched, so the stored
    table costs no resident memory.
    """
    base = embedding.base
    if (
        not isinstance(base, np.memmap)
        or base.filename is None
        or embedding.shape != base.shape
        or embedding.dtype != base.dtype
        or embedding.ctypes.data != base.ctypes.data
        or embedding.ndim != 2
    ):
        return None
    filename, offset = base.filename, base.offset
    rows, dim = embedding.shape
    step = max(1, (1 << 22) // max(1, dim * embedding.dtype.itemsize))

    def chunks() -> Iterator[np.ndarray]:
        with open(filename, "rb") as handle:
            for start in range(0, rows, step):
                count = min(step, rows - start)
                handle.seek(offset + start * dim * embedding.dtype.itemsize)
                yield np.fromfile(handle, dtype=embedding.dtype, count=count * dim).reshape(count, dim)

    return chunks()


def _file_backed_float32(embedding: np.ndarray) -> np.ndarray | None:
    """Convert a memory-mapped table to float32 by reading its file, else return None.

    Reading through the file instead of the mapping leaves the mapped pages untouched, so the stored
    table costs no resident memory next to its float32 copy. Tables are mapped copy-on-write, so an
    in-place change would not be in the file: like the pooling cache, `StaticModel` documents that
    in-place changes to its arrays are not seen (assign a new array instead).
    """
    chunks = None if embedding.dtype == np.float32 else _file_chunks(embedding)
    if chunks is None:
        return None
    out = np.empty(embedding.shape, dtype=np.float32)
    start = 0
    for chunk in chunks:
        out[start : start + len(chunk)] = chunk
        start += len(chunk)
    return out


def segment_sequences(
    embedding: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    weights: np.ndarray | None = None,
    mapping: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Per-token float32 vectors of each text (weights and mapping applied, no normalisation).

    :param embedding: The table.
    :param ids: Flat token ids.
    :param offsets: `n + 1` boundaries.
    :param weights: Optional per-token weights.
    :param mapping: Optional token id -> row mapping.
    :return: One `(n_tokens_i, dim)` float32 array per text; `(0, dim)` for texts without tokens.
    """
    rows = token_rows(embedding, ids, weights, mapping)
    bounds = offsets.tolist()
    return [np.ascontiguousarray(rows[start:end]) for start, end in pairwise(bounds)]
