"""Hostile and careless model folders: what loading refuses and how saving treats the disk (issue 17)."""

from __future__ import annotations

import json
import os
import re
import stat
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from model2vec import StaticModel
from model2vec import format as fmt
from model2vec.cli import main as cli_main
from model2vec.format import ModelFormatError

from .conftest import WORDS, make_model

SRC = Path(__file__).resolve().parents[1] / "src"


def _saved(tmp_path: Path, name: str = "m", **kwargs: object) -> Path:
    folder = tmp_path / name
    make_model(**kwargs).save_pretrained(folder)  # type: ignore[arg-type]
    return folder


def _raw_safetensors(path: Path, header: object, data: bytes, raw_header: bytes | None = None) -> None:
    """Write a safetensors file with an arbitrary (possibly invalid) header."""
    encoded = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)


def _table_header(rows: int = len(WORDS), dim: int = 8) -> tuple[dict[str, object], bytes]:
    data = np.zeros((rows, dim), dtype=np.float32).tobytes()
    return {"embeddings": {"dtype": "F32", "shape": [rows, dim], "data_offsets": [0, len(data)]}}, data


# -- item 6: non-finite tables ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_table_is_refused(tmp_path: Path, dtype: str, bad: float) -> None:
    folder = _saved(tmp_path)
    table = np.ones((len(WORDS), 8), dtype=dtype)
    table[-1, -1] = bad  # the very last value: every chunk must be checked
    save_file({"embeddings": table}, str(folder / "model.safetensors"))
    with pytest.raises(ModelFormatError, match=r"model\.safetensors.*'embeddings'.*(NaN|infinite)"):
        StaticModel.from_pretrained(folder)


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    weights = np.ones(len(WORDS), dtype=np.float32)
    weights[3] = np.nan
    table = np.ones((len(WORDS), 8), dtype=np.float32)
    save_file({"embeddings": table, "weights": weights}, str(folder / "model.safetensors"))
    with pytest.raises(ModelFormatError, match=r"'weights'"):
        StaticModel.from_pretrained(folder)


def test_finiteness_check_reads_every_chunk(tmp_path: Path) -> None:
    path = tmp_path / "t.safetensors"
    table = np.ones((1000, 7), dtype=np.float16)  # 14 000 bytes: many 64-byte chunks, the last one partial
    for row, col in [(0, 0), (500, 3), (999, 6)]:
        bad = table.copy()
        bad[row, col] = np.inf
        save_file({"t": bad}, str(path))
        with pytest.raises(ModelFormatError, match="infinite"):
            fmt.read_tensors(path, chunk_bytes=64)
    save_file({"t": table}, str(path))
    assert fmt.read_tensors(path, chunk_bytes=64)["t"].shape == (1000, 7)


def test_finiteness_check_keeps_the_table_unmapped(tmp_path: Path) -> None:
    # The check reads the file, not the mapping: loading still costs no resident copy of the table,
    # and the table is still the file mapping.
    folder = _saved(tmp_path)
    loaded = StaticModel.from_pretrained(folder)
    assert isinstance(loaded.embedding.base, np.memmap)


# -- item 8: symlinks in the target folder ------------------------------------------------------


def test_save_keeps_symlinks_as_links(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "data.txt").write_text("data")
    (folder / "notes").symlink_to(outside / "data.txt")
    (folder / "shared").symlink_to(outside, target_is_directory=True)
    (folder / "relative").symlink_to("../outside/data.txt")
    (folder / "dangling").symlink_to(tmp_path / "missing")
    (folder / "loop").symlink_to("loop")
    links = {name: os.readlink(folder / name) for name in ["notes", "shared", "relative", "dangling", "loop"]}

    make_model(seed=3).save_pretrained(folder)
    make_model(seed=4).save_pretrained(folder)  # every save works, not only the first

    for name, destination in links.items():
        assert (folder / name).is_symlink(), name
        assert os.readlink(folder / name) == destination
    assert (folder / "relative").read_text() == "data"
    assert sorted(p.name for p in outside.iterdir()) == ["data.txt"]  # nothing written through a link
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "outside"]
    StaticModel.from_pretrained(folder)


