from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model2vec import StaticModel
from model2vec.tokenization import CHARS_PER_TOKEN_BOUND

from .conftest import WORDS, make_model, make_tokenizer


def manual_mean(model: StaticModel, words: list[str]) -> np.ndarray:
    ids = [WORDS.index(w) for w in words]
    return model.embedding[ids].astype(np.float32).mean(axis=0)


def test_attributes(model: StaticModel) -> None:
    assert model.dim == 8
    assert isinstance(model.dim, int)
    assert model.tokens == WORDS
    assert model.unk_token_id == 1
    assert model.embedding_dtype == "float32"
    assert model.vocabulary_quantization is None
    assert model.weights is None and model.token_mapping is None
    assert model.median_token_length == int(np.median([len(w) for w in WORDS]))


def test_encode_is_mean_of_token_rows(model: StaticModel) -> None:
    out = model.encode(["the cat sat"])
    np.testing.assert_allclose(out[0], manual_mean(model, ["the", "cat", "sat"]), rtol=1e-6)


def test_single_string_gives_1d(model: StaticModel) -> None:
    out = model.encode("hello world")
    assert out.shape == (8,)
    np.testing.assert_array_equal(out, model.encode(["hello world"])[0])


@pytest.mark.parametrize("container", [list, tuple, np.array, pd.Series])
def test_containers_give_float32_c_contiguous_writable(model: StaticModel, container: type) -> None:
    out = model.encode(container(["hello", "the cat", "zzz"]))
    assert out.shape == (3, 8)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous and out.flags.writeable


def test_empty_input(model: StaticModel) -> None:
    out = model.encode([])
    assert out.shape == (0, 8) and out.dtype == np.float32
    assert model.encode_as_sequence([]) == []


def test_unknown_and_empty_texts_give_zero_vectors() -> None:
    model = make_model(normalize=True, dtype="float16")
    out = model.encode(["", "   ", "qqq xyzzy", "hello"])
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:3], 0)
    assert np.linalg.norm(out[3]) == pytest.approx(1.0, abs=1e-6)


def test_unknown_tokens_are_dropped(model: StaticModel) -> None:
    np.testing.assert_array_equal(model.encode(["the qqq cat"]), model.encode(["the cat"]))


