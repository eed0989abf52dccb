"""Run models over tasks: encode each task's distinct texts once, time it, score, aggregate.

`evaluate_model` is the library entry point for one encoder; `run_suite` loads the tasks once and
evaluates several models on them. Results are plain dataclasses that round-trip through JSON.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from model2vec.evaluation.data import TaskSpec, TaskType
from model2vec.evaluation.encoders import EvaluatedModel, wrap_encoder
from model2vec.evaluation.tasks import EmbeddingLookup, EvaluationSettings, Task, TaskResult, load_task
from model2vec.progress import progress_bar
from model2vec.version import __version__


@dataclass
class ModelResult:
    """Every task result of one model, with its size and encoding speed.

    :param name: Display name.
    :param kind: "static", "sentence-transformers" or "encoder".
    :param spec: How the model was specified.
    :param parameters: Parameter count, if known.
    :param size_bytes: Parameter bytes, if known.
    :param tasks: Task name -> result.
    """

    name: str
    kind: str = "encoder"
    spec: str = ""
    parameters: int | None = None
    size_bytes: int | None = None
    tasks: dict[str, TaskResult] = field(default_factory=dict)

    @property
    def texts_encoded(self) -> int:
        """Distinct texts encoded over all tasks."""
        return sum(t.n_texts for t in self.tasks.values())

    @property
    def encode_seconds(self) -> float:
        """Wall time spent inside `encode` over all tasks."""
        return sum(t.encode_seconds for t in self.tasks.values())

    @property
    def texts_per_second(self) -> float | None:
        """Encoding throughput over the whole run (None if nothing was timed)."""
        seconds = self.encode_seconds
        return self.texts_encoded / seconds if seconds > 0 else None

    def type_scores(self) -> dict[str, float]:
        """Mean main score per task type (types without tasks are absent), in `TaskType` order."""
        by_type: dict[str, list[float]] = {}
        for result in self.tasks.values():
            by_type.setdefault(result.type, []).append(result.main_score)
        order = [t.value for t in TaskType]
        ranked = sorted(by_type, key=lambda t: order.index(t) if t in order else len(order))
        return {t: float(np.mean(by_type[t])) for t in ranked}

    @property
    def average(self) -> float | None:
        """Mean over task types of the per-type means (each type weighs the same, as on MTEB's summary)."""
        scores = self.type_scores()
        return float(np.mean(list(scores.values()))) if scores else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, including the derived speed and averages."""
        return {
            "name": self.name,
            "kind": self.kind,
            "spec": self.spec,
            "parameters": self.parameters,
            "size_bytes": self.size_bytes,
            "texts_encoded": self.texts_encoded,
            "encode_seconds": self.encode_seconds,
            "texts_per_second": self.texts_per_second,
            "type_scores": self.type_scores(),
            "average": self.average,
            "tasks": {name: result.as_dict() for name, result in self.tasks.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelResult:
        """Inverse of `as_dict` (derived fields are recomputed, not read).

        :raises KeyError: If "name" or a task's required key is missing.
        """
        return cls(
            name=str(data["name"]),
            kind=str(data.get("kind", "encoder")),
            spec=str(data.get("spec", "")),
            parameters=None if data.get("parameters") is None else int(data["parameters"]),
            size_bytes=None if data.get("size_bytes") is None else int(data["size_bytes"]),
            tasks={name: TaskResult.from_dict(task) for name, task in data.get("tasks", {}).items()},
        )


def _progress(iterable: Sequence[Any], enabled: bool, desc: str) -> Any:

    return progress_bar(iterable, desc=desc, unit="task", disable=not enabled, leave=False)


def evaluate_model(
    model: EvaluatedModel | Any,
    tasks: Sequence[Task],
    name: str | None = None,
    progress: bool = False,
) -> ModelResult:
    """Evaluate one model on loaded tasks.

    Each task's distinct texts are encoded in one `encode` call, timed with a monotonic clock, and
    the embeddings are passed to the task's scoring rule.

    :param model: An `EvaluatedModel`, or any object with `.encode(list[str])` (wrapped with `wrap_encoder`).
    :param tasks: Tasks from `load_task`.
    :param name: Display name (overrides the model's).
    :param progress: Show progress bars (tasks, and the encoder's own bar for large inputs).
    :return: The results.
    :raises ValueError: If the encoder returns malformed embeddings (wrong shape, NaN).
    """
    wrapped = model if isinstance(model, EvaluatedModel) else wrap_encoder(model, name)
    result = ModelResult(
        name=name or wrapped.name,
        kind=wrapped.kind,
        spec=wrapped.spec,
        parameters=wrapped.parameters,
        size_bytes=wrapped.size_bytes,
    )
    bar = _progress(tasks, progress, result.name)
    for task in bar:
        bar.set_postfix_str(task.name)
        texts = task.texts()
        start = time.perf_counter()
        # Only big inputs get the encoder's own bar; small ones would flood the terminal.
        vectors = wrapped.encode(texts, progress=progress and len(texts) >= 5000)
        seconds = time.perf_counter() - start
        scores = task.score(EmbeddingLookup(texts, vectors))
        result.tasks[task.name] = TaskResult(
            name=task.name,
            type=task.type.value,
            main_score=scores["main_score"],
            scores=scores,
            n_texts=len(texts),
            encode_seconds=seconds,
            language=task.spec.language,
        )
    return result


@dataclass
class SuiteRun:
    """Results of several models on one set of tasks, with what is needed to reproduce them."""

    models: list[ModelResult]
    tasks: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "models": [m.as_dict() for m in self.models],
            "tasks": self.tasks,
            "settings": self.settings,
            "environment": self.environment,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SuiteRun:
        """Inverse of `as_dict`.

        :raises ValueError: If `data` has no "models" list.
        """
        models = data.get("models")
        if not isinstance(models, list):
            raise ValueError("Not an evaluation results file: no 'models' list.")
        return cls(
            models=[ModelResult.from_dict(m) for m in models],
            tasks=list(data.get("tasks", [])),
            settings=dict(data.get("settings", {})),
            environment=dict(data.get("environment", {})),
        )


def describe_task(spec: TaskSpec) -> dict[str, Any]:
    """Describe a task for the results file: name, type, MTEB name and source path."""
    return {"name": spec.name, "type": spec.type.value, "mteb_name": spec.mteb_name, "path": str(spec.path)}


def environment() -> dict[str, Any]:
    """Versions and machine facts that affect scores or speed."""
    import os

    return {
        "model2vec": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def run_suite(
    models: Sequence[EvaluatedModel],
    specs: Sequence[TaskSpec],
    settings: EvaluationSettings | None = None,
    progress: bool = False,
) -> SuiteRun:
    """Load the tasks once, then evaluate every model on them.

    :param models: Models to evaluate, in leaderboard order.
    :param specs: Tasks to run.
    :param settings: Protocol settings (defaults: `EvaluationSettings()`).
    :param progress: Show progress bars.
    :return: All results.
    :raises FileNotFoundError: If a task file is missing.
    :raises ValueError: If a task file is malformed or an encoder misbehaves.
    """
    chosen = settings or EvaluationSettings()
    tasks = [load_task(spec, chosen) for spec in specs]
    results = [evaluate_model(model, tasks, progress=progress) for model in models]
    return SuiteRun(
        models=results,
        tasks=[describe_task(s) for s in specs],
        settings=chosen.as_dict(),
        environment=environment(),
    )
