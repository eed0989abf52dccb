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


def test_tagged_corpus_is_balanced_by_language_at_every_prefix(tmp_path: Path) -> None:
    from model2vec.pretrain.corpus import read_tagged_corpus

    lines = [f"deu\tde {i}" for i in range(5)] + [f"eng\ten {i}" for i in range(3)] + ["fra\tfr 0", "", "zho\t  "]
    write(tmp_path / "c.tsv.gz", lines)
    texts = list(read_tagged_corpus(tmp_path))
    assert sorted(texts) == sorted(line.split("\t")[1] for line in lines[:9])
    # Depth by depth: one of each language while it lasts.
    assert [t[:2] for t in texts] == ["de", "en", "fr", "de", "en", "de", "en", "de", "de"]
    assert texts == list(read_tagged_corpus(tmp_path / "c.tsv.gz"))  # deterministic
    assert texts != list(read_tagged_corpus(tmp_path, seed=1))  # the within-language order is shuffled
    assert [t[:2] for t in read_tagged_corpus(tmp_path, per_language=1)] == ["de", "en", "fr"]
    assert len(list(read_tagged_corpus(tmp_path, limit=4))) == 4
    assert {t[:2] for t in read_tagged_corpus(tmp_path, languages=["eng"])} == {"en"}


def test_tagged_corpus_errors(tmp_path: Path) -> None:
    from model2vec.pretrain.corpus import read_tagged_corpus

    write(tmp_path / "bad.tsv", ["deu\tok", "no tab here"])
    with pytest.raises(ValueError, match=r"bad\.tsv:2 has no tab"):
        list(read_tagged_corpus(tmp_path / "bad.tsv"))
    with pytest.raises(ValueError, match="per_language"):
        read_tagged_corpus(tmp_path, per_language=-1)
    with pytest.raises(FileNotFoundError):
        read_tagged_corpus(tmp_path / "missing.tsv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \.tsv"):
        read_tagged_corpus(tmp_path / "empty")


def test_sentences_by_language_is_the_tagged_stream_grouped(tmp_path: Path) -> None:
    from model2vec.pretrain.corpus import read_tagged_corpus, sentences_by_language

    lines = [f"eng\ten {i}" for i in range(4)] + [f"deu\tde {i}" for i in range(6)] + ["fra\tfr 0", "fra\t "]
    write(tmp_path / "c.tsv", lines)
    grouped = sentences_by_language(tmp_path)
    assert list(grouped) == ["deu", "eng", "fra"]  # sorted, the empty text skipped
    assert sorted(grouped["deu"]) == [f"de {i}" for i in range(6)] and grouped["fra"] == ["fr 0"]
    # The interleaved stream takes the same shuffled lists depth by depth.
    assert list(read_tagged_corpus(tmp_path))[:3] == [grouped["deu"][0], grouped["eng"][0], grouped["fra"][0]]
    assert sentences_by_language(tmp_path) == grouped  # seeded
    capped = sentences_by_language(tmp_path, per_language=2, languages=["eng", "deu"])
    assert list(capped) == ["deu", "eng"] and capped["deu"] == grouped["deu"][:2]
    with pytest.raises(ValueError, match="per_language"):
        sentences_by_language(tmp_path, per_language=-1)
