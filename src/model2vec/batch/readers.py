"""Input files of a batch job: finding them, and reading a partition's rows from JSONL or Parquet."""

from __future__ import annotations

import glob
import gzip
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
BATCH_EXTRA = 'pip install "model2vec[batch]"'


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


def pyarrow_module() -> Any:
    """Return `pyarrow` with `pyarrow.parquet` imported.

    :raises ImportError: Naming the pip install when pyarrow is absent.
    """
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


def open_text(path: str) -> IO[bytes]:
    """Open a JSONL file for binary reading, decompressing a `.gz` one."""
    if path.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile is a binary IO
    return open(path, "rb")


def jsonl_lines(part: Partition) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) of every non-blank line whose first byte lies in the partition's range.

    A line belongs to the partition its first byte falls in, so consecutive ranges cover every line
    exactly once, whatever the range boundaries. Offsets of gzipped files are positions in the
    decompressed stream.
    """
    with open_text(part.path) as stream:
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
        return sum(1 for _ in jsonl_lines(part))
    metadata = pyarrow_module().parquet.ParquetFile(part.path).metadata
    return sum(metadata.row_group(i).num_rows for i in range(part.start, part.stop))


def read_jsonl(part: Partition, text_column: str, columns: tuple[str, ...]) -> tuple[list[Any], dict[str, list[Any]]]:
    """Read a JSONL partition's texts and passthrough columns.

    :raises ValueError: If a line is not a JSON object or lacks a column (the message gives its byte offset).
    """
    texts: list[Any] = []
    passthrough: dict[str, list[Any]] = {name: [] for name in columns}
    for position, line in jsonl_lines(part):
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


def read_parquet(part: Partition, text_column: str, columns: tuple[str, ...]) -> tuple[list[Any], dict[str, Any]]:
    """Read a Parquet partition's texts (a list) and passthrough columns (pyarrow arrays).

    :raises ValueError: If the row groups cannot be read.
    """
    pa = pyarrow_module()
    try:
        table = pa.parquet.ParquetFile(part.path).read_row_groups(
            list(range(part.start, part.stop)), columns=[text_column, *columns]
        )
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"{part.path}: cannot read row groups {part.start}-{part.stop - 1} ({error}).") from error
    return table.column(text_column).to_pylist(), {name: table.column(name) for name in columns}


def check_jsonl_heads(files: Sequence[Path], text_column: str, columns: tuple[str, ...]) -> None:
    """Fail fast on the first record of each JSONL file, before any cluster work starts.

    :raises ValueError: If a file is unreadable or its first record is invalid or lacks a column.
    """
    for path in files:
        if file_kind(path) != "jsonl":
            continue
        try:
            with open_text(str(path)) as stream:
                line = next((line for line in stream if line.strip()), None)
        except OSError as error:
            raise ValueError(f"{path}: cannot read ({error}).") from error
        if line is None:
            continue
        head = Partition(str(path), "jsonl", 0, len(line), 0)
        try:
            read_jsonl(head, text_column, columns)
        except ValueError as error:
            raise ValueError(str(error).replace("the line at byte 0", "the first line")) from error
