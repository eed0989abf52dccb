"""Text -> token ids, with no padding, our own truncation, and unknown tokens dropped.

The tokenizer stored with a model may carry padding and truncation settings (from the teacher) that
must never leak into a static model's mean: padding would add `[PAD]` rows, and truncation would use
the teacher's limit rather than the caller's `max_length`. We therefore work on a private copy with both
disabled and apply `max_length` ourselves.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, filterfalse, pairwise, repeat
from typing import Any, Protocol

import numpy as np
from tokenizers import Tokenizer

from model2vec._compiled import kernels

# A text is cut to this many characters per allowed token before tokenising, so that a huge document
# costs no more than its first `max_length` tokens. WordPiece never makes a token from more than 100
# characters (longer words become one unknown token), so for WordPiece vocabularies the cut never
# changes the first `max_length` tokens.
CHARS_PER_TOKEN_BOUND = 100


@dataclass(frozen=True)
class TokenBatch:
    """Token ids for a batch of texts, stored flat.

    :param ids: All token ids, text after text (int64).
    :param offsets: `len(texts) + 1` boundaries; text `i` owns `ids[offsets[i]:offsets[i + 1]]`.
    """

    ids: np.ndarray
    offsets: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """Number of tokens of each text."""
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def as_lists(self) -> list[list[int]]:
        """Return the ids of each text as a Python list."""
        flat = self.ids.tolist()
        bounds = self.offsets.tolist()
        return [flat[start:end] for start, end in pairwise(bounds)]


@dataclass
class TokenJob:
    """A batch on its way through `TextTokenizer.begin` -> `encode_missing` -> `finish` (internal state).

    :param texts: The texts, already cut to the character bound.
    :param max_length: The token limit.
    """

    texts: list[str]
    max_length: int | None
    whole: set[int] = field(default_factory=set)  # texts to split in full (their first words were too few)
    cut: list[int] = field(default_factory=list)  # texts whose words were cut at `max_length`
    words_per_text: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    slots: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # -1: not cached
    absent: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # where slots are -1
    absent_words: list[str] = field(default_factory=list)  # the words at those positions
    missing: list[str] = field(default_factory=list)  # the distinct words not cached
    generation: int = 0  # the cache generation the slots belong to
    encoded: tuple[list[str], np.ndarray, np.ndarray] | None = None  # `_encode_words` of `missing`
    gathered: tuple[np.ndarray, np.ndarray] | None = None  # all ids and the ids per word, once complete
    id_lists: list[list[int]] = field(default_factory=list)  # whole-text path: ids of each text


def prepare_tokenizer(tokenizer: Tokenizer) -> Tokenizer:
    """Return a copy of `tokenizer` with padding and truncation disabled.

    :param tokenizer: Any `tokenizers.Tokenizer`; it is not modified.
    :return: An independent copy used for encoding.
    :raises TypeError: If `tokenizer` is not a `tokenizers.Tokenizer`.
    """
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a tokenizers.Tokenizer, got {type(tokenizer).__name__}.")
    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_padding()
    copy.no_truncation()
    return copy


# Must equal model.DEFAULT_MAX_LENGTH (checked by a test); kept here so tokenization does not import model.
SAVED_MAX_LENGTH = 512


def tokenizer_json(tokenizer: Tokenizer, settings: dict[str, object]) -> str:
    """Serialise a tokenizer with the given original `padding`/`truncation` settings restored.

    :param tokenizer: The tokenizer (typically prepared by `prepare_tokenizer`).
    :param settings: The original tokenizer's `padding` and `truncation` JSON entries. A missing
        truncation is written as `max_length` 512 (right, longest first), the length `encode` cuts at
        by default: sentence-transformers applies only the truncation stored in the file, so this keeps
        its vectors equal to ours on long texts (the reference library writes the same).
    :return: The `tokenizer.json` text.
    """
    spec = json.loads(tokenizer.to_str())
    spec.update(settings)
    if spec.get("truncation") is None:
        spec["truncation"] = {
            "direction": "Right",
            "max_length": SAVED_MAX_LENGTH,
            "strategy": "LongestFirst",
            "stride": 0,
        }
    return json.dumps(spec, ensure_ascii=False, indent=2)


def find_unk_token_id(tokenizer: Tokenizer, spec: dict[str, Any] | None = None) -> int | None:
    """Find the id of the unknown token of a tokenizer's model, if it has one.

    Handles WordPiece/BPE (`unk_token` string) and Unigram (`unk_id`).

    :param tokenizer: The tokenizer.
    :param spec: The tokenizer's parsed JSON, if already at hand (saves parsing it again).
    :return: The id, or None when the model has no unknown token (e.g. byte-level BPE).
    """
    model = (spec if spec is not None else json.loads(tokenizer.to_str())).get("model", {})
    unk_id = model.get("unk_id")
    if isinstance(unk_id, int):
        return unk_id
    unk_token = model.get("unk_token")
    if isinstance(unk_token, str):
        return tokenizer.token_to_id(unk_token)
    return None


def ordered_vocabulary(tokenizer: Tokenizer) -> list[str]:
    """Return the tokenizer's vocabulary (added tokens included) ordered by id.

    :param tokenizer: The tokenizer.
    :return: A list whose position `i` holds the token with id `i` (empty string for holes).
    """
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    tokens = [""] * (max(vocab.values(), default=-1) + 1)
    for token, index in vocab.items():
        tokens[index] = token
    return tokens


def median_token_length(tokens: Sequence[str]) -> int:
    """Median number of characters of the tokens (0 for an empty vocabulary)."""
    if not tokens:
        return 0
    return int(np.median([len(token) for token in tokens]))


def validate_texts(sentences: Sequence[str]) -> list[str]:
    """Check that every item is a `str`.

    :param sentences: The texts.
    :return: The texts as a list.
    :raises TypeError: Naming the index and type of the first item that is not a `str`.
    """
    texts = list(sentences)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"Item {index} of the input is {type(text).__name__}, expected str.")
    return texts


def check_max_length(max_length: object) -> None:
    """Check a `max_length` argument.

    :param max_length: The value to check.
    :raises ValueError: If it is neither None nor a positive int.
    """
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"max_length must be a positive int or None, got {max_length!r}.")


def _replace_surrogates(text: str) -> str:
    """Join surrogate pairs into their character and replace unpaired surrogates with U+FFFD."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _encode_ids(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text without special tokens, tolerating lone surrogates."""
    try:
        encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    except TypeError:
        # Lone surrogates (e.g. from broken decoding) cannot be passed to the Rust tokenizer; each becomes
        # U+FFFD. Valid texts are unchanged by this, so results never depend on the rest of the batch.
        encodings = tokenizer.encode_batch_fast([_replace_surrogates(t) for t in texts], add_special_tokens=False)
    return [encoding.ids for encoding in encodings]


