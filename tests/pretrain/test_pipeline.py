from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel
from model2vec.pretrain import PretrainConfig, TrainConfig, pretrain, read_features

from .conftest import corpus

ROOT = Path(__file__).resolve().parents[2]


def test_pretrain_end_to_end(teacher_folder: Path, tmp_path: Path) -> None:
    config = PretrainConfig(
        max_length=16, shard_size=25, new_words=3, train=TrainConfig(max_epochs=2, batch_size=16), pca_dims=4
    )
    model = pretrain(corpus(60), tmp_path / "model", teacher=teacher_folder, config=config, show_progress_bar=False)
    loaded = StaticModel.from_pretrained(tmp_path / "model")
    assert loaded.dim == 4 and loaded.embedding_dtype == "float16" and loaded.normalize
    np.testing.assert_allclose(loaded.encode(corpus(5)), model.encode(corpus(5)), atol=1e-6)
    # New words became single tokens of the saved tokenizer.
    report = json.loads((tmp_path / "model" / "pretrain.json").read_text())
    assert report["corpus_texts"] == 60 and report["new_words"] == 3
    assert report["history"][0]["validation_loss"] >= min(h["validation_loss"] for h in report["history"])
    assert loaded.config["pretrain"]["train"]["loss"] == "cosine"
    texts, targets = read_features(tmp_path / "model.features")
    assert len(texts) == 60 and targets.shape == (60, 8)


