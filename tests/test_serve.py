"""The HTTP server, end to end over real HTTP on loopback (uvicorn in a thread, httpx as the client)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from model2vec import StaticModel  # noqa: E402
from model2vec.search import SearchIndex  # noqa: E402
from model2vec.serve.app import create_app, float32_lists, truncate_dimensions  # noqa: E402
from model2vec.serve.limits import ServeLimits  # noqa: E402
from model2vec.serve.server import uvicorn_server  # noqa: E402

from .conftest import make_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOCS = ["the cat sat on the mat", "a big red dog", "hello world", "日本", "the dogs sat"]
LIMITS = ServeLimits(max_body_bytes=4096, max_inputs=8, max_chars=200, max_length=64, max_concurrency=2)


class LiveServer:
    """A uvicorn server for `app` on a free loopback port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn_server(app, log_level="warning")
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


@pytest.fixture(scope="module")
def served_model() -> StaticModel:
    return make_model(dim=8, normalize=True)


@pytest.fixture(scope="module")
def server(served_model: StaticModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("index") / "idx"
    SearchIndex.from_model(served_model, DOCS).save(folder)
    index = SearchIndex.load(folder, model=served_model)
    with LiveServer(create_app(served_model, model_name="tiny", index=index, limits=LIMITS)) as live:
        yield live.url


@pytest.fixture(scope="module")
def bare_server(served_model: StaticModel) -> Iterator[str]:
    with LiveServer(create_app(served_model, model_name="tiny", limits=LIMITS)) as live:
        yield live.url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as session:
        yield session


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str)
    if code is not None:
        assert error["code"] == code
    return error


# -- /v1/embeddings -------------------------------------------------------------------------------


def test_embeddings_match_encode(client: httpx.Client, served_model: StaticModel) -> None:
    texts = ["the cat sat", "hello world", ""]
    response = client.post("/v1/embeddings", json={"input": texts, "model": "tiny"})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list" and body["model"] == "tiny"
    assert [item["index"] for item in body["data"]] == [0, 1, 2]
    assert all(item["object"] == "embedding" for item in body["data"])
    vectors = np.array([item["embedding"] for item in body["data"]], dtype=np.float32)
    np.testing.assert_array_equal(vectors, served_model.encode(texts))
    tokens = sum(len(ids) for ids in served_model.tokenize(texts))
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    assert tokens == 5


def test_single_string_and_model_omitted(client: httpx.Client, served_model: StaticModel) -> None:
    body = client.post("/v1/embeddings", json={"input": "hello"}).json()
    assert len(body["data"]) == 1 and body["model"] == "tiny"
    np.testing.assert_array_equal(np.float32(body["data"][0]["embedding"]), served_model.encode("hello"))


def test_base64_decodes_to_the_float_vectors(client: httpx.Client) -> None:
    texts = ["the big red dog", "日本 é"]
    floats = client.post("/v1/embeddings", json={"input": texts}).json()
    encoded = client.post("/v1/embeddings", json={"input": texts, "encoding_format": "base64"}).json()
    for plain, packed in zip(floats["data"], encoded["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(packed["embedding"]), dtype="<f4")
        np.testing.assert_array_equal(decoded, np.float32(plain["embedding"]))
    assert encoded["usage"] == floats["usage"]


@pytest.mark.parametrize("dimensions", [1, 3, 8])
def test_dimensions_truncate_then_normalise(client: httpx.Client, served_model: StaticModel, dimensions: int) -> None:
    texts = ["the cat", "a dog", "zzz"]
    body = client.post("/v1/embeddings", json={"input": texts, "dimensions": dimensions}).json()
    vectors = np.array([item["embedding"] for item in body["data"]], dtype=np.float32)
    assert vectors.shape == (3, dimensions)
    full = served_model.encode(texts)
    kept = full[:2, :dimensions]
    np.testing.assert_allclose(vectors[:2], kept / np.linalg.norm(kept, axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(vectors[2], 0)  # no known token: stays zero, never NaN


def test_float32_lists_round_trip_exactly() -> None:
    rng = np.random.default_rng(0)
    tiny = np.finfo(np.float32).tiny
    edge = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, tiny, tiny / 8, -tiny / 1024, np.finfo(np.float32).max, 1e-30, 123456.79]
    vectors = np.concatenate([rng.normal(size=(50, 16)), np.array(edge + [0.5] * 4).reshape(1, 16)]).astype(np.float32)
    vectors[:10] *= 10.0 ** rng.integers(-20, 20, size=(10, 16))
    values = float32_lists(vectors)
    np.testing.assert_array_equal(np.array(values, dtype=np.float32), vectors)
    assert all(float(f"{x:.9g}") == x for x in values[20])  # short decimals, not 17-digit float64 ones


def test_truncate_dimensions_keeps_zero_rows() -> None:
    out = truncate_dimensions(np.array([[3.0, 4.0, 5.0], [0.0, 0.0, 1.0]], dtype=np.float32), 2)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float32


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"input": []}, 422, "input"),
        ({}, 422, "input"),
        ({"input": 5}, 422, "input"),
        ({"input": [1, 2]}, 422, "input"),
        ({"input": "x", "encoding_format": "int8"}, 422, "encoding_format"),
        ({"input": "x", "dimensions": 0}, 422, "dimensions"),
        ({"input": "x", "dimensions": 9}, 400, "dimensions"),
        ({"input": ["x"] * 9}, 400, "input"),
        ({"input": ["x", "y" * 201]}, 400, "input"),
        ({"input": "x", "model": "text-embedding-3-small"}, 404, "model"),
    ],
)
def test_embedding_errors(client: httpx.Client, body: dict[str, Any], status: int, param: str) -> None:
    error = assert_error(client.post("/v1/embeddings", json=body), status)
    assert error["param"] == param


