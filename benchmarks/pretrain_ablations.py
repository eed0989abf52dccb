"""Ablations of the English pre-training recipe, one change at a time, on the development suite.

    .venv/bin/python benchmarks/pretrain_ablations.py                        # every variant below
    .venv/bin/python benchmarks/pretrain_ablations.py --only "MSE loss" "lr 1e-2"

Reuses the featurised corpus (`models/family/corpus.features`: all-MiniLM-L6-v2 in bfloat16 where native
(`teacher_dtype='auto'`), corpus
paragraphs cut to 128 tokens, as `make models` writes it; a prefix of an unfinished featurisation is
enough for the variants that need fewer texts). The grid changes one thing at a time against today's
`make pretrain` recipe on the first 100,000 paragraphs; the corpus-size rows use 300k and all
paragraphs. The starting tables (the teacher distilled in its own space, with 0 / 10k / 30k / 56k
frequent words counted over the whole corpus) are cached in `models/family/bases/`, trained tables in
`models/family/ablation-tables/` (variants that differ only in PCA or SIF share one). Each variant
trains (`fit_to_targets`, seed 42), re-regularises (PCA to 256, SIF from corpus counts), stores float16
and is scored on every task of ../shared/data/eval.

Two comparisons need other targets or texts and run on the first 50,000 paragraphs (against the
default on the same 50,000): targets that are the mean of the teacher's output token vectors without
[CLS] and [SEP] (computed here, cached), and the same text cut into sentences (featurised here,
cached). The sentence rows at 100k and 300k paragraphs cut the paragraphs with the tokenizer alone
and reuse the sentences (and, for the last row, the spans) that `make models` featurises.

Writes `benchmarks/results/pretrain-ablations.json` (per type, train seconds, parameters) and prints
a Markdown table (`--only NONE` prints the table of earlier runs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from model2vec import StaticModel
from model2vec.distill import default_teacher_path, distill
from model2vec.evaluation import discover_tasks, evaluate_model, load_task
from model2vec.evaluation.data import resolve_data_dir
from model2vec.model import quantize_model
from model2vec.pretrain import TrainConfig, fit_to_targets, read_corpus, read_features, reregularize
from model2vec.pretrain.featurize import cut_stream
from model2vec.pretrain.sentences import sentences_of, word_spans
from model2vec.pretrain.vocabulary import frequent_new_words

ROOT = Path(__file__).resolve().parents[1]
FAMILY = ROOT / "models" / "family"
CORPUS = ROOT.parent / "shared" / "data" / "corpus"
RESULTS = ROOT / "benchmarks" / "results" / "pretrain-ablations.json"
TYPES = ["STS", "Classification", "PairClassification", "Clustering", "Retrieval"]
SMALL = 50_000


@dataclass(frozen=True)
class Variant:
    """One recipe: today's default with some knobs changed."""

    name: str
    texts: int | None = 300_000  # None: every featurised paragraph
    loss: str = "cosine"
    temperature: float = 0.07
    learning_rate: float = 5e-3
    new_words: int = 0
    train_dims: int | None = None  # None: train in the teacher's width, PCA afterwards
    keep_token_weights: bool = False
    self_distill: float = 0.0  # share of the first student's outputs in the second round's targets
    targets: str = "sentence"  # "sentence": the teacher's pooled vector; "tokens": mean of token outputs
    # "sentences": the same texts cut into sentences; "both": paragraphs and sentences; "sentences+spans":
    # the sentences plus one random 2-8 word span of every second sentence (`word_spans`, seed 0).
    corpus: str = "paragraphs"
    pca_dims: int = 256
    sif_coefficient: float | None = 1e-3
    drop_components: int = 0


GRID = 100_000
VARIANTS = [
    # Corpus size with today's recipe (`make pretrain` uses the first 300k).
    Variant("default (100k)", texts=GRID),
    Variant("default (300k)"),
    Variant("all 566k paragraphs", texts=None),
    # One change at a time against the default on the first 100k paragraphs.
    Variant("MSE loss", texts=GRID, loss="mse"),
    Variant("InfoNCE loss (t=0.07)", texts=GRID, loss="contrastive"),
    Variant("lr 1e-2", texts=GRID, learning_rate=1e-2),
    Variant("+10k words", texts=GRID, new_words=10_000),
    Variant("+30k words", texts=GRID, new_words=30_000),
    Variant("+56k words", texts=GRID, new_words=56_000),
    Variant("train at 256, no PCA after", texts=GRID, train_dims=256),
    Variant("learned token weights", texts=GRID, keep_token_weights=True),
    Variant("self-distillation (0.5)", texts=GRID, self_distill=0.5),
    Variant("SIF a=1e-4", texts=GRID, sif_coefficient=1e-4),
    Variant("SIF a=1e-2", texts=GRID, sif_coefficient=1e-2),
    Variant("no PCA (384 dims)", texts=GRID, pca_dims=384),
    Variant("drop 1 leading component", texts=GRID, drop_components=1),
    Variant("drop 4 leading components", texts=GRID, drop_components=4),
    # Other targets and other cuts of the text, on the first 50k paragraphs.
    Variant("default (50k)", texts=SMALL),
    Variant("token-mean targets (50k)", texts=SMALL, targets="tokens"),
    Variant("sentences of the 50k", texts=SMALL, corpus="sentences"),
    Variant("sentences of the 100k", texts=GRID, corpus="sentences"),
    Variant("paragraphs + sentences of the 100k", texts=GRID, corpus="both"),
    # More sentences, and short spans of them (the family's recipe), on the first 300k paragraphs.
    Variant("sentences of the 300k", corpus="sentences"),
    Variant("sentences + spans of the 300k", corpus="sentences+spans"),
]


