"""`StaticModelForSimilarity`: fit a static model (and a head) so texts land on given target vectors.

Typical use: make a static model imitate a teacher's sentence embeddings (targets = the teacher's
vectors for the same texts), trained with a cosine loss; `to_static_model` exports the trained table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from model2vec.train.base import FinetunableStaticModel, check_fit_settings, default_batch_size, resolve_device
from model2vec.train.classifier import DEFAULT_RANDOM_SEED, split_indices
from model2vec.train.labels import check_aligned, check_texts


def _target_matrix(vectors: Any, name: str) -> torch.Tensor:
    """Check target vectors (2-D, finite, no empty rows) and return them as float32."""
    array = vectors.detach().cpu().numpy() if isinstance(vectors, torch.Tensor) else np.asarray(vectors, dtype=float)
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array of vectors (n, dim), got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def cosine_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cosine similarity between rows.

    :param predicted: `(n, d)` outputs.
    :param target: `(n, d)` targets.
    :return: A scalar loss in [0, 2].
    """
    return (1 - torch.nn.functional.cosine_similarity(predicted, target, dim=1)).mean()


class StaticModelForSimilarity(FinetunableStaticModel):
    """A static model whose pooled vectors, passed through a head, are trained to match target vectors.

    Configuration is keyword-only, as for `FinetunableStaticModel`; the default head is a single linear
    layer (`n_layers=0`). `fit` resets `out_dim` to the targets' width.
    """

    def __init__(self, *, n_layers: int = 0, **kwargs: Any) -> None:
        super().__init__(n_layers=n_layers, **kwargs)
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
    ) -> StaticModelForSimilarity:
        """Train so that `head(pool(text))` points in the direction of each text's target vector.

        Validation, early stopping (on the validation cosine loss) and seeding work as in
        `StaticModelForClassification.fit`.

        :param X: Training texts.
        :param y: Target vectors, `(len(X), dim)` (numpy array, tensor or nested lists).
        :param learning_rate: Adam learning rate.
        :param batch_size: Texts per step; None picks about 30 steps per epoch.
        :param min_epochs: Minimum epochs before early stopping may end training.
        :param max_epochs: Maximum epochs; None or -1 for no limit.
        :param early_stopping_patience: Epochs without improvement before stopping; None disables it.
        :param test_size: Held-out fraction or count, when `X_val` is not given.
        :param X_val: Validation texts (with `y_val`).
        :param y_val: Validation target vectors.
        :param device: "auto", "cpu", "cuda", ...
        :param random_seed: Seed of the split, initialisation and batch order.
        :param show_progress_bar: Show a progress bar over epochs.
        :return: The fitted model (self).
        :raises ValueError: For mismatched lengths, empty input, non-2-D or non-finite targets, targets of
            different widths, `X_val` without `y_val`, or a setting out of range.
        """
        texts = check_texts(X)
        targets = _target_matrix(y, "y")
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
            val_targets = _target_matrix(y_val, "y_val")
            check_aligned(val_texts, list(val_targets), "X_val", "y_val")
            if val_targets.shape[1] != targets.shape[1]:
                raise ValueError(f"y_val has width {val_targets.shape[1]} but y has width {targets.shape[1]}.")
            train_texts, train_targets = texts, targets
        else:
            train_index, val_index = split_indices(len(texts), test_size, random_seed, None)
            train_texts = [texts[i] for i in train_index]
            val_texts = [texts[i] for i in val_index]
            train_targets = targets[torch.from_numpy(train_index)]
            val_targets = targets[torch.from_numpy(val_index)]

        self.out_dim = int(targets.shape[1])
        torch.manual_seed(random_seed)
        self.head = self.construct_head()
        self.history = self._train_loop(
            train_ids=self._token_ids(train_texts),
            train_targets=train_targets,
            val_ids=self._token_ids(val_texts),
            val_targets=val_targets,
            loss_fn=cosine_loss,
            score_fn=lambda predicted, target: -float(cosine_loss(predicted, target)),
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

    def predict(self, X: Sequence[str], batch_size: int = 1024) -> np.ndarray:  # noqa: N803
        """Return the head's output vectors (in the targets' space) for texts.

        :param X: Texts.
        :param batch_size: Texts per batch.
        :return: `(n, out_dim)` float32.
        :raises TypeError: If an item is not a str.
        """
        result: np.ndarray = self._outputs(list(X), batch_size, "head").numpy()
        return result

    def evaluate(self, X: Sequence[str], y: Any, batch_size: int = 1024) -> dict[str, float]:  # noqa: N803
        """Score predictions against target vectors.

        :param X: Texts.
        :param y: Target vectors, `(len(X), out_dim)`.
        :param batch_size: Texts per batch.
        :return: `{"cosine_similarity": mean cosine, "cosine_loss": 1 - mean cosine}`.
        :raises ValueError: If the lengths or widths do not match, or targets are not finite.
        """
        targets = _target_matrix(y, "y")
        check_aligned(list(X), list(targets))
        if targets.shape[1] != self.out_dim:
            raise ValueError(f"y has width {targets.shape[1]} but the head outputs {self.out_dim} values.")
        loss = float(cosine_loss(torch.from_numpy(self.predict(X, batch_size)), targets))
        return {"cosine_similarity": 1 - loss, "cosine_loss": loss}