def test_invalid_json_and_oversized_bodies(client: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    assert_error(client.post("/v1/embeddings", content=b'{"input": ', headers=headers), 422)
    assert_error(client.post("/v1/embeddings", content=b"\xff\xfe", headers=headers), 422)
    big = b'{"input": "' + b"a" * 5000 + b'"}'
    assert_error(client.post("/v1/embeddings", content=big, headers=headers), 413, "request_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold for streamed bodies too
        yield b'{"input": "'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}'

    assert_error(client.post("/v1/embeddings", content=chunks(), headers=headers), 413, "request_too_large")


def test_lone_surrogates_are_encoded_not_rejected(client: httpx.Client, served_model: StaticModel) -> None:
    # JSON may carry a lone surrogate escape; the model turns it into U+FFFD instead of failing.
    content = b'{"input": ["hello \\ud800 world", "\\udfff"]}'
    response = client.post("/v1/embeddings", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 200
    vectors = np.array([item["embedding"] for item in response.json()["data"]], dtype=np.float32)
    np.testing.assert_array_equal(vectors, served_model.encode(["hello \ufffd world", "\ufffd"]))
    search = client.post("/search", content=b'{"query": "\\ud800 cat"}', headers={"content-type": "application/json"})
    assert search.status_code == 200


def test_a_bug_still_answers_in_the_error_shape(served_model: StaticModel) -> None:
    class BrokenModel(StaticModel):
        def encode(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    broken = BrokenModel(served_model.embedding, served_model.tokenizer)
    with LiveServer(create_app(broken)) as live:
        assert_error(httpx.post(f"{live.url}/v1/embeddings", json={"input": "x"}), 500, "internal_error")


def test_registering_the_command_imports_no_server_package() -> None:
    code = (
        "import argparse, sys; from model2vec.serve.cli import register; "
        "register(argparse.ArgumentParser().add_subparsers()); "
        "assert not {'fastapi', 'uvicorn', 'starlette'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=_env())


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert_error(client.get("/nope"), 404)
    assert_error(client.get("/v1/embeddings"), 405)


# -- /search, /health, /v1/models, /openapi.json ----------------------------------------------------


def test_search_finds_the_stored_text(client: httpx.Client, served_model: StaticModel) -> None:
    body = client.post("/search", json={"query": ["the cat sat on the mat", "hello world"], "k": 2}).json()
    assert body["object"] == "list" and body["model"] == "tiny"
    first, second = body["data"]
    assert first["index"] == 0 and second["index"] == 1
    assert first["matches"][0] == {"id": 0, "score": pytest.approx(1.0, abs=1e-5), "text": DOCS[0]}
    assert second["matches"][0]["id"] == 2 and second["matches"][0]["text"] == "hello world"
    assert len(first["matches"]) == 2
    assert first["matches"][0]["score"] >= first["matches"][1]["score"]
    assert body["usage"]["prompt_tokens"] == 8


def test_search_single_query_and_k_larger_than_index(client: httpx.Client) -> None:
    body = client.post("/search", json={"query": "dog", "k": 100}).json()
    assert len(body["data"]) == 1
    assert sorted(match["id"] for match in body["data"][0]["matches"]) == list(range(len(DOCS)))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"query": []}, 422),
        ({"query": "x", "k": 0}, 422),
        ({"query": "x", "k": 1001}, 422),
        ({"query": ["x"] * 9}, 400),
    ],
)
def test_search_errors(client: httpx.Client, body: dict[str, Any], status: int) -> None:
    assert_error(client.post("/search", json=body), status)


