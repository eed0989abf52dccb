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


def _http_module() -> Any:
    """The HTTP library the installed hub client uses (httpx2 for huggingface_hub 2.x, else httpx)."""
    import importlib

    import huggingface_hub.utils._http  # noqa: F401  (imports the client's HTTP library)

    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    pytest.skip("the hub client uses neither httpx nor httpx2")


def _http_error(status: int, error_type: Any = None) -> Exception:
    """A hub client error carrying an HTTP response with `status`."""
    from huggingface_hub.errors import HfHubHTTPError

    http = _http_module()
    response = http.Response(status, request=http.Request("POST", "https://huggingface.co/api/repos/create"))
    return (error_type or HfHubHTTPError)(f"{status} Client Error", response=response)


def test_offline_load_says_why_and_lists_the_ways_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huggingface_hub import constants

    from model2vec.hub import HubError, HubNotFoundError

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))

    def offline(repo_id: str, **kwargs: Any) -> str:
        raise LocalEntryNotFoundError("Got: ConnectError: Name or service not known")

    monkeypatch.setattr("huggingface_hub.snapshot_download", offline)
    with pytest.raises(HubNotFoundError) as raised:
        StaticModel.from_pretrained("org/absent")
    message = str(raised.value)
    assert isinstance(raised.value, FileNotFoundError) and isinstance(raised.value, HubError)
    assert message.startswith("org/absent is not a local folder and could not be fetched from the hub: not in the hub")
    assert "Ways out:" in message and "local model folder" in message
    assert f"hub cache at {tmp_path / 'cache'}" in message and "HF_HOME / HF_HUB_CACHE" in message
    assert "pip install" not in message  # packaged teachers are offered for teachers only


def test_missing_repository_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub.errors import RepositoryNotFoundError

    calls = 0

    def missing(repo_id: str, **kwargs: Any) -> str:
        nonlocal calls
        calls += 1
        if kwargs.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        raise _http_error(404, RepositoryNotFoundError)

    monkeypatch.setattr("huggingface_hub.snapshot_download", missing)
    with pytest.raises(FileNotFoundError, match="no such repository, or it is private"):
        StaticModel.from_pretrained("org/typo")
    assert calls == 2


def test_network_errors_that_are_not_oserrors_are_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    # huggingface_hub >= 1.0 lets httpx errors through, and those are not OSErrors.
    http = _http_module()

    def unreachable(repo_id: str, **kwargs: Any) -> str:
        if kwargs.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        raise http.ConnectError("Name or service not known")

    monkeypatch.setattr("huggingface_hub.snapshot_download", unreachable)
    with pytest.raises(FileNotFoundError, match="the hub is unreachable; ConnectError: Name or service"):
        StaticModel.from_pretrained("org/model")


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("connect", "the hub is unreachable; ConnectError"),
        ("unauthorized", "HTTP 401: the token is missing, invalid or lacks access"),
        ("offline", "the hub is unreachable; OSError: offline mode"),
    ],
)
def test_push_errors_are_wrapped_like_load_errors(
    failure: str, reason: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from model2vec.hub import HubError

    http = _http_module()
    errors = {
        "connect": http.ConnectError("Name or service not known"),
        "unauthorized": _http_error(401),
        "offline": OSError("offline mode"),
    }

    class FailingApi:
        def __init__(self, token: str | None = None) -> None:
            pass

        def create_repo(self, **kwargs: Any) -> None:
            raise errors[failure]

    monkeypatch.setattr("huggingface_hub.HfApi", FailingApi)
    with pytest.raises(HubError) as raised:
        make_model().push_to_hub("org/new", token="t")
    message = str(raised.value)
    assert message.startswith(f"org/new could not be pushed to the hub: {reason}")
    assert "Ways out:" in message and "HF_TOKEN" in message and "save_pretrained(folder)" in message
    assert raised.value.__cause__ is errors[failure]
