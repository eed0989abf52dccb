"""Call forms of other model2vec versions and their dependents, and warnings for unknown keywords."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel

from .conftest import make_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_model(normalize=True).save_pretrained(tmp_path / "model")


def test_from_pretrained_takes_model_name(folder: Path) -> None:
    model = StaticModel.from_pretrained(model_name=str(folder))
    np.testing.assert_array_equal(model.encode(["the cat"]), StaticModel.from_pretrained(folder).encode(["the cat"]))
    with pytest.raises(TypeError, match="needs the model"):
        StaticModel.from_pretrained()
    with pytest.raises(TypeError, match="pass one"):
        StaticModel.from_pretrained(folder, model_name="other")


def test_classifier_from_pretrained_takes_model_name_and_out_dim(folder: Path) -> None:
    pytest.importorskip("torch")
    from model2vec.train import StaticModelForClassification

    classifier = StaticModelForClassification.from_pretrained(model_name=str(folder), out_dim=3)
    assert classifier.out_dim == 3
    with pytest.raises(TypeError, match="needs the model"):
        StaticModelForClassification.from_pretrained(out_dim=3)


def test_misspelt_keywords_warn_with_the_closest_name(folder: Path) -> None:
    with pytest.warns(UserWarning, match=r"'normalise'.*did you mean 'normalize'"):
        StaticModel.from_pretrained(folder, normalise=False)
    model = make_model()
    with pytest.warns(UserWarning, match=r"'max_lenght'.*did you mean 'max_length'"):
        model.encode(["the cat"], max_lenght=1)
    with pytest.warns(UserWarning, match=r"'batchsize'.*did you mean 'batch_size'"):
        list(model.encode_iter(["the cat"], batchsize=1))
    with pytest.warns(UserWarning, match=r"'max_lenght'"):
        model.encode_as_sequence("the cat", max_lenght=1)
    with pytest.warns(UserWarning, match=r"'zzz'.*ignored\.$"):
        model.encode("the cat", zzz=1)


def test_warning_points_at_the_callers_line() -> None:
    model = make_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.encode(["the cat"], max_lenght=1)
        model.encode("the cat", max_lenght=1)
    assert [Path(w.filename).name for w in caught] == ["test_call_forms.py"] * 2


def test_known_compatibility_keywords_are_accepted_silently(folder: Path) -> None:
    model = make_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.encode(["the cat"], convert_to_numpy=True, task_name="STSBenchmark", prompt_type="query", device="cpu")
        list(model.encode_iter(["the cat"], show_progress_bar=False, convert_to_numpy=True))
        StaticModel.from_pretrained(folder, device="cpu", trust_remote_code=False, revision="main")


def test_normalize_embeddings_true_normalises() -> None:
    model = make_model(normalize=False)
    out = model.encode(["the cat sat"], normalize_embeddings=True)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(model.encode(["the cat"], normalize_embeddings=False), model.encode(["the cat"]))


def test_python_dash_m_model2vec(folder: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "model2vec", "info", str(folder)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "dim" in result.stdout


def test_python_dash_m_model2vec_distill_takes_upstream_flags(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "model2vec.distill", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    for flag in ("--model-name", "--save-path", "--vocabulary-path"):
        assert flag in result.stdout
