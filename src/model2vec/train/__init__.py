"""Fine-tune static models: classifiers and similarity heads, exported as torch-free pipelines.

Needs torch, scikit-learn and skops (the `train` extra).
"""

from __future__ import annotations

import importlib.util

TRAIN_EXTRA = 'pip install "model2vec[train]"'

# Checked before any submodule is imported, so a missing extra gives one clear message.
for _module, _package in (("torch", "torch"), ("sklearn", "scikit-learn"), ("skops", "skops")):
    if importlib.util.find_spec(_module) is None:
        raise ImportError(f"model2vec.train needs {_package}; install it with: {TRAIN_EXTRA}")

from model2vec.train.base import FinetunableStaticModel, TextDataset  # noqa: E402
from model2vec.train.classifier import StaticModelForClassification  # noqa: E402
from model2vec.train.similarity import StaticModelForSimilarity  # noqa: E402

__all__ = ["FinetunableStaticModel", "StaticModelForClassification", "StaticModelForSimilarity", "TextDataset"]
