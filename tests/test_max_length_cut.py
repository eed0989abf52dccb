"""`max_length` keeps the first tokens of the *whole* text, however the text is cut before tokenising.

Huge texts are cut by characters first (for speed); a long word is a single unknown token and whitespace
gives no token at all, so a cut can hold fewer tokens than the whole text's first `max_length`. These
tests compare with the plain tokenizer on the whole text.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE, Unigram

from model2vec import StaticModel
from model2vec.tokenization import CHARS_PER_TOKEN_BOUND, TextTokenizer, prepare_tokenizer

from .conftest import WORDS, make_model, make_tokenizer


def _byte_level_bpe() -> Tokenizer:
    vocab = {chr(c): i for i, c in enumerate(range(33, 127))}
    vocab["Ġ"] = len(vocab)
    tokenizer = Tokenizer(BPE(vocab, []))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _metaspace_unigram() -> Tokenizer:
    pieces = [("<unk>", 0.0), ("▁", -3.0), ("▁the", -1.0), ("▁cat", -1.0), ("x", -2.0), ("▁x", -2.0)]
    tokenizer = Tokenizer(Unigram(pieces, unk_id=0))
    tokenizer.normalizer = normalizers.Replace(" +", " ")  # collapses whitespace runs, as sentencepiece does
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    return tokenizer


TOKENIZERS = {"wordpiece": make_tokenizer, "byte-level-bpe": _byte_level_bpe, "metaspace-unigram": _metaspace_unigram}

# Pieces that make character cuts go wrong: words, words longer than the character bound, whitespace runs.
_piece = st.one_of(
    st.sampled_from([*WORDS[4:], "x", "the", "cat"]),
    st.builds(lambda n: "x" * n, st.integers(50, 2500)),
    st.builds(lambda c, n: c * n, st.sampled_from([" ", "\t", "\n", "\u3000"]), st.integers(1, 2500)),
)
_text = st.lists(st.tuples(_piece, st.sampled_from([" ", "", "  ", "\n"])), max_size=12).map(
    lambda parts: "".join(piece + gap for piece, gap in parts)
)


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(_text, min_size=1, max_size=4), max_length=st.integers(1, 6))
def test_first_tokens_of_the_whole_text(name: str, texts: list[str], max_length: int) -> None:
    tokenizer = prepare_tokenizer(TOKENIZERS[name]())
    batch = TextTokenizer(tokenizer, unk_token_id=None)(texts, max_length, drop_unknown=False)
    expected = [tokenizer.encode(text, add_special_tokens=False).ids[:max_length] for text in texts]
    assert batch.as_lists() == expected


@pytest.mark.parametrize("use_word_cache", [True, False])
def test_unknown_tokens_count_before_they_are_dropped(use_word_cache: bool) -> None:
    tokenizer = prepare_tokenizer(make_tokenizer())
    cutter = TextTokenizer(tokenizer, unk_token_id=1)
    cutter.use_word_cache = use_word_cache
    text = "x" * (CHARS_PER_TOKEN_BOUND * 3) + " " * (CHARS_PER_TOKEN_BOUND * 3) + " hello world the cat"
    assert cutter([text], max_length=3).as_lists() == [[WORDS.index("hello"), WORDS.index("world")]]


def _mean(model: StaticModel, words: list[str]) -> np.ndarray:
    return model.embedding[[WORDS.index(word) for word in words]].mean(axis=0)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("x" * 60000 + " hello world", ["hello", "world"]),  # one long word is one [UNK]
        ("hello" + " " * 60000 + "world", ["hello", "world"]),  # whitespace gives no token
        ("data:image/png;base64," + "QUJD" * 15000 + " hello world", None),  # a data URI, then a sentence
    ],
    ids=["long-word", "whitespace-run", "data-uri"],
)
def test_reported_texts_keep_their_words(text: str, words: list[str] | None) -> None:
    model = make_model()
    got = model.encode([text])[0]
    if words is not None:
        np.testing.assert_allclose(got, _mean(model, words), rtol=1e-6)
    ids = [i for i in model.tokenizer.encode(text, add_special_tokens=False).ids[:512] if i != model.unk_token_id]
    np.testing.assert_allclose(got, model.embedding[ids].mean(axis=0), rtol=1e-6)
    assert np.abs(got).sum() > 0


def test_huge_max_length_means_no_limit() -> None:
    model = make_model()
    np.testing.assert_array_equal(
        model.encode(["the cat sat"], max_length=2**63), model.encode(["the cat sat"], max_length=None)
    )
