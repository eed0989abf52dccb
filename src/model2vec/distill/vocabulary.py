"""Vocabulary surgery: which tokens the static model keeps or adds, and what the teacher sees for each.

The static model's tokenizer is derived from the teacher's by editing its JSON description (the
`tokenizers` serialisation), which works the same way for WordPiece, BPE and Unigram models:

* tokens matching `token_remove_pattern` and special tokens the static model never emits ([CLS],
  [SEP], [MASK], <s>, ...) are removed, and the remaining ids are renumbered densely in their
  original order;
* the teacher keeps working on its *original* ids: every row of the static model records the id
  sequence to feed the teacher (`[*prefix, original_id, *suffix]`), so renumbering never shifts which
  teacher embedding a token gets;
* words from a custom vocabulary are added once (duplicates and words already known are skipped),
  entries that the pre-tokenizer splits into several pieces become added tokens, and a word-level mode
  builds a tokenizer that knows only the given words.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenizers import Tokenizer, pre_tokenizers

from model2vec.tokenization import prepare_tokenizer

logger = logging.getLogger(__name__)

# Added tokens that a static model needs: the unknown token (the tokenizer model refers to it) and
# the padding token (kept so that saved models look like the reference format, row 0 = [PAD]).
_PAD_NAMES = ("[PAD]", "<pad>", "<|padding|>", "<|pad|>")
SUPPORTED_MODELS = ("WordPiece", "BPE", "Unigram", "WordLevel")


@dataclass(frozen=True)
class VocabularyStats:
    """What happened to the vocabulary (for logs and the model config).

    :param removed_by_pattern: Teacher tokens removed because they matched the pattern.
    :param removed_special: Special tokens removed because a static model never produces them.
    :param added: Custom words added as single tokens.
    :param added_multiword: Custom entries added as multi-word added tokens.
    :param duplicates: Custom entries skipped because the token already existed.
    :param empty: Custom entries skipped because they were empty after normalisation.
    :param pattern_skipped: Custom entries skipped because they matched the removal pattern.
    """

    removed_by_pattern: int = 0
    removed_special: int = 0
    added: int = 0
    added_multiword: int = 0
    duplicates: int = 0
    empty: int = 0
    pattern_skipped: int = 0


@dataclass(frozen=True)
class VocabularyPlan:
    """The static model's tokenizer and, for each of its tokens, the teacher input that embeds it.

    :param tokenizer: The new tokenizer (no post-processor, padding or truncation).
    :param teacher_inputs: `teacher_inputs[i]` is the list of *teacher* ids whose pooled output becomes
        row `i` of the static model.
    :param stats: Counts of removed, added and skipped tokens.
    """

    tokenizer: Tokenizer
    teacher_inputs: list[list[int]]
    stats: VocabularyStats = field(default_factory=VocabularyStats)

    @property
    def tokens(self) -> list[str]:
        """The new vocabulary ordered by id."""
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        return sorted(vocab, key=vocab.__getitem__)


def compile_remove_pattern(pattern: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    """Compile `token_remove_pattern`.

    :param pattern: A regular expression (matched at the start of each token, like `re.match`), a
        compiled pattern, or None for no removal.
    :return: The compiled pattern, or None.
    :raises ValueError: If the pattern is not a valid regular expression or not a string.
    """
    if pattern is None or isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str):
        raise ValueError(f"token_remove_pattern must be a str or None, got {type(pattern).__name__}.")
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"token_remove_pattern {pattern!r} is not a valid regular expression: {error}") from error


def special_affixes(tokenizer: Tokenizer) -> tuple[list[int], list[int]]:
    """Find the ids the teacher's post-processor puts before and after a single sequence.

    For BERT this is `([CLS], [SEP])`, for RoBERTa `(<s>, </s>)`, for a tokenizer without a
    post-processor `([], [])`.

    :param tokenizer: The teacher tokenizer (padding and truncation are ignored).
    :return: `(prefix_ids, suffix_ids)`.
    """
    plain = prepare_tokenizer(tokenizer)
    encoding = plain.encode("a", add_special_tokens=True)
    mask = encoding.special_tokens_mask
    ids = encoding.ids
    if not any(mask) or all(mask):
        # No sequence token to anchor on (or no specials at all): fall back to an empty input.
        empty = plain.encode("", add_special_tokens=True).ids
        return list(empty[:1]), list(empty[1:])
    start = mask.index(0)
    end = len(mask) - mask[::-1].index(0)
    return list(ids[:start]), list(ids[end:])


def _model_tokens(model: dict[str, Any]) -> list[str]:
    """List the model-level vocabulary (without added tokens) ordered by id."""
    vocab = model.get("vocab")
    if model["type"] == "Unigram":
        return [str(piece) for piece, _score in vocab or []]
    if not isinstance(vocab, dict):
        raise ValueError(f"Unsupported tokenizer model: no vocabulary in {model['type']} model.")
    return sorted(vocab, key=vocab.__getitem__)


def _unk_token(model: dict[str, Any]) -> str | None:
    """Return the unknown token's text, if the model has one."""
    if model["type"] == "Unigram":
        unk_id = model.get("unk_id")
        return str(model["vocab"][unk_id][0]) if isinstance(unk_id, int) else None
    unk = model.get("unk_token")
    return unk if isinstance(unk, str) else None


