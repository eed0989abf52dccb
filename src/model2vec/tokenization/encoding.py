"""Running the Rust tokenizer: whole texts, and many space-free words per call (joined, then split)."""

from __future__ import annotations

import os
from itertools import chain, filterfalse

import numpy as np
from tokenizers import Tokenizer

from model2vec.tokenization.analysis import Separator, Shortcut
from model2vec.tokenization.unigram import LeanUnigram


def _replace_surrogates(text: str) -> str:
    """Join surrogate pairs into their character and replace unpaired surrogates with U+FFFD."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _encode_flat(tokenizer: Tokenizer | LeanUnigram, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of all texts without special tokens, text after text (int64), and the number per text.

    Tolerates lone surrogates (see `_encode_ids`).
    """
    if isinstance(tokenizer, LeanUnigram):
        try:
            return tokenizer.encode_flat(texts)
        except TypeError:
            return tokenizer.encode_flat([_replace_surrogates(t) for t in texts])
    id_lists = _encode_ids(tokenizer, texts)
    lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
    return np.fromiter(chain.from_iterable(id_lists), dtype=np.int64, count=int(lengths.sum())), lengths


def _encode_ids(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text without special tokens, tolerating lone surrogates."""
    try:
        encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    except TypeError:
        # Lone surrogates (e.g. from broken decoding) cannot be passed to the Rust tokenizer; each becomes
        # U+FFFD. Valid texts are unchanged by this, so results never depend on the rest of the batch.
        encodings = tokenizer.encode_batch_fast([_replace_surrogates(t) for t in texts], add_special_tokens=False)
    return [encoding.ids for encoding in encodings]


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
