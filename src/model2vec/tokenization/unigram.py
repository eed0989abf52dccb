"""Unigram (SentencePiece) tokenisation without the `tokenizers` Unigram model, for large vocabularies.

The Rust Unigram model keeps a byte trie with a hash map per node: about 1 KB per piece, 270 MB for
XLM-R's 250k pieces, far more than the static model's table. `LeanUnigram` gives the same ids from:

- a "shell" Rust tokenizer: the same JSON (normaliser, pre-tokenizer, added tokens) with the vocabulary
  replaced by one unknown piece, so that every pre-token comes back whole, as one fused unknown token,
  and added tokens are still matched by `tokenizers` itself;
- `UnigramVocab`: the pieces in one UTF-8 blob with a hash of them (a few MB for 250k pieces; compiled
  in `_kernels.c`, `PyUnigramVocab` otherwise), which runs the Viterbi search of `tokenizers`' Unigram
  model on each pre-token.

Texts that the normaliser would leave alone but for runs of spaces (most real text for XLM-R) skip the
shell: they are split at spaces and segmented in one call (`metaspace.py`, `UnigramVocab.segment_texts`),
which tokenises multilingual sentences about 3x as fast as the shell.

The scores are read from the JSON text the way `tokenizers` (serde_json) reads them, which is not
always Python's correctly rounded `float()`; the search compares sums of scores, so the doubles must
be the same. The full Rust tokenizer can still be built from the kept (compressed) JSON on demand.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from itertools import chain, pairwise
from typing import Any, Protocol, cast

import numpy as np
from tokenizers import Tokenizer

from model2vec._compiled import kernels
from model2vec.tokenization.analysis import splits_exactly_on_spaces
from model2vec.tokenization.metaspace import MetaspaceSplit, find_metaspace_split, split_pre_tokens

# Vocabularies from this many pieces on are loaded lean by default (smaller ones cost little in Rust).
LEAN_MIN_PIECES = 30_000
# Set to "0" to always build the Rust Unigram model (to compare both paths, or to rule this one out).
LEAN_ENVIRONMENT = "MODEL2VEC_LEAN_UNIGRAM"
# `tokenizers` scores an unknown character as the lowest piece score minus this.
UNKNOWN_PENALTY = 10.0
# The shell's only piece (and unknown token): any pre-token, with or without it, comes back whole.
_SHELL_PIECE = "\U0010fffe\U0010ffff"
_VOCAB_KEY = re.compile(rb'"vocab"\s*:\s*\[')
_POW10 = [float(f"1e{exponent}") for exponent in range(309)]
_U64_MAX = (1 << 64) - 1
_I32_MAX = (1 << 31) - 1
_UNREAD = object()  # `LeanUnigram.metaspace_split` not read yet
_NUMBER = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?)([0-9]+))?\Z")


class UnigramVocab(Protocol):
    """Unigram pieces and scores that segment pre-tokens like `tokenizers` (compiled or `PyUnigramVocab`)."""

    def __len__(self) -> int:
        """Return the number of pieces."""

    @property
    def duplicates(self) -> int:
        """Number of pieces equal to an earlier one."""

    def look_up(self, piece: str) -> int:
        """Return the id of `piece` (the last one if repeated), or -1."""

    def segment(self, words: list[str]) -> tuple[Any, Any]:
        """Return every word's ids (int32 buffer) and the number of ids of each word (int64 buffer)."""

    def segment_texts(self, texts: list[str], unsafe: bytes, replacement: str) -> tuple[Any, Any]:
        """Return the ids of the texts split at spaces (int32 buffer) and their number per text, -1 if unsplit."""


def _from_parts(positive: bool, significand: int, exponent: int) -> float:
    """serde_json's last step: the u64 as a double, then one multiplication or division by 10^|exponent|."""
    value = float(significand)
    while True:
        if abs(exponent) < len(_POW10):
            if exponent >= 0:
                value *= _POW10[exponent]
                if value == float("inf"):
                    raise ValueError("number out of range")
            else:
                value /= _POW10[-exponent]
            break
        if value == 0.0:
            break
        if exponent >= 0:
            raise ValueError("number out of range")
        value /= 1e308
        exponent += 308
    return value if positive else -value


