"""The lean Unigram path gives exactly the ids of the `tokenizers` Unigram model (with and without kernels)."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from model2vec import StaticModel, quantize_model
from model2vec._compiled import kernels
from model2vec.tokenization import unigram
from model2vec.tokenization.unigram import LeanUnigram, PyUnigramVocab, scan_vocab, segment_words, serde_float
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
XLMR_CANDIDATES = [ROOT / "models" / "teachers" / "multilingual-e5-small" / "tokenizer.json"]
MULTILINGUAL = SHARED / "data" / "multilingual"
SPECIAL = ["<s>", "<pad>", "</s>", "<unk>"]


@pytest.fixture(params=["kernels", "python"])
def kernel_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the compiled kernels (skipped when not built) and with the pure-Python path."""
    if request.param == "kernels" and kernels is None:
        pytest.skip("compiled kernels not built")
    if request.param == "python":
        monkeypatch.setattr(unigram, "kernels", None)
    return str(request.param)


def _added(content: str, token_id: int, lstrip: bool = False) -> dict[str, Any]:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": lstrip,
        "rstrip": False,
        "normalized": False,
        "special": True,
    }


def unigram_json(
    vocab: list[tuple[str, float | str]],
    unk_id: int | None = 3,
    added: list[dict[str, Any]] | None = None,
    byte_fallback: bool = False,
    pre_tokenizer: dict[str, Any] | None = None,
    normalizer: dict[str, Any] | None = None,
) -> str:
    """A Unigram tokenizer.json (XLM-R style: Metaspace, NFKC); a str score is written verbatim as the JSON number."""
    entries = ", ".join(
        f"[{json.dumps(piece)}, {score if isinstance(score, str) else repr(float(score))}]" for piece, score in vocab
    )
    spec = {
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 512, "strategy": "LongestFirst", "stride": 0},
        "padding": None,
        "added_tokens": added if added is not None else [_added(token, i) for i, token in enumerate(SPECIAL)],
        "normalizer": normalizer if normalizer is not None else {"type": "NFKC"},
        "pre_tokenizer": pre_tokenizer
        or {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "Unigram", "unk_id": unk_id, "vocab": "@VOCAB@", "byte_fallback": byte_fallback},
    }
    return json.dumps(spec, ensure_ascii=False).replace('"@VOCAB@"', f"[{entries}]")


def rust_ids(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [encoding.ids for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)]


# -- hypothesis: tiny vocabularies ---------------------------------------------------------------

ALPHABET = ["a", "b", "ab", "é", "日", "本", "😀", "▁"]  # chars of 1, 2, 3 and 4 UTF-8 bytes
TEXT_CHARS = st.sampled_from(["a", "b", "é", "日", "本", "😀", " ", " ", "z", "ß", "\u00a0", "<s>", "x"])
# Few distinct scores make ties common; the exact values test the score arithmetic.
SCORES = st.one_of(st.sampled_from([-1.0, -2.0, -3.0, -0.5, -1.5]), st.floats(-20, 0, allow_nan=False))
PIECES = st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=3).map("".join)


@st.composite
def vocabularies(draw: st.DrawFn, unique: bool = True) -> list[tuple[str, float]]:
    pieces = draw(st.lists(PIECES, min_size=1, max_size=25, unique=unique))
    specials = [(token, 0.0) for token in SPECIAL]
    return specials + [(piece, draw(SCORES)) for piece in pieces]


TEXTS = st.lists(st.lists(TEXT_CHARS, max_size=14).map("".join), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vocab=vocabularies(), texts=TEXTS)
def test_lean_ids_equal_rust_on_tiny_vocabularies(
    kernel_mode: str, vocab: list[tuple[str, float]], texts: list[str]
) -> None:
    text = unigram_json(vocab)
    lean = LeanUnigram.from_json(text, min_pieces=0)
    assert lean is not None
    assert lean.encode_ids(texts) == rust_ids(Tokenizer.from_str(text), texts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vocab=vocabularies(unique=False), words=st.lists(st.lists(TEXT_CHARS, max_size=14).map("".join), max_size=6))
