"""model2vec.search: exact blocked search against a brute-force reference, storage dtypes, persistence."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model2vec import search
from model2vec.format import ModelFormatError
from model2vec.search import SearchIndex

from .conftest import make_model


def brute_force(
    queries: np.ndarray, vectors: np.ndarray, k: int, stored: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Reference: full cosine matrix, sorted by score descending then row ascending.

    `stored=True` takes `vectors` as already stored (float16/int8 rounding kept, not re-normalised).
    """
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-30)
    v = vectors if stored else vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-30)
    scores = q.astype(np.float64) @ v.astype(np.float64).T
    rows = np.array([np.lexsort((np.arange(len(v)), -row))[:k] for row in scores]).reshape(len(q), -1)
    return rows, np.take_along_axis(scores, rows, axis=1)


def assert_exact(index: SearchIndex, queries: np.ndarray, vectors: np.ndarray, k: int, stored: bool = False) -> None:
    """Returned scores equal the reference's; each returned row really has the score reported."""
    ids, scores = index.search(queries, k)
    _, ref_scores = brute_force(queries, vectors, k, stored)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    full = brute_force(queries, vectors, len(vectors), stored)
    for q, found in enumerate(ids):
        lookup = dict(zip(full[0][q].tolist(), full[1][q].tolist(), strict=True))
        np.testing.assert_allclose([lookup[index.ids.index(i)] for i in found], scores[q], atol=1e-5)


@pytest.mark.parametrize("budget", [1, 4 * 7 * 40, 10**9])
def test_exact_matches_brute_force(budget: int) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(300, 24)).astype(np.float32)
    queries = rng.normal(size=(7, 24)).astype(np.float32)
    index = SearchIndex(memory_budget=budget)
    index.add(vectors)
    ids, scores = index.search(queries, 10)
    ref_rows, ref_scores = brute_force(queries, vectors, 10)
    assert ids == ref_rows.tolist()
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    assert scores.dtype == np.float32


def test_many_queries_are_grouped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search.maths, "MIN_BLOCK", 50)
    rng = np.random.default_rng(6)
    vectors = rng.normal(size=(200, 8)).astype(np.float32)
    queries = rng.normal(size=(37, 8)).astype(np.float32)
    index = SearchIndex(memory_budget=4 * 50 * 5)  # groups of 5 queries, blocks of 50 rows
    index.add(vectors)
    ids, scores = index.search(queries, 4)
    ref_rows, ref_scores = brute_force(queries, vectors, 4)
    assert ids == ref_rows.tolist() and scores.shape == (37, 4)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)


@pytest.mark.parametrize("budget", [1, 200, 10**9])
def test_ties_broken_by_insertion_order(budget: int) -> None:
    # One-hot vectors give exact scores, so many rows tie exactly and straddle every block boundary.
    vectors = np.eye(4, dtype=np.float32)[np.arange(40) % 4]
    ids = [f"doc{i}" for i in range(40)]
    index = SearchIndex(memory_budget=budget)
    index.add(vectors, ids=ids)
    found, scores = index.search(np.array([1.0, 0, 0, 0]), 5)
    assert found == ["doc0", "doc4", "doc8", "doc12", "doc16"]
    np.testing.assert_array_equal(scores, np.ones(5, dtype=np.float32))
    found, scores = index.search(np.array([[1.0, 1.0, 0, 0]]), 13)
    assert found[0] == [f"doc{i}" for i in range(40) if i % 4 < 2][:13]


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_low_precision_recall(dtype: str) -> None:
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(2000, 64)).astype(np.float32)
    queries = rng.normal(size=(50, 64)).astype(np.float32)
    exact, low = SearchIndex(), SearchIndex(dtype=dtype)
    exact.add(vectors)
    low.add(vectors)
    reference, _ = exact.search(queries, 10)
    found, scores = low.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(reference, found, strict=True)])
    assert recall >= 0.9
    assert scores.dtype == np.float32
    _, ref_scores = exact.search(queries, 10)
    np.testing.assert_allclose(scores, ref_scores, atol=0.02)
    assert low._vectors.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_low_precision_is_exact_on_stored_values(monkeypatch: pytest.MonkeyPatch, dtype: str) -> None:
    # A tiny widening buffer and budget: many blocks, each widened in several parts.
    monkeypatch.setattr(search.maths, "CONVERT_BYTES", 4 * 16 * 7)
    rng = np.random.default_rng(5)
    index = SearchIndex(dtype=dtype, memory_budget=4 * 3 * 50)
    index.add(rng.normal(size=(333, 16)))
    queries = rng.normal(size=(3, 16)).astype(np.float32)
    assert_exact(index, queries, index.vectors(), 10, stored=True)