@dataclass(frozen=True)
class Separator:
    """A special token used to join words for tokenisation, and its id."""

    text: str
    token_id: int


# Rare punctuation tried as separators first: pre-tokenizers split punctuation off, so joining with one
# costs the Rust tokenizer much less than an added token does (measured about 20% on real words).
_PUNCTUATION_SEPARATORS = ("|", "~", "^", "`")


def find_separator(tokenizer: Tokenizer, spec: dict[str, Any] | None = None) -> Separator | None:
    """Find a text that splits tokenisation exactly: `a S b` -> ids(a) + [S's id] + ids(b).

    Rare punctuation that is its own (known) token is tried first; otherwise a special added token,
    which is cut out of the raw text before normalisation. Joining words with a separator lets one
    tokenizer call return every word's ids, split at the separator's id. A word that could itself
    produce that id is handled by the caller (see `_encode_words`).

    :param tokenizer: A prepared tokenizer (no padding/truncation).
    :param spec: The tokenizer's parsed JSON, if already at hand.
    :return: The separator, or None if no candidate behaves so.
    """
    probe = "a1 b"
    expected = tokenizer.encode(probe, add_special_tokens=False).ids
    spec = spec if spec is not None else json.loads(tokenizer.to_str())
    unk = find_unk_token_id(tokenizer, spec)
    for text in _PUNCTUATION_SEPARATORS:
        alone = tokenizer.encode(text, add_special_tokens=False).ids
        if len(alone) != 1 or alone[0] == unk or alone[0] in expected:
            continue
        if tokenizer.encode(f"{probe} {text} {probe}", add_special_tokens=False).ids == [*expected, *alone, *expected]:
            return Separator(text, alone[0])
    for token in spec.get("added_tokens", []):
        content = token.get("content", "")
        if not token.get("special") or not content or " " in content:
            continue
        ids = tokenizer.encode(f"{probe} {content} {probe}", add_special_tokens=False).ids
        if ids == [*expected, token["id"], *expected]:
            return Separator(content, int(token["id"]))
    return None


def _flatten(node: object, key: str) -> list[dict[str, Any]]:
    """List the components of a normaliser or pre-tokenizer JSON node, expanding `Sequence`s.

    A malformed node becomes `{"type": "?"}`, which no check accepts.
    """
    if node is None:
        return []
    if not isinstance(node, dict):
        return [{"type": "?"}]
    if node.get("type") == "Sequence":
        children = node.get(key)
        if not isinstance(children, list):
            return [{"type": "?"}]
        return [part for child in children for part in _flatten(child, key)]
    return [node]


