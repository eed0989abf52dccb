"""Shared fixtures: tiny in-memory tokenizers and models, and paths to ../shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordPiece

from model2vec import StaticModel

SHARED = Path(__file__).resolve().parents[2] / "shared"
REFERENCE_FORMAT = SHARED / "fixtures" / "reference-format"

WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "hello",
    "world",
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "dog",
    "##s",
    "a",
    "big",
    "red",
    ".",
    ",",
    "!",
    "é",
    "日",
    "本",
]


def make_tokenizer(words: list[str] | None = None, with_padding: bool = False) -> Tokenizer:
    """A small BERT-like WordPiece tokenizer built in memory."""
    vocab = {word: i for i, word in enumerate(words or WORDS)}
    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    if with_padding:
        # Teachers ship tokenizers with padding/truncation on; they must never leak into means.
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", length=16)
        tokenizer.enable_truncation(max_length=4)
    return tokenizer


def make_model(
    dim: int = 8, seed: int = 0, normalize: bool = False, dtype: str = "float32", **kwargs: object
) -> StaticModel:
    """A tiny random model over `WORDS`."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(WORDS), dim)).astype(dtype)
    return StaticModel(vectors, make_tokenizer(), normalize=normalize, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def tokenizer() -> Tokenizer:
    return make_tokenizer()


@pytest.fixture
def model() -> StaticModel:
    return make_model()


def require_reference_format() -> Path:
    """Skip the test when ../shared/fixtures/reference-format is absent."""
    if not REFERENCE_FORMAT.is_dir():
        pytest.skip(f"reference-format fixtures not found at {REFERENCE_FORMAT}")
    return REFERENCE_FORMAT
