from __future__ import annotations

import numpy as np
import pytest

from model2vec import StaticModel
from model2vec.distill.postprocess import apply_pca
from model2vec.pretrain.reregularize import reregularize

from ..conftest import WORDS, make_model, make_tokenizer


def test_pca_then_sif_from_counts() -> None:
    model = make_model(dim=8, normalize=True)
    counts = np.arange(len(WORDS), dtype=np.float64)
    out = reregularize(model, counts, pca_dims=4, sif_coefficient=1e-3)
    p = (counts + 1) / (counts + 1).sum()
    expected = apply_pca(model.embedding, 4) * (1e-3 / (1e-3 + p))[:, None]
    np.testing.assert_allclose(out.embedding, expected, rtol=1e-5, atol=1e-7)
    assert out.dim == 4 and out.normalize and out.tokenizer.get_vocab() == model.tokenizer.get_vocab()
    assert out.config["reregularize"] == {
        "pca_dims": 4,
        "sif_coefficient": 1e-3,
        "token_weights": "corpus_counts",
        "drop_components": 0,
    }
    assert model.dim == 8  # the input is not changed


def test_without_counts_or_pca() -> None:
    model = make_model(dim=8)
    out = reregularize(model, None, pca_dims=None)
    np.testing.assert_array_equal(out.embedding, model.embedding)
    assert out.config["sif_coefficient"] is None


def test_errors() -> None:
    model = make_model(dim=8)
    with pytest.raises(ValueError, match="one per row"):
        reregularize(model, np.ones(3))
    with pytest.raises(ValueError, match="sif_coefficient"):
        reregularize(model, np.ones(len(WORDS)), sif_coefficient=2.0)
    mapped = StaticModel(
        np.ones((2, 8), dtype=np.float32), make_tokenizer(), token_mapping=np.zeros(len(WORDS), dtype=np.int64)
    )
    with pytest.raises(ValueError, match="one row per token"):
        reregularize(mapped, None)


def test_drop_components_removes_the_leading_directions_and_zipf_weights() -> None:
    import numpy as np

    from model2vec.distill.postprocess import apply_pca, sif_weights, zipf_probabilities
    from model2vec.pretrain.reregularize import reregularize

    from ..conftest import make_model

    model = make_model(dim=8)
    table = np.asarray(model.embedding, dtype=np.float32)
    out = reregularize(model, None, pca_dims=4, sif_coefficient=1e-3, drop_components=2, sif_source="zipf")
    expected = apply_pca(table, 6)[:, 2:] * sif_weights(zipf_probabilities(len(table)), 1e-3)[:, None]
    np.testing.assert_allclose(out.embedding, expected, rtol=1e-5, atol=1e-6)
    assert out.dim == 4 and out.config["reregularize"]["token_weights"] == "zipf"
    with pytest.raises(ValueError, match="drop_components"):
        reregularize(model, None, pca_dims=4, drop_components=-1)
    with pytest.raises(ValueError, match="sif_source"):
        reregularize(model, None, pca_dims=4, sif_source="other")
