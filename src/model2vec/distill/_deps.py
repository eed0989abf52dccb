"""Gated imports: the heavy libraries distillation needs, with errors that say what to install."""

from __future__ import annotations

import importlib
from types import ModuleType

_EXTRA_OF = {
    "torch": "distill",
    "transformers": "distill",
    "sklearn": "distill",
    "onnxruntime": "onnx",
}


def require(module: str) -> ModuleType:
    """Import an optional dependency, or explain which extra provides it.

    :param module: The top-level module name, e.g. "torch" or "onnxruntime".
    :return: The imported module.
    :raises ImportError: Naming the `pip install "model2vec[...]"` command that provides the module. The
        original error is chained, so a broken installation (not just a missing one) stays visible.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        extra = _EXTRA_OF.get(module.split(".")[0], "distill")
        raise ImportError(
            f"Distillation needs the '{module}' package, which could not be imported ({error}). "
            f'Install it with: pip install "model2vec[{extra}]"'
        ) from error
