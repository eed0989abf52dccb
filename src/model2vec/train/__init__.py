"""Fine-tune static models: classifiers, regressors, similarity, pair and retrieval training.

Classifiers and regressors export torch-free pipelines; the others export a plain static model.
`align_languages` fine-tunes a multilingual model on translation pairs.

Needs torch, scikit-learn and skops (the `train` extra).
"""

from __future__ import annotations

import importlib

TRAIN_EXTRA = 'pip install "model2vec[train]"'

# Imported before any submodule, so a missing (or broken) extra gives one clear message; the original
# error stays chained.
for _module, _package in (("torch", "torch"), ("sklearn", "scikit-learn"), ("skops.io", "skops")):
    try:
        importlib.import_module(_module)
    except ImportError as _error:
        raise ImportError(f"model2vec.train needs {_package} ({_error}); install it with: {TRAIN_EXTRA}") from _error

from model2vec.train.alignment import align_languages  # noqa: E402
from model2vec.train.base import FinetunableStaticModel, TextDataset  # noqa: E402
from model2vec.train.classifier import StaticModelForClassification  # noqa: E402
from model2vec.train.pairs import StaticModelForPairSimilarity  # noqa: E402
from model2vec.train.regression import StaticModelForRegression  # noqa: E402
from model2vec.train.retrieval import StaticModelForRetrieval  # noqa: E402
from model2vec.train.similarity import StaticModelForSimilarity  # noqa: E402

__all__ = [
    "FinetunableStaticModel",
    "StaticModelForClassification",
    "StaticModelForPairSimilarity",
    "StaticModelForRegression",
    "StaticModelForRetrieval",
    "StaticModelForSimilarity",
    "TextDataset",
    "align_languages",
]
