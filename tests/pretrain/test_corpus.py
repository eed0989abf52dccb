from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from model2vec.pretrain.corpus import corpus_files, read_corpus


def write(path: Path, lines: list[str]) -> Path:
    data = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def test_interleaves_files_and_skips_short_lines(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", ["a one two three four five", "", "short", "a six seven eight nine ten"])
    write(
        tmp_path / "b.txt.gz", ["b one two three four five", "b six seven eight nine ten", "b more words in this line"]
    )
    write(tmp_path / "ignored.json", ["not a corpus file at all here"])
    texts = list(read_corpus(tmp_path))
    assert texts == [
        "a one two three four five",
        "b one two three four five",
        "a six seven eight nine ten",
        "b six seven eight nine ten",
        "b more words in this line",
    ]
    assert list(read_corpus(tmp_path, limit=3)) == texts[:3]
    assert list(read_corpus(tmp_path, min_words=1))[2] == "short"
    assert list(read_corpus(tmp_path, limit=0)) == []


def test_same_stream_every_time(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", [f"line {i} with enough words here" for i in range(50)])
    assert list(read_corpus(tmp_path / "a.txt")) == list(read_corpus([tmp_path / "a.txt"]))


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_corpus(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError, match=r"no \.txt"):
        read_corpus(tmp_path)
    with pytest.raises(FileNotFoundError):
        corpus_files([])
    write(tmp_path / "a.txt", ["x y z w v u"])
    with pytest.raises(ValueError, match="limit"):
        read_corpus(tmp_path, limit=-1)
    with pytest.raises(ValueError, match="min_words"):
        read_corpus(tmp_path, min_words=0)
