"""The saved-index folder: `index.safetensors` (vectors, scales) and `index.json` (settings, ids, texts, model).

Reading trusts nothing in the files: every field is checked for type and range, ids and texts against
each other and the vectors, and every stored row must be finite and of unit length (or all zero), so a
corrupt or hand-edited folder fails at load with a `ModelFormatError` naming the file, never later with
wrong scores. Backend files (the usearch graph, read by native code) are checked against SHA-256
digests saved in `index.json` before the backend opens them. Nothing is unpickled; the vectors are
memory-mapped copy-on-write.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model2vec.format import ModelFormatError, read_json, read_tensors, save_file
from model2vec.search.backends import BACKENDS
from model2vec.search.fingerprint import SHA256_HEX, ModelRecord
from model2vec.search.maths import DTYPES, first_bad_row

Id = int | str
INDEX_TENSORS = "index.safetensors"
INDEX_JSON = "index.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class IndexFiles:
    """Everything a saved index holds, validated (see `read_index`)."""

    dim: int | None
    dtype: str
    memory_budget: int
    backend: str
    backend_options: dict[str, Any]
    next_id: int
    ids: list[Id]
    texts: list[str | None]
    vectors: np.ndarray
    scales: np.ndarray | None
    model: ModelRecord | None
    checksums: dict[str, str]


def is_int(value: Any) -> bool:
    """Whether `value` is an int and not a bool (JSON true is not a number here)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def first_unencodable(values: Sequence[Any]) -> tuple[int, UnicodeEncodeError] | None:
    """Return (position, error) of the first string that UTF-8 cannot encode (a lone surrogate), or None.

    Such strings are valid Python but cannot be written to a UTF-8 file, so they are refused where they
    enter an index rather than when it is saved.
    """
    strings = [value for value in values if isinstance(value, str)]
    try:
        "".join(strings).encode("utf-8")  # one pass for the common case
        return None
    except UnicodeEncodeError:
        pass
    for position, value in enumerate(values):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                return position, error
    return None  # pragma: no cover - the joined string failed, so one part fails


def _field(settings: dict[str, Any], name: str, source: Path, valid: Callable[[Any], bool], expected: str) -> Any:
    if name not in settings:
        raise ModelFormatError(f"{source}: missing {name!r}.")
    value = settings[name]
    if not valid(value):
        raise ModelFormatError(f"{source}: {name!r} must be {expected}, got {value!r:.80}.")
    return value


def _read_settings(source: Path) -> tuple[dict[str, Any], list[Id], list[str | None]]:
    settings = read_json(source)
    if not isinstance(settings, dict):
        raise ModelFormatError(f"{source}: expected a JSON object of index settings, got {type(settings).__name__}.")
    version = _field(settings, "format_version", source, is_int, "an integer")
    if version != FORMAT_VERSION:
        raise ModelFormatError(f"{source}: unsupported index format {version!r} (this version reads {FORMAT_VERSION}).")
    ids = _field(settings, "ids", source, lambda v: isinstance(v, list), "a list")
    texts = _field(settings, "texts", source, lambda v: isinstance(v, list), "a list")
    for position, item in enumerate(ids):
        if not (is_int(item) or isinstance(item, str)):
            raise ModelFormatError(f"{source}: id {position} must be an int or a string, got {item!r:.80}.")
    if len(set(ids)) != len(ids):
        raise ModelFormatError(f"{source}: 'ids' repeat an id.")
    if len(texts) != len(ids):
        raise ModelFormatError(f"{source}: {len(ids)} ids but {len(texts)} texts.")
    for position, text in enumerate(texts):
        if text is not None and not isinstance(text, str):
            raise ModelFormatError(f"{source}: text {position} must be a string or null, got {text!r:.80}.")
    for name, values in (("id", ids), ("text", texts)):
        bad = first_unencodable(values)
        if bad is not None:
            raise ModelFormatError(f"{source}: {name} {bad[0]} is not valid UTF-8 text ({bad[1].reason}).")
    return settings, ids, texts


