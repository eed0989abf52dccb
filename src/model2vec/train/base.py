"""A trainable static model: the token table (and token weights) as torch parameters, plus a small head.

Texts are tokenised with `StaticModel.tokenize`, so unknown tokens are dropped and `max_length` applies
exactly as in `StaticModel.encode`. Batches are padded with the tokenizer's own pad id (a dedicated extra
row when the tokenizer has none) and pooling masks the padding, so a text's vector equals what the
exported static model's `encode` gives.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from model2vec.model import DEFAULT_MAX_LENGTH, StaticModel, pretrained_path
from model2vec.pooling import token_rows
from model2vec.progress import progress_bar
from model2vec.tokenization import tokenizer_json

T = TypeVar("T", bound="FinetunableStaticModel")

# Tokens that tokenizers commonly use for padding, tried when the tokenizer has no padding settings.
PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>", "<|padding|>", "[pad]", "<PAD>")
# `encode` divides by (norm + 1e-32). Dividing by max(norm, 1e-12) gives the same float32 result for any
# real text vector and keeps zero vectors zero, but its gradient stays finite at a zero vector (an empty
# or all-unknown text), where 1 / 1e-32 times a gradient can overflow to inf and then NaN.
NORM_EPS = 1e-12


def find_pad_token_id(tokenizer: Tokenizer, settings: dict[str, Any] | None = None) -> int | None:
    """Find the tokenizer's pad id: its padding settings first, then a conventional pad token.

    :param tokenizer: The tokenizer.
    :param settings: The original `padding`/`truncation` settings (a prepared tokenizer has padding off).
    :return: The pad id, or None when the tokenizer has no pad token.
    """
    padding = (settings or {}).get("padding") or tokenizer.padding
    if isinstance(padding, dict):
        pad_id = padding.get("pad_id")
        pad_token = padding.get("pad_token")
        if isinstance(pad_token, str) and tokenizer.token_to_id(pad_token) is not None:
            return int(tokenizer.token_to_id(pad_token) or 0)
        if isinstance(pad_id, int) and 0 <= pad_id < tokenizer.get_vocab_size():
            return pad_id
    for token in PAD_TOKENS:
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return int(token_id)
    return None


def pad_batch(token_ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token id lists into a rectangle.

    :param token_ids: One list of ids per text (may be empty).
    :param pad_id: The id written after each text's tokens.
    :return: `(ids, lengths)`: a `(n, longest)` long tensor (at least one column) and the true lengths.
    """
    lengths = torch.tensor([len(ids) for ids in token_ids], dtype=torch.long)
    longest = max(1, int(lengths.max()) if len(token_ids) else 1)
    ids = torch.full((len(token_ids), longest), pad_id, dtype=torch.long)
    for row, tokens in enumerate(token_ids):
        if tokens:
            ids[row, : len(tokens)] = torch.as_tensor(tokens, dtype=torch.long)
    return ids, lengths


