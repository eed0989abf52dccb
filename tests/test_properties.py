"""Property tests: batch invariance, dtype stability, arbitrary unicode."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from model2vec import StaticModel, quantize_model

from .conftest import WORDS, make_model

BASE = make_model(dim=6, seed=7, normalize=True)
MODELS: dict[str, StaticModel] = {
    d: quantize_model(BASE, quantize_to=d) for d in ("float16", "float32", "float64", "int8")
}
# Texts mixing known words, unknown words, punctuation and any unicode.
word = st.sampled_from(WORDS[4:]) | st.text(min_size=0, max_size=6)
texts = st.lists(word, max_size=12).map(" ".join) | st.text(max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    batch=st.lists(texts, min_size=1, max_size=20),
    index=st.integers(min_value=0),
    batch_size=st.integers(1, 25),
    dtype=st.sampled_from(sorted(MODELS)),
)
def test_result_of_a_text_does_not_depend_on_its_batch(
    batch: list[str], index: int, batch_size: int, dtype: str
) -> None:
    model = MODELS[dtype]
    index %= len(batch)
    alone = model.encode([batch[index]])[0]
    together = model.encode(batch, batch_size=batch_size)[index]
    assert np.array_equal(alone, together)  # bitwise


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(texts, max_size=10), dtype=st.sampled_from(sorted(MODELS)), normalize=st.booleans())
def test_output_is_always_finite_float32(batch: list[str], dtype: str, normalize: bool) -> None:
    out = MODELS[dtype].encode(batch, normalize=normalize)
    assert out.dtype == np.float32
    assert out.shape == (len(batch), 6)
    assert out.flags.c_contiguous
    assert np.isfinite(out).all()
    norms = np.linalg.norm(out, axis=1)
    if normalize:
        assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.characters(), max_size=200), max_length=st.one_of(st.none(), st.integers(1, 50)))
def test_arbitrary_unicode(text: str, max_length: int | None) -> None:
    out = BASE.encode(text, max_length=max_length)
    assert out.shape == (6,) and np.isfinite(out).all()
    seq = BASE.encode_as_sequence(text, max_length=max_length)
    assert seq.shape[1] == 6
    if max_length is not None:
        assert seq.shape[0] <= max_length
