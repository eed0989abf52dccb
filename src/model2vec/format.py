"""The on-disk model format: folder layouts, safetensors tensors, config, modules.json and model card.

A model folder as written by the Model2Vec ecosystem holds a token table (`model.safetensors`), a
`tokenizer.json`, a `config.json`, a sentence-transformers `modules.json` and a `README.md` model card.
Three layouts are in use; they are described as data (`LAYOUTS`) so that detection is one loop.

Loading never unpickles anything: tensors come from safetensors, configs from JSON, model-card front
matter from a tiny YAML subset parser (see `parse_front_matter`). Every file is treated as untrusted:
safetensors headers are validated as the format specifies, tables must hold finite numbers, JSON
must parse and have the documented types, and only the front of a model card is read. Whatever is
wrong, the error is a `ModelFormatError` naming the file.

Saving writes a staging folder next to the destination and swaps it in (see `save_folder`); a save
killed half-way is repaired by the next load or save of that folder (see `recover_interrupted_save`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from model2vec.tokenization.unigram import LeanUnigram

ST_STATIC_EMBEDDING = "sentence_transformers.models.StaticEmbedding"
ST_NORMALIZE = "sentence_transformers.models.Normalize"


class ModelFormatError(ValueError):
    """A model folder or one of its files is missing, corrupt or inconsistent.

    The message always names the offending path and what is wrong with it.
    """


@dataclass(frozen=True)
class FolderLayout:
    """One way a static model is laid out in a folder.

    :param name: Short name of the layout.
    :param marker: File whose presence identifies the layout (relative to the folder).
    :param subfolder: Folder (relative) that holds the weights and tokenizer, "" for the root.
    :param embedding_key: Name of the embedding tensor in `model.safetensors`.
    """

    name: str
    marker: str
    subfolder: str
    embedding_key: str


# Order matters: the first layout whose marker exists wins. A model2vec folder also carries a
# modules.json, so the sentence-transformers layouts are only tried when there is no config.json
# of model2vec type next to the weights.
LAYOUTS: tuple[FolderLayout, ...] = (
    FolderLayout("model2vec", "config.json", "", "embeddings"),
    FolderLayout("sentence-transformers", "config_sentence_transformers.json", "", "embedding.weight"),
    FolderLayout(
        "sentence-transformers-module", "0_StaticEmbedding/tokenizer.json", "0_StaticEmbedding", "embedding.weight"
    ),
)

# Table dtypes a `StaticModel` pools (see `model2vec.quantization.DType`).
TABLE_DTYPES = tuple(np.dtype(name) for name in ("float16", "float32", "float64", "int8"))
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "config.json"
MODULES_FILE = "modules.json"
README_FILE = "README.md"


@dataclass
class LoadedFolder:
    """Everything read from a model folder, before it becomes a `StaticModel`.

    :param embeddings: The token (or cluster) table, in its stored dtype.
    :param tokenizer: The tokenizer as stored (padding/truncation untouched); a `LeanUnigram` for a large
        Unigram vocabulary (see `read_model_tokenizer`).
    :param config: The parsed `config.json` (empty for sentence-transformers folders without one).
    :param weights: Optional per-token weights (float).
    :param mapping: Optional token-id -> row mapping (int).
    :param normalize_module: Whether `modules.json` lists a Normalize module.
    :param metadata: Model-card front matter (may be empty).
    :param layout: The detected layout.
    :param tokenizer_path: The `tokenizer.json` the tokenizer came from (for error messages).
    """

    embeddings: np.ndarray
    tokenizer: Tokenizer | LeanUnigram
    config: dict[str, Any]
    weights: np.ndarray | None
    mapping: np.ndarray | None
    normalize_module: bool
    metadata: dict[str, Any]
    layout: FolderLayout
    tokenizer_path: Path | None = None


def detect_layout(folder: Path) -> FolderLayout:
    """Return the layout of a local model folder.

    :param folder: The folder to inspect.
    :return: The first matching layout in `LAYOUTS`.
    :raises FileNotFoundError: If the folder does not exist.
    :raises NotADirectoryError: If the path is a file.
    :raises ModelFormatError: If no known layout matches.
    """
    if not folder.exists():
        raise FileNotFoundError(f"Model folder {folder} does not exist.")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file; expected a model folder containing {WEIGHTS_FILE}.")
    for layout in LAYOUTS:
        if (folder / layout.marker).is_file() and (folder / layout.subfolder / WEIGHTS_FILE).is_file():
            return layout
    present = sorted(p.name for p in folder.iterdir())
    raise ModelFormatError(
        f"{folder} is not a static model folder: expected {WEIGHTS_FILE} with {CONFIG_FILE} (model2vec), "
        f"config_sentence_transformers.json (sentence-transformers) or 0_StaticEmbedding/; found {present}."
    )


# Tensor names only transformer checkpoints have (BERT/RoBERTa/MPNet/XLM-R, GPT-style, T5-style layers).
_TRANSFORMER_TENSOR = re.compile(
    r"(^|\.)(encoder|decoder)\.(layer|block)s?\.\d|(^|\.)(layers|h)\.\d+\.|word_embeddings"
)

# safetensors dtype names -> numpy dtypes (little-endian, as the format specifies).
_SAFETENSORS_DTYPES = {
    "F16": "<f2", "F32": "<f4", "F64": "<f8", "I8": "i1", "U8": "u1", "I16": "<i2",
    "I32": "<i4", "I64": "<i8", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "?",
}  # fmt: skip
# The safetensors reference implementation refuses headers above 100 MB; real ones are kilobytes.
MAX_HEADER_BYTES = 100_000_000
# Tables are checked for NaN/inf by reading the file in chunks of this size (see `read_tensors`).
FINITE_CHECK_CHUNK_BYTES = 1 << 20
_TENSOR_FIELDS = ("dtype", "shape", "data_offsets")


def strict_bool(value: object, name: str) -> bool:
    """Return `value` as a bool if it is one (Python or numpy bool), else raise.

    Truthiness is never used: "false", "no", 0 and None are all refused, because `bool("false")` is
    True and a typo must not silently flip a setting.

    :param value: The value given for a boolean setting or argument.
    :param name: How to name it in the error, e.g. "normalize".
    :return: The bool.
    :raises TypeError: If `value` is not a bool.
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")


