"""ElasticsearchSparseIndex on a real Elasticsearch 9 node: exact scores, writes, filters,
errors, clients and event loops. No mocks: every request reaches the node."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from langchain_splade.errors import (
    BackendError,
    IncompatibleIndexError,
    IndexNotFoundError,
    InvalidInputError,
    InvalidTypeError,
    PartialWriteError,
)
from langchain_splade.filters import matches, parse_filter
from langchain_splade.stores.elasticsearch import ElasticsearchSparseIndex
from langchain_splade.stores.opensearch import ClauseLimitWarning
from langchain_splade.stores.opensearch.query import nine_bit
from langchain_splade.types import EncoderFingerprint, SparseVector

pytest.importorskip("elasticsearch")


@pytest.fixture(scope="module")
def es(elasticsearch_url: str) -> Iterator[Any]:
    """A plain ``Elasticsearch`` client, for checks below the index class."""
    from elasticsearch import Elasticsearch

    client = Elasticsearch(elasticsearch_url)
    yield client
    client.close()


@pytest.fixture
def name(es: Any) -> Iterator[str]:
    """A fresh index name, deleted after the test."""
    index = f"test-es-{uuid.uuid4().hex[:12]}"
    yield index
    es.indices.delete(index=index, ignore_unavailable=True)


def random_vectors(n: int, seed: int, vocab: int = 300, nnz: int = 12) -> list[SparseVector]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ids = rng.choice(vocab, size=nnz, replace=False)
        out.append(SparseVector(ids, rng.uniform(0.01, 3.0, size=nnz).astype(np.float32)))
    return out


def brute_force(docs: list[SparseVector], query: SparseVector, k: int) -> list[tuple[str, float]]:
    scored = [(f"d{i}", query.dot(v)) for i, v in enumerate(docs)]
    scored = [s for s in scored if s[1] > 0]
    scored.sort(key=lambda pair: (-pair[1], pair[0]))
    return scored[:k]


def test_scores_are_the_dot_product_to_nine_bits(elasticsearch_url: str, name: str) -> None:
    docs = random_vectors(150, seed=1)
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url)
    index.add([f"d{i}" for i in range(len(docs))], docs)
    for query in random_vectors(15, seed=2, nnz=8):
        hits = index.search(query, k=10)
        exact = {doc_id: score for doc_id, score in brute_force(docs, query, 150)}
        assert len(hits) == 10
        for hit in hits:
            # stored weights lose at most 2**-8 of their value, always toward zero
            assert exact[hit.id] * (1 - 2**-8) - 1e-6 <= hit.score <= exact[hit.id] * 1.000001
        # and the 9-bit prediction is what Elasticsearch computes
        top = hits[0]
        predicted = sum(
            w * nine_bit(float(docs[int(top.id[1:])].to_dict().get(t, 0.0)))
            for t, w in query.to_dict().items()
        )
        assert top.score == pytest.approx(predicted, rel=1e-5)
    index.close()


def test_rescore_gives_the_exact_top_k(elasticsearch_url: str, name: str) -> None:
    docs = random_vectors(200, seed=3)
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url, rescore=True)
    index.add([f"d{i}" for i in range(len(docs))], docs)
    for query in random_vectors(15, seed=4, nnz=8):
        expected = brute_force(docs, query, 10)
        hits = index.search(query, k=10)
        assert [h.id for h in hits] == [doc_id for doc_id, _ in expected]
        assert [h.score for h in hits] == pytest.approx([s for _, s in expected], rel=1e-6)
    index.close()


def test_upsert_get_delete_len(elasticsearch_url: str, name: str) -> None:
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url)
    assert len(index) == 0
    a, b = SparseVector([1, 2], [0.3, 1.5]), SparseVector([7], [2.0])
    assert index.add(["a", "b"], [a, b], ["alpha", None], [{"x": 1}, None]) == ["a", "b"]
    index.add(["a"], [b], ["alpha 2"], [{"x": 2}])  # upsert replaces the whole document
    assert len(index) == 2
    stored = index.get(["b", "missing", "a"])
    assert [d.id for d in stored] == ["b", "a"]
    assert stored[1].vector == b and stored[1].text == "alpha 2" and stored[1].metadata == {"x": 2}
    # exact floats come back from _source (exclude_source_vectors is off)
    assert index.get(["b"])[0].vector.to_dict() == {7: 2.0}
    assert index.add(["c"], [SparseVector([5], [0.3])]) == ["c"]
    assert index.get(["c"])[0].vector.to_dict()[5] == pytest.approx(0.3, rel=1e-7)
    assert index.delete(["a", "nope", "a"]) == 1
    assert len(index) == 2
    assert index.add([], []) == [] and index.delete([]) == 0
    index.close()


def test_subnormal_weights_are_dropped_not_rejected(elasticsearch_url: str, name: str) -> None:
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url)
    # 1e-39 is a positive float Lucene rejects (below Float.MIN_NORMAL): the term goes,
    # the document stays
    index.add(["a"], [SparseVector([1, 2], [1e-39, 1.0])])
    assert index.get(["a"])[0].vector.to_dict() == {2: 1.0}
    index.close()


def test_partial_write_names_every_unstored_id(elasticsearch_url: str, name: str) -> None:
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url, chunk_size=2)
    index.add(["ok0"], [SparseVector([1], [1.0])], metadatas=[{"year": 2020}])
    vectors = [SparseVector([1], [1.0])] * 5
    metadatas = [{"year": 2021}, {"year": "soon"}, {"year": 2022}, {"year": "later"}, None]
    with pytest.raises(PartialWriteError) as caught:
        index.add([f"d{i}" for i in range(5)], vectors, metadatas=metadatas)
    error = caught.value
    assert set(error.failed_ids) == {"d1", "d3"}
    assert set(error.stored_ids) == {"d0", "d2", "d4"}
    assert "d1" in str(error) and "document_parsing_exception" in error.failed["d1"]
    assert {d.id for d in index.get([f"d{i}" for i in range(5)])} == {"d0", "d2", "d4"}
    index.close()


FILTERS: list[dict[str, Any]] = [
    {"topic": "med"},
    {"year": {"$gte": 2020}},
    {"topic": {"$in": ["med", "law"]}, "year": {"$lt": 2022}},
    {"$or": [{"topic": "law"}, {"draft": True}]},
    {"topic": {"$ne": "med"}},
    {"tags": "b"},
    {"author": None},
    {"year": "2020"},  # a string against a number field: matches nothing
]


def test_filters_select_what_the_reference_selects(elasticsearch_url: str, name: str) -> None:
    rng = np.random.default_rng(5)
    metas: list[dict[str, Any]] = []
    for i in range(40):
        meta: dict[str, Any] = {"topic": ["med", "law", "cs"][i % 3], "year": 2018 + i % 6}
        if i % 4 == 0:
            meta["draft"] = bool(i % 8 == 0)
        if i % 5 == 0:
            meta["tags"] = [["a", "b"], ["b"], ["c"]][i % 3]
        if i % 7 == 0:
            meta["author"] = None
        metas.append(meta)
    vectors = [SparseVector([1, int(rng.integers(2, 9))], [1.0, 0.5]) for _ in metas]
    ids = [f"d{i}" for i in range(len(metas))]
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url)
    index.add(ids, vectors, metadatas=metas)
    query = SparseVector([1], [1.0])
    for flt in FILTERS:
        expected = {i for i, m in zip(ids, metas) if matches(parse_filter(flt), m)}
        got = {h.id for h in index.search(query, k=100, filter=flt)}
        assert got == expected, flt
        assert all(h.score > 0 for h in index.search(query, k=100, filter=flt))
    index.close()


def test_bm25_uses_the_english_analyzer(elasticsearch_url: str, name: str) -> None:
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url)
    v = SparseVector([1], [1.0])
    index.add(["a", "b"], [v, v], ["The dogs were running", "A cat sleeps"], [{"k": 1}, {"k": 2}])
    assert [h.id for h in index.bm25_search("run dog")] == ["a"]  # stemmed: runs, dog
    assert index.bm25_search("the") == []  # a stop word
    assert index.bm25_search("cats sleeping", filter={"k": 1}) == []
    with pytest.raises(InvalidTypeError):
        index.bm25_search(42)  # type: ignore[arg-type]
    index.close()


def test_another_encoder_or_layout_is_refused(elasticsearch_url: str, name: str, es: Any) -> None:
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url)
    index.check_encoder(EncoderFingerprint("splade-tiny", "abc", 30522))
    assert ElasticsearchSparseIndex(name, url=elasticsearch_url).fingerprint == (
        EncoderFingerprint("splade-tiny", "abc", 30522)
    )
    with pytest.raises(IncompatibleIndexError, match="another encoder"):
        ElasticsearchSparseIndex(name, url=elasticsearch_url).check_encoder(
            EncoderFingerprint("other-model", "abc", 30522)
        )
    with pytest.raises(IncompatibleIndexError, match="term_id"):
        len(
            ElasticsearchSparseIndex(
                name, url=elasticsearch_url, key_encoding="token", vocabulary={"a": 1}
            )
        )
    foreign = f"{name}-foreign"
    es.indices.create(index=foreign, mappings={"properties": {"vector": {"type": "sparse_vector"}}})
    try:
        with pytest.raises(
            IncompatibleIndexError, match=r"not created by .*ElasticsearchSparseIndex"
        ):
            ElasticsearchSparseIndex(foreign, url=elasticsearch_url).search(
                SparseVector([1], [1.0])
            )
    finally:
        es.indices.delete(index=foreign)
    index.close()


def test_an_index_deleted_underneath_is_an_error_not_a_recreate(
    elasticsearch_url: str, name: str, es: Any
) -> None:
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url)
    index.add(["a"], [SparseVector([1], [1.0])])
    es.indices.delete(index=name)
    with pytest.raises(IndexNotFoundError, match="deleted"):
        index.add(["b"], [SparseVector([1], [1.0])])
    assert not es.indices.exists(index=name)

    async def write() -> None:
        await index.aadd(["b"], [SparseVector([1], [1.0])])

    index.add(["a"], [SparseVector([1], [1.0])])  # after the error, a new add recreates it
    es.indices.delete(index=name)
    with pytest.raises(IndexNotFoundError):
        asyncio.run(write())
    assert not es.indices.exists(index=name)
    index.close()


def test_async_matches_sync_across_event_loops(elasticsearch_url: str, name: str) -> None:
    docs = random_vectors(30, seed=6)
    ids = [f"d{i}" for i in range(len(docs))]
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url)
    query = random_vectors(1, seed=7, nnz=10)[0]

    async def run() -> tuple[list[str], int, list[str]]:
        await index.aadd(ids, docs)
        hits = await index.asearch(query, k=5)
        stored = await index.aget(ids[:3])
        return [h.id for h in hits], await index.alen(), [d.id for d in stored]

    first = asyncio.run(run())
    second = asyncio.run(run())  # a new loop: a new client, not the closed loop's one
    assert first == second
    assert first[0] == [h.id for h in index.search(query, k=5)]
    assert first[1] == len(index) == 30
    index.close()


def test_a_callers_clients_win_and_stay_open(
    elasticsearch_url: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elasticsearch import AsyncElasticsearch, Elasticsearch

    monkeypatch.setenv("ELASTICSEARCH_URL", "http://127.0.0.1:1")  # must not be used
    client = Elasticsearch(elasticsearch_url)
    index = ElasticsearchSparseIndex(name, client=client)
    index.add(["a"], [SparseVector([1], [1.0])])
    index.close()
    assert client.ping()  # still open

    async def run() -> int:
        # only a sync client: the async API runs it in a thread
        return await index.alen()

    assert asyncio.run(run()) == 1

    async def run_own() -> int:
        own = AsyncElasticsearch(elasticsearch_url)
        try:
            both = ElasticsearchSparseIndex(name, client=client, async_client=own)
            await both.aclose()
            return await both.alen()  # aclose left the caller's async client open
        finally:
            await own.close()

    assert asyncio.run(run_own()) == 1
    client.close()


def test_unreachable_cluster_is_a_clear_error(name: str) -> None:
    index = ElasticsearchSparseIndex(name, url="http://127.0.0.1:1", max_retries=0)
    with pytest.raises(BackendError, match="Cannot reach Elasticsearch"):
        len(index)


def test_queries_beyond_the_clause_limit_are_pruned_with_a_warning(
    elasticsearch_url: str, name: str
) -> None:
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url)
    index.add(["heavy", "light"], [SparseVector([0], [1.0]), SparseVector([9999], [1.0])])
    weights = np.linspace(2.0, 1.0, 10_000).astype(np.float32)  # term 0 heaviest
    query = SparseVector(np.arange(10_000), weights)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hits = index.search(query, k=5)
    assert any(issubclass(w.category, ClauseLimitWarning) for w in caught)
    # the node's limit (heap-sized) is below 10,000: the heaviest terms are kept
    assert [h.id for h in hits] == ["heavy"]
    index.close()


def test_sparse_vector_query_without_xpack_is_a_clear_error(
    elasticsearch_url: str, name: str
) -> None:
    # The test node has no x-pack; a default-distribution cluster answers this query.
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url, sparse_vector_query=True)
    index.add(["a"], [SparseVector([1], [1.0])])
    with pytest.raises(BackendError, match="no sparse_vector query"):
        index.search(SparseVector([1], [1.0]))
    with pytest.raises(InvalidInputError, match="pruning"):
        ElasticsearchSparseIndex(name, url=elasticsearch_url, pruning=True)
    index.close()


def test_token_keys_with_dots_round_trip(elasticsearch_url: str, name: str) -> None:
    vocabulary = {"u.s.": 0, "paris": 1, "50%": 2}
    index = ElasticsearchSparseIndex(
        name, url=elasticsearch_url, key_encoding="token", vocabulary=vocabulary
    )
    index.add(["a", "b"], [SparseVector([0, 2], [1.0, 2.0]), SparseVector([1], [1.0])])
    assert [h.id for h in index.search(SparseVector([0], [1.0]))] == ["a"]
    assert index.get(["a"])[0].vector.to_dict() == {0: 1.0, 2: 2.0}
    index.close()


def test_force_merge_sync_and_async_leave_one_segment(
    elasticsearch_url: str, name: str, es: Any
) -> None:
    index = ElasticsearchSparseIndex(name, url=elasticsearch_url)
    docs = random_vectors(6, seed=11)
    for i, vector in enumerate(docs):  # refresh after each add: a segment each
        index.add([f"d{i}"], [vector])
    query = random_vectors(1, seed=12)[0]
    before = [(h.id, h.score) for h in index.search(query, k=10)]

    def segments() -> int:
        shards = es.indices.segments(index=name)["indices"][name]["shards"]
        return sum(len(copy["segments"]) for copies in shards.values() for copy in copies)

    assert segments() >= 2
    with warnings.catch_warnings(record=True) as caught:  # the tasks API's preview notice
        index.force_merge(poll_seconds=0.05)
    assert not [w for w in caught if "technical preview" in str(w.message)]
    assert segments() == 1
    assert [(h.id, h.score) for h in index.search(query, k=10)] == before
    index.add(["d6"], [docs[0]])
    with warnings.catch_warnings(record=True) as caught:
        asyncio.run(index.aforce_merge(poll_seconds=0.05))
    assert not [w for w in caught if "technical preview" in str(w.message)]
    assert segments() == 1 and len(index) == 7
    index.close()
