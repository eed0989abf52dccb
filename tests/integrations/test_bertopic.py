"""BERTopic: backend selection for a StaticModel, `Model2VecBackend`, and distillation through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel

from .conftest import TEXTS, assert_same_vectors

bertopic = pytest.importorskip("bertopic", reason="bertopic not installed (make test-integrations)")
pytestmark = pytest.mark.integrations


def test_select_backend_recognises_a_static_model(model: StaticModel) -> None:
    from bertopic.backend import Model2VecBackend
    from bertopic.backend._utils import select_backend

    # BERTopic picks the backend with `"model2vec" in str(type(model))`.
    backend = select_backend(model)
    assert isinstance(backend, Model2VecBackend)
    assert_same_vectors(backend.embed(TEXTS), model.encode(TEXTS))


def test_backend_from_a_folder(model_folder: Path, model: StaticModel) -> None:
    from bertopic.backend import Model2VecBackend

    backend = Model2VecBackend(str(model_folder))
    assert_same_vectors(backend.embed(TEXTS, verbose=True), model.encode(TEXTS))


def test_topic_model_fits(model: StaticModel) -> None:
    from bertopic.dimensionality import BaseDimensionalityReduction
    from sklearn.cluster import KMeans

    documents = [f"the cat sat on the mat number {i}" for i in range(10)]
    documents += [f"stock markets fell sharply on day {i}" for i in range(10)]
    topic_model = bertopic.BERTopic(
        embedding_model=model,
        umap_model=BaseDimensionalityReduction(),  # no UMAP: fast and deterministic
        hdbscan_model=KMeans(n_clusters=2, n_init=10, random_state=0),
    )
    topics, _ = topic_model.fit_transform(documents)
    assert len(set(topics[:10])) == 1 and len(set(topics[10:])) == 1 and topics[0] != topics[10]


def test_distilling_backend_uses_our_distill(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="distillation needs the distill extra")
    from bertopic.backend import Model2VecBackend

    from ..distill.conftest import save_sentence_transformers_folder

    teacher = save_sentence_transformers_folder(tmp_path / "teacher")
    backend = Model2VecBackend(str(teacher), distill=True, distill_kwargs={"pca_dims": 4, "show_progress_bar": False})
    documents = ["the cat sat", "a dog ran", "zebras graze quietly", "zebras run"]
    vectors = backend.embed(documents)
    distilled = backend.embedding_model
    assert isinstance(distilled, StaticModel) and vectors.shape == (4, 4)
    # BERTopic passes the corpus words, most frequent first, as `vocabulary`: new words are added.
    assert "zebras" in distilled.tokens
    np.testing.assert_array_equal(vectors, distilled.encode(documents))