def _pad_token(data: dict[str, Any], specials: set[str]) -> str | None:
    """Return the padding token's text: from the padding settings, else a conventional special name."""
    padding = data.get("padding")
    if isinstance(padding, dict) and isinstance(padding.get("pad_token"), str):
        return str(padding["pad_token"])
    return next((name for name in _PAD_NAMES if name in specials), None)


def _set_model_vocabulary(model: dict[str, Any], tokens: list[str], extra_scores: dict[str, float]) -> None:
    """Write `tokens` (in id order) into a model description, dropping merges that lost a token."""
    kind = model["type"]
    if kind == "Unigram":
        scores = {str(piece): float(score) for piece, score in model["vocab"]}
        unk = _unk_token(model)
        model["vocab"] = [[token, scores.get(token, extra_scores.get(token, 0.0))] for token in tokens]
        model["unk_id"] = tokens.index(unk) if unk is not None and unk in tokens else None
        return
    model["vocab"] = {token: index for index, token in enumerate(tokens)}
    if kind == "BPE":
        known = set(tokens)
        kept: list[Any] = []
        for merge in model.get("merges", []):
            left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
            # A merge is only usable if both parts and the merged token still exist.
            if left in known and right in known and left + right in known:
                kept.append(merge)
        model["merges"] = kept


def _word_form(tokenizer: Tokenizer, word: str) -> tuple[str, list[str]]:
    """Normalise `word` and split it the way the tokenizer's pre-tokenizer would.

    :return: The normalised text and its pre-tokenized pieces.
    """
    normalizer = tokenizer.normalizer
    normalized = normalizer.normalize_str(word) if normalizer is not None else word
    pre_tokenizer = tokenizer.pre_tokenizer
    if pre_tokenizer is None:
        pieces = [normalized] if normalized.strip() else []
    else:
        pieces = [piece for piece, _ in pre_tokenizer.pre_tokenize_str(normalized)]
    return normalized, [piece for piece in pieces if piece]


def _prefix_space_everywhere(data: dict[str, Any]) -> None:
    """Make byte-level and metaspace pre-tokenizers treat the first word like every other word.

    A static model embeds words without context, so "hello" at the start of a text should get the same
    token as " hello" inside one.
    """

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "ByteLevel" and "add_prefix_space" in node:
                node["add_prefix_space"] = True
            if node.get("type") == "Metaspace" and "prepend_scheme" in node:
                node["prepend_scheme"] = "always"
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(data.get("pre_tokenizer"))