@dataclass(frozen=True)
class Shortcut:
    """A second tokenizer without the normaliser, for words whose normalised form is known in Python.

    For a printable ASCII word, the normalisers accepted by `find_shortcut` only lowercase (or do
    nothing), so tokenising `word.lower()` without a normaliser gives the same ids, and skips the
    normaliser's per-character work in Rust (about a third of the tokenizer's time on English words).

    :param tokenizer: Shares the original's model and pre-tokenizer; has no normaliser.
    :param lowercase: Whether the original normaliser lowercases.
    :param guarded: Added tokens matched before normalisation; a text containing one (raw or
        lowercased) is matched differently, so it goes through the original tokenizer.
    """

    tokenizer: Tokenizer = field(repr=False)
    lowercase: bool
    guarded: tuple[str, ...]

    def prepare(self, text: str) -> str | None:
        """Return what the twin should tokenise for printable ASCII `text`, or None if it must not.

        :param text: Words joined by the separator, all printable ASCII.
        :return: The text as the original normaliser would leave it, or None when it contains a guarded
            added token (raw or lowercased).
        """
        lowered = text.lower() if self.lowercase or self.guarded else text
        if any(token in text or token in lowered for token in self.guarded):
            return None
        return lowered if self.lowercase else text


# Normalisers whose only effect on printable ASCII is lowercasing (or nothing).
_ASCII_LOWERCASING_NORMALIZERS = {"BertNormalizer", "Lowercase", "NFD", "NFKD", "NFC", "NFKC", "StripAccents"}


def find_shortcut(tokenizer: Tokenizer, spec: dict[str, Any], separator: Separator | None) -> Shortcut | None:
    """Build the normaliser-free twin of `tokenizer` used for printable ASCII words, if it is exact.

    Requires a normaliser made only of `_ASCII_LOWERCASING_NORMALIZERS`, a separator that is not an
    added token (its text passes through the shortcut unchanged), and added tokens that keep their ids
    in the twin. The twin shares the model, so it costs little memory.

    :param tokenizer: A prepared tokenizer for which the word cache is exact.
    :param spec: Its parsed JSON.
    :param separator: The separator words are joined with.
    :return: The shortcut, or None when any condition fails (words then take the normal path).
    """
    nodes = _flatten(spec.get("normalizer"), "normalizers")
    if separator is None or not nodes or any(node.get("type") not in _ASCII_LOWERCASING_NORMALIZERS for node in nodes):
        return None
    added = tokenizer.get_added_tokens_decoder()
    if any(token.content == separator.text for token in added.values()):
        return None
    lowercase = any(
        node.get("type") == "Lowercase" or (node.get("type") == "BertNormalizer" and node.get("lowercase", True))
        for node in nodes
    )
    twin = Tokenizer(tokenizer.model)
    twin.pre_tokenizer = tokenizer.pre_tokenizer
    for token_id in sorted(added):
        token = added[token_id]
        (twin.add_special_tokens if token.special else twin.add_tokens)([token])
    if twin.get_vocab_size() != tokenizer.get_vocab_size() or any(
        twin.token_to_id(token.content) != token_id for token_id, token in added.items()
    ):
        return None
    guarded = tuple(token.content for token in added.values() if not token.normalized)
    return Shortcut(twin, lowercase, guarded)