def _strict_json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` that refuses duplicate keys (the safetensors format disallows them)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    """`parse_constant` hook: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def _json_int(value: object) -> bool:
    """Tell whether a decoded JSON value is an integer (bool is a subclass of int in Python: excluded)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class _TensorEntry:
    """One validated tensor of a safetensors header; offsets are relative to the data buffer."""

    name: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    begin: int
    end: int


def _parse_safetensors_header(path: Path, raw: bytes, buffer_size: int) -> list[_TensorEntry]:
    """Validate a safetensors header as the format specifies and return its tensors.

    The header is a UTF-8 JSON object (starting with `{`, optionally padded with spaces) without
    duplicate keys; `__metadata__`, if present, maps strings to strings; every other key names a
    tensor `{"dtype", "shape", "data_offsets": [begin, end]}` with integer offsets, non-negative
    integer dimensions and `end - begin` equal to the product of the shape times the dtype size.
    Sorted by offset the tensors tile the data buffer exactly: no overlap (two names for the same
    bytes), no hole and no trailing bytes (the format forbids both, to rule out polyglot files).

    :raises ModelFormatError: Naming `path` and the first problem found.
    """

    def bad(problem: str) -> ModelFormatError:
        return ModelFormatError(f"Cannot read {path}: {problem}.")

    if not raw.startswith(b"{"):
        raise bad("the safetensors header is not a JSON object (it must start with '{')")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_strict_json_object, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise bad(f"corrupt safetensors header ({_short(error)})") from error
    if not isinstance(header, dict):
        raise bad("the safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad("__metadata__ must map strings to strings")
    entries: list[_TensorEntry] = []
    for name, info in header.items():
        if not isinstance(info, dict) or any(field not in info for field in _TENSOR_FIELDS):
            raise bad(f"tensor '{name}' must be an object with {', '.join(_TENSOR_FIELDS)}")
        dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype_name, str) or dtype_name not in _SAFETENSORS_DTYPES:
            raise bad(f"tensor '{name}' has an unsupported dtype {dtype_name!r}")
        if not isinstance(shape, list) or not all(_json_int(d) and d >= 0 for d in shape):
            raise bad(f"tensor '{name}' has a bad shape {shape!r} (expected a list of non-negative integers)")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_json_int(o) for o in offsets)):
            raise bad(f"tensor '{name}' has bad data_offsets {offsets!r} (expected two integers [begin, end])")
        begin, end = offsets
        if not 0 <= begin <= end:
            raise bad(f"tensor '{name}' has bad data_offsets {offsets!r} (need 0 <= begin <= end)")
        dtype = np.dtype(_SAFETENSORS_DTYPES[dtype_name])
        count = 1
        for dimension in shape:  # exact (Python int) product: no overflow for absurd shapes
            count *= dimension
        if count * dtype.itemsize != end - begin:
            raise bad(
                f"tensor '{name}' has shape {shape} of {dtype_name} ({count * dtype.itemsize} bytes) but "
                f"data_offsets {offsets} span {end - begin} bytes"
            )
        if end > buffer_size:
            raise bad(f"tensor '{name}' ends at byte {end} of a {buffer_size}-byte data buffer (truncated file)")
        entries.append(_TensorEntry(name, dtype, tuple(shape), begin, end))
    covered = 0
    for entry in sorted(entries, key=lambda e: (e.begin, e.end)):
        if entry.begin < covered:
            raise bad(f"tensor '{entry.name}' overlaps another tensor (bytes {entry.begin}-{covered})")
        if entry.begin > covered:
            raise bad(f"the data buffer has a hole (bytes {covered}-{entry.begin} belong to no tensor)")
        covered = entry.end
    if covered != buffer_size:
        raise bad(f"the tensors do not cover the data buffer ({buffer_size - covered} trailing bytes)")
    return entries


def _short(error: BaseException) -> str:
    """Return an exception's message cut to a readable length (JSON errors can quote huge inputs)."""
    text = str(error) or type(error).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def _check_finite(path: Path, handle: Any, entry: _TensorEntry, offset: int, chunk_bytes: int) -> None:
    """Raise if a float tensor holds NaN or infinity, reading it from the file in bounded chunks.

    The file is read rather than the mapping so that the check leaves no resident pages behind (the
    mapping stays untouched until encode uses it) and memory stays at one chunk for any table size.
    """
    if entry.dtype.kind != "f" or entry.end == entry.begin:
        return
    itemsize = entry.dtype.itemsize
    step = max(itemsize, chunk_bytes - chunk_bytes % itemsize)
    buffer = bytearray(min(step, entry.end - entry.begin))
    view = memoryview(buffer)
    # float16 arithmetic is slow in numpy: its bits are checked instead (exponent all ones = inf/NaN).
    scratch = np.empty(len(buffer) // 2, dtype=np.uint16) if itemsize == 2 else None
    handle.seek(offset)
    remaining = entry.end - entry.begin
    while remaining:
        size = min(step, remaining)
        if handle.readinto(view[:size]) != size:
            raise ModelFormatError(f"Cannot read {path}: tensor '{entry.name}' is truncated.")
        if scratch is not None:
            bits = np.frombuffer(buffer, dtype="<u2", count=size // 2)
            finite = bool(np.bitwise_and(bits, 0x7FFF, out=scratch[: size // 2]).max() < 0x7C00)
        else:
            # min and max propagate NaN and are the fastest full reductions.
            values = np.frombuffer(buffer, dtype=entry.dtype, count=size // itemsize)
            finite = bool(np.isfinite(values.min()) and np.isfinite(values.max()))
        if not finite:
            raise ModelFormatError(
                f"Cannot read {path}: tensor '{entry.name}' holds NaN or infinite values (a broken export or "
                f"training run); refusing it, since every text containing such a token would embed as NaN."
            )
        remaining -= size


def read_tensors(
    path: Path, *, check_finite: bool = True, chunk_bytes: int = FINITE_CHECK_CHUNK_BYTES
) -> dict[str, np.ndarray]:
    """Memory-map all tensors of a safetensors file as numpy arrays, validating the file first.

    Tensors are mapped copy-on-write: loading costs no copy, several processes share one copy in the
    page cache, and writing to an array changes memory, never the file. The header is validated as
    the safetensors format specifies (see `_parse_safetensors_header`); a tensor whose data is not
    aligned to its element size is copied instead of mapped.

    :param path: The `.safetensors` file.
    :param check_finite: Refuse float tensors holding NaN or infinity. This reads every float tensor
        once, `chunk_bytes` at a time, from the file (not the mapping): about 10 ms per 30 MB table
        when the file is in the page cache.
    :param chunk_bytes: Bytes read per step of the finiteness check.
    :return: Tensor name -> array.
    :raises FileNotFoundError: If the file is missing.
    :raises ModelFormatError: If the file is truncated, corrupt, holds an unsupported dtype, or a float
        tensor holds NaN or infinity.
    """
    if not path.is_file():
        raise FileNotFoundError(f"Missing weights file {path}.")
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ModelFormatError(f"Cannot read {path}: truncated safetensors file ({size} bytes).")
        header_size = int.from_bytes(prefix, "little")
        if header_size > MAX_HEADER_BYTES:
            raise ModelFormatError(
                f"Cannot read {path}: the safetensors header claims {header_size} bytes; more than "
                f"{MAX_HEADER_BYTES} is refused (corrupt file)."
            )
        if header_size > size - 8:
            raise ModelFormatError(f"Cannot read {path}: corrupt or truncated safetensors header.")
        raw = handle.read(header_size)
        if len(raw) != header_size:
            raise ModelFormatError(f"Cannot read {path}: truncated safetensors header.")
        data_start = 8 + header_size
        entries = _parse_safetensors_header(path, raw, size - data_start)
        if check_finite:
            for entry in entries:
                _check_finite(path, handle, entry, data_start + entry.begin, chunk_bytes)
    tensors: dict[str, np.ndarray] = {}
    for entry in entries:
        if entry.end == entry.begin:
            try:
                tensors[entry.name] = np.zeros(entry.shape, dtype=entry.dtype)
            except (ValueError, OverflowError, MemoryError) as error:  # e.g. shape (0, 2**70)
                raise ModelFormatError(f"Cannot read {path}: tensor '{entry.name}' has an absurd shape.") from error
            continue
        # A plain ndarray view (the memmap stays alive as its base) behaves like any other array.
        # Tables are handed to other libraries without a copy (sentence-transformers wraps them with
        # torch.as_tensor, which ignores numpy's read-only flag: an optimiser step on a read-only
        # mapping crashes the process), so they are mapped copy-on-write: writable in memory, and
        # the file never changes.
        offset = data_start + entry.begin
        mapped = np.memmap(path, dtype=entry.dtype, mode="c", offset=offset, shape=entry.shape)
        # Writers pad the header so data is aligned; compiled code must never see a misaligned table.
        tensors[entry.name] = np.asarray(mapped) if offset % entry.dtype.itemsize == 0 else np.array(mapped)
    return tensors


def read_json(path: Path, max_bytes: int | None = None) -> Any:
    """Read a JSON file, turning every decoding problem into a `ModelFormatError` naming the file.

    Invalid UTF-8, invalid JSON, nesting deeper than Python's recursion limit and integers with more
    digits than Python converts are all refused the same way.

    :param path: The JSON file.
    :param max_bytes: Refuse files larger than this (None: no limit).
    :return: The decoded value (its types are for the caller to check).
    :raises FileNotFoundError: If the file is missing.
    :raises ModelFormatError: If the file is too large or not valid JSON.
    """
    if not path.is_file():
        raise FileNotFoundError(f"Missing file {path}.")
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise ModelFormatError(f"{path} is larger than {max_bytes} bytes; refusing to read it.")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelFormatError(f"{path} is not valid JSON: {_short(error)}.") from error


def parse_json_line(line: str, where: str) -> Any:
    """Decode one line of a JSONL file, turning every decoding problem into a `ValueError` naming it.

    Like `read_json`, nesting deeper than Python's recursion limit and over-long integers are refused,
    not raised as `RecursionError`.

    :param line: The line.
    :param where: How to name it in the error, e.g. "data.jsonl:12".
    :return: The decoded value (its types are for the caller to check).
    :raises ValueError: If the line is not valid JSON.
    """
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as error:
        detail = error.msg if isinstance(error, json.JSONDecodeError) else _short(error)
        raise ValueError(f"{where}: invalid JSON ({detail}).") from error


def read_tokenizer(path: Path) -> Tokenizer:
    """Load a `tokenizers` tokenizer from a `tokenizer.json` file.

    :param path: The file.
    :return: The tokenizer, unmodified.
    :raises FileNotFoundError: If the file is missing.
    :raises ModelFormatError: If the file cannot be parsed.
    """
    if not path.is_file():
        raise FileNotFoundError(f"Missing tokenizer file {path}.")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception on bad JSON.
        raise ModelFormatError(f"Cannot load tokenizer {path}: {_short(error)}.") from error


def read_model_tokenizer(path: Path) -> Tokenizer | LeanUnigram:
    """Load a model's `tokenizer.json`: lean for a large Unigram vocabulary, else as `read_tokenizer`.

    A Unigram model of XLM-R's size costs about 1 KB per piece in `tokenizers`; `LeanUnigram` encodes
    the same ids in a few MB and builds the Rust tokenizer only when asked (see
    `model2vec.tokenization.unigram`; `MODEL2VEC_LEAN_UNIGRAM=0` turns it off).

    :param path: The file.
    :return: The lean tokenizer, or the `tokenizers` one, unmodified.
    :raises FileNotFoundError: If the file is missing.
    :raises ModelFormatError: If the file cannot be parsed.
    """
    if not path.is_file():
        raise FileNotFoundError(f"Missing tokenizer file {path}.")
    lean = LeanUnigram.from_json(path.read_bytes())
    return lean if lean is not None else read_tokenizer(path)


def normalize_in_modules(folder: Path) -> bool:
    """Tell whether the folder's `modules.json` lists a sentence-transformers Normalize module.

    :param folder: The model folder.
    :return: True if a Normalize module is listed; False when there is no `modules.json`.
    :raises ModelFormatError: If `modules.json` exists but is not a list of objects with a string
        `type` (when present).
    """
    path = folder / MODULES_FILE
    if not path.is_file():
        return False
    modules = read_json(path)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise ModelFormatError(f"{path} must hold a JSON list of module objects.")
    types = [m.get("type", "") for m in modules]
    if not all(isinstance(t, str) for t in types):
        raise ModelFormatError(f"{path}: every module's 'type' must be a string.")
    return any(t.endswith("Normalize") for t in types)


# Types of the config.json fields that loading reads (null always means "not set"). Other fields are
# kept as they are and never interpreted.
_CONFIG_FIELDS: dict[str, tuple[type, ...]] = {
    "normalize": (bool,),
    "base_model": (str,),
    "tokenizer_name": (str,),
    "max_length": (int,),
}


def check_config(config: object, path: Path) -> dict[str, Any]:
    """Validate a parsed `config.json`: a JSON object whose known fields have their types.

    Booleans must be JSON `true`/`false` (never "false" or 0, which Python would read as truthy or
    falsy), names strings, `max_length` a positive integer; null means unset.

    :param config: The decoded JSON.
    :param path: The file, for error messages.
    :return: The config.
    :raises ModelFormatError: If it is not an object or a known field has the wrong type.
    """
    if not isinstance(config, dict):
        raise ModelFormatError(f"{path} must hold a JSON object.")
    for key, types in _CONFIG_FIELDS.items():
        value = config.get(key)
        if value is None:
            continue
        if (bool not in types and isinstance(value, bool)) or not isinstance(value, types):
            expected = "true or false (a JSON boolean)" if bool in types else " or ".join(t.__name__ for t in types)
            raise ModelFormatError(f"{path}: '{key}' must be {expected}, got {value!r}.")
        if key == "max_length" and isinstance(value, int) and value < 1:
            raise ModelFormatError(f"{path}: 'max_length' must be a positive integer, got {value}.")
    return config


def parse_front_matter(text: str) -> dict[str, Any]:
    """Parse the YAML front matter of a model card.

    Only the subset that model cards use is supported: `key: scalar` lines and `key:` followed by
    `- item` lines. Anything else is kept as its raw string. This avoids a YAML dependency and can never
    construct arbitrary objects.

    :param text: The whole README text.
    :return: The front-matter mapping; empty if there is none.
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    result: dict[str, Any] = {}
    current: str | None = None
    for line in lines[1:]:
        if line.strip() == "---":
            break
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("- ") and current is not None:
            existing = result.get(current)
            items = existing if isinstance(existing, list) else []
            items.append(_yaml_scalar(stripped[2:]))
            result[current] = items
            continue
        key, sep, value = line.partition(":")
        if not sep or line.startswith((" ", "\t")):
            continue
        current = key.strip()
        result[current] = _yaml_scalar(value.strip()) if value.strip() else None
    return result


# Front matter sits at the top of a model card; a card's body can be anything (even hundreds of MB).
FRONT_MATTER_BYTES = 64 << 10


def read_front_matter(path: Path, limit: int = FRONT_MATTER_BYTES) -> dict[str, Any]:
    """Parse the front matter of a model card, reading at most `limit` bytes of it.

    The card body is never read, so a huge README costs nothing. A line cut by the limit is dropped
    rather than parsed half; invalid UTF-8 is replaced.

    :param path: The README file.
    :param limit: Bytes to read from the start of the file.
    :return: The front-matter mapping (see `parse_front_matter`); empty if there is none.
    """
    with path.open("rb") as handle:
        head = handle.read(limit)
    if len(head) == limit:
        head = head[: head.rfind(b"\n") + 1]
    return parse_front_matter(head.decode("utf-8", errors="replace"))


def _yaml_scalar(value: str) -> Any:
    """Convert a YAML scalar string to a Python value (strings, booleans, null, numbers)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    lowered = value.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered in {"null", "~"}:
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def load_folder(folder: Path | str) -> LoadedFolder:
    """Read a local model folder in any of the supported layouts.

    :param folder: The folder.
    :return: The raw parts of the model.
    :raises FileNotFoundError: If the folder or a required file is missing.
    :raises NotADirectoryError: If the path is a file.
    :raises ModelFormatError: If a file is corrupt, or shapes do not agree with each other.
    """
    folder = Path(folder)
    layout = detect_layout(folder)
    weights_dir = folder / layout.subfolder
    tensors = read_tensors(weights_dir / WEIGHTS_FILE)
    weights_path = weights_dir / WEIGHTS_FILE
    key = layout.embedding_key
    if key not in tensors:
        # Be lenient: either name is accepted in either layout.
        key = "embeddings" if "embeddings" in tensors else "embedding.weight"
    if key not in tensors:
        names = sorted(tensors)
        shown = ", ".join(repr(name) for name in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        if any(_TRANSFORMER_TENSOR.search(name) for name in names):
            raise ModelFormatError(
                f"{folder} holds a transformer ({len(names)} tensors such as {shown}), not a static model. "
                f"Distill a static model from it first: model2vec distill {folder} --out <folder> "
                "(or model2vec.distill.distill in Python)."
            )
        raise ModelFormatError(f"{weights_path} has no 'embeddings' or 'embedding.weight' tensor; found {shown}.")
    embeddings = tensors[key]
    if embeddings.ndim != 2 or embeddings.shape[1] == 0:
        raise ModelFormatError(
            f"{weights_path}: tensor '{key}' must be 2-D with at least one column, got shape {embeddings.shape}."
        )
    if embeddings.dtype not in TABLE_DTYPES:
        raise ModelFormatError(
            f"{weights_path}: tensor '{key}' has dtype {embeddings.dtype}; supported table dtypes are "
            f"{', '.join(str(t) for t in TABLE_DTYPES)}."
        )

    tokenizer = read_model_tokenizer(weights_dir / TOKENIZER_FILE)
    config: dict[str, Any] = {}
    if layout.name == "model2vec":
        config = check_config(read_json(folder / CONFIG_FILE), folder / CONFIG_FILE)

    weights = tensors.get("weights")
    mapping = tensors.get("mapping")
    vocab_size = tokenizer.get_vocab_size()
    if mapping is not None:
        mapping = np.asarray(mapping)
        if mapping.ndim != 1 or not np.issubdtype(mapping.dtype, np.integer):
            raise ModelFormatError(f"{weights_path}: 'mapping' must be a 1-D integer tensor, got {mapping.dtype}.")
        if len(mapping) != vocab_size:
            raise ModelFormatError(
                f"{weights_path}: 'mapping' has {len(mapping)} entries but the tokenizer has {vocab_size} tokens."
            )
        if len(mapping) and (mapping.min() < 0 or mapping.max() >= len(embeddings)):
            raise ModelFormatError(f"{weights_path}: 'mapping' points outside the {len(embeddings)} embedding rows.")
    elif len(embeddings) != vocab_size:
        raise ModelFormatError(
            f"{weights_path}: the embedding table has {len(embeddings)} rows but the tokenizer "
            f"({weights_dir / TOKENIZER_FILE}) has {vocab_size} tokens."
        )
    if weights is not None and (weights.ndim != 1 or len(weights) != vocab_size):
        raise ModelFormatError(
            f"{weights_path}: 'weights' has shape {weights.shape}; expected ({vocab_size},), one per token."
        )
    if weights is not None and bool(np.all(weights == 1)):
        weights = None  # written by `save_folder` for sentence-transformers; multiplying by one changes nothing

    metadata: dict[str, Any] = {}
    readme = folder / README_FILE
    if readme.is_file():
        metadata = read_front_matter(readme)

    return LoadedFolder(
        embeddings=embeddings,
        tokenizer=tokenizer,
        config=config,
        weights=weights,
        mapping=mapping,
        normalize_module=normalize_in_modules(folder),
        metadata=metadata,
        layout=layout,
        tokenizer_path=weights_dir / TOKENIZER_FILE,
    )


def modules_json(normalize: bool) -> list[dict[str, Any]]:
    """Build the sentence-transformers `modules.json` for a model2vec folder.

    :param normalize: Whether to append a Normalize module.
    :return: The list of module descriptions.
    """
    modules: list[dict[str, Any]] = [{"idx": 0, "name": "0", "path": ".", "type": ST_STATIC_EMBEDDING}]
    if normalize:
        modules.append({"idx": 1, "name": "1", "path": "1_Normalize", "type": ST_NORMALIZE})
    return modules


def _yaml_value(value: Any) -> str:
    """Render a scalar for the front matter, quoting strings that YAML would misread."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = str(value)
    if text == "" or text[0] in "-?:,[]{}#&*!|>'\"%@`" or ": " in text or text.lower() in {"true", "false", "null"}:
        return json.dumps(text, ensure_ascii=False)
    return text


def model_card(
    model_name: str,
    base_model: str | None,
    language: list[str] | None,
    license_name: str = "mit",
    extra_description: str = "",
) -> str:
    """Write a model card (README.md) with YAML front matter.

    :param model_name: Name shown in the card.
    :param base_model: The teacher model id, if known.
    :param language: Languages, if known.
    :param license_name: The license id.
    :param extra_description: An optional paragraph appended to the description.
    :return: The card text.
    """
    front: list[str] = ["---"]
    if base_model:
        front.append(f"base_model: {_yaml_value(base_model)}")
    if language:
        front.append("language:")
        front.extend(f"- {_yaml_value(lang)}" for lang in language)
    front.append("library_name: model2vec")
    front.append(f"license: {_yaml_value(license_name)}")
    front.append(f"model_name: {_yaml_value(model_name)}")
    front.append("tags:")
    front.extend(f"- {tag}" for tag in ("embeddings", "static-embeddings", "sentence-transformers", "model2vec"))
    front.append("---")
    source = f" distilled from `{base_model}`" if base_model else ""
    body = f"""
# {model_name}

A static embedding model{source}, made with [model2vec](https://github.com/model2vec/model2vec).
Each token has one precomputed vector; a text's embedding is the mean of its tokens' vectors, so
encoding needs no neural network and runs quickly on a CPU. {extra_description}

## Usage

```python
from model2vec import StaticModel

model = StaticModel.from_pretrained("{model_name}")
embeddings = model.encode(["It's dangerous to go alone!", "It's a secret to everybody."])
```

With sentence-transformers:

```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{model_name}")
embeddings = model.encode(["It's dangerous to go alone!"])
```
"""
    return "\n".join(front) + "\n" + body


def save_file(tensors: dict[str, np.ndarray], path: str) -> None:
    """Write tensors to a safetensors file (the writer is imported here: loading never needs it)."""
    from safetensors.numpy import save_file as write

    write(tensors, path)


# -- atomic saves and their recovery ------------------------------------------------------------
#
# A save writes `.<name>.tmp-<token>` next to the destination, holding an exclusive lock on the file
# `SAVING_LOCK` inside it for as long as the save runs. When everything is written (including the
# files carried over from the old folder), the empty file `COMPLETE_MARKER` is created, last. Then
# the old folder is renamed to `.<name>.old-<token>` and the staging folder to `<name>`. A process
# killed at any point leaves a state that `recover_interrupted_save` repairs: it only acts on names
# of this pattern whose lock nobody holds (the writer is dead), so a save in progress is never touched.

COMPLETE_MARKER = ".model2vec-complete"
SAVING_LOCK = ".model2vec-saving"
_OWN_FILES = (COMPLETE_MARKER, SAVING_LOCK)
# Staging folders written without a lock file (older versions, or a writer killed right after
# creating the folder) are only treated as abandoned once untouched for this long.
STALE_UNLOCKED_SECONDS = 3600.0


@contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """Create a staging folder for a new version of `target`, next to it, and hold it while in use.

    The folder is named `.<target name>.tmp-<random>` and created with the umask's permissions
    (`os.mkdir(..., 0o777)`, unlike `tempfile.mkdtemp`'s private 0700). A lock file inside it stays
    locked until the block exits, which tells `recover_interrupted_save` that the save is alive. On
    exit the folder is removed if it is still there (an error, or it was never swapped in).

    :param target: The folder the staging folder will replace (its parent must exist).
    :return: A context manager yielding the staging folder.
    """
    import shutil

    while True:
        staging = target.with_name(f".{target.name}.tmp-{os.urandom(6).hex()}")
        try:
            os.mkdir(staging, 0o777)
            break
        except FileExistsError:
            continue
    lock = None
    try:
        lock = _lock_file(staging / SAVING_LOCK, create=True)
        yield staging
    finally:
        try:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        finally:
            if lock is not None:
                os.close(lock)


def _lock_file(path: Path, create: bool = False) -> int | None:
    """Open `path` and take an exclusive lock on it without waiting.

    :param path: The lock file.
    :param create: Create the file (it must not exist yet); errors creating it are raised.
    :return: The open descriptor (closing it releases the lock), or None if another process holds the
        lock, the file does not exist, or locks are unavailable (no `fcntl`, e.g. on Windows: the file
        is then not kept open either, since Windows cannot rename a folder holding an open file).
    """
    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
    try:
        descriptor = os.open(path, flags, 0o666)
    except OSError:
        if create:
            raise
        return None
    try:
        import fcntl

        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (ImportError, OSError):
        # Held by another process, or no locking here (liveness then falls back to the folder's age).
        os.close(descriptor)
        return None
    return descriptor


def _token(staging: Path, target: Path) -> str:
    """Return the random part of a staging folder's name (the backup of the same save shares it)."""
    prefix = f".{target.name}.tmp-"
    if staging.name.startswith(prefix) and re.fullmatch(r"\w+", staging.name[len(prefix) :], re.ASCII):
        return staging.name[len(prefix) :]
    return os.urandom(6).hex()


def _carry_over(entry: os.DirEntry[str], destination: Path) -> None:
    """Copy one entry of the old folder into the new one, keeping symbolic links as links.

    Links are never followed: a link to a file or folder elsewhere, a dangling link and a link loop
    are all recreated as the same link.
    """
    import shutil

    if entry.is_symlink():
        os.symlink(os.readlink(entry.path), destination)
    elif entry.is_dir(follow_symlinks=False):
        shutil.copytree(entry.path, destination, symlinks=True)
    elif entry.is_file(follow_symlinks=False):
        shutil.copy2(entry.path, destination, follow_symlinks=False)
    else:
        raise OSError(
            errno.EINVAL,
            f"Cannot keep {entry.path} in the new folder: it is not a file, folder or link (move it out first)",
        )


def atomic_replace_dir(staging: Path, target: Path) -> None:
    """Move a fully written staging folder into place of `target`.

    Entries already in `target` that the new folder does not have (a user's notes, another module,
    symbolic links, which stay links) are copied into the new folder first, so nothing foreign is
    lost; an existing target's permission bits are kept. Then `COMPLETE_MARKER` is written and the
    swap is two renames, so at every instant either the old or the new complete folder exists at
    `target` or at its backup name, and `recover_interrupted_save` can finish a killed swap. If the
    process's working folder is inside `target`, it is moved to the same path in the new folder.

    :param staging: The new folder, a sibling of `target` (see `staging_dir`).
    :param target: The destination.
    :raises OSError: If an entry of the old folder cannot be carried over or a rename fails (the old
        folder is then back in place).
    """
    import shutil

    token = _token(staging, target)
    if not os.path.lexists(target):
        _mark_complete(staging)
        os.replace(staging, target)
        _remove_own_files(target)
        return
    with os.scandir(target) as entries:
        for entry in entries:
            destination = staging / entry.name
            if entry.name not in _OWN_FILES and not os.path.lexists(destination):
                _carry_over(entry, destination)
    os.chmod(staging, stat.S_IMODE(target.stat().st_mode))
    _mark_complete(staging)
    try:
        cwd = os.getcwd()
    except OSError:  # already in a deleted folder
        cwd = None
    backup = target.with_name(f".{target.name}.old-{token}")
    os.replace(target, backup)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(backup, target)
        raise
    if cwd is not None and (cwd == str(target) or cwd.startswith(str(target) + os.sep)):
        # The process followed the old folder into its backup: bring it back to the same path.
        os.chdir(cwd if os.path.isdir(cwd) else target)
    shutil.rmtree(backup, ignore_errors=True)
    _remove_own_files(target)


def _mark_complete(folder: Path) -> None:
    """Create the marker that says every file of the folder is written (the last write of a save)."""
    os.close(os.open(folder / COMPLETE_MARKER, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666))


def _remove_own_files(folder: Path) -> None:
    """Remove the marker and lock files from a folder now in place (they only matter while saving)."""
    for name in _OWN_FILES:
        with suppress(FileNotFoundError):
            os.unlink(folder / name)


def recover_interrupted_save(target: Path | str) -> None:
    """Repair what a save of `target` killed half-way left behind, as the next load or save does.

    Only siblings named like our saves' (`.<name>.tmp-<token>` and `.<name>.old-<token>`) are looked
    at, and only those of a dead save: a staging folder whose lock is held (or, without a lock file,
    one touched in the last `STALE_UNLOCKED_SECONDS`) belongs to a save in progress and is left alone.
    For a dead save:

    - `target` missing (killed between the two renames, or during a first save): the new folder is
      moved into place if it is complete (`COMPLETE_MARKER` present), else the old folder if there is
      one; whatever is left of that save is removed.
    - `target` present: the staging folder (partial, or never swapped in) and the backup (the swap
      finished) are removed; the model at `target` is the one the last finished save wrote.

    Best effort: errors (a read-only folder, a race with another process) are ignored, and loading
    then reports the state it finds.

    :param target: The model folder (it need not exist).
    """
    target = Path(os.path.realpath(target))
    if not target.name:
        return
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(tmp|old)-(\w+)", re.ASCII)
    groups: dict[str, dict[str, Path]] = {}
    try:
        with os.scandir(target.parent) as entries:
            for entry in entries:
                match = pattern.fullmatch(entry.name)
                if match and entry.is_dir(follow_symlinks=False):
                    groups.setdefault(match[2], {})[match[1]] = Path(entry.path)
    except OSError:
        return
    # Newest first: if several dead saves could fill a missing target, the latest one wins.
    for group in sorted(groups.values(), key=_newest_mtime, reverse=True):
        try:
            _recover_group(target, group.get("tmp"), group.get("old"))
        except OSError:
            continue
    # A save killed after its swap leaves its marker and lock file in the folder.
    if os.path.lexists(target / COMPLETE_MARKER) or os.path.lexists(target / SAVING_LOCK):
        lock = _lock_file(target / SAVING_LOCK)
        if lock is not None or not (target / SAVING_LOCK).exists():
            with suppress(OSError):
                _remove_own_files(target)
        if lock is not None:
            os.close(lock)


def _newest_mtime(group: dict[str, Path]) -> float:
    """Return the latest modification time among a save's leftover folders (0 if they vanished)."""
    times = []
    for path in group.values():
        with suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times, default=0.0)