def read_index(folder: Path) -> IndexFiles:
    """Read and validate a saved index folder.

    :param folder: The folder written by `write_index`.
    :return: The validated contents; vectors memory-mapped.
    :raises FileNotFoundError: If `index.json` or `index.safetensors` is missing.
    :raises ModelFormatError: Naming the file, if anything is malformed, out of range or inconsistent: a
        setting of the wrong type, ids that repeat or are not int/str, texts not strings, `next_id` at or
        below an int id, a bad model record, vectors of the wrong shape or dtype, non-finite or non-unit
        rows, int8 scales that are negative or not finite.
    """
    source = folder / INDEX_JSON
    settings, ids, texts = _read_settings(source)
    dim = _field(settings, "dim", source, lambda v: v is None or (is_int(v) and v > 0), "a positive integer or null")
    dtype = _field(settings, "dtype", source, lambda v: v in DTYPES, f"one of {', '.join(DTYPES)}")
    budget = _field(settings, "memory_budget", source, lambda v: is_int(v) and v > 0, "a positive integer")
    backend = _field(settings, "backend", source, lambda v: isinstance(v, str) and v in BACKENDS, "a known backend")
    options = settings.get("backend_options", {})
    if not isinstance(options, dict):
        raise ModelFormatError(f"{source}: 'backend_options' must be an object, got {options!r:.80}.")
    # Automatic ids continue at next_id: at or below an existing int id, `add` would hand out a duplicate.
    least = max([0, *(int(item) + 1 for item in ids if is_int(item))])
    next_id = settings.get("next_id", least)
    if not is_int(next_id) or next_id < least:
        raise ModelFormatError(
            f"{source}: 'next_id' must be an integer >= {least} (above every int id), got {next_id!r}."
        )
    model = ModelRecord.from_json(settings["model"], source) if "model" in settings else None
    checksums = settings.get("checksums", {})
    if not isinstance(checksums, dict) or not all(
        _is_plain_file_name(name) and isinstance(digest, str) and SHA256_HEX.fullmatch(digest)
        for name, digest in checksums.items()
    ):
        raise ModelFormatError(
            f"{source}: 'checksums' must map file names inside the index folder to SHA-256 hex digests, "
            f"got {checksums!r:.120}."
        )
    if model is not None and dim is not None and model.fingerprint["dim"] != dim:
        raise ModelFormatError(f"{source}: the recorded model is {model.fingerprint['dim']}-d, the index {dim}-d.")

    tensors_path = folder / INDEX_TENSORS
    tensors = read_tensors(tensors_path)
    vectors, scales = tensors.get("vectors"), tensors.get("scales")
    n = len(ids)
    if vectors is None or vectors.shape != (n, dim or 0) or vectors.dtype != np.dtype(dtype):
        found = "none" if vectors is None else f"{vectors.dtype} {vectors.shape}"
        raise ModelFormatError(
            f"{tensors_path}: expected 'vectors' of {dtype} ({n}, {dim or 0}) for {source}, found {found}."
        )
    if (dtype == "int8") != (scales is not None):
        raise ModelFormatError(f"{tensors_path}: 'scales' must be present exactly when the dtype is int8.")
    if scales is not None:
        if scales.shape != (n,) or scales.dtype != np.float32:
            raise ModelFormatError(
                f"{tensors_path}: expected 'scales' of float32 ({n},), found {scales.dtype} {scales.shape}."
            )
        if not (np.isfinite(scales).all() and (scales >= 0).all()):
            raise ModelFormatError(f"{tensors_path}: every int8 row scale must be finite and >= 0.")
    bad = first_bad_row(vectors, scales)
    if bad is not None:
        raise ModelFormatError(f"{tensors_path}: row {bad} (id {ids[bad]!r}) is not a finite unit vector.")
    return IndexFiles(dim, dtype, budget, backend, options, next_id, ids, texts, vectors, scales, model, checksums)


def _is_plain_file_name(name: str) -> bool:
    """Whether `name` names a backend file directly inside the folder (no separator, not . or .., not ours)."""
    return (
        bool(name)
        and name not in (".", "..", INDEX_JSON, INDEX_TENSORS)
        and "/" not in name
        and os.sep not in name
        and (os.altsep is None or os.altsep not in name)
    )


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 4 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while piece := handle.read(4 * 2**20):
            digest.update(piece)
    return digest.hexdigest()


def backend_checksums(folder: Path) -> dict[str, str]:
    """Checksums of the backend's files in a staging folder: every file but the index's own and hidden ones.

    Backend files (the usearch graph) are parsed by native code that trusts them: a flipped byte can
    crash the process. Their checksums, saved in `index.json`, are verified before the backend reads
    them (`verify_checksums`), so a damaged file is refused instead.
    """
    return {
        path.name: file_sha256(path)
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.startswith(".") and path.name not in (INDEX_JSON, INDEX_TENSORS)
    }


def verify_checksums(folder: Path, checksums: dict[str, str]) -> None:
    """Check the backend files listed in `index.json` against their recorded SHA-256.

    :raises FileNotFoundError: If a listed file is missing.
    :raises ModelFormatError: If a file's content differs from what was saved.
    """
    for name, expected in checksums.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"Missing file {path} (listed in {folder / INDEX_JSON}).")
        if file_sha256(path) != expected:
            raise ModelFormatError(
                f"{path}: its content differs from the checksum recorded in {folder / INDEX_JSON} (a damaged or "
                "replaced file); restore it or rebuild the index."
            )


def write_index(folder: Path, files: IndexFiles) -> None:
    """Write `index.safetensors` and `index.json` into `folder`; both get the umask's permissions (0644 by default)."""
    tensors = {"vectors": np.ascontiguousarray(files.vectors)}
    if files.scales is not None:
        tensors["scales"] = np.ascontiguousarray(files.scales)
    save_file(tensors, str(folder / INDEX_TENSORS))
    settings: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "dim": files.dim,
        "dtype": files.dtype,
        "memory_budget": files.memory_budget,
        "backend": files.backend,
        "backend_options": files.backend_options,
        "next_id": files.next_id,
        "ids": files.ids,
        "texts": files.texts,
    }
    if files.model is not None:
        settings["model"] = files.model.to_json()
    settings["checksums"] = files.checksums
    (folder / INDEX_JSON).write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
    # safetensors creates its file 0600 whatever the umask; give it the mode a new file gets here
    # (index.json's), so the index is as readable as anything else the user saves.
    os.chmod(folder / INDEX_TENSORS, stat.S_IMODE((folder / INDEX_JSON).stat().st_mode))
