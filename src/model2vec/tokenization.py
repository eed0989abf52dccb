"""Text -> token ids, with no padding, our own truncation, and unknown tokens dropped.

The tokenizer stored with a model may carry padding and truncation settings (from the teacher) that
must never leak into a static model's mean: padding would add `[PAD]` rows, and truncation would use
the teacher's limit rather than the caller's `max_length`. We therefore work on a private copy with both
disabled and apply `max_length` ourselves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, pairwise

import numpy as np
from tokenizers import Tokenizer

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


def find_unk_token_id(tokenizer: Tokenizer) -> int | None:
    """Find the id of the unknown token of a tokenizer's model, if it has one.

    Handles WordPiece/BPE (`unk_token` string) and Unigram (`unk_id`).

    :param tokenizer: The tokenizer.
    :return: The id, or None when the model has no unknown token (e.g. byte-level BPE).
    """
    model = json.loads(tokenizer.to_str()).get("model", {})
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


def _replace_surrogates(text: str) -> str:
    """Join surrogate pairs into their character and replace unpaired surrogates with U+FFFD."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def tokenize_batch(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    max_length: int | None,
    unk_token_id: int | None,
    drop_unknown: bool = True,
) -> TokenBatch:
    """Tokenise texts into flat ids and offsets.

    Each text keeps its first `max_length` tokens (no special tokens are added); unknown tokens are
    removed after truncation, so they count towards the limit like any other token.

    :param tokenizer: A tokenizer prepared by `prepare_tokenizer`.
    :param texts: The texts (already validated as `str`).
    :param max_length: Maximum tokens per text, or None for no limit.
    :param unk_token_id: The id to drop, or None.
    :param drop_unknown: Whether to drop `unk_token_id`.
    :return: The batch.
    :raises ValueError: If `max_length` is not a positive integer or None.
    """
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"max_length must be a positive int or None, got {max_length!r}.")
    if max_length is not None:
        limit = max_length * CHARS_PER_TOKEN_BOUND
        texts = [text[:limit] if len(text) > limit else text for text in texts]
    try:
        encodings = tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
    except TypeError:
        # Lone surrogates (e.g. from broken decoding) cannot be passed to the Rust tokenizer; each becomes
        # U+FFFD. Valid texts are unchanged by this, so results never depend on the rest of the batch.
        encodings = tokenizer.encode_batch_fast([_replace_surrogates(t) for t in texts], add_special_tokens=False)
    if max_length is None:
        id_lists = [encoding.ids for encoding in encodings]
    else:
        id_lists = [encoding.ids[:max_length] for encoding in encodings]
    lengths = np.fromiter((len(ids) for ids in id_lists), dtype=np.int64, count=len(id_lists))
    total = int(lengths.sum())
    flat = np.fromiter(chain.from_iterable(id_lists), dtype=np.int64, count=total)
    if drop_unknown and unk_token_id is not None and total:
        keep = flat != unk_token_id
        if not keep.all():
            owner = np.repeat(np.arange(len(id_lists)), lengths)
            lengths = np.bincount(owner[keep], minlength=len(id_lists)).astype(np.int64)
            flat = flat[keep]
    offsets = np.zeros(len(id_lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return TokenBatch(ids=flat, offsets=offsets)
