"""Request and response bodies of the HTTP API (pydantic models; they define `/openapi.json`).

Field names follow OpenAI's embeddings API where an endpoint mirrors it. Limits that depend on the
server's settings (inputs per request, characters per input) are checked by the handlers, not here,
and answered with a 400 error body; `create_app` writes them into the published schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, StrictInt, StrictStr

# Largest `k` a search may ask for: bounds the size of a response whatever the index size.
MAX_K = 1000
# A list of texts must hold at least one (an empty batch is a client error, not an empty answer).
Texts = Annotated[list[StrictStr], Field(min_length=1)]


def _integral_float(value: Any) -> Any:
    """Turn 3.0 into 3: JSON Schema's "integer" includes integral numbers written with a fraction."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Integers as JSON Schema means them (1 and 1.0), never strings or booleans. The bounds sit inside the
# Annotated, before the validator, so the published schema shows them as "minimum"/"maximum".
Dimensions = Annotated[StrictInt, Field(ge=1), BeforeValidator(_integral_float)]
TopK = Annotated[StrictInt, Field(ge=1, le=MAX_K), BeforeValidator(_integral_float)]


class EmbeddingRequest(BaseModel):
    """Body of `POST /v1/embeddings`. Unknown fields (OpenAI's `user`, for example) are ignored."""

    input: StrictStr | Texts = Field(
        description="One text or a non-empty list of texts. An empty string (or a text of unknown tokens) "
        "gives a zero vector.",
    )
    model: StrictStr | None = Field(
        default=None,
        description="Name of the model to use; if given it must be one of the served names (see GET /v1/models).",
    )
    encoding_format: Literal["float", "base64"] = Field(
        default="float",
        description='"float": lists of numbers; "base64": each vector\'s little-endian float32 bytes, base64-encoded.',
    )
    dimensions: Dimensions | None = Field(
        default=None,
        description="Keep the first N dimensions, then L2-normalise (zero vectors stay zero). At most the "
        "model's dimension.",
    )


class Embedding(BaseModel):
    """One input's vector."""

    object: Literal["embedding"] = "embedding"
    index: int = Field(description="Position of the input in the request.")
    embedding: list[float] | str = Field(description="The vector, or its base64 float32 bytes.")


class Usage(BaseModel):
    """Token counts: tokens actually pooled (after truncation to the server's max length, unknown tokens dropped)."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    """Body of a successful `POST /v1/embeddings`."""

    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


class SearchRequest(BaseModel):
    """Body of `POST /search`."""

    query: StrictStr | Texts = Field(description="One query text or a non-empty list of them.")
    k: TopK = Field(default=10, description="Matches per query (fewer if the index is smaller).")


class SearchMatch(BaseModel):
    """One stored item found for a query."""

    id: int | str
    score: float = Field(description="Cosine similarity to the query.")
    text: str | None = Field(description="The stored text, or null if the item was added as a vector.")


class SearchResult(BaseModel):
    """The matches of one query, best first (equal scores in insertion order)."""

    index: int = Field(description="Position of the query in the request.")
    matches: list[SearchMatch]


class SearchResponse(BaseModel):
    """Body of a successful `POST /search`."""

    object: Literal["list"] = "list"
    data: list[SearchResult]
    model: str
    usage: Usage


class HealthResponse(BaseModel):
    """Body of `GET /health`."""

    status: Literal["ok"] = "ok"
    model: str
    dim: int
    vocab_size: int
    normalize: bool
    index_size: int | None = Field(description="Items in the loaded search index, null when none is loaded.")


class ModelCard(BaseModel):
    """One entry of `GET /v1/models` (OpenAI's model object): the served name or an alias."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "model2vec"


class ModelList(BaseModel):
    """Body of `GET /v1/models`: the served model's names, its main name first."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    """What went wrong, in OpenAI's error shape."""

    message: str
    type: str = Field(
        description='"invalid_request_error", "not_found_error", "conflict_error" or "server_error" (5xx).'
    )
    param: str | None = Field(default=None, description="The request field at fault, if one is.")
    code: str | None = Field(default=None, description="A stable machine-readable code.")


class ErrorResponse(BaseModel):
    """Body of every 4xx/5xx response."""

    error: ErrorDetail
