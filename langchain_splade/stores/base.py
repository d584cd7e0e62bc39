"""The protocol every sparse index backend implements.

The retriever only talks to this protocol, so a user can move from the embedded
local index to OpenSearch without touching their chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from langchain_splade.types import EncoderFingerprint, SearchHit, SparseVector, StoredDocument

Filter = Mapping[str, Any]
"""A metadata filter in the dialect documented in :mod:`langchain_splade.filters`."""


@runtime_checkable
class SparseIndex(Protocol):
    """A store of sparse document vectors searchable by exact dot product."""

    def add(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Insert or replace (upsert) documents; returns the ids stored."""
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

        Ties are broken by id so results are deterministic.
        """
        ...

    def check_encoder(self, fingerprint: EncoderFingerprint) -> None:
        """Record ``fingerprint`` on an empty index, or raise ``IncompatibleIndexError``
        if the index was written with an encoder that differs in model or vocabulary."""
        ...


@runtime_checkable
class AsyncSparseIndex(SparseIndex, Protocol):
    """A backend with a native async client (e.g. OpenSearch)."""

    async def aadd(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]: ...

    async def asearch(
        self, query: SparseVector, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]: ...
