"""Exact top-k cosine search over vectors or texts, memory-bounded, with float32/float16/int8 storage.

Vectors are L2-normalised when added, so a cosine score is one dot product. A query batch is scored
against the stored rows one block at a time: the block height is chosen so the float32 score matrix
stays under `memory_budget` bytes (float16/int8 rows are widened through a ~1 MiB buffer),
`np.argpartition` keeps each block's best k, and the running best k are merged after every block.
Results are exact for the stored vectors; ties are broken by insertion order (earlier rows first), so
results are deterministic.

Storage in float16 halves memory; int8 quarters it, with one float32 scale per row (the row's largest
absolute value / 127). Scores are always computed in float32.

An index saves to a folder holding `index.safetensors` (vectors, scales) and `index.json` (ids, texts,
settings); nothing is ever unpickled. The module imports only numpy and safetensors, so it is not
imported by `import model2vec`; use `from model2vec.search import SearchIndex`.

Approximate search: `backend="usearch"` keeps an HNSW graph (usearch, `pip install "model2vec[ann]"`)
next to the stored rows. The graph proposes k candidates per query; their scores are then recomputed
from the stored rows, so every returned score is the exact cosine for the stored vector and results are
ordered exactly like the exact backend's, but an item may be missed (recall < 1). usearch is imported
only when such an index is created. Other implementations plug in by implementing `SearchBackend` and
registering a factory in `BACKENDS`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from safetensors.numpy import save_file

from model2vec.format import ModelFormatError, atomic_replace_dir, read_json, read_tensors

if TYPE_CHECKING:
    from model2vec.model import StaticModel

Id = int | str
DTYPES = ("float32", "float16", "int8")
INDEX_TENSORS = "index.safetensors"
INDEX_JSON = "index.json"
USEARCH_FILE = "index.usearch"
FORMAT_VERSION = 1
DEFAULT_MEMORY_BUDGET = 256 * 2**20
CONVERT_BYTES = 2**20
MIN_BLOCK = 4096


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Return float32 copies of `vectors` scaled to unit L2 norm; all-zero rows stay zero (score 0)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out = np.zeros_like(vectors)
    np.divide(vectors, norms, out=out, where=norms > 0)
    return out


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


class SearchBackend(Protocol):
    """What a search implementation provides, kept in step with the index by `add` and `remove` calls.

    The index owns the stored rows (ids, texts, vectors in the storage dtype) and passes them to
    `search`; a backend that needs its own structure (a graph) builds it from the `add`/`remove` calls,
    which always follow the index's own changes in order, and persists it with `save`/`load`.
    """

    def add(self, vectors: np.ndarray) -> None:
        """Take note of unit float32 rows (n, dim) appended at the end of the index."""
        ...

    def remove(self, keep: np.ndarray) -> None:
        """Take note of a removal: `keep` is a boolean mask over the rows before it (kept rows keep order)."""
        ...

    def search(
        self, queries: np.ndarray, vectors: np.ndarray, scales: np.ndarray | None, k: int, version: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (rows (m, k), float32 scores (m, k)), best first."""
        ...

    def save(self, folder: Path) -> None:
        """Write the backend's own files (if any) into `folder`, next to the index files."""
        ...

    def load(self, folder: Path, count: int) -> None:
        """Restore the state written by `save` for an index of `count` rows.

        :raises FileNotFoundError: If a file the backend needs is missing.
        :raises ModelFormatError: If its files do not agree with the index.
        """
        ...


