"""pymilvus: `pymilvus.model.dense.Model2VecEmbeddingFunction` (package pymilvus-model) on our folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel

from .conftest import TEXTS, assert_same_vectors

dense = pytest.importorskip("pymilvus.model.dense", reason="pymilvus-model not installed (make test-integrations)")
pytestmark = pytest.mark.integrations


@pytest.mark.parametrize("as_path", [False, True])
def test_local_folder_loads_through_load_local(model_folder: Path, model: StaticModel, as_path: bool) -> None:
    # An existing directory goes through StaticModel.load_local (no hub access).
    function = dense.Model2VecEmbeddingFunction(model_source=model_folder if as_path else str(model_folder))
    assert isinstance(function.model, StaticModel)
    assert function.dim == model.dim


def test_encode_documents_queries_and_call(model_folder: Path, model: StaticModel) -> None:
    function = dense.Model2VecEmbeddingFunction(model_source=str(model_folder))
    expected = model.encode(TEXTS)
    for result in (function.encode_documents(TEXTS), function.encode_queries(TEXTS), function(TEXTS)):
        # Milvus inserts a list of 1-D float32 arrays, one per text.
        assert isinstance(result, list) and all(v.shape == (model.dim,) and v.dtype == np.float32 for v in result)
        assert_same_vectors(result, expected)


def test_documented_import_path(model_folder: Path) -> None:
    from pymilvus import model as milvus_model

    function = milvus_model.dense.Model2VecEmbeddingFunction(model_source=str(model_folder))
    assert function.dim > 0
