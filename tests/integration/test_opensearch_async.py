"""The async API is the sync one: regression tests for the drift found in issue 11.

Each test runs the same scenario through ``add``/``search``/... and through
``aadd``/``asearch``/... (each async call in its own ``asyncio.run``, as a script
would), against the real session node; faults come from a proxy in front of it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from langchain_splade.errors import BackendError, IndexNotFoundError, PartialWriteError
from langchain_splade.retrievers import SpladeRetriever
from langchain_splade.stores.opensearch import OpenSearchSparseIndex
from langchain_splade.testing.proxy import FaultProxy
from langchain_splade.types import SparseVector

MODES = ["sync", "async"]


def vec(i: int) -> SparseVector:
    return SparseVector([i % 50 + 1, 100 + i % 7], [1.0 + i % 5, 0.5])


def docs(n: int, prefix: str = "d") -> tuple[list[str], list[SparseVector]]:
    return [f"{prefix}{i}" for i in range(n)], [vec(i) for i in range(n)]


def call(mode: str, index: OpenSearchSparseIndex, method: str, *args: Any, **kwargs: Any) -> Any:
    """``index.method(...)``, or ``asyncio.run(index.amethod(...))``."""
    if mode == "sync":
        return len(index) if method == "len" else getattr(index, method)(*args, **kwargs)
    return asyncio.run(getattr(index, f"a{method}")(*args, **kwargs))


def dead_url() -> str:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("mode", MODES)
def test_a_write_to_an_index_deleted_underneath_never_recreates_it_dynamically(
    mode: str, opensearch_url: str, os_client: Any, index_name: str
) -> None:
    index = OpenSearchSparseIndex(index_name, url=opensearch_url)
    call(mode, index, "add", *docs(3))
    os_client.indices.delete(index=index_name)
    with pytest.raises(IndexNotFoundError, match="does not exist"):
        call(mode, index, "add", ["late"], [vec(1)])
    assert not os_client.indices.exists(index=index_name)
    call(mode, index, "add", ["again"], [vec(1)])  # now recreated, with our mapping
    mapping = os_client.indices.get_mapping(index=index_name)[index_name]["mappings"]
    assert mapping["properties"]["vector"]["type"] == "rank_features"


@pytest.mark.parametrize("mode", MODES)
def test_a_timed_out_bulk_chunk_is_resent(mode: str, proxy: FaultProxy, index_name: str) -> None:
    index = OpenSearchSparseIndex(
        index_name, url=proxy.url, initial_backoff=0.05, client_kwargs={"timeout": 0.5}
    )
    call(mode, index, "add", *docs(1, "warm"))
    stalled = {"left": 1}

    def stall_once(method: str, path: str) -> tuple[int, float] | None:
        if "_bulk" in path and stalled["left"] > 0:
            stalled["left"] -= 1
            return 0, 1.0  # forwarded late: the client gives up, OpenSearch still writes
        return None

    proxy.policy = stall_once
    before = proxy.bulk_calls()
    ids, vectors = docs(30)
    assert call(mode, index, "add", ids, vectors) == ids
    assert proxy.bulk_calls() - before == 2  # the stalled request, then the re-send
    proxy.policy = lambda method, path: None
    assert {d.id for d in call(mode, index, "get", ids)} == set(ids)


@pytest.mark.parametrize("mode", MODES)
def test_a_refresh_failure_never_hides_which_documents_were_stored(
    mode: str, proxy: FaultProxy, index_name: str
) -> None:
    index = OpenSearchSparseIndex(index_name, url=proxy.url, initial_backoff=0.05)
    call(mode, index, "add", ["n"], [vec(0)], metadatas=[{"n": 1.5}])  # "n" is a number now
    proxy.policy = lambda method, path: (500, 0.0) if "_refresh" in path else None
    ids, vectors = docs(4)
    metadatas: list[dict[str, Any]] = [{"n": 2.0}, {"n": "not a number"}, {}, {"n": 3}]
    with pytest.raises(PartialWriteError) as info:
        call(mode, index, "add", ids, vectors, metadatas=metadatas)
    assert info.value.failed_ids == ["d1"]
    assert "mapper_parsing_exception" in info.value.failed["d1"]
    assert info.value.stored_ids == ["d0", "d2", "d3"]
    # With every document stored, the refresh failure itself is reported.
    with pytest.raises(BackendError, match="refresh"):
        call(mode, index, "add", ["ok"], [vec(5)])
    proxy.policy = lambda method, path: None
    assert {d.id for d in call(mode, index, "get", [*ids, "ok"])} == {"d0", "d2", "d3", "ok"}


class _CloseSpy:
    """Wraps a caller's client and records whether anything closed it."""

    def __init__(self, client: Any) -> None:
        self.closed = False
        original = client.close

        def close(*args: Any, **kwargs: Any) -> Any:
            self.closed = True
            return original(*args, **kwargs)

        client.close = close


