"""model2vec.search index folders: what `SearchIndex.load` accepts, file permissions, the recorded model.

The reader is fuzzed with hypothesis: whatever is done to the files (bytes flipped, truncation, JSON
fields removed or given wrong types), loading either gives a working index or raises a
`ModelFormatError`/`ValueError` that names the file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from model2vec.format import ModelFormatError
from model2vec.search import SearchIndex, model_fingerprint

from .conftest import WORDS, make_model, make_tokenizer


def saved(tmp_path: Path, name: str = "idx", dtype: str = "float32") -> Path:
    """A small saved index: vectors and texts, int and str ids, one id removed."""
    index = SearchIndex(model=make_model(dim=8), dtype=dtype)
    index.add(["hello world", "the cat", "a big red dog"])
    index.add(np.random.default_rng(0).normal(size=(4, 8)), ids=["a", "b", 10, 11])
    index.remove([1])
    index.save(tmp_path / name)
    return tmp_path / name


def edit_json(folder: Path, **changes: Any) -> None:
    path = folder / "index.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def edit_tensors(folder: Path, **tensors: np.ndarray) -> None:
    save_file(tensors, str(folder / "index.safetensors"))


# --- next_id ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("next_id", [0, 11, -1, 1.5, "12", True, None])
def test_load_refuses_next_id_below_the_ids(tmp_path: Path, next_id: object) -> None:
    folder = saved(tmp_path)
    edit_json(folder, next_id=next_id)
    with pytest.raises(ModelFormatError, match=r"index\.json.*next_id"):
        SearchIndex.load(folder)


def test_load_without_next_id_continues_after_the_ids(tmp_path: Path) -> None:
    folder = saved(tmp_path)
    data = json.loads((folder / "index.json").read_text())
    del data["next_id"]
    (folder / "index.json").write_text(json.dumps(data))
    loaded = SearchIndex.load(folder)
    assert loaded.add(np.ones(8)) == [12]
    assert loaded.text(0) == "hello world"


# --- texts that cannot be saved -----------------------------------------------------------------------------


def test_add_refuses_unencodable_texts_and_ids(tmp_path: Path) -> None:
    index = SearchIndex(model=make_model(dim=8))
    with pytest.raises(ValueError, match=r"text 1 .*UTF-8"):
        index.add(["fine", "x \ud800"])
    with pytest.raises(ValueError, match=r"id 0 .*UTF-8"):
        index.add(np.ones((1, 8)), ids=["\udcff"])
    assert len(index) == 0  # nothing added on error
    index.add(["日本 é"], ids=["ok"])
    index.save(tmp_path / "idx")
    assert SearchIndex.load(tmp_path / "idx").text("ok") == "日本 é"


def test_load_refuses_unencodable_texts(tmp_path: Path) -> None:
    folder = saved(tmp_path)
    raw = (folder / "index.json").read_text(encoding="utf-8").replace('"hello world"', '"hello \\ud800"')
    (folder / "index.json").write_text(raw, encoding="utf-8")
    with pytest.raises(ModelFormatError, match=r"index\.json.*UTF-8"):
        SearchIndex.load(folder)


# --- validation of everything else at load -----------------------------------------------------------------


def test_load_refuses_nan_and_non_unit_rows(tmp_path: Path) -> None:
    folder = saved(tmp_path)
    vectors = SearchIndex.load(folder).vectors()
    for bad in (np.nan, np.inf, 478.0):
        changed = vectors.copy()
        changed[2, 3] = bad
        edit_tensors(folder, vectors=changed)
        # (non-finite values may already be refused by the safetensors reader, which names the file too)
        with pytest.raises(ModelFormatError, match=r"index\.safetensors.*(row 2|NaN)"):
            SearchIndex.load(folder)


def test_load_accepts_zero_rows_and_rounded_int8_rows(tmp_path: Path) -> None:
    index = SearchIndex(dtype="int8")
    rng = np.random.default_rng(3)
    index.add(np.vstack([np.zeros((1, 512)), rng.normal(size=(50, 512)), rng.uniform(0, 1, size=(50, 512))]))
    index.save(tmp_path / "i8")
    assert len(SearchIndex.load(tmp_path / "i8")) == 101


def test_load_refuses_bad_int8_scales(tmp_path: Path) -> None:
    folder = saved(tmp_path, dtype="int8")
    loaded = SearchIndex.load(folder)
    vectors, scales = np.array(loaded._vectors), np.array(loaded._scales)
    edit_tensors(folder, vectors=vectors, scales=-scales)
    with pytest.raises(ModelFormatError, match=r"index\.safetensors.*scale"):
        SearchIndex.load(folder)
    edit_tensors(folder, vectors=vectors, scales=scales * np.float32(np.nan))
    with pytest.raises(ModelFormatError, match=r"index\.safetensors"):
        SearchIndex.load(folder)


@pytest.mark.parametrize(
    "changes",
    [
        {"texts": "hello world"},
        {"texts": [1, 2, 3, 4, 5, 6]},
        {"ids": "abcdef"},
        {"ids": [0, 2, "a", "b", 10, True]},
        {"ids": [0, 2, "a", "b", 10, 10]},
        {"dim": 0},
        {"dim": "8"},
        {"dim": True},
        {"dtype": "int4"},
        {"dtype": ["float32"]},
        {"memory_budget": 0},
        {"memory_budget": float("nan")},
        {"memory_budget": "1"},
        {"backend": "hnsw"},
        {"backend": ["exact"]},
        {"backend_options": {"connectivity": 8}},
        {"backend_options": []},
        {"format_version": 2},
        {"format_version": True},
    ],
)
def test_load_refuses_malformed_settings(tmp_path: Path, changes: dict[str, Any]) -> None:
    folder = saved(tmp_path)
    edit_json(folder, **changes)
    with pytest.raises(ModelFormatError, match=r"index\.json"):
        SearchIndex.load(folder)


@pytest.mark.skipif(importlib.util.find_spec("usearch") is None, reason="usearch is not installed")
@pytest.mark.parametrize("options", [{"threads": 2**70}, {"expansion_search": 0}, {"ef": 3}])
def test_load_refuses_bad_saved_usearch_options(tmp_path: Path, options: dict[str, Any]) -> None:
    index = SearchIndex(backend="usearch", backend_options={"threads": 1})
    index.add(np.eye(4))
    index.save(tmp_path / "graph")
    edit_json(tmp_path / "graph", backend_options=options)
    with pytest.raises(ModelFormatError, match=r"index\.json.*usearch option"):
        SearchIndex.load(tmp_path / "graph")


@pytest.mark.skipif(importlib.util.find_spec("usearch") is None, reason="usearch is not installed")
@pytest.mark.parametrize("seed", range(6))
def test_damaged_usearch_graph_is_refused_before_usearch_reads_it(tmp_path: Path, seed: int) -> None:
    # Flipped bytes in index.usearch crashed the process inside usearch (a segmentation fault).
    index = SearchIndex(backend="usearch", backend_options={"threads": 1})
    index.add(np.random.default_rng(seed).normal(size=(30, 8)))
    index.save(tmp_path / "graph")
    graph = tmp_path / "graph" / "index.usearch"
    data = bytearray(graph.read_bytes())
    rng = np.random.default_rng(seed)
    for _ in range(3):
        data[int(rng.integers(0, len(data)))] ^= int(rng.integers(1, 256))
    graph.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=r"index\.usearch.*checksum"):
        SearchIndex.load(tmp_path / "graph")


@pytest.mark.parametrize(
    "checksums",
    [
        {"../outside": "0" * 64},
        {"/etc/passwd": "0" * 64},
        {"index.json": "0" * 64},
        {"index.usearch": "abc"},
        {"index.usearch": None},
        ["index.usearch"],
    ],
)
def test_load_refuses_bad_checksum_entries(tmp_path: Path, checksums: object) -> None:
    folder = saved(tmp_path)
    edit_json(folder, checksums=checksums)
    with pytest.raises(ModelFormatError, match=r"index\.json.*checksums"):
        SearchIndex.load(folder)


def test_listed_backend_file_must_exist(tmp_path: Path) -> None:
    folder = saved(tmp_path)
    edit_json(folder, checksums={"index.usearch": "0" * 64})
    with pytest.raises(FileNotFoundError, match=r"index\.usearch"):
        SearchIndex.load(folder)


@pytest.mark.parametrize("value", [[], "x", 3, None])
def test_load_refuses_a_settings_file_that_is_not_an_object(tmp_path: Path, value: object) -> None:
    folder = saved(tmp_path)
    (folder / "index.json").write_text(json.dumps(value))
    with pytest.raises(ModelFormatError, match=r"index\.json"):
        SearchIndex.load(folder)


def test_a_zero_dim_index_cannot_be_made(tmp_path: Path) -> None:
    index = SearchIndex()
    with pytest.raises(ValueError, match="0-d"):
        index.add(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="positive"):
        SearchIndex(dim=0)
    with pytest.raises(ValueError, match="dim"):
        SearchIndex(dim=True)  # type: ignore[arg-type]
    index.save(tmp_path / "empty")
    assert SearchIndex.load(tmp_path / "empty").dim is None


# --- overflow and underflow ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vector", [np.array([3e38, 3e38], dtype=np.float32), np.array([1e39, 1e39]), np.array([1e-40, 1e-40], np.float32)]
)
@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_huge_and_tiny_vectors_are_stored_as_unit_vectors(tmp_path: Path, vector: np.ndarray, dtype: str) -> None:
    index = SearchIndex(dtype=dtype)
    index.add(np.vstack([vector, [1.0, 0.0]]))
    np.testing.assert_allclose(index.vectors()[0], [2**-0.5, 2**-0.5], atol=1e-2)
    ids, scores = index.search(vector, 2)
    assert ids == [0, 1]
    np.testing.assert_allclose(scores, [1.0, 2**-0.5], atol=1e-2)
    index.save(tmp_path / "idx")
    assert SearchIndex.load(tmp_path / "idx").search(vector, 1)[0] == [0]


# --- permissions --------------------------------------------------------------------------------------------


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_saved_index_follows_the_umask(tmp_path: Path, mask: int) -> None:
    folders = []
    with umask(mask):
        folders.append(saved(tmp_path))
        saved(tmp_path)  # replacing an existing index too
        if importlib.util.find_spec("usearch") is not None:
            index = SearchIndex(backend="usearch")
            index.add(np.eye(4))
            index.save(tmp_path / "graph")
            folders.append(tmp_path / "graph")
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask
        for path in folder.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path


def test_a_save_killed_between_its_renames_is_recovered_on_load(tmp_path: Path) -> None:
    folder = saved(tmp_path)
    # The old index was moved aside and the process died before the new one took its place.
    folder.rename(tmp_path / ".idx.old-0123456789ab")
    assert len(SearchIndex.load(folder)) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_save_refuses_a_file_and_the_root(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        SearchIndex(dim=2).save(tmp_path / "file")
    with pytest.raises(ValueError, match="root"):
        SearchIndex(dim=2).save("/")


# --- the recorded model -------------------------------------------------------------------------------------


def test_fingerprint_is_a_pure_function_of_vocabulary_dim_and_table() -> None:
    model = make_model(dim=8, seed=1)
    same = make_model(dim=8, seed=1)
    assert model_fingerprint(model) == model_fingerprint(same)
    assert set(model_fingerprint(model)) == {"vocabulary_sha256", "dim", "table_sha256"}
    other_table = make_model(dim=8, seed=2)
    assert model_fingerprint(other_table)["table_sha256"] != model_fingerprint(model)["table_sha256"]
    assert model_fingerprint(other_table)["vocabulary_sha256"] == model_fingerprint(model)["vocabulary_sha256"]
    from model2vec import StaticModel

    words = [*WORDS[:-1], "日本"]
    renamed = StaticModel(model.embedding, make_tokenizer(words))
    assert model_fingerprint(renamed)["vocabulary_sha256"] != model_fingerprint(model)["vocabulary_sha256"]
    assert model_fingerprint(renamed)["table_sha256"] == model_fingerprint(model)["table_sha256"]
    weighted = StaticModel(model.embedding, make_tokenizer(), weights=np.arange(len(WORDS), dtype=np.float32))
    assert model_fingerprint(weighted)["table_sha256"] != model_fingerprint(model)["table_sha256"]


def test_index_records_its_model_and_refuses_another(tmp_path: Path) -> None:
    model = make_model(dim=8, seed=1)
    model.save_pretrained(tmp_path / "model")
    index = SearchIndex.from_model(model, ["hello world", "a big red dog"], model_path=tmp_path / "model")
    index.save(tmp_path / "idx")
    recorded = json.loads((tmp_path / "idx" / "index.json").read_text())["model"]
    assert recorded == {"path": str((tmp_path / "model").resolve()), "fingerprint": model_fingerprint(model)}
    # No model given: a text query loads the recorded one.
    loaded = SearchIndex.load(tmp_path / "idx")
    assert loaded.model_path == str((tmp_path / "model").resolve())
    assert loaded.search("a big red dog", 1)[0] == [1]
    # The same model passes; another of the same dimension is refused, naming what differs.
    assert SearchIndex.load(tmp_path / "idx", model=make_model(dim=8, seed=1)).search("hello", 1)[0] == [0]
    with pytest.raises(ValueError, match=r"differs in table"):
        SearchIndex.load(tmp_path / "idx", model=make_model(dim=8, seed=2))
    # A recorded model that changed on disk is refused too.
    make_model(dim=8, seed=3).save_pretrained(tmp_path / "model")
    with pytest.raises(ValueError, match=r"not the model this index was built with"):
        SearchIndex.load(tmp_path / "idx").search("hello", 1)


def test_recorded_model_survives_a_save_without_the_model(tmp_path: Path) -> None:
    model = make_model(dim=8)
    index = SearchIndex.from_model(model, ["hello"], model_path="some-org/some-model")
    index.save(tmp_path / "a")
    vectors_only = SearchIndex.load(tmp_path / "a")
    vectors_only.add(np.ones(8))
    vectors_only.save(tmp_path / "b")
    assert SearchIndex.load(tmp_path / "b").model_path == "some-org/some-model"
    with pytest.raises(ValueError, match="table"):
        SearchIndex.load(tmp_path / "b", model=make_model(dim=8, seed=5))


def test_old_index_without_a_record_still_loads(tmp_path: Path) -> None:
    folder = saved(tmp_path)
    data = json.loads((folder / "index.json").read_text())
    data.pop("model", None)
    (folder / "index.json").write_text(json.dumps(data))
    loaded = SearchIndex.load(folder)
    assert loaded.model_path is None
    with pytest.raises(ValueError, match="needs a model"):
        loaded.search("hello", 1)
    assert SearchIndex.load(folder, model=make_model(dim=8, seed=9)).search("hello", 1)[0]


@pytest.mark.parametrize(
    "record",
    [
        "path",
        {"path": 3, "fingerprint": None},
        {"path": None, "fingerprint": {"dim": 8}},
        {"path": None, "fingerprint": {"dim": "8", "vocabulary_sha256": "0", "table_sha256": "0"}},
        {"path": None},
    ],
)
def test_load_refuses_a_malformed_model_record(tmp_path: Path, record: object) -> None:
    folder = saved(tmp_path)
    edit_json(folder, model=record)
    with pytest.raises(ModelFormatError, match=r"index\.json.*model"):
        SearchIndex.load(folder)


def test_missing_recorded_model_names_the_way_out(tmp_path: Path) -> None:
    index = SearchIndex.from_model(make_model(dim=8), ["hello"], model_path=tmp_path / "gone")
    index.save(tmp_path / "idx")
    with pytest.raises(FileNotFoundError, match=r"gone.*model="):
        SearchIndex.load(tmp_path / "idx").search("hello", 1)


# --- fuzzing the reader -------------------------------------------------------------------------------------

WRONG_VALUES = st.sampled_from([None, True, -1, 0, 1.5, float("nan"), 10**30, "", "x", [], [None], {}, {"a": 1}])
FIELDS = [
    "format_version", "dim", "dtype", "memory_budget", "backend", "backend_options", "next_id", "ids", "texts",
    "checksums",
]  # fmt: skip


@st.composite
def corruption(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["flip", "truncate", "remove", "retype", "retype_item", "model"]))
    if kind in ("flip", "truncate"):
        name = draw(st.sampled_from(["index.json", "index.safetensors"]))
        positions = draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=4))
        return kind, (name, positions, draw(st.integers(1, 255)))
    if kind == "remove":
        return kind, draw(st.sampled_from([*FIELDS, "model"]))
    if kind == "retype":
        return kind, (draw(st.sampled_from([*FIELDS, "model"])), draw(WRONG_VALUES))
    if kind == "retype_item":
        return kind, (draw(st.sampled_from(["ids", "texts"])), draw(st.integers(0, 5)), draw(WRONG_VALUES))
    part = draw(st.sampled_from(["path", "fingerprint", "dim", "vocabulary_sha256", "table_sha256"]))
    return kind, (part, draw(WRONG_VALUES))


def corrupt(folder: Path, kind: str, detail: Any) -> None:
    if kind in ("flip", "truncate"):
        name, positions, value = detail
        path = folder / name
        data = bytearray(path.read_bytes())
        if kind == "truncate":
            del data[positions[0] % (len(data) + 1) :]
        else:
            for position in positions if data else []:
                data[position % len(data)] ^= value
        path.write_bytes(bytes(data))
        return
    path = folder / "index.json"
    try:
        settings_ = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return  # an earlier flip already broke the JSON
    if not isinstance(settings_, dict):
        return
    if kind == "remove":
        settings_.pop(detail, None)
    elif kind == "retype":
        settings_[detail[0]] = detail[1]
    elif kind == "retype_item":
        field, position, value = detail
        items = settings_.get(field)
        if isinstance(items, list) and position < len(items):
            items[position] = value
    else:
        part, value = detail
        record = settings_.get("model")
        if isinstance(record, dict) and part == "path":
            record["path"] = value
        elif isinstance(record, dict) and isinstance(record.get("fingerprint"), dict):
            record["fingerprint"][part] = value
    path.write_text(json.dumps(settings_), encoding="utf-8")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return saved(tmp_path_factory.mktemp("pristine"))


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=st.sampled_from(["float32", "int8"]), damage=st.lists(corruption(), min_size=1, max_size=3))
def test_corrupt_index_files_fail_cleanly(pristine: Path, dtype: str, damage: list[tuple[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = saved(Path(scratch), dtype=dtype) if dtype == "int8" else Path(scratch) / "idx"
        if dtype != "int8":
            folder.mkdir()
            for path in pristine.iterdir():
                (folder / path.name).write_bytes(path.read_bytes())
        for kind, detail in damage:
            corrupt(folder, kind, detail)
        try:
            index = SearchIndex.load(folder)
        except ValueError as error:  # ModelFormatError is a ValueError
            message = str(error)
        else:
            message = ""
        event("refused" if message else "loaded")
        if message:
            assert str(folder) in message, message
            return
        # Whatever loaded must work: search, texts, ids, and a save of its own.
        if len(index):
            index.search(np.ones(index.dim or 1), 3)
            for item in index.ids:
                index.text(item)
        index.save(Path(scratch) / "again")
        SearchIndex.load(Path(scratch) / "again")
