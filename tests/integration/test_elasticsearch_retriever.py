"""SpladeRetriever and the LlamaIndex retriever work unchanged on ElasticsearchSparseIndex:
the same answers as the local index, hybrid fusion, async, and LangChain's standard tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.retrievers import SpladeRetriever
from langchain_splade.stores.elasticsearch import ElasticsearchSparseIndex
from langchain_splade.stores.local import LocalSparseIndex

pytest.importorskip("elasticsearch")

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
QUERIES = ["heart attack", "mercury planet", "snake", "programming language"]


@pytest.fixture(scope="module")
def shared_index(elasticsearch_url: str, encoder: SpladeEncoder) -> Iterator[str]:
    """One index with the texts above, built through the retriever."""
    name = f"test-es-retriever-{uuid.uuid4().hex[:8]}"
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url)
    SpladeRetriever.from_texts(TEXTS, METADATAS, IDS, encoder=encoder, index=index)
    yield name
    index.clear()
    index.close()


@pytest.fixture(scope="module")
def local(encoder: SpladeEncoder) -> LocalSparseIndex:
    index = LocalSparseIndex()
    SpladeRetriever.from_texts(TEXTS, METADATAS, IDS, encoder=encoder, index=index)
    return index


@pytest.mark.parametrize("mode", ["sparse", "bm25", "hybrid"])
def test_same_answers_as_the_local_index(
    elasticsearch_url: str,
    shared_index: str,
    local: LocalSparseIndex,
    encoder: SpladeEncoder,
    mode: str,
) -> None:
    remote = ElasticsearchSparseIndex(shared_index, url=elasticsearch_url, rescore=True)
    ours = SpladeRetriever(encoder=encoder, index=remote, k=3, mode=mode)
    theirs = SpladeRetriever(encoder=encoder, index=local, k=3, mode=mode)
    for query in QUERIES:
        got, expected = ours.invoke(query), theirs.invoke(query)
        if mode != "sparse":
            # Lucene's BM25 and the local one differ in details: the best document agrees,
            # and hybrid hits carry each component's rank and score
            assert got[0].id == expected[0].id, query
            if mode == "hybrid":
                components = got[0].metadata["fusion"]
                assert set(components) <= {"sparse", "bm25"} and "sparse" in components
            continue
        assert [d.id for d in got] == [d.id for d in expected], query
        assert [d.page_content for d in got] == [d.page_content for d in expected]
        assert got[0].metadata["matched_terms"] == expected[0].metadata["matched_terms"]
    docs = ours.invoke("mercury", filter={"topic": "chemistry"})
    assert [d.id for d in docs] == ["d5"]
    remote.close()


async def test_async_retriever_hybrid_and_filter(
    elasticsearch_url: str, shared_index: str, encoder: SpladeEncoder
) -> None:
    index = ElasticsearchSparseIndex(shared_index, url=elasticsearch_url)
    retriever = SpladeRetriever(encoder=encoder, index=index, k=2, mode="hybrid")
    try:
        docs = await retriever.ainvoke("heart attack")
        assert docs[0].id == "d0" and len(docs) == 2
        assert "fusion" in docs[0].metadata
        docs = await retriever.ainvoke("blood", filter={"year": {"$gte": 2020}})
        assert docs and all(d.metadata["year"] >= 2020 for d in docs)
    finally:
        await index.aclose()


async def test_llama_index_retriever(
    elasticsearch_url: str, shared_index: str, encoder: SpladeEncoder
) -> None:
    pytest.importorskip("llama_index.core")
    from langchain_splade.llama_index import SpladeLlamaIndexRetriever

    index = ElasticsearchSparseIndex(shared_index, url=elasticsearch_url)
    retriever = SpladeLlamaIndexRetriever(encoder, index, similarity_top_k=2)
    nodes = retriever.retrieve("snake")
    assert nodes[0].node.node_id == "d3" and len(nodes) == 2
    assert nodes[0].score is not None and nodes[0].score > 0
    anodes = await retriever.aretrieve("snake")
    assert [n.node.node_id for n in anodes] == [n.node.node_id for n in nodes]
    await index.aclose()
    index.close()


class TestElasticsearchStandardRetriever(RetrieversIntegrationTests):
    """LangChain's own retriever contract against the Elasticsearch backend."""

    _params: dict[str, Any]

    @pytest.fixture(autouse=True)
    def _connect(self, elasticsearch_url: str, shared_index: str, encoder: SpladeEncoder) -> None:
        type(self)._params = {
            "encoder": encoder,
            "index": ElasticsearchSparseIndex(shared_index, url=elasticsearch_url),
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