class ExactBackend:
    """Blocked brute force: exact results, memory bounded by `memory_budget` bytes; keeps no state."""

    def __init__(
        self,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        dtype: str = "float32",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Create the backend.

        :param memory_budget: Bytes one block's scores may use (see `exact_search`).
        :param dtype: The index's storage dtype (unused: the stored rows are passed to `search`).
        :param options: Must be empty: the exact backend has no settings.
        :raises ValueError: If options are given.
        """
        if options:
            raise ValueError(f"The exact backend takes no backend_options, got {sorted(options)}.")
        self.memory_budget = memory_budget

    def add(self, vectors: np.ndarray) -> None:
        """Nothing to do: the stored rows are read at search time."""

    def remove(self, keep: np.ndarray) -> None:
        """Nothing to do: the stored rows are read at search time."""

    def save(self, folder: Path) -> None:
        """Nothing to write."""

    def load(self, folder: Path, count: int) -> None:
        """Nothing to read."""

    def search(
        self, queries: np.ndarray, vectors: np.ndarray, scales: np.ndarray | None, k: int, version: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k; see `exact_search`."""
        return exact_search(queries, vectors, scales, k, self.memory_budget)


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


USEARCH_DTYPES = {"float32": "f32", "float16": "f16", "int8": "i8"}
# HNSW settings: graph degree, candidate list width while inserting, and while searching. usearch's own
# defaults (16, 128, 64) give recall@10 around 0.9 on 1M real sentence embeddings; see docs/search.md.
USEARCH_DEFAULTS: dict[str, Any] = {
    "connectivity": 16,
    "expansion_add": 128,
    "expansion_search": 64,
    "threads": 0,
    "graph_dtype": None,
    "oversample": 1,
}
RESCORE_GROUP = 1024


def import_usearch_index() -> Any:
    """Return `usearch.index.Index`, imported on first use.

    :raises ImportError: Naming the extra to install when usearch is absent.
    """
    try:
        from usearch.index import Index
    except ImportError as error:
        raise ImportError('backend="usearch" needs the usearch package: pip install "model2vec[ann]"') from error
    return Index


class UsearchBackend:
    """Approximate search with a usearch HNSW graph; candidates are rescored exactly from the stored rows.

    Each stored row has a usearch key; keys are handed out in increasing order and removal keeps the
    order of the remaining rows, so the key array stays sorted and a key's row is one binary search.
    The graph stores vectors in the index's storage dtype (f32, f16 or i8). Queries for which the graph
    returns fewer than k candidates (a very small or heavily pruned index) are answered exactly.
    """

    def __init__(
        self,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        dtype: str = "float32",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Create the backend (the graph itself is created at the first `add`, when the dimension is known).

        :param memory_budget: Bytes for the exact fallback's score blocks.
        :param dtype: Storage dtype of the index; the graph uses the same.
        :param options: Any of connectivity, expansion_add, expansion_search (positive ints), threads
            (0 = all cores), graph_dtype (the graph's vector dtype, "float32", "float16" or "int8";
            default the storage dtype) and oversample (the graph proposes oversample x k candidates,
            which are rescored exactly; > 1 recovers the recall a coarse graph_dtype loses).
            connectivity, expansion_add and graph_dtype are fixed once the graph exists.
        :raises ValueError: On an unknown option or an invalid value.
        :raises ImportError: If usearch is not installed.
        """
        settings = dict(USEARCH_DEFAULTS)
        for name, value in (options or {}).items():
            if name not in USEARCH_DEFAULTS:
                raise ValueError(f"Unknown usearch option {name!r}; available: {', '.join(USEARCH_DEFAULTS)}.")
            if name == "graph_dtype":
                if value is not None and value not in USEARCH_DTYPES:
                    raise ValueError(f"usearch option graph_dtype must be one of {', '.join(DTYPES)}, got {value!r}.")
                settings[name] = value
                continue
            least = 0 if name == "threads" else 1
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"usearch option {name} must be an integer >= {least}, got {value!r}.")
            settings[name] = int(value)
        self.settings = settings
        self.memory_budget = memory_budget
        self.dtype = USEARCH_DTYPES[settings["graph_dtype"] or dtype]
        self._index_class = import_usearch_index()
        self._graph: Any = None
        self._keys = np.zeros(0, dtype=np.uint64)
        self._next_key = 0

    @property
    def threads(self) -> int:
        """Threads for adding and searching (0 = all cores)."""
        return int(self.settings["threads"])

    @property
    def expansion_search(self) -> int:
        """Candidate list width while searching: higher gives better recall and slower queries."""
        return int(self.settings["expansion_search"])

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"expansion_search must be a positive integer, got {value!r}.")
        self.settings["expansion_search"] = int(value)
        if self._graph is not None:
            self._graph.expansion_search = int(value)

    def _new_graph(self, dim: int) -> Any:
        return self._index_class(
            ndim=dim,
            metric="cos",
            dtype=self.dtype,
            connectivity=self.settings["connectivity"],
            expansion_add=self.settings["expansion_add"],
            expansion_search=self.settings["expansion_search"],
        )

    def add(self, vectors: np.ndarray) -> None:
        """Insert unit rows into the graph (all cores unless `threads` is set)."""
        if self._graph is None:
            self._graph = self._new_graph(vectors.shape[1])
        keys = np.arange(self._next_key, self._next_key + len(vectors), dtype=np.uint64)
        if self.dtype == "i8":
            # usearch would quantise unit floats as round(127 x), wasting most of the int8 range; cosine
            # ignores each row's positive scale, so our per-row-scaled int8 rows are given as they are.
            self._graph.add(keys, quantize_rows(vectors, "int8")[0], threads=self.threads)
        else:
            self._graph.add(keys, np.ascontiguousarray(vectors, dtype=np.float32), threads=self.threads)
        self._keys = np.concatenate([self._keys, keys])
        self._next_key += len(vectors)

    def remove(self, keep: np.ndarray) -> None:
        """Delete the rows not kept from the graph."""
        doomed = self._keys[~keep]
        if len(doomed):
            self._graph.remove(doomed)
        self._keys = self._keys[keep]

    def search(
        self, queries: np.ndarray, vectors: np.ndarray, scales: np.ndarray | None, k: int, version: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-k: graph candidates, exact rescoring, exact fallback for short answers."""
        m = len(queries)
        rows = np.zeros((m, k), dtype=np.int64)
        scores = np.zeros((m, k), dtype=np.float32)
        graph_queries = quantize_rows(queries, "int8")[0] if self.dtype == "i8" else queries
        count = min(k * self.settings["oversample"], len(self._keys))
        matches = self._graph.search(graph_queries, count, threads=self.threads)
        # One query gives a `Matches` (keys only, no counts), several a `BatchMatches`.
        counts = getattr(matches, "counts", None)
        counts = np.array([len(matches.keys)]) if counts is None else np.asarray(counts)
        keys = np.zeros((m, count), dtype=np.uint64)
        found_keys = np.asarray(matches.keys, dtype=np.uint64).reshape(m, -1)[:, :count]
        keys[:, : found_keys.shape[1]] = found_keys
        complete = counts.reshape(m) >= count
        found = np.searchsorted(self._keys, keys[complete]).astype(np.int64)
        # Rescoring gathers (m, k, dim) float32 rows; groups keep that small for large query batches.
        for start in range(0, len(found), RESCORE_GROUP):
            part = found[start : start + RESCORE_GROUP]
            where = np.flatnonzero(complete)[start : start + RESCORE_GROUP]
            best_rows, best_scores = rescore(queries[where], vectors, scales, part)
            rows[where], scores[where] = best_rows[:, :k], best_scores[:, :k]
        short = np.flatnonzero(~complete)
        if len(short):
            rows[short], scores[short] = exact_search(queries[short], vectors, scales, k, self.memory_budget)
        return rows, scores

    def save(self, folder: Path) -> None:
        """Write the graph to `index.usearch` (usearch's own binary format; nothing is pickled)."""
        if self._graph is not None:
            self._graph.save(os.fspath(folder / USEARCH_FILE))

    def load(self, folder: Path, count: int) -> None:
        """Read `index.usearch`; the graph's keys, sorted, are the keys of the rows in order.

        :raises FileNotFoundError: If the graph file is missing for a non-empty index.
        :raises ModelFormatError: If the graph file is unreadable or does not hold `count` vectors.
        """
        path = folder / USEARCH_FILE
        if count == 0:
            return  # the graph is created at the first add
        if not path.is_file():
            raise FileNotFoundError(f"Missing file {path} (the usearch graph of this index).")
        try:
            graph = self._index_class.restore(os.fspath(path))
        except (RuntimeError, ValueError) as error:
            raise ModelFormatError(f"{path}: unreadable usearch index ({error}).") from error
        if graph is None:
            raise ModelFormatError(f"{path}: not a usearch index.")
        graph.expansion_add = self.settings["expansion_add"]
        graph.expansion_search = self.settings["expansion_search"]
        self.settings["connectivity"] = int(graph.connectivity)
        keys = np.sort(np.asarray(graph.keys, dtype=np.uint64)) if len(graph) else np.zeros(0, dtype=np.uint64)
        if len(keys) != count:
            raise ModelFormatError(f"{path}: holds {len(keys)} vectors, the index {count}.")
        self._graph = graph
        self._keys = keys
        self._next_key = int(keys[-1]) + 1 if len(keys) else 0


# Backend name -> factory taking (memory_budget, storage dtype, backend options).
BACKENDS: dict[str, Callable[[int, str, Mapping[str, Any]], SearchBackend]] = {
    "exact": ExactBackend,
    "usearch": UsearchBackend,
}


class SearchIndex:
    """An index of unit vectors with ids (and optional texts), searched by cosine similarity.

    :param dim: Vector dimension; None takes it from the model, or from the first `add`.
    :param model: A `StaticModel` used to embed texts given to `add` and `search`.
    :param dtype: Storage dtype: "float32", "float16" or "int8" (per-row scales).
    :param memory_budget: Bytes one search block may use for its float32 scores (bounds peak memory).
    :param backend: Search implementation: "exact" (default) or "usearch" (approximate HNSW; needs
        `pip install "model2vec[ann]"`), or any name registered in `BACKENDS`.
    :param backend_options: Settings of the backend. usearch: connectivity (default 16), expansion_add
        (128), expansion_search (64), threads (0 = all cores). The exact backend takes none.
    :raises ValueError: On an unknown dtype or backend, a non-positive budget, a `dim` that
        disagrees with the model, or backend options the backend does not accept.
    :raises ImportError: If the backend's package is not installed.
    """

    def __init__(
        self,
        dim: int | None = None,
        model: StaticModel | None = None,
        dtype: str = "float32",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        backend: str = "exact",
        backend_options: Mapping[str, Any] | None = None,
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}.")
        if backend not in BACKENDS:
            raise ValueError(f"Unknown backend {backend!r}; available: {', '.join(BACKENDS)}.")
        if memory_budget <= 0:
            raise ValueError(f"memory_budget must be positive, got {memory_budget}.")
        if model is not None:
            model_dim = int(model.dim)
            if dim is not None and dim != model_dim:
                raise ValueError(f"dim={dim} does not match the model's dimension {model_dim}.")
            dim = model_dim
        if dim is not None and dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}.")
        self.dim = dim
        self.model = model
        self.dtype = dtype
        self.memory_budget = memory_budget
        self.backend = backend
        self.backend_options = dict(backend_options or {})
        self._backend: SearchBackend = BACKENDS[backend](memory_budget, dtype, self.backend_options)
        storage = np.dtype(dtype)
        self._vectors = np.zeros((0, dim or 0), dtype=storage)
        self._scales: np.ndarray | None = np.zeros(0, dtype=np.float32) if dtype == "int8" else None
        self._ids: list[Id] = []
        self._texts: list[str | None] = []
        self._positions: dict[Id, int] = {}
        self._next_id = 0
        self._version = 0

    @classmethod
    def from_model(cls, model: StaticModel, texts: Iterable[str] | None = None, **kwargs: Any) -> SearchIndex:
        """Build an index that embeds texts with `model`, optionally filled with `texts` (ids 0..n-1).

        :param model: The embedding model.
        :param texts: Texts to add now.
        :param kwargs: Passed to `SearchIndex` (dtype, memory_budget, backend, backend_options).
        """
        index = cls(model=model, **kwargs)
        if texts is not None:
            index.add(list(texts))
        return index

    def __len__(self) -> int:
        """Return the number of stored vectors."""
        return len(self._ids)

    def __contains__(self, item: object) -> bool:
        """Whether an id is stored."""
        return item in self._positions

    def __repr__(self) -> str:
        """Short description."""
        return f"SearchIndex(n={len(self)}, dim={self.dim}, dtype={self.dtype!r}, backend={self.backend!r})"

    @property
    def ids(self) -> list[Id]:
        """Stored ids in insertion order (a copy)."""
        return list(self._ids)

    def text(self, item: Id) -> str | None:
        """Return the text stored with an id, or None when it was added as a vector.

        :raises KeyError: If the id is unknown.
        """
        if item not in self._positions:
            raise KeyError(f"Unknown id {item!r}.")
        return self._texts[self._positions[item]]

    def _embed(self, texts: list[str], what: str) -> np.ndarray:
        if self.model is None:
            raise ValueError(f"{what} by text needs a model: use SearchIndex(model=...) or SearchIndex.from_model.")
        return np.asarray(self.model.encode(texts), dtype=np.float32).reshape(len(texts), -1)

    def _as_matrix(self, items: Any, what: str) -> tuple[np.ndarray, list[str] | None, bool]:
        """Turn texts or vectors into a 2-D float32 matrix; also return texts and whether input was single."""
        if isinstance(items, str):
            return self._embed([items], what), [items], True
        if isinstance(items, (list, tuple)) and items and all(isinstance(item, str) for item in items):
            texts = list(items)
            return self._embed(texts, what), texts, False
        if isinstance(items, (list, tuple)) and not items:
            return np.zeros((0, self.dim or 0), dtype=np.float32), [], False
        array = np.asarray(items)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"{what} expects texts or a numeric array, got {array.dtype} values.")
        single = array.ndim == 1
        if single:
            array = array[None, :]
        if array.ndim != 2:
            raise ValueError(f"{what} expects one vector or a 2-D array, got shape {array.shape}.")
        if self.dim is not None and array.shape[1] != self.dim:
            raise ValueError(f"Dimension mismatch: the index holds {self.dim}-d vectors, got {array.shape[1]}-d.")
        array = array.astype(np.float32)
        if not np.isfinite(array).all():
            raise ValueError(f"{what}: vectors contain NaN or infinity.")
        return array, None, single

    def add(self, items: Any, ids: Sequence[Id] | None = None) -> list[Id]:
        """Add vectors (array (n, dim) or one vector) or texts (str or list of str, embedded by the model).

        Vectors are normalised to unit length (all-zero vectors stay zero and score 0 against anything).

        :param items: Vectors or texts.
        :param ids: One int or str id per item; None assigns increasing ints not used so far.
        :return: The ids of the added items.
        :raises ValueError: On a dimension mismatch, non-finite values, a wrong number of ids, or ids that
            repeat or are already stored; nothing is added then.
        :raises TypeError: On ids that are not int or str.
        """
        matrix, texts, _ = self._as_matrix(items, "add")
        n = len(matrix)
        if ids is None:
            new_ids: list[Id] = list(range(self._next_id, self._next_id + n))
        else:
            new_ids = list(ids)
            if len(new_ids) != n:
                raise ValueError(f"Got {n} items but {len(new_ids)} ids.")
            for item in new_ids:
                if isinstance(item, bool) or not isinstance(item, (int, str)):
                    raise TypeError(f"Ids must be int or str, got {type(item).__name__}.")
            if len(set(new_ids)) != n:
                raise ValueError("Duplicate ids in one add call.")
            clash = [item for item in new_ids if item in self._positions]
            if clash:
                raise ValueError(f"Ids already in the index: {clash[:5]!r}.")
        if n == 0:
            return []
        if self.dim is None:
            self.dim = int(matrix.shape[1])
            self._vectors = self._vectors.reshape(0, self.dim)
        unit = normalize_rows(matrix)
        # The backend goes first: if it fails (memory, a bad option), the index is left unchanged.
        self._backend.add(unit)
        stored, scales = quantize_rows(unit, self.dtype)
        self._vectors = np.concatenate([self._vectors, stored])
        if self._scales is not None and scales is not None:
            self._scales = np.concatenate([self._scales, scales])
        start = len(self._ids)
        self._ids.extend(new_ids)
        self._texts.extend(texts if texts is not None else [None] * n)
        self._positions.update({item: start + i for i, item in enumerate(new_ids)})
        ints = [item for item in new_ids if isinstance(item, int)]
        if ints:
            self._next_id = max(self._next_id, max(ints) + 1)
        self._version += 1
        return new_ids

    def remove(self, ids: Iterable[Id]) -> None:
        """Remove items by id; the remaining items keep their order.

        :raises KeyError: If any id is unknown (nothing is removed then).
        """
        doomed = list(dict.fromkeys(ids))
        unknown = [item for item in doomed if item not in self._positions]
        if unknown:
            raise KeyError(f"Unknown ids: {unknown[:5]!r}.")
        if not doomed:
            return
        keep = np.ones(len(self._ids), dtype=bool)
        keep[[self._positions[item] for item in doomed]] = False
        self._backend.remove(keep)
        self._vectors = self._vectors[keep]
        if self._scales is not None:
            self._scales = self._scales[keep]
        kept = np.flatnonzero(keep)
        self._ids = [self._ids[i] for i in kept]
        self._texts = [self._texts[i] for i in kept]
        self._positions = {item: i for i, item in enumerate(self._ids)}
        self._version += 1

    def vectors(self) -> np.ndarray:
        """Return the stored vectors as float32 (int8 rows multiplied back by their scales), in id order."""
        vectors = self._vectors.astype(np.float32)
        if self._scales is not None:
            vectors *= self._scales[:, None]
        return vectors

    def search(self, queries: Any, k: int = 10) -> tuple[Any, np.ndarray]:
        """Find the `k` most cosine-similar stored items for each query.

        :param queries: One text or vector (gives flat results) or a list of texts / 2-D array.
        :param k: Results per query; fewer are returned when the index holds fewer items.
        :return: (ids, scores): for one query a list of ids and a float32 array (k,); for several a list
            of id lists and an array (m, k). Best first; equal scores in insertion order.
        :raises ValueError: If k <= 0, the index is empty, the dimension mismatches, or text queries
            come without a model.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        if not self._ids:
            raise ValueError("The index is empty: add vectors or texts before searching.")
        matrix, _, single = self._as_matrix(queries, "search")
        k = min(int(k), len(self._ids))
        if len(matrix) == 0:
            return [], np.zeros((0, k), dtype=np.float32)
        rows, scores = self._backend.search(normalize_rows(matrix), self._vectors, self._scales, k, self._version)
        found = [[self._ids[row] for row in row_ids] for row_ids in rows.tolist()]
        if single:
            return found[0], scores[0]
        return found, scores

    def save(self, path: str | Path) -> None:
        """Write the index to folder `path` (created or replaced atomically): safetensors plus JSON.

        The model is not saved; pass it again to `load`.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            tensors = {"vectors": np.ascontiguousarray(self._vectors)}
            if self._scales is not None:
                tensors["scales"] = np.ascontiguousarray(self._scales)
            save_file(tensors, str(staging / INDEX_TENSORS))
            settings = {
                "format_version": FORMAT_VERSION,
                "dim": self.dim,
                "dtype": self.dtype,
                "memory_budget": self.memory_budget,
                "backend": self.backend,
                "backend_options": self.backend_options,
                "next_id": self._next_id,
                "ids": self._ids,
                "texts": self._texts,
            }
            (staging / INDEX_JSON).write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
            self._backend.save(staging)
            atomic_replace_dir(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @classmethod
    def load(
        cls, path: str | Path, model: StaticModel | None = None, backend_options: Mapping[str, Any] | None = None
    ) -> SearchIndex:
        """Load an index written by `save`; vectors are memory-mapped (read-only, copied on change).

        :param path: The index folder.
        :param model: Model for text queries; its dimension must match.
        :param backend_options: Options overriding the saved ones (for usearch: expansion_search and
            threads take effect; connectivity is the saved graph's).
        :raises FileNotFoundError: If a file is missing (including the backend's, e.g. index.usearch).
        :raises ModelFormatError: If the files are corrupt or disagree with each other.
        :raises ValueError: If `model`'s dimension differs from the index's.
        :raises ImportError: If the saved backend's package is not installed.
        """
        folder = Path(path)
        settings = read_json(folder / INDEX_JSON)
        tensors = read_tensors(folder / INDEX_TENSORS)
        try:
            if settings["format_version"] != FORMAT_VERSION:
                raise ModelFormatError(f"{folder}: unsupported index format {settings['format_version']!r}.")
            index = cls(
                dim=settings["dim"],
                model=model,
                dtype=settings["dtype"],
                memory_budget=int(settings["memory_budget"]),
                backend=settings["backend"],
                backend_options={**settings.get("backend_options", {}), **(backend_options or {})},
            )
            ids = [item if isinstance(item, (int, str)) else None for item in settings["ids"]]
            texts = list(settings["texts"])
            vectors = tensors["vectors"]
            scales = tensors.get("scales")
        except (KeyError, TypeError) as error:
            raise ModelFormatError(f"{folder}: malformed index ({error!r}).") from error
        n = len(ids)
        if (
            None in ids
            or len(set(ids)) != n
            or len(texts) != n
            or vectors.shape != (n, index.dim if index.dim is not None else 0)
            or vectors.dtype != np.dtype(index.dtype)
            or (index.dtype == "int8") != (scales is not None)
            or (scales is not None and scales.shape != (n,))
        ):
            raise ModelFormatError(f"{folder}: ids, texts and vectors do not agree.")
        index._vectors = vectors
        index._scales = scales
        index._ids = ids  # type: ignore[assignment]
        index._texts = texts
        index._positions = {item: i for i, item in enumerate(index._ids)}
        index._next_id = int(settings.get("next_id", 0))
        index._backend.load(folder, n)
        return index


def read_texts(path: Path, text_column: str, id_column: str | None) -> tuple[list[str], list[Id] | None]:
    """Read texts (and ids) for the `search build` command from a text or JSONL file.

    A `.txt` file gives one text per non-blank line (ids 0, 1, ...; `id_column` must be None). A
    `.jsonl`/`.ndjson` file gives one object per non-blank line, its text under `text_column` and its id
    under `id_column` when given.

    :raises FileNotFoundError: If the file is missing.
    :raises ValueError: On another suffix, invalid JSON, a missing key, a non-string text, or no text.
    """
    if not path.is_file():
        raise FileNotFoundError(f"Input not found: {path}.")
    lines = [(number, line) for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)]
    lines = [(number, line) for number, line in lines if line.strip()]
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if id_column is not None:
            raise ValueError(f"{path}: --id-column needs a JSONL input; a text file's ids are line numbers.")
        texts, ids = [line for _, line in lines], None
    elif suffix in (".jsonl", ".ndjson"):
        texts, found_ids = [], []
        for number, line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: invalid JSON ({error.msg}).") from error
            for key in (text_column, id_column):
                if key is not None and (not isinstance(record, dict) or key not in record):
                    raise ValueError(f"{path}:{number}: no {key!r} key.")
            if not isinstance(record[text_column], str):
                raise ValueError(f"{path}:{number}: {text_column!r} is not a string.")
            texts.append(record[text_column])
            if id_column is not None:
                found_ids.append(record[id_column])
        ids = found_ids if id_column is not None else None
    else:
        raise ValueError(f"{path}: expected a .txt (one text per line) or .jsonl file.")
    if not texts:
        raise ValueError(f"{path}: no text to index.")
    return texts, ids


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    names = ("connectivity", "expansion_add", "expansion_search", "threads", "graph_dtype", "oversample")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _build_command(args: argparse.Namespace) -> int:
    from model2vec.model import StaticModel

    target = Path(args.out)
    if target.exists() and not args.overwrite:
        raise ValueError(f"{target} exists; pass --overwrite to replace it.")
    texts, ids = read_texts(Path(args.input), args.text_column, args.id_column)
    options = _backend_options(args)
    if options and args.backend != "usearch":
        raise ValueError(
            "--connectivity, --expansion-add, --expansion-search, --graph-dtype, --oversample and --threads "
            "need --backend usearch."
        )
    model = StaticModel.from_pretrained(args.model)
    index = SearchIndex(model=model, dtype=args.dtype, backend=args.backend, backend_options=options)
    index.add(texts, ids=ids)
    index.save(target)
    print(f"Indexed {len(index):,} texts ({index.dim}-d, {args.dtype}, {args.backend}) into {target}")
    return 0


