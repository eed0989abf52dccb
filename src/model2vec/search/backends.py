"""Search backends: the `SearchBackend` protocol, exact blocked search, and usearch HNSW with exact rescoring.

usearch is imported only when a `UsearchBackend` is created. Other implementations plug in by
registering a factory in `BACKENDS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from model2vec.format import ModelFormatError
from model2vec.search.maths import DEFAULT_MEMORY_BUDGET, DTYPES, exact_search, quantize_rows, rescore

USEARCH_FILE = "index.usearch"


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
# usearch takes its integer settings as C integers: larger Python ints fail inside usearch with a
# TypeError at the first add or search (or, from a saved index, long after loading), so they are refused here.
USEARCH_MAX_OPTION = 2**31 - 1


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
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or not least <= value <= USEARCH_MAX_OPTION
            ):
                raise ValueError(
                    f"usearch option {name} must be an integer from {least} to {USEARCH_MAX_OPTION}, got {value!r}."
                )
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
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= USEARCH_MAX_OPTION:
            raise ValueError(f"expansion_search must be an integer from 1 to {USEARCH_MAX_OPTION}, got {value!r}.")
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
