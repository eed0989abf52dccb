"""StaticModelForRetrieval: in-batch negatives, hard negatives, Matryoshka prefixes, export, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from model2vec import StaticModel
from model2vec.train import StaticModelForRetrieval
from model2vec.train.retrieval import info_nce_loss, ranking_metrics, retrieval_batch_size

from ..conftest import make_model

# Each query word should find documents about a *different* word: the untrained table cannot know this.
TOPICS = {"hello": "dog", "world": "mat", "cat": "red", "sat": "big", "on": "a"}
FILLER = ["the", ",", ".", "!", "日", "本"]


def toy_items(n: int = 240, seed: int = 0, negatives: bool = False, test: bool = False) -> list[tuple[str, ...]]:
    """Items of 5 topics. Test items use the bare query word, so a query's relevant documents are all
    documents of its topic (training queries carry a filler word, as real queries vary)."""
    rng = np.random.default_rng(seed)
    words = list(TOPICS)
    items: list[tuple[str, ...]] = []
    for i in range(n):
        query = words[i % len(words)]
        document = " ".join([TOPICS[query], *rng.choice(FILLER, size=3)])
        item: tuple[str, ...] = (query if test else f"{query} {rng.choice(FILLER)}", document)
        if negatives:
            other = words[(i + 1 + int(rng.integers(len(words) - 1))) % len(words)]
            item += (" ".join([TOPICS[other], *rng.choice(FILLER, size=3)]),)
        items.append(item)
    return items


def retriever(**kwargs: Any) -> StaticModelForRetrieval:
    return StaticModelForRetrieval.from_static_model(model=make_model(dim=16), **kwargs)


def fit(items: list[tuple[str, ...]] | None = None, **kwargs: Any) -> StaticModelForRetrieval:
    kwargs.setdefault("max_epochs", 15)
    kwargs.setdefault("learning_rate", 5e-2)
    kwargs.setdefault("batch_size", 64)
    return retriever().fit(items or toy_items(), random_seed=0, show_progress_bar=False, **kwargs)


def test_training_improves_search() -> None:
    test = toy_items(60, seed=1, test=True)
    before = retriever().evaluate(test)
    model = fit()
    after = model.evaluate(test)
    assert set(after) == {"ndcg@10", "mrr@10", "recall@10"}
    assert after["ndcg@10"] > max(0.9, before["ndcg@10"] + 0.5)
    assert model.history["best_val_score"] == max(model.history["val_score"])
    assert len(model.history["val_loss"]) == len(model.history["val_score"])


def test_hard_negatives_train_too() -> None:
    items = toy_items(negatives=True)
    assert all(len(item) == 3 for item in items)
    model = fit(items)
    assert model.evaluate(toy_items(60, seed=1, test=True))["ndcg@10"] > 0.9


def test_matryoshka_prefixes_search_well() -> None:
    test = toy_items(60, seed=1, test=True)
    model = fit(matryoshka_dims=[4, 16])
    assert model.matryoshka_dims == [4, 16]
    exported = model.to_static_model()
    # Search with only the first 4 dimensions of the exported vectors.
    queries = sorted({item[0] for item in test})
    documents = sorted({item[1] for item in test})
    relevant = [{documents.index(item[1]) for item in test if item[0] == query} for query in queries]
    q = exported.encode(queries)[:, :4]
    d = exported.encode(documents)[:, :4]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    assert ranking_metrics(torch.from_numpy(q @ d.T), relevant)["ndcg@10"] > 0.9


def test_export_round_trip(tmp_path: Path) -> None:
    model = fit(max_epochs=2)
    texts = ["hello the", "dog a on", "", "zzz"]
    model.to_static_model().save_pretrained(tmp_path / "retrieval")
    loaded = StaticModel.from_pretrained(tmp_path / "retrieval")
    np.testing.assert_allclose(loaded.encode(texts), model.encode(texts), rtol=1e-5, atol=1e-6)


def test_same_seed_same_model() -> None:
    texts = ["hello the", "dog a on"]
    np.testing.assert_array_equal(fit(max_epochs=2).encode(texts), fit(max_epochs=2).encode(texts))


def test_info_nce_loss_sums_prefixes_and_masks_copies_of_the_positive() -> None:
    rng = np.random.default_rng(0)
    queries = torch.from_numpy(rng.normal(size=(3, 8)).astype(np.float32))
    documents = torch.from_numpy(rng.normal(size=(5, 8)).astype(np.float32))
    ids = torch.tensor([0, 1, 2, 3, 4])
    full = info_nce_loss(queries, documents, ids, 0.1, [8])
    small = info_nce_loss(queries, documents, ids, 0.1, [2])
    assert float(info_nce_loss(queries, documents, ids, 0.1, [2, 8])) == pytest.approx(float(full + small), rel=1e-6)
    # By hand: cross-entropy of each query's cosines against all documents.
    q = torch.nn.functional.normalize(queries, dim=1)
    d = torch.nn.functional.normalize(documents, dim=1)
    expected = torch.nn.functional.cross_entropy(q @ d.T / 0.1, torch.arange(3))
    assert float(full) == pytest.approx(float(expected), rel=1e-6)
    # Document 3 is the same text as query 0's positive: it is not a negative for query 0.
    masked = info_nce_loss(queries, documents, torch.tensor([0, 1, 2, 0, 4]), 0.1, [8])
    logits = q @ d.T / 0.1
    logits[0, 3] = -float("inf")
    assert float(masked) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, torch.arange(3))), rel=1e-6)


def test_ranking_metrics_by_hand() -> None:
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.1]])
    metrics = ranking_metrics(scores, [{2}, {0, 1}], k=2)
    # Query 0: relevant doc at rank 2 -> nDCG 1/log2(3), MRR 1/2. Query 1: both relevant in the top 2.
    assert metrics["ndcg@2"] == pytest.approx((1 / np.log2(3) + 1) / 2)
    assert metrics["mrr@2"] == pytest.approx((0.5 + 1) / 2)
    assert metrics["recall@2"] == pytest.approx(1.0)


def test_default_batch_size() -> None:
    assert retrieval_batch_size(10) == 10
    assert retrieval_batch_size(300) == 64
    assert retrieval_batch_size(4000) == 500
    assert retrieval_batch_size(10**6) == 1024


@pytest.mark.parametrize(
    ("X", "extra", "error", "match"),
    [
        ([], {}, ValueError, "empty"),
        ([("q", "d"), ("q2", "d2", "n2")], {}, ValueError, "mixes"),
        ([("q",), ("q2",)], {}, ValueError, "2 or 3"),
        (["q d", "q2 d2"], {}, TypeError, "tuple"),
        ([("q", None), ("q2", "d2")], {}, TypeError, "str"),
        ([("q", "d"), ("q2", "d2"), ("q3", "d3")], {"temperature": 0}, ValueError, "temperature"),
        ([("q", "d"), ("q2", "d2"), ("q3", "d3")], {"matryoshka_dims": [0, 16]}, ValueError, "matryoshka"),
        ([("q", "d"), ("q2", "d2"), ("q3", "d3")], {"matryoshka_dims": [32]}, ValueError, "matryoshka"),
        ([("q", "d"), ("q2", "d2"), ("q3", "d3")], {"matryoshka_dims": []}, ValueError, "empty"),
        ([("q", "d"), ("q2", "d2")], {}, ValueError, "at least two"),
        ([("q", "d"), ("q2", "d2"), ("q3", "d3")], {"X_val": [("a",)]}, ValueError, "2 or 3"),
        ([("q", "d"), ("q2", "d2"), ("q3", "d3")], {"max_epochs": 0}, ValueError, "max_epochs"),
    ],
)
def test_bad_input(X: Any, extra: dict[str, Any], error: type[Exception], match: str) -> None:  # noqa: N803
    with pytest.raises(error, match=match):
        retriever().fit(X, show_progress_bar=False, **extra)
