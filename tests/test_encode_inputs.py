"""encode's boundary: inputs whose iteration is not their texts, strict flags, and extreme tables."""

from __future__ import annotations

import numpy as np
import pytest

from model2vec import StaticModel
from model2vec.pooling import normalize_rows, row_norms

from .conftest import WORDS, make_model, make_tokenizer


def test_data_frame_is_refused_with_what_to_pass() -> None:
    pd = pytest.importorskip("pandas")
    model = make_model()
    frame = pd.DataFrame({"text": ["the cat", "a dog"]})
    for call in (model.encode, model.encode_as_sequence, lambda x: list(model.encode_iter(x))):
        with pytest.raises(TypeError, match=r"column names.*df\['text'\]"):
            call(frame)
    np.testing.assert_array_equal(model.encode(frame["text"]), model.encode(["the cat", "a dog"]))


def test_mapping_and_bytes_are_refused() -> None:
    model = make_model()
    with pytest.raises(TypeError, match="keys"):
        model.encode({"the cat": 1})
    with pytest.raises(TypeError, match="decode"):
        model.encode(b"the cat")
    with pytest.raises(TypeError, match="decode"):
        list(model.encode_iter(b"the cat"))


@pytest.mark.parametrize("value", ["no", "false", 0, 1, None])
def test_normalize_argument_is_strict(value: object) -> None:
    model = make_model()
    if value is None:  # None means "the model's setting"
        np.testing.assert_array_equal(model.encode(["the cat"], normalize=value), model.encode(["the cat"]))
        return
    with pytest.raises(TypeError, match="normalize"):
        model.encode(["the cat"], normalize=value)
    with pytest.raises(TypeError, match="normalize"):
        list(model.encode_iter(["the cat"], normalize=value))


def _constant_model(value: float, normalize: bool) -> StaticModel:
    table = np.full((len(WORDS), 4), value, dtype=np.float32)
    table[:, 1] *= -0.5
    return StaticModel(table, make_tokenizer(), normalize=normalize)


@pytest.mark.parametrize("value", [3e38, -3e38, 1e20, 1e-30, 1e-40])
def test_extreme_tables_give_unit_vectors(value: float) -> None:
    model = _constant_model(value, normalize=True)
    out = model.encode(["the cat sat on the mat", "hello", "", "the " * 50])
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out[[0, 1, 3]].astype(np.float64), axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(out[2], 0)
    expected = np.array([1, -0.5, 1, 1]) * np.sign(value) / np.sqrt(3.25)
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)


def test_huge_table_means_do_not_overflow() -> None:
    model = _constant_model(3e38, normalize=False)
    out = model.encode(["the cat sat on the mat", "hello"])
    np.testing.assert_allclose(out, np.array([[3e38, -1.5e38, 3e38, 3e38]] * 2, dtype=np.float32), rtol=1e-6)


def test_ordinary_tables_keep_their_bits() -> None:
    # The overflow check must not change a single bit for ordinary tables.
    model = make_model(normalize=True)
    texts = ["the cat sat", "a big red dog", "hello world !"]
    ids = [model.tokenizer.encode(t, add_special_tokens=False).ids for t in texts]
    rows = np.stack([model.embedding[i].sum(axis=0, dtype=np.float32) for i in ids])
    rows /= np.array([len(i) for i in ids], dtype=np.float32)[:, None]
    rows /= (np.sqrt(np.einsum("ij,ij->i", rows, rows)) + np.float32(1e-32))[:, None]
    assert model.encode(texts).tobytes() == rows.tobytes()


def test_row_norms_scale_before_squaring() -> None:
    rows = np.array([[3e38, 1e38, 0], [3e-30, 4e-30, 0], [0, 0, 0], [3, 4, 0]], dtype=np.float32)
    np.testing.assert_allclose(row_norms(rows), [np.sqrt(10) * 1e38, 5e-30, 0, 5], rtol=1e-6)
    assert np.isinf(row_norms(np.array([[3e38, 3e38]], dtype=np.float32))[0])  # the true norm exceeds float32
    unit = normalize_rows(rows.copy())
    np.testing.assert_allclose(np.linalg.norm(unit[[0, 1, 3]].astype(np.float64), axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(unit[2], 0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_arrays_in_memory_are_refused_at_encode(bad: float) -> None:
    table = np.ones((len(WORDS), 4), dtype=np.float32)
    table[5, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        StaticModel(table, make_tokenizer()).encode(["the cat"])
    weights = np.ones(len(WORDS), dtype=np.float32)
    weights[3] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        StaticModel(np.ones((len(WORDS), 4), np.float32), make_tokenizer(), weights=weights).encode(["the"])


def test_a_table_without_columns_encodes_to_empty_rows() -> None:
    model = StaticModel(np.zeros((len(WORDS), 0), np.float32), make_tokenizer(), normalize=True)
    assert model.encode(["the cat", ""]).shape == (2, 0)


def test_a_loaded_float32_model_encodes_after_its_folder_is_deleted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    make_model_path = tmp_path / "m"
    StaticModel(np.ones((len(WORDS), 4), np.float32), make_tokenizer()).save_pretrained(make_model_path)
    model = StaticModel.from_pretrained(make_model_path)
    shutil.rmtree(make_model_path)
    np.testing.assert_allclose(model.encode(["the cat"]), np.ones((1, 4)), rtol=1e-6)
