"""The task a batch worker runs: embed one partition into one Parquet part, with the model loaded once per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model2vec.batch.readers import Partition, pyarrow_module, read_jsonl, read_parquet

if TYPE_CHECKING:
    from model2vec.model import StaticModel

ROW_COLUMN = "row"
EMBEDDING_COLUMN = "embedding"
PART_NAME = "part-{:05d}.parquet"


@dataclass(frozen=True)
class JobSettings:
    """Everything a task needs besides its partition; small and picklable (the model is a reference).

    :param model: Model folder or hub id, loaded once per worker process by `cached_model`.
    :param text_column: Column (JSON key) holding the text.
    :param columns: Passthrough columns copied to the output.
    :param max_length: Tokens per text (None for no limit).
    :param normalize: Overrides the model's normalisation when not None.
    :param batch_size: Texts per encode batch.
    :param staging: Folder the parts are written to.
    """

    model: str
    text_column: str
    columns: tuple[str, ...]
    max_length: int | None
    normalize: bool | None
    batch_size: int
    staging: str


_MODELS: dict[str, StaticModel] = {}
_MODELS_LOCK = threading.Lock()


def cached_model(reference: str) -> StaticModel:
    """Load a model once per process (a worker runs many tasks) and return the same object afterwards.

    :param reference: Model folder or hub id, as given to `StaticModel.from_pretrained`.
    :return: The model.
    """
    with _MODELS_LOCK:
        if reference not in _MODELS:
            from model2vec.model import StaticModel

            _MODELS[reference] = StaticModel.from_pretrained(reference)
        return _MODELS[reference]


def embed_partition(job: JobSettings, task: tuple[Partition, int], model: StaticModel | None = None) -> int:
    """Embed one partition and write its part file (nothing for an empty partition).

    :param job: Settings shared by all tasks.
    :param task: The partition and the input row number of its first row.
    :param model: The model; None loads `job.model` through `cached_model` (the case on workers).
    :return: Rows written.
    :raises ValueError: If a row lacks a column, its text is not a string, or the file is unreadable.
    """
    part, first_row = task
    pa = pyarrow_module()
    if part.kind == "jsonl":
        texts, passthrough = read_jsonl(part, job.text_column, job.columns)
    else:
        texts, passthrough = read_parquet(part, job.text_column, job.columns)
    if not texts:
        return 0
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(
                f"{part.path}: row {first_row + i} (of all inputs) has a {type(text).__name__} in column "
                f"{job.text_column!r}, not a string."
            )
    model = model if model is not None else cached_model(job.model)
    embeddings = model.encode(
        texts, max_length=job.max_length, batch_size=job.batch_size, use_multiprocessing=False, normalize=job.normalize
    )
    arrays = {ROW_COLUMN: pa.array(np.arange(first_row, first_row + len(texts), dtype=np.int64))}
    for name, values in passthrough.items():
        try:
            arrays[name] = values if isinstance(values, pa.ChunkedArray) else pa.array(values)
        except pa.ArrowException as error:
            raise ValueError(f"{part.path}: column {name!r} has values of mixed types ({error}).") from error
    arrays[EMBEDDING_COLUMN] = pa.FixedSizeListArray.from_arrays(pa.array(embeddings.ravel()), embeddings.shape[1])
    path = Path(job.staging) / PART_NAME.format(part.index)
    pa.parquet.write_table(pa.table(arrays), path)
    return len(texts)