def test_add_remove_and_ids() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(10, 8)).astype(np.float32)
    index = SearchIndex()
    assert index.add(vectors[:5]) == [0, 1, 2, 3, 4]
    assert index.add(vectors[5:], ids=[10, "x", 12, 13, 14]) == [10, "x", 12, 13, 14]
    assert index.add(vectors[0]) == [15]
    assert len(index) == 11 and "x" in index
    index.remove([0, "x"])
    assert index.ids == [1, 2, 3, 4, 10, 12, 13, 14, 15]
    found, scores = index.search(vectors[0], 1)
    assert found == [15] and scores[0] == pytest.approx(1.0)
    found, _ = index.search(vectors[6], 1)
    assert found != ["x"]
    assert_exact(index, vectors, index.vectors(), 3)
    index.remove(index.ids)
    assert len(index) == 0
    with pytest.raises(ValueError, match="empty"):
        index.search(vectors[0], 1)


def test_k_larger_than_index_and_zero_vectors() -> None:
    index = SearchIndex()
    index.add(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]]))
    found, scores = index.search(np.array([1.0, 1.0]), 10)
    assert found == [0, 2, 1]
    np.testing.assert_allclose(scores, [np.sqrt(0.5), np.sqrt(0.5), 0.0], atol=1e-6)


def test_errors() -> None:
    index = SearchIndex(dim=4)
    with pytest.raises(ValueError, match="empty"):
        index.search(np.ones(4), 1)
    index.add(np.ones((2, 4)))
    with pytest.raises(ValueError, match="Dimension mismatch"):
        index.add(np.ones((1, 3)))
    with pytest.raises(ValueError, match="Dimension mismatch"):
        index.search(np.ones(5), 1)
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="k must"):
            index.search(np.ones(4), k)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already"):
        index.add(np.ones((1, 4)), ids=[0])
    with pytest.raises(ValueError, match="Duplicate"):
        index.add(np.ones((2, 4)), ids=["a", "a"])
    with pytest.raises(ValueError, match="ids"):
        index.add(np.ones((2, 4)), ids=["a"])
    with pytest.raises(TypeError):
        index.add(np.ones((1, 4)), ids=[1.5])  # type: ignore[list-item]
    with pytest.raises(KeyError, match="Unknown"):
        index.remove([0, 99])
    assert len(index) == 2  # nothing removed on error
    with pytest.raises(ValueError, match="NaN"):
        index.add(np.full((1, 4), np.nan))
    with pytest.raises(ValueError, match="needs a model"):
        index.search("hello", 1)
    with pytest.raises(ValueError, match="dtype"):
        SearchIndex(dtype="int4")
    with pytest.raises(ValueError, match="backend"):
        SearchIndex(backend="hnsw")
    with pytest.raises(ValueError, match="does not match"):
        SearchIndex(dim=3, model=make_model(dim=8))


