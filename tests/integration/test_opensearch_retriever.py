"""SpladeRetriever works unchanged on OpenSearchSparseIndex (sync, async, standard tests)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.errors import IncompatibleIndexError
from langchain_splade.retrievers import SpladeRetriever
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.stores.opensearch import OpenSearchSparseIndex
from langchain_splade.types import EncoderFingerprint

TEXTS = [
    "Myocardial infarction happens when blood flow to the heart muscle is blocked.",
    "A stroke occurs when blood supply to part of the brain is interrupted.",
    "Python is a programming language known for readable code.",
    "The ball python is a constricting snake native to West Africa.",
    "Mercury is the planet closest to the Sun.",
    "Mercury is a toxic metal that is liquid at room temperature.",
]
METADATAS = [
    {"topic": "medicine", "year": 2019},
    {"topic": "medicine", "year": 2022},
    {"topic": "programming", "year": 2021},
    {"topic": "animals", "year": 2018},
    {"topic": "astronomy", "year": 2020},
    {"topic": "chemistry", "year": 2017},
]
IDS = [f"d{i}" for i in range(len(TEXTS))]


@pytest.fixture(scope="module")
def shared_index(opensearch_url: str, os_client: Any, encoder: SpladeEncoder) -> Iterator[str]:
    """One index with the texts above, built through the retriever."""
    name = f"test-retriever-{uuid.uuid4().hex[:8]}"
    SpladeRetriever.from_texts(
        TEXTS,
        METADATAS,
        IDS,
        encoder=encoder,
        index=OpenSearchSparseIndex(name, url=opensearch_url),
    )
    yield name
    os_client.indices.delete(index=name, ignore_unavailable=True)


def test_from_texts_same_results_as_local_index(
    opensearch_url: str, shared_index: str, encoder: SpladeEncoder
) -> None:
    remote = SpladeRetriever(
        encoder=encoder,
        index=OpenSearchSparseIndex(shared_index, url=opensearch_url, rescore=True),
        k=3,
    )
    local = SpladeRetriever.from_texts(
        TEXTS, METADATAS, IDS, encoder=encoder, index=LocalSparseIndex(), k=3
    )
    for query in ["heart attack", "mercury planet", "snake", "programming language"]:
        ours, theirs = remote.invoke(query), local.invoke(query)
        assert [d.id for d in ours] == [d.id for d in theirs]
        assert [d.page_content for d in ours] == [d.page_content for d in theirs]
        assert ours[0].metadata["matched_terms"] == theirs[0].metadata["matched_terms"]
    docs = remote.invoke("mercury", filter={"topic": "chemistry"})
    assert [d.id for d in docs] == ["d5"]


async def test_async_retriever_and_filter(
    opensearch_url: str, shared_index: str, encoder: SpladeEncoder
) -> None:
    index = OpenSearchSparseIndex(shared_index, url=opensearch_url)
    retriever = SpladeRetriever(encoder=encoder, index=index, k=2)
    try:
        docs = await retriever.ainvoke("heart attack")
        assert docs[0].id == "d0" and len(docs) == 2
        docs = await retriever.ainvoke("blood", filter={"year": {"$gte": 2020}})
        assert docs[0].id == "d1"
        assert all(d.metadata["year"] >= 2020 for d in docs)
    finally:
        await index.aclose()


def test_index_refuses_another_encoder(opensearch_url: str, shared_index: str) -> None:
    index = OpenSearchSparseIndex(shared_index, url=opensearch_url)
    with pytest.raises(IncompatibleIndexError):
        index.check_encoder(EncoderFingerprint("other-model", "0" * 16, 30522))


class TestOpenSearchStandardRetriever(RetrieversIntegrationTests):
    """LangChain's own retriever contract against the OpenSearch backend."""

    _params: dict[str, Any]

    @pytest.fixture(autouse=True)
    def _connect(self, opensearch_url: str, shared_index: str, encoder: SpladeEncoder) -> None:
        type(self)._params = {
            "encoder": encoder,
            "index": OpenSearchSparseIndex(shared_index, url=opensearch_url),
        }

    @property
    def retriever_constructor(self) -> type[SpladeRetriever]:
        return SpladeRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def retriever_query_example(self) -> str:
        return "what is mercury"
