"""OpenSearchSparseIndex on a real node: the protocol, its errors and each pitfall guard."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from langchain_splade.errors import IncompatibleIndexError, InvalidInputError, PartialWriteError
from langchain_splade.stores.base import is_sparse_index
from langchain_splade.stores.opensearch import ClauseLimitWarning, OpenSearchSparseIndex
from langchain_splade.stores.opensearch.query import nine_bit
from langchain_splade.types import EncoderFingerprint, SparseVector


def vec(weights: dict[int, float]) -> SparseVector:
    return SparseVector.from_dict(weights)


@pytest.fixture
def index(opensearch_url: str, index_name: str) -> OpenSearchSparseIndex:
    return OpenSearchSparseIndex(index_name, url=opensearch_url)


def test_implements_the_protocols(index: OpenSearchSparseIndex) -> None:
    assert is_sparse_index(index)


def test_add_get_len_delete_and_upsert(index: OpenSearchSparseIndex) -> None:
    assert len(index) == 0
    ids = index.add(
        ["a", "b"],
        [vec({1: 1.0, 2: 0.5}), vec({2: 2.0})],
        ["first text", None],
        [{"lang": "en"}, None],
    )
    assert ids == ["a", "b"] and len(index) == 2
    docs = index.get(["b", "missing", "a"])
    assert [d.id for d in docs] == ["b", "a"]
    assert docs[1].vector == vec({1: 1.0, 2: 0.5})  # full precision from _source
    assert docs[1].text == "first text" and docs[1].metadata == {"lang": "en"}
    assert docs[0].text is None and docs[0].metadata == {}
    index.add(["a"], [vec({3: 4.0})], ["replaced"])
    assert len(index) == 2
    assert index.get(["a"])[0].vector == vec({3: 4.0})
    assert index.delete(["a", "nope", "a"]) == 1
    assert len(index) == 1 and index.get(["a"]) == []


def test_search_is_a_dot_product_with_vectors_and_ties_by_id(index: OpenSearchSparseIndex) -> None:
    index.add(
        ["d3", "d1", "d2", "d0"],
        [vec({1: 1.0}), vec({1: 1.0}), vec({1: 0.5, 2: 2.0}), vec({9: 1.0})],
    )
    hits = index.search(vec({1: 2.0, 2: 1.0}), k=10)
    assert [h.id for h in hits] == ["d2", "d1", "d3"]  # d0 shares no term: not a hit
    assert [h.score for h in hits] == pytest.approx([3.0, 2.0, 2.0])
    assert hits[0].vector == vec({1: 0.5, 2: 2.0})
    assert index.search(vec({1: 1.0}), k=1)[0].id == "d1"
    assert index.search(vec({42: 1.0})) == []


def test_per_document_failures_name_the_ids(index: OpenSearchSparseIndex) -> None:
    index.add(["ok"], [vec({1: 1.0})], metadatas=[{"year": 2020}])
    with pytest.raises(PartialWriteError) as info:
        index.add(
            ["good", "bad"],
            [vec({1: 1.0}), vec({2: 1.0})],
            metadatas=[{"year": 2021}, {"year": "not a number"}],
        )
    assert info.value.failed_ids == ["bad"]
    assert "HTTP 400" in info.value.failed["bad"]
    assert info.value.stored_ids == ["good"]
    assert {d.id for d in index.get(["good", "bad"])} == {"good"}


def test_subnormal_weights_are_dropped_not_rejected(index: OpenSearchSparseIndex) -> None:
    # SparseVector accepts any positive weight; Lucene rejects < Float.MIN_NORMAL.
    index.add(["a"], [SparseVector([1, 2], np.array([1.0, 1e-40], dtype=np.float32))])
    assert index.get(["a"])[0].vector == vec({1: 1.0})


def test_encoder_fingerprint_is_recorded_and_mismatch_refused(
    opensearch_url: str, index: OpenSearchSparseIndex
) -> None:
    fp = EncoderFingerprint("splade-tiny", "abc123", 30522, {"max_length": 256})
    assert index.fingerprint is None
    index.check_encoder(fp)
    index.check_encoder(fp)
    reopened = OpenSearchSparseIndex(index.index_name, url=opensearch_url)
    assert reopened.fingerprint == fp
    with pytest.raises(IncompatibleIndexError, match="vocab_hash"):
        reopened.check_encoder(EncoderFingerprint("splade-tiny", "other", 30522))
    with pytest.raises(IncompatibleIndexError, match="key_encoding"):
        OpenSearchSparseIndex(
            index.index_name, url=opensearch_url, key_encoding="token", vocabulary={"a": 0}
        ).search(vec({0: 1.0}))


def test_foreign_index_is_refused(opensearch_url: str, os_client: Any, index_name: str) -> None:
    os_client.indices.create(index=index_name, body={"mappings": {"properties": {}}})
    with pytest.raises(IncompatibleIndexError, match="not created by langchain-splade"):
        len(OpenSearchSparseIndex(index_name, url=opensearch_url))


def test_token_keys_with_dots_are_escaped(
    opensearch_url: str, os_client: Any, index_name: str
) -> None:
    vocabulary = {"e.g": 0, "%2E": 1, "paris": 2, "##ing": 3, ".": 4}
    index = OpenSearchSparseIndex(
        index_name, url=opensearch_url, key_encoding="token", vocabulary=vocabulary
    )
    index.add(["a", "b"], [vec({0: 1.0, 2: 0.5}), vec({1: 1.0, 3: 1.0, 4: 2.0})])
    stored = os_client.get(index=index_name, id="a")["_source"]["vector"]
    assert set(stored) == {"e%2Eg", "paris"}
    assert [h.id for h in index.search(vec({0: 1.0}))] == ["a"]  # unescaped: no hits
    assert [h.id for h in index.search(vec({4: 1.0}))] == ["b"]
    assert [h.id for h in index.search(vec({1: 1.0}))] == ["b"]
    assert index.get(["b"])[0].vector == vec({1: 1.0, 3: 1.0, 4: 2.0})
    assert index.search(vec({0: 1.0}))[0].vector == vec({0: 1.0, 2: 0.5})


def test_query_above_the_clause_limit_is_pruned_with_a_warning(
    index: OpenSearchSparseIndex,
) -> None:
    rng = np.random.default_rng(0)
    n_terms = 1100
    query = SparseVector(np.arange(n_terms), rng.uniform(0.1, 1.0, n_terms).astype(np.float32))
    docs = [
        SparseVector(np.arange(i, n_terms, 50), np.ones(len(range(i, n_terms, 50))))
        for i in range(50)
    ]
    index.add([f"d{i:02d}" for i in range(50)], docs)
    with pytest.warns(ClauseLimitWarning, match="1024"):
        hits = index.search(query, k=5, filter={"missing": {"$ne": 1}})
    pruned = query.prune(max_terms=1024 - 1)  # one clause goes to the filter
    expected = sorted(range(50), key=lambda i: (-pruned.dot(docs[i]), f"d{i:02d}"))[:5]
    assert [h.id for h in hits] == [f"d{i:02d}" for i in expected]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index.search(query.prune(max_terms=1024), k=5)


def test_rescore_undoes_nine_bit_storage(opensearch_url: str, index_name: str) -> None:
    # Two documents whose stored (9-bit) weights tie but whose exact weights do not.
    w_low, w_high = 1.0001, 1.0019
    assert nine_bit(w_low) == nine_bit(w_high)
    plain = OpenSearchSparseIndex(index_name, url=opensearch_url)
    plain.add(["a", "b"], [vec({1: w_low}), vec({1: w_high})])
    hits = plain.search(vec({1: 1.0}), k=1)
    assert hits[0].id == "a"  # tie on 9-bit scores, broken by id
    exact = OpenSearchSparseIndex(index_name, url=opensearch_url, rescore=True)
    hits = exact.search(vec({1: 1.0}), k=2)
    assert [h.id for h in hits] == ["b", "a"]
    assert hits[0].score == pytest.approx(float(np.float32(w_high)), rel=1e-12)


def test_bm25_search_uses_the_english_analyzer(index: OpenSearchSparseIndex) -> None:
    index.add(
        ["a", "b", "c"],
        [vec({1: 1.0})] * 3,
        ["Cats are running home", "A dog sleeps", "The running of the bulls"],
        [{"kind": "pet"}, {"kind": "pet"}, {"kind": "event"}],
    )
    assert [h.id for h in index.bm25_search("cat runs")][:1] == ["a"]
    assert {h.id for h in index.bm25_search("run", filter={"kind": "event"})} == {"c"}
    assert index.bm25_search("zebra") == []


def test_bad_arguments_are_rejected(index: OpenSearchSparseIndex) -> None:
    with pytest.raises(InvalidInputError):
        index.add(["a", "b"], [vec({1: 1.0})])
    with pytest.raises(InvalidInputError):
        index.search(vec({1: 1.0}), k=0)
    with pytest.raises(TypeError):
        index.search({1: 1.0}, k=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        index.search(vec({1: 1.0}), filter={"x": {"$regex": "a"}})


async def test_async_twin(opensearch_url: str, index_name: str) -> None:
    index = OpenSearchSparseIndex(index_name, url=opensearch_url)
    try:
        assert await index.aadd(
            ["a", "b"], [vec({1: 1.0}), vec({1: 2.0, 2: 1.0})], ["x", "y"], [{"n": 1}, {"n": 2}]
        ) == ["a", "b"]
        assert await index.alen() == 2
        hits = await index.asearch(vec({1: 1.0}), k=5)
        assert [h.id for h in hits] == ["b", "a"]
        assert [h.id for h in await index.asearch(vec({1: 1.0}), filter={"n": {"$lt": 2}})] == ["a"]
        assert [d.id for d in await index.aget(["b"])] == ["b"]
        assert [h.id for h in await index.abm25_search("x")] == ["a"]
        assert await index.adelete(["a"]) == 1
        assert await index.alen() == 1
        with pytest.raises(PartialWriteError):
            await index.aadd(["c"], [vec({1: 1.0})], metadatas=[{"n": "text"}])
    finally:
        await index.aclose()


def _segments(client: Any, name: str) -> int:
    shards = client.indices.segments(index=name)["indices"][name]["shards"]
    return sum(len(copy["segments"]) for copies in shards.values() for copy in copies)


def test_force_merge_leaves_one_segment_and_every_document(
    index: OpenSearchSparseIndex, os_client: Any
) -> None:
    vectors = [vec({1: 1.0 + i, 2: 0.5}) for i in range(4)]
    for i, vector in enumerate(vectors):  # refresh after each add: a segment each
        index.add([f"d{i}"], [vector], [f"text {i}"])
    before = [(h.id, h.score) for h in index.search(vec({1: 1.0}), k=10)]
    assert _segments(os_client, index.index_name) >= 2
    index.force_merge(poll_seconds=0.05)
    assert _segments(os_client, index.index_name) == 1
    assert len(index) == 4
    assert [(h.id, h.score) for h in index.search(vec({1: 1.0}), k=10)] == before


def test_async_force_merge(index: OpenSearchSparseIndex, os_client: Any) -> None:
    import asyncio

    for i in range(3):
        index.add([f"d{i}"], [vec({i + 1: 1.0})])
    asyncio.run(index.aforce_merge(poll_seconds=0.05))
    assert _segments(os_client, index.index_name) == 1 and len(index) == 3


def test_force_merge_of_a_missing_index_is_an_error_not_a_new_index(
    index: OpenSearchSparseIndex, os_client: Any
) -> None:
    from langchain_splade.errors import IndexNotFoundError

    with pytest.raises(IndexNotFoundError, match="does not exist"):
        index.force_merge()
    assert not os_client.indices.exists(index=index.index_name)