def test_a_callers_client_wins_over_the_environment_and_is_never_closed(
    opensearch_url: str, index_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opensearchpy import OpenSearch

    monkeypatch.setenv("OPENSEARCH_URL", dead_url())  # another "cluster", unreachable
    client = OpenSearch(hosts=[opensearch_url])
    spy = _CloseSpy(client)
    index = OpenSearchSparseIndex(index_name, client=client)
    assert index.url is None
    ids, vectors = docs(4)
    index.add(ids[:2], vectors[:2])
    # The async side uses the caller's cluster too (no client of its own to the env URL).
    assert asyncio.run(index.aadd(ids[2:], vectors[2:])) == ids[2:]
    assert asyncio.run(index.alen()) == len(index) == 4
    assert [h.id for h in asyncio.run(index.asearch(vectors[0], k=1))] == ["d0"]
    index.close()
    asyncio.run(index.aclose())
    assert not spy.closed
    assert client.count(index=index_name)["count"] == 4  # still usable
    client.close()


def test_a_callers_async_client_is_used_and_never_closed(
    opensearch_url: str, index_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opensearchpy import AsyncOpenSearch

    monkeypatch.setenv("OPENSEARCH_URL", dead_url())

    async def scenario() -> None:
        client = AsyncOpenSearch(hosts=[opensearch_url])
        spy = _CloseSpy(client)
        index = OpenSearchSparseIndex(index_name, async_client=client)
        ids, vectors = docs(3)
        assert await index.aadd(ids, vectors) == ids
        assert [h.id for h in await index.asearch(vectors[1], k=1)] == ["d1"]
        await index.aclose()
        assert not spy.closed
        assert (await client.count(index=index_name))["count"] == 3
        await client.close()
        with pytest.raises(Exception, match="only an async client"):
            len(index)  # no sync client given, and the env URL is not used

    asyncio.run(scenario())


def test_two_asyncio_runs_in_a_row_work_and_close_their_clients(
    encoder: Any, opensearch_url: str, index_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's repro: ``asyncio.run(retriever.ainvoke(...))`` twice."""
    import gc

    index = OpenSearchSparseIndex(index_name, url=opensearch_url)
    retriever = SpladeRetriever.from_texts(
        ["the heart pumps blood", "a car has wheels"], encoder=encoder, index=index, k=1
    )
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        for _ in range(2):
            documents = asyncio.run(retriever.ainvoke("heart"))
            assert [d.page_content for d in documents] == ["the heart pumps blood"]
        gc.collect()
    assert "Unclosed" not in caplog.text  # each loop's client was closed with its loop


def test_a_closed_event_loop_is_not_reported_as_an_unreachable_cluster(
    opensearch_url: str, index_name: str
) -> None:
    from opensearchpy import AsyncOpenSearch

    holder: dict[str, Any] = {}

    async def first() -> None:
        holder["client"] = AsyncOpenSearch(hosts=[opensearch_url])
        holder["index"] = OpenSearchSparseIndex(index_name, async_client=holder["client"])
        await holder["index"].aadd(*docs(2))

    asyncio.run(first())
    with pytest.raises(BackendError) as info:  # the client's loop is gone
        asyncio.run(holder["index"].asearch(vec(0)))
    assert "event loop that is closed" in str(info.value)
    assert "Cannot reach" not in str(info.value)
    assert "start the cluster" not in info.value.fix
