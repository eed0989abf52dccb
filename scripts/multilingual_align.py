"""The last step of the multilingual model: align languages on translation pairs (contrastive, 30% kept).

    .venv/bin/python scripts/multilingual_align.py --start models/multilingual-fit \
        --pairs models/multilingual-pairs.tsv --out models/multilingual-pretrained

Fine-tunes the pre-trained model on the (text, English) pairs of `scripts/multilingual_pairs.py` with
in-batch negatives for one epoch and keeps 30% of the change (`model2vec.train.align_languages`;
validation on the pairs of held-out English lines), then stores float16 as the pre-training did.
docs/multilingual.md has the ablation that chose it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from model2vec import StaticModel
from model2vec.model import quantize_model
from model2vec.pretrain.parallel import read_pairs
from model2vec.train import align_languages
from model2vec.train.alignment import DEFAULT_LEARNING_RATE, DEFAULT_SHARE


def main() -> int:
    """Align, quantise and save; copy the pre-training report next to the model."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=Path, required=True, help="The pre-trained model folder.")
    parser.add_argument("--pairs", type=Path, nargs="+", required=True, help="lang<TAB>text<TAB>English pairs files.")
    parser.add_argument("--out", type=Path, required=True, help="The model folder to write.")
    parser.add_argument("--share", type=float, default=DEFAULT_SHARE, help="Share of the fine-tuned table kept.")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=DEFAULT_LEARNING_RATE)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    start_time = time.perf_counter()
    start = StaticModel.from_pretrained(args.start)
    aligned = align_languages(
        start,
        list(read_pairs(args.pairs)),
        share=args.share,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    quantize_to = str(start.config.get("pretrain", {}).get("quantize_to", "float16"))
    aligned = quantize_model(aligned, quantize_to=quantize_to)
    aligned.save_pretrained(args.out)
    report_file = args.start / "pretrain.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    report["alignment"] = {**aligned.config["alignment"], "seconds": time.perf_counter() - start_time}
    (args.out / "pretrain.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"Saved {args.out}: {aligned}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
