"""The server under hostile or careless requests: bounded work per request, errors always in OpenAI's JSON shape.

Every test runs a real uvicorn server on a free loopback port (see `LiveServer`) and talks to it over HTTP.
"""

from __future__ import annotations

import contextlib
import json
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
pytest.importorskip("uvicorn")

from model2vec import StaticModel
from model2vec.search import SearchIndex
from model2vec.serve.app import create_app, list_body, truncate_dimensions
from model2vec.serve.limits import ServeLimits

from .conftest import make_model
from .test_serve import DOCS, LiveServer, _env, assert_error

JSON = {"content-type": "application/json"}
LIMITS = ServeLimits(max_inputs=8, max_chars=200, max_matches=20)


def read_to_end(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    reply = b""
    while chunk := connection.recv(65536):
        reply += chunk
    return reply


@pytest.fixture(scope="module")
def served_model() -> StaticModel:
    return make_model(dim=8, normalize=True)


@pytest.fixture(scope="module")
def server(served_model: StaticModel) -> Iterator[str]:
    index = SearchIndex.from_model(served_model, DOCS)
    app = create_app(served_model, model_name="tiny", index=index, limits=LIMITS, aliases=["text-embedding-3-small"])
    with LiveServer(app) as live:
        yield live.url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as session:
        yield session


# -- one request never stalls the others ----------------------------------------------------------


@pytest.fixture(scope="module")
def default_server(served_model: StaticModel) -> Iterator[str]:
    # The default limits: an 8 MiB body and 2048 inputs, as `model2vec serve` runs without flags.
    with LiveServer(create_app(served_model, index=SearchIndex.from_model(served_model, DOCS))) as live:
        yield live.url


@pytest.mark.parametrize(
    ("path", "field", "item"),
    [
        ("/v1/embeddings", "input", b"1"),
        ("/v1/embeddings", "input", b"null"),
        ("/v1/embeddings", "input", b"{}"),
        ("/v1/embeddings", "input", b'"a"'),
        ("/search", "query", b"1"),
    ],
)
def test_health_answers_while_a_two_million_item_body_is_rejected(
    default_server: str, path: str, field: str, item: bytes
) -> None:
    count = min(2_000_000, (4 * 2**20) // (len(item) + 1))
    body = b'{"' + field.encode() + b'": [' + b",".join([item] * count) + b"]}"
    assert len(body) <= ServeLimits().max_body_bytes
    result: dict[str, Any] = {}

    def post() -> None:
        started = time.monotonic()
        result["response"] = httpx.post(f"{default_server}{path}", content=body, headers=JSON, timeout=60)
        result["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=post)
    worker.start()
    latencies = []
    with httpx.Client(base_url=default_server, timeout=30) as health:
        while worker.is_alive() or not latencies:
            started = time.monotonic()
            assert health.get("/health").status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)
    worker.join()
    assert max(latencies) < 1.0, latencies
    assert result["seconds"] < 3.0
    error = assert_error(result["response"], 400, "too_many_elements")
    assert "more than 2112 JSON elements" in error["message"] and "at most 2048 texts" in error["message"]


def test_deep_nesting_is_refused_before_parsing(client: httpx.Client) -> None:
    for depth in (100, 100_000):
        body = b'{"input": ' + b"[" * depth + b"]" * depth + b"}"
        error = assert_error(client.post("/v1/embeddings", content=body, headers=JSON), 400, "nesting_too_deep")
        assert "nest" in error["message"]


def test_elements_just_inside_the_limit_are_validated_normally(client: httpx.Client) -> None:
    # Eight texts plus ordinary extra fields pass the element count; a ninth text is the usual 400.
    body = {"input": ["the cat"] * 8, "user": "me", "extra": {"a": [1, 2, 3]}}
    assert client.post("/v1/embeddings", json=body).status_code == 200
    assert_error(client.post("/v1/embeddings", json={"input": ["x"] * 9}), 400, "too_many_inputs")


def test_bodies_held_at_once_are_bounded_server_wide(served_model: StaticModel) -> None:
    # A client that declares a large body and sends it slowly holds its share of the budget; others
    # then get 503 server_busy instead of each buffering up to --max-body-bytes at the same time.
    limits = ServeLimits(max_body_bytes=4096, max_buffered_bytes=6000, max_chars=5000)
    body = json.dumps({"input": "x" * 3900}).encode()
    with LiveServer(create_app(served_model, limits=limits)) as live:
        host, port = live.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as slow:
            head = f"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
            slow.sendall(head.encode() + body[:10])
            deadline = time.monotonic() + 10
            while (response := httpx.post(f"{live.url}/v1/embeddings", content=body, headers=JSON)).status_code == 200:
                assert time.monotonic() < deadline, "the slow request never took its share"
                time.sleep(0.05)
            assert_error(response, 503, "server_busy")
            assert response.headers["retry-after"] == "1"
            assert httpx.get(f"{live.url}/health").status_code == 200  # no body: never refused
            slow.sendall(body[10:])
            assert slow.recv(65536).startswith(b"HTTP/1.1 200")
        # The finished request gave its share back.
        assert httpx.post(f"{live.url}/v1/embeddings", content=body, headers=JSON).status_code == 200


def test_a_stalled_body_times_out_and_gives_its_share_back(served_model: StaticModel) -> None:
    limits = ServeLimits(max_body_bytes=4096, max_buffered_bytes=4096, max_body_seconds=1)
    body = json.dumps({"input": "the cat"}).encode()
    with LiveServer(create_app(served_model, limits=limits)) as live:
        host, port = live.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as stalled:
            stalled.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n{")
            started = time.monotonic()
            first = stalled.recv(65536)
            waited = time.monotonic() - started
            # The head and the body may come in separate segments; the server closes after a 408.
            reply = first + read_to_end(stalled)
        head, _, content = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408") and 0.5 < waited < 5
        assert json.loads(content)["error"]["code"] == "request_timeout"
        assert httpx.post(f"{live.url}/v1/embeddings", content=body, headers=JSON).status_code == 200


def test_the_buffer_budget_holds_at_least_one_body() -> None:
    with pytest.raises(ValueError, match="max_buffered_bytes"):
        ServeLimits(max_body_bytes=2**20, max_buffered_bytes=2**19)


# -- every error is OpenAI-shaped JSON with a documented status ------------------------------------


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b'{"input": ', "Expecting value (line 1, column 11, char 10)"),
        (b'{"input": "x",\n "model": tiny}', "Expecting value (line 2, column 11, char 25)"),
        (b'{"input": "x"} trailing', "Extra data (line 1, column 16, char 15)"),
        (b'{"input": "x", "dimensions": NaN}', "NaN is not a JSON value"),
    ],
)
def test_invalid_json_says_where_and_what(client: httpx.Client, content: bytes, where: str) -> None:
    error = assert_error(client.post("/v1/embeddings", content=content, headers=JSON), 422, "invalid_json")
    assert where in error["message"], error["message"]
    assert error["param"] is None


