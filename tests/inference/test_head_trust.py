"""The skops allow-list decides on what a name resolves to, before anything in the file is constructed.

Each hostile file here is a real skops archive whose schema names an object that a scikit-learn module
merely imports (or a callable): loading it must refuse with the name and leave the file system untouched.
"""

from __future__ import annotations

import io
import json
import socket
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from model2vec.format import ModelFormatError
from model2vec.inference import StaticModelPipeline, UntrustedTypesError, allowed_type, check_head_file, load_head

from ..conftest import make_model


def _value(value: Any) -> dict[str, Any]:
    """The skops schema node of a JSON-able builtin value (as skops writes it)."""
    return {
        "__class__": type(value).__name__,
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def _call(module: str, name: str, *args: Any, loader: str = "ConstructorFromReduceNode") -> dict[str, Any]:
    """A schema node asking skops to call `module.name(*args)`."""
    arguments = {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": [_value(arg) for arg in args],
    }
    return {"__class__": name, "__module__": module, "__loader__": loader, "content": arguments}


def _hostile_head(path: Path, payload: dict[str, Any]) -> None:
    """Write a fitted LogisticRegression head whose attribute `extra` is the payload node."""
    head = LogisticRegression().fit(np.random.default_rng(0).normal(size=(10, 3)), np.arange(10) % 2)
    archive = zipfile.ZipFile(io.BytesIO(sio.dumps(head)))
    schema = json.loads(archive.read("schema.json"))
    attributes = schema["content"]
    attributes["content"]["extra"] = payload
    # skops pairs each attribute with the type of its key: without one more, `extra` would be dropped unbuilt.
    attributes["key_types"]["content"].append(dict(attributes["key_types"]["content"][0]))
    with zipfile.ZipFile(path, "w") as out:
        for item in archive.infolist():
            data = json.dumps(schema).encode() if item.filename == "schema.json" else archive.read(item)
            out.writestr(item, data)


def _pipeline_folder(tmp_path: Path, payload: dict[str, Any]) -> Path:
    folder = tmp_path / "pipeline"
    make_model(dim=3).save_pretrained(folder)
    _hostile_head(folder / "pipeline.skops", payload)
    return folder


def test_gzipfile_imported_by_sklearn_cannot_truncate_a_file(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious data\n")
    folder = _pipeline_folder(tmp_path, _call("sklearn.datasets._covtype", "GzipFile", str(victim), "wb"))
    with pytest.raises(UntrustedTypesError, match=r"sklearn\.datasets\._covtype\.GzipFile"):
        StaticModelPipeline.from_pretrained(folder)
    assert victim.read_bytes() == b"precious data\n"


def test_memmap_imported_by_sklearn_cannot_overwrite_a_file(tmp_path: Path) -> None:
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"x" * 64)
    payload = _call("sklearn.externals.array_api_compat.numpy", "memmap", str(victim), "uint8", "w+", 0, 4)
    with pytest.raises(UntrustedTypesError, match="memmap"):
        StaticModelPipeline.from_pretrained(_pipeline_folder(tmp_path, payload))
    assert victim.read_bytes() == b"x" * 64


def test_temporary_directory_imported_by_sklearn_is_not_created(tmp_path: Path) -> None:
    payload = _call("sklearn.datasets._covtype", "TemporaryDirectory", "", "made-", str(tmp_path / "dirs"))
    (tmp_path / "dirs").mkdir()
    with pytest.raises(UntrustedTypesError, match="TemporaryDirectory"):
        StaticModelPipeline.from_pretrained(_pipeline_folder(tmp_path, payload))
    assert list((tmp_path / "dirs").iterdir()) == []


def test_listener_imported_by_sklearn_binds_no_socket(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port, released again for the payload to (not) take
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    payload = _call("sklearn.callback._transport", "Listener", ["127.0.0.1", port])
    with pytest.raises(UntrustedTypesError, match="Listener"):
        StaticModelPipeline.from_pretrained(_pipeline_folder(tmp_path, payload))
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # still free: nothing listened on it


@pytest.mark.parametrize("loader", ["FunctionNode", "TypeNode"])
def test_sklearn_estimator_as_a_callable_is_refused(tmp_path: Path, loader: str) -> None:
    # Even a trusted class may not be handed to the head as a callable (a FunctionTransformer would call it).
    payload = {
        "__class__": "StandardScaler",
        "__module__": "sklearn.preprocessing._data",
        "__loader__": loader,
        "content": {},
    }
    path = tmp_path / "head.skops"
    _hostile_head(path, payload)
    with pytest.raises(UntrustedTypesError, match="StandardScaler"):
        load_head(path)


def test_bound_method_is_refused(tmp_path: Path) -> None:
    owner = json.loads(zipfile.ZipFile(io.BytesIO(sio.dumps(StandardScaler()))).read("schema.json"))
    payload = {
        "__class__": "StandardScaler",
        "__module__": "sklearn.preprocessing._data",
        "__loader__": "MethodNode",
        "content": {"func": "fit", "obj": owner},
    }
    path = tmp_path / "head.skops"
    _hostile_head(path, payload)
    _, refused = check_head_file(path)
    assert "sklearn.preprocessing._data.StandardScaler.fit" in refused
    with pytest.raises(UntrustedTypesError, match=r"StandardScaler\.fit"):
        load_head(path)


def test_refused_file_is_loadable_only_with_trust_remote_code(tmp_path: Path) -> None:
    # An estimator that skops does not trust but we do not either: constructed only on explicit opt-in.
    payload = _call("sklearn.datasets._covtype", "GzipFile", str(tmp_path / "made.gz"), "wb")
    path = tmp_path / "head.skops"
    _hostile_head(path, payload)
    with pytest.raises(UntrustedTypesError):
        load_head(path)
    assert not (tmp_path / "made.gz").exists()
    head = load_head(path, trust_remote_code=True)
    head.extra.close()
    assert (tmp_path / "made.gz").exists()


@pytest.mark.parametrize(
    ("name", "loader", "allowed"),
    [
        ("sklearn.datasets._covtype.GzipFile", "ObjectNode", False),  # imported from gzip
        ("sklearn.externals.array_api_compat.numpy.memmap", "ObjectNode", False),
        ("sklearn.tree._tree.Tree", "ObjectNode", True),
        ("sklearn.neighbors._kd_tree.KDTree", "ObjectNode", True),
        ("sklearn.preprocessing._data.StandardScaler", "ConstructorFromReduceNode", True),
        ("sklearn.preprocessing._data.StandardScaler", "FunctionNode", False),
        ("sklearn.base.BaseEstimator.__init__", "ObjectNode", False),
        ("sklearn.utils._param_validation.Interval", "ObjectNode", False),  # a class, but not a head's type
        ("sklearn..x", "ObjectNode", False),
        ("", "ObjectNode", False),
    ],
)
def test_allowed_type_checks_the_resolved_object(name: str, loader: str, allowed: bool) -> None:
    assert allowed_type(name, loader) is allowed


def test_fitted_heads_with_helper_types_load_without_opt_in(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(40, 4)), np.arange(40) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        heads = [
            MLPClassifier(max_iter=5).fit(features, labels),  # AdamOptimizer
            RandomForestClassifier(n_estimators=2, random_state=0).fit(features, labels),  # Tree
            HistGradientBoostingClassifier(max_iter=2).fit(features, labels),  # TreePredictor, losses
            KNeighborsClassifier(algorithm="kd_tree").fit(features, labels),  # KDTree, distance metric
        ]
    for head in heads:
        sio.dump(head, tmp_path / "head.skops")
        _, refused = check_head_file(tmp_path / "head.skops")
        assert refused == [], (type(head).__name__, refused)
        np.testing.assert_array_equal(load_head(tmp_path / "head.skops").predict(features), head.predict(features))


@pytest.mark.parametrize(
    "content",
    [b"not a zip", b"PK\x03\x04 truncated", None],
    ids=["garbage", "truncated", "deeply-nested-schema"],
)
def test_malformed_head_is_a_format_error_naming_the_file(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "head.skops"
    if content is None:
        with zipfile.ZipFile(path, "w") as out:
            out.writestr("schema.json", "[" * 100_000 + "]" * 100_000)
    else:
        path.write_bytes(content)
    with pytest.raises(ModelFormatError, match=r"head\.skops"):
        load_head(path)
