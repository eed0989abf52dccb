"""Sentence pairs across languages mined with the teacher's vectors (an ablation of the alignment's data).

    .venv/bin/python benchmarks/mine_pairs.py --features models/multilingual-tatoeba.features \
        --tagged models/multilingual-tatoeba.tsv --min-cosine 0.93 --out models/multilingual-mined-pairs.tsv
    .venv/bin/python benchmarks/alignment_share.py --pairs models/multilingual-pairs.tsv \
        models/multilingual-stsb-pairs.tsv models/multilingual-mined-pairs.tsv --shares 0.3 0.4

The corpus's Tatoeba part is not parallel as stored. This pairs each featurised sentence with its nearest
neighbour (by the teacher's cosine) among the sentences of *other* languages, keeps the pairs whose two
sentences are each other's nearest with a cosine of at least `--min-cosine`, and writes them as
`lang<TAB>text<TAB>other` (an English sentence, when one side is English, is the second column).
`--features` is the featurisation of exactly the `--tagged` file's texts, in its order (what
`benchmarks/multilingual_tatoeba.py` writes). docs/multilingual.md has the result.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from model2vec.pretrain.featurize import read_features

ROOT = Path(__file__).resolve().parents[1]


def nearest_other_language(
    vectors: np.ndarray, languages: np.ndarray, block: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's nearest row of another language and their cosine (rows of `vectors` unit length)."""
    best = np.zeros(len(vectors), dtype=np.int64)
    cosine = np.full(len(vectors), -1.0, dtype=np.float32)
    for start in range(0, len(vectors), block):
        rows = np.arange(start, min(start + block, len(vectors)))
        similarities = vectors[rows] @ vectors.T
        similarities[languages[rows][:, None] == languages[None, :]] = -np.inf
        best[rows] = similarities.argmax(axis=1)
        cosine[rows] = similarities[np.arange(len(rows)), best[rows]]
    return best, cosine


def main(argv: list[str] | None = None) -> int:
    """Mine, write the pairs and print how many."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, default=ROOT / "models" / "multilingual-tatoeba.features")
    parser.add_argument("--tagged", type=Path, default=ROOT / "models" / "multilingual-tatoeba.tsv")
    parser.add_argument("--min-cosine", type=float, default=0.93)
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "multilingual-mined-pairs.tsv")
    args = parser.parse_args(argv)

    texts, vectors = read_features(args.features)
    rows = [line.rstrip("\n").split("\t", 1) for line in args.tagged.read_text(encoding="utf-8").splitlines()]
    if len(rows) != len(texts):
        raise ValueError(f"{args.tagged} has {len(rows)} lines, {args.features} {len(texts)} texts.")
    codes = {language: index for index, language in enumerate(sorted({language for language, _ in rows}))}
    languages = np.array([codes[language] for language, _ in rows])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    best, cosine = nearest_other_language(unit, languages)
    mutual = best[best] == np.arange(len(best))
    written = 0
    with args.out.open("w", encoding="utf-8") as handle:
        for first in np.flatnonzero(mutual & (cosine >= args.min_cosine)):
            second = int(best[first])
            if first > second:
                continue
            query, target = (second, first) if rows[first][0] == "eng_Latn" else (first, second)
            handle.write(f"{rows[query][0]}\t{rows[query][1]}\t{rows[target][1]}\n")
            written += 1
    print(f"{written} mutual nearest pairs with cosine >= {args.min_cosine} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
