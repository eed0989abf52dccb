"""Exact search speed of model2vec.search.SearchIndex on N random unit vectors.

For each storage dtype: build time, queries/second for batched queries and for one query at a time,
and recall@10 against float32 exact search (1.0 for float32 by definition). An approximate backend
would be reported here too; none is available yet (see docs/search.md).

    .venv/bin/python benchmarks/search.py                      # 1M x 256, float32/float16/int8
    .venv/bin/python benchmarks/search.py --n 100000 --quick   # a fast smoke run

Results are printed as a table and written to benchmarks/results/search.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from model2vec.search import SearchIndex

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def random_unit(n: int, dim: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """N random float32 unit vectors, generated in chunks to keep the float64 temporaries small."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out


def timed_search(index: SearchIndex, queries: np.ndarray, k: int, batch: int) -> tuple[list[list[object]], float]:
    """Search `queries` in batches of `batch`; return all ids and the queries/second."""
    found: list[list[object]] = []
    start = time.perf_counter()
    for i in range(0, len(queries), batch):
        ids, _ = index.search(queries[i : i + batch], k)
        found.extend(ids)
    return found, len(queries) / (time.perf_counter() - start)


def recall(reference: list[list[object]], found: list[list[object]], k: int) -> float:
    """Mean fraction of the reference top-k that was found."""
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(reference, found, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="stored vectors")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=256, help="queries in the batched run")
    parser.add_argument("--single", type=int, default=20, help="queries run one at a time")
    parser.add_argument("--batch", type=int, default=128, help="queries per search call in the batched run")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--dtypes", default="float32,float16,int8")
    parser.add_argument("--memory-budget", type=int, default=256 * 2**20, help="bytes per search block")
    parser.add_argument("--quick", action="store_true", help="64 batched and 5 single queries")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.queries, args.single = 64, 5

    vectors = random_unit(args.n, args.dim, args.seed)
    queries = random_unit(args.queries, args.dim, args.seed + 1)
    rows = []
    reference: list[list[object]] | None = None
    for dtype in args.dtypes.split(","):
        index = SearchIndex(dim=args.dim, dtype=dtype, memory_budget=args.memory_budget)
        start = time.perf_counter()
        index.add(vectors)
        build_s = time.perf_counter() - start
        found, batched_qps = timed_search(index, queries, args.k, args.batch)
        _, single_qps = timed_search(index, queries[: args.single], args.k, 1)
        if dtype == "float32" or reference is None:
            reference = found
        rows.append(
            {
                "backend": "exact",
                "dtype": dtype,
                "build_s": round(build_s, 2),
                "batched_qps": round(batched_qps, 1),
                "single_qps": round(single_qps, 1),
                f"recall@{args.k}_vs_float32": round(recall(reference, found, args.k), 4),
                "index_mib": round(index._vectors.nbytes / 2**20, 1),
            }
        )
        print(rows[-1], flush=True)
        del index

    command = " ".join([".venv/bin/python", *sys.argv])
    header = ["backend", "dtype", "index_mib", "build_s", "batched_qps", "single_qps", f"recall@{args.k}_vs_float32"]
    print(f"\nN={args.n:,} dim={args.dim} k={args.k} batch={args.batch} cores={os.cpu_count()}")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    print(f"\nReproduce: {command}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "search.json"
    settings = {key: value for key, value in vars(args).items()}
    meta = {"machine": platform.platform(), "cores": os.cpu_count(), "numpy": np.__version__}
    out.write_text(json.dumps({"settings": settings, "meta": meta, "command": command, "rows": rows}, indent=2))
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
