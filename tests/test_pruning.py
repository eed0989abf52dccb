"""Vocabulary pruning: ids renumbered, tokenizer and table consistent, kept texts unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from model2vec import StaticModel
from model2vec.pruning import prune_vocabulary

from .conftest import make_model

PIECES = [
    ("<unk>", 0.0),
    ("<s>", 0.0),
    ("\u2581", -3.0),
    ("\u2581hello", -2.0),
    ("\u2581world", -2.5),
    ("\u2581wor", -4.0),
    ("ld", -4.0),
    ("\u2581h", -5.0),
    ("e", -5.0),
    ("l", -5.0),
    ("o", -5.0),
    ("w", -5.0),
    ("r", -5.0),
    ("d", -5.0),
    ("\u2581cat", -3.0),
]


def unigram_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.Unigram(PIECES, unk_id=0))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.add_special_tokens(["<s>"])
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return tokenizer


def unigram_model() -> StaticModel:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(PIECES), 6)).astype(np.float32)
    weights = rng.random(len(PIECES)).astype(np.float32)
    return StaticModel(vectors, unigram_tokenizer(), normalize=True, weights=weights)


def test_pruned_unigram_keeps_kept_texts_and_renumbers(tmp_path: Path) -> None:
    model = unigram_model()
    pruned = prune_vocabulary(model, ["\u2581hello", "\u2581world"], keep_characters=False)
    vocab = pruned.tokenizer.get_vocab()
    assert sorted(vocab, key=vocab.__getitem__) == ["<unk>", "<s>", "\u2581hello", "\u2581world"]
    np.testing.assert_array_equal(pruned.embedding, model.embedding[[0, 1, 3, 4]])
    np.testing.assert_array_equal(pruned.weights, model.weights[[0, 1, 3, 4]])
    np.testing.assert_allclose(
        pruned.encode(["hello world", "World hello"]), model.encode(["hello world", "World hello"])
    )
    assert pruned.tokenizer.encode("hello").ids == [1, 2]  # the post-processor's <s> id followed the renumbering
    assert pruned.unk_token_id == 0 and pruned.config["pruned_from"] == len(PIECES)
    pruned.save_pretrained(tmp_path / "p")
    again = StaticModel.from_pretrained(tmp_path / "p")
    np.testing.assert_allclose(again.encode(["hello world"]), pruned.encode(["hello world"]), atol=1e-6)


def test_characters_are_kept_so_pruned_words_are_spelled() -> None:
    model = unigram_model()
    pruned = prune_vocabulary(model, ["\u2581hello"])
    tokens = pruned.tokenizer.encode("world", add_special_tokens=False).tokens
    assert "<unk>" not in tokens and "".join(tokens) == "\u2581world"
    assert "\u2581world" not in pruned.tokenizer.get_vocab()
    assert "\u2581cat" not in pruned.tokenizer.get_vocab()


def test_keep_by_ids_and_mask() -> None:
    model = unigram_model()
    by_ids = prune_vocabulary(model, [3, 4], keep_characters=False)
    mask = np.zeros(len(PIECES), dtype=bool)
    mask[[3, 4]] = True
    by_mask = prune_vocabulary(model, mask, keep_characters=False)
    assert by_ids.tokenizer.get_vocab() == by_mask.tokenizer.get_vocab()


def test_wordpiece_model_prunes() -> None:
    model = make_model()
    words = list(model.tokenizer.get_vocab())[:6]
    pruned = prune_vocabulary(model, words, keep_characters=False)
    assert set(words) <= set(pruned.tokenizer.get_vocab())
    assert pruned.tokenizer.get_vocab_size() == len(pruned.embedding)


def test_errors() -> None:
    model = unigram_model()
    with pytest.raises(ValueError, match="not in the vocabulary"):
        prune_vocabulary(model, ["nope"])
    with pytest.raises(ValueError, match=r"\[0, 15\)"):
        prune_vocabulary(model, [99])
    with pytest.raises(ValueError, match="one entry per token"):
        prune_vocabulary(model, np.ones(3, dtype=bool))
    bpe = Tokenizer(models.BPE({"a": 0, "b": 1, "ab": 2, "<unk>": 3}, [("a", "b")], unk_token="<unk>"))
    with pytest.raises(ValueError, match="Cannot prune a BPE"):
        prune_vocabulary(StaticModel(np.ones((4, 2), dtype=np.float32), bpe), [0])
