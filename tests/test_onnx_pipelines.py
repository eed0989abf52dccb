"""ONNX export of pipelines (classifier and regressor heads) and of padded input_ids + attention_mask graphs."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from tokenizers import Tokenizer

from model2vec import StaticModel
from model2vec.inference import StaticModelPipeline

from .conftest import make_model
from .test_onnx import MODELS, TEXTS, assert_matches, flat_inputs, run_transformers_js
from .train.helpers import toy_multilabel, toy_task

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from model2vec.onnx import build_graph, export, export_pipeline, register  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def padded_inputs(tokenizer: Tokenizer, texts: list[str], pad_id: int) -> dict[str, np.ndarray]:
    """What fastembed feeds a model: the tokenizer's ids padded to the longest text, and the mask."""
    tokenizer = Tokenizer.from_str(tokenizer.to_str())
    tokenizer.enable_padding(pad_id=pad_id, pad_token=tokenizer.id_to_token(pad_id) or "")
    encodings = tokenizer.encode_batch(texts)
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
    }


def session(path: Path) -> Any:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


# -- padded encoders -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_padded_graph_matches_encode(name: str, tmp_path: Path) -> None:
    model = MODELS[name]()
    path = export(model, tmp_path / "out", padded=True)
    inputs = padded_inputs(model.tokenizer, TEXTS, 0)
    embeddings, tokens = session(path).run(["embeddings", "last_hidden_state"], inputs)
    assert_matches(embeddings, model.encode(TEXTS))
    # A mean of the token vectors over the attention mask (transformers.js pooling "mean") gives the
    # unnormalised pooled vector.
    mask = inputs["attention_mask"][..., None].astype(np.float32)
    mean = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
    assert_matches(mean, model.encode(TEXTS, normalize=False))


def test_padded_graph_ignores_padding_and_batch_neighbours(tmp_path: Path) -> None:
    model = MODELS["float16-weights-normalize"]()
    run = session(export(model, tmp_path / "out", padded=True))
    together = run.run(["embeddings"], padded_inputs(model.tokenizer, TEXTS, 0))[0]
    alone = np.concatenate([run.run(["embeddings"], padded_inputs(model.tokenizer, [t], 0))[0] for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    # Any pad id works: the mask decides.
    other_pad = run.run(["embeddings"], padded_inputs(model.tokenizer, TEXTS, 5))[0]
    np.testing.assert_allclose(together, other_pad, atol=1e-6)


def test_padded_folder_has_transformers_style_files(tmp_path: Path) -> None:
    model = make_model(normalize=True)
    out = tmp_path / "out"
    export(model, out, padded=True)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "config.json",
        "onnx/model.onnx",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    config = json.loads((out / "config.json").read_text())
    assert config["pad_token_id"] == 0 and config["onnx"]["padded"] is True and config["onnx"]["opset"] == 18
    assert config["onnx"]["inputs"] == {
        "input_ids": "int64 [batch, sequence]",
        "attention_mask": "int64 [batch, sequence]",
    }
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tokenizer_config["pad_token"] == "[PAD]"
    assert json.loads((out / "special_tokens_map.json").read_text())["pad_token"] == "[PAD]"
    # Loaded the way fastembed loads it: truncation and padding from the config files, default encode
    # (special tokens on: the exported tokenizer has no post-processor, so none are added).
    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=tokenizer_config["model_max_length"])
    tokenizer.enable_padding(pad_id=config["pad_token_id"], pad_token=tokenizer_config["pad_token"])
    encodings = tokenizer.encode_batch(TEXTS)
    inputs = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
    }
    first_output = session(out / "onnx" / "model.onnx").run(None, inputs)[0]
    assert_matches(first_output, model.encode(TEXTS))


def test_tokenizer_without_pad_token_pads_with_the_unknown_token(tmp_path: Path) -> None:
    from .conftest import WORDS, make_tokenizer

    words = [w for w in WORDS if w != "[PAD]"]
    model = StaticModel(np.random.default_rng(0).normal(size=(len(words), 4)).astype(np.float32), make_tokenizer(words))
    export(model, tmp_path / "out", padded=True)
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["pad_token_id"] == words.index("[UNK]")
    got = session(tmp_path / "out" / "onnx" / "model.onnx").run(
        None, padded_inputs(model.tokenizer, TEXTS, config["pad_token_id"])
    )[0]
    assert_matches(got, model.encode(TEXTS))


