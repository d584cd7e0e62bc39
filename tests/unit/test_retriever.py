"""SpladeRetriever over the real encoder and the local index."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_splade import (
    EncoderFingerprint,
    FilterError,
    IncompatibleIndexError,
    InvalidInputError,
    InvalidTypeError,
)
from langchain_splade.encoders import SpladeEncoder
from langchain_splade.retrievers import SpladeRetriever
from langchain_splade.stores.local import LocalSparseIndex

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
def retriever(encoder: SpladeEncoder) -> SpladeRetriever:
    return SpladeRetriever.from_texts(TEXTS, METADATAS, IDS, encoder=encoder, k=3)


def test_documents_carry_id_score_and_matched_terms(retriever: SpladeRetriever) -> None:
    documents = retriever.invoke("heart attack")
    assert len(documents) == 3
    top = documents[0]
    assert top.id == "d0" and top.page_content == TEXTS[0]
    assert top.metadata["topic"] == "medicine"
    scores = [d.metadata["score"] for d in documents]
    assert scores == sorted(scores, reverse=True)
    terms = top.metadata["matched_terms"]
    assert "heart" in terms
    contributions = list(terms.values())
    assert contributions == sorted(contributions, reverse=True)
    assert sum(contributions) <= top.metadata["score"] + 1e-4


def test_matched_terms_add_up_to_the_score(encoder: SpladeEncoder) -> None:
    retriever = SpladeRetriever.from_texts(TEXTS, encoder=encoder, explain_terms=10_000)
    for document in retriever.invoke("liquid metal planet"):
        total = sum(document.metadata["matched_terms"].values())
        assert total == pytest.approx(document.metadata["score"], rel=1e-4)


def test_call_time_k_and_filter_win(retriever: SpladeRetriever) -> None:
    assert len(retriever.invoke("mercury", k=1)) == 1
    assert len(retriever.invoke("mercury planet snake heart blood python", k=5)) == 5
    # Only documents sharing a term with the query can match.
    assert len(retriever.invoke("mercury", k=5)) == 2
    filtered = retriever.invoke("mercury", filter={"topic": "chemistry"})
    assert [d.id for d in filtered] == ["d5"]
    recent = retriever.invoke("blood", k=6, filter={"year": {"$gte": 2020}})
    assert recent and all(d.metadata["year"] >= 2020 for d in recent)


def test_constructor_filter_and_threshold(encoder: SpladeEncoder) -> None:
    index = LocalSparseIndex()
    base = SpladeRetriever(encoder=encoder, index=index, k=6)
    base.add_texts(TEXTS, METADATAS, IDS)
    only_medicine = SpladeRetriever(encoder=encoder, index=index, filter={"topic": "medicine"})
    assert {d.id for d in only_medicine.invoke("blood flow")} <= {"d0", "d1"}
    scores = [d.metadata["score"] for d in base.invoke("mercury planet")]
    cut = (scores[0] + scores[-1]) / 2
    kept = base.invoke("mercury planet", score_threshold=cut)
    assert 0 < len(kept) < len(scores)
    assert all(d.metadata["score"] >= cut for d in kept)


async def test_async_equals_sync(retriever: SpladeRetriever) -> None:
    sync = retriever.invoke("snake", k=2)
    asynchronous = await retriever.ainvoke("snake", k=2)
    assert [d.id for d in asynchronous] == [d.id for d in sync]
    assert [d.metadata["score"] for d in asynchronous] == [d.metadata["score"] for d in sync]


def test_batch_encodes_all_queries_in_one_pass(
    retriever: SpladeRetriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = ["heart attack", "snake", "planet"]
    expected = [[d.id for d in retriever.invoke(q)] for q in queries]
    calls: list[int] = []
    original = retriever.encoder.embed_queries

    def counting(texts: Any) -> Any:
        calls.append(len(texts))
        return original(texts)

    monkeypatch.setattr(retriever.encoder, "embed_queries", counting)
    monkeypatch.setattr(
        retriever.encoder, "embed_query", lambda text: pytest.fail("query encoded one by one")
    )
    results = retriever.batch(queries)
    assert calls == [3]
    assert [[d.id for d in docs] for docs in results] == expected


def test_add_documents_keeps_ids_and_delete(encoder: SpladeEncoder) -> None:
    retriever = SpladeRetriever(encoder=encoder, index=LocalSparseIndex(), k=2)
    ids = retriever.add_documents(
        [Document(id="a", page_content="volcanoes erupt lava"), Document(page_content="tea")]
    )
    assert ids[0] == "a" and len(ids) == 2 and ids[1] != "a"
    assert retriever.invoke("lava")[0].id == "a"
    assert retriever.delete(["a"]) == 1
    assert all(d.id != "a" for d in retriever.invoke("lava"))


def test_blank_query_returns_nothing(retriever: SpladeRetriever) -> None:
    assert retriever.invoke("") == []
    assert retriever.invoke("   ") == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"k": 0}, InvalidInputError),
        ({"k": -1}, InvalidInputError),
        ({"k": 2.5}, InvalidTypeError),
        ({"k": "3"}, InvalidTypeError),
        ({"filter": {"year": {"$regex": "20"}}}, FilterError),
    ],
)
def test_bad_call_options_raise(
    retriever: SpladeRetriever, kwargs: dict[str, Any], error: type
) -> None:
    with pytest.raises(error):
        retriever.invoke("heart", **kwargs)


def test_bad_constructor_arguments_raise(encoder: SpladeEncoder) -> None:
    with pytest.raises(InvalidInputError):
        SpladeRetriever(encoder=encoder, index=LocalSparseIndex(), k=0)
    with pytest.raises(FilterError, match="mapping"):
        SpladeRetriever(encoder=encoder, index=LocalSparseIndex(), filter=["topic"])
    with pytest.raises(InvalidTypeError, match="SparseIndex"):
        SpladeRetriever(encoder=encoder, index={"not": "an index"})
    with pytest.raises(InvalidInputError, match="equal length"):
        SpladeRetriever.from_texts(["a", "b"], ids=["only-one"], encoder=encoder)


def test_index_from_another_model_is_refused(encoder: SpladeEncoder) -> None:
    index = LocalSparseIndex()
    index.check_encoder(EncoderFingerprint("other-model", "0123456789abcdef", 30522))
    with pytest.raises(IncompatibleIndexError):
        SpladeRetriever(encoder=encoder, index=index)


def test_non_string_query_raises(retriever: SpladeRetriever) -> None:
    with pytest.raises(InvalidTypeError):
        retriever.invoke(42)  # type: ignore[arg-type]


@functools.cache
def _standard_index() -> tuple[SpladeEncoder, LocalSparseIndex]:
    encoder = SpladeEncoder()
    index = LocalSparseIndex()
    SpladeRetriever(encoder=encoder, index=index).add_texts(TEXTS, METADATAS, IDS)
    return encoder, index


class TestStandardRetriever(RetrieversIntegrationTests):
    """LangChain's own retriever contract (k in constructor and invoke, sync/async)."""

    @property
    def retriever_constructor(self) -> type[SpladeRetriever]:
        return SpladeRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        encoder, index = _standard_index()
        return {"encoder": encoder, "index": index}

    @property
    def retriever_query_example(self) -> str:
        return "what is mercury"
