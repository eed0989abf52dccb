"""The `model2vec` command: parses arguments, calls the library, prints results."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

DEMO_SENTENCES = [
    "The cat sat on the mat.",
    "A kitten is resting on a rug.",
    "Stock markets fell sharply on Monday.",
    "Investors sold shares as prices dropped.",
    "How do I bake sourdough bread?",
]


def similarity_table(labels: Sequence[str], embeddings: np.ndarray, width: int = 28) -> str:
    """Format a cosine-similarity matrix as a text table.

    :param labels: One label per row of `embeddings`.
    :param embeddings: `(n, dim)` vectors (normalised here; zero rows give zero similarity).
    :param width: Characters of each label to show.
    :return: The table text.
    """
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    unit = embeddings / np.where(norms > 0, norms, 1.0)
    sims = unit @ unit.T
    short = [label if len(label) <= width else label[: width - 1] + "…" for label in labels]
    header = " " * (width + 2) + " ".join(f"{i:>6}" for i in range(len(labels)))
    rows = [f"{i} {s:<{width}} " + " ".join(f"{v:6.3f}" for v in sims[i]) for i, s in enumerate(short)]
    return "\n".join([header, *rows])


def _demo(args: argparse.Namespace) -> int:
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(args.model)
    sentences = args.sentence or DEMO_SENTENCES
    embeddings = model.encode(sentences)
    print(f"Loaded {args.model}: {model}")
    print(f"Encoded {len(sentences)} sentences -> {embeddings.shape} {embeddings.dtype}\n")
    print(similarity_table(sentences, embeddings))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the `model2vec` command."""
    parser = argparse.ArgumentParser(prog="model2vec", description="Static embedding models.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="Load a model, encode a few sentences, print their similarities.")
    demo.add_argument("--model", required=True, help="Model folder or hub id.")
    demo.add_argument("--sentence", action="append", help="A sentence to encode (repeatable).")
    demo.set_defaults(func=_demo)
    # The subpackages register their own commands; registering imports nothing heavy.
    from model2vec.distill.cli import register as register_distill
    from model2vec.evaluation.cli import register as register_evaluate
    from model2vec.onnx import register as register_onnx

    register_distill(commands)
    register_evaluate(commands)
    register_onnx(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `model2vec` command.

    :param argv: Arguments (defaults to `sys.argv[1:]`).
    :return: The exit status.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (FileNotFoundError, NotADirectoryError, ValueError, TypeError, ImportError) as error:
        print(f"model2vec: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
