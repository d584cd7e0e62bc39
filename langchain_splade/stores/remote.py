"""The public face of a search-engine backend, written once for every engine.

A remote backend is an :class:`Operations` object (each operation a request plan, see
:mod:`langchain_splade.stores.plans`) plus its clients. :class:`RemoteSparseIndex`
turns every plan into a sync method (:func:`run_sync` with the sync client) and an
async twin (:func:`run_async` with an async client), so the two APIs cannot drift.

Client rules, the same for every engine:

- a client passed by the caller wins over any URL or environment variable, and is
  never closed by us;
- async clients built from a URL are made per running event loop (an aiohttp session
  belongs to the loop that created it), and closed when that loop shuts down, so two
  ``asyncio.run(...)`` in a row work;
- with only a sync client given, the async methods run it in a worker thread, so the
  async API never talks to a different cluster (or with other credentials) than the
  sync one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.stores.base import Filter
from langchain_splade.stores.plans import Plan, run_async, run_sync
from langchain_splade.types import EncoderFingerprint, SearchHit, SparseVector, StoredDocument
from langchain_splade.validation import check_k

T = TypeVar("T")


class Operations(Protocol):
    """Every operation of one index as a plan; state learned from the cluster is kept
    here and shared by both APIs."""

    def guarded(self, action: str, plan: Plan[T]) -> Plan[T]: ...
    def add(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None,
        metadatas: Sequence[Mapping[str, Any] | None] | None,
    ) -> Plan[list[str]]: ...
    def delete(self, ids: Sequence[str]) -> Plan[int]: ...
    def get(self, ids: Sequence[str]) -> Plan[list[StoredDocument]]: ...
    def count(self) -> Plan[int]: ...
    def search(
        self, query: SparseVector, k: int, filter: Filter | None
    ) -> Plan[list[SearchHit]]: ...
    def bm25_search(self, text: str, k: int, filter: Filter | None) -> Plan[list[SearchHit]]: ...
    def check_encoder(self, fingerprint: EncoderFingerprint) -> Plan[None]: ...
    def fingerprint(self) -> Plan[EncoderFingerprint | None]: ...
    def clear(self) -> Plan[None]: ...
    def force_merge(self, max_segments: int, poll_seconds: float) -> Plan[None]: ...


async def _close_when_loop_shuts_down(client: Any) -> AsyncIterator[None]:
    """Parked at its ``yield`` for the life of the loop: ``loop.shutdown_asyncgens()``
    (which ``asyncio.run`` calls) finalises it while the loop still runs, closing
    ``client`` cleanly."""
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await client.close()


class LoopClients:
    """One async client per running event loop, built by ``factory`` on first use."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._clients: dict[asyncio.AbstractEventLoop, tuple[Any, AsyncIterator[None]]] = {}

    async def get(self) -> Any:
        """The running loop's client."""
        loop = asyncio.get_running_loop()
        for stale in [other for other in self._clients if other.is_closed()]:
            del self._clients[stale]  # its loop closed without shutdown_asyncgens
        entry = self._clients.get(loop)
        if entry is None:
            client = self._factory()
            keeper = _close_when_loop_shuts_down(client)
            await keeper.__anext__()  # registers it with the loop's asyncgen hooks
            entry = self._clients[loop] = (client, keeper)
        return entry[0]

    async def aclose(self) -> None:
        """Close the running loop's client, if one was built."""
        entry = self._clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()  # type: ignore[attr-defined]


