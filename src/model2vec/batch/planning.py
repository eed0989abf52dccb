"""Cutting the input files of a batch job into partitions, one task each."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from model2vec.batch.readers import Partition, file_kind, pyarrow_module

DEFAULT_PARTITION_BYTES = 32 * 2**20


def plan_partitions(
    files: Sequence[Path], text_column: str, columns: tuple[str, ...], partition_bytes: int
) -> list[Partition]:
    """Split files into partitions of about `partition_bytes`; Parquet schemas are checked here.

    JSONL files are cut into byte ranges (a gzipped file is one partition); Parquet files into runs of
    consecutive row groups.

    :raises ValueError: If a Parquet file is unreadable or lacks a column.
    """
    pa = pyarrow_module()
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