def test_save_through_a_symlinked_target_writes_where_it_points(tmp_path: Path) -> None:
    real = _saved(tmp_path, "real", seed=1)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    model = make_model(seed=2)
    model.save_pretrained(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    np.testing.assert_array_equal(StaticModel.from_pretrained(real).embedding, model.embedding)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_save_into_a_symlink_loop_is_a_clear_error(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    with pytest.raises(OSError, match=re.escape(str(loop))):
        make_model().save_pretrained(loop)


# -- item 9: interrupted saves are recovered ----------------------------------------------------

_KILLER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    from model2vec import format as fmt
    from tests.conftest import make_model

    target, stage = sys.argv[2], sys.argv[3]
    real_replace, real_save = os.replace, fmt.save_file
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if stage == "between-renames" and len(calls) == 2:
            os._exit(9)  # the old folder is at its backup name, the new one not yet in place
        if stage == "before-renames":
            os._exit(9)  # the new folder is complete, nothing renamed yet
        real_replace(src, dst)

    def save(tensors, path):
        real_save(tensors, path)
        if stage == "while-writing":
            os._exit(9)

    def rmtree(path, ignore_errors=False):
        os._exit(9)  # both renames done, the backup not yet removed

    os.replace, fmt.save_file = replace, save
    if stage == "before-cleanup":
        import shutil
        shutil.rmtree = rmtree
    make_model(seed=2).save_pretrained(target)
    """
)


def _killed_save(target: Path, stage: str) -> None:
    """Run a real save in a child process and kill it (os._exit) at `stage`."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(root)])}
    result = subprocess.run(
        [sys.executable, "-c", _KILLER, str(SRC), str(target), stage], env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 9, result.stderr.decode()


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir())


@pytest.mark.parametrize(
    ("stage", "leftover", "winner"),
    [
        # The new folder was complete (marker written last), so it wins over the old one.
        ("between-renames", ".m.old-", 2),  # the crash state of the issue: no model at the target
        ("while-writing", ".m.tmp-", 1),  # the big staging folder the issue found; the old model stays
        ("before-cleanup", ".m.old-", 2),  # both renames done, the backup left
    ],
)
def test_killed_save_is_recovered_on_load(tmp_path: Path, stage: str, leftover: str, winner: int) -> None:
    target = _saved(tmp_path, seed=1)
    (target / "notes.txt").write_text("mine")
    _killed_save(target, stage)
    assert target.exists() is (stage != "between-renames")
    assert any(leftover in name for name in _siblings(target))
    loaded = StaticModel.from_pretrained(target)
    np.testing.assert_array_equal(loaded.embedding, make_model(seed=winner).embedding)
    assert (target / "notes.txt").read_text() == "mine"
    assert _siblings(target) == ["m"]
    assert sorted(p.name for p in target.iterdir() if p.name.startswith(".")) == []


def test_kill_between_the_renames_is_recovered_on_save(tmp_path: Path) -> None:
    target = _saved(tmp_path, seed=1)
    _killed_save(target, "between-renames")
    make_model(seed=5).save_pretrained(target)
    np.testing.assert_array_equal(StaticModel.from_pretrained(target).embedding, make_model(seed=5).embedding)
    assert _siblings(target) == ["m"]


def test_incomplete_new_folder_restores_the_old_one(tmp_path: Path) -> None:
    target = _saved(tmp_path, seed=1)
    _killed_save(target, "between-renames")
    staging = next(p for p in tmp_path.iterdir() if ".m.tmp-" in p.name)
    (staging / fmt.COMPLETE_MARKER).unlink()  # as if the kill came before the marker
    loaded = StaticModel.from_pretrained(target)
    np.testing.assert_array_equal(loaded.embedding, make_model(seed=1).embedding)
    assert _siblings(target) == ["m"]


def test_kill_during_a_first_save_restores_the_complete_folder(tmp_path: Path) -> None:
    target = tmp_path / "m"
    _killed_save(target, "before-renames")  # no old folder: the one rename would put it in place
    assert not target.exists()
    StaticModel.from_pretrained(target)
    target2 = tmp_path / "n"
    _killed_save(target2, "while-writing")
    with pytest.raises(FileNotFoundError):  # an incomplete first save is not a model
        StaticModel.from_pretrained(target2)
    assert _siblings(target) == ["m"]


def test_a_save_in_progress_is_left_alone(tmp_path: Path) -> None:
    target = _saved(tmp_path, seed=1)
    with fmt.staging_dir(target) as staging:
        (staging / "partial").write_bytes(b"x")
        StaticModel.from_pretrained(target)  # a concurrent load must not touch the live staging folder
        make_model(seed=2).save_pretrained(target)  # nor a concurrent save
        assert (staging / "partial").exists()
    assert not staging.exists()
    assert _siblings(target) == ["m"]


def test_recovery_ignores_folders_it_did_not_write(tmp_path: Path) -> None:
    target = _saved(tmp_path, seed=1)
    for name in [".m.tmp-notours!", ".m.old", ".mm.tmp-abcdef12", "m.tmp-abcdef12", ".m.bak"]:
        (tmp_path / name).mkdir()
    StaticModel.from_pretrained(target)
    make_model().save_pretrained(target)
    assert len(_siblings(target)) == 6


# -- item 10: booleans are parsed strictly ------------------------------------------------------


@pytest.mark.parametrize("value", ["false", "true", 0, 1, "no", [], {}])
def test_config_normalize_must_be_a_json_boolean(tmp_path: Path, value: object) -> None:
    folder = _saved(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["normalize"] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match=r"config\.json.*'normalize'.*true or false"):
        StaticModel.from_pretrained(folder)


@pytest.mark.parametrize("value", [True, False, None])
def test_config_normalize_json_values(tmp_path: Path, value: bool | None) -> None:
    folder = _saved(tmp_path, normalize=True)
    config = json.loads((folder / "config.json").read_text())
    config["normalize"] = value
    (folder / "config.json").write_text(json.dumps(config))
    # null falls back to the Normalize module listed in modules.json.
    assert StaticModel.from_pretrained(folder).normalize is (True if value is None else value)


@pytest.mark.parametrize(("key", "value"), [("base_model", 3), ("tokenizer_name", ["a"]), ("max_length", "512")])
def test_config_fields_have_their_types(tmp_path: Path, key: str, value: object) -> None:
    folder = _saved(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match=rf"config\.json.*'{key}'"):
        StaticModel.from_pretrained(folder)


@pytest.mark.parametrize("value", ["false", 0, 1, None])
def test_constructor_config_normalize_is_strict(value: object) -> None:
    model = make_model()
    if value is None:
        assert StaticModel(model.embedding, model.tokenizer, config={"normalize": None}).normalize is False
        return
    with pytest.raises(TypeError, match="normalize"):
        StaticModel(model.embedding, model.tokenizer, config={"normalize": value})


def test_boolean_arguments_of_loading_and_saving_are_strict(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    with pytest.raises(TypeError, match="normalize"):
        StaticModel.from_pretrained(folder, normalize="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="force_download"):
        StaticModel.from_pretrained(folder, force_download="no")  # type: ignore[arg-type]
    model = make_model()
    with pytest.raises(TypeError, match="normalize"):
        fmt.save_folder(tmp_path / "n", model.embedding, model.tokenizer, {}, normalize="false")  # type: ignore[arg-type]
    assert not (tmp_path / "n").exists()


def test_strict_bool() -> None:
    assert fmt.strict_bool(True, "x") is True
    assert fmt.strict_bool(np.bool_(False), "x") is False
    for value in ["false", "no", 0, 1, None, 1.0]:
        with pytest.raises(TypeError, match="flag must be True or False"):
            fmt.strict_bool(value, "flag")


# -- item 11: deep nesting and absurd shapes ----------------------------------------------------


def test_deeply_nested_header_is_a_format_error(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    _raw_safetensors(folder / "model.safetensors", None, b"", raw_header=b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ModelFormatError, match=r"model\.safetensors"):
        StaticModel.from_pretrained(folder)


@pytest.mark.parametrize("name", ["config.json", "modules.json"])
def test_deeply_nested_json_is_a_format_error(tmp_path: Path, name: str) -> None:
    folder = _saved(tmp_path)
    (folder / name).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelFormatError, match=re.escape(name)):
        StaticModel.from_pretrained(folder)


def test_read_json_nesting_and_huge_numbers(tmp_path: Path) -> None:
    path = tmp_path / "index.json"
    path.write_text('{"a": ' * 50_000 + "1" + "}" * 50_000)
    with pytest.raises(ModelFormatError, match=r"index\.json"):
        fmt.read_json(path)
    path.write_text('{"n": ' + "9" * 10_000 + "}")
    with pytest.raises(ModelFormatError, match=r"index\.json"):
        fmt.read_json(path)


@pytest.mark.parametrize(
    "shape", [[-1, 8], [len(WORDS), -8], [2**62, 2**62], [2**64, 1], [0, 2**70], [len(WORDS), 8, 0, 2**63]]
)
def test_negative_or_huge_shapes_are_format_errors(tmp_path: Path, shape: list[int]) -> None:
    folder = _saved(tmp_path)
    header, data = _table_header()
    header["embeddings"]["shape"] = shape  # type: ignore[index]
    _raw_safetensors(folder / "model.safetensors", header, data)
    with pytest.raises(ModelFormatError, match=r"model\.safetensors"):
        StaticModel.from_pretrained(folder)


def test_tokenizer_that_cannot_run_is_a_format_error(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    spec = json.loads((folder / "tokenizer.json").read_text())
    spec["model"]["vocab"]["[UNQ]"] = spec["model"]["vocab"].pop("[UNK]")  # parses, fails on unknown text
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(ModelFormatError, match=r"tokenizer\.json"):
        StaticModel.from_pretrained(folder)


def test_table_without_columns_is_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    save_file({"embeddings": np.zeros((len(WORDS), 0), dtype=np.float32)}, str(folder / "model.safetensors"))
    with pytest.raises(ModelFormatError, match=r"model\.safetensors.*at least one column"):
        StaticModel.from_pretrained(folder)


def test_cli_reports_a_corrupt_model_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _saved(tmp_path)
    _raw_safetensors(folder / "model.safetensors", None, b"", raw_header=b"[" * 100_000 + b"]" * 100_000)
    assert cli_main(["info", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.safetensors" in err and "Traceback" not in err


# -- item 12: permissions follow the umask ------------------------------------------------------


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_saved_model_follows_the_umask(tmp_path: Path, umask: int, file_mode: int, dir_mode: int) -> None:
    previous = os.umask(umask)
    try:
        make_model(normalize=True).save_pretrained(tmp_path / "m")
        make_model(normalize=True).save_pretrained(tmp_path / "m")  # a replace too
    finally:
        os.umask(previous)
    folder = tmp_path / "m"
    assert stat.S_IMODE(folder.stat().st_mode) == dir_mode
    for path in folder.rglob("*"):
        expected = dir_mode if path.is_dir() else file_mode
        assert stat.S_IMODE(path.stat().st_mode) == expected, path.name


# -- item 18: safetensors headers are validated as the format specifies ------------------------


def _two_tensors(offsets_a: object, offsets_b: object, data_len: int = 16) -> tuple[dict[str, object], bytes]:
    return (
        {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": offsets_a},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": offsets_b},
        },
        b"\x00" * data_len,
    )


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        (*_two_tensors([0, 8], [0, 8], 8), "overlap"),
        (*_two_tensors([0, 8], [4, 12], 12), "overlap"),
        (*_two_tensors([0, 8], [12, 20], 20), "gap|hole|contiguous"),
        (*_two_tensors([0, 8], [8, 16], 24), "trailing|cover"),
        (*_two_tensors([0.0, 8.0], [8, 16]), "integer"),
        (*_two_tensors(["0", "8"], [8, 16]), "integer"),
        (*_two_tensors([True, 8], [8, 16]), "integer"),
        (*_two_tensors([0, 8, 9], [8, 16]), "data_offsets"),
        (*_two_tensors([8, 0], [8, 16]), "data_offsets|begin"),
        ({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, b"\x00" * 8, "shape"),
        ({"a": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}}, b"\x00" * 8, "shape"),
        ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\x00" * 8, "shape|bytes"),
        ({"a": [1, 2]}, b"", "object"),
        ({"__metadata__": {"k": 1}}, b"", "__metadata__"),
        ({"__metadata__": "x"}, b"", "__metadata__"),
    ],
)
def test_safetensors_header_validation(tmp_path: Path, header: object, data: bytes, message: str) -> None:
    path = tmp_path / "t.safetensors"
    _raw_safetensors(path, header, data)
    with pytest.raises(ModelFormatError, match=rf"t\.safetensors.*({message})"):
        fmt.read_tensors(path)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a": '
        b'{"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}',  # duplicate key
        b'[{"a": 1}]',  # not an object
        b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, NaN]}}',  # not JSON
        b" " + b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}',  # must start with {
    ],
)
def test_safetensors_raw_header_validation(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "t.safetensors"
    _raw_safetensors(path, None, b"\x00" * 8, raw_header=raw)
    with pytest.raises(ModelFormatError, match=r"t\.safetensors"):
        fmt.read_tensors(path)


def test_safetensors_valid_edge_cases(tmp_path: Path) -> None:
    path = tmp_path / "t.safetensors"
    # Header padded with spaces (writers align the data), tensors listed out of offset order,
    # empty tensors, metadata, an unknown field; then an empty file body.
    header = {
        "__metadata__": {"format": "np"},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
        "a": {"dtype": "I8", "shape": [8], "data_offsets": [0, 8]},
        "e": {"dtype": "F32", "shape": [0, 5], "data_offsets": [16, 16]},
        "x": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0], "extra": 1},  # ignored, as safetensors does
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    _raw_safetensors(path, None, bytes(range(8)) + np.array([1, 2], np.float32).tobytes(), raw_header=raw)
    tensors = fmt.read_tensors(path)
    assert tensors["a"].tolist() == list(range(8))
    assert tensors["b"].tolist() == [1.0, 2.0]
    assert tensors["e"].shape == (0, 5)
    _raw_safetensors(path, {}, b"")
    assert fmt.read_tensors(path) == {}


