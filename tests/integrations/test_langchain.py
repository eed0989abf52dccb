"""LangChain: `langchain_community.embeddings.Model2vecEmbeddings` with our model folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from model2vec import StaticModel

from .conftest import TEXTS, assert_same_vectors

embeddings_module = pytest.importorskip(
    "langchain_community.embeddings", reason="langchain-community not installed (make test-integrations)"
)
pytestmark = pytest.mark.integrations


def test_embed_documents_and_query_give_our_vectors(model_folder: Path, model: StaticModel) -> None:
    embedder = embeddings_module.Model2vecEmbeddings(str(model_folder))
    documents = embedder.embed_documents(TEXTS)
    # LangChain's contract is plain Python lists of floats (JSON-serialisable), not arrays.
    assert isinstance(documents, list) and all(isinstance(v, float) for v in documents[0])
    assert_same_vectors(documents, model.encode(TEXTS))
    query = embedder.embed_query(TEXTS[0])
    assert isinstance(query, list) and len(query) == model.dim
    assert_same_vectors(query, model.encode(TEXTS[0]))


def test_in_memory_vector_store_finds_the_document(model_folder: Path) -> None:
    from langchain_core.vectorstores import InMemoryVectorStore

    store = InMemoryVectorStore(embedding=embeddings_module.Model2vecEmbeddings(str(model_folder)))
    store.add_texts(TEXTS)
    for text in TEXTS:
        (hit,) = store.similarity_search(text, k=1)
        assert hit.page_content == text


def test_empty_document_list(model_folder: Path) -> None:
    # Vector stores call embed_documents([]) when given nothing to add.
    embedder = embeddings_module.Model2vecEmbeddings(str(model_folder))
    assert embedder.embed_documents([]) == []
    # A text without known tokens is a zero vector (not NaN), also after normalisation.
    assert embedder.embed_query("") == [0.0] * len(embedder.embed_query("hello"))