class PackedTokens:
    """Token ids of many texts in one flat array, so a batch is gathered without padding.

    Pair and retrieval training pool with `embedding_bag` over these flat ids: memory grows with the
    batch's real tokens, not with batch size times the longest text.

    :param token_ids: One list of ids per text (may be empty).
    """

    def __init__(self, token_ids: Sequence[Sequence[int]]) -> None:
        lengths = np.fromiter((len(ids) for ids in token_ids), dtype=np.int64, count=len(token_ids))
        self.bounds = np.zeros(len(token_ids) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.bounds[1:])
        self.ids = np.fromiter(itertools.chain.from_iterable(token_ids), dtype=np.int64, count=int(self.bounds[-1]))

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def batch(self, rows: Sequence[int] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Gather some texts' ids.

        :param rows: Text indices.
        :return: `(flat ids, lengths)`: the texts' ids concatenated, and each text's number of ids.
        """
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.bounds[rows], self.bounds[rows + 1]
        pieces = [self.ids[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        flat = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        return torch.from_numpy(flat), torch.from_numpy(ends - starts)


class TextDataset(torch.utils.data.Dataset[tuple[list[int], torch.Tensor]]):
    """Tokenised texts with their targets, for a torch `DataLoader`.

    :param tokenized_texts: One list of token ids per text.
    :param targets: One target row per text (class indices, multi-hot rows or vectors).
    :param pad_id: The id used to pad batches (the tokenizer's pad id).
    :raises ValueError: If the numbers of texts and targets differ.
    """

    def __init__(self, tokenized_texts: Sequence[Sequence[int]], targets: torch.Tensor, pad_id: int = 0) -> None:
        if len(tokenized_texts) != len(targets):
            raise ValueError(f"Got {len(tokenized_texts)} texts but {len(targets)} targets; they must match.")
        self.tokenized_texts = [list(ids) for ids in tokenized_texts]
        self.targets = targets
        self.pad_id = pad_id

    def __len__(self) -> int:
        return len(self.tokenized_texts)

    def __getitem__(self, index: int) -> tuple[list[int], torch.Tensor]:
        return self.tokenized_texts[index], self.targets[index]

    def collate_fn(self, batch: list[tuple[list[int], torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad a list of items into `(ids, targets)`.

        :param batch: Items from `__getitem__`.
        :return: Padded ids `(n, longest)` and stacked targets.
        """
        ids, _ = pad_batch([item[0] for item in batch], self.pad_id)
        return ids, torch.stack([item[1] for item in batch])

    def to_dataloader(self, shuffle: bool, batch_size: int = 32) -> torch.utils.data.DataLoader[Any]:
        """Wrap the dataset in a `DataLoader` that pads with the dataset's pad id.

        :param shuffle: Shuffle every epoch.
        :param batch_size: Texts per batch.
        :return: The loader; it yields `(ids, targets)`.
        """
        return torch.utils.data.DataLoader(self, batch_size=batch_size, shuffle=shuffle, collate_fn=self.collate_fn)


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn "auto" into "cuda" when available (else "cpu"); pass other names through.

    :param device: "auto", "cpu", "cuda", "cuda:1", ... or a torch device.
    :return: The device.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def default_batch_size(n_train: int) -> int:
    """Pick a batch size that gives roughly 30 steps per epoch, between 32 and 512.

    :param n_train: Number of training texts.
    :return: The batch size.
    """
    return int(min(512, max(32, n_train // 30)))


class FinetunableStaticModel(nn.Module):
    """A static model whose token table (and token weights) can be trained, followed by an MLP head.

    :param vectors: The `(vocab, dim)` float table, one row per tokenizer token.
    :param tokenizer: The tokenizer (its padding settings, if any, give the pad id).
    :param out_dim: Output size of the head.
    :param n_layers: Hidden layers in the head (0: a single linear layer).
    :param hidden_dim: Width of the hidden layers.
    :param weights: Optional per-token weights, one per token (multiplied into each token's vector).
    :param freeze: Keep the token table fixed.
    :param freeze_weights: None trains the token weights if there are any; False adds weights (starting
        at 1) when there are none and trains them; True keeps them fixed.
    :param normalize: L2-normalise the pooled vector before the head (and in the exported model).
    :param max_length: Tokens used per text, as in `StaticModel.encode`; None for no limit.
    :param pad_id: The pad id; None finds it from the tokenizer, or uses a dedicated extra row.
    :param metadata: `config`, `base_model_name` and `language` to carry over to `to_static_model`.
    :raises ValueError: If the table does not have one row per token, or a size is not positive.
    """

    def __init__(
        self,
        *,
        vectors: np.ndarray | torch.Tensor,
        tokenizer: Tokenizer,
        out_dim: int = 2,
        n_layers: int = 1,
        hidden_dim: int = 512,
        weights: np.ndarray | torch.Tensor | None = None,
        freeze: bool = False,
        freeze_weights: bool | None = None,
        normalize: bool = True,
        max_length: int | None = DEFAULT_MAX_LENGTH,
        pad_id: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        table = vectors.detach().cpu().numpy() if isinstance(vectors, torch.Tensor) else np.asarray(vectors)
        table = np.ascontiguousarray(table, dtype=np.float32)
        if table.ndim != 2 or len(table) != tokenizer.get_vocab_size():
            raise ValueError(
                f"vectors must have one row per token ({tokenizer.get_vocab_size()}), got shape {table.shape}."
            )
        for name, value in (("out_dim", out_dim), ("hidden_dim", hidden_dim)):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}.")
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {n_layers}.")
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length must be positive or None, got {max_length}.")
        token_weights = None
        if weights is not None:
            token_weights = weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else weights
            token_weights = np.asarray(token_weights, dtype=np.float32)
        # Tokenising goes through a StaticModel so unknown tokens and max_length behave as in `encode`.
        self._tokenizing_model = StaticModel(table, tokenizer)
        self.tokenizer = tokenizer
        self.vocab_size = len(table)
        found = find_pad_token_id(tokenizer) if pad_id is None else pad_id
        # Without a pad token the padding gets its own row, which no real token can share.
        self.pad_id = self.vocab_size if found is None else int(found)
        rows = max(self.vocab_size, self.pad_id + 1)
        padded = np.zeros((rows, table.shape[1]), dtype=np.float32)
        padded[: self.vocab_size] = table
        self.embeddings = nn.Embedding(rows, table.shape[1])
        self.embeddings.weight.data = torch.from_numpy(padded)
        self.embeddings.weight.requires_grad = not freeze
        if token_weights is None and freeze_weights is False:
            token_weights = np.ones(self.vocab_size, dtype=np.float32)
        self.token_weights: nn.Parameter | None = None
        if token_weights is not None:
            padded_weights = np.zeros(rows, dtype=np.float32)
            padded_weights[: self.vocab_size] = token_weights
            self.token_weights = nn.Parameter(torch.from_numpy(padded_weights), requires_grad=not freeze_weights)
        self.out_dim = out_dim
        self.n_layers = n_layers
        self.hidden_dim = hidden_dim
        self.normalize = normalize
        self.max_length = max_length
        self.metadata = dict(metadata or {})
        self.head = self.construct_head()

    @property
    def embed_dim(self) -> int:
        """Width of the token vectors."""
        return int(self.embeddings.embedding_dim)

    @property
    def device(self) -> torch.device:
        """The device the parameters live on."""
        return self.embeddings.weight.device

    def construct_head(self) -> nn.Sequential:
        """Build a fresh head: `n_layers` (Linear, ReLU) blocks, then a Linear layer to `out_dim`.

        :return: The head.
        """
        layers: list[nn.Module] = []
        width = self.embed_dim
        for _ in range(self.n_layers):
            layers += [nn.Linear(width, self.hidden_dim), nn.ReLU()]
            width = self.hidden_dim
        layers.append(nn.Linear(width, self.out_dim))
        return nn.Sequential(*layers)

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def from_static_model(cls: type[T], *, model: StaticModel, **kwargs: Any) -> T:
        """Make a trainable model from a static model (its table, token weights and metadata).

        A vocabulary-quantised or int8 table is expanded to one float32 row per token, exactly as
        `encode` reads it.

        :param model: The static model.
        :param kwargs: Keyword configuration of the class (`out_dim`, `n_layers`, `hidden_dim`, `freeze`,
            `freeze_weights`, `normalize`, `max_length`, `pad_id`).
        :return: The trainable model.
        """
        vocab = model.tokenizer.get_vocab_size()
        table = token_rows(model.embedding, np.arange(vocab), None, model.token_mapping)
        # The original padding/truncation settings are restored so the pad id can be found and the
        # exported model's tokenizer.json matches the base model's.
        settings = getattr(model, "_tokenizer_settings", {"padding": None, "truncation": None})
        tokenizer = Tokenizer.from_str(tokenizer_json(model.tokenizer, settings))
        metadata = {"config": dict(model.config), "base_model_name": model.base_model_name, "language": model.language}
        return cls(vectors=table, tokenizer=tokenizer, weights=model.weights, metadata=metadata, **kwargs)

    @classmethod
    def from_pretrained(
        cls: type[T],
        path: str | os.PathLike[str] | None = None,
        *,
        model_name: str | os.PathLike[str] | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> T:
        """Load a static model from a folder or hub id and make it trainable.

        :param path: Local folder or hub id.
        :param model_name: The same, under the name other model2vec versions use
            (`from_pretrained(model_name=..., out_dim=...)`); give `path` or `model_name`.
        :param token: Hub token for private repositories.
        :param kwargs: Keyword configuration, as for `from_static_model`.
        :return: The trainable model.
        :raises TypeError: If neither or both of `path` and `model_name` are given.
        """
        folder = pretrained_path(None if path == "" else path, model_name)
        return cls.from_static_model(model=StaticModel.from_pretrained(folder, token=token), **kwargs)

    # -- forward ------------------------------------------------------------------------------------

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenise texts as `StaticModel.encode` does and pad them with the pad id.

        :param texts: Texts.
        :return: `(ids, lengths)` on the model's device.
        :raises TypeError: If an item is not a str.
        """
        ids, lengths = pad_batch(self._token_ids(texts), self.pad_id)
        return ids.to(self.device), lengths.to(self.device)

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self._tokenizing_model.tokenize(list(texts), max_length=self.max_length)

    def embed(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Pool padded token ids into text vectors: the (weighted) mean of the real tokens.

        :param ids: `(n, longest)` padded ids.
        :param lengths: True lengths; None treats every pad id as padding.
        :return: `(n, dim)` vectors, L2-normalised when `normalize`. A text without tokens gives zeros.
        """
        if lengths is None:
            mask = ids != self.pad_id
            lengths = mask.sum(dim=1)
        else:
            mask = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
        vectors: torch.Tensor = self.embeddings(ids)
        scale = mask.to(vectors.dtype)
        if self.token_weights is not None:
            scale = scale * self.token_weights[ids]
        sums = (vectors * scale[..., None]).sum(dim=1)
        means = sums / lengths.clamp(min=1).to(vectors.dtype)[:, None]
        if self.normalize:
            means = nn.functional.normalize(means, dim=1, eps=NORM_EPS)
        return means

    def embed_flat(self, flat_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Pool texts given as concatenated ids (see `PackedTokens`): the same vectors as `embed`.

        Uses `embedding_bag`, so no padded `(n, longest, dim)` tensor is ever built.

        :param flat_ids: All texts' ids, concatenated.
        :param lengths: Each text's number of ids (0 gives a zero vector).
        :return: `(n, dim)` vectors, L2-normalised when `normalize`.
        """
        device = self.device
        flat_ids, lengths = flat_ids.to(device), lengths.to(device)
        offsets = torch.zeros_like(lengths)
        if len(lengths) > 1:
            offsets[1:] = torch.cumsum(lengths[:-1], dim=0)
        weights = self.token_weights[flat_ids] if self.token_weights is not None else None
        sums = nn.functional.embedding_bag(
            flat_ids, self.embeddings.weight, offsets, mode="sum", per_sample_weights=weights
        )
        means = sums / lengths.clamp(min=1).to(sums.dtype)[:, None]
        if self.normalize:
            means = nn.functional.normalize(means, dim=1, eps=NORM_EPS)
        return means

    def embed_packed(self, packed: PackedTokens, rows: Sequence[int] | np.ndarray) -> torch.Tensor:
        """Pool some texts of a `PackedTokens` (with gradients when training).

        :param packed: The tokenised texts.
        :param rows: Which texts.
        :return: `(len(rows), dim)` vectors.
        """
        return self.embed_flat(*packed.batch(rows))

    def embed_all(self, packed: PackedTokens, batch_size: int = 4096) -> torch.Tensor:
        """Pool every text of a `PackedTokens` without gradients (for validation and prediction).

        :param packed: The tokenised texts.
        :param batch_size: Texts per batch.
        :return: `(len(packed), dim)` vectors on the model's device.
        """
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                parts = [
                    self.embed_packed(packed, np.arange(start, min(start + batch_size, len(packed))))
                    for start in range(0, len(packed), batch_size)
                ]
        finally:
            self.train(was_training)
        return torch.cat(parts) if parts else torch.zeros((0, self.embed_dim), device=self.device)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Head output and pooled vectors of a padded batch.

        :param ids: `(n, longest)` padded ids.
        :param lengths: True lengths; None treats every pad id as padding.
        :return: `(head output, pooled vectors)`.
        """
        pooled = self.embed(ids, lengths)
        return self.head(pooled), pooled

    def _outputs(self, texts: Sequence[str], batch_size: int, what: str) -> torch.Tensor:
        """Run texts through the model in batches without gradients; `what` is "head" or "embed"."""
        was_training = self.training
        self.eval()
        outputs = []
        try:
            with torch.no_grad():
                for start in range(0, len(texts), batch_size):
                    ids, lengths = self.tokenize(texts[start : start + batch_size])
                    head, pooled = self(ids, lengths)
                    outputs.append((head if what == "head" else pooled).float().cpu())
        finally:
            self.train(was_training)
        if not outputs:
            width = self.out_dim if what == "head" else self.embed_dim
            return torch.zeros((0, width))
        result: torch.Tensor = torch.cat(outputs)
        return result

    def encode(self, X: Sequence[str], batch_size: int = 1024) -> np.ndarray:  # noqa: N803
        """Pooled vectors of texts (what the head sees).

        :param X: Texts.
        :param batch_size: Texts per batch.
        :return: `(n, dim)` float32.
        """
        result: np.ndarray = self._outputs(list(X), batch_size, "embed").numpy()
        return result

    # -- export -------------------------------------------------------------------------------------

    def to_static_model(self) -> StaticModel:
        """Export the (trained) table and token weights as a `StaticModel` with the base model's metadata.

        The exported model's `normalize` is this model's `normalize`, so its `encode` gives exactly the
        vectors the head was trained on.

        :return: The static model (float32, one row per token).
        """
        table = self.embeddings.weight.detach().cpu().numpy()[: self.vocab_size].copy()
        weights = None
        if self.token_weights is not None:
            weights = self.token_weights.detach().cpu().numpy()[: self.vocab_size].copy()
        config = dict(self.metadata.get("config") or {})
        config.pop("normalize", None)
        return StaticModel(
            table,
            self.tokenizer,
            config=config,
            normalize=self.normalize,
            base_model_name=self.metadata.get("base_model_name"),
            language=self.metadata.get("language"),
            weights=weights,
        )

    # -- training -----------------------------------------------------------------------------------

    def _train_loop(
        self,
        *,
        train_ids: list[list[int]],
        train_targets: torch.Tensor,
        val_ids: list[list[int]],
        val_targets: torch.Tensor,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        score_fn: Callable[[torch.Tensor, torch.Tensor], float],
        learning_rate: float,
        batch_size: int,
        min_epochs: int,
        max_epochs: int | None,
        early_stopping_patience: int | None,
        device: torch.device,
        random_seed: int,
        show_progress_bar: bool,
    ) -> dict[str, Any]:
        """Train with Adam, keep the best state on the validation score, stop early.

        An epoch improves when its validation score (higher is better) beats the best so far, or ties it
        with a lower validation loss: on small validation sets accuracy plateaus while the model still
        gets better, and stopping on the first plateau would end training too soon.

        :return: A history dict: per-epoch train loss and validation score, the best epoch and seconds.
        """
        train_targets = train_targets.to(device)
        val_targets = val_targets.to(device)

        def step_loss(chunk: np.ndarray) -> torch.Tensor:
            ids, lengths = pad_batch([train_ids[i] for i in chunk], self.pad_id)
            logits, _ = self(ids.to(device), lengths.to(device))
            return loss_fn(logits, train_targets[torch.as_tensor(chunk, device=device)])

        return self._optimize(
            n_train=len(train_ids),
            step_loss=step_loss,
            validate=lambda: self._score(val_ids, val_targets, score_fn, loss_fn, device),
            learning_rate=learning_rate,
            batch_size=batch_size,
            min_epochs=min_epochs,
            max_epochs=max_epochs,
            early_stopping_patience=early_stopping_patience,
            device=device,
            random_seed=random_seed,
            show_progress_bar=show_progress_bar,
        )

    def _optimize(
        self,
        *,
        n_train: int,
        step_loss: Callable[[np.ndarray], torch.Tensor],
        validate: Callable[[], tuple[float, float]],
        learning_rate: float,
        batch_size: int,
        min_epochs: int,
        max_epochs: int | None,
        early_stopping_patience: int | None,
        device: torch.device,
        random_seed: int,
        show_progress_bar: bool,
    ) -> dict[str, Any]:
        """Run the training loop every trainer shares: Adam over shuffled batches, validation each epoch.

        An epoch improves when its validation score (higher is better) beats the best so far, or ties it
        with a lower validation loss; the best epoch's parameters are restored at the end.

        :param n_train: Number of training items; batches are shuffled index chunks of `range(n_train)`.
        :param step_loss: The loss of one batch, given its item indices (called in training mode).
        :param validate: `(score, loss)` of the current parameters on the validation data.
        :return: A history dict: per-epoch train loss, validation loss and score, the best epoch, seconds.
        """
        import time

        torch.manual_seed(random_seed)
        rng = np.random.default_rng(random_seed)
        self.to(device)
        parameters = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(parameters, lr=learning_rate)
        best: tuple[float, float] = (-math.inf, -math.inf)
        best_epoch, best_state = -1, copy.deepcopy(self.state_dict())
        history: dict[str, Any] = {"train_loss": [], "val_loss": [], "val_score": []}
        stale = 0
        epochs = itertools.count() if max_epochs is None else range(max_epochs)
        bar = progress_bar(epochs, total=max_epochs, desc="Training", unit="epoch", disable=not show_progress_bar)
        start = time.perf_counter()
        for epoch in bar:
            self.train()
            losses = []
            chunks = np.array_split(rng.permutation(n_train), math.ceil(n_train / batch_size))
            # A per-batch bar too: on large data one epoch takes long enough to want progress inside it.
            for chunk in progress_bar(chunks, desc=f"Epoch {epoch + 1}", leave=False, disable=not show_progress_bar):
                loss = step_loss(chunk)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                losses.append(float(loss.detach()))
            score, val_loss = validate()
            history["train_loss"].append(float(np.mean(losses)))
            history["val_loss"].append(val_loss)
            history["val_score"].append(score)
            bar.set_postfix(train_loss=f"{history['train_loss'][-1]:.4f}", val_score=f"{score:.4f}")
            if (score, -val_loss) > best:
                best, best_epoch, stale = (score, -val_loss), epoch, 0
                best_state = copy.deepcopy(self.state_dict())
            else:
                stale += 1
            if early_stopping_patience is not None and epoch + 1 >= min_epochs and stale >= early_stopping_patience:
                break
        bar.close()
        self.load_state_dict(best_state)
        self.eval()
        history.update({"best_epoch": best_epoch, "best_val_score": best[0], "seconds": time.perf_counter() - start})
        return history

    def _score(
        self,
        token_ids: list[list[int]],
        targets: torch.Tensor,
        score_fn: Callable[[torch.Tensor, torch.Tensor], float],
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        device: torch.device,
        batch_size: int = 1024,
    ) -> tuple[float, float]:
        """Return the validation score and loss of the current parameters."""
        self.eval()
        outputs = []
        with torch.no_grad():
            for start in range(0, len(token_ids), batch_size):
                ids, lengths = pad_batch(token_ids[start : start + batch_size], self.pad_id)
                outputs.append(self(ids.to(device), lengths.to(device))[0])
        predicted = torch.cat(outputs)
        return score_fn(predicted, targets), float(loss_fn(predicted, targets))


def check_fit_settings(
    *,
    learning_rate: float,
    batch_size: int | None,
    min_epochs: int | None,
    max_epochs: int | None,
    early_stopping_patience: int | None,
    test_size: float | int,
    has_x_val: bool = False,
    has_y_val: bool = False,
) -> int | None:
    """Validate the settings of `fit` before any work starts.

    :return: `max_epochs` with -1 turned into None (no limit).
    :raises ValueError: If a setting is out of range (the message names it), only one of `X_val` and
        `y_val` is given, or nothing would ever stop training.
    """
    if has_x_val != has_y_val:
        raise ValueError("Pass X_val and y_val together (or neither, to hold out test_size of X).")
    if max_epochs == -1:
        max_epochs = None
    if max_epochs is None and early_stopping_patience is None:
        raise ValueError("With early_stopping_patience=None, set max_epochs, or training never ends.")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}.")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    if min_epochs is not None and min_epochs < 0:
        raise ValueError(f"min_epochs must be >= 0, got {min_epochs}.")
    if max_epochs is not None and max_epochs < 1 and max_epochs != -1:
        raise ValueError(f"max_epochs must be positive, or None / -1 for no limit, got {max_epochs}.")
    if min_epochs is not None and max_epochs not in (None, -1) and min_epochs > max_epochs:
        raise ValueError(f"min_epochs ({min_epochs}) is larger than max_epochs ({max_epochs}).")
    if early_stopping_patience is not None and early_stopping_patience < 1:
        raise ValueError(f"early_stopping_patience must be positive or None, got {early_stopping_patience}.")
    if isinstance(test_size, float) and not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a positive count, got {test_size}.")
    if isinstance(test_size, int) and test_size < 1:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a positive count, got {test_size}.")
    return max_epochs
