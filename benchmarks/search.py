"""Search speed and recall of model2vec.search.SearchIndex: exact against approximate (usearch HNSW).

Data (`--data`): "corpus" (default) embeds N distinct sentences of ../shared/data/corpus with the
distilled model (models/minilm-distilled, 256-d) and uses other sentences of the corpus as queries;
"random" is N random unit vectors (the hardest case for a graph index, no structure at all);
"clustered" is random vectors around 10,000 random centres. Without the corpus or the model, "corpus"
falls back to "clustered" and says so.

For each exact storage dtype and each approximate setting: build time, queries/second for batched
queries and for one query at a time, and recall@10 against float32 exact search. One HNSW graph is
built per approximate dtype; each `--expansion-search` value is a separate row on that graph.

    .venv/bin/python benchmarks/search.py                                  # 1M corpus sentences
    .venv/bin/python benchmarks/search.py --n 100000 --quick               # a fast smoke run
    .venv/bin/python benchmarks/search.py --data clustered --dtypes float32

Results are printed as a table and written to benchmarks/results/search.json (git-ignored).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

from model2vec.search import SearchIndex

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CORPUS = ROOT.parent / "shared" / "data" / "corpus"
MODEL = ROOT / "models" / "minilm-distilled"


def random_unit(n: int, dim: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """N random float32 unit vectors, generated in chunks to keep the float64 temporaries small."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out


def clustered_unit(n: int, dim: int, seed: int, centres: int = 10_000, spread: float = 0.6) -> np.ndarray:
    """N unit vectors, each a random centre plus Gaussian noise of relative size `spread` per dimension."""
    rng = np.random.default_rng(seed)
    middles = random_unit(centres, dim, seed + 1000)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        block = middles[rng.integers(0, centres, size)]
        block += rng.standard_normal((size, dim), dtype=np.float32) * (spread / np.sqrt(dim))
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + size] = block
    return out


