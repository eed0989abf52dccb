"""Offline MTEB-style evaluation: tasks, metrics, a runner, a leaderboard and a speed/quality plot.

Importing this package is cheap: scikit-learn (classification, clustering) and matplotlib (plot) are
imported when first needed, and their absence raises an ImportError that names
`pip install "model2vec[eval]"`. Typical use::

    from model2vec.evaluation import discover_tasks, resolve_data_dir, run_suite, load_model
    specs = discover_tasks(resolve_data_dir())
    run = run_suite([load_model("teacher:all-minilm-l6-v2"), load_model("random")], specs)
"""

from model2vec.evaluation.data import (
    MTEB_NAMES,
    TaskSpec,
    TaskType,
    default_data_dir,
    discover_tasks,
    resolve_data_dir,
    select_tasks,
    task_from_path,
)
from model2vec.evaluation.encoders import EvaluatedModel, load_model, random_model, teacher_folder, wrap_encoder
from model2vec.evaluation.leaderboard import leaderboard_table, merge_results, read_results, task_table, write_results
from model2vec.evaluation.plot import plot_speed_vs_score
from model2vec.evaluation.runner import ModelResult, SuiteRun, evaluate_model, run_suite
from model2vec.evaluation.tasks import (
    ClassificationTask,
    ClusteringTask,
    EmbeddingLookup,
    EvaluationSettings,
    PairClassificationTask,
    RetrievalTask,
    STSTask,
    Task,
    TaskResult,
    load_task,
)

__all__ = [
    "MTEB_NAMES",
    "ClassificationTask",
    "ClusteringTask",
    "EmbeddingLookup",
    "EvaluatedModel",
    "EvaluationSettings",
    "ModelResult",
    "PairClassificationTask",
    "RetrievalTask",
    "STSTask",
    "SuiteRun",
    "Task",
    "TaskResult",
    "TaskSpec",
    "TaskType",
    "default_data_dir",
    "discover_tasks",
    "evaluate_model",
    "leaderboard_table",
    "load_model",
    "load_task",
    "merge_results",
    "plot_speed_vs_score",
    "random_model",
    "read_results",
    "resolve_data_dir",
    "run_suite",
    "select_tasks",
    "task_from_path",
    "task_table",
    "teacher_folder",
    "wrap_encoder",
    "write_results",
]
