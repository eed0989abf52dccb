"""Dev-suite table for pre-training: teacher, plain distillation and the pre-trained model (float16, int8).

    make pretrain && .venv/bin/python benchmarks/pretrain.py

Uses `models/minilm-distilled` (make distill) and `models/minilm-pretrained` (make pretrain); the
teacher's scores come from the cache `benchmarks/results/teacher.json` written by benchmarks/evaluate.py
(computed here if absent, ~10 min). Prints the Markdown table for the README and checks the acceptance
rule: the pre-trained model beats plain distillation by >= 3.0 points on the average over task types,
and loses no more than 1.0 point on any task type (float16 and int8 each compared with their own kind).
Writes `benchmarks/results/pretrain.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model2vec.evaluation import discover_tasks, load_model, read_results, resolve_data_dir, run_suite, write_results
from model2vec.evaluation.runner import ModelResult

ROOT = Path(__file__).resolve().parents[1]


def row(model: ModelResult, types: list[str]) -> str:
    scores = model.type_scores()
    cells = " | ".join(f"{scores[t]:.2f}" for t in types)
    return f"| {model.name} | {cells} | {model.average:.2f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distilled", default=str(ROOT / "models" / "minilm-distilled"))
    parser.add_argument("--pretrained", default=str(ROOT / "models" / "minilm-pretrained"))
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)
    results = Path(args.results)
    specs = discover_tasks(resolve_data_dir(args.data))
    teacher_file = results / "teacher.json"
    if not teacher_file.is_file():
        write_results(run_suite([load_model("teacher:all-minilm-l6-v2")], specs, progress=True), teacher_file)
    teacher = read_results(teacher_file).models[0]
    names = {
        "distill-fp16": f"plain distill fp16={args.distilled}+float16",
        "pretrain-fp16": f"pre-trained fp16={args.pretrained}+float16",
        "distill-int8": f"plain distill int8={args.distilled}+int8",
        "pretrain-int8": f"pre-trained int8={args.pretrained}+int8",
    }
    run = run_suite([load_model(spec) for spec in names.values()], specs, progress=True)
    by_key = dict(zip(names, run.models, strict=True))
    types = list(teacher.type_scores())
    print("| Model | " + " | ".join(types) + " | Average |")
    print("|---|" + "---:|" * (len(types) + 1))
    for model in [teacher, *run.models]:
        print(row(model, types))
    verdicts = {}
    for kind in ("fp16", "int8"):
        plain, trained = by_key[f"distill-{kind}"], by_key[f"pretrain-{kind}"]
        deltas = {t: trained.type_scores()[t] - plain.type_scores()[t] for t in types}
        gain = (trained.average or 0.0) - (plain.average or 0.0)
        holds = gain >= 3.0 and min(deltas.values()) >= -1.0
        verdicts[kind] = {"average_gain": gain, "type_deltas": deltas, "holds": holds}
        print(f"\n{kind}: average {gain:+.2f}; per type " + ", ".join(f"{t} {d:+.2f}" for t, d in deltas.items()))
        print(f"{kind}: acceptance (>= +3.0 average, no type below -1.0): {'holds' if holds else 'FAILS'}")
    results.mkdir(parents=True, exist_ok=True)
    payload = {"models": [m.as_dict() for m in [teacher, *run.models]], "verdicts": verdicts}
    (results / "pretrain.json").write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if all(v["holds"] for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
