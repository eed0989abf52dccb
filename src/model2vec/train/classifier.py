"""`StaticModelForClassification`: fine-tune a static model and an MLP head on labelled texts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from model2vec.inference.evaluation import evaluate_single_or_multi_label
from model2vec.inference.model import StaticModelPipeline
from model2vec.train.base import FinetunableStaticModel, check_fit_settings, default_batch_size, resolve_device
from model2vec.train.labels import (
    LabelInfo,
    check_aligned,
    check_texts,
    check_validation_labels,
    class_weights,
    plain_label,
    read_labels,
)

DEFAULT_RANDOM_SEED = 42


def split_indices(
    n: int, test_size: float | int, random_seed: int, strata: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Split `range(n)` into train and validation indices, stratified when possible.

    :param n: Number of items.
    :param test_size: Fraction in (0, 1) or a count of validation items.
    :param random_seed: Seed of the split.
    :param strata: Single labels to stratify on, or None. Stratification is skipped when a class has
        fewer than two items or either side would be smaller than the number of classes.
    :return: `(train, validation)` index arrays.
    :raises ValueError: If the split leaves no training or no validation item.
    """
    from sklearn.model_selection import train_test_split

    n_val = test_size if isinstance(test_size, int) else math.ceil(n * test_size)
    if n_val < 1 or n - n_val < 1:
        raise ValueError(
            f"test_size={test_size} leaves {n - n_val} training and {n_val} validation texts out of {n}; "
            "both need at least one (or pass X_val and y_val)."
        )
    stratify = None
    if strata is not None:
        counts = np.unique(np.asarray(strata), return_counts=True)[1]
        if counts.min() >= 2 and min(n_val, n - n_val) >= len(counts):
            stratify = np.asarray(strata)
    train, val = train_test_split(np.arange(n), test_size=n_val, random_state=random_seed, stratify=stratify)
    return np.sort(train), np.sort(val)


