"""End-to-end distillation with tiny random teachers (transformers, sentence-transformers, ONNX)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from model2vec import StaticModel
from model2vec.distill import distill, distill_from_model

from .conftest import (
    BERT_WORDS,
    bpe_tokenizer,
    save_tiny_onnx,
    save_transformers_folder,
    tiny_bert,
    unigram_tokenizer,
    wordpiece_tokenizer,
)

RAW = {"pca_dims": None, "sif_coefficient": None, "quantize_to": "float32", "show_progress_bar": False}
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _teacher_means(model: Any, inputs: list[list[int]]) -> np.ndarray:
    """Mean of the teacher's last hidden states over each (unpadded) input, computed one by one."""
    rows = []
    with torch.inference_mode():
        for ids in inputs:
            tensor = torch.tensor([ids])
            hidden = model(input_ids=tensor, attention_mask=torch.ones_like(tensor)).last_hidden_state
            rows.append(hidden[0].mean(dim=0).numpy())
    return np.stack(rows)


@pytest.mark.parametrize("factory", [wordpiece_tokenizer, bpe_tokenizer, unigram_tokenizer])
def test_rows_are_teacher_means_for_each_family(factory: Any) -> None:
    tokenizer = factory()
    model = tiny_bert(tokenizer.get_vocab_size())
    words = ["catalog", "hot dog", "the"]
    static = distill_from_model(model, tokenizer, vocabulary=words, **RAW)
    vocab = static.tokenizer.get_vocab()
    # Every row equals the teacher's mean over [prefix, token, suffix] (or over its split of a new word).
    prefix = [tokenizer.token_to_id(t) for t in ("[CLS]", "<s>") if tokenizer.token_to_id(t) is not None]
    suffix = [tokenizer.token_to_id(t) for t in ("[SEP]", "</s>") if tokenizer.token_to_id(t) is not None]
    kept = [token for token in static.tokens if token in tokenizer.get_vocab()]
    sample = kept[:5]
    expected = _teacher_means(model, [[*prefix, tokenizer.token_to_id(t), *suffix] for t in sample])
    got = static.embedding[[vocab[t] for t in sample]]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    new_word = next(token for token in static.tokens if token.endswith("catalog"))
    plain = tokenizer.__class__.from_str(tokenizer.to_str())
    plain.no_padding()
    expected_new = _teacher_means(model, [plain.encode("catalog").ids])
    np.testing.assert_allclose(static.embedding[vocab[new_word]], expected_new[0], rtol=1e-4, atol=1e-5)
    assert static.encode("the catalog").shape == (16,)
    assert static.config["distillation"]["added_tokens"] == 2


def test_sentence_transformers_folder_applies_dense_and_records_settings(st_teacher: Path) -> None:
    static = distill(str(st_teacher), **RAW)
    assert static.dim == 8  # the Dense layer's output, not the transformer's 16
    from safetensors.torch import load_file
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(st_teacher))
    dense = load_file(str(st_teacher / "2_Dense" / "model.safetensors"))
    ids = [BERT_WORDS.index(w) for w in ("[CLS]", "cat", "[SEP]")]
    mean = torch.from_numpy(_teacher_means(bert, [ids]))
    expected = torch.tanh(mean @ dense["linear.weight"].T + dense["linear.bias"]).numpy()[0]
    np.testing.assert_allclose(static.embedding[static.tokenizer.token_to_id("cat")], expected, rtol=1e-4, atol=1e-5)
    settings = static.config["distillation"]
    assert settings["teacher_kind"] == "sentence-transformers"
    assert settings["teacher_normalizes"] is True
    assert static.normalize is True
    assert static.config["apply_pca"] is None


def test_pooling_teacher_uses_the_sentence_transformers_config(tmp_path: Path) -> None:
    from .conftest import save_sentence_transformers_folder

    folder = save_sentence_transformers_folder(tmp_path / "cls", dense_out=None, pooling="cls")
    first = distill(str(folder), pooling="first", **RAW)
    teacher = distill(str(folder), pooling="teacher", **RAW)
    mean = distill(str(folder), pooling="mean", **RAW)
    np.testing.assert_array_equal(first.embedding, teacher.embedding)
    assert not np.allclose(mean.embedding, teacher.embedding)
    assert teacher.config["pooling"] == "first"