def test_non_str_item_raises_type_error_with_index(model: StaticModel) -> None:
    with pytest.raises(TypeError, match=r"Item 2 .* int"):
        model.encode(["a", "b", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="bytes"):
        model.encode(b"hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        model.encode(None)  # type: ignore[arg-type]


def test_unknown_kwargs_are_ignored(model: StaticModel) -> None:
    np.testing.assert_array_equal(model.encode(["hello"], convert_to_numpy=True, device="cpu"), model.encode(["hello"]))


def test_normalize_kwarg_and_property() -> None:
    model = make_model()
    raw = model.encode(["the cat sat"])
    normed = model.encode(["the cat sat"], normalize=True)
    np.testing.assert_allclose(normed, raw / np.linalg.norm(raw), rtol=1e-6)
    model.normalize = True
    assert model.config["normalize"] is True
    np.testing.assert_array_equal(model.encode(["the cat sat"]), normed)
    with pytest.raises(TypeError):
        model.normalize = "yes"  # type: ignore[assignment]


def test_tokenizer_padding_and_truncation_do_not_leak() -> None:
    vectors = np.random.default_rng(1).normal(size=(len(WORDS), 4)).astype(np.float32)
    padded = StaticModel(vectors, make_tokenizer(with_padding=True))
    plain = StaticModel(vectors, make_tokenizer())
    text = ["the cat sat on the mat , hello world"]
    np.testing.assert_array_equal(padded.encode(text), plain.encode(text))
    # The tokenizer given to the model is not modified, and its settings are saved back unchanged.
    assert padded.tokenizer.padding is None
    assert padded.tokenizer.truncation is None


def test_max_length(model: StaticModel) -> None:
    text = "the cat sat on the mat"
    np.testing.assert_allclose(model.encode(text, max_length=2), manual_mean(model, ["the", "cat"]), rtol=1e-6)
    np.testing.assert_allclose(model.encode(text, max_length=None), manual_mean(model, text.split()), rtol=1e-6)
    # Unknown tokens count towards the limit (they are dropped after truncation).
    np.testing.assert_array_equal(model.encode("qqq qqq cat", max_length=2), 0)
    with pytest.raises(ValueError, match="max_length"):
        model.encode("x", max_length=0)


def test_long_text_is_cut_but_first_tokens_are_kept(model: StaticModel) -> None:
    text = "cat " * (CHARS_PER_TOKEN_BOUND * 10)
    np.testing.assert_allclose(model.encode(text, max_length=5), manual_mean(model, ["cat"]), rtol=1e-6)


def test_weights_and_mapping_are_applied(tokenizer) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(3, 4)).astype(np.float32)
    mapping = rng.integers(0, 3, size=len(WORDS))
    weights = rng.uniform(0.5, 2.0, size=len(WORDS)).astype(np.float32)
    model = StaticModel(rows, tokenizer, weights=weights, token_mapping=mapping)
    ids = [WORDS.index(w) for w in ["the", "cat"]]
    expected = (rows[mapping[ids]] * weights[ids, None]).mean(axis=0)
    np.testing.assert_allclose(model.encode("the cat"), expected, rtol=1e-6)
    assert model.vocabulary_quantization == 3
    seq = model.encode_as_sequence("the cat")
    np.testing.assert_allclose(seq, rows[mapping[ids]] * weights[ids, None], rtol=1e-6)


def test_batch_size_and_threads_do_not_change_results(model: StaticModel) -> None:
    texts = [" ".join(WORDS[4 + (i % 15) : 4 + (i % 15) + (i % 5)]) for i in range(300)]
    reference = model.encode(texts, batch_size=1024, use_multiprocessing=False)
    for batch_size in (1, 7, 64):
        np.testing.assert_array_equal(model.encode(texts, batch_size=batch_size), reference)
    threaded = model.encode(texts, batch_size=16, use_multiprocessing=True, multiprocessing_threshold=10)
    np.testing.assert_array_equal(threaded, reference)
    with pytest.raises(ValueError, match="batch_size"):
        model.encode(texts, batch_size=0)


def test_encode_as_sequence_and_tokenize(model: StaticModel) -> None:
    seqs = model.encode_as_sequence(["the cat", "", "qqq"])
    assert isinstance(seqs, list)
    assert [s.shape for s in seqs] == [(2, 8), (0, 8), (0, 8)]
    assert all(s.dtype == np.float32 for s in seqs)
    single = model.encode_as_sequence("the cat")
    assert isinstance(single, np.ndarray) and single.shape == (2, 8)
    assert model.tokenize(["the cat", "qqq dog"]) == [[6, 7], [11]]
    assert model.tokenize("the cat sat", max_length=2) == [[6, 7]]


def test_constructor_validation(tokenizer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="rows"):
        StaticModel(np.zeros((3, 4), dtype=np.float32), tokenizer)
    with pytest.raises(ValueError, match="2-D"):
        StaticModel(np.zeros(len(WORDS), dtype=np.float32), tokenizer)
    with pytest.raises(TypeError, match="numpy"):
        StaticModel([[0.0]], tokenizer)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Tokenizer"):
        StaticModel(np.zeros((len(WORDS), 4), dtype=np.float32), "bert")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype"):
        StaticModel(np.zeros((len(WORDS), 4), dtype=np.complex64), tokenizer)
    with pytest.raises(ValueError, match="weights"):
        StaticModel(np.zeros((len(WORDS), 4), dtype=np.float32), tokenizer, weights=np.ones(3))
    with pytest.raises(ValueError, match="token_mapping"):
        StaticModel(np.zeros((2, 4), dtype=np.float32), tokenizer, token_mapping=np.full(len(WORDS), 5))


def test_int8_and_float16_tables_encode_in_float32() -> None:
    for dtype in ("float16", "int8", "float64"):
        rng = np.random.default_rng(0)
        table = (rng.normal(size=(len(WORDS), 8)) * 50).astype(dtype)
        out = StaticModel(table, make_tokenizer(), normalize=True).encode(["the cat", "hello"])
        assert out.dtype == np.float32 and np.isfinite(out).all()


def test_float16_large_values_do_not_overflow() -> None:
    table = np.full((len(WORDS), 4), 60000, dtype=np.float16)
    model = StaticModel(table, make_tokenizer(), normalize=True)
    out = model.encode(["the cat sat on the mat " * 5])
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0], 0.5, rtol=1e-6)


def test_progress_bar_does_not_change_results(model: StaticModel) -> None:
    texts = ["the cat", "hello world", ""] * 5
    np.testing.assert_array_equal(model.encode(texts, show_progress_bar=True, batch_size=4), model.encode(texts))