def test_invalid_utf8_is_an_invalid_json_error(client: httpx.Client) -> None:
    error = assert_error(
        client.post("/v1/embeddings", content=b'{"input": "caf\xe9"}', headers=JSON), 422, "invalid_json"
    )
    assert "UTF-8" in error["message"] and "(line 1, column 15, byte 14)" in error["message"]


def test_a_body_that_is_not_an_object(client: httpx.Client) -> None:
    for content in (b'["x"]', b'"x"', b"null"):
        error = assert_error(client.post("/v1/embeddings", content=content, headers=JSON), 422, "validation_error")
        assert "object" in error["message"]


def test_a_huge_number_is_a_client_error(client: httpx.Client) -> None:
    # Python refuses int() of over 4300 digits; the server reads such a number as too large, not as a bug.
    content = b'{"input": "x", "dimensions": ' + b"9" * 5000 + b"}"
    error = assert_error(client.post("/v1/embeddings", content=content, headers=JSON), 422, "validation_error")
    assert error["param"] == "dimensions"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
        b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"NOT AN HTTP REQUEST\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    ],
)
def test_unparseable_http_gets_a_json_error(server: str, request_bytes: bytes) -> None:
    # uvicorn answers these itself, before the app runs; they still get the documented JSON body.
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request_bytes)
        reply = read_to_end(connection)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), reply
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_http_request" and error["type"] == "invalid_request_error"


def test_405_lists_the_allowed_methods(client: httpx.Client) -> None:
    response = client.get("/v1/embeddings")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert client.delete("/health").headers["allow"] == "GET"


