"""How much of the contrastive alignment to keep: one fine-tune, scored at several interpolation shares.

    .venv/bin/python benchmarks/alignment_share.py --start models/multilingual-fit \
        --pairs models/multilingual-pairs.tsv --shares 0 0.3 0.5 0.7 1

Fine-tunes the start model on the translation pairs exactly as `model2vec.train.align_languages` does
(`split_by_target`, one epoch, learning rate 1e-2, seed 42), then scores
`interpolate(start, tuned, share)` (float16) on the multilingual dev suite for every share; share 0 is
the start model. `--pairs` takes several files (e.g. add `scripts/stsb_pairs.py`'s). Prints one line
per share and writes `--out` (default `benchmarks/results/alignment-share.json`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model2vec import StaticModel
from model2vec.evaluation import discover_tasks, evaluate_model, load_task
from model2vec.evaluation.data import resolve_data_dir
from model2vec.merge import interpolate
from model2vec.model import quantize_model
from model2vec.pretrain.parallel import read_pairs
from model2vec.train import StaticModelForRetrieval
from model2vec.train.alignment import DEFAULT_LEARNING_RATE, split_by_target

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    """Fine-tune once, score every share."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=Path, default=ROOT / "models" / "multilingual-fit")
    parser.add_argument("--pairs", type=Path, nargs="+", default=[ROOT / "models" / "multilingual-pairs.tsv"])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7, 1.0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "alignment-share.json")
    args = parser.parse_args(argv)

    start = StaticModel.from_pretrained(args.start)
    train, validation = split_by_target(list(read_pairs(args.pairs)))
    tuner = StaticModelForRetrieval.from_static_model(model=start)
    tuner.fit(train, X_val=validation, max_epochs=args.epochs, learning_rate=DEFAULT_LEARNING_RATE, random_seed=42)
    tuned = tuner.to_static_model()
    tasks = [load_task(spec) for spec in discover_tasks(resolve_data_dir(None, suite="multilingual"))]
    rows = {}
    for share in args.shares:
        model = quantize_model(interpolate(start, tuned, share), quantize_to="float16")
        result = evaluate_model(model, tasks, name=f"share {share}")
        rows[share] = {"type_scores": result.type_scores(), "average": result.average}
        scores = " ".join(f"{name} {value:.2f}" for name, value in result.type_scores().items())
        print(f"share {share}: average {result.average:.2f} ({scores})", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"start": str(args.start), "pairs": [str(path) for path in args.pairs], "shares": rows}
    args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
