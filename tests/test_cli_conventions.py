"""Command-line conventions shared by every subcommand (run as subprocesses, as a user would)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel
from model2vec.cli import build_parser, default_demo_model
from model2vec.progress import LOG_INTERVAL_SECONDS, progress_bar

from .conftest import make_model

SUBCOMMANDS = ["demo", "distill", "encode", "evaluate", "pretrain", "serve", "export-onnx", "info", "batch"]


def run(*args: str, cwd: Path | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model2vec", *args], capture_output=True, text=True, check=False, cwd=cwd, **kwargs
    )  # type: ignore[call-overload]


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    make_model(normalize=True).save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def test_version() -> None:
    import model2vec

    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"model2vec {model2vec.__version__}"


@pytest.mark.parametrize("command", [*SUBCOMMANDS, "search build", "search query"])
def test_quiet_and_no_progress_are_accepted_everywhere(command: str) -> None:
    parser = build_parser()
    for flag in ("--quiet", "--no-progress"):
        # --help exits 0 only once every other argument parsed; an unknown flag would exit 2 first.
        with pytest.raises(SystemExit) as stop:
            parser.parse_args([*command.split(), flag, "--help"])
        assert stop.value.code == 0, (command, flag)


def test_demo_defaults_to_the_model_make_demo_built(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make distill"):
        default_demo_model(tmp_path)
    make_model().save_pretrained(tmp_path / "models" / "minilm-distilled")
    assert default_demo_model(tmp_path) == str(tmp_path / "models" / "minilm-distilled")
    done = run("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "minilm-distilled" in done.stdout
    missing = run("demo", cwd=tmp_path / "models")
    assert missing.returncode == 2 and "--model" in missing.stderr


def test_encode_max_length_zero_means_no_limit_as_in_batch(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("the cat sat on the mat " * 200 + "\n", encoding="utf-8")
    done = run(
        "encode", str(model_dir), str(tmp_path / "in.txt"), "--out", str(tmp_path / "o.npy"), "--max-length", "0"
    )
    assert done.returncode == 0, done.stderr
    model = StaticModel.from_pretrained(model_dir)
    expected = model.encode(["the cat sat on the mat " * 200], max_length=None)
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), expected)
    bad = run(
        "encode", str(model_dir), str(tmp_path / "in.txt"), "--out", str(tmp_path / "p.npy"), "--max-length", "-1"
    )
    assert bad.returncode == 2 and "no limit" in bad.stderr


def test_info_json_into_a_closed_pipe_exits_quietly(model_dir: Path) -> None:
    command = f"{sys.executable} -m model2vec info {model_dir} --json | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.strip() == "{"


def test_info_on_a_transformer_says_so_and_suggests_distill(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    folder = tmp_path / "bert"
    folder.mkdir()
    tensors = {f"encoder.layer.{i}.attention.self.query.weight": np.zeros((2, 2), np.float32) for i in range(12)}
    tensors["embeddings.word_embeddings.weight"] = np.zeros((4, 2), np.float32)
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    make_model().tokenizer.save(str(folder / "tokenizer.json"))
    done = run("info", str(folder))
    assert done.returncode == 2
    assert "holds a transformer" in done.stderr and "model2vec distill" in done.stderr
    assert done.stderr.count("\n") == 1 and len(done.stderr) < 600


def test_encode_names_the_file_with_invalid_utf8(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"fine\nbroken \xff here\n")
    done = run("encode", str(model_dir), str(tmp_path / "in.txt"), "--out", str(tmp_path / "o.npy"))
    assert done.returncode == 2
    assert str(tmp_path / "in.txt") in done.stderr and "line 2" in done.stderr


def test_progress_bars_update_rarely_into_log_files(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    with log.open("w") as handle:
        with progress_bar(range(100_000), file=handle, desc="work") as bar:
            for _ in bar:
                pass
        assert bar.mininterval == LOG_INTERVAL_SECONDS
    assert log.read_text().count("\r") <= 3
    script = "import sys; from model2vec.progress import progress_bar; print(progress_bar(disable=False).mininterval)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, env=os.environ)
    assert float(done.stdout) == LOG_INTERVAL_SECONDS  # stderr is a pipe here, not a terminal


def test_deeply_nested_jsonl_lines_are_one_line_errors(model_dir: Path, tmp_path: Path) -> None:
    from model2vec.evaluation.data import read_jsonl
    from model2vec.search.cli import read_texts as read_search_texts

    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"text": "fine"}\n' + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    done = run("encode", str(model_dir), str(deep), "--out", str(tmp_path / "o.npy"))
    assert done.returncode == 2 and f"{deep}:2: invalid JSON" in done.stderr and done.stderr.count("\n") == 1
    with pytest.raises(ValueError, match=r"deep\.jsonl:2: invalid JSON"):
        read_jsonl(deep, ["text"])
    with pytest.raises(ValueError, match=r"deep\.jsonl:2: invalid JSON"):
        read_search_texts(deep, "text", None)
