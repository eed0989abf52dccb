"""ONNX export: the graph run by onnxruntime gives `encode`'s vectors; files, CLI, torch-free export."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel, quantize_model
from model2vec.pooling import float32_table, segment_mean

from .conftest import REFERENCE_FORMAT, WORDS, make_model

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from model2vec.onnx import build_graph, export, register  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
UNK = WORDS.index("[UNK]")
TEXTS = [
    "hello world",
    "",
    "zzz qqq",  # only unknown tokens
    "the cat sat on the mat!",
    "日本 dogs é, a big red dog.",
    "   ",
]


def flat_inputs(token_lists: list[list[int]]) -> dict[str, np.ndarray]:
    """EmbeddingBag inputs: concatenated ids and each text's start."""
    ids = np.array([token for tokens in token_lists for token in tokens], dtype=np.int64)
    starts = np.cumsum([0] + [len(tokens) for tokens in token_lists[:-1]]).astype(np.int64)
    return {"input_ids": ids, "offsets": starts[: len(token_lists)]}


def run_export(model: StaticModel, folder: Path, token_lists: list[list[int]]) -> np.ndarray:
    session = ort.InferenceSession(str(export(model, folder)), providers=["CPUExecutionProvider"])
    result: np.ndarray = session.run(["embeddings"], flat_inputs(token_lists))[0]
    return result


def assert_matches(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == np.float32
    assert got.shape == expected.shape
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    norms = np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1)
    nonzero = norms > 0
    cosines = np.einsum("ij,ij->i", got, expected)[nonzero] / norms[nonzero]
    assert cosines.min() >= 0.9999
    # Zero rows (no known tokens) are zero in both.
    assert np.array_equal(np.linalg.norm(got, axis=1) == 0, np.linalg.norm(expected, axis=1) == 0)


def with_weights(dtype: str = "float32", normalize: bool = False) -> StaticModel:
    weights = np.linspace(0.1, 2.0, len(WORDS)).astype(np.float32)
    return make_model(dtype=dtype, normalize=normalize, weights=weights)


MODELS = {
    "float32": lambda: make_model(),
    "float32-normalize": lambda: make_model(normalize=True),
    "float16-weights": lambda: with_weights("float16"),
    "float16-weights-normalize": lambda: with_weights("float16", normalize=True),
    "int8": lambda: quantize_model(make_model(dim=16), quantize_to="int8"),
    "int8-normalize": lambda: quantize_model(make_model(dim=16, normalize=True), quantize_to="int8"),
    "vocab-quantised": lambda: quantize_model(with_weights(), vocabulary_quantization=5),
    "vocab-quantised-normalize": lambda: quantize_model(make_model(normalize=True), vocabulary_quantization=4),
    "vocab-quantised-int8": lambda: quantize_model(with_weights(), vocabulary_quantization=6, quantize_to="int8"),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_graph_matches_encode_on_tokenized_texts(name: str, tmp_path: Path) -> None:
    model = MODELS[name]()
    got = run_export(model, tmp_path / "out", model.tokenize(TEXTS))
    expected = model.encode(TEXTS)
    assert_matches(got, expected)
    # Empty and all-unknown texts give zero vectors, never NaN.
    assert not got[1].any() and not got[2].any() and not got[5].any()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_graph_drops_unknown_ids_from_sum_and_count(name: str, tmp_path: Path) -> None:
    model = MODELS[name]()
    assert model.unk_token_id == UNK
    known = model.tokenize(TEXTS)
    # Unknown ids anywhere (start, middle, end, alone) must change nothing.
    with_unknown = [[UNK, *tokens[:1], UNK, *tokens[1:], UNK] for tokens in known]
    with_unknown[1] = [UNK]
    got = run_export(model, tmp_path / "out", with_unknown)
    assert_matches(got, model.encode(TEXTS))


def test_no_unknown_token_counts_every_id(tmp_path: Path) -> None:
    model = make_model()
    model.unk_token_id = None
    ids = [[0, 1, 4], [1], []]
    got = run_export(model, tmp_path / "out", ids)
    table = model.embedding
    expected = np.stack([table[[0, 1, 4]].mean(axis=0), table[1], np.zeros(model.dim, dtype=np.float32)])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_empty_batch_and_batch_without_tokens(tmp_path: Path) -> None:
    model = make_model(normalize=True)
    session = ort.InferenceSession(str(export(model, tmp_path / "out")), providers=["CPUExecutionProvider"])
    empty = np.zeros(0, dtype=np.int64)
    assert session.run(None, {"input_ids": empty, "offsets": empty})[0].shape == (0, model.dim)
    zeros = session.run(None, {"input_ids": empty, "offsets": np.zeros(3, dtype=np.int64)})[0]
    assert zeros.shape == (3, model.dim) and not zeros.any()


def test_graph_interface_and_float32_table() -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    model = with_weights("float16")
    proto = build_graph(model)
    assert [i.name for i in proto.graph.input] == ["input_ids", "offsets"]
    assert [o.name for o in proto.graph.output] == ["embeddings"]
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.INT64 for i in proto.graph.input)
    tensors = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    assert tensors["table"].dtype == np.float32
    # Weights are folded into the rows when there is no mapping.
    assert "weights" not in tensors
    assert model.weights is not None
    expected = model.embedding.astype(np.float32) * model.weights[:, None]
    np.testing.assert_array_equal(tensors["table"], expected)
    quantised = build_graph(quantize_model(with_weights(), vocabulary_quantization=5))
    names = {t.name for t in quantised.graph.initializer}
    assert {"mapping", "weights", "table"} <= names