def test_segmenter_equals_rust_model_with_repeated_pieces(
    kernel_mode: str, vocab: list[tuple[str, float]], words: list[str]
) -> None:
    # No normaliser or pre-tokenizer: each word goes to the model whole (repeated pieces: the last id wins).
    text = unigram_json(vocab, added=[], normalizer={"type": "Sequence", "normalizers": []})
    spec = json.loads(text)
    spec["pre_tokenizer"] = None
    tokenizer = Tokenizer.from_str(json.dumps(spec))
    raw = text.encode()
    blob, offsets, scores, _ = scan_vocab(raw, raw.index(b'"vocab": [') + len(b'"vocab": '))
    vocab_object = unigram.new_unigram_vocab(blob, offsets, scores, 3)
    ids, counts = segment_words(vocab_object, words)
    expected = rust_ids(tokenizer, words)
    assert counts.tolist() == [len(found) for found in expected]
    assert ids.tolist() == [token for found in expected for token in found]


def test_kernel_and_python_segmenters_agree() -> None:
    if kernels is None:
        pytest.skip("compiled kernels not built")
    rng = np.random.default_rng(0)
    pieces = sorted({"".join(rng.choice(ALPHABET, size=rng.integers(1, 4))) for _ in range(60)})
    blob = "".join(pieces).encode()
    offsets = np.concatenate(([0], np.cumsum([len(piece.encode()) for piece in pieces]))).astype(np.int64)
    scores = rng.choice([-1.0, -2.0, -0.5], size=len(pieces)).astype(np.float64)
    words = ["".join(rng.choice([*ALPHABET, "z", "x"], size=rng.integers(0, 12))) for _ in range(300)]
    compiled = segment_words(kernels.UnigramVocab(blob, offsets, scores, 0), words)
    python = segment_words(PyUnigramVocab(blob, offsets, scores, 0), words)
    assert compiled[0].tolist() == python[0].tolist() and compiled[1].tolist() == python[1].tolist()


def test_unknown_runs_are_fused_and_ties_keep_the_first(kernel_mode: str) -> None:
    vocab = [*((token, 0.0) for token in SPECIAL), ("▁", -1.0), ("a", -1.0), ("b", -1.0), ("ab", -2.0), ("▁ab", -3.0)]
    text = unigram_json(vocab)
    lean = LeanUnigram.from_json(text, min_pieces=0)
    assert lean is not None
    texts = ["ab", "zzab", "azzb", "日本 ab", "<s>ab</s> zz<unk>", "", "   "]
    expected = rust_ids(Tokenizer.from_str(text), texts)
    assert lean.encode_ids(texts) == expected
    assert expected[2].count(3) == 1  # the case covers fusing: "zz" is one unknown token


# -- scores: read exactly as tokenizers reads them ------------------------------------------------

NUMBERS = st.builds(
    lambda sign, whole, fraction, exponent: sign + whole + fraction + exponent,
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,24}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,26}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"[eE][+-]?[0-9]{1,3}", fullmatch=True)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(numbers=st.lists(NUMBERS, min_size=1, max_size=40))
def test_scores_are_read_as_tokenizers_reads_them(kernel_mode: str, numbers: list[str]) -> None:
    vocab: list[tuple[str, float | str]] = [(f"p{i}", number) for i, number in enumerate(numbers)]
    text = unigram_json(vocab, unk_id=0, added=[])
    try:
        tokenizer = Tokenizer.from_str(text)
    except Exception:  # out of range for serde_json (e.g. 1e400): we must refuse it too
        with pytest.raises(ValueError):
            [serde_float(number) for number in numbers]
        return
    expected = [score for _, score in json.loads(tokenizer.to_str())["model"]["vocab"]]  # printed exactly (ryu)
    raw = text.encode()
    _, _, scores, _ = scan_vocab(raw, raw.index(b'"vocab": [') + len(b'"vocab": '))
    assert [score.hex() for score in scores.tolist()] == [score.hex() for score in expected]
    assert [serde_float(number).hex() for number in numbers] == [score.hex() for score in expected]


@pytest.mark.parametrize(
    "entry",
    ['["\\ud800", -1.0]', '["a\x01", -1.0]', '["a", 01]', '["a", 1.]', '["a", NaN]', '["a", -1.0', '["a"]'],
)
def test_vocabularies_tokenizers_refuses_are_refused(kernel_mode: str, entry: str) -> None:
    raw = ('{"vocab": [["<unk>", 0.0], ' + entry + "]}").encode()
    with pytest.raises(ValueError):
        scan_vocab(raw, raw.index(b"["))


# -- which tokenizers are covered ---------------------------------------------------------------

BASE = [*((token, 0.0) for token in SPECIAL), ("▁a", -1.0), ("a", -2.0), ("b", -2.5)]


