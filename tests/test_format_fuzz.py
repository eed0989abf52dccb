"""Property-based fuzzing of the model-folder readers: corrupt files fail cleanly, naming the file.

Each example copies a small valid model folder, corrupts one of its files (flipped bytes, a cut, an
inserted run of bytes, or a structural edit: a JSON value replaced by one of the wrong type, a
safetensors header field changed), then loads the folder. Loading must either succeed or raise
`ModelFormatError` / `ValueError` whose message names the corrupted file: never another exception,
a hang or a crash.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from model2vec import StaticModel
from model2vec import format as fmt

from .conftest import WORDS, make_tokenizer

FILES = ["model.safetensors", "config.json", "modules.json", "tokenizer.json"]
FUZZ = settings(
    max_examples=80, deadline=2000, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)

# Any JSON value, small: wrong types for every field the readers look at.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def valid_folder() -> Iterator[Path]:
    """A model folder with a table, per-token weights, a Normalize module and a model card."""
    with tempfile.TemporaryDirectory() as root:
        rng = np.random.default_rng(0)
        model = StaticModel(
            rng.normal(size=(len(WORDS), 4)).astype(np.float32),
            make_tokenizer(),
            normalize=True,
            weights=rng.random(len(WORDS)).astype(np.float32),
            base_model_name="org/teacher",
        )
        model.save_pretrained(Path(root) / "m")
        yield Path(root) / "m"


def _edit_json(value: Any, path: list[int], replacement: Any) -> Any:
    """Replace the node reached by following `path` (indices modulo each container's size)."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[path[0] % len(keys)]
    value[key] = _edit_json(value[key], path[1:], replacement)
    return value


def _structural_edit(name: str, data: bytes, path: list[int], replacement: Any) -> bytes:
    """Change one JSON node of a JSON file, or of a safetensors header (keeping the tensor bytes).

    A file an earlier edit made unparsable here (deep nesting) is returned unchanged.
    """
    size = len(data) if name.endswith(".json") else int.from_bytes(data[:8], "little")
    try:
        decoded = json.loads(data if name.endswith(".json") else data[8 : 8 + size])
        encoded = _encode(_edit_json(decoded, path, replacement))
    except RecursionError:
        return data
    if name.endswith(".json"):
        return encoded
    return struct.pack("<Q", len(encoded)) + encoded + data[8 + size :]


@dataclass(frozen=True)
class Nested:
    """A JSON value nested `depth` lists deep (written into the encoded text, not built in Python)."""

    depth: int


def _encode(value: Any) -> bytes:
    nests: list[Nested] = []

    def placeholder(node: Any) -> Any:
        if isinstance(node, Nested):
            nests.append(node)
            return f"__nest{len(nests) - 1}__"
        if isinstance(node, dict):
            return {key: placeholder(item) for key, item in node.items()}
        if isinstance(node, list):
            return [placeholder(item) for item in node]
        return node

    text = json.dumps(placeholder(value))
    for index, nest in enumerate(nests):
        text = text.replace(f'"__nest{index}__"', "[" * nest.depth + "0" + "]" * nest.depth)
    return text.encode()


# Values that a header or config edit puts in place: wrong types, near-valid numbers and deep nesting.
replacements = st.one_of(
    json_values,
    st.integers(-3, 200),
    st.lists(st.integers(-3, 200), max_size=3),
    st.sampled_from(["F32", "F16", "I8", "BOOL", "U64", "F8"]),
    st.integers(1, 5000).map(Nested),
)

corruptions = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=4)),
    st.tuples(st.just("cut"), st.floats(0, 1)),
    st.tuples(st.just("insert"), st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=16))),
    st.tuples(st.just("edit"), st.tuples(st.lists(st.integers(0, 50), max_size=4), replacements)),
)