def test_opset_below_13_is_refused() -> None:
    with pytest.raises(ValueError, match="opset"):
        build_graph(make_model(), opset=12)


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_supported_opsets_run(opset: int, tmp_path: Path) -> None:
    model = with_weights(normalize=True)
    path = export(model, tmp_path / "out", opset=opset)
    got = ort.InferenceSession(str(path)).run(None, flat_inputs(model.tokenize(TEXTS)))[0]
    assert_matches(got, model.encode(TEXTS))


def test_large_batch_is_deterministic_and_matches_encode(tmp_path: Path) -> None:
    # Thousands of texts and long ones: scatter-add graphs gave thread-racy sums at this size.
    rng = np.random.default_rng(1)
    model = quantize_model(with_weights("float16", normalize=True), vocabulary_quantization=7)
    lengths = rng.integers(0, 600, size=3000)
    token_lists = [rng.integers(0, len(WORDS), size=int(n)).tolist() for n in lengths]
    session = ort.InferenceSession(str(export(model, tmp_path / "out")))
    inputs = flat_inputs(token_lists)
    first = session.run(None, inputs)[0]
    second = session.run(None, inputs)[0]
    np.testing.assert_array_equal(first, second)
    # encode's own kernel on the same ids with the unknown token dropped.
    known = [[i for i in tokens if i != UNK] for tokens in token_lists]
    flat = np.array([i for tokens in known for i in tokens], dtype=np.int64)
    bounds = np.cumsum([0] + [len(tokens) for tokens in known]).astype(np.int64)
    table, weights = float32_table(model.embedding, model.weights, model.token_mapping)
    expected = segment_mean(table, flat, bounds, weights, model.token_mapping, normalize=True)
    assert_matches(first, expected)


