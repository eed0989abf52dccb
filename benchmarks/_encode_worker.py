"""One timed encode run in a fresh process (so caches start cold and peak memory is per run).

Run by `benchmarks/encode.py` with either this project's interpreter or the reference library's.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time


def rss_mb() -> float:
    """Current resident set size in MiB (Linux)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    """Peak resident set size of this process in MiB (Linux `VmHWM`).

    Not `ru_maxrss`: Linux carries the parent's resident size across fork+exec into the child's
    `ru_maxrss`, so a large benchmark driver would inflate every worker's figure.
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=["model2vec", "teacher"], required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--mode", choices=["single", "default", "stream"], default="default")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--stream-size", type=int, default=2_000_000)
    args = parser.parse_args()

    with open(args.data) as handle:
        texts = json.load(handle)
    if args.limit:
        texts = texts[: args.limit]
    base = rss_mb()
    result: dict[str, float | int | str] = {"mode": args.mode, "impl": args.impl}

    if args.impl == "teacher":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(args.model, device="cpu")
        model.encode(texts[:64])
        start = time.perf_counter()
        model.encode(texts, batch_size=64)
        result.update(n=len(texts), encode_s=time.perf_counter() - start)
    else:
        from model2vec import StaticModel

        try:  # this project: record whether the compiled kernels were used
            from model2vec._compiled import kernels

            result["kernels"] = kernels is not None
        except ImportError:  # the reference library
            pass
        start = time.perf_counter()
        model = StaticModel.from_pretrained(args.model)
        result["load_s"] = time.perf_counter() - start
        after_load = rss_mb()
        if args.mode == "stream":
            stream = itertools.islice(itertools.cycle(texts), args.stream_size)
            start = time.perf_counter()
            rows = sum(len(chunk) for chunk in model.encode_iter(stream, batch_size=1024))
            result.update(n=rows, encode_s=time.perf_counter() - start, above_model_mb=peak_mb() - after_load)
        else:
            kwargs = {"use_multiprocessing": False} if args.mode == "single" else {}
            start = time.perf_counter()
            out = model.encode(texts, **kwargs)
            result.update(n=len(out), encode_s=time.perf_counter() - start)
    result.update(peak_mb=peak_mb(), peak_above_texts_mb=peak_mb() - base)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
