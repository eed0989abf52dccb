"""How many language directions to remove from a multilingual table (`remove_language_subspace`).

    .venv/bin/python benchmarks/language_subspace.py --model models/multilingual-distilled --counts 0 8 16 32
    .venv/bin/python benchmarks/language_subspace.py --model models/multilingual-pretrained --counts 0 16

For each count, the leading directions of the language means (`--per-language` sentences of every
language of ../shared/data/multilingual/corpus, seeded sample) are projected out of the model's table,
the result is stored as float16 and scored on the multilingual development suite (bitext mining, STS,
classification; macro over languages). Prints one line per count and writes
`benchmarks/results/language-subspace-<model folder name>.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model2vec import StaticModel
from model2vec.evaluation import discover_tasks, evaluate_model, load_task
from model2vec.evaluation.data import resolve_data_dir
from model2vec.model import quantize_model
from model2vec.pretrain.corpus import sentences_by_language
from model2vec.pretrain.language_subspace import language_directions, language_means, remove_directions

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "multilingual" / "corpus" / "corpus.tsv.gz"


def main(argv: list[str] | None = None) -> int:
    """Score the model with each number of language directions removed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "multilingual-distilled")
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 8, 16, 32])
    parser.add_argument("--per-language", type=int, default=200)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)

    model = StaticModel.from_pretrained(args.model)
    texts = sentences_by_language(args.corpus, per_language=args.per_language)
    means = language_means(model, texts)  # computed once: every count uses the same directions
    tasks = [load_task(spec) for spec in discover_tasks(resolve_data_dir(None, suite="multilingual"))]
    rows = {}
    for count in args.counts:
        projected = quantize_model(remove_directions(model, language_directions(means, count)), quantize_to="float16")
        result = evaluate_model(projected, tasks, name=f"{count} directions")
        rows[count] = {"type_scores": result.type_scores(), "average": result.average}
        scores = " ".join(f"{name} {value:.2f}" for name, value in result.type_scores().items())
        print(f"{count} directions: average {result.average:.2f} ({scores})", flush=True)
    out = ROOT / "benchmarks" / "results" / f"language-subspace-{args.model.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"model": str(args.model), "per_language": args.per_language, "languages": len(texts)}
    out.write_text(json.dumps({**settings, "counts": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
