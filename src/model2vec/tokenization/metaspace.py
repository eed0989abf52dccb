"""When a Metaspace tokenizer's pipeline is a split at spaces: the texts its normaliser leaves alone.

XLM-R's tokenizer (SentencePiece's `nmt_nfkc` as a `Precompiled` charsmap, `Replace` rules, then the
`Metaspace` pre-tokenizer) normalises every text, so the lean Unigram path used to run `tokenizers` on
every text just to get the pre-tokens back. For a text in which no character can be changed by the
normaliser, the whole pipeline reduces to: collapse runs of spaces, then one pre-token `▁word` per
space-separated word, and a pre-token `▁` when the text ends with a space. `find_metaspace_split` reads
which characters may be changed (the *unsafe* ones) from the tokenizer's JSON; `split_pre_tokens` gives
the pre-tokens of the texts that hold none of them (`UnigramVocab.segment_texts` does the same in C).

Why a character set is enough for the `Precompiled` normaliser (`tokenizers`' precompiled.rs): it
walks the text by grapheme clusters; a cluster shorter than 6 UTF-8 bytes is first looked up whole (the
first charsmap key that is a prefix of it replaces the whole cluster), and otherwise, or when no key is
a prefix, each character is looked up alone. So a text is left unchanged when (a) no character is a key
itself and (b) no key of two or more characters shorter than 6 bytes occurs in it. Marking every
single-character key unsafe gives (a); marking every character after the first of each short
multi-character key gives (b), since such a key can only occur where its later characters do. Longer
keys can never match (a cluster holding one has 6 bytes or more), so Bengali, Tamil or Hangul letters
that only occur in long keys stay usable. Added tokens are excluded through their first characters.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# `tokenizers` looks a grapheme cluster up whole in the charsmap only below this many UTF-8 bytes.
WHOLE_CLUSTER_BYTES = 6
_CODE_POINTS = 0x110000
_SURROGATES = range(0xD800, 0xE000)
# Replace rules understood here: one collapsing runs of spaces, and classes of single characters.
_COLLAPSE = " {2,}"
_CLASS = re.compile(r"\[((?:\\x\{[0-9a-fA-F]{1,6}\}|[^\\\[\]^-])+)\]\Z")
_CLASS_ITEM = re.compile(r"\\x\{([0-9a-fA-F]{1,6})\}|(.)", re.DOTALL)


@dataclass(frozen=True)
class MetaspaceSplit:
    """What a Metaspace tokenizer needs to be split at spaces: its marker and the characters to avoid.

    A text without any `unsafe` character (ASCII space is never one) has the pre-tokens
    `split_pre_tokens` gives, exactly those of `tokenizers`.

    :param replacement: The Metaspace marker (`▁`) put before every word.
    :param unsafe: The characters a covered text must not hold (surrogates included).
    """

    replacement: str
    unsafe: frozenset[str] = field(repr=False)
    bitmap: bytes = field(init=False, repr=False)  # bit c % 8 of byte c // 8: code point c is unsafe

    def __post_init__(self) -> None:
        flags = np.zeros(_CODE_POINTS, dtype=bool)
        flags[[ord(char) for char in self.unsafe]] = True
        object.__setattr__(self, "bitmap", np.packbits(flags, bitorder="little").tobytes())

    def covers(self, text: str) -> bool:
        """Tell whether `text` holds no unsafe character (so `split_pre_tokens` applies to it)."""
        return self.unsafe.isdisjoint(text)


def split_pre_tokens(text: str, replacement: str) -> list[str]:
    """Return the Metaspace pre-tokens of a text whose normalisation only collapses runs of spaces.

    One `replacement + word` per non-empty space-separated word, then `replacement` alone when the
    text ends with a space (a collapsed run of spaces at the end is a pre-token of its own). An empty
    text, or one with only spaces, gives no word.

    :param text: A text covered by the tokenizer's `MetaspaceSplit`.
    :param replacement: The Metaspace marker.
    :return: The pre-tokens, in order.
    """
    pre_tokens = [replacement + word for word in text.split(" ") if word]
    if text.endswith(" "):
        pre_tokens.append(replacement)
    return pre_tokens


def charsmap_keys(charsmap: bytes, max_bytes: int) -> list[bytes]:
    """List the keys of a `Precompiled` charsmap that have at most `max_bytes` bytes.

    The charsmap is a u32 size, a darts-clone double-array trie of that many bytes, then the
    normalised strings. The trie is walked level by level (all 255 non-zero labels of every node at
    once; `tokenizers` stops a search at a zero byte, so keys never hold one).

    :param charsmap: The `precompiled_charsmap` bytes.
    :param max_bytes: The longest keys wanted.
    :return: The keys, shortest first.
    :raises ValueError: If the charsmap is too short for the trie it announces.
    """
    if len(charsmap) < 4:
        raise ValueError("charsmap too short")
    (size,) = struct.unpack_from("<I", charsmap)
    if size % 4 or size == 0 or len(charsmap) < 4 + size:
        raise ValueError("charsmap holds no trie of the announced size")
    units = np.frombuffer(charsmap, dtype="<u4", count=size // 4, offset=4).astype(np.int64)

    def offset(unit: np.ndarray) -> np.ndarray:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    labels = np.arange(1, 256, dtype=np.int64)
    positions = offset(units[:1])
    prefixes = np.zeros(1, dtype=np.int64)  # each node's path, as a big-endian number
    keys: list[bytes] = []
    for depth in range(1, max_bytes + 1):
        children = (positions[:, None] ^ labels).ravel()
        paths = (prefixes[:, None] * 256 + labels).ravel()
        inside = children < len(units)
        children, paths = children[inside], paths[inside]
        found = units[children]
        # A child exists when its unit carries the label taken (the has-leaf bit and high bit included).
        real = (found & 0x800000FF) == (paths & 0xFF)
        children, paths, found = children[real], paths[real], found[real]
        keys.extend(path.to_bytes(depth, "big") for path in paths[(found >> 8) & 1 == 1].tolist())
        positions, prefixes = children ^ offset(found), paths
    return keys


def charsmap_unsafe(charsmap: bytes) -> set[str] | None:
    """Return the characters a text must avoid for a `Precompiled` charsmap to leave it unchanged.

    :param charsmap: The `precompiled_charsmap` bytes.
    :return: Every single-character key and every later character of a multi-character key shorter
        than `WHOLE_CLUSTER_BYTES`; None when a key is not UTF-8 or the charsmap cannot be read.
    """
    try:
        keys = [key.decode("utf-8") for key in charsmap_keys(charsmap, WHOLE_CLUSTER_BYTES - 1)]
    except (ValueError, UnicodeDecodeError):
        return None
    unsafe: set[str] = set()
    for key in keys:
        unsafe.update(key if len(key) == 1 else key[1:])
    return unsafe


def _replace_unsafe(node: dict[str, Any]) -> set[str] | None:
    """Return the characters a `Replace` normaliser may change, if it is one understood here (else None).

    A string pattern is avoided through its first character; a regex must be a class of single
    characters (literal, or a hexadecimal escape such as XLM-R's zero width joiner). The
    space-collapsing rule is handled by the caller.
    """
    pattern = node.get("pattern")
    if not isinstance(pattern, dict):
        return None
    if isinstance(pattern.get("String"), str):
        text = pattern["String"]
        return {text[0]} if text and text[0] != " " else None
    match = _CLASS.match(pattern.get("Regex", "")) if isinstance(pattern.get("Regex"), str) else None
    if match is None:
        return None
    chars = {chr(int(code, 16)) if code else char for code, char in _CLASS_ITEM.findall(match.group(1))}
    if " " in chars or any(ord(char) >= _CODE_POINTS for char in chars):
        return None
    return chars


def find_metaspace_split(spec: dict[str, Any], normalize: Callable[[str], str]) -> MetaspaceSplit | None:
    """Tell whether texts of this tokenizer can be split at spaces, and which texts.

    Covered: a `Metaspace` pre-tokenizer (`split`, `prepend_scheme` "always" or "first") after a
    normaliser made of `Precompiled` charsmaps and `Replace` rules, one of which collapses runs of
    spaces (`" {2,}"` -> `" "`), as XLM-R's tokenizer is. Everything else returns None (the caller then
    runs `tokenizers` on every text).

    :param spec: The tokenizer's JSON as `tokenizers` writes it (`Tokenizer.to_str`).
    :param normalize: The tokenizer's normaliser (`normalize_str`), applied to normalised added tokens.
    :return: The split, or None.
    """
    pre_tokenizer = spec.get("pre_tokenizer")
    if not isinstance(pre_tokenizer, dict) or pre_tokenizer.get("type") != "Metaspace":
        return None
    replacement = pre_tokenizer.get("replacement")
    if pre_tokenizer.get("split") is not True or pre_tokenizer.get("prepend_scheme") not in ("always", "first"):
        return None
    if not isinstance(replacement, str) or len(replacement) != 1 or replacement == " ":
        return None
    normalizer = spec.get("normalizer")
    nodes = (
        normalizer.get("normalizers")
        if isinstance(normalizer, dict) and normalizer.get("type") == "Sequence"
        else [normalizer]
    )
    unsafe = {replacement, "\0", *map(chr, _SURROGATES)}  # NUL ends a charsmap search: kept out to be safe
    collapses = False
    for node in nodes if isinstance(nodes, list) else [None]:
        if not isinstance(node, dict):
            return None
        found: set[str] | None = None
        if node.get("type") == "Precompiled":
            try:
                charsmap = base64.b64decode(node.get("precompiled_charsmap") or "", validate=True)
            except (binascii.Error, ValueError, TypeError):
                return None
            found = charsmap_unsafe(charsmap)
        elif node.get("type") == "Replace":
            pattern = node.get("pattern")
            if isinstance(pattern, dict) and pattern.get("Regex") == _COLLAPSE and node.get("content") == " ":
                collapses, found = True, set()
            else:
                found = _replace_unsafe(node)
        if found is None:
            return None
        unsafe |= found
    for token in spec.get("added_tokens") or []:
        content = str(token.get("content", ""))
        # Normalised added tokens are matched in the normalised text: avoid what they normalise to too.
        forms = [content, normalize(content)] if token.get("normalized") else [content]
        if not all(forms) or any(form[0] == " " for form in forms):
            return None
        unsafe.update(form[0] for form in forms)
    if not collapses or " " in unsafe:
        return None
    return MetaspaceSplit(replacement, frozenset(unsafe))
