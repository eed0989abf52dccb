"""A tiny evaluation suite written to a temporary folder, and an oracle encoder that aces it.

The oracle maps each text to a vector designed from the gold data, so every task's perfect score is
known in advance: STS cosines equal score / 5, positive pairs are identical and negative ones
orthogonal, classes and clusters are one-hot, and each query equals its relevant document.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

CONTENT_WORDS = ["hello", "world", "cat", "sat", "mat", "dog", "big", "red"]
DIM = 8
TOY_NAMES = ["toy_sts", "toy_cls", "toy_pair", "toy_clu", "toy_ret"]


def text_stream() -> itertools.product[tuple[str, ...]]:
    return itertools.product(CONTENT_WORDS, repeat=3)


def _write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _unit(i: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[i] = 1.0
    return vector


@dataclass
class ToySuite:
    root: Path
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


def build_suite(root: Path) -> ToySuite:
    """Write one task of every type under `root` (see `TOY_NAMES`); return it with the oracle's vectors."""
    words = (" ".join(t) for t in text_stream())
    suite = ToySuite(root)
    v = suite.vectors

    # STS: cosine(a, b) == score / 5 exactly, so Spearman is 1.
    scores = [0.0, 1.0, 2.5, 3.0, 4.2, 5.0]
    sts = []
    for score in scores:
        a, b = next(words), next(words)
        angle = np.arccos(score / 5)
        v[a] = _unit(0)
        v[b] = np.cos(angle) * _unit(0) + np.sin(angle) * _unit(1)
        sts.append({"sentence1": a, "sentence2": b, "score": score})
    _write_jsonl(root / "sts" / "toy_sts.test.jsonl", sts)

    # Classification: 3 labels, one-hot per label; a mixed int/str label set is allowed by the schema.
    labels = ["alpha", "beta", 7]
    for split, per_label in (("train", 6), ("test", 2)):
        records = []
        for index, label in enumerate(labels):
            for j in range(per_label):
                text = next(words)
                v[text] = _unit(index) + 0.01 * j * _unit(7)
                records.append({"text": text, "label": label})
        _write_jsonl(root / "classification" / f"toy_cls.{split}.jsonl", records)

    # Pair classification: positives identical, negatives orthogonal.
    pairs = []
    for i, label in enumerate([1, 0, 1, 0, 0, 1]):
        a, b = next(words), next(words)
        v[a] = _unit(i % 4)
        v[b] = v[a] if label else _unit((i % 4) + 4)
        pairs.append({"sentence1": a, "sentence2": b, "label": label})
    _write_jsonl(root / "pair_classification" / "toy_pair.test.jsonl", pairs)

    # Clustering: three tight, far-apart groups.
    clusters = []
    for index, label in enumerate(["x", "y", "z"]):
        for j in range(5):
            text = next(words)
            v[text] = 10 * _unit(index + 2) + 0.01 * j * _unit(6)
            clusters.append({"text": text, "label": label})
    _write_jsonl(root / "clustering" / "toy_clu.test.jsonl", clusters)

    # Retrieval: query j equals document j; the other documents point elsewhere.
    corpus, queries, qrels = [], [], ["query-id\tcorpus-id\tscore"]
    for j in range(6):
        title, body = next(words), next(words)
        doc_id = f"d{j}"
        text = body
        if j % 2 == 0:
            corpus.append({"_id": doc_id, "title": title, "text": body})
            text = f"{title} {body}"
        else:
            corpus.append({"_id": doc_id, "title": "", "text": body})
        v[text] = _unit(j)
    for j in range(3):
        query = next(words)
        v[query] = _unit(j)
        queries.append({"_id": f"q{j}", "text": query})
        qrels.append(f"q{j}\td{j}\t1")
    queries.append({"_id": "unjudged", "text": next(words)})  # not in qrels: must be ignored
    folder = root / "retrieval" / "toy_ret"
    _write_jsonl(folder / "corpus.jsonl", corpus)
    _write_jsonl(folder / "queries.jsonl", queries)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n", encoding="utf-8")
    return suite


class DictEncoder:
    """Encodes known texts from a dict (unknown ones as zeros) and records every call."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors
        self.calls: list[list[str]] = []

    def encode(self, sentences: list[str]) -> np.ndarray:
        self.calls.append(list(sentences))
        zero = np.zeros(DIM, dtype=np.float32)
        return np.stack([self.vectors.get(s, zero) for s in sentences]) if sentences else np.zeros((0, DIM))


@pytest.fixture
def toy_suite(tmp_path: Path) -> ToySuite:
    return build_suite(tmp_path / "suite")
