"""Translation pairs from the *train* split of STSb multi-MT: each sentence with its English original.

    .venv/bin/python scripts/stsb_pairs.py --out models/multilingual-stsb-pairs.tsv

STSb multi-MT is the STS benchmark machine-translated into 10 languages, row for row (the same pairs and
scores in every language), so row i of `stsb_multi_mt.de.train.jsonl` is the translation of row i of
`stsb_multi_mt.en.train.jsonl`. Writes `lang<TAB>text<TAB>English` lines (the format of
`model2vec.pretrain.read_pairs`) for both sentences of every train row of every non-English language,
skipping texts equal to their English line. Only the train split is read: the validation and test
splits stay evaluation data. Nothing is written into the repository (the output is under models/).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from model2vec.evaluation.data import resolve_data_dir


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Return the JSON objects of a JSON-lines file (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def stsb_pairs(eval_dir: Path) -> list[tuple[str, str, str]]:
    """`(lang, text, English text)` for every non-English train file of STSb multi-MT under `eval_dir`.

    :param eval_dir: The multilingual suite's `eval` folder (with `sts/` and `../MANIFEST.json`).
    :return: The pairs, in file then row order, without duplicates.
    :raises FileNotFoundError: If the English train file is missing.
    :raises ValueError: If a language's file does not have the English file's rows and scores, or the
        manifest gives it no language.
    """
    manifest = json.loads((eval_dir.parent / "MANIFEST.json").read_text())
    language_of = {Path(entry["path"]).name: entry["lang"] for entry in manifest["files"] if "lang" in entry}
    sts = eval_dir / "sts"
    english = read_rows(sts / "stsb_multi_mt.en.train.jsonl")
    pairs: dict[tuple[str, str, str], None] = {}
    for path in sorted(sts.glob("stsb_multi_mt.*.train.jsonl")):
        if path.name == "stsb_multi_mt.en.train.jsonl":
            continue
        rows = read_rows(path)
        if len(rows) != len(english) or any(a["score"] != b["score"] for a, b in zip(rows, english, strict=True)):
            raise ValueError(f"{path.name} is not row-parallel with the English train file.")
        if path.name not in language_of:
            raise ValueError(f"MANIFEST.json gives no language for {path.name}.")
        language = str(language_of[path.name])
        for row, original in zip(rows, english, strict=True):
            for key in ("sentence1", "sentence2"):
                if row[key] != original[key]:
                    pairs[(language, row[key], original[key])] = None
    return list(pairs)


def main(argv: list[str] | None = None) -> int:
    """Write the pairs file and print how many pairs per language."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="The pairs file to write.")
    parser.add_argument("--data", type=Path, default=None, help="The multilingual eval folder (default: the suite's).")
    args = parser.parse_args(argv)
    pairs = stsb_pairs(resolve_data_dir(args.data, suite="multilingual"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        for language, text, target in pairs:
            handle.write(f"{language}\t{text}\t{target}\n")
    counts: dict[str, int] = {}
    for language, _, _ in pairs:
        counts[language] = counts.get(language, 0) + 1
    print(f"{len(pairs)} pairs: " + ", ".join(f"{lang} {n}" for lang, n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
