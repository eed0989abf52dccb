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


def evaluate_regression(predictions: Sequence[Any] | np.ndarray, y: Sequence[Any] | np.ndarray) -> dict[str, float]:
    """Score predicted values against true values (one column, or several averaged uniformly).

    :param predictions: Predicted values, `(n,)` or `(n, k)`.
    :param y: True values of the same shape (a `(n,)` column against `(n, 1)` predictions is accepted).
    :return: `mse`, `rmse`, `mae`, `r2` (scikit-learn's `r2_score`), `pearson` and `spearman` (mean over
        columns). A correlation is NaN where a column is constant or there are fewer than two rows.
    :raises ValueError: If the shapes differ, there are no rows, or a value is NaN or infinite.
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import r2_score

    predicted = np.asarray(predictions, dtype=np.float64)
    true = np.asarray(y, dtype=np.float64)
    predicted = predicted.reshape(len(predicted), -1) if predicted.ndim else predicted
    true = true.reshape(len(true), -1) if true.ndim else true
    if predicted.shape != true.shape or predicted.ndim != 2:
        raise ValueError(f"Got predictions of shape {predicted.shape} for targets of shape {true.shape}.")
    if len(true) == 0:
        raise ValueError("Nothing to evaluate: no rows.")
    if not (np.isfinite(predicted).all() and np.isfinite(true).all()):
        raise ValueError("Predictions and targets must be finite (no NaN or inf).")
    errors = predicted - true
    mse = float(np.mean(errors**2))
    pearson, spearman = [], []
    for column in range(true.shape[1]):
        a, b = predicted[:, column], true[:, column]
        if len(a) < 2 or a.std() == 0 or b.std() == 0:
            pearson.append(float("nan"))
            spearman.append(float("nan"))
            continue
        pearson.append(float(np.corrcoef(a, b)[0, 1]))
        spearman.append(float(spearmanr(a, b).statistic))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(errors))),
        "r2": float(r2_score(true, predicted)) if len(true) > 1 else float("nan"),
        "pearson": float(np.mean(pearson)),
        "spearman": float(np.mean(spearman)),
    }
