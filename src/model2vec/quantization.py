"""Storage dtypes, int8 with a scale, dimension truncation and vocabulary k-means quantisation.

These are pure functions on arrays; `model2vec.model.quantize_model` applies them to a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

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
    return np.ascontiguousarray(embedding[:, :dimensionality])


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
) -> VocabularyQuantization:
    """Cluster token vectors with k-means into `n_clusters` shared rows.

    Rows are clustered by direction (unit length); each token keeps its own magnitude as a weight,
    multiplied into any existing weight.

    :param embedding: The `(vocab, dim)` table (any dtype; clustered in float32).
    :param n_clusters: Number of clusters (rows after quantisation).
    :param weights: Existing per-token weights, if any.
    :param random_state: Seed for k-means; the same seed gives the same result.
    :return: Centres, mapping and weights.
    :raises ValueError: If `n_clusters` is not in `1..vocab size`.
    :raises ImportError: If scikit-learn is not installed.
    """
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, int):
        raise ValueError(f"vocabulary_quantization must be an int number of clusters, got {n_clusters!r}.")
    if not 1 <= n_clusters <= len(embedding):
        raise ValueError(f"vocabulary_quantization must be between 1 and {len(embedding)}, got {n_clusters}.")
    try:
        from sklearn.cluster import KMeans
    except ImportError as error:
        raise ImportError(
            "Vocabulary quantisation needs scikit-learn: pip install 'model2vec[quantization]'"
        ) from error
    values = embedding.astype(np.float32)
    norms = np.linalg.norm(values, axis=1)
    safe = np.where(norms > 0, norms, 1.0).astype(np.float32)
    directions = values / safe[:, None]
    kmeans = KMeans(n_clusters=n_clusters, random_state=random_state, n_init=1, init="k-means++")
    labels = kmeans.fit_predict(directions)
    centres = kmeans.cluster_centers_.astype(np.float32)
    centre_norms = np.linalg.norm(centres, axis=1, keepdims=True)
    centres = centres / np.where(centre_norms > 0, centre_norms, 1.0)
    token_weights = norms.astype(np.float32)
    if weights is not None:
        token_weights = token_weights * weights.astype(np.float32)
    return VocabularyQuantization(
        embedding=np.ascontiguousarray(centres, dtype=np.float32),
        mapping=labels.astype(np.int32),
        weights=token_weights,
    )
