"""Leaderboard tables and results files.

The leaderboard has one row per model: the mean main score per task type, the mean over task types,
encoding speed (distinct texts per second) and size. A per-task table lists every task's main score.
Both render as aligned text for the terminal or as Markdown for documentation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model2vec.evaluation.data import TaskType
from model2vec.evaluation.runner import ModelResult, SuiteRun
from model2vec.format import read_json


def _format_count(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return str(value)


def _format_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 2**20:.1f} MiB"


def _format_speed(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}"


def _format_score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _render(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        align = ["---"] + ["---:"] * (len(header) - 1)
        lines = [header, align, *rows]
        return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for number, cells in enumerate([header, *rows]):
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        out.append("  ".join(padded))
        if number == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def present_types(results: Sequence[ModelResult]) -> list[str]:
    """Task types that at least one model has results for, in `TaskType` order."""
    seen = {t.type for r in results for t in r.tasks.values()}
    ordered = [t.value for t in TaskType if t.value in seen]
    return ordered + sorted(seen - set(ordered))


def leaderboard_table(results: Sequence[ModelResult], markdown: bool = False, sort: bool = True) -> str:
    """Render the leaderboard: per-type means, their average, texts/second, parameters and bytes.

    A model without any task of a type shows "-" there, and its average covers only its own types.

    :param results: Model results.
    :param markdown: Render a Markdown table instead of aligned text.
    :param sort: Order rows by average score, best first (models without scores last).
    :return: The table text ("" when `results` is empty).
    """
    if not results:
        return ""
    types = present_types(results)
    rows_of = list(results)
    if sort:
        rows_of.sort(key=lambda r: -(r.average if r.average is not None else float("-inf")))
    header = ["Model", *types, "Average", "Texts/s", "Params", "Size"]
    rows = []
    for result in rows_of:
        scores = result.type_scores()
        rows.append(
            [
                result.name,
                *(_format_score(scores.get(t)) for t in types),
                _format_score(result.average),
                _format_speed(result.texts_per_second),
                _format_count(result.parameters),
                _format_bytes(result.size_bytes),
            ]
        )
    return _render(header, rows, markdown)


def task_table(results: Sequence[ModelResult], markdown: bool = False) -> str:
    """Render every task's main score (rows: tasks, columns: models).

    :param results: Model results.
    :param markdown: Render Markdown instead of aligned text.
    :return: The table text ("" when `results` is empty).
    """
    if not results:
        return ""
    task_rows: dict[str, str] = {}
    for result in results:
        for task in result.tasks.values():
            task_rows.setdefault(task.name, task.type)
    order = [t.value for t in TaskType]
    names = sorted(task_rows, key=lambda n: (order.index(task_rows[n]) if task_rows[n] in order else 99, n))
    languages = {t.name: t.language for r in results for t in r.tasks.values() if t.language is not None}
    header = ["Task", "Type", *(["Language"] if languages else []), *(r.name for r in results)]
    rows = []
    for name in names:
        cells = [_format_score(r.tasks[name].main_score) if name in r.tasks else "-" for r in results]
        rows.append([name, task_rows[name], *([languages.get(name, "-")] if languages else []), *cells])
    return _render(header, rows, markdown)


def language_scores(result: ModelResult) -> dict[str, dict[str, float]]:
    """Mean main score per language and task type of one model (tasks without a language are left out).

    :param result: A model's results.
    :return: language -> task type -> mean main score.
    """
    collected: dict[str, dict[str, list[float]]] = {}
    for task in result.tasks.values():
        if task.language is not None:
            collected.setdefault(task.language, {}).setdefault(task.type, []).append(task.main_score)
    return {
        language: {kind: float(np.mean(values)) for kind, values in by_type.items()}
        for language, by_type in collected.items()
    }


def language_table(
    results: Sequence[ModelResult], languages: Sequence[str] | None = None, markdown: bool = False
) -> str:
    """Render scores per language and task type (rows) for every model (columns).

    :param results: Model results.
    :param languages: The languages to show, in this order (None: every language, sorted).
    :param markdown: Render Markdown instead of aligned text.
    :return: The table text ("" when no result has a language).
    """
    per_model = [language_scores(result) for result in results]
    found = sorted({language for scores in per_model for language in scores})
    if not found:
        return ""
    order = [t.value for t in TaskType]
    header = ["Language", "Type", *(r.name for r in results)]
    rows = []
    for language in languages if languages is not None else found:
        kinds = {kind for scores in per_model for kind in scores.get(language, {})}
        for kind in sorted(kinds, key=lambda k: order.index(k) if k in order else 99):
            cells = [_format_score(scores.get(language, {}).get(kind)) for scores in per_model]
            rows.append([language, kind, *cells])
    return _render(header, rows, markdown)


def write_results(run: SuiteRun, path: str | os.PathLike[str]) -> Path:
    """Write a results file (JSON, UTF-8, indented); parent folders are created.

    :return: The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(run.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def read_results(path: str | os.PathLike[str]) -> SuiteRun:
    """Read a results file written by `write_results`.

    :raises FileNotFoundError: If the file is missing.
    :raises ValueError: If it is not valid JSON or not a results file.
    """
    source = Path(path)
    data = read_json(source)  # a ModelFormatError (a ValueError) names the file
    if not isinstance(data, dict):
        raise ValueError(f"{source} is not an evaluation results file.")
    return SuiteRun.from_dict(data)


def merge_results(runs: Sequence[SuiteRun]) -> list[ModelResult]:
    """All models of several runs; a later model with the same name replaces an earlier one.

    :return: Models in first-seen order.
    """
    merged: dict[str, ModelResult] = {}
    for run in runs:
        for model in run.models:
            merged[model.name] = model
    return list(merged.values())