def test_written_files_for_transformers_js(tmp_path: Path) -> None:
    model = make_model(normalize=True)
    out = tmp_path / "out"
    written = export(model, out)
    assert written == out / "onnx" / "model.onnx"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "config.json",
        "onnx/model.onnx",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "model2vec"
    assert config["hidden_size"] == model.dim
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "BertTokenizer"
    assert tokenizer_config["do_lower_case"] is True
    assert tokenizer_config["model_max_length"] == 512
    assert tokenizer_config["unk_token"] == "[UNK]"
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert tokenizer.get_vocab() == model.tokenizer.get_vocab()
    assert tokenizer.encode("Hello WORLD", add_special_tokens=False).ids == model.tokenize("Hello WORLD")[0]
    # No temporary folders left next to the output.
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_reexport_replaces_files_and_keeps_foreign_ones(tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(make_model(dim=8), out)
    (out / "notes.txt").write_text("mine")
    export(make_model(dim=4, normalize=True), out)
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "config.json").read_text())["hidden_size"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failed_export_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import model2vec.onnx as onnx_module

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(onnx_module.files, "tokenizer_config", fail)
    with pytest.raises(OSError, match="disk full"):
        export(make_model(), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_export_into_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        export(make_model(), target)


def test_cli_export_onnx(tmp_path: Path) -> None:
    model = make_model(normalize=True)
    model.save_pretrained(tmp_path / "model")
    parser = argparse.ArgumentParser(prog="model2vec")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["export-onnx", str(tmp_path / "model"), "--out", str(tmp_path / "onnx-out")])
    assert args.func(args) == 0
    loaded = StaticModel.from_pretrained(tmp_path / "model")
    session = ort.InferenceSession(str(tmp_path / "onnx-out" / "onnx" / "model.onnx"))
    got = session.run(None, flat_inputs(loaded.tokenize(TEXTS)))[0]
    assert_matches(got, loaded.encode(TEXTS))


def test_export_runs_where_torch_cannot_be_imported(tmp_path: Path) -> None:
    blocker = tmp_path / "block_torch"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('torch is blocked in this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), str(REPO_ROOT / "src"), str(REPO_ROOT)])
    code = (
        "import sys\n"
        "from tests.conftest import make_model\n"
        "from model2vec.onnx import export\n"
        f"path = export(make_model(normalize=True), {str(tmp_path / 'out')!r})\n"
        "import onnxruntime\n"
        "onnxruntime.InferenceSession(str(path))\n"
        "assert sys.modules.get('torch') is None, 'torch was imported'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.integration
def test_reference_model_matches_encode_on_real_sentences(tmp_path: Path) -> None:
    folder = REFERENCE_FORMAT / "m2v-minilm-l6-fp16"
    if not folder.is_dir():
        pytest.skip(f"reference model not found at {folder}")
    model = StaticModel.from_pretrained(folder)
    sentences_file = REFERENCE_FORMAT / "golden_sentences.json"
    golden = json.loads(sentences_file.read_text()) if sentences_file.is_file() else {}
    sentences = [s for s in golden.get("sentences", []) if isinstance(s, str)] + [
        "The cat sat on the mat.",
        "Stock markets fell sharply on Monday.",
        "",
        "Ünïcödé and 日本語 text, with punctuation!?",
    ]
    assert len(sentences) > 10
    # `encode` keeps the first 512 tokens (some golden sentences are longer); so does the caller here.
    got = run_export(model, tmp_path / "out", model.tokenize(sentences, max_length=512))
    assert_matches(got, model.encode(sentences))
    # The graph does not truncate: texts longer than `max_length` tokens match `encode` only untruncated.
    long_text = " ".join(["embedding"] * 600)
    long_got = run_export(model, tmp_path / "long", model.tokenize([long_text]))
    assert_matches(long_got, model.encode([long_text], max_length=None))


# transformers.js is installed (not committed) with:
#   cd benchmarks/.node && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install @huggingface/transformers
# MODEL2VEC_NODE_MODULES may point at another node_modules folder.
NODE_MODULES = Path(os.environ.get("MODEL2VEC_NODE_MODULES", REPO_ROOT / "benchmarks" / ".node" / "node_modules"))
TRANSFORMERS_JS_SCRIPT = """
import { createRequire } from "module";
const [, , modulesDir, root, name, textsJson] = process.argv;
const require = createRequire(modulesDir + "/");
const { AutoModel, AutoTokenizer, Tensor, env } = await import(require.resolve("@huggingface/transformers"));
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root + "/";
const texts = JSON.parse(textsJson);
const model = await AutoModel.from_pretrained(name, { dtype: "fp32" });
const tokenizer = await AutoTokenizer.from_pretrained(name);
const { input_ids } = await tokenizer(texts, { add_special_tokens: false, return_tensor: false });
const offsets = [0];
for (const ids of input_ids.slice(0, -1)) offsets.push(offsets.at(-1) + ids.length);
const flat = input_ids.flat();
const { embeddings } = await model({
  input_ids: new Tensor("int64", BigInt64Array.from(flat.map(BigInt)), [flat.length]),
  offsets: new Tensor("int64", BigInt64Array.from(offsets.map(BigInt)), [offsets.length]),
});
console.log(JSON.stringify({ ids: input_ids, embeddings: embeddings.tolist() }));
"""


def run_transformers_js(
    folder: Path, texts: list[str], tmp_path: Path, script_text: str = TRANSFORMERS_JS_SCRIPT
) -> tuple[list[list[int]], np.ndarray]:
    """Load an exported folder from disk with transformers.js in Node; return its ids and embeddings."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_MODULES / "@huggingface" / "transformers").is_dir():
        pytest.skip(f"@huggingface/transformers is not installed in {NODE_MODULES}")
    script = tmp_path / "run.mjs"
    script.write_text(script_text)
    result = subprocess.run(
        [node, str(script), str(NODE_MODULES), str(folder.parent), folder.name, json.dumps(texts)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return answer["ids"], np.array(answer["embeddings"], dtype=np.float32).reshape(len(texts), -1)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["float16-weights-normalize", "vocab-quantised-int8"])
def test_transformers_js_gives_encode_vectors_for_tiny_models(name: str, tmp_path: Path) -> None:
    model = MODELS[name]()
    export(model, tmp_path / "exported")
    ids, got = run_transformers_js(tmp_path / "exported", TEXTS, tmp_path)
    # transformers.js keeps unknown tokens; the graph drops them.
    assert [[i for i in tokens if i != UNK] for tokens in ids] == model.tokenize(TEXTS)
    assert_matches(got, model.encode(TEXTS))


@pytest.mark.integration
def test_transformers_js_gives_encode_vectors_for_reference_model(tmp_path: Path) -> None:
    folder = REFERENCE_FORMAT / "m2v-minilm-l6-fp16"
    if not folder.is_dir():
        pytest.skip(f"reference model not found at {folder}")
    model = StaticModel.from_pretrained(folder)
    sentences = [
        "The cat sat on the mat.",
        "Stock markets fell sharply on Monday.",
        "How do I bake sourdough bread?",
        "Ünïcödé and 日本語 text, with punctuation!?",
        "",
    ]
    export(model, tmp_path / "exported")
    ids, got = run_transformers_js(tmp_path / "exported", sentences, tmp_path)
    assert [[i for i in tokens if i != model.unk_token_id] for tokens in ids] == model.tokenize(sentences)
    assert_matches(got, model.encode(sentences))


def test_missing_onnx_names_the_extra(tmp_path: Path) -> None:
    blocker = tmp_path / "block_onnx"
    blocker.mkdir()
    (blocker / "onnx.py").write_text("raise ImportError('onnx is blocked in this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), str(REPO_ROOT / "src"), str(REPO_ROOT)])
    code = (
        "import sys\n"
        "import model2vec.onnx\n"  # importing the module (and registering the command) needs no onnx
        "assert 'onnxruntime' not in sys.modules\n"
        "from tests.conftest import make_model\n"
        "try:\n"
        f"    model2vec.onnx.export(make_model(), {str(tmp_path / 'out')!r})\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'pip install "model2vec[onnx]"' in result.stdout
    assert not (tmp_path / "out").exists()
