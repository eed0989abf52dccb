"""`scripts/stsb_pairs.py`: translation pairs from the row-parallel train split of STSb multi-MT."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "stsb_pairs.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stsb_pairs_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_split(folder: Path, code: str, split: str, rows: list[tuple[str, str, float]]) -> None:
    lines = [json.dumps({"sentence1": a, "sentence2": b, "score": score}) for a, b, score in rows]
    (folder / f"stsb_multi_mt.{code}.{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def eval_dir(tmp_path: Path) -> Path:
    sts = tmp_path / "eval" / "sts"
    sts.mkdir(parents=True)
    write_split(sts, "en", "train", [("A dog runs.", "A cat sleeps.", 1.0), ("Hi.", "Hello.", 4.0)])
    write_split(sts, "de", "train", [("Ein Hund rennt.", "Eine Katze schläft.", 1.0), ("Hi.", "Hallo.", 4.0)])
    write_split(sts, "fr", "train", [("Un chien court.", "Un chat dort.", 1.0), ("Salut.", "Bonjour.", 4.0)])
    # Test and validation splits stay evaluation data: never read.
    write_split(sts, "de", "test", [("Nie gelesen.", "Nie.", 2.0)])
    write_split(sts, "en", "test", [("Never read.", "Never.", 2.0)])
    files = [
        {"path": f"eval/sts/stsb_multi_mt.{code}.train.jsonl", "lang": lang}
        for code, lang in (("en", "eng_Latn"), ("de", "deu_Latn"), ("fr", "fra_Latn"))
    ]
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"files": files}))
    return tmp_path / "eval"


def test_every_non_english_train_sentence_is_paired_with_its_original(script: ModuleType, eval_dir: Path) -> None:
    pairs = script.stsb_pairs(eval_dir)
    assert pairs == [
        ("deu_Latn", "Ein Hund rennt.", "A dog runs."),
        ("deu_Latn", "Eine Katze schläft.", "A cat sleeps."),
        ("deu_Latn", "Hallo.", "Hello."),  # "Hi." equals its English line: no pair
        ("fra_Latn", "Un chien court.", "A dog runs."),
        ("fra_Latn", "Un chat dort.", "A cat sleeps."),
        ("fra_Latn", "Salut.", "Hi."),
        ("fra_Latn", "Bonjour.", "Hello."),
    ]
    assert not any("Nie" in text for _, text, _ in pairs)


def test_a_file_that_is_not_row_parallel_is_refused(script: ModuleType, eval_dir: Path) -> None:
    write_split(
        eval_dir / "sts", "fr", "train", [("Un chien court.", "Un chat dort.", 2.5), ("Salut.", "Bonjour.", 4.0)]
    )
    with pytest.raises(ValueError, match="row-parallel"):
        script.stsb_pairs(eval_dir)
    write_split(eval_dir / "sts", "fr", "train", [("Un chien court.", "Un chat dort.", 1.0)])
    with pytest.raises(ValueError, match="row-parallel"):
        script.stsb_pairs(eval_dir)


def test_the_written_file_reads_back_as_pairs(script: ModuleType, eval_dir: Path, tmp_path: Path) -> None:
    from model2vec.pretrain.parallel import read_pairs

    out = tmp_path / "pairs.tsv"
    assert script.main(["--data", str(eval_dir), "--out", str(out)]) == 0
    assert list(read_pairs(out))[:2] == [("Ein Hund rennt.", "A dog runs."), ("Eine Katze schläft.", "A cat sleeps.")]
