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


class TestElasticsearchSpladeVectorStore(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(  # type: ignore[override]
        self, encoder: SpladeEncoder, elasticsearch_url: str
    ) -> Iterator[VectorStore]:
        from langchain_splade.stores.elasticsearch import ElasticsearchSparseIndex

        index = ElasticsearchSparseIndex(f"vs-{uuid.uuid4().hex[:12]}", url=elasticsearch_url)
        yield from _store(index, encoder)
