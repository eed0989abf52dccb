"""Integration: fine-tuning the distilled default model on the dev suite's trec task (skips when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ..conftest import SHARED

MODEL = Path(__file__).resolve().parents[2] / "models" / "minilm-distilled"
DATA = SHARED / "data" / "eval" / "classification"

pytestmark = pytest.mark.integration


def _split(name: str) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in (DATA / f"trec.{name}.jsonl").read_text().splitlines() if line.strip()]
    return [r["text"] for r in rows], [r["label"] for r in rows]


@pytest.fixture(scope="module")
def trec() -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    if not (DATA / "trec.train.jsonl").is_file():
        pytest.skip(f"dev-suite classification data not found at {DATA}")
    if not (MODEL / "model.safetensors").is_file():
        pytest.skip(f"distilled default model not found at {MODEL} (run `make distill`)")
    return _split("train"), _split("test")


def test_fine_tuned_beats_logistic_regression_on_frozen_embeddings(
    trec: tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]], tmp_path: Path
) -> None:
    import torch
    from sklearn.linear_model import LogisticRegression

    from model2vec import StaticModel
    from model2vec.inference import StaticModelPipeline
    from model2vec.train import StaticModelForClassification

    torch.set_num_threads(2)
    (train_x, train_y), (test_x, test_y) = trec
    model = StaticModel.from_pretrained(MODEL)
    baseline = LogisticRegression(max_iter=1000, random_state=42).fit(model.encode(train_x), train_y)
    baseline_accuracy = np.mean(baseline.predict(model.encode(test_x)) == np.asarray(test_y))

    classifier = StaticModelForClassification.from_static_model(model=model)
    classifier.fit(train_x, train_y, batch_size=512, max_epochs=10, early_stopping_patience=2, show_progress_bar=False)
    pipeline = classifier.to_pipeline()
    pipeline.save_pretrained(tmp_path / "trec")
    loaded = StaticModelPipeline.from_pretrained(tmp_path / "trec")
    predictions = loaded.predict(test_x)
    np.testing.assert_array_equal(predictions, classifier.predict(test_x))
    accuracy = np.mean(predictions == np.asarray(test_y))
    assert accuracy > baseline_accuracy, (accuracy, baseline_accuracy)
    assert loaded.model.base_model_name == "sentence-transformers/all-MiniLM-L6-v2"