def test_same_inputs_give_byte_identical_folders(st_teacher: Path, tmp_path: Path) -> None:
    options = {"pca_dims": 4, "show_progress_bar": False}
    first = distill(str(st_teacher), **options).save_pretrained(tmp_path / "a" / "model")
    second = distill(str(st_teacher), **options).save_pretrained(tmp_path / "b" / "model")
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert "model.safetensors" in names
    for name in names:
        if (first / name).is_file():
            assert (first / name).read_bytes() == (second / name).read_bytes(), name
    loaded = StaticModel.from_pretrained(first)
    assert loaded.dim == 4 and loaded.embedding.dtype == np.float16


def test_defaults_give_normalised_float16_pca_with_zipf_weights(tmp_path: Path) -> None:
    folder = save_transformers_folder(tmp_path / "t", wordpiece_tokenizer())
    static = distill(str(folder), pca_dims=8, show_progress_bar=False)
    unweighted = distill(str(folder), pca_dims=8, sif_coefficient=None, show_progress_bar=False)
    assert static.embedding.dtype == np.float16 and static.dim == 8 and static.normalize
    assert static.config["distillation"]["token_weights"] == "zipf"
    ratio = np.linalg.norm(static.embedding.astype(np.float32), axis=1) / np.linalg.norm(
        unweighted.embedding.astype(np.float32), axis=1
    )
    p = 1 / np.arange(2, len(static.tokens) + 2)
    p /= p.sum()
    np.testing.assert_allclose(ratio, 1e-4 / (1e-4 + p), rtol=2e-3)


def test_token_counts_and_corpus_weights(tmp_path: Path) -> None:
    folder = save_transformers_folder(tmp_path / "t", wordpiece_tokenizer())
    options = {"pca_dims": None, "quantize_to": "float32", "show_progress_bar": False, "sif_coefficient": 0.1}
    raw = distill(str(folder), **{**options, "sif_coefficient": None})
    counted = distill(str(folder), token_counts={"cat": 99}, **options)
    from_corpus = distill(str(folder), corpus=["cat " * 99], **options)
    np.testing.assert_allclose(counted.embedding, from_corpus.embedding, rtol=1e-6)
    ratio = np.linalg.norm(counted.embedding, axis=1) / np.linalg.norm(raw.embedding, axis=1)
    total = 99 + len(counted.tokens)
    cat = counted.tokenizer.token_to_id("cat")
    assert ratio[cat] == pytest.approx(0.1 / (0.1 + 100 / total), rel=1e-5)
    assert ratio[cat - 1] == pytest.approx(0.1 / (0.1 + 1 / total), rel=1e-5)
    assert counted.config["distillation"]["token_weights"] == "token_counts"
    with pytest.raises(ValueError, match="either token_counts or corpus"):
        distill(str(folder), token_counts={"cat": 1}, corpus=["cat"], **options)


def test_legacy_switches_are_mapped_or_warn(tmp_path: Path) -> None:
    folder = save_transformers_folder(tmp_path / "t", wordpiece_tokenizer())
    no_zipf = distill(str(folder), apply_zipf=False, show_progress_bar=False, pca_dims=4)
    assert no_zipf.config["sif_coefficient"] is None
    words = distill(str(folder), vocabulary=["cat", "dog"], use_subword=False, show_progress_bar=False, pca_dims=2)
    assert words.config["distillation"]["word_level"] is True
    assert len(words.tokens) == 3
    with pytest.warns(UserWarning, match="apply_zipf=True is ignored"):
        distill(str(folder), apply_zipf=True, sif_coefficient=None, show_progress_bar=False, pca_dims=4)
    with pytest.warns(UserWarning, match="use_subword=True is ignored"):
        distill(
            str(folder), vocabulary=["cat"], use_subword=True, word_level=True, pca_dims=None, show_progress_bar=False
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sif_coefficient": 0.0}, "between 0 and 1"),
        ({"sif_coefficient": 1.0}, "between 0 and 1"),
        ({"token_remove_pattern": "[oops"}, "regular expression"),
        ({"token_remove_pattern": ".*"}, "empty"),
        ({"pca_dims": "many"}, "pca_dims"),
        ({"quantize_to": "int4"}, "Unknown dtype"),
        ({"pooling": "median"}, "Unknown pooling"),
        ({"teacher_dtype": "fp8"}, "teacher_dtype"),
        ({"vocabulary_quantization": 0}, "vocabulary_quantization"),
    ],
)
def test_clear_errors(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    folder = save_transformers_folder(tmp_path / "t", wordpiece_tokenizer())
    with pytest.raises(ValueError, match=message):
        distill(str(folder), show_progress_bar=False, **options)


def test_pca_dims_above_width_warns_and_clamps(tmp_path: Path) -> None:
    folder = save_transformers_folder(tmp_path / "t", wordpiece_tokenizer())
    with pytest.warns(UserWarning, match="larger than the teacher's width"):
        static = distill(str(folder), pca_dims=256, show_progress_bar=False)
    assert static.dim == 16


def test_folder_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="does not look like a model"):
        distill(str(tmp_path), show_progress_bar=False)
    with pytest.raises(ValueError, match=r"not an \.onnx model"):
        distill(str(tmp_path / "notes.txt"), show_progress_bar=False)


