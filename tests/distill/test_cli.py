"""The `distill` subcommand, driven through a parser like the one `model2vec.cli` builds."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from model2vec import StaticModel
from model2vec.distill.cli import read_vocabulary, register

from .conftest import save_transformers_folder, wordpiece_tokenizer


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="model2vec")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_distill_subcommand_writes_a_loadable_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    teacher = save_transformers_folder(tmp_path / "teacher", wordpiece_tokenizer())
    vocabulary = tmp_path / "words.txt"
    vocabulary.write_text("catapult\n\n  New York  \n", encoding="utf-8")
    args = _parse(
        [
            "distill",
            str(teacher),
            "--out",
            str(tmp_path / "out"),
            "--pca-dims",
            "4",
            "--vocabulary",
            str(vocabulary),
            "--quantize-to",
            "float32",
            "--no-progress",
        ]
    )
    assert args.func(args) == 0
    model = StaticModel.from_pretrained(tmp_path / "out")
    assert model.dim == 4 and "catapult" in model.tokens and "new york" in model.tokens
    assert "Distilled" in capsys.readouterr().out


@pytest.mark.parametrize(("text", "value"), [("auto", "auto"), ("none", None), ("0.9", 0.9), ("64", 64)])
def test_pca_dims_argument(text: str, value: object) -> None:
    args = _parse(["distill", "--out", "x", "--pca-dims", text])
    assert args.pca_dims == value
    assert args.model is None  # the packaged default teacher


def test_bad_arguments_exit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse(["distill", "--out", "x", "--pca-dims", "lots"])
    with pytest.raises(SystemExit):
        _parse(["distill", "--out", "x", "--sif-coefficient", "big"])


def test_read_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text(" a \n\nb c\n", encoding="utf-8")
    assert read_vocabulary(path) == ["a", "b c"]


def test_python_dash_m_distill_with_upstream_flags(tmp_path: Path) -> None:
    import subprocess
    import sys

    teacher = save_transformers_folder(tmp_path / "teacher", wordpiece_tokenizer())
    vocabulary = tmp_path / "words.txt"
    vocabulary.write_text("catapult\n", encoding="utf-8")
    command = [sys.executable, "-m", "model2vec.distill", "--model-name", str(teacher), "--save-path"]
    command += [str(tmp_path / "out"), "--vocabulary-path", str(vocabulary), "--pca-dims", "4", "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    model = StaticModel.from_pretrained(tmp_path / "out")
    assert model.dim == 4 and "catapult" in model.tokens
    args = _parse(["distill", "a", "--model-name", "b", "--out", str(tmp_path / "x")])
    with pytest.raises(ValueError, match="Two teachers"):
        args.func(args)
