"""A tiny learnable task over the `conftest.WORDS` vocabulary, and a custom estimator for trust tests."""

from __future__ import annotations

from typing import Any

import numpy as np

POSITIVE = ["hello", "big", "red", "!"]
NEGATIVE = ["cat", "dog", "mat", "sat"]
FILLER = ["the", "a", "on", "world", ",", "."]


def toy_task(n: int = 120, seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts whose label is decided by which content words they contain (learnable, not trivial)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = list(rng.choice(POSITIVE if label == "pos" else NEGATIVE, size=2))
        words += list(rng.choice(FILLER, size=int(rng.integers(0, 4))))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def toy_multilabel(n: int = 120, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """Texts with zero, one or two of the labels "pos" (a positive word) and "neg" (a negative word)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        words: list[str] = list(rng.choice(FILLER, size=2))
        label: list[str] = []
        if i % 3 != 1:
            words.append(str(rng.choice(POSITIVE)))
            label.append("pos")
        if i % 3 != 0:
            words.append(str(rng.choice(NEGATIVE)))
            label.append("neg")
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


class CustomHead:
    """A classifier that scikit-learn does not define: skops must not load it without opt-in."""

    def __init__(self) -> None:
        self.classes_ = np.asarray(["neg", "pos"])

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.asarray(["pos"] * len(X))

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.tile([0.0, 1.0], (len(X), 1))
