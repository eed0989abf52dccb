"""The speed-versus-quality chart: average score against texts/second (log scale), area = model size."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from model2vec.evaluation._deps import require
from model2vec.evaluation.runner import ModelResult

# Marker areas (points^2) of the smallest and largest model; area grows linearly with parameters.
MIN_AREA = 40.0
MAX_AREA = 2500.0


def marker_areas(sizes: Sequence[int | None]) -> list[float]:
    """Marker areas proportional to model size, scaled so the largest gets `MAX_AREA`.

    Tiny models are kept visible with a floor of `MIN_AREA`; unknown sizes get the floor too.

    :param sizes: Parameter counts (or bytes), None when unknown.
    :return: One area per size.
    """
    known = [s for s in sizes if s]
    largest = max(known) if known else 0
    return [max(MIN_AREA, MAX_AREA * s / largest) if s and largest else MIN_AREA for s in sizes]


def plot_speed_vs_score(
    results: Sequence[ModelResult], path: str | os.PathLike[str], title: str = "Average score vs. encoding speed"
) -> Path:
    """Save a scatter plot of average score (y) against texts/second (x, log scale).

    Marker area is proportional to the parameter count. Models without a measured speed or without
    any score are left out. The figure is drawn with the Agg canvas directly, so the global
    matplotlib backend is never changed.

    :param results: Model results.
    :param path: Image file to write (format from the suffix, e.g. `.png`, `.svg`).
    :param title: Figure title.
    :return: The path written.
    Names, scores and sizes are listed in a legend beside the axes.

    :raises ImportError: If matplotlib is missing (the message names the pip command).
    :raises ValueError: If no model has both a speed and an average score.
    """
    require("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = [r for r in results if r.texts_per_second and r.average is not None]
    if not shown:
        raise ValueError("Nothing to plot: no model has both an encoding speed and an average score.")
    speeds = [float(r.texts_per_second or 0.0) for r in shown]
    scores = [float(r.average or 0.0) for r in shown]
    areas = marker_areas([r.parameters for r in shown])

    figure = Figure(figsize=(10, 5.5), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for index, (result, x, y, area) in enumerate(zip(shown, speeds, scores, areas, strict=True)):
        params = f"{result.parameters / 1e6:.1f}M params" if result.parameters else "size unknown"
        axes.scatter(
            [x],
            [y],
            s=area,
            color=f"C{index % 10}",
            alpha=0.55,
            edgecolors="black",
            linewidths=0.6,
            label=f"{result.name}: {y:.1f} ({params})",
        )
    # Models of one family sit on top of each other, so names go in a legend rather than next to points.
    legend = axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, title="Model: average (size)")
    for handle in legend.legend_handles:
        if handle is not None and hasattr(handle, "set_sizes"):
            handle.set_sizes([60.0])
    axes.set_xscale("log")
    low, high = min(speeds), max(speeds)
    axes.set_xlim(low / 3, high * 4)
    spread = max(scores) - min(scores)
    axes.set_ylim(min(scores) - 0.15 * spread - 1, max(scores) + 0.15 * spread + 2)
    axes.set_xlabel("Encoding speed (distinct texts / second, log scale)")
    axes.set_ylabel("Average score (mean over task types)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    return target
