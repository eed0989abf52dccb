"""txtai: `txtai.Embeddings(path=<our folder>)` detects the model2vec method and uses our `encode`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel

from .conftest import TEXTS, assert_same_vectors

txtai = pytest.importorskip("txtai", reason="txtai not installed (make test-integrations)")
pytestmark = pytest.mark.integrations


def _l2(vectors: np.ndarray) -> np.ndarray:
    """txtai L2-normalises every vector after encoding (Vectors.vectorize)."""
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def test_path_is_detected_as_model2vec(model_folder: Path) -> None:
    from txtai.vectors.dense.m2v import Model2Vec

    # Detection reads config.json's "model_type", which we write as "model2vec".
    assert Model2Vec.ismodel(str(model_folder))
    embeddings = txtai.Embeddings(path=str(model_folder))
    assert isinstance(embeddings.model, Model2Vec)
    assert isinstance(embeddings.model.model, StaticModel)


def test_transform_gives_our_normalised_vectors(model_folder: Path, model: StaticModel) -> None:
    embeddings = txtai.Embeddings(path=str(model_folder))
    assert_same_vectors(embeddings.batchtransform(TEXTS), _l2(model.encode(TEXTS)))
    assert_same_vectors(embeddings.transform(TEXTS[1]), _l2(model.encode(TEXTS[1])))


def test_vectors_options_reach_encode(model_folder: Path, model: StaticModel) -> None:
    # txtai passes its "vectors" config as keyword arguments to encode.
    embeddings = txtai.Embeddings(path=str(model_folder), vectors={"max_length": 2})
    assert_same_vectors(embeddings.batchtransform(TEXTS), _l2(model.encode(TEXTS, max_length=2)))


def test_index_and_search(model_folder: Path) -> None:
    embeddings = txtai.Embeddings(path=str(model_folder), content=True)
    embeddings.index(TEXTS)
    for text in TEXTS:
        (hit,) = embeddings.search(text, 1)
        assert hit["text"] == text
        assert hit["score"] == pytest.approx(1.0, abs=1e-4)
