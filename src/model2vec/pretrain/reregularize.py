"""Re-regularise a trained static model: PCA, then SIF weights from real token counts.

Training fits the table to one corpus; PCA keeps its main directions (and makes the model smaller),
and smooth-inverse-frequency weights `w = a / (a + p)` (`a = 1e-3` by default, `p` each token's share
of the corpus's tokens) damp frequent tokens that dominate a mean. Both are pure functions of the
table and the counts, from `model2vec.distill.postprocess`.
"""

from __future__ import annotations

import numpy as np

from model2vec.distill.postprocess import PCADims, apply_pca, count_probabilities, sif_weights, zipf_probabilities
from model2vec.model import StaticModel

DEFAULT_SIF_COEFFICIENT = 1e-3


def reregularize(
    model: StaticModel,
    token_counts: np.ndarray | None,
    pca_dims: PCADims = 256,
    sif_coefficient: float | None = DEFAULT_SIF_COEFFICIENT,
    drop_components: int = 0,
    sif_source: str = "counts",
) -> StaticModel:
    """Apply PCA to the table, then scale each row by its SIF weight.

    `drop_components=k` fits `pca_dims + k` components and drops the `k` largest ("all but the top"):
    in a multilingual table they mostly tell languages and token frequency apart, and removing them
    raised bitext mining and STS (docs/multilingual.md). `sif_source="zipf"` weights tokens by their
    vocabulary rank (as `distill` does) instead of corpus counts, for corpora too small to count a
    large vocabulary.

    :param model: A float model without token mapping (the output of training).
    :param token_counts: How often each token occurred in the corpus (length = rows); None skips SIF.
        Counts are add-one smoothed, so unseen tokens get a weight just under 1.
    :param pca_dims: See `model2vec.distill.postprocess.resolve_pca_dims` (None: no PCA).
    :param sif_coefficient: `a` in (0, 1), or None for no weighting.
    :param drop_components: Leading principal components to remove (needs an int `pca_dims`).
    :param sif_source: "counts" (from `token_counts`) or "zipf" (from each token's rank in the vocabulary).
    :return: A new float32 model with the same tokenizer and an updated config.
    :raises ValueError: If the counts do not match the rows, the model uses a token mapping, or
        `drop_components` / `sif_source` is invalid.
    """
    if isinstance(drop_components, bool) or not isinstance(drop_components, int) or drop_components < 0:
        raise ValueError(f"drop_components must be a non-negative int, got {drop_components!r}.")
    if drop_components and (isinstance(pca_dims, bool) or not isinstance(pca_dims, int)):
        raise ValueError("drop_components needs pca_dims as an int number of dimensions.")
    if sif_source not in ("counts", "zipf"):
        raise ValueError(f"sif_source must be 'counts' or 'zipf', got {sif_source!r}.")
    if model.token_mapping is not None:
        raise ValueError("reregularize needs one row per token (no vocabulary quantisation).")
    table = np.asarray(model.embedding, dtype=np.float32)
    if model.weights is not None:
        table = table * np.asarray(model.weights, dtype=np.float32)[:, None]
    weights = None
    if sif_coefficient is not None and sif_source == "zipf":
        weights = sif_weights(zipf_probabilities(len(table)), sif_coefficient)
    elif sif_coefficient is not None and token_counts is not None:
        counts = np.asarray(token_counts, dtype=np.float64)
        if counts.shape != (len(table),):
            raise ValueError(f"token_counts must have {len(table)} entries (one per row), got {counts.shape}.")
        weights = sif_weights(count_probabilities(counts), sif_coefficient)
    if drop_components:
        assert isinstance(pca_dims, int)
        vectors = apply_pca(table, pca_dims + drop_components)[:, drop_components:]
    else:
        vectors = apply_pca(table, pca_dims)
    weighting = "none"
    if weights is not None:
        vectors = vectors * weights[:, None]
        weighting = "zipf" if sif_source == "zipf" else "corpus_counts"
    config = dict(model.config)
    config["apply_pca"] = pca_dims
    config["sif_coefficient"] = sif_coefficient if weighting != "none" else None
    config["reregularize"] = {
        "pca_dims": pca_dims,
        "sif_coefficient": sif_coefficient,
        "token_weights": weighting,
        "drop_components": drop_components,
    }
    return StaticModel(
        vectors=np.ascontiguousarray(vectors, dtype=np.float32),
        tokenizer=model.tokenizer,
        config=config,
        normalize=model.normalize,
        base_model_name=model.base_model_name,
        language=model.language,
    )