@pytest.mark.parametrize(
    ("options", "covered"),
    [
        ({}, True),
        ({"byte_fallback": True}, False),
        ({"unk_id": None}, False),
        ({"added": [_added("<new>", 7)]}, False),
        ({"pre_tokenizer": {"type": "WhitespaceSplit"}}, False),
    ],
)
def test_which_tokenizers_are_covered(options: dict[str, Any], covered: bool) -> None:
    text = unigram_json(BASE, **options)
    assert (LeanUnigram.from_json(text, min_pieces=0) is not None) is covered


def test_small_repeated_and_switched_off_vocabularies_are_not_covered(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LeanUnigram.from_json(unigram_json(BASE)) is None  # below LEAN_MIN_PIECES
    assert LeanUnigram.from_json(unigram_json([*BASE, ("a", -3.0)]), min_pieces=0) is None
    assert LeanUnigram.from_json(json.dumps({"model": {"type": "WordPiece", "vocab": {}}}), min_pieces=0) is None
    monkeypatch.setenv("MODEL2VEC_LEAN_UNIGRAM", "0")
    assert LeanUnigram.from_json(unigram_json(BASE), min_pieces=0) is None


def test_added_tokens_keep_their_vocabulary_ids(kernel_mode: str) -> None:
    vocab = [*BASE, ("<mask>", 0.0)]
    added = [*(_added(token, i) for i, token in enumerate(SPECIAL)), _added("<mask>", 7, lstrip=True)]
    text = unigram_json(vocab, added=added)
    lean = LeanUnigram.from_json(text, min_pieces=0)
    assert lean is not None
    texts = ["a <mask> b", "<s>a</s>", "<unk><pad>ab <mask>", "a<mask>"]
    assert lean.encode_ids(texts) == rust_ids(Tokenizer.from_str(text), texts)
    assert lean.get_vocab_size() == Tokenizer.from_str(text).get_vocab_size()


# -- StaticModel: lean load, lazy Rust tokenizer, same results ----------------------------------


def _tiny_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    vocab = [*BASE, *((piece, float(-rng.uniform(1, 9))) for piece in ["▁b", "▁ab", "ba", "é", "▁日", "本", "▁é"])]
    tokenizer = Tokenizer.from_str(unigram_json(vocab))
    vectors = rng.normal(size=(len(vocab), 6)).astype(np.float32)
    folder = tmp_path / "model"
    StaticModel(vectors, tokenizer, normalize=True).save_pretrained(folder)
    return folder


TINY_TEXTS = ["a b ab", "日本 é ba", "<s> ab </s>", "zzz", "", "ab" * 40, "é" * 3 + " a"]


def lean_and_rust_models(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[StaticModel, StaticModel]:
    """Load the model in `folder` twice: lean (whatever its size), then with the Rust Unigram model."""
    monkeypatch.setattr(unigram, "LEAN_MIN_PIECES", 0)
    lean = StaticModel.from_pretrained(folder)
    monkeypatch.setenv("MODEL2VEC_LEAN_UNIGRAM", "0")
    rust = StaticModel.from_pretrained(folder)
    assert lean._lean is not None and rust._lean is None
    return lean, rust


def test_static_model_loads_lean_and_encodes_like_rust(
    kernel_mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lean, rust = lean_and_rust_models(_tiny_folder(tmp_path), monkeypatch)
    np.testing.assert_array_equal(lean.encode(TINY_TEXTS), rust.encode(TINY_TEXTS))
    np.testing.assert_array_equal(lean.encode(TINY_TEXTS, max_length=2), rust.encode(TINY_TEXTS, max_length=2))
    assert lean.tokenize(TINY_TEXTS) == rust.tokenize(TINY_TEXTS)
    chunks = list(lean.encode_iter(iter(TINY_TEXTS * 10), batch_size=4))
    np.testing.assert_array_equal(np.concatenate(chunks), rust.encode(TINY_TEXTS * 10))
    assert lean._tokenizer is None  # encoding never built the Rust tokenizer
    assert repr(lean) == repr(rust) and lean.median_token_length == rust.median_token_length
    assert lean.tokens == rust.tokens
    assert lean._tokenizer is None
    assert lean.tokenizer.to_str() == rust.tokenizer.to_str()  # built on first access
    assert lean.tokenizer is lean.tokenizer


def test_lean_model_saves_pickles_and_quantizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _tiny_folder(tmp_path)
    monkeypatch.setattr(unigram, "LEAN_MIN_PIECES", 0)
    lean = StaticModel.from_pretrained(folder)
    assert lean._lean is not None
    expected = lean.encode(TINY_TEXTS)
    copy = pickle.loads(pickle.dumps(lean))
    assert copy._lean is not None and copy._tokenizer is None
    np.testing.assert_array_equal(copy.encode(TINY_TEXTS), expected)
    quantized = quantize_model(lean, quantize_to="float16")
    assert quantized._lean is lean._lean
    monkeypatch.setenv("MODEL2VEC_LEAN_UNIGRAM", "0")
    rust = StaticModel.from_pretrained(folder)
    np.testing.assert_array_equal(
        quantized.encode(TINY_TEXTS), quantize_model(rust, quantize_to="float16").encode(TINY_TEXTS)
    )
    lean.save_pretrained(tmp_path / "lean")
    rust.save_pretrained(tmp_path / "rust")
    assert (tmp_path / "lean" / "tokenizer.json").read_bytes() == (tmp_path / "rust" / "tokenizer.json").read_bytes()


# -- the real XLM-R tokenizer --------------------------------------------------------------------


def _xlmr_path() -> Path:
    for path in XLMR_CANDIDATES:
        if path.is_file():
            return path
    pytest.skip("no XLM-R tokenizer.json (export the multilingual-e5-small teacher first)")


def _multilingual_sentences(count: int) -> list[str]:
    corpus = MULTILINGUAL / "corpus" / "corpus.tsv.gz"
    if not corpus.is_file():
        pytest.skip(f"multilingual corpus not found at {corpus}")
    texts: list[str] = []
    with gzip.open(corpus, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if number % 131 == 0:  # every language: the file is sorted by language
                texts.append(line.rstrip("\n").split("\t", 1)[1])
            if len(texts) >= count:
                break
    for path in sorted((MULTILINGUAL / "eval" / "bitext_mining").glob("*.jsonl"))[::4]:
        with path.open(encoding="utf-8") as rows:
            texts.extend(json.loads(row)["sentence1"] for _, row in zip(range(10), rows, strict=False))
    return texts


@pytest.fixture(scope="module")
def xlmr() -> tuple[bytes, Tokenizer]:
    path = _xlmr_path()
    return path.read_bytes(), Tokenizer.from_file(str(path))


def test_xlmr_lean_ids_equal_rust(xlmr: tuple[bytes, Tokenizer], kernel_mode: str) -> None:
    raw, rust = xlmr
    lean = LeanUnigram.from_json(raw)
    assert lean is not None
    texts = _multilingual_sentences(2000 if kernel_mode == "kernels" else 300)
    texts += ["<s>Hello</s> <mask> world", "  double  space\tand\u3000ideographic", "ﬁ ½ Ⅻ ㍻", "\u200dzero width"]
    assert len(texts) >= (2000 if kernel_mode == "kernels" else 300)
    assert lean.encode_ids(texts) == rust_ids(rust, texts)
    assert lean.get_vocab_size() == rust.get_vocab_size()


def test_xlmr_scores_are_those_of_tokenizers(xlmr: tuple[bytes, Tokenizer]) -> None:
    raw, rust = xlmr
    expected = np.array([score for _, score in json.loads(rust.to_str())["model"]["vocab"]], dtype=np.float64)
    start = raw.index(b'"vocab"')
    _, _, scores, _ = scan_vocab(raw, raw.index(b"[", start))
    assert np.array_equal(scores.view(np.int64), expected.view(np.int64))


def test_pruned_multilingual_model_encodes_like_rust(
    xlmr: tuple[bytes, Tokenizer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pruned XLM-R vocabulary (ids renumbered, pieces missing) loads lean and encodes like Rust."""
    from model2vec.pruning import prune_vocabulary

    rust_tokenizer = xlmr[1]
    size = rust_tokenizer.get_vocab_size()
    table = np.random.default_rng(0).normal(size=(size, 8)).astype(np.float32)
    full = StaticModel(table, rust_tokenizer)
    pruned = prune_vocabulary(full, np.arange(size) % 3 != 1)  # a third of the pieces gone
    pruned.save_pretrained(tmp_path / "pruned")
    texts = _multilingual_sentences(2000)
    lean = StaticModel.from_pretrained(tmp_path / "pruned")
    assert lean._lean is not None
    vectors = lean.encode(texts)
    assert lean._tokenizer is None
    monkeypatch.setenv("MODEL2VEC_LEAN_UNIGRAM", "0")
    rust = StaticModel.from_pretrained(tmp_path / "pruned")
    np.testing.assert_array_equal(vectors, rust.encode(texts))
