"""Elasticsearch under faults: 429s and timeouts injected by a proxy in front of the real
node (every other request reaches Elasticsearch), retried with backoff, and writes that
still fail named id by id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from langchain_splade.errors import BackendError, PartialWriteError
from langchain_splade.stores.elasticsearch import ElasticsearchSparseIndex
from langchain_splade.testing.proxy import FaultProxy
from langchain_splade.types import SparseVector

pytest.importorskip("elasticsearch")


@pytest.fixture
def proxy(elasticsearch_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(elasticsearch_url) as running:
        yield running


@pytest.fixture
def name(elasticsearch_url: str) -> Iterator[str]:
    index = f"test-es-faults-{uuid.uuid4().hex[:10]}"
    yield index
    ElasticsearchSparseIndex(index, url=elasticsearch_url).clear()


def _docs(n: int) -> tuple[list[str], list[SparseVector]]:
    return [f"d{i}" for i in range(n)], [SparseVector([i % 9 + 1], [1.0 + i]) for i in range(n)]


def _every_nth_bulk(proxy: FaultProxy, fail: set[int], status: int = 429) -> None:
    """Answer ``status`` to the bulk requests numbered in ``fail`` (1-based)."""
    count = 0

    def policy(method: str, path: str) -> tuple[int, float] | None:
        nonlocal count
        if "_bulk" not in path:
            return None
        count += 1
        return (status, 0.0) if count in fail else None

    proxy.policy = policy


def test_bulk_429s_are_retried_with_backoff(proxy: FaultProxy, name: str) -> None:
    _every_nth_bulk(proxy, {1, 2})
    index = ElasticsearchSparseIndex(name, url=proxy.url, initial_backoff=0.05)
    ids, vectors = _docs(6)
    assert index.add(ids, vectors) == ids
    assert proxy.bulk_calls() == 3
    assert len(index) == 6
    index.close()


def test_a_cluster_that_keeps_refusing_is_a_clear_error(proxy: FaultProxy, name: str) -> None:
    _every_nth_bulk(proxy, set(range(1, 100)), status=503)
    index = ElasticsearchSparseIndex(name, url=proxy.url, max_retries=2, initial_backoff=0.01)
    ids, vectors = _docs(3)
    with pytest.raises(PartialWriteError, match="HTTP 503") as caught:
        index.add(ids, vectors)
    assert caught.value.stored_ids == []  # nothing was stored, and every id is named
    assert set(caught.value.failed_ids) == set(ids)
    assert isinstance(caught.value, BackendError)
    assert proxy.bulk_calls() == 3  # the first attempt and two retries
    index.close()


def test_a_failing_later_chunk_names_every_unstored_id(proxy: FaultProxy, name: str) -> None:
    _every_nth_bulk(proxy, set(range(2, 100)))  # the first chunk passes, then only 429s
    index = ElasticsearchSparseIndex(
        name, url=proxy.url, chunk_size=2, max_retries=1, initial_backoff=0.01
    )
    ids, vectors = _docs(5)
    with pytest.raises(PartialWriteError) as caught:
        index.add(ids, vectors)
    assert caught.value.stored_ids == ["d0", "d1"]
    assert set(caught.value.failed_ids) == {"d2", "d3", "d4"}
    assert "429" in caught.value.failed["d2"]
    assert {d.id for d in index.get(ids)} == {"d0", "d1"}
    index.close()


def test_a_search_that_times_out_is_sent_again(proxy: FaultProxy, name: str) -> None:
    index = ElasticsearchSparseIndex(
        name, url=proxy.url, initial_backoff=0.01, client_kwargs={"request_timeout": 1}
    )
    ids, vectors = _docs(4)
    index.add(ids, vectors)
    stalled = 0

    def policy(method: str, path: str) -> tuple[int, float] | None:
        nonlocal stalled
        if "_search" in path and stalled == 0:
            stalled += 1
            return (0, 2.5)  # forwarded, but after the client gave up
        return None

    proxy.policy = policy
    hits = index.search(SparseVector([1], [1.0]), k=2)
    assert [h.id for h in hits] == ["d0"] and stalled == 1
    index.close()
