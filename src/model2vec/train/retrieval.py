"""`StaticModelForRetrieval`: train a static model for search with in-batch negatives (InfoNCE).

Each training item is `(query, positive)` or `(query, positive, hard_negative)`. In a batch, every
query is scored against every positive and hard negative of the batch; the loss is the cross-entropy of
picking its own positive (MultipleNegativesRankingLoss, InfoNCE with a temperature). With Matryoshka
dimensions the loss is summed over prefixes of the vectors, so truncated vectors still search well.
Pooling is `embedding_bag` over flat token ids: a batch of thousands of texts costs memory linear in its
tokens. There is no head; `to_static_model` exports the trained table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from model2vec.train.base import FinetunableStaticModel, PackedTokens, check_fit_settings, resolve_device
from model2vec.train.classifier import DEFAULT_RANDOM_SEED
from model2vec.train.pairs import check_text_tuples, split_items

DEFAULT_TEMPERATURE = 0.05
DEFAULT_MAX_BATCH_SIZE = 1024
# Tuned on held-out SciFact train queries (benchmarks/train_heads.py tune retrieval): 1e-2 and 5e-2 tie,
# 1e-3 needs ten times the epochs and ends lower, 0.2 (the sentence-transformers recipe) overshoots.
DEFAULT_RETRIEVAL_LEARNING_RATE = 1e-2
# Validation ranks this many documents per query (nDCG@10, MRR@10, recall@10).
TOP_K = 10


def retrieval_batch_size(n_train: int) -> int:
    """Pick a batch size: about 8 steps per epoch, between 64 and 1024 (never more than the data).

    In-batch negatives get better with larger batches, but tiny data sets still need several steps.

    :param n_train: Number of training items.
    :return: The batch size.
    """
    return int(max(1, min(n_train, DEFAULT_MAX_BATCH_SIZE, max(64, n_train // 8))))


def check_matryoshka_dims(dims: Sequence[int] | None, dim: int) -> list[int]:
    """Check Matryoshka dimensions against the model's width.

    :param dims: Prefix sizes to train, or None for the full width only.
    :param dim: The model's width.
    :return: Sorted, distinct sizes.
    :raises ValueError: If a size is not an int in [1, dim], or the list is empty.
    """
    if dims is None:
        return [dim]
    values = list(dims)
    if not values:
        raise ValueError("matryoshka_dims is empty; pass None to train the full width only.")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= dim:
            raise ValueError(f"matryoshka_dims must be ints between 1 and the model's width {dim}, got {value!r}.")
    return sorted({int(v) for v in values})


def info_nce_loss(
    queries: torch.Tensor,
    documents: torch.Tensor,
    document_ids: torch.Tensor,
    temperature: float,
    dims: Sequence[int],
) -> torch.Tensor:
    """In-batch-negative contrastive loss, summed over Matryoshka prefixes.

    Query i's positive is document i; every other document in `documents` (other queries' positives,
    then hard negatives) is a negative, except copies of query i's own positive (same document id),
    which are masked out rather than counted as negatives.

    :param queries: `(n, dim)` query vectors.
    :param documents: `(n + m, dim)` document vectors, the first n the queries' positives.
    :param document_ids: `(n + m,)` ids of the documents' texts (equal text, equal id).
    :param temperature: Divides the cosines before the softmax.
    :param dims: Prefix sizes; the loss of each is added.
    :return: A scalar loss.
    """
    n = len(queries)
    target = torch.arange(n, device=queries.device)
    duplicate = document_ids[None, :] == document_ids[:n, None]
    duplicate[target, target] = False
    total = torch.zeros((), device=queries.device)
    for size in dims:
        q = nn.functional.normalize(queries[:, :size], dim=1, eps=1e-12)
        d = nn.functional.normalize(documents[:, :size], dim=1, eps=1e-12)
        logits = (q @ d.T / temperature).masked_fill(duplicate, -math.inf)
        total = total + nn.functional.cross_entropy(logits, target)
    return total


def ranking_metrics(scores: torch.Tensor, relevant: Sequence[set[int]], k: int = TOP_K) -> dict[str, float]:
    """nDCG@k, MRR@k and recall@k of ranking documents by score, binary relevance.

    :param scores: `(n_queries, n_documents)` scores.
    :param relevant: For each query, the indices of its relevant documents (non-empty).
    :param k: Cut-off.
    :return: The three metrics, averaged over queries.
    """
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1).indices.cpu().numpy()
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ndcg, mrr, recall = [], [], []
    for row, wanted in zip(top, relevant, strict=True):
        hits = np.array([index in wanted for index in row.tolist()], dtype=np.float64)
        ideal = discounts[: min(len(wanted), k)].sum()
        ndcg.append(float((hits * discounts[: len(hits)]).sum() / ideal))
        first = np.flatnonzero(hits)
        mrr.append(1.0 / (first[0] + 1) if len(first) else 0.0)
        recall.append(float(hits.sum() / len(wanted)))
    return {f"ndcg@{k}": float(np.mean(ndcg)), f"mrr@{k}": float(np.mean(mrr)), f"recall@{k}": float(np.mean(recall))}


class _Corpus:
    """Distinct query and document texts of some items, and which documents each query should find."""

    def __init__(self, items: Sequence[tuple[str, ...]]) -> None:
        self.query_texts = list(dict.fromkeys(item[0] for item in items))
        query_index = {text: i for i, text in enumerate(self.query_texts)}
        document_index: dict[str, int] = {}
        for item in items:
            for text in item[1:]:
                document_index.setdefault(text, len(document_index))
        self.document_texts = list(document_index)
        self.relevant: list[set[int]] = [set() for _ in self.query_texts]
        for item in items:
            self.relevant[query_index[item[0]]].add(document_index[item[1]])


class StaticModelForRetrieval(FinetunableStaticModel):
    """A static model trained on (query, positive[, hard negative]) items for search with cosine similarity.

    Construct with `from_pretrained(path=..., ...)` or `from_static_model(model=..., ...)` (keyword
    configuration as in `FinetunableStaticModel`; there is no head). Queries and documents share the
    table. `to_static_model` exports the trained table as a normal `StaticModel`.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.matryoshka_dims: list[int] = [self.embed_dim]
        self.history: dict[str, Any] = {}

    def construct_head(self) -> nn.Sequential:
        """No head: the pooled vectors are the output (an empty, identity `Sequential`).

        :return: The empty head.
        """
        return nn.Sequential()

    def fit(
        self,
        X: Sequence[Sequence[str]],  # noqa: N803
        temperature: float = DEFAULT_TEMPERATURE,
        matryoshka_dims: Sequence[int] | None = None,
        learning_rate: float = DEFAULT_RETRIEVAL_LEARNING_RATE,
        batch_size: int | None = None,
        min_epochs: int | None = None,
        max_epochs: int | None = -1,
        early_stopping_patience: int | None = 5,
        test_size: float | int = 0.1,
        X_val: Sequence[Sequence[str]] | None = None,  # noqa: N803
        device: str = "auto",
        random_seed: int = DEFAULT_RANDOM_SEED,
        *,
        show_progress_bar: bool = True,
    ) -> StaticModelForRetrieval:
        """Train the table (and token weights, unless frozen) with in-batch negatives.

        Every input is validated before training. Without `X_val`, a random `test_size` part of the
        items is held out. After each epoch the validation queries search the validation documents (all
        positives and hard negatives, duplicates merged) and nDCG@10 is measured; training stops after
        `early_stopping_patience` epochs without improvement (not before `min_epochs`) and the best
        epoch's parameters are restored. The same seed gives the same model.

        :param X: `(query, positive)` or `(query, positive, hard_negative)` items, all of one size.
        :param temperature: Cosines are divided by this before the softmax (0.05 = scale 20).
        :param matryoshka_dims: Prefix sizes whose losses are summed (e.g. `[32, 64, 128, 256]`); None
            trains the full width only. Include the full width to train it directly.
        :param learning_rate: Adam learning rate (see docs/training.md for the measurements behind the
            default).
        :param batch_size: Items per step (each brings its query, positive and negative); None picks
            about 8 steps per epoch, 64 to 1024. Larger batches give more negatives per query.
        :param min_epochs: Train at least this many epochs before early stopping may end training.
        :param max_epochs: Stop after this many epochs; None or -1 for no limit.
        :param early_stopping_patience: Epochs without improvement before stopping; None trains for
            `max_epochs` (which must then be set).
        :param test_size: Held-out fraction (0, 1) or count, when `X_val` is not given. Validation
            scores every validation query against every validation document: for large data give a
            count (a few thousand).
        :param X_val: Validation items, of the same form as X.
        :param device: "auto" (CUDA when available), "cpu", "cuda", ...
        :param random_seed: Seed of the split and the batch order.
        :param show_progress_bar: Show a progress bar over epochs.
        :return: The fitted model (self).
        :raises TypeError: If an item is not a tuple of str.
        :raises ValueError: For empty input, items of mixed or wrong sizes, fewer than two training
            items, a temperature that is not positive, Matryoshka sizes outside [1, width], or a
            setting out of range.
        """
        items = check_text_tuples(X, (2, 3))
        max_epochs = check_fit_settings(
            learning_rate=learning_rate,
            batch_size=batch_size,
            min_epochs=min_epochs,
            max_epochs=max_epochs,
            early_stopping_patience=early_stopping_patience,
            test_size=test_size,
        )
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        dims = check_matryoshka_dims(matryoshka_dims, self.embed_dim)
        train_index, val_index = split_items(len(items), test_size, random_seed, X_val)
        if X_val is not None:
            val_items = check_text_tuples(X_val, (2, 3), "X_val")
        else:
            assert val_index is not None
            val_items = [items[i] for i in val_index]
        train_items = [items[i] for i in train_index]
        if len(train_items) < 2:
            raise ValueError("In-batch negatives need at least two training items.")
        self.matryoshka_dims = dims
        torch_device = resolve_device(device)
        batch = batch_size or retrieval_batch_size(len(train_items))

        queries = PackedTokens(self._token_ids([item[0] for item in train_items]))
        document_index: dict[str, int] = {}
        positive_ids = [document_index.setdefault(item[1], len(document_index)) for item in train_items]
        negative_ids = [
            document_index.setdefault(item[2], len(document_index)) for item in train_items if len(item) > 2
        ]
        documents = PackedTokens(self._token_ids(list(document_index)))
        positives, negatives = np.asarray(positive_ids), np.asarray(negative_ids, dtype=np.int64)

        def step_loss(chunk: np.ndarray) -> torch.Tensor:
            rows = np.concatenate([positives[chunk], negatives[chunk] if len(negatives) else chunk[:0]])
            return info_nce_loss(
                self.embed_packed(queries, chunk),
                self.embed_packed(documents, rows),
                torch.from_numpy(rows).to(torch_device),
                temperature,
                dims,
            )

        val_corpus = _Corpus(val_items)
        val_queries = PackedTokens(self._token_ids(val_corpus.query_texts))
        val_documents = PackedTokens(self._token_ids(val_corpus.document_texts))

        def validate() -> tuple[float, float]:
            query_vectors = self.embed_all(val_queries)
            document_vectors = self.embed_all(val_documents)
            metrics = self._rank(query_vectors, document_vectors, val_corpus.relevant)
            return metrics[f"ndcg@{TOP_K}"], self._validation_loss(val_items, temperature, dims, batch)

        self.to(torch_device)
        self.history = self._optimize(
            n_train=len(train_items),
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

    def _rank(
        self, queries: torch.Tensor, documents: torch.Tensor, relevant: Sequence[set[int]], k: int = TOP_K
    ) -> dict[str, float]:
        """Ranking metrics of queries searching documents by cosine, in chunks of queries."""
        documents = nn.functional.normalize(documents, dim=1, eps=1e-12)
        totals: dict[str, float] = {}
        chunk = 1024
        for start in range(0, len(queries), chunk):
            part = nn.functional.normalize(queries[start : start + chunk], dim=1, eps=1e-12)
            metrics = ranking_metrics(part @ documents.T, relevant[start : start + chunk], k)
            for name, value in metrics.items():
                totals[name] = totals.get(name, 0.0) + value * len(part)
        return {name: value / len(queries) for name, value in totals.items()}

    def _validation_loss(
        self, items: Sequence[tuple[str, ...]], temperature: float, dims: Sequence[int], batch_size: int
    ) -> float:
        """Compute the training loss on the validation items, in batches of the training size (no gradients)."""
        texts = [text for item in items for text in item]
        width = len(items[0])
        ids: dict[str, int] = {}
        for text in texts:
            ids.setdefault(text, len(ids))
        packed = PackedTokens(self._token_ids(list(ids)))
        vectors = self.embed_all(packed)
        rows = np.asarray([ids[text] for text in texts]).reshape(len(items), width)
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(items), batch_size):
                part = rows[start : start + batch_size]
                documents = np.concatenate([part[:, 1], part[:, 2] if width > 2 else part[:0, 0]])
                if len(part) < 2:
                    continue  # one query has no in-batch negative: nothing to measure
                loss = info_nce_loss(
                    vectors[torch.from_numpy(part[:, 0])],
                    vectors[torch.from_numpy(documents)],
                    torch.from_numpy(documents).to(vectors.device),
                    temperature,
                    dims,
                )
                total += float(loss) * len(part)
        return total / len(items)

    def evaluate(self, X: Sequence[Sequence[str]], k: int = TOP_K) -> dict[str, float]:  # noqa: N803
        """Search: each distinct query ranks every distinct document of X (positives and hard negatives).

        :param X: `(query, positive)` or `(query, positive, hard_negative)` items; a query's relevant
            documents are all positives given with it.
        :param k: Cut-off of the metrics.
        :return: `ndcg@k`, `mrr@k` and `recall@k`, averaged over distinct queries.
        :raises TypeError: If an item is not a tuple of str.
        :raises ValueError: If X is empty or mixes item sizes, or k < 1.
        """
        if k < 1:
            raise ValueError(f"k must be positive, got {k}.")
        corpus = _Corpus(check_text_tuples(X, (2, 3)))

        queries = self.embed_all(PackedTokens(self._token_ids(corpus.query_texts)))
        documents = self.embed_all(PackedTokens(self._token_ids(corpus.document_texts)))
        return self._rank(queries, documents, corpus.relevant, k)
