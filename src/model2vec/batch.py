"""Embed JSONL or Parquet files into Parquet files, in one process, on a Dask cluster, or on Ray.

`embed_files(model, inputs, output)` reads texts from one or many files (paths, folders or globs),
embeds them with a `StaticModel` and writes `output/part-00000.parquet, ...` plus `output/batch.json`.
Every output row has a `row` column (the row's position in the concatenated inputs, 0-based), the
passthrough columns asked for, and `embedding` (fixed-size list of float32). Reading the parts in name
order gives the rows in input order, and the vectors are bitwise equal to `model.encode(all_texts)`:
encoding does not depend on the batch a text is in.

Work is split into partitions: byte ranges of a JSONL file (a partition owns the lines that start in
its range) and runs of row groups of a Parquet file. Gzipped JSONL (`.jsonl.gz`) is one partition per
file. A first pass counts each JSONL partition's rows so that every partition knows its first row
number; the second pass embeds. Workers load the model themselves, once per process, from the path or
hub id given (`cached_model`); the model is never shipped inside a task. On a multi-node cluster the
inputs, the model folder (or hub cache) and the output's parent folder must be visible to every
worker at the same path (a shared file system).

Output is written to a staging folder next to `output` and moved into place at the end, so a failed
job leaves no partial output. dask/distributed, pyarrow and ray are imported only when used; this module
is not imported by `import model2vec`.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from model2vec.model import StaticModel

BACKENDS = ("local", "dask", "ray")
ROW_COLUMN = "row"
EMBEDDING_COLUMN = "embedding"
MANIFEST = "batch.json"
PART_NAME = "part-{:05d}.parquet"
DEFAULT_PARTITION_BYTES = 32 * 2**20
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
BATCH_EXTRA = 'pip install "model2vec[batch]"'
RAY_INSTALL = 'pip install "ray[data]>=2.9"'

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Partition:
    """A piece of one input file that one task embeds.

    :param path: Absolute path of the file.
    :param kind: "jsonl" or "parquet".
    :param start: JSONL: first byte; Parquet: first row group.
    :param stop: JSONL: end byte (exclusive; -1 for a whole gzipped file); Parquet: end row group.
    :param index: Position among all partitions; names the output part.
    """

    path: str
    kind: str
    start: int
    stop: int
    index: int


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


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:
        raise ImportError(f"Batch embedding needs pyarrow: {BATCH_EXTRA}") from error
    return pyarrow


def file_kind(path: Path) -> str:
    """Return "jsonl" or "parquet" from a file name.

    :raises ValueError: If the suffix is neither.
    """
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise ValueError(f"{path}: unsupported input; expected {', '.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)}.")


def resolve_inputs(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand paths, folders (their JSONL/Parquet files) and globs into a list of files, in order.

    Each glob and folder is sorted by name; the order of the given items is kept. A file given twice
    is read twice.

    :raises FileNotFoundError: If a path does not exist or a glob matches nothing.
    :raises ValueError: If nothing is given, or a file has an unsupported suffix.
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not items:
        raise ValueError("No inputs given.")
    files: list[Path] = []
    for item in items:
        text = os.fspath(item)
        if glob.has_magic(text):
            matches = sorted(Path(match) for match in glob.glob(text, recursive=True))
            if not matches:
                raise FileNotFoundError(f"No file matches {text!r}.")
            found = [match for match in matches if match.is_file()]
        elif Path(text).is_dir():
            found = sorted(
                p
                for p in Path(text).iterdir()
                if p.is_file() and p.name.lower().endswith(JSONL_SUFFIXES + PARQUET_SUFFIXES)
            )
            if not found:
                raise FileNotFoundError(f"No JSONL or Parquet file in folder {text}.")
        elif Path(text).is_file():
            found = [Path(text)]
        else:
            raise FileNotFoundError(f"Input not found: {text}.")
        for path in found:
            file_kind(path)
        files.extend(path.resolve() for path in found)
    return files


def _open_text(path: str) -> IO[bytes]:
    if path.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile is a binary IO
    return open(path, "rb")


def _jsonl_lines(part: Partition) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) of every non-blank line whose first byte lies in the partition's range.

    A line belongs to the partition its first byte falls in, so consecutive ranges cover every line
    exactly once, whatever the range boundaries. Offsets of gzipped files are positions in the
    decompressed stream.
    """
    with _open_text(part.path) as stream:
        position = part.start
        if part.start > 0:
            # Step back one byte: if it is a newline, a line starts exactly at `start` and is ours.
            stream.seek(part.start - 1)
            position = part.start - 1 + len(stream.readline())
        while part.stop < 0 or position < part.stop:
            line = stream.readline()
            if not line:
                return
            if line.strip():
                yield position, line
            position += len(line)


