"""Reading an index's ``_meta`` and deciding whether this object may use it.

Shared by the OpenSearch and Elasticsearch backends (same ``_meta`` block).

Pure functions over a ``get_mapping`` answer: an index is adopted only if
langchain-splade created it, with this layout version, the backend's vector field
type and the requested key encoding; an encoder fingerprint is recorded once and
every later encoder must match it (model, vocabulary hash and size).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_splade.errors import IncompatibleIndexError
from langchain_splade.stores.opensearch import mapping as shared
from langchain_splade.stores.opensearch.keys import TERM_ID, TOKEN, KeyCodec
from langchain_splade.types import EncoderFingerprint


@dataclass(frozen=True)
class Adopted:
    """An index this object may use: its key codec, ``_meta`` and metadata field kinds."""

    codec: KeyCodec
    meta: Mapping[str, Any]
    kinds: Mapping[str, str] = field(default_factory=dict)

    @property
    def fingerprint(self) -> EncoderFingerprint | None:
        recorded = self.meta.get("encoder")
        return EncoderFingerprint.from_json(recorded) if recorded else None


def adopt(
    mapping_response: Mapping[str, Any],
    index_name: str,
    requested_encoding: str | None,
    vocabulary: Mapping[str, int] | None,
    *,
    vector_field_ok: bool = True,
    created_by: str = "OpenSearchSparseIndex",
) -> Adopted:
    """Check an index's ``_meta`` against what was asked for; raise if it is not ours.

    ``vector_field_ok`` is the backend's own check of the vector field's type, and
    ``created_by`` the class that creates such indices (for the message).
    """
    meta = shared.read_meta(mapping_response, index_name)
    if meta is None or not vector_field_ok:
        raise IncompatibleIndexError(
            f"Index {index_name!r} exists but was not created by langchain-splade's "
            f"{created_by} (no _meta.langchain_splade, or its 'vector' field has another "
            "type).",
            expected=f"an index created by {created_by}",
            fix="choose another index_name, or delete the index to let it be recreated",
        )
    version = meta.get("format_version")
    if version != shared.FORMAT_VERSION:
        raise IncompatibleIndexError(
            f"Index {index_name!r} has layout version {version!r}.",
            expected=f"version {shared.FORMAT_VERSION}",
            fix="re-index into a new index with this version of langchain-splade",
        )
    stored = str(meta.get("key_encoding"))
    if requested_encoding is not None and stored != requested_encoding:
        raise IncompatibleIndexError(
            f"Index {index_name!r} stores features keyed by {stored!r}, "
            f"but key_encoding={requested_encoding!r} was requested.",
            expected=f"key_encoding={stored!r} (or None to adopt it)",
            fix="drop the key_encoding argument, or use a new index",
        )
    if stored not in (TERM_ID, TOKEN):
        raise IncompatibleIndexError(
            f"Index {index_name!r} records the unknown key encoding {stored!r}.",
            expected=f"{TERM_ID!r} or {TOKEN!r}",
            fix="re-index with this version of langchain-splade",
        )
    codec = KeyCodec(stored, vocabulary if stored == TOKEN else None)
    return Adopted(codec, meta, shared.metadata_kinds(mapping_response, index_name))


def fingerprint_update(
    adopted: Adopted, fingerprint: EncoderFingerprint, index_name: str
) -> dict[str, Any] | None:
    """The ``_meta`` to write for ``fingerprint``, ``None`` if already recorded, or raise
    ``IncompatibleIndexError`` if the index was written with another encoder."""
    recorded = adopted.fingerprint
    if recorded is None:
        return shared.index_meta(str(adopted.meta["key_encoding"]), fingerprint.to_json())
    differences = [
        f"{name} {getattr(recorded, name)!r} vs {getattr(fingerprint, name)!r}"
        for name in ("model_name", "vocab_hash", "vocab_size")
        if getattr(recorded, name) != getattr(fingerprint, name)
    ]
    if differences:
        raise IncompatibleIndexError(
            f"Index {index_name!r} was written with another encoder: "
            + "; ".join(differences)
            + ".",
            expected=f"the encoder {recorded.model_name!r} (vocabulary {recorded.vocab_hash})",
            fix="query with the encoder the index was built with, or re-index into a "
            "new index_name with the new encoder",
        )
    return None
