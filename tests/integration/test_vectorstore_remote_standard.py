"""LangChain's standard ``VectorStoreIntegrationTests`` (sync and async) on a real
OpenSearch node and a real Elasticsearch node (the session fixtures in
``tests/conftest.py``); each test gets a fresh index, deleted afterwards.

No test is skipped: the suite's texts share terms under the bundled model, so every
search returns the documents the suite expects without filling ``k`` with zero-score
documents (see ``tests/unit/test_vectorstore.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests.vectorstores import VectorStoreIntegrationTests

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.vectorstores import SpladeVectorStore


def _check_mmr_filters_and_retriever(store: VectorStore) -> None:
    """What the standard suite leaves out: MMR (hit vectors from the backend), the filter
    dialect, and ``as_retriever`` over the remote index."""
    assert isinstance(store, SpladeVectorStore)
    store.add_texts(
        [
            "A heart attack happens when blood cannot reach the heart.",
            "A heart attack happens when blood cannot reach the heart muscle.",
            "Chest pain and shortness of breath are symptoms of a heart attack.",
        ],
        [{"kind": "cause"}, {"kind": "cause"}, {"kind": "symptom"}],
        ids=["a", "a-copy", "symptoms"],
    )
    # The two copies score within 0.04 %: 9-bit stored weights may swap them (no rescore).
    plain = [d.id for d in store.similarity_search("heart attack", k=3)]
    assert set(plain[:2]) == {"a", "a-copy"} and plain[2] == "symptoms"
    diverse = store.max_marginal_relevance_search("heart attack", k=3, fetch_k=3)
    assert [d.id for d in diverse] == [plain[0], "symptoms", plain[1]]  # the copy demoted
    found = store.similarity_search("heart attack", k=3, filter={"kind": {"$ne": "cause"}})
    assert [d.id for d in found] == ["symptoms"]
    retriever = store.as_retriever(mode="hybrid", search_kwargs={"k": 1})
    assert [d.id for d in retriever.invoke("chest pain")] == ["symptoms"]


def _store(index: Any, encoder: SpladeEncoder) -> Iterator[VectorStore]:
    store = SpladeVectorStore(index=index, encoder=encoder)
    try:
        yield store
    finally:
        index.clear()
        index.close()


class TestOpenSearchSpladeVectorStore(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(  # type: ignore[override]
        self, encoder: SpladeEncoder, opensearch_url: str
    ) -> Iterator[VectorStore]:
        from langchain_splade.stores.opensearch import OpenSearchSparseIndex

        index = OpenSearchSparseIndex(f"vs-{uuid.uuid4().hex[:12]}", url=opensearch_url)
        yield from _store(index, encoder)

    def test_mmr_filters_and_retriever(self, vectorstore: VectorStore) -> None:
        _check_mmr_filters_and_retriever(vectorstore)


class TestElasticsearchSpladeVectorStore(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(  # type: ignore[override]
        self, encoder: SpladeEncoder, elasticsearch_url: str
    ) -> Iterator[VectorStore]:
        from langchain_splade.stores.elasticsearch import ElasticsearchSparseIndex

        index = ElasticsearchSparseIndex(f"vs-{uuid.uuid4().hex[:12]}", url=elasticsearch_url)
        yield from _store(index, encoder)

    def test_mmr_filters_and_retriever(self, vectorstore: VectorStore) -> None:
        _check_mmr_filters_and_retriever(vectorstore)