def count_rows(part: Partition) -> int:
    """Count a partition's rows (non-blank lines for JSONL; from the metadata for Parquet)."""
    if part.kind == "jsonl":
        return sum(1 for _ in _jsonl_lines(part))
    metadata = _pyarrow().parquet.ParquetFile(part.path).metadata
    return sum(metadata.row_group(i).num_rows for i in range(part.start, part.stop))


def _read_jsonl(part: Partition, text_column: str, columns: tuple[str, ...]) -> tuple[list[Any], dict[str, list[Any]]]:
    texts: list[Any] = []
    passthrough: dict[str, list[Any]] = {name: [] for name in columns}
    for position, line in _jsonl_lines(part):
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{part.path}: invalid JSON in the line at byte {position} ({error}).") from error
        if not isinstance(record, dict):
            raise ValueError(f"{part.path}: the line at byte {position} is not a JSON object.")
        for name in (text_column, *columns):
            if name not in record:
                raise ValueError(f"{part.path}: the line at byte {position} has no {name!r} key.")
        texts.append(record[text_column])
        for name in columns:
            passthrough[name].append(record[name])
    return texts, passthrough


def _read_parquet(part: Partition, text_column: str, columns: tuple[str, ...]) -> tuple[list[Any], dict[str, Any]]:
    pa = _pyarrow()
    try:
        table = pa.parquet.ParquetFile(part.path).read_row_groups(
            list(range(part.start, part.stop)), columns=[text_column, *columns]
        )
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"{part.path}: cannot read row groups {part.start}-{part.stop - 1} ({error}).") from error
    return table.column(text_column).to_pylist(), {name: table.column(name) for name in columns}


def embed_partition(job: JobSettings, task: tuple[Partition, int], model: StaticModel | None = None) -> int:
    """Embed one partition and write its part file (nothing for an empty partition).

    :param job: Settings shared by all tasks.
    :param task: The partition and the input row number of its first row.
    :param model: The model; None loads `job.model` through `cached_model` (the case on workers).
    :return: Rows written.
    :raises ValueError: If a row lacks a column, its text is not a string, or the file is unreadable.
    """
    part, first_row = task
    pa = _pyarrow()
    if part.kind == "jsonl":
        texts, passthrough = _read_jsonl(part, job.text_column, job.columns)
    else:
        texts, passthrough = _read_parquet(part, job.text_column, job.columns)
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


def plan_partitions(
    files: Sequence[Path], text_column: str, columns: tuple[str, ...], partition_bytes: int
) -> list[Partition]:
    """Split files into partitions of about `partition_bytes`; Parquet schemas are checked here.

    :raises ValueError: If a Parquet file is unreadable or lacks a column.
    """
    pa = _pyarrow()
    parts: list[Partition] = []
    for path in files:
        kind = file_kind(path)
        if kind == "jsonl":
            if path.name.lower().endswith(".gz"):
                ranges = [(0, -1)]
            else:
                size = path.stat().st_size
                ranges = [(start, min(size, start + partition_bytes)) for start in range(0, size, partition_bytes)]
            first = len(parts)
            parts.extend(Partition(str(path), kind, a, b, first + i) for i, (a, b) in enumerate(ranges))
            continue
        try:
            metadata = pa.parquet.ParquetFile(path).metadata
        except (pa.ArrowException, OSError) as error:
            raise ValueError(f"{path}: not a readable Parquet file ({error}).") from error
        names = set(metadata.schema.to_arrow_schema().names)
        missing = [name for name in (text_column, *columns) if name not in names]
        if missing:
            raise ValueError(f"{path}: no column {missing[0]!r}; it has {', '.join(sorted(names))}.")
        group_start, size = 0, 0
        for group in range(metadata.num_row_groups):
            size += metadata.row_group(group).total_byte_size
            if size >= partition_bytes or group == metadata.num_row_groups - 1:
                parts.append(Partition(str(path), kind, group_start, group + 1, len(parts)))
                group_start, size = group + 1, 0
    return parts


