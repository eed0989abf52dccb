from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from model2vec import StaticModel, quantize_model
from model2vec import format as fmt
from model2vec.format import ModelFormatError, parse_front_matter
from model2vec.pooling import _file_backed_float32, float32_table, kernel_reads

from .conftest import WORDS, make_model, make_tokenizer

TEXTS = ["the cat sat on the mat", "hello world !", "", "qqq", "big red dogs"]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8"])
@pytest.mark.parametrize("normalize", [True, False])
def test_round_trip_every_dtype(tmp_path: Path, dtype: str, normalize: bool) -> None:
    model = quantize_model(make_model(normalize=normalize), quantize_to=dtype)
    model.save_pretrained(tmp_path / "m")
    loaded = StaticModel.from_pretrained(tmp_path / "m")
    assert loaded.embedding.dtype == np.dtype(dtype)
    assert loaded.normalize is normalize
    np.testing.assert_array_equal(loaded.embedding, model.embedding)
    np.testing.assert_array_equal(loaded.encode(TEXTS), model.encode(TEXTS))
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model_type"] == "model2vec"
    assert config["embedding_dtype"] == dtype


def test_round_trip_vocabulary_quantised(tmp_path: Path) -> None:
    model = quantize_model(make_model(), vocabulary_quantization=5)
    model.save_pretrained(tmp_path / "m")
    loaded = StaticModel.from_pretrained(tmp_path / "m")
    assert loaded.vocabulary_quantization == 5
    assert loaded.token_mapping is not None and loaded.weights is not None
    np.testing.assert_array_equal(loaded.encode(TEXTS), model.encode(TEXTS))
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["vocabulary_quantization"] == 5
    # The file is valid for the safetensors library itself.
    assert load_file(str(tmp_path / "m" / "model.safetensors"))["mapping"].dtype == np.int32


def test_saved_folder_contents(tmp_path: Path) -> None:
    model = make_model(normalize=True, base_model_name="org/teacher", language=["en"])
    model.save_pretrained(tmp_path / "m", model_name="org/student")
    names = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"model.safetensors", "tokenizer.json", "config.json", "modules.json", "README.md"} <= names
    modules = json.loads((tmp_path / "m" / "modules.json").read_text())
    assert [m["type"] for m in modules] == [fmt.ST_STATIC_EMBEDDING, fmt.ST_NORMALIZE]
    front = parse_front_matter((tmp_path / "m" / "README.md").read_text())
    assert front["base_model"] == "org/teacher"
    assert front["language"] == ["en"]
    assert front["library_name"] == "model2vec"
    assert front["license"] == "mit"
    assert "static-embeddings" in front["tags"]
    loaded = StaticModel.from_pretrained(tmp_path / "m")
    assert loaded.base_model_name == "org/teacher"
    assert loaded.language == ["en"]