class StaticModelForClassification(FinetunableStaticModel):
    """A static model with an MLP head, trained end to end for single-label or multi-label classification.

    Construct with `from_pretrained(path=..., ...)` or `from_static_model(model=..., ...)`; all
    configuration is keyword-only (see `FinetunableStaticModel`). `fit` sets the classes and builds a
    fresh head; `to_pipeline` exports a torch-free `StaticModelPipeline`.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Placeholder classes until `fit` sees the labels (follows scikit-learn's `classes_`).
        self.classes_: np.ndarray = np.arange(self.out_dim)
        self.multilabel = False
        self.history: dict[str, Any] = {}

    @property
    def classes(self) -> np.ndarray:
        """The labels, in the order of the head's outputs."""
        return self.classes_

    def fit(
        self,
        X: Sequence[str],  # noqa: N803
        y: Sequence[Any],
        learning_rate: float = 1e-3,
        batch_size: int | None = None,
        min_epochs: int | None = None,
        max_epochs: int | None = -1,
        early_stopping_patience: int | None = 5,
        test_size: float | int = 0.1,
        X_val: Sequence[str] | None = None,  # noqa: N803
        y_val: Sequence[Any] | None = None,
        class_weight: Literal["balanced"] | dict[Any, float] | None = None,
        device: str = "auto",
        random_seed: int = DEFAULT_RANDOM_SEED,
        *,
        show_progress_bar: bool = True,
    ) -> StaticModelForClassification:
        """Train the table, the token weights (unless frozen) and a fresh head on labelled texts.

        Every input is validated before any training starts. Without `X_val`, a (stratified) `test_size`
        part of the data is held out. After each epoch the validation accuracy is measured; training
        stops after `early_stopping_patience` epochs without improvement (but not before `min_epochs`)
        and the best epoch's parameters are restored. The same seed gives the same model.

        :param X: Training texts.
        :param y: One label per text (all str or all int), or one list of labels per text (multi-label).
        :param learning_rate: Adam learning rate.
        :param batch_size: Texts per step; None picks about 30 steps per epoch (32 to 512).
        :param min_epochs: Train at least this many epochs before early stopping may end training.
        :param max_epochs: Stop after this many epochs; None or -1 for no limit (early stopping only).
        :param early_stopping_patience: Epochs without validation improvement before stopping; None
            trains for `max_epochs` (which must then be set).
        :param test_size: Held-out fraction (0, 1) or count, when `X_val` is not given.
        :param X_val: Validation texts (give `y_val` too).
        :param y_val: Validation labels, of the same form as `y` and only classes seen in `y`.
        :param class_weight: None, "balanced" (inverse class frequency) or a dict class -> weight. For
            multi-label data the weights scale the positive term of each label's loss.
        :param device: "auto" (CUDA when available), "cpu", "cuda", ...
        :param random_seed: Seed of the split, the initialisation and the batch order.
        :param show_progress_bar: Show a progress bar over epochs.
        :return: The fitted model (self).
        :raises TypeError: If texts are not str or labels are neither str nor int.
        :raises ValueError: For mismatched lengths, an empty text list, fewer than two classes, mixed label
            types, `X_val` without `y_val` (or the reverse), or a setting out of range.
        """
        texts = check_texts(X)
        info = read_labels(y)
        check_aligned(texts, y)
        max_epochs = check_fit_settings(
            learning_rate=learning_rate,
            batch_size=batch_size,
            min_epochs=min_epochs,
            max_epochs=max_epochs,
            early_stopping_patience=early_stopping_patience,
            test_size=test_size,
            has_x_val=X_val is not None,
            has_y_val=y_val is not None,
        )
        weights = class_weights(info, class_weight, len(texts))
        labels = list(y)
        y_val = list(y_val) if y_val is not None else None
        if X_val is not None and y_val is not None:
            val_texts = check_texts(X_val, "X_val")
            check_aligned(val_texts, y_val, "X_val", "y_val")
            check_validation_labels(y_val, info)
            train_texts, train_labels, val_labels = texts, labels, list(y_val)
        else:
            train_index, val_index = split_indices(
                len(texts), test_size, random_seed, None if info.multilabel else labels
            )
            train_texts = [texts[i] for i in train_index]
            train_labels = [labels[i] for i in train_index]
            val_texts = [texts[i] for i in val_index]
            val_labels = [labels[i] for i in val_index]

        torch_device = resolve_device(device)
        self._set_classes(info)
        # Seeded before the head is built so that its initialisation is reproducible too.
        torch.manual_seed(random_seed)
        self.head = self.construct_head()
        loss_fn = self._loss(weights, torch_device)
        self.history = self._train_loop(
            train_ids=self._token_ids(train_texts),
            train_targets=self._targets(train_labels),
            val_ids=self._token_ids(val_texts),
            val_targets=self._targets(val_labels),
            loss_fn=loss_fn,
            score_fn=self._accuracy,
            learning_rate=learning_rate,
            batch_size=batch_size or default_batch_size(len(train_texts)),
            min_epochs=min_epochs or 0,
            max_epochs=max_epochs,
            early_stopping_patience=early_stopping_patience,
            device=torch_device,
            random_seed=random_seed,
            show_progress_bar=show_progress_bar,
        )
        return self

    def _set_classes(self, info: LabelInfo) -> None:
        self.multilabel = info.multilabel
        self.classes_ = np.asarray(info.classes)
        self.out_dim = len(info.classes)
        self._class_index = {label: i for i, label in enumerate(info.classes)}

    def _targets(self, labels: Sequence[Any]) -> torch.Tensor:
        """Class indices (single-label) or multi-hot float rows (multi-label)."""
        index = self._class_index
        if not self.multilabel:
            return torch.tensor([index[plain_label(label)] for label in labels], dtype=torch.long)
        targets = torch.zeros((len(labels), len(index)), dtype=torch.float32)
        for row, item in enumerate(labels):
            for label in item:
                targets[row, index[plain_label(label)]] = 1.0
        return targets

    def _loss(self, weights: np.ndarray | None, device: torch.device) -> nn.Module:
        weight = torch.from_numpy(weights).to(device) if weights is not None else None
        if self.multilabel:
            return nn.BCEWithLogitsLoss(pos_weight=weight)
        return nn.CrossEntropyLoss(weight=weight)

    def _accuracy(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        """Accuracy; for multi-label, the fraction of texts whose whole label set is right."""
        if self.multilabel:
            return float(((logits > 0) == (targets > 0.5)).all(dim=1).float().mean())
        return float((logits.argmax(dim=1) == targets).float().mean())

    # -- prediction ---------------------------------------------------------------------------------

    def predict_proba(self, X: Sequence[str], show_progress_bar: bool = False, batch_size: int = 1024) -> np.ndarray:  # noqa: N803
        """Class probabilities of each text (softmax; independent sigmoids for multi-label).

        :param X: Texts.
        :param show_progress_bar: Accepted for symmetry with the pipeline; prediction is fast.
        :param batch_size: Texts per batch.
        :return: `(n, n_classes)` float32, columns in the order of `classes_`.
        :raises TypeError: If an item is not a str.
        """
        logits = self._outputs(list(X), batch_size, "head")
        probabilities = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)
        result: np.ndarray = probabilities.numpy()
        return result

    def predict(
        self,
        X: Sequence[str],  # noqa: N803
        show_progress_bar: bool = False,
        batch_size: int = 1024,
        threshold: float = 0.5,
    ) -> np.ndarray | list[list[Any]]:
        """Predict the label of each text, or its list of labels for a multi-label model.

        :param X: Texts.
        :param show_progress_bar: Accepted for symmetry with the pipeline.
        :param batch_size: Texts per batch.
        :param threshold: Multi-label decision threshold on each label's probability.
        :return: A 1-D array of labels, or one (possibly empty) list of labels per text.
        :raises TypeError: If an item is not a str.
        """
        proba = self.predict_proba(X, show_progress_bar, batch_size)
        if self.multilabel:
            return [[plain_label(self.classes_[j]) for j in np.flatnonzero(row >= threshold)] for row in proba]
        predictions: np.ndarray = self.classes_[proba.argmax(axis=1)] if len(proba) else self.classes_[:0]
        return predictions

    def evaluate(
        self,
        X: Sequence[str],  # noqa: N803
        y: Sequence[Any],
        batch_size: int = 1024,
        threshold: float = 0.5,
        output_dict: bool = False,
    ) -> str | dict[str, Any]:
        """Scikit-learn's classification report of the predictions for X against y.

        :param X: Texts.
        :param y: True labels (lists of labels for a multi-label model).
        :param batch_size: Texts per batch.
        :param threshold: Multi-label decision threshold.
        :param output_dict: Return a dict instead of text.
        :return: The report.
        :raises ValueError: If X and y have different lengths.
        """
        check_aligned(X, y)
        return evaluate_single_or_multi_label(
            self.predict(X, batch_size=batch_size, threshold=threshold), y, output_dict
        )

    # -- export -------------------------------------------------------------------------------------

    def to_pipeline(self) -> StaticModelPipeline:
        """Export the model as a torch-free `StaticModelPipeline`.

        The pipeline holds the trained static model and an equivalent scikit-learn `MLPClassifier` head.

        :return: The pipeline; it predicts the same labels as this model.
        """
        return StaticModelPipeline(
            self.to_static_model(),
            head_to_sklearn(self.head, self.classes_, self.multilabel),
            multilabel_classes=[plain_label(c) for c in self.classes_] if self.multilabel else None,
        )


