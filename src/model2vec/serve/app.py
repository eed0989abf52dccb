"""The FastAPI application: `create_app(model, ...)` serves one `StaticModel` (and optionally an index).

Endpoints:

- `POST /v1/embeddings`: OpenAI-compatible embeddings (`input`, `model`, `encoding_format`, `dimensions`).
- `POST /search`: top-k cosine search of query texts over a `SearchIndex` given at startup.
- `GET /health`, `GET /v1/models`; `GET /openapi.json` and `/docs` are FastAPI's.

Every error is a JSON body in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`:
413 for a body over `max_body_bytes`; 422 when the body is not UTF-8 JSON (`invalid_json`, saying where)
or does not match the schema (`validation_error`; token ids get `token_ids_not_supported`); 400 when it
breaks a server limit (too many JSON elements, too deep a nesting, too many inputs, a too-long input,
`dimensions` over the model's dimension, too many search matches or too much returned text); 404 for
another model's name, an unknown path or, on `/search`, when no index is loaded; 405 (with `Allow`)
for a wrong method; 409 when the loaded index is empty; 500 if the model yields a non-finite vector.
Malformed input never gives a 5xx.

Bodies are read by `model2vec.serve.body.parse_json_body`, which counts elements and depth before
parsing; parsing, validation, encoding, searching and writing the response all run in worker threads
(at most `max_concurrency` at once), so the event loop, and with it `/health`, stays responsive.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from model2vec.pooling import normalize_rows
from model2vec.serve.body import parse_json_body
from model2vec.serve.errors import ApiError, error_body
from model2vec.serve.limits import MAX_JSON_DEPTH, ServeLimits
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
_Request = TypeVar("_Request", bound=BaseModel)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Status of a request whose client disconnected before its body arrived (nginx's convention; never sent).
CLIENT_GONE = 499
# Codes for the errors Starlette raises itself (routing).
HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}
TOKEN_IDS_MESSAGE = (
    "input holds token ids; this server embeds text, so send the texts as strings. LangChain's "
    "OpenAIEmbeddings sends token ids unless created with check_embedding_ctx_length=False."
)


def error_response(
    status: int,
    message: str,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build the JSON error response every failing request gets (see `model2vec.serve.errors.error_body`).

    :param status: HTTP status code.
    :param message: What went wrong, for a person.
    :param param: The request field at fault, if one is.
    :param code: A stable machine-readable code.
    :param headers: Extra response headers (`Allow` on a 405).
    :return: The response.
    """
    return JSONResponse(error_body(status, message, param, code), status_code=status, headers=headers)


