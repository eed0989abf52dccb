"""What a tokenizer does, read from it once.

Prepared copies, its JSON, vocabulary, unknown token, separators and the exactness conditions the word
cache relies on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tokenizers import Tokenizer


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


_SPACE_PRESERVING_NORMALIZERS = {"BertNormalizer", "Lowercase", "StripAccents", "NFD", "NFKD", "NFC", "NFKC", "Strip"}
# Pre-tokenizers that split at every ASCII space and drop it.
_SPACE_SPLITTING_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}
# Pre-tokenizers that only split further (never join across a split) and never keep spaces.
_FURTHER_SPLITTING_PRE_TOKENIZERS = {"Punctuation", "Digits"}


def splits_exactly_on_spaces(tokenizer: Tokenizer | None, spec: dict[str, Any] | None = None) -> bool:
    """Tell whether tokenising a text equals tokenising its `text.split(" ")` parts one by one.

    This holds when (a) every normalizer works per character and never removes or merges an ASCII
    space, (b) the pre-tokenizer splits at every ASCII space and drops it (so the model never sees a
    space and works on each space-free word alone), and (c) no added token contains a space (added
    tokens are matched before pre-tokenisation). BERT-style tokenizers (WordPiece with
    `BertNormalizer` + `BertPreTokenizer`) qualify; byte-level BPE and Metaspace ones do not, because
    they encode the space into the next token.

    :param tokenizer: The tokenizer (may be None when `spec` is given).
    :param spec: The tokenizer's parsed JSON, if already at hand.
    :return: True if the word-level cache in `TextTokenizer` is exact for this tokenizer.
    :raises ValueError: If both are None.
    """
    if spec is None:
        if tokenizer is None:
            raise ValueError("splits_exactly_on_spaces needs a tokenizer or its spec")
        spec = json.loads(tokenizer.to_str())
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
