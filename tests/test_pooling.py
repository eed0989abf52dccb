"""The pooling kernels: exact float32 order of additions, `out`, weights, mapping and bad input.

Every test runs twice: with the compiled kernel (`model2vec._kernels`) and with the numpy path.
"""

from __future__ import annotations

import os
from itertools import pairwise

import numpy as np
import pytest

import model2vec.pooling
import model2vec.tokenization.word_index
from model2vec._compiled import kernels
from model2vec.pooling import kernel_reads, segment_mean, segment_sums


@pytest.fixture(autouse=True, params=["kernel", "numpy"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on the compiled kernel, then on the numpy path."""
    if request.param == "kernel" and kernels is None:
        pytest.skip("model2vec._kernels is not built")
    if request.param == "numpy":
        monkeypatch.setattr(model2vec.pooling, "kernels", None)
        monkeypatch.setattr(model2vec.tokenization.word_index, "kernels", None)
    return str(request.param)


def test_the_compiled_kernels_are_built(path: str) -> None:
    if os.environ.get("MODEL2VEC_NO_KERNELS", "") not in ("", "0"):
        pytest.skip("MODEL2VEC_NO_KERNELS is set")
    # A failed build is not an install error (the extension is optional), so the dev suite checks it.
    assert kernels is not None, "model2vec._kernels was not built: the install needs a C compiler"
    assert kernel_reads(np.zeros((2, 2), np.float16)) == (path == "kernel")
    assert not kernel_reads(np.zeros((2, 2), np.float64))
    assert not kernel_reads(np.zeros((2, 4), np.float32)[:, ::2])


def _batch(rng: np.random.Generator, vocab: int, n_texts: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = rng.integers(0, 12, size=n_texts)
    lengths[::5] = 0  # some texts without tokens
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    return rng.integers(0, vocab, size=int(offsets[-1])).astype(np.int64), offsets


def _sequential_sums(table: np.ndarray, ids: np.ndarray, offsets: np.ndarray, weights, mapping) -> np.ndarray:
    """Each text's rows added one by one in float32, in token order: the order `segment_sums` promises."""
    out = np.zeros((len(offsets) - 1, table.shape[1]), dtype=np.float32)
    for text, (start, end) in enumerate(pairwise(offsets)):
        acc = None
        for token in ids[start:end]:
            row = table[token if mapping is None else mapping[token]].astype(np.float32)
            if weights is not None:
                row = row * np.float32(weights[token])
            acc = row if acc is None else acc + row
        if acc is not None:
            out[text] = acc
    return out


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("mapped", [False, True])
def test_sums_add_rows_in_token_order_bitwise(dtype: str, weighted: bool, mapped: bool) -> None:
    rng = np.random.default_rng(0)
    vocab, rows = 50, 20
    # 11 columns: eight go through the kernel's vector instructions, three through its scalar tail.
    table = (rng.normal(size=(rows if mapped else vocab, 11)) * 20).astype(dtype)
    weights = rng.random(vocab).astype(np.float32) if weighted else None
    mapping = rng.integers(0, rows, size=vocab) if mapped else None
    ids, offsets = _batch(rng, vocab, 40)
    expected = _sequential_sums(table, ids, offsets, weights, mapping)
    for bucket_size in (1, 3, 512):
        got = segment_sums(table, ids, offsets, weights, mapping, bucket_size=bucket_size)
        np.testing.assert_array_equal(got, expected)


def test_out_is_filled_whatever_it_held() -> None:
    rng = np.random.default_rng(1)
    table = rng.normal(size=(30, 4)).astype(np.float32)
    ids, offsets = _batch(rng, 30, 17)
    out = np.full((17, 4), np.nan, dtype=np.float32)
    result = segment_mean(table, ids, offsets, normalize=True, out=out)
    assert result is out
    np.testing.assert_array_equal(out, segment_mean(table, ids, offsets, normalize=True))
    assert not np.isnan(out).any()


def test_bad_out_and_ids_outside_the_table_are_refused() -> None:
    table = np.ones((5, 4), dtype=np.float32)
    ids, offsets = np.array([0, 1, 2]), np.array([0, 2, 3])
    with pytest.raises(ValueError, match="out must be"):
        segment_sums(table, ids, offsets, out=np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="out must be"):
        segment_sums(table, ids, offsets, out=np.zeros((2, 4), dtype=np.float64))
    with pytest.raises(IndexError, match=r"\[0, 5\)"):
        segment_sums(table, np.array([0, 5, 1]), offsets)
    with pytest.raises(IndexError):
        segment_sums(table, ids, offsets, mapping=np.array([0, 1, 9, 3, 4]))


def test_no_texts_and_only_empty_texts() -> None:
    table = np.ones((5, 4), dtype=np.float32)
    assert segment_sums(table, np.zeros(0, np.int64), np.array([0])).shape == (0, 4)
    np.testing.assert_array_equal(segment_mean(table, np.zeros(0, np.int64), np.array([0, 0, 0])), np.zeros((2, 4)))


@pytest.mark.parametrize("dim", [1, 8, 13])
def test_every_float16_value_is_converted_exactly(dim: int) -> None:
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    halves = halves[~np.isnan(halves)]  # NaN payloads may differ (F16C quiets them); NaN stays NaN
    halves = np.resize(halves, (-(-len(halves) // dim), dim))
    got = segment_sums(halves, np.arange(len(halves)), np.arange(len(halves) + 1))
    assert got.tobytes() == halves.astype(np.float32).tobytes()


def test_malformed_offsets_ids_and_types_are_refused() -> None:
    table = np.ones((5, 4), dtype=np.float32)
    ids = np.array([0, 1, 2])
    for offsets in ([0, 2, 4], [0, 2, 1], [-1, 2, 3], []):  # past the end, decreasing, negative, none
        with pytest.raises(ValueError, match="offsets"):
            segment_sums(table, ids, np.array(offsets, dtype=np.int64))
    with pytest.raises(IndexError):
        segment_sums(table, np.array([-1, 1, 2]), np.array([0, 2, 3]))
    with pytest.raises(IndexError):
        segment_sums(table, ids, np.array([0, 2, 3]), weights=np.ones(2, np.float32))
    if kernels is not None:
        out = np.zeros((2, 4), np.float32)
        with pytest.raises(TypeError, match="table"):
            kernels.segment_sums(table.astype(np.float64), ids, np.array([0, 2, 3]), None, None, out)
        with pytest.raises(TypeError, match="ids"):
            kernels.segment_sums(table, ids.astype(np.int32), np.array([0, 2, 3]), None, None, out)
        with pytest.raises(ValueError, match="out"):
            kernels.segment_sums(table, ids, np.array([0, 2, 3]), None, None, np.zeros((3, 4), np.float32))
        with pytest.raises(ValueError, match="C-contiguous"):
            kernels.segment_sums(table, ids, np.array([0, 2, 3]), None, None, np.zeros((2, 8), np.float32)[:, ::2])


def test_other_table_types_take_the_numpy_path() -> None:
    rng = np.random.default_rng(3)
    table = rng.normal(size=(20, 6))
    ids, offsets = _batch(rng, 20, 9)
    np.testing.assert_array_equal(
        segment_sums(table, ids, offsets), _sequential_sums(table.astype(np.float32), ids, offsets, None, None)
    )
    strided = rng.normal(size=(20, 12)).astype(np.float32)[:, ::2]
    expected = _sequential_sums(strided, ids, offsets, None, None)
    np.testing.assert_array_equal(segment_sums(strided, ids, offsets), expected)
