"""Pure post-processing of the teacher's token vectors: PCA, token weights, and their validation.

Everything here is numpy only, deterministic, and independent of how the vectors were produced.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np

PCADims: TypeAlias = int | float | Literal["auto"] | None


@dataclass(frozen=True)
class PCAResult:
    """The outcome of `fit_pca`.

    :param vectors: `(n, k)` float32 projections of the centred input on the first `k` components.
    :param components: `(k, d)` float64 unit components, ordered by decreasing variance.
    :param explained_variance_ratio: `(k,)` share of the total variance of each component.
    """

    vectors: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray


def resolve_pca_dims(pca_dims: PCADims, n_rows: int, width: int) -> int | float | None:
    """Check `pca_dims` and clamp it to what the data allows.

    :param pca_dims: An int (number of components), a float in (0, 1) (share of variance to keep),
        "auto" (all components: a rotation without reduction), or None (no PCA).
    :param n_rows: Number of vectors.
    :param width: Their dimensionality.
    :return: The number of components (int), the variance share (float), or None.
    :raises ValueError: For a non-positive int, a float outside (0, 1), or another type.
    """
    if pca_dims is None:
        return None
    if isinstance(pca_dims, str):
        if pca_dims != "auto":
            raise ValueError(f"pca_dims must be an int, a float in (0, 1), 'auto' or None, got {pca_dims!r}.")
        return min(width, n_rows)
    if isinstance(pca_dims, bool) or not isinstance(pca_dims, int | float):
        raise ValueError(f"pca_dims must be an int, a float in (0, 1), 'auto' or None, got {pca_dims!r}.")
    if isinstance(pca_dims, float):
        if not 0.0 < pca_dims < 1.0 or math.isnan(pca_dims):
            raise ValueError(f"A float pca_dims is a share of explained variance in (0, 1), got {pca_dims}.")
        return pca_dims
    if pca_dims < 1:
        raise ValueError(f"pca_dims must be a positive int, got {pca_dims}.")
    if pca_dims > width:
        warnings.warn(
            f"pca_dims={pca_dims} is larger than the teacher's width ({width}); using {width} "
            "(PCA still rotates the space, it just does not reduce it).",
            UserWarning,
            stacklevel=3,
        )
        pca_dims = width
    if pca_dims > n_rows:
        warnings.warn(
            f"pca_dims={pca_dims} is larger than the number of tokens ({n_rows}); using {n_rows}.",
            UserWarning,
            stacklevel=3,
        )
        pca_dims = n_rows
    return int(pca_dims)


def fit_pca(vectors: np.ndarray, n_components: int | float) -> PCAResult:
    """Project vectors on their principal components, with deterministic signs.

    The mean is taken in float64 and the centred data kept in float32 (half the memory of a float64
    copy; the vocabulary-sized arrays dominate peak memory). The small `(d, d)` covariance is
    diagonalised in float64 with `eigh`, which is much cheaper than an SVD of the data when there are
    many more rows than dimensions. Each component's sign is chosen so that the projection with the
    largest magnitude is positive: the same data always gives the same output, whatever sign the
    linear-algebra library returns.

    :param vectors: `(n, d)` data, n >= 1.
    :param n_components: Number of components to keep (1..d), or a float in (0, 1): keep the fewest
        components whose cumulative explained variance reaches it.
    :return: The projections, components and explained-variance ratios.
    :raises ValueError: If `vectors` is not 2-D with at least one row, or `n_components` is out of range.
    """
    if vectors.ndim != 2 or vectors.shape[0] < 1:
        raise ValueError(f"PCA needs a 2-D array with at least one row, got shape {vectors.shape}.")
    mean = vectors.mean(axis=0, dtype=np.float64)
    centred = (vectors - mean).astype(np.float32)
    covariance = (centred.T @ centred).astype(np.float64) / max(len(centred) - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    eigenvectors = eigenvectors[:, order]
    total = float(eigenvalues.sum())
    ratios = eigenvalues / total if total > 0 else np.zeros_like(eigenvalues)
    if isinstance(n_components, float):
        if not 0.0 < n_components < 1.0:
            raise ValueError(f"A float n_components must be in (0, 1), got {n_components}.")
        k = int(np.searchsorted(np.cumsum(ratios), n_components) + 1)
    else:
        k = n_components
    if not 1 <= k <= centred.shape[1]:
        raise ValueError(f"n_components must be between 1 and {centred.shape[1]}, got {k}.")
    components = eigenvectors[:, :k].T
    projected = centred @ components.T.astype(np.float32)
    strongest = np.argmax(np.abs(projected), axis=0)
    signs = np.sign(projected[strongest, np.arange(k)])
    signs[signs == 0] = 1.0
    return PCAResult(
        vectors=np.ascontiguousarray(projected * signs.astype(np.float32), dtype=np.float32),
        components=components * signs[:, None],
        explained_variance_ratio=ratios[:k],
    )


def apply_pca(vectors: np.ndarray, pca_dims: PCADims) -> np.ndarray:
    """Reduce (or, with "auto", only rotate) vectors with PCA.

    :param vectors: `(n, d)` token vectors.
    :param pca_dims: See `resolve_pca_dims`. Values above the width warn and are clamped.
    :return: float32 `(n, k)` vectors; the input (as float32) when `pca_dims` is None.
    :raises ValueError: For invalid `pca_dims`.
    """
    resolved = resolve_pca_dims(pca_dims, vectors.shape[0], vectors.shape[1])
    if resolved is None:
        return vectors.astype(np.float32)
    return fit_pca(vectors, resolved).vectors


def validate_sif_coefficient(sif_coefficient: float | None) -> float | None:
    """Check the SIF coefficient.

    :param sif_coefficient: A number strictly between 0 and 1, or None (no weighting).
    :return: The value as a float (or None).
    :raises ValueError: If it is outside (0, 1) or not a number.
    """
    if sif_coefficient is None:
        return None
    if isinstance(sif_coefficient, bool) or not isinstance(sif_coefficient, int | float):
        raise ValueError(f"sif_coefficient must be a float in (0, 1) or None, got {sif_coefficient!r}.")
    if not 0.0 < float(sif_coefficient) < 1.0:
        raise ValueError(f"sif_coefficient must be strictly between 0 and 1, got {sif_coefficient}.")
    return float(sif_coefficient)


def zipf_probabilities(n_tokens: int) -> np.ndarray:
    """Token probabilities assumed from the vocabulary order (Zipf-Mandelbrot law, offset 1).

    Tokenizer vocabularies are roughly sorted by frequency, so the token of rank `r` (1-based) gets
    `p ∝ 1 / (r + 1)`; the offset keeps the first token from taking half the mass.

    :param n_tokens: Vocabulary size (>= 0).
    :return: float64 probabilities summing to 1 (empty for 0 tokens).
    """
    inverse = 1.0 / np.arange(2, n_tokens + 2, dtype=np.float64)
    return inverse / inverse.sum() if n_tokens else inverse


def count_probabilities(counts: np.ndarray) -> np.ndarray:
    """Token probabilities from observed counts, with add-one smoothing.

    Smoothing keeps unseen tokens at a small, non-zero probability (so they get a weight just under
    1 rather than exactly 1, and the total stays a distribution).

    :param counts: Non-negative counts, one per token.
    :return: float64 probabilities summing to 1.
    :raises ValueError: If a count is negative or not finite.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or (counts.size and (not np.isfinite(counts).all() or counts.min() < 0)):
        raise ValueError("token counts must be a 1-D array of finite, non-negative numbers.")
    smoothed = counts + 1.0
    return smoothed / smoothed.sum() if smoothed.size else smoothed


