"""Re-regularise a trained static model: PCA, then SIF weights from real token counts.

Training fits the table to one corpus; PCA keeps its main directions (and makes the model smaller),
and smooth-inverse-frequency weights `w = a / (a + p)` (`a = 1e-3` by default, `p` each token's share
of the corpus's tokens) damp frequent tokens that dominate a mean. Both are pure functions of the
table and the counts, from `model2vec.distill.postprocess`.
"""

from __future__ import annotations

import numpy as np

from model2vec.distill.postprocess import PCADims, apply_pca, count_probabilities, sif_weights
from model2vec.model import StaticModel

DEFAULT_SIF_COEFFICIENT = 1e-3


def reregularize(
    model: StaticModel,
    token_counts: np.ndarray | None,
    pca_dims: PCADims = 256,
    sif_coefficient: float | None = DEFAULT_SIF_COEFFICIENT,
) -> StaticModel:
    """Apply PCA to the table, then scale each row by its SIF weight.

    :param model: A float model without token mapping (the output of training).
    :param token_counts: How often each token occurred in the corpus (length = rows); None skips SIF.
        Counts are add-one smoothed, so unseen tokens get a weight just under 1.
    :param pca_dims: See `model2vec.distill.postprocess.resolve_pca_dims` (None: no PCA).
    :param sif_coefficient: `a` in (0, 1), or None for no weighting.
    :return: A new float32 model with the same tokenizer and an updated config.
    :raises ValueError: If the counts do not match the rows, or the model uses a token mapping.
    """
    if model.token_mapping is not None:
        raise ValueError("reregularize needs one row per token (no vocabulary quantisation).")
    table = np.asarray(model.embedding, dtype=np.float32)
    if model.weights is not None:
        table = table * np.asarray(model.weights, dtype=np.float32)[:, None]
    weights = None
    if sif_coefficient is not None and token_counts is not None:
        counts = np.asarray(token_counts, dtype=np.float64)
        if counts.shape != (len(table),):
            raise ValueError(f"token_counts must have {len(table)} entries (one per row), got {counts.shape}.")
        weights = sif_weights(count_probabilities(counts), sif_coefficient)
    vectors = apply_pca(table, pca_dims)
    weighting = "none"
    if weights is not None:
        vectors = vectors * weights[:, None]
        weighting = "corpus_counts"
    config = dict(model.config)
    config["apply_pca"] = pca_dims
    config["sif_coefficient"] = sif_coefficient if weighting != "none" else None
    config["reregularize"] = {"pca_dims": pca_dims, "sif_coefficient": sif_coefficient, "token_weights": weighting}
    return StaticModel(
        vectors=np.ascontiguousarray(vectors, dtype=np.float32),
        tokenizer=model.tokenizer,
        config=config,
        normalize=model.normalize,
        base_model_name=model.base_model_name,
        language=model.language,
    )
