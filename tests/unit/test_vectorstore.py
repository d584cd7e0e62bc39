"""``SpladeVectorStore`` on the local index with the real bundled encoder: ids, upserts,
filters, scores, sparse semantics (no zero-score fill), MMR, ``as_retriever`` and bad
input (typed errors, nothing stored half)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStoreRetriever

from langchain_splade import (
    EncoderFingerprint,
    FilterError,
    IncompatibleIndexError,
    InvalidInputError,
    InvalidTypeError,
    LocalSparseIndex,
    SearchHit,
    SparseVector,
    SpladeEncoder,
    SpladeRetriever,
    SpladeVectorStore,
)
from langchain_splade.mmr import cosine

TEXTS = [
    "Myocardial infarction occurs when blood flow to the heart muscle is blocked.",
    "A heart attack happens when blood cannot reach part of the heart.",
    "The aurora borealis is caused by charged solar particles.",
    "Ball pythons are constrictors that coil around their prey.",
]
METADATAS = [
    {"topic": "medicine", "year": 2020},
    {"topic": "medicine", "year": 2023},
    {"topic": "astronomy", "year": 2021},
    {"topic": "animals", "year": 2019},
]


@pytest.fixture
def store(encoder: SpladeEncoder) -> SpladeVectorStore:
    store = SpladeVectorStore(index=LocalSparseIndex(), encoder=encoder)
    store.add_texts(TEXTS, METADATAS, ids=["mi", "ha", "aurora", "python"])
    return store


def test_ids_are_returned_set_on_documents_and_upserted(encoder: SpladeEncoder) -> None:
    store = SpladeVectorStore(index=LocalSparseIndex(), encoder=encoder)
    original = [Document("red apples", id="apple"), Document("green pears")]
    ids = store.add_documents(original)
    assert ids[0] == "apple" and len(ids[1]) == 32  # a missing id becomes a uuid4 hex
    assert original[1].id is None  # the caller's documents are not mutated
    assert {d.id for d in store.similarity_search("apples and pears", k=5)} == set(ids)
    assert store.add_documents([Document("ripe apples", metadata={"v": 2})], ids=["apple"]) == [
        "apple"
    ]
    assert len(store.index) == 2  # upsert by id, no duplicate
    assert store.get_by_ids(["missing", "apple"]) == [
        Document("ripe apples", metadata={"v": 2}, id="apple")
    ]


def test_scores_are_exact_dot_products_best_first(
    store: SpladeVectorStore, encoder: SpladeEncoder
) -> None:
    pairs = store.similarity_search_with_score("heart attack", k=4)
    query = encoder.embed_query("heart attack")
    vectors = {d.id: d.vector for d in store.index.get(["mi", "ha", "aurora", "python"])}
    assert [doc.id for doc, _ in pairs][:2] == ["ha", "mi"]
    for doc, score in pairs:
        assert score == pytest.approx(query.dot(vectors[doc.id]), rel=1e-5)
        assert "score" not in doc.metadata  # metadata comes back exactly as stored
    assert [s for _, s in pairs] == sorted((s for _, s in pairs), reverse=True)


def test_a_document_sharing_no_term_scores_zero_and_is_not_returned(
    store: SpladeVectorStore, encoder: SpladeEncoder
) -> None:
    """No zero-score fill: fewer than k documents come back, never unrelated ones."""
    store.add_texts([""], ids=["blank"])  # stored, encodes to no term
    (aurora,) = store.index.get(["aurora"])
    others = store.index.get(["mi", "ha", "python"])
    only_aurora = [t for t in aurora.vector.indices.tolist() if all(
        t not in o.vector.indices.tolist() for o in others
    )]
    assert only_aurora, "the aurora passage has terms of its own"
    query = SparseVector(only_aurora[:1], [1.0])
    assert [d.id for d in store.similarity_search_by_vector(query, k=5)] == ["aurora"]
    hits = store.similarity_search("heart attack", k=10)
    assert "blank" not in {d.id for d in hits} and len(hits) <= 4
    assert store.similarity_search("", k=3) == []  # a query without terms matches nothing


def test_filters_use_the_project_dialect_sync_and_async(store: SpladeVectorStore) -> None:
    where = {"topic": "medicine", "year": {"$gte": 2021}}
    assert [d.id for d in store.similarity_search("heart", k=4, filter=where)] == ["ha"]
    found = asyncio.run(store.asimilarity_search("heart", k=4, filter=where))
    assert [d.id for d in found] == ["ha"]
    with pytest.raises(FilterError):
        store.similarity_search("heart", filter={"year": {"$near": 2020}})


def test_async_methods_match_the_sync_ones(encoder: SpladeEncoder) -> None:
    store = SpladeVectorStore(index=LocalSparseIndex(), encoder=encoder)

    async def scenario() -> tuple[list[str], list[Document], list[Document], list[Document]]:
        ids = await store.aadd_texts(TEXTS, METADATAS, ids=["mi", "ha", "aurora", "python"])
        await store.adelete(["python"])
        got = await store.aget_by_ids(["python", "mi"])
        found = await store.asimilarity_search("heart attack", k=2)
        mmr = await store.amax_marginal_relevance_search("heart attack", k=2, fetch_k=4)
        return ids, got, found, mmr

    ids, got, found, mmr = asyncio.run(scenario())
    assert ids == ["mi", "ha", "aurora", "python"]
    assert [d.id for d in got] == ["mi"] and len(store.index) == 3
    assert found == store.similarity_search("heart attack", k=2)
    assert mmr == store.max_marginal_relevance_search("heart attack", k=2, fetch_k=4)


def test_mmr_demotes_a_near_duplicate(encoder: SpladeEncoder) -> None:
    store = SpladeVectorStore(index=LocalSparseIndex(), encoder=encoder)
    store.add_texts(
        [
            "A heart attack happens when blood cannot reach the heart.",
            "A heart attack happens when blood cannot reach the heart muscle.",
            "Chest pain and shortness of breath are symptoms of a heart attack.",
        ],
        ids=["a", "a-copy", "symptoms"],
    )
    plain = [d.id for d in store.similarity_search("heart attack", k=3)]
    assert plain == ["a", "a-copy", "symptoms"]  # the copy outranks the new information
    relevance_only = store.max_marginal_relevance_search("heart attack", k=3, lambda_mult=1.0)
    assert [d.id for d in relevance_only] == plain  # lambda=1 is similarity order
    diverse = store.max_marginal_relevance_search("heart attack", k=3, fetch_k=3)
    assert [d.id for d in diverse] == ["a", "symptoms", "a-copy"]  # default lambda 0.5
    with pytest.raises(InvalidInputError, match="lambda_mult"):
        store.max_marginal_relevance_search("heart", lambda_mult=1.5)


class VectorlessHits(LocalSparseIndex):
    """A backend whose hits carry no vectors (the contract allows it)."""

    def search(self, *args: Any, **kwargs: Any) -> list[SearchHit]:
        return [replace(hit, vector=None) for hit in super().search(*args, **kwargs)]


def test_mmr_fetches_vectors_a_backend_leaves_out_of_its_hits(encoder: SpladeEncoder) -> None:
    full = SpladeVectorStore(index=LocalSparseIndex(), encoder=encoder)
    bare = SpladeVectorStore(index=VectorlessHits(), encoder=encoder)
    for store in (full, bare):
        store.add_texts(TEXTS, METADATAS, ids=["mi", "ha", "aurora", "python"])
    assert bare.index.search(encoder.embed_query("heart"), k=1)[0].vector is None
    for api in ("sync", "async"):
        expected = full.max_marginal_relevance_search("heart attack", k=3, lambda_mult=0.2)
        if api == "sync":
            got = bare.max_marginal_relevance_search("heart attack", k=3, lambda_mult=0.2)
        else:
            got = asyncio.run(
                bare.amax_marginal_relevance_search("heart attack", k=3, lambda_mult=0.2)
            )
        assert got == expected


def test_cosine_of_sparse_vectors() -> None:
    a = SparseVector([1, 2], [3.0, 4.0])
    assert cosine(a, a) == pytest.approx(1.0)
    assert cosine(a, SparseVector([7], [1.0])) == 0.0
    assert cosine(a, SparseVector.empty()) == 0.0


def test_as_retriever_is_a_splade_retriever_with_every_option(store: SpladeVectorStore) -> None:
    retriever = store.as_retriever(
        mode="hybrid",
        fusion="rrf",
        search_kwargs={"k": 1, "filter": {"topic": "medicine"}, "approximate": True},
    )
    assert isinstance(retriever, SpladeRetriever)
    assert retriever.index is store.index and retriever.encoder is store.encoder
    assert (retriever.k, retriever.filter, retriever.mode) == (1, {"topic": "medicine"}, "hybrid")
    assert retriever.search_kwargs == {"approximate": True}  # index options stay options
    assert "SpladeVectorStore" in (retriever.tags or [])
    (doc,) = retriever.invoke("heart attack")
    assert doc.metadata["topic"] == "medicine" and "fusion" in doc.metadata
    threshold = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"score_threshold": 1e9}
    )
    assert threshold.invoke("heart attack") == []
    with pytest.raises(InvalidInputError, match="mmr"):
        store.as_retriever(search_type="mmr")
    with pytest.raises(InvalidInputError, match="score_threshold"):
        store.as_retriever(search_type="similarity_score_threshold")
    with pytest.raises(InvalidInputError, match="both"):
        store.as_retriever(k=2, search_kwargs={"k": 3})
    # LangChain's own MMR retriever works over the store unchanged.
    mmr = VectorStoreRetriever(vectorstore=store, search_type="mmr", search_kwargs={"k": 2})
    assert len(mmr.invoke("heart attack")) == 2


def test_bad_input_raises_typed_errors_and_stores_nothing(encoder: SpladeEncoder) -> None:
    store = SpladeVectorStore(index=LocalSparseIndex(), encoder=encoder)
    with pytest.raises(InvalidTypeError, match="position 1"):
        store.add_texts(["fine", None], ids=["a", "b"])  # type: ignore[list-item]
    with pytest.raises(InvalidTypeError, match=r"ids\[1\]"):
        store.add_texts(["fine", "also fine"], ids=["a", 7])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="JSON"):
        store.add_texts(["fine", "also fine"], [{}, {"when": object()}], ids=["a", "b"])
    with pytest.raises(InvalidTypeError, match="Document"):
        store.add_documents(["not a document"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="Unknown keyword"):
        store.add_texts(["fine"], colection="typo")
    with pytest.raises(InvalidTypeError):
        store.add_texts(["one", "two"], ids="ab")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="equal length"):
        store.add_texts(["one", "two"], ids=["only-one"])
    assert len(store.index) == 0  # every refused batch stored nothing
    with pytest.raises(InvalidInputError, match="every document"):
        store.delete()
    with pytest.raises(InvalidTypeError):
        store.similarity_search_by_vector([0.1, 0.2])  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError):
        SpladeVectorStore(index=object(), encoder=encoder)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="relevance"):
        store.similarity_search_with_relevance_scores("heart")


def test_a_store_reopened_with_another_encoder_is_refused(
    encoder: SpladeEncoder, tmp_path: Path
) -> None:
    other = LocalSparseIndex()
    other.check_encoder(EncoderFingerprint("other/model", "0123456789abcdef", 30522))
    other.add(["a"], [SparseVector([5], [1.0])], ["kept"])
    other.save(tmp_path / "other")
    reopened = LocalSparseIndex.load(tmp_path / "other")
    with pytest.raises(IncompatibleIndexError, match="another encoder") as info:
        SpladeVectorStore(index=reopened, encoder=encoder)
    assert info.value.fix
    assert [d.text for d in reopened.get(["a"])] == ["kept"] and len(reopened) == 1


def test_from_texts_and_from_documents(encoder: SpladeEncoder) -> None:
    store = SpladeVectorStore.from_texts(["alpha beta"], encoder, ids=["x"])
    assert [d.id for d in store.get_by_ids(["x"])] == ["x"]
    docs = [Document("gamma delta", metadata={"n": 1}, id="y")]
    again = SpladeVectorStore.from_documents(docs, encoder)
    assert again.get_by_ids(["y"]) == docs
    with pytest.raises(InvalidTypeError, match="SpladeEncoder"):
        SpladeVectorStore.from_texts(["a"], embedding="not an encoder")
