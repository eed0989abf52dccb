"""The `model2vec batch` subcommand."""

from __future__ import annotations

import argparse
from typing import Any

from model2vec.batch.engines import BACKENDS
from model2vec.batch.job import embed_files
from model2vec.batch.planning import DEFAULT_PARTITION_BYTES


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
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="Replace --out if it is an earlier output of this command (nothing else is deleted).",
    )
    parser.add_argument("--quiet", action="store_true", help="No progress on stderr.")
    parser.set_defaults(func=_batch_command)
    return parser
