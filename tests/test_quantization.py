from __future__ import annotations

import numpy as np
import pytest

from model2vec import DType, quantize_model
from model2vec.quantization import quantize_embeddings, quantize_vocabulary, truncate_dimensions

from .conftest import make_model

TEXTS = ["the cat sat on the mat", "hello world", "big red dogs !", "a"]


def test_dtype_parse() -> None:
    assert DType.parse("fp16") is DType.FLOAT16
    assert DType.parse(np.float32) is DType.FLOAT32
    assert DType.parse("INT8") is DType.INT8
    with pytest.raises(ValueError, match="Unknown dtype"):
        DType.parse("int4")


def test_int8_keeps_magnitudes_without_normalisation() -> None:
    model = make_model(normalize=False)
    q = quantize_model(model, quantize_to="int8")
    assert q.embedding.dtype == np.int8 and q.weights is not None
    np.testing.assert_allclose(q.encode(TEXTS), model.encode(TEXTS), atol=0.02 * np.abs(model.embedding).max())


def test_float16_close() -> None:
    model = make_model(normalize=True)
    q = quantize_model(model, quantize_to="float16")
    assert q.embedding_dtype == "float16"
    np.testing.assert_allclose(q.encode(TEXTS), model.encode(TEXTS), atol=1e-3)
    assert model.embedding_dtype == "float32"  # the original is untouched


def test_float16_clips_instead_of_inf() -> None:
    table = quantize_embeddings(np.array([[1e6, -1e6]], dtype=np.float32), "float16").embedding
    assert np.isfinite(table).all()


def test_dimensionality() -> None:
    model = make_model(dim=8)
    q = quantize_model(model, dimensionality=3)
    assert q.dim == 3
    np.testing.assert_array_equal(q.embedding, model.embedding[:, :3])
    with pytest.raises(ValueError, match="dimensionality"):
        truncate_dimensions(model.embedding, 9)
    # Documented as a copy: at full width too (it used to return the table itself).
    assert not np.shares_memory(truncate_dimensions(model.embedding, 8), model.embedding)


def test_vocabulary_quantisation_is_deterministic_and_close() -> None:
    model = make_model(dim=8, normalize=True)
    q1 = quantize_model(model, vocabulary_quantization=20)
    q2 = quantize_model(model, vocabulary_quantization=20)
    np.testing.assert_array_equal(q1.encode(TEXTS), q2.encode(TEXTS))
    # 20 clusters for 22 tokens: at most 4 tokens share a row, the others are reproduced exactly, and
    # sentence vectors stay close (which tokens are merged depends on the seed).
    assert q1.embedding.shape[0] == 20 and q1.token_mapping is not None
    rows = q1.embedding[q1.token_mapping] * q1.weights[:, None]
    exact = np.isclose(rows, model.embedding, atol=1e-5).all(axis=1)
    assert exact.sum() >= 18
    cos = (q1.encode(TEXTS) * model.encode(TEXTS)).sum(axis=1)
    assert cos.min() > 0.9
    with pytest.raises(ValueError, match="vocabulary_quantization"):
        quantize_vocabulary(model.embedding, 0)


def test_vocabulary_then_int8() -> None:
    model = make_model(dim=8)
    q = quantize_model(model, vocabulary_quantization=6, quantize_to="int8", dimensionality=4)
    assert q.embedding.shape == (6, 4) and q.embedding.dtype == np.int8
    assert q.token_mapping is not None and q.weights is not None
    assert np.isfinite(q.encode(TEXTS)).all()


@pytest.mark.parametrize("kwargs", [{}, {"dimensionality": 8}])
def test_result_never_shares_arrays_with_the_original(kwargs: dict[str, object]) -> None:
    # A no-op call used to hand back the model's own table and weights: editing the "copy" changed both.
    rng = np.random.default_rng(0)
    model = make_model(dim=8, weights=rng.random(len(make_model().embedding)).astype(np.float32))
    before_table, before_weights = model.embedding.copy(), np.asarray(model.weights).copy()
    copy = quantize_model(model, **kwargs)  # type: ignore[arg-type]
    copy.embedding[:] = 0
    assert copy.weights is not None
    copy.weights[:] = 0
    np.testing.assert_array_equal(model.embedding, before_table)
    np.testing.assert_array_equal(model.weights, before_weights)
