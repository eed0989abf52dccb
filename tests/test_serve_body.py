"""The bounded JSON body reader: same result as json.loads within the limits, cheap refusals beyond them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model2vec.serve.body import parse_json_body
from model2vec.serve.errors import ApiError

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
)


def shape(value: Any, depth: int = 1) -> tuple[int, int, int]:
    """(items plus members, containers, deepest nesting) of a parsed JSON value."""
    if isinstance(value, (list, dict)):
        children = list(value.values()) if isinstance(value, dict) else value
        inner = [shape(child, depth + 1) for child in children]
        return (
            len(children) + sum(i[0] for i in inner),
            1 + sum(i[1] for i in inner),
            max([depth, *(i[2] for i in inner)]),
        )
    return 0, 0, depth - 1


@given(st.dictionaries(st.text(max_size=5), VALUES, max_size=5), st.sampled_from([None, 2]), st.booleans())
@settings(max_examples=100, deadline=None)
def test_the_limits_bound_exactly_what_json_loads_builds(data: dict[str, Any], indent: int | None, ascii: bool) -> None:
    body = json.dumps(data, indent=indent, ensure_ascii=ascii).encode()
    elements, containers, depth = shape(data)
    # Within the limits (elements counted generously: containers too) the result is json.loads'.
    assert parse_json_body(body, elements + containers, depth) == json.loads(body)
    # Below them the body is refused, whichever limit it breaks.
    if elements:
        with pytest.raises(ApiError) as refused:
            parse_json_body(body, elements - 1, depth)
        assert refused.value.code == "too_many_elements"
    with pytest.raises(ApiError) as refused:
        parse_json_body(body, elements + containers, depth - 1)
    assert refused.value.code == "nesting_too_deep"


N = 8 * 2**20 - 64


def fill(prefix: bytes, unit: bytes, suffix: bytes = b"") -> bytes:
    """`prefix + unit * n + suffix`, as close to 8 MiB as whole units allow."""
    return prefix + unit * ((N - len(prefix) - len(suffix)) // len(unit)) + suffix


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (fill(b'{"input": [', b"1,", b"1]}"), "too_many_elements"),
        (fill(b'{"input": [', b"[[[[[[[[[[1]]]]]]]]]],", b"1]}"), "too_many_elements"),
        (fill(b'{"input": [', b'"a" '), "too_many_elements"),  # strings without commas
        (fill(b'{"input": 1}', b"]"), "invalid_json"),
        (fill(b'{"input": "', b'\\"'), "invalid_json"),  # unterminated, escape after escape
        (fill(b'{"input": "x", "a"', b":", b"}"), "invalid_json"),
        (fill(b'{"input": "', b'ab\\"cd\\\\ ', b'"}'), None),
        (fill(b'{"input": "x", "dimensions": ', b"9", b"}"), None),  # read as an infinite float
        (fill(b'{"input": "', b"lorem, [ipsum] {dolor} ", b'"}'), None),
        (fill(b"\xef\xbb\xbf" + b'{"input": "x"', b" ", b"}"), None),  # with a byte-order mark
    ],
)
def test_an_8_mib_hostile_body_costs_little(body: bytes, code: str | None) -> None:
    started = time.perf_counter()
    try:
        parse_json_body(body, 2048 + 64, 32)
        outcome = None
    except ApiError as error:
        outcome = error.code
    # Each case takes about 50 ms; the bound only catches a quadratic or per-character Python loop.
    assert time.perf_counter() - started < 2.0
    assert outcome == code


def test_messages_say_where() -> None:
    with pytest.raises(ApiError, match=r"nests JSON deeper than 2 levels \(at line 2, column 3\)"):
        parse_json_body(b'{"a":\n [[1]]}', 10, 2)
    with pytest.raises(ApiError, match=r"invalid start byte 0xff \(line 3, column 1, byte 6\)"):
        parse_json_body(b'{\n"a"\n\xff}', 10, 2)
    with pytest.raises(ApiError, match=r"must be a JSON object, got an array") as error:
        parse_json_body(b"[1]", 10, 2)
    assert error.value.status == 422 and error.value.code == "validation_error"
    with pytest.raises(ApiError, match="at most 7 texts"):
        parse_json_body(b"[1, 2, 3]", 2, 2, " Send at most 7 texts.")
