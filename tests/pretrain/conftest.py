"""A tiny sentence-transformers teacher and a tiny corpus for the pre-training tests (no downloads)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

collect_ignore = (
    ["test_featurize.py", "test_train.py", "test_pipeline.py"] if importlib.util.find_spec("torch") is None else []
)

SENTENCES = [
    "hello world",
    "the cat sat on the mat",
    "a big red dog",
    "the dogs sat on a mat !",
    "new york , new york",
    "hello cat , hello dog",
    "the red cat played",
    "a dog and a cat",
    "big new mat",
    "the world is big",
]


def corpus(n: int) -> list[str]:
    """`n` deterministic texts mixing the tiny vocabulary's words."""
    return [f"{SENTENCES[i % len(SENTENCES)]} {SENTENCES[(i * 7 + 3) % len(SENTENCES)]}" for i in range(n)]


@pytest.fixture(scope="session")
def teacher_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ..distill.conftest import save_sentence_transformers_folder

    return save_sentence_transformers_folder(tmp_path_factory.mktemp("teacher"))


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models train faster on one thread (and far faster when other processes share the CPU)."""
    if importlib.util.find_spec("torch") is None:
        yield None
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield None
    torch.set_num_threads(before)
