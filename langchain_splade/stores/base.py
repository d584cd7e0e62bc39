"""The protocol every sparse index backend implements.

The retriever, the command line and the evaluation runner only talk to this
protocol, so a user can move from the embedded local index to OpenSearch or
Elasticsearch without touching their chain. It is the whole surface they use -
writes, exact search, BM25 (for hybrid fusion), the encoder fingerprint, closing,
and the async twin of each - so no caller ever probes a backend with ``hasattr``.

A backend without an async client gets the async half from :class:`ThreadedAsync`
(each call runs its sync twin in a worker thread); the search-engine backends
implement it natively (:mod:`langchain_splade.stores.remote`).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from langchain_splade.types import EncoderFingerprint, SearchHit, SparseVector, StoredDocument

Filter = Mapping[str, Any]
"""A metadata filter in the dialect documented in :mod:`langchain_splade.filters`."""


@runtime_checkable
class SparseIndex(Protocol):
    """A store of sparse document vectors searchable by exact dot product.

    Every backend raises the same errors for the same bad input (see
    :mod:`langchain_splade.validation`) and gives the same answers; the contract
    suite (``tests/contract``) checks both on each backend, sync and async.
    """

    def add(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Insert or replace (upsert) documents; returns the ids stored. A repeated id
        within one call keeps its last occurrence."""
        ...

    def delete(self, ids: Sequence[str]) -> int:
        """Remove documents; unknown ids are ignored. Returns how many were removed."""
        ...

    def get(self, ids: Sequence[str]) -> list[StoredDocument]:
        """The stored documents for ``ids``, in that order; unknown ids are skipped."""
        ...

    def __len__(self) -> int: ...

    def search(
        self, query: SparseVector, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Top-``k`` documents by dot product with ``query``, best first.

        Ties are broken by id so results are deterministic; documents sharing no term
        with the query are not hits.
        """
        ...

    def bm25_search(
        self, query_text: str, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Top-``k`` documents by BM25 (Robertson & Zaragoza, 2009) on the stored texts,
        the lexical side of hybrid fusion."""
        ...

    def check_encoder(self, fingerprint: EncoderFingerprint) -> None:
        """Record ``fingerprint`` on an empty index, or raise ``IncompatibleIndexError``
        if the index was written with an encoder that differs in model or vocabulary."""
        ...

    @property
    def fingerprint(self) -> EncoderFingerprint | None:
        """The encoder recorded in the index, if any."""
        ...

    def close(self) -> None:
        """Release what the index holds (a write lock, clients it built); idempotent."""
        ...

    async def aadd(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]: ...

    async def adelete(self, ids: Sequence[str]) -> int: ...

    async def aget(self, ids: Sequence[str]) -> list[StoredDocument]: ...

    async def alen(self) -> int: ...

    async def asearch(
        self, query: SparseVector, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]: ...

    async def abm25_search(
        self, query_text: str, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]: ...

    async def aclose(self) -> None: ...


AsyncSparseIndex = SparseIndex
"""Kept for compatibility: every ``SparseIndex`` now has the async methods."""

MEMBERS = (
    *("add", "delete", "get", "__len__", "search", "bm25_search", "check_encoder"),
    *("fingerprint", "close", "aadd", "adelete", "aget", "alen", "asearch", "abm25_search"),
    "aclose",
)


def is_sparse_index(obj: object) -> bool:
    """``isinstance(obj, SparseIndex)`` without evaluating any property.

    Before Python 3.12 a runtime protocol check calls ``hasattr``, which runs the
    ``fingerprint`` property: a network round trip on a remote backend (and an
    error when the cluster is down). This looks the members up statically.
    """
    return all(_has_static(obj, name) for name in MEMBERS)


def _has_static(obj: object, name: str) -> bool:
    try:
        inspect.getattr_static(obj, name)
    except AttributeError:
        return False
    return True


class _Sync(Protocol):
    def add(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]: ...
    def delete(self, ids: Sequence[str]) -> int: ...
    def get(self, ids: Sequence[str]) -> list[StoredDocument]: ...
    def __len__(self) -> int: ...
    def search(
        self, query: SparseVector, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]: ...
    def bm25_search(
        self, query_text: str, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]: ...
    def close(self) -> None: ...


class ThreadedAsync:
    """The async half of :class:`SparseIndex` for a backend that has none of its own:
    each method runs its sync twin in a worker thread, so the event loop never blocks
    on a search or a write."""

    async def aadd(
        self: _Sync,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Async ``add``."""
        return await asyncio.to_thread(self.add, ids, vectors, texts, metadatas)

    async def adelete(self: _Sync, ids: Sequence[str]) -> int:
        """Async ``delete``."""
        return await asyncio.to_thread(self.delete, ids)

    async def aget(self: _Sync, ids: Sequence[str]) -> list[StoredDocument]:
        """Async ``get``."""
        return await asyncio.to_thread(self.get, ids)

    async def alen(self: _Sync) -> int:
        """Async ``len(index)``."""
        return await asyncio.to_thread(len, self)

    async def asearch(
        self: _Sync, query: SparseVector, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Async ``search``."""
        return await asyncio.to_thread(self.search, query, k, filter)

    async def abm25_search(
        self: _Sync, query_text: str, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Async ``bm25_search``."""
        return await asyncio.to_thread(self.bm25_search, query_text, k, filter)

    async def aclose(self: _Sync) -> None:
        """Async ``close``."""
        await asyncio.to_thread(self.close)
