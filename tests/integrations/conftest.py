"""Fixtures for the tests against real third-party packages (`pytest -m integrations`).

The packages live in `.venv-integrations` (see `docs/integrations/README.md`); in any other environment
each test module skips with the name of the package it needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel

from ..conftest import make_model

DISTILLED = Path(__file__).resolve().parents[2] / "models" / "minilm-distilled"

# Ordinary sentences whose tokens are all in the all-MiniLM-L6-v2 vocabulary (and in the tiny test
# vocabulary as far as it goes), so every library must give exactly our vectors for them.
TEXTS = [
    "The cat sat on the mat.",
    "Stock markets fell sharply on Monday.",
    "A big red dog!",
    "hello world",
]


def pytest_configure(config: pytest.Config) -> None:
    # Registered here as well as (eventually) in pyproject so `--strict-markers` accepts the marker in
    # every environment.
    config.addinivalue_line("markers", "integrations: tests against real third-party packages (.venv-integrations)")


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved model folder: the distilled default model when it was built, else a tiny random one."""
    if (DISTILLED / "model.safetensors").is_file():
        return DISTILLED
    folder = tmp_path_factory.mktemp("tiny") / "model"
    make_model(dim=16, normalize=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def model(model_folder: Path) -> StaticModel:
    return StaticModel.from_pretrained(model_folder)


def assert_same_vectors(theirs: object, ours: np.ndarray, atol: float = 1e-6) -> None:
    """Compare a library's output (array, list of arrays or nested lists) with our `encode`."""
    array = np.asarray(theirs, dtype=np.float64)
    assert array.shape == ours.shape, (array.shape, ours.shape)
    np.testing.assert_allclose(array, ours, rtol=0, atol=atol)
