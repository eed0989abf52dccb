"""The on-disk model format: folder layouts, safetensors tensors, config, modules.json and model card.

A model folder as written by the Model2Vec ecosystem holds a token table (`model.safetensors`), a
`tokenizer.json`, a `config.json`, a sentence-transformers `modules.json` and a `README.md` model card.
Three layouts are in use; they are described as data (`LAYOUTS`) so that detection is one loop.

Loading never unpickles anything: tensors come from safetensors, configs from JSON, model-card front
matter from a tiny YAML subset parser (see `parse_front_matter`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

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

WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "config.json"
MODULES_FILE = "modules.json"
README_FILE = "README.md"


@dataclass
class LoadedFolder:
    """Everything read from a model folder, before it becomes a `StaticModel`.

    :param embeddings: The token (or cluster) table, in its stored dtype.
    :param tokenizer: The tokenizer as stored (padding/truncation untouched).
    :param config: The parsed `config.json` (empty for sentence-transformers folders without one).
    :param weights: Optional per-token weights (float).
    :param mapping: Optional token-id -> row mapping (int).
    :param normalize_module: Whether `modules.json` lists a Normalize module.
    :param metadata: Model-card front matter (may be empty).
    :param layout: The detected layout.
    """

    embeddings: np.ndarray
    tokenizer: Tokenizer
    config: dict[str, Any]
    weights: np.ndarray | None
    mapping: np.ndarray | None
    normalize_module: bool
    metadata: dict[str, Any]
    layout: FolderLayout


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


# safetensors dtype names -> numpy dtypes (little-endian, as the format specifies).
_SAFETENSORS_DTYPES = {
    "F16": "<f2", "F32": "<f4", "F64": "<f8", "I8": "i1", "U8": "u1", "I16": "<i2",
    "I32": "<i4", "I64": "<i8", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "?",
}  # fmt: skip


def read_tensors(path: Path) -> dict[str, np.ndarray]:
    """Memory-map all tensors of a safetensors file as numpy arrays, validating the header.

    Tensors are mapped copy-on-write: loading costs no copy and no read of the data until it is used,
    several processes share one copy in the page cache, and writing to an array changes memory, never
    the file.

    :param path: The `.safetensors` file.
    :return: Tensor name -> array.
    :raises FileNotFoundError: If the file is missing.
    :raises ModelFormatError: If the file is truncated, corrupt, or holds an unsupported dtype.
    """
    if not path.is_file():
        raise FileNotFoundError(f"Missing weights file {path}.")
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ModelFormatError(f"Cannot read {path}: truncated safetensors file ({size} bytes).")
        header_size = int.from_bytes(prefix, "little")
        if header_size > size - 8:
            raise ModelFormatError(f"Cannot read {path}: corrupt or truncated safetensors header.")
        try:
            header = json.loads(handle.read(header_size))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ModelFormatError(f"Cannot read {path}: corrupt safetensors header ({error}).") from error
    if not isinstance(header, dict):
        raise ModelFormatError(f"Cannot read {path}: corrupt safetensors header.")
    data_start = 8 + header_size
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFormatError(f"Cannot read {path}: tensor '{name}' has an unsupported or bad entry.") from error
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if end - begin != expected or begin < 0 or data_start + end > size:
            raise ModelFormatError(
                f"Cannot read {path}: tensor '{name}' ({shape}, {info['dtype']}) does not fit the file "
                f"(corrupt or truncated)."
            )
        if expected == 0:
            tensors[name] = np.zeros(shape, dtype=dtype)
        else:
            # A plain ndarray view (the memmap stays alive as its base) behaves like any other array.
            # Tables are handed to other libraries without a copy (sentence-transformers wraps them with
            # torch.as_tensor, which ignores numpy's read-only flag: an optimiser step on a read-only
            # mapping crashes the process), so they are mapped copy-on-write: writable in memory, and
            # the file never changes.
            offset = data_start + begin
            mapped = np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=shape)
            tensors[name] = np.asarray(mapped)
    return tensors


def read_json(path: Path) -> Any:
    """Read a JSON file, turning decode errors into `ModelFormatError` naming the file.

    :param path: The JSON file.
    :return: The decoded value.
    :raises FileNotFoundError: If the file is missing.
    :raises ModelFormatError: If the file is not valid JSON.
    """
    if not path.is_file():
        raise FileNotFoundError(f"Missing file {path}.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFormatError(f"{path} is not valid JSON: {error}.") from error


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
        raise ModelFormatError(f"Cannot load tokenizer {path}: {error}.") from error


def normalize_in_modules(folder: Path) -> bool:
    """Tell whether the folder's `modules.json` lists a sentence-transformers Normalize module.

    :param folder: The model folder.
    :return: True if a Normalize module is listed; False when there is no `modules.json`.
    :raises ModelFormatError: If `modules.json` exists but is malformed.
    """
    path = folder / MODULES_FILE
    if not path.is_file():
        return False
    modules = read_json(path)
    if not isinstance(modules, list):
        raise ModelFormatError(f"{path} must hold a JSON list of modules.")
    return any(isinstance(m, dict) and str(m.get("type", "")).endswith("Normalize") for m in modules)


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
        raise ModelFormatError(
            f"{weights_path} has no 'embeddings' or 'embedding.weight' tensor; found {sorted(tensors)}."
        )
    embeddings = tensors[key]
    if embeddings.ndim != 2:
        raise ModelFormatError(f"{weights_path}: tensor '{key}' must be 2-D, got shape {embeddings.shape}.")

    tokenizer = read_tokenizer(weights_dir / TOKENIZER_FILE)
    config: dict[str, Any] = {}
    if layout.name == "model2vec":
        raw = read_json(folder / CONFIG_FILE)
        if not isinstance(raw, dict):
            raise ModelFormatError(f"{folder / CONFIG_FILE} must hold a JSON object.")
        config = raw

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

    metadata: dict[str, Any] = {}
    readme = folder / README_FILE
    if readme.is_file():
        metadata = parse_front_matter(readme.read_text(encoding="utf-8", errors="replace"))

    return LoadedFolder(
        embeddings=embeddings,
        tokenizer=tokenizer,
        config=config,
        weights=weights,
        mapping=mapping,
        normalize_module=normalize_in_modules(folder),
        metadata=metadata,
        layout=layout,
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


def atomic_replace_dir(staging: Path, target: Path) -> None:
    """Move a fully written staging folder into place of `target`.

    Files already in `target` that the new model does not write (a user's notes, another module) are
    moved into the new folder first, so nothing foreign is lost. The swap is two renames, so at every
    instant either the old or the new complete folder exists at `target` (or at its backup name).
    """
    import shutil
    import uuid

    if not target.exists():
        os.replace(staging, target)
        return
    for entry in target.iterdir():
        destination = staging / entry.name
        if not destination.exists():
            if entry.is_dir():
                shutil.copytree(entry, destination)
            else:
                shutil.copy2(entry, destination)
    backup = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, backup)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def save_folder(
    path: Path | str,
    embeddings: np.ndarray,
    tokenizer: Tokenizer | str,
    config: Mapping[str, Any],
    normalize: bool,
    weights: np.ndarray | None = None,
    mapping: np.ndarray | None = None,
    card: str | None = None,
) -> Path:
    """Write a model folder atomically in the model2vec layout.

    Everything is written to a temporary sibling folder first and then swapped in, so a crash never
    leaves a half-written folder where a good one was.

    :param path: The destination folder (created if missing; an existing folder is replaced).
    :param embeddings: The embedding table.
    :param tokenizer: The tokenizer to save, or its JSON text.
    :param config: The config to write as `config.json`.
    :param normalize: Whether to list a Normalize module in `modules.json`.
    :param weights: Optional per-token weights.
    :param mapping: Optional token -> row mapping (stored as int32).
    :param card: Optional README.md text.
    :return: The destination path.
    :raises NotADirectoryError: If `path` exists and is a file.
    """
    # Imported here rather than at the top: `import model2vec` for inference should not pay for writers.
    import shutil
    import tempfile

    target = Path(path)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"Cannot save a model to {target}: it is a file.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tensors: dict[str, np.ndarray] = {"embeddings": np.ascontiguousarray(embeddings)}
        if weights is not None:
            tensors["weights"] = np.ascontiguousarray(weights)
        if mapping is not None:
            tensors["mapping"] = np.ascontiguousarray(mapping, dtype=np.int32)
        save_file(tensors, str(staging / WEIGHTS_FILE))
        if isinstance(tokenizer, str):
            (staging / TOKENIZER_FILE).write_text(tokenizer, encoding="utf-8")
        else:
            tokenizer.save(str(staging / TOKENIZER_FILE))
        (staging / CONFIG_FILE).write_text(json.dumps(dict(config), indent=4) + "\n", encoding="utf-8")
        (staging / MODULES_FILE).write_text(json.dumps(modules_json(normalize), indent=4) + "\n", encoding="utf-8")
        if normalize:
            # sentence-transformers expects the module folder to exist (it holds no files for Normalize).
            (staging / "1_Normalize").mkdir(exist_ok=True)
        if card is not None:
            (staging / README_FILE).write_text(card, encoding="utf-8")
        # mkdtemp makes the folder 0700; a saved model should have the usual permissions.
        staging.chmod(0o755)
        atomic_replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
