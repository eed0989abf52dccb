"""Validation of training inputs and label bookkeeping (pure Python and numpy; no torch)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_COLLECTIONS = (list, tuple, set, frozenset, np.ndarray)


def _is_column(value: Any) -> bool:
    """Tell whether a value is a sized collection of items (list, tuple, array, pandas Series...), not a str."""
    return (
        not isinstance(value, (str, bytes, dict))
        and hasattr(value, "__len__")
        and hasattr(value, "__iter__")
        and not (isinstance(value, np.ndarray) and value.ndim == 0)
    )


def check_texts(texts: Any, name: str = "X") -> list[str]:
    """Check that `texts` is a non-empty sequence of str and return it as a list.

    :param texts: The candidate texts.
    :param name: The argument name used in error messages.
    :return: The texts as a list.
    :raises TypeError: If `texts` is a single str or not a sequence, or an item is not a str.
    :raises ValueError: If there are no texts.
    """
    if not _is_column(texts):
        raise TypeError(f"{name} must be a list of str, got {type(texts).__name__}.")
    if len(texts) == 0:
        raise ValueError(f"{name} is empty; training needs at least one text per class.")
    result = list(texts)
    for index, text in enumerate(result):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{index}] must be a str, got {type(text).__name__}.")
    return result


def _label_kind(label: Any) -> str:
    """'str' or 'int' for a supported label; anything else is an error."""
    if isinstance(label, (str, np.str_)):
        return "str"
    if isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)):
        return "int"
    raise TypeError(f"Labels must be str or int, got {type(label).__name__} ({label!r}).")


def plain_label(label: Any) -> Any:
    """Turn a numpy scalar into a Python scalar, so labels compare, hash and serialise the same way.

    :param label: A label.
    :return: The label as a Python object.
    """
    return label.item() if isinstance(label, np.generic) else label


@dataclass(frozen=True)
class LabelInfo:
    """What a label column holds.

    :param multilabel: Each text has a list of labels.
    :param classes: The distinct labels, sorted.
    :param counts: How often each label occurs.
    """

    multilabel: bool
    classes: list[Any]
    counts: dict[Any, int]


def read_labels(y: Any, name: str = "y") -> LabelInfo:
    """Validate a label column and describe it.

    :param y: One label per text (str or int), or one list of labels per text (multi-label).
    :param name: The argument name used in error messages.
    :return: The description.
    :raises TypeError: If `y` is not a sequence, or a label is neither str nor int.
    :raises ValueError: If `y` is empty, mixes single labels and lists, mixes str and int labels, or has
        fewer than two distinct labels.
    """
    if not _is_column(y):
        raise TypeError(f"{name} must be a list of labels, got {type(y).__name__}.")
    y = list(y)
    if len(y) == 0:
        raise ValueError(f"{name} is empty.")
    collection = [isinstance(item, _COLLECTIONS) for item in y]
    if any(collection) and not all(collection):
        raise ValueError(f"{name} mixes single labels and lists of labels; use one or the other for every text.")
    multilabel = all(collection)
    flat = [plain_label(label) for item in y for label in item] if multilabel else [plain_label(item) for item in y]
    kinds = {_label_kind(label) for label in flat}
    if len(kinds) > 1:
        raise ValueError(f"{name} mixes str and int labels; use one type for every label.")
    counts = Counter(flat)
    if len(counts) < 2:
        found = next(iter(counts), None)
        raise ValueError(
            f"{name} has {len(counts)} distinct label(s) ({found!r}); a classifier needs at least two classes."
        )
    return LabelInfo(multilabel=multilabel, classes=sorted(counts), counts=dict(counts))


def check_validation_labels(y_val: Any, info: LabelInfo) -> None:
    """Check that validation labels have the training labels' form and only known classes.

    :param y_val: The validation labels.
    :param info: The training labels' description.
    :raises ValueError: If the form differs (single vs multi-label, str vs int) or a label is unknown.
    """
    if len(y_val) == 0:
        raise ValueError("y_val is empty.")
    collection = [isinstance(item, _COLLECTIONS) for item in y_val]
    if (all(collection) if collection else False) != info.multilabel or len(set(collection)) > 1:
        kind = "lists of labels" if info.multilabel else "single labels"
        raise ValueError(f"y_val must hold {kind}, like y.")
    flat = (
        [plain_label(label) for item in y_val for label in item] if info.multilabel else [plain_label(i) for i in y_val]
    )
    known = set(info.classes)
    kind = _label_kind(info.classes[0])
    for label in flat:
        if _label_kind(label) != kind:
            raise ValueError(f"y_val mixes label types: {label!r} is not a {kind} like the labels in y.")
        if label not in known:
            raise ValueError(f"y_val has the label {label!r}, which never occurs in y.")


def check_aligned(X: Sequence[str], y: Sequence[Any], x_name: str = "X", y_name: str = "y") -> None:  # noqa: N803
    """Check that texts and labels have the same length.

    :param X: Texts.
    :param y: Labels.
    :param x_name: Name of the texts in errors.
    :param y_name: Name of the labels in errors.
    :raises ValueError: If the lengths differ.
    """
    if len(X) != len(y):
        raise ValueError(
            f"{x_name} has {len(X)} texts but {y_name} has {len(y)} labels; they must have the same length."
        )


def class_weights(info: LabelInfo, class_weight: str | dict[Any, float] | None, n_texts: int) -> np.ndarray | None:
    """Per-class loss weights, in the order of `info.classes`.

    :param info: The training labels' description.
    :param class_weight: None (all 1), "balanced" (n_texts / (n_classes * count), as in scikit-learn), or
        a dict mapping every class to a positive weight.
    :param n_texts: The number of training texts.
    :return: float32 weights, or None for uniform weights.
    :raises ValueError: For an unknown mode, a dict missing a class or naming an unknown one, or a
        non-positive weight.
    """
    if class_weight is None:
        return None
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {class_weight!r}.")
        counts = np.asarray([info.counts[c] for c in info.classes], dtype=np.float64)
        return (n_texts / (len(info.classes) * counts)).astype(np.float32)
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {type(class_weight).__name__}.")
    given = {plain_label(k): v for k, v in class_weight.items()}
    missing = [c for c in info.classes if c not in given]
    unknown = [c for c in given if c not in set(info.classes)]
    if missing or unknown:
        raise ValueError(f"class_weight must name every class exactly; missing {missing}, unknown {unknown}.")
    weights = np.asarray([float(given[c]) for c in info.classes], dtype=np.float32)
    if not np.all(weights > 0):
        raise ValueError("class_weight values must be positive.")
    return weights
