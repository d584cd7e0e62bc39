"""OpenSearch faults against real nodes: a node killed mid-bulk, 429s and timeouts,
an index deleted or remapped underneath, a cluster unreachable at start-up.

Destructive tests start their OWN node (never the shared session one). 429s and
timeouts are injected by a small HTTP proxy in front of the real session node: every
request still reaches OpenSearch, except the ones the proxy is told to reject or stall.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from langchain_splade.errors import (
    BackendError,
    IncompatibleIndexError,
    IndexNotFoundError,
    PartialWriteError,
    SpladeError,
)
from langchain_splade.retrievers import SpladeRetriever
from langchain_splade.stores.opensearch import OpenSearchSparseIndex
from langchain_splade.testing.opensearch import OpenSearchTestNode
from langchain_splade.testing.proxy import FaultProxy
from langchain_splade.types import SparseVector


def vec(i: int) -> SparseVector:
    return SparseVector([i % 50 + 1, 100 + i % 7], [1.0 + i % 5, 0.5])


def docs(n: int, prefix: str = "d") -> tuple[list[str], list[SparseVector]]:
    return [f"{prefix}{i}" for i in range(n)], [vec(i) for i in range(n)]


def _index(url: str, name: str, **kwargs: Any) -> OpenSearchSparseIndex:
    kwargs.setdefault("initial_backoff", 0.05)
    kwargs.setdefault("max_retries", 3)
    return OpenSearchSparseIndex(name, url=url, **kwargs)


# -- 429s and timeouts -------------------------------------------------------------------


def test_bulk_429s_are_retried_with_backoff_then_succeed(
    proxy: FaultProxy, index_name: str
) -> None:
    index = _index(proxy.url, index_name, initial_backoff=0.2)
    index.add(*docs(1, "warm"))
    rejected = {"left": 2}

    def policy(method: str, path: str) -> tuple[int, float] | None:
        if "_bulk" in path and rejected["left"] > 0:
            rejected["left"] -= 1
            return 429, 0.0
        return None

    proxy.policy = policy
    before = proxy.bulk_calls()
    started = time.monotonic()
    ids, vectors = docs(20)
    assert index.add(ids, vectors) == ids
    assert proxy.bulk_calls() - before == 3  # two rejections, then the write
    assert time.monotonic() - started >= 0.2 + 0.4  # exponential backoff was applied
    assert {d.id for d in index.get(ids)} == set(ids)


def test_persistent_429s_end_in_a_partial_write_error_naming_every_id(
    proxy: FaultProxy, index_name: str
) -> None:
    index = _index(proxy.url, index_name, max_retries=2)
    index.add(*docs(1, "warm"))
    proxy.policy = lambda method, path: (429, 0.0) if "_bulk" in path else None
    ids, vectors = docs(10)
    with pytest.raises(PartialWriteError, match="429") as info:
        index.add(ids, vectors)
    assert sorted(info.value.failed_ids) == sorted(ids)
    assert info.value.stored_ids == []
    proxy.policy = lambda method, path: None
    assert index.get(ids) == []  # nothing reported stored was stored, and vice versa


def test_search_429_and_timeouts_are_retried_then_a_clear_error(
    proxy: FaultProxy, index_name: str
) -> None:
    index = _index(proxy.url, index_name, client_kwargs={"timeout": 0.5})
    ids, vectors = docs(5)
    index.add(ids, vectors)
    query = vectors[0]
    expected = [h.id for h in index.search(query, k=3)]

    faults = {"left": 2}

    def flaky(method: str, path: str) -> tuple[int, float] | None:
        if "_search" in path and faults["left"] > 0:
            faults["left"] -= 1
            return (429, 0.0) if faults["left"] else (0, 1.0)  # a 429, then a timeout
        return None

    proxy.policy = flaky
    assert [h.id for h in index.search(query, k=3)] == expected

    proxy.policy = lambda method, path: (429, 0.0) if "_search" in path else None
    before = len(proxy.seen)
    with pytest.raises(BackendError, match=r"HTTP 429 \(4 attempts") as info:
        index.search(query, k=3)
    assert sum(1 for _, _, status in proxy.seen[before:] if status == 429) == 4
    assert "max_retries" in info.value.fix

    proxy.policy = lambda method, path: (0, 1.5) if "_search" in path else None
    with pytest.raises(BackendError, match="did not answer in time"):
        index.search(query, k=3)


def test_bulk_timeout_is_resent_and_the_write_completes(proxy: FaultProxy, index_name: str) -> None:
    index = _index(proxy.url, index_name, client_kwargs={"timeout": 0.5})
    index.add(*docs(1, "warm"))
    stalled = {"left": 1}

    def stall_once(method: str, path: str) -> tuple[int, float] | None:
        if "_bulk" in path and stalled["left"] > 0:
            stalled["left"] -= 1
            return 0, 1.0  # forwarded late: the client gives up, OpenSearch still writes
        return None

    proxy.policy = stall_once
    ids, vectors = docs(30)
    assert index.add(ids, vectors) == ids
    proxy.policy = lambda method, path: None
    assert {d.id for d in index.get(ids)} == set(ids)


# -- the index changes underneath --------------------------------------------------------


def test_index_deleted_underneath_is_a_clear_error_not_a_silent_recreate(
    opensearch_url: str, os_client: Any, index_name: str
) -> None:
    index = _index(opensearch_url, index_name)
    ids, vectors = docs(5)
    index.add(ids, vectors)
    os_client.indices.delete(index=index_name)
    with pytest.raises(IndexNotFoundError, match="does not exist") as info:
        index.search(vectors[0], k=3)
    assert "re-add" in info.value.fix
    os_client.indices.delete(index=index_name, ignore_unavailable=True)
    index.add(ids, vectors)  # recreated with the right mapping, not a dynamic one
    mapping = os_client.indices.get_mapping(index=index_name)[index_name]["mappings"]
    assert mapping["properties"]["vector"]["type"] == "rank_features"
    assert [h.id for h in index.search(vectors[0], k=1)] == [ids[0]]

    other = _index(opensearch_url, index_name)
    other.add(ids, vectors)
    os_client.indices.delete(index=index_name)
    with pytest.raises(IndexNotFoundError):  # a write checks the index first
        other.add(["late"], [vec(1)])
    assert not os_client.indices.exists(index=index_name)


def test_mapping_changed_underneath_is_a_clear_error(
    opensearch_url: str, os_client: Any, index_name: str
) -> None:
    index = _index(opensearch_url, index_name)
    ids, vectors = docs(5)
    index.add(ids, vectors)
    os_client.indices.delete(index=index_name)
    os_client.indices.create(
        index=index_name, body={"mappings": {"properties": {"vector": {"type": "keyword"}}}}
    )
    with pytest.raises(IncompatibleIndexError, match="not created by langchain-splade"):
        index.search(vectors[0], k=3)
    with pytest.raises(IncompatibleIndexError):
        index.add(ids, vectors)
    assert os_client.count(index=index_name)["count"] == 0


def test_cluster_unreachable_at_start_up_is_a_clear_error(encoder: Any) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    index = OpenSearchSparseIndex("nowhere", url=url, client_kwargs={"max_retries": 0})
    started = time.monotonic()
    with pytest.raises(BackendError, match=f"Cannot reach OpenSearch at {url}") as info:
        SpladeRetriever(encoder=encoder, index=index)
    assert time.monotonic() - started < 10  # a wrong URL fails fast
    assert "OPENSEARCH_URL" in info.value.fix
    for call in (lambda: index.add(*docs(1)), lambda: index.search(vec(1)), lambda: len(index)):
        with pytest.raises(BackendError, match="Cannot reach"):
            call()


# -- a node killed in the middle of a bulk add (its own node) ----------------------------


@pytest.mark.slow
def test_node_killed_mid_bulk_names_unstored_ids_and_reports_no_phantoms(
    tmp_path: Path,
) -> None:
    """kill -9 the node while ``add`` streams 100 chunks; restart it on the same data:
    every id reported stored is there, and every id not there was reported failed."""
    from opensearchpy import OpenSearch

    data = tmp_path / "data"
    node = OpenSearchTestNode(data_dir=data)
    node.start()
    name = f"faults-{uuid.uuid4().hex[:8]}"
    try:
        index = _index(node.url, name, chunk_size=50, client_kwargs={"max_retries": 1})
        index.add(*docs(1, "warm"))
        probe = OpenSearch(hosts=[node.url])
        ids, vectors = docs(5000)
        outcome: dict[str, Any] = {}

        def write() -> None:
            try:
                outcome["ids"] = index.add(ids, vectors)
            except SpladeError as exc:
                outcome["error"] = exc

        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill once some chunks are acknowledged
            probe.indices.refresh(index=name)
            if probe.count(index=name)["count"] > 300:
                break
            time.sleep(0.05)
        assert node._process is not None
        node._process.kill()
        writer.join(120)
        assert not writer.is_alive()
        node.stop(keep_home=True)
    finally:
        node.stop()

    error = outcome.get("error")
    assert isinstance(error, PartialWriteError), outcome
    assert error.failed_ids and error.stored_ids
    assert set(error.failed_ids) | set(error.stored_ids) == set(ids)
    assert not set(error.failed_ids) & set(error.stored_ids)
    assert "not stored" in str(error)

    with OpenSearchTestNode(data_dir=data) as again:  # the same data, after the crash
        client = OpenSearch(hosts=[again.url])
        client.indices.refresh(index=name)
        present = {
            doc["_id"]
            for doc in client.mget(index=name, body={"ids": ids}, _source=False)["docs"]
            if doc.get("found")
        }
        client.close()
    assert set(error.stored_ids) <= present  # acknowledged means durable
    assert present - set(error.stored_ids) <= set(error.failed_ids)
