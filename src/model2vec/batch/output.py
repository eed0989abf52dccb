"""A batch job's output folder: the manifest, moving the staged parts into place, reading it back."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model2vec.batch.readers import Partition, glob_reaches, pyarrow_module
from model2vec.batch.tasks import EMBEDDING_COLUMN, PART_NAME, JobSettings

if TYPE_CHECKING:
    from model2vec.model import StaticModel

MANIFEST = "batch.json"
MANIFEST_FORMAT = "model2vec-batch/1"  # marks a manifest as ours (earlier versions wrote none)
PART_PATTERN = re.compile(r"part-\d{5,}\.parquet")


@dataclass
class BatchResult:
    """What `embed_files` wrote.

    :param output: The output folder.
    :param files: Part files in row order (partitions without rows write none).
    :param rows: Rows embedded.
    :param dim: Embedding dimension.
    :param seconds: Wall time of the job.
    """

    output: Path
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    dim: int = 0
    seconds: float = 0.0


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def check_output_location(target: Path, files: Sequence[Path], patterns: Sequence[str]) -> None:
    """Refuse an output that is an input, holds an input, or that an input glob would read back.

    :param target: The output folder, absolute with symlinks resolved.
    :param files: The input files, resolved.
    :param patterns: The input globs, as `readers.glob_patterns` gives them.
    :raises ValueError: Naming the input in the way.
    """
    if not target.name:
        raise ValueError(f"Output {target} is a file system root; choose a folder.")
    # Compared by path, and, when the output exists, by device and inode too: that also catches one
    # folder reached under two spellings (a case-insensitive file system, a bind mount).
    identity = _identity(target)
    seen: dict[Path, tuple[int, int] | None] = {}
    for file in files:
        if file == target or (identity is not None and _identity(file) == identity):
            raise ValueError(f"Output {target} is the input file {file}; choose another output folder.")
        for parent in file.parents:
            if parent not in seen:
                seen[parent] = _identity(parent) if identity is not None else None
            if parent == target or (identity is not None and seen[parent] == identity):
                raise ValueError(
                    f"Output {target} contains the input {file}; choose an output folder outside the inputs."
                )
    for pattern in patterns:
        for probe in (target / MANIFEST, target / PART_NAME.format(0)):
            if glob_reaches(pattern, probe):
                raise ValueError(
                    f"The input glob {pattern!r} would read the output's own files ({probe}) when run again; "
                    "choose an output folder it cannot match."
                )


def load_manifest(folder: Path) -> dict[str, Any]:
    """Read and check `folder/batch.json`: a JSON object listing part names and a positive `dim`.

    Part names must look like `part-00000.parquet`, so a manifest never leads outside its folder.

    :raises FileNotFoundError: If there is no manifest.
    :raises ValueError: If it is unreadable or malformed (the message names it).
    """
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} is not an embed_files output (no {MANIFEST}).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{path} is unreadable ({error}).") from error
    if not isinstance(manifest, dict):
        raise ValueError(f"{path} is not an embed_files manifest (not a JSON object).")
    parts = manifest.get("parts")
    if (
        not parts
        or not isinstance(parts, list)
        or not all(isinstance(n, str) and PART_PATTERN.fullmatch(n) for n in parts)
    ):
        raise ValueError(f"{path} is not an embed_files manifest: 'parts' must list part-NNNNN.parquet names.")
    dim = manifest.get("dim")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        raise ValueError(f"{path} is not an embed_files manifest: 'dim' must be a positive integer, got {dim!r}.")
    return manifest


def earlier_output_files(folder: Path) -> list[Path]:
    """Return the files of `folder` when they all are an earlier `embed_files` output's (manifest and parts).

    An empty folder holds nothing to lose and qualifies (with no files).

    :param folder: An existing path.
    :return: The files to delete to make room.
    :raises FileExistsError: If `folder` is not a folder, has no readable manifest, or holds anything
        the manifest does not list (the message names a few).
    """
    refusal = f"Output {folder} exists and is not an embed_files output"
    if folder.is_symlink() or not folder.is_dir():
        raise FileExistsError(f"{refusal} (not a folder); overwrite replaces only an earlier output.")
    entries = sorted(folder.iterdir())
    if not entries:
        return []
    try:
        manifest = load_manifest(folder)
    except FileNotFoundError:
        raise FileExistsError(f"{refusal} (no {MANIFEST}); overwrite replaces only an earlier output.") from None
    except ValueError as error:
        raise FileExistsError(f"{refusal}: {error}") from error
    owned = {MANIFEST, *manifest["parts"]}
    foreign = [e.name for e in entries if e.name not in owned or e.is_symlink() or not e.is_file()]
    if foreign:
        raise FileExistsError(
            f"Output {folder} holds files an earlier embed_files run did not write ({', '.join(foreign[:5])}); "
            "overwrite deletes only an earlier output: move them away or choose another folder."
        )
    return entries


def _backup_prefix(target: Path) -> str:
    return f".{target.name}.batch-old-"


def recover_output(target: Path) -> Path | None:
    """Undo a job killed while swapping outputs: restore its old output if `target` is missing.

    The swap moves the old output aside to `.{name}.batch-old-{random}` before moving the new one in.
    Only a folder that `earlier_output_files` accepts is restored or, when `target` exists, deleted.

    :param target: The output folder (absolute).
    :return: The backup restored as `target`, if any.
    """
    restored = None
    for backup in sorted(target.parent.iterdir()):
        if not backup.name.startswith(_backup_prefix(target)):
            continue
        try:
            files = earlier_output_files(backup)
        except FileExistsError:
            continue  # not ours beyond doubt: leave it
        if restored is None and not target.exists() and not target.is_symlink():
            os.replace(backup, target)
            restored = backup
        else:
            _delete(backup, files)
    return restored


def _delete(folder: Path, files: Sequence[Path]) -> None:
    for file in files:
        file.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # a file appeared since it was checked: it is not ours, so it stays
        folder.rmdir()


def write_manifest(
    staging: Path,
    target: Path,
    parts: list[Partition],
    counts: list[int],
    files: list[Path],
    job: JobSettings,
    loaded: StaticModel | None,
) -> BatchResult:
    """Write the manifest into the staging folder; return what the output will hold once in place."""
    pa = pyarrow_module()
    names = [PART_NAME.format(part.index) for part, count in zip(parts, counts, strict=True) if count]
    schema = pa.parquet.read_schema(staging / names[0])
    dim = schema.field(EMBEDDING_COLUMN).type.list_size
    manifest = {
        "format": MANIFEST_FORMAT,
        "model": job.model if loaded is None else repr(loaded),
        "inputs": [str(path) for path in files],
        "text_column": job.text_column,
        "columns": list(job.columns),
        "max_length": job.max_length,
        "normalize": job.normalize,
        "rows": sum(counts),
        "dim": dim,
        "parts": names,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return BatchResult(target, [target / name for name in names], sum(counts), dim)


def move_into_place(staging: Path, target: Path) -> None:
    """Make the staging folder the output.

    An existing `target` must be an earlier output (checked again here, just before it is deleted):
    its manifest and parts are deleted, nothing else.

    :raises FileExistsError: If `target` appeared or changed and is not an earlier output.
    """
    if target.exists() or target.is_symlink():
        old = earlier_output_files(target)
        # Stale parts of an older job must not survive next to the new ones, so the old output goes whole.
        backup = target.with_name(f"{_backup_prefix(target)}{secrets.token_hex(6)}")
        os.replace(target, backup)
        os.replace(staging, target)
        _delete(backup, [backup / file.name for file in old])
    else:
        os.replace(staging, target)


def read_embeddings(output: str | os.PathLike[str]) -> tuple[Any, np.ndarray]:
    """Read an `embed_files` output back in row order.

    :param output: The output folder.
    :return: (a pyarrow Table of `row` and the passthrough columns, float32 embeddings (rows, dim)).
    :raises FileNotFoundError: If `output` has no `batch.json`.
    :raises ValueError: If the manifest is malformed or a part unreadable or not of the manifest's shape
        (the message names the file).
    """
    pa = pyarrow_module()
    folder = Path(output)
    manifest = load_manifest(folder)
    tables = []
    for name in manifest["parts"]:
        try:
            tables.append(pa.parquet.read_table(folder / name))
        except (pa.ArrowException, OSError) as error:
            raise ValueError(f"{folder / name}: cannot read this part ({error}).") from error
    try:
        table = pa.concat_tables(tables)
    except pa.ArrowException as error:
        raise ValueError(f"{folder}: its parts have different columns ({error}).") from error
    dim = int(manifest["dim"])
    if EMBEDDING_COLUMN not in table.column_names:
        raise ValueError(f"{folder}: its parts have no {EMBEDDING_COLUMN!r} column.")
    flat = table.column(EMBEDDING_COLUMN).combine_chunks().flatten().to_numpy(zero_copy_only=False)
    if len(flat) != len(table) * dim:
        raise ValueError(f"{folder}: its parts do not hold {dim}-d vectors, as {MANIFEST} says.")
    embeddings = np.ascontiguousarray(flat.reshape(len(table), dim), dtype=np.float32)
    return table.drop_columns([EMBEDDING_COLUMN]), embeddings
