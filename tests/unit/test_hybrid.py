"""Hybrid retrieval (SPLADE + BM25), FusionRetriever and the eval command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from langchain_splade import InvalidInputError, InvalidTypeError
from langchain_splade.cli import main
from langchain_splade.demo import sample_documents
from langchain_splade.encoders import SpladeEncoder
from langchain_splade.fusion import fuse
from langchain_splade.fusion_retriever import FusionRetriever
from langchain_splade.retrievers import DEFAULT_FUSION, DEFAULT_FUSION_WEIGHTS, SpladeRetriever
from langchain_splade.stores.base import MEMBERS, is_sparse_index
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SparseVector


@pytest.fixture(scope="module")
def sample_index(encoder: SpladeEncoder) -> LocalSparseIndex:
    index = LocalSparseIndex()
    SpladeRetriever.from_documents(sample_documents(), encoder=encoder, index=index)
    return index


def test_bm25_mode_ranks_by_bm25_and_honours_filters(
    encoder: SpladeEncoder, sample_index: LocalSparseIndex
) -> None:
    retriever = SpladeRetriever(encoder=encoder, index=sample_index, mode="bm25", k=5)
    documents = retriever.invoke("python programming language")
    assert documents and documents[0].metadata["topic"] == "programming"
    scores = [d.metadata["score"] for d in documents]
    assert scores == sorted(scores, reverse=True)
    filtered = retriever.invoke("python", filter={"topic": "wildlife"})
    assert filtered and all(d.metadata["topic"] == "wildlife" for d in filtered)


def test_hybrid_equals_fusing_the_two_components(
    encoder: SpladeEncoder, sample_index: LocalSparseIndex
) -> None:
    query, depth = "heart attack warning signs", 100
    sparse = sample_index.search(encoder.embed_query(query), k=depth)
    lexical = sample_index.bm25_search(query, k=depth)
    expected = fuse(
        {"sparse": [(h.id, h.score) for h in sparse], "bm25": [(h.id, h.score) for h in lexical]},
        DEFAULT_FUSION,
        weights=DEFAULT_FUSION_WEIGHTS,
        limit=5,
    )
    hybrid = SpladeRetriever(encoder=encoder, index=sample_index, mode="hybrid", k=5)
    documents = hybrid.invoke(query)
    assert [d.id for d in documents] == [hit.id for hit in expected]
    for document, hit in zip(documents, expected):
        assert document.metadata["score"] == pytest.approx(hit.score)
        assert document.metadata["fusion"] == hit.to_dict()["components"]
    assert "matched_terms" in documents[0].metadata


@pytest.mark.parametrize("fusion", ["rrf", "minmax", "zscore"])
def test_hybrid_filters_apply_to_both_components(
    encoder: SpladeEncoder, sample_index: LocalSparseIndex, fusion: str
) -> None:
    retriever = SpladeRetriever(
        encoder=encoder, index=sample_index, mode="hybrid", fusion=fusion, k=8
    )
    documents = retriever.invoke("planet orbit", filter={"source": "news"})
    assert documents and all(d.metadata["source"] == "news" for d in documents)


async def test_hybrid_async_equals_sync(
    encoder: SpladeEncoder, sample_index: LocalSparseIndex
) -> None:
    retriever = SpladeRetriever(encoder=encoder, index=sample_index, mode="hybrid")
    sync = retriever.invoke("black death plague")
    asynchronous = await retriever.ainvoke("black death plague")
    assert [d.id for d in sync] == [d.id for d in asynchronous]


def test_an_index_without_bm25_is_not_a_sparse_index(
    encoder: SpladeEncoder, sample_index: LocalSparseIndex
) -> None:
    """BM25 is part of the SparseIndex protocol, so hybrid mode never meets a backend
    that lacks it: such an object is refused up front, whatever the mode."""
    members = {name: getattr(LocalSparseIndex, name) for name in MEMBERS if "bm25" not in name}
    sparse_only = type("SparseOnly", (), members)()
    assert not is_sparse_index(sparse_only) and is_sparse_index(sample_index)
    for mode in ("sparse", "hybrid"):
        with pytest.raises(InvalidTypeError, match="SparseOnly, which is not a SparseIndex"):
            SpladeRetriever(encoder=encoder, index=sparse_only, mode=mode)


def test_bm25_index_follows_writes(encoder: SpladeEncoder) -> None:
    index = LocalSparseIndex()
    index.add(["a"], [SparseVector([1], [1.0])], ["volcanic eruptions"])
    assert [h.id for h in index.bm25_search("volcanic")] == ["a"]
    index.add(["b"], [SparseVector([2], [1.0])], ["volcanic ash clouds"])
    index.delete(["a"])
    assert [h.id for h in index.bm25_search("volcanic")] == ["b"]


class _Fixed(BaseRetriever):
    documents: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: object) -> list[Document]:
        return self.documents


def test_fusion_retriever_keeps_each_components_rank_and_score() -> None:
    dense = _Fixed(
        documents=[
            Document(id="x", page_content="X", metadata={"score": 0.9}),
            Document(id="y", page_content="Y", metadata={"score": 0.5}),
        ]
    )
    other = _Fixed(documents=[Document(page_content="Z"), Document(id="y", page_content="Y")])
    retriever = FusionRetriever(retrievers={"dense": dense, "other": other}, k=3)
    documents = retriever.invoke("anything")
    assert documents[0].id == "y"  # the only document in both lists
    assert documents[0].metadata["fusion"] == {
        "dense": {"rank": 2, "score": 0.5},
        "other": {"rank": 2, "score": None},
    }
    assert {d.page_content for d in documents} == {"X", "Y", "Z"}
    with pytest.raises(InvalidInputError):
        FusionRetriever(retrievers={})


def _tiny_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = sample_documents()[:30]
    with (folder / "corpus.jsonl").open("w") as handle:
        for d in docs:
            handle.write(json.dumps({"_id": d.id, "title": "", "text": d.page_content}) + "\n")
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "heart attack"})
        + "\n"
        + json.dumps({"_id": "q2", "text": "mercury planet"})
        + "\n"
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td021\t2\nq2\td001\t1\n"
    )
    return folder


def test_eval_command_reports_every_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = _tiny_beir(tmp_path / "tiny")
    assert main(["eval", str(dataset), "--mode", "sparse,bm25,hybrid", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results) == {"sparse", "bm25", "hybrid"}
    for row in results.values():
        assert 0.0 <= row["ndcg@10"] <= 1.0 and row["queries"] == 2
        assert row["query_p95_ms"] >= row["query_p50_ms"] > 0
    assert results["sparse"]["mrr@10"] >= 0.75  # one answer first, the other in the top 2
    assert main(["eval", str(dataset), "--mode", "sparse"]) == 0
    assert "ndcg@10" in capsys.readouterr().out


def test_eval_rejects_unknown_modes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = _tiny_beir(tmp_path / "tiny")
    assert main(["eval", str(dataset), "--mode", "dense"]) == 1
    assert "sparse, bm25, hybrid" in capsys.readouterr().err
