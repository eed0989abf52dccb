"""Request limits of the HTTP server (no FastAPI import: the CLI reads the defaults when registering)."""

from __future__ import annotations

from dataclasses import dataclass, fields

# Deepest JSON nesting a request body may have: a valid request nests two levels (object, list of texts);
# the rest is room for clients' extra fields. Deeper bodies are refused before they are parsed.
MAX_JSON_DEPTH = 32
# JSON elements (array items plus object members) a body may hold beyond `max_inputs` texts: room for
# the other fields and clients' extra ones. Counted on the raw bytes before parsing, so a body of millions
# of tiny values is refused without building them.
EXTRA_JSON_ELEMENTS = 64


@dataclass(frozen=True)
class ServeLimits:
    """Bounds on what one request may ask for, and on the server's parallel work.

    :param max_body_bytes: Largest request body accepted (413 above it).
    :param max_buffered_bytes: Most request-body bytes held by all requests in flight together, from
        the moment a body starts arriving until its response is sent (503 `server_busy` above it).
        At least `max_body_bytes`.
    :param max_body_seconds: Longest a request body may take to arrive (408 after it): a client that
        declares a body and stalls gives its share of `max_buffered_bytes` back.
    :param max_inputs: Most texts in one request's `input` or `query` list (400 above it). A body may
        also hold at most `max_inputs + 64` JSON elements in all (array items plus object members), and
        nest at most 32 levels deep; both are checked before the body is parsed (400).
    :param max_chars: Most characters (code points) in one text (400 above it).
    :param max_length: Tokens pooled per text (longer texts are truncated); None for no limit.
    :param max_concurrency: Requests parsed, encoded or searched at once in worker threads; more wait
        their turn.
    :param max_matches: Most matches one `/search` may return: queries x k, with k capped by the index
        size (400 above it).
    :param max_match_chars: Most characters of stored text one `/search` response may carry (400 above it).
    :raises ValueError: If a bound is not a positive int (or None for `max_length`), or
        `max_buffered_bytes` is below `max_body_bytes` (no body of the allowed size could be read).
    """

    max_body_bytes: int = 8 * 2**20
    max_buffered_bytes: int = 256 * 2**20
    max_body_seconds: int = 60
    max_inputs: int = 2048
    max_chars: int = 100_000
    max_length: int | None = 512
    max_concurrency: int = 4
    max_matches: int = 20_480
    max_match_chars: int = 16_000_000

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "max_length" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field.name} must be a positive int, got {value!r}.")
        if self.max_buffered_bytes < self.max_body_bytes:
            raise ValueError(
                f"max_buffered_bytes ({self.max_buffered_bytes}) must be at least max_body_bytes "
                f"({self.max_body_bytes}): raise it with the body limit."
            )

    @property
    def max_json_elements(self) -> int:
        """Most JSON elements (array items plus object members) one request body may hold."""
        return self.max_inputs + EXTRA_JSON_ELEMENTS