def test_text_queries() -> None:
    model = make_model(dim=8)
    texts = ["the cat sat on the mat", "hello world", "a big red dog", "dogs !"]
    index = SearchIndex.from_model(model, texts, dtype="float16")
    assert index.text(1) == "hello world"
    found, scores = index.search("hello world", 2)
    assert found[0] == 1 and scores[0] == pytest.approx(1.0, abs=1e-3)
    found, _ = index.search(["a big red dog", "the cat sat on the mat"], 1)
    assert found == [[2], [0]]
    index.add(np.ones(8), ids=["vec"])
    assert index.text("vec") is None
    with pytest.raises(KeyError):
        index.text("missing")


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_save_load_round_trip(tmp_path: Path, dtype: str) -> None:
    rng = np.random.default_rng(4)
    model = make_model(dim=8)
    index = SearchIndex(model=model, dtype=dtype, memory_budget=1000)
    index.add(["hello world", "the cat", "日本"], ids=["a", 7, "c"])
    index.add(rng.normal(size=(20, 8)))
    target = tmp_path / "index"
    index.save(target)
    assert sorted(p.name for p in target.iterdir()) == ["index.json", "index.safetensors"]
    loaded = SearchIndex.load(target, model=model)
    assert loaded.ids == index.ids and loaded.dtype == dtype and loaded.memory_budget == 1000
    assert loaded.text("c") == "日本"
    queries = rng.normal(size=(3, 8))
    assert loaded.search(queries, 5)[0] == index.search(queries, 5)[0]
    np.testing.assert_array_equal(loaded.search(queries, 5)[1], index.search(queries, 5)[1])
    # A loaded (memory-mapped, read-only) index still accepts changes; new int ids continue after 20.
    assert loaded.add(np.ones(8)) == [28]
    loaded.remove(["a"])
    loaded.save(target)  # overwrite in place
    again = SearchIndex.load(target)
    assert again.ids == loaded.ids
    assert not [p for p in tmp_path.iterdir() if p.name != "index"]  # no temp folders left


def test_save_load_empty_index(tmp_path: Path) -> None:
    SearchIndex().save(tmp_path / "empty")
    loaded = SearchIndex.load(tmp_path / "empty")
    assert len(loaded) == 0 and loaded.dim is None
    loaded.add(np.eye(3))
    assert loaded.search(np.array([0, 1.0, 0]), 1)[0] == [1]
    with pytest.raises(ValueError, match="does not match"):
        SearchIndex.load(_saved_3d(tmp_path), model=make_model(dim=8))


def _saved_3d(tmp_path: Path) -> Path:
    index = SearchIndex()
    index.add(np.eye(3))
    index.save(tmp_path / "three")
    return tmp_path / "three"


def test_load_rejects_inconsistent_files(tmp_path: Path) -> None:
    index = SearchIndex()
    index.add(np.eye(3))
    index.save(tmp_path / "i")
    settings_path = tmp_path / "i" / "index.json"
    data = json.loads(settings_path.read_text())
    data["ids"] = [0, 1]
    settings_path.write_text(json.dumps(data))
    with pytest.raises(ModelFormatError):
        SearchIndex.load(tmp_path / "i")
    settings_path.write_text("{not json")
    with pytest.raises(ModelFormatError):
        SearchIndex.load(tmp_path / "i")
    with pytest.raises(FileNotFoundError):
        SearchIndex.load(tmp_path / "missing")


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 60),
    m=st.integers(1, 5),
    k=st.integers(1, 70),
    budget=st.integers(1, 4000),
    seed=st.integers(0, 2**16),
    small_ints=st.booleans(),
)
def test_blocked_equals_brute_force(n: int, m: int, k: int, budget: int, seed: int, small_ints: bool) -> None:
    rng = np.random.default_rng(seed)
    if small_ints:
        # Few distinct directions: many exact duplicates, so ties are exercised.
        vectors = rng.integers(-1, 2, size=(n, 3)).astype(np.float32)
        queries = rng.integers(-1, 2, size=(m, 3)).astype(np.float32)
    else:
        vectors = rng.normal(size=(n, 6)).astype(np.float32)
        queries = rng.normal(size=(m, 6)).astype(np.float32)
    index = SearchIndex(memory_budget=budget)
    index.add(vectors)
    blocked = SearchIndex(memory_budget=10**9)
    blocked.add(vectors)
    ids, scores = index.search(queries, k)
    _, one_block_scores = blocked.search(queries, k)
    assert_exact(index, queries, vectors, k)
    np.testing.assert_allclose(scores, one_block_scores, atol=1e-6)
    # Mathematically equal scores may differ in the last bit between rows, but exactly equal computed
    # scores must come in insertion order (ids are row numbers here), whatever the block size.
    for row_ids, row_scores in zip(ids, scores, strict=True):
        assert np.all(np.diff(row_scores) <= 0)
        for a, b, score_a, score_b in zip(row_ids, row_ids[1:], row_scores, row_scores[1:], strict=False):
            if score_a == score_b:
                assert a < b