def corpus_sentences(limit: int) -> list[str]:
    """Up to `limit` distinct sentences (>= 20 characters) of the shared corpus, in file order."""
    seen: dict[str, None] = {}
    for path in sorted(CORPUS.glob("*.txt.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                for sentence in re.split(r"(?<=[.!?])\s+", line.strip()):
                    if len(sentence) >= 20:
                        seen[sentence] = None
                        if len(seen) >= limit:
                            return list(seen)
    return list(seen)


def load_data(kind: str, n: int, n_queries: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Stored vectors, query vectors and a description of the data actually used."""
    if kind == "corpus":
        if not CORPUS.is_dir() or not (MODEL / "model.safetensors").is_file():
            print(f"corpus or model missing ({CORPUS}, {MODEL}): using clustered random data", flush=True)
            kind = "clustered"
        else:
            from model2vec import StaticModel

            sentences = corpus_sentences(n + n_queries)
            if len(sentences) < n + n_queries:
                raise SystemExit(f"The corpus has only {len(sentences):,} distinct sentences; use --n smaller.")
            model = StaticModel.from_pretrained(MODEL)
            start = time.perf_counter()
            # Queries are the sentences after the stored ones: near neighbours exist, exact copies do not.
            vectors = model.encode(sentences[:n])
            queries = model.encode(sentences[n : n + n_queries])
            print(f"embedded {n + n_queries:,} sentences in {time.perf_counter() - start:.1f} s", flush=True)
            return vectors, queries, f"corpus: {n:,} distinct sentences of ../shared/data/corpus, {MODEL.name}"
    if kind == "clustered":
        everything = clustered_unit(n + n_queries, dim, seed)
        return everything[:n], everything[n:], f"clustered: {n:,} random unit vectors around 10,000 centres"
    return random_unit(n, dim, seed), random_unit(n_queries, dim, seed + 1), f"random: {n:,} random unit vectors"


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
    parser.add_argument("--dim", type=int, default=256, help="dimension of random data (corpus: the model's)")
    parser.add_argument("--data", choices=["corpus", "clustered", "random"], default="corpus")
    parser.add_argument("--queries", type=int, default=1000, help="queries in the batched run")
    parser.add_argument("--single", type=int, default=20, help="queries run one at a time (exact)")
    parser.add_argument("--single-ann", type=int, default=1000, help="queries run one at a time (approximate)")
    parser.add_argument("--batch", type=int, default=128, help="queries per search call in the batched run")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--dtypes", default="float32,float16,int8", help="exact storage dtypes")
    parser.add_argument("--ann-dtypes", default="float32", help="storage dtypes of approximate indexes")
    parser.add_argument("--connectivity", type=int, default=16)
    parser.add_argument("--expansion-add", type=int, default=64)
    parser.add_argument("--expansion-search", default="256,320,512", help="comma-separated, one row each")
    parser.add_argument("--graph-dtype", default="int8", help="dtype of the HNSW graph's vectors")
    parser.add_argument("--oversample", type=int, default=3, help="graph candidates per result, rescored exactly")
    parser.add_argument("--threads", type=int, default=0, help="usearch threads (0 = all cores)")
    parser.add_argument("--memory-budget", type=int, default=256 * 2**20, help="bytes per search block")
    parser.add_argument("--quick", action="store_true", help="200 batched and 5/200 single queries")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.queries, args.single, args.single_ann = 200, 5, 200

    vectors, queries, data = load_data(args.data, args.n, args.queries, args.dim, args.seed)
    print(data, flush=True)
    rows = []
    reference: list[list[object]] | None = None

    def report(index: SearchIndex, found: list[list[object]], **row: object) -> None:
        assert reference is not None
        row[f"recall@{args.k}"] = round(recall(reference, found, args.k), 4)
        row["index_mib"] = round(index._vectors.nbytes / 2**20, 1)
        rows.append(row)
        print(row, flush=True)

    exact_dtypes = [d for d in args.dtypes.split(",") if d]
    if "float32" not in exact_dtypes:
        exact_dtypes.insert(0, "float32")  # the recall reference
    for dtype in exact_dtypes:
        index = SearchIndex(dtype=dtype, memory_budget=args.memory_budget)
        start = time.perf_counter()
        index.add(vectors)
        build_s = time.perf_counter() - start
        found, batched_qps = timed_search(index, queries, args.k, args.batch)
        _, single_qps = timed_search(index, queries[: args.single], args.k, 1)
        if dtype == "float32":
            reference = found
        report(
            index,
            found,
            backend="exact",
            dtype=dtype,
            params="",
            build_s=round(build_s, 2),
            batched_qps=round(batched_qps, 1),
            single_qps=round(single_qps, 1),
        )
        del index

    for dtype in [d for d in args.ann_dtypes.split(",") if d]:
        options = {
            "connectivity": args.connectivity,
            "expansion_add": args.expansion_add,
            "threads": args.threads,
            "graph_dtype": args.graph_dtype,
            "oversample": args.oversample,
        }
        index = SearchIndex(dtype=dtype, memory_budget=args.memory_budget, backend="usearch", backend_options=options)
        start = time.perf_counter()
        index.add(vectors)
        build_s = time.perf_counter() - start
        print(f"usearch {dtype} graph built in {build_s:.1f} s", flush=True)
        for expansion in [int(e) for e in args.expansion_search.split(",") if e]:
            index._backend.expansion_search = expansion  # type: ignore[attr-defined]
            found, batched_qps = timed_search(index, queries, args.k, args.batch)
            _, single_qps = timed_search(index, queries[: args.single_ann], args.k, 1)
            params = (
                f"M={args.connectivity} ef_add={args.expansion_add} ef_search={expansion} "
                f"graph={args.graph_dtype} oversample={args.oversample}"
            )
            report(
                index,
                found,
                backend="usearch",
                dtype=dtype,
                params=params,
                build_s=round(build_s, 2),
                batched_qps=round(batched_qps, 1),
                single_qps=round(single_qps, 1),
            )
        del index

    exact = {row["dtype"]: row for row in rows if row["backend"] == "exact"}
    for row in rows:
        base = exact["float32"]
        row["batched_speedup"] = round(float(row["batched_qps"]) / float(base["batched_qps"]), 1)  # type: ignore[arg-type]
        row["single_speedup"] = round(float(row["single_qps"]) / float(base["single_qps"]), 1)  # type: ignore[arg-type]

    command = " ".join([".venv/bin/python", *sys.argv])
    header = [
        "backend",
        "dtype",
        "params",
        "index_mib",
        "build_s",
        "batched_qps",
        "batched_speedup",
        "single_qps",
        "single_speedup",
        f"recall@{args.k}",
    ]
    print(f"\n{data}; dim={vectors.shape[1]} k={args.k} batch={args.batch} cores={os.cpu_count()}")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    print(f"\nReproduce: {command}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "search.json"
    settings = {key: value for key, value in vars(args).items()}
    meta = {"machine": platform.platform(), "cores": os.cpu_count(), "numpy": np.__version__, "data": data}
    out.write_text(json.dumps({"settings": settings, "meta": meta, "command": command, "rows": rows}, indent=2))
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
