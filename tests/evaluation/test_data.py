"""Suite discovery, task selection and file loaders."""

from __future__ import annotations

from pathlib import Path

import pytest

from model2vec.evaluation import data
from model2vec.evaluation.data import TaskType

from .conftest import TOY_NAMES, ToySuite


def test_task_type_parse_accepts_spellings() -> None:
    assert TaskType.parse("sts") is TaskType.STS
    assert TaskType.parse("pair_classification") is TaskType.PAIR_CLASSIFICATION
    assert TaskType.parse("PairClassification") is TaskType.PAIR_CLASSIFICATION
    assert TaskType.parse("Retrieval") is TaskType.RETRIEVAL
    with pytest.raises(ValueError, match="expected one of"):
        TaskType.parse("reranking")


def test_discover_finds_every_type(toy_suite: ToySuite) -> None:
    specs = data.discover_tasks(toy_suite.root)
    english_types = [t for t in TaskType if t is not TaskType.BITEXT_MINING]
    assert [(s.name, s.type) for s in specs] == list(zip(TOY_NAMES, english_types, strict=True))
    classification = specs[1]
    assert classification.train_path is not None and classification.train_path.name == "toy_cls.train.jsonl"


def test_select_tasks(toy_suite: ToySuite, tmp_path: Path) -> None:
    extra = data.task_from_path("sts", toy_suite.root / "sts" / "toy_sts.test.jsonl", name="stsb")
    specs = [extra, *data.discover_tasks(toy_suite.root)[1:]]
    assert extra.mteb_name == "STSBenchmark"
    assert [s.name for s in data.select_tasks(specs, None)] == [s.name for s in specs]
    assert [s.type for s in data.select_tasks(specs, ["retrieval,sts"])] == [TaskType.STS, TaskType.RETRIEVAL]
    assert [s.name for s in data.select_tasks(specs, ["STSBenchmark"])] == ["stsb"]  # MTEB name
    with pytest.raises(ValueError, match="No task matches 'nope'"):
        data.select_tasks(specs, ["nope"])
    with pytest.raises(ValueError, match="unique"):
        data.select_tasks([extra, extra], None)


def test_task_from_path_errors(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely.test.jsonl"
    lonely.write_text('{"text": "a", "label": 1}\n')
    with pytest.raises(FileNotFoundError, match="training split"):
        data.task_from_path("classification", lonely)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.task_from_path("sts", tmp_path / "missing.test.jsonl")
    with pytest.raises(FileNotFoundError, match=r"corpus\.jsonl"):
        data.task_from_path("retrieval", tmp_path)
    assert data.task_from_path("clustering", lonely).name == "lonely"


def test_read_jsonl_reports_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "label": 0}\n\n{"text": "no label"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:3: missing field"):
        data.read_jsonl(path, ("text", "label"))
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: invalid JSON"):
        data.read_jsonl(path, ("text",))
    path.write_text("\n")
    with pytest.raises(ValueError, match="no records"):
        data.read_jsonl(path, ("text",))


def test_load_labelled_and_pairs_validate_types(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a", "label": [1]}\n')
    with pytest.raises(ValueError, match="label must be"):
        data.load_labelled(path)
    path.write_text('{"sentence1": "a", "sentence2": "b", "score": "high"}\n')
    with pytest.raises(ValueError, match="numeric"):
        data.load_pairs(path, "score")
    path.write_text('{"text": "a", "label": 3}\n{"text": "b", "label": "x"}\n')
    assert data.load_labelled(path).labels == ["3", "x"]


def test_load_retrieval_joins_titles_and_keeps_judged_queries(toy_suite: ToySuite) -> None:
    loaded = data.load_retrieval(toy_suite.root / "retrieval" / "toy_ret")
    assert loaded.query_ids == ["q0", "q1", "q2"]
    assert loaded.qrels["q1"] == {"d1": 1.0}
    assert all(text in toy_suite.vectors for text in loaded.doc_texts)  # "title text" or just "text"
    assert not any(text.startswith(" ") for text in loaded.doc_texts)


def test_load_retrieval_rejects_dangling_qrels(toy_suite: ToySuite) -> None:
    folder = toy_suite.root / "retrieval" / "toy_ret"
    with (folder / "qrels" / "test.tsv").open("a") as handle:
        handle.write("q0\tmissing-doc\t1\n")
    with pytest.raises(ValueError, match="missing-doc"):
        data.load_retrieval(folder)


def test_resolve_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.resolve_data_dir() == tmp_path
    assert data.resolve_data_dir(tmp_path) == tmp_path
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="MODEL2VEC_DATA"):
        data.resolve_data_dir()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.resolve_data_dir(tmp_path / "absent")
