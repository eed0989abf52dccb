"""Weight-space interpolation of two static models over one vocabulary.

Fine-tuning a static model for one task (retrieval, a classifier's encoder) moves its table away from
what made it good at the others. Averaging the fine-tuned table with the one it started from (as
WiSE-FT does for transformers) keeps most of the gain on the new task and gives back most of what the
other tasks lost; `interpolate` does it for two `StaticModel`s that share a tokenizer. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from model2vec.model import StaticModel, unshared


def token_table(model: StaticModel) -> np.ndarray:
    """Return the model's float32 row for every token, with token weights and any token mapping folded in.

    Encoding a text with the returned table (and no weights) gives the same vectors as the model itself,
    so tables of models with different storage (float16, int8 with scales, vocabulary-quantised) compare.

    :param model: Any `StaticModel`.
    :return: A `(vocabulary size, dim)` float32 array (a new array; the model is not modified).
    """
    table = np.asarray(model.embedding, dtype=np.float32)
    if model.token_mapping is not None:
        table = table[model.token_mapping]
    if model.weights is not None:
        table = table * np.asarray(model.weights, dtype=np.float32)[:, None]
    # Without weights or mapping a float32 table is still the model's own array: copy it (only then, as
    # a 250k-piece table is hundreds of MB), so callers may edit the result.
    return unshared(np.ascontiguousarray(table, dtype=np.float32), model.embedding)


def _vocabulary(model: StaticModel) -> dict[str, int] | None:
    get_vocab = getattr(model.tokenizer, "get_vocab", None)
    return get_vocab() if callable(get_vocab) else None


def interpolate(start: StaticModel, tuned: StaticModel, share: float) -> StaticModel:
    """Return the model whose table is `share * tuned + (1 - share) * start`, token by token.

    `share=0` gives `start`'s vectors, `share=1` `tuned`'s; values between trade the fine-tuned task
    against the others (0.5 kept the retrieval gain of the family's retrieval model while the other task
    types stayed within 0.3 of the model it started from; docs/models.md). Token weights, int8 scales and
    vocabulary quantisation are folded into the rows first, so the two may be stored differently.

    :param start: The model fine-tuning started from; the result keeps its tokenizer, config (with an
        `interpolation` record added), normalisation, base model name and language.
    :param tuned: The fine-tuned model: the same vocabulary and width as `start`.
    :param share: Weight of `tuned`, in [0, 1].
    :return: A new float32 model without token weights or mapping.
    :raises TypeError: If a model is not a `StaticModel` or `share` is not a real number.
    :raises ValueError: If `share` is outside [0, 1] or not finite, or the vocabularies or widths differ.
    """
    for name, model in (("start", start), ("tuned", tuned)):
        if not isinstance(model, StaticModel):
            raise TypeError(f"{name} must be a StaticModel, got {type(model).__name__}.")
    if isinstance(share, bool) or not isinstance(share, (int, float, np.floating, np.integer)):
        raise TypeError(f"share must be a number in [0, 1], got {type(share).__name__}.")
    share = float(share)
    if not 0.0 <= share <= 1.0:  # also rejects NaN
        raise ValueError(f"share must be in [0, 1], got {share}.")
    same_size = start.tokenizer.get_vocab_size() == tuned.tokenizer.get_vocab_size()
    if not same_size or _vocabulary(start) != _vocabulary(tuned):
        raise ValueError("start and tuned must share one vocabulary (the same tokens with the same ids).")
    if start.dim != tuned.dim:
        raise ValueError(f"start and tuned must have the same width, got {start.dim} and {tuned.dim}.")
    table = share * token_table(tuned) + (1.0 - share) * token_table(start)
    config = dict(start.config)
    config["interpolation"] = {"share": share}
    return StaticModel(
        vectors=table.astype(np.float32),
        tokenizer=start.tokenizer,
        config=config,
        normalize=start.normalize,
        base_model_name=start.base_model_name,
        language=start.language,
    )
