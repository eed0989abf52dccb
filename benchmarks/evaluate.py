"""Dev-suite leaderboard, speed-vs-score plot and the MTEB reproduction check for the teacher.

    .venv/bin/python benchmarks/evaluate.py                       # reuse the cached teacher run
    .venv/bin/python benchmarks/evaluate.py --refresh-teacher     # re-encode with the teacher (~10 min on 2 cores)

Evaluates the teacher (all-MiniLM-L6-v2 via sentence-transformers), our distilled model as float16 /
int8 at 256 / 128 dimensions, the reference fixtures and a random baseline on every task of the
suite; writes `benchmarks/results/leaderboard.json`, prints Markdown tables (leaderboard, per task,
published-vs-ours) and saves the plot. The teacher's results are cached in
`benchmarks/results/teacher.json` because encoding SICK-R and SciFact with a transformer takes minutes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model2vec.evaluation import (
    discover_tasks,
    leaderboard_table,
    load_model,
    plot_speed_vs_score,
    read_results,
    resolve_data_dir,
    run_suite,
    task_table,
    write_results,
)
from model2vec.evaluation.runner import ModelResult, SuiteRun

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "reference-format"
OUR_MODEL = ROOT / "models" / "minilm-distilled"

# Published MTEB test scores of sentence-transformers/all-MiniLM-L6-v2 (x100), from the MTEB
# results files in github.com/embeddings-benchmark/mtebpaper, results/all-MiniLM-L6-v2/<Task>.json
# (commit 28debbe); STSBenchmark, SICK-R and STS12 are identical in the later re-run in
# github.com/embeddings-benchmark/results, results/sentence-transformers__all-MiniLM-L6-v2/
# 8b3219a92973c328a8e22fadcfa821b5dc75636a/<Task>.json.
PUBLISHED = {
    ("stsb", "cosine_spearman"): ("STSBenchmark", 82.03247, 0.5),
    ("sickr", "cosine_spearman"): ("SICK-R", 77.58245, 0.5),
    ("sts12", "cosine_spearman"): ("STS12", 72.36901, 0.5),
    ("sts14", "cosine_spearman"): ("STS14", 75.58913, 0.5),
    ("scifact", "ndcg_at_10"): ("SciFact nDCG@10", 64.508, 1.0),
    ("scifact", "map_at_10"): ("SciFact MAP@10", 59.593, None),
    ("scifact", "recall_at_100"): ("SciFact recall@100", 92.5, None),
}


def acceptance_table(teacher: ModelResult) -> tuple[str, bool]:
    """Markdown table of published vs our teacher scores, and whether every toleranced row holds."""
    lines = [
        "| MTEB task (metric) | Published | Ours | Difference | Tolerance | Holds |",
        "|---|---:|---:|---:|---:|---|",
    ]
    all_hold = True
    for (task, metric), (label, published, tolerance) in PUBLISHED.items():
        ours = teacher.tasks[task].scores[metric] if task in teacher.tasks else None
        if ours is None:
            lines.append(f"| {label} | {published:.2f} | - | - | - | not run |")
            all_hold = all_hold and tolerance is None
            continue
        difference = ours - published
        holds = "-" if tolerance is None else ("yes" if abs(difference) <= tolerance else "NO")
        all_hold = all_hold and holds != "NO"
        limit = "-" if tolerance is None else f"±{tolerance:.1f}"
        lines.append(f"| {label} | {published:.2f} | {ours:.2f} | {difference:+.2f} | {limit} | {holds} |")
    return "\n".join(lines), all_hold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="Suite folder (default: $MODEL2VEC_DATA or ../shared/data/eval).")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"), help="Output folder.")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "images" / "speed_vs_score.png"))
    parser.add_argument("--refresh-teacher", action="store_true", help="Re-run the teacher instead of its cache.")
    parser.add_argument("--distilled", help=f"Our distilled model folder (default: {OUR_MODEL} if present).")
    args = parser.parse_args(argv)

    results = Path(args.results)
    specs = discover_tasks(resolve_data_dir(args.data))
    teacher_file = results / "teacher.json"
    if args.refresh_teacher or not teacher_file.is_file():
        teacher_run = run_suite([load_model("teacher:all-minilm-l6-v2")], specs, progress=True)
        write_results(teacher_run, teacher_file)
    teacher = read_results(teacher_file).models[0]

    fixture = FIXTURES / "m2v-minilm-l6-fp16"
    distilled = Path(args.distilled) if args.distilled else (OUR_MODEL if OUR_MODEL.is_dir() else fixture)
    name = "ours" if distilled != fixture else "m2v-minilm-l6-fp16"
    model_specs = [
        f"{name} fp16 256d={distilled}+float16",
        f"{name} int8 256d={distilled}+int8",
        f"{name} fp16 128d={distilled}+float16+128d",
        f"{name} int8 128d={distilled}+int8+128d",
    ]
    if distilled != fixture:
        model_specs.append(f"m2v-minilm-l6-fp16 (reference)={fixture}")
    model_specs += [f"potion-int8-128d (reference)={FIXTURES / 'potion-int8-128d'}", "random baseline 256d=random"]
    static_run = run_suite([load_model(s) for s in model_specs], specs, progress=True)
    run = SuiteRun([teacher, *static_run.models], static_run.tasks, static_run.settings, static_run.environment)
    run.environment["command"] = "python benchmarks/evaluate.py " + " ".join(argv or sys.argv[1:])
    write_results(run, results / "leaderboard.json")
    plot_speed_vs_score(run.models, args.plot, title="Dev suite: average score vs. encoding speed (2 CPU cores)")

    print("## Leaderboard\n")
    print(leaderboard_table(run.models, markdown=True))
    print("\n## Per task\n")
    print(task_table(run.models, markdown=True))
    table, holds = acceptance_table(teacher)
    print("\n## Teacher vs published MTEB scores\n")
    print(table)
    print(f"\nWrote {results / 'leaderboard.json'} and {args.plot}")
    print("Reproduce: " + run.environment["command"])
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
