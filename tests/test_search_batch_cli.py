"""The `model2vec search` and `model2vec batch` commands, run as subprocesses like a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel

from .conftest import make_model

TEXTS = ["the cat sat on the mat", "hello world", "a big red dog", "dogs", "the mat"]


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model2vec.cli", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def assert_user_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    """Exit status 2 and exactly one line on stderr that names the problem."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("model2vec: error:") and fragment in lines[0], result.stderr


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    make_model(dim=16, seed=1, normalize=True).save_pretrained(folder)
    return folder


def test_search_build_and_query(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "docs.txt").write_text("\n".join(TEXTS) + "\n\n", encoding="utf-8")
    built = run_cli("search", "build", model_dir, tmp_path / "docs.txt", "--out", tmp_path / "idx")
    assert built.returncode == 0, built.stderr
    assert "Indexed 5 texts" in built.stdout
    shown = run_cli(
        "search", "query", tmp_path / "idx", "a big red dog", "hello world", "--model", model_dir, "-k", "2"
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "query: a big red dog" and lines[1].split()[2:] == ["2", "a", "big", "red", "dog"]
    assert lines[3] == "query: hello world" and lines[4].split()[2] == "1"
    again = run_cli("search", "build", model_dir, tmp_path / "docs.txt", "--out", tmp_path / "idx")
    assert_user_error(again, "--overwrite")


def test_search_jsonl_usearch_json_output(tmp_path: Path, model_dir: Path) -> None:
    records = [{"doc": f"d{i}", "text": text} for i, text in enumerate(TEXTS)]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    built = run_cli(
        "search", "build", model_dir, tmp_path / "docs.jsonl", "--out", tmp_path / "idx",
        "--id-column", "doc", "--backend", "usearch", "--connectivity", "8", "--dtype", "float16",
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "idx" / "index.usearch").is_file()
    shown = run_cli("search", "query", tmp_path / "idx", "dogs", "--model", model_dir, "-k", "1", "--json")
    assert shown.returncode == 0, shown.stderr
    answer = json.loads(shown.stdout)
    assert answer["query"] == "dogs" and answer["results"][0]["id"] == "d3" and answer["results"][0]["text"] == "dogs"


def test_search_query_uses_the_recorded_model(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "docs.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    built = run_cli("search", "build", model_dir, tmp_path / "docs.txt", "--out", tmp_path / "idx")
    assert built.returncode == 0, built.stderr
    shown = run_cli("search", "query", tmp_path / "idx", "a big red dog", "-k", "1", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["results"][0]["text"] == "a big red dog"
    # Another model of the same dimension is refused, not silently used.
    make_model(dim=16, seed=2, normalize=True).save_pretrained(tmp_path / "other")
    other = run_cli("search", "query", tmp_path / "idx", "dogs", "--model", tmp_path / "other")
    assert_user_error(other, "not the model this index was built with")
    # An index without the record (as older versions wrote) needs --model, as before.
    settings_path = tmp_path / "idx" / "index.json"
    settings = json.loads(settings_path.read_text(encoding="utf-8"))
    del settings["model"]
    settings_path.write_text(json.dumps(settings), encoding="utf-8")
    assert_user_error(run_cli("search", "query", tmp_path / "idx", "dogs"), "pass --model")
    assert run_cli("search", "query", tmp_path / "idx", "dogs", "--model", model_dir).returncode == 0


def test_search_user_mistakes(tmp_path: Path, model_dir: Path) -> None:
    missing = run_cli("search", "query", tmp_path / "nowhere", "dogs", "--model", model_dir)
    assert_user_error(missing, "not a saved index")
    (tmp_path / "docs.txt").write_text("hello\n", encoding="utf-8")
    wrong = run_cli("search", "build", model_dir, tmp_path / "docs.txt", "--out", tmp_path / "i", "--oversample", "2")
    assert_user_error(wrong, "need --backend usearch")


def test_batch_command(tmp_path: Path, model_dir: Path) -> None:
    lines = [json.dumps({"id": i, "text": text}) for i, text in enumerate(TEXTS * 20)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run_cli(
        "batch",
        model_dir,
        tmp_path / "in.jsonl",
        "--out",
        tmp_path / "out",
        "--columns",
        "id",
        "--partition-mb",
        "0.001",
    )
    assert done.returncode == 0, done.stderr
    assert "Embedded 100 rows (16-d)" in done.stdout and "100/100 rows" in done.stderr
    from model2vec.batch import read_embeddings

    table, embeddings = read_embeddings(tmp_path / "out")
    assert np.array_equal(embeddings, StaticModel.from_pretrained(model_dir).encode(TEXTS * 20))
    assert table.column("id").to_pylist() == list(range(100))
    again = run_cli("batch", model_dir, tmp_path / "in.jsonl", "--out", tmp_path / "out")
    assert_user_error(again, "exists")
    wrong = run_cli("batch", model_dir, tmp_path / "in.jsonl", "--out", tmp_path / "o2", "--text-column", "body")
    assert_user_error(wrong, "no 'body' key")


def test_registering_imports_no_optional_package() -> None:
    code = (
        "import sys, model2vec, model2vec.search, model2vec.batch\n"
        "from model2vec.cli import build_parser\n"
        "build_parser()\n"
        "optional = {'dask', 'distributed', 'usearch', 'pyarrow', 'ray'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & optional))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