# -- pipelines ---------------------------------------------------------------------------------------


def three_classes(n: int = 150) -> tuple[list[str], list[str]]:
    texts, labels = toy_task(n)
    return texts, [label if i % 3 else "other" for i, label in enumerate(labels)]


def pipeline_of(kind: str) -> tuple[StaticModelPipeline, list[str]]:
    """Tiny pipelines with scikit-learn MLP heads fitted on a toy task."""
    model = make_model(dim=16, normalize=kind != "regressor-2")
    if kind == "multilabel":
        texts, sets = toy_multilabel()
        indicator = np.asarray([[int("neg" in s), int("pos" in s)] for s in sets])
        head = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(model.encode(texts), indicator)
        return StaticModelPipeline(model, head, multilabel_classes=["neg", "pos"]), texts
    texts, labels = three_classes() if kind == "softmax" else toy_task()
    x = model.encode(texts)
    if kind.startswith("regressor"):
        y = np.asarray([len(t) for t in texts], dtype=float)
        target = y if kind == "regressor-1" else np.stack([y, -2 * y], axis=1)
        head = MLPRegressor(hidden_layer_sizes=(8, 4), activation="tanh", max_iter=300, random_state=0).fit(x, target)
    else:
        head = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(x, labels)
    return StaticModelPipeline(model, head), texts


KINDS = ["binary", "softmax", "multilabel", "regressor-1", "regressor-2"]


def onnx_outputs(path: Path, pipeline: StaticModelPipeline, texts: list[str], padded: bool) -> np.ndarray:
    if padded:
        inputs = padded_inputs(pipeline.model.tokenizer, texts, 0)
    else:
        inputs = flat_inputs(pipeline.model.tokenize(texts))
    result: np.ndarray = session(path).run(None, inputs)[0]
    return result


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_pipeline_graph_matches_the_python_pipeline(kind: str, padded: bool, tmp_path: Path) -> None:
    pipeline, texts = pipeline_of(kind)
    texts = [*texts, "", "zzz qqq"]
    path = export_pipeline(pipeline, tmp_path / "out", padded=padded)
    got = onnx_outputs(path, pipeline, texts, padded)
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    if kind.startswith("regressor"):
        expected = np.asarray(pipeline.predict(texts)).reshape(len(texts), -1)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
        assert config["problem_type"] == "regression" and "id2label" not in config
        return
    proba = pipeline.predict_proba(texts)
    assert got.shape == proba.shape
    np.testing.assert_allclose(got, proba, atol=1e-5)
    labels = [str(c) for c in pipeline.classes_]
    assert config["id2label"] == {str(i): label for i, label in enumerate(labels)}
    if kind == "multilabel":
        assert config["problem_type"] == "multi_label_classification"
        assert [[labels[j] for j in np.flatnonzero(row >= 0.5)] for row in got] == pipeline.predict(texts)
    else:
        assert config["problem_type"] == "single_label_classification"
        assert list(np.asarray(labels)[got.argmax(axis=1)]) == list(pipeline.predict(texts))


def test_trained_classifier_and_regressor_export(tmp_path: Path) -> None:
    from model2vec.train import StaticModelForClassification, StaticModelForRegression

    texts, labels = toy_task()
    base = make_model(dim=16)
    classifier = StaticModelForClassification.from_static_model(model=base, hidden_dim=8)
    pipeline = classifier.fit(texts, labels, max_epochs=2, show_progress_bar=False).to_pipeline()
    got = onnx_outputs(export_pipeline(pipeline, tmp_path / "clf"), pipeline, texts, False)
    np.testing.assert_allclose(got, pipeline.predict_proba(texts), atol=1e-5)
    regressor = StaticModelForRegression.from_static_model(model=base, hidden_dim=8)
    values = np.asarray([len(t) for t in texts], dtype=float)
    reg_pipeline = regressor.fit(texts, values, max_epochs=2, show_progress_bar=False).to_pipeline()
    got = onnx_outputs(export_pipeline(reg_pipeline, tmp_path / "reg", padded=True), reg_pipeline, texts, True)
    np.testing.assert_allclose(got[:, 0], reg_pipeline.predict(texts), rtol=1e-5, atol=1e-4)


