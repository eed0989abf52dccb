"""Classification reports for single-label and multi-label predictions (scikit-learn only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def is_multilabel(labels: Sequence[Any] | np.ndarray) -> bool:
    """Tell whether labels are multi-label (each item a list/tuple/set/array of labels).

    :param labels: One label, or one collection of labels, per text.
    :return: True when every item is a collection; False when none is (an empty input counts as single-label).
    :raises ValueError: If collections and single labels are mixed.
    """
    kinds = {isinstance(item, (list, tuple, set, frozenset, np.ndarray)) for item in labels}
    if len(kinds) > 1:
        raise ValueError("Labels mix single labels and lists of labels; use one or the other for every text.")
    return kinds == {True}


def evaluate_single_or_multi_label(
    predictions: Sequence[Any] | np.ndarray,
    y: Sequence[Any] | np.ndarray,
    output_dict: bool = False,
) -> str | dict[str, Any]:
    """Return scikit-learn's classification report of predictions against true labels.

    Multi-label inputs (a list of labels per text) are binarised over the union of the true and predicted
    labels, so a label that only appears in the predictions still counts as a false positive.

    :param predictions: Predicted labels (or lists of labels), one per text.
    :param y: True labels (or lists of labels), one per text.
    :param output_dict: Return the report as a dict instead of text.
    :return: The report.
    :raises ValueError: If the lengths differ, or single labels and lists of labels are mixed.
    """
    from sklearn.metrics import classification_report
    from sklearn.preprocessing import MultiLabelBinarizer

    if len(predictions) != len(y):
        raise ValueError(f"Got {len(predictions)} predictions for {len(y)} labels; they must match.")
    if is_multilabel(y) or is_multilabel(predictions):
        if not (is_multilabel(y) and is_multilabel(predictions)):
            raise ValueError("Multi-label predictions need multi-label true labels, and vice versa.")
        classes = sorted({label for row in [*y, *predictions] for label in row}, key=str)
        binarizer = MultiLabelBinarizer(classes=classes)
        binarizer.fit([classes])
        report: str | dict[str, Any] = classification_report(
            binarizer.transform(y),
            binarizer.transform(predictions),
            target_names=[str(label) for label in classes],
            output_dict=output_dict,
            zero_division=0,
        )
        return report
    result: str | dict[str, Any] = classification_report(
        np.asarray(y), np.asarray(predictions), output_dict=output_dict, zero_division=0
    )
    return result