def test_header_size_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "t.safetensors"
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", 200_000_000))
        handle.truncate(200_000_100)  # sparse: the size fits the file, but no header is that big
    with pytest.raises(ModelFormatError, match=r"t\.safetensors.*header"):
        fmt.read_tensors(path)


# -- item 20: a huge README is not read ---------------------------------------------------------


def test_huge_readme_is_read_only_at_the_front(tmp_path: Path) -> None:
    folder = _saved(tmp_path, base_model_name="org/teacher")
    readme = folder / "README.md"
    front = readme.read_text()
    with readme.open("r+b") as handle:
        handle.truncate(128 << 20)  # a 128 MiB card, sparse on disk
    tracemalloc.start()
    try:
        loaded = StaticModel.from_pretrained(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert front.startswith("---")
    assert loaded.base_model_name == "org/teacher"
    assert peak < 16 << 20


# -- item 21: saving into the current folder and relative paths ---------------------------------


def test_save_into_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _saved(tmp_path, seed=1)
    monkeypatch.chdir(target)
    make_model(seed=2).save_pretrained(".")
    assert Path.cwd() == target and os.getcwd()  # the process is not left in a deleted folder
    np.testing.assert_array_equal(StaticModel.from_pretrained(".").embedding, make_model(seed=2).embedding)
    assert _siblings(target) == ["m"]
    # Into an empty current folder, and through relative paths with "..".
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    make_model().save_pretrained("")
    make_model().save_pretrained("../m/../n")
    assert (tmp_path / "empty" / "model.safetensors").is_file() and (tmp_path / "n" / "config.json").is_file()


def test_save_into_the_filesystem_root_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="root"):
        make_model().save_pretrained("/")
