"""Featurising with a function teacher: prefix-aware cuts, resumption, settings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model2vec.distill.text_teachers import TextTeacher
from model2vec.pretrain.featurize import MANIFEST, cut_for_prefix, featurize, read_features

from ..conftest import make_tokenizer
from .conftest import corpus


def fake(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), 6), dtype=np.float32)
    for row, text in enumerate(texts):
        for position, char in enumerate(text):
            out[row, (ord(char) * 3 + position) % 6] += 1.0
    return out


class Counting:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts.extend(texts)
        return fake(texts)


def test_function_teacher_targets_prefix_and_cut(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    function = Counting()
    teacher = TextTeacher(function, "fake", prefix="hello ", tokenizer=tokenizer, batch_size=4)
    texts = corpus(9)
    featurize(texts, teacher, tmp_path / "f", max_length=6, shard_size=4, show_progress_bar=False)
    seen, targets = read_features(tmp_path / "f")
    # The tiny tokenizer adds no special tokens: "hello " takes one of 6, five of each text are kept.
    assert seen == cut_for_prefix(tokenizer, texts, "hello ", 6)
    assert all(len(tokenizer.encode(text).ids) <= 5 for text in seen)
    assert seen[:2] == ["hello world the dogs", "the cat sat on the"]
    expected = fake(["hello " + text for text in seen])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(targets, expected, rtol=1e-6)
    manifest = json.loads((tmp_path / "f" / MANIFEST).read_text())
    assert manifest["prefix"] == "hello " and manifest["teacher"] == "fake" and manifest["width"] == 6


def test_function_teacher_resumes_without_calling_again(tmp_path: Path) -> None:
    texts = corpus(10)
    first = Counting()
    featurize(texts, TextTeacher(first, "fake"), tmp_path / "f", shard_size=4, show_progress_bar=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "f").glob("shard-*")}
    (tmp_path / "f" / "shard-00001.safetensors").unlink()
    again = Counting()
    featurize(texts, TextTeacher(again, "fake"), tmp_path / "f", shard_size=4, show_progress_bar=False)
    assert again.texts == ["width", *texts[4:8]]  # the width probe, then only the missing shard
    assert {p.name: p.read_bytes() for p in (tmp_path / "f").glob("shard-*")} == before


def test_another_prefix_does_not_reuse_targets(tmp_path: Path) -> None:
    featurize(corpus(4), TextTeacher(fake, "fake", prefix="query: "), tmp_path / "f", show_progress_bar=False)
    with pytest.raises(ValueError, match="prefix='query: '"):
        featurize(corpus(4), TextTeacher(fake, "fake", prefix="passage: "), tmp_path / "f", show_progress_bar=False)


def test_manifests_from_before_prefixes_still_resume(tmp_path: Path) -> None:
    featurize(corpus(4), TextTeacher(fake, "fake"), tmp_path / "f", show_progress_bar=False)
    path = tmp_path / "f" / MANIFEST
    manifest = json.loads(path.read_text())
    del manifest["prefix"]
    path.write_text(json.dumps(manifest))
    featurize(corpus(4), TextTeacher(fake, "fake"), tmp_path / "f", show_progress_bar=False)


def test_not_a_teacher(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="TextTeacher"):
        featurize(corpus(4), fake, tmp_path / "f", show_progress_bar=False)  # type: ignore[arg-type]


def test_a_prefix_of_an_unfinished_featurisation_can_be_read(tmp_path: Path) -> None:
    teacher = TextTeacher(fake, "fake", batch_size=4)
    texts = corpus(10)
    featurize(texts, teacher, tmp_path / "f", shard_size=4, show_progress_bar=False)
    whole, targets = read_features(tmp_path / "f")
    manifest_path = tmp_path / "f" / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    # As a running featurisation leaves it: not complete, the third shard not written yet.
    manifest_path.write_text(json.dumps({**manifest, "complete": False, "texts": 0}))
    (tmp_path / "f" / "shard-00002.safetensors").unlink()
    seen, prefix = read_features(tmp_path / "f", limit=7)
    assert seen == whole[:7]
    np.testing.assert_array_equal(prefix, targets[:7])
    with pytest.raises(ValueError, match="incomplete"):
        read_features(tmp_path / "f", limit=9)
    with pytest.raises(ValueError, match="incomplete"):
        read_features(tmp_path / "f")
