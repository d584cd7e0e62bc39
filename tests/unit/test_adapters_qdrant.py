"""The adapters in real Qdrant collections (qdrant-client's embedded local mode, no server).

langchain-qdrant SPARSE and HYBRID (with LangChain's deterministic fake dense
embedding), in memory and in a folder that survives a reopen, and LlamaIndex's
QdrantVectorStore with ``enable_hybrid=True``. The parity test checks that Qdrant's
sparse top-10 over the bundled sample corpus is the local index's exact top-10
(same vectors), scores included.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from langchain_splade.demo import sample_documents, sample_queries
from langchain_splade.encoders import SpladeEncoder
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SparseVector

pytest.importorskip("langchain_qdrant")
pytest.importorskip("llama_index.vector_stores.qdrant")

from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_qdrant import QdrantVectorStore, RetrievalMode
from qdrant_client import QdrantClient

from langchain_splade.adapters import LlamaIndexSparseEmbedding, QdrantSparseEmbeddings

Ranked = list[tuple[str, float]]


@pytest.fixture(scope="module")
def splade(encoder: SpladeEncoder) -> QdrantSparseEmbeddings:
    return QdrantSparseEmbeddings(encoder)


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    """The sample corpus; ids move to metadata (Qdrant point ids must be ints or UUIDs)."""
    return [
        Document(page_content=d.page_content, metadata={"doc_id": d.id}) for d in sample_documents()
    ]


@pytest.fixture(scope="module")
def doc_vectors(encoder: SpladeEncoder, documents: list[Document]) -> list[SparseVector]:
    return encoder.embed_documents([d.page_content for d in documents])


@pytest.fixture(scope="module")
def local(documents: list[Document], doc_vectors: list[SparseVector]) -> LocalSparseIndex:
    index = LocalSparseIndex()
    index.add([d.metadata["doc_id"] for d in documents], doc_vectors)
    return index


@pytest.fixture(scope="module")
def sparse_store(splade: QdrantSparseEmbeddings, documents: list[Document]) -> QdrantVectorStore:
    return QdrantVectorStore.from_documents(
        documents,
        embedding=None,
        sparse_embedding=splade,
        retrieval_mode=RetrievalMode.SPARSE,
        location=":memory:",
        collection_name="sample",
    )


def _same_up_to_ties(expected: Ranked, got: Ranked, rtol: float = 1e-5) -> None:
    """Same scores rank by rank; same ids except among documents with tied scores."""
    assert len(got) == len(expected)
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=rtol)
    if not expected:
        return
    cutoff = expected[-1][1] * (1 + rtol)  # above the last score: no tie at the cut-off
    assert {i for i, s in got if s > cutoff} == {i for i, s in expected if s > cutoff}
    for (exp_id, exp_score), (got_id, _) in zip(expected, got):
        if exp_id != got_id:  # a swap is only allowed between tied documents
            tied = [s for i, s in expected if i == got_id]
            assert tied and np.isclose(tied[0], exp_score, rtol=rtol), (expected, got)


def _ranked(pairs: Sequence[tuple[Document, float]]) -> Ranked:
    return [(doc.metadata["doc_id"], float(score)) for doc, score in pairs]


def test_sparse_top10_equals_the_local_exact_top10(
    sparse_store: QdrantVectorStore, local: LocalSparseIndex, encoder: SpladeEncoder
) -> None:
    queries = [q["text"] for q in sample_queries()]
    assert len(queries) >= 40
    for query, query_vector in zip(queries, encoder.embed_queries(queries)):
        expected = [(hit.id, hit.score) for hit in local.search(query_vector, k=10)]
        got = _ranked(sparse_store.similarity_search_with_score(query, k=10))
        _same_up_to_ties(expected, got)


def test_sparse_score_is_the_explained_dot_product(
    sparse_store: QdrantVectorStore, splade: QdrantSparseEmbeddings
) -> None:
    query = "heart attack warning signs"
    (document, score), *_ = sparse_store.similarity_search_with_score(query, k=3)
    terms = splade.explain(query, document.page_content, top_k=None)
    assert sum(t.contribution for t in terms) == pytest.approx(score, rel=1e-5)


async def test_async_add_and_search(splade: QdrantSparseEmbeddings) -> None:
    store = QdrantVectorStore.construct_instance(
        embedding=None,
        retrieval_mode=RetrievalMode.SPARSE,
        sparse_embedding=splade,
        collection_name="async",
        client_options={"location": ":memory:"},
    )
    ids = await store.aadd_texts(
        ["Aspirin thins the blood.", "Tomatoes are a fruit.", ""],
        metadatas=[{"n": i} for i in range(3)],
    )
    assert len(ids) == 3
    hits = await store.asimilarity_search_with_score("blood thinner", k=3)
    # Only documents sharing a term score above zero; the empty one matches nothing.
    assert hits[0][0].metadata["n"] == 0
    assert all(doc.metadata["n"] != 2 for doc, _ in hits)
    store.client.close()


def test_hybrid_in_a_folder_survives_reopening(
    splade: QdrantSparseEmbeddings, documents: list[Document], tmp_path: Path
) -> None:
    dense = DeterministicFakeEmbedding(size=16)
    path = str(tmp_path / "qdrant")
    store = QdrantVectorStore.from_documents(
        documents[:40],
        embedding=dense,
        sparse_embedding=splade,
        retrieval_mode=RetrievalMode.HYBRID,
        path=path,
        collection_name="hybrid",
    )
    query = "planet closest to the Sun"
    hybrid = _ranked(store.similarity_search_with_score(query, k=5))
    sparse_only = QdrantVectorStore(
        client=store.client,
        collection_name="hybrid",
        embedding=dense,
        sparse_embedding=splade,
        retrieval_mode=RetrievalMode.SPARSE,
    )
    best_sparse = sparse_only.similarity_search(query, k=1)[0]
    assert "Mercury" in best_sparse.page_content
    # Reciprocal-rank fusion keeps the sparse winner among the fused top-5.
    assert best_sparse.metadata["doc_id"] in [doc_id for doc_id, _ in hybrid]
    store.client.close()

    reopened = QdrantVectorStore(
        client=QdrantClient(path=path),
        collection_name="hybrid",
        embedding=dense,
        sparse_embedding=splade,
        retrieval_mode=RetrievalMode.HYBRID,
    )
    assert _ranked(reopened.similarity_search_with_score(query, k=5)) == hybrid
    reopened.client.close()


@pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
def test_llama_index_qdrant_hybrid(
    encoder: SpladeEncoder, documents: list[Document], doc_vectors: list[SparseVector]
) -> None:
    from llama_index.core import MockEmbedding, StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode
    from llama_index.vector_stores.qdrant import QdrantVectorStore as LlamaQdrant

    subset = documents[:40]
    local = LocalSparseIndex()
    local.add([d.metadata["doc_id"] for d in subset], doc_vectors[:40])
    # Qdrant point ids must be UUIDs (or ints): derive them from the document ids.
    node_ids = {str(uuid.uuid5(uuid.NAMESPACE_URL, d.metadata["doc_id"])): d for d in subset}

    splade = LlamaIndexSparseEmbedding(encoder)
    store = LlamaQdrant(
        "llama", client=QdrantClient(":memory:"), batch_size=16, **splade.qdrant_kwargs()
    )
    nodes = [TextNode(text=d.page_content, id_=node_id) for node_id, d in node_ids.items()]
    embed_model = MockEmbedding(embed_dim=8)
    index = VectorStoreIndex(
        nodes,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
    )

    query = "heart attack warning signs"
    expected = [(hit.id, hit.score) for hit in local.search(encoder.embed_query(query), k=5)]
    result = store.query(
        VectorStoreQuery(
            query_str=query,
            query_embedding=embed_model.get_query_embedding(query),
            similarity_top_k=5,
            mode=VectorStoreQueryMode.SPARSE,
        )
    )
    assert result.ids is not None and result.similarities is not None
    got = [(node_ids[i].metadata["doc_id"], s) for i, s in zip(result.ids, result.similarities)]
    _same_up_to_ties(expected, got)

    # Hybrid through the ordinary retriever: alpha=0 weighs only the sparse side.
    retriever = index.as_retriever(
        vector_store_query_mode="hybrid", similarity_top_k=5, sparse_top_k=5, alpha=0.0
    )
    hybrid = retriever.retrieve(query)
    assert node_ids[hybrid[0].node.node_id].metadata["doc_id"] == expected[0][0] == "d021"
