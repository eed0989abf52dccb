"""Regression, pair and retrieval training measured against the frozen model they start from.

Every trained model starts from the same static model (default `models/minilm-distilled`) and is
scored on a dev-suite test split that no training or tuning step sees:

- regression: STS-B train pairs -> the pair's 0-5 score, predicted from the pair written as one text
  (`sentence1 + " " + sentence2`); StaticModelForRegression vs scikit-learn RidgeCV on the frozen
  embeddings of the same texts; STS-B test Spearman (and RMSE);
- pairs: mrpc / qqp_subset train -> StaticModelForPairSimilarity; test average precision of the cosine
  (the dev suite's PairClassification score) vs the frozen model's cosine;
- retrieval: SciFact train queries and their cited abstracts -> StaticModelForRetrieval; SciFact test
  nDCG@10 vs frozen, with the whole dev suite for both models so a collapse elsewhere shows.

`tune` picks settings from validation splits carved out of the training data only (a seeded part of
the train queries or pairs); it never reads a test split. Subcommands:

    .venv/bin/python benchmarks/train_heads.py all                 # the table in docs/training.md
    .venv/bin/python benchmarks/train_heads.py retrieval --learning-rate 0.05
    .venv/bin/python benchmarks/train_heads.py tune retrieval --learning-rates 1e-3 1e-2 0.05

Runs with one CPU thread by default (`--threads`). Writes `benchmarks/results/train_heads.json`
(sections are merged, so subcommands can be run one by one) and prints a markdown table and the
command that reproduces it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _limit_threads(argv: Sequence[str]) -> int:
    """Set thread-count variables before numpy, torch or tokenizers start their pools."""
    threads = 1
    if "--threads" in argv:
        threads = int(argv[list(argv).index("--threads") + 1])
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    if threads == 1:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return threads


THREADS = _limit_threads(sys.argv)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "eval"
DEFAULT_MODEL = ROOT / "models" / "minilm-distilled"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "train_heads.json"
SEED = 42
PAIR_TASKS = ("mrpc", "qqp_subset")


# -- data ---------------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_pairs(path: Path, field: str) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Read `{"sentence1", "sentence2", field}` rows as pairs and a float array."""
    rows = read_jsonl(path)
    return [(r["sentence1"], r["sentence2"]) for r in rows], np.asarray([float(r[field]) for r in rows])


