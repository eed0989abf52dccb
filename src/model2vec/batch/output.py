"""A batch job's output folder: the manifest, moving the staged parts into place, reading it back."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model2vec.batch.readers import Partition, pyarrow_module
from model2vec.batch.tasks import EMBEDDING_COLUMN, PART_NAME, JobSettings

if TYPE_CHECKING:
    from model2vec.model import StaticModel

MANIFEST = "batch.json"


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


def finish(
    staging: Path,
    target: Path,
    parts: list[Partition],
    counts: list[int],
    files: list[Path],
    job: JobSettings,
    loaded: StaticModel | None,
) -> BatchResult:
    """Write the manifest and move the staging folder into place (replacing an old output entirely)."""
    pa = pyarrow_module()
    names = [PART_NAME.format(part.index) for part, count in zip(parts, counts, strict=True) if count]
    schema = pa.parquet.read_schema(staging / names[0])
    dim = schema.field(EMBEDDING_COLUMN).type.list_size
    manifest = {
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
    if target.exists():
        # Unlike a model folder, nothing of an old output is kept: stale parts would mix two jobs.
        backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, backup / "old")
        os.replace(staging, target)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(staging, target)
    return BatchResult(target, [target / name for name in names], sum(counts), dim)


def read_embeddings(output: str | os.PathLike[str]) -> tuple[Any, np.ndarray]:
    """Read an `embed_files` output back in row order.

    :param output: The output folder.
    :return: (a pyarrow Table of `row` and the passthrough columns, float32 embeddings (rows, dim)).
    :raises FileNotFoundError: If `output` has no `batch.json`.
    """
    pa = pyarrow_module()
    folder = Path(output)
    if not (folder / MANIFEST).is_file():
        raise FileNotFoundError(f"{folder} is not an embed_files output (no {MANIFEST}).")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    table = pa.concat_tables([pa.parquet.read_table(folder / name) for name in manifest["parts"]])
    vectors = table.column(EMBEDDING_COLUMN).combine_chunks()
    embeddings = vectors.flatten().to_numpy(zero_copy_only=False).reshape(len(table), int(manifest["dim"]))
    return table.drop_columns([EMBEDDING_COLUMN]), np.ascontiguousarray(embeddings, dtype=np.float32)
