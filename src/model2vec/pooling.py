"""The hot path: flat token ids + offsets -> (weighted) mean vectors, normalised.

All arithmetic happens in float32 whatever the storage dtype (float16 sums overflow and int8 has no
fractions), and each text's vector is computed from its own rows only, in a fixed order, so the result
for a text is bitwise identical whatever else is in the batch.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

# Normalising divides by (norm + EPS): zero vectors stay zero instead of becoming NaN.
NORM_EPS = np.float32(1e-32)

# Rows gathered at once; bounds the float32 scratch memory to about this many rows * dim * 4 bytes.
TOKEN_BUDGET = 65_536


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


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows in place (float32); zero rows stay zero.

    :param vectors: A 2-D float32 array, modified in place.
    :return: The same array.
    """
    norms = np.linalg.norm(vectors, axis=1, keepdims=True).astype(np.float32, copy=False)
    vectors /= norms + NORM_EPS
    return vectors


def _segment_sums(rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Sum consecutive segments of rows; empty segments give zero rows."""
    out = np.zeros((len(lengths), rows.shape[1]), dtype=np.float32)
    nonempty = lengths > 0
    if nonempty.any():
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[nonempty]
        # reduceat adds the rows of a segment one after another, so each sum depends only on its segment.
        out[nonempty] = np.add.reduceat(rows, starts, axis=0)
    return out


def segment_mean(
    embedding: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    weights: np.ndarray | None = None,
    mapping: np.ndarray | None = None,
    normalize: bool = False,
    token_budget: int = TOKEN_BUDGET,
) -> np.ndarray:
    """Mean of each text's token vectors (sum of weighted rows / token count), optionally normalised.

    :param embedding: The table.
    :param ids: Flat token ids of all texts.
    :param offsets: `n + 1` boundaries into `ids`.
    :param weights: Optional per-token weights.
    :param mapping: Optional token id -> row mapping.
    :param normalize: Whether to L2-normalise the means.
    :param token_budget: Maximum rows gathered at once (memory bound); does not affect results.
    :return: An `(n, dim)` float32 C-contiguous array; texts without tokens give zero rows.
    """
    n_texts = len(offsets) - 1
    dim = embedding.shape[1]
    out = np.zeros((n_texts, dim), dtype=np.float32)
    start_text = 0
    while start_text < n_texts:
        # Take whole texts until the budget is reached (at least one text, however long).
        end_text = int(np.searchsorted(offsets, offsets[start_text] + token_budget, side="right")) - 1
        end_text = min(max(end_text, start_text + 1), n_texts)
        lo, hi = int(offsets[start_text]), int(offsets[end_text])
        lengths = np.diff(offsets[start_text : end_text + 1])
        if hi > lo:
            rows = token_rows(embedding, ids[lo:hi], weights, mapping)
            sums = _segment_sums(rows, lengths)
            counts = np.maximum(lengths, 1).astype(np.float32)[:, None]
            out[start_text:end_text] = sums / counts
        start_text = end_text
    if normalize:
        normalize_rows(out)
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
