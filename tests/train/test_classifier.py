"""StaticModelForClassification: pooling parity with encode, fit/predict/evaluate, export, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from model2vec import StaticModel, quantize_model
from model2vec.train import StaticModelForClassification
from model2vec.train.base import FinetunableStaticModel, TextDataset, find_pad_token_id

from ..conftest import WORDS, make_model, make_tokenizer
from .helpers import toy_multilabel, toy_task

TEXTS = ["hello world", "the cat sat on the mat", "unknownword big dogs", "", "zzz qqq", "日本 é !"]


def classifier(model: StaticModel | None = None, **kwargs: Any) -> StaticModelForClassification:
    kwargs.setdefault("hidden_dim", 16)
    return StaticModelForClassification.from_static_model(model=model or make_model(dim=16), **kwargs)


def fit_toy(seed: int = 0, **kwargs: Any) -> tuple[StaticModelForClassification, list[str], list[str]]:
    texts, labels = toy_task()
    kwargs.setdefault("max_epochs", 30)
    kwargs.setdefault("learning_rate", 1e-2)
    clf = classifier().fit(texts, labels, random_seed=seed, show_progress_bar=False, **kwargs)
    return clf, texts, labels


# -- pooling matches StaticModel.encode -------------------------------------------------------------


@pytest.mark.parametrize("normalize", [False, True])
def test_pooled_vectors_equal_encode(normalize: bool) -> None:
    model = make_model(dim=16)
    clf = classifier(model, normalize=normalize)
    np.testing.assert_allclose(clf.encode(TEXTS), model.encode(TEXTS, normalize=normalize), rtol=1e-5, atol=1e-6)


def test_pooling_ignores_padding_and_batch_neighbours() -> None:
    clf = classifier()
    alone = np.stack([clf.encode([text])[0] for text in TEXTS])
    np.testing.assert_allclose(clf.encode(TEXTS), alone, rtol=1e-6, atol=1e-7)


def test_unknown_tokens_are_dropped_as_in_encode() -> None:
    clf = classifier()
    np.testing.assert_allclose(clf.encode(["zzz hello qqq world"]), clf.encode(["hello world"]), atol=1e-7)
    # A text of unknown tokens only is a zero vector, as in encode.
    assert not clf.encode(["zzz qqq"]).any()


def test_weights_and_quantised_tables_match_encode() -> None:
    rng = np.random.default_rng(3)
    weights = rng.uniform(0.5, 2.0, size=len(WORDS)).astype(np.float32)
    model = make_model(dim=16, weights=weights)
    for candidate in (
        model,
        quantize_model(model, quantize_to="int8"),
        quantize_model(model, vocabulary_quantization=6),
    ):
        clf = classifier(candidate, normalize=False)
        np.testing.assert_allclose(clf.encode(TEXTS), candidate.encode(TEXTS), rtol=1e-5, atol=1e-6)


def test_max_length_applies_as_in_encode() -> None:
    model = make_model(dim=16)
    clf = classifier(model, normalize=False, max_length=2)
    long_text = ["the cat sat on the mat"]
    np.testing.assert_allclose(clf.encode(long_text), model.encode(long_text, max_length=2), atol=1e-6)


# -- pad id --------------------------------------------------------------------------------------------


def test_pad_id_is_the_tokenizers_own() -> None:
    assert classifier().pad_id == WORDS.index("[PAD]")
    # Padding settings win over the conventional token name.
    tokenizer = make_tokenizer()
    tokenizer.enable_padding(pad_id=WORDS.index("[SEP]"), pad_token="[SEP]")
    assert find_pad_token_id(tokenizer) == WORDS.index("[SEP]")
    model = StaticModel(np.ones((len(WORDS), 4), dtype=np.float32), tokenizer)
    assert classifier(model).pad_id == WORDS.index("[SEP]")


def test_without_a_pad_token_a_dedicated_row_is_used() -> None:
    words = [w for w in WORDS if w != "[PAD]"]
    model = StaticModel(np.random.default_rng(0).normal(size=(len(words), 8)).astype(np.float32), make_tokenizer(words))
    clf = classifier(model, normalize=False)
    assert clf.pad_id == len(words)
    assert clf.embeddings.num_embeddings == len(words) + 1
    np.testing.assert_allclose(clf.encode(TEXTS), model.encode(TEXTS), rtol=1e-5, atol=1e-6)
    assert clf.to_static_model().embedding.shape == (len(words), 8)


def test_text_dataset_pads_with_the_pad_id() -> None:
    clf = classifier()
    ids = clf._token_ids(["hello world", "cat"])
    loader = TextDataset(ids, torch.tensor([0, 1]), pad_id=clf.pad_id).to_dataloader(shuffle=False, batch_size=2)
    batch, targets = next(iter(loader))
    assert batch.tolist() == [ids[0], [ids[1][0], clf.pad_id]]
    assert targets.tolist() == [0, 1]
    # Without lengths, pad ids are masked: the pooled vectors equal encode's.
    logits, pooled = clf(batch)
    np.testing.assert_allclose(pooled.detach().numpy(), clf.encode(["hello world", "cat"]), atol=1e-6)
    assert logits.shape == (2, clf.out_dim)
    assert issubclass(StaticModelForClassification, FinetunableStaticModel)


# -- fit / predict ------------------------------------------------------------------------------------


def test_fit_learns_the_toy_task_and_keeps_the_best_epoch() -> None:
    clf, texts, labels = fit_toy()
    accuracy = np.mean(clf.predict(texts) == np.asarray(labels))
    assert accuracy > 0.9
    assert list(clf.classes_) == ["neg", "pos"]
    proba = clf.predict_proba(texts)
    assert proba.shape == (len(texts), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    history = clf.history
    assert history["best_val_score"] == max(history["val_score"])
    report = clf.evaluate(texts, labels, output_dict=True)
    assert isinstance(report, dict) and report["accuracy"] == pytest.approx(accuracy)


def test_same_seed_same_model_other_seed_differs() -> None:
    first, texts, _ = fit_toy(seed=1, max_epochs=3)
    second, _, _ = fit_toy(seed=1, max_epochs=3)
    third, _, _ = fit_toy(seed=2, max_epochs=3)
    np.testing.assert_array_equal(first.predict_proba(texts), second.predict_proba(texts))
    assert not np.array_equal(first.predict_proba(texts), third.predict_proba(texts))


def test_early_stopping_stops_before_max_epochs() -> None:
    texts, labels = toy_task()
    # A learning rate of ~0 never improves the validation score after the first epoch.
    clf = classifier().fit(
        texts, labels, learning_rate=1e-12, max_epochs=50, early_stopping_patience=2, show_progress_bar=False
    )
    assert len(clf.history["val_score"]) == 3
    clf = classifier().fit(
        texts,
        labels,
        learning_rate=1e-12,
        min_epochs=6,
        max_epochs=50,
        early_stopping_patience=2,
        show_progress_bar=False,
    )
    assert len(clf.history["val_score"]) == 6


def test_int_labels_validation_set_and_class_weight() -> None:
    texts, labels = toy_task()
    ints = [1 if label == "pos" else 0 for label in labels]
    clf = classifier().fit(
        texts[:100],
        ints[:100],
        X_val=texts[100:],
        y_val=ints[100:],
        class_weight="balanced",
        learning_rate=1e-2,
        max_epochs=20,
        show_progress_bar=False,
    )
    predictions = clf.predict(texts)
    assert predictions.dtype.kind == "i" and set(predictions.tolist()) <= {0, 1}
    assert np.mean(predictions == np.asarray(ints)) > 0.9
    clf.fit(texts, ints, class_weight={0: 1.0, 1: 3.0}, max_epochs=2, show_progress_bar=False)


def test_three_classes_and_frozen_table() -> None:
    texts, labels = toy_task()
    labels = [label if i % 5 else "other" for i, label in enumerate(labels)]
    model = make_model(dim=16)
    clf = classifier(model, freeze=True, n_layers=2)
    clf.fit(texts, labels, max_epochs=3, show_progress_bar=False)
    assert list(clf.classes_) == ["neg", "other", "pos"]
    np.testing.assert_array_equal(clf.to_static_model().embedding, model.embedding)
    assert clf.predict_proba(texts).shape == (len(texts), 3)


def test_multilabel_fit_predict_and_pipeline() -> None:
    texts, labels = toy_multilabel()
    clf = classifier().fit(texts, labels, learning_rate=1e-2, max_epochs=40, show_progress_bar=False)
    assert clf.multilabel and list(clf.classes_) == ["neg", "pos"]
    predicted = clf.predict(texts)
    assert isinstance(predicted, list)
    assert np.mean([sorted(p) == sorted(t) for p, t in zip(predicted, labels, strict=True)]) > 0.8
    pipeline = clf.to_pipeline()
    assert pipeline.predict(texts) == predicted
    np.testing.assert_allclose(pipeline.predict_proba(texts), clf.predict_proba(texts), rtol=1e-5, atol=1e-6)
    assert "samples avg" in str(clf.evaluate(texts, labels))


# -- export -------------------------------------------------------------------------------------------


def test_to_static_model_keeps_metadata_and_trained_vectors(tmp_path: Path) -> None:
    base = make_model(dim=16, base_model_name="org/teacher", language=["en"], config={"extra": 1})
    base.save_pretrained(tmp_path / "base")
    clf = StaticModelForClassification.from_pretrained(str(tmp_path / "base"), hidden_dim=8)
    texts, labels = toy_task()
    clf.fit(texts, labels, learning_rate=1e-2, max_epochs=3, show_progress_bar=False)
    exported = clf.to_static_model()
    assert exported.base_model_name == "org/teacher" and exported.language == ["en"]
    assert exported.config["extra"] == 1 and exported.normalize is True
    assert not np.array_equal(exported.embedding, base.embedding)  # the table was trained
    np.testing.assert_allclose(exported.encode(texts), clf.encode(texts), rtol=1e-5, atol=1e-6)
    exported.save_pretrained(tmp_path / "exported")
    assert StaticModel.from_pretrained(tmp_path / "exported").base_model_name == "org/teacher"


def test_to_pipeline_predicts_like_the_classifier(tmp_path: Path) -> None:
    from model2vec.inference import StaticModelPipeline

    clf, texts, _ = fit_toy(max_epochs=5)
    pipeline = clf.to_pipeline()
    np.testing.assert_array_equal(pipeline.predict(texts), clf.predict(texts))
    np.testing.assert_allclose(pipeline.predict_proba(texts), clf.predict_proba(texts), rtol=1e-5, atol=1e-6)
    pipeline.save_pretrained(tmp_path / "pipe")
    loaded = StaticModelPipeline.from_pretrained(tmp_path / "pipe")
    np.testing.assert_array_equal(loaded.predict(texts), clf.predict(texts))


# -- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("X", "y", "extra", "error", "match"),
    [
        (["a", "b", "c"], ["x", "y"], {}, ValueError, "same length"),
        (["a", "b", "c"], ["x", "x", "x"], {}, ValueError, "at least two classes"),
        ([], [], {}, ValueError, "empty"),
        (["a", "b", "c"], ["x", 1, "y"], {}, ValueError, "mixes str and int"),
        (["a", "b", "c"], [["x"], "y", ["x"]], {}, ValueError, "mixes single labels and lists"),
        (["a", "b", "c"], ["x", "y", "x"], {"X_val": ["a"]}, ValueError, "X_val and y_val together"),
        (["a", "b", "c"], ["x", "y", "x"], {"y_val": ["x"]}, ValueError, "X_val and y_val together"),
        (["a", "b", "c"], ["x", "y", "x"], {"X_val": ["a"], "y_val": ["z"]}, ValueError, "never occurs"),
        (["a", "b", "c"], ["x", "y", "x"], {"X_val": ["a"], "y_val": [1]}, ValueError, "mixes label types"),
        (["a", "b", "c"], ["x", "y", "x"], {"X_val": ["a", "b"], "y_val": ["x"]}, ValueError, "same length"),
        ("abc", ["x", "y", "x"], {}, TypeError, "list of str"),
        (["a", 2, "c"], ["x", "y", "x"], {}, TypeError, r"X\[1\]"),
        (["a", "b", "c"], [1.5, 2.5, 1.5], {}, TypeError, "str or int"),
        (["a", "b", "c"], ["x", "y", "x"], {"learning_rate": 0}, ValueError, "learning_rate"),
        (["a", "b", "c"], ["x", "y", "x"], {"test_size": 1.5}, ValueError, "test_size"),
        (["a", "b", "c"], ["x", "y", "x"], {"test_size": 3}, ValueError, "test_size"),
        (["a", "b", "c"], ["x", "y", "x"], {"class_weight": {"x": 1.0}}, ValueError, "every class"),
        (["a", "b", "c"], ["x", "y", "x"], {"class_weight": "weird"}, ValueError, "balanced"),
        (["a", "b", "c"], ["x", "y", "x"], {"early_stopping_patience": None}, ValueError, "max_epochs"),
    ],
)
def test_bad_input_fails_before_training(
    X: Any,  # noqa: N803
    y: Any,
    extra: dict[str, Any],
    error: type[Exception],
    match: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clf = classifier()

    def no_training(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("training started")

    monkeypatch.setattr(clf, "_train_loop", no_training)
    before = clf.embeddings.weight.detach().clone()
    with pytest.raises(error, match=match):
        clf.fit(X, y, show_progress_bar=False, **extra)
    assert torch.equal(clf.embeddings.weight, before)


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="n_layers"):
        classifier(n_layers=-1)
    with pytest.raises(ValueError, match="hidden_dim"):
        classifier(hidden_dim=0)
    with pytest.raises(TypeError, match="path or model_name"):  # as for a missing argument
        StaticModelForClassification.from_pretrained()
    with pytest.raises(TypeError):
        StaticModelForClassification.from_static_model(make_model())  # type: ignore[misc]


def test_pandas_and_numpy_columns_are_accepted() -> None:
    pd = pytest.importorskip("pandas")
    texts, labels = toy_task()
    clf = classifier().fit(
        pd.Series(texts), np.asarray(labels), learning_rate=1e-2, max_epochs=10, show_progress_bar=False
    )
    assert list(clf.classes_) == ["neg", "pos"]
    assert np.mean(clf.predict(texts) == np.asarray(labels)) > 0.9


def test_texts_without_known_tokens_train_without_nan() -> None:
    texts, labels = toy_task()
    texts += ["", "zzz qqq"] * 10
    labels += ["pos", "neg"] * 10
    clf = classifier().fit(texts, labels, learning_rate=1e-2, max_epochs=5, show_progress_bar=False)
    assert all(torch.isfinite(p).all() for p in clf.parameters())
    assert np.isfinite(clf.history["train_loss"]).all()
    assert not clf.encode(["", "zzz"]).any()
