"""Chonkie: `chonkie.embeddings.Model2VecEmbeddings`, `AutoEmbeddings` and the `SemanticChunker`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from model2vec import StaticModel

from .conftest import TEXTS, assert_same_vectors

embeddings_module = pytest.importorskip("chonkie.embeddings", reason="chonkie not installed (make test-integrations)")
pytestmark = pytest.mark.integrations


def test_embed_and_embed_batch_give_our_vectors(model_folder: Path, model: StaticModel) -> None:
    embedder = embeddings_module.Model2VecEmbeddings(str(model_folder))
    assert embedder.dimension == model.dim
    # Chonkie passes `convert_to_numpy=True` (a sentence-transformers argument); encode must accept it.
    assert_same_vectors(embedder.embed(TEXTS[0]), model.encode(TEXTS[0]))
    assert_same_vectors(embedder.embed_batch(TEXTS), model.encode(TEXTS))
    same = embedder.similarity(embedder.embed(TEXTS[0]), embedder.embed(TEXTS[0]))
    assert same == pytest.approx(1.0, abs=1e-6)


def test_wrapping_a_loaded_model(model: StaticModel) -> None:
    embedder = embeddings_module.Model2VecEmbeddings(model)
    assert embedder.model is model
    assert embedder.model_name_or_path == model.base_model_name
    # The tokenizer Chonkie counts tokens with is ours, with padding and truncation off (a padded
    # tokenizer would make every chunk look 16+ tokens long).
    tokenizer = embedder.get_tokenizer()
    assert isinstance(tokenizer, Tokenizer)
    assert tokenizer.padding is None and tokenizer.truncation is None


def test_auto_embeddings_with_provider_prefix(model_folder: Path, model: StaticModel) -> None:
    embedder = embeddings_module.AutoEmbeddings.get_embeddings(f"model2vec://{model_folder}")
    assert isinstance(embedder, embeddings_module.Model2VecEmbeddings)
    assert_same_vectors(embedder.embed_batch(TEXTS), model.encode(TEXTS))


def test_auto_embeddings_does_not_recognise_a_static_model_object(model: StaticModel) -> None:
    # Chonkie matches objects by the case-sensitive substring "Model2Vec" of `str(type(obj))`; the class
    # is `model2vec.model.StaticModel` (as in the reference library), so the lookup fails. Documented
    # workaround: wrap it in `Model2VecEmbeddings(model)` or pass `"model2vec://<path>"`.
    with pytest.raises(ValueError, match="embeddings"):
        embeddings_module.AutoEmbeddings.get_embeddings(model)


def test_semantic_chunker_runs_on_our_model(model_folder: Path) -> None:
    from chonkie import SemanticChunker

    embedder = embeddings_module.Model2VecEmbeddings(str(model_folder))
    chunker = SemanticChunker(embedding_model=embedder, chunk_size=64, threshold=0.5)
    text = (
        "The cat sat on the mat. The dog sat on the mat too. Cats and dogs are pets. "
        "Stock markets fell sharply on Monday. Investors sold shares as prices dropped. "
        "Banks reported losses after the fall."
    )
    chunks = chunker.chunk(text)
    assert chunks and "".join(chunk.text for chunk in chunks) == text
    assert all(0 < chunk.token_count <= 64 for chunk in chunks)
    # Token counts come from our tokenizer (no special tokens, no padding).
    first = chunks[0]
    assert first.token_count == len(embedder.get_tokenizer().encode(first.text, add_special_tokens=False).ids)
    assert np.isfinite(embedder.embed(chunks[0].text)).all()