def base_model(new_words: int) -> StaticModel:
    """The teacher distilled in its own space (float32, no PCA, no weights), with new words; cached."""
    folder = FAMILY / "bases" / f"words-{new_words}"
    if (folder / "model.safetensors").is_file():
        return StaticModel.from_pretrained(folder)
    words = None
    if new_words:
        # Words are counted over the whole corpus (a 100k-paragraph prefix has only ~16k words seen 5+ times).
        tokenizer = Tokenizer.from_file(str(default_teacher_path() / "tokenizer.json"))
        words = frequent_new_words(tokenizer, read_corpus(CORPUS), new_words)
    model = distill(
        default_teacher_path(), vocabulary=words, pca_dims=None, sif_coefficient=None, quantize_to="float32"
    )
    model.save_pretrained(folder)
    return model


def cut_paragraphs(count: int) -> list[str]:
    """The first `count` corpus paragraphs as the teacher sees them (cut to 128 tokens; tokenizer only)."""
    tokenizer = Tokenizer.from_file(str(default_teacher_path() / "tokenizer.json"))
    return list(cut_stream(tokenizer, read_corpus(CORPUS, limit=count), 128))


def span_features(sentences: list[str], paragraphs: int) -> tuple[list[str], np.ndarray]:
    """Featurise one 2-8 word span of every second sentence (as `make models`; cached, resumable)."""
    from model2vec.distill.teachers import load_teacher
    from model2vec.pretrain import featurize

    folder = FAMILY / f"spans-{paragraphs}-0.features"
    teacher = load_teacher(default_teacher_path(), teacher_dtype="auto")
    featurize(word_spans(sentences[0::2], seed=0), teacher, folder, max_length=128)
    return read_features(folder)


def sentence_features(paragraphs: list[str]) -> tuple[list[str], np.ndarray]:
    """Featurise the sentences of `paragraphs` with the teacher in bfloat16 (cached, resumable)."""
    from model2vec.distill.teachers import load_teacher
    from model2vec.pretrain import featurize

    folder = FAMILY / f"sentences-{len(paragraphs)}.features"
    sentences = list(sentences_of(paragraphs))
    teacher = load_teacher(default_teacher_path(), teacher_dtype="auto")
    featurize(sentences, teacher, folder, max_length=128)
    return read_features(folder)