def test_unsupported_head_is_refused(tmp_path: Path) -> None:
    model = make_model(dim=8)
    texts, labels = toy_task()
    pipeline = StaticModelPipeline(model, LogisticRegression().fit(model.encode(texts), labels))
    with pytest.raises(ValueError, match="MLPClassifier and MLPRegressor"):
        export_pipeline(pipeline, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="opset"):
        build_graph(model, opset=12, padded=True)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="model2vec")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["export-onnx", *argv])
    result: int = args.func(args)
    return result


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cli_exports_a_pipeline_folder(tmp_path: Path) -> None:
    pipeline, texts = pipeline_of("softmax")
    pipeline.save_pretrained(tmp_path / "pipe")
    assert _cli(str(tmp_path / "pipe"), "--out", str(tmp_path / "onnx")) == 0
    got = onnx_outputs(tmp_path / "onnx" / "onnx" / "model.onnx", pipeline, texts, False)
    np.testing.assert_allclose(got, pipeline.predict_proba(texts), atol=1e-5)
    assert _cli(str(tmp_path / "pipe"), "--out", str(tmp_path / "padded"), "--padded") == 0
    got = onnx_outputs(tmp_path / "padded" / "onnx" / "model.onnx", pipeline, texts, True)
    np.testing.assert_allclose(got, pipeline.predict_proba(texts), atol=1e-5)
    assert _cli(str(tmp_path / "pipe"), "--out", str(tmp_path / "encoder"), "--encoder-only", "--padded") == 0
    embeddings = session(tmp_path / "encoder" / "onnx" / "model.onnx").run(
        ["embeddings"], padded_inputs(pipeline.model.tokenizer, texts, 0)
    )[0]
    assert_matches(embeddings, pipeline.model.encode(texts))


