"""`embed_files`: plan a batch job, run its tasks on a backend, and put the output in place."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model2vec.batch.engines import (
    BACKENDS,
    Progress,
    Runner,
    Tracker,
    dask_client,
    run_dask,
    run_local,
    run_ray,
)
from model2vec.batch.output import (
    BatchResult,
    check_output_location,
    earlier_output_files,
    move_into_place,
    recover_output,
    write_manifest,
)
from model2vec.batch.planning import DEFAULT_PARTITION_BYTES, plan_partitions
from model2vec.batch.readers import check_jsonl_heads, count_rows, glob_patterns, resolve_inputs
from model2vec.batch.staging import create_staging, release_staging, remove_own_files, remove_stale_staging
from model2vec.batch.tasks import EMBEDDING_COLUMN, ROW_COLUMN, JobSettings, embed_partition

if TYPE_CHECKING:
    from model2vec.model import StaticModel


def _model_reference(model: str | os.PathLike[str] | StaticModel, backend: str) -> tuple[str, StaticModel | None]:
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        # A local folder travels as an absolute path (workers may run elsewhere); anything else is a hub id.
        return (str(Path(text).resolve()) if Path(text).exists() else text), None
    if backend != "local":
        raise TypeError(
            f'backend="{backend}" needs the model as a folder path or hub id, so each worker loads it once; '
            "got a StaticModel object (save it with save_pretrained and pass the folder)."
        )
    return "<in-memory model>", model


def embed_files(
    model: str | os.PathLike[str] | StaticModel,
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    text_column: str = "text",
    columns: Sequence[str] = (),
    backend: str = "local",
    client: Any = None,
    max_length: int | None = 512,
    normalize: bool | None = None,
    batch_size: int = 1024,
    partition_bytes: int = DEFAULT_PARTITION_BYTES,
    overwrite: bool = False,
    progress: bool | Progress = False,
) -> BatchResult:
    """Embed the texts of JSONL/Parquet files into Parquet parts, in input order.

    :param model: Model folder or hub id (loaded once per worker process), or, for the local backend
        only, a loaded `StaticModel`.
    :param inputs: A file, folder (its .jsonl/.ndjson/.json[.gz]/.parquet files, sorted) or glob, or a
        list of them; rows are numbered across all files in the order given.
    :param output: Folder to write: `part-NNNNN.parquet` files (columns `row`, the passthrough
        `columns`, `embedding`) and `batch.json` (settings and counts).
    :param text_column: Column (JSON key) holding the text.
    :param columns: Columns copied to the output unchanged (an id, a label...).
    :param backend: "local" (this process), "dask" (a distributed cluster) or "ray".
    :param client: dask: a `distributed.Client` or scheduler address; None uses the current client,
        or starts a local cluster (one single-threaded worker process per core) for this call.
        ray: an address for `ray.init`, or None for the running/local Ray.
    :param max_length: Tokens per text (None for no limit), as in `StaticModel.encode`.
    :param normalize: Overrides the model's normalisation when not None.
    :param batch_size: Texts per encode batch (memory only; results do not depend on it).
    :param partition_bytes: Approximate input bytes per task (JSONL byte ranges, Parquet row groups).
    :param overwrite: Replace `output` if it exists, which it must only as an earlier `embed_files`
        output (its `batch.json` and the parts it lists, nothing else) or an empty folder.
    :param progress: True prints rows done to stderr; a callable gets (rows done, rows total).
    :return: The files written, row count and dimension.
    :raises FileNotFoundError: If an input is missing or a glob matches nothing.
    :raises FileExistsError: If `output` exists and `overwrite` is False, or it exists and is not an
        earlier output (a file, a folder without `batch.json`, or one holding files it does not list).
    :raises ValueError: On an unknown backend, bad settings, an unsupported, unreadable, truncated or
        corrupt file, a missing column, a non-string text, inputs without any row, or an output that is
        an input file, contains an input, or lies where an input glob would read its files.
    :raises TypeError: If a `StaticModel` object is given to a distributed backend.
    :raises ImportError: If the backend's packages are missing (the message names the pip install).
    """
    started = time.perf_counter()
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; available: {', '.join(BACKENDS)}.")
    if batch_size <= 0 or partition_bytes <= 0:
        raise ValueError("batch_size and partition_bytes must be positive.")
    if max_length is not None and max_length <= 0:
        raise ValueError(f"max_length must be positive or None, got {max_length}.")
    columns = tuple(columns)
    if text_column in columns or len(set(columns)) != len(columns) or {ROW_COLUMN, EMBEDDING_COLUMN} & set(columns):
        raise ValueError(f"columns must be distinct, and differ from {text_column!r}, 'row' and 'embedding'.")
    reference, loaded = _model_reference(model, backend)
    # Symlinks resolved, so an alias of an input folder is seen for what it is.
    target = Path(output).resolve()
    files = resolve_inputs(inputs)
    check_output_location(target, files, glob_patterns(inputs))
    if target.parent.is_dir():
        remove_stale_staging(target)
        recover_output(target)
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise FileExistsError(f"Output {target} exists; pass overwrite=True (--overwrite) to replace it.")
        earlier_output_files(target)  # refuses anything but an earlier output, before any work
    check_jsonl_heads(files, text_column, columns)
    parts = plan_partitions(files, text_column, columns, partition_bytes)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging, marker = create_staging(target)
    job = JobSettings(reference, text_column, columns, max_length, normalize, batch_size, str(staging))
    embed = partial(embed_partition, job, model=loaded)
    client_used, cluster = None, None
    try:
        run: Runner = run_local
        if backend == "dask":
            client_used, cluster = dask_client(client)
            run = partial(run_dask, client_used)
        elif backend == "ray":
            run = partial(run_ray, client)
        jsonl = [i for i, part in enumerate(parts) if part.kind == "jsonl"]
        counts = [0] * len(parts)
        for i, count in zip(jsonl, run(count_rows, [parts[i] for i in jsonl], None), strict=True):
            counts[i] = count
        for i, part in enumerate(parts):
            if part.kind == "parquet":
                counts[i] = count_rows(part)
        total = sum(counts)
        if total == 0:
            raise ValueError(f"The inputs hold no rows: {', '.join(str(f) for f in files[:5])}.")
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
        tracker = Tracker(counts, total, progress) if progress else None
        written = run(embed, list(zip(parts, offsets, strict=True)), tracker)
        if written != counts:
            raise RuntimeError(f"Partitions changed while being read: counted {counts}, embedded {written}.")
        result = write_manifest(staging, target, parts, counts, files, job, loaded)
        release_staging(staging, marker)  # the last moment: a kill from here on leaves an unmarked folder
        move_into_place(staging, target)
    except BaseException:
        release_staging(staging, marker)
        remove_own_files(staging)
        raise
    finally:
        if cluster is not None and client_used is not None:
            # A cluster started for this call is closed with it; a caller's client is left alone.
            client_used.close()
            cluster.close()
    result.seconds = time.perf_counter() - started
    return result
