"""The word cache's index: the compiled `StrIndex` and the pure-Python `DictIndex` behave like a dict."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model2vec._compiled import kernels
from model2vec.tokenization import DictIndex, WordIndex, _slots, new_word_index, split_look_up

IMPLEMENTATIONS = ["compiled", "python"]


def _make(kind: str) -> WordIndex:
    if kind == "compiled":
        if kernels is None:
            pytest.skip("model2vec._kernels is not built")
        return kernels.StrIndex()
    return DictIndex()


# Short and long (arena) keys, keys sharing their first 8 bytes, non-ASCII, lone surrogates, empty.
words = st.sampled_from(
    ["", "a", "the", "abcdefgh", "abcdefghi", "abcdefghij", "naïve", "日本語", "\ud800", "x\udfff", "😀", "a" * 40]
) | st.text(max_size=12)


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
@settings(max_examples=60, deadline=None)
@given(
    operations=st.lists(st.tuples(st.sampled_from(["add", "truncate", "clear", "look"]), st.lists(words, max_size=6)))
)
def test_behaves_like_a_dict_numbered_in_insertion_order(kind: str, operations: list[tuple[str, list[str]]]) -> None:
    index = _make(kind)
    model: list[str] = []
    for operation, batch in operations:
        if operation == "add":
            fresh = list(dict.fromkeys(word for word in batch if word not in model))
            index.add(fresh)
            model.extend(fresh)
        elif operation == "truncate":
            count = len(batch) % (len(model) + 1)
            index.truncate(count)
            del model[count:]
        elif operation == "clear":
            index.clear()
            model.clear()
        probe = [*batch, *model]
        expected = [model.index(word) if word in model else -1 for word in probe]
        assert _slots(index, probe).tolist() == expected
        assert len(index) == len(model)


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_many_words_grow_shrink_and_regrow(kind: str) -> None:
    index = _make(kind)
    many = [f"word{i}" for i in range(5000)] + [f"a much longer word number {i}" for i in range(5000)]
    index.add(many)
    assert _slots(index, many).tolist() == list(range(len(many)))
    for _ in range(20):  # drop and re-add the newest keys many times: removed buckets are reused
        index.truncate(9000)
        index.add(many[9000:])
    assert _slots(index, many[::-1]).tolist() == list(range(len(many)))[::-1]
    index.truncate(3)
    assert _slots(index, many[:5]).tolist() == [0, 1, 2, -1, -1]
    index.clear()
    assert len(index) == 0
    assert _slots(index, many[:3]).tolist() == [-1, -1, -1]


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_adding_a_present_word_changes_nothing(kind: str) -> None:
    index = _make(kind)
    index.add(["a", "long word here"])
    for bad in (["b", "a"], ["c", "c"], ["d", "long word here"]):
        with pytest.raises(ValueError, match="already"):
            index.add(bad)
        assert len(index) == 2
        assert _slots(index, ["a", "long word here", "b", "c", "d"]).tolist() == [0, 1, -1, -1, -1]


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_bad_arguments(kind: str) -> None:
    index = _make(kind)
    with pytest.raises(ValueError, match="one entry per word"):
        index.look_up(["a"], np.zeros(2, np.int64))
    if kind == "compiled":
        with pytest.raises(TypeError, match="str"):
            index.look_up(["a", b"a"], np.zeros(2, np.int64))  # type: ignore[list-item]
        with pytest.raises(TypeError, match="str"):
            index.add(["a", 1])  # type: ignore[list-item]
        assert len(index) == 0  # the failed add was undone
        with pytest.raises(TypeError):
            index.look_up(["a"], np.zeros(1, np.int32))
        with pytest.raises(ValueError, match=">= 0"):
            index.truncate(-1)


def test_the_compiled_index_is_used_when_built() -> None:
    index = new_word_index()
    assert isinstance(index, DictIndex) == (kernels is None)
    if kernels is not None:
        compiled = kernels.StrIndex()
        compiled.add([f"word number {i}" for i in range(100_000)])
        # Buckets, order and arena: under 100 bytes a word, where a dict costs about 200 (entry, str, int).
        assert compiled.nbytes < 100 * 100_000


texts_with_spaces = st.lists(
    st.lists(words | st.sampled_from([" ", "  ", "a b", "\t", "\u00a0"]), max_size=8).map("".join), max_size=8
)


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
@settings(max_examples=150, deadline=None)
@given(texts=texts_with_spaces, limit=st.sampled_from([-1, 1, 2, 3, 512]), known=st.lists(words, max_size=8))
def test_split_look_up_is_split_then_look_up(kind: str, texts: list[str], limit: int, known: list[str]) -> None:
    index = _make(kind)
    index.add(list(dict.fromkeys(known)))
    limits = np.full(len(texts), limit, dtype=np.int64)
    limits[::3] = -1  # some texts in full
    numbers, counts, cut, absent = split_look_up(index, texts, limits)
    expected_words, expected_counts, expected_cut = [], [], []
    for i, (text, text_limit) in enumerate(zip(texts, limits.tolist(), strict=True)):
        parts = text.split(" ") if text_limit < 0 else text.split(" ", text_limit)
        if text_limit >= 0 and len(parts) > text_limit:
            parts.pop()
            expected_cut.append(i)
        expected_words.extend(parts)
        expected_counts.append(len(parts))
    assert counts.tolist() == expected_counts
    assert cut == expected_cut
    assert numbers.tolist() == _slots(index, expected_words).tolist()
    assert absent == [word for word, number in zip(expected_words, numbers.tolist(), strict=True) if number < 0]


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_split_look_up_refuses_bad_input(kind: str) -> None:
    index = _make(kind)
    with pytest.raises(ValueError, match="one entry per text"):
        split_look_up(index, ["a b"], np.zeros(2, np.int64))
    if kind == "compiled":
        with pytest.raises(TypeError, match="str"):
            split_look_up(index, ["a", 3], np.full(2, -1, np.int64))  # type: ignore[list-item]


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_split_look_up_takes_str_subclasses(kind: str) -> None:
    index = _make(kind)
    index.add(["a", "b c"])
    texts = list(np.array(["a b c", "a"]))  # numpy.str_ items
    numbers, counts, _, absent = split_look_up(index, texts, np.full(2, -1, np.int64))
    assert numbers.tolist() == [0, -1, -1, 0]
    assert counts.tolist() == [3, 1]
    assert absent == ["b", "c"]
    assert all(type(word) is str for word in absent)
