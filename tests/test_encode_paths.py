"""The fast encode paths (word cache, bucketed pooling, threads, streaming) equal the straightforward ones."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, pre_tokenizers
from tokenizers.models import BPE, Unigram, WordPiece

import model2vec.pooling
import model2vec.tokenization.word_index
from model2vec import StaticModel
from model2vec._compiled import kernels
from model2vec.tokenization import TextTokenizer, _slots, prepare_tokenizer, splits_exactly_on_spaces

from .conftest import WORDS, make_model, make_tokenizer


def straightforward(model: StaticModel, text: str, max_length: int | None) -> np.ndarray:
    """The textbook definition: tokenise, truncate, drop unknown, mean of rows, normalise."""
    ids = model.tokenizer.encode(text, add_special_tokens=False).ids if text else []
    ids = ids[:max_length] if max_length is not None else ids
    ids = [i for i in ids if i != model.unk_token_id]
    if not ids:
        return np.zeros(model.dim, dtype=np.float32)
    rows = model.embedding[ids].astype(np.float64)
    if model.weights is not None:
        rows = rows * model.weights[ids, None]
    mean = rows.mean(axis=0)
    if model.normalize:
        mean = mean / np.linalg.norm(mean)
    return mean.astype(np.float32)


PIECES = [
    *WORDS[2:],
    "Hello",
    "CAT",
    "naïve",
    "café",
    "日本語",
    "\u00a0",
    "\t",
    "\n",
    "\x1c",
    "\u2028",
    "  ",
    "[CLS]",
    "[UNK]",
    "x" * 120,
    "cat,dog",
    "a.b",
    "\u0301",
    "😀",
]
text_strategy = st.lists(st.sampled_from(PIECES) | st.text(max_size=5), max_size=15).map(" ".join) | st.text(
    max_size=30
)


def _with_specials() -> Tokenizer:
    tokenizer = make_tokenizer()
    tokenizer.add_special_tokens(["[PAD]", "[CLS]", "[SEP]"])
    return tokenizer


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(text_strategy, min_size=1, max_size=12),
    max_length=st.sampled_from([None, 1, 3, 512]),
    specials=st.booleans(),
)
def test_word_cache_gives_the_tokenizers_ids(texts: list[str], max_length: int | None, specials: bool) -> None:
    tokenizer = prepare_tokenizer(_with_specials() if specials else make_tokenizer())
    cached = TextTokenizer(tokenizer, unk_token_id=1, cache_size=50)
    assert cached.use_word_cache
    assert (cached.separator is not None) == specials
    plain = TextTokenizer(tokenizer, unk_token_id=1)
    plain.use_word_cache = False
    # Twice: the second call is served from the (partly cleared) cache.
    for _ in range(2):
        assert cached(texts, max_length).as_lists() == plain(texts, max_length).as_lists()
    expected = []
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        ids = ids[:max_length] if max_length is not None else ids
        expected.append([i for i in ids if i != 1])
    assert cached(texts, max_length).as_lists() == expected


@settings(max_examples=80, deadline=None)
@given(
    texts=st.lists(text_strategy, min_size=1, max_size=10),
    normalize=st.booleans(),
    max_length=st.sampled_from([None, 2, 512]),
)
def test_encode_equals_straightforward_definition(texts: list[str], normalize: bool, max_length: int | None) -> None:
    model = make_model(dim=5, normalize=normalize, dtype="float16")
    out = model.encode(texts, max_length=max_length)
    for text, row in zip(texts, out, strict=True):
        np.testing.assert_allclose(row, straightforward(model, text, max_length), atol=1e-6, rtol=1e-5)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(text_strategy, min_size=1, max_size=10),
    dtype=st.sampled_from(["float32", "float16", "int8"]),
    weighted=st.booleans(),
    mapped=st.booleans(),
)
def test_compiled_kernels_change_no_bit(texts: list[str], dtype: str, weighted: bool, mapped: bool) -> None:
    if kernels is None:
        pytest.skip("model2vec._kernels is not built")
    rng = np.random.default_rng(len(texts))
    vocab = len(WORDS)
    rows = 7 if mapped else vocab
    table = (rng.normal(size=(rows, 11)) * 30).astype(dtype)
    weights = rng.random(vocab) if weighted else None
    mapping = rng.integers(0, rows, size=vocab) if mapped else None
    model = StaticModel(table, make_tokenizer(), normalize=True, weights=weights, token_mapping=mapping)
    compiled = model.encode(texts, max_length=None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model2vec.pooling, "kernels", None)
        patch.setattr(model2vec.tokenization.word_index, "kernels", None)
        plain = StaticModel(table, make_tokenizer(), normalize=True, weights=weights, token_mapping=mapping)
        assert plain.encode(texts, max_length=None).tobytes() == compiled.tobytes()


def _byte_level_bpe() -> Tokenizer:
    vocab = {chr(c): i for i, c in enumerate(range(33, 127))}
    tokenizer = Tokenizer(BPE(vocab, []))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _metaspace_unigram() -> Tokenizer:
    tokenizer = Tokenizer(Unigram([("<unk>", 0.0), ("▁a", -1.0), ("a", -2.0), ("▁", -3.0)], unk_id=0))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    return tokenizer


def test_word_cache_only_where_exact() -> None:
    assert splits_exactly_on_spaces(make_tokenizer())
    assert not splits_exactly_on_spaces(_byte_level_bpe())
    assert not splits_exactly_on_spaces(_metaspace_unigram())
    with_phrase = make_tokenizer()
    with_phrase.add_tokens(["new york"])
    assert not splits_exactly_on_spaces(with_phrase)
    no_pre = Tokenizer(WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    assert not splits_exactly_on_spaces(no_pre)


def test_non_bert_tokenizers_still_encode() -> None:
    for tokenizer in (_byte_level_bpe(), _metaspace_unigram()):
        size = tokenizer.get_vocab_size()
        model = StaticModel(np.eye(size, 4, dtype=np.float32), tokenizer)
        texts = ["a a", "ab!", ""]
        for text, row in zip(texts, model.encode(texts), strict=True):
            np.testing.assert_allclose(row, straightforward(model, text, 512), atol=1e-6)


def test_encode_iter_streams_in_order() -> None:
    model = make_model(normalize=True)
    texts = [f"the cat {WORDS[4 + i % 15]} sat" for i in range(2500)]
    chunks = list(model.encode_iter((t for t in texts), batch_size=300))
    assert [len(c) for c in chunks] == [300] * 8 + [100]
    np.testing.assert_array_equal(np.concatenate(chunks), model.encode(texts))
    # Generators also work with plain encode.
    np.testing.assert_array_equal(model.encode(t for t in texts[:10]), model.encode(texts[:10]))


def test_encode_iter_rejects_bad_items_with_stream_index() -> None:
    model = make_model()
    stream = iter(["the cat"] * 5 + [None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="Item 5"):
        list(model.encode_iter(stream, batch_size=2))
    with pytest.raises(TypeError):
        list(model.encode_iter("just a string"))  # type: ignore[arg-type]


def test_working_table_follows_reassigned_arrays() -> None:
    model = make_model(dtype="float16")
    before = model.encode(["the cat"])
    model.embedding = (model.embedding.astype(np.float32) * 2).astype(np.float16)
    np.testing.assert_allclose(model.encode(["the cat"]), before * 2, rtol=1e-3)


def test_word_cache_survives_clears_between_batches() -> None:
    # A small cache is emptied and refilled many times; slots must never point at stale ids.
    tokenizer = prepare_tokenizer(make_tokenizer())
    cached = TextTokenizer(tokenizer, unk_token_id=None, cache_size=7)
    plain = TextTokenizer(tokenizer, unk_token_id=None)
    plain.use_word_cache = False
    rng = np.random.default_rng(0)
    vocab = [*WORDS[4:], "cats", "dogs", "hello,world", "the.cat", "bigreddog"]
    for _ in range(40):
        texts = [" ".join(rng.choice(vocab, size=6)) for _ in range(5)]
        assert cached(texts, None).as_lists() == plain(texts, None).as_lists()


def test_word_that_produces_the_separator_id_is_handled() -> None:
    # "<S>" is not the added token's text, but lowercases to a vocabulary entry with the same id.
    from tokenizers import normalizers

    tokenizer = Tokenizer(WordPiece({"[UNK]": 0, "<s>": 1, "a": 2}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens(["<s>"])
    cached = TextTokenizer(prepare_tokenizer(tokenizer), unk_token_id=None)
    assert cached.separator is not None
    assert cached.separator.token_id == 1
    texts = ["a <S> a", "<S>", "a"]
    expected = [tokenizer.encode(t, add_special_tokens=False).ids for t in texts]
    assert expected[0] == [2, 1, 2]
    assert cached(texts, None).as_lists() == expected


def test_tiny_cache_over_many_batches_gives_identical_results() -> None:
    # The cache is emptied and refilled many times while batches are encoded; results must equal a run
    # with a fresh model.
    rng = np.random.default_rng(1)
    vocab = [*WORDS[4:], "cats", "dogs,", "hello.world", "Big", "RED!"]
    texts = [" ".join(rng.choice(vocab, size=int(rng.integers(0, 9)))) for _ in range(3000)]
    model = make_model(normalize=True)
    model._text_tokenizer.cache_size = 5
    small = model.encode(texts, batch_size=37, use_multiprocessing=True, multiprocessing_threshold=0)
    plain = make_model(normalize=True).encode(texts, batch_size=1000, use_multiprocessing=False)
    np.testing.assert_array_equal(small, plain)


def test_full_word_cache_keeps_first_words_and_empties_after_many_misses() -> None:
    tokenizer = prepare_tokenizer(make_tokenizer())
    cached = TextTokenizer(tokenizer, unk_token_id=None, cache_size=4)
    plain = TextTokenizer(tokenizer, unk_token_id=None)
    plain.use_word_cache = False
    first = ["the cat sat on", "the mat"]
    assert cached(first, None).as_lists() == plain(first, None).as_lists()
    # Five distinct words seen, four kept: the earliest ones (frequent words tend to come first).
    assert len(cached._index) == 4
    assert _slots(cached._index, ["the", "cat", "sat", "on", "mat"]).tolist() == [0, 1, 2, 3, -1]
    rng = np.random.default_rng(2)
    vocab = [*WORDS[4:], "cats", "dogs", "hello,world"]
    generation = cached._generation
    for _ in range(30):
        texts = [" ".join(rng.choice(vocab, size=5)) for _ in range(3)]
        assert cached(texts, None).as_lists() == plain(texts, None).as_lists()
        assert len(cached._index) <= 4
    # Words turned away add up; past 16 * cache_size the cache starts again (a change of domain).
    assert cached._generation > generation


def test_punctuation_separator_and_a_word_that_normalises_to_it() -> None:
    # With NFKC, the fullwidth bar becomes "|": a word without "|" can still produce the separator's id.
    from tokenizers import normalizers

    vocab = {"[UNK]": 0, "|": 1, "a": 2, "b": 3, "1": 4, "##1": 5}
    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cached = TextTokenizer(prepare_tokenizer(tokenizer), unk_token_id=0)
    assert cached.separator is not None and cached.separator.text == "|"
    texts = ["a\uff5cb a", "a|b", "b a1 |", "a"]
    expected = [[i for i in tokenizer.encode(t, add_special_tokens=False).ids if i != 0] for t in texts]
    assert expected[0] == [2, 1, 3, 2]
    assert cached(texts, None).as_lists() == expected


def test_interleaved_jobs_stay_exact_when_the_cache_is_emptied_between_steps() -> None:
    # The encode pipeline begins a batch before finishing the previous one; an emptying in between (by
    # any thread) makes a job's slots stale, and its words must then be looked up again.
    tokenizer = prepare_tokenizer(make_tokenizer())
    cached = TextTokenizer(tokenizer, unk_token_id=1, cache_size=6)
    plain = TextTokenizer(tokenizer, unk_token_id=1)
    plain.use_word_cache = False
    rng = np.random.default_rng(3)
    vocab = [*WORDS[2:], "cats", "dogs,", "hello.world", "Big"]
    batches = [[" ".join(rng.choice(vocab, size=7)) for _ in range(4)] for _ in range(30)]
    jobs = [cached.begin(batch, 5) for batch in batches[:2]]
    for index, batch in enumerate(batches):
        job = jobs.pop(0)
        cached.encode_missing(job)
        if index % 3 == 0:
            cached._clear()
        if index + 2 < len(batches):
            jobs.append(cached.begin(batches[index + 2], 5))
        assert cached.finish(job).as_lists() == plain(batch, 5).as_lists()


def _shortcut_tokenizer() -> Tokenizer:
    """WordPiece with "|" in its vocabulary (punctuation separator) and awkward added tokens."""
    from tokenizers import AddedToken, normalizers

    vocab = {w: i for i, w in enumerate([*WORDS, "|", "abc", "ab", "##c", "foo", "f", "##o", "[", "]", "cl", "##s"])}
    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.add_special_tokens(["[CLS]", "[SEP]"])
    # Matched on the raw text only: lowercasing first would change which words they match.
    tokenizer.add_tokens([AddedToken("abc", normalized=False), AddedToken("Foo", normalized=False)])
    tokenizer.add_tokens([AddedToken("newword", normalized=True)])
    return tokenizer


SHORTCUT_PIECES = [
    *PIECES,
    "ABC",
    "abc",
    "xabcx",
    "Foo",
    "foo",
    "FOO",
    "[cls]",
    "[CLS]x",
    "NewWord",
    "a|b",
    "Hello|World",
    "x\ty",
]


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.lists(st.sampled_from(SHORTCUT_PIECES), max_size=10).map(" ".join), min_size=1, max_size=8))
def test_ascii_shortcut_gives_the_tokenizers_ids(texts: list[str]) -> None:
    tokenizer = prepare_tokenizer(_shortcut_tokenizer())
    cached = TextTokenizer(tokenizer, unk_token_id=None)
    assert cached.shortcut is not None and cached.shortcut.lowercase
    plain = TextTokenizer(tokenizer, unk_token_id=None)
    plain.use_word_cache = False
    assert cached(texts, None).as_lists() == plain(texts, None).as_lists()


def test_ascii_shortcut_only_where_exact() -> None:
    from tokenizers import normalizers

    from model2vec.tokenization import find_separator, find_shortcut

    def shortcut_of(tokenizer: Tokenizer) -> object:
        spec = json.loads(tokenizer.to_str())
        return find_shortcut(tokenizer, spec, find_separator(tokenizer, spec))

    tokenizer = _shortcut_tokenizer()
    found = shortcut_of(tokenizer)
    assert found is not None
    assert set(found.guarded) == {"[CLS]", "[SEP]", "abc", "Foo"}  # newword is matched after normalising
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC()])
    found = shortcut_of(tokenizer)
    assert found is not None and not found.lowercase
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace("a", "b")])
    assert shortcut_of(tokenizer) is None  # Replace changes ASCII
    tokenizer.normalizer = None
    assert shortcut_of(tokenizer) is None  # nothing to skip
    # Without "|" in the vocabulary the separator is an added token, which lowercasing could break.
    assert shortcut_of(_with_specials()) is None


def test_concurrent_encodes_share_the_cache_exactly() -> None:
    # Several user threads encode through one model at once, each with its own pipeline; a tiny cache
    # is emptied again and again under them. Every result must equal a quiet single-threaded run.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(4)
    vocab = [*WORDS[2:], "cats", "dogs,", "hello.world", "Big", "RED!", "naïve"]
    inputs = [[" ".join(rng.choice(vocab, size=int(rng.integers(1, 9)))) for _ in range(400)] for _ in range(6)]
    model = make_model(normalize=True)
    model._text_tokenizer.cache_size = 4
    expected = [make_model(normalize=True).encode(texts, use_multiprocessing=False) for texts in inputs]

    def run(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=16, use_multiprocessing=True, multiprocessing_threshold=0)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, inputs))
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_failing_tokenizer_call_surfaces_from_the_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_model()
    texts = [f"the cat {i}" for i in range(100)]

    def broken(job: object) -> None:
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(model._text_tokenizer, "encode_missing", broken)
    with pytest.raises(RuntimeError, match="exploded"):
        model.encode(texts, batch_size=10, multiprocessing_threshold=0)
    stream = model.encode_iter(iter(texts), batch_size=10)
    with pytest.raises(RuntimeError, match="exploded"):
        next(stream)


def test_stopping_a_stream_early_ends_its_pipeline() -> None:
    model = make_model()
    produced: list[int] = []

    def texts() -> Iterator[str]:
        for i in range(10_000):
            produced.append(i)
            yield f"the cat {i}"

    stream = model.encode_iter(texts(), batch_size=10)
    first = next(stream)
    stream.close()
    assert first.shape == (10, model.dim)
    assert len(produced) <= 40  # only the batches in flight were read


def test_a_pickled_model_encodes_the_same_and_starts_with_an_empty_cache() -> None:
    model = make_model(dtype="float16", normalize=True)
    texts = ["the cat sat on the mat", "Hello CAT, naïve café", ""]
    expected = model.encode(texts)
    copy = pickle.loads(pickle.dumps(model))
    assert len(copy._text_tokenizer._index) == 0
    assert copy.encode(texts).tobytes() == expected.tobytes()
    assert copy.encode(texts, use_multiprocessing=True, multiprocessing_threshold=0).tobytes() == expected.tobytes()