def test_registered_backend_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    class Recording(search.ExactBackend):
        def search(
            self, queries: np.ndarray, vectors: np.ndarray, scales: np.ndarray | None, k: int, version: int
        ) -> tuple[np.ndarray, np.ndarray]:
            calls.append(version)
            return super().search(queries, vectors, scales, k, version)

    monkeypatch.setitem(search.BACKENDS, "recording", Recording)
    index = SearchIndex(backend="recording")
    index.add(np.eye(3))
    index.search(np.ones(3), 1)
    index.remove([0])
    index.search(np.ones(3), 1)
    assert calls == [1, 2]  # the version changes on every add/remove, so a graph index knows to update


# --- Approximate backend (usearch HNSW) ---------------------------------------------------------------------

needs_usearch = pytest.mark.skipif(importlib.util.find_spec("usearch") is None, reason="usearch is not installed")

ONE_THREAD = {"threads": 1}  # single-threaded inserts build the same graph every run


def clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Vectors around 20 random centres: structure like real embeddings, so a graph index finds neighbours."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    return (centres[rng.integers(0, 20, n)] + 0.5 * rng.normal(size=(n, dim))).astype(np.float32)


def overlap(a: list[list[object]], b: list[list[object]]) -> float:
    """Mean fraction of each list in `a` found in the matching list of `b`."""
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b, strict=True)]))


@needs_usearch
@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_usearch_recall_against_exact(dtype: str) -> None:
    vectors = clustered(3000)
    queries = clustered(40, seed=1)
    exact = SearchIndex(dtype=dtype)
    exact.add(vectors)
    approx = SearchIndex(dtype=dtype, backend="usearch", backend_options=ONE_THREAD)
    approx.add(vectors)
    ref_ids, _ = exact.search(queries, 10)
    ids, scores = approx.search(queries, 10)
    assert overlap(ref_ids, ids) >= 0.95
    # Scores are recomputed from the stored rows: each equals the exact score of the returned item.
    _, all_scores = exact.search(queries, len(exact))
    all_ids, _ = exact.search(queries, len(exact))
    for q in range(len(queries)):
        lookup = dict(zip(all_ids[q], all_scores[q].tolist(), strict=True))
        np.testing.assert_allclose(scores[q], [lookup[i] for i in ids[q]], atol=1e-5)
        assert list(scores[q]) == sorted(scores[q], reverse=True)


@needs_usearch
def test_usearch_int8_graph_with_oversampling_keeps_recall() -> None:
    vectors = clustered(3000)
    queries = clustered(40, seed=1)
    exact = SearchIndex()
    exact.add(vectors)
    approx = SearchIndex(backend="usearch", backend_options={"graph_dtype": "int8", "oversample": 3, "threads": 1})
    approx.add(vectors)
    assert overlap(exact.search(queries, 10)[0], approx.search(queries, 10)[0]) >= 0.95