def test_search_without_index_is_404(bare_server: str) -> None:
    response = httpx.post(f"{bare_server}/search", json={"query": "x"})
    assert_error(response, 404, "no_index")
    assert httpx.get(f"{bare_server}/health").json()["index_size"] is None


def test_search_on_empty_index_is_409(served_model: StaticModel) -> None:
    with LiveServer(create_app(served_model, index=SearchIndex(model=served_model))) as live:
        assert_error(httpx.post(f"{live.url}/search", json={"query": "x"}), 409, "empty_index")


def test_index_of_another_dimension_is_refused(served_model: StaticModel) -> None:
    with pytest.raises(ValueError, match="4-d"):
        create_app(served_model, index=SearchIndex(dim=4))


def test_health_and_models(client: httpx.Client) -> None:
    health = client.get("/health").json()
    assert health == {"status": "ok", "model": "tiny", "dim": 8, "vocab_size": 22, "normalize": True, "index_size": 5}
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and [card["id"] for card in models["data"]] == ["tiny"]


def test_openapi_publishes_the_limits(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/v1/embeddings", "/search", "/health", "/v1/models"} <= set(schema["paths"])
    request = schema["components"]["schemas"]["EmbeddingRequest"]
    string, array = request["properties"]["input"]["anyOf"]
    assert string == {"type": "string", "maxLength": 200}
    assert array["minItems"] == 1 and array["maxItems"] == 8 and array["items"]["maxLength"] == 200
    responses = schema["paths"]["/v1/embeddings"]["post"]["responses"]
    assert {"200", "400", "404", "413", "422"} <= set(responses)


def test_health_answers_while_a_large_request_encodes(served_model: StaticModel) -> None:
    # A slow encode occupies its worker thread; /health must still answer from the event loop.
    started = threading.Event()
    release = threading.Event()

    class SlowModel(StaticModel):
        def encode(self, *args: Any, **kwargs: Any) -> Any:
            started.set()
            release.wait(30)
            return super().encode(*args, **kwargs)

    slow = SlowModel(served_model.embedding, served_model.tokenizer, normalize=True)
    with LiveServer(create_app(slow)) as live:
        result: dict[str, int] = {}
        worker = threading.Thread(
            target=lambda: result.update(
                status=httpx.post(f"{live.url}/v1/embeddings", json={"input": "x"}).status_code
            )
        )
        worker.start()
        assert started.wait(30)
        assert httpx.get(f"{live.url}/health", timeout=30).status_code == 200
        release.set()
        worker.join(30)
    assert result == {"status": 200}


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_inputs"):
        ServeLimits(max_inputs=0)
    assert ServeLimits(max_length=None).max_length is None


# -- schemathesis against the live OpenAPI document -------------------------------------------------

schemathesis = pytest.importorskip("schemathesis")


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_fuzzed_requests_never_get_a_server_error(server: str, mode: str) -> None:
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    checks = [
        schemathesis.checks.not_a_server_error,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 4
    for operation in operations:
        if mode == "negative" and operation.method.upper() == "GET":
            continue  # nothing to get wrong: the GET endpoints take no parameters

        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
        @settings(
            max_examples=30,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(base_url=server, checks=checks)

        check()


# -- the command ----------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src")}


def test_cli_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "model2vec.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    flags = ("--host", "--port", "--index", "--max-batch", "--max-chars", "--max-body-bytes", "--max-buffered-bytes")
    for flag in (*flags, "--max-concurrency", "--max-matches", "--max-match-chars", "--served-model-name"):
        assert flag in result.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_serves_health(tmp_path: Path, served_model: StaticModel) -> None:
    folder = tmp_path / "tiny-model"
    served_model.save_pretrained(folder)
    SearchIndex.from_model(served_model, DOCS).save(tmp_path / "idx")
    port = _free_port()
    command = [sys.executable, "-m", "model2vec.cli", "serve", str(folder), "--port", str(port)]
    command += ["--index", str(tmp_path / "idx"), "--log-level", "warning"]
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.communicate()[0]) from None
                time.sleep(0.1)
        assert response.json() == {
            "status": "ok",
            "model": "tiny-model",
            "dim": 8,
            "vocab_size": 22,
            "normalize": True,
            "index_size": 5,
        }
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_cli_reports_a_missing_model(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "model2vec.cli", "serve", str(tmp_path / "missing"), "--port", "0"],
        capture_output=True,
        text=True,
        env={**_env(), "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert result.returncode != 0
    assert "error" in result.stderr.lower()