def serde_float(text: str) -> float:
    """Convert a JSON number exactly as serde_json (without `float_roundtrip`) does, as `tokenizers` reads scores.

    Digits are gathered into a u64; once the next digit would overflow it, integer digits are dropped
    (each counting as a power of ten) and fraction digits are ignored; the result is the u64 as a
    double multiplied or divided once by a power of ten. An integer without fraction or exponent is
    the u64 as a double.

    :param text: A JSON number.
    :return: The double serde_json reads.
    :raises ValueError: If `text` is not a JSON number, or serde_json reports it out of range.
    """
    match = _NUMBER.match(text)
    if match is None:
        raise ValueError(f"not a JSON number: {text!r}")
    sign, whole, fraction, exp_sign, exp_digits = match.groups()
    positive = sign == ""
    digits = (whole + (fraction or "")).lstrip("0")
    if len(digits) <= 19:  # fits a u64: no digit is dropped
        significand, exponent = int(whole + (fraction or "")), -len(fraction or "")
    else:
        significand, exponent = _gather(whole, fraction)
    if fraction is None and exp_digits is None:
        if exponent == 0:
            return float(significand) if positive else -float(significand)
        return _from_parts(positive, significand, exponent)
    if exp_digits is None:
        return _from_parts(positive, significand, exponent)
    exp = int(exp_digits[0])
    for digit in map(int, exp_digits[1:]):
        if exp >= _I32_MAX // 10 and (exp > _I32_MAX // 10 or digit > _I32_MAX % 10):
            if significand != 0 and exp_sign != "-":
                raise ValueError("number out of range")
            return 0.0 if positive else -0.0
        exp = exp * 10 + digit
    final = exponent + exp if exp_sign != "-" else exponent - exp
    return _from_parts(positive, significand, max(-_I32_MAX - 1, min(_I32_MAX, final)))


def _gather(whole: str, fraction: str | None) -> tuple[int, int]:
    """serde_json's digit loop for long numbers: the u64 significand and the decimal exponent."""
    significand = 0
    exponent = 0
    overflowed = False
    for digit in map(int, whole):
        if overflowed:
            exponent += 1
        elif significand >= _U64_MAX // 10 and (significand > _U64_MAX // 10 or digit > _U64_MAX % 10):
            overflowed = True
            exponent += 1
        else:
            significand = significand * 10 + digit
    for digit in map(int, fraction or ""):
        if significand >= _U64_MAX // 10 and (significand > _U64_MAX // 10 or digit > _U64_MAX % 10):
            break  # serde_json ignores the remaining fraction digits
        significand = significand * 10 + digit
        exponent -= 1
    return significand, exponent


def scan_vocab(raw: bytes, start: int) -> tuple[bytes, np.ndarray, np.ndarray, int]:
    """Read the JSON array `[[piece, score], ...]` that starts at byte `start` of `raw`.

    :param raw: The tokenizer.json bytes.
    :param start: The position of the array's `[`.
    :return: The pieces' UTF-8 bytes one after another, their `n + 1` boundaries (int64), the scores as
        `tokenizers` reads them (float64, see `serde_float`) and the position after the array.
    :raises ValueError: If the text there is not such an array as `tokenizers` accepts.
    """
    if kernels is not None:
        blob, offsets, scores, end = kernels.scan_unigram_vocab(raw, start)
        return bytes(blob), np.frombuffer(offsets, dtype=np.int64), np.frombuffer(scores, dtype=np.float64), end
    text = raw[start:].decode("utf-8")

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not a JSON number tokenizers reads")

    decoder = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=refuse)
    entries, stop = decoder.raw_decode(text)
    if not isinstance(entries, list) or not all(
        isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], str)
        for entry in entries
    ):
        raise ValueError("not a Unigram vocabulary: [[piece, score], ...] expected")
    encoded = [piece.encode("utf-8") for piece, _ in entries]  # lone surrogates raise, as in tokenizers
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(piece) for piece in encoded], out=offsets[1:])
    scores = np.array([serde_float(score) for _, score in entries], dtype=np.float64)
    return b"".join(encoded), offsets, scores, start + len(text[:stop].encode("utf-8"))


