"""StaticModelPipeline: prediction, save/load, the skops allow-list, hub paths and torch-free loading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from model2vec.format import parse_front_matter
from model2vec.inference import StaticModelPipeline, UntrustedTypesError, allowed_type, load_head, save_head

from ..conftest import make_model
from .helpers import CustomHead, toy_multilabel, toy_task

REPO_ROOT = Path(__file__).resolve().parents[2]


def logistic_pipeline(normalize: bool = True) -> tuple[StaticModelPipeline, list[str], list[str]]:
    model = make_model(dim=16, normalize=normalize)
    texts, labels = toy_task()
    head = LogisticRegression(max_iter=500).fit(model.encode(texts), labels)
    return StaticModelPipeline(model, head), texts, labels


def test_predict_matches_the_head_on_encodings() -> None:
    pipeline, texts, labels = logistic_pipeline()
    embeddings = pipeline.model.encode(texts)
    np.testing.assert_array_equal(pipeline.predict(texts), pipeline.head.predict(embeddings))
    np.testing.assert_allclose(pipeline.predict_proba(texts), pipeline.head.predict_proba(embeddings))
    # The toy task is separable on these vectors; a head that learnt it is well above chance.
    assert np.mean(pipeline.predict(texts) == np.asarray(labels)) > 0.8
    assert list(pipeline.classes_) == ["neg", "pos"]


def test_single_text_and_empty_input() -> None:
    pipeline, texts, _ = logistic_pipeline()
    assert pipeline.predict(texts[0]).tolist() == pipeline.predict(texts[:1]).tolist()
    assert pipeline.predict([]).shape == (0,)
    assert pipeline.predict_proba([]).shape == (0, 2)


def test_evaluate_report_and_length_check() -> None:
    pipeline, texts, labels = logistic_pipeline()
    report = pipeline.evaluate(texts, labels, output_dict=True)
    assert isinstance(report, dict)
    assert report["accuracy"] == pytest.approx(np.mean(pipeline.predict(texts) == np.asarray(labels)))
    assert "pos" in str(pipeline.evaluate(texts, labels))
    with pytest.raises(ValueError, match="must match"):
        pipeline.evaluate(texts, labels[:-1])


def test_multilabel_head_predicts_lists_of_labels(tmp_path: Path) -> None:
    model = make_model(dim=16, normalize=True)
    texts, labels = toy_multilabel()
    indicator = np.asarray([[int("neg" in row), int("pos" in row)] for row in labels])
    head = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=0).fit(model.encode(texts), indicator)
    pipeline = StaticModelPipeline(model, head, multilabel_classes=["neg", "pos"])
    assert pipeline.multilabel
    predicted = pipeline.predict(texts)
    assert isinstance(predicted, list) and all(set(row) <= {"neg", "pos"} for row in predicted)
    exact = np.mean([sorted(p) == sorted(t) for p, t in zip(predicted, labels, strict=True)])
    assert exact > 0.8
    pipeline.save_pretrained(tmp_path / "ml")
    loaded = StaticModelPipeline.from_pretrained(tmp_path / "ml")
    assert loaded.multilabel and loaded.multilabel_classes == ["neg", "pos"]
    assert loaded.predict(texts) == predicted
    report = loaded.evaluate(texts, labels, output_dict=True)
    assert isinstance(report, dict) and "pos" in report


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    pipeline, texts, _ = logistic_pipeline()
    folder = pipeline.save_pretrained(tmp_path / "pipe")
    assert {"pipeline.skops", "pipeline.json", "README.md", "model.safetensors"} <= {p.name for p in folder.iterdir()}
    loaded = StaticModelPipeline.from_pretrained(folder)
    np.testing.assert_array_equal(loaded.predict(texts), pipeline.predict(texts))
    np.testing.assert_array_equal(loaded.predict_proba(texts), pipeline.predict_proba(texts))
    assert loaded.model.normalize is True
    # Saving again over the folder keeps unrelated files and leaves no staging folders behind.
    (folder / "notes.txt").write_text("mine")
    pipeline.save_pretrained(folder)
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_missing_head_is_a_clear_error(tmp_path: Path) -> None:
    make_model().save_pretrained(tmp_path / "plain")
    with pytest.raises(FileNotFoundError, match="pipeline head"):
        StaticModelPipeline.from_pretrained(tmp_path / "plain")


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("sklearn.neural_network._stochastic_optimizers.AdamOptimizer", True),
        ("sklearn.linear_model._logistic.LogisticRegression", True),
        ("sklearn.linear_model.LogisticRegression", False),  # a re-export: skops names the defining module
        ("sklearn.utils.check_array", False),  # a function, not a class
        ("sklearn.not_a_module.Thing", False),
        ("numpy.load", False),
        ("builtins.eval", False),
        ("posix.system", False),
        ("sklearnx.Thing", False),
    ],
)
def test_allowed_type(name: str, allowed: bool) -> None:
    assert allowed_type(name) is allowed


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scikit_learn_heads_load_without_opt_in(tmp_path: Path) -> None:
    # A fitted MLPClassifier holds an AdamOptimizer, which skops itself does not trust.
    rng = np.random.default_rng(0)
    features, y = rng.normal(size=(40, 4)), np.asarray([0, 1] * 20)
    for head in (
        MLPClassifier(max_iter=20).fit(features, y),
        make_pipeline(StandardScaler(), LogisticRegression()).fit(features, y),
    ):
        save_head(head, tmp_path / "head.skops")
        np.testing.assert_array_equal(load_head(tmp_path / "head.skops").predict(features), head.predict(features))


def test_function_in_head_is_refused(tmp_path: Path) -> None:
    head = make_pipeline(FunctionTransformer(func=np.load), LogisticRegression())
    sio.dump(head, tmp_path / "head.skops")
    with pytest.raises(UntrustedTypesError, match=r"numpy\.load"):
        load_head(tmp_path / "head.skops")


def test_custom_class_in_pipeline_is_refused_unless_trusted(tmp_path: Path) -> None:
    model = make_model(dim=16)
    StaticModelPipeline(model, CustomHead()).save_pretrained(tmp_path / "custom")
    with pytest.raises(UntrustedTypesError) as error:
        StaticModelPipeline.from_pretrained(tmp_path / "custom")
    assert "tests.train.helpers.CustomHead" in str(error.value)
    assert "trust_remote_code=True" in str(error.value)
    loaded = StaticModelPipeline.from_pretrained(tmp_path / "custom", trust_remote_code=True)
    assert isinstance(loaded.head, CustomHead)
    assert loaded.predict(["hello"]).tolist() == ["pos"]


def test_push_to_hub_keeps_the_pipeline_card(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    class FakeApi:
        def __init__(self, token: str | None = None) -> None:
            seen["token"] = token

        def create_repo(self, **kwargs: Any) -> None:
            seen["create"] = kwargs

        def upload_folder(self, **kwargs: Any) -> str:
            folder = Path(kwargs["folder_path"])
            seen["files"] = sorted(p.name for p in folder.iterdir())
            seen["card"] = (folder / "README.md").read_text(encoding="utf-8")
            seen["reloaded"] = StaticModelPipeline.from_pretrained(folder)
            return "https://hub/commit/2"

    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    pipeline, texts, _ = logistic_pipeline()
    assert pipeline.push_to_hub("org/clf", token="t") == "https://hub/commit/2"
    assert {"pipeline.skops", "pipeline.json", "README.md"} <= set(seen["files"])
    card = seen["card"]
    assert 'StaticModelPipeline.from_pretrained("org/clf")' in card
    assert parse_front_matter(card)["library_name"] == "model2vec"
    np.testing.assert_array_equal(seen["reloaded"].predict(texts), pipeline.predict(texts))


def test_from_hub_fetches_the_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline, texts, _ = logistic_pipeline()
    saved = pipeline.save_pretrained(tmp_path / "remote")
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    # hub.resolve_model_path asks snapshot_download for the model files and the head together.
    for file in saved.iterdir():
        if file.is_file():
            (snapshot / file.name).write_bytes(file.read_bytes())
    patterns: list[list[str]] = []

    def fake_snapshot(repo_id: str, **kwargs: Any) -> str:
        assert repo_id == "org/clf"
        patterns.append(kwargs["allow_patterns"])
        return str(snapshot)

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    loaded = StaticModelPipeline.from_pretrained("org/clf")
    assert all("*.skops" in p for p in patterns)
    np.testing.assert_array_equal(loaded.predict(texts), pipeline.predict(texts))


def _run_without(module: str, code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run Python code in a subprocess where `import <module>` fails."""
    blocker = tmp_path / f"block_{module}"
    blocker.mkdir(exist_ok=True)
    (blocker / f"{module}.py").write_text(f"raise ImportError('{module} is blocked in this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), str(REPO_ROOT / "src"), str(REPO_ROOT)])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)


def test_trained_pipeline_predicts_identically_where_torch_cannot_be_imported(tmp_path: Path) -> None:
    from model2vec.train import StaticModelForClassification

    texts, labels = toy_task()
    classifier = StaticModelForClassification.from_static_model(model=make_model(dim=16), hidden_dim=16)
    classifier.fit(texts, labels, max_epochs=3, random_seed=0, show_progress_bar=False)
    pipeline = classifier.to_pipeline()
    pipeline.save_pretrained(tmp_path / "pipe")
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    code = (
        "import json, sys\n"
        "try:\n    import torch\nexcept ImportError:\n    pass\nelse:\n    raise SystemExit('torch imported')\n"
        "from model2vec.inference import StaticModelPipeline\n"
        "p = StaticModelPipeline.from_pretrained('pipe')\n"
        "texts = json.load(open('texts.json'))\n"
        "print(json.dumps({'labels': p.predict(texts).tolist(), 'proba': p.predict_proba(texts).tolist(),\n"
        "                  'torch_loaded': 'torch' in sys.modules and sys.modules['torch'] is not None}))\n"
    )
    result = _run_without("torch", code, tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["labels"] == pipeline.predict(texts).tolist() == classifier.predict(texts).tolist()
    np.testing.assert_array_equal(np.asarray(out["proba"], dtype=np.float32), pipeline.predict_proba(texts))


def test_inference_without_scikit_learn_names_the_extra(tmp_path: Path) -> None:
    result = _run_without("sklearn", "import model2vec.inference", tmp_path)
    assert result.returncode != 0
    assert 'pip install "model2vec[inference]"' in result.stderr


def test_train_without_torch_names_the_extra(tmp_path: Path) -> None:
    result = _run_without("torch", "import model2vec.train.base", tmp_path)
    assert result.returncode != 0
    assert 'pip install "model2vec[train]"' in result.stderr
