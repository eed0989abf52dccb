"""Which model an index was built with: a fingerprint of a `StaticModel`, and the record an index keeps.

Vectors from another model of the same dimension are not comparable with the stored ones, but nothing
in the numbers shows it. A saved index therefore records the model (where it was loaded from, and a
fingerprint: vocabulary hash, dimension, table checksum), and refuses a model whose fingerprint differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model2vec.format import ModelFormatError

if TYPE_CHECKING:
    from model2vec.model import StaticModel

FINGERPRINT_PARTS = {"vocabulary_sha256": "vocabulary", "dim": "dimension", "table_sha256": "table"}
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def model_fingerprint(model: StaticModel) -> dict[str, Any]:
    """Fingerprint a model: what decides the vectors it gives for a text.

    Pure: the same vocabulary (tokens in id order), dimension and arrays give the same fingerprint,
    wherever the model was loaded from. The table checksum covers the embedding table and, when present,
    the per-token weights and the token -> row mapping, each with its dtype and shape, so a re-quantised
    or re-weighted model counts as a different model. Hashing reads the whole table once (about a second
    per GB).

    :param model: The model.
    :return: {"vocabulary_sha256": hex, "dim": int, "table_sha256": hex}, JSON-serialisable.
    """
    # ensure_ascii: every token (even one holding a lone surrogate) encodes, and always the same way.
    vocabulary = json.dumps(model.tokens, ensure_ascii=True).encode("ascii")
    table = hashlib.sha256()
    for name, array in (("embedding", model.embedding), ("weights", model.weights), ("mapping", model.token_mapping)):
        if array is None:
            continue
        # Little-endian bytes, as safetensors stores them, so the checksum does not depend on the machine.
        little = np.ascontiguousarray(array, dtype=np.asarray(array).dtype.newbyteorder("<"))
        table.update(f"{name}:{little.dtype.str}:{little.shape};".encode())
        table.update(little.data)
    return {
        "vocabulary_sha256": hashlib.sha256(vocabulary).hexdigest(),
        "dim": int(model.dim),
        "table_sha256": table.hexdigest(),
    }


@dataclass(frozen=True)
class ModelRecord:
    """The model an index was built with, as saved in `index.json` under "model".

    :param path: Where the model can be loaded from (an absolute local folder or a hub id), or None.
    :param fingerprint: `model_fingerprint` of the model.
    """

    path: str | None
    fingerprint: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object saved in `index.json`."""
        return {"path": self.path, "fingerprint": dict(self.fingerprint)}

    @classmethod
    def from_json(cls, value: Any, source: Path) -> ModelRecord:
        """Validate the "model" entry of `index.json`.

        :param value: The decoded entry.
        :param source: The file it came from (named in errors).
        :raises ModelFormatError: If it is not {"path": str or null, "fingerprint": {...}} with a 64-digit
            hex vocabulary_sha256 and table_sha256 and a positive integer dim.
        """
        if not isinstance(value, dict) or set(value) != {"path", "fingerprint"}:
            raise ModelFormatError(f"{source}: 'model' must be an object with 'path' and 'fingerprint'.")
        path, fingerprint = value["path"], value["fingerprint"]
        if path is not None and (not isinstance(path, str) or not path):
            raise ModelFormatError(f"{source}: 'model' path must be a non-empty string or null, got {path!r}.")
        if (
            not isinstance(fingerprint, dict)
            or set(fingerprint) != set(FINGERPRINT_PARTS)
            or not all(
                isinstance(fingerprint[key], str) and SHA256_HEX.fullmatch(fingerprint[key])
                for key in ("vocabulary_sha256", "table_sha256")
            )
            or type(fingerprint["dim"]) is not int
            or fingerprint["dim"] <= 0
        ):
            raise ModelFormatError(
                f"{source}: 'model' fingerprint must hold vocabulary_sha256 and table_sha256 (64 hex digits) "
                f"and a positive integer dim, got {fingerprint!r}."
            )
        return cls(path, dict(fingerprint))

    def check(self, model: StaticModel, index: str, fingerprint: dict[str, Any] | None = None) -> None:
        """Refuse a model that is not the recorded one.

        :param model: The model offered for the index's text queries.
        :param index: How to name the index in the error (its folder).
        :param fingerprint: The model's fingerprint if already computed.
        :raises ValueError: Naming what differs (vocabulary, dimension, table) and the recorded path.
        """
        actual = fingerprint if fingerprint is not None else model_fingerprint(model)
        differing = [label for key, label in FINGERPRINT_PARTS.items() if actual[key] != self.fingerprint[key]]
        if differing:
            where = f"; it was built with {self.path}" if self.path else ""
            raise ValueError(
                f"The model is not the model this index was built with ({index}{where}): it differs in "
                f"{', '.join(differing)}. Its vectors would not be comparable; pass the model the index was "
                "built with, or rebuild the index with this one."
            )


def recorded_path(path: str | os.PathLike[str] | None) -> str | None:
    """Return how a model's location is recorded: an existing local path made absolute, else as given.

    An absolute folder still works when the index is queried from another working directory; a string
    that is not a local path is kept as given (a hub id).
    """
    if path is None:
        return None
    local = Path(path).expanduser()
    return str(local.resolve()) if local.exists() else str(path)