def test_hub_id_goes_through_the_hub_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    folder = save_transformers_folder(tmp_path / "snapshot", wordpiece_tokenizer())
    calls: list[str] = []

    def fake_snapshot_download(repo_id: str, **kwargs: Any) -> str:
        calls.append(repo_id)
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    static = distill("someone/tiny-bert", pca_dims=4, show_progress_bar=False)
    assert calls and calls[0] == "someone/tiny-bert"
    assert static.base_model_name == "someone/tiny-bert"

    def missing(repo_id: str, **kwargs: Any) -> str:
        raise huggingface_hub.errors.LocalEntryNotFoundError("not cached and offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", missing)
    with pytest.raises(FileNotFoundError):
        distill("someone/missing", show_progress_bar=False)


def test_vocabulary_quantization_and_int8(tmp_path: Path) -> None:
    folder = save_transformers_folder(tmp_path / "t", wordpiece_tokenizer())
    static = distill(str(folder), pca_dims=4, vocabulary_quantization=5, quantize_to="int8", show_progress_bar=False)
    assert static.embedding.shape == (5, 4) and static.embedding.dtype == np.int8
    assert static.token_mapping is not None and len(static.token_mapping) == len(static.tokens)
    assert static.config["distillation"]["vocabulary_quantization"] == 5


def test_progress_bar_on_forward_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = save_transformers_folder(tmp_path / "t", wordpiece_tokenizer())
    distill(str(folder), pca_dims=4, show_progress_bar=True)
    assert "Distilling" in capsys.readouterr().err


def test_onnx_teacher_matches_its_graph(tmp_path: Path) -> None:
    tokenizer = wordpiece_tokenizer()
    table = save_tiny_onnx(tmp_path / "model.onnx", tokenizer.get_vocab_size())
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    static = distill(str(tmp_path), **RAW)
    cls, sep = BERT_WORDS.index("[CLS]"), BERT_WORDS.index("[SEP]")
    cat = BERT_WORDS.index("cat")
    expected = np.tanh(table[[cls, cat, sep]]).mean(axis=0)
    np.testing.assert_allclose(static.embedding[static.tokenizer.token_to_id("cat")], expected, rtol=1e-5)
    assert static.config["distillation"]["teacher_kind"] == "onnx"


def test_onnx_teacher_runs_without_torch(tmp_path: Path) -> None:
    tokenizer = wordpiece_tokenizer()
    save_tiny_onnx(tmp_path / "model.onnx", tokenizer.get_vocab_size())
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    for name in ("torch", "transformers"):
        (blocker / f"{name}.py").write_text(f"raise ImportError('{name} is blocked in this test')\n")
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
        model = distill({str(tmp_path)!r}, pca_dims=4, show_progress_bar=False)
        model.save_pretrained({str(tmp_path / "out")!r})
        print(model.dim, len(model.tokens))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), SRC])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4", str(len(BERT_WORDS) - 5)]


def test_importing_distill_does_not_import_torch() -> None:
    code = "import sys, model2vec.distill; print(sorted({'torch', 'transformers', 'onnxruntime'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_missing_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from model2vec.distill import _deps

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r'pip install "model2vec\[onnx\]"'):
        _deps.require("onnxruntime")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r'pip install "model2vec\[distill\]"'):
        _deps.require("torch")