def _check_jsonl_heads(files: Sequence[Path], text_column: str, columns: tuple[str, ...]) -> None:
    """Fail fast on the first record of each JSONL file, before any cluster work starts."""
    for path in files:
        if file_kind(path) != "jsonl":
            continue
        try:
            with _open_text(str(path)) as stream:
                line = next((line for line in stream if line.strip()), None)
        except OSError as error:
            raise ValueError(f"{path}: cannot read ({error}).") from error
        if line is None:
            continue
        head = Partition(str(path), "jsonl", 0, len(line), 0)
        try:
            _read_jsonl(head, text_column, columns)
        except ValueError as error:
            raise ValueError(str(error).replace("the line at byte 0", "the first line")) from error


def _print_progress(done: int, total: int) -> None:
    print(f"\rmodel2vec batch: {done:,}/{total:,} rows", end="\n" if done >= total else "", file=sys.stderr, flush=True)


class _Tracker:
    """Turns finished tasks into a progress callback of (rows done, rows total)."""

    def __init__(self, weights: Sequence[int], total: int, progress: bool | Progress) -> None:
        self.weights = weights
        self.total = total
        self.done = 0
        self.callback: Progress | None = _print_progress if progress is True else (progress or None)

    def finished(self, task: int) -> None:
        self.done += self.weights[task]
        if self.callback is not None:
            self.callback(self.done, self.total)


def _run_local(function: Callable[[Any], int], items: Sequence[Any], tracker: _Tracker | None) -> list[int]:
    results = []
    for i, item in enumerate(items):
        results.append(function(item))
        if tracker is not None:
            tracker.finished(i)
    return results


def _dask_client(client: Any) -> tuple[Any, Any]:
    """Return (client, a cluster to close afterwards or None) for a Client, an address or None."""
    try:
        from distributed import Client, LocalCluster, get_client
    except ImportError as error:
        raise ImportError(f'backend="dask" needs dask and distributed: {BATCH_EXTRA}') from error
    if client is None:
        try:
            return get_client(), None
        except ValueError:
            cluster = LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None)  # type: ignore[no-untyped-call]
            return Client(cluster), cluster  # type: ignore[no-untyped-call]
    if isinstance(client, str):
        return Client(client), None  # type: ignore[no-untyped-call]
    return client, None


def _run_dask(client: Any, function: Callable[[Any], int], items: Sequence[Any], tracker: _Tracker | None) -> list[int]:
    from distributed import as_completed

    # pure=False: two equal partitions (a file given twice) are still two tasks writing two parts.
    futures = client.map(function, list(items), pure=False)
    order = {future.key: i for i, future in enumerate(futures)}
    for future in as_completed(futures):  # type: ignore[no-untyped-call]
        if future.status == "error":
            future.result()  # raises the task's exception here, with its type
        if tracker is not None:
            tracker.finished(order[future.key])
    return [int(value) for value in client.gather(futures)]


def import_ray() -> Any:
    """Return the `ray` module.

    :raises ImportError: Naming the pip install when ray is absent.
    """
    try:
        import ray
    except ImportError as error:
        raise ImportError(f'backend="ray" needs ray: {RAY_INSTALL}') from error
    return ray


def _run_ray(client: Any, function: Callable[[Any], int], items: Sequence[Any], tracker: _Tracker | None) -> list[int]:
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=client if isinstance(client, str) else None)
    remote = ray.remote(function)
    refs = [remote.remote(item) for item in items]
    order = {ref: i for i, ref in enumerate(refs)}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        if tracker is not None:
            tracker.finished(order[done[0]])
    return [int(value) for value in ray.get(refs)]


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
    :param overwrite: Replace `output` if it exists.
    :param progress: True prints rows done to stderr; a callable gets (rows done, rows total).
    :return: The files written, row count and dimension.
    :raises FileNotFoundError: If an input is missing or a glob matches nothing.
    :raises FileExistsError: If `output` exists and `overwrite` is False.
    :raises ValueError: On an unknown backend, bad settings, an unsupported or unreadable file, a missing
        column, a non-string text, or inputs without any row.
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
    target = Path(output).resolve()
    if target.exists() and not overwrite:
        raise FileExistsError(f"Output {target} exists; pass overwrite=True (--overwrite) to replace it.")
    files = resolve_inputs(inputs)
    _check_jsonl_heads(files, text_column, columns)
    parts = plan_partitions(files, text_column, columns, partition_bytes)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    job = JobSettings(reference, text_column, columns, max_length, normalize, batch_size, str(staging))
    embed = partial(embed_partition, job, model=loaded)
    dask_client, cluster = None, None
    try:
        run: Callable[[Callable[[Any], int], Sequence[Any], _Tracker | None], list[int]] = _run_local
        if backend == "dask":
            dask_client, cluster = _dask_client(client)
            run = partial(_run_dask, dask_client)
        elif backend == "ray":
            run = partial(_run_ray, client)
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
        tracker = _Tracker(counts, total, progress) if progress else None
        written = run(embed, list(zip(parts, offsets, strict=True)), tracker)
        if written != counts:
            raise RuntimeError(f"Partitions changed while being read: counted {counts}, embedded {written}.")
        result = _finish(staging, target, parts, counts, files, job, loaded)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if cluster is not None and dask_client is not None:
            # A cluster started for this call is closed with it; a caller's client is left alone.
            dask_client.close()
            cluster.close()
    result.seconds = time.perf_counter() - started
    return result


