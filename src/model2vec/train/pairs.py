"""`StaticModelForPairSimilarity`: train a static model so that the cosine of a text pair says how similar they are.

Pairs labelled 1/0 (duplicate or not, paraphrase or not) are trained with a contrastive cosine loss:
`1 - cos` for positives, `|cos|` for negatives. Graded scores (STS-style, any floats) are trained with
CoSENT: for every two pairs in a batch whose scores differ, the one scored higher should have the higher
cosine. There is no head; `to_static_model` exports the trained table as a normal `StaticModel`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from model2vec.train.base import (
    FinetunableStaticModel,
    PackedTokens,
    check_fit_settings,
    default_batch_size,
    resolve_device,
)
from model2vec.train.classifier import DEFAULT_RANDOM_SEED, split_indices
from model2vec.train.labels import _is_column

PairLoss = Literal["auto", "contrastive", "cosent"]
# CoSENT multiplies cosine differences by this before the exponent (the value its authors use).
DEFAULT_COSENT_SCALE = 20.0
# Tuned on validation parts of mrpc / qqp_subset train (benchmarks/train_heads.py tune pairs): 1e-2 reaches
# the best average precision of 1e-3 in a fifth of the epochs; 5e-2 overshoots.
DEFAULT_PAIR_LEARNING_RATE = 1e-2


def check_text_tuples(X: Any, sizes: tuple[int, ...], name: str = "X") -> list[tuple[str, ...]]:  # noqa: N803
    """Check that `X` is a non-empty column of text tuples, all of one of the allowed sizes.

    :param X: The candidate tuples (lists or tuples of str).
    :param sizes: Allowed tuple sizes, e.g. `(2,)` for pairs or `(2, 3)` for pairs or triples.
    :param name: The argument name used in errors.
    :return: The tuples.
    :raises TypeError: If `X` is not a sequence, an item is not a tuple/list, or an element is not a str.
    :raises ValueError: If `X` is empty, an item has a size outside `sizes`, or the sizes are mixed.
    """
    if not _is_column(X):
        raise TypeError(f"{name} must be a list of text tuples, got {type(X).__name__}.")
    if len(X) == 0:
        raise ValueError(f"{name} is empty.")
    allowed = " or ".join(str(size) for size in sizes)
    result: list[tuple[str, ...]] = []
    for index, item in enumerate(X):
        if isinstance(item, (str, bytes)) or not isinstance(item, (tuple, list)):
            raise TypeError(f"{name}[{index}] must be a tuple of {allowed} texts, got {type(item).__name__}.")
        if len(item) not in sizes:
            raise ValueError(f"{name}[{index}] has {len(item)} texts; each item needs {allowed}.")
        for text in item:
            if not isinstance(text, str):
                raise TypeError(f"{name}[{index}] holds a {type(text).__name__}; every element must be a str.")
        if result and len(item) != len(result[0]):
            raise ValueError(f"{name} mixes tuples of {len(result[0])} and {len(item)} texts; use one size.")
        result.append(tuple(item))
    return result


def check_same_length(
    items: Sequence[Any], labels: Sequence[Any] | np.ndarray, x_name: str = "X", y_name: str = "y"
) -> None:
    """Check that there is one label per item.

    :param items: Pairs or tuples of texts.
    :param labels: Their labels.
    :param x_name: Name of the items in errors.
    :param y_name: Name of the labels in errors.
    :raises ValueError: If the lengths differ.
    """
    if len(items) != len(labels):
        raise ValueError(
            f"{x_name} has {len(items)} items but {y_name} has {len(labels)}; they must have the same length."
        )


def pair_scores(y: Any, name: str = "y") -> np.ndarray:
    """Check pair labels (1/0 or graded scores) and return them as float64.

    :param y: One number per pair: 0/1 (int, float or bool) or any finite float score.
    :param name: The argument name used in errors.
    :return: The scores.
    :raises TypeError: If `y` is not a sequence or holds something other than numbers.
    :raises ValueError: If `y` is empty or holds NaN or infinite values.
    """
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    if not _is_column(y):
        raise TypeError(f"{name} must be a list of numbers (1/0 labels or scores), got {type(y).__name__}.")
    array = np.asarray(list(y) if not isinstance(y, np.ndarray) else y)
    if array.dtype.kind not in "biuf" or array.ndim != 1:
        raise TypeError(f"{name} must hold one number per pair (1/0 labels or float scores), got {array.dtype} values.")
    if len(array) == 0:
        raise ValueError(f"{name} is empty.")
    scores = array.astype(np.float64)
    if not np.isfinite(scores).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return scores


def resolve_pair_loss(scores: np.ndarray, loss: str) -> str:
    """Pick the loss for these scores: "contrastive" for 1/0 labels, "cosent" for graded scores.

    :param scores: Training scores.
    :param loss: "auto", "contrastive" or "cosent".
    :return: "contrastive" or "cosent".
    :raises ValueError: For an unknown loss, contrastive with labels other than 0/1, or CoSENT with a
        single distinct score (nothing to rank).
    """
    binary = bool(np.isin(scores, (0.0, 1.0)).all())
    if loss == "auto":
        loss = "contrastive" if binary else "cosent"
    if loss == "contrastive" and not binary:
        raise ValueError("The contrastive loss needs labels 1 (similar) and 0 (dissimilar); use loss='cosent'.")
    if loss not in ("contrastive", "cosent"):
        raise ValueError(f"loss must be 'auto', 'contrastive' or 'cosent', got {loss!r}.")
    if loss == "cosent" and len(np.unique(scores)) < 2:
        raise ValueError("CoSENT ranks pairs by score; y needs at least two distinct scores.")
    return loss


def contrastive_cosine_loss(cosines: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean of `1 - cos` over positive pairs (label 1) and `|cos|` over negative pairs (label 0).

    :param cosines: Cosine of each pair.
    :param labels: 1/0 per pair.
    :return: A scalar loss.
    """
    return torch.where(labels > 0.5, 1 - cosines, cosines.abs()).mean()


