"""The `model2vec distill` subcommand: parse arguments, call `distill`, save the model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _pca_dims(value: str) -> int | float | str | None:
    """Parse --pca-dims: an int, a float in (0, 1), "auto" or "none"."""
    lowered = value.lower()
    if lowered == "none":
        return None
    if lowered == "auto":
        return "auto"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an int, a float in (0, 1), 'auto' or 'none', got {value!r}"
        ) from None


def _sif(value: str) -> float | None:
    """Parse --sif-coefficient: a float, or "none" to disable weighting."""
    if value.lower() == "none":
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float or 'none', got {value!r}") from None


def read_vocabulary(path: str | Path) -> list[str]:
    """Read a vocabulary file: one word or phrase per line; blank lines and surrounding spaces are dropped.

    :param path: The file (UTF-8).
    :return: The entries in file order.
    :raises FileNotFoundError: If the file does not exist.
    """
    with Path(path).open(encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `distill` subcommand to the `model2vec` command's subparsers.

    :param subparsers: The object returned by `ArgumentParser.add_subparsers`.
    :return: The subcommand's parser (its handler is set as `func`).
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "distill",
        help="Distill a static model from a sentence-transformer, transformers or ONNX teacher.",
        description="Distill a static model and save it to a folder.",
    )
    parser.add_argument(
        "model",
        nargs="?",
        default=None,
        help="Teacher: a model folder, an .onnx file or folder, or a hub id (default: the packaged all-MiniLM-L6-v2).",
    )
    # Upstream model2vec's `python -m model2vec.distill` flags are accepted as aliases.
    parser.add_argument("--model-name", dest="model_name", default=None, help="The teacher, as an option.")
    parser.add_argument("--out", "--save-path", dest="out", required=True, help="Folder to write the static model to.")
    parser.add_argument(
        "--pca-dims", type=_pca_dims, default=256, help="int, float in (0,1), 'auto' or 'none' (default 256)."
    )
    parser.add_argument("--sif-coefficient", type=_sif, default=1e-4, help="SIF weight coefficient or 'none'.")
    parser.add_argument(
        "--vocabulary",
        "--vocabulary-path",
        dest="vocabulary",
        metavar="FILE",
        help="Extra words/phrases, one per line.",
    )
    parser.add_argument("--word-level", action="store_true", help="Keep only the words of --vocabulary.")
    parser.add_argument("--token-remove-pattern", default=r"\[unused\d+\]", help="Regex of tokens to drop.")
    parser.add_argument("--keep-all-tokens", action="store_true", help="Do not remove any token by pattern.")
    parser.add_argument("--quantize-to", default="float16", help="float16 (default), float32, float64 or int8.")
    parser.add_argument("--vocabulary-quantization", type=int, default=None, help="Number of k-means clusters.")
    parser.add_argument("--pooling", default="mean", help="mean, first, last, max, pooler or teacher.")
    parser.add_argument("--device", default=None, help="Torch device (default: cuda when available, else cpu).")
    parser.add_argument(
        "--teacher-dtype", default="float32", choices=("float32", "bfloat16", "auto"), help="Torch teachers only."
    )
    parser.add_argument("--batch-size", type=int, default=256, help="Tokens per forward pass.")
    parser.add_argument("--trust-remote-code", action="store_true", help="Allow custom modelling code.")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the subcommand: distill, save, print a summary.

    :param args: Parsed arguments from the parser built by `register`.
    :return: 0 on success (errors propagate as exceptions for the main command to report).
    """
    from model2vec.distill import distill

    if args.model is not None and args.model_name is not None and args.model != args.model_name:
        raise ValueError(f"Two teachers given: {args.model!r} and --model-name {args.model_name!r}; pass one.")
    vocabulary = read_vocabulary(args.vocabulary) if args.vocabulary else None
    model = distill(
        args.model if args.model is not None else args.model_name,
        vocabulary=vocabulary,
        device=args.device,
        pca_dims=args.pca_dims,
        sif_coefficient=args.sif_coefficient,
        token_remove_pattern=None if args.keep_all_tokens else args.token_remove_pattern,
        trust_remote_code=args.trust_remote_code,
        quantize_to=args.quantize_to,
        vocabulary_quantization=args.vocabulary_quantization,
        pooling=args.pooling,
        word_level=args.word_level,
        teacher_dtype=args.teacher_dtype,
        batch_size=args.batch_size,
        show_progress_bar=not args.no_progress,
    )
    folder = model.save_pretrained(args.out)
    print(f"Distilled {model.base_model_name}: {model} -> {folder}")
    return 0