def build_vocabulary(
    tokenizer: Tokenizer,
    vocabulary: Sequence[str] | None = None,
    remove_pattern: re.Pattern[str] | None = None,
    word_level: bool = False,
) -> VocabularyPlan:
    """Derive the static model's tokenizer from the teacher's, and the teacher input for every token.

    :param tokenizer: The teacher's tokenizer (WordPiece, BPE, Unigram or WordLevel model).
    :param vocabulary: Extra words/phrases. Entries already in the vocabulary, repeated entries and
        entries that are empty after normalisation are skipped; entries the pre-tokenizer splits into
        several pieces ("New York") become multi-word added tokens.
    :param remove_pattern: Tokens whose text matches this pattern (`re.match`) are removed. The unknown
        token is never removed (the tokenizer model needs it).
    :param word_level: Build a tokenizer that knows only the given words (plus an unknown token); the
        teacher's subword vocabulary is not kept.
    :return: The plan.
    :raises ValueError: If the tokenizer model type is unsupported, if `vocabulary` is a plain string,
        or if the resulting vocabulary is empty.
    """
    if isinstance(vocabulary, str):
        raise ValueError("vocabulary must be a sequence of words, not a single string.")
    teacher = prepare_tokenizer(tokenizer)
    data = json.loads(teacher.to_str())
    model = data["model"]
    if model.get("type") not in SUPPORTED_MODELS:
        raise ValueError(f"Unsupported tokenizer model {model.get('type')!r}; expected one of {SUPPORTED_MODELS}.")
    teacher_vocab = teacher.get_vocab(with_added_tokens=True)
    prefix, suffix = special_affixes(teacher)
    words = list(vocabulary or [])

    if word_level:
        return _word_level_plan(teacher, data, words, remove_pattern, prefix, suffix)

    added = data.get("added_tokens") or []
    specials = {str(token["content"]) for token in added if token.get("special")}
    unk = _unk_token(model)
    keep_specials = {name for name in (unk, _pad_token(data, specials)) if name is not None}
    drop_specials = specials - keep_specials

    kept: list[str] = []
    removed_by_pattern = 0
    for token in _model_tokens(model):
        if token in drop_specials:
            continue
        if remove_pattern is not None and token != unk and remove_pattern.match(token):
            removed_by_pattern += 1
        else:
            kept.append(token)
    # Added tokens outside the model vocabulary (not special): keep them, after the model vocabulary.
    model_known = set(_model_tokens(model))
    extra_added = [
        token
        for token in added
        if not token.get("special")
        and token["content"] not in model_known
        and not (remove_pattern is not None and remove_pattern.match(token["content"]))
    ]
    removed_special = len(drop_specials)
    # Custom words are split the way the *new* tokenizer will split texts (prefix space everywhere).
    form_data = json.loads(teacher.to_str())
    _prefix_space_everywhere(form_data)
    form_tokenizer = Tokenizer.from_str(json.dumps(form_data))

    inputs = [[*prefix, teacher_vocab[token], *suffix] for token in kept]
    known = set(kept) | {str(token["content"]) for token in extra_added}
    new_tokens: list[str] = []
    new_inputs: list[list[int]] = []
    multiword: list[str] = []
    multiword_inputs: list[list[int]] = []
    duplicates = empty = pattern_skipped = 0
    for word in words:
        if not isinstance(word, str):
            raise ValueError(f"vocabulary entries must be str, got {type(word).__name__}.")
        normalized, pieces = _word_form(form_tokenizer, word)
        if not pieces:
            empty += 1
            continue
        form = pieces[0] if len(pieces) == 1 else normalized.strip()
        if remove_pattern is not None and (remove_pattern.match(form) or remove_pattern.match(word)):
            pattern_skipped += 1
            continue
        if form in known:
            duplicates += 1
            continue
        known.add(form)
        encoded = teacher.encode(word, add_special_tokens=True).ids
        if len(pieces) == 1:
            new_tokens.append(form)
            new_inputs.append(encoded)
        else:
            multiword.append(form)
            multiword_inputs.append(encoded)

    final_model_tokens = kept + new_tokens
    if not any(token not in keep_specials for token in final_model_tokens) and not multiword:
        raise ValueError(
            "The vocabulary is empty after removing tokens (only the unknown/padding tokens are left): "
            "check token_remove_pattern and the custom vocabulary."
        )
    max_score = 0.0
    if model["type"] == "Unigram":
        max_score = max((float(score) for _piece, score in model["vocab"]), default=0.0)
    # New Unigram pieces get the best existing score so that the segmentation prefers the whole word.
    _set_model_vocabulary(model, final_model_tokens, dict.fromkeys(new_tokens, max_score))
    if model["type"] == "BPE" and new_tokens:
        # Whole words added to a BPE vocabulary are unreachable through merges; this switch makes the
        # tokenizer take a pre-tokenized word directly when it is in the vocabulary.
        model["ignore_merges"] = True

    new_vocab = {token: index for index, token in enumerate(final_model_tokens)}
    added_out: list[dict[str, Any]] = []
    for token in added:
        content = str(token["content"])
        if content in keep_specials and content in new_vocab:
            added_out.append({**token, "id": new_vocab[content]})
    next_id = len(final_model_tokens)
    for token in extra_added:
        added_out.append({**token, "id": next_id})
        next_id += 1
    extra_inputs = [[*prefix, teacher_vocab[str(token["content"])], *suffix] for token in extra_added]
    for content in multiword:
        added_out.append(_added_token(content, next_id))
        next_id += 1

    data["added_tokens"] = added_out
    data["post_processor"] = None
    data["padding"] = None
    data["truncation"] = None
    _prefix_space_everywhere(data)
    new_tokenizer = Tokenizer.from_str(json.dumps(data, ensure_ascii=False))
    stats = VocabularyStats(
        removed_by_pattern=removed_by_pattern,
        removed_special=removed_special,
        added=len(new_tokens),
        added_multiword=len(multiword),
        duplicates=duplicates,
        empty=empty,
        pattern_skipped=pattern_skipped,
    )
    _log_stats(stats)
    return VocabularyPlan(new_tokenizer, inputs + new_inputs + extra_inputs + multiword_inputs, stats)


