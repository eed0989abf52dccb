"""Text -> token ids, with no padding, our own truncation, and unknown tokens dropped.

One module per concept: `analysis` (what a tokenizer does, read once), `inputs` (checking texts and
`max_length`, cutting huge texts), `encoding` (running the Rust tokenizer on texts and words),
`word_index` (the word cache's index), `unigram` (large Unigram vocabularies without the Rust
model) and `text_tokenizer` (the cached batch tokenizer `encode` uses).
"""

from __future__ import annotations

from model2vec.tokenization.analysis import (
    SAVED_MAX_LENGTH,
    Separator,
    Shortcut,
    find_separator,
    find_shortcut,
    find_unk_token_id,
    median_token_length,
    ordered_vocabulary,
    prepare_tokenizer,
    splits_exactly_on_spaces,
    tokenizer_json,
)
from model2vec.tokenization.inputs import CHARS_PER_TOKEN_BOUND, check_max_length, validate_texts
from model2vec.tokenization.text_tokenizer import (
    DEFAULT_CACHE_SIZE,
    TextTokenizer,
    TokenBatch,
    TokenJob,
    tokenize_batch,
)
from model2vec.tokenization.unigram import LeanUnigram
from model2vec.tokenization.word_index import DictIndex, WordIndex, _slots, new_word_index, split_look_up

__all__ = [
    "CHARS_PER_TOKEN_BOUND",
    "DEFAULT_CACHE_SIZE",
    "SAVED_MAX_LENGTH",
    "DictIndex",
    "LeanUnigram",
    "Separator",
    "Shortcut",
    "TextTokenizer",
    "TokenBatch",
    "TokenJob",
    "WordIndex",
    "_slots",
    "check_max_length",
    "find_separator",
    "find_shortcut",
    "find_unk_token_id",
    "median_token_length",
    "new_word_index",
    "ordered_vocabulary",
    "prepare_tokenizer",
    "split_look_up",
    "splits_exactly_on_spaces",
    "tokenize_batch",
    "tokenizer_json",
    "validate_texts",
]
