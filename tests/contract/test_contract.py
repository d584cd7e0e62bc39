"""The SparseIndex contract: every backend, through the sync and the async API,
gives the same answers and raises the same errors (see ``conftest.py`` for the
backends and how to register one).

Weights are small dyadic numbers (multiples of 1/4 below 8): exact in float32 and
in OpenSearch's 9-bit ``rank_features``, so every backend must return exactly the
brute-force dot product, ties broken by id.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from langchain_splade.errors import FilterError, InvalidInputError, InvalidTypeError
from langchain_splade.types import SparseVector

WORDS = ["heart", "blood", "river", "stone", "cloud", "music", "garden", "engine"]
N_DOCS = 24
VOCAB = 30


def _corpus() -> list[tuple[str, SparseVector, str, dict[str, Any]]]:
    rng = random.Random(11)
    docs = []
    for i in range(N_DOCS):
        terms = sorted(rng.sample(range(1, VOCAB), rng.randint(1, 6)))
        weights = [rng.randint(1, 12) / 4 for _ in terms]
        words = rng.sample(WORDS[:-1], 2)  # "engine" is in no text
        text = f"the {words[0]} and the {words[1]}, code{chr(97 + i)}x"
        metadata = {"group": "abc"[i % 3], "n": i, "even": i % 2 == 0}
        docs.append((f"doc-{i:02d}", SparseVector(terms, weights), text, metadata))
    return docs


CORPUS = _corpus()
QUERIES = [
    SparseVector([1, 2, 3], [1.0, 0.5, 2.0]),
    SparseVector([5, 17, 29], [0.25, 3.0, 1.5]),
    SparseVector(list(range(1, VOCAB)), [1.0] * (VOCAB - 1)),  # many ties
]


def load(api: Any) -> None:
    ids, vectors, texts, metadatas = (list(column) for column in zip(*CORPUS))
    assert api.add(ids, vectors, texts, metadatas) == ids


def brute_force(
    query: SparseVector, k: int, keep: Callable[[dict[str, Any]], bool] = lambda m: True
) -> list[tuple[str, float]]:
    scored = [(doc_id, query.dot(v)) for doc_id, v, _, m in CORPUS if keep(m)]
    ranked = sorted((s for s in scored if s[1] > 0), key=lambda s: (-s[1], s[0]))
    return ranked[:k]


def ranked(hits: list[Any]) -> list[tuple[str, float]]:
    return [(hit.id, hit.score) for hit in hits]


# -- writes and reads ----------------------------------------------------------------


def test_add_get_len_and_upsert(api: Any) -> None:
    assert api.len() == 0
    load(api)
    assert api.len() == N_DOCS
    docs = api.get(["doc-03", "missing", "doc-01"])
    assert [d.id for d in docs] == ["doc-03", "doc-01"]  # requested order, unknown skipped
    assert docs[0].vector == CORPUS[3][1]
    assert docs[0].text == CORPUS[3][2] and dict(docs[0].metadata) == CORPUS[3][3]
    replacement = SparseVector([7], [2.0])
    assert api.add(["doc-03"], [replacement], ["replaced"], [{"group": "z"}]) == ["doc-03"]
    assert api.len() == N_DOCS
    (doc,) = api.get(["doc-03"])
    assert (doc.vector, doc.text, dict(doc.metadata)) == (replacement, "replaced", {"group": "z"})
    assert ranked(api.search(SparseVector([7], [1.0]), k=1)) == [("doc-03", 2.0)]


def test_a_document_without_text_or_metadata(api: Any) -> None:
    api.add(["bare"], [SparseVector([4], [1.0])])
    (doc,) = api.get(["bare"])
    assert doc.text is None and dict(doc.metadata) == {}


def test_duplicate_ids_in_one_add_keep_the_last(api: Any) -> None:
    first, last = SparseVector([1], [1.0]), SparseVector([2], [3.0])
    api.add(["same", "same"], [first, last], ["first", "last"])
    assert api.len() == 1
    (doc,) = api.get(["same"])
    assert (doc.vector, doc.text) == (last, "last")
    assert api.search(SparseVector([1], [1.0])) == []


def test_delete(api: Any) -> None:
    load(api)
    assert api.delete(["doc-00", "missing", "doc-00", "doc-05"]) == 2
    assert api.len() == N_DOCS - 2
    assert api.get(["doc-00", "doc-05"]) == []
    hits = api.search(QUERIES[2], k=N_DOCS)
    assert {"doc-00", "doc-05"}.isdisjoint(h.id for h in hits)
    assert api.delete([]) == 0


def test_empty_writes_and_reads(api: Any) -> None:
    assert api.add([], []) == []
    assert api.get([]) == []
    assert api.len() == 0
    assert api.search(QUERIES[0], k=3) == []


# -- exact search ------------------------------------------------------------------


@pytest.mark.parametrize("q", range(len(QUERIES)))
@pytest.mark.parametrize("k", [1, 5, 1000])  # 1000: more than the corpus holds
def test_search_is_the_exact_top_k(api: Any, q: int, k: int) -> None:
    load(api)
    hits = api.search(QUERIES[q], k=k)
    assert ranked(hits) == brute_force(QUERIES[q], k)
    assert all(hit.text == CORPUS[int(hit.id[-2:])][2] for hit in hits)


def test_an_empty_query_finds_nothing(api: Any) -> None:
    load(api)
    assert api.search(SparseVector.empty(), k=5) == []
    assert api.search(SparseVector([VOCAB + 50], [1.0]), k=5) == []  # no document has it


FILTERS: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"group": "a"}, lambda m: m["group"] == "a"),
    ({"n": {"$gte": 10}}, lambda m: m["n"] >= 10),
    ({"even": True, "group": {"$in": ["b", "c"]}}, lambda m: m["even"] and m["group"] != "a"),
    ({"$or": [{"n": {"$lt": 3}}, {"group": "c"}]}, lambda m: m["n"] < 3 or m["group"] == "c"),
    ({"group": "nobody"}, lambda m: False),
]


@pytest.mark.parametrize("case", range(len(FILTERS)))
def test_filters_select_the_same_documents(api: Any, case: int) -> None:
    load(api)
    where, keep = FILTERS[case]
    assert ranked(api.search(QUERIES[2], k=10, filter=where)) == brute_force(QUERIES[2], 10, keep)


# -- BM25 (the lexical half of hybrid retrieval) -----------------------------------


def test_bm25_finds_the_documents_holding_the_words(api: Any) -> None:
    load(api)
    hits = api.bm25_search("heart", k=N_DOCS)
    holders = {doc_id for doc_id, _, text, _ in CORPUS if "heart" in text}
    assert holders and {h.id for h in hits} == holders
    assert all(h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert api.bm25_search("engine", k=5) == []  # in no text
    rare = api.bm25_search("blood codehx", k=1)
    assert [h.id for h in rare] == ["doc-07"]  # the rare term decides


def test_bm25_respects_k_and_filters(api: Any) -> None:
    load(api)
    assert len(api.bm25_search(" ".join(WORDS), k=3)) == 3
    hits = api.bm25_search("heart", k=N_DOCS, filter={"group": "b"})
    expected = {d for d, _, text, m in CORPUS if "heart" in text and m["group"] == "b"}
    assert {h.id for h in hits} == expected


def test_hybrid_retrieval_fuses_both_halves(api: Any, encoder: Any) -> None:
    from langchain_splade.retrievers import SpladeRetriever

    texts = ["the heart pumps blood", "rivers carve stone", "music in the garden"]
    ids = ["h", "r", "m"]
    vectors = encoder.embed_documents(texts)
    api.add(ids, vectors, texts)
    retriever = SpladeRetriever(encoder=encoder, index=api.index, mode="hybrid", k=2)
    if api.mode == "sync":
        documents = retriever.invoke("heart blood")
    else:
        documents = asyncio.run(retriever.ainvoke("heart blood"))
    assert documents[0].id == "h"  # first on both halves
    assert set(documents[0].metadata["fusion"]) == {"sparse", "bm25"}


# -- bad input: the same error class everywhere, and nothing stored ----------------

V = SparseVector([1], [1.0])
BAD_WRITES: list[tuple[str, tuple[Any, ...], type[Exception]]] = [
    ("empty id", ([""], [V]), InvalidInputError),
    ("int id", ([7], [V]), InvalidTypeError),
    ("None id", ([None], [V]), InvalidTypeError),
    ("ids as one str", ("abc", [V, V, V]), InvalidTypeError),
    ("fewer vectors", (["a", "b"], [V]), InvalidInputError),
    ("vector not a SparseVector", (["a"], [{1: 1.0}]), InvalidTypeError),
    ("text not a str", (["a"], [V], [3]), InvalidTypeError),
    ("fewer texts", (["a", "b"], [V, V], ["x"]), InvalidInputError),
    ("metadata not a mapping", (["a"], [V], None, ["x"]), InvalidTypeError),
    ("metadata with NaN", (["a"], [V], None, [{"x": math.nan}]), InvalidInputError),
    ("metadata not JSON", (["a"], [V], None, [{"x": object()}]), InvalidInputError),
]


@pytest.mark.parametrize("case", BAD_WRITES, ids=[c[0] for c in BAD_WRITES])
def test_a_bad_write_raises_its_error_class_and_stores_nothing(
    api: Any, case: tuple[str, tuple[Any, ...], type[Exception]]
) -> None:
    api.add(["keep"], [V])
    _, args, error = case
    with pytest.raises(error):
        api.add(*args)
    assert api.len() == 1 and [d.id for d in api.get(["keep"])] == ["keep"]


BAD_IDS: list[tuple[Any, type[Exception]]] = [
    ([""], InvalidInputError),
    ([3], InvalidTypeError),
    ("doc-01", InvalidTypeError),
    (None, InvalidTypeError),
]


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.parametrize("case", BAD_IDS, ids=["empty", "int", "str", "None"])
def test_bad_ids_to_get_and_delete(
    api: Any, method: str, case: tuple[Any, type[Exception]]
) -> None:
    api.add(["keep"], [V])
    ids, error = case
    with pytest.raises(error):
        getattr(api, method)(ids)
    assert api.len() == 1


BAD_SEARCHES: list[tuple[str, dict[str, Any], type[Exception]]] = [
    ("k zero", {"k": 0}, InvalidInputError),
    ("k negative", {"k": -2}, InvalidInputError),
    ("k float", {"k": 2.5}, InvalidTypeError),
    ("k str", {"k": "3"}, InvalidTypeError),
    ("k bool", {"k": True}, InvalidTypeError),
    ("query dict", {"query": {1: 1.0}}, InvalidTypeError),
    ("query str", {"query": "heart"}, InvalidTypeError),
    ("filter list", {"filter": ["group"]}, FilterError),
    ("filter unknown operator", {"filter": {"n": {"$near": 3}}}, FilterError),
]


@pytest.mark.parametrize("case", BAD_SEARCHES, ids=[c[0] for c in BAD_SEARCHES])
def test_a_bad_search_raises_its_error_class(
    api: Any, case: tuple[str, dict[str, Any], type[Exception]]
) -> None:
    api.add(["keep"], [V])
    _, override, error = case
    arguments: dict[str, Any] = {"query": V, "k": 3, "filter": None, **override}
    with pytest.raises(error):
        api.search(arguments.pop("query"), **arguments)


@pytest.mark.parametrize(
    ("text", "k", "error"),
    [(3, 3, InvalidTypeError), (None, 3, InvalidTypeError), ("heart", 0, InvalidInputError)],
)
def test_a_bad_bm25_search_raises_its_error_class(
    api: Any, text: Any, k: Any, error: type[Exception]
) -> None:
    api.add(["keep"], [V], ["the heart"])
    with pytest.raises(error):
        api.bm25_search(text, k=k)