def test_cli_pretrain(teacher_folder: Path, tmp_path: Path) -> None:
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("\n".join(corpus(40)) + "\n")
    command = [sys.executable, "-m", "model2vec.cli", "pretrain", str(corpus_file), "--out", str(tmp_path / "m")]
    options = ["--teacher", str(teacher_folder), "--epochs", "1", "--pca-dims", "4", "--max-length", "12"]
    done = subprocess.run([*command, *options], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Saved" in done.stdout and StaticModel.from_pretrained(tmp_path / "m").dim == 4
    missing = subprocess.run(
        [sys.executable, "-m", "model2vec.cli", "pretrain", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "x")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "does not exist" in missing.stderr


def _pretrain_cli_texts(teacher_folder: Path, tmp_path: Path, paragraphs: list[str], *flags: str) -> list[str]:
    """Run `model2vec pretrain` on `paragraphs` with `flags`; return the texts it featurised."""
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("\n".join(paragraphs) + "\n")
    command = [sys.executable, "-m", "model2vec.cli", "pretrain", str(corpus_file), "--out", str(tmp_path / "m")]
    options = ["--teacher", str(teacher_folder), "--epochs", "1", "--pca-dims", "4", "--min-words", "3", *flags]
    done = subprocess.run([*command, *options], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return read_features(tmp_path / "m.features")[0]


def test_cli_pretrain_on_sentences(teacher_folder: Path, tmp_path: Path) -> None:
    words = corpus(24)
    paragraphs = [f"{words[i]}. Then {words[i + 1]}. And {words[i + 2]}." for i in range(0, 24, 3)]
    texts = _pretrain_cli_texts(teacher_folder, tmp_path, paragraphs, "--sentences")
    # Each paragraph became its sentences, in order.
    assert len(texts) > len(paragraphs) and texts[1].startswith("Then ")


def test_cli_pretrain_with_spans(teacher_folder: Path, tmp_path: Path) -> None:
    words = corpus(24)
    paragraphs = [f"{words[i]} and then {words[i + 1]} or {words[i + 2]} again" for i in range(0, 24, 3)]
    texts = _pretrain_cli_texts(teacher_folder, tmp_path, paragraphs, "--spans")
    # The texts first, then one shorter span of every second text.
    assert len(texts) == len(paragraphs) + len(paragraphs[0::2])
    for span, text in zip(texts[len(paragraphs) :], paragraphs[0::2], strict=True):
        assert span in text and len(span.split()) < len(text.split())


def test_pretrain_with_function_targets_matches_the_teachers_own(teacher_folder: Path, tmp_path: Path) -> None:
    """A function that embeds like the teacher gives the same features and the same model."""
    from model2vec.distill.teachers import embed_inputs, load_teacher
    from model2vec.pretrain.featurize import teacher_inputs

    info = load_teacher(teacher_folder)
    calls: list[int] = []

    def same_as_teacher(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        ids = teacher_inputs(info.tokenizer, texts, 64)[0]  # the folder's tokenizer pads: drop that
        return embed_inputs(info.teacher, ids, info.pooling or ("mean",), show_progress_bar=False)

    config = PretrainConfig(max_length=64, shard_size=25, train=TrainConfig(max_epochs=2, batch_size=16), pca_dims=4)
    plain = pretrain(corpus(50), tmp_path / "a", teacher=teacher_folder, config=config, show_progress_bar=False)
    model = pretrain(
        corpus(50),
        tmp_path / "b",
        teacher=teacher_folder,
        config=config,
        show_progress_bar=False,
        targets=same_as_teacher,
    )
    assert sum(calls) == 1 + 50  # the width probe, then every text once
    _, expected = read_features(tmp_path / "a.features")
    _, got = read_features(tmp_path / "b.features")
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # The models are not compared row by row: PCA of near-equal components turns with 1e-7 input changes.
    assert model.dim == plain.dim == 4
    report = json.loads((tmp_path / "b" / "pretrain.json").read_text())
    assert report["targets"].startswith("function:")


def test_pretrain_prunes_tokens_the_corpus_does_not_use(teacher_folder: Path, tmp_path: Path) -> None:
    config = PretrainConfig(
        max_length=16, shard_size=25, train=TrainConfig(max_epochs=1, batch_size=16), pca_dims=4, min_token_count=1
    )
    model = pretrain(corpus(30), tmp_path / "m", teacher=teacher_folder, config=config, show_progress_bar=False)
    report = model.config["pretrain"]["vocabulary"]
    assert report["kept"] < report["teacher"] and model.tokenizer.get_vocab_size() == len(model.embedding)
    used = {token for text in corpus(30) for token in model.tokenizer.encode(text).tokens}
    assert used <= set(model.tokenizer.get_vocab())
    with pytest.raises(ValueError, match="min_token_count"):
        PretrainConfig(min_token_count=-1)


def test_pretrain_from_a_given_base_equals_distilling_it(teacher_folder: Path, tmp_path: Path) -> None:
    from model2vec.distill import distill

    config = PretrainConfig(max_length=16, shard_size=25, train=TrainConfig(max_epochs=1, batch_size=16), pca_dims=4)
    fresh = pretrain(corpus(30), tmp_path / "a", teacher=teacher_folder, config=config, show_progress_bar=False)
    base = distill(teacher_folder, pca_dims=None, sif_coefficient=None, quantize_to="float32", show_progress_bar=False)
    base.save_pretrained(tmp_path / "base")
    reused = pretrain(
        corpus(30),
        tmp_path / "b",
        teacher=teacher_folder,
        config=config,
        show_progress_bar=False,
        base=tmp_path / "base",
    )
    np.testing.assert_array_equal(reused.encode(corpus(5)), fresh.encode(corpus(5)))
    with pytest.raises(ValueError, match="new_words"):
        pretrain(
            corpus(30), tmp_path / "c", teacher=teacher_folder, show_progress_bar=False, base=base,
            config=PretrainConfig(max_length=16, shard_size=25, new_words=2),
        )  # fmt: skip


def test_pretrain_with_function_targets_and_a_base_never_loads_the_teacher(
    teacher_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder's forward pass is unused then: loading it cost seconds and hundreds of MB for nothing."""
    from model2vec.distill import distill, teachers

    base = distill(teacher_folder, pca_dims=None, sif_coefficient=None, quantize_to="float32", show_progress_bar=False)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_teacher was called")

    monkeypatch.setattr(teachers, "load_teacher", refuse)
    config = PretrainConfig(max_length=16, shard_size=25, train=TrainConfig(max_epochs=1, batch_size=16), pca_dims=4)
    width = base.dim
    model = pretrain(
        corpus(30),
        tmp_path / "m",
        teacher=teacher_folder,
        config=config,
        show_progress_bar=False,
        base=base,
        targets=lambda texts: np.ones((len(texts), width), dtype=np.float32),
    )
    assert model.dim == 4
