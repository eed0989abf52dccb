"""Text -> token ids, with no padding, our own truncation, and unknown tokens dropped.

The tokenizer stored with a model may carry padding and truncation settings (from the teacher) that
must never leak into a static model's mean: padding would add `[PAD]` rows, and truncation would use
the teacher's limit rather than the caller's `max_length`. We therefore work on a private copy with both
disabled and apply `max_length` ourselves.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from model2vec._compiled import kernels
from model2vec.tokenization.analysis import find_separator, find_shortcut, splits_exactly_on_spaces
from model2vec.tokenization.encoding import _encode_flat, _encode_words
from model2vec.tokenization.inputs import MAX_TOKENS, check_max_length, cut_text, cut_texts
from model2vec.tokenization.unigram import LeanUnigram, replace_rows
from model2vec.tokenization.word_index import _slots, new_word_index, split_look_up


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
    originals: list[str] = field(default_factory=list)  # the texts as given (before any character cut)
    char_cuts: dict[int, int] = field(default_factory=dict)  # texts cut by characters -> the limit used
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
    flat: tuple[np.ndarray, np.ndarray] | None = None  # whole-text path: all ids and the number per text


DEFAULT_CACHE_SIZE = 100_000 if kernels is not None else 30_000


class TextTokenizer:
    """Turns batches of texts into `TokenBatch`es, caching the ids of words when that is exact.

    For tokenizers where `splits_exactly_on_spaces` holds, a text's ids are the concatenation of the
    ids of its space-separated parts, so each distinct part is tokenised once and remembered. Frequent
    words make most lookups hits, which is much faster than tokenising every text. Other tokenizers
    tokenise whole texts. Both paths give identical ids. Calling the object tokenises a batch at once;
    `begin`, `encode_missing` and `finish` do the same in three steps so that the Rust work of one
    batch can overlap other work (see `StaticModel._results`).

    :param tokenizer: A tokenizer prepared by `prepare_tokenizer` (no padding, no truncation), or a
        `LeanUnigram` (which never pads or truncates).
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
        tokenizer: Tokenizer | LeanUnigram,
        unk_token_id: int | None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        spec: dict[str, Any] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.unk_token_id = unk_token_id
        self.cache_size = cache_size
        if isinstance(tokenizer, LeanUnigram):
            # Never splits exactly on spaces (`LeanUnigram` refuses those), so whole texts are tokenised.
            self.use_word_cache = False
            self.separator = None
            self.shortcut = None
            contents = tokenizer.get_added_contents()
        else:
            spec = spec if spec is not None else json.loads(tokenizer.to_str())
            self.use_word_cache = splits_exactly_on_spaces(tokenizer, spec)
            self.separator = find_separator(tokenizer, spec) if self.use_word_cache else None
            self.shortcut = find_shortcut(tokenizer, spec, self.separator) if self.use_word_cache else None
            contents = [token.content for token in tokenizer.get_added_tokens_decoder().values()]
        # Huge texts are cut at spaces before tokenising; an added token holding whitespace could be cut in two.
        self.cuttable = not any(any(char.isspace() for char in content) for content in contents)
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
        if max_length is not None and max_length > MAX_TOKENS:
            max_length = None  # more tokens than any text has: no limit (and no int64 overflow)
        originals = list(texts)
        cut, char_cuts = cut_texts(originals, max_length) if self.cuttable else (originals, {})
        job = TokenJob(cut, max_length, originals=originals, char_cuts=char_cuts)
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
            job.flat = _encode_flat(self.tokenizer, job.texts)
        elif job.missing and isinstance(self.tokenizer, Tokenizer):  # a LeanUnigram never uses the word cache
            job.encoded = _encode_words(self.tokenizer, job.missing, self.separator, self.shortcut)

    def finish(self, job: TokenJob, drop_unknown: bool = True) -> TokenBatch:
        """Last step: store new words in the cache and assemble the batch (see `__call__`).

        :param job: A job from `begin` that went through `encode_missing`.
        :param drop_unknown: Whether to drop the unknown token.
        :return: The batch.
        :raises RuntimeError: If a whole-text job did not go through `encode_missing`.
        """
        max_length = job.max_length
        if not self.use_word_cache:
            if job.flat is None:
                raise RuntimeError("finish needs a job that went through encode_missing")
            flat, lengths = job.flat
            while longer := sorted(self._cut_further(job, lengths)):
                new_flat, new_lengths = _encode_flat(self.tokenizer, [job.texts[i] for i in longer])
                flat, lengths = replace_rows(flat, lengths, np.asarray(longer), new_flat, new_lengths)
            return self._truncate(flat, lengths, max_length, drop_unknown)
        while True:
            flat, word_lengths = self._word_ids(job)
            # Every text has at least one word (split always returns one), so reduceat's offsets ascend.
            word_offsets = np.cumsum(job.words_per_text) - job.words_per_text
            lengths = np.add.reduceat(word_lengths, word_offsets) if len(job.texts) else np.zeros(0, np.int64)
            redo = [i for i in job.cut if lengths[i] < max_length] if max_length is not None else []
            longer = self._cut_further(job, lengths)
            if not redo and not longer:
                return self._truncate(flat, lengths, max_length, drop_unknown)
            job.whole.update(redo)
            self._look_up(job)
            self.encode_missing(job)

    @staticmethod
    def _cut_further(job: TokenJob, lengths: np.ndarray) -> list[int]:
        """Cut again, twice as far, every character-cut text that gave fewer than `max_length` tokens.

        Such a cut may have dropped tokens of the whole text's first `max_length` (a long word is a
        single unknown token, whitespace gives none). A cut that gave enough tokens ends at a word end,
        so its first `max_length` tokens are the whole text's (see `inputs.CHARS_PER_TOKEN_BOUND`).

        :return: The indices of the texts changed in `job.texts`.
        """
        if not job.char_cuts or job.max_length is None:
            return []
        changed = []
        for index, limit in list(job.char_cuts.items()):
            if lengths[index] >= job.max_length:
                continue
            original = job.originals[index]
            longer = cut_text(original, 2 * limit)
            if len(longer) == len(original):
                del job.char_cuts[index]
            else:
                job.char_cuts[index] = 2 * limit
            job.texts[index] = longer
            changed.append(index)
        return changed

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
