"""The pooling kernels: exact float32 order of additions, `out`, weights, mapping and bad input."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from model2vec.pooling import segment_mean, segment_sums


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
    table = (rng.normal(size=(rows if mapped else vocab, 8)) * 20).astype(dtype)
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
