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

Output is written to a marked staging folder next to `output` and moved into place at the end, so a
failed job leaves no partial output (a killed job's staging folder is removed by the next job). An
output that is or contains an input is refused, and `overwrite` replaces only an earlier output (its
`batch.json` and the parts it lists). dask/distributed, pyarrow and ray are imported only when used;
this package is not imported by `import model2vec`.

Modules: `readers` (finding inputs, reading a partition), `planning` (cutting files into partitions),
`tasks` (the per-partition task), `engines` (local, Dask, Ray), `staging` (staging folders and their
cleanup), `output` (location checks, manifest, moving the output into place, reading it back), `job`
(`embed_files`), `cli` (the `model2vec batch` command).
"""

from model2vec.batch.cli import register
from model2vec.batch.engines import BACKENDS, RAY_INSTALL, Progress, import_ray
from model2vec.batch.job import embed_files
from model2vec.batch.output import MANIFEST, BatchResult, read_embeddings
from model2vec.batch.planning import DEFAULT_PARTITION_BYTES, plan_partitions
from model2vec.batch.readers import (
    BATCH_EXTRA,
    JSONL_SUFFIXES,
    PARQUET_SUFFIXES,
    Partition,
    count_rows,
    file_kind,
    resolve_inputs,
)
from model2vec.batch.tasks import EMBEDDING_COLUMN, PART_NAME, ROW_COLUMN, JobSettings, cached_model, embed_partition

__all__ = [
    "BACKENDS",
    "BATCH_EXTRA",
    "DEFAULT_PARTITION_BYTES",
    "EMBEDDING_COLUMN",
    "JSONL_SUFFIXES",
    "MANIFEST",
    "PARQUET_SUFFIXES",
    "PART_NAME",
    "RAY_INSTALL",
    "ROW_COLUMN",
    "BatchResult",
    "JobSettings",
    "Partition",
    "Progress",
    "cached_model",
    "count_rows",
    "embed_files",
    "embed_partition",
    "file_kind",
    "import_ray",
    "plan_partitions",
    "read_embeddings",
    "register",
    "resolve_inputs",
]
