"""Torch-free prediction: a static model plus a scikit-learn head (`StaticModelPipeline`).

Needs scikit-learn and skops (the `inference` extra); importing this package never imports torch.
"""

from __future__ import annotations

import importlib

INFERENCE_EXTRA = 'pip install "model2vec[inference]"'

# Imported before the submodules, so a missing (or broken) extra gives one clear message instead of a
# traceback from deep inside a submodule; the original error stays chained.
for _module, _package in (("sklearn", "scikit-learn"), ("skops.io", "skops")):
    try:
        importlib.import_module(_module)
    except ImportError as _error:
        raise ImportError(
            f"model2vec.inference needs {_package} ({_error}); install it with: {INFERENCE_EXTRA}"
        ) from _error

from model2vec.inference.evaluation import evaluate_regression, evaluate_single_or_multi_label  # noqa: E402
from model2vec.inference.model import StaticModelPipeline, load_head, save_head  # noqa: E402
from model2vec.inference.trust import UntrustedTypesError, allowed_type, check_head_file  # noqa: E402

__all__ = [
    "StaticModelPipeline",
    "UntrustedTypesError",
    "allowed_type",
    "check_head_file",
    "evaluate_regression",
    "evaluate_single_or_multi_label",
    "load_head",
    "save_head",
]
