"""MilvusSparseEmbedding in a real Milvus collection (milvus-lite, a local file, no server).

Sparse top-10 over the bundled sample corpus must be the local index's exact top-10
with the adapter's exact-score settings, and a batch with an empty text must be
refused before anything is inserted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from langchain_splade.demo import sample_documents, sample_queries
from langchain_splade.encoders import SpladeEncoder
from langchain_splade.errors import InvalidInputError
from langchain_splade.stores.local import LocalSparseIndex

pytest.importorskip("langchain_milvus")
pytest.importorskip("milvus_lite")

from langchain_core.documents import Document
from langchain_milvus import Milvus

from langchain_splade.adapters import MilvusSparseEmbedding

pytestmark = pytest.mark.slow  # milvus-lite takes ~10 s to start
TOL = 1e-5


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    return [
        Document(page_content=d.page_content, metadata={"doc_id": d.id})
        for d in sample_documents()[:50]
    ]


@pytest.fixture(scope="module")
def store(
    encoder: SpladeEncoder, documents: list[Document], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Milvus]:
    splade = MilvusSparseEmbedding(encoder)
    uri = str(tmp_path_factory.mktemp("milvus") / "sample.db")
    milvus = Milvus.from_documents(
        documents,
        embedding=splade,
        connection_args={"uri": uri},
        collection_name="sample",
        index_params=splade.index_params,
        search_params=splade.search_params,
        auto_id=True,
    )
    yield milvus
    milvus.client.close()


def test_sparse_top10_equals_the_local_exact_top10(
    store: Milvus, encoder: SpladeEncoder, documents: list[Document]
) -> None:
    local = LocalSparseIndex()
    local.add(
        [d.metadata["doc_id"] for d in documents],
        encoder.embed_documents([d.page_content for d in documents]),
    )
    queries = [q["text"] for q in sample_queries()]
    for query, vector in zip(queries, encoder.embed_queries(queries)):
        expected = [(hit.id, hit.score) for hit in local.search(vector, k=10)]
        found = store.similarity_search_with_score(query, k=10)
        got = [(d.metadata["doc_id"], s) for d, s in found]
        assert len(got) == len(expected)
        # Milvus sums in float32: scores agree to ~1e-6 absolute, not to float64 rounding.
        np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=TOL)
        # Ids agree wherever the score is not tied with a neighbour's.
        scores = [s for _, s in expected]
        for rank, ((exp_id, score), (got_id, _)) in enumerate(zip(expected, got)):
            neighbours = scores[max(rank - 1, 0) : rank] + scores[rank + 1 : rank + 2]
            if not np.isclose(neighbours, score, rtol=0, atol=TOL).any():
                assert got_id == exp_id, (query, expected, got)


def test_empty_text_is_refused_before_any_insert(store: Milvus) -> None:
    before = store.client.query("sample", output_fields=["count(*)"])[0]["count(*)"]
    with pytest.raises(InvalidInputError, match="no terms"):
        store.add_texts(["A new passage about kidney stones.", "   "])
    after = store.client.query("sample", output_fields=["count(*)"])[0]["count(*)"]
    assert after == before
    # An empty query matches nothing instead of failing.
    assert store.similarity_search("", k=3) == []


def test_add_then_find(store: Milvus, tmp_path: Path) -> None:
    [pk] = store.add_texts(
        ["Zebrafish regrow their heart tissue after injury."], metadatas=[{"doc_id": "zebra"}]
    )
    hits = store.similarity_search_with_score("can fish regenerate a heart", k=1)
    assert hits[0][0].metadata["doc_id"] == "zebra"
    assert store.delete(ids=[pk])
