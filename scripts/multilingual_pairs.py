"""Translation pairs (language, text, English) from the line-parallel parts of the multilingual corpus.

    .venv/bin/python scripts/multilingual_pairs.py --model models/multilingual-distilled \
        --out models/multilingual-pairs.tsv

NTREX-128 (news, 1,997 lines translated into 128 languages) and TICO-19 (COVID-19, 2,100 lines into
36) are line-parallel in their sources, but the shared corpus removed duplicate and evaluation lines
and concatenates regional variants and second references, so each language's block is aligned to
the English block again (`model2vec.pretrain.parallel.align_parallel` on the vectors of a static
model: cosines above both lines' averages, order-preserving, several passes; the distilled model's 8
leading principal components are left out, as they mostly tell languages apart). Tatoeba-Challenge
sentences are not parallel and are left out. The language blocks are read in the corpus's build order (MANIFEST.json:
`corpus.rows_per_language_and_source`). Writes `lang<TAB>text<TAB>english` lines (the data stays
outside the repository: the default output is under the git-ignored `models/`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

from model2vec import StaticModel
from model2vec.pretrain.parallel import align_parallel

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "multilingual"
PARALLEL_SOURCES = ("ntrex128", "tico19")
PIVOT = "eng_Latn"


def language_blocks(data: Path) -> dict[str, dict[str, list[str]]]:
    """Each language's corpus lines split by source, in the corpus's build order."""
    manifest = json.loads((data / "MANIFEST.json").read_text())
    counts: dict[str, dict[str, int]] = manifest["corpus"]["rows_per_language_and_source"]
    rows: dict[str, list[str]] = {}
    with gzip.open(data / "corpus" / "corpus.tsv.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            language, text = line.rstrip("\n").split("\t", 1)
            rows.setdefault(language, []).append(text)
    blocks: dict[str, dict[str, list[str]]] = {}
    for language, by_source in counts.items():
        lines = rows.get(language, [])
        if sum(by_source.values()) != len(lines):
            raise ValueError(f"{language}: MANIFEST counts {sum(by_source.values())} lines, the corpus {len(lines)}.")
        start = 0
        for source, count in by_source.items():
            blocks.setdefault(language, {})[source] = lines[start : start + count]
            start += count
    return blocks


def main() -> int:
    """Align every language's NTREX / TICO block to English and write the pairs."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/multilingual-distilled", help="Static model for the alignment.")
    parser.add_argument(
        "--drop-dims", type=int, default=8, help="Leave out this many leading dimensions (the model's PCA order)."
    )
    parser.add_argument("--data", type=Path, default=DATA, help="The multilingual data folder.")
    parser.add_argument("--out", type=Path, default=Path("models/multilingual-pairs.tsv"))
    args = parser.parse_args()

    start = time.perf_counter()
    model = StaticModel.from_pretrained(args.model)

    def encode(texts: list[str]) -> np.ndarray:
        vectors = model.encode(texts)
        vectors[:, : args.drop_dims] = 0.0
        return vectors

    blocks = language_blocks(args.data)
    written = 0
    report = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.out.with_name(args.out.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as out:
        for source in PARALLEL_SOURCES:
            english = blocks[PIVOT][source]
            english_vectors = encode(english)
            for language in sorted(blocks):
                lines = blocks[language].get(source, [])
                if language == PIVOT or not lines:
                    continue
                matches = align_parallel(encode(lines), english_vectors)
                for i, j in matches:
                    out.write(f"{language}\t{lines[i]}\t{english[j]}\n")
                written += len(matches)
                report.append((source, language, len(lines), len(matches)))
    temporary.replace(args.out)
    matched = sum(r[3] for r in report) / max(sum(r[2] for r in report), 1)
    worst = sorted(report, key=lambda r: r[3] / max(r[2], 1))[:5]
    seconds = time.perf_counter() - start
    print(f"{written:,} pairs from {len(report)} blocks ({matched:.1%} of their lines) in {seconds:.0f} s")
    print("fewest matched:", ", ".join(f"{s}/{lang} {m}/{n}" for s, lang, n, m in worst))
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
