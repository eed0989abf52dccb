"""Prediction speed of a saved StaticModelPipeline, measured in a process where torch cannot be imported.

    .venv/bin/python benchmarks/pipeline.py                      # trains a trec classifier first
    .venv/bin/python benchmarks/pipeline.py --pipeline PATH       # an already saved pipeline

The texts are the dev suite's classification test splits plus part of sst2's training split (distinct
texts, so the tokenizer's word cache gives no unfair help beyond what real traffic gets). The reported
figure is the median of `--repeats` timed `predict` calls over all texts after one warm-up call.
Prints a table and the command that reproduces it, and writes JSON next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "eval" / "classification"


def read_texts(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]


def benchmark_texts(n: int) -> list[str]:
    texts: list[str] = []
    for name in ["agnews.test", "emotion.test", "sst2.test", "trec.test", "sst2.train"]:
        texts.extend(read_texts(DATA / f"{name}.jsonl"))
    unique = list(dict.fromkeys(texts))
    return unique[:n]


def build_pipeline(model_path: str, folder: Path) -> None:
    """Fine-tune a small trec classifier and save it as a pipeline (this process imports torch)."""
    import torch

    from model2vec.train import StaticModelForClassification

    torch.set_num_threads(2)
    rows = [json.loads(line) for line in (DATA / "trec.train.jsonl").read_text().splitlines() if line.strip()]
    classifier = StaticModelForClassification.from_pretrained(model_path, hidden_dim=512)
    classifier.fit(
        [r["text"] for r in rows],
        [r["label"] for r in rows],
        max_epochs=3,
        batch_size=512,
        device="cpu",
        show_progress_bar=False,
    )
    classifier.to_pipeline().save_pretrained(folder)


def measure(folder: str, n: int, repeats: int, batch_size: int) -> dict[str, float]:
    """Load the pipeline and time predict; runs in the torch-blocked subprocess."""
    start = time.perf_counter()
    from model2vec.inference import StaticModelPipeline

    pipeline = StaticModelPipeline.from_pretrained(folder)
    load_seconds = time.perf_counter() - start
    texts = benchmark_texts(n)
    pipeline.predict(texts[:2000], batch_size=batch_size)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pipeline.predict(texts, batch_size=batch_size)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "texts": len(texts),
        "median_seconds": seconds,
        "texts_per_second": len(texts) / seconds,
        "load_seconds": load_seconds,
        "torch_imported": "torch" in sys.modules,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "minilm-distilled"))
    parser.add_argument("--pipeline", default=None, help="a saved pipeline; default: train one on trec")
    parser.add_argument("--texts", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipeline.json"))
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.texts, args.repeats, args.batch_size)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.pipeline
        if folder is None:
            folder = str(Path(tmp) / "trec-pipeline")
            build_pipeline(args.model, Path(folder))
        # Deployment conditions: a fresh process in which `import torch` fails.
        blocker = Path(tmp) / "block"
        blocker.mkdir()
        (blocker / "torch.py").write_text("raise ImportError('torch is blocked for this benchmark')\n")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), str(ROOT / "src")]))
        command = [
            sys.executable,
            __file__,
            "--measure",
            folder,
            "--texts",
            str(args.texts),
            "--repeats",
            str(args.repeats),
            "--batch-size",
            str(args.batch_size),
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])

    table = "\n".join(
        [
            "| texts | median time | texts/s | load time | torch imported |",
            "|---:|---:|---:|---:|---|",
            f"| {result['texts']} | {result['median_seconds']:.2f} s | {result['texts_per_second']:,.0f} | "
            f"{result['load_seconds']:.2f} s | {result['torch_imported']} |",
        ]
    )
    print(table)
    print("\nReproduce with:\n```\n.venv/bin/python " + " ".join(["benchmarks/pipeline.py", *sys.argv[1:]]) + "\n```")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k not in {"out", "measure"}}
    out.write_text(
        json.dumps({"settings": settings, "cpu_count": os.cpu_count(), "result": result, "table": table}, indent=2)
        + "\n"
    )
    print(f"\nWrote {out}")


if __name__ == "__main__":
    main()