def test_unknown_path_has_a_code(client: httpx.Client) -> None:
    assert_error(client.get("/nope"), 404, "not_found")


# -- real OpenAI clients --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [[1, 2, 3], [[101, 2023], [7]]])
def test_token_ids_get_a_langchain_hint(client: httpx.Client, value: Any) -> None:
    error = assert_error(client.post("/v1/embeddings", json={"input": value}), 422, "token_ids_not_supported")
    assert "check_embedding_ctx_length=False" in error["message"] and error["param"] == "input"


def test_aliases_are_accepted_and_listed(client: httpx.Client, served_model: StaticModel) -> None:
    response = client.post("/v1/embeddings", json={"input": "the cat", "model": "text-embedding-3-small"})
    assert response.status_code == 200
    assert response.json()["model"] == "text-embedding-3-small"
    assert client.post("/v1/embeddings", json={"input": "x"}).json()["model"] == "tiny"
    models = client.get("/v1/models").json()
    assert [card["id"] for card in models["data"]] == ["tiny", "text-embedding-3-small"]
    error = assert_error(client.post("/v1/embeddings", json={"input": "x", "model": "gpt"}), 404, "model_not_found")
    assert "text-embedding-3-small" in error["message"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["EmbeddingRequest"]
    assert schema["properties"]["model"]["anyOf"][0]["enum"] == ["tiny", "text-embedding-3-small"]


def test_an_alias_equal_to_the_name_is_refused(served_model: StaticModel) -> None:
    with pytest.raises(ValueError, match="tiny"):
        create_app(served_model, model_name="tiny", aliases=["tiny"])


# -- /search amplification ------------------------------------------------------------------------


def test_search_bounds_queries_times_k(client: httpx.Client) -> None:
    # 4 queries x min(k, 5 items) = 20 matches: allowed; 5 queries x 5 = 25: refused before any work.
    assert client.post("/search", json={"query": ["cat"] * 4, "k": 1000}).status_code == 200
    error = assert_error(client.post("/search", json={"query": ["cat"] * 5, "k": 5}), 400, "too_many_matches")
    assert "20" in error["message"] and error["param"] == "k"


def test_search_bounds_returned_text(served_model: StaticModel) -> None:
    # DOCS hold 60 characters in all: one query returning every document is allowed, two are not.
    app = create_app(
        served_model, index=SearchIndex.from_model(served_model, DOCS), limits=ServeLimits(max_match_chars=60)
    )
    with LiveServer(app) as live:
        assert httpx.post(f"{live.url}/search", json={"query": ["cat"], "k": 5}).status_code == 200
        response = httpx.post(f"{live.url}/search", json={"query": ["cat", "dog"], "k": 5})
    error = assert_error(response, 400, "response_too_large")
    assert "120 characters" in error["message"] and "60" in error["message"]


def test_search_limits_are_in_the_defaults() -> None:
    defaults = ServeLimits()
    # The largest batch at the default k fits.
    assert defaults.max_matches == defaults.max_inputs * 10 and defaults.max_match_chars == 16_000_000
    with pytest.raises(ValueError, match="max_matches"):
        ServeLimits(max_matches=0)


# -- non-finite vectors are never sent ------------------------------------------------------------


def test_a_non_finite_table_is_refused(served_model: StaticModel) -> None:
    table = np.array(served_model.embedding, dtype=np.float32)
    table[7, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        create_app(StaticModel(table, served_model.tokenizer))


class NanModel(StaticModel):
    """A model whose pooling goes wrong for "cat": a stand-in for an overflow at encode time."""

    def encode(self, sentences: Any, *args: Any, **kwargs: Any) -> Any:
        vectors = np.array(super().encode(sentences, *args, **kwargs), dtype=np.float32)
        for i, text in enumerate([sentences] if isinstance(sentences, str) else sentences):
            if "cat" in text:
                vectors[i, 0] = np.inf
        return vectors


@pytest.fixture(scope="module")
def nan_server(served_model: StaticModel) -> Iterator[str]:
    model = NanModel(served_model.embedding, served_model.tokenizer)
    index = SearchIndex.from_model(served_model, DOCS)
    with LiveServer(create_app(model, index=index)) as live:
        yield live.url


@pytest.mark.parametrize(
    "body", [{}, {"encoding_format": "base64"}, {"dimensions": 4}, {"dimensions": 1, "encoding_format": "base64"}]
)
def test_a_non_finite_vector_is_a_clean_500(nan_server: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{nan_server}/v1/embeddings", json={"input": ["a dog", "the cat"], **body})
    error = assert_error(response, 500, "non_finite_embedding")
    assert "input[1]" in error["message"]
    assert httpx.post(f"{nan_server}/v1/embeddings", json={"input": ["a dog"], **body}).status_code == 200


def test_a_non_finite_query_is_a_clean_500(nan_server: str) -> None:
    assert_error(httpx.post(f"{nan_server}/search", json={"query": "the cat"}), 500, "non_finite_embedding")


def test_truncating_huge_values_keeps_their_direction() -> None:
    out = truncate_dimensions(np.array([[3e38, 3e38, 1.0]], dtype=np.float32), 2)
    np.testing.assert_allclose(out, [[2**-0.5, 2**-0.5]], rtol=1e-6)


def test_list_body_renders_item_by_item_as_one_json_document() -> None:
    items = [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]}, {"index": 1, "text": "日本"}]
    usage = {"prompt_tokens": 3, "total_tokens": 3}
    response = list_body(items, "名前", usage)
    assert response.media_type == "application/json"
    assert json.loads(response.body) == {"object": "list", "data": items, "model": "名前", "usage": usage}
    assert json.loads(list_body([], "m", usage).body)["data"] == []
    with pytest.raises(ValueError):  # the last guard: NaN is never written
        list_body([{"embedding": [float("nan")]}], "m", usage)


# -- the command ----------------------------------------------------------------------------------


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "model2vec.cli", "serve", *args]
    return subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=120, check=False)


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_cli_port_out_of_range_is_a_one_line_error(tmp_path: Path, port: str) -> None:
    result = _serve(str(tmp_path / "missing-model"), "--port", port)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith("model2vec serve: error: argument --port:")


