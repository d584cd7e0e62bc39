"""Bulk actions, their results and fetched documents, as pure functions.

Bulk writes report success per document; a failed id must never be dropped
silently, so :func:`check_written` turns any failure into a ``PartialWriteError``
that names each id with OpenSearch's reason and lists what was stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_splade.errors import (
    BackendError,
    InvalidInputError,
    InvalidTypeError,
    PartialWriteError,
)
from langchain_splade.stores.opensearch import mapping as layout
from langchain_splade.stores.opensearch.keys import KeyCodec
from langchain_splade.types import SparseVector, StoredDocument


def check_ids(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise InvalidTypeError(
            f"ids must be a list of str, got {type(ids).__name__}.", fix="pass ['id1', 'id2']"
        )
    bad = [i for i in ids if not isinstance(i, str) or not i]
    if bad:
        raise InvalidInputError(
            f"ids must be non-empty strings; found {bad[:3]!r}.", fix="convert ids with str()"
        )
    return list(ids)


def check_batch(
    ids: Sequence[str],
    vectors: Sequence[SparseVector],
    texts: Sequence[str | None] | None,
    metadatas: Sequence[Mapping[str, Any] | None] | None,
) -> tuple[list[str], list[str | None], list[Mapping[str, Any] | None]]:
    ids = check_ids(ids)
    n = len(ids)
    texts = [None] * n if texts is None else list(texts)
    metadatas = [None] * n if metadatas is None else list(metadatas)
    if not (len(vectors) == len(texts) == len(metadatas) == n):
        raise InvalidInputError(
            f"add got {n} ids, {len(vectors)} vectors, {len(texts)} texts and "
            f"{len(metadatas)} metadatas.",
            expected="one vector (and text/metadata when given) per id",
            fix="pass sequences of the same length",
        )
    for vector in vectors:
        if not isinstance(vector, SparseVector):
            raise InvalidTypeError(
                f"add expects SparseVector values, got {type(vector).__name__}.",
                fix="encode with encoder.embed_documents(texts)",
            )
    for metadata in metadatas:
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InvalidTypeError(
                f"metadata must be a mapping, got {type(metadata).__name__}.",
                fix="pass dicts such as {'source': 'wiki'}",
            )
    return ids, texts, metadatas


def check_written(results: Sequence[tuple[bool, Any]], ids: Sequence[str]) -> list[str]:
    """The ids written, or ``PartialWriteError`` naming each failed id and its reason."""
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
        return list(ids)
    stored = [i for i in ids if i not in failed]
    first = "; ".join(f"{i}: {r}" for i, r in list(failed.items())[:3])
    raise PartialWriteError(
        f"{len(failed)} of {len(ids)} documents were not stored ({first}).",
        failed,
        stored,
        expected="every document accepted by OpenSearch",
        fix="see error.failed for each id's reason (a metadata field must keep one type "
        "per index); the other documents were stored",
    )


def delete_actions(index_name: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {"_op_type": "delete", "_index": index_name, "_id": doc_id}
        for doc_id in dict.fromkeys(check_ids(ids))
    ]


def count_deleted(results: Sequence[tuple[bool, Any]]) -> int:
    deleted = 0
    for ok, item in results:
        info: Mapping[str, Any] = next(iter(item.values()), {}) if isinstance(item, Mapping) else {}
        if ok and info.get("result") == "deleted":
            deleted += 1
        elif not ok and info.get("status") != 404:
            raise BackendError(
                f"OpenSearch failed to delete {info.get('_id')!r}: {info.get('error')}.",
                fix="retry the delete; check the cluster's health",
            )
    return deleted


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


def result_id(result: tuple[bool, Any]) -> str | None:
    """The document id of one ``streaming_bulk`` result."""
    item = result[1]
    info: Any = next(iter(item.values()), {}) if isinstance(item, Mapping) else {}
    doc_id = info.get("_id") if isinstance(info, Mapping) else None
    return None if doc_id is None else str(doc_id)


def timed_out_ids(results: Sequence[tuple[bool, Any]]) -> list[str]:
    """Ids whose bulk request timed out: the cluster may or may not have stored them,
    so they are worth re-sending (index and delete actions are idempotent)."""
    from opensearchpy.exceptions import ConnectionTimeout

    out = []
    for ok, item in results:
        info: Any = next(iter(item.values()), {}) if isinstance(item, Mapping) else {}
        if not ok and isinstance(info.get("exception"), ConnectionTimeout):
            doc_id = result_id((ok, item))
            if doc_id is not None:
                out.append(doc_id)
    return out
