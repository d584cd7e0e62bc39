"""Bulk actions, their results and fetched documents, as pure functions.

Bulk writes report success per document; a failed id must never be dropped
silently, so :func:`check_written` turns any failure into a ``PartialWriteError``
that names each id with OpenSearch's reason and lists what was stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_splade.errors import BackendError, PartialWriteError
from langchain_splade.stores.opensearch import mapping as layout
from langchain_splade.stores.opensearch.keys import KeyCodec
from langchain_splade.types import StoredDocument


def check_written(results: Sequence[tuple[bool, Any]], ids: Sequence[str]) -> list[str]:
    """The ids written, or ``PartialWriteError`` naming each failed id and its reason."""
    error = partial_write_error(results, ids)
    if error is not None:
        raise error
    return list(ids)


def partial_write_error(
    results: Sequence[tuple[bool, Any]], ids: Sequence[str]
) -> PartialWriteError | None:
    """``PartialWriteError`` naming each id not stored (with the cluster's reason) and
    listing the stored ones, or ``None`` when every id was stored."""
    failed: dict[str, str] = {}
    for ok, item in results:
        if ok:
            continue
        info: Mapping[str, Any] = next(iter(item.values()), {}) if isinstance(item, Mapping) else {}
        doc_id = str(info.get("_id", "?"))
        error = info.get("error", info.get("exception", "unknown error"))
        if isinstance(error, Mapping):
            error = f"{error.get('type', '')}: {error.get('reason', error)}"
        failed[doc_id] = f"HTTP {info.get('status', '?')} {error}"
    if not failed:
        return None
    stored = [i for i in dict.fromkeys(ids) if i not in failed]
    first = "; ".join(f"{i}: {r}" for i, r in list(failed.items())[:3])
    return PartialWriteError(
        f"{len(failed)} of {len(stored) + len(failed)} documents were not stored ({first}).",
        failed,
        stored,
        expected="every document accepted by the cluster",
        fix="see error.failed for each id's reason (a metadata field must keep one type "
        "per index) and re-send those ids; error.stored_ids were stored",
    )


def bulk_lines(
    op: str, ids: Sequence[str], sources: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Mapping[str, Any]]:
    """The body of a ``_bulk`` request: an ``op`` action per id, then its ``_source``
    when ``sources`` has one (index actions)."""
    lines: list[Mapping[str, Any]] = []
    for doc_id in ids:
        lines.append({op: {"_id": doc_id}})
        if sources is not None:
            lines.append(sources[doc_id])
    return lines


def count_deleted(results: Sequence[tuple[bool, Any]]) -> tuple[int, BackendError | None]:
    """How many documents a bulk delete removed, and an error naming the ids it failed
    to delete (a missing id is not a failure)."""
    deleted = 0
    failed: dict[str, Any] = {}
    for ok, item in results:
        info: Mapping[str, Any] = next(iter(item.values()), {}) if isinstance(item, Mapping) else {}
        if ok and info.get("result") == "deleted":
            deleted += 1
        elif not ok and info.get("status") != 404:
            failed[str(info.get("_id"))] = info.get("error")
    if not failed:
        return deleted, None
    return deleted, BackendError(
        f"Failed to delete {len(failed)} documents ({list(failed.items())[:3]}); "
        f"{deleted} were deleted.",
        expected="every delete accepted by the cluster",
        fix="retry the delete (deleting an id twice is harmless); check the cluster's health",
    )


def stored_documents(response: Mapping[str, Any], codec: KeyCodec) -> list[StoredDocument]:
    documents = []
    for doc in response.get("docs", []):
        if not doc.get("found"):
            continue
        source = doc.get("_source", {}) or {}
        documents.append(
            StoredDocument(
                id=str(doc["_id"]),
                vector=codec.decode(source.get(layout.VECTOR_FIELD) or {}),
                text=source.get(layout.TEXT_FIELD),
                metadata=source.get(layout.METADATA_FIELD) or {},
            )
        )
    return documents
