"""Peak memory of a fresh process that loads a model and encodes 10k sentences: ours vs the reference library.

    .venv/bin/python benchmarks/memory.py                                   # models/multilingual-pretrained
    .venv/bin/python benchmarks/memory.py --model models/minilm-distilled --texts english

Each run is a new process (`benchmarks/_encode_worker.py`) that imports the library, loads the folder
and encodes the texts in one call with the library's defaults; its peak resident set (`VmHWM`) is
recorded. The two libraries alternate, and the median of `--reps` runs is reported with the ratio.
The reference library (PyPI model2vec 0.10.0) lives in its own virtual environment, created by
`benchmarks/encode.py` on first use. Writes `benchmarks/results/memory.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from encode import OURS, RESULTS, ROOT, make_data, make_multilingual_data, reference_python, run

DEFAULT_MODEL = ROOT / "models" / "multilingual-pretrained"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"model folder (default {DEFAULT_MODEL})")
    parser.add_argument("--texts", choices=("multilingual", "english"), default="multilingual")
    parser.add_argument("--n", type=int, default=10_000, help="sentences to encode (default 10000)")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.model.is_dir():
        sys.exit(f"needs a model folder at {args.model}")
    data = make_multilingual_data(100_000) if args.texts == "multilingual" else make_data(100_000, 5_000)[0]
    pythons = {"ours": OURS, "reference": reference_python()}
    peaks: dict[str, list[float]] = {name: [] for name in pythons}
    loads: dict[str, list[float]] = {name: [] for name in pythons}
    for rep in range(args.reps):
        for name in list(pythons) if rep % 2 == 0 else list(pythons)[::-1]:
            result = run(pythons[name], "--impl", "model2vec", "--model", str(args.model), "--data", str(data),
                         "--limit", str(args.n))  # fmt: skip
            peaks[name].append(result["peak_mb"])
            loads[name].append(result["load_s"])
            print(f"rep {rep} {name:9s} peak {result['peak_mb']:.0f} MB, load {result['load_s']:.2f} s", flush=True)
    ours, reference = statistics.median(peaks["ours"]), statistics.median(peaks["reference"])
    summary = {
        "model": str(args.model),
        "texts": args.texts,
        "n": args.n,
        "reps": args.reps,
        "peak_mb": {"ours": ours, "reference": reference},
        "ratio": ours / reference,
        "load_s": {name: statistics.median(values) for name, values in loads.items()},
        "runs": peaks,
        "command": " ".join([".venv/bin/python", "benchmarks/memory.py", *(argv or sys.argv[1:])]),
    }
    out = RESULTS / "memory.json"
    out.write_text(json.dumps(summary, indent=2))
    print(f"\npeak RSS: ours {ours:.0f} MB, reference {reference:.0f} MB ({100 * ours / reference:.0f}%)")
    print(f"written {out}\nreproduce: {summary['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
