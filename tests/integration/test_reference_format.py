"""Folders written by the reference ecosystem load and reproduce its golden embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel

from ..conftest import require_reference_format

pytestmark = pytest.mark.integration

FOLDERS = ["m2v-minilm-l6-fp16", "potion-int8-128d"]


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    root = require_reference_format()
    return list(json.loads((root / "golden_sentences.json").read_text())["sentences"])


@pytest.mark.parametrize("name", FOLDERS)
def test_golden_embeddings(name: str, sentences: list[str]) -> None:
    root = require_reference_format()
    model = StaticModel.from_pretrained(root / name)
    golden = np.load(root / f"{name}.golden.npy")
    assert golden.shape == (len(sentences), model.dim)
    one_by_one = np.stack([model.encode([s])[0] for s in sentences])
    batched = model.encode(sentences)
    np.testing.assert_array_equal(one_by_one, batched)
    zero = ~golden.any(axis=1)
    assert zero.any()  # the fixture has empty inputs
    np.testing.assert_array_equal(batched[zero], 0)
    ours, ref = batched[~zero], golden[~zero]
    cosine = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    assert cosine.min() >= 0.9999, np.argsort(cosine)[:5]


@pytest.mark.parametrize("name", FOLDERS)
def test_reference_folder_round_trip(name: str, sentences: list[str], tmp_path: Path) -> None:
    root = require_reference_format()
    model = StaticModel.from_pretrained(root / name)
    model.save_pretrained(tmp_path / name)
    again = StaticModel.from_pretrained(tmp_path / name)
    assert again.embedding_dtype == model.embedding_dtype
    np.testing.assert_array_equal(again.encode(sentences), model.encode(sentences))


def test_sentence_transformers_loads_our_float_model(tmp_path: Path) -> None:
    root = require_reference_format()
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers (dev extra) not installed")
    from model2vec import quantize_model

    model = quantize_model(StaticModel.from_pretrained(root / "m2v-minilm-l6-fp16"), quantize_to="float32")
    model.save_pretrained(tmp_path / "m")
    # sentence-transformers keeps unknown tokens in its mean while model2vec drops them, so the texts
    # here are ones whose tokens are all known.
    texts = ["The cat sat on the mat.", "Stock markets fell sharply.", "naïve café 日本", "[CLS] hello world " * 40]
    assert all(model.unk_token_id not in ids for ids in model.tokenize(texts))
    theirs = st.SentenceTransformer(str(tmp_path / "m"), device="cpu").encode(texts)
    ours = model.encode(texts)
    np.testing.assert_allclose(theirs, ours, atol=1e-5)
