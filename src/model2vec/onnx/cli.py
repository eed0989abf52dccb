"""The `model2vec export-onnx` command: a static model or a pipeline folder to an ONNX folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model2vec.onnx.graph import DEFAULT_OPSET, MIN_OPSET

# A pipeline folder holds its head next to the static model (see model2vec.inference).
PIPELINE_HEAD_FILE = "pipeline.skops"


def _export_command(args: argparse.Namespace) -> int:
    from model2vec import StaticModel
    from model2vec.onnx.files import export, export_pipeline

    if (Path(args.model) / PIPELINE_HEAD_FILE).is_file() and not args.encoder_only:
        from model2vec.inference import StaticModelPipeline

        pipeline = StaticModelPipeline.from_pretrained(args.model)
        written = export_pipeline(pipeline, args.out, opset=args.opset, padded=args.padded)
        kind = "regressor" if pipeline.is_regressor else f"classifier, {len(pipeline.classes_)} classes"
        print(f"Exported the pipeline {args.model} ({kind}, padded={args.padded}) to {written}")
        return 0
    model = StaticModel.from_pretrained(args.model)
    written = export(model, args.out, opset=args.opset, padded=args.padded)
    print(f"Exported {args.model} ({model.dim} dims, normalize={model.normalize}, padded={args.padded}) to {written}")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `export-onnx` subcommand to the `model2vec` command's subparsers.

    `model2vec export-onnx MODEL --out DIR [--opset N] [--padded] [--encoder-only]` loads MODEL (a folder
    or hub id) and calls `export`; a local pipeline folder (one with `pipeline.skops`) is exported with
    its head by `export_pipeline` unless `--encoder-only`. Importing this module does not import onnx;
    the command does, when it runs.

    :param subparsers: The object returned by `ArgumentParser.add_subparsers`.
    :return: The subcommand's parser (its handler is set as `func`).
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export-onnx",
        help="Export a static model or a pipeline to ONNX (onnx/model.onnx) with transformers.js tokenizer files.",
        description=(
            "Export a static model (embeddings) or a pipeline folder (class probabilities or regression "
            "values) to an ONNX folder loadable by onnxruntime, transformers.js and fastembed."
        ),
    )
    parser.add_argument("model", help="Model folder, pipeline folder or hub id.")
    parser.add_argument("--out", required=True, help="Folder to write (onnx/model.onnx, tokenizer files, config).")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset, >= {MIN_OPSET}.")
    parser.add_argument(
        "--padded",
        action="store_true",
        help="Padded input_ids + attention_mask [batch, seq] inputs (fastembed, transformers.js feature-extraction) "
        "instead of flat input_ids + offsets.",
    )
    parser.add_argument(
        "--encoder-only", action="store_true", help="For a pipeline folder: export only its static model."
    )
    parser.set_defaults(func=_export_command)
    return parser
