"""SpladeLlamaIndexRetriever: the LlamaIndex adapter over the real bundled encoder."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import sys
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Document as LlamaDocument
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers import ResponseMode, get_response_synthesizer
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from langchain_splade import (
    FilterError,
    InvalidInputError,
    InvalidTypeError,
    MissingDependencyError,
    SparseVector,
)
from langchain_splade.bm25 import BM25Index
from langchain_splade.encoders import SpladeEncoder
from langchain_splade.llama_index import SpladeLlamaIndexRetriever
from langchain_splade.retrievers import SpladeRetriever
from langchain_splade.stores.base import Filter
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SearchHit

PASSAGES = {
    "eiffel": "The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
    "louvre": "The Louvre museum in Paris houses the Mona Lisa.",
    "rust": "Rust is a systems programming language focused on memory safety.",
    "volcano": "Mount Etna in Sicily is one of the most active volcanoes in Europe.",
    "insulin": "Insulin is a hormone that lowers blood sugar levels.",
}
TOPICS = {
    "eiffel": "travel",
    "louvre": "art",
    "rust": "software",
    "volcano": "geology",
    "insulin": "medicine",
}
IDS = list(PASSAGES)
TEXTS = [PASSAGES[i] for i in IDS]
METADATAS = [{"topic": TOPICS[i], "year": 2000 + n} for n, i in enumerate(IDS)]


@pytest.fixture(scope="module")
def retriever(encoder: SpladeEncoder) -> SpladeLlamaIndexRetriever:
    return SpladeLlamaIndexRetriever.from_texts(
        TEXTS, METADATAS, IDS, encoder=encoder, similarity_top_k=2
    )


def test_nodes_carry_id_text_metadata_and_score(retriever: SpladeLlamaIndexRetriever) -> None:
    hits = retriever.retrieve("tower in Paris")
    assert len(hits) == 2
    assert all(isinstance(hit, NodeWithScore) and isinstance(hit.node, TextNode) for hit in hits)
    top = hits[0]
    assert top.node.node_id == "eiffel"
    assert top.node.get_content() == PASSAGES["eiffel"]
    assert top.node.metadata["topic"] == "travel"
    assert top.score == pytest.approx(top.node.metadata["score"])
    assert [h.score for h in hits] == sorted((h.score or 0.0 for h in hits), reverse=True)
    terms = top.node.metadata["matched_terms"]
    assert "paris" in terms and "tower" in terms
    assert sum(terms.values()) <= (top.score or 0.0) + 1e-4


def test_same_results_as_the_langchain_retriever(
    retriever: SpladeLlamaIndexRetriever,
) -> None:
    query = "museum with famous paintings"
    documents = retriever.langchain_retriever.invoke(query)
    hits = retriever.retrieve(query)
    assert [h.node.node_id for h in hits] == [d.id for d in documents]
    assert [h.score for h in hits] == [d.metadata["score"] for d in documents]


def test_diagnostics_stay_out_of_the_llm_prompt(retriever: SpladeLlamaIndexRetriever) -> None:
    node = retriever.retrieve("blood sugar hormone")[0].node
    prompt_text = node.get_content(metadata_mode=MetadataMode.LLM)
    assert "topic: medicine" in prompt_text
    assert "matched_terms" not in prompt_text and "score" not in prompt_text


def test_constructor_takes_an_existing_encoder_and_index(encoder: SpladeEncoder) -> None:
    index = LocalSparseIndex()
    index.add(IDS, encoder.embed_documents(TEXTS), TEXTS, METADATAS)
    retriever = SpladeLlamaIndexRetriever(encoder, index, similarity_top_k=1)
    hits = retriever.retrieve("active volcano")
    assert [h.node.node_id for h in hits] == ["volcano"]
    assert retriever.index is index and retriever.encoder is encoder


def test_filter_and_top_k(encoder: SpladeEncoder, retriever: SpladeLlamaIndexRetriever) -> None:
    filtered = SpladeLlamaIndexRetriever(
        encoder, retriever.index, similarity_top_k=5, filter={"topic": {"$in": ["art", "software"]}}
    )
    hits = filtered.retrieve("Paris")
    assert {h.node.metadata["topic"] for h in hits} <= {"art", "software"}
    assert "eiffel" not in [h.node.node_id for h in hits]
    filtered.similarity_top_k = 1
    assert len(filtered.retrieve("Paris")) == 1


def test_score_threshold_drops_weak_hits(encoder: SpladeEncoder) -> None:
    index = SpladeLlamaIndexRetriever.from_texts(TEXTS, METADATAS, IDS, encoder=encoder).index
    strict = SpladeLlamaIndexRetriever(encoder, index, similarity_top_k=5, score_threshold=1e9)
    assert strict.retrieve("Paris") == []


def test_from_nodes_add_nodes_and_delete(encoder: SpladeEncoder) -> None:
    documents = [
        LlamaDocument(text=text, metadata=meta, id_=doc_id)
        for doc_id, text, meta in zip(IDS[:3], TEXTS[:3], METADATAS[:3])
    ]
    retriever = SpladeLlamaIndexRetriever.from_nodes(documents, encoder=encoder)
    assert len(retriever.index) == 3
    retriever.add_nodes([TextNode(text=TEXTS[4], id_="insulin", metadata={"topic": "medicine"})])
    assert retriever.retrieve("hormone for blood sugar")[0].node.node_id == "insulin"
    assert retriever.delete(["insulin", "unknown"]) == 1
    assert len(retriever.index) == 3


def test_from_langchain_shares_index_and_settings(encoder: SpladeEncoder) -> None:
    lc = SpladeRetriever.from_texts(
        TEXTS, METADATAS, IDS, encoder=encoder, k=3, filter={"topic": "art"}
    )
    li = SpladeLlamaIndexRetriever.from_langchain(lc, similarity_top_k=1)
    assert li.index is lc.index and li.similarity_top_k == 1
    assert [h.node.node_id for h in li.retrieve("Paris")] == ["louvre"]
    with pytest.raises(InvalidTypeError):
        SpladeLlamaIndexRetriever.from_langchain("not a retriever")  # type: ignore[arg-type]


class _LexicalIndex(LocalSparseIndex):
    """A local index with BM25 (over its stored texts), for the hybrid options."""

    def bm25_search(
        self, query_text: str, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        stored = self.get(self.ids())
        bm25 = BM25Index.from_texts([d.id for d in stored], [d.text or "" for d in stored])
        ids, scores = bm25.search(query_text, k=k)
        by_id = {d.id: d for d in stored}
        return [
            SearchHit(i, s, by_id[i].text, by_id[i].metadata, by_id[i].vector)
            for i, s in zip(ids, scores)
        ]


def test_retriever_options_pass_through(encoder: SpladeEncoder) -> None:
    retriever = SpladeLlamaIndexRetriever.from_texts(
        TEXTS,
        METADATAS,
        IDS,
        encoder=encoder,
        index=_LexicalIndex(),
        similarity_top_k=2,
        mode="hybrid",
    )
    hits = retriever.retrieve("Eiffel Tower")
    assert hits[0].node.node_id == "eiffel"
    assert "fusion" in hits[0].node.metadata
    assert "fusion" not in hits[0].node.get_content(metadata_mode=MetadataMode.LLM)
    copy = SpladeLlamaIndexRetriever.from_langchain(retriever.langchain_retriever)
    assert [(h.node.node_id, h.score) for h in copy.retrieve("Eiffel Tower")] == [
        (h.node.node_id, h.score) for h in hits
    ]


def test_bad_arguments_raise_typed_errors(
    encoder: SpladeEncoder, retriever: SpladeLlamaIndexRetriever
) -> None:
    with pytest.raises(InvalidInputError, match="similarity_top_k"):
        SpladeLlamaIndexRetriever.from_texts(TEXTS, encoder=encoder, similarity_top_k=0)
    with pytest.raises(FilterError):
        SpladeLlamaIndexRetriever.from_texts(TEXTS, encoder=encoder, filter={"year": {"$bad": 1}})
    with pytest.raises(InvalidTypeError):
        SpladeLlamaIndexRetriever(encoder, {"not": "an index"})  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError):
        retriever.similarity_top_k = "3"  # type: ignore[assignment]
    with pytest.raises(InvalidTypeError):
        retriever.add_nodes(["plain string"])  # type: ignore[list-item]


async def test_async_equals_sync(retriever: SpladeLlamaIndexRetriever) -> None:
    query = "programming language"
    sync_hits = retriever.retrieve(query)
    async_hits = await retriever.aretrieve(QueryBundle(query))
    assert [(h.node.node_id, h.score) for h in async_hits] == [
        (h.node.node_id, h.score) for h in sync_hits
    ]


class _AsyncIndex(LocalSparseIndex):
    """A local index with a native ``asearch``, recording that it was used."""

    def __init__(self) -> None:
        super().__init__()
        self.async_calls = 0

    async def asearch(
        self, query: SparseVector, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        self.async_calls += 1
        await asyncio.sleep(0)
        return self.search(query, k=k, filter=filter)


async def test_aretrieve_uses_the_native_async_search(encoder: SpladeEncoder) -> None:
    index = _AsyncIndex()
    retriever = SpladeLlamaIndexRetriever.from_texts(
        TEXTS, METADATAS, IDS, encoder=encoder, index=index
    )
    hits = await retriever.aretrieve("Sicily volcano")
    assert hits[0].node.node_id == "volcano"
    assert index.async_calls == 1


def test_in_a_query_engine_with_an_offline_llm(retriever: SpladeLlamaIndexRetriever) -> None:
    synthesizer = get_response_synthesizer(
        llm=MockLLM(max_tokens=8), response_mode=ResponseMode.COMPACT
    )
    engine = RetrieverQueryEngine(retriever=retriever, response_synthesizer=synthesizer)
    response = engine.query("Where is the Mona Lisa?")
    assert response.source_nodes[0].node.node_id == "louvre"
    assert isinstance(str(response), str) and str(response)


async def test_query_engine_async(retriever: SpladeLlamaIndexRetriever) -> None:
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM(max_tokens=8))
    response = await engine.aquery("memory safe systems language")
    assert response.source_nodes[0].node.node_id == "rust"


def test_missing_extra_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "llama_index.core" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.delitem(sys.modules, "langchain_splade.llama_index", raising=False)
    hint = r"pip install 'langchain-splade\[llamaindex\]'"
    with pytest.raises(MissingDependencyError, match=hint):
        importlib.import_module("langchain_splade.llama_index")
