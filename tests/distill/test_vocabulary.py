"""Vocabulary surgery on tiny WordPiece, byte-level BPE and Unigram tokenizers."""

from __future__ import annotations

import re

import pytest
from tokenizers import Tokenizer

from model2vec.distill.vocabulary import build_vocabulary, compile_remove_pattern, special_affixes

from .conftest import BERT_WORDS, bpe_tokenizer, unigram_tokenizer, wordpiece_tokenizer

UNUSED = re.compile(r"\[unused\d+\]")


def test_special_affixes_of_each_family() -> None:
    assert special_affixes(wordpiece_tokenizer()) == ([BERT_WORDS.index("[CLS]")], [BERT_WORDS.index("[SEP]")])
    bpe = bpe_tokenizer()
    assert special_affixes(bpe) == ([bpe.token_to_id("<s>")], [bpe.token_to_id("</s>")])
    assert special_affixes(unigram_tokenizer()) == ([], [2])


def test_removal_renumbers_but_teacher_keeps_original_ids() -> None:
    teacher = wordpiece_tokenizer()
    plan = build_vocabulary(teacher, None, UNUSED)
    removed = {"[CLS]", "[SEP]", "[MASK]", "[unused0]", "[unused1]"}
    expected = [word for word in BERT_WORDS if word not in removed]
    assert plan.tokens == expected
    assert plan.stats.removed_by_pattern == 2
    assert plan.stats.removed_special == 3
    cls, sep = BERT_WORDS.index("[CLS]"), BERT_WORDS.index("[SEP]")
    for new_id, token in enumerate(plan.tokens):
        assert plan.tokenizer.token_to_id(token) == new_id
        assert plan.teacher_inputs[new_id] == [cls, BERT_WORDS.index(token), sep]
    # The new tokenizer adds no specials and never pads.
    encoding = plan.tokenizer.encode("the cat")
    assert encoding.tokens == ["the", "cat"]


def test_unknown_token_is_never_removed() -> None:
    plan = build_vocabulary(wordpiece_tokenizer(), None, re.compile(r"\["))
    assert "[UNK]" in plan.tokens
    assert "[PAD]" not in plan.tokens


def test_empty_vocabulary_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        build_vocabulary(unigram_tokenizer(), None, re.compile(r".*"))


def test_bad_regex_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a valid regular expression"):
        compile_remove_pattern("[unclosed")
    assert compile_remove_pattern(None) is None


def test_wordpiece_custom_vocabulary_multiword_and_duplicates() -> None:
    teacher = wordpiece_tokenizer()
    words = ["Catapult", "cat", "catapult", "New York", "new york", "   ", "[unused7]"]
    plan = build_vocabulary(teacher, words, UNUSED)
    assert plan.stats.added == 1
    assert plan.stats.added_multiword == 1
    assert plan.stats.duplicates == 3  # "cat" exists, "catapult" and "new york" repeat earlier entries
    assert plan.stats.empty == 1
    assert plan.stats.pattern_skipped == 1
    assert plan.tokens.count("catapult") == 1
    catapult = plan.tokenizer.token_to_id("catapult")
    new_york = plan.tokenizer.token_to_id("new york")
    assert plan.tokenizer.encode("A catapult in New York!").ids == [
        plan.tokenizer.token_to_id("a"),
        catapult,
        plan.tokenizer.token_to_id("[UNK]"),
        new_york,
        plan.tokenizer.token_to_id("!"),
    ]
    # The teacher sees its own subword split of the new word, wrapped in its specials.
    assert plan.teacher_inputs[catapult] == teacher.encode("Catapult").ids[: teacher.encode("Catapult").ids.index(0)]
    assert plan.teacher_inputs[new_york][0] == BERT_WORDS.index("[CLS]")
    assert len(plan.teacher_inputs) == plan.tokenizer.get_vocab_size()


def test_bpe_custom_vocabulary_adds_whole_words() -> None:
    teacher = bpe_tokenizer()
    plan = build_vocabulary(teacher, ["catdog", "the", "hot dog"], None)
    assert "<s>" not in plan.tokens and "<mask>" not in plan.tokens
    # Byte-level BPE never emits its <unk> (the model has no unk_token), so only <pad> is kept.
    assert "<pad>" in plan.tokens and "<unk>" not in plan.tokens
    assert "Ġcatdog" in plan.tokens
    assert plan.stats.duplicates == 1  # "the" -> "Ġthe" exists
    encoding = plan.tokenizer.encode("catdog and the hot dog")
    assert "Ġcatdog" in encoding.tokens
    assert plan.tokenizer.token_to_id("hot dog") in encoding.ids
    # Original merges still work for old words.
    assert "Ġthe" in plan.tokenizer.encode("the").tokens
    assert plan.teacher_inputs[plan.tokenizer.token_to_id("Ġcatdog")][0] == teacher.token_to_id("<s>")


def test_unigram_custom_vocabulary() -> None:
    teacher = unigram_tokenizer()
    plan = build_vocabulary(teacher, ["catalog", "cat", "big cat"], None)
    assert "▁catalog" in plan.tokens
    assert plan.stats.duplicates == 1
    assert plan.tokenizer.encode("a catalog").tokens[-1] == "▁catalog"
    assert plan.tokenizer.token_to_id("big cat") in plan.tokenizer.encode("the big cat").ids
    # Unigram keeps its unknown token at the renumbered id.
    assert plan.tokens[0] == "<unk>"
    assert plan.teacher_inputs[0] == [0, 2]


@pytest.mark.parametrize("factory", [wordpiece_tokenizer, bpe_tokenizer, unigram_tokenizer])
def test_word_level_mode(factory: type[Tokenizer]) -> None:
    teacher = factory()
    plan = build_vocabulary(teacher, ["Cat", "dog", "cat", "ice cream"], None, word_level=True)
    # "Cat" and "cat" are one word only when the teacher's normaliser lowercases (the BERT one does).
    lowercases = teacher.normalizer is not None and teacher.normalizer.normalize_str("Cat") == "cat"
    assert len(plan.tokens) == (4 if lowercases else 5)
    assert plan.stats.duplicates == (1 if lowercases else 0)
    assert plan.stats.added_multiword == 1
    ids = plan.tokenizer.encode("dog, ice cream!").ids
    assert plan.tokenizer.token_to_id("dog") in ids and plan.tokenizer.token_to_id("ice cream") in ids
    assert len(plan.teacher_inputs) == plan.tokenizer.get_vocab_size()


def test_word_level_needs_words() -> None:
    with pytest.raises(ValueError, match="non-empty vocabulary"):
        build_vocabulary(wordpiece_tokenizer(), [], None, word_level=True)


def test_vocabulary_must_not_be_a_string() -> None:
    with pytest.raises(ValueError, match="sequence of words"):
        build_vocabulary(wordpiece_tokenizer(), "cat", None)  # type: ignore[arg-type]
