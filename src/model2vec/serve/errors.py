"""The server's error type and OpenAI's error body shape (no FastAPI import: the HTTP protocol layer uses it too)."""

from __future__ import annotations

from typing import Any

# OpenAI's `type` for each status; other 4xx are "invalid_request_error", 5xx "server_error".
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


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """Return the JSON body every failing request gets: `{"error": {"message", "type", "param", "code"}}`.

    :param status: HTTP status code (picks `type`: see `ERROR_TYPES`; 5xx are "server_error").
    :param message: What went wrong, for a person.
    :param param: The request field at fault, if one is.
    :param code: A stable machine-readable code.
    :return: The body, ready for JSON.
    """
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