def cosent_loss(cosines: torch.Tensor, scores: torch.Tensor, scale: float = DEFAULT_COSENT_SCALE) -> torch.Tensor:
    """CoSENT: `log(1 + sum exp(scale * (cos_j - cos_i)))` over all pairs i, j with `score_i > score_j`.

    :param cosines: Cosine of each pair.
    :param scores: Graded score of each pair.
    :param scale: Multiplier of the cosine differences.
    :return: A scalar loss (log 1 = 0 for a batch without two different scores).
    """
    differences = scale * (cosines[None, :] - cosines[:, None])
    ordered = scores[:, None] > scores[None, :]
    terms = torch.cat([torch.zeros(1, device=cosines.device, dtype=cosines.dtype), differences[ordered]])
    return torch.logsumexp(terms, dim=0)


def pair_metrics(cosines: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Score cosines against pair labels or scores.

    :param cosines: Cosine of each pair.
    :param scores: True 1/0 labels or graded scores.
    :return: `spearman` and `pearson` correlations (NaN when either side is constant) and, for 1/0
        labels with both classes present, `average_precision` of ranking pairs by cosine.
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import average_precision_score

    metrics: dict[str, float] = {"spearman": math.nan, "pearson": math.nan}
    if len(scores) > 1 and np.std(cosines) > 0 and np.std(scores) > 0:
        metrics["spearman"] = float(spearmanr(cosines, scores).statistic)
        metrics["pearson"] = float(np.corrcoef(cosines, scores)[0, 1])
    if np.isin(scores, (0.0, 1.0)).all() and len(np.unique(scores)) == 2:
        metrics["average_precision"] = float(average_precision_score(scores, cosines))
    return metrics


def split_items(
    n: int,
    test_size: float | int,
    random_seed: int,
    validation: Any,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Training and validation indices of `n` items: all for training when a validation set is given.

    :param n: Number of training items.
    :param test_size: Held-out fraction or count.
    :param random_seed: Seed of the split.
    :param validation: The caller's validation set, or None to hold out `test_size` items.
    :return: `(train, validation)` indices; validation is None when the caller gave a validation set.
    """
    if validation is not None:
        return np.arange(n), None
    return split_indices(n, test_size, random_seed, None)


class StaticModelForPairSimilarity(FinetunableStaticModel):
    """A static model trained on text pairs so that similar pairs get a high cosine and others a low one.

    Construct with `from_pretrained(path=..., ...)` or `from_static_model(model=..., ...)` (keyword
    configuration as in `FinetunableStaticModel`; there is no head, so `out_dim`, `n_layers` and
    `hidden_dim` do nothing). Pooling is `embedding_bag` over the texts' real tokens, the same vectors
    as `StaticModel.encode`. `to_static_model` exports the trained table.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loss: str | None = None
        self.history: dict[str, Any] = {}

    def construct_head(self) -> nn.Sequential:
        """No head: the pooled vectors are the output (an empty, identity `Sequential`).

        :return: The empty head.
        """
        return nn.Sequential()

    def fit(
        self,
        X: Sequence[Sequence[str]],  # noqa: N803
        y: Sequence[float] | np.ndarray,
        loss: PairLoss = "auto",
        learning_rate: float = DEFAULT_PAIR_LEARNING_RATE,
        batch_size: int | None = None,
        min_epochs: int | None = None,
        max_epochs: int | None = -1,
        early_stopping_patience: int | None = 5,
        test_size: float | int = 0.1,
        X_val: Sequence[Sequence[str]] | None = None,  # noqa: N803
        y_val: Sequence[float] | np.ndarray | None = None,
        cosent_scale: float = DEFAULT_COSENT_SCALE,
        device: str = "auto",
        random_seed: int = DEFAULT_RANDOM_SEED,
        *,
        show_progress_bar: bool = True,
    ) -> StaticModelForPairSimilarity:
        """Train the table (and token weights, unless frozen) on labelled text pairs.

        Every input is validated before training. Without `X_val`, a random `test_size` part of the pairs
        is held out. After each epoch the validation pairs are scored (average precision of ranking them
        by cosine for 1/0 labels, Spearman correlation for graded scores); training stops after
        `early_stopping_patience` epochs without improvement (not before `min_epochs`) and the best
        epoch's parameters are restored. The same seed gives the same model.

        :param X: Pairs `(text_a, text_b)`.
        :param y: One label per pair: 1/0 (similar or not) or a graded similarity score.
        :param loss: "auto" (contrastive for 1/0 labels, CoSENT otherwise), "contrastive" (`1 - cos` for
            positives, `|cos|` for negatives) or "cosent".
        :param learning_rate: Adam learning rate (static tables take larger steps than heads; see
            docs/training.md for the measurements behind the default).
        :param batch_size: Pairs per step; None picks about 30 steps per epoch (32 to 512).
        :param min_epochs: Train at least this many epochs before early stopping may end training.
        :param max_epochs: Stop after this many epochs; None or -1 for no limit.
        :param early_stopping_patience: Epochs without improvement before stopping; None trains for
            `max_epochs` (which must then be set).
        :param test_size: Held-out fraction (0, 1) or count, when `X_val` is not given.
        :param X_val: Validation pairs (give `y_val` too).
        :param y_val: Validation labels or scores.
        :param cosent_scale: CoSENT's multiplier of cosine differences.
        :param device: "auto" (CUDA when available), "cpu", "cuda", ...
        :param random_seed: Seed of the split, the batch order and anything random in training.
        :param show_progress_bar: Show a progress bar over epochs.
        :return: The fitted model (self).
        :raises TypeError: If an item is not a pair of str, or labels are not numbers.
        :raises ValueError: For mismatched lengths, empty input, NaN labels, labels other than 1/0 with
            the contrastive loss, a single distinct score with CoSENT, `X_val` without `y_val`, or a
            setting out of range.
        """
        pairs = check_text_tuples(X, (2,))
        scores = pair_scores(y)
        check_same_length(pairs, scores)
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
        if not cosent_scale > 0:
            raise ValueError(f"cosent_scale must be positive, got {cosent_scale}.")
        train_index, val_index = split_items(len(pairs), test_size, random_seed, X_val)
        if X_val is not None and y_val is not None:
            val_pairs = check_text_tuples(X_val, (2,), "X_val")
            val_scores = pair_scores(y_val, "y_val")
            check_same_length(val_pairs, val_scores, "X_val", "y_val")
        else:
            assert val_index is not None
            val_pairs, val_scores = [pairs[i] for i in val_index], scores[val_index]
        train_pairs, train_scores = [pairs[i] for i in train_index], scores[train_index]
        self.loss = resolve_pair_loss(train_scores, loss)
        if self.loss == "contrastive" and not np.isin(val_scores, (0.0, 1.0)).all():
            raise ValueError("y_val must hold 1/0 labels like y.")

        def loss_fn(cosines: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            if self.loss == "contrastive":
                return contrastive_cosine_loss(cosines, target)
            return cosent_loss(cosines, target, cosent_scale)

        torch_device = resolve_device(device)
        batch = batch_size or default_batch_size(len(train_pairs))
        train_a, train_b = self._pack(train_pairs)
        val_a, val_b = self._pack(val_pairs)
        train_target = torch.from_numpy(train_scores.astype(np.float32)).to(torch_device)
        val_target = val_scores.astype(np.float32)
        key = "average_precision" if self.loss == "contrastive" else "spearman"

        def validate() -> tuple[float, float]:
            cosines = self._cosines(val_a, val_b)
            score = pair_metrics(cosines.cpu().numpy(), val_target).get(key, math.nan)
            target = torch.from_numpy(val_target).to(cosines.device)
            losses = [
                float(loss_fn(cosines[start : start + batch], target[start : start + batch]))
                * len(target[start : start + batch])
                for start in range(0, len(target), batch)
            ]
            val_loss = sum(losses) / len(target)
            # A validation set with one class (or one score) has no ranking score: the loss decides.
            return (-val_loss if math.isnan(score) else score), val_loss

        def step_loss(chunk: np.ndarray) -> torch.Tensor:
            cosines = self._pair_cosines(train_a, train_b, chunk)
            return loss_fn(cosines, train_target[torch.as_tensor(chunk, device=torch_device)])

        self.to(torch_device)
        self.history = self._optimize(
            n_train=len(train_pairs),
            step_loss=step_loss,
            validate=validate,
            learning_rate=learning_rate,
            batch_size=batch,
            min_epochs=min_epochs or 0,
            max_epochs=max_epochs,
            early_stopping_patience=early_stopping_patience,
            device=torch_device,
            random_seed=random_seed,
            show_progress_bar=show_progress_bar,
        )
        return self

    def _pack(self, pairs: Sequence[tuple[str, ...]]) -> tuple[PackedTokens, PackedTokens]:
        """Tokenise the first and second texts of the pairs."""
        return PackedTokens(self._token_ids([p[0] for p in pairs])), PackedTokens(
            self._token_ids([p[1] for p in pairs])
        )

    def _pair_cosines(self, a: PackedTokens, b: PackedTokens, rows: np.ndarray) -> torch.Tensor:
        first = nn.functional.normalize(self.embed_packed(a, rows), dim=1, eps=1e-12)
        second = nn.functional.normalize(self.embed_packed(b, rows), dim=1, eps=1e-12)
        return (first * second).sum(dim=1)

    def _cosines(self, a: PackedTokens, b: PackedTokens, batch_size: int = 4096) -> torch.Tensor:
        """Cosine of every pair, without gradients."""
        return _no_grad(
            self,
            lambda: torch.cat(
                [
                    self._pair_cosines(a, b, np.arange(start, min(start + batch_size, len(a))))
                    for start in range(0, len(a), batch_size)
                ]
            ),
        )

    def similarity(self, X: Sequence[Sequence[str]], batch_size: int = 4096) -> np.ndarray:  # noqa: N803
        """Cosine similarity of each pair, as the exported static model's vectors give it.

        :param X: Pairs `(text_a, text_b)`.
        :param batch_size: Pairs per batch.
        :return: `(n,)` float32 cosines (0 for a pair with a text that has no known token).
        :raises TypeError: If an item is not a pair of str.
        :raises ValueError: If X is empty.
        """
        a, b = self._pack(check_text_tuples(X, (2,)))
        result: np.ndarray = self._cosines(a, b, batch_size).cpu().numpy().astype(np.float32)
        return result

    def evaluate(self, X: Sequence[Sequence[str]], y: Sequence[float] | np.ndarray) -> dict[str, float]:  # noqa: N803
        """Score the pairs' cosines against their labels or scores.

        :param X: Pairs `(text_a, text_b)`.
        :param y: 1/0 labels or graded scores.
        :return: See `pair_metrics`: `spearman`, `pearson` and, for 1/0 labels, `average_precision`.
        :raises ValueError: For mismatched lengths, empty input or NaN labels.
        :raises TypeError: For items that are not pairs of str, or labels that are not numbers.
        """
        pairs = check_text_tuples(X, (2,))
        scores = pair_scores(y)
        check_same_length(pairs, scores)
        return pair_metrics(self.similarity(pairs), scores)


def _no_grad(model: nn.Module, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """Run `compute` in eval mode without gradients, restoring the model's mode after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return compute()
    finally:
        model.train(was_training)