def joined(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """A pair as one text, the regressor's input."""
    return [f"{a} {b}" for a, b in pairs]


def scifact_train(data: Path) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    """SciFact corpus texts, query texts and the train split's judgements (query id -> relevant doc ids).

    Document text is `title + " " + text`, as the dev suite's retrieval task encodes it. Only
    `qrels/train.tsv` is read.
    """
    from model2vec.evaluation.data import read_qrels

    folder = data / "retrieval" / "scifact"
    corpus = {
        str(d["_id"]): (str(d.get("title") or "") + " " + d["text"]).strip()
        for d in read_jsonl(folder / "corpus.jsonl")
    }
    queries = {str(q["_id"]): q["text"] for q in read_jsonl(folder / "queries.jsonl")}
    qrels = read_qrels(folder / "qrels" / "train.tsv")
    judged = {q: [d for d, score in docs.items() if score > 0] for q, docs in qrels.items()}
    return corpus, queries, {q: docs for q, docs in judged.items() if docs}


def split_queries(query_ids: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of query ids into (train, validation), by query so no query is on both sides."""
    order = np.random.default_rng(seed).permutation(len(query_ids))
    n_val = max(1, round(fraction * len(query_ids)))
    ids = list(query_ids)
    return [ids[i] for i in sorted(order[n_val:])], [ids[i] for i in sorted(order[:n_val])]


def hard_negatives(
    model: Any,
    corpus: dict[str, str],
    queries: dict[str, str],
    judged: dict[str, list[str]],
    rank: int,
    seed: int,
) -> dict[str, str]:
    """One mined negative per query: a corpus abstract the frozen model ranks near the top, not judged relevant.

    Ranks `rank` to `rank + 9` of the frozen model's ranking (skipping the very top lowers the chance of
    an unjudged relevant abstract); one of them is drawn with the seed. Only train judgements are used.
    """
    doc_ids = list(corpus)
    documents = model.encode([corpus[d] for d in doc_ids])
    documents /= np.linalg.norm(documents, axis=1, keepdims=True) + 1e-12
    query_ids = list(judged)
    vectors = model.encode([queries[q] for q in query_ids])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    rng = np.random.default_rng(seed)
    result: dict[str, str] = {}
    for q, row in zip(query_ids, vectors @ documents.T, strict=True):
        ranked = [doc_ids[i] for i in np.argsort(-row)[: rank + 10 + len(judged[q])] if doc_ids[i] not in judged[q]]
        window = ranked[rank : rank + 10]
        result[q] = window[int(rng.integers(len(window)))]
    return result


def retrieval_items(
    ids: Sequence[str],
    corpus: dict[str, str],
    queries: dict[str, str],
    judged: dict[str, list[str]],
    negatives: dict[str, str] | None,
) -> list[tuple[str, ...]]:
    """`(query, cited abstract[, mined negative])` items, one per judged (query, document)."""
    items: list[tuple[str, ...]] = []
    for q in ids:
        for d in judged[q]:
            items.append(
                (queries[q], corpus[d]) if negatives is None else (queries[q], corpus[d], corpus[negatives[q]])
            )
    return items


def corpus_ndcg(model: Any, corpus: dict[str, str], queries: dict[str, str], qrels: dict[str, list[str]]) -> float:
    """nDCG@10 (%) of the queries in `qrels` searching the whole SciFact corpus with `model`.

    Uses the dev suite's retrieval scoring. With train judgements it is the tuning signal; with test
    judgements it splits the test score into query groups (analysis only, after training).
    """
    from model2vec.evaluation import EmbeddingLookup, EvaluationSettings, RetrievalTask, TaskSpec, TaskType
    from model2vec.evaluation.data import RetrievalData

    doc_ids, ids = list(corpus), list(qrels)
    data = RetrievalData(
        doc_ids,
        [corpus[d] for d in doc_ids],
        ids,
        [queries[q] for q in ids],
        {q: {d: 1.0 for d in qrels[q]} for q in ids},
    )
    spec = TaskSpec(name="scifact-subset", type=TaskType.RETRIEVAL, path=Path("."))
    task = RetrievalTask(spec, EvaluationSettings(), data)
    texts = task.texts()
    return float(task.score(EmbeddingLookup(texts, model.encode(texts)))["main_score"])


def seen_breakdown(
    models: dict[str, Any], data: Path, corpus: dict[str, str], queries: dict[str, str], judged: dict[str, list[str]]
) -> dict[str, Any]:
    """SciFact test nDCG@10 of each model for test queries whose relevant abstracts were (not) cited in train.

    SciFact builds several claims from one abstract, so many test claims cite an abstract that train
    claims cite too. This splits the test score by that, to show how much of the gain carries over to
    abstracts training never saw. Read after training; it decides nothing.
    """
    from model2vec.evaluation.data import read_qrels

    cited = {d for docs in judged.values() for d in docs}
    test = {
        q: [d for d, s in docs.items() if s > 0]
        for q, docs in read_qrels(data / "retrieval" / "scifact" / "qrels" / "test.tsv").items()
    }
    groups = {
        "cited_in_train": {q: docs for q, docs in test.items() if set(docs) & cited},
        "not_cited_in_train": {q: docs for q, docs in test.items() if not set(docs) & cited},
    }
    return {
        group: {
            "queries": len(qrels),
            **{name: round(corpus_ndcg(m, corpus, queries, qrels), 2) for name, m in models.items()},
        }
        for group, qrels in groups.items()
    }


# -- the dev suite ----------------------------------------------------------------------------------


def dev_suite(model: Any, data: Path, name: str, only: Sequence[str] | None = None) -> dict[str, Any]:
    """Evaluate a static model on the dev suite (or some of its tasks) with `model2vec.evaluation`."""
    from model2vec.evaluation import discover_tasks, evaluate_model, load_task, select_tasks, wrap_encoder

    specs = discover_tasks(data)
    if only:
        specs = select_tasks(specs, only)
    result = evaluate_model(wrap_encoder(model, name), [load_task(spec) for spec in specs])
    return {
        "tasks": {task: round(r.main_score, 2) for task, r in result.tasks.items()},
        "type_scores": {t: round(s, 2) for t, s in result.type_scores().items()},
        "average": None if result.average is None else round(result.average, 2),
    }


def trained_model(trainer: Any) -> Any:
    """The exported static model of a trained pair or retrieval model."""
    return trainer.to_static_model()


def timed(run: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Run and time `run(*args, **kwargs)`."""
    start = time.perf_counter()
    value = run(*args, **kwargs)
    return value, time.perf_counter() - start


def history_summary(history: dict[str, Any]) -> dict[str, Any]:
    """Epochs run, best epoch (1-based) and the validation scores."""
    return {
        "epochs": len(history["val_score"]),
        "best_epoch": int(history["best_epoch"]) + 1,
        "val_score": [round(float(s), 4) for s in history["val_score"]],
    }


def fit_kwargs(args: argparse.Namespace, retrieval: bool = False) -> dict[str, Any]:
    """Keyword arguments of a trainer's `fit` that the command line sets (the rest keep their defaults).

    :param args: The parsed command line.
    :param retrieval: Add the retrieval-only settings (temperature, batch size, Matryoshka dimensions).
    """
    kwargs: dict[str, Any] = {"random_seed": args.seed, "device": "cpu", "show_progress_bar": False}
    names = (
        ("learning_rate", "max_epochs", "temperature", "batch_size") if retrieval else ("learning_rate", "max_epochs")
    )
    for name in names:
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    if retrieval and args.matryoshka:
        kwargs["matryoshka_dims"] = args.matryoshka
    return kwargs


# -- regression -------------------------------------------------------------------------------------


def run_regression(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """STS-B: ridge on frozen embeddings of the joined pair vs StaticModelForRegression, STS-B test."""
    from scipy.stats import spearmanr
    from sklearn.linear_model import RidgeCV

    from model2vec.train import StaticModelForRegression

    data = Path(args.data) / "sts"
    train_pairs, train_scores = read_pairs(data / "stsb.train.jsonl", "score")
    test_pairs, test_scores = read_pairs(data / "stsb.test.jsonl", "score")
    train_texts, test_texts = joined(train_pairs), joined(test_pairs)

    def ridge() -> Any:
        # The penalty is chosen by RidgeCV's leave-one-out on the training texts only.
        return RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(model.encode(train_texts), train_scores)

    ridge_model, ridge_seconds = timed(ridge)
    ridge_pred = ridge_model.predict(model.encode(test_texts))

    def fine_tune(freeze: bool) -> Any:
        regressor = StaticModelForRegression.from_static_model(model=model, freeze=freeze)
        return regressor.fit(train_texts, train_scores, **fit_kwargs(args))

    # Two variants: table and head trained together (the trainer's default), and the head alone on the
    # frozen table, which `tune regression` found better on held-out train pairs.
    variants: dict[str, Any] = {}
    for name, freeze in (("trained", False), ("trained_head_only", True)):
        regressor, seconds = timed(fine_tune, freeze)
        variants[name] = (regressor.to_pipeline().predict(test_texts), seconds, regressor.history)

    def scores(values: np.ndarray) -> dict[str, float]:
        return {
            "spearman": round(100 * float(spearmanr(values, test_scores).statistic), 2),
            "rmse": round(float(np.sqrt(np.mean((values - test_scores) ** 2))), 4),
        }

    return {
        "task": "STS-B score from the joined pair",
        "metric": "Spearman (STS-B test)",
        "train_size": len(train_texts),
        "test_size": len(test_texts),
        "frozen": {**scores(ridge_pred), "train_seconds": round(ridge_seconds, 1), "alpha": float(ridge_model.alpha_)},
        **{
            name: {**scores(predicted), "train_seconds": round(seconds, 1), **history_summary(history)}
            for name, (predicted, seconds, history) in variants.items()
        },
        "settings": fit_kwargs(args),
    }


# -- pairs ------------------------------------------------------------------------------------------


def run_pairs(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """mrpc / qqp_subset: frozen cosine vs StaticModelForPairSimilarity, test average precision."""
    from model2vec.train import StaticModelForPairSimilarity

    data = Path(args.data)
    results: dict[str, Any] = {}
    for task in args.pair_tasks:
        train_pairs, train_labels = read_pairs(data / "pair_classification" / f"{task}.train.jsonl", "label")
        frozen = dev_suite(model, data, "frozen", [task])["tasks"][task]

        def fine_tune(pairs: list[tuple[str, str]], labels: np.ndarray) -> Any:
            trainer = StaticModelForPairSimilarity.from_static_model(model=model)
            return trainer.fit(pairs, labels.astype(int), **fit_kwargs(args))

        trainer, seconds = timed(fine_tune, train_pairs, train_labels)
        trained = dev_suite(trained_model(trainer), data, "trained", [task])["tasks"][task]
        results[task] = {
            "metric": "average precision of the cosine (test)",
            "train_size": len(train_pairs),
            "frozen": {"ap": frozen},
            "trained": {"ap": trained, "train_seconds": round(seconds, 1), **history_summary(trainer.history)},
            "settings": fit_kwargs(args),
        }
        print(f"{task}: {json.dumps(results[task])}", file=sys.stderr, flush=True)
    return results


# -- retrieval --------------------------------------------------------------------------------------


def run_retrieval(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """SciFact train -> StaticModelForRetrieval; the whole dev suite for the frozen and the trained model."""
    from model2vec.train import StaticModelForRetrieval

    data = Path(args.data)
    corpus, queries, judged = scifact_train(data)
    negatives = (
        hard_negatives(model, corpus, queries, judged, args.negative_rank, args.seed) if args.hard_negatives else None
    )
    items = retrieval_items(list(judged), corpus, queries, judged, negatives)

    def fine_tune() -> Any:
        trainer = StaticModelForRetrieval.from_static_model(model=model)
        return trainer.fit(items, **fit_kwargs(args, retrieval=True))

    trainer, seconds = timed(fine_tune)
    exported = trained_model(trainer)
    frozen = dev_suite(model, data, "frozen")
    trained = dev_suite(exported, data, "trained")
    breakdown = seen_breakdown({"frozen": model, "trained": exported}, data, corpus, queries, judged)
    return {
        "metric": "nDCG@10 (SciFact test)",
        "train_items": len(items),
        "train_queries": len(judged),
        "hard_negatives": negatives is not None,
        "frozen": {"ndcg@10": frozen["tasks"]["scifact"], "dev_suite": frozen},
        "trained": {
            "ndcg@10": trained["tasks"]["scifact"],
            "dev_suite": trained,
            "train_seconds": round(seconds, 1),
            **history_summary(trainer.history),
        },
        "test_by_train_citation": breakdown,
        "settings": {**fit_kwargs(args, retrieval=True), "negative_rank": args.negative_rank if negatives else None},
    }


# -- tuning (train splits only) ---------------------------------------------------------------------


def tune(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Score each learning rate on a validation part of the training data; no test split is read."""
    from scipy.stats import spearmanr
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import average_precision_score

    from model2vec.train import StaticModelForPairSimilarity, StaticModelForRegression, StaticModelForRetrieval

    data = Path(args.data)
    rows: list[dict[str, Any]] = []
    if args.trainer == "retrieval":
        corpus, queries, judged = scifact_train(data)
        fit_ids, val_ids = split_queries(list(judged), args.val_fraction, args.seed)
        fit_judged = {q: judged[q] for q in fit_ids}
        negatives = (
            hard_negatives(model, corpus, queries, fit_judged, args.negative_rank, args.seed)
            if args.hard_negatives
            else None
        )
        items = retrieval_items(fit_ids, corpus, queries, judged, negatives)
        rows.append(
            {"learning_rate": None, "val": corpus_ndcg(model, corpus, queries, {q: judged[q] for q in val_ids})}
        )
        for lr in args.learning_rates:
            args.learning_rate = lr
            trainer, seconds = timed(
                lambda: StaticModelForRetrieval.from_static_model(model=model).fit(
                    items, **fit_kwargs(args, retrieval=True)
                )
            )
            score = corpus_ndcg(trainer.to_static_model(), corpus, queries, {q: judged[q] for q in val_ids})
            rows.append(
                {"learning_rate": lr, "val": score, "seconds": round(seconds, 1), **history_summary(trainer.history)}
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        metric = "nDCG@10 of held-out train queries over the whole corpus"
    elif args.trainer == "pairs":
        for task in args.pair_tasks:
            pairs, labels = read_pairs(data / "pair_classification" / f"{task}.train.jsonl", "label")
            order = np.random.default_rng(args.seed).permutation(len(pairs))
            n_val = round(args.val_fraction * len(pairs))
            val, fit = order[:n_val], order[n_val:]
            fit_pairs, val_pairs = [pairs[i] for i in fit], [pairs[i] for i in val]
            frozen = StaticModelForPairSimilarity.from_static_model(model=model)
            rows.append(
                {
                    "task": task,
                    "learning_rate": None,
                    "val": 100 * frozen.evaluate(val_pairs, labels[val])["average_precision"],
                }
            )
            for lr in args.learning_rates:
                args.learning_rate = lr
                trainer, seconds = timed(
                    StaticModelForPairSimilarity.from_static_model(model=model).fit,
                    fit_pairs,
                    labels[fit].astype(int),
                    **fit_kwargs(args),
                )
                score = 100 * float(average_precision_score(labels[val], trainer.similarity(val_pairs)))
                rows.append(
                    {
                        "task": task,
                        "learning_rate": lr,
                        "val": score,
                        "seconds": round(seconds, 1),
                        **history_summary(trainer.history),
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        metric = "average precision on a held-out part of train"
    else:
        pairs, scores = read_pairs(data / "sts" / "stsb.train.jsonl", "score")
        order = np.random.default_rng(args.seed).permutation(len(pairs))
        n_val = round(args.val_fraction * len(pairs))
        texts = joined(pairs)
        fit_texts, val_texts = [texts[i] for i in order[n_val:]], [texts[i] for i in order[:n_val]]
        ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(model.encode(fit_texts), scores[order[n_val:]])
        ridge_val = spearmanr(ridge.predict(model.encode(val_texts)), scores[order[:n_val]]).statistic
        rows.append({"learning_rate": None, "baseline": "ridge on frozen embeddings", "val": 100 * float(ridge_val)})
        for lr in args.learning_rates:
            args.learning_rate = lr
            regressor, seconds = timed(
                lambda: StaticModelForRegression.from_static_model(model=model, freeze=args.freeze).fit(
                    fit_texts, scores[order[n_val:]], **fit_kwargs(args)
                )
            )
            score = 100 * float(spearmanr(regressor.predict(val_texts), scores[order[:n_val]]).statistic)
            rows.append(
                {"learning_rate": lr, "val": score, "seconds": round(seconds, 1), **history_summary(regressor.history)}
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        metric = "Spearman on a held-out part of train" + (" (head only, frozen table)" if args.freeze else "")
    return {
        "trainer": args.trainer,
        "metric": metric,
        "val_fraction": args.val_fraction,
        "rows": rows,
        "settings": vars(args).copy(),
    }


# -- output -----------------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    """Markdown tables of whatever sections `results` holds."""
    lines = [
        "| task | metric | frozen baseline | trained | gain | train time (epochs) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    if "regression" in results:
        r = results["regression"]
        for key, label in (("trained", "table + head"), ("trained_head_only", "head only, frozen table")):
            gain = r[key]["spearman"] - r["frozen"]["spearman"]
            lines.append(
                f"| regression: STS-B score of the joined pair ({label}) | Spearman, test (RMSE) | "
                f"{r['frozen']['spearman']:.2f} ({r['frozen']['rmse']:.2f}), "
                f"ridge {r['frozen']['train_seconds']:.0f} s | "
                f"{r[key]['spearman']:.2f} ({r[key]['rmse']:.2f}) | {gain:+.2f} | "
                f"{r[key]['train_seconds']:.0f} s ({r[key]['epochs']}) |"
            )
    for task, r in results.get("pairs", {}).items():
        gain = r["trained"]["ap"] - r["frozen"]["ap"]
        lines.append(
            f"| pairs: {task} | cosine AP, test | {r['frozen']['ap']:.2f} | {r['trained']['ap']:.2f} | {gain:+.2f} | "
            f"{r['trained']['train_seconds']:.0f} s ({r['trained']['epochs']}) |"
        )
    if "retrieval" in results:
        r = results["retrieval"]
        gain = r["trained"]["ndcg@10"] - r["frozen"]["ndcg@10"]
        lines.append(
            f"| retrieval: SciFact | nDCG@10, test | {r['frozen']['ndcg@10']:.2f} | {r['trained']['ndcg@10']:.2f} | "
            f"{gain:+.2f} | {r['trained']['train_seconds']:.0f} s ({r['trained']['epochs']}) |"
        )
        frozen, trained = r["frozen"]["dev_suite"], r["trained"]["dev_suite"]
        lines += ["", "| dev suite (retrieval model) | frozen | trained | change |", "|---|---:|---:|---:|"]
        for name in frozen["type_scores"]:
            before, after = frozen["type_scores"][name], trained["type_scores"][name]
            lines.append(f"| {name} | {before:.2f} | {after:.2f} | {after - before:+.2f} |")
        before, after = frozen["average"], trained["average"]
        lines.append(f"| **average** | **{before:.2f}** | **{after:.2f}** | **{after - before:+.2f}** |")
        lines += ["", "| SciFact test queries | queries | frozen | trained | change |", "|---|---:|---:|---:|---:|"]
        for group, row in r["test_by_train_citation"].items():
            label = group.replace("_", " ")
            lines.append(
                f"| relevant abstract {label} | {row['queries']} | {row['frozen']:.2f} | {row['trained']:.2f} | "
                f"{row['trained'] - row['frozen']:+.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["all", "regression", "pairs", "retrieval", "tune"])
    parser.add_argument("trainer", nargs="?", choices=["regression", "pairs", "retrieval"], help="for tune")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the trainer's default")
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[1e-3, 1e-2, 0.05], help="for tune")
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--matryoshka", type=int, nargs="+", default=None)
    parser.add_argument(
        "--hard-negatives", action="store_true", help="retrieval: add one mined corpus negative per query"
    )
    parser.add_argument("--negative-rank", type=int, default=10)
    parser.add_argument("--pair-tasks", nargs="+", default=list(PAIR_TASKS))
    parser.add_argument("--freeze", action="store_true", help="tune regression: train the head only")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="tune: part of train held out")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    if args.what == "tune" and args.trainer is None:
        parser.error("tune needs a trainer: regression, pairs or retrieval")

    import torch

    from model2vec import StaticModel

    torch.set_num_threads(args.threads)
    model = StaticModel.from_pretrained(args.model)
    out = Path(args.out)
    saved: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results: dict[str, Any] = saved.get("results", {})
    command = ".venv/bin/python " + " ".join(["benchmarks/train_heads.py", *sys.argv[1:]])
    commands: dict[str, str] = saved.get("commands", {})
    if args.what == "tune":
        tuning = saved.get("tuning", {})
        key = args.trainer + ("_head_only" if args.freeze else "") + ("_hard_negatives" if args.hard_negatives else "")
        tuning[key] = {**tune(model, args), "command": command}
        saved["tuning"] = tuning
        print(json.dumps(tuning[key]["rows"], indent=1))
    else:
        runners = {"regression": run_regression, "pairs": run_pairs, "retrieval": run_retrieval}
        for name in runners if args.what == "all" else [args.what]:
            results[name], seconds = timed(runners[name], model, args)
            commands[name] = command
            print(f"{name} done in {seconds:.0f} s", file=sys.stderr, flush=True)
        saved.update({"results": results, "commands": commands, "table": table(results)})
        print(saved["table"])
    saved["machine"] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_threads": args.threads,
        "cpus": os.cpu_count(),
    }
    saved["model"] = args.model
    print("\nReproduce with:\n" + command)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(saved, indent=2, default=str) + "\n")
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