def _finish(
    staging: Path,
    target: Path,
    parts: list[Partition],
    counts: list[int],
    files: list[Path],
    job: JobSettings,
    loaded: StaticModel | None,
) -> BatchResult:
    """Write the manifest and move the staging folder into place (replacing an old output entirely)."""
    pa = _pyarrow()
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
    pa = _pyarrow()
    folder = Path(output)
    if not (folder / MANIFEST).is_file():
        raise FileNotFoundError(f"{folder} is not an embed_files output (no {MANIFEST}).")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    table = pa.concat_tables([pa.parquet.read_table(folder / name) for name in manifest["parts"]])
    vectors = table.column(EMBEDDING_COLUMN).combine_chunks()
    embeddings = vectors.flatten().to_numpy(zero_copy_only=False).reshape(len(table), int(manifest["dim"]))
    return table.drop_columns([EMBEDDING_COLUMN]), np.ascontiguousarray(embeddings, dtype=np.float32)


def _batch_command(args: argparse.Namespace) -> int:
    if args.partition_mb <= 0:
        raise ValueError(f"--partition-mb must be positive, got {args.partition_mb}.")
    columns = [name for name in (args.columns or "").split(",") if name]
    try:
        result = embed_files(
            args.model,
            args.inputs,
            args.out,
            text_column=args.text_column,
            columns=columns,
            backend=args.backend,
            client=args.scheduler,
            max_length=args.max_length if args.max_length > 0 else None,
            batch_size=args.batch_size,
            partition_bytes=int(args.partition_mb * 2**20),
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except FileExistsError as error:
        raise ValueError(str(error)) from error  # a user mistake: the command reports it in one line
    print(
        f"Embedded {result.rows:,} rows ({result.dim}-d) into {len(result.files)} parts in {result.output} "
        f"({result.seconds:.1f} s)"
    )
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `batch` subcommand to the `model2vec` command's subparsers.

    `model2vec batch MODEL INPUT... --out DIR` runs `embed_files`; `--backend dask` uses the scheduler
    at `--scheduler` (or a local cluster), `--backend ray` a Ray cluster. Registering imports nothing
    heavy; dask, pyarrow and ray are imported when the command runs.

    :param subparsers: The object returned by `ArgumentParser.add_subparsers`.
    :return: The subcommand's parser (its handler is set as `func`).
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "batch",
        help="Embed JSONL/Parquet files into Parquet (locally, on Dask or on Ray).",
        description="Embed the texts of JSONL or Parquet files into Parquet parts, in input order.",
    )
    parser.add_argument("model", help="Model folder or hub id (each worker loads it once).")
    parser.add_argument("inputs", nargs="+", help="Input files, folders or globs (.jsonl[.gz], .parquet).")
    parser.add_argument("--out", required=True, help="Output folder (part-NNNNN.parquet files and batch.json).")
    parser.add_argument("--text-column", default="text", help="Column holding the text (default: text).")
    parser.add_argument("--columns", help="Comma-separated columns copied to the output (e.g. id,label).")
    parser.add_argument("--backend", choices=BACKENDS, default="local", help="Where to run (default: local).")
    parser.add_argument("--scheduler", help="Dask scheduler or Ray address (default: a local cluster).")
    parser.add_argument("--max-length", type=int, default=512, help="Tokens per text; 0 for no limit.")
    parser.add_argument("--batch-size", type=int, default=1024, help="Texts per encode batch.")
    parser.add_argument(
        "--partition-mb", type=float, default=DEFAULT_PARTITION_BYTES / 2**20, help="Input MiB per task."
    )
    parser.add_argument("--overwrite", action="store_true", help="Replace --out if it exists.")
    parser.add_argument("--quiet", action="store_true", help="No progress on stderr.")
    parser.set_defaults(func=_batch_command)
    return parser
