"""LangChain's standard ``VectorStoreIntegrationTests`` (sync and async) on the local index.

The suite's documents ("foo", "bar", "baz", ...) all share terms under the bundled
model (its expansion gives every text terms such as "and" and "is"), so each standard
search returns every document it expects and no test is skipped: the store never fills
``k`` with zero-score documents (see ``test_vectorstore.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests.vectorstores import VectorStoreIntegrationTests

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.vectorstores import SpladeVectorStore


class TestLocalSpladeVectorStore(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, encoder: SpladeEncoder) -> Iterator[VectorStore]:  # type: ignore[override]
        store = SpladeVectorStore(index=LocalSparseIndex(), encoder=encoder)
        yield store
        store.index.close()
