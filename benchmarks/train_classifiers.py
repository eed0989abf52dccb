"""Dev-suite comparison: fine-tuned StaticModelForClassification vs logistic regression on frozen embeddings.

Both start from the same static model and see the same training split; accuracy is measured on the test
split. The baseline follows `model2vec.evaluation`'s classification task (scikit-learn
LogisticRegression, seed 42) but is trained on the full training split, like the fine-tuned model.

    .venv/bin/python benchmarks/train_classifiers.py --model models/minilm-distilled

Prints a markdown table and the command that reproduces it, and writes JSON next to it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "eval" / "classification"
TASKS = ["sst2", "trec", "agnews", "emotion"]


def read_split(folder: Path, task: str, split: str) -> tuple[list[str], list[Any]]:
    rows = [json.loads(line) for line in (folder / f"{task}.{split}.jsonl").read_text().splitlines() if line.strip()]
    return [row["text"] for row in rows], [row["label"] for row in rows]


def logistic_baseline(
    model: Any, train: tuple[list[str], list[Any]], test: tuple[list[str], list[Any]]
) -> dict[str, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    features = model.encode(train[0])
    classifier = LogisticRegression(max_iter=1000, random_state=42)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(features, np.asarray(train[1]))
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(classifier.predict(model.encode(test[0])) == np.asarray(test[1])))
    return {"accuracy": 100 * accuracy, "train_seconds": seconds}


def fine_tuned(
    model: Any, train: tuple[list[str], list[Any]], test: tuple[list[str], list[Any]], args: argparse.Namespace
) -> dict[str, Any]:
    from model2vec.train import StaticModelForClassification

    start = time.perf_counter()
    classifier = StaticModelForClassification.from_static_model(model=model, hidden_dim=args.hidden_dim)
    classifier.fit(
        train[0],
        train[1],
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        max_epochs=args.max_epochs,
        early_stopping_patience=args.patience,
        device="cpu",
        random_seed=42,
        show_progress_bar=False,
    )
    seconds = time.perf_counter() - start
    pipeline = classifier.to_pipeline()
    accuracy = float(np.mean(pipeline.predict(test[0]) == np.asarray(test[1])))
    return {
        "accuracy": 100 * accuracy,
        "train_seconds": seconds,
        "epochs": len(classifier.history["val_score"]),
        "best_epoch": classifier.history["best_epoch"] + 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "minilm-distilled"))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--hidden-dim", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "train_classifiers.json"))
    args = parser.parse_args()

    import torch

    from model2vec import StaticModel

    torch.set_num_threads(args.threads)
    model = StaticModel.from_pretrained(args.model)
    data = Path(args.data)
    results: dict[str, Any] = {}
    for task in args.tasks:
        train, test = read_split(data, task, "train"), read_split(data, task, "test")
        results[task] = {
            "train_size": len(train[0]),
            "test_size": len(test[0]),
            "logistic_regression": logistic_baseline(model, train, test),
            "fine_tuned": fine_tuned(model, train, test, args),
        }
        print(f"{task}: {json.dumps(results[task])}", file=sys.stderr, flush=True)

    lines = [
        "| task | train texts | logistic regression (frozen) | fine-tuned | LR time | fine-tune time (epochs) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for task, row in results.items():
        lr, ft = row["logistic_regression"], row["fine_tuned"]
        lines.append(
            f"| {task} | {row['train_size']} | {lr['accuracy']:.2f} | {ft['accuracy']:.2f} | "
            f"{lr['train_seconds']:.1f} s | {ft['train_seconds']:.1f} s ({ft['epochs']}) |"
        )
    mean_lr = float(np.mean([r["logistic_regression"]["accuracy"] for r in results.values()]))
    mean_ft = float(np.mean([r["fine_tuned"]["accuracy"] for r in results.values()]))
    lines.append(f"| **mean** | | **{mean_lr:.2f}** | **{mean_ft:.2f}** | | |")
    command = "\n".join(
        ["```", ".venv/bin/python " + " ".join(["benchmarks/train_classifiers.py", *sys.argv[1:]]), "```"]
    )
    table = "\n".join(lines)
    print(table)
    print("\nReproduce with:\n" + command)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    machine = {"python": platform.python_version(), "torch": torch.__version__, "cpu_threads": args.threads}
    out.write_text(
        json.dumps(
            {
                "settings": settings,
                "machine": machine,
                "results": results,
                "mean": {"logistic_regression": mean_lr, "fine_tuned": mean_ft},
                "table": table,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nWrote {out}")


if __name__ == "__main__":
    main()
