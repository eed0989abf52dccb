"""Hub paths with the hub client mocked: cache first, download when missing, push."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

from model2vec import StaticModel

from .conftest import make_model


def test_cached_repo_is_loaded_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_model().save_pretrained(tmp_path / "snap")
    calls: list[dict[str, Any]] = []

    def fake_snapshot(repo_id: str, **kwargs: Any) -> str:
        calls.append(kwargs)
        assert repo_id == "org/model"
        return str(tmp_path / "snap")

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    model = StaticModel.from_pretrained("org/model")
    assert model.dim == 8
    assert len(calls) == 1 and calls[0]["local_files_only"] is True


def test_missing_from_cache_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_model().save_pretrained(tmp_path / "snap")
    calls: list[dict[str, Any]] = []

    def fake_snapshot(repo_id: str, **kwargs: Any) -> str:
        calls.append(kwargs)
        if kwargs.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        return str(tmp_path / "snap")

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    StaticModel.from_pretrained("org/model", token="tok")
    assert [c.get("local_files_only", False) for c in calls] == [True, False]
    assert calls[1]["token"] == "tok"

    calls.clear()
    StaticModel.from_pretrained("org/model", force_download=True)
    assert len(calls) == 1 and calls[0]["force_download"] is True


def test_unfetchable_repo_raises_file_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_snapshot(repo_id: str, **kwargs: Any) -> str:
        raise LocalEntryNotFoundError("offline")

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    with pytest.raises(FileNotFoundError, match="org/absent"):
        StaticModel.from_pretrained("org/absent")


def test_push_to_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    class FakeApi:
        def __init__(self, token: str | None = None) -> None:
            seen["token"] = token

        def create_repo(self, **kwargs: Any) -> None:
            seen["create"] = kwargs

        def upload_folder(self, **kwargs: Any) -> str:
            folder = Path(kwargs["folder_path"])
            seen["files"] = sorted(p.name for p in folder.iterdir())
            seen["upload"] = kwargs
            seen["reloaded"] = StaticModel.from_pretrained(folder)
            return "https://hub/commit/1"

    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    model = make_model(normalize=True)
    assert model.push_to_hub("org/new", private=True, token="t", subfolder="sub") == "https://hub/commit/1"
    assert seen["token"] == "t"
    assert seen["create"]["repo_id"] == "org/new" and seen["create"]["private"] is True
    assert seen["upload"]["path_in_repo"] == "sub"
    assert {"model.safetensors", "tokenizer.json", "config.json", "modules.json", "README.md"} <= set(seen["files"])
    np.testing.assert_array_equal(seen["reloaded"].encode(["the cat"]), model.encode(["the cat"]))


def test_allow_patterns_are_passed_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from model2vec.hub import TEACHER_FILE_PATTERNS, resolve_model_path

    seen: list[list[str]] = []

    def fake_snapshot(repo_id: str, **kwargs: Any) -> str:
        seen.append(kwargs["allow_patterns"])
        return str(tmp_path)

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    assert resolve_model_path("org/teacher", allow_patterns=TEACHER_FILE_PATTERNS) == tmp_path
    assert resolve_model_path("org/teacher", subfolder="sub", allow_patterns=["*.onnx"]) == tmp_path / "sub"
    assert seen == [TEACHER_FILE_PATTERNS, ["sub/*.onnx"]]