def token_mean_targets(texts: list[str]) -> np.ndarray:
    """Mean of the teacher's output token vectors without [CLS]/[SEP] (bfloat16 teacher; cached)."""
    path = FAMILY / f"token-mean-{len(texts)}.npy"
    if path.is_file():
        return np.load(path)
    import torch

    from model2vec.distill.teachers import load_teacher
    from model2vec.pretrain.featurize import teacher_inputs

    info = load_teacher(default_teacher_path(), teacher_dtype="auto")
    ids, _ = teacher_inputs(info.tokenizer, texts, 128)
    lengths = np.array([len(i) for i in ids])
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(texts), info.teacher.width), dtype=np.float32)
    model = info.teacher.model
    with torch.inference_mode():
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            width = int(lengths[rows].max())
            batch = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            inner = np.zeros((len(rows), width), dtype=np.float32)
            for position, row in enumerate(rows):
                batch[position, : lengths[row]] = ids[row]
                mask[position, : lengths[row]] = 1
                inner[position, 1 : lengths[row] - 1] = 1.0  # the tokens between [CLS] and [SEP]
            hidden = model(torch.from_numpy(batch), torch.from_numpy(mask)).last_hidden_state.float().numpy()
            out[rows] = np.einsum("bl,bld->bd", inner, hidden) / np.maximum(inner.sum(1, keepdims=True), 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def train(variant: Variant, base: StaticModel, texts: list[str], targets: np.ndarray):
    """Train one round with the variant's loss."""
    config = TrainConfig(loss=variant.loss, learning_rate=variant.learning_rate, temperature=variant.temperature)
    return fit_to_targets(base, texts, targets, config, show_progress_bar=False)


def run_variant(variant: Variant, features: Path, tasks: list) -> dict:
    """Build one variant's model and score it."""
    base = base_model(variant.new_words)
    if variant.corpus in ("sentences", "sentences+spans"):
        # Sentences need only the cut paragraphs' text, not their features.
        if variant.texts is None:
            raise ValueError(f"{variant.name}: sentence corpora need a paragraph count.")
        texts, targets = sentence_features(cut_paragraphs(variant.texts))
        if variant.corpus == "sentences+spans":
            spans, span_targets = span_features(texts, variant.texts)
            texts, targets = texts + spans, np.concatenate([targets, span_targets])
    else:
        texts, targets = read_features(features, limit=variant.texts)
        if variant.texts is not None and len(texts) < variant.texts:
            raise ValueError(f"{features} holds {len(texts)} texts; {variant.name} needs {variant.texts}.")
    if variant.targets == "tokens":
        targets = token_mean_targets(texts)
    if variant.corpus == "both":
        sentences, sentence_targets = sentence_features(texts)
        texts, targets = texts + sentences, np.concatenate([targets, sentence_targets])
    start = time.perf_counter()
    projection = None
    if variant.train_dims is not None:
        # One linear map for the table and the targets keeps "mean of rows = text vector" exact.
        table = np.asarray(base.embedding, dtype=np.float32)
        _, _, vt = np.linalg.svd(table - table.mean(0), full_matrices=False)
        projection = vt[: variant.train_dims].T
        base = StaticModel(vectors=table @ projection, tokenizer=base.tokenizer, config=base.config, normalize=True)
        targets = targets @ projection
    # Variants that differ only after training (PCA, SIF) share one trained table.
    after = ("name", "pca_dims", "sif_coefficient", "drop_components")
    training_key = {k: v for k, v in asdict(variant).items() if k not in after}
    cache = (
        FAMILY
        / "ablation-tables"
        / (hashlib.sha256(json.dumps(training_key, sort_keys=True).encode()).hexdigest()[:16])
    )
    if (cache / "model.safetensors").is_file():
        trained = StaticModel.from_pretrained(cache)
        counts = np.load(cache / "token_counts.npy")
        record = json.loads((cache / "record.json").read_text())
    else:
        result = train(variant, base, texts, targets)
        if variant.self_distill:
            own = result.model.encode(texts)
            own /= np.maximum(np.linalg.norm(own, axis=1, keepdims=True), 1e-12)
            scaled = targets / np.maximum(np.linalg.norm(targets, axis=1, keepdims=True), 1e-12)
            mixed = (1.0 - variant.self_distill) * scaled + variant.self_distill * own
            result = train(variant, base, texts, mixed)
        trained = result.model if variant.keep_token_weights else result.unweighted_model()
        counts = result.token_counts
        record = {
            "train_s": time.perf_counter() - start,
            "epochs": result.history[-1]["epoch"],
            "best_validation_loss": result.best_validation_loss,
        }
        trained.save_pretrained(cache)
        np.save(cache / "token_counts.npy", counts)
        (cache / "record.json").write_text(json.dumps({**record, "key": training_key}))
    final = quantize_model(
        reregularize(trained, counts, variant.pca_dims, variant.sif_coefficient, variant.drop_components),
        quantize_to="float16",
    )
    scores = evaluate_model(final, tasks, name=variant.name)
    return {
        "variant": variant.name,
        "settings": asdict(variant),
        "train_s": record["train_s"],
        "epochs": record["epochs"],
        "best_validation_loss": record["best_validation_loss"],
        "texts": len(texts),
        "parameters": int(final.embedding.size),
        "type_scores": scores.type_scores(),
        "average": scores.average,
        "result": scores.as_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, default=FAMILY / "corpus.features")
    parser.add_argument("--only", nargs="+", help="Run only these variants.")
    args = parser.parse_args(argv)
    tasks = [load_task(spec) for spec in discover_tasks(resolve_data_dir(None))]
    for variant in VARIANTS:
        if args.only and variant.name not in args.only:
            continue
        row = run_variant(variant, args.features, tasks)
        print(f"{variant.name}: {row['average']:.2f} {row['type_scores']} {row['train_s']:.0f}s", flush=True)
        # Re-read before writing: several runs (--only) may share the file.
        rows = json.loads(RESULTS.read_text()).get("variants", {}) if RESULTS.is_file() else {}
        rows[variant.name] = row
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"variants": rows}, indent=2, default=str) + "\n")
    rows = json.loads(RESULTS.read_text()).get("variants", {}) if RESULTS.is_file() else {}
    print("\n| Variant | " + " | ".join(TYPES) + " | Average | Parameters | Train s |")
    print("|---|" + "---:|" * (len(TYPES) + 3))
    for variant in VARIANTS:
        row = rows.get(variant.name)
        if row is None:
            continue
        cells = " | ".join(f"{row['type_scores'].get(t, float('nan')):.2f}" for t in TYPES)
        size = f"{row['parameters'] / 1e6:.1f}M"
        print(f"| {variant.name} | {cells} | {row['average']:.2f} | {size} | {row['train_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