def test_cli_busy_port_is_a_one_line_error(tmp_path: Path, served_model: StaticModel) -> None:
    served_model.save_pretrained(tmp_path / "tiny-model")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = _serve(str(tmp_path / "tiny-model"), "--port", str(busy.getsockname()[1]))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("model2vec: error: cannot listen on 127.0.0.1:"), lines
    assert "Serving" not in result.stdout


@contextlib.contextmanager
def running(*args: str) -> Iterator[str]:
    """Run `model2vec serve ARGS --port 0 --log-level warning`; yield its announced URL once /health answers."""
    command = [sys.executable, "-m", "model2vec.cli", "serve", *args, "--port", "0", "--log-level", "warning"]
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        announced = process.stdout.readline()  # port 0: the announced URL names the port the system chose
        assert announced.startswith("Serving "), process.stderr.read()
        url = announced.split(" on ")[-1].strip()
        assert not url.endswith(":0")
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_cli_serves_aliases_and_new_limits(tmp_path: Path, served_model: StaticModel) -> None:
    served_model.save_pretrained(tmp_path / "tiny-model")
    SearchIndex.from_model(served_model, DOCS).save(tmp_path / "idx")
    names = ["--served-model-name", "tiny", "--served-model-name", "text-embedding-3-small"]
    with running(str(tmp_path / "tiny-model"), *names, "--index", str(tmp_path / "idx"), "--max-matches", "7") as url:
        models = httpx.get(f"{url}/v1/models", timeout=5).json()
        assert [card["id"] for card in models["data"]] == ["tiny", "text-embedding-3-small"]
        reply = httpx.post(f"{url}/v1/embeddings", json={"input": "x", "model": "text-embedding-3-small"})
        assert reply.status_code == 200
        assert_error(httpx.post(f"{url}/search", json={"query": ["a", "b"], "k": 5}), 400, "too_many_matches")


def test_cli_announces_an_ipv6_url_in_brackets(tmp_path: Path, served_model: StaticModel) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    served_model.save_pretrained(tmp_path / "tiny-model")
    with running(str(tmp_path / "tiny-model"), "--host", "::1") as url:
        assert url.startswith("http://[::1]:")
        assert httpx.get(f"{url}/health").json()["model"] == "tiny-model"