def _blocked_env(tmp_path: Path, *modules: str) -> dict[str, str]:
    blocker = tmp_path / "blockers"
    blocker.mkdir(exist_ok=True)
    for module in modules:
        (blocker / f"{module}.py").write_text(f"raise ImportError('{module} is blocked in this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), str(REPO_ROOT / "src"), str(REPO_ROOT)])
    return env


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_export_without_torch_and_inference_without_model2vec(tmp_path: Path) -> None:
    pipeline, texts = pipeline_of("softmax")
    pipeline.save_pretrained(tmp_path / "pipe")
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    export_code = (
        "import sys\n"
        "from model2vec.inference import StaticModelPipeline\n"
        "from model2vec.onnx import export_pipeline\n"
        "export_pipeline(StaticModelPipeline.from_pretrained('pipe'), 'onnx-out', padded=True)\n"
        "assert sys.modules.get('torch') is None, 'torch was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", export_code],
        capture_output=True,
        text=True,
        env=_blocked_env(tmp_path, "torch"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    # Inference with onnxruntime and tokenizers only: model2vec and torch cannot be imported.
    run_code = (
        "import json, numpy as np, onnxruntime, sys\n"
        "from tokenizers import Tokenizer\n"
        "config = json.load(open('onnx-out/config.json'))\n"
        "tokenizer = Tokenizer.from_file('onnx-out/tokenizer.json')\n"
        "tokenizer.enable_padding(pad_id=config['pad_token_id'])\n"
        "encodings = tokenizer.encode_batch(json.load(open('texts.json')))\n"
        "inputs = {'input_ids': np.array([e.ids for e in encodings], dtype=np.int64),\n"
        "          'attention_mask': np.array([e.attention_mask for e in encodings], dtype=np.int64)}\n"
        "(proba,) = onnxruntime.InferenceSession('onnx-out/onnx/model.onnx').run(None, inputs)\n"
        "assert 'model2vec' not in sys.modules and sys.modules.get('torch') is None\n"
        "print(json.dumps(proba.tolist()))\n"
    )
    env = _blocked_env(tmp_path, "torch", "model2vec")
    env["PYTHONPATH"] = str(tmp_path / "blockers")
    result = subprocess.run([sys.executable, "-c", run_code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    got = np.asarray(json.loads(result.stdout.strip().splitlines()[-1]), dtype=np.float32)
    np.testing.assert_allclose(got, pipeline.predict_proba(texts), atol=1e-5)


# -- transformers.js ---------------------------------------------------------------------------------

PADDED_TRANSFORMERS_JS_SCRIPT = """
import { createRequire } from "module";
const [, , modulesDir, root, name, textsJson] = process.argv;
const require = createRequire(modulesDir + "/");
const { pipeline, env } = await import(require.resolve("@huggingface/transformers"));
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root + "/";
const extractor = await pipeline("feature-extraction", name, { dtype: "fp32" });
const output = await extractor(JSON.parse(textsJson), { pooling: "mean", normalize: true });
console.log(JSON.stringify({ ids: [], embeddings: output.tolist() }));
"""


@pytest.mark.integration
def test_transformers_js_feature_extraction_loads_a_padded_encoder(tmp_path: Path) -> None:
    model = MODELS["float16-weights-normalize"]()
    export(model, tmp_path / "exported", padded=True)
    texts = [t for t in TEXTS if model.tokenize([t])[0]]  # texts with known tokens (others are zero vectors)
    _, got = run_transformers_js(tmp_path / "exported", texts, tmp_path, PADDED_TRANSFORMERS_JS_SCRIPT)
    assert_matches(got, model.encode(texts))


# -- the dev suite's sst2 and trec test sets -----------------------------------------------------------

MODEL_FOLDER = REPO_ROOT / "models" / "minilm-distilled"
CLASSIFICATION = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval" / "classification"


def _split(task: str, name: str) -> tuple[list[str], list[Any]]:
    rows = [json.loads(line) for line in (CLASSIFICATION / f"{task}.{name}.jsonl").read_text().splitlines() if line]
    return [r["text"] for r in rows], [r["label"] for r in rows]


@pytest.mark.integration
@pytest.mark.parametrize("task", ["sst2", "trec"])
def test_exported_classifier_matches_the_pipeline_on_dev_test_sets(task: str, tmp_path: Path) -> None:
    if not (CLASSIFICATION / f"{task}.train.jsonl").is_file():
        pytest.skip(f"dev-suite classification data not found at {CLASSIFICATION}")
    if not (MODEL_FOLDER / "model.safetensors").is_file():
        pytest.skip(f"distilled default model not found at {MODEL_FOLDER} (run `make distill`)")
    from model2vec.train import StaticModelForClassification

    train_x, train_y = _split(task, "train")
    test_x, _ = _split(task, "test")
    # A short fit on a sample: the point is the export's agreement with the pipeline, not accuracy.
    rng = np.random.default_rng(0)
    sample = rng.choice(len(train_x), size=min(3000, len(train_x)), replace=False)
    classifier = StaticModelForClassification.from_pretrained(MODEL_FOLDER, hidden_dim=64)
    classifier.fit([train_x[i] for i in sample], [train_y[i] for i in sample], max_epochs=2, show_progress_bar=False)
    pipeline = classifier.to_pipeline()
    pipeline.save_pretrained(tmp_path / "pipe")
    pipeline = StaticModelPipeline.from_pretrained(tmp_path / "pipe")
    expected = pipeline.predict_proba(test_x)
    predicted = pipeline.predict(test_x)
    classes = np.asarray(pipeline.classes_)
    for padded in (False, True):
        path = export_pipeline(pipeline, tmp_path / f"onnx-{padded}", padded=padded)
        # `encode` keeps the first 512 tokens; the graph's caller does the same.
        if padded:
            inputs = padded_inputs(pipeline.model.tokenizer, test_x, 0)
            inputs = {name: value[:, :512] for name, value in inputs.items()}
        else:
            inputs = flat_inputs(pipeline.model.tokenize(test_x, max_length=512))
        got = session(path).run(None, inputs)[0]
        assert got.shape == expected.shape == (len(test_x), len(classes))
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert np.array_equal(classes[got.argmax(axis=1)], predicted)
