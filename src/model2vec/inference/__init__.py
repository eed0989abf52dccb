"""Torch-free prediction: a static model plus a scikit-learn head (`StaticModelPipeline`).

Needs scikit-learn and skops (the `inference` extra); importing this package never imports torch.
"""

from __future__ import annotations

import importlib.util

INFERENCE_EXTRA = 'pip install "model2vec[inference]"'

# Checked before the submodules are imported, so a missing extra gives one clear message instead of a
# traceback from deep inside scikit-learn or skops.
for _module, _package in (("sklearn", "scikit-learn"), ("skops", "skops")):
    if importlib.util.find_spec(_module) is None:
        raise ImportError(f"model2vec.inference needs {_package}; install it with: {INFERENCE_EXTRA}")

from model2vec.inference.evaluation import evaluate_single_or_multi_label  # noqa: E402
from model2vec.inference.model import (  # noqa: E402
    StaticModelPipeline,
    UntrustedTypesError,
    allowed_type,
    load_head,
    save_head,
)

__all__ = [
    "StaticModelPipeline",
    "UntrustedTypesError",
    "allowed_type",
    "evaluate_single_or_multi_label",
    "load_head",
    "save_head",
]
