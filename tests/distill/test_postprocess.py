"""PCA, token weights and option validation: pure functions on small arrays."""

from __future__ import annotations

import numpy as np
import pytest

from model2vec.distill.postprocess import (
    apply_pca,
    count_corpus_tokens,
    count_probabilities,
    counts_for_tokens,
    fit_pca,
    resolve_pca_dims,
    sif_weights,
    validate_sif_coefficient,
    zipf_probabilities,
)


def _data(rows: int = 200, width: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Distinct variances per direction so that the components are well defined.
    return (rng.normal(size=(rows, width)) * np.linspace(5.0, 0.5, width)).astype(np.float32)


def test_pca_matches_sklearn_up_to_sign_and_fixes_signs() -> None:
    PCA = pytest.importorskip("sklearn.decomposition").PCA  # noqa: N806

    data = _data()
    ours = fit_pca(data, 5)
    theirs = PCA(n_components=5, svd_solver="full").fit(data.astype(np.float64))
    projected = theirs.transform(data.astype(np.float64))
    for k in range(5):
        assert abs(np.corrcoef(ours.vectors[:, k], projected[:, k])[0, 1]) > 0.9999
        # Our sign rule: the largest-magnitude projection is positive.
        assert ours.vectors[np.argmax(np.abs(ours.vectors[:, k])), k] > 0
    np.testing.assert_allclose(ours.explained_variance_ratio, theirs.explained_variance_ratio_, rtol=1e-6)


def test_pca_signs_do_not_depend_on_input_sign() -> None:
    data = _data()
    np.testing.assert_allclose(fit_pca(data, 4).vectors, fit_pca(-data, 4).vectors, atol=1e-5)


def test_pca_float_keeps_enough_variance() -> None:
    data = _data()
    result = fit_pca(data, 0.9)
    kept = result.explained_variance_ratio.sum()
    assert kept >= 0.9
    assert result.explained_variance_ratio[:-1].sum() < 0.9  # no more components than needed


def test_apply_pca_auto_none_and_int() -> None:
    data = _data()
    rotated = apply_pca(data, "auto")
    assert rotated.shape == data.shape
    # A rotation of centred data keeps pairwise distances.
    np.testing.assert_allclose(np.linalg.norm(rotated[0] - rotated[1]), np.linalg.norm(data[0] - data[1]), rtol=1e-4)
    assert apply_pca(data, None).dtype == np.float32
    np.testing.assert_array_equal(apply_pca(data, None), data)
    assert apply_pca(data, 3).shape == (200, 3)


def test_pca_dims_larger_than_width_warns_and_clamps() -> None:
    data = _data(width=6)
    with pytest.warns(UserWarning, match="larger than the teacher's width"):
        assert apply_pca(data, 10).shape == (200, 6)
    with pytest.warns(UserWarning, match="larger than the number of tokens"):
        assert resolve_pca_dims(8, n_rows=5, width=10) == 5


@pytest.mark.parametrize("bad", [0, -3, 1.5, 0.0, "all", True, [2]])
def test_bad_pca_dims(bad: object) -> None:
    with pytest.raises(ValueError):
        resolve_pca_dims(bad, n_rows=10, width=10)  # type: ignore[arg-type]


def test_zipf_probabilities_follow_rank() -> None:
    p = zipf_probabilities(5)
    assert p.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(p[0] / p[1], 3 / 2)  # ranks 1 and 2 with offset 1: (2+1)/(1+1)
    assert np.all(np.diff(p) < 0)
    assert zipf_probabilities(0).size == 0


def test_sif_weights_formula_and_validation() -> None:
    p = np.array([0.5, 0.01, 0.0])
    np.testing.assert_allclose(sif_weights(p, 0.01), [0.01 / 0.51, 0.5, 1.0])
    for bad in (0.0, 1.0, -0.1, 2.0):
        with pytest.raises(ValueError, match="between 0 and 1"):
            validate_sif_coefficient(bad)
    assert validate_sif_coefficient(None) is None


def test_count_probabilities_smooth_unseen_tokens() -> None:
    p = count_probabilities(np.array([8.0, 0.0, 1.0]))
    np.testing.assert_allclose(p, [9 / 12, 1 / 12, 2 / 12])
    with pytest.raises(ValueError):
        count_probabilities(np.array([1.0, -1.0]))


def test_counts_for_tokens_and_corpus_counts() -> None:
    np.testing.assert_array_equal(counts_for_tokens(["a", "b", "c"], {"b": 3, "z": 9}), [0, 3, 0])
    counts = count_corpus_tokens([np.array([0, 2, 2]), np.array([1])], vocab_size=4)
    np.testing.assert_array_equal(counts, [1, 1, 2, 0])