def _recover_group(target: Path, staging: Path | None, backup: Path | None) -> None:
    """Finish or undo one dead save (see `recover_interrupted_save`); skip it if it is alive."""
    import shutil

    lock = None
    if staging is not None:
        lock = _lock_file(staging / SAVING_LOCK)
        if lock is None and (staging / SAVING_LOCK).exists() and _has_fcntl():
            return  # the writer holds its lock: a save in progress
        if lock is None and time.time() - _newest_mtime({"tmp": staging}) < STALE_UNLOCKED_SECONDS:
            return  # no usable lock: only an old folder counts as abandoned
    try:
        if not os.path.lexists(target):
            if staging is not None and (staging / COMPLETE_MARKER).is_file():
                os.replace(staging, target)
                _remove_own_files(target)
                staging = None
            elif backup is not None:
                os.replace(backup, target)
                backup = None
        for leftover in (staging, backup):
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)
    finally:
        if lock is not None:
            os.close(lock)


def _has_fcntl() -> bool:
    """Tell whether file locks (`fcntl.flock`) are available on this platform."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return False
    return True


def save_target(path: Path | str) -> Path:
    """Resolve the folder a save to `path` writes, as an absolute path.

    Relative paths ("." and "" included) are taken from the current folder and a symbolic link at
    `path` is followed, so the link stays and its destination is replaced.

    :param path: The destination as given.
    :return: The real, absolute destination.
    :raises ValueError: If it is the filesystem root.
    :raises OSError: If `path` is a symbolic link loop (ELOOP).
    :raises NotADirectoryError: If it exists and is not a folder.
    """
    target = Path(os.path.realpath(path))
    if not target.name:
        raise ValueError(f"Cannot save a model to {path}: it is the filesystem root; save into a folder.")
    if target.is_symlink():  # realpath gives up on a loop and returns the link itself
        raise OSError(errno.ELOOP, f"Cannot save a model to {path}: it is a symbolic link loop")
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"Cannot save a model to {path}: it is a file.")
    return target


def save_folder(
    path: Path | str,
    embeddings: np.ndarray,
    tokenizer: Tokenizer | str,
    config: Mapping[str, Any],
    normalize: bool,
    weights: np.ndarray | None = None,
    mapping: np.ndarray | None = None,
    card: str | None = None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write a model folder atomically in the model2vec layout.

    A table stored in float16 or int8 without token weights gets a `weights` tensor of float16 ones
    (two bytes per token, about 1% of a float16 table): sentence-transformers folds per-token weights
    into its table in float32, and without them it would compute in half precision (NaN for a text
    without tokens once normalised). `load_folder` reads all-ones weights as no weights, so the model
    loaded back is unchanged.

    Everything is written to a staging sibling folder first and then swapped in (`atomic_replace_dir`),
    so a crash never leaves a half-written folder where a good one was; leftovers of an earlier killed
    save are repaired first (`recover_interrupted_save`). Files and folders get the permissions the
    umask gives (0644 and 0755 by default); a replaced folder keeps its own.

    :param path: The destination folder (created if missing; an existing folder is replaced). Relative
        paths, "." included, are taken from the current folder; a symbolic link is followed.
    :param embeddings: The embedding table.
    :param tokenizer: The tokenizer to save, or its JSON text.
    :param config: The config to write as `config.json`.
    :param normalize: Whether to list a Normalize module in `modules.json`.
    :param weights: Optional per-token weights.
    :param mapping: Optional token -> row mapping (stored as int32).
    :param card: Optional README.md text.
    :param extra: Called with the staging folder after the model files are written and before the
        swap, to add files that must appear together with the model (e.g. a pipeline head).
    :return: `path` as given.
    :raises NotADirectoryError: If `path` exists and is a file.
    :raises ValueError: If `path` is the filesystem root.
    :raises OSError: If `path` is a symbolic link loop, or writing fails.
    :raises TypeError: If `normalize` is not True or False.
    """
    normalize = strict_bool(normalize, "normalize")
    target = save_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_save(target)
    with staging_dir(target) as staging:
        tensors: dict[str, np.ndarray] = {"embeddings": np.ascontiguousarray(embeddings)}
        if weights is None and np.dtype(embeddings.dtype) not in (np.float32, np.float64):
            weights = np.ones(len(mapping) if mapping is not None else len(embeddings), dtype=np.float16)
        if weights is not None:
            tensors["weights"] = np.ascontiguousarray(weights)
        if mapping is not None:
            tensors["mapping"] = np.ascontiguousarray(mapping, dtype=np.int32)
        if isinstance(tokenizer, str):
            (staging / TOKENIZER_FILE).write_text(tokenizer, encoding="utf-8")
        else:
            tokenizer.save(str(staging / TOKENIZER_FILE))
        save_file(tensors, str(staging / WEIGHTS_FILE))
        # The safetensors writer creates its file private (0600); give it the mode the umask gives a
        # new file, as read back from the tokenizer file just created.
        os.chmod(staging / WEIGHTS_FILE, stat.S_IMODE((staging / TOKENIZER_FILE).stat().st_mode))
        (staging / CONFIG_FILE).write_text(json.dumps(dict(config), indent=4) + "\n", encoding="utf-8")
        (staging / MODULES_FILE).write_text(json.dumps(modules_json(normalize), indent=4) + "\n", encoding="utf-8")
        if normalize:
            # sentence-transformers expects the module folder to exist (it holds no files for Normalize).
            (staging / "1_Normalize").mkdir(exist_ok=True)
        if card is not None:
            (staging / README_FILE).write_text(card, encoding="utf-8")
        if extra is not None:
            extra(staging)
        atomic_replace_dir(staging, target)
    return Path(path)
