"""Optional-dependency gate of `model2vec.evaluation` (the `eval` extra)."""

from __future__ import annotations

import importlib.util

EVAL_EXTRA = 'pip install "model2vec[eval]"'


def require(module: str, package: str | None = None, install: str = EVAL_EXTRA) -> None:
    """Check that an optional dependency can be imported, without importing it.

    :param module: Top-level module name, e.g. "sklearn".
    :param package: Distribution name to mention, e.g. "scikit-learn" (defaults to `module`).
    :param install: The command that installs it.
    :raises ImportError: If the module is not installed; the message names the command to run.
    """
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"model2vec.evaluation needs {package or module}; install it with: {install}")