class BodySizeLimit:
    """ASGI middleware bounding request bodies: each to `max_bytes` (413), all held at once to `max_buffered` (503).

    The declared `Content-Length` is checked (and reserved) first; the body is then read (at most
    `max_bytes` of it) and replayed to the app, so chunked bodies without a length are bounded too. A
    body's bytes count against `max_buffered` until its response is sent, so many connections
    uploading large bodies at once get `503 server_busy` (with `Retry-After`) instead of exhausting memory.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_buffered: int, max_seconds: float) -> None:
        """Wrap `app`.

        :param app: The wrapped application.
        :param max_bytes: Largest accepted body.
        :param max_buffered: Most body bytes held by all requests in flight together.
        :param max_seconds: Longest a body may take to arrive (408 after it), so that a client which
            declares a large body and stalls cannot hold its share of `max_buffered` for ever.
        """
        self.app = app
        self.max_bytes = max_bytes
        self.max_buffered = max_buffered
        self.max_seconds = max_seconds
        # Bytes reserved by requests in flight; only the event loop touches it, so it needs no lock.
        self.buffered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check, buffer and forward one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reservation = [0]  # this request's share of `buffered`, released however the request ends
        try:
            await self._forward(scope, receive, send, reservation)
        finally:
            self.buffered -= reservation[0]

    async def _refuse(self, status: int, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 400 (bad Content-Length), 408 (body too slow), 413 (too large) or 503 (server busy)."""
        if status == 400:
            response = error_response(400, "Invalid Content-Length header.", code="invalid_content_length")
        elif status == 408:
            message = f"The request body did not arrive within {self.max_seconds:g} seconds."
            response = error_response(408, message, code="request_timeout", headers={"Connection": "close"})
        elif status == 413:
            message = f"Request body exceeds the server's limit of {self.max_bytes} bytes."
            response = error_response(413, message, code="request_too_large")
        else:
            message = f"The server already holds {self.max_buffered} bytes of request bodies; retry shortly."
            response = error_response(503, message, code="server_busy", headers={"Retry-After": "1"})
        await response(scope, receive, send)

    def _reserve(self, size: int, reservation: list[int]) -> bool:
        """Grow a request's reservation to `size` bytes if the server-wide budget allows it."""
        if self.buffered + size - reservation[0] > self.max_buffered:
            return False
        self.buffered += size - reservation[0]
        reservation[0] = size
        return True

    async def _read(self, receive: Receive, reservation: list[int]) -> tuple[int, bytes]:
        """Read the whole body within the limits.

        :return: (0, body); (413 or 503, b"") to refuse; (`CLIENT_GONE`, b"") if the client left.
        """
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return CLIENT_GONE, b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return 413, b""
            if size > reservation[0] and not self._reserve(size, reservation):
                return 503, b""
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return 0, b"".join(chunks)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, reservation: list[int]) -> None:
        """Buffer the body within the limits, then run the app on it."""
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            # Digits only: int() would also take signs, spaces and underscores.
            if not (declared.isascii() and declared.isdigit()):
                await self._refuse(400, scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._refuse(413, scope, receive, send)
                return
            if not self._reserve(int(declared), reservation):
                await self._refuse(503, scope, receive, send)
                return
        status, body = 408, b""  # kept if the deadline cancels the read
        with anyio.move_on_after(self.max_seconds):
            status, body = await self._read(receive, reservation)
        if status == CLIENT_GONE:
            return  # nobody to answer
        if status:
            await self._refuse(status, scope, receive, send)
            return
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

    Rows whose squares would overflow are scaled by their largest magnitude first
    (`model2vec.pooling.normalize_rows`), so values near the float32 maximum keep their direction.

    :param vectors: `(n, dim)` finite float32 rows.
    :param dimensions: Columns to keep, 1 <= dimensions <= dim (checked by the caller).
    :return: A new `(n, dimensions)` float32 array.
    """
    # normalize_rows scales only the rows whose squares would over- or underflow.
    return normalize_rows(np.array(vectors[:, :dimensions], dtype=np.float32))


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


def list_body(items: Sequence[dict[str, Any]], model_name: str, usage: dict[str, int]) -> Response:
    """Answer `{"object": "list", "data": items, "model", "usage"}` as compact JSON, rendered item by item.

    One `json.dumps` over a whole response holds the GIL for its full length (about 250 ms for 2048
    vectors of 256 floats), stalling the event loop; one call per item lets it run in between.

    :param items: The `data` entries (finite numbers only).
    :param model_name: The `model` field.
    :param usage: The `usage` field.
    :return: The response, status 200.
    :raises ValueError: If a value is NaN or infinite (never sent).
    """

    def dumps(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()

    data = b",".join([dumps(item) for item in items])
    tail = dumps({"model": model_name, "usage": usage})
    return Response(b'{"object":"list","data":[' + data + b"]," + tail[1:], media_type="application/json")


def encode_base64(vector: np.ndarray) -> str:
    """Return a vector's little-endian float32 bytes, base64-encoded (what OpenAI clients decode)."""
    return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")


def _validation_message(errors: Sequence[Any]) -> tuple[str, str | None]:
    """Summarise pydantic errors as one message and the first field at fault."""
    parts = []
    param = None
    for error in errors[:5]:
        location = [str(part) for part in error.get("loc", ())]
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


def _check_finite_table(model: StaticModel) -> None:
    """Refuse a model whose table or weights hold NaN or infinity: every answer could carry them."""
    for name in ("embedding", "weights"):
        table = getattr(model, name, None)
        if table is None or np.asarray(table).dtype.kind != "f":
            continue
        finite = np.isfinite(np.asarray(table))
        if not finite.all():
            row = int(np.argwhere(~finite)[0][0])
            raise ValueError(
                f"The model's {name} holds non-finite values (NaN or infinity), first in row {row}: "
                "it would answer with NaN vectors. Repair or re-distill the model."
            )


def _is_token_ids(value: Any) -> bool:
    """Whether a request's `input` looks like token ids: a list of ints, or a list of lists of ints."""
    if not isinstance(value, list) or not value:
        return False

    def ints(items: Any) -> bool:
        return isinstance(items, list) and bool(items) and all(type(item) is int for item in items)

    return ints(value) or all(ints(item) for item in value)


def create_app(
    model: StaticModel,
    model_name: str = "model2vec",
    index: SearchIndex | None = None,
    limits: ServeLimits | None = None,
    aliases: Sequence[str] = (),
) -> FastAPI:
    """Build the HTTP application serving `model` (and `index`, if given).

    :param model: The model that embeds inputs and search queries.
    :param model_name: Name reported in responses and listed first by `GET /v1/models`.
    :param index: A search index for `POST /search`; its vectors must have the model's dimension.
        Without one, `/search` answers 404.
    :param limits: Request limits and worker concurrency (defaults: `ServeLimits()`).
    :param aliases: More names a request's `model` may give (for clients with a fixed model name);
        listed by `GET /v1/models`, and reported in a response to a request that used one.
        A request's `model`, when given, must be `model_name` or an alias (else 404).
    :return: The FastAPI app (run it with uvicorn, or `model2vec serve`).
    :raises ValueError: If the index's dimension differs from the model's, a name repeats or is empty,
        or the model's table holds NaN or infinity.
    """
    limits = limits or ServeLimits()
    names = [model_name, *aliases]
    if not all(names) or len(set(names)) != len(names):
        raise ValueError(f"Served model names must be non-empty and distinct, got {names!r}.")
    _check_finite_table(model)
    dim = model.dim
    if index is not None and index.dim is not None and index.dim != dim:
        raise ValueError(f"The index holds {index.dim}-d vectors but the model gives {dim}-d vectors.")
    app = FastAPI(
        title="model2vec",
        summary="Static embeddings over HTTP: OpenAI-compatible /v1/embeddings and /search.",
        version=_version(),
    )
    app.add_middleware(
        BodySizeLimit,
        max_bytes=limits.max_body_bytes,
        max_buffered=limits.max_buffered_bytes,
        max_seconds=limits.max_body_seconds,
    )
    # Created on first use: a limiter belongs to the running event loop.
    limiter: list[anyio.CapacityLimiter] = []
    # Index backends need not be thread-safe (an approximate one may rebuild lazily), so searches queue.
    index_lock = threading.Lock()
    too_many_hint = f" A request holds at most {limits.max_inputs} texts, as strings (token ids are not accepted)."

    async def in_worker(function: Callable[[], _T]) -> _T:
        if not limiter:
            limiter.append(anyio.CapacityLimiter(limits.max_concurrency))
        return await anyio.to_thread.run_sync(function, limiter=limiter[0])

    def read(body: bytes, schema: type[_Request], field: str) -> _Request:
        # Count and shape first, so a huge list is refused before any per-item validation.
        data = parse_json_body(body, limits.max_json_elements, MAX_JSON_DEPTH, too_many_hint)
        value = data.get(field)
        if isinstance(value, list) and len(value) > limits.max_inputs:
            message = f"{field} has {len(value)} texts; the server accepts at most {limits.max_inputs} per request."
            raise ApiError(400, message, field, "too_many_inputs")
        if field == "input" and _is_token_ids(value):
            raise ApiError(422, TOKEN_IDS_MESSAGE, field, "token_ids_not_supported")
        try:
            return schema.model_validate(data)
        except ValidationError as error:
            message, param = _validation_message(error.errors(include_url=False))
            raise ApiError(422, message, param, "validation_error") from None

    def checked_texts(value: str | list[str], field: str) -> list[str]:
        # The count was checked by `read`, before validation.
        texts = [value] if isinstance(value, str) else value
        for i, text in enumerate(texts):
            if len(text) > limits.max_chars:
                raise ApiError(
                    400,
                    f"{field}[{i}] has {len(text)} characters; the server accepts at most {limits.max_chars}.",
                    field,
                    "input_too_long",
                )
        return texts

    def served_name(requested: str | None) -> str:
        if requested is None:
            return model_name
        if requested not in names:
            served = ", ".join(repr(name) for name in names)
            raise ApiError(
                404,
                f"Model {requested[:200]!r} is not served here; this server serves {served}.",
                "model",
                "model_not_found",
            )
        return requested

    def embed(texts: list[str], field: str) -> tuple[np.ndarray, int]:
        vectors = model.encode(texts, max_length=limits.max_length, use_multiprocessing=False)
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            # Never the client's fault: a table loaded without checks, or pooling that overflowed.
            raise ApiError(
                500,
                f"The model produced a non-finite vector (NaN or infinity) for {field}[{int(np.argmin(finite))}]; "
                "the server does not send it. The model's table or pooling is broken.",
                field,
                "non_finite_embedding",
            )
        tokens = sum(len(ids) for ids in model.tokenize(texts, max_length=limits.max_length))
        return vectors, tokens

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.param, exc.code)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # A bug, never the client's input: still answer in the documented error shape.
        return error_response(500, "Internal server error.", code="internal_error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        message = str(exc.detail)
        if exc.status_code == 405 and "Allow" in headers:
            message = f"{request.method} is not allowed on {request.url.path}; use {headers['Allow']}."
        return error_response(exc.status_code, message, code=HTTP_ERROR_CODES.get(exc.status_code), headers=headers)

    errors: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorResponse, "description": description}
        for status, description in (
            (
                400,
                "A server limit is exceeded (JSON elements or depth, inputs per request, characters per input, "
                "dimensions).",
            ),
            (404, "The requested model is none of the served names."),
            (408, "The request body did not arrive within the server's time limit."),
            (413, "The request body is larger than the server accepts."),
            (422, "The body is not UTF-8 JSON, or does not match the schema."),
            (500, "The model produced a non-finite vector (a broken model, never the request)."),
            (503, "Requests in flight hold the server's budget of body bytes; retry after Retry-After seconds."),
        )
    }

    def body_of(schema: str) -> dict[str, Any]:
        # The handlers read the body themselves (bounded parsing), so the schema is declared here.
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
        return {"requestBody": {"required": True, "content": content}}

    @app.post(
        "/v1/embeddings", response_model=EmbeddingResponse, responses=errors, openapi_extra=body_of("EmbeddingRequest")
    )
    async def embeddings(raw: Request) -> Response:
        """Embed one text or a list of texts (OpenAI-compatible)."""
        body = await raw.body()

        def run() -> Response:
            request = read(body, EmbeddingRequest, "input")
            name = served_name(request.model)
            texts = checked_texts(request.input, "input")
            if request.dimensions is not None and request.dimensions > dim:
                raise ApiError(
                    400,
                    f"dimensions={request.dimensions} exceeds the model's dimension {dim}.",
                    "dimensions",
                    "invalid_dimensions",
                )
            vectors, tokens = embed(texts, "input")
            if request.dimensions is not None:
                vectors = truncate_dimensions(vectors, request.dimensions)
            if request.encoding_format == "base64":
                values: list[Any] = [encode_base64(row) for row in vectors]
            else:
                values = float32_lists(vectors)
            data = [{"object": "embedding", "index": i, "embedding": value} for i, value in enumerate(values)]
            # Built directly (and rendered here, off the event loop): validating thousands of floats
            # through the response model would dominate a request.
            return list_body(data, name, {"prompt_tokens": tokens, "total_tokens": tokens})

        return await in_worker(run)

    search_errors: dict[int | str, dict[str, Any]] = {
        **{status: errors[status] for status in (408, 413, 422, 500, 503)},
        400: {
            "model": ErrorResponse,
            "description": errors[400]["description"] + " Or queries x k above the match limit, or more "
            "returned text than the server sends.",
        },
        404: {"model": ErrorResponse, "description": "No index is loaded (start the server with --index)."},
        409: {"model": ErrorResponse, "description": "The loaded index is empty."},
    }

    @app.post("/search", response_model=SearchResponse, responses=search_errors, openapi_extra=body_of("SearchRequest"))
    async def search(raw: Request) -> Response:
        """Find the `k` stored items most cosine-similar to each query text."""
        if index is None:
            raise ApiError(404, "No search index is loaded; start the server with --index FOLDER.", None, "no_index")
        if len(index) == 0:
            raise ApiError(409, "The loaded search index is empty.", None, "empty_index")
        body = await raw.body()
        loaded = index

        def run() -> Response:
            request = read(body, SearchRequest, "query")
            texts = checked_texts(request.query, "query")
            k = min(request.k, len(loaded))
            if len(texts) * k > limits.max_matches:
                raise ApiError(
                    400,
                    f"{len(texts)} queries x k={k} would return {len(texts) * k} matches; the server returns at "
                    f"most {limits.max_matches} per request: send fewer queries or a smaller k.",
                    "k",
                    "too_many_matches",
                )
            vectors, tokens = embed(texts, "query")
            with index_lock:
                found, scores = loaded.search(vectors, k=k)
            if not np.isfinite(scores).all():
                raise ApiError(
                    500,
                    "The index holds non-finite vectors; the server does not send NaN scores.",
                    None,
                    "non_finite_score",
                )
            stored = [[loaded.text(item) for item in row] for row in found]
            chars = sum(len(text) for row in stored for text in row if text is not None)
            if chars > limits.max_match_chars:
                raise ApiError(
                    400,
                    f"The matches hold {chars} characters of stored text; the server returns at most "
                    f"{limits.max_match_chars} per response: send fewer queries or a smaller k.",
                    "k",
                    "response_too_large",
                )
            data = [
                {
                    "index": i,
                    "matches": [
                        {"id": item, "score": score, "text": text}
                        for item, score, text in zip(row, scores[i].tolist(), stored[i], strict=True)
                    ],
                }
                for i, row in enumerate(found)
            ]
            return list_body(data, model_name, {"prompt_tokens": tokens, "total_tokens": tokens})

        return await in_worker(run)

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
        """List the served model's names, its own first, then the aliases (OpenAI-compatible)."""
        return ModelList(data=[ModelCard(id=name) for name in names])

    def openapi() -> dict[str, Any]:
        # The configured limits are part of the contract, so clients and fuzzers see them in the schema.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for request_schema in (EmbeddingRequest, SearchRequest):
                components[request_schema.__name__] = request_schema.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
            _limit_schema(components["EmbeddingRequest"], "input", limits)
            properties = components["EmbeddingRequest"]["properties"]
            for option in properties["dimensions"].get("anyOf", []):
                if option.get("type") == "integer":
                    option["maximum"] = dim
            for option in properties["model"].get("anyOf", []):
                if option.get("type") == "string":
                    option["enum"] = names
            _limit_schema(components["SearchRequest"], "query", limits)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _version() -> str:
    from model2vec.version import __version__

    return str(__version__)
