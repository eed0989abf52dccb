"""Input files of a batch job: finding them, and reading a partition's rows from JSONL or Parquet."""

from __future__ import annotations

import fnmatch
import glob
import gzip
import json
import os
import zlib
from collections.abc import Generator, Sequence
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


def glob_patterns(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """Return the glob patterns among `inputs`, absolute, with symlinks resolved in their literal leading folders."""
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    patterns = []
    for item in items:
        text = os.fspath(item)
        if not glob.has_magic(text):
            continue
        parts = Path(os.path.abspath(text)).parts
        literal = next(i for i, part in enumerate(parts) if glob.has_magic(part))
        patterns.append(str(Path(*parts[:literal]).resolve().joinpath(*parts[literal:])))
    return patterns


def glob_reaches(pattern: str, path: Path) -> bool:
    """Whether the absolute glob `pattern` (as `resolve_inputs` expands it, `**` recursive) matches `path`.

    Matching is per path segment with `fnmatch`, so it errs towards True: it also matches names
    starting with a dot, which `glob` skips.
    """

    def match(pattern_parts: tuple[str, ...], path_parts: tuple[str, ...]) -> bool:
        if not pattern_parts:
            return not path_parts
        head, rest = pattern_parts[0], pattern_parts[1:]
        if head == "**":
            return any(match(rest, path_parts[i:]) for i in range(len(path_parts) + 1))
        return bool(path_parts) and fnmatch.fnmatchcase(path_parts[0], head) and match(rest, path_parts[1:])

    return match(Path(pattern).parts, path.parts)


def open_text(path: str) -> IO[bytes]:
    """Open a JSONL file for binary reading, decompressing a `.gz` one."""
    if path.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile is a binary IO
    return open(path, "rb")


def jsonl_lines(part: Partition) -> Generator[tuple[int, bytes], None, None]:
    """(byte offset, line) of every non-blank line whose first byte lies in the partition's range.

    A line belongs to the partition its first byte falls in, so consecutive ranges cover every line
    exactly once, whatever the range boundaries. Offsets of gzipped files are positions in the
    decompressed stream.

    :raises ValueError: If the file cannot be read, or its gzip data is truncated or corrupt (the
        message names the file and the last line read whole, or the byte offset).
    """
    position, lines = part.start, 0
    try:
        with open_text(part.path) as stream:
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
                lines += 1
    except (EOFError, OSError, zlib.error) as error:
        # gzip raises EOFError (truncated), zlib.error (corrupt) or BadGzipFile, none naming the file.
        if part.path.lower().endswith(".gz"):
            where = f"after line {lines}" if part.start == 0 else f"at decompressed byte {position}"
            raise ValueError(f"{part.path}: truncated or corrupt gzip data {where} ({error}).") from error
        raise ValueError(f"{part.path}: cannot read at byte {position} ({error}).") from error


def count_rows(part: Partition) -> int:
    """Count a partition's rows (non-blank lines for JSONL; from the metadata for Parquet).

    :raises ValueError: If the file cannot be read (the message names it).
    """
    if part.kind == "jsonl":
        return sum(1 for _ in jsonl_lines(part))
    pa = pyarrow_module()
    try:
        metadata = pa.parquet.ParquetFile(part.path).metadata
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"{part.path}: not a readable Parquet file ({error}).") from error
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
        except RecursionError as error:
            raise ValueError(f"{part.path}: the line at byte {position} is nested too deeply to parse.") from error
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
        whole = Partition(str(path), "jsonl", 0, -1, 0)
        lines = jsonl_lines(whole)
        try:
            first = next(lines, None)
        finally:
            lines.close()
        if first is None:
            continue
        position = first[0]
        head = Partition(str(path), "jsonl", position, position + 1, 0)  # owns exactly the first line
        try:
            read_jsonl(head, text_column, columns)
        except ValueError as error:
            raise ValueError(str(error).replace(f"the line at byte {position}", "the first line")) from error
