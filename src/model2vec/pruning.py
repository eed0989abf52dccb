"""Vocabulary pruning: keep the tokens a model needs, drop the rest from its table and its tokenizer.

A multilingual teacher brings a 250k-piece vocabulary, and a Unigram tokenizer's memory grows faster
than its vocabulary (long pieces of rare scripts make its trie deep): 250k pieces take ~270 MB in the
Rust tokenizer, the 100k most frequent ~85 MB. Pruning the pieces a corpus never uses shrinks the
model file, the tokenizer and the training time. Texts are still tokenised into the remaining pieces
(a Unigram tokenizer finds the best segmentation among the pieces it has), and every single-character
piece is kept by default so that no character of a known script becomes unknown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from model2vec.model import StaticModel

PRUNABLE_MODELS = ("Unigram", "WordPiece", "WordLevel")


def _pieces(model: dict[str, Any]) -> list[str]:
    """Return the model vocabulary's tokens in id order."""
    if model["type"] == "Unigram":
        return [str(piece) for piece, _ in model["vocab"]]
    vocab: dict[str, int] = model["vocab"]
    ordered = [""] * len(vocab)
    for token, index in vocab.items():
        ordered[index] = token
    return ordered


def _is_character(piece: str, model: dict[str, Any]) -> bool:
    """Whether a piece is one character, not counting a word-boundary marker ("▁" or "##")."""
    prefix = model.get("continuing_subword_prefix") or "##"
    for marker in ("\u2581", prefix):
        if piece.startswith(marker) and len(piece) > len(marker):
            piece = piece[len(marker) :]
            break
    return len(piece) <= 1


def _remap(node: Any, old_to_new: np.ndarray) -> Any:
    """Rewrite the token ids stored in post-processor / padding settings (`id`, `ids`, `pad_id`)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("id", "pad_id") and isinstance(value, int) and not isinstance(value, bool):
                out[key] = int(old_to_new[value]) if 0 <= value < len(old_to_new) and old_to_new[value] >= 0 else value
            elif key == "ids" and isinstance(value, list) and all(isinstance(v, int) for v in value):
                out[key] = [int(old_to_new[v]) for v in value if 0 <= v < len(old_to_new) and old_to_new[v] >= 0]
            else:
                out[key] = _remap(value, old_to_new)
        return out
    if isinstance(node, list):
        return [_remap(item, old_to_new) for item in node]
    return node


def prune_vocabulary(
    model: StaticModel,
    keep: Iterable[str] | Iterable[int] | np.ndarray,
    keep_characters: bool = True,
) -> StaticModel:
    """Return a copy of `model` that knows only the kept tokens (plus special tokens and, by default, characters).

    Token ids are renumbered in their old order; the table rows, per-token weights and token mapping
    follow. The unknown token and every added/special token are always kept. Texts made only of kept
    tokens encode exactly as before; other texts are segmented into the remaining pieces.

    :param model: A model whose tokenizer is Unigram, WordPiece or WordLevel (BPE merges name their
        pieces, so a BPE vocabulary cannot lose pieces safely).
    :param keep: Token strings, token ids, or a boolean mask with one entry per token.
    :param keep_characters: Also keep every single-character piece (so no character becomes unknown).
    :return: The pruned model (its config records `pruned_from` and the kept count).
    :raises ValueError: For a BPE (or other) tokenizer, an id out of range, a mask of the wrong length,
        unknown token strings, or nothing kept.
    """
    spec = json.loads(model.tokenizer.to_str())
    tokenizer_model = spec["model"]
    kind = tokenizer_model.get("type")
    if kind not in PRUNABLE_MODELS:
        raise ValueError(f"Cannot prune a {kind} tokenizer; pruning supports {', '.join(PRUNABLE_MODELS)}.")
    pieces = _pieces(tokenizer_model)
    size = model.tokenizer.get_vocab_size()
    if len(pieces) != size:
        raise ValueError("Tokens outside the model vocabulary (added tokens with their own ids) cannot be pruned.")
    mask = _keep_mask(keep, pieces)
    for token in spec.get("added_tokens") or []:
        mask[int(token["id"])] = True
    if model.unk_token_id is not None:
        mask[model.unk_token_id] = True
    if keep_characters:
        mask |= np.fromiter((_is_character(piece, tokenizer_model) for piece in pieces), dtype=bool, count=size)
    kept = np.flatnonzero(mask)
    if len(kept) == 0:
        raise ValueError("Nothing would be kept.")
    old_to_new = np.full(size, -1, dtype=np.int64)
    old_to_new[kept] = np.arange(len(kept))

    if kind == "Unigram":
        tokenizer_model["vocab"] = [tokenizer_model["vocab"][i] for i in kept.tolist()]
        if tokenizer_model.get("unk_id") is not None:
            tokenizer_model["unk_id"] = int(old_to_new[tokenizer_model["unk_id"]])
    else:
        tokenizer_model["vocab"] = {pieces[i]: int(old_to_new[i]) for i in kept.tolist()}
    for token in spec.get("added_tokens") or []:
        token["id"] = int(old_to_new[int(token["id"])])
    for key in ("post_processor", "padding"):
        if spec.get(key) is not None:
            spec[key] = _remap(spec[key], old_to_new)
    tokenizer = Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))

    mapping = model.token_mapping
    if mapping is not None:
        vectors, new_mapping = model.embedding, mapping[kept]
        # Rows no kept token points at are dropped too.
        rows, new_mapping = np.unique(new_mapping, return_inverse=True)
        vectors = vectors[rows]
    else:
        vectors, new_mapping = model.embedding[kept], None
    weights = None if model.weights is None else model.weights[kept]
    config = {**model.config, "pruned_from": size, "vocabulary_size": len(kept)}
    return StaticModel(
        np.ascontiguousarray(vectors),
        tokenizer,
        config=config,
        normalize=model.normalize,
        base_model_name=model.base_model_name,
        language=model.language,
        weights=weights,
        token_mapping=new_mapping,
        _copy_tokenizer=False,
    )


def _keep_mask(keep: Iterable[str] | Iterable[int] | np.ndarray, pieces: list[str]) -> np.ndarray:
    """Turn the `keep` argument of `prune_vocabulary` into a boolean mask over token ids."""
    size = len(pieces)
    if isinstance(keep, np.ndarray) and keep.dtype == bool:
        if keep.shape != (size,):
            raise ValueError(f"A keep mask needs one entry per token ({size}), got shape {keep.shape}.")
        copied: np.ndarray = keep.copy()
        return copied
    items = list(keep)
    mask = np.zeros(size, dtype=bool)
    if all(isinstance(item, str) for item in items):
        index = {piece: i for i, piece in enumerate(pieces)}
        unknown = [item for item in items if item not in index]
        if unknown:
            raise ValueError(f"{len(unknown)} tokens to keep are not in the vocabulary, e.g. {unknown[:3]}.")
        mask[[index[item] for item in items]] = True
        return mask
    ids = np.asarray(items, dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= size):
        raise ValueError(f"Token ids to keep must be in [0, {size}).")
    mask[ids] = True
    return mask
