"""The FastAPI application: `create_app(model, ...)` serves one `StaticModel` (and optionally an index).

Endpoints:

- `POST /v1/embeddings`: OpenAI-compatible embeddings (`input`, `model`, `encoding_format`, `dimensions`).
- `POST /search`: top-k cosine search of query texts over a `SearchIndex` given at startup.
- `GET /health`, `GET /v1/models`; `GET /openapi.json` and `/docs` are FastAPI's.

Every error is a JSON body in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`:
413 for a body over `max_body_bytes`; 422 when the body is not valid JSON or does not match the schema
(wrong types, empty list, `dimensions` < 1, `k` out of range); 400 when it breaks a server limit (too many
inputs, a too-long input, `dimensions` over the model's dimension); 404 for another model's name or, on
`/search`, when no index is loaded; 409 when the loaded index is empty. Malformed input never gives a 5xx.

Encoding and searching run in worker threads (at most `max_concurrency` at once) so the event loop, and
with it `/health`, stays responsive while large requests are being encoded.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from model2vec.serve.limits import ServeLimits
from model2vec.serve.schemas import (
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorResponse,
    HealthResponse,
    ModelCard,
    ModelList,
    SearchRequest,
    SearchResponse,
)

if TYPE_CHECKING:
    from model2vec.model import StaticModel
    from model2vec.search import SearchIndex

_T = TypeVar("_T")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ERROR_TYPES = {
    400: "invalid_request_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
}


class ApiError(Exception):
    """An error answered with `status` and an OpenAI-style error body."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        """Describe the error.

        :param status: HTTP status.
        :param message: Human-readable cause.
        :param param: The request field at fault.
        :param code: Machine-readable code.
        """
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


def error_response(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    """Build the JSON error response every failing request gets.

    :param status: HTTP status code.
    :param message: What went wrong, for a person.
    :param param: The request field at fault, if one is.
    :param code: A stable machine-readable code.
    :return: The response.
    """
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


class BodySizeLimit:
    """ASGI middleware answering 413 when a request body exceeds `max_bytes`.

    The declared `Content-Length` is checked first; the body is then read (at most `max_bytes` of it)
    and replayed to the app, so chunked bodies without a length are bounded too.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        """:param app: The wrapped application. :param max_bytes: Largest accepted body."""
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check, buffer and forward one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = error_response(
            413, f"Request body exceeds the server's limit of {self.max_bytes} bytes.", code="request_too_large"
        )
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await error_response(400, "Invalid Content-Length header.", code="invalid_content_length")(
                    scope, receive, send
                )
                return
            if length > self.max_bytes:
                await too_large(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def truncate_dimensions(vectors: np.ndarray, dimensions: int) -> np.ndarray:
    """Keep the first `dimensions` columns and L2-normalise each row; all-zero rows stay zero.

    :param vectors: `(n, dim)` float32 rows.
    :param dimensions: Columns to keep, 1 <= dimensions <= dim (checked by the caller).
    :return: A new `(n, dimensions)` float32 array.
    """
    kept = np.ascontiguousarray(vectors[:, :dimensions], dtype=np.float32)
    norms = np.linalg.norm(kept, axis=1, keepdims=True)
    out = np.zeros_like(kept)
    np.divide(kept, norms, out=out, where=norms > 0)
    return out


def float32_lists(vectors: np.ndarray) -> list[list[float]]:
    """Rows of float32 `vectors` as lists of Python floats with at most 9 significant digits.

    Nine significant digits identify every float32 exactly, and such numbers print several times
    faster (and shorter) than the 17-digit float64 they widen to, which dominated a response's cost.
    Each returned float converts back to exactly the original float32.

    :param vectors: A 2-D float32 array (finite).
    :return: One list per row.
    """
    wide = vectors.astype(np.float64)
    magnitude = np.abs(wide)
    nonzero = magnitude > 0
    exponent = np.floor(np.log10(magnitude, out=np.zeros_like(wide), where=nonzero))
    scale = 10.0 ** (8 - exponent)
    rounded = np.where(nonzero, np.round(wide * scale) / scale, 0.0)
    # Values where the decimal scale is inexact (subnormals) keep their full float64 form.
    inexact = rounded.astype(np.float32) != vectors
    rounded[inexact] = wide[inexact]
    values: list[list[float]] = rounded.tolist()
    return values


def encode_base64(vector: np.ndarray) -> str:
    """Return a vector's little-endian float32 bytes, base64-encoded (what OpenAI clients decode)."""
    return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")


def _validation_message(errors: Sequence[Any]) -> tuple[str, str | None]:
    """Summarise pydantic errors as one message and the first field at fault."""
    parts = []
    param = None
    for error in errors[:5]:
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        if param is None and location:
            param = location[0]
        parts.append(f"{'.'.join(location) or 'body'}: {error.get('msg', 'invalid')}")
    if len(errors) > 5:
        parts.append(f"... and {len(errors) - 5} more")
    return "; ".join(parts) or "Invalid request.", param


def _limit_schema(schema: dict[str, Any], field: str, limits: ServeLimits) -> None:
    """Write the configured input limits into a request schema's str | list[str] property."""
    prop = schema.get("properties", {}).get(field, {})
    for option in prop.get("anyOf", []):
        if option.get("type") == "string":
            option["maxLength"] = limits.max_chars
        elif option.get("type") == "array":
            option["maxItems"] = limits.max_inputs
            option.setdefault("items", {})["maxLength"] = limits.max_chars


def create_app(
    model: StaticModel,
    model_name: str = "model2vec",
    index: SearchIndex | None = None,
    limits: ServeLimits | None = None,
) -> FastAPI:
    """Build the HTTP application serving `model` (and `index`, if given).

    :param model: The model that embeds inputs and search queries.
    :param model_name: Name reported in responses; a request's `model`, when given, must equal it.
    :param index: A search index for `POST /search`; its vectors must have the model's dimension.
        Without one, `/search` answers 404.
    :param limits: Request limits and worker concurrency (defaults: `ServeLimits()`).
    :return: The FastAPI app (run it with uvicorn, or `model2vec serve`).
    :raises ValueError: If the index's dimension differs from the model's.
    """
    limits = limits or ServeLimits()
    dim = model.dim
    if index is not None and index.dim is not None and index.dim != dim:
        raise ValueError(f"The index holds {index.dim}-d vectors but the model gives {dim}-d vectors.")
    app = FastAPI(
        title="model2vec",
        summary="Static embeddings over HTTP: OpenAI-compatible /v1/embeddings and /search.",
        version=_version(),
    )
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    # Created on first use: a limiter belongs to the running event loop.
    limiter: list[anyio.CapacityLimiter] = []
    # Index backends need not be thread-safe (an approximate one may rebuild lazily), so searches queue.
    index_lock = threading.Lock()

    async def in_worker(function: Callable[[], _T]) -> _T:
        if not limiter:
            limiter.append(anyio.CapacityLimiter(limits.max_concurrency))
        return await anyio.to_thread.run_sync(function, limiter=limiter[0])

    def checked_texts(value: str | list[str], field: str) -> list[str]:
        texts = [value] if isinstance(value, str) else value
        if len(texts) > limits.max_inputs:
            raise ApiError(
                400,
                f"{field} has {len(texts)} texts; the server accepts at most {limits.max_inputs} per request.",
                field,
                "too_many_inputs",
            )
        for i, text in enumerate(texts):
            if len(text) > limits.max_chars:
                raise ApiError(
                    400,
                    f"{field}[{i}] has {len(text)} characters; the server accepts at most {limits.max_chars}.",
                    field,
                    "input_too_long",
                )
        return texts

    def check_model(requested: str | None) -> None:
        if requested is not None and requested != model_name:
            raise ApiError(
                404,
                f"Model {requested[:200]!r} is not served here; this server serves {model_name!r}.",
                "model",
                "model_not_found",
            )

    def embed(texts: list[str]) -> tuple[np.ndarray, int]:
        vectors = model.encode(texts, max_length=limits.max_length, use_multiprocessing=False)
        tokens = sum(len(ids) for ids in model.tokenize(texts, max_length=limits.max_length))
        return vectors, tokens

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.param, exc.code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc.errors())
        return error_response(422, message, param, "validation_error")

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # A bug, never the client's input: still answer in the documented error shape.
        return error_response(500, "Internal server error.", code="internal_error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    errors: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorResponse, "description": description}
        for status, description in (
            (400, "A server limit is exceeded (inputs per request, characters per input, dimensions)."),
            (404, "The requested model is not the served one."),
            (413, "The request body is larger than the server accepts."),
            (422, "The body is not valid JSON or does not match the schema."),
        )
    }

    @app.post("/v1/embeddings", response_model=EmbeddingResponse, responses=errors)
    async def embeddings(request: EmbeddingRequest) -> JSONResponse:
        """Embed one text or a list of texts (OpenAI-compatible)."""
        check_model(request.model)
        texts = checked_texts(request.input, "input")
        if request.dimensions is not None and request.dimensions > dim:
            raise ApiError(
                400,
                f"dimensions={request.dimensions} exceeds the model's dimension {dim}.",
                "dimensions",
                "invalid_dimensions",
            )
        vectors, tokens = await in_worker(lambda: embed(texts))
        if request.dimensions is not None:
            vectors = truncate_dimensions(vectors, request.dimensions)
        if request.encoding_format == "base64":
            values: list[Any] = [encode_base64(row) for row in vectors]
        else:
            values = float32_lists(vectors)
        data = [{"object": "embedding", "index": i, "embedding": value} for i, value in enumerate(values)]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        # Built directly: validating thousands of floats through the response model would dominate a request.
        return JSONResponse({"object": "list", "data": data, "model": model_name, "usage": usage})

    search_errors: dict[int | str, dict[str, Any]] = {
        **{status: errors[status] for status in (400, 413, 422)},
        404: {"model": ErrorResponse, "description": "No index is loaded (start the server with --index)."},
        409: {"model": ErrorResponse, "description": "The loaded index is empty."},
    }

    @app.post("/search", response_model=SearchResponse, responses=search_errors)
    async def search(request: SearchRequest) -> JSONResponse:
        """Find the `k` stored items most cosine-similar to each query text."""
        if index is None:
            raise ApiError(404, "No search index is loaded; start the server with --index FOLDER.", None, "no_index")
        if len(index) == 0:
            raise ApiError(409, "The loaded search index is empty.", None, "empty_index")
        texts = checked_texts(request.query, "query")
        loaded = index

        def run() -> tuple[list[list[Any]], np.ndarray, int]:
            vectors, tokens = embed(texts)
            with index_lock:
                ids, scores = loaded.search(vectors, k=request.k)
            return ids, scores, tokens

        found, scores, tokens = await in_worker(run)
        data = [
            {
                "index": i,
                "matches": [
                    {"id": item, "score": float(score), "text": loaded.text(item)}
                    for item, score in zip(row, scores[i].tolist(), strict=True)
                ],
            }
            for i, row in enumerate(found)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse({"object": "list", "data": data, "model": model_name, "usage": usage})

    @app.get("/health", response_model=HealthResponse)
    async def health() -> HealthResponse:
        """Report the served model and index; answers while encodings run."""
        return HealthResponse(
            model=model_name,
            dim=dim,
            vocab_size=len(model.tokens),
            normalize=model.normalize,
            index_size=None if index is None else len(index),
        )

    @app.get("/v1/models", response_model=ModelList)
    async def models() -> ModelList:
        """List the served model (OpenAI-compatible)."""
        return ModelList(data=[ModelCard(id=model_name)])

    def openapi() -> dict[str, Any]:
        # The configured limits are part of the contract, so clients and fuzzers see them in the schema.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            components = schema.get("components", {}).get("schemas", {})
            _limit_schema(components.get("EmbeddingRequest", {}), "input", limits)
            properties = components.get("EmbeddingRequest", {}).get("properties", {})
            for option in properties.get("dimensions", {}).get("anyOf", []):
                if option.get("type") == "integer":
                    option["maximum"] = dim
            for option in properties.get("model", {}).get("anyOf", []):
                if option.get("type") == "string":
                    option["enum"] = [model_name]
            _limit_schema(components.get("SearchRequest", {}), "query", limits)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _version() -> str:
    from model2vec.version import __version__

    return str(__version__)
