"""Reading a request body as JSON with bounded work: size and shape are checked before anything is built.

`parse_json_body` decodes strict UTF-8, then counts the body's JSON elements and nesting depth in one
scan over the raw text (strings are skipped by json's C string scanner, so a text's characters cost no
Python-level work), and only then runs `json.loads`. A body of two million tiny values is therefore
refused after counting a few thousand of them, without building two million Python objects.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]  # public since 2.x, absent from typeshed
from typing import Any

from model2vec.serve.errors import ApiError

# Characters that open, close or separate JSON elements, and the start of a string.
_STRUCTURE = re.compile(r'["\[\]{},]')
# Integers longer than this are read as floats (infinite ones included), which no integer field
# accepts: int() of a long digit string is quadratic and refused by Python beyond 4300 digits.
_MAX_INT_DIGITS = 100
# What a JSON reader calls the Python values json.loads returns, for messages.
_JSON_TYPES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _position(text: str | bytes, offset: int) -> str:
    """Describe `offset` as "line L, column C" (1-based), as `json` error messages do."""
    newline = "\n" if isinstance(text, str) else b"\n"
    line = text.count(newline, 0, offset) + 1  # type: ignore[arg-type]
    column = offset - (text.rfind(newline, 0, offset) + 1) + 1  # type: ignore[arg-type]
    return f"line {line}, column {column}"


def check_structure(text: str, max_elements: int, max_depth: int, hint: str = "") -> None:
    """Refuse a JSON text with too many elements or too deep a nesting, without parsing it.

    Elements are counted as containers opened plus commas outside strings: an upper bound on the
    array items and object members the text holds. The scan stops at the first limit broken, and at
    an unterminated string or an unbalanced closing bracket (`json.loads` then reports that error
    with its position), so it visits at most about four tokens per allowed element.

    :param text: The body, decoded.
    :param max_elements: Most elements allowed.
    :param max_depth: Deepest nesting allowed (a top-level object is depth 1).
    :param hint: A sentence appended to the too-many-elements message (what a valid request holds).
    :raises ApiError: 400 `too_many_elements` or `nesting_too_deep`.
    """
    elements = depth = strings = position = 0
    # In valid JSON each string is an array item or one side of an object member, so at most twice
    # the elements: beyond that the body is over the limit (or not JSON), and scanning on is waste.
    max_strings = 2 * max_elements + 1
    search = _STRUCTURE.search
    while (found := search(text, position)) is not None:
        char, start = found.group(), found.start()
        if char == '"':
            try:
                # json's own C string scanner: skips escapes at the speed json.loads reads them.
                position = scanstring(text, start + 1)[1]
            except json.JSONDecodeError:
                return  # unterminated or a control character: json.loads reports where
            strings += 1
            if strings > max_strings:
                raise _too_many_elements(max_elements, hint)
            continue
        position = start + 1
        if char in "]}":
            depth -= 1
            if depth < 0:
                return  # unbalanced: json.loads reports where
            continue
        elements += 1
        if elements > max_elements:
            raise _too_many_elements(max_elements, hint)
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise ApiError(
                    400,
                    f"The body nests JSON deeper than {max_depth} levels (at {_position(text, start)}).",
                    None,
                    "nesting_too_deep",
                )


def _too_many_elements(max_elements: int, hint: str) -> ApiError:
    message = (
        f"The body holds more than {max_elements} JSON elements (array items plus object members), "
        f"the most the server reads.{hint}"
    )
    return ApiError(400, message, None, "too_many_elements")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _integer(digits: str) -> int | float:
    return int(digits) if len(digits) <= _MAX_INT_DIGITS else float(digits)


def parse_json_body(body: bytes, max_elements: int, max_depth: int, hint: str = "") -> dict[str, Any]:
    """Decode a request body into a JSON object, with work bounded by the limits.

    :param body: The raw body (already bounded in size by the server).
    :param max_elements: Most JSON elements (array items plus object members) allowed.
    :param max_depth: Deepest nesting allowed.
    :param hint: A sentence appended to the too-many-elements message.
    :return: The parsed object.
    :raises ApiError: 422 `invalid_json` for a body that is not UTF-8 or not JSON (the message says
        where: line, column and offset); 400 `too_many_elements` / `nesting_too_deep` for limits;
        422 `validation_error` when the JSON is not an object.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = body[error.start : error.start + 1].hex()
        raise ApiError(
            422,
            f"The body is not valid UTF-8: {error.reason} 0x{byte} ({_position(body, error.start)}, "
            f"byte {error.start}).",
            None,
            "invalid_json",
        ) from None
    # A byte-order mark is no JSON value, but some clients write one; json.loads(bytes) skips it too.
    text = text.removeprefix("\ufeff")
    check_structure(text, max_elements, max_depth, hint)
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_int=_integer)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}, char {error.pos}"
        raise ApiError(422, f"The body is not valid JSON: {error.msg} ({where}).", None, "invalid_json") from None
    except ValueError as error:  # NaN or Infinity, which Python's json would otherwise accept
        raise ApiError(422, f"The body is not valid JSON: {error}.", None, "invalid_json") from None
    if not isinstance(data, dict):
        kind = _JSON_TYPES.get(type(data), type(data).__name__)
        raise ApiError(422, f"The body must be a JSON object, got {kind}.", None, "validation_error")
    return data
