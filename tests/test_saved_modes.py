"""Every writer's folders and files follow the umask (0755 / 0644 by default), not mkdtemp's 0700."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import make_model


@pytest.fixture(params=[0o022, 0o027])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield int(request.param)
    finally:
        os.umask(old)


def _export_onnx(folder: Path) -> None:
    pytest.importorskip("onnx")
    from model2vec.onnx import export

    export(make_model(), folder)


def _save_pipeline(folder: Path) -> None:
    pytest.importorskip("skops")
    from sklearn.linear_model import LogisticRegression

    from model2vec.inference import StaticModelPipeline

    model = make_model()
    head = LogisticRegression().fit(model.encode(["the cat", "a dog", "hello", "world"]), [0, 1, 0, 1])
    StaticModelPipeline(model, head).save_pretrained(folder)


WRITERS: dict[str, Callable[[Path], None]] = {
    "model": lambda folder: make_model(dtype="float16").save_pretrained(folder) and None,
    "onnx-export": _export_onnx,
    "pipeline": _save_pipeline,
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_written_modes_follow_the_umask(tmp_path: Path, umask: int, writer: str) -> None:
    folder = tmp_path / "out"
    WRITERS[writer](folder)
    paths = [folder, *folder.rglob("*")]
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert mode == expected, f"{path.relative_to(tmp_path)}: {oct(mode)} != {oct(expected)}"
    # Nothing of the save is left next to the folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