def _added_token(content: str, token_id: int) -> dict[str, Any]:
    """Describe the added token of a multi-word phrase.

    `normalized=True` because the content is stored normalised and must match normalised text;
    `lstrip=True` so the space before the phrase is absorbed instead of becoming a stray token for
    tokenizers that keep spaces (byte-level, metaspace).
    """
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": True,
        "rstrip": False,
        "normalized": True,
        "special": False,
    }


def _word_level_plan(
    teacher: Tokenizer,
    data: dict[str, Any],
    words: list[str],
    remove_pattern: re.Pattern[str] | None,
    prefix: list[int],
    suffix: list[int],
) -> VocabularyPlan:
    """Build a word-level tokenizer holding only `words` (see `build_vocabulary`)."""
    splitter = pre_tokenizers.BertPreTokenizer()
    normalizer = teacher.normalizer
    unk = _unk_token(data["model"]) or "[UNK]"
    singles: list[str] = []
    single_inputs: list[list[int]] = []
    multiword: list[str] = []
    multiword_inputs: list[list[int]] = []
    seen = {unk}
    duplicates = empty = pattern_skipped = 0
    for word in words:
        if not isinstance(word, str):
            raise ValueError(f"vocabulary entries must be str, got {type(word).__name__}.")
        normalized = (normalizer.normalize_str(word) if normalizer is not None else word).strip()
        pieces = [piece for piece, _ in splitter.pre_tokenize_str(normalized)]
        if not pieces:
            empty += 1
            continue
        if remove_pattern is not None and remove_pattern.match(normalized):
            pattern_skipped += 1
            continue
        if normalized in seen:
            duplicates += 1
            continue
        seen.add(normalized)
        encoded = teacher.encode(word, add_special_tokens=True).ids
        if len(pieces) == 1:
            singles.append(normalized)
            single_inputs.append(encoded)
        else:
            multiword.append(normalized)
            multiword_inputs.append(encoded)
    if not singles and not multiword:
        raise ValueError("Word-level distillation needs a non-empty vocabulary of words.")
    # The unknown token gets the teacher's embedding of an empty text; encoding drops it anyway.
    tokens = [unk, *singles]
    added = [
        {
            "id": 0,
            "content": unk,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
    ]
    added.extend(_added_token(content, len(tokens) + index) for index, content in enumerate(multiword))
    description = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": data.get("normalizer"),
        "pre_tokenizer": json.loads(splitter.__getstate__()),
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {token: i for i, token in enumerate(tokens)}, "unk_token": unk},
    }
    new_tokenizer = Tokenizer.from_str(json.dumps(description, ensure_ascii=False))
    unk_input = [*prefix, *suffix] or teacher.encode("", add_special_tokens=True).ids
    stats = VocabularyStats(
        added=len(singles),
        added_multiword=len(multiword),
        duplicates=duplicates,
        empty=empty,
        pattern_skipped=pattern_skipped,
    )
    _log_stats(stats)
    return VocabularyPlan(new_tokenizer, [unk_input, *single_inputs, *multiword_inputs], stats)


def _log_stats(stats: VocabularyStats) -> None:
    """Log what the vocabulary surgery did, at info level (warnings for skipped custom entries)."""
    if stats.removed_by_pattern or stats.removed_special:
        logger.info(
            "Removed %d tokens matching the pattern and %d special tokens.",
            stats.removed_by_pattern,
            stats.removed_special,
        )
    if stats.added or stats.added_multiword:
        logger.info("Added %d words and %d multi-word tokens.", stats.added, stats.added_multiword)
    skipped = stats.duplicates + stats.empty + stats.pattern_skipped
    if skipped:
        logger.warning(
            "Skipped %d vocabulary entries (%d already present, %d empty, %d matching the removal pattern).",
            skipped,
            stats.duplicates,
            stats.empty,
            stats.pattern_skipped,
        )
