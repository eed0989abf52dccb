"""`SearchIndex`: unit vectors with ids and optional texts, searched by cosine similarity, saved to a folder.

An index saves to a folder holding `index.safetensors` (vectors, scales) and `index.json` (ids, texts,
settings, the model it was built with); nothing is ever unpickled. See `storage` for the format.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model2vec.format import ModelFormatError, atomic_replace_dir, recover_interrupted_save, save_target, staging_dir
from model2vec.search.backends import BACKENDS, SearchBackend
from model2vec.search.fingerprint import ModelRecord, model_fingerprint, recorded_path
from model2vec.search.maths import DEFAULT_MEMORY_BUDGET, DTYPES, normalize_rows, quantize_rows
from model2vec.search.storage import (
    FORMAT_VERSION,
    INDEX_JSON,
    INDEX_TENSORS,
    Id,
    IndexFiles,
    backend_checksums,
    first_unencodable,
    is_int,
    read_index,
    verify_checksums,
    write_index,
)

if TYPE_CHECKING:
    from model2vec.model import StaticModel

__all__ = ["FORMAT_VERSION", "INDEX_JSON", "INDEX_TENSORS", "Id", "SearchIndex"]


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
    :param model_path: Where `model` can be loaded from (a folder or hub id). Saved with the index (an
        existing folder as an absolute path), so that `load` without a model can embed text queries.
        The model's fingerprint is saved whenever the index has a model, path or not.
    :raises ValueError: On an unknown dtype or backend, a non-positive budget, a `dim` that is not a
        positive integer or disagrees with the model, or backend options the backend does not accept.
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
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}.")
        if backend not in BACKENDS:
            raise ValueError(f"Unknown backend {backend!r}; available: {', '.join(BACKENDS)}.")
        if not is_int(memory_budget) or memory_budget <= 0:
            raise ValueError(f"memory_budget must be a positive integer, got {memory_budget!r}.")
        if model is not None:
            model_dim = int(model.dim)
            if dim is not None and dim != model_dim:
                raise ValueError(f"dim={dim} does not match the model's dimension {model_dim}.")
            dim = model_dim
        if dim is not None and (not is_int(dim) or dim <= 0):
            raise ValueError(f"dim must be a positive integer, got {dim!r}.")
        self.dim = None if dim is None else int(dim)
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
        self._model_path = recorded_path(model_path)
        # The record read by `load` (None for a new index or an index saved before models were recorded).
        self._record: ModelRecord | None = None
        self._source = "this index"  # how errors name the index: its folder once loaded
        # (model, fingerprint) of the last model fingerprinted, so saving twice hashes the table once.
        self._fingerprinted: tuple[Any, dict[str, Any]] | None = None

    @classmethod
    def from_model(cls, model: StaticModel, texts: Iterable[str] | None = None, **kwargs: Any) -> SearchIndex:
        """Build an index that embeds texts with `model`, optionally filled with `texts` (ids 0..n-1).

        :param model: The embedding model.
        :param texts: Texts to add now.
        :param kwargs: Passed to `SearchIndex` (dtype, memory_budget, backend, backend_options, model_path).
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
    def model_path(self) -> str | None:
        """Where the index's model is loaded from when none is given: the recorded folder or hub id, or None."""
        if self._model_path is not None:
            return self._model_path
        return self._record.path if self._record is not None else None

    def _fingerprint(self, model: StaticModel) -> dict[str, Any]:
        arrays = (model, model.embedding, model.weights, model.token_mapping)
        cached = self._fingerprinted
        if cached is None or not all(a is b for a, b in zip(cached[0], arrays, strict=True)):
            cached = self._fingerprinted = (arrays, model_fingerprint(model))
        return cached[1]

    def _use_model(self, model: StaticModel) -> None:
        """Attach `model` after checking it against the recorded fingerprint (when there is one)."""
        if self.dim is not None and int(model.dim) != self.dim:
            raise ValueError(
                f"The model's dimension {model.dim} does not match the index's {self.dim} ({self._source})."
            )
        if self._record is not None:
            self._record.check(model, self._source, self._fingerprint(model))
        self.model = model

    def _load_recorded_model(self, path: str) -> StaticModel:
        """Load the model recorded at `path` (first text query without a model), checking its fingerprint."""
        from model2vec.model import StaticModel

        try:
            model = StaticModel.from_pretrained(path)
        except OSError as error:
            raise FileNotFoundError(
                f"{self._source}: cannot load its recorded model {path} ({error}); pass the model the index was "
                "built with: SearchIndex.load(..., model=...) or --model."
            ) from error
        # Two threads may both get here; each loads and checks the same model, and either result is fine.
        self._use_model(model)
        return model

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
        model, path = self.model, self.model_path
        if model is None:
            if path is None:
                raise ValueError(
                    f"{what} by text needs a model: use SearchIndex(model=...), SearchIndex.from_model or "
                    "SearchIndex.load(..., model=...)."
                )
            model = self._load_recorded_model(path)
        return np.asarray(model.encode(texts), dtype=np.float32).reshape(len(texts), -1)

    @staticmethod
    def _texts_of(items: Any) -> tuple[list[str] | None, bool]:
        """Return the texts in `items` (None when they are vectors) and whether one item was given."""
        if isinstance(items, str):
            return [items], True
        if isinstance(items, (list, tuple)) and items and all(isinstance(item, str) for item in items):
            return list(items), False
        return None, False

    def _as_matrix(self, items: Any, what: str) -> tuple[np.ndarray, list[str] | None, bool]:
        """Turn texts or vectors into a 2-D float matrix; also return texts and whether input was single.

        Vectors stay float64 when given as float64 (they may exceed float32's range; `normalize_rows`
        scales them first), otherwise float32.
        """
        texts, single = self._texts_of(items)
        if texts is not None:
            return self._embed(texts, what), texts, single
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
        if array.shape[1] == 0 and len(array):
            raise ValueError(f"{what} expects vectors of at least one dimension, got 0-d vectors.")
        array = array.astype(np.float64 if array.dtype == np.float64 else np.float32)
        if not np.isfinite(array).all():
            raise ValueError(f"{what}: vectors contain NaN or infinity.")
        return array, None, single

    def add(self, items: Any, ids: Sequence[Id] | None = None) -> list[Id]:
        """Add vectors (array (n, dim) or one vector) or texts (str or list of str, embedded by the model).

        Vectors are normalised to unit length (all-zero vectors stay zero and score 0 against anything).

        :param items: Vectors or texts.
        :param ids: One int or str id per item; None assigns increasing ints not used so far.
        :return: The ids of the added items.
        :raises ValueError: On a dimension mismatch, 0-d vectors, non-finite values, a wrong number of ids,
            ids that repeat or are already stored, or texts or str ids that cannot be saved as UTF-8 (lone
            surrogates such as U+D800; the message gives the position); nothing is added then.
        :raises TypeError: On ids that are not int or str.
        """
        for name, values in (("text", self._texts_of(items)[0] or []), ("id", list(ids) if ids is not None else [])):
            bad = first_unencodable(values)
            if bad is not None:
                raise ValueError(
                    f"add: {name} {bad[0]} cannot be saved as UTF-8 ({bad[1].reason} at character {bad[1].start})."
                )
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

        The model itself is not saved; its fingerprint is (and its path, when known), so that `load`
        can find it and refuse another. The folder and files get the umask's permissions (0755/0644 by
        default). A failed save leaves the previous folder, if any, in place; what a killed save left
        behind is repaired by the next `save` or `load` (`model2vec.format.recover_interrupted_save`).

        :raises NotADirectoryError: If `path` is a file.
        :raises ValueError: If `path` is the filesystem root.
        """
        target = save_target(path)
        record = self._record
        if self.model is not None:
            record = ModelRecord(self.model_path, self._fingerprint(self.model))
        target.parent.mkdir(parents=True, exist_ok=True)
        recover_interrupted_save(target)
        with staging_dir(target) as staging:
            # The backend writes first, so that index.json can hold its files' checksums.
            self._backend.save(staging)
            files = IndexFiles(
                self.dim, self.dtype, self.memory_budget, self.backend, self.backend_options, self._next_id,
                self._ids, self._texts, self._vectors, self._scales, record, backend_checksums(staging),
            )  # fmt: skip
            write_index(staging, files)
            atomic_replace_dir(staging, target)

    @classmethod
    def load(
        cls, path: str | Path, model: StaticModel | None = None, backend_options: Mapping[str, Any] | None = None
    ) -> SearchIndex:
        """Load an index written by `save`; vectors are memory-mapped (read-only, copied on change).

        Every file is validated first (see `model2vec.search.storage.read_index`), which reads the
        vectors once; backend files (index.usearch) must match the checksums saved with the index.

        :param path: The index folder.
        :param model: Model for text queries. When the index records its model's fingerprint, `model`
            must match it; without `model`, the first text query loads the recorded model (a local
            folder or hub id) and checks it the same way. An index saved without a record (by an older
            version, or from vectors only) needs `model` for text queries, as before.
        :param backend_options: Options overriding the saved ones (for usearch: expansion_search and
            threads take effect; connectivity is the saved graph's).
        :raises FileNotFoundError: If a file is missing (including the backend's, e.g. index.usearch).
        :raises ModelFormatError: If the files are corrupt or disagree with each other (names the file).
        :raises ValueError: If `model` is not the recorded model, or its dimension differs from the index's,
            or `backend_options` are invalid.
        :raises ImportError: If the saved backend's package is not installed.
        """
        folder = Path(path)
        recover_interrupted_save(folder)
        files = read_index(folder)
        try:
            # The saved options alone first, so that a bad one is reported as a fault of the file.
            index = cls(
                dim=files.dim, dtype=files.dtype, memory_budget=files.memory_budget,
                backend=files.backend, backend_options=files.backend_options,
            )  # fmt: skip
        except ValueError as error:
            raise ModelFormatError(f"{folder / INDEX_JSON}: invalid settings ({error})") from error
        if backend_options:
            index = cls(
                dim=files.dim, dtype=files.dtype, memory_budget=files.memory_budget,
                backend=files.backend, backend_options={**files.backend_options, **backend_options},
            )  # fmt: skip
        index._source = str(folder)
        index._record = files.model
        index._vectors = files.vectors
        index._scales = files.scales
        index._ids = files.ids
        index._texts = files.texts
        index._positions = {item: i for i, item in enumerate(index._ids)}
        index._next_id = files.next_id
        if model is not None:
            index._use_model(model)
        verify_checksums(folder, files.checksums)
        index._backend.load(folder, len(files.ids))
        return index
