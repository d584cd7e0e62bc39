"""SEISMIC approximate search on a real OpenSearch 3.6.0 node with neural-search.

Needs the plugin, so it runs on its own node (``opensearch_neural_url``), not on the
version matrix. Both search paths are tested: segments below ``approximate_threshold``
(searched exactly, 9-bit weights) and a force-merged segment above it (SEISMIC, 8-bit
steps of ``weight_ceiling / 255``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from langchain_splade.errors import FilterError, IncompatibleIndexError, InvalidInputError
from langchain_splade.filters import matches, parse_filter
from langchain_splade.stores.opensearch import OpenSearchSparseIndex
from langchain_splade.stores.opensearch.query import nine_bit
from langchain_splade.stores.opensearch.seismic import check_pushable
from langchain_splade.types import SparseVector

VOCAB = 3000
GROUPS = ["a", "b", "c", "d"]


def _corpus(n: int, seed: int = 3) -> tuple[list[str], list[SparseVector], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    ids = [f"d{i:04d}" for i in range(n)]
    vectors = []
    metas: list[dict[str, Any]] = []
    for i in range(n):
        terms = rng.choice(VOCAB, size=30, replace=False)
        vectors.append(SparseVector(terms, rng.uniform(0.05, 2.9, size=30)))
        metas.append({"group": GROUPS[i % 4], "rank": i % 50, "flag": bool(i % 3 == 0)})
    return ids, vectors, metas


def _query(seed: int) -> SparseVector:
    rng = np.random.default_rng(1000 + seed)
    return SparseVector(rng.choice(VOCAB, size=12, replace=False), rng.uniform(0.2, 2.0, 12))


def _exact(
    query: SparseVector, ids: list[str], vectors: list[SparseVector], k: int, keep: Any = None
) -> list[str]:
    scored = [
        (query.dot(v), doc_id)
        for doc_id, v in zip(ids, vectors)
        if keep is None or (keep(doc_id) and query.dot(v) > 0)
    ]
    scored = [(s, d) for s, d in scored if s > 0]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [d for _, d in scored[:k]]


def _same_up_to_quantization(
    got: list[str], expected: list[str], query: SparseVector, by_id: dict[str, SparseVector]
) -> None:
    """The same top-k, except documents whose exact scores are near-ties (8-bit weights
    can swap them: 2 % of the best score)."""
    assert len(got) == len(expected)
    if not expected:
        return
    tolerance = 0.02 * query.dot(by_id[expected[0]])
    cut = query.dot(by_id[expected[-1]])
    for doc_id in set(got) ^ set(expected):
        assert abs(query.dot(by_id[doc_id]) - cut) <= tolerance, (doc_id, got, expected)


@pytest.fixture
def make_index(opensearch_neural_url: str) -> Iterator[Any]:
    made: list[OpenSearchSparseIndex] = []

    def make(name: str | None = None, **options: Any) -> OpenSearchSparseIndex:
        index = OpenSearchSparseIndex(
            name or f"seismic-{uuid.uuid4().hex[:10]}", url=opensearch_neural_url, **options
        )
        made.append(index)
        return index

    yield make
    for index in made:
        index.clear()
        index.close()


@pytest.fixture(scope="module")
def large_segment(opensearch_neural_url: str) -> Iterator[Any]:
    """600 documents force-merged into one segment above approximate_threshold=100."""
    from opensearchpy import OpenSearch

    ids, vectors, metas = _corpus(600)
    index = OpenSearchSparseIndex(
        f"seismic-large-{uuid.uuid4().hex[:8]}",
        url=opensearch_neural_url,
        method="seismic",
        approximate_threshold=100,
        n_postings=200,
        weight_ceiling=3.0,
    )
    index.add(ids[:300], vectors[:300], metadatas=metas[:300])
    index.add(ids[300:], vectors[300:], metadatas=metas[300:])
    index.force_merge(poll_seconds=0.05)  # SEISMIC builds its clusters here
    client = OpenSearch(hosts=[opensearch_neural_url])
    segments = client.indices.segments(index=index.index_name)["indices"][index.index_name]
    sizes = [s["num_docs"] for s in segments["shards"]["0"][0]["segments"].values()]
    assert sizes == [600]
    client.close()
    yield index, ids, vectors, metas
    index.clear()
    index.close()


def test_creates_a_sparse_vector_field_with_seismic(make_index: Any, os_neural: Any) -> None:
    index = make_index(method="seismic", n_postings=123, approximate_threshold=77)
    index.add(["x"], [SparseVector([5, 9], [1.0, 2.0])])
    mapping = os_neural.indices.get_mapping(index=index.index_name)[index.index_name]
    field = mapping["mappings"]["properties"]["vector"]
    assert field["type"] == "sparse_vector" and field["method"]["name"] == "seismic"
    parameters = field["method"]["parameters"]
    assert parameters["n_postings"] == 123 and parameters["approximate_threshold"] == 77
    assert parameters["quantization_ceiling_ingest"] == 6.0
    settings = os_neural.indices.get_settings(index=index.index_name)[index.index_name]
    assert settings["settings"]["index"]["sparse"] == "true"
    assert index.method == "seismic"


def test_small_segments_are_searched_exactly_with_nine_bit_weights(make_index: Any) -> None:
    index = make_index(method="seismic")  # default threshold: every segment is small
    weights = [1.2345, 2.71828, 0.4321]
    index.add(["a", "b", "c"], [SparseVector([7], [w]) for w in weights])
    hits = index.search(SparseVector([7], [0.5]), k=3)
    assert [h.id for h in hits] == ["b", "a", "c"]
    for hit, weight in zip(hits, sorted(weights, reverse=True)):
        assert hit.score == pytest.approx(0.5 * nine_bit(weight), rel=1e-5)


def _assert_seismic_scores(index: Any, vectors: list[SparseVector], step: float) -> None:
    """Hits scored from 8-bit steps of ``step`` (SEISMIC), not 9-bit weights (exact)."""
    query = SparseVector([int(vectors[0].indices[0])], [0.5])  # scaled to exactly 16
    hits = index.search(query, k=5)
    assert hits and hits[0].vector is not None
    for hit in hits:
        units = hit.score / 0.5 / step
        assert units == pytest.approx(round(units), abs=1e-3)  # a quantized weight
    # and not the exact path's 9-bit weight: that one is no multiple of the step
    exact = [query.dot(h.vector) for h in hits if h.vector is not None]
    assert any(abs(h.score - e) > 1e-4 for h, e in zip(hits, exact))


def test_a_large_segment_is_searched_by_seismic_with_eight_bit_steps(large_segment: Any) -> None:
    index, _ids, vectors, _ = large_segment
    _assert_seismic_scores(index, vectors, 3.0 / 255)  # weight_ceiling / 255


def test_small_segments_turn_seismic_once_async_force_merged(make_index: Any) -> None:
    ids, vectors, _ = _corpus(300, seed=5)
    index = make_index(method="seismic", approximate_threshold=300, n_postings=100)
    for at in range(0, 300, 100):  # three segments of 100: each searched exactly
        index.add(ids[at : at + 100], vectors[at : at + 100])
    term = int(vectors[0].indices[0])
    for hit in index.search(SparseVector([term], [0.5]), k=3):
        assert hit.vector is not None
        weight = float(hit.vector.values[list(hit.vector.indices).index(term)])
        assert hit.score == pytest.approx(0.5 * nine_bit(weight), rel=1e-5)  # exact path
    asyncio.run(index.aforce_merge(poll_seconds=0.05))
    assert len(index) == 300
    _assert_seismic_scores(index, vectors, 6.0 / 255)  # the default weight_ceiling


def test_seismic_recall_against_the_exact_top_10(large_segment: Any) -> None:
    index, ids, vectors, _ = large_segment
    recalls = []
    for seed in range(10):
        query = _query(seed)
        expected = _exact(query, ids, vectors, 10)
        got = [h.id for h in index.search(query, k=10)]
        recalls.append(len(set(got) & set(expected)) / len(expected))
    assert float(np.mean(recalls)) >= 0.95, recalls


@pytest.mark.parametrize(
    "flt",
    [
        {"group": "b"},
        {"group": {"$in": ["a", "c"]}},
        {"group": {"$ne": "a"}},
        {"rank": {"$gte": 10, "$lt": 13}},
        {"$or": [{"group": "d"}, {"flag": True}]},
        {"group": "nowhere"},
        {"rank": {"$lte": 0}},
    ],
)
def test_filters_keep_the_exact_top_k_among_passing_documents(
    large_segment: Any, flt: dict[str, Any]
) -> None:
    index, ids, vectors, metas = large_segment
    node = parse_filter(flt)
    meta_of = dict(zip(ids, metas))
    for seed in range(3):
        query = _query(seed)
        expected = _exact(query, ids, vectors, 10, keep=lambda d: matches(node, meta_of[d]))
        hits = index.search(query, k=10, filter=flt)
        assert all(matches(node, h.metadata) for h in hits)
        _same_up_to_quantization([h.id for h in hits], expected, query, dict(zip(ids, vectors)))


def test_a_filter_above_the_exact_limit_never_gives_fewer_hits(
    opensearch_neural_url: str, large_segment: Any
) -> None:
    index, ids, vectors, metas = large_segment
    approximate = OpenSearchSparseIndex(
        index.index_name, url=opensearch_neural_url, method="seismic", filter_exact_limit=5
    )
    try:
        for seed in range(3):
            hits = approximate.search(_query(seed), k=10, filter={"group": "c"})
            passing = [d for d, m in zip(ids, metas) if m["group"] == "c"]
            reachable = _exact(_query(seed), ids, vectors, 10, keep=set(passing).__contains__)
            assert len(hits) == len(reachable)
            assert all(h.metadata["group"] == "c" for h in hits)
    finally:
        approximate.close()


def test_a_clause_the_engine_cannot_push_down_is_a_filter_error() -> None:
    check_pushable({"bool": {"filter": [{"term": {"a": 1}}, {"range": {"b": {"gt": 1}}}]}})
    with pytest.raises(FilterError, match="terms"):
        check_pushable({"bool": {"should": [{"terms": {"a": [1, 2]}}]}})
    with pytest.raises(FilterError, match="ids"):
        check_pushable({"ids": {"values": ["x"]}})


def test_weights_above_the_ceiling_are_refused_not_clipped(make_index: Any) -> None:
    index = make_index(method="seismic", weight_ceiling=2.0)
    index.add(["ok"], [SparseVector([1], [2.0])])
    with pytest.raises(InvalidInputError, match="ceiling 2") as info:
        index.add(["fine", "heavy"], [SparseVector([1], [1.0]), SparseVector([1], [2.5])])
    assert "heavy" in str(info.value) and info.value.fix
    assert len(index) == 1  # nothing of the refused batch was written


def test_token_ids_the_engine_breaks_on_are_refused(make_index: Any) -> None:
    index = make_index(method="seismic")
    with pytest.raises(InvalidInputError, match="32767"):
        index.add(["big"], [SparseVector([40_000], [1.0])])
    index.add(["ok"], [SparseVector([5], [1.0])])
    # a query term above the limit matches nothing (no document can hold it): dropped
    assert [h.id for h in index.search(SparseVector([5, 40_000], [1.0, 3.0]), k=3)] == ["ok"]


def test_opening_with_the_other_method_is_a_clear_error(make_index: Any) -> None:
    exact = make_index()
    exact.add(["a"], [SparseVector([1], [1.0])])
    with pytest.raises(IncompatibleIndexError, match="method='rank_features'"):
        len(make_index(exact.index_name, method="seismic"))
    ann = make_index(method="seismic")
    ann.add(["a"], [SparseVector([1], [1.0])])
    with pytest.raises(IncompatibleIndexError, match="created with method='seismic'"):
        make_index(ann.index_name).search(SparseVector([1], [1.0]), k=1)


def test_bad_arguments_are_typed_errors(opensearch_neural_url: str) -> None:
    url = opensearch_neural_url
    with pytest.raises(InvalidInputError, match="method='seismic'"):
        OpenSearchSparseIndex("x", url=url, n_postings=10)
    with pytest.raises(InvalidInputError, match="not a search method"):
        OpenSearchSparseIndex("x", url=url, method="hnsw")
    with pytest.raises(InvalidInputError, match="unexpected keyword"):
        OpenSearchSparseIndex("x", url=url, method="seismic", n_posting=10)
    with pytest.raises(InvalidInputError, match="key_encoding='token'"):
        OpenSearchSparseIndex("x", url=url, method="seismic", key_encoding="token")
    with pytest.raises(InvalidInputError, match="not positive"):
        OpenSearchSparseIndex("x", url=url, method="seismic", weight_ceiling=0)


def test_async_search_matches_sync_on_the_large_segment(large_segment: Any) -> None:
    index, *_ = large_segment
    query = _query(7)
    sync = [(h.id, h.score) for h in index.search(query, k=10, filter={"group": "a"})]
    got = asyncio.run(index.asearch(query, k=10, filter={"group": "a"}))
    assert [(h.id, h.score) for h in got] == sync


def test_hits_carry_vectors_for_matched_terms_and_rescore_is_exact(
    opensearch_neural_url: str, large_segment: Any
) -> None:
    index, ids, vectors, _ = large_segment
    rescored = OpenSearchSparseIndex(
        index.index_name, url=opensearch_neural_url, method="seismic", rescore=True
    )
    try:
        query = _query(3)
        by_id = dict(zip(ids, vectors))
        for hit in rescored.search(query, k=5):
            assert hit.vector is not None
            assert hit.score == pytest.approx(query.dot(by_id[hit.id]), rel=1e-5)
    finally:
        rescored.close()


def test_cluster_without_the_plugin_says_what_to_install(opensearch_default_url: str) -> None:
    from langchain_splade.errors import BackendError

    index = OpenSearchSparseIndex(
        f"seismic-{uuid.uuid4().hex[:8]}", url=opensearch_default_url, method="seismic"
    )
    try:
        with pytest.raises(BackendError, match="neural-search"):
            index.add(["a"], [SparseVector([1], [1.0])])
    finally:
        index.close()


@pytest.fixture(scope="module")
def os_neural(opensearch_neural_url: str) -> Iterator[Any]:
    from opensearchpy import OpenSearch

    client = OpenSearch(hosts=[opensearch_neural_url])
    yield client
    client.close()