def test_transformers_tokenizer_and_config_record(tmp_path: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    tokenizer = wordpiece_tokenizer()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer)
    model = tiny_bert(tokenizer.get_vocab_size())
    static = distill_from_model(model, fast, pca_dims=4, show_progress_bar=False, base_model_name="tiny")
    saved = static.save_pretrained(tmp_path / "out")
    config = json.loads((saved / "config.json").read_text())
    assert config["tokenizer_name"] == "tiny"
    for key in ("pca_dims", "sif_coefficient", "token_remove_pattern", "quantize_to", "pooling", "normalize_tokens"):
        assert key in config["distillation"]
    with pytest.raises(TypeError):
        distill_from_model(model, "not a tokenizer", show_progress_bar=False)


def test_in_memory_sentence_transformer_uses_its_dense_layer(st_teacher: Path) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    SentenceTransformer = sentence_transformers.SentenceTransformer  # noqa: N806

    in_memory = SentenceTransformer(str(st_teacher), device="cpu")
    from_memory = distill_from_model(in_memory, wordpiece_tokenizer(), **RAW)
    from_folder = distill(str(st_teacher), **RAW)
    assert from_memory.dim == 8
    np.testing.assert_allclose(from_memory.embedding, from_folder.embedding, rtol=1e-5, atol=1e-6)
    assert from_memory.config["distillation"]["teacher_normalizes"] is True


def test_bfloat16_teacher_is_close_and_leaves_the_callers_model_alone() -> None:
    tokenizer = wordpiece_tokenizer()
    model = tiny_bert(tokenizer.get_vocab_size())
    exact = distill_from_model(model, tokenizer, **RAW)
    fast = distill_from_model(model, tokenizer, teacher_dtype="bfloat16", **RAW)
    assert next(model.parameters()).dtype == torch.float32  # type: ignore[attr-defined]
    a, b = exact.embedding, fast.embedding
    cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() > 0.99
    assert not np.array_equal(a, b)  # it really ran in bfloat16
    assert fast.config["distillation"]["teacher_dtype"] == "bfloat16"


def test_no_progress_hides_the_kmeans_bar_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = save_transformers_folder(tmp_path / "t", wordpiece_tokenizer())
    capsys.readouterr()  # transformers' own save bar
    distill(str(folder), pca_dims=4, vocabulary_quantization=5, show_progress_bar=False)
    assert capsys.readouterr().err == ""
    distill(str(folder), pca_dims=4, vocabulary_quantization=5, show_progress_bar=True)
    assert "Quantising vocabulary" in capsys.readouterr().err


X86_AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu sse2 avx avx2 fma\n"
X86_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n"


def test_native_bfloat16_reads_the_cpu_flags() -> None:
    from model2vec.distill.teachers import native_bfloat16

    assert not native_bfloat16("cpu", cpuinfo=X86_AVX2)
    assert native_bfloat16("cpu", cpuinfo=X86_BF16)
    assert native_bfloat16("cpu", cpuinfo=ARM_BF16)
    assert not native_bfloat16("cpu", cpuinfo="")
    assert not native_bfloat16("mps")
    assert native_bfloat16("cuda") == (torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def test_auto_teacher_dtype_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    from model2vec.distill import teachers

    assert teachers.resolve_teacher_dtype("float32") == "float32"
    assert teachers.resolve_teacher_dtype("bfloat16", "cpu") == "bfloat16"
    with pytest.raises(ValueError, match="teacher_dtype"):
        teachers.resolve_teacher_dtype("fp16")
    tokenizer = wordpiece_tokenizer()
    model = tiny_bert(tokenizer.get_vocab_size())
    for native, expected in ((False, "float32"), (True, "bfloat16")):
        monkeypatch.setattr(teachers, "native_bfloat16", lambda device="cpu", cpuinfo=None, answer=native: answer)
        assert teachers.resolve_teacher_dtype("auto", "cpu") == expected
        distilled = distill_from_model(model, tokenizer, teacher_dtype="auto", device="cpu", **RAW)
        # The config records the precision that ran, not "auto".
        assert distilled.config["distillation"]["teacher_dtype"] == expected
