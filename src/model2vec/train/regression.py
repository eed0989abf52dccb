"""`StaticModelForRegression`: fine-tune a static model and an MLP head to predict numbers from texts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from model2vec.inference.evaluation import evaluate_regression
from model2vec.inference.model import StaticModelPipeline
from model2vec.train.base import FinetunableStaticModel, check_fit_settings, default_batch_size, resolve_device
from model2vec.train.classifier import DEFAULT_RANDOM_SEED, split_indices
from model2vec.train.labels import check_aligned, check_texts


def float_targets(y: Any, name: str = "y") -> tuple[np.ndarray, bool]:
    """Check regression targets and return them as a float64 `(n, k)` matrix.

    :param y: One number per text, or one row of k numbers per text (list, numpy array, tensor, Series).
    :param name: The argument name used in errors.
    :return: `(targets, one_column)`: the matrix, and whether `y` was a single column of numbers.
    :raises TypeError: If `y` holds something other than numbers (str, bool, None, objects).
    :raises ValueError: If `y` is empty, ragged, more than 2-D, or holds NaN or infinite values.
    """
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    if isinstance(y, (str, bytes)):
        raise TypeError(f"{name} must be numbers, one per text (or one row per text), got a {type(y).__name__}.")
    try:
        array = np.asarray(y)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{name} must be a column of numbers or a rectangular (n, k) array: {error}") from error
    if array.dtype.kind not in "iuf":
        found = "bool" if array.dtype.kind == "b" else "str" if array.dtype.kind in "US" else "non-numeric"
        raise TypeError(f"{name} must hold numbers (int or float) for regression, got {found} values.")
    if array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[1] < 1):
        raise ValueError(f"{name} must be (n,) or (n, k) with k >= 1, got shape {array.shape}.")
    if len(array) == 0:
        raise ValueError(f"{name} is empty.")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return array.reshape(len(array), -1), array.ndim == 1


class StaticModelForRegression(FinetunableStaticModel):
    """A static model with an MLP head, trained end to end to predict one or several numbers per text.

    Construct with `from_pretrained(path=..., ...)` or `from_static_model(model=..., ...)`; configuration
    is keyword-only (see `FinetunableStaticModel`). `fit` sets the number of outputs from the targets and
    builds a fresh head. Targets are standardised per column for training (so the loss and the learning
    rate do not depend on the targets' units); predictions are in the original units. `to_pipeline`
    exports a torch-free `StaticModelPipeline` with a scikit-learn `MLPRegressor` head.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("out_dim", 1)
        super().__init__(**kwargs)
        self.target_mean_ = np.zeros(self.out_dim)
        self.target_scale_ = np.ones(self.out_dim)
        self.one_column = True
        self.history: dict[str, Any] = {}

    def fit(
        self,
        X: Sequence[str],  # noqa: N803
        y: Any,
        learning_rate: float = 1e-3,
        batch_size: int | None = None,
        min_epochs: int | None = None,
        max_epochs: int | None = -1,
        early_stopping_patience: int | None = 5,
        test_size: float | int = 0.1,
        X_val: Sequence[str] | None = None,  # noqa: N803
        y_val: Any = None,
        device: str = "auto",
        random_seed: int = DEFAULT_RANDOM_SEED,
        *,
        show_progress_bar: bool = True,
    ) -> StaticModelForRegression:
        """Train the table, the token weights (unless frozen) and a fresh head with a mean squared error.

        Every input is validated before training. Without `X_val`, a random `test_size` part of the data
        is held out; after each epoch the validation MSE (on standardised targets) is measured, training
        stops after `early_stopping_patience` epochs without improvement (not before `min_epochs`) and
        the best epoch's parameters are restored. The same seed gives the same model.

        :param X: Training texts.
        :param y: One number per text, or `(len(X), k)` numbers (k targets, all predicted together).
        :param learning_rate: Adam learning rate.
        :param batch_size: Texts per step; None picks about 30 steps per epoch (32 to 512).
        :param min_epochs: Train at least this many epochs before early stopping may end training.
        :param max_epochs: Stop after this many epochs; None or -1 for no limit.
        :param early_stopping_patience: Epochs without improvement before stopping; None trains for
            `max_epochs` (which must then be set).
        :param test_size: Held-out fraction (0, 1) or count, when `X_val` is not given.
        :param X_val: Validation texts (give `y_val` too).
        :param y_val: Validation targets, of the same width as `y`.
        :param device: "auto" (CUDA when available), "cpu", "cuda", ...
        :param random_seed: Seed of the split, the initialisation and the batch order.
        :param show_progress_bar: Show a progress bar over epochs.
        :return: The fitted model (self).
        :raises TypeError: If texts are not str or targets are not numbers.
        :raises ValueError: For mismatched lengths, empty input, NaN/inf targets, validation targets of
            another width, `X_val` without `y_val`, or a setting out of range.
        """
        texts = check_texts(X)
        targets, one_column = float_targets(y)
        check_aligned(texts, list(targets))
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
        if X_val is not None:
            val_texts = check_texts(X_val, "X_val")
            val_targets, _ = float_targets(y_val, "y_val")
            check_aligned(val_texts, list(val_targets), "X_val", "y_val")
            if val_targets.shape[1] != targets.shape[1]:
                raise ValueError(f"y_val has {val_targets.shape[1]} columns but y has {targets.shape[1]}.")
            train_texts, train_targets = texts, targets
        else:
            train_index, val_index = split_indices(len(texts), test_size, random_seed, None)
            train_texts = [texts[i] for i in train_index]
            val_texts = [texts[i] for i in val_index]
            train_targets, val_targets = targets[train_index], targets[val_index]

        # Standardised on the training part only, so validation says how well unseen values are predicted.
        self.target_mean_ = train_targets.mean(axis=0)
        scale = train_targets.std(axis=0)
        self.target_scale_ = np.where(scale > 0, scale, 1.0)
        self.one_column = one_column
        self.out_dim = int(targets.shape[1])
        torch.manual_seed(random_seed)
        self.head = self.construct_head()
        mse = nn.MSELoss()
        self.history = self._train_loop(
            train_ids=self._token_ids(train_texts),
            train_targets=self._standardise(train_targets),
            val_ids=self._token_ids(val_texts),
            val_targets=self._standardise(val_targets),
            loss_fn=mse,
            score_fn=lambda predicted, target: -float(mse(predicted, target)),
            learning_rate=learning_rate,
            batch_size=batch_size or default_batch_size(len(train_texts)),
            min_epochs=min_epochs or 0,
            max_epochs=max_epochs,
            early_stopping_patience=early_stopping_patience,
            device=resolve_device(device),
            random_seed=random_seed,
            show_progress_bar=show_progress_bar,
        )
        return self

    def _standardise(self, targets: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((targets - self.target_mean_) / self.target_scale_).astype(np.float32))

    def predict(self, X: Sequence[str], batch_size: int = 1024) -> np.ndarray:  # noqa: N803
        """Predict the target value(s) of each text, in the targets' original units.

        :param X: Texts.
        :param batch_size: Texts per batch.
        :return: float32 `(n,)` when fitted on one column of numbers, else `(n, k)`.
        :raises TypeError: If an item is not a str.
        """
        outputs = self._outputs(list(X), batch_size, "head").numpy().astype(np.float64)
        values = (outputs * self.target_scale_ + self.target_mean_).astype(np.float32)
        return values[:, 0] if self.one_column else values

    def evaluate(self, X: Sequence[str], y: Any, batch_size: int = 1024) -> dict[str, float]:  # noqa: N803
        """Score the predictions for X against true values y.

        :param X: Texts.
        :param y: True values, of the shape the model was fitted on.
        :param batch_size: Texts per batch.
        :return: `mse`, `rmse`, `mae`, `r2`, `pearson` and `spearman` (mean over columns); see
            `model2vec.inference.evaluation.evaluate_regression`.
        :raises ValueError: If X and y have different lengths or widths, or y is not finite.
        :raises TypeError: If y does not hold numbers.
        """
        targets, _ = float_targets(y)
        check_aligned(list(X), list(targets))
        if targets.shape[1] != self.out_dim:
            raise ValueError(f"y has {targets.shape[1]} columns but the model predicts {self.out_dim}.")
        return evaluate_regression(self.predict(X, batch_size).reshape(len(targets), -1), targets)

    def to_pipeline(self) -> StaticModelPipeline:
        """Export the model as a torch-free `StaticModelPipeline` with a scikit-learn `MLPRegressor` head.

        The target standardisation is folded into the head's last layer, so the pipeline's `predict`
        returns the same floats as this model's `predict` (`(n,)` for one target, `(n, k)` for several).

        :return: The pipeline.
        """
        return StaticModelPipeline(
            self.to_static_model(), head_to_regressor(self.head, self.target_mean_, self.target_scale_)
        )


def head_to_regressor(head: nn.Sequential, mean: np.ndarray, scale: np.ndarray) -> Any:
    """Copy a (Linear, ReLU)* Linear torch head into a fitted scikit-learn `MLPRegressor`.

    The last layer is rescaled so the regressor outputs `head(x) * scale + mean`.

    :param head: The torch head.
    :param mean: Per-output offset (the training targets' mean).
    :param scale: Per-output factor (the training targets' standard deviation).
    :return: The scikit-learn regressor; its `predict` gives `(n,)` for one output, `(n, k)` otherwise.
    """
    from sklearn.neural_network import MLPRegressor

    linears = [module for module in head if isinstance(module, nn.Linear)]
    coefs = [layer.weight.detach().cpu().numpy().T.astype(np.float64) for layer in linears]
    intercepts = [layer.bias.detach().cpu().numpy().astype(np.float64) for layer in linears]
    coefs[-1] = coefs[-1] * scale[None, :]
    intercepts[-1] = intercepts[-1] * scale + mean
    regressor = MLPRegressor(hidden_layer_sizes=tuple(int(c.shape[1]) for c in coefs[:-1]), activation="relu")
    regressor.coefs_ = [c.astype(np.float32) for c in coefs]
    regressor.intercepts_ = [b.astype(np.float32) for b in intercepts]
    regressor.n_layers_ = len(coefs) + 1
    regressor.n_outputs_ = int(coefs[-1].shape[1])
    regressor.out_activation_ = "identity"
    regressor.n_features_in_ = int(coefs[0].shape[0])
    return regressor
