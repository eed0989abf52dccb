from __future__ import annotations

import pytest

from model2vec.pretrain.vocabulary import count_words, frequent_new_words

from ..conftest import make_tokenizer


def test_words_are_counted_as_the_tokenizer_sees_them() -> None:
    counts = count_words(make_tokenizer(), ["Hello, World!", "hello there"])
    assert counts == {"hello": 2, "world": 1, ",": 1, "!": 1, "there": 1}


def test_frequent_new_words() -> None:
    texts = ["zebra zebra yak yak 42 42 42 hello hello hello x-ray x-ray", "zebra yak", "zebra"]
    words = frequent_new_words(make_tokenizer(), texts, n_words=5, min_count=2)
    # "hello" is already a token; "42" is not a word; "x", "-", "ray" are split by the pre-tokenizer.
    assert words == ["zebra", "yak", "ray"]
    assert frequent_new_words(make_tokenizer(), texts, n_words=1, min_count=2) == ["zebra"]
    assert frequent_new_words(make_tokenizer(), texts, n_words=0) == []
    with pytest.raises(ValueError, match="n_words"):
        frequent_new_words(make_tokenizer(), texts, n_words=-1)
