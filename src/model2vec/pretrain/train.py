"""Fit a static model's table to a teacher's sentence embeddings (the tokenlearn training step).

The trainable encoder is the static model itself plus one positive weight per token: a text's vector is
`sum_t w_t E_t / sum_t w_t` over its tokens `t`. Training minimises a loss between that vector and the
teacher's vector for the same text, on a held-out split with early stopping; the best epoch's
parameters are kept. Afterwards the weights are folded into the rows (`w_t E_t`), which gives a normal
static model: for normalised output, a weighted mean and the plain mean of weighted rows point the same
way.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model2vec.distill._deps import require
from model2vec.model import StaticModel
from model2vec.progress import progress_bar


class Loss(str, enum.Enum):
    """Training objectives.

    COSINE: `1 - cos(student, teacher)` (scale-free; the default).
    MSE: squared error between the student's weighted mean and the teacher's vector.
    CONTRASTIVE: in-batch InfoNCE: each student vector must pick its own teacher vector among the
    batch's (`TrainConfig.temperature`), which also pushes unrelated texts apart.
    """

    COSINE = "cosine"
    MSE = "mse"
    CONTRASTIVE = "contrastive"


@dataclass(frozen=True)
class TrainConfig:
    """Settings of `fit_to_targets`.

    :param loss: The objective (see `Loss`).
    :param learning_rate: Adam step size.
    :param batch_size: Texts per step.
    :param max_epochs: Upper bound on passes over the training split.
    :param patience: Stop after this many validations without improvement.
    :param validation_fraction: Share of texts held out for early stopping (0 < f < 1).
    :param validations_per_epoch: How often the held-out loss is measured within an epoch.
    :param seed: Seeds the split, the shuffling and torch.
    :param device: Torch device (None: CUDA when available, else CPU).
    :param train_weights: Also learn the per-token weights (else they stay 1).
    :param temperature: Softmax temperature of the contrastive loss (> 0; unused by the others).
    """

    loss: Loss | str = Loss.COSINE
    learning_rate: float = 5e-3
    batch_size: int = 256
    max_epochs: int = 10
    patience: int = 2
    validation_fraction: float = 0.05
    validations_per_epoch: int = 2
    seed: int = 42
    device: str | None = None
    train_weights: bool = True
    temperature: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(self, "loss", Loss(self.loss))
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}.")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}.")
        for name in ("batch_size", "max_epochs", "patience", "validations_per_epoch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}.")


@dataclass
class TrainResult:
    """What training produced.

    :param model: The trained static model (float32, weights folded into the rows, same tokenizer).
    :param token_weights: The learned per-token weights (already folded into `model`).
    :param history: One entry per validation: epoch, step, training and held-out loss.
    :param best_validation_loss: The held-out loss of the kept parameters.
    :param token_counts: How often each token occurs in the training texts (for SIF re-weighting).
    :param table: The trained rows without the weights (what `reregularize` starts from by default,
        since SIF weights from corpus counts replace the learned ones).
    """

    model: StaticModel
    token_weights: np.ndarray
    table: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)
    best_validation_loss: float = math.inf
    token_counts: np.ndarray | None = None

    def unweighted_model(self) -> StaticModel:
        """Return the trained model with the learned per-token weights left out (rows = `table`)."""
        return StaticModel(
            vectors=self.table,
            tokenizer=self.model.tokenizer,
            config=self.model.config,
            normalize=self.model.normalize,
            base_model_name=self.model.base_model_name,
            language=self.model.language,
        )


@dataclass
class TokenizedTexts:
    """Token ids of many texts, stored flat (`ids[offsets[i]:offsets[i + 1]]` is text `i`)."""

    ids: np.ndarray
    offsets: np.ndarray

    def select(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat ids and bag offsets of the given texts, in the given order."""
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        lengths = ends - starts
        bag_offsets = np.zeros(len(rows), dtype=np.int64)
        np.cumsum(lengths[:-1], out=bag_offsets[1:])
        # Gather every selected position at once (no per-text Python loop).
        positions = np.repeat(starts - bag_offsets, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)
        return self.ids[positions], bag_offsets


