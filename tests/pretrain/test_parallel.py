"""Parallel text: margin scores, alignment recovery, pair files and translation targets."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model2vec.distill.text_teachers import TextTeacher
from model2vec.pretrain import PretrainConfig, TrainConfig, pretrain
from model2vec.pretrain.parallel import (
    align_monotonic,
    align_parallel,
    read_pairs,
    relative_scores,
    translation_targets,
)

from .conftest import corpus
from .test_featurize_function import Counting, fake

ROOT = Path(__file__).resolve().parents[2]


def test_relative_scores_are_cosines_above_both_lines_averages() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(size=(6, 8)).astype(np.float32)
    source = target[[2, 0]] + 0.05 * rng.normal(size=(2, 8)).astype(np.float32)
    scores = relative_scores(source, target)
    assert scores.shape == (2, 6)
    assert scores[0].argmax() == 2 and scores[1].argmax() == 0 and scores[0, 2] > 0
    cosine = (source / np.linalg.norm(source, axis=1, keepdims=True)) @ (
        target / np.linalg.norm(target, axis=1, keepdims=True)
    ).T
    expected = cosine[1, 3] - (cosine[1].mean() + cosine[:, 3].mean()) / 2
    assert scores[1, 3] == pytest.approx(expected, abs=1e-6)
    assert relative_scores(np.zeros((0, 8)), target).shape == (0, 6)
    with pytest.raises(ValueError, match="shapes"):
        relative_scores(source, target[:, :4])


def test_align_monotonic_skips_lines_and_never_crosses() -> None:
    gain = np.full((3, 4), -1.0)
    gain[0, 0] = gain[1, 2] = gain[2, 3] = 1.0
    assert align_monotonic(gain) == [(0, 0), (1, 2), (2, 3)]
    # Two strong but crossing matches: only one survives, the larger.
    crossing = np.array([[-1.0, 2.0], [3.0, -1.0]])
    assert align_monotonic(crossing) == [(1, 0)]
    # Nothing positive: nothing matched.
    assert align_monotonic(-np.ones((2, 2))) == []
    assert align_monotonic(np.zeros((0, 3))) == []
    with pytest.raises(ValueError, match="2-D"):
        align_monotonic(np.zeros(3))


def test_align_parallel_recovers_deleted_lines_and_a_second_translation() -> None:
    rng = np.random.default_rng(1)
    target = rng.normal(size=(40, 16)).astype(np.float32)
    first = [i for i in range(40) if i % 7 != 3]  # lines removed from the first translation
    second = [i for i in range(40) if i % 5 == 1]  # a second reference: only lines that differ
    kept = first + second
    source = target[kept] + 0.3 * rng.normal(size=(len(kept), 16)).astype(np.float32)
    matches = align_parallel(source, target)
    assert matches == sorted(enumerate(kept))
    # A single pass finds only the first translation.
    assert align_parallel(source, target, max_passes=1) == list(enumerate(first))
    with pytest.raises(ValueError, match="max_passes"):
        align_parallel(source, target, max_passes=0)
    with pytest.raises(ValueError, match="min_share"):
        align_parallel(source, target, min_share=2.0)


def test_read_pairs(tmp_path: Path) -> None:
    two = tmp_path / "pairs.tsv"
    two.write_text("Hallo Welt\tHello world\n\n guten Tag \tgood day\n", encoding="utf-8")
    three = tmp_path / "pairs.tsv.gz"
    with gzip.open(three, "wt", encoding="utf-8") as handle:
        handle.write("fra_Latn\tBonjour\tHello\n")
    assert list(read_pairs([two, three])) == [
        ("Hallo Welt", "Hello world"),
        ("guten Tag", "good day"),
        ("Bonjour", "Hello"),
    ]
    bad = tmp_path / "bad.tsv"
    bad.write_text("only one column\n")
    with pytest.raises(ValueError, match=r"bad\.tsv:1 has 1 columns"):
        list(read_pairs(bad))
    bad.write_text("text\t \n")
    with pytest.raises(ValueError, match="empty"):
        list(read_pairs(bad))
    with pytest.raises(FileNotFoundError):
        list(read_pairs(tmp_path / "missing.tsv"))


def test_translation_targets_embed_each_distinct_target_once(tmp_path: Path) -> None:
    pairs = [("Hallo", "Hello"), ("Bonjour", "Hello"), ("Tag", "Day"), ("Salut", "Hello")]
    counting = Counting()
    teacher = TextTeacher(counting, "fake")
    texts, vectors = translation_targets(pairs, teacher, tmp_path / "t", show_progress_bar=False)
    assert texts == ["Hallo", "Bonjour", "Tag", "Salut", "Hello", "Day"]
    expected = fake(["Hello", "Hello", "Day", "Hello", "Hello", "Day"])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)  # stored normalised, as the engine's
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    assert counting.texts.count("Hello") == 1 and counting.texts.count("Day") == 1  # besides the width probe
    # A rerun reuses the featurised targets.
    again = Counting()
    translation_targets(pairs, TextTeacher(again, "fake"), tmp_path / "t", show_progress_bar=False)
    assert "Hello" not in again.texts
    with pytest.raises(ValueError, match="No translation pairs"):
        translation_targets([], teacher, tmp_path / "e", show_progress_bar=False)
    with pytest.raises(TypeError, match="two str"):
        translation_targets([("a", 1)], teacher, tmp_path / "e", show_progress_bar=False)  # type: ignore[list-item]


def test_pretrain_with_pairs_trains_on_their_targets(teacher_folder: Path, tmp_path: Path) -> None:
    words = corpus(40)
    pairs = [(f"{words[i]} {words[i + 1]}", words[i]) for i in range(0, 20, 2)]
    config = PretrainConfig(max_length=16, shard_size=25, train=TrainConfig(max_epochs=1, batch_size=8), pca_dims=4)
    pretrain(words[20:], tmp_path / "m", teacher=teacher_folder, config=config, pairs=pairs, show_progress_bar=False)
    report = json.loads((tmp_path / "m" / "pretrain.json").read_text())
    # The pair texts, then each distinct target once.
    assert report["corpus_texts"] == 20 and report["pair_texts"] == 10 + len({target for _, target in pairs})
    assert (tmp_path / "m.features.pairs" / "featurize.json").is_file()


def test_cli_pretrain_with_pairs(teacher_folder: Path, tmp_path: Path) -> None:
    words = corpus(30)
    (tmp_path / "corpus.txt").write_text("\n".join(words[:20]) + "\n")
    (tmp_path / "pairs.tsv").write_text("".join(f"xx\t{words[i]} again\t{words[i]}\n" for i in range(20, 30)))
    command = [sys.executable, "-m", "model2vec.cli", "pretrain", str(tmp_path / "corpus.txt")]
    options = ["--out", str(tmp_path / "m"), "--teacher", str(teacher_folder), "--epochs", "1", "--pca-dims", "4"]
    options += ["--min-words", "1", "--pairs", str(tmp_path / "pairs.tsv")]
    done = subprocess.run([*command, *options], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "m" / "pretrain.json").read_text())
    assert report["pair_texts"] == 10 + len(set(words[20:30]))