def test_save_is_atomic_and_keeps_foreign_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "m"
    good = make_model(seed=1)
    good.save_pretrained(target)
    (target / "notes.txt").write_text("mine")
    before = (target / "model.safetensors").read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(fmt, "save_file", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        make_model(seed=2).save_pretrained(target)
    monkeypatch.undo()
    assert (target / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging folder left behind

    make_model(seed=2).save_pretrained(target)
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "model.safetensors").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_save_to_file_path_raises(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(NotADirectoryError, match=re.escape(str(path))):
        make_model().save_pretrained(path)


def test_subfolder(tmp_path: Path) -> None:
    make_model().save_pretrained(tmp_path, subfolder="inner")
    assert StaticModel.from_pretrained(tmp_path, subfolder="inner").dim == 8


def _write_st_folder(folder: Path, module_dir: str = "") -> StaticModel:
    model = make_model()
    weights_dir = folder / module_dir
    weights_dir.mkdir(parents=True, exist_ok=True)
    save_file({"embedding.weight": model.embedding}, str(weights_dir / "model.safetensors"))
    make_tokenizer().save(str(weights_dir / "tokenizer.json"))
    if not module_dir:
        (folder / "config_sentence_transformers.json").write_text("{}")
    modules = [
        {"idx": 0, "name": "0", "path": module_dir or ".", "type": fmt.ST_STATIC_EMBEDDING},
        {"idx": 1, "name": "1", "path": "1_Normalize", "type": fmt.ST_NORMALIZE},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    return model


@pytest.mark.parametrize("module_dir", ["", "0_StaticEmbedding"])
def test_sentence_transformers_layouts(tmp_path: Path, module_dir: str) -> None:
    original = _write_st_folder(tmp_path, module_dir)
    loaded = StaticModel.from_pretrained(tmp_path)
    assert loaded.normalize is True  # from the Normalize module
    np.testing.assert_array_equal(loaded.embedding, original.embedding)
    assert StaticModel.from_pretrained(tmp_path, normalize=False).normalize is False


def test_load_local_and_deprecated_alias(tmp_path: Path) -> None:
    make_model().save_pretrained(tmp_path / "m")
    assert StaticModel.load_local(tmp_path / "m").dim == 8
    with pytest.warns(DeprecationWarning, match="deprecated"):
        StaticModel.from_sentence_transformers(tmp_path / "m")
    with pytest.raises(FileNotFoundError):
        StaticModel.load_local(tmp_path / "missing")


# -- bad files ----------------------------------------------------------------------------------


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        StaticModel.from_pretrained(tmp_path / "nope")


def test_path_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match=re.escape(str(path))):
        StaticModel.from_pretrained(path)


def test_folder_without_model(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelFormatError, match=re.escape(str(tmp_path))):
        StaticModel.from_pretrained(tmp_path)


def test_missing_tokenizer(tmp_path: Path) -> None:
    make_model().save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.json"):
        StaticModel.from_pretrained(tmp_path / "m")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_safetensors(tmp_path: Path, damage: str) -> None:
    make_model().save_pretrained(tmp_path / "m")
    path = tmp_path / "m" / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00" * 64 + data, "empty": b""}[damage])
    with pytest.raises(ModelFormatError, match=r"model\.safetensors"):
        StaticModel.from_pretrained(tmp_path / "m")


def test_corrupt_config_and_tokenizer(tmp_path: Path) -> None:
    make_model().save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match=r"config\.json"):
        StaticModel.from_pretrained(tmp_path / "m")
    make_model().save_pretrained(tmp_path / "n")
    (tmp_path / "n" / "tokenizer.json").write_text("[]")
    with pytest.raises(ModelFormatError, match=r"tokenizer\.json"):
        StaticModel.from_pretrained(tmp_path / "n")


def test_rows_do_not_match_vocabulary(tmp_path: Path) -> None:
    make_model().save_pretrained(tmp_path / "m")
    save_file({"embeddings": np.zeros((3, 8), dtype=np.float32)}, str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(ModelFormatError, match=rf"3 rows .* {len(WORDS)} tokens"):
        StaticModel.from_pretrained(tmp_path / "m")


def test_bad_mapping_and_weights(tmp_path: Path) -> None:
    make_model().save_pretrained(tmp_path / "m")
    path = str(tmp_path / "m" / "model.safetensors")
    table = np.zeros((len(WORDS), 8), dtype=np.float32)
    save_file({"embeddings": table, "weights": np.ones(2, dtype=np.float32)}, path)
    with pytest.raises(ModelFormatError, match="weights"):
        StaticModel.from_pretrained(tmp_path / "m")
    save_file({"embeddings": table[:2], "mapping": np.full(len(WORDS), 7, dtype=np.int32)}, path)
    with pytest.raises(ModelFormatError, match="mapping"):
        StaticModel.from_pretrained(tmp_path / "m")


def test_unknown_tensor_dtype(tmp_path: Path) -> None:
    make_model().save_pretrained(tmp_path / "m")
    save_file({"embeddings": np.zeros((len(WORDS), 8), dtype=np.int32)}, str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(ValueError, match="dtype"):
        StaticModel.from_pretrained(tmp_path / "m")


def test_front_matter_parser() -> None:
    text = "---\nbase_model: a/b\nlanguage:\n- en\n- fr\nlicense: mit\nflag: true\nn: 3\n---\n# body\nkey: no\n"
    assert parse_front_matter(text) == {
        "base_model": "a/b",
        "language": ["en", "fr"],
        "license": "mit",
        "flag": True,
        "n": 3,
    }
    assert parse_front_matter("# no front matter") == {}


@pytest.mark.parametrize("dtype", ["float16", "float32", "int8"])
def test_loaded_tables_are_memory_maps(tmp_path: Path, dtype: str) -> None:
    model = quantize_model(make_model(), quantize_to=dtype)
    model.save_pretrained(tmp_path / "m")
    loaded = StaticModel.from_pretrained(tmp_path / "m")
    assert isinstance(loaded.embedding.base, np.memmap)
    # Copy-on-write for every dtype: writable in memory (other libraries wrap the table without a copy
    # and may train it), and the file is never changed.
    before = (tmp_path / "m" / "model.safetensors").read_bytes()
    loaded.embedding[0, 0] += 1
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == before
    loaded = StaticModel.from_pretrained(tmp_path / "m")
    if dtype != "float32":
        # Conversion reads the file, not the mapping, so the mapped pages never become resident.
        assert _file_backed_float32(loaded.embedding) is not None
    # The float32 working copy read from the file (numpy pooling path, ONNX export) equals converting
    # the mapped array; the compiled kernel pools the mapped table itself, without a copy.
    table, _ = float32_table(loaded.embedding, loaded.weights, loaded.token_mapping)
    if kernel_reads(loaded.embedding):
        assert loaded._pooling_arrays()[0] is loaded.embedding
    np.testing.assert_array_equal(
        table, loaded.embedding.astype(np.float32) * (loaded.weights[:, None] if loaded.weights is not None else 1)
    )
    # Replacing the table works (and is picked up by encode).
    loaded.embedding = loaded.embedding.copy()
    loaded.embedding[...] = 0
    np.testing.assert_array_equal(loaded.encode(["the cat"]), 0)


def test_unsupported_tensor_entry(tmp_path: Path) -> None:
    make_model().save_pretrained(tmp_path / "m")
    path = tmp_path / "m" / "model.safetensors"
    data = bytearray(path.read_bytes())
    header_size = int.from_bytes(data[:8], "little")
    header = data[8 : 8 + header_size].replace(b'"F32"', b'"F8X"')
    path.write_bytes(bytes(data[:8]) + bytes(header) + bytes(data[8 + header_size :]))
    with pytest.raises(ModelFormatError, match="unsupported"):
        StaticModel.from_pretrained(tmp_path / "m")


def test_saved_tokenizer_keeps_original_padding_and_truncation(tmp_path: Path) -> None:
    vectors = np.zeros((len(WORDS), 4), dtype=np.float32)
    model = StaticModel(vectors, make_tokenizer(with_padding=True))
    model.save_pretrained(tmp_path / "m")
    spec = json.loads((tmp_path / "m" / "tokenizer.json").read_text())
    assert spec["truncation"]["max_length"] == 4
    assert spec["padding"] is not None
    again = StaticModel.from_pretrained(tmp_path / "m")
    np.testing.assert_array_equal(again.encode(["the cat sat on the mat"]), model.encode(["the cat sat on the mat"]))
    quantize_model(again, quantize_to="float16").save_pretrained(tmp_path / "q")
    assert json.loads((tmp_path / "q" / "tokenizer.json").read_text())["truncation"]["max_length"] == 4


def test_saved_tokenizer_truncates_where_encode_does(tmp_path: Path) -> None:
    from model2vec.model import DEFAULT_MAX_LENGTH
    from model2vec.tokenization import SAVED_MAX_LENGTH

    assert SAVED_MAX_LENGTH == DEFAULT_MAX_LENGTH
    make_model().save_pretrained(tmp_path / "m")
    spec = json.loads((tmp_path / "m" / "tokenizer.json").read_text())
    assert spec["truncation"]["max_length"] == DEFAULT_MAX_LENGTH and spec["padding"] is None
    # Loading ignores it: encode still decides the length.
    loaded = StaticModel.from_pretrained(tmp_path / "m")
    assert loaded.tokenizer.truncation is None