def tokenize_texts(model: StaticModel, texts: Sequence[str], chunk: int = 8192) -> TokenizedTexts:
    """Tokenise texts with the model's tokenizer into flat arrays (unknown tokens dropped, as in `encode`).

    :param model: The static model.
    :param texts: The texts.
    :param chunk: Texts tokenised per call (bounds the memory of Python lists).
    :return: The flat ids and offsets.
    """
    parts: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    for start in range(0, len(texts), chunk):
        batch = model.tokenize(list(texts[start : start + chunk]))
        lengths.append(np.array([len(ids) for ids in batch], dtype=np.int64))
        parts.append(np.fromiter((i for ids in batch for i in ids), dtype=np.int64))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    if lengths:
        np.cumsum(np.concatenate(lengths), out=offsets[1:])
    ids = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return TokenizedTexts(ids=ids, offsets=offsets)


def _loss(torch: Any, kind: Loss, predicted: Any, target: Any, temperature: float = 0.05) -> Any:
    functional = torch.nn.functional
    if kind is Loss.COSINE:
        return (1.0 - functional.cosine_similarity(predicted, target, dim=1)).mean()
    if kind is Loss.MSE:
        return functional.mse_loss(predicted, target)
    logits = functional.normalize(predicted, dim=1) @ functional.normalize(target, dim=1).T / temperature
    return functional.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


class _Encoder:
    """The trainable weighted-mean encoder (a table and one log-weight per token)."""

    def __init__(self, torch: Any, table: np.ndarray, device: str, train_weights: bool) -> None:
        self.torch = torch
        self.table = torch.nn.Parameter(torch.from_numpy(np.array(table, dtype=np.float32)).to(device))
        self.log_weight = torch.nn.Parameter(torch.zeros(len(table), device=device), requires_grad=train_weights)
        self.device = device

    def optimizers(self, learning_rate: float) -> list[Any]:
        """Lazy Adam for the sparse table gradients, plain Adam for the (small, dense) weights."""
        optimizers = [self.torch.optim.SparseAdam([self.table], lr=learning_rate)]
        if self.log_weight.requires_grad:
            optimizers.append(self.torch.optim.Adam([self.log_weight], lr=learning_rate))
        return optimizers

    def __call__(self, ids: np.ndarray, offsets: np.ndarray) -> Any:
        """Weighted mean of each text's rows."""
        functional = self.torch.nn.functional
        ids_t = self.torch.from_numpy(ids).to(self.device)
        offsets_t = self.torch.from_numpy(offsets).to(self.device)
        weight = self.log_weight.exp()
        # Sparse gradients: a step touches only the rows of its batch's tokens, not the whole table.
        summed = functional.embedding_bag(
            ids_t, self.table, offsets_t, mode="sum", per_sample_weights=weight[ids_t], sparse=True
        )
        # The same bag sum over a one-column table of weights gives each text's total weight.
        totals = functional.embedding_bag(ids_t, weight[:, None], offsets_t, mode="sum")
        return summed / totals.clamp_min(1e-12)


