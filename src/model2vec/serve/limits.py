"""Request limits of the HTTP server (no FastAPI import: the CLI reads the defaults when registering)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeLimits:
    """Bounds on what one request may ask for, and on the server's parallel work.

    :param max_body_bytes: Largest request body accepted (413 above it).
    :param max_inputs: Most texts in one request's `input` or `query` list (400 above it).
    :param max_chars: Most characters (code points) in one text (400 above it).
    :param max_length: Tokens pooled per text (longer texts are truncated); None for no limit.
    :param max_concurrency: Encode/search calls running at once in worker threads; more wait their turn.
    :raises ValueError: If a bound is not a positive int (or None for `max_length`).
    """

    max_body_bytes: int = 8 * 2**20
    max_inputs: int = 2048
    max_chars: int = 100_000
    max_length: int | None = 512
    max_concurrency: int = 4

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_inputs", "max_chars", "max_length", "max_concurrency"):
            value = getattr(self, name)
            if name == "max_length" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
