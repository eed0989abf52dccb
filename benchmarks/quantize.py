"""Vocabulary quantisation: time and inertia of model2vec's k-means against scikit-learn's.

Clusters the token directions of a model's table (default: models/minilm-distilled, 29,525 x 256)
into `--clusters` rows, exactly as `StaticModel.from_pretrained(M, vocabulary_quantization=K)` does,
and reports for each method the wall time, the process CPU time (all threads; on an otherwise idle
machine the wall time is about CPU time / cores), the inertia (sum of squared distances of the unit
directions to their cluster means, computed the same way for every method from its labels) and the
iterations. The load average is recorded because the machine may be shared.

    .venv/bin/python benchmarks/quantize.py                       # ours, 3 runs, plus from_pretrained
    .venv/bin/python benchmarks/quantize.py --sklearn             # also scikit-learn's KMeans (minutes)
    .venv/bin/python benchmarks/quantize.py --clusters 1024 --repeats 1

Results are printed as a table and written to benchmarks/results/quantize.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from model2vec import StaticModel
from model2vec.quantization import kmeans

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MODEL = ROOT / "models" / "minilm-distilled"


def directions_of(model: StaticModel) -> np.ndarray:
    """The unit directions `quantize_vocabulary` clusters (per-token rows times their weights)."""
    table = model.embedding.astype(np.float32)
    if model.token_mapping is not None:
        table = table[model.token_mapping]
    if model.weights is not None:
        table = table * model.weights.astype(np.float32)[:, None]
    norms = np.linalg.norm(table, axis=1, keepdims=True)
    return table / np.where(norms > 0, norms, 1.0)


def inertia_of(points: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared distances to the cluster means, in float64 (the same yardstick for every method)."""
    values = points.astype(np.float64)
    k = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=k)
    sums = np.stack([np.bincount(labels, weights=column, minlength=k) for column in values.T], axis=1)
    filled = counts > 0
    return float((values**2).sum() - ((sums[filled] ** 2).sum(axis=1) / counts[filled]).sum())


def timed(function: Any) -> tuple[Any, float, float, list[float]]:
    """Run `function()`; return its result, wall seconds, process CPU seconds and the 1-minute load after."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu, [round(v, 2) for v in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=MODEL, help="model folder whose table is clustered")
    parser.add_argument("--clusters", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-iter", type=int, default=30, help="most Lloyd iterations of ours")
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours (same seed: must agree exactly)")
    parser.add_argument("--sklearn", action="store_true", help="also run scikit-learn's KMeans (k-means++, n_init=1)")
    parser.add_argument("--out", type=Path, default=RESULTS / "quantize.json")
    args = parser.parse_args(argv)
    if not (args.model / "model.safetensors").is_file() and not (args.model / "config.json").is_file():
        print(f"No model at {args.model}; build it with `make distill` or pass --model.", file=sys.stderr)
        return 2

    model = StaticModel.from_pretrained(args.model)
    points = directions_of(model)
    rows: list[dict[str, Any]] = []
    labels_seen: list[np.ndarray] = []
    for run in range(args.repeats):
        result, wall, cpu, load = timed(
            lambda: kmeans(points, args.clusters, seed=args.seed, max_iter=args.max_iter, show_progress_bar=False)
        )
        labels_seen.append(result.labels)
        rows.append(
            {
                "method": "model2vec kmeans",
                "run": run + 1,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "inertia": round(inertia_of(points, result.labels), 3),
                "iterations": result.iterations,
                "converged": result.converged,
                "load": load,
            }
        )
        print(rows[-1], flush=True)
    deterministic = all(np.array_equal(labels_seen[0], labels) for labels in labels_seen[1:])

    loaded, wall, cpu, load = timed(
        lambda: StaticModel.from_pretrained(args.model, vocabulary_quantization=args.clusters)
    )
    rows.append(
        {
            "method": "from_pretrained(vocabulary_quantization)",
            "run": 1,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "inertia": round(inertia_of(points, np.asarray(loaded.token_mapping)), 3),
            "iterations": None,
            "converged": None,
            "load": load,
        }
    )
    print(rows[-1], flush=True)

    if args.sklearn:
        from sklearn.cluster import KMeans

        estimator = KMeans(n_clusters=args.clusters, random_state=args.seed, n_init=1, init="k-means++")
        labels, wall, cpu, load = timed(lambda: estimator.fit_predict(points))
        rows.append(
            {
                "method": "scikit-learn KMeans",
                "run": 1,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "inertia": round(inertia_of(points, labels), 3),
                "iterations": int(estimator.n_iter_),
                "converged": None,
                "load": load,
            }
        )
        print(rows[-1], flush=True)
        reference = rows[-1]["inertia"]
        for row in rows:
            row["inertia_vs_sklearn"] = round(row["inertia"] / reference, 4)

    command = " ".join(
        ["python", "benchmarks/quantize.py", *map(shlex.quote, argv if argv is not None else sys.argv[1:])]
    )
    header = ["method", "run", "wall_s", "cpu_s", "inertia", "iterations", "converged", "load"]
    if args.sklearn:
        header.insert(5, "inertia_vs_sklearn")
    n, dim = points.shape
    print(f"\n{args.model.name}: {n} x {dim} -> {args.clusters} clusters, seed {args.seed}, cores {os.cpu_count()}")
    print(f"same labels in every run of ours: {deterministic}")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    print(f"\nreproduce: {command}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": command,
        "settings": {"model": str(args.model), "shape": [n, dim], "clusters": args.clusters, "seed": args.seed},
        "machine": {"platform": platform.platform(), "cores": os.cpu_count(), "numpy": np.__version__},
        "deterministic": deterministic,
        "rows": rows,
    }
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
