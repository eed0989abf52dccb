"""`SearchIndex`: unit vectors with ids and optional texts, searched by cosine similarity, saved to a folder.

An index saves to a folder holding `index.safetensors` (vectors, scales) and `index.json` (ids, texts,
settings); nothing is ever unpickled.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model2vec.format import ModelFormatError, atomic_replace_dir, read_json, read_tensors, save_file
from model2vec.search.backends import BACKENDS, SearchBackend
from model2vec.search.maths import DEFAULT_MEMORY_BUDGET, DTYPES, normalize_rows, quantize_rows

if TYPE_CHECKING:
    from model2vec.model import StaticModel

Id = int | str
INDEX_TENSORS = "index.safetensors"
INDEX_JSON = "index.json"
FORMAT_VERSION = 1


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