def head_to_sklearn(head: nn.Sequential, classes: np.ndarray, multilabel: bool) -> Any:
    """Copy a (Linear, ReLU)* Linear torch head into a fitted scikit-learn `MLPClassifier`.

    scikit-learn models two classes with one logistic output; softmax over two logits equals the
    logistic of their difference, so the last layer becomes that difference and the probabilities match.

    :param head: The torch head.
    :param classes: The labels of the outputs.
    :param multilabel: Whether the outputs are independent labels (logistic) or one class (softmax).
    :return: The scikit-learn classifier.
    """
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import LabelBinarizer

    linears = [module for module in head if isinstance(module, nn.Linear)]
    coefs = [layer.weight.detach().cpu().numpy().T.astype(np.float32) for layer in linears]
    intercepts = [layer.bias.detach().cpu().numpy().astype(np.float32) for layer in linears]
    binarizer = LabelBinarizer()
    if multilabel:
        binarizer.fit(np.eye(len(classes), dtype=int))
        out_activation = "logistic"
    elif len(classes) == 2:
        binarizer.fit(classes)
        coefs[-1] = (coefs[-1][:, 1] - coefs[-1][:, 0])[:, None]
        intercepts[-1] = intercepts[-1][1:] - intercepts[-1][:1]
        out_activation = "logistic"
    else:
        binarizer.fit(classes)
        out_activation = "softmax"
    hidden = tuple(int(c.shape[1]) for c in coefs[:-1])
    classifier = MLPClassifier(hidden_layer_sizes=hidden, activation="relu")
    classifier.coefs_ = coefs
    classifier.intercepts_ = intercepts
    classifier.n_layers_ = len(coefs) + 1
    classifier.n_outputs_ = int(coefs[-1].shape[1])
    classifier.out_activation_ = out_activation
    classifier._label_binarizer = binarizer
    classifier.classes_ = binarizer.classes_
    classifier.n_features_in_ = int(coefs[0].shape[0])
    return classifier