def sif_weights(probabilities: np.ndarray, sif_coefficient: float) -> np.ndarray:
    """Smooth-inverse-frequency weights `w = a / (a + p)`.

    Frequent tokens (large `p`) are scaled down, rare ones keep a weight close to 1.

    :param probabilities: Token probabilities.
    :param sif_coefficient: `a`, in (0, 1).
    :return: float64 weights in (0, 1].
    :raises ValueError: If `sif_coefficient` is outside (0, 1).
    """
    coefficient = validate_sif_coefficient(sif_coefficient)
    assert coefficient is not None
    return coefficient / (coefficient + np.asarray(probabilities, dtype=np.float64))


def counts_for_tokens(tokens: Sequence[str], token_counts: Mapping[str, int | float]) -> np.ndarray:
    """Line up a token -> count mapping with a vocabulary (missing tokens count 0).

    :param tokens: The vocabulary in id order.
    :param token_counts: Counts by token text.
    :return: float64 counts, one per token.
    """
    return np.array([float(token_counts.get(token, 0)) for token in tokens], dtype=np.float64)


def count_corpus_tokens(token_ids: Iterable[np.ndarray], vocab_size: int) -> np.ndarray:
    """Count token ids over a corpus that has already been tokenised.

    :param token_ids: Arrays of token ids (e.g. one per batch of texts).
    :param vocab_size: Number of tokens.
    :return: float64 counts of length `vocab_size`.
    """
    counts = np.zeros(vocab_size, dtype=np.float64)
    for ids in token_ids:
        counts += np.bincount(np.asarray(ids, dtype=np.int64), minlength=vocab_size)[:vocab_size]
    return counts