def fit_to_targets(
    model: StaticModel,
    texts: Sequence[str],
    targets: np.ndarray,
    config: TrainConfig | None = None,
    show_progress_bar: bool = True,
) -> TrainResult:
    """Train `model`'s table (and per-token weights) so each text's vector matches its target.

    Texts without a known token are dropped. The split, shuffling and initialisation are seeded, so
    the same inputs and config give the same model on the same device.

    :param model: The starting model (usually a distillation of the teacher without PCA); its width
        must equal the targets' width. It is not modified.
    :param texts: The training texts.
    :param targets: `(len(texts), width)` teacher vectors.
    :param config: Training settings (defaults: `TrainConfig()`).
    :param show_progress_bar: Show a tqdm bar over steps.
    :return: The trained model and the training record.
    :raises ValueError: If shapes mismatch, there are too few usable texts for a split, or the model
        uses a token mapping (vocabulary quantisation: rows are shared by several tokens).
    :raises ImportError: If torch is missing (names the extra to install).
    """
    config = config or TrainConfig()
    targets = np.asarray(targets, dtype=np.float32)
    if targets.ndim != 2 or len(targets) != len(texts):
        raise ValueError(f"targets must be ({len(texts)}, width), got {targets.shape}.")
    if model.token_mapping is not None:
        raise ValueError("Cannot train a vocabulary-quantised model (rows are shared); distill without it.")
    table = np.asarray(model.embedding, dtype=np.float32)
    if model.weights is not None:
        table = table * np.asarray(model.weights, dtype=np.float32)[:, None]
    if table.shape[1] != targets.shape[1]:
        raise ValueError(
            f"The model is {table.shape[1]}-d but the targets are {targets.shape[1]}-d; distill the starting "
            "model with pca_dims=None so it lives in the teacher's space."
        )
    torch = require("torch")
    tokens = tokenize_texts(model, texts)
    usable = np.flatnonzero(np.diff(tokens.offsets) > 0)
    n_validation = max(1, round(len(usable) * config.validation_fraction))
    if len(usable) - n_validation < 1:
        raise ValueError(f"Need at least 2 texts with known tokens to train, got {len(usable)}.")
    rng = np.random.default_rng(config.seed)
    shuffled = rng.permutation(usable)
    validation, training = np.sort(shuffled[:n_validation]), shuffled[n_validation:]

    torch.manual_seed(config.seed)
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    encoder = _Encoder(torch, table, device, config.train_weights)
    optimizers = encoder.optimizers(config.learning_rate)
    target_t = torch.from_numpy(targets)
    loss_kind = Loss(config.loss)

    def validation_loss() -> float:
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(validation), config.batch_size):
                rows = validation[start : start + config.batch_size]
                ids, offsets = tokens.select(rows)
                loss = _loss(torch, loss_kind, encoder(ids, offsets), target_t[rows].to(device), config.temperature)
                total += float(loss) * len(rows)
                count += len(rows)
        return total / max(count, 1)

    steps_per_epoch = math.ceil(len(training) / config.batch_size)
    check_every = max(1, steps_per_epoch // config.validations_per_epoch)
    best = validation_loss()
    history: list[dict[str, float]] = [{"epoch": 0.0, "step": 0.0, "train_loss": math.nan, "validation_loss": best}]
    best_state = (encoder.table.detach().clone(), encoder.log_weight.detach().clone())
    stale = 0
    step = 0
    running, running_n = 0.0, 0

    with progress_bar(total=steps_per_epoch * config.max_epochs, disable=not show_progress_bar, desc="Training") as bar:
        for epoch in range(config.max_epochs):
            order = rng.permutation(training)
            stop = False
            for start in range(0, len(order), config.batch_size):
                rows = order[start : start + config.batch_size]
                ids, offsets = tokens.select(rows)
                loss = _loss(torch, loss_kind, encoder(ids, offsets), target_t[rows].to(device), config.temperature)
                for optimizer in optimizers:
                    optimizer.zero_grad(set_to_none=True)
                loss.backward()
                for optimizer in optimizers:
                    optimizer.step()
                step += 1
                running += float(loss.detach())
                running_n += 1
                bar.update(1)
                if step % check_every == 0 or start + config.batch_size >= len(order):
                    current = validation_loss()
                    history.append(
                        {
                            "epoch": epoch + (start + len(rows)) / len(order),
                            "step": float(step),
                            "train_loss": running / max(running_n, 1),
                            "validation_loss": current,
                        }
                    )
                    running, running_n = 0.0, 0
                    bar.set_postfix(validation=f"{current:.4f}")
                    if current < best - 1e-6:
                        best, stale = current, 0
                        best_state = (encoder.table.detach().clone(), encoder.log_weight.detach().clone())
                    else:
                        stale += 1
                        if stale >= config.patience:
                            stop = True
                            break
            if stop:
                break

    table_out = best_state[0].cpu().numpy()
    weights_out = best_state[1].exp().cpu().numpy().astype(np.float32)
    counts = np.bincount(tokens.ids, minlength=len(table_out)).astype(np.float64)
    trained = StaticModel(
        vectors=(table_out * weights_out[:, None]).astype(np.float32),
        tokenizer=model.tokenizer,
        config={**model.config, "pretrain": {"loss": loss_kind.value, "best_validation_loss": best}},
        normalize=model.normalize,
        base_model_name=model.base_model_name,
        language=model.language,
    )
    return TrainResult(
        model=trained,
        token_weights=weights_out,
        table=table_out,
        history=history,
        best_validation_loss=best,
        token_counts=counts,
    )
