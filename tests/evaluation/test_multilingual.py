"""Bitext mining, languages of tasks, the multilingual suite layout and the per-language table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model2vec.evaluation import discover_tasks, evaluate_model, load_task, read_results, write_results
from model2vec.evaluation.data import TaskType, name_language, resolve_data_dir
from model2vec.evaluation.leaderboard import language_scores, language_table, leaderboard_table, task_table
from model2vec.evaluation.metrics import bitext_scores, nearest_rows
from model2vec.evaluation.runner import SuiteRun


def test_bitext_scores_equal_scikit_learn_weighted() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for n in (2, 7, 50):
        predicted = np.where(rng.random(n) < 0.6, np.arange(n), rng.integers(0, n, size=n))
        gold = np.arange(n)
        got = bitext_scores(predicted)
        assert got["f1"] == pytest.approx(metrics.f1_score(gold, predicted, average="weighted"), abs=1e-12)
        assert got["precision"] == pytest.approx(
            metrics.precision_score(gold, predicted, average="weighted", zero_division=0), abs=1e-12
        )
        assert got["recall"] == pytest.approx(metrics.recall_score(gold, predicted, average="weighted"), abs=1e-12)
        assert got["accuracy"] == pytest.approx(metrics.accuracy_score(gold, predicted), abs=1e-12)


def test_bitext_scores_hand_computed_and_errors() -> None:
    # 0 and 1 both choose 0: class 0 has F1 2/3, class 1 none, class 2 is found alone: (2/3 + 0 + 1) / 3.
    assert bitext_scores(np.array([0, 0, 2]))["f1"] == pytest.approx((2 / 3 + 1) / 3)
    with pytest.raises(ValueError, match="predictions"):
        bitext_scores(np.array([0, 3, 1]))
    with pytest.raises(ValueError, match="predictions"):
        bitext_scores(np.array([], dtype=np.int64))


def test_nearest_rows_blocks_and_ties() -> None:
    rng = np.random.default_rng(1)
    queries, candidates = rng.normal(size=(37, 5)), rng.normal(size=(11, 5))
    expected = np.argmax(
        (queries / np.linalg.norm(queries, axis=1, keepdims=True))
        @ (candidates / np.linalg.norm(candidates, axis=1, keepdims=True)).T,
        axis=1,
    )
    np.testing.assert_array_equal(nearest_rows(queries, candidates, block=4), expected)
    assert nearest_rows(np.ones((1, 2)), np.ones((3, 2))).tolist() == [0]  # first on ties
    with pytest.raises(ValueError, match="Cannot match"):
        nearest_rows(np.ones((1, 2)), np.ones((1, 3)))


def write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def tiny_multilingual_suite(root: Path) -> Path:
    """Bitext and STS in the layout of ../shared/data/multilingual, with a MANIFEST.json."""
    suite = root / "eval"
    words = {"deu": ["hund", "katze", "haus"], "fra": ["chien", "chat", "maison"]}
    english = ["dog", "cat", "house"]
    files = []
    for code, foreign in words.items():
        path = suite / "bitext_mining" / f"tatoeba.{code}-eng.jsonl"
        write_jsonl(path, [{"sentence1": f, "sentence2": e} for f, e in zip(foreign, english, strict=True)])
        files.append({"path": f"eval/bitext_mining/{path.name}", "lang": f"{code}_Latn"})
    pairs = [
        {"sentence1": "dog", "sentence2": "cat", "score": 1.0},
        {"sentence1": "dog", "sentence2": "dog", "score": 5.0},
    ]
    pairs.append({"sentence1": "cat", "sentence2": "house", "score": 0.5})
    for split in ("train", "validation", "test"):
        write_jsonl(suite / "sts" / f"stsb_multi_mt.de.{split}.jsonl", pairs)
    files.append({"path": "eval/sts/stsb_multi_mt.de.test.jsonl", "lang": "deu_Latn"})
    (root / "MANIFEST.json").write_text(json.dumps({"files": files}))
    return suite


class Dictionary:
    """Translates through a dictionary: each concept is one unit vector in every language."""

    def __init__(self) -> None:
        self.concepts = {"hund": 0, "dog": 0, "chien": 0, "katze": 1, "cat": 1, "chat": 1}
        self.concepts.update(haus=2, house=2, maison=2)

    def encode(self, sentences: list[str]) -> np.ndarray:
        out = np.zeros((len(sentences), 4), dtype=np.float32)
        for row, text in enumerate(sentences):
            out[row, self.concepts.get(text, 3)] = 1.0
        return out


def test_multilingual_suite_end_to_end(tmp_path: Path) -> None:
    suite = tiny_multilingual_suite(tmp_path)
    specs = discover_tasks(suite)
    assert [(s.name, s.type, s.language) for s in specs] == [
        ("tatoeba.deu-eng", TaskType.BITEXT_MINING, "deu_Latn"),
        ("tatoeba.fra-eng", TaskType.BITEXT_MINING, "fra_Latn"),
        ("stsb_multi_mt.de", TaskType.STS, "deu_Latn"),
    ]
    tasks = [load_task(spec) for spec in specs]
    result = evaluate_model(Dictionary(), tasks, name="dictionary")
    assert result.tasks["tatoeba.deu-eng"].main_score == pytest.approx(100.0)
    assert result.tasks["tatoeba.fra-eng"].scores["accuracy"] == pytest.approx(100.0)
    assert result.type_scores()["BitextMining"] == pytest.approx(100.0)  # macro over languages
    assert language_scores(result)["deu_Latn"] == {"BitextMining": 100.0, "STS": pytest.approx(86.60254)}
    table = language_table([result], ["deu_Latn"], markdown=True)
    assert "| deu_Latn | BitextMining | 100.00 |" in table and "fra_Latn" not in table
    assert "BitextMining" in leaderboard_table([result]) and "deu_Latn" in task_table([result])
    write_results(SuiteRun([result], [], {}, {}), tmp_path / "r.json")
    again = read_results(tmp_path / "r.json").models[0]
    assert again.tasks["tatoeba.deu-eng"].language == "deu_Latn"


def test_languages_from_names_without_a_manifest(tmp_path: Path) -> None:
    suite = tiny_multilingual_suite(tmp_path)
    (tmp_path / "MANIFEST.json").unlink()
    assert [s.language for s in discover_tasks(suite)] == ["deu", "fra", "de"]
    assert name_language("stsb") is None and name_language("xlm_t_sentiment.pt") == "pt"


def test_named_suite_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL2VEC_MULTILINGUAL_DATA", str(tmp_path))
    assert resolve_data_dir(None, suite="multilingual") == tmp_path
    monkeypatch.setenv("MODEL2VEC_MULTILINGUAL_DATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="MODEL2VEC_MULTILINGUAL_DATA"):
        resolve_data_dir(None, suite="multilingual")
    with pytest.raises(ValueError, match="Unknown suite"):
        resolve_data_dir(None, suite="klingon")


def test_cli_suite_and_per_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from model2vec.cli import main

    from ..conftest import make_model

    suite = tiny_multilingual_suite(tmp_path)
    monkeypatch.setenv("MODEL2VEC_MULTILINGUAL_DATA", str(suite))
    make_model().save_pretrained(tmp_path / "m")
    assert main(["evaluate", str(tmp_path / "m"), "--suite", "multilingual", "--per-language", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "BitextMining" in out and "deu_Latn" in out
    assert main(["evaluate", str(tmp_path / "m"), "--suite", "multilingual", "--data", str(suite)]) != 0
    assert "not both" in capsys.readouterr().err