@needs_usearch
def test_usearch_add_remove_keeps_ids_straight() -> None:
    vectors = clustered(500)
    index = SearchIndex(backend="usearch", backend_options=ONE_THREAD)
    index.add(vectors[:300], ids=[f"a{i}" for i in range(300)])
    index.remove([f"a{i}" for i in range(0, 300, 3)])
    index.add(vectors[300:], ids=list(range(200)))
    index.remove([0, 5, "a1"])
    assert len(index) == 300 - 100 - 1 + 200 - 2
    for i in [2, 4, 299]:
        found, scores = index.search(vectors[i], 1)
        assert found == [f"a{i}"]
        assert scores[0] == pytest.approx(1.0, abs=1e-5)
    found, _ = index.search(vectors[310], 1)
    assert found == [10]
    removed = {f"a{i}" for i in range(0, 300, 3)} | {0, 5, "a1"}
    ids, _ = index.search(vectors, 10)
    assert not removed & {item for row in ids for item in row}


@needs_usearch
def test_usearch_small_index_falls_back_to_exact() -> None:
    index = SearchIndex(backend="usearch", backend_options=ONE_THREAD)
    index.add(np.eye(4))
    ids, scores = index.search(np.array([1.0, 1.0, 0.0, 0.0]), 10)
    assert ids == [0, 1, 2, 3]  # k is capped at the index size; ties in insertion order
    np.testing.assert_allclose(scores, [2**-0.5, 2**-0.5, 0.0, 0.0], atol=1e-6)


@needs_usearch
def test_usearch_text_queries_and_save_load(tmp_path: Path) -> None:
    model = make_model(dim=16)
    texts = ["hello world", "the cat sat on the mat", "a big red dog", "dogs", "the mat"]
    index = SearchIndex.from_model(model, texts, backend="usearch", backend_options={"expansion_search": 32})
    index.add(clustered(200, dim=16), ids=[f"v{i}" for i in range(200)])
    index.remove([1])
    ids, scores = index.search(["a big red dog", "hello"], 3)
    index.save(tmp_path / "idx")
    assert (tmp_path / "idx" / search.USEARCH_FILE).is_file()
    loaded = SearchIndex.load(tmp_path / "idx", model=model, backend_options={"expansion_search": 64})
    assert loaded.backend == "usearch"
    assert loaded.backend_options == {"expansion_search": 64}
    again, again_scores = loaded.search(["a big red dog", "hello"], 3)
    assert again == ids
    np.testing.assert_array_equal(again_scores, scores)
    loaded.add(["the cat"])  # keys continue after the loaded graph's
    assert loaded.search("the cat", 1)[0] == [loaded.ids[-1]]


@needs_usearch
def test_usearch_load_errors(tmp_path: Path) -> None:
    index = SearchIndex(backend="usearch")
    index.add(clustered(50))
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / search.USEARCH_FILE).write_bytes(b"not a graph")
    with pytest.raises((ModelFormatError, FileNotFoundError)):
        SearchIndex.load(tmp_path / "idx")
    (tmp_path / "idx" / search.USEARCH_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=r"index\.usearch"):
        SearchIndex.load(tmp_path / "idx")
    empty = SearchIndex(dim=8, backend="usearch")
    empty.save(tmp_path / "empty")
    assert len(SearchIndex.load(tmp_path / "empty")) == 0


@needs_usearch
@pytest.mark.parametrize(
    "options",
    [
        {"ef": 3},
        {"connectivity": 0},
        {"expansion_search": 1.5},
        {"threads": -1},
        {"graph_dtype": "int4"},
        {"threads": 2**70},
        {"expansion_search": 2**31},
    ],
)
def test_usearch_bad_options(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="usearch option"):
        SearchIndex(backend="usearch", backend_options=options)


def test_exact_backend_rejects_options() -> None:
    with pytest.raises(ValueError, match="exact backend takes no backend_options"):
        SearchIndex(backend_options={"connectivity": 8})


def test_usearch_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "usearch.index", None)
    with pytest.raises(ImportError, match=r'pip install "model2vec\[ann\]"'):
        SearchIndex(backend="usearch")