def _query_command(args: argparse.Namespace) -> int:
    from model2vec.model import StaticModel

    if args.k <= 0:
        raise ValueError(f"-k must be positive, got {args.k}.")
    options = _backend_options(args)
    folder = Path(args.index)
    if not (folder / INDEX_JSON).is_file():
        raise FileNotFoundError(f"{folder} is not a saved index (no {INDEX_JSON}).")
    index = SearchIndex.load(folder, model=StaticModel.from_pretrained(args.model), backend_options=options or None)
    found, scores = index.search(list(args.query), args.k)
    for query, ids, row in zip(args.query, found, scores, strict=True):
        results = [
            {"id": item, "score": round(float(score), 6), "text": index.text(item)}
            for item, score in zip(ids, row, strict=True)
        ]
        if args.json:
            print(json.dumps({"query": query, "results": results}, ensure_ascii=False))
            continue
        print(f"query: {query}")
        for rank, result in enumerate(results, 1):
            text = result["text"] if result["text"] is not None else ""
            print(f"{rank:>3}  {result['score']:.4f}  {result['id']}  {text[:100]}")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `search` command (`search build`, `search query`) to the `model2vec` command's subparsers.

    `model2vec search build MODEL INPUT --out DIR` embeds a .txt (one text per line) or .jsonl file and
    saves the index; `model2vec search query INDEX QUERY... --model MODEL [-k N]` prints the top k of
    each query. Registering imports nothing heavy; usearch is imported only for `--backend usearch`.

    :param subparsers: The object returned by `ArgumentParser.add_subparsers`.
    :return: The `search` parser.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "search", help="Build a search index from texts, or query a saved one.", description="Cosine search."
    )
    actions = parser.add_subparsers(dest="search_command", required=True)
    build = actions.add_parser("build", help="Embed texts with a model and save an index.")
    build.add_argument("model", help="Model folder or hub id.")
    build.add_argument("input", help="A .txt file (one text per line) or .jsonl file (one object per line).")
    build.add_argument("--out", required=True, help="Index folder to write.")
    build.add_argument("--text-column", default="text", help="JSONL key of the text (default: text).")
    build.add_argument("--id-column", help="JSONL key of the id (default: line order 0, 1, ...).")
    build.add_argument("--dtype", choices=DTYPES, default="float32", help="Storage dtype.")
    build.add_argument("--backend", choices=sorted(BACKENDS), default="exact", help="exact, or usearch (HNSW).")
    build.add_argument("--overwrite", action="store_true", help="Replace --out if it exists.")
    query = actions.add_parser("query", help="Print the top k texts of a saved index for each query.")
    query.add_argument("index", help="Index folder written by `search build`.")
    query.add_argument("query", nargs="+", help="Query text(s).")
    query.add_argument("--model", required=True, help="The model the index was built with (folder or hub id).")
    query.add_argument("-k", type=int, default=10, help="Results per query (default 10).")
    query.add_argument("--json", action="store_true", help="Print one JSON object per query.")
    for sub, build_time in ((build, True), (query, False)):
        group = sub.add_argument_group("usearch options")
        if build_time:
            group.add_argument("--connectivity", type=int, help="Graph degree (default 16).")
            group.add_argument("--expansion-add", type=int, help="Candidate width while building (default 128).")
            group.add_argument("--graph-dtype", choices=DTYPES, help="Dtype of the graph's vectors.")
        group.add_argument("--expansion-search", type=int, help="Candidate width while searching (default 64).")
        group.add_argument("--oversample", type=int, help="Graph candidates per result, rescored exactly.")
        group.add_argument("--threads", type=int, help="Threads (0 = all cores).")
    build.set_defaults(func=_build_command)
    query.set_defaults(func=_query_command)
    return parser