class RemoteSparseIndex:
    """The SparseIndex protocol, sync and async, over an engine's :class:`Operations`.

    Subclasses set ``product`` and call :meth:`_setup_clients` and set ``_ops``.
    """

    product = "the search engine"
    url_env = ""
    index_name: str
    url: str | None
    _ops: Operations

    def _check_arguments(
        self,
        index_name: Any,
        url: str | None,
        client: Any,
        async_client: Any,
        key_encoding: str | None,
        rescore_factor: float,
    ) -> str | None:
        """Check what every remote backend's constructor takes; returns the URL to
        build clients from (``$<url_env>`` only when no client of the caller's is given)."""
        from langchain_splade.stores.opensearch.keys import KEY_ENCODINGS

        name = type(self).__name__
        if not isinstance(index_name, str) or not index_name or index_name != index_name.lower():
            raise InvalidInputError(
                f"index_name={index_name!r}.",
                expected=f"a non-empty, lowercase {self.product} index name",
                fix="pass e.g. index_name='splade-docs'",
            )
        if client is None and async_client is None:
            url = url or os.environ.get(self.url_env)  # a caller's client wins over the env
            if not url:
                raise InvalidInputError(
                    f"{name} got neither a url nor a client, and {self.url_env} is not set.",
                    expected=f"url='http://HOST:9200', client=... or {self.url_env}",
                    fix="pass url=..., or start a local node with "
                    f"`langchain-splade {self.product.lower()}-node`",
                )
        if key_encoding is not None and key_encoding not in KEY_ENCODINGS:
            raise InvalidInputError(
                f"key_encoding={key_encoding!r}.",
                expected="'term_id' or 'token'",
                fix="leave it out (term ids) or pass 'token' with vocabulary=encoder.vocabulary",
            )
        if rescore_factor < 1:
            raise InvalidInputError(
                f"rescore_factor={rescore_factor}.", expected=">= 1", fix="pass e.g. 4.0"
            )
        return url

    def _setup_clients(
        self,
        url: str | None,
        client: Any,
        async_client: Any,
        connect: Callable[[str], Any],
        connect_async: Callable[[str], Any],
    ) -> None:
        """Remember the caller's clients, or how to build ours from ``url``."""
        self.url = url
        self._client = client
        self._async_client = async_client
        self._owns_sync = client is None
        self._connect = connect
        self._loop_clients: LoopClients | None = None
        if async_client is None and client is None and url is not None:
            self._loop_clients = LoopClients(lambda: connect_async(url))

    def __repr__(self) -> str:
        where = f"url={self.url!r}" if self.url else "client=..."
        return f"{type(self).__name__}({self.index_name!r}, {where})"

    @property
    def client(self) -> Any:
        """The sync client: yours, or one built from ``url`` on first use."""
        if self._client is None:
            if self.url is None:
                raise InvalidInputError(
                    f"This {self.product} index was given only an async client; the sync "
                    "API needs a sync one.",
                    expected="client=... as well, or only the async methods",
                    fix="pass client=... too, or use the async methods (aadd, asearch, ...)",
                )
            self._client = self._connect(self.url)
        return self._client

    def close(self) -> None:
        """Close the sync client built from ``url`` (a client you passed is left open)."""
        if self._owns_sync and self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the clients built from ``url`` for the running loop (yours stay open)."""
        if self._loop_clients is not None:
            await self._loop_clients.aclose()
        self.close()

    def _run(self, action: str, plan: Plan[T]) -> T:
        return run_sync(self.client, self._ops.guarded(action, plan))

    async def _arun(self, action: str, plan: Plan[T]) -> T:
        guarded = self._ops.guarded(action, plan)
        if self._async_client is not None:
            return await run_async(self._async_client, guarded)
        if self._loop_clients is not None:
            return await run_async(await self._loop_clients.get(), guarded)
        # Only a sync client of the caller's: use it (same cluster, same credentials).
        return await asyncio.to_thread(run_sync, self.client, guarded)

    # -- the SparseIndex protocol, sync and async -----------------------------------

    def add(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Upsert documents with bulk requests; raises ``PartialWriteError`` naming every
        id that was not stored (and lists those that were)."""
        return self._run("add documents", self._ops.add(ids, vectors, texts, metadatas))

    async def aadd(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Async :meth:`add`."""
        return await self._arun("add documents", self._ops.add(ids, vectors, texts, metadatas))

    def delete(self, ids: Sequence[str]) -> int:
        """Remove documents; unknown ids are ignored. Returns how many were removed."""
        return self._run("delete documents", self._ops.delete(ids))

    async def adelete(self, ids: Sequence[str]) -> int:
        """Async :meth:`delete`."""
        return await self._arun("delete documents", self._ops.delete(ids))

    def get(self, ids: Sequence[str]) -> list[StoredDocument]:
        """The stored documents for ``ids``, in that order; unknown ids are skipped."""
        return self._run("get documents", self._ops.get(ids))

    async def aget(self, ids: Sequence[str]) -> list[StoredDocument]:
        """Async :meth:`get`."""
        return await self._arun("get documents", self._ops.get(ids))

    def __len__(self) -> int:
        return self._run("count documents", self._ops.count())

    async def alen(self) -> int:
        """Async ``len(index)``."""
        return await self._arun("count documents", self._ops.count())

    def search(
        self, query: SparseVector, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Top-``k`` documents by dot product with ``query``, best first (ties by id)."""
        return self._run("search", self._ops.search(query, k, filter))

    async def asearch(
        self, query: SparseVector, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Async :meth:`search`."""
        return await self._arun("search", self._ops.search(query, k, filter))

    def bm25_search(
        self, query_text: str, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Top-``k`` documents by BM25 on the english-analysed text (for hybrid fusion)."""
        return self._run("run a BM25 search", self._ops.bm25_search(query_text, k, filter))

    async def abm25_search(
        self, query_text: str, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Async :meth:`bm25_search`."""
        return await self._arun("run a BM25 search", self._ops.bm25_search(query_text, k, filter))

    def check_encoder(self, fingerprint: EncoderFingerprint) -> None:
        """Record ``fingerprint`` in the index ``_meta``, or refuse a different encoder."""
        self._run("check the encoder recorded in the index", self._ops.check_encoder(fingerprint))

    async def acheck_encoder(self, fingerprint: EncoderFingerprint) -> None:
        """Async :meth:`check_encoder`."""
        await self._arun(
            "check the encoder recorded in the index", self._ops.check_encoder(fingerprint)
        )

    @property
    def fingerprint(self) -> EncoderFingerprint | None:
        """The encoder recorded in the index, if any."""
        return self._run("read the index metadata", self._ops.fingerprint())

    def clear(self) -> None:
        """Delete the whole index (it is recreated, empty, on next use)."""
        self._run("delete the index", self._ops.clear())

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self._arun("delete the index", self._ops.clear())

    def force_merge(self, max_segments: int = 1, *, poll_seconds: float = 5.0) -> None:
        """Merge each shard into at most ``max_segments`` segments, and wait for it.

        Searches touch fewer, larger segments afterwards. On a SEISMIC index this is
        when its clusters are built: only segments of ``approximate_threshold``
        documents or more get them (smaller ones are searched exactly). So create the
        index with a threshold at most the documents per shard (about the corpus over
        the shards), bulk-load, and call this once, rather than paying for clusters at
        every merge. A merge copies the index, so it needs that much free disk. If
        this call is interrupted or cancelled, the merge goes on in the cluster.
        """
        segments = _check_merge(max_segments, poll_seconds)
        self._run("force merge the index", self._ops.force_merge(segments, poll_seconds))

    async def aforce_merge(self, max_segments: int = 1, *, poll_seconds: float = 5.0) -> None:
        """Async :meth:`force_merge`."""
        segments = _check_merge(max_segments, poll_seconds)
        await self._arun("force merge the index", self._ops.force_merge(segments, poll_seconds))


def _check_merge(max_segments: Any, poll_seconds: Any) -> int:
    """``max_segments`` as an int; a typed error for either bad argument."""
    if isinstance(poll_seconds, bool) or not isinstance(poll_seconds, (int, float)):
        raise InvalidTypeError(
            f"poll_seconds must be a number, got {poll_seconds!r}.", fix="pass poll_seconds=5.0"
        )
    if not 0 < poll_seconds < float("inf"):
        raise InvalidInputError(
            f"poll_seconds is {poll_seconds}.", expected="a finite number of seconds > 0"
        )
    return check_k(max_segments, "max_segments", fix="pass max_segments=1 (one per shard)")