def _encode_words(
    tokenizer: Tokenizer,
    words: list[str],
    separator: Separator | None,
    shortcut: Shortcut | None = None,
    group_size: int = 512,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Token ids of many space-free words, tokenised a few long texts at a time.

    One call per word costs microseconds of per-encoding overhead; instead the words are joined and
    tokenised together. With a `separator` the ids are cut at its positions; without one the words
    are joined with spaces and each token is assigned to its word by its character offset. Both are
    exact for tokenizers where `splits_exactly_on_spaces` holds (no token spans a space). Words that
    contain the separator's text go the offset way. With a `shortcut`, printable ASCII words are
    tokenised by it (see `Shortcut`).

    :return: The words in the order used (possibly reordered), all their ids word after word
        (int32), and the number of ids of each word.
    """
    if separator is not None:
        plain = [word for word in words if separator.text not in word]
        tricky = [word for word in words if separator.text in word] if len(plain) < len(words) else []
    else:
        plain, tricky = [], list(words)
    ids_parts: list[np.ndarray] = []
    length_parts: list[np.ndarray] = []
    ordered: list[str] = []
    if plain and separator is not None:
        joiner = f" {separator.text} "
        routes: list[tuple[Tokenizer, list[list[str]], list[str]]] = []
        if shortcut is not None:
            # Printable ASCII words take the shortcut; C-level filters keep the split cheap per word.
            easy = list(filter(str.isascii, plain))
            plain = list(filterfalse(str.isascii, plain)) if len(easy) < len(plain) else []
            if not "".join(easy).isprintable():
                plain.extend(filterfalse(str.isprintable, easy))
                easy = list(filter(str.isprintable, easy))
            groups, texts = [], []
            for group in _groups(easy, group_size):
                text = joiner.join(group)
                prepared = shortcut.prepare(text)
                if prepared is not None:
                    groups.append(group)
                    texts.append(prepared)
                else:
                    plain.extend(group)
            if groups:
                routes.append((shortcut.tokenizer, groups, texts))
        if plain:
            groups = _groups(plain, group_size)
            routes.append((tokenizer, groups, [joiner.join(group) for group in groups]))
        for route, groups, texts in routes:
            try:
                encodings = route.encode_batch_fast(texts, add_special_tokens=False)
            except TypeError:
                # Lone surrogates (from broken decoding) cannot reach the Rust tokenizer; see `_encode_ids`.
                encodings = route.encode_batch_fast(list(map(_replace_surrogates, texts)), add_special_tokens=False)
            for group, encoding in zip(groups, encodings, strict=True):
                ids = np.asarray(encoding.ids, dtype=np.int32)
                cuts = np.flatnonzero(ids == separator.token_id)
                if len(cuts) != len(group) - 1:
                    # A word produced the separator's id itself; this group takes the offset way.
                    tricky.extend(group)
                    continue
                bounds = np.concatenate(([-1], cuts, [len(ids)]))
                length_parts.append(np.diff(bounds) - 1)
                ids_parts.append(np.delete(ids, cuts))
                ordered.extend(group)
    if tricky:
        groups = _groups(tricky, group_size)
        sent = groups
        try:
            encodings = tokenizer.encode_batch([" ".join(group) for group in sent], add_special_tokens=False)
        except TypeError:
            sent = [[_replace_surrogates(word) for word in group] for group in groups]
            encodings = tokenizer.encode_batch([" ".join(group) for group in sent], add_special_tokens=False)
        for group, used, encoding in zip(groups, sent, encodings, strict=True):
            word_sizes = np.fromiter(map(len, used), dtype=np.int64, count=len(used))
            word_starts = np.cumsum(word_sizes + 1) - (word_sizes + 1)
            token_starts = np.fromiter((start for start, _ in encoding.offsets), dtype=np.int64, count=len(encoding))
            owner = np.searchsorted(word_starts, token_starts, side="right") - 1
            length_parts.append(np.bincount(owner, minlength=len(group)))
            ids_parts.append(np.asarray(encoding.ids, dtype=np.int32))
            ordered.extend(group)
    lengths = np.concatenate(length_parts).astype(np.int64) if length_parts else np.zeros(0, dtype=np.int64)
    flat = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=np.int32)
    return ordered, flat, lengths


def _groups(words: list[str], group_size: int) -> list[list[str]]:
    """Split words into groups of at most `group_size`, at least one per core when there are enough.

    Several groups let the Rust tokenizer's own thread pool use every core for one call. Groups are
    kept small because each of the tokenizer's threads keeps the high-water mark of its allocations:
    512 words a group measured 5 MB less peak memory than 4096, at the same speed.
    """
    size = max(256, min(group_size, -(-len(words) // (os.cpu_count() or 1))))
    return [words[begin : begin + size] for begin in range(0, len(words), size)]


# Normalizers that act on characters and never remove or merge an ASCII space.
_SPACE_PRESERVING_NORMALIZERS = {"BertNormalizer", "Lowercase", "StripAccents", "NFD", "NFKD", "NFC", "NFKC", "Strip"}
# Pre-tokenizers that split at every ASCII space and drop it.
_SPACE_SPLITTING_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}
# Pre-tokenizers that only split further (never join across a split) and never keep spaces.
_FURTHER_SPLITTING_PRE_TOKENIZERS = {"Punctuation", "Digits"}


def splits_exactly_on_spaces(tokenizer: Tokenizer, spec: dict[str, Any] | None = None) -> bool:
    """Tell whether tokenising a text equals tokenising its `text.split(" ")` parts one by one.

    This holds when (a) every normalizer works per character and never removes or merges an ASCII
    space, (b) the pre-tokenizer splits at every ASCII space and drops it (so the model never sees a
    space and works on each space-free word alone), and (c) no added token contains a space (added
    tokens are matched before pre-tokenisation). BERT-style tokenizers (WordPiece with
    `BertNormalizer` + `BertPreTokenizer`) qualify; byte-level BPE and Metaspace ones do not, because
    they encode the space into the next token.

    :param tokenizer: The tokenizer.
    :param spec: The tokenizer's parsed JSON, if already at hand.
    :return: True if the word-level cache in `TextTokenizer` is exact for this tokenizer.
    """
    spec = spec if spec is not None else json.loads(tokenizer.to_str())
    normalizers = [str(node.get("type")) for node in _flatten(spec.get("normalizer"), "normalizers")]
    pre_tokenizers = [str(node.get("type")) for node in _flatten(spec.get("pre_tokenizer"), "pretokenizers")]
    if any(name not in _SPACE_PRESERVING_NORMALIZERS for name in normalizers):
        return False
    if not any(name in _SPACE_SPLITTING_PRE_TOKENIZERS for name in pre_tokenizers):
        return False
    allowed = _SPACE_SPLITTING_PRE_TOKENIZERS | _FURTHER_SPLITTING_PRE_TOKENIZERS
    if any(name not in allowed for name in pre_tokenizers):
        return False
    return not any(" " in str(token.get("content", "")) for token in spec.get("added_tokens", []))


def _cut_texts(texts: list[str], max_length: int | None) -> list[str]:
    """Cut each text to `max_length * CHARS_PER_TOKEN_BOUND` characters (see that constant)."""
    if max_length is None:
        return texts
    limit = max_length * CHARS_PER_TOKEN_BOUND
    return [text[:limit] if len(text) > limit else text for text in texts]


class WordIndex(Protocol):
    """Str keys numbered 0, 1, 2, ... in insertion order: the word cache's index.

    `model2vec._kernels.StrIndex` when the kernels are built (about half a dict's memory per word,
    faster look-ups), else `DictIndex`; both behave the same (`tests/test_word_index.py`).
    """

    def __len__(self) -> int:
        """Return the number of keys."""

    def look_up(self, words: list[str], out: np.ndarray) -> int:
        """Write each word's number (or -1 when absent) into the int64 `out`; return how many were absent."""

    def split_look_up(
        self, texts: list[str], limits: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
        """Split texts at every " " (like `text.split(" ")`) and look each word up (see `split_look_up`)."""

    def add(self, words: list[str]) -> None:
        """Add new words, numbered from `len(self)` on; if one is present, raise ValueError, changing nothing."""

    def truncate(self, count: int) -> None:
        """Keep only the first `count` keys."""

    def clear(self) -> None:
        """Remove every key."""


def split_look_up(
    index: WordIndex, texts: list[str], limits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
    """Split each text into its space-separated words and look every word up in `index`.

    Words are the parts of `text.split(" ")` (empty words included), text after text. `limits[i] >= 1`
    keeps only the first `limits[i]` words of text `i`, and a text that has more is reported as cut;
    -1 keeps every word. The compiled index does this without building a list of all the words.

    :param index: The index.
    :param texts: The texts (str).
    :param limits: One int per text.
    :return: Each word's number (-1 when absent, int64), the number of words of each text (int64),
        the indices of the cut texts and the absent words, in order.
    """
    numbers, counts, cut, absent = index.split_look_up(texts, np.ascontiguousarray(limits, dtype=np.int64))
    return np.frombuffer(numbers, dtype=np.int64), np.frombuffer(counts, dtype=np.int64), cut, absent


class DictIndex:
    """The pure-Python `WordIndex`: a dict {word: number} and the words in order (for `truncate`)."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._words: list[str] = []

    def __len__(self) -> int:
        """Return the number of keys."""
        return len(self._words)

    def look_up(self, words: list[str], out: np.ndarray) -> int:
        """Write each word's number (or -1 when absent) into the int64 `out`; return how many were absent."""
        if len(out) != len(words):
            raise ValueError("out must have one entry per word")
        out[:] = np.fromiter(map(self._numbers.get, words, repeat(-1)), dtype=np.int64, count=len(words))
        return int(np.count_nonzero(out < 0))

    def split_look_up(
        self, texts: list[str], limits: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
        """Split texts at every " " (like `text.split(" ")`) and look each word up (see `split_look_up`)."""
        if len(limits) != len(texts):
            raise ValueError("limits must have one entry per text")
        parts = []
        cut = []
        for i, (text, limit) in enumerate(zip(texts, limits.tolist(), strict=True)):
            if limit < 0:
                parts.append(text.split(" "))
                continue
            words = text.split(" ", limit)
            if len(words) > limit:
                words.pop()  # the unsplit remainder of the text
                cut.append(i)
            parts.append(words)
        words = list(chain.from_iterable(parts))
        numbers = np.empty(len(words), dtype=np.int64)
        self.look_up(words, numbers)
        counts = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        return numbers, counts, cut, [words[i] for i in np.flatnonzero(numbers < 0).tolist()]

    def add(self, words: list[str]) -> None:
        """Add new words, numbered from `len(self)` on; if one is present, raise ValueError, changing nothing."""
        if any(map(self._numbers.__contains__, words)) or len(set(words)) != len(words):
            raise ValueError("word already in the index")
        self._numbers.update(zip(words, range(len(self._words), len(self._words) + len(words)), strict=True))
        self._words.extend(words)

    def truncate(self, count: int) -> None:
        """Keep only the first `count` keys."""
        for word in self._words[count:]:
            del self._numbers[word]
        del self._words[count:]

    def clear(self) -> None:
        """Remove every key."""
        self._numbers.clear()
        self._words.clear()


def new_word_index() -> WordIndex:
    """Return an empty `WordIndex`: the compiled one when the kernels are built."""
    return kernels.StrIndex() if kernels is not None else DictIndex()


def _slots(index: WordIndex, words: list[str]) -> np.ndarray:
    """Look each word up in `index`: its number, or -1 when absent, as int64."""
    slots = np.empty(len(words), dtype=np.int64)
    index.look_up(words, slots)
    return slots


# Words remembered by default. Measured on 100k real sentences (185k distinct words; cold cache, median of
# 3): 30k words 79k texts/s in one thread, 100k words 86k/s, 200k words 93k/s; peak memory grows by
# about 1.4 MB per 10k words with the compiled index (2.6 MB with a dict). 100k keeps peak memory
# clearly below the reference library's. Without the kernels a dict holds the words, at about twice the
# memory per word, so the cache is kept at 30k words there (measured: 100k would peak above the reference).
DEFAULT_CACHE_SIZE = 100_000 if kernels is not None else 30_000


class TextTokenizer:
    """Turns batches of texts into `TokenBatch`es, caching the ids of words when that is exact.

    For tokenizers where `splits_exactly_on_spaces` holds, a text's ids are the concatenation of the
    ids of its space-separated parts, so each distinct part is tokenised once and remembered. Frequent
    words make most lookups hits, which is much faster than tokenising every text. Other tokenizers
    tokenise whole texts. Both paths give identical ids. Calling the object tokenises a batch at once;
    `begin`, `encode_missing` and `finish` do the same in three steps so that the Rust work of one
    batch can overlap other work (see `StaticModel._results`).

    :param tokenizer: A tokenizer prepared by `prepare_tokenizer` (no padding, no truncation).
    :param unk_token_id: The unknown token's id (dropped from results), or None.
    :param cache_size: Most words remembered (also at most `64 * cache_size` characters of words and
        ids: a memory bound). When full, new words are tokenised but not remembered; after
        `16 * cache_size` such words the cache is emptied so it can follow a change of vocabulary.
    :param spec: The tokenizer's parsed JSON, if already at hand.

    The cache is safe to share between threads: new words are tokenised outside the lock (the Rust
    tokenizer releases the GIL), everything read from the cache is read under the lock, and a job
    whose slots were invalidated by an emptying meanwhile is looked up again.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        unk_token_id: int | None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        spec: dict[str, Any] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.unk_token_id = unk_token_id
        self.cache_size = cache_size
        spec = spec if spec is not None else json.loads(tokenizer.to_str())
        self.use_word_cache = splits_exactly_on_spaces(tokenizer, spec)
        self.separator = find_separator(tokenizer, spec) if self.use_word_cache else None
        self.shortcut = find_shortcut(tokenizer, spec, self.separator) if self.use_word_cache else None
        self._new_cache()

    def _new_cache(self) -> None:
        """Start with an empty cache (and a new lock)."""
        # The cache: word -> slot (its number in the index); slot i's ids: pool[starts[i] : starts[i] + lengths[i]].
        self._index = new_word_index()
        self._pool = np.zeros(1 << 16, dtype=np.int32)
        self._pool_used = 0
        self._key_chars = 0
        self._starts = np.zeros(1 << 12, dtype=np.int64)
        self._lengths = np.zeros(1 << 12, dtype=np.int64)
        self._overflow = 0  # words turned away since the cache was last emptied
        self._generation = 0  # counts emptyings, so a thread can tell its slots went stale
        self._lock = threading.Lock()

    # Pickled without the cache (a lock and a compiled index cannot be pickled, and a copy sent to a
    # worker process is better off small): an unpickled copy starts with an empty cache.
    _CACHE_FIELDS = ("_index", "_pool", "_pool_used", "_key_chars", "_starts", "_lengths", "_overflow", "_generation")

    def __getstate__(self) -> dict[str, Any]:
        """Return the state to pickle: everything but the cache and its lock."""
        return {key: value for key, value in self.__dict__.items() if key not in (*self._CACHE_FIELDS, "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled tokenizer, with an empty cache."""
        self.__dict__.update(state)
        self._new_cache()

    def _clear(self) -> None:
        self._index.clear()
        self._pool_used = 0
        self._key_chars = 0
        self._overflow = 0
        self._generation += 1

    def _insert(self, words: list[str], flat: np.ndarray, lengths: np.ndarray) -> list[str]:
        """Append tokenised words to the cache (call with the lock held); words present already are skipped.

        :return: The words actually added, in slot order.
        """
        keep = _slots(self._index, words) < 0
        if not keep.all():
            flat = flat[np.repeat(keep, lengths)]
            lengths = lengths[keep]
            words = [word for word, kept in zip(words, keep.tolist(), strict=True) if kept]
        total = int(lengths.sum())
        first = len(self._index)
        needed = first + len(words)
        if needed > len(self._starts):
            size = max(needed, 2 * len(self._starts))
            self._starts = np.resize(self._starts, size)
            self._lengths = np.resize(self._lengths, size)
        if self._pool_used + total > len(self._pool):
            self._pool = np.resize(self._pool, max(self._pool_used + total, 2 * len(self._pool)))
        self._pool[self._pool_used : self._pool_used + total] = flat
        self._starts[first:needed] = self._pool_used + np.cumsum(lengths) - lengths
        self._lengths[first:needed] = lengths
        self._pool_used += total
        self._key_chars += sum(map(len, words))
        self._index.add(words)
        return words

    def _trim(self, added: list[str]) -> None:
        """Drop the newest of `added` (the last words inserted) until the cache is within its bounds.

        The cache keeps the words it saw first instead of being emptied when full: in text, frequent
        words come early, so they stay cached and only rare words are tokenised again. When many words
        have been turned away the text may have changed domain, so the cache is emptied and refills.
        """
        limit = 64 * self.cache_size
        if not added or (len(self._index) <= self.cache_size and self._pool_used <= limit and self._key_chars <= limit):
            return
        first = len(self._index) - len(added)
        ends = self._starts[first : len(self._index)] + self._lengths[first : len(self._index)]
        chars = self._key_chars - sum(map(len, added)) + np.cumsum(np.fromiter(map(len, added), np.int64, len(added)))
        fits = (ends <= limit) & (chars <= limit)
        fits[max(0, self.cache_size - first) :] = False
        kept = int(np.argmin(fits)) if not fits.all() else len(added)  # entries are added in order
        self._index.truncate(first + kept)
        self._pool_used = int(ends[kept - 1]) if kept else int(self._starts[first])
        self._key_chars = int(chars[kept - 1]) if kept else int(chars[0]) - len(added[0])
        self._overflow += len(added) - kept
        if self._overflow > 16 * self.cache_size:
            self._clear()

    def _gather(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All cached ids of the words in `slots` (call with the lock held), and the number per word."""
        starts = self._starts[slots]
        lengths = self._lengths[slots]
        total = int(lengths.sum())
        positions = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
        # Gathered under the lock: another thread may empty and refill the pool afterwards.
        return self._pool[positions].astype(np.int64), lengths

    def begin(self, texts: Sequence[str], max_length: int | None) -> TokenJob:
        """First step of tokenising a batch: everything that needs the cache or the GIL, before the Rust work.

        `begin`, then `encode_missing` (which releases the GIL and may run in another thread), then
        `finish` give the same result as calling the tokenizer; splitting them lets a caller tokenise
        one batch while it pools another. Jobs may be begun before earlier ones are finished. A job
        keeps only the cache slots of its words and the words still missing, not all its words.

        :param texts: The texts (already validated as `str`).
        :param max_length: Maximum tokens per text, or None for no limit.
        :return: The job to pass on.
        :raises ValueError: If `max_length` is not a positive integer or None.
        """
        check_max_length(max_length)
        job = TokenJob(_cut_texts(list(texts), max_length), max_length)
        if self.use_word_cache:
            self._look_up(job)
        return job

    def _look_up(self, job: TokenJob) -> None:
        """Split the job's texts into words, find each word's cache slot and list the missing ones.

        Words are the parts of `text.split(" ")`, text after text; this sets `words_per_text` and
        `cut`. With `max_length`, only the first `max_length` words of a text are taken, since they
        usually give at least `max_length` tokens; `finish` redoes the rare text whose first words give
        fewer (empty words from double spaces, words that normalise to nothing) with all its words.
        """
        limit = -1 if job.max_length is None else job.max_length
        limits = np.full(len(job.texts), limit, dtype=np.int64)
        limits[list(job.whole)] = -1
        with self._lock:
            # One pass: the slot of every cached word, -1 for the others.
            slots, job.words_per_text, job.cut, job.absent_words = split_look_up(self._index, job.texts, limits)
            absent = np.flatnonzero(slots < 0)
            job.slots, job.absent, job.generation, job.encoded = slots, absent, self._generation, None
            # Gathered under the lock: another thread may empty and refill the pool afterwards.
            job.gathered = None if len(absent) else self._gather(slots)
        # In order of first appearance, so a full cache keeps a batch's earliest words.
        job.missing = list(dict.fromkeys(job.absent_words))

    def encode_missing(self, job: TokenJob) -> None:
        """Run the Rust tokenizer on what `job` still needs (releases the GIL; safe in another thread).

        :param job: A job from `begin`.
        """
        if not self.use_word_cache:
            job.id_lists = _encode_ids(self.tokenizer, job.texts)
        elif job.missing:
            job.encoded = _encode_words(self.tokenizer, job.missing, self.separator, self.shortcut)

    def finish(self, job: TokenJob, drop_unknown: bool = True) -> TokenBatch:
        """Last step: store new words in the cache and assemble the batch (see `__call__`).

        :param job: A job from `begin` that went through `encode_missing`.
        :param drop_unknown: Whether to drop the unknown token.
        :return: The batch.
        """
        max_length = job.max_length
        if not self.use_word_cache:
            id_lists = job.id_lists
            lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
            flat = np.fromiter(chain.from_iterable(id_lists), dtype=np.int64, count=int(lengths.sum()))
            return self._truncate(flat, lengths, max_length, drop_unknown)
        while True:
            flat, word_lengths = self._word_ids(job)
            # Every text has at least one word (split always returns one), so reduceat's offsets ascend.
            word_offsets = np.cumsum(job.words_per_text) - job.words_per_text
            lengths = np.add.reduceat(word_lengths, word_offsets) if len(job.texts) else np.zeros(0, np.int64)
            redo = [i for i in job.cut if lengths[i] < max_length] if max_length is not None else []
            if not redo:
                return self._truncate(flat, lengths, max_length, drop_unknown)
            job.whole.update(redo)
            self._look_up(job)
            self.encode_missing(job)

    def _word_ids(self, job: TokenJob) -> tuple[np.ndarray, np.ndarray]:
        """All ids of the job's words, concatenated, and the number of ids of each word.

        New words are added to the cache first. If the cache was emptied since the job's look-up (by
        another thread), its slots are stale and the words are looked up and tokenised again.
        """
        while job.gathered is None:
            with self._lock:
                if job.generation == self._generation:
                    added = self._insert(*job.encoded) if job.encoded is not None else []
                    found = _slots(self._index, job.absent_words)
                    if len(found) and found.min() < 0:  # every absent word was just inserted
                        raise RuntimeError("word cache lost a word it had just stored")
                    job.slots[job.absent] = found
                    job.gathered = self._gather(job.slots)
                    self._trim(added)
                    break
            self._look_up(job)
            self.encode_missing(job)
        return job.gathered

    def _truncate(
        self, flat: np.ndarray, lengths: np.ndarray, max_length: int | None, drop_unknown: bool
    ) -> TokenBatch:
        """Keep each text's first `max_length` ids, then drop unknown ones; build the batch."""
        keep: np.ndarray | None = None
        if max_length is not None and len(lengths) and int(lengths.max()) > max_length:
            starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
            keep = (np.arange(len(flat)) - starts) < max_length
        if drop_unknown and self.unk_token_id is not None and len(flat):
            known = flat != self.unk_token_id
            keep = known if keep is None else keep & known
        if keep is not None and not keep.all():
            owner = np.repeat(np.arange(len(lengths)), lengths)
            lengths = np.bincount(owner[keep], minlength=len(lengths)).astype(np.int64)
            flat = flat[keep]
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return TokenBatch(ids=flat, offsets=offsets)

    def __call__(self, texts: Sequence[str], max_length: int | None, drop_unknown: bool = True) -> TokenBatch:
        """Tokenise texts into flat ids and offsets.

        Each text keeps its first `max_length` tokens (no special tokens are added); unknown tokens are
        removed after truncation, so they count towards the limit like any other token.

        :param texts: The texts (already validated as `str`).
        :param max_length: Maximum tokens per text, or None for no limit.
        :param drop_unknown: Whether to drop the unknown token.
        :return: The batch.
        :raises ValueError: If `max_length` is not a positive integer or None.
        """
        job = self.begin(texts, max_length)
        self.encode_missing(job)
        return self.finish(job, drop_unknown)


def tokenize_batch(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    max_length: int | None,
    unk_token_id: int | None,
    drop_unknown: bool = True,
) -> TokenBatch:
    """Tokenise whole texts (no word cache) into flat ids and offsets; see `TextTokenizer.__call__`.

    :param tokenizer: A tokenizer prepared by `prepare_tokenizer`.
    :param texts: The texts (already validated as `str`).
    :param max_length: Maximum tokens per text, or None for no limit.
    :param unk_token_id: The id to drop, or None.
    :param drop_unknown: Whether to drop `unk_token_id`.
    :return: The batch.
    :raises ValueError: If `max_length` is not a positive integer or None.
    """
    # An empty spec: the word cache is off here, so the tokenizer's JSON need not be parsed per call.
    plain = TextTokenizer(tokenizer, unk_token_id, spec={})
    plain.use_word_cache = False
    return plain(texts, max_length, drop_unknown)