def _corrupt(name: str, data: bytes, corruption: tuple[str, Any]) -> bytes:
    kind, spec = corruption
    if kind == "flip":
        buffer = bytearray(data)
        for where, mask in spec:
            buffer[min(int(where * len(buffer)), len(buffer) - 1)] ^= mask
        return bytes(buffer)
    if kind == "cut":
        return data[: int(spec * len(data))]
    if kind == "insert":
        where, extra = spec
        at = int(where * len(data))
        return data[:at] + extra + data[at:]
    return _structural_edit(name, data, *spec)


def _refusal(call: Callable[[], object], accepted: type[Exception]) -> Exception | None:
    """Run `call`; return the `accepted` exception it raised, or None. Any other exception propagates."""
    try:
        call()
    except accepted as error:
        return error
    return None


def _check_load(folder: Path, name: str) -> None:
    """Load the folder: a clean refusal naming the file, or a model that encodes to finite vectors."""
    error = _refusal(lambda: StaticModel.from_pretrained(folder), ValueError)  # ModelFormatError is one
    event(f"{'refused' if error else 'loaded'} {name}")
    if error is not None:
        assert name in str(error), f"{type(error).__name__} does not name {name}: {error}"
        return
    model = StaticModel.from_pretrained(folder)
    assert np.isfinite(model.encode(["hello world", "qqq é 日本 zzz", "", "the cat sat on the mat " * 50])).all()


@pytest.mark.parametrize("name", FILES)
@FUZZ
@given(corruption=corruptions)
def test_corrupt_file_fails_cleanly(valid_folder: Path, name: str, corruption: tuple[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "m"
        shutil.copytree(valid_folder, folder)
        path = folder / name
        path.write_bytes(_corrupt(name, path.read_bytes(), corruption))
        event(corruption[0])
        _check_load(folder, name)


def _reference_read(path: Path) -> dict[str, bytes] | None:
    """The tensors' bytes as the safetensors library reads them, or None if it refuses the file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "np") as handle:
            return {name: handle.get_tensor(name).tobytes() for name in handle.keys()}  # noqa: SIM118
    except Exception:  # the library's own error types vary with its version
        return None


@settings(FUZZ, max_examples=150)
@given(edits=st.lists(st.tuples(st.lists(st.integers(0, 50), min_size=1, max_size=3), replacements), max_size=3))
def test_safetensors_header_edits_agree_with_the_reference(edits: list[tuple[list[int], Any]]) -> None:
    # Whatever we accept, the safetensors library accepts too and reads to the same bytes (it is more
    # lenient in places the format forbids: duplicate keys, a header not starting with '{').
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(4, dtype=np.int8)}
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "t.safetensors"
        from safetensors.numpy import save_file

        save_file(tensors, str(path))
        data = path.read_bytes()
        for where, value in edits:
            data = _structural_edit(path.name, data, where, value)
        path.write_bytes(data)
        error = _refusal(lambda: fmt.read_tensors(path), fmt.ModelFormatError)
        event("refused" if error else "accepted")
        if error is not None:
            assert "t.safetensors" in str(error)
            return
        ours = {name: array.tobytes() for name, array in fmt.read_tensors(path).items()}
        assert _reference_read(path) == ours


@FUZZ
@given(data=st.binary(max_size=64), header=json_values)
def test_read_tensors_on_arbitrary_bytes(data: bytes, header: Any) -> None:
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "t.safetensors"
        for content in (data, struct.pack("<Q", len(json.dumps(header))) + json.dumps(header).encode() + data):
            path.write_bytes(content)
            error = _refusal(lambda: fmt.read_tensors(path), fmt.ModelFormatError)
            assert error is None or "t.safetensors" in str(error)


@FUZZ
@given(data=st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_json_readers_on_arbitrary_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root)
        for name in ("config.json", "modules.json"):
            (folder / name).write_bytes(data)
        config = folder / "config.json"
        error = _refusal(lambda: fmt.check_config(fmt.read_json(config), config), fmt.ModelFormatError)
        assert error is None or "config.json" in str(error)
        error = _refusal(lambda: fmt.normalize_in_modules(folder), fmt.ModelFormatError)
        assert error is None or "modules.json" in str(error)