class PyUnigramVocab:
    """The pure-Python `UnigramVocab` (a dict of pieces); gives the same ids as the compiled one.

    :param blob: The pieces' UTF-8 bytes one after another.
    :param offsets: Their `n + 1` boundaries (int64).
    :param scores: Their scores (float64).
    :param unk_id: The unknown piece's id.
    :raises ValueError: If the arrays disagree, the vocabulary is empty or `unk_id` is outside it.
    """

    def __init__(self, blob: bytes, offsets: np.ndarray, scores: np.ndarray, unk_id: int) -> None:
        if len(offsets) != len(scores) + 1 or offsets[0] != 0 or offsets[-1] != len(blob):
            raise ValueError("offsets must hold len(scores) + 1 boundaries of blob")
        if not len(scores) or not 0 <= unk_id < len(scores):
            raise ValueError("need a non-empty vocabulary holding unk_id")
        bounds = offsets.tolist()
        self._ids: dict[str, int] = {}
        self.duplicates = 0
        for index, (begin, end) in enumerate(pairwise(bounds)):
            piece = blob[begin:end].decode("utf-8")
            if piece:
                self.duplicates += piece in self._ids
                self._ids[piece] = index  # the last of equal pieces wins, as in tokenizers
        self._scores = scores.tolist()
        self._unk_id = unk_id
        minimum = float("inf")
        for score in self._scores:
            if score < minimum:
                minimum = score
        self._unknown_score = minimum - UNKNOWN_PENALTY
        self._longest = max(map(len, self._ids), default=0)
        self._unsafe: tuple[bytes, frozenset[str]] | None = None  # the last bitmap of `segment_texts`, as a set

    def __len__(self) -> int:
        """Return the number of pieces."""
        return len(self._scores)

    def look_up(self, piece: str) -> int:
        """Return the id of `piece` (the last one if repeated), or -1."""
        return self._ids.get(piece, -1)

    def segment(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return every word's ids (int32) and the number of ids of each word (int64); see `_kernels.c`."""
        ids: list[int] = []
        counts = np.zeros(len(words), dtype=np.int64)
        for index, word in enumerate(words):
            before = len(ids)
            ids.extend(self._segment(word))
            counts[index] = len(ids) - before
        return np.array(ids, dtype=np.int32), counts

    def segment_texts(self, texts: list[str], unsafe: bytes, replacement: str) -> tuple[np.ndarray, np.ndarray]:
        """Segment the texts a Metaspace tokenizer splits at spaces; see `segment_texts` and `_kernels.c`.

        :param texts: The texts.
        :param unsafe: A bitmap of 0x110000 bits (bit `c % 8` of byte `c // 8`): texts holding such a
            code point (or a surrogate) are not covered.
        :param replacement: The Metaspace marker.
        :return: The ids (int32) of the covered texts and the number of ids per text (int64), -1 for a
            text not covered.
        """
        if self._unsafe is None or self._unsafe[0] != unsafe:
            flags = np.unpackbits(np.frombuffer(unsafe, dtype=np.uint8), bitorder="little")[:0x110000]
            flags[0xD800:0xE000] = 1
            self._unsafe = (unsafe, frozenset(map(chr, np.flatnonzero(flags).tolist())))
        avoided = self._unsafe[1]
        counts = np.full(len(texts), -1, dtype=np.int64)
        words: list[str] = []
        owners: list[int] = []
        for index, text in enumerate(texts):
            if avoided.isdisjoint(text):
                pre_tokens = split_pre_tokens(text, replacement)
                words.extend(pre_tokens)
                owners.extend([index] * len(pre_tokens))
                counts[index] = 0
        ids, per_word = self.segment(words)
        np.add.at(counts, np.asarray(owners, dtype=np.int64), per_word)
        return ids, counts

    def _segment(self, word: str) -> list[int]:
        """Run the Viterbi search of `tokenizers`' Unigram model over the characters of one pre-token."""
        size = len(word)
        if size == 0:
            return []
        best = [0.0] * (size + 1)
        start_of = [-1] * (size + 1)
        node = [0] * (size + 1)
        for start in range(size):
            base = best[start]
            single = False
            for end in range(start + 1, min(size, start + self._longest) + 1):
                piece_id = self._ids.get(word[start:end])
                if piece_id is None:
                    continue
                candidate = base + self._scores[piece_id]
                if start_of[end] < 0 or candidate > best[end]:
                    best[end], start_of[end], node[end] = candidate, start, piece_id
                single = single or end == start + 1
            if not single:
                candidate = base + self._unknown_score
                if start_of[start + 1] < 0 or candidate > best[start + 1]:
                    best[start + 1], start_of[start + 1], node[start + 1] = candidate, start, self._unk_id
        ends = []
        end = size
        while end > 0:
            ends.append(end)
            end = start_of[end]
        ends.reverse()
        ids = []
        begin = 0
        position = 0
        while position < len(ends):
            stop = ends[position]
            if node[stop] == self._unk_id:  # a run of unknown nodes is one string
                while position + 1 < len(ends) and node[ends[position + 1]] == self._unk_id:
                    position += 1
                    stop = ends[position]
            ids.append(self._ids.get(word[begin:stop], self._unk_id))
            begin = stop
            position += 1
        return ids


def new_unigram_vocab(blob: bytes, offsets: np.ndarray, scores: np.ndarray, unk_id: int) -> UnigramVocab:
    """Return a `UnigramVocab`: the compiled one when the kernels are built (see `PyUnigramVocab`)."""
    if kernels is not None:
        return cast(UnigramVocab, kernels.UnigramVocab(blob, offsets, scores, unk_id))
    return PyUnigramVocab(blob, offsets, scores, unk_id)


def segment_words(vocab: UnigramVocab, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Segment pre-tokens: all their ids (int32) and the number of ids of each (int64)."""
    ids, counts = vocab.segment(words)
    return np.frombuffer(ids, dtype=np.int32), np.frombuffer(counts, dtype=np.int64)


def segment_texts(vocab: UnigramVocab, texts: list[str], split: MetaspaceSplit) -> tuple[np.ndarray, np.ndarray]:
    """Segment the texts `split` covers: all their ids (int32) and the number per text (int64, -1: not covered)."""
    ids, counts = vocab.segment_texts(texts, split.bitmap, split.replacement)
    return np.frombuffer(ids, dtype=np.int32), np.frombuffer(counts, dtype=np.int64)


def replace_rows(
    flat: np.ndarray, lengths: np.ndarray, rows: np.ndarray, new_flat: np.ndarray, new_lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Give the texts at `rows` other ids: flat ids and lengths per text, with those texts' ids replaced.

    :param flat: All ids, text after text.
    :param lengths: The number of ids of each text.
    :param rows: The texts to change, in ascending order.
    :param new_flat: Their new ids, text after text (in the order of `rows`).
    :param new_lengths: The number of new ids of each.
    :return: The flat ids (int64) and lengths (int64) of all texts.
    """
    replaced = np.zeros(len(lengths), dtype=bool)
    replaced[rows] = True
    old_replaced = np.repeat(replaced, lengths)
    lengths = np.array(lengths, dtype=np.int64)
    lengths[rows] = new_lengths
    new_replaced = np.repeat(replaced, lengths)
    out = np.empty(len(new_replaced), dtype=np.int64)
    out[~new_replaced] = flat[~old_replaced]
    out[new_replaced] = new_flat
    return out, lengths


def _find_vocab(raw: bytes) -> tuple[dict[str, Any], bytes, np.ndarray, np.ndarray] | None:
    """Locate and read `model.vocab` of a Unigram tokenizer.json without parsing it into Python objects.

    :return: The rest of the JSON, parsed (with an empty vocabulary), and the vocabulary's blob,
        offsets and scores; None when `raw` is no Unigram tokenizer this reads.
    """
    for match in _VOCAB_KEY.finditer(raw):
        start = match.end() - 1
        try:
            blob, offsets, scores, end = scan_vocab(raw, start)
            rest = json.loads(raw[:start] + b"[]" + raw[end:])
        except (ValueError, UnicodeDecodeError):
            continue  # a string that merely looks like the key, or a vocabulary tokenizers would refuse
        model = rest.get("model") if isinstance(rest, dict) else None
        if isinstance(model, dict) and model.get("type") == "Unigram" and model.get("vocab") == []:
            return rest, blob, offsets, scores
    return None


class LeanUnigram:
    """A Unigram tokenizer.json that encodes like `tokenizers`, without building its Unigram model.

    Build it with `LeanUnigram.from_json`, which returns None for tokenizers it does not cover.
    `encode_ids` gives the ids `Tokenizer.encode_batch(texts, add_special_tokens=False)` gives, and
    `to_tokenizer` builds the full Rust tokenizer (from the kept JSON) when one is needed.

    :param raw: The tokenizer.json bytes.
    :param spec: The JSON without the vocabulary (`model.vocab` is empty).
    :param blob: The pieces' UTF-8 bytes.
    :param offsets: Their boundaries.
    :param scores: Their scores, as `tokenizers` reads them.
    :raises ValueError: If the tokenizer is not covered (see `from_json`).
    """

    def __init__(self, raw: bytes, spec: dict[str, Any], blob: bytes, offsets: np.ndarray, scores: np.ndarray) -> None:
        model = spec["model"]
        unk_id = model.get("unk_id")
        if model.get("byte_fallback") or not isinstance(unk_id, int) or isinstance(unk_id, bool):
            raise ValueError("only Unigram models with an unk_id and without byte_fallback are covered")
        if splits_exactly_on_spaces(None, spec):
            # The word cache would probe a full tokenizer for separators; those stay on the Rust path.
            raise ValueError("tokenizers that split exactly on spaces use the word cache instead")
        self.vocab = new_unigram_vocab(blob, offsets, scores, unk_id)
        self._blob, self._offsets = blob, offsets
        if self.vocab.duplicates:
            raise ValueError("a vocabulary with repeated pieces is not covered")
        added = spec.get("added_tokens") or []
        real = {token["content"]: self.vocab.look_up(token["content"]) for token in added}
        if any(token_id < 0 for token_id in real.values()):
            # tokenizers numbers such added tokens past the vocabulary; the Rust path handles them.
            raise ValueError("added tokens outside the vocabulary are not covered")
        self.shell = _shell(spec)
        self._added = {self.shell.token_to_id(content): token_id for content, token_id in real.items()}
        if None in self._added or 0 in self._added:
            raise ValueError("the shell tokenizer lost an added token")
        self.spec = spec
        self.unk_token_id = unk_id
        self._raw = zlib.compress(raw, 1)  # for `to_tokenizer`; a few MB
        self._vocab_size = len(scores)  # tokenizers: the pieces plus added tokens outside them (none here)
        starts = (np.frombuffer(blob, dtype=np.uint8) & 0xC0) != 0x80
        chars = np.concatenate(([0], np.cumsum(starts, dtype=np.int64)))
        self.median_token_length = int(np.median(chars[offsets[1:]] - chars[offsets[:-1]]))
        self._split: MetaspaceSplit | object | None = _UNREAD  # `metaspace_split`, read on first use

    @classmethod
    def from_json(cls, raw: bytes | str, min_pieces: int | None = None) -> LeanUnigram | None:
        """Build the lean tokenizer from tokenizer.json text, or return None when it does not apply.

        Applies to a Unigram model with an `unk_id`, without `byte_fallback`, with at least `min_pieces`
        distinct pieces, whose added tokens are all pieces, and whose pre-tokenizer does not split
        exactly on spaces; not when the environment sets `MODEL2VEC_LEAN_UNIGRAM=0`.

        :param raw: The tokenizer.json bytes (or text).
        :param min_pieces: The fewest pieces worth it (None: `LEAN_MIN_PIECES`).
        :return: The tokenizer, or None (use `tokenizers.Tokenizer`; it also reports bad JSON).
        """
        if os.environ.get(LEAN_ENVIRONMENT, "") == "0":
            return None
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        if b'"Unigram"' not in data:
            return None
        found = _find_vocab(data)
        if found is None or len(found[3]) < (LEAN_MIN_PIECES if min_pieces is None else min_pieces):
            return None
        try:
            return cls(data, *found)
        except Exception:  # not covered (ValueError), or a shell tokenizers refuses (a bare Exception)
            return None

    def encode_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, as `Tokenizer.encode_batch(texts, add_special_tokens=False)` gives them.

        :param texts: The texts (str; lone surrogates raise TypeError, as in `tokenizers`).
        :return: One list of ids per text.
        """
        flat, lengths = self.encode_flat(texts)
        ids = flat.tolist()
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        return [ids[start:end] for start, end in pairwise(bounds)]

    def encode_flat(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return the ids of `encode_ids`, text after text (int64), and the number of ids of each text (int64).

        Texts that the tokenizer's `MetaspaceSplit` covers (for XLM-R: most real text, see
        `metaspace.py`) are split at spaces and segmented in one call, without `tokenizers`; the others
        go through the shell tokenizer. Both give the ids `tokenizers` gives.

        :param texts: The texts (str; lone surrogates raise TypeError, as in `tokenizers`).
        :return: The flat ids and the lengths.
        """
        split = self.metaspace_split()
        if split is None:
            rest = np.arange(len(texts))
            flat, lengths = np.zeros(0, dtype=np.int64), np.zeros(len(texts), dtype=np.int64)
        else:
            segmented, lengths = segment_texts(self.vocab, texts, split)
            rest = np.flatnonzero(lengths < 0)
            flat = segmented.astype(np.int64)
            if not len(rest):
                return flat, lengths.copy()
        id_lists = self._encode_shell([texts[i] for i in rest.tolist()])
        new_lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
        new_flat = np.fromiter(chain.from_iterable(id_lists), dtype=np.int64, count=int(new_lengths.sum()))
        return replace_rows(flat, np.maximum(lengths, 0), rest, new_flat, new_lengths)

    def metaspace_split(self) -> MetaspaceSplit | None:
        """Return which texts this tokenizer splits at spaces alone (see `metaspace.py`); None: no text."""
        if self._split is _UNREAD:
            # Read from the JSON as tokenizers writes it, so older spellings of the same settings count too.
            canonical = json.loads(self.shell.to_str())
            normalizer = self.shell.normalizer
            self._split = find_metaspace_split(
                canonical, normalizer.normalize_str if normalizer is not None else (lambda text: text)
            )
        return cast("MetaspaceSplit | None", self._split)

    def _encode_shell(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text through the shell tokenizer (normaliser and pre-tokenizer of tokenizers)."""
        encodings = self.shell.encode_batch(texts, add_special_tokens=False)
        words: list[str] = []
        plans: list[tuple[int, list[int] | None]] = []  # per text: its pre-tokens, and shell ids if it has added tokens
        for encoding in encodings:
            shell_ids = encoding.ids
            if any(shell_ids):  # the shell numbers every pre-token 0
                pre_tokens = [token for token, shell_id in zip(encoding.tokens, shell_ids, strict=True) if not shell_id]
                plans.append((len(pre_tokens), shell_ids))
                words.extend(pre_tokens)
            else:
                words.extend(encoding.tokens)
                plans.append((len(shell_ids), None))
        flat, counts = segment_words(self.vocab, words)
        ids = flat.tolist()
        ends = np.cumsum(counts).tolist()
        result: list[list[int]] = []
        word = 0
        position = 0
        for count, plan in plans:
            if plan is None:
                end = ends[word + count - 1] if count else position
                result.append(ids[position:end])
                position, word = end, word + count
                continue
            text_ids: list[int] = []
            for shell_id in plan:
                if shell_id:
                    text_ids.append(self._added[shell_id])
                else:
                    text_ids.extend(ids[position : ends[word]])
                    position, word = ends[word], word + 1
            result.append(text_ids)
        return result

    def to_tokenizer(self) -> Tokenizer:
        """Build the full `tokenizers.Tokenizer` from the JSON this was made from (a new one each call)."""
        return Tokenizer.from_str(zlib.decompress(self._raw).decode("utf-8"))

    def get_vocab_size(self) -> int:
        """Return the vocabulary size, as `Tokenizer.get_vocab_size()` would."""
        return self._vocab_size

    def ordered_vocabulary(self) -> list[str]:
        """Return the pieces, indexed by id (what `ordered_vocabulary` gives for the full tokenizer here)."""
        bounds = self._offsets.tolist()
        return [self._blob[begin:end].decode("utf-8") for begin, end in pairwise(bounds)]

    def get_added_contents(self) -> list[str]:
        """Return the contents of the added tokens."""
        return [str(token.get("content", "")) for token in self.spec.get("added_tokens") or []]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle only the compressed JSON; everything else is rebuilt from it."""
        return {"raw": self._raw}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild from the compressed JSON."""
        raw = zlib.decompress(state["raw"])
        found = _find_vocab(raw)
        if found is None:
            raise ValueError("pickled LeanUnigram holds no Unigram vocabulary")
        self.__init__(raw, *found)  # type: ignore[misc]


def _shell(spec: dict[str, Any]) -> Tokenizer:
    """Build the spec's tokenizer with one unknown piece for a vocabulary: it returns pre-tokens whole.

    Normalisation, pre-tokenisation and added tokens stay those of `tokenizers`. Post-processing,
    padding and truncation are dropped (ids without special tokens never depend on them).
    """
    shell = dict(spec)
    shell.update(padding=None, truncation=None, post_processor=None, decoder=None)
    shell["model"] = {"type": "Unigram", "unk_id": 0, "vocab": [[_SHELL_PIECE, 0.0]], "byte_fallback": False}
    return Tokenizer.from_str(json.dumps(shell))
