"""The `model2vec` command: every subcommand answers --help, and encode/info/demo run as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel
from model2vec.cli import build_parser, read_texts

from .conftest import make_model

SUBCOMMANDS = [
    "demo", "distill", "encode", "evaluate", "pretrain", "search", "serve", "export-onnx", "info", "batch",
    "export-teacher",
]  # fmt: skip


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model2vec.cli", *args], capture_output=True, text=True, input=stdin, check=False
    )


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    make_model(normalize=True).save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def test_every_subcommand_is_registered() -> None:
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(SUBCOMMANDS) <= set(choices)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help(command: str) -> None:
    done = run(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: model2vec " + command)


def test_encode_text_file(model_dir: Path, tmp_path: Path) -> None:
    texts = ["hello world", "", "the cat sat on the mat"]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    done = run("encode", str(model_dir), str(tmp_path / "in.txt"), "--out", str(tmp_path / "out.npy"), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "Encoded 3 texts" in done.stdout
    expected = StaticModel.from_pretrained(model_dir).encode(texts)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
    again = run("encode", str(model_dir), str(tmp_path / "in.txt"), "--out", str(tmp_path / "out.npy"))
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_encode_jsonl_and_stdin(model_dir: Path, tmp_path: Path) -> None:
    rows = [{"body": "hello world", "id": 1}, {"body": "a big red dog", "id": 2}]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    done = run(
        "encode", str(model_dir), str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "a.npy"), "--text-column", "body"
    )
    assert done.returncode == 0, done.stderr
    piped = run("encode", str(model_dir), "-", "--out", str(tmp_path / "b.npy"), stdin="hello world\na big red dog\n")
    assert piped.returncode == 0, piped.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("bad-json", "invalid JSON"),
        ("no-column", "no string field 'text'"),
        ("empty", "holds no texts"),
        ("bad-out", "must end in .npy"),
    ],
)
def test_encode_user_mistakes_give_one_line(model_dir: Path, tmp_path: Path, setup: str, message: str) -> None:
    source = tmp_path / ("in.jsonl" if setup in ("bad-json", "no-column") else "in.txt")
    if setup == "bad-json":
        source.write_text('{"text": "ok"}\n{oops\n')
    elif setup == "no-column":
        source.write_text('{"body": "ok"}\n')
    elif setup in ("empty", "bad-out"):
        source.write_text("" if setup == "empty" else "hello\n")
    out = tmp_path / ("out.txt" if setup == "bad-out" else "out.npy")
    done = run("encode", str(model_dir), str(source), "--out", str(out))
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.strip().count("\n") == 0
    assert "Traceback" not in done.stderr


def test_info(model_dir: Path) -> None:
    done = run("info", str(model_dir), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["dim"] == 8 and summary["vocabulary_size"] == summary["rows"] and summary["normalize"] is True
    assert summary["tokenizer"] == "WordPiece"
    text = run("info", str(model_dir))
    assert "dim" in text.stdout and "8" in text.stdout
    missing = run("info", str(model_dir.parent / "nope"))
    assert missing.returncode == 2 and missing.stderr.startswith("model2vec: error:")


def test_demo(model_dir: Path) -> None:
    done = run("demo", "--model", str(model_dir), "--sentence", "hello world", "--sentence", "the cat")
    assert done.returncode == 0, done.stderr
    assert "Encoded 2 sentences" in done.stdout


def test_read_texts_keeps_blank_lines_in_text_files(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("a\n\nb\n")
    assert read_texts(str(tmp_path / "t.txt")) == ["a", "", "b"]


def test_evaluate_subprocess(model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("scipy")
    pairs = [("hello world", "hello world", 5.0), ("the cat sat", "a big red dog", 1.0), ("the cat", "the dog", 3.0)]
    task = tmp_path / "toy.test.jsonl"
    task.write_text("\n".join(json.dumps({"sentence1": a, "sentence2": b, "score": s}) for a, b, s in pairs) + "\n")
    done = run("evaluate", str(model_dir), "--add-task", f"sts:{task}", "--per-task", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "toy" in done.stdout


def test_distill_and_export_onnx_subprocess(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from .distill.conftest import save_transformers_folder, wordpiece_tokenizer

    teacher = save_transformers_folder(tmp_path / "teacher", wordpiece_tokenizer())
    out = tmp_path / "distilled"
    done = run("distill", str(teacher), "--out", str(out), "--pca-dims", "4", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert StaticModel.from_pretrained(out).dim == 4
    exported = run("export-onnx", str(out), "--out", str(tmp_path / "onnx"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "onnx" / "onnx" / "model.onnx").is_file()
    bad = run("distill", str(tmp_path / "not-a-teacher"), "--out", str(tmp_path / "x"), "--no-progress")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
