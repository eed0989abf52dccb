"""The family's contrastive polish: how many corpus pairs, and how much of the fine-tune to keep.

    .venv/bin/python benchmarks/family_polish.py                                    # the docs' grid
    .venv/bin/python benchmarks/family_polish.py --model models/minilm-distilled --pairs 60000 --out OUT.json
    .venv/bin/python benchmarks/family_polish.py --retrieval --kept 0.35 0.4 0.45 0.5 --out OUT.json

Starts from the family's `base` before polishing (the trained table of `make models`, PCA to 256, SIF;
needs `models/family/work/core`, which `make models` or `scripts/build_family.py --only base` leaves) or
from any model folder (`--model`). For each pair count, fine-tunes once (`scripts/build_family.py`'s
`contrastive_fine_tune`: in-batch negatives on the corpus's (first sentence, rest of the paragraph)
pairs, seed 42) and scores the start and every interpolation (`model2vec.merge.interpolate`, float16) on
the development suite. `--retrieval` scans the retrieval member's share the same way, from the polished
`base`. Writes `benchmarks/results/family-polish.json` (or `--out`) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_family as family  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "family-polish.json"


def main(argv: list[str] | None = None) -> int:
    """Run the grid (see the module docstring)."""
    from model2vec import StaticModel
    from model2vec.evaluation import discover_tasks, evaluate_model, load_task
    from model2vec.evaluation.data import resolve_data_dir
    from model2vec.merge import interpolate
    from model2vec.model import quantize_model
    from model2vec.pretrain import reregularize

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs="+", default=[60_000, 200_000], help="Corpus pair counts.")
    parser.add_argument("--kept", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.7], help="Fine-tuned shares.")
    parser.add_argument("--model", type=Path, help="Start from this model folder instead of the family's base.")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Results JSON (default: %(default)s).")
    parser.add_argument(
        "--retrieval",
        action="store_true",
        help="Instead: start from the polished base (the recipe's pairs and share), fine-tune on the retrieval "
        "member's items (corpus pairs + SciFact train) and score each --kept share.",
    )
    args = parser.parse_args(argv)
    if not all(0 < kept <= 1 for kept in args.kept):
        parser.error("--kept values must be in (0, 1].")

    if args.model is not None:
        start, name = StaticModel.from_pretrained(args.model), str(args.model)
    else:
        table, counts = family.trained_table("core")
        start, name = reregularize(table, counts, 256, family.RECIPE.sif_coefficient), "family base"
    tasks = [load_task(spec) for spec in discover_tasks(resolve_data_dir(None))]
    if args.retrieval:
        if args.model is None:
            start = family.polished("core", 256)  # exactly the table the retrieval member starts from
        else:
            recipe = family.RECIPE
            start = family.fine_tuned(start, family.corpus_pairs(recipe.polish_pairs), recipe.polish_mix)
        name = f"{name}, polished"

    def row(model: Any, label: str, pairs: int, kept: float, seconds: float) -> dict[str, Any]:
        result = evaluate_model(quantize_model(model, quantize_to="float16"), tasks, name=label)
        family.log(f"{label}: {result.average:.2f}")
        return {
            "variant": label,
            "pairs": pairs,
            "kept": kept,
            "fine_tune_s": seconds,
            "type_scores": result.type_scores(),
            "average": result.average,
        }

    rows = [row(start, name if args.retrieval else f"{name}, no polish", 0, 0.0, 0.0)]
    for pairs in [0] if args.retrieval else args.pairs:
        began = time.perf_counter()
        items = family.retrieval_items() if args.retrieval else family.corpus_pairs(pairs)
        tuned = family.contrastive_fine_tune(start, items)
        seconds = time.perf_counter() - began
        kind = "retrieval items" if args.retrieval else "pairs"
        for kept in args.kept:
            label = f"{len(items):,} {kind}, {kept:.0%} kept"
            rows.append(row(interpolate(start, tuned, kept), label, len(items), kept, seconds))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"start": name, "rows": rows}, indent=2) + "\n")
    types = list(rows[0]["type_scores"])
    print("| Variant | " + " | ".join(types) + " | Average | Fine-tune s |")
    print("|---|" + "---:|" * (len(types) + 2))
    for r in rows:
        cells = " | ".join(f"{r['type_scores'][t]:.2f}" for t in types)
        print(f"| {r['variant']} | {cells} | {r['average']:.2f} | {r['fine_tune_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
